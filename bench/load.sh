#!/usr/bin/env bash
# `img load` into containerd 1.6 against `ctr images import`, on a ~1 GB image (a 1 GiB layer and a
# small layer with a static program):
#   cold:   first load into an empty containerd       vs ctr images import (--no-unpack, and default)
#   reload: after one small layer changed (3 times)   vs ctr images import --no-unpack of the new tar
#
#   bench/load.sh                 # data in $BENCH_DIR (default /tmp/img-bench-load), kept between runs
#   RUNS=5 bench/load.sh          # more runs per case (default 3); medians are reported
#
# Starts its own containerd on a socket under $BENCH_DIR (stopped at exit). Installs nothing.
# Needs: cargo, containerd, ctr, gcc (static libc), python3. docs/performance.md ("Loading")
# records a run.
set -euo pipefail

BENCH_DIR=${BENCH_DIR:-/tmp/img-bench-load}
RUNS=${RUNS:-3}
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIG_MIB=${BIG_MIB:-1024}

missing=()
for tool in cargo containerd ctr gcc python3; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "bench/load.sh: missing ${missing[*]}; install with scripts/install-test-deps.sh" >&2
  exit 1
fi

echo "== building the release img"
(cd "$REPO" && cargo build --release -q -p img)
IMG=${CARGO_TARGET_DIR:-$REPO/target}/release/img

DATA=$BENCH_DIR/data
mkdir -p "$DATA"
cd "$DATA"

# --- The image: one big layer (incompressible, stored uncompressed) and small app layers v1..v4.
layer() { # name compress srcs-line...
  local name=$1 compress=$2; shift 2
  printf '%s\n' "$@" | tr '|' '\0' >"$name.srcs"
  cat >"$name.layer.json" <<EOF
{"created_by":"bench","compress":"$compress","compression_level":null,"compression_jobs":2,"estargz":false,
 "create_parent_directories":true,"media_type":null,"annotations":{},"annotations_file":null,
 "default_metadata":null,"file_metadata":{},"srcs":"$DATA/$name.srcs","multi_file_layout":"package_relative",
 "executables":[],"symlinks":{}}
EOF
  "$IMG" layer --request "$name.layer.json" --output "blob=$DATA/$name.blob" --output "metadata=$DATA/$name.meta.json"
}
manifest() { # name layer...
  local name=$1; shift
  local layers="" sep=""
  for l in "$@"; do layers+="$sep\"$DATA/$l.meta.json\""; sep=","; done
  cat >"$name.manifest.json" <<EOF
{"os":"linux","architecture":"amd64","variant":"","layers":[$layers],"base":null,"config_fragment":null,
 "config_media_type":null,"entrypoint":["/bin/hello"],"cmd":["<inherit from base>"],"user":"<inherit from base>",
 "working_dir":"<inherit from base>","stop_signal":"<inherit from base>","env":{},"env_file":null,"labels":{},
 "label_files":[],"annotations":{},"annotations_file":null,"created":null,"created_timestamp":null,
 "artifact_type":null,"subject":null}
EOF
  "$IMG" manifest --request "$name.manifest.json" --output "manifest=$DATA/$name.m.json" \
    --output "config=$DATA/$name.c.json" --output "descriptor=$DATA/$name.d.json" --output "digest=$DATA/$name.digest"
  # The load request (paths relative to $DATA) and a docker-save tar of the same image for ctr.
  local files="" sep=""
  for l in "$@"; do files+="$sep{\"metadata\":\"$l.meta.json\",\"blob\":\"$l.blob\",\"sources\":[]}"; sep=","; done
  echo "{\"daemon\":\"containerd\",\"names\":[\"bench.local/app:dev\"],\"root\":\"$name.m.json\",\"root_kind\":\"manifest\",\
\"manifests\":[{\"manifest\":\"$name.m.json\",\"config\":\"$name.c.json\",\"layers\":[$files]}],\"insecure\":false}" >"$name.load.json"
  local save="" sep=""
  for l in "$@"; do save+="$sep{\"metadata\":\"$DATA/$l.meta.json\",\"blob\":\"$DATA/$l.blob\"}"; sep=","; done
  echo "{\"image\":{\"manifest\":\"$DATA/$name.m.json\",\"config\":\"$DATA/$name.c.json\",\"layers\":[$save]},\
\"repo_tags\":[\"bench.local/app:dev\"]}" >"$name.save.json"
  "$IMG" docker-save --request "$name.save.json" --output "tarball=$DATA/$name.tar"
}

if [[ ! -f .complete-$BIG_MIB ]]; then
  echo "== generating a ${BIG_MIB} MiB layer and 4 app versions in $DATA"
  rm -f .complete-*
  head -c $((BIG_MIB << 20)) /dev/urandom >big.bin
  layer big none "data/big.bin|big.bin|s$DATA/big.bin"
  for v in 1 2 3 4; do
    printf '#include <stdio.h>\nint main(void){puts("version %s");return 0;}\n' "$v" >"app$v.c"
    gcc -static -O2 -o "app$v" "app$v.c"
    layer "app$v" gzip "bin/hello|hello|s$DATA/app$v"
    manifest "v$v" big "app$v"
  done
  touch ".complete-$BIG_MIB"
fi
ls -l big.blob app1.blob v1.tar | awk '{print "   ", $5, $9}'

# --- containerd on its own socket; `fresh` wipes its root.
CTD=$BENCH_DIR/containerd
SOCK=$CTD/containerd.sock
CTD_PID=
stop_containerd() {
  if [[ -n $CTD_PID ]]; then
    kill "$CTD_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$CTD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$CTD_PID" 2>/dev/null || true
    CTD_PID=
  fi
}
trap stop_containerd EXIT
fresh() {
  stop_containerd
  rm -rf "$CTD"
  mkdir -p "$CTD"
  cat >"$CTD/config.toml" <<EOF
version = 2
root = "$CTD/root"
state = "$CTD/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOF
  containerd --config "$CTD/config.toml" >"$CTD/log" 2>&1 &
  CTD_PID=$!
  for _ in $(seq 100); do ctr --address "$SOCK" version >/dev/null 2>&1 && return; sleep 0.1; done
  echo "containerd did not start:" >&2; tail "$CTD/log" >&2; exit 1
}
export CONTAINERD_ADDRESS=$SOCK
CTR=(ctr --address "$SOCK" -n default)

seconds() { # command...: runs it (output discarded) and prints the wall time in seconds
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null 2>&1
  end=$(date +%s.%N)
  python3 -c "print(f'{$end - $start:.3f}')"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
sync_caches() { sync; }

declare -A RESULT
run_case() { # label, setup-function, command...
  local label=$1 setup=$2; shift 2
  local times=()
  for _ in $(seq "$RUNS"); do
    $setup
    sync_caches
    times+=("$(seconds "$@")")
  done
  RESULT[$label]=$(median "${times[@]}")
  printf '   %-46s %s s   (runs: %s)\n' "$label" "${RESULT[$label]}" "${times[*]}"
}

echo "== cold: first load into an empty containerd"
run_case "img load (cold)" fresh "$IMG" load --request "$DATA/v1.load.json"
run_case "img load --unpack (cold)" fresh "$IMG" load --unpack --request "$DATA/v1.load.json"
run_case "ctr images import --no-unpack (cold)" fresh "${CTR[@]}" images import --no-unpack "$DATA/v1.tar"
run_case "ctr images import, unpacking (cold)" fresh "${CTR[@]}" images import "$DATA/v1.tar"

echo "== reload: v1 is loaded, then versions 2, 3, 4 each change the small layer"
fresh
"$IMG" load --request "$DATA/v1.load.json" >/dev/null 2>&1
RELOADS=()
for v in 2 3 4; do
  RELOADS+=("$(seconds bash -c "'$IMG' load --request '$DATA/v$v.load.json' 2>'$BENCH_DIR/reload-v$v.log'")")
done
RESULT[reload_img]=$(median "${RELOADS[@]}")
printf '   %-46s %s s   (runs: %s)\n' "img load (reload)" "${RESULT[reload_img]}" "${RELOADS[*]}"
# What the reload to v2 wrote.
sed 's/^/     /' "$BENCH_DIR/reload-v2.log"

fresh
"${CTR[@]}" images import --no-unpack "$DATA/v1.tar" >/dev/null
IMPORTS=()
for v in 2 3 4; do IMPORTS+=("$(seconds "${CTR[@]}" images import --no-unpack "$DATA/v$v.tar")"); done
RESULT[reload_ctr]=$(median "${IMPORTS[@]}")
printf '   %-46s %s s   (runs: %s)\n' "ctr images import --no-unpack (reload)" "${RESULT[reload_ctr]}" "${IMPORTS[*]}"

python3 - "${RESULT[img load (cold)]}" "${RESULT[ctr images import --no-unpack (cold)]}" \
  "${RESULT[img load --unpack (cold)]}" "${RESULT[ctr images import, unpacking (cold)]}" \
  "${RESULT[reload_img]}" "${RESULT[reload_ctr]}" <<'EOF'
import sys
cold, ctr_cold, cold_unpack, ctr_unpack, reload, ctr_reload = map(float, sys.argv[1:])
print("== ratios")
print(f"   cold:   img load / ctr import --no-unpack          = {cold / ctr_cold:.2f}x (target <= 1.0)")
print(f"           img load --unpack / ctr import (unpacking) = {cold_unpack / ctr_unpack:.2f}x")
print(f"   reload: img load / ctr import --no-unpack          = {reload / ctr_reload:.3f}x (target <= 0.1)")
EOF
