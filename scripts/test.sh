#!/usr/bin/env bash
# Every test: installs what the suite needs (apt, npm, the cached Bazel 7 chroot), then runs the
# fast checks and the whole suite, real components included. Root on Debian 12; rerunning is fast.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*" >&2; }

command -v cargo >/dev/null || { echo "scripts/test.sh: cargo not found; install Rust with rustup" >&2; exit 1; }

step "installing test dependencies (scripts/install-test-deps.sh)"
scripts/install-test-deps.sh
step "Bazel 7.7.1 chroot (scripts/bazel7-chroot.sh; cached under /var/cache/rules_img)"
scripts/bazel7-chroot.sh

# Bazel servers stop when idle; this also removes the chroot's bind mounts when the suite ends.
trap 'scripts/bazel7 --unmount-all >/dev/null 2>&1 || true' EXIT

step "format, lints, generated files"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo run -q -p codegen -- --check

step "every test, real components included"
# CI=true makes insta fail on a snapshot mismatch instead of writing a .snap.new file.
CI=true cargo test --workspace --no-fail-fast -- --include-ignored
