//! Building the v1 network from the safetensors tensor table: every tensor checked
//! against the configuration (dtype, shape, finiteness) before use.

use super::*;

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

}
