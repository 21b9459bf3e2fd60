#!/usr/bin/env bash
# `img manifest` benchmark: 100 layer metadata files describing a 10 GB image (fake digests and
# sizes: no blob exists anywhere), on top of a base image whose manifest lists another 100 layers
# (another 10 GB). Times the action with hyperfine (target: < 20 ms) and proves with strace that it
# opens only the request, the metadata/base documents and its outputs: zero layer blob bytes read.
#
#   bench/manifest.sh               # data in $BENCH_DIR (default /tmp/img-bench-manifest)
#   RUNS=100 bench/manifest.sh      # more hyperfine runs (default 50)
#
# Needs: cargo, hyperfine, strace, python3 (apt-get install -y hyperfine strace python3).
# docs/performance.md ("Images") records a run.
set -euo pipefail

BENCH_DIR=${BENCH_DIR:-/tmp/img-bench-manifest}
RUNS=${RUNS:-50}
REPO=$(cd "$(dirname "$0")/.." && pwd)

missing=()
for tool in cargo hyperfine strace python3; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "bench/manifest.sh: missing ${missing[*]}; install with: apt-get install -y hyperfine strace python3" >&2
  exit 1
fi

echo "== building img (release)"
cargo build --quiet --release -p img --manifest-path "$REPO/Cargo.toml"
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps --manifest-path "$REPO/Cargo.toml" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
IMG=$TARGET_DIR/release/img

rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR/metadata" "$BENCH_DIR/base" "$BENCH_DIR/out"
echo "== generating 100 layer metadata files + a 100-layer base in $BENCH_DIR (no blobs)"
python3 - "$BENCH_DIR" <<'PY'
import hashlib, json, os, sys
root = sys.argv[1]
def sha(text):
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
size = 10 * 1024**3 // 100  # 100 layers, 10 GiB in all
paths = []
for i in range(100):
    metadata = {
        "diff_id": sha(f"diff {i}"),
        "mediaType": GZIP,
        "digest": sha(f"blob {i}"),
        "size": size,
        "annotations": {"org.opencontainers.image.title": f"layer-{i}"},
        "history": [{"created_by": f"bazel build //bench:layer_{i}"}],
    }
    path = os.path.join(root, "metadata", f"layer_{i}.json")
    with open(path, "w") as f:
        json.dump(metadata, f, indent=2)
    paths.append(path)
base_layers = [{"mediaType": GZIP, "digest": sha(f"base blob {i}"), "size": size} for i in range(100)]
config = {
    "architecture": "amd64", "os": "linux",
    "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/bin/sh"]},
    "rootfs": {"type": "layers", "diff_ids": [sha(f"base diff {i}") for i in range(100)]},
    "history": [{"created_by": f"base step {i}"} for i in range(100)],
}
config_bytes = json.dumps(config).encode()
manifest = {
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": "sha256:" + hashlib.sha256(config_bytes).hexdigest(), "size": len(config_bytes)},
    "layers": base_layers,
}
manifest_bytes = json.dumps(manifest).encode()
descriptor = {"mediaType": manifest["mediaType"], "digest": "sha256:" + hashlib.sha256(manifest_bytes).hexdigest(),
              "size": len(manifest_bytes)}
for name, data in [("manifest.json", manifest_bytes), ("config.json", config_bytes),
                   ("descriptor.json", json.dumps(descriptor).encode())]:
    with open(os.path.join(root, "base", name), "wb") as f:
        f.write(data)
def request(base):
    return {
        "os": "linux", "architecture": "amd64", "variant": "", "layers": paths,
        "base": {"manifest": os.path.join(root, "base/manifest.json"), "config": os.path.join(root, "base/config.json"),
                 "descriptor": os.path.join(root, "base/descriptor.json"), "name": "example.com/base:1"} if base else None,
        "config_fragment": None, "config_media_type": None,
        "entrypoint": ["/app"], "cmd": ["<inherit from base>"], "user": "<inherit from base>",
        "working_dir": "<inherit from base>", "stop_signal": "<inherit from base>",
        "env": {"APP": "1"}, "env_file": None, "labels": {"bench": "yes"}, "label_files": [],
        "annotations": {}, "annotations_file": None, "created": None, "created_timestamp": None,
        "artifact_type": None, "subject": None,
    }
for name, base in [("request.json", False), ("request-base.json", True)]:
    with open(os.path.join(root, name), "w") as f:
        json.dump(request(base), f)
PY

outputs() { # outputs PREFIX
  echo "--output manifest=$BENCH_DIR/out/$1.manifest --output config=$BENCH_DIR/out/$1.config" \
       "--output descriptor=$BENCH_DIR/out/$1.descriptor --output digest=$BENCH_DIR/out/$1.digest"
}
CMD="$IMG manifest --request $BENCH_DIR/request.json $(outputs plain)"
CMD_BASE="$IMG manifest --request $BENCH_DIR/request-base.json $(outputs base)"

echo "== hyperfine ($RUNS runs each)"
hyperfine --warmup 5 --runs "$RUNS" -N --export-json "$BENCH_DIR/hyperfine.json" \
  -n "100 layers (10 GiB)" "$CMD" -n "100 layers on a 100-layer base (20 GiB)" "$CMD_BASE"
python3 - "$BENCH_DIR/hyperfine.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    verdict = "OK" if r["median"] < 0.020 else "OVER TARGET"
    print(f"  {r['command']}: median {r['median']*1000:.2f} ms, mean {r['mean']*1000:.2f} ms, "
          f"max {r['max']*1000:.2f} ms  [{verdict} (< 20 ms)]")
PY

echo "== strace: every file img opens (the layer blobs would be named after their digests)"
strace -f -qq -e trace=open,openat,openat2 -o "$BENCH_DIR/strace.txt" $CMD_BASE
python3 - "$BENCH_DIR" <<'PY'
import collections, glob, json, re, sys
root = sys.argv[1]
opens = [re.search(r'"([^"]*)"', line).group(1) for line in open(f"{root}/strace.txt") if '"' in line]
digests = set()
for path in glob.glob(f"{root}/metadata/*.json"):
    digests.add(json.load(open(path))["digest"].split(":")[1])
for layer in json.load(open(f"{root}/base/manifest.json"))["layers"]:
    digests.add(layer["digest"].split(":")[1])
kinds = collections.Counter()
for path in opens:
    if any(d in path for d in digests):
        kinds["layer blob"] += 1
    elif path.startswith(f"{root}/metadata/"):
        kinds["layer metadata"] += 1
    elif path.startswith(f"{root}/base/"):
        kinds["base manifest/config/descriptor"] += 1
    elif path.startswith(f"{root}/out"):
        kinds["outputs (temp files, stale-output checks)"] += 1
    elif path.startswith(f"{root}/request"):
        kinds["request"] += 1
    else:
        kinds["system (loader, libc, /proc)"] += 1
for kind, count in sorted(kinds.items()):
    print(f"  {count:4d}  {kind}")
print(f"  {len(opens):4d}  total openat calls")
blob_opens = kinds.get("layer blob", 0)
print(f"  layer blob opens: {blob_opens} -> {'zero blob bytes read' if blob_opens == 0 else 'BLOBS WERE OPENED'}")
sys.exit(1 if blob_opens else 0)
PY
