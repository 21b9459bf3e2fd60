//! Faults between `img` and a registry, injected by a proxy: wrong digests served, 401 without
//! credentials, a base layer gone from its source, connections reset mid-upload, 500s, and 429
//! with Retry-After. After every fault the registry is checked: no tag points at a manifest
//! whose blobs are not all there. Each scenario runs against `img registry serve` (fast) and,
//! in one ignored test, against distribution 2.8.

mod registry_support;

use std::path::Path;
use std::time::Duration;

use e2e::runtimes::{DockerRegistry, ImgRegistry};
use registry_support::fixtures::{write_push_request, Image, Layer, LayerBlob, Root};
use registry_support::proxy::{Fault, FaultProxy, Rule};
use registry_support::{assert_tags_complete, digest_of, img, ok, push, stderr, Summary, IMG};

fn image(seed: u64) -> Root {
    Root::Manifest(Image::new(vec![Layer::new(seed, 60_000), Layer::new(seed + 1, 30_000)], "amd64"))
}

fn status(status: u16, headers: &[(&str, &str)]) -> Fault {
    Fault::Status { status, headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
}

fn pull_to(home: &Path, registries: &[&str], repository: &str, digest: &str, output: &Path) -> std::process::Output {
    let mut args = vec!["pull", "--repository", repository, "--digest", digest, "--output", output.to_str().unwrap()];
    for registry in registries {
        args.extend(["--registry", registry]);
    }
    img(home, &args, &[])
}

/// A registry that serves other bytes than the digest asked for: the pull fails and writes
/// nothing; with a good mirror after it, the mirror's bytes are used.
fn wrong_digest_served(upstream: &str, scratch: &Path) {
    let root = Root::index(vec![Image::new(vec![Layer::new(1, 5000)], "amd64")]);
    let request = write_push_request(&scratch.join("req"), &root, upstream, "base", &["v1"], |_, _| LayerBlob::Local);
    ok(push(scratch, &request, &[], &[]));
    let proxy = FaultProxy::start(upstream);
    let bad = proxy.addr.to_string();
    let child = root.images()[0].digest();
    proxy.add(Rule::new(Some("GET"), &format!("/manifests/{child}"), usize::MAX, Fault::CorruptBody));

    let output = scratch.join("out");
    let failed = pull_to(scratch, &[&bad], "base", &root.digest(), &output);
    assert!(!failed.status.success());
    let message = stderr(&failed);
    assert!(
        message.contains(&format!("not the expected {child}")) && message.contains("rejected and not stored"),
        "{message}"
    );
    assert!(!output.exists(), "nothing stored after a digest mismatch");

    let pulled = ok(pull_to(scratch, &[&bad, upstream], "base", &root.digest(), &output));
    assert!(stderr(&pulled).contains("warning"), "the bad mirror is reported: {}", stderr(&pulled));
    let result: serde_json::Value = serde_json::from_slice(&std::fs::read(output.join("pull.json")).unwrap()).unwrap();
    assert_eq!(result["digest"], root.digest());
    let stored = std::fs::read(output.join("blobs/sha256").join(&child[7..])).unwrap();
    assert_eq!(stored, root.images()[0].manifest, "the mirror's verified bytes");
    assert_eq!(assert_tags_complete(upstream, "base"), ["v1"]);
}

/// 401 without any credentials: the push stops, names the registry, and tags nothing.
fn unauthorized_without_credentials(upstream: &str, scratch: &Path) {
    let proxy = FaultProxy::start(upstream);
    let via = proxy.addr.to_string();
    proxy.add(Rule::new(None, "/v2/", usize::MAX, status(401, &[("WWW-Authenticate", "Basic realm=\"fault\"")])));
    let root = image(10);
    let request = write_push_request(&scratch.join("req401"), &root, &via, "locked", &["v1"], |_, _| LayerBlob::Local);
    let output = push(scratch, &request, &[], &[]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains(&format!("registry {via} requires credentials")), "{}", stderr(&output));
    assert!(assert_tags_complete(upstream, "locked").is_empty());
    assert_eq!(digest_of(upstream, "locked", &root.digest()), None);
}

/// A base layer with no local blob that none of its sources has: a clear error naming the layer
/// and each source, and no manifest or tag in the destination.
fn base_blob_missing_everywhere(upstream: &str, scratch: &Path) {
    let root = image(20);
    let sources =
        vec![(upstream.to_owned(), "library/gone".to_owned()), ("127.0.0.1:9".to_owned(), "mirror/gone".to_owned())];
    let request = write_push_request(&scratch.join("req404"), &root, upstream, "app404", &["v1"], |_, j| {
        if j == 0 {
            LayerBlob::Remote(sources.clone())
        } else {
            LayerBlob::Local
        }
    });
    let output = push(scratch, &request, &[], &[("IMG_REGISTRY_RETRY_MAX_ATTEMPTS", "2")]);
    assert!(!output.status.success());
    let message = stderr(&output);
    let layer = &root.images()[0].layers[0].digest;
    for expected in [
        "layer 0 of manifest 0",
        "m0/layer0.json",
        layer.as_str(),
        &format!("{upstream}/library/gone"),
        "127.0.0.1:9/mirror/gone",
        "no local blob",
    ] {
        assert!(message.contains(expected), "missing {expected:?} in: {message}");
    }
    assert!(assert_tags_complete(upstream, "app404").is_empty());
    assert_eq!(digest_of(upstream, "app404", &root.digest()), None, "no manifest without its blobs");
}

/// A base layer streamed from a source that serves wrong bytes: the stream is checked as it
/// passes, the upload is never completed, and nothing is tagged.
fn streamed_blob_with_wrong_content(upstream: &str, scratch: &Path) {
    let source = ImgRegistry::start(IMG, &scratch.join("source"));
    let base = Root::Manifest(Image::new(vec![Layer::new(80, 40_000)], "amd64"));
    let request =
        write_push_request(&scratch.join("reqbase"), &base, &source.addr, "base", &["1"], |_, _| LayerBlob::Local);
    ok(push(scratch, &request, &[], &[]));
    let proxy = FaultProxy::start(&source.addr);
    let layer = base.images()[0].layers[0].clone();
    proxy.add(Rule::new(Some("GET"), &format!("/blobs/{}", layer.digest), usize::MAX, Fault::CorruptBody));
    let root = Root::Manifest(Image::new(vec![layer.clone(), Layer::new(81, 1000)], "amd64"));
    let sources = vec![(proxy.addr.to_string(), "base".to_owned())];
    let request = write_push_request(&scratch.join("reqstream"), &root, upstream, "streamed", &["v1"], |_, j| {
        if j == 0 {
            LayerBlob::Remote(sources.clone())
        } else {
            LayerBlob::Local
        }
    });
    let output = push(scratch, &request, &[], &[]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains(&format!("instead of {}", layer.digest)), "{message}");
    assert!(!message.contains("retrying"), "wrong content is not retried: {message}");
    let head = registry_support::http(
        reqwest::Method::HEAD,
        &format!("http://{upstream}/v2/streamed/blobs/{}", layer.digest),
        &[],
        None,
    )
    .unwrap();
    assert_eq!(head.status, 404, "the wrong bytes were not committed");
    assert!(assert_tags_complete(upstream, "streamed").is_empty());
    assert_eq!(digest_of(upstream, "streamed", &root.digest()), None);
}

/// Connections reset in the middle of an upload (monolithic PUT, then a chunk PATCH): retried.
fn connection_reset_mid_upload(upstream: &str, scratch: &Path) {
    let proxy = FaultProxy::start(upstream);
    let via = proxy.addr.to_string();
    // The requests that carry a whole blob: `POST ?digest=` (img's registry takes it; distribution
    // answers 202) and the `PUT ?digest=` of POST + PUT. Each is cut once.
    proxy.add(Rule::new(Some("POST"), "digest=sha256", 1, Fault::ResetAfter { bytes: 16_000 }));
    proxy.add(Rule::new(Some("PUT"), "digest=sha256", 1, Fault::ResetAfter { bytes: 16_000 }));
    let root = image(30);
    let request = write_push_request(&scratch.join("reqreset"), &root, &via, "reset", &["v1"], |_, _| LayerBlob::Local);
    let output = ok(push(scratch, &request, &["--jobs", "1"], &[]));
    assert_eq!(Summary::of(&output).uploaded, 3);
    assert!(stderr(&output).contains("retrying"), "{}", stderr(&output));
    assert!(proxy.seen().iter().any(|s| s.faulted && s.status == 0), "the reset happened");

    proxy.clear_seen();
    proxy.clear_rules();
    // The second chunk is cut: the upload resumes after the first, in the same session.
    proxy.add(Rule::new(Some("PATCH"), "/blobs/uploads/", 1, Fault::ResetAfter { bytes: 10_000 }).skipping(1));
    let root = image(40);
    let request =
        write_push_request(&scratch.join("reqreset2"), &root, &via, "reset-chunks", &["v1"], |_, _| LayerBlob::Local);
    let output = ok(push(scratch, &request, &["--jobs", "1", "--chunk-size", "20000"], &[]));
    assert_eq!(Summary::of(&output).uploaded, 3);
    assert!(stderr(&output).contains("resuming"), "{}", stderr(&output));
    let seen = proxy.seen();
    assert!(seen.iter().any(|s| s.faulted && s.method == "PATCH"), "a chunk was cut");
    let sessions = seen.iter().filter(|s| s.method == "POST" && s.target.ends_with("/blobs/uploads/")).count();
    let finished = seen.iter().filter(|s| s.method == "PUT" && s.target.contains("digest=") && s.status == 201).count();
    assert_eq!(sessions, finished, "every session was finished, none restarted: {seen:#?}");
    assert!(
        seen.iter().any(|s| s.method == "GET" && s.target.contains("/blobs/uploads/")),
        "the upload state was asked for"
    );
    for repository in ["reset", "reset-chunks"] {
        assert_eq!(assert_tags_complete(upstream, repository), ["v1"]);
    }
}

/// 500s are retried a bounded number of times: a few pass, a permanent one fails the push
/// before any tag is written.
fn server_errors(upstream: &str, scratch: &Path) {
    let proxy = FaultProxy::start(upstream);
    let via = proxy.addr.to_string();
    proxy.add(Rule::new(Some("HEAD"), "/blobs/", 2, status(500, &[])));
    proxy.add(Rule::new(Some("PUT"), "/manifests/", 1, status(503, &[])));
    let root = image(50);
    let request = write_push_request(&scratch.join("req500"), &root, &via, "flaky", &["v1"], |_, _| LayerBlob::Local);
    ok(push(scratch, &request, &[], &[]));
    assert_eq!(assert_tags_complete(upstream, "flaky"), ["v1"]);

    proxy.add(Rule::new(Some("PUT"), "/blobs/uploads/", usize::MAX, status(500, &[])));
    proxy.add(Rule::new(Some("POST"), "digest=", usize::MAX, status(500, &[])));
    let root = image(60);
    let request = write_push_request(&scratch.join("req500b"), &root, &via, "broken", &["v1"], |_, _| LayerBlob::Local);
    let output = push(scratch, &request, &[], &[("IMG_REGISTRY_RETRY_MAX_ATTEMPTS", "3")]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("gave up after 3 attempts"), "{}", stderr(&output));
    assert!(assert_tags_complete(upstream, "broken").is_empty());
    assert_eq!(digest_of(upstream, "broken", &root.digest()), None);
}

/// 429 with Retry-After: 1 delays the retry by a second, although our own backoff is 50 ms.
fn too_many_requests(upstream: &str, scratch: &Path) {
    let proxy = FaultProxy::start(upstream);
    let via = proxy.addr.to_string();
    let root = image(70);
    let config = &root.blobs().into_iter().find(|(_, b)| b == &root.images()[0].config).unwrap().0;
    proxy.add(Rule::new(Some("HEAD"), &format!("/blobs/{config}"), 1, status(429, &[("Retry-After", "1")])));
    let request = write_push_request(&scratch.join("req429"), &root, &via, "slow", &["v1"], |_, _| LayerBlob::Local);
    ok(push(scratch, &request, &[], &[]));
    let heads: Vec<_> =
        proxy.seen().into_iter().filter(|s| s.method == "HEAD" && s.target.contains(config.as_str())).collect();
    assert_eq!(heads.len(), 2, "{heads:#?}");
    assert_eq!(heads[0].status, 429);
    let waited = heads[1].at.duration_since(heads[0].at);
    assert!(waited >= Duration::from_millis(950), "Retry-After: 1 honoured, waited {waited:?}");
    assert_eq!(assert_tags_complete(upstream, "slow"), ["v1"]);
}

/// A fault scenario against the registry at an address, with a scratch directory.
type Scenario = fn(&str, &Path);

fn with_img_registry(scenario: Scenario) {
    let scratch = tempfile::tempdir().unwrap();
    let registry = ImgRegistry::start(IMG, &scratch.path().join("registry"));
    scenario(&registry.addr, scratch.path());
}

#[test]
fn wrong_digest_served_is_rejected_and_nothing_is_stored() {
    with_img_registry(wrong_digest_served);
}

#[test]
fn unauthorized_without_credentials_tags_nothing() {
    with_img_registry(unauthorized_without_credentials);
}

#[test]
fn base_blob_missing_from_every_source_names_the_layer_and_sources() {
    with_img_registry(base_blob_missing_everywhere);
}

#[test]
fn streamed_blob_with_wrong_content_is_never_committed() {
    with_img_registry(streamed_blob_with_wrong_content);
}

#[test]
fn connection_reset_mid_upload_is_retried() {
    with_img_registry(connection_reset_mid_upload);
}

#[test]
fn server_errors_are_retried_a_bounded_number_of_times() {
    with_img_registry(server_errors);
}

#[test]
fn too_many_requests_honours_retry_after() {
    with_img_registry(too_many_requests);
}

#[test]
#[ignore = "needs docker-registry/skopeo/crane (scripts/install-test-deps.sh)"]
fn every_fault_against_distribution() {
    let scenarios: [(&str, Scenario); 7] = [
        ("wrong digest", wrong_digest_served),
        ("wrong streamed content", streamed_blob_with_wrong_content),
        ("401", unauthorized_without_credentials),
        ("404 base blob", base_blob_missing_everywhere),
        ("reset", connection_reset_mid_upload),
        ("5xx", server_errors),
        ("429", too_many_requests),
    ];
    for (name, scenario) in scenarios {
        eprintln!("fault scenario against distribution: {name}");
        let scratch = tempfile::tempdir().unwrap();
        let registry = DockerRegistry::start(&scratch.path().join("registry"));
        scenario(&registry.addr, scratch.path());
    }
}
