//! `img layer-from-tar`: input tars made by GNU tar, results checked by GNU tar, gzip, zstd and
//! sha256sum; bad input refused with nothing left behind.

mod layer_support;
mod support;

use std::path::PathBuf;

use layer_support::*;
use serde_json::json;

const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// A small root filesystem, with two identical files, as a tar made by GNU tar with `flags`.
fn input_tar(ws: &Workspace, name: &str, flags: &str) -> PathBuf {
    require("tar");
    ws.file("rootfs/etc/hostname", "box\n");
    ws.file("rootfs/usr/share/doc/a/LICENSE", "Same license text.\n".repeat(50));
    ws.file("rootfs/usr/share/doc/b/LICENSE", "Same license text.\n".repeat(50));
    ws.file("rootfs/usr/bin/tool", "binary");
    let link = ws.path("rootfs/usr/bin/alias");
    if !link.exists() {
        std::os::unix::fs::symlink("tool", &link).unwrap();
    }
    let tar = ws.path(name);
    sh(&format!(
        "tar -C '{}' --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 {flags} -cf '{}' etc usr",
        ws.path("rootfs").display(),
        tar.display()
    ));
    tar
}

#[test]
fn keep_copies_every_compression_through_unchanged() {
    let ws = Workspace::new();
    for (name, flags, media_type) in [("plain.tar", "", TAR), ("in.tgz", "-z", GZIP), ("in.tar.zst", "--zstd", ZSTD)] {
        let src = input_tar(&ws, name, flags);
        let run = ws.layer_from_tar(name, from_tar_request(&src, json!({})));
        let metadata = run.ok();
        assert_eq!(metadata["mediaType"], media_type, "{name}: compression sniffed from the bytes");
        verify_layer(&run, &metadata);
        assert_eq!(std::fs::read(&run.blob).unwrap(), std::fs::read(&src).unwrap(), "{name} copied as is");
    }
}

#[test]
fn compression_is_sniffed_from_magic_bytes_not_the_name() {
    let ws = Workspace::new();
    let src = input_tar(&ws, "misleading.tar", "--zstd");
    let run = ws.layer_from_tar("sniffed", from_tar_request(&src, json!({})));
    let metadata = run.ok();
    assert_eq!(metadata["mediaType"], ZSTD);
    verify_layer(&run, &metadata);
}

#[test]
fn recompression_keeps_the_tar_and_so_the_diff_id() {
    let ws = Workspace::new();
    let src = input_tar(&ws, "in.tar.zst", "--zstd");
    let (input_diff_id, _) = decompressed_sha256(ZSTD, &src);
    for (compress, media_type) in [("gzip", GZIP), ("none", TAR), ("zstd", ZSTD)] {
        let run = ws.layer_from_tar(compress, from_tar_request(&src, json!({"compress": compress})));
        let metadata = run.ok();
        assert_eq!(metadata["mediaType"], media_type);
        verify_layer(&run, &metadata);
        assert_eq!(metadata["diff_id"], input_diff_id, "{compress}: same tar inside");
    }
}

#[test]
fn optimize_turns_identical_files_into_hardlinks_and_keeps_input_order() {
    let ws = Workspace::new();
    let src = input_tar(&ws, "in.tgz", "-z");
    let run = ws.layer_from_tar("optimized", from_tar_request(&src, json!({"optimize": true, "compress": "gzip"})));
    let metadata = run.ok();
    verify_layer(&run, &metadata);
    insta::assert_snapshot!(listing(&run, GZIP), @r"
    drwxr-xr-x 0/0               0 1970-01-01 00:00 etc/
    -rw-r--r-- 0/0               4 1970-01-01 00:00 etc/hostname
    drwxr-xr-x 0/0               0 1970-01-01 00:00 usr/
    drwxr-xr-x 0/0               0 1970-01-01 00:00 usr/bin/
    lrwxrwxrwx 0/0               0 1970-01-01 00:00 usr/bin/alias -> tool
    -rw-r--r-- 0/0               6 1970-01-01 00:00 usr/bin/tool
    drwxr-xr-x 0/0               0 1970-01-01 00:00 usr/share/
    drwxr-xr-x 0/0               0 1970-01-01 00:00 usr/share/doc/
    drwxr-xr-x 0/0               0 1970-01-01 00:00 usr/share/doc/a/
    -rw-r--r-- 0/0             950 1970-01-01 00:00 usr/share/doc/a/LICENSE
    drwxr-xr-x 0/0               0 1970-01-01 00:00 usr/share/doc/b/
    hrw-r--r-- 0/0               0 1970-01-01 00:00 usr/share/doc/b/LICENSE link to usr/share/doc/a/LICENSE
    ");
}

#[test]
fn optimize_with_keep_recompresses_with_the_input_algorithm() {
    let ws = Workspace::new();
    let src = input_tar(&ws, "in.tar.zst", "--zstd");
    let run = ws.layer_from_tar("optimized", from_tar_request(&src, json!({"optimize": true})));
    let metadata = run.ok();
    assert_eq!(metadata["mediaType"], ZSTD);
    verify_layer(&run, &metadata);
    assert!(listing(&run, ZSTD).contains("link to usr/share/doc/a/LICENSE"));
}

#[test]
fn fifos_in_imported_tars_are_passed_through() {
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.path("fifo")).unwrap();
    sh(&format!("mkfifo '{}'", ws.path("fifo/pipe").display()));
    let src = ws.path("fifo.tar");
    sh(&format!("tar -C '{}' --owner=0 --group=0 --mtime=@0 -cf '{}' pipe", ws.path("fifo").display(), src.display()));
    for optimize in [false, true] {
        let run = ws.layer_from_tar(&format!("fifo-{optimize}"), from_tar_request(&src, json!({"optimize": optimize})));
        let metadata = run.ok();
        verify_layer(&run, &metadata);
        assert!(listing(&run, TAR).starts_with("prw-r--r-- 0/0               0 1970-01-01 00:00 pipe"));
    }
}

#[test]
fn hardlink_to_a_missing_entry_is_refused() {
    let ws = Workspace::new();
    ws.file("links/first", "shared");
    sh(&format!("ln '{}' '{}'", ws.path("links/first").display(), ws.path("links/second").display()));
    let src = ws.path("links.tar");
    sh(&format!("tar -C '{}' -cf '{}' first second", ws.path("links").display(), src.display()));
    // GNU tar deletes the file the hardlink points to: the link now dangles.
    sh(&format!("tar --delete -f '{}' first", src.display()));
    for optimize in [false, true] {
        let run =
            ws.layer_from_tar(&format!("links-{optimize}"), from_tar_request(&src, json!({"optimize": optimize})));
        run.fails_with(&["links.tar", "entry \"second\"", "hardlink to \"first\"", "not an earlier entry"]);
    }
}

#[test]
fn entries_escaping_the_root_are_refused() {
    let ws = Workspace::new();
    ws.file("dir/inside/f", "x");
    ws.file("dir/outside", "y");
    let dotdot = ws.path("dotdot.tar");
    sh(&format!("cd '{}' && tar -P -cf '{}' ../outside", ws.path("dir/inside").display(), dotdot.display()));
    ws.layer_from_tar("dotdot", from_tar_request(&dotdot, json!({}))).fails_with(&[
        "dotdot.tar",
        "entry \"../outside\"",
        "escapes the root",
    ]);
    let absolute = ws.path("absolute.tar");
    sh(&format!("tar -P -cf '{}' '{}'", absolute.display(), ws.path("dir/outside").display()));
    ws.layer_from_tar("absolute", from_tar_request(&absolute, json!({"optimize": true})))
        .fails_with(&["absolute.tar", "absolute path"]);
}

#[test]
fn truncated_gzip_input_is_refused() {
    let ws = Workspace::new();
    let src = input_tar(&ws, "in.tgz", "-z");
    let full = std::fs::read(&src).unwrap();
    let truncated = ws.file("truncated.tgz", &full[..full.len() / 2]);
    for compress in ["keep", "zstd"] {
        ws.layer_from_tar(
            &format!("truncated-{compress}"),
            from_tar_request(&truncated, json!({"compress": compress})),
        )
        .fails_with(&["truncated.tgz", "cannot be read as a gzip-compressed tar"]);
    }
}

#[test]
fn corrupt_zstd_input_is_refused() {
    let ws = Workspace::new();
    let src = input_tar(&ws, "in.tar.zst", "--zstd");
    let mut bytes = std::fs::read(&src).unwrap();
    let middle = bytes.len() / 2;
    for byte in &mut bytes[middle..middle + 16] {
        *byte ^= 0x5a;
    }
    let corrupt = ws.file("corrupt.tar.zst", &bytes);
    ws.layer_from_tar("corrupt", from_tar_request(&corrupt, json!({})))
        .fails_with(&["corrupt.tar.zst", "cannot be read as a zstd-compressed tar"]);
    let truncated = ws.file("truncated.tar.zst", &std::fs::read(&src).unwrap()[..middle]);
    ws.layer_from_tar("truncated", from_tar_request(&truncated, json!({"optimize": true})))
        .fails_with(&["truncated.tar.zst", "zstd-compressed tar"]);
}

#[test]
fn a_file_that_is_not_a_tar_is_refused() {
    let ws = Workspace::new();
    let text = ws.file("notes.tar", "These are notes, not a tar archive.\n".repeat(40));
    ws.layer_from_tar("text", from_tar_request(&text, json!({}))).fails_with(&["notes.tar", "cannot be read as a tar"]);
    let short = ws.file("short.tar", "tiny");
    ws.layer_from_tar("short", from_tar_request(&short, json!({}))).fails_with(&["short.tar"]);
    let empty = ws.file("empty.tar", "");
    ws.layer_from_tar("empty", from_tar_request(&empty, json!({}))).fails_with(&["empty.tar", "is empty, not a tar"]);
    require("gzip");
    let gz = ws.path("notes.tgz");
    sh(&format!("gzip -c '{}' > '{}'", text.display(), gz.display()));
    ws.layer_from_tar("gz", from_tar_request(&gz, json!({"compress": "gzip"})))
        .fails_with(&["notes.tgz", "gzip-compressed tar"]);
}

#[test]
fn estargz_needs_gzip_output() {
    let ws = Workspace::new();
    let src = input_tar(&ws, "in.tgz", "-z");
    ws.layer_from_tar("bad", from_tar_request(&src, json!({"estargz": true, "compress": "zstd"})))
        .fails_with(&["estargz needs gzip"]);
}
