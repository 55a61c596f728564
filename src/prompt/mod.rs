//! From the caller's query and tools JSON to prompt ids: the tools JSON parsed, checked
//! and re-serialised (`tools`), and each generation's prompt layout (`v1`: the encoder
//! input). Token ids come from the tokenizer; nothing here runs a model.

#[cfg(any(feature = "v2", feature = "v3"))]
pub(crate) mod chatml;
pub mod tools;
#[cfg(feature = "v1")]
pub(crate) mod v1;
