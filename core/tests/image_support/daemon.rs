//! Daemons started by a test on unix sockets under its own temp dir, with bounded waits, and
//! stopped (SIGTERM, then SIGKILL) when the test ends, pass or fail.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
