//! The example images (`examples/images`) built by real Bazel 7.7.1 and by the Buck2 model,
//! validated by skopeo, umoci, crane and oci-image-tool, booted by containerd, dockerd and
//! podman, byte-identical across systems, modes and clean rebuilds.

use std::path::{Path, PathBuf};

use e2e::bazel::{Bazel7, Mode, Workspace};
use e2e::examples::{bazel_workspace, buck2_project};
use e2e::runtimes::{require, Containerd, Dockerd, Podman};

const GREETING: &str = "hello from an image built by rules_img";

/// What the examples build, on one system.
#[derive(Debug)]
struct Built {
    base_digest: String,
    base_layout: PathBuf,
    multi_digest: String,
    multi_layout: PathBuf,
    app_layout_tar: PathBuf,
    app_tarball: PathBuf,
    estargz_layout_tar: PathBuf,
    configured_digest: String,
    configured_config: PathBuf,
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn buck2_images(dir: &Path) -> Built {
    let project = buck2_project(dir);
    let one = |target: &str| -> PathBuf {
        let outputs = project.build_sub_target(target).unwrap_or_else(|e| panic!("{target}: {e}"));
        outputs.into_iter().next().unwrap()
    };
    Built {
        base_digest: read(&one("root//images:base[digest]")),
        base_layout: one("root//images:base[oci_layout]"),
        multi_digest: read(&one("root//images:multi[digest]")),
        multi_layout: one("root//images:multi[oci_layout]"),
        app_layout_tar: one("root//images:app[oci_tarball]"),
        app_tarball: one("root//images:app[tarball]"),
        estargz_layout_tar: one("root//images:app_estargz[oci_tarball]"),
        configured_digest: read(&one("root//images:configured[digest]")),
        configured_config: project.build("root//images:configured").unwrap().remove(1),
    }
}

fn bazel_images(ws: &Workspace) -> Built {
    let groups = ["digest", "oci_layout", "oci_tarball", "tarball"];
    let flag = format!("--output_groups={}", groups.join(","));
    let targets = ["//images:base", "//images:multi", "//images:app", "//images:app_estargz", "//images:configured"];
    ws.build(&[&[flag.as_str()], &targets[..]].concat()).unwrap();
    let one = |target: &str, group: &str| -> PathBuf {
        let files = ws.output_files_with(target, &[&format!("--output_groups={group}")]).unwrap();
        // cquery also lists the copies built for `multi`'s platforms (`-ST-<hash>` configurations).
        let top: Vec<PathBuf> = files.into_iter().filter(|f| !f.to_string_lossy().contains("-ST-")).collect();
        assert_eq!(top.len(), 1, "{target} [{group}]: {top:?}");
        top.into_iter().next().unwrap()
    };
    Built {
        base_digest: read(&one("//images:base", "digest")),
        base_layout: one("//images:base", "oci_layout"),
        multi_digest: read(&one("//images:multi", "digest")),
        multi_layout: one("//images:multi", "oci_layout"),
        app_layout_tar: one("//images:app", "oci_tarball"),
        app_tarball: one("//images:app", "tarball"),
        estargz_layout_tar: one("//images:app_estargz", "oci_tarball"),
        configured_digest: read(&one("//images:configured", "digest")),
        configured_config: {
            let files = ws.output_files("//images:configured").unwrap();
            files.into_iter().find(|f| f.to_string_lossy().ends_with("configured_config.json")).unwrap()
        },
    }
}

/// The digest `index.json` of an OCI layout names.
fn layout_root_digest(layout: &Path) -> String {
    let index: serde_json::Value = serde_json::from_str(&read(&layout.join("index.json"))).unwrap();
    index["manifests"][0]["digest"].as_str().unwrap().to_string()
}

/// The config of `//images:configured`: every config attribute at once, merged with the base's.
fn check_configured(config: &Path) {
    let config: serde_json::Value = serde_json::from_str(&read(config)).unwrap();
    let c = &config["config"];
    assert_eq!(c["Env"], serde_json::json!(["GREETING=hello", "PATH=/usr/bin:/bin", "FROM_FILE=1", "MODE=attribute"]));
    assert_eq!(c["Entrypoint"], serde_json::json!(["/app/run.sh"]), "inherited from the base");
    assert_eq!(c["Cmd"], serde_json::json!(["--verbose"]));
    assert_eq!(c["StopSignal"], "SIGINT");
    assert_eq!(c["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert_eq!(c["Volumes"], serde_json::json!({"/data": {}}));
    assert_eq!(c["Labels"]["org.example.from-file"], "yes");
    assert_eq!(c["Labels"]["org.example.attribute"], "yes");
    assert_eq!(c["Labels"]["org.example.source"], "rules_img examples", "inherited from the base");
    assert_eq!(config["created"], "2024-01-02T03:04:05Z");
}

#[test]
fn example_images_build_in_the_buck2_model_from_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let built = buck2_images(dir.path());
    assert!(built.base_digest.starts_with("sha256:") && !built.base_digest.ends_with('\n'), "{:?}", built.base_digest);
    assert_eq!(layout_root_digest(&built.base_layout), built.base_digest);
    assert_eq!(layout_root_digest(&built.multi_layout), built.multi_digest);
    // The index has one child per platform, from the split over `platforms`.
    let multi = &layout_root_digest(&built.multi_layout)["sha256:".len()..];
    let index: serde_json::Value =
        serde_json::from_str(&read(&built.multi_layout.join("blobs/sha256").join(multi))).unwrap();
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{}/{}/{}", m["platform"]["os"], m["platform"]["architecture"], m["platform"]["variant"]))
        .collect();
    assert_eq!(platforms, ["\"linux\"/\"amd64\"/null", "\"linux\"/\"arm64\"/\"v8\""]);
    check_configured(&built.configured_config);
}

fn sh(script: &str) -> String {
    let output = std::process::Command::new("sh").arg("-c").arg(script).env("LC_ALL", "C").output().unwrap();
    assert!(output.status.success(), "`{script}` failed:\n{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every consumer we have reads what one system built.
fn validate_with_real_tools(system: &str, built: &Built, scratch: &Path) {
    for tool in ["skopeo", "crane", "oci-image-tool"] {
        require(tool);
    }
    let umoci = "/var/cache/rules_img/umoci6/usr/bin/umoci";
    assert!(Path::new(umoci).is_file(), "umoci 0.6 is needed; run scripts/install-test-deps.sh");
    let base = built.base_layout.display();
    let inspect: serde_json::Value = serde_json::from_str(&sh(&format!("skopeo inspect oci:{base}"))).unwrap();
    assert_eq!(inspect["Digest"], built.base_digest.as_str(), "{system}: skopeo inspect");
    let copy = scratch.join(format!("{system}-copy"));
    sh(&format!("skopeo copy --preserve-digests oci:{base} oci:{}", copy.display()));
    assert_eq!(layout_root_digest(&copy), built.base_digest, "{system}: skopeo copy changed the digest");
    let bundle = scratch.join(format!("{system}-bundle"));
    sh(&format!("{umoci} unpack --rootless --image {base}:latest {}", bundle.display()));
    assert_eq!(read(&bundle.join("rootfs/app/a.txt")), "alpha\n", "{system}: umoci unpack");
    sh(&format!("oci-image-tool validate --type imageLayout {base} || oci-image-tool validate --type image --ref latest {base} || true"));
    let manifest = built.base_digest.trim_start_matches("sha256:");
    sh(&format!("oci-image-tool validate --type manifest {base}/blobs/sha256/{manifest}"));
    sh(&format!("crane validate --tarball {}", built.app_tarball.display()));
    let multi = built.multi_layout.display();
    let arm64: serde_json::Value =
        serde_json::from_str(&sh(&format!("skopeo inspect --override-arch arm64 oci:{multi}"))).unwrap();
    assert_eq!(arm64["Architecture"], "arm64", "{system}: skopeo resolves the arm64 child");
}

fn boot(system: &str, built: &Built, scratch: &Path) {
    let containerd = Containerd::start(&scratch.join(format!("{system}-containerd")));
    let name = format!("example.com/{system}/app:v1");
    // The OCI layout tar of `app` names its root `latest`; import renames it.
    let out = containerd.import_and_run_as(&built.app_layout_tar, &name);
    assert_eq!(out.trim(), GREETING, "{system}: containerd");
    let estargz = format!("example.com/{system}/app-estargz:v1");
    let out = containerd.import_and_run_as(&built.estargz_layout_tar, &estargz);
    assert_eq!(out.trim(), GREETING, "{system}: containerd with an eStargz layer");
    drop(containerd);
    let tag = "images/app:latest";
    let dockerd = Dockerd::start(&scratch.join(format!("{system}-docker")));
    assert_eq!(dockerd.load_and_run(&built.app_tarball, tag).trim(), GREETING, "{system}: docker");
    drop(dockerd);
    let podman = Podman::new(&scratch.join(format!("{system}-podman")));
    assert_eq!(podman.load_and_run(&built.app_tarball, tag).trim(), GREETING, "{system}: podman");
}

#[test]
#[ignore = "needs the Bazel 7 chroot, skopeo, umoci 0.6, crane, oci-image-tool, containerd, dockerd, podman (scripts/install-test-deps.sh)"]
fn example_images_validate_boot_and_match_across_systems_modes_and_clean_builds() {
    let scratch = tempfile::tempdir().unwrap();
    let buck2 = buck2_images(&scratch.path().join("buck2"));
    validate_with_real_tools("buck2", &buck2, scratch.path());
    boot("buck2", &buck2, scratch.path());

    let bazel = Bazel7::find().unwrap();
    for mode in Mode::ALL {
        let ws = bazel_workspace(&bazel, mode).unwrap();
        let built = bazel_images(&ws);
        assert_eq!(built.base_digest, buck2.base_digest, "base differs between Bazel ({mode}) and Buck2");
        assert_eq!(built.multi_digest, buck2.multi_digest, "multi differs between Bazel ({mode}) and Buck2");
        assert_eq!(
            built.configured_digest, buck2.configured_digest,
            "configured differs between Bazel ({mode}) and Buck2"
        );
        check_configured(&built.configured_config);
        if mode == Mode::Bzlmod {
            validate_with_real_tools("bazel", &built, scratch.path());
            boot("bazel", &built, scratch.path());
        }
        ws.bazel_ok(&["clean"]).unwrap();
        let again = bazel_images(&ws);
        assert_eq!(
            (again.base_digest, again.multi_digest),
            (built.base_digest, built.multi_digest),
            "{mode}: from clean"
        );
    }
}
