//! Cactus-Quants (CQ) weights (Needle v2/v3 `.cact`, docs/FORMATS.md#cactus-quants-cq).
//!
//! A CQ matrix is logically `[out, in]`, stored pre-transposed so that each output row is
//! contiguous along the reduction axis. Each row is zero-padded to `in_pad = ⌈in/G⌉·G`
//! and cut into groups of `G` (a power of two, at least 8). Per group the blob holds
//! `G` codebook indices (an LSB-first bitstream per row, `b` bits per index; ternary
//! uses 2-bit "crumbs") and, after all rows' codes, one FP16 norm per (row, group):
//!
//! ```text
//! blob = codes[out][in_pad·b/8] ‖ norms_f16[out][in_pad/G]
//! W[o, g·G + j] = Σ_k c[idx(o, g·G + k)] · ν(o, g) · H_G[k, j]     (columns ≥ in dropped)
//! ```
//!
//! with `H_G` the Sylvester Hadamard matrix divided by √G (symmetric, orthogonal) and `c`
//! the width's levels, already divided by √G (the header's 28-float codebook
//! `cb2[4] ‖ cb3[8] ‖ cb4[16]`; ternary levels `{−t, 0, +t}`, `t = 1.2240064/√G`, are
//! analytic).
//!
//! # Evaluation (docs/FORMATS.md#cq-evaluation)
//!
//! Because `H_G` is symmetric, `⟨w_{o,g}, x_g⟩ = ν(o,g) · ⟨c[idx_{o,g}], H_G·x_g⟩`. The
//! activation is therefore rotated once per group ([`CqLayout::rotate`], a fast
//! Walsh–Hadamard transform) and shared by every output row (and by every matrix that
//! reads the same activation); each row then only decodes its packed codes to levels,
//! dots them with the rotated group and scales the group sum by the norm. The weights
//! are never materialised or rotated per call. On x86-64 with AVX2+FMA (also the
//! AVX-512 dispatch) the decode runs in registers: 8 indices per broadcast word,
//! variable shift, mask and a permute of the levels; elsewhere (AVX-less x86, NEON,
//! wasm, portable) per-byte lookup tables feed the same 8-lane arithmetic, so FMA
//! machines give the same bits on either path.
//!
//! # Determinism
//!
//! Every output element `y[r, o]` is computed by one fixed sequence of operations
//! (8-lane partial sums per group in index order, a fixed reduction tree, then the
//! group-norm accumulation in group order) whatever the column range, the column block
//! or the number of activation rows. So [`CqMatrix::gemv`] over any split of the columns,
//! and [`CqMatrix::gemm`] over any number of rows, give bit-identical results (for one
//! instruction set: FMA and non-FMA machines round differently).
//!
//! # Validation
//!
//! [`CqLayout::new`] checks the parameters and the codebook, [`CqMatrix::new`] the blob
//! length (exact), and [`CqMatrix::validate`] (once, at load) the contents: finite norms
//! and, for ternary, no crumb 2 (which upstream never writes and cannot decode). The
//! kernels index only through slices whose lengths the constructors fixed.

use super::{f16_to_f32, isa, madd};
use std::fmt;

/// Length of a `.cact` header codebook: `cb2[4] ‖ cb3[8] ‖ cb4[16]`.
pub const CODEBOOK_LEN: usize = 28;
/// Directory-record `bits` value that marks a ternary tensor.
pub const TERNARY_BITS: u32 = 5;
/// Directory-record `bits` value of binary CQ (documented upstream, written by no exporter).
pub const BINARY_BITS: u32 = 1;
/// The ternary centroid before the `1/√G` scaling (upstream `quantize._TERNARY_CB`).
pub const TERNARY_CENTROID: f64 = 1.2240064;
/// Largest group size accepted (every upstream export uses 128).
pub const MAX_GROUP: usize = 1 << 16;

/// Why a CQ matrix was rejected. The container turns these into `InvalidWeights`
/// errors naming the tensor ([`CqError::is_unsupported`] ones into `Unsupported`).
#[derive(Debug, Clone, PartialEq)]
pub enum CqError {
    /// `out` or `in` is zero.
    EmptyShape {
        /// Output rows.
        out: usize,
        /// Reduction width.
        inp: usize,
    },
    /// The group size is not a power of two ≥ 8 (so a multiple of 8) up to [`MAX_GROUP`].
    BadGroup(u64),
    /// Record bits 1: binary CQ, which no upstream exporter writes.
    Binary,
    /// Record bits other than 2, 3, 4, 5 (ternary) or 1 (binary).
    BadBits(u32),
    /// The header codebook does not hold [`CODEBOOK_LEN`] values.
    CodebookLength(usize),
    /// A codebook value is NaN or infinite.
    CodebookValue {
        /// Index in the 28-float codebook.
        index: usize,
        /// The value.
        value: f32,
    },
    /// The sizes overflow the address space.
    TooLarge,
    /// The blob is not exactly codes + norms long.
    BlobLength {
        /// Bytes the shape, width and group need.
        expected: usize,
        /// Bytes present.
        got: usize,
    },
    /// A group norm is NaN or infinite.
    BadNorm {
        /// Output row.
        row: usize,
        /// Group within the row.
        group: usize,
        /// The FP16 bit pattern.
        bits: u16,
    },
    /// A ternary crumb holds code 2, which encodes no level.
    TernaryCode {
        /// Output row.
        row: usize,
        /// Column within the padded row.
        col: usize,
    },
}

impl CqError {
    /// True for errors that mean "a valid but unsupported format" (binary CQ).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, CqError::Binary)
    }
}

impl fmt::Display for CqError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CqError::EmptyShape { out, inp } => write!(f, "CQ shape [{out}, {inp}] is empty"),
            CqError::BadGroup(g) => {
                write!(f, "CQ group size {g} is not a power of two between 8 and {MAX_GROUP}")
            }
            CqError::Binary => write!(
                f,
                "binary (1-bit) CQ is not supported: no upstream exporter writes it; re-export at 2, 3, 4 bits or ternary"
            ),
            CqError::BadBits(b) => {
                write!(f, "CQ record bits {b} unknown (expected 2, 3, 4 or 5 = ternary)")
            }
            CqError::CodebookLength(n) => {
                write!(f, "CQ codebook has {n} values, expected {CODEBOOK_LEN}")
            }
            CqError::CodebookValue { index, value } => {
                write!(f, "CQ codebook value {index} is {value} (not finite)")
            }
            CqError::TooLarge => write!(f, "CQ matrix size overflows"),
            CqError::BlobLength { expected, got } => {
                write!(f, "CQ blob is {got} bytes, the shape, width and group need {expected}")
            }
            CqError::BadNorm { row, group, bits } => {
                write!(f, "CQ group norm at row {row}, group {group} is not finite (f16 0x{bits:04x})")
            }
            CqError::TernaryCode { row, col } => {
                write!(f, "ternary CQ code 2 (no level) at row {row}, column {col}")
            }
        }
    }
}

impl std::error::Error for CqError {}

/// The geometry, width and decode tables of one CQ matrix (no weight bytes): validated
/// once, then shared by the views built on its blob.
#[derive(Clone, Debug)]
pub struct CqLayout {
    out: usize,
    inp: usize,
    in_pad: usize,
    group: usize,
    groups: usize,
    record_bits: u32,
    /// Bits per stored index: 2, 3 or 4 (ternary: 2).
    code_bits: usize,
    row_bytes: usize,
    codes_len: usize,
    blob_len: usize,
    /// This width's levels (already divided by √G) by index, zero past the used ones;
    /// ternary by crumb (crumb 2, never written, stays 0).
    levels: [f32; 16],
    /// Per-byte decode table: 2-bit/ternary `lut[4b + k]` is index k of byte b; 4-bit
    /// `lut[2b + k]`. Unused for 3 bits.
    lut: Box<[f32; 1024]>,
}

/// `∏ xs` with overflow reported.
fn mul(xs: &[usize]) -> Result<usize, CqError> {
    xs.iter().try_fold(1usize, |a, &b| a.checked_mul(b)).ok_or(CqError::TooLarge)
}

impl CqLayout {
    /// Validates a CQ matrix's parameters: the unpadded logical shape `[out, inp]` of its
    /// directory record, its group and record bits (2, 3, 4, 5 = ternary), and the
    /// file's 28-float codebook (`cb2 ‖ cb3 ‖ cb4`, checked for every width; ternary
    /// levels are analytic).
    pub fn new(out: usize, inp: usize, group: u64, bits: u32, codebook: &[f32]) -> Result<CqLayout, CqError> {
        if out == 0 || inp == 0 {
            return Err(CqError::EmptyShape { out, inp });
        }
        if !(8..=MAX_GROUP as u64).contains(&group) || !group.is_power_of_two() {
            return Err(CqError::BadGroup(group));
        }
        let code_bits = match bits {
            2..=4 => bits as usize,
            TERNARY_BITS => 2,
            BINARY_BITS => return Err(CqError::Binary),
            b => return Err(CqError::BadBits(b)),
        };
        if codebook.len() != CODEBOOK_LEN {
            return Err(CqError::CodebookLength(codebook.len()));
        }
        if let Some((index, &value)) = codebook.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(CqError::CodebookValue { index, value });
        }
        let group = group as usize;
        let in_pad = inp.div_ceil(group).checked_mul(group).ok_or(CqError::TooLarge)?;
        let groups = in_pad / group;
        let row_bytes = in_pad / 8 * code_bits;
        let codes_len = mul(&[out, row_bytes])?;
        let norms_len = mul(&[out, groups, 2])?;
        let blob_len = codes_len.checked_add(norms_len).ok_or(CqError::TooLarge)?;

        let mut levels = [0f32; 16];
        match bits {
            2 => levels[..4].copy_from_slice(&codebook[0..4]),
            3 => levels[..8].copy_from_slice(&codebook[4..12]),
            4 => levels.copy_from_slice(&codebook[12..28]),
            _ => {
                // Upstream: float64 `[-c, 0, c] / np.sqrt(G)`, then float32.
                let t = (TERNARY_CENTROID / (group as f64).sqrt()) as f32;
                // Crumb → level: 0 → 0, 1 → +t, 3 → −t; crumb 2 is rejected by
                // `CqMatrix::validate` and decodes to 0 here.
                levels[..4].copy_from_slice(&[0.0, t, 0.0, -t]);
            }
        }
        let mut lut = Box::new([0f32; 1024]);
        match code_bits {
            2 => {
                for b in 0..256 {
                    for k in 0..4 {
                        lut[4 * b + k] = levels[(b >> (2 * k)) & 3];
                    }
                }
            }
            4 => {
                for b in 0..256 {
                    lut[2 * b] = levels[b & 15];
                    lut[2 * b + 1] = levels[b >> 4];
                }
            }
            _ => {}
        }
        Ok(CqLayout {
            out,
            inp,
            in_pad,
            group,
            groups,
            record_bits: bits,
            code_bits,
            row_bytes,
            codes_len,
            blob_len,
            levels,
            lut,
        })
    }

    /// Output rows (the logical `out`).
    pub fn out(&self) -> usize {
        self.out
    }
    /// Reduction width (the logical, unpadded `in`).
    pub fn inp(&self) -> usize {
        self.inp
    }
    /// `in` padded to a multiple of the group.
    pub fn in_pad(&self) -> usize {
        self.in_pad
    }
    /// The group size G.
    pub fn group(&self) -> usize {
        self.group
    }
    /// The record bits: 2, 3, 4 or 5 (ternary).
    pub fn bits(&self) -> u32 {
        self.record_bits
    }
    /// The exact blob length this matrix needs.
    pub fn blob_len(&self) -> usize {
        self.blob_len
    }

    /// The level index `idx` stands for (crumb value for ternary), already divided by √G.
    fn level(&self, code: usize) -> f32 {
        self.levels[code & 15]
    }

    /// Rotates one activation row into the weights' domain: `xhat` (length `in_pad`) =
    /// `H_G · x_g` for every group of `x` (length `in`) zero-padded to `in_pad`. Share
    /// the result across every matrix with the same `in` and group.
    ///
    /// # Panics
    /// If the lengths are not `in` and `in_pad` (a bug in the caller).
    pub fn rotate(&self, x: &[f32], xhat: &mut [f32]) {
        self.rotate_rows(x, 1, xhat)
    }

    /// [`CqLayout::rotate`] for `rows` rows: `x` is `[rows, in]`, `xhat` `[rows, in_pad]`.
    ///
    /// # Panics
    /// If the lengths are not `rows · in` and `rows · in_pad` (a bug in the caller).
    pub fn rotate_rows(&self, x: &[f32], rows: usize, xhat: &mut [f32]) {
        assert!(
            rows.checked_mul(self.inp) == Some(x.len()) && rows.checked_mul(self.in_pad) == Some(xhat.len()),
            "CQ rotate: x has {} values, xhat {}, for {rows} rows of {} / {}",
            x.len(),
            xhat.len(),
            self.inp,
            self.in_pad
        );
        for (xr, hr) in x.chunks_exact(self.inp).zip(xhat.chunks_exact_mut(self.in_pad)) {
            hr[..self.inp].copy_from_slice(xr);
            hr[self.inp..].fill(0.0);
            super::monarch::hadamard_groups(hr, self.group);
        }
    }
}

/// Normalised fast Walsh–Hadamard transform in place: `v ← H_n · v` with `H_n` the
/// Sylvester matrix divided by √n (`n = v.len()`, a power of two). Its own inverse.
///
/// # Panics
/// If the length is not a power of two.
pub fn hadamard(v: &mut [f32]) {
    hadamard_one(v)
}

/// [`hadamard`], inlined into the ISA-specific callers.
#[inline(always)]
pub(crate) fn hadamard_one(v: &mut [f32]) {
    let n = v.len();
    assert!(n.is_power_of_two(), "Hadamard length {n} is not a power of two");
    let mut h = 1;
    while h < n {
        for blk in v.chunks_exact_mut(2 * h) {
            let (a, b) = blk.split_at_mut(h);
            for (x, y) in a.iter_mut().zip(b.iter_mut()) {
                let (p, q) = (*x, *y);
                *x = p + q;
                *y = p - q;
            }
        }
        h *= 2;
    }
    // Upstream's scale: float64 1/√n rounded to float32.
    let s = (1.0 / (n as f64).sqrt()) as f32;
    for x in v.iter_mut() {
        *x *= s;
    }
}

/// A CQ matrix: a [`CqLayout`] over its blob (borrowed, e.g. from the memory map).
#[derive(Clone, Copy, Debug)]
pub struct CqMatrix<'a> {
    layout: &'a CqLayout,
    codes: &'a [u8],
    norms: &'a [u8],
}

impl<'a> CqMatrix<'a> {
    /// Views `blob` (exactly [`CqLayout::blob_len`] bytes: codes, then FP16 norms) as
    /// the matrix `layout` describes. O(1); call [`CqMatrix::validate`] once at load.
    pub fn new(layout: &'a CqLayout, blob: &'a [u8]) -> Result<CqMatrix<'a>, CqError> {
        if blob.len() != layout.blob_len {
            return Err(CqError::BlobLength { expected: layout.blob_len, got: blob.len() });
        }
        let (codes, norms) = blob.split_at(layout.codes_len);
        Ok(CqMatrix { layout, codes, norms })
    }

    /// [`CqMatrix::new`] from the blob already split into packed codes (`out · in_pad ·
    /// b/8` bytes) and FP16 norms (`2 · out · in_pad/G` bytes); each length is checked.
    pub fn from_parts(layout: &'a CqLayout, codes: &'a [u8], norms: &'a [u8]) -> Result<CqMatrix<'a>, CqError> {
        let want_norms = layout.blob_len - layout.codes_len;
        if codes.len() != layout.codes_len || norms.len() != want_norms {
            return Err(CqError::BlobLength { expected: layout.blob_len, got: codes.len() + norms.len() });
        }
        Ok(CqMatrix { layout, codes, norms })
    }

    /// The layout.
    pub fn layout(&self) -> &'a CqLayout {
        self.layout
    }

    /// Checks the contents: every group norm finite and, for ternary, no crumb 2.
    /// Reads the whole blob once (no decoding); do it at load.
    pub fn validate(&self) -> Result<(), CqError> {
        let l = self.layout;
        for (i, c) in self.norms.chunks_exact(2).enumerate() {
            let h = u16::from_le_bytes([c[0], c[1]]);
            if h & 0x7c00 == 0x7c00 {
                return Err(CqError::BadNorm { row: i / l.groups, group: i % l.groups, bits: h });
            }
        }
        if l.record_bits == TERNARY_BITS {
            // A crumb is 2 when its high bit is set and its low bit clear.
            let bad = |b: u8| (b >> 1) & !b & 0x55;
            if let Some(i) = self.codes.iter().position(|&b| bad(b) != 0) {
                let k = bad(self.codes[i]).trailing_zeros() as usize / 2;
                return Err(CqError::TernaryCode { row: i / l.row_bytes, col: (i % l.row_bytes) * 4 + k });
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn norm(&self, o: usize, g: usize) -> f32 {
        let i = 2 * (o * self.layout.groups + g);
        f16_to_f32(u16::from_le_bytes([self.norms[i], self.norms[i + 1]]))
    }

    /// The level index of padded column `k` of row `o` (ternary: its crumb).
    fn code(&self, o: usize, k: usize) -> usize {
        let b = self.layout.code_bits;
        let row = &self.codes[o * self.layout.row_bytes..(o + 1) * self.layout.row_bytes];
        let bit = k * b;
        let lo = row[bit / 8] as usize;
        let hi = row.get(bit / 8 + 1).copied().unwrap_or(0) as usize;
        ((lo | (hi << 8)) >> (bit % 8)) & ((1 << b) - 1)
    }

    /// Reconstructs row `o` exactly per docs/FORMATS.md#cq-reconstruction (level × FP16 norm, inverse Hadamard per
    /// group) into `w` (length `in_pad`; the columns from `in` on are the padding's
    /// reconstruction, which upstream drops). Used for embedding lookups and as the
    /// reference; allocates nothing.
    ///
    /// # Panics
    /// If `o ≥ out` or `w.len() ≠ in_pad` (a bug in the caller).
    pub fn dequantize_row(&self, o: usize, w: &mut [f32]) {
        let l = self.layout;
        assert!(o < l.out && w.len() == l.in_pad, "CQ dequantize_row({o}) into {} values", w.len());
        for (g, wg) in w.chunks_exact_mut(l.group).enumerate() {
            let nu = self.norm(o, g);
            for (k, v) in wg.iter_mut().enumerate() {
                *v = l.level(self.code(o, g * l.group + k)) * nu;
            }
            hadamard(wg);
        }
    }

    /// Reference product: dequantise each row ([`CqMatrix::dequantize_row`]) and dot it
    /// with `x` (length `in`) in index order; `y` has length `out`. Slow; for tests and
    /// benchmarks.
    ///
    /// # Panics
    /// If the lengths are wrong (a bug in the caller).
    pub fn gemv_naive(&self, x: &[f32], y: &mut [f32]) {
        let l = self.layout;
        assert!(x.len() == l.inp && y.len() == l.out, "CQ gemv_naive: lengths");
        let mut w = vec![0f32; l.in_pad];
        for (o, yo) in y.iter_mut().enumerate() {
            self.dequantize_row(o, &mut w);
            let mut s = 0f32;
            for (a, b) in x.iter().zip(&w) {
                s += a * b;
            }
            *yo = s;
        }
    }

    /// One activation row: `y[o − c_lo] = (x · Wᵀ)[o]` for output rows `c_lo ≤ o < c_hi`,
    /// where `xhat` is `x` rotated by [`CqLayout::rotate`] (length `in_pad`). Any split
    /// of the columns gives bit-identical values, equal to [`CqMatrix::gemm`]'s.
    ///
    /// # Panics
    /// If the lengths or the range are wrong (a bug in the caller).
    pub fn gemv(&self, xhat: &[f32], y: &mut [f32], c_lo: usize, c_hi: usize) {
        self.gemm(xhat, 1, y, c_hi.saturating_sub(c_lo), c_lo, c_hi)
    }

    /// Several activation rows sharing one pass over the weights (prefill):
    /// `y[r·ldy + (o − c_lo)] = (x_r · Wᵀ)[o]` for `r < rows`, `c_lo ≤ o < c_hi`, with
    /// `xhat` the rows rotated by [`CqLayout::rotate_rows`] (`[rows, in_pad]`). Each
    /// element is bit-identical to [`CqMatrix::gemv`] of its row.
    ///
    /// # Panics
    /// If the lengths, `ldy` or the range are wrong (a bug in the caller).
    pub fn gemm(&self, xhat: &[f32], rows: usize, y: &mut [f32], ldy: usize, c_lo: usize, c_hi: usize) {
        let l = self.layout;
        assert!(c_lo <= c_hi && c_hi <= l.out, "CQ gemm: column range {c_lo}..{c_hi} of {}", l.out);
        assert!(
            rows.checked_mul(l.in_pad) == Some(xhat.len()),
            "CQ gemm: xhat has {} values, want {rows} × {}",
            xhat.len(),
            l.in_pad
        );
        let w = c_hi - c_lo;
        if rows == 0 || w == 0 {
            return;
        }
        let need = (rows - 1).checked_mul(ldy).and_then(|n| n.checked_add(w));
        assert!(ldy >= w && need.is_some_and(|n| y.len() >= n), "CQ gemm: y too short");
        let a = Args { m: self, xhat, rows, y, ldy, c_lo, c_hi };
        match isa() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the CPU supports the features (checked by `isa()`).
            super::Isa::Avx512 => unsafe { run_avx512(a) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            super::Isa::Avx2 => unsafe { run_avx2(a) },
            #[cfg(target_arch = "aarch64")]
            super::Isa::Neon => run::<true, false>(a),
            _ => run::<false, false>(a),
        }
    }
}

/// The arguments of one product, checked by [`CqMatrix::gemm`].
struct Args<'m, 'a> {
    m: &'m CqMatrix<'a>,
    xhat: &'m [f32],
    rows: usize,
    y: &'m mut [f32],
    ldy: usize,
    c_lo: usize,
    c_hi: usize,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_avx512(a: Args<'_, '_>) {
    run::<true, true>(a)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2(a: Args<'_, '_>) {
    run::<true, true>(a)
}

/// `SIMD`: use the AVX2 tile (only instantiated where `isa()` found AVX2 and FMA).
#[inline(always)]
fn run<const FMA: bool, const SIMD: bool>(a: Args<'_, '_>) {
    match a.m.layout.code_bits {
        2 => body::<FMA, SIMD, 2>(a),
        3 => body::<FMA, SIMD, 3>(a),
        _ => body::<FMA, SIMD, 4>(a),
    }
}

#[cfg(target_arch = "x86_64")]
mod panel;

/// Output columns per block pass (their codes stay in L1 across the row blocks).
const COL_BLOCK: usize = 16;

#[inline(always)]
fn body<const FMA: bool, const SIMD: bool, const B: usize>(a: Args<'_, '_>) {
    #[cfg(target_arch = "x86_64")]
    if SIMD && a.rows >= panel::PANEL_MIN_ROWS {
        // SAFETY: `SIMD` is set only where `isa()` detected AVX2 and FMA (see `cols`).
        unsafe { panel::gemm::<B>(a) };
        return;
    }
    let Args { m, xhat, rows, y, ldy, c_lo, c_hi } = a;
    let mut o0 = c_lo;
    while o0 < c_hi {
        let o1 = (o0 + COL_BLOCK).min(c_hi);
        let mut r0 = 0;
        while r0 < rows {
            // wasm: two row shapes only (a block's 1–3 tail rows run one at a time), which
            // halves the kernel's share of the module; the result does not depend on the shape.
            #[cfg(target_arch = "wasm32")]
            let rr = if rows - r0 >= 4 { 4 } else { 1 };
            #[cfg(not(target_arch = "wasm32"))]
            let rr = (rows - r0).min(4);
            let yoff = r0 * ldy + (o0 - c_lo);
            let x = &xhat[r0 * m.layout.in_pad..];
            match rr {
                4 => cols::<FMA, SIMD, B, 4, 2>(m, x, y, ldy, yoff, o0, o1),
                #[cfg(not(target_arch = "wasm32"))]
                3 => cols::<FMA, SIMD, B, 3, 2>(m, x, y, ldy, yoff, o0, o1),
                #[cfg(not(target_arch = "wasm32"))]
                2 => cols::<FMA, SIMD, B, 2, 4>(m, x, y, ldy, yoff, o0, o1),
                _ => cols::<FMA, SIMD, B, 1, 4>(m, x, y, ldy, yoff, o0, o1),
            }
            r0 += rr;
        }
        o0 = o1;
    }
}

/// Columns `o0 .. o1` for `R` rows, `C` columns at a time (then one at a time).
#[inline(always)]
fn cols<const FMA: bool, const SIMD: bool, const B: usize, const R: usize, const C: usize>(
    m: &CqMatrix<'_>,
    x: &[f32],
    y: &mut [f32],
    ldy: usize,
    yoff: usize,
    o0: usize,
    o1: usize,
) {
    let mut o = o0;
    while o < o1 {
        let n = if o + C <= o1 { C } else { 1 };
        let yo = yoff + (o - o0);
        #[cfg(target_arch = "x86_64")]
        if SIMD {
            // SAFETY: `SIMD` is set only by `run_avx2`/`run_avx512`, which `gemm` calls
            // only where `isa()` detected AVX2 and FMA.
            unsafe {
                if n == C {
                    avx2::tile::<B, R, C>(m, x, y, ldy, yo, o)
                } else {
                    avx2::tile::<B, R, 1>(m, x, y, ldy, yo, o)
                }
            }
            o += n;
            continue;
        }
        if n == C {
            tile::<FMA, B, R, C>(m, x, y, ldy, yo, o)
        } else {
            tile::<FMA, B, R, 1>(m, x, y, ldy, yo, o)
        }
        o += n;
    }
}

/// Elements of a group decoded at once (a divisor of every valid G).
const CHUNK: usize = 64;

/// Decodes the `n` (a multiple of 8, ≤ [`CHUNK`]) indices packed in `c` (`n·B/8` bytes)
/// to their levels in `lv[..n]`.
#[inline(always)]
fn decode<const B: usize>(c: &[u8], n: usize, lut: &[f32; 1024], levels: &[f32; 16], lv: &mut [f32; CHUNK]) {
    match B {
        2 => {
            for (d, &b) in lv[..n].chunks_exact_mut(4).zip(c) {
                let p = b as usize * 4;
                d.copy_from_slice(&lut[p..p + 4]);
            }
        }
        4 => {
            for (d, &b) in lv[..n].chunks_exact_mut(2).zip(c) {
                let p = b as usize * 2;
                d.copy_from_slice(&lut[p..p + 2]);
            }
        }
        _ => {
            for (d, t) in lv[..n].chunks_exact_mut(8).zip(c.chunks_exact(3)) {
                let w = t[0] as u32 | (t[1] as u32) << 8 | (t[2] as u32) << 16;
                for (k, v) in d.iter_mut().enumerate() {
                    *v = levels[((w >> (3 * k)) & 7) as usize];
                }
            }
        }
    }
}

/// The fixed reduction of 8 lanes.
#[inline(always)]
fn hsum8(a: &[f32; 8]) -> f32 {
    ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
}

/// `a[j] += Σ_k l[8k + j] · x[8k + j]` over `n` (a multiple of 8) elements, in k order.
#[inline(always)]
fn dot8<const FMA: bool>(l: &[f32], x: &[f32], a: &mut [f32; 8]) {
    let mut s = *a;
    for (l8, x8) in l.chunks_exact(8).zip(x.chunks_exact(8)) {
        for j in 0..8 {
            s[j] = madd::<FMA>(l8[j], x8[j], s[j]);
        }
    }
    *a = s;
}

/// `R` rows × `C` columns starting at column `o`: every element runs the same sequence
/// (8-lane sums over each group in index order, [`hsum8`], then `acc = s·ν + acc` in
/// group order), so the result does not depend on `R`, `C` or the column range.
#[inline(always)]
fn tile<const FMA: bool, const B: usize, const R: usize, const C: usize>(
    m: &CqMatrix<'_>,
    x: &[f32],
    y: &mut [f32],
    ldy: usize,
    yoff: usize,
    o: usize,
) {
    let l = m.layout;
    let (g_len, rb) = (l.group, l.row_bytes);
    let ch = g_len.min(CHUNK);
    let cb = ch / 8 * B;
    let lut: &[f32; 1024] = &l.lut;
    let crow: [&[u8]; C] = core::array::from_fn(|c| &m.codes[(o + c) * rb..(o + c + 1) * rb]);
    let xrow: [&[f32]; R] = core::array::from_fn(|r| &x[r * l.in_pad..(r + 1) * l.in_pad]);
    let mut tot = [[0f32; C]; R];
    let mut lv = [[0f32; CHUNK]; C];
    for g in 0..l.groups {
        let mut acc = [[[0f32; 8]; C]; R];
        let mut e = g * g_len;
        while e < (g + 1) * g_len {
            let bo = e / 8 * B;
            for c in 0..C {
                decode::<B>(&crow[c][bo..bo + cb], ch, lut, &l.levels, &mut lv[c]);
            }
            for r in 0..R {
                let xs = &xrow[r][e..e + ch];
                for c in 0..C {
                    dot8::<FMA>(&lv[c][..ch], xs, &mut acc[r][c]);
                }
            }
            e += ch;
        }
        for c in 0..C {
            let nu = m.norm(o + c, g);
            for r in 0..R {
                tot[r][c] = madd::<FMA>(hsum8(&acc[r][c]), nu, tot[r][c]);
            }
        }
    }
    for r in 0..R {
        y[yoff + r * ldy..yoff + r * ldy + C].copy_from_slice(&tot[r]);
    }
}

/// The AVX2 tile: the same sequence of operations as [`tile`] with `FMA` (8 lanes per
/// group in index order, [`hsum8`], `acc = s·ν + acc`), so it gives bit-identical
/// results; it decodes 8 indices at once in registers (variable shift, mask, and a
/// permute of the levels) instead of through the byte tables.
#[cfg(target_arch = "x86_64")]
mod avx2;

#[cfg(test)]
mod tests;
