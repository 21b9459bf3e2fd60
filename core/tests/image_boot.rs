//! The image boots: a static C program as the entrypoint of an image built by `img`, run by
//! containerd 1.6 (`ctr images import` of the OCI layout tar), dockerd 20.10 (`docker load` of the
//! docker-save tarball) and podman 4.3 (`podman load` of the same tarball). Each test starts its
//! own daemon on a unix socket under a temp dir and stops it.

mod image_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use image_support::daemon::{succeeds, Daemon};
use image_support::*;
use serde_json::json;

const GREETING: &str = "hello from an image built by img";

/// An image whose only layer holds a static program printing [`GREETING`], its entrypoint.
fn hello_image(ws: &Workspace) -> (Run, Layer) {
    require("gcc");
    let source =
        ws.file("hello.c", format!("#include <stdio.h>\nint main(void) {{ puts(\"{GREETING}\"); return 0; }}\n"));
    let binary = ws.path("hello");
    sh(&format!("gcc -static -O2 -o '{}' '{}'", binary.display(), source.display()));
    let layer = ws.layer("hello", &[("bin/hello", &std::fs::read(&binary).unwrap(), true)], "gzip");
    let image = ws.manifest("hello", json!({"layers": [layer.metadata], "entrypoint": ["/bin/hello"]}));
    image.assert_ok();
    (image, layer)
}

/// Runs a client command bounded by `timeout(1)`; returns stdout, panicking with stderr on failure.
fn client(program: &str, args: &[&str], daemon: &Daemon) -> String {
    let output = Command::new("timeout").arg("180").arg(program).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "`{program} {}` failed: {}\n--- daemon log ---\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr),
        daemon.log_tail()
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
#[ignore = "needs containerd 1.6 and runc (scripts/install-test-deps.sh)"]
fn containerd_imports_the_oci_layout_tar_and_runs_it() {
    require("containerd");
    require("ctr");
    let ws = Workspace::new();
    let (image, layer) = hello_image(&ws);
    let layout = ws.layout_of_manifest("hello", &image, &[&layer], "tar", Some("v1"));
    let tar = layout.assert_ok().path("layout");

    let root = ws.path("containerd");
    let socket = root.join("containerd.sock");
    let config = ws.file(
        "containerd/config.toml",
        format!(
            "version = 2\nroot = \"{root}/root\"\nstate = \"{root}/state\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{socket}\"\n[ttrpc]\n  address = \"{socket}.ttrpc\"\n\
             [debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n",
            root = root.display(),
            socket = socket.display()
        ),
    );
    let mut command = Command::new("containerd");
    command.arg("--config").arg(&config);
    let mut containerd = Daemon::start("containerd", command, root.join("containerd.log"));
    let address = path_str(&socket);
    containerd.wait_ready(Duration::from_secs(30), || succeeds("ctr", &["--address", address, "version"]));

    let ctr = |args: &[&str]| {
        let mut all = vec!["--address", address, "--namespace", "img-test"];
        all.extend_from_slice(args);
        client("ctr", &all, &containerd)
    };
    ctr(&["images", "import", "--base-name", "example.com/hello", path_str(tar)]);
    let images = ctr(&["images", "ls", "-q"]);
    assert!(images.contains("example.com/hello:v1"), "{images}");
    let out = ctr(&["run", "--rm", "example.com/hello:v1", "img-boot-test"]);
    assert_eq!(out.trim(), GREETING);
}

#[test]
#[ignore = "needs dockerd 20.10 (scripts/install-test-deps.sh)"]
fn docker_loads_the_tarball_and_runs_it() {
    require("dockerd");
    require("docker");
    let ws = Workspace::new();
    let (image, layer) = hello_image(&ws);
    let save = ws.docker_save("hello", &image, &[&layer], &["example.com/hello:v1"]);
    let tarball = save.assert_ok().path("tarball");

    let root = ws.path("docker");
    std::fs::create_dir_all(&root).unwrap();
    let host = format!("unix://{}", root.join("docker.sock").display());
    let mut command = Command::new("dockerd");
    command
        .arg("--data-root")
        .arg(root.join("data"))
        .arg("--exec-root")
        .arg(root.join("exec"))
        .arg("--pidfile")
        .arg(root.join("docker.pid"))
        .arg("-H")
        .arg(&host)
        .args(["--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs"]);
    let mut dockerd = Daemon::start("dockerd", command, root.join("dockerd.log"));
    dockerd.wait_ready(Duration::from_secs(60), || succeeds("docker", &["-H", &host, "version"]));

    let docker = |args: &[&str]| {
        let mut all = vec!["-H", host.as_str()];
        all.extend_from_slice(args);
        client("docker", &all, &dockerd)
    };
    let loaded = docker(&["load", "-i", path_str(tarball)]);
    assert!(loaded.contains("example.com/hello:v1"), "{loaded}");
    let out = docker(&["run", "--rm", "--network", "none", "example.com/hello:v1"]);
    assert_eq!(out.trim(), GREETING);
}

#[test]
#[ignore = "needs podman 4.3 (scripts/install-test-deps.sh)"]
fn podman_loads_the_tarball_and_runs_it() {
    require("podman");
    let ws = Workspace::new();
    let (image, layer) = hello_image(&ws);
    let save = ws.docker_save("hello", &image, &[&layer], &["example.com/hello:v1"]);
    let tarball = save.assert_ok().path("tarball");

    let root = ws.path("podman");
    let (storage, run, tmp) = (root.join("root"), root.join("run"), root.join("tmp"));
    std::fs::create_dir_all(&tmp).unwrap();
    let podman = |args: &[&str]| -> String {
        let mut all = vec![
            "--root",
            path_str(&storage),
            "--runroot",
            path_str(&run),
            "--tmpdir",
            path_str(&tmp),
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
        ];
        all.extend_from_slice(args);
        let output = Command::new("timeout").arg("180").arg("podman").args(&all).output().unwrap();
        assert!(
            output.status.success(),
            "podman {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let loaded = podman(&["load", "-i", path_str(tarball)]);
    assert!(loaded.contains("example.com/hello:v1"), "{loaded}");
    // CAP_SYS_RESOURCE is not in this machine's bounding set: podman must not raise rlimits.
    let out = podman(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
        "example.com/hello:v1",
    ]);
    assert_eq!(out.trim(), GREETING);
}
