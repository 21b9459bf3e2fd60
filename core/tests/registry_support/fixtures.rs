//! Test images written by hand (real gzip'd tar layers, configs with matching diff_ids,
//! manifests, indexes), as `img push` requests and as OCI layouts for skopeo.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

pub const GZIP_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Deterministic pseudo-random bytes (xorshift), incompressible like real binaries.
pub fn noise(seed: u64, size: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(size);
    out
}

/// A gzip'd tar layer with one file.
#[derive(Clone)]
pub struct Layer {
    pub blob: Vec<u8>,
    pub digest: String,
    pub diff_id: String,
}

impl Layer {
    pub fn new(seed: u64, size: usize) -> Self {
        let mut tar = tar::Builder::new(Vec::new());
        let data = noise(seed, size);
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, format!("file-{seed}"), &data[..]).unwrap();
        let tar = tar.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let blob = gz.finish().unwrap();
        Self { digest: sha256(&blob), diff_id: sha256(&tar), blob }
    }

    pub fn size(&self) -> usize {
        self.blob.len()
    }

    pub fn metadata(&self) -> Value {
        json!({"diff_id": self.diff_id, "mediaType": GZIP_LAYER, "digest": self.digest, "size": self.blob.len(),
               "history": [{"created_by": format!("test layer {}", &self.digest[7..19])}]})
    }
}

/// A single-platform image.
#[derive(Clone)]
pub struct Image {
    pub layers: Vec<Layer>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
    pub architecture: String,
}

impl Image {
    pub fn new(layers: Vec<Layer>, architecture: &str) -> Self {
        Self::with_types(layers, architecture, [OCI_MANIFEST, OCI_CONFIG, GZIP_LAYER])
    }

    /// The same image with Docker's media types.
    pub fn docker(layers: Vec<Layer>, architecture: &str) -> Self {
        Self::with_types(layers, architecture, [DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER])
    }

    fn with_types(layers: Vec<Layer>, architecture: &str, [manifest_type, config_type, layer_type]: [&str; 3]) -> Self {
        let history: Vec<Value> = std::iter::once(json!({"created_by": "ENV A=1", "empty_layer": true}))
            .chain(layers.iter().map(|l| json!({"created_by": format!("layer {}", &l.digest[7..19])})))
            .collect();
        let config = serde_json::to_vec(&json!({
            "architecture": architecture, "os": "linux",
            "config": {"Env": ["A=1"]},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
            "history": history,
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": manifest_type,
            "config": {"mediaType": config_type, "digest": sha256(&config), "size": config.len()},
            "layers": layers.iter().map(|l| json!({"mediaType": layer_type, "digest": l.digest, "size": l.blob.len()})).collect::<Vec<_>>(),
        }))
        .unwrap();
        Self { layers, config, manifest, architecture: architecture.to_owned() }
    }

    pub fn digest(&self) -> String {
        sha256(&self.manifest)
    }

    pub fn media_type(&self) -> String {
        serde_json::from_slice::<Value>(&self.manifest).unwrap()["mediaType"].as_str().unwrap().to_owned()
    }

    pub fn descriptor(&self) -> Value {
        json!({"mediaType": self.media_type(), "digest": self.digest(), "size": self.manifest.len(),
               "platform": {"architecture": self.architecture, "os": "linux"}})
    }
}

/// An image or an index of images.
#[derive(Clone)]
pub enum Root {
    Manifest(Image),
    Index(Vec<Image>, Vec<u8>),
}

impl Root {
    pub fn index(images: Vec<Image>) -> Self {
        Self::index_of_type(images, OCI_INDEX)
    }

    /// An index of an amd64 and an arm64 image that share their first layer (`seed`, `sizes[0]`
    /// bytes) and have one of their own each (`seed + 1` and `seed + 2`, `sizes[1]` and `sizes[2]`).
    pub fn two_platforms(seed: u64, sizes: [usize; 3]) -> Self {
        let shared = Layer::new(seed, sizes[0]);
        let amd64 = Image::new(vec![shared.clone(), Layer::new(seed + 1, sizes[1])], "amd64");
        let arm64 = Image::new(vec![shared, Layer::new(seed + 2, sizes[2])], "arm64");
        Self::index(vec![amd64, arm64])
    }

    /// An index with another media type (Docker's manifest list).
    pub fn index_of_type(images: Vec<Image>, media_type: &str) -> Self {
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": media_type,
            "manifests": images.iter().map(Image::descriptor).collect::<Vec<_>>(),
        }))
        .unwrap();
        Root::Index(images, index)
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            Root::Manifest(image) => &image.manifest,
            Root::Index(_, index) => index,
        }
    }

    pub fn digest(&self) -> String {
        sha256(self.bytes())
    }

    pub fn images(&self) -> Vec<&Image> {
        match self {
            Root::Manifest(image) => vec![image],
            Root::Index(images, _) => images.iter().collect(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Root::Manifest(_) => "manifest",
            Root::Index(..) => "index",
        }
    }

    /// Every blob (configs and layers) with its digest.
    pub fn blobs(&self) -> Vec<(String, Vec<u8>)> {
        let mut blobs = Vec::new();
        for image in self.images() {
            blobs.push((sha256(&image.config), image.config.clone()));
            for layer in &image.layers {
                blobs.push((layer.digest.clone(), layer.blob.clone()));
            }
        }
        blobs.sort();
        blobs.dedup();
        blobs
    }
}

/// How a layer appears in a push request.
#[derive(Clone)]
pub enum LayerBlob {
    Local,
    /// No local file; fetch from these `(registry, repository)` sources.
    Remote(Vec<(String, String)>),
}

/// Writes `root` as a push request under `dir`; `blob_of(manifest, layer)` says which layers
/// have a local file. Returns the request path.
pub fn write_push_request(
    dir: &Path,
    root: &Root,
    registry: &str,
    repository: &str,
    tags: &[&str],
    blob_of: impl Fn(usize, usize) -> LayerBlob,
) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("root.json"), root.bytes()).unwrap();
    let mut manifests = Vec::new();
    for (i, image) in root.images().into_iter().enumerate() {
        let sub = dir.join(format!("m{i}"));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("manifest.json"), &image.manifest).unwrap();
        std::fs::write(sub.join("config.json"), &image.config).unwrap();
        let mut layers = Vec::new();
        for (j, layer) in image.layers.iter().enumerate() {
            std::fs::write(sub.join(format!("layer{j}.json")), serde_json::to_vec(&layer.metadata()).unwrap()).unwrap();
            let (blob, sources) = match blob_of(i, j) {
                LayerBlob::Local => {
                    std::fs::write(sub.join(format!("layer{j}.tar.gz")), &layer.blob).unwrap();
                    (json!(format!("m{i}/layer{j}.tar.gz")), json!([]))
                }
                LayerBlob::Remote(sources) => (
                    Value::Null,
                    sources.iter().map(|(r, p)| json!({"registry": r, "repository": p})).collect::<Value>(),
                ),
            };
            layers.push(json!({"metadata": format!("m{i}/layer{j}.json"), "blob": blob, "sources": sources}));
        }
        manifests.push(
            json!({"manifest": format!("m{i}/manifest.json"), "config": format!("m{i}/config.json"), "layers": layers}),
        );
    }
    let request = json!({
        "registry": registry, "repository": repository, "tags": tags,
        "root": "root.json", "root_kind": root.kind(), "manifests": manifests, "insecure": false,
    });
    let path = dir.join("push.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&request).unwrap()).unwrap();
    path
}

/// Writes `root` as an OCI image layout (for `skopeo copy oci:<dir>:<tag>`).
pub fn write_oci_layout(dir: &Path, root: &Root, tag: &str) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| std::fs::write(blobs.join(&sha256(bytes)[7..]), bytes).unwrap();
    put(root.bytes());
    for image in root.images() {
        put(&image.manifest);
        put(&image.config);
        for layer in &image.layers {
            put(&layer.blob);
        }
    }
    let media_type = serde_json::from_slice::<Value>(root.bytes()).unwrap()["mediaType"].as_str().unwrap().to_owned();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = json!({"schemaVersion": 2, "manifests": [{"mediaType": media_type, "digest": root.digest(),
        "size": root.bytes().len(), "annotations": {"org.opencontainers.image.ref.name": tag}}]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}
