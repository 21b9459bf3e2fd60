//! Pushing and pulling with the rules on real Bazel 7.7.1 and the Buck2 model, against real
//! registries started here: docker-registry 2.8 and `img registry serve`. What was pushed is read
//! back by skopeo and crane with the digests the build computed; a base pulled shallow (no layer
//! blob downloaded) is built on and pushed, its layers mounted registry-side.

use std::path::Path;

use e2e::bazel::{Bazel7, Mode, Workspace};
use e2e::examples::{bazel_workspace, buck2_project};
use e2e::runtimes::{require, DockerRegistry, ImgRegistry};
use e2e::tool::img;

fn sh(script: &str) -> String {
    let output = std::process::Command::new("sh").arg("-c").arg(script).env("LC_ALL", "C").output().unwrap();
    assert!(output.status.success(), "`{script}` failed:\n{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The digest skopeo reads for `registry/repository:tag`.
fn remote_digest(registry: &str, repository: &str, tag: &str) -> String {
    let raw =
        sh(&format!("skopeo inspect --tls-verify=false --raw docker://{registry}/{repository}:{tag} | sha256sum"));
    format!("sha256:{}", raw.split_whitespace().next().unwrap())
}

/// The `registry/repository@digest` line `img push` prints first.
fn pushed_digest(stdout: &str) -> String {
    let first = stdout.lines().find(|l| l.contains("@sha256:")).unwrap_or_else(|| panic!("no digest in {stdout:?}"));
    first.rsplit_once('@').unwrap().1.to_string()
}

#[test]
#[ignore = "needs docker-registry, skopeo and crane (scripts/install-test-deps.sh)"]
fn buck2_pushes_to_docker_registry_and_img_registry_and_skopeo_and_crane_read_it_back() {
    require("skopeo");
    require("crane");
    let scratch = tempfile::tempdir().unwrap();
    let project = buck2_project(&scratch.path().join("buck2"));
    let distribution = DockerRegistry::start(&scratch.path().join("distribution"));
    let ours = ImgRegistry::start(img(), &scratch.path().join("img-registry"));
    let built = read(&project.build_sub_target("root//images:multi[digest]").unwrap()[0]);
    for registry in [&distribution.addr, &ours.addr] {
        let run = project.run("root//deploy:push_multi", &["--registry", registry]).unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(run.status.success(), "push to {registry}: {}", String::from_utf8_lossy(&run.stderr));
        assert_eq!(pushed_digest(&stdout), built);
        for tag in ["latest", "v1"] {
            assert_eq!(remote_digest(registry, "rules_img/examples/multi", tag), built, "{registry}:{tag}");
        }
        let crane = sh(&format!("crane digest --insecure {registry}/rules_img/examples/multi:v1"));
        assert_eq!(crane.trim(), built, "crane digest on {registry}");
        // Again, unchanged: nothing is uploaded.
        let again = project.run("root//deploy:push_multi", &["--registry", registry]).unwrap();
        let summary = String::from_utf8_lossy(&again.stderr);
        assert!(summary.contains("0 uploaded"), "unchanged re-push to {registry}:\n{summary}");
    }
}

/// Seeds `registry` with the Buck2-built multi-platform index as `seed/multi`; returns its digest.
fn seed(scratch: &Path, registry: &str) -> String {
    let dir = scratch.join("seed");
    let project = if dir.exists() { e2e::buck2::Project::new(&dir).unwrap() } else { buck2_project(&dir) };
    let layout = project.build_sub_target("root//images:multi[oci_layout]").unwrap().remove(0);
    let digest = read(&project.build_sub_target("root//images:multi[digest]").unwrap()[0]);
    sh(&format!(
        "skopeo copy --all --preserve-digests --dest-tls-verify=false oci:{}:latest docker://{registry}/seed/multi:v1",
        layout.display()
    ));
    digest
}

/// A package building on the pulled base and pushing the result.
fn add_pulled_package(ws: &Workspace, registry: &str, digest: &str) {
    let pull = format!(
        "pull(\n    name = \"pulled_base\",\n    digest = \"{digest}\",\n    registry = \"{registry}\",\n    \
         repository = \"seed/multi\",\n    tag = \"v1\",\n    tool = \"//tools:bin/img\",\n)\n"
    );
    let workspace_file = match ws.mode() {
        Mode::Bzlmod => "MODULE.bazel",
        Mode::Workspace => "WORKSPACE",
    };
    let mut text = read(&ws.path().join(workspace_file));
    text.push_str(match ws.mode() {
        Mode::Bzlmod => "\npull = use_repo_rule(\"@rules_img//img:pull.bzl\", \"pull\")\n\n",
        Mode::Workspace => "\nload(\"@rules_img//img:pull.bzl\", \"pull\")\n\n",
    });
    text.push_str(&pull);
    ws.write(workspace_file, &text).unwrap();
    ws.write(
        "pulled/BUILD.bazel",
        &format!(
            "load(\"@rules_img//img:image.bzl\", \"image_manifest\")\nload(\"@rules_img//img:push.bzl\", \"image_push\")\n\n\
             image_manifest(name = \"on_pulled\", base = \"@pulled_base\", layers = [\"//layers:files_zstd\"])\n\n\
             image_push(name = \"push\", image = \":on_pulled\", registry = \"{registry}\", repository = \"deploy/on-pulled\", tag = \"v1\")\n"
        ),
    )
    .unwrap();
}

#[test]
#[ignore = "needs the Bazel 7 chroot, docker-registry, skopeo and crane (scripts/install-test-deps.sh)"]
fn bazel_pulls_a_base_shallow_builds_on_it_and_pushes_with_the_base_layers_mounted() {
    require("skopeo");
    let scratch = tempfile::tempdir().unwrap();
    let distribution = DockerRegistry::start(&scratch.path().join("distribution"));
    let ours = ImgRegistry::start(img(), &scratch.path().join("img-registry"));
    for address in [&distribution.addr, &ours.addr] {
        let registry = Registry { addr: address.clone() };
        pull_build_push_on_bazel(scratch.path(), &registry);
    }
}

struct Registry {
    addr: String,
}

/// Against one registry, in both modes.
fn pull_build_push_on_bazel(scratch: &Path, registry: &Registry) {
    let digest = seed(scratch, &registry.addr);
    let bazel = Bazel7::find().unwrap();
    for mode in Mode::ALL {
        let ws = bazel_workspace(&bazel, mode).unwrap();
        add_pulled_package(&ws, &registry.addr, &digest);
        ws.build(&["--output_groups=+digest", "//pulled:on_pulled", "//images:multi"]).unwrap();
        // Shallow: the pulled repository holds the index, two manifests and two configs, no layer.
        let external = Path::new(&ws.info("output_base").unwrap()).join("external");
        let repo = std::fs::read_dir(&external)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().ends_with("pulled_base"))
            .unwrap_or_else(|| panic!("no pulled_base repository under {}", external.display()));
        let blobs = std::fs::read_dir(repo.join("blobs/sha256")).unwrap().count();
        assert_eq!(blobs, 5, "{mode}: the pull downloaded more than manifests and configs");

        let run = ws.run("//pulled:push", &[]).unwrap();
        let built = {
            let files = ws.output_files_with("//pulled:on_pulled", &["--output_groups=digest"]).unwrap();
            read(&files[0])
        };
        assert_eq!(pushed_digest(&run.stdout), built, "{mode}");
        assert_eq!(remote_digest(&registry.addr, "deploy/on-pulled", "v1"), built, "{mode}");
        // The first push mounts the base layer (files_gzip) from seed/multi instead of uploading it;
        // the second (the other mode, the same image) finds everything in place.
        let expected = if mode == Mode::Bzlmod { "1 mounted" } else { "0 uploaded" };
        assert!(run.stderr.contains(expected), "{mode}: push summary:\n{}", run.stderr);
    }
}

#[test]
#[ignore = "needs docker-registry and skopeo (scripts/install-test-deps.sh)"]
fn buck2_pulls_a_pinned_base_shallow_builds_on_it_and_pushes_with_the_base_layers_mounted() {
    require("skopeo");
    let scratch = tempfile::tempdir().unwrap();
    let distribution = DockerRegistry::start(&scratch.path().join("distribution"));
    let ours = ImgRegistry::start(img(), &scratch.path().join("img-registry"));
    for (name, address) in [("distribution", &distribution.addr), ("img", &ours.addr)] {
        pull_build_push_on_buck2(&scratch.path().join(name), scratch.path(), &Registry { addr: address.clone() });
    }
}

/// Against one registry.
fn pull_build_push_on_buck2(work: &Path, scratch: &Path, registry: &Registry) {
    let digest = seed(scratch, &registry.addr);
    // What a Buck2 user does once: print the pinned target.
    let printed = sh(&format!(
        "{} pull --registry {} --repository seed/multi --digest {digest} --tag v1 --output {} --print-buck2 pulled_base",
        img().display(),
        registry.addr,
        work.join("print").display()
    ));
    assert!(printed.contains(&format!("digest = \"{digest}\"")), "{printed}");
    let dir = work.join("buck2");
    let project = buck2_project(&dir);
    std::fs::create_dir_all(dir.join("pulled")).unwrap();
    std::fs::write(
        dir.join("pulled/BUCK"),
        format!(
            "load(\"@rules_img//img:image.bzl\", \"image_manifest\")\nload(\"@rules_img//img:pull.bzl\", \"pull\")\n\
             load(\"@rules_img//img:push.bzl\", \"image_push\")\n\n{printed}\n\
             image_manifest(name = \"on_pulled\", base = \":pulled_base\", layers = [\"//layers:files_zstd\"])\n\n\
             image_push(name = \"push\", image = \":on_pulled\", registry = \"{}\", repository = \"deploy/on-pulled-buck2\", tag = \"v1\")\n",
            registry.addr
        ),
    )
    .unwrap();
    let built = read(&project.build_sub_target("root//pulled:on_pulled[digest]").unwrap()[0]);
    // Shallow: the pull action fetched the index, two manifests and two configs, no layer.
    let pulled = project.build("root//pulled:pulled_base").unwrap().remove(0);
    assert_eq!(std::fs::read_dir(pulled.join("blobs/sha256")).unwrap().count(), 5);
    let run = project.run("root//pulled:push", &[]).unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert_eq!(pushed_digest(&String::from_utf8_lossy(&run.stdout)), built);
    assert_eq!(remote_digest(&registry.addr, "deploy/on-pulled-buck2", "v1"), built);
    assert!(stderr.contains("1 mounted"), "push summary:\n{stderr}");
}
