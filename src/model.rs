//! The Needle v1 network: weight tables built from the tensor table, the encoder, the
//! cross-attention key/value precomputation and the KV-cached decoder step.

#![allow(clippy::needless_range_loop)]

use crate::config::{Activation, Config};
use crate::kernels::{self, QMatrix};
use crate::loader::{read_floats, Dtype, SafeTensors, Storage, TensorInfo};
use crate::{Error, Result};
use crate::threads::{self, configured_threads, pool, SyncPtr};
use std::sync::Arc;

pub(crate) struct Attention {
    pub wq: QMatrix,
    pub wk: QMatrix,
    pub wv: QMatrix,
    pub wo: QMatrix,
    pub q_norm: Vec<f32>,
    pub k_norm: Vec<f32>,
}

pub(crate) struct Ffn {
    pub norm: Vec<f32>,
    pub gate: f32,
    pub gate_proj: QMatrix,
    pub up_proj: QMatrix,
    pub down_proj: QMatrix,
}

pub(crate) struct EncoderLayer {
    pub norm: Vec<f32>,
    pub gate: f32,
    pub attn: Attention,
    pub ffn: Option<Ffn>,
}

pub(crate) struct DecoderLayer {
    pub self_norm: Vec<f32>,
    pub cross_norm: Vec<f32>,
    pub self_gate: f32,
    pub cross_gate: f32,
    pub self_attn: Attention,
    pub cross_attn: Attention,
    pub ffn: Option<Ffn>,
}

pub(crate) struct Contrastive {
    pub hidden_kernel: Vec<f32>,
    pub hidden_bias: Vec<f32>,
    pub proj_kernel: Vec<f32>,
    pub dim: usize,
}

pub(crate) struct Model {
    pub cfg: Config,
    pub storage: Arc<Storage>,
    /// Absolute byte offset of the BF16 embedding `[V, D]`.
    pub emb_start: usize,
    pub enc_final_norm: Vec<f32>,
    pub dec_final_norm: Vec<f32>,
    pub encoder: Vec<EncoderLayer>,
    pub decoder: Vec<DecoderLayer>,
    pub contrastive: Option<Contrastive>,
}

struct Builder<'a> {
    st: &'a SafeTensors,
    cfg: &'a Config,
}

impl Builder<'_> {
    fn tensor(&self, name: &str) -> Result<&TensorInfo> {
        self.st
            .get(name)
            .ok_or_else(|| Error::weights(format!("required tensor '{name}' is missing")))
    }

    fn vector(&self, name: &str, n: usize) -> Result<Vec<f32>> {
        let t = self.tensor(name)?;
        let count: usize = t.shape.iter().product();
        if count != n || t.shape.len() != 1 {
            return Err(Error::weights(format!(
                "tensor '{name}': shape {:?}, expected [{n}]",
                t.shape
            )));
        }
        let v = read_floats(self.st, name, t)?;
        check_finite(name, &v)?;
        Ok(v)
    }

    fn scalar(&self, name: &str) -> Result<f32> {
        let t = self.tensor(name)?;
        let count: usize = t.shape.iter().product();
        if count != 1 || t.shape.len() > 1 {
            return Err(Error::weights(format!(
                "tensor '{name}': shape {:?}, expected [1]",
                t.shape
            )));
        }
        let v = read_floats(self.st, name, t)?;
        check_finite(name, &v)?;
        Ok(v[0])
    }

    fn qmatrix(&self, name: &str, in_feat: usize, out_feat: usize) -> Result<QMatrix> {
        let t = self.tensor(name)?;
        if t.dtype != Dtype::I4 {
            return Err(Error::weights(format!(
                "tensor '{name}': dtype {}, expected packed I4",
                t.dtype.name()
            )));
        }
        let gs = in_feat.min(32);
        let in_pad = in_feat.div_ceil(gs) * gs;
        if in_pad % 2 != 0 {
            return Err(Error::weights(format!(
                "tensor '{name}': padded input width {in_pad} is odd; INT4 rows come in pairs"
            )));
        }
        let expect = [in_pad / 2, out_feat];
        if t.shape != expect {
            return Err(Error::weights(format!(
                "tensor '{name}': shape {:?}, expected {:?} (input {in_feat} padded to {in_pad}, output {out_feat})",
                t.shape, expect
            )));
        }
        let sname = format!("{name}.scale");
        let s = self.st.get(&sname).ok_or_else(|| {
            Error::weights(format!("required tensor '{sname}' (scales of '{name}') is missing"))
        })?;
        let groups = in_pad / gs;
        if s.shape != [groups, out_feat] {
            return Err(Error::weights(format!(
                "tensor '{sname}': shape {:?}, expected [{groups}, {out_feat}]",
                s.shape
            )));
        }
        if s.dtype != Dtype::F32 {
            return Err(Error::weights(format!(
                "tensor '{sname}': dtype {}, expected F32",
                s.dtype.name()
            )));
        }
        // The scales stay in the storage (read unaligned at use); their finiteness is
        // not checked here (that would touch 2.7 MB at load), only the norms and gates.
        Ok(QMatrix { in_feat, out_feat, gs, start: t.start, len: t.len, scale_start: s.start })
    }

    fn attention(&self, prefix: &str) -> Result<Attention> {
        let c = self.cfg;
        let (d, hd) = (c.d_model, c.head_dim());
        let q_out = c.num_heads * hd;
        let kv_out = c.num_kv_heads * hd;
        Ok(Attention {
            wq: self.qmatrix(&format!("{prefix}.wq"), d, q_out)?,
            wk: self.qmatrix(&format!("{prefix}.wk"), d, kv_out)?,
            wv: self.qmatrix(&format!("{prefix}.wv"), d, kv_out)?,
            wo: self.qmatrix(&format!("{prefix}.wo"), q_out, d)?,
            q_norm: self.vector(&format!("{prefix}.q_norm"), hd)?,
            k_norm: self.vector(&format!("{prefix}.k_norm"), hd)?,
        })
    }

    fn ffn(&self, prefix: &str) -> Result<Option<Ffn>> {
        let c = self.cfg;
        if c.no_feedforward {
            return Ok(None);
        }
        Ok(Some(Ffn {
            norm: self.vector(&format!("{prefix}.ffn_norm"), c.d_model)?,
            gate: self.scalar(&format!("{prefix}.ffn_gate"))?,
            gate_proj: self.qmatrix(&format!("{prefix}.ffn.gate_proj"), c.d_model, c.ffn_dim)?,
            up_proj: self.qmatrix(&format!("{prefix}.ffn.up_proj"), c.d_model, c.ffn_dim)?,
            down_proj: self.qmatrix(&format!("{prefix}.ffn.down_proj"), c.ffn_dim, c.d_model)?,
        }))
    }

    fn contrastive(&self) -> Result<Option<Contrastive>> {
        let names = [
            "contrastive_hidden_kernel",
            "contrastive_hidden_bias",
            "contrastive_proj_kernel",
        ];
        let present: Vec<&str> = names.iter().copied().filter(|n| self.st.get(n).is_some()).collect();
        if present.is_empty() {
            return Ok(None);
        }
        if present.len() != names.len() {
            let missing: Vec<&str> =
                names.iter().copied().filter(|n| self.st.get(n).is_none()).collect();
            return Err(Error::weights(format!(
                "contrastive head is incomplete: found {present:?} but not {missing:?}"
            )));
        }
        let d = self.cfg.d_model;
        let bias_t = self.tensor(names[1])?;
        if bias_t.shape.len() != 1 || bias_t.shape[0] == 0 {
            return Err(Error::weights(format!(
                "tensor '{}': shape {:?}, expected [hidden] with hidden > 0",
                names[1], bias_t.shape
            )));
        }
        let hidden = bias_t.shape[0];
        let hk_t = self.tensor(names[0])?;
        if hk_t.shape != [d, hidden] {
            return Err(Error::weights(format!(
                "tensor '{}': shape {:?}, expected [{d}, {hidden}]",
                names[0], hk_t.shape
            )));
        }
        let pk_t = self.tensor(names[2])?;
        if pk_t.shape.len() != 2 || pk_t.shape[0] != hidden || pk_t.shape[1] == 0 {
            return Err(Error::weights(format!(
                "tensor '{}': shape {:?}, expected [{hidden}, dim] with dim > 0",
                names[2], pk_t.shape
            )));
        }
        let dim = pk_t.shape[1];
        let hidden_kernel = read_floats(self.st, names[0], hk_t)?;
        let hidden_bias = read_floats(self.st, names[1], bias_t)?;
        let proj_kernel = read_floats(self.st, names[2], pk_t)?;
        for (n, v) in names.iter().zip([&hidden_kernel, &hidden_bias, &proj_kernel]) {
            check_finite(n, v)?;
        }
        Ok(Some(Contrastive { hidden_kernel, hidden_bias, proj_kernel, dim }))
    }
}

fn check_finite(name: &str, v: &[f32]) -> Result<()> {
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::weights(format!(
            "tensor '{name}': element {i} is {} (weights must be finite)",
            v[i]
        )));
    }
    Ok(())
}

impl Model {
    pub(crate) fn build(st: &SafeTensors, mut cfg: Config) -> Result<Model> {
        let b = Builder { st, cfg: &cfg };
        let emb = b.tensor("embedding")?;
        if emb.dtype != Dtype::BF16 {
            return Err(Error::weights(format!(
                "tensor 'embedding': dtype {}, expected BF16",
                emb.dtype.name()
            )));
        }
        if emb.shape != [cfg.vocab_size, cfg.d_model] {
            return Err(Error::weights(format!(
                "tensor 'embedding': shape {:?}, expected [{}, {}] (vocab_size, d_model)",
                emb.shape, cfg.vocab_size, cfg.d_model
            )));
        }
        let emb_start = emb.start;
        let enc_final_norm = b.vector("encoder_final_norm", cfg.d_model)?;
        let dec_final_norm = b.vector("decoder_final_norm", cfg.d_model)?;
        let mut encoder = Vec::with_capacity(cfg.num_encoder_layers);
        for i in 0..cfg.num_encoder_layers {
            let p = format!("encoder.{i}");
            encoder.push(EncoderLayer {
                norm: b.vector(&format!("{p}.norm"), cfg.d_model)?,
                gate: b.scalar(&format!("{p}.self_attn_gate"))?,
                attn: b.attention(&format!("{p}.self_attn"))?,
                ffn: b.ffn(&p)?,
            });
        }
        let mut decoder = Vec::with_capacity(cfg.num_decoder_layers);
        for i in 0..cfg.num_decoder_layers {
            let p = format!("decoder.{i}");
            decoder.push(DecoderLayer {
                self_norm: b.vector(&format!("{p}.self_attn_norm"), cfg.d_model)?,
                cross_norm: b.vector(&format!("{p}.cross_attn_norm"), cfg.d_model)?,
                self_gate: b.scalar(&format!("{p}.self_attn_gate"))?,
                cross_gate: b.scalar(&format!("{p}.cross_attn_gate"))?,
                self_attn: b.attention(&format!("{p}.self_attn"))?,
                cross_attn: b.attention(&format!("{p}.cross_attn"))?,
                ffn: b.ffn(&p)?,
            });
        }
        let contrastive = b.contrastive()?;
        cfg.contrastive_dim = contrastive.as_ref().map_or(0, |c| c.dim);
        Ok(Model {
            cfg,
            storage: st.storage.clone(),
            emb_start,
            enc_final_norm,
            dec_final_norm,
            encoder,
            decoder,
            contrastive,
        })
    }

    /// The whole weights storage (the kernels read codes and scales from it).
    #[inline]
    fn data(&self) -> &[u8] {
        self.storage.bytes()
    }

    fn embedding(&self) -> &[u8] {
        let n = self.cfg.vocab_size * self.cfg.d_model * 2;
        &self.storage.bytes()[self.emb_start..self.emb_start + n]
    }

    /// Writes `E[id] · sqrt(D)` into `out`.
    fn embed(&self, id: u32, out: &mut [f32]) {
        let d = self.cfg.d_model;
        let row = &self.embedding()[id as usize * 2 * d..(id as usize + 1) * 2 * d];
        let scale = libm::sqrtf(d as f32);
        for (j, o) in out.iter_mut().enumerate() {
            let e = crate::loader::bf16_to_f32(u16::from_le_bytes([row[2 * j], row[2 * j + 1]]));
            *o = e * scale;
        }
    }

    fn project(&self, x: &[f32], rows: usize, q: &QMatrix, y: &mut Vec<f32>, panel: &mut Vec<f32>) {
        y.clear();
        y.resize(rows * q.out_feat, 0.0);
        kernels::gemm_i4(x, rows, q, self.data(), y, panel);
    }

    fn ffn_apply(&self, f: &Ffn, x: &mut [f32], rows: usize, s: &mut Scratch) {
        let d = self.cfg.d_model;
        s.norm.clear();
        s.norm.extend_from_slice(&x[..rows * d]);
        for r in 0..rows {
            kernels::zc_rms_norm(&mut s.norm[r * d..(r + 1) * d], &f.norm);
        }
        self.project(&s.norm, rows, &f.gate_proj, &mut s.ga, &mut s.panel);
        self.project(&s.norm, rows, &f.up_proj, &mut s.gb, &mut s.panel);
        for (g, u) in s.ga.iter_mut().zip(&s.gb) {
            let a = match self.cfg.activation {
                Activation::DRelu => g.max(0.0) * u.max(0.0),
                Activation::SwiGlu => *g * kernels::sigmoid(*g) * u,
                Activation::GeGlu => {
                    let t = libm::tanhf(0.797_884_6 * (*g + 0.044715 * *g * *g * *g));
                    0.5 * *g * (1.0 + t) * u
                }
            };
            *g = a;
        }
        let ga = std::mem::take(&mut s.ga);
        self.project(&ga, rows, &f.down_proj, &mut s.out, &mut s.panel);
        s.ga = ga;
        let w = kernels::sigmoid(f.gate);
        for (xi, o) in x[..rows * d].iter_mut().zip(&s.out) {
            *xi += w * o;
        }
    }

    /// Worker threads for one call's encoder over `l` positions (1 below 32 positions,
    /// on a batch worker, or when configured so).
    fn threads_for(&self, l: usize) -> usize {
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

#[allow(clippy::too_many_arguments)]
fn attend_one(
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

    fn k(&self, kh: usize) -> &[f32] {
        &self.k[kh * self.k_len..(kh + 1) * self.k_len]
    }

    fn v(&self, kh: usize) -> &[f32] {
        &self.v[kh * self.v_len..(kh + 1) * self.v_len]
    }
}


/// Reusable per-call buffers.
#[derive(Default)]
pub(crate) struct Scratch {
    /// Per-thread scratch for the encoder's workers.
    pub workers: Vec<Scratch>,
    pub packed: Packed,
    pub norm: Vec<f32>,
    pub q: Vec<f32>,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
    pub attn: Vec<f32>,
    pub out: Vec<f32>,
    pub ga: Vec<f32>,
    pub gb: Vec<f32>,
    pub scores: Vec<f32>,
    pub rope: Vec<f32>,
    pub panel: Vec<f32>,
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
