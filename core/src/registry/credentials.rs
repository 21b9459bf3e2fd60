//! Where registry credentials come from: a credential helper given on the command line, Docker's
//! and Podman's config files (`auths`, `credHelpers`, `credsStore`). Secrets stay inside
//! [`Secret`], whose `Debug` never shows them; what we report is where we looked.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::reference::canonical_host;

/// A credential helper that does not answer within this time is treated as failed.
const HELPER_TIMEOUT: Duration = Duration::from_secs(60);

/// Where to look beyond the standard places (flags of `img push` / `img pull`).
#[derive(Debug, Clone, Default)]
pub struct CredentialOptions {
    /// A Docker config file (or a directory holding `config.json`), looked at first.
    pub docker_config_path: Option<PathBuf>,
    /// A credential helper: `docker-credential-*` helpers speak Docker's protocol, anything else
    /// Bazel's (`<helper> get`, `{"uri": …}` in, `{"headers": …}` out).
    pub credential_helper: Option<PathBuf>,
}

impl CredentialOptions {
    /// Fills the helper from `IMG_CREDENTIAL_HELPER` when no flag gave one.
    pub fn with_env(mut self) -> Self {
        if self.credential_helper.is_none() {
            self.credential_helper =
                std::env::var_os("IMG_CREDENTIAL_HELPER").filter(|v| !v.is_empty()).map(PathBuf::from);
        }
        self
    }
}

/// A secret: user and password for Basic auth (or a token service), or a ready bearer token.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Basic { username: String, password: String },
    Bearer(String),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Basic { .. } => f.write_str("Basic(<redacted>)"),
            Secret::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

impl Secret {
    /// The `Authorization` header value.
    pub fn header_value(&self) -> String {
        match self {
            Secret::Basic { username, password } => basic_header(username, password),
            Secret::Bearer(token) => format!("Bearer {token}"),
        }
    }
}

/// `Basic base64(user:password)`.
pub fn basic_header(username: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")))
}

/// A secret and a description of where it came from (safe to print).
#[derive(Debug, Clone)]
pub struct Credential {
    pub secret: Secret,
    pub origin: String,
}

/// The outcome of a lookup: the first credential found, and every place looked at with what was
/// found there (for the error message when a registry wants credentials we do not have).
#[derive(Debug, Clone, Default)]
pub struct Lookup {
    pub credential: Option<Credential>,
    pub looked: Vec<String>,
}

/// Looks for credentials of `host` (`base_url` is what a Bazel helper is asked about). Nothing
/// here fails: a broken file or helper is noted and the next source is tried, so that a problem
/// with credentials never blocks an anonymous pull.
pub async fn lookup(host: &str, base_url: &str, options: &CredentialOptions) -> Lookup {
    let mut lookup = Lookup::default();
    let key = canonical_host(host);
    if let Some(helper) = &options.credential_helper {
        let origin = format!(
            "credential helper {} (--credential-helper / IMG_CREDENTIAL_HELPER / credential_helper setting)",
            helper.display()
        );
        let is_docker_helper =
            helper.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("docker-credential-"));
        let result = if is_docker_helper {
            docker_helper(helper, &server_url(&key)).await
        } else {
            bazel_helper(helper, base_url).await
        };
        let outcome = match result {
            Ok(Some(secret)) => Outcome::Found(secret, String::new()),
            Ok(None) => Outcome::NoEntry,
            Err(problem) => Outcome::Broken(problem),
        };
        if lookup.note(origin, outcome) {
            return lookup;
        }
    } else {
        lookup
            .looked
            .push("--credential-helper / IMG_CREDENTIAL_HELPER / credential_helper setting: not given".to_owned());
    }
    for (label, path) in config_files(options) {
        let Some(path) = path else {
            lookup.looked.push(format!("{label}: not set"));
            continue;
        };
        let origin = format!("{label} ({})", path.display());
        let outcome = from_config_file(&path, &key).await;
        if lookup.note(origin, outcome) {
            return lookup;
        }
    }
    lookup
}

impl Lookup {
    /// Records the outcome of one source; true when it gave a credential.
    fn note(&mut self, origin: String, outcome: Outcome) -> bool {
        match outcome {
            Outcome::Found(secret, detail) => {
                let origin = format!("{origin}{detail}");
                self.looked.push(format!("{origin}: found"));
                self.credential = Some(Credential { secret, origin });
                true
            }
            Outcome::NoEntry => {
                self.looked.push(format!("{origin}: no entry for this registry"));
                false
            }
            Outcome::NoFile => {
                self.looked.push(format!("{origin}: no such file"));
                false
            }
            Outcome::Broken(problem) => {
                eprintln!("img: warning: ignoring {origin}: {problem}");
                self.looked.push(format!("{origin}: {problem}"));
                false
            }
        }
    }
}

/// What one source gave.
enum Outcome {
    /// A secret, and a detail for its origin (which entry of the file).
    Found(Secret, String),
    NoEntry,
    NoFile,
    /// Unreadable, unparsable, or a helper that failed: reported, then skipped.
    Broken(String),
}

/// The config files in the order they are consulted, with the label that explains each.
fn config_files(options: &CredentialOptions) -> Vec<(&'static str, Option<PathBuf>)> {
    let env_path = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let mut files = Vec::new();
    if let Some(path) = &options.docker_config_path {
        let file = if path.is_dir() { path.join("config.json") } else { path.clone() };
        files.push(("--docker-config-path / docker_config_path setting", Some(file)));
    }
    files.push(("$REGISTRY_AUTH_FILE", env_path("REGISTRY_AUTH_FILE")));
    match env_path("DOCKER_CONFIG") {
        Some(dir) => files.push(("$DOCKER_CONFIG/config.json", Some(dir.join("config.json")))),
        None => files.push(("~/.docker/config.json", env_path("HOME").map(|home| home.join(".docker/config.json")))),
    }
    files.push((
        "podman's $XDG_RUNTIME_DIR/containers/auth.json",
        env_path("XDG_RUNTIME_DIR").map(|dir| dir.join("containers/auth.json")),
    ));
    files
}

#[derive(Deserialize, Default)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    registrytoken: Option<String>,
    identitytoken: Option<String>,
}

/// Docker's order within one file: a `credHelpers` entry for the host, then the `auths` entry,
/// then the `credsStore` that holds everything else.
async fn from_config_file(path: &Path, key: &str) -> Outcome {
    let bytes = match tokio::fs::read(path).await {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Outcome::NoFile,
        Err(err) => return Outcome::Broken(format!("cannot read it: {err}")),
    };
    let config: DockerConfig = match serde_json::from_slice(&bytes) {
        Ok(config) => config,
        Err(err) => return Outcome::Broken(format!("not a valid config file: {err}")),
    };
    let from_helper = |name: &str, result: Result<Option<Secret>, String>, kind: &str| match result {
        Ok(Some(secret)) => Outcome::Found(secret, format!(", {kind} `{name}`")),
        Ok(None) => Outcome::NoEntry,
        Err(problem) => Outcome::Broken(format!("{kind} `{name}`: {problem}")),
    };
    if let Some((_, name)) = config.cred_helpers.iter().find(|(host, _)| canonical_host(host) == key) {
        let helper = PathBuf::from(format!("docker-credential-{name}"));
        return from_helper(name, docker_helper(&helper, &server_url(key)).await, "credHelpers entry");
    }
    if let Some((_, entry)) = config.auths.iter().find(|(host, _)| canonical_host(host) == key) {
        match entry.secret() {
            Ok(Some(secret)) => return Outcome::Found(secret, ", auths entry".to_owned()),
            Ok(None) => {}
            Err(problem) => return Outcome::Broken(problem),
        }
    }
    if let Some(name) = config.creds_store.as_deref().filter(|name| !name.is_empty()) {
        let helper = PathBuf::from(format!("docker-credential-{name}"));
        return from_helper(name, docker_helper(&helper, &server_url(key)).await, "credsStore");
    }
    Outcome::NoEntry
}

impl AuthEntry {
    fn secret(&self) -> Result<Option<Secret>, String> {
        if let Some(token) = self.registrytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(Secret::Bearer(token.to_owned())));
        }
        if let (Some(username), Some(password)) = (&self.username, &self.password) {
            if !username.is_empty() {
                return Ok(Some(Secret::Basic { username: username.clone(), password: password.clone() }));
            }
        }
        if let Some(auth) = self.auth.as_deref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or("its `auth` entry is not base64 of `user:password`")?;
            let (username, password) =
                decoded.split_once(':').ok_or("its `auth` entry is not base64 of `user:password`")?;
            return Ok(Some(Secret::Basic { username: username.to_owned(), password: password.to_owned() }));
        }
        if self.identitytoken.is_some() {
            return Err("its entry holds only an OAuth identity token, which img does not support".to_owned());
        }
        Ok(None)
    }
}

/// What Docker passes to a helper for a registry: the hostname, or Docker Hub's legacy URL.
fn server_url(key: &str) -> String {
    match key {
        "index.docker.io" => "https://index.docker.io/v1/".to_owned(),
        other => other.to_owned(),
    }
}

#[derive(Deserialize)]
struct DockerHelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Docker's protocol: `<helper> get`, the server URL on stdin, `{"Username", "Secret"}` out.
/// "credentials not found" (exit 1 with that text) is an absent entry, not a failure.
async fn docker_helper(helper: &Path, server_url: &str) -> Result<Option<Secret>, String> {
    let output = run_helper(helper, server_url.as_bytes()).await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        if stdout.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        return Err(format!("{} get failed ({})", helper.display(), output.status));
    }
    let answer: DockerHelperAnswer = serde_json::from_slice(&output.stdout)
        .map_err(|err| format!("{} get printed something that is not its JSON answer ({err})", helper.display()))?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    // Docker's convention: the user `<token>` marks an identity token, which we cannot use.
    if answer.username == "<token>" {
        return Err(format!("{} gave an OAuth identity token, which img does not support", helper.display()));
    }
    Ok(Some(Secret::Basic { username: answer.username, password: answer.secret }))
}

#[derive(Deserialize)]
struct BazelHelperAnswer {
    #[serde(default)]
    headers: BTreeMap<String, Vec<String>>,
}

/// Bazel's protocol: `<helper> get`, `{"uri": "<registry URL>"}` on stdin, `{"headers": {...}}`
/// out. An `Authorization` header is used as it is (a bearer token is a registry token).
async fn bazel_helper(helper: &Path, uri: &str) -> Result<Option<Secret>, String> {
    let request = serde_json::json!({ "uri": uri }).to_string();
    let output = run_helper(helper, request.as_bytes()).await?;
    if !output.status.success() {
        return Err(format!("{} get failed ({})", helper.display(), output.status));
    }
    let answer: BazelHelperAnswer = serde_json::from_slice(&output.stdout)
        .map_err(|err| format!("{} get printed something that is not its JSON answer ({err})", helper.display()))?;
    let value =
        answer.headers.iter().find(|(name, _)| name.eq_ignore_ascii_case("authorization")).and_then(|(_, v)| v.first());
    let Some(value) = value else { return Ok(None) };
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Ok(Some(Secret::Bearer(token.trim().to_owned())));
    }
    if let Some(encoded) = value.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())));
        if let Some((username, password)) = decoded {
            return Ok(Some(Secret::Basic { username, password }));
        }
    }
    Err(format!("{} gave an Authorization header of a scheme img does not know", helper.display()))
}

async fn run_helper(helper: &Path, stdin: &[u8]) -> Result<std::process::Output, String> {
    let mut child = tokio::process::Command::new(helper)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| format!("cannot run {}: {err}", helper.display()))?;
    let mut input = child.stdin.take().expect("stdin is piped");
    let write = async move {
        // A helper may exit without reading its input; that is its business, not an error.
        let _ = input.write_all(stdin).await;
        drop(input);
    };
    let (_, output) = tokio::time::timeout(HELPER_TIMEOUT, async { tokio::join!(write, child.wait_with_output()) })
        .await
        .map_err(|_| format!("{} did not answer within {HELPER_TIMEOUT:?}", helper.display()))?;
    output.map_err(|err| format!("cannot run {}: {err}", helper.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let secret = Secret::Basic { username: "user".into(), password: "hunter2".into() };
        let credential = Credential { secret, origin: "here".into() };
        let shown = format!("{credential:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("user\""), "{shown}");
        assert!(!format!("{:?}", Secret::Bearer("tok3n".into())).contains("tok3n"));
    }

    #[test]
    fn auth_entries_decode_each_form() {
        let entry = |json: &str| serde_json::from_str::<AuthEntry>(json).unwrap().secret();
        let basic = |u: &str, p: &str| Some(Secret::Basic { username: u.into(), password: p.into() });
        assert_eq!(entry(r#"{"auth":"dTpwOng="}"#).unwrap(), basic("u", "p:x"));
        assert_eq!(entry(r#"{"username":"a","password":"b"}"#).unwrap(), basic("a", "b"));
        assert_eq!(entry(r#"{"registrytoken":"t"}"#).unwrap(), Some(Secret::Bearer("t".into())));
        assert_eq!(entry("{}").unwrap(), None);
        assert!(entry(r#"{"auth":"!!"}"#).is_err());
        assert!(entry(r#"{"identitytoken":"x"}"#).is_err());
    }

    #[tokio::test]
    async fn config_file_entries_match_any_spelling_of_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"},"http://127.0.0.1:5000":{"auth":"YTpi"}}}"#,
        )
        .unwrap();
        let secret = |outcome| match outcome {
            Outcome::Found(secret, _) => secret,
            _ => panic!("no secret found"),
        };
        let found = secret(from_config_file(&path, &canonical_host("docker.io")).await);
        assert_eq!(found, Secret::Basic { username: "u".into(), password: "p".into() });
        let found = secret(from_config_file(&path, &canonical_host("127.0.0.1:5000")).await);
        assert_eq!(found, Secret::Basic { username: "a".into(), password: "b".into() });
        assert!(matches!(from_config_file(&path, "other:1").await, Outcome::NoEntry));
        assert!(matches!(from_config_file(&dir.path().join("missing.json"), "x").await, Outcome::NoFile));
    }
}
