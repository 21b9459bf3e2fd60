//! `attrs.*`: attribute types (`app/buck2_interpreter_for_build/src/attrs/attrs_global.rs`).
//! Each constructor mirrors Buck2's signature; defaults are coerced at `rule()`-definition time
//! against the `.bzl` file's cell (no package), so relative labels there are rejected.

use std::fmt;
use std::sync::Arc;

use allocative::Allocative;
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_complex_value;
use starlark::starlark_module;
use starlark::values::list_or_tuple::UnpackListOrTuple;
use starlark::values::tuple::UnpackTuple;
use starlark::values::{
    starlark_value, Freeze, NoSerialize, ProvidesStaticType, StarlarkValue, Trace, Value, ValueLifetimeless, ValueLike,
};

use super::coerce::{coerce, CoerceCtx, CoercedAttr};
use super::error::{sl_bail, sl_err};
use super::loader::BuildContext;
use super::providers::{provider_id_of, ProviderId};
use super::rule::Transition;

/// How a dependency edge is configured.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Allocative)]
pub enum DepKind {
    Plain,
    Exec,
    Toolchain,
    /// `transition_dep(cfg=Transition)` (index into the attribute's transitions) or, with `None`,
    /// `transition_dep()` without cfg / `cfg="//label"` (target providing `TransitionInfo`).
    Transition(Option<usize>, Option<String>),
    Split(usize),
    Configured,
    Plugin,
}

#[derive(Debug, Clone, Allocative)]
pub struct DepAttr {
    pub kind: DepKind,
    #[allocative(skip)]
    pub providers: Vec<Arc<ProviderId>>,
}

#[derive(Debug, Clone, Allocative)]
pub enum AttrType {
    Any,
    String,
    Bool,
    Int,
    Enum(Vec<String>),
    List(Box<AttrType>),
    Tuple(Vec<AttrType>),
    Dict(Box<AttrType>, Box<AttrType>, bool),
    Option(Box<AttrType>),
    OneOf(Vec<AttrType>),
    Source {
        allow_directory: bool,
    },
    Dep(DepAttr),
    Label,
    Arg,
    /// Implicit label-ish attributes exposed as strings (`target_compatible_with`, …).
    LabelString,
    Query,
    Versioned(Box<AttrType>),
}

impl fmt::Display for AttrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrType::Any => write!(f, "any"),
            AttrType::String => write!(f, "string"),
            AttrType::Bool => write!(f, "bool"),
            AttrType::Int => write!(f, "int"),
            AttrType::Enum(v) => write!(f, "enum({})", v.join(", ")),
            AttrType::List(i) => write!(f, "list({i})"),
            AttrType::Tuple(i) => {
                write!(f, "tuple({})", i.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", "))
            }
            AttrType::Dict(k, v, _) => write!(f, "dict({k}, {v})"),
            AttrType::Option(i) => write!(f, "option({i})"),
            AttrType::OneOf(i) => {
                write!(f, "one_of({})", i.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", "))
            }
            AttrType::Source { .. } => write!(f, "source"),
            AttrType::Dep(d) => match d.kind {
                DepKind::Plain => write!(f, "dep"),
                DepKind::Exec => write!(f, "exec_dep"),
                DepKind::Toolchain => write!(f, "toolchain_dep"),
                DepKind::Transition(..) => write!(f, "transition_dep"),
                DepKind::Split(_) => write!(f, "split_transition_dep"),
                DepKind::Configured => write!(f, "configured_dep"),
                DepKind::Plugin => write!(f, "plugin_dep"),
            },
            AttrType::Label => write!(f, "label"),
            AttrType::Arg => write!(f, "arg"),
            AttrType::LabelString => write!(f, "label"),
            AttrType::Query => write!(f, "query"),
            AttrType::Versioned(i) => write!(f, "versioned({i})"),
        }
    }
}

pub(crate) fn shift_transitions(ty: &mut AttrType, by: usize) {
    ty.shift_transitions(by);
}

impl AttrType {
    fn shift_transitions(&mut self, by: usize) {
        match self {
            AttrType::Dep(DepAttr { kind: DepKind::Transition(Some(i), _), .. })
            | AttrType::Dep(DepAttr { kind: DepKind::Split(i), .. }) => *i += by,
            AttrType::List(i) | AttrType::Option(i) | AttrType::Versioned(i) => i.shift_transitions(by),
            AttrType::Dict(k, v, _) => {
                k.shift_transitions(by);
                v.shift_transitions(by);
            }
            AttrType::Tuple(xs) | AttrType::OneOf(xs) => xs.iter_mut().for_each(|x| x.shift_transitions(by)),
            _ => {}
        }
    }
}

/// The Rust part of an attribute: type, coerced default, flags.
#[derive(Debug, Clone, Allocative)]
pub struct AttrSpec {
    pub ty: AttrType,
    #[allocative(skip)]
    pub default: Option<CoercedAttr>,
    pub default_only: bool,
    pub doc: String,
}

/// `Attr` value returned by `attrs.*`. Transition objects used by the attribute ride along.
#[derive(Debug, Trace, Freeze, ProvidesStaticType, NoSerialize, Allocative)]
#[repr(C)]
pub struct AttrGen<V: ValueLifetimeless> {
    #[trace(static)]
    #[freeze(identity)]
    pub spec: AttrSpec,
    pub transitions: Vec<V>,
}
starlark_complex_value!(pub Attr);

impl<'v, V: ValueLike<'v>> fmt::Display for AttrGen<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attrs.{}", self.spec.ty)
    }
}

#[starlark_value(type = "Attr")]
impl<'v, V: ValueLike<'v>> StarlarkValue<'v> for AttrGen<V> where Self: ProvidesStaticType<'v> {}

fn unpack_attr<'v>(v: Value<'v>) -> starlark::Result<&'v Attr<'v>> {
    Attr::from_value(v)
        .ok_or_else(|| sl_err(format!("Expected an attribute (attrs.*), got `{}` of type `{}`", v, v.get_type())))
}

/// Combine inner attributes: take their types (inner defaults are ignored) and transitions.
fn inners<'v>(values: &[Value<'v>]) -> starlark::Result<(Vec<AttrType>, Vec<Value<'v>>)> {
    let mut types = Vec::new();
    let mut transitions = Vec::new();
    for v in values {
        let a = unpack_attr(*v)?;
        if a.spec.default_only {
            return sl_bail("`attrs.default_only` cannot be nested inside another attribute");
        }
        let mut ty = a.spec.ty.clone();
        ty.shift_transitions(transitions.len());
        transitions.extend(a.transitions.iter().copied());
        types.push(ty);
    }
    Ok((types, transitions))
}

/// Coerce a default at rule-definition time: labels relative to the `.bzl` cell, no package.
fn make_attr<'v>(
    ty: AttrType,
    default: Option<Value<'v>>,
    doc: &str,
    transitions: Vec<Value<'v>>,
    eval: &Evaluator<'v, '_, '_>,
) -> starlark::Result<Attr<'v>> {
    let default = match default {
        None => None,
        Some(d) => {
            let ctx = BuildContext::get(eval)?;
            let coerce_ctx = CoerceCtx::for_bzl_default(ctx);
            if let AttrType::Option(_) = &ty {
                if !d.is_none() && super::select::Select::from_value(d).is_none() {
                    return sl_bail(format!("attrs.option() default must be None, got `{}`", d.to_repr()));
                }
            }
            Some(
                coerce(&ty, d, &coerce_ctx)
                    .map_err(|e| sl_err(format!("Coercion of attribute default failed: {e}")))?,
            )
        }
    };
    Ok(Attr { spec: AttrSpec { ty, default, default_only: false, doc: doc.to_owned() }, transitions })
}

fn providers_of(providers: Option<UnpackListOrTuple<Value>>) -> starlark::Result<Vec<Arc<ProviderId>>> {
    providers
        .map(|p| p.items)
        .unwrap_or_default()
        .into_iter()
        .map(|p| provider_id_of(p).ok_or_else(|| sl_err(format!("`providers` must be provider types, got `{p}`"))))
        .collect()
}

fn dep_type(kind: DepKind, providers: Option<UnpackListOrTuple<Value>>) -> starlark::Result<AttrType> {
    Ok(AttrType::Dep(DepAttr { kind, providers: providers_of(providers)? }))
}

fn enum_variants(variants: UnpackListOrTuple<String>) -> starlark::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for v in variants.items {
        if v.to_lowercase() != v {
            return sl_bail(format!("enum variants must be lowercase, got `{v}`"));
        }
        if out.contains(&v) {
            return sl_bail(format!("enum variant `{v}` is duplicated"));
        }
        out.push(v);
    }
    Ok(out)
}

#[starlark_module]
fn attrs_module(builder: &mut GlobalsBuilder) {
    fn string<'v>(
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named)] validate: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        let _ = validate;
        make_attr(AttrType::String, default, doc, vec![], eval)
    }

    fn regex<'v>(
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        make_attr(AttrType::String, default, doc, vec![], eval)
    }

    fn bool<'v>(
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        make_attr(AttrType::Bool, default, doc, vec![], eval)
    }

    fn int<'v>(
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        make_attr(AttrType::Int, default, doc, vec![], eval)
    }

    fn r#enum<'v>(
        #[starlark(require = pos)] variants: UnpackListOrTuple<String>,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        if let Some(d) = default {
            if d.unpack_str().is_none() && super::select::Select::from_value(d).is_none() {
                return sl_bail(format!(
                    "Type of parameter `default` doesn't match, expected `str | Select`, actual `{}`",
                    d.get_type()
                ));
            }
        }
        let variants = enum_variants(variants)?;
        make_attr(AttrType::Enum(variants), default, doc, vec![], eval)
    }

    fn list<'v>(
        #[starlark(require = pos)] inner: Value<'v>,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        let (mut t, tr) = inners(&[inner])?;
        make_attr(AttrType::List(Box::new(t.remove(0))), default, doc, tr, eval)
    }

    fn set<'v>(
        #[starlark(require = pos)] value_type: Value<'v>,
        #[starlark(require = named, default = false)] sorted: bool,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        let _ = sorted;
        let (mut t, tr) = inners(&[value_type])?;
        make_attr(AttrType::List(Box::new(t.remove(0))), default, doc, tr, eval)
    }

    fn tuple<'v>(
        #[starlark(args)] inner: UnpackTuple<Value<'v>>,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        let (t, tr) = inners(&inner.items)?;
        make_attr(AttrType::Tuple(t), default, doc, tr, eval)
    }

    fn dict<'v>(
        key: Value<'v>,
        value: Value<'v>,
        #[starlark(require = named, default = false)] sorted: bool,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        let (mut t, tr) = inners(&[key, value])?;
        let v = t.remove(1);
        let k = t.remove(0);
        make_attr(AttrType::Dict(Box::new(k), Box::new(v), sorted), default, doc, tr, eval)
    }

    fn option<'v>(
        #[starlark(require = pos)] inner: Value<'v>,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        let (mut t, tr) = inners(&[inner])?;
        make_attr(AttrType::Option(Box::new(t.remove(0))), default, doc, tr, eval)
    }

    fn one_of<'v>(
        #[starlark(args)] inner: UnpackTuple<Value<'v>>,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        let (t, tr) = inners(&inner.items)?;
        make_attr(AttrType::OneOf(t), default, doc, tr, eval)
    }

    fn any<'v>(
        #[starlark(require = named, default = "")] doc: &str,
        #[starlark(require = named)] default: Option<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        make_attr(AttrType::Any, default, doc, vec![], eval)
    }

    fn source<'v>(
        #[starlark(require = named, default = false)] allow_directory: bool,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        make_attr(AttrType::Source { allow_directory }, default, doc, vec![], eval)
    }

    fn dep<'v>(
        #[starlark(require = named)] providers: Option<UnpackListOrTuple<Value<'v>>>,
        #[starlark(require = named)] pulls_plugins: Option<UnpackListOrTuple<Value<'v>>>,
        #[starlark(require = named)] pulls_and_pushes_plugins: Option<Value<'v>>,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        let _ = (pulls_plugins, pulls_and_pushes_plugins);
        make_attr(dep_type(DepKind::Plain, providers)?, default, doc, vec![], eval)
    }

    fn exec_dep<'v>(
        #[starlark(require = named)] providers: Option<UnpackListOrTuple<Value<'v>>>,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        make_attr(dep_type(DepKind::Exec, providers)?, default, doc, vec![], eval)
    }

    fn toolchain_dep<'v>(
        #[starlark(require = named)] providers: Option<UnpackListOrTuple<Value<'v>>>,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        make_attr(dep_type(DepKind::Toolchain, providers)?, default, doc, vec![], eval)
    }

    fn transition_dep<'v>(
        #[starlark(require = named)] providers: Option<UnpackListOrTuple<Value<'v>>>,
        #[starlark(require = named)] cfg: Option<Value<'v>>,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        let (kind, transitions) = match cfg {
            None => (DepKind::Transition(None, None), vec![]),
            Some(v) => match (Transition::from_value(v), v.unpack_str()) {
                (Some(t), _) => {
                    if t.split {
                        return sl_bail("split transition objects can only be used with attrs.split_transition_dep");
                    }
                    (DepKind::Transition(Some(0), None), vec![v])
                }
                (None, Some(label)) => (DepKind::Transition(None, Some(label.to_owned())), vec![]),
                (None, None) => {
                    return sl_bail(format!(
                        "Type of parameter `cfg` doesn't match, expected `Transition | str`, actual `{}`",
                        v.get_type()
                    ))
                }
            },
        };
        make_attr(dep_type(kind, providers)?, default, doc, transitions, eval)
    }

    fn split_transition_dep<'v>(
        #[starlark(require = named)] providers: Option<UnpackListOrTuple<Value<'v>>>,
        #[starlark(require = named)] cfg: Value<'v>,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        let t = Transition::from_value(cfg).ok_or_else(|| {
            sl_err(format!("split_transition_dep: `cfg` must be a transition object, got `{}`", cfg.get_type()))
        })?;
        if !t.split {
            return sl_bail("split_transition_dep requires a transition created with `split = True`");
        }
        make_attr(dep_type(DepKind::Split(0), providers)?, default, doc, vec![cfg], eval)
    }

    fn configured_dep<'v>(
        #[starlark(require = named)] providers: Option<UnpackListOrTuple<Value<'v>>>,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        make_attr(dep_type(DepKind::Configured, providers)?, default, doc, vec![], eval)
    }

    fn plugin_dep<'v>(
        #[starlark(require = named)] kind: Value<'v>,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        let _ = kind;
        make_attr(AttrType::Dep(DepAttr { kind: DepKind::Plugin, providers: vec![] }), default, doc, vec![], eval)
    }

    fn label<'v>(
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        make_attr(AttrType::Label, default, doc, vec![], eval)
    }

    fn configuration_label<'v>(
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        make_attr(AttrType::Dep(DepAttr { kind: DepKind::Plain, providers: vec![] }), None, doc, vec![], eval)
    }

    fn arg<'v>(
        #[starlark(require = named, default = false)] json: bool,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
        #[starlark(require = named, default = false)] anon_target_compatible: bool,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        let _ = (json, anon_target_compatible);
        make_attr(AttrType::Arg, default, doc, vec![], eval)
    }

    fn query<'v>(
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        make_attr(AttrType::Query, None, doc, vec![], eval)
    }

    fn versioned<'v>(
        #[starlark(require = pos)] value_type: Value<'v>,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Attr<'v>> {
        let (mut t, tr) = inners(&[value_type])?;
        make_attr(AttrType::Versioned(Box::new(t.remove(0))), None, doc, tr, eval)
    }

    fn default_only<'v>(
        #[starlark(require = pos)] inner: Value<'v>,
        #[starlark(require = named, default = "")] doc: &str,
    ) -> starlark::Result<Attr<'v>> {
        let a = unpack_attr(inner)?;
        if a.spec.default_only {
            return sl_bail("`attrs.default_only` cannot be nested");
        }
        if a.spec.default.is_none() {
            return sl_bail("`attrs.default_only` requires the inner attribute to have a default");
        }
        let mut spec = a.spec.clone();
        spec.default_only = true;
        if !doc.is_empty() {
            spec.doc = doc.to_owned();
        }
        Ok(Attr { spec, transitions: a.transitions.clone() })
    }
}

pub(crate) fn register_attrs(builder: &mut GlobalsBuilder) {
    builder.namespace("attrs", attrs_module);
}

coerce_gen!(AttrGen);
