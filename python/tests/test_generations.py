"""Every generation through every call: the v3 and v2 fixture files (tests/fixtures/v3|v2/
tiny.cact, random weights: the text is gibberish, so these tests check fields, types,
options, errors and equality between the ways of calling, not answer quality) next to the
v1 models. Equality with the Rust engine's own results is in test_parity.py (the v2/v3
cases of record_fixtures.py)."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Callable

import pytest

import libneedle
from libneedle import _errors, _native
from conftest import CACT_PRESETS, VOCAB, WEATHER, cact_path, model_path

EngineFn = Callable[..., libneedle.Engine]
SYSTEM = "You are a helpful assistant that calls tools."
SEND = '[{"name":"send_text","parameters":{"to":{"type":"string"},"body":{"type":"string"}}}]'
ITEMS = [("What's the weather in Paris?", WEATHER), ("Text Ann that I'm late", SEND), ("hello", "[]")]


def same(a: libneedle.RunResult, b: libneedle.RunResult) -> None:
    assert a.to_json() == b.to_json()
    for field in libneedle.RESULT_FIELDS:
        assert getattr(a, field) == getattr(b, field), field


# ------------------------------------------------------------------ the engine's lists


def test_error_classes_are_the_engines_kinds() -> None:
    kinds = _native.error_kinds()
    assert [code for code, _, _ in kinds] == sorted(_errors.ERRORS_BY_CODE)
    for code, class_name, name in kinds:
        cls = getattr(libneedle, class_name)
        assert cls is _errors.ERRORS_BY_CODE[code]
        assert issubclass(cls, libneedle.NeedleError)
        assert (cls.code, cls.kind) == (code, name)
        with pytest.raises(cls, match="^boom$"):
            _native._raise_error(code, "boom")


def test_stop_reasons_and_result_fields_are_the_engines() -> None:
    assert set(typing.get_args(libneedle.StopReason)) == set(libneedle.STOP_REASONS)
    assert libneedle.STOP_REASONS == ("eos", "max_tokens", "callback", "im_end", "max_seq_len")
    assert libneedle.RESULT_FIELDS == (
        "calls", "text", "token_ids", "prompt_tokens", "encoder_tokens",
        "stop", "reasoning", "confidence", "prompt_truncated",
    )
    for field in libneedle.RESULT_FIELDS:
        assert isinstance(getattr(libneedle.RunResult, field), property) or hasattr(libneedle.RunResult, field), field


# ------------------------------------------------------------------ loading


@pytest.mark.parametrize("preset,generation", [("v3-tiny", 3), ("v2-tiny", 2)])
def test_load_by_path_and_bytes(engine: EngineFn, preset: str, generation: int) -> None:
    path = cact_path(preset)
    e = engine(preset)
    assert e.generation == generation
    cfg = e.config
    assert cfg["generation"] == generation
    assert cfg["confidence_head"] is True
    assert cfg["contrastive_dim"] == e.contrastive_dim
    assert isinstance(cfg["d_model"], int) and cfg["num_layers"] == 4
    assert repr(e).startswith(f"Engine(generation={generation}, d_model={cfg['d_model']},")
    want = e.run(*ITEMS[0], max_new_tokens=8)
    data = path.read_bytes()
    for model in (data, bytearray(data), memoryview(data)):
        b = libneedle.Engine.from_bytes(model)
        assert b.generation == generation and b.config == cfg
        same(b.run(*ITEMS[0], max_new_tokens=8), want)
    for p in (str(path), path):
        same(libneedle.Engine.load(p, None).run(*ITEMS[0], max_new_tokens=8), want)
    assert libneedle.Engine.from_bytes(data, None, depth=None).config == cfg


def test_v1_generation_and_config(engine: EngineFn) -> None:
    e = engine("small")
    assert e.generation == 1
    cfg = e.config
    assert cfg["generation"] == 1 and cfg["confidence_head"] is False
    for key in ("d_model", "num_heads", "num_kv_heads", "head_dim", "num_encoder_layers", "num_decoder_layers",
                "vocab_size", "max_enc_len", "max_dec_len", "no_feedforward", "ffn_dim", "activation",
                "rope_theta", "contrastive_dim"):
        assert key in cfg, key
    assert libneedle.Engine.demo().generation == 1


def test_vocab_with_cact_is_refused(tmp_path: Path) -> None:
    for preset in CACT_PRESETS:
        path = cact_path(preset)
        with pytest.raises(libneedle.InvalidArgumentError, match="without a vocabulary"):
            libneedle.Engine.load(path, VOCAB)
        with pytest.raises(libneedle.InvalidArgumentError, match="without a vocabulary"):
            libneedle.Engine.from_bytes(path.read_bytes(), VOCAB.read_text(encoding="utf-8"))


def test_v1_without_vocab_is_refused() -> None:
    with pytest.raises(libneedle.InvalidArgumentError, match="vocab is None: .*vocab.txt"):
        libneedle.Engine.load(model_path("tiny"))
    with pytest.raises(libneedle.InvalidArgumentError, match="vocab is None"):
        libneedle.Engine.from_bytes(model_path("tiny").read_bytes())


def test_depth(engine: EngineFn) -> None:
    full = engine("v3-tiny")
    assert full.config["num_layers"] == 4
    answers = set()
    for depth in (2, 3, 4):
        e = libneedle.Engine.load(cact_path("v3-tiny"), depth=depth)
        assert e.generation == 3
        r = e.run(*ITEMS[0], max_new_tokens=8)
        answers.add(tuple(r.token_ids))
        b = libneedle.Engine.from_bytes(cact_path("v3-tiny").read_bytes(), depth=depth)
        same(b.run(*ITEMS[0], max_new_tokens=8), r)
    same(libneedle.Engine.load(cact_path("v3-tiny"), depth=4).run(*ITEMS[0], max_new_tokens=8),
         full.run(*ITEMS[0], max_new_tokens=8))
    assert len(answers) > 1  # fewer blocks, another model
    for bad in (0, 1, 5):
        with pytest.raises(libneedle.InvalidArgumentError, match="depth"):
            libneedle.Engine.load(cact_path("v3-tiny"), depth=bad)
    with pytest.raises(libneedle.InvalidArgumentError, match="depth must be >= 0"):
        libneedle.Engine.load(cact_path("v3-tiny"), depth=-1)
    # depth with a v2 or v1 file is refused
    with pytest.raises(libneedle.InvalidArgumentError, match="depth"):
        libneedle.Engine.load(cact_path("v2-tiny"), depth=2)
    with pytest.raises(libneedle.InvalidArgumentError, match="depth"):
        libneedle.Engine.from_bytes(cact_path("v2-tiny").read_bytes(), depth=2)
    with pytest.raises(libneedle.InvalidArgumentError, match="depth"):
        libneedle.Engine.load(model_path("tiny"), VOCAB, depth=2)
    with pytest.raises(libneedle.InvalidArgumentError, match="depth"):
        libneedle.Engine.from_bytes(model_path("tiny").read_bytes(), VOCAB.read_text(encoding="utf-8"), depth=3)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(libneedle.IoError):
        libneedle.Engine.load(tmp_path / "missing.cact")
    data = cact_path("v3-tiny").read_bytes()
    with pytest.raises(libneedle.InvalidWeightsError):
        libneedle.Engine.from_bytes(data[: len(data) // 3])
    cut = tmp_path / "cut.cact"
    cut.write_bytes(data[:1000])
    with pytest.raises(libneedle.InvalidWeightsError):
        libneedle.Engine.load(cut)
    with pytest.raises(TypeError):
        libneedle.Engine.load(cact_path("v3-tiny"), depth="2")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        libneedle.Engine.from_bytes(data, b"vocab")  # type: ignore[arg-type]


# ------------------------------------------------------------------ calls


@pytest.mark.parametrize("preset", CACT_PRESETS)
def test_result_fields(engine: EngineFn, preset: str) -> None:
    e = engine(preset)
    for system in (None, SYSTEM):
        for q, t in ITEMS:
            r = e.run(q, t, max_new_tokens=10, system=system)
            d = json.loads(r.to_json())
            assert list(d) == list(libneedle.RESULT_FIELDS)
            assert isinstance(r.text, str) and isinstance(r.token_ids, list)
            assert r.prompt_tokens == r.encoder_tokens == d["prompt_tokens"] > 0
            assert r.stop in ("eos", "max_tokens", "im_end", "max_seq_len")
            assert r.reasoning is None or isinstance(r.reasoning, str)
            assert isinstance(r.confidence, float) and 0.0 <= r.confidence <= 1.0  # both files have the head
            assert r.prompt_truncated is False
            assert len(r.token_ids) <= 10
            assert "prompt_tokens=" in repr(r)
    # The system prompt is part of the prompt.
    plain = e.run(*ITEMS[0], max_new_tokens=4)
    with_system = e.run(*ITEMS[0], max_new_tokens=4, system=SYSTEM)
    assert with_system.prompt_tokens > plain.prompt_tokens
    assert e.run(*ITEMS[0], max_new_tokens=4, system=None).to_json() == plain.to_json()
    assert e.run("hi", WEATHER, max_new_tokens=0).token_ids == []


def test_v1_result_fields(engine: EngineFn) -> None:
    e = engine("script")
    r = e.run("What's the weather in Paris?", WEATHER)
    assert r.calls == [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    assert r.reasoning is None and r.confidence is None and r.prompt_truncated is False
    assert r.prompt_tokens == r.encoder_tokens > 0
    # v1 has no system turn: the system prompt is ignored.
    assert e.run("What's the weather in Paris?", WEATHER, system=SYSTEM).to_json() == r.to_json()
    long = e.run("weather " * 2000, WEATHER, max_new_tokens=2)
    assert long.prompt_truncated is True and long.prompt_tokens == e.config["max_enc_len"]


@pytest.mark.parametrize("preset", CACT_PRESETS)
def test_stream_equals_run(engine: EngineFn, preset: str) -> None:
    e = engine(preset)
    for system in (None, SYSTEM):
        seen: list[tuple[int, str]] = []

        def keep(i: int, piece: str) -> None:
            seen.append((i, piece))

        r = e.run_stream(*ITEMS[0], keep, max_new_tokens=10, system=system)
        assert isinstance(r, libneedle.RunResult)
        same(r, e.run(*ITEMS[0], max_new_tokens=10, system=system))
        assert [i for i, _ in seen] == r.token_ids
        assert all(isinstance(p, str) for _, p in seen)
    # Early stop: the tokens so far, stop "callback", the fields still all there.
    count = [0]

    def two(i: int, piece: str) -> bool:
        count[0] += 1
        return count[0] < 2

    r = e.run_stream(*ITEMS[0], two, max_new_tokens=10, system=SYSTEM)
    assert r.stop == "callback" and len(r.token_ids) == 2
    assert isinstance(r.confidence, float) and r.prompt_tokens > 0
    full = e.run(*ITEMS[0], max_new_tokens=10, system=SYSTEM)
    assert r.token_ids == full.token_ids[:2]

    def boom(i: int, piece: str) -> None:
        raise KeyError("stop here")

    with pytest.raises(KeyError, match="stop here"):
        e.run_stream(*ITEMS[0], boom, system=SYSTEM)


@pytest.mark.parametrize("preset", CACT_PRESETS)
def test_batch_equals_run(engine: EngineFn, preset: str) -> None:
    e = engine(preset)
    for threads in (1, 2):
        got = e.run_batch(ITEMS, max_new_tokens=6, system=SYSTEM, threads=threads)
        for (q, t), r in zip(ITEMS, got):
            same(r, e.run(q, t, max_new_tokens=6, system=SYSTEM))
    mixed = e.run_batch([ITEMS[0], ("q", "not json"), ("bad \ud800", "[]")], max_new_tokens=4, return_exceptions=True)
    assert isinstance(mixed[0], libneedle.RunResult)
    assert isinstance(mixed[1], libneedle.InvalidToolsError)
    assert isinstance(mixed[2], libneedle.InvalidUtf8Error)
    with pytest.raises(libneedle.InvalidToolsError):
        e.run_batch([ITEMS[0], ("q", "not json")], max_new_tokens=4)


@pytest.mark.parametrize("preset", CACT_PRESETS)
def test_confidence(engine: EngineFn, preset: str) -> None:
    e = engine(preset)
    call = '[{"name":"get_weather","arguments":{"city":"Paris"}}]'
    c = e.confidence(*ITEMS[0], call)
    assert isinstance(c, float) and 0.0 <= c <= 1.0
    assert e.confidence(*ITEMS[0], call) == c  # deterministic
    assert e.confidence(ITEMS[0][0], json.loads(ITEMS[0][1]), call) == c  # tools as objects
    s = e.confidence(*ITEMS[0], call, system=SYSTEM)
    assert isinstance(s, float) and s != c
    assert e.confidence(*ITEMS[0], call, system=None) == c
    with pytest.raises(libneedle.InvalidToolsError):
        e.confidence("q", "[", call)
    with pytest.raises(libneedle.InvalidUtf8Error, match="completion"):
        e.confidence("q", WEATHER, "bad \ud800")
    with pytest.raises(libneedle.InvalidUtf8Error, match="system"):
        e.confidence("q", WEATHER, call, system="bad \ud800")
    with pytest.raises(TypeError):
        e.confidence("q", WEATHER, 5)  # type: ignore[arg-type]
    with pytest.raises(libneedle.InvalidArgumentError, match="sequence limit"):
        e.confidence("weather " * 3000, WEATHER, call)


def test_confidence_needs_a_head(engine: EngineFn) -> None:
    with pytest.raises(libneedle.UnsupportedError, match="confidence head"):
        engine("tiny").confidence("q", WEATHER, "[]")


def test_system_errors(engine: EngineFn) -> None:
    e = engine("v3-tiny")
    with pytest.raises(libneedle.InvalidUtf8Error, match="system"):
        e.run("q", WEATHER, system="\ud800")
    with pytest.raises(TypeError):
        e.run("q", WEATHER, system=5)  # type: ignore[arg-type]
    with pytest.raises(libneedle.InvalidUtf8Error, match="system"):
        e.run_stream("q", WEATHER, lambda i, p: None, system="\udfff")
    with pytest.raises(libneedle.InvalidUtf8Error, match="system"):
        e.run_batch([("q", WEATHER)], system="\udfff")


@pytest.mark.parametrize("preset", CACT_PRESETS)
def test_over_the_sequence_limit(engine: EngineFn, preset: str) -> None:
    """A prompt past the sequence limit: as the engine says (truncated, max_seq_len)."""
    e = engine(preset)
    r = e.run("weather " * 3000, WEATHER, max_new_tokens=4)
    assert r.prompt_truncated is True
    if preset.startswith("v3"):
        assert r.stop == "max_seq_len" and r.token_ids == []


def test_retrieval_on_v2(engine: EngineFn) -> None:
    e = engine("v2-tiny")
    assert e.contrastive_dim > 0
    v = e.encode_contrastive("book a flight")
    assert len(v) == e.contrastive_dim
    ranked = e.retrieve_tools("weather", ["Get the weather", "Play music"], 2)
    assert sorted(i for i, _ in ranked) == [0, 1]
    with pytest.raises(libneedle.UnsupportedError):
        engine("v3-tiny").encode_contrastive("x")
