//! Matrices as the forward passes see them: `y = W · x` over the file's Cactus-Quants
//! blobs (memory map or bytes; the activation is rotated once per group,
//! docs/FORMATS.md#cq-evaluation) or over a
//! plain row-major `f32` matrix (the tests build networks from upstream's parameters).

use crate::container::cact::Cact;
use crate::kernels;
use crate::kernels::cq::{CqLayout, CqMatrix};
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
        self.matrix().gemv(&xhat, y, r0, r1);
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
        self.matrix().gemm(&xhat, n, y, r1 - r0, r0, r1);
    }
}
