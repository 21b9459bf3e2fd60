//! Real container runtimes and registries started by a test: containerd 1.6, dockerd 20.10,
//! podman 4.3, distribution's `docker-registry` and `img registry serve`, each on unix sockets or
//! 127.0.0.1 with storage under the test's own temp dir, with bounded waits, and stopped (SIGTERM,
//! then SIGKILL) when dropped, pass or fail. Used by the e2e tests and by core's integration tests.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A daemon process with its log.
pub struct Daemon {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts `command` with stdout and stderr appended to `log` (a restart keeps the earlier log).
    pub fn start(name: &str, mut command: Command, log: PathBuf) -> Self {
        let out = File::options().create(true).append(true).open(&log).unwrap();
        let child =
            command.stdin(Stdio::null()).stdout(out.try_clone().unwrap()).stderr(out).spawn().unwrap_or_else(|err| {
                panic!("cannot start {name}: {err}; install it with scripts/install-test-deps.sh")
            });
        Self { name: name.to_owned(), child, log }
    }

    /// Polls `ready` until it holds; panics (showing the daemon's log) after `timeout` or if the
    /// daemon exits first.
    pub fn wait_ready(&mut self, timeout: Duration, ready: impl Fn() -> bool) {
        if let Err(why) = self.poll_ready(timeout, ready) {
            panic!("{why}");
        }
    }

    /// Like [`Daemon::wait_ready`], but says why it is not ready instead of panicking.
    fn poll_ready(&mut self, timeout: Duration, ready: impl Fn() -> bool) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        while !ready() {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("{} exited ({status}) before it was ready:\n{}", self.name, self.log_tail()));
            }
            if Instant::now() >= deadline {
                return Err(format!("{} not ready after {timeout:?}:\n{}", self.name, self.log_tail()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        let text = self.log();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// SIGKILL, as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM; whether it exited cleanly within `timeout` (else it is killed when dropped).
    pub fn stop_gracefully(mut self, timeout: Duration) -> bool {
        self.terminate(timeout).is_some_and(|status| status.success())
    }

    /// SIGTERM, then up to `timeout` for the process to exit; its status if it did.
    fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop the containerd it spawned; SIGKILL only if it hangs.
        if self.terminate(Duration::from_secs(20)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
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

/// Runs a client command bounded by `timeout(1)` with extra environment; returns stdout,
/// panicking with stderr and the daemon's log on failure.
fn client(program: &str, args: &[&str], env: &[(String, PathBuf)], daemon: Option<&Daemon>) -> String {
    let output = Command::new("timeout")
        .arg("180")
        .arg(program)
        .args(args)
        .envs(env.iter().map(|(name, value)| (name, value)))
        .output()
        .unwrap();
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

/// containerd 1.6 with its own root, state and socket; it can be killed and started again on
/// the same root.
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
        let address = self.address().to_owned();
        daemon.wait_ready(Duration::from_secs(30), || succeeds("ctr", &["--address", &address, "version"]));
        self.daemon = Some(daemon);
    }

    /// SIGKILL, as a crash would.
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
        let mut all = vec!["--address", self.address(), "--namespace", namespace];
        all.extend_from_slice(args);
        client("ctr", &all, &[], self.daemon.as_ref())
    }

    /// The content store's digests (`ctr content ls -q`), sorted.
    pub fn content(&self) -> Vec<String> {
        let listing = self.ctr("default", &["content", "ls", "-q"]);
        let mut digests: Vec<String> = listing.lines().map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()).collect();
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

    /// Bytes of partially written blobs in the content store's ingest directory.
    pub fn ingest_bytes(&self) -> u64 {
        let ingest = self.dir.join("root/io.containerd.content.v1.content/ingest");
        let Ok(entries) = std::fs::read_dir(ingest) else { return 0 };
        entries
            .filter_map(|e| e.ok())
            .filter_map(|e| std::fs::metadata(e.path().join("data")).ok())
            .map(|m| m.len())
            .sum()
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

    /// `docker load`s a tarball that names the image `name` and runs it; returns what it printed.
    pub fn load_and_run(&self, tarball: &Path, name: &str) -> String {
        let loaded = self.docker(&["load", "-i", text(tarball)]);
        assert!(loaded.contains(name), "docker load did not name {name}: {loaded}");
        self.docker(&["run", "--rm", "--network", "none", name])
    }
}

/// podman 4.3, rootful, with its own storage (no daemon), configured through the environment
/// (`CONTAINERS_STORAGE_CONF`, `CONTAINERS_CONF`) so that a program that runs `podman` itself
/// (`img load`) uses the same storage when given [`Podman::env`].
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

    /// The environment that points podman at this storage.
    pub fn env(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(name, value)| (name.as_str(), text(value))).collect()
    }

    pub fn podman(&self, args: &[&str]) -> String {
        client("podman", args, &self.env, None)
    }

    /// Runs image `name` without network; returns what it printed.
    pub fn run(&self, name: &str) -> String {
        // CAP_SYS_RESOURCE is not in this machine's bounding set: podman must not raise rlimits.
        let ulimits = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend(ulimits);
        args.push(name);
        self.podman(&args)
    }

    /// `podman load`s a tarball that names the image `name` and runs it; returns what it printed.
    pub fn load_and_run(&self, tarball: &Path, name: &str) -> String {
        let loaded = self.podman(&["load", "-i", text(tarball)]);
        assert!(loaded.contains(name), "podman load did not name {name}: {loaded}");
        self.run(name)
    }
}

/// A free TCP port on 127.0.0.1 (the OS picks; the listener is closed before the port is used).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The HTTP status of a GET of `url` (0 when nothing answers).
fn http_status(url: &str) -> u16 {
    let output = Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5", url]).output();
    output.ok().and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok()).unwrap_or(0)
}

/// docker-registry (distribution 2.8) on 127.0.0.1 with filesystem storage under `dir`.
pub struct DockerRegistry {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// The storage root.
    pub data: PathBuf,
    daemon: Daemon,
}

impl DockerRegistry {
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, None)
    }

    /// With `htpasswd = Some((user, password))`, Basic auth against a bcrypt htpasswd file.
    pub fn start_with(dir: &Path, htpasswd: Option<(&str, &str)>) -> Self {
        require("docker-registry");
        require("curl");
        std::fs::create_dir_all(dir).unwrap();
        let data = dir.join("data");
        let mut auth = String::new();
        if let Some((user, password)) = htpasswd {
            // Cost 4, the minimum: distribution checks the hash on every request.
            let hash = bcrypt::hash(password, 4).unwrap();
            let file = dir.join("htpasswd");
            std::fs::write(&file, format!("{user}:{hash}\n")).unwrap();
            auth = format!("auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n", file.display());
        }
        // The port is free when picked but may be taken before the registry binds it: try again.
        let mut why = String::new();
        for _ in 0..5 {
            let addr = format!("127.0.0.1:{}", free_port());
            let config = dir.join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
                     storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                     http:\n  addr: {addr}\n{auth}",
                    data.display()
                ),
            )
            .unwrap();
            let mut command = Command::new("docker-registry");
            command.arg("serve").arg(&config);
            let mut daemon = Daemon::start("docker-registry", command, dir.join("registry.log"));
            let url = format!("http://{addr}/v2/");
            // 401 is ready too: the registry asks for the credentials it was configured with.
            match daemon.poll_ready(Duration::from_secs(15), || matches!(http_status(&url), 200 | 401)) {
                Ok(()) => return Self { addr, data, daemon },
                Err(error) => why = error,
            }
        }
        panic!("docker-registry did not start in 5 attempts; the last: {why}");
    }

    pub fn log(&self) -> String {
        self.daemon.log()
    }
}

/// `img registry serve` on a port of 127.0.0.1 it picks itself, storage under `dir`.
pub struct ImgRegistry {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// The storage root; a registry started again on the same `dir` serves what it holds.
    pub root: PathBuf,
    daemon: Daemon,
}

impl ImgRegistry {
    /// `img` is the binary to run (`CARGO_BIN_EXE_img` in core's tests, [`crate::tool::img`] here).
    pub fn start(img: impl AsRef<Path>, dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let root = dir.join("data");
        let log = dir.join("registry.log");
        // The address is the first line the registry prints: a log of this start only.
        std::fs::write(&log, "").unwrap();
        let mut command = Command::new(img.as_ref());
        command.args(["registry", "serve", "--addr", "127.0.0.1:0", "--root"]).arg(&root);
        let mut daemon = Daemon::start("img registry serve", command, log.clone());
        let printed_addr = || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            text.lines().find(|line| line.parse::<std::net::SocketAddr>().is_ok()).map(str::to_owned)
        };
        daemon.wait_ready(Duration::from_secs(20), || printed_addr().is_some());
        Self { addr: printed_addr().unwrap(), root, daemon }
    }

    /// Stops the registry with SIGTERM; whether it exited cleanly within 10 s.
    pub fn stop_gracefully(self) -> bool {
        self.daemon.stop_gracefully(Duration::from_secs(10))
    }
}
