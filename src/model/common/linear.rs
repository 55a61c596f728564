//! Matrices as the forward passes see them: `y = W · x` over the file's Cactus-Quants
//! blobs (memory map or bytes; the activation is rotated once per group,
//! docs/FORMATS.md#cq-evaluation) or over a
//! plain row-major `f32` matrix (the tests build networks from upstream's parameters).

use crate::container::cact::Cact;
use crate::kernels;
use crate::kernels::cq::{CqLayout, CqMatrix};
use crate::threads::{self, pool, SyncPtr};
use std::sync::Arc;

/// A matrix `W` (`rows × cols`) applied as `y = W · x`.
pub(crate) trait Linear: Send + Sync {
    fn rows(&self) -> usize;
    /// `y = W[r0..r1] · x` (`y.len() == r1 − r0`).
    fn gemv_rows(&self, x: &[f32], r0: usize, r1: usize, y: &mut [f32]);
    /// Row `r` of `W`.
    fn row(&self, r: usize, out: &mut [f32]);
    fn gemv(&self, x: &[f32], y: &mut [f32]) {
        self.gemv_rows(x, 0, self.rows(), y)
    }
    /// `n` activation rows at once: `y[i·(r1 − r0) ..] = W[r0..r1] · x_i`, with `x` the
    /// rows one after another (each of the matrix's width).
    fn gemm_rows(&self, x: &[f32], n: usize, r0: usize, r1: usize, y: &mut [f32]) {
        if n == 0 {
            return;
        }
        let (cols, w) = (x.len() / n, r1 - r0);
        for i in 0..n {
            self.gemv_rows(&x[i * cols..(i + 1) * cols], r0, r1, &mut y[i * w..(i + 1) * w]);
        }
    }
}

pub(crate) type Mat = Box<dyn Linear>;

/// A row-major `f32` matrix.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct Dense {
    pub rows: usize,
    pub cols: usize,
    pub w: Vec<f32>,
}

impl Linear for Dense {
    fn rows(&self) -> usize {
        self.rows
    }
    fn gemv_rows(&self, x: &[f32], r0: usize, r1: usize, y: &mut [f32]) {
        for (yr, r) in y.iter_mut().zip(r0..r1) {
            *yr = kernels::dot(&self.w[r * self.cols..(r + 1) * self.cols], x);
        }
    }
    fn row(&self, r: usize, out: &mut [f32]) {
        out.copy_from_slice(&self.w[r * self.cols..(r + 1) * self.cols]);
    }
}

/// A CQ matrix of the file, checked at load by [`super::canon::Canon::cq`].
pub(crate) struct CqLinear {
    pub(crate) file: Arc<Cact>,
    pub(crate) index: usize,
    pub(crate) layout: CqLayout,
}

impl CqLinear {
    fn matrix(&self) -> CqMatrix<'_> {
        // Checked at load: the blob has exactly the layout's length.
        let blob = self.file.blob(self.index).unwrap_or(&[]);
        CqMatrix::new(&self.layout, blob).unwrap_or_else(|e| unreachable!("validated at load: {e}"))
    }
}

impl Linear for CqLinear {
    fn rows(&self) -> usize {
        self.layout.out()
    }

    fn gemv_rows(&self, x: &[f32], r0: usize, r1: usize, y: &mut [f32]) {
        let mut xhat = vec![0f32; self.layout.in_pad()];
        self.layout.rotate(x, &mut xhat);
        let m = self.matrix();
        let parts = split(r1 - r0, self.layout.in_pad(), 1);
        if parts <= 1 {
            m.gemv(&xhat, y, r0, r1);
            return;
        }
        let yp = SyncPtr(y.as_mut_ptr());
        pool::run(parts, &|i| {
            let (a, b) = part_range(r0, r1, parts, i);
            if a == b {
                return;
            }
            // SAFETY: output rows a..b belong to part i only and lie inside `y`
            // (`y.len() == r1 − r0`); `pool::run` joins before `y` is used again.
            let ys = unsafe { yp.slice(a - r0, b - a) };
            m.gemv(&xhat, ys, a, b);
        });
    }

    fn row(&self, r: usize, out: &mut [f32]) {
        let mut w = vec![0f32; self.layout.in_pad()];
        self.matrix().dequantize_row(r, &mut w);
        out.copy_from_slice(&w[..out.len()]);
    }

    fn gemm_rows(&self, x: &[f32], n: usize, r0: usize, r1: usize, y: &mut [f32]) {
        if n == 0 {
            return;
        }
        let mut xhat = vec![0f32; n * self.layout.in_pad()];
        self.layout.rotate_rows(x, n, &mut xhat);
        let m = self.matrix();
        let w = r1 - r0;
        let parts = split(w, self.layout.in_pad(), n);
        if parts <= 1 {
            m.gemm(&xhat, n, y, w, r0, r1);
            return;
        }
        let yp = SyncPtr(y.as_mut_ptr());
        pool::run(parts, &|i| {
            let (a, b) = part_range(r0, r1, parts, i);
            let pw = b - a;
            if pw == 0 {
                return;
            }
            let mut tmp = vec![0f32; n * pw];
            m.gemm(&xhat, n, &mut tmp, pw, a, b);
            for (r, t) in tmp.chunks_exact(pw).enumerate() {
                // SAFETY: columns a..b of every row belong to part i only and lie inside
                // `y` (`n` rows of `w` values); `pool::run` joins before `y` is used again.
                unsafe { yp.slice(r * w + (a - r0), pw) }.copy_from_slice(t);
            }
        });
    }
}

/// Output rows per pool part: a multiple of the CQ kernel's 16-column block, small
/// enough that the parts balance when a helper is slow, large enough to amortise a
/// hand-off.
const PART_ROWS: usize = 128;
/// Multiply-adds below which a product stays on the calling thread (a pool hand-off
/// costs a few microseconds).
const MIN_SPLIT_MACS: usize = 1 << 17;

/// How many pool parts a product of `out` output rows, `inp` inputs and `n`
/// activation rows is split into (1: the calling thread alone). Each output element
/// is computed by the same code whatever the split, so the split never changes a bit.
fn split(out: usize, inp: usize, n: usize) -> usize {
    if out < 2 * PART_ROWS.min(64) || out.saturating_mul(inp).saturating_mul(n) < MIN_SPLIT_MACS {
        return 1;
    }
    if threads::step_threads() <= 1 {
        return 1;
    }
    out.div_ceil(PART_ROWS).max(2)
}

/// Output rows `a..b` of part `i` of `parts` over `r0..r1`, in 16-row multiples.
fn part_range(r0: usize, r1: usize, parts: usize, i: usize) -> (usize, usize) {
    let per = (r1 - r0).div_ceil(parts).div_ceil(16) * 16;
    let a = (r0 + i * per).min(r1);
    (a, (a + per).min(r1))
}
