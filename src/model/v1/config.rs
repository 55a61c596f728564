//! Needle v1's configuration read from the weights file's `__metadata__`.

use crate::container::safetensors::SafeTensors;
use crate::model::config::{Activation, Config};
use crate::{Error, Result};

// Limits that keep a hostile header from requesting absurd allocations. They are far
// above any Needle geometry.
const MAX_D_MODEL: usize = 16384;
const MAX_LAYERS: usize = 1024;
const MAX_VOCAB: usize = 1 << 22;
const MAX_SEQ: usize = 1 << 20;

fn int_key(st: &SafeTensors, key: &str, default: usize) -> Result<usize> {
    match st.meta(key) {
        None => Ok(default),
        Some(v) => v.trim().parse::<usize>().map_err(|_| {
            Error::weights(format!(
                "__metadata__.{key} = \"{v}\" is not a non-negative integer"
            ))
        }),
    }
}

impl Config {
    /// Reads the configuration from the metadata (absent keys take the published
    /// model's values) and checks it for consistency.
    pub(crate) fn from_metadata(st: &SafeTensors) -> Result<Config> {
        let d_model = int_key(st, "d_model", 512)?;
        let num_heads = int_key(st, "num_heads", 8)?;
        let num_kv_heads = int_key(st, "num_kv_heads", 4)?;
        let num_encoder_layers = int_key(st, "num_encoder_layers", 12)?;
        let num_decoder_layers = int_key(st, "num_decoder_layers", 8)?;
        let vocab_size = int_key(st, "vocab_size", 8192)?;
        let max_enc_len = match st.meta("max_enc_len") {
            Some(_) => int_key(st, "max_enc_len", 1024)?,
            None => int_key(st, "max_seq_len", 1024)?,
        };
        let max_dec_len = int_key(st, "max_dec_len", 512)?;
        let ffn_dim = int_key(st, "ffn_dim", 2048)?;
        let no_feedforward = match st.meta("no_feedforward").map(str::trim) {
            None => true,
            Some("True" | "true" | "1") => true,
            Some("False" | "false" | "0") => false,
            Some(v) => {
                return Err(Error::weights(format!(
                    "__metadata__.no_feedforward = \"{v}\" is not a boolean (True/False)"
                )))
            }
        };
        let activation = match st.meta("activation").map(str::trim) {
            None | Some("drelu") => Activation::DRelu,
            Some("swiglu") => Activation::SwiGlu,
            Some("geglu") => Activation::GeGlu,
            Some(v) => {
                if no_feedforward {
                    Activation::DRelu
                } else {
                    return Err(Error::weights(format!(
                        "__metadata__.activation = \"{v}\" is unknown (expected drelu, swiglu or geglu)"
                    )));
                }
            }
        };
        let rope_theta = match st.meta("rope_theta") {
            None => 10000.0,
            Some(v) => match v.trim().parse::<f32>() {
                Ok(x) if x.is_finite() && x > 1.0 => x,
                _ => {
                    return Err(Error::weights(format!(
                        "__metadata__.rope_theta = \"{v}\" is not a finite number greater than 1"
                    )))
                }
            },
        };
        let cfg = Config {
            d_model,
            num_heads,
            num_kv_heads,
            num_encoder_layers,
            num_decoder_layers,
            vocab_size,
            max_enc_len,
            max_dec_len,
            no_feedforward,
            ffn_dim,
            activation,
            rope_theta,
            contrastive_dim: 0,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::weights(msg));
        if self.d_model == 0 || self.d_model > MAX_D_MODEL {
            return bad(format!("d_model {} must be between 1 and {MAX_D_MODEL}", self.d_model));
        }
        if self.num_heads == 0 || self.num_kv_heads == 0 {
            return bad(format!(
                "num_heads ({}) and num_kv_heads ({}) must be positive",
                self.num_heads, self.num_kv_heads
            ));
        }
        if self.d_model % self.num_heads != 0 {
            return bad(format!(
                "d_model {} is not divisible by num_heads {}",
                self.d_model, self.num_heads
            ));
        }
        if self.num_heads % self.num_kv_heads != 0 {
            return bad(format!(
                "num_heads {} is not divisible by num_kv_heads {}",
                self.num_heads, self.num_kv_heads
            ));
        }
        if self.head_dim() % 2 != 0 {
            return bad(format!("head_dim {} must be even for RoPE", self.head_dim()));
        }
        if self.num_encoder_layers > MAX_LAYERS || self.num_decoder_layers > MAX_LAYERS {
            return bad(format!(
                "layer counts ({} encoder, {} decoder) exceed the limit of {MAX_LAYERS}",
                self.num_encoder_layers, self.num_decoder_layers
            ));
        }
        if self.num_decoder_layers == 0 {
            return bad("num_decoder_layers must be at least 1".into());
        }
        if self.vocab_size < 6 || self.vocab_size > MAX_VOCAB {
            return bad(format!(
                "vocab_size {} must be between 6 and {MAX_VOCAB}",
                self.vocab_size
            ));
        }
        if self.max_enc_len < 2 || self.max_enc_len > MAX_SEQ {
            return bad(format!(
                "max_enc_len {} must be between 2 and {MAX_SEQ}",
                self.max_enc_len
            ));
        }
        if self.max_dec_len > MAX_SEQ {
            return bad(format!("max_dec_len {} exceeds {MAX_SEQ}", self.max_dec_len));
        }
        if !self.no_feedforward && (self.ffn_dim == 0 || self.ffn_dim > 16 * MAX_D_MODEL) {
            return bad(format!("ffn_dim {} is out of range", self.ffn_dim));
        }
        Ok(())
    }
}
