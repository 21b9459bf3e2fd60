//! A load request as blobs to send: the image it names (read and checked by
//! [`crate::deploy::image`]) with each image's platform, every blob with where its bytes come from.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use img_contract::deploy::{BlobSource, LoadRequest};
use oci_spec::image::ImageConfiguration;

use super::platform::Platform;
use super::LoadError;
use crate::deploy::image;

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

    fn document(document: &image::Document, what: String) -> Self {
        Self {
            digest: document.digest.clone(),
            size: document.size,
            media_type: document.media_type.clone(),
            what,
            content: Content::Bytes(document.bytes.clone()),
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
    let image = image::read(request, request_path, root_dir)?;
    let index = image.index.map(|index| Blob::document(&index, format!("index {}", index.path.display())));
    let images = image.manifests.iter().map(Image::of).collect::<Result<_, _>>()?;
    Ok(Plan { index, images })
}

impl Image {
    fn of(manifest: &image::Manifest) -> Result<Self, LoadError> {
        let config = &manifest.config;
        // An index says which platform each child is for; a lone manifest's config says it.
        let (os, architecture, variant) = match &manifest.platform {
            Some(p) => (p.os().to_string(), p.architecture().to_string(), p.variant().clone()),
            None => {
                let parsed: ImageConfiguration = serde_json::from_slice(&config.bytes).map_err(|err| {
                    LoadError::Plan { path: config.path.clone(), reason: format!("not a valid image config: {err}") }
                })?;
                (parsed.os().to_string(), parsed.architecture().to_string(), parsed.variant().clone())
            }
        };
        let platform = Platform::new(&os, &architecture, variant.as_deref().unwrap_or(""));
        let layers = manifest.layers.iter().map(|layer| Blob {
            digest: layer.digest.clone(),
            size: layer.size,
            media_type: layer.media_type.clone(),
            what: layer.what.clone(),
            content: match &layer.blob {
                Some(path) => Content::File(path.clone()),
                None => Content::Remote(layer.sources.clone()),
            },
        });
        Ok(Self {
            manifest: Blob::document(&manifest.document, format!("manifest {}", manifest.document.path.display())),
            config: Blob::document(config, format!("config {}", config.path.display())),
            layers: layers.collect(),
            platform,
        })
    }
}

impl Plan {
    /// The platforms of the images, in order.
    pub fn platforms(&self) -> Vec<Platform> {
        self.images.iter().map(|image| image.platform.clone()).collect()
    }
}
