//! `img manifest-from-oci-layout`: the image of one platform from an OCI layout — its manifest and
//! config as they are, its descriptor and digest, and each layer's blob with its metadata.

use std::path::Path;
use std::str::FromStr;

use img_contract::image::{ManifestFromOciLayoutOutputs, ManifestFromOciLayoutRequest};
use img_contract::layer::{LayerHistory, LayerMetadata};
use oci_spec::image::{Arch, Descriptor, Digest, ImageIndex, ImageManifest, Os, Platform};
use serde::Deserialize;

use super::platform::{self, NoSelection, PlatformSpec};
use super::source::SourceLayout;
use super::{is_index, is_manifest, layer_type_as_oci, ConvertError};
use crate::atomic::{self, PendingOutput};
use crate::oci::{json, ImageError};

/// What the import needs of an image config. Read leniently: Docker configs carry more fields
/// than OCI's, and the config is copied byte for byte anyway.
#[derive(Deserialize)]
struct ConfigView {
    os: Option<String>,
    architecture: Option<String>,
    variant: Option<String>,
    rootfs: Option<RootFs>,
    history: Option<Vec<HistoryEntry>>,
}

#[derive(Deserialize)]
struct RootFs {
    diff_ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct HistoryEntry {
    created: Option<String>,
    created_by: Option<String>,
    author: Option<String>,
    comment: Option<String>,
    empty_layer: Option<bool>,
}

impl HistoryEntry {
    fn is_empty_layer(&self) -> bool {
        self.empty_layer.unwrap_or(false)
    }

    fn to_layer_history(&self) -> LayerHistory {
        LayerHistory {
            created: self.created.clone(),
            created_by: self.created_by.clone(),
            author: self.author.clone(),
            comment: self.comment.clone(),
            empty_layer: self.empty_layer,
        }
    }
}

impl ConfigView {
    fn platform(&self) -> PlatformSpec {
        PlatformSpec::new(
            self.os.as_deref().unwrap_or(""),
            self.architecture.as_deref().unwrap_or(""),
            self.variant.as_deref(),
        )
    }
}

/// An image manifest of the layout with its config, both read and verified.
struct Image {
    descriptor: Descriptor,
    manifest_bytes: Vec<u8>,
    manifest: ImageManifest,
    /// The config's path, for messages.
    config_path: String,
    config_bytes: Vec<u8>,
    config: ConfigView,
}

impl Image {
    fn read(layout: &SourceLayout, descriptor: &Descriptor) -> Result<Self, ConvertError> {
        let manifest_bytes = layout.read_document(descriptor, "image manifest")?;
        let manifest: ImageManifest = layout.parse(descriptor, &manifest_bytes, "image manifest")?;
        let config_descriptor = manifest.config();
        let config_bytes = layout.read_document(config_descriptor, "image config")?;
        let config = layout.parse(config_descriptor, &config_bytes, "image config")?;
        let config_path = layout.path_of(&layout.blob_file(config_descriptor)?);
        Ok(Self { descriptor: descriptor.clone(), manifest_bytes, manifest, config_path, config_bytes, config })
    }

    fn digest(&self) -> String {
        self.descriptor.digest().to_string()
    }
}

/// Runs `img manifest-from-oci-layout`.
pub fn build(
    request: &ManifestFromOciLayoutRequest,
    outputs: &ManifestFromOciLayoutOutputs,
) -> Result<(), ConvertError> {
    let fixed = [&outputs.manifest, &outputs.config, &outputs.descriptor, &outputs.digest];
    let layers = outputs.layer_blob.iter().chain(&outputs.layer_metadata);
    let paths: Vec<&Path> = fixed.into_iter().chain(layers).map(Path::new).collect();
    atomic::clean_on_error(&paths, import(request, outputs))
}

fn import(request: &ManifestFromOciLayoutRequest, outputs: &ManifestFromOciLayoutOutputs) -> Result<(), ConvertError> {
    let layers = request.layer_media_types.len();
    for (name, given) in [("layer_blob", outputs.layer_blob.len()), ("layer_metadata", outputs.layer_metadata.len())] {
        if given != layers {
            return Err(ConvertError::OutputCount { name, given, layers });
        }
    }
    let layout = SourceLayout::open(Path::new(&request.src))?;
    let wanted = PlatformSpec::new(&request.os, &request.architecture, Some(&request.variant));
    let image = Image::read(&layout, &choose(&layout, &wanted)?)?;
    let found = check_platform(&layout, &image, &wanted)?;
    check_layer_types(&layout, &image, &request.layer_media_types)?;
    let diff_ids = diff_ids(&layout, &image)?;
    let histories = split_history(image.config.history.as_deref().unwrap_or_default(), layers);

    let mut pending = Vec::with_capacity(2 * layers + 4);
    let layer_outputs = outputs.layer_blob.iter().zip(&outputs.layer_metadata);
    for (((layer, (blob_path, metadata_path)), diff_id), history) in
        image.manifest.layers().iter().zip(layer_outputs).zip(diff_ids).zip(histories)
    {
        let blob = PendingOutput::create(Path::new(blob_path))?;
        layout.copy_blob(layer, "layer", &blob)?;
        pending.push(blob);
        let metadata = LayerMetadata {
            diff_id: Some(diff_id),
            media_type: layer.media_type().to_string(),
            digest: layer.digest().to_string(),
            size: layer.size(),
            annotations: layer.annotations().iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect(),
            history,
        };
        // Written like `img layer` writes its metadata: two-space indent and a final newline.
        let mut document = serde_json::to_vec_pretty(&metadata).expect("layer metadata serializes");
        document.push(b'\n');
        pending.push(small_output(metadata_path, &document)?);
    }

    let mut descriptor = Descriptor::new(
        image.descriptor.media_type().clone(),
        image.descriptor.size(),
        image.descriptor.digest().clone(),
    );
    descriptor.set_platform(Some(descriptor_platform(&found, &wanted)));
    let digest = image.digest();
    pending.push(small_output(&outputs.manifest, &image.manifest_bytes)?);
    pending.push(small_output(&outputs.config, &image.config_bytes)?);
    pending.push(small_output(&outputs.descriptor, &json::to_bytes(&descriptor))?);
    pending.push(small_output(&outputs.digest, digest.as_bytes())?);
    Ok(atomic::commit_all(pending)?)
}

fn small_output(path: &str, bytes: &[u8]) -> Result<PendingOutput, ConvertError> {
    let mut output = PendingOutput::create(Path::new(path))?;
    output.write_all(bytes)?;
    Ok(output)
}

/// The manifest of the wanted platform among every image manifest `index.json` lists, directly
/// or through an index (as `skopeo copy --all` and rules_oci's oci_image_index write them).
fn choose(layout: &SourceLayout, wanted: &PlatformSpec) -> Result<Descriptor, ConvertError> {
    let mut manifests: Vec<Descriptor> = Vec::new();
    for entry in layout.index.manifests() {
        if is_manifest(entry.media_type()) {
            manifests.push(entry.clone());
        } else if is_index(entry.media_type()) {
            let bytes = layout.read_document(entry, "image index")?;
            let index: ImageIndex = layout.parse(entry, &bytes, "image index")?;
            manifests.extend(index.manifests().iter().filter(|child| is_manifest(child.media_type())).cloned());
        }
    }
    // The same image may be listed twice (e.g. under two tags).
    let mut seen = std::collections::BTreeSet::new();
    manifests.retain(|descriptor| seen.insert(descriptor.digest().to_string()));
    if manifests.is_empty() {
        return Err(ConvertError::NoImage { layout: layout.dir().to_owned() });
    }
    let platforms: Vec<PlatformSpec> =
        manifests.iter().map(|descriptor| platform_of(layout, descriptor)).collect::<Result<_, _>>()?;
    let describe = |indexes: &[usize]| {
        indexes.iter().map(|&i| format!("{} ({})", platforms[i], manifests[i].digest())).collect::<Vec<_>>().join(", ")
    };
    match platform::select(&platforms, wanted) {
        Ok(chosen) => Ok(manifests.swap_remove(chosen)),
        Err(NoSelection::None) => Err(ConvertError::NoMatchingPlatform {
            layout: layout.dir().to_owned(),
            wanted: wanted.to_string(),
            available: describe(&(0..platforms.len()).collect::<Vec<_>>()),
        }),
        Err(NoSelection::Ambiguous(matches)) => Err(ConvertError::AmbiguousPlatform {
            layout: layout.dir().to_owned(),
            wanted: wanted.to_string(),
            matches: describe(&matches),
        }),
    }
}

/// The platform an index entry states, or else the one its config states.
fn platform_of(layout: &SourceLayout, descriptor: &Descriptor) -> Result<PlatformSpec, ConvertError> {
    match descriptor.platform() {
        Some(platform) => Ok(PlatformSpec::new(
            &platform.os().to_string(),
            &platform.architecture().to_string(),
            platform.variant().as_deref(),
        )),
        None => Ok(Image::read(layout, descriptor)?.config.platform()),
    }
}

/// The config must be for the wanted os and architecture (and variant, when both name one).
fn check_platform(layout: &SourceLayout, image: &Image, wanted: &PlatformSpec) -> Result<PlatformSpec, ConvertError> {
    let found = image.config.platform();
    let variants_clash = !wanted.variant.is_empty() && !found.variant.is_empty() && !found.same_variant(wanted);
    if found.os != wanted.os || found.architecture != wanted.architecture || variants_clash {
        return Err(ConvertError::PlatformMismatch {
            layout: layout.dir().to_owned(),
            digest: image.digest(),
            config: image.config_path.clone(),
            found: found.to_string(),
            wanted: wanted.to_string(),
        });
    }
    Ok(found)
}

/// The config's os and architecture, and its variant or else the requested one.
fn descriptor_platform(found: &PlatformSpec, wanted: &PlatformSpec) -> Platform {
    let mut platform = Platform::default();
    platform.set_os(Os::from(found.os.as_str()));
    platform.set_architecture(Arch::from(found.architecture.as_str()));
    let variant = if found.variant.is_empty() { &wanted.variant } else { &found.variant };
    platform.set_variant((!variant.is_empty()).then(|| variant.clone()));
    platform
}

/// The manifest must have exactly the layer media types the rule declared outputs for.
fn check_layer_types(layout: &SourceLayout, image: &Image, says: &[String]) -> Result<(), ConvertError> {
    let has: Vec<String> = image.manifest.layers().iter().map(|layer| layer.media_type().to_string()).collect();
    let agree = has.len() == says.len()
        && has.iter().zip(says).all(|(has, says)| layer_type_as_oci(has) == layer_type_as_oci(says));
    if agree {
        return Ok(());
    }
    Err(ConvertError::LayerTypes {
        layout: layout.dir().to_owned(),
        digest: image.digest(),
        has: has.join(", "),
        says: says.join(", "),
    })
}

/// `rootfs.diff_ids`, one per layer, each a valid digest.
fn diff_ids(layout: &SourceLayout, image: &Image) -> Result<Vec<String>, ConvertError> {
    let diff_ids = image.config.rootfs.as_ref().and_then(|rootfs| rootfs.diff_ids.clone()).unwrap_or_default();
    let layers = image.manifest.layers().len();
    if diff_ids.len() != layers {
        return Err(ConvertError::DiffIdCount {
            layout: layout.dir().to_owned(),
            digest: image.digest(),
            config: image.config_path.clone(),
            layers,
            diff_ids: diff_ids.len(),
        });
    }
    for diff_id in &diff_ids {
        Digest::from_str(diff_id).map_err(|err| ImageError::BadDocument {
            what: "image config",
            path: image.config_path.as_str().into(),
            reason: format!("rootfs.diff_ids holds {diff_id:?}, which is not a digest ({err})"),
        })?;
    }
    Ok(diff_ids)
}

/// Shares the config's history among the layers: each layer gets the empty-layer entries before it
/// and its own entry; entries after the last layer go to the last layer. The layers' histories in
/// order are then the config's history again, which is what `img manifest` rebuilds from layer
/// metadata. A history that does not have one entry per layer cannot be shared out truthfully, so
/// then no layer gets any.
fn split_history(history: &[HistoryEntry], layers: usize) -> Vec<Vec<LayerHistory>> {
    let mut split = vec![Vec::new(); layers];
    let non_empty = history.iter().filter(|entry| !entry.is_empty_layer()).count();
    if layers == 0 || non_empty != layers {
        return split;
    }
    let mut layer = 0;
    for entry in history {
        split[layer.min(layers - 1)].push(entry.to_layer_history());
        if !entry.is_empty_layer() {
            layer += 1;
        }
    }
    split
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(created_by: &str, empty_layer: bool) -> HistoryEntry {
        HistoryEntry {
            created: None,
            created_by: Some(created_by.to_owned()),
            author: None,
            comment: None,
            empty_layer: empty_layer.then_some(true),
        }
    }

    fn names(split: &[Vec<LayerHistory>]) -> Vec<Vec<&str>> {
        split.iter().map(|h| h.iter().map(|e| e.created_by.as_deref().unwrap()).collect()).collect()
    }

    #[test]
    fn history_is_shared_out_with_empty_entries_before_their_layer() {
        let history =
            [entry("ENV", true), entry("ADD a", false), entry("CMD", true), entry("ADD b", false), entry("USER", true)];
        assert_eq!(names(&split_history(&history, 2)), vec![vec!["ENV", "ADD a"], vec!["CMD", "ADD b", "USER"]]);
    }

    #[test]
    fn history_that_does_not_pair_up_with_the_layers_is_dropped() {
        let history = [entry("ADD a", false)];
        assert_eq!(names(&split_history(&history, 2)), vec![Vec::<&str>::new(), vec![]]);
        assert!(split_history(&history, 0).is_empty());
    }
}
