#!/usr/bin/env bash
# Container lifecycle benchmark: berthd (release build) beside runc/crun run directly, podman and
# a real dockerd where installed, in one run on the same busybox rootfs. Prints one table.
#
#   bash bench/engine.sh            # N=20 iterations per measurement
#   N=50 bash bench/engine.sh
#
# Measures (median seconds unless noted): `run --rm busybox true`, the same with --network none,
# `exec true` into a running container, 100x `run -d` (total), `rm -f` of those 100 (total), and
# memory: berthd RSS and the RSS of one idle container's shim.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-20}
ROOT=$(mktemp -d /tmp/berth-bench.XXXXXX)
SOCK=$ROOT/berth.sock
PIDS=()
cleanup() {
    set +e
    DOCKER_HOST=unix://$SOCK docker rm -f $(DOCKER_HOST=unix://$SOCK docker ps -aq 2>/dev/null) >/dev/null 2>&1
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    if [[ -n "${DOCKERD_PID:-}" ]]; then
        docker -H "unix://$ROOT/dockerd.sock" rm -f $(docker -H "unix://$ROOT/dockerd.sock" ps -aq) >/dev/null 2>&1
        kill "$DOCKERD_PID" 2>/dev/null
        wait "$DOCKERD_PID" 2>/dev/null
        ip netns del "$NS" 2>/dev/null
    fi
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    grep " $ROOT" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l
    rm -rf "$ROOT"
}
trap cleanup EXIT

cargo build --release --workspace --bins -q
BIN=$PWD/target/release

# A busybox rootfs tar (uid/gid 0), the same one for every engine.
mkdir -p "$ROOT/rootfs/bin"
cp /bin/busybox "$ROOT/rootfs/bin/"
for a in sh true sleep echo; do ln -s busybox "$ROOT/rootfs/bin/$a"; done
tar -C "$ROOT/rootfs" --owner=0 --group=0 -cf "$ROOT/busybox.tar" .

"$BIN/berthd" --data-root "$ROOT/data" --exec-root "$ROOT/exec" -H "unix://$SOCK" \
    --pidfile "$ROOT/berthd.pid" >"$ROOT/berthd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [[ -S $SOCK ]] && break; sleep 0.05; done
export DOCKER_HOST=unix://$SOCK
docker import -c 'CMD ["sh"]' "$ROOT/busybox.tar" busybox >/dev/null

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) {print "-"} else {printf "%.3f\n", a[int((NR+1)/2)]}}'; }
# time_n CMD...: median wall seconds of N runs.
time_n() {
    for _ in $(seq "$N"); do
        local s e
        s=$(date +%s.%N)
        "$@" >/dev/null 2>&1 || { echo fail; return; }
        e=$(date +%s.%N)
        echo "$e - $s" | bc -l
    done | median
}
total() {
    local s e
    s=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    e=$(date +%s.%N)
    printf '%.3f\n' "$(echo "$e - $s" | bc -l)"
}
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo -; }

declare -A R
# http_bench PREFIX CLI...: seconds for 200 sequential GETs through a published port.
http_bench() {
    local prefix=$1
    shift
    "$@" run -d --name bench-http -p 18999:80 busybox sh -c 'head -c 1024 /dev/zero > /f; httpd -f -p 80 -h /' >/dev/null
    for _ in $(seq 100); do $prefix curl -fs -o /dev/null http://127.0.0.1:18999/f && break; sleep 0.05; done
    local s e
    s=$(date +%s.%N)
    for _ in $(seq 200); do $prefix curl -fs -o /dev/null http://127.0.0.1:18999/f; done
    e=$(date +%s.%N)
    "$@" rm -f bench-http >/dev/null
    printf '%.3f\n' "$(echo "$e - $s" | bc -l)"
}
bench_engine() { # name cli...
    local name=$1
    shift
    R[$name,run]=$(time_n "$@" run --rm busybox true)
    R[$name,none]=$(time_n "$@" run --rm --network none busybox true)
    "$@" run -d --name bench-exec busybox sleep 1000 >/dev/null
    R[$name,exec]=$(time_n "$@" exec bench-exec true)
    "$@" rm -f bench-exec >/dev/null
    many() { for i in $(seq 100); do "$@" run -d --network none busybox sleep 1000 || return 1; done; }
    R[$name,run100]=$(total many "$@")
    rmall() { "$@" rm -f $("$@" ps -aq); }
    R[$name,rm100]=$(total rmall "$@")
}

bench_engine berth docker
bench_engine berth-cli "$BIN/berth"
R[berth,http]=$(http_bench "" docker)
R[berth,rss]=$(rss_kib "$(cat "$ROOT/berthd.pid")")
docker run -d --name bench-idle busybox sleep 1000 >/dev/null
shim=$(pgrep -f "berth-shim.*$(docker inspect -f '{{.Id}}' bench-idle)" | head -1 || true)
R[berth,shim]=$( [[ -n "$shim" ]] && rss_kib "$shim" || echo -)
docker rm -f bench-idle >/dev/null

# The OCI runtimes alone on the same rootfs (no daemon): the floor any engine sits on.
mkdir -p "$ROOT/bundle"
cp -a "$ROOT/rootfs" "$ROOT/bundle/rootfs"
(cd "$ROOT/bundle" && runc spec && jq '.process.terminal = false | .process.args = ["true"] | del(.process.rlimits)' config.json >c.json && mv c.json config.json)
for rt in runc "$BIN/berth-runc"; do
    name=$(basename "$rt")
    i=0
    R[$name,run]=$(cd "$ROOT/bundle" && time_n bash -c "$rt --root $ROOT/rt-$name run b\$RANDOM\$RANDOM")
done

if command -v podman >/dev/null; then
    P=(podman --root "$ROOT/podman" --runroot "$ROOT/podman-run" --runtime runc --cgroup-manager cgroupfs --events-backend none)
    # podman's default nofile/nproc limits are above this host's hard limits: pass ours.
    podman_b() {
        if [[ $1 == run ]]; then
            shift
            "${P[@]}" run --ulimit "nofile=1024:1024" --ulimit "nproc=4096:4096" "$@"
        else
            "${P[@]}" "$@"
        fi
    }
    "${P[@]}" import -c 'CMD ["sh"]' "$ROOT/busybox.tar" busybox >/dev/null 2>&1 && bench_engine podman podman_b
fi
if command -v dockerd >/dev/null; then
    # dockerd runs in a network namespace of its own, so its bridge and iptables rules stay
    # off the host; its published ports are reached from inside that namespace.
    NS=berthbench$$
    ip netns add "$NS"
    ip -n "$NS" link set lo up
    nsenter --net="/run/netns/$NS" dockerd --data-root "$ROOT/dockerd" --exec-root "$ROOT/dockerd-exec" \
        -H "unix://$ROOT/dockerd.sock" --pidfile "$ROOT/dockerd.pid" >"$ROOT/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 200); do [[ -S $ROOT/dockerd.sock ]] && docker -H "unix://$ROOT/dockerd.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
    D=(docker -H "unix://$ROOT/dockerd.sock")
    if "${D[@]}" import -c 'CMD ["sh"]' "$ROOT/busybox.tar" busybox >/dev/null 2>&1; then
        bench_engine dockerd "${D[@]}"
        R[dockerd,rss]=$(rss_kib "$DOCKERD_PID")
        R[dockerd,http]=$(http_bench "nsenter --net=/run/netns/$NS" "${D[@]}")
    fi
fi

printf '\n%-12s %10s %10s %10s %12s %12s %12s %12s %10s\n' engine "run --rm" "net none" exec "100x run -d" "rm -f 100" "daemon KiB" "shim KiB" "200 GETs"
for e in berth berth-cli podman dockerd runc berth-runc; do
    [[ -n "${R[$e,run]:-}" ]] || continue
    printf '%-12s %10s %10s %10s %12s %12s %12s %12s %10s\n' "$e" "${R[$e,run]}" "${R[$e,none]:--}" "${R[$e,exec]:--}" \
        "${R[$e,run100]:--}" "${R[$e,rm100]:--}" "${R[$e,rss]:--}" "${R[$e,shim]:--}" "${R[$e,http]:--}"
done
echo "(seconds; medians of $N runs; run --rm uses the default bridge; 100x columns and 200 GETs (1 KiB, through -p on 127.0.0.1) are totals; berth = docker CLI -> berthd, berth-cli = berth CLI -> berthd; runc/berth-runc = 'run' of a bare bundle)"
