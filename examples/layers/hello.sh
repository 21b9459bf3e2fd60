#!/bin/sh
echo "hello from sh_binary"
