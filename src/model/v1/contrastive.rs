//! The v1 contrastive (retrieval) head.

use super::*;

impl Model {
    /// Mean-pooled, projected and L2-normalised contrastive embedding of `ids`.
    pub(crate) fn contrastive(&self, ids: &[u32], s: &mut Scratch) -> Option<Vec<f32>> {
        let head = self.contrastive.as_ref()?;
        if ids.is_empty() {
            return Some(vec![0.0; head.dim]);
        }
        let d = self.cfg.d_model;
        let l = ids.len();
        let enc = self.encode(ids, s);
        let mut m = vec![0f32; d];
        for t in 0..l {
            for (mj, e) in m.iter_mut().zip(&enc[t * d..(t + 1) * d]) {
                *mj += e;
            }
        }
        let inv = 1.0 / l as f32;
        for mj in m.iter_mut() {
            *mj *= inv;
        }
        let hidden = head.hidden_bias.len();
        let mut a = head.hidden_bias.clone();
        for j in 0..d {
            kernels::axpy(m[j], &head.hidden_kernel[j * hidden..(j + 1) * hidden], &mut a);
        }
        for v in a.iter_mut() {
            *v = v.max(0.0);
        }
        let mut out = vec![0f32; head.dim];
        for j in 0..hidden {
            kernels::axpy(a[j], &head.proj_kernel[j * head.dim..(j + 1) * head.dim], &mut out);
        }
        let norm = libm::sqrtf(kernels::dot(&out, &out) + 1e-12);
        for v in out.iter_mut() {
            *v /= norm;
        }
        Some(out)
    }
}
