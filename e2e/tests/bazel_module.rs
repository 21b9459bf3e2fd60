//! The rendered Bazel module `rules_img` on real Bazel 7.7.1, in bzlmod and WORKSPACE mode:
//! every public `.bzl` loads, every rule backed by an action builds, and every rule whose
//! action is not there yet fails at analysis naming what it needs.
//!
//! The workspace is derived from the spec (codegen), so a new rule or load point is covered
//! without touching this file.

use e2e::bazel::{Bazel7, Mode, Workspace, WORKSPACE_PRELUDE};
use e2e::rules::{all_bzl, build_file, every_rule, write_inputs, BuildSystem};
use e2e::tool::{img, repo_root};

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

    ws.write("all.bzl", &all_bzl(&repo_root().join("bazel/img")).unwrap()).unwrap();
    ws.write("BUILD.bazel", &build_file(BuildSystem::Bazel)).unwrap();
    write_inputs(ws.path()).unwrap();
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

/// The target of every build rule, `//:<rule>_rule`.
fn every_rule_targets() -> Vec<String> {
    every_rule().iter().map(|rule| format!("//:{rule}_rule")).collect()
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
