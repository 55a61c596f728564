#!/usr/bin/env bash
# Re-records every committed fixture from the oracles. Slow (needle-rs on full-size models);
# not part of CI. Needs: pip install numpy==2.4.6 sentencepiece==0.2.3 needle-rs==0.3.1
#
#   bash tools/refresh_fixtures.sh            # everything except the vocabulary
#   bash tools/refresh_fixtures.sh --vocab    # also retrain the stand-in vocabulary
#
# Retraining the vocabulary changes every tokenizer-dependent fixture; the model manifest
# (tests/fixtures/models.json) is rewritten only if the generator changed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--vocab" ]; then
  python3 tools/train_vocab.py
fi
python3 tools/make_model.py --write-manifest target/test-models
python3 tools/gen_tokenizer_cases.py
python3 tools/gen_tools_cases.py
python3 tools/record_parity.py --models target/test-models --out tests/fixtures/parity
git status --short tests/fixtures
