//! Reading and checking a push request before any byte goes out: every document is hashed, every
//! layer's metadata must agree with its manifest, every local blob must exist with the right size.
//! A request that does not hold together is refused here, naming the file at fault.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use img_contract::deploy::{BlobSource, PushRequest};
use img_contract::image::RootKind;
use img_contract::layer::LayerMetadata;
use oci_spec::image::{ImageIndex, ImageManifest};

use crate::digest::Sha256Digest;
use crate::registry::media::{self, OCI_INDEX, OCI_MANIFEST};
use crate::registry::reference::{check_host, check_repository, check_tag};
use crate::registry::RegistryError;

/// Where the image goes; the command line may override the request.
#[derive(Debug, Clone, Default)]
pub struct Destination {
    pub registry: Option<String>,
    pub repository: Option<String>,
    pub extra_tags: Vec<String>,
}

/// A manifest or index to PUT.
#[derive(Debug, Clone)]
pub struct Document {
    pub digest: String,
    pub media_type: String,
    pub bytes: Bytes,
}

/// A blob the registry must have before the manifests go up.
#[derive(Debug, Clone)]
pub struct Blob {
    pub digest: String,
    pub size: u64,
    /// What it is, for messages: `layer 2 of manifest 0 (path/to/metadata.json)`.
    pub what: String,
    /// The local file, if there is one.
    pub local: Option<PathBuf>,
    /// Registries it can be mounted or streamed from.
    pub sources: Vec<BlobSource>,
}

/// Everything a push does, checked.
#[derive(Debug, Clone)]
pub struct Plan {
    pub registry: String,
    pub repository: String,
    /// Deduplicated and sorted.
    pub tags: Vec<String>,
    pub root: Document,
    /// An index's children (empty when the root is a manifest); pushed before the root.
    pub children: Vec<Document>,
    /// Configs and layers, each digest once.
    pub blobs: Vec<Blob>,
}

/// Reads `request_path`; its paths are relative to `root_dir`.
pub fn load(request_path: &Path, root_dir: &Path, destination: &Destination) -> Result<Plan, RegistryError> {
    let request: PushRequest = crate::request::read(request_path)?;
    let fail = |reason: String| RegistryError::Plan { path: request_path.to_owned(), reason };
    let registry = destination.registry.clone().unwrap_or(request.registry.clone());
    let repository = destination.repository.clone().unwrap_or(request.repository.clone());
    if registry.is_empty() || repository.is_empty() {
        return Err(fail(
            "no destination: set `registry` and `repository` in the request or pass --registry and --repository".into(),
        ));
    }
    check_host(&registry)?;
    check_repository(&repository)?;
    let tags: BTreeSet<String> = request.tags.iter().chain(&destination.extra_tags).cloned().collect();
    for tag in &tags {
        check_tag(tag)?;
    }

    let root_path = root_dir.join(&request.root);
    let root_bytes = read(&root_path)?;
    let root = document(&root_bytes, &root_path, request.root_kind)?;
    let mut children = Vec::new();
    let mut blobs: Vec<Blob> = Vec::new();
    // The index's children, in order; `None` when the root is a manifest.
    let listed: Option<Vec<String>> = match request.root_kind {
        RootKind::Manifest if request.manifests.len() != 1 => {
            return Err(fail(format!(
                "the root is a manifest, but `manifests` has {} entries instead of 1",
                request.manifests.len()
            )));
        }
        RootKind::Manifest => None,
        RootKind::Index => {
            let index: ImageIndex = parse(&root_bytes, &root_path, "image index")?;
            let listed: Vec<String> = index.manifests().iter().map(|d| d.digest().to_string()).collect();
            if listed.len() != request.manifests.len() {
                return Err(fail(format!(
                    "the index {} lists {} manifests, but `manifests` has {}",
                    root_path.display(),
                    listed.len(),
                    request.manifests.len()
                )));
            }
            Some(listed)
        }
    };
    for (i, entry) in request.manifests.iter().enumerate() {
        let manifest_path = root_dir.join(&entry.manifest);
        let manifest_bytes = read(&manifest_path)?;
        let child = document(&manifest_bytes, &manifest_path, RootKind::Manifest)?;
        let manifest: ImageManifest = parse(&manifest_bytes, &manifest_path, "image manifest")?;
        match &listed {
            None if child.digest != root.digest => {
                return Err(fail(format!(
                    "manifest {} ({}) is not the root {} ({})",
                    manifest_path.display(),
                    child.digest,
                    root_path.display(),
                    root.digest
                )));
            }
            None => {}
            Some(listed) if listed[i] != child.digest => {
                return Err(fail(format!(
                    "child {i} of the index is {}, but manifest {} is {}",
                    listed[i],
                    manifest_path.display(),
                    child.digest
                )));
            }
            Some(_) => children.push(child),
        }

        let config_path = root_dir.join(&entry.config);
        let config = Sha256Digest::of(&read(&config_path)?);
        let wanted = manifest.config();
        if config.to_string() != wanted.digest().to_string() || config.size != wanted.size() {
            return Err(fail(format!(
                "config {} is {config} ({} bytes), but manifest {} names {} ({} bytes)",
                config_path.display(),
                config.size,
                manifest_path.display(),
                wanted.digest(),
                wanted.size()
            )));
        }
        add(
            &mut blobs,
            Blob {
                digest: config.to_string(),
                size: config.size,
                what: format!("config of manifest {i} ({})", config_path.display()),
                local: Some(config_path),
                sources: Vec::new(),
            },
        );

        if manifest.layers().len() != entry.layers.len() {
            return Err(fail(format!(
                "manifest {} has {} layers, but the request lists {} for it",
                manifest_path.display(),
                manifest.layers().len(),
                entry.layers.len()
            )));
        }
        for (j, (layer, descriptor)) in entry.layers.iter().zip(manifest.layers()).enumerate() {
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
            let local = match &layer.blob {
                Some(blob) => {
                    let blob_path = root_dir.join(blob);
                    let size = std::fs::metadata(&blob_path)
                        .map_err(|source| RegistryError::Io { path: blob_path.clone(), source })?
                        .len();
                    if size != metadata.size {
                        return Err(fail(format!(
                            "layer blob {} has {size} bytes, but its metadata {} says {}",
                            blob_path.display(),
                            metadata_path.display(),
                            metadata.size
                        )));
                    }
                    Some(blob_path)
                }
                None if layer.sources.is_empty() => {
                    return Err(fail(format!(
                        "layer {j} of manifest {} ({}) has neither a local blob nor a source registry",
                        manifest_path.display(),
                        metadata_path.display()
                    )));
                }
                None => None,
            };
            add(
                &mut blobs,
                Blob {
                    digest: metadata.digest.clone(),
                    size: metadata.size,
                    what: format!("layer {j} of manifest {i} ({})", metadata_path.display()),
                    local,
                    sources: layer.sources.clone(),
                },
            );
        }
    }
    Ok(Plan { registry, repository, tags: tags.into_iter().collect(), root, children, blobs })
}

/// Adds a blob, or merges it into an earlier entry of the same digest (a local file wins; the
/// sources add up).
fn add(blobs: &mut Vec<Blob>, blob: Blob) {
    match blobs.iter_mut().find(|existing| existing.digest == blob.digest) {
        Some(existing) => {
            if existing.local.is_none() {
                existing.local = blob.local;
            }
            for source in blob.sources {
                if !existing.sources.contains(&source) {
                    existing.sources.push(source);
                }
            }
        }
        None => blobs.push(blob),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, RegistryError> {
    std::fs::read(path).map_err(|source| RegistryError::Io { path: path.to_owned(), source })
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], path: &Path, kind: &'static str) -> Result<T, RegistryError> {
    serde_json::from_slice(bytes).map_err(|err| RegistryError::BadDocument {
        what: kind.to_owned(),
        origin: path.display().to_string(),
        kind,
        reason: err.to_string(),
    })
}

/// A document with its digest and the media type it is PUT with.
fn document(bytes: &[u8], path: &Path, kind: RootKind) -> Result<Document, RegistryError> {
    let value: serde_json::Value = parse(bytes, path, "JSON document")?;
    let fallback = match kind {
        RootKind::Manifest => OCI_MANIFEST,
        RootKind::Index => OCI_INDEX,
    };
    let media_type = match value.get("mediaType").and_then(|v| v.as_str()) {
        Some(media_type) if !media_type.is_empty() => media_type,
        _ => fallback,
    };
    if media::is_index(media_type) != (kind == RootKind::Index) {
        return Err(RegistryError::BadDocument {
            what: "push root".to_owned(),
            origin: path.display().to_string(),
            kind: if kind == RootKind::Index { "image index" } else { "image manifest" },
            reason: format!("its mediaType is {media_type}"),
        });
    }
    Ok(Document {
        digest: Sha256Digest::of(bytes).to_string(),
        media_type: media_type.to_owned(),
        bytes: Bytes::copy_from_slice(bytes),
    })
}
