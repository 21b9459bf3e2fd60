//! `img registry serve`: a small OCI distribution registry on local storage — the whole push and
//! pull API, cross-repository mounts, tag lists and catalog with pagination, and the OCI 1.1
//! referrers API. Every stored blob and manifest is checked against its digest and written
//! atomically. It stops cleanly on SIGTERM or SIGINT.

mod blobs;
mod errors;
mod manifests;
mod storage;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

use self::blobs::Uploads;
use self::errors::{Code, OciError, Result};
use self::storage::Storage;
use crate::registry::reference::check_repository;

/// The registry could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot use {path} as the registry's storage: {source}")]
    Storage { path: PathBuf, source: std::io::Error },
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("the registry stopped: {0}")]
    Serve(std::io::Error),
}

struct App {
    storage: Storage,
    uploads: Uploads,
}

/// Serves the registry stored under `root` on `addr` until SIGTERM or SIGINT. `on_ready` gets
/// the bound address (port 0 picks a free one) once requests can come in.
pub async fn serve(root: &Path, addr: &str, on_ready: impl FnOnce(SocketAddr)) -> std::result::Result<(), ServerError> {
    let storage = Storage::open(root).map_err(|source| ServerError::Storage { path: root.to_owned(), source })?;
    let app = Arc::new(App { storage, uploads: Uploads::default() });
    let router = Router::new().fallback(handle).with_state(app);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr: addr.to_owned(), source })?;
    let bound = listener.local_addr().map_err(|source| ServerError::Bind { addr: addr.to_owned(), source })?;
    on_ready(bound);
    axum::serve(listener, router).with_graceful_shutdown(shutdown_signal()).await.map_err(ServerError::Serve)
}

async fn shutdown_signal() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM can be handled");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

/// One request: route it, answer it (errors as OCI error bodies), add the API version header.
async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    let mut response = dispatch(&app, request).await.unwrap_or_else(IntoResponse::into_response);
    response.headers_mut().insert("Docker-Distribution-API-Version", HeaderValue::from_static("registry/2.0"));
    response
}

/// What a path under `/v2/` addresses.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Ping,
    Catalog,
    Tags(&'a str),
    Manifest(&'a str, &'a str),
    Blob(&'a str, &'a str),
    Uploads(&'a str),
    Upload(&'a str, &'a str),
    Referrers(&'a str, &'a str),
}

/// Repository names contain slashes, so the route is decided by the last keyword in the path.
fn route(path: &str) -> Option<Route<'_>> {
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() || rest == "/" {
        return Some(Route::Ping);
    }
    let rest = rest.strip_prefix('/')?;
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Route::Tags(name));
    }
    if let Some(name) = rest.strip_suffix("/blobs/uploads/").or_else(|| rest.strip_suffix("/blobs/uploads")) {
        return Some(Route::Uploads(name));
    }
    let keywords = ["/blobs/uploads/", "/manifests/", "/blobs/", "/referrers/"];
    let (keyword, at) =
        keywords.iter().filter_map(|k| rest.rfind(k).map(|at| (*k, at))).max_by_key(|(k, at)| (*at, k.len()))?;
    let (name, tail) = (&rest[..at], &rest[at + keyword.len()..]);
    if tail.is_empty() || tail.contains('/') {
        return None;
    }
    Some(match keyword {
        "/blobs/uploads/" => Route::Upload(name, tail),
        "/manifests/" => Route::Manifest(name, tail),
        "/blobs/" => Route::Blob(name, tail),
        _ => Route::Referrers(name, tail),
    })
}

async fn dispatch(app: &App, request: Request) -> Result<Response> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let query: HashMap<String, String> =
        axum::extract::Query::try_from_uri(&parts.uri).map(|q| q.0).unwrap_or_default();
    let route = route(&path).ok_or_else(|| OciError::new(Code::NameInvalid, format!("no such endpoint: {path}")))?;
    if let Some(name) = route_name(&route) {
        check_repository(name).map_err(|err| OciError::new(Code::NameInvalid, err.to_string()))?;
    }
    let (storage, uploads, method, head) = (&app.storage, &app.uploads, &parts.method, parts.method == Method::HEAD);
    match (route, method) {
        (Route::Ping, &Method::GET | &Method::HEAD) => {
            Ok((StatusCode::OK, axum::Json(serde_json::json!({}))).into_response())
        }
        (Route::Catalog, &Method::GET) => manifests::catalog(storage, &query).await,
        (Route::Tags(name), &Method::GET) => manifests::tags(storage, name, &query).await,
        (Route::Manifest(name, reference), &Method::GET | &Method::HEAD) => {
            manifests::get(storage, name, reference, head).await
        }
        (Route::Manifest(name, reference), &Method::PUT) => {
            let bytes = to_bytes(body, manifests::MANIFEST_LIMIT + 1)
                .await
                .map_err(|_| OciError::new(Code::SizeInvalid, "the manifest is too large or broke off"))?;
            manifests::put(storage, name, reference, &parts.headers, bytes).await
        }
        (Route::Manifest(name, reference), &Method::DELETE) => manifests::delete(storage, name, reference).await,
        (Route::Blob(name, digest), &Method::GET | &Method::HEAD) => blobs::get(storage, name, digest, head).await,
        (Route::Blob(name, digest), &Method::DELETE) => blobs::delete(storage, name, digest).await,
        (Route::Uploads(name), &Method::POST) => blobs::start(storage, uploads, name, &query, body).await,
        (Route::Upload(name, id), &Method::PATCH) => {
            blobs::patch(storage, uploads, name, id, &parts.headers, body).await
        }
        (Route::Upload(name, id), &Method::PUT) => blobs::finish(storage, uploads, name, id, &query, body).await,
        (Route::Upload(name, id), &Method::GET) => blobs::status(uploads, name, id).await,
        (Route::Upload(name, id), &Method::DELETE) => blobs::cancel(storage, uploads, name, id).await,
        (Route::Referrers(name, digest), &Method::GET) => manifests::referrers(storage, name, digest, &query).await,
        (_, method) => Err(OciError::new(Code::Unsupported, format!("{method} is not supported on {path}"))),
    }
}

fn route_name<'a>(route: &Route<'a>) -> Option<&'a str> {
    match *route {
        Route::Ping | Route::Catalog => None,
        Route::Tags(name)
        | Route::Manifest(name, _)
        | Route::Blob(name, _)
        | Route::Uploads(name)
        | Route::Upload(name, _)
        | Route::Referrers(name, _) => Some(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_take_the_last_keyword_so_names_may_contain_slashes() {
        assert_eq!(route("/v2/"), Some(Route::Ping));
        assert_eq!(route("/v2"), Some(Route::Ping));
        assert_eq!(route("/v2/_catalog"), Some(Route::Catalog));
        assert_eq!(route("/v2/a/b/tags/list"), Some(Route::Tags("a/b")));
        assert_eq!(route("/v2/a/b/manifests/v1"), Some(Route::Manifest("a/b", "v1")));
        assert_eq!(route("/v2/a/blobs/b/blobs/sha256:x"), Some(Route::Blob("a/blobs/b", "sha256:x")));
        assert_eq!(route("/v2/a/manifests/x/blobs/sha256:x"), Some(Route::Blob("a/manifests/x", "sha256:x")));
        assert_eq!(route("/v2/a/blobs/uploads/"), Some(Route::Uploads("a")));
        assert_eq!(route("/v2/a/blobs/uploads/1234"), Some(Route::Upload("a", "1234")));
        assert_eq!(route("/v2/a/referrers/sha256:x"), Some(Route::Referrers("a", "sha256:x")));
        assert_eq!(route("/v3/a"), None);
        assert_eq!(route("/v2/a/manifests/"), None);
    }
}
