//! The global environment shared by every file type (Buck2 registers all globals everywhere and
//! checks the evaluation context at call time), plus the load-time functions of §14.

use sha2::Digest;
use starlark::environment::{Globals, GlobalsBuilder, LibraryExtension};
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::dict::DictRef;
use starlark::values::list::{AllocList, ListRef};
use starlark::values::list_or_tuple::UnpackListOrTuple;
use starlark::values::none::{NoneOr, NoneType};
use starlark::values::starlark_value_as_type::StarlarkValueAsType;
use starlark::values::structs::AllocStruct;
use starlark::values::{Heap, Value};

use super::actions::AnalysisActions;
use super::analysis::AnalysisContext;
use super::artifacts::{Artifact, OutputArtifact};
use super::attrs::FrozenAttr;
use super::cmd_args::WriteJsonCliArgs;
use super::error::{sl_bail, sl_err};
use super::labels::{
    CellPath, StarlarkConfiguredTargetLabel, StarlarkLabel, StarlarkProvidersLabel, StarlarkTargetLabel,
};
use super::loader::{BuildContext, FileKind};
use super::providers::{FrozenDependency, FrozenProviderCallable, FrozenProviderCollection, FrozenProviderInstance};
use super::rule::{FrozenRule, FrozenTransition};
use super::select::FrozenSelect;

/// Build the globals (library extensions per `starlark_library_extensions_for_buck2`).
pub fn buck2_globals() -> Globals {
    use LibraryExtension::*;
    let ext = [
        StructType,
        RecordType,
        EnumType,
        NamespaceType,
        Map,
        Filter,
        Partial,
        Debug,
        Print,
        Pprint,
        Pstr,
        Prepr,
        Json,
        Typing,
        Internal,
        CallStack,
        SetType,
    ];
    let register = |b: &mut GlobalsBuilder| {
        super::rule::register_rule(b);
        super::attrs::register_attrs(b);
        super::providers::register_provider(b);
        super::builtin_providers::register_builtin_providers(b);
        super::cmd_args::register_cmd_args(b);
        super::select::register_select(b);
        load_time_functions(b);
        anywhere_functions(b);
        types(b);
    };
    let mut builder = GlobalsBuilder::extended_by(&ext);
    register(&mut builder);
    builder.namespace("__buck2_builtins__", register);
    builder.build()
}

fn require_buck<'a, 'e>(eval: &Evaluator<'_, 'e, 'a>, what: &str) -> starlark::Result<&'e BuildContext<'a>> {
    let ctx = BuildContext::get(eval)?;
    if ctx.kind != FileKind::Buck {
        return sl_bail(format!("`{what}()` can only be called from a build file (BUCK) or a macro called from one"));
    }
    Ok(ctx)
}

fn glob_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    let mut re = String::from("^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                    re.push_str("(?:.*/)?");
                } else {
                    re.push_str(".*");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re)
}

#[starlark_module]
fn load_time_functions(builder: &mut GlobalsBuilder) {
    /// `read_config(section, key, default=<absent value>)` from the build-file cell's buckconfig.
    #[starlark(speculative_exec_safe)]
    fn read_config<'v>(
        section: &str,
        key: &str,
        default: Option<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let ctx = BuildContext::get(eval)?;
        Ok(match ctx.project.cell_config(&ctx.cell).get(section, key) {
            Some(v) => eval.heap().alloc(v),
            None => default.unwrap_or_else(Value::new_none),
        })
    }

    /// `read_root_config(section, key, default: str | None = None, /)`.
    #[starlark(speculative_exec_safe)]
    fn read_root_config<'v>(
        #[starlark(require = pos)] section: &str,
        #[starlark(require = pos)] key: &str,
        #[starlark(require = pos, default = NoneOr::None)] default: NoneOr<&str>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let ctx = BuildContext::get(eval)?;
        Ok(match ctx.project.root_config.get(section, key).or(default.into_option()) {
            Some(v) => eval.heap().alloc(v),
            None => Value::new_none(),
        })
    }

    /// `host_info()`.
    #[starlark(speculative_exec_safe)]
    fn host_info<'v>(eval: &mut Evaluator<'v, '_, '_>) -> starlark::Result<Value<'v>> {
        BuildContext::get(eval)?;
        let heap = eval.heap();
        let os = std::env::consts::OS;
        let arch = std::env::consts::ARCH;
        let os_v = heap.alloc(AllocStruct([
            ("is_linux", os == "linux"),
            ("is_macos", os == "macos"),
            ("is_windows", os == "windows"),
            ("is_freebsd", os == "freebsd"),
            ("is_unknown", !["linux", "macos", "windows", "freebsd"].contains(&os)),
        ]));
        let arch_v = heap.alloc(AllocStruct([
            ("is_aarch64", arch == "aarch64"),
            ("is_arm", arch == "arm"),
            ("is_armeb", false),
            ("is_i386", arch == "x86"),
            ("is_mips", arch == "mips"),
            ("is_mips64", arch == "mips64"),
            ("is_mipsel", false),
            ("is_mipsel64", false),
            ("is_powerpc", arch == "powerpc"),
            ("is_ppc64", arch == "powerpc64"),
            ("is_riscv64", arch == "riscv64"),
            ("is_x86_64", arch == "x86_64"),
            ("is_unknown", false),
        ]));
        Ok(heap.alloc(AllocStruct([
            ("os", os_v),
            ("arch", arch_v),
            ("buck2", Value::new_bool(true)),
            ("xcode", Value::new_none()),
        ])))
    }

    /// `glob(include, *, exclude=[])`: files of the current package.
    fn glob<'v>(
        #[starlark(require = pos)] include: UnpackListOrTuple<String>,
        #[starlark(require = named)] exclude: Option<UnpackListOrTuple<String>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let ctx = require_buck(eval, "glob")?;
        let package = ctx.package.as_deref().unwrap_or("");
        let files = ctx.project.package_files(&ctx.cell, package).map_err(|e| sl_err(e.to_string()))?;
        let inc = include
            .items
            .iter()
            .map(|p| glob_regex(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| sl_err(e.to_string()))?;
        let exc = exclude
            .map(|e| e.items)
            .unwrap_or_default()
            .iter()
            .map(|p| glob_regex(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| sl_err(e.to_string()))?;
        let matched: Vec<String> = files
            .into_iter()
            .filter(|f| inc.iter().any(|r| r.is_match(f)) && !exc.iter().any(|r| r.is_match(f)))
            .collect();
        Ok(eval.heap().alloc(AllocList(matched)))
    }

    fn package_name(eval: &mut Evaluator<'_, '_, '_>) -> starlark::Result<String> {
        Ok(require_buck(eval, "package_name")?.package.clone().unwrap_or_default())
    }

    fn get_base_path(eval: &mut Evaluator<'_, '_, '_>) -> starlark::Result<String> {
        Ok(require_buck(eval, "get_base_path")?.package.clone().unwrap_or_default())
    }

    fn get_cell_name(eval: &mut Evaluator<'_, '_, '_>) -> starlark::Result<String> {
        Ok(BuildContext::get(eval)?.cell.clone())
    }

    fn repository_name(eval: &mut Evaluator<'_, '_, '_>) -> starlark::Result<String> {
        Ok(format!("@{}", BuildContext::get(eval)?.cell))
    }

    fn rule_exists(#[starlark(require = pos)] name: &str, eval: &mut Evaluator<'_, '_, '_>) -> starlark::Result<bool> {
        let _ = require_buck(eval, "rule_exists")?;
        Ok(BuildContext::get(eval)?.has_target(name))
    }

    /// `transitive_set(...)`: not modelled (fails when called, so `.bzl` files that only define
    /// sets still load if they do not call it at top level).
    fn transitive_set<'v>(#[starlark(kwargs)] kwargs: Value<'v>) -> starlark::Result<NoneType> {
        let _ = kwargs;
        sl_bail("`transitive_set` is not supported by the Buck2 model")
    }

    fn dynamic_actions<'v>(#[starlark(kwargs)] kwargs: Value<'v>) -> starlark::Result<NoneType> {
        let _ = kwargs;
        sl_bail("`dynamic_actions` is not supported by the Buck2 model")
    }
}

#[starlark_module]
fn anywhere_functions(builder: &mut GlobalsBuilder) {
    fn warning(#[starlark(require = pos)] x: &str) -> starlark::Result<NoneType> {
        eprintln!("WARNING: {x}");
        Ok(NoneType)
    }

    fn soft_error(
        #[starlark(require = pos)] category: &str,
        #[starlark(require = pos)] message: &str,
        #[starlark(require = named)] quiet: Option<bool>,
        #[starlark(require = named)] stack: Option<bool>,
    ) -> starlark::Result<NoneType> {
        let _ = (quiet, stack);
        eprintln!("soft error [{category}]: {message}");
        Ok(NoneType)
    }

    fn sha256(#[starlark(require = pos)] val: &str) -> starlark::Result<String> {
        Ok(hex::encode(sha2::Sha256::digest(val.as_bytes())))
    }

    fn regex_match(
        #[starlark(require = pos)] regex: &str,
        #[starlark(require = pos)] str: &str,
    ) -> starlark::Result<bool> {
        let re = regex::Regex::new(regex).map_err(|e| sl_err(format!("invalid regex `{regex}`: {e}")))?;
        Ok(re.is_match(str))
    }

    /// `dedupe(val, /)`: keeps the first occurrence of each value (by identity in Buck2; by
    /// equality here, which agrees for the immutable values rules pass).
    fn dedupe<'v>(#[starlark(require = pos)] val: Value<'v>, heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        let items = ListRef::from_value(val).ok_or_else(|| sl_err("dedupe() expects a list"))?;
        let mut out: Vec<Value<'v>> = Vec::new();
        for x in items.content() {
            let mut seen = false;
            for y in &out {
                if x.ptr_eq(*y) || x.equals(*y)? {
                    seen = true;
                    break;
                }
            }
            if !seen {
                out.push(*x);
            }
        }
        Ok(heap.alloc(AllocList(out)))
    }

    /// `load_symbols(symbols: dict[str, Any])`: define module globals (and name rules/providers).
    fn load_symbols<'v>(
        #[starlark(require = pos)] symbols: DictRef<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<NoneType> {
        let entries: Vec<(Value<'v>, Value<'v>)> = symbols.iter().collect();
        drop(symbols);
        for (k, v) in entries {
            let k = k.unpack_str().ok_or_else(|| sl_err("load_symbols keys must be strings"))?;
            eval.set_module_variable_at_some_point(k, v)?;
        }
        Ok(NoneType)
    }
}

#[starlark_module]
#[allow(non_upper_case_globals)]
fn types(builder: &mut GlobalsBuilder) {
    const Artifact: StarlarkValueAsType<Artifact> = StarlarkValueAsType::new();
    const OutputArtifact: StarlarkValueAsType<OutputArtifact> = StarlarkValueAsType::new();
    const Label: StarlarkValueAsType<StarlarkLabel> = StarlarkValueAsType::new();
    const TargetLabel: StarlarkValueAsType<StarlarkTargetLabel> = StarlarkValueAsType::new();
    const ConfiguredTargetLabel: StarlarkValueAsType<StarlarkConfiguredTargetLabel> = StarlarkValueAsType::new();
    const ProvidersLabel: StarlarkValueAsType<StarlarkProvidersLabel> = StarlarkValueAsType::new();
    const CellPath: StarlarkValueAsType<CellPath> = StarlarkValueAsType::new();
    const Provider: StarlarkValueAsType<FrozenProviderInstance> = StarlarkValueAsType::new();
    const ProviderCallable: StarlarkValueAsType<FrozenProviderCallable> = StarlarkValueAsType::new();
    const ProviderCollection: StarlarkValueAsType<FrozenProviderCollection> = StarlarkValueAsType::new();
    const Dependency: StarlarkValueAsType<FrozenDependency> = StarlarkValueAsType::new();
    const AnalysisContext: StarlarkValueAsType<AnalysisContext<'static>> = StarlarkValueAsType::new();
    const AnalysisActions: StarlarkValueAsType<AnalysisActions> = StarlarkValueAsType::new();
    const Rule: StarlarkValueAsType<FrozenRule> = StarlarkValueAsType::new();
    const Transition: StarlarkValueAsType<FrozenTransition> = StarlarkValueAsType::new();
    const Attr: StarlarkValueAsType<FrozenAttr> = StarlarkValueAsType::new();
    const Select: StarlarkValueAsType<FrozenSelect> = StarlarkValueAsType::new();
    const WriteJsonCliArgs: StarlarkValueAsType<WriteJsonCliArgs> = StarlarkValueAsType::new();
}
