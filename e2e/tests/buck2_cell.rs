//! The rendered Buck2 cell `rules_img` in the model of Buck2's rule API: every generated `.bzl`
//! loads, a BUCK file using each rule analyses, rules backed by an action build with the real
//! `img`, the others fail at analysis naming what they need, and settings are validated.
//!
//! Like the Bazel test, the project is derived from the spec (codegen).

use std::fmt::Write;
use std::path::Path;

use codegen::spec::{self, AttrType, Body, Default, RuleKind};
use e2e::buck2::Project;
use e2e::tool::{img, repo_root};

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn write(root: &Path, relative: &str, contents: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// Public names of each public `.bzl` of the rendered cell, read from the files themselves.
fn public_load_points() -> Vec<(String, Vec<String>)> {
    let mut points = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("buck2/img")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "bzl") {
            let names = codegen::render::rules::public_names(&std::fs::read_to_string(&path).unwrap());
            points.push((path.file_name().unwrap().to_string_lossy().into_owned(), names));
        }
    }
    points.sort();
    points
}

const FAKES_BZL: &str = r#"load("@rules_img//img:providers.bzl", "DeployInfo", "ImageManifestInfo", "PushConfigInfo")

_PROVIDERS = {"DeployInfo": DeployInfo, "ImageManifestInfo": ImageManifestInfo, "PushConfigInfo": PushConfigInfo}

def _fake_impl(ctx: AnalysisContext) -> list[Provider]:
    return [DefaultInfo(), _PROVIDERS[ctx.attrs.provider]()]

fake = rule(impl = _fake_impl, attrs = {"provider": attrs.string()})
"#;

/// A value for a mandatory attribute of `attr_type`.
fn placeholder(attr_type: &AttrType) -> String {
    match attr_type {
        AttrType::String => "\"x\"".into(),
        AttrType::Enum(values) => format!("{:?}", values.iter().find(|v| **v != "auto").unwrap()),
        AttrType::StringList => "[\"x\"]".into(),
        AttrType::File | AttrType::Tool => "\"data.txt\"".into(),
        AttrType::Dep(providers) => format!("\":fake_{}\"", providers[0]),
        AttrType::DepList(providers) => format!("[\":fake_{}\"]", providers[0]),
        other => panic!("no placeholder for a mandatory {other:?}"),
    }
}

/// A project with the prelude of the model, the rendered cell, the img toolchain, and one
/// target per rule; `extra_config` is appended to `.buckconfig`.
fn project(extra_config: &str) -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    copy_dir(&repo_root().join("e2e/fixtures/buck2/prelude"), &root.join("prelude"));
    copy_dir(&repo_root().join("buck2"), &root.join("rules_img"));
    write(
        root,
        ".buckconfig",
        &format!(
            "[cells]\n  root = .\n  prelude = prelude\n  toolchains = toolchains\n  rules_img = rules_img\n\n\
             [cell_aliases]\n  config = prelude\n\n\
             [parser]\n  target_platform_detector_spec = target:root//...->prelude//platforms:default \\\n    \
             target:toolchains//...->prelude//platforms:default\n\n{extra_config}"
        ),
    );
    std::fs::create_dir_all(root.join("toolchains")).unwrap();
    std::fs::copy(img(), root.join("toolchains/img")).unwrap();
    write(
        root,
        "toolchains/BUCK",
        "load(\"@rules_img//img:image_toolchain.bzl\", \"img_toolchain\")\n\n\
         img_toolchain(name = \"img\", tool_exe = \"img\", visibility = [\"PUBLIC\"])\n",
    );

    let mut all = String::new();
    let mut symbols = Vec::new();
    for (file, names) in public_load_points() {
        let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
        let _ = writeln!(all, "load(\"@rules_img//img:{file}\", {})", quoted.join(", "));
        symbols.extend(names);
    }
    let _ = writeln!(all, "\nALL = [{}]", symbols.join(", "));
    write(root, "all.bzl", &all);
    write(root, "fakes.bzl", FAKES_BZL);

    let spec = spec::spec();
    let mut build = String::from("load(\":all.bzl\", \"ALL\")\nload(\":fakes.bzl\", \"fake\")\n");
    for rule in spec.rules.iter().filter(|r| r.kind != RuleKind::Toolchain) {
        let _ = writeln!(build, "load(\"@rules_img//img:{}\", \"{}\")", rule.file.file_name(), rule.name);
    }
    for provider in ["DeployInfo", "ImageManifestInfo", "PushConfigInfo"] {
        let _ = writeln!(build, "fake(name = \"fake_{provider}\", provider = \"{provider}\")");
    }
    build.push_str(
        "image_layer(name = \"layer_rule\", srcs = {\"/etc/hello.txt\": \"data.txt\"}, symlinks = {\"/hello\": \"etc/hello.txt\"})\n\
         layer_from_tar(name = \"layer_from_tar_rule\", src = \"in.tar\")\n",
    );
    for rule in spec.rules.iter().filter(|r| matches!(r.body, Body::NotYet { .. })) {
        let mut args = vec![format!("name = \"{}_rule\"", rule.name)];
        for attr in rule.attrs.iter().filter(|a| a.default == Default::Required) {
            args.push(format!("{} = {}", attr.name, placeholder(&attr.ty)));
        }
        let _ = writeln!(build, "{}({})", rule.name, args.join(", "));
    }
    write(root, "BUCK", &build);
    write(root, "data.txt", "hello\n");
    let tar = std::process::Command::new("tar").args(["-cf", "in.tar", "data.txt"]).current_dir(root).status().unwrap();
    assert!(tar.success());
    let project = Project::new(root).unwrap();
    (dir, project)
}

#[test]
fn every_generated_bzl_loads_and_a_buck_file_uses_each_rule() {
    let (_dir, project) = project("");
    let targets = project.targets("root//").unwrap();
    for rule in spec::spec().rules.iter().filter(|r| matches!(r.body, Body::NotYet { .. })) {
        assert!(targets.contains(&format!("{}_rule", rule.name)), "{}: {targets:?}", rule.name);
    }
    assert!(targets.contains(&"layer_rule".to_string()), "{targets:?}");
}

#[test]
fn rules_without_an_action_fail_at_analysis_naming_the_missing_capability() {
    let (_dir, project) = project("");
    for rule in spec::spec().rules {
        let Body::NotYet { capability } = rule.body else { continue };
        let error = project.analyze(&format!("root//:{}_rule", rule.name)).unwrap_err().to_string();
        let expected =
            format!("{} is declared but not available yet in this rules_img: it needs {capability}", rule.name);
        assert!(error.contains(&expected), "{}:\n{error}", rule.name);
    }
}

#[test]
fn rules_backed_by_an_action_build_with_the_real_img() {
    let (_dir, project) = project("");
    for target in ["root//:layer_rule", "root//:layer_from_tar_rule"] {
        let outputs = project.build(target).unwrap();
        let size = std::fs::metadata(&outputs[0]).unwrap().len();
        assert!(size > 0, "{target}: empty {}", outputs[0].display());
    }
    let metadata = project.build_sub_target("root//:layer_rule[metadata]").unwrap();
    let text = std::fs::read_to_string(&metadata[0]).unwrap();
    assert!(text.contains("\"created_by\": \"rules_img //:layer_rule\""), "{text}");
}

#[test]
fn settings_come_from_the_rules_img_section_of_buckconfig() {
    let (_dir, project) = project("[rules_img]\n  compress = zstd\n");
    let outputs = project.build("root//:layer_rule").unwrap();
    assert!(outputs[0].to_string_lossy().ends_with("layer_rule.tar.zst"), "{outputs:?}");
}

#[test]
fn a_setting_outside_its_values_fails_naming_the_key() {
    let (_dir, project) = project("[rules_img]\n  compress = brotli\n");
    let error = project.targets("root//").unwrap_err().to_string();
    assert!(error.contains("[rules_img] compress = brotli in .buckconfig is not allowed"), "{error}");
}
