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

/// A JSON object of `fields`, in order: one loop rather than the `json!` macro's code per
/// key (a geometry has 25–30 keys; this keeps the wasm module smaller).
pub(crate) fn object(fields: Vec<(&str, serde_json::Value)>) -> serde_json::Value {
    serde_json::Value::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}
