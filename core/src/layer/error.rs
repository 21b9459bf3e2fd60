//! Everything that can go wrong while building a layer, each with the file/entry to blame.

use std::io;
use std::path::PathBuf;

use crate::atomic::OutputError;
use crate::compress::CompressError;
use crate::tarball::TarError;

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("cannot read {what} {path}: {source}")]
    ReadInput { what: &'static str, path: PathBuf, source: io::Error },

    #[error("{file}:{line}: {reason}")]
    MalformedLine { file: PathBuf, line: usize, reason: String },

    #[error("{origin}: {path} is a dangling symlink (its target does not exist); fix or drop the link")]
    DanglingSymlink { path: PathBuf, origin: String },

    #[error("{origin}: image path {path:?} escapes the image root; use a path inside the image")]
    EscapesRoot { path: String, origin: String },

    #[error("{origin}: only a directory can be placed at the image root `/`; give the file a path")]
    AtRoot { origin: String },

    #[error("image path {path:?} is given twice: by {first} and by {second}; keep only one")]
    Duplicate { path: String, first: String, second: String },

    #[error(
        "image path {path:?} ({child_origin}) lies below {parent:?}, which is not a directory \
         ({parent_origin}); rename one of them"
    )]
    Conflict { path: String, child_origin: String, parent: String, parent_origin: String },

    #[error("{origin}: {path:?} is reserved by the eStargz format; rename the file")]
    Reserved { path: String, origin: String },

    #[error("invalid {location}: {reason}")]
    InvalidMetadata { location: String, reason: String },

    #[error(
        "file_metadata names paths that are not in the layer: {}; \
         keys are image paths without a leading `/`",
        paths.join(", ")
    )]
    UnusedMetadata { paths: Vec<String> },

    #[error("invalid annotations file {path}: {reason}; write a JSON object of strings or KEY=VALUE lines")]
    Annotations { path: PathBuf, reason: String },

    #[error(transparent)]
    Compression(#[from] CompressError),

    #[error("estargz needs gzip compression (eStargz is a gzip format), but compress is {0}")]
    EstargzNeedsGzip(&'static str),

    #[error("{origin}: cannot add {path:?} to the layer: {source}")]
    Entry { path: String, origin: String, source: TarError },

    #[error("{file}: {reason}")]
    BadTar { file: PathBuf, reason: String },

    #[error("{file}: entry {entry:?}: {reason}")]
    BadTarEntry { file: PathBuf, entry: String, reason: String },

    #[error(transparent)]
    Output(#[from] OutputError),
}
