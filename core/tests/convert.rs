//! `img manifest-from-oci-layout` and `img index-from-oci-layout` against layouts written by the
//! real `img oci-layout` and by hand (skopeo-made layouts: tests/convert_tools.rs).

mod convert_support;
mod image_support;
mod support;

use convert_support::*;
use image_support::*;
use serde_json::{json, Value};

const TYPES: [&str; 2] = [GZIP, ZSTD];

#[test]
fn single_manifest_layout_imports_identical_documents_blobs_and_metadata() {
    let ws = Workspace::new();
    let image = two_layer_image(&ws, "app", "amd64", "");
    let layout = manifest_layout(&ws, "layout", &image, "v1");
    let run = import(&ws, "imported", &layout, "linux/amd64", &TYPES);
    assert_eq!(run.bytes("manifest"), image.run.bytes("manifest"));
    assert_eq!(run.bytes("config"), image.run.bytes("config"));
    assert_eq!(run.text("digest"), image.digest());
    let manifest = image.run.json("manifest");
    assert_eq!(
        run.json("descriptor"),
        json!({
            "mediaType": OCI_MANIFEST,
            "digest": image.digest(),
            "size": image.run.bytes("manifest").len(),
            "platform": {"architecture": "amd64", "os": "linux"},
        })
    );
    for (i, layer) in image.layers.iter().enumerate() {
        assert_eq!(run.bytes(&format!("layer_blob.{i}")), std::fs::read(&layer.blob).unwrap(), "layer {i}");
        // What `img layer` said about the layer comes back whole: diff_id, digest, size, type, history.
        assert_eq!(run.json(&format!("layer_metadata.{i}")), layer.metadata_json(), "layer {i}");
        assert_eq!(run.json(&format!("layer_metadata.{i}"))["digest"], manifest["layers"][i]["digest"]);
    }
}

#[test]
fn imported_layers_rebuild_the_same_image_with_img_manifest() {
    let ws = Workspace::new();
    let image = two_layer_image(&ws, "app", "amd64", "");
    let layout = manifest_layout(&ws, "layout", &image, "v1");
    let run = import(&ws, "imported", &layout, "linux/amd64", &TYPES);
    let rebuilt = ws.manifest(
        "rebuilt",
        json!({
            "layers": [run.assert_ok().path("layer_metadata.0"), run.path("layer_metadata.1")],
            "entrypoint": ["/app/run"],
            "env": {"PATH": "/app"},
        }),
    );
    assert_eq!(rebuilt.bytes("config"), image.run.bytes("config"), "diff_ids and history survive the import");
    assert_eq!(rebuilt.text("digest"), image.digest());
}

#[test]
fn imported_image_is_a_base_for_img_manifest() {
    let ws = Workspace::new();
    let image = two_layer_image(&ws, "base", "amd64", "");
    let layout = manifest_layout(&ws, "layout", &image, "v1");
    let base = import(&ws, "imported", &layout, "linux/amd64", &TYPES);
    let extra = ws.image_layer("extra", &[("extra.txt", b"on top\n", false)], "gzip");
    let app = ws.manifest("app", json!({"base": base.as_base(None), "layers": [extra.metadata]}));
    let manifest = app.json("manifest");
    let base_manifest = image.run.json("manifest");
    assert_eq!(manifest["layers"][0], base_manifest["layers"][0]);
    assert_eq!(manifest["layers"][1], base_manifest["layers"][1]);
    assert_eq!(manifest["layers"][2]["digest"], extra.metadata_json()["digest"]);
    assert_eq!(manifest["annotations"]["org.opencontainers.image.base.digest"], image.digest());
    let config = app.json("config");
    assert_eq!(config["config"]["Entrypoint"], json!(["/app/run"]), "the base's settings are inherited");
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 3);
}

#[test]
fn oci_layout_of_the_imported_image_reproduces_the_source_layout() {
    let ws = Workspace::new();
    let image = two_layer_image(&ws, "app", "amd64", "");
    let layout = manifest_layout(&ws, "layout", &image, "v1");
    let run = import(&ws, "imported", &layout, "linux/amd64", &TYPES);
    let again = layout_of_imported(&ws, "again", &run, 2, "v1");
    for file in ["index.json", "oci-layout"] {
        assert_eq!(std::fs::read(again.join(file)).unwrap(), std::fs::read(layout.join(file)).unwrap(), "{file}");
    }
    let names = |dir: &std::path::Path| sh(&format!("cd '{}' && ls blobs/sha256 | sort", dir.display()));
    assert_eq!(names(&again), names(&layout));
}

#[test]
fn two_platform_index_layout_gives_each_platform_its_own_image() {
    let ws = Workspace::new();
    let amd64 = two_layer_image(&ws, "amd64", "amd64", "");
    let arm64 = two_layer_image(&ws, "arm64", "arm64", "v8");
    let (index, layout) = index_layout(&ws, "multi", &[&amd64, &arm64], "multi");

    // arm64 without a variant is arm64/v8.
    let arm = import(&ws, "arm", &layout, "linux/arm64", &TYPES);
    assert_eq!(arm.text("digest"), arm64.digest());
    assert_eq!(arm.bytes("config"), arm64.run.bytes("config"));
    assert_eq!(arm.json("descriptor")["platform"], json!({"architecture": "arm64", "os": "linux", "variant": "v8"}));
    assert_eq!(arm.bytes("layer_blob.1"), std::fs::read(&arm64.layers[1].blob).unwrap());
    let amd = import(&ws, "amd", &layout, "linux/amd64", &TYPES);
    assert_eq!(amd.text("digest"), amd64.digest());
    assert_eq!(amd.json("layer_metadata.0"), amd64.layers[0].metadata_json());

    let imported = import_index(&ws, "index", &layout);
    assert_eq!(imported.bytes("index"), index.bytes("index"));
    assert_eq!(imported.text("digest"), index.text("digest"));
    assert_eq!(imported.json("descriptor"), index.json("descriptor"));
}

#[test]
fn arm64_v8_request_matches_an_arm64_image_without_variant() {
    let ws = Workspace::new();
    let amd64 = two_layer_image(&ws, "amd64", "amd64", "");
    let arm64 = two_layer_image(&ws, "arm64", "arm64", "");
    let (_, layout) = index_layout(&ws, "multi", &[&amd64, &arm64], "multi");
    let run = import(&ws, "arm", &layout, "linux/arm64/v8", &TYPES);
    assert_eq!(run.text("digest"), arm64.digest());
    // The config names no variant, so the descriptor takes the requested one.
    assert_eq!(run.json("descriptor")["platform"], json!({"architecture": "arm64", "os": "linux", "variant": "v8"}));
}

#[test]
fn a_platform_the_layout_lacks_is_an_error_listing_those_it_has() {
    let ws = Workspace::new();
    let amd64 = two_layer_image(&ws, "amd64", "amd64", "");
    let arm64 = two_layer_image(&ws, "arm64", "arm64", "v8");
    let (_, layout) = index_layout(&ws, "multi", &[&amd64, &arm64], "multi");
    import(&ws, "s390x", &layout, "linux/s390x", &TYPES).fails_with(&[
        "has no image for linux/s390x",
        "linux/amd64",
        "linux/arm64/v8",
        layout.to_str().unwrap(),
    ]);
    import(&ws, "v7", &layout, "linux/arm64/v9", &TYPES).fails_with(&["linux/arm64/v9"]);
}

#[test]
fn several_variants_of_the_platform_need_the_variant_named() {
    let ws = Workspace::new();
    let v6 = two_layer_image(&ws, "v6", "arm", "v6");
    let v7 = two_layer_image(&ws, "v7", "arm", "v7");
    let (_, layout) = index_layout(&ws, "arm", &[&v6, &v7], "arm");
    import(&ws, "any", &layout, "linux/arm", &TYPES).fails_with(&[
        "several images for linux/arm",
        &format!("linux/arm/v6 ({})", v6.digest()),
        &format!("linux/arm/v7 ({})", v7.digest()),
        "set `variant`",
    ]);
    assert_eq!(import(&ws, "v7", &layout, "linux/arm/v7", &TYPES).text("digest"), v7.digest());
}

#[test]
fn index_json_that_lists_the_images_itself_is_the_index() {
    let ws = Workspace::new();
    let amd64 = two_layer_image(&ws, "amd64", "amd64", "");
    let arm64 = two_layer_image(&ws, "arm64", "arm64", "v8");
    let (index, layout) = index_layout(&ws, "multi", &[&amd64, &arm64], "multi");
    let flat = copy_layout(&layout, &ws.path("flat"));
    let children = index.json("index")["manifests"].as_array().unwrap().clone();
    rewrite_index_json(&flat, children);
    let run = import_index(&ws, "flat", &flat);
    assert_eq!(run.bytes("index"), std::fs::read(flat.join("index.json")).unwrap());
    assert_eq!(run.text("digest"), sha256_of_file(&flat.join("index.json")));
    assert_eq!(run.json("descriptor")["mediaType"], OCI_INDEX);
    let arm = import(&ws, "arm", &flat, "linux/arm64/v8", &TYPES);
    assert_eq!(arm.text("digest"), arm64.digest());
}

#[test]
fn children_without_platform_are_matched_by_their_config() {
    let ws = Workspace::new();
    let amd64 = two_layer_image(&ws, "amd64", "amd64", "");
    let arm64 = two_layer_image(&ws, "arm64", "arm64", "v8");
    let (_, layout) = index_layout(&ws, "multi", &[&amd64, &arm64], "multi");
    let bare = copy_layout(&layout, &ws.path("bare"));
    let descriptor = |image: &Image| {
        let mut d = image.run.json("descriptor");
        d.as_object_mut().unwrap().remove("platform");
        d
    };
    rewrite_index_json(&bare, vec![descriptor(&amd64), descriptor(&arm64)]);
    assert_eq!(import(&ws, "arm", &bare, "linux/arm64", &TYPES).text("digest"), arm64.digest());
    assert_eq!(import(&ws, "amd", &bare, "linux/amd64", &TYPES).text("digest"), amd64.digest());
}

#[test]
fn docker_media_types_count_as_their_oci_equivalents() {
    let ws = Workspace::new();
    let layer = ws.image_layer("layer", &[("etc/motd", b"docker\n", false)], "gzip");
    let meta = layer.metadata_json();
    let hand = HandLayout::new(ws.path("docker"));
    let blob = hand.blob(DOCKER_GZIP, &std::fs::read(&layer.blob).unwrap());
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "docker_version": "24.0.7",
        "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [meta["diff_id"]]},
        "history": [
            {"created": "2024-01-01T00:00:00Z", "created_by": "ENV PATH=/usr/bin", "empty_layer": true},
            {"created": "2024-01-01T00:00:01Z", "created_by": "COPY motd /etc/motd"},
            {"created": "2024-01-01T00:00:02Z", "created_by": "CMD [\"sh\"]", "empty_layer": true},
        ],
    });
    let config = hand.document(DOCKER_CONFIG, &config);
    let manifest = json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": config, "layers": [blob]});
    let manifest = hand.document(DOCKER_MANIFEST, &manifest);
    hand.index_json(vec![manifest.clone()]);

    let run = import(&ws, "docker", &hand.dir, "linux/amd64", &[GZIP]);
    assert_eq!(run.text("digest"), manifest["digest"]);
    assert_eq!(run.json("descriptor")["mediaType"], DOCKER_MANIFEST);
    let metadata = run.json("layer_metadata.0");
    assert_eq!(metadata["mediaType"], DOCKER_GZIP, "the metadata says what the manifest says");
    assert_eq!(metadata["diff_id"], meta["diff_id"]);
    let created_by: Vec<&Value> = metadata["history"].as_array().unwrap().iter().map(|h| &h["created_by"]).collect();
    assert_eq!(created_by, ["ENV PATH=/usr/bin", "COPY motd /etc/motd", "CMD [\"sh\"]"], "all history, in order");

    // On top of the Docker image, `img manifest` writes an OCI manifest with the layer type renamed.
    let extra = ws.image_layer("extra", &[("x", b"x\n", false)], "gzip");
    let app = ws.manifest("app", json!({"base": run.as_base(None), "layers": [extra.metadata]}));
    let app_manifest = app.json("manifest");
    assert_eq!(app_manifest["layers"][0]["mediaType"], GZIP);
    assert_eq!(app_manifest["layers"][0]["digest"], blob["digest"]);
    assert_eq!(app.json("config")["config"]["Cmd"], json!(["sh"]));
}

#[test]
fn layer_types_that_differ_from_the_layout_name_both_lists() {
    let ws = Workspace::new();
    let image = two_layer_image(&ws, "app", "amd64", "");
    let layout = manifest_layout(&ws, "layout", &image, "v1");
    let both = format!("[{GZIP}, {ZSTD}]");
    import(&ws, "fewer", &layout, "linux/amd64", &[GZIP]).fails_with(&[&both, &format!("`layers` says [{GZIP}]")]);
    import(&ws, "swapped", &layout, "linux/amd64", &[ZSTD, GZIP]).fails_with(&[&both, "set `layers`"]);
    import(&ws, "more", &layout, "linux/amd64", &[GZIP, ZSTD, GZIP]).fails_with(&[&both]);
}

#[test]
fn a_corrupt_layer_blob_fails_and_leaves_no_output_behind() {
    let ws = Workspace::new();
    let image = two_layer_image(&ws, "app", "amd64", "");
    let layout = copy_layout(&manifest_layout(&ws, "layout", &image, "v1"), &ws.path("corrupt"));
    let layer_digest = image.layers[1].metadata_json()["digest"].as_str().unwrap().to_owned();
    let path = blob_path(&layout, &layer_digest);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff; // same size, other content: only the digest can tell
    std::fs::write(&path, bytes).unwrap();
    // Outputs of an earlier run must not survive a failed one.
    for name in import_outputs(2) {
        ws.file(&format!("out/corrupt.{name}"), "stale");
    }
    let relative = format!("blobs/sha256/{}", &layer_digest[7..]);
    import(&ws, "corrupt", &layout, "linux/amd64", &TYPES).fails_with(&[
        &relative,
        "does not match its digest",
        &layer_digest,
        "regenerate",
    ]);
}

#[test]
fn a_corrupt_or_missing_config_is_an_error_naming_it() {
    let ws = Workspace::new();
    let image = two_layer_image(&ws, "app", "amd64", "");
    let layout = copy_layout(&manifest_layout(&ws, "layout", &image, "v1"), &ws.path("broken"));
    let config_digest = image.run.json("manifest")["config"]["digest"].as_str().unwrap().to_owned();
    std::fs::write(blob_path(&layout, &config_digest), b"{}").unwrap();
    import(&ws, "short", &layout, "linux/amd64", &TYPES).fails_with(&[&config_digest, "2 bytes"]);
    std::fs::remove_file(blob_path(&layout, &config_digest)).unwrap();
    import(&ws, "missing", &layout, "linux/amd64", &TYPES).fails_with(&["lacks the image config", &config_digest]);
}

#[test]
fn a_config_that_contradicts_the_index_entry_is_an_error_naming_both_platforms() {
    let ws = Workspace::new();
    let image = two_layer_image(&ws, "app", "amd64", "");
    let layout = copy_layout(&manifest_layout(&ws, "layout", &image, "v1"), &ws.path("lying"));
    let mut descriptor = image.run.json("descriptor");
    descriptor["platform"] = json!({"os": "linux", "architecture": "arm64"});
    rewrite_index_json(&layout, vec![descriptor]);
    import(&ws, "lying", &layout, "linux/arm64", &TYPES).fails_with(&[
        "is for linux/amd64",
        "asks for linux/arm64",
        &image.digest(),
    ]);
}

#[test]
fn something_that_is_not_a_layout_is_refused_with_what_to_do() {
    let ws = Workspace::new();
    let empty = ws.path("empty");
    std::fs::create_dir(&empty).unwrap();
    import(&ws, "empty", &empty, "linux/amd64", &TYPES).fails_with(&["not an OCI image layout", "no oci-layout"]);
    import_index(&ws, "empty", &empty).fails_with(&["not an OCI image layout"]);
    let future = HandLayout::new(ws.path("future"));
    std::fs::write(future.dir.join("oci-layout"), r#"{"imageLayoutVersion":"2.0.0"}"#).unwrap();
    import(&ws, "future", &future.dir, "linux/amd64", &TYPES).fails_with(&["imageLayoutVersion \"2.0.0\""]);
    let no_images = HandLayout::new(ws.path("no-images"));
    no_images.index_json(vec![]);
    import(&ws, "none", &no_images.dir, "linux/amd64", &TYPES).fails_with(&["no image manifest"]);
}

#[test]
fn index_import_of_a_single_manifest_layout_points_to_the_manifest_import() {
    let ws = Workspace::new();
    let image = two_layer_image(&ws, "app", "amd64", "");
    let layout = manifest_layout(&ws, "layout", &image, "v1");
    import_index(&ws, "single", &layout).fails_with(&["single image manifest", "image_manifest_from_oci_layout"]);
}

#[test]
fn a_corrupt_index_blob_fails_both_imports() {
    let ws = Workspace::new();
    let amd64 = two_layer_image(&ws, "amd64", "amd64", "");
    let arm64 = two_layer_image(&ws, "arm64", "arm64", "v8");
    let (index, layout) = index_layout(&ws, "multi", &[&amd64, &arm64], "multi");
    let layout = copy_layout(&layout, &ws.path("corrupt"));
    let digest = index.text("digest");
    let mut document = index.json("index");
    document["annotations"] = json!({"tampered": "yes"});
    std::fs::write(blob_path(&layout, &digest), serde_json::to_vec(&document).unwrap()).unwrap();
    import_index(&ws, "index", &layout).fails_with(&["does not match its digest", &digest[7..]]);
    import(&ws, "arm", &layout, "linux/arm64", &TYPES).fails_with(&["does not match its digest"]);
}

#[test]
fn output_counts_that_differ_from_the_layer_types_are_an_error() {
    let ws = Workspace::new();
    let image = two_layer_image(&ws, "app", "amd64", "");
    let layout = manifest_layout(&ws, "layout", &image, "v1");
    let request = json!({
        "src": layout, "os": "linux", "architecture": "amd64", "variant": "", "layer_media_types": TYPES,
    });
    let names = ["manifest", "config", "descriptor", "digest", "layer_blob.0", "layer_metadata.0"];
    ws.run("manifest-from-oci-layout", "short", &request, &names)
        .fails_with(&["1 `layer_blob` outputs for 2 layers", "rebuild both"]);
}
