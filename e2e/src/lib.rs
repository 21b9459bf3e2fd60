//! End-to-end harnesses.
pub mod bazel;
pub mod buck2;
pub mod tool;
