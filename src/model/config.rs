//! The model configuration every generation reports: the fields the generations have in
//! common (v1 reads them from `needle.safetensors` metadata, `v1/config.rs`; v2/v3 from the
//! `.cact` header). Each network's full geometry is `Network::geometry`.

/// Activation of the optional feed-forward blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `max(g,0) · max(u,0)`
    DRelu,
    /// `g · σ(g) · u`
    SwiGlu,
    /// `gelu_tanh(g) · u`
    GeGlu,
}

impl Activation {
    /// The name the config JSON and the safetensors metadata use.
    pub fn name(self) -> &'static str {
        match self {
            Activation::DRelu => "drelu",
            Activation::SwiGlu => "swiglu",
            Activation::GeGlu => "geglu",
        }
    }
}

/// Geometry and limits of a loaded model.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Model width D.
    pub d_model: usize,
    /// Query heads H.
    pub num_heads: usize,
    /// Key/value heads (grouped-query attention).
    pub num_kv_heads: usize,
    /// Encoder layers.
    pub num_encoder_layers: usize,
    /// Decoder layers.
    pub num_decoder_layers: usize,
    /// Vocabulary size V (rows of the embedding).
    pub vocab_size: usize,
    /// Encoder token budget (query + `<tools>` + tools).
    pub max_enc_len: usize,
    /// Decoder step budget: the most tokens one call generates.
    pub max_dec_len: usize,
    /// True when the model has no feed-forward blocks (Needle v1).
    pub no_feedforward: bool,
    /// Feed-forward width (only used when `no_feedforward` is false).
    pub ffn_dim: usize,
    /// Feed-forward activation (only used when `no_feedforward` is false).
    pub activation: Activation,
    /// RoPE base.
    pub rope_theta: f32,
    /// Output width of the contrastive head, 0 when the file has none.
    pub contrastive_dim: usize,
}

impl Config {
    /// Head width `d_model / num_heads`.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.num_heads
    }
}

