#!/usr/bin/env bash
# Build benchmark: a cold build and a fully cached rebuild of a 3-step Dockerfile (FROM busybox,
# COPY 1 MiB, RUN) and of a 20-step one, through berthd (release) with the docker CLI's classic
# builder API, beside a real dockerd's legacy builder and its BuildKit (driven by Debian's docker
# 20.10 CLI, which still carries the BuildKit client) where installed, in one run.
#
#   bash bench/build.sh          # N=5 repetitions, medians
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-5}
ROOT=$(mktemp -d /tmp/berth-bbench.XXXXXX)
PIDS=()
cleanup() {
    set +e
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    grep " $ROOT" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l
    [[ -n "${NS:-}" ]] && ip netns del "$NS" 2>/dev/null
    rm -rf "$ROOT"
}
trap cleanup EXIT
cargo build --release -p berthd -p berth-shim -p berth-runc -q
BIN=$PWD/target/release

mkdir -p "$ROOT/rootfs/bin" "$ROOT/ctx3" "$ROOT/ctx20"
cp /bin/busybox "$ROOT/rootfs/bin/"
for a in sh true echo cat mkdir; do ln -s busybox "$ROOT/rootfs/bin/$a"; done
tar -C "$ROOT/rootfs" --owner=0 --group=0 -cf "$ROOT/busybox.tar" .
head -c 1048576 /dev/urandom >"$ROOT/ctx3/blob"
printf 'FROM busybox\nCOPY blob /blob\nRUN cat /blob > /dev/null && echo done > /done\n' >"$ROOT/ctx3/Dockerfile"
{
    echo "FROM busybox"
    for i in $(seq 1 9); do echo "ENV V$i=$i"; done
    for i in $(seq 1 5); do echo "RUN echo $i > /f$i"; done
    cp "$ROOT/ctx3/blob" "$ROOT/ctx20/blob"
    for i in $(seq 1 4); do echo "COPY blob /b$i"; done
    echo 'CMD ["sh"]'
} >"$ROOT/ctx20/Dockerfile"

median() { sort -n | awk '{a[NR]=$1} END {printf "%.3f\n", a[int((NR+1)/2)]}'; }
secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
# bench NAME DOCKER...: cold (with --no-cache) and cached builds of both contexts.
declare -A R
bench() {
    local name=$1
    shift
    for ctx in ctx3 ctx20; do
        R[$name,$ctx,cold]=$(for _ in $(seq "$N"); do secs "$@" build --no-cache -t "b-$ctx" "$ROOT/$ctx"; done | median)
        "$@" build -t "b-$ctx" "$ROOT/$ctx" >/dev/null 2>&1
        R[$name,$ctx,cached]=$(for _ in $(seq "$N"); do secs "$@" build -t "b-$ctx" "$ROOT/$ctx"; done | median)
    done
}

"$BIN/berthd" --data-root "$ROOT/data" --exec-root "$ROOT/exec" -H "unix://$ROOT/berth.sock" \
    --pidfile "$ROOT/berthd.pid" >"$ROOT/berthd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [[ -S $ROOT/berth.sock ]] && break; sleep 0.05; done
B=(env DOCKER_BUILDKIT=0 docker -H "unix://$ROOT/berth.sock")
"${B[@]}" import -c 'CMD ["sh"]' "$ROOT/busybox.tar" busybox >/dev/null
bench berth "${B[@]}"

if command -v dockerd >/dev/null; then
    NS=berthbb$$
    ip netns add "$NS"
    nsenter --net="/run/netns/$NS" dockerd --data-root "$ROOT/dockerd" --exec-root "$ROOT/dx" \
        -H "unix://$ROOT/d.sock" --pidfile "$ROOT/d.pid" >"$ROOT/dockerd.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 200); do docker -H "unix://$ROOT/d.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
    D=(env DOCKER_BUILDKIT=0 docker -H "unix://$ROOT/d.sock")
    "${D[@]}" import -c 'CMD ["sh"]' "$ROOT/busybox.tar" busybox >/dev/null && bench dockerd "${D[@]}"
    if [[ -x /usr/bin/docker ]]; then
        K=(env DOCKER_BUILDKIT=1 /usr/bin/docker -H "unix://$ROOT/d.sock")
        if "${K[@]}" build -q "$ROOT/ctx3" >/dev/null 2>&1; then
            bench buildkit "${K[@]}"
        else
            echo "dockerd's BuildKit could not build offline; row skipped" >&2
        fi
    fi
fi

printf '\n%-10s %12s %12s %12s %12s\n' engine "3-step cold" "3-step cached" "20-step cold" "20-step cached"
for e in berth dockerd buildkit; do
    [[ -n "${R[$e,ctx3,cold]:-}" ]] || continue
    printf '%-10s %12s %12s %12s %12s\n' "$e" "${R[$e,ctx3,cold]}" "${R[$e,ctx3,cached]}" "${R[$e,ctx20,cold]}" "${R[$e,ctx20,cached]}"
done
echo "(seconds, medians of $N, wall time of 'docker build' including the CLI and context upload; dockerd = legacy builder, buildkit = dockerd 20.10's BuildKit)"
