//! The Needle v1 network: weight tables built from the tensor table, the encoder, the
//! cross-attention key/value precomputation and the KV-cached decoder step.

#![allow(clippy::needless_range_loop)]

use crate::config::{Activation, Config};
use crate::kernels::{self, QMatrix};
use crate::loader::{read_floats, Dtype, SafeTensors, Storage, TensorInfo};
use crate::{Error, Result};
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
        let scales = read_floats(self.st, &sname, s)?;
        check_finite(&sname, &scales)?;
        Ok(QMatrix { in_feat, out_feat, gs, start: t.start, len: t.len, scales })
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

    #[inline]
    fn bytes(&self, q: &QMatrix) -> &[u8] {
        &self.storage.bytes()[q.start..q.start + q.len]
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
        kernels::gemm_i4(x, rows, q, self.bytes(q), y, panel);
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

    /// Runs the encoder on `ids` and returns the final-normed states `[L × D]`.
    pub(crate) fn encode(&self, ids: &[u32], s: &mut Scratch) -> Vec<f32> {
        let c = &self.cfg;
        let (d, hd, h, hkv) = (c.d_model, c.head_dim(), c.num_heads, c.num_kv_heads);
        let l = ids.len();
        let mut x = vec![0f32; l * d];
        for (t, &id) in ids.iter().enumerate() {
            self.embed(id, &mut x[t * d..(t + 1) * d]);
        }
        kernels::rope_table(0, l, hd, c.rope_theta, &mut s.rope);
        let scale = libm::powf(hd as f32, -0.5);
        let rep = h / hkv;
        for layer in &self.encoder {
            s.norm.clear();
            s.norm.extend_from_slice(&x);
            for t in 0..l {
                kernels::zc_rms_norm(&mut s.norm[t * d..(t + 1) * d], &layer.norm);
            }
            let a = &layer.attn;
            self.project(&s.norm, l, &a.wq, &mut s.q, &mut s.panel);
            self.project(&s.norm, l, &a.wk, &mut s.k, &mut s.panel);
            self.project(&s.norm, l, &a.wv, &mut s.v, &mut s.panel);
            for t in 0..l {
                let cs = &s.rope[t * hd..(t + 1) * hd];
                for hh in 0..h {
                    let qv = &mut s.q[(t * h + hh) * hd..(t * h + hh + 1) * hd];
                    kernels::zc_rms_norm(qv, &a.q_norm);
                    kernels::rope_apply(qv, cs);
                }
                for hh in 0..hkv {
                    let kv = &mut s.k[(t * hkv + hh) * hd..(t * hkv + hh + 1) * hd];
                    kernels::zc_rms_norm(kv, &a.k_norm);
                    kernels::rope_apply(kv, cs);
                }
            }
            // Attention per head over all positions (bidirectional).
            s.attn.clear();
            s.attn.resize(l * h * hd, 0.0);
            s.scores.resize(l, 0.0);
            for hh in 0..h {
                let kh = hh / rep;
                for i in 0..l {
                    let qv = &s.q[(i * h + hh) * hd..(i * h + hh + 1) * hd];
                    for j in 0..l {
                        let kv = &s.k[(j * hkv + kh) * hd..(j * hkv + kh + 1) * hd];
                        s.scores[j] = kernels::dot(qv, kv) * scale;
                    }
                    kernels::softmax(&mut s.scores[..l]);
                    let o = &mut s.attn[(i * h + hh) * hd..(i * h + hh + 1) * hd];
                    for j in 0..l {
                        let vv = &s.v[(j * hkv + kh) * hd..(j * hkv + kh + 1) * hd];
                        kernels::axpy(s.scores[j], vv, o);
                    }
                }
            }
            let attn = std::mem::take(&mut s.attn);
            self.project(&attn, l, &a.wo, &mut s.out, &mut s.panel);
            s.attn = attn;
            let g = kernels::sigmoid(layer.gate);
            for (xi, o) in x.iter_mut().zip(&s.out) {
                *xi += g * o;
            }
            if let Some(f) = &layer.ffn {
                self.ffn_apply(f, &mut x, l, s);
            }
        }
        for t in 0..l {
            kernels::zc_rms_norm(&mut x[t * d..(t + 1) * d], &self.enc_final_norm);
        }
        x
    }

    /// Precomputes the cross-attention keys (k-normed, no RoPE) and values of every
    /// decoder layer from the encoder states.
    pub(crate) fn cross_kv(&self, enc: &[f32], l: usize, s: &mut Scratch) -> Vec<(Vec<f32>, Vec<f32>)> {
        let c = &self.cfg;
        let (hd, hkv) = (c.head_dim(), c.num_kv_heads);
        let mut out = Vec::with_capacity(self.decoder.len());
        for layer in &self.decoder {
            let a = &layer.cross_attn;
            let mut k = Vec::new();
            let mut v = Vec::new();
            self.project(enc, l, &a.wk, &mut k, &mut s.panel);
            self.project(enc, l, &a.wv, &mut v, &mut s.panel);
            for t in 0..l * hkv {
                kernels::zc_rms_norm(&mut k[t * hd..(t + 1) * hd], &a.k_norm);
            }
            out.push((k, v));
        }
        out
    }

    /// One decoder step for `token` at `pos`: appends to the self-attention cache and
    /// writes the logits over the vocabulary into `state.logits`.
    pub(crate) fn decode_step(&self, token: u32, pos: usize, st: &mut DecoderState, s: &mut Scratch) {
        let c = &self.cfg;
        let (d, hd, h, hkv) = (c.d_model, c.head_dim(), c.num_heads, c.num_kv_heads);
        let rep = h / hkv;
        let kvw = hkv * hd;
        let scale = libm::powf(hd as f32, -0.5);
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
            self.project(&s.norm, 1, &a.wq, &mut s.q, &mut s.panel);
            self.project(&s.norm, 1, &a.wk, &mut s.k, &mut s.panel);
            self.project(&s.norm, 1, &a.wv, &mut s.v, &mut s.panel);
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
            kc[pos * kvw..(pos + 1) * kvw].copy_from_slice(&s.k[..kvw]);
            vc[pos * kvw..(pos + 1) * kvw].copy_from_slice(&s.v[..kvw]);
            let n = pos + 1;
            attend_one(&s.q, kc, vc, n, h, rep, hkv, hd, scale, &mut s.scores, &mut s.attn);
            self.project(&s.attn, 1, &a.wo, &mut s.out, &mut s.panel);
            let g = kernels::sigmoid(layer.self_gate);
            for (xi, o) in x.iter_mut().zip(&s.out) {
                *xi += g * o;
            }
            // Cross-attention (no RoPE).
            s.norm.clear();
            s.norm.extend_from_slice(&x);
            kernels::zc_rms_norm(&mut s.norm, &layer.cross_norm);
            let a = &layer.cross_attn;
            self.project(&s.norm, 1, &a.wq, &mut s.q, &mut s.panel);
            for hh in 0..h {
                kernels::zc_rms_norm(&mut s.q[hh * hd..(hh + 1) * hd], &a.q_norm);
            }
            let (kc, vc) = &st.cross_kv[li];
            attend_one(&s.q, kc, vc, enc_len, h, rep, hkv, hd, scale, &mut s.scores, &mut s.attn);
            self.project(&s.attn, 1, &a.wo, &mut s.out, &mut s.panel);
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
        st.logits.resize(c.vocab_size, 0.0);
        kernels::lm_head(&s.norm[..d], self.embedding(), &mut st.logits);
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

/// Reusable per-call buffers.
#[derive(Default)]
pub(crate) struct Scratch {
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
    pub cross_kv: Vec<(Vec<f32>, Vec<f32>)>,
    pub self_kv: Vec<(Vec<f32>, Vec<f32>)>,
    pub x: Vec<f32>,
    pub logits: Vec<f32>,
}

impl DecoderState {
    pub(crate) fn new(model: &Model, enc: &[f32], enc_len: usize, steps: usize, s: &mut Scratch) -> Self {
        let c = &model.cfg;
        let kvw = c.num_kv_heads * c.head_dim();
        let cap = steps.max(1);
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
