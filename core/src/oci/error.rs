//! Everything that can go wrong in the image actions, each naming the file to blame and what to do.

use std::io;
use std::path::PathBuf;

use crate::atomic::OutputError;
use crate::tarball::TarError;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot read {what} {path}: {source}")]
    Read { what: &'static str, path: PathBuf, source: io::Error },

    #[error("{what} {path} is not usable: {reason}")]
    BadDocument { what: &'static str, path: PathBuf, reason: String },

    #[error(
        "{path} is not a rules_img layer metadata file ({reason}); the layers of an image must be \
         layer targets (image_layer, layer_from_tar, ...) or the metadata output of `img layer`"
    )]
    NotLayerMetadata { path: PathBuf, reason: String },

    #[error(
        "layer metadata {path} has no diff_id, which an image config needs for every layer; \
         rebuild the layer with `img layer` (it always records one)"
    )]
    MissingDiffId { path: PathBuf },

    #[error(
        "config fragment {path}: {reason}; it must be a JSON object holding part of an OCI image config \
         (https://github.com/opencontainers/image-spec/blob/main/config.md)"
    )]
    ConfigFragment { path: PathBuf, reason: String },

    #[error("{what} {path}: {reason}; write a JSON object of strings or KEY=VALUE lines")]
    KeyValueFile { what: &'static str, path: PathBuf, reason: String },

    #[error("created time {value:?} from {origin} is not an RFC 3339 time such as \"2024-01-31T12:00:00Z\"")]
    BadTime { origin: String, value: String },

    #[error(
        "the base image is for {base} (config {config}), but this image is for {wanted}; \
         use a base for {wanted} (pull the base with that platform) or build the image for {base}"
    )]
    PlatformMismatch { config: PathBuf, base: String, wanted: String },

    #[error(
        "base manifest {manifest} lists {layers} layers but base config {config} lists {diff_ids} diff_ids; \
         the two files do not belong to the same image"
    )]
    BaseLayerCount { manifest: PathBuf, config: PathBuf, layers: usize, diff_ids: usize },

    #[error(
        "base manifest {manifest} has digest {actual} but its descriptor {descriptor} says {expected}; \
         the base's files do not belong together"
    )]
    BaseDigest { manifest: PathBuf, descriptor: PathBuf, expected: String, actual: String },

    #[error(
        "config_media_type {media_type:?} is not the OCI image config, so the config bytes must come \
         from config_fragment; set config_fragment or drop config_media_type"
    )]
    ConfigNeedsFragment { media_type: String },

    #[error(
        "the config is the empty descriptor ({media_type}), so OCI 1.1 requires artifact_type; set it \
         to the IANA media type of the artifact"
    )]
    EmptyConfigNeedsArtifactType { media_type: &'static str },

    #[error(
        "manifests {first} and {second} are both for platform {platform}; an index holds one manifest \
         per platform, so drop one or build it for another platform"
    )]
    DuplicatePlatform { platform: String, first: PathBuf, second: PathBuf },

    #[error(
        "layer {index} ({digest}) of manifest {manifest} has no blob: it belongs to a base image that was \
         pulled shallowly (layer_handling = \"shallow\"), so its bytes were never downloaded. Pull the base \
         with layer_handling = \"eager\" to write it into a layout or tarball, or push/load the image \
         instead (image_push and image_load stream base layers from their registry)"
    )]
    ShallowLayer { manifest: PathBuf, index: usize, digest: String },

    #[error(
        "blob file {path} does not match its digest: expected {expected} ({expected_size} bytes), found \
         {actual} ({actual_size} bytes); the file changed after its metadata was computed or the rule \
         passed the wrong file — rebuild it"
    )]
    BlobMismatch { path: PathBuf, expected: String, expected_size: u64, actual: String, actual_size: u64 },

    #[error(
        "layer {index} of manifest {manifest} is {expected}, but its metadata {metadata} describes {found}; \
         the layers were passed in a different order than the manifest lists them"
    )]
    LayerMismatch { manifest: PathBuf, index: usize, metadata: PathBuf, expected: String, found: String },

    #[error(
        "manifest {manifest} lists {layers} layers but the request gives {given}; pass every layer, base layers first"
    )]
    LayerCount { manifest: PathBuf, layers: usize, given: usize },

    #[error("manifest {manifest} names config {expected} but config file {config} is {actual}; pass the manifest's own config")]
    ConfigMismatch { manifest: PathBuf, config: PathBuf, expected: String, actual: String },

    #[error("{0}")]
    Layout(String),

    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },

    #[error("cannot write {path} into the tarball: {source}")]
    Tar { path: String, source: TarError },

    #[error(transparent)]
    Output(#[from] OutputError),
}
