//! Typed errors of the Buck2 model. Starlark failures keep the interpreter's text (with file:line).

use std::path::PathBuf;

/// Everything that can go wrong while loading, analysing, building or running.
#[derive(Debug, thiserror::Error)]
pub enum Buck2Error {
    /// `.buckconfig` missing, unreadable or malformed.
    #[error("buckconfig {path}: {message}")]
    Config { path: PathBuf, message: String },
    /// Starlark evaluation failed while loading a `.bzl` or build file (parse error, `fail()`, bad call…).
    #[error("error loading `{file}`:\n{message}")]
    Load { file: String, message: String },
    /// A label or load path could not be parsed or resolved.
    #[error("{0}")]
    Label(String),
    /// The target does not exist in its package.
    #[error("unknown target `{target}` (package `{package}` defines: {available})")]
    UnknownTarget { target: String, package: String, available: String },
    /// The build file of a package is missing.
    #[error("no build file ({names}) in package directory `{dir}`")]
    NoBuildFile { dir: PathBuf, names: String },
    /// Analysis (configuration, attribute resolution, the rule impl, post-impl checks) failed.
    #[error("error analysing `{target}`:\n{message}")]
    Analysis { target: String, message: String },
    /// An action exited non-zero or did not produce its outputs.
    #[error("action `{category}{identifier}` of `{target}` failed: {message}")]
    Action { target: String, category: String, identifier: String, message: String },
    /// `run` asked for a target without a usable `RunInfo`.
    #[error("`{0}` is not a binary rule (no RunInfo provider or empty args)")]
    NotBinary(String),
    /// Filesystem trouble, naming the path.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Buck2Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Buck2Error::Io { path: path.into(), source }
    }
}

pub type Result<T> = std::result::Result<T, Buck2Error>;

/// Build a Starlark error from a message (the model's equivalent of Buck2's typed errors).
pub(crate) fn sl_err(msg: impl Into<String>) -> starlark::Error {
    starlark::Error::new_other(anyhow::anyhow!(msg.into()))
}

/// Shorthand for returning a Starlark error.
pub(crate) fn sl_bail<T>(msg: impl Into<String>) -> starlark::Result<T> {
    Err(sl_err(msg))
}
