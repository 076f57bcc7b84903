#!/usr/bin/env bash
# Makes everything the build needs available on a fresh machine, idempotently:
#   * libtorch 2.13.0 (the only version tch 0.26 accepts), assembled from PyPI wheels
#     (the only place this machine can download from) into .deps/libtorch;
#   * the Rust targets the runtime is built and run for: thumbv7em-none-eabihf (bare metal,
#     Cortex-M4F) and wasm32-unknown-unknown (the browser);
#   * the tools the C ABI tests use (C and C++ compilers, make, pkg-config, binutils,
#     valgrind), from the system's package manager when one is missing (apt-get, as root);
#   * the tools that run the other targets in the tests: qemu-system-arm (the firmware, on an
#     emulated STM32F405) and chromium (the web page, headless), and binaryen's wasm-opt
#     (optimises the page's module), from Debian/Ubuntu's apt.
#
# Usage: scripts/setup.sh          CPU libtorch (default, ~400 MB, ~1 min the first time)
#        scripts/setup.sh --cuda   the full CUDA wheel with its nvidia-* libraries (~5 GB)
#
# Re-running is cheap: a stamp file records a finished assembly.
set -euo pipefail

TORCH_VERSION=2.13.0
# Pinned by torch 2.13.0's METADATA (cuda-toolkit==13.0.3 -> these component versions).
CUDART_REQ='nvidia-cuda-runtime==13.0.96'
CUPTI_REQ='nvidia-cuda-cupti==13.0.85'

root=$(cd "$(dirname "$0")/.." && pwd)
deps="$root/.deps"
mode=cpu
[ "${1:-}" = "--cuda" ] && mode=cuda

say() { printf '[setup] %s\n' "$*" >&2; }

python=${PYTHON:-python3}
command -v "$python" >/dev/null || { say "python3 with pip is needed to fetch libtorch from PyPI"; exit 1; }

pip_download() { # dest, requirement...
  local dest=$1; shift
  "$python" -m pip download --quiet --no-deps --only-binary=:all: -d "$dest" "$@"
}

assemble_cpu() {
  local out="$deps/libtorch-cpu" wheels="$deps/wheels" tmp
  if [ -f "$out/.complete" ] && [ "$(cat "$out/build-version")" = "$TORCH_VERSION" ]; then
    return
  fi
  say "assembling CPU libtorch $TORCH_VERSION into $out (first run only)"
  mkdir -p "$wheels"
  ls "$wheels"/torch-$TORCH_VERSION-*.whl >/dev/null 2>&1 || pip_download "$wheels" "torch==$TORCH_VERSION"
  ls "$wheels"/nvidia_cuda_runtime-*.whl >/dev/null 2>&1 || pip_download "$wheels" "$CUDART_REQ"
  ls "$wheels"/nvidia_cuda_cupti-*.whl >/dev/null 2>&1 || pip_download "$wheels" "$CUPTI_REQ"

  tmp=$(mktemp -d "$deps/tmp.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  unzip -q -o "$wheels"/torch-$TORCH_VERSION-*.whl 'torch/include/*' 'torch/lib/libtorch_cpu.so' \
    'torch/lib/libc10.so' 'torch/lib/libgomp.so.1' -d "$tmp"
  unzip -q -o "$wheels"/nvidia_cuda_runtime-*.whl '*/libcudart.so.*' -d "$tmp"
  unzip -q -o "$wheels"/nvidia_cuda_cupti-*.whl '*/libcupti.so.*' -d "$tmp"

  rm -rf "$out.partial"
  mkdir -p "$out.partial/lib"
  mv "$tmp/torch/include" "$out.partial/include"
  mv "$tmp/torch/lib/"* "$out.partial/lib/"
  find "$tmp/nvidia" -name 'libcudart.so.*' -exec mv {} "$out.partial/lib/" \;
  find "$tmp/nvidia" -name 'libcupti.so.*' -exec mv {} "$out.partial/lib/" \;
  # libtorch_cpu.so only needs the CUDA runtimes to load; CPU code never calls them.
  # The wheel's libtorch.so merely pulls in libtorch_cuda.so (~2.7 GB with its deps),
  # so an empty library with the same soname stands in for it.
  echo '' | gcc -x c -shared -fPIC -Wl,-soname,libtorch.so -o "$out.partial/lib/libtorch.so" -
  strip --strip-unneeded "$out.partial/lib/libtorch_cpu.so" "$out.partial/lib/libc10.so" 2>/dev/null || true
  echo "$TORCH_VERSION" > "$out.partial/build-version"
  touch "$out.partial/.complete"
  rm -rf "$out"
  mv "$out.partial" "$out"
  rm -rf "$tmp"; trap - EXIT
}

install_cuda() {
  local out="$deps/torch-cuda"
  if [ -f "$out/.complete" ]; then return; fi
  say "installing the full CUDA torch $TORCH_VERSION wheel into $out (~5 GB)"
  "$python" -m pip install --quiet --target "$out" "torch==$TORCH_VERSION"
  touch "$out/.complete"
}

mkdir -p "$deps"
if [ "$mode" = cuda ]; then
  install_cuda
  target="torch-cuda/torch"
else
  assemble_cpu
  target="libtorch-cpu"
fi
# .deps/libtorch is what .cargo/config.toml points LIBTORCH at.
if [ "$(readlink "$deps/libtorch" 2>/dev/null)" != "$target" ]; then
  ln -sfn "$target" "$deps/libtorch"
  say "LIBTORCH -> .deps/$target (torch-sys rebuilds once after a switch)"
fi

if command -v rustup >/dev/null; then
  for t in thumbv7em-none-eabihf wasm32-unknown-unknown; do
    if ! rustup target list --installed | grep -qx "$t"; then
      say "adding Rust target $t (bare-metal firmware / web page)"
      rustup target add "$t" >&2
    fi
  done
fi

# qemu-system-arm and chromium run the firmware and the page in the tests
# (runtime/tests/targets_*.rs, which say why they skip when these are missing, and fail
# under CI=true).
missing_pkgs=()
command -v qemu-system-arm >/dev/null || missing_pkgs+=(qemu-system-arm)
command -v "${CHROMIUM:-chromium}" >/dev/null || missing_pkgs+=(chromium)
command -v wasm-opt >/dev/null || missing_pkgs+=(binaryen) # optional: smaller, faster .wasm
if [ ${#missing_pkgs[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo=sudo
  if command -v apt-get >/dev/null && { [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; }; then
    say "installing ${missing_pkgs[*]} (apt-get; runs the firmware and web page tests)"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      "${missing_pkgs[@]}" >&2
  else
    say "WARNING: ${missing_pkgs[*]} missing and cannot be installed here (needs apt-get as root);"
    say "         the QEMU firmware / headless-browser tests will skip (and fail under CI=true)"
  fi
fi
# The C ABI tests (ffi/tests) compile, install and run C and C++ programs as a user would;
# valgrind is optional (the suite's valgrind run is skipped without it).
tools_missing() {
  local tool missing=()
  for tool in "$@"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  echo "${missing[@]}"
}
C_TOOLS=(cc c++ make pkg-config readelf nm)
if [ -n "$(tools_missing "${C_TOOLS[@]}" valgrind)" ] && command -v apt-get >/dev/null \
  && [ "$(id -u)" = 0 ]; then
  say "installing the C test tools ($(tools_missing "${C_TOOLS[@]}" valgrind)) with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends gcc g++ libc6-dev make pkgconf binutils \
    valgrind >&2
fi
missing=$(tools_missing "${C_TOOLS[@]}")
if [ -n "$missing" ]; then
  say "missing tools for the C ABI tests: $missing (Debian/Ubuntu:"
  say "apt-get install gcc g++ make pkgconf binutils valgrind), or set FLOWMAP_SKIP_C_TESTS=1"
  [ -n "${FLOWMAP_SKIP_C_TESTS:-}" ] || exit 1
fi
command -v valgrind >/dev/null || say "valgrind not found: the C suite's valgrind run will be skipped"
# Fashion-MNIST (MIT licence) for the image examples: Debian ships it as
# dataset-fashion-mnist (IDX files). `apt-get download` + `dpkg-deb -x` unpack it into .deps
# without root and without installing anything. Optional: nothing in the test suite needs it.
fetch_fashion_mnist() {
  local out="$deps/fashion-mnist" tmp deb
  [ -f "$out/.complete" ] && return
  if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
    say "Fashion-MNIST: apt-get/dpkg-deb not found; the image examples need it (skipped)"
    return
  fi
  if ! apt-cache show dataset-fashion-mnist >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq >&2 || true
    fi
    if ! apt-cache show dataset-fashion-mnist >/dev/null 2>&1; then
      say "Fashion-MNIST: the package lists do not know dataset-fashion-mnist; run"
      say "'sudo apt-get update' (Debian/Ubuntu) and re-run scripts/setup.sh (skipped)"
      return
    fi
  fi
  say "fetching Fashion-MNIST (dataset-fashion-mnist) into $out (first run only)"
  tmp=$(mktemp -d "$deps/tmp.XXXXXX")
  chmod 0777 "$tmp" # apt drops to user _apt for the download when run as root
  (cd "$tmp" && apt-get download -qq dataset-fashion-mnist >&2) || {
    say "Fashion-MNIST: apt-get download failed (skipped)"; rm -rf "$tmp"; return; }
  deb=$(ls "$tmp"/dataset-fashion-mnist_*.deb)
  dpkg-deb -x "$deb" "$tmp/root"
  rm -rf "$out"
  mkdir -p "$out"
  find "$tmp/root" -name '*-ubyte*' -exec mv {} "$out/" \;
  rm -rf "$tmp"
  if ls "$out"/train-images-idx3-ubyte* >/dev/null 2>&1; then
    touch "$out/.complete"
    say "Fashion-MNIST at .deps/fashion-mnist ($(ls "$out" | tr '\n' ' '))"
  else
    say "Fashion-MNIST: the package held no IDX files (skipped)"
  fi
}
fetch_fashion_mnist

say "ready: libtorch $TORCH_VERSION ($mode) at .deps/libtorch"
