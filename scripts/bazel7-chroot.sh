#!/usr/bin/env bash
# Creates (once) and caches a Debian sid chroot with Bazel 7.7.1 for the Bazel e2e tests.
#
# Why a chroot: Debian sid is the only package source reachable here that ships a modern Bazel
# (bazel-bootstrap 7.7.1), and it cannot be installed on bookworm directly (needs a newer libc).
# See /work/shared/reference/environment.md §1b.
#
# Layout (everything under /var/cache/rules_img so reruns are fast):
#   /var/cache/rules_img/bazel7-sid/                 the chroot
#   /var/cache/rules_img/bazel7-sid/.rules_img-ready stamp: written last, holds the recipe version
#   inside the chroot, /opt/rules_img/:
#     stubs/{buildozer,protobuf,zlib,apple_support}  offline stand-ins for bazel_tools' BCR deps (bzlmod)
#     offline/                                       WORKSPACE-mode helper repo: prelude.bzl, coverage stub
#     bazelrc.bzlmod, bazelrc.workspace              flags used by scripts/bazel7 for each mode
#
# Robustness: the build runs in a private mount namespace (unshare -m), so proc/dev mounts vanish with the
# process even if it is killed; they can never leak onto the host. A chroot without the ready stamp is a
# leftover of an interrupted run and is deleted (only after checking nothing is mounted below it) and redone.
#
# Usage: scripts/bazel7-chroot.sh [--rebuild]      (root; needs only the Debian archive)
set -euo pipefail

CACHE=${RULES_IMG_CACHE:-/var/cache/rules_img}
CH=$CACHE/bazel7-sid
READY=$CH/.rules_img-ready
# Bump when the package list or the generated files change; a ready chroot with an older recipe gets the
# cheap idempotent steps (apt install, files) rerun instead of a full rebuild.
RECIPE=4
PACKAGES="bazel-bootstrap g++ gcc libc6-dev binutils python3 zip unzip ca-certificates"

log() { printf '[bazel7-chroot] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot, mount)"
mkdir -p "$CACHE"
# One builder at a time (e.g. two CI steps racing); the lock is released when this script exits.
exec 8>"$CACHE/bazel7-chroot.lock"
flock 8

# Anything still mounted below the chroot in THIS namespace (e.g. from an older script version that mounted
# on the host). Deleting a tree with a live bind mount of /dev would be a disaster, so refuse instead.
mounts_below() { awk -v p="$CH/" 'index($2, p) == 1 {print $2}' /proc/self/mounts; }

wipe_chroot() {
    local m
    for m in $(mounts_below | sort -r); do umount -l "$m" || true; done
    [ -z "$(mounts_below)" ] || die "still mounted below $CH: $(mounts_below | tr '\n' ' '); unmount them first"
    log "removing chroot $CH (incomplete or --rebuild)"
    rm -rf --one-file-system "$CH"
}

# Runs a command inside the chroot, in a private mount namespace: proc/dev exist only for this process tree.
in_chroot() {
    # shellcheck disable=SC2016 # the script's $1/$@ expand in the inner bash
    unshare -m --propagation private -- bash -euo pipefail -c '
        CH=$1; shift
        mount -t proc proc "$CH/proc"
        mount --rbind /dev "$CH/dev"
        exec chroot "$CH" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
            DEBIAN_FRONTEND=noninteractive "$@"
    ' _ "$CH" "$@"
}

if [ "${1:-}" = "--rebuild" ]; then
    wipe_chroot
fi

if [ -f "$READY" ] && [ "$(cat "$READY")" = "recipe=$RECIPE" ]; then
    log "cached: $CH ($(in_chroot /usr/bin/bazel --version 2>&1 || echo 'bazel --version failed'))"
    exit 0
fi

start=$(date +%s)
MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian
# The archive mirror may be a frozen snapshot: sid's Release file then looks expired to apt.
APT_OPTS="-o Acquire::Check-Valid-Until=false -o APT::Install-Recommends=false -o Dpkg::Use-Pty=0"

if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

mkdir -p "$CACHE"
if [ -d "$CH" ] && [ ! -f "$CH/.rules_img-debootstrapped" ]; then
    wipe_chroot
fi
if [ ! -d "$CH" ]; then
    log "debootstrap --variant=minbase sid from $MIRROR (about a minute)"
    debootstrap --variant=minbase sid "$CH" "$MIRROR" >"$CACHE/bazel7-debootstrap.log" 2>&1 \
        || die "debootstrap failed, see $CACHE/bazel7-debootstrap.log"
    touch "$CH/.rules_img-debootstrapped"
fi
rm -f "$READY"
cp /etc/resolv.conf "$CH/etc/resolv.conf" 2>/dev/null || true

log "installing into the chroot: $PACKAGES (first time: ~650 MB download, a few minutes)"
# `dpkg --configure -a` finishes whatever an interrupted earlier run left half-installed.
in_chroot bash -euo pipefail -c "dpkg --configure -a && apt-get $APT_OPTS update -qq &&
    apt-get $APT_OPTS install -y -qq $PACKAGES" \
    >"$CACHE/bazel7-apt.log" 2>&1 || die "apt-get inside the chroot failed, see $CACHE/bazel7-apt.log"
chroot "$CH" apt-get clean

# ---------------------------------------------------------------------------------------------------------
# /opt/rules_img inside the chroot: offline stand-ins and per-mode flags. Written to a temp dir, then renamed.
OPT=$CH/opt/rules_img
rm -rf "$OPT.tmp"
mkdir -p "$OPT.tmp"/stubs/{buildozer,protobuf,zlib,apple_support} "$OPT.tmp"/offline/coverage

# bazel_tools' own MODULE.bazel depends on these BCR modules; without network bzlmod fails to resolve the main
# repository mapping. None of them is used by our builds, so a module() line (plus buildozer's extension,
# which bazel_tools calls) is enough.
stub_module() { # dir name version [extra module() args]
    printf 'module(\n    name = "%s",\n    version = "%s",%s\n)\n' "$2" "$3" "${4:-}" >"$1/MODULE.bazel"
    : >"$1/BUILD.bazel"
}
stub_module "$OPT.tmp/stubs/buildozer" buildozer 7.1.2
stub_module "$OPT.tmp/stubs/protobuf" protobuf 3.19.6 $'\n    repo_name = "com_google_protobuf",'
stub_module "$OPT.tmp/stubs/zlib" zlib 1.3.1.bcr.3
stub_module "$OPT.tmp/stubs/apple_support" apple_support 1.23.1
cat >"$OPT.tmp/stubs/buildozer/buildozer_binary.bzl" <<'EOF'
"""Offline stand-in for buildozer's `buildozer_binary` module extension (used by bazel_tools)."""

_SCRIPT = "#!/bin/sh\necho 'buildozer is not available offline (rules_img test stub)' >&2\nexit 1\n"

def _buildozer_repo_impl(rctx):
    rctx.file("buildozer", _SCRIPT, executable = True)
    rctx.file("buildozer.exe", _SCRIPT, executable = True)
    rctx.file("BUILD.bazel", 'exports_files(["buildozer", "buildozer.exe"])\n')

_buildozer_repo = repository_rule(implementation = _buildozer_repo_impl)

def _buildozer_binary_impl(_mctx):
    _buildozer_repo(name = "buildozer_binary")

buildozer_binary = module_extension(
    implementation = _buildozer_binary_impl,
    tag_classes = {
        "buildozer": tag_class(attrs = {
            "sha256": attr.string_dict(),
            "version": attr.string(),
        }),
    },
)
EOF

# WORKSPACE mode: one repo holding a macro that declares the offline repositories, so a test WORKSPACE needs
#   local_repository(name = "rules_img_offline", path = "/opt/rules_img/offline")
#   load("@rules_img_offline//:prelude.bzl", "offline_repositories")
#   offline_repositories()
cat >"$OPT.tmp/offline/WORKSPACE" <<'EOF'
workspace(name = "rules_img_offline")
EOF
: >"$OPT.tmp/offline/BUILD.bazel"
cat >"$OPT.tmp/offline/prelude.bzl" <<'EOF'
"""Offline WORKSPACE-mode repositories for Bazel 7.7.1 in the rules_img test chroot.

Every repository Bazel's WORKSPACE suffix would download is pointed at the copy Debian ships.
"""

_DEBIAN = {
    "bazel_features": "/usr/share/bazel/tools/features",
    "bazel_skylib": "/usr/share/bazel/tools/skylib",
    "platforms": "/usr/share/bazel/tools/platforms",
    "rules_cc": "/usr/share/bazel/rules/cc",
    "rules_java": "/usr/share/bazel/rules/java",
    "rules_license": "/usr/share/bazel/rules/license",
    "rules_proto": "/usr/share/bazel/rules/proto",
    "rules_python": "/usr/share/bazel/rules/python",
}

def offline_repositories():
    for name, path in _DEBIAN.items():
        if not native.existing_rule(name):
            native.local_repository(name = name, path = path)
    if not native.existing_rule("remote_coverage_tools"):
        native.local_repository(name = "remote_coverage_tools", path = "/opt/rules_img/offline/coverage")
EOF
# `bazel test` in WORKSPACE mode wants @remote_coverage_tools even without coverage.
cat >"$OPT.tmp/offline/coverage/WORKSPACE" <<'EOF'
workspace(name = "remote_coverage_tools")
EOF
cat >"$OPT.tmp/offline/coverage/gen.sh" <<'EOF'
#!/bin/sh
echo "coverage is not available offline (rules_img test stub)" >&2
exit 1
EOF
chmod +x "$OPT.tmp/offline/coverage/gen.sh"
cat >"$OPT.tmp/offline/coverage/BUILD.bazel" <<'EOF'
package(default_visibility = ["//visibility:public"])

sh_binary(name = "coverage_report_generator", srcs = ["gen.sh"])

sh_binary(name = "Main", srcs = ["gen.sh"])

filegroup(name = "lcov_merger", srcs = ["gen.sh"])
EOF

# Per-mode flags, passed by scripts/bazel7 with --bazelrc. `common` lines are ignored by commands that do not
# take the option (Bazel >= 7), so `bazel shutdown`/`info` work with the same rc.
S=/opt/rules_img/stubs
cat >"$OPT.tmp/bazelrc.common" <<'EOF'
build --nosandbox_debug
test --nosandbox_debug
run --nosandbox_debug
build --show_progress_rate_limit=5
build --color=no --curses=no
query --color=no --curses=no
cquery --color=no --curses=no
EOF
cat >"$OPT.tmp/bazelrc.bzlmod" <<EOF
common --enable_bzlmod --noenable_workspace
common --lockfile_mode=off
common --override_module=buildozer=$S/buildozer
common --override_module=protobuf=$S/protobuf
common --override_module=zlib=$S/zlib
common --override_module=apple_support=$S/apple_support
EOF
cat >"$OPT.tmp/bazelrc.workspace" <<'EOF'
common --noenable_bzlmod --enable_workspace
EOF
rm -rf "$OPT"
mv "$OPT.tmp" "$OPT"

ver=$(in_chroot /usr/bin/bazel --version 2>&1) \
    || die "bazel --version failed inside the chroot: $ver"
case "$ver" in
    *7.7.1*) ;;
    *) die "unexpected Bazel version inside the chroot: $ver" ;;
esac
echo "recipe=$RECIPE" >"$READY.tmp" && mv "$READY.tmp" "$READY"
log "ready: $CH ($ver) in $(( $(date +%s) - start )) s, $(du -sh --one-file-system "$CH" | cut -f1)"
