//! Helpers for the registry tests: a token service ([`token`]; the registries themselves are
//! `e2e::runtimes`), a fault proxy ([`proxy`]), hand-written images ([`fixtures`]), running the
//! built `img`, and checking what a registry holds over plain HTTP.
#![allow(dead_code)]

pub mod fixtures;
pub mod proxy;
pub mod token;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

/// The built `img`.
pub const IMG: &str = env!("CARGO_BIN_EXE_img");

/// The runtime the in-process servers (proxy, token service) and HTTP checks run on.
pub fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap())
}

/// An HTTP answer.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
}

/// One plain HTTP request (bounded by a timeout).
pub fn http(
    method: reqwest::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> reqwest::Result<Answer> {
    rt().block_on(async {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        let mut request = client.request(method, url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        Ok(Answer { status, headers, body })
    })
}

pub fn get(url: &str) -> Answer {
    http(reqwest::Method::GET, url, &[("Accept", ACCEPT)], None).unwrap()
}

pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Runs the built `img` with `args`, extra environment, and no inherited credentials: HOME,
/// DOCKER_CONFIG, REGISTRY_AUTH_FILE and XDG_RUNTIME_DIR point into `home` unless `env` sets them.
pub fn img(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(IMG);
    command.args(args);
    command.env("HOME", home).env("XDG_RUNTIME_DIR", home.join("run")).env("IMG_PROGRESS", "log");
    command.env_remove("DOCKER_CONFIG").env_remove("REGISTRY_AUTH_FILE").env_remove("IMG_CREDENTIAL_HELPER");
    // Fast retries keep the fault tests short; the attempt count stays the default.
    command.env("IMG_REGISTRY_RETRY_BASE_DELAY", "50ms").env("IMG_REGISTRY_RETRY_MAX_DELAY", "200ms");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("img runs")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts success, showing stderr otherwise.
pub fn ok(output: Output) -> Output {
    assert!(output.status.success(), "img failed: {}\nstdout: {}", stderr(&output), stdout(&output));
    output
}

/// The counters of `img push`'s summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    pub skipped: usize,
    pub mounted: usize,
    pub streamed: usize,
    pub uploaded: usize,
}

impl Summary {
    pub fn of(output: &Output) -> Self {
        let text = stderr(output);
        let line =
            text.lines().find(|l| l.starts_with("img push: ") && l.contains(" blobs: ")).expect("a summary line");
        let count = |word: &str| -> usize {
            let before = line.split(&format!(" {word}")).next().unwrap();
            before.rsplit([' ', ':']).next().unwrap().parse().unwrap()
        };
        Self {
            skipped: count("skipped"),
            mounted: count("mounted"),
            streamed: count("streamed"),
            uploaded: count("uploaded"),
        }
    }
}

/// `img push --request <request>` plus `args`.
pub fn push(home: &Path, request: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all = vec!["push", "--request", request.to_str().unwrap()];
    all.extend_from_slice(args);
    img(home, &all, env)
}

/// Asserts the registry's tags of `repository` all point at complete images: every manifest,
/// child, config and layer is there. Returns the tags.
pub fn assert_tags_complete(addr: &str, repository: &str) -> Vec<String> {
    let answer = get(&format!("http://{addr}/v2/{repository}/tags/list"));
    if answer.status == 404 {
        return Vec::new();
    }
    assert_eq!(answer.status, 200, "tags/list of {repository}");
    let tags: Vec<String> = answer.json()["tags"]
        .as_array()
        .map(|t| t.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    for tag in &tags {
        assert_complete(addr, repository, tag);
    }
    let mut tags = tags;
    tags.sort();
    tags
}

/// Asserts a manifest or index and everything below it is in the repository.
pub fn assert_complete(addr: &str, repository: &str, reference: &str) {
    let answer = get(&format!("http://{addr}/v2/{repository}/manifests/{reference}"));
    assert_eq!(answer.status, 200, "{repository}:{reference} resolves");
    let document = answer.json();
    for child in document["manifests"].as_array().into_iter().flatten() {
        assert_complete(addr, repository, child["digest"].as_str().unwrap());
    }
    let blobs = document["layers"].as_array().into_iter().flatten().chain(document.get("config"));
    for blob in blobs {
        let digest = blob["digest"].as_str().unwrap();
        let head =
            http(reqwest::Method::HEAD, &format!("http://{addr}/v2/{repository}/blobs/{digest}"), &[], None).unwrap();
        assert_eq!(head.status, 200, "{repository}:{reference} points at {digest}, which the registry does not have");
    }
}

/// The digest a reference resolves to on the registry.
pub fn digest_of(addr: &str, repository: &str, reference: &str) -> Option<String> {
    let answer = http(
        reqwest::Method::HEAD,
        &format!("http://{addr}/v2/{repository}/manifests/{reference}"),
        &[("Accept", ACCEPT)],
        None,
    )
    .unwrap();
    (answer.status == 200).then(|| answer.header("Docker-Content-Digest").unwrap())
}

/// Requests of the proxy log that upload blob content (POST with a body, PATCH, PUT of a blob).
pub fn blob_uploads(seen: &[proxy::Seen]) -> Vec<proxy::Seen> {
    seen.iter()
        .filter(|s| {
            s.target.contains("/blobs/uploads/")
                && (s.method == "PATCH" || s.method == "PUT" || (s.method == "POST" && s.target.contains("digest=")))
        })
        .cloned()
        .collect()
}

/// `skopeo copy` of every platform with the digests kept; registries are spoken to over HTTP.
pub fn skopeo_copy(from: &str, to: &str) {
    let tls = ["--src-tls-verify=false", "--dest-tls-verify=false"];
    tool("skopeo", &[&["copy", "--all", "--preserve-digests"][..], &tls, &[from, to]].concat());
}

/// Runs an external tool, asserting success; its stdout.
pub fn tool(program: &str, args: &[&str]) -> String {
    e2e::runtimes::require(program);
    let output = Command::new(program).args(args).env("HOME", std::env::temp_dir()).output().expect("the tool runs");
    assert!(output.status.success(), "{program} {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}
