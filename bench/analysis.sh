#!/usr/bin/env bash
# Analysis stays cheap: an image_layer placing an executable with 50,000 runfiles is analysed in about
# the time of one with a single file, because rules_img never flattens runfiles at analysis time (file
# lists reach the action through Args param files). Bazel 7.7.1 (scripts/bazel7-chroot.sh), real module.
#
#   bench/analysis.sh            # FILES=50000 RUNS=5 by default
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
FILES=${FILES:-50000}
RUNS=${RUNS:-5}
[ -f /var/cache/rules_img/bazel7-sid/.rules_img-ready ] || { echo "run scripts/bazel7-chroot.sh first" >&2; exit 1; }

WS=/var/cache/rules_img/work/bench-analysis
rm -rf "$WS" && mkdir -p "$WS/data" "$WS/tools/bin"
cargo build -q --release -p img
cp target/release/img "$WS/tools/bin/img"
echo "generating $FILES runfiles" >&2
python3 - "$WS/data" "$FILES" <<'PY'
import os, sys
root, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    d = os.path.join(root, "d%03d" % (i % 500))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.txt" % i), "w") as f:
        f.write("%d\n" % i)
PY
printf '#!/bin/sh\necho hi\n' > "$WS/bin.sh" && chmod +x "$WS/bin.sh"
echo x > "$WS/x.txt"
cat > "$WS/MODULE.bazel" <<EOF
module(name = "bench")
bazel_dep(name = "rules_img")
local_path_override(module_name = "rules_img", path = "$ROOT/bazel")
register_toolchains("//tools:img")
EOF
cat > "$WS/tools/BUILD.bazel" <<'EOF'
load("@rules_img//img:image_toolchain.bzl", "img_toolchain")
img_toolchain(name = "img", tool_exe = "bin/img")
EOF
cat > "$WS/BUILD.bazel" <<'EOF'
sh_binary(name = "bin", srcs = ["bin.sh"], data = glob(["data/**"]), visibility = ["//visibility:public"])
exports_files(["x.txt"])
EOF
# The layers live in their own small package: editing it reloads nothing else.
mkdir -p "$WS/layers"
cat > "$WS/layers/BUILD.bazel" <<'EOF'
load("@rules_img//img:layer.bzl", "image_layer")
image_layer(name = "big", srcs = {"/app/bin": "//:bin"})
image_layer(name = "no_runfiles", srcs = {"/app/bin": "//:bin"}, include_runfiles = False)
image_layer(name = "small", srcs = {"/app/x": "//:x.txt"})
EOF
bazel() { scripts/bazel7 --workspace "$WS" --bind "$ROOT/bazel" -- "$@"; }
trap 'bazel shutdown >/dev/null 2>&1 || true' EXIT

# Load and analyse everything once (the 50,000-file glob and sh_binary are not what we measure).
bazel build --nobuild //:bin //:x.txt >/dev/null 2>&1

# Each run gives the layer a fresh annotation, so Bazel reloads the small `layers` package and
# re-analyses that one target; the phase time comes from Bazel's own profile.
analysis_ms() {
    local target=$1 run=$2 src
    case $target in
        big) src='srcs = {"/app/bin": "//:bin"}' ;;
        no_runfiles) src='srcs = {"/app/bin": "//:bin"}, include_runfiles = False' ;;
        *) src='srcs = {"/app/x": "//:x.txt"}' ;;
    esac
    sed -i "s|^image_layer(name = \"$target\", .*|image_layer(name = \"$target\", $src, annotations = {\"run\": \"$run\"})|" "$WS/layers/BUILD.bazel"
    bazel build --nobuild "//layers:$target" --profile="$WS/profile.$target.$run.json" >/dev/null 2>&1
    bazel analyze-profile "$WS/profile.$target.$run.json" 2>/dev/null |
        awk '/loading-and-analysis phase time/ {for (i = 1; i <= NF; i++) if ($i == "s") {printf "%.0f", $(i - 1) * 1000; exit}}'
}
echo "| run | executable with ${FILES} runfiles | same, include_runfiles = False | one file |"
echo "|---|---|---|---|"
for run in $(seq "$RUNS"); do
    echo "| $run | $(analysis_ms big "$run") ms | $(analysis_ms no_runfiles "$run") ms | $(analysis_ms small "$run") ms |"
done
