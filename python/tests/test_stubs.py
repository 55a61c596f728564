"""The shipped stubs match the compiled module (mypy's stubtest) and type-check real use
(`mypy --strict` over this test suite, which uses the whole API)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import libneedle

HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")


def _run(*args: str) -> None:
    env = dict(os.environ, MYPY_CACHE_DIR=str(HERE.parents[1] / "target" / "mypy-cache"))
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=HERE, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_py_typed_and_stubs_ship_with_the_package() -> None:
    pkg = Path(libneedle.__file__).parent
    assert (pkg / "py.typed").exists()
    assert (pkg / "_native.pyi").exists()


def test_stubtest() -> None:
    _run("mypy.stubtest", "libneedle._native")


def test_mypy_strict_on_tests() -> None:
    _run("mypy", "--strict", "--no-warn-unused-ignores", ".")
