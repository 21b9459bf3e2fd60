//! Helpers for the layer tests: a scratch workspace, running the built `img`, and checking results
//! with real tools (GNU tar, gzip, zstd, sha256sum), never with our own code.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

pub struct Workspace {
    pub dir: tempfile::TempDir,
}

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
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("out")).unwrap();
        Self { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file (creating parents); returns its path.
    pub fn file(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        path
    }

    pub fn executable(&self, rel: &str, content: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.file(rel, content);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// Writes a `srcs` param file from (image path, relative path, host path) triples.
    pub fn srcs(&self, name: &str, lines: &[(&str, &str, &Path)]) -> PathBuf {
        let text: String =
            lines.iter().map(|(image, rel, host)| format!("{image}\0{rel}\0s{}\n", host.display())).collect();
        self.file(name, text)
    }

    /// Runs `img <action>` with `request` written to a file; outputs go to `out/<name>.*`.
    pub fn run(&self, action: &str, name: &str, request: &Value) -> Run {
        let request_path = self.file(&format!("{name}.request.json"), serde_json::to_vec_pretty(request).unwrap());
        let blob = self.path(&format!("out/{name}.blob"));
        let metadata = self.path(&format!("out/{name}.json"));
        let output = Command::new(env!("CARGO_BIN_EXE_img"))
            .arg(action)
            .arg("--request")
            .arg(&request_path)
            .arg(format!("--output=blob={}", blob.display()))
            .arg(format!("--output=metadata={}", metadata.display()))
            .output()
            .unwrap();
        Run { output, blob, metadata }
    }

    pub fn layer(&self, name: &str, request: Value) -> Run {
        self.run("layer", name, &request)
    }

    pub fn layer_from_tar(&self, name: &str, request: Value) -> Run {
        self.run("layer-from-tar", name, &request)
    }
}

/// A complete `img layer` request: `fields` override the defaults.
pub fn layer_request(fields: Value) -> Value {
    let mut request = json!({
        "created_by": "bazel build //test:layer",
        "compress": "gzip",
        "compression_level": null,
        "compression_jobs": 2,
        "estargz": false,
        "create_parent_directories": false,
        "media_type": null,
        "annotations": {},
        "annotations_file": null,
        "default_metadata": null,
        "file_metadata": {},
        "srcs": null,
        "multi_file_layout": "package_relative",
        "executables": [],
        "symlinks": {},
    });
    merge(&mut request, fields);
    request
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

fn merge(base: &mut Value, fields: Value) {
    for (key, value) in fields.as_object().unwrap() {
        base[key] = value.clone();
    }
}

/// Fails with the install hint when a tool the test relies on is missing.
pub fn require(tool: &str) {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).stdout(Stdio::null()).status();
    assert!(
        found.is_ok_and(|s| s.success()),
        "`{tool}` is needed by this test; install it with scripts/install-test-deps.sh"
    );
}

/// Runs a shell pipeline and returns its stdout (panics on failure).
pub fn sh(script: &str) -> String {
    let output = Command::new("sh").arg("-c").arg(script).env("TZ", "UTC").env("LC_ALL", "C").output().unwrap();
    assert!(output.status.success(), "`{script}` failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}

/// `sha256:<hex>` of a file, by `sha256sum`.
pub fn sha256_of_file(path: &Path) -> String {
    require("sha256sum");
    format!("sha256:{}", &sh(&format!("sha256sum < {}", quote(path)))[..64])
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
