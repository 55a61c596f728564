//! From the caller's query and tools JSON to prompt ids: the tools JSON parsed, checked
//! and re-serialised (`tools`), and each generation's prompt layout (`v1`: the encoder
//! input). Token ids come from the tokenizer; nothing here runs a model.

pub(crate) mod chatml;
pub mod tools;
pub(crate) mod v1;
