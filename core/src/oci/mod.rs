//! The image actions: `img manifest`, `img index`, `img oci-layout` and `img docker-save`.
//!
//! Documents are oci-spec types serialized with sorted maps ([`json::to_bytes`]), so the same
//! request always gives the same bytes. Only the layout writers read layer blobs, and they verify
//! every blob against its digest while streaming it. Outputs appear whole or not at all.

pub mod blobs;
pub mod config;
pub mod convert;
pub mod docker_save;
mod error;
pub mod index;
pub mod json;
pub mod kv;
pub mod layout;
pub mod layout_writer;
pub mod manifest;

use std::path::Path;

pub use error::ImageError;

use crate::atomic::{self, PendingOutput};

/// Media types and fixed documents the actions need by name.
pub mod media_types {
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
    pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";
    /// The empty descriptor's content, its digest, and its base64 for the inline `data` field.
    pub const EMPTY_JSON: &[u8] = b"{}";
    pub const EMPTY_DIGEST: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
    pub const EMPTY_JSON_DATA: &str = "e30=";
}

/// Writes small outputs together: all of them, or (on any error) none.
fn write_outputs(files: &[(&String, &[u8])]) -> Result<(), ImageError> {
    let mut pending = Vec::with_capacity(files.len());
    for (path, bytes) in files {
        let mut output = PendingOutput::create(Path::new(path.as_str()))?;
        output.write_all(bytes)?;
        pending.push(output);
    }
    Ok(atomic::commit_all(pending)?)
}
