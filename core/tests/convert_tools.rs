//! Importing layouts written by skopeo (as rules_oci users have them), and checking with skopeo
//! that what `img oci-layout` makes of the imported image is the very same image.

mod convert_support;
mod image_support;
mod support;

use std::path::{Path, PathBuf};

use convert_support::*;
use image_support::*;
use serde_json::{json, Value};

fn skopeo(args: &str) -> String {
    sh(&format!("skopeo {args}"))
}

fn inspect(args: &str) -> Value {
    serde_json::from_str(&skopeo(&format!("inspect {args}"))).unwrap()
}

/// `skopeo copy [flags] oci:<from>:<tag> oci:<to>:<tag>`; returns the new layout.
fn skopeo_copy(flags: &str, from: &Path, to: PathBuf, tag: &str) -> PathBuf {
    skopeo(&format!("copy -q {flags} oci:{}:{tag} oci:{}:{tag}", from.display(), to.display()));
    to
}

/// The layer media types of the manifest skopeo resolves `reference` to.
fn layer_types(reference: &str) -> Vec<String> {
    types_of(&serde_json::from_str(&skopeo(&format!("inspect --raw {reference}"))).unwrap())
}

/// The layer media types of manifest `digest` in `layout`, read from its blob.
fn layer_types_in(layout: &Path, digest: &Value) -> Vec<String> {
    types_of(&read_json(&blob_path(layout, digest.as_str().unwrap())))
}

fn types_of(manifest: &Value) -> Vec<String> {
    manifest["layers"].as_array().unwrap().iter().map(|l| l["mediaType"].as_str().unwrap().to_owned()).collect()
}

fn strs(items: &[String]) -> Vec<&str> {
    items.iter().map(String::as_str).collect()
}

#[test]
#[ignore = "needs skopeo (scripts/install-test-deps.sh)"]
fn skopeo_copied_image_round_trips_through_the_import() {
    require("skopeo");
    let ws = Workspace::new();
    let image = two_layer_image(&ws, "app", "amd64", "");
    let ours = manifest_layout(&ws, "ours", &image, "app");
    let theirs = skopeo_copy("", &ours, ws.path("theirs"), "app");
    let types = layer_types(&format!("oci:{}:app", theirs.display()));
    let run = import(&ws, "imported", &theirs, "linux/amd64", &strs(&types));
    let source = inspect(&format!("oci:{}:app", theirs.display()));
    assert_eq!(run.text("digest"), source["Digest"].as_str().unwrap());

    let again = layout_of_imported(&ws, "again", &run, types.len(), "app");
    let rebuilt = inspect(&format!("oci:{}:app", again.display()));
    assert_eq!(rebuilt["Digest"], source["Digest"], "same manifest digest as the layout it came from");
    assert_eq!(rebuilt["Layers"], source["Layers"]);
    assert_eq!(
        skopeo(&format!("inspect --raw oci:{}:app", again.display())),
        skopeo(&format!("inspect --raw oci:{}:app", theirs.display()))
    );
    assert_eq!(
        skopeo(&format!("inspect --config --raw oci:{}:app", again.display())),
        skopeo(&format!("inspect --config --raw oci:{}:app", theirs.display()))
    );
    // skopeo reads every blob of the rebuilt layout (and checks its digest) when it copies it.
    let copy = skopeo_copy("", &again, ws.path("copy"), "app");
    assert_eq!(inspect(&format!("oci:{}:app", copy.display()))["Digest"], source["Digest"]);
}

#[test]
#[ignore = "needs skopeo (scripts/install-test-deps.sh)"]
fn skopeo_copied_index_imports_per_platform_and_round_trips() {
    require("skopeo");
    let ws = Workspace::new();
    let amd64 = two_layer_image(&ws, "amd64", "amd64", "");
    let arm64 = two_layer_image(&ws, "arm64", "arm64", "v8");
    let (_, ours) = index_layout(&ws, "ours", &[&amd64, &arm64], "multi");
    let theirs = skopeo_copy("--all", &ours, ws.path("theirs"), "multi");
    let reference = format!("oci:{}:multi", theirs.display());
    let raw_index = skopeo(&format!("inspect --raw {reference}"));

    let index = import_index(&ws, "index", &theirs);
    assert_eq!(index.text("index"), raw_index, "the index is copied byte for byte");
    let children: Value = serde_json::from_str(&raw_index).unwrap();
    let child = |architecture: &str| {
        let children = children["manifests"].as_array().unwrap();
        children.iter().find(|c| c["platform"]["architecture"] == architecture).unwrap()["digest"].clone()
    };
    let (arm_digest, amd_digest) = (child("arm64"), child("amd64"));
    let arm_types = layer_types_in(&theirs, &arm_digest);
    let arm = import(&ws, "arm", &theirs, "linux/arm64", &strs(&arm_types));
    assert_eq!(arm.text("digest"), arm_digest.as_str().unwrap());
    let amd_types = layer_types_in(&theirs, &amd_digest);
    let amd = import(&ws, "amd", &theirs, "linux/amd64", &strs(&amd_types));
    assert_eq!(amd.text("digest"), amd_digest.as_str().unwrap());

    let request = json!({
        "root": index.path("index"),
        "root_kind": "index",
        "manifests": [imported_files(&amd, amd_types.len()), imported_files(&arm, arm_types.len())],
        "format": "directory",
        "ref_name": "multi",
    });
    let again = ws.run("oci-layout", "again", &request, &["layout"]).assert_ok().path("layout").to_owned();
    let again_ref = format!("oci:{}:multi", again.display());
    assert_eq!(skopeo(&format!("inspect --raw {again_ref}")), raw_index);
    let arm_inspected = inspect(&format!("--override-arch arm64 --override-variant v8 {again_ref}"));
    assert_eq!(arm_inspected["Architecture"], "arm64");
    assert_eq!(
        arm_inspected["Layers"],
        arm.json("manifest")["layers"].as_array().unwrap().iter().map(|l| l["digest"].clone()).collect::<Value>()
    );
    skopeo_copy("--all", &again, ws.path("copy"), "multi");
}

#[test]
#[ignore = "needs skopeo (scripts/install-test-deps.sh)"]
fn skopeo_docker_format_layout_imports_with_oci_layer_types() {
    require("skopeo");
    let ws = Workspace::new();
    let layer = ws.image_layer("layer", &[("etc/motd", b"docker format\n", false)], "gzip");
    let run = ws.manifest("app", json!({"layers": [layer.metadata], "cmd": ["sh"]}));
    let image = Image { run, layers: vec![layer] };
    let ours = manifest_layout(&ws, "ours", &image, "app");
    let docker = skopeo_copy("--format v2s2", &ours, ws.path("docker"), "app");
    // skopeo 1.9 writes Docker-typed entries into index.json but cannot read them back, so the
    // layout is checked through its files.
    let entry = read_json(&docker.join("index.json"))["manifests"][0].clone();
    assert_eq!(entry["mediaType"], DOCKER_MANIFEST, "skopeo wrote a Docker manifest");
    assert_eq!(layer_types_in(&docker, &entry["digest"]), [DOCKER_GZIP], "skopeo wrote Docker layer types");

    let imported = import(&ws, "imported", &docker, "linux/amd64", &[GZIP]);
    assert_eq!(imported.text("digest"), entry["digest"].as_str().unwrap());
    assert_eq!(imported.bytes("manifest"), std::fs::read(blob_path(&docker, &imported.text("digest"))).unwrap());
    assert_eq!(imported.json("descriptor")["mediaType"], DOCKER_MANIFEST);
    assert_eq!(imported.json("layer_metadata.0")["diff_id"], image.layers[0].metadata_json()["diff_id"]);

    // Round trip: the rebuilt layout holds skopeo's Docker manifest, unchanged.
    let again = layout_of_imported(&ws, "again", &imported, 1, "app");
    assert_eq!(read_json(&again.join("index.json"))["manifests"][0]["digest"], entry["digest"]);
    let names = |dir: &Path| sh(&format!("cd '{}' && ls blobs/sha256 | sort", dir.display()));
    assert_eq!(names(&again), names(&docker));
    // And an image on top of it is an OCI image again.
    let extra = ws.image_layer("extra", &[("x", b"x\n", false)], "gzip");
    let app = ws.manifest("on-top", json!({"base": imported.as_base(None), "layers": [extra.metadata]}));
    let files = app.image_files(&[]);
    let request = json!({
        "root": app.path("manifest"),
        "root_kind": "manifest",
        "manifests": [{
            "manifest": files["manifest"],
            "config": files["config"],
            "layers": [
                {"metadata": imported.path("layer_metadata.0"), "blob": imported.path("layer_blob.0")},
                extra.files(),
            ],
        }],
        "format": "directory",
        "ref_name": "app",
    });
    let top = ws.run("oci-layout", "top", &request, &["layout"]).assert_ok().path("layout").to_owned();
    let inspected = inspect(&format!("oci:{}:app", top.display()));
    assert_eq!(inspected["Digest"], app.text("digest"));
    assert_eq!(layer_types(&format!("oci:{}:app", top.display())), [GZIP, GZIP]);
}
