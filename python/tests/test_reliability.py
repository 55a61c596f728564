"""Reliability rules of the Python binding: panics, thread-spawn failure, per-item batch
errors, the stream callback rule, lone surrogates, input limits."""

from __future__ import annotations

import json
import pathlib
import time
from typing import Any, Callable, Iterator

import pytest

import libneedle
from conftest import VOCAB, WEATHER, model_path

EngineFn = Callable[[str], libneedle.Engine]
ROOT = pathlib.Path(__file__).resolve().parents[2]
DEMO = ROOT / "models" / "needle-demo"
DEMO_TOOLS = (ROOT / "examples" / "tools.json").read_text(encoding="utf-8")
_DEMO: list[libneedle.Engine] = []


def demo() -> libneedle.Engine:
    if not _DEMO:
        _DEMO.append(libneedle.Engine.load(DEMO / "needle.safetensors", DEMO / "vocab.txt"))
    return _DEMO[0]


# ------------------------------------------------------------------ panics


@pytest.mark.parametrize("released", [False, True], ids=["gil-held", "gil-released"])
def test_panic_becomes_internal_error(released: bool) -> None:
    with pytest.raises(libneedle.InternalError, match="deliberate test panic") as info:
        libneedle._native._panic_for_test(released)
    assert isinstance(info.value, libneedle.NeedleError) and isinstance(info.value, Exception)
    assert info.value.code == 9 and "panicked" in info.value.message
    # the interpreter and the engine are fine afterwards
    assert demo().run("What's the weather in Paris?", DEMO_TOOLS).stop == "eos"


# ------------------------------------------------------------------ thread-spawn failure

QUERIES = [
    "What's the weather in Paris?",
    "Send a message to Bob saying hi",
    "Is it raining in Tokyo?",
    "Tell Alice I am late",
]


def test_spawn_failure_falls_back_to_the_calling_thread() -> None:
    e = demo()
    items = [(q, DEMO_TOOLS) for q in QUERIES]
    want_run = [e.run(q, DEMO_TOOLS).to_json() for q in QUERIES]
    want_batch = [r.to_json() for r in e.run_batch(items, threads=2)]
    assert want_batch == want_run
    libneedle._native._simulate_spawn_failure(True)
    try:
        got_run = [e.run(q, DEMO_TOOLS).to_json() for q in QUERIES]
        got_batch = [r.to_json() for r in e.run_batch(items, threads=2)]
        got_default = [r.to_json() for r in e.run_batch(items)]
    finally:
        libneedle._native._simulate_spawn_failure(False)
    assert got_run == want_run
    assert got_batch == want_run
    assert got_default == want_run


# ------------------------------------------------------------------ run_batch, per item


class Unserialisable:
    pass


def test_batch_return_exceptions_fills_conversion_failures(engine: EngineFn) -> None:
    e = engine("tiny")
    items: list[Any] = [
        ("a", WEATHER),
        ("bad \ud800", WEATHER),  # lone surrogate in the query
        ("c", [{"name": "x", "parameters": {"a": Unserialisable()}}]),  # json.dumps fails
        ("d", "not json"),  # fails in the engine
        ("only one",),  # not a pair
        42,  # not a pair
        ("e", '[{"name":"\udfff"}]'),  # lone surrogate in the tools string
        [b"bytes query", WEATHER],  # wrong type inside a pair
        ["f", WEATHER],
    ]
    got = e.run_batch(items, return_exceptions=True)
    kinds = [type(g) for g in got]
    assert kinds == [
        libneedle.RunResult,
        libneedle.InvalidUtf8Error,
        libneedle.InvalidToolsError,
        libneedle.InvalidToolsError,
        TypeError,
        TypeError,
        libneedle.InvalidUtf8Error,
        TypeError,
        libneedle.RunResult,
    ]
    r0, r8 = got[0], got[8]
    assert isinstance(r0, libneedle.RunResult) and isinstance(r8, libneedle.RunResult)
    assert r0.to_json() == e.run("a", WEATHER).to_json()
    assert r8.to_json() == e.run("f", WEATHER).to_json()
    assert isinstance(got[2], libneedle.InvalidToolsError) and isinstance(got[2].__cause__, TypeError)
    assert "item 4" in str(got[4]) and "item 5" in str(got[5])
    # the same with threads, and from a generator
    assert [type(g) for g in e.run_batch(iter(items), threads=3, return_exceptions=True)] == kinds
    # without return_exceptions the first failing item raises, as before
    with pytest.raises(libneedle.InvalidUtf8Error, match="query"):
        e.run_batch(items)
    with pytest.raises(libneedle.InvalidToolsError):
        e.run_batch(items[2:])
    # errors of the items argument itself still raise
    for not_items in (42, None, "ab"):
        with pytest.raises(TypeError):
            e.run_batch(not_items, return_exceptions=True)  # type: ignore[arg-type]

    def broken() -> Iterator[tuple[str, str]]:
        yield ("a", WEATHER)
        raise RuntimeError("iteration failed")

    with pytest.raises(RuntimeError, match="iteration failed"):
        e.run_batch(broken(), return_exceptions=True)


# ------------------------------------------------------------------ the stream callback rule


class Truthless:
    def __bool__(self) -> bool:
        raise RuntimeError("the callback's result must not be tested for truth")


@pytest.mark.parametrize(
    "value",
    [None, True, 0, 0.0, "", [], {}, (), 1, "stop", Truthless()],
    ids=["None", "True", "0", "0.0", "empty-str", "empty-list", "empty-dict", "empty-tuple", "1", "str", "truthless"],
)
def test_stream_only_false_stops(engine: EngineFn, value: object) -> None:
    e = engine("small")
    q, t = "book a table for two", WEATHER
    full = e.run(q, t)
    calls = 0

    def cb(token_id: int, piece: str) -> object:
        nonlocal calls
        calls += 1
        return value

    r = e.run_stream(q, t, cb)
    assert r.stop == full.stop != "callback"
    assert r.token_ids == full.token_ids and calls == len(full.token_ids) > 1


def test_stream_false_stops(engine: EngineFn) -> None:
    e = engine("small")
    q, t = "book a table for two", WEATHER
    full = e.run(q, t)
    seen: list[int] = []

    def cb(token_id: int, piece: str) -> object:
        seen.append(token_id)
        return False if len(seen) == 3 else 0

    r = e.run_stream(q, t, cb)
    assert r.stop == "callback" and r.token_ids == seen == full.token_ids[:3]
    one = e.run_stream(q, t, lambda i, p: False)
    assert one.stop == "callback" and one.token_ids == full.token_ids[:1]


def test_stream_exception_stops_and_propagates(engine: EngineFn) -> None:
    calls = 0

    def cb(token_id: int, piece: str) -> object:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyError("from the callback")
        return None

    with pytest.raises(KeyError, match="from the callback"):
        engine("small").run_stream("hi", WEATHER, cb)
    assert calls == 2


# ------------------------------------------------------------------ lone surrogates

BAD = "x\ud800y"


def test_lone_surrogates_raise_invalid_utf8(engine: EngineFn) -> None:
    e = engine("tiny")
    h = engine("tiny-head")
    vocab = VOCAB.read_text(encoding="utf-8")
    cases: list[tuple[str, Callable[[], object]]] = [
        ("query", lambda: e.run(BAD, WEATHER)),
        ("tools", lambda: e.run("hi", f'[{{"name":"{BAD}"}}]')),
        ("tools", lambda: e.run("hi", [{"name": BAD}])),  # in a Python-object value
        ("tools", lambda: e.run("hi", [{"name": "n", "parameters": {BAD: {"type": "string"}}}])),  # key
        ("query", lambda: e.run_stream(BAD, WEATHER, lambda i, p: None)),
        ("tools", lambda: e.run_stream("hi", {"name": BAD}, lambda i, p: None)),
        ("query", lambda: e.run_batch([(BAD, WEATHER)])),
        ("tools", lambda: e.run_batch([("hi", [{"name": BAD}])])),
        ("query", lambda: e.encoder_input(BAD, WEATHER)),
        ("tools", lambda: e.encoder_input("hi", BAD)),
        ("text", lambda: h.encode_contrastive(BAD)),
        ("query", lambda: h.retrieve_tools(BAD, ["a"], 1)),
        ("description", lambda: h.retrieve_tools("q", ["a", BAD], 1)),
        ("vocab", lambda: libneedle.Engine.from_bytes(model_path("tiny").read_bytes(), vocab + BAD)),
    ]
    for what, call in cases:
        with pytest.raises(libneedle.InvalidUtf8Error, match=what) as info:
            call()
        assert isinstance(info.value, ValueError), what


def test_tools_objects_serialise_as_before(engine: EngineFn) -> None:
    """Tools objects are dumped with ensure_ascii=False now: non-ASCII gives the same answers."""
    e = engine("small")
    tool = {"name": "météo", "description": "Wetter für Zürich ☀", "parameters": {"ville": {"type": "string"}}}
    as_str = json.dumps([tool], separators=(",", ":"))  # ASCII, with \\u escapes
    assert e.run("quel temps à Zürich ?", [tool]).to_json() == e.run("quel temps à Zürich ?", as_str).to_json()
    assert e.encoder_input("q", [tool]) == e.encoder_input("q", as_str)


# ------------------------------------------------------------------ limits


def test_limit_constants_come_from_the_engine(engine: EngineFn) -> None:
    assert libneedle.MAX_QUERY_BYTES == libneedle._native.MAX_QUERY_BYTES == 64 << 20
    assert libneedle.MAX_TOOLS_BYTES == libneedle._native.MAX_TOOLS_BYTES == 16 << 20
    assert libneedle.DEFAULT_MAX_NEW_TOKENS == libneedle._native.DEFAULT_MAX_NEW_TOKENS == 512
    for name in ("MAX_QUERY_BYTES", "MAX_TOOLS_BYTES", "DEFAULT_MAX_NEW_TOKENS"):
        assert name in libneedle.__all__ and type(getattr(libneedle, name)) is int
    e = engine("small")
    want = min(int(e.config["max_dec_len"]), libneedle.DEFAULT_MAX_NEW_TOKENS)
    r = e.run("x y z", WEATHER)
    assert r.stop == "max_tokens" and len(r.token_ids) == want


def test_over_limit_inputs_are_refused(engine: EngineFn) -> None:
    e = engine("tiny")
    h = engine("tiny-head")
    long_query = "a" * (libneedle.MAX_QUERY_BYTES + 1)
    for call in (
        lambda: e.run(long_query, WEATHER),
        lambda: e.run_stream(long_query, WEATHER, lambda i, p: None),
        lambda: e.encoder_input(long_query, WEATHER),
        lambda: h.encode_contrastive(long_query),
    ):
        with pytest.raises(libneedle.InvalidArgumentError, match="bytes"):
            call()
    got = e.run_batch([(long_query, WEATHER), ("ok", WEATHER)], return_exceptions=True)
    assert isinstance(got[0], libneedle.InvalidArgumentError) and isinstance(got[1], libneedle.RunResult)
    # multi-byte characters count as their UTF-8 bytes
    with pytest.raises(libneedle.InvalidArgumentError):
        e.run("é" * (libneedle.MAX_QUERY_BYTES // 2 + 1), WEATHER)
    long_tools = "[" + " " * libneedle.MAX_TOOLS_BYTES + "]"
    with pytest.raises(libneedle.InvalidToolsError, match="bytes"):
        e.run("hi", long_tools)
    big_tool = [{"name": "t", "description": "d" * libneedle.MAX_TOOLS_BYTES}]  # as a Python object
    with pytest.raises(libneedle.InvalidToolsError, match="bytes"):
        e.run("hi", big_tool)
    with pytest.raises(libneedle.InvalidToolsError):
        e.encoder_input("hi", long_tools)


def test_huge_query_is_fast_on_the_demo_model() -> None:
    e = demo()
    q = "What's the weather in Paris? " + "a" * (64_000_000 - 29)
    assert len(q.encode("utf-8")) == 64_000_000 <= libneedle.MAX_QUERY_BYTES
    t0 = time.perf_counter()
    r = e.run(q, DEMO_TOOLS)
    elapsed = time.perf_counter() - t0
    assert r.encoder_tokens <= int(e.config["max_enc_len"])
    assert elapsed < 2.0, f"a 64 MB query took {elapsed:.2f} s"
