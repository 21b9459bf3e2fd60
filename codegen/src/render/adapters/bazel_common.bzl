"""The Bazel adapter library: what every generated rule implementation calls.

This is the one place where rules_img's Bazel Starlark is written by hand; its Buck2 twin is
buck2_common.bzl. Keep the two in step: same function names, same arguments, same results.
"""

load("//img/private:providers.bzl", "DeployInfo", "ImageIndexInfo", "ImageManifestInfo", "ImageToolchainInfo", "ImgPlatformInfo", "ImgSettingInfo", "LayersInfo", "PullInfo", "SingleLayerInfo")

TOOLCHAIN_TYPE = Label("//img:toolchain_type")

def fail_not_yet(ctx, rule_name, capability):
    """Fails analysis of a rule whose action does not exist yet.

    Args:
      ctx: The rule context, or the repository_ctx of a repository rule.
      rule_name: The rule's name.
      capability: What is missing.
    """
    target = str(getattr(ctx, "label", None) or ctx.name)
    fail("{}: {} is declared but not available yet in this rules_img: it needs {}. See docs/reference/{}.md.".format(
        target,
        rule_name,
        capability,
        rule_name,
    ))

def setting_value(setting):
    """The value of a global setting (a target of //img/settings)."""
    return setting[ImgSettingInfo].value

def resolve_auto(value, setting):
    """An attribute value, or the global setting's value when the attribute is "auto"."""
    if value == "auto":
        return setting_value(setting)
    return value

def require_supported(attr_name, value, supported):
    """Fails when an attribute has a value rules_img accepts for compatibility but does not implement."""
    if value not in supported:
        fail("{} = {} is not supported by this rules_img (supported: {}).".format(
            attr_name,
            repr(value),
            ", ".join(supported),
        ))

def require_supported_auto(attr_name, value, setting_name, setting, supported):
    """Like `require_supported`, for an attribute whose "auto" means a global setting's value."""
    require_supported(attr_name, value, ["auto"] + supported)
    if value == "auto" and setting not in supported:
        fail("{} = \"auto\" takes the {} setting, which is {}: not supported by this rules_img (supported: {}).".format(
            attr_name,
            setting_name,
            repr(setting),
            ", ".join(supported),
        ))

def require_unset(attr_name, value):
    """Fails when an attribute rules_img accepts for compatibility, but does not implement yet, is set."""
    if value:
        fail("{} is not supported by this rules_img yet; leave it unset.".format(attr_name))

def require_no_templates(values, more_values):
    """Fails on `{{...}}` templates: stamping and template expansion are not implemented yet."""
    for value in values + more_values:
        if "{{" in value:
            fail("{} is a template; template expansion is not supported by this rules_img yet.".format(repr(value)))

def tags(tag, tag_list):
    """`tag` and `tag_list`, deduplicated and sorted."""
    return sorted({name: None for name in ([tag] if tag else []) + tag_list}.keys())

def load_names(registry, repository, tag, tag_list):
    """The names `image_load` gives the image: `[registry/]repository:tag` per tag (`latest` without tags).

    Without `repository`, the tags are full references (the rules_oci style).

    Args:
      registry: The registry part of the name, or empty.
      repository: The repository part of the name, or empty.
      tag: A tag, or empty.
      tag_list: More tags.

    Returns:
      A list of full references.
    """
    all_tags = tags(tag, tag_list)
    if not repository:
        return all_tags
    base = registry + "/" + repository if registry else repository
    return [base + ":" + name for name in (all_tags or ["latest"])]

def _rlocation(ctx, file):
    path = file.short_path
    if path.startswith("../"):
        return path[3:]
    return ctx.workspace_name + "/" + path

def deploy_image(ctx, target):
    """The image an image_push / image_load deploys, as request entries and the files they need.

    Paths are relative to the runfiles root, where the launcher runs `img`.

    Args:
      ctx: The rule context.
      target: The `image` attribute's target.

    Returns:
      struct(info, root, root_kind, manifests (DeployManifest entries), files (depset)).
    """
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
                "blob": _rlocation(ctx, layer.blob) if layer.blob else None,
                "metadata": _rlocation(ctx, layer.metadata),
                "sources": [{"registry": s.registry, "repository": s.repository} for s in layer.sources],
            })
            files.append(layer.metadata)
            if layer.blob:
                files.append(layer.blob)
        entries.append({
            "config": _rlocation(ctx, manifest.config),
            "layers": layers,
            "manifest": _rlocation(ctx, manifest.manifest),
        })
        files.extend([manifest.manifest, manifest.config])
    return struct(
        info = info,
        root = _rlocation(ctx, root),
        root_kind = root_kind,
        manifests = entries,
        files = depset(files),
    )

def write_document(ctx, suffix, document):
    """Writes a document of the contract as JSON to `<name><suffix>`; returns the file."""
    output = ctx.actions.declare_file(ctx.label.name + suffix)
    ctx.actions.write(output, json.encode(document))
    return output

_LAUNCHER = """#!/bin/sh
# Written by rules_img: runs img from this target's runfiles.
set -eu
if [ -z "${{RUNFILES_DIR:-}}" ]; then
    RUNFILES_DIR="$0.runfiles"
fi
exec "$RUNFILES_DIR/{tool}" {command} --root "$RUNFILES_DIR" "$@"
"""

def _launcher(ctx, command, runfiles):
    tool = ctx.toolchains[TOOLCHAIN_TYPE].imgtoolchaininfo.tool_exe
    launcher = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(launcher, _LAUNCHER.format(tool = _rlocation(ctx, tool), command = command), is_executable = True)
    return struct(executable = launcher, runfiles = runfiles.merge(ctx.runfiles(files = [tool])))

def deploy_launcher(ctx, command, request, files):
    """The executable of an image_push / image_load: `img <command> --request <request>`.

    Args:
      ctx: The rule context.
      command: `push` or `load`.
      request: The request file.
      files: What the request names (a depset).

    Returns:
      struct(executable, runfiles).
    """
    command_line = '{} --request "$RUNFILES_DIR/{}"'.format(command, _rlocation(ctx, request))
    return _launcher(ctx, command_line, ctx.runfiles(files = [request], transitive_files = files))

def multi_deploy_launcher(ctx):
    """The executable of a multi_deploy: `img deploy --push <request> --load <request>...`.

    Args:
      ctx: The rule context of a multi_deploy.

    Returns:
      struct(executable, runfiles).
    """
    requests = []
    runfiles = ctx.runfiles()
    for operation in ctx.attr.operations:
        info = operation[DeployInfo]
        if info.command not in ctx.attr.deploy_operations:
            continue
        requests.append('--{} "$RUNFILES_DIR/{}"'.format(info.command, _rlocation(ctx, info.deploy_manifest)))
        runfiles = runfiles.merge(operation[DefaultInfo].default_runfiles)
    return _launcher(ctx, "deploy " + " ".join(requests), runfiles)

def require_estargz_gzip(estargz, compress):
    """eStargz is a gzip format: fails on eStargz with another compression."""
    if estargz and compress not in ("gzip", "keep"):
        fail("estargz needs gzip compression, not {}; set compress = \"gzip\" or estargz = \"disabled\".".format(compress))

def merge_outputs(outputs, *more):
    """One dict of an action's outputs, from the named ones and the numbered ones adapters declare.

    Args:
      outputs: The named outputs.
      *more: Dicts of numbered outputs.

    Returns:
      All outputs by name.
    """
    merged = dict(outputs)
    for extra in more:
        merged.update(extra)
    return merged

_MEDIA_TYPE_EXTENSIONS = {"gzip": ".tgz", "zstd": ".tar.zst"}

def layout_layers(ctx, media_types, prefix):
    """Declares a blob and a metadata file per layer of an image imported from an OCI layout.

    Args:
      ctx: The rule context.
      media_types: The layers' media types, in order.
      prefix: Added to the file names, so several images of one target do not collide.

    Returns:
      struct(outputs = numbered outputs for `manifest-from-oci-layout`, layers = SingleLayerInfo list).
    """
    outputs = {}
    layers = []
    for index, media_type in enumerate(media_types):
        extension = _MEDIA_TYPE_EXTENSIONS.get(media_type.rpartition("+")[2], ".tar")
        blob = ctx.actions.declare_file("{}{}_layer_{}{}".format(ctx.label.name, prefix, index, extension))
        metadata = ctx.actions.declare_file("{}{}_layer_{}_metadata.json".format(ctx.label.name, prefix, index))
        outputs["layer_blob.{}".format(index)] = blob
        outputs["layer_metadata.{}".format(index)] = metadata
        layers.append(SingleLayerInfo(blob = blob, metadata = metadata, media_type = media_type, estargz = False, sources = []))
    return struct(outputs = outputs, layers = layers)

def convert_layout_manifests(ctx):
    """Imports each platform of an image_index_from_oci_layout, one `manifest-from-oci-layout` each.

    The request is written here rather than by the spec because the number of actions is the
    number of platforms; its fields are those of `ManifestFromOciLayoutRequest`.

    Args:
      ctx: The rule context of an image_index_from_oci_layout.

    Returns:
      A list of ImageManifestInfo, in the order of `manifests`.
    """
    manifests = []
    for index, platform in enumerate(ctx.attr.manifests):
        parts = platform.split("/")
        if len(parts) not in (2, 3):
            fail("manifests: {} is not os/architecture or os/architecture/variant.".format(repr(platform)))
        variant = parts[2] if len(parts) == 3 else ""
        prefix = "_{}".format(index)
        layers = layout_layers(ctx, ctx.attr.layers, prefix)
        files = {
            name: ctx.actions.declare_file("{}{}_{}".format(ctx.label.name, prefix, suffix))
            for name, suffix in [("manifest", "manifest.json"), ("config", "config.json"), ("descriptor", "descriptor.json"), ("digest", "digest")]
        }
        run_img(
            ctx,
            action = "manifest-from-oci-layout",
            mnemonic = "ManifestFromOciLayout",
            request = {
                "architecture": parts[1],
                "layer_media_types": ctx.attr.layers,
                "os": parts[0],
                "src": ctx.file.src.path,
                "variant": variant,
            },
            inputs = [ctx.file.src],
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

def _pulled_manifest_impl(ctx):
    sources = [struct(registry = registry, repository = ctx.attr.repository) for registry in ctx.attr.registries]
    layers = [
        SingleLayerInfo(blob = None, metadata = metadata, media_type = media_type, estargz = False, sources = sources)
        for metadata, media_type in zip(ctx.files.layers, ctx.attr.layer_media_types)
    ]
    return [
        DefaultInfo(files = depset([ctx.file.manifest, ctx.file.config])),
        ImageManifestInfo(
            descriptor = ctx.file.descriptor,
            manifest = ctx.file.manifest,
            config = ctx.file.config,
            digest = ctx.file.digest,
            architecture = ctx.attr.architecture,
            os = ctx.attr.os,
            variant = ctx.attr.variant,
            layers = layers,
        ),
        PullInfo(registries = ctx.attr.registries, repository = ctx.attr.repository, tag = ctx.attr.tag, digest = ctx.attr.image_digest),
    ]

_PULLED_ATTRS = {
    "image_digest": attr.string(doc = "The digest the image was pulled by."),
    "registries": attr.string_list(doc = "Where the image came from (the one that served it first)."),
    "repository": attr.string(doc = "Its repository."),
    "tag": attr.string(doc = "The tag, or empty."),
}

pulled_manifest = rule(
    implementation = _pulled_manifest_impl,
    doc = "A single-platform image `pull` fetched: its manifest and config, its layers as metadata only.",
    attrs = dict(_PULLED_ATTRS, **{
        "architecture": attr.string(doc = "OCI architecture."),
        "config": attr.label(allow_single_file = True, doc = "The config JSON."),
        "descriptor": attr.label(allow_single_file = True, doc = "The descriptor JSON."),
        "digest": attr.label(allow_single_file = True, doc = "The manifest digest file."),
        "layer_media_types": attr.string_list(doc = "The layers' media types."),
        "layers": attr.label_list(allow_files = True, doc = "The layers' metadata JSON files."),
        "manifest": attr.label(allow_single_file = True, doc = "The manifest JSON."),
        "os": attr.string(doc = "OCI os."),
        "variant": attr.string(doc = "OCI variant."),
    }),
)

def _pulled_index_impl(ctx):
    return [
        DefaultInfo(files = depset([ctx.file.index])),
        ImageIndexInfo(
            descriptor = ctx.file.descriptor,
            index = ctx.file.index,
            digest = ctx.file.digest,
            manifests = [target[ImageManifestInfo] for target in ctx.attr.manifests],
        ),
        PullInfo(registries = ctx.attr.registries, repository = ctx.attr.repository, tag = ctx.attr.tag, digest = ctx.attr.image_digest),
    ]

pulled_index = rule(
    implementation = _pulled_index_impl,
    doc = "A multi-platform image `pull` fetched.",
    attrs = dict(_PULLED_ATTRS, **{
        "descriptor": attr.label(allow_single_file = True, doc = "The descriptor JSON."),
        "digest": attr.label(allow_single_file = True, doc = "The index digest file."),
        "index": attr.label(allow_single_file = True, doc = "The index JSON."),
        "manifests": attr.label_list(providers = [ImageManifestInfo], doc = "Its children."),
    }),
)

def _write_digest(rctx, name, descriptor_path):
    digest = json.decode(rctx.read(descriptor_path))["digest"]
    rctx.file(name, digest)
    return digest

def pull_impl(rctx):
    """Fetches a base image's manifests and configs (never its layer blobs) with `img pull`.

    Args:
      rctx: The repository context.
    """
    attr = rctx.attr
    if not attr.digest and not attr.unsafe_allow_tag_without_digest:
        fail("pull {}: set `digest` to pin the image (or unsafe_allow_tag_without_digest = True).".format(rctx.name))
    require_supported("layer_handling", attr.layer_handling, ["shallow"])
    require_supported("downloader", attr.downloader, ["img_tool"])
    tool = rctx.path(attr.tool) if attr.tool else rctx.which("img")
    if not tool:
        fail("pull {}: img is needed to fetch; set `tool = \"//tools:bin/img\"` or put img on PATH.".format(rctx.name))

    # Mirrors first, then the registry (Docker Hub without one).
    registries = attr.registries + [attr.registry or "index.docker.io"]
    args = [tool, "pull", "--repository", attr.repository, "--output", "."]
    for registry in registries:
        args.extend(["--registry", registry])
    if attr.digest:
        args.extend(["--digest", attr.digest])
    if attr.tag:
        args.extend(["--tag", attr.tag])
    if not attr.digest:
        args.append("--allow-tag-without-digest")
    if attr.docker_config_path:
        args.extend(["--docker-config-path", attr.docker_config_path])
    if attr.credential_helper:
        args.extend(["--credential-helper", attr.credential_helper])
    result = rctx.execute(args, timeout = 600, quiet = False)
    if result.return_code != 0:
        fail("pull {}: `img pull` failed:\n{}".format(rctx.name, result.stderr))
    pulled = json.decode(rctx.read("pull.json"))

    common = str(Label("//img/private:common.bzl"))
    lines = ["load(\"{}\", \"pulled_index\", \"pulled_manifest\")".format(common), ""]
    lines.append("package(default_visibility = [\"//visibility:public\"])")
    identity = "registries = {}, repository = {}, tag = {}, image_digest = {}".format(
        repr(registries),
        repr(pulled["repository"]),
        repr(pulled["tag"]),
        repr(pulled["digest"]),
    )
    names = []
    for index, manifest in enumerate(pulled["manifests"]):
        name = "image" if pulled["root_kind"] == "manifest" else "manifest_{}".format(index)
        digest_file = "digest_{}".format(index)
        _write_digest(rctx, digest_file, manifest["descriptor"])
        media_types = [json.decode(rctx.read(layer))["mediaType"] for layer in manifest["layers"]]
        lines.append("""
pulled_manifest(
    name = {name},
    manifest = {manifest},
    config = {config},
    descriptor = {descriptor},
    digest = {digest},
    layers = {layers},
    layer_media_types = {media_types},
    os = {os},
    architecture = {architecture},
    variant = {variant},
    {identity},
)""".format(
            name = repr(name),
            manifest = repr(manifest["manifest"]),
            config = repr(manifest["config"]),
            descriptor = repr(manifest["descriptor"]),
            digest = repr(digest_file),
            layers = repr(manifest["layers"]),
            media_types = repr(media_types),
            os = repr(manifest["os"]),
            architecture = repr(manifest["architecture"]),
            variant = repr(manifest["variant"]),
            identity = identity,
        ))
        names.append(":" + name)
    if pulled["root_kind"] == "index":
        _write_digest(rctx, "digest", pulled["root_descriptor"])
        lines.append("""
pulled_index(
    name = "image",
    index = {index},
    descriptor = {descriptor},
    digest = "digest",
    manifests = {manifests},
    {identity},
)""".format(
            index = repr(pulled["root"]),
            descriptor = repr(pulled["root_descriptor"]),
            manifests = repr(names),
            identity = identity,
        ))
    lines.append("""
alias(
    name = {name},
    actual = ":image",
)""".format(name = repr(rctx.name.split("~")[-1].split("+")[-1])))
    rctx.file("BUILD.bazel", "\n".join(lines) + "\n")
    rctx.file("WORKSPACE", "workspace(name = {})\n".format(repr(rctx.name)))

def file_path(file):
    """The path of a file, or None."""
    return file.path if file else None

def strip_slash_keys(paths):
    """A dict whose keys are image paths, with leading slashes removed."""
    return {key.lstrip("/"): value for key, value in paths.items()}

def created_by(ctx):
    """The `created_by` history text of what this target builds.

    Args:
      ctx: The rule context.

    Returns:
      `rules_img //pkg:name`: the same text on Bazel and Buck2, so images are identical on both.
    """
    label = str(ctx.label)
    if label.startswith("@@//"):
        label = label[2:]
    elif label.startswith("@//"):
        label = label[1:]
    return "rules_img " + label

_EXTENSIONS = {"gzip": ".tgz", "none": ".tar", "zstd": ".tar.zst"}
_MEDIA_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "none": "application/vnd.oci.image.layer.v1.tar",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}

def layer_extension(compress):
    """The file extension of a layer blob."""
    return _EXTENSIONS[compress]

def tar_compress(value, optimize, setting):
    """layer_from_tar's compression: "auto" keeps the input's, unless the tar is rewritten."""
    if value != "auto":
        return value
    return setting_value(setting) if optimize else "keep"

def _guess_compression(file):
    # Only names the output and fills the provider; the tool sniffs the real compression.
    name = file.basename
    if name.endswith(".gz") or name.endswith(".tgz"):
        return "gzip"
    if name.endswith(".zst") or name.endswith(".tzst"):
        return "zstd"
    return "none"

def tar_layer_extension(compress, src):
    """The file extension of a layer made from a tar."""
    return _EXTENSIONS[_guess_compression(src) if compress == "keep" else compress]

def layer_media_type(compress, media_type):
    """The media type of a layer blob (the metadata file has the authoritative value)."""
    if media_type:
        return media_type
    return _MEDIA_TYPES.get(compress, _MEDIA_TYPES["none"])

def compression_jobs(value):
    """The `compression_jobs` setting as a number.

    Args:
      value: The setting's value: `auto`, `nproc` or a number.

    Returns:
      The number of jobs; 0 means one per CPU.
    """
    if value in ("auto", "nproc"):
        return 0
    if not value.isdigit():
        fail("--@rules_img//img/settings:compression_jobs={} is not auto, nproc or a number.".format(value))
    return int(value)

_BEST = {"gzip": 9, "zstd": 19}
_RANGES = {"gzip": (0, 9), "zstd": (1, 22)}

def compression_level(value, compress):
    """The `compression_level` setting as a number for this compression.

    Args:
      value: The setting's value: `auto`, `fastest`, `best` or a number.
      compress: The compression: `gzip`, `zstd`, `none` or `keep`.

    Returns:
      The level, or None for the algorithm's default.
    """
    if value in ("auto", "-1") or compress not in _RANGES:
        return None
    if value == "fastest":
        return 1
    if value == "best":
        return _BEST[compress]
    low, high = _RANGES[compress]
    level = int(value)
    if level < low or level > high:
        fail("--@rules_img//img/settings:compression_level={} is out of range for {} ({}-{}).".format(
            value,
            compress,
            low,
            high,
        ))
    return level

def _package_relative(file):
    path = file.short_path
    if path.startswith("../"):
        path = path[3:].partition("/")[2]
    package = file.owner.package if file.owner else ""
    if package and path.startswith(package + "/"):
        path = path[len(package) + 1:]
    return path

def _src_line(file):
    # The image path comes first, prepended by `format_each`. `s`/`g`: a source or generated file.
    return _package_relative(file) + "\0" + ("s" if file.is_source else "g") + file.path

def _runfile_line(file):
    return "s" + file.short_path + "\0" + file.path

def _symlink_line(entry):
    return "w" + entry.path + "\0" + entry.target_file.path

def _root_symlink_line(entry):
    return "r" + entry.path + "\0" + entry.target_file.path

def _runfiles_list(ctx, index, info):
    runfiles = info.default_runfiles
    lines = ctx.actions.args()
    lines.set_param_file_format("multiline")
    lines.add_all(runfiles.files, map_each = _runfile_line, expand_directories = False)
    lines.add_all(runfiles.symlinks, map_each = _symlink_line)
    lines.add_all(runfiles.root_symlinks, map_each = _root_symlink_line)
    lines.add_all(runfiles.empty_filenames, format_each = "e%s\0")
    output = ctx.actions.declare_file("{}.executable_{}.runfiles".format(ctx.label.name, index))
    ctx.actions.write(output, lines)
    return output, runfiles.files

def layer_srcs(ctx):
    """The sources of an image_layer.

    Nothing is flattened: file lists reach the action through Args, expanded at execution time.

    Args:
      ctx: The rule context of an image_layer.

    Returns:
      struct(list = the srcs param file or None, executables = request entries, inputs = depset).
    """
    if not ctx.attr.srcs:
        return struct(list = None, executables = [], inputs = depset())
    lines = ctx.actions.args()
    lines.set_param_file_format("multiline")
    executables = []
    inputs = []
    for key, target in ctx.attr.srcs.items():
        path = key.lstrip("/")
        info = target[DefaultInfo]
        executable = info.files_to_run.executable

        # A source file's target names the file itself as its executable: place it as a file.
        if executable and not executable.is_source:
            runfiles = None
            if ctx.attr.include_runfiles:
                runfiles, runfile_inputs = _runfiles_list(ctx, len(executables), info)
                inputs.append(depset([runfiles], transitive = [runfile_inputs]))
            repo_mapping = info.files_to_run.repo_mapping_manifest
            executables.append({
                "file": executable.path,
                "path": path,
                "repo_mapping": file_path(repo_mapping),
                "runfiles": file_path(runfiles),
                "workspace_name": ctx.workspace_name,
            })
            inputs.append(depset([f for f in [executable, repo_mapping] if f]))
        else:
            lines.add_all(
                info.files,
                map_each = _src_line,
                format_each = path.replace("%", "%%") + "\0%s",
                expand_directories = False,
            )
            inputs.append(info.files)
    srcs_list = ctx.actions.declare_file(ctx.label.name + ".srcs")
    ctx.actions.write(srcs_list, lines)
    return struct(list = srcs_list, executables = executables, inputs = depset(transitive = inputs))

def concat(first_list, second_list):
    """Two lists, one after the other."""
    return first_list + second_list

def first(items):
    """The first item of a list."""
    return items[0]

def target_platform(ctx):
    """The os, architecture and variant of the platform the target is built for.

    Args:
      ctx: The rule context of a rule with a `_target_platform` attribute.

    Returns:
      ImgPlatformInfo(os, architecture, variant).
    """
    info = ctx.attr._target_platform[ImgPlatformInfo]
    if not info.os or not info.architecture:
        fail("the platform {} is built for has no @platforms//os or @platforms//cpu constraint rules_img knows \
(os {}, cpu {}); build it for such a platform, e.g. with `platform = \"//my:platform\"`.".format(
            ctx.label,
            repr(info.os),
            repr(info.architecture),
        ))
    return info

def _same_platform(image, platform):
    if image.os != platform.os or image.architecture != platform.architecture:
        return False
    return image.variant == platform.variant or not image.variant or not platform.variant

def _platform_name(platform):
    return "/".join([part for part in [platform.os, platform.architecture, platform.variant] if part])

def _base_name(pull):
    registry = pull.registries[0] if pull.registries else "docker.io"
    return registry + "/" + pull.repository + (":" + pull.tag if pull.tag else "")

def base_image(ctx, platform):
    """The base image of an image_manifest, for the platform the image is built for.

    An index base gives the manifest of the matching platform; a base of another platform is an error.

    Args:
      ctx: The rule context of an image_manifest.
      platform: The target platform (see target_platform).

    Returns:
      struct(request = BaseImage request entry or None, inputs = depset, layers = list of SingleLayerInfo,
      providers = [PullInfo] when the base was pulled).
    """
    base = ctx.attr.base
    if not base:
        return struct(request = None, inputs = depset(), layers = [], providers = [])
    if ImageManifestInfo in base:
        info = base[ImageManifestInfo]
        if not _same_platform(info, platform):
            fail("the base {} is {} but {} is built for {}; pick a base of that platform or an index.".format(
                base.label,
                _platform_name(info),
                ctx.label,
                _platform_name(platform),
            ))
    else:
        children = base[ImageIndexInfo].manifests
        matching = [child for child in children if _same_platform(child, platform)]
        if not matching:
            fail("the base index {} has no manifest for {} (it has: {}).".format(
                base.label,
                _platform_name(platform),
                ", ".join([_platform_name(child) for child in children]),
            ))
        info = matching[0]
    pull = base[PullInfo] if PullInfo in base else None
    return struct(
        request = {
            "config": info.config.path,
            "descriptor": info.descriptor.path,
            "manifest": info.manifest.path,
            "name": _base_name(pull) if pull else None,
        },
        inputs = depset([info.manifest, info.config, info.descriptor]),
        layers = info.layers,
        providers = [pull] if pull else [],
    )

def image_layers(ctx):
    """The layers of an image_manifest's `layers`, bottom to top.

    Args:
      ctx: The rule context of an image_manifest.

    Returns:
      A list of SingleLayerInfo.
    """
    layers = []
    for target in ctx.attr.layers:
        if LayersInfo not in target:
            fail("{} is not a layer: `layers` takes targets that provide LayersInfo (image_layer, \
layer_from_tar); wrap a tar file in layer_from_tar.".format(target.label))
        layers.extend(target[LayersInfo].layers)
    return layers

def metadata_paths(layers):
    """The paths of the layers' metadata files."""
    return [layer.metadata.path for layer in layers]

def metadata_files(layers):
    """The layers' metadata files (never their blobs)."""
    return depset([layer.metadata for layer in layers])

def subject_descriptor(ctx):
    """The descriptor file of the `subject` attribute's image.

    Args:
      ctx: The rule context of an image_manifest or image_index.

    Returns:
      The descriptor File, or None without a subject.
    """
    subject = ctx.attr.subject
    if not subject:
        return None
    if ImageManifestInfo in subject:
        return subject[ImageManifestInfo].descriptor
    return subject[ImageIndexInfo].descriptor

def image_parts(manifest, config, layers):
    """The files of one image: manifest, config and layers (SingleLayerInfo)."""
    return struct(manifest = manifest, config = config, layers = layers)

def manifests_parts(manifests):
    """The files of each ImageManifestInfo."""
    return [image_parts(info.manifest, info.config, info.layers) for info in manifests]

def images_files(images):
    """ImageFiles request entries for images, and every file they name, blobs included.

    Args:
      images: Results of image_parts.

    Returns:
      struct(request = list of ImageFiles entries, inputs = depset).
    """
    request = []
    files = []
    for image in images:
        layers = []
        for layer in image.layers:
            layers.append({"blob": file_path(layer.blob), "metadata": layer.metadata.path})
            files.append(layer.metadata)
            if layer.blob:
                files.append(layer.blob)
        request.append({"config": image.config.path, "layers": layers, "manifest": image.manifest.path})
        files.extend([image.manifest, image.config])
    return struct(request = request, inputs = depset(files))

_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789._-/"

def default_repo_tag(ctx):
    """The name a `docker load` tarball gives the image: `<package>/<name>:latest`, lowercased."""
    name = (ctx.label.package + "/" + ctx.label.name) if ctx.label.package else ctx.label.name
    return "".join([c if c in _NAME_CHARS else "_" for c in name.lower().elems()]) + ":latest"

def _index_targets(ctx):
    if not ctx.attr.platforms:
        return ctx.attr.manifests
    targets = []
    for platform in ctx.attr.platforms:
        targets.extend(ctx.split_attr.manifests[str(platform.label)])
    return targets

def index_manifests(ctx):
    """The ImageManifestInfo of an image_index's manifests: per platform when `platforms` is set."""
    return [target[ImageManifestInfo] for target in _index_targets(ctx)]

def index_pull_providers(ctx):
    """The PullInfo an image_index passes on.

    Args:
      ctx: The rule context of an image_index.

    Returns:
      [PullInfo] of the first manifest that has one, else [].
    """
    for target in _index_targets(ctx):
        if PullInfo in target:
            return [target[PullInfo]]
    return []

def descriptor_paths(manifests):
    """The paths of the manifests' descriptor files."""
    return [info.descriptor.path for info in manifests]

def descriptor_files(manifests):
    """The manifests' descriptor files."""
    return depset([info.descriptor for info in manifests])

_PLATFORMS = "//command_line_option:platforms"

def _platform_transition_impl(settings, attr):
    if attr.platform:
        return {_PLATFORMS: [str(attr.platform)]}
    return {_PLATFORMS: settings[_PLATFORMS]}

platform_transition = transition(
    implementation = _platform_transition_impl,
    inputs = [_PLATFORMS],
    outputs = [_PLATFORMS],
)

def _platforms_split_impl(settings, attr):
    if not attr.platforms:
        return {"": {_PLATFORMS: settings[_PLATFORMS]}}
    return {str(platform): {_PLATFORMS: [str(platform)]} for platform in attr.platforms}

platforms_split_transition = transition(
    implementation = _platforms_split_impl,
    inputs = [_PLATFORMS],
    outputs = [_PLATFORMS],
)

def _target_platform_impl(ctx):
    return [ImgPlatformInfo(os = ctx.attr.os, architecture = ctx.attr.architecture, variant = ctx.attr.variant)]

img_target_platform = rule(
    implementation = _target_platform_impl,
    doc = "The OCI os/architecture/variant of the target platform, from selects over @platforms constraints.",
    attrs = {
        "architecture": attr.string(doc = "OCI architecture."),
        "os": attr.string(doc = "OCI os."),
        "variant": attr.string(doc = "OCI variant."),
    },
)

def run_img(ctx, action, mnemonic, request, inputs, input_sets, outputs):
    """Runs `img <action> --request <file> --output <name>=<path>...`.

    Args:
      ctx: The rule context.
      action: The img subcommand.
      mnemonic: The action's mnemonic.
      request: The request, a dict that json.encode turns into the contract's request type.
      inputs: Input files; None entries are skipped.
      input_sets: Depsets of input files.
      outputs: Declared outputs by the names the action knows them by.
    """
    request_file = ctx.actions.declare_file(outputs.values()[0].basename + ".request.json")
    ctx.actions.write(request_file, json.encode(request))
    args = ctx.actions.args()
    args.add(action)
    args.add("--request", request_file)
    for name, output in outputs.items():
        args.add("--output", "{}={}".format(name, output.path))
    ctx.actions.run(
        executable = ctx.toolchains[TOOLCHAIN_TYPE].imgtoolchaininfo.tool_exe,
        arguments = [args],
        inputs = depset([request_file] + [f for f in inputs if f], transitive = input_sets),
        outputs = outputs.values(),
        mnemonic = mnemonic,
        progress_message = "img {} %{{label}}".format(action),
    )

def image_toolchain_impl(ctx):
    """The toolchain: the img executable."""
    return [platform_common.ToolchainInfo(imgtoolchaininfo = ImageToolchainInfo(tool_exe = ctx.file.tool_exe))]

def _setting_impl(ctx):
    value = ctx.build_setting_value
    if ctx.attr.values and value not in ctx.attr.values:
        fail("--@rules_img//img/settings:{}={} is not allowed; use one of: {}.".format(
            ctx.label.name,
            value,
            ", ".join(ctx.attr.values),
        ))
    return [ImgSettingInfo(value = value)]

img_setting = rule(
    implementation = _setting_impl,
    doc = "A global rules_img setting: a string flag limited to `values` (when given).",
    build_setting = config.string(flag = True),
    attrs = {"values": attr.string_list(doc = "Allowed values; empty allows any.")},
)

def file_metadata_json(values):
    """JSON of a `FileMetadata`, from the parameters that are set."""
    return json.encode({key: value for key, value in values.items() if value != None})
