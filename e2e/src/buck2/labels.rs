//! Cells and labels: Rust types for `cell//pkg:name[sub]`, their parsing (Buck2's rules), and the
//! Starlark values `Label`, `TargetLabel`, `ConfiguredTargetLabel`, `ProvidersLabel`, `CellPath`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use allocative::Allocative;
use starlark::collections::StarlarkHasher;
use starlark::environment::MethodsBuilder;
use starlark::starlark_module;
use starlark::starlark_simple_value;
use starlark::values::list::AllocList;
use starlark::values::list_or_tuple::UnpackListOrTuple;
use starlark::values::none::NoneOr;
use starlark::values::starlark_value;
use starlark::values::{Heap, NoSerialize, ProvidesStaticType, StarlarkValue, Value, ValueLike};

use super::configuration::Configuration;

/// Cell names → directories (relative to the project root), plus aliases.
#[derive(Debug, Clone, Default)]
pub struct CellResolver {
    pub cells: BTreeMap<String, String>,
    pub aliases: BTreeMap<String, String>,
}

impl CellResolver {
    /// Canonical cell name for `name` (a cell or an alias), if known.
    pub fn resolve(&self, name: &str) -> Option<String> {
        if self.cells.contains_key(name) {
            return Some(name.to_owned());
        }
        let target = self.aliases.get(name)?;
        self.cells.contains_key(target).then(|| target.clone())
    }

    pub fn dir(&self, cell: &str) -> Option<&str> {
        self.cells.get(cell).map(String::as_str)
    }
}

/// `cell//package:name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Allocative)]
pub struct TargetLabel {
    pub cell: String,
    pub package: String,
    pub name: String,
}

impl fmt::Display for TargetLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}//{}:{}", self.cell, self.package, self.name)
    }
}

/// `cell//package:name[sub][sub2]` (unconfigured).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Allocative)]
pub struct ProvidersLabel {
    pub target: TargetLabel,
    pub sub_target: Option<Vec<String>>,
}

impl ProvidersLabel {
    pub fn new(target: TargetLabel) -> Self {
        ProvidersLabel { target, sub_target: None }
    }
}

impl fmt::Display for ProvidersLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.target)?;
        for s in self.sub_target.iter().flatten() {
            write!(f, "[{s}]")?;
        }
        Ok(())
    }
}

/// Where a label string is parsed: the cell of the file, and its package if it is a build file.
pub struct LabelContext<'a> {
    pub cells: &'a CellResolver,
    pub cell: &'a str,
    /// `None` while coercing attribute defaults in a `.bzl` (relative labels are rejected there).
    pub package: Option<&'a str>,
}

/// Check a target name the way `app/buck2_core/src/target/name.rs` does (OSS build).
pub fn validate_target_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("target name must not be empty".to_owned());
    }
    if name == "..." {
        return Err("target name `...` is reserved for patterns".to_owned());
    }
    for c in name.chars() {
        let ok = c.is_ascii_alphanumeric() || "_.=-/~@!+".contains(c);
        if !ok {
            return Err(format!(
                "Invalid target name `{name}`. Target names are non-empty strings and can only contain alpha numeric characters, and symbols `,`, `.`, `=`, `-`, `/`, `~`, `@`, `!`, `+`, `$`, and `_`. No other characters are allowed."
            ));
        }
    }
    Ok(())
}

/// Parse `cell//pkg:name[sub]`, `//pkg:name`, `:name` against `ctx`.
pub fn parse_providers_label(s: &str, ctx: &LabelContext<'_>) -> Result<ProvidersLabel, String> {
    let invalid = |why: &str| format!("Invalid target label `{s}`: {why}");
    // Split off `[sub]` suffixes.
    let (main, subs) = match s.find('[') {
        Some(i) => {
            let mut subs = Vec::new();
            let mut rest = &s[i..];
            while !rest.is_empty() {
                let inner = rest.strip_prefix('[').ok_or_else(|| invalid("malformed sub-target"))?;
                let end = inner.find(']').ok_or_else(|| invalid("unterminated `[`"))?;
                subs.push(inner[..end].to_owned());
                rest = &inner[end + 1..];
            }
            (&s[..i], Some(subs))
        }
        None => (s, None),
    };
    let target = if let Some(name) = main.strip_prefix(':') {
        let package = ctx.package.ok_or_else(|| {
            format!("Relative label `{s}` can only be specified in a build file (use `//pkg:name` or `cell//pkg:name`)")
        })?;
        TargetLabel { cell: ctx.cell.to_owned(), package: package.to_owned(), name: name.to_owned() }
    } else if let Some((cell, rest)) = main.split_once("//") {
        let cell = if cell.is_empty() {
            ctx.cell.to_owned()
        } else {
            let cell = cell.strip_prefix('@').unwrap_or(cell);
            ctx.cells.resolve(cell).ok_or_else(|| invalid(&format!("unknown cell `{cell}`")))?
        };
        let (package, name) = rest.split_once(':').ok_or_else(|| invalid("expected `:` followed by a target name"))?;
        if package.ends_with('/') || package.contains("//") || package.split('/').any(|p| p == ".." || p == ".") {
            return Err(invalid("malformed package path"));
        }
        TargetLabel { cell, package: package.to_owned(), name: name.to_owned() }
    } else {
        return Err(invalid("expected `cell//package:name`, `//package:name` or `:name`"));
    };
    validate_target_name(&target.name).map_err(|e| invalid(&e))?;
    Ok(ProvidersLabel { target, sub_target: subs })
}

// ---------------------------------------------------------------------------------------------
// Starlark values.

/// `Label`: a configured providers label (`ctx.label`, `dep.label`, `attrs.label()` values).
#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative)]
pub struct StarlarkLabel {
    pub label: ProvidersLabel,
    #[allocative(skip)]
    pub cfg: Arc<Configuration>,
}
starlark_simple_value!(StarlarkLabel);

impl fmt::Display for StarlarkLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.label, self.cfg)
    }
}

#[starlark_value(type = "Label")]
impl<'v> StarlarkValue<'v> for StarlarkLabel {
    fn get_methods() -> Option<&'static starlark::environment::Methods> {
        Some(LABEL_METHODS.methods())
    }
    fn equals(&self, other: Value<'v>) -> starlark::Result<bool> {
        Ok(other.downcast_ref::<StarlarkLabel>().is_some_and(|o| o.label == self.label && o.cfg == self.cfg))
    }
    fn write_hash(&self, hasher: &mut StarlarkHasher) -> starlark::Result<()> {
        std::hash::Hash::hash(&self.to_string(), hasher);
        Ok(())
    }
}
starlark::methods_static!(LABEL_METHODS = label_methods);

fn sub_target_value<'v>(sub: &Option<Vec<String>>, heap: Heap<'v>) -> Value<'v> {
    match sub {
        Some(s) => heap.alloc(AllocList(s.iter().map(|x| x.as_str()))),
        None => Value::new_none(),
    }
}

#[starlark_module]
fn label_methods(builder: &mut MethodsBuilder) {
    #[starlark(attribute)]
    fn name<'v>(this: &StarlarkLabel) -> starlark::Result<String> {
        Ok(this.label.target.name.clone())
    }
    #[starlark(attribute)]
    fn package<'v>(this: &StarlarkLabel) -> starlark::Result<String> {
        Ok(this.label.target.package.clone())
    }
    #[starlark(attribute)]
    fn cell<'v>(this: &StarlarkLabel) -> starlark::Result<String> {
        Ok(this.label.target.cell.clone())
    }
    #[starlark(attribute)]
    fn path<'v>(this: &StarlarkLabel) -> starlark::Result<CellPath> {
        Ok(CellPath::of(&this.label.target))
    }
    #[starlark(attribute)]
    fn package_path<'v>(this: &StarlarkLabel) -> starlark::Result<CellPath> {
        Ok(CellPath::of(&this.label.target))
    }
    #[starlark(attribute)]
    fn sub_target<'v>(this: &StarlarkLabel, heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        Ok(sub_target_value(&this.label.sub_target, heap))
    }
    fn raw_target(this: &StarlarkLabel) -> starlark::Result<StarlarkTargetLabel> {
        Ok(StarlarkTargetLabel { label: this.label.target.clone() })
    }
    fn configured_target(this: &StarlarkLabel) -> starlark::Result<StarlarkConfiguredTargetLabel> {
        Ok(StarlarkConfiguredTargetLabel { label: this.label.target.clone(), cfg: this.cfg.clone() })
    }
}

/// `TargetLabel`: unconfigured `cell//pkg:name`. Hashable (used as `ConfigurationInfo.constraints` keys).
#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative)]
pub struct StarlarkTargetLabel {
    pub label: TargetLabel,
}
starlark_simple_value!(StarlarkTargetLabel);

impl fmt::Display for StarlarkTargetLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.label)
    }
}

#[starlark_value(type = "TargetLabel")]
impl<'v> StarlarkValue<'v> for StarlarkTargetLabel {
    fn get_methods() -> Option<&'static starlark::environment::Methods> {
        Some(TARGET_LABEL_METHODS.methods())
    }
    fn equals(&self, other: Value<'v>) -> starlark::Result<bool> {
        Ok(other.downcast_ref::<StarlarkTargetLabel>().is_some_and(|o| o.label == self.label))
    }
    fn write_hash(&self, hasher: &mut StarlarkHasher) -> starlark::Result<()> {
        std::hash::Hash::hash(&self.label.to_string(), hasher);
        Ok(())
    }
}
starlark::methods_static!(TARGET_LABEL_METHODS = target_label_methods);

fn sub_target_arg(sub: Option<Value>) -> starlark::Result<Option<Vec<String>>> {
    let Some(v) = sub else { return Ok(None) };
    if let Some(s) = v.unpack_str() {
        return Ok(Some(vec![s.to_owned()]));
    }
    let list: UnpackListOrTuple<String> = starlark::values::UnpackValue::unpack_value_err(v)?;
    Ok(if list.items.is_empty() { None } else { Some(list.items) })
}

#[starlark_module]
fn target_label_methods(builder: &mut MethodsBuilder) {
    #[starlark(attribute)]
    fn name(this: &StarlarkTargetLabel) -> starlark::Result<String> {
        Ok(this.label.name.clone())
    }
    #[starlark(attribute)]
    fn package(this: &StarlarkTargetLabel) -> starlark::Result<String> {
        Ok(this.label.package.clone())
    }
    #[starlark(attribute)]
    fn cell(this: &StarlarkTargetLabel) -> starlark::Result<String> {
        Ok(this.label.cell.clone())
    }
    #[starlark(attribute)]
    fn path(this: &StarlarkTargetLabel) -> starlark::Result<CellPath> {
        Ok(CellPath::of(&this.label))
    }
    fn with_sub_target<'v>(
        this: &StarlarkTargetLabel,
        #[starlark(default = NoneOr::None)] subtarget_name: NoneOr<Value<'v>>,
    ) -> starlark::Result<StarlarkProvidersLabel> {
        let sub = sub_target_arg(subtarget_name.into_option())?;
        Ok(StarlarkProvidersLabel { label: ProvidersLabel { target: this.label.clone(), sub_target: sub } })
    }
}

/// `ConfiguredTargetLabel`.
#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative)]
pub struct StarlarkConfiguredTargetLabel {
    pub label: TargetLabel,
    #[allocative(skip)]
    pub cfg: Arc<Configuration>,
}
starlark_simple_value!(StarlarkConfiguredTargetLabel);

impl fmt::Display for StarlarkConfiguredTargetLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.label, self.cfg)
    }
}

#[starlark_value(type = "ConfiguredTargetLabel")]
impl<'v> StarlarkValue<'v> for StarlarkConfiguredTargetLabel {
    fn get_methods() -> Option<&'static starlark::environment::Methods> {
        Some(CONFIGURED_TARGET_LABEL_METHODS.methods())
    }
    fn equals(&self, other: Value<'v>) -> starlark::Result<bool> {
        Ok(other
            .downcast_ref::<StarlarkConfiguredTargetLabel>()
            .is_some_and(|o| o.label == self.label && o.cfg == self.cfg))
    }
}
starlark::methods_static!(CONFIGURED_TARGET_LABEL_METHODS = configured_target_label_methods);

#[starlark_module]
fn configured_target_label_methods(builder: &mut MethodsBuilder) {
    #[starlark(attribute)]
    fn name(this: &StarlarkConfiguredTargetLabel) -> starlark::Result<String> {
        Ok(this.label.name.clone())
    }
    #[starlark(attribute)]
    fn package(this: &StarlarkConfiguredTargetLabel) -> starlark::Result<String> {
        Ok(this.label.package.clone())
    }
    #[starlark(attribute)]
    fn cell(this: &StarlarkConfiguredTargetLabel) -> starlark::Result<String> {
        Ok(this.label.cell.clone())
    }
    #[starlark(attribute)]
    fn path(this: &StarlarkConfiguredTargetLabel) -> starlark::Result<CellPath> {
        Ok(CellPath::of(&this.label))
    }
    fn raw_target(this: &StarlarkConfiguredTargetLabel) -> starlark::Result<StarlarkTargetLabel> {
        Ok(StarlarkTargetLabel { label: this.label.clone() })
    }
    fn config(this: &StarlarkConfiguredTargetLabel) -> starlark::Result<String> {
        // Buck2 returns an opaque `Configuration`; its str() is what rules use.
        Ok(this.cfg.to_string())
    }
    fn with_sub_target<'v>(
        this: &StarlarkConfiguredTargetLabel,
        #[starlark(default = NoneOr::None)] subtarget_name: NoneOr<Value<'v>>,
    ) -> starlark::Result<StarlarkLabel> {
        let sub = sub_target_arg(subtarget_name.into_option())?;
        Ok(StarlarkLabel {
            label: ProvidersLabel { target: this.label.clone(), sub_target: sub },
            cfg: this.cfg.clone(),
        })
    }
}

/// `ProvidersLabel`: unconfigured label with optional sub-target.
#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative)]
pub struct StarlarkProvidersLabel {
    pub label: ProvidersLabel,
}
starlark_simple_value!(StarlarkProvidersLabel);

impl fmt::Display for StarlarkProvidersLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.label)
    }
}

#[starlark_value(type = "ProvidersLabel")]
impl<'v> StarlarkValue<'v> for StarlarkProvidersLabel {
    fn get_methods() -> Option<&'static starlark::environment::Methods> {
        Some(PROVIDERS_LABEL_METHODS.methods())
    }
    fn equals(&self, other: Value<'v>) -> starlark::Result<bool> {
        Ok(other.downcast_ref::<StarlarkProvidersLabel>().is_some_and(|o| o.label == self.label))
    }
    fn write_hash(&self, hasher: &mut StarlarkHasher) -> starlark::Result<()> {
        std::hash::Hash::hash(&self.label.to_string(), hasher);
        Ok(())
    }
}
starlark::methods_static!(PROVIDERS_LABEL_METHODS = providers_label_methods);

#[starlark_module]
fn providers_label_methods(builder: &mut MethodsBuilder) {
    #[starlark(attribute)]
    fn name(this: &StarlarkProvidersLabel) -> starlark::Result<String> {
        Ok(this.label.target.name.clone())
    }
    #[starlark(attribute)]
    fn package(this: &StarlarkProvidersLabel) -> starlark::Result<String> {
        Ok(this.label.target.package.clone())
    }
    #[starlark(attribute)]
    fn cell(this: &StarlarkProvidersLabel) -> starlark::Result<String> {
        Ok(this.label.target.cell.clone())
    }
    #[starlark(attribute)]
    fn sub_target<'v>(this: &StarlarkProvidersLabel, heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        Ok(sub_target_value(&this.label.sub_target, heap))
    }
    fn raw_target(this: &StarlarkProvidersLabel) -> starlark::Result<StarlarkTargetLabel> {
        Ok(StarlarkTargetLabel { label: this.label.target.clone() })
    }
}

/// `CellPath`: `cell//path`.
#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative)]
pub struct CellPath {
    pub cell: String,
    pub path: String,
}
starlark_simple_value!(CellPath);

impl CellPath {
    fn of(t: &TargetLabel) -> Self {
        CellPath { cell: t.cell.clone(), path: t.package.clone() }
    }
}

impl fmt::Display for CellPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}//{}", self.cell, self.path)
    }
}

#[starlark_value(type = "CellPath")]
impl<'v> StarlarkValue<'v> for CellPath {
    fn equals(&self, other: Value<'v>) -> starlark::Result<bool> {
        Ok(other.downcast_ref::<CellPath>().is_some_and(|o| o.cell == self.cell && o.path == self.path))
    }
}
