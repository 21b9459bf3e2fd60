//! Reading action requests and `--output name=path` pairs.
