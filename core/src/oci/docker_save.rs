//! `img docker-save`: a tarball that `docker load` (which reads `manifest.json`) accepts and that
//! is at the same time an OCI layout (for podman, containerd and skopeo).

use std::collections::HashMap;
use std::path::Path;

use img_contract::image::{DockerSaveOutputs, DockerSaveRequest};
use serde::Serialize;

use super::blobs::{self, BlobSet};
use super::layout::{layout_index, layout_marker, REF_NAME};
use super::layout_writer::LayoutFiles;
use super::{json, ImageError};

/// Annotation containerd uses to name an imported image.
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// One entry of Docker's `manifest.json` (the `docker save` format).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifest {
    config: String,
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

/// Runs `img docker-save`.
pub fn build(request: &DockerSaveRequest, outputs: &DockerSaveOutputs) -> Result<(), ImageError> {
    let path = Path::new(&outputs.tarball);
    crate::atomic::clean_on_error(&[path], build_tarball(request, path))
}

fn build_tarball(request: &DockerSaveRequest, path: &Path) -> Result<(), ImageError> {
    let mut blobs = BlobSet::default();
    let image = blobs::load(&request.image, &mut blobs)?;
    let repo_tags: Vec<String> = request.repo_tags.iter().map(|tag| with_default_tag(tag)).collect();

    let blob_path = |hex: &str| format!("blobs/sha256/{hex}");
    let docker_manifest = [DockerManifest {
        config: blob_path(&image.config_hex),
        repo_tags: repo_tags.clone(),
        layers: image.layer_hexes.iter().map(|hex| blob_path(hex)).collect(),
    }];
    let manifest_json = serde_json::to_vec(&docker_manifest).expect("manifest.json serializes");

    let mut root = image.descriptor.clone();
    if let Some(name) = repo_tags.first() {
        root.set_annotations(Some(HashMap::from([
            (CONTAINERD_NAME.to_owned(), name.clone()),
            (REF_NAME.to_owned(), name.clone()),
        ])));
    }
    let index_json = json::to_bytes(&layout_index(root));
    let oci_layout = layout_marker();
    let mut files = LayoutFiles::new(&blobs);
    files.add("manifest.json", &manifest_json);
    files.add("index.json", &index_json);
    files.add("oci-layout", &oci_layout);
    files.write_tar(path)
}

/// Docker names an image without a tag `:latest`; say so explicitly so every loader agrees.
pub fn with_default_tag(reference: &str) -> String {
    let name = reference.rsplit('/').next().unwrap_or(reference);
    if reference.contains('@') || name.contains(':') {
        reference.to_owned()
    } else {
        format!("{reference}:latest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_without_tag_get_latest() {
        assert_eq!(with_default_tag("app"), "app:latest");
        assert_eq!(with_default_tag("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(with_default_tag("example.com/app:v1"), "example.com/app:v1");
        assert_eq!(with_default_tag("example.com/app@sha256:00"), "example.com/app@sha256:00");
    }
}
