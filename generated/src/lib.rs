//! Placeholder; rendered by `cargo run -p codegen`.
