//! Helpers for the image tests: a scratch workspace, real layers from `img layer`, and running the
//! built `img manifest` / `index` / `oci-layout` / `docker-save`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

pub const INHERIT: &str = "<inherit from base>";
pub const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

pub struct Workspace {
    pub dir: tempfile::TempDir,
}

/// A layer made by `img layer`.
#[derive(Clone)]
pub struct Layer {
    pub blob: PathBuf,
    pub metadata: PathBuf,
}

impl Layer {
    pub fn metadata_json(&self) -> Value {
        serde_json::from_slice(&std::fs::read(&self.metadata).unwrap()).unwrap()
    }

    /// The `LayerFiles` of a request.
    pub fn files(&self) -> Value {
        json!({"metadata": self.metadata, "blob": self.blob})
    }
}

/// Result of one `img` run: its outputs by name.
pub struct Run {
    pub output: Output,
    pub outputs: Vec<(String, PathBuf)>,
}

impl Run {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn path(&self, name: &str) -> &Path {
        &self.outputs.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no output {name}")).1
    }

    pub fn assert_ok(&self) -> &Self {
        assert!(self.output.status.success(), "img failed: {}", self.stderr());
        self
    }

    /// Output `name` parsed as JSON (asserts success).
    pub fn json(&self, name: &str) -> Value {
        self.assert_ok();
        serde_json::from_slice(&std::fs::read(self.path(name)).unwrap()).unwrap()
    }

    pub fn text(&self, name: &str) -> String {
        self.assert_ok();
        std::fs::read_to_string(self.path(name)).unwrap()
    }

    pub fn bytes(&self, name: &str) -> Vec<u8> {
        self.assert_ok();
        std::fs::read(self.path(name)).unwrap()
    }

    /// Asserts failure with every `needle` in the message and no output (or temporary) left behind.
    pub fn fails_with(&self, needles: &[&str]) -> String {
        let stderr = self.stderr();
        assert!(!self.output.status.success(), "img unexpectedly succeeded");
        for needle in needles {
            assert!(stderr.contains(needle), "error message lacks {needle:?}: {stderr}");
        }
        for (name, path) in &self.outputs {
            assert!(!path.exists(), "output {name} left behind after: {stderr}");
            let dir = path.parent().unwrap();
            let temps: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".img-tmp-"))
                .collect();
            assert!(temps.is_empty(), "temporary files left behind: {temps:?}");
        }
        stderr
    }

    /// The `BaseImage` of a request, from a manifest run.
    pub fn as_base(&self, name: Option<&str>) -> Value {
        self.assert_ok();
        json!({
            "manifest": self.path("manifest"),
            "config": self.path("config"),
            "descriptor": self.path("descriptor"),
            "name": name,
        })
    }

    /// The `ImageFiles` of a request, from a manifest run and its layers (base layers first).
    pub fn image_files(&self, layers: &[&Layer]) -> Value {
        self.assert_ok();
        json!({
            "manifest": self.path("manifest"),
            "config": self.path("config"),
            "layers": layers.iter().map(|l| l.files()).collect::<Vec<_>>(),
        })
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

    /// Runs `img <action> --request R --output NAME=out/<name>.<NAME>...`.
    pub fn run(&self, action: &str, name: &str, request: &Value, outputs: &[&str]) -> Run {
        let request_path =
            self.file(&format!("{name}.{action}.request.json"), serde_json::to_vec_pretty(request).unwrap());
        let outputs: Vec<(String, PathBuf)> =
            outputs.iter().map(|o| (o.to_string(), self.path(&format!("out/{name}.{o}")))).collect();
        let mut command = Command::new(env!("CARGO_BIN_EXE_img"));
        command.arg(action).arg("--request").arg(&request_path);
        for (output, path) in &outputs {
            command.arg(format!("--output={output}={}", path.display()));
        }
        Run { output: command.output().unwrap(), outputs }
    }

    /// A layer from `(image path, content, executable)` files, built by the real `img layer`.
    pub fn layer(&self, name: &str, files: &[(&str, &[u8], bool)], compress: &str) -> Layer {
        use std::os::unix::fs::PermissionsExt;
        let mut srcs = String::new();
        for (index, (image_path, content, executable)) in files.iter().enumerate() {
            let host = self.file(&format!("src/{name}/{index}"), content);
            if *executable {
                std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            srcs.push_str(&format!("{image_path}\0{index}\0s{}\n", host.display()));
        }
        let srcs = self.file(&format!("src/{name}.srcs"), srcs);
        let request = json!({
            "created_by": format!("bazel build //test:{name}"),
            "compress": compress,
            "compression_level": null,
            "compression_jobs": 1,
            "estargz": false,
            "create_parent_directories": true,
            "media_type": null,
            "annotations": {},
            "annotations_file": null,
            "default_metadata": null,
            "file_metadata": {},
            "srcs": srcs,
            "multi_file_layout": "package_relative",
            "executables": [],
            "symlinks": {},
        });
        let run = self.run("layer", name, &request, &["blob", "metadata"]);
        run.assert_ok();
        Layer { blob: run.path("blob").to_owned(), metadata: run.path("metadata").to_owned() }
    }

    /// `img manifest` with `fields` over a default request (linux/amd64, everything inherited).
    pub fn manifest(&self, name: &str, fields: Value) -> Run {
        let mut request = json!({
            "os": "linux",
            "architecture": "amd64",
            "variant": "",
            "layers": [],
            "base": null,
            "config_fragment": null,
            "config_media_type": null,
            "entrypoint": [INHERIT],
            "cmd": [INHERIT],
            "user": INHERIT,
            "working_dir": INHERIT,
            "stop_signal": INHERIT,
            "env": {},
            "env_file": null,
            "labels": {},
            "label_files": [],
            "annotations": {},
            "annotations_file": null,
            "created": null,
            "created_timestamp": null,
            "artifact_type": null,
            "subject": null,
        });
        merge(&mut request, fields);
        self.run("manifest", name, &request, &["manifest", "config", "descriptor", "digest"])
    }

    pub fn index(&self, name: &str, manifests: &[&Run], fields: Value) -> Run {
        let descriptors: Vec<&Path> = manifests.iter().map(|m| m.assert_ok().path("descriptor")).collect();
        let mut request =
            json!({"manifests": descriptors, "annotations": {}, "annotations_file": null, "subject": null});
        merge(&mut request, fields);
        self.run("index", name, &request, &["index", "descriptor", "digest"])
    }

    /// `img oci-layout` of one image manifest.
    pub fn layout_of_manifest(
        &self,
        name: &str,
        image: &Run,
        layers: &[&Layer],
        format: &str,
        ref_name: Option<&str>,
    ) -> Run {
        let request = json!({
            "root": image.path("manifest"),
            "root_kind": "manifest",
            "manifests": [image.image_files(layers)],
            "format": format,
            "ref_name": ref_name,
        });
        self.run("oci-layout", name, &request, &["layout"])
    }

    pub fn docker_save(&self, name: &str, image: &Run, layers: &[&Layer], tags: &[&str]) -> Run {
        let request = json!({"image": image.image_files(layers), "repo_tags": tags});
        self.run("docker-save", name, &request, &["tarball"])
    }
}

pub fn merge(base: &mut Value, fields: Value) {
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

/// Runs a shell script and returns its stdout (panics on failure, showing stderr).
pub fn sh(script: &str) -> String {
    let output = Command::new("sh").arg("-c").arg(script).env("LC_ALL", "C").output().unwrap();
    assert!(
        output.status.success(),
        "`{script}` failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `sha256:<hex>` of bytes, by sha256sum.
pub fn sha256_of_file(path: &Path) -> String {
    format!("sha256:{}", &sh(&format!("sha256sum < '{}'", path.display()))[..64])
}
