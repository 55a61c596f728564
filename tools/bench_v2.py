#!/usr/bin/env python3
"""libneedle vs needle-rs 0.3.1 `V2Engine` on the shipped Needle v2 geometry: the v2 part of
tools/bench_vs_needle_rs.py (which runs every generation by default).

    python3 tools/bench_v2.py [--reps 5] [--threads N] ...   # = bench_vs_needle_rs.py --gen 2 ...
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.exit(subprocess.call([sys.executable, os.path.join(ROOT, "tools", "bench_vs_needle_rs.py"), "--gen", "2",
                          *sys.argv[1:]]))
