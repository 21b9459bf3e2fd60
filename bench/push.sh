#!/usr/bin/env bash
# Push benchmark: `img push` against `skopeo copy oci:… docker://…` of the same ~1 GB, 8-layer
# image into distribution 2.8 (docker-registry): a cold push into an empty registry, and an
# unchanged re-push. Each run starts a fresh registry (not timed).
#
#   bench/push.sh                        # data in $BENCH_DIR (default /tmp/img-bench-push), kept between runs
#   RUNS=5 REPUSHES=10 LAYERS=8 LAYER_MB=128 bench/push.sh
#
# Installs nothing. Needs: cargo, docker-registry, skopeo, pigz, python3, curl
# (scripts/install-test-deps.sh installs them). Results are printed; docs/performance.md
# ("Registries") records a run.
set -euo pipefail

BENCH_DIR=${BENCH_DIR:-/tmp/img-bench-push}
RUNS=${RUNS:-3}
REPUSHES=${REPUSHES:-5}   # unchanged re-pushes per run (each is ~10 ms: more samples)
LAYERS=${LAYERS:-8}
LAYER_MB=${LAYER_MB:-128}
REPO=$(cd "$(dirname "$0")/.." && pwd)

missing=()
for tool in cargo docker-registry skopeo pigz python3 curl; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "bench/push.sh: missing ${missing[*]}; run scripts/install-test-deps.sh (as root)" >&2
  exit 1
fi

echo "== building img (release)"
(cd "$REPO" && cargo build -q --release -p img)
IMG=${CARGO_TARGET_DIR:-$REPO/target}/release/img

# --- The image: LAYERS gzip'd tar layers of LAYER_MB MiB of random data each, as an OCI layout
# (what skopeo reads) and an img push request whose blobs are the layout's own files.
IMAGE=$BENCH_DIR/image-${LAYERS}x${LAYER_MB}
if [[ ! -f $IMAGE/.complete ]]; then
  echo "== generating $LAYERS layers of $LAYER_MB MiB in $IMAGE"
  rm -rf "$IMAGE"
  mkdir -p "$IMAGE/layers" "$IMAGE/layout/blobs/sha256" "$IMAGE/work"
  for i in $(seq 1 "$LAYERS"); do
    head -c $((LAYER_MB << 20)) /dev/urandom > "$IMAGE/work/file-$i"
    tar -C "$IMAGE/work" --owner=0 --group=0 --mtime=@0 -cf "$IMAGE/work/layer-$i.tar" "file-$i"
    sha256sum "$IMAGE/work/layer-$i.tar" | cut -d' ' -f1 > "$IMAGE/work/layer-$i.diffid"
    pigz -1 -n -c "$IMAGE/work/layer-$i.tar" > "$IMAGE/work/layer-$i.tar.gz"
    rm "$IMAGE/work/file-$i" "$IMAGE/work/layer-$i.tar"
  done
  python3 - "$IMAGE" "$LAYERS" <<'PY'
import hashlib, json, os, sys
image, count = sys.argv[1], int(sys.argv[2])
layout = os.path.join(image, "layout")
blobs = os.path.join(layout, "blobs", "sha256")
def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
def put(data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest
layers, request_layers = [], []
for i in range(1, count + 1):
    work = os.path.join(image, "work", f"layer-{i}.tar.gz")
    digest = sha(work)
    size = os.path.getsize(work)
    os.rename(work, os.path.join(blobs, digest))
    diff_id = "sha256:" + open(os.path.join(image, "work", f"layer-{i}.diffid")).read().strip()
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + digest, "size": size})
    metadata = {"diff_id": diff_id, "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": "sha256:" + digest, "size": size, "history": [{"created_by": f"bench layer {i}"}]}
    with open(os.path.join(image, "layers", f"{i}.json"), "w") as f:
        json.dump(metadata, f)
    request_layers.append({"metadata": f"layers/{i}.json", "blob": f"layout/blobs/sha256/{digest}", "sources": []})
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
    "rootfs": {"type": "layers", "diff_ids": [json.load(open(os.path.join(image, "layers", f"{i}.json")))["diff_id"] for i in range(1, count + 1)]},
    "history": [{"created_by": f"bench layer {i}"} for i in range(1, count + 1)]}, separators=(",", ":")).encode()
config_digest = put(config)
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": len(config)},
    "layers": layers}, separators=(",", ":")).encode()
manifest_digest = put(manifest)
with open(os.path.join(layout, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
with open(os.path.join(layout, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest_digest, "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}, f)
request = {"registry": "PLACEHOLDER", "repository": "bench/img", "tags": ["bench"],
    "root": f"layout/blobs/sha256/{manifest_digest[7:]}", "root_kind": "manifest", "insecure": False,
    "manifests": [{"manifest": f"layout/blobs/sha256/{manifest_digest[7:]}",
                   "config": f"layout/blobs/sha256/{config_digest[7:]}", "layers": request_layers}]}
with open(os.path.join(image, "push.json"), "w") as f:
    json.dump(request, f, indent=1)
PY
  rm -rf "$IMAGE/work"
  touch "$IMAGE/.complete"
fi
BYTES=$(du -sb "$IMAGE/layout/blobs" | cut -f1)
echo "== image: $((BYTES / 1000000)) MB in $LAYERS layers"

# --- A fresh docker-registry on a free port.
REGISTRY_PID=
start_registry() {
  local dir=$BENCH_DIR/registry
  rm -rf "$dir" && mkdir -p "$dir"
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat > "$dir/config.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: 127.0.0.1:$PORT
YML
  docker-registry serve "$dir/config.yml" 2>"$dir/log" &
  REGISTRY_PID=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/v2/" >/dev/null && return 0
    sleep 0.1
  done
  echo "docker-registry did not start; see $dir/log" >&2
  exit 1
}
stop_registry() {
  if [[ -n $REGISTRY_PID ]]; then
    kill "$REGISTRY_PID" 2>/dev/null || true
    wait "$REGISTRY_PID" 2>/dev/null || true
    REGISTRY_PID=
  fi
}
trap stop_registry EXIT

seconds() { # runs "$@" quietly and prints its wall time in seconds
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null 2>"$BENCH_DIR/last.stderr" || { cat "$BENCH_DIR/last.stderr" >&2; exit 1; }
  end=$(date +%s.%N)
  python3 -c "print(f'{$end - $start:.3f}')"
}

img_push() { IMG_PROGRESS=none "$IMG" push --request "$IMAGE/push.json" --registry "127.0.0.1:$PORT" --repository bench/img; }
skopeo_copy() { skopeo copy -q --dest-tls-verify=false "oci:$IMAGE/layout:bench" "docker://127.0.0.1:$PORT/bench/skopeo:bench"; }

declare -a IMG_COLD IMG_WARM SKOPEO_COLD SKOPEO_WARM
for run in $(seq 1 "$RUNS"); do
  start_registry
  IMG_COLD+=("$(seconds img_push)")
  for _ in $(seq 1 "$REPUSHES"); do IMG_WARM+=("$(seconds img_push)"); done
  stop_registry
  start_registry
  SKOPEO_COLD+=("$(seconds skopeo_copy)")
  for _ in $(seq 1 "$REPUSHES"); do SKOPEO_WARM+=("$(seconds skopeo_copy)"); done
  stop_registry
  echo "run $run: img cold ${IMG_COLD[-1]} s, unchanged ${IMG_WARM[-1]} s; skopeo cold ${SKOPEO_COLD[-1]} s, unchanged ${SKOPEO_WARM[-1]} s"
done

# Peak memory of a cold push: blobs are streamed, so it must not grow with the layer size.
if [[ -x /usr/bin/time ]]; then
  start_registry
  IMG_PROGRESS=none /usr/bin/time -v "$IMG" push --request "$IMAGE/push.json" --registry "127.0.0.1:$PORT" \
    --repository bench/img >/dev/null 2>"$BENCH_DIR/time.txt"
  stop_registry
  echo "img push peak RSS (cold, $LAYERS x $LAYER_MB MiB): $(awk '/Maximum resident/ {print $6}' "$BENCH_DIR/time.txt") KiB"
fi

python3 - "${IMG_COLD[*]}" "${IMG_WARM[*]}" "${SKOPEO_COLD[*]}" "${SKOPEO_WARM[*]}" "$BYTES" <<'PY'
import statistics, sys
img_cold, img_warm, sk_cold, sk_warm = (list(map(float, a.split())) for a in sys.argv[1:5])
size = int(sys.argv[5]) / 1e6
m = statistics.median
print()
print("| push of %.0f MB, %d runs (median) | img push | skopeo copy | img / skopeo | target |" % (size, len(img_cold)))
print("| --- | --- | --- | --- | --- |")
print("| cold (empty registry) | %.2f s (%.0f MB/s) | %.2f s (%.0f MB/s) | %.2f | <= 0.8 |" % (m(img_cold), size / m(img_cold), m(sk_cold), size / m(sk_cold), m(img_cold) / m(sk_cold)))
print("| unchanged re-push (%d samples) | %.3f s | %.3f s | %.2f | <= 0.2 |" % (len(img_warm), m(img_warm), m(sk_warm), m(img_warm) / m(sk_warm)))
print("runs (s): img cold %s, img unchanged %s, skopeo cold %s, skopeo unchanged %s" % (img_cold, img_warm, sk_cold, sk_warm))
PY
