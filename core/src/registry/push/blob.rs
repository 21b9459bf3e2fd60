//! Getting one blob into the destination repository, cheapest way first: it is already there
//! (HEAD), it can be mounted from another repository of the same registry, it is uploaded from
//! the local file (one POST, POST + PUT, or PATCH chunks for large files), or it is streamed from
//! a source registry straight into the upload, verified on the way and never written to disk.

use std::collections::HashMap;
use std::io::{self, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use img_contract::deploy::BlobSource;
use indicatif::ProgressBar;
use reqwest::{Body, Response};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use super::plan::Blob;
use crate::digest::Sha256Counter;
use crate::registry::client::{Access, ClientOptions, Mount, Registry};
use crate::registry::error::NOT_RETRYABLE;
use crate::registry::progress::{human_bytes, Progress};
use crate::registry::reference::canonical_host;
use crate::registry::RegistryError;

/// Blobs up to this size are first offered in a single `POST ?digest=` (one round trip fewer
/// on registries that take it). Larger ones never are: a registry that ignores the body (as
/// distribution does) would make us send it twice.
const ONE_POST_LIMIT: u64 = 256 * 1024;
/// Read size of local blobs.
const READ_BUFFER: usize = 1 << 20;

/// How a blob got there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Skipped,
    Mounted,
    Streamed,
    Uploaded,
}

/// Registries blobs are streamed from, one client each, made when first needed.
pub struct Sources {
    options: ClientOptions,
    http: reqwest::Client,
    registries: Mutex<HashMap<String, Arc<Registry>>>,
}

impl Sources {
    pub fn new(options: ClientOptions, http: reqwest::Client) -> Self {
        Self { options, http, registries: Mutex::new(HashMap::new()) }
    }

    fn get(&self, host: &str) -> Result<Arc<Registry>, RegistryError> {
        let mut registries = self.registries.lock().expect("source registry map lock");
        if let Some(registry) = registries.get(host) {
            return Ok(registry.clone());
        }
        let registry = Arc::new(Registry::new(host, Access::Pull, &self.options, self.http.clone())?);
        registries.insert(host.to_owned(), registry.clone());
        Ok(registry)
    }
}

/// What pushing blobs needs to know.
pub struct Context<'a> {
    pub destination: &'a Registry,
    pub repository: &'a str,
    pub sources: &'a Sources,
    /// Local blobs larger than this are sent in PATCH chunks of this size.
    pub chunk_size: u64,
    pub progress: &'a Progress,
}

/// Makes sure the destination repository has `blob`.
pub async fn push(ctx: &Context<'_>, blob: &Blob) -> Result<Outcome, RegistryError> {
    let (destination, repository, digest) = (ctx.destination, ctx.repository, blob.digest.as_str());
    let retry = destination.retry;
    let short = short_digest(digest);
    let exists = retry
        .run(&format!("checking {short} in {}", destination.host), || destination.blob_exists(repository, digest))
        .await?;
    if exists {
        ctx.progress.done(&ProgressBar::hidden(), &format!("img push: {short} already present ({})", blob.what));
        return Ok(Outcome::Skipped);
    }
    let mut reasons = Vec::new();
    let same_registry = |source: &&BlobSource| canonical_host(&source.registry) == canonical_host(&destination.host);
    for source in blob.sources.iter().filter(same_registry).filter(|s| s.repository != repository) {
        let what = format!("mounting {short} from {}", source.repository);
        match retry.run(&what, || destination.mount(repository, digest, &source.repository)).await {
            Ok(Mount::Mounted) => {
                let line =
                    format!("img push: {short} mounted from {}/{} ({})", source.registry, source.repository, blob.what);
                ctx.progress.done(&ProgressBar::hidden(), &line);
                return Ok(Outcome::Mounted);
            }
            Ok(Mount::Session(session)) => destination.cancel_upload(repository, session).await,
            Err(err) => reasons.push(format!("mount from {}: {err}", source.repository)),
        }
    }
    let bar = ctx.progress.blob(&short, blob.size);
    if let Some(path) = &blob.local {
        upload_file(ctx, blob, path, &bar).await?;
        let line = format!("img push: {short} uploaded, {} ({})", human_bytes(blob.size), blob.what);
        ctx.progress.done(&bar, &line);
        return Ok(Outcome::Uploaded);
    }
    for source in &blob.sources {
        match stream_from(ctx, blob, source, &bar).await {
            Ok(()) => {
                let line = format!(
                    "img push: {short} streamed from {}/{}, {} ({})",
                    source.registry,
                    source.repository,
                    human_bytes(blob.size),
                    blob.what
                );
                ctx.progress.done(&bar, &line);
                return Ok(Outcome::Streamed);
            }
            Err(err) => reasons.push(format!("{}/{}: {err}", source.registry, source.repository)),
        }
    }
    bar.finish_and_clear();
    Err(RegistryError::BlobUnavailable {
        what: blob.what.clone(),
        digest: blob.digest.clone(),
        reasons: reasons.join("; "),
    })
}

/// Uploads a local file: in one POST when small, else POST + PUT, or PATCH chunks when large.
async fn upload_file(ctx: &Context<'_>, blob: &Blob, path: &Path, bar: &ProgressBar) -> Result<(), RegistryError> {
    let (destination, repository, digest, size) = (ctx.destination, ctx.repository, blob.digest.as_str(), blob.size);
    let what = format!("uploading {}", blob.what);
    if size > ctx.chunk_size {
        return upload_in_chunks(ctx, blob, path, bar).await;
    }
    if size <= ONE_POST_LIMIT {
        let body = || file_body(path, 0, size, bar);
        if destination.retry.run(&what, || destination.upload_in_one_post(repository, digest, size, body)).await? {
            return Ok(());
        }
    }
    destination
        .retry
        .run(&what, || async move {
            let session = destination.start_upload(repository).await?;
            destination.finish_upload(repository, &session, digest, size, || file_body(path, 0, size, bar)).await
        })
        .await
}

/// PATCHes `chunk_size` pieces. A failed piece is resumed from what the registry says it holds;
/// a registry that has lost the session, or whose account cannot be trusted, gets a fresh one.
/// Attempts are bounded per blob.
async fn upload_in_chunks(ctx: &Context<'_>, blob: &Blob, path: &Path, bar: &ProgressBar) -> Result<(), RegistryError> {
    let (destination, repository, digest, size) = (ctx.destination, ctx.repository, blob.digest.as_str(), blob.size);
    let policy = destination.retry;
    let mut failures = 0;
    // The pause before the next attempt, or the error to give up with. `start_over` makes an
    // otherwise final error worth one more attempt from byte 0.
    let mut pause_after = |err: RegistryError, start_over: bool| {
        failures += 1;
        let retry_after = err.retry_hint().or(start_over.then_some(None));
        match retry_after {
            Some(retry_after) if failures < policy.max_attempts => {
                let pause = policy.delay(failures, retry_after);
                eprintln!(
                    "img: uploading {}: {err}; resuming in {pause:?} (attempt {}/{})",
                    blob.what,
                    failures + 1,
                    policy.max_attempts
                );
                Ok(pause)
            }
            Some(_) => Err(RegistryError::GaveUp { attempts: failures, last: Box::new(err) }),
            None => Err(err),
        }
    };
    // Whether to believe the registry's `Range` after a failed chunk: not after a resumed upload
    // ended in a digest mismatch (then every attempt starts from byte 0).
    let mut may_resume = true;
    'session: loop {
        let mut session = match destination.start_upload(repository).await {
            Ok(session) => session,
            Err(err) => {
                tokio::time::sleep(pause_after(err, false)?).await;
                continue 'session;
            }
        };
        let (mut offset, mut resumed) = (0, false);
        while offset < size {
            let length = ctx.chunk_size.min(size - offset);
            let body = || file_body(path, offset, length, bar);
            match destination.patch_upload(repository, &session, offset, length, body).await {
                Ok(next) => {
                    session = next;
                    offset += length;
                }
                Err(err) => {
                    let range_refused = matches!(err, RegistryError::Status { status: 416, .. });
                    tokio::time::sleep(pause_after(err, range_refused)?).await;
                    if range_refused || !may_resume {
                        continue 'session;
                    }
                    // `0-0` is ambiguous (distribution says it for 0 bytes as well as for 1): start over.
                    match destination.upload_offset(repository, &session).await {
                        Ok(held) if held > 1 && held <= size => (offset, resumed) = (held, true),
                        _ => continue 'session,
                    }
                }
            }
        }
        let empty = || Ok(Body::from(Bytes::new()));
        match destination.finish_upload(repository, &session, digest, 0, empty).await {
            Ok(()) => return Ok(()),
            Err(err) => {
                // The PUT may have landed even though its answer got lost.
                if destination.blob_exists(repository, digest).await.unwrap_or(false) {
                    return Ok(());
                }
                let mismatch_after_resume = resumed && matches!(err, RegistryError::Status { status: 400, .. });
                may_resume &= !mismatch_after_resume;
                tokio::time::sleep(pause_after(err, mismatch_after_resume)?).await;
            }
        }
    }
}

/// Streams a blob from a source registry into an upload session of the destination. Attempts
/// start over from the GET: the stream cannot be rewound.
async fn stream_from(
    ctx: &Context<'_>,
    blob: &Blob,
    source: &BlobSource,
    bar: &ProgressBar,
) -> Result<(), RegistryError> {
    let (destination, repository, digest, size) = (ctx.destination, ctx.repository, blob.digest.as_str(), blob.size);
    let origin = ctx.sources.get(&source.registry)?;
    let what = &format!("streaming {} from {}/{}", blob.what, source.registry, source.repository);
    let origin = &origin;
    destination
        .retry
        .run(what, || async move {
            let Some(response) = origin.blob(&source.repository, digest).await? else {
                return Err(RegistryError::Status {
                    what: what.clone(),
                    url: origin.url(&format!("{}/blobs/{digest}", source.repository)).to_string(),
                    status: 404,
                    detail: " (the source repository does not have this blob)".to_owned(),
                    retry_after: None,
                });
            };
            bar.set_position(0);
            let session = destination.start_upload(repository).await?;
            let mut stream = Some(verified(response, digest, size, bar.clone()));
            let body = || {
                let stream = stream.take().ok_or_else(|| RegistryError::Transport {
                    what: what.clone(),
                    url: session.to_string(),
                    reason: "the registry asked for credentials again in the middle of a streamed upload".to_owned(),
                    retryable: true,
                })?;
                Ok(Body::wrap_stream(stream))
            };
            destination.finish_upload(repository, &session, digest, size, body).await
        })
        .await
}

/// The body of `response`, checked on the fly: more than `size` bytes, or a last byte that does
/// not complete `digest`, ends the stream with an error, so the upload is never committed.
fn verified(
    response: Response,
    digest: &str,
    size: u64,
    bar: ProgressBar,
) -> impl Stream<Item = Result<Bytes, io::Error>> + Send + 'static {
    let digest = digest.to_owned();
    let mut hasher = Sha256Counter::default();
    response.bytes_stream().map(move |chunk| {
        let chunk = chunk.map_err(io::Error::other)?;
        hasher.update(&chunk);
        bar.inc(chunk.len() as u64);
        if hasher.size() > size {
            return Err(io::Error::other(format!(
                "the source sent more than the {size} bytes of {digest} {NOT_RETRYABLE}"
            )));
        }
        if hasher.size() == size {
            let actual = hasher.clone().finish().to_string();
            if actual != digest {
                return Err(io::Error::other(format!("the source sent {actual} instead of {digest} {NOT_RETRYABLE}")));
            }
        }
        Ok(chunk)
    })
}

/// Bytes `offset..offset+length` of a file as a request body, counted on `bar`.
fn file_body(path: &Path, offset: u64, length: u64, bar: &ProgressBar) -> Result<Body, RegistryError> {
    let io_error = |source| RegistryError::Io { path: path.to_owned(), source };
    let mut file = std::fs::File::open(path).map_err(io_error)?;
    file.seek(SeekFrom::Start(offset)).map_err(io_error)?;
    let reader = tokio::fs::File::from_std(file).take(length);
    bar.set_position(offset);
    let bar = bar.clone();
    let stream = ReaderStream::with_capacity(reader, READ_BUFFER).inspect_ok(move |chunk| bar.inc(chunk.len() as u64));
    Ok(Body::wrap_stream(stream))
}

/// `sha256:0123456789ab` for messages.
pub fn short_digest(digest: &str) -> String {
    digest.chars().take(19).collect()
}
