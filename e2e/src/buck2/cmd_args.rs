//! `cmd_args` and the ArgLike protocol: validation, rendering to argv strings, and the
//! inputs/outputs an argument carries (`app/buck2_build_api/src/interpreter/rule_defs/cmd_args/*.rs`).

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use allocative::Allocative;
use starlark::environment::{GlobalsBuilder, Methods, MethodsBuilder};
use starlark::starlark_complex_value;
use starlark::starlark_module;
use starlark::starlark_simple_value;
use starlark::values::list::{AllocList, ListRef};
use starlark::values::tuple::TupleRef;
use starlark::values::{
    starlark_value, Freeze, FreezeResult, Freezer, FrozenValue, Heap, NoSerialize, ProvidesStaticType, StarlarkValue,
    Trace, Tracer, Value, ValueLike,
};

use super::artifacts::{Artifact, ArtifactData, OutputArtifact};
use super::builtin_providers::builtin_id;
use super::error::{sl_bail, sl_err};
use super::labels::{CellPath, StarlarkConfiguredTargetLabel, StarlarkLabel, StarlarkTargetLabel};
use super::providers::ProviderInstance;

/// Formatting options of one `cmd_args` (constructor kwargs).
#[derive(Debug, Clone, Default, Allocative)]
pub struct CmdArgsOptions {
    pub delimiter: Option<String>,
    pub format: Option<String>,
    pub prepend: Option<String>,
    pub quote_shell: bool,
    pub ignore_artifacts: bool,
    pub absolute_prefix: Option<String>,
    pub absolute_suffix: Option<String>,
    pub parent: u32,
    /// Project-relative directory and extra parent count.
    pub relative_to: Option<(String, u32)>,
    pub replace_regex: Vec<(String, String)>,
}

#[derive(Debug, Clone, Allocative)]
pub struct CmdArgsData<V> {
    pub items: Vec<V>,
    pub hidden: Vec<V>,
    pub options: CmdArgsOptions,
}

/// Mutable `cmd_args` (analysis-time).
#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative)]
pub struct CmdArgs<'v> {
    #[allocative(skip)]
    inner: RefCell<CmdArgsData<Value<'v>>>,
}

/// Frozen `cmd_args` (e.g. inside `RunInfo`): immutable.
#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative)]
pub struct FrozenCmdArgs {
    #[allocative(skip)]
    data: CmdArgsData<FrozenValue>,
}

unsafe impl<'v> Trace<'v> for CmdArgs<'v> {
    fn trace(&mut self, tracer: &Tracer<'v>) {
        let d = self.inner.get_mut();
        d.items.trace(tracer);
        d.hidden.trace(tracer);
    }
}

impl<'v> Freeze for CmdArgs<'v> {
    type Frozen = FrozenCmdArgs;
    fn freeze(self, freezer: &Freezer) -> FreezeResult<FrozenCmdArgs> {
        let d = self.inner.into_inner();
        Ok(FrozenCmdArgs {
            data: CmdArgsData {
                items: d.items.freeze(freezer)?,
                hidden: d.hidden.freeze(freezer)?,
                options: d.options,
            },
        })
    }
}

impl<'v> starlark::values::AllocValue<'v> for CmdArgs<'v> {
    fn alloc_value(self, heap: Heap<'v>) -> Value<'v> {
        heap.alloc_complex(self)
    }
}

impl<'v> CmdArgs<'v> {
    pub fn new(data: CmdArgsData<Value<'v>>) -> Self {
        CmdArgs { inner: RefCell::new(data) }
    }
}

/// A snapshot of any `cmd_args` value (mutable or frozen).
pub fn cmd_args_data<'v>(v: Value<'v>) -> Option<CmdArgsData<Value<'v>>> {
    if let Some(c) = v.downcast_ref::<CmdArgs<'v>>() {
        return Some(c.inner.borrow().clone());
    }
    v.downcast_ref::<FrozenCmdArgs>().map(|c| CmdArgsData {
        items: c.data.items.iter().map(|x| x.to_value()).collect(),
        hidden: c.data.hidden.iter().map(|x| x.to_value()).collect(),
        options: c.data.options.clone(),
    })
}

fn display_cmd_args(d: &CmdArgsData<Value>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "cmd_args(")?;
    for (i, item) in d.items.iter().enumerate() {
        if i > 0 {
            write!(f, ", ")?;
        }
        write!(f, "{}", item.to_repr())?;
    }
    write!(f, ")")
}

impl fmt::Display for CmdArgs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display_cmd_args(&self.inner.borrow(), f)
    }
}
impl fmt::Display for FrozenCmdArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = CmdArgsData {
            items: self.data.items.iter().map(|x| x.to_value()).collect(),
            hidden: vec![],
            options: CmdArgsOptions::default(),
        };
        display_cmd_args(&d, f)
    }
}

#[starlark_value(type = "cmd_args")]
impl<'v> StarlarkValue<'v> for CmdArgs<'v> {
    fn get_methods() -> Option<&'static Methods> {
        Some(CMD_ARGS_METHODS.methods())
    }
}

#[starlark_value(type = "cmd_args")]
impl<'v> StarlarkValue<'v> for FrozenCmdArgs {
    type Canonical = CmdArgs<'v>;
    fn get_methods() -> Option<&'static Methods> {
        Some(CMD_ARGS_METHODS.methods())
    }
}
starlark::methods_static!(CMD_ARGS_METHODS = cmd_args_methods);

/// `attrs.arg()` value: a command line fragment with `$(…)` macros already resolved.
#[derive(Debug, Trace, ProvidesStaticType, NoSerialize, Allocative, Freeze)]
#[repr(C)]
pub struct ResolvedStringWithMacrosGen<V: starlark::values::ValueLifetimeless> {
    pub inner: V,
}
starlark_complex_value!(pub ResolvedStringWithMacros);

impl<'v, V: ValueLike<'v>> fmt::Display for ResolvedStringWithMacrosGen<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner.to_value())
    }
}

#[starlark_value(type = "ResolvedStringWithMacros")]
impl<'v, V: ValueLike<'v>> StarlarkValue<'v> for ResolvedStringWithMacrosGen<V> where Self: ProvidesStaticType<'v> {}

/// `write_json(..., with_inputs=True)` result: renders as the JSON file, carries its artifacts.
#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative)]
pub struct WriteJsonCliArgs {
    pub json: Artifact,
    pub inputs: Vec<Artifact>,
}
starlark_simple_value!(WriteJsonCliArgs);

impl fmt::Display for WriteJsonCliArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WriteJsonCliArgs({})", self.json)
    }
}

#[starlark_value(type = "WriteJsonCliArgs")]
impl<'v> StarlarkValue<'v> for WriteJsonCliArgs {}

fn is_run_info(v: Value) -> Option<Value> {
    let p = ProviderInstance::from_value(v)?;
    if p.id.same(&builtin_id("RunInfo")) {
        p.field("args")
    } else {
        None
    }
}

/// Is `v` usable on a command line? Lists nest; tuples and ints are rejected (as in Buck2).
pub fn check_arg_like(v: Value) -> starlark::Result<()> {
    if v.unpack_str().is_some()
        || v.downcast_ref::<Artifact>().is_some()
        || v.downcast_ref::<OutputArtifact>().is_some()
        || cmd_args_data(v).is_some()
        || is_run_info(v).is_some()
        || v.downcast_ref::<StarlarkLabel>().is_some()
        || v.downcast_ref::<StarlarkTargetLabel>().is_some()
        || v.downcast_ref::<StarlarkConfiguredTargetLabel>().is_some()
        || v.downcast_ref::<CellPath>().is_some()
        || ResolvedStringWithMacros::from_value(v).is_some()
        || v.downcast_ref::<WriteJsonCliArgs>().is_some()
    {
        return Ok(());
    }
    if let Some(list) = ListRef::from_value(v) {
        return list.content().iter().try_for_each(|x| check_arg_like(*x));
    }
    sl_bail(format!(
        "Expected command line item to be a str, Artifact, cmd_args, RunInfo, Label or list of these; got `{}` of type `{}`",
        v.to_repr(),
        v.get_type()
    ))
}

/// What a command line depends on and produces.
#[derive(Debug, Default)]
pub struct Visited {
    pub inputs: Vec<Arc<ArtifactData>>,
    pub outputs: Vec<Arc<ArtifactData>>,
    /// Contains `attrs.arg()` values (needs `allow_args=True` in `write`).
    pub has_macros: bool,
}

impl Visited {
    fn add_input(&mut self, a: &Arc<ArtifactData>) {
        if !self.inputs.iter().any(|x| Arc::ptr_eq(x, a)) {
            self.inputs.push(a.clone());
        }
    }
}

/// Collect inputs/outputs of an ArgLike (including `hidden`).
pub fn visit_arg(v: Value, ignore_artifacts: bool, out: &mut Visited) {
    if let Some(a) = v.downcast_ref::<Artifact>() {
        if !ignore_artifacts {
            out.add_input(&a.data);
        }
    } else if let Some(o) = v.downcast_ref::<OutputArtifact>() {
        if !out.outputs.iter().any(|x| Arc::ptr_eq(x, &o.data)) {
            out.outputs.push(o.data.clone());
        }
    } else if let Some(d) = cmd_args_data(v) {
        let ignore = ignore_artifacts || d.options.ignore_artifacts;
        for x in d.items.iter().chain(d.hidden.iter()) {
            visit_arg(*x, ignore, out);
        }
    } else if let Some(args) = is_run_info(v) {
        visit_arg(args, ignore_artifacts, out);
    } else if let Some(r) = ResolvedStringWithMacros::from_value(v) {
        out.has_macros = true;
        visit_arg(r.inner.to_value(), ignore_artifacts, out);
    } else if let Some(w) = v.downcast_ref::<WriteJsonCliArgs>() {
        if !ignore_artifacts {
            out.add_input(&w.json.data);
            for i in &w.inputs {
                out.add_input(&i.data);
            }
        }
    } else if let Some(list) = ListRef::from_value(v) {
        for x in list.content() {
            visit_arg(*x, ignore_artifacts, out);
        }
    }
}

/// How artifact paths are printed.
#[derive(Debug, Clone, Default)]
pub struct PathStyle {
    /// Absolute project root (for `buck2 run`, `write(absolute=True)`), else project-relative.
    pub absolute_root: Option<String>,
    parent: u32,
    relative_to: Option<String>,
    absolute_prefix: Option<String>,
    absolute_suffix: Option<String>,
}

impl PathStyle {
    pub fn project_relative() -> Self {
        PathStyle::default()
    }
    pub fn absolute(root: &str) -> Self {
        PathStyle { absolute_root: Some(root.to_owned()), ..Default::default() }
    }
    fn artifact(&self, path: &str) -> String {
        let mut p = path.to_owned();
        for _ in 0..self.parent {
            p = parent_dir(&p);
        }
        let mut p = match &self.relative_to {
            Some(dir) => relativize(&p, dir),
            None => match &self.absolute_root {
                Some(root) => format!("{root}/{p}"),
                None => p,
            },
        };
        if self.absolute_prefix.is_some() || self.absolute_suffix.is_some() {
            p = format!(
                "{}{}{}",
                self.absolute_prefix.as_deref().unwrap_or(""),
                p,
                self.absolute_suffix.as_deref().unwrap_or("")
            );
        }
        p
    }
}

fn parent_dir(p: &str) -> String {
    match p.rfind('/') {
        Some(i) => p[..i].to_owned(),
        None => String::new(),
    }
}

/// Path of `path` relative to directory `dir` (both project-relative).
pub fn relativize(path: &str, dir: &str) -> String {
    let p: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let d: Vec<&str> = dir.split('/').filter(|c| !c.is_empty()).collect();
    let common = p.iter().zip(d.iter()).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = std::iter::repeat_n("..", d.len() - common).collect();
    parts.extend(&p[common..]);
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

/// `shlex::quote` (1.x), which Buck2 uses for `quote = "shell"`.
pub fn shell_quote(s: &str) -> String {
    if s.is_empty() {
        return "\"\"".to_owned();
    }
    let special = |c: char| "|&;<>()$`\\\"' \t\r\n*?[#~=%".contains(c);
    if !s.chars().any(special) {
        return s.to_owned();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        if matches!(c, '$' | '`' | '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Render an ArgLike into argv strings.
pub fn render_arg(v: Value, style: &PathStyle, out: &mut Vec<String>) -> starlark::Result<()> {
    if let Some(s) = v.unpack_str() {
        out.push(s.to_owned());
    } else if let Some(a) = v.downcast_ref::<Artifact>() {
        out.push(style.artifact(&a.path()));
    } else if let Some(o) = v.downcast_ref::<OutputArtifact>() {
        out.push(style.artifact(&o.data.path));
    } else if let Some(d) = cmd_args_data(v) {
        let o = &d.options;
        let mut inner = style.clone();
        if o.parent > 0 {
            inner.parent = o.parent;
        }
        if let Some((dir, parents)) = &o.relative_to {
            let mut dir = dir.clone();
            for _ in 0..*parents {
                dir = parent_dir(&dir);
            }
            inner.relative_to = Some(dir);
        }
        if o.absolute_prefix.is_some() {
            inner.absolute_prefix = o.absolute_prefix.clone();
        }
        if o.absolute_suffix.is_some() {
            inner.absolute_suffix = o.absolute_suffix.clone();
        }
        let mut raw = Vec::new();
        for item in &d.items {
            render_arg(*item, &inner, &mut raw)?;
        }
        let regexes = o
            .replace_regex
            .iter()
            .map(|(p, r)| regex::Regex::new(p).map(|re| (re, r.clone())))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| sl_err(format!("invalid replace_regex pattern: {e}")))?;
        let mut local = Vec::new();
        for mut s in raw {
            for (re, rep) in &regexes {
                s = re.replace_all(&s, rep.as_str()).into_owned();
            }
            if let Some(f) = &o.format {
                s = f.replace("{}", &s);
            }
            if o.quote_shell {
                s = shell_quote(&s);
            }
            if let Some(p) = &o.prepend {
                local.push(p.clone());
            }
            local.push(s);
        }
        match &o.delimiter {
            Some(delim) => out.push(local.join(delim)),
            None => out.extend(local),
        }
    } else if let Some(args) = is_run_info(v) {
        render_arg(args, style, out)?;
    } else if let Some(r) = ResolvedStringWithMacros::from_value(v) {
        render_arg(r.inner.to_value(), style, out)?;
    } else if let Some(w) = v.downcast_ref::<WriteJsonCliArgs>() {
        out.push(style.artifact(&w.json.path()));
    } else if v.downcast_ref::<StarlarkLabel>().is_some()
        || v.downcast_ref::<StarlarkTargetLabel>().is_some()
        || v.downcast_ref::<StarlarkConfiguredTargetLabel>().is_some()
        || v.downcast_ref::<CellPath>().is_some()
    {
        out.push(v.to_str());
    } else if let Some(list) = ListRef::from_value(v) {
        for x in list.content() {
            render_arg(*x, style, out)?;
        }
    } else {
        check_arg_like(v)?;
    }
    Ok(())
}

/// Render to argv with project-relative paths.
pub fn render_to_vec(v: Value, style: &PathStyle) -> starlark::Result<Vec<String>> {
    let mut out = Vec::new();
    render_arg(v, style, &mut out)?;
    Ok(out)
}

fn reject_none(name: &str, expected: &str, v: Option<Value>) -> starlark::Result<()> {
    if v.is_some_and(|v| v.is_none()) {
        return sl_bail(format!("Type of parameter `{name}` doesn't match, expected `{expected}`, actual `NoneType`"));
    }
    Ok(())
}

fn relative_to_of(v: Value, parent: u32) -> starlark::Result<(String, u32)> {
    if let Some(a) = v.downcast_ref::<Artifact>() {
        return Ok((a.path(), parent));
    }
    if let Some(o) = v.downcast_ref::<OutputArtifact>() {
        return Ok((o.data.path.clone(), parent));
    }
    if let Some(t) = TupleRef::from_value(v) {
        if let [dir, n] = t.content() {
            let n = n.unpack_i32().ok_or_else(|| sl_err("relative_to tuple must be (artifact, int)"))?;
            return relative_to_of(*dir, parent + n.max(0) as u32);
        }
    }
    sl_bail(format!(
        "relative_to: expected Artifact | OutputArtifact | (Artifact, int), got `{}` (CellRoot/ProjectRoot are not modelled)",
        v.get_type()
    ))
}

fn replace_regex_of(v: Value) -> starlark::Result<Vec<(String, String)>> {
    let pair = |p: Value| -> starlark::Result<(String, String)> {
        let t = TupleRef::from_value(p)
            .ok_or_else(|| sl_err("replace_regex entries must be (pattern, replacement) tuples"))?;
        match t.content() {
            [a, b] => Ok((
                a.unpack_str()
                    .ok_or_else(|| sl_err("replace_regex pattern must be a str (BuckRegex is not modelled)"))?
                    .to_owned(),
                b.unpack_str().ok_or_else(|| sl_err("replace_regex replacement must be a str"))?.to_owned(),
            )),
            _ => sl_bail("replace_regex entries must be (pattern, replacement) tuples"),
        }
    };
    if let Some(l) = ListRef::from_value(v) {
        l.content().iter().map(|x| pair(*x)).collect()
    } else {
        Ok(vec![pair(v)?])
    }
}

/// Flatten `hidden` (ArgLike | list) into items, validating.
fn hidden_items(v: Value) -> starlark::Result<Vec<Value>> {
    check_arg_like(v)?;
    Ok(vec![v])
}

#[starlark_module]
pub(crate) fn register_cmd_args(builder: &mut GlobalsBuilder) {
    /// `cmd_args(*args, hidden=, delimiter=, format=, prepend=, quote=, ignore_artifacts=False,
    /// absolute_prefix=, absolute_suffix=, parent=0, relative_to=, replace_regex=[])`.
    fn cmd_args<'v>(
        #[starlark(args)] args: starlark::values::tuple::UnpackTuple<Value<'v>>,
        #[starlark(require = named)] hidden: Option<Value<'v>>,
        #[starlark(require = named)] delimiter: Option<&str>,
        #[starlark(require = named)] format: Option<&str>,
        #[starlark(require = named)] prepend: Option<&str>,
        #[starlark(require = named)] quote: Option<&str>,
        #[starlark(require = named, default = false)] ignore_artifacts: bool,
        #[starlark(require = named)] absolute_prefix: Option<&str>,
        #[starlark(require = named)] absolute_suffix: Option<&str>,
        #[starlark(require = named, default = 0)] parent: u32,
        #[starlark(require = named)] relative_to: Option<Value<'v>>,
        #[starlark(require = named)] replace_regex: Option<Value<'v>>,
    ) -> starlark::Result<CmdArgs<'v>> {
        reject_none("hidden", "ArgLike | list", hidden)?;
        reject_none("relative_to", "Artifact | OutputArtifact | CellRoot | ProjectRoot | tuple", relative_to)?;
        reject_none("replace_regex", "(str | BuckRegex, str) | list[(str | BuckRegex, str)]", replace_regex)?;
        for a in &args.items {
            check_arg_like(*a)?;
        }
        let quote_shell = match quote {
            None => false,
            Some("shell") => true,
            Some(other) => return sl_bail(format!("Unknown quoting style `{other}` (only \"shell\" is supported)")),
        };
        let options = CmdArgsOptions {
            delimiter: delimiter.map(str::to_owned),
            format: format.map(str::to_owned),
            prepend: prepend.map(str::to_owned),
            quote_shell,
            ignore_artifacts,
            absolute_prefix: absolute_prefix.map(str::to_owned),
            absolute_suffix: absolute_suffix.map(str::to_owned),
            parent,
            relative_to: relative_to.map(|r| relative_to_of(r, 0)).transpose()?,
            replace_regex: replace_regex.map(replace_regex_of).transpose()?.unwrap_or_default(),
        };
        let hidden = match hidden {
            Some(h) => hidden_items(h)?,
            None => Vec::new(),
        };
        Ok(CmdArgs::new(CmdArgsData { items: args.items, hidden, options }))
    }
}

fn mutable<'v>(this: Value<'v>) -> starlark::Result<&'v CmdArgs<'v>> {
    this.downcast_ref::<CmdArgs<'v>>()
        .ok_or_else(|| sl_err("This cmd_args is frozen (it comes from a provider) and cannot be modified; use .copy()"))
}

#[starlark_module]
fn cmd_args_methods(builder: &mut MethodsBuilder) {
    /// `.add(*args)` (positional only).
    fn add<'v>(
        this: Value<'v>,
        #[starlark(args)] args: starlark::values::tuple::UnpackTuple<Value<'v>>,
    ) -> starlark::Result<Value<'v>> {
        let c = mutable(this)?;
        for a in &args.items {
            check_arg_like(*a)?;
        }
        c.inner.borrow_mut().items.extend(args.items);
        Ok(this)
    }

    /// `.relative_to(dir, /, *, parent=0)`.
    fn relative_to<'v>(
        this: Value<'v>,
        #[starlark(require = pos)] directory: Value<'v>,
        #[starlark(require = named, default = 0)] parent: u32,
    ) -> starlark::Result<Value<'v>> {
        let c = mutable(this)?;
        c.inner.borrow_mut().options.relative_to = Some(relative_to_of(directory, parent)?);
        Ok(this)
    }

    fn copy<'v>(this: Value<'v>) -> starlark::Result<CmdArgs<'v>> {
        let d = cmd_args_data(this).ok_or_else(|| sl_err("not a cmd_args"))?;
        Ok(CmdArgs::new(d))
    }

    #[starlark(attribute)]
    fn inputs<'v>(this: Value<'v>, heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        let mut v = Visited::default();
        visit_arg(this, false, &mut v);
        Ok(heap.alloc(AllocList(v.inputs.into_iter().map(|d| heap.alloc(Artifact::new(d))))))
    }

    #[starlark(attribute)]
    fn outputs<'v>(this: Value<'v>, heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        let mut v = Visited::default();
        visit_arg(this, false, &mut v);
        Ok(heap.alloc(AllocList(v.outputs.into_iter().map(|d| heap.alloc(OutputArtifact { data: d })))))
    }
}

coerce_gen!(ResolvedStringWithMacrosGen);
