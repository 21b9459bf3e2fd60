//! The Buck2 cell `rules_img`: the same load points as the Bazel module, prelude-style rules.

use crate::render::rules::{self, Dialect};
use crate::render::starlark::{call, dict, kw, list, pos, raw, string, string_list, Code, Source};
use crate::render::{header, File};
use crate::spec::{Attr, AttrType, Body, Default, LoadFile, Ret, Rule, RuleKind, Spec, Transition};

const COMMON: &str = include_str!("adapters/buck2_common.bzl");
const COMMON_LABEL: &str = "//img/private:common.bzl";
const PROVIDERS_LABEL: &str = "//img/private:providers.bzl";
const SETTINGS_LABEL: &str = "//img/private:settings.bzl";
const PLATFORM_LABEL: &str = "//img/private:platform.bzl";
/// Where consumers instantiate the img toolchain.
pub const TOOLCHAIN_TARGET: &str = "toolchains//:img";

struct Buck2;

impl Dialect for Buck2 {
    fn attrs(&self) -> &'static str {
        "attrs"
    }
    fn file(&self, attr: &str) -> String {
        format!("ctx.attrs.{attr}")
    }
    fn setting(&self, name: &str) -> String {
        format!("ctx.attrs._{name}")
    }
    fn declare(&self) -> &'static str {
        "ctx.actions.declare_output"
    }
    fn declare_dir(&self, name: Code) -> Code {
        call("ctx.actions.declare_output", vec![pos(name), kw("dir", raw("True"))])
    }
    fn files(&self, attr: &str) -> String {
        format!("ctx.attrs.{attr}")
    }
    fn file_paths(&self, attr: &str) -> String {
        format!("ctx.attrs.{attr}")
    }
    fn impl_signature(&self, rule: &Rule) -> String {
        format!("def _{}_impl(ctx: AnalysisContext) -> list[Provider]:", rule.name)
    }
    fn returns(&self, _spec: &Spec, returns: &[Ret]) -> Vec<Code> {
        let outputs = |vars: &[&str]| list(vars.iter().map(|v| raw(*v)).collect());
        let mut default = Vec::new();
        let mut groups = Vec::new();
        let mut others = Vec::new();
        for ret in returns {
            match ret {
                Ret::Default(vars) => default.push(kw("default_outputs", outputs(vars))),
                Ret::Runnable(launcher) => {
                    let launcher = rules::expr(self, launcher).flat();
                    default.push(kw("default_outputs", raw(format!("{launcher}.outputs"))));
                    others.push(call("RunInfo", vec![kw("args", raw(format!("{launcher}.args")))]));
                }
                Ret::Group(name, vars) => groups
                    .push((string(*name), list(vec![call("DefaultInfo", vec![kw("default_outputs", outputs(vars))])]))),
                Ret::Provider(p, fields) => others.push(rules::expr(self, &crate::spec::Expr::Make(p, fields.clone()))),
                Ret::Extend(_) => unreachable!("rendered by rules::implementation"),
            }
        }
        if !groups.is_empty() {
            default.push(kw("sub_targets", dict(groups)));
        }
        let mut out = vec![call("DefaultInfo", default)];
        out.extend(others);
        out
    }
}

pub fn render(spec: &Spec) -> Vec<File> {
    let mut files = vec![
        File::new("buck2/img/private/common.bzl", format!("{}{COMMON}", header("#"))),
        File::new("buck2/img/private/providers.bzl", providers(spec, false)),
        File::new("buck2/img/private/settings.bzl", settings(spec)),
        File::new("buck2/img/private/platform.bzl", platform(spec)),
        File::new("buck2/img/providers.bzl", providers(spec, true)),
        File::new("buck2/img/media_types.bzl", media_types()),
    ];
    for file in LoadFile::ALL {
        files.push(File::new(format!("buck2/img/{}", file.file_name()), load_file(spec, file)));
    }
    files
}

fn settings(spec: &Spec) -> String {
    let mut out = Source::new();
    out.docstring(0, "Global settings, read once from the `[rules_img]` section of the root `.buckconfig`.");
    out.blank();
    out.line(0, &format!("load(\"{COMMON_LABEL}\", \"setting\")"));
    out.blank();
    let fields = spec
        .settings
        .iter()
        .map(|s| {
            let value = call("setting", vec![pos(string(s.name)), pos(string(s.default)), pos(string_list(s.values))]);
            kw(s.name, value)
        })
        .collect();
    out.assign(0, "SETTINGS", &call("struct", fields));
    format!("{}{}", header("#"), out.finish())
}

/// `PLATFORM`: the OCI platform of the target platform, by select over the prelude's constraints.
fn platform(spec: &Spec) -> String {
    let select = |values: Vec<(&str, &str)>| {
        let mut items: Vec<(Code, Code)> = values.into_iter().map(|(k, v)| (string(k), string(v))).collect();
        items.push((string("DEFAULT"), string("")));
        call("select", vec![pos(dict(items))])
    };
    let mut out = Source::new();
    out.docstring(
        0,
        "The OCI os, architecture and variant of the target platform, from `config//os` and `config//cpu`.",
    );
    out.blank();
    let platform = call(
        "struct",
        vec![
            kw("os", select(spec.oses.iter().map(|o| (o.buck2, o.value)).collect())),
            kw("architecture", select(spec.cpus.iter().map(|c| (c.buck2, c.value)).collect())),
            kw(
                "variant",
                select(spec.cpus.iter().filter(|c| !c.variant.is_empty()).map(|c| (c.buck2, c.variant)).collect()),
            ),
        ],
    );
    out.assign(0, "PLATFORM", &platform);
    format!("{}{}", header("#"), out.finish())
}

fn media_types() -> String {
    let mut out = Source::new();
    out.docstring(0, "Layer media types.");
    out.blank();
    for (name, value) in crate::render::MEDIA_TYPES {
        out.assign(0, name, &string(*value));
    }
    format!("{}{}", header("#"), out.finish())
}

fn providers(spec: &Spec, public: bool) -> String {
    let mut out = Source::new();
    if public {
        out.docstring(0, "The providers of rules_img.");
        out.blank();
        let names: Vec<&str> = spec.providers.iter().filter(|p| p.public).map(|p| p.name).collect();
        let mut loads: Vec<String> = names.iter().map(|n| format!("_{n} = \"{n}\"")).collect();
        loads.sort();
        out.line(0, &format!("load(\"{PROVIDERS_LABEL}\", {})", loads.join(", ")));
        out.blank();
        for name in names {
            out.assign(0, name, &raw(format!("_{name}")));
        }
    } else {
        out.docstring(0, "Provider definitions; the public ones are re-exported by //img:providers.bzl.");
        for p in &spec.providers {
            out.blank();
            let fields = dict(
                p.fields
                    .iter()
                    .map(|(f, _)| {
                        (string(*f), call("provider_field", vec![pos(raw("typing.Any")), kw("default", raw("None"))]))
                    })
                    .collect(),
            );
            out.assign(0, p.name, &call("provider", vec![kw("doc", string(provider_doc(p))), kw("fields", fields)]));
        }
    }
    format!("{}{}", header("#"), out.finish())
}

/// Buck2's `provider_field` has no doc, so the field docs go into the provider's doc.
fn provider_doc(p: &crate::spec::Provider) -> String {
    let fields: Vec<String> = p.fields.iter().map(|(f, d)| format!("{f}: {d}")).collect();
    format!("{} Fields: {}", p.doc, fields.join(" "))
}

fn load_file(spec: &Spec, file: LoadFile) -> String {
    let mut body = Source::new();
    for rule in spec.rules.iter().filter(|r| r.file == file) {
        render_rule(spec, rule, &mut body);
        body.blank();
    }
    for function in spec.functions.iter().filter(|f| f.file == file) {
        let params: Vec<String> = function.params.iter().map(|(p, _)| format!("{p} = None")).collect();
        body.line(0, &format!("def {}({}) -> str:", function.name, params.join(", ")));
        let mut doc = format!("{}\n\nArgs:\n", function.doc);
        for (p, d) in &function.params {
            doc.push_str(&format!("  {p}: {d}\n"));
        }
        doc.push_str("\nReturns:\n  A JSON string.");
        body.docstring(1, &doc);
        let values = dict(function.params.iter().map(|(p, _)| (string(*p), raw(*p))).collect());
        body.assign(1, "return", &call("file_metadata_json", vec![pos(values)]));
        body.blank();
    }
    if file == LoadFile::ImageToolchain {
        body.line(0, "def img_toolchain(name: str, tool_exe: str, **kwargs):");
        body.docstring(
            1,
            &format!(
                "Declares the img toolchain; instantiate it as `{TOOLCHAIN_TARGET}`.\n\n\
                 Args:\n  name: Name of the toolchain target (`img` in the `toolchains` cell).\n  \
                 tool_exe: The img executable.\n  **kwargs: Passed on to `image_toolchain`."
            ),
        );
        body.assign(
            1,
            "",
            &call(
                "image_toolchain",
                vec![kw("name", raw("name")), kw("tool_exe", raw("tool_exe")), pos(raw("**kwargs"))],
            ),
        );
        body.blank();
        body.assign(0, "TOOLCHAIN_TYPE", &string(TOOLCHAIN_TARGET));
    }
    let body = body.finish();
    let mut out = Source::new();
    out.docstring(0, file.summary());
    out.blank();
    let mut loads = Vec::new();
    loads.extend(rules::load_line(COMMON_LABEL, &rules::public_names(COMMON), &body));
    let provider_names: Vec<String> = spec.providers.iter().map(|p| p.name.to_string()).collect();
    loads.extend(rules::load_line(PROVIDERS_LABEL, &provider_names, &body));
    loads.extend(rules::load_line(PLATFORM_LABEL, &["PLATFORM".to_string()], &body));
    loads.extend(rules::load_line(SETTINGS_LABEL, &["SETTINGS".to_string()], &body));
    for load in &loads {
        out.line(0, load);
    }
    if !loads.is_empty() {
        out.blank();
    }
    format!("{}{}{}", header("#"), out.into_raw(), body)
}

fn render_rule(spec: &Spec, rule: &Rule, out: &mut Source) {
    match &rule.body {
        Body::Impl(body) => rules::implementation(&Buck2, spec, rule, body, out),
        Body::NotYet { capability } => {
            out.line(0, &Buck2.impl_signature(rule));
            let fail = call("fail_not_yet", vec![pos(raw("ctx")), pos(string(rule.name)), pos(string(*capability))]);
            out.assign(1, "", &fail);
        }
        Body::Builtin => {}
    }
    if !matches!(rule.body, Body::Builtin) {
        out.blank();
    }
    let implementation = match rule.body {
        Body::Builtin => format!("{}_impl", rule.name),
        _ => format!("_{}_impl", rule.name),
    };
    let mut attrs: Vec<(Code, Code)> = rule.attrs.iter().map(|a| (string(a.name), attr(a))).collect();
    for setting in &rule.settings {
        let default = call("attrs.string", vec![kw("default", raw(format!("SETTINGS.{setting}")))]);
        attrs.push((string(format!("_{setting}")), call("attrs.default_only", vec![pos(default)])));
    }
    if rule.reads_platform {
        for field in ["os", "architecture", "variant"] {
            let default = call("attrs.string", vec![kw("default", raw(format!("PLATFORM.{field}")))]);
            attrs.push((string(format!("_{field}")), call("attrs.default_only", vec![pos(default)])));
        }
    }
    if rule.transition == Some(Transition::SplitManifests) {
        let dep = call("attrs.configured_dep", vec![kw("providers", list(vec![raw("ImageManifestInfo")]))]);
        let configured = call(
            "attrs.list",
            vec![
                pos(dep),
                kw("default", list(vec![])),
                kw("doc", string("Set by the image_index macro: each manifest paired with each platform.")),
            ],
        );
        attrs.push((string("_configured_manifests"), configured));
    }
    // Rules that run img: every implemented rule, and `pull`, which fetches in an action here.
    if matches!(rule.body, Body::Impl(_)) || rule.kind == RuleKind::Repository {
        let toolchain = call(
            "attrs.toolchain_dep",
            vec![kw("default", string(TOOLCHAIN_TARGET)), kw("providers", list(vec![raw("ImageToolchainInfo")]))],
        );
        attrs.push((string("_img_toolchain"), call("attrs.default_only", vec![pos(toolchain)])));
    }
    let mut args = vec![kw("impl", raw(implementation)), kw("doc", string(rule_doc(rule))), kw("attrs", dict(attrs))];
    if rule.kind == RuleKind::Toolchain {
        args.push(kw("is_toolchain_rule", raw("True")));
    }
    match rule.transition {
        None => out.assign(0, rule.name, &call("rule", args)),
        Some(transition) => {
            out.assign(0, &format!("_{}", rule.name), &call("rule", args));
            out.blank();
            transition_macro(rule, transition, out);
        }
    }
}

/// Buck2 transitions are configured dependencies: the public name is a macro that pairs targets
/// with platforms (`attrs.configured_dep`) and calls the rule.
fn transition_macro(rule: &Rule, transition: Transition, out: &mut Source) {
    let name = rule.name;
    match transition {
        Transition::ToPlatform => {
            out.line(0, &format!("def {name}(name, platform = None, **kwargs):"));
            out.docstring(
                1,
                &format!(
                    "{}\n\nArgs:\n  name: The target name.\n  platform: Build the image for this platform (a `platform` \
                     target) instead of the target platform.\n  **kwargs: The rule's other attributes.",
                    rule.doc
                ),
            );
            out.line(1, "if platform == None:");
            out.assign(2, "", &call(format!("_{name}"), vec![kw("name", raw("name")), pos(raw("**kwargs"))]));
            out.line(2, "return");
            out.assign(
                1,
                "",
                &call(
                    format!("_{name}"),
                    vec![
                        kw("name", raw("name + \"__unconfigured\"")),
                        kw("platform", raw("platform")),
                        pos(raw("**kwargs")),
                    ],
                ),
            );
            out.assign(
                1,
                "",
                &call(
                    "platform_alias",
                    vec![
                        kw("name", raw("name")),
                        kw("actual", raw("(\":\" + name + \"__unconfigured\", platform)")),
                        kw("visibility", raw("kwargs.get(\"visibility\", [])")),
                    ],
                ),
            );
        }
        Transition::SplitManifests => {
            out.line(0, &format!("def {name}(name, manifests = [], platforms = [], **kwargs):"));
            out.docstring(
                1,
                &format!(
                    "{}\n\nArgs:\n  name: The target name.\n  manifests: The manifests of the index.\n  platforms: Build \
                     each manifest once per platform (`platform` targets).\n  **kwargs: The rule's other attributes.",
                    rule.doc
                ),
            );
            let call_rule = call(
                format!("_{name}"),
                vec![
                    kw("name", raw("name")),
                    kw("manifests", raw("[] if platforms else manifests")),
                    kw("platforms", raw("platforms")),
                    kw(
                        "_configured_manifests",
                        raw("[(manifest, platform) for platform in platforms for manifest in manifests]"),
                    ),
                    pos(raw("**kwargs")),
                ],
            );
            out.assign(1, "", &call_rule);
        }
    }
}

fn rule_doc(rule: &Rule) -> String {
    if rule.buck2_note.is_empty() {
        rule.doc.to_string()
    } else {
        format!("{}\n\nOn Buck2: {}", rule.doc, rule.buck2_note)
    }
}

/// An attribute as `attrs.<type>(...)`.
fn attr(a: &Attr) -> Code {
    let doc = kw("doc", string(a.doc));
    let optional = a.default == Default::None;
    let inner = |code: Code| -> Code {
        if optional {
            call("attrs.option", vec![pos(code), kw("default", raw("None")), doc.clone()])
        } else {
            code
        }
    };
    let with_default = |function: &str, mut args: Vec<crate::render::starlark::Arg>| -> Code {
        if let Some(default) = default_code(&a.default) {
            args.push(kw("default", default));
        }
        args.push(doc.clone());
        call(function, args)
    };
    let dep = |providers: &[&str]| -> Code {
        // Buck2's `providers` requires all of them; alternatives are checked by the implementation.
        match providers {
            [one] => call("attrs.dep", vec![kw("providers", list(vec![raw(*one)]))]),
            _ => call("attrs.dep", vec![]),
        }
    };
    match &a.ty {
        AttrType::String => with_default("attrs.string", vec![]),
        AttrType::Enum(values) => with_default("attrs.enum", vec![pos(string_list(values))]),
        AttrType::Bool => with_default("attrs.bool", vec![]),
        AttrType::Int => with_default("attrs.int", vec![]),
        AttrType::StringList => with_default("attrs.list", vec![pos(call("attrs.string", vec![]))]),
        AttrType::StringDict => {
            with_default("attrs.dict", vec![pos(call("attrs.string", vec![])), pos(call("attrs.string", vec![]))])
        }
        AttrType::File | AttrType::Tool if optional => inner(call("attrs.source", vec![])),
        AttrType::File | AttrType::Tool => with_default("attrs.source", vec![]),
        AttrType::Dep(providers) if optional => inner(dep(providers)),
        AttrType::Dep(providers) => {
            let mut code = dep(providers);
            if let Code::Call(_, args) = &mut code {
                args.push(doc.clone());
            }
            code
        }
        AttrType::DepList(providers) => with_default("attrs.list", vec![pos(dep(providers))]),
        AttrType::FileList => with_default("attrs.list", vec![pos(call("attrs.source", vec![]))]),
        AttrType::PathToTarget => {
            let value = call("attrs.one_of", vec![pos(call("attrs.dep", vec![])), pos(call("attrs.source", vec![]))]);
            with_default("attrs.dict", vec![pos(call("attrs.string", vec![])), pos(value)])
        }
        AttrType::NameToTarget => {
            with_default("attrs.dict", vec![pos(call("attrs.string", vec![])), pos(call("attrs.dep", vec![]))])
        }
        AttrType::Records => with_default(
            "attrs.list",
            vec![pos(call("attrs.dict", vec![pos(call("attrs.string", vec![])), pos(call("attrs.any", vec![]))]))],
        ),
        // Platforms are labels: the macro configures dependencies for them (see transition_macro).
        AttrType::Platform => inner(call("attrs.label", vec![])),
        AttrType::PlatformList => with_default("attrs.list", vec![pos(call("attrs.label", vec![]))]),
    }
}

/// The `default = ...` of an attribute; Buck2 needs it spelled out for every optional attribute.
fn default_code(default: &Default) -> Option<Code> {
    match default {
        Default::Required | Default::None => None,
        Default::Str(s) => Some(string(*s)),
        Default::Bool(b) => Some(raw(if *b { "True" } else { "False" })),
        Default::Int(i) => Some(raw(i.to_string())),
        Default::StrList(items) => Some(string_list(items)),
        Default::StrDict(items) => Some(dict(items.iter().map(|(k, v)| (string(*k), string(*v))).collect())),
    }
}
