//! `rule()` and `transition()` (`app/buck2_interpreter_for_build/src/rule.rs`,
//! `app/buck2_transition/src/transition/starlark.rs`), and rule invocation from BUCK files.

use std::fmt;
use std::sync::{Arc, OnceLock};

use allocative::Allocative;
use starlark::environment::GlobalsBuilder;
use starlark::eval::{Arguments, Evaluator, ParametersSpec, ParametersSpecParam};
use starlark::starlark_complex_value;
use starlark::starlark_module;
use starlark::values::dict::DictRef;
use starlark::values::list_or_tuple::UnpackListOrTuple;
use starlark::values::{
    starlark_value, Freeze, FreezeError, FreezeResult, Freezer, FrozenValue, NoSerialize, ProvidesStaticType,
    StarlarkValue, Trace, Value, ValueLifetimeless, ValueLike,
};

use super::attrs::{Attr, AttrSpec, AttrType};
use super::coerce::{coerce, CoerceCtx, CoercedAttr};
use super::error::{sl_bail, sl_err};
use super::labels::{parse_providers_label, validate_target_name, LabelContext, ProvidersLabel, TargetLabel};
use super::loader::{BuildContext, FileKind, TargetNode};

/// The Rust half of a rule: attributes and flags. Shared by frozen and unfrozen values.
#[derive(Debug, Allocative)]
pub struct RuleSpec {
    pub name: OnceLock<String>,
    pub defined_in: String,
    /// User attributes (transition indices already shifted into the rule's list).
    #[allocative(skip)]
    pub attrs: Vec<(String, AttrSpec)>,
    pub is_configuration_rule: bool,
    pub is_toolchain_rule: bool,
    pub supports_incoming_transition: bool,
}

impl RuleSpec {
    pub fn name(&self) -> &str {
        self.name.get().map(String::as_str).unwrap_or("<unnamed rule>")
    }

    /// User attributes followed by Buck2's implicit ones (`app/buck2_node/src/attrs/spec/internal.rs`).
    pub fn all_attrs(&self) -> Vec<(String, AttrSpec)> {
        let mut out = self.attrs.clone();
        out.extend(implicit_attrs(self.supports_incoming_transition));
        out
    }
}

fn spec(ty: AttrType, default: Option<CoercedAttr>) -> AttrSpec {
    AttrSpec { ty, default, default_only: false, doc: String::new() }
}

pub fn implicit_attrs(incoming: bool) -> Vec<(String, AttrSpec)> {
    let labels = || AttrType::List(Box::new(AttrType::LabelString));
    let strings = || AttrType::List(Box::new(AttrType::String));
    let empty = || Some(CoercedAttr::List(vec![]));
    let mut v = vec![
        ("name".to_owned(), spec(AttrType::String, None)),
        (
            "default_target_platform".to_owned(),
            spec(AttrType::Option(Box::new(AttrType::LabelString)), Some(CoercedAttr::None)),
        ),
        ("target_compatible_with".to_owned(), spec(labels(), empty())),
        ("compatible_with".to_owned(), spec(labels(), empty())),
        ("exec_compatible_with".to_owned(), spec(labels(), empty())),
        ("visibility".to_owned(), spec(strings(), empty())),
        ("within_view".to_owned(), spec(strings(), empty())),
        ("metadata".to_owned(), spec(AttrType::Any, Some(CoercedAttr::Dict(vec![])))),
        ("tests".to_owned(), spec(AttrType::List(Box::new(AttrType::Label)), empty())),
        ("modifiers".to_owned(), spec(AttrType::Any, empty())),
    ];
    if incoming {
        v.push((
            "incoming_transition".to_owned(),
            spec(AttrType::Option(Box::new(AttrType::LabelString)), Some(CoercedAttr::None)),
        ));
    }
    v
}

/// A rule value. Callable only once frozen (from another module) and only in a BUCK context.
#[derive(Debug, Trace, ProvidesStaticType, NoSerialize, Allocative)]
#[repr(C)]
pub struct RuleGen<V: ValueLifetimeless> {
    #[trace(static)]
    pub spec: Arc<RuleSpec>,
    pub implementation: V,
    /// Transition objects referenced by attributes (`DepKind::Transition(Some(i))`, `Split(i)`).
    pub transitions: Vec<V>,
    /// `rule(cfg = transition)`.
    pub cfg: Option<V>,
}
starlark_complex_value!(pub Rule);

impl<'v> Freeze for RuleGen<Value<'v>> {
    type Frozen = RuleGen<FrozenValue>;
    fn freeze(self, freezer: &Freezer) -> FreezeResult<Self::Frozen> {
        if self.spec.name.get().is_none() {
            return Err(FreezeError::new(format!(
                "Rule defined in `{}` must be assigned to a variable, e.g. `my_rule = rule(...)`",
                self.spec.defined_in
            )));
        }
        Ok(RuleGen {
            spec: self.spec,
            implementation: self.implementation.freeze(freezer)?,
            transitions: self.transitions.freeze(freezer)?,
            cfg: self.cfg.freeze(freezer)?,
        })
    }
}

impl<'v, V: ValueLike<'v>> fmt::Display for RuleGen<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule({})", self.spec.name())
    }
}

#[starlark_value(type = "Rule")]
impl<'v, V: ValueLike<'v>> StarlarkValue<'v> for RuleGen<V>
where
    Self: ProvidesStaticType<'v>,
{
    fn export_as(&self, variable_name: &str, _eval: &mut Evaluator<'v, '_, '_>) -> starlark::Result<()> {
        let _ = self.spec.name.set(variable_name.to_owned());
        Ok(())
    }

    fn invoke(
        &self,
        me: Value<'v>,
        args: &Arguments<'v, '_>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let Some(frozen) = me.unpack_frozen() else {
            return sl_bail("The output of rule() may only be called after the module is loaded");
        };
        let ctx = BuildContext::get(eval)?;
        if ctx.kind != FileKind::Buck {
            return sl_bail(format!(
                "rule `{}` can only be called while evaluating a build file (BUCK) or a macro called from one",
                self.spec.name()
            ));
        }
        let all = self.spec.all_attrs();
        let params: ParametersSpec<FrozenValue> = ParametersSpec::new_named_only(
            self.spec.name(),
            all.iter().map(|(name, a)| {
                (
                    name.as_str(),
                    if a.default.is_none() { ParametersSpecParam::Required } else { ParametersSpecParam::Optional },
                )
            }),
        );
        let mut slots = vec![None; all.len()];
        params.collect(args, &mut slots, eval.heap())?;
        let package = ctx.package.clone().expect("BUCK context has a package");
        let name = slots[all.iter().position(|(n, _)| n == "name").expect("implicit name")]
            .and_then(|v| v.unpack_str().map(str::to_owned))
            .ok_or_else(|| sl_err("`name` must be a string"))?;
        validate_target_name(&name).map_err(sl_err)?;
        let label = TargetLabel { cell: ctx.cell.clone(), package: package.clone(), name: name.clone() };
        let coerce_ctx = CoerceCtx {
            cells: &ctx.project.cells,
            cell: &ctx.cell,
            package: Some(&package),
            project_root: &ctx.project.root,
            package_dir: Some(ctx.project.package_dir(&ctx.cell, &package)),
        };
        let mut attrs = Vec::with_capacity(all.len());
        for ((attr_name, a), slot) in all.iter().zip(slots) {
            let given = slot.filter(|v| !v.is_none());
            let value = match given {
                Some(v) if a.default_only => {
                    let _ = v;
                    return sl_bail(format!(
                        "Attribute `{attr_name}` of rule `{}`: default_only is not allowed to be specified",
                        self.spec.name()
                    ));
                }
                Some(v) => coerce(&a.ty, v, &coerce_ctx)
                    .map_err(|e| sl_err(format!("Error coercing attribute `{attr_name}` of `{label}`: {e}")))?,
                None => match &a.default {
                    Some(d) => d.clone(),
                    None => {
                        return sl_bail(format!(
                            "Missing named-only parameter `{attr_name}` for call to `{}`",
                            self.spec.name()
                        ))
                    }
                },
            };
            attrs.push((attr_name.clone(), value));
        }
        ctx.add_target(TargetNode { label, rule: frozen, spec: self.spec.clone(), attrs, heap: None })?;
        Ok(Value::new_none())
    }
}

/// Transition identity/data shared by frozen and unfrozen values.
#[derive(Debug, Allocative)]
pub struct TransitionSpec {
    pub name: OnceLock<String>,
    pub defined_in: String,
    pub refs: Vec<(String, ProvidersLabel)>,
    pub attrs: Option<Vec<String>>,
    pub split: bool,
}

impl TransitionSpec {
    pub fn name(&self) -> &str {
        self.name.get().map(String::as_str).unwrap_or("<unnamed transition>")
    }
}

/// Old-style transition object (`transition(impl, refs, attrs, split)`).
#[derive(Debug, Trace, ProvidesStaticType, NoSerialize, Allocative)]
#[repr(C)]
pub struct TransitionGen<V: ValueLifetimeless> {
    #[trace(static)]
    pub spec: Arc<TransitionSpec>,
    pub implementation: V,
    pub split: bool,
}
starlark_complex_value!(pub Transition);

impl<'v> Freeze for TransitionGen<Value<'v>> {
    type Frozen = TransitionGen<FrozenValue>;
    fn freeze(self, freezer: &Freezer) -> FreezeResult<Self::Frozen> {
        if self.spec.name.get().is_none() {
            return Err(FreezeError::new(format!(
                "Transition defined in `{}` must be assigned to a variable",
                self.spec.defined_in
            )));
        }
        Ok(TransitionGen { spec: self.spec, implementation: self.implementation.freeze(freezer)?, split: self.split })
    }
}

impl<'v, V: ValueLike<'v>> fmt::Display for TransitionGen<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "transition({})", self.spec.name())
    }
}

#[starlark_value(type = "Transition")]
impl<'v, V: ValueLike<'v>> StarlarkValue<'v> for TransitionGen<V>
where
    Self: ProvidesStaticType<'v>,
{
    fn export_as(&self, variable_name: &str, _eval: &mut Evaluator<'v, '_, '_>) -> starlark::Result<()> {
        let _ = self.spec.name.set(variable_name.to_owned());
        Ok(())
    }
}

const IMPLICIT: &[&str] = &[
    "default_target_platform",
    "target_compatible_with",
    "compatible_with",
    "exec_compatible_with",
    "visibility",
    "within_view",
    "metadata",
    "tests",
    "modifiers",
    "incoming_transition",
];

#[starlark_module]
pub(crate) fn register_rule(builder: &mut GlobalsBuilder) {
    /// `rule(*, impl, attrs, cfg=<absent>, supports_incoming_transition=<absent>, doc="",
    /// is_configuration_rule=False, is_toolchain_rule=False, uses_plugins=[])`.
    fn rule<'v>(
        #[starlark(require = named)] r#impl: Value<'v>,
        #[starlark(require = named)] attrs: DictRef<'v>,
        #[starlark(require = named)] cfg: Option<Value<'v>>,
        #[starlark(require = named)] supports_incoming_transition: Option<bool>,
        #[starlark(require = named, default = "")] doc: &str,
        #[starlark(require = named, default = false)] is_configuration_rule: bool,
        #[starlark(require = named, default = false)] is_toolchain_rule: bool,
        #[starlark(require = named)] uses_plugins: Option<UnpackListOrTuple<Value<'v>>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Rule<'v>> {
        let _ = (doc, uses_plugins);
        let ctx = BuildContext::get(eval)?;
        if ctx.kind != FileKind::Bzl {
            return sl_bail("`rule` can only be declared in bzl files");
        }
        if let Some(c) = cfg {
            if Transition::from_value(c).is_none() {
                return sl_bail(format!(
                    "Type of parameter `cfg` doesn't match, expected `Transition`, actual `{}`",
                    c.get_type()
                ));
            }
            if supports_incoming_transition.is_some() {
                return sl_bail("`cfg` and `supports_incoming_transition` cannot be used together");
            }
        }
        if is_configuration_rule && is_toolchain_rule {
            return sl_bail("Rule cannot be both a configuration rule and a toolchain rule");
        }
        let incoming = supports_incoming_transition.unwrap_or(false);
        if (is_configuration_rule || is_toolchain_rule) && (incoming || cfg.is_some()) {
            return sl_bail("Configuration rules and toolchain rules cannot have incoming transitions");
        }
        let mut specs = Vec::new();
        let mut transitions = Vec::new();
        for (k, v) in attrs.iter() {
            let name = k.unpack_str().ok_or_else(|| sl_err("attribute names must be strings"))?;
            if name == "name" {
                return sl_bail("`name` is not a valid attribute name");
            }
            if IMPLICIT.contains(&name) {
                return sl_bail(format!("User provided attribute `{name}` overrides internal attribute"));
            }
            let a = Attr::from_value(v).ok_or_else(|| {
                sl_err(format!("attribute `{name}` must be an attrs.* value, got `{}`", v.get_type()))
            })?;
            let mut spec = a.spec.clone();
            shift(&mut spec.ty, transitions.len());
            transitions.extend(a.transitions.iter().copied());
            specs.push((name.to_owned(), spec));
        }
        Ok(Rule {
            spec: Arc::new(RuleSpec {
                name: OnceLock::new(),
                defined_in: ctx.file.clone(),
                attrs: specs,
                is_configuration_rule,
                is_toolchain_rule,
                supports_incoming_transition: incoming,
            }),
            implementation: r#impl,
            transitions,
            cfg,
        })
    }

    /// `transition(*, impl, refs, attrs=<absent>, split=False)`.
    fn transition<'v>(
        #[starlark(require = named)] r#impl: Value<'v>,
        #[starlark(require = named)] refs: DictRef<'v>,
        #[starlark(require = named)] attrs: Option<UnpackListOrTuple<String>>,
        #[starlark(require = named, default = false)] split: bool,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Transition<'v>> {
        let ctx = BuildContext::get(eval)?;
        if ctx.kind != FileKind::Bzl {
            return sl_bail("`transition` can only be declared in bzl files");
        }
        let lctx = LabelContext { cells: &ctx.project.cells, cell: &ctx.cell, package: None };
        let mut parsed = Vec::new();
        for (k, v) in refs.iter() {
            let (Some(k), Some(v)) = (k.unpack_str(), v.unpack_str()) else {
                return sl_bail("transition refs must be dict[str, str]");
            };
            parsed.push((k.to_owned(), parse_providers_label(v, &lctx).map_err(sl_err)?));
        }
        Ok(Transition {
            spec: Arc::new(TransitionSpec {
                name: OnceLock::new(),
                defined_in: ctx.file.clone(),
                refs: parsed,
                attrs: attrs.map(|a| a.items),
                split,
            }),
            implementation: r#impl,
            split,
        })
    }
}

fn shift(ty: &mut AttrType, by: usize) {
    // Reuse the attrs module's shifting through a tiny wrapper type.
    super::attrs::shift_transitions(ty, by);
}

coerce_gen!(RuleGen);

coerce_gen!(TransitionGen);
