//! `.buckconfig` files: INI-like sections, `key = value`, `\` continuations, `#`/`;` comments.

use std::collections::BTreeMap;
use std::path::Path;

use super::error::{Buck2Error, Result};

/// One parsed `.buckconfig` (possibly empty when the file does not exist).
#[derive(Debug, Clone, Default)]
pub struct BuckConfig {
    sections: BTreeMap<String, BTreeMap<String, String>>,
}

impl BuckConfig {
    /// Read `path`; a missing file is an empty config (per-cell configs are optional in Buck2).
    pub fn read(path: &Path) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text).map_err(|message| Buck2Error::Config { path: path.to_owned(), message }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(Buck2Error::io(path, e)),
        }
    }

    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut config = BuckConfig::default();
        let mut section: Option<String> = None;
        let mut lines = text.lines().enumerate().peekable();
        while let Some((number, raw)) = lines.next() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[') {
                let name = name
                    .strip_suffix(']')
                    .ok_or_else(|| format!("line {}: unterminated section header `{line}`", number + 1))?;
                section = Some(name.trim().to_owned());
                config.sections.entry(name.trim().to_owned()).or_default();
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| format!("line {}: expected `key = value`, got `{line}`", number + 1))?;
            let mut value = value.trim().to_owned();
            // A trailing backslash joins the next line (Buck2's multi-line values).
            while value.ends_with('\\') {
                value.pop();
                match lines.next() {
                    Some((_, next)) => {
                        value = format!("{} {}", value.trim_end(), next.trim());
                    }
                    None => break,
                }
            }
            let section = section
                .as_ref()
                .ok_or_else(|| format!("line {}: `{}` is outside any [section]", number + 1, key.trim()))?;
            config
                .sections
                .get_mut(section)
                .expect("section inserted on header")
                .insert(key.trim().to_owned(), value.trim().to_owned());
        }
        Ok(config)
    }

    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.sections.get(section)?.get(key).map(String::as_str)
    }

    pub fn section(&self, section: &str) -> impl Iterator<Item = (&str, &str)> {
        self.sections.get(section).into_iter().flat_map(|s| s.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}
