//! Numeric kernels: INT4 matrix products, the BF16 LM head, dot products, norms.
//!
//! All arithmetic is f32 (spec A8). Each hot kernel is written once as portable Rust
//! and instantiated for several instruction sets (AVX-512, AVX2+FMA, baseline), picked
//! at run time; the compiler vectorises the fixed-width inner loops.

#![allow(clippy::needless_range_loop)]

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;

pub mod cq;

/// Widens a little-endian IEEE binary16 value exactly.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let mant = (h & 0x3ff) as u32;
    let bits = if exp == 0 {
        if mant == 0 {
            sign
        } else {
            // Subnormal: mant * 2^-24, exact in f32.
            let v = mant as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
    } else if exp == 0x1f {
        sign | 0x7f80_0000 | (mant << 13)
    } else {
        sign | ((exp + 112) << 23) | (mant << 13)
    };
    f32::from_bits(bits)
}

/// Widens a bfloat16 bit pattern exactly.
#[inline(always)]
pub fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

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
    /// Absolute byte offset of the F32 scales `[groups, out_feat]` (row-major,
    /// little-endian) in the weights storage. They stay in the memory map and are read
    /// (unaligned) where they are used: nothing is copied or converted at load.
    pub scale_start: usize,
}

impl QMatrix {
    /// Quantisation groups along the input.
    #[inline]
    pub fn groups(&self) -> usize {
        self.in_feat.div_ceil(self.gs)
    }

    /// The packed codes and the raw scale bytes of this matrix within `data` (the
    /// whole weights storage).
    #[inline]
    fn parts<'a>(&self, data: &'a [u8]) -> (&'a [u8], &'a [u8]) {
        let sl = self.groups() * self.out_feat * 4;
        (&data[self.start..self.start + self.len], &data[self.scale_start..self.scale_start + sl])
    }
}

/// Scales `idx .. idx + width` of the little-endian F32 scale bytes `sb` into `dst`.
#[inline(always)]
fn load_scales<const W: usize>(sb: &[u8], idx: usize, width: usize, dst: &mut [f32; W]) {
    let src = &sb[4 * idx..4 * (idx + width)];
    for (d, c) in dst.iter_mut().zip(src.chunks_exact(4)) {
        *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
}

/// Columns per panel (the width the micro-kernel accumulates at once).
pub(crate) const NC: usize = 32;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
enum Isa {
    Avx512,
    Avx2,
    /// aarch64: Advanced SIMD is part of the base architecture, with fused multiply-add.
    #[cfg(target_arch = "aarch64")]
    Neon,
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
        #[cfg(target_arch = "aarch64")]
        {
            if std::env::var_os("NEEDLE_FORCE_SCALAR").is_none() {
                return Isa::Neon;
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
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => "neon",
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
fn fill_panel(q: &QMatrix, bytes: &[u8], sb: &[u8], c0: usize, panel: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    simd128::fill_panel(q.in_feat, q.out_feat, q.gs, bytes, sb, c0, panel);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    fill_panel_portable(q, bytes, sb, c0, panel);
}

#[inline(always)]
#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
fn fill_panel_portable(q: &QMatrix, bytes: &[u8], sb: &[u8], c0: usize, panel: &mut [f32]) {
    let out = q.out_feat;
    let width = NC.min(out - c0);
    let pairs = q.in_feat.div_ceil(2);
    let mut sc = [0f32; NC];
    let mut cur_g = usize::MAX;
    for p in 0..pairs {
        let g = (2 * p) / q.gs;
        if g != cur_g {
            load_scales(sb, g * out + c0, width, &mut sc);
            cur_g = g;
        }
        let row = &bytes[p * out + c0..p * out + c0 + width];
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
fn panel_rows<const FMA: bool, const MRX: usize>(
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

#[inline(always)]
fn gemm_body<const FMA: bool, const MRX: usize>(
    x: &[f32],
    rows: usize,
    q: &QMatrix,
    data: &[u8],
    y: &mut [f32],
    panel: &mut Vec<f32>,
) {
    let (inf, out) = (q.in_feat, q.out_feat);
    let (bytes, sb) = q.parts(data);
    panel.clear();
    panel.resize((inf + 1) * NC, 0.0);
    let mut c0 = 0;
    while c0 < out {
        let width = NC.min(out - c0);
        fill_panel(q, bytes, sb, c0, panel);
        panel_rows::<FMA, MRX>(x, inf, rows, inf, panel, &mut y[c0..], out, width, 1.0);
        c0 += NC;
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

/// Few rows (the decoder): decode each packed byte once and use it for every row,
/// accumulating `Σ q·x` per group (separate chains for the low and high nibble rows,
/// `W` columns wide) and scaling once per group. Computes columns `c_lo .. c_hi` into
/// `y[r·ldy + (c − c_lo)]`. Every output column is computed by the same sequence of
/// operations whatever the column range and block width, so splitting the columns
/// across threads gives bit-identical results.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gemm_direct<const FMA: bool, const W: usize, const R: usize>(
    x: &[f32],
    q: &QMatrix,
    bytes: &[u8],
    sb: &[u8],
    y: &mut [f32],
    ldy: usize,
    c_lo: usize,
    c_hi: usize,
) {
    // The full-block path decodes 16 columns at a time.
    const { assert!(W % 16 == 0) };
    let (inf, out) = (q.in_feat, q.out_feat);
    let pairs = inf.div_ceil(2);
    let pairs_per_group = q.gs.div_ceil(2).max(1);
    assert!(x.len() >= R * inf && bytes.len() >= pairs * out && c_lo <= c_hi && c_hi <= out);
    assert!(y.len() >= (R - 1) * ldy + (c_hi - c_lo));
    let mut c0 = c_lo;
    while c0 < c_hi {
        let width = W.min(c_hi - c0);
        let mut acc = [[0f32; W]; R];
        let mut p = 0;
        while p < pairs {
            let g = (2 * p) / q.gs;
            let pend = ((g + 1) * pairs_per_group).min(pairs);
            let mut glo = [[0f32; W]; R];
            let mut ghi = [[0f32; W]; R];
            while p < pend {
                let row = &bytes[p * out + c0..p * out + c0 + width];
                let xs: [(f32, f32); R] = core::array::from_fn(|r| {
                    (x[r * inf + 2 * p], if 2 * p + 1 < inf { x[r * inf + 2 * p + 1] } else { 0.0 })
                });
                if width == W {
                    // 16 columns at a time, so the decoded nibbles stay in registers.
                    for k in 0..W / 16 {
                        let rb: &[u8; 16] = row[16 * k..16 * k + 16].try_into().unwrap();
                        let mut lo = [0f32; 16];
                        let mut hi = [0f32; 16];
                        for c in 0..16 {
                            lo[c] = (((rb[c] << 4) as i8) >> 4) as f32;
                            hi[c] = ((rb[c] as i8) >> 4) as f32;
                        }
                        for r in 0..R {
                            let (x0, x1) = xs[r];
                            let gl: &mut [f32; 16] = (&mut glo[r][16 * k..16 * k + 16]).try_into().unwrap();
                            let gh: &mut [f32; 16] = (&mut ghi[r][16 * k..16 * k + 16]).try_into().unwrap();
                            for c in 0..16 {
                                gl[c] = madd::<FMA>(lo[c], x0, gl[c]);
                                gh[c] = madd::<FMA>(hi[c], x1, gh[c]);
                            }
                        }
                    }
                } else {
                    let mut lo = [0f32; W];
                    let mut hi = [0f32; W];
                    for c in 0..width {
                        let b = row[c];
                        lo[c] = (((b << 4) as i8) >> 4) as f32;
                        hi[c] = ((b as i8) >> 4) as f32;
                    }
                    for r in 0..R {
                        let (x0, x1) = xs[r];
                        for c in 0..W {
                            glo[r][c] = madd::<FMA>(lo[c], x0, glo[r][c]);
                            ghi[r][c] = madd::<FMA>(hi[c], x1, ghi[r][c]);
                        }
                    }
                }
                p += 1;
            }
            let mut s = [0f32; W];
            load_scales(sb, g * out + c0, width, &mut s);
            for r in 0..R {
                for c in 0..W {
                    acc[r][c] = madd::<FMA>(glo[r][c] + ghi[r][c], s[c], acc[r][c]);
                }
            }
        }
        for r in 0..R {
            let o = r * ldy + c0 - c_lo;
            y[o..o + width].copy_from_slice(&acc[r][..width]);
        }
        c0 += W;
    }
}

#[inline(always)]
fn gemm_any<const FMA: bool, const MRX: usize, const W1: usize>(x: &[f32], rows: usize, q: &QMatrix, data: &[u8], y: &mut [f32], p: &mut Vec<f32>) {
    if rows <= 4 {
        let (b, sb) = q.parts(data);
        let out = q.out_feat;
        match rows {
            0 => {}
            1 => gemm_direct::<FMA, W1, 1>(x, q, b, sb, y, out, 0, out),
            2 => gemm_direct::<FMA, 32, 2>(x, q, b, sb, y, out, 0, out),
            3 => gemm_direct::<FMA, 16, 3>(x, q, b, sb, y, out, 0, out),
            _ => gemm_direct::<FMA, 16, 4>(x, q, b, sb, y, out, 0, out),
        }
    } else {
        gemm_body::<FMA, MRX>(x, rows, q, data, y, p)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn gemm_avx512(x: &[f32], rows: usize, q: &QMatrix, b: &[u8], y: &mut [f32], p: &mut Vec<f32>) {
    gemm_any::<true, 8, 64>(x, rows, q, b, y, p)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gemm_avx2(x: &[f32], rows: usize, q: &QMatrix, b: &[u8], y: &mut [f32], p: &mut Vec<f32>) {
    gemm_any::<true, 4, 64>(x, rows, q, b, y, p)
}

#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
#[inline(always)]
fn gemv_cols_body<const FMA: bool>(x: &[f32], q: &QMatrix, data: &[u8], y: &mut [f32], c_lo: usize, c_hi: usize) {
    let (b, sb) = q.parts(data);
    gemm_direct::<FMA, 64, 1>(x, q, b, sb, y, 0, c_lo, c_hi)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn gemv_cols_avx512(x: &[f32], q: &QMatrix, data: &[u8], y: &mut [f32], c_lo: usize, c_hi: usize) {
    gemv_cols_body::<true>(x, q, data, y, c_lo, c_hi)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gemv_cols_avx2(x: &[f32], q: &QMatrix, data: &[u8], y: &mut [f32], c_lo: usize, c_hi: usize) {
    gemv_cols_body::<true>(x, q, data, y, c_lo, c_hi)
}

/// One row: `y[c − c_lo] = (x · Ŵ)[c]` for the columns `c_lo .. c_hi`, bit-identical to
/// the same columns of [`gemm_i4`] with `rows == 1`.
pub(crate) fn gemv_cols(x: &[f32], q: &QMatrix, data: &[u8], y: &mut [f32], c_lo: usize, c_hi: usize) {
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports the features (checked by `isa()`).
        Isa::Avx512 => unsafe { gemv_cols_avx512(x, q, data, y, c_lo, c_hi) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { gemv_cols_avx2(x, q, data, y, c_lo, c_hi) },
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => {
            let (b, sb) = q.parts(data);
            gemm_direct::<true, 32, 1>(x, q, b, sb, y, 0, c_lo, c_hi)
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        _ => {
            let (b, sb) = q.parts(data);
            simd128::gemv_row(x, q.in_feat, q.out_feat, q.gs, b, sb, y, c_lo, c_hi)
        }
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        _ => gemv_cols_body::<false>(x, q, data, y, c_lo, c_hi),
    }
}

/// `y[rows × out] = x[rows × in] · Ŵ`, overwriting `y`. `data` is the whole weights
/// storage (codes and scales are read from it), `panel` is reusable scratch.
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
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        _ if rows <= 4 => {
            let (b, sb) = q.parts(bytes);
            let (inf, out) = (q.in_feat, q.out_feat);
            for r in 0..rows {
                let yr = &mut y[r * out..(r + 1) * out];
                simd128::gemv_row(&x[r * inf..(r + 1) * inf], inf, out, q.gs, b, sb, yr, 0, out);
            }
        }
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => gemm_any::<true, 2, 32>(x, rows, q, bytes, y, panel),
        _ => gemm_any::<false, 4, 64>(x, rows, q, bytes, y, panel),
    }
}

#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
#[inline(always)]
fn bf16_at(row: &[u8], j: usize) -> f32 {
    bf16_to_f32(u16::from_le_bytes([row[2 * j], row[2 * j + 1]]))
}

/// The BF16 rows `v0 .. v0 + n` (`1 <= n <= V`) of the embedding `[vocab, d]` as bytes; past
/// `n` the last row repeats (its sums are computed and dropped).
#[inline(always)]
pub(crate) fn emb_rows<const V: usize>(emb: &[u8], d: usize, v0: usize, n: usize) -> [&[u8]; V] {
    core::array::from_fn(|i| {
        let v = v0 + i.min(n - 1);
        &emb[v * 2 * d..(v + 1) * 2 * d]
    })
}

#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
#[inline(always)]
fn lm_head_body<const FMA: bool>(z: &[f32], emb: &[u8], logits: &mut [f32]) {
    const W: usize = 16;
    const V: usize = 4;
    let d = z.len();
    let chunks = d / W;
    let mut v0 = 0;
    for outs in logits.chunks_mut(V) {
        let rows = emb_rows::<V>(emb, d, v0, outs.len());
        // V independent accumulator chains hide the FMA latency.
        let mut acc = [[0f32; W]; V];
        for c in 0..chunks {
            let zz: &[f32; W] = z[c * W..c * W + W].try_into().unwrap();
            for i in 0..V {
                let rb: &[u8; 2 * W] = rows[i][c * 2 * W..c * 2 * W + 2 * W].try_into().unwrap();
                for k in 0..W {
                    let e = bf16_to_f32(u16::from_le_bytes([rb[2 * k], rb[2 * k + 1]]));
                    acc[i][k] = madd::<FMA>(zz[k], e, acc[i][k]);
                }
            }
        }
        for (i, out) in outs.iter_mut().enumerate() {
            let mut s = 0.0f32;
            for k in 0..W {
                s += acc[i][k];
            }
            for j in chunks * W..d {
                s = madd::<FMA>(z[j], bf16_at(rows[i], j), s);
            }
            *out = s;
        }
        v0 += V;
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
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => lm_head_body::<true>(z, emb, logits),
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        _ => simd128::lm_head(z, emb, logits),
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
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

/// `e^x` for 16 lanes: Cody–Waite reduction by ln 2 and a degree-6 polynomial
/// (Cephes `expf`, ≤ 2 ulp on the softmax range); 0 below −87.3, +∞ above 88.7.
/// Integer-only scaling so it vectorises on every target.
#[inline(always)]
fn exp16(x: &mut [f32; 16]) {
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
/// vectorised `exp` (spec A8 leaves the evaluation order and ≤ 2 ulp `exp` free).
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

/// Entry points for the criterion benches (`benches/kernels.rs`); not a stable API.
#[doc(hidden)]
pub mod bench {
    use super::*;

    /// A random packed INT4 matrix `in_feat × out_feat` with its scales.
    pub struct Int4 {
        q: QMatrix,
        bytes: Vec<u8>,
        panel: Vec<f32>,
    }

    fn rnd(seed: &mut u64) -> u64 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        *seed >> 33
    }

    impl Int4 {
        /// Builds a random matrix (deterministic).
        pub fn new(in_feat: usize, out_feat: usize) -> Int4 {
            let gs = in_feat.min(32);
            let in_pad = in_feat.div_ceil(gs) * gs;
            let mut seed = 7;
            let mut bytes = (0..in_pad / 2 * out_feat).map(|_| rnd(&mut seed) as u8).collect::<Vec<u8>>();
            let len = bytes.len();
            for _ in 0..in_pad / gs * out_feat {
                bytes.extend_from_slice(&((rnd(&mut seed) % 1000) as f32 * 1e-5).to_le_bytes());
            }
            let q = QMatrix { in_feat, out_feat, gs, start: 0, len, scale_start: len };
            Int4 { q, bytes, panel: Vec::new() }
        }

        /// `y[rows × out] = x[rows × in] · Ŵ`.
        pub fn gemm(&mut self, x: &[f32], rows: usize, y: &mut [f32]) {
            gemm_i4(x, rows, &self.q, &self.bytes, y, &mut self.panel)
        }
    }

    /// The tied LM head over BF16 rows `emb` (`[logits.len(), z.len()]`).
    pub fn lm_head(z: &[f32], emb: &[u8], logits: &mut [f32]) {
        super::lm_head(z, emb, logits)
    }

    /// Softmax in place.
    pub fn softmax(s: &mut [f32]) {
        super::softmax(s)
    }

    /// `c = alpha · a · b` with `b` (`k × n`, row-major) packed on each call.
    #[allow(clippy::too_many_arguments)]
    pub fn sgemm(a: &[f32], rows: usize, k: usize, b: &[f32], n: usize, c: &mut [f32], packed: &mut Vec<f32>) {
        pack_panels(k, n, packed, |r, cc| b[r * n + cc]);
        sgemm_packed(a, k, rows, k, packed, n, c, n, 1.0)
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
            let (mut bytes, scales, deq) = pack(&w, inf, out);
            // Codes at an odd offset, scales unaligned after them (as in a real file).
            bytes.insert(0, 0xAA);
            let len = bytes.len() - 1;
            for sc in &scales {
                bytes.extend_from_slice(&sc.to_le_bytes());
            }
            let q = QMatrix { in_feat: inf, out_feat: out, gs: inf.min(32), start: 1, len, scale_start: 1 + len };
            let mut y = vec![f32::NAN; rows * out];
            let mut panel = Vec::new();
            gemm_i4(&x, rows, &q, &bytes, &mut y, &mut panel);
            if rows == 1 {
                // Any column split gives bit-identical results.
                for split in [0, 1, 17, 64, out / 2, out] {
                    let split = split.min(out);
                    let mut y2 = vec![f32::NAN; out];
                    let (a, b) = y2.split_at_mut(split);
                    gemv_cols(&x, &q, &bytes, a, 0, split);
                    gemv_cols(&x, &q, &bytes, b, split, out);
                    assert!(y2.iter().zip(&y).all(|(p, q)| p.to_bits() == q.to_bits()), "split {split}");
                }
            }
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
    fn exp16_is_accurate() {
        let mut worst = 0f64;
        let mut x = -90.0f32;
        while x < 1.0 {
            let mut b = [x; 16];
            exp16(&mut b);
            let want = (x as f64).exp();
            if want > 1e-37 {
                worst = worst.max(((b[0] as f64 - want) / want).abs());
            } else {
                assert!(b[0] < 2e-37);
            }
            x += 0.0137;
        }
        assert!(worst < 3.0 * f32::EPSILON as f64, "max rel err {worst}");
    }

    #[test]
    fn sgemm_matches_naive() {
        for &(rows, k, n) in &[(1usize, 5usize, 3usize), (9, 64, 70), (13, 33, 32), (8, 100, 1)] {
            let a: Vec<f32> = (0..rows * (k + 3)).map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.1).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 5 % 11) as f32 - 5.0) * 0.2).collect();
            let mut packed = Vec::new();
            pack_panels(k, n, &mut packed, |r, c| b[r * n + c]);
            let ldc = n + 2;
            let mut c = vec![f32::NAN; rows * ldc];
            sgemm_packed(&a, k + 3, rows, k, &packed, n, &mut c, ldc, 0.5);
            for i in 0..rows {
                for j in 0..n {
                    let s: f32 = (0..k).map(|r| a[i * (k + 3) + r] * b[r * n + j]).sum::<f32>() * 0.5;
                    assert!((c[i * ldc + j] - s).abs() < 1e-4, "{rows}x{k}x{n} [{i},{j}]");
                }
            }
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
