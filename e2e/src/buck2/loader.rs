//! Evaluating `.bzl` and build files: dialects (`app/buck2_interpreter/src/file_type.rs`), load
//! paths (`parse_import.rs`), the implicit prelude import, and the load-time `BuildContext`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use starlark::any::ProvidesStaticType;
use starlark::environment::{FrozenModule, Module};
use starlark::eval::{Evaluator, ReturnFileLoader};
use starlark::syntax::{AstModule, Dialect, DialectTypes};
use starlark::values::structs::StructRef;
use starlark::values::{FrozenHeapRef, FrozenValue};

use super::coerce::CoercedAttr;
use super::error::{sl_bail, Buck2Error, Result};
use super::labels::TargetLabel;
use super::project::Project;
use super::rule::RuleSpec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Bzl,
    Buck,
}

/// Dialect of `.bzl` files.
pub fn bzl_dialect() -> Dialect {
    Dialect {
        enable_def: true,
        enable_lambda: true,
        enable_load: true,
        enable_keyword_only_arguments: true,
        enable_positional_only_arguments: false,
        enable_types: DialectTypes::Enable,
        enable_load_reexport: false,
        enable_top_level_stmt: true,
        enable_f_strings: true,
        ..Dialect::Standard
    }
}

/// Dialect of `BUCK`/`PACKAGE` files: no `def`, no type annotations, no top-level `if`/`for`.
pub fn buck_dialect() -> Dialect {
    Dialect {
        enable_def: false,
        enable_keyword_only_arguments: false,
        enable_types: DialectTypes::Disable,
        enable_top_level_stmt: false,
        ..bzl_dialect()
    }
}

/// One target as recorded by a rule call in a build file.
#[derive(Debug)]
pub struct TargetNode {
    pub label: TargetLabel,
    /// The frozen `Rule` value (kept alive by `heap`).
    pub rule: FrozenValue,
    pub spec: Arc<RuleSpec>,
    /// Every attribute (user and implicit), defaults applied, selects unresolved.
    pub attrs: Vec<(String, CoercedAttr)>,
    /// The build file's frozen heap (references the `.bzl` heaps holding the rule).
    pub heap: Option<FrozenHeapRef>,
}

impl TargetNode {
    pub fn attr(&self, name: &str) -> Option<&CoercedAttr> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// The targets of one package.
#[derive(Debug)]
pub struct Package {
    pub targets: Vec<Rc<TargetNode>>,
}

/// Load-time context in `Evaluator::extra` (absent during analysis, which is how load-only
/// functions detect analysis).
#[derive(ProvidesStaticType)]
pub struct BuildContext<'a> {
    pub project: &'a Project,
    /// Cell of the file being evaluated (for macros: of the build file that called them).
    pub cell: String,
    pub kind: FileKind,
    /// Package of the build file (BUCK only).
    pub package: Option<String>,
    /// Display name of the file (`cell//path`).
    pub file: String,
    targets: RefCell<Vec<TargetNode>>,
}

pub const UNAVAILABLE_DURING_ANALYSIS: &str =
    "This function is unavailable during analysis (usual solution is to place the information on a toolchain)";

impl<'a> BuildContext<'a> {
    pub fn get<'e>(eval: &Evaluator<'_, 'e, 'a>) -> starlark::Result<&'e BuildContext<'a>> {
        match eval.extra.and_then(|e| e.downcast_ref::<BuildContext<'a>>()) {
            Some(c) => Ok(c),
            None => sl_bail(UNAVAILABLE_DURING_ANALYSIS),
        }
    }

    pub fn has_target(&self, name: &str) -> bool {
        self.targets.borrow().iter().any(|t| t.label.name == name)
    }

    pub fn add_target(&self, node: TargetNode) -> starlark::Result<()> {
        let mut targets = self.targets.borrow_mut();
        if targets.iter().any(|t| t.label.name == node.label.name) {
            return sl_bail(format!("Attempted to register target `{}` twice", node.label));
        }
        targets.push(node);
        Ok(())
    }
}

/// Resolve a `load()` path relative to the loading file (`cell`, `dir` = directory of the file).
pub fn resolve_load(
    project: &Project,
    import: &str,
    cell: &str,
    dir: &str,
) -> std::result::Result<(String, String), String> {
    let bad = || {
        format!(
            "Unable to parse import spec. Expected format `(@<cell>)//package/name:filename.bzl` or `:filename.bzl`. But got `{import}`"
        )
    };
    let (cell, package, file) = if let Some(file) = import.strip_prefix(':') {
        (cell.to_owned(), dir.to_owned(), file)
    } else {
        let (cell_part, rest) = import.split_once("//").ok_or_else(bad)?;
        let cell = if cell_part.is_empty() {
            cell.to_owned()
        } else if let Some(name) = cell_part.strip_prefix('@') {
            project.cells.resolve(name).ok_or_else(|| format!("Unknown cell `{name}` in import `{import}`"))?
        } else {
            // `cell//x:y.bzl` without `@` is rejected by Buck2.
            return Err(bad());
        };
        let (package, file) = rest.split_once(':').ok_or_else(bad)?;
        (cell, package.to_owned(), file)
    };
    if file.is_empty() || file.contains('/') && file.split('/').any(|c| c == "..") {
        return Err(bad());
    }
    let path = if package.is_empty() { file.to_owned() } else { format!("{package}/{file}") };
    Ok((cell, path))
}

fn dir_of(path: &str) -> &str {
    path.rfind('/').map(|i| &path[..i]).unwrap_or("")
}

impl Project {
    /// Parse, resolve loads, and evaluate a `.bzl` file (cached).
    pub(crate) fn load_bzl(&self, cell: &str, path: &str) -> Result<FrozenModule> {
        let key = format!("{cell}//{path}");
        if let Some(m) = self.modules.borrow().get(&key) {
            return Ok(m.clone());
        }
        if self.loading.borrow().contains(&key) {
            return Err(Buck2Error::Load {
                file: key.clone(),
                message: format!("load cycle: {}", self.loading.borrow().join(" -> ")),
            });
        }
        self.loading.borrow_mut().push(key.clone());
        let result = self.eval_file(cell, path, FileKind::Bzl, None);
        self.loading.borrow_mut().pop();
        let (module, _) = result?;
        self.modules.borrow_mut().insert(key, module.clone());
        Ok(module)
    }

    /// Evaluate a package's build file (cached).
    pub(crate) fn package(&self, cell: &str, package: &str) -> Result<Rc<Package>> {
        let key = (cell.to_owned(), package.to_owned());
        if let Some(p) = self.packages.borrow().get(&key) {
            return Ok(p.clone());
        }
        let dir = self.root.join(self.package_dir(cell, package));
        let names = self.buildfile_names(cell);
        let file = names
            .iter()
            .find(|n| dir.join(n).is_file())
            .ok_or_else(|| Buck2Error::NoBuildFile { dir: dir.clone(), names: names.join(", ") })?;
        let path = if package.is_empty() { file.clone() } else { format!("{package}/{file}") };
        let (module, targets) = self.eval_file(cell, &path, FileKind::Buck, Some(package))?;
        let heap = module.frozen_heap().clone();
        let targets = targets
            .into_iter()
            .map(|mut t| {
                t.heap = Some(heap.clone());
                Rc::new(t)
            })
            .collect();
        let pkg = Rc::new(Package { targets });
        self.packages.borrow_mut().insert(key, pkg.clone());
        Ok(pkg)
    }

    fn eval_file(
        &self,
        cell: &str,
        path: &str,
        kind: FileKind,
        package: Option<&str>,
    ) -> Result<(FrozenModule, Vec<TargetNode>)> {
        let display = format!("{cell}//{path}");
        let load_err = |message: String| Buck2Error::Load { file: display.clone(), message };
        let abs = self.root.join(self.cells.dir(cell).unwrap_or(".")).join(path);
        let text = std::fs::read_to_string(&abs).map_err(|e| Buck2Error::io(&abs, e))?;
        let dialect = match kind {
            FileKind::Bzl => bzl_dialect(),
            FileKind::Buck => buck_dialect(),
        };
        let ast = AstModule::parse(&display, text, &dialect).map_err(|e| load_err(e.to_string()))?;
        let mut loaded: Vec<(String, FrozenModule)> = Vec::new();
        for load in ast.loads() {
            let (lcell, lpath) = resolve_load(self, load.module_id, cell, dir_of(path))
                .map_err(|m| load_err(format!("{m}\n --> {}", load.span)))?;
            let module = self.load_bzl(&lcell, &lpath)?;
            loaded.push((load.module_id.to_owned(), module));
        }
        // The implicit prelude import, except for `.bzl` files inside the prelude cell itself.
        let prelude = match self.prelude_cell() {
            Some(p) if !(kind == FileKind::Bzl && p == cell) => Some(self.load_bzl(&p, "prelude.bzl")?),
            _ => None,
        };
        let map: HashMap<&str, &FrozenModule> = loaded.iter().map(|(k, m)| (k.as_str(), m)).collect();
        let loader = ReturnFileLoader { modules: &map };
        let ctx = BuildContext {
            project: self,
            cell: cell.to_owned(),
            kind,
            package: package.map(str::to_owned),
            file: display.clone(),
            targets: RefCell::new(Vec::new()),
        };
        let module = Module::with_temp_heap(|module| -> std::result::Result<FrozenModule, String> {
            if let Some(prelude) = &prelude {
                module.import_public_symbols(prelude);
                if kind == FileKind::Buck {
                    // In build files every member of `native` is also a global.
                    if let Ok(Some(native)) = prelude.get_option("native") {
                        let native = super::analysis::import_frozen(&module, &native);
                        if let Some(s) = StructRef::from_value(native) {
                            for (k, v) in s.iter() {
                                module.set(k.as_str(), v);
                            }
                        }
                    }
                }
            }
            {
                let mut eval = Evaluator::new(&module);
                eval.set_loader(&loader);
                eval.extra = Some(&ctx);
                eval.eval_module(ast, &self.globals).map_err(|e| e.to_string())?;
            }
            module.freeze().map_err(|e| starlark::Error::from(e).to_string())
        })
        .map_err(load_err)?;
        Ok((module, ctx.targets.into_inner()))
    }
}
