//! Attribute coercion (BUCK values → `CoercedAttr`, `…/attrs/coerce/attr_type/*.rs`) and select
//! resolution for a configuration.

use std::path::Path;

use starlark::values::dict::DictRef;
use starlark::values::list::ListRef;
use starlark::values::tuple::TupleRef;
use starlark::values::Value;

use super::attrs::{AttrType, DepKind};
use super::configuration::ConfigurationData;
use super::labels::{parse_providers_label, CellResolver, LabelContext, ProvidersLabel};
use super::loader::BuildContext;
use super::select::{Select, SelectGen};

/// An attribute value after coercion (unconfigured: may still contain selects).
#[derive(Debug, Clone, PartialEq)]
pub enum CoercedAttr {
    None,
    Bool(bool),
    Int(i64),
    String(String),
    List(Vec<CoercedAttr>),
    Tuple(Vec<CoercedAttr>),
    Dict(Vec<(CoercedAttr, CoercedAttr)>),
    OneOf(usize, Box<CoercedAttr>),
    /// A package file: project-relative path and package-relative short path.
    SourceFile {
        path: String,
        short_path: String,
        is_dir: bool,
    },
    Label(ProvidersLabel),
    /// `(dep, transition target)` or `(dep, platform)`.
    LabelPair(ProvidersLabel, ProvidersLabel),
    Arg(Vec<ArgPart>),
    /// `None` key = `"DEFAULT"`.
    Select(Vec<(Option<ProvidersLabel>, CoercedAttr)>),
    Concat(Vec<CoercedAttr>),
}

/// A piece of an `attrs.arg()` string.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgPart {
    Lit(String),
    Location(ProvidersLabel),
    LocationExec(ProvidersLabel),
    Exe(ProvidersLabel),
    ExeTarget(ProvidersLabel),
    Source { path: String, short_path: String },
}

/// Where coercion happens.
pub struct CoerceCtx<'a> {
    pub cells: &'a CellResolver,
    pub cell: &'a str,
    /// `None` for `.bzl` defaults.
    pub package: Option<&'a str>,
    pub project_root: &'a Path,
    /// Project-relative directory of the package.
    pub package_dir: Option<String>,
}

impl<'a> CoerceCtx<'a> {
    pub fn for_bzl_default(ctx: &'a BuildContext<'a>) -> Self {
        CoerceCtx {
            cells: &ctx.project.cells,
            cell: &ctx.cell,
            package: None,
            project_root: &ctx.project.root,
            package_dir: None,
        }
    }
    fn labels(&self) -> LabelContext<'_> {
        LabelContext { cells: self.cells, cell: self.cell, package: self.package }
    }
    fn label(&self, s: &str) -> Result<ProvidersLabel, String> {
        parse_providers_label(s, &self.labels())
    }
}

fn type_error(expected: &str, v: Value) -> String {
    format!("Expected value of type `{expected}`, got value with type `{}` (value was `{}`)", v.get_type(), v.to_repr())
}

fn list_items(v: Value) -> Option<Vec<Value>> {
    ListRef::from_value(v)
        .map(|l| l.content().to_vec())
        .or_else(|| TupleRef::from_value(v).map(|t| t.content().to_vec()))
}

/// Coerce a BUCK (or default) value against an attribute type.
pub fn coerce(ty: &AttrType, v: Value, ctx: &CoerceCtx) -> Result<CoercedAttr, String> {
    if let Some(sel) = Select::from_value(v) {
        return match sel {
            SelectGen::Dict(entries) => {
                let mut out = Vec::new();
                for (k, value) in entries {
                    let key = if k == "DEFAULT" { None } else { Some(ctx.label(k)?) };
                    out.push((key, coerce(ty, *value, ctx)?));
                }
                Ok(CoercedAttr::Select(out))
            }
            SelectGen::Concat(items) => {
                Ok(CoercedAttr::Concat(items.iter().map(|x| coerce(ty, *x, ctx)).collect::<Result<_, _>>()?))
            }
        };
    }
    match ty {
        AttrType::Any => coerce_any(v),
        AttrType::String => {
            v.unpack_str().map(|s| CoercedAttr::String(s.to_owned())).ok_or_else(|| type_error("string", v))
        }
        AttrType::Bool => v.unpack_bool().map(CoercedAttr::Bool).ok_or_else(|| type_error("bool", v)),
        AttrType::Int => v.unpack_i32().map(|i| CoercedAttr::Int(i as i64)).ok_or_else(|| type_error("int", v)),
        AttrType::Enum(variants) => {
            let s = v.unpack_str().ok_or_else(|| type_error("string", v))?.to_lowercase();
            if variants.contains(&s) {
                Ok(CoercedAttr::String(s))
            } else {
                Err(format!(
                    "Invalid enum value `{}`, expected one of: {}",
                    v.unpack_str().unwrap_or_default(),
                    variants.join(", ")
                ))
            }
        }
        AttrType::List(inner) | AttrType::Versioned(inner) => {
            let items = list_items(v).ok_or_else(|| type_error("list", v))?;
            Ok(CoercedAttr::List(items.into_iter().map(|x| coerce(inner, x, ctx)).collect::<Result<_, _>>()?))
        }
        AttrType::Tuple(types) => {
            let items = list_items(v).ok_or_else(|| type_error("tuple", v))?;
            if items.len() > types.len() {
                return Err(format!("Expected a tuple of at most {} elements, got {}", types.len(), items.len()));
            }
            let mut out = Vec::new();
            for (i, t) in types.iter().enumerate() {
                out.push(match items.get(i) {
                    Some(x) => coerce(t, *x, ctx)?,
                    None => CoercedAttr::None,
                });
            }
            Ok(CoercedAttr::Tuple(out))
        }
        AttrType::Dict(kt, vt, _) => {
            let d = DictRef::from_value(v).ok_or_else(|| type_error("dict", v))?;
            let mut out = Vec::new();
            for (k, x) in d.iter() {
                out.push((coerce(kt, k, ctx)?, coerce(vt, x, ctx)?));
            }
            Ok(CoercedAttr::Dict(out))
        }
        AttrType::Option(inner) => {
            if v.is_none() {
                Ok(CoercedAttr::None)
            } else {
                coerce(inner, v, ctx)
            }
        }
        AttrType::OneOf(alts) => {
            let mut errors = Vec::new();
            for (i, t) in alts.iter().enumerate() {
                match coerce(t, v, ctx) {
                    Ok(c) => return Ok(CoercedAttr::OneOf(i, Box::new(c))),
                    Err(e) => errors.push(e),
                }
            }
            Err(format!("Value `{}` matches none of the one_of alternatives: {}", v.to_repr(), errors.join("; ")))
        }
        AttrType::Source { allow_directory } => {
            let s = v.unpack_str().ok_or_else(|| type_error("source", v))?;
            if s.contains(':') || s.contains("//") {
                return Ok(CoercedAttr::Label(ctx.label(s)?));
            }
            coerce_source_path(s, *allow_directory, ctx)
        }
        AttrType::Dep(d) => {
            let pair = matches!(d.kind, DepKind::Configured | DepKind::Transition(None, None));
            if pair {
                let items = list_items(v).ok_or_else(|| type_error("tuple", v))?;
                let [a, b] = items.as_slice() else { return Err(type_error("(label, label)", v)) };
                let a = a.unpack_str().ok_or_else(|| type_error("string", *a))?;
                let b = b.unpack_str().ok_or_else(|| type_error("string", *b))?;
                return Ok(CoercedAttr::LabelPair(ctx.label(a)?, ctx.label(b)?));
            }
            let s = v.unpack_str().ok_or_else(|| type_error("dependency", v))?;
            Ok(CoercedAttr::Label(ctx.label(s)?))
        }
        AttrType::Label => {
            let s = v.unpack_str().ok_or_else(|| type_error("label", v))?;
            Ok(CoercedAttr::Label(ctx.label(s)?))
        }
        AttrType::LabelString => {
            let s = v.unpack_str().ok_or_else(|| type_error("label", v))?;
            Ok(CoercedAttr::String(ctx.label(s)?.to_string()))
        }
        AttrType::Arg => {
            let s = v.unpack_str().ok_or_else(|| type_error("string", v))?;
            Ok(CoercedAttr::Arg(parse_macros(s, ctx)?))
        }
        AttrType::Query => Err("attrs.query() is not supported by the Buck2 model".to_owned()),
    }
}

fn coerce_any(v: Value) -> Result<CoercedAttr, String> {
    if v.is_none() {
        return Ok(CoercedAttr::None);
    }
    if let Some(b) = v.unpack_bool() {
        return Ok(CoercedAttr::Bool(b));
    }
    if let Some(i) = v.unpack_i32() {
        return Ok(CoercedAttr::Int(i as i64));
    }
    if let Some(s) = v.unpack_str() {
        return Ok(CoercedAttr::String(s.to_owned()));
    }
    if let Some(l) = ListRef::from_value(v) {
        return Ok(CoercedAttr::List(l.content().iter().map(|x| coerce_any(*x)).collect::<Result<_, _>>()?));
    }
    if let Some(t) = TupleRef::from_value(v) {
        return Ok(CoercedAttr::Tuple(t.content().iter().map(|x| coerce_any(*x)).collect::<Result<_, _>>()?));
    }
    if let Some(d) = DictRef::from_value(v) {
        let mut out = Vec::new();
        for (k, x) in d.iter() {
            out.push((coerce_any(k)?, coerce_any(x)?));
        }
        return Ok(CoercedAttr::Dict(out));
    }
    Err(type_error("any (None, bool, int, str, list, tuple, dict)", v))
}

fn coerce_source_path(s: &str, allow_directory: bool, ctx: &CoerceCtx) -> Result<CoercedAttr, String> {
    let (Some(package), Some(dir)) = (ctx.package, ctx.package_dir.as_ref()) else {
        return Err(format!("Source path `{s}` can only be specified in a build file (defaults must be labels)"));
    };
    if s.is_empty() || s.starts_with('/') || s.split('/').any(|c| c == ".." || c == "." || c.is_empty()) {
        return Err(format!("Source path `{s}` must be a normalized path relative to the package"));
    }
    let path = if dir.is_empty() { s.to_owned() } else { format!("{dir}/{s}") };
    let abs = ctx.project_root.join(&path);
    let missing = || format!("Source file `{s}` does not exist as a member of package `{}//{package}`", ctx.cell);
    let meta = std::fs::metadata(&abs).map_err(|_| missing())?;
    if meta.is_dir() && !allow_directory {
        return Err(format!(
            "Source `{s}` in package `{}//{package}` is a directory; use `attrs.source(allow_directory = True)`",
            ctx.cell
        ));
    }
    Ok(CoercedAttr::SourceFile { path, short_path: s.to_owned(), is_dir: meta.is_dir() })
}

/// Split `$(macro args)` out of an `attrs.arg()` string.
fn parse_macros(s: &str, ctx: &CoerceCtx) -> Result<Vec<ArgPart>, String> {
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("$(") {
        if start > 0 {
            parts.push(ArgPart::Lit(rest[..start].to_owned()));
        }
        let body_start = start + 2;
        let mut depth = 1;
        let mut end = None;
        for (i, c) in rest[body_start..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(body_start + i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let end = end.ok_or_else(|| format!("Unterminated macro in `{s}`"))?;
        let body = &rest[body_start..end];
        let mut words = body.split_whitespace();
        let name = words.next().unwrap_or("");
        let args: Vec<&str> = words.collect();
        let one = |what: &str| -> Result<&str, String> {
            match args.as_slice() {
                [a] => Ok(*a),
                _ => Err(format!("Macro `$({what} ...)` expects exactly one argument in `{s}`")),
            }
        };
        let part = match name {
            "location" | "location_toolchain" => ArgPart::Location(ctx.label(one(name)?)?),
            "location_exec" => ArgPart::LocationExec(ctx.label(one(name)?)?),
            "exe" => ArgPart::Exe(ctx.label(one(name)?)?),
            "exe_target" => ArgPart::ExeTarget(ctx.label(one(name)?)?),
            "source" => match coerce_source_path(one(name)?, false, ctx)? {
                CoercedAttr::SourceFile { path, short_path, .. } => ArgPart::Source { path, short_path },
                _ => unreachable!("coerce_source_path returns SourceFile"),
            },
            other => {
                return Err(format!(
                    "Macro `$({other} ...)` is not supported by the Buck2 model (supported: location, location_exec, location_toolchain, exe, exe_target, source)"
                ))
            }
        };
        parts.push(part);
        rest = &rest[end + 1..];
    }
    if !rest.is_empty() {
        parts.push(ArgPart::Lit(rest.to_owned()));
    }
    Ok(parts)
}

/// A select key's resolved `ConfigurationInfo`, or `None` if the key does not match.
pub type KeyMatcher<'a> = dyn FnMut(&ProvidersLabel) -> Result<Option<ConfigurationData>, String> + 'a;

/// Resolve every select in `a` (Buck2: unique match, else the most refined match, else all equal).
pub fn resolve_selects(a: &CoercedAttr, m: &mut KeyMatcher, cfg_name: &str) -> Result<CoercedAttr, String> {
    Ok(match a {
        CoercedAttr::Select(entries) => {
            let mut matched: Vec<(&ProvidersLabel, ConfigurationData, &CoercedAttr)> = Vec::new();
            let mut default = None;
            for (k, v) in entries {
                match k {
                    None => default = Some(v),
                    Some(label) => {
                        if let Some(data) = m(label)? {
                            matched.push((label, data, v));
                        }
                    }
                }
            }
            let chosen = match matched.len() {
                0 => default.ok_or_else(|| {
                    format!(
                        "None of {} conditions matched configuration `{cfg_name}` and no default was set:\n{}",
                        entries.len(),
                        entries
                            .iter()
                            .filter_map(|(k, _)| k.as_ref().map(|k| format!("  {k}")))
                            .collect::<Vec<_>>()
                            .join("\n")
                    )
                })?,
                1 => matched[0].2,
                _ => {
                    let refines = |a: &ConfigurationData, b: &ConfigurationData| {
                        b.constraints.iter().all(|(k, v)| a.constraints.get(k) == Some(v))
                            && b.values.iter().all(|(k, v)| a.values.get(k) == Some(v))
                    };
                    let best: Vec<_> =
                        matched.iter().filter(|(_, d, _)| matched.iter().all(|(_, o, _)| refines(d, o))).collect();
                    if best.len() == 1 {
                        best[0].2
                    } else if matched.iter().all(|(_, _, v)| *v == matched[0].2) {
                        matched[0].2
                    } else {
                        return Err(format!(
                            "Both select keys `{}` and `{}` match the configuration `{cfg_name}`, but neither is more specific",
                            matched[0].0, matched[1].0
                        ));
                    }
                }
            };
            resolve_selects(chosen, m, cfg_name)?
        }
        CoercedAttr::Concat(items) => {
            let resolved = items.iter().map(|x| resolve_selects(x, m, cfg_name)).collect::<Result<Vec<_>, _>>()?;
            concat(resolved)?
        }
        CoercedAttr::List(xs) => {
            CoercedAttr::List(xs.iter().map(|x| resolve_selects(x, m, cfg_name)).collect::<Result<_, _>>()?)
        }
        CoercedAttr::Tuple(xs) => {
            CoercedAttr::Tuple(xs.iter().map(|x| resolve_selects(x, m, cfg_name)).collect::<Result<_, _>>()?)
        }
        CoercedAttr::Dict(xs) => CoercedAttr::Dict(
            xs.iter()
                .map(|(k, v)| Ok((resolve_selects(k, m, cfg_name)?, resolve_selects(v, m, cfg_name)?)))
                .collect::<Result<_, String>>()?,
        ),
        CoercedAttr::OneOf(i, x) => CoercedAttr::OneOf(*i, Box::new(resolve_selects(x, m, cfg_name)?)),
        other => other.clone(),
    })
}

fn concat(items: Vec<CoercedAttr>) -> Result<CoercedAttr, String> {
    let mut iter = items.into_iter();
    let Some(mut acc) = iter.next() else { return Ok(CoercedAttr::None) };
    for x in iter {
        acc = match (acc, x) {
            (CoercedAttr::List(mut a), CoercedAttr::List(b)) => {
                a.extend(b);
                CoercedAttr::List(a)
            }
            (CoercedAttr::String(a), CoercedAttr::String(b)) => CoercedAttr::String(a + &b),
            (CoercedAttr::Dict(mut a), CoercedAttr::Dict(b)) => {
                for (k, v) in b {
                    if a.iter().any(|(ak, _)| *ak == k) {
                        return Err(format!("select concatenation: duplicate dict key {k:?}"));
                    }
                    a.push((k, v));
                }
                CoercedAttr::Dict(a)
            }
            (a, b) => return Err(format!("cannot concatenate {a:?} and {b:?} in a select expression")),
        };
    }
    Ok(acc)
}

/// A dependency edge: label, kind, and the pair partner (transition target or platform) if any.
pub type Edge = (ProvidersLabel, DepKind, Option<ProvidersLabel>);

/// Every dependency edge a (select-free) value creates.
pub fn collect_deps(ty: &AttrType, a: &CoercedAttr, out: &mut Vec<Edge>) {
    match (ty, a) {
        (_, CoercedAttr::None) => {}
        (AttrType::Dep(d), CoercedAttr::Label(l)) => out.push((l.clone(), d.kind.clone(), None)),
        (AttrType::Dep(d), CoercedAttr::LabelPair(l, other)) => {
            out.push((l.clone(), d.kind.clone(), Some(other.clone())))
        }
        (AttrType::Source { .. }, CoercedAttr::Label(l)) => out.push((l.clone(), DepKind::Plain, None)),
        (AttrType::Arg, CoercedAttr::Arg(parts)) => {
            for p in parts {
                match p {
                    ArgPart::Location(l) | ArgPart::ExeTarget(l) => out.push((l.clone(), DepKind::Plain, None)),
                    ArgPart::LocationExec(l) | ArgPart::Exe(l) => out.push((l.clone(), DepKind::Exec, None)),
                    _ => {}
                }
            }
        }
        (AttrType::List(t) | AttrType::Versioned(t), CoercedAttr::List(xs)) => {
            xs.iter().for_each(|x| collect_deps(t, x, out))
        }
        (AttrType::Tuple(ts), CoercedAttr::Tuple(xs)) => ts.iter().zip(xs).for_each(|(t, x)| collect_deps(t, x, out)),
        (AttrType::Dict(kt, vt, _), CoercedAttr::Dict(xs)) => xs.iter().for_each(|(k, v)| {
            collect_deps(kt, k, out);
            collect_deps(vt, v, out);
        }),
        (AttrType::Option(t), x) => collect_deps(t, x, out),
        (AttrType::OneOf(ts), CoercedAttr::OneOf(i, x)) => collect_deps(&ts[*i], x, out),
        _ => {}
    }
}
