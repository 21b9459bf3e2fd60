//! Configurations (what a target is configured for) and conversions between Buck2's configuration
//! providers (`PlatformInfo`, `ConfigurationInfo`, `ConstraintValueInfo`, …) and Rust data.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use starlark::values::dict::{AllocDict, DictRef};
use starlark::values::{Heap, Value, ValueLike};

use super::builtin_providers::builtin_id;
use super::error::{sl_bail, sl_err};
use super::labels::{StarlarkTargetLabel, TargetLabel};
use super::providers::{ProviderCollection, ProviderInstance};

/// The data of a configuration. Buck2 prints bound configurations as `<platform label>#<hash>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Configuration {
    /// Configuration rules and targets analysed without a platform.
    Unbound,
    /// Exec deps when no `[build] execution_platforms` is configured.
    UnspecifiedExec,
    Bound(PlatformData),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlatformData {
    pub label: String,
    /// constraint setting → constraint value.
    pub constraints: BTreeMap<TargetLabel, TargetLabel>,
    /// buckconfig `section.key` → value.
    pub values: BTreeMap<String, String>,
}

impl Configuration {
    pub fn unbound() -> Arc<Self> {
        Arc::new(Configuration::Unbound)
    }

    /// Deterministic short hash used in output paths.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        match self {
            Configuration::Unbound => h.update(b"unbound"),
            Configuration::UnspecifiedExec => h.update(b"unspecified_exec"),
            Configuration::Bound(p) => {
                h.update(p.label.as_bytes());
                for (k, v) in &p.constraints {
                    h.update(format!("\0{k}={v}").as_bytes());
                }
                for (k, v) in &p.values {
                    h.update(format!("\0{k}:{v}").as_bytes());
                }
            }
        }
        hex::encode(&h.finalize()[..8])
    }

    pub fn constraints(&self) -> Option<&BTreeMap<TargetLabel, TargetLabel>> {
        match self {
            Configuration::Bound(p) => Some(&p.constraints),
            _ => None,
        }
    }

    /// Does this configuration satisfy every constraint and buckconfig value of `info`?
    pub fn satisfies(&self, info: &ConfigurationData, buckconfig: &dyn Fn(&str) -> Option<String>) -> bool {
        let empty = BTreeMap::new();
        let mine = self.constraints().unwrap_or(&empty);
        info.constraints.iter().all(|(s, v)| mine.get(s) == Some(v))
            && info.values.iter().all(|(k, v)| buckconfig(k).as_deref() == Some(v.as_str()))
    }
}

impl fmt::Display for Configuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Configuration::Unbound => write!(f, "<unbound>"),
            Configuration::UnspecifiedExec => write!(f, "<unspecified_exec>"),
            Configuration::Bound(p) => write!(f, "{}#{}", p.label, self.hash()),
        }
    }
}

/// `ConfigurationInfo` as Rust data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigurationData {
    pub constraints: BTreeMap<TargetLabel, TargetLabel>,
    pub values: BTreeMap<String, String>,
}

fn target_label_of(v: Value) -> starlark::Result<TargetLabel> {
    if let Some(l) = v.downcast_ref::<StarlarkTargetLabel>() {
        return Ok(l.label.clone());
    }
    if let Some(l) = v.downcast_ref::<super::labels::StarlarkProvidersLabel>() {
        return Ok(l.label.target.clone());
    }
    if let Some(l) = v.downcast_ref::<super::labels::StarlarkLabel>() {
        return Ok(l.label.target.clone());
    }
    sl_bail(format!("expected a TargetLabel, got `{v}` of type `{}`", v.get_type()))
}

fn instance_of<'v>(v: Value<'v>, name: &str) -> starlark::Result<&'v ProviderInstance<'v>> {
    ProviderInstance::from_value(v)
        .filter(|p| p.id.same(&builtin_id(name)))
        .ok_or_else(|| sl_err(format!("expected `{name}`, got `{v}` of type `{}`", v.get_type())))
}

/// Read a `ConfigurationInfo` instance.
pub fn configuration_data_from(v: Value) -> starlark::Result<ConfigurationData> {
    let info = instance_of(v, "ConfigurationInfo")?;
    let mut data = ConfigurationData::default();
    if let Some(c) = info.field("constraints").and_then(DictRef::from_value) {
        for (setting, value) in c.iter() {
            let cv = instance_of(value, "ConstraintValueInfo")?;
            let value_label = target_label_of(cv.field("label").unwrap_or_else(Value::new_none))?;
            data.constraints.insert(target_label_of(setting)?, value_label);
        }
    }
    if let Some(values) = info.field("values").and_then(DictRef::from_value) {
        for (k, v) in values.iter() {
            let (Some(k), Some(v)) = (k.unpack_str(), v.unpack_str()) else {
                return sl_bail("ConfigurationInfo.values must be dict[str, str]");
            };
            data.values.insert(k.to_owned(), v.to_owned());
        }
    }
    Ok(data)
}

/// Read a `PlatformInfo` instance into a bound configuration.
pub fn configuration_from_platform_info(v: Value) -> starlark::Result<Configuration> {
    let info = instance_of(v, "PlatformInfo")?;
    let label = info
        .field("label")
        .and_then(|l| l.unpack_str().map(str::to_owned))
        .ok_or_else(|| sl_err("PlatformInfo.label must be a string"))?;
    let data = configuration_data_from(info.field("configuration").unwrap_or_else(Value::new_none))?;
    Ok(Configuration::Bound(PlatformData { label, constraints: data.constraints, values: data.values }))
}

/// Look up a built-in provider in a collection value.
pub fn builtin_in<'v>(collection: Value<'v>, name: &str) -> Option<Value<'v>> {
    ProviderCollection::from_value(collection)?.get(&builtin_id(name))
}

/// Build the `PlatformInfo` value a transition impl receives for `cfg`.
pub fn platform_info_value<'v>(cfg: &Configuration, heap: Heap<'v>) -> Value<'v> {
    let (label, constraints, values) = match cfg {
        Configuration::Bound(p) => (p.label.clone(), p.constraints.clone(), p.values.clone()),
        other => (other.to_string(), BTreeMap::new(), BTreeMap::new()),
    };
    let mut entries = Vec::new();
    for (setting, value) in constraints {
        let setting_label = heap.alloc(StarlarkTargetLabel { label: setting });
        let setting_info = heap.alloc(ProviderInstance {
            id: builtin_id("ConstraintSettingInfo"),
            fields: vec![("label".to_owned(), setting_label), ("default".to_owned(), Value::new_none())],
        });
        let value_info = heap.alloc(ProviderInstance {
            id: builtin_id("ConstraintValueInfo"),
            fields: vec![
                ("setting".to_owned(), setting_info),
                ("label".to_owned(), heap.alloc(StarlarkTargetLabel { label: value })),
            ],
        });
        entries.push((setting_label, value_info));
    }
    let values = heap.alloc(AllocDict(values.into_iter().map(|(k, v)| (heap.alloc(k), heap.alloc(v)))));
    let configuration = heap.alloc(ProviderInstance {
        id: builtin_id("ConfigurationInfo"),
        fields: vec![("constraints".to_owned(), heap.alloc(AllocDict(entries))), ("values".to_owned(), values)],
    });
    heap.alloc(ProviderInstance {
        id: builtin_id("PlatformInfo"),
        fields: vec![("label".to_owned(), heap.alloc(label)), ("configuration".to_owned(), configuration)],
    })
}
