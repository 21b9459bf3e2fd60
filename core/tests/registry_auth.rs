//! Registry credentials: every place they come from (Docker config `auths`, `credHelpers`,
//! `credsStore`, `$REGISTRY_AUTH_FILE`, podman's auth.json, `--docker-config-path`,
//! `--credential-helper`), Basic auth against distribution's htpasswd, bearer tokens from a token
//! service, what a missing or wrong credential says — and that no secret is ever printed.

mod registry_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use e2e::runtimes::{DockerRegistry, ImgRegistry};
use registry_support::fixtures::{write_push_request, Image, Layer, LayerBlob, Root};
use registry_support::proxy::{Fault, FaultProxy, Rule};
use registry_support::token::TokenServer;
use registry_support::{assert_complete, img, ok, push, stderr, stdout, Summary, IMG};

const USER: &str = "ci-bot";
const PASSWORD: &str = "s3cr3t-Pa55word";

fn basic_auth() -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
}

fn write(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn executable(path: &Path, script: &str) {
    write(path, script);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A fake `docker-credential-<name>` in `bin`: answers for `registry` (and logs what it was
/// asked), says "not found" for anything else.
fn docker_helper(bin: &Path, name: &str, registry: &str) -> PathBuf {
    let path = bin.join(format!("docker-credential-{name}"));
    let log = bin.join(format!("{name}.log"));
    executable(&path, &format!(
        "#!/bin/sh\nread server\necho \"$1 $server\" >> {log}\nif [ \"$1\" = get ] && [ \"$server\" = \"{registry}\" ]; then\n  \
         printf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"\n  exit 0\nfi\n\
         echo 'credentials not found in native keychain'\nexit 1\n",
        log = log.display()
    ));
    path
}

/// `$PATH` with `bin` (where the test's credential helpers are) first.
fn path_with(bin: &Path) -> String {
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
}

fn failing_helper(bin: &Path, name: &str) {
    executable(&bin.join(format!("docker-credential-{name}")), "#!/bin/sh\necho 'keychain locked' >&2\nexit 3\n");
}

fn small_image(seed: u64) -> Root {
    Root::Manifest(Image::new(vec![Layer::new(seed, 2000)], "amd64"))
}

/// Pushes a small image to `registry/<repository>` with a home of its own.
fn push_with(
    scratch: &Path,
    registry: &str,
    repository: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let root = small_image(repository.len() as u64);
    let request = write_push_request(
        &scratch.join(format!("req-{}", repository.replace('/', "-"))),
        &root,
        registry,
        repository,
        &["v1"],
        |_, _| LayerBlob::Local,
    );
    push(scratch, &request, args, env)
}

fn assert_no_secret(text: &str) {
    for secret in [PASSWORD.to_owned(), basic_auth(), "tok-".to_owned()] {
        assert!(!text.contains(&secret), "a secret was printed: {text}");
    }
}

#[test]
#[ignore = "needs docker-registry/skopeo/crane (scripts/install-test-deps.sh)"]
fn every_credential_source_authenticates_against_htpasswd() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = DockerRegistry::start_with(&scratch.path().join("registry"), Some((USER, PASSWORD)));
    let addr = registry.addr.as_str();
    let auths_entry = format!(r#"{{"auths":{{"{addr}":{{"auth":"{}"}}}}}}"#, basic_auth());
    let password_entry = format!(r#"{{"auths":{{"http://{addr}/":{{"username":"{USER}","password":"{PASSWORD}"}}}}}}"#);

    /// Extra flags and environment of a case.
    type Setup = (Vec<String>, Vec<(String, String)>);
    struct Case {
        name: &'static str,
        setup: Box<dyn Fn(&Path) -> Setup>,
    }
    let cases = vec![
        Case {
            name: "docker-config-auths",
            setup: Box::new({
                let entry = auths_entry.clone();
                move |home: &Path| {
                    write(&home.join("dc/config.json"), &entry);
                    (vec![], vec![("DOCKER_CONFIG".into(), home.join("dc").display().to_string())])
                }
            }),
        },
        Case {
            name: "home-docker-config-username-password",
            setup: Box::new({
                let entry = password_entry.clone();
                move |home: &Path| {
                    write(&home.join(".docker/config.json"), &entry);
                    (vec![], vec![])
                }
            }),
        },
        Case {
            name: "cred-helpers",
            setup: Box::new({
                let addr = addr.to_owned();
                move |home: &Path| {
                    docker_helper(&home.join("bin"), "test", &addr);
                    failing_helper(&home.join("bin"), "broken");
                    write(
                        &home.join(".docker/config.json"),
                        &format!(r#"{{"credHelpers":{{"{addr}":"test","other.example":"broken"}}}}"#),
                    );
                    (vec![], vec![("PATH".into(), path_with(&home.join("bin")))])
                }
            }),
        },
        Case {
            name: "creds-store",
            setup: Box::new({
                let addr = addr.to_owned();
                move |home: &Path| {
                    docker_helper(&home.join("bin"), "test", &addr);
                    write(&home.join(".docker/config.json"), r#"{"auths":{},"credsStore":"test"}"#);
                    (vec![], vec![("PATH".into(), path_with(&home.join("bin")))])
                }
            }),
        },
        Case {
            name: "registry-auth-file",
            setup: Box::new({
                let entry = auths_entry.clone();
                move |home: &Path| {
                    write(&home.join("elsewhere/auth.json"), &entry);
                    (
                        vec![],
                        vec![("REGISTRY_AUTH_FILE".into(), home.join("elsewhere/auth.json").display().to_string())],
                    )
                }
            }),
        },
        Case {
            name: "podman-auth-json",
            setup: Box::new({
                let entry = auths_entry.clone();
                move |home: &Path| {
                    write(&home.join("run/containers/auth.json"), &entry);
                    (vec![], vec![])
                }
            }),
        },
        Case {
            name: "docker-config-path-flag",
            setup: Box::new({
                let entry = auths_entry.clone();
                move |home: &Path| {
                    write(&home.join("flag/my-config.json"), &entry);
                    (
                        vec!["--docker-config-path".into(), home.join("flag/my-config.json").display().to_string()],
                        vec![],
                    )
                }
            }),
        },
        Case {
            name: "credential-helper-flag-docker-protocol",
            setup: Box::new({
                let addr = addr.to_owned();
                move |home: &Path| {
                    let helper = docker_helper(&home.join("bin"), "flag", &addr);
                    (vec!["--credential-helper".into(), helper.display().to_string()], vec![])
                }
            }),
        },
        Case {
            name: "credential-helper-env-bazel-protocol",
            setup: Box::new(move |home: &Path| {
                let helper = home.join("bin/bazel-helper");
                let log = home.join("bin/bazel-helper.log");
                executable(
                    &helper,
                    &format!(
                        "#!/bin/sh\ncat >> {}\nprintf '{{\"headers\":{{\"Authorization\":[\"Basic {}\"]}}}}'\n",
                        log.display(),
                        basic_auth()
                    ),
                );
                (vec![], vec![("IMG_CREDENTIAL_HELPER".into(), helper.display().to_string())])
            }),
        },
    ];
    for case in &cases {
        let home = scratch.path().join(case.name);
        std::fs::create_dir_all(&home).unwrap();
        let (args, env) = (case.setup)(&home);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let repository = format!("auth/{}", case.name);
        let output = push_with(&home, addr, &repository, &args, &env);
        assert!(output.status.success(), "{}: {}", case.name, stderr(&output));
        assert_eq!(Summary::of(&output).uploaded, 2, "{}", case.name);
        assert_no_secret(&stderr(&output));
        assert_no_secret(&stdout(&output));
    }
    let asked = std::fs::read_to_string(scratch.path().join("cred-helpers/bin/test.log")).unwrap();
    assert!(asked.lines().all(|l| l == format!("get {addr}")), "the helper is asked for this registry only: {asked}");
    let asked =
        std::fs::read_to_string(scratch.path().join("credential-helper-env-bazel-protocol/bin/bazel-helper.log"))
            .unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&asked).unwrap()["uri"], format!("http://{addr}/"));
}

/// Sets fields of a written request (what the build settings put there on Bazel and Buck2).
fn set_request_fields(request: &Path, fields: serde_json::Value) {
    let mut document: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(request).unwrap()).unwrap();
    for (key, value) in fields.as_object().unwrap() {
        document[key] = value.clone();
    }
    std::fs::write(request, serde_json::to_vec(&document).unwrap()).unwrap();
}

#[test]
#[ignore = "needs docker-registry/skopeo/crane (scripts/install-test-deps.sh)"]
fn the_credential_settings_in_the_request_authenticate_and_run_time_flags_win() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = DockerRegistry::start_with(&scratch.path().join("registry"), Some((USER, PASSWORD)));
    let addr = registry.addr.as_str();
    let good = format!(r#"{{"auths":{{"{addr}":{{"auth":"{}"}}}}}}"#, basic_auth());
    let bad = format!(
        r#"{{"auths":{{"{addr}":{{"auth":"{}"}}}}}}"#,
        base64::engine::general_purpose::STANDARD.encode("ci-bot:wrong")
    );
    let push_requesting = |name: &str, fields: serde_json::Value, args: &[&str]| {
        let home = scratch.path().join(name);
        let request = write_push_request(
            &home.join("req"),
            &small_image(name.len() as u64),
            addr,
            &format!("settings/{name}"),
            &["v1"],
            |_, _| LayerBlob::Local,
        );
        set_request_fields(&request, fields);
        push(&home, &request, args, &[])
    };

    // The `credential_helper` setting: a Docker-protocol helper named by the request only.
    let helper = docker_helper(&scratch.path().join("helper-bin"), "setting", addr);
    let output = push_requesting("helper", serde_json::json!({"credential_helper": helper}), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(Summary::of(&output).uploaded, 2);
    // The `docker_config_path` setting.
    write(&scratch.path().join("settings/config.json"), &good);
    let config = scratch.path().join("settings/config.json");
    let output = push_requesting("config", serde_json::json!({"docker_config_path": config}), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_no_secret(&stderr(&output));
    // A run-time flag wins over the setting: the request's config holds a wrong password.
    write(&scratch.path().join("settings/wrong.json"), &bad);
    let wrong = scratch.path().join("settings/wrong.json");
    let output = push_requesting("wrong", serde_json::json!({"docker_config_path": wrong}), &[]);
    assert!(!output.status.success(), "the wrong password in the setting's config is used");
    let config_flag = config.display().to_string();
    let output = push_requesting(
        "flag-wins",
        serde_json::json!({"docker_config_path": wrong}),
        &["--docker-config-path", &config_flag],
    );
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
#[ignore = "needs docker-registry/skopeo/crane (scripts/install-test-deps.sh)"]
fn missing_or_wrong_credentials_say_where_they_were_looked_for_without_secrets() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = DockerRegistry::start_with(&scratch.path().join("registry"), Some((USER, PASSWORD)));
    let home = scratch.path().join("none");
    std::fs::create_dir_all(&home).unwrap();
    let output = push_with(&home, &registry.addr, "app", &[], &[]);
    assert!(!output.status.success());
    let message = stderr(&output);
    for expected in [
        registry.addr.as_str(),
        "requires credentials",
        "~/.docker/config.json",
        "$REGISTRY_AUTH_FILE: not set",
        "podman",
        "--credential-helper",
        "docker login",
    ] {
        assert!(message.contains(expected), "missing {expected:?} in: {message}");
    }

    let home = scratch.path().join("wrong");
    let wrong = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:not-{PASSWORD}"));
    write(&home.join(".docker/config.json"), &format!(r#"{{"auths":{{"{}":{{"auth":"{wrong}"}}}}}}"#, registry.addr));
    let output = push_with(&home, &registry.addr, "app", &["--verbose"], &[]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("rejected the credentials from ~/.docker/config.json"), "{message}");
    assert!(
        !message.contains(&wrong) && !message.contains(&format!("not-{PASSWORD}")),
        "a secret was printed: {message}"
    );
    assert!(message.contains("authorization: <redacted>"), "verbose logging shows that a header was sent: {message}");
    let tags = registry.data.join("docker/registry/v2/repositories/app/_manifests/tags");
    assert!(!tags.exists(), "nothing was tagged");
}

/// A token service in front of the registry: the token is fetched with the configured Basic
/// credentials for the push scope, used, and never printed, not even with --verbose.
#[test]
fn bearer_tokens_from_a_token_service_authorize_push_and_pull() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = ImgRegistry::start(IMG, &scratch.path().join("registry"));
    let tokens = TokenServer::start(USER, PASSWORD, "tok-4711-secret", false);
    let proxy = FaultProxy::start(&registry.addr);
    proxy.add(Rule::new(
        None,
        "/v2/",
        usize::MAX,
        Fault::RequireBearer { token: tokens.token.clone(), realm: tokens.realm(), service: "test-registry".into() },
    ));
    let via = proxy.addr.to_string();

    let home = scratch.path().join("anonymous");
    std::fs::create_dir_all(&home).unwrap();
    let output = push_with(&home, &via, "team/app", &[], &[]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains(&format!("registry {via} requires credentials")), "{}", stderr(&output));

    let home = scratch.path().join("configured");
    write(&home.join(".docker/config.json"), &format!(r#"{{"auths":{{"{via}":{{"auth":"{}"}}}}}}"#, basic_auth()));
    let output = ok(push_with(&home, &via, "team/app", &["--verbose"], &[]));
    assert_eq!(Summary::of(&output).uploaded, 2);
    let log = stderr(&output);
    assert_no_secret(&log);
    assert!(log.contains("authorization: <redacted>"), "{log}");
    assert!(
        tokens.scopes_asked.lock().unwrap().iter().any(|s| s == "repository:team/app:pull,push"),
        "{:?}",
        tokens.scopes_asked
    );
    assert_complete(&registry.addr, "team/app", "v1");

    let digest = small_image("team/app".len() as u64).digest();
    let output = scratch.path().join("pulled");
    let pulled = img(
        &home,
        &[
            "pull",
            "--registry",
            &via,
            "--repository",
            "team/app",
            "--digest",
            &digest,
            "--output",
            output.to_str().unwrap(),
            "-v",
        ],
        &[],
    );
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    assert_no_secret(&stderr(&pulled));
    assert!(output.join("pull.json").is_file());
}

/// Public images behind a token service (like Docker Hub): a broken credential helper or a
/// missing entry is reported and skipped, and the anonymous token is used.
#[test]
fn failing_credential_helpers_never_block_an_anonymous_pull() {
    let scratch = tempfile::tempdir().unwrap();
    let registry = ImgRegistry::start(IMG, &scratch.path().join("registry"));
    let root = small_image(9);
    let request =
        write_push_request(&scratch.path().join("req"), &root, &registry.addr, "public/base", &["1"], |_, _| {
            LayerBlob::Local
        });
    ok(push(scratch.path(), &request, &[], &[]));
    let tokens = TokenServer::start(USER, PASSWORD, "tok-anonymous", true);
    let proxy = FaultProxy::start(&registry.addr);
    proxy.add(Rule::new(
        None,
        "/v2/",
        usize::MAX,
        Fault::RequireBearer { token: tokens.token.clone(), realm: tokens.realm(), service: "public".into() },
    ));
    let via = proxy.addr.to_string();
    let home = scratch.path().join("home");
    failing_helper(&home.join("bin"), "broken");
    write(
        &home.join(".docker/config.json"),
        &format!(r#"{{"credHelpers":{{"{via}":"broken"}},"credsStore":"missing-helper"}}"#),
    );
    let path = path_with(&home.join("bin"));
    let output = scratch.path().join("out");
    let pulled = img(
        &home,
        &[
            "pull",
            "--registry",
            &via,
            "--repository",
            "public/base",
            "--digest",
            &root.digest(),
            "--output",
            output.to_str().unwrap(),
        ],
        &[("PATH", &path), ("IMG_CREDENTIAL_HELPER", "/nonexistent/helper")],
    );
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    let warnings = stderr(&pulled);
    assert!(warnings.contains("warning: ignoring credential helper /nonexistent/helper"), "{warnings}");
    assert!(warnings.contains("credHelpers entry `broken`"), "{warnings}");
    assert!(output.join("pull.json").is_file());
}
