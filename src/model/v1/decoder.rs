//! The v1 decoder: cross-attention keys/values precomputed once per call, then one
//! KV-cached step per generated token, split over the worker pool.

use super::*;

impl Model {
    /// Precomputes the cross-attention keys (k-normed, no RoPE) and values of every
    /// decoder layer from the encoder states, packed for the decoder's attention GEMMs
    /// (layers split across threads).
    pub(crate) fn cross_kv(&self, enc: &[f32], l: usize, s: &mut Scratch) -> Vec<Packed> {
        let c = &self.cfg;
        let (hd, hkv) = (c.head_dim(), c.num_kv_heads);
        let nt = self.threads_for(l).min(self.decoder.len().max(1));
        if s.workers.len() < nt {
            s.workers.resize_with(nt, Scratch::default);
        }
        let mut out: Vec<Packed> = (0..self.decoder.len()).map(|_| Packed::default()).collect();
        let work = |li: usize, p: &mut Packed, ts: &mut Scratch| {
            let a = &self.decoder[li].cross_attn;
            let mut k = std::mem::take(&mut ts.k);
            let mut v = std::mem::take(&mut ts.v);
            self.project(enc, l, &a.wk, &mut k, &mut ts.panel);
            self.project(enc, l, &a.wv, &mut v, &mut ts.panel);
            for kv in k.chunks_exact_mut(hd) {
                kernels::zc_rms_norm(kv, &a.k_norm);
            }
            p.pack(&k, &v, l, hkv, hd);
            ts.k = k;
            ts.v = v;
        };
        if nt <= 1 {
            let ts = &mut s.workers[0];
            for (li, p) in out.iter_mut().enumerate() {
                work(li, p, ts);
            }
        } else {
            let per = self.decoder.len().div_ceil(nt);
            let parts: Vec<_> = out.chunks_mut(per).zip(s.workers.iter_mut()).enumerate().collect();
            threads::run_parts(parts, |(ti, (chunk, ts))| {
                for (j, p) in chunk.iter_mut().enumerate() {
                    work(ti * per + j, p, ts);
                }
            });
        }
        out
    }

    /// Threads for one decoder step: the call's limit (batch workers: 1) or the
    /// configured count, at most the pool's width; 1 for small models, where the
    /// hand-offs would cost more than the work.
    fn decode_threads(&self) -> usize {
        let t = threads::thread_limit();
        let t = if t > 0 { t } else { configured_threads() };
        if t <= 1 || self.cfg.d_model < 128 {
            return 1;
        }
        if pool::available() {
            t
        } else {
            1
        }
    }

    /// `ys[i] = x · mats[i]` for one row; the columns of all matrices together are
    /// split into `nt` contiguous ranges, one per pool part (bit-identical to `nt = 1`).
    fn matvecs<const N: usize>(&self, x: &[f32], mats: [&QMatrix; N], ys: [&mut Vec<f32>; N], nt: usize) {
        let data = self.data();
        let mut ptrs: [SyncPtr; N] = [SyncPtr(std::ptr::null_mut()); N];
        for (i, y) in ys.into_iter().enumerate() {
            y.clear();
            y.resize(mats[i].out_feat, 0.0);
            if nt <= 1 {
                kernels::gemv_cols(x, mats[i], data, y, 0, mats[i].out_feat);
            }
            ptrs[i] = SyncPtr(y.as_mut_ptr());
        }
        if nt <= 1 {
            return;
        }
        let total: usize = mats.iter().map(|q| q.out_feat).sum();
        // 128-column chunks (two 64-column kernel blocks) taken dynamically.
        let per = 128;
        pool::run(total.div_ceil(per), &|part| {
            let (lo, hi) = (part * per, ((part + 1) * per).min(total));
            let mut base = 0;
            for (q, p) in mats.iter().zip(ptrs.iter()) {
                let (a, b) = (lo.max(base), hi.min(base + q.out_feat));
                if a < b {
                    // SAFETY: columns a..b of this matrix belong to this part only and
                    // lie inside the buffer of `q.out_feat` values.
                    let y = unsafe { p.slice(a - base, b - a) };
                    kernels::gemv_cols(x, q, data, y, a - base, b - base);
                }
                base += q.out_feat;
            }
        });
    }

    /// One decoder step for `token` at `pos`: appends to the self-attention cache and
    /// writes the logits over the vocabulary into `state.logits`.
    ///
    /// With more than one thread, each matrix-vector product (columns), the
    /// cross-attention (KV heads) and the LM head (vocabulary rows) are split over the
    /// persistent [`pool`]; every output element is computed by one thread in the
    /// same order, so the logits do not depend on the thread count.
    pub(crate) fn decode_step(&self, token: u32, pos: usize, st: &mut DecoderState, s: &mut Scratch) {
        let c = &self.cfg;
        let (d, hd, h, hkv) = (c.d_model, c.head_dim(), c.num_heads, c.num_kv_heads);
        let rep = h / hkv;
        let kvw = hkv * hd;
        let scale = libm::powf(hd as f32, -0.5);
        let nt = self.decode_threads();
        let mut x = std::mem::take(&mut st.x);
        self.embed(token, &mut x);
        kernels::rope_table(pos, 1, hd, c.rope_theta, &mut s.rope);
        let enc_len = st.enc_len;
        for (li, layer) in self.decoder.iter().enumerate() {
            // Self-attention.
            s.norm.clear();
            s.norm.extend_from_slice(&x);
            kernels::zc_rms_norm(&mut s.norm, &layer.self_norm);
            let a = &layer.self_attn;
            self.matvecs(&s.norm, [&a.wq, &a.wk, &a.wv], [&mut s.q, &mut s.k, &mut s.v], nt);
            for hh in 0..h {
                let qv = &mut s.q[hh * hd..(hh + 1) * hd];
                kernels::zc_rms_norm(qv, &a.q_norm);
                kernels::rope_apply(qv, &s.rope[..hd]);
            }
            for hh in 0..hkv {
                let kv = &mut s.k[hh * hd..(hh + 1) * hd];
                kernels::zc_rms_norm(kv, &a.k_norm);
                kernels::rope_apply(kv, &s.rope[..hd]);
            }
            let (kc, vc) = &mut st.self_kv[li];
            if kc.len() < (pos + 1) * kvw {
                // Caches grow by doubling (amortised), so a huge max_dec_len costs
                // nothing up front.
                let n = (2 * kc.len()).max((pos + 1) * kvw);
                kc.resize(n, 0.0);
                vc.resize(n, 0.0);
            }
            kc[pos * kvw..(pos + 1) * kvw].copy_from_slice(&s.k[..kvw]);
            vc[pos * kvw..(pos + 1) * kvw].copy_from_slice(&s.v[..kvw]);
            let n = pos + 1;
            attend_one(&s.q, kc, vc, n, h, rep, hkv, hd, scale, &mut s.scores, &mut s.attn);
            self.matvecs(&s.attn, [&a.wo], [&mut s.out], nt);
            let g = kernels::sigmoid(layer.self_gate);
            for (xi, o) in x.iter_mut().zip(&s.out) {
                *xi += g * o;
            }
            // Cross-attention (no RoPE).
            s.norm.clear();
            s.norm.extend_from_slice(&x);
            kernels::zc_rms_norm(&mut s.norm, &layer.cross_norm);
            let a = &layer.cross_attn;
            self.matvecs(&s.norm, [&a.wq], [&mut s.q], nt);
            for hh in 0..h {
                kernels::zc_rms_norm(&mut s.q[hh * hd..(hh + 1) * hd], &a.q_norm);
            }
            let p = &st.cross_kv[li];
            s.attn.clear();
            s.attn.resize(h * hd, 0.0);
            // Each chunk is one KV head (with its own scores region).
            let parts = if enc_len >= 64 && nt > 1 { hkv } else { 1 };
            let hp = hkv.div_ceil(parts);
            let sw = rep * enc_len;
            s.scores.resize(parts * sw, 0.0);
            let (qs, scp, atp) = (&s.q, SyncPtr(s.scores.as_mut_ptr()), SyncPtr(s.attn.as_mut_ptr()));
            let heads = |part: usize| {
                for kh in part * hp..((part + 1) * hp).min(hkv) {
                    // SAFETY: scores region `part` and the output rows of head `kh`
                    // belong to this part only.
                    let (sc, o) = unsafe { (scp.slice(part * sw, sw), atp.slice(kh * rep * hd, rep * hd)) };
                    let qh = &qs[kh * rep * hd..(kh + 1) * rep * hd];
                    kernels::sgemm_packed(qh, hd, rep, hd, p.k(kh), enc_len, sc, enc_len, scale);
                    for row in sc.chunks_exact_mut(enc_len) {
                        kernels::softmax(row);
                    }
                    kernels::sgemm_packed(sc, enc_len, rep, enc_len, p.v(kh), hd, o, hd, 1.0);
                }
            };
            if parts > 1 {
                pool::run(parts, &heads);
            } else {
                heads(0);
            }
            self.matvecs(&s.attn, [&a.wo], [&mut s.out], nt);
            let g = kernels::sigmoid(layer.cross_gate);
            for (xi, o) in x.iter_mut().zip(&s.out) {
                *xi += g * o;
            }
            if let Some(f) = &layer.ffn {
                self.ffn_apply(f, &mut x, 1, s);
            }
        }
        s.norm.clear();
        s.norm.extend_from_slice(&x);
        kernels::zc_rms_norm(&mut s.norm, &self.dec_final_norm);
        let vocab = c.vocab_size;
        st.logits.resize(vocab, 0.0);
        let (z, emb) = (&s.norm[..d], self.embedding());
        if nt <= 1 {
            kernels::lm_head(z, emb, &mut st.logits);
        } else {
            let per = 512;
            let lp = SyncPtr(st.logits.as_mut_ptr());
            pool::run(vocab.div_ceil(per), &|part| {
                let (lo, hi) = (part * per, ((part + 1) * per).min(vocab));
                if lo < hi {
                    // SAFETY: logits lo..hi belong to this part only.
                    let out = unsafe { lp.slice(lo, hi - lo) };
                    kernels::lm_head(z, &emb[lo * 2 * d..hi * 2 * d], out);
                }
            });
        }
        st.x = x;
    }

}

/// Per-call decoder state: caches, the residual stream and the current logits.
pub(crate) struct DecoderState {
    pub enc_len: usize,
    pub cross_kv: Vec<Packed>,
    pub self_kv: Vec<(Vec<f32>, Vec<f32>)>,
    pub x: Vec<f32>,
    pub logits: Vec<f32>,
}

impl DecoderState {
    pub(crate) fn new(model: &Model, enc: &[f32], enc_len: usize, steps: usize, s: &mut Scratch) -> Self {
        let c = &model.cfg;
        let kvw = c.num_kv_heads * c.head_dim();
        // Start small; decode_step grows the caches when a run goes further.
        let cap = steps.clamp(1, 64);
        DecoderState {
            enc_len,
            cross_kv: model.cross_kv(enc, enc_len, s),
            self_kv: (0..c.num_decoder_layers)
                .map(|_| (vec![0f32; cap * kvw], vec![0f32; cap * kvw]))
                .collect(),
            x: vec![0f32; c.d_model],
            logits: vec![0f32; c.vocab_size],
        }
    }
}
