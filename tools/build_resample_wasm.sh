#!/usr/bin/env bash
# Rebuilds core/image/wasm/resample.wasm from resample.c (clang + lld with the wasm32 target, e.g.
# Debian's clang-14 and lld-14). The binary is committed so that nothing else needs clang;
# tests/core/image/resampleWasm.test.ts rebuilds it when clang is present and checks the bytes match.
#   tools/build_resample_wasm.sh [OUT]        (OUT defaults to core/image/wasm/resample.wasm)
set -euo pipefail
dir="$(cd "$(dirname "$0")/.." && pwd)/core/image/wasm"
out="${1:-$dir/resample.wasm}"
"${CLANG:-clang}" --target=wasm32 -msimd128 -O3 -nostdlib -fno-builtin \
  -Wl,--no-entry -Wl,--export=horizontal -Wl,--export=vertical -Wl,--export=__heap_base \
  -Wl,--import-memory -Wl,--strip-all -o "$out" "$dir/resample.c"
