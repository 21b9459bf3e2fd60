//! `img load` into real runtimes the tests start themselves: containerd 1.6 (incremental loads,
//! indexes, a daemon killed mid-load), dockerd 20.10 and podman 4.3. Every image is built by the
//! real `img layer` / `img manifest` around a static program, and must run and print its line.

mod image_support;
mod layer_support;
mod load_support;
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::runtimes::{Containerd, Dockerd, ImgRegistry, Podman};
use load_support::{fails_with, img_load, ok, short, written, Images, Manifest};

const NEEDS: &str = "needs containerd/dockerd/podman (scripts/install-test-deps.sh)";

/// A one-layer image whose entrypoint prints `line`.
fn program_image(images: &Images, name: &str, line: &str) -> Manifest {
    let program = images.static_program(name, line);
    let layer = images.layer(name, &[("bin/hello", &program)], "gzip");
    images.manifest(name, &[&layer], "amd64", &["/bin/hello"])
}

fn containerd_env(containerd: &Containerd) -> Vec<(&'static str, &str)> {
    vec![("CONTAINERD_ADDRESS", containerd.address())]
}

#[test]
#[ignore = "needs containerd/dockerd/podman (scripts/install-test-deps.sh)"]
fn containerd_load_keeps_our_digest_and_the_image_runs() {
    let _ = NEEDS;
    let images = Images::new();
    let image = program_image(&images, "hello", "hello from containerd");
    let request = images.load_request("hello", "auto", &["example.com/hello:v1"], &image);
    let containerd = Containerd::start(&images.path("containerd"));

    // `auto` takes containerd when it answers.
    let log = ok(&img_load(&["--request", request.to_str().unwrap()], &containerd_env(&containerd)));
    assert!(log.contains(&format!("containerd at {}", containerd.address())), "{log}");
    assert!(log.contains("0 already present, 3 written"), "{log}");
    let listed = containerd.images("default");
    assert_eq!(listed, [("example.com/hello:v1".to_owned(), image.digest.clone())]);

    let printed = containerd.ctr("default", &["run", "--rm", "example.com/hello:v1", "hello-run"]);
    assert_eq!(printed.trim(), "hello from containerd");

    // Loading the same image again writes nothing.
    let log = ok(&img_load(&["--request", request.to_str().unwrap()], &containerd_env(&containerd)));
    assert!(log.contains("3 already present, 0 written (0 B)"), "{log}");
    assert!(written(&log).is_empty());

    // Without a name the image is kept by digest (an unnamed image would be garbage collected).
    let unnamed = images.load_request("unnamed", "containerd", &[], &image);
    let output = img_load(&["--request", unnamed.to_str().unwrap()], &containerd_env(&containerd));
    ok(&output);
    let name = format!("untagged@{}", image.digest);
    assert_eq!(load_support::stdout(&output).trim(), name);
    assert!(containerd.images("default").contains(&(name, image.digest.clone())));
}

#[test]
#[ignore = "needs containerd/dockerd/podman (scripts/install-test-deps.sh)"]
fn containerd_reload_after_a_small_layer_changed_writes_only_that_layer() {
    let images = Images::new();
    let big = images.big_layer("big", 48 << 20, 7);
    let one = images.static_program("one", "version one");
    let two = images.static_program("two", "version two");
    let app_one = images.layer("app-one", &[("bin/hello", &one)], "gzip");
    let app_two = images.layer("app-two", &[("bin/hello", &two)], "gzip");
    let v1 = images.manifest("v1", &[&big, &app_one], "amd64", &["/bin/hello"]);
    let v2 = images.manifest("v2", &[&big, &app_two], "amd64", &["/bin/hello"]);
    let containerd = Containerd::start(&images.path("containerd"));
    let env = containerd_env(&containerd);

    let request = images.load_request("v1", "containerd", &["example.com/app:dev"], &v1);
    ok(&img_load(&["--request", request.to_str().unwrap()], &env));
    let before = containerd.content();
    assert!(before.contains(&big.digest));

    let request = images.load_request("v2", "containerd", &["example.com/app:dev"], &v2);
    let log = ok(&img_load(&["--request", request.to_str().unwrap()], &env));

    // What img says it wrote, and what the content store gained, are exactly the new layer, the
    // new config and the new manifest: the 48 MiB layer was not sent again.
    let mut expected = [app_two.digest.clone(), v2.config_digest.clone(), v2.digest.clone()];
    expected.sort();
    assert_eq!(written(&log), expected.iter().map(|d| short(d)).collect::<Vec<_>>(), "{log}");
    assert!(log.contains("1 already present, 3 written"), "{log}");
    let after = containerd.content();
    let gained: Vec<&String> = after.iter().filter(|d| !before.contains(d)).collect();
    assert_eq!(gained, expected.iter().collect::<Vec<_>>());
    let small =
        app_two.size + std::fs::metadata(&v2.config).unwrap().len() + std::fs::metadata(&v2.manifest).unwrap().len();
    assert!(small < big.size / 20, "the changed blobs are small next to the big layer");

    assert_eq!(containerd.images("default"), [("example.com/app:dev".to_owned(), v2.digest.clone())]);
    let printed = containerd.ctr("default", &["run", "--rm", "example.com/app:dev", "app-run"]);
    assert_eq!(printed.trim(), "version two");
}

#[test]
#[ignore = "needs containerd/dockerd/podman (scripts/install-test-deps.sh)"]
fn containerd_index_loads_the_host_platform_or_all() {
    let images = Images::new();
    let program = images.static_program("hello", "hello from an index");
    let layer = images.layer("hello", &[("bin/hello", &program)], "gzip");
    let amd64 = images.manifest("amd64", &[&layer], "amd64", &["/bin/hello"]);
    let arm64 = images.manifest("arm64", &[&layer], "arm64", &["/bin/hello"]);
    let (index, index_digest) = images.index("multi", &[&amd64, &arm64]);
    let containerd = Containerd::start(&images.path("containerd"));
    let env = containerd_env(&containerd);

    let request =
        images.index_load_request("multi", "containerd", &["example.com/multi:host"], &index, &[&amd64, &arm64]);
    ok(&img_load(&["--request", request.to_str().unwrap()], &env));
    let content = containerd.content();
    assert!(content.contains(&amd64.digest) && !content.contains(&arm64.digest), "only the host's child: {content:?}");
    assert!(content.contains(&index_digest));
    assert_eq!(containerd.images("default"), [("example.com/multi:host".to_owned(), index_digest.clone())]);
    let printed = containerd.ctr("default", &["run", "--rm", "example.com/multi:host", "multi-run"]);
    assert_eq!(printed.trim(), "hello from an index");

    let args = ["--request", request.to_str().unwrap(), "--platform", "all", "--tag", "example.com/multi:all"];
    let log = ok(&img_load(&args, &env));
    let mut expected = vec![short(&arm64.config_digest), short(&arm64.digest)];
    expected.sort();
    assert_eq!(written(&log), expected, "only the arm64 manifest and config were missing: {log}");
    let listing = containerd.ctr("default", &["images", "ls"]);
    let all = listing.lines().find(|l| l.starts_with("example.com/multi:all")).unwrap();
    assert!(all.contains(&index_digest) && all.contains("linux/amd64") && all.contains("linux/arm64"), "{listing}");
}

#[test]
#[ignore = "needs containerd/dockerd/podman (scripts/install-test-deps.sh)"]
fn containerd_killed_mid_load_leaves_no_name_and_a_rerun_completes() {
    let images = Images::new();
    let big = images.big_layer("big", 256 << 20, 11);
    let program = images.static_program("hello", "survived a crash");
    let app = images.layer("app", &[("bin/hello", &program)], "gzip");
    let image = images.manifest("crash", &[&big, &app], "amd64", &["/bin/hello"]);
    let request = images.load_request("crash", "containerd", &["example.com/crash:1"], &image);
    let mut containerd = Containerd::start(&images.path("containerd"));

    let mut load = Command::new(env!("CARGO_BIN_EXE_img"))
        .args(["load", "--request", request.to_str().unwrap()])
        .env("CONTAINERD_ADDRESS", containerd.address())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill containerd once the big blob is partly in its ingest directory.
    let deadline = Instant::now() + Duration::from_secs(60);
    while containerd.ingest_bytes() < 1 << 20 {
        assert!(load.try_wait().unwrap().is_none(), "the load ended before containerd could be killed");
        assert!(Instant::now() < deadline, "the big blob never started streaming");
        std::thread::sleep(Duration::from_millis(10));
    }
    containerd.kill();
    let deadline = Instant::now() + Duration::from_secs(60);
    while load.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "img load did not notice containerd dying within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = load.wait_with_output().unwrap();
    fails_with(&output, &["stopped answering", "no image name was created", containerd.address()]);

    containerd.restart();
    assert!(containerd.images("default").is_empty(), "no half-loaded image is named");
    let log = ok(&img_load(&["--request", request.to_str().unwrap()], &containerd_env(&containerd)));
    assert!(written(&log).contains(&short(&big.digest)), "{log}");
    assert_eq!(containerd.images("default"), [("example.com/crash:1".to_owned(), image.digest.clone())]);
    let printed = containerd.ctr("default", &["run", "--rm", "example.com/crash:1", "crash-run"]);
    assert_eq!(printed.trim(), "survived a crash");
}

#[test]
#[ignore = "needs containerd/dockerd/podman (scripts/install-test-deps.sh)"]
fn docker_load_streams_a_tarball_and_the_image_runs() {
    let images = Images::new();
    let image = program_image(&images, "hello", "hello from docker");
    let request = images.load_request("hello", "docker", &["example.com/hello:v1"], &image);
    let dockerd = Dockerd::start(&images.path("docker"));

    let log = ok(&img_load(&["--request", request.to_str().unwrap()], &[("DOCKER_HOST", &dockerd.host)]));
    assert!(log.contains("image ID") && log.contains(&image.digest), "the digest change is explained: {log}");
    assert!(log.contains("Loaded image: example.com/hello:v1"), "{log}");
    let id = dockerd.docker(&["image", "inspect", "--format", "{{.Id}}", "example.com/hello:v1"]);
    assert_eq!(id.trim(), image.config_digest, "docker 20.10 names the image by its config");
    let printed = dockerd.docker(&["run", "--rm", "--network", "none", "example.com/hello:v1"]);
    assert_eq!(printed.trim(), "hello from docker");
}

#[test]
#[ignore = "needs containerd/dockerd/podman (scripts/install-test-deps.sh)"]
fn podman_load_reads_the_tarball_from_stdin_and_the_image_runs() {
    let images = Images::new();
    let image = program_image(&images, "hello", "hello from podman");
    let request = images.load_request("hello", "podman", &["example.com/hello:v1"], &image);
    let podman = Podman::new(&images.path("podman"));

    let log = ok(&img_load(&["--request", request.to_str().unwrap()], &podman.env()));
    assert!(log.contains("Loaded image: example.com/hello:v1"), "{log}");
    assert_eq!(podman.run("example.com/hello:v1").trim(), "hello from podman");
}

#[test]
#[ignore = "needs containerd/dockerd/podman (scripts/install-test-deps.sh)"]
fn containerd_streams_base_layers_from_their_registry() {
    let images = Images::new();
    let image = program_image(&images, "hello", "hello from a registry layer");
    let registry = ImgRegistry::start(env!("CARGO_BIN_EXE_img"), &images.path("registry"));
    load_support::push(&images, &registry.addr, &image, "team/base");
    let request = images.remote_load_request(
        "remote",
        "containerd",
        &["example.com/remote:1"],
        &image,
        &[0],
        (&registry.addr, "team/base"),
    );
    let containerd = Containerd::start(&images.path("containerd"));
    let log = ok(&img_load(&["--request", request.to_str().unwrap()], &containerd_env(&containerd)));
    assert!(written(&log).contains(&short(&image.layers[0].digest)), "{log}");
    let printed = containerd.ctr("default", &["run", "--rm", "example.com/remote:1", "remote-run"]);
    assert_eq!(printed.trim(), "hello from a registry layer");
}

#[test]
#[ignore = "needs containerd/dockerd/podman (scripts/install-test-deps.sh)"]
fn containerd_unpack_commits_the_snapshots_before_the_first_run() {
    let images = Images::new();
    let image = program_image(&images, "hello", "hello unpacked");
    let request = images.load_request("hello", "containerd", &["example.com/hello:unpacked"], &image);
    let containerd = Containerd::start(&images.path("containerd"));
    let env = containerd_env(&containerd);
    let metadata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&image.layers[0].metadata).unwrap()).unwrap();
    let diff_id = metadata["diff_id"].as_str().unwrap();
    assert!(!containerd.ctr("default", &["snapshots", "ls"]).contains(diff_id));

    let log = ok(&img_load(&["--request", request.to_str().unwrap(), "--unpack"], &env));
    assert!(log.contains("unpacked into overlayfs: 1 of 1 layer(s) applied"), "{log}");
    // A one-layer image's chain ID is its diff_id; the config's gc label keeps the snapshot.
    let snapshots = containerd.ctr("default", &["snapshots", "ls"]);
    assert!(snapshots.lines().any(|l| l.starts_with(diff_id) && l.contains("Committed")), "{snapshots}");
    let content = containerd.ctr("default", &["content", "ls"]);
    let config = content.lines().find(|l| l.starts_with(&image.config_digest)).unwrap();
    assert!(config.contains(&format!("containerd.io/gc.ref.snapshot.overlayfs={diff_id}")), "{config}");

    let log = ok(&img_load(&["--request", request.to_str().unwrap(), "--unpack"], &env));
    assert!(log.contains("0 of 1 layer(s) applied"), "{log}");
    let printed = containerd.ctr("default", &["run", "--rm", "example.com/hello:unpacked", "unpacked-run"]);
    assert_eq!(printed.trim(), "hello unpacked");
}
