//! Per-file metadata overrides (`default_metadata`, `file_metadata`), annotations, and the layer
//! metadata JSON document.

use std::collections::BTreeMap;
use std::path::Path;

use img_contract::layer::{FileMetadata, LayerHistory, LayerMetadata};

use super::LayerError;
use crate::oci::kv;
use crate::tarball::{Attributes, Mtime};

/// Header fields a `FileMetadata` sets, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub mode: Option<u32>,
    pub uid: Option<u64>,
    pub gid: Option<u64>,
    pub uname: Option<String>,
    pub gname: Option<String>,
    pub mtime: Option<Mtime>,
    pub pax_records: Option<BTreeMap<String, String>>,
}

/// PAX records the tar writer derives from the entry itself; setting them by hand would make the
/// header contradict the archive.
const STRUCTURAL_PAX_KEYS: [&str; 3] = ["path", "linkpath", "size"];

impl Overrides {
    /// Parses a JSON `FileMetadata`; `location` names it in errors (e.g. `file_metadata["etc/x"]`).
    pub fn parse(json: &str, location: &str) -> Result<Self, LayerError> {
        let invalid = |reason: String| LayerError::InvalidMetadata { location: location.to_owned(), reason };
        let metadata: FileMetadata = serde_json::from_str(json).map_err(|err| invalid(err.to_string()))?;
        let mode = metadata.mode.as_deref().map(parse_mode).transpose().map_err(&invalid)?;
        let mtime = metadata.mtime.as_deref().map(parse_time).transpose().map_err(&invalid)?;
        if let Some(records) = &metadata.pax_records {
            if let Some(key) = records.keys().find(|key| STRUCTURAL_PAX_KEYS.contains(&key.as_str())) {
                return Err(invalid(format!("pax_records may not set {key:?}: the tar writer derives it")));
            }
            if let Some(key) = records.keys().find(|key| key.is_empty() || key.contains('=')) {
                return Err(invalid(format!("pax record key {key:?} must be non-empty and have no `=`")));
            }
        }
        Ok(Self {
            mode,
            uid: metadata.uid,
            gid: metadata.gid,
            uname: metadata.uname,
            gname: metadata.gname,
            mtime,
            pax_records: metadata.pax_records,
        })
    }

    /// Applies the fields that are set; PAX records are added to (and override) existing ones.
    pub fn apply(&self, attrs: &mut Attributes) {
        if let Some(mode) = self.mode {
            attrs.mode = mode;
        }
        if let Some(uid) = self.uid {
            attrs.uid = uid;
        }
        if let Some(gid) = self.gid {
            attrs.gid = gid;
        }
        if let Some(uname) = &self.uname {
            attrs.uname = uname.clone();
        }
        if let Some(gname) = &self.gname {
            attrs.gname = gname.clone();
        }
        if let Some(mtime) = self.mtime {
            attrs.mtime = mtime;
        }
        if let Some(records) = &self.pax_records {
            attrs.pax_records.extend(records.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
}

/// Octal mode such as `"0644"`, `"755"` or `"0o4755"`; at most 0o7777.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o7777 && !digits.is_empty() => Ok(mode),
        _ => Err(format!("mode {text:?} is not an octal permission mode such as \"0644\" (at most 07777)")),
    }
}

/// RFC 3339 time such as `"2023-01-01T00:00:00Z"`.
pub fn parse_time(text: &str) -> Result<Mtime, String> {
    let time = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|err| format!("mtime {text:?} is not an RFC 3339 time such as \"2023-01-01T00:00:00Z\" ({err})"))?;
    Ok(Mtime { secs: time.unix_timestamp(), nanos: time.nanosecond() })
}

/// Annotations from the request and its `annotations_file` (JSON object or `KEY=VALUE` lines, as
/// the image rules' files); the request's own `annotations` win over the file's.
pub fn annotations(
    inline: &BTreeMap<String, String>,
    file: Option<&str>,
) -> Result<BTreeMap<String, String>, LayerError> {
    let mut out = BTreeMap::new();
    if let Some(file) = file {
        let path = Path::new(file);
        let text = std::fs::read_to_string(path).map_err(|source| LayerError::ReadInput {
            what: "annotations file",
            path: path.to_owned(),
            source,
        })?;
        out = kv::parse(&text).map_err(|reason| LayerError::Annotations { path: path.to_owned(), reason })?;
    }
    out.extend(inline.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(out)
}

/// The layer metadata document, pretty-printed with two spaces and a trailing newline.
pub fn document(
    diff_id: String,
    media_type: String,
    digest: String,
    size: u64,
    annotations: BTreeMap<String, String>,
    created_by: &str,
) -> Vec<u8> {
    let metadata = LayerMetadata {
        diff_id: Some(diff_id),
        media_type,
        digest,
        size,
        annotations,
        history: vec![LayerHistory { created_by: Some(created_by.to_owned()), ..LayerHistory::default() }],
    };
    let mut json = serde_json::to_vec_pretty(&metadata).expect("metadata serializes");
    json.push(b'\n');
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_times_are_checked() {
        assert_eq!(parse_mode("0644"), Ok(0o644));
        assert_eq!(parse_mode("4755"), Ok(0o4755));
        assert!(parse_mode("0999").is_err());
        assert!(parse_mode("17777").is_err());
        assert!(parse_mode("").is_err());
        assert_eq!(parse_time("1970-01-01T00:00:10.5Z"), Ok(Mtime { secs: 10, nanos: 500_000_000 }));
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn overrides_apply_only_what_they_set() {
        let overrides = Overrides::parse(r#"{"mode":"0600","uname":"app","pax_records":{"a":"b"}}"#, "x").unwrap();
        let mut attrs = Attributes::file(true);
        overrides.apply(&mut attrs);
        assert_eq!((attrs.mode, attrs.uid, attrs.uname.as_str()), (0o600, 0, "app"));
        assert_eq!(attrs.pax_records.get("a").map(String::as_str), Some("b"));
        assert!(Overrides::parse(r#"{"pax_records":{"path":"x"}}"#, "x").is_err());
        assert!(Overrides::parse(r#"{"color":"red"}"#, "x").is_err());
    }

    #[test]
    fn annotations_file_may_be_json_or_key_value_lines() {
        let dir = tempfile::tempdir().unwrap();
        let from_file = |text: &str| {
            let path = dir.path().join("annotations");
            std::fs::write(&path, text).unwrap();
            annotations(&BTreeMap::new(), path.to_str())
        };
        assert_eq!(from_file("{\"a\":\"1\"}").unwrap()["a"], "1");
        let lines = from_file("a=1\n\nb=x=y\n").unwrap();
        assert_eq!((lines["a"].as_str(), lines["b"].as_str()), ("1", "x=y"));
        let error = from_file("novalue\n").unwrap_err().to_string();
        assert!(error.contains("invalid annotations file") && error.contains("line 1"), "{error}");
    }
}
