//! Needle v3: the decoder-only "laddered" network of `needle3.cact` (Part B7 of the v2/v3
//! specification). Being assembled stage by stage: `ops` holds its building blocks —
//! the ladder order, the Engram n-gram hash, Sinkhorn routing of the mHC lanes, the
//! Monarch HadamardMLP, split-half RoPE, the causal Q/K/V conv — each checked against
//! upstream's own functions. The network, its weights from the `.cact` container and its
//! [`Network`](crate::model::Network) implementation follow; until then nothing outside
//! the tests calls into this folder.

#![cfg_attr(not(test), allow(dead_code))]

pub(crate) mod network;
pub(crate) mod ops;
