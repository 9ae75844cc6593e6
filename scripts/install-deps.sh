#!/usr/bin/env bash
# Installs the Debian packages berth needs to build, run and be tested. Idempotent.
set -euo pipefail
pkgs=(busybox-static libseccomp-dev libelf-dev pkg-config runc tini iptables jq skopeo docker-registry apache2-utils bc)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The registry's S3 backend is tested against a local moto server (PyPI).
if ! command -v moto_server >/dev/null 2>&1; then
  python3 -m pip install -q 'moto[server]' || echo "moto not installed: the S3 test will be skipped" >&2
fi
