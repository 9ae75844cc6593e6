#!/usr/bin/env bash
# Makes the image `registry:2` (and `berth-registry:latest`) from our berth-registry binary, so
# `berth run -d -p 5000:5000 --name registry registry:2` works offline as it does with Docker Hub's
# image: filesystem storage in the volume /var/lib/registry, config at
# /etc/docker/registry/config.yml, port 5000.
#
#   bash scripts/registry-image.sh [path/to/berth-registry]   (default: target/release, then debug)
#
# Talks to the daemon through $DOCKER_HOST / $BERTH_HOST like the berth CLI does.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-}
if [[ -z "$BIN" ]]; then
    for b in target/release/berth-registry target/debug/berth-registry; do
        [[ -x $b ]] && BIN=$b && break
    done
fi
[[ -x "$BIN" ]] || { echo "berth-registry binary not found; build it with cargo build -p berth-registry" >&2; exit 1; }
BERTH=${BERTH:-}
if [[ -z "$BERTH" ]]; then
    for b in target/release/berth target/debug/berth; do
        [[ -x $b ]] && BERTH=$b && break
    done
fi

ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT"/{bin,etc/docker/registry,var/lib/registry,tmp}
chmod 1777 "$ROOT/tmp"
cp "$BIN" "$ROOT/bin/berth-registry"
# The binary is dynamically linked: carry its libraries (and the loader) at their host paths.
for lib in $(ldd "$BIN" | grep -o '/[^ ]*'); do
    mkdir -p "$ROOT$(dirname "$lib")"
    cp -L "$lib" "$ROOT$lib"
done
cat >"$ROOT/etc/docker/registry/config.yml" <<'EOF'
version: 0.1
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
EOF
tar -C "$ROOT" --owner=0 --group=0 -cf - . | "$BERTH" import \
    -c 'ENTRYPOINT ["/bin/berth-registry", "serve"]' \
    -c 'CMD ["/etc/docker/registry/config.yml"]' \
    -c 'EXPOSE 5000' \
    -c 'VOLUME ["/var/lib/registry"]' \
    - berth-registry:latest
"$BERTH" tag berth-registry:latest registry:2
