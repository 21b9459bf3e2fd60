//! `img manifest`: the config, manifest and descriptor of one image, from layer metadata only.
//!
//! Layer blobs are never opened: a layer is fully described by its metadata (digest, size, media
//! type, diff_id, history), so a manifest over a 10 GB base costs a few small JSON reads.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use img_contract::image::{BaseImage, ManifestOutputs, ManifestRequest};
use img_contract::layer::LayerMetadata;
use oci_spec::image::{
    Arch, Descriptor, Digest, ImageConfiguration, ImageManifest, ImageManifestBuilder, MediaType, Os, Platform,
};
use serde_json::Value;

use super::config::{self, BaseConfig, Fragment, Settings};
use super::{json, kv, media_types, write_outputs, ImageError};
use crate::digest::Sha256Digest;

/// Annotation naming the base image.
pub const BASE_NAME: &str = "org.opencontainers.image.base.name";
/// Annotation holding the base manifest's digest.
pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";

/// A layer metadata file and what it says.
pub struct LayerInput {
    pub path: String,
    pub metadata: LayerMetadata,
}

impl LayerInput {
    /// Reads a metadata file, refusing anything that is not exactly our `LayerMetadata`.
    pub fn read(path: &str) -> Result<Self, ImageError> {
        let bytes = json::read(path, "layer metadata")?;
        let not_ours = |reason: String| ImageError::NotLayerMetadata { path: path.into(), reason };
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let metadata: LayerMetadata =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|err| not_ours(json::describe(&err)))?;
        Digest::from_str(&metadata.digest).map_err(|err| not_ours(format!("digest {:?}: {err}", metadata.digest)))?;
        if let Some(diff_id) = &metadata.diff_id {
            Digest::from_str(diff_id).map_err(|err| not_ours(format!("diff_id {diff_id:?}: {err}")))?;
        }
        Ok(Self { path: path.to_owned(), metadata })
    }

    fn descriptor(&self) -> Descriptor {
        let metadata = &self.metadata;
        let digest = Digest::from_str(&metadata.digest).expect("checked when read");
        let mut descriptor = Descriptor::new(MediaType::from(metadata.media_type.as_str()), metadata.size, digest);
        if !metadata.annotations.is_empty() {
            descriptor.set_annotations(Some(hash_map(&metadata.annotations)));
        }
        normalize_layer(descriptor)
    }
}

/// The base image's documents.
struct Base<'a> {
    files: &'a BaseImage,
    manifest: ImageManifest,
    config: ImageConfiguration,
    descriptor: Descriptor,
}

impl<'a> Base<'a> {
    fn read(files: &'a BaseImage) -> Result<Self, ImageError> {
        let (bytes, value): (_, Value) = json::read_parsed(&files.manifest, "base manifest")?;
        if value.get("manifests").is_some() {
            return Err(ImageError::BadDocument {
                what: "base manifest",
                path: files.manifest.as_str().into(),
                reason: "it is an image index; the base must be the manifest of one platform".to_owned(),
            });
        }
        let manifest: ImageManifest = json::parse(&bytes, &files.manifest, "base manifest")?;
        let (_, config): (_, ImageConfiguration) = json::read_parsed(&files.config, "base config")?;
        let (_, descriptor): (_, Descriptor) = json::read_parsed(&files.descriptor, "base descriptor")?;
        let actual = Sha256Digest::of(&bytes).to_string();
        if descriptor.digest().to_string() != actual {
            return Err(ImageError::BaseDigest {
                manifest: files.manifest.as_str().into(),
                descriptor: files.descriptor.as_str().into(),
                expected: descriptor.digest().to_string(),
                actual,
            });
        }
        let (layers, diff_ids) = (manifest.layers().len(), config.rootfs().diff_ids().len());
        if layers != diff_ids {
            return Err(ImageError::BaseLayerCount {
                manifest: files.manifest.as_str().into(),
                config: files.config.as_str().into(),
                layers,
                diff_ids,
            });
        }
        Ok(Self { files, manifest, config, descriptor })
    }
}

/// The config blob and what it is.
struct ConfigBlob {
    bytes: Vec<u8>,
    media_type: MediaType,
    /// The image config, when the blob is one we built (its platform describes the image).
    image: Option<ImageConfiguration>,
}

/// Runs `img manifest`.
pub fn build(request: &ManifestRequest, outputs: &ManifestOutputs) -> Result<(), ImageError> {
    let paths = [&outputs.manifest, &outputs.config, &outputs.descriptor, &outputs.digest];
    crate::atomic::clean_on_error(&paths.map(std::path::Path::new), build_manifest(request, outputs))
}

fn build_manifest(request: &ManifestRequest, outputs: &ManifestOutputs) -> Result<(), ImageError> {
    let base = request.base.as_ref().map(Base::read).transpose()?;
    let layers: Vec<LayerInput> = request.layers.iter().map(|path| LayerInput::read(path)).collect::<Result<_, _>>()?;
    let config = config_blob(request, base.as_ref(), &layers)?;

    let mut config_descriptor = json::descriptor_of(config.media_type.clone(), &config.bytes);
    if config.media_type == MediaType::EmptyJSON && config.bytes == media_types::EMPTY_JSON {
        config_descriptor.set_data(Some(media_types::EMPTY_JSON_DATA.to_owned()));
    }
    if config.media_type == MediaType::EmptyJSON && request.artifact_type.is_none() {
        return Err(ImageError::EmptyConfigNeedsArtifactType { media_type: media_types::EMPTY });
    }

    let base_layers = base.iter().flat_map(|b| b.manifest.layers().iter().cloned().map(normalize_layer));
    let all_layers: Vec<Descriptor> = base_layers.chain(layers.iter().map(LayerInput::descriptor)).collect();
    let annotations = annotations(request, base.as_ref())?;
    let subject = match &request.subject {
        Some(path) => Some(json::read_parsed::<Descriptor>(path, "subject descriptor")?.1),
        None => None,
    };

    let mut builder = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config_descriptor)
        .layers(all_layers);
    if let Some(artifact_type) = &request.artifact_type {
        builder = builder.artifact_type(MediaType::from(artifact_type.as_str()));
    }
    if let Some(subject) = subject {
        builder = builder.subject(subject);
    }
    if !annotations.is_empty() {
        builder = builder.annotations(hash_map(&annotations));
    }
    let manifest = builder.build().expect("every required manifest field is set");
    let manifest_bytes = json::to_bytes(&manifest);

    let mut descriptor = json::descriptor_of(MediaType::ImageManifest, &manifest_bytes);
    if !annotations.is_empty() {
        descriptor.set_annotations(Some(hash_map(&annotations)));
    }
    descriptor.set_artifact_type(request.artifact_type.as_deref().map(MediaType::from));
    descriptor.set_platform(platform(request, &config));

    write_outputs(&[
        (&outputs.manifest, &manifest_bytes),
        (&outputs.config, &config.bytes),
        (&outputs.descriptor, &json::to_bytes(&descriptor)),
        (&outputs.digest, descriptor.digest().to_string().as_bytes()),
    ])
}

fn config_blob(
    request: &ManifestRequest,
    base: Option<&Base>,
    layers: &[LayerInput],
) -> Result<ConfigBlob, ImageError> {
    let fragment = match &request.config_fragment {
        Some(path) => Some((path, json::read(path, "config fragment")?)),
        None => None,
    };
    match (request.config_media_type.as_deref(), fragment) {
        (None | Some(media_types::OCI_CONFIG), fragment) => {
            let fragment = fragment.map(|(path, bytes)| Fragment::parse(&bytes, path)).transpose()?;
            let settings = settings(request)?;
            let base = base.map(|b| BaseConfig { config: &b.config, path: &b.files.config });
            let image = config::build(base, fragment.as_ref(), &settings, layers)?;
            Ok(ConfigBlob { bytes: json::to_bytes(&image), media_type: MediaType::ImageConfig, image: Some(image) })
        }
        (Some(media_types::EMPTY), None) => {
            Ok(ConfigBlob { bytes: media_types::EMPTY_JSON.to_vec(), media_type: MediaType::EmptyJSON, image: None })
        }
        // Any other config type is the user's own document: its bytes are used as they are.
        (Some(media_type), Some((_, bytes))) => {
            Ok(ConfigBlob { bytes, media_type: MediaType::from(media_type), image: None })
        }
        (Some(media_type), None) => Err(ImageError::ConfigNeedsFragment { media_type: media_type.to_owned() }),
    }
}

/// The request's runtime settings with its files read.
fn settings(request: &ManifestRequest) -> Result<Settings<'_>, ImageError> {
    let mut env = match &request.env_file {
        Some(path) => kv::read(path, "env file")?,
        None => BTreeMap::new(),
    };
    env.extend(request.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut labels = kv::read_all(&request.label_files, "label file")?;
    labels.extend(request.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let created = match (&request.created, &request.created_timestamp) {
        (Some(path), _) => {
            let bytes = json::read(path, "created file")?;
            Some(config::check_time(&String::from_utf8_lossy(&bytes), &format!("file {path}"))?)
        }
        (None, Some(timestamp)) => Some(config::check_time(timestamp, "created_timestamp")?),
        (None, None) => None,
    };
    Ok(Settings {
        os: &request.os,
        architecture: &request.architecture,
        variant: &request.variant,
        entrypoint: &request.entrypoint,
        cmd: &request.cmd,
        user: &request.user,
        working_dir: &request.working_dir,
        stop_signal: &request.stop_signal,
        env,
        labels,
        created,
    })
}

/// `annotations_file`, then `annotations`, then the base's name and digest unless set.
fn annotations(request: &ManifestRequest, base: Option<&Base>) -> Result<BTreeMap<String, String>, ImageError> {
    let mut annotations = match &request.annotations_file {
        Some(path) => kv::read(path, "annotations file")?,
        None => BTreeMap::new(),
    };
    annotations.extend(request.annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
    if let Some(base) = base {
        if let Some(name) = &base.files.name {
            annotations.entry(BASE_NAME.to_owned()).or_insert_with(|| name.clone());
        }
        annotations.entry(BASE_DIGEST.to_owned()).or_insert_with(|| base.descriptor.digest().to_string());
    }
    Ok(annotations)
}

/// The descriptor's platform: only image configs (ours, or a Docker config) describe one.
fn platform(request: &ManifestRequest, config: &ConfigBlob) -> Option<Platform> {
    let mut platform = Platform::default();
    match (&config.image, &config.media_type) {
        (Some(image), _) => {
            platform.set_os(image.os().clone());
            platform.set_architecture(image.architecture().clone());
            platform.set_variant(image.variant().clone());
        }
        (None, MediaType::Other(media_type)) if media_type == media_types::DOCKER_CONFIG => {
            platform.set_os(Os::from(request.os.as_str()));
            platform.set_architecture(Arch::from(request.architecture.as_str()));
            platform.set_variant((!request.variant.is_empty()).then(|| request.variant.clone()));
        }
        _ => return None,
    }
    Some(platform)
}

/// Docker layer media types become their OCI equivalents; the empty layer carries its data inline.
fn normalize_layer(mut descriptor: Descriptor) -> Descriptor {
    let media_type = match descriptor.media_type() {
        MediaType::Other(docker) if docker == media_types::DOCKER_LAYER_GZIP => MediaType::ImageLayerGzip,
        MediaType::Other(docker) if docker == media_types::DOCKER_LAYER => MediaType::ImageLayer,
        other => other.clone(),
    };
    if media_type == MediaType::EmptyJSON && descriptor.digest().to_string() == media_types::EMPTY_DIGEST {
        descriptor.set_data(Some(media_types::EMPTY_JSON_DATA.to_owned()));
    }
    descriptor.set_media_type(media_type);
    descriptor
}

fn hash_map(map: &BTreeMap<String, String>) -> HashMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}
