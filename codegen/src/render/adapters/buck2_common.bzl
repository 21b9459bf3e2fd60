"""The Buck2 adapter library: what every generated rule implementation calls.

This is the one place where rules_img's Buck2 Starlark is written by hand; its Bazel twin is
bazel_common.bzl. Keep the two in step: same function names, same arguments, same results.
"""

load("//img/private:providers.bzl", "DeployInfo", "ImageIndexInfo", "ImageManifestInfo", "ImageToolchainInfo", "LayersInfo", "PullInfo", "SingleLayerInfo")

def fail_not_yet(ctx: AnalysisContext, rule_name: str, capability: str):
    """Fails analysis of a rule whose action does not exist yet."""
    fail("{}: {} is declared but not available yet in this rules_img: it needs {}. See docs/reference/{}.md.".format(
        ctx.label.raw_target(),
        rule_name,
        capability,
        rule_name,
    ))

def resolve_auto(value: str, setting: str) -> str:
    """An attribute value, or the global setting's value when the attribute is "auto"."""
    if value == "auto":
        return setting
    return value

def require_supported(attr_name: str, value: str, supported: list[str]):
    """Fails when an attribute has a value rules_img accepts for compatibility but does not implement."""
    if value not in supported:
        fail("{} = {} is not supported by this rules_img (supported: {}).".format(
            attr_name,
            repr(value),
            ", ".join(supported),
        ))

def require_supported_auto(attr_name: str, value: str, setting_name: str, setting: str, supported: list[str]):
    """Like `require_supported`, for an attribute whose "auto" means a global setting's value."""
    require_supported(attr_name, value, ["auto"] + supported)
    if value == "auto" and setting not in supported:
        fail("{} = \"auto\" takes the {} setting, which is {}: not supported by this rules_img (supported: {}).".format(
            attr_name,
            setting_name,
            repr(setting),
            ", ".join(supported),
        ))

def require_unset(attr_name: str, value: typing.Any):
    """Fails when an attribute rules_img accepts for compatibility, but does not implement yet, is set."""
    if value:
        fail("{} is not supported by this rules_img yet; leave it unset.".format(attr_name))

def require_no_templates(values: list, more_values: list):
    """Fails on `{{...}}` templates: stamping and template expansion are not implemented yet."""
    for value in values + more_values:
        if "{{" in value:
            fail("{} is a template; template expansion is not supported by this rules_img yet.".format(repr(value)))

def tags(tag: str, tag_list: list[str]) -> list[str]:
    """`tag` and `tag_list`, deduplicated and sorted."""
    return sorted({name: None for name in ([tag] if tag else []) + tag_list}.keys())

def load_names(registry: str, repository: str, tag: str, tag_list: list[str]) -> list[str]:
    """The names `image_load` gives the image: `[registry/]repository:tag` per tag (`latest` without tags)."""
    all_tags = tags(tag, tag_list)
    if not repository:
        return all_tags
    base = registry + "/" + repository if registry else repository
    return [base + ":" + name for name in (all_tags or ["latest"])]

def deploy_image(ctx: AnalysisContext, target: Dependency) -> struct:
    """The image an image_push / image_load deploys, as request entries and the files they need."""
    if ImageManifestInfo in target:
        info = target[ImageManifestInfo]
        root, root_kind, manifests = info.manifest, "manifest", [info]
    else:
        info = target[ImageIndexInfo]
        root, root_kind, manifests = info.index, "index", info.manifests
    files = [root]
    entries = []
    for manifest in manifests:
        layers = []
        for layer in manifest.layers:
            layers.append({
                "blob": layer.blob,
                "metadata": layer.metadata,
                "sources": [{"registry": s.registry, "repository": s.repository} for s in layer.sources],
            })
            files.append(layer.metadata)
            if layer.blob:
                files.append(layer.blob)
        entries.append({"config": manifest.config, "layers": layers, "manifest": manifest.manifest})
        files.extend([manifest.manifest, manifest.config])
    return struct(info = info, root = root, root_kind = root_kind, manifests = entries, files = files)

def write_document(ctx: AnalysisContext, suffix: str, document: dict[str, typing.Any]) -> Artifact:
    """Writes a document of the contract as JSON; paths are absolute, since `buck2 run` runs in any directory."""
    return ctx.actions.write_json(ctx.label.name + suffix, document, absolute = True)

def deploy_launcher(ctx: AnalysisContext, command: str, request: Artifact, files: list) -> struct:
    """What an image_push / image_load runs: `img <command> --request <request>`."""
    tool = ctx.attrs._img_toolchain[ImageToolchainInfo].tool_exe
    return struct(args = cmd_args(tool, command, "--request", request, hidden = files), outputs = [request])

def multi_deploy_launcher(ctx: AnalysisContext) -> struct:
    """What a multi_deploy runs: `img deploy --push <request> --load <request>...`."""
    tool = ctx.attrs._img_toolchain[ImageToolchainInfo].tool_exe
    args = cmd_args(tool, "deploy")
    hidden = []
    for operation in ctx.attrs.operations:
        info = operation[DeployInfo]
        if info.command not in ctx.attrs.deploy_operations:
            continue
        args.add("--" + info.command, info.deploy_manifest)
        hidden.append(operation[RunInfo].args)
    return struct(args = cmd_args(args, hidden = hidden), outputs = [])

def require_estargz_gzip(estargz: bool, compress: str):
    """eStargz is a gzip format: fails on eStargz with another compression."""
    if estargz and compress not in ("gzip", "keep"):
        fail("estargz needs gzip compression, not {}; set compress = \"gzip\" or estargz = \"disabled\".".format(compress))

def merge_outputs(outputs: dict[str, typing.Any], *more) -> dict[str, typing.Any]:
    """One dict of an action's outputs, from the named ones and the numbered ones adapters declare."""
    merged = dict(outputs)
    for extra in more:
        merged.update(extra)
    return merged

_MEDIA_TYPE_EXTENSIONS = {"gzip": ".tgz", "zstd": ".tar.zst"}

def layout_layers(ctx: AnalysisContext, media_types: list[str], prefix: str) -> struct:
    """Declares a blob and a metadata file per layer of an image imported from an OCI layout."""
    outputs = {}
    layers = []
    for index, media_type in enumerate(media_types):
        extension = _MEDIA_TYPE_EXTENSIONS.get(media_type.rpartition("+")[2], ".tar")
        blob = ctx.actions.declare_output("{}{}_layer_{}{}".format(ctx.label.name, prefix, index, extension))
        metadata = ctx.actions.declare_output("{}{}_layer_{}_metadata.json".format(ctx.label.name, prefix, index))
        outputs["layer_blob.{}".format(index)] = blob
        outputs["layer_metadata.{}".format(index)] = metadata
        layers.append(SingleLayerInfo(blob = blob, metadata = metadata, media_type = media_type, estargz = False, sources = []))
    return struct(outputs = outputs, layers = layers)

def convert_layout_manifests(ctx: AnalysisContext) -> list:
    """Imports each platform of an image_index_from_oci_layout, one `manifest-from-oci-layout` each.

    The request is written here rather than by the spec because the number of actions is the
    number of platforms; its fields are those of `ManifestFromOciLayoutRequest`.
    """
    manifests = []
    for index, platform in enumerate(ctx.attrs.manifests):
        parts = platform.split("/")
        if len(parts) not in (2, 3):
            fail("manifests: {} is not os/architecture or os/architecture/variant.".format(repr(platform)))
        variant = parts[2] if len(parts) == 3 else ""
        prefix = "_{}".format(index)
        layers = layout_layers(ctx, ctx.attrs.layers, prefix)
        files = {
            name: ctx.actions.declare_output("{}{}_{}".format(ctx.label.name, prefix, suffix))
            for name, suffix in [("manifest", "manifest.json"), ("config", "config.json"), ("descriptor", "descriptor.json"), ("digest", "digest")]
        }
        run_img(
            ctx,
            action = "manifest-from-oci-layout",
            mnemonic = "ManifestFromOciLayout",
            request = {
                "architecture": parts[1],
                "layer_media_types": ctx.attrs.layers,
                "os": parts[0],
                "src": ctx.attrs.src,
                "variant": variant,
            },
            inputs = [ctx.attrs.src],
            input_sets = [],
            outputs = merge_outputs(files, layers.outputs),
        )
        manifests.append(ImageManifestInfo(
            descriptor = files["descriptor"],
            manifest = files["manifest"],
            config = files["config"],
            digest = files["digest"],
            architecture = parts[1],
            os = parts[0],
            variant = variant,
            layers = layers.layers,
        ))
    return manifests

def _platform_parts(platform: str) -> list[str]:
    parts = platform.split("/")
    if len(parts) not in (2, 3):
        fail("manifests: platform {} is not os/architecture or os/architecture/variant.".format(repr(platform)))
    return parts + ([""] if len(parts) == 2 else [])

def _blob(directory: Artifact, digest: str) -> Artifact:
    return directory.project("blobs/sha256/" + digest.removeprefix("sha256:"))

def pull_impl(ctx: AnalysisContext) -> list[Provider]:
    """Fetches a pinned base image's manifests and configs (never its layers) with `img pull`.

    Buck2 has no repository rules: an action fetches, and what Bazel learns when it fetches (the
    platforms and layers) is written in `manifests`, as `img pull ... --print-buck2 NAME` prints it.
    """
    attrs = ctx.attrs
    if not attrs.digest:
        fail("pull on Buck2 needs `digest`: run `img pull ... --print-buck2 {}` and paste the target it prints.".format(ctx.label.name))
    if not attrs.manifests:
        fail("pull on Buck2 needs `manifests`: run `img pull ... --print-buck2 {}` and paste the target it prints.".format(ctx.label.name))
    require_supported("layer_handling", attrs.layer_handling, ["shallow"])
    registries = attrs.registries + [attrs.registry or "index.docker.io"]
    out = ctx.actions.declare_output(ctx.label.name, dir = True)
    command = cmd_args(
        attrs._img_toolchain[ImageToolchainInfo].tool_exe,
        "pull",
        "--repository",
        attrs.repository,
        "--digest",
        attrs.digest,
        "--output",
        out.as_output(),
    )
    for registry in registries:
        command.add("--registry", registry)
    if attrs.docker_config_path:
        command.add("--docker-config-path", attrs.docker_config_path)
    if attrs.credential_helper:
        command.add("--credential-helper", attrs.credential_helper)

    # Fetching needs the network: never remotely.
    ctx.actions.run(command, category = "img_pull", local_only = True)
    sources = [struct(registry = registry, repository = attrs.repository) for registry in registries]
    pull = PullInfo(registries = registries, repository = attrs.repository, tag = attrs.tag, digest = attrs.digest)
    manifests = []
    for index, entry in enumerate(attrs.manifests):
        os, architecture, variant = _platform_parts(entry["platform"])
        layers = [
            SingleLayerInfo(
                blob = None,
                metadata = out.project("manifests/{}/layers/{}.json".format(index, layer)),
                media_type = media_type,
                estargz = False,
                sources = sources,
            )
            for layer, media_type in enumerate(entry["layers"])
        ]
        manifests.append(ImageManifestInfo(
            descriptor = out.project("manifests/{}/descriptor.json".format(index)),
            manifest = _blob(out, entry["manifest"]),
            config = _blob(out, entry["config"]),
            digest = ctx.actions.write("{}_digest_{}".format(ctx.label.name, index), entry["manifest"]),
            architecture = architecture,
            os = os,
            variant = variant,
            layers = layers,
        ))
    if len(manifests) == 1 and attrs.manifests[0]["manifest"] == attrs.digest:
        return [DefaultInfo(default_outputs = [out]), manifests[0], pull]
    index = ImageIndexInfo(
        descriptor = out.project("root.descriptor.json"),
        index = _blob(out, attrs.digest),
        digest = ctx.actions.write(ctx.label.name + "_digest", attrs.digest),
        manifests = manifests,
    )
    return [DefaultInfo(default_outputs = [out]), index, pull]

def file_path(file: Artifact | None) -> Artifact | None:
    """The file itself: `write_json` renders artifacts as paths."""
    return file

def strip_slash_keys(paths: dict[str, str]) -> dict[str, str]:
    """A dict whose keys are image paths, with leading slashes removed."""
    return {key.lstrip("/"): value for key, value in paths.items()}

def created_by(ctx: AnalysisContext) -> str:
    """The `created_by` history text of what this target builds: `rules_img //pkg:name`."""
    label = ctx.label
    return "rules_img //{}:{}".format(label.package, label.name)

_EXTENSIONS = {"gzip": ".tgz", "none": ".tar", "zstd": ".tar.zst"}
_MEDIA_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "none": "application/vnd.oci.image.layer.v1.tar",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}

def layer_extension(compress: str) -> str:
    """The file extension of a layer blob."""
    return _EXTENSIONS[compress]

def tar_compress(value: str, optimize: bool, setting: str) -> str:
    """layer_from_tar's compression: "auto" keeps the input's, unless the tar is rewritten."""
    if value != "auto":
        return value
    return setting if optimize else "keep"

def _guess_compression(file: Artifact) -> str:
    # Only names the output and fills the provider; the tool sniffs the real compression.
    name = file.basename
    if name.endswith(".gz") or name.endswith(".tgz"):
        return "gzip"
    if name.endswith(".zst") or name.endswith(".tzst"):
        return "zstd"
    return "none"

def tar_layer_extension(compress: str, src: Artifact) -> str:
    """The file extension of a layer made from a tar."""
    return _EXTENSIONS[_guess_compression(src) if compress == "keep" else compress]

def layer_media_type(compress: str, media_type: str) -> str:
    """The media type of a layer blob (the metadata file has the authoritative value)."""
    if media_type:
        return media_type
    return _MEDIA_TYPES.get(compress, _MEDIA_TYPES["none"])

def compression_jobs(value: str) -> int:
    """The `compression_jobs` setting as a number; 0 means one job per CPU."""
    if value in ("auto", "nproc"):
        return 0
    if not value.isdigit():
        fail("[rules_img] compression_jobs = {} is not auto, nproc or a number.".format(value))
    return int(value)

_BEST = {"gzip": 9, "zstd": 19}
_RANGES = {"gzip": (0, 9), "zstd": (1, 22)}

def compression_level(value: str, compress: str) -> int | None:
    """The `compression_level` setting as a number for this compression, or None for its default."""
    if value in ("auto", "-1") or compress not in _RANGES:
        return None
    if value == "fastest":
        return 1
    if value == "best":
        return _BEST[compress]
    low, high = _RANGES[compress]
    level = int(value)
    if level < low or level > high:
        fail("[rules_img] compression_level = {} is out of range for {} ({}-{}).".format(value, compress, low, high))
    return level

def _src_line(path: str, file: Artifact):
    # A source artifact's short path is relative to its package, like Bazel's package-relative path.
    origin = "s" if file.is_source else "g"
    return cmd_args(path, "\0", file.short_path, "\0", origin, file, delimiter = "")

def _runfiles_list(ctx: AnalysisContext, index: int, info: DefaultInfo) -> (Artifact, list):
    files = [output for output in info.other_outputs if isinstance(output, Artifact)]
    lines = [cmd_args("s", file.short_path, "\0", file, delimiter = "") for file in files]
    output = ctx.actions.write("{}.executable_{}.runfiles".format(ctx.label.name, index), lines)
    return output, files

def layer_srcs(ctx: AnalysisContext) -> struct:
    """The sources of an image_layer: a param file of files, the executables, and all inputs."""
    if not ctx.attrs.srcs:
        return struct(list = None, executables = [], inputs = [])
    lines = []
    executables = []
    inputs = []
    for key, value in ctx.attrs.srcs.items():
        path = key.lstrip("/")
        if isinstance(value, Dependency):
            info = value[DefaultInfo]
            if RunInfo in value and len(info.default_outputs) == 1:
                executable = info.default_outputs[0]
                runfiles = None
                if ctx.attrs.include_runfiles:
                    runfiles, runfile_inputs = _runfiles_list(ctx, len(executables), info)
                    inputs.extend(runfile_inputs)
                executables.append({
                    "file": executable,
                    "path": path,
                    "repo_mapping": None,
                    "runfiles": runfiles,
                    "workspace_name": ctx.label.cell,
                })
                inputs.append(executable)
                continue
            files = info.default_outputs
        else:
            files = [value]
        for file in files:
            lines.append(_src_line(path, file))
            inputs.append(file)
    srcs_list = ctx.actions.write(ctx.label.name + ".srcs", lines)
    return struct(list = srcs_list, executables = executables, inputs = inputs)

def concat(first_list: list, second_list: list) -> list:
    """Two lists, one after the other."""
    return first_list + second_list

def first(items: list) -> typing.Any:
    """The first item of a list."""
    return items[0]

def target_platform(ctx: AnalysisContext) -> struct:
    """The os, architecture and variant of the platform the target is built for."""
    if not ctx.attrs._os or not ctx.attrs._architecture:
        fail("the platform {} is configured for has no config//os or config//cpu constraint rules_img knows \
(os {}, cpu {}); build it for such a platform, e.g. with `platform = \"//my:platform\"`.".format(
            ctx.label.raw_target(),
            repr(ctx.attrs._os),
            repr(ctx.attrs._architecture),
        ))
    return struct(os = ctx.attrs._os, architecture = ctx.attrs._architecture, variant = ctx.attrs._variant)

def _same_platform(image: typing.Any, platform: typing.Any) -> bool:
    if image.os != platform.os or image.architecture != platform.architecture:
        return False
    return image.variant == platform.variant or not image.variant or not platform.variant

def _platform_name(platform: typing.Any) -> str:
    return "/".join([part for part in [platform.os, platform.architecture, platform.variant] if part])

def _base_name(pull: typing.Any) -> str:
    registry = pull.registries[0] if pull.registries else "docker.io"
    return registry + "/" + pull.repository + (":" + pull.tag if pull.tag else "")

def base_image(ctx: AnalysisContext, platform: struct) -> struct:
    """The base image of an image_manifest, for the platform the image is built for."""
    base = ctx.attrs.base
    if not base:
        return struct(request = None, inputs = [], layers = [], providers = [])
    if ImageManifestInfo in base:
        info = base[ImageManifestInfo]
        if not _same_platform(info, platform):
            fail("the base {} is {} but {} is built for {}; pick a base of that platform or an index.".format(
                base.label.raw_target(),
                _platform_name(info),
                ctx.label.raw_target(),
                _platform_name(platform),
            ))
    elif ImageIndexInfo in base:
        children = base[ImageIndexInfo].manifests
        matching = [child for child in children if _same_platform(child, platform)]
        if not matching:
            fail("the base index {} has no manifest for {} (it has: {}).".format(
                base.label.raw_target(),
                _platform_name(platform),
                ", ".join([_platform_name(child) for child in children]),
            ))
        info = matching[0]
    else:
        fail("the base {} is not an image: it provides neither ImageManifestInfo nor ImageIndexInfo.".format(base.label.raw_target()))
    pull = base.get(PullInfo)
    return struct(
        request = {
            "config": info.config,
            "descriptor": info.descriptor,
            "manifest": info.manifest,
            "name": _base_name(pull) if pull else None,
        },
        inputs = [info.manifest, info.config, info.descriptor],
        layers = info.layers,
        providers = [pull] if pull else [],
    )

def image_layers(ctx: AnalysisContext) -> list:
    """The layers of an image_manifest's `layers`, bottom to top."""
    layers = []
    for target in ctx.attrs.layers:
        if LayersInfo not in target:
            fail("{} is not a layer: `layers` takes targets that provide LayersInfo (image_layer, \
layer_from_tar); wrap a tar file in layer_from_tar.".format(target.label.raw_target()))
        layers.extend(target[LayersInfo].layers)
    return layers

def metadata_paths(layers: list) -> list:
    """The layers' metadata files (`write_json` renders them as paths)."""
    return [layer.metadata for layer in layers]

def metadata_files(layers: list) -> list:
    """The layers' metadata files (never their blobs)."""
    return [layer.metadata for layer in layers]

def subject_descriptor(ctx: AnalysisContext) -> Artifact | None:
    """The descriptor file of the `subject` attribute's image, or None."""
    subject = ctx.attrs.subject
    if not subject:
        return None
    if ImageManifestInfo in subject:
        return subject[ImageManifestInfo].descriptor
    return subject[ImageIndexInfo].descriptor

def image_parts(manifest: Artifact, config: Artifact, layers: list) -> struct:
    """The files of one image: manifest, config and layers (SingleLayerInfo)."""
    return struct(manifest = manifest, config = config, layers = layers)

def manifests_parts(manifests: list) -> list:
    """The files of each ImageManifestInfo."""
    return [image_parts(info.manifest, info.config, info.layers) for info in manifests]

def images_files(images: list) -> struct:
    """ImageFiles request entries for images, and every file they name, blobs included."""
    request = []
    files = []
    for image in images:
        layers = []
        for layer in image.layers:
            layers.append({"blob": layer.blob, "metadata": layer.metadata})
            files.append(layer.metadata)
            if layer.blob:
                files.append(layer.blob)
        request.append({"config": image.config, "layers": layers, "manifest": image.manifest})
        files.extend([image.manifest, image.config])
    return struct(request = request, inputs = files)

_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789._-/"

def default_repo_tag(ctx: AnalysisContext) -> str:
    """The name a `docker load` tarball gives the image: `<package>/<name>:latest`, lowercased."""
    name = (ctx.label.package + "/" + ctx.label.name) if ctx.label.package else ctx.label.name
    return "".join([c if c in _NAME_CHARS else "_" for c in name.lower().elems()]) + ":latest"

def _index_targets(ctx: AnalysisContext) -> list:
    return ctx.attrs._configured_manifests or ctx.attrs.manifests

def index_manifests(ctx: AnalysisContext) -> list:
    """The ImageManifestInfo of an image_index's manifests: per platform when `platforms` is set."""
    return [target[ImageManifestInfo] for target in _index_targets(ctx)]

def index_pull_providers(ctx: AnalysisContext) -> list:
    """[PullInfo] of the first manifest that has one, else []."""
    for target in _index_targets(ctx):
        if PullInfo in target:
            return [target[PullInfo]]
    return []

def descriptor_paths(manifests: list) -> list:
    """The manifests' descriptor files (`write_json` renders them as paths)."""
    return [info.descriptor for info in manifests]

def descriptor_files(manifests: list) -> list:
    """The manifests' descriptor files."""
    return [info.descriptor for info in manifests]

def _platform_alias_impl(ctx: AnalysisContext) -> list[Provider]:
    return ctx.attrs.actual.providers

platform_alias = rule(
    impl = _platform_alias_impl,
    doc = "The providers of `actual`, configured for a platform: how `platform = ...` works on Buck2.",
    attrs = {"actual": attrs.configured_dep(doc = "(target, platform) to build the target for.")},
)

def _category(mnemonic: str) -> str:
    # `ImageLayer` -> `image_layer`: Buck2 categories are snake_case.
    out = ""
    for index, char in enumerate(mnemonic.elems()):
        if char.isupper() and index > 0:
            out += "_"
        out += char.lower()
    return out

def run_img(
        ctx: AnalysisContext,
        action: str,
        mnemonic: str,
        request: dict[str, typing.Any],
        inputs: list,
        input_sets: list,
        outputs: dict[str, Artifact]):
    """Runs `img <action> --request <file> --output <name>=<path>...`."""
    key = outputs.values()[0].basename
    request_file = ctx.actions.write_json(key + ".request.json", request, with_inputs = True)
    hidden = [file for file in inputs if file != None]
    for input_set in input_sets:
        hidden.extend(input_set)
    command = cmd_args(
        ctx.attrs._img_toolchain[ImageToolchainInfo].tool_exe,
        action,
        "--request",
        request_file,
        hidden = hidden,
    )
    for name, output in outputs.items():
        command.add("--output", cmd_args(output.as_output(), format = name + "={}"))
    ctx.actions.run(command, category = _category(mnemonic), identifier = key)

def image_toolchain_impl(ctx: AnalysisContext) -> list[Provider]:
    """The toolchain: the img executable."""
    return [DefaultInfo(), ImageToolchainInfo(tool_exe = ctx.attrs.tool_exe)]

def setting(name: str, default: str, values: list[str]) -> str:
    """A global setting: `[rules_img] <name>` of the root .buckconfig, checked at load time."""
    value = read_root_config("rules_img", name, default)
    if values and value not in values:
        fail("[rules_img] {} = {} in .buckconfig is not allowed; use one of: {}.".format(name, value, ", ".join(values)))
    return value

def file_metadata_json(values: dict[str, typing.Any]) -> str:
    """JSON of a `FileMetadata`, from the parameters that are set."""
    return json.encode({key: value for key, value in values.items() if value != None})
