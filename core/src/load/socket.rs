//! Finding a daemon's unix socket: each candidate gets a short dial test, and what was found at
//! every place looked at is kept for the error message.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::LoadError;

/// How long a candidate socket may take to accept a connection.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(1);

/// The result of dialing one socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dial {
    Ok,
    Missing,
    PermissionDenied,
    /// Anything else (refused: a stale socket file; timed out; not a socket).
    Failed(String),
}

/// Connects to `path` once, within [`DIAL_TIMEOUT`].
pub async fn dial(path: &Path) -> Dial {
    match tokio::time::timeout(DIAL_TIMEOUT, tokio::net::UnixStream::connect(path)).await {
        Ok(Ok(_)) => Dial::Ok,
        Ok(Err(err)) => match err.kind() {
            io::ErrorKind::NotFound => Dial::Missing,
            io::ErrorKind::PermissionDenied => Dial::PermissionDenied,
            io::ErrorKind::ConnectionRefused => Dial::Failed("connection refused (a stale socket?)".to_owned()),
            _ => Dial::Failed(err.to_string()),
        },
        Err(_) => Dial::Failed(format!("no answer within {DIAL_TIMEOUT:?}")),
    }
}

/// What was found at every candidate, for messages.
#[derive(Debug, Default)]
pub struct Search {
    tried: Vec<(String, Dial)>,
}

impl Search {
    pub fn record(&mut self, place: String, dial: Dial) {
        self.tried.push((place, dial));
    }

    /// The first socket where permission was denied, if any.
    pub fn denied(&self) -> Option<PathBuf> {
        self.tried.iter().find(|(_, d)| *d == Dial::PermissionDenied).map(|(p, _)| PathBuf::from(socket_path(p)))
    }

    /// One line per place: `  /run/containerd/containerd.sock: does not exist`.
    pub fn report(&self) -> String {
        let mut out = String::new();
        for (place, dial) in &self.tried {
            let what = match dial {
                Dial::Ok => "reachable".to_owned(),
                Dial::Missing => "does not exist".to_owned(),
                Dial::PermissionDenied => "permission denied".to_owned(),
                Dial::Failed(reason) => reason.clone(),
            };
            let _ = writeln!(out, "  {place}: {what}");
        }
        out.trim_end().to_owned()
    }

    /// The error for "nothing answered": permission denied wins, as it says what to do.
    pub fn unreachable(&self, daemon: &'static str, env: &'static str, hint: &'static str) -> LoadError {
        match self.denied() {
            Some(socket) => LoadError::PermissionDenied { daemon, socket, env },
            None => LoadError::Unreachable { daemon, tried: self.report(), hint },
        }
    }
}

/// `unix:///x` or `/x` → `/x`; a `place` may be annotated as `/x (from $VAR)`.
pub fn socket_path(place: &str) -> &str {
    let place = place.split(" (").next().unwrap_or(place);
    place.strip_prefix("unix://").unwrap_or(place)
}

/// Where to look for containerd: only `$CONTAINERD_ADDRESS` when it is set (an explicit address
/// must not silently fall back to another containerd); else the system socket, the one dockerd
/// starts for itself, and the rootless one.
pub fn containerd_candidates() -> Vec<String> {
    candidates(std::env::var("CONTAINERD_ADDRESS").ok(), std::env::var("XDG_RUNTIME_DIR").ok())
}

fn candidates(address: Option<String>, runtime_dir: Option<String>) -> Vec<String> {
    if let Some(address) = address.filter(|a| !a.is_empty()) {
        return vec![format!("{} (from $CONTAINERD_ADDRESS)", socket_path(&address))];
    }
    let mut places: Vec<String> = SYSTEM_CONTAINERD.iter().chain(&DOCKER_CONTAINERD).map(|p| p.to_string()).collect();
    if let Some(runtime_dir) = runtime_dir.filter(|d| !d.is_empty()) {
        places.push(format!("{runtime_dir}/containerd/containerd.sock"));
    }
    places
}

pub const SYSTEM_CONTAINERD: [&str; 2] = ["/run/containerd/containerd.sock", "/var/run/containerd/containerd.sock"];
/// The containerd dockerd runs for itself when none is configured.
pub const DOCKER_CONTAINERD: [&str; 2] =
    ["/run/docker/containerd/containerd.sock", "/var/run/docker/containerd/containerd.sock"];

/// Dials the candidates in order; the first that answers, or what was found everywhere.
pub async fn find(places: Vec<String>) -> (Option<PathBuf>, Search) {
    let mut search = Search::default();
    for place in places {
        let path = PathBuf::from(socket_path(&place));
        let result = dial(&path).await;
        let ok = result == Dial::Ok;
        search.record(place, result);
        if ok {
            return (Some(path), search);
        }
    }
    (None, search)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_path_strips_scheme_and_note() {
        assert_eq!(socket_path("unix:///a/b.sock"), "/a/b.sock");
        assert_eq!(socket_path("/a/b.sock (from $CONTAINERD_ADDRESS)"), "/a/b.sock");
    }

    #[test]
    fn explicit_address_is_the_only_candidate() {
        let explicit = candidates(Some("unix:///x/c.sock".into()), Some("/run/user/1".into()));
        assert_eq!(explicit, ["/x/c.sock (from $CONTAINERD_ADDRESS)"]);
        let default = candidates(None, Some("/run/user/1".into()));
        assert_eq!(
            default,
            [
                "/run/containerd/containerd.sock",
                "/var/run/containerd/containerd.sock",
                "/run/docker/containerd/containerd.sock",
                "/var/run/docker/containerd/containerd.sock",
                "/run/user/1/containerd/containerd.sock",
            ]
        );
    }

    #[tokio::test]
    async fn missing_socket_is_reported_by_place() {
        let dir = tempfile::tempdir().unwrap();
        let place = dir.path().join("nope.sock").display().to_string();
        let (found, search) = find(vec![place.clone()]).await;
        assert!(found.is_none());
        assert_eq!(search.report(), format!("  {place}: does not exist"));
    }
}
