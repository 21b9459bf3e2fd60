#!/usr/bin/env bash
# Installs every real component the test suite uses (root, fresh Debian 12, package registries only).
# Idempotent and fast when already done: nothing is fetched if everything is in place.
#
# What goes where:
#   Debian bookworm packages          the system (apt-get install)
#   crane 0.20.x (sid .deb)           the system (/usr/bin/crane); its only dependency is libc6
#   umoci 0.6.x (sid .deb)            /var/cache/rules_img/umoci6/usr/bin/umoci  (side location, so the
#                                     bookworm umoci 0.4.7 stays /usr/bin/umoci; 0.6 is the one that reads zstd)
#   buildifier 8.2.1 (npm)            /var/cache/rules_img/node/node_modules/.bin/buildifier
#   Bazel 7.7.1                       NOT here: scripts/bazel7-chroot.sh (a Debian sid chroot, minutes)
#   clippy, rustfmt                   rustup components
# Caches live under /var/cache/rules_img (sid apt lists and .debs in sid-apt/).
set -euo pipefail

CACHE=${RULES_IMG_CACHE:-/var/cache/rules_img}
BUILDIFIER_VERSION=8.2.1

log() { printf '[install-test-deps] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"

export DEBIAN_FRONTEND=noninteractive
APT_INSTALL="apt-get install -y -qq -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=600"

# Packages installed with their recommends / without (docker.io and podman pull in far too much otherwise).
WITH_RECOMMENDS=(debootstrap docker-registry skopeo umoci oci-image-tool containerd runc stargz-snapshotter
    zstd pigz gzip hyperfine bazel-bootstrap bazel-skylib bazel-rules-java jq curl iproute2 gcc libc6-dev strace)
NO_RECOMMENDS=(docker.io podman)

missing() { # prints the packages of "$@" that are not installed, one a line
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
    done
}

mapfile -t need < <(missing "${WITH_RECOMMENDS[@]}" "${NO_RECOMMENDS[@]}")
if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install: ${need[*]}"
    mkdir -p "$CACHE"
    APT_LOG=$CACHE/install-test-deps.apt.log
    apt-get update -qq >"$APT_LOG" 2>&1
    mapfile -t need < <(missing "${WITH_RECOMMENDS[@]}")
    [ ${#need[@]} -eq 0 ] || $APT_INSTALL "${need[@]}" >>"$APT_LOG" 2>&1 || true
    mapfile -t need < <(missing "${NO_RECOMMENDS[@]}")
    [ ${#need[@]} -eq 0 ] || $APT_INSTALL --no-install-recommends "${need[@]}" >>"$APT_LOG" 2>&1 || true
    mapfile -t still < <(missing "${WITH_RECOMMENDS[@]}" "${NO_RECOMMENDS[@]}")
    [ ${#still[@]} -eq 0 ] || die "could not install: ${still[*]} (see $APT_LOG)"
fi

# --- crane and umoci 0.6 from Debian sid, through a private apt configuration (no system sources change) ---
UMOCI6=$CACHE/umoci6/usr/bin/umoci
if ! command -v crane >/dev/null || [ ! -x "$UMOCI6" ]; then
    SID=$CACHE/sid-apt
    MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian
    mkdir -p "$SID/lists/partial" "$SID/cache/archives/partial" "$SID/debs"
    echo "deb $MIRROR sid main" >"$SID/sources.list"
    # Check-Valid-Until=false: the archive mirror may be a frozen snapshot whose sid Release looks expired.
    O=(-o "Dir::Etc::sourcelist=$SID/sources.list" -o Dir::Etc::sourceparts=/dev/null
        -o "Dir::State::Lists=$SID/lists" -o "Dir::Cache=$SID/cache" -o Acquire::Check-Valid-Until=false -o APT::Sandbox::User=root)
    if ! ls "$SID"/debs/crane_*.deb "$SID"/debs/umoci_*.deb >/dev/null 2>&1; then
        log "fetching crane and umoci from sid"
        apt-get "${O[@]}" update -qq
        (cd "$SID/debs" && apt-get "${O[@]}" download crane umoci >/dev/null)
    fi
    if ! command -v crane >/dev/null; then
        $APT_INSTALL "$SID"/debs/crane_*.deb >/dev/null 2>&1 || die "installing $SID/debs/crane_*.deb failed"
    fi
    if [ ! -x "$UMOCI6" ]; then
        rm -rf "$CACHE/umoci6.tmp"
        debs=("$SID"/debs/umoci_*.deb)
        dpkg -x "${debs[0]}" "$CACHE/umoci6.tmp"
        rm -rf "$CACHE/umoci6" && mv "$CACHE/umoci6.tmp" "$CACHE/umoci6"
    fi
fi

# --- buildifier from npm, into a fixed prefix ---
NODE=$CACHE/node
BUILDIFIER=$NODE/node_modules/.bin/buildifier
if ! "$BUILDIFIER" --version 2>/dev/null | grep -q "$BUILDIFIER_VERSION"; then
    command -v npm >/dev/null || $APT_INSTALL npm >/dev/null
    log "npm install @bazel/buildifier@$BUILDIFIER_VERSION into $NODE"
    mkdir -p "$NODE"
    npm install --silent --no-audit --no-fund --prefix "$NODE" "@bazel/buildifier@$BUILDIFIER_VERSION" >/dev/null
    "$BUILDIFIER" --version >/dev/null || die "buildifier did not install at $BUILDIFIER"
fi

# --- Rust components ---
if command -v rustup >/dev/null; then
    have=$(rustup component list --installed 2>/dev/null)
    for c in clippy rustfmt; do
        grep -q "^$c" <<<"$have" || rustup component add "$c"
    done
fi

first() { "$@" 2>&1 | head -n1; }
cat <<EOF
test dependencies ready:
  docker-registry  $(first docker-registry --version)
  skopeo           $(first skopeo --version)
  umoci (0.4)      $(first umoci --version)
  umoci (0.6)      $(first "$UMOCI6" --version)   [$UMOCI6]
  crane            $(dpkg-query -W -f='${Version}' crane)
  oci-image-tool   $(first oci-image-tool --version)
  containerd       $(first containerd --version)
  runc             $(first runc --version)
  dockerd          $(first dockerd --version)
  podman           $(first podman --version)
  ctr-remote       $(dpkg-query -W -f='${Version}' stargz-snapshotter) (stargz-snapshotter)
  zstd / pigz      $(first zstd --version) / $(first pigz --version)
  hyperfine        $(first hyperfine --version)
  bazel (host, 4)  $(dpkg-query -W -f='${Version}' bazel-bootstrap)
  buildifier       $(first "$BUILDIFIER" --version)   [$BUILDIFIER]
  jq / curl        $(first jq --version) / $(first curl --version | cut -d' ' -f1-2)
  Bazel 7.7.1      $( [ -f "$CACHE/bazel7-sid/.rules_img-ready" ] && echo "chroot ready" || echo "not set up: run scripts/bazel7-chroot.sh")
EOF
