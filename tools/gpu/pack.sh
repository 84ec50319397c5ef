#!/bin/bash
# Bundles what a GPU machine without Node or registry access needs to run this project (README:
# "GPU without CUDA"): Node (and a stand-in for `npm run`), the production node_modules (WebGPU packages included, Linux
# x64 binaries only), autocannon for the serving figures, and the Vulkan loader (Debian's libvulkan1)
# that Dawn loads. Run from the project root on a Linux x64 machine with registry access:
#   bash tools/gpu/pack.sh                    # everything: training, serving, gpu:check
#   DROP="onnxruntime-node" bash tools/gpu/pack.sh          # training only (smaller)
#   DROP="webgpu @tensorflow/tfjs-backend-webgpu" bash tools/gpu/pack.sh   # serving only
# It writes .device-carry/ (git-ignored through .git/info/exclude). Copy the project with that folder
# to the GPU machine and there, from the project root:
#   . .device-carry/setup.sh && npm run gpu:check
# The GPU driver must provide a Vulkan ICD; VK_DRIVER_FILES points the loader at it (default: the
# NVIDIA container path below; set it before sourcing setup.sh to use another).
set -euo pipefail
[ -f package.json ] && [ -f bench/gpuCheck.ts ] || { echo "pack.sh: run from the project root" >&2; exit 2; }
OUT=$PWD/.device-carry
EXCLUDE=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$EXCLUDE")"
grep -qxF '/.device-carry/' "$EXCLUDE" 2>/dev/null || echo '/.device-carry/' >>"$EXCLUDE"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp package.json package-lock.json "$WORK"/
AUTOCANNON=$(node -p "require('./package-lock.json').packages['node_modules/autocannon'].version")
echo "installing production dependencies (+ autocannon@$AUTOCANNON) in $WORK"
(
  cd "$WORK"
  # No install scripts: the Linux x64 binaries come prebuilt (as in deploy/Dockerfile), and the
  # project's own postinstall (onnxruntime's CUDA providers) has no business here.
  npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error
  # autocannon is a dev dependency (which --omit=dev leaves out even when named): install it on its
  # own and nest its dependencies under it, so that they never replace the project's versions.
  mkdir extra && cd extra && echo '{}' >package.json
  npm install --ignore-scripts --no-audit --no-fund --loglevel=error "autocannon@$AUTOCANNON"
) >"$WORK/npm.log" 2>&1 || { tail -20 "$WORK/npm.log" >&2; echo "pack.sh: npm install failed" >&2; exit 1; }

NM=$WORK/node_modules
mv "$WORK/extra/node_modules/autocannon" "$NM/autocannon"
mkdir -p "$NM/autocannon/node_modules"
for dep in "$WORK"/extra/node_modules/*; do
  [ -e "$NM/autocannon/node_modules/$(basename "$dep")" ] || mv "$dep" "$NM/autocannon/node_modules/"
done
rm -rf "$WORK/extra"
for pkg in ${DROP:-}; do rm -rf "${NM:?}/$pkg"; done
# Other platforms' native binaries (sharp, onnxruntime-node, webgpu, esbuild).
find "$NM" -depth -type d \( -name 'darwin*' -o -name 'win32*' -o -name 'linux-arm*' -o -name '*musl*' -o -name arm64 \) \
  -exec rm -rf {} + 2>/dev/null || true
rm -rf "$NM"/@img/sharp-*darwin* "$NM"/@img/sharp-*win32* "$NM"/@img/sharp-*arm* 2>/dev/null || true
for d in "$NM"/@esbuild/*; do [ "$(basename "$d")" = linux-x64 ] || rm -rf "$d"; done
# tfjs packages: Node loads only dist/*.node.js and the wasm binaries.
for p in "$NM"/@tensorflow/*/; do
  [ -d "$p/dist" ] || continue
  find "$p/dist" -type f ! -name '*.node.js' ! -name '*.wasm' -delete
  find "$p/dist" -depth -type d -empty -delete
done
# Not loaded at run time: core-js (tfjs's browser polyfills) and protobufjs's command-line tools.
rm -rf "$NM/core-js" "$NM/protobufjs/cli"
find "$NM" -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.md' -o -name '*.markdown' \) -delete
find "$NM" -depth -type d \( -name test -o -name tests -o -name __tests__ -o -name docs -o -name example -o -name examples \) \
  -exec rm -rf {} + 2>/dev/null || true

# Node, and in place of npm (1.6 MB packed, more than the 64 MiB carry limit leaves) a stand-in that
# runs package.json scripts: `npm run [-s] <name> [-- args]`.
mkdir -p "$WORK/bin"
cp "$(command -v node)" "$WORK/bin/node"
strip "$WORK/bin/node" 2>/dev/null || true
cat >"$WORK/bin/npm-run.js" <<'NPMRUN'
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const args = process.argv.slice(2).filter((a) => a !== '-s' && a !== '--silent');
if (!['run', 'run-script'].includes(args[0]) || !args[1]) {
  console.error('npm (carried stand-in): only `npm run <script> [-- args]` is available here');
  process.exit(1);
}
const script = (require(path.resolve('package.json')).scripts || {})[args[1]];
if (!script) {
  console.error(`npm (carried stand-in): no script '${args[1]}' in package.json`);
  process.exit(1);
}
const rest = args[2] === '--' ? args.slice(3) : args.slice(2);
const quoted = rest.map((a) => `'${a.replace(/'/g, `'\\''`)}'`);
const env = { ...process.env, PATH: `${path.resolve('node_modules/.bin')}:${process.env.PATH}` };
const r = spawnSync('/bin/sh', ['-c', [script, ...quoted].join(' ')], { stdio: 'inherit', env });
process.exit(r.status === null ? 1 : r.status);
NPMRUN
printf '#!/bin/sh\nexec "$(dirname "$0")/node" "$(dirname "$0")/npm-run.js" "$@"\n' >"$WORK/bin/npm"
chmod +x "$WORK/bin/npm"

rm -rf "$OUT"
mkdir -p "$OUT/debs"
(cd "$WORK" && tar cf - bin node_modules | xz -T0 -9e) >"$OUT/bundle.tar.xz"
(cd "$OUT/debs" && apt-get download libvulkan1 >/dev/null 2>&1) ||
  echo "pack.sh: warning: apt-get download libvulkan1 failed (run apt-get update); the GPU machine then needs its own loader" >&2

cat >"$OUT/setup.sh" <<'SETUP'
# Source from the project root on the GPU machine: Vulkan loader, Node + npm, node_modules.
_carry=/tmp/cyclegan-ts-carry
mkdir -p "$_carry/root"
for _deb in .device-carry/debs/*.deb; do [ -e "$_deb" ] && dpkg -x "$_deb" "$_carry/root"; done
export LD_LIBRARY_PATH="$_carry/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export VK_DRIVER_FILES="${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}"
tar xJf .device-carry/bundle.tar.xz -C "$_carry"
export PATH="$_carry/bin:$PATH"
[ -e node_modules ] || ln -s "$_carry/node_modules" node_modules
node --version >/dev/null && echo "setup: node $(node --version), VK_DRIVER_FILES=$VK_DRIVER_FILES"
SETUP

TREE=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
CARRY=$(du -sb "$OUT" | cut -f1)
echo "packed .device-carry: $((CARRY / 1048576)) MiB; with the working tree: $(((CARRY + TREE) / 1048576)) MiB"
