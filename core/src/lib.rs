//! `img`: the one tool behind rules_img.
//!
//! Every build action of the Bazel and Buck2 rules runs one subcommand of this
//! crate's binary with one JSON request whose type lives in `img-contract`
//! (rendered by `codegen` from the same spec as the Starlark).

pub mod atomic;
pub mod compress;
pub mod deploy;
pub mod digest;
pub mod estargz;
pub mod layer;
pub mod load;
pub mod oci;
pub mod registry;
pub mod request;
pub mod tarball;
