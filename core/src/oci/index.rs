//! `img index`: an image index over manifests built for different platforms.

use std::collections::{BTreeMap, HashMap};

use img_contract::image::{IndexOutputs, IndexRequest};
use oci_spec::image::{Descriptor, ImageIndex, MediaType, Platform};

use super::{json, kv, write_outputs, ImageError};

/// Runs `img index`.
pub fn build(request: &IndexRequest, outputs: &IndexOutputs) -> Result<(), ImageError> {
    let paths = [&outputs.index, &outputs.descriptor, &outputs.digest];
    crate::atomic::clean_on_error(&paths.map(std::path::Path::new), build_index(request, outputs))
}

fn build_index(request: &IndexRequest, outputs: &IndexOutputs) -> Result<(), ImageError> {
    let mut manifests = Vec::with_capacity(request.manifests.len());
    let mut platforms: BTreeMap<String, &String> = BTreeMap::new();
    for path in &request.manifests {
        let (_, descriptor): (_, Descriptor) = json::read_parsed(path, "manifest descriptor")?;
        if let Some(platform) = descriptor.platform() {
            let name = platform_name(platform);
            if let Some(first) = platforms.insert(name.clone(), path) {
                return Err(ImageError::DuplicatePlatform {
                    platform: name,
                    first: first.as_str().into(),
                    second: path.as_str().into(),
                });
            }
        }
        manifests.push(descriptor);
    }

    let mut annotations = match &request.annotations_file {
        Some(path) => kv::read(path, "annotations file")?,
        None => BTreeMap::new(),
    };
    annotations.extend(request.annotations.iter().map(|(k, v)| (k.clone(), v.clone())));

    let mut index = ImageIndex::default();
    index.set_media_type(Some(MediaType::ImageIndex));
    index.set_manifests(manifests);
    if !annotations.is_empty() {
        index.set_annotations(Some(annotations.into_iter().collect::<HashMap<_, _>>()));
    }
    if let Some(path) = &request.subject {
        index.set_subject(Some(json::read_parsed::<Descriptor>(path, "subject descriptor")?.1));
    }
    let index_bytes = json::to_bytes(&index);
    let descriptor = json::descriptor_of(MediaType::ImageIndex, &index_bytes);
    write_outputs(&[
        (&outputs.index, &index_bytes),
        (&outputs.descriptor, &json::to_bytes(&descriptor)),
        (&outputs.digest, descriptor.digest().to_string().as_bytes()),
    ])
}

/// `os/architecture[/variant]`, plus os.version and os.features when set: two children are the
/// same platform only if all of these agree.
fn platform_name(platform: &Platform) -> String {
    let mut name = format!("{}/{}", platform.os(), platform.architecture());
    if let Some(variant) = platform.variant() {
        name = format!("{name}/{variant}");
    }
    if let Some(version) = platform.os_version() {
        name = format!("{name} (os.version {version})");
    }
    if let Some(features) = platform.os_features() {
        name = format!("{name} (os.features {})", features.join(","));
    }
    name
}
