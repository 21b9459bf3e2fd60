//! `img registry serve` against a real client (skopeo copying a multi-platform index in and back
//! out) and against the distribution spec, request by request: digests verified before anything
//! is stored, chunked uploads with ranges, mounts, manifests by tag and digest with their media
//! types, tag and catalog pagination, the referrers API, and a clean stop on SIGTERM.

mod registry_support;

use std::io::Write;

use e2e::runtimes::ImgRegistry;
use registry_support::fixtures::{sha256, write_oci_layout, Image, Layer, Root, OCI_MANIFEST};
use registry_support::{assert_tags_complete, get, http, skopeo_copy, tool, Answer, IMG};
use reqwest::Method;
use serde_json::json;

fn url(registry: &ImgRegistry, path: &str) -> String {
    format!("http://{}/v2/{path}", registry.addr)
}

fn request(method: Method, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    http(method, url, headers, Some(body.to_vec())).unwrap()
}

fn error_code(answer: &Answer) -> String {
    answer.json()["errors"][0]["code"].as_str().unwrap_or("").to_owned()
}

/// Uploads a blob in one POST.
fn upload(registry: &ImgRegistry, name: &str, bytes: &[u8]) -> String {
    let digest = sha256(bytes);
    let answer = request(Method::POST, &url(registry, &format!("{name}/blobs/uploads/?digest={digest}")), &[], bytes);
    assert_eq!(answer.status, 201, "{}", String::from_utf8_lossy(&answer.body));
    digest
}

fn put_manifest(registry: &ImgRegistry, name: &str, reference: &str, media_type: &str, bytes: &[u8]) -> Answer {
    request(
        Method::PUT,
        &url(registry, &format!("{name}/manifests/{reference}")),
        &[("Content-Type", media_type)],
        bytes,
    )
}

#[test]
#[ignore = "needs docker-registry/skopeo/crane (scripts/install-test-deps.sh)"]
fn skopeo_copies_a_multi_platform_index_in_and_back_out() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = ImgRegistry::start(IMG, &scratch.path().join("registry"));
    let root = Root::two_platforms(1, [30_000, 20_000, 10_000]);
    let layout = scratch.path().join("layout");
    write_oci_layout(&layout, &root, "v1");
    let reference = format!("docker://{}/copied/app:v1", registry.addr);
    skopeo_copy(&format!("oci:{}:v1", layout.display()), &reference);

    assert_eq!(tool("skopeo", &["inspect", "--raw", "--tls-verify=false", &reference]).as_bytes(), root.bytes());
    assert_eq!(
        tool("crane", &["digest", "--insecure", &format!("{}/copied/app:v1", registry.addr)]).trim(),
        root.digest()
    );
    assert_eq!(tool("crane", &["catalog", "--insecure", &registry.addr]).trim(), "copied/app");
    assert_eq!(assert_tags_complete(&registry.addr, "copied/app"), ["v1"]);
    let arm = tool("skopeo", &["inspect", "--override-arch", "arm64", "--tls-verify=false", &reference]);
    let arm: serde_json::Value = serde_json::from_str(&arm).unwrap();
    assert_eq!(
        arm["Architecture"],
        "arm64",
        "{arm:#}\nindex {} amd64 {} arm64 {}",
        root.digest(),
        root.images()[0].digest(),
        root.images()[1].digest()
    );
    assert_eq!(arm["Layers"][1], root.images()[1].layers[1].digest.as_str());

    let back = scratch.path().join("back");
    skopeo_copy(&reference, &format!("oci:{}:v1", back.display()));
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(back.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], root.digest());
    for (digest, bytes) in root.blobs() {
        assert_eq!(std::fs::read(back.join("blobs/sha256").join(&digest[7..])).unwrap(), bytes);
    }
    // crane's validation reads every layer and checks diff_ids.
    tool(
        "crane",
        &["validate", "--insecure", "--remote", &format!("{}/copied/app@{}", registry.addr, root.images()[0].digest())],
    );
}

#[test]
fn wrong_digests_are_rejected_and_nothing_is_stored() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = ImgRegistry::start(IMG, &scratch.path().join("registry"));
    let claimed = sha256(b"what the client claims");
    let answer =
        request(Method::POST, &url(&registry, &format!("r/blobs/uploads/?digest={claimed}")), &[], b"other bytes");
    assert_eq!((answer.status, error_code(&answer).as_str()), (400, "DIGEST_INVALID"));
    assert_eq!(http(Method::HEAD, &url(&registry, &format!("r/blobs/{claimed}")), &[], None).unwrap().status, 404);
    assert_eq!(
        http(Method::HEAD, &url(&registry, &format!("r/blobs/{}", sha256(b"other bytes"))), &[], None).unwrap().status,
        404
    );

    // The same through a session: POST, PATCH, PUT with the wrong digest.
    let session = request(Method::POST, &url(&registry, "r/blobs/uploads/"), &[], b"");
    assert_eq!(session.status, 202);
    let location = format!("http://{}{}", registry.addr, session.header("Location").unwrap());
    assert_eq!(request(Method::PATCH, &location, &[("Content-Range", "0-4")], b"hello").status, 202);
    let answer = request(Method::PUT, &format!("{location}?digest={claimed}"), &[], b"");
    assert_eq!((answer.status, error_code(&answer).as_str()), (400, "DIGEST_INVALID"));
    assert_eq!(
        http(Method::HEAD, &url(&registry, &format!("r/blobs/{}", sha256(b"hello"))), &[], None).unwrap().status,
        404
    );

    // A manifest PUT by a digest it does not have.
    let config = upload(&registry, "r", b"{}");
    let manifest = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2}, "layers": []})).unwrap();
    let answer = put_manifest(&registry, "r", &claimed, OCI_MANIFEST, &manifest);
    assert_eq!((answer.status, error_code(&answer).as_str()), (400, "DIGEST_INVALID"));
    assert_eq!(get(&url(&registry, &format!("r/manifests/{}", sha256(&manifest)))).status, 404);
    let blobs = std::fs::read_dir(registry.root.join("blobs/sha256")).unwrap().count();
    assert_eq!(blobs, 1, "only the config was stored");
}

#[test]
fn chunked_uploads_follow_content_range_and_broken_chunks_roll_back() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = ImgRegistry::start(IMG, &scratch.path().join("registry"));
    let session = request(Method::POST, &url(&registry, "c/blobs/uploads/"), &[], b"");
    assert_eq!((session.status, session.header("Range").as_deref()), (202, Some("0-0")));
    let location = format!("http://{}{}", registry.addr, session.header("Location").unwrap());
    let answer = request(Method::PATCH, &location, &[("Content-Range", "0-2")], b"abc");
    assert_eq!((answer.status, answer.header("Range").as_deref()), (202, Some("0-2")));
    let answer = request(Method::PATCH, &location, &[("Content-Range", "5-7")], b"xyz");
    assert_eq!((answer.status, answer.header("Range").as_deref()), (416, Some("0-2")), "a gap is refused");

    // A chunk whose connection breaks off is not kept: the upload still holds 3 bytes.
    let path = session.header("Location").unwrap();
    let mut stream = std::net::TcpStream::connect(&registry.addr).unwrap();
    write!(
        stream,
        "PATCH {path} HTTP/1.1\r\nHost: {}\r\nContent-Range: 3-1002\r\nContent-Length: 1000\r\n\r\n",
        registry.addr
    )
    .unwrap();
    stream.write_all(&[b'q'; 400]).unwrap();
    drop(stream);
    let mut status = None;
    for _ in 0..100 {
        let answer = get(&location);
        if answer.header("Range").as_deref() == Some("0-2") {
            status = Some(answer.status);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(status, Some(204), "the broken chunk was rolled back");

    let answer = request(Method::PATCH, &location, &[("Content-Range", "3-5")], b"def");
    assert_eq!(answer.status, 202);
    let digest = sha256(b"abcdef");
    let answer = request(Method::PUT, &format!("{location}?digest={digest}"), &[], b"");
    assert_eq!((answer.status, answer.header("Docker-Content-Digest")), (201, Some(digest.clone())));
    assert_eq!(get(&url(&registry, &format!("c/blobs/{digest}"))).body, b"abcdef");
    assert_eq!(get(&location).status, 404, "a finished session is gone");
}

#[test]
fn mounts_sessions_and_blob_membership_are_per_repository() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = ImgRegistry::start(IMG, &scratch.path().join("registry"));
    let digest = upload(&registry, "a", b"shared");
    assert_eq!(http(Method::HEAD, &url(&registry, &format!("b/blobs/{digest}")), &[], None).unwrap().status, 404);
    let mount = request(Method::POST, &url(&registry, &format!("b/blobs/uploads/?mount={digest}&from=a")), &[], b"");
    assert_eq!((mount.status, mount.header("Docker-Content-Digest")), (201, Some(digest.clone())));
    assert_eq!(get(&url(&registry, &format!("b/blobs/{digest}"))).body, b"shared");
    let missing = sha256(b"nowhere");
    let fallback =
        request(Method::POST, &url(&registry, &format!("c/blobs/uploads/?mount={missing}&from=a")), &[], b"");
    assert_eq!(fallback.status, 202, "an impossible mount opens a session");
    let other_repo = fallback.header("Location").unwrap().replace("/v2/c/", "/v2/d/");
    let answer = request(Method::PATCH, &format!("http://{}{other_repo}", registry.addr), &[], b"x");
    assert_eq!((answer.status, error_code(&answer).as_str()), (404, "BLOB_UPLOAD_UNKNOWN"));
    assert_eq!(request(Method::DELETE, &url(&registry, &format!("b/blobs/{digest}")), &[], b"").status, 202);
    assert_eq!(http(Method::HEAD, &url(&registry, &format!("b/blobs/{digest}")), &[], None).unwrap().status, 404);
    assert_eq!(http(Method::HEAD, &url(&registry, &format!("a/blobs/{digest}")), &[], None).unwrap().status, 200);
}

#[test]
fn manifests_keep_their_media_type_and_need_their_blobs() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = ImgRegistry::start(IMG, &scratch.path().join("registry"));
    let docker_type = "application/vnd.docker.distribution.manifest.v2+json";
    let config = b"{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
    let manifest = |config_digest: &str| {
        serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": docker_type,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config_digest, "size": config.len()},
        "layers": []})).unwrap()
    };
    let early = manifest(&sha256(config));
    let answer = put_manifest(&registry, "m", "v1", docker_type, &early);
    assert_eq!((answer.status, error_code(&answer).as_str()), (400, "MANIFEST_BLOB_UNKNOWN"), "blobs must come first");
    assert_eq!(get(&url(&registry, "m/manifests/v1")).status, 404);

    upload(&registry, "m", config);
    let answer = put_manifest(&registry, "m", "v1", docker_type, &early);
    assert_eq!((answer.status, answer.header("Docker-Content-Digest")), (201, Some(sha256(&early))));
    for reference in ["v1".to_owned(), sha256(&early)] {
        let answer = get(&url(&registry, &format!("m/manifests/{reference}")));
        assert_eq!(answer.header("Content-Type").as_deref(), Some(docker_type));
        assert_eq!(answer.body, early);
        let head = http(Method::HEAD, &url(&registry, &format!("m/manifests/{reference}")), &[], None).unwrap();
        assert_eq!(head.header("Content-Length"), Some(early.len().to_string()));
        assert_eq!(head.header("Docker-Content-Digest"), Some(sha256(&early)));
    }
    let mismatch = put_manifest(&registry, "m", "v2", OCI_MANIFEST, &early);
    assert_eq!(error_code(&mismatch), "MANIFEST_INVALID", "Content-Type and mediaType disagree");
    assert_eq!(error_code(&put_manifest(&registry, "m", "-bad", docker_type, &early)), "TAG_INVALID");
    assert_eq!(error_code(&get(&url(&registry, "Bad/manifests/v1"))), "NAME_INVALID");

    // Deleting by digest takes the tags with it.
    assert_eq!(put_manifest(&registry, "m", "v3", docker_type, &early).status, 201);
    assert_eq!(
        request(Method::DELETE, &url(&registry, &format!("m/manifests/{}", sha256(&early))), &[], b"").status,
        202
    );
    assert_eq!(get(&url(&registry, "m/manifests/v1")).status, 404);
    assert_eq!(get(&url(&registry, "m/tags/list")).json()["tags"], json!([]));
}

#[test]
fn tag_lists_and_catalog_paginate() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = ImgRegistry::start(IMG, &scratch.path().join("registry"));
    let config = upload(&registry, "p/q", b"{}");
    let manifest = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2}, "layers": []})).unwrap();
    for tag in ["c", "a", "d", "b"] {
        assert_eq!(put_manifest(&registry, "p/q", tag, OCI_MANIFEST, &manifest).status, 201);
    }
    upload(&registry, "z", b"1");
    assert_eq!(get(&url(&registry, "p/q/tags/list")).json(), json!({"name": "p/q", "tags": ["a", "b", "c", "d"]}));
    let first = get(&url(&registry, "p/q/tags/list?n=3"));
    assert_eq!(first.json()["tags"], json!(["a", "b", "c"]));
    assert_eq!(first.header("Link").as_deref(), Some("</v2/p/q/tags/list?n=3&last=c>; rel=\"next\""));
    let second = get(&url(&registry, "p/q/tags/list?n=3&last=c"));
    assert_eq!((second.json()["tags"].clone(), second.header("Link")), (json!(["d"]), None));
    assert_eq!(get(&url(&registry, "_catalog")).json(), json!({"repositories": ["p/q", "z"]}));
    assert_eq!(get(&url(&registry, "_catalog?n=1")).json(), json!({"repositories": ["p/q"]}));
    assert_eq!(get(&url(&registry, "_catalog?n=1&last=p/q")).json(), json!({"repositories": ["z"]}));
    assert_eq!(error_code(&get(&url(&registry, "nothing/tags/list"))), "NAME_UNKNOWN");
}

#[test]
fn referrers_list_manifests_by_subject_and_filter_by_artifact_type() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = ImgRegistry::start(IMG, &scratch.path().join("registry"));
    let image = Image::new(vec![Layer::new(5, 1000)], "amd64");
    for (digest, bytes) in Root::Manifest(image.clone()).blobs() {
        assert_eq!(upload(&registry, "ref", &bytes), digest);
    }
    assert_eq!(put_manifest(&registry, "ref", "v1", OCI_MANIFEST, &image.manifest).status, 201);
    let empty = upload(&registry, "ref", b"{}");
    let artifact = |artifact_type: &str, note: &str| {
        serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2}, "layers": [],
        "subject": {"mediaType": OCI_MANIFEST, "digest": image.digest(), "size": image.manifest.len()},
        "annotations": {"note": note}}))
        .unwrap()
    };
    let signature = artifact("application/vnd.example.sig", "sig");
    let sbom = artifact("application/vnd.example.sbom", "sbom");
    for document in [&signature, &sbom] {
        let answer = put_manifest(&registry, "ref", &sha256(document), OCI_MANIFEST, document);
        assert_eq!((answer.status, answer.header("OCI-Subject")), (201, Some(image.digest())));
    }
    let all = get(&url(&registry, &format!("ref/referrers/{}", image.digest())));
    assert_eq!(all.header("Content-Type").as_deref(), Some("application/vnd.oci.image.index.v1+json"));
    let mut listed: Vec<(String, String)> = all.json()["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["digest"].as_str().unwrap().to_owned(), d["artifactType"].as_str().unwrap().to_owned()))
        .collect();
    listed.sort();
    let mut expected = vec![
        (sha256(&signature), "application/vnd.example.sig".to_owned()),
        (sha256(&sbom), "application/vnd.example.sbom".to_owned()),
    ];
    expected.sort();
    assert_eq!(listed, expected);
    let filtered =
        get(&url(&registry, &format!("ref/referrers/{}?artifactType=application/vnd.example.sbom", image.digest())));
    assert_eq!(filtered.header("OCI-Filters-Applied").as_deref(), Some("artifactType"));
    assert_eq!(filtered.json()["manifests"][0]["annotations"]["note"], "sbom");
    assert_eq!(filtered.json()["manifests"].as_array().unwrap().len(), 1);
    let none = get(&url(&registry, &format!("ref/referrers/{}", sha256(b"unreferenced"))));
    assert_eq!((none.status, none.json()["manifests"].clone()), (200, json!([])));
    assert_eq!(
        request(Method::DELETE, &url(&registry, &format!("ref/manifests/{}", sha256(&sbom))), &[], b"").status,
        202
    );
    let after = get(&url(&registry, &format!("ref/referrers/{}", image.digest())));
    assert_eq!(after.json()["manifests"].as_array().unwrap().len(), 1, "a deleted referrer is no longer listed");
}

#[test]
fn sigterm_stops_the_registry_cleanly_and_its_data_survives() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("registry");
    let registry = ImgRegistry::start(IMG, &dir);
    let digest = upload(&registry, "keep", b"data");
    assert!(registry.stop_gracefully(), "exit status 0 after SIGTERM");
    let registry = ImgRegistry::start(IMG, &dir);
    assert_eq!(get(&url(&registry, &format!("keep/blobs/{digest}"))).body, b"data");
    let temporaries = std::fs::read_dir(registry.root.join("tmp")).unwrap().count();
    assert_eq!(temporaries, 0, "no temporary file is left behind");
}
