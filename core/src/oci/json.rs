//! Reading the JSON documents the image actions consume, and writing the ones they produce with
//! deterministic bytes.

use oci_spec::image::{Descriptor, Digest, MediaType};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::ImageError;
use crate::digest::Sha256Digest;

/// Reads a whole (small) input file.
pub fn read(path: &str, what: &'static str) -> Result<Vec<u8>, ImageError> {
    std::fs::read(path).map_err(|source| ImageError::Read { what, path: path.into(), source })
}

/// Parses `bytes` as `T`; the error names the file and the JSON path of the offending field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8], path: &str, what: &'static str) -> Result<T, ImageError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| ImageError::BadDocument {
        what,
        path: path.into(),
        reason: describe(&err),
    })
}

/// Reads and parses a file.
pub fn read_parsed<T: DeserializeOwned>(path: &str, what: &'static str) -> Result<(Vec<u8>, T), ImageError> {
    let bytes = read(path, what)?;
    let value = parse(&bytes, path, what)?;
    Ok((bytes, value))
}

/// `field: reason`, or just the reason for an error at the top level.
pub fn describe(err: &serde_path_to_error::Error<serde_json::Error>) -> String {
    match err.path().to_string().as_str() {
        "." => err.inner().to_string(),
        path => format!("field `{path}`: {}", err.inner()),
    }
}

/// JSON objects that oci-spec keeps in `HashMap`s, whose order changes from run to run; their keys
/// are sorted so that the same request always gives the same bytes (and the same digest).
const MAP_FIELDS: [&str; 4] = ["annotations", "Labels", "ExposedPorts", "Volumes"];

/// Compact JSON with struct fields in declaration order and map keys sorted.
pub fn to_bytes<T: Serialize>(document: &T) -> Vec<u8> {
    let mut value = serde_json::to_value(document).expect("OCI documents serialize to JSON");
    sort_maps(&mut value);
    serde_json::to_vec(&value).expect("a JSON value serializes")
}

fn sort_maps(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                if let (true, Value::Object(map)) = (MAP_FIELDS.contains(&key.as_str()), &mut *child) {
                    map.sort_keys();
                }
                sort_maps(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(sort_maps),
        _ => {}
    }
}

/// The OCI form of a digest we computed.
pub fn oci_digest(digest: &Sha256Digest) -> Digest {
    digest.to_string().parse().expect("a computed sha256 digest is a valid OCI digest")
}

/// A descriptor of `bytes` with `media_type`.
pub fn descriptor_of(media_type: MediaType, bytes: &[u8]) -> Descriptor {
    let digest = Sha256Digest::of(bytes);
    Descriptor::new(media_type, digest.size, oci_digest(&digest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn hash_maps_serialize_with_sorted_keys() {
        let labels: HashMap<String, String> = (0..50).map(|i| (format!("k{i:02}"), i.to_string())).collect();
        let document = serde_json::json!({"config": {"Labels": labels}, "zeta": 1, "alpha": 2});
        let text = String::from_utf8(to_bytes(&document)).unwrap();
        let keys: Vec<&str> = text.match_indices("\"k").map(|(i, _)| &text[i + 1..i + 4]).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert!(text.find("zeta").unwrap() < text.find("alpha").unwrap(), "struct order is kept: {text}");
    }

    #[test]
    fn parse_errors_name_the_field() {
        let err = parse::<oci_spec::image::Descriptor>(
            br#"{"mediaType":"x","digest":"sha256:00","size":1}"#,
            "d.json",
            "descriptor",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("d.json") && err.contains("digest"), "{err}");
    }
}
