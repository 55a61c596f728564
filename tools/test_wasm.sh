#!/usr/bin/env bash
# WebAssembly / npm tests of libneedle. From the repository root:
#   bash tools/test_wasm.sh
# Installs what is missing (rustup target, pinned wasm-bindgen-cli, Debian chromium, the npm
# packages of wasm/package-lock.json), builds the npm package (tools/build_wasm.sh), then runs
# `node --test` over the nodejs build and the headless-Chromium test of the browser demo.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

echo "== wasm: toolchain"
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
fi
WB_VERSION=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' wasm/Cargo.toml)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WB_VERSION" ]; then
    # --locked first; a registry mirror that lacks a locked dependency gets the unlocked build.
    cargo install wasm-bindgen-cli --version "$WB_VERSION" --locked \
        || cargo install wasm-bindgen-cli --version "$WB_VERSION"
fi
CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
if [ -z "$CHROMIUM" ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
    CHROMIUM=$(command -v chromium)
fi
export CHROMIUM
(cd wasm && { [ -d node_modules/playwright-core ] && [ -d node_modules/binaryen ] && [ -e node_modules/libneedle ] || npm ci --no-audit --no-fund; })

echo "== wasm: synthetic models"
for preset in tiny tiny-ffn tiny-bf16 tiny-f16 tiny-head small full script; do
    f=target/test-models/$preset.safetensors
    [ -f "$f" ] || python3 tools/make_model.py --preset "$preset" --out "$f"
done

bash tools/build_wasm.sh

status=0
echo "== wasm: the README's example is wasm/examples/quickstart.mjs (run by wasm/tests/demo.test.mjs)"
python3 tools/check_readme.py wasm/examples/quickstart.mjs || status=1
echo "== wasm: node --test (nodejs build: parity, API)"
(cd wasm && node --test --test-reporter=spec tests/ 2>&1) | tee wasm/target/node-test.log || status=1
echo "== wasm: headless Chromium (browser demo)"
(cd wasm && node --test --test-reporter=spec e2e/ 2>&1) | tee wasm/target/e2e-test.log || status=1

echo "== wasm: footprint (Needle v3 alone, size profile, wasm-opt -Oz from wasm/node_modules: at most 300,000 B raw)"
bash tools/footprint.sh --check || status=1

echo "== wasm: summary"
for log in wasm/target/node-test.log wasm/target/e2e-test.log; do
    echo "$(basename "$log" .log): $(grep -E '^ℹ (tests|pass|fail) ' "$log" | tr -d 'ℹ' | xargs)"
done
exit $status
