//! The rendered Buck2 cell `rules_img` in the model of Buck2's rule API: every generated `.bzl`
//! loads, a BUCK file using each rule analyses, rules backed by an action build with the real
//! `img`, the others fail at analysis naming what they need, and settings are validated.
//!
//! Like the Bazel test, the project is derived from the spec (codegen).

use std::path::Path;

use e2e::buck2::Project;
use e2e::examples::copy_tree;
use e2e::rules::{all_bzl, build_file, every_rule, write_inputs, BuildSystem};
use e2e::tool::{img, repo_root};

fn write(root: &Path, relative: &str, contents: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// A project with the prelude of the model, the rendered cell, the img toolchain, and one
/// target per rule; `extra_config` is appended to `.buckconfig`.
fn project(extra_config: &str) -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    copy_tree(&repo_root().join("e2e/fixtures/buck2/prelude"), &root.join("prelude")).unwrap();
    copy_tree(&repo_root().join("buck2"), &root.join("rules_img")).unwrap();
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

    write(root, "all.bzl", &all_bzl(&repo_root().join("buck2/img")).unwrap());
    write(root, "BUCK", &build_file(BuildSystem::Buck2));
    write_inputs(root).unwrap();
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

#[test]
fn a_strategy_setting_rules_img_does_not_implement_fails_at_analysis_naming_it() {
    // `strategy = "auto"` means the setting: lazy pushes and loads are not there yet, and must not
    // quietly become eager ones.
    let (_dir, project) = project("[rules_img]\n  push_strategy = lazy\n  load_strategy = lazy\n");
    let push = project.analyze("root//:image_push_rule").unwrap_err().to_string();
    assert!(push.contains("strategy = \"auto\" takes the push_strategy setting, which is \"lazy\""), "{push}");
    let load = project.analyze("root//:image_load_rule").unwrap_err().to_string();
    assert!(load.contains("strategy = \"auto\" takes the load_strategy setting, which is \"lazy\""), "{load}");
    // multi_deploy's own operations are the first to refuse.
    let deploy = project.analyze("root//:multi_deploy_rule").unwrap_err().to_string();
    assert!(deploy.contains("takes the push_strategy setting, which is \"lazy\""), "{deploy}");
}

#[test]
fn the_registry_settings_travel_in_the_push_and_load_requests() {
    let (_dir, project) = project("[rules_img]\n  docker_config_path = /etc/img/auth.json\n  insecure = enabled\n");
    for (target, suffix) in [("root//:image_push_rule", ".push.json"), ("root//:image_load_rule", ".load.json")] {
        let outputs = project.build_sub_target(&format!("{target}[deploy_manifest]")).unwrap();
        let request = outputs.iter().find(|p| p.to_string_lossy().ends_with(suffix)).expect("the request");
        let request: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(request).unwrap()).unwrap();
        assert_eq!(request["docker_config_path"], "/etc/img/auth.json", "{target}: {request}");
        assert_eq!(request["credential_helper"], serde_json::Value::Null, "{target}: {request}");
        assert_eq!(request["insecure"], true, "{target}: {request}");
    }
}
