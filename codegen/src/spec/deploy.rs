//! Deploying: `image_push`, `image_load`, `multi_deploy`, and pulling base images (`pull`).

use super::model::{Attr, AttrType as T, Body, Default as D, Expr as E, Impl, LoadFile, Ret, Rule, RuleKind, Step};

const STAMP: &[&str] = &["auto", "force", "disabled"];
const IMAGE: &[&str] = &["ImageManifestInfo", "ImageIndexInfo"];
const GLOBAL: &str = "<use global setting>";

fn s(name: &'static str, default: &'static str, doc: &'static str) -> Attr {
    Attr::new(name, T::String, D::Str(default), doc)
}

fn e(name: &'static str, values: &'static [&'static str], default: &'static str, doc: &'static str) -> Attr {
    Attr::new(name, T::Enum(values), D::Str(default), doc)
}

fn common_deploy_attrs(what: &'static str) -> Vec<Attr> {
    vec![
        Attr::new(
            "build_settings",
            T::NameToTarget,
            D::StrDict(&[]),
            "Build settings for template expansion. Maps template variable names to string_flag targets.",
        ),
        Attr::new(
            "deploy_tool",
            T::Dep(&[]),
            D::None,
            "Optional label of a deploy tool target providing `DeployToolInfo`.",
        ),
        Attr::new("image", T::Dep(IMAGE), D::Required, what),
        e("stamp", STAMP, "auto", "Controls build stamping for template expansion."),
        s("tag", "", "Tag to apply. Optional - if omitted, the image is identified by digest only."),
        Attr::new("tag_file", T::File, D::None, "File containing newline-delimited tags to apply."),
        Attr::new("tag_list", T::StringList, D::StrList(&[]), "List of tags to apply."),
        e("tool_cfg", &["host", "target"], "host", "Configuration of the deploy executable platform."),
        Attr::new(
            "tracks_content",
            T::Bool,
            D::Bool(false),
            "When True, the template expansion action depends on the image digest.",
        ),
    ]
}

pub fn image_push() -> Rule {
    let mut attrs = common_deploy_attrs("Image to push. Should provide ImageManifestInfo or ImageIndexInfo.");
    attrs.extend([
        Attr::new(
            "cross_mount_from",
            T::Dep(&[]),
            D::None,
            "An image_push target whose layers may be cross-mounted during push.",
        ),
        e(
            "deduplicated_push",
            &["auto", "disabled", "best_effort", "enabled"],
            "auto",
            "Whether the push uploads a blob several repositories need only once.",
        ),
        s(
            "deduplicated_push_blob_repository",
            GLOBAL,
            "Repository the deduplicated push uploads this target's shared blobs to.",
        ),
        e(
            "deduplicated_push_content",
            &["auto", "blobs", "blobs_and_artificial_manifests"],
            "auto",
            "What the deduplicated push writes to a shared blob's home repository.",
        ),
        Attr::new(
            "destination_file",
            T::File,
            D::None,
            "File containing the push destination as `{registry}/{repository}`.",
        ),
        e(
            "forbid_layer_push",
            &["auto", "disabled", "enabled"],
            "auto",
            "Whether the push is forbidden from uploading layer blob bytes.",
        ),
        Attr::new(
            "manifest_tags",
            T::StringList,
            D::StrList(&[]),
            "Per-platform tag templates for multi-platform (`image_index`) pushes.",
        ),
        e(
            "push_at_build_time",
            &["auto", "disabled", "best_effort", "enabled"],
            "auto",
            "Whether image content is pushed to the registry *during the build*.",
        ),
        s(
            "push_at_build_time_blob_repository",
            GLOBAL,
            "Staging repository for build-time blob uploads and cross-mounting.",
        ),
        e(
            "push_at_build_time_content",
            &["auto", "blobs", "blobs_and_manifests"],
            "auto",
            "What the push-at-build-time actions upload.",
        ),
        Attr::new(
            "push_at_build_time_exec_properties",
            T::StringDict,
            D::StrDict(&[("requires-network", "1")]),
            "Execution properties for the build-time push actions.",
        ),
        s(
            "push_at_build_time_manifest_repository",
            GLOBAL,
            "Repository the build-time manifest push writes manifest(s)/config to.",
        ),
        Attr::new(
            "referrers",
            T::DepList(IMAGE),
            D::StrList(&[]),
            "Additional manifests or indexes to push as referrers to the main image.",
        ),
        s("registry", "", "Registry to push to (e.g. `index.docker.io`, `gcr.io`, `ghcr.io`); templated."),
        s("repository", "", "Repository path within the registry. Subject to template expansion."),
        e(
            "sign",
            &["auto", "enabled", "disabled", "best_effort"],
            "auto",
            "Whether the push signs this image after pushing. Not supported: only `auto` and `disabled`.",
        ),
        Attr::new(
            "sign_setting",
            T::Dep(&[]),
            D::None,
            "A `signing_config` target selecting how this image is signed.",
        ),
        e(
            "strategy",
            &["auto", "eager", "lazy", "cas_registry", "bes"],
            "auto",
            "Push strategy to use. See push strategies documentation for detailed information.",
        ),
    ]);
    attrs.sort_by_key(|a| a.name);
    Rule {
        name: "image_push",
        doc: "Pushes an image or index to a registry: `bazel run` / `buck2 run` the target. Only missing blobs \
              move; base layers go registry to registry.",
        file: LoadFile::Push,
        kind: RuleKind::Executable,
        attrs,
        settings: vec!["push_strategy", "credential_helper", "docker_config_path", "insecure"],
        provides: vec!["DeployInfo"],
        output_groups: vec![("deploy_manifest", "the deploy request")],
        body: Body::Impl(push_impl()),
        transition: None,
        reads_platform: false,
        buck2_note: "",
    }
}

pub fn image_load() -> Rule {
    let mut attrs = common_deploy_attrs("Image to load. Should provide ImageManifestInfo or ImageIndexInfo.");
    attrs.extend([
        e(
            "daemon",
            &["auto", "docker", "containerd", "podman", "containerization", "tar", "generic"],
            "auto",
            "Container daemon to use for loading the image.",
        ),
        s("registry", "", "Registry component of the image name to load."),
        s("repository", "", "Repository component of the image name to load."),
        e("strategy", &["auto", "eager", "lazy"], "auto", "Strategy for handling image layers during load."),
    ]);
    attrs.sort_by_key(|a| a.name);
    Rule {
        name: "image_load",
        doc: "Loads an image into a local runtime (containerd, docker, podman or any loader): `bazel run` / \
              `buck2 run` the target. The second load moves only what changed.",
        file: LoadFile::Load,
        kind: RuleKind::Executable,
        attrs,
        settings: vec!["load_daemon", "load_strategy", "credential_helper", "docker_config_path", "insecure"],
        provides: vec!["DeployInfo"],
        output_groups: vec![("deploy_manifest", "the load request")],
        body: Body::Impl(load_impl()),
        transition: None,
        reads_platform: false,
        buck2_note: "",
    }
}

pub fn multi_deploy() -> Rule {
    Rule {
        name: "multi_deploy",
        doc: "Runs many push and load operations as one runnable target, with one combined summary.",
        file: LoadFile::MultiDeploy,
        kind: RuleKind::Executable,
        attrs: vec![
            Attr::new(
                "deploy_operations",
                T::StringList,
                D::StrList(&["push", "load"]),
                "Which kinds of deploy operations to perform.",
            ),
            Attr::new(
                "deploy_tool",
                T::Dep(&[]),
                D::None,
                "Optional label of a deploy tool target providing `DeployToolInfo`.",
            ),
            e(
                "load_strategy",
                &["auto", "eager", "lazy"],
                "auto",
                "Load strategy to use for all load operations in the deployment.",
            ),
            Attr::new(
                "operations",
                T::DepList(&["DeployInfo"]),
                D::Required,
                "List of operations to deploy together. Each operation must provide DeployInfo.",
            ),
            e(
                "push_strategy",
                &["auto", "eager", "lazy", "cas_registry", "bes"],
                "auto",
                "Push strategy to use for all push operations in the deployment.",
            ),
            e("tool_cfg", &["host", "target"], "host", "Configuration of the deployer executable platform."),
        ],
        settings: vec!["push_strategy", "load_strategy"],
        provides: vec![],
        output_groups: vec![("deploy_manifest", "the merged deploy request")],
        body: Body::Impl(multi_deploy_impl()),
        transition: None,
        reads_platform: false,
        buck2_note: "",
    }
}

pub fn pull() -> Rule {
    Rule {
        name: "pull",
        doc: "Pulls a base image's manifests and configs (never its layer blobs, with the default `shallow` \
              handling), pinned by digest.",
        file: LoadFile::Pull,
        kind: RuleKind::Repository,
        attrs: vec![
            s(
                "credential_helper",
                "",
                "Credential helper to use for registry authentication when this repository rule runs the pull tool.",
            ),
            s("digest", "", "The image digest for reproducible pulls (e.g., \"sha256:abc123...\")."),
            s("docker_config_path", "", "Path to Docker-compatible registry authentication config."),
            e("downloader", &["img_tool", "bazel"], "img_tool", "The tool to use for downloading manifests and blobs."),
            e(
                "layer_handling",
                &["shallow", "eager", "lazy"],
                "shallow",
                "Strategy for handling image layers. This attribute controls when and how layer data is fetched from \
                 the registry.",
            ),
            Attr::new("registries", T::StringList, D::StrList(&[]), "List of mirror registries to try in order."),
            s("registry", "", "Primary registry to pull from (e.g., \"index.docker.io\", \"gcr.io\")."),
            Attr::new(
                "repository",
                T::String,
                D::Required,
                "The image repository within the registry (e.g., \"library/ubuntu\", \"my-project/my-image\").",
            ),
            s("tag", "", "The image tag to pull (e.g., \"latest\", \"24.04\", \"v1.2.3\")."),
            Attr::new(
                "unsafe_allow_tag_without_digest",
                T::Bool,
                D::Bool(false),
                "Allow pulling by tag without specifying a digest.",
            ),
            Attr::new(
                "manifests",
                T::Records,
                D::StrList(&[]),
                "The pinned image, one entry per platform (`platform`, `manifest`, `config`, `layers` media types), as \
                 `img pull --print-buck2 NAME` prints it: Buck2 knows providers at analysis, before anything is \
                 fetched.",
            )
            .buck2_only(),
            Attr::new(
                "tool",
                T::File,
                D::None,
                "The img executable to fetch with (e.g. `//tools:bin/img`); without it, `img` on PATH. Not in \
                 rules_img, which downloads a prebuilt tool.",
            ),
        ],
        settings: vec![],
        provides: vec!["ImageManifestInfo", "ImageIndexInfo", "PullInfo"],
        output_groups: vec![],
        body: Body::Builtin,
        transition: None,
        reads_platform: false,
        buck2_note: "Buck2 has no repository rules: `pull` is a build rule whose action runs `img pull` pinned by \
                     digest and verifies what it downloads; the layers and platforms, which Bazel learns when it \
                     fetches, are written in `manifests` (run `img pull ... --print-buck2 NAME` once and paste its \
                     output).",
    }
}

/// `require_supported(attr, value, supported)`: a value rules_img accepts but does not implement.
fn supported(attr: &'static str, values: &[&'static str]) -> Step {
    Step::Do(E::call(
        "require_supported",
        vec![E::Str(attr), E::Attr(attr), E::List(values.iter().map(|v| E::Str(v)).collect())],
    ))
}

/// `require_supported_auto(attr, value, setting, setting value, supported)`: the same for an attribute
/// whose `"auto"` means a global setting, so that the setting cannot ask for what is not there either.
fn supported_auto(attr: &'static str, setting: &'static str, values: &[&'static str]) -> Step {
    Step::Do(E::call(
        "require_supported_auto",
        vec![
            E::Str(attr),
            E::Attr(attr),
            E::Str(setting),
            E::Setting(setting),
            E::List(values.iter().map(|v| E::Str(v)).collect()),
        ],
    ))
}

/// The registry fields every deploy request ends with (see [`super::deploy_types`]), from the settings.
fn registry_access() -> Vec<(&'static str, E)> {
    vec![
        ("credential_helper", E::none_if_empty(E::Setting("credential_helper"))),
        ("docker_config_path", E::none_if_empty(E::Setting("docker_config_path"))),
        ("insecure", E::eq(E::Setting("insecure"), E::Str("enabled"))),
    ]
}

/// `require_unset(attr, value)`: an attribute rules_img accepts but does not implement yet.
fn unset(attr: &'static str) -> Step {
    Step::Do(E::call("require_unset", vec![E::Str(attr), E::Attr(attr)]))
}

fn push_impl() -> Impl {
    deploy_impl(
        ("push", "PushRequest", ".push.json"),
        vec![
            supported_auto("strategy", "push_strategy", &["eager"]),
            supported("push_at_build_time", &["auto", "disabled"]),
            supported("sign", &["auto", "disabled"]),
            supported("deduplicated_push", &["auto", "disabled"]),
            supported("forbid_layer_push", &["auto", "disabled"]),
            unset("tag_file"),
            unset("destination_file"),
            unset("manifest_tags"),
            unset("referrers"),
            unset("sign_setting"),
            unset("build_settings"),
        ],
        vec![
            ("registry", E::Attr("registry")),
            ("repository", E::Attr("repository")),
            ("tags", E::call("tags", vec![E::Attr("tag"), E::Attr("tag_list")])),
        ],
    )
}

fn load_impl() -> Impl {
    deploy_impl(
        ("load", "LoadRequest", ".load.json"),
        vec![
            supported_auto("strategy", "load_strategy", &["eager"]),
            supported("daemon", &["auto", "docker", "containerd", "podman", "generic"]),
            unset("tag_file"),
            unset("build_settings"),
        ],
        vec![
            ("daemon", E::Auto { attr: "daemon", setting: "load_daemon" }),
            (
                "names",
                E::call(
                    "load_names",
                    vec![E::Attr("registry"), E::Attr("repository"), E::Attr("tag"), E::Attr("tag_list")],
                ),
            ),
        ],
    )
}

/// `image_push` and `image_load` after their own checks: no templates in the names, the image,
/// the request (the command's own fields, then the image's and the registry settings, as
/// [`super::deploy_types`] orders them), the launcher and the same providers.
fn deploy_impl(
    (command, document, suffix): (&'static str, &'static str, &'static str),
    mut steps: Vec<Step>,
    fields: Vec<(&'static str, E)>,
) -> Impl {
    let image = |field| E::field(E::Var("image"), field);
    steps.extend([
        Step::Do(E::call(
            "require_no_templates",
            vec![E::List(vec![E::Attr("registry"), E::Attr("repository"), E::Attr("tag")]), E::Attr("tag_list")],
        )),
        Step::Let("image", E::call("deploy_image", vec![E::Ctx, E::Attr("image")])),
        Step::WriteDocument {
            var: "request",
            suffix,
            document,
            fields: fields
                .into_iter()
                .chain([("root", image("root")), ("root_kind", image("root_kind")), ("manifests", image("manifests"))])
                .chain(registry_access())
                .collect(),
        },
        Step::Let(
            "launcher",
            E::call("deploy_launcher", vec![E::Ctx, E::Str(command), E::Var("request"), image("files")]),
        ),
    ]);
    Impl {
        steps,
        returns: vec![
            Ret::Runnable(E::Var("launcher")),
            Ret::Group("deploy_manifest", vec!["request"]),
            Ret::Provider(
                "DeployInfo",
                vec![
                    ("command", E::Str(command)),
                    ("image", image("info")),
                    ("deploy_manifest", E::Var("request")),
                    ("include_layers", E::Bool(true)),
                ],
            ),
        ],
    }
}

fn multi_deploy_impl() -> Impl {
    Impl {
        steps: vec![
            supported_auto("push_strategy", "push_strategy", &["eager"]),
            supported_auto("load_strategy", "load_strategy", &["eager"]),
            Step::Let("launcher", E::call("multi_deploy_launcher", vec![E::Ctx])),
        ],
        returns: vec![Ret::Runnable(E::Var("launcher"))],
    }
}
