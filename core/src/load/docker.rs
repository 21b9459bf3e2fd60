//! Docker through its Engine API (`$DOCKER_HOST`, default `unix:///var/run/docker.sock`): a ping
//! to see whether it is there, `/info` to see whether it keeps images in containerd (then the
//! containerd path loads into its `moby` namespace), and `POST /images/load` with the tarball
//! streamed as the request body (no temp file, no `docker` CLI needed).

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::Frame;
use hyper::client::conn::http1;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;

use super::socket::{dial, Dial};
use super::source::CHUNK;
use super::LoadError;

type Body = BoxBody<Bytes, io::Error>;

/// Where the Docker Engine API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerHost {
    Unix(PathBuf),
    Tcp(String),
}

impl DockerHost {
    /// `$DOCKER_HOST` (`unix://…` or `tcp://…`), else the default socket.
    pub fn from_env() -> Result<Self, LoadError> {
        match std::env::var("DOCKER_HOST") {
            Ok(host) if !host.is_empty() => Self::parse(&host),
            _ => Ok(Self::Unix(PathBuf::from("/var/run/docker.sock"))),
        }
    }

    pub fn parse(host: &str) -> Result<Self, LoadError> {
        if let Some(path) = host.strip_prefix("unix://") {
            Ok(Self::Unix(PathBuf::from(path)))
        } else if let Some(addr) = host.strip_prefix("tcp://").or_else(|| host.strip_prefix("http://")) {
            Ok(Self::Tcp(addr.trim_end_matches('/').to_owned()))
        } else {
            Err(LoadError::Usage(format!(
                "DOCKER_HOST={host:?} is not supported: use unix:///path/to/docker.sock or tcp://host:port"
            )))
        }
    }

    /// Whether the socket is there and answers `/_ping`.
    pub async fn ping(&self) -> Dial {
        if let Self::Unix(path) = self {
            let found = dial(path).await;
            if found != Dial::Ok {
                return found;
            }
        }
        match tokio::time::timeout(PING_TIMEOUT, self.get("/_ping")).await {
            Ok(Ok(_)) => Dial::Ok,
            Ok(Err(err)) => Dial::Failed(err.to_string()),
            Err(_) => Dial::Failed("no answer to /_ping".to_owned()),
        }
    }

    /// Whether the daemon keeps images in containerd's content store (Docker 24+ with the
    /// containerd image store), where loading into containerd directly keeps our digests.
    pub async fn uses_containerd_store(&self) -> Result<bool, LoadError> {
        let body = self.get("/info").await?;
        let info: serde_json::Value = serde_json::from_slice(&body).map_err(|err| self.error("reading /info", err))?;
        Ok(containerd_store(&info))
    }

    async fn connect(&self) -> Result<http1::SendRequest<Body>, LoadError> {
        match self {
            Self::Unix(path) => {
                let stream =
                    tokio::net::UnixStream::connect(path).await.map_err(|err| self.error("connecting", err))?;
                self.handshake(stream).await
            }
            Self::Tcp(addr) => {
                let stream = tokio::net::TcpStream::connect(addr).await.map_err(|err| self.error("connecting", err))?;
                self.handshake(stream).await
            }
        }
    }

    async fn handshake<S>(&self, stream: S) -> Result<http1::SendRequest<Body>, LoadError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) =
            http1::handshake(TokioIo::new(stream)).await.map_err(|err| self.error("connecting", err))?;
        tokio::spawn(connection);
        Ok(sender)
    }

    async fn get(&self, path: &str) -> Result<Bytes, LoadError> {
        let empty: Body = Empty::new().map_err(|never| match never {}).boxed();
        let request = Request::builder().method(Method::GET).uri(path).header("Host", "docker").body(empty);
        let (status, body) = self.send(path, request.expect("a valid request")).await?;
        if status != StatusCode::OK {
            return Err(self.error(&format!("GET {path}"), format!("{status}: {}", String::from_utf8_lossy(&body))));
        }
        Ok(body)
    }

    async fn send(&self, what: &str, request: Request<Body>) -> Result<(StatusCode, Bytes), LoadError> {
        let mut sender = self.connect().await?;
        let response = sender.send_request(request).await.map_err(|err| self.error(what, err))?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(|err| self.error(what, err))?.to_bytes();
        Ok((status, body))
    }

    /// `POST /images/load` with the tarball that `produce` writes into the given writer (on a
    /// blocking thread). Returns what docker said it loaded.
    pub async fn load<F>(&self, produce: F) -> Result<Vec<String>, LoadError>
    where
        F: FnOnce(BodyWriter) -> Result<(), LoadError> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(4);
        let writer = BodyWriter { tx: tx.clone(), buffer: Vec::with_capacity(CHUNK) };
        let producer = tokio::task::spawn_blocking(move || {
            let result = produce(writer);
            if let Err(err) = &result {
                // Abort the request body: docker must see a broken upload, not a short archive.
                let _ = tx.blocking_send(Err(io::Error::other(err.to_string())));
            }
            result
        });
        let frames = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
            .map(|item| item.map(Frame::data));
        let body: Body = BodyExt::boxed(StreamBody::new(frames));
        let request = Request::builder()
            .method(Method::POST)
            .uri("/images/load?quiet=1")
            .header("Host", "docker")
            .header("Content-Type", "application/x-tar")
            .body(body)
            .expect("a valid request");
        let sent = self.send("POST /images/load", request).await;
        let produced = producer.await.unwrap_or_else(|err| Err(LoadError::Tarball(io::Error::other(err))));
        let (status, body) = match (sent, produced) {
            // The tarball's own error explains a broken upload best.
            (Err(_), Err(err)) => return Err(err),
            (Err(err), Ok(())) => return Err(err),
            (Ok(answer), Err(err)) if answer.0 == StatusCode::OK => return Err(err),
            (Ok(answer), _) => answer,
        };
        let text = String::from_utf8_lossy(&body);
        if status != StatusCode::OK {
            return Err(self.error("POST /images/load", format!("{status}: {}", text.trim())));
        }
        // A JSON stream: {"stream":"Loaded image: x\n"} lines, or {"error": "..."}.
        let mut loaded = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let message: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            if let Some(error) = message.get("error").and_then(|e| e.as_str()) {
                return Err(self.error("loading the image", error));
            }
            if let Some(stream) = message.get("stream").and_then(|s| s.as_str()) {
                loaded.extend(stream.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned));
            }
        }
        Ok(loaded)
    }

    fn error(&self, what: &str, reason: impl ToString) -> LoadError {
        LoadError::Docker { host: self.to_string(), what: what.to_owned(), reason: reason.to_string() }
    }
}

/// Docker 24+ with the containerd image store reports `["driver-type", "io.containerd.snapshotter.v1"]`
/// in `/info`'s `DriverStatus`; graph drivers (vfs, overlay2) report other pairs.
fn containerd_store(info: &serde_json::Value) -> bool {
    let status = info.get("DriverStatus").and_then(|s| s.as_array()).cloned().unwrap_or_default();
    status
        .iter()
        .any(|pair| pair.get(1).and_then(|v| v.as_str()).is_some_and(|v| v.starts_with("io.containerd.snapshotter")))
}

impl std::fmt::Display for DockerHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unix(path) => write!(f, "unix://{}", path.display()),
            Self::Tcp(addr) => write!(f, "tcp://{addr}"),
        }
    }
}

/// The request body as a blocking `Write`: pieces of up to [`CHUNK`] bytes go to the connection.
pub struct BodyWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buffer: Vec<u8>,
}

impl BodyWriter {
    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let piece = Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(piece))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "docker closed the upload"))
    }
}

impl Write for BodyWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = bytes.len().min(CHUNK - self.buffer.len());
        self.buffer.extend_from_slice(&bytes[..n]);
        if self.buffer.len() == CHUNK {
            self.send_buffer()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffer()
    }
}

/// How long to wait for docker's `/_ping` before calling it unreachable.
pub const PING_TIMEOUT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containerd_image_store_is_recognised_from_info() {
        let store = serde_json::json!({"Driver": "overlayfs", "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]});
        let graph = serde_json::json!({"Driver": "vfs", "DriverStatus": null});
        let overlay2 = serde_json::json!({"Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"]]});
        assert!(containerd_store(&store));
        assert!(!containerd_store(&graph) && !containerd_store(&overlay2));
    }

    #[test]
    fn docker_host_forms() {
        assert_eq!(DockerHost::parse("unix:///tmp/d.sock").unwrap(), DockerHost::Unix("/tmp/d.sock".into()));
        assert_eq!(DockerHost::parse("tcp://127.0.0.1:2375").unwrap(), DockerHost::Tcp("127.0.0.1:2375".into()));
        assert!(matches!(DockerHost::parse("ssh://host"), Err(LoadError::Usage(_))));
    }
}
