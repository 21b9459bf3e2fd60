//! A push request as what to send, checked before any byte goes out: the destination and tags,
//! the image it names (read and checked by [`crate::deploy::image`]), and its blobs, each digest
//! once.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use img_contract::deploy::{BlobSource, PushRequest};

use crate::deploy::image::{self, Document, ImageRequest};
use crate::registry::client::BuildSettings;
use crate::registry::reference::{check_host, check_repository, check_tag};
use crate::registry::RegistryError;

/// Where the image goes; the command line may override the request.
#[derive(Debug, Clone, Default)]
pub struct Destination {
    pub registry: Option<String>,
    pub repository: Option<String>,
    pub extra_tags: Vec<String>,
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
    /// How the build said to reach registries.
    pub build_settings: BuildSettings,
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

    let image = image::read(&request, request_path, root_dir)?;
    let mut blobs: Vec<Blob> = Vec::new();
    for (i, manifest) in image.manifests.iter().enumerate() {
        let config = &manifest.config;
        add(
            &mut blobs,
            Blob {
                digest: config.digest.clone(),
                size: config.size,
                what: format!("config of manifest {i} ({})", config.path.display()),
                local: Some(config.path.clone()),
                sources: Vec::new(),
            },
        );
        for layer in &manifest.layers {
            add(
                &mut blobs,
                Blob {
                    digest: layer.digest.clone(),
                    size: layer.size,
                    what: layer.what.clone(),
                    local: layer.blob.clone(),
                    sources: layer.sources.clone(),
                },
            );
        }
    }
    let mut documents = image.manifests.into_iter().map(|manifest| manifest.document);
    // An index goes up after its children; a manifest root is the only document.
    let (root, children) = match image.index {
        Some(index) => (index, documents.collect()),
        None => (documents.next().expect("a manifest root has one manifest"), Vec::new()),
    };
    let build_settings = request.build_settings();
    Ok(Plan { registry, repository, tags: tags.into_iter().collect(), root, children, blobs, build_settings })
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
