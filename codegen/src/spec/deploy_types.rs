//! Documents of the run-time and fetch-time commands: `img push` reads a `PushRequest` (written
//! by `image_push` at build time), `img pull` writes a `PullResult` (read by the `pull` rule).

use super::model::{EnumDef, Field, FieldType as F, StructDef};

pub fn enums() -> Vec<EnumDef> {
    vec![EnumDef {
        name: "LoadDaemon",
        doc: "Where `img load` loads to; `auto` picks containerd when reachable, then docker, then podman.",
        module: "deploy",
        values: &[
            ("Auto", "auto"),
            ("Docker", "docker"),
            ("Containerd", "containerd"),
            ("Podman", "podman"),
            ("Generic", "generic"),
        ],
    }]
}

pub fn structs() -> Vec<StructDef> {
    vec![
        StructDef {
            name: "BlobSource",
            doc: "A registry repository a blob can be fetched from (a pulled base image's layers).",
            module: "deploy",
            omit_empty: false,
            default: false,
            fields: vec![
                Field::new("registry", F::Str, "Registry host, e.g. `index.docker.io` or `127.0.0.1:5000`."),
                Field::new("repository", F::Str, "Repository within the registry."),
            ],
        },
        StructDef {
            name: "DeployLayer",
            doc: "A layer to deploy: its metadata, its blob when local, and where else it can be fetched from.",
            module: "deploy",
            omit_empty: false,
            default: false,
            fields: vec![
                Field::new("metadata", F::Path, "The layer metadata JSON."),
                Field::new("blob", F::OptPath, "The local blob, or `None` (a shallow base layer)."),
                Field::new("sources", F::List("BlobSource"), "Registries the blob can be streamed from."),
            ],
        },
        StructDef {
            name: "DeployManifest",
            doc: "A single-platform image to deploy.",
            module: "deploy",
            omit_empty: false,
            default: false,
            fields: vec![
                Field::new("manifest", F::Path, "The manifest JSON."),
                Field::new("config", F::Path, "The config JSON."),
                Field::new("layers", F::List("DeployLayer"), "The layers, in manifest order."),
            ],
        },
        StructDef {
            name: "PushRequest",
            doc: "What `img push` pushes, written at build time by `image_push`. Paths are relative to the \
                  directory given by `img push --root` (the runfiles root on Bazel, the project root on Buck2).",
            module: "deploy",
            omit_empty: false,
            default: false,
            fields: deploy_request_fields(
                vec![
                    Field::new("registry", F::Str, "Destination registry host (with port), e.g. `127.0.0.1:5000`."),
                    Field::new("repository", F::Str, "Destination repository."),
                    Field::new("tags", F::StrList, "Tags to apply after the manifest is pushed by digest."),
                ],
                "The manifest or index JSON to push.",
            ),
        },
        StructDef {
            name: "LoadRequest",
            doc: "What `img load` loads, written at build time by `image_load`. Paths are relative to the \
                  directory given by `img load --root` (the runfiles root on Bazel, absolute on Buck2).",
            module: "deploy",
            omit_empty: false,
            default: false,
            fields: deploy_request_fields(
                vec![
                    Field::new("daemon", F::Enum("LoadDaemon"), "Where to load to."),
                    Field::new(
                        "names",
                        F::StrList,
                        "Full references to name the image, e.g. `example.com/app:latest`; may be empty.",
                    ),
                ],
                "The manifest or index JSON to load.",
            ),
        },
        StructDef {
            name: "PulledManifest",
            doc: "A single-platform image `img pull` fetched (manifest and config; never layer blobs).",
            module: "deploy",
            omit_empty: false,
            default: false,
            fields: vec![
                Field::new("descriptor", F::Path, "Its descriptor JSON, with platform."),
                Field::new("manifest", F::Path, "The manifest JSON."),
                Field::new("config", F::Path, "The config JSON."),
                Field::new("os", F::Str, "OCI os."),
                Field::new("architecture", F::Str, "OCI architecture."),
                Field::new("variant", F::Str, "OCI variant, or empty."),
                Field::new(
                    "layers",
                    F::StrList,
                    "Layer metadata JSON files (`LayerMetadata`, diff_id from the config), in manifest order.",
                ),
            ],
        },
        StructDef {
            name: "PullResult",
            doc: "What `img pull` wrote into its output directory (`pull.json`); all paths are relative to it.",
            module: "deploy",
            omit_empty: false,
            default: false,
            fields: vec![
                Field::new("registry", F::Str, "The registry the image came from."),
                Field::new("repository", F::Str, "Its repository."),
                Field::new("tag", F::Str, "The tag it was pulled by, or empty."),
                Field::new("digest", F::Str, "The digest of the root manifest or index, `sha256:<hex>`."),
                Field::new("root_kind", F::Enum("RootKind"), "Whether the root is a manifest or an index."),
                Field::new("root", F::Path, "The root manifest or index JSON."),
                Field::new("root_descriptor", F::Path, "The root's descriptor JSON."),
                Field::new(
                    "manifests",
                    F::List("PulledManifest"),
                    "The root manifest, or the index's children in order.",
                ),
            ],
        },
    ]
}

/// A deploy request: the command's own fields, then the image (`root_doc` says what is done with
/// its root) and how `img push`/`img load` reach registries, from the build settings
/// (`credential_helper`, `docker_config_path`, `insecure`; run-time flags and environment win).
fn deploy_request_fields(mut fields: Vec<Field>, root_doc: &'static str) -> Vec<Field> {
    fields.extend([
        Field::new("root", F::Path, root_doc),
        Field::new("root_kind", F::Enum("RootKind"), "Whether `root` is a manifest or an index."),
        Field::new("manifests", F::List("DeployManifest"), "The root manifest, or the index's children in order."),
        Field::new(
            "credential_helper",
            F::OptStr,
            "Credential helper for registries (a path or a name on PATH), from the `credential_helper` setting.",
        ),
        Field::new(
            "docker_config_path",
            F::OptStr,
            "Docker-style auth config to read credentials from first, from the `docker_config_path` setting.",
        ),
        Field::new(
            "insecure",
            F::Bool,
            "Plain HTTP to registries that are not on the loopback interface (the `insecure` setting).",
        ),
    ]);
    fields
}
