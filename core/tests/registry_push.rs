//! `img push` against real registries: distribution 2.8 (`docker-registry`) and `img registry
//! serve`, read back by skopeo and crane; unchanged re-pushes, streamed and mounted base
//! layers, chunked uploads, and the order of writes (blobs, manifests by digest, then tags).

mod registry_support;

use e2e::runtimes::{DockerRegistry, ImgRegistry};
use registry_support::fixtures::{write_push_request, Image, Layer, LayerBlob, Root};
use registry_support::proxy::FaultProxy;
use registry_support::{
    assert_complete, assert_tags_complete, blob_uploads, digest_of, get, ok, push, skopeo_copy, stdout, tool, Summary,
    IMG,
};

fn two_platform_index(seed: u64) -> Root {
    Root::two_platforms(seed, [40_000, 30_000, 20_000])
}

/// Pushes an index with a tag and reads it back with skopeo and crane: same bytes, same digests.
fn push_and_read_back_with_skopeo_and_crane(addr: &str, scratch: &std::path::Path) {
    let root = two_platform_index(1);
    let request = write_push_request(&scratch.join("req"), &root, addr, "team/app", &["v1"], |_, _| LayerBlob::Local);
    let output = ok(push(scratch, &request, &["--tag", "extra"], &[]));
    let printed: Vec<String> = stdout(&output).lines().map(str::to_owned).collect();
    assert_eq!(
        printed,
        [format!("{addr}/team/app@{}", root.digest()), format!("{addr}/team/app:extra"), format!("{addr}/team/app:v1")]
    );
    assert_eq!(Summary::of(&output), Summary { uploaded: 5, ..Summary::default() }, "2 configs + 3 distinct layers");

    let raw = tool("skopeo", &["inspect", "--raw", "--tls-verify=false", &format!("docker://{addr}/team/app:v1")]);
    assert_eq!(raw.as_bytes(), root.bytes(), "skopeo reads back the exact index");
    for image in root.images() {
        let inspected =
            tool("skopeo", &["inspect", "--tls-verify=false", &format!("docker://{addr}/team/app@{}", image.digest())]);
        let inspected: serde_json::Value = serde_json::from_str(&inspected).unwrap();
        assert_eq!(inspected["Digest"], image.digest());
        assert_eq!(inspected["Architecture"], image.architecture.as_str());
        let layers: Vec<String> = image.layers.iter().map(|l| l.digest.clone()).collect();
        assert_eq!(inspected["Layers"], serde_json::json!(layers));
    }
    let manifest = tool("crane", &["manifest", "--insecure", &format!("{addr}/team/app:extra")]);
    assert_eq!(manifest.as_bytes(), root.bytes(), "crane reads back the exact index");
    assert_eq!(tool("crane", &["digest", "--insecure", &format!("{addr}/team/app:v1")]).trim(), root.digest());
    let tags = tool("crane", &["ls", "--insecure", &format!("{addr}/team/app")]);
    let mut tags: Vec<&str> = tags.lines().collect();
    tags.sort();
    assert_eq!(tags, ["extra", "v1"]);

    // A full copy back out verifies every blob's digest on the way.
    let out = scratch.join("copied");
    skopeo_copy(&format!("docker://{addr}/team/app:v1"), &format!("oci:{}:v1", out.display()));
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], root.digest());
    for (digest, bytes) in root.blobs() {
        assert_eq!(std::fs::read(out.join("blobs/sha256").join(&digest[7..])).unwrap(), bytes, "{digest}");
    }
    assert_eq!(assert_tags_complete(addr, "team/app"), ["extra", "v1"]);
}

#[test]
#[ignore = "needs docker-registry/skopeo/crane (scripts/install-test-deps.sh)"]
fn push_to_distribution_reads_back_identically_with_skopeo_and_crane() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = DockerRegistry::start(&scratch.path().join("registry"));
    push_and_read_back_with_skopeo_and_crane(&registry.addr, scratch.path());
}

#[test]
#[ignore = "needs docker-registry/skopeo/crane (scripts/install-test-deps.sh)"]
fn push_to_img_registry_reads_back_identically_with_skopeo_and_crane() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = ImgRegistry::start(IMG, &scratch.path().join("registry"));
    push_and_read_back_with_skopeo_and_crane(&registry.addr, scratch.path());
}

/// Pushes once, then again unchanged through a proxy that counts requests: no blob moves.
fn unchanged_push_sends_no_blob(upstream: &str, scratch: &std::path::Path) {
    let proxy = FaultProxy::start(upstream);
    let addr = proxy.addr.to_string();
    let root = two_platform_index(10);
    let request = write_push_request(&scratch.join("req"), &root, &addr, "app", &["latest"], |_, _| LayerBlob::Local);
    let first = ok(push(scratch, &request, &[], &[]));
    assert_eq!(Summary::of(&first).uploaded, 5);
    assert!(!blob_uploads(&proxy.seen()).is_empty(), "the first push uploads");

    proxy.clear_seen();
    let again = ok(push(scratch, &request, &[], &[]));
    assert_eq!(Summary::of(&again), Summary { skipped: 5, ..Summary::default() });
    let seen = proxy.seen();
    assert_eq!(blob_uploads(&seen).len(), 0, "an unchanged push uploads nothing: {seen:#?}");
    assert!(seen.iter().all(|s| s.method == "HEAD" || s.method == "GET"), "only lookups: {seen:#?}");
    assert_eq!(stdout(&again), stdout(&first));
    assert_tags_complete(&addr, "app");
}

#[test]
fn unchanged_push_to_img_registry_uploads_no_blob() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = ImgRegistry::start(IMG, &scratch.path().join("registry"));
    unchanged_push_sends_no_blob(&registry.addr, scratch.path());
}

#[test]
#[ignore = "needs docker-registry/skopeo/crane (scripts/install-test-deps.sh)"]
fn unchanged_push_to_distribution_uploads_no_blob() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = DockerRegistry::start(&scratch.path().join("registry"));
    unchanged_push_sends_no_blob(&registry.addr, scratch.path());
}

/// A base layer without a local blob comes from its source: mounted when the source is a
/// repository of the destination registry, streamed (GET into the upload) from another one.
fn base_layers_are_mounted_or_streamed(destination: &str, other: &str, scratch: &std::path::Path) {
    let base_layer = Layer::new(20, 50_000);
    let base = Root::Manifest(Image::new(vec![base_layer.clone()], "amd64"));
    for (registry, dir) in [(destination, "base-here"), (other, "base-there")] {
        let request =
            write_push_request(&scratch.join(dir), &base, registry, "library/base", &["1"], |_, _| LayerBlob::Local);
        ok(push(scratch, &request, &[], &[]));
    }
    let app = |seed| Root::Manifest(Image::new(vec![base_layer.clone(), Layer::new(seed, 10_000)], "amd64"));

    // Same registry: mounted from library/base.
    let proxy = FaultProxy::start(destination);
    let via = proxy.addr.to_string();
    let sources = vec![(via.clone(), "library/base".to_owned())];
    let request = write_push_request(&scratch.join("mounted"), &app(21), &via, "app/mounted", &["v1"], |_, j| {
        if j == 0 {
            LayerBlob::Remote(sources.clone())
        } else {
            LayerBlob::Local
        }
    });
    let output = ok(push(scratch, &request, &[], &[]));
    assert_eq!(Summary::of(&output), Summary { mounted: 1, uploaded: 2, ..Summary::default() });
    assert!(proxy.seen().iter().any(|s| s.method == "POST" && s.target.contains("mount=") && s.status == 201));
    assert!(
        !proxy.seen().iter().any(|s| s.method == "GET" && s.target.contains(&base_layer.digest)),
        "a mount moves no bytes"
    );
    assert_complete(destination, "app/mounted", "v1");

    // Another registry: streamed from it, never written to disk on the way.
    let source_proxy = FaultProxy::start(other);
    let sources = vec![
        ("127.0.0.1:1".to_owned(), "gone/base".to_owned()),
        (source_proxy.addr.to_string(), "library/base".to_owned()),
    ];
    let request =
        write_push_request(&scratch.join("streamed"), &app(22), destination, "app/streamed", &["v1"], |_, j| {
            if j == 0 {
                LayerBlob::Remote(sources.clone())
            } else {
                LayerBlob::Local
            }
        });
    let output = ok(push(scratch, &request, &[], &[("IMG_REGISTRY_RETRY_MAX_ATTEMPTS", "1")]));
    assert_eq!(Summary::of(&output), Summary { streamed: 1, uploaded: 2, ..Summary::default() });
    let gets: Vec<_> = source_proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "GET" && s.target.contains(&base_layer.digest))
        .collect();
    assert_eq!(gets.len(), 1, "one GET of the base layer from its source");
    assert!(
        !walkdir::WalkDir::new(scratch.join("streamed"))
            .into_iter()
            .filter_map(Result::ok)
            .any(|e| { e.file_type().is_file() && std::fs::read(e.path()).unwrap() == base_layer.blob }),
        "the streamed layer was not written next to the request"
    );
    assert_complete(destination, "app/streamed", "v1");
}

#[test]
fn base_layers_are_mounted_or_streamed_between_img_registries() {
    let scratch = tempfile::tempdir().unwrap();
    let destination = ImgRegistry::start(IMG, &scratch.path().join("dest"));
    let other = ImgRegistry::start(IMG, &scratch.path().join("other"));
    base_layers_are_mounted_or_streamed(&destination.addr, &other.addr, scratch.path());
}

#[test]
#[ignore = "needs docker-registry/skopeo/crane (scripts/install-test-deps.sh)"]
fn base_layers_are_mounted_or_streamed_between_distribution_registries() {
    let scratch = tempfile::tempdir().unwrap();
    let destination = DockerRegistry::start(&scratch.path().join("dest"));
    let other = DockerRegistry::start(&scratch.path().join("other"));
    base_layers_are_mounted_or_streamed(&destination.addr, &other.addr, scratch.path());
}

/// Large blobs go up in PATCH chunks; everything lands before the manifests, which land (by
/// digest) before the tags.
fn chunked_upload_and_write_order(upstream: &str, scratch: &std::path::Path) {
    let proxy = FaultProxy::start(upstream);
    let addr = proxy.addr.to_string();
    let root = two_platform_index(30);
    let request =
        write_push_request(&scratch.join("req"), &root, &addr, "chunky", &["t1", "t2"], |_, _| LayerBlob::Local);
    let output = ok(push(scratch, &request, &["--chunk-size", "16384", "--jobs", "2"], &[]));
    assert_eq!(Summary::of(&output).uploaded, 5);
    let seen = proxy.seen();
    let patches = seen.iter().filter(|s| s.method == "PATCH").count();
    assert!(patches >= 6, "40 KB layers in 16 KiB chunks take 3 PATCHes each: {patches}");
    let position = |pred: &dyn Fn(&registry_support::proxy::Seen) -> bool| seen.iter().position(pred);
    let last_blob = seen.iter().rposition(|s| s.target.contains("/blobs/uploads/")).unwrap();
    let first_manifest = position(&|s| s.method == "PUT" && s.target.contains("/manifests/")).unwrap();
    let root_put =
        position(&|s| s.method == "PUT" && s.target.ends_with(&format!("/manifests/{}", root.digest()))).unwrap();
    let first_tag = position(&|s| s.method == "PUT" && s.target.ends_with("/manifests/t1")).unwrap();
    assert!(last_blob < first_manifest, "blobs before manifests");
    for image in root.images() {
        let child =
            position(&|s| s.method == "PUT" && s.target.ends_with(&format!("/manifests/{}", image.digest()))).unwrap();
        assert!(child < root_put, "children before the index");
    }
    assert!(root_put < first_tag, "by digest before tags");
    assert_eq!(assert_tags_complete(&addr, "chunky"), ["t1", "t2"]);
    assert_eq!(digest_of(&addr, "chunky", "t2"), Some(root.digest()));
    assert_eq!(get(&format!("http://{addr}/v2/chunky/manifests/t1")).body, root.bytes());
}

#[test]
fn chunked_upload_and_write_order_on_img_registry() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = ImgRegistry::start(IMG, &scratch.path().join("registry"));
    chunked_upload_and_write_order(&registry.addr, scratch.path());
}

#[test]
#[ignore = "needs docker-registry/skopeo/crane (scripts/install-test-deps.sh)"]
fn chunked_upload_and_write_order_on_distribution() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = DockerRegistry::start(&scratch.path().join("registry"));
    chunked_upload_and_write_order(&registry.addr, scratch.path());
}

#[test]
fn request_that_does_not_hold_together_is_refused_before_any_request() {
    let scratch = tempfile::tempdir().unwrap();
    let root = Root::Manifest(Image::new(vec![Layer::new(40, 1000)], "amd64"));
    let request =
        write_push_request(&scratch.path().join("req"), &root, "127.0.0.1:1", "app", &[], |_, _| LayerBlob::Local);
    // The layer file no longer matches its metadata.
    std::fs::write(scratch.path().join("req/m0/layer0.tar.gz"), b"short").unwrap();
    let output = push(scratch.path(), &request, &[], &[]);
    assert!(!output.status.success());
    let message = registry_support::stderr(&output);
    assert!(message.contains("layer0.tar.gz") && message.contains("layer0.json"), "{message}");
    assert!(!message.contains("cannot reach"), "nothing was sent: {message}");
}
