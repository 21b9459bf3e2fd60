//! The rendered rules as a test project uses them, the same for the Bazel module and the Buck2
//! cell: a `.bzl` that loads every public name of every public `.bzl`, and a build file with one
//! target of every build rule of the spec. Both are derived from the rendered files and the spec
//! (codegen), so a new rule or load point is covered without touching the tests.

use std::fmt::Write;
use std::path::Path;

use codegen::spec::{self, RuleKind};

/// The build system a project is for: they name the OCI layout output of a target differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildSystem {
    Bazel,
    Buck2,
}

/// The rules with a target in the build file: every rule but the toolchain and the repository
/// rule (`pull`, which needs a registry: see tests/deploy.rs).
pub fn build_rules() -> Vec<spec::Rule> {
    spec::spec().rules.into_iter().filter(|r| matches!(r.kind, RuleKind::Build | RuleKind::Executable)).collect()
}

/// The names of [`build_rules`], each checked to have a target `<rule>_rule` in the build file.
pub fn every_rule() -> Vec<&'static str> {
    let rules: Vec<&str> = build_rules().iter().map(|r| r.name).collect();
    for rule in &rules {
        let one_line = format!("{rule}(name = \"{rule}_rule\"");
        let broken = format!("{rule}(\n    name = \"{rule}_rule\"");
        assert!(EVERY_RULE.contains(&one_line) || EVERY_RULE.contains(&broken), "EVERY_RULE has no target of {rule}");
    }
    rules
}

/// `all.bzl`: loads every public name of every public `.bzl` in `dir` (the rendered `img/`
/// directory) and lists them all in `ALL`, so that loading it proves each one is there.
pub fn all_bzl(dir: &Path) -> std::io::Result<String> {
    let mut all = String::new();
    let mut symbols = Vec::new();
    for (file, names) in public_load_points(dir)? {
        let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
        let _ = writeln!(all, "load(\"@rules_img//img:{file}\", {})", quoted.join(", "));
        symbols.extend(names);
    }
    let _ = writeln!(all, "\nALL = [{}]", symbols.join(", "));
    Ok(all)
}

/// Public names of each public `.bzl` of `dir`, read from the files themselves, by file name.
fn public_load_points(dir: &Path) -> std::io::Result<Vec<(String, Vec<String>)>> {
    let mut points = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "bzl") {
            let names = codegen::render::rules::public_names(&std::fs::read_to_string(&path)?);
            points.push((path.file_name().unwrap_or_default().to_string_lossy().into_owned(), names));
        }
    }
    points.sort();
    Ok(points)
}

/// The build file (`BUILD.bazel`, `BUCK`) at the root of the project: loads `all.bzl` and each
/// build rule, then one target of each, built from the inputs [`write_inputs`] writes.
pub fn build_file(system: BuildSystem) -> String {
    let mut build = String::from("load(\":all.bzl\", \"ALL\")\n");
    for rule in build_rules() {
        let _ = writeln!(build, "load(\"@rules_img//img:{}\", \"{}\")", rule.file.file_name(), rule.name);
    }
    // Bazel reaches an output group through a filegroup; Buck2 names it as a sub-target.
    let (manifest_layout, index_layout) = match system {
        BuildSystem::Bazel => {
            build.push_str(
                "\nfilegroup(name = \"layout\", srcs = [\":image_manifest_rule\"], output_group = \"oci_layout\")\n\n\
                 filegroup(name = \"index_layout\", srcs = [\":image_index_rule\"], output_group = \"oci_layout\")\n",
            );
            (":layout", ":index_layout")
        }
        BuildSystem::Buck2 => (":image_manifest_rule[oci_layout]", ":image_index_rule[oci_layout]"),
    };
    build.push_str(&EVERY_RULE.replace("{manifest_layout}", manifest_layout).replace("{index_layout}", index_layout));
    build
}

/// The inputs of the build file's targets: `data.txt` and `in.tar` (holding it), in `dir`.
pub fn write_inputs(dir: &Path) -> std::io::Result<()> {
    std::fs::write(dir.join("data.txt"), "hello\n")?;
    let tar = std::process::Command::new("tar").args(["-cf", "in.tar", "data.txt"]).current_dir(dir).status()?;
    if !tar.success() {
        return Err(std::io::Error::other(format!("tar -cf in.tar data.txt in {}: {tar}", dir.display())));
    }
    Ok(())
}

/// A target of every build rule (`<rule>_rule`), each built from real inputs; the OCI layouts the
/// `*_from_oci_layout` rules read are named in each build system's way by [`build_file`].
const EVERY_RULE: &str = r#"
image_layer(name = "image_layer_rule", srcs = {"/etc/hello.txt": "data.txt"}, symlinks = {"/hello": "etc/hello.txt"})

layer_from_tar(name = "layer_from_tar_rule", src = "in.tar")

image_manifest(name = "image_manifest_rule", layers = [":image_layer_rule", ":layer_from_tar_rule"], entrypoint = ["/hello"])

image_index(name = "image_index_rule", manifests = [":image_manifest_rule"])

image_manifest_from_oci_layout(
    name = "image_manifest_from_oci_layout_rule",
    src = "{manifest_layout}",
    architecture = "amd64",
    os = "linux",
    layers = ["application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar"],
)

image_index_from_oci_layout(
    name = "image_index_from_oci_layout_rule",
    src = "{index_layout}",
    layers = ["application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar"],
    manifests = ["linux/amd64"],
)

image_push(name = "image_push_rule", image = ":image_manifest_rule", registry = "localhost:5000", repository = "x")

image_load(name = "image_load_rule", image = ":image_manifest_rule", repository = "x")

multi_deploy(name = "multi_deploy_rule", operations = [":image_push_rule", ":image_load_rule"])
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_file_has_a_target_of_every_build_rule_of_the_spec() {
        let rules = every_rule();
        assert!(rules.contains(&"image_layer") && rules.contains(&"multi_deploy"), "{rules:?}");
        for system in [BuildSystem::Bazel, BuildSystem::Buck2] {
            let build = build_file(system);
            assert!(!build.contains("{manifest_layout}") && !build.contains("{index_layout}"), "{build}");
            for rule in &rules {
                assert!(build.contains(&format!(", \"{rule}\")\n")), "{system:?}: {rule} is not loaded:\n{build}");
            }
        }
    }
}
