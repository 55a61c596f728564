//! mHC: the residual stream as `n` lanes routed around every block
//! (docs/NETWORKS.md#mhc-lanes-and-sinkhorn). Before
//! block `l`, the unit-RMS of all lanes gives three gates: pre (which mix of the lanes the
//! block reads), post (how much of the block's output each lane takes) and the Sinkhorn-
//! normalised lane-to-lane mixing. Layer `l` favours lane `l mod n`.

use super::linear::Mat;
use super::ops::{rms_unit, sinkhorn};
use crate::kernels::sigmoid;

/// The mHC routing parameters of all layers.
pub(crate) struct Mhc {
    pub a_pre: Vec<f32>,
    pub a_post: Vec<f32>,
    pub a_res: Vec<f32>,
    pub b_pre: Vec<f32>,
    pub b_post: Vec<f32>,
    pub b_res: Vec<f32>,
    /// `[layers·n × n·d]`, `[layers·n × n·d]`, `[layers·n² × n·d]`.
    pub phi_pre: Mat,
    pub phi_post: Mat,
    pub phi_res: Mat,
}

/// One layer's routing of `s` positions, from the lanes before the block.
pub(crate) struct Route {
    /// `[s × n]`: the post gates `2·σ(…)`.
    post: Vec<f32>,
    /// `[s × n × n]`: the doubly stochastic lane mixing.
    res: Vec<f32>,
}

impl Mhc {
    /// Layer `l` on `s` positions of `n` lanes of width `d` (`lanes` is `[s × n × d]`):
    /// writes the block inputs to `u` (`[s × d]`) and returns the routing [`Mhc::leave`]
    /// applies.
    pub(crate) fn enter(&self, l: usize, n: usize, d: usize, lanes: &[f32], s: usize, u: &mut [f32]) -> Route {
        let mut nx = lanes[..s * n * d].to_vec();
        for row in nx.chunks_exact_mut(n * d) {
            rms_unit(row);
        }
        let mut pre = vec![0f32; s * n];
        self.phi_pre.gemm_rows(&nx, s, l * n, (l + 1) * n, &mut pre);
        let mut post = vec![0f32; s * n];
        self.phi_post.gemm_rows(&nx, s, l * n, (l + 1) * n, &mut post);
        let mut res = vec![0f32; s * n * n];
        self.phi_res.gemm_rows(&nx, s, l * n * n, (l + 1) * n * n, &mut res);
        let active = l % n;
        for t in 0..s {
            let ut = &mut u[t * d..(t + 1) * d];
            ut.fill(0.0);
            let x = &lanes[t * n * d..(t + 1) * n * d];
            for i in 0..n {
                let off = if i == active { 4.0 } else { -4.0 };
                let h = sigmoid(self.a_pre[l] * pre[t * n + i] + self.b_pre[l * n + i] + off);
                for (uj, xj) in ut.iter_mut().zip(&x[i * d..(i + 1) * d]) {
                    *uj += h * xj;
                }
                let off = if i == active { 0.0 } else { -4.0 };
                let p = &mut post[t * n + i];
                *p = 2.0 * sigmoid(self.a_post[l] * *p + self.b_post[l * n + i] + off);
            }
            let r = &mut res[t * n * n..(t + 1) * n * n];
            for (k, v) in r.iter_mut().enumerate() {
                *v = self.a_res[l] * *v + self.b_res[l * n * n + k];
            }
            sinkhorn(r, n);
        }
        Route { post, res }
    }

    /// New lanes `X'_i = Σ_j P_ij · X_j + h_post_i · y` for every position, where `y`
    /// (`[s × d]`) is the block's output minus its input.
    pub(crate) fn leave(&self, n: usize, d: usize, lanes: &mut [f32], route: &Route, y: &[f32]) {
        let s = y.len() / d;
        let mut next = vec![0f32; n * d];
        for t in 0..s {
            let x = &mut lanes[t * n * d..(t + 1) * n * d];
            let p = &route.res[t * n * n..(t + 1) * n * n];
            next.fill(0.0);
            for i in 0..n {
                let out = &mut next[i * d..(i + 1) * d];
                for j in 0..n {
                    let pij = p[i * n + j];
                    for (o, xj) in out.iter_mut().zip(&x[j * d..(j + 1) * d]) {
                        *o += pij * xj;
                    }
                }
                let hp = route.post[t * n + i];
                for (o, yj) in out.iter_mut().zip(&y[t * d..(t + 1) * d]) {
                    *o += hp * yj;
                }
            }
            x.copy_from_slice(&next);
        }
    }
}
