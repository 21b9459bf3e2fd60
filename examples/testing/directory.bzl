"""`directory`: a tree artifact made from source files, for examples that place a whole directory."""

def _directory_impl(ctx):
    out = ctx.actions.declare_directory(ctx.label.name)
    args = ctx.actions.args()
    args.add(out.path)
    args.add(ctx.attr.strip_prefix)
    args.add_all(ctx.files.srcs)
    ctx.actions.run_shell(
        outputs = [out],
        inputs = ctx.files.srcs,
        arguments = [args],
        command = """
out="$1"; prefix="$2"; shift 2
for f in "$@"; do
    rel="${f#"$prefix"}"
    mkdir -p "$out/$(dirname "$rel")"
    cp "$f" "$out/$rel"
done
""",
    )
    return [DefaultInfo(files = depset([out]))]

directory = rule(
    implementation = _directory_impl,
    doc = "Copies `srcs` into one output directory, below their path with `strip_prefix` removed.",
    attrs = {
        "srcs": attr.label_list(allow_files = True, doc = "The files."),
        "strip_prefix": attr.string(doc = "Removed from each file's path."),
    },
)
