//! The project: root, cells, buckconfigs, caches, and the Rust API used by tests
//! (`Project::new`, `analyze`, `build`, `run`, `set_target_platform`).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use starlark::environment::{FrozenModule, Globals};
use starlark::values::dict::DictRef;
use starlark::values::list::ListRef;
use starlark::values::structs::StructRef;
use starlark::values::tuple::TupleRef;
use starlark::values::{Value, ValueLike};

use super::analysis::AnalysisResult;
use super::artifacts::Artifact;
use super::buckconfig::BuckConfig;
use super::builtin_providers::builtin_id;
use super::cmd_args::{cmd_args_data, render_to_vec, visit_arg, PathStyle, Visited};
use super::configuration::Configuration;
use super::error::{Buck2Error, Result};
use super::labels::{parse_providers_label, CellResolver, LabelContext, ProvidersLabel, TargetLabel};
use super::loader::{Package, TargetNode};
use super::providers::{sub_target_collection, Dependency, ProviderCollection, ProviderInstance};

/// Analysis results by configured target.
pub(crate) type AnalysisCache = HashMap<(TargetLabel, Arc<Configuration>), Rc<AnalysisResult>>;

/// A Buck2 project rooted at a directory containing `.buckconfig`.
pub struct Project {
    pub(crate) root: PathBuf,
    pub(crate) root_cell: String,
    pub(crate) cells: CellResolver,
    pub(crate) root_config: BuckConfig,
    cell_configs: BTreeMap<String, BuckConfig>,
    pub(crate) globals: Globals,
    pub(crate) modules: RefCell<HashMap<String, FrozenModule>>,
    pub(crate) loading: RefCell<Vec<String>>,
    pub(crate) packages: RefCell<HashMap<(String, String), Rc<Package>>>,
    pub(crate) analyses: RefCell<AnalysisCache>,
    pub(crate) analysing: RefCell<Vec<String>>,
    pub(crate) target_platform: RefCell<Option<String>>,
    /// Output path → (analysis, action index).
    pub(crate) action_index: RefCell<HashMap<String, (Rc<AnalysisResult>, usize)>>,
    pub(crate) executed: RefCell<HashSet<String>>,
}

/// The providers of an analysed (sub-)target, rendered for inspection from Rust.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// `cell//pkg:name[sub]`.
    pub label: String,
    /// e.g. `root//platforms:linux#0123abcd…` or `<unbound>`.
    pub configuration: String,
    /// `{ "ProviderName": { field: value, … }, … }` in provider order; artifacts are
    /// project-relative paths, `cmd_args` are lists of rendered strings, labels are strings.
    pub providers: serde_json::Value,
    /// Names of `DefaultInfo.sub_targets`.
    pub sub_targets: Vec<String>,
    /// Project-relative paths of `DefaultInfo.default_outputs`.
    pub default_outputs: Vec<String>,
}

impl Analysis {
    pub fn provider(&self, name: &str) -> Option<&serde_json::Value> {
        self.providers.get(name)
    }
}

impl Project {
    /// Open a project: reads `.buckconfig` (`[cells]`, `[cell_aliases]`, …) and each cell's own.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let root: PathBuf = root.into();
        let root = root.canonicalize().map_err(|e| Buck2Error::io(&root, e))?;
        let config_path = root.join(".buckconfig");
        if !config_path.is_file() {
            return Err(Buck2Error::Config {
                path: config_path,
                message: "missing .buckconfig at the project root".to_owned(),
            });
        }
        let root_config = BuckConfig::read(&config_path)?;
        let mut cells = CellResolver::default();
        for section in ["repositories", "cells"] {
            for (name, dir) in root_config.section(section) {
                let dir = dir.trim_start_matches("./").trim_end_matches('/');
                cells.cells.insert(name.to_owned(), if dir.is_empty() { ".".to_owned() } else { dir.to_owned() });
            }
        }
        for section in ["repository_aliases", "cell_aliases"] {
            for (alias, target) in root_config.section(section) {
                cells.aliases.insert(alias.to_owned(), target.to_owned());
            }
        }
        let root_cell =
            cells.cells.iter().find(|(_, d)| d.as_str() == ".").map(|(n, _)| n.clone()).ok_or_else(|| {
                Buck2Error::Config { path: config_path.clone(), message: "[cells] must map a cell to `.`".to_owned() }
            })?;
        let mut cell_configs = BTreeMap::new();
        for (name, dir) in &cells.cells {
            let cfg =
                if dir == "." { root_config.clone() } else { BuckConfig::read(&root.join(dir).join(".buckconfig"))? };
            cell_configs.insert(name.clone(), cfg);
        }
        Ok(Project {
            root,
            root_cell,
            cells,
            root_config,
            cell_configs,
            globals: super::globals::buck2_globals(),
            modules: RefCell::default(),
            loading: RefCell::default(),
            packages: RefCell::default(),
            analyses: RefCell::default(),
            analysing: RefCell::default(),
            target_platform: RefCell::default(),
            action_index: RefCell::default(),
            executed: RefCell::default(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Equivalent of `--target-platforms=<label>` (None: use `default_target_platform` etc.).
    pub fn set_target_platform(&self, platform: Option<&str>) {
        *self.target_platform.borrow_mut() = platform.map(str::to_owned);
    }

    pub(crate) fn cell_config(&self, cell: &str) -> &BuckConfig {
        self.cell_configs.get(cell).unwrap_or(&self.root_config)
    }

    /// Project-relative directory of a package.
    pub(crate) fn package_dir(&self, cell: &str, package: &str) -> String {
        let dir = self.cells.dir(cell).unwrap_or(".");
        match (dir, package) {
            (".", p) => p.to_owned(),
            (d, "") => d.to_owned(),
            (d, p) => format!("{d}/{p}"),
        }
    }

    pub(crate) fn buildfile_names(&self, cell: &str) -> Vec<String> {
        let cfg = self.cell_config(cell);
        if let Some(v2) = cfg.get("buildfile", "name_v2") {
            return v2.split_whitespace().map(str::to_owned).collect();
        }
        if let Some(name) = cfg.get("buildfile", "name") {
            return vec![format!("{name}.v2"), name.to_owned()];
        }
        vec!["BUCK.v2".to_owned(), "BUCK".to_owned()]
    }

    /// The cell the root cell calls `prelude`, if any.
    pub(crate) fn prelude_cell(&self) -> Option<String> {
        self.cells.resolve("prelude")
    }

    /// Files of a package (relative to it), excluding sub-packages and `buck-out`.
    pub(crate) fn package_files(&self, cell: &str, package: &str) -> Result<Vec<String>> {
        let dir = self.root.join(self.package_dir(cell, package));
        let names = self.buildfile_names(cell);
        let mut out = Vec::new();
        let mut walker = walkdir::WalkDir::new(&dir).sort_by_file_name().into_iter();
        while let Some(entry) = walker.next() {
            let entry = entry.map_err(|e| Buck2Error::io(&dir, e.into()))?;
            let rel = entry.path().strip_prefix(&dir).expect("under dir").to_string_lossy().into_owned();
            if entry.file_type().is_dir() {
                let sub_package = !rel.is_empty() && names.iter().any(|n| entry.path().join(n).is_file());
                if rel == "buck-out" || sub_package {
                    walker.skip_current_dir();
                }
                continue;
            }
            out.push(rel);
        }
        Ok(out)
    }

    pub(crate) fn target_node(&self, label: &TargetLabel) -> Result<Rc<TargetNode>> {
        let pkg = self.package(&label.cell, &label.package)?;
        pkg.targets.iter().find(|t| t.label.name == label.name).cloned().ok_or_else(|| Buck2Error::UnknownTarget {
            target: label.to_string(),
            package: format!("{}//{}", label.cell, label.package),
            available: pkg.targets.iter().map(|t| t.label.name.clone()).collect::<Vec<_>>().join(", "),
        })
    }

    fn parse_target(&self, target: &str) -> Result<ProvidersLabel> {
        parse_providers_label(target, &LabelContext { cells: &self.cells, cell: &self.root_cell, package: None })
            .map_err(Buck2Error::Label)
    }

    /// Configure and analyse a requested target (top-level platform rules apply).
    fn analyse_request(&self, label: &ProvidersLabel) -> Result<Rc<AnalysisResult>> {
        let node = self.target_node(&label.target)?;
        let cfg = self.top_level_configuration(&node)?;
        let cfg = self.configure_target(&label.target, cfg)?;
        self.analysis(&label.target, cfg)
    }

    /// Analyse `target` (`cell//pkg:name`, `//pkg:name`, optional `[sub]`) and dump its providers.
    pub fn analyze(&self, target: &str) -> Result<Analysis> {
        let label = self.parse_target(target)?;
        let res = self.analyse_request(&label)?;
        let collection = self.sub_collection(&res, &label)?;
        let dump = |v: Value| -> Result<Analysis> {
            let c = ProviderCollection::from_value(v).expect("collection");
            let mut providers = serde_json::Map::new();
            for p in &c.providers {
                let inst = ProviderInstance::from_value(p.to_value()).expect("provider");
                providers.insert(inst.id.name().to_owned(), dump_value(p.to_value(), &self.root));
            }
            let default_info = c.get(&builtin_id("DefaultInfo")).and_then(ProviderInstance::from_value);
            let sub_targets = default_info
                .and_then(|d| d.field("sub_targets"))
                .and_then(DictRef::from_value)
                .map(|d| d.keys().map(|k| k.to_str()).collect())
                .unwrap_or_default();
            Ok(Analysis {
                label: label.to_string(),
                configuration: res.cfg.to_string(),
                providers: serde_json::Value::Object(providers),
                sub_targets,
                default_outputs: default_outputs(v).iter().map(|a| a.path()).collect(),
            })
        };
        dump(collection.value())
    }

    /// Navigate `[sub]` sub-targets; returns an owned frozen collection value.
    fn sub_collection(
        &self,
        res: &AnalysisResult,
        label: &ProvidersLabel,
    ) -> Result<starlark::values::OwnedFrozenValue> {
        let mut current = res.providers.clone();
        for sub in label.sub_target.iter().flatten() {
            let next = current.try_map(|v| {
                let c = ProviderCollection::from_value(v.to_value()).expect("collection");
                match sub_target_collection(c, sub) {
                    Some(s) => Ok(s.unpack_frozen().expect("frozen")),
                    None => Err(Buck2Error::Analysis {
                        target: label.to_string(),
                        message: format!("Requested sub target `{sub}` of `{}` is not available", label.target),
                    }),
                }
            })?;
            current = next;
        }
        Ok(current)
    }

    /// `buck2 build`: run the actions for the default outputs (and `other_outputs`) of a target
    /// or sub-target; returns absolute paths of the default outputs.
    pub fn build(&self, target: &str) -> Result<Vec<PathBuf>> {
        let label = self.parse_target(target)?;
        let res = self.analyse_request(&label)?;
        let collection = self.sub_collection(&res, &label)?;
        let outputs = default_outputs(collection.value());
        let mut visited = Visited::default();
        if let Some(other) = ProviderCollection::from_value(collection.value())
            .and_then(|c| c.get(&builtin_id("DefaultInfo")))
            .and_then(ProviderInstance::from_value)
            .and_then(|d| d.field("other_outputs"))
        {
            visit_arg(other, false, &mut visited);
        }
        for a in &outputs {
            self.ensure_artifact(&a.data)?;
        }
        for a in &visited.inputs {
            self.ensure_artifact(a)?;
        }
        Ok(outputs.iter().map(|a| self.root.join(a.path())).collect())
    }

    /// Same as `build` with a `[name]` sub-target (kept for readability at call sites).
    pub fn build_sub_target(&self, target: &str) -> Result<Vec<PathBuf>> {
        self.build(target)
    }

    /// `buck2 run target -- args`: build `RunInfo`, render its args with absolute paths, execute in
    /// the project root with `BUCK_RUN_BUILD_ID` set, and return the process output.
    pub fn run(&self, target: &str, args: &[&str]) -> Result<std::process::Output> {
        let label = self.parse_target(target)?;
        let res = self.analyse_request(&label)?;
        let collection = self.sub_collection(&res, &label)?;
        let run_info = ProviderCollection::from_value(collection.value())
            .and_then(|c| c.get(&builtin_id("RunInfo")))
            .and_then(ProviderInstance::from_value)
            .and_then(|r| r.field("args"))
            .ok_or_else(|| Buck2Error::NotBinary(target.to_owned()))?;
        let mut visited = Visited::default();
        visit_arg(run_info, false, &mut visited);
        for a in &visited.inputs {
            self.ensure_artifact(a)?;
        }
        let root = self.root.to_string_lossy().into_owned();
        let argv = render_to_vec(run_info, &PathStyle::absolute(&root))
            .map_err(|e| Buck2Error::Analysis { target: target.to_owned(), message: e.to_string() })?;
        let Some((program, rest)) = argv.split_first() else { return Err(Buck2Error::NotBinary(target.to_owned())) };
        std::process::Command::new(program)
            .args(rest)
            .args(args)
            .current_dir(&self.root)
            .env("BUCK_RUN_BUILD_ID", "buck2-model")
            .output()
            .map_err(|e| Buck2Error::io(program, e))
    }

    /// Names of the targets a package defines.
    pub fn targets(&self, package: &str) -> Result<Vec<String>> {
        let label = self.parse_target(&format!("{package}:__probe__"))?;
        let pkg = self.package(&label.target.cell, &label.target.package)?;
        Ok(pkg.targets.iter().map(|t| t.label.name.clone()).collect())
    }
}

fn default_outputs(collection: Value) -> Vec<Artifact> {
    ProviderCollection::from_value(collection)
        .and_then(|c| c.get(&builtin_id("DefaultInfo")))
        .and_then(ProviderInstance::from_value)
        .and_then(|d| d.field("default_outputs"))
        .and_then(ListRef::from_value)
        .map(|l| l.content().iter().filter_map(|a| a.downcast_ref::<Artifact>().cloned()).collect())
        .unwrap_or_default()
}

/// JSON-ish dump of a provider value for Rust-side assertions.
pub fn dump_value(v: Value, root: &Path) -> serde_json::Value {
    use serde_json::Value as J;
    let _ = root;
    if v.is_none() {
        return J::Null;
    }
    if let Some(b) = v.unpack_bool() {
        return J::Bool(b);
    }
    if let Some(i) = v.unpack_i32() {
        return J::from(i);
    }
    if let Some(s) = v.unpack_str() {
        return J::String(s.to_owned());
    }
    if let Some(a) = v.downcast_ref::<Artifact>() {
        return J::String(a.path());
    }
    if cmd_args_data(v).is_some() {
        return match render_to_vec(v, &PathStyle::project_relative()) {
            Ok(args) => J::Array(args.into_iter().map(J::String).collect()),
            Err(e) => J::String(format!("<unrenderable cmd_args: {e}>")),
        };
    }
    if let Some(p) = ProviderInstance::from_value(v) {
        return J::Object(p.fields.iter().map(|(k, x)| (k.clone(), dump_value(x.to_value(), root))).collect());
    }
    if let Some(c) = ProviderCollection::from_value(v) {
        return J::Object(
            c.providers
                .iter()
                .filter_map(|p| {
                    ProviderInstance::from_value(p.to_value())
                        .map(|i| (i.id.name().to_owned(), dump_value(p.to_value(), root)))
                })
                .collect(),
        );
    }
    if let Some(d) = Dependency::from_value(v) {
        return J::String(d.label.to_value().to_str());
    }
    if let Some(l) = ListRef::from_value(v) {
        return J::Array(l.content().iter().map(|x| dump_value(*x, root)).collect());
    }
    if let Some(t) = TupleRef::from_value(v) {
        return J::Array(t.content().iter().map(|x| dump_value(*x, root)).collect());
    }
    if let Some(d) = DictRef::from_value(v) {
        return J::Object(
            d.iter()
                .map(|(k, x)| (k.unpack_str().map(str::to_owned).unwrap_or_else(|| k.to_str()), dump_value(x, root)))
                .collect(),
        );
    }
    if let Some(s) = StructRef::from_value(v) {
        return J::Object(s.iter().map(|(k, x)| (k.as_str().to_owned(), dump_value(x, root))).collect());
    }
    J::String(v.to_str())
}
