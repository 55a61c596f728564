#!/usr/bin/env bash
# Reproduce the bundled demo model models/needle-demo/ from scratch (issue 8): data, vocabulary,
# training (100 + 17 minutes on a 2-core CPU), INT4 export, framework evaluation + fixtures.
#   bash tools/train/train.sh            # uses ./target/needle-train-venv (created if missing)
#   PYTHON=/path/to/python bash tools/train/train.sh
# Extra arguments are passed to phase 1's train.py (e.g. --minutes 0 --steps 11270 for a step-exact rerun).
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
run() { env ${JEMALLOC:+LD_PRELOAD=$JEMALLOC} OMP_NUM_THREADS=1 nice -n 19 "$PYTHON" tools/train/train.py all "$@"; }
HELDOUT=tests/fixtures/demo/heldout.jsonl
# phase 1: from scratch, 100 minutes (extra arguments of this script go here)
run --work target/needle-demo --out target/needle-demo/phase1-model --fixture "" \
  --n-train 300000 --steps 20000 --minutes 100 --heldout-from "$HELDOUT" "$@"
# phase 2: 1,900 more steps (~17 minutes) on fresh examples: half of the catalogue requests phrased
# with MORE_TEMPLATES, the kinds answered [] at 0.3 of their weight and no longer repeated;
# writes models/needle-demo + the fixture
run --work target/needle-demo/phase2 --init target/needle-demo/ckpt.pt \
  --init-vocab target/needle-demo/vocab.model --reuse-vocab target/needle-demo/vocab.model \
  --seed 9 --n-train 150000 --more-phrasings 0.5 --no-call-weight 0.3 --notool-repeat 1 --lr 5e-4 --qat-frac 0.3 \
  --steps 1900 --minutes 0 --heldout-from "$HELDOUT"
