//! Requests of the image actions: `img manifest`, `img index`, `img oci-layout` and the conversions from
//! OCI layouts, with the enums and structs they use.

use super::model::{Action, EnumDef, Field, FieldType as F, StructDef};

const SENTINEL_DOC: &str = "`<inherit from base>` keeps the base image's value (inside a list it expands to the base \
                            value in place); an empty value unsets it.";

pub fn actions() -> Vec<Action> {
    vec![
        Action {
            subcommand: "manifest",
            doc: "Assemble an image manifest and config from layer metadata (never layer blobs) and an optional \
                  base image.",
            module: "image",
            request: "ManifestRequest",
            fields: vec![
                Field::new("os", F::Str, "Operating system of the image, e.g. `linux`."),
                Field::new("architecture", F::Str, "Architecture, e.g. `amd64`."),
                Field::new("variant", F::Str, "Platform variant, e.g. `v8`, or empty."),
                Field::new(
                    "layers",
                    F::PathList,
                    "Layer metadata files (`LayerMetadata`), bottom to top, after the base's.",
                ),
                Field::new("base", F::Opt("BaseImage"), "The base image, if any."),
                Field::new("config_fragment", F::OptPath, "A partial OCI image config JSON the config starts from."),
                Field::new(
                    "config_media_type",
                    F::OptStr,
                    "Media type of the config blob; `None` for the OCI image config.",
                ),
                Field::new("entrypoint", F::StrList, SENTINEL_DOC),
                Field::new("cmd", F::StrList, SENTINEL_DOC),
                Field::new("user", F::Str, SENTINEL_DOC),
                Field::new("working_dir", F::Str, SENTINEL_DOC),
                Field::new("stop_signal", F::Str, SENTINEL_DOC),
                Field::new("env", F::StrMap, "Environment: replaces base values in place, appends new ones (sorted)."),
                Field::new("env_file", F::OptPath, "Environment file: JSON object or newline-delimited `KEY=VALUE`."),
                Field::new("labels", F::StrMap, "Config labels; they win over `label_files`."),
                Field::new("label_files", F::PathList, "Label files: JSON object or newline-delimited `KEY=VALUE`."),
                Field::new("annotations", F::StrMap, "Manifest annotations."),
                Field::new(
                    "annotations_file",
                    F::OptPath,
                    "Annotation file: JSON object or newline-delimited `KEY=VALUE`.",
                ),
                Field::new("created", F::OptPath, "File holding the RFC 3339 creation time."),
                Field::new(
                    "created_timestamp",
                    F::OptStr,
                    "RFC 3339 creation time; none by default, for reproducibility.",
                ),
                Field::new("artifact_type", F::OptStr, "Artifact type of the manifest."),
                Field::new("subject", F::OptPath, "Descriptor JSON of the manifest's subject."),
            ],
            outputs: vec![
                ("manifest", "The manifest JSON."),
                ("config", "The config JSON."),
                ("descriptor", "The manifest's descriptor JSON, with its platform."),
                ("digest", "The manifest digest, `sha256:<hex>` without a newline."),
            ],
            indexed_outputs: vec![],
            mnemonic: "ImageManifest",
        },
        Action {
            subcommand: "index",
            doc: "Assemble an image index from manifest descriptors.",
            module: "image",
            request: "IndexRequest",
            fields: vec![
                Field::new("manifests", F::PathList, "Descriptor files of the manifests, with their platforms."),
                Field::new("annotations", F::StrMap, "Index annotations."),
                Field::new(
                    "annotations_file",
                    F::OptPath,
                    "Annotation file: JSON object or newline-delimited `KEY=VALUE`.",
                ),
                Field::new("subject", F::OptPath, "Descriptor JSON of the index's subject."),
            ],
            outputs: vec![
                ("index", "The index JSON."),
                ("descriptor", "The index's descriptor JSON."),
                ("digest", "The index digest, `sha256:<hex>` without a newline."),
            ],
            indexed_outputs: vec![],
            mnemonic: "ImageIndex",
        },
        Action {
            subcommand: "oci-layout",
            doc: "Write an image (manifest or index) as an OCI image layout, a directory or a tar of one. The \
                  only image action that reads layer blobs.",
            module: "image",
            request: "OciLayoutRequest",
            fields: vec![
                Field::new("root", F::Path, "The image's manifest or index JSON."),
                Field::new("root_kind", F::Enum("RootKind"), "Whether `root` is a manifest or an index."),
                Field::new(
                    "manifests",
                    F::List("ImageFiles"),
                    "Every manifest of the image: the root itself, or the index's children.",
                ),
                Field::new("format", F::Enum("LayoutFormat"), "A directory or a tar file."),
                Field::new("ref_name", F::OptStr, "`org.opencontainers.image.ref.name` of the root in `index.json`."),
            ],
            outputs: vec![("layout", "The OCI layout (directory or tar).")],
            indexed_outputs: vec![],
            mnemonic: "OciLayout",
        },
        Action {
            subcommand: "manifest-from-oci-layout",
            doc: "Import a single-platform image from an OCI layout (e.g. made by rules_oci): its manifest, config \
                  and descriptor, and a digest-checked copy of every layer blob with its metadata. A layout whose \
                  root is an index gives the child of the requested platform.",
            module: "image",
            request: "ManifestFromOciLayoutRequest",
            fields: vec![
                Field::new("src", F::Path, "The OCI layout directory."),
                Field::new("os", F::Str, "OCI os of the image."),
                Field::new("architecture", F::Str, "OCI architecture of the image."),
                Field::new("variant", F::Str, "OCI variant of the image, or empty."),
                Field::new(
                    "layer_media_types",
                    F::StrList,
                    "Media types of the layers, in order: the layout's manifest must have exactly these.",
                ),
            ],
            outputs: vec![
                ("manifest", "The manifest JSON."),
                ("config", "The config JSON."),
                ("descriptor", "The manifest's descriptor JSON, with its platform."),
                ("digest", "The manifest digest, `sha256:<hex>` without a newline."),
            ],
            indexed_outputs: vec![
                ("layer_blob", "A copy of the layer's blob"),
                ("layer_metadata", "The layer's metadata JSON (`LayerMetadata`)"),
            ],
            mnemonic: "ManifestFromOciLayout",
        },
        Action {
            subcommand: "index-from-oci-layout",
            doc: "Import the index of an OCI layout whose root is an index (its children are imported with \
                  `manifest-from-oci-layout`).",
            module: "image",
            request: "IndexFromOciLayoutRequest",
            fields: vec![Field::new("src", F::Path, "The OCI layout directory.")],
            outputs: vec![
                ("index", "The index JSON."),
                ("descriptor", "The index's descriptor JSON."),
                ("digest", "The index digest, `sha256:<hex>` without a newline."),
            ],
            indexed_outputs: vec![],
            mnemonic: "IndexFromOciLayout",
        },
        Action {
            subcommand: "docker-save",
            doc: "Write a `docker load` tarball of a single-platform image that is also an OCI layout.",
            module: "image",
            request: "DockerSaveRequest",
            fields: vec![
                Field::new("image", F::Struct("ImageFiles"), "The image's manifest, config and layers."),
                Field::new("repo_tags", F::StrList, "Names to give the image, e.g. `example.com/app:latest`."),
            ],
            outputs: vec![("tarball", "The tarball.")],
            indexed_outputs: vec![],
            mnemonic: "DockerSave",
        },
    ]
}

pub fn enums() -> Vec<EnumDef> {
    vec![
        EnumDef {
            name: "RootKind",
            doc: "What an image's root document is.",
            module: "image",
            values: &[("Manifest", "manifest"), ("Index", "index")],
        },
        EnumDef {
            name: "LayoutFormat",
            doc: "How an OCI layout is written.",
            module: "image",
            values: &[("Directory", "directory"), ("Tar", "tar")],
        },
    ]
}

pub fn structs() -> Vec<StructDef> {
    vec![
        StructDef {
            name: "BaseImage",
            doc:
                "A base image: its manifest and config (its layers are described by them; their blobs need not exist).",
            module: "image",
            omit_empty: false,
            default: false,
            fields: vec![
                Field::new("manifest", F::Path, "The base manifest JSON."),
                Field::new("config", F::Path, "The base config JSON."),
                Field::new("descriptor", F::Path, "The base manifest's descriptor JSON."),
                Field::new(
                    "name",
                    F::OptStr,
                    "`org.opencontainers.image.base.name` (e.g. `docker.io/library/ubuntu:24.04`) for a pulled base.",
                ),
            ],
        },
        StructDef {
            name: "LayerFiles",
            doc: "A layer's metadata and, when it is local, its blob.",
            module: "image",
            omit_empty: false,
            default: false,
            fields: vec![
                Field::new("metadata", F::Path, "The layer metadata JSON."),
                Field::new(
                    "blob",
                    F::OptPath,
                    "The blob; `None` for a base layer that was not downloaded (shallow pull).",
                ),
            ],
        },
        StructDef {
            name: "ImageFiles",
            doc: "The files of one single-platform image.",
            module: "image",
            omit_empty: false,
            default: false,
            fields: vec![
                Field::new("manifest", F::Path, "The manifest JSON."),
                Field::new("config", F::Path, "The config JSON."),
                Field::new("layers", F::List("LayerFiles"), "The layers, in manifest order (base layers first)."),
            ],
        },
    ]
}
