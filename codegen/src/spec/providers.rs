//! Providers, with every field. The public ones are exported from `@rules_img//img:providers.bzl`.

use super::model::Provider;

pub fn providers() -> Vec<Provider> {
    vec![
        Provider {
            name: "SingleLayerInfo",
            doc: "One layer: its blob (if local) and its metadata.",
            public: true,
            fields: vec![
                ("blob", "File of the layer blob, or None when the layer has no local blob (a shallow base layer)."),
                ("metadata", "File: the layer metadata JSON (diff_id, mediaType, digest, size, annotations, history)."),
                ("media_type", "Media type of the blob, e.g. application/vnd.oci.image.layer.v1.tar+gzip."),
                ("estargz", "Whether the blob is eStargz."),
                ("sources", "List of struct(registry, repository) the blob can be fetched from; [] for local layers."),
            ],
        },
        Provider {
            name: "LayersInfo",
            doc: "An ordered list of layers.",
            public: true,
            fields: vec![("layers", "List of SingleLayerInfo, bottom to top.")],
        },
        Provider {
            name: "ImageManifestInfo",
            doc: "A single-platform image.",
            public: true,
            fields: vec![
                ("descriptor", "File: OCI descriptor JSON of the manifest, with its platform."),
                ("manifest", "File: the manifest JSON."),
                ("config", "File: the config JSON."),
                ("digest", "File: the manifest digest, sha256:<hex>."),
                ("architecture", "Architecture, e.g. amd64."),
                ("os", "Operating system, e.g. linux."),
                ("variant", "Platform variant, e.g. v8 for arm64, or an empty string."),
                ("layers", "List of SingleLayerInfo, base layers first."),
            ],
        },
        Provider {
            name: "ImageIndexInfo",
            doc: "A multi-platform image.",
            public: true,
            fields: vec![
                ("descriptor", "File: OCI descriptor JSON of the index."),
                ("index", "File: the index JSON."),
                ("digest", "File: the index digest, sha256:<hex>."),
                ("manifests", "List of ImageManifestInfo, one per platform."),
            ],
        },
        Provider {
            name: "PullInfo",
            doc: "Where a pulled base image comes from.",
            public: true,
            fields: vec![
                ("registries", "Registries (mirrors first) the image was pulled from."),
                ("repository", "Repository within the registry."),
                ("tag", "Tag the image was pulled by, or an empty string."),
                ("digest", "Digest the image is pinned to."),
            ],
        },
        Provider {
            name: "DeployInfo",
            doc: "A deploy operation (push or load) that multi_deploy can run.",
            public: true,
            fields: vec![
                ("command", "`push` or `load`."),
                ("image", "ImageManifestInfo or ImageIndexInfo of the image."),
                ("deploy_manifest", "File: the deploy request of the operation."),
                ("include_layers", "Whether layer blobs must be available locally at run time."),
            ],
        },
        Provider {
            name: "PushConfigInfo",
            doc: "Where and how to push an image.",
            public: true,
            fields: vec![
                ("registry", "Registry host."),
                ("repository", "Repository within the registry."),
                ("tags", "Tags to apply."),
                ("strategy", "Push strategy, resolved."),
            ],
        },
        Provider {
            name: "LoadConfigInfo",
            doc: "Where and how to load an image.",
            public: true,
            fields: vec![
                ("repository", "Repository of the loaded image's name."),
                ("tags", "Tags to apply."),
                ("daemon", "Daemon, resolved."),
                ("strategy", "Load strategy, resolved."),
            ],
        },
        Provider {
            name: "ImageToolchainInfo",
            doc: "The img tool.",
            public: false,
            fields: vec![("tool_exe", "File: the img executable.")],
        },
    ]
}
