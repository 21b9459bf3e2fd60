//! The image a push or load request names, read and checked before anything is sent: the root
//! (a manifest or an index) and every manifest, config and layer metadata file it lists. Each file
//! must agree with the document that lists it (digest, size, count), every local layer blob must
//! exist with the size its metadata gives, and every layer without one must name a registry to
//! fetch it from. A request that does not hold together is refused here, naming the file at fault.
//!
//! What only one side needs stays with it: the destination and tags with `img push`
//! ([`crate::registry::push::plan`]), platforms and names with `img load` ([`crate::load::plan`]).

use std::path::{Path, PathBuf};

use bytes::Bytes;
use img_contract::deploy::{BlobSource, DeployManifest, LoadRequest, PushRequest};
use img_contract::image::RootKind;
use img_contract::layer::LayerMetadata;
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, Platform};

use crate::digest::Sha256Digest;
use crate::registry::client::BuildSettings;
use crate::registry::media::{self, OCI_INDEX, OCI_MANIFEST};

/// A request that names an image: what push and load requests have in common.
pub trait ImageRequest {
    /// `push` or `load`, for messages.
    const ACTION: &'static str;
    fn root(&self) -> &str;
    fn root_kind(&self) -> RootKind;
    fn manifests(&self) -> &[DeployManifest];
    /// How the build said to reach registries.
    fn build_settings(&self) -> BuildSettings;
}

/// Push and load requests name their image, and say how to reach registries, with the same fields.
macro_rules! image_request {
    ($request:ty, $action:literal) => {
        impl ImageRequest for $request {
            const ACTION: &'static str = $action;
            fn root(&self) -> &str {
                &self.root
            }
            fn root_kind(&self) -> RootKind {
                self.root_kind
            }
            fn manifests(&self) -> &[DeployManifest] {
                &self.manifests
            }
            fn build_settings(&self) -> BuildSettings {
                BuildSettings {
                    credential_helper: self.credential_helper.clone(),
                    docker_config_path: self.docker_config_path.clone(),
                    insecure: self.insecure,
                }
            }
        }
    };
}

image_request!(PushRequest, "push");
image_request!(LoadRequest, "load");

/// Why the image of a request cannot be deployed; every message names the request and the file.
#[derive(Debug, thiserror::Error)]
pub enum DeployImageError {
    /// The files do not hold together: a digest, size or count that does not match, a missing blob.
    #[error("{action} request {request}: {reason}")]
    Inconsistent { action: &'static str, request: PathBuf, reason: String },

    #[error("{action} request {request}: {path} is not a valid {kind}: {reason}")]
    Invalid { action: &'static str, request: PathBuf, path: PathBuf, kind: &'static str, reason: String },

    #[error("{action} request {request}: cannot read {path}: {source}")]
    Read { action: &'static str, request: PathBuf, path: PathBuf, source: std::io::Error },
}

/// A manifest, index or config: small, so read whole and hashed.
#[derive(Debug, Clone)]
pub struct Document {
    pub path: PathBuf,
    /// `sha256:<hex>`.
    pub digest: String,
    pub size: u64,
    pub media_type: String,
    pub bytes: Bytes,
}

impl Document {
    fn new(path: PathBuf, media_type: &str, bytes: Vec<u8>) -> Self {
        let digest = Sha256Digest::of(&bytes);
        Self {
            path,
            digest: digest.to_string(),
            size: digest.size,
            media_type: media_type.to_owned(),
            bytes: bytes.into(),
        }
    }
}

/// A layer as its manifest describes it, and where its bytes are.
#[derive(Debug, Clone)]
pub struct Layer {
    /// `sha256:<hex>`.
    pub digest: String,
    pub size: u64,
    pub media_type: String,
    /// What it is, for messages: `layer 2 of manifest 0 (path/to/metadata.json)`.
    pub what: String,
    /// The local blob (its size checked); `None` for a base layer only its registries have.
    pub blob: Option<PathBuf>,
    /// Registries it can be fetched from; never empty when `blob` is `None`.
    pub sources: Vec<BlobSource>,
}

/// One single-platform image.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub document: Document,
    pub config: Document,
    pub layers: Vec<Layer>,
    /// The platform the index lists it for (`None` when the root is this manifest, or the index
    /// does not say).
    pub platform: Option<Platform>,
}

/// The image a request names, checked.
#[derive(Debug, Clone)]
pub struct DeployImage {
    /// The index, when the root is one.
    pub index: Option<Document>,
    /// The root manifest, or the index's children in order.
    pub manifests: Vec<Manifest>,
}

/// Reads the image `request` (read from `request_path`) names; its paths are relative to `root_dir`.
pub fn read<R: ImageRequest>(
    request: &R,
    request_path: &Path,
    root_dir: &Path,
) -> Result<DeployImage, DeployImageError> {
    let reader = Reader { action: R::ACTION, request: request_path, root_dir };
    let entries = request.manifests();
    let root = reader.document(request.root(), request.root_kind())?;
    // The index's children in order; `None` when the root is a manifest.
    let listed: Option<Vec<Descriptor>> = match request.root_kind() {
        RootKind::Manifest if entries.len() != 1 => {
            return Err(reader
                .fail(format!("the root is a manifest, but `manifests` has {} entries instead of 1", entries.len())));
        }
        RootKind::Manifest => None,
        RootKind::Index => {
            let index: ImageIndex = reader.parse(&root.bytes, &root.path, "image index")?;
            if index.manifests().len() != entries.len() {
                return Err(reader.fail(format!(
                    "the index {} lists {} manifests, but `manifests` has {}",
                    root.path.display(),
                    index.manifests().len(),
                    entries.len()
                )));
            }
            Some(index.manifests().to_vec())
        }
    };

    let mut manifests = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let document = reader.document(&entry.manifest, RootKind::Manifest)?;
        let (role, expected_digest, expected_size) = match &listed {
            Some(listed) => (format!("child {i} of the index"), listed[i].digest().to_string(), listed[i].size()),
            None => (format!("the root {}", root.path.display()), root.digest.clone(), root.size),
        };
        if document.digest != expected_digest || document.size != expected_size {
            return Err(reader.fail(format!(
                "{role} is {expected_digest} ({expected_size} bytes), but manifest {} is {} ({} bytes)",
                document.path.display(),
                document.digest,
                document.size
            )));
        }
        let parsed: ImageManifest = reader.parse(&document.bytes, &document.path, "image manifest")?;
        let config = reader.config(entry, &parsed, &document.path)?;
        let layers = reader.layers(i, entry, &parsed, &document.path)?;
        let platform = listed.as_ref().and_then(|listed| listed[i].platform().clone());
        manifests.push(Manifest { document, config, layers, platform });
    }
    let index = listed.is_some().then_some(root);
    Ok(DeployImage { index, manifests })
}

/// Reads the files of one request, turning every failure into an error that names it.
struct Reader<'a> {
    action: &'static str,
    request: &'a Path,
    root_dir: &'a Path,
}

impl Reader<'_> {
    fn fail(&self, reason: String) -> DeployImageError {
        DeployImageError::Inconsistent { action: self.action, request: self.request.to_owned(), reason }
    }

    fn read(&self, path: &Path) -> Result<Vec<u8>, DeployImageError> {
        std::fs::read(path).map_err(|source| self.cannot_read(path, source))
    }

    fn cannot_read(&self, path: &Path, source: std::io::Error) -> DeployImageError {
        DeployImageError::Read { action: self.action, request: self.request.to_owned(), path: path.to_owned(), source }
    }

    fn parse<T: serde::de::DeserializeOwned>(
        &self,
        bytes: &[u8],
        path: &Path,
        kind: &'static str,
    ) -> Result<T, DeployImageError> {
        serde_json::from_slice(bytes).map_err(|err| self.invalid(path, kind, err.to_string()))
    }

    fn invalid(&self, path: &Path, kind: &'static str, reason: String) -> DeployImageError {
        DeployImageError::Invalid {
            action: self.action,
            request: self.request.to_owned(),
            path: path.to_owned(),
            kind,
            reason,
        }
    }

    /// A manifest or index, with the media type it is sent with: its own `mediaType`, else what
    /// `kind` says; the two must agree.
    fn document(&self, relative: &str, kind: RootKind) -> Result<Document, DeployImageError> {
        let (kind_name, fallback) = match kind {
            RootKind::Manifest => ("image manifest", OCI_MANIFEST),
            RootKind::Index => ("image index", OCI_INDEX),
        };
        let path = self.root_dir.join(relative);
        let bytes = self.read(&path)?;
        let value: serde_json::Value = self.parse(&bytes, &path, kind_name)?;
        let media_type = match value.get("mediaType").and_then(|v| v.as_str()) {
            Some(media_type) if !media_type.is_empty() => media_type.to_owned(),
            _ => fallback.to_owned(),
        };
        if media::is_index(&media_type) != (kind == RootKind::Index) {
            return Err(self.invalid(&path, kind_name, format!("its mediaType is {media_type}")));
        }
        Ok(Document::new(path, &media_type, bytes))
    }

    /// The config of `entry`, which must be the one its manifest names.
    fn config(
        &self,
        entry: &DeployManifest,
        manifest: &ImageManifest,
        manifest_path: &Path,
    ) -> Result<Document, DeployImageError> {
        let path = self.root_dir.join(&entry.config);
        let bytes = self.read(&path)?;
        let wanted = manifest.config();
        let config = Document::new(path, wanted.media_type().as_ref(), bytes);
        if config.digest != wanted.digest().to_string() || config.size != wanted.size() {
            return Err(self.fail(format!(
                "config {} is {} ({} bytes), but manifest {} names {} ({} bytes)",
                config.path.display(),
                config.digest,
                config.size,
                manifest_path.display(),
                wanted.digest(),
                wanted.size()
            )));
        }
        Ok(config)
    }

    /// The layers of manifest `i`: each one's metadata must describe the manifest's layer at its
    /// place, and its bytes must be here or in a registry.
    fn layers(
        &self,
        i: usize,
        entry: &DeployManifest,
        manifest: &ImageManifest,
        manifest_path: &Path,
    ) -> Result<Vec<Layer>, DeployImageError> {
        if manifest.layers().len() != entry.layers.len() {
            return Err(self.fail(format!(
                "manifest {} has {} layers, but the request lists {} for it",
                manifest_path.display(),
                manifest.layers().len(),
                entry.layers.len()
            )));
        }
        let mut layers = Vec::with_capacity(entry.layers.len());
        for (j, (layer, descriptor)) in entry.layers.iter().zip(manifest.layers()).enumerate() {
            let metadata_path = self.root_dir.join(&layer.metadata);
            let metadata: LayerMetadata = self.parse(&self.read(&metadata_path)?, &metadata_path, "layer metadata")?;
            if metadata.digest != descriptor.digest().to_string() || metadata.size != descriptor.size() {
                return Err(self.fail(format!(
                    "layer {j} of manifest {} is {} ({} bytes), but its metadata {} says {} ({} bytes)",
                    manifest_path.display(),
                    descriptor.digest(),
                    descriptor.size(),
                    metadata_path.display(),
                    metadata.digest,
                    metadata.size
                )));
            }
            let blob = match &layer.blob {
                Some(blob) => {
                    let blob_path = self.root_dir.join(blob);
                    let size = std::fs::metadata(&blob_path).map_err(|err| self.cannot_read(&blob_path, err))?.len();
                    if size != metadata.size {
                        return Err(self.fail(format!(
                            "layer blob {} has {size} bytes, but its metadata {} says {}",
                            blob_path.display(),
                            metadata_path.display(),
                            metadata.size
                        )));
                    }
                    Some(blob_path)
                }
                None if layer.sources.is_empty() => {
                    return Err(self.fail(format!(
                        "layer {j} of manifest {} ({}) has neither a local blob nor a source registry",
                        manifest_path.display(),
                        metadata_path.display()
                    )));
                }
                None => None,
            };
            layers.push(Layer {
                digest: metadata.digest,
                size: metadata.size,
                media_type: descriptor.media_type().to_string(),
                what: format!("layer {j} of manifest {i} ({})", metadata_path.display()),
                blob,
                sources: layer.sources.clone(),
            });
        }
        Ok(layers)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

    /// A one-layer image written file by file; `request(..)` names it.
    struct Fixture {
        dir: tempfile::TempDir,
        manifest: Value,
        layer: Value,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let fixture = Self { dir, manifest: Value::Null, layer: Value::Null };
            let layer = fixture.write("layer.tar.gz", b"layer bytes");
            let metadata = json!({"mediaType": GZIP, "digest": layer["digest"], "size": layer["size"]});
            fixture.write("layer.json", &serde_json::to_vec(&metadata).unwrap());
            let config = fixture.write("config.json", br#"{"architecture":"amd64","os":"linux"}"#);
            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": CONFIG, "digest": config["digest"], "size": config["size"]},
                "layers": [{"mediaType": GZIP, "digest": layer["digest"], "size": layer["size"]}],
            });
            let manifest = fixture.write("manifest.json", &serde_json::to_vec(&manifest).unwrap());
            Self {
                manifest,
                layer: json!({"metadata": "layer.json", "blob": "layer.tar.gz", "sources": []}),
                ..fixture
            }
        }

        /// Writes a file; returns its descriptor fields.
        fn write(&self, name: &str, bytes: &[u8]) -> Value {
            std::fs::write(self.dir.path().join(name), bytes).unwrap();
            let digest = Sha256Digest::of(bytes);
            json!({"digest": digest.to_string(), "size": digest.size})
        }

        /// An index of the manifest for linux/arm64/v8.
        fn index(&self) {
            let child = json!({
                "mediaType": OCI_MANIFEST,
                "digest": self.manifest["digest"],
                "size": self.manifest["size"],
                "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
            });
            let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child]});
            self.write("index.json", &serde_json::to_vec(&index).unwrap());
        }

        fn request<R: serde::de::DeserializeOwned>(&self, root: &str, root_kind: &str, extra: Value) -> R {
            let mut request = json!({
                "root": root,
                "root_kind": root_kind,
                "manifests": [{"manifest": "manifest.json", "config": "config.json", "layers": [self.layer]}],
                "insecure": false,
            });
            for (key, value) in extra.as_object().unwrap() {
                request[key] = value.clone();
            }
            serde_json::from_value(request).unwrap()
        }

        fn load(&self, root: &str, root_kind: &str) -> Result<DeployImage, DeployImageError> {
            let request: LoadRequest = self.request(root, root_kind, json!({"daemon": "auto", "names": []}));
            read(&request, &self.dir.path().join("load.json"), self.dir.path())
        }
    }

    fn message(result: Result<DeployImage, DeployImageError>) -> String {
        result.expect_err("the request is refused").to_string()
    }

    #[test]
    fn an_index_gives_each_manifest_the_platform_it_lists() {
        let fixture = Fixture::new();
        fixture.index();
        let image = fixture.load("index.json", "index").unwrap();
        assert_eq!(image.index.as_ref().unwrap().media_type, OCI_INDEX);
        let [manifest] = &image.manifests[..] else { panic!("one manifest") };
        assert_eq!(manifest.document.digest, fixture.manifest["digest"]);
        assert_eq!(manifest.config.media_type, CONFIG);
        let platform = manifest.platform.as_ref().unwrap();
        assert_eq!((platform.architecture().to_string(), platform.variant().as_deref()), ("arm64".into(), Some("v8")));
        assert_eq!(manifest.layers[0].blob.as_deref(), Some(fixture.dir.path().join("layer.tar.gz").as_path()));
    }

    #[test]
    fn a_local_blob_of_another_size_than_its_metadata_is_refused_naming_both() {
        let fixture = Fixture::new();
        std::fs::write(fixture.dir.path().join("layer.tar.gz"), b"short").unwrap();
        let text = message(fixture.load("manifest.json", "manifest"));
        assert!(text.starts_with("load request ") && text.contains("load.json"), "{text}");
        assert!(text.contains("layer.tar.gz has 5 bytes, but its metadata") && text.contains("layer.json"), "{text}");
    }

    #[test]
    fn a_manifest_the_index_does_not_list_is_refused() {
        let mut fixture = Fixture::new();
        fixture.index();
        fixture.manifest = fixture.write("manifest.json", br#"{"schemaVersion":2,"config":{},"layers":[]}"#);
        let text = message(fixture.load("index.json", "index"));
        assert!(text.contains("child 0 of the index is sha256:") && text.contains("manifest.json is"), "{text}");
    }

    #[test]
    fn a_manifest_root_that_is_an_index_is_refused_for_push_and_load() {
        let fixture = Fixture::new();
        fixture.index();
        let text = message(fixture.load("index.json", "manifest"));
        assert!(text.contains("index.json is not a valid image manifest: its mediaType is"), "{text}");
        let push: PushRequest =
            fixture.request("index.json", "manifest", json!({"registry": "r", "repository": "x", "tags": []}));
        let text = message(read(&push, &fixture.dir.path().join("push.json"), fixture.dir.path()));
        assert!(text.starts_with("push request ") && text.contains("push.json"), "{text}");
    }

    #[test]
    fn a_layer_with_neither_a_blob_nor_a_source_registry_is_refused() {
        let mut fixture = Fixture::new();
        fixture.layer = json!({"metadata": "layer.json", "blob": null, "sources": []});
        let text = message(fixture.load("manifest.json", "manifest"));
        assert!(text.contains("layer 0 of manifest") && text.contains("neither a local blob nor a source"), "{text}");
        fixture.layer["sources"] = json!([{"registry": "r", "repository": "base"}]);
        let image = fixture.load("manifest.json", "manifest").unwrap();
        assert!(image.index.is_none() && image.manifests[0].layers[0].blob.is_none());
        assert_eq!(image.manifests[0].layers[0].sources[0].repository, "base");
    }
}
