//! Vector kernels: dot products, zero-centred RMS norm, softmax, sigmoid, RoPE.

#![allow(clippy::needless_range_loop)]

#[cfg_attr(target_arch = "wasm32", allow(unused_imports))]
use super::{isa, Isa};


/// Dot product with 8 independent accumulators.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    const W: usize = 8;
    let n = a.len().min(b.len());
    let mut acc = [0f32; W];
    let chunks = n / W;
    for c in 0..chunks {
        for k in 0..W {
            acc[k] += a[c * W + k] * b[c * W + k];
        }
    }
    let mut s = 0.0;
    for v in acc {
        s += v;
    }
    for j in chunks * W..n {
        s += a[j] * b[j];
    }
    s
}

/// `y += a · x`
#[inline]
pub(crate) fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// Zero-centred RMS norm in place: `x ← (1 + γ) · x / sqrt(mean(x²) + 1e-6)`.
#[inline]
pub(crate) fn zc_rms_norm(x: &mut [f32], gamma: &[f32]) {
    let n = x.len();
    let ss = dot(x, x);
    let inv = 1.0 / libm::sqrtf(ss / n as f32 + 1e-6);
    for (xi, g) in x.iter_mut().zip(gamma) {
        *xi = ((1.0 + g) * *xi) * inv;
    }
}

/// `e^x` for 16 lanes: Cody–Waite reduction by ln 2 and a degree-6 polynomial
/// (Cephes `expf`, ≤ 2 ulp on the softmax range); 0 below −87.3, +∞ above 88.7.
/// Integer-only scaling so it vectorises on every target.
#[inline(always)]
pub(super) fn exp16(x: &mut [f32; 16]) {
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer
    for v in x.iter_mut() {
        let xi = *v;
        let xc = xi.clamp(-87.33, 88.7);
        let t = xc * core::f32::consts::LOG2_E + MAGIC;
        let n = t - MAGIC;
        let ni = (t.to_bits() as i32).wrapping_sub(0x4B40_0000);
        let r = (xc - n * 0.693_359_4) - n * -2.121_944_4e-4;
        let mut p = 1.987_569_1e-4f32;
        p = p * r + 1.398_199_9e-3;
        p = p * r + 8.333_452e-3;
        p = p * r + 4.166_579_6e-2;
        p = p * r + 1.666_666_5e-1;
        p = p * r + 0.5;
        let y = p * r * r + r + 1.0;
        let scale = f32::from_bits(((ni + 127) as u32) << 23);
        let mut e = y * scale;
        if xi < -87.33 {
            e = 0.0;
        }
        if xi > 88.7 {
            e = f32::INFINITY;
        }
        *v = e;
    }
}

#[inline(always)]
fn softmax_body(s: &mut [f32]) {
    const W: usize = 16;
    let n = s.len();
    if n == 0 {
        return;
    }
    let mut mx = [f32::NEG_INFINITY; W];
    let mut chunks = s.chunks_exact(W);
    for c in &mut chunks {
        for j in 0..W {
            mx[j] = if c[j] > mx[j] { c[j] } else { mx[j] };
        }
    }
    let mut m = f32::NEG_INFINITY;
    for v in mx.iter().chain(chunks.remainder()) {
        if *v > m {
            m = *v;
        }
    }
    if m == f32::NEG_INFINITY || m.is_nan() {
        s.fill(1.0 / n as f32);
        return;
    }
    let mut acc = [0f32; W];
    let mut buf = [0f32; W];
    let mut i = 0;
    while i < n {
        let w = W.min(n - i);
        buf.fill(f32::NEG_INFINITY);
        for j in 0..w {
            buf[j] = s[i + j] - m;
        }
        exp16(&mut buf);
        for j in 0..W {
            acc[j] += buf[j];
        }
        s[i..i + w].copy_from_slice(&buf[..w]);
        i += W;
    }
    let mut sum = 0.0f32;
    for a in acc {
        sum += a;
    }
    if sum == 0.0 || !sum.is_finite() {
        s.fill(1.0 / n as f32);
        return;
    }
    let inv = 1.0 / sum;
    for v in s.iter_mut() {
        *v *= inv;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn softmax_avx512(s: &mut [f32]) {
    softmax_body(s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_avx2(s: &mut [f32]) {
    softmax_body(s)
}

/// Numerically safe softmax in place (uniform when every score is −∞), with a
/// vectorised `exp` (docs/ARCHITECTURE.md#numerics leaves the evaluation order and ≤ 2 ulp `exp` free).
pub(crate) fn softmax(s: &mut [f32]) {
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports the features (checked by `isa()`).
        Isa::Avx512 => unsafe { softmax_avx512(s) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { softmax_avx2(s) },
        _ => softmax_body(s),
    }
}

/// Logistic sigmoid.
#[inline]
pub(crate) fn sigmoid(g: f32) -> f32 {
    1.0 / (1.0 + libm::expf(-g))
}

/// RoPE cos/sin for `positions` × `half` frequencies, written as `[cos.., sin..]` per position.
pub(crate) fn rope_table(start: usize, count: usize, head_dim: usize, theta: f32, out: &mut Vec<f32>) {
    let half = head_dim / 2;
    out.clear();
    out.resize(count * head_dim, 0.0);
    let mut inv = Vec::with_capacity(half);
    for i in 0..half {
        inv.push(libm::powf(theta, (2 * i) as f32 / head_dim as f32));
    }
    for p in 0..count {
        let pos = (start + p) as f32;
        let row = &mut out[p * head_dim..(p + 1) * head_dim];
        for i in 0..half {
            let ang = pos / inv[i];
            row[i] = libm::cosf(ang);
            row[half + i] = libm::sinf(ang);
        }
    }
}

/// Applies split-half RoPE to one head vector with the `[cos.., sin..]` row `cs`.
#[inline]
pub(crate) fn rope_apply(x: &mut [f32], cs: &[f32]) {
    let half = x.len() / 2;
    let (a, b) = x.split_at_mut(half);
    let (c, s) = cs.split_at(half);
    for i in 0..half {
        let (x0, x1) = (a[i], b[i]);
        a[i] = x0 * c[i] - x1 * s[i];
        b[i] = x1 * c[i] + x0 * s[i];
    }
}

