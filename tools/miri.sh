#!/usr/bin/env bash
# Runs the pure-Rust unit tests of the tokenizer, tools normaliser, constrained decoder and
# post-processing under Miri (undefined-behaviour checker). Needs the nightly toolchain with
# the miri and rust-src components.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
rustup component list --toolchain nightly --installed 2>/dev/null | grep -q "^miri" || rustup component add miri rust-src --toolchain nightly
CARGO_TARGET_DIR=target/miri cargo +nightly miri test --lib -- tools:: constrain:: tokenizer:: result:: prompt:: \
  --skip long_input_is_fast --skip nesting_limit_and_deep_input --skip prompts_match_upstream \
  --skip encode_prefix_exact_with_all_options --skip deep_nesting_is_an_error_not_a_panic
