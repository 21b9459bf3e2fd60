//! Reading and checking a load request before anything is sent: documents are hashed, every
//! layer's metadata must agree with its manifest, every local blob must exist with the right size,
//! and every layer without a local blob must name a registry to stream it from.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use img_contract::deploy::{BlobSource, LoadRequest};
use img_contract::image::RootKind;
use img_contract::layer::LayerMetadata;
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};

use super::platform::Platform;
use super::LoadError;
use crate::digest::Sha256Digest;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Where a blob's bytes come from.
#[derive(Debug, Clone)]
pub enum Content {
    /// A document (manifest, config, index), read and hashed already.
    Bytes(Bytes),
    /// A local layer file.
    File(PathBuf),
    /// A base layer that is not on this machine: streamed from one of these registries.
    Remote(Vec<BlobSource>),
}

#[derive(Debug, Clone)]
pub struct Blob {
    /// `sha256:<hex>`.
    pub digest: String,
    pub size: u64,
    pub media_type: String,
    /// What it is, for messages: `layer 2 of manifest 0 (path/to/metadata.json)`.
    pub what: String,
    pub content: Content,
}

impl Blob {
    pub fn hex(&self) -> &str {
        self.digest.strip_prefix("sha256:").unwrap_or(&self.digest)
    }

    fn document(bytes: Vec<u8>, media_type: &str, what: String) -> Self {
        let digest = Sha256Digest::of(&bytes);
        Self {
            digest: digest.to_string(),
            size: digest.size,
            media_type: media_type.to_owned(),
            what,
            content: Content::Bytes(Bytes::from(bytes)),
        }
    }
}

/// One single-platform image.
#[derive(Debug, Clone)]
pub struct Image {
    pub manifest: Blob,
    pub config: Blob,
    pub layers: Vec<Blob>,
    pub platform: Platform,
}

/// A checked load request.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The index, when the root is one.
    pub index: Option<Blob>,
    /// The root manifest, or the index's children in order.
    pub images: Vec<Image>,
}

/// Reads `request` (read from `request_path`); its paths are relative to `root_dir`.
pub fn load(request: &LoadRequest, request_path: &Path, root_dir: &Path) -> Result<Plan, LoadError> {
    let fail = |reason: String| LoadError::Plan { path: request_path.to_owned(), reason };
    let root_path = root_dir.join(&request.root);
    let root_bytes = read(&root_path)?;
    let (index, listed) = match request.root_kind {
        RootKind::Manifest if request.manifests.len() != 1 => {
            return Err(fail(format!(
                "the root is a manifest, but `manifests` has {} entries instead of 1",
                request.manifests.len()
            )));
        }
        RootKind::Manifest => (None, Vec::new()),
        RootKind::Index => {
            let parsed: ImageIndex = parse(&root_bytes, &root_path, "image index")?;
            let media_type = media_type_of(&root_bytes).unwrap_or(OCI_INDEX.to_owned());
            if media_type != OCI_INDEX && media_type != DOCKER_MANIFEST_LIST {
                return Err(fail(format!("the root {} is a {media_type}, not an index", root_path.display())));
            }
            if parsed.manifests().len() != request.manifests.len() {
                return Err(fail(format!(
                    "the index {} lists {} manifests, but `manifests` has {}",
                    root_path.display(),
                    parsed.manifests().len(),
                    request.manifests.len()
                )));
            }
            let listed = parsed.manifests().to_vec();
            (Some(Blob::document(root_bytes.clone(), &media_type, format!("index {}", root_path.display()))), listed)
        }
    };

    let mut images = Vec::with_capacity(request.manifests.len());
    for (i, entry) in request.manifests.iter().enumerate() {
        let manifest_path = root_dir.join(&entry.manifest);
        let manifest_bytes = read(&manifest_path)?;
        let parsed: ImageManifest = parse(&manifest_bytes, &manifest_path, "image manifest")?;
        let media_type = media_type_of(&manifest_bytes).unwrap_or(OCI_MANIFEST.to_owned());
        let manifest = Blob::document(manifest_bytes, &media_type, format!("manifest {}", manifest_path.display()));
        let expected = match listed.get(i) {
            Some(child) => (child.digest().to_string(), child.size()),
            None => (Sha256Digest::of(&root_bytes).to_string(), root_bytes.len() as u64),
        };
        if (manifest.digest.clone(), manifest.size) != expected {
            let role = if index.is_some() { format!("child {i} of the index") } else { "the root".to_owned() };
            return Err(fail(format!(
                "{role} is {} ({} bytes), but manifest {} is {} ({} bytes)",
                expected.0,
                expected.1,
                manifest_path.display(),
                manifest.digest,
                manifest.size
            )));
        }

        let config_path = root_dir.join(&entry.config);
        let config_bytes = read(&config_path)?;
        let wanted = parsed.config();
        let config =
            Blob::document(config_bytes, wanted.media_type().as_ref(), format!("config {}", config_path.display()));
        if config.digest != wanted.digest().to_string() || config.size != wanted.size() {
            return Err(fail(format!(
                "config {} is {} ({} bytes), but manifest {} names {} ({} bytes)",
                config_path.display(),
                config.digest,
                config.size,
                manifest_path.display(),
                wanted.digest(),
                wanted.size()
            )));
        }
        let platform = match listed.get(i).and_then(|child| child.platform().as_ref()) {
            Some(p) => {
                Platform::new(&p.os().to_string(), &p.architecture().to_string(), p.variant().as_deref().unwrap_or(""))
            }
            None => {
                let parsed: ImageConfiguration = parse(config_bytes_of(&config), &config_path, "image config")?;
                Platform::new(
                    &parsed.os().to_string(),
                    &parsed.architecture().to_string(),
                    parsed.variant().as_deref().unwrap_or(""),
                )
            }
        };

        if parsed.layers().len() != entry.layers.len() {
            return Err(fail(format!(
                "manifest {} has {} layers, but the request lists {} for it",
                manifest_path.display(),
                parsed.layers().len(),
                entry.layers.len()
            )));
        }
        let mut layers = Vec::with_capacity(entry.layers.len());
        for (j, (layer, descriptor)) in entry.layers.iter().zip(parsed.layers()).enumerate() {
            let metadata_path = root_dir.join(&layer.metadata);
            let metadata: LayerMetadata = parse(&read(&metadata_path)?, &metadata_path, "layer metadata")?;
            if metadata.digest != descriptor.digest().to_string() || metadata.size != descriptor.size() {
                return Err(fail(format!(
                    "layer {j} of manifest {} is {} ({} bytes), but its metadata {} says {} ({} bytes)",
                    manifest_path.display(),
                    descriptor.digest(),
                    descriptor.size(),
                    metadata_path.display(),
                    metadata.digest,
                    metadata.size
                )));
            }
            let content = match &layer.blob {
                Some(blob) => {
                    let blob_path = root_dir.join(blob);
                    let size = std::fs::metadata(&blob_path)
                        .map_err(|source| LoadError::Io { path: blob_path.clone(), source })?
                        .len();
                    if size != metadata.size {
                        return Err(fail(format!(
                            "layer blob {} has {size} bytes, but its metadata {} says {}",
                            blob_path.display(),
                            metadata_path.display(),
                            metadata.size
                        )));
                    }
                    Content::File(blob_path)
                }
                None if layer.sources.is_empty() => {
                    return Err(fail(format!(
                        "layer {j} of manifest {} ({}) has neither a local blob nor a source registry",
                        manifest_path.display(),
                        metadata_path.display()
                    )));
                }
                None => Content::Remote(layer.sources.clone()),
            };
            layers.push(Blob {
                digest: metadata.digest,
                size: metadata.size,
                media_type: descriptor.media_type().to_string(),
                what: format!("layer {j} of manifest {i} ({})", metadata_path.display()),
                content,
            });
        }
        images.push(Image { manifest, config, layers, platform });
    }
    Ok(Plan { index, images })
}

impl Plan {
    /// The platforms of the images, in order.
    pub fn platforms(&self) -> Vec<Platform> {
        self.images.iter().map(|image| image.platform.clone()).collect()
    }
}

fn config_bytes_of(blob: &Blob) -> &[u8] {
    match &blob.content {
        Content::Bytes(bytes) => bytes,
        _ => unreachable!("configs are documents"),
    }
}

/// The document's own `mediaType`, if it has one.
fn media_type_of(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    value.get("mediaType")?.as_str().filter(|m| !m.is_empty()).map(str::to_owned)
}

fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|source| LoadError::Io { path: path.to_owned(), source })
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], path: &Path, kind: &str) -> Result<T, LoadError> {
    serde_json::from_slice(bytes)
        .map_err(|err| LoadError::Plan { path: path.to_owned(), reason: format!("not a valid {kind}: {err}") })
}
