print("hello from py_binary")
