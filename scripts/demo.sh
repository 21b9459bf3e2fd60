#!/usr/bin/env bash
# The main job: build img, build the example with real Bazel 7.7.1, and show what was built.
# (Pushing it to a local registry arrives with `img push`; see docs/reference/image_push.md.)
# Root on Debian 12; the first run sets up a cached Bazel 7 chroot (a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

step() { printf '\n=== %s\n' "$*" >&2; }

step "setting up (scripts/install-test-deps.sh, scripts/bazel7-chroot.sh; cached)"
scripts/install-test-deps.sh
scripts/bazel7-chroot.sh

step "rendering the rules from the spec and building img"
cargo run -q -p codegen
cargo build -q --release -p img
mkdir -p examples/tools/bin
cp target/release/img examples/tools/bin/img

bazel() { scripts/bazel7 --workspace "$ROOT/examples" --bind "$ROOT/bazel" -- "$@"; }
trap 'bazel shutdown >/dev/null 2>&1 || true' EXIT

step "building //hello:layer with Bazel 7.7.1"
bazel build //hello:layer --output_groups=+metadata
metadata=$(find -L "$ROOT/examples/bazel-bin/hello" -name 'layer_metadata.json' | head -n1)
echo
echo "layer metadata ($metadata):"
cat "$metadata"
echo "layer contents:"
tar -tvzf "$ROOT/examples/bazel-bin/hello/layer.tgz"
