//! # libneedle
//!
//! A fast, faithful and portable runtime for **Needle v1**, Cactus Compute's 26M-parameter
//! tool-calling model: an encoder–decoder transformer with INT4 weights that maps a user
//! query plus a list of tool definitions to a JSON function call.
//!
//! ```no_run
//! use needle::{Engine, RunOptions};
//!
//! let engine = Engine::load("needle.safetensors", "vocab.txt")?;
//! let tools = r#"[{"name":"get_weather","parameters":{"city":{"type":"string"}}}]"#;
//!
//! // One call.
//! let r = engine.run("What's the weather in Paris?", tools)?;
//! if let Some(calls) = &r.calls {
//!     for c in calls {
//!         println!("{} {:?}", c.name, c.arguments);
//!     }
//! }
//!
//! // Streaming, stopping after 8 tokens.
//! let mut n = 0;
//! engine.run_stream("Weather in Oslo?", tools, &RunOptions::default(), |id, piece| {
//!     print!("{piece}");
//!     n += 1;
//!     n < 8
//! })?;
//! # Ok::<(), needle::Error>(())
//! ```
//!
//! The engine follows the normative decisions of the libneedle spec: SentencePiece-exact
//! tokenisation, the upstream tools normalisation, f32 numerics, greedy decoding with the
//! name/argument-key constraints, and errors (never panics) for bad input.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod api;
mod config;
pub mod constrain;
pub mod ffi;
mod decode;
mod error;
pub mod kernels;
mod loader;
mod model;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;
mod threads;
pub mod tokenizer;
pub mod tools;

pub use api::{Engine, RunOptions, DEFAULT_MAX_NEW_TOKENS, MAX_QUERY_BYTES, MAX_TOOLS_BYTES};
pub use config::{Activation, Config};
pub use decode::{parse_calls, RunResult, StopReason, ToolCall};
pub use error::{Error, ErrorKind, Result};
#[doc(hidden)]
pub use threads::__simulate_spawn_failure;
pub use serde_json;

/// The crate version (`CARGO_PKG_VERSION`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod send_sync {
    #[test]
    fn engine_is_send_and_sync() {
        fn ok<T: Send + Sync>() {}
        ok::<crate::Engine>();
    }
}
