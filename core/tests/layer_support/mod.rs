//! Helpers for the layer tests: running the built `img layer` / `layer-from-tar` in a
//! [`Workspace`], and checking results with real tools (GNU tar, gzip, zstd, sha256sum), never
//! with our own code.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

// What the tests `use …_support::*` for; not every test crate uses each.
#[allow(unused_imports)]
pub use crate::support::{layer_request, merge, quote, require, sh, sha256_of_file, Workspace};

/// Result of one `img` run.
pub struct Run {
    pub output: Output,
    pub blob: PathBuf,
    pub metadata: PathBuf,
}

impl Run {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Asserts success and returns the metadata JSON.
    pub fn ok(&self) -> Value {
        assert!(self.output.status.success(), "img failed: {}", self.stderr());
        serde_json::from_slice(&std::fs::read(&self.metadata).unwrap()).unwrap()
    }

    /// Asserts failure with every `needle` in the message and no output left behind.
    pub fn fails_with(&self, needles: &[&str]) -> String {
        let stderr = self.stderr();
        assert!(!self.output.status.success(), "img unexpectedly succeeded");
        for needle in needles {
            assert!(stderr.contains(needle), "error message lacks {needle:?}: {stderr}");
        }
        assert!(!self.blob.exists(), "blob left behind after: {stderr}");
        assert!(!self.metadata.exists(), "metadata left behind after: {stderr}");
        let out_dir = self.blob.parent().unwrap();
        let leftovers: Vec<_> = std::fs::read_dir(out_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(leftovers.is_empty(), "temporary files left behind: {leftovers:?}");
        stderr
    }
}

impl Workspace {
    pub fn layer(&self, name: &str, request: Value) -> Run {
        self.layer_run("layer", name, &request)
    }

    pub fn layer_from_tar(&self, name: &str, request: Value) -> Run {
        self.layer_run("layer-from-tar", name, &request)
    }

    /// Runs `img <action>` (a layer action); its outputs go to `out/<name>.blob` and `.json`.
    fn layer_run(&self, action: &str, name: &str, request: &Value) -> Run {
        let blob = self.path(&format!("out/{name}.blob"));
        let metadata = self.path(&format!("out/{name}.json"));
        let outputs = [("blob".to_owned(), blob.clone()), ("metadata".to_owned(), metadata.clone())];
        Run { output: self.img(action, name, request, &outputs), blob, metadata }
    }
}

/// A complete `img layer-from-tar` request.
pub fn from_tar_request(src: &Path, fields: Value) -> Value {
    let mut request = json!({
        "created_by": "bazel build //test:from_tar",
        "src": src,
        "compress": "keep",
        "compression_level": null,
        "compression_jobs": 2,
        "estargz": false,
        "optimize": false,
        "media_type": null,
        "annotations": {},
    });
    merge(&mut request, fields);
    request
}

/// The command that decompresses a blob of `media_type` to stdout.
fn decompress_command(media_type: &str, path: &Path) -> String {
    if media_type.ends_with("+gzip") {
        require("gzip");
        format!("gzip -dc < {}", quote(path))
    } else if media_type.ends_with("+zstd") {
        require("zstd");
        format!("zstd -dcq < {}", quote(path))
    } else {
        format!("cat {}", quote(path))
    }
}

/// `sha256:<hex>` and length of the decompressed blob, by gzip/zstd and sha256sum.
pub fn decompressed_sha256(media_type: &str, path: &Path) -> (String, u64) {
    let decompress = decompress_command(media_type, path);
    let hash = sh(&format!("{decompress} | sha256sum"));
    let size: u64 = sh(&format!("{decompress} | wc -c")).trim().parse().unwrap();
    (format!("sha256:{}", &hash[..64]), size)
}

/// Checks digest, size, diff_id and integrity of a finished layer against real tools.
pub fn verify_layer(run: &Run, metadata: &Value) {
    let media_type = metadata["mediaType"].as_str().unwrap();
    assert_eq!(metadata["digest"], sha256_of_file(&run.blob), "digest is sha256 of the blob");
    assert_eq!(metadata["size"], std::fs::metadata(&run.blob).unwrap().len(), "size is the blob's length");
    let (diff_id, _) = decompressed_sha256(media_type, &run.blob);
    assert_eq!(metadata["diff_id"], diff_id, "diff_id is sha256 of the decompressed blob");
    if media_type.ends_with("+gzip") {
        sh(&format!("gzip -t {}", quote(&run.blob)));
    } else if media_type.ends_with("+zstd") {
        sh(&format!("zstd -tq {}", quote(&run.blob)));
    }
    assert_eq!(metadata["history"][0]["created_by"].as_str().map(|s| s.starts_with("bazel build")), Some(true));
}

/// GNU tar's verbose listing of a blob (compression detected by tar itself), in UTC.
pub fn listing(run: &Run, media_type: &str) -> String {
    require("tar");
    sh(&format!("{} | tar -tvv --numeric-owner -f -", decompress_command(media_type, &run.blob)))
}

/// GNU tar's listing with owner names (for metadata overrides).
pub fn listing_with_names(run: &Run, media_type: &str) -> String {
    sh(&format!("{} | tar -tvv -f -", decompress_command(media_type, &run.blob)))
}

/// The raw decompressed tar bytes.
pub fn decompressed(media_type: &str, path: &Path) -> Vec<u8> {
    let output = Command::new("sh").arg("-c").arg(decompress_command(media_type, path)).output().unwrap();
    assert!(output.status.success());
    output.stdout
}
