//! Bad input to `img layer`: a clear error naming the culprit, and no output left behind.

mod layer_support;
mod support;

use layer_support::*;
use serde_json::json;

#[test]
fn image_path_escaping_the_root_is_refused() {
    let ws = Workspace::new();
    let file = ws.file("src/f", "x");
    let srcs = ws.srcs("srcs", &[("app/../../etc/passwd", "f", &file)]);
    ws.layer("bad", layer_request(json!({"srcs": srcs}))).fails_with(&[
        "app/../../etc/passwd",
        "escapes the image root",
        "srcs line 1",
    ]);
}

#[test]
fn symlink_escaping_the_root_by_its_path_is_refused() {
    let ws = Workspace::new();
    let request = layer_request(json!({"symlinks": {"../outside": "/etc"}}));
    ws.layer("bad", request).fails_with(&["symlinks[\"../outside\"]", "escapes the image root"]);
}

#[test]
fn dangling_symlink_source_is_refused() {
    let ws = Workspace::new();
    let link = ws.path("src/dangling");
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(ws.path("src/missing-target"), &link).unwrap();
    let srcs = ws.srcs("srcs", &[("app/link", "dangling", &link)]);
    let stderr = ws.layer("bad", layer_request(json!({"srcs": srcs}))).fails_with(&["dangling symlink"]);
    assert!(stderr.contains(&link.display().to_string()), "names the link: {stderr}");
}

#[test]
fn dangling_symlink_inside_a_tree_artifact_is_refused() {
    let ws = Workspace::new();
    ws.file("tree/ok.txt", "fine");
    std::os::unix::fs::symlink("nowhere", ws.path("tree/broken")).unwrap();
    let srcs = ws.srcs("srcs", &[("srv", "tree", &ws.path("tree"))]);
    ws.layer("bad", layer_request(json!({"srcs": srcs}))).fails_with(&["dangling symlink", "tree/broken"]);
}

#[test]
fn two_sources_for_one_path_are_refused_naming_both() {
    let ws = Workspace::new();
    let a = ws.file("src/a", "a");
    let b = ws.file("src/b", "b");
    let srcs = ws.srcs("srcs", &[("app/x", "a", &a), ("app/y", "b", &b)]);
    let request = layer_request(json!({"srcs": srcs, "symlinks": {"app/x": "/elsewhere"}}));
    ws.layer("bad", request).fails_with(&["\"app/x\" is given twice", "srcs line 1", "symlinks[\"app/x\"]"]);
}

#[test]
fn file_below_a_file_is_a_conflict() {
    let ws = Workspace::new();
    let a = ws.file("src/a", "a");
    let b = ws.file("src/b", "b");
    let srcs = ws.srcs("srcs", &[("app", "a", &a), ("app/inner", "b", &b)]);
    ws.layer("bad", layer_request(json!({"srcs": srcs}))).fails_with(&[
        "\"app/inner\"",
        "below \"app\"",
        "not a directory",
    ]);
}

#[test]
fn invalid_mode_in_file_metadata_is_refused() {
    let ws = Workspace::new();
    let a = ws.file("src/a", "a");
    let srcs = ws.srcs("srcs", &[("app/a", "a", &a)]);
    let request = layer_request(json!({"srcs": srcs, "file_metadata": {"app/a": r#"{"mode": "0999"}"#}}));
    ws.layer("bad", request).fails_with(&["file_metadata[\"app/a\"]", "mode \"0999\""]);
}

#[test]
fn invalid_time_in_default_metadata_is_refused() {
    let ws = Workspace::new();
    let a = ws.file("src/a", "a");
    let srcs = ws.srcs("srcs", &[("app/a", "a", &a)]);
    let request = layer_request(json!({"srcs": srcs, "default_metadata": r#"{"mtime": "last tuesday"}"#}));
    ws.layer("bad", request).fails_with(&["default_metadata", "mtime \"last tuesday\"", "RFC 3339"]);
}

#[test]
fn unused_file_metadata_key_is_refused() {
    let ws = Workspace::new();
    let a = ws.file("src/a", "a");
    let srcs = ws.srcs("srcs", &[("app/a", "a", &a)]);
    let request = layer_request(json!({"srcs": srcs, "file_metadata": {"/app/typo": r#"{"mode": "0644"}"#}}));
    ws.layer("bad", request).fails_with(&["not in the layer", "/app/typo"]);
}

#[test]
fn missing_source_file_is_refused() {
    let ws = Workspace::new();
    let srcs = ws.srcs("srcs", &[("app/a", "a", &ws.path("src/never-built"))]);
    ws.layer("bad", layer_request(json!({"srcs": srcs}))).fails_with(&["src/never-built", "No such file"]);
}

#[test]
fn malformed_srcs_line_is_refused() {
    let ws = Workspace::new();
    let srcs = ws.file("srcs", "only-one-field\n");
    ws.layer("bad", layer_request(json!({"srcs": srcs}))).fails_with(&["srcs:1", "expected `<image path>"]);
}

#[test]
fn out_of_range_compression_level_is_refused() {
    let ws = Workspace::new();
    let request = layer_request(json!({"compression_level": 12}));
    ws.layer("bad", request).fails_with(&["gzip compression_level 12"]);
}

#[test]
fn estargz_with_zstd_is_refused() {
    let ws = Workspace::new();
    let request = layer_request(json!({"estargz": true, "compress": "zstd"}));
    ws.layer("bad", request).fails_with(&["estargz needs gzip"]);
}

#[test]
fn estargz_reserved_name_is_refused() {
    let ws = Workspace::new();
    let a = ws.file("src/a", "a");
    let srcs = ws.srcs("srcs", &[("stargz.index.json", "a", &a)]);
    let request = layer_request(json!({"srcs": srcs, "estargz": true}));
    ws.layer("bad", request).fails_with(&["\"stargz.index.json\" is reserved"]);
}

#[test]
fn unknown_request_field_is_refused() {
    let ws = Workspace::new();
    let mut request = layer_request(json!({}));
    request["colour"] = json!("blue");
    ws.layer("bad", request).fails_with(&["does not match what this `img` expects", "colour"]);
}

#[test]
fn stale_outputs_from_an_earlier_run_are_removed_on_failure() {
    let ws = Workspace::new();
    let blob = ws.file("out/bad.blob", "stale");
    let metadata = ws.file("out/bad.json", "{}");
    let srcs = ws.srcs("srcs", &[("app/a", "a", &ws.path("src/never-built"))]);
    ws.layer("bad", layer_request(json!({"srcs": srcs}))).fails_with(&["never-built"]);
    assert!(!blob.exists() && !metadata.exists());
}
