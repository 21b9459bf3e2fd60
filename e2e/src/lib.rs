//! End-to-end harnesses.
pub mod bazel;
pub mod tool;
pub mod buck2;
