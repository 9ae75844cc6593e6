#!/usr/bin/env bash
# Registry throughput: skopeo push and pull of an image with one 200 MiB random layer against
# berth-registry (release build) and Debian's docker-registry (distribution 2.8), in one run.
#
#   bash bench/registry.sh                 # 200 MiB layer, 3 rounds, median
#   SIZE_MB=50 ROUNDS=1 bash bench/registry.sh
#   BERTH_REGISTRY=target/debug/berth-registry bash bench/registry.sh   # skip the release build
#
# The layer is a tar of random bytes, gzip -1'd once up front, so skopeo copies it verbatim
# (no recompression) and the timings measure the registries, not the client's compressor.
# Both registries store on the same filesystem (under $TMPDIR) and listen on 127.0.0.1. Besides
# skopeo (whose own digesting and file writes bound what any registry can show), a raw curl
# upload/download of the same layer measures the servers alone (skopeo's own CPU seconds are
# printed beside its rows). Last, `berth pull` through berthd
# and `docker pull` through a real dockerd (where installed) fetch the same image from
# berth-registry.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${SIZE_MB:-200}
ROUNDS=${ROUNDS:-3}
CURL_PULLS=${CURL_PULLS:-5}
ROOT=$(mktemp -d "${TMPDIR:-/tmp}/berth-regbench.XXXXXX")
PIDS=()
cleanup() {
    set +e
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    grep " $ROOT" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l
    rm -rf "$ROOT"
}
trap cleanup EXIT

command -v skopeo >/dev/null || { echo "skopeo is required (apt-get install skopeo)" >&2; exit 1; }
if ! command -v docker-registry >/dev/null; then
    echo "installing docker-registry (Debian's distribution 2.8)..." >&2
    apt-get install -y -q docker-registry >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q docker-registry >/dev/null)
fi
# The Debian package starts a system service on :5000; we run our own instances instead.

if [[ -z "${BERTH_REGISTRY:-}" ]]; then
    cargo build --release -p berth-registry -p berthd -p berth-cli -q
    BERTH_REGISTRY=$PWD/target/release/berth-registry
fi
BERTH_BIN=$(dirname "$BERTH_REGISTRY")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_up() { # poll /v2/ until it answers, 10 s deadline
    local url=$1 deadline=$((SECONDS + 10))
    until curl -fsS -o /dev/null "$url/v2/" 2>/dev/null; do
        (( SECONDS < deadline )) || { echo "registry at $url did not come up" >&2; exit 1; }
        sleep 0.05
    done
}

# --- the image: OCI layout with one gzip'd tar layer of SIZE_MB random bytes ---
SRC=$ROOT/src
mkdir -p "$SRC/blobs/sha256" "$ROOT/layer"
head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom > "$ROOT/layer/random.bin"
tar -C "$ROOT/layer" -cf "$ROOT/layer.tar" random.bin
rm -f "$ROOT/layer/random.bin"
DIFF_ID=$(sha256sum "$ROOT/layer.tar" | cut -d' ' -f1)
gzip -1 -c "$ROOT/layer.tar" > "$ROOT/layer.tar.gz"
rm -f "$ROOT/layer.tar"
LAYER=$(sha256sum "$ROOT/layer.tar.gz" | cut -d' ' -f1)
LAYER_SIZE=$(stat -c %s "$ROOT/layer.tar.gz")
mv "$ROOT/layer.tar.gz" "$SRC/blobs/sha256/$LAYER"
printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$DIFF_ID" > "$ROOT/config.json"
CONFIG=$(sha256sum "$ROOT/config.json" | cut -d' ' -f1)
CONFIG_SIZE=$(stat -c %s "$ROOT/config.json")
mv "$ROOT/config.json" "$SRC/blobs/sha256/$CONFIG"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    "$CONFIG" "$CONFIG_SIZE" "$LAYER" "$LAYER_SIZE" > "$ROOT/manifest.json"
MANIFEST=$(sha256sum "$ROOT/manifest.json" | cut -d' ' -f1)
MANIFEST_SIZE=$(stat -c %s "$ROOT/manifest.json")
mv "$ROOT/manifest.json" "$SRC/blobs/sha256/$MANIFEST"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"bench"}}]}' \
    "$MANIFEST" "$MANIFEST_SIZE" > "$SRC/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$SRC/oci-layout"

# --- registries ---
start_berth() {
    local port=$1 dir=$2
    mkdir -p "$dir"
    printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:%s\n' "$dir/data" "$port" > "$dir/config.yml"
    RUST_LOG=warn "$BERTH_REGISTRY" serve "$dir/config.yml" >"$dir/log" 2>&1 &
    PIDS+=($!)
    wait_up "http://127.0.0.1:$port"
}
start_distribution() {
    local port=$1 dir=$2
    mkdir -p "$dir"
    printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:%s\n' "$dir/data" "$port" > "$dir/config.yml"
    docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    PIDS+=($!)
    wait_up "http://127.0.0.1:$port"
}

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
stop_last() { local p=${PIDS[-1]}; kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; unset 'PIDS[-1]'; }

# bench KIND: prints medians "skopeo_push skopeo_pull curl_push curl_pull skopeo_push_cpu
# skopeo_pull_cpu" over ROUNDS (the last two: skopeo's own user+system CPU seconds). Every round
# uses a fresh registry on a fresh port and empty storage, so skopeo's blob-info cache (keyed by
# host:port) can never turn a push into a cross-repo mount.
bench() {
    local kind=$1 sp=() sl=() cp=() cl=() spc=() slc=()
    for ((i = 0; i < ROUNDS; i++)); do
        local port dir t0 t1 tp t2
        port=$(free_port)
        dir=$ROOT/$kind-$i
        "start_$kind" "$port" "$dir"
        local ref="docker://127.0.0.1:$port/bench/img:bench" out="$dir/pull"
        # Each timed step starts on a quiet disk: write-back and discards left by the step
        # before (this filesystem is mounted with online discard) are not billed to the next.
        sync
        t0=$(now)
        /usr/bin/time -o "$dir/cpu-push" -f '%U %S' \
            skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$SRC:bench" "$ref"
        t1=$(now)
        sync
        tp=$(now)
        /usr/bin/time -o "$dir/cpu-pull" -f '%U %S' \
            skopeo --insecure-policy copy -q --src-tls-verify=false "$ref" "oci:$out:bench"
        t2=$(now)
        # skopeo's own CPU seconds (user + system) for each transfer.
        spc+=("$(awk '{printf "%.2f", $1 + $2}' "$dir/cpu-push")")
        slc+=("$(awk '{printf "%.2f", $1 + $2}' "$dir/cpu-pull")")
        cmp -s "$out/blobs/sha256/$LAYER" "$SRC/blobs/sha256/$LAYER" || { echo "$kind: pulled layer differs" >&2; exit 1; }
        rm -rf "$out"
        # Raw HTTP: one monolithic upload and one download of the layer, without skopeo's overhead.
        # POST then PUT with the whole body (distribution 2.8 ignores a monolithic POST body).
        # These use curl's own transfer time (%{time_total}), leaving out its ~20 ms process
        # start, which would otherwise be a large share of a 0.1 s download.
        local loc sep post_s put_s
        sync
        loc=$(curl -fsS -D - -o /dev/null -w '%{stderr}%{time_total}' -X POST "http://127.0.0.1:$port/v2/bench/raw/blobs/uploads/" 2>"$dir/post-time" | tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')
        post_s=$(cat "$dir/post-time")
        [[ $loc == /* ]] && loc="http://127.0.0.1:$port$loc"
        [[ $loc == *\?* ]] && sep='&' || sep='?'
        # -T streams the file (--data-binary would read all of it into memory first).
        put_s=$(curl -fsS -o /dev/null -w '%{time_total}' -T "$SRC/blobs/sha256/$LAYER" -H 'Content-Type: application/octet-stream' -H 'Expect:' \
            "${loc}${sep}digest=sha256:$LAYER")
        # A download is ~0.1-0.2 s, where this VM's scheduling noise shows: take the median of
        # CURL_PULLS of them (all served from the page cache, for both registries alike).
        local gets=()
        for ((g = 0; g < CURL_PULLS; g++)); do
            gets+=("$(curl -fsS -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/v2/bench/raw/blobs/sha256:$LAYER")")
        done
        stop_last
        rm -rf "$dir"
        sp+=("$(echo "$t1 - $t0" | bc -l)")
        sl+=("$(echo "$t2 - $tp" | bc -l)")
        cp+=("$(echo "$post_s + $put_s" | bc -l)")
        cl+=("$(printf '%s\n' "${gets[@]}" | median)")
    done
    local col out=""
    for col in sp sl cp cl spc slc; do
        local -n vals=$col
        out+="$(printf '%s\n' "${vals[@]}" | median) "
    done
    echo "$out"
}

read -r B_SP B_SL B_CP B_CL B_SPC B_SLC < <(bench berth)
read -r D_SP D_SL D_CP D_CL D_SPC D_SLC < <(bench distribution)

MB=$(echo "$LAYER_SIZE / 1048576" | bc -l)
mbs() { echo "$MB / $1" | bc -l | xargs printf '%.1f'; }
row() { # row NAME CLIENT PUSH_S PULL_S [PUSH_CPU PULL_CPU]
    printf '%-34s %-7s %9.3f %9s %9.3f %9s %11s %11s\n' "$1" "$2" "$3" "$(mbs "$3")" "$4" "$(mbs "$4")" "${5:--}" "${6:--}"
}
DIST_VERSION=$(docker-registry --version 2>/dev/null | awk '{print $3}')
printf '\npush/pull of one %.0f MiB layer, median of %d rounds (fresh registry per round)\n' "$MB" "$ROUNDS"
printf '%-34s %-7s %9s %9s %9s %9s %11s %11s\n' registry client "push s" "push MB/s" "pull s" "pull MB/s" "client cpu↑" "client cpu↓"
row "berth-registry ($(basename "$(dirname "$BERTH_REGISTRY")"))" skopeo "$B_SP" "$B_SL" "$B_SPC" "$B_SLC"
row "docker-registry $DIST_VERSION" skopeo "$D_SP" "$D_SL" "$D_SPC" "$D_SLC"
row "berth-registry ($(basename "$(dirname "$BERTH_REGISTRY")"))" curl "$B_CP" "$B_CL"
row "docker-registry $DIST_VERSION" curl "$D_CP" "$D_CL"
printf '\nspeedup berth/distribution (target >= 2x): skopeo push %.2fx, pull %.2fx; curl push %.2fx, pull %.2fx\n' \
    "$(echo "$D_SP / $B_SP" | bc -l)" "$(echo "$D_SL / $B_SL" | bc -l)" \
    "$(echo "$D_CP / $B_CP" | bc -l)" "$(echo "$D_CL / $B_CL" | bc -l)"

# --- engine pulls: `berth pull` through berthd beside `docker pull` through a real dockerd, of the
# same image from one berth-registry on 127.0.0.1 (both engines treat loopback registries as
# insecure). Each round removes the image first, so every pull fetches, verifies and unpacks the
# whole layer. dockerd runs with no bridge and no iptables, so it leaves the host's network alone.
port=$(free_port)
start_berth "$port" "$ROOT/pullreg"
REF="127.0.0.1:$port/bench/img:bench"
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$SRC:bench" "docker://$REF"

pull_rounds() { # pull_rounds CLI...: median seconds of ROUNDS cold pulls of $REF
    local t=()
    for ((i = 0; i < ROUNDS; i++)); do
        "$@" rmi -f "$REF" >/dev/null 2>&1 || true
        sync
        local s e
        s=$(now)
        "$@" pull -q "$REF" >/dev/null
        e=$(now)
        t+=("$(echo "$e - $s" | bc -l)")
    done
    printf '%s\n' "${t[@]}" | median
}

"$BERTH_BIN/berthd" --data-root "$ROOT/berthd" --exec-root "$ROOT/berthd-exec" -H "unix://$ROOT/berthd.sock" \
    --pidfile "$ROOT/berthd.pid" >"$ROOT/berthd.log" 2>&1 &
PIDS+=($!)
deadline=$((SECONDS + 20))
until "$BERTH_BIN/berth" -H "unix://$ROOT/berthd.sock" version >/dev/null 2>&1; do
    (( SECONDS < deadline )) || { echo "berthd did not come up" >&2; exit 1; }
    sleep 0.05
done
B_PULL=$(pull_rounds "$BERTH_BIN/berth" -H "unix://$ROOT/berthd.sock")
D_PULL=-
if command -v dockerd >/dev/null; then
    dockerd --data-root "$ROOT/dockerd" --exec-root "$ROOT/dockerd-exec" -H "unix://$ROOT/dockerd.sock" \
        --pidfile "$ROOT/dockerd.pid" --bridge=none --iptables=false --ip-masq=false \
        >"$ROOT/dockerd.log" 2>&1 &
    PIDS+=($!)
    deadline=$((SECONDS + 30))
    until docker -H "unix://$ROOT/dockerd.sock" version >/dev/null 2>&1; do
        (( SECONDS < deadline )) || { echo "dockerd did not come up" >&2; exit 1; }
        sleep 0.1
    done
    D_PULL=$(pull_rounds docker -H "unix://$ROOT/dockerd.sock")
fi
printf '\npull of the same image through an engine, median of %d cold pulls (target for berth <= 1 s)\n' "$ROUNDS"
printf '%-34s %9s\n' engine "pull s"
printf '%-34s %9.3f\n' "berth pull -> berthd" "$B_PULL"
if [[ $D_PULL == - ]]; then
    printf '%-34s %9s\n' "docker pull -> dockerd" "-"
else
    printf '%-34s %9.3f\n' "docker pull -> dockerd $(dockerd --version | awk '{print $3}' | tr -d ,)" "$D_PULL"
fi
