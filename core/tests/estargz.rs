//! eStargz layers, verified without any of the writer's code: the footer and TOC are parsed here
//! from the eStargz spec, every chunk is decompressed from its own gzip member and checked against
//! its chunkDigest, and GNU tar, gzip and sha256sum check the blob as an ordinary tar.gz.

mod layer_support;
mod support;

use std::io::Read;
use std::path::Path;

use layer_support::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const FOOTER: usize = 51;

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Decompresses the single gzip member starting at `offset`.
fn member(blob: &[u8], offset: usize) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&blob[offset..]).read_to_end(&mut out).unwrap();
    out
}

/// Parses footer and TOC of an eStargz blob and checks every chunk; returns the TOC.
fn verify_estargz(blob_path: &Path, metadata: &Value, files: &[(&str, &[u8])]) -> Value {
    let blob = std::fs::read(blob_path).unwrap();
    // Footer: empty gzip member with FEXTRA; XLEN 26; subfield "SG", LEN 22, "%016xSTARGZ".
    let footer = &blob[blob.len() - FOOTER..];
    assert_eq!(&footer[..4], &[0x1f, 0x8b, 8, 4], "gzip header with FEXTRA");
    assert_eq!(u16::from_le_bytes([footer[10], footer[11]]), 26);
    assert_eq!(&footer[12..14], b"SG");
    assert_eq!(u16::from_le_bytes([footer[14], footer[15]]), 22);
    assert_eq!(&footer[32..38], b"STARGZ");
    let toc_offset = usize::from_str_radix(std::str::from_utf8(&footer[16..32]).unwrap(), 16).unwrap();
    assert!(member(footer, 0).is_empty(), "footer decompresses to nothing");

    // TOC: a tar entry `stargz.index.json` in its own gzip member, then the end-of-archive.
    let toc_tar = member(&blob, toc_offset);
    assert_eq!(&toc_tar[..17], b"stargz.index.json");
    let size_field = std::str::from_utf8(&toc_tar[124..135]).unwrap();
    let toc_size = usize::from_str_radix(size_field, 8).unwrap();
    let json_bytes = &toc_tar[512..512 + toc_size];
    let padded = 512 + toc_size.div_ceil(512) * 512;
    assert_eq!(toc_tar.len(), padded + 1024, "TOC entry followed by two zero blocks");
    assert!(toc_tar[padded..].iter().all(|&b| b == 0));
    let annotations = &metadata["annotations"];
    assert_eq!(annotations["containerd.io/snapshot/stargz/toc.digest"], sha256(json_bytes));
    let toc: Value = serde_json::from_slice(json_bytes).unwrap();
    assert_eq!(toc["version"], 1);

    // Every regular file: chunks in order, each from the gzip member at its offset.
    let entries = toc["entries"].as_array().unwrap();
    let mut contents: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
    for (index, entry) in entries.iter().enumerate() {
        let kind = entry["type"].as_str().unwrap();
        let name = entry["name"].as_str().unwrap().to_owned();
        let size = entry["size"].as_u64().unwrap_or(0);
        if !(kind == "chunk" || (kind == "reg" && size > 0)) {
            continue;
        }
        let file_size = if kind == "reg" {
            size
        } else {
            entries[..index].iter().rev().find(|e| e["type"] == "reg").unwrap()["size"].as_u64().unwrap()
        };
        let chunk_offset = entry["chunkOffset"].as_u64().unwrap_or(0);
        let chunk_size = match entry["chunkSize"].as_u64().unwrap_or(0) {
            0 => file_size - chunk_offset,
            n => n,
        } as usize;
        let offset = entry["offset"].as_u64().expect("chunk has an offset") as usize;
        let data = member(&blob, offset);
        let chunk = &data[..chunk_size];
        assert_eq!(entry["chunkDigest"].as_str().unwrap(), sha256(chunk), "chunk {index} of {name}");
        let content = contents.entry(name).or_default();
        assert_eq!(content.len() as u64, chunk_offset, "chunks in order");
        content.extend_from_slice(chunk);
    }
    for entry in entries.iter().filter(|e| e["type"] == "reg") {
        let name = entry["name"].as_str().unwrap();
        let content = contents.get(name).cloned().unwrap_or_default();
        assert_eq!(entry["digest"].as_str().unwrap(), sha256(&content), "digest of {name}");
    }
    for (name, expected) in files {
        assert_eq!(contents.get(*name).map(Vec::as_slice), Some(*expected), "content of {name}");
    }
    assert_eq!(entries[0]["name"], ".no.prefetch.landmark");
    assert_eq!(contents[".no.prefetch.landmark"], [0x0f]);

    // As an ordinary tar.gz: valid gzip, diff_id and uncompressed size of the decompressed stream.
    let (diff_id, uncompressed) = decompressed_sha256(GZIP, blob_path);
    assert_eq!(metadata["diff_id"], diff_id, "diff_id is sha256 of the whole decompressed blob");
    assert_eq!(annotations["io.containers.estargz.uncompressed-size"], uncompressed.to_string());
    toc
}

fn noise(len: usize) -> Vec<u8> {
    let mut state = 99u64;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

#[test]
fn estargz_layer_has_a_valid_footer_toc_and_chunk_digests() {
    let ws = Workspace::new();
    let big = noise(9 * 1024 * 1024 + 123);
    let small = b"small file\n".to_vec();
    let big_path = ws.file("src/big.bin", &big);
    let small_path = ws.file("src/small.txt", &small);
    let copy_path = ws.file("src/copy.txt", &small);
    let empty_path = ws.file("src/empty", "");
    let srcs = ws.srcs(
        "srcs",
        &[
            ("data/big.bin", "big.bin", &big_path),
            ("data/small.txt", "small.txt", &small_path),
            ("data/copy.txt", "copy.txt", &copy_path),
            ("data/empty", "empty", &empty_path),
        ],
    );
    let request = layer_request(json!({
        "srcs": srcs, "estargz": true, "create_parent_directories": true,
        "symlinks": {"data/latest": "big.bin"},
    }));
    let run = ws.layer("esgz", request);
    let metadata = run.ok();
    assert_eq!(metadata["mediaType"], GZIP);
    verify_layer(&run, &metadata);
    let toc = verify_estargz(&run.blob, &metadata, &[("data/big.bin", &big), ("data/copy.txt", &small)]);
    let chunks = toc["entries"].as_array().unwrap().iter().filter(|e| e["name"] == "data/big.bin").count();
    assert_eq!(chunks, 3, "a 9 MiB file is three 4 MiB chunks");
    insta::assert_snapshot!(listing(&run, GZIP), @r"
    -rw-r--r-- 0/0               1 1970-01-01 00:00 .no.prefetch.landmark
    drwxr-xr-x 0/0               0 1970-01-01 00:00 data/
    -rw-r--r-- 0/0         9437307 1970-01-01 00:00 data/big.bin
    -rw-r--r-- 0/0              11 1970-01-01 00:00 data/copy.txt
    -rw-r--r-- 0/0               0 1970-01-01 00:00 data/empty
    lrwxrwxrwx 0/0               0 1970-01-01 00:00 data/latest -> big.bin
    hrw-r--r-- 0/0               0 1970-01-01 00:00 data/small.txt link to data/copy.txt
    -rw-r--r-- 0/0            1767 1970-01-01 00:00 stargz.index.json
    ");
}

#[test]
fn estargz_bytes_do_not_depend_on_compression_jobs() {
    let ws = Workspace::new();
    let big_path = ws.file("src/big.bin", noise(5 * 1024 * 1024));
    let text = ws.file("src/text.txt", "text ".repeat(100_000));
    let srcs = ws.srcs("srcs", &[("big.bin", "big.bin", &big_path), ("text.txt", "text.txt", &text)]);
    let blobs: Vec<Vec<u8>> = [1, 2, 3]
        .iter()
        .map(|jobs| {
            let run = ws.layer(
                &format!("jobs{jobs}"),
                layer_request(json!({"srcs": srcs, "estargz": true, "compression_jobs": jobs})),
            );
            run.ok();
            std::fs::read(&run.blob).unwrap()
        })
        .collect();
    assert!(blobs[0] == blobs[1] && blobs[1] == blobs[2]);
}

#[test]
fn layer_from_tar_converts_a_tar_to_estargz() {
    let ws = Workspace::new();
    let payload = noise(4 * 1024 * 1024 + 1);
    ws.file("rootfs/opt/blob", &payload);
    ws.file("rootfs/etc/motd", "hello\n");
    let src = ws.path("in.tar.zst");
    sh(&format!("tar -C '{}' --sort=name --zstd -cf '{}' opt etc", ws.path("rootfs").display(), src.display()));
    let run = ws.layer_from_tar("esgz", from_tar_request(&src, json!({"estargz": true})));
    let metadata = run.ok();
    assert_eq!(metadata["mediaType"], GZIP);
    verify_layer(&run, &metadata);
    let toc = verify_estargz(&run.blob, &metadata, &[("opt/blob", &payload), ("etc/motd", b"hello\n")]);
    let names: Vec<&str> = toc["entries"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, [".no.prefetch.landmark", "opt/", "opt/blob", "opt/blob", "etc/", "etc/motd"]);

    // Converting the result again replaces the landmark and TOC instead of duplicating them.
    let again = ws.layer_from_tar("again", from_tar_request(&run.blob, json!({"estargz": true})));
    let metadata = again.ok();
    let toc = verify_estargz(&again.blob, &metadata, &[("opt/blob", &payload)]);
    assert_eq!(toc["entries"].as_array().unwrap().len(), names.len());
}
