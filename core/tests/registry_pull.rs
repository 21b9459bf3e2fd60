//! `img pull`: shallow pulls (manifests and configs, never layer blobs) of multi-platform
//! indexes and single manifests, OCI and Docker media types, by digest or by tag.

mod registry_support;

use std::path::{Path, PathBuf};

use e2e::runtimes::{DockerRegistry, ImgRegistry};
use img_contract::deploy::PullResult;
use img_contract::image::RootKind;
use img_contract::layer::LayerMetadata;
use registry_support::fixtures::{
    sha256, write_oci_layout, write_push_request, Image, Layer, LayerBlob, Root, DOCKER_LIST, GZIP_LAYER,
};
use registry_support::proxy::FaultProxy;
use registry_support::{img, ok, push, skopeo_copy, stderr, IMG};

fn pull(home: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["pull"];
    all.extend_from_slice(args);
    img(home, &all, &[])
}

fn read_result(output: &Path) -> PullResult {
    serde_json::from_slice(&std::fs::read(output.join("pull.json")).unwrap()).unwrap()
}

/// Pushes `root` (every blob local) to `repository`, tagged `tag`.
fn push_image(scratch: &Path, addr: &str, root: &Root, repository: &str, tag: &str) {
    let request = write_push_request(&scratch.join("req"), root, addr, repository, &[tag], |_, _| LayerBlob::Local);
    ok(push(scratch, &request, &[], &[]));
}

/// Pulls `root` by digest from `repository` into `out/`; that directory and its `pull.json`.
fn pull_by_digest(scratch: &Path, addr: &str, repository: &str, root: &Root) -> (PathBuf, PullResult) {
    let output = scratch.join("out");
    let digest = root.digest();
    let args =
        ["--registry", addr, "--repository", repository, "--digest", &digest, "--output", output.to_str().unwrap()];
    ok(pull(scratch, &args));
    let result = read_result(&output);
    (output, result)
}

/// Checks the output directory against the image: documents byte for byte, descriptors, and
/// layer metadata from manifest + config; and that no layer blob is in it.
fn assert_pulled(output: &Path, root: &Root, result: &PullResult) {
    assert_eq!(result.digest, root.digest());
    assert_eq!(std::fs::read(output.join(&result.root)).unwrap(), root.bytes());
    assert_eq!(result.manifests.len(), root.images().len());
    for (pulled, image) in result.manifests.iter().zip(root.images()) {
        assert_eq!(std::fs::read(output.join(&pulled.manifest)).unwrap(), image.manifest);
        assert_eq!(std::fs::read(output.join(&pulled.config)).unwrap(), image.config);
        assert_eq!(
            (pulled.os.as_str(), pulled.architecture.as_str(), pulled.variant.as_str()),
            ("linux", image.architecture.as_str(), "")
        );
        let descriptor: serde_json::Value =
            serde_json::from_slice(&std::fs::read(output.join(&pulled.descriptor)).unwrap()).unwrap();
        assert_eq!(descriptor, image.descriptor());
        assert_eq!(pulled.layers.len(), image.layers.len());
        for (j, (path, layer)) in pulled.layers.iter().zip(&image.layers).enumerate() {
            let metadata: LayerMetadata = serde_json::from_slice(&std::fs::read(output.join(path)).unwrap()).unwrap();
            assert_eq!(metadata.diff_id.as_deref(), Some(layer.diff_id.as_str()));
            assert_eq!((metadata.digest.as_str(), metadata.size), (layer.digest.as_str(), layer.size() as u64));
            assert_eq!(metadata.media_type, GZIP_LAYER, "Docker layer types become OCI ones");
            // The fixture's config history: one empty entry, then one per layer.
            let created_by: Vec<_> = metadata.history.iter().map(|h| h.created_by.clone().unwrap()).collect();
            let own = format!("layer {}", &layer.digest[7..19]);
            assert_eq!(created_by, if j == 0 { vec!["ENV A=1".to_owned(), own] } else { vec![own] });
        }
    }
    let stored: Vec<String> = std::fs::read_dir(output.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    for image in root.images() {
        for layer in &image.layers {
            assert!(!stored.contains(&layer.digest[7..].to_owned()), "layer blob {} was downloaded", layer.digest);
        }
    }
    // A single manifest is its own root.
    let documents = match root {
        Root::Manifest(_) => 2,
        Root::Index(images, _) => 1 + 2 * images.len(),
    };
    assert_eq!(stored.len(), documents, "the root, each manifest and each config: {stored:?}");
    for name in &stored {
        assert_eq!(
            sha256(&std::fs::read(output.join("blobs/sha256").join(name)).unwrap())[7..],
            **name,
            "stored under its digest"
        );
    }
}

#[test]
#[ignore = "needs docker-registry/skopeo/crane (scripts/install-test-deps.sh)"]
fn shallow_pull_of_a_multi_platform_index_seeded_by_skopeo_downloads_no_layer() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = DockerRegistry::start(&scratch.path().join("registry"));
    let root = Root::two_platforms(1, [30_000, 20_000, 10_000]);
    let layout = scratch.path().join("layout");
    write_oci_layout(&layout, &root, "v1");
    skopeo_copy(&format!("oci:{}:v1", layout.display()), &format!("docker://{}/base/multi:v1", registry.addr));

    let proxy = FaultProxy::start(&registry.addr);
    let output = scratch.path().join("out");
    let via = proxy.addr.to_string();
    ok(pull(
        scratch.path(),
        &[
            "--registry",
            &via,
            "--repository",
            "base/multi",
            "--digest",
            &root.digest(),
            "--tag",
            "v1",
            "--output",
            output.to_str().unwrap(),
        ],
    ));
    let result = read_result(&output);
    assert_eq!(
        (result.registry.as_str(), result.repository.as_str(), result.tag.as_str(), result.root_kind),
        (via.as_str(), "base/multi", "v1", RootKind::Index)
    );
    assert_pulled(&output, &root, &result);
    let root_descriptor: serde_json::Value =
        serde_json::from_slice(&std::fs::read(output.join(&result.root_descriptor)).unwrap()).unwrap();
    assert_eq!(
        root_descriptor,
        serde_json::json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": root.digest(), "size": root.bytes().len()})
    );
    let seen = proxy.seen();
    for image in root.images() {
        for layer in &image.layers {
            assert!(
                !seen.iter().any(|s| s.target.contains(&layer.digest)),
                "no request for layer {}: {seen:#?}",
                layer.digest
            );
        }
    }
    assert_eq!(seen.iter().filter(|s| s.target.contains("/blobs/")).count(), 2, "exactly the two configs: {seen:#?}");
}

#[test]
fn pull_of_a_docker_manifest_list_maps_layer_types_to_oci() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = ImgRegistry::start(IMG, &scratch.path().join("registry"));
    let root = Root::index_of_type(
        vec![
            Image::docker(vec![Layer::new(4, 5000), Layer::new(5, 6000)], "amd64"),
            Image::docker(vec![Layer::new(6, 7000)], "arm64"),
        ],
        DOCKER_LIST,
    );
    push_image(scratch.path(), &registry.addr, &root, "docker/list", "v1");
    let (output, result) = pull_by_digest(scratch.path(), &registry.addr, "docker/list", &root);
    assert_eq!((result.root_kind, result.tag.as_str()), (RootKind::Index, ""));
    assert_pulled(&output, &root, &result);
}

#[test]
fn pull_of_a_single_manifest_gives_its_descriptor_a_platform() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = ImgRegistry::start(IMG, &scratch.path().join("registry"));
    let root = Root::Manifest(Image::new(vec![Layer::new(7, 5000)], "arm64"));
    push_image(scratch.path(), &registry.addr, &root, "single", "v1");
    let (output, result) = pull_by_digest(scratch.path(), &registry.addr, "single", &root);
    assert_eq!(result.root_kind, RootKind::Manifest);
    assert_pulled(&output, &root, &result);
    let root_descriptor = std::fs::read(output.join(&result.root_descriptor)).unwrap();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&root_descriptor).unwrap(), root.images()[0].descriptor());
}

#[test]
fn tag_without_digest_is_refused_unless_allowed_and_names_the_digest_to_pin() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = ImgRegistry::start(IMG, &scratch.path().join("registry"));
    let root = Root::Manifest(Image::new(vec![Layer::new(8, 3000)], "amd64"));
    push_image(scratch.path(), &registry.addr, &root, "tagged", "stable");
    let output = scratch.path().join("out");
    let args = [
        "--registry",
        &registry.addr,
        "--repository",
        "tagged",
        "--tag",
        "stable",
        "--output",
        output.to_str().unwrap(),
    ];
    let refused = pull(scratch.path(), &args);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains(&root.digest()) && stderr(&refused).contains("--allow-tag-without-digest"),
        "{}",
        stderr(&refused)
    );
    assert!(!output.exists(), "nothing written");

    let mut allowed = args.to_vec();
    allowed.push("--allow-tag-without-digest");
    let output_ok = ok(pull(scratch.path(), &allowed));
    assert!(stderr(&output_ok).contains(&format!("digest = \"{}\"", root.digest())), "{}", stderr(&output_ok));
    let result = read_result(&output);
    assert_eq!((result.tag.as_str(), result.digest.as_str()), ("stable", root.digest().as_str()));
    assert_pulled(&output, &root, &result);
}
