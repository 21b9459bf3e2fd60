//! Errors of the registry client, `img push` and `img pull`. Messages name the registry, the
//! repository and the file or layer concerned, and never carry a credential.

use std::path::PathBuf;
use std::time::Duration;

use super::reference::NameError;
use crate::atomic::OutputError;
use crate::deploy::image::DeployImageError;
use crate::request::RequestError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The image a push request names cannot be read or does not hold together.
    #[error(transparent)]
    Image(#[from] DeployImageError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("{what}: cannot reach {url}: {reason}")]
    Transport { what: String, url: String, reason: String, retryable: bool },
    #[error("{what}: {url} answered {status}{detail}")]
    Status { what: String, url: String, status: u16, detail: String, retry_after: Option<Duration> },
    #[error(
        "{what}: registry {registry} requires credentials and none were found. Looked in: {looked}. \
         Log in with `docker login {registry}` (or `podman login`), or pass --docker-config-path FILE \
         or --credential-helper PATH"
    )]
    NoCredentials { what: String, registry: String, looked: String },
    #[error("{what}: registry {registry} rejected the credentials from {origin} (HTTP {status}); check them or log in again")]
    CredentialsRejected { what: String, registry: String, origin: String, status: u16 },
    #[error("{what}: {url} answered 401 without a usable WWW-Authenticate challenge ({challenge})")]
    BadChallenge { what: String, url: String, challenge: String },
    #[error("{what}: the token service {realm} of registry {registry} answered {detail}")]
    Token { what: String, registry: String, realm: String, detail: String },
    #[error(
        "{what}: {url} sent content whose digest is {actual}, not the expected {expected}; it was rejected \
         and not stored"
    )]
    DigestMismatch { what: String, url: String, expected: String, actual: String },
    #[error("{what}: {url} sent more than {limit} bytes, more than any such document may have")]
    TooLarge { what: String, url: String, limit: u64 },
    #[error("{what} from {origin} is not a valid {kind}: {reason}")]
    BadDocument { what: String, origin: String, kind: &'static str, reason: String },
    #[error("push request {path}: {reason}")]
    Plan { path: PathBuf, reason: String },
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "{what} ({digest}) has no local blob and could not be fetched from any of its sources: {reasons}. \
         The base image's layers must stay available in its registry (or push with eagerly downloaded layers)"
    )]
    BlobUnavailable { what: String, digest: String, reasons: String },
    #[error("{0}")]
    Usage(String),
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp { attempts: u32, last: Box<RegistryError> },
}

impl RegistryError {
    /// `Some(retry_after)` when the failure is transient (a reset connection, a 5xx, a 429) and the
    /// operation may be tried again, after `retry_after` if the registry said so.
    pub fn retry_hint(&self) -> Option<Option<Duration>> {
        match self {
            RegistryError::Transport { retryable: true, .. } => Some(None),
            RegistryError::Status { status, retry_after, .. } if is_transient_status(*status) => Some(*retry_after),
            _ => None,
        }
    }

    /// A transport failure of a reqwest call, with the whole cause chain (hyper's reason is
    /// several levels deep; reqwest's own text only says "error sending request").
    pub fn transport(what: &str, url: &str, err: &reqwest::Error) -> Self {
        let mut reason = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !reason.contains(&text) {
                reason.push_str(": ");
                reason.push_str(&text);
            }
            source = cause.source();
        }
        // A body error that *we* raised (a digest mismatch while streaming) is final.
        let retryable = !err.is_builder() && !err.is_redirect() && !err.is_decode() && !reason.contains(NOT_RETRYABLE);
        RegistryError::Transport { what: what.to_owned(), url: url.to_owned(), reason, retryable }
    }
}

/// Marks a stream error raised on purpose (the streamed content is wrong) so it is not retried.
pub const NOT_RETRYABLE: &str = "[final]";

/// 408, 429 and every 5xx but 501 (not implemented, retrying cannot help).
pub fn is_transient_status(status: u16) -> bool {
    status == 408 || status == 429 || (status >= 500 && status != 501 && status != 505)
}
