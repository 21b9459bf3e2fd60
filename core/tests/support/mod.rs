//! What the helpers of the layer, image and load tests share: a scratch workspace, running the
//! built `img` on a request file, and checks with real tools (never with our own code).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

pub use e2e::runtimes::require;

/// A scratch directory; `img` writes its outputs under `out/`.
pub struct Workspace {
    pub dir: tempfile::TempDir,
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

    /// Runs `img <action> --request <name>.<action>.request.json --output=<name>=<path>...`.
    pub fn img(&self, action: &str, name: &str, request: &Value, outputs: &[(String, PathBuf)]) -> Output {
        let request_path =
            self.file(&format!("{name}.{action}.request.json"), serde_json::to_vec_pretty(request).unwrap());
        let mut command = Command::new(env!("CARGO_BIN_EXE_img"));
        command.arg(action).arg("--request").arg(&request_path);
        for (output, path) in outputs {
            command.arg(format!("--output={output}={}", path.display()));
        }
        command.output().unwrap()
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

/// Sets the top-level `fields` of a JSON object.
pub fn merge(base: &mut Value, fields: Value) {
    for (key, value) in fields.as_object().unwrap() {
        base[key] = value.clone();
    }
}

/// Runs a shell pipeline (UTC, C locale) and returns its stdout (panics on failure, showing its
/// output).
pub fn sh(script: &str) -> String {
    let output = Command::new("sh").arg("-c").arg(script).env("TZ", "UTC").env("LC_ALL", "C").output().unwrap();
    assert!(
        output.status.success(),
        "`{script}` failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A path quoted for `sh`.
pub fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}

/// `sha256:<hex>` of a file, by `sha256sum`.
pub fn sha256_of_file(path: &Path) -> String {
    require("sha256sum");
    format!("sha256:{}", &sh(&format!("sha256sum < {}", quote(path)))[..64])
}
