//! Blobs and uploads: GET/HEAD/DELETE of a blob, and the upload flows of the distribution spec
//! (monolithic `POST ?digest=`, POST + PUT, PATCH chunks + PUT, cross-repository mount). Every
//! upload is hashed as it arrives and only a blob whose digest matches is stored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use super::errors::{Code, OciError, Result};
use super::storage::Storage;
use crate::digest::Sha256Counter;
use crate::registry::reference::{check_repository, sha256_hex};

/// An upload in progress: its bytes are in `uploads/<id>`, their running hash is here. The
/// lock makes its PATCHes and PUT apply one at a time.
pub struct Upload {
    repository: String,
    hasher: tokio::sync::Mutex<Sha256Counter>,
}

/// Uploads by id.
#[derive(Default)]
pub struct Uploads {
    open: Mutex<HashMap<String, Arc<Upload>>>,
}

impl Uploads {
    fn get(&self, name: &str, id: &str) -> Result<Arc<Upload>> {
        let upload = self.open.lock().expect("uploads lock").get(id).cloned();
        // A session belongs to the repository it was opened for.
        upload
            .filter(|upload| upload.repository == name)
            .ok_or_else(|| OciError::new(Code::BlobUploadUnknown, format!("no upload {id} in {name}")))
    }

    fn remove(&self, id: &str) {
        self.open.lock().expect("uploads lock").remove(id);
    }
}

pub async fn get(storage: &Storage, name: &str, digest: &str, head: bool) -> Result<Response> {
    let hex = blob_hex(digest)?;
    if !storage.has_blob(name, hex).await {
        return Err(OciError::new(Code::BlobUnknown, format!("{name} has no blob {digest}")));
    }
    let file = tokio::fs::File::open(storage.blob_path(hex)).await?;
    let size = file.metadata().await?.len();
    let body = if head { Body::empty() } else { Body::from_stream(ReaderStream::with_capacity(file, 1 << 20)) };
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Length", size)
        .header("Docker-Content-Digest", digest)
        .body(body)
        .expect("a valid response"))
}

pub async fn delete(storage: &Storage, name: &str, digest: &str) -> Result<Response> {
    let hex = blob_hex(digest)?;
    if !storage.unlink_blob(name, hex).await? {
        return Err(OciError::new(Code::BlobUnknown, format!("{name} has no blob {digest}")));
    }
    Ok(empty(StatusCode::ACCEPTED))
}

/// `POST /v2/<name>/blobs/uploads/`: a mount, a whole blob, or a new session.
pub async fn start(
    storage: &Storage,
    uploads: &Uploads,
    name: &str,
    query: &HashMap<String, String>,
    body: Body,
) -> Result<Response> {
    if let (Some(digest), Some(from)) = (query.get("mount"), query.get("from")) {
        let hex = blob_hex(digest)?;
        if check_repository(from).is_ok() && storage.has_blob(from, hex).await {
            storage.link_blob(name, hex).await?;
            return Ok(created(name, digest));
        }
        // Not mountable: the spec says to fall back to an ordinary upload session.
    } else if let Some(digest) = query.get("digest") {
        let hex = blob_hex(digest)?.to_owned();
        let temp = storage.temp_path();
        let mut file = tokio::fs::File::create(&temp).await?;
        let mut hasher = Sha256Counter::default();
        let written = append(&mut file, body, &mut hasher).await;
        drop(file);
        if let Err(err) = written.and_then(|()| verify(hasher, digest)) {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(err);
        }
        storage.commit_blob(&temp, &hex).await?;
        storage.link_blob(name, &hex).await?;
        return Ok(created(name, digest));
    }
    let id = uuid::Uuid::new_v4().to_string();
    tokio::fs::File::create(storage.upload_path(&id)).await?;
    let upload = Upload { repository: name.to_owned(), hasher: tokio::sync::Mutex::new(Sha256Counter::default()) };
    uploads.open.lock().expect("uploads lock").insert(id.clone(), Arc::new(upload));
    Ok(session(name, &id, 0, StatusCode::ACCEPTED))
}

/// `PATCH`: appends a chunk. With `Content-Range`, it must start where the upload ends. A chunk
/// that breaks off is rolled back whole, so a client can resume from the `Range` it is told.
pub async fn patch(
    storage: &Storage,
    uploads: &Uploads,
    name: &str,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
    let upload = uploads.get(name, id)?;
    let mut hasher = upload.hasher.lock().await;
    let size = hasher.size();
    let range = headers.get("Content-Range").and_then(|v| v.to_str().ok()).map(parse_range).transpose()?;
    if let Some((start, _)) = range {
        if start != size {
            let mut err = OciError::new(
                Code::RangeInvalid,
                format!("the upload has {size} bytes; a chunk must start there, not at {start}"),
            );
            err.range = Some(range_header(size));
            return Err(err);
        }
    }
    let path = storage.upload_path(id);
    let mut file = tokio::fs::OpenOptions::new().append(true).open(&path).await?;
    let before = hasher.clone();
    let mut written = append(&mut file, body, &mut hasher).await;
    if let (Ok(()), Some((start, end))) = (&written, range) {
        if hasher.size() - start != end + 1 - start {
            written =
                Err(OciError::new(Code::BlobUploadInvalid, "the chunk's length does not match its Content-Range"));
        }
    }
    if let Err(err) = written {
        file.set_len(size).await?;
        *hasher = before;
        return Err(err);
    }
    Ok(session(name, id, hasher.size(), StatusCode::ACCEPTED))
}

/// `PUT ?digest=`: the last chunk (possibly empty) and the check of the whole blob.
pub async fn finish(
    storage: &Storage,
    uploads: &Uploads,
    name: &str,
    id: &str,
    query: &HashMap<String, String>,
    body: Body,
) -> Result<Response> {
    let digest = query.get("digest").ok_or_else(|| OciError::new(Code::DigestInvalid, "PUT needs ?digest="))?;
    let hex = blob_hex(digest)?;
    let upload = uploads.get(name, id)?;
    let mut hasher = upload.hasher.lock().await;
    let path = storage.upload_path(id);
    let mut file = tokio::fs::OpenOptions::new().append(true).open(&path).await?;
    let written = append(&mut file, body, &mut hasher).await;
    drop(file);
    let checked = written.and_then(|()| verify(hasher.clone(), digest));
    // Finished either way: a blob that does not match is an invalid upload, not a resumable one.
    uploads.remove(id);
    if let Err(err) = checked {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(err);
    }
    storage.commit_blob(&path, hex).await?;
    storage.link_blob(name, hex).await?;
    Ok(created(name, digest))
}

pub async fn status(uploads: &Uploads, name: &str, id: &str) -> Result<Response> {
    let upload = uploads.get(name, id)?;
    let size = upload.hasher.lock().await.size();
    Ok(session(name, id, size, StatusCode::NO_CONTENT))
}

pub async fn cancel(storage: &Storage, uploads: &Uploads, name: &str, id: &str) -> Result<Response> {
    let upload = uploads.get(name, id)?;
    let _held = upload.hasher.lock().await;
    uploads.remove(id);
    let _ = tokio::fs::remove_file(storage.upload_path(id)).await;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Streams a request body into `file`, hashing it.
async fn append(file: &mut tokio::fs::File, body: Body, hasher: &mut Sha256Counter) -> Result<()> {
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|err| OciError::new(Code::BlobUploadInvalid, format!("the upload broke off: {err}")))?;
        hasher.update(&chunk);
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    Ok(())
}

fn verify(hasher: Sha256Counter, digest: &str) -> Result<()> {
    let actual = hasher.finish().to_string();
    if actual == digest {
        Ok(())
    } else {
        Err(OciError::new(Code::DigestInvalid, format!("the uploaded content is {actual}, not {digest}")))
    }
}

/// The hex of a sha256 digest, or DIGEST_INVALID.
pub fn blob_hex(digest: &str) -> Result<&str> {
    sha256_hex(digest).map_err(|err| OciError::new(Code::DigestInvalid, err.to_string()))
}

/// `start-end` of a Content-Range (an optional `bytes ` prefix is tolerated).
fn parse_range(value: &str) -> Result<(u64, u64)> {
    let value = value.trim().trim_start_matches("bytes ").trim_start_matches("bytes=");
    let parsed =
        value.split_once('-').and_then(|(start, end)| Some((start.trim().parse().ok()?, end.trim().parse().ok()?)));
    match parsed {
        Some((start, end)) if end >= start => Ok((start, end)),
        _ => Err(OciError::new(Code::RangeInvalid, format!("Content-Range `{value}` is not `start-end`"))),
    }
}

/// `0-<last byte>`; `0-0` for an empty upload, as distribution does.
fn range_header(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

fn session(name: &str, id: &str, size: u64, status: StatusCode) -> Response {
    Response::builder()
        .status(status)
        .header("Location", format!("/v2/{name}/blobs/uploads/{id}"))
        .header("Range", range_header(size))
        .header("Docker-Upload-UUID", id)
        .header("Content-Length", 0)
        .body(Body::empty())
        .expect("a valid response")
}

fn created(name: &str, digest: &str) -> Response {
    Response::builder()
        .status(StatusCode::CREATED)
        .header("Location", format!("/v2/{name}/blobs/{digest}"))
        .header("Docker-Content-Digest", digest)
        .header("Content-Length", 0)
        .body(Body::empty())
        .expect("a valid response")
}

pub fn empty(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response.headers_mut().insert("Content-Length", HeaderValue::from_static("0"));
    response
}
