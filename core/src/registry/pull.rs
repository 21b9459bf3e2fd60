//! `img pull`: a base image's manifests and configs, never its layer blobs (a shallow pull). The
//! root is fetched by digest (a tag is resolved first) and every document is checked against its
//! digest before anything is written; a mismatch tries the next mirror. The output directory gets
//! `blobs/sha256/<hex>` for each document, a descriptor and `LayerMetadata` files per manifest,
//! and `pull.json` (`PullResult`) — all at once at the end, or nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use img_contract::deploy::{PullResult, PulledManifest};
use img_contract::image::RootKind;
use img_contract::layer::{LayerHistory, LayerMetadata};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
use serde_json::{json, Value};

use crate::atomic::{commit_all, PendingOutput};
use crate::digest::Sha256Digest;
use crate::registry::client::{http_client, read_limited, Access, ClientOptions, Registry};
use crate::registry::media;
use crate::registry::reference::{check_host, check_repository, check_tag, sha256_hex};
use crate::registry::RegistryError;

/// Manifests and indexes larger than this are refused (distribution's own limit is 4 MiB).
const MANIFEST_LIMIT: u64 = 4 << 20;
/// Configs larger than this are refused: real ones are kilobytes.
const CONFIG_LIMIT: u64 = 64 << 20;

/// What `img pull` was asked to do.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// The registry, then its mirrors, tried in this order.
    pub registries: Vec<String>,
    pub repository: String,
    pub digest: Option<String>,
    pub tag: Option<String>,
    /// Pull by tag alone (with a warning naming the digest to pin) instead of failing.
    pub allow_tag_without_digest: bool,
    pub output: PathBuf,
    pub client: ClientOptions,
}

/// A document, verified, and the registry that served it.
struct Fetched {
    bytes: Bytes,
    content_type: Option<String>,
    served_by: usize,
}

/// Pulls, writes the output directory, and returns what `pull.json` holds.
pub async fn pull(options: &PullOptions) -> Result<PullResult, RegistryError> {
    if options.registries.is_empty() {
        return Err(RegistryError::Usage("img pull needs at least one --registry".into()));
    }
    for host in &options.registries {
        check_host(host)?;
    }
    check_repository(&options.repository)?;
    let http = http_client()?;
    let registries = options
        .registries
        .iter()
        .map(|host| Registry::new(host, Access::Pull, &options.client, http.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let puller = Puller { registries, repository: options.repository.clone(), preferred: 0 };
    let digest = puller.digest_to_pull(options).await?;
    let mut puller = puller;
    let root = puller.fetch(&digest, "the root manifest", false).await?;
    puller.preferred = root.served_by;
    let mut files = Files::default();
    files.blob(&digest, &root.bytes);

    let root_value: Value = parse_json(&root.bytes, &digest, "manifest")?;
    let root_type = root_media_type(&root_value, root.content_type.as_deref());
    let root_descriptor_value = json!({ "mediaType": root_type, "digest": digest, "size": root.bytes.len() });
    let (root_kind, manifests) = if media::is_index(&root_type) {
        let index: ImageIndex = parse_json(&root.bytes, &digest, "image index")?;
        let children: Vec<Value> = root_value.get("manifests").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut manifests = Vec::new();
        for (i, (descriptor, raw)) in index.manifests().iter().zip(children).enumerate() {
            if media::is_index(descriptor.media_type().as_ref()) {
                return Err(bad(
                    &digest,
                    "image index",
                    format!("child {i} is itself an index, which img pull does not follow"),
                ));
            }
            manifests.push(puller.child(i, descriptor, Some(raw), &mut files).await?);
        }
        (RootKind::Index, manifests)
    } else {
        let descriptor: Descriptor = serde_json::from_value(root_descriptor_value.clone())
            .map_err(|err| bad(&digest, "manifest descriptor", err.to_string()))?;
        (RootKind::Manifest, vec![puller.child(0, &descriptor, None, &mut files).await?])
    };
    let root_descriptor = match root_kind {
        // A single manifest's descriptor carries its platform, like an index entry would.
        RootKind::Manifest => files.get(&manifests[0].descriptor).cloned().unwrap_or_default(),
        RootKind::Index => serde_json::to_vec(&root_descriptor_value).expect("JSON serializes"),
    };
    files.add("root.descriptor.json", root_descriptor);
    let result = PullResult {
        registry: puller.registries[root.served_by].host.clone(),
        repository: options.repository.clone(),
        tag: options.tag.clone().unwrap_or_default(),
        digest: digest.clone(),
        root_kind,
        root: blob_path(&digest),
        root_descriptor: "root.descriptor.json".to_owned(),
        manifests,
    };
    files.add("pull.json", serde_json::to_vec_pretty(&result).expect("JSON serializes"));
    files.write(&options.output)?;
    Ok(result)
}

struct Puller {
    registries: Vec<Registry>,
    repository: String,
    /// The registry tried first: the one that served the root.
    preferred: usize,
}

impl Puller {
    /// The digest given, or the one the tag resolves to (refused unless allowed: a tag moves).
    async fn digest_to_pull(&self, options: &PullOptions) -> Result<String, RegistryError> {
        if let Some(tag) = &options.tag {
            check_tag(tag)?;
        }
        if let Some(digest) = &options.digest {
            sha256_hex(digest)?;
            return Ok(digest.clone());
        }
        let Some(tag) = &options.tag else {
            return Err(RegistryError::Usage("img pull needs --digest or --tag".into()));
        };
        let digest = self.resolve(tag).await?;
        let reference = format!("{}/{}:{tag}", self.registries[0].host, self.repository);
        if !options.allow_tag_without_digest {
            return Err(RegistryError::Usage(format!(
                "{reference} resolves to {digest} now, but a tag can move: pin it with --digest {digest} \
                 (digest = \"{digest}\" in the rule), or pass --allow-tag-without-digest"
            )));
        }
        eprintln!(
            "img: warning: {reference} was pulled by tag; it resolves to {digest} now. Pin it: digest = \"{digest}\""
        );
        Ok(digest)
    }

    /// The digest of a tag, from the first registry that knows it.
    async fn resolve(&self, tag: &str) -> Result<String, RegistryError> {
        let mut reasons = Vec::new();
        for registry in &self.registries {
            let what = format!("resolving {}/{}:{tag}", registry.host, self.repository);
            match registry.retry.run(&what, || registry.manifest_digest(&self.repository, tag)).await {
                Ok(Some(Some(digest))) if sha256_hex(&digest).is_ok() => return Ok(digest),
                // No (usable) Docker-Content-Digest: hash what a GET serves.
                Ok(Some(_)) => {
                    let get = || registry.manifest(&self.repository, tag, MANIFEST_LIMIT);
                    match registry.retry.run(&what, get).await {
                        Ok(Some(fetched)) => return Ok(Sha256Digest::of(&fetched.bytes).to_string()),
                        Ok(None) => reasons.push(format!("{}: no such tag", registry.host)),
                        Err(err) => reasons.push(err.to_string()),
                    }
                }
                Ok(None) => reasons.push(format!("{}: no such tag", registry.host)),
                Err(err) => reasons.push(err.to_string()),
            }
        }
        Err(RegistryError::Usage(format!("cannot resolve tag {tag} of {}: {}", self.repository, reasons.join("; "))))
    }

    /// A manifest (or, with `blob`, a config) by digest from the first registry that serves the
    /// right bytes, starting with the preferred one.
    async fn fetch(&self, digest: &str, what: &str, blob: bool) -> Result<Fetched, RegistryError> {
        let order = std::iter::once(self.preferred).chain((0..self.registries.len()).filter(|i| *i != self.preferred));
        let mut errors = Vec::new();
        for index in order {
            let registry = &self.registries[index];
            let attempt = format!("fetching {what} {digest} from {}/{}", registry.host, self.repository);
            let fetched = if blob {
                let get = || async {
                    match registry.blob(&self.repository, digest).await? {
                        Some(response) => read_limited(&attempt, response, CONFIG_LIMIT).await.map(|b| Some((b, None))),
                        None => Ok(None),
                    }
                };
                registry.retry.run(&attempt, get).await
            } else {
                let get = || async {
                    let fetched = registry.manifest(&self.repository, digest, MANIFEST_LIMIT).await?;
                    Ok(fetched.map(|f| (f.bytes, f.content_type)))
                };
                registry.retry.run(&attempt, get).await
            };
            match fetched {
                Ok(Some((bytes, content_type))) => {
                    let actual = Sha256Digest::of(&bytes).to_string();
                    if actual == digest {
                        return Ok(Fetched { bytes, content_type, served_by: index });
                    }
                    let url = registry.url(&self.repository).to_string();
                    let err = RegistryError::DigestMismatch { what: attempt, url, expected: digest.to_owned(), actual };
                    eprintln!("img: warning: {err}");
                    errors.push(err);
                }
                Ok(None) => errors.push(RegistryError::Usage(format!("{attempt}: not found"))),
                Err(err) => errors.push(err),
            }
        }
        match errors.len() {
            1 => Err(errors.pop().expect("one error")),
            _ => Err(RegistryError::Usage(
                errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; and from the next mirror: "),
            )),
        }
    }

    /// One image of the root: its manifest, its config, its descriptor and layer metadata files.
    async fn child(
        &self,
        i: usize,
        descriptor: &Descriptor,
        raw_descriptor: Option<Value>,
        files: &mut Files,
    ) -> Result<PulledManifest, RegistryError> {
        let digest = descriptor.digest().to_string();
        let manifest_bytes = match raw_descriptor {
            Some(_) => {
                let fetched = self.fetch(&digest, &format!("manifest {i}"), false).await?;
                files.blob(&digest, &fetched.bytes);
                fetched.bytes
            }
            None => Bytes::from(files.get(&blob_path(&digest)).cloned().unwrap_or_default()),
        };
        let manifest: ImageManifest = parse_json(&manifest_bytes, &digest, "image manifest")?;
        let config_digest = manifest.config().digest().to_string();
        let config_bytes = self.fetch(&config_digest, &format!("the config of manifest {i}"), true).await?.bytes;
        files.blob(&config_digest, &config_bytes);
        let config: ImageConfiguration = parse_json(&config_bytes, &config_digest, "image config")?;

        let platform = descriptor.platform().as_ref();
        let os = platform.map_or(config.os().to_string(), |p| p.os().to_string());
        let architecture = platform.map_or(config.architecture().to_string(), |p| p.architecture().to_string());
        let variant = match platform {
            Some(p) => p.variant().clone().unwrap_or_default(),
            None => config.variant().clone().unwrap_or_default(),
        };
        let descriptor_json = match raw_descriptor {
            Some(raw) => raw,
            None => {
                let mut platform = json!({ "architecture": architecture, "os": os });
                if !variant.is_empty() {
                    platform["variant"] = json!(variant);
                }
                json!({ "mediaType": descriptor.media_type().to_string(), "digest": digest, "size": descriptor.size(), "platform": platform })
            }
        };
        let descriptor_path = format!("manifests/{i}/descriptor.json");
        files.add(&descriptor_path, serde_json::to_vec(&descriptor_json).expect("JSON serializes"));

        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != manifest.layers().len() {
            return Err(bad(
                &config_digest,
                "image config",
                format!(
                    "it has {} diff_ids for the {} layers of manifest {digest}",
                    diff_ids.len(),
                    manifest.layers().len()
                ),
            ));
        }
        let histories = split_history(config.history().as_deref().unwrap_or_default(), diff_ids.len());
        let mut layers = Vec::new();
        for (j, ((layer, diff_id), history)) in manifest.layers().iter().zip(diff_ids).zip(histories).enumerate() {
            let metadata = LayerMetadata {
                diff_id: Some(diff_id.clone()),
                media_type: media::oci_layer_type(layer.media_type().as_ref()).to_owned(),
                digest: layer.digest().to_string(),
                size: layer.size(),
                annotations: layer.annotations().clone().unwrap_or_default().into_iter().collect(),
                history,
            };
            let path = format!("manifests/{i}/layers/{j}.json");
            files.add(&path, serde_json::to_vec(&metadata).expect("JSON serializes"));
            layers.push(path);
        }
        Ok(PulledManifest {
            descriptor: descriptor_path,
            manifest: blob_path(&digest),
            config: blob_path(&config_digest),
            os,
            architecture,
            variant,
            layers,
        })
    }
}

/// Splits a config's history by layer: each layer gets the empty-layer entries before it and its
/// own entry; trailing empty entries go to the last layer. A history that does not match the
/// layers (missing, or another count of non-empty entries) gives each layer none.
fn split_history(history: &[oci_spec::image::History], layers: usize) -> Vec<Vec<LayerHistory>> {
    let convert = |entry: &oci_spec::image::History| LayerHistory {
        created: entry.created().clone(),
        created_by: entry.created_by().clone(),
        author: entry.author().clone(),
        comment: entry.comment().clone(),
        empty_layer: entry.empty_layer(),
    };
    let non_empty = history.iter().filter(|entry| entry.empty_layer() != Some(true)).count();
    if non_empty != layers || layers == 0 {
        return vec![Vec::new(); layers];
    }
    let mut split = vec![Vec::new(); layers];
    let mut layer = 0;
    for entry in history {
        split[layer.min(layers - 1)].push(convert(entry));
        if entry.empty_layer() != Some(true) {
            layer += 1;
        }
    }
    split
}

/// The root's media type: its `mediaType` field, else the Content-Type, else its shape.
fn root_media_type(document: &Value, content_type: Option<&str>) -> String {
    match (document.get("mediaType").and_then(Value::as_str), content_type) {
        (Some(media_type), _) if !media_type.is_empty() => media_type.to_owned(),
        (_, Some(content_type)) if media::is_index(content_type) || content_type.contains("manifest") => {
            content_type.to_owned()
        }
        _ => media::of_document(document).to_owned(),
    }
}

fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    digest: &str,
    kind: &'static str,
) -> Result<T, RegistryError> {
    serde_json::from_slice(bytes).map_err(|err| bad(digest, kind, err.to_string()))
}

fn bad(digest: &str, kind: &'static str, reason: String) -> RegistryError {
    RegistryError::BadDocument { what: format!("{kind} {digest}"), origin: "the registry".to_owned(), kind, reason }
}

/// The files of the output directory, kept until everything is fetched and checked.
#[derive(Default)]
struct Files {
    files: BTreeMap<String, Vec<u8>>,
}

impl Files {
    fn add(&mut self, path: &str, bytes: Vec<u8>) {
        self.files.insert(path.to_owned(), bytes);
    }

    fn blob(&mut self, digest: &str, bytes: &[u8]) {
        self.add(&blob_path(digest), bytes.to_vec());
    }

    fn get(&self, path: &str) -> Option<&Vec<u8>> {
        self.files.get(path)
    }

    /// Writes every file at once: each to a temporary file first, then all renamed into place.
    fn write(self, output: &Path) -> Result<(), RegistryError> {
        let mut pending = Vec::new();
        for (path, bytes) in self.files {
            let path = output.join(path);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|source| RegistryError::Io { path: dir.to_owned(), source })?;
            }
            let mut file = PendingOutput::create(&path)?;
            file.write_all(&bytes)?;
            pending.push(file);
        }
        commit_all(pending)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(created_by: &str, empty: bool) -> oci_spec::image::History {
        let mut entry = oci_spec::image::History::default();
        entry.set_created_by(Some(created_by.to_owned()));
        entry.set_empty_layer(empty.then_some(true));
        entry
    }

    #[test]
    fn history_is_split_at_each_non_empty_entry() {
        let history = [
            entry("env", true),
            entry("add a", false),
            entry("cmd", true),
            entry("add b", false),
            entry("label", true),
        ];
        let split = split_history(&history, 2);
        let names = |layer: &Vec<LayerHistory>| layer.iter().map(|e| e.created_by.clone().unwrap()).collect::<Vec<_>>();
        assert_eq!(names(&split[0]), ["env", "add a"]);
        assert_eq!(names(&split[1]), ["cmd", "add b", "label"]);
        assert!(split_history(&history, 3).iter().all(Vec::is_empty), "a mismatched history is not guessed at");
    }

    #[test]
    fn root_type_prefers_the_document_then_the_header() {
        assert_eq!(
            root_media_type(&json!({"mediaType": media::DOCKER_MANIFEST_LIST}), None),
            media::DOCKER_MANIFEST_LIST
        );
        assert_eq!(root_media_type(&json!({}), Some(media::OCI_INDEX)), media::OCI_INDEX);
        assert_eq!(root_media_type(&json!({"manifests": []}), Some("application/json")), media::OCI_INDEX);
    }
}
