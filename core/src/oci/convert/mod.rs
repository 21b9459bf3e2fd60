//! `img manifest-from-oci-layout` and `img index-from-oci-layout`: images from OCI layouts made
//! elsewhere (e.g. by rules_oci), imported as the files the image rules pass around.
//!
//! Nothing is rewritten: manifests, configs and indexes are byte-identical copies (so digests stay
//! the same) and layer blobs are copied whole; every byte is checked against the digest that names
//! it. What rules_img needs besides — layer metadata, descriptors, digest files — is derived from
//! the documents.

mod error;
pub mod index;
pub mod manifest;
pub mod platform;
pub mod source;

use oci_spec::image::MediaType;

pub use error::ConvertError;

use super::media_types::{DOCKER_LAYER, DOCKER_LAYER_GZIP};

/// Docker's names of an image manifest and of an index (a "manifest list").
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// An image manifest, in OCI's or Docker's media type.
fn is_manifest(media_type: &MediaType) -> bool {
    match media_type {
        MediaType::ImageManifest => true,
        MediaType::Other(other) => other == DOCKER_MANIFEST,
        _ => false,
    }
}

/// An image index, in OCI's or Docker's media type.
fn is_index(media_type: &MediaType) -> bool {
    match media_type {
        MediaType::ImageIndex => true,
        MediaType::Other(other) => other == DOCKER_MANIFEST_LIST,
        _ => false,
    }
}

/// A layer media type with Docker's names replaced by OCI's, for comparing what a layout has with
/// what the rule says (`layers` uses OCI's names).
fn layer_type_as_oci(media_type: &str) -> &str {
    match media_type {
        DOCKER_LAYER_GZIP => "application/vnd.oci.image.layer.v1.tar+gzip",
        DOCKER_LAYER => "application/vnd.oci.image.layer.v1.tar",
        other => other,
    }
}
