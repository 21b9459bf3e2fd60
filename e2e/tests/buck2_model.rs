//! The Buck2 model against a prelude-style fixture project, plus negative tests pinning Buck2's
//! behaviour. Fast and self-contained: projects are copied into temp dirs, actions run /bin/sh.

use std::path::Path;

use e2e::buck2::{Buck2Error, Project};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/buck2");

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(from).unwrap();
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// The fixture project (with the fixture prelude as its `prelude` cell) in a fresh temp dir.
fn fixture() -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&Path::new(FIXTURES).join("project"), dir.path());
    copy_dir(&Path::new(FIXTURES).join("prelude"), &dir.path().join("prelude"));
    let project = Project::new(dir.path()).unwrap();
    (dir, project)
}

/// A minimal project without prelude: `.buckconfig` + the given files.
fn small(files: &[(&str, &str)]) -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".buckconfig"), "[cells]\n  root = .\n  other = other\n").unwrap();
    std::fs::create_dir_all(dir.path().join("other")).unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let project = Project::new(dir.path()).unwrap();
    (dir, project)
}

fn err_text(r: Result<impl std::fmt::Debug, Buck2Error>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bundle_runs_toolchain_tool_with_param_file_and_json_manifest() {
    let (_dir, project) = fixture();
    let outputs = project.build("root//pkg:bundle").unwrap();
    assert_eq!(outputs.len(), 1);
    assert!(outputs[0].to_string_lossy().contains("buck-out/v2/gen/root/"), "{outputs:?}");
    assert!(outputs[0].ends_with("pkg/__bundle__/bundle.txt"), "{outputs:?}");
    let text = std::fs::read_to_string(&outputs[0]).unwrap();
    assert!(text.starts_with("sep=-\nalpha\nbeta\nmanifest:\n"), "{text}");
    let manifest: serde_json::Value = serde_json::from_str(text.split("manifest:\n").nth(1).unwrap()).unwrap();
    assert_eq!(manifest["name"], "bundle");
    assert_eq!(manifest["mode"], "slow", "enum default comes from read_root_config at load time");
    assert_eq!(manifest["srcs"], serde_json::json!(["pkg/a.txt", "pkg/b.txt"]));
    assert_eq!(manifest["helper"], "toolchains/helper.txt");
}

#[test]
fn sub_targets_expose_manifest_and_param_file() {
    let (_dir, project) = fixture();
    let manifest = project.build_sub_target("//pkg:bundle[manifest]").unwrap();
    assert!(manifest[0].ends_with("__bundle__/manifest.json"));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest[0]).unwrap()).unwrap();
    assert_eq!(json["srcs"][1], "pkg/b.txt");
    let params = project.build("//pkg:bundle[params]").unwrap();
    assert_eq!(std::fs::read_to_string(&params[0]).unwrap(), "--src=pkg/a.txt\n--src=pkg/b.txt");
    let err = err_text(project.build("//pkg:bundle[nope]"));
    assert!(err.contains("sub target `nope`"), "{err}");
}

#[test]
fn analysis_exposes_providers_configuration_and_literal_read_config() {
    let (_dir, project) = fixture();
    let a = project.analyze("//pkg:bundle_fast").unwrap();
    assert!(a.configuration.starts_with("root//platforms:linux_x86#"), "{}", a.configuration);
    assert_eq!(a.sub_targets, vec!["manifest", "params"]);
    let info = a.provider("BundleInfo").unwrap();
    assert_eq!(info["mode"], "fast", "enum values are matched case-insensitively and lowercased");
    assert_eq!(info["greeting"], "hello");
    assert_eq!(info["srcs"], serde_json::json!(["pkg/a.txt", "pkg/b.txt"]), "glob() in BUCK");
    let run = a.provider("RunInfo").unwrap();
    assert_eq!(run["args"][0], "cat");
    assert!(a.default_outputs[0].ends_with("__bundle_fast__/fast.txt"));
}

#[test]
fn run_renders_run_info_with_absolute_paths_and_extra_args() {
    let (dir, project) = fixture();
    let out = project.run("//tools:hello", &["a", "b c"]).unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello a b c\n");
    let out = project.run("//pkg:bundle", &[]).unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("sep=-\nalpha"), "{out:?}");
    let root = dir.path().canonicalize().unwrap();
    let args = project.analyze("//pkg:bundle").unwrap().provider("RunInfo").unwrap()["args"].clone();
    assert!(!args[1].as_str().unwrap().starts_with('/'), "analysis dumps stay project-relative");
    assert!(root.join(args[1].as_str().unwrap()).is_file(), "run built the RunInfo inputs");
    let err = err_text(project.run("//pkg:arch", &[]));
    assert!(err.contains("not a binary rule"), "{err}");
}

#[test]
fn select_resolves_on_constraints_of_the_target_platform() {
    let (_dir, project) = fixture();
    let x86 = project.build("//pkg:arch").unwrap();
    assert_eq!(std::fs::read_to_string(&x86[0]).unwrap(), "amd64");
    project.set_target_platform(Some("root//platforms:linux_arm"));
    let arm = project.build("//pkg:arch").unwrap();
    assert_eq!(std::fs::read_to_string(&arm[0]).unwrap(), "arm64");
    assert_ne!(x86[0], arm[0], "configurations get distinct output directories");
}

#[test]
fn split_transition_configures_the_dep_once_per_platform() {
    let (_dir, project) = fixture();
    let out = project.build("//pkg:multi").unwrap();
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(&out[0]).unwrap()).unwrap();
    let (amd, arm) = (&index["amd64"], &index["arm64"]);
    assert!(amd["label"].as_str().unwrap().contains("root//platforms:linux_x86#"), "{index}");
    assert!(arm["label"].as_str().unwrap().contains("root//platforms:linux_arm#"), "{index}");
    let root = project.root();
    assert_eq!(std::fs::read_to_string(root.join(amd["output"].as_str().unwrap())).unwrap(), "amd64");
    assert_eq!(std::fs::read_to_string(root.join(arm["output"].as_str().unwrap())).unwrap(), "arm64");
}

#[test]
fn prelude_genrule_export_file_filegroup_and_alias() {
    let (_dir, project) = fixture();
    let joined = project.build("//pkg:joined").unwrap();
    assert_eq!(std::fs::read_to_string(&joined[0]).unwrap(), "alpha\nbeta\n");
    let exported = project.build("//pkg:a.txt").unwrap();
    assert_eq!(std::fs::read_to_string(&exported[0]).unwrap(), "alpha\n");
    let files = project.build("//pkg:files").unwrap();
    assert_eq!(std::fs::read_to_string(files[0].join("b.txt")).unwrap(), "beta\n");
    let alias = project.analyze("//pkg:bundle_alias").unwrap();
    assert!(alias.default_outputs[0].ends_with("__bundle__/bundle.txt"));
}

#[test]
fn read_root_config_validation_fails_at_load_time() {
    let (dir, _) = fixture();
    let config = dir.path().join(".buckconfig");
    let text = std::fs::read_to_string(&config).unwrap().replace("mode = slow", "mode = bogus");
    std::fs::write(&config, text).unwrap();
    let project = Project::new(dir.path()).unwrap();
    let err = err_text(project.build("//pkg:bundle"));
    assert!(err.contains("[demo] mode must be `fast` or `slow`, got `bogus`"), "{err}");
    assert!(err.contains("defs.bzl"), "error names the file: {err}");
}

const RULES_HEADER: &str = "def _ok(ctx):\n    return [DefaultInfo()]\n";

#[test]
fn explicit_none_to_an_absent_parameter_is_a_type_error() {
    let (_d, p) = small(&[("r.bzl", "x = cmd_args(\"a\", delimiter = None)\n"), ("BUCK", "load(\":r.bzl\", \"x\")\n")]);
    let err = err_text(p.targets("//"));
    assert!(err.contains("delimiter"), "{err}");
    // `NoneOr` parameters accept None.
    let (_d, p) = small(&[
        ("r.bzl", &format!("{RULES_HEADER}def _i(ctx):\n    return [DefaultInfo(default_output = None)]\nr = rule(impl = _i, attrs = {{}})\n")),
        ("BUCK", "load(\":r.bzl\", \"r\")\nr(name = \"t\")\n"),
    ]);
    p.analyze("//:t").unwrap();
}

#[test]
fn string_attr_with_none_default_errors_at_rule_definition() {
    let (_d, p) = small(&[
        ("r.bzl", &format!("{RULES_HEADER}r = rule(impl = _ok, attrs = {{\"s\": attrs.string(default = None)}})\n")),
        ("BUCK", "load(\":r.bzl\", \"r\")\n"),
    ]);
    let err = err_text(p.targets("//"));
    assert!(err.contains("Expected value of type `string`"), "{err}");
    let (_d, p) = small(&[
        (
            "r.bzl",
            &format!(
                "{RULES_HEADER}r = rule(impl = _ok, attrs = {{\"s\": attrs.option(attrs.string(), default = None)}})\n"
            ),
        ),
        ("BUCK", "load(\":r.bzl\", \"r\")\nr(name = \"t\")\n"),
    ]);
    p.analyze("//:t").unwrap();
}

#[test]
fn missing_default_info_errors() {
    let (_d, p) = small(&[
        ("r.bzl", "def _i(ctx):\n    return []\nr = rule(impl = _i, attrs = {})\n"),
        ("BUCK", "load(\":r.bzl\", \"r\")\nr(name = \"t\")\n"),
    ]);
    let err = err_text(p.analyze("//:t"));
    assert!(err.contains("did not receive a `DefaultInfo` provider"), "{err}");
}

#[test]
fn unbound_declared_output_errors() {
    let (_d, p) = small(&[
        ("r.bzl", "def _i(ctx):\n    o = ctx.actions.declare_output(\"o\")\n    return [DefaultInfo(default_output = o)]\nr = rule(impl = _i, attrs = {})\n"),
        ("BUCK", "load(\":r.bzl\", \"r\")\nr(name = \"t\")\n"),
    ]);
    let err = err_text(p.analyze("//:t"));
    assert!(err.contains("Artifact must be bound by now"), "{err}");
    assert!(err.contains(".as_output()"), "{err}");
}

#[test]
fn load_of_cell_path_without_at_is_rejected() {
    let (_d, p) = small(&[("other/x.bzl", "y = 1\n"), ("BUCK", "load(\"other//:x.bzl\", \"y\")\n")]);
    let err = err_text(p.targets("//"));
    assert!(err.contains("Unable to parse import spec"), "{err}");
    let (_d, p) = small(&[("other/x.bzl", "y = 1\n"), ("BUCK", "load(\"@other//:x.bzl\", \"y\")\n")]);
    p.targets("//").unwrap();
}

#[test]
fn private_symbols_are_not_loadable() {
    let (_d, p) = small(&[("x.bzl", "_y = 1\n"), ("BUCK", "load(\":x.bzl\", \"_y\")\n")]);
    let err = err_text(p.targets("//"));
    assert!(err.contains("_y"), "{err}");
}

#[test]
fn def_in_build_file_is_a_parse_error() {
    let (_d, p) = small(&[("BUCK", "def f():\n    pass\n")]);
    let err = err_text(p.targets("//"));
    assert!(err.contains("def"), "{err}");
}

#[test]
fn type_annotations_in_build_file_are_a_parse_error() {
    let (_d, p) = small(&[("BUCK", "x = lambda: 1\ny: str = \"a\"\n")]);
    let err = err_text(p.targets("//"));
    assert!(err.to_lowercase().contains("type"), "{err}");
}

#[test]
fn read_config_with_non_literal_section_fails_during_analysis() {
    let bzl = "def _i(ctx):\n    s = \"demo\"\n    v = read_config(s, \"k\")\n    return [DefaultInfo()]\nr = rule(impl = _i, attrs = {})\n";
    let (_d, p) = small(&[("r.bzl", bzl), ("BUCK", "load(\":r.bzl\", \"r\")\nr(name = \"t\")\n")]);
    let err = err_text(p.analyze("//:t"));
    assert!(err.contains("This function is unavailable during analysis"), "{err}");
}

#[test]
fn duplicate_category_without_identifier_errors() {
    let bzl = "def _i(ctx):\n    a = ctx.actions.declare_output(\"a\")\n    b = ctx.actions.declare_output(\"b\")\n    ctx.actions.run(cmd_args(\"touch\", a.as_output()), category = \"dup\")\n    ctx.actions.run(cmd_args(\"touch\", b.as_output()), category = \"dup\")\n    return [DefaultInfo(default_outputs = [a, b])]\nr = rule(impl = _i, attrs = {})\n";
    let (_d, p) = small(&[("r.bzl", bzl), ("BUCK", "load(\":r.bzl\", \"r\")\nr(name = \"t\")\n")]);
    let err = err_text(p.analyze("//:t"));
    assert!(err.contains("category `dup`"), "{err}");
    // With distinct identifiers both actions run.
    let ok = bzl
        .replace("category = \"dup\")\n    ctx", "category = \"dup\", identifier = \"a\")\n    ctx")
        .replace("b.as_output()), category = \"dup\")", "b.as_output()), category = \"dup\", identifier = \"b\")");
    let (_d, p) = small(&[("r.bzl", &ok), ("BUCK", "load(\":r.bzl\", \"r\")\nr(name = \"t\")\n")]);
    let outs = p.build("//:t").unwrap();
    assert!(outs.iter().all(|o| o.is_file()), "{outs:?}");
}

#[test]
fn run_without_outputs_and_bad_category_error() {
    let bzl = "def _i(ctx):\n    ctx.actions.run(cmd_args(\"true\"), category = \"noout\")\n    return [DefaultInfo()]\nr = rule(impl = _i, attrs = {})\n";
    let (_d, p) = small(&[("r.bzl", bzl), ("BUCK", "load(\":r.bzl\", \"r\")\nr(name = \"t\")\n")]);
    assert!(err_text(p.analyze("//:t")).contains("expected at least one output artifact"));
    let bzl = "def _i(ctx):\n    o = ctx.actions.declare_output(\"o\")\n    ctx.actions.run(cmd_args(\"touch\", o.as_output()), category = \"Bad-Cat\")\n    return [DefaultInfo(default_output = o)]\nr = rule(impl = _i, attrs = {})\n";
    let (_d, p) = small(&[("r.bzl", bzl), ("BUCK", "load(\":r.bzl\", \"r\")\nr(name = \"t\")\n")]);
    assert!(err_text(p.analyze("//:t")).contains("Invalid category `Bad-Cat`"));
}

#[test]
fn failing_action_reports_stderr_and_missing_outputs() {
    let bzl = "def _i(ctx):\n    o = ctx.actions.declare_output(\"o\")\n    ctx.actions.run(cmd_args(\"/bin/sh\", \"-c\", ctx.attrs.script, o.as_output()), category = \"step\")\n    return [DefaultInfo(default_output = o)]\nr = rule(impl = _i, attrs = {\"script\": attrs.string()})\n";
    let buck = "load(\":r.bzl\", \"r\")\nr(name = \"boom\", script = \"echo kaput >&2; exit 3\")\nr(name = \"lazy\", script = \"true\")\n";
    let (_d, p) = small(&[("r.bzl", bzl), ("BUCK", buck)]);
    let err = err_text(p.build("//:boom"));
    assert!(err.contains("kaput") && err.contains("exit status: 3"), "{err}");
    let err = err_text(p.build("//:lazy"));
    assert!(err.contains("failed to produce output"), "{err}");
}

#[test]
fn toolchain_rule_through_plain_dep_errors() {
    let (_dir, project) = fixture();
    std::fs::write(
        project.root().join("rules/consumer.bzl"),
        "def _i(ctx):\n    return [DefaultInfo()]\nconsumer = rule(impl = _i, attrs = {\"tc\": attrs.dep()})\n",
    )
    .unwrap();
    std::fs::create_dir_all(project.root().join("bad")).unwrap();
    std::fs::write(
        project.root().join("bad/BUCK"),
        "load(\"//rules:consumer.bzl\", \"consumer\")\nconsumer(name = \"c\", tc = \"toolchains//:demo\")\n",
    )
    .unwrap();
    let err = err_text(project.analyze("//bad:c"));
    assert!(err.contains("was used not as a toolchain_dep, but is a toolchain rule"), "{err}");
}

#[test]
fn default_only_attributes_cannot_be_set() {
    let (_dir, project) = fixture();
    std::fs::create_dir_all(project.root().join("bad")).unwrap();
    std::fs::write(
        project.root().join("bad/BUCK"),
        "load(\"//rules:defs.bzl\", \"bundle\")\nbundle(name = \"b\", _toolchain = \"toolchains//:demo\")\n",
    )
    .unwrap();
    let err = err_text(project.analyze("//bad:b"));
    assert!(err.contains("default_only is not allowed to be specified"), "{err}");
}

#[test]
fn providers_are_keyword_only_and_required_fields_are_enforced() {
    let bzl = "P = provider(fields = {\"a\": provider_field(int), \"b\": provider_field(str, default = \"x\")})\nbad = P(1)\n";
    let (_d, p) = small(&[("r.bzl", bzl), ("BUCK", "load(\":r.bzl\", \"bad\")\n")]);
    // Fields are keyword-only: `P(1)` does not bind `a` (starlark-rust's parameter checking, as in Buck2).
    let err = err_text(p.targets("//"));
    assert!(err.contains("Missing named-only parameter `a` for call to `P`"), "{err}");
    let bzl = "P = provider(fields = {\"a\": provider_field(int)})\nbad = P()\n";
    let (_d, p) = small(&[("r.bzl", bzl), ("BUCK", "load(\":r.bzl\", \"bad\")\n")]);
    assert!(err_text(p.targets("//")).contains("`a`"));
    let bzl = "def _i(ctx):\n    return [DefaultInfo(), P(a = 1)]\nP = provider(fields = {\"a\": provider_field(int), \"b\": provider_field(str, default = \"x\")})\nr = rule(impl = _i, attrs = {})\n";
    let (_d, p) = small(&[("r.bzl", bzl), ("BUCK", "load(\":r.bzl\", \"r\")\nr(name = \"t\")\n")]);
    assert_eq!(p.analyze("//:t").unwrap().provider("P").unwrap(), &serde_json::json!({"a": 1, "b": "x"}));
}

#[test]
fn unexported_rule_is_an_error_at_module_freeze() {
    let bzl = "def _i(ctx):\n    return [DefaultInfo()]\ndef f():\n    return rule(impl = _i, attrs = {})\nx = [f()]\n";
    let (_d, p) = small(&[("r.bzl", bzl), ("BUCK", "load(\":r.bzl\", \"x\")\n")]);
    assert!(err_text(p.targets("//")).contains("must be assigned to a variable"));
}

#[test]
fn cmd_args_options_render_like_buck2() {
    let bzl = r#"
def _i(ctx):
    src = ctx.attrs.src
    lines = cmd_args(
        cmd_args(src, format = "--in={}"),
        cmd_args(["a b", "c"], quote = "shell"),
        cmd_args(["x", "y"], prepend = "-I"),
        cmd_args(["p", "q"], delimiter = ","),
        cmd_args(src, parent = 1),
        cmd_args(src, absolute_prefix = "$ROOT/"),
        cmd_args("pre-v1-post", replace_regex = ("v[0-9]", "vN")),
        cmd_args(src, ignore_artifacts = True),
    )
    out = ctx.actions.write("lines.txt", lines)
    rel = ctx.actions.write("rel.txt", cmd_args(src, relative_to = (out, 1)))
    return [DefaultInfo(default_outputs = [out, rel])]
r = rule(impl = _i, attrs = {"src": attrs.source()})
"#;
    let (_d, p) = small(&[
        ("r.bzl", bzl),
        ("pkg/f.txt", "x"),
        ("pkg/BUCK", "load(\"//:r.bzl\", \"r\")\nr(name = \"t\", src = \"f.txt\")\n"),
    ]);
    let outs = p.build("//pkg:t").unwrap();
    let text = std::fs::read_to_string(&outs[0]).unwrap();
    let expected = "--in=pkg/f.txt\n\"a b\"\nc\n-I\nx\n-I\ny\np,q\npkg\n$ROOT/pkg/f.txt\npre-vN-post\npkg/f.txt";
    assert_eq!(text, expected);
    // relative_to = (lines.txt, 1): relative to buck-out/v2/gen/root/<hash>/pkg/__t__ (7 levels).
    assert_eq!(std::fs::read_to_string(&outs[1]).unwrap(), "../../../../../../../pkg/f.txt");
}

#[test]
fn dependencies_must_be_visible_like_in_buck2() {
    let rules =
        format!("{RULES_HEADER}r = rule(impl = _ok, attrs = {{\"deps\": attrs.list(attrs.dep(), default = [])}})\n");
    let (_d, p) = small(&[
        ("r.bzl", &rules),
        (
            "lib/BUCK",
            "load(\"//:r.bzl\", \"r\")\n\
             r(name = \"private\")\n\
             r(name = \"public\", visibility = [\"PUBLIC\"])\n\
             r(name = \"for_app\", visibility = [\"//app:\"])\n\
             r(name = \"for_tree\", visibility = [\"//app/...\"])\n\
             r(name = \"sibling\", deps = [\":private\"])\n",
        ),
        (
            "app/BUCK",
            "load(\"//:r.bzl\", \"r\")\n\
             r(name = \"ok\", deps = [\"//lib:public\", \"//lib:for_app\", \"//lib:for_tree\"])\n\
             r(name = \"bad\", deps = [\"//lib:private\"])\n",
        ),
        ("app/sub/BUCK", "load(\"//:r.bzl\", \"r\")\nr(name = \"sub\", deps = [\"//lib:for_tree\"])\nr(name = \"bad\", deps = [\"//lib:for_app\"])\n"),
    ]);
    p.analyze("//app:ok").unwrap();
    p.analyze("//app/sub:sub").unwrap();
    p.analyze("//lib:sibling").unwrap();
    let err = err_text(p.analyze("//app:bad"));
    assert!(err.contains("`root//lib:private` is not visible to `root//app:bad`"), "{err}");
    let err = err_text(p.analyze("//app/sub:bad"));
    assert!(err.contains("`root//lib:for_app` is not visible to `root//app/sub:bad`"), "{err}");
}
