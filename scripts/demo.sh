#!/usr/bin/env bash
# The main job: build img, build the example image with real Bazel 7.7.1, push it to a local
# registry (`img registry serve`), and read it back with skopeo. Root on Debian 12; the first run
# sets up a cached Bazel 7 chroot (a few minutes). Everything it starts is stopped at the end.
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
IMG=$ROOT/target/release/img
mkdir -p examples/tools/bin
cp "$IMG" examples/tools/bin/img

SCRATCH=$(mktemp -d)
REGISTRY_PID=
bazel() { scripts/bazel7 --workspace "$ROOT/examples" --bind "$ROOT/bazel" -- "$@"; }
cleanup() {
    bazel shutdown >/dev/null 2>&1 || true
    # The chroot's /proc, /dev and bind mounts are set up on demand; leave none behind.
    scripts/bazel7 --unmount-all >/dev/null 2>&1 || true
    [ -z "$REGISTRY_PID" ] || kill "$REGISTRY_PID" 2>/dev/null || true
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

step "starting img registry serve on 127.0.0.1"
"$IMG" registry serve --root "$SCRATCH/registry" --addr 127.0.0.1:0 >"$SCRATCH/registry.out" 2>"$SCRATCH/registry.log" &
REGISTRY_PID=$!
for _ in $(seq 100); do
    ADDRESS=$(head -n1 "$SCRATCH/registry.out" 2>/dev/null || true)
    [ -n "$ADDRESS" ] && break
    sleep 0.1
done
[ -n "${ADDRESS:-}" ] || { echo "img registry serve did not start:" >&2; cat "$SCRATCH/registry.log" >&2; exit 1; }
ADDRESS=${ADDRESS#http://}
echo "registry at $ADDRESS"

step "building //images:app with Bazel 7.7.1 and pushing it (bazel run //deploy:push)"
bazel build //images:app --output_groups=+digest
BUILT=$(cat "$ROOT/examples/bazel-bin/images/app_digest")
bazel run //deploy:push -- --registry "$ADDRESS"

step "reading it back with skopeo"
REFERENCE=docker://$ADDRESS/rules_img/examples/app:latest
REMOTE=$(skopeo inspect --tls-verify=false --raw "$REFERENCE" | sha256sum | cut -d' ' -f1)
skopeo inspect --tls-verify=false "$REFERENCE" | jq '{Digest, Architecture, Os, Layers, Env: .Env}'
echo
echo "built:  $BUILT"
echo "pushed: sha256:$REMOTE ($ADDRESS/rules_img/examples/app:latest)"
[ "$BUILT" = "sha256:$REMOTE" ] || { echo "the registry holds another image than the one built" >&2; exit 1; }
echo "The image in the registry is the image Bazel built."
