//! The image actions' outputs checked by the real OCI tools: skopeo, umoci 0.6, crane and
//! oci-image-tool (installed by scripts/install-test-deps.sh).

mod image_support;
mod support;

use std::path::{Path, PathBuf};

use image_support::*;
use serde_json::{json, Value};

/// umoci 0.6 (reads zstd layers); bookworm's /usr/bin/umoci is 0.4.7.
const UMOCI6: &str = "/var/cache/rules_img/umoci6/usr/bin/umoci";

fn app_image(ws: &Workspace, compress: &str) -> (Run, Vec<Layer>) {
    let one = ws.image_layer(&format!("etc-{compress}"), &[("etc/motd", b"hello from rules_img\n", false)], compress);
    let two = ws.image_layer(&format!("app-{compress}"), &[("app/run", b"#!/bin/sh\necho run\n", true)], compress);
    let request = json!({
        "layers": [one.metadata, two.metadata],
        "entrypoint": ["/app/run"],
        "env": {"PATH": "/app"},
        "labels": {"org.example": "yes"},
        "annotations": {"org.opencontainers.image.title": "app"},
    });
    let run = ws.manifest(&format!("app-{compress}"), request);
    run.assert_ok();
    (run, vec![one, two])
}

fn layout_dir(ws: &Workspace, name: &str, image: &Run, layers: &[Layer], ref_name: &str) -> PathBuf {
    let layers: Vec<&Layer> = layers.iter().collect();
    let run = ws.layout_of_manifest(name, image, &layers, "directory", Some(ref_name));
    run.assert_ok().path("layout").to_owned()
}

fn skopeo_inspect(args: &str) -> Value {
    serde_json::from_str(&sh(&format!("skopeo inspect {args}"))).unwrap()
}

#[test]
#[ignore = "needs skopeo (scripts/install-test-deps.sh)"]
fn skopeo_inspects_the_layout_and_copies_it_preserving_the_digest() {
    require("skopeo");
    let ws = Workspace::new();
    let (image, layers) = app_image(&ws, "gzip");
    let dir = layout_dir(&ws, "layout", &image, &layers, "v1");
    let inspected = skopeo_inspect(&format!("oci:{}:v1", dir.display()));
    assert_eq!(inspected["Digest"], image.text("digest"));
    assert_eq!(inspected["Architecture"], "amd64");
    assert_eq!(inspected["Labels"], json!({"org.example": "yes"}));
    let layer_digests: Vec<Value> = layers.iter().map(|l| l.metadata_json()["digest"].clone()).collect();
    assert_eq!(inspected["Layers"], json!(layer_digests));

    let copy = ws.path("copy");
    sh(&format!("skopeo copy --preserve-digests oci:{}:v1 oci:{}:v1", dir.display(), copy.display()));
    let copied = skopeo_inspect(&format!("oci:{}:v1", copy.display()));
    assert_eq!(copied["Digest"], image.text("digest"), "skopeo copy kept the manifest digest");
}

#[test]
#[ignore = "needs umoci 0.6 (scripts/install-test-deps.sh)"]
fn umoci_unpacks_gzip_and_zstd_images() {
    assert!(Path::new(UMOCI6).exists(), "umoci 0.6 is missing at {UMOCI6}; run scripts/install-test-deps.sh");
    let ws = Workspace::new();
    for compress in ["gzip", "zstd"] {
        let (image, layers) = app_image(&ws, compress);
        let dir = layout_dir(&ws, compress, &image, &layers, "v1");
        let bundle = ws.path(&format!("bundle-{compress}"));
        sh(&format!("{UMOCI6} unpack --image {}:v1 {}", dir.display(), bundle.display()));
        let motd = std::fs::read_to_string(bundle.join("rootfs/etc/motd")).unwrap();
        assert_eq!(motd, "hello from rules_img\n", "{compress}");
        let run = bundle.join("rootfs/app/run");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&run).unwrap().permissions().mode() & 0o111, 0o111, "{compress}: executable");
        let runtime: Value = serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
        assert_eq!(runtime["process"]["args"], json!(["/app/run"]), "{compress}: entrypoint reaches the runtime");
    }
}

#[test]
#[ignore = "needs crane (scripts/install-test-deps.sh)"]
fn crane_validates_the_docker_save_tarball() {
    require("crane");
    let ws = Workspace::new();
    let (image, layers) = app_image(&ws, "gzip");
    let layers: Vec<&Layer> = layers.iter().collect();
    let run = ws.docker_save("save", &image, &layers, &["example.com/app:v1"]);
    let out = sh(&format!("crane validate --tarball {}", run.assert_ok().path("tarball").display()));
    assert!(out.contains("PASS"), "{out}");
}

#[test]
#[ignore = "needs oci-image-tool (scripts/install-test-deps.sh)"]
fn oci_image_tool_validates_manifest_config_index_and_layout() {
    require("oci-image-tool");
    let ws = Workspace::new();
    let (image, layers) = app_image(&ws, "gzip");
    let arm64 = ws.manifest("arm64", json!({"architecture": "arm64", "variant": "v8"}));
    let index = ws.index("multi", &[&image, &arm64], json!({"annotations": {"a": "b"}}));
    for (kind, path) in [
        ("manifest", image.path("manifest")),
        ("config", image.path("config")),
        ("imageIndex", index.assert_ok().path("index")),
    ] {
        let out = sh(&format!("oci-image-tool validate --type {kind} {} 2>&1", path.display()));
        assert!(out.contains("Validation succeeded"), "{kind}: {out}");
    }
    // oci-image-tool 1.0.0-rc1 cannot walk any tar ("end of walk"), so the layout is checked as a directory.
    let dir = layout_dir(&ws, "layout", &image, &layers, "v1");
    let out = sh(&format!("oci-image-tool validate --type image --ref name=v1 {} 2>&1", dir.display()));
    assert!(out.contains("Validation succeeded"), "{out}");
}

#[test]
#[ignore = "needs skopeo (scripts/install-test-deps.sh)"]
fn skopeo_resolves_the_arm64_child_of_a_two_platform_index() {
    require("skopeo");
    let ws = Workspace::new();
    let amd64_layer = ws.image_layer("amd64", &[("arch", b"amd64\n", false)], "gzip");
    let arm64_layer = ws.image_layer("arm64", &[("arch", b"arm64\n", false)], "zstd");
    let amd64 = ws.manifest("amd64", json!({"layers": [amd64_layer.metadata]}));
    let arm64 =
        ws.manifest("arm64", json!({"layers": [arm64_layer.metadata], "architecture": "arm64", "variant": "v8"}));
    let index = ws.index("multi", &[&amd64, &arm64], json!({}));
    let request = json!({
        "root": index.assert_ok().path("index"),
        "root_kind": "index",
        "manifests": [amd64.image_files(&[&amd64_layer]), arm64.image_files(&[&arm64_layer])],
        "format": "directory",
        "ref_name": "multi",
    });
    let run = ws.run("oci-layout", "multi", &request, &["layout"]);
    let dir = run.assert_ok().path("layout");
    // skopeo 1.9 reports the digest of the index it was given; the resolved child shows in its
    // architecture and layers.
    let arm = skopeo_inspect(&format!("--override-arch arm64 --override-variant v8 oci:{}:multi", dir.display()));
    assert_eq!(arm["Digest"], index.text("digest"));
    assert_eq!(arm["Architecture"], "arm64");
    assert_eq!(arm["Layers"], json!([arm64_layer.metadata_json()["digest"]]));
    let amd = skopeo_inspect(&format!("--override-arch amd64 oci:{}:multi", dir.display()));
    assert_eq!(amd["Architecture"], "amd64");
    assert_eq!(amd["Layers"], json!([amd64_layer.metadata_json()["digest"]]));
    let raw: Value = serde_json::from_str(&sh(&format!("skopeo inspect --raw oci:{}:multi", dir.display()))).unwrap();
    assert_eq!(raw, index.json("index"), "the layout's root is our index, byte for byte as JSON");
}
