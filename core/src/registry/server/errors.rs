//! OCI error responses: `{"errors": [{"code", "message", "detail"}]}` with the status the
//! distribution spec gives each code.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The error codes of the distribution spec this registry uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    TagInvalid,
    Unsupported,
    RangeInvalid,
    Unknown,
}

impl Code {
    fn name(self) -> &'static str {
        match self {
            Code::BlobUnknown => "BLOB_UNKNOWN",
            Code::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Code::DigestInvalid => "DIGEST_INVALID",
            Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Code::ManifestInvalid => "MANIFEST_INVALID",
            Code::ManifestUnknown => "MANIFEST_UNKNOWN",
            Code::NameInvalid => "NAME_INVALID",
            Code::NameUnknown => "NAME_UNKNOWN",
            Code::SizeInvalid => "SIZE_INVALID",
            Code::TagInvalid => "TAG_INVALID",
            Code::Unsupported => "UNSUPPORTED",
            Code::RangeInvalid => "BLOB_UPLOAD_INVALID",
            Code::Unknown => "UNKNOWN",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Code::BlobUnknown | Code::BlobUploadUnknown | Code::ManifestUnknown | Code::NameUnknown => {
                StatusCode::NOT_FOUND
            }
            Code::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            Code::RangeInvalid => StatusCode::RANGE_NOT_SATISFIABLE,
            Code::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// An error answer.
#[derive(Debug)]
pub struct OciError {
    pub code: Code,
    pub message: String,
    /// Extra headers (the `Range` of a 416).
    pub range: Option<String>,
}

impl OciError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), range: None }
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        Self::new(Code::Unknown, format!("storage error: {err}"))
    }
}

impl From<std::io::Error> for OciError {
    fn from(err: std::io::Error) -> Self {
        Self::internal(err)
    }
}

impl IntoResponse for OciError {
    fn into_response(self) -> Response {
        let body = json!({ "errors": [{ "code": self.code.name(), "message": self.message, "detail": {} }] });
        let mut response = (self.code.status(), axum::Json(body)).into_response();
        if let Some(range) = self.range.and_then(|r| HeaderValue::from_str(&r).ok()) {
            response.headers_mut().insert("Range", range);
        }
        response
    }
}

pub type Result<T> = std::result::Result<T, OciError>;
