//! Helpers for the image tests: real layers from `img layer`, and running the built
//! `img manifest` / `index` / `oci-layout` / `docker-save` in a [`Workspace`].
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{json, Value};

// What the tests `use …_support::*` for; not every test crate uses each.
#[allow(unused_imports)]
pub use crate::support::{layer_request, merge, require, sh, sha256_of_file, Workspace};

pub const INHERIT: &str = "<inherit from base>";
pub const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

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
    /// Runs `img <action>` with `request`; its `outputs` go to `out/<name>.<output>`.
    pub fn run(&self, action: &str, name: &str, request: &Value, outputs: &[&str]) -> Run {
        let outputs: Vec<(String, PathBuf)> =
            outputs.iter().map(|o| (o.to_string(), self.path(&format!("out/{name}.{o}")))).collect();
        Run { output: self.img(action, name, request, &outputs), outputs }
    }

    /// A layer from `(image path, content, executable)` files, built by the real `img layer`.
    pub fn image_layer(&self, name: &str, files: &[(&str, &[u8], bool)], compress: &str) -> Layer {
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
        let request = layer_request(json!({
            "created_by": format!("bazel build //test:{name}"),
            "compress": compress,
            "compression_jobs": 1,
            "create_parent_directories": true,
            "srcs": srcs,
        }));
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
