#!/usr/bin/env bash
# A WebGPU adapter for machines without a GPU, so that the WebGPU tests run instead of skipping:
# Mesa's lavapipe (Vulkan on the CPU) from Debian bookworm-backports. Dawn (the `webgpu` package,
# onnxruntime's WebGPU provider) needs Mesa 25's; bookworm's own Mesa 22 is too old for it.
#
#   bash tools/gpu/software-adapter.sh           # install if no adapter is found (root; idempotent)
#   bash tools/gpu/software-adapter.sh --check   # say what it would do, change nothing (also --dry-run)
#
# Nothing happens where WebGPU already finds an adapter (a real GPU, or lavapipe already installed).
# The backports entry reuses the URI of the machine's own Debian entry, so no host is named here.
# Exit status: 0 an adapter is there (or, with --check, nothing to do); 2 with --check: it would
# install; 1 it could not (not root, no Debian bookworm source, apt failed): WebGPU tests then skip.
set -euo pipefail
cd "$(dirname "$0")/../.."
# Where /etc is (tests point it at a fake one to check how the backports entry is derived).
etc=${SOFTWARE_ADAPTER_ETC:-/etc}
say() { echo "software-adapter: $*"; }
check=false
case "${1:-}" in
  --check | --dry-run) check=true ;;
  '') ;;
  *) echo "usage: $0 [--check]" >&2; exit 1 ;;
esac

# The project's own probe (core/gpu/webgpuAdapter.ts) where node_modules is installed; else whether
# lavapipe's driver file is where the Vulkan loader looks.
probe() {
  if [ -d node_modules/tsx ] && [ -d node_modules/webgpu ]; then
    node --import tsx -e "const p = require('./core/gpu/webgpuAdapter').probeWebGpu();
      console.log(p.found ? 'found ' + p.adapterClass + ' ' + require('./core/gpu/webgpuAdapter').adapterName(p.adapter) : 'none ' + p.reason)" 2>/dev/null ||
      echo 'none the probe failed'
  elif [ -n "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ] || compgen -G '/usr/share/vulkan/icd.d/lvp_icd*.json' >/dev/null; then
    echo 'found unprobed Vulkan driver file (node_modules not installed: not probed)'
  else
    echo 'none no lavapipe driver file in /usr/share/vulkan/icd.d'
  fi
}

found=$(probe)
if [[ $found == found* ]]; then
  $check && say "nothing to do: WebGPU adapter present (${found#found })"
  exit 0
fi
say "no WebGPU adapter (${found#none })"

if [ ! -r "$etc"/os-release ] || ! grep -q '^VERSION_CODENAME=bookworm' "$etc"/os-release; then
  say "not Debian 12 (bookworm): install Mesa >= 24's lavapipe (mesa-vulkan-drivers) yourself; WebGPU tests skip until then"
  exit 1
fi
backports=false
grep -rqs 'bookworm-backports' "$etc"/apt/sources.list "$etc"/apt/sources.list.d/ && backports=true
uri=''
if ! $backports; then
  uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' \
    "$etc"/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' "$etc"/apt/sources.list \
    "$etc"/apt/sources.list.d/*.list 2>/dev/null || true)
  if [ -z "$uri" ]; then
    say "no Debian bookworm source entry to derive bookworm-backports from"
    exit 1
  fi
fi
if $check; then
  $backports || say "would add $etc/apt/sources.list.d/backports.sources: $uri bookworm-backports main"
  say "would install mesa-vulkan-drivers libvulkan1 from bookworm-backports"
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  say "needs root to install (sudo bash $0)"
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! $backports; then
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" >"$etc"/apt/sources.list.d/backports.sources
fi
apt-get update -qq >/dev/null
apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
found=$(probe)
if [[ $found != found* ]]; then
  say "installed Mesa $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers), but still no adapter (${found#none })"
  exit 1
fi
say "installed Mesa $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers): ${found#found }"
