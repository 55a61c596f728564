"""The bundled demo model (Engine.demo()), the README's Python example, and the extension's
independence from any installed libneedle.so (Cactus's own engine ships one too)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import libneedle
import libneedle._native as native
from conftest import ROOT, WEATHER

PARIS = [{"name": "get_weather", "arguments": {"city": "Paris"}}]


def test_demo_answers_a_real_call() -> None:
    r = libneedle.Engine.demo().run("What's the weather in Paris?", WEATHER)
    assert r.calls == PARIS
    assert r.text == '[{"name":"get_weather","arguments":{"city":"Paris"}}]'
    assert r.stop == "eos"


def test_demo_is_the_bundled_file() -> None:
    demo = libneedle.Engine.demo()
    files = libneedle.Engine.load(ROOT / "models/needle-demo/needle.safetensors", ROOT / "models/needle-demo/vocab.txt")
    assert demo.config == files.config
    assert demo.config["d_model"] == 128 and demo.config["vocab_size"] == 1024
    for q in ["Text Ann I'm late", "Set a timer for 5 minutes", "What's the weather in Oslo?"]:
        assert demo.run(q, WEATHER).token_ids == files.run(q, WEATHER).token_ids


def _run_elsewhere(args: list[str], tmp_path: Path) -> str:
    # From an empty directory with no path to the source tree: the installed wheel only.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_demo_needs_no_files(tmp_path: Path) -> None:
    code = "import libneedle; print(libneedle.Engine.demo().run(\"What's the weather in Paris?\", %r).text)" % WEATHER
    assert _run_elsewhere(["-c", code], tmp_path).strip() == '[{"name":"get_weather","arguments":{"city":"Paris"}}]'


def test_readme_example_runs(tmp_path: Path) -> None:
    """examples/python/quickstart.py is the README's Python block (tools/check_readme.py)."""
    out = _run_elsewhere([str(ROOT / "examples/python/quickstart.py")], tmp_path)
    lines = out.splitlines()
    assert lines[0] == "[{'name': 'get_weather', 'arguments': {'city': 'Paris'}}]"
    assert lines[1].startswith('[{"name":"get_weather","arguments":{"city":"Paris"}}] [')
    assert "'city': 'Rome'" in out and "'city': 'Lima'" in out
    assert "InvalidToolsError tools[0].name is missing" in lines
    # The v3 part, on the repository's v3 test file: generation, fields, confidence, depth.
    v3 = lines[lines.index("InvalidToolsError tools[0].name is missing") + 1:]
    assert v3[0] == "3 4 True"
    stop, prompt_tokens, reasoning, confidence = v3[1].split(" ")
    assert stop in libneedle.STOP_REASONS and int(prompt_tokens) > 0 and reasoning
    assert 0.0 <= float(confidence) <= 1.0
    assert 0.0 <= float(v3[2]) <= 1.0
    assert v3[3] == "2 max_tokens"


@pytest.mark.skipif(shutil.which("readelf") is None or sys.platform != "linux", reason="needs readelf (Linux)")
def test_extension_links_no_shared_libneedle() -> None:
    """The engine is compiled into the extension: no libneedle.so (ours or another) is loaded."""
    ext = Path(native.__file__)
    dyn = subprocess.run(["readelf", "-d", str(ext)], capture_output=True, text=True, check=True).stdout
    needed = [line for line in dyn.splitlines() if "(NEEDED)" in line]
    assert needed, dyn
    assert not [line for line in needed if "needle" in line.lower()], needed
