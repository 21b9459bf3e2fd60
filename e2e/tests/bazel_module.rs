//! The rendered Bazel module `rules_img` on real Bazel 7.7.1, in bzlmod and WORKSPACE mode:
//! every public `.bzl` loads, every rule backed by an action builds, and every rule whose
//! action is not there yet fails at analysis naming what it needs.
//!
//! The workspace is derived from the spec (codegen), so a new rule or load point is covered
//! without touching this file.

use std::fmt::Write;

use codegen::spec::{self, RuleKind};
use e2e::bazel::{Bazel7, Mode, Workspace, WORKSPACE_PRELUDE};
use e2e::tool::{img, repo_root};

/// Public names of each public `.bzl` of the rendered module, read from the files themselves.
fn public_load_points() -> Vec<(String, Vec<String>)> {
    let dir = repo_root().join("bazel/img");
    let mut points = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "bzl") {
            let text = std::fs::read_to_string(&path).unwrap();
            let names = codegen::render::rules::public_names(&text);
            points.push((path.file_name().unwrap().to_string_lossy().into_owned(), names));
        }
    }
    points.sort();
    points
}

/// A target of every rule (`<rule>_rule`), each built from real inputs.
pub const EVERY_RULE: &str = r#"
image_layer(name = "image_layer_rule", srcs = {"/etc/hello.txt": "data.txt"}, symlinks = {"/hello": "etc/hello.txt"})

layer_from_tar(name = "layer_from_tar_rule", src = "in.tar")

image_manifest(name = "image_manifest_rule", layers = [":image_layer_rule", ":layer_from_tar_rule"], entrypoint = ["/hello"])

image_index(name = "image_index_rule", manifests = [":image_manifest_rule"])

filegroup(name = "layout", srcs = [":image_manifest_rule"], output_group = "oci_layout")

filegroup(name = "index_layout", srcs = [":image_index_rule"], output_group = "oci_layout")

image_manifest_from_oci_layout(
    name = "image_manifest_from_oci_layout_rule",
    src = ":layout",
    architecture = "amd64",
    os = "linux",
    layers = ["application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar"],
)

image_index_from_oci_layout(
    name = "image_index_from_oci_layout_rule",
    src = ":index_layout",
    layers = ["application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar"],
    manifests = ["linux/amd64"],
)

image_push(name = "image_push_rule", image = ":image_manifest_rule", registry = "localhost:5000", repository = "x")

image_load(name = "image_load_rule", image = ":image_manifest_rule", repository = "x")

multi_deploy(name = "multi_deploy_rule", operations = [":image_push_rule", ":image_load_rule"])
"#;

fn workspace(bazel: &Bazel7, mode: Mode) -> Workspace {
    let mut ws = bazel.workspace(mode).unwrap();
    let module = repo_root().join("bazel");
    ws.bind(&module);
    let dependency = mode.rules_img_dependency(&module);
    match mode {
        Mode::Bzlmod => {
            let text = format!("module(name = \"t\")\n\n{dependency}\nregister_toolchains(\"//tools:img\")\n");
            ws.write("MODULE.bazel", &text).unwrap();
        }
        Mode::Workspace => {
            let text = format!(
                "workspace(name = \"t\")\n\n{WORKSPACE_PRELUDE}\n{dependency}\n\
                 load(\"@rules_img//img:dependencies.bzl\", \"rules_img_dependencies\")\n\n\
                 rules_img_dependencies()\n\nregister_toolchains(\"//tools:img\")\n"
            );
            ws.write("WORKSPACE", &text).unwrap();
        }
    }
    std::fs::create_dir_all(ws.path().join("tools/bin")).unwrap();
    std::fs::copy(img(), ws.path().join("tools/bin/img")).unwrap();
    ws.write(
        "tools/BUILD.bazel",
        "load(\"@rules_img//img:image_toolchain.bzl\", \"img_toolchain\")\n\n\
         img_toolchain(name = \"img\", tool_exe = \"bin/img\")\n",
    )
    .unwrap();

    // Load every public name of every public .bzl.
    let mut all = String::new();
    let mut symbols = Vec::new();
    for (file, names) in public_load_points() {
        let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
        let _ = writeln!(all, "load(\"@rules_img//img:{file}\", {})", quoted.join(", "));
        symbols.extend(names);
    }
    let _ = writeln!(all, "\nALL = [{}]", symbols.join(", "));
    ws.write("all.bzl", &all).unwrap();

    let spec = spec::spec();
    let mut build = String::from("load(\":all.bzl\", \"ALL\")\n");
    for rule in &spec.rules {
        if !matches!(rule.kind, RuleKind::Build | RuleKind::Executable) {
            continue;
        }
        let file = rule.file.file_name();
        let _ = writeln!(build, "load(\"@rules_img//img:{file}\", \"{}\")", rule.name);
    }
    build.push_str(EVERY_RULE);
    ws.write("BUILD.bazel", &build).unwrap();
    ws.write("data.txt", "hello\n").unwrap();
    let tar =
        std::process::Command::new("tar").args(["-cf", "in.tar", "data.txt"]).current_dir(ws.path()).status().unwrap();
    assert!(tar.success());
    ws
}

fn in_both_modes(check: impl Fn(&Workspace)) {
    let bazel = Bazel7::find().unwrap();
    for mode in Mode::ALL {
        let ws = workspace(&bazel, mode);
        check(&ws);
    }
}

#[test]
#[ignore = "needs the Bazel 7 chroot (scripts/bazel7-chroot.sh)"]
fn every_public_bzl_loads_in_bzlmod_and_workspace_mode() {
    in_both_modes(|ws| {
        let targets = ws.query("//...").unwrap();
        for target in every_rule_targets() {
            assert!(targets.contains(&target), "{}: {target} not in {targets:?}", ws.mode());
        }
    });
}

/// The targets of EVERY_RULE, checked to name every build rule of the spec.
fn every_rule_targets() -> Vec<String> {
    let spec = spec::spec();
    let rules: Vec<&str> = spec
        .rules
        .iter()
        .filter(|r| matches!(r.kind, RuleKind::Build | RuleKind::Executable))
        .map(|r| r.name)
        .collect();
    for rule in &rules {
        assert!(
            EVERY_RULE.contains(&format!("{rule}(name = \"{rule}_rule\""))
                || EVERY_RULE.contains(&format!("{rule}(\n    name = \"{rule}_rule\"")),
            "EVERY_RULE has no target of {rule}"
        );
    }
    rules.iter().map(|r| format!("//:{r}_rule")).collect()
}

#[test]
#[ignore = "needs the Bazel 7 chroot (scripts/bazel7-chroot.sh)"]
fn every_rule_builds_with_the_real_img_in_both_modes() {
    let targets = every_rule_targets();
    in_both_modes(|ws| {
        let mut args: Vec<&str> = vec!["--output_groups=+digest,+metadata"];
        args.extend(targets.iter().map(String::as_str));
        ws.build(&args).unwrap();
        for target in &targets {
            let files = ws.output_files(target).unwrap();
            for file in files {
                assert!(std::fs::metadata(&file).is_ok(), "{target} in {} mode: {} missing", ws.mode(), file.display());
            }
        }
    });
}
