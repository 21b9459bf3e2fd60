//! Helpers for the `img load` tests: images built by the real `img layer` / `img manifest` /
//! `img index` around a static program, and load requests. The runtimes they load into are
//! `e2e::runtimes`.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::support::{layer_request, require, Workspace};

/// A layer built by `img layer`.
#[derive(Clone)]
pub struct Layer {
    pub blob: PathBuf,
    pub metadata: PathBuf,
    pub digest: String,
    pub size: u64,
}

/// A manifest (and config) built by `img manifest`.
pub struct Manifest {
    pub manifest: PathBuf,
    pub config: PathBuf,
    pub descriptor: PathBuf,
    pub digest: String,
    pub config_digest: String,
    pub layers: Vec<Layer>,
}

/// Where images are built.
pub struct Images {
    pub workspace: Workspace,
}

impl Images {
    pub fn new() -> Self {
        Self { workspace: Workspace::new() }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.workspace.path(rel)
    }

    /// A statically linked program that prints `line` (built with `gcc -static`).
    pub fn static_program(&self, name: &str, line: &str) -> PathBuf {
        require("gcc");
        let source = self.workspace.file(
            &format!("src/{name}.c"),
            format!("#include <stdio.h>\nint main(void) {{ puts(\"{line}\"); return 0; }}\n"),
        );
        let binary = self.path(&format!("src/{name}"));
        let output = Command::new("gcc").args(["-static", "-O2", "-o"]).arg(&binary).arg(&source).output().unwrap();
        assert!(
            output.status.success(),
            "gcc -static failed (needs gcc and libc6-dev; install them with scripts/install-test-deps.sh): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        binary
    }

    /// A layer with `files` as (image path, host path), `compress` = gzip | zstd | none.
    pub fn layer(&self, name: &str, files: &[(&str, &Path)], compress: &str) -> Layer {
        let lines: Vec<(&str, &str, &Path)> = files.iter().map(|(image, host)| (*image, "f", *host)).collect();
        let srcs = self.workspace.srcs(&format!("{name}.srcs"), &lines);
        let request = layer_request(json!({
            "srcs": srcs,
            "compress": compress,
            "create_parent_directories": true,
            "created_by": format!("bazel build //test:{name}"),
        }));
        let run = self.workspace.layer(name, request);
        let metadata = run.ok();
        Layer {
            blob: run.blob,
            metadata: run.metadata,
            digest: metadata["digest"].as_str().unwrap().to_owned(),
            size: metadata["size"].as_u64().unwrap(),
        }
    }

    /// A layer holding `size` bytes of incompressible data at `/data/<name>` (uncompressed, so
    /// building it is cheap).
    pub fn big_layer(&self, name: &str, size: usize, seed: u64) -> Layer {
        let host = self.path(&format!("src/{name}.bin"));
        std::fs::create_dir_all(host.parent().unwrap()).unwrap();
        write_noise(&host, size, seed);
        self.layer(name, &[(&format!("data/{name}"), &host)], "none")
    }

    /// `img manifest` of `layers` for `architecture`, running `entrypoint`.
    pub fn manifest(&self, name: &str, layers: &[&Layer], architecture: &str, entrypoint: &[&str]) -> Manifest {
        let run = self.workspace.manifest(
            name,
            json!({
                "architecture": architecture,
                "layers": layers.iter().map(|l| l.metadata.clone()).collect::<Vec<_>>(),
                "entrypoint": entrypoint,
            }),
        );
        run.assert_ok();
        let config: Value = run.json("manifest")["config"].clone();
        Manifest {
            manifest: run.path("manifest").to_owned(),
            config: run.path("config").to_owned(),
            descriptor: run.path("descriptor").to_owned(),
            digest: run.text("digest").trim().to_owned(),
            config_digest: config["digest"].as_str().unwrap().to_owned(),
            layers: layers.iter().map(|l| (*l).clone()).collect(),
        }
    }

    /// `img index` of `manifests`; returns (index path, digest).
    pub fn index(&self, name: &str, manifests: &[&Manifest]) -> (PathBuf, String) {
        let descriptors: Vec<&Path> = manifests.iter().map(|m| m.descriptor.as_path()).collect();
        let request = json!({"manifests": descriptors, "annotations": {}, "annotations_file": null, "subject": null});
        let run = self.workspace.run("index", name, &request, &["index", "descriptor", "digest"]);
        (run.path("index").to_owned(), run.text("digest").trim().to_owned())
    }

    /// Writes a `LoadRequest` for a manifest root; returns its path.
    pub fn load_request(&self, name: &str, daemon: &str, names: &[&str], manifest: &Manifest) -> PathBuf {
        let request = json!({
            "daemon": daemon,
            "names": names,
            "root": manifest.manifest,
            "root_kind": "manifest",
            "insecure": false,
            "manifests": [deploy_manifest(manifest)],
        });
        self.workspace.file(&format!("{name}.load.json"), serde_json::to_vec_pretty(&request).unwrap())
    }

    /// Writes a `LoadRequest` for an index root.
    pub fn index_load_request(
        &self,
        name: &str,
        daemon: &str,
        names: &[&str],
        index: &Path,
        children: &[&Manifest],
    ) -> PathBuf {
        let request = json!({
            "daemon": daemon,
            "names": names,
            "root": index,
            "root_kind": "index",
            "insecure": false,
            "manifests": children.iter().map(|m| deploy_manifest(m)).collect::<Vec<_>>(),
        });
        self.workspace.file(&format!("{name}.load.json"), serde_json::to_vec_pretty(&request).unwrap())
    }
}

/// The `DeployManifest` of a manifest with local blobs.
pub fn deploy_manifest(manifest: &Manifest) -> Value {
    json!({
        "manifest": manifest.manifest,
        "config": manifest.config,
        "layers": manifest.layers.iter().map(|l| json!({"metadata": l.metadata, "blob": l.blob, "sources": []})).collect::<Vec<_>>(),
    })
}

/// Deterministic incompressible bytes (xorshift), written in pieces.
pub fn write_noise(path: &Path, size: usize, seed: u64) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(File::create(path).unwrap());
    let mut state = seed | 1;
    let mut left = size;
    let mut piece = vec![0u8; 1 << 16];
    while left > 0 {
        for chunk in piece.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        let n = left.min(piece.len());
        out.write_all(&piece[..n]).unwrap();
        left -= n;
    }
    out.flush().unwrap();
}

/// `img load <args>` with `env` (and without the caller's daemon variables).
pub fn img_load(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_img"));
    command.arg("load").args(args).env("IMG_PROGRESS", "log");
    for var in ["CONTAINERD_ADDRESS", "DOCKER_HOST", "LOADER_BINARY"] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    command.output().unwrap()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts success; returns stderr.
pub fn ok(output: &Output) -> String {
    assert!(output.status.success(), "img load failed: {}{}", stderr(output), stdout(output));
    stderr(output)
}

/// Asserts failure with every needle in stderr; returns stderr.
pub fn fails_with(output: &Output, needles: &[&str]) -> String {
    let text = stderr(output);
    assert!(!output.status.success(), "img load unexpectedly succeeded: {text}");
    for needle in needles {
        assert!(text.contains(needle), "error lacks {needle:?}: {text}");
    }
    text
}

/// The digests `img load` reports as written (`img load: wrote sha256:… …` lines, short form).
pub fn written(stderr: &str) -> Vec<String> {
    let mut digests: Vec<String> = stderr
        .lines()
        .filter_map(|line| line.strip_prefix("img load: wrote "))
        .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
        .collect();
    digests.sort();
    digests
}

/// `sha256:0123456789ab`, as `img load` prints digests.
pub fn short(digest: &str) -> String {
    digest.chars().take(19).collect()
}

/// Pushes `manifest` (with its local blobs) to `registry`/`repository` with `img push`.
pub fn push(images: &Images, registry: &str, manifest: &Manifest, repository: &str) {
    let request = json!({
        "registry": registry,
        "repository": repository,
        "tags": ["base"],
        "root": manifest.manifest,
        "root_kind": "manifest",
        "insecure": false,
        "manifests": [deploy_manifest(manifest)],
    });
    let path = images
        .workspace
        .file(&format!("push-{}.json", repository.replace('/', "-")), serde_json::to_vec(&request).unwrap());
    let output = Command::new(env!("CARGO_BIN_EXE_img"))
        .args(["push", "--request"])
        .arg(&path)
        .env("IMG_PROGRESS", "none")
        .output()
        .unwrap();
    assert!(output.status.success(), "img push failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// The `DeployManifest` of a manifest whose layers `remote` (by index) have no local blob and
/// are to be streamed from `registry`/`repository`.
pub fn deploy_manifest_with_remote(manifest: &Manifest, remote: &[usize], registry: &str, repository: &str) -> Value {
    let layers: Vec<Value> = manifest
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if remote.contains(&i) {
                json!({"metadata": l.metadata, "blob": null, "sources": [{"registry": registry, "repository": repository}]})
            } else {
                json!({"metadata": l.metadata, "blob": l.blob, "sources": []})
            }
        })
        .collect();
    json!({"manifest": manifest.manifest, "config": manifest.config, "layers": layers})
}

impl Images {
    /// A `LoadRequest` for a manifest root whose layers `remote` come from a registry.
    /// `source` is (registry, repository).
    pub fn remote_load_request(
        &self,
        name: &str,
        daemon: &str,
        names: &[&str],
        manifest: &Manifest,
        remote: &[usize],
        source: (&str, &str),
    ) -> PathBuf {
        let request = json!({
            "daemon": daemon,
            "names": names,
            "root": manifest.manifest,
            "root_kind": "manifest",
            "insecure": false,
            "manifests": [deploy_manifest_with_remote(manifest, remote, source.0, source.1)],
        });
        self.workspace.file(&format!("{name}.load.json"), serde_json::to_vec_pretty(&request).unwrap())
    }
}
