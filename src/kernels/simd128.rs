//! WebAssembly SIMD128 versions of the decoder's hot kernels (the INT4 few-row product and
//! the BF16 LM head), compiled only for `wasm32` with the `simd128` target feature.
//!
//! The compiler does not vectorise the portable bodies well for this target (nibble
//! sign-extension and BF16 widening stay scalar), so these are written with explicit
//! `f32x4` operations. They perform, per output value, exactly the operations of the
//! portable (non-FMA) path in the same order — multiply, then add, with the same
//! accumulator layout — so results are bit-identical to `NEEDLE_FORCE_SCALAR` native runs.

#![allow(clippy::needless_range_loop)]

use core::arch::wasm32::*;

/// The signed low and high nibbles of 16 bytes, each as four `f32x4` (columns in order).
/// The shifts run on 16-bit lanes (x86 has no 8-bit shifts; V8 would emulate them).
#[inline(always)]
fn nibbles_to_f32(b: v128) -> ([v128; 4], [v128; 4]) {
    let w = [i16x8_extend_low_i8x16(b), i16x8_extend_high_i8x16(b)];
    let lo = w.map(|v| i16x8_shr(i16x8_shl(v, 12), 12));
    let hi = w.map(|v| i16x8_shr(v, 4));
    let f = |h: [v128; 2]| {
        [
            f32x4_convert_i32x4(i32x4_extend_low_i16x8(h[0])),
            f32x4_convert_i32x4(i32x4_extend_high_i16x8(h[0])),
            f32x4_convert_i32x4(i32x4_extend_low_i16x8(h[1])),
            f32x4_convert_i32x4(i32x4_extend_high_i16x8(h[1])),
        ]
    };
    (f(lo), f(hi))
}

/// One row of `x · Ŵ` for the columns `c_lo .. c_hi` into `y[0 .. c_hi − c_lo]`; the same
/// per-column arithmetic as the portable `gemm_direct` (group sums of the low and high
/// nibble rows, then `acc += (glo + ghi) · scale` once per group), 16 columns at a time.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemv_row(
    x: &[f32],
    inf: usize,
    out: usize,
    gs: usize,
    bytes: &[u8],
    sb: &[u8],
    y: &mut [f32],
    c_lo: usize,
    c_hi: usize,
) {
    const W: usize = 16;
    let pairs = inf.div_ceil(2);
    let ppg = gs.div_ceil(2).max(1);
    assert!(x.len() >= inf && bytes.len() >= pairs * out && c_lo <= c_hi && c_hi <= out);
    assert!(y.len() >= c_hi - c_lo && sb.len() >= inf.div_ceil(gs) * out * 4);
    let mut c0 = c_lo;
    while c0 < c_hi {
        let width = W.min(c_hi - c0);
        let mut acc = [f32x4_splat(0.0); 4];
        let mut p = 0;
        while p < pairs {
            let g = (2 * p) / gs;
            let pend = ((g + 1) * ppg).min(pairs);
            let mut glo = [f32x4_splat(0.0); 4];
            let mut ghi = [f32x4_splat(0.0); 4];
            if width == W && inf % 2 == 0 {
                // Full block, no odd tail: pointer walk without per-row checks.
                // SAFETY: for p < pend <= pairs, p·out + c0 + 16 <= p·out + c_hi <= bytes.len()
                // and 2p + 1 < inf <= x.len() (asserted above).
                unsafe {
                    let mut bp = bytes.as_ptr().add(p * out + c0);
                    let mut xp = x.as_ptr().add(2 * p);
                    while p < pend {
                        let b = v128_load(bp as *const v128);
                        let x0 = f32x4_splat(*xp);
                        let x1 = f32x4_splat(*xp.add(1));
                        let (lo, hi) = nibbles_to_f32(b);
                        for k in 0..4 {
                            glo[k] = f32x4_add(f32x4_mul(lo[k], x0), glo[k]);
                        }
                        for k in 0..4 {
                            ghi[k] = f32x4_add(f32x4_mul(hi[k], x1), ghi[k]);
                        }
                        bp = bp.add(out);
                        xp = xp.add(2);
                        p += 1;
                    }
                }
            }
            while p < pend {
                let o = p * out + c0;
                let b = if width == W {
                    // SAFETY: o + 16 <= p·out + c_hi <= bytes.len() (asserted above).
                    unsafe { v128_load(bytes.as_ptr().add(o) as *const v128) }
                } else {
                    let mut t = [0u8; 16];
                    t[..width].copy_from_slice(&bytes[o..o + width]);
                    // SAFETY: `t` is 16 bytes.
                    unsafe { v128_load(t.as_ptr() as *const v128) }
                };
                let x0 = f32x4_splat(x[2 * p]);
                let x1 = f32x4_splat(if 2 * p + 1 < inf { x[2 * p + 1] } else { 0.0 });
                let (lo, hi) = nibbles_to_f32(b);
                for k in 0..4 {
                    glo[k] = f32x4_add(f32x4_mul(lo[k], x0), glo[k]);
                }
                for k in 0..4 {
                    ghi[k] = f32x4_add(f32x4_mul(hi[k], x1), ghi[k]);
                }
                p += 1;
            }
            // The scales are little-endian F32 (wasm is little-endian): load them as vectors.
            let so = 4 * (g * out + c0);
            let mut sv = [f32x4_splat(0.0); 4];
            if width == W {
                for (k, v) in sv.iter_mut().enumerate() {
                    // SAFETY: so + 64 <= 4·(g·out + c_hi) <= sb.len() (asserted above).
                    *v = unsafe { v128_load(sb.as_ptr().add(so + 16 * k) as *const v128) };
                }
            } else {
                let mut t = [0u8; 4 * W];
                t[..4 * width].copy_from_slice(&sb[so..so + 4 * width]);
                for (k, v) in sv.iter_mut().enumerate() {
                    // SAFETY: `t` holds 64 bytes.
                    *v = unsafe { v128_load(t.as_ptr().add(16 * k) as *const v128) };
                }
            }
            for k in 0..4 {
                acc[k] = f32x4_add(f32x4_mul(f32x4_add(glo[k], ghi[k]), sv[k]), acc[k]);
            }
        }
        let mut res = [0f32; W];
        for k in 0..4 {
            // SAFETY: `res` holds 16 f32.
            unsafe { v128_store(res.as_mut_ptr().add(4 * k) as *mut v128, acc[k]) };
        }
        let o = c0 - c_lo;
        y[o..o + width].copy_from_slice(&res[..width]);
        c0 += W;
    }
}

/// Eight BF16 values (16 little-endian bytes) as two `f32x4`.
#[inline(always)]
fn bf16x8_to_f32(v: v128) -> [v128; 2] {
    [i32x4_shl(u32x4_extend_low_u16x8(v), 16), i32x4_shl(u32x4_extend_high_u16x8(v), 16)]
}

/// Tied LM head `logits[v] = z · E[v]` over BF16 rows, with the portable kernel's
/// accumulator layout: 16 lane sums per row (element `j` goes to lane `j mod 16`), summed
/// in lane order, then the tail `d mod 16` elements added one by one.
pub(crate) fn lm_head(z: &[f32], emb: &[u8], logits: &mut [f32]) {
    const W: usize = 16;
    const V: usize = 2;
    let d = z.len();
    let chunks = d / W;
    assert!(emb.len() >= logits.len() * 2 * d);
    let zv: Vec<v128> = (0..chunks * 4)
        // SAFETY: 4·i + 4 <= chunks·16 <= d.
        .map(|i| unsafe { v128_load(z.as_ptr().add(4 * i) as *const v128) })
        .collect();
    let mut v0 = 0;
    for outs in logits.chunks_mut(V) {
        let rows = super::emb_rows::<V>(emb, d, v0, outs.len());
        let mut acc = [[f32x4_splat(0.0); 4]; V];
        for c in 0..chunks {
            for i in 0..V {
                let rb = &rows[i][c * 2 * W..c * 2 * W + 2 * W];
                // SAFETY: `rb` holds 32 bytes = two v128.
                let (b0, b1) = unsafe {
                    (v128_load(rb.as_ptr() as *const v128), v128_load(rb.as_ptr().add(16) as *const v128))
                };
                let [e0, e1] = bf16x8_to_f32(b0);
                let [e2, e3] = bf16x8_to_f32(b1);
                let a = &mut acc[i];
                a[0] = f32x4_add(f32x4_mul(zv[4 * c], e0), a[0]);
                a[1] = f32x4_add(f32x4_mul(zv[4 * c + 1], e1), a[1]);
                a[2] = f32x4_add(f32x4_mul(zv[4 * c + 2], e2), a[2]);
                a[3] = f32x4_add(f32x4_mul(zv[4 * c + 3], e3), a[3]);
            }
        }
        for (i, out) in outs.iter_mut().enumerate() {
            let mut lanes = [0f32; W];
            for k in 0..4 {
                // SAFETY: `lanes` holds 16 f32.
                unsafe { v128_store(lanes.as_mut_ptr().add(4 * k) as *mut v128, acc[i][k]) };
            }
            let mut s = 0.0f32;
            for l in lanes {
                s += l;
            }
            for j in chunks * W..d {
                let e = super::bf16_to_f32(u16::from_le_bytes([rows[i][2 * j], rows[i][2 * j + 1]]));
                s += z[j] * e;
            }
            *out = s;
        }
        v0 += V;
    }
}

/// `c[rows × width] = alpha · a[rows × k] · panel` for one packed panel (`panel[r][NC]`),
/// in blocks of `R` rows × 16 columns. Each output is `alpha · Σ_r a[i][r] · panel[r][j]`
/// accumulated in `r` order, exactly as the portable micro-kernel does.
#[allow(clippy::too_many_arguments)]
pub(crate) fn panel_rows(a: &[f32], lda: usize, rows: usize, k: usize, panel: &[f32], c: &mut [f32], ldc: usize, width: usize, alpha: f32) {
    use super::NC;
    const R: usize = 2;
    assert!(panel.len() >= k * NC && width <= NC);
    if rows == 0 {
        return;
    }
    assert!(a.len() >= (rows - 1) * lda + k && c.len() >= (rows - 1) * ldc + width);
    let av = f32x4_splat(alpha);
    let mut l = 0;
    while l < rows {
        let m = R.min(rows - l);
        for j0 in (0..width).step_by(16) {
            let mut acc = [[f32x4_splat(0.0); 4]; R];
            let pp = panel.as_ptr();
            for r in 0..k {
                // SAFETY: r < k and j0 + 16 <= NC, so the 16 floats lie inside `panel` (asserted).
                let w = unsafe {
                    let q = pp.add(r * NC + j0);
                    [v128_load(q as *const v128), v128_load(q.add(4) as *const v128),
                     v128_load(q.add(8) as *const v128), v128_load(q.add(12) as *const v128)]
                };
                for i in 0..m {
                    // SAFETY: (l + i) · lda + r < (rows − 1) · lda + k <= a.len() (asserted).
                    let xv = f32x4_splat(unsafe { *a.get_unchecked((l + i) * lda + r) });
                    for t in 0..4 {
                        acc[i][t] = f32x4_add(f32x4_mul(xv, w[t]), acc[i][t]);
                    }
                }
            }
            for i in 0..m {
                let mut t = [0f32; 16];
                for q in 0..4 {
                    // SAFETY: `t` holds 16 f32 = four v128.
                    unsafe { v128_store(t.as_mut_ptr().add(4 * q) as *mut v128, f32x4_mul(acc[i][q], av)) };
                }
                let n = 16.min(width - j0);
                let o = (l + i) * ldc + j0;
                c[o..o + n].copy_from_slice(&t[..n]);
            }
        }
        l += m;
    }
}

/// Dequantises columns `c0 .. c0 + NC` of an INT4 matrix into `panel[in_feat][NC]` (zero past
/// `out`): `panel[r][c] = nibble · scale`, the single multiply of the portable `fill_panel`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fill_panel(inf: usize, out: usize, gs: usize, bytes: &[u8], sb: &[u8], c0: usize, panel: &mut [f32]) {
    use super::NC;
    const _: () = assert!(NC == 32);
    let width = NC.min(out - c0);
    let pairs = inf.div_ceil(2);
    assert!(bytes.len() >= pairs * out && panel.len() >= inf * NC);
    let mut sv = [f32x4_splat(0.0); 8];
    let mut cur_g = usize::MAX;
    for p in 0..pairs {
        let g = (2 * p) / gs;
        if g != cur_g {
            let mut t = [0u8; 4 * NC];
            let so = 4 * (g * out + c0);
            t[..4 * width].copy_from_slice(&sb[so..so + 4 * width]);
            for (k, v) in sv.iter_mut().enumerate() {
                // SAFETY: `t` holds 128 bytes = eight v128 (little-endian F32, as wasm is).
                *v = unsafe { v128_load(t.as_ptr().add(16 * k) as *const v128) };
            }
            cur_g = g;
        }
        let o = p * out + c0;
        let (b0, b1) = if width == NC {
            // SAFETY: o + 32 <= p·out + out <= bytes.len() (asserted).
            unsafe { (v128_load(bytes.as_ptr().add(o) as *const v128), v128_load(bytes.as_ptr().add(o + 16) as *const v128)) }
        } else {
            let mut t = [0u8; NC];
            t[..width].copy_from_slice(&bytes[o..o + width]);
            // SAFETY: `t` holds 32 bytes.
            unsafe { (v128_load(t.as_ptr() as *const v128), v128_load(t.as_ptr().add(16) as *const v128)) }
        };
        let (l0, h0) = nibbles_to_f32(b0);
        let (l1, h1) = nibbles_to_f32(b1);
        let lo = [l0[0], l0[1], l0[2], l0[3], l1[0], l1[1], l1[2], l1[3]];
        let hi = [h0[0], h0[1], h0[2], h0[3], h1[0], h1[1], h1[2], h1[3]];
        let row = &mut panel[2 * p * NC..2 * p * NC + NC];
        for k in 0..8 {
            // SAFETY: `row` holds 32 f32 = eight v128.
            unsafe { v128_store(row.as_mut_ptr().add(4 * k) as *mut v128, f32x4_mul(lo[k], sv[k])) };
        }
        if 2 * p + 1 < inf {
            let row = &mut panel[(2 * p + 1) * NC..(2 * p + 2) * NC];
            for k in 0..8 {
                // SAFETY: as above.
                unsafe { v128_store(row.as_mut_ptr().add(4 * k) as *mut v128, f32x4_mul(hi[k], sv[k])) };
            }
        }
    }
}
