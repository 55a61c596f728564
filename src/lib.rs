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
//! The engine follows the decisions in `docs/ARCHITECTURE.md` (*Behaviour, stage by stage*): SentencePiece-exact
//! tokenisation, the upstream tools normalisation, f32 numerics, greedy decoding with the
//! name/argument-key constraints, and errors (never panics) for bad input.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

// The stages, in the order data flows through them (see docs in each module):
// containers → tokenizer / prompt → model generations → generation loop + constraints
// → result → API → C ABI. Kernels and threads are leaves that the models call.
mod container;
pub mod tokenizer;
mod prompt;
mod model;
mod generate;
mod result;
mod api;
#[cfg(feature = "capi")]
pub mod ffi;
mod error;
pub mod kernels;
mod threads;

pub use api::{Engine, LoadOptions, RunOptions, DEFAULT_MAX_NEW_TOKENS, MAX_QUERY_BYTES, MAX_TOOLS_BYTES};
pub use error::{Error, ErrorKind, Result};
pub use generate::constrain;
#[cfg(feature = "strict")]
pub use generate::schema;
pub use model::config::{Activation, Config};
pub use prompt::tools;
pub use result::{parse_calls, restore_names, RunResult, StopReason, ToolCall};
pub use serde_json;
#[doc(hidden)]
pub use threads::__simulate_spawn_failure;

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
