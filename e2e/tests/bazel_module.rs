//! The rendered Bazel module `rules_img` on real Bazel 7.7.1, in bzlmod and WORKSPACE mode:
//! every public `.bzl` loads, every rule backed by an action builds, and every rule whose
//! action is not there yet fails at analysis naming what it needs.
//!
//! The workspace is derived from the spec (codegen), so a new rule or load point is covered
//! without touching this file.

use std::fmt::Write;

use codegen::spec::{self, AttrType, Body, Default, RuleKind};
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

/// A stand-in target for every provider a rule's mandatory dependency needs, so that analysis
/// reaches the rule's own implementation.
const FAKES_BZL: &str = r#"load("@rules_img//img:providers.bzl", "DeployInfo", "ImageManifestInfo", "PushConfigInfo")

def _fake_impl(ctx):
    provider = {"DeployInfo": DeployInfo, "ImageManifestInfo": ImageManifestInfo, "PushConfigInfo": PushConfigInfo}
    return [provider[ctx.attr.provider]()]

fake = rule(implementation = _fake_impl, attrs = {"provider": attr.string()})
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

fn workspace(bazel: &Bazel7, mode: Mode) -> Workspace {
    let mut ws = bazel.workspace(mode).unwrap();
    let module = repo_root().join("bazel");
    ws.bind(&module);
    let dependency = mode.rules_img_dependency(&module);
    match mode {
        Mode::Bzlmod => {
            let pull = "pull = use_repo_rule(\"@rules_img//img:pull.bzl\", \"pull\")\n\
                        pull(name = \"pulled\", repository = \"library/x\")\n";
            let text = format!("module(name = \"t\")\n\n{dependency}\nregister_toolchains(\"//tools:img\")\n\n{pull}");
            ws.write("MODULE.bazel", &text).unwrap();
        }
        Mode::Workspace => {
            let text = format!(
                "workspace(name = \"t\")\n\n{WORKSPACE_PRELUDE}\n{dependency}\n\
                 load(\"@rules_img//img:dependencies.bzl\", \"rules_img_dependencies\")\n\n\
                 rules_img_dependencies()\n\nregister_toolchains(\"//tools:img\")\n\n\
                 load(\"@rules_img//img:pull.bzl\", \"pull\")\n\n\
                 pull(name = \"pulled\", repository = \"library/x\")\n"
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
    ws.write("fakes.bzl", FAKES_BZL).unwrap();

    // One target per rule; the ones without an action are `manual` so `//...` stays buildable.
    let spec = spec::spec();
    let mut build = String::from("load(\":all.bzl\", \"ALL\")\nload(\":fakes.bzl\", \"fake\")\n");
    for rule in &spec.rules {
        if !matches!(rule.kind, RuleKind::Build | RuleKind::Executable) {
            continue;
        }
        let file = rule.file.file_name();
        let _ = writeln!(build, "load(\"@rules_img//img:{file}\", \"{}\")", rule.name);
    }
    build.push_str("\nexports_files([\"data.txt\"])\n");
    for provider in ["DeployInfo", "ImageManifestInfo", "PushConfigInfo"] {
        let _ = writeln!(build, "fake(name = \"fake_{provider}\", provider = \"{provider}\")");
    }
    build.push_str(
        "image_layer(name = \"layer_rule\", srcs = {\"/etc/hello.txt\": \"data.txt\"})\n\
         layer_from_tar(name = \"layer_from_tar_rule\", src = \"in.tar\")\n",
    );
    for rule in spec.rules.iter().filter(|r| matches!(r.body, Body::NotYet { .. })) {
        if rule.kind == RuleKind::Repository {
            continue;
        }
        let mut args = vec![format!("name = \"{}_rule\"", rule.name), "tags = [\"manual\"]".to_string()];
        for attr in rule.attrs.iter().filter(|a| a.default == Default::Required) {
            args.push(format!("{} = {}", attr.name, placeholder(&attr.ty)));
        }
        let _ = writeln!(build, "{}({})", rule.name, args.join(", "));
    }
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
        assert!(targets.contains(&"//:layer_rule".to_string()), "{}: {targets:?}", ws.mode());
        assert!(targets.contains(&"//:image_push_rule".to_string()), "{}: {targets:?}", ws.mode());
    });
}

#[test]
#[ignore = "needs the Bazel 7 chroot (scripts/bazel7-chroot.sh)"]
fn rules_without_an_action_fail_at_analysis_naming_the_missing_capability() {
    let spec = spec::spec();
    in_both_modes(|ws| {
        for rule in &spec.rules {
            let Body::NotYet { capability } = rule.body else { continue };
            let output = if rule.kind == RuleKind::Repository {
                ws.bazel(&["query", "@pulled//..."]).unwrap()
            } else {
                ws.bazel(&["build", &format!("//:{}_rule", rule.name)]).unwrap()
            };
            assert!(!output.status.success(), "{} in {} mode built", rule.name, ws.mode());
            let expected =
                format!("{} is declared but not available yet in this rules_img: it needs {capability}", rule.name);
            assert!(output.stderr.contains(&expected), "{} in {} mode:\n{}", rule.name, ws.mode(), output.stderr);
        }
    });
}

#[test]
#[ignore = "needs the Bazel 7 chroot (scripts/bazel7-chroot.sh)"]
fn rules_backed_by_an_action_build() {
    in_both_modes(|ws| {
        ws.build(&["//:layer_rule", "//:layer_from_tar_rule"]).unwrap();
        for target in ["//:layer_rule", "//:layer_from_tar_rule"] {
            let files = ws.output_files(target).unwrap();
            let size = std::fs::metadata(&files[0]).unwrap().len();
            assert!(size > 0, "{target} in {} mode: empty {}", ws.mode(), files[0].display());
        }
    });
}
