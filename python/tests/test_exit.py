"""The interpreter may exit while daemon threads are inside libneedle calls.

CPython (before 3.14) ends such threads with ``pthread_exit`` when they try to take the GIL
during finalisation; that forced unwind must never reach a Rust frame that catches unwinds
(glibc then aborts the process: "FATAL: exception not rethrown"). libneedle parks such a
thread instead. Each case below runs exit_worker.py in a fresh interpreter many times, with
the exit landing at different points of the calls, and wants a clean exit every time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
WORKER = HERE / "exit_worker.py"

# (mode, delays in seconds): 24 runs with calls, 12 with the HTTP server.
CASES = {
    "calls": [0.0, 0.003, 0.007, 0.011, 0.017, 0.023, 0.031, 0.041, 0.053, 0.067, 0.083, 0.1] * 2,
    "http": [0.0, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.12, 0.15],
}
PARALLEL = 2


def _run_many(mode: str, delays: list[float]) -> list[str]:
    """Runs the worker once per delay (PARALLEL at a time); returns a line per bad exit."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONFAULTHANDLER"}
    bad: list[str] = []
    for start in range(0, len(delays), PARALLEL):
        procs = [
            (d, subprocess.Popen(
                [sys.executable, str(WORKER), mode, str(d)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=HERE,
            ))
            for d in delays[start:start + PARALLEL]
        ]
        for d, p in procs:
            try:
                out, err = p.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
                bad.append(f"delay {d}: hung (killed after 60 s)")
                continue
            if p.returncode != 0 or "fatal" in err.lower():
                tail = err.strip().splitlines()[-3:]
                bad.append(f"delay {d}: exit status {p.returncode}: {tail}")
    return bad


@pytest.mark.parametrize("mode", sorted(CASES))
def test_exit_while_daemon_threads_are_in_calls(mode: str) -> None:
    delays = CASES[mode]
    bad = _run_many(mode, delays)
    assert not bad, f"{len(bad)} of {len(delays)} runs did not exit cleanly:\n" + "\n".join(bad)
