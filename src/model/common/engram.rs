//! Engram: the n-gram memory read at its site layers (docs/NETWORKS.md#engram). It depends on token ids
//! only: each table hashes the last `order` ids to a slot, the fetched rows are projected
//! to a key and a raw value, and the value is a dilated causal conv of the raw values.

use super::linear::Mat;
use super::ops::{engram_seed, engram_slot};

/// Taps of the Engram value conv (fixed by upstream).
pub(crate) const ENGRAM_TAPS: usize = 4;

/// The Engram geometry of a file.
#[derive(Debug, Clone)]
pub(crate) struct EngramGeom {
    pub orders: Vec<usize>,
    pub heads: usize,
    /// Hash seed stride (the head count; v3's `engram_seed_heads` when set).
    pub seed_stride: usize,
    pub slots: usize,
    pub sub: usize,
    pub dilation: usize,
}

impl EngramGeom {
    /// Raw values a position's conv reads back (itself included).
    #[cfg_attr(not(feature = "v2"), allow(dead_code))]
    pub(crate) fn history(&self) -> usize {
        (ENGRAM_TAPS - 1) * self.dilation + 1
    }
}

pub(crate) struct EngramSite {
    /// `[tables·slots × sub]`.
    pub tables: Mat,
    pub key_proj: Mat,
    pub value_proj: Mat,
    /// `[4 × d]`.
    pub taps: Vec<f32>,
}

impl EngramSite {
    /// The fetched rows `e` (tables × sub, table-major) at the position of the last id of
    /// `tokens`; `complete(order)` says whether that order's n-gram counts (its rows are
    /// zeros otherwise).
    pub(crate) fn fetch(&self, g: &EngramGeom, tokens: &[u32], complete: impl Fn(usize) -> bool, e: &mut [f32]) {
        let sub = g.sub;
        let mut t = 0;
        for (oi, &order) in g.orders.iter().enumerate() {
            let ok = complete(order);
            for h in 0..g.heads {
                let part = &mut e[t * sub..(t + 1) * sub];
                if ok {
                    let slot = engram_slot(tokens, order, engram_seed(oi, h, g.seed_stride), g.slots as u32) as usize;
                    self.tables.row(t * g.slots + slot, part);
                } else {
                    part.fill(0.0);
                }
                t += 1;
            }
        }
    }

    /// `v = Σ_j taps[j] ⊙ raw(j)`, where `raw(j)` is the raw value `j·δ` positions back
    /// (`None`: before the start, or masked).
    pub(crate) fn conv<'r>(&self, raw: impl Fn(usize) -> Option<&'r [f32]>, v: &mut [f32]) {
        let d = v.len();
        v.fill(0.0);
        for j in 0..ENGRAM_TAPS {
            if let Some(src) = raw(j) {
                for ((vi, ti), si) in v.iter_mut().zip(&self.taps[j * d..(j + 1) * d]).zip(src) {
                    *vi += ti * si;
                }
            }
        }
    }
}
