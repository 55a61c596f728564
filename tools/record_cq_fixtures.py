#!/usr/bin/env python3
"""Records the Cactus-Quants (CQ) fixtures read by `tests/cq.rs`.

For a few random matrices at 2, 3, 4 bits and ternary, with G = 128 and smaller groups
and `in` not a multiple of G, this runs upstream's own numpy exporter routines
(`needle.model.export._cq_pack` / `_cq_unpack` from cactus-needle 2.0.15, the exporter
that writes every CQ width) and stores, per case:

  codebook  28 f32, exactly what `_pack_cact` writes into the header for this group
  blob      the CQ blob exactly as `_q` writes it (packed codes, then FP16 norms)
  w         upstream's decoding of that blob (`_cq_unpack`, a float32 matmul), f32 [out, in]
  w_exact   the same reconstruction in float64 (upstream's levels × norms, then the exact
            ±1/√G Hadamard sum), rounded to f32 [out, in]: upstream's own float32 matmul
            is itself a few ε from it, so the test checks against both
  x         test activations, f32 [rows, in]
  y         x · wᵀ accumulated in float64 from upstream's w, rounded to f32 [rows, out]

into tests/fixtures/cq/cases.bin, with tests/fixtures/cq/cases.json as the index.

Setup (CPU only, a few minutes):
  python3 -m venv /tmp/cqvenv
  /tmp/cqvenv/bin/pip install numpy==2.4.6 jax==0.10.2 jaxlib==0.10.2 flax==0.12.8
  pip download --no-deps cactus-needle==2.0.15 -d /tmp/cn2 && (cd /tmp/cn2 && unzip -o -q *.whl)
  PYTHONPATH=/tmp/cn2 /tmp/cqvenv/bin/python tools/record_cq_fixtures.py
(jax/flax are only needed because upstream's module imports them.)
"""

import json
import os
import sys

import numpy as np

try:
    from needle.model import export, quantize
except ImportError:
    sys.exit("needle.model (cactus-needle 2.0.15) not importable; see the docstring for the setup")

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "cq")

# name, out, in, group, record bits (5 = ternary), activation rows
CASES = [
    ("b2_g128_in300", 16, 300, 128, 2, 3),
    ("b3_g128_in200", 12, 200, 128, 3, 2),
    ("b4_g128_in256", 16, 256, 128, 4, 3),
    ("t_g128_in130", 12, 130, 128, 5, 2),
    ("b2_g32_in100", 20, 100, 32, 2, 5),
    ("b3_g16_in40", 10, 40, 16, 3, 1),
    ("b4_g64_in96", 9, 96, 64, 4, 4),
    ("t_g8_in21", 7, 21, 8, 5, 3),
]


def exact_unpack(packed, norms, out, inp, rec_bits, group):
    """`_cq_unpack` with the Hadamard sum done in float64 (the levels and the products
    level × norm are float32, exactly as upstream forms them)."""
    in_pad = (inp + group - 1) // group * group
    if rec_bits == export.TERNARY_RECORD_BITS:
        idx = export._unpack_ternary_crumbs(packed, in_pad)
        cb = quantize._cq_codebook_np(quantize.TERNARY_BITS, group)
    else:
        idx = export._unpack_lsb(packed, rec_bits, in_pad)
        cb = quantize._cq_codebook_np(rec_bits, group)
    u = cb[idx].reshape(out, in_pad // group, group) * norms.reshape(out, -1, 1).astype(np.float32)
    h = np.sign(quantize._cq_hadamard_np(group)).astype(np.float64) / np.sqrt(group)
    return (u.astype(np.float64) @ h).reshape(out, in_pad)[:, :inp].astype(np.float32)


def main():
    os.makedirs(ROOT, exist_ok=True)
    rng = np.random.RandomState(20261201)
    blob_all = bytearray()
    index = {
        "source": "cactus-needle 2.0.15 needle/model/export.py _cq_pack/_cq_unpack, quantize._cq_codebook_np",
        "numpy": np.__version__,
        "cases": [],
    }

    def put(arr):
        off = len(blob_all)
        blob_all.extend(arr.tobytes())
        return off

    for name, out, inp, group, rec_bits, rows in CASES:
        w = (rng.randn(out, inp) * 0.04).astype(np.float32)
        w[0, : min(inp, group)] = 0.0  # an all-zero first group (norm 0)
        if out > 2:
            w[2] *= 25.0  # a row with larger norms
        bits = quantize.TERNARY_BITS if rec_bits == export.TERNARY_RECORD_BITS else rec_bits
        packed, norms = export._cq_pack(w, bits, group)
        blob = packed.tobytes() + norms.tobytes()
        deq = export._cq_unpack(packed, norms, out, inp, rec_bits, group).astype(np.float32)
        w_exact = exact_unpack(packed, norms, out, inp, rec_bits, group)
        cb = np.concatenate([quantize._cq_codebook_np(b, group) for b in export.CB_BITS]).astype(np.float32)
        x = rng.randn(rows, inp).astype(np.float32)
        y = (x.astype(np.float64) @ deq.astype(np.float64).T).astype(np.float32)
        index["cases"].append({
            "name": name, "out": out, "in": inp, "group": group, "bits": rec_bits, "rows": rows,
            "codebook": put(cb), "blob": put(np.frombuffer(blob, np.uint8)), "blob_len": len(blob),
            "w": put(deq), "w_exact": put(w_exact), "x": put(x), "y": put(y),
        })
        print(f"{name}: blob {len(blob)} B, |w|max {np.abs(deq).max():.4g}")

    with open(os.path.join(ROOT, "cases.bin"), "wb") as f:
        f.write(bytes(blob_all))
    with open(os.path.join(ROOT, "cases.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    print(f"wrote {len(blob_all)} bytes")


if __name__ == "__main__":
    main()
