#!/usr/bin/env bash
# Layer engine benchmark: `img layer` against tar | pigz, tar | zstd and plain tar on a ~1 GB tree,
# plus peak RSS of the gzip layer at two input sizes.
#
#   bench/layer.sh                 # data in $BENCH_DIR (default /tmp/img-bench-layer), kept between runs
#   RUNS=5 bench/layer.sh          # more hyperfine runs (default 3)
#
# Installs nothing. Needs: cargo, GNU tar, pigz, zstd, hyperfine, python3, /usr/bin/time
# (apt-get install -y pigz zstd hyperfine time python3). Results are printed; docs/performance.md
# ("Layers") records a run.
set -euo pipefail

BENCH_DIR=${BENCH_DIR:-/tmp/img-bench-layer}
RUNS=${RUNS:-3}
REPO=$(cd "$(dirname "$0")/.." && pwd)

missing=()
for tool in cargo tar pigz zstd hyperfine python3; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[[ -x /usr/bin/time ]] || missing+=("/usr/bin/time (package: time)")
if ((${#missing[@]})); then
  echo "bench/layer.sh: missing ${missing[*]}; install with: apt-get install -y pigz zstd hyperfine time python3" >&2
  exit 1
fi

DATA=$BENCH_DIR/data
OUT=$BENCH_DIR/out
mkdir -p "$BENCH_DIR" "$OUT"

# --- Data (environment.md §6): ~20,000 small files from /usr/share and /usr/lib, and three ~280 MB
# files: concatenated ELF binaries, random-word text, and 1 MiB blocks of random / zeros / patterns.
if [[ ! -f $DATA/.complete ]]; then
  echo "== generating data in $DATA"
  rm -rf "$DATA"
  mkdir -p "$DATA/small" "$DATA/large"
  # `head` ends these pipelines early on purpose: the SIGPIPE of the writers is not a failure.
  set +o pipefail
  find /usr/share /usr/lib -type f -size -256k -readable 2>/dev/null | sort | head -n 20000 |
    python3 -c '
import os, shutil, sys
dest = sys.argv[1]
for i, line in enumerate(sys.stdin):
    src = line.rstrip("\n")
    sub = os.path.join(dest, "%03d" % (i % 200))
    os.makedirs(sub, exist_ok=True)
    try:
        shutil.copyfile(src, os.path.join(sub, "%05d-%s" % (i, os.path.basename(src))))
    except OSError:
        pass
' "$DATA/small"
  find /usr/bin /usr/lib /usr/libexec -type f -size +16k 2>/dev/null | sort | while read -r f; do
    if head -c 4 "$f" 2>/dev/null | grep -q 'ELF'; then cat "$f"; fi
  done | head -c 280000000 > "$DATA/large/binaries.elf"
  python3 - "$DATA/large" <<'PY'
import os, random, sys
out = sys.argv[1]
rng = random.Random(42)
syllables = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "an", "el", "or", "ix", "um", "ve", "da"]
vocabulary = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(20000)]
with open(os.path.join(out, "words.txt"), "w") as f:
    written = 0
    while written < 280_000_000:
        line = " ".join(rng.choices(vocabulary, k=12)) + "\n"
        f.write(line)
        written += len(line)
pattern = bytes(rng.getrandbits(8) for _ in range(4096))
with open(os.path.join(out, "blocks.bin"), "wb") as f:
    for i in range(270):
        kind = i % 3
        if kind == 0:
            f.write(rng.randbytes(1 << 20))
        elif kind == 1:
            f.write(bytes(1 << 20))
        else:
            f.write(pattern * 256)
PY
  set -o pipefail
  touch "$DATA/.complete"
fi
DATA_BYTES=$(tar -cf - -C "$DATA" small large | wc -c)
SMALL_BYTES=$(tar -cf - -C "$DATA" small | wc -c)
echo "== data: $(find "$DATA" -type f | wc -l) files, tar of all: $DATA_BYTES bytes, tar of small/: $SMALL_BYTES bytes"

# --- The release binary.
echo "== building img (release)"
(cd "$REPO" && cargo build --release -p img --quiet)
IMG=${CARGO_TARGET_DIR:-$REPO/target}/release/img
[[ -x $IMG ]] || { echo "bench/layer.sh: $IMG not found after the build" >&2; exit 1; }

# --- Requests: the data directory as one tree artifact (like `tar -C $BENCH_DIR data`).
printf 'data\0data\0s%s\n' "$DATA" > "$BENCH_DIR/all.srcs"
printf 'data\0data\0s%s\n' "$DATA/small" > "$BENCH_DIR/small.srcs"
request() { # name compress level srcs
  cat > "$BENCH_DIR/$1.json" <<EOF
{"created_by":"bench","compress":"$2","compression_level":$3,"compression_jobs":2,"estargz":false,
 "create_parent_directories":false,"media_type":null,"annotations":{},"annotations_file":null,
 "default_metadata":null,"file_metadata":{},"srcs":"$BENCH_DIR/$4.srcs","multi_file_layout":"package_relative",
 "executables":[],"symlinks":{}}
EOF
}
request gzip gzip 6 all
request zstd zstd 3 all
request none none null all
request gzip-small gzip 6 small
sed 's/"estargz":false/"estargz":true/' "$BENCH_DIR/gzip.json" > "$BENCH_DIR/estargz.json"
sed 's/"estargz":false/"estargz":true/' "$BENCH_DIR/gzip-small.json" > "$BENCH_DIR/estargz-small.json"
layer() { echo "$IMG layer --request $BENCH_DIR/$1.json --output blob=$OUT/$1.blob --output metadata=$OUT/$1.meta.json"; }

compare() { # title, ours, reference, our output, reference output
  echo
  echo "== $1"
  hyperfine --runs "$RUNS" --warmup 1 --export-json "$BENCH_DIR/$1.json.out" -n img "$2" -n reference "$3"
  python3 - "$BENCH_DIR/$1.json.out" "$4" "$5" <<'PY'
import json, os, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
ours, ref = results["img"]["median"], results["reference"]["median"]
print(f"median wall: img {ours:.2f} s, reference {ref:.2f} s, ratio {ours / ref:.2f}x")
a, b = os.path.getsize(sys.argv[2]), os.path.getsize(sys.argv[3])
print(f"size: img {a} bytes, reference {b} bytes, ratio {a / b:.4f}x")
PY
}

cd "$BENCH_DIR"
compare "gzip level 6, 2 jobs" "$(layer gzip)" "tar -cf - data | pigz -p2 -6 > $OUT/ref.tgz" "$OUT/gzip.blob" "$OUT/ref.tgz"
compare "zstd level 3, 2 threads" "$(layer zstd)" "tar -cf - data | zstd -q -T2 -3 > $OUT/ref.tar.zst" "$OUT/zstd.blob" "$OUT/ref.tar.zst"
compare "uncompressed" "$(layer none)" "tar -cf $OUT/ref.tar data" "$OUT/none.blob" "$OUT/ref.tar"

echo
echo "== peak RSS (/usr/bin/time -v); *-small = the small files only (same file count, 1/5 of the bytes)"
for name in gzip-small gzip zstd estargz-small estargz; do
  # shellcheck disable=SC2046
  /usr/bin/time -v $(layer "$name") 2> "$BENCH_DIR/$name.time"
  rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$BENCH_DIR/$name.time")
  wall=$(awk -F': ' '/Elapsed \(wall/ {print $2}' "$BENCH_DIR/$name.time")
  input=$([[ $name == *-small ]] && echo "$SMALL_BYTES" || echo "$DATA_BYTES")
  echo "$name: input tar $input bytes, peak RSS ${rss} KB, wall $wall"
done
echo
echo "== metadata of the gzip layer"
cat "$OUT/gzip.meta.json"
