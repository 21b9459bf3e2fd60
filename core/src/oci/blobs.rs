//! The blobs of an image, gathered and cross-checked before anything is written: manifests and
//! configs are small and held in memory; layer blobs stay files, streamed (and verified) later.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use img_contract::image::ImageFiles;
use oci_spec::image::{Descriptor, Digest, DigestAlgorithm, ImageManifest, MediaType};

use super::manifest::LayerInput;
use super::{json, ImageError};
use crate::digest::Sha256Digest;

/// Where a blob's bytes come from.
pub enum BlobSource {
    /// A document we read (and hashed) already.
    Bytes(Vec<u8>),
    /// A layer file, verified against `Blob::hex` while it is copied.
    File(PathBuf),
}

pub struct Blob {
    /// The sha256 hex digest: the blob's name under `blobs/sha256/`.
    pub hex: String,
    pub size: u64,
    pub source: BlobSource,
}

/// Blobs by digest: each is written once, however many manifests share it.
#[derive(Default)]
pub struct BlobSet {
    blobs: BTreeMap<String, Blob>,
}

impl BlobSet {
    /// Adds an in-memory document; returns its digest.
    pub fn add_bytes(&mut self, bytes: Vec<u8>) -> Sha256Digest {
        let digest = Sha256Digest::of(&bytes);
        let hex = digest.hex();
        self.blobs.entry(hex.clone()).or_insert(Blob { hex, size: digest.size, source: BlobSource::Bytes(bytes) });
        digest
    }

    fn add_file(&mut self, hex: String, size: u64, path: &str) {
        self.blobs.entry(hex.clone()).or_insert(Blob { hex, size, source: BlobSource::File(path.into()) });
    }

    /// In digest order.
    pub fn iter(&self) -> impl Iterator<Item = &Blob> {
        self.blobs.values()
    }
}

/// One image manifest whose config and layers are all in a [`BlobSet`].
pub struct LoadedImage {
    /// The manifest's descriptor (media type, digest, size only).
    pub descriptor: Descriptor,
    pub config_hex: String,
    pub layer_hexes: Vec<String>,
}

/// Reads an image's manifest, config and layer metadata, checks that they belong together, and
/// adds their blobs to `blobs`. Fails before anything is written if a layer has no blob.
pub fn load(files: &ImageFiles, blobs: &mut BlobSet) -> Result<LoadedImage, ImageError> {
    let (manifest_bytes, manifest): (_, ImageManifest) = json::read_parsed(&files.manifest, "manifest")?;
    let media_type = manifest.media_type().clone().unwrap_or(MediaType::ImageManifest);
    let manifest_digest = blobs.add_bytes(manifest_bytes);
    let descriptor = Descriptor::new(media_type, manifest_digest.size, json::oci_digest(&manifest_digest));

    let config_bytes = json::read(&files.config, "config")?;
    let config_digest = Sha256Digest::of(&config_bytes);
    if config_digest.to_string() != manifest.config().digest().to_string() {
        return Err(ImageError::ConfigMismatch {
            manifest: files.manifest.as_str().into(),
            config: files.config.as_str().into(),
            expected: manifest.config().digest().to_string(),
            actual: config_digest.to_string(),
        });
    }
    blobs.add_bytes(config_bytes);

    if files.layers.len() != manifest.layers().len() {
        return Err(ImageError::LayerCount {
            manifest: files.manifest.as_str().into(),
            layers: manifest.layers().len(),
            given: files.layers.len(),
        });
    }
    let mut layer_hexes = Vec::with_capacity(files.layers.len());
    for (index, (layer, expected)) in files.layers.iter().zip(manifest.layers()).enumerate() {
        let metadata = LayerInput::read(&layer.metadata)?.metadata;
        if metadata.digest != expected.digest().to_string() {
            return Err(ImageError::LayerMismatch {
                manifest: files.manifest.as_str().into(),
                index,
                metadata: layer.metadata.as_str().into(),
                expected: expected.digest().to_string(),
                found: metadata.digest,
            });
        }
        let hex = sha256_hex(expected.digest(), &files.manifest)?;
        match (&layer.blob, expected.data()) {
            (Some(path), _) => blobs.add_file(hex.clone(), expected.size(), path),
            (None, Some(data)) => add_inline(blobs, data, expected, &files.manifest)?,
            (None, None) => {
                return Err(ImageError::ShallowLayer {
                    manifest: files.manifest.as_str().into(),
                    index,
                    digest: expected.digest().to_string(),
                })
            }
        }
        layer_hexes.push(hex);
    }
    Ok(LoadedImage { descriptor, config_hex: config_digest.hex(), layer_hexes })
}

/// A layer whose content travels inline in its descriptor (the empty layer `{}`).
fn add_inline(blobs: &mut BlobSet, data: &str, expected: &Descriptor, manifest: &str) -> Result<(), ImageError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(data).ok();
    let digest = bytes.as_deref().map(Sha256Digest::of);
    if digest.map(|d| d.to_string()) != Some(expected.digest().to_string()) {
        return Err(ImageError::BadDocument {
            what: "manifest",
            path: manifest.into(),
            reason: format!("the inline data of layer {} does not match its digest", expected.digest()),
        });
    }
    blobs.add_bytes(bytes.unwrap_or_default());
    Ok(())
}

/// The hex of a sha256 digest; other algorithms cannot be named in `blobs/sha256/`.
pub fn sha256_hex(digest: &Digest, document: &str) -> Result<String, ImageError> {
    match digest.algorithm() {
        DigestAlgorithm::Sha256 => Ok(digest.digest().to_owned()),
        other => Err(ImageError::BadDocument {
            what: "document",
            path: document.into(),
            reason: format!("digest {digest} uses {other}; only sha256 blobs are supported"),
        }),
    }
}
