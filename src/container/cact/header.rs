//! The two `.cact` headers (v2: 29 × u32 + f32, v3: 48 × u32 + f32): their fields, read
//! by position, and every range and consistency check on them.

use super::*;


/// The fields both headers share, for [`check_common`] (the two header structs name
/// them alike).
macro_rules! common_fields {
    ($g:expr) => {
        Common {
            kv_bits: $g.kv_bits,
            d_model: $g.d_model,
            num_heads: $g.num_heads,
            num_kv_heads: $g.num_kv_heads,
            num_layers: $g.num_layers,
            hada_n: $g.hada_n,
            engram_slots: $g.engram_slots,
            engram_sub_dim: $g.engram_sub_dim,
            num_engram_tables: $g.num_engram_tables,
            engram_conv_taps: $g.engram_conv_taps,
            engram_conv_dilation: $g.engram_conv_dilation,
            num_engram_orders: $g.num_engram_orders,
            engram_orders: &$g.engram_orders,
            num_engram_sites: $g.num_engram_sites,
            engram_sites: &$g.engram_sites,
            rope_theta: $g.rope_theta,
        }
    };
}

/// The v2 header (docs/FORMATS.md#v2-header): every field after tag, num_tensors and codebook_len.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct V2Geometry {
    pub kv_window: u32,
    pub kv_bits: u32,
    pub vocab: u32,
    pub d_model: u32,
    pub num_heads: u32,
    pub num_kv_heads: u32,
    pub num_layers: u32,
    pub head_dim: u32,
    pub max_seq_len: u32,
    pub hada_n: u32,
    pub mhc_lanes: u32,
    pub engram_slots: u32,
    pub engram_sub_dim: u32,
    pub num_engram_tables: u32,
    pub engram_conv_taps: u32,
    pub engram_conv_dilation: u32,
    pub num_engram_orders: u32,
    pub engram_orders: [u32; 4],
    pub num_engram_sites: u32,
    pub engram_sites: [u32; 4],
    pub rope_theta: f32,
}

impl V2Geometry {
    pub(super) fn from_words(w: &[u32], rope_theta: f32) -> Self {
        V2Geometry {
            kv_window: w[3],
            kv_bits: w[4],
            vocab: w[5],
            d_model: w[6],
            num_heads: w[7],
            num_kv_heads: w[8],
            num_layers: w[9],
            head_dim: w[10],
            max_seq_len: w[11],
            hada_n: w[12],
            mhc_lanes: w[13],
            engram_slots: w[14],
            engram_sub_dim: w[15],
            num_engram_tables: w[16],
            engram_conv_taps: w[17],
            engram_conv_dilation: w[18],
            num_engram_orders: w[19],
            engram_orders: [w[20], w[21], w[22], w[23]],
            num_engram_sites: w[24],
            engram_sites: [w[25], w[26], w[27], w[28]],
            rope_theta,
        }
    }

    /// The engram n-gram orders (valid after parsing: count ≤ 4).
    pub(crate) fn orders(&self) -> &[u32] {
        &self.engram_orders[..self.num_engram_orders as usize]
    }

    /// The engram site layers (valid after parsing: count ≤ 4).
    pub(crate) fn sites(&self) -> &[u32] {
        &self.engram_sites[..self.num_engram_sites as usize]
    }

    pub(super) fn validate(&self) -> Result<()> {
        let f = |name: &str, msg: String| weights(format!(".cact v2 header field {name}: {msg}"));
        for (name, v) in [
            ("vocab", self.vocab),
            ("d_model", self.d_model),
            ("num_heads", self.num_heads),
            ("num_kv_heads", self.num_kv_heads),
            ("num_layers", self.num_layers),
            ("head_dim", self.head_dim),
            ("max_seq_len", self.max_seq_len),
            ("mhc_lanes", self.mhc_lanes),
        ] {
            if v == 0 {
                return Err(f(name, "is 0, must be at least 1".into()));
            }
        }
        check_common(
            "v2",
            common_fields!(self),
        )?;
        if self.head_dim % 2 != 0 {
            return Err(f("head_dim", format!("is {}, must be even (RoPE rotates pairs)", self.head_dim)));
        }
        Ok(())
    }
}

/// The v3 header (docs/FORMATS.md#v3-header): every field after tag, num_tensors and codebook_len.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct V3Geometry {
    pub kv_window: u32,
    pub kv_bits: u32,
    pub vocab: u32,
    pub out_vocab: u32,
    pub d_model: u32,
    pub num_heads: u32,
    pub num_kv_heads: u32,
    pub num_layers: u32,
    pub qk_head_dim: u32,
    pub v_head_dim: u32,
    pub max_seq_len: u32,
    pub hada_n: u32,
    pub mhc_lanes: u32,
    pub sliding_window: u32,
    pub global_mask_lo: u32,
    pub global_mask_hi: u32,
    pub qkv_conv_taps: u32,
    pub engram_slots: u32,
    pub engram_sub_dim: u32,
    pub num_engram_tables: u32,
    pub engram_conv_taps: u32,
    pub engram_conv_dilation: u32,
    pub engram_seed_heads: u32,
    pub num_engram_orders: u32,
    pub engram_orders: [u32; 4],
    pub num_engram_sites: u32,
    pub engram_sites: [u32; 16],
    pub rope_theta: f32,
}

impl V3Geometry {
    pub(super) fn from_words(w: &[u32], rope_theta: f32) -> Self {
        let mut sites = [0u32; 16];
        sites.copy_from_slice(&w[32..48]);
        V3Geometry {
            kv_window: w[3],
            kv_bits: w[4],
            vocab: w[5],
            out_vocab: w[6],
            d_model: w[7],
            num_heads: w[8],
            num_kv_heads: w[9],
            num_layers: w[10],
            qk_head_dim: w[11],
            v_head_dim: w[12],
            max_seq_len: w[13],
            hada_n: w[14],
            mhc_lanes: w[15],
            sliding_window: w[16],
            global_mask_lo: w[17],
            global_mask_hi: w[18],
            qkv_conv_taps: w[19],
            engram_slots: w[20],
            engram_sub_dim: w[21],
            num_engram_tables: w[22],
            engram_conv_taps: w[23],
            engram_conv_dilation: w[24],
            engram_seed_heads: w[25],
            num_engram_orders: w[26],
            engram_orders: [w[27], w[28], w[29], w[30]],
            num_engram_sites: w[31],
            engram_sites: sites,
            rope_theta,
        }
    }

    /// The engram n-gram orders (valid after parsing: count ≤ 4).
    pub(crate) fn orders(&self) -> &[u32] {
        &self.engram_orders[..self.num_engram_orders as usize]
    }

    /// The engram site layers (valid after parsing: count ≤ 16).
    pub(crate) fn sites(&self) -> &[u32] {
        &self.engram_sites[..self.num_engram_sites as usize]
    }

    /// The 64-bit global-layer mask (bit i: layer i attends to every earlier position).
    pub(crate) fn global_mask(&self) -> u64 {
        (self.global_mask_hi as u64) << 32 | self.global_mask_lo as u64
    }

    /// Whether layer `l` is a global (full causal) layer.
    pub(crate) fn is_global(&self, l: u32) -> bool {
        self.sliding_window == 0 || (l < 64 && self.global_mask() >> l & 1 == 1)
    }

    /// The number of rows the tied LM head scores (`out_vocab`, 0 meaning the full vocab).
    pub(crate) fn scored_vocab(&self) -> u32 {
        if self.out_vocab == 0 {
            self.vocab
        } else {
            self.out_vocab
        }
    }

    pub(super) fn validate(&self) -> Result<()> {
        let f = |name: &str, msg: String| weights(format!(".cact v3 header field {name}: {msg}"));
        for (name, v) in [
            ("vocab", self.vocab),
            ("d_model", self.d_model),
            ("num_heads", self.num_heads),
            ("num_kv_heads", self.num_kv_heads),
            ("num_layers", self.num_layers),
            ("qk_head_dim", self.qk_head_dim),
            ("v_head_dim", self.v_head_dim),
            ("max_seq_len", self.max_seq_len),
            ("mhc_lanes", self.mhc_lanes),
            ("num_engram_orders", self.num_engram_orders),
        ] {
            if v == 0 {
                return Err(f(name, "is 0, must be at least 1".into()));
            }
        }
        if self.num_layers > V3_MAX_LAYERS {
            return Err(f("num_layers", format!("is {}, at most {V3_MAX_LAYERS} fit the global mask", self.num_layers)));
        }
        check_common(
            "v3",
            common_fields!(self),
        )?;
        if self.out_vocab > self.vocab {
            return Err(f("out_vocab", format!("is {}, more than vocab {}", self.out_vocab, self.vocab)));
        }
        if self.qk_head_dim % 2 != 0 {
            return Err(f("qk_head_dim", format!("is {}, must be even (RoPE rotates pairs)", self.qk_head_dim)));
        }
        let beyond = if self.num_layers >= 64 { 0 } else { self.global_mask() >> self.num_layers };
        if beyond != 0 {
            return Err(f(
                "global_mask_lo/global_mask_hi",
                format!("mark layer {} as global, but there are only {} layers", self.num_layers + beyond.trailing_zeros(), self.num_layers),
            ));
        }
        // v3 derives the engram geometry even without sites (needle-rs checks it always).
        let orders = self.num_engram_orders;
        if self.num_engram_tables == 0 || self.num_engram_tables % orders != 0 {
            return Err(f(
                "num_engram_tables",
                format!("is {}, must be a non-zero multiple of num_engram_orders {orders}", self.num_engram_tables),
            ));
        }
        let want_sub = self.d_model / self.num_engram_tables;
        if self.engram_sub_dim != want_sub {
            return Err(f(
                "engram_sub_dim",
                format!(
                    "is {}, expected d_model / num_engram_tables = {} / {} = {want_sub}",
                    self.engram_sub_dim, self.d_model, self.num_engram_tables
                ),
            ));
        }
        Ok(())
    }
}

/// The fields both headers share, for the checks both generations make.
struct Common<'a> {
    kv_bits: u32,
    d_model: u32,
    num_heads: u32,
    num_kv_heads: u32,
    num_layers: u32,
    hada_n: u32,
    engram_slots: u32,
    engram_sub_dim: u32,
    num_engram_tables: u32,
    engram_conv_taps: u32,
    engram_conv_dilation: u32,
    num_engram_orders: u32,
    engram_orders: &'a [u32; 4],
    num_engram_sites: u32,
    engram_sites: &'a [u32],
    rope_theta: f32,
}

fn check_common(gen: &str, c: Common<'_>) -> Result<()> {
    let f = |name: &str, msg: String| weights(format!(".cact {gen} header field {name}: {msg}"));
    if !matches!(c.kv_bits, 2 | 3 | 4 | 8) {
        return Err(f("kv_bits", format!("is {}, must be 2, 3, 4 or 8", c.kv_bits)));
    }
    if c.num_heads % c.num_kv_heads != 0 {
        return Err(f(
            "num_kv_heads",
            format!("is {}, which does not divide num_heads {}", c.num_kv_heads, c.num_heads),
        ));
    }
    let want_n = c.d_model.checked_next_power_of_two();
    if want_n != Some(c.hada_n) {
        return Err(f(
            "hada_n",
            format!("is {}, must be the next power of two >= d_model {}", c.hada_n, c.d_model),
        ));
    }
    if !(c.rope_theta.is_finite() && c.rope_theta > 0.0) {
        return Err(f("rope_theta", format!("is {}, must be a finite positive number", c.rope_theta)));
    }
    // Orders: at most 4 fit the header; each at least 1; the rest of the array zero.
    let n_orders = c.num_engram_orders;
    if n_orders > 4 {
        return Err(f("num_engram_orders", format!("is {n_orders}, the header holds at most 4")));
    }
    for (i, &o) in c.engram_orders.iter().enumerate() {
        if (i as u32) < n_orders && o == 0 {
            return Err(f("engram_orders", format!("order {i} is 0, must be at least 1")));
        }
        if (i as u32) >= n_orders && o != 0 {
            return Err(f(
                "engram_orders",
                format!("entry {i} is {o} beyond num_engram_orders {n_orders} (must be zero padding)"),
            ));
        }
    }
    let max_order = c.engram_orders.iter().copied().max().unwrap_or(0);
    if n_orders > 0 && c.engram_conv_dilation != max_order {
        return Err(f(
            "engram_conv_dilation",
            format!("is {}, must be the largest engram order {max_order}", c.engram_conv_dilation),
        ));
    }
    // Sites: inside the array, strictly increasing layer indices below num_layers.
    let n_sites = c.num_engram_sites;
    if n_sites as usize > c.engram_sites.len() {
        return Err(f(
            "num_engram_sites",
            format!("is {n_sites}, the header holds at most {}", c.engram_sites.len()),
        ));
    }
    for (i, &s) in c.engram_sites.iter().enumerate() {
        if (i as u32) < n_sites {
            if s >= c.num_layers {
                return Err(f(
                    "engram_sites",
                    format!("site {i} is layer {s}, but there are only {} layers", c.num_layers),
                ));
            }
            if i > 0 && s <= c.engram_sites[i - 1] {
                return Err(f(
                    "engram_sites",
                    format!("site {i} (layer {s}) does not come after site {} (layer {})", i - 1, c.engram_sites[i - 1]),
                ));
            }
        } else if s != 0 {
            return Err(f(
                "engram_sites",
                format!("entry {i} is {s} beyond num_engram_sites {n_sites} (must be zero padding)"),
            ));
        }
    }
    if n_sites > 0 {
        if n_orders == 0 {
            return Err(f("num_engram_orders", "is 0, but the file has engram sites".into()));
        }
        for (name, v) in [
            ("engram_slots", c.engram_slots),
            ("engram_sub_dim", c.engram_sub_dim),
            ("num_engram_tables", c.num_engram_tables),
            ("engram_conv_taps", c.engram_conv_taps),
        ] {
            if v == 0 {
                return Err(f(name, "is 0, but the file has engram sites".into()));
            }
        }
        if c.num_engram_tables % n_orders != 0 {
            return Err(f(
                "num_engram_tables",
                format!("is {}, not a multiple of num_engram_orders {n_orders}", c.num_engram_tables),
            ));
        }
        if (c.num_engram_tables as u64) * (c.engram_sub_dim as u64) != c.d_model as u64 {
            return Err(f(
                "engram_sub_dim",
                format!(
                    "num_engram_tables {} x engram_sub_dim {} is not d_model {}",
                    c.num_engram_tables, c.engram_sub_dim, c.d_model
                ),
            ));
        }
    }
    Ok(())
}

/// A header of either generation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Geometry {
    V2(V2Geometry),
    V3(V3Geometry),
}
