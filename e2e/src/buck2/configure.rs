//! Configuring targets: target/exec platform selection, select resolution, `target_compatible_with`,
//! and transitions (old-style `transition()` objects and `TransitionInfo` targets).

use std::rc::Rc;
use std::sync::Arc;

use starlark::environment::Module;
use starlark::eval::Evaluator;
use starlark::values::dict::DictRef;
use starlark::values::list::ListRef;
use starlark::values::structs::AllocStruct;
use starlark::values::{FrozenValue, Value, ValueLike};

use super::analysis::{import_frozen, plain_value, AnalysisResult};
use super::attrs::DepKind;
use super::coerce::{resolve_selects, CoercedAttr};
use super::configuration::{
    builtin_in, configuration_data_from, configuration_from_platform_info, platform_info_value, Configuration,
    ConfigurationData,
};
use super::error::{Buck2Error, Result};
use super::labels::{parse_providers_label, LabelContext, ProvidersLabel, TargetLabel};
use super::loader::TargetNode;
use super::project::Project;
use super::providers::{ProviderCollection, ProviderInstance};
use super::rule::{FrozenRule, FrozenTransition};

/// A select key / constraint target's `ConfigurationInfo`.
impl Project {
    pub(crate) fn parse_label_in(&self, s: &str, cell: &str) -> Result<ProvidersLabel> {
        parse_providers_label(s, &LabelContext { cells: &self.cells, cell, package: None }).map_err(Buck2Error::Label)
    }

    /// Analyse a configuration target (unbound) and return one of its built-in providers.
    fn config_provider(&self, label: &ProvidersLabel, provider: &str, why: &str) -> Result<Rc<AnalysisResult>> {
        let res = self.analysis(&label.target, Configuration::unbound())?;
        let has = builtin_in(res.providers.value(), provider).is_some();
        if !has {
            return Err(Buck2Error::Analysis {
                target: label.to_string(),
                message: format!("{why}: `{label}` does not provide `{provider}`"),
            });
        }
        Ok(res)
    }

    pub(crate) fn configuration_info(&self, label: &ProvidersLabel) -> Result<ConfigurationData> {
        let res = self.config_provider(
            label,
            "ConfigurationInfo",
            "select keys and constraints must provide ConfigurationInfo",
        )?;
        let v = builtin_in(res.providers.value(), "ConfigurationInfo").expect("checked");
        configuration_data_from(v)
            .map_err(|e| Buck2Error::Analysis { target: label.to_string(), message: e.to_string() })
    }

    /// The configuration of a `platform()` (or any target providing `PlatformInfo`).
    pub(crate) fn platform_configuration(&self, label: &ProvidersLabel) -> Result<Arc<Configuration>> {
        let res = self.config_provider(label, "PlatformInfo", "target platforms must provide PlatformInfo")?;
        let v = builtin_in(res.providers.value(), "PlatformInfo").expect("checked");
        configuration_from_platform_info(v)
            .map(Arc::new)
            .map_err(|e| Buck2Error::Analysis { target: label.to_string(), message: e.to_string() })
    }

    /// Target platform for a top-level request: CLI override > `default_target_platform` >
    /// `[parser] target_platform_detector_spec` > unbound.
    pub(crate) fn top_level_configuration(&self, node: &TargetNode) -> Result<Arc<Configuration>> {
        if node.spec.is_configuration_rule {
            return Ok(Configuration::unbound());
        }
        if let Some(p) = self.target_platform.borrow().clone() {
            return self.platform_configuration(&self.parse_label_in(&p, &self.root_cell)?);
        }
        if let Some(CoercedAttr::String(p)) = node.attr("default_target_platform") {
            return self.platform_configuration(&self.parse_label_in(p, &node.label.cell)?);
        }
        if let Some(spec) = self.root_config.get("parser", "target_platform_detector_spec") {
            for entry in spec.split_whitespace() {
                let Some(rest) = entry.strip_prefix("target:") else { continue };
                let Some((pattern, platform)) = rest.split_once("->") else { continue };
                if pattern_matches(pattern, &node.label, self) {
                    return self.platform_configuration(&self.parse_label_in(platform, &self.root_cell)?);
                }
            }
        }
        Ok(Configuration::unbound())
    }

    /// Resolve selects of every attribute for `cfg`.
    pub(crate) fn resolve_attrs(&self, node: &TargetNode, cfg: &Configuration) -> Result<Vec<(String, CoercedAttr)>> {
        let root_config = &self.root_config;
        let buckconfig = |k: &str| k.split_once('.').and_then(|(s, key)| root_config.get(s, key)).map(str::to_owned);
        let mut failure: Option<Buck2Error> = None;
        let mut matcher = |label: &ProvidersLabel| -> std::result::Result<Option<ConfigurationData>, String> {
            match self.configuration_info(label) {
                Ok(data) => Ok(cfg.satisfies(&data, &buckconfig).then_some(data)),
                Err(e) => {
                    let msg = e.to_string();
                    failure = Some(e);
                    Err(msg)
                }
            }
        };
        let mut out = Vec::new();
        for (name, value) in &node.attrs {
            let resolved =
                resolve_selects(value, &mut matcher, &cfg.to_string()).map_err(|message| Buck2Error::Analysis {
                    target: format!("{} ({cfg})", node.label),
                    message: format!("attribute `{name}`: {message}"),
                })?;
            out.push((name.clone(), resolved));
        }
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(out)
    }

    /// Check `target_compatible_with` (and legacy `compatible_with`).
    pub(crate) fn check_compatible(
        &self,
        node: &TargetNode,
        attrs: &[(String, CoercedAttr)],
        cfg: &Configuration,
    ) -> Result<()> {
        let buckconfig =
            |k: &str| k.split_once('.').and_then(|(s, key)| self.root_config.get(s, key)).map(str::to_owned);
        for (name, value) in attrs {
            if name != "target_compatible_with" {
                continue;
            }
            let CoercedAttr::List(items) = value else { continue };
            for item in items {
                let CoercedAttr::String(label) = item else { continue };
                let data = self.configuration_info(&self.parse_label_in(label, &node.label.cell)?)?;
                if !cfg.satisfies(&data, &buckconfig) {
                    return Err(Buck2Error::Analysis {
                        target: format!("{} ({cfg})", node.label),
                        message: format!("target is incompatible with configuration `{cfg}` (target_compatible_with `{label}` is not satisfied)"),
                    });
                }
            }
        }
        Ok(())
    }

    /// The execution configuration for `node` (first `[build] execution_platforms` entry that
    /// satisfies `exec_compatible_with`; `<unspecified_exec>` without registration).
    pub(crate) fn exec_configuration(
        &self,
        node: &TargetNode,
        attrs: &[(String, CoercedAttr)],
    ) -> Result<Arc<Configuration>> {
        let Some(reg) = self.root_config.get("build", "execution_platforms") else {
            return Ok(Arc::new(Configuration::UnspecifiedExec));
        };
        let reg_label = self.parse_label_in(reg, &self.root_cell)?;
        let res =
            self.config_provider(&reg_label, "ExecutionPlatformRegistrationInfo", "[build] execution_platforms")?;
        let info = builtin_in(res.providers.value(), "ExecutionPlatformRegistrationInfo").expect("checked");
        let platforms =
            ProviderInstance::from_value(info).and_then(|p| p.field("platforms")).and_then(ListRef::from_value);
        let mut wanted = Vec::new();
        if let Some((_, CoercedAttr::List(items))) = attrs.iter().find(|(n, _)| n == "exec_compatible_with") {
            for item in items {
                if let CoercedAttr::String(label) = item {
                    wanted.push(self.configuration_info(&self.parse_label_in(label, &node.label.cell)?)?);
                }
            }
        }
        let buckconfig =
            |k: &str| k.split_once('.').and_then(|(s, key)| self.root_config.get(s, key)).map(str::to_owned);
        for p in platforms.map(|l| l.content().to_vec()).unwrap_or_default() {
            let Some(inst) = ProviderInstance::from_value(p) else { continue };
            let label = inst.field("label").map(|l| l.to_str()).unwrap_or_default();
            let data = configuration_data_from(inst.field("configuration").unwrap_or_else(Value::new_none))
                .map_err(|e| Buck2Error::Analysis { target: reg_label.to_string(), message: e.to_string() })?;
            let cfg = Configuration::Bound(super::configuration::PlatformData {
                label,
                constraints: data.constraints,
                values: data.values,
            });
            if wanted.iter().all(|w| cfg.satisfies(w, &buckconfig)) {
                return Ok(Arc::new(cfg));
            }
        }
        Err(Buck2Error::Analysis {
            target: node.label.to_string(),
            message: "no registered execution platform satisfies exec_compatible_with".to_owned(),
        })
    }

    /// Apply the target's own incoming transition (`rule(cfg=…)` or `incoming_transition`).
    pub(crate) fn configure_target(&self, label: &TargetLabel, cfg: Arc<Configuration>) -> Result<Arc<Configuration>> {
        let node = self.target_node(label)?;
        if node.spec.is_configuration_rule {
            return Ok(Configuration::unbound());
        }
        let rule = rule_of(&node);
        if let Some(t) = rule.cfg {
            let out = self.apply_transition_object(&node, t, &cfg)?;
            return Ok(out.into_iter().next().expect("non-split").1);
        }
        if let Some(CoercedAttr::String(t)) = node.attr("incoming_transition") {
            let t = self.parse_label_in(t, &label.cell)?;
            return self.apply_transition_info(&t, &cfg, &node);
        }
        Ok(cfg)
    }

    /// Configurations of one dependency edge.
    pub(crate) fn edge_configurations(
        &self,
        node: &TargetNode,
        attrs: &[(String, CoercedAttr)],
        kind: &DepKind,
        partner: Option<&ProvidersLabel>,
        cfg: &Arc<Configuration>,
        exec: &dyn Fn() -> Result<Arc<Configuration>>,
    ) -> Result<Vec<(Option<String>, Arc<Configuration>)>> {
        let rule = rule_of(node);
        Ok(match kind {
            DepKind::Plain | DepKind::Toolchain | DepKind::Plugin => vec![(None, cfg.clone())],
            DepKind::Exec => vec![(None, exec()?)],
            DepKind::Transition(Some(i), _) | DepKind::Split(i) => {
                let _ = attrs;
                self.apply_transition_object(node, rule.transitions[*i], cfg)?
            }
            DepKind::Transition(None, label) => {
                let target = match (label, partner) {
                    (Some(l), _) => self.parse_label_in(l, &node.label.cell)?,
                    (None, Some(p)) => p.clone(),
                    (None, None) => unreachable!("transition_dep without cfg is coerced as a pair"),
                };
                vec![(None, self.apply_transition_info(&target, cfg, node)?)]
            }
            DepKind::Configured => {
                let platform = partner.expect("configured_dep is a pair");
                vec![(None, self.platform_configuration(platform)?)]
            }
        })
    }

    /// Old-style transition object: `impl(platform=, refs=, attrs=)`; split returns a dict.
    fn apply_transition_object(
        &self,
        node: &TargetNode,
        t: FrozenValue,
        cfg: &Configuration,
    ) -> Result<Vec<(Option<String>, Arc<Configuration>)>> {
        let tr: &FrozenTransition = t.downcast_ref::<FrozenTransition>().expect("Transition value");
        let name = tr.spec.name().to_owned();
        let mut refs = Vec::new();
        for (k, label) in &tr.spec.refs {
            refs.push((k.clone(), self.analysis(&label.target, Configuration::unbound())?));
        }
        let err = |message: String| Buck2Error::Analysis {
            target: format!("{} ({cfg})", node.label),
            message: format!("transition `{name}`: {message}"),
        };
        let attr_names = tr.spec.attrs.clone();
        let run = |input: &Configuration| -> Result<Vec<(Option<String>, Configuration)>> {
            Module::with_temp_heap(|module| -> std::result::Result<_, String> {
                module.frozen_heap().add_reference(node.heap.as_ref().expect("package heap"));
                let heap = module.heap();
                let platform = platform_info_value(input, heap);
                let refs_v = heap
                    .alloc(AllocStruct(refs.iter().map(|(k, r)| (k.clone(), import_frozen(&module, &r.providers)))));
                let mut named = vec![("platform", platform), ("refs", refs_v)];
                if let Some(names) = &attr_names {
                    let mut fields = Vec::new();
                    for n in names {
                        let v = node.attr(n).map(|a| plain_value(a, heap)).unwrap_or_else(Value::new_none);
                        fields.push((n.clone(), v));
                    }
                    named.push(("attrs", heap.alloc(AllocStruct(fields))));
                }
                let mut eval = Evaluator::new(&module);
                let out = eval.eval_function(tr.implementation.to_value(), &[], &named).map_err(|e| e.to_string())?;
                if tr.split {
                    let d = DictRef::from_value(out).ok_or("split transition must return dict[str, PlatformInfo]")?;
                    d.iter()
                        .map(|(k, v)| {
                            Ok((Some(k.to_str()), configuration_from_platform_info(v).map_err(|e| e.to_string())?))
                        })
                        .collect()
                } else {
                    Ok(vec![(None, configuration_from_platform_info(out).map_err(|e| e.to_string())?)])
                }
            })
            .map_err(err)
        };
        let first = run(cfg)?;
        // Buck2 requires transitions to be idempotent: tr(tr(p)) == tr(p).
        for (key, c) in &first {
            let again = run(c)?;
            let same = again.iter().find(|(k, _)| k == key).or(again.first()).map(|(_, x)| x == c).unwrap_or(false);
            if !same {
                return Err(err(format!(
                    "transition is not idempotent (applying it to `{c}` changed the configuration)"
                )));
            }
        }
        Ok(first.into_iter().map(|(k, c)| (k, Arc::new(c))).collect())
    }

    /// New-style transition: a target providing `TransitionInfo(impl = (platform, attrs?) -> PlatformInfo)`.
    fn apply_transition_info(
        &self,
        target: &ProvidersLabel,
        cfg: &Configuration,
        node: &TargetNode,
    ) -> Result<Arc<Configuration>> {
        let res = self.config_provider(target, "TransitionInfo", "transition targets must provide TransitionInfo")?;
        let err = |message: String| Buck2Error::Analysis {
            target: format!("{} ({cfg})", node.label),
            message: format!("transition `{target}`: {message}"),
        };
        let out = Module::with_temp_heap(|module| -> std::result::Result<Configuration, String> {
            module.frozen_heap().add_reference(node.heap.as_ref().expect("package heap"));
            let heap = module.heap();
            let providers = import_frozen(&module, &res.providers);
            let info = ProviderCollection::from_value(providers)
                .and_then(|c| c.get(&super::builtin_providers::builtin_id("TransitionInfo")))
                .and_then(ProviderInstance::from_value)
                .ok_or("missing TransitionInfo")?;
            let implementation = info.field("impl").ok_or("TransitionInfo without impl")?;
            let mut named = vec![("platform", platform_info_value(cfg, heap))];
            if let Some(names) = info.field("attrs").and_then(ListRef::from_value) {
                let mut fields = Vec::new();
                for n in names.content() {
                    let n = n.to_str();
                    let v = node.attr(&n).map(|a| plain_value(a, heap)).unwrap_or_else(Value::new_none);
                    fields.push((n, v));
                }
                named.push(("attrs", heap.alloc(AllocStruct(fields))));
            }
            let mut eval = Evaluator::new(&module);
            let out = eval.eval_function(implementation, &[], &named).map_err(|e| e.to_string())?;
            configuration_from_platform_info(out).map_err(|e| e.to_string())
        })
        .map_err(err)?;
        Ok(Arc::new(out))
    }
}

/// The frozen rule of a target node.
pub(crate) fn rule_of(node: &TargetNode) -> &FrozenRule {
    node.rule.downcast_ref::<FrozenRule>().expect("target node holds a Rule")
}

/// Buck2's visibility rule for a dependency edge: a target is visible to the targets of its own
/// package, and to those its `visibility` matches: `PUBLIC`, or target patterns (`//pkg:name`,
/// `//pkg:`, `//pkg/...`, with or without a cell) read relative to the target's own cell. No
/// visibility (and no PACKAGE file, which the model does not read) means private.
pub(crate) fn is_visible_to(dep: &TargetNode, from: &TargetLabel, project: &Project) -> bool {
    if dep.label.cell == from.cell && dep.label.package == from.package {
        return true;
    }
    let Some(CoercedAttr::List(patterns)) = dep.attr("visibility") else { return false };
    patterns.iter().any(|pattern| match pattern {
        CoercedAttr::String(p) if p == "PUBLIC" => true,
        CoercedAttr::String(p) => pattern_matches_in(p, from, &dep.label.cell, project),
        _ => false,
    })
}

/// `target:<pattern>` of `target_platform_detector_spec`: `cell//...`, `cell//pkg/...`, `cell//pkg:name`.
fn pattern_matches(pattern: &str, label: &TargetLabel, project: &Project) -> bool {
    pattern_matches_in(pattern, label, &project.root_cell, project)
}

/// A target pattern matched against a label; a pattern without a cell is in `default_cell`.
fn pattern_matches_in(pattern: &str, label: &TargetLabel, default_cell: &str, project: &Project) -> bool {
    let Some((cell, rest)) = pattern.split_once("//") else { return false };
    let cell = if cell.is_empty() { default_cell.to_owned() } else { project.cells.resolve(cell).unwrap_or_default() };
    if cell != label.cell {
        return false;
    }
    if let Some(prefix) = rest.strip_suffix("...") {
        let prefix = prefix.trim_end_matches('/');
        return prefix.is_empty() || label.package == prefix || label.package.starts_with(&format!("{prefix}/"));
    }
    match rest.split_once(':') {
        Some((pkg, name)) => pkg == label.package && (name == label.name || name.is_empty()),
        None => rest == label.package,
    }
}
