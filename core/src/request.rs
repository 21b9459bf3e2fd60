//! Reading an action's request file.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A request file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("cannot read request file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(
        "request file {path} does not match what this `img` expects ({source}); \
         the rules and the tool come from different versions of rules_img, rebuild both"
    )]
    Parse { path: PathBuf, source: serde_json::Error },
}

/// Reads and checks a request; unknown fields are rejected by the contract types.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<T, RequestError> {
    let bytes = std::fs::read(path).map_err(|source| RequestError::Read { path: path.to_owned(), source })?;
    serde_json::from_slice(&bytes).map_err(|source| RequestError::Parse { path: path.to_owned(), source })
}
