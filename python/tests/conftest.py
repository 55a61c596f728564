"""Shared fixtures: synthetic models (generated with tools/make_model.py when missing),
the stand-in vocabulary, and the cases recorded from the Rust engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

import libneedle

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "target" / "test-models"
VOCAB = ROOT / "tests" / "fixtures" / "vocab" / "vocab.txt"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PRESETS = ["tiny", "tiny-head", "tiny-ffn", "tiny-bf16", "tiny-f16", "small", "script"]
#: The v2/v3 fixture files: preset "v3-tiny" is tests/fixtures/v3/tiny.cact (v3, confidence
#: head), "v2-tiny" tests/fixtures/v2/tiny.cact (v2, contrastive and confidence heads).
CACT_PRESETS = ["v3-tiny", "v2-tiny"]
WEATHER = '[{"name":"get_weather","parameters":{"city":{"type":"string"}}}]'


def model_path(preset: str) -> Path:
    path = MODELS / f"{preset}.safetensors"
    if not path.exists():
        MODELS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, str(ROOT / "tools" / "make_model.py"), "--preset", preset, "--out", str(path)],
            check=True,
        )
    return path


def cact_path(preset: str) -> Path:
    """The `.cact` of a preset `v2-NAME` / `v3-NAME`."""
    generation, name = preset.split("-", 1)
    return ROOT / "tests" / "fixtures" / generation / f"{name}.cact"


_ENGINES: dict[tuple[str, Optional[int]], libneedle.Engine] = {}


def load_engine(preset: str, depth: Optional[int] = None) -> libneedle.Engine:
    key = (preset, depth)
    if key not in _ENGINES:
        if preset.startswith(("v2-", "v3-")):
            _ENGINES[key] = libneedle.Engine.load(cact_path(preset), depth=depth)
        else:
            _ENGINES[key] = libneedle.Engine.load(model_path(preset), VOCAB, depth=depth)
    return _ENGINES[key]


@pytest.fixture(scope="session")
def engine() -> Callable[..., libneedle.Engine]:
    """`engine(preset, depth=None)`: a loaded engine, shared by the whole session."""
    return load_engine


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


#: Set by tools/test_python.sh to a file it has just recorded from the Rust engine in this
#: checkout (python/tests/record_fixtures.py --out ...): then floats must match bit for bit.
#: Without it the committed python/tests/fixtures/engine_cases.jsonl is used, and floats are
#: compared to 1e-5 (kernel work may move the last bits; token ids must still match exactly).
LIVE_CASES = os.environ.get("LIBNEEDLE_ENGINE_CASES")


def engine_cases() -> list[dict[str, Any]]:
    return read_jsonl(Path(LIVE_CASES) if LIVE_CASES else FIXTURES / "engine_cases.jsonl")


def parity_cases() -> list[dict[str, Any]]:
    return read_jsonl(ROOT / "tests" / "fixtures" / "parity" / "cases.jsonl")


@pytest.fixture(scope="session", autouse=True)
def _models_present() -> None:
    for p in PRESETS:
        model_path(p)
    assert os.path.exists(VOCAB)
