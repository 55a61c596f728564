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
cargo test --release --all-targets

echo "== Rust: doc tests"
cargo test --release --doc

echo "== C ABI: header, cargo-c install, pkg-config, CMake, C tests, valgrind"
bash tools/test_c.sh
