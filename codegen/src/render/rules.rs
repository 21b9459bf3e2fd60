//! What the Bazel and Buck2 renderers share: a rule implementation is the same statements on
//! both systems; only attribute access, output declaration and return values differ.

use crate::render::starlark::{call, kw, list, raw, string, Code, Source};
use crate::spec::{Expr, Impl, Ret, Rule, Spec, Step};

/// The differences between the two systems that rule implementations see.
pub trait Dialect {
    /// `ctx.attr` or `ctx.attrs`.
    fn attrs(&self) -> &'static str;
    /// The file of a single-file attribute (Bazel `ctx.file.x`, Buck2 `ctx.attrs.x`).
    fn file(&self, attr: &str) -> String;
    /// A setting's value.
    fn setting(&self, name: &str) -> String;
    /// The hidden attribute holding a setting.
    fn setting_attr(&self, name: &str) -> String {
        format!("ctx.{}._{name}", self.attrs())
    }
    /// `ctx.actions.declare_file` / `ctx.actions.declare_output`.
    fn declare(&self) -> &'static str;
    /// Declares an output directory named `name`.
    fn declare_dir(&self, name: Code) -> Code;
    /// The files of a file-list attribute.
    fn files(&self, attr: &str) -> String;
    /// The paths of the files of a file-list attribute.
    fn file_paths(&self, attr: &str) -> String;
    /// The `return [...]` list of a rule implementation.
    fn returns(&self, spec: &Spec, returns: &[Ret]) -> Vec<Code>;
    /// The signature line of a rule implementation.
    fn impl_signature(&self, rule: &Rule) -> String;
}

/// The `def _<rule>_impl(ctx):` function of a rule.
pub fn implementation(dialect: &dyn Dialect, spec: &Spec, rule: &Rule, body: &Impl, out: &mut Source) {
    out.line(0, &dialect.impl_signature(rule));
    for step in &body.steps {
        match step {
            Step::Let(name, value) => out.assign(1, name, &expr(dialect, value)),
            Step::Do(value) => out.assign(1, "", &expr(dialect, value)),
            Step::Declare { var, suffix } => {
                let name = Code::Raw(format!("ctx.label.name + {}", expr(dialect, suffix).flat()));
                out.assign(1, var, &call(dialect.declare(), vec![crate::render::starlark::pos(name)]));
            }
            Step::WriteDocument { var, suffix, fields, .. } => {
                let document = Code::Dict(fields.iter().map(|(k, v)| (string(*k), expr(dialect, v))).collect());
                let write = call(
                    "write_document",
                    vec![
                        crate::render::starlark::pos(raw("ctx")),
                        crate::render::starlark::pos(string(*suffix)),
                        crate::render::starlark::pos(document),
                    ],
                );
                out.assign(1, var, &write);
            }
            Step::DeclareDir { var, suffix } => {
                let name = Code::Raw(format!("ctx.label.name + {}", expr(dialect, suffix).flat()));
                out.assign(1, var, &dialect.declare_dir(name));
            }
            Step::Run(run) => {
                let action = spec.action(run.action).expect("checked by spec::check");
                let request = Code::Dict(run.request.iter().map(|(k, v)| (string(*k), expr(dialect, v))).collect());
                let mut outputs = Code::Dict(run.outputs.iter().map(|(k, v)| (string(*k), raw(*v))).collect());
                if !run.output_sets.is_empty() {
                    let mut args = vec![crate::render::starlark::pos(outputs)];
                    args.extend(run.output_sets.iter().map(|e| crate::render::starlark::pos(expr(dialect, e))));
                    outputs = call("merge_outputs", args);
                }
                let run_img = call(
                    "run_img",
                    vec![
                        crate::render::starlark::pos(raw("ctx")),
                        kw("action", string(action.subcommand)),
                        kw("mnemonic", string(action.mnemonic)),
                        kw("request", request),
                        kw("inputs", list(run.inputs.iter().map(|e| expr(dialect, e)).collect())),
                        kw("input_sets", list(run.input_sets.iter().map(|e| expr(dialect, e)).collect())),
                        kw("outputs", outputs),
                    ],
                );
                out.assign(1, "", &run_img);
            }
        }
    }
    let (extends, returns): (Vec<&Ret>, Vec<&Ret>) = body.returns.iter().partition(|r| matches!(r, Ret::Extend(_)));
    let returns: Vec<Ret> = returns.into_iter().cloned().collect();
    let providers = list(dialect.returns(spec, &returns));
    if extends.is_empty() {
        out.assign(1, "return", &providers);
    } else {
        let mut text = providers.print(4);
        for extend in extends {
            if let Ret::Extend(e) = extend {
                text.push_str(&format!(" + {}", expr(dialect, e).flat()));
            }
        }
        out.line(1, &format!("return {text}"));
    }
}

/// An expression of the spec as Starlark.
pub fn expr(dialect: &dyn Dialect, e: &Expr) -> Code {
    let attrs = dialect.attrs();
    match e {
        Expr::Str(s) => string(*s),
        Expr::Var(v) => raw(*v),
        Expr::Attr(a) => raw(format!("ctx.{attrs}.{a}")),
        Expr::File(a) => raw(dialect.file(a)),
        Expr::FilePath(a) => raw(format!("file_path({})", dialect.file(a))),
        Expr::PathOf(v) => raw(format!("file_path({})", expr(dialect, v).flat())),
        Expr::Files(a) => raw(dialect.files(a)),
        Expr::FilePaths(a) => raw(dialect.file_paths(a)),
        Expr::Name => raw("ctx.label.name"),
        Expr::Ctx => raw("ctx"),
        Expr::None => raw("None"),
        Expr::Bool(b) => raw(if *b { "True" } else { "False" }),
        Expr::Auto { attr, setting } => {
            raw(format!("resolve_auto(ctx.{attrs}.{attr}, {})", dialect.setting_attr(setting)))
        }
        Expr::Setting(s) => raw(dialect.setting(s)),
        Expr::Call(f, args) => call(*f, args.iter().map(|a| crate::render::starlark::pos(expr(dialect, a))).collect()),
        Expr::Eq(l, r) => raw(format!("{} == {}", expr(dialect, l).flat(), expr(dialect, r).flat())),
        Expr::Pick(map, key) => {
            let map: Vec<String> =
                map.iter().map(|(k, v)| format!("{}: {}", string(*k).flat(), string(*v).flat())).collect();
            raw(format!("{{{}}}[{}]", map.join(", "), expr(dialect, key).flat()))
        }
        Expr::Field(v, f) => raw(format!("{}.{f}", expr(dialect, v).flat())),
        Expr::List(items) => list(items.iter().map(|i| expr(dialect, i)).collect()),
        Expr::NoneIfEmpty(v) => raw(format!("{} or None", expr(dialect, v).flat())),
        Expr::Make(p, fields) => call(*p, fields.iter().map(|(k, v)| kw(*k, expr(dialect, v))).collect()),
        Expr::Dict(items) => Code::Dict(items.iter().map(|(k, v)| (string(*k), expr(dialect, v))).collect()),
    }
}

/// The names a piece of generated code uses from a library, in sorted order: the library's
/// public top-level names that occur in `code` as whole words.
pub fn used_names(library_names: &[String], code: &str) -> Vec<String> {
    let code = &without_strings(code);
    let mut used: Vec<String> = library_names
        .iter()
        .filter(|name| {
            code.match_indices(name.as_str()).any(|(at, _)| {
                let before = code[..at].chars().next_back();
                let after = code[at + name.len()..].chars().next();
                // `x.name` is an attribute, not the name; `name.field` is a use of the name.
                let before_word = before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.');
                let after_word = after.is_some_and(|c| c.is_alphanumeric() || c == '_');
                !before_word && !after_word
            })
        })
        .cloned()
        .collect();
    used.sort();
    used.dedup();
    used
}

/// The code with the contents of string literals blanked, so that words in doc strings do
/// not count as uses.
fn without_strings(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in code.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
                out.push('"');
            }
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        out.push(c);
    }
    out
}

/// The public top-level names (`def name` and `NAME =`) of a Starlark library.
pub fn public_names(library: &str) -> Vec<String> {
    library
        .lines()
        .filter_map(|line| {
            let name = if let Some(rest) = line.strip_prefix("def ") {
                rest.split('(').next()?
            } else {
                line.split(" = ").next().filter(|n| !n.contains(' ') && n.len() < line.len())?
            };
            (!name.starts_with('_') && !name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

/// The `load(...)` line of a library, with the names `code` uses; `None` when it uses none.
pub fn load_line(label: &str, library_names: &[String], code: &str) -> Option<String> {
    let used = used_names(library_names, code);
    if used.is_empty() {
        return None;
    }
    let names: Vec<String> = used.iter().map(|n| format!("\"{n}\"")).collect();
    Some(format!("load(\"{label}\", {})", names.join(", ")))
}
