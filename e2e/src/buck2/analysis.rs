//! Analysis: configure a target, resolve its attributes into Starlark values, run the rule impl
//! with `ctx` (`attrs`, `label`, `actions`, `plugins`), and apply Buck2's post-impl checks.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use allocative::Allocative;
use starlark::environment::Module;
use starlark::eval::Evaluator;
use starlark::values::dict::AllocDict;
use starlark::values::list::AllocList;
use starlark::values::structs::AllocStruct;
use starlark::values::tuple::AllocTuple;
use starlark::values::{
    starlark_value, Heap, NoSerialize, OwnedFrozenValue, ProvidesStaticType, StarlarkValue, Trace, Value, ValueLike,
};

use super::actions::{ActionRecord, ActionsState, AnalysisActions};
use super::artifacts::{Artifact, ArtifactData};
use super::attrs::{AttrType, DepKind};
use super::builtin_providers::builtin_id;
use super::cmd_args::{CmdArgs, CmdArgsData, CmdArgsOptions, ResolvedStringWithMacros};
use super::coerce::{collect_deps, ArgPart, CoercedAttr, Edge};
use super::configuration::Configuration;
use super::configure::{is_visible_to, rule_of};
use super::error::{sl_bail, sl_err, Buck2Error, Result};
use super::labels::{ProvidersLabel, StarlarkLabel, StarlarkTargetLabel, TargetLabel};
use super::project::Project;
use super::providers::{collection_from_list, sub_target_collection, Dependency, ProviderCollection, ProviderInstance};

/// The frozen result of analysing one configured target.
pub struct AnalysisResult {
    pub label: TargetLabel,
    pub cfg: Arc<Configuration>,
    /// A frozen `ProviderCollection`.
    pub providers: OwnedFrozenValue,
    pub actions: Vec<ActionRecord>,
}

impl fmt::Debug for AnalysisResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AnalysisResult({} ({}), {})", self.label, self.cfg, self.providers.value())
    }
}

/// `ctx`: exactly `attrs`, `label`, `actions`, `plugins`.
#[derive(Debug, Trace, ProvidesStaticType, NoSerialize, Allocative)]
pub struct AnalysisContext<'v> {
    attrs: Value<'v>,
    label: Value<'v>,
    actions: Value<'v>,
    plugins: Value<'v>,
}

impl fmt::Display for AnalysisContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<ctx {}>", self.label)
    }
}

#[starlark_value(type = "AnalysisContext")]
impl<'v> StarlarkValue<'v> for AnalysisContext<'v> {
    fn get_attr(&self, attribute: &str, _heap: Heap<'v>) -> Option<Value<'v>> {
        match attribute {
            "attrs" => Some(self.attrs),
            "label" => Some(self.label),
            "actions" => Some(self.actions),
            "plugins" => Some(self.plugins),
            _ => None,
        }
    }
    fn dir_attr(&self) -> Vec<String> {
        ["actions", "attrs", "label", "plugins"].map(String::from).to_vec()
    }
}

/// `ctx.plugins`: the model has no plugin kinds, so every lookup fails like Buck2's for undeclared kinds.
#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative)]
pub struct AnalysisPlugins;
starlark::starlark_simple_value!(AnalysisPlugins);

impl fmt::Display for AnalysisPlugins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<ctx.plugins>")
    }
}

#[starlark_value(type = "AnalysisPlugins")]
impl<'v> StarlarkValue<'v> for AnalysisPlugins {
    fn at(&self, index: Value<'v>, _heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        sl_bail(format!("The rule did not declare that it uses plugins of kind `{index}`"))
    }
    fn is_in(&self, _other: Value<'v>) -> starlark::Result<bool> {
        Ok(false)
    }
}

/// Use a value of another analysis' frozen heap inside `module`.
pub(crate) fn import_frozen<'v>(module: &Module<'v>, v: &OwnedFrozenValue) -> Value<'v> {
    module.frozen_heap().add_reference(v.owner());
    // SAFETY: the module's frozen heap now references `v`'s heap, keeping it alive as long as
    // any value of the module.
    unsafe { v.unchecked_frozen_value() }.to_value()
}

/// Plain Starlark value of a select-free coerced attribute (transition `attrs=`, `attrs.any`).
pub fn plain_value<'v>(a: &CoercedAttr, heap: Heap<'v>) -> Value<'v> {
    match a {
        CoercedAttr::None => Value::new_none(),
        CoercedAttr::Bool(b) => Value::new_bool(*b),
        CoercedAttr::Int(i) => heap.alloc(*i),
        CoercedAttr::String(s) => heap.alloc(s.as_str()),
        CoercedAttr::List(xs) => heap.alloc(AllocList(xs.iter().map(|x| plain_value(x, heap)))),
        CoercedAttr::Tuple(xs) => heap.alloc(AllocTuple(xs.iter().map(|x| plain_value(x, heap)))),
        CoercedAttr::Dict(xs) => {
            heap.alloc(AllocDict(xs.iter().map(|(k, v)| (plain_value(k, heap), plain_value(v, heap)))))
        }
        CoercedAttr::OneOf(_, x) => plain_value(x, heap),
        CoercedAttr::SourceFile { short_path, .. } => heap.alloc(short_path.as_str()),
        CoercedAttr::Label(l) => heap.alloc(l.to_string()),
        CoercedAttr::LabelPair(a, b) => heap.alloc(AllocTuple([heap.alloc(a.to_string()), heap.alloc(b.to_string())])),
        CoercedAttr::Arg(_) | CoercedAttr::Select(_) | CoercedAttr::Concat(_) => heap.alloc(format!("{a:?}")),
    }
}

type EdgeResults = HashMap<Edge, Vec<(Option<String>, Rc<AnalysisResult>)>>;

struct ValueCx<'v, 'a> {
    heap: Heap<'v>,
    module: &'a Module<'v>,
    cfg: &'a Arc<Configuration>,
    edges: &'a EdgeResults,
    owner: &'a TargetLabel,
}

impl<'v> ValueCx<'v, '_> {
    fn dependency(&self, label: &ProvidersLabel, res: &AnalysisResult) -> starlark::Result<Value<'v>> {
        let mut collection = import_frozen(self.module, &res.providers);
        for sub in label.sub_target.iter().flatten() {
            let c = ProviderCollection::from_value(collection).expect("collection");
            collection = sub_target_collection(c, sub).ok_or_else(|| {
                sl_err(format!("Requested sub target `{sub}` of target `{}` is not available", label.target))
            })?;
        }
        let l = self.heap.alloc(StarlarkLabel { label: label.clone(), cfg: res.cfg.clone() });
        Ok(self.heap.alloc(Dependency { label: l, collection }))
    }

    fn edge(&self, e: &Edge) -> starlark::Result<&Vec<(Option<String>, Rc<AnalysisResult>)>> {
        self.edges.get(e).ok_or_else(|| sl_err(format!("internal: dependency `{}` was not configured", e.0)))
    }

    fn check_providers(&self, dep: Value<'v>, ty: &AttrType) -> starlark::Result<()> {
        let AttrType::Dep(d) = ty else { return Ok(()) };
        let dep = Dependency::from_value(dep).expect("dependency");
        for p in &d.providers {
            if dep.collection().get(p).is_none() {
                return sl_bail(format!(
                    "Attribute requires a dep that provides `{}`, but `{}` does not (it provides: {})",
                    p.name(),
                    dep.label.to_value(),
                    dep.collection().names().join(", ")
                ));
            }
        }
        Ok(())
    }

    fn default_outputs(&self, dep: Value<'v>) -> Vec<Value<'v>> {
        let dep = Dependency::from_value(dep).expect("dependency");
        dep.collection()
            .get(&builtin_id("DefaultInfo"))
            .and_then(|d| ProviderInstance::from_value(d).and_then(|p| p.field("default_outputs")))
            .and_then(starlark::values::list::ListRef::from_value)
            .map(|l| l.content().to_vec())
            .unwrap_or_default()
    }

    fn source_artifacts(&self, a: &CoercedAttr) -> starlark::Result<Vec<Value<'v>>> {
        match a {
            CoercedAttr::SourceFile { path, short_path, is_dir } => Ok(vec![self
                .heap
                .alloc(Artifact::new(ArtifactData::source(path.clone(), short_path.clone(), *is_dir)))]),
            CoercedAttr::Label(l) => {
                let (_, res) = &self.edge(&(l.clone(), DepKind::Plain, None))?[0];
                let dep = self.dependency(l, res)?;
                Ok(self.default_outputs(dep))
            }
            other => sl_bail(format!("internal: bad source value {other:?}")),
        }
    }

    fn value(&self, ty: &AttrType, a: &CoercedAttr) -> starlark::Result<Value<'v>> {
        let heap = self.heap;
        Ok(match (ty, a) {
            (_, CoercedAttr::None) => Value::new_none(),
            (AttrType::Any, x) => plain_value(x, heap),
            (AttrType::List(t) | AttrType::Versioned(t), CoercedAttr::List(xs)) => {
                let mut out = Vec::new();
                for x in xs {
                    if let AttrType::Source { .. } = **t {
                        out.extend(self.source_artifacts(x)?); // labels contribute all their outputs
                    } else {
                        out.push(self.value(t, x)?);
                    }
                }
                heap.alloc(AllocList(out))
            }
            (AttrType::Tuple(ts), CoercedAttr::Tuple(xs)) => heap.alloc(AllocTuple(
                ts.iter().zip(xs).map(|(t, x)| self.value(t, x)).collect::<starlark::Result<Vec<_>>>()?,
            )),
            (AttrType::Dict(kt, vt, sorted), CoercedAttr::Dict(xs)) => {
                let mut entries = xs
                    .iter()
                    .map(|(k, v)| Ok((self.value(kt, k)?, self.value(vt, v)?)))
                    .collect::<starlark::Result<Vec<_>>>()?;
                if *sorted {
                    entries.sort_by_key(|(k, _)| k.to_str());
                }
                heap.alloc(AllocDict(entries))
            }
            (AttrType::Option(t), x) => self.value(t, x)?,
            (AttrType::OneOf(ts), CoercedAttr::OneOf(i, x)) => self.value(&ts[*i], x)?,
            (AttrType::Source { .. }, x) => {
                let arts = self.source_artifacts(x)?;
                match arts.as_slice() {
                    [one] => *one,
                    _ => {
                        return sl_bail(format!(
                            "Expected a single artifact from source attribute value, got {}",
                            arts.len()
                        ))
                    }
                }
            }
            (AttrType::Dep(d), CoercedAttr::Label(l)) if d.kind == DepKind::Plugin => {
                heap.alloc(StarlarkTargetLabel { label: l.target.clone() })
            }
            (AttrType::Dep(d), CoercedAttr::Label(l) | CoercedAttr::LabelPair(l, _)) => {
                let partner = match a {
                    CoercedAttr::LabelPair(_, p) => Some(p.clone()),
                    _ => None,
                };
                let results = self.edge(&(l.clone(), d.kind.clone(), partner))?;
                if let DepKind::Split(_) = d.kind {
                    let mut entries = Vec::new();
                    for (k, res) in results {
                        let dep = self.dependency(l, res)?;
                        self.check_providers(dep, ty)?;
                        entries.push((heap.alloc(k.clone().unwrap_or_default()), dep));
                    }
                    heap.alloc(AllocDict(entries))
                } else {
                    let dep = self.dependency(l, &results[0].1)?;
                    self.check_providers(dep, ty)?;
                    dep
                }
            }
            (AttrType::Label, CoercedAttr::Label(l)) => {
                heap.alloc(StarlarkLabel { label: l.clone(), cfg: self.cfg.clone() })
            }
            (AttrType::String | AttrType::Enum(_) | AttrType::LabelString, CoercedAttr::String(s)) => {
                heap.alloc(s.as_str())
            }
            (AttrType::Bool, CoercedAttr::Bool(b)) => Value::new_bool(*b),
            (AttrType::Int, CoercedAttr::Int(i)) => heap.alloc(*i),
            (AttrType::Arg, CoercedAttr::Arg(parts)) => self.arg_value(parts)?,
            (t, v) => return sl_bail(format!("internal: attribute of type `{t}` has unexpected value {v:?}")),
        })
    }

    /// `attrs.arg()`: a `ResolvedStringWithMacros` wrapping the expanded pieces.
    fn arg_value(&self, parts: &[ArgPart]) -> starlark::Result<Value<'v>> {
        let heap = self.heap;
        let mut items = Vec::new();
        for p in parts {
            let joined = |vs: Vec<Value<'v>>| {
                heap.alloc(CmdArgs::new(CmdArgsData {
                    items: vs,
                    hidden: vec![],
                    options: CmdArgsOptions { delimiter: Some(" ".to_owned()), ..Default::default() },
                }))
            };
            items.push(match p {
                ArgPart::Lit(s) => heap.alloc(s.as_str()),
                ArgPart::Source { path, short_path } => {
                    heap.alloc(Artifact::new(ArtifactData::source(path.clone(), short_path.clone(), false)))
                }
                ArgPart::Location(l) | ArgPart::LocationExec(l) | ArgPart::Exe(l) | ArgPart::ExeTarget(l) => {
                    let kind = if matches!(p, ArgPart::Location(_) | ArgPart::ExeTarget(_)) {
                        DepKind::Plain
                    } else {
                        DepKind::Exec
                    };
                    let (_, res) = &self.edge(&(l.clone(), kind, None))?[0];
                    let dep = self.dependency(l, res)?;
                    if matches!(p, ArgPart::Exe(_) | ArgPart::ExeTarget(_)) {
                        let run = Dependency::from_value(dep).expect("dep").collection().get(&builtin_id("RunInfo"));
                        let run = run.ok_or_else(|| sl_err(format!("$(exe {l}): target does not provide RunInfo")))?;
                        joined(vec![run])
                    } else {
                        joined(self.default_outputs(dep))
                    }
                }
            });
        }
        let inner = heap.alloc(CmdArgs::new(CmdArgsData {
            items,
            hidden: vec![],
            options: CmdArgsOptions { delimiter: Some(String::new()), ..Default::default() },
        }));
        Ok(heap.alloc(ResolvedStringWithMacros { inner }))
    }
}

impl Project {
    /// Analyse `label` in configuration `cfg` (memoized; the target's own incoming transition is
    /// applied by callers via `configure_target`).
    pub(crate) fn analysis(&self, label: &TargetLabel, cfg: Arc<Configuration>) -> Result<Rc<AnalysisResult>> {
        let key = (label.clone(), cfg.clone());
        if let Some(r) = self.analyses.borrow().get(&key) {
            return Ok(r.clone());
        }
        let display = format!("{label} ({cfg})");
        if self.analysing.borrow().contains(&display) {
            return Err(Buck2Error::Analysis {
                target: display.clone(),
                message: format!("dependency cycle: {}", self.analysing.borrow().join(" -> ")),
            });
        }
        self.analysing.borrow_mut().push(display.clone());
        let result = self.analyse_uncached(label, &cfg);
        self.analysing.borrow_mut().pop();
        let result = Rc::new(result?);
        for (i, action) in result.actions.iter().enumerate() {
            for o in &action.outputs {
                self.action_index.borrow_mut().insert(o.path.clone(), (result.clone(), i));
            }
        }
        self.analyses.borrow_mut().insert(key, result.clone());
        Ok(result)
    }

    fn analyse_uncached(&self, label: &TargetLabel, cfg: &Arc<Configuration>) -> Result<AnalysisResult> {
        let node = self.target_node(label)?;
        let display = format!("{label} ({cfg})");
        let fail = |message: String| Buck2Error::Analysis { target: display.clone(), message };
        let attrs = self.resolve_attrs(&node, cfg)?;
        self.check_compatible(&node, &attrs, cfg)?;
        let spec = node.spec.all_attrs();
        let mut edges: Vec<Edge> = Vec::new();
        for ((_, a), (_, v)) in spec.iter().zip(&attrs) {
            collect_deps(&a.ty, v, &mut edges);
        }
        let exec_cfg: RefCell<Option<Arc<Configuration>>> = RefCell::new(None);
        let exec = || -> Result<Arc<Configuration>> {
            if let Some(c) = exec_cfg.borrow().clone() {
                return Ok(c);
            }
            let c = self.exec_configuration(&node, &attrs)?;
            *exec_cfg.borrow_mut() = Some(c.clone());
            Ok(c)
        };
        let mut edge_results: EdgeResults = HashMap::new();
        for edge in edges {
            if edge_results.contains_key(&edge) || edge.1 == DepKind::Plugin {
                continue;
            }
            let (dep_label, kind, partner) = &edge;
            let dep_node = self.target_node(&dep_label.target)?;
            // Buck2 checks every dependency edge, toolchain and exec deps included.
            if !is_visible_to(&dep_node, label, self) {
                return Err(fail(format!(
                    "`{0}` is not visible to `{label}` (run `buck2 uquery --output-attribute visibility {0}` to check the visibility)",
                    dep_label.target
                )));
            }
            let is_toolchain_edge = *kind == DepKind::Toolchain;
            if dep_node.spec.is_toolchain_rule && !is_toolchain_edge {
                return Err(fail(format!(
                    "`{}` was used not as a toolchain_dep, but is a toolchain rule",
                    dep_label.target
                )));
            }
            if is_toolchain_edge && !dep_node.spec.is_toolchain_rule {
                return Err(fail(format!(
                    "`{}` was used as a toolchain_dep, but is not a toolchain rule",
                    dep_label.target
                )));
            }
            let mut results = Vec::new();
            for (split_key, c) in self.edge_configurations(&node, &attrs, kind, partner.as_ref(), cfg, &exec)? {
                let c = self.configure_target(&dep_label.target, c)?;
                results.push((split_key, self.analysis(&dep_label.target, c)?));
            }
            edge_results.insert(edge, results);
        }
        let rule = rule_of(&node);
        let project_root = self.root.to_string_lossy().into_owned();
        let (providers, state) = Module::with_temp_heap(|module| -> std::result::Result<(OwnedFrozenValue, ActionsState), String> {
            module.frozen_heap().add_reference(node.heap.as_ref().expect("package heap"));
            let heap = module.heap();
            let cx = ValueCx { heap, module: &module, cfg, edges: &edge_results, owner: label };
            let _ = cx.owner;
            let mut fields = Vec::new();
            for ((name, a), (_, v)) in spec.iter().zip(&attrs) {
                let value = cx.value(&a.ty, v).map_err(|e| format!("attribute `{name}`: {e}"))?;
                fields.push((name.clone(), value));
            }
            let attrs_v = heap.alloc(AllocStruct(fields));
            let label_v = heap.alloc(StarlarkLabel { label: ProvidersLabel::new(label.clone()), cfg: cfg.clone() });
            let state = ActionsState::new(label.clone(), cfg.clone(), "", &project_root);
            let actions = heap.alloc_complex_no_freeze(AnalysisActions { state: RefCell::new(state) });
            let plugins = heap.alloc(AnalysisPlugins);
            let ctx = heap.alloc_complex_no_freeze(AnalysisContext { attrs: attrs_v, label: label_v, actions, plugins });
            let ret = {
                let mut eval = Evaluator::new(&module);
                eval.eval_function(rule.implementation.to_value(), &[ctx], &[]).map_err(|e| e.to_string())?
            };
            let collection = collection_from_list(ret, "rule implementation").map_err(|e| e.to_string())?;
            if collection.get(&builtin_id("DefaultInfo")).is_none() {
                return Err(format!(
                    "Provider collection of `{}` did not receive a `DefaultInfo` provider (the impl returned: {})",
                    label,
                    collection.names().join(", ")
                ));
            }
            let state = std::mem::replace(
                &mut *actions.downcast_ref::<AnalysisActions>().expect("actions").state.borrow_mut(),
                ActionsState::new(label.clone(), cfg.clone(), "", &project_root),
            );
            for d in &state.declared {
                if !d.is_bound() {
                    return Err(format!(
                        "Artifact must be bound by now. If you are intending to use this artifact as an output, are you missing an `.as_output()` call? Artifact: `{}` (declared by `{label}`)",
                        d.short_path
                    ));
                }
            }
            module.set_extra_value(heap.alloc(collection));
            let frozen = module.freeze().map_err(|e| starlark::Error::from(e).to_string())?;
            let providers = frozen.owned_extra_value().expect("extra value set");
            Ok((providers, state))
        })
        .map_err(fail)?;
        Ok(AnalysisResult { label: label.clone(), cfg: cfg.clone(), providers, actions: state.actions })
    }
}
