//! Manifests (by tag or digest, with the media type they were pushed with), tag lists, the
//! catalog and the OCI 1.1 referrers API.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::blobs::{blob_hex, empty};
use super::errors::{Code, OciError, Result};
use super::storage::Storage;
use crate::digest::Sha256Digest;
use crate::registry::media;
use crate::registry::reference::check_tag;

/// Manifests larger than this are refused, as distribution does.
pub const MANIFEST_LIMIT: usize = 4 << 20;

/// A tag or digest reference: the digest and, for a tag, the tag.
async fn resolve(storage: &Storage, name: &str, reference: &str) -> Result<String> {
    if reference.contains(':') {
        blob_hex(reference)?;
        return Ok(reference.to_owned());
    }
    check_tag(reference).map_err(|err| OciError::new(Code::TagInvalid, err.to_string()))?;
    storage
        .tag(name, reference)
        .await
        .ok_or_else(|| OciError::new(Code::ManifestUnknown, format!("{name} has no tag {reference}")))
}

pub async fn get(storage: &Storage, name: &str, reference: &str, head: bool) -> Result<Response> {
    let digest = resolve(storage, name, reference).await?;
    let hex = blob_hex(&digest)?;
    let unknown = || OciError::new(Code::ManifestUnknown, format!("{name} has no manifest {reference}"));
    let media_type = storage.manifest_type(name, hex).await.ok_or_else(unknown)?;
    let bytes = tokio::fs::read(storage.blob_path(hex)).await.map_err(|_| unknown())?;
    let length = bytes.len();
    let body = if head { Body::empty() } else { Body::from(bytes) };
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", media_type)
        .header("Content-Length", length)
        .header("Docker-Content-Digest", &digest)
        .body(body)
        .expect("a valid response"))
}

/// `PUT`: checks the document, its digest and that every blob and child it names is in the
/// repository; stores it, links it, tags it, and records it as a referrer of its subject.
pub async fn put(storage: &Storage, name: &str, reference: &str, headers: &HeaderMap, body: Bytes) -> Result<Response> {
    if body.len() > MANIFEST_LIMIT {
        return Err(OciError::new(Code::SizeInvalid, format!("manifests are limited to {MANIFEST_LIMIT} bytes")));
    }
    let document: Value = serde_json::from_slice(&body)
        .map_err(|err| OciError::new(Code::ManifestInvalid, format!("the manifest is not JSON: {err}")))?;
    if !document.is_object() {
        return Err(OciError::new(Code::ManifestInvalid, "the manifest is not a JSON object"));
    }
    let content_type =
        headers.get("Content-Type").and_then(|v| v.to_str().ok()).map(|v| v.split(';').next().unwrap_or(v).trim());
    let declared = document.get("mediaType").and_then(Value::as_str).filter(|m| !m.is_empty());
    let media_type = match (content_type, declared) {
        (Some(header), Some(field)) if header != field && header != "application/json" => {
            return Err(OciError::new(Code::ManifestInvalid, format!("Content-Type {header} but mediaType {field}")));
        }
        (_, Some(field)) => field.to_owned(),
        (Some(header), None) if header != "application/json" && !header.is_empty() => header.to_owned(),
        _ => media::of_document(&document).to_owned(),
    };
    let digest = Sha256Digest::of(&body).to_string();
    let tag = if reference.contains(':') {
        blob_hex(reference)?;
        if reference != digest {
            return Err(OciError::new(Code::DigestInvalid, format!("the manifest is {digest}, not {reference}")));
        }
        None
    } else {
        check_tag(reference).map_err(|err| OciError::new(Code::TagInvalid, err.to_string()))?;
        Some(reference)
    };
    check_references(storage, name, &document).await?;

    let hex = blob_hex(&digest)?;
    storage.store_blob_bytes(hex, &body).await?;
    storage.link_manifest(name, hex, &media_type).await?;
    let mut response = Response::builder()
        .status(StatusCode::CREATED)
        .header("Location", format!("/v2/{name}/manifests/{digest}"))
        .header("Docker-Content-Digest", &digest)
        .header("Content-Length", 0);
    if let Some(subject) = document.get("subject").and_then(|s| s.get("digest")).and_then(Value::as_str) {
        let subject_hex = blob_hex(subject)?;
        let descriptor = referrer_descriptor(&document, &media_type, &digest, body.len());
        storage
            .add_referrer(name, subject_hex, hex, &serde_json::to_vec(&descriptor).expect("JSON serializes"))
            .await?;
        response = response.header("OCI-Subject", subject);
    }
    if let Some(tag) = tag {
        storage.set_tag(name, tag, &digest).await?;
    }
    Ok(response.body(Body::empty()).expect("a valid response"))
}

/// Every config and layer (of a manifest) or child (of an index) must already be in the
/// repository: a tag must never point at something incomplete. `subject` need not exist.
async fn check_references(storage: &Storage, name: &str, document: &Value) -> Result<()> {
    let descriptors = |field: &str| document.get(field).and_then(Value::as_array).cloned().unwrap_or_default();
    let digest_of = |descriptor: &Value| -> Result<String> {
        let digest = descriptor.get("digest").and_then(Value::as_str).unwrap_or("");
        blob_hex(digest)
            .map_err(|_| OciError::new(Code::ManifestInvalid, format!("descriptor digest `{digest}` is not sha256")))?;
        Ok(digest.to_owned())
    };
    let mut blobs: Vec<Value> = descriptors("layers");
    blobs.extend(document.get("config").cloned());
    for descriptor in &blobs {
        let digest = digest_of(descriptor)?;
        // Non-distributable layers with URLs live elsewhere by design.
        let foreign = descriptor.get("urls").is_some_and(|u| u.as_array().is_some_and(|u| !u.is_empty()));
        if !foreign && !storage.has_blob(name, blob_hex(&digest)?).await {
            return Err(OciError::new(
                Code::ManifestBlobUnknown,
                format!("blob {digest} is not in {name}; push it first"),
            ));
        }
    }
    for child in descriptors("manifests") {
        let digest = digest_of(&child)?;
        if storage.manifest_type(name, blob_hex(&digest)?).await.is_none() {
            return Err(OciError::new(
                Code::ManifestBlobUnknown,
                format!("manifest {digest} is not in {name}; push it first"),
            ));
        }
    }
    Ok(())
}

/// The descriptor a referrers list shows: `artifactType` (or the config's media type) and the
/// annotations of the referring manifest.
fn referrer_descriptor(document: &Value, media_type: &str, digest: &str, size: usize) -> Value {
    let artifact_type = document
        .get("artifactType")
        .and_then(Value::as_str)
        .or_else(|| document.get("config").and_then(|c| c.get("mediaType")).and_then(Value::as_str));
    let mut descriptor = json!({ "mediaType": media_type, "digest": digest, "size": size });
    if let Some(artifact_type) = artifact_type {
        descriptor["artifactType"] = json!(artifact_type);
    }
    if let Some(annotations) = document.get("annotations").filter(|a| a.is_object()) {
        descriptor["annotations"] = annotations.clone();
    }
    descriptor
}

/// `DELETE` by digest removes the manifest, the tags on it and its referrer entry; by tag, the tag.
pub async fn delete(storage: &Storage, name: &str, reference: &str) -> Result<Response> {
    if !reference.contains(':') {
        check_tag(reference).map_err(|err| OciError::new(Code::TagInvalid, err.to_string()))?;
        return match storage.remove_tag(name, reference).await? {
            true => Ok(empty(StatusCode::ACCEPTED)),
            false => Err(OciError::new(Code::ManifestUnknown, format!("{name} has no tag {reference}"))),
        };
    }
    let hex = blob_hex(reference)?;
    let bytes = tokio::fs::read(storage.blob_path(hex)).await.ok();
    if storage.manifest_type(name, hex).await.is_none() {
        return Err(OciError::new(Code::ManifestUnknown, format!("{name} has no manifest {reference}")));
    }
    storage.unlink_manifest(name, hex).await?;
    for tag in storage.tags(name).await.unwrap_or_default() {
        if storage.tag(name, &tag).await.as_deref() == Some(reference) {
            storage.remove_tag(name, &tag).await?;
        }
    }
    let subject = bytes
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|d| d.get("subject")?.get("digest")?.as_str().map(str::to_owned));
    if let Some(subject_hex) = subject.as_deref().and_then(|s| blob_hex(s).ok()) {
        storage.remove_referrer(name, subject_hex, hex).await?;
    }
    Ok(empty(StatusCode::ACCEPTED))
}

/// `GET /v2/<name>/tags/list?n=&last=`.
pub async fn tags(storage: &Storage, name: &str, query: &HashMap<String, String>) -> Result<Response> {
    let all =
        storage.tags(name).await.ok_or_else(|| OciError::new(Code::NameUnknown, format!("no repository {name}")))?;
    let (page, next) = paginate(all, query)?;
    let mut response = json_response(&json!({ "name": name, "tags": page }), "application/json");
    if let Some((n, last)) = next {
        link_next(&mut response, &format!("/v2/{name}/tags/list?n={n}&last={last}"));
    }
    Ok(response)
}

/// `GET /v2/_catalog?n=&last=`.
pub async fn catalog(storage: &Storage, query: &HashMap<String, String>) -> Result<Response> {
    let (page, next) = paginate(storage.repositories().await, query)?;
    let mut response = json_response(&json!({ "repositories": page }), "application/json");
    if let Some((n, last)) = next {
        link_next(&mut response, &format!("/v2/_catalog?n={n}&last={last}"));
    }
    Ok(response)
}

/// `GET /v2/<name>/referrers/<digest>?artifactType=`: an index of the manifests whose subject is
/// the digest (empty if none; the subject itself need not exist).
pub async fn referrers(
    storage: &Storage,
    name: &str,
    digest: &str,
    query: &HashMap<String, String>,
) -> Result<Response> {
    let subject_hex = blob_hex(digest)?;
    let filter = query.get("artifactType");
    let manifests: Vec<Value> = storage
        .referrers(name, subject_hex)
        .await
        .iter()
        .filter_map(|bytes| serde_json::from_slice::<Value>(bytes).ok())
        .filter(|descriptor| {
            filter.is_none_or(|wanted| descriptor.get("artifactType").and_then(Value::as_str) == Some(wanted))
        })
        .collect();
    let index = json!({ "schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": manifests });
    let mut response = json_response(&index, media::OCI_INDEX);
    if filter.is_some() {
        response.headers_mut().insert("OCI-Filters-Applied", "artifactType".parse().expect("a header value"));
    }
    Ok(response)
}

/// A page of names, and the `(n, last)` of the next page if there is one.
type Page = (Vec<String>, Option<(usize, String)>);

/// Items after `last`, at most `n` of them.
fn paginate(all: Vec<String>, query: &HashMap<String, String>) -> Result<Page> {
    let after: Vec<String> = match query.get("last") {
        Some(last) => all.into_iter().filter(|item| item > last).collect(),
        None => all,
    };
    let Some(n) = query.get("n") else { return Ok((after, None)) };
    let n: usize = n.parse().map_err(|_| OciError::new(Code::Unsupported, format!("n={n} is not a number")))?;
    if after.len() <= n {
        return Ok((after, None));
    }
    let page: Vec<String> = after.into_iter().take(n).collect();
    let next = page.last().cloned().map(|last| (n, last));
    Ok((page, next))
}

fn link_next(response: &mut Response, url: &str) {
    if let Ok(value) = format!("<{url}>; rel=\"next\"").parse() {
        response.headers_mut().insert("Link", value);
    }
}

fn json_response(value: &Value, content_type: &str) -> Response {
    let bytes = serde_json::to_vec(value).expect("JSON serializes");
    Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", content_type)
        .header("Content-Length", bytes.len())
        .body(Body::from(bytes))
        .expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_last_and_n() {
        let all: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let query = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(paginate(all.clone(), &query(&[])).unwrap(), (all.clone(), None));
        assert_eq!(
            paginate(all.clone(), &query(&[("n", "2")])).unwrap(),
            (vec!["a".into(), "b".into()], Some((2, "b".into())))
        );
        assert_eq!(
            paginate(all.clone(), &query(&[("n", "2"), ("last", "b")])).unwrap(),
            (vec!["c".into(), "d".into()], None)
        );
        assert_eq!(paginate(all, &query(&[("n", "0")])).unwrap().0, Vec::<String>::new());
    }

    #[test]
    fn referrer_descriptors_fall_back_to_the_config_type() {
        let document = json!({"config": {"mediaType": "application/x.sig"}, "annotations": {"k": "v"}});
        let descriptor = referrer_descriptor(&document, media::OCI_MANIFEST, "sha256:x", 3);
        assert_eq!(descriptor["artifactType"], "application/x.sig");
        assert_eq!(descriptor["annotations"]["k"], "v");
        let document =
            json!({"artifactType": "application/x.sbom", "config": {"mediaType": "application/vnd.oci.empty.v1+json"}});
        assert_eq!(
            referrer_descriptor(&document, media::OCI_MANIFEST, "sha256:x", 3)["artifactType"],
            "application/x.sbom"
        );
    }
}
