"""The wrapper gives exactly the Rust engine's answers: on the cases recorded from the Rust
engine (python/tests/record_fixtures.py) and on the repository's parity cases."""

from __future__ import annotations

import contextlib
import json
import re
import struct
from typing import Any, Callable, Optional

import pytest

import libneedle
from conftest import LIVE_CASES, engine_cases, parity_cases

CASES = engine_cases()
EngineFn = Callable[..., libneedle.Engine]


def f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def same_floats(got: list[float], want: list[float]) -> None:
    """Bit-exact against a live recording, else within 1e-5 (see conftest.LIVE_CASES)."""
    want32 = [f32(x) for x in want]
    if LIVE_CASES:
        assert got == want32
    else:
        assert got == pytest.approx(want32, rel=1e-5, abs=1e-6)


def check_result(r: libneedle.RunResult, want: dict[str, Any]) -> None:
    """Every field of the engine's result JSON, as JSON and as the attribute of that name."""
    assert list(want) == list(libneedle.RESULT_FIELDS)
    as_json = json.loads(r.to_json())
    assert list(as_json) == list(want)
    for field in libneedle.RESULT_FIELDS:
        got = getattr(r, field)
        if field == "confidence" and got is not None and want[field] is not None:
            same_floats([got], [want[field]])  # bit-exact against a live recording
            same_floats([as_json[field]], [want[field]])
        else:
            assert got == want[field], field
            assert as_json[field] == want[field], field
    assert r.stop in libneedle.STOP_REASONS


BY_CODE: dict[int, type[libneedle.NeedleError]] = {c.code: c for c in libneedle.NeedleError.__subclasses__()}


def expect_error(resp: dict[str, Any]) -> contextlib.AbstractContextManager[Any]:
    """pytest.raises for the class of the recorded status, matching the recorded message exactly."""
    cls = BY_CODE[resp["err"]["code"]]
    return pytest.raises(cls, match="^" + re.escape(resp["err"]["message"]) + "$")


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{c['req']['op']}-{c['req']['preset']}" for i, c in enumerate(CASES)])
def test_same_as_rust_engine(engine: EngineFn, case: dict[str, Any]) -> None:
    req, resp = case["req"], case["resp"]
    op = req["op"]
    system: Optional[str] = req.get("system")
    if "depth" in req and "err" in resp:  # a load option the file refuses
        with expect_error(resp):
            engine(req["preset"], req["depth"])
        return
    e = engine(req["preset"], req.get("depth"))
    if op == "run":
        def call() -> libneedle.RunResult:
            return e.run(req["query"], req["tools"], max_new_tokens=req["max_new_tokens"],
                         constrained=req["constrained"], system=system)
        if "err" in resp:
            with expect_error(resp):
                call()
        else:
            check_result(call(), resp["ok"])
    elif op == "stream":
        seen: list[list[Any]] = []
        stop_after: Optional[int] = req["stop_after"]

        def on_token(token_id: int, piece: str) -> bool:
            seen.append([token_id, piece])
            return stop_after is None or len(seen) < stop_after

        r = e.run_stream(req["query"], req["tools"], on_token, max_new_tokens=req.get("max_new_tokens"), system=system)
        check_result(r, resp["ok"]["result"])
        assert seen == resp["ok"]["pieces"]
        assert [i for i, _ in seen] == r.token_ids
    elif op == "batch":
        items = [(q, t) for q, t in req["items"]]
        batch = e.run_batch(items, max_new_tokens=req["max_new_tokens"], system=system, return_exceptions=True)
        assert len(batch) == len(resp["ok"])
        for g, want in zip(batch, resp["ok"]):
            if "err" in want:
                assert isinstance(g, BY_CODE[want["err"]["code"]]) and str(g) == want["err"]["message"]
            else:
                assert isinstance(g, libneedle.RunResult)
                check_result(g, want["ok"])
    elif op == "confidence":
        if "err" in resp:
            with expect_error(resp):
                e.confidence(req["query"], req["tools"], req["completion"], system=system)
        else:
            c = e.confidence(req["query"], req["tools"], req["completion"], system=system)
            same_floats([c], [resp["ok"]])
    elif op == "contrastive":
        if "err" in resp:
            with expect_error(resp):
                e.encode_contrastive(req["text"])
        else:
            got = e.encode_contrastive(req["text"])
            same_floats(got, resp["ok"])
            assert len(got) == e.contrastive_dim
    elif op == "retrieve":
        if "err" in resp:
            with expect_error(resp):
                e.retrieve_tools(req["query"], req["descriptions"], req["top_k"])
        else:
            ranked = e.retrieve_tools(req["query"], req["descriptions"], req["top_k"])
            assert [i for i, _ in ranked] == [i for i, _ in resp["ok"]]
            same_floats([s for _, s in ranked], [s for _, s in resp["ok"]])
    elif op == "config":
        # The whole config JSON of the engine, key for key (Engine::config_json).
        assert e.config == resp["ok"]
        assert e.generation == resp["ok"]["generation"]
    else:  # pragma: no cover
        raise AssertionError(op)


def test_fixtures_cover_real_calls_and_errors() -> None:
    runs = [c["resp"] for c in CASES if c["req"]["op"] == "run"]
    assert sum(1 for r in runs if "ok" in r and r["ok"]["calls"]) >= 3
    assert sum(1 for r in runs if "err" in r) >= 5


def test_fixtures_cover_every_generation() -> None:
    """v2 and v3 files through run (system, constrained), stream, batch, confidence, depth."""
    configs = {c["req"]["preset"]: c["resp"]["ok"] for c in CASES
               if c["req"]["op"] == "config" and "ok" in c["resp"] and "depth" not in c["req"]}
    assert {cfg["generation"] for cfg in configs.values()} == {1, 2, 3}
    for preset in ("v2-tiny", "v3-tiny"):
        ops = {c["req"]["op"] for c in CASES if c["req"]["preset"] == preset}
        assert {"run", "stream", "batch", "confidence", "config"} <= ops, preset
        runs = [c["resp"]["ok"] for c in CASES if c["req"]["preset"] == preset and c["req"]["op"] == "run" and "ok" in c["resp"]]
        # Both files carry the head: a confidence for every answer that has tokens.
        assert all(isinstance(r["confidence"], float) == bool(r["token_ids"]) for r in runs)
        assert any(c["req"].get("system") for c in CASES if c["req"]["preset"] == preset)
    assert sum(1 for c in CASES if c["req"].get("depth") and "ok" in c["resp"]) >= 3
    assert sum(1 for c in CASES if c["req"].get("depth") and "err" in c["resp"]) >= 3


PARITY = [c for c in parity_cases() if not c["preset"].startswith("full")][::6]


@pytest.mark.parametrize("case", PARITY, ids=[f"{c['id']}-{c['preset']}" for c in PARITY])
def test_reference_token_ids(engine: EngineFn, case: dict[str, Any]) -> None:
    e = engine(case["preset"])
    assert e.encoder_input(case["query"], case["tools"]) == case["enc_ids"]
    r = e.run(case["query"], case["tools"])
    assert r.token_ids == case["ref_ids"]
    assert r.text == case["ref_text"]


@pytest.mark.parametrize("case", PARITY[:12], ids=[str(c["id"]) for c in PARITY[:12]])
def test_tools_as_python_objects(engine: EngineFn, case: dict[str, Any]) -> None:
    e = engine(case["preset"])
    as_text = e.run(case["query"], case["tools"])
    as_objects = e.run(case["query"], json.loads(case["tools"]))
    assert as_objects.to_json() == as_text.to_json()
