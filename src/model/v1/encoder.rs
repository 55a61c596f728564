//! The v1 encoder: all positions at once, rows split over scoped threads.

use super::*;

impl Model {
    /// Worker threads for one call's encoder over `l` positions (1 below 32 positions,
    /// on a batch worker, or when configured so).
    pub(super) fn threads_for(&self, l: usize) -> usize {
        if l < 32 {
            return 1;
        }
        let t = threads::thread_limit();
        let t = if t > 0 { t } else { configured_threads() };
        t.clamp(1, l / 16)
    }

    /// Norm, Q/K/V projections, q/k head norms and RoPE for rows `r0 ..` (`xc` holds
    /// the rows' residual stream; results overwrite `qc`, `kc`, `vc`).
    #[allow(clippy::too_many_arguments)]
    fn qkv_rows(&self, layer: &EncoderLayer, r0: usize, xc: &[f32], qc: &mut [f32], kc: &mut [f32], vc: &mut [f32], rope: &[f32], ts: &mut Scratch) {
        let c = &self.cfg;
        let (d, hd, h, hkv) = (c.d_model, c.head_dim(), c.num_heads, c.num_kv_heads);
        let rows = xc.len() / d;
        ts.norm.clear();
        ts.norm.extend_from_slice(xc);
        for t in 0..rows {
            kernels::zc_rms_norm(&mut ts.norm[t * d..(t + 1) * d], &layer.norm);
        }
        let a = &layer.attn;
        kernels::gemm_i4(&ts.norm, rows, &a.wq, self.data(), qc, &mut ts.panel);
        kernels::gemm_i4(&ts.norm, rows, &a.wk, self.data(), kc, &mut ts.panel);
        kernels::gemm_i4(&ts.norm, rows, &a.wv, self.data(), vc, &mut ts.panel);
        for t in 0..rows {
            let cs = &rope[(r0 + t) * hd..(r0 + t + 1) * hd];
            for qv in qc[t * h * hd..(t + 1) * h * hd].chunks_exact_mut(hd) {
                kernels::zc_rms_norm(qv, &a.q_norm);
                kernels::rope_apply(qv, cs);
            }
            for kv in kc[t * hkv * hd..(t + 1) * hkv * hd].chunks_exact_mut(hd) {
                kernels::zc_rms_norm(kv, &a.k_norm);
                kernels::rope_apply(kv, cs);
            }
        }
    }

    /// Attention of rows `qc` against the packed keys/values of all positions, the
    /// output projection and the gated residual into `xc`, then (if `next` is given)
    /// the next layer's Q/K/V for the same rows.
    #[allow(clippy::too_many_arguments)]
    fn layer_rows(
        &self,
        layer: &EncoderLayer,
        next: Option<&EncoderLayer>,
        r0: usize,
        l: usize,
        xc: &mut [f32],
        qc: &mut [f32],
        kc: &mut [f32],
        vc: &mut [f32],
        packed: &Packed,
        rope: &[f32],
        ts: &mut Scratch,
    ) {
        let c = &self.cfg;
        let (d, hd, h, hkv) = (c.d_model, c.head_dim(), c.num_heads, c.num_kv_heads);
        let rows = xc.len() / d;
        let qw = h * hd;
        let rep = h / hkv;
        let scale = libm::powf(hd as f32, -0.5);
        ts.attn.clear();
        ts.attn.resize(rows * qw, 0.0);
        const QB: usize = 64;
        ts.scores.resize(QB.min(rows) * l, 0.0);
        for hh in 0..h {
            let kh = hh / rep;
            let mut i = 0;
            while i < rows {
                let m = QB.min(rows - i);
                let sc = &mut ts.scores[..m * l];
                kernels::sgemm_packed(&qc[i * qw + hh * hd..], qw, m, hd, packed.k(kh), l, sc, l, scale);
                for row in sc.chunks_exact_mut(l) {
                    kernels::softmax(row);
                }
                kernels::sgemm_packed(sc, l, m, l, packed.v(kh), hd, &mut ts.attn[i * qw + hh * hd..], qw, 1.0);
                i += m;
            }
        }
        let a = &layer.attn;
        ts.out.clear();
        ts.out.resize(rows * d, 0.0);
        kernels::gemm_i4(&ts.attn, rows, &a.wo, self.data(), &mut ts.out, &mut ts.panel);
        let g = kernels::sigmoid(layer.gate);
        for (xi, o) in xc.iter_mut().zip(&ts.out) {
            *xi += g * o;
        }
        if let Some(f) = &layer.ffn {
            self.ffn_apply(f, xc, rows, ts);
        }
        if let Some(nl) = next {
            self.qkv_rows(nl, r0, xc, qc, kc, vc, rope, ts);
        }
    }

    /// Runs the encoder on `ids` and returns the final-normed states `[L × D]`.
    ///
    /// Every matrix product runs over all positions at once (INT4 panels dequantised
    /// once per call and reused by every row); attention is two packed GEMMs per head
    /// and query block; rows are split across threads (see [`Model::threads_for`]).
    pub(crate) fn encode(&self, ids: &[u32], s: &mut Scratch) -> Vec<f32> {
        let c = &self.cfg;
        let (d, hd, h, hkv) = (c.d_model, c.head_dim(), c.num_heads, c.num_kv_heads);
        let l = ids.len();
        let (qw, kvw) = (h * hd, hkv * hd);
        let mut x = vec![0f32; l * d];
        for (t, &id) in ids.iter().enumerate() {
            self.embed(id, &mut x[t * d..(t + 1) * d]);
        }
        if l == 0 || self.encoder.is_empty() {
            for t in 0..l {
                kernels::zc_rms_norm(&mut x[t * d..(t + 1) * d], &self.enc_final_norm);
            }
            return x;
        }
        kernels::rope_table(0, l, hd, c.rope_theta, &mut s.rope);
        let rope = std::mem::take(&mut s.rope);
        let nt = self.threads_for(l);
        let per = l.div_ceil(nt);
        if s.workers.len() < nt {
            s.workers.resize_with(nt, Scratch::default);
        }
        let mut q = std::mem::take(&mut s.q);
        let mut k = std::mem::take(&mut s.k);
        let mut v = std::mem::take(&mut s.v);
        q.clear();
        q.resize(l * qw, 0.0);
        k.clear();
        k.resize(l * kvw, 0.0);
        v.clear();
        v.resize(l * kvw, 0.0);
        let mut packed = std::mem::take(&mut s.packed);
        let nl = self.encoder.len();
        // Step 0 computes layer 0's Q/K/V; step i ≥ 1 runs layer i−1's attention and
        // output projection, then layer i's Q/K/V, for each thread's rows.
        for step in 0..=nl {
            if step > 0 {
                packed.pack(&k, &v, l, hkv, hd);
            }
            let rope = &rope;
            let packed = &packed;
            let work = |r0: usize, xc: &mut [f32], qc: &mut [f32], kc: &mut [f32], vc: &mut [f32], ts: &mut Scratch| {
                if step == 0 {
                    self.qkv_rows(&self.encoder[0], r0, xc, qc, kc, vc, rope, ts);
                } else {
                    let next = self.encoder.get(step);
                    self.layer_rows(&self.encoder[step - 1], next, r0, l, xc, qc, kc, vc, packed, rope, ts);
                }
            };
            let parts: Vec<_> = x
                .chunks_mut(per * d)
                .zip(q.chunks_mut(per * qw))
                .zip(k.chunks_mut(per * kvw))
                .zip(v.chunks_mut(per * kvw))
                .zip(s.workers.iter_mut())
                .enumerate()
                .map(|(i, ((((xc, qc), kc), vc), ts))| (i * per, xc, qc, kc, vc, ts))
                .collect();
            threads::run_parts(parts, |(r0, xc, qc, kc, vc, ts)| work(r0, xc, qc, kc, vc, ts));
        }
        s.q = q;
        s.k = k;
        s.v = v;
        s.packed = packed;
        s.rope = rope;
        for t in 0..l {
            kernels::zc_rms_norm(&mut x[t * d..(t + 1) * d], &self.enc_final_norm);
        }
        x
    }

}
