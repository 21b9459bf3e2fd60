//! Loading with the rules on real Bazel 7.7.1 and the Buck2 model into real runtimes started here
//! (containerd 1.6, dockerd 20.10, podman 4.3, a generic loader script), and multi_deploy pushing
//! to docker-registry and loading into containerd in one run. One test per system, one at a time:
//! the runtimes' addresses travel in environment variables, which are global to the test process.

use std::path::Path;
use std::process::Output;

use e2e::bazel::{Bazel7, Mode};
use e2e::examples::{bazel_workspace, buck2_project};
use e2e::runtimes::{require, Containerd, DockerRegistry, Dockerd, Podman};

const GREETING: &str = "hello from an image built by rules_img";
const NAME: &str = "rules_img/examples/app:latest";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(what: &str, output: Output) -> (String, String) {
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{what} failed:\n{stderr}");
    (stdout, stderr)
}

/// Daemons under a directory the Bazel chroot sees at the same path (its sockets must be reachable
/// from `bazel run`).
fn scratch() -> tempfile::TempDir {
    let base = Path::new(e2e::bazel::CACHE_DIR).join("work");
    std::fs::create_dir_all(&base).unwrap();
    tempfile::tempdir_in(base).unwrap()
}

/// Runs `//deploy:<target>` with `args` on one system.
type Run<'a> = dyn Fn(&str, &[&str]) -> Output + 'a;

/// The runtimes' addresses are environment variables, global to this process: one system at a time.
static ENVIRONMENT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Everything loading must do, the same on both systems.
fn load_everywhere(system: &str, dir: &Path, run: &Run) {
    let _environment = ENVIRONMENT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // containerd: our digest under our name, the program runs, a second load writes nothing.
    let containerd = Containerd::start(&dir.join("containerd"));
    std::env::set_var("CONTAINERD_ADDRESS", &containerd.socket);
    let (_, first) = ok("load into containerd", run("load", &["--daemon", "containerd"]));
    assert!(first.contains("written"), "{system}: {first}");
    let images = containerd.ctr("default", &["images", "ls"]);
    assert!(images.contains(NAME), "{system}: {images}");
    let out = containerd.ctr("default", &["run", "--rm", NAME, "rules-img-load"]);
    assert_eq!(out.trim(), GREETING, "{system}: containerd");
    let (_, again) = ok("second load into containerd", run("load", &["--daemon", "containerd"]));
    assert!(again.contains(" 0 written"), "{system}: the second load wrote blobs:\n{again}");

    // multi_deploy: a push and a load in one run, one summary.
    let registry = DockerRegistry::start(&dir.join("registry"));
    let (_, summary) = ok("multi_deploy", run("all", &["--registry", &registry.addr]));
    assert!(summary.contains("2 of 2 operations succeeded"), "{system}: {summary}");
    // A failing push does not stop the load, and the run fails.
    let failed = run("all", &["--registry", "127.0.0.1:1"]);
    let summary = text(&failed.stderr);
    assert!(!failed.status.success(), "{system}: a failed push went unnoticed:\n{summary}");
    assert!(summary.contains("1 of 2 operations succeeded, 1 failed"), "{system}: {summary}");
    std::env::remove_var("CONTAINERD_ADDRESS");
    drop(containerd);

    // docker: streamed through the Engine API; docker names it, runs it.
    let dockerd = Dockerd::start(&dir.join("docker"));
    std::env::set_var("DOCKER_HOST", &dockerd.host);
    ok("load into docker", run("load", &["--daemon", "docker"]));
    assert_eq!(dockerd.docker(&["run", "--rm", "--network", "none", NAME]).trim(), GREETING, "{system}: docker");
    std::env::remove_var("DOCKER_HOST");
    drop(dockerd);

    // A generic loader gets the tarball on stdin.
    let loader = dir.join("loader.sh");
    let received = dir.join("received.tar");
    std::fs::write(&loader, format!("#!/bin/sh\ncat > '{}'\n", received.display())).unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&loader).status().unwrap();
    std::env::set_var("LOADER_BINARY", &loader);
    ok("load with a generic loader", run("load", &["--daemon", "generic"]));
    std::env::remove_var("LOADER_BINARY");
    let listing = std::process::Command::new("tar").arg("-tf").arg(&received).output().unwrap();
    let listing = text(&listing.stdout);
    for entry in ["manifest.json", "index.json", "oci-layout"] {
        assert!(listing.lines().any(|l| l == entry), "{system}: the loader got no {entry}:\n{listing}");
    }

    // podman: `podman load` of the stream, in its own storage.
    require("podman");
    let podman = Podman::new(&dir.join("podman"));
    for (name, value) in &podman.env {
        std::env::set_var(name, value);
    }
    ok("load into podman", run("load", &["--daemon", "podman"]));
    for (name, _) in &podman.env {
        std::env::remove_var(name);
    }
    assert_eq!(podman.run(NAME).trim(), GREETING, "{system}: podman");
}

#[test]
#[ignore = "needs containerd, dockerd, podman and docker-registry (scripts/install-test-deps.sh)"]
fn buck2_loads_into_containerd_docker_podman_and_a_generic_loader_and_deploys_many() {
    let dir = scratch();
    let project = buck2_project(&dir.path().join("buck2"));
    let run = |target: &str, args: &[&str]| project.run(&format!("root//deploy:{target}"), args).unwrap();
    load_everywhere("buck2", dir.path(), &run);
}

#[test]
#[ignore = "needs the Bazel 7 chroot, containerd, dockerd, podman and docker-registry (scripts/install-test-deps.sh)"]
fn bazel_loads_into_containerd_docker_podman_and_a_generic_loader_and_deploys_many() {
    let dir = scratch();
    let bazel = Bazel7::find().unwrap();
    let ws = bazel_workspace(&bazel, Mode::Bzlmod).unwrap();
    // Build with Bazel, then run the launcher on the host, as `bazel run` would: the daemons'
    // clients (podman's CLI) live on the host, not in the chroot Bazel runs in here.
    let run = |target: &str, args: &[&str]| {
        let label = format!("//deploy:{target}");
        ws.build(&[&label]).unwrap();
        let launcher = ws.output_files(&label).unwrap().remove(0);
        std::process::Command::new(&launcher).args(args).output().unwrap()
    };
    load_everywhere("bazel", dir.path(), &run);
}
