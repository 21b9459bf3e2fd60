//! Files of string pairs (env, labels, annotations): a JSON object of strings, or `KEY=VALUE`
//! lines where blank lines and `#` comments are skipped.

use std::collections::BTreeMap;

use super::{json, ImageError};

/// Reads a key-value file; `what` names it in errors (e.g. "env file").
pub fn read(path: &str, what: &'static str) -> Result<BTreeMap<String, String>, ImageError> {
    let bytes = json::read(path, what)?;
    let invalid = |reason: String| ImageError::KeyValueFile { what, path: path.into(), reason };
    let text = String::from_utf8(bytes).map_err(|_| invalid("not UTF-8 text".to_owned()))?;
    parse(&text).map_err(invalid)
}

/// Reads several files in order; a later file's value wins.
pub fn read_all(paths: &[String], what: &'static str) -> Result<BTreeMap<String, String>, ImageError> {
    let mut out = BTreeMap::new();
    for path in paths {
        out.extend(read(path, what)?);
    }
    Ok(out)
}

/// Parses the text of a key-value file (also a layer's `annotations_file`); the reason if it is
/// neither form.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, String> {
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text).map_err(|err| format!("not a JSON object of strings ({err})"));
    }
    let mut out = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                out.insert(key.trim().to_owned(), value.to_owned());
            }
            _ => return Err(format!("line {} is not of the form KEY=VALUE: {line:?}", index + 1)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_objects_and_key_value_lines_both_parse() {
        assert_eq!(parse(" {\"A\": \"1\"}").unwrap()["A"], "1");
        let lines = parse("# comment\nA=1\n\n  # indented comment\nB=x=y\nC=\n").unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!((lines["A"].as_str(), lines["B"].as_str(), lines["C"].as_str()), ("1", "x=y", ""));
    }

    #[test]
    fn malformed_lines_and_non_string_json_are_rejected() {
        assert!(parse("A=1\nnovalue\n").unwrap_err().contains("line 2"));
        assert!(parse("=value\n").is_err());
        assert!(parse("{\"A\": 1}").is_err());
    }
}
