//! A token service the tests start on 127.0.0.1 and stop when dropped, for registries that
//! hand out bearer tokens (the registries themselves are `e2e::runtimes`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::rt;

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
