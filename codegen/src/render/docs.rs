//! The API reference under `docs/reference/`: one page per rule for both systems, plus
//! providers, settings, helper functions and the tool's actions.

use std::fmt::Write;

use crate::render::rust::rust_type;
use crate::render::{header, File};
use crate::spec::{Attr, AttrType, Body, Default, Rule, RuleKind, Spec};

pub fn render(spec: &Spec) -> Vec<File> {
    let mut files = vec![
        File::new("docs/reference/README.md", index(spec)),
        File::new("docs/reference/providers.md", providers(spec)),
        File::new("docs/reference/settings.md", settings(spec)),
        File::new("docs/reference/actions.md", actions(spec)),
    ];
    for rule in &spec.rules {
        files.push(File::new(format!("docs/reference/{}.md", rule.name), rule_page(spec, rule)));
    }
    for function in &spec.functions {
        let mut out = header("<!--");
        let _ = writeln!(out, "# {}\n\n{}\n", function.name, function.doc);
        let load = format!("load(\"@rules_img//img:{}\", \"{}\")", function.file.file_name(), function.name);
        let _ =
            writeln!(out, "```python\n{load}\n```\n\nSame on Bazel and Buck2.\n\n| parameter | meaning |\n|---|---|");
        for (p, d) in &function.params {
            let _ = writeln!(out, "| `{p}` | {} |", cell(d));
        }
        let _ = writeln!(out, "\nReturns a JSON string (`{}` of the tool's contract).", function.returns_json_of);
        files.push(File::new(format!("docs/reference/{}.md", function.name), out));
    }
    files
}

fn status(rule: &Rule) -> String {
    match &rule.body {
        Body::NotYet { capability } => {
            format!("**Not yet.** Declared in full; analysis fails until it has {capability}.")
        }
        _ => "Available.".to_string(),
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn index(spec: &Spec) -> String {
    let mut out = header("<!--");
    out.push_str("# API reference\n\nThe same load points, rule names, attributes and defaults on Bazel (`@rules_img`) and Buck2 (cell `rules_img`).\n\n");
    out.push_str("| symbol | load | status |\n|---|---|---|\n");
    for rule in &spec.rules {
        let short = match &rule.body {
            Body::NotYet { .. } => "not yet",
            _ => "available",
        };
        let _ =
            writeln!(out, "| [`{0}`]({0}.md) | `@rules_img//img:{1}` | {short} |", rule.name, rule.file.file_name());
    }
    for f in &spec.functions {
        let _ = writeln!(out, "| [`{0}`]({0}.md) | `@rules_img//img:{1}` | available |", f.name, f.file.file_name());
    }
    out.push_str("\nAlso: [providers](providers.md), [settings](settings.md), [the tool's actions](actions.md).\n");
    out
}

fn rule_page(spec: &Spec, rule: &Rule) -> String {
    let mut out = header("<!--");
    let _ = writeln!(out, "# {}\n\n{}\n\n{}\n", rule.name, status(rule), rule.doc);
    let load = format!("load(\"@rules_img//img:{}\", \"{}\")", rule.file.file_name(), rule.name);
    let _ = writeln!(out, "```python\n{load}\n```\n");
    let kind = match rule.kind {
        RuleKind::Build => "build rule on both systems",
        RuleKind::Executable => "runnable: `bazel run` / `buck2 run`",
        RuleKind::Toolchain => "toolchain: a registered toolchain type on Bazel, `toolchains//:img` on Buck2",
        RuleKind::Repository => "Bazel repository rule (use with `use_repo_rule`); a build rule on Buck2",
    };
    let _ = writeln!(out, "Kind: {kind}.\n\n## Attributes\n");
    out.push_str("| name | Bazel | Buck2 | default | description |\n|---|---|---|---|---|\n");
    for a in &rule.attrs {
        let _ = writeln!(
            out,
            "| `{}` | `{}` | `{}` | {} | {} |",
            a.name,
            bazel_type(a),
            buck2_type(a),
            default_text(a),
            cell(a.doc)
        );
    }
    if !rule.output_groups.is_empty() {
        out.push_str("\n## Outputs\n\nOutput groups on Bazel (`--output_groups=NAME`), sub-targets on Buck2 (`//pkg:target[NAME]`):\n\n");
        for (name, doc) in &rule.output_groups {
            let _ = writeln!(out, "- `{name}`: {doc}");
        }
    }
    if !rule.provides.is_empty() {
        out.push_str("\n## Providers\n\n");
        for p in &rule.provides {
            let _ = writeln!(out, "- [`{p}`](providers.md#{})", p.to_lowercase());
        }
    }
    if !rule.settings.is_empty() {
        out.push_str("\n## Settings read\n\n");
        for s in &rule.settings {
            let default = spec.setting(s).map(|s| s.default).unwrap_or("");
            let _ = writeln!(out, "- [`{s}`](settings.md#{s}) (default `{default}`)");
        }
    }
    if !rule.buck2_note.is_empty() {
        let _ = writeln!(out, "\n## On Buck2\n\n{}", rule.buck2_note);
    }
    out
}

fn default_text(a: &Attr) -> String {
    match &a.default {
        Default::Required => "**required**".into(),
        Default::None => "`None`".into(),
        Default::Str(s) => format!("`{s:?}`"),
        Default::Bool(b) => format!("`{}`", if *b { "True" } else { "False" }),
        Default::Int(i) => format!("`{i}`"),
        Default::StrList(items) => format!("`{items:?}`"),
        Default::StrDict(items) => {
            let pairs: Vec<String> = items.iter().map(|(k, v)| format!("{k:?}: {v:?}")).collect();
            format!("`{{{}}}`", pairs.join(", "))
        }
    }
}

fn values(a: &Attr) -> String {
    match &a.ty {
        AttrType::Enum(values) => format!(" ∈ {}", values.join("/")),
        _ => String::new(),
    }
}

fn bazel_type(a: &Attr) -> String {
    let ty = match &a.ty {
        AttrType::String | AttrType::Enum(_) => "attr.string",
        AttrType::Bool => "attr.bool",
        AttrType::Int => "attr.int",
        AttrType::StringList => "attr.string_list",
        AttrType::StringDict => "attr.string_dict",
        AttrType::File | AttrType::Tool | AttrType::Dep(_) | AttrType::Platform => "attr.label",
        AttrType::DepList(_) | AttrType::FileList | AttrType::PlatformList => "attr.label_list",
        AttrType::PathToTarget | AttrType::NameToTarget => "attr.string_keyed_label_dict",
        AttrType::Records => return "(Buck2 only)".to_string(),
    };
    format!("{ty}{}", values(a))
}

fn buck2_type(a: &Attr) -> String {
    let ty = match &a.ty {
        AttrType::String => "attrs.string",
        AttrType::Enum(_) => "attrs.enum",
        AttrType::Bool => "attrs.bool",
        AttrType::Int => "attrs.int",
        AttrType::StringList => "attrs.list(attrs.string())",
        AttrType::StringDict => "attrs.dict(attrs.string(), attrs.string())",
        AttrType::File | AttrType::Tool => "attrs.source",
        AttrType::Dep(_) => "attrs.dep",
        AttrType::DepList(_) => "attrs.list(attrs.dep())",
        AttrType::Platform => "attrs.label",
        AttrType::PlatformList => "attrs.list(attrs.label())",
        AttrType::FileList => "attrs.list(attrs.source())",
        AttrType::PathToTarget => "attrs.dict(attrs.string(), attrs.one_of(attrs.dep(), attrs.source()))",
        AttrType::NameToTarget => "attrs.dict(attrs.string(), attrs.dep())",
        AttrType::Records => "attrs.list(attrs.dict(attrs.string(), attrs.any()))",
    };
    let optional = a.default == Default::None;
    let ty = if optional { format!("attrs.option({ty})") } else { ty.to_string() };
    format!("{ty}{}", values(a))
}

fn providers(spec: &Spec) -> String {
    let mut out = header("<!--");
    out.push_str("# Providers\n\nPublic providers load from `@rules_img//img:providers.bzl` on both systems. On Buck2 every field is a `provider_field(typing.Any, default = None)`.\n");
    for p in &spec.providers {
        let visibility = if p.public { "public" } else { "private" };
        let _ = writeln!(out, "\n## {}\n\n{} ({visibility})\n\n| field | meaning |\n|---|---|", p.name, p.doc);
        for (f, d) in &p.fields {
            let _ = writeln!(out, "| `{f}` | {} |", cell(d));
        }
    }
    out
}

fn settings(spec: &Spec) -> String {
    let mut out = header("<!--");
    out.push_str(
        "# Settings\n\nOn Bazel each setting is a flag: `--@rules_img//img/settings:<name>=<value>` (e.g. in `.bazelrc`).\n\
         On Buck2 each is a key of the `[rules_img]` section of the root `.buckconfig`, read when the rules load;\n\
         a value outside the allowed list fails with an error naming the key.\n\n\
         | setting | default | allowed | meaning |\n|---|---|---|---|\n",
    );
    for s in &spec.settings {
        let allowed = if s.values.is_empty() { "any".to_string() } else { s.values.join(", ") };
        let _ =
            writeln!(out, "| <a id=\"{0}\"></a>`{0}` | `{1:?}` | {allowed} | {2} |", s.name, s.default, cell(s.doc));
    }
    out
}

fn actions(spec: &Spec) -> String {
    let mut out = header("<!--");
    out.push_str(
        "# The tool's actions\n\nEvery build action runs `img <subcommand> --request <file.json> --output <name>=<path>...`.\n\
         The request types live in the `img-contract` crate (`generated/`), rendered from the same spec as the\n\
         Starlark, so rules and tool cannot drift: unknown fields are rejected.\n",
    );
    for action in &spec.actions {
        let _ = writeln!(
            out,
            "\n## `img {}`\n\n{}\n\nRequest `{}`:\n\n| field | type | meaning |\n|---|---|---|",
            action.subcommand, action.doc, action.request
        );
        for f in &action.fields {
            let _ = writeln!(out, "| `{}` | `{}` | {} |", f.json.unwrap_or(f.name), rust_type(&f.ty), cell(f.doc));
        }
        out.push_str("\nOutputs:\n\n");
        for (name, doc) in &action.outputs {
            let _ = writeln!(out, "- `{name}`: {doc}");
        }
        for (name, doc) in &action.indexed_outputs {
            let _ = writeln!(out, "- `{name}.<N>` (N from 0): {doc}");
        }
    }
    out
}
