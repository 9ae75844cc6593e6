#!/usr/bin/env bash
# The main job: install what berth needs, build release binaries, start berthd with its defaults
# (data root /var/lib/berth, socket /run/berth/berth.sock, overlay snapshots), make a busybox
# image from the host's static busybox (no registry needed), and run a container from it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --release --workspace --bins
BIN="$PWD/target/release"
SOCK=/run/berth/berth.sock

if ! "$BIN/berth" version >/dev/null 2>&1; then
  mkdir -p /var/log
  nohup "$BIN/berthd" >/var/log/berthd.log 2>&1 &
  echo "started berthd (pid $!), log in /var/log/berthd.log"
  for _ in $(seq 1 200); do
    [ -S "$SOCK" ] && "$BIN/berth" version >/dev/null 2>&1 && break
    sleep 0.05
  done
fi

if ! "$BIN/berth" image inspect busybox >/dev/null 2>&1; then
  ROOTFS=$(mktemp -d)
  trap 'rm -rf "$ROOTFS"' EXIT
  mkdir -p "$ROOTFS"/{bin,etc,tmp,root,proc,sys,dev,var,home}
  chmod 1777 "$ROOTFS/tmp"
  cp /bin/busybox "$ROOTFS/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$ROOTFS/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$ROOTFS/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOTFS/etc/group"
  tar -C "$ROOTFS" -cf - . | "$BIN/berth" import -c 'CMD ["sh"]' - busybox
fi

"$BIN/berth" run --rm busybox echo hello from berth
