//! Helpers for the OCI layout import tests: layouts made by the real `img` actions (and by hand,
//! for what `img` never writes), and running `img manifest-from-oci-layout` /
//! `index-from-oci-layout` on them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::image_support::*;

pub const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// An image built by `img layer` + `img manifest`, and its layers.
pub struct Image {
    pub run: Run,
    pub layers: Vec<Layer>,
}

impl Image {
    pub fn layer_refs(&self) -> Vec<&Layer> {
        self.layers.iter().collect()
    }

    pub fn digest(&self) -> String {
        self.run.text("digest")
    }
}

/// A two-layer (gzip, zstd) image for `architecture[/variant]`, with an entrypoint and env so that
/// its config has more than layers.
pub fn two_layer_image(ws: &Workspace, name: &str, architecture: &str, variant: &str) -> Image {
    let etc =
        ws.image_layer(&format!("{name}-etc"), &[("etc/motd", format!("hello {name}\n").as_bytes(), false)], "gzip");
    let app = ws.image_layer(&format!("{name}-app"), &[("app/run", b"#!/bin/sh\necho run\n", true)], "zstd");
    let run = ws.manifest(
        name,
        json!({
            "architecture": architecture,
            "variant": variant,
            "layers": [etc.metadata, app.metadata],
            "entrypoint": ["/app/run"],
            "env": {"PATH": "/app"},
        }),
    );
    run.assert_ok();
    Image { run, layers: vec![etc, app] }
}

/// `img oci-layout` of one image, as a directory tagged `ref_name`.
pub fn manifest_layout(ws: &Workspace, name: &str, image: &Image, ref_name: &str) -> PathBuf {
    let run = ws.layout_of_manifest(name, &image.run, &image.layer_refs(), "directory", Some(ref_name));
    run.assert_ok().path("layout").to_owned()
}

/// `img index` over images, then `img oci-layout` of the index as a directory tagged `ref_name`.
pub fn index_layout(ws: &Workspace, name: &str, images: &[&Image], ref_name: &str) -> (Run, PathBuf) {
    let runs: Vec<&Run> = images.iter().map(|image| &image.run).collect();
    let index = ws.index(name, &runs, json!({}));
    let request = json!({
        "root": index.assert_ok().path("index"),
        "root_kind": "index",
        "manifests": images.iter().map(|image| image.run.image_files(&image.layer_refs())).collect::<Vec<_>>(),
        "format": "directory",
        "ref_name": ref_name,
    });
    let run = ws.run("oci-layout", name, &request, &["layout"]);
    let dir = run.assert_ok().path("layout").to_owned();
    (index, dir)
}

/// The output names of an import of `layers` layers.
pub fn import_outputs(layers: usize) -> Vec<String> {
    let mut names: Vec<String> = ["manifest", "config", "descriptor", "digest"].map(String::from).to_vec();
    names.extend((0..layers).map(|i| format!("layer_blob.{i}")));
    names.extend((0..layers).map(|i| format!("layer_metadata.{i}")));
    names
}

/// `img manifest-from-oci-layout` for `os/architecture[/variant]` with `layer_media_types`.
pub fn import(ws: &Workspace, name: &str, src: &Path, platform: &str, layer_media_types: &[&str]) -> Run {
    let parts: Vec<&str> = platform.split('/').collect();
    let request = json!({
        "src": src,
        "os": parts[0],
        "architecture": parts[1],
        "variant": parts.get(2).copied().unwrap_or(""),
        "layer_media_types": layer_media_types,
    });
    let names = import_outputs(layer_media_types.len());
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    ws.run("manifest-from-oci-layout", name, &request, &names)
}

/// `img index-from-oci-layout`.
pub fn import_index(ws: &Workspace, name: &str, src: &Path) -> Run {
    ws.run("index-from-oci-layout", name, &json!({"src": src}), &["index", "descriptor", "digest"])
}

/// The imported image as the `ImageFiles` of an `img oci-layout` request: its manifest, config and
/// the copied blobs with their imported metadata.
pub fn imported_files(run: &Run, layers: usize) -> Value {
    json!({
        "manifest": run.assert_ok().path("manifest"),
        "config": run.path("config"),
        "layers": (0..layers).map(|i| json!({
            "metadata": run.path(&format!("layer_metadata.{i}")),
            "blob": run.path(&format!("layer_blob.{i}")),
        })).collect::<Vec<_>>(),
    })
}

/// `img oci-layout` of an imported single-platform image.
pub fn layout_of_imported(ws: &Workspace, name: &str, run: &Run, layers: usize, ref_name: &str) -> PathBuf {
    let request = json!({
        "root": run.assert_ok().path("manifest"),
        "root_kind": "manifest",
        "manifests": [imported_files(run, layers)],
        "format": "directory",
        "ref_name": ref_name,
    });
    ws.run("oci-layout", name, &request, &["layout"]).assert_ok().path("layout").to_owned()
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The path of a blob in a layout.
pub fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs/sha256").join(digest.strip_prefix("sha256:").unwrap())
}

/// A copy of a layout directory (to damage or rewrite it without touching the original).
pub fn copy_layout(from: &Path, to: &Path) -> PathBuf {
    sh(&format!("cp -r '{}' '{}'", from.display(), to.display()));
    to.to_owned()
}

/// A layout written file by file, for shapes `img` never writes (Docker media types, a bare
/// `index.json` listing the images).
pub struct HandLayout {
    pub dir: PathBuf,
}

impl HandLayout {
    pub fn new(dir: PathBuf) -> Self {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Self { dir }
    }

    /// Stores `bytes` as a blob; returns its descriptor.
    pub fn blob(&self, media_type: &str, bytes: &[u8]) -> Value {
        let path = self.dir.join("blob.tmp");
        std::fs::write(&path, bytes).unwrap();
        let digest = sha256_of_file(&path);
        std::fs::rename(&path, blob_path(&self.dir, &digest)).unwrap();
        json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
    }

    /// Stores a JSON document (compact) as a blob; returns its descriptor.
    pub fn document(&self, media_type: &str, document: &Value) -> Value {
        self.blob(media_type, &serde_json::to_vec(document).unwrap())
    }

    /// Writes `index.json` listing `manifests`.
    pub fn index_json(&self, manifests: Vec<Value>) {
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        std::fs::write(self.dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    }
}

/// Replaces `index.json` of `layout` with one listing `manifests`.
pub fn rewrite_index_json(layout: &Path, manifests: Vec<Value>) {
    HandLayout { dir: layout.to_owned() }.index_json(manifests);
}
