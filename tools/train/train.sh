#!/usr/bin/env bash
# Reproduce the bundled demo model models/needle-demo/ from scratch (issue 8): data, vocabulary,
# training (100 minutes on a 2-core CPU), INT4 export, framework evaluation + fixtures.
#   bash tools/train/train.sh            # uses ./target/needle-train-venv (created if missing)
#   PYTHON=/path/to/python bash tools/train/train.sh
# Extra arguments are passed to train.py (e.g. --minutes 0 --steps 3300 for a step-exact rerun).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
if [ -z "${PYTHON:-}" ]; then
  VENV="$ROOT/target/needle-train-venv"
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -r tools/train/requirements.txt
  fi
  PYTHON="$VENV/bin/python"
fi
JEMALLOC=""
for p in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/aarch64-linux-gnu/libjemalloc.so.2; do
  [ -e "$p" ] && JEMALLOC="$p" && break
done
mkdir -p target/needle-demo
exec env ${JEMALLOC:+LD_PRELOAD=$JEMALLOC} OMP_NUM_THREADS=1 nice -n 19 "$PYTHON" tools/train/train.py all \
  --n-train 300000 --steps 20000 --minutes 100 --heldout-from tests/fixtures/demo/heldout.jsonl "$@"
