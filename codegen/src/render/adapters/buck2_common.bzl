"""The Buck2 adapter library: what every generated rule implementation calls.

This is the one place where rules_img's Buck2 Starlark is written by hand; its Bazel twin is
bazel_common.bzl. Keep the two in step: same function names, same arguments, same results.
"""

load("@rules_img//img/private:providers.bzl", "ImageToolchainInfo")

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

def _src_line(path: str, file: Artifact) -> cmd_args:
    # A source artifact's short path is relative to its package, like Bazel's package-relative path.
    return cmd_args(path, "\0", file.short_path, "\0", file, delimiter = "")

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
    request_file = ctx.actions.write_json("{}.{}.request.json".format(ctx.label.name, action), request, with_inputs = True)
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
    ctx.actions.run(command, category = _category(mnemonic), identifier = action)

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
