//! Numeric kernels: INT4 matrix products, the BF16 LM head, dot products, norms.
//!
//! All arithmetic is f32 (spec A8). Each hot kernel is written once as portable Rust
//! and instantiated for several instruction sets (AVX-512, AVX2+FMA, baseline), picked
//! at run time; the compiler vectorises the fixed-width inner loops.

#![allow(clippy::needless_range_loop)]

use crate::loader::bf16_to_f32;

/// A packed INT4 projection `y = x · Ŵ`, `Ŵ[r,o] = q[r,o] · scale[r / gs, o]`.
#[derive(Debug, Clone)]
pub(crate) struct QMatrix {
    pub in_feat: usize,
    pub out_feat: usize,
    /// Rows per quantisation group: `min(32, in_feat)`.
    pub gs: usize,
    /// Absolute byte range of the packed codes in the weights storage.
    pub start: usize,
    pub len: usize,
    /// `[groups, out_feat]` row-major.
    pub scales: Vec<f32>,
}

/// Columns per panel (the width the micro-kernel accumulates at once).
pub(crate) const NC: usize = 32;
/// Rows per micro-kernel call.
const MR: usize = 4;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Isa {
    Avx512,
    Avx2,
    Base,
}

fn isa() -> Isa {
    use std::sync::OnceLock;
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::env::var_os("NEEDLE_FORCE_SCALAR").is_some() {
                return Isa::Base;
            }
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma") {
                return Isa::Avx512;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Isa::Avx2;
            }
        }
        Isa::Base
    })
}

/// Name of the instruction set the kernels run with on this machine.
pub fn isa_name() -> &'static str {
    match isa() {
        Isa::Avx512 => "avx512",
        Isa::Avx2 => "avx2+fma",
        Isa::Base => "portable",
    }
}

#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// Dequantises columns `c0 .. c0+NC` of `q` into `panel[in_feat][NC]` (zero past out_feat).
#[inline(always)]
fn fill_panel(q: &QMatrix, bytes: &[u8], c0: usize, panel: &mut [f32]) {
    let out = q.out_feat;
    let width = NC.min(out - c0);
    let pairs = q.in_feat.div_ceil(2);
    for p in 0..pairs {
        let g = (2 * p) / q.gs;
        let row = &bytes[p * out + c0..p * out + c0 + width];
        let sc = &q.scales[g * out + c0..g * out + c0 + width];
        let (lo_row, rest) = panel[2 * p * NC..].split_at_mut(NC);
        let mut lo = [0f32; NC];
        let mut hi = [0f32; NC];
        for c in 0..width {
            let b = row[c];
            lo[c] = (((b << 4) as i8) >> 4) as f32 * sc[c];
            hi[c] = ((b as i8) >> 4) as f32 * sc[c];
        }
        lo_row.copy_from_slice(&lo);
        if 2 * p + 1 < q.in_feat {
            rest[..NC].copy_from_slice(&hi);
        }
    }
}

#[inline(always)]
fn micro<const FMA: bool, const R: usize>(
    x: &[f32],
    in_feat: usize,
    panel: &[f32],
    acc: &mut [[f32; NC]; MR],
) {
    for a in acc.iter_mut() {
        *a = [0.0; NC];
    }
    for r in 0..in_feat {
        let w: &[f32; NC] = panel[r * NC..r * NC + NC].try_into().unwrap();
        for i in 0..R {
            let xv = x[i * in_feat + r];
            let a = &mut acc[i];
            for c in 0..NC {
                a[c] = madd::<FMA>(xv, w[c], a[c]);
            }
        }
    }
}

#[inline(always)]
fn gemm_body<const FMA: bool>(
    x: &[f32],
    rows: usize,
    q: &QMatrix,
    bytes: &[u8],
    y: &mut [f32],
    panel: &mut Vec<f32>,
) {
    let (inf, out) = (q.in_feat, q.out_feat);
    panel.clear();
    panel.resize((inf + 1) * NC, 0.0);
    let mut acc = [[0f32; NC]; MR];
    let mut c0 = 0;
    while c0 < out {
        let width = NC.min(out - c0);
        fill_panel(q, bytes, c0, panel);
        let mut l = 0;
        while l < rows {
            let m = MR.min(rows - l);
            let xs = &x[l * inf..(l + m) * inf];
            match m {
                4 => micro::<FMA, 4>(xs, inf, panel, &mut acc),
                3 => micro::<FMA, 3>(xs, inf, panel, &mut acc),
                2 => micro::<FMA, 2>(xs, inf, panel, &mut acc),
                _ => micro::<FMA, 1>(xs, inf, panel, &mut acc),
            }
            for i in 0..m {
                let dst = &mut y[(l + i) * out + c0..(l + i) * out + c0 + width];
                dst.copy_from_slice(&acc[i][..width]);
            }
            l += m;
        }
        c0 += NC;
    }
}

/// Few rows (the decoder): decode each packed byte once and use it for every row,
/// accumulating `Σ q·x` per group and scaling once per group.
#[inline(always)]
fn gemm_direct<const FMA: bool>(x: &[f32], rows: usize, q: &QMatrix, bytes: &[u8], y: &mut [f32]) {
    const W: usize = 16;
    const R: usize = 4;
    let (inf, out) = (q.in_feat, q.out_feat);
    let pairs = inf.div_ceil(2);
    let pairs_per_group = q.gs.div_ceil(2).max(1);
    debug_assert!(rows <= R);
    let mut xr = [[0f32; 2]; R];
    let mut c0 = 0;
    while c0 < out {
        let width = W.min(out - c0);
        let mut acc = [[0f32; W]; R];
        let mut p = 0;
        while p < pairs {
            let g = (2 * p) / q.gs;
            let pend = ((g + 1) * pairs_per_group).min(pairs);
            let mut gacc = [[0f32; W]; R];
            while p < pend {
                let row = &bytes[p * out + c0..p * out + c0 + width];
                let mut lo = [0f32; W];
                let mut hi = [0f32; W];
                for c in 0..width {
                    let b = row[c];
                    lo[c] = (((b << 4) as i8) >> 4) as f32;
                    hi[c] = ((b as i8) >> 4) as f32;
                }
                for r in 0..rows {
                    xr[r][0] = x[r * inf + 2 * p];
                    xr[r][1] = if 2 * p + 1 < inf { x[r * inf + 2 * p + 1] } else { 0.0 };
                    for c in 0..W {
                        let t = madd::<FMA>(lo[c], xr[r][0], gacc[r][c]);
                        gacc[r][c] = madd::<FMA>(hi[c], xr[r][1], t);
                    }
                }
                p += 1;
            }
            let sc = &q.scales[g * out + c0..g * out + c0 + width];
            let mut s = [0f32; W];
            s[..width].copy_from_slice(sc);
            for r in 0..rows {
                for c in 0..W {
                    acc[r][c] = madd::<FMA>(gacc[r][c], s[c], acc[r][c]);
                }
            }
        }
        for r in 0..rows {
            y[r * out + c0..r * out + c0 + width].copy_from_slice(&acc[r][..width]);
        }
        c0 += W;
    }
}

#[inline(always)]
fn gemm_any<const FMA: bool>(x: &[f32], rows: usize, q: &QMatrix, b: &[u8], y: &mut [f32], p: &mut Vec<f32>) {
    if rows <= 4 {
        gemm_direct::<FMA>(x, rows, q, b, y)
    } else {
        gemm_body::<FMA>(x, rows, q, b, y, p)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn gemm_avx512(x: &[f32], rows: usize, q: &QMatrix, b: &[u8], y: &mut [f32], p: &mut Vec<f32>) {
    gemm_any::<true>(x, rows, q, b, y, p)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gemm_avx2(x: &[f32], rows: usize, q: &QMatrix, b: &[u8], y: &mut [f32], p: &mut Vec<f32>) {
    gemm_any::<true>(x, rows, q, b, y, p)
}

/// `y[rows × out] = x[rows × in] · Ŵ`, overwriting `y`. `bytes` are the packed codes,
/// `panel` is reusable scratch.
pub(crate) fn gemm_i4(
    x: &[f32],
    rows: usize,
    q: &QMatrix,
    bytes: &[u8],
    y: &mut [f32],
    panel: &mut Vec<f32>,
) {
    debug_assert!(x.len() >= rows * q.in_feat && y.len() >= rows * q.out_feat);
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports the features (checked by `isa()`).
        Isa::Avx512 => unsafe { gemm_avx512(x, rows, q, bytes, y, panel) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { gemm_avx2(x, rows, q, bytes, y, panel) },
        _ => gemm_any::<false>(x, rows, q, bytes, y, panel),
    }
}

#[inline(always)]
fn lm_head_body<const FMA: bool>(z: &[f32], emb: &[u8], logits: &mut [f32]) {
    const W: usize = 16;
    let d = z.len();
    let chunks = d / W;
    for (v, out) in logits.iter_mut().enumerate() {
        let row = &emb[v * 2 * d..(v + 1) * 2 * d];
        let mut acc = [0f32; W];
        for c in 0..chunks {
            let zz = &z[c * W..c * W + W];
            let rb = &row[c * 2 * W..c * 2 * W + 2 * W];
            for k in 0..W {
                let e = bf16_to_f32(u16::from_le_bytes([rb[2 * k], rb[2 * k + 1]]));
                acc[k] = madd::<FMA>(zz[k], e, acc[k]);
            }
        }
        let mut s = 0.0f32;
        for k in 0..W {
            s += acc[k];
        }
        for j in chunks * W..d {
            let e = bf16_to_f32(u16::from_le_bytes([row[2 * j], row[2 * j + 1]]));
            s = madd::<FMA>(z[j], e, s);
        }
        *out = s;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn lm_head_avx512(z: &[f32], emb: &[u8], logits: &mut [f32]) {
    lm_head_body::<true>(z, emb, logits)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn lm_head_avx2(z: &[f32], emb: &[u8], logits: &mut [f32]) {
    lm_head_body::<true>(z, emb, logits)
}

/// Tied LM head: `logits[v] = z · E[v]` over the BF16 embedding bytes `[V, D]`.
pub(crate) fn lm_head(z: &[f32], emb: &[u8], logits: &mut [f32]) {
    debug_assert!(emb.len() >= logits.len() * z.len() * 2);
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports the features (checked by `isa()`).
        Isa::Avx512 => unsafe { lm_head_avx512(z, emb, logits) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { lm_head_avx2(z, emb, logits) },
        _ => lm_head_body::<false>(z, emb, logits),
    }
}

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

/// Numerically safe softmax in place (uniform when every score is −∞).
pub(crate) fn softmax(s: &mut [f32]) {
    let n = s.len();
    if n == 0 {
        return;
    }
    let m = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if m == f32::NEG_INFINITY {
        s.fill(1.0 / n as f32);
        return;
    }
    let mut sum = 0.0f32;
    for v in s.iter_mut() {
        *v = libm::expf(*v - m);
        sum += *v;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(w: &[f32], inf: usize, out: usize) -> (Vec<u8>, Vec<f32>, Vec<f32>) {
        // Returns packed codes, scales and the dequantised reference matrix.
        let gs = inf.min(32);
        let inp = inf.div_ceil(gs) * gs;
        let groups = inp / gs;
        let mut scales = vec![0f32; groups * out];
        for g in 0..groups {
            for o in 0..out {
                let mut m = 0f32;
                for r in g * gs..((g + 1) * gs).min(inf) {
                    m = m.max(w[r * out + o].abs());
                }
                scales[g * out + o] = (m / 7.0).max(1e-8);
            }
        }
        let mut q = vec![0i8; inp * out];
        let mut deq = vec![0f32; inf * out];
        for r in 0..inf {
            for o in 0..out {
                let s = scales[(r / gs) * out + o];
                let v = (w[r * out + o] / s).round_ties_even().clamp(-8.0, 7.0) as i8;
                q[r * out + o] = v;
                deq[r * out + o] = v as f32 * s;
            }
        }
        let mut bytes = vec![0u8; inp / 2 * out];
        for p in 0..inp / 2 {
            for o in 0..out {
                let lo = q[2 * p * out + o] as u8 & 0xf;
                let hi = q[(2 * p + 1) * out + o] as u8 & 0xf;
                bytes[p * out + o] = lo | (hi << 4);
            }
        }
        (bytes, scales, deq)
    }

    #[test]
    fn gemm_matches_naive_dequantised_product() {
        let mut seed = 12345u64;
        let mut rnd = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
        };
        for &(inf, out, rows) in &[(64usize, 48usize, 5usize), (20, 7, 1), (22, 5, 2), (96, 33, 9), (512, 256, 3), (512, 40, 4)] {
            let w: Vec<f32> = (0..inf * out).map(|_| rnd()).collect();
            let x: Vec<f32> = (0..rows * inf).map(|_| rnd()).collect();
            let (bytes, scales, deq) = pack(&w, inf, out);
            let q = QMatrix { in_feat: inf, out_feat: out, gs: inf.min(32), start: 0, len: bytes.len(), scales };
            let mut y = vec![f32::NAN; rows * out];
            let mut panel = Vec::new();
            gemm_i4(&x, rows, &q, &bytes, &mut y, &mut panel);
            for l in 0..rows {
                for o in 0..out {
                    let mut s = 0f64;
                    for r in 0..inf {
                        s += x[l * inf + r] as f64 * deq[r * out + o] as f64;
                    }
                    let got = y[l * out + o] as f64;
                    assert!((got - s).abs() < 1e-4 * (1.0 + s.abs()), "{inf}x{out} row {l} col {o}: {got} vs {s}");
                }
            }
        }
    }

    #[test]
    fn lm_head_matches_naive() {
        let d = 40;
        let v = 9;
        let z: Vec<f32> = (0..d).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut emb = Vec::new();
        let mut e = vec![0f32; v * d];
        for i in 0..v * d {
            let f = ((i as f32) * 0.11).cos();
            let b = (f.to_bits() >> 16) as u16;
            e[i] = f32::from_bits((b as u32) << 16);
            emb.extend_from_slice(&b.to_le_bytes());
        }
        let mut logits = vec![0f32; v];
        lm_head(&z, &emb, &mut logits);
        for t in 0..v {
            let s: f32 = (0..d).map(|j| z[j] * e[t * d + j]).sum();
            assert!((logits[t] - s).abs() < 1e-5, "{t}: {} vs {s}", logits[t]);
        }
    }

    #[test]
    fn softmax_handles_all_negative_infinity() {
        let mut s = [f32::NEG_INFINITY; 4];
        softmax(&mut s);
        assert_eq!(s, [0.25; 4]);
        let mut s = [0.0, (2.0f32).ln()];
        softmax(&mut s);
        assert!((s[0] - 1.0 / 3.0).abs() < 1e-6 && (s[1] - 2.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn norm_matches_formula() {
        let mut x = [1.0f32, 2.0, 3.0, 4.0];
        zc_rms_norm(&mut x, &[0.0, 0.5, -1.0, 0.0]);
        let inv = 1.0 / (7.5f32 + 1e-6).sqrt();
        assert!((x[0] - inv).abs() < 1e-6);
        assert!((x[1] - 3.0 * inv).abs() < 1e-6);
        assert_eq!(x[2], 0.0);
    }
}
