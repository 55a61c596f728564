//! Attention of one query row over cached keys/values, and the packed K/V panels of
//! the encoder and cross-attention GEMMs.

use super::*;

#[allow(clippy::too_many_arguments)]
pub(super) fn attend_one(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    n: usize,
    h: usize,
    rep: usize,
    hkv: usize,
    hd: usize,
    scale: f32,
    scores: &mut Vec<f32>,
    out: &mut Vec<f32>,
) {
    out.clear();
    out.resize(h * hd, 0.0);
    scores.resize(n.max(1), 0.0);
    for hh in 0..h {
        let kh = hh / rep;
        let qv = &q[hh * hd..(hh + 1) * hd];
        for j in 0..n {
            scores[j] = kernels::dot(qv, &k[(j * hkv + kh) * hd..(j * hkv + kh + 1) * hd]) * scale;
        }
        kernels::softmax(&mut scores[..n]);
        let o = &mut out[hh * hd..(hh + 1) * hd];
        for j in 0..n {
            kernels::axpy(scores[j], &v[(j * hkv + kh) * hd..(j * hkv + kh + 1) * hd], o);
        }
    }
}

/// Keys and values of one attention layer, packed per KV head for [`kernels::sgemm_packed`]:
/// `Kᵀ` (`hd × L`) and `V` (`L × hd`) as column panels.
#[derive(Default)]
pub(crate) struct Packed {
    k: Vec<f32>,
    v: Vec<f32>,
    k_len: usize,
    v_len: usize,
}

impl Packed {
    /// Packs `k`, `v` (`[L][hkv·hd]` row-major).
    pub(crate) fn pack(&mut self, k: &[f32], v: &[f32], l: usize, hkv: usize, hd: usize) {
        let kvw = hkv * hd;
        self.k_len = l.div_ceil(kernels::NC) * kernels::NC * hd;
        self.v_len = hd.div_ceil(kernels::NC) * kernels::NC * l;
        self.k.resize(self.k_len * hkv, 0.0);
        self.v.resize(self.v_len * hkv, 0.0);
        let mut buf = Vec::new();
        for kh in 0..hkv {
            let off = kh * hd;
            kernels::pack_panels(hd, l, &mut buf, |r, c| k[c * kvw + off + r]);
            self.k[kh * self.k_len..(kh + 1) * self.k_len].copy_from_slice(&buf);
            kernels::pack_panels(l, hd, &mut buf, |r, c| v[r * kvw + off + c]);
            self.v[kh * self.v_len..(kh + 1) * self.v_len].copy_from_slice(&buf);
        }
    }

    pub(super) fn k(&self, kh: usize) -> &[f32] {
        &self.k[kh * self.k_len..(kh + 1) * self.k_len]
    }

    pub(super) fn v(&self, kh: usize) -> &[f32] {
        &self.v[kh * self.v_len..(kh + 1) * self.v_len]
    }
}
