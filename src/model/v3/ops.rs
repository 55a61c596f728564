//! Building blocks of the Needle v3 network, each a pure function over `f32` slices
//! (`tests/fixtures/v3/ops.json`, recorded from upstream by `tools/record_v3_ops.py`,
//! checks every one of them).

use crate::model::common::ops::silu;
use crate::{Error, Result};

/// The order in which the depth ladder adds blocks: both ends first, then repeatedly
/// the midpoint of the widest gap between chosen blocks (the leftmost among equals).
pub(crate) fn ladder_order(layers: usize) -> Vec<usize> {
    match layers {
        0 => return Vec::new(),
        1 => return vec![0],
        _ => {}
    }
    let mut order = vec![0, layers - 1];
    // `chosen`: the same blocks in ascending order (each midpoint inserted in place).
    let mut chosen = order.clone();
    while order.len() < layers {
        // Widest gap wider than 1; ties go to the leftmost.
        let (mut best, mut width) = (0, 0);
        for (i, w) in chosen.windows(2).enumerate() {
            let gap = w[1] - w[0];
            if gap > 1 && gap > width {
                best = i;
                width = gap;
            }
        }
        let mid = (chosen[best] + chosen[best + 1]) / 2;
        chosen.insert(best + 1, mid);
        order.push(mid);
    }
    order
}

/// The blocks (original indices, ascending) that a ladder rung of `depth` keeps out of
/// `layers`: the first `depth` of [`ladder_order`]. `depth` must be 2 … `layers`.
pub(crate) fn ladder_layers(layers: usize, depth: usize) -> Result<Vec<usize>> {
    if depth < 2 || depth > layers {
        return Err(Error::argument(format!("depth must be between 2 and {layers} (the model's layers), got {depth}")));
    }
    let mut keep = vec![false; layers];
    for &l in &ladder_order(layers)[..depth] {
        keep[l] = true;
    }
    Ok((0..layers).filter(|&l| keep[l]).collect())
}

/// Block sizes `(ba, bb)` of the Kronecker factors for a Hadamard width `n` (a power of
/// two): `ba = 2^⌊bit_length(n − 1) / 2⌋`, `bb = n / ba`.
pub(crate) fn hada_blocks(n: usize) -> (usize, usize) {
    let bits = usize::BITS - (n.max(1) - 1).leading_zeros();
    let ba = 1usize << (bits / 2);
    (ba, n / ba)
}

/// One Monarch stage: `z` (length `ba·bb`) read as the row-major `ba × bb` matrix `Z`
/// becomes `Aᵀ · Z · B` (`a` is `ba × ba`, `b` is `bb × bb`, both row-major), written to
/// `out`. `tmp` is scratch. (The loops live in `kernels`, compiled for the detected ISA.)
pub(crate) fn kron_apply(z: &[f32], a: &[f32], b: &[f32], ba: usize, bb: usize, tmp: &mut Vec<f32>, out: &mut [f32]) {
    crate::kernels::kron_apply(z, a, b, ba, bb, tmp, out)
}

/// Rank of the HadamardMLP's input-dependent conditioner.
pub(crate) const HADA_COND_RANK: usize = 8;

/// The parameters of one Monarch HadamardMLP (width `d`, Hadamard width `n`).
pub(crate) struct MonarchMlp<'a> {
    pub d: usize,
    pub n: usize,
    pub p1: &'a [u32],
    pub p2: &'a [u32],
    /// `(w1a, w1b)`, `(w2a, w2b)`, `(w3a, w3b)`: `ba × ba` and `bb × bb`, row-major.
    pub factors: [(&'a [f32], &'a [f32]); 3],
    pub d1: &'a [f32],
    pub d2: &'a [f32],
    pub b2: &'a [f32],
    pub d3: &'a [f32],
    pub d4: &'a [f32],
    /// `d × 8`, row-major.
    pub cond_v: &'a [f32],
    /// `8 × n`, row-major.
    pub cond_u: &'a [f32],
}

/// Scratch of [`MonarchMlp::apply`].
#[derive(Default)]
pub(crate) struct MlpScratch {
    z: Vec<f32>,
    y: Vec<f32>,
    cond: Vec<f32>,
    tmp: Vec<f32>,
}


impl MonarchMlp<'_> {
    /// `out[..d]` = the MLP of `h` (length `d`, already normed):
    /// `cond = 1 + softmax(h · cond_v) · cond_u`; `z₁ = K₁(d1 ⊙ pad(h))[p1]`;
    /// `z₂ = K₂(silu(d2 ⊙ cond ⊙ z₁ + b2))[p2]`; `z₃ = K₃(d3 ⊙ z₂)`; `out = (d4 ⊙ z₃)[..d]`.
    pub(crate) fn apply(&self, h: &[f32], out: &mut [f32], s: &mut MlpScratch) {
        let (d, n) = (self.d, self.n);
        let (ba, bb) = hada_blocks(n);
        // Conditioner.
        let mut c = [0f32; HADA_COND_RANK];
        for (i, hi) in h[..d].iter().enumerate() {
            for (r, cr) in c.iter_mut().enumerate() {
                *cr += hi * self.cond_v[i * HADA_COND_RANK + r];
            }
        }
        let mx = c.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for cr in c.iter_mut() {
            *cr = libm::expf(*cr - mx);
            sum += *cr;
        }
        s.cond.clear();
        s.cond.resize(n, 1.0);
        for (r, cr) in c.iter().enumerate() {
            let w = cr / sum;
            for (cv, u) in s.cond.iter_mut().zip(&self.cond_u[r * n..(r + 1) * n]) {
                *cv += w * u;
            }
        }
        // Stage 1.
        s.z.clear();
        s.z.resize(n, 0.0);
        for i in 0..d {
            s.z[i] = self.d1[i] * h[i];
        }
        s.y.resize(n, 0.0);
        kron_apply(&s.z, self.factors[0].0, self.factors[0].1, ba, bb, &mut s.tmp, &mut s.y);
        for m in 0..n {
            let z1 = s.y[self.p1[m] as usize];
            s.z[m] = silu(self.d2[m] * s.cond[m] * z1 + self.b2[m]);
        }
        // Stage 2.
        kron_apply(&s.z, self.factors[1].0, self.factors[1].1, ba, bb, &mut s.tmp, &mut s.y);
        for m in 0..n {
            s.z[m] = self.d3[m] * s.y[self.p2[m] as usize];
        }
        // Stage 3.
        kron_apply(&s.z, self.factors[2].0, self.factors[2].1, ba, bb, &mut s.tmp, &mut s.y);
        for i in 0..d {
            out[i] = self.d4[i] * s.y[i];
        }
    }
}

/// The causal depthwise conv of the Q/K/V projections at one position:
/// `out = Σ_j taps[j] ⊙ past[j]`, where `past[0]` is this position's raw projection,
/// `past[1]` the previous one, …; positions before the start are absent (fewer `past`).
/// `taps` is `[taps × c]`, row-major.
pub(crate) fn causal_conv(past: &[&[f32]], taps: &[f32], out: &mut [f32]) {
    let c = out.len();
    out.fill(0.0);
    for (j, p) in past.iter().enumerate() {
        let t = &taps[j * c..(j + 1) * c];
        for ((o, ti), pi) in out.iter_mut().zip(t).zip(p.iter()) {
            *o += ti * pi;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::common::ops::{engram_seed, engram_slot, rms_unit, rope, rope_freqs, sinkhorn};
    use serde_json::Value;

    fn fixture() -> Value {
        let p = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v3/ops.json");
        serde_json::from_str(&std::fs::read_to_string(p).expect("ops.json is committed")).unwrap()
    }

    fn fl(v: &Value) -> Vec<f32> {
        v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
    }

    fn us(v: &Value) -> Vec<usize> {
        v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
    }

    /// Largest |a − b| relative to the largest |b| (at least 1).
    fn rel_err(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        let scale = b.iter().fold(1f32, |m, v| m.max(v.abs()));
        a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
    }

    #[test]
    fn ladder_matches_upstream() {
        let f = fixture();
        for (l, want) in f["ladder"].as_object().unwrap() {
            assert_eq!(ladder_order(l.parse().unwrap()), us(want), "layers {l}");
        }
        for c in f["ladder_indices"].as_array().unwrap() {
            let (l, d) = (c["layers"].as_u64().unwrap() as usize, c["depth"].as_u64().unwrap() as usize);
            assert_eq!(ladder_layers(l, d).unwrap(), us(&c["kept"]), "{l} layers, depth {d}");
        }
        assert_eq!(ladder_order(20), [0, 19, 9, 14, 4, 6, 11, 16, 2, 7, 12, 17, 1, 3, 5, 8, 10, 13, 15, 18]);
        for bad in [0, 1, 21] {
            let e = ladder_layers(20, bad).unwrap_err();
            assert!(e.to_string().contains("between 2 and 20"), "{e}");
        }
    }

    #[test]
    fn engram_slots_match_upstream() {
        let f = fixture();
        let mut n = 0;
        for c in f["engram"].as_array().unwrap() {
            let orders = us(&c["orders"]);
            let heads = c["heads"].as_u64().unwrap() as usize;
            let seed_heads = c["seed_heads"].as_u64().unwrap() as usize;
            let slots = c["slots"].as_u64().unwrap() as u32;
            let toks: Vec<u32> = us(&c["tokens"]).into_iter().map(|t| t as u32).collect();
            let stride = if seed_heads > 0 { seed_heads } else { heads };
            for (p, want) in c["indices"].as_array().unwrap().iter().enumerate() {
                let want = us(want);
                let mut t = 0;
                for (oi, &order) in orders.iter().enumerate() {
                    for h in 0..heads {
                        let got = engram_slot(&toks[..=p], order, engram_seed(oi, h, stride), slots);
                        assert_eq!(got as usize, want[t], "position {p}, table {t}");
                        t += 1;
                        n += 1;
                    }
                }
            }
        }
        assert!(n > 500);
    }

    #[test]
    fn sinkhorn_matches_upstream() {
        for c in fixture()["sinkhorn"].as_array().unwrap() {
            let n = c["n"].as_u64().unwrap() as usize;
            let mut r = fl(&c["logits"]);
            sinkhorn(&mut r, n);
            let e = rel_err(&r, &fl(&c["p"]));
            assert!(e < 2e-6, "n {n}: {e}");
        }
    }

    #[test]
    fn kron_and_mlp_match_upstream() {
        let f = fixture();
        for c in f["kron"].as_array().unwrap() {
            let (n, ba, bb) = (c["n"].as_u64().unwrap() as usize, c["ba"].as_u64().unwrap() as usize, c["bb"].as_u64().unwrap() as usize);
            assert_eq!(hada_blocks(n), (ba, bb));
            let mut out = vec![0f32; n];
            kron_apply(&fl(&c["z"]), &fl(&c["a"]), &fl(&c["b"]), ba, bb, &mut Vec::new(), &mut out);
            let e = rel_err(&out, &fl(&c["y"]));
            assert!(e < 1e-5, "n {n}: {e}");
        }
        for c in f["hadamard_mlp"].as_array().unwrap() {
            let (d, n) = (c["d"].as_u64().unwrap() as usize, c["n"].as_u64().unwrap() as usize);
            let p = &c["params"];
            let v = |k: &str| fl(&p[k]["v"]);
            let (w1a, w1b, w2a, w2b, w3a, w3b) = (v("w1a"), v("w1b"), v("w2a"), v("w2b"), v("w3a"), v("w3b"));
            let (d1, d2, b2, d3, d4, cv, cu) = (v("d1"), v("d2"), v("b2"), v("d3"), v("d4"), v("cond_v"), v("cond_u"));
            let p1: Vec<u32> = us(&c["p1"]).into_iter().map(|x| x as u32).collect();
            let p2: Vec<u32> = us(&c["p2"]).into_iter().map(|x| x as u32).collect();
            let mlp = MonarchMlp {
                d,
                n,
                p1: &p1,
                p2: &p2,
                factors: [(&w1a, &w1b), (&w2a, &w2b), (&w3a, &w3b)],
                d1: &d1,
                d2: &d2,
                b2: &b2,
                d3: &d3,
                d4: &d4,
                cond_v: &cv,
                cond_u: &cu,
            };
            let (x, y) = (fl(&c["x"]), fl(&c["y"]));
            let mut s = MlpScratch::default();
            for row in 0..x.len() / d {
                let mut out = vec![0f32; d];
                mlp.apply(&x[row * d..(row + 1) * d], &mut out, &mut s);
                let e = rel_err(&out, &y[row * d..(row + 1) * d]);
                assert!(e < 1e-5, "d {d}, row {row}: {e}");
            }
        }
    }

    #[test]
    fn rope_norms_and_conv_match_upstream() {
        let f = fixture();
        for c in f["rope"].as_array().unwrap() {
            let hd = c["head_dim"].as_u64().unwrap() as usize;
            let freqs = rope_freqs(hd, c["theta"].as_f64().unwrap() as f32);
            let mut x = fl(&c["x"]);
            for (pos, head) in x.chunks_mut(hd).enumerate() {
                rope(head, pos, &freqs);
            }
            let e = rel_err(&x, &fl(&c["y"]));
            assert!(e < 1e-6, "hd {hd}: {e}");
        }
        for c in f["norms"].as_array().unwrap() {
            let mut x = fl(&c["x"]);
            crate::kernels::zc_rms_norm(&mut x, &fl(&c["gamma"]));
            assert!(rel_err(&x, &fl(&c["zcrms"])) < 1e-6);
            let mut x = fl(&c["x"]);
            rms_unit(&mut x);
            assert!(rel_err(&x, &fl(&c["rms_unit"])) < 1e-6);
        }
        for c in f["conv"].as_array().unwrap() {
            let (taps, t, ch) = (c["taps"].as_u64().unwrap() as usize, c["t"].as_u64().unwrap() as usize, c["c"].as_u64().unwrap() as usize);
            let (z, w, y) = (fl(&c["z"]), fl(&c["w"]), fl(&c["y"]));
            for p in 0..t {
                let past: Vec<&[f32]> = (0..taps.min(p + 1)).map(|j| &z[(p - j) * ch..(p - j + 1) * ch]).collect();
                let mut out = vec![0f32; ch];
                causal_conv(&past, &w, &mut out);
                assert!(rel_err(&out, &y[p * ch..(p + 1) * ch]) < 1e-6, "position {p}");
            }
        }
    }
}
