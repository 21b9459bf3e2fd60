//! Helpers for the `img load` tests: images built by the real `img layer` / `img manifest` /
//! `img index` around a static program, load requests, and the real runtimes (containerd 1.6,
//! dockerd 20.10, podman 4.3) started under the test's temp dir on unix sockets, with bounded
//! waits, and stopped (by PID) when dropped.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::image_support;
use crate::layer_support::{self, layer_request};

pub const INSTALL_HINT: &str = "install it with scripts/install-test-deps.sh";

/// Fails with the install hint when `tool` is not on PATH.
pub fn require(tool: &str) {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).stdout(Stdio::null()).status();
    assert!(found.is_ok_and(|s| s.success()), "`{tool}` is needed by this test; {INSTALL_HINT}");
}

fn text(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

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
    pub layers: layer_support::Workspace,
    pub images: image_support::Workspace,
}

impl Images {
    pub fn new() -> Self {
        Self { layers: layer_support::Workspace::new(), images: image_support::Workspace::new() }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.images.path(rel)
    }

    /// A statically linked program that prints `line` (built with `gcc -static`).
    pub fn static_program(&self, name: &str, line: &str) -> PathBuf {
        require("gcc");
        let source = self.images.file(
            &format!("src/{name}.c"),
            format!("#include <stdio.h>\nint main(void) {{ puts(\"{line}\"); return 0; }}\n"),
        );
        let binary = self.path(&format!("src/{name}"));
        let output = Command::new("gcc").args(["-static", "-O2", "-o"]).arg(&binary).arg(&source).output().unwrap();
        assert!(
            output.status.success(),
            "gcc -static failed (needs gcc and libc6-dev; {INSTALL_HINT}): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        binary
    }

    /// A layer with `files` as (image path, host path), `compress` = gzip | zstd | none.
    pub fn layer(&self, name: &str, files: &[(&str, &Path)], compress: &str) -> Layer {
        let lines: Vec<(&str, &str, &Path)> = files.iter().map(|(image, host)| (*image, "f", *host)).collect();
        let srcs = self.layers.srcs(&format!("{name}.srcs"), &lines);
        let request = layer_request(json!({
            "srcs": srcs,
            "compress": compress,
            "create_parent_directories": true,
            "created_by": format!("bazel build //test:{name}"),
        }));
        let run = self.layers.layer(name, request);
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
        let run = self.images.manifest(
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
        let run = self.images.run("index", name, &request, &["index", "descriptor", "digest"]);
        (run.path("index").to_owned(), run.text("digest").trim().to_owned())
    }

    /// Writes a `LoadRequest` for a manifest root; returns its path.
    pub fn load_request(&self, name: &str, daemon: &str, names: &[&str], manifest: &Manifest) -> PathBuf {
        let request = json!({
            "daemon": daemon,
            "names": names,
            "root": manifest.manifest,
            "root_kind": "manifest",
            "manifests": [deploy_manifest(manifest)],
        });
        self.images.file(&format!("{name}.load.json"), serde_json::to_vec_pretty(&request).unwrap())
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
            "manifests": children.iter().map(|m| deploy_manifest(m)).collect::<Vec<_>>(),
        });
        self.images.file(&format!("{name}.load.json"), serde_json::to_vec_pretty(&request).unwrap())
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

/// A daemon process with its log, stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Daemon {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    pub fn start(name: &str, mut command: Command, log: PathBuf) -> Self {
        let out = File::options().create(true).append(true).open(&log).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {name}: {err}; {INSTALL_HINT}"));
        Self { name: name.to_owned(), child, log }
    }

    /// Polls `ready` every 100 ms; panics with the log after `timeout` or if the daemon exits.
    pub fn wait_ready(&mut self, timeout: Duration, ready: impl Fn() -> bool) {
        let deadline = Instant::now() + timeout;
        while !ready() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} exited ({status}) before it was ready:\n{}", self.name, self.log_tail());
            }
            assert!(Instant::now() < deadline, "{} not ready after {timeout:?}:\n{}", self.name, self.log_tail());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// SIGKILL, as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Runs a client command bounded by `timeout 180`; returns stdout or panics with stderr.
fn client(program: &str, args: &[&str], envs: &[(String, PathBuf)], log: Option<&Daemon>) -> String {
    let output = Command::new("timeout")
        .arg("180")
        .arg(program)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "`{program} {}` failed: {}\n--- daemon log ---\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr),
        log.map(Daemon::log_tail).unwrap_or_default()
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// containerd 1.6 with its own root, state and socket.
pub struct Containerd {
    pub dir: PathBuf,
    pub socket: PathBuf,
    daemon: Option<Daemon>,
}

impl Containerd {
    pub fn start(dir: &Path) -> Self {
        require("containerd");
        require("ctr");
        std::fs::create_dir_all(dir).unwrap();
        let socket = dir.join("containerd.sock");
        std::fs::write(
            dir.join("config.toml"),
            format!(
                "version = 2\nroot = \"{root}/root\"\nstate = \"{root}/state\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = \"{socket}\"\n[ttrpc]\n  address = \"{socket}.ttrpc\"\n\
                 [debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n",
                root = dir.display(),
                socket = socket.display()
            ),
        )
        .unwrap();
        let mut containerd = Self { dir: dir.to_owned(), socket, daemon: None };
        containerd.restart();
        containerd
    }

    /// Starts (again) on the same root.
    pub fn restart(&mut self) {
        let mut command = Command::new("containerd");
        command.arg("--config").arg(self.dir.join("config.toml"));
        let mut daemon = Daemon::start("containerd", command, self.dir.join("containerd.log"));
        let address = text(&self.socket).to_owned();
        daemon.wait_ready(Duration::from_secs(30), || succeeds("ctr", &["--address", &address, "version"]));
        self.daemon = Some(daemon);
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            daemon.kill();
        }
    }

    pub fn address(&self) -> &str {
        text(&self.socket)
    }

    /// `ctr --namespace <namespace> <args>`.
    pub fn ctr(&self, namespace: &str, args: &[&str]) -> String {
        let mut all = vec!["--address", text(&self.socket), "--namespace", namespace];
        all.extend_from_slice(args);
        client("ctr", &all, &[], self.daemon.as_ref())
    }

    /// The content store's digests (`ctr content ls -q`), sorted.
    pub fn content(&self) -> Vec<String> {
        let mut digests: Vec<String> = self
            .ctr("default", &["content", "ls", "-q"])
            .lines()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        digests.sort();
        digests
    }

    /// `(name, digest)` of every image in `namespace`.
    pub fn images(&self, namespace: &str) -> Vec<(String, String)> {
        self.ctr(namespace, &["images", "ls"])
            .lines()
            .skip(1)
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                Some((fields.first()?.to_string(), fields.get(2)?.to_string()))
            })
            .collect()
    }

    /// The content ingests (`ctr content active`): partially written blobs.
    pub fn ingest_bytes(&self) -> u64 {
        let ingest = self.dir.join("root/io.containerd.content.v1.content/ingest");
        let Ok(entries) = std::fs::read_dir(ingest) else { return 0 };
        entries
            .filter_map(|e| e.ok())
            .filter_map(|e| std::fs::metadata(e.path().join("data")).ok())
            .map(|m| m.len())
            .sum()
    }
}

/// dockerd 20.10 without networking, vfs storage, its own data root and socket.
pub struct Dockerd {
    pub host: String,
    daemon: Daemon,
}

impl Dockerd {
    pub fn start(dir: &Path) -> Self {
        require("dockerd");
        require("docker");
        std::fs::create_dir_all(dir).unwrap();
        let host = format!("unix://{}", dir.join("docker.sock").display());
        let mut command = Command::new("dockerd");
        command
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("-H")
            .arg(&host)
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs"]);
        let mut daemon = Daemon::start("dockerd", command, dir.join("dockerd.log"));
        daemon.wait_ready(Duration::from_secs(60), || succeeds("docker", &["-H", &host, "version"]));
        Self { host, daemon }
    }

    pub fn docker(&self, args: &[&str]) -> String {
        let mut all = vec!["-H", self.host.as_str()];
        all.extend_from_slice(args);
        client("docker", &all, &[], Some(&self.daemon))
    }
}

/// podman 4.3, rootful, its own storage: configured through `CONTAINERS_STORAGE_CONF` and
/// `CONTAINERS_CONF`, which `img load` passes on to `podman load` untouched.
pub struct Podman {
    pub env: Vec<(String, PathBuf)>,
}

impl Podman {
    pub fn new(dir: &Path) -> Self {
        require("podman");
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let storage = dir.join("storage.conf");
        std::fs::write(
            &storage,
            format!("[storage]\ndriver = \"vfs\"\ngraphroot = \"{0}/root\"\nrunroot = \"{0}/run\"\n", dir.display()),
        )
        .unwrap();
        let containers = dir.join("containers.conf");
        std::fs::write(
            &containers,
            format!(
                "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\ntmp_dir = \"{}/tmp\"\n",
                dir.display()
            ),
        )
        .unwrap();
        Self { env: vec![("CONTAINERS_STORAGE_CONF".to_owned(), storage), ("CONTAINERS_CONF".to_owned(), containers)] }
    }

    pub fn podman(&self, args: &[&str]) -> String {
        client("podman", args, &self.env, None)
    }

    pub fn env(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(k, v)| (k.as_str(), text(v))).collect()
    }
}

/// `img registry serve` on a free port of 127.0.0.1, stopped when dropped.
pub struct Registry {
    pub addr: String,
    child: Child,
}

impl Registry {
    pub fn start(root: &Path) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(env!("CARGO_BIN_EXE_img"))
            .args(["registry", "serve", "--addr", "127.0.0.1:0", "--root"])
            .arg(root)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = receiver.recv_timeout(Duration::from_secs(20)).expect("img registry serve prints its address");
        Self { addr: line.trim().to_owned(), child }
    }

    /// Pushes `manifest` (with its local blobs) to `repository` with `img push`.
    pub fn push(&self, images: &Images, manifest: &Manifest, repository: &str) {
        let request = json!({
            "registry": self.addr,
            "repository": repository,
            "tags": ["base"],
            "root": manifest.manifest,
            "root_kind": "manifest",
            "manifests": [deploy_manifest(manifest)],
        });
        let path = images
            .images
            .file(&format!("push-{}.json", repository.replace('/', "-")), serde_json::to_vec(&request).unwrap());
        let output = Command::new(env!("CARGO_BIN_EXE_img"))
            .args(["push", "--request"])
            .arg(&path)
            .env("IMG_PROGRESS", "none")
            .output()
            .unwrap();
        assert!(output.status.success(), "img push failed: {}", String::from_utf8_lossy(&output.stderr));
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
            "manifests": [deploy_manifest_with_remote(manifest, remote, source.0, source.1)],
        });
        self.images.file(&format!("{name}.load.json"), serde_json::to_vec_pretty(&request).unwrap())
    }
}
