#!/usr/bin/env bash
# Builds the WebAssembly npm package `libneedle` into wasm/npm/gen/ (the hand-written
# facade, package.json and types live in wasm/npm/). From the repository root:
#   bash tools/build_wasm.sh            # SIMD128 builds (nodejs + web) and the scalar web build
# Needs: rustup target wasm32-unknown-unknown and wasm-bindgen-cli of exactly the version
# pinned in wasm/Cargo.toml (tools/test_wasm.sh installs both when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

WB_VERSION=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' wasm/Cargo.toml)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$WB_VERSION" ]; then
    echo "error: wasm-bindgen-cli $WB_VERSION is required (found '${have:-none}'); run tools/test_wasm.sh or" >&2
    echo "       cargo install wasm-bindgen-cli --version $WB_VERSION --locked" >&2
    exit 1
fi

GEN=wasm/npm/gen
rm -rf "$GEN"
mkdir -p "$GEN" wasm/target

build() { # $1 = flavour (simd|scalar), $2 = RUSTFLAGS
    echo "== wasm: cargo build ($1)"
    (cd wasm && RUSTFLAGS="$2" CARGO_TARGET_DIR="target/$1" \
        cargo build --release --locked --target wasm32-unknown-unknown)
    WASM="wasm/target/$1/wasm32-unknown-unknown/release/libneedle_wasm.wasm"
}

bindgen() { # $1 = input .wasm, $2 = wasm-bindgen target, $3 = out dir
    wasm-bindgen "$1" --target "$2" --out-dir "$3" --out-name libneedle_wasm --no-typescript --remove-name-section --remove-producers-section
    if command -v wasm-opt >/dev/null 2>&1; then
        local flags=(-O3 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-reference-types)
        [ "${4:-}" = simd ] && flags+=(--enable-simd)
        wasm-opt "${flags[@]}" "$3/libneedle_wasm_bg.wasm" -o "$3/libneedle_wasm_bg.wasm"
    fi
}

build simd "-C target-feature=+simd128"
bindgen "$WASM" nodejs "$GEN/node" simd
bindgen "$WASM" web "$GEN/web-simd" simd
# The nodejs glue is CommonJS; the package itself is "type": "module".
echo '{ "type": "commonjs" }' > "$GEN/node/package.json"

if [ "${NEEDLE_WASM_SIMD_ONLY:-0}" != 1 ]; then
    build scalar ""
    bindgen "$WASM" web "$GEN/web-scalar" scalar
fi

echo "== wasm: sizes (raw / gzip -9 / brotli -q 11)"
for f in "$GEN"/*/libneedle_wasm_bg.wasm; do
    raw=$(wc -c <"$f")
    gz=$(gzip -9c "$f" | wc -c)
    br=$(node -e 'const z=require("zlib"),fs=require("fs");const b=z.brotliCompressSync(fs.readFileSync(process.argv[1]),{params:{[z.constants.BROTLI_PARAM_QUALITY]:11}});console.log(b.length)' "$f")
    printf '%-40s %9d %9d %9d\n' "${f#"$GEN"/}" "$raw" "$gz" "$br"
done
