//! The image config: the base's, overlaid by the config fragment, then by the request's values.
//!
//! The overlay works like decoding the fragment into the base config (as rules_img's Go tool
//! does): objects merge field by field, anything else replaces, and `null` unsets.

use std::collections::BTreeMap;

use oci_spec::image::{Arch, Config, History, ImageConfiguration, Os};
use serde_json::{Map, Value};

use super::manifest::LayerInput;
use super::ImageError;

/// The value of entrypoint/cmd/user/working_dir/stop_signal that keeps the base image's value.
pub const INHERIT: &str = "<inherit from base>";

/// Fields the fragment may not set: they are computed from the layers.
const COMPUTED_FIELDS: [&str; 2] = ["rootfs", "history"];

/// A checked config fragment: a JSON object that decodes as (part of) an OCI image config.
pub struct Fragment {
    pub path: String,
    object: Map<String, Value>,
}

impl Fragment {
    pub fn parse(bytes: &[u8], path: &str) -> Result<Self, ImageError> {
        let invalid = |reason: String| ImageError::ConfigFragment { path: path.into(), reason };
        let value: Value = serde_json::from_slice(bytes).map_err(|err| invalid(format!("not JSON ({err})")))?;
        let Value::Object(object) = value else {
            return Err(invalid(format!("holds a JSON {} instead of an object", kind(&value))));
        };
        if let Some(field) = COMPUTED_FIELDS.iter().find(|field| object.contains_key(**field)) {
            return Err(invalid(format!("sets `{field}`, which is computed from the layers; remove it")));
        }
        let decoded = decode(with_required_fields(Value::Object(object.clone()))).map_err(invalid)?;
        if let Some(created) = decoded.created() {
            check_time(created, &format!("config fragment {path}"))?;
        }
        let unknown = unknown_fields(&object, &serde_json::to_value(&decoded).expect("a config serializes"));
        if !unknown.is_empty() {
            return Err(invalid(format!(
                "has fields an OCI image config does not define: {}; remove them",
                unknown.join(", ")
            )));
        }
        Ok(Self { path: path.to_owned(), object })
    }

    fn string(&self, field: &str) -> Option<&str> {
        self.object.get(field).and_then(Value::as_str)
    }

    fn sets_cmd(&self) -> bool {
        self.object.get("config").and_then(|config| config.get("Cmd")).is_some()
    }
}

/// What the request asks of the config, with its files already read.
pub struct Settings<'a> {
    pub os: &'a str,
    pub architecture: &'a str,
    pub variant: &'a str,
    pub entrypoint: &'a [String],
    pub cmd: &'a [String],
    pub user: &'a str,
    pub working_dir: &'a str,
    pub stop_signal: &'a str,
    /// `env_file` merged under `env`.
    pub env: BTreeMap<String, String>,
    /// `label_files` merged under `labels`.
    pub labels: BTreeMap<String, String>,
    /// Already checked to be RFC 3339.
    pub created: Option<String>,
}

/// A base config and the file it came from.
pub struct BaseConfig<'a> {
    pub config: &'a ImageConfiguration,
    pub path: &'a str,
}

/// Builds the image config.
pub fn build(
    base: Option<BaseConfig>,
    fragment: Option<&Fragment>,
    settings: &Settings,
    layers: &[LayerInput],
) -> Result<ImageConfiguration, ImageError> {
    let wanted = platform_name(settings.os, settings.architecture);
    if let Some(base) = &base {
        let found = platform_name(&base.config.os().to_string(), &base.config.architecture().to_string());
        if found != wanted {
            return Err(ImageError::PlatformMismatch { config: base.path.into(), base: found, wanted });
        }
    }
    if let Some(fragment) = fragment {
        let os = fragment.string("os").unwrap_or(settings.os);
        let architecture = fragment.string("architecture").unwrap_or(settings.architecture);
        if platform_name(os, architecture) != wanted {
            return Err(ImageError::ConfigFragment {
                path: fragment.path.as_str().into(),
                reason: format!("sets platform {} but the image is for {wanted}", platform_name(os, architecture)),
            });
        }
    }

    let mut config = overlay(base.as_ref().map(|b| b.config), fragment)?;
    config.set_os(Os::from(settings.os));
    config.set_architecture(Arch::from(settings.architecture));
    if !settings.variant.is_empty() {
        config.set_variant(Some(settings.variant.to_owned()));
    }
    // The base's creation time would make every build look as old as the base; only an explicit
    // time (request, then fragment) is kept, so that builds are reproducible.
    let created = settings.created.clone().or_else(|| fragment.and_then(|f| f.string("created")).map(str::to_owned));
    config.set_created(created);
    let keep_cmd = fragment.is_some_and(Fragment::sets_cmd);
    let runtime = apply_settings(config.config().clone().unwrap_or_default(), settings, keep_cmd);
    config.set_config((runtime != Config::default()).then_some(runtime));
    append_layers(&mut config, layers)?;
    Ok(config)
}

fn platform_name(os: &str, architecture: &str) -> String {
    format!("{os}/{architecture}")
}

/// The base config with the fragment decoded into it.
fn overlay(base: Option<&ImageConfiguration>, fragment: Option<&Fragment>) -> Result<ImageConfiguration, ImageError> {
    let mut value = match base {
        Some(base) => serde_json::to_value(base).expect("a config serializes"),
        None => Value::Object(Map::new()),
    };
    if let Some(fragment) = fragment {
        merge(&mut value, &fragment.object);
    }
    decode(with_required_fields(value)).map_err(|reason| ImageError::ConfigFragment {
        path: fragment.map(|f| f.path.as_str()).unwrap_or_default().into(),
        reason,
    })
}

fn merge(target: &mut Value, overlay: &Map<String, Value>) {
    let Value::Object(target) = target else { return };
    for (key, value) in overlay {
        match (target.get_mut(key), value) {
            (_, Value::Null) => {
                target.remove(key);
            }
            (Some(existing @ Value::Object(_)), Value::Object(fields)) => merge(existing, fields),
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Fills the fields a full config requires but a fragment may leave out.
fn with_required_fields(mut value: Value) -> Value {
    if let Value::Object(object) = &mut value {
        for (key, default) in [
            ("architecture", Value::from("")),
            ("os", Value::from("")),
            ("rootfs", serde_json::json!({"type": "layers", "diff_ids": []})),
        ] {
            object.entry(key).or_insert(default);
        }
    }
    value
}

fn decode(value: Value) -> Result<ImageConfiguration, String> {
    serde_path_to_error::deserialize(value).map_err(|err| match err.path().to_string().as_str() {
        "." => err.inner().to_string(),
        path => format!("field `{path}`: {}", err.inner()),
    })
}

/// Fields of `input` (top level and `config`) that did not survive decoding.
fn unknown_fields(input: &Map<String, Value>, decoded: &Value) -> Vec<String> {
    let mut unknown = Vec::new();
    for (key, value) in input {
        match decoded.get(key) {
            None if !value.is_null() => unknown.push(format!("`{key}`")),
            Some(decoded_config) if key == "config" => {
                for (field, value) in value.as_object().into_iter().flatten() {
                    if !value.is_null() && decoded_config.get(field).is_none() {
                        unknown.push(format!("`config.{field}`"));
                    }
                }
            }
            _ => {}
        }
    }
    unknown
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Applies entrypoint/cmd/user/working_dir/stop_signal/env/labels. `keep_cmd`: the fragment set
/// Cmd itself, so an explicit entrypoint does not clear it.
fn apply_settings(mut config: Config, settings: &Settings, keep_cmd: bool) -> Config {
    let explicit_entrypoint = !is_inherit(settings.entrypoint);
    config.set_entrypoint(resolve_list(settings.entrypoint, config.entrypoint().clone()));
    if explicit_entrypoint && is_inherit(settings.cmd) && !keep_cmd {
        // A new entrypoint makes the base's arguments meaningless (rules_img #368, Dockerfile ENTRYPOINT).
        config.set_cmd(None);
    } else {
        config.set_cmd(resolve_list(settings.cmd, config.cmd().clone()));
    }
    config.set_user(resolve_string(settings.user, config.user().clone()));
    config.set_working_dir(resolve_string(settings.working_dir, config.working_dir().clone()));
    config.set_stop_signal(resolve_string(settings.stop_signal, config.stop_signal().clone()));
    config.set_env(merge_env(config.env().clone(), &settings.env));
    if !settings.labels.is_empty() {
        let labels = config.labels_mut().get_or_insert_with(Default::default);
        labels.extend(settings.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    config
}

fn is_inherit(list: &[String]) -> bool {
    matches!(list, [only] if only == INHERIT)
}

/// The lone sentinel keeps `current`; empty unsets; otherwise each sentinel expands to `current`.
pub fn resolve_list(requested: &[String], current: Option<Vec<String>>) -> Option<Vec<String>> {
    if is_inherit(requested) {
        return current;
    }
    if requested.is_empty() {
        return None;
    }
    let inherited = current.unwrap_or_default();
    let mut out = Vec::with_capacity(requested.len());
    for item in requested {
        if item == INHERIT {
            out.extend(inherited.iter().cloned());
        } else {
            out.push(item.clone());
        }
    }
    Some(out)
}

/// The sentinel keeps `current`; empty unsets; anything else replaces.
pub fn resolve_string(requested: &str, current: Option<String>) -> Option<String> {
    match requested {
        INHERIT => current,
        "" => None,
        value => Some(value.to_owned()),
    }
}

/// Existing variables are replaced in place; new ones are appended in key order.
pub fn merge_env(current: Option<Vec<String>>, new: &BTreeMap<String, String>) -> Option<Vec<String>> {
    if new.is_empty() {
        return current;
    }
    let mut env = current.unwrap_or_default();
    for (key, value) in new {
        let entry = format!("{key}={value}");
        match env.iter_mut().find(|existing| existing.split_once('=').map_or(existing.as_str(), |(k, _)| k) == key) {
            Some(existing) => *existing = entry,
            None => env.push(entry),
        }
    }
    Some(env)
}

/// Adds each layer's diff_id and history after the base's.
fn append_layers(config: &mut ImageConfiguration, layers: &[LayerInput]) -> Result<(), ImageError> {
    let mut history = config.history().clone().unwrap_or_default();
    for layer in layers {
        let diff_id = layer
            .metadata
            .diff_id
            .clone()
            .ok_or_else(|| ImageError::MissingDiffId { path: layer.path.as_str().into() })?;
        config.rootfs_mut().diff_ids_mut().push(diff_id);
        for entry in &layer.metadata.history {
            let mut item = History::default();
            item.set_created(entry.created.clone());
            item.set_created_by(entry.created_by.clone());
            item.set_author(entry.author.clone());
            item.set_comment(entry.comment.clone());
            item.set_empty_layer(entry.empty_layer);
            history.push(item);
        }
    }
    config.set_history((!history.is_empty()).then_some(history));
    Ok(())
}

/// Checks an RFC 3339 time; `origin` names where it came from.
pub fn check_time(value: &str, origin: &str) -> Result<String, ImageError> {
    let value = value.trim();
    match time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339) {
        Ok(_) => Ok(value.to_owned()),
        Err(_) => Err(ImageError::BadTime { origin: origin.to_owned(), value: value.to_owned() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn inherit_sentinel_keeps_expands_or_is_replaced() {
        let base = Some(strings(&["/bin/sh", "-c"]));
        assert_eq!(resolve_list(&strings(&[INHERIT]), base.clone()), base);
        assert_eq!(resolve_list(&[], base.clone()), None);
        assert_eq!(resolve_list(&strings(&[INHERIT, "x"]), base.clone()), Some(strings(&["/bin/sh", "-c", "x"])));
        assert_eq!(resolve_list(&strings(&["/app"]), base), Some(strings(&["/app"])));
        assert_eq!(resolve_list(&strings(&[INHERIT, "x"]), None), Some(strings(&["x"])));
        assert_eq!(resolve_string(INHERIT, Some("root".into())), Some("root".into()));
        assert_eq!(resolve_string("", Some("root".into())), None);
        assert_eq!(resolve_string("app", None), Some("app".into()));
    }

    #[test]
    fn env_replaces_in_place_and_appends_sorted() {
        let base = Some(strings(&["PATH=/bin", "HOME=/root"]));
        let new: BTreeMap<_, _> = [("Z", "1"), ("A", "2"), ("PATH", "/usr/bin")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(merge_env(base, &new), Some(strings(&["PATH=/usr/bin", "HOME=/root", "A=2", "Z=1"])));
    }

    #[test]
    fn fragment_rejects_wrong_types_unknown_and_computed_fields() {
        let err = |json: &str| Fragment::parse(json.as_bytes(), "frag.json").err().unwrap().to_string();
        assert!(err("not json").contains("not JSON"));
        assert!(err("[1]").contains("array instead of an object"));
        assert!(err(r#"{"config":{"Entrypoint":"sh"}}"#).contains("config.Entrypoint"));
        assert!(err(r#"{"config":{"Healthcheck":{}}}"#).contains("config.Healthcheck"));
        assert!(err(r#"{"rootfs":{}}"#).contains("rootfs"));
        assert!(err(r#"{"created":"last week"}"#).contains("RFC 3339"));
        assert!(Fragment::parse(br#"{"config":{"ExposedPorts":{"80/tcp":{}},"Cmd":null}}"#, "f").is_ok());
    }

    #[test]
    fn fragment_merges_field_by_field_and_null_unsets() {
        let mut base = serde_json::json!({"config": {"Cmd": ["a"], "Env": ["A=1"], "Labels": {"x": "1"}}});
        let overlay = serde_json::json!({"config": {"Cmd": null, "Labels": {"y": "2"}}});
        merge(&mut base, overlay.as_object().unwrap());
        assert_eq!(base, serde_json::json!({"config": {"Env": ["A=1"], "Labels": {"x": "1", "y": "2"}}}));
    }
}
