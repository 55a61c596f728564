#!/usr/bin/env bash
# Python package tests: builds the libneedle abi3 wheel with maturin, installs it into a
# virtual environment, checks the stubs (mypy stubtest + mypy --strict, inside pytest) and
# runs the pytest suite in python/tests. From the repository root:
#   bash tools/test_python.sh
# Needs python3 (>= 3.9, with the venv module), cargo and PyPI access. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

MATURIN_VERSION=1.9.6
PYTEST_VERSION=8.4.2
MYPY_VERSION=1.18.2
NUMPY_VERSION=2.4.6          # for tools/make_model.py (same pin as tools/setup.sh)
VENV=target/py-venv
PY="$VENV/bin/python"
start=$(date +%s)

echo "== Python: virtual environment $VENV"
if [ ! -x "$PY" ]; then
  python3 -m venv "$VENV"
fi
"$PY" -m pip install -q --disable-pip-version-check \
  "maturin==$MATURIN_VERSION" "pytest==$PYTEST_VERSION" "mypy==$MYPY_VERSION" "numpy==$NUMPY_VERSION"

echo "== Python: build the wheel (maturin, abi3, release)"
rm -f target/wheels/libneedle-*.whl
"$VENV/bin/maturin" build --release -m python/Cargo.toml -o target/wheels
wheel=$(ls target/wheels/libneedle-*.whl)
echo "wheel: $wheel ($(stat -c %s "$wheel") bytes)"
"$PY" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"

echo "== Python: synthetic models"
for preset in tiny tiny-head tiny-ffn tiny-bf16 tiny-f16 small script; do
  [ -f "target/test-models/$preset.safetensors" ] ||
    "$PY" tools/make_model.py --preset "$preset" --out "target/test-models/$preset.safetensors"
done

echo "== Python: record the Rust engine's answers for this checkout (python/examples/record_fixtures.rs)"
"$PY" python/tests/record_fixtures.py --out target/py-fixtures/engine_cases.jsonl
export LIBNEEDLE_ENGINE_CASES="$PWD/target/py-fixtures/engine_cases.jsonl"

echo "== Python: the README's example is examples/python/quickstart.py (run by python/tests/test_demo.py)"
python3 tools/check_readme.py examples/python/quickstart.py

echo "== Python: pytest (engine parity, API, errors, threads, stubs)"
# Run from python/tests so that `import libneedle` is the installed wheel, not the source tree.
(cd python/tests && "../../$PY" -m pytest -q -p no:cacheprovider .)
echo "python tests took $(( $(date +%s) - start )) s"
