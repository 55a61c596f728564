#!/usr/bin/env bash
# The whole libneedle test suite — what CI runs (`.ci/run`). From the repository root:
#   bash tools/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

bash tools/setup.sh

echo "== synthetic models (regenerated deterministically, hashes checked)"
python3 tools/make_model.py --check target/test-models

echo "== Rust: unit, integration and parity tests"
cargo test --release --lib --bins --tests --examples

echo "== README examples: each block equals its file; docs/*.md#anchor citations exist; no citation of the out-of-repository spec (tools/check_readme.py); the Rust one runs"
python3 tools/check_readme.py
# As the README runs it, from the repository root, on the bundled demo model.
out=$(cargo run --release --quiet --example quickstart)
echo "$out" | head -1
grep -qxF '[{"name":"get_weather","arguments":{"city":"Paris"}}]' <<<"$(echo "$out" | head -1)" \
  || { echo "FAILED: examples/quickstart.rs did not print the Paris call"; echo "$out"; exit 1; }
grep -qE '^v3 [A-Za-z]+ (None|Some\(.*\)) Some\(0\.[0-9]+\)$' <<<"$out" && grep -qxF '2 layers' <<<"$out" \
  || { echo "FAILED: examples/quickstart.rs did not run the v3 test file (generation, confidence, ladder)"; echo "$out"; exit 1; }

echo "== cargo features per generation (v1, v2, v3): each alone builds; v3 alone runs v3 and names what it left out"
bash tools/test_features.sh

echo "== benches compile"
cargo bench --no-run --quiet

echo "== Rust: doc tests"
cargo test --release --doc

echo "== cargo cinstall into a temporary prefix (shared by the C and Go checks)"
export NEEDLE_PREFIX=$PWD/target/capi-prefix
rm -rf "$NEEDLE_PREFIX"
cargo cinstall --release --prefix "$NEEDLE_PREFIX" --libdir "$NEEDLE_PREFIX/lib" >target/cinstall.log 2>&1 || { cat target/cinstall.log; exit 1; }

echo "== C ABI: header, pkg-config (shared/static), CMake, C tests, valgrind"
bash tools/test_c.sh

echo "== Go wrapper (and the static Swift package check)"
bash tools/test_go.sh

echo "== Python wheel (pyo3 + maturin) and pytest"
bash tools/test_python.sh

echo "== WebAssembly: npm package, node --test, headless Chromium demo"
bash tools/test_wasm.sh

echo "== Miri (undefined behaviour) on the tokenizer, tools, constrained decoding and post-processing"
bash tools/miri.sh

echo "== Fuzz targets, 30 s each (regression check; bash tools/fuzz.sh 600 for long runs)"
bash tools/fuzz.sh 30
