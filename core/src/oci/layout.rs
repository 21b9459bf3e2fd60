//! `img oci-layout`: an image (manifest or index) as an OCI image layout, a directory or a tar.
//! This and `img docker-save` are the only image actions that read layer blobs.

use std::collections::HashMap;
use std::path::Path;

use img_contract::image::{LayoutFormat, OciLayoutOutputs, OciLayoutRequest, RootKind};
use oci_spec::image::{Descriptor, ImageIndex, MediaType, OciLayoutBuilder};

use super::blobs::{self, BlobSet, LoadedImage};
use super::layout_writer::LayoutFiles;
use super::{json, ImageError};

/// Annotation of `index.json` entries naming the image.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Runs `img oci-layout`.
pub fn build(request: &OciLayoutRequest, outputs: &OciLayoutOutputs) -> Result<(), ImageError> {
    let path = Path::new(&outputs.layout);
    let result = build_layout(request, path);
    if result.is_err() {
        // A stale layout from an earlier run must not pass for this run's.
        let _ = std::fs::remove_dir_all(path).or_else(|_| std::fs::remove_file(path));
    }
    result
}

fn build_layout(request: &OciLayoutRequest, path: &Path) -> Result<(), ImageError> {
    let mut blobs = BlobSet::default();
    let images: Vec<LoadedImage> =
        request.manifests.iter().map(|files| blobs::load(files, &mut blobs)).collect::<Result<_, _>>()?;
    let root_bytes = json::read(&request.root, "root")?;
    let mut root = match request.root_kind {
        RootKind::Manifest => manifest_root(request, &root_bytes, &images)?,
        RootKind::Index => index_root(request, root_bytes, &images, &mut blobs)?,
    };
    if let Some(name) = &request.ref_name {
        root.set_annotations(Some(HashMap::from([(REF_NAME.to_owned(), name.clone())])));
    }
    let index_json = json::to_bytes(&layout_index(root));
    let oci_layout = layout_marker();
    let mut files = LayoutFiles::new(&blobs);
    files.add("index.json", &index_json);
    files.add("oci-layout", &oci_layout);
    match request.format {
        LayoutFormat::Directory => files.write_directory(path),
        LayoutFormat::Tar => files.write_tar(path),
    }
}

/// `index.json`: an index whose only entry is the image's root.
pub fn layout_index(root: Descriptor) -> ImageIndex {
    let mut index = ImageIndex::default();
    index.set_media_type(Some(MediaType::ImageIndex));
    index.set_manifests(vec![root]);
    index
}

/// The `oci-layout` marker file.
pub fn layout_marker() -> Vec<u8> {
    let marker = OciLayoutBuilder::default().image_layout_version("1.0.0").build().expect("version is set");
    json::to_bytes(&marker)
}

fn manifest_root(request: &OciLayoutRequest, root: &[u8], images: &[LoadedImage]) -> Result<Descriptor, ImageError> {
    let digest = json::descriptor_of(MediaType::ImageManifest, root).digest().clone();
    match images {
        [image] if *image.descriptor.digest() == digest => Ok(image.descriptor.clone()),
        _ => Err(ImageError::Layout(format!(
            "root manifest {} ({digest}) must be the one manifest of the request, which has {}; \
             pass the root manifest's own files in `manifests`",
            request.root,
            images.iter().map(|i| i.descriptor.digest().to_string()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

fn index_root(
    request: &OciLayoutRequest,
    root: Vec<u8>,
    images: &[LoadedImage],
    blobs: &mut BlobSet,
) -> Result<Descriptor, ImageError> {
    let index: ImageIndex = json::parse(&root, &request.root, "index")?;
    for child in index.manifests() {
        if *child.media_type() == MediaType::ImageIndex {
            return Err(ImageError::Layout(format!(
                "index {} contains another index ({}); nested indexes are not supported in layouts",
                request.root,
                child.digest()
            )));
        }
        if !images.iter().any(|image| image.descriptor.digest() == child.digest()) {
            return Err(ImageError::Layout(format!(
                "index {} lists manifest {}, but the request does not include its files; pass every child",
                request.root,
                child.digest()
            )));
        }
    }
    if let Some(extra) =
        images.iter().find(|image| !index.manifests().iter().any(|c| c.digest() == image.descriptor.digest()))
    {
        return Err(ImageError::Layout(format!(
            "manifest {} is not a child of index {}; pass only the index's children",
            extra.descriptor.digest(),
            request.root
        )));
    }
    let digest = blobs.add_bytes(root);
    Ok(Descriptor::new(MediaType::ImageIndex, digest.size, json::oci_digest(&digest)))
}
