"""Behaviour of the Python API: streaming, early stop, batch, errors, threads, from_bytes."""

from __future__ import annotations

import concurrent.futures
import json
import pathlib
import threading
from typing import Callable, Optional

import pytest

import libneedle
from conftest import VOCAB, WEATHER, model_path, parity_cases

EngineFn = Callable[[str], libneedle.Engine]
CASES = [c for c in parity_cases() if c["preset"] == "small"][:24]
ITEMS: list[tuple[str, libneedle.Tools]] = [(c["query"], c["tools"]) for c in CASES]


# ------------------------------------------------------------------ basics


def test_module_metadata() -> None:
    assert libneedle.__version__ == "0.2.0"
    assert isinstance(libneedle.ENGINE_VERSION, str) and libneedle.ENGINE_VERSION
    for name in libneedle.__all__:
        assert hasattr(libneedle, name), name


def test_real_call_from_script_model(engine: EngineFn) -> None:
    e = engine("script")
    r = e.run("What's the weather in Paris?", WEATHER)
    assert r.calls == [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    assert r.text == '[{"name":"get_weather","arguments":{"city":"Paris"}}]'
    assert r.stop == "eos"
    assert "get_weather" in repr(r)
    # the same tools as Python objects, as one dict, and in OpenAI style
    tool = {"name": "get_weather", "parameters": {"city": {"type": "string"}}}
    assert e.run("What's the weather in Paris?", [tool]).calls == r.calls
    assert e.run("What's the weather in Paris?", tool).calls == r.calls
    openai = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    assert e.run("What's the weather in Paris?", [openai]).calls == r.calls


def test_result_is_read_only(engine: EngineFn) -> None:
    r = engine("tiny").run("hello", WEATHER)
    with pytest.raises(AttributeError):
        r.text = "x"  # type: ignore[misc]
    ids = r.token_ids
    ids.append(5)
    assert r.token_ids != ids


def test_options(engine: EngineFn) -> None:
    e = engine("small")
    q, t = ITEMS[0]
    full = e.run(q, t)
    assert len(full.token_ids) == e.config["max_dec_len"] and full.stop == "max_tokens"
    short = e.run(q, t, max_new_tokens=4)
    assert short.token_ids == full.token_ids[:4] and short.stop == "max_tokens"
    assert e.run(q, t, max_new_tokens=10_000).token_ids == full.token_ids  # clamped to max_dec_len
    assert e.run(q, t, max_new_tokens=0).token_ids == []
    assert e.run(q, t, constrained=True).token_ids == full.token_ids
    assert isinstance(e.run(q, t, constrained=False).token_ids, list)


def test_strict(engine: EngineFn) -> None:
    # Strict schema mode: even a random model answers with a complete call list whose
    # names are tools and whose arguments match the schema; default mode is unchanged.
    e = engine("tiny")
    tools = [{"name": "get_weather", "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}, "days": {"type": "integer"}},
        "required": ["unit"]}}]
    for q in ["hello", "weather in Paris", "what now?"]:
        r = e.run(q, tools, strict=True, max_new_tokens=32)
        assert r.calls is not None, r.text
        for c in r.calls:
            assert c["name"] == "get_weather"
            args = c["arguments"]
            assert set(args) <= {"city", "unit", "days"} and args["unit"] in ("celsius", "fahrenheit")
            assert isinstance(args.get("city", ""), str) and isinstance(args.get("days", 0), int)
    rs = e.run_stream("hello", tools, lambda i, p: None, strict=True, max_new_tokens=32)
    assert rs.token_ids == e.run("hello", tools, strict=True, max_new_tokens=32).token_ids
    batch = e.run_batch([("hello", tools)], strict=True, max_new_tokens=32)
    assert batch[0].token_ids == rs.token_ids
    assert e.run("hello", tools, strict=False).token_ids == e.run("hello", tools).token_ids


def test_config(engine: EngineFn) -> None:
    e = engine("tiny-head")
    cfg = e.config
    assert cfg["d_model"] == 64 and cfg["vocab_size"] == 8192 and cfg["contrastive_dim"] == 32
    assert cfg["activation"] == "drelu" and cfg["no_feedforward"] is True
    assert e.contrastive_dim == 32 and engine("tiny").contrastive_dim == 0
    assert "d_model=64" in repr(e)


def test_contrastive_and_retrieval(engine: EngineFn) -> None:
    e = engine("tiny-head")
    v = e.encode_contrastive("book a flight")
    assert len(v) == 32 and abs(sum(x * x for x in v) - 1.0) < 1e-4
    descs = ["flights", "weather", "music"]
    ranked = e.retrieve_tools("book a flight", descs, 2)
    assert len(ranked) == 2 and all(isinstance(i, int) and isinstance(s, float) for i, s in ranked)
    assert ranked[0][1] >= ranked[1][1]
    assert e.retrieve_tools("book a flight", tuple(descs), 0) == []
    assert len(e.retrieve_tools("book a flight", descs, 99)) == 3


# ------------------------------------------------------------------ streaming


def test_stream_matches_run(engine: EngineFn) -> None:
    e = engine("script")
    pieces: list[tuple[int, str]] = []

    def collect(token_id: int, piece: str) -> None:
        pieces.append((token_id, piece))

    r = e.run_stream("What's the weather in Paris?", WEATHER, collect)
    assert [i for i, _ in pieces] == r.token_ids
    assert r.to_json() == e.run("What's the weather in Paris?", WEATHER).to_json()
    assert "".join(p for _, p in pieces).strip().startswith("<tool_call>")


def test_stream_none_continues(engine: EngineFn) -> None:
    e = engine("small")
    q, t = ITEMS[1]
    n = 0

    def cb(token_id: int, piece: str) -> None:
        nonlocal n
        n += 1

    r = e.run_stream(q, t, cb)
    assert n == len(r.token_ids) == e.config["max_dec_len"]


def test_stream_early_stop(engine: EngineFn) -> None:
    e = engine("small")
    q, t = ITEMS[2]
    full = e.run(q, t)
    seen: list[int] = []

    def cb(token_id: int, piece: str) -> bool:
        seen.append(token_id)
        return len(seen) < 3

    r = e.run_stream(q, t, cb)
    assert r.stop == "callback"
    assert r.token_ids == seen == full.token_ids[:3]


class Boom(Exception):
    pass


def test_stream_callback_exception_propagates(engine: EngineFn) -> None:
    e = engine("small")
    q, t = ITEMS[3]
    calls = 0

    def cb(token_id: int, piece: str) -> bool:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise Boom("stop here")
        return True

    with pytest.raises(Boom, match="stop here"):
        e.run_stream(q, t, cb)
    assert calls == 2  # generation stopped at the exception
    with pytest.raises(TypeError):
        e.run_stream(q, t, lambda: True)  # type: ignore[arg-type,misc]
    with pytest.raises(TypeError):
        e.run_stream(q, t, 42)  # type: ignore[arg-type]
    # the engine is still fine afterwards
    assert e.run(q, t).token_ids == e.run(q, t).token_ids




# ------------------------------------------------------------------ batch


def test_batch_equals_single_runs(engine: EngineFn) -> None:
    e = engine("small")
    want = [e.run(q, t).to_json() for q, t in ITEMS]
    for threads in (0, 1, 2, 5):
        got = e.run_batch(ITEMS, threads=threads)
        assert [r.to_json() for r in got] == want, threads
    assert e.run_batch([]) == []
    short = e.run_batch(ITEMS[:3], max_new_tokens=2)
    assert [r.token_ids for r in short] == [json.loads(w)["token_ids"][:2] for w in want[:3]]
    # lists as pairs, tools as Python objects
    assert e.run_batch([[ITEMS[0][0], json.loads(str(ITEMS[0][1]))]])[0].to_json() == want[0]  # type: ignore[list-item]


def test_batch_errors(engine: EngineFn) -> None:
    e = engine("tiny")
    items: list[tuple[str, libneedle.Tools]] = [("a", WEATHER), ("b", "not json"), ("c", WEATHER)]
    with pytest.raises(libneedle.InvalidToolsError):
        e.run_batch(items)
    got = e.run_batch(items, return_exceptions=True)
    assert isinstance(got[0], libneedle.RunResult) and isinstance(got[2], libneedle.RunResult)
    assert isinstance(got[1], libneedle.InvalidToolsError)
    assert got[0].to_json() == e.run("a", WEATHER).to_json()
    with pytest.raises(TypeError):
        e.run_batch([("only one",)])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        e.run_batch([42])  # type: ignore[list-item]
    with pytest.raises(libneedle.InvalidArgumentError):
        e.run_batch(items, threads=-1)


# ------------------------------------------------------------------ errors

ALL_ERRORS: list[tuple[int, type[libneedle.NeedleError]]] = [
    (1, libneedle.InvalidArgumentError),
    (2, libneedle.IoError),
    (3, libneedle.InvalidWeightsError),
    (4, libneedle.InvalidVocabError),
    (5, libneedle.InvalidToolsError),
    (6, libneedle.InvalidUtf8Error),
    (7, libneedle.UnsupportedError),
    (8, libneedle.CancelledError),
    (9, libneedle.InternalError),
]


@pytest.mark.parametrize("code,cls", ALL_ERRORS, ids=[c.__name__ for _, c in ALL_ERRORS])
def test_every_error_kind_maps_to_its_class(code: int, cls: type[libneedle.NeedleError]) -> None:
    assert issubclass(cls, libneedle.NeedleError) and cls.code == code
    with pytest.raises(cls) as info:
        libneedle._native._raise_error(code, f"message {code}")
    assert type(info.value) is cls
    assert str(info.value) == info.value.message == f"message {code}"
    assert info.value.code == code and info.value.kind


def test_unknown_code() -> None:
    with pytest.raises(libneedle.InvalidArgumentError, match="no error kind has code 99"):
        libneedle._native._raise_error(99, "x")


def test_io_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(libneedle.IoError, match="No such file") as info:
        libneedle.Engine.load(tmp_path / "missing.safetensors", VOCAB)
    assert isinstance(info.value, OSError)
    with pytest.raises(libneedle.IoError):
        libneedle.Engine.load(model_path("tiny"), tmp_path / "missing.txt")


def test_invalid_weights(tmp_path: pathlib.Path) -> None:
    vocab = VOCAB.read_text(encoding="utf-8")
    with pytest.raises(libneedle.InvalidWeightsError):
        libneedle.Engine.from_bytes(b"not a safetensors file", vocab)
    data = model_path("tiny").read_bytes()
    with pytest.raises(libneedle.InvalidWeightsError):
        libneedle.Engine.from_bytes(data[: len(data) // 2], vocab)
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(libneedle.InvalidWeightsError, match="empty"):
        libneedle.Engine.load(empty, VOCAB)


def test_invalid_vocab(tmp_path: pathlib.Path) -> None:
    data = model_path("tiny").read_bytes()
    lines = VOCAB.read_text(encoding="utf-8").splitlines(keepends=True)
    with pytest.raises(libneedle.InvalidVocabError, match="vocab_size"):
        libneedle.Engine.from_bytes(data, "".join(lines[:100]))
    bad = tmp_path / "vocab.txt"
    bad.write_bytes(b"\xff\xfe\x00garbage\n")
    with pytest.raises(libneedle.InvalidVocabError):
        libneedle.Engine.load(model_path("tiny"), bad)


def test_invalid_tools(engine: EngineFn) -> None:
    e = engine("tiny")
    with pytest.raises(libneedle.InvalidToolsError, match=r"tools\[0\]\.name"):
        e.run("hi", [{"description": "no name"}])
    with pytest.raises(libneedle.InvalidToolsError) as info:
        e.run("hi", [{"name": "x", "parameters": {"a": object()}}])
    assert isinstance(info.value.__cause__, TypeError)
    with pytest.raises(libneedle.InvalidToolsError):
        e.run("hi", 5)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)


def test_invalid_utf8(engine: EngineFn) -> None:
    e = engine("tiny")
    with pytest.raises(libneedle.InvalidUtf8Error, match="query"):
        e.run("bad \ud800", WEATHER)
    with pytest.raises(libneedle.InvalidUtf8Error, match="tools"):
        e.run("hi", '[{"name":"\ud800"}]')
    with pytest.raises(libneedle.InvalidUtf8Error):
        engine("tiny-head").encode_contrastive("\udfff")


def test_unsupported(engine: EngineFn) -> None:
    with pytest.raises(libneedle.UnsupportedError, match="contrastive head"):
        engine("tiny").encode_contrastive("x")
    with pytest.raises(libneedle.UnsupportedError):
        engine("tiny").retrieve_tools("x", ["a"], 1)


def test_invalid_arguments(engine: EngineFn) -> None:
    e = engine("tiny")
    with pytest.raises(libneedle.InvalidArgumentError, match="max_new_tokens"):
        e.run("hi", WEATHER, max_new_tokens=-1)
    with pytest.raises(libneedle.InvalidArgumentError, match="top_k"):
        engine("tiny-head").retrieve_tools("x", ["a"], -1)
    with pytest.raises(ValueError):
        e.run_stream("hi", WEATHER, lambda i, p: True, max_new_tokens=-5)
    with pytest.raises(TypeError):
        e.run(b"bytes", WEATHER)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        engine("tiny-head").retrieve_tools("x", "abc", 1)
    with pytest.raises(TypeError):
        libneedle.Engine.from_bytes("str is not bytes", "")  # type: ignore[arg-type]


# ------------------------------------------------------------------ loading


def test_from_bytes_equals_load(engine: EngineFn) -> None:
    path = model_path("small")
    data = path.read_bytes()
    vocab = VOCAB.read_text(encoding="utf-8")
    loaded = engine("small")
    q, t = ITEMS[4]
    want = loaded.run(q, t).to_json()
    for weights in (data, bytearray(data), memoryview(data)):
        e = libneedle.Engine.from_bytes(weights, vocab)
        assert e.config == loaded.config
        assert e.run(q, t).to_json() == want
    assert libneedle.Engine.load(str(path), str(VOCAB)).run(q, t).to_json() == want


# ------------------------------------------------------------------ threads


def test_thread_pool_gives_identical_answers(engine: EngineFn) -> None:
    e = engine("small")
    want = [e.run(q, t).to_json() for q, t in ITEMS]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda it: e.run(it[0], it[1]).to_json(), ITEMS * 3))
    assert got == want * 3

    def streamed(it: tuple[str, libneedle.Tools]) -> tuple[str, list[int]]:
        ids: list[int] = []

        def collect(token_id: int, piece: str) -> bool:
            ids.append(token_id)
            return True

        r = e.run_stream(it[0], it[1], collect)
        return r.to_json(), ids

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        for (js, ids), w in zip(pool.map(streamed, ITEMS), want):
            assert js == w and ids == json.loads(w)["token_ids"]


def test_gil_is_released_during_inference(engine: EngineFn) -> None:
    """While another thread is inside run_batch(threads=1), Python code keeps running."""
    e = engine("small")
    items = ITEMS * 2
    entered = threading.Event()
    done = threading.Event()
    result: list[Optional[list[libneedle.RunResult]]] = [None]

    def worker() -> None:
        entered.set()
        result[0] = e.run_batch(items, threads=1)
        done.set()

    t = threading.Thread(target=worker)
    t.start()
    entered.wait()
    spins = 0
    while not done.is_set():
        spins += 1
        sum(range(50))
    t.join()
    assert result[0] is not None and len(result[0]) == len(items)
    # with the GIL held for the whole call this loop could barely run; released, it spins freely
    assert spins > 1000, spins


def test_bundled_demo_model_real_call() -> None:
    """One real end-to-end tool call on the model bundled in models/needle-demo/."""
    root = pathlib.Path(__file__).resolve().parents[2]
    demo = root / "models" / "needle-demo"
    engine = libneedle.Engine.load(str(demo / "needle.safetensors"), str(demo / "vocab.txt"))
    tools = (root / "examples" / "tools.json").read_text()
    r = engine.run("What's the weather in Paris?", tools)
    assert r.calls == [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    assert r.stop == "eos"
