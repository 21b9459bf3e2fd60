//! A fault-injecting HTTP proxy in front of a registry, for the tests: it forwards everything,
//! logs every request, and applies rules — answer with a status (500, 429 + Retry-After),
//! reset the connection after part of a request body, corrupt a response body, or demand a
//! bearer token (the registry's token auth, with the test's token service as realm).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use super::rt;

/// What a rule does to a matching request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and headers, without forwarding.
    Status { status: u16, headers: Vec<(String, String)> },
    /// Read this many bytes of the request body, then drop the connection.
    ResetAfter { bytes: usize },
    /// Forward, then flip a byte of the response body.
    CorruptBody,
    /// A request without `Authorization: Bearer <token>` gets a 401 challenge naming `realm`;
    /// one with it is forwarded (without the header). Applies every time.
    RequireBearer { token: String, realm: String, service: String },
}

/// A fault for requests whose method matches (any if `None`) and whose path and query contain
/// `path_contains`, applied `times` times.
#[derive(Debug, Clone)]
pub struct Rule {
    pub method: Option<&'static str>,
    pub path_contains: String,
    pub times: usize,
    pub fault: Fault,
    /// Matching requests let through before the fault applies.
    pub skip: usize,
}

impl Rule {
    pub fn new(method: Option<&'static str>, path_contains: &str, times: usize, fault: Fault) -> Self {
        Self { method, path_contains: path_contains.to_owned(), times, fault, skip: 0 }
    }

    /// Lets the first `n` matching requests through.
    pub fn skipping(mut self, n: usize) -> Self {
        self.skip = n;
        self
    }
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub target: String,
    /// The status answered; 0 for a dropped connection.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
    /// Whether a fault rule answered it.
    pub faulted: bool,
}

struct ProxyState {
    upstream: String,
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<Seen>>,
    client: reqwest::Client,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    state: Arc<ProxyState>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy on 127.0.0.1 in front of `upstream` (`host:port`).
    pub fn start(upstream: &str) -> Self {
        let state = Arc::new(ProxyState {
            upstream: upstream.to_owned(),
            rules: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
            client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        });
        let listener = rt().block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let accept_state = state.clone();
        let task = rt().spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let state = accept_state.clone();
                tokio::spawn(async move {
                    let kill = Arc::new(tokio::sync::Notify::new());
                    let service_kill = kill.clone();
                    let service = service_fn(move |request| handle(state.clone(), service_kill.clone(), request));
                    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    // Dropping the connection future closes the socket mid-request: a reset.
                    tokio::select! {
                        _ = connection => {}
                        _ = kill.notified() => {}
                    }
                });
            }
        });
        Self { addr, state, task }
    }

    pub fn add(&self, rule: Rule) {
        self.state.rules.lock().unwrap().push(rule);
    }

    pub fn clear_rules(&self) {
        self.state.rules.lock().unwrap().clear();
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub fn clear_seen(&self) {
        self.state.seen.lock().unwrap().clear();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Headers about one connection, not the message: each side sets its own.
const HOP_BY_HOP: [&str; 6] = ["connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"];

async fn handle(
    state: Arc<ProxyState>,
    kill: Arc<tokio::sync::Notify>,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Body>, std::convert::Infallible> {
    let method = request.method().as_str().to_owned();
    let target = request.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let at = Instant::now();
    let log = |status: u16, faulted: bool| {
        state.seen.lock().unwrap().push(Seen { method: method.clone(), target: target.clone(), status, at, faulted });
    };
    let mut corrupt = false;
    let mut strip_authorization = false;
    let fault = {
        let mut rules = state.rules.lock().unwrap();
        let mut chosen = None;
        for rule in rules.iter_mut() {
            let matches =
                rule.times > 0 && rule.method.is_none_or(|m| m == method) && target.contains(&rule.path_contains);
            if !matches {
                continue;
            }
            if let Fault::RequireBearer { token, .. } = &rule.fault {
                let expected = format!("Bearer {token}");
                if request.headers().get("Authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str()) {
                    strip_authorization = true;
                    continue;
                }
                chosen = Some(rule.fault.clone());
                break;
            }
            if rule.skip > 0 {
                rule.skip -= 1;
                continue;
            }
            rule.times -= 1;
            chosen = Some(rule.fault.clone());
            break;
        }
        chosen
    };
    match fault {
        Some(Fault::Status { status, headers }) => {
            log(status, true);
            let mut response = hyper::Response::builder().status(status);
            for (name, value) in headers {
                response = response.header(name, value);
            }
            return Ok(response
                .body(Body::from(format!(
                    "{{\"errors\":[{{\"code\":\"INJECTED\",\"message\":\"fault proxy {status}\"}}]}}"
                )))
                .unwrap());
        }
        Some(Fault::RequireBearer { realm, service, .. }) => {
            log(401, true);
            let challenge = format!("Bearer realm=\"{realm}\",service=\"{service}\"");
            return Ok(hyper::Response::builder()
                .status(401)
                .header("WWW-Authenticate", challenge)
                .body(Body::from("{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"token required\"}]}"))
                .unwrap());
        }
        Some(Fault::ResetAfter { bytes }) => {
            log(0, true);
            let mut body = Body::new(request.into_body()).into_data_stream();
            let mut read = 0;
            while read < bytes {
                match body.next().await {
                    Some(Ok(chunk)) => read += chunk.len(),
                    _ => break,
                }
            }
            kill.notify_one();
            std::future::pending::<()>().await;
            unreachable!("the connection is dropped");
        }
        Some(Fault::CorruptBody) => corrupt = true,
        None => {}
    }

    let url = format!("http://{}{target}", state.upstream);
    let (parts, body) = request.into_parts();
    let mut forward = state.client.request(parts.method.clone(), &url);
    for (name, value) in &parts.headers {
        if HOP_BY_HOP.contains(&name.as_str()) || (strip_authorization && name == "authorization") {
            continue;
        }
        forward = forward.header(name, value);
    }
    let body_stream = Body::new(body).into_data_stream();
    let forwarded = forward.body(reqwest::Body::wrap_stream(body_stream)).send().await;
    let upstream = match forwarded {
        Ok(upstream) => upstream,
        Err(err) => {
            log(502, false);
            return Ok(hyper::Response::builder().status(502).body(Body::from(format!("proxy: {err}"))).unwrap());
        }
    };
    let status = upstream.status().as_u16();
    log(status, corrupt);
    let mut response = hyper::Response::builder().status(status);
    for (name, value) in upstream.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            response = response.header(name, value);
        }
    }
    let body = if corrupt {
        // Same length, other bytes: only the digest can tell.
        let mut bytes = upstream.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        if let Some(first) = bytes.first_mut() {
            *first ^= 0x20;
        }
        Body::from(Bytes::from(bytes))
    } else {
        Body::from_stream(upstream.bytes_stream())
    };
    Ok(response.body(body).unwrap())
}
