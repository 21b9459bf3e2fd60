//! What can go wrong importing an OCI layout; every message names the layout, the file in it and
//! what to do.

use std::io;
use std::path::PathBuf;

use crate::atomic::OutputError;
use crate::oci::ImageError;

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error(
        "{layout} is not an OCI image layout: {reason}; `src` must be the directory of an OCI layout \
         (holding oci-layout, index.json and blobs/), e.g. the output of rules_oci's oci_image or `skopeo copy … oci:DIR`"
    )]
    NotALayout { layout: PathBuf, reason: String },

    #[error(
        "{layout}/oci-layout declares imageLayoutVersion {version:?}; only version 1.x layouts can be imported, \
         so write the layout with a tool that produces OCI image layout 1.0.0"
    )]
    LayoutVersion { layout: PathBuf, version: String },

    #[error("cannot read {file} of OCI layout {layout}: {source}")]
    Read { layout: PathBuf, file: String, source: io::Error },

    #[error(
        "OCI layout {layout} lacks the {what} {digest} ({file}); the layout is incomplete, so regenerate it \
         with all its blobs"
    )]
    MissingBlob { layout: PathBuf, what: &'static str, digest: String, file: String },

    #[error(
        "{file} of OCI layout {layout} does not match its digest: expected {expected} ({expected_size} bytes), \
         found {actual} ({actual_size} bytes); the layout is corrupt, so regenerate it"
    )]
    BlobMismatch {
        layout: PathBuf,
        file: String,
        expected: String,
        expected_size: u64,
        actual: String,
        actual_size: u64,
    },

    #[error(
        "the {what} {digest} in OCI layout {layout} is {size} bytes, more than the {limit} bytes a JSON \
         document may have here; the descriptor probably points at the wrong blob, so regenerate the layout"
    )]
    DocumentTooLarge { layout: PathBuf, what: &'static str, digest: String, size: u64, limit: u64 },

    #[error("OCI layout {layout} refers to {digest}, which is not a sha256 digest; only sha256 blobs can be imported")]
    UnsupportedDigest { layout: PathBuf, digest: String },

    #[error("OCI layout {layout} has no image manifest in index.json; it holds no image to import")]
    NoImage { layout: PathBuf },

    #[error(
        "OCI layout {layout} has no image for {wanted}; it has {available}. Set os/architecture/variant to \
         one of these, or import a layout that has {wanted}"
    )]
    NoMatchingPlatform { layout: PathBuf, wanted: String, available: String },

    #[error(
        "OCI layout {layout} has several images for {wanted}: {matches}; set `variant` to pick one of them, \
         or import a layout that holds one image per platform"
    )]
    AmbiguousPlatform { layout: PathBuf, wanted: String, matches: String },

    #[error(
        "the image {digest} in OCI layout {layout} is for {found} (its config {config}), but the request asks \
         for {wanted}; set os/architecture/variant to {found}, or import the layout's {wanted} image"
    )]
    PlatformMismatch { layout: PathBuf, digest: String, config: String, found: String, wanted: String },

    #[error(
        "the image {digest} in OCI layout {layout} has layers [{has}], but `layers` says [{says}]; set `layers` \
         to the layout's layer media types, in order (one entry per layer)"
    )]
    LayerTypes { layout: PathBuf, digest: String, has: String, says: String },

    #[error(
        "the image {digest} in OCI layout {layout} has {layers} layers but its config {config} lists {diff_ids} \
         rootfs.diff_ids; the layout is inconsistent, so regenerate it"
    )]
    DiffIdCount { layout: PathBuf, digest: String, config: String, layers: usize, diff_ids: usize },

    #[error(
        "the action got {given} `{name}` outputs for {layers} layers; the rule and the `img` tool come from \
         different versions of rules_img, so rebuild both"
    )]
    OutputCount { name: &'static str, given: usize, layers: usize },

    #[error(
        "the root of OCI layout {layout} is the single image manifest {digest}, not an index; import it with \
         image_manifest_from_oci_layout instead"
    )]
    RootIsManifest { layout: PathBuf, digest: String },

    #[error(transparent)]
    Image(#[from] ImageError),

    #[error(transparent)]
    Output(#[from] OutputError),
}
