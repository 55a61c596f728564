//! What the decoder-only generations (v2 and v3, the "Simple Attention Network" family
//! of `.cact` files) share: matrices behind [`linear::Linear`] (the file's Cactus-Quants
//! weights or plain `f32`), the canon walker that reads and checks the tensors in
//! upstream's export order, the mHC lane routing, the Engram n-gram memory and the small
//! numeric building blocks (unit RMS, Sinkhorn, the Engram hash, split-half RoPE), and
//! the ChatML marker ids with the answer read from generated ids.

pub(crate) mod canon;
pub(crate) mod chatml;
pub(crate) mod engram;
pub(crate) mod linear;
pub(crate) mod mhc;
pub(crate) mod ops;
