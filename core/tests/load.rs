//! `img load` without a container runtime: the generic loader's tarball (checked with GNU tar and
//! sha256sum), platform selection, and the faults that need no daemon (unreachable, stale and
//! permission-denied sockets, bad requests).

mod image_support;
mod layer_support;
mod load_support;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use e2e::runtimes::ImgRegistry;
use load_support::{fails_with, img_load, ok, Images, Manifest};
use serde_json::Value;
use support::sh;

/// A one-layer image of a shell script (no compiler needed), for tests that never run it.
fn script_image(images: &Images, name: &str, architecture: &str) -> Manifest {
    let script = images.workspace.file(&format!("src/{name}.sh"), format!("#!/bin/sh\necho {name}\n"));
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let layer = images.layer(name, &[("app/run.sh", &script)], "gzip");
    images.manifest(name, &[&layer], architecture, &["/app/run.sh"])
}

/// A loader that keeps what it receives on stdin at `$OUT` (and says so on stdout).
fn recording_loader(images: &Images) -> (std::path::PathBuf, std::path::PathBuf) {
    let received = images.path("received.tar");
    let loader = images.workspace.file(
        "loader.sh",
        format!("#!/bin/sh\n[ $# -eq 0 ] || {{ echo \"unexpected arguments: $*\" >&2; exit 2; }}\ncat > '{}'\necho received\n", received.display()),
    );
    std::fs::set_permissions(&loader, std::fs::Permissions::from_mode(0o755)).unwrap();
    (loader, received)
}

fn json_file(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn generic_loader_gets_a_docker_save_tarball_that_is_also_an_oci_layout() {
    let images = Images::new();
    let image = script_image(&images, "app", "amd64");
    let request = images.load_request("app", "generic", &["example.com/app"], &image);
    let (loader, received) = recording_loader(&images);
    let output = img_load(&["--request", request.to_str().unwrap()], &[("LOADER_BINARY", loader.to_str().unwrap())]);
    let log = ok(&output);
    assert!(log.contains("received"), "the loader's output is passed on: {log}");
    assert_eq!(load_support::stdout(&output).trim(), "example.com/app:latest");

    // Unpacked by GNU tar, checked by sha256sum: every blob is named by its digest.
    let dir = images.path("unpacked");
    std::fs::create_dir(&dir).unwrap();
    sh(&format!("tar -C '{}' -xf '{}'", dir.display(), received.display()));
    let listing = sh(&format!("tar -tf '{}'", received.display()));
    for name in ["manifest.json", "index.json", "oci-layout"] {
        assert!(listing.lines().any(|l| l == name), "{name} missing from {listing}");
    }
    let mut blobs = 0;
    for entry in std::fs::read_dir(dir.join("blobs/sha256")).unwrap() {
        let path = entry.unwrap().path();
        let hex = path.file_name().unwrap().to_str().unwrap().to_owned();
        assert_eq!(sh(&format!("sha256sum < '{}'", path.display()))[..64], hex);
        blobs += 1;
    }
    assert_eq!(blobs, 3, "layer, config and manifest");

    let docker = json_file(&dir.join("manifest.json"));
    assert_eq!(docker[0]["RepoTags"], serde_json::json!(["example.com/app:latest"]));
    assert_eq!(docker[0]["Config"], format!("blobs/sha256/{}", image.config_digest.trim_start_matches("sha256:")));
    assert_eq!(
        docker[0]["Layers"][0],
        format!("blobs/sha256/{}", image.layers[0].digest.trim_start_matches("sha256:"))
    );
    let index = json_file(&dir.join("index.json"));
    let root = &index["manifests"][0];
    assert_eq!(root["digest"], image.digest.as_str(), "the layout's root is the manifest we built");
    assert_eq!(root["annotations"]["io.containerd.image.name"], "example.com/app:latest");
    assert_eq!(root["annotations"]["org.opencontainers.image.ref.name"], "example.com/app:latest");
}

#[test]
fn tag_flags_replace_the_request_names() {
    let images = Images::new();
    let image = script_image(&images, "app", "amd64");
    let request = images.load_request("app", "generic", &["example.com/app:old"], &image);
    let (loader, received) = recording_loader(&images);
    let args = ["--request", request.to_str().unwrap(), "--tag", "example.com/a:1", "-t", "b"];
    ok(&img_load(&args, &[("LOADER_BINARY", loader.to_str().unwrap())]));
    let manifest = sh(&format!("tar -xOf '{}' manifest.json", received.display()));
    let manifest: Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!(["example.com/a:1", "b:latest"]));
}

#[test]
fn platform_flag_picks_the_matching_child_of_an_index() {
    let images = Images::new();
    let amd64 = script_image(&images, "amd", "amd64");
    let arm64 = script_image(&images, "arm", "arm64");
    let (index, _) = images.index("both", &[&amd64, &arm64]);
    let request = images.index_load_request("both", "generic", &["example.com/both:1"], &index, &[&amd64, &arm64]);
    let (loader, received) = recording_loader(&images);
    let args = ["--request", request.to_str().unwrap(), "--platform", "linux/arm64"];
    ok(&img_load(&args, &[("LOADER_BINARY", loader.to_str().unwrap())]));
    let index_json: Value =
        serde_json::from_str(&sh(&format!("tar -xOf '{}' index.json", received.display()))).unwrap();
    assert_eq!(index_json["manifests"][0]["digest"], arm64.digest.as_str());
    let listing = sh(&format!("tar -tf '{}'", received.display()));
    assert!(!listing.contains(amd64.config_digest.trim_start_matches("sha256:")), "only the arm64 child is sent");
}

#[test]
fn platform_not_in_the_index_is_an_error_listing_what_it_has() {
    let images = Images::new();
    let amd64 = script_image(&images, "amd", "amd64");
    let arm64 = script_image(&images, "arm", "arm64");
    let (index, _) = images.index("both", &[&amd64, &arm64]);
    let request = images.index_load_request("both", "generic", &["x:1"], &index, &[&amd64, &arm64]);
    let (loader, received) = recording_loader(&images);
    let output = img_load(
        &["--request", request.to_str().unwrap(), "--platform", "linux/s390x"],
        &[("LOADER_BINARY", loader.to_str().unwrap())],
    );
    fails_with(&output, &["no image for platform linux/s390x", "linux/amd64, linux/arm64/v8", "--platform"]);
    assert!(!received.exists(), "nothing reached the loader");
}

#[test]
fn all_platforms_is_refused_by_tarball_loaders() {
    let images = Images::new();
    let amd64 = script_image(&images, "amd", "amd64");
    let arm64 = script_image(&images, "arm", "arm64");
    let (index, _) = images.index("both", &[&amd64, &arm64]);
    let request = images.index_load_request("both", "generic", &["x:1"], &index, &[&amd64, &arm64]);
    let (loader, _) = recording_loader(&images);
    let output = img_load(
        &["--request", request.to_str().unwrap(), "--platform", "all"],
        &[("LOADER_BINARY", loader.to_str().unwrap())],
    );
    fails_with(&output, &["--platform all", "only containerd"]);
}

#[test]
fn generic_without_loader_binary_says_what_to_set() {
    let images = Images::new();
    let image = script_image(&images, "app", "amd64");
    let request = images.load_request("app", "generic", &["x:1"], &image);
    fails_with(&img_load(&["--request", request.to_str().unwrap()], &[]), &["LOADER_BINARY", "stdin"]);
}

#[test]
fn failing_loader_is_reported_with_its_stderr() {
    let images = Images::new();
    let image = script_image(&images, "app", "amd64");
    let request = images.load_request("app", "generic", &["x:1"], &image);
    let loader = images.workspace.file("bad.sh", "#!/bin/sh\necho 'storage is full' >&2\nexit 7\n");
    std::fs::set_permissions(&loader, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = img_load(&["--request", request.to_str().unwrap()], &[("LOADER_BINARY", loader.to_str().unwrap())]);
    fails_with(&output, &["storage is full", "exit status: 7"]);
}

#[test]
fn unreachable_containerd_socket_names_where_it_looked_and_what_to_do() {
    let images = Images::new();
    let image = script_image(&images, "app", "amd64");
    let request = images.load_request("app", "containerd", &["x:1"], &image);
    let socket = images.path("nowhere/containerd.sock");
    let output =
        img_load(&["--request", request.to_str().unwrap()], &[("CONTAINERD_ADDRESS", socket.to_str().unwrap())]);
    let text = fails_with(
        &output,
        &["no containerd is reachable", socket.to_str().unwrap(), "does not exist", "CONTAINERD_ADDRESS"],
    );
    assert_eq!(text.matches("does not exist").count(), 1, "an explicit address is the only place looked at: {text}");
}

#[test]
fn stale_containerd_socket_is_reported_as_refused() {
    let images = Images::new();
    let image = script_image(&images, "app", "amd64");
    let request = images.load_request("app", "containerd", &["x:1"], &image);
    let socket = images.path("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let output =
        img_load(&["--request", request.to_str().unwrap()], &[("CONTAINERD_ADDRESS", socket.to_str().unwrap())]);
    fails_with(&output, &[socket.to_str().unwrap(), "connection refused"]);
}

#[test]
fn unreachable_docker_names_docker_host() {
    let images = Images::new();
    let image = script_image(&images, "app", "amd64");
    let request = images.load_request("app", "docker", &["x:1"], &image);
    let socket = images.path("docker.sock");
    let host = format!("unix://{}", socket.display());
    fails_with(
        &img_load(&["--request", request.to_str().unwrap()], &[("DOCKER_HOST", &host)]),
        &["no docker is reachable", &host, "DOCKER_HOST"],
    );
}

#[test]
fn permission_denied_on_the_socket_says_who_may_use_it() {
    let images = Images::new();
    let image = script_image(&images, "app", "amd64");
    let request = images.load_request("app", "containerd", &["x:1"], &image);
    let socket = images.path("denied/containerd.sock");
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o000)).unwrap();

    let mut command = Command::new(env!("CARGO_BIN_EXE_img"));
    command.args(["load", "--request", request.to_str().unwrap()]).env("CONTAINERD_ADDRESS", &socket);
    // Root ignores file modes: run img as `nobody`, who must be able to read the image files.
    if unsafe_is_root() {
        sh(&format!("chmod -R a+rX '{}'", images.workspace.dir.path().display()));
        use std::os::unix::process::CommandExt;
        command.uid(65534).gid(65534);
    }
    let output = command.output().unwrap();
    fails_with(
        &output,
        &["permission denied on the containerd socket", socket.to_str().unwrap(), "CONTAINERD_ADDRESS"],
    );
}

fn unsafe_is_root() -> bool {
    sh("id -u").trim() == "0"
}

#[test]
fn request_whose_config_does_not_match_its_manifest_is_refused_naming_the_file() {
    let images = Images::new();
    let image = script_image(&images, "app", "amd64");
    let other = script_image(&images, "other", "arm64");
    let request = images.load_request("app", "generic", &["x:1"], &Manifest { config: other.config.clone(), ..image });
    let (loader, received) = recording_loader(&images);
    let output = img_load(&["--request", request.to_str().unwrap()], &[("LOADER_BINARY", loader.to_str().unwrap())]);
    fails_with(&output, &["load request", other.config.to_str().unwrap(), "but manifest"]);
    assert!(!received.exists());
}

#[test]
fn base_layer_without_local_blob_is_streamed_from_its_registry_into_the_tarball() {
    let images = Images::new();
    let base = script_image(&images, "base", "amd64");
    let registry = ImgRegistry::start(env!("CARGO_BIN_EXE_img"), &images.path("registry"));
    load_support::push(&images, &registry.addr, &base, "team/base");
    // The same image, its layer known only by metadata and a source registry.
    let request = images.remote_load_request("remote", "generic", &["x:1"], &base, &[0], (&registry.addr, "team/base"));
    let (loader, received) = recording_loader(&images);
    ok(&img_load(&["--request", request.to_str().unwrap()], &[("LOADER_BINARY", loader.to_str().unwrap())]));
    let hex = base.layers[0].digest.trim_start_matches("sha256:");
    let sum = sh(&format!("tar -xOf '{}' blobs/sha256/{hex} | sha256sum", received.display()));
    assert_eq!(&sum[..64], hex);

    // A source that does not have the blob: the error names the layer, its digest and the source.
    let request =
        images.remote_load_request("missing", "generic", &["x:1"], &base, &[0], (&registry.addr, "team/other"));
    let output = img_load(&["--request", request.to_str().unwrap()], &[("LOADER_BINARY", loader.to_str().unwrap())]);
    fails_with(&output, &["no local blob", &base.layers[0].digest, "team/other"]);
}
