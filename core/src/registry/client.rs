//! One registry host, spoken to over the distribution API: authenticated requests and the blob,
//! upload and manifest primitives. Every primitive is one attempt; callers wrap whole logical
//! operations (an upload is POST + PUT) in [`RetryPolicy::run`], so retries never nest.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Body, RequestBuilder, Response, StatusCode, Url};
use serde::Deserialize;

use super::auth::{Authenticator, Scope};
use super::credentials::CredentialOptions;
use super::log::Log;
use super::media::MANIFEST_ACCEPT;
use super::reference::{api_host, check_host, scheme};
use super::retry::{parse_retry_after, RetryPolicy};
use super::RegistryError;

/// How much of an error body is read to explain a failure.
const ERROR_BODY_LIMIT: usize = 16 * 1024;
const OCTET_STREAM: &str = "application/octet-stream";

/// Settings shared by every registry a command talks to.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Plain HTTP to any host (`--insecure`, `IMG_INSECURE=1`); loopback hosts always get it.
    pub insecure: bool,
    pub credentials: CredentialOptions,
    pub retry: RetryPolicy,
    pub log: Log,
}

impl ClientOptions {
    /// The settings of a command without registry flags (`img load`, `img deploy`), and the
    /// defaults of one with them: plain HTTP to any host with `IMG_INSECURE=1`, credentials from
    /// the usual places (and `IMG_CREDENTIAL_HELPER`), retries as `IMG_REGISTRY_RETRY_*` say.
    pub fn from_env() -> Result<Self, RegistryError> {
        let insecure = std::env::var("IMG_INSECURE").is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes"));
        Ok(Self {
            insecure,
            credentials: CredentialOptions::default().with_env(),
            retry: RetryPolicy::from_env()?,
            log: Log::default(),
        })
    }

    /// Adds what the build settings, written into a push or load request, ask for. Choices made
    /// at run time (flags, environment) win: the settings only fill what those left open, and
    /// `insecure` from either side allows plain HTTP.
    pub fn with_build_settings(&self, settings: &BuildSettings) -> Self {
        let mut options = self.clone();
        options.insecure |= settings.insecure;
        let credentials = &mut options.credentials;
        if credentials.credential_helper.is_none() {
            credentials.credential_helper = settings.credential_helper.as_ref().map(PathBuf::from);
        }
        if credentials.docker_config_path.is_none() {
            credentials.docker_config_path = settings.docker_config_path.as_ref().map(PathBuf::from);
        }
        options
    }
}

/// The `credential_helper`, `docker_config_path` and `insecure` settings of the build that wrote
/// a push or load request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildSettings {
    pub credential_helper: Option<String>,
    pub docker_config_path: Option<String>,
    pub insecure: bool,
}

/// What a command does with a registry: only read, or also write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Pull,
    Push,
}

/// The HTTP client every registry of a command shares (one connection pool; TLS verified
/// against the platform's and Mozilla's roots through rustls).
pub fn http_client() -> Result<reqwest::Client, RegistryError> {
    reqwest::Client::builder()
        .user_agent(concat!("rules_img-img/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(300))
        .tcp_nodelay(true)
        .build()
        .map_err(|err| RegistryError::transport("creating the HTTP client", "-", &err))
}

/// A blob mount either happened, or the registry opened an ordinary upload session instead.
pub enum Mount {
    Mounted,
    Session(Url),
}

/// A manifest or index as the registry served it.
pub struct FetchedManifest {
    pub bytes: Bytes,
    pub content_type: Option<String>,
}

/// One registry host.
pub struct Registry {
    /// The name the user gave (`127.0.0.1:5000`, `docker.io`).
    pub host: String,
    pub retry: RetryPolicy,
    base: Url,
    http: reqwest::Client,
    auth: Authenticator,
    access: Access,
    log: Log,
    /// False once the registry has shown that `POST ?digest=` does not complete an upload
    /// (distribution 2.8 answers 202 and ignores the body): then POST + PUT is used directly.
    single_post: AtomicBool,
}

impl Registry {
    pub fn new(
        host: &str,
        access: Access,
        options: &ClientOptions,
        http: reqwest::Client,
    ) -> Result<Self, RegistryError> {
        check_host(host)?;
        let endpoint = format!("{}://{}/", scheme(host, options.insecure), api_host(host));
        let base = Url::parse(&endpoint).map_err(|err| {
            RegistryError::Usage(format!("registry `{host}` does not make a URL ({endpoint}): {err}"))
        })?;
        let auth = Authenticator::new(host, base.as_str(), options.credentials.clone(), http.clone(), options.log);
        Ok(Self {
            host: host.to_owned(),
            retry: options.retry,
            base,
            http,
            auth,
            access,
            log: options.log,
            single_post: AtomicBool::new(true),
        })
    }

    /// `host/repository:tag` or `host/repository@digest`, for messages.
    fn reference(&self, repository: &str, reference: &str) -> String {
        let separator = if reference.contains(':') { '@' } else { ':' };
        format!("{}/{repository}{separator}{reference}", self.host)
    }

    fn scope(&self, repository: &str) -> Scope {
        match self.access {
            Access::Pull => Scope::pull(repository),
            Access::Push => Scope::push(repository),
        }
    }

    /// `<base>/v2/<path>`.
    pub fn url(&self, path: &str) -> Url {
        self.base.join(&format!("v2/{path}")).expect("a registry path joins onto its base URL")
    }

    /// Sends one request, answering one 401 with fresh credentials or a token. `build` makes the
    /// request and is called again for the authenticated repeat (so bodies are made anew).
    pub async fn send(
        &self,
        what: &str,
        scope: &Scope,
        mut build: impl FnMut(&reqwest::Client) -> Result<RequestBuilder, RegistryError>,
    ) -> Result<Response, RegistryError> {
        let mut refreshed = false;
        loop {
            let used = self.auth.header(scope);
            let mut builder = build(&self.http)?;
            if let Some(header) = &used {
                builder = builder.header(AUTHORIZATION, header.clone());
            }
            let request = builder.build().map_err(|err| RegistryError::transport(what, "-", &err))?;
            let url = request.url().to_string();
            self.log.request(&request);
            let response =
                self.http.execute(request).await.map_err(|err| RegistryError::transport(what, &url, &err))?;
            self.log.response(&response);
            if response.status() != StatusCode::UNAUTHORIZED {
                return Ok(response);
            }
            if refreshed {
                return Err(self.auth.unauthorized(what, 401).await);
            }
            let challenge = response.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).map(str::to_owned);
            self.auth.refresh(what, &url, challenge.as_deref(), scope, used.as_ref()).await?;
            refreshed = true;
        }
    }

    /// Whether the repository has the blob (HEAD).
    pub async fn blob_exists(&self, repository: &str, digest: &str) -> Result<bool, RegistryError> {
        let what = format!("checking blob {digest} in {}/{repository}", self.host);
        let url = self.url(&format!("{repository}/blobs/{digest}"));
        let response = self.send(&what, &self.scope(repository), |http| Ok(http.head(url.clone()))).await?;
        match response.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(status_error(&what, response).await),
        }
    }

    /// The blob's content as a stream, or `None` if the repository does not have it.
    pub async fn blob(&self, repository: &str, digest: &str) -> Result<Option<Response>, RegistryError> {
        let what = format!("fetching blob {digest} from {}/{repository}", self.host);
        let url = self.url(&format!("{repository}/blobs/{digest}"));
        let response = self.send(&what, &self.scope(repository), |http| Ok(http.get(url.clone()))).await?;
        match response.status() {
            StatusCode::OK => Ok(Some(response)),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(status_error(&what, response).await),
        }
    }

    /// Opens an upload session; the URL to PATCH / PUT to.
    pub async fn start_upload(&self, repository: &str) -> Result<Url, RegistryError> {
        let what = format!("starting an upload to {}/{repository}", self.host);
        let url = self.url(&format!("{repository}/blobs/uploads/"));
        let response = self
            .send(&what, &self.scope(repository), |http| Ok(http.post(url.clone()).header(CONTENT_LENGTH, 0)))
            .await?;
        let response = expect(&what, response, &[StatusCode::ACCEPTED]).await?;
        self.location(&what, &response)
    }

    /// Uploads a small blob in one `POST ?digest=`. False if the registry only opened a session
    /// (then this is never tried again on it, and the session is cancelled).
    pub async fn upload_in_one_post(
        &self,
        repository: &str,
        digest: &str,
        size: u64,
        body: impl Fn() -> Result<Body, RegistryError>,
    ) -> Result<bool, RegistryError> {
        if !self.single_post.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let what = format!("uploading blob {digest} to {}/{repository}", self.host);
        let mut url = self.url(&format!("{repository}/blobs/uploads/"));
        url.query_pairs_mut().append_pair("digest", digest);
        let response = self
            .send(&what, &self.scope(repository), |http| {
                Ok(http.post(url.clone()).header(CONTENT_TYPE, OCTET_STREAM).header(CONTENT_LENGTH, size).body(body()?))
            })
            .await?;
        match response.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                self.single_post.store(false, Ordering::Relaxed);
                if let Ok(session) = self.location(&what, &response) {
                    self.cancel_upload(repository, session).await;
                }
                Ok(false)
            }
            _ => Err(status_error(&what, response).await),
        }
    }

    /// Asks the registry to link a blob from another repository of it.
    pub async fn mount(&self, repository: &str, digest: &str, from: &str) -> Result<Mount, RegistryError> {
        let what = format!("mounting blob {digest} from {from} into {}/{repository}", self.host);
        let mut url = self.url(&format!("{repository}/blobs/uploads/"));
        url.query_pairs_mut().append_pair("mount", digest).append_pair("from", from);
        let scope = Scope { mount_from: Some(from.to_owned()), ..self.scope(repository) };
        let response = self.send(&what, &scope, |http| Ok(http.post(url.clone()).header(CONTENT_LENGTH, 0))).await?;
        match response.status() {
            StatusCode::CREATED => Ok(Mount::Mounted),
            StatusCode::ACCEPTED => Ok(Mount::Session(self.location(&what, &response)?)),
            _ => Err(status_error(&what, response).await),
        }
    }

    /// Sends bytes `offset..offset+length` of an upload; the session's next URL.
    pub async fn patch_upload(
        &self,
        repository: &str,
        session: &Url,
        offset: u64,
        length: u64,
        body: impl Fn() -> Result<Body, RegistryError>,
    ) -> Result<Url, RegistryError> {
        let what = format!("uploading bytes {offset}..{} to {}/{repository}", offset + length, self.host);
        let range = format!("{offset}-{}", (offset + length).saturating_sub(1));
        let response = self
            .send(&what, &self.scope(repository), |http| {
                Ok(http
                    .patch(session.clone())
                    .header(CONTENT_TYPE, OCTET_STREAM)
                    .header(CONTENT_LENGTH, length)
                    .header("Content-Range", range.as_str())
                    .body(body()?))
            })
            .await?;
        let response = expect(&what, response, &[StatusCode::ACCEPTED, StatusCode::NO_CONTENT]).await?;
        self.location(&what, &response)
    }

    /// Completes an upload with `PUT ?digest=`, sending `body` (`length` bytes) as its last part.
    pub async fn finish_upload(
        &self,
        repository: &str,
        session: &Url,
        digest: &str,
        length: u64,
        body: impl FnMut() -> Result<Body, RegistryError>,
    ) -> Result<(), RegistryError> {
        let what = format!("uploading blob {digest} to {}/{repository}", self.host);
        let mut url = session.clone();
        url.query_pairs_mut().append_pair("digest", digest);
        let mut body = body;
        let response = self
            .send(&what, &self.scope(repository), |http| {
                Ok(http
                    .put(url.clone())
                    .header(CONTENT_TYPE, OCTET_STREAM)
                    .header(CONTENT_LENGTH, length)
                    .body(body()?))
            })
            .await?;
        expect(&what, response, &[StatusCode::CREATED, StatusCode::NO_CONTENT]).await.map(drop)
    }

    /// How many bytes an upload session holds (for resuming after a failed PATCH).
    pub async fn upload_offset(&self, repository: &str, session: &Url) -> Result<u64, RegistryError> {
        let what = format!("asking {}/{repository} for the state of an upload", self.host);
        let response = self.send(&what, &self.scope(repository), |http| Ok(http.get(session.clone()))).await?;
        let response = expect(&what, response, &[StatusCode::NO_CONTENT, StatusCode::OK]).await?;
        let range = response.headers().get("Range").and_then(|v| v.to_str().ok()).unwrap_or("");
        range.split_once('-').and_then(|(_, end)| end.trim().parse::<u64>().ok()).map(|end| end + 1).ok_or_else(|| {
            RegistryError::Status {
                what,
                url: session.to_string(),
                status: response.status().as_u16(),
                detail: format!(" without a usable Range header ({range:?})"),
                retry_after: None,
            }
        })
    }

    /// Abandons an upload session (best effort: an abandoned session expires anyway).
    pub async fn cancel_upload(&self, repository: &str, session: Url) {
        let what = format!("cancelling an upload to {}/{repository}", self.host);
        let _ = self.send(&what, &self.scope(repository), |http| Ok(http.delete(session.clone()))).await;
    }

    /// A manifest or index by tag or digest (at most `limit` bytes), or `None` if unknown.
    pub async fn manifest(
        &self,
        repository: &str,
        reference: &str,
        limit: u64,
    ) -> Result<Option<FetchedManifest>, RegistryError> {
        let what = format!("fetching manifest {}", self.reference(repository, reference));
        let url = self.url(&format!("{repository}/manifests/{reference}"));
        let response = self
            .send(&what, &self.scope(repository), |http| Ok(http.get(url.clone()).header(ACCEPT, MANIFEST_ACCEPT)))
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = expect(&what, response, &[StatusCode::OK]).await?;
        let content_type = content_type(&response);
        let bytes = read_limited(&what, response, limit).await?;
        Ok(Some(FetchedManifest { bytes, content_type }))
    }

    /// The digest a tag or digest reference resolves to (HEAD), or `None` if unknown; `None`
    /// inside when the registry does not say (then the caller GETs and hashes).
    pub async fn manifest_digest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<Option<String>>, RegistryError> {
        let what = format!("resolving {}", self.reference(repository, reference));
        let url = self.url(&format!("{repository}/manifests/{reference}"));
        let response = self
            .send(&what, &self.scope(repository), |http| Ok(http.head(url.clone()).header(ACCEPT, MANIFEST_ACCEPT)))
            .await?;
        match response.status() {
            StatusCode::OK => Ok(Some(
                response.headers().get("Docker-Content-Digest").and_then(|v| v.to_str().ok()).map(str::to_owned),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(status_error(&what, response).await),
        }
    }

    /// Stores a manifest or index under a tag or its digest.
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &Bytes,
    ) -> Result<(), RegistryError> {
        let what = format!("pushing manifest {}", self.reference(repository, reference));
        let url = self.url(&format!("{repository}/manifests/{reference}"));
        let response = self
            .send(&what, &self.scope(repository), |http| {
                Ok(http.put(url.clone()).header(CONTENT_TYPE, media_type).body(bytes.clone()))
            })
            .await?;
        expect(&what, response, &[StatusCode::CREATED, StatusCode::OK, StatusCode::ACCEPTED]).await.map(drop)
    }

    fn location(&self, what: &str, response: &Response) -> Result<Url, RegistryError> {
        let location = response.headers().get(LOCATION).and_then(|v| v.to_str().ok());
        location.and_then(|location| self.base.join(location).ok()).ok_or_else(|| RegistryError::Status {
            what: what.to_owned(),
            url: response.url().to_string(),
            status: response.status().as_u16(),
            detail: " without a usable Location header".to_owned(),
            retry_after: None,
        })
    }
}

/// The response if its status is one of `ok`, else the registry's error.
pub async fn expect(what: &str, response: Response, ok: &[StatusCode]) -> Result<Response, RegistryError> {
    if ok.contains(&response.status()) {
        Ok(response)
    } else {
        Err(status_error(what, response).await)
    }
}

/// The error for an unexpected status, with the OCI error codes and messages of its body.
pub async fn status_error(what: &str, response: Response) -> RegistryError {
    let status = response.status();
    let url = response.url().to_string();
    let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
    let body = read_limited(what, response, ERROR_BODY_LIMIT as u64).await.unwrap_or_default();
    RegistryError::Status {
        what: what.to_owned(),
        url,
        status: status.as_u16(),
        detail: explain(status, &body),
        retry_after,
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// ` <status>: CODE: message; …`, or the start of a non-JSON body.
fn explain(status: StatusCode, body: &[u8]) -> String {
    let mut detail = format!(" HTTP {status}");
    if let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) {
        let entries: Vec<String> = parsed.errors.iter().map(|e| format!("{}: {}", e.code, e.message)).collect();
        if !entries.is_empty() {
            detail.push_str(": ");
            detail.push_str(&entries.join("; "));
        }
    } else {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if !text.is_empty() {
            detail.push_str(": ");
            detail.extend(text.chars().take(200));
        }
    }
    detail
}

/// Reads a whole response body, refusing more than `limit` bytes.
pub async fn read_limited(what: &str, mut response: Response, limit: u64) -> Result<Bytes, RegistryError> {
    let url = response.url().to_string();
    if response.content_length().is_some_and(|length| length > limit) {
        return Err(RegistryError::TooLarge { what: what.to_owned(), url, limit });
    }
    let mut buffer = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| RegistryError::transport(what, &url, &err))? {
        if (buffer.len() + chunk.len()) as u64 > limit {
            return Err(RegistryError::TooLarge { what: what.to_owned(), url, limit });
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buffer))
}

/// The media type of a response, without parameters.
pub fn content_type(response: &Response) -> Option<String> {
    let value = response.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or(value).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_settings_fill_only_what_run_time_choices_left_open() {
        let settings = BuildSettings {
            credential_helper: Some("/opt/setting-helper".into()),
            docker_config_path: Some("/opt/setting-config.json".into()),
            insecure: true,
        };
        let open = ClientOptions::default().with_build_settings(&settings);
        assert_eq!(open.credentials.credential_helper, Some(PathBuf::from("/opt/setting-helper")));
        assert_eq!(open.credentials.docker_config_path, Some(PathBuf::from("/opt/setting-config.json")));
        assert!(open.insecure);

        let mut chosen = ClientOptions::default();
        chosen.credentials.credential_helper = Some("/run/flag-helper".into());
        chosen.credentials.docker_config_path = Some("/run/flag-config.json".into());
        let chosen = chosen.with_build_settings(&settings);
        assert_eq!(chosen.credentials.credential_helper, Some(PathBuf::from("/run/flag-helper")));
        assert_eq!(chosen.credentials.docker_config_path, Some(PathBuf::from("/run/flag-config.json")));

        let plain = ClientOptions::default().with_build_settings(&BuildSettings::default());
        assert!(!plain.insecure && plain.credentials.credential_helper.is_none());
    }
}
