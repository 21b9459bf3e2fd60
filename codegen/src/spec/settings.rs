//! Global settings: `--@rules_img//img/settings:<name>=<value>` on Bazel,
//! `[rules_img] <name> = <value>` in `.buckconfig` on Buck2. Same names, values and defaults.

use super::model::Setting;

const ENABLED_DISABLED: &[&str] = &["enabled", "disabled"];

/// Compression levels: `auto` (the algorithm's default), `fastest`, `best`, or a number that
/// the tool checks against the algorithm (gzip 0–9, zstd 1–22).
const LEVELS: &[&str] = &[
    "auto", "fastest", "best", "-1", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14",
    "15", "16", "17", "18", "19", "20", "21", "22",
];

pub fn settings() -> Vec<Setting> {
    vec![
        Setting {
            name: "compress",
            doc: "Compression of layers whose `compress` is `auto`.",
            default: "gzip",
            values: &["gzip", "zstd"],
        },
        Setting {
            name: "compression_jobs",
            doc: "Parallel compression jobs for layers: `auto` or `nproc` (one per CPU), or a number. \
                  Layer bytes never depend on it.",
            default: "auto",
            values: &[],
        },
        Setting {
            name: "compression_level",
            doc: "Compression level for layers: `auto` (gzip 6, zstd 3), `fastest`, `best`, or a number \
                  (gzip 0-9, zstd 1-22).",
            default: "auto",
            values: LEVELS,
        },
        Setting {
            name: "estargz",
            doc: "Whether layers whose `estargz` is `auto` are written as eStargz.",
            default: "disabled",
            values: ENABLED_DISABLED,
        },
        Setting {
            name: "create_parent_directories",
            doc: "Whether layers whose `create_parent_directories` is `auto` get a directory entry for every parent.",
            default: "disabled",
            values: ENABLED_DISABLED,
        },
        Setting {
            name: "push_strategy",
            doc: "How `image_push` moves blobs: `eager` (from the build outputs and source registries), \
                  `lazy` (from the remote cache), `cas_registry`, `bes`.",
            default: "eager",
            values: &["eager", "lazy", "cas_registry", "bes"],
        },
        Setting {
            name: "load_strategy",
            doc: "How `image_load` gets layer blobs: `eager` (build outputs) or `lazy` (remote cache, source registry).",
            default: "eager",
            values: &["eager", "lazy"],
        },
        Setting {
            name: "load_daemon",
            doc: "Where `image_load` loads to when its `daemon` is `auto`: `auto` picks containerd when reachable, \
                  then docker, then podman.",
            default: "auto",
            values: &["auto", "docker", "containerd", "podman", "generic"],
        },
        Setting {
            name: "remote_cache",
            doc: "REAPI endpoint of the remote cache the lazy strategies read blobs from (Bazel `--remote_cache` syntax).",
            default: "",
            values: &[],
        },
        Setting {
            name: "credential_helper",
            doc: "Credential helper (a path or a name on PATH) for registries and the remote cache.",
            default: "",
            values: &[],
        },
        Setting {
            name: "docker_config_path",
            doc: "Docker-style auth config file to read registry credentials from.",
            default: "",
            values: &[],
        },
        Setting {
            name: "insecure",
            doc: "Allow plain HTTP and unverified TLS to registries that are not on the loopback interface.",
            default: "disabled",
            values: ENABLED_DISABLED,
        },
        Setting {
            name: "stamp",
            doc: "Stamping of templated values: `auto` (stamp when the build is stamped), `force`, `disabled`.",
            default: "auto",
            values: &["auto", "force", "disabled"],
        },
    ]
}
