#!/usr/bin/env bash
# Runs every cargo-fuzz target for a fixed time each, starting from a copy of the
# committed seed corpus (fuzz/corpus/<target>), and fails on any crash.
#   bash tools/fuzz.sh            # 30 s per target (what CI runs)
#   bash tools/fuzz.sh 600        # 10 minutes per target
# Crash inputs land in fuzz/artifacts/<target>/; add each as a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-30}
TARGETS=${TARGETS:-"safetensors_header loader vocab tokenizer tools_json run cact run_v3 run_v2"}
export PATH="$HOME/.cargo/bin:$PATH"
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
cargo fuzz --version 2>/dev/null | grep -q '0.13.1' || cargo install cargo-fuzz --version 0.13.1 --locked
cargo +nightly fuzz build -O --fuzz-dir fuzz >/dev/null 2>&1 || cargo +nightly fuzz build -O --fuzz-dir fuzz
for t in $TARGETS; do
  work=target/fuzz-corpus/$t
  rm -rf "$work" && mkdir -p "$work" && cp fuzz/corpus/$t/* "$work/"
  log=target/fuzz-corpus/$t.log
  if cargo +nightly fuzz run -O --fuzz-dir fuzz "$t" "$work" -- -max_total_time="$SECS" -max_len=32768 \
      -rss_limit_mb=3072 -print_final_stats=1 >"$log" 2>&1; then
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')
    echo "fuzz $t: ${SECS}s, $runs executions, no crash"
  else
    echo "fuzz $t: CRASH"; tail -40 "$log"; exit 1
  fi
done
