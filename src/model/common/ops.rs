//! Numeric building blocks the decoder-only generations share, each a pure function over
//! `f32` slices (`tests/fixtures/v3/ops.json`, recorded from upstream by
//! `tools/record_v3_ops.py`, checks every one of them).

/// `x ← x / sqrt(mean(x²) + 1e-6)`: RMS normalisation without a learned scale.
pub(crate) fn rms_unit(x: &mut [f32]) {
    if x.is_empty() {
        return;
    }
    let ss: f32 = x.iter().map(|v| v * v).sum();
    let inv = 1.0 / libm::sqrtf(ss / x.len() as f32 + 1e-6);
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// `log Σ exp` of the values `at(0) … at(n − 1)`, stable for any magnitude.
fn log_sum_exp(n: usize, at: impl Fn(usize) -> f32) -> f32 {
    let mut mx = f32::NEG_INFINITY;
    for i in 0..n {
        mx = mx.max(at(i));
    }
    if !mx.is_finite() {
        return mx;
    }
    let s: f32 = (0..n).map(|i| libm::expf(at(i) - mx)).sum();
    mx + libm::logf(s)
}

/// Iterations of the mHC residual routing's Sinkhorn normalisation.
pub(crate) const SINKHORN_ITERS: usize = 20;

/// The doubly stochastic routing matrix of the mHC lanes from its logits (`n × n`,
/// row-major), in place: in the log domain, each of 20 rounds subtracts every row's
/// log-sum-exp, then every column's; the result is the exponential (columns last).
pub(crate) fn sinkhorn(r: &mut [f32], n: usize) {
    debug_assert_eq!(r.len(), n * n);
    for _ in 0..SINKHORN_ITERS {
        for i in 0..n {
            let l = log_sum_exp(n, |j| r[i * n + j]);
            for j in 0..n {
                r[i * n + j] -= l;
            }
        }
        for j in 0..n {
            let l = log_sum_exp(n, |i| r[i * n + j]);
            for i in 0..n {
                r[i * n + j] -= l;
            }
        }
    }
    for v in r.iter_mut() {
        *v = libm::expf(*v);
    }
}

const ENGRAM_SEED: u32 = 0x9E37_79B9;
const ENGRAM_PRIME: u32 = 0x0100_0193;

/// The hash seed of Engram table `order_index · heads + head`; `stride` is the head
/// count (v3: the file's `engram_seed_heads` when that is not 0).
pub(crate) fn engram_seed(order_index: usize, head: usize, stride: usize) -> u32 {
    ENGRAM_SEED.wrapping_mul((order_index * stride + head + 1) as u32)
}

/// The slot an Engram table reads at the position of the last id of `recent` (the ids
/// up to and including that position; ids before the start of the text count as 0):
/// an FNV-style hash of the last `order` ids, folded, modulo `slots`.
pub(crate) fn engram_slot(recent: &[u32], order: usize, seed: u32, slots: u32) -> u32 {
    let mut acc = seed;
    for j in 0..order {
        let tok = if j < recent.len() { recent[recent.len() - 1 - j] } else { 0 };
        acc = (acc ^ tok).wrapping_mul(ENGRAM_PRIME);
    }
    acc ^= acc >> 15;
    acc % slots
}

/// RoPE frequencies of a head width `hd` as upstream computes them in f32:
/// `f_i = 1 / θ^(2i / hd)` for `i < hd / 2`.
pub(crate) fn rope_freqs(hd: usize, theta: f32) -> Vec<f32> {
    (0..hd / 2).map(|i| 1.0 / libm::powf(theta, (2 * i) as f32 / hd as f32)).collect()
}

/// Split-half (NeoX) rotation of one head `x` at absolute position `pos`, with the
/// angle `pos · f_i` rounded as upstream does.
pub(crate) fn rope(x: &mut [f32], pos: usize, freqs: &[f32]) {
    let half = x.len() / 2;
    let (a, b) = x.split_at_mut(half);
    for i in 0..half {
        let ang = pos as f32 * freqs[i];
        let (sn, cs) = (libm::sinf(ang), libm::cosf(ang));
        let (x1, x2) = (a[i], b[i]);
        a[i] = x1 * cs - x2 * sn;
        b[i] = x2 * cs + x1 * sn;
    }
}

/// The mean of the `n` lanes (`[n × d]`, lane-major) into `out` (length `d`).
pub(crate) fn mean_lanes(lanes: &[f32], n: usize, d: usize, out: &mut [f32]) {
    out.fill(0.0);
    for i in 0..n {
        for (o, x) in out.iter_mut().zip(&lanes[i * d..(i + 1) * d]) {
            *o += x;
        }
    }
    for o in out.iter_mut() {
        *o /= n as f32;
    }
}

/// `x · σ(x)`.
#[inline]
pub(crate) fn silu(x: f32) -> f32 {
    x / (1.0 + libm::expf(-x))
}
