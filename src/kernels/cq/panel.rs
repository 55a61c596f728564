//! The many-row CQ product (prefill): each 16-column block's codes are decoded to their
//! levels once, into a panel that every 4-row block then reads, instead of being decoded
//! again for every 4 rows. Each element runs exactly the AVX2 tile's operations (8-lane
//! fused sums over each group in index order, `hsum8`, then `acc = s·ν + acc` in group
//! order) on the same level values, so the result is bit-identical to it and to the
//! one-row product.

use super::{decode, Args, CHUNK};
use core::arch::x86_64::*;

/// Output columns decoded per panel.
const PANEL_COLS: usize = 16;

/// Activation rows from which the panel pays for itself.
pub(super) const PANEL_MIN_ROWS: usize = 8;

/// The product of [`super::CqMatrix::gemm`] through decoded panels (`B`: code bits).
///
/// # Safety
/// The CPU supports AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn gemm<const B: usize>(a: Args<'_, '_>) {
    let Args { m, xhat, rows, y, ldy, c_lo, c_hi } = a;
    let l = m.layout;
    let (g_len, rb, in_pad) = (l.group, l.row_bytes, l.in_pad);
    let ch = g_len.min(CHUNK);
    let cb = ch / 8 * B;
    let mut panel = vec![0f32; PANEL_COLS * in_pad];
    let mut lv = [0f32; CHUNK];
    let mut o0 = c_lo;
    while o0 < c_hi {
        let nc = (c_hi - o0).min(PANEL_COLS);
        for c in 0..nc {
            let codes = &m.codes[(o0 + c) * rb..(o0 + c + 1) * rb];
            let dst = &mut panel[c * in_pad..(c + 1) * in_pad];
            let mut e = 0;
            while e < in_pad {
                let bo = e / 8 * B;
                decode::<B>(&codes[bo..bo + cb], ch, &l.lut, &l.levels, &mut lv);
                dst[e..e + ch].copy_from_slice(&lv[..ch]);
                e += ch;
            }
        }
        let wide = std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512vl");
        let mut r0 = 0;
        while r0 < rows {
            let rr = (rows - r0).min(4);
            let cw = if wide { 4 } else { 2 };
            let mut c0 = 0;
            while c0 < nc {
                let cc = (nc - c0).min(cw);
                let at = Tile { panel: &panel[c0 * in_pad..], xhat: &xhat[r0 * in_pad..], o: o0 + c0, yoff: r0 * ldy + (o0 + c0 - c_lo) };
                // SAFETY: AVX2 and FMA (this function's contract); AVX-512 F/VL where `wide`.
                unsafe {
                    match (rr, cc) {
                        (4, 4) => tile_4x4_avx512(m, &at, y, ldy),
                        (4, 2) => tile::<4, 2>(m, &at, y, ldy),
                        _ => {
                            for r in 0..rr {
                                for c in 0..cc {
                                    let one = Tile {
                                        panel: &at.panel[c * in_pad..],
                                        xhat: &at.xhat[r * in_pad..],
                                        o: at.o + c,
                                        yoff: at.yoff + r * ldy + c,
                                    };
                                    tile::<1, 1>(m, &one, y, ldy);
                                }
                            }
                        }
                    }
                }
                c0 += cc;
            }
            r0 += rr;
        }
        o0 += nc;
    }
}

/// Where one tile reads and writes: the panel from its first column, the activation
/// rows from its first row, the first output column `o` and the offset of its first
/// output in `y`.
struct Tile<'p> {
    panel: &'p [f32],
    xhat: &'p [f32],
    o: usize,
    yoff: usize,
}

/// The 4 × 4 tile with AVX-512 VL's 32 vector registers (16 accumulators, 4 panel
/// vectors and the activation stay in registers); the same operations as [`tile`].
///
/// # Safety
/// The CPU supports AVX-512 F and VL, AVX2 and FMA.
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn tile_4x4_avx512(m: &super::CqMatrix<'_>, t: &Tile<'_>, y: &mut [f32], ldy: usize) {
    // SAFETY: this function's contract includes AVX2 and FMA.
    unsafe { tile_body::<4, 4>(m, t, y, ldy) }
}

/// `R` rows × `C` columns from the decoded panel.
///
/// # Safety
/// The CPU supports AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn tile<const R: usize, const C: usize>(m: &super::CqMatrix<'_>, t: &Tile<'_>, y: &mut [f32], ldy: usize) {
    // SAFETY: this function's contract.
    unsafe { tile_body::<R, C>(m, t, y, ldy) }
}

/// # Safety
/// The CPU supports AVX2 and FMA.
#[inline(always)]
unsafe fn tile_body<const R: usize, const C: usize>(m: &super::CqMatrix<'_>, t: &Tile<'_>, y: &mut [f32], ldy: usize) {
    let l = m.layout;
    let (g_len, in_pad) = (l.group, l.in_pad);
    assert!(t.panel.len() >= (C - 1) * in_pad + in_pad && t.xhat.len() >= (R - 1) * in_pad + in_pad);
    let (pp, xp) = (t.panel.as_ptr(), t.xhat.as_ptr());
    let mut tot = [[0f32; C]; R];
    for g in 0..l.groups {
        // SAFETY: the callers' AVX2 contract.
        let mut acc = [[unsafe { _mm256_setzero_ps() }; C]; R];
        let mut e = g * g_len;
        while e < (g + 1) * g_len {
            // SAFETY: as above.
            let mut lv = [unsafe { _mm256_setzero_ps() }; C];
            for (c, v) in lv.iter_mut().enumerate() {
                // SAFETY: column c's panel row holds `in_pad` values and e + 8 ≤ in_pad (asserted above).
                *v = unsafe { _mm256_loadu_ps(pp.add(c * in_pad + e)) };
            }
            for (r, ar) in acc.iter_mut().enumerate() {
                // SAFETY: as above for activation row r.
                let xv = unsafe { _mm256_loadu_ps(xp.add(r * in_pad + e)) };
                for c in 0..C {
                    // SAFETY: FMA (the callers' contract).
                    ar[c] = unsafe { _mm256_fmadd_ps(lv[c], xv, ar[c]) };
                }
            }
            e += 8;
        }
        for c in 0..C {
            let nu = m.norm(t.o + c, g);
            for r in 0..R {
                // SAFETY: the callers' AVX2 contract.
                tot[r][c] = unsafe { hsum8v(acc[r][c]) }.mul_add(nu, tot[r][c]);
            }
        }
    }
    for (r, tr) in tot.iter().enumerate() {
        y[t.yoff + r * ldy..t.yoff + r * ldy + C].copy_from_slice(tr);
    }
}

/// [`super::hsum8`] of the 8 lanes of `v` in registers, with the same additions in the
/// same order: `s = lo + hi` gives `(a0+a4, a1+a5, a2+a6, a3+a7)`, then
/// `(s0+s2) + (s1+s3)`.
///
/// # Safety
/// The CPU supports AVX.
#[inline(always)]
pub(super) unsafe fn hsum8v(v: __m256) -> f32 {
    // SAFETY: the caller's contract.
    unsafe {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let t = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps::<1>(t, t)))
    }
}
