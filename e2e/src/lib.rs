//! End-to-end harnesses.
pub mod bazel;
pub mod buck2;
pub mod examples;
pub mod rules;
pub mod runtimes;
pub mod tool;
