//! v1's packed INT4 projections (`y = x · Ŵ`, group scales in the memory map) and the
//! tied BF16 LM head.

#![allow(clippy::needless_range_loop)]

use super::gemm::{panel_rows, NC};
#[cfg_attr(target_arch = "wasm32", allow(unused_imports))]
use super::{bf16_to_f32, isa, madd, Isa};
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use super::simd128;

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
