//! The f32 panel micro-kernel shared by every matrix product, and `C = α·A·B` over a
//! packed `B` (column panels of [`NC`] columns).

#![allow(clippy::needless_range_loop)]

#[cfg_attr(target_arch = "wasm32", allow(unused_imports))]
use super::{isa, madd, Isa};
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use super::simd128;


/// Columns per panel (the width the micro-kernel accumulates at once).
pub(crate) const NC: usize = 32;

/// The micro-kernel: `c[i][0..width] = alpha · Σ_r a[i·lda + r] · panel[r][·]` for `R`
/// rows; `R × NC` accumulators live in registers (16 zmm for R = 8 on AVX-512).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn micro<const FMA: bool, const R: usize>(
    a: &[f32],
    lda: usize,
    k: usize,
    panel: &[f32],
    c: &mut [f32],
    ldc: usize,
    width: usize,
    alpha: f32,
) {
    assert!(panel.len() >= k * NC && a.len() >= (R - 1) * lda + k && width <= NC);
    assert!(c.len() >= (R - 1) * ldc + width);
    let xs: [&[f32]; R] = core::array::from_fn(|i| &a[i * lda..i * lda + k]);
    let mut acc = [[0f32; NC]; R];
    let (pp, xp) = (panel.as_ptr(), xs.map(|s| s.as_ptr()));
    for r in 0..k {
        // SAFETY: r < k, `panel` holds k·NC values and every `xs[i]` holds k (asserted
        // and sliced above); unchecked reads keep the accumulators in registers.
        let w: &[f32; NC] = unsafe { &*(pp.add(r * NC) as *const [f32; NC]) };
        for i in 0..R {
            // SAFETY: as above.
            let xv = unsafe { *xp[i].add(r) };
            let ai = &mut acc[i];
            for j in 0..NC {
                ai[j] = madd::<FMA>(xv, w[j], ai[j]);
            }
        }
    }
    for i in 0..R {
        let dst = &mut c[i * ldc..i * ldc + width];
        for (d, s) in dst.iter_mut().zip(&acc[i]) {
            *d = s * alpha;
        }
    }
}

/// All row blocks of one panel: `c[rows × width] = alpha · a[rows × k] · panel`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn panel_rows<const FMA: bool, const MRX: usize>(
    a: &[f32],
    lda: usize,
    rows: usize,
    k: usize,
    panel: &[f32],
    c: &mut [f32],
    ldc: usize,
    width: usize,
    alpha: f32,
) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if !FMA {
        return simd128::panel_rows(a, lda, rows, k, panel, c, ldc, width, alpha);
    }
    let mut l = 0;
    while l < rows {
        let m = MRX.min(rows - l);
        let (aa, cc) = (&a[l * lda..], &mut c[l * ldc..]);
        match m {
            8 if MRX >= 8 => micro::<FMA, 8>(aa, lda, k, panel, cc, ldc, width, alpha),
            7 if MRX >= 7 => micro::<FMA, 7>(aa, lda, k, panel, cc, ldc, width, alpha),
            6 if MRX >= 6 => micro::<FMA, 6>(aa, lda, k, panel, cc, ldc, width, alpha),
            5 if MRX >= 5 => micro::<FMA, 5>(aa, lda, k, panel, cc, ldc, width, alpha),
            4 => micro::<FMA, 4>(aa, lda, k, panel, cc, ldc, width, alpha),
            3 => micro::<FMA, 3>(aa, lda, k, panel, cc, ldc, width, alpha),
            2 => micro::<FMA, 2>(aa, lda, k, panel, cc, ldc, width, alpha),
            _ => micro::<FMA, 1>(aa, lda, k, panel, cc, ldc, width, alpha),
        }
        l += m;
    }
}

/// `c[rows × n] = alpha · a[rows × k] · B` with `B` pre-packed by [`pack_panels`]
/// (`c` has row stride `ldc`, `a` row stride `lda`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn sgemm_body<const FMA: bool, const MRX: usize>(
    a: &[f32],
    lda: usize,
    rows: usize,
    k: usize,
    packed: &[f32],
    n: usize,
    c: &mut [f32],
    ldc: usize,
    alpha: f32,
) {
    for (pi, panel) in packed.chunks(k * NC).take(n.div_ceil(NC)).enumerate() {
        let c0 = pi * NC;
        panel_rows::<FMA, MRX>(a, lda, rows, k, panel, &mut c[c0..], ldc, NC.min(n - c0), alpha);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn sgemm_avx512(a: &[f32], lda: usize, rows: usize, k: usize, p: &[f32], n: usize, c: &mut [f32], ldc: usize, alpha: f32) {
    sgemm_body::<true, 8>(a, lda, rows, k, p, n, c, ldc, alpha)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn sgemm_avx2(a: &[f32], lda: usize, rows: usize, k: usize, p: &[f32], n: usize, c: &mut [f32], ldc: usize, alpha: f32) {
    sgemm_body::<true, 4>(a, lda, rows, k, p, n, c, ldc, alpha)
}

/// `c[rows × n] = alpha · a[rows × k] · B`, `B` packed by [`pack_panels`]; `a` has row
/// stride `lda`, `c` row stride `ldc` (only the first `n` columns of each row are written).
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm_packed(a: &[f32], lda: usize, rows: usize, k: usize, packed: &[f32], n: usize, c: &mut [f32], ldc: usize, alpha: f32) {
    if rows == 0 || n == 0 {
        return;
    }
    assert!(packed.len() >= n.div_ceil(NC) * k * NC);
    assert!(a.len() >= (rows - 1) * lda + k && c.len() >= (rows - 1) * ldc + n);
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports the features (checked by `isa()`).
        Isa::Avx512 => unsafe { sgemm_avx512(a, lda, rows, k, packed, n, c, ldc, alpha) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { sgemm_avx2(a, lda, rows, k, packed, n, c, ldc, alpha) },
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => sgemm_body::<true, 2>(a, lda, rows, k, packed, n, c, ldc, alpha),
        _ => sgemm_body::<false, 4>(a, lda, rows, k, packed, n, c, ldc, alpha),
    }
}

/// Packs the `k × n` matrix `B[r][c] = get(r, c)` into column panels `[n/NC][k][NC]`
/// (zero past `n`), the layout [`sgemm_packed`] reads.
#[inline]
pub(crate) fn pack_panels(k: usize, n: usize, out: &mut Vec<f32>, get: impl Fn(usize, usize) -> f32) {
    let np = n.div_ceil(NC);
    out.clear();
    out.resize(np * k * NC, 0.0);
    for p in 0..np {
        let c0 = p * NC;
        let w = NC.min(n - c0);
        let panel = &mut out[p * k * NC..(p + 1) * k * NC];
        for c in 0..w {
            for r in 0..k {
                panel[r * NC + c] = get(r, c0 + c);
            }
        }
    }
}
