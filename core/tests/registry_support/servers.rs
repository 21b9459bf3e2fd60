//! Registries the tests start on 127.0.0.1 and stop when dropped: `img registry serve`,
//! distribution's `docker-registry` (optionally with htpasswd auth), and a token service.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::{require_tool, rt};

/// Stops a child process: SIGTERM, a bounded wait, then SIGKILL.
fn stop(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `img registry serve` on a free port.
pub struct ImgRegistry {
    pub addr: String,
    pub root: PathBuf,
    child: Child,
}

impl ImgRegistry {
    pub fn start(root: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_img"))
            .args(["registry", "serve", "--addr", "127.0.0.1:0", "--root"])
            .arg(root)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("img registry serve starts");
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line =
            receiver.recv_timeout(Duration::from_secs(20)).expect("img registry serve prints its address within 20 s");
        let addr = line.trim().to_owned();
        assert!(addr.parse::<SocketAddr>().is_ok(), "first stdout line of img registry serve is an address: {line:?}");
        Self { addr, root: root.to_owned(), child }
    }

    /// Stops the registry with SIGTERM and returns whether it exited cleanly.
    pub fn stop_gracefully(mut self) -> bool {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for ImgRegistry {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Distribution 2.8 (`docker-registry`), the real registry most users push to.
pub struct DockerRegistry {
    pub addr: String,
    pub data: PathBuf,
    child: Child,
    log: PathBuf,
}

impl DockerRegistry {
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, None)
    }

    /// With `htpasswd = Some((user, password))`, Basic auth against a bcrypt htpasswd file.
    pub fn start_with(dir: &Path, htpasswd: Option<(&str, &str)>) -> Self {
        require_tool("docker-registry");
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
        for _ in 0..5 {
            let port = super::free_port();
            let addr = format!("127.0.0.1:{port}");
            let config = dir.join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{auth}",
                    data.display()
                ),
            )
            .unwrap();
            let log = dir.join("registry.log");
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .expect("docker-registry starts");
            let mut registry = Self { addr, data: data.clone(), child, log };
            if registry.wait_ready() {
                return registry;
            }
            stop(&mut registry.child);
        }
        panic!("docker-registry did not start (see {}/registry.log)", dir.display());
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(response) = super::http(reqwest::Method::GET, &format!("http://{}/v2/", self.addr), &[], None) {
                if response.status == 200 || response.status == 401 {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// A token service: `GET /token?service=&scope=` with the right Basic credentials gives the
/// token; anything else is a 401. The scopes asked for are recorded.
pub struct TokenServer {
    pub addr: SocketAddr,
    pub token: String,
    pub scopes_asked: Arc<Mutex<Vec<String>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

#[derive(Clone)]
struct TokenState {
    basic: String,
    token: String,
    anonymous: bool,
    scopes_asked: Arc<Mutex<Vec<String>>>,
}

impl TokenServer {
    /// Issues `token` to requests with Basic `user:password`; with `anonymous`, also to requests
    /// without credentials (like Docker Hub for public images).
    pub fn start(user: &str, password: &str, token: &str, anonymous: bool) -> Self {
        let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")));
        let scopes_asked = Arc::new(Mutex::new(Vec::new()));
        let state = TokenState { basic, token: token.to_owned(), anonymous, scopes_asked: scopes_asked.clone() };
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let listener = rt().block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let router = axum::Router::new().fallback(issue).with_state(state);
        rt().spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self { addr, token: token.to_owned(), scopes_asked, shutdown: Some(shutdown) }
    }

    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }
}

async fn issue(State(state): State<TokenState>, request: Request) -> Response {
    let query = request.uri().query().unwrap_or("").to_owned();
    for pair in query.split('&') {
        if let Some(scope) = pair.strip_prefix("scope=") {
            let scope = scope.replace("%3A", ":").replace("%2C", ",").replace("%2F", "/");
            state.scopes_asked.lock().unwrap().push(scope);
        }
    }
    let given = request.headers().get("Authorization").and_then(|v| v.to_str().ok());
    let authorized = given == Some(state.basic.as_str()) || (state.anonymous && given.is_none());
    if !authorized {
        return (StatusCode::UNAUTHORIZED, "bad credentials").into_response();
    }
    axum::Json(serde_json::json!({ "token": state.token, "access_token": state.token, "expires_in": 300 }))
        .into_response()
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
