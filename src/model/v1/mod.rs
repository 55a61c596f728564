//! Needle v1: the encoder–decoder network with INT4 weights from `needle.safetensors`.
//!
//! - `config` — the geometry read from the safetensors metadata;
//! - `weights` — the weight tables built (and checked) from the tensor table;
//! - `encoder` — all prompt positions at once;
//! - `decoder` — cross-attention K/V once per call, then one KV-cached step per token;
//! - `attention` — one query row over cached K/V, packed K/V panels;
//! - `contrastive` — the optional retrieval head;
//! - this file — the layer structs, shared helpers, per-call scratch, and the
//!   [`Network`](crate::model::Network) implementation the generation loop drives.

#![allow(clippy::needless_range_loop)]

pub(crate) mod config;
mod attention;
mod contrastive;
mod decoder;
mod encoder;
mod weights;

pub(crate) use attention::Packed;
use attention::attend_one;
pub(crate) use decoder::DecoderState;

use crate::container::safetensors::{read_floats, Dtype, SafeTensors, TensorInfo};
use crate::container::Storage;
use crate::kernels::{self, QMatrix};
use crate::threads::{self, configured_threads, pool, SyncPtr};
use crate::{Error, Result};
use crate::model::{Decoding, Network, Prompt};
use crate::prompt::tools::{normalize_tools, ToolDef};
use crate::result::{StopReason, ToolCall};
use crate::tokenizer::{Tokenizer, EOS_ID};
use crate::model::config::{Activation, Config};
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

impl Model {
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
            let e = kernels::bf16_to_f32(u16::from_le_bytes([row[2 * j], row[2 * j + 1]]));
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

/// Loads a v1 model: the safetensors file and the text of its `vocab.txt`.
pub(crate) fn load(storage: Storage, vocab_text: &str) -> Result<crate::model::Loaded> {
    let st = SafeTensors::parse(storage)?;
    let cfg = Config::from_metadata(&st)?;
    let model = Model::build(&st, cfg)?;
    let tokenizer = Tokenizer::from_vocab_text(vocab_text)?;
    if tokenizer.len() != model.cfg.vocab_size {
        return Err(Error::vocab(format!(
            "vocabulary has {} pieces but the weights' vocab_size is {}",
            tokenizer.len(),
            model.cfg.vocab_size
        )));
    }
    Ok(crate::model::Loaded { net: Box::new(model), tokenizer })
}

/// One v1 call: the decoder state over the encoded prompt.
struct Session<'a> {
    model: &'a Model,
    st: DecoderState,
    s: Scratch,
    pos: usize,
}

impl Decoding for Session<'_> {
    fn logits(&self) -> &[f32] {
        &self.st.logits
    }

    fn push(&mut self, token: u32) {
        self.pos += 1;
        self.model.decode_step(token, self.pos, &mut self.st, &mut self.s);
    }
}

impl Network for Model {
    fn generation(&self) -> u32 {
        1
    }

    fn config(&self) -> &Config {
        &self.cfg
    }

    fn geometry(&self) -> serde_json::Value {
        let c = &self.cfg;
        serde_json::json!({
            "generation": 1,
            "d_model": c.d_model, "num_heads": c.num_heads, "num_kv_heads": c.num_kv_heads,
            "num_encoder_layers": c.num_encoder_layers, "num_decoder_layers": c.num_decoder_layers,
            "vocab_size": c.vocab_size, "max_enc_len": c.max_enc_len, "max_dec_len": c.max_dec_len,
            "no_feedforward": c.no_feedforward, "ffn_dim": c.ffn_dim, "rope_theta": c.rope_theta,
            "contrastive_dim": c.contrastive_dim, "head_dim": c.head_dim(),
            "activation": c.activation.name(),
        })
    }

    fn prompt(&self, tok: &Tokenizer, query: &str, tools_json: &str, _system: Option<&str>) -> Result<Prompt> {
        let tools = normalize_tools(tools_json)?;
        let (ids, truncated) = crate::prompt::v1::encoder_ids(tok, query, &tools, self.cfg.max_enc_len);
        Ok(Prompt { ids, defs: tools.defs, truncated })
    }

    fn default_new_tokens(&self) -> usize {
        crate::DEFAULT_MAX_NEW_TOKENS.min(self.cfg.max_dec_len)
    }

    fn max_prompt_tokens(&self) -> usize {
        self.cfg.max_enc_len
    }

    fn max_new_tokens(&self, _prompt_len: usize) -> usize {
        self.cfg.max_dec_len
    }

    /// Encodes the prompt, precomputes the cross-attention K/V and runs the first
    /// decoder step on the start token (EOS).
    fn start<'a>(&'a self, prompt: &[u32], max_new: usize) -> Box<dyn Decoding + 'a> {
        let mut s = Scratch::default();
        let enc = self.encode(prompt, &mut s);
        let mut st = DecoderState::new(self, &enc, prompt.len(), max_new, &mut s);
        drop(enc);
        self.decode_step(EOS_ID, 0, &mut st, &mut s);
        Box::new(Session { model: self, st, s, pos: 0 })
    }

    fn stop_reason(&self, token: u32) -> Option<StopReason> {
        (token == EOS_ID).then_some(StopReason::Eos)
    }

    fn answer(&self, tok: &Tokenizer, ids: &[u32], defs: &[ToolDef]) -> (String, Option<Vec<ToolCall>>) {
        crate::result::postprocess(tok, ids, defs)
    }

    fn contrastive_dim(&self) -> usize {
        self.cfg.contrastive_dim
    }

    fn contrastive(&self, ids: &[u32]) -> Option<Vec<f32>> {
        Model::contrastive(self, ids, &mut Scratch::default())
    }

    fn as_v1(&self) -> Option<&Model> {
        Some(self)
    }
}
