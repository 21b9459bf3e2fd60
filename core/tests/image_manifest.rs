//! `img manifest` and `img index`: configs, manifests and descriptors from layer metadata, checked
//! against sha256sum and the documents' JSON.

mod image_support;
mod support;

use image_support::*;
use serde_json::{json, Value};

/// A base image built the way users build one: a layer plus a config fragment with every runtime
/// setting, so each inherit/unset rule has something to inherit.
fn base(ws: &Workspace) -> (Run, Layer) {
    let layer = ws.image_layer("base", &[("etc/os-release", b"ID=test\n", false)], "gzip");
    let fragment = ws.file(
        "base-fragment.json",
        r#"{"config": {"Entrypoint": ["/bin/base"], "Cmd": ["--serve"], "User": "nobody", "WorkingDir": "/srv",
            "StopSignal": "SIGTERM", "Env": ["PATH=/usr/bin", "HOME=/root"], "Labels": {"base": "yes"}},
            "created": "2020-01-01T00:00:00Z"}"#,
    );
    let run = ws.manifest("base", json!({"layers": [layer.metadata], "config_fragment": fragment}));
    run.assert_ok();
    (run, layer)
}

/// The runtime config (`config` object) of an image built on the base with `fields`.
fn on_base(fields: Value) -> Value {
    let ws = Workspace::new();
    let (base, _) = base(&ws);
    let mut request = json!({"base": base.as_base(None)});
    merge(&mut request, fields);
    ws.manifest("app", request).json("config")["config"].clone()
}

#[test]
fn manifest_describes_layers_from_metadata_only() {
    let ws = Workspace::new();
    let one = ws.image_layer("one", &[("a.txt", b"a\n", false)], "gzip");
    let two = ws.image_layer("two", &[("b.txt", b"b\n", false)], "zstd");
    let (m1, m2) = (one.metadata_json(), two.metadata_json());
    // Metadata is all `img manifest` may read: without the blobs it must still work.
    std::fs::remove_file(&one.blob).unwrap();
    std::fs::remove_file(&two.blob).unwrap();
    let run = ws.manifest("app", json!({"layers": [one.metadata, two.metadata]}));
    let (manifest, config, descriptor) = (run.json("manifest"), run.json("config"), run.json("descriptor"));

    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    for (layer, metadata) in manifest["layers"].as_array().unwrap().iter().zip([&m1, &m2]) {
        assert_eq!(layer["digest"], metadata["digest"]);
        assert_eq!(layer["size"], metadata["size"]);
        assert_eq!(layer["mediaType"], metadata["mediaType"]);
    }
    assert_eq!(config["rootfs"], json!({"type": "layers", "diff_ids": [m1["diff_id"], m2["diff_id"]]}));
    assert_eq!(
        config["history"],
        json!([{"created_by": "bazel build //test:one"}, {"created_by": "bazel build //test:two"}])
    );
    assert_eq!((config["os"].as_str(), config["architecture"].as_str()), (Some("linux"), Some("amd64")));
    assert!(config.get("created").is_none(), "no created time unless asked for (reproducible)");

    assert_eq!(manifest["config"]["mediaType"], "application/vnd.oci.image.config.v1+json");
    assert_eq!(manifest["config"]["digest"], sha256_of_file(run.path("config")));
    assert_eq!(manifest["config"]["size"], std::fs::metadata(run.path("config")).unwrap().len());
    let digest = sha256_of_file(run.path("manifest"));
    assert_eq!(run.text("digest"), digest, "digest file is sha256:<hex> without a newline");
    assert_eq!(descriptor["digest"], digest);
    assert_eq!(descriptor["size"], std::fs::metadata(run.path("manifest")).unwrap().len());
    assert_eq!(descriptor["platform"], json!({"architecture": "amd64", "os": "linux"}));
}

#[test]
fn same_request_twice_gives_identical_bytes() {
    let ws = Workspace::new();
    let layer = ws.image_layer("one", &[("a.txt", b"a\n", false)], "gzip");
    let labels: serde_json::Map<String, Value> =
        (0..40).map(|i| (format!("label.{i}"), json!(i.to_string()))).collect();
    let annotations: serde_json::Map<String, Value> = (0..40).map(|i| (format!("note.{i}"), json!("x"))).collect();
    let fragment = ws.file("f.json", r#"{"config": {"ExposedPorts": {"80/tcp": {}, "443/tcp": {}, "8080/tcp": {}}, "Volumes": {"/a": {}, "/b": {}, "/c": {}}}}"#);
    let request =
        json!({"layers": [layer.metadata], "labels": labels, "annotations": annotations, "config_fragment": fragment});
    let first = ws.manifest("first", request.clone());
    let second = ws.manifest("second", request);
    for output in ["manifest", "config", "descriptor", "digest"] {
        assert_eq!(first.bytes(output), second.bytes(output), "{output} differs between two runs");
    }
    let config = first.json("config");
    assert_eq!(config["config"]["ExposedPorts"], json!({"443/tcp": {}, "80/tcp": {}, "8080/tcp": {}}));
    assert_eq!(config["config"]["Labels"].as_object().unwrap().len(), 40);
}

#[test]
fn base_layers_come_first_and_base_history_is_kept() {
    let ws = Workspace::new();
    let (base, base_layer) = base(&ws);
    let app = ws.image_layer("app", &[("app", b"#!/bin/sh\n", true)], "gzip");
    let run = ws.manifest("app", json!({"base": base.as_base(None), "layers": [app.metadata]}));
    let (manifest, config) = (run.json("manifest"), run.json("config"));
    let digests: Vec<&Value> = manifest["layers"].as_array().unwrap().iter().map(|l| &l["digest"]).collect();
    assert_eq!(digests, [&base_layer.metadata_json()["digest"], &app.metadata_json()["digest"]]);
    assert_eq!(
        config["rootfs"]["diff_ids"],
        json!([base_layer.metadata_json()["diff_id"], app.metadata_json()["diff_id"]])
    );
    assert_eq!(
        config["history"],
        json!([{"created_by": "bazel build //test:base"}, {"created_by": "bazel build //test:app"}])
    );
    assert!(config.get("created").is_none(), "the base's created time is not inherited");
}

#[test]
fn entrypoint_and_cmd_are_inherited_by_default() {
    let config = on_base(json!({}));
    assert_eq!(config["Entrypoint"], json!(["/bin/base"]));
    assert_eq!(config["Cmd"], json!(["--serve"]));
}

#[test]
fn explicit_entrypoint_clears_the_base_cmd() {
    let config = on_base(json!({"entrypoint": ["/app"]}));
    assert_eq!(config["Entrypoint"], json!(["/app"]));
    assert!(config.get("Cmd").is_none(), "base Cmd survived a new entrypoint: {config}");
}

#[test]
fn explicit_entrypoint_with_explicit_cmd_keeps_both() {
    let config = on_base(json!({"entrypoint": ["/app"], "cmd": ["--port", "80"]}));
    assert_eq!((&config["Entrypoint"], &config["Cmd"]), (&json!(["/app"]), &json!(["--port", "80"])));
}

#[test]
fn inherit_sentinel_inside_a_list_expands_to_the_base_value() {
    let config = on_base(json!({"entrypoint": ["/wrapper", INHERIT], "cmd": [INHERIT, "--verbose"]}));
    assert_eq!(config["Entrypoint"], json!(["/wrapper", "/bin/base"]));
    assert_eq!(config["Cmd"], json!(["--serve", "--verbose"]));
}

#[test]
fn empty_entrypoint_and_cmd_unset_them() {
    let config = on_base(json!({"entrypoint": [], "cmd": []}));
    assert!(config.get("Entrypoint").is_none() && config.get("Cmd").is_none(), "{config}");
    let config = on_base(json!({"cmd": []}));
    assert_eq!(config["Entrypoint"], json!(["/bin/base"]), "unsetting cmd leaves the entrypoint");
    assert!(config.get("Cmd").is_none());
}

/// A string setting: inherited by default, unset by "", replaced by a value.
fn check_string_setting(field: &str, config_key: &str, base_value: &str) {
    assert_eq!(on_base(json!({}))[config_key], base_value, "{field} is inherited");
    assert!(on_base(json!({field: ""})).get(config_key).is_none(), "{field} = \"\" unsets it");
    assert_eq!(on_base(json!({field: "new"}))[config_key], "new", "{field} replaces the base value");
}

#[test]
fn user_is_inherited_unset_or_replaced() {
    check_string_setting("user", "User", "nobody");
}

#[test]
fn working_dir_is_inherited_unset_or_replaced() {
    check_string_setting("working_dir", "WorkingDir", "/srv");
}

#[test]
fn stop_signal_is_inherited_unset_or_replaced() {
    check_string_setting("stop_signal", "StopSignal", "SIGTERM");
}

#[test]
fn env_replaces_base_values_in_place_and_appends_new_keys_sorted() {
    let ws = Workspace::new();
    let (base, _) = base(&ws);
    let env_file = ws.file("env", "# defaults\nZED=from-file\n\nHOME=/home/file\nMID=file\n");
    let request = json!({
        "base": base.as_base(None),
        "env": {"MID": "attr", "ALPHA": "1", "PATH": "/app/bin:/usr/bin"},
        "env_file": env_file,
    });
    let config = ws.manifest("app", request).json("config");
    assert_eq!(
        config["config"]["Env"],
        json!(["PATH=/app/bin:/usr/bin", "HOME=/home/file", "ALPHA=1", "MID=attr", "ZED=from-file"])
    );
    let json_env = ws.file("env.json", r#"{"A": "x=y"}"#);
    let config = ws.manifest("json", json!({"env_file": json_env})).json("config");
    assert_eq!(config["config"]["Env"], json!(["A=x=y"]));
}

#[test]
fn labels_from_files_are_overridden_by_labels() {
    let ws = Workspace::new();
    let (base, _) = base(&ws);
    let first = ws.file("labels1", "a=file1\nb=file1\n");
    let second = ws.file("labels2.json", r#"{"b": "file2", "c": "file2"}"#);
    let request =
        json!({"base": base.as_base(None), "label_files": [first, second], "labels": {"c": "attr", "base": "over"}});
    let config = ws.manifest("app", request).json("config");
    assert_eq!(config["config"]["Labels"], json!({"a": "file1", "b": "file2", "base": "over", "c": "attr"}));
}

#[test]
fn annotations_merge_file_then_attribute_and_name_the_base() {
    let ws = Workspace::new();
    let (base, _) = base(&ws);
    let file = ws.file("annotations", "x=file\ny=file\n");
    let request = json!({
        "base": base.as_base(Some("docker.io/library/debian:12")),
        "annotations_file": file,
        "annotations": {"y": "attr"},
    });
    let run = ws.manifest("app", request);
    let expected = json!({
        "org.opencontainers.image.base.digest": base.text("digest"),
        "org.opencontainers.image.base.name": "docker.io/library/debian:12",
        "x": "file",
        "y": "attr",
    });
    assert_eq!(run.json("manifest")["annotations"], expected);
    assert_eq!(run.json("descriptor")["annotations"], expected, "the descriptor carries the manifest's annotations");
}

#[test]
fn base_annotations_set_by_the_user_are_kept() {
    let ws = Workspace::new();
    let (base, _) = base(&ws);
    let request = json!({
        "base": base.as_base(Some("docker.io/library/debian:12")),
        "annotations": {"org.opencontainers.image.base.name": "mine", "org.opencontainers.image.base.digest": "d"},
    });
    let annotations = ws.manifest("app", request).json("manifest")["annotations"].clone();
    assert_eq!(
        annotations,
        json!({"org.opencontainers.image.base.digest": "d", "org.opencontainers.image.base.name": "mine"})
    );
    let unnamed = ws.manifest("unnamed", json!({"base": base.as_base(None)})).json("manifest")["annotations"].clone();
    assert_eq!(unnamed, json!({"org.opencontainers.image.base.digest": base.text("digest")}));
}

#[test]
fn created_comes_from_the_file_then_the_timestamp_else_is_absent() {
    let ws = Workspace::new();
    let file = ws.file("created", "2024-05-06T07:08:09Z\n");
    let both = json!({"created": file, "created_timestamp": "2000-01-01T00:00:00Z"});
    assert_eq!(ws.manifest("file", both).json("config")["created"], "2024-05-06T07:08:09Z");
    let stamp = json!({"created_timestamp": "2000-01-01T00:00:00Z"});
    assert_eq!(ws.manifest("stamp", stamp).json("config")["created"], "2000-01-01T00:00:00Z");
    assert!(ws.manifest("none", json!({})).json("config").get("created").is_none());
    ws.manifest("bad", json!({"created_timestamp": "yesterday"})).fails_with(&["created_timestamp", "RFC 3339"]);
}

#[test]
fn base_for_another_platform_is_an_error_naming_both() {
    let ws = Workspace::new();
    let (base, _) = base(&ws);
    let run = ws.manifest("app", json!({"base": base.as_base(None), "architecture": "arm64"}));
    run.fails_with(&["linux/amd64", "linux/arm64", base.path("config").to_str().unwrap()]);
}

#[test]
fn bad_config_fragment_is_an_error_naming_the_file() {
    let ws = Workspace::new();
    let not_json = ws.file("not-json.json", "{\"config\": ");
    ws.manifest("a", json!({"config_fragment": not_json})).fails_with(&["not-json.json", "not JSON"]);
    let wrong_type = ws.file("wrong-type.json", r#"{"config": {"Entrypoint": "/bin/sh"}}"#);
    ws.manifest("b", json!({"config_fragment": wrong_type})).fails_with(&["wrong-type.json", "config.Entrypoint"]);
    let unknown = ws.file("unknown.json", r#"{"config": {"Healthcheck": {"Test": ["true"]}}}"#);
    ws.manifest("c", json!({"config_fragment": unknown})).fails_with(&["unknown.json", "config.Healthcheck"]);
}

#[test]
fn config_fragment_sets_ports_and_volumes_and_request_values_win() {
    let ws = Workspace::new();
    let fragment = ws.file(
        "f.json",
        r#"{"author": "me", "config": {"ExposedPorts": {"80/tcp": {}}, "Volumes": {"/data": {}}, "User": "frag"}}"#,
    );
    let config = ws.manifest("app", json!({"config_fragment": fragment, "user": "attr"})).json("config");
    assert_eq!(config["author"], "me");
    assert_eq!(config["config"]["ExposedPorts"], json!({"80/tcp": {}}));
    assert_eq!(config["config"]["Volumes"], json!({"/data": {}}));
    assert_eq!(config["config"]["User"], "attr");
}

#[test]
fn metadata_file_that_is_not_ours_is_rejected() {
    let ws = Workspace::new();
    let layer = ws.image_layer("one", &[("a.txt", b"a\n", false)], "gzip");
    let mut extra = layer.metadata_json();
    extra["comment"] = json!("not in LayerMetadata");
    let extra = ws.file("extra.json", serde_json::to_vec(&extra).unwrap());
    ws.manifest("a", json!({"layers": [extra]})).fails_with(&[
        "extra.json",
        "comment",
        "not a rules_img layer metadata",
    ]);
    let no_digest = ws.file("no-digest.json", r#"{"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": 3}"#);
    ws.manifest("b", json!({"layers": [no_digest]})).fails_with(&["no-digest.json", "digest"]);
}

#[test]
fn empty_config_makes_an_artifact_with_a_subject() {
    let ws = Workspace::new();
    let (image, _) = base(&ws);
    let request = json!({
        "config_media_type": "application/vnd.oci.empty.v1+json",
        "artifact_type": "application/vnd.example.sbom",
        "subject": image.path("descriptor"),
    });
    let run = ws.manifest("sbom", request);
    let manifest = run.json("manifest");
    assert_eq!(run.text("config"), "{}");
    assert_eq!(
        manifest["config"],
        json!({"mediaType": "application/vnd.oci.empty.v1+json",
               "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
               "size": 2, "data": "e30="})
    );
    assert_eq!(manifest["artifactType"], "application/vnd.example.sbom");
    assert_eq!(manifest["subject"]["digest"], image.text("digest"));
    let descriptor = run.json("descriptor");
    assert!(descriptor.get("platform").is_none(), "an artifact has no platform");
    assert_eq!(descriptor["artifactType"], "application/vnd.example.sbom");
    let untyped = ws.manifest("untyped", json!({"config_media_type": "application/vnd.oci.empty.v1+json"}));
    untyped.fails_with(&["artifact_type"]);
}

#[test]
fn foreign_config_media_type_uses_the_fragment_verbatim() {
    let ws = Workspace::new();
    let fragment = ws.file("helm.json", "{\"name\":\"chart\",  \"version\":\"1.0\"}\n");
    let request = json!({"config_media_type": "application/vnd.cncf.helm.config.v1+json", "config_fragment": fragment});
    let run = ws.manifest("chart", request);
    assert_eq!(run.bytes("config"), std::fs::read(&fragment).unwrap());
    assert_eq!(run.json("manifest")["config"]["mediaType"], "application/vnd.cncf.helm.config.v1+json");
    let missing = json!({"config_media_type": "application/vnd.cncf.helm.config.v1+json"});
    ws.manifest("missing", missing).fails_with(&["config_fragment"]);
}

#[test]
fn index_lists_children_in_order_with_their_platforms() {
    let ws = Workspace::new();
    let amd64 = ws.manifest("amd64", json!({}));
    let arm64 = ws.manifest("arm64", json!({"architecture": "arm64", "variant": "v8"}));
    let annotations = ws.file("index-annotations", "a=file\nb=file\n");
    let run =
        ws.index("multi", &[&amd64, &arm64], json!({"annotations": {"b": "attr"}, "annotations_file": annotations}));
    let index = run.json("index");
    assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(index["manifests"][0], amd64.json("descriptor"));
    assert_eq!(index["manifests"][1]["platform"], json!({"architecture": "arm64", "os": "linux", "variant": "v8"}));
    assert_eq!(index["annotations"], json!({"a": "file", "b": "attr"}));
    let digest = sha256_of_file(run.path("index"));
    assert_eq!(run.text("digest"), digest);
    let size = std::fs::metadata(run.path("index")).unwrap().len();
    assert_eq!(
        run.json("descriptor"),
        json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": size})
    );
}

#[test]
fn index_rejects_two_children_for_the_same_platform() {
    let ws = Workspace::new();
    let first = ws.manifest("first", json!({}));
    let second = ws.manifest("second", json!({"labels": {"other": "image"}}));
    let run = ws.index("dup", &[&first, &second], json!({}));
    run.fails_with(&["linux/amd64", "first.descriptor", "second.descriptor"]);
}

#[test]
fn explicit_entrypoint_keeps_a_cmd_set_by_the_config_fragment() {
    let ws = Workspace::new();
    let (base, _) = base(&ws);
    let fragment = ws.file("cmd.json", r#"{"config": {"Cmd": ["--from-fragment"]}}"#);
    let request = json!({"base": base.as_base(None), "config_fragment": fragment, "entrypoint": ["/app"]});
    let config = ws.manifest("app", request).json("config")["config"].clone();
    assert_eq!((&config["Entrypoint"], &config["Cmd"]), (&json!(["/app"]), &json!(["--from-fragment"])));
}

/// A base as a registry serves a Docker image: Docker media types and Docker-only config fields.
#[test]
fn docker_base_layers_become_oci_media_types_and_docker_only_fields_are_dropped() {
    let ws = Workspace::new();
    let layer = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    let config = json!({
        "architecture": "amd64", "os": "linux", "docker_version": "20.10.24",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "ArgsEscaped": true, "Healthcheck": {"Test": ["NONE"]}},
        "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop)"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:2222222222222222222222222222222222222222222222222222222222222222"]},
    });
    let config_path = ws.file("docker/config.json", serde_json::to_vec(&config).unwrap());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": sha256_of_file(&config_path), "size": std::fs::metadata(&config_path).unwrap().len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": layer, "size": 42}],
    });
    let manifest_path = ws.file("docker/manifest.json", serde_json::to_vec(&manifest).unwrap());
    let descriptor = json!({"mediaType": manifest["mediaType"], "digest": sha256_of_file(&manifest_path),
                            "size": std::fs::metadata(&manifest_path).unwrap().len()});
    let descriptor_path = ws.file("docker/descriptor.json", serde_json::to_vec(&descriptor).unwrap());
    let base = json!({"manifest": manifest_path, "config": config_path, "descriptor": descriptor_path, "name": null});
    let run = ws.manifest("app", json!({"base": base, "env": {"A": "1"}}));
    assert_eq!(
        run.json("manifest")["layers"],
        json!([{"mediaType": GZIP, "digest": layer, "size": 42}]),
        "the Docker layer type is rewritten to its OCI twin"
    );
    let config = run.json("config");
    assert_eq!(config["config"], json!({"Env": ["PATH=/bin", "A=1"], "Cmd": ["sh"]}));
    assert!(config.get("container_config").is_none() && config.get("docker_version").is_none(), "{config}");
}

#[test]
fn an_index_given_as_base_manifest_is_an_error() {
    let ws = Workspace::new();
    let child = ws.manifest("child", json!({}));
    let index = ws.index("multi", &[&child], json!({}));
    let base = json!({"manifest": index.assert_ok().path("index"), "config": child.path("config"),
                      "descriptor": index.path("descriptor"), "name": null});
    ws.manifest("app", json!({"base": base})).fails_with(&["multi.index", "image index"]);
}
