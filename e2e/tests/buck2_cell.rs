//! The rendered Buck2 cell `rules_img` in the model of Buck2's rule API: every generated `.bzl`
//! loads, a BUCK file using each rule analyses, rules backed by an action build with the real
//! `img`, the others fail at analysis naming what they need, and settings are validated.
//!
//! Like the Bazel test, the project is derived from the spec (codegen).

use std::fmt::Write;
use std::path::Path;

use codegen::spec::{self, RuleKind};
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

/// A target of every rule (`<rule>_rule`), each built from real inputs.
const EVERY_RULE: &str = r#"
image_layer(name = "image_layer_rule", srcs = {"/etc/hello.txt": "data.txt"}, symlinks = {"/hello": "etc/hello.txt"})

layer_from_tar(name = "layer_from_tar_rule", src = "in.tar")

image_manifest(name = "image_manifest_rule", layers = [":image_layer_rule", ":layer_from_tar_rule"], entrypoint = ["/hello"])

image_index(name = "image_index_rule", manifests = [":image_manifest_rule"])

image_manifest_from_oci_layout(
    name = "image_manifest_from_oci_layout_rule",
    src = ":image_manifest_rule[oci_layout]",
    architecture = "amd64",
    os = "linux",
    layers = ["application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar"],
)

image_index_from_oci_layout(
    name = "image_index_from_oci_layout_rule",
    src = ":image_index_rule[oci_layout]",
    layers = ["application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar"],
    manifests = ["linux/amd64"],
)

image_push(name = "image_push_rule", image = ":image_manifest_rule", registry = "localhost:5000", repository = "x")

image_load(name = "image_load_rule", image = ":image_manifest_rule", repository = "x")

multi_deploy(name = "multi_deploy_rule", operations = [":image_push_rule", ":image_load_rule"])
"#;

/// The rules with a target in EVERY_RULE (all but the toolchain and `pull`, which needs a registry:
/// see tests/deploy.rs).
fn every_rule() -> Vec<&'static str> {
    let rules: Vec<&str> = spec::spec()
        .rules
        .iter()
        .filter(|r| matches!(r.kind, RuleKind::Build | RuleKind::Executable))
        .map(|r| r.name)
        .collect();
    for rule in &rules {
        let one_line = format!("{rule}(name = \"{rule}_rule\"");
        let broken = format!("{rule}(\n    name = \"{rule}_rule\"");
        assert!(EVERY_RULE.contains(&one_line) || EVERY_RULE.contains(&broken), "EVERY_RULE has no target of {rule}");
    }
    rules
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

    let spec = spec::spec();
    let mut build = String::from("load(\":all.bzl\", \"ALL\")\n");
    for rule in spec.rules.iter().filter(|r| matches!(r.kind, RuleKind::Build | RuleKind::Executable)) {
        let _ = writeln!(build, "load(\"@rules_img//img:{}\", \"{}\")", rule.file.file_name(), rule.name);
    }
    build.push_str(EVERY_RULE);
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
    for rule in every_rule() {
        assert!(targets.contains(&format!("{rule}_rule")), "{rule}: {targets:?}");
    }
}

#[test]
fn every_rule_builds_with_the_real_img() {
    let (_dir, project) = project("");
    for rule in every_rule() {
        let outputs = project.build(&format!("root//:{rule}_rule")).unwrap_or_else(|e| panic!("{rule}: {e}"));
        for output in outputs {
            assert!(output.exists(), "{rule}: {} missing", output.display());
        }
    }
    let metadata = project.build_sub_target("root//:image_layer_rule[metadata]").unwrap();
    let text = std::fs::read_to_string(&metadata[0]).unwrap();
    assert!(text.contains("\"created_by\": \"rules_img //:image_layer_rule\""), "{text}");
}

#[test]
fn settings_come_from_the_rules_img_section_of_buckconfig() {
    let (_dir, project) = project("[rules_img]\n  compress = zstd\n");
    let outputs = project.build("root//:image_layer_rule").unwrap();
    assert!(outputs[0].to_string_lossy().ends_with("image_layer_rule.tar.zst"), "{outputs:?}");
}

#[test]
fn a_setting_outside_its_values_fails_naming_the_key() {
    let (_dir, project) = project("[rules_img]\n  compress = brotli\n");
    let error = project.targets("root//").unwrap_err().to_string();
    assert!(error.contains("[rules_img] compress = brotli in .buckconfig is not allowed"), "{error}");
}
