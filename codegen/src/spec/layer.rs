//! Layers: `image_layer`, `layer_from_tar`, `file_metadata`, the `img layer` and
//! `img layer-from-tar` actions and the layer metadata document.

use super::model::{
    Action, Attr, AttrType as T, Body, Default as D, EnumDef, Expr as E, Field, FieldType as F, Function, Impl,
    LoadFile, Ret, Rule, RuleKind, Run, Step, StructDef,
};

const AUTO_ENABLED_DISABLED: &[&str] = &["auto", "enabled", "disabled"];
const LAYER_SETTINGS: [&str; 5] =
    ["compress", "compression_jobs", "compression_level", "estargz", "create_parent_directories"];
const LAYER_GROUPS: [(&str, &str); 2] =
    [("layer", "the layer blob"), ("metadata", "the layer metadata JSON (`<name>_metadata.json`)")];

fn annotations() -> Attr {
    Attr::new(
        "annotations",
        T::StringDict,
        D::StrDict(&[]),
        "Annotations to add to the layer metadata as key-value pairs.",
    )
    .to_request()
}

fn estargz() -> Attr {
    Attr::new(
        "estargz",
        T::Enum(AUTO_ENABLED_DISABLED),
        D::Str("auto"),
        "Whether to use estargz format. If set to 'auto', uses the global default estargz setting.",
    )
}

fn media_type(doc: &'static str) -> Attr {
    Attr::new("media_type", T::String, D::Str(""), doc)
}

pub fn image_layer() -> Rule {
    Rule {
        name: "image_layer",
        doc: "Creates a container image layer from files, executables, directories and symlinks.\n\n\
              The layer is written in one action that streams the files into a deterministic tar, hashes it \
              (diff_id), compresses it and hashes the blob (digest). Image rules only read the metadata.",
        file: LoadFile::Layer,
        kind: RuleKind::Build,
        attrs: vec![
            Attr::new(
                "srcs",
                T::PathToTarget,
                D::StrDict(&[]),
                "Files to include in the layer. Keys are paths in the image (e.g., \"/app/bin/server\"), values are \
                 labels to files or executables.",
            ),
            annotations(),
            Attr::new(
                "annotations_file",
                T::File,
                D::None,
                "File containing annotations for the layer, as JSON or newline-delimited text.",
            ),
            Attr::new(
                "compress",
                T::Enum(&["auto", "gzip", "zstd"]),
                D::Str("auto"),
                "Compression algorithm to use. If set to 'auto', uses the global default compression setting.",
            ),
            Attr::new(
                "create_parent_directories",
                T::Enum(AUTO_ENABLED_DISABLED),
                D::Str("auto"),
                "Whether to automatically create parent directory entries in the tar file for all files.",
            ),
            Attr::new(
                "default_metadata",
                T::String,
                D::Str(""),
                "JSON-encoded default metadata to apply to all files in the layer.",
            ),
            estargz(),
            Attr::new(
                "file_metadata",
                T::StringDict,
                D::StrDict(&[]),
                "Per-file metadata overrides as a dict mapping file paths to JSON-encoded metadata.",
            ),
            Attr::new("include_runfiles", T::Bool, D::Bool(true), "Whether to include runfiles for executable targets."),
            media_type(
                "Override the layer media type. By default, the media type is auto-detected from the compression algorithm.",
            ),
            Attr::new(
                "multi_file_layout",
                T::Enum(&["package_relative", "flatten"]),
                D::Str("package_relative"),
                "How to place a non-executable src that produces MORE THAN ONE default output.",
            ),
            Attr::new(
                "soci",
                T::Enum(AUTO_ENABLED_DISABLED),
                D::Str("auto"),
                "Whether to emit a SOCI ztoc (table of contents) for this layer. Not supported: only `auto` and \
                 `disabled` are accepted.",
            ),
            Attr::new(
                "symlinks",
                T::StringDict,
                D::StrDict(&[]),
                "Symlinks to create in the layer. Keys are symlink paths in the image, values are the targets they point to.",
            ),
            Attr::new(
                "tree_artifact_handling",
                T::Enum(&["auto", "full", "deduplicate_symlink"]),
                D::Str("auto"),
                "How to handle duplicate tree artifacts (directories) in the layer. Identical files are always \
                 hardlinked; `deduplicate_symlink` is not supported.",
            ),
        ],
        settings: LAYER_SETTINGS.to_vec(),
        provides: vec!["LayersInfo"],
        output_groups: LAYER_GROUPS.to_vec(),
        body: Body::Impl(Impl {
            steps: vec![
                Step::Do(E::call(
                    "require_supported",
                    vec![E::Str("soci"), E::Attr("soci"), E::List(vec![E::Str("auto"), E::Str("disabled")])],
                )),
                Step::Do(E::call(
                    "require_supported",
                    vec![
                        E::Str("tree_artifact_handling"),
                        E::Attr("tree_artifact_handling"),
                        E::List(vec![E::Str("auto"), E::Str("full")]),
                    ],
                )),
                Step::Let("compress", E::Auto { attr: "compress", setting: "compress" }),
                Step::Let("estargz", E::eq(E::Auto { attr: "estargz", setting: "estargz" }, E::Str("enabled"))),
                Step::Do(E::call("require_estargz_gzip", vec![E::Var("estargz"), E::Var("compress")])),
                Step::Declare { var: "blob", suffix: E::call("layer_extension", vec![E::Var("compress")]) },
                Step::Declare { var: "metadata", suffix: E::Str("_metadata.json") },
                Step::Let("srcs", E::call("layer_srcs", vec![E::Ctx])),
                Step::Run(Run {
                    action: "layer",
                    request: vec![
                        ("created_by", E::call("created_by", vec![E::Ctx])),
                        ("compress", E::Var("compress")),
                        (
                            "compression_level",
                            E::call("compression_level", vec![E::Setting("compression_level"), E::Var("compress")]),
                        ),
                        ("compression_jobs", E::call("compression_jobs", vec![E::Setting("compression_jobs")])),
                        ("estargz", E::Var("estargz")),
                        (
                            "create_parent_directories",
                            E::eq(
                                E::Auto { attr: "create_parent_directories", setting: "create_parent_directories" },
                                E::Str("enabled"),
                            ),
                        ),
                        ("media_type", E::none_if_empty(E::Attr("media_type"))),
                        ("annotations_file", E::FilePath("annotations_file")),
                        ("default_metadata", E::none_if_empty(E::Attr("default_metadata"))),
                        ("file_metadata", E::call("strip_slash_keys", vec![E::Attr("file_metadata")])),
                        ("srcs", E::path_of(E::field(E::Var("srcs"), "list"))),
                        ("multi_file_layout", E::Attr("multi_file_layout")),
                        ("executables", E::field(E::Var("srcs"), "executables")),
                        ("symlinks", E::call("strip_slash_keys", vec![E::Attr("symlinks")])),
                    ],
                    inputs: vec![E::File("annotations_file"), E::field(E::Var("srcs"), "list")],
                    input_sets: vec![E::field(E::Var("srcs"), "inputs")],
                    output_sets: vec![],
                    outputs: vec![("blob", "blob"), ("metadata", "metadata")],
                }),
            ],
            returns: layer_returns(),
        }),
        transition: None,
        reads_platform: false,
        buck2_note: "`srcs` values are targets or source files (`attrs.one_of(attrs.dep(), attrs.source())`). An \
                     executable is a dependency with `RunInfo`; the artifacts of its `DefaultInfo.other_outputs` are \
                     placed under `<path>.runfiles/<cell>/` by their short path.",
    }
}

/// `DefaultInfo`, the two output groups and `LayersInfo` of a layer rule whose outputs are
/// `blob` and `metadata` and whose locals are `compress` and `estargz`.
fn layer_returns() -> Vec<Ret> {
    vec![
        Ret::Default(vec!["blob"]),
        Ret::Group("layer", vec!["blob"]),
        Ret::Group("metadata", vec!["metadata"]),
        Ret::Provider(
            "LayersInfo",
            vec![(
                "layers",
                E::List(vec![E::Make(
                    "SingleLayerInfo",
                    vec![
                        ("blob", E::Var("blob")),
                        ("metadata", E::Var("metadata")),
                        ("media_type", E::call("layer_media_type", vec![E::Var("compress"), E::Attr("media_type")])),
                        ("estargz", E::Var("estargz")),
                        ("sources", E::List(vec![])),
                    ],
                )]),
            )],
        ),
    ]
}

pub fn layer_from_tar() -> Rule {
    Rule {
        name: "layer_from_tar",
        doc: "Turns an existing tar file (plain, gzip or zstd; sniffed from its bytes) into a layer.",
        file: LoadFile::Layer,
        kind: RuleKind::Build,
        attrs: vec![
            Attr::new(
                "src",
                T::File,
                D::Required,
                "The tar file to convert into a layer. Must be a valid tar file (optionally compressed).",
            ),
            annotations(),
            Attr::new(
                "compress",
                T::Enum(&["auto", "gzip", "zstd", "none"]),
                D::Str("auto"),
                "Compression algorithm to use. If set to 'auto', it keeps the existing compression, unless the layer \
                 is being optimized.",
            ),
            estargz(),
            media_type(
                "Override layer media type. Use e.g. \"application/vnd.cncf.helm.chart.content.v1.tar\" for Helm charts.",
            ),
            Attr::new("optimize", T::Bool, D::Bool(false), "If set, rewrites the tar file to deduplicate it's contents.")
                .to_request(),
        ],
        settings: LAYER_SETTINGS.to_vec(),
        provides: vec!["LayersInfo"],
        output_groups: LAYER_GROUPS.to_vec(),
        body: Body::Impl(Impl {
            steps: vec![
                Step::Let(
                    "compress",
                    E::call("tar_compress", vec![E::Attr("compress"), E::Attr("optimize"), E::Setting("compress")]),
                ),
                Step::Let("estargz", E::eq(E::Auto { attr: "estargz", setting: "estargz" }, E::Str("enabled"))),
                Step::Do(E::call("require_estargz_gzip", vec![E::Var("estargz"), E::Var("compress")])),
                Step::Declare {
                    var: "blob",
                    suffix: E::call("tar_layer_extension", vec![E::Var("compress"), E::File("src")]),
                },
                Step::Declare { var: "metadata", suffix: E::Str("_metadata.json") },
                Step::Run(Run {
                    action: "layer-from-tar",
                    request: vec![
                        ("created_by", E::call("created_by", vec![E::Ctx])),
                        ("src", E::FilePath("src")),
                        ("compress", E::Var("compress")),
                        (
                            "compression_level",
                            E::call("compression_level", vec![E::Setting("compression_level"), E::Var("compress")]),
                        ),
                        ("compression_jobs", E::call("compression_jobs", vec![E::Setting("compression_jobs")])),
                        ("estargz", E::Var("estargz")),
                        ("media_type", E::none_if_empty(E::Attr("media_type"))),
                    ],
                    inputs: vec![E::File("src")],
                    input_sets: vec![],
                    output_sets: vec![],
                    outputs: vec![("blob", "blob"), ("metadata", "metadata")],
                }),
            ],
            returns: layer_returns(),
        }),
        transition: None,
        reads_platform: false,
        buck2_note: "",
    }
}

pub fn file_metadata() -> Function {
    Function {
        name: "file_metadata",
        doc: "Returns JSON-encoded metadata for `default_metadata` or a `file_metadata` value of image_layer.",
        file: LoadFile::Layer,
        params: vec![
            ("mode", "File permission mode (e.g., \"0755\", \"0644\")."),
            ("uid", "User ID of the file owner. Integer."),
            ("gid", "Group ID of the file owner. Integer."),
            ("uname", "User name of the file owner. String."),
            ("gname", "Group name of the file owner. String."),
            ("mtime", "Modification time in RFC3339 format (e.g., \"2023-01-01T00:00:00Z\")."),
            ("pax_records", "Dict of extended attributes to set via PAX records."),
        ],
        returns_json_of: "FileMetadata",
    }
}

pub fn actions() -> Vec<Action> {
    vec![
        Action {
            subcommand: "layer",
            doc: "Build one layer blob and its metadata from files.\n\n\
                  Param file `srcs`: one line per source, `<image path>\\0<relative path>\\0<origin><host path>`, \
                  where `<origin>` is `s` for a source file (executable when the file on disk is: version control \
                  keeps that bit) or `g` for a generated file (never executable: Bazel marks every output \
                  executable, so the bit on disk says nothing; executables go through `executables`). All lines \
                  that share an image path form one source: a single line places the host file (or walks the host \
                  directory) at the image path; several lines make the image path a directory and place each file at \
                  `<image path>/<relative path>` (`multi_file_layout = \"package_relative\"`) or \
                  `<image path>/<basename>` (`\"flatten\"`).",
            module: "layer",
            request: "LayerRequest",
            fields: vec![
                Field::new(
                    "created_by",
                    F::Str,
                    "`created_by` of the layer's history entry, e.g. `rules_img //pkg:layer`.",
                ),
                Field::new("compress", F::Enum("Compression"), "Compression of the blob."),
                Field::new(
                    "compression_level",
                    F::OptInt,
                    "Compression level; `None` takes the algorithm's default (gzip 6, zstd 3).",
                ),
                Field::new("compression_jobs", F::Count, "Parallel compression jobs; 0 means one per CPU."),
                Field::new("estargz", F::Bool, "Write the blob as eStargz."),
                Field::new("create_parent_directories", F::Bool, "Add a directory entry for every parent."),
                Field::new(
                    "media_type",
                    F::OptStr,
                    "Media type recorded in the metadata; `None` derives it from the compression.",
                ),
                Field::new(
                    "annotations_file",
                    F::OptPath,
                    "File of annotations, as JSON (`{\"k\":\"v\"}`) or newline-delimited `k=v` text.",
                ),
                Field::new("default_metadata", F::OptStr, "JSON `FileMetadata` applied to every entry."),
                Field::new(
                    "file_metadata",
                    F::StrMap,
                    "JSON `FileMetadata` per image path (without a leading `/`); a key that matches no entry is an error.",
                ),
                Field::new("srcs", F::OptPath, "Param file of sources (see above), or `None` for a layer without `srcs`."),
                Field::new(
                    "multi_file_layout",
                    F::Enum("MultiFileLayout"),
                    "Where a source with several files puts them.",
                ),
                Field::new("executables", F::List("Executable"), "Executables and their runfiles."),
                Field::new("symlinks", F::StrMap, "Symlinks: image path (without a leading `/`) to target, verbatim."),
            ],
            outputs: vec![("blob", "The layer blob."), ("metadata", "The layer metadata JSON (`LayerMetadata`).")],
            indexed_outputs: vec![],
            mnemonic: "ImageLayer",
        },
        Action {
            subcommand: "layer-from-tar",
            doc: "Turn an existing tar (plain, gzip or zstd) into a layer.",
            module: "layer",
            request: "LayerFromTarRequest",
            fields: vec![
                Field::new("created_by", F::Str, "`created_by` of the layer's history entry."),
                Field::new(
                    "src",
                    F::Path,
                    "The input tar; its compression is sniffed from its first bytes, never guessed from its name.",
                ),
                Field::new("compress", F::Enum("TarCompression"), "Compression of the blob; `keep` keeps the input's."),
                Field::new("compression_level", F::OptInt, "Compression level; `None` takes the algorithm's default."),
                Field::new("compression_jobs", F::Count, "Parallel compression jobs; 0 means one per CPU."),
                Field::new("estargz", F::Bool, "Write the blob as eStargz."),
                Field::new("media_type", F::OptStr, "Media type recorded in the metadata; `None` derives it."),
            ],
            outputs: vec![("blob", "The layer blob."), ("metadata", "The layer metadata JSON (`LayerMetadata`).")],
            indexed_outputs: vec![],
            mnemonic: "LayerFromTar",
        },
    ]
}

pub fn enums() -> Vec<EnumDef> {
    vec![
        EnumDef {
            name: "Compression",
            doc: "Compression of a layer blob.",
            module: "layer",
            values: &[("Gzip", "gzip"), ("Zstd", "zstd"), ("None", "none")],
        },
        EnumDef {
            name: "TarCompression",
            doc: "Compression asked of `layer_from_tar`: `keep` leaves the input's compression as it is.",
            module: "layer",
            values: &[("Keep", "keep"), ("Gzip", "gzip"), ("Zstd", "zstd"), ("None", "none")],
        },
        EnumDef {
            name: "MultiFileLayout",
            doc: "Where a source that produces several files puts them.",
            module: "layer",
            values: &[("PackageRelative", "package_relative"), ("Flatten", "flatten")],
        },
    ]
}

pub fn structs() -> Vec<StructDef> {
    vec![
        StructDef {
            name: "Executable",
            doc: "An executable placed in a layer, with its runfiles.",
            module: "layer",
            omit_empty: false,
            default: false,
            fields: vec![
                Field::new("path", F::Str, "Path of the executable in the image, without a leading `/`."),
                Field::new("file", F::Path, "Path of the executable on the build machine."),
                Field::new(
                    "runfiles",
                    F::OptPath,
                    "Param file listing the runfiles, one `<kind><path>\\0<host path>` line each, or `None` when runfiles \
                     are not included. Kinds: `s` a short path (`../repo/x` goes to `<path>.runfiles/repo/x`, anything \
                     else to `<path>.runfiles/<workspace_name>/<short path>`), `w` a path below the workspace \
                     directory, `r` a path below the runfiles root, `e` an empty file below the workspace directory \
                     (no host path).",
                ),
                Field::new(
                    "workspace_name",
                    F::Str,
                    "Name of the main repository / cell: its runfiles go to `<path>.runfiles/<workspace_name>/`.",
                ),
                Field::new(
                    "repo_mapping",
                    F::OptPath,
                    "Bazel's `_repo_mapping` manifest, placed at `<path>.runfiles/_repo_mapping` and `<path>.repo_mapping`.",
                ),
            ],
        },
        StructDef {
            name: "FileMetadata",
            doc: "Per-file metadata, as written by `file_metadata(...)` in Starlark.",
            module: "layer",
            omit_empty: true,
            default: true,
            fields: vec![
                Field::new("mode", F::OptStr, "Octal mode, e.g. `\"0644\"`."),
                Field::new("uid", F::OptSize, "User ID."),
                Field::new("gid", F::OptSize, "Group ID."),
                Field::new("uname", F::OptStr, "User name."),
                Field::new("gname", F::OptStr, "Group name."),
                Field::new("mtime", F::OptStr, "RFC 3339 time, e.g. `\"2023-01-01T00:00:00Z\"`."),
                Field::new("pax_records", F::OptStrMap, "PAX records to set."),
            ],
        },
        StructDef {
            name: "LayerHistory",
            doc: "One entry of a layer's history.",
            module: "layer",
            omit_empty: true,
            default: true,
            fields: vec![
                Field::new("created", F::OptStr, "RFC 3339 creation time."),
                Field::new("created_by", F::OptStr, "What created the layer."),
                Field::new("author", F::OptStr, "Author."),
                Field::new("comment", F::OptStr, "Comment."),
                Field::new("empty_layer", F::OptBool, "Whether the entry has no layer."),
            ],
        },
        StructDef {
            name: "LayerMetadata",
            doc: "The layer metadata document: the only thing image actions read about a layer.",
            module: "layer",
            omit_empty: true,
            default: false,
            fields: vec![
                Field::new("diff_id", F::OptStr, "sha256 of the uncompressed tar stream, `sha256:<hex>`."),
                Field::new("media_type", F::Str, "Media type of the blob.").json("mediaType"),
                Field::new("digest", F::Str, "sha256 of the blob, `sha256:<hex>`."),
                Field::new("size", F::Size, "Size of the blob in bytes."),
                Field::new("annotations", F::StrMap, "Annotations of the layer."),
                Field::new("history", F::List("LayerHistory"), "History entries of the layer."),
            ],
        },
    ]
}
