//! The Bazel module `rules_img`: MODULE.bazel, WORKSPACE support, `img/*.bzl`, settings.

use crate::render::rules::{self, Dialect};
use crate::render::starlark::{call, dict, kw, list, pos, raw, string, string_list, Code, Source};
use crate::render::{header, File};
use crate::spec::{Attr, AttrType, Body, Default, LoadFile, Ret, Rule, RuleKind, Spec, Transition};

const COMMON: &str = include_str!("adapters/bazel_common.bzl");
const COMMON_LABEL: &str = "//img/private:common.bzl";
const PROVIDERS_LABEL: &str = "//img/private:providers.bzl";

struct Bazel;

impl Dialect for Bazel {
    fn attrs(&self) -> &'static str {
        "attr"
    }
    fn file(&self, attr: &str) -> String {
        format!("ctx.file.{attr}")
    }
    fn setting(&self, name: &str) -> String {
        format!("setting_value(ctx.attr._{name})")
    }
    fn declare(&self) -> &'static str {
        "ctx.actions.declare_file"
    }
    fn declare_dir(&self, name: Code) -> Code {
        call("ctx.actions.declare_directory", vec![pos(name)])
    }
    fn files(&self, attr: &str) -> String {
        // Input sets are depsets on Bazel.
        format!("depset(ctx.files.{attr})")
    }
    fn file_paths(&self, attr: &str) -> String {
        format!("[f.path for f in ctx.files.{attr}]")
    }
    fn impl_signature(&self, rule: &Rule) -> String {
        format!("def _{}_impl(ctx):", rule.name)
    }
    fn returns(&self, spec: &Spec, returns: &[Ret]) -> Vec<Code> {
        let depset = |vars: &[&str]| call("depset", vec![pos(list(vars.iter().map(|v| raw(*v)).collect()))]);
        let mut out = Vec::new();
        let mut groups = Vec::new();
        for ret in returns {
            match ret {
                Ret::Default(vars) => out.push(call("DefaultInfo", vec![kw("files", depset(vars))])),
                Ret::Runnable(launcher) => {
                    let launcher = rules::expr(self, launcher).flat();
                    out.push(call(
                        "DefaultInfo",
                        vec![
                            kw("executable", raw(format!("{launcher}.executable"))),
                            kw("files", raw(format!("depset([{launcher}.executable])"))),
                            kw("runfiles", raw(format!("{launcher}.runfiles"))),
                        ],
                    ));
                }
                Ret::Group(name, vars) => groups.push(kw(*name, depset(vars))),
                Ret::Provider(p, fields) => {
                    out.push(rules::expr(self, &crate::spec::Expr::Make(p, fields.clone())));
                }
                Ret::Extend(_) => unreachable!("rendered by rules::implementation"),
            }
        }
        if !groups.is_empty() {
            out.insert(1, call("OutputGroupInfo", groups));
        }
        let _ = spec;
        out
    }
}

pub fn render(spec: &Spec) -> Vec<File> {
    let mut files = vec![
        File::new("bazel/MODULE.bazel", module_bazel()),
        File::new("bazel/WORKSPACE", format!("{}workspace(name = \"rules_img\")\n", header("#"))),
        File::new("bazel/BUILD.bazel", header("#")),
        File::new("bazel/img/BUILD.bazel", img_build()),
        File::new("bazel/img/private/BUILD.bazel", header("#")),
        File::new("bazel/img/private/common.bzl", format!("{}{COMMON}", header("#"))),
        File::new("bazel/img/private/providers.bzl", providers(spec, false)),
        File::new("bazel/img/providers.bzl", providers(spec, true)),
        File::new("bazel/img/settings/BUILD.bazel", settings_build(spec)),
        File::new("bazel/img/dependencies.bzl", dependencies()),
        File::new("bazel/img/private/platform/BUILD.bazel", platform_build(spec)),
        File::new("bazel/img/media_types.bzl", media_types()),
    ];
    for file in LoadFile::ALL {
        files.push(File::new(format!("bazel/img/{}", file.file_name()), load_file(spec, file)));
    }
    files
}

fn module_bazel() -> String {
    let mut out = Source::build_file();
    out.assign(
        0,
        "",
        &call(
            "module",
            vec![kw("name", string("rules_img")), kw("version", string("0.1.0")), kw("compatibility_level", raw("1"))],
        ),
    );
    out.blank();
    out.assign(0, "", &call("bazel_dep", vec![kw("name", string("platforms")), kw("version", string(PLATFORMS.0))]));
    format!("{}{}", header("#"), out.finish())
}

fn img_build() -> String {
    let mut out = Source::build_file();
    out.assign(0, "", &call("package", vec![kw("default_visibility", string_list(&["//visibility:public"]))]));
    out.blank();
    out.assign(0, "", &call("toolchain_type", vec![kw("name", string("toolchain_type"))]));
    format!("{}{}", header("#"), out.finish())
}

fn settings_build(spec: &Spec) -> String {
    let mut out = Source::build_file();
    out.line(0, &format!("load(\"{COMMON_LABEL}\", \"img_setting\")"));
    out.blank();
    out.assign(0, "", &call("package", vec![kw("default_visibility", string_list(&["//visibility:public"]))]));
    for setting in &spec.settings {
        out.blank();
        let mut args = vec![kw("name", string(setting.name)), kw("build_setting_default", string(setting.default))];
        if !setting.values.is_empty() {
            args.push(kw("values", string_list(setting.values)));
        }
        out.assign(0, "", &call("img_setting", args));
    }
    format!("{}{}", header("#"), out.finish())
}

/// The `platforms` module rules_img depends on: version and WORKSPACE archive.
const PLATFORMS: (&str, &str) = ("0.0.10", "218efe8ee736d26a3572663b374a253c012b716d8af0c07e842e82f238a0a7ee");

fn dependencies() -> String {
    let mut out = Source::new();
    out.docstring(0, "WORKSPACE support: `load(\"@rules_img//img:dependencies.bzl\", \"rules_img_dependencies\")`.");
    out.blank();
    out.line(0, "load(\"@bazel_tools//tools/build_defs/repo:http.bzl\", \"http_archive\")");
    out.line(0, "load(\"@bazel_tools//tools/build_defs/repo:utils.bzl\", \"maybe\")");
    out.blank();
    out.line(0, "def rules_img_dependencies():");
    out.docstring(
        1,
        "Declares the repositories rules_img needs in WORKSPACE mode, unless they are declared already.\n\n\
         Register the img toolchain with `img_toolchain` from `@rules_img//img:image_toolchain.bzl` and\n\
         `register_toolchains`.",
    );
    let url =
        format!("https://github.com/bazelbuild/platforms/releases/download/{0}/platforms-{0}.tar.gz", PLATFORMS.0);
    out.assign(
        1,
        "",
        &call(
            "maybe",
            vec![
                pos(raw("http_archive")),
                kw("name", string("platforms")),
                kw("sha256", string(PLATFORMS.1)),
                kw("urls", string_list(&[url])),
            ],
        ),
    );
    format!("{}{}", header("#"), out.finish())
}

/// `//img/private/platform:target`: the OCI platform of the target platform, by select.
fn platform_build(spec: &Spec) -> String {
    let select = |values: Vec<(&str, &str)>| {
        let mut items: Vec<(Code, Code)> = values.into_iter().map(|(k, v)| (string(k), string(v))).collect();
        items.push((string("//conditions:default"), string("")));
        call("select", vec![pos(dict(items))])
    };
    let mut out = Source::build_file();
    out.line(0, &format!("load(\"{COMMON_LABEL}\", \"img_target_platform\")"));
    out.blank();
    out.assign(0, "", &call("package", vec![kw("default_visibility", string_list(&["//visibility:public"]))]));
    out.blank();
    let target = call(
        "img_target_platform",
        vec![
            kw("name", string("target")),
            kw("architecture", select(spec.cpus.iter().map(|c| (c.bazel, c.value)).collect())),
            kw("os", select(spec.oses.iter().map(|o| (o.bazel, o.value)).collect())),
            kw(
                "variant",
                select(spec.cpus.iter().filter(|c| !c.variant.is_empty()).map(|c| (c.bazel, c.variant)).collect()),
            ),
        ],
    );
    out.assign(0, "", &target);
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
        let provider = |out: &mut Source, name: &str, doc: &str, fields: &[(&str, &str)]| {
            out.blank();
            let fields = dict(fields.iter().map(|(f, d)| (string(*f), string(*d))).collect());
            out.assign(0, name, &call("provider", vec![kw("doc", string(doc)), kw("fields", fields)]));
        };
        for p in &spec.providers {
            provider(&mut out, p.name, p.doc, &p.fields);
        }
        // Bazel-only: settings and the target platform are targets here, plain attributes on Buck2.
        provider(
            &mut out,
            "ImgSettingInfo",
            "The value of a global rules_img setting.",
            &[("value", "The setting's value, a string.")],
        );
        provider(
            &mut out,
            "ImgPlatformInfo",
            "The OCI platform of the target platform.",
            &[("os", "OCI os."), ("architecture", "OCI architecture."), ("variant", "OCI variant, or empty.")],
        );
    }
    format!("{}{}", header("#"), out.finish())
}

fn load_file(spec: &Spec, file: LoadFile) -> String {
    let mut body = Source::new();
    for rule in spec.rules.iter().filter(|r| r.file == file) {
        render_rule(spec, rule, &mut body);
        body.blank();
    }
    for function in spec.functions.iter().filter(|f| f.file == file) {
        let params: Vec<String> = function.params.iter().map(|(p, _)| format!("{p} = None")).collect();
        body.line(0, &format!("def {}({}):", function.name, params.join(", ")));
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
        image_toolchain_macro(&mut body);
        body.blank();
        body.assign(0, "TOOLCHAIN_TYPE", &raw("_TOOLCHAIN_TYPE"));
    }
    let body = body.finish();
    let mut out = Source::new();
    out.docstring(0, file.summary());
    out.blank();
    let mut loads: Vec<String> = Vec::new();
    let common_names: Vec<String> = rules::public_names(COMMON);
    let mut common_used = rules::used_names(&common_names, &body);
    if file == LoadFile::ImageToolchain {
        common_used.retain(|n| n != "TOOLCHAIN_TYPE");
        common_used.push("_TOOLCHAIN_TYPE = \"TOOLCHAIN_TYPE\"".into());
    }
    if !common_used.is_empty() {
        let names: Vec<String> =
            common_used.iter().map(|n| if n.contains('=') { n.clone() } else { format!("\"{n}\"") }).collect();
        loads.push(format!("load(\"{COMMON_LABEL}\", {})", names.join(", ")));
    }
    let provider_names: Vec<String> = spec.providers.iter().map(|p| p.name.to_string()).collect();
    loads.extend(rules::load_line(PROVIDERS_LABEL, &provider_names, &body));
    for load in &loads {
        out.line(0, load);
    }
    if !loads.is_empty() {
        out.blank();
    }
    format!("{}{}{}", header("#"), out.into_raw(), body)
}

fn image_toolchain_macro(out: &mut Source) {
    out.line(0, "def img_toolchain(name, tool_exe, **kwargs):");
    out.docstring(
        1,
        "Declares an img toolchain named `name`; register it with `register_toolchains(\"//pkg:name\")`.\n\n\
         Args:\n  name: Name of the `toolchain` target.\n  tool_exe: The img executable.\n  \
         **kwargs: Passed on to `toolchain` (e.g. `exec_compatible_with`).",
    );
    out.assign(
        1,
        "",
        &call("image_toolchain", vec![kw("name", raw("name + \"_impl\"")), kw("tool_exe", raw("tool_exe"))]),
    );
    out.assign(
        1,
        "",
        &call(
            "native.toolchain",
            vec![
                kw("name", raw("name")),
                kw("toolchain", raw("\":\" + name + \"_impl\"")),
                kw("toolchain_type", raw("_TOOLCHAIN_TYPE")),
                pos(raw("**kwargs")),
            ],
        ),
    );
}

fn render_rule(spec: &Spec, rule: &Rule, out: &mut Source) {
    match &rule.body {
        Body::Impl(body) => rules::implementation(&Bazel, spec, rule, body, out),
        Body::NotYet { capability } => {
            let ctx = if rule.kind == RuleKind::Repository { "repository_ctx" } else { "ctx" };
            out.line(0, &format!("def _{}_impl({ctx}):", rule.name));
            let fail = call("fail_not_yet", vec![pos(raw(ctx)), pos(string(rule.name)), pos(string(*capability))]);
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
    let split = rule.transition == Some(Transition::SplitManifests);
    let mut attrs: Vec<(Code, Code)> = rule
        .attrs
        .iter()
        .filter(|a| !a.buck2_only)
        .map(|a| {
            let mut code = attr(a);
            if split && a.name == "manifests" {
                if let Code::Call(_, args) = &mut code {
                    args.insert(0, kw("cfg", raw("platforms_split_transition")));
                }
            }
            (string(a.name), code)
        })
        .collect();
    for setting in &rule.settings {
        let default = raw(format!("Label(\"//img/settings:{setting}\")"));
        attrs.push((string(format!("_{setting}")), call("attr.label", vec![kw("default", default)])));
    }
    if rule.reads_platform {
        let default = raw("Label(\"//img/private/platform:target\")");
        attrs.push((string("_target_platform"), call("attr.label", vec![kw("default", default)])));
    }
    if rule.transition.is_some() {
        let default = string("@bazel_tools//tools/allowlists/function_transition_allowlist");
        attrs.push((string("_allowlist_function_transition"), call("attr.label", vec![kw("default", default)])));
    }
    let (function, impl_kw) = match rule.kind {
        RuleKind::Repository => ("repository_rule", "implementation"),
        _ => ("rule", "implementation"),
    };
    let mut args = vec![kw(impl_kw, raw(implementation)), kw("doc", string(rule.doc)), kw("attrs", dict(attrs))];
    if rule.kind == RuleKind::Executable {
        args.push(kw("executable", raw("True")));
    }
    if rule.transition == Some(Transition::ToPlatform) {
        args.push(kw("cfg", raw("platform_transition")));
    }
    if matches!(rule.body, Body::Impl(_)) {
        args.push(kw("toolchains", list(vec![raw("TOOLCHAIN_TYPE")])));
    }
    out.assign(0, rule.name, &call(function, args));
}

/// An attribute as `attr.<type>(...)`.
fn attr(a: &Attr) -> Code {
    let mut args = Vec::new();
    let (function, default) = match &a.ty {
        AttrType::String | AttrType::Enum(_) => ("attr.string", default_code(&a.default)),
        AttrType::Bool => ("attr.bool", default_code(&a.default)),
        AttrType::Int => ("attr.int", default_code(&a.default)),
        AttrType::StringList => ("attr.string_list", default_code(&a.default)),
        AttrType::StringDict => ("attr.string_dict", default_code(&a.default)),
        AttrType::File => {
            args.push(kw("allow_single_file", raw("True")));
            ("attr.label", None)
        }
        AttrType::Dep(providers) | AttrType::DepList(providers) => {
            if !providers.is_empty() {
                let alternatives = providers.iter().map(|p| list(vec![raw(*p)])).collect();
                args.push(kw("providers", list(alternatives)));
            }
            (if matches!(a.ty, AttrType::Dep(_)) { "attr.label" } else { "attr.label_list" }, None)
        }
        AttrType::FileList => {
            args.push(kw("allow_files", raw("True")));
            ("attr.label_list", None)
        }
        AttrType::PathToTarget => {
            args.push(kw("allow_files", raw("True")));
            ("attr.string_keyed_label_dict", None)
        }
        AttrType::Records => unreachable!("Buck2-only attributes are not rendered for Bazel"),
        AttrType::NameToTarget => ("attr.string_keyed_label_dict", None),
        AttrType::Tool => {
            args.push(kw("allow_single_file", raw("True")));
            args.push(kw("executable", raw("True")));
            args.push(kw("cfg", string("exec")));
            ("attr.label", None)
        }
        AttrType::Platform => {
            args.push(kw("providers", list(vec![raw("platform_common.PlatformInfo")])));
            ("attr.label", None)
        }
        AttrType::PlatformList => {
            args.push(kw("providers", list(vec![raw("platform_common.PlatformInfo")])));
            ("attr.label_list", None)
        }
    };
    if let Some(default) = default {
        args.insert(0, kw("default", default));
    }
    if a.default == Default::Required {
        args.push(kw("mandatory", raw("True")));
    }
    if let AttrType::Enum(values) = &a.ty {
        args.push(kw("values", string_list(values)));
    }
    args.push(kw("doc", string(a.doc)));
    call(function, args)
}

/// The `default = ...` of a plain-valued attribute, or `None` when Bazel's own default is the same.
fn default_code(default: &Default) -> Option<Code> {
    match default {
        Default::Required | Default::None => None,
        Default::Str("") | Default::Bool(false) | Default::Int(0) | Default::StrList([]) | Default::StrDict([]) => None,
        Default::Str(s) => Some(string(*s)),
        Default::Bool(b) => Some(raw(if *b { "True" } else { "False" })),
        Default::Int(i) => Some(raw(i.to_string())),
        Default::StrList(items) => Some(string_list(items)),
        Default::StrDict(items) => Some(dict(items.iter().map(|(k, v)| (string(*k), string(*v))).collect())),
    }
}
