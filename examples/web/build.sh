#!/usr/bin/env bash
# Builds the page's WebAssembly module and puts it, with the bundled model, into www/:
#   www/flowmap_web.wasm                 (wasm-opt -O3 when wasm-opt is on PATH)
#   www/models/checkerboard.safetensors  (copy of examples/models/checkerboard.safetensors)
# Then serve www/ with any static server, e.g.
#   python3 -m http.server -d examples/web/www -b 127.0.0.1 8000
set -euo pipefail
cd "$(dirname "$0")"
cargo build --quiet --release --lib --target wasm32-unknown-unknown
wasm=target/wasm32-unknown-unknown/release/flowmap_web.wasm
if command -v wasm-opt >/dev/null; then
  # Size and speed only: wasm-opt keeps IEEE float semantics unless told --fast-math.
  # The features rustc's wasm32-unknown-unknown target emits by default, and SIMD
  # (.cargo/config.toml).
  wasm-opt -O3 --enable-simd --enable-bulk-memory --enable-multivalue --enable-mutable-globals \
    --enable-nontrapping-float-to-int --enable-reference-types --enable-sign-ext \
    "$wasm" -o www/flowmap_web.wasm
else
  cp "$wasm" www/flowmap_web.wasm
fi
mkdir -p www/models
cp ../models/checkerboard.safetensors www/models/
echo "[web] www/flowmap_web.wasm: $(wc -c < www/flowmap_web.wasm) bytes (raw build: $(wc -c < "$wasm"))"
