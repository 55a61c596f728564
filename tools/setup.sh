#!/usr/bin/env bash
# Installs what the test suite needs, at pinned versions. Safe to re-run: it only
# installs what is missing.
set -euo pipefail
CARGO_C_VERSION=0.10.24
CBINDGEN_VERSION=0.29.2
NUMPY_VERSION=2.4.6

need_apt=()
for tool in pkg-config valgrind cmake gcc g++; do
  command -v "$tool" >/dev/null 2>&1 || need_apt+=("$tool")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

python3 -c "import numpy; assert numpy.__version__ == '$NUMPY_VERSION'" 2>/dev/null ||
  python3 -m pip install -q "numpy==$NUMPY_VERSION"

if ! cargo cinstall --version 2>/dev/null | grep -q "$CARGO_C_VERSION"; then
  echo "setup: installing cargo-c $CARGO_C_VERSION (takes several minutes once)"
  cargo install -q cargo-c --version "$CARGO_C_VERSION" --locked
fi
if ! cbindgen --version 2>/dev/null | grep -q "$CBINDGEN_VERSION"; then
  echo "setup: installing cbindgen $CBINDGEN_VERSION"
  cargo install -q cbindgen --version "$CBINDGEN_VERSION" --locked
fi
