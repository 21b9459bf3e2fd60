//! Drives a real Bazel 7.7.1 (a Debian sid chroot, see `scripts/bazel7-chroot.sh`) from Rust tests.
//!
//! Every command goes through `scripts/bazel7`, which runs Bazel inside the chroot with the workspace
//! bind-mounted at the same absolute path, so paths Bazel prints (and `bazel-bin` links) are valid on the host.
//!
//! ```no_run
//! use e2e::bazel::{Bazel7, Mode};
//! let bazel = Bazel7::find().unwrap();
//! let ws = bazel.workspace(Mode::Bzlmod).unwrap();
//! ws.write("MODULE.bazel", "module(name = \"t\")\n").unwrap();
//! ws.write("BUILD.bazel", "genrule(name = \"g\", outs = [\"g.txt\"], cmd = \"echo hi > $@\")\n").unwrap();
//! ws.build(&["//:g"]).unwrap();
//! let files = ws.output_files("//:g").unwrap();
//! assert_eq!(std::fs::read_to_string(&files[0]).unwrap(), "hi\n");
//! // Dropping `ws` shuts its Bazel server down and deletes the workspace and its output base.
//! ```

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The chroot, the outputs and the test workspaces all live here (see the scripts).
pub const CACHE_DIR: &str = "/var/cache/rules_img";

/// Lines a WORKSPACE-mode `WORKSPACE` file needs to resolve everything offline: they point every repository
/// Bazel's WORKSPACE suffix would download (rules_java, rules_cc, platforms, bazel_skylib, ...) at the copies
/// Debian ships inside the chroot, plus a coverage stub for `bazel test`.
pub const WORKSPACE_PRELUDE: &str = r#"local_repository(name = "rules_img_offline", path = "/opt/rules_img/offline")

load("@rules_img_offline//:prelude.bzl", "offline_repositories")

offline_repositories()
"#;

/// How long one Bazel command may take before it is killed; a cold first build in a fresh output base
/// (server start, module resolution, cc toolchain autoconfiguration) takes well under a minute here.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Which way Bazel reads external dependencies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `MODULE.bazel`; `--enable_bzlmod --noenable_workspace` plus offline stub modules.
    Bzlmod,
    /// `WORKSPACE`; `--noenable_bzlmod --enable_workspace`. Start the file with [`WORKSPACE_PRELUDE`].
    Workspace,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Bzlmod, Mode::Workspace];

    /// The `--mode` value of `scripts/bazel7`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Bzlmod => "bzlmod",
            Mode::Workspace => "workspace",
        }
    }

    /// The lines that make a local checkout of the `rules_img` module (e.g. the rendered `bazel/`
    /// directory) available as `@rules_img`: for `MODULE.bazel` in bzlmod, for `WORKSPACE` otherwise.
    pub fn rules_img_dependency(self, path: &Path) -> String {
        let path = path.display();
        match self {
            Mode::Bzlmod => format!(
                "bazel_dep(name = \"rules_img\")\n\
                 local_path_override(module_name = \"rules_img\", path = \"{path}\")\n"
            ),
            Mode::Workspace => format!("local_repository(name = \"rules_img\", path = \"{path}\")\n"),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BazelError {
    #[error(
        "the Bazel 7 chroot is not set up ({0} is missing): run `scripts/bazel7-chroot.sh` as root first \
         (one-off, a few minutes)"
    )]
    ChrootMissing(PathBuf),
    #[error("the Bazel wrapper {0} is missing or not executable")]
    WrapperMissing(PathBuf),
    #[error("{action} {path}: {source}")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("`bazel {command}` in {workspace} did not finish within {timeout:?}; it was killed")]
    Timeout { command: String, workspace: PathBuf, timeout: Duration },
    #[error("`bazel {command}` in {workspace} failed ({status})\n--- stderr ---\n{stderr}")]
    Failed { command: String, workspace: PathBuf, status: ExitStatus, stderr: String },
    #[error("`bazel {command}` printed no output files for {target}")]
    NoOutputs { command: String, target: String },
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BazelError {
    let path = path.to_path_buf();
    move |source| BazelError::Io { action, path, source }
}

/// The installed Bazel 7 chroot and the wrapper that runs it.
#[derive(Clone, Debug)]
pub struct Bazel7 {
    wrapper: PathBuf,
}

impl Bazel7 {
    /// Finds the chroot and `scripts/bazel7`; fails with a message naming the setup script if missing.
    pub fn find() -> Result<Self, BazelError> {
        let ready = Path::new(CACHE_DIR).join("bazel7-sid/.rules_img-ready");
        if !ready.is_file() {
            return Err(BazelError::ChrootMissing(ready));
        }
        let wrapper = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/bazel7");
        let executable = std::fs::metadata(&wrapper)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0)
            .unwrap_or(false);
        if !executable {
            return Err(BazelError::WrapperMissing(wrapper));
        }
        Ok(Bazel7 { wrapper })
    }

    /// A fresh, empty workspace directory the chroot can see (under `/var/cache/rules_img/work`).
    pub fn workspace(&self, mode: Mode) -> Result<Workspace, BazelError> {
        let root = Path::new(CACHE_DIR).join("work");
        std::fs::create_dir_all(&root).map_err(io_error("creating", &root))?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("ws-{mode}-"))
            .tempdir_in(&root)
            .map_err(io_error("creating a workspace in", &root))?;
        Ok(Workspace {
            bazel: self.clone(),
            mode,
            dir,
            binds: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            ran_bazel: false.into(),
            server_may_run: false.into(),
        })
    }
}

/// What a finished Bazel command printed.
#[derive(Debug)]
pub struct BazelOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// A temporary Bazel workspace. Dropping it shuts its Bazel server down and deletes the directory and its
/// output base (set `RULES_IMG_KEEP_WORKSPACE=1` to keep both for debugging).
pub struct Workspace {
    bazel: Bazel7,
    mode: Mode,
    dir: tempfile::TempDir,
    binds: Vec<PathBuf>,
    timeout: Duration,
    /// Bazel ran at least once, so there is an output base to delete.
    ran_bazel: std::cell::Cell<bool>,
    /// A command ran since the last `shutdown`.
    server_may_run: std::cell::Cell<bool>,
}

impl Workspace {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Changes the per-command timeout (default [`DEFAULT_TIMEOUT`]).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Makes a host directory outside the workspace visible inside the chroot at the same path (e.g. a
    /// module referenced by an absolute `local_path_override`). Copying it in with [`Self::copy_dir`] is
    /// the alternative when the workspace should own a snapshot.
    pub fn bind(&mut self, dir: impl Into<PathBuf>) {
        self.binds.push(dir.into());
    }

    /// Writes `contents` to `relative` inside the workspace, creating parent directories.
    pub fn write(&self, relative: &str, contents: &str) -> Result<PathBuf, BazelError> {
        let path = self.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_error("creating", parent))?;
        }
        std::fs::write(&path, contents).map_err(io_error("writing", &path))?;
        Ok(path)
    }

    /// Like [`Self::write`], and marks the file executable.
    pub fn write_executable(&self, relative: &str, contents: &str) -> Result<PathBuf, BazelError> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.write(relative, contents)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(io_error("making executable", &path))?;
        Ok(path)
    }

    /// Copies the directory tree `from` to `relative` inside the workspace (file modes kept, symlinks
    /// copied as links, Bazel's `bazel-*` convenience links skipped) and returns the absolute destination.
    pub fn copy_dir(&self, from: &Path, relative: &str) -> Result<PathBuf, BazelError> {
        let dest = self.path().join(relative);
        for entry in walkdir::WalkDir::new(from).follow_links(false) {
            let entry =
                entry.map_err(|e| BazelError::Io { action: "reading", path: from.to_path_buf(), source: e.into() })?;
            let rel = entry.path().strip_prefix(from).expect("walkdir yields paths below its root");
            if rel.components().next().is_some_and(|c| c.as_os_str().to_string_lossy().starts_with("bazel-")) {
                continue;
            }
            let target = dest.join(rel);
            let kind = entry.file_type();
            if kind.is_dir() {
                std::fs::create_dir_all(&target).map_err(io_error("creating", &target))?;
            } else if kind.is_symlink() {
                let link = std::fs::read_link(entry.path()).map_err(io_error("reading", entry.path()))?;
                std::os::unix::fs::symlink(&link, &target).map_err(io_error("creating", &target))?;
            } else {
                std::fs::copy(entry.path(), &target).map_err(io_error("copying to", &target))?;
            }
        }
        Ok(dest)
    }

    /// Runs `bazel <args>` and returns what it printed, whatever its exit status; only a timeout or a
    /// failure to start is an error. Use this to assert on failures.
    pub fn bazel(&self, args: &[&str]) -> Result<BazelOutput, BazelError> {
        let mut command = Command::new(&self.bazel.wrapper);
        command.arg("--workspace").arg(self.path()).arg("--mode").arg(self.mode.as_str());
        for dir in &self.binds {
            command.arg("--bind").arg(dir);
        }
        command.arg("--").args(args);
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        self.ran_bazel.set(true);
        self.server_may_run.set(true);
        let child = command.spawn().map_err(io_error("running", &self.bazel.wrapper))?;
        self.wait(child, args)
    }

    fn wait(&self, mut child: Child, args: &[&str]) -> Result<BazelOutput, BazelError> {
        let stdout = drain(child.stdout.take().expect("stdout is piped"));
        let stderr = drain(child.stderr.take().expect("stderr is piped"));
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait().map_err(io_error("waiting for", &self.bazel.wrapper))? {
                Some(status) => break status,
                None if Instant::now() >= deadline => {
                    stop_client(&mut child);
                    return Err(BazelError::Timeout {
                        command: args.join(" "),
                        workspace: self.path().to_path_buf(),
                        timeout: self.timeout,
                    });
                }
                None => thread::sleep(Duration::from_millis(50)),
            }
        };
        Ok(BazelOutput { status, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() })
    }

    /// Runs `bazel <args>` and fails (with Bazel's stderr in the error) unless it exits 0.
    pub fn bazel_ok(&self, args: &[&str]) -> Result<BazelOutput, BazelError> {
        let output = self.bazel(args)?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(BazelError::Failed {
                command: args.join(" "),
                workspace: self.path().to_path_buf(),
                status: output.status,
                stderr: output.stderr,
            })
        }
    }

    /// `bazel build <args>` (targets and flags).
    pub fn build(&self, args: &[&str]) -> Result<BazelOutput, BazelError> {
        self.bazel_ok(&[&["build"], args].concat())
    }

    /// `bazel run <target> -- <program_args>`; the program's output is in `stdout`.
    pub fn run(&self, target: &str, program_args: &[&str]) -> Result<BazelOutput, BazelError> {
        self.bazel_ok(&[&["run", target, "--"], program_args].concat())
    }

    /// `bazel query <expression>`, one line per result.
    pub fn query(&self, expression: &str) -> Result<Vec<String>, BazelError> {
        let output = self.bazel_ok(&["query", expression])?;
        Ok(output.stdout.lines().map(str::to_owned).collect())
    }

    /// Absolute host paths of the default outputs of `target` (built or not), via
    /// `bazel cquery --output=files`; `flags` are extra configuration flags such as `--//cfg:mode=prod`.
    pub fn output_files_with(&self, target: &str, flags: &[&str]) -> Result<Vec<PathBuf>, BazelError> {
        let execution_root = self.info("execution_root")?;
        let args = [&["cquery", "--output=files"], flags, &[target]].concat();
        let output = self.bazel_ok(&args)?;
        let files: Vec<PathBuf> = output.stdout.lines().map(|line| Path::new(&execution_root).join(line)).collect();
        if files.is_empty() {
            return Err(BazelError::NoOutputs { command: args.join(" "), target: target.to_owned() });
        }
        Ok(files)
    }

    /// [`Self::output_files_with`] without extra flags.
    pub fn output_files(&self, target: &str) -> Result<Vec<PathBuf>, BazelError> {
        self.output_files_with(target, &[])
    }

    /// `bazel info <key>`, e.g. `execution_root`, `output_base`, `bazel-bin`.
    pub fn info(&self, key: &str) -> Result<String, BazelError> {
        Ok(self.bazel_ok(&["info", key])?.stdout.trim().to_owned())
    }

    /// Stops this workspace's Bazel server (also done on drop).
    pub fn shutdown(&self) -> Result<(), BazelError> {
        self.bazel_ok(&["shutdown"])?;
        self.server_may_run.set(false);
        Ok(())
    }
}

impl Workspace {
    /// Bazel's output base for this workspace: `<output_user_root>/<md5 of the workspace path>`. Computed
    /// rather than asked for, so it is known even when the workspace no longer parses.
    fn output_base(&self) -> Option<PathBuf> {
        let mut md5 = Command::new("md5sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().ok()?;
        std::io::Write::write_all(&mut md5.stdin.take()?, self.path().as_os_str().as_encoded_bytes()).ok()?;
        let out = md5.wait_with_output().ok()?;
        let hash = String::from_utf8(out.stdout).ok()?.split_whitespace().next()?.to_owned();
        let user_root = std::env::var_os("BAZEL7_OUTPUT_USER_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(CACHE_DIR).join("bazel7-out"));
        (hash.len() == 32).then(|| user_root.join(hash))
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if !self.ran_bazel.get() {
            return;
        }
        if self.server_may_run.get() {
            if let Err(e) = self.shutdown() {
                eprintln!("warning: could not shut down Bazel in {}: {e}", self.path().display());
            }
        }
        let output_base = self.output_base();
        if std::env::var_os("RULES_IMG_KEEP_WORKSPACE").is_some() {
            self.dir.disable_cleanup(true);
            eprintln!("kept Bazel workspace {} (output base {output_base:?})", self.path().display());
            return;
        }
        // The output base is Bazel's per-workspace cache; without this every test run leaves one behind.
        if let Some(base) = output_base {
            let _ = std::fs::remove_dir_all(base);
        }
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Stops a Bazel client that ran over its time. scripts/bazel7 execs the client, so `child` is the client
/// itself. A killed client leaves its command (and its actions) running in the server; an interrupted one
/// makes the server cancel it, as Ctrl-C would. The third interrupt makes the client kill the server.
fn stop_client(child: &mut Child) {
    let interrupt = |child: &Child| {
        let _ = Command::new("kill")
            .args(["-s", "INT", &child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    };
    let exited_within = |child: &mut Child, wait: Duration| {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return true;
            }
            thread::sleep(Duration::from_millis(100));
        }
        false
    };
    interrupt(child);
    if exited_within(child, Duration::from_secs(20)) {
        return;
    }
    interrupt(child);
    interrupt(child);
    if !exited_within(child, Duration::from_secs(10)) {
        let _ = child.kill();
        let _ = child.wait();
    }
}
