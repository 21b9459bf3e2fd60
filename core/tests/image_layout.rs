//! `img oci-layout` and `img docker-save`: layouts and tarballs checked with GNU tar and sha256sum.

mod image_support;
mod support;

use std::path::Path;

use image_support::*;
use serde_json::{json, Value};

/// A two-layer image whose second layer shares nothing with the first.
fn image(ws: &Workspace) -> (Run, Layer, Layer) {
    let one = ws.image_layer("one", &[("etc/motd", b"hello\n", false)], "gzip");
    let two = ws.image_layer("two", &[("app/run", b"#!/bin/sh\necho run\n", true)], "zstd");
    let run = ws.manifest("app", json!({"layers": [one.metadata, two.metadata], "entrypoint": ["/app/run"]}));
    run.assert_ok();
    (run, one, two)
}

/// Every `blobs/sha256/<hex>` file under `dir` hashes to its name.
fn assert_blobs_match_names(dir: &Path) -> usize {
    let blobs = dir.join("blobs/sha256");
    let mut count = 0;
    for entry in std::fs::read_dir(&blobs).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        assert_eq!(sha256_of_file(&path), format!("sha256:{name}"));
        count += 1;
    }
    count
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn oci_layout_directory_holds_every_blob_under_its_digest() {
    let ws = Workspace::new();
    let (image, one, two) = image(&ws);
    let run = ws.layout_of_manifest("layout", &image, &[&one, &two], "directory", Some("v1"));
    let dir = run.assert_ok().path("layout");
    assert_eq!(assert_blobs_match_names(dir), 4, "manifest, config and two layers");
    assert_eq!(read_json(&dir.join("oci-layout")), json!({"imageLayoutVersion": "1.0.0"}));
    let index = read_json(&dir.join("index.json"));
    assert_eq!(index["manifests"][0]["digest"], image.text("digest"));
    assert_eq!(index["manifests"][0]["annotations"], json!({"org.opencontainers.image.ref.name": "v1"}));
    assert_eq!(
        std::fs::read(dir.join("blobs/sha256").join(&image.text("digest")[7..])).unwrap(),
        image.bytes("manifest")
    );
}

#[test]
fn oci_layout_tar_is_sorted_owned_by_root_at_epoch_and_reproducible() {
    let ws = Workspace::new();
    let (image, one, two) = image(&ws);
    let first = ws.layout_of_manifest("first", &image, &[&one, &two], "tar", None);
    let second = ws.layout_of_manifest("second", &image, &[&one, &two], "tar", None);
    assert_eq!(first.bytes("layout"), second.bytes("layout"), "same request, same tar");
    let listing = sh(&format!("TZ=UTC tar -tvf '{}' --numeric-owner", first.path("layout").display()));
    let names: Vec<&str> = listing.lines().map(|l| l.rsplit(' ').next().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "entries are sorted: {listing}");
    assert_eq!(names.len(), 2 + 4 + 2, "blobs/, blobs/sha256/, 4 blobs, index.json, oci-layout: {listing}");
    for line in listing.lines() {
        assert!(line.contains(" 0/0 ") && line.contains("1970-01-01 00:00"), "not root-owned at epoch: {line}");
    }
    let extracted = ws.path("extracted");
    std::fs::create_dir(&extracted).unwrap();
    sh(&format!("tar -xf '{}' -C '{}'", first.path("layout").display(), extracted.display()));
    assert_eq!(assert_blobs_match_names(&extracted), 4);
}

#[test]
fn a_blob_shared_by_two_manifests_is_written_once() {
    let ws = Workspace::new();
    let shared = ws.image_layer("shared", &[("lib.so", b"lib\n", false)], "gzip");
    let amd64 = ws.manifest("amd64", json!({"layers": [shared.metadata]}));
    let arm64 = ws.manifest("arm64", json!({"layers": [shared.metadata], "architecture": "arm64"}));
    let index = ws.index("multi", &[&amd64, &arm64], json!({}));
    let request = json!({
        "root": index.assert_ok().path("index"),
        "root_kind": "index",
        "manifests": [amd64.image_files(&[&shared]), arm64.image_files(&[&shared])],
        "format": "tar",
        "ref_name": null,
    });
    let run = ws.run("oci-layout", "multi", &request, &["layout"]);
    let listing = sh(&format!("tar -tf '{}'", run.assert_ok().path("layout").display()));
    let layer_hex = shared.metadata_json()["digest"].as_str().unwrap()[7..].to_owned();
    assert_eq!(listing.matches(&layer_hex).count(), 1, "{listing}");
    // index + 2 manifests + 2 configs + 1 shared layer
    assert_eq!(listing.lines().filter(|l| l.starts_with("blobs/sha256/") && l.len() > 14).count(), 6, "{listing}");
}

#[test]
fn shallow_base_layer_fails_saying_which_layer_why_and_what_to_do() {
    let ws = Workspace::new();
    let (image, one, two) = image(&ws);
    let request = json!({
        "root": image.path("manifest"),
        "root_kind": "manifest",
        "manifests": [{"manifest": image.path("manifest"), "config": image.path("config"),
                       "layers": [{"metadata": one.metadata, "blob": null}, two.files()]}],
        "format": "tar",
        "ref_name": null,
    });
    let digest = one.metadata_json()["digest"].as_str().unwrap().to_owned();
    ws.run("oci-layout", "shallow", &request, &["layout"]).fails_with(&[
        &digest,
        "layer 0",
        "shallow",
        "layer_handling = \"eager\"",
        "push/load",
    ]);
    let save = json!({"image": request["manifests"][0], "repo_tags": ["app:v1"]});
    ws.run("docker-save", "shallow", &save, &["tarball"]).fails_with(&[&digest, "shallow"]);
}

#[test]
fn a_blob_that_does_not_match_its_digest_is_an_error_naming_the_file() {
    let ws = Workspace::new();
    let (image, one, two) = image(&ws);
    let mut bytes = std::fs::read(&two.blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff; // same size, different content
    std::fs::write(&two.blob, bytes).unwrap();
    for format in ["tar", "directory"] {
        let run = ws.layout_of_manifest(format, &image, &[&one, &two], format, None);
        run.fails_with(&[two.blob.to_str().unwrap(), "does not match its digest"]);
    }
    std::fs::write(&two.blob, b"short").unwrap();
    ws.docker_save("short", &image, &[&one, &two], &[]).fails_with(&[two.blob.to_str().unwrap(), "5 bytes"]);
}

#[test]
fn layers_passed_out_of_order_are_an_error() {
    let ws = Workspace::new();
    let (image, one, two) = image(&ws);
    let run = ws.layout_of_manifest("swapped", &image, &[&two, &one], "tar", None);
    run.fails_with(&["different order"]);
}

#[test]
fn docker_save_tarball_is_a_docker_archive_and_an_oci_layout() {
    let ws = Workspace::new();
    let (image, one, two) = image(&ws);
    let run = ws.docker_save("save", &image, &[&one, &two], &["example.com/app:v1", "example.com/app"]);
    let extracted = ws.path("extracted");
    std::fs::create_dir(&extracted).unwrap();
    sh(&format!("tar -xf '{}' -C '{}'", run.assert_ok().path("tarball").display(), extracted.display()));
    let hex = |digest: &Value| format!("blobs/sha256/{}", &digest.as_str().unwrap()[7..]);
    let manifest = image.json("manifest");
    assert_eq!(
        read_json(&extracted.join("manifest.json")),
        json!([{
            "Config": hex(&manifest["config"]["digest"]),
            "RepoTags": ["example.com/app:v1", "example.com/app:latest"],
            "Layers": [hex(&manifest["layers"][0]["digest"]), hex(&manifest["layers"][1]["digest"])],
        }])
    );
    let index = read_json(&extracted.join("index.json"));
    assert_eq!(index["manifests"][0]["digest"], image.text("digest"));
    assert_eq!(
        index["manifests"][0]["annotations"],
        json!({"io.containerd.image.name": "example.com/app:v1", "org.opencontainers.image.ref.name": "example.com/app:v1"})
    );
    assert_eq!(read_json(&extracted.join("oci-layout")), json!({"imageLayoutVersion": "1.0.0"}));
    assert_eq!(assert_blobs_match_names(&extracted), 4);
}

#[test]
fn directory_output_replaces_what_is_already_there() {
    // Bazel creates a tree artifact's directory before the action runs; an earlier run may have
    // left a layout there too.
    let ws = Workspace::new();
    let (image, one, two) = image(&ws);
    std::fs::create_dir_all(ws.path("out/existing.layout/blobs/sha256")).unwrap();
    ws.file("out/existing.layout/stale.txt", "from an earlier run");
    let run = ws.layout_of_manifest("existing", &image, &[&one, &two], "directory", None);
    let dir = run.assert_ok().path("layout");
    assert!(!dir.join("stale.txt").exists());
    assert_eq!(assert_blobs_match_names(dir), 4);
}
