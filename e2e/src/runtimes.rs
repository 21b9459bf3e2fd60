//! Real container runtimes started by a test: containerd 1.6, dockerd 20.10 and podman 4.3, each
//! on unix sockets and storage under the test's own temp dir, with bounded waits, stopped (SIGTERM,
//! then SIGKILL) when dropped, pass or fail.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A daemon process with its log.
pub struct Daemon {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts `command` with stdout and stderr going to `log`.
    pub fn start(name: &str, mut command: Command, log: PathBuf) -> Self {
        let out = File::create(&log).unwrap();
        let child =
            command.stdin(Stdio::null()).stdout(out.try_clone().unwrap()).stderr(out).spawn().unwrap_or_else(|err| {
                panic!("cannot start {name}: {err}; install it with scripts/install-test-deps.sh")
            });
        Self { name: name.to_owned(), child, log }
    }

    /// Polls `ready` until it holds; panics (showing the daemon's log) after `timeout` or if the
    /// daemon exits first.
    pub fn wait_ready(&mut self, timeout: Duration, ready: impl Fn() -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if ready() {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} exited ({status}) before it was ready:\n{}", self.name, self.log_tail());
            }
            assert!(Instant::now() < deadline, "{} not ready after {timeout:?}:\n{}", self.name, self.log_tail());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop the containerd it spawned; SIGKILL only if it hangs.
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

/// Whether `program args...` succeeds (output discarded).
pub fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Fails with a message naming the installer when `tool` is not on PATH.
pub fn require(tool: &str) {
    assert!(
        succeeds("sh", &["-c", &format!("command -v {tool}")]),
        "`{tool}` is needed by this test; install it with scripts/install-test-deps.sh"
    );
}

/// Runs a client command bounded by `timeout(1)`; returns stdout, panicking with stderr and the
/// daemon's log on failure.
fn client(program: &str, args: &[&str], daemon: Option<&Daemon>) -> String {
    let output = Command::new("timeout").arg("180").arg(program).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "`{program} {}` failed: {}\n--- daemon log ---\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr),
        daemon.map(Daemon::log_tail).unwrap_or_default()
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn text(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// containerd 1.6 with its own root, state and socket.
pub struct Containerd {
    pub socket: PathBuf,
    daemon: Daemon,
}

impl Containerd {
    pub fn start(dir: &Path) -> Self {
        require("containerd");
        require("ctr");
        std::fs::create_dir_all(dir).unwrap();
        let socket = dir.join("containerd.sock");
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
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
        let mut command = Command::new("containerd");
        command.arg("--config").arg(&config);
        let mut daemon = Daemon::start("containerd", command, dir.join("containerd.log"));
        let address = text(&socket).to_owned();
        daemon.wait_ready(Duration::from_secs(30), || succeeds("ctr", &["--address", &address, "version"]));
        Self { socket, daemon }
    }

    /// `ctr --namespace <namespace> <args>`.
    pub fn ctr(&self, namespace: &str, args: &[&str]) -> String {
        let mut all = vec!["--address", text(&self.socket), "--namespace", namespace];
        all.extend_from_slice(args);
        client("ctr", &all, Some(&self.daemon))
    }

    /// Imports an OCI layout tar, names its root `name`, and runs it; returns what it printed.
    pub fn import_and_run_as(&self, layout_tar: &Path, name: &str) -> String {
        let ns = "rules-img-test";
        let imported = self.ctr(ns, &["images", "import", "--digests", text(layout_tar)]);
        // `--digests` names the image by its digest: `import-<date>@sha256:...`.
        let digest_name = imported
            .split_whitespace()
            .find(|word| word.contains("@sha256:"))
            .unwrap_or_else(|| panic!("ctr import printed no digest name: {imported}"))
            .to_string();
        self.ctr(ns, &["images", "tag", &digest_name, name]);
        self.ctr(ns, &["run", "--rm", name, "rules-img-test"])
    }
}

/// dockerd 20.10 without networking, with its own data root and socket.
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
        client("docker", &all, Some(&self.daemon))
    }

    /// `docker load`s a tarball that names the image `name` and runs it; returns what it printed.
    pub fn load_and_run(&self, tarball: &Path, name: &str) -> String {
        let loaded = self.docker(&["load", "-i", text(tarball)]);
        assert!(loaded.contains(name), "docker load did not name {name}: {loaded}");
        self.docker(&["run", "--rm", "--network", "none", name])
    }
}

/// podman 4.3, rootful, with its own storage (no daemon).
pub struct Podman {
    dir: PathBuf,
}

impl Podman {
    pub fn new(dir: &Path) -> Self {
        require("podman");
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        Self { dir: dir.to_owned() }
    }

    pub fn podman(&self, args: &[&str]) -> String {
        let (root, run, tmp) = (self.dir.join("root"), self.dir.join("run"), self.dir.join("tmp"));
        let mut all = vec!["--root", text(&root), "--runroot", text(&run), "--tmpdir", text(&tmp)];
        all.extend(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"]);
        all.extend_from_slice(args);
        client("podman", &all, None)
    }

    /// `podman load`s a tarball that names the image `name` and runs it; returns what it printed.
    pub fn load_and_run(&self, tarball: &Path, name: &str) -> String {
        let loaded = self.podman(&["load", "-i", text(tarball)]);
        assert!(loaded.contains(name), "podman load did not name {name}: {loaded}");
        // CAP_SYS_RESOURCE is not in this machine's bounding set: podman must not raise rlimits.
        let ulimits = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend(ulimits);
        args.push(name);
        self.podman(&args)
    }
}

/// A free TCP port on 127.0.0.1 (the OS picks; the listener is closed before the port is used).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// docker-registry (distribution 2.8) on 127.0.0.1 with filesystem storage under `dir`.
pub struct DockerRegistry {
    pub address: String,
    _daemon: Daemon,
}

impl DockerRegistry {
    pub fn start(dir: &Path) -> Self {
        require("docker-registry");
        std::fs::create_dir_all(dir).unwrap();
        let address = format!("127.0.0.1:{}", free_port());
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: {address}\n",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let mut command = Command::new("docker-registry");
        command.arg("serve").arg(&config);
        let mut daemon = Daemon::start("docker-registry", command, dir.join("registry.log"));
        let url = format!("http://{address}/v2/");
        daemon.wait_ready(Duration::from_secs(30), || succeeds("curl", &["-sf", &url]));
        Self { address, _daemon: daemon }
    }
}

/// `img registry serve` on 127.0.0.1 with storage under `dir`.
pub struct ImgRegistry {
    pub address: String,
    _daemon: Daemon,
}

impl ImgRegistry {
    pub fn start(img: &Path, dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let address = format!("127.0.0.1:{}", free_port());
        let mut command = Command::new(img);
        command.args(["registry", "serve", "--root"]).arg(dir.join("data")).args(["--addr", &address]);
        let mut daemon = Daemon::start("img registry serve", command, dir.join("registry.log"));
        let url = format!("http://{address}/v2/");
        daemon.wait_ready(Duration::from_secs(30), || succeeds("curl", &["-sf", &url]));
        Self { address, _daemon: daemon }
    }
}
