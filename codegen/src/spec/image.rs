//! Images: `image_manifest`, `image_index`, and the conversions from OCI layouts.

use super::model::{
    Attr, AttrType as T, Body, Default as D, Expr as E, Impl, LoadFile, Ret, Rule, RuleKind, Run, Step, Transition,
};

const STAMP: &[&str] = &["auto", "force", "disabled"];
const AUTO_ENABLED_DISABLED: &[&str] = &["auto", "enabled", "disabled"];
const INHERIT: &[&str] = &["<inherit from base>"];
const IMAGE: &[&str] = &["ImageManifestInfo", "ImageIndexInfo"];
pub const IMAGE_GROUPS: [(&str, &str); 5] = [
    ("digest", "file with the digest, `sha256:<hex>`"),
    ("descriptor", "the OCI descriptor JSON"),
    ("oci_layout", "the image as an OCI layout directory"),
    ("oci_tarball", "the OCI layout as a tar file"),
    ("tarball", "a `docker load` tarball (docker-save format that is also an OCI layout)"),
];

fn build_settings() -> Attr {
    Attr::new(
        "build_settings",
        T::NameToTarget,
        D::StrDict(&[]),
        "Build settings for template expansion. Maps template variable names to string_flag targets.",
    )
}

fn stamp() -> Attr {
    Attr::new("stamp", T::Enum(STAMP), D::Str("auto"), "Controls build stamping for template expansion.")
}

fn annotations_file(what: &'static str) -> Attr {
    Attr::new("annotations_file", T::File, D::None, what)
}

pub fn image_manifest() -> Rule {
    Rule {
        name: "image_manifest",
        doc: "Builds a single-platform OCI image from layers (and optionally a base image), reading only layer \
              metadata, never layer blobs.",
        file: LoadFile::Image,
        kind: RuleKind::Build,
        attrs: vec![
            Attr::new("annotations", T::StringDict, D::StrDict(&[]), "This field contains arbitrary metadata for the manifest."),
            annotations_file("File containing annotations for the manifest, as JSON or newline-delimited text."),
            Attr::new(
                "artifact_type",
                T::String,
                D::Str(""),
                "Optional IANA media type of the artifact when the manifest is used for an artifact.",
            ),
            Attr::new(
                "base",
                T::Dep(IMAGE),
                D::None,
                "Base image to inherit layers from. Should provide ImageManifestInfo or ImageIndexInfo.",
            ),
            build_settings(),
            Attr::new("cmd", T::StringList, D::StrList(INHERIT), "Default arguments to the entrypoint of the container."),
            Attr::new(
                "config_fragment",
                T::File,
                D::None,
                "Optional JSON file containing a partial OCI image config, which will be used as a base for the final \
                 image config.",
            ),
            Attr::new(
                "config_media_type",
                T::String,
                D::Str(""),
                "Override the config blob media type. When set to \"application/vnd.oci.empty.v1+json\", \
                 config_fragment is optional.",
            ),
            Attr::new(
                "created",
                T::File,
                D::None,
                "Optional file containing a datetime string (RFC 3339 format) for when the image was created.",
            ),
            Attr::new(
                "created_timestamp",
                T::String,
                D::Str(""),
                "Optional datetime string (RFC 3339 format) for when the image was created.",
            ),
            Attr::new(
                "entrypoint",
                T::StringList,
                D::StrList(INHERIT),
                "A list of arguments to use as the command to execute when the container starts.",
            ),
            Attr::new(
                "env",
                T::StringDict,
                D::StrDict(&[]),
                "Default environment variables to set when starting a container based on this image.",
            ),
            Attr::new(
                "env_file",
                T::File,
                D::None,
                "File containing environment variables to set when starting a container based on this image.",
            ),
            Attr::new(
                "label_files",
                T::FileList,
                D::StrList(&[]),
                "Files containing labels for the image config, as JSON or newline-delimited text.",
            ),
            Attr::new("labels", T::StringDict, D::StrDict(&[]), "This field contains arbitrary metadata for the container."),
            Attr::new(
                "layers",
                T::DepList(&[]),
                D::StrList(&[]),
                "Layers to include in the image. Either a LayersInfo provider or a DefaultInfo with tar files.",
            ),
            Attr::new(
                "load_specs",
                T::DepList(&["LoadConfigInfo"]),
                D::StrList(&[]),
                "Load configurations to produce DeployInfo for this image.",
            ),
            Attr::new("platform", T::Platform, D::None, "Optional target platform to build this manifest for."),
            Attr::new(
                "push_specs",
                T::DepList(&["PushConfigInfo"]),
                D::StrList(&[]),
                "Push configurations to produce DeployInfo for this image.",
            ),
            Attr::new(
                "soci",
                T::Enum(AUTO_ENABLED_DISABLED),
                D::Str("auto"),
                "Whether to build a SOCI Index Manifest v2 for this image. Not supported: only `auto` and `disabled`.",
            ),
            Attr::new(
                "soci_min_layer_size",
                T::Int,
                D::Int(-1),
                "Layers smaller than this many bytes are omitted from the SOCI index.",
            ),
            Attr::new("soci_span_size", T::Int, D::Int(-1), "Span size (uncompressed bytes between ztoc checkpoints)."),
            stamp(),
            Attr::new(
                "stamp_created",
                T::Enum(AUTO_ENABLED_DISABLED),
                D::Str("auto"),
                "Whether to stamp the image config's `created` timestamp with the build time.",
            ),
            Attr::new(
                "stop_signal",
                T::String,
                D::Str(INHERIT[0]),
                "This field contains the system call signal that will be sent to the container to exit.",
            ),
            Attr::new(
                "subject",
                T::Dep(IMAGE),
                D::None,
                "Optional subject for the manifest. Sets the `subject` field in the OCI manifest, which is a descriptor \
                 pointing to another manifest or index.",
            ),
            Attr::new(
                "user",
                T::String,
                D::Str(INHERIT[0]),
                "The username or UID which is a platform-specific structure that allows specific control over which \
                 user the process run as.",
            ),
            Attr::new(
                "working_dir",
                T::String,
                D::Str(INHERIT[0]),
                "Sets the current working directory of the entrypoint process in the container.",
            ),
        ],
        settings: vec![],
        provides: vec!["ImageManifestInfo", "PullInfo", "DeployInfo"],
        output_groups: IMAGE_GROUPS.to_vec(),
        body: Body::Impl(manifest_impl()),
        transition: Some(Transition::ToPlatform),
        reads_platform: true,
        buck2_note: "",
    }
}

pub fn image_index() -> Rule {
    Rule {
        name: "image_index",
        doc: "Builds a multi-platform OCI image index from manifests, optionally building each manifest once per \
              platform.",
        file: LoadFile::Image,
        kind: RuleKind::Build,
        attrs: vec![
            Attr::new(
                "annotations",
                T::StringDict,
                D::StrDict(&[]),
                "Arbitrary metadata for the image index. Subject to template expansion.",
            ),
            annotations_file("File containing annotations for the image index, as JSON or newline-delimited text."),
            build_settings(),
            Attr::new(
                "load_specs",
                T::DepList(&["LoadConfigInfo"]),
                D::StrList(&[]),
                "Load configurations to produce DeployInfo for this image index.",
            ),
            Attr::new(
                "manifests",
                T::DepList(&["ImageManifestInfo"]),
                D::StrList(&[]),
                "List of manifests for specific platforms.",
            ),
            Attr::new(
                "platforms",
                T::PlatformList,
                D::StrList(&[]),
                "(Optional) list of target platforms to build the manifest for.",
            ),
            Attr::new(
                "push_specs",
                T::DepList(&["PushConfigInfo"]),
                D::StrList(&[]),
                "Push configurations to produce DeployInfo for this image index.",
            ),
            stamp(),
            Attr::new(
                "subject",
                T::Dep(IMAGE),
                D::None,
                "Optional subject for the index. Sets the `subject` field in the OCI index, which is a descriptor \
                 pointing to another manifest or index.",
            ),
        ],
        settings: vec![],
        provides: vec!["ImageIndexInfo", "PullInfo", "DeployInfo"],
        output_groups: IMAGE_GROUPS[..4].to_vec(),
        body: Body::Impl(index_impl()),
        transition: Some(Transition::SplitManifests),
        reads_platform: false,
        buck2_note: "",
    }
}

pub fn image_manifest_from_oci_layout() -> Rule {
    Rule {
        name: "image_manifest_from_oci_layout",
        doc: "Imports a single-platform image from an OCI layout directory (e.g. made by rules_oci).",
        file: LoadFile::Convert,
        kind: RuleKind::Build,
        attrs: vec![
            Attr::new("src", T::File, D::Required, "The directory containing the OCI layout to convert from."),
            Attr::new(
                "architecture",
                T::Enum(&["386", "amd64", "arm", "arm64", "mips64", "ppc64le", "riscv64", "s390x"]),
                D::Required,
                "The target architecture for the image manifest.",
            ),
            Attr::new(
                "layers",
                T::StringList,
                D::Required,
                "A list of layer media types. Use the well-defined media types in @rules_img//img:media_types.bzl.",
            ),
            Attr::new(
                "os",
                T::Enum(&["android", "darwin", "freebsd", "ios", "linux", "netbsd", "openbsd", "wasip1", "windows"]),
                D::Required,
                "The target operating system for the image manifest.",
            ),
            Attr::new(
                "variant",
                T::String,
                D::Str(""),
                "The platform variant (e.g., 'v3' for amd64/v3, 'v8' for arm64/v8).",
            ),
        ],
        settings: vec![],
        provides: vec!["ImageManifestInfo"],
        output_groups: vec![
            ("digest", "file with the digest"),
            ("descriptor", "the OCI descriptor JSON"),
            ("oci_layout", "the source layout"),
        ],
        body: Body::Impl(manifest_from_layout_impl()),
        transition: None,
        reads_platform: false,
        buck2_note: "",
    }
}

pub fn image_index_from_oci_layout() -> Rule {
    Rule {
        name: "image_index_from_oci_layout",
        doc: "Imports a multi-platform image from an OCI layout directory (e.g. made by rules_oci).",
        file: LoadFile::Convert,
        kind: RuleKind::Build,
        attrs: vec![
            Attr::new("src", T::File, D::Required, "The directory containing the OCI layout to convert from."),
            Attr::new(
                "layers",
                T::StringList,
                D::Required,
                "A list of layer media types. This applies to all manifests.",
            ),
            Attr::new(
                "manifests",
                T::StringList,
                D::Required,
                "An ordered list of platform specifications in 'os/architecture' or 'os/architecture/variant' format.",
            ),
        ],
        settings: vec![],
        provides: vec!["ImageIndexInfo"],
        output_groups: vec![("digest", "file with the digest"), ("oci_layout", "the source layout")],
        body: Body::Impl(index_from_layout_impl()),
        transition: None,
        reads_platform: false,
        buck2_note: "",
    }
}

/// The outputs every image gets besides its own documents: an OCI layout directory and tar,
/// built only when asked for (output groups / sub-targets), the only actions that read blobs.
fn layout_steps(root: &'static str, kind: &'static str, images: E) -> Vec<Step> {
    let layout = |format: &'static str, var: &'static str| {
        Step::Run(Run {
            action: "oci-layout",
            request: vec![
                ("root", E::path_of(E::Var(root))),
                ("root_kind", E::Str(kind)),
                ("manifests", E::field(E::Var("images"), "request")),
                ("format", E::Str(format)),
                ("ref_name", E::Str("latest")),
            ],
            inputs: vec![E::Var(root)],
            input_sets: vec![E::field(E::Var("images"), "inputs")],
            output_sets: vec![],
            outputs: vec![("layout", var)],
        })
    };
    vec![
        Step::Let("images", images),
        Step::DeclareDir { var: "oci_layout", suffix: E::Str("_oci_layout") },
        layout("directory", "oci_layout"),
        Step::Declare { var: "oci_tarball", suffix: E::Str("_oci_layout.tar") },
        layout("tar", "oci_tarball"),
    ]
}

fn manifest_impl() -> Impl {
    let mut steps = vec![
        Step::Do(E::call(
            "require_supported",
            vec![E::Str("soci"), E::Attr("soci"), E::List(vec![E::Str("auto"), E::Str("disabled")])],
        )),
        Step::Let("platform", E::call("target_platform", vec![E::Ctx])),
        Step::Let("base", E::call("base_image", vec![E::Ctx, E::Var("platform")])),
        Step::Let("layers", E::call("image_layers", vec![E::Ctx])),
        Step::Let("subject", E::call("subject_descriptor", vec![E::Ctx])),
        Step::Declare { var: "manifest", suffix: E::Str("_manifest.json") },
        Step::Declare { var: "config", suffix: E::Str("_config.json") },
        Step::Declare { var: "descriptor", suffix: E::Str("_descriptor.json") },
        Step::Declare { var: "digest", suffix: E::Str("_digest") },
        Step::Run(Run {
            action: "manifest",
            request: vec![
                ("os", E::field(E::Var("platform"), "os")),
                ("architecture", E::field(E::Var("platform"), "architecture")),
                ("variant", E::field(E::Var("platform"), "variant")),
                ("layers", E::call("metadata_paths", vec![E::Var("layers")])),
                ("base", E::field(E::Var("base"), "request")),
                ("config_fragment", E::FilePath("config_fragment")),
                ("config_media_type", E::none_if_empty(E::Attr("config_media_type"))),
                ("entrypoint", E::Attr("entrypoint")),
                ("cmd", E::Attr("cmd")),
                ("user", E::Attr("user")),
                ("working_dir", E::Attr("working_dir")),
                ("stop_signal", E::Attr("stop_signal")),
                ("env", E::Attr("env")),
                ("env_file", E::FilePath("env_file")),
                ("labels", E::Attr("labels")),
                ("label_files", E::FilePaths("label_files")),
                ("annotations", E::Attr("annotations")),
                ("annotations_file", E::FilePath("annotations_file")),
                ("created", E::FilePath("created")),
                ("created_timestamp", E::none_if_empty(E::Attr("created_timestamp"))),
                ("artifact_type", E::none_if_empty(E::Attr("artifact_type"))),
                ("subject", E::path_of(E::Var("subject"))),
            ],
            inputs: vec![
                E::File("config_fragment"),
                E::File("env_file"),
                E::File("annotations_file"),
                E::File("created"),
                E::Var("subject"),
            ],
            input_sets: vec![
                E::field(E::Var("base"), "inputs"),
                E::call("metadata_files", vec![E::Var("layers")]),
                E::Files("label_files"),
            ],
            output_sets: vec![],
            outputs: vec![
                ("manifest", "manifest"),
                ("config", "config"),
                ("descriptor", "descriptor"),
                ("digest", "digest"),
            ],
        }),
        Step::Let("all_layers", E::call("concat", vec![E::field(E::Var("base"), "layers"), E::Var("layers")])),
    ];
    steps.extend(layout_steps(
        "manifest",
        "manifest",
        E::call(
            "images_files",
            vec![E::List(vec![E::call(
                "image_parts",
                vec![E::Var("manifest"), E::Var("config"), E::Var("all_layers")],
            )])],
        ),
    ));
    steps.extend([
        Step::Declare { var: "tarball", suffix: E::Str("_docker.tar") },
        Step::Run(Run {
            action: "docker-save",
            request: vec![
                ("image", E::call("first", vec![E::field(E::Var("images"), "request")])),
                ("repo_tags", E::List(vec![E::call("default_repo_tag", vec![E::Ctx])])),
            ],
            inputs: vec![],
            input_sets: vec![E::field(E::Var("images"), "inputs")],
            output_sets: vec![],
            outputs: vec![("tarball", "tarball")],
        }),
    ]);
    Impl {
        steps,
        returns: vec![
            Ret::Default(vec!["manifest", "config"]),
            Ret::Group("descriptor", vec!["descriptor"]),
            Ret::Group("digest", vec!["digest"]),
            Ret::Group("oci_layout", vec!["oci_layout"]),
            Ret::Group("oci_tarball", vec!["oci_tarball"]),
            Ret::Group("tarball", vec!["tarball"]),
            Ret::Provider(
                "ImageManifestInfo",
                vec![
                    ("descriptor", E::Var("descriptor")),
                    ("manifest", E::Var("manifest")),
                    ("config", E::Var("config")),
                    ("digest", E::Var("digest")),
                    ("architecture", E::field(E::Var("platform"), "architecture")),
                    ("os", E::field(E::Var("platform"), "os")),
                    ("variant", E::field(E::Var("platform"), "variant")),
                    ("layers", E::Var("all_layers")),
                ],
            ),
            Ret::Extend(E::field(E::Var("base"), "providers")),
        ],
    }
}

fn index_impl() -> Impl {
    let mut steps = vec![
        Step::Let("manifests", E::call("index_manifests", vec![E::Ctx])),
        Step::Let("subject", E::call("subject_descriptor", vec![E::Ctx])),
        Step::Declare { var: "index", suffix: E::Str("_index.json") },
        Step::Declare { var: "descriptor", suffix: E::Str("_descriptor.json") },
        Step::Declare { var: "digest", suffix: E::Str("_digest") },
        Step::Run(Run {
            action: "index",
            request: vec![
                ("manifests", E::call("descriptor_paths", vec![E::Var("manifests")])),
                ("annotations", E::Attr("annotations")),
                ("annotations_file", E::FilePath("annotations_file")),
                ("subject", E::path_of(E::Var("subject"))),
            ],
            inputs: vec![E::File("annotations_file"), E::Var("subject")],
            input_sets: vec![E::call("descriptor_files", vec![E::Var("manifests")])],
            output_sets: vec![],
            outputs: vec![("index", "index"), ("descriptor", "descriptor"), ("digest", "digest")],
        }),
    ];
    steps.extend(layout_steps(
        "index",
        "index",
        E::call("images_files", vec![E::call("manifests_parts", vec![E::Var("manifests")])]),
    ));
    Impl {
        steps,
        returns: vec![
            Ret::Default(vec!["index"]),
            Ret::Group("descriptor", vec!["descriptor"]),
            Ret::Group("digest", vec!["digest"]),
            Ret::Group("oci_layout", vec!["oci_layout"]),
            Ret::Group("oci_tarball", vec!["oci_tarball"]),
            Ret::Provider(
                "ImageIndexInfo",
                vec![
                    ("descriptor", E::Var("descriptor")),
                    ("index", E::Var("index")),
                    ("digest", E::Var("digest")),
                    ("manifests", E::Var("manifests")),
                ],
            ),
            Ret::Extend(E::call("index_pull_providers", vec![E::Ctx])),
        ],
    }
}

fn manifest_from_layout_impl() -> Impl {
    Impl {
        steps: vec![
            Step::Let("src", E::File("src")),
            Step::Let("layers", E::call("layout_layers", vec![E::Ctx, E::Attr("layers"), E::Str("")])),
            Step::Declare { var: "manifest", suffix: E::Str("_manifest.json") },
            Step::Declare { var: "config", suffix: E::Str("_config.json") },
            Step::Declare { var: "descriptor", suffix: E::Str("_descriptor.json") },
            Step::Declare { var: "digest", suffix: E::Str("_digest") },
            Step::Run(Run {
                action: "manifest-from-oci-layout",
                request: vec![
                    ("src", E::FilePath("src")),
                    ("os", E::Attr("os")),
                    ("architecture", E::Attr("architecture")),
                    ("variant", E::Attr("variant")),
                    ("layer_media_types", E::Attr("layers")),
                ],
                inputs: vec![E::Var("src")],
                input_sets: vec![],
                output_sets: vec![E::field(E::Var("layers"), "outputs")],
                outputs: vec![
                    ("manifest", "manifest"),
                    ("config", "config"),
                    ("descriptor", "descriptor"),
                    ("digest", "digest"),
                ],
            }),
        ],
        returns: vec![
            Ret::Default(vec!["manifest", "config"]),
            Ret::Group("descriptor", vec!["descriptor"]),
            Ret::Group("digest", vec!["digest"]),
            Ret::Group("oci_layout", vec!["src"]),
            Ret::Provider(
                "ImageManifestInfo",
                vec![
                    ("descriptor", E::Var("descriptor")),
                    ("manifest", E::Var("manifest")),
                    ("config", E::Var("config")),
                    ("digest", E::Var("digest")),
                    ("architecture", E::Attr("architecture")),
                    ("os", E::Attr("os")),
                    ("variant", E::Attr("variant")),
                    ("layers", E::field(E::Var("layers"), "layers")),
                ],
            ),
        ],
    }
}

fn index_from_layout_impl() -> Impl {
    Impl {
        steps: vec![
            Step::Let("src", E::File("src")),
            // One `manifest-from-oci-layout` action per platform of `manifests`.
            Step::Let("manifests", E::call("convert_layout_manifests", vec![E::Ctx])),
            Step::Declare { var: "index", suffix: E::Str("_index.json") },
            Step::Declare { var: "descriptor", suffix: E::Str("_descriptor.json") },
            Step::Declare { var: "digest", suffix: E::Str("_digest") },
            Step::Run(Run {
                action: "index-from-oci-layout",
                request: vec![("src", E::FilePath("src"))],
                inputs: vec![E::Var("src")],
                input_sets: vec![],
                output_sets: vec![],
                outputs: vec![("index", "index"), ("descriptor", "descriptor"), ("digest", "digest")],
            }),
        ],
        returns: vec![
            Ret::Default(vec!["index"]),
            Ret::Group("digest", vec!["digest"]),
            Ret::Group("oci_layout", vec!["src"]),
            Ret::Provider(
                "ImageIndexInfo",
                vec![
                    ("descriptor", E::Var("descriptor")),
                    ("index", E::Var("index")),
                    ("digest", E::Var("digest")),
                    ("manifests", E::Var("manifests")),
                ],
            ),
        ],
    }
}
