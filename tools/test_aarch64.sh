#!/usr/bin/env bash
# Runs the aarch64 (NEON + FMA kernels) build under qemu-user: the library's unit tests, the
# logits / encoder-state / contrastive parity tests against the recorded references, and the
# bundled model's held-out accuracy and token parity with the training framework.
# Not part of .ci/run (it needs the rustup aarch64 target and ~6 minutes of emulation).
#   sudo apt-get install qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross
#   rustup target add aarch64-unknown-linux-gnu
#   bash tools/test_aarch64.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
T=aarch64-unknown-linux-gnu
python3 tools/make_model.py --check target/test-models >/dev/null
cargo test --release --target $T --lib
cargo test --release --target $T --test parity -- logits_and_encoder contrastive
cargo test --release --target $T --test bundled_model
