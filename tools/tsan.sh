#!/usr/bin/env bash
# Runs the concurrency tests under ThreadSanitizer (nightly, -Zbuild-std; slow: minutes).
#   bash tools/tsan.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR=target/tsan RUSTFLAGS="-Zsanitizer=thread" TSAN_OPTIONS="halt_on_error=1"
T=x86_64-unknown-linux-gnu
cargo +nightly test -Zbuild-std --target $T --release --test robustness -- eight_threads
cargo +nightly test -Zbuild-std --target $T --release --test engine -- thread_count_does_not_change_logits batch_and_threads
