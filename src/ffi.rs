//! The C ABI (`include/needle.h`, generated from this file by cbindgen).
//!
//! Conventions: every function is NULL-safe and panic-safe; strings are NUL-terminated
//! UTF-8; fallible functions return NULL or a status and leave a message in a
//! thread-local slot (`needle_last_error`); outputs are written only on success;
//! strings returned by libneedle are freed with `needle_free_str`.

#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

use crate::{Engine, Error, ErrorKind, LoadOptions, RunOptions};
use std::cell::RefCell;
use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

/// Major version of libneedle (checked against Cargo.toml at compile time).
pub const NEEDLE_VERSION_MAJOR: u32 = 0;
/// Minor version of libneedle.
pub const NEEDLE_VERSION_MINOR: u32 = 2;
/// Patch version of libneedle.
pub const NEEDLE_VERSION_PATCH: u32 = 0;

/// Longest query (and retrieval text) a call accepts, in UTF-8 bytes (64 MiB); longer
/// input fails with NEEDLE_ERR_INVALID_ARGUMENT. Only the first max_enc_len tokens are
/// read, and only that much of the text is tokenised.
pub const NEEDLE_MAX_QUERY_BYTES: usize = 67108864;
/// Longest tools JSON a call accepts, in UTF-8 bytes (16 MiB); longer input fails with
/// NEEDLE_ERR_INVALID_TOOLS before it is parsed.
pub const NEEDLE_MAX_TOOLS_BYTES: usize = 16777216;
/// Tokens generated when max_new_tokens is not set: the model's max_dec_len, but at
/// most this many.
pub const NEEDLE_DEFAULT_MAX_NEW_TOKENS: usize = 512;
const _: () = assert!(
    NEEDLE_MAX_QUERY_BYTES == crate::MAX_QUERY_BYTES
        && NEEDLE_MAX_TOOLS_BYTES == crate::MAX_TOOLS_BYTES
        && NEEDLE_DEFAULT_MAX_NEW_TOKENS == crate::DEFAULT_MAX_NEW_TOKENS
);

const fn parse_u32(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut v = 0u32;
    while i < b.len() {
        v = v * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    v
}
const _: () = assert!(NEEDLE_VERSION_MAJOR == parse_u32(env!("CARGO_PKG_VERSION_MAJOR")));
const _: () = assert!(NEEDLE_VERSION_MINOR == parse_u32(env!("CARGO_PKG_VERSION_MINOR")));
const _: () = assert!(NEEDLE_VERSION_PATCH == parse_u32(env!("CARGO_PKG_VERSION_PATCH")));

/// Status codes. `NEEDLE_OK` is 0; the other numbers are stable and never reused.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum needle_status {
    /// Success.
    NEEDLE_OK = 0,
    /// An argument is invalid: NULL where a value is required, out of range, or a
    /// buffer of the wrong size.
    NEEDLE_ERR_INVALID_ARGUMENT = 1,
    /// A file could not be read.
    NEEDLE_ERR_IO = 2,
    /// The weights file is malformed or inconsistent.
    NEEDLE_ERR_INVALID_WEIGHTS = 3,
    /// The vocabulary is malformed or does not fit the weights.
    NEEDLE_ERR_INVALID_VOCAB = 4,
    /// The tools JSON is invalid.
    NEEDLE_ERR_INVALID_TOOLS = 5,
    /// A string argument is not valid UTF-8.
    NEEDLE_ERR_INVALID_UTF8 = 6,
    /// The model lacks a part the call needs (e.g. the contrastive head).
    NEEDLE_ERR_UNSUPPORTED = 7,
    /// Generation was stopped by the callback (only reported where noted).
    NEEDLE_ERR_CANCELLED = 8,
    /// An internal error (a bug in libneedle, e.g. a caught panic).
    NEEDLE_ERR_INTERNAL = 9,
}

impl From<ErrorKind> for needle_status {
    fn from(k: ErrorKind) -> Self {
        match k {
            ErrorKind::InvalidArgument => needle_status::NEEDLE_ERR_INVALID_ARGUMENT,
            ErrorKind::Io => needle_status::NEEDLE_ERR_IO,
            ErrorKind::InvalidWeights => needle_status::NEEDLE_ERR_INVALID_WEIGHTS,
            ErrorKind::InvalidVocab => needle_status::NEEDLE_ERR_INVALID_VOCAB,
            ErrorKind::InvalidTools => needle_status::NEEDLE_ERR_INVALID_TOOLS,
            ErrorKind::InvalidUtf8 => needle_status::NEEDLE_ERR_INVALID_UTF8,
            ErrorKind::Unsupported => needle_status::NEEDLE_ERR_UNSUPPORTED,
            ErrorKind::Cancelled => needle_status::NEEDLE_ERR_CANCELLED,
            ErrorKind::Internal => needle_status::NEEDLE_ERR_INTERNAL,
        }
    }
}

/// A loaded model. Opaque; create with `needle_load`/`needle_load_bytes`, destroy
/// with `needle_free`. Immutable after loading: one engine may be used by any number
/// of threads at once.
pub struct needle_engine {
    engine: Engine,
}

/// Load options. Opaque; create with `needle_load_options_new`, destroy with
/// `needle_load_options_free`.
pub struct needle_load_options {
    load: LoadOptions,
}

/// Per-call options. Opaque; create with `needle_options_new`, destroy with
/// `needle_options_free`. Setters must not race with other uses of the same object;
/// a fully set-up options object may be shared read-only by many threads.
pub struct needle_options {
    run: RunOptions,
    threads: usize,
}

/// Streaming callback: called on the calling thread once per generated token, in
/// order, with the token id, its text (`piece`, NUL-terminated UTF-8, valid only during
/// the call; NULL if the piece contains a NUL byte) and the caller's `user_data`.
/// Return `true` to continue, `false` to stop generation after this token.
pub type needle_token_callback =
    Option<unsafe extern "C" fn(token_id: u32, piece: *const c_char, user_data: *mut c_void) -> bool>;

struct LastError {
    status: needle_status,
    message: Option<CString>,
}

thread_local! {
    static LAST: RefCell<LastError> = const { RefCell::new(LastError { status: needle_status::NEEDLE_OK, message: None }) };
}

fn clear_error() {
    LAST.with(|l| {
        let mut l = l.borrow_mut();
        l.status = needle_status::NEEDLE_OK;
        l.message = None;
    });
}

fn set_error(e: &Error) {
    let msg = e.to_string().replace('\0', "\\0");
    LAST.with(|l| {
        let mut l = l.borrow_mut();
        l.status = e.kind().into();
        l.message = CString::new(msg).ok();
    });
}

/// Runs `f` inside a panic boundary, resetting the thread's error first and recording
/// any failure. Returns `fallback` on failure. A success clears the error again: a
/// streaming callback may have made a failing nested call on this thread meanwhile.
fn guard<T>(fallback: T, f: impl FnOnce() -> Result<T, Error>) -> T {
    clear_error();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => {
            clear_error();
            v
        }
        Ok(Err(e)) => {
            set_error(&e);
            fallback
        }
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_error(&Error::new(ErrorKind::Internal, format!("panic inside libneedle: {what}")));
            fallback
        }
    }
}

/// Like `guard` for functions that return a status.
fn guard_status(f: impl FnOnce() -> Result<(), Error>) -> needle_status {
    guard((), f);
    needle_last_status()
}

unsafe fn arg_str<'a>(p: *const c_char, name: &str) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(Error::new(ErrorKind::InvalidArgument, format!("argument '{name}' is NULL")));
    }
    // SAFETY: the caller passes a NUL-terminated string (documented in the header).
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map_err(|e| {
        Error::new(
            ErrorKind::InvalidUtf8,
            format!("argument '{name}' is not valid UTF-8 (invalid byte at offset {})", e.valid_up_to()),
        )
    })
}

unsafe fn engine_ref<'a>(p: *const needle_engine) -> Result<&'a Engine, Error> {
    if p.is_null() {
        return Err(Error::new(ErrorKind::InvalidArgument, "argument 'engine' is NULL"));
    }
    // SAFETY: a non-NULL engine pointer comes from needle_load* and is not yet freed.
    Ok(unsafe { &(*p).engine })
}

unsafe fn options_of(p: *const needle_options) -> (RunOptions, usize) {
    if p.is_null() {
        (RunOptions::default(), 0)
    } else {
        // SAFETY: a non-NULL options pointer comes from needle_options_new.
        let o = unsafe { &*p };
        (o.run.clone(), o.threads)
    }
}

fn to_c_string(s: String) -> Result<*mut c_char, Error> {
    CString::new(s)
        .map(CString::into_raw)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("output contains a NUL byte at offset {}", e.nul_position())))
}

// ------------------------------------------------------------------------ errors

/// The message of the last failed call on this thread, or NULL if the last call
/// succeeded. The string is owned by libneedle and stays valid until the next
/// libneedle call (other than `needle_last_error`, `needle_last_status`,
/// `needle_status_str` and `needle_version`) on the same thread. Do not free it.
#[no_mangle]
pub extern "C" fn needle_last_error() -> *const c_char {
    LAST.with(|l| l.borrow().message.as_ref().map_or(ptr::null(), |m| m.as_ptr()))
}

/// The status of the last call on this thread that can fail (`NEEDLE_OK` after a
/// success).
#[no_mangle]
pub extern "C" fn needle_last_status() -> needle_status {
    LAST.with(|l| l.borrow().status)
}

/// A static, human-readable name for `status` (never NULL; unknown values give
/// "unknown status").
#[no_mangle]
pub extern "C" fn needle_status_str(status: i32) -> *const c_char {
    let s: &'static str = match status {
        0 => "ok\0",
        c => match ErrorKind::from_code(c) {
            Some(k) => k.c_name(),
            None => "unknown status\0",
        },
    };
    s.as_ptr().cast()
}

/// The library version as "MAJOR.MINOR.PATCH" (static string, never NULL).
#[no_mangle]
pub extern "C" fn needle_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

// ------------------------------------------------------------------------ loading

/// Loads a model file of any generation, detected from its first bytes: a Needle v1
/// `needle.safetensors` (memory-mapped) with its `vocab_path` (vocab.txt), or a Needle
/// v2/v3 `.cact` (memory-mapped, nothing dequantised up front), which carries its own
/// tokenizer: `vocab_path` must then be NULL (a vocabulary given with a `.cact` is
/// NEEDLE_ERR_INVALID_ARGUMENT, as is a v1 file without one). Returns a new engine, or
/// NULL with the reason in `needle_last_error()`. Free it with `needle_free`.
#[no_mangle]
pub unsafe extern "C" fn needle_load(weights_path: *const c_char, vocab_path: *const c_char) -> *mut needle_engine {
    // SAFETY: forwarded caller contract.
    unsafe { needle_load_with(weights_path, vocab_path, ptr::null()) }
}

/// `needle_load` with load options (`opts` may be NULL for the defaults).
#[no_mangle]
pub unsafe extern "C" fn needle_load_with(
    weights_path: *const c_char,
    vocab_path: *const c_char,
    opts: *const needle_load_options,
) -> *mut needle_engine {
    guard(ptr::null_mut(), || {
        // SAFETY: forwarded caller contract.
        let w = unsafe { arg_str(weights_path, "weights_path") }?;
        let o = unsafe { load_options_of(opts) };
        let engine = if vocab_path.is_null() {
            Engine::open_with(w, &o).map_err(|e| null_vocab_error(e, "vocab_path"))?
        } else {
            let v = unsafe { arg_str(vocab_path, "vocab_path") }?;
            Engine::load_with(w, v, &o)?
        };
        Ok(Box::into_raw(Box::new(needle_engine { engine })))
    })
}

/// Loads from memory: `weights_len` bytes of a model file (copied; the buffer may be
/// freed after the call) and, for a v1 file, `vocab_len` bytes of vocab.txt (UTF-8, not
/// NUL-terminated). For a `.cact` pass `vocab` NULL (and `vocab_len` 0). Returns a new
/// engine or NULL.
#[no_mangle]
pub unsafe extern "C" fn needle_load_bytes(
    weights: *const u8,
    weights_len: usize,
    vocab: *const c_char,
    vocab_len: usize,
) -> *mut needle_engine {
    // SAFETY: forwarded caller contract.
    unsafe { needle_load_bytes_with(weights, weights_len, vocab, vocab_len, ptr::null()) }
}

/// `needle_load_bytes` with load options (`opts` may be NULL for the defaults).
#[no_mangle]
pub unsafe extern "C" fn needle_load_bytes_with(
    weights: *const u8,
    weights_len: usize,
    vocab: *const c_char,
    vocab_len: usize,
    opts: *const needle_load_options,
) -> *mut needle_engine {
    guard(ptr::null_mut(), || {
        if weights.is_null() {
            return Err(Error::new(ErrorKind::InvalidArgument, "argument 'weights' is NULL"));
        }
        // SAFETY: the caller guarantees the buffers hold the given number of bytes.
        let w = unsafe { std::slice::from_raw_parts(weights, weights_len) }.to_vec();
        let o = unsafe { load_options_of(opts) };
        let engine = if vocab.is_null() {
            Engine::open_bytes_with(w, &o).map_err(|e| null_vocab_error(e, "vocab"))?
        } else {
            let vb = unsafe { std::slice::from_raw_parts(vocab.cast::<u8>(), vocab_len) };
            let v = std::str::from_utf8(vb).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidUtf8,
                    format!("argument 'vocab' is not valid UTF-8 (invalid byte at offset {})", e.valid_up_to()),
                )
            })?;
            Engine::from_bytes_with(w, v, &o)?
        };
        Ok(Box::into_raw(Box::new(needle_engine { engine })))
    })
}

/// A new load-options object with the defaults (the whole model). Free with
/// `needle_load_options_free`. Returns NULL only if memory is exhausted.
#[no_mangle]
pub extern "C" fn needle_load_options_new() -> *mut needle_load_options {
    guard(ptr::null_mut(), || Ok(Box::into_raw(Box::new(needle_load_options { load: LoadOptions::default() }))))
}

/// Frees a load-options object. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn needle_load_options_free(opts: *mut needle_load_options) {
    if !opts.is_null() {
        // SAFETY: the pointer came from needle_load_options_new and is freed once.
        drop(unsafe { Box::from_raw(opts) });
    }
}

/// Needle v3 only: keep `depth` of the file's blocks (2 … its layers, in upstream's
/// ladder order) for a smaller, faster model; 0 keeps them all (the default). A depth
/// out of range, or any depth with a v1/v2 file, fails at load with
/// NEEDLE_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn needle_load_options_set_depth(opts: *mut needle_load_options, depth: u32) -> needle_status {
    guard_status(|| {
        if opts.is_null() {
            return Err(Error::new(ErrorKind::InvalidArgument, "argument 'opts' is NULL"));
        }
        // SAFETY: a non-NULL pointer comes from needle_load_options_new.
        unsafe { &mut *opts }.load.depth = (depth > 0).then_some(depth as usize);
        Ok(())
    })
}

/// A v1 file loaded without a vocabulary: say which argument was NULL, as before `.cact`.
fn null_vocab_error(e: Error, arg: &str) -> Error {
    if e.kind() == ErrorKind::InvalidArgument && e.message().contains("needs its vocab.txt") {
        Error::new(e.kind(), format!("argument '{arg}' is NULL: {}", e.message()))
    } else {
        e
    }
}

unsafe fn load_options_of(p: *const needle_load_options) -> LoadOptions {
    if p.is_null() {
        LoadOptions::default()
    } else {
        // SAFETY: a non-NULL pointer comes from needle_load_options_new.
        unsafe { &*p }.load.clone()
    }
}

/// The model generation of `engine`: 1 (needle.safetensors), 2 or 3 (`.cact`); 0 if
/// `engine` is NULL.
#[no_mangle]
pub unsafe extern "C" fn needle_generation(engine: *const needle_engine) -> u32 {
    guard(0, || {
        // SAFETY: forwarded caller contract.
        Ok(unsafe { engine_ref(engine) }?.generation())
    })
}

/// Frees an engine. NULL is a no-op. No call may use the engine concurrently or
/// afterwards.
#[no_mangle]
pub unsafe extern "C" fn needle_free(engine: *mut needle_engine) {
    if !engine.is_null() {
        // SAFETY: the pointer came from needle_load* and is freed once.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(engine) })));
    }
}

/// Frees a string returned by libneedle. NULL is a no-op. Never use `free()` on
/// libneedle strings.
#[no_mangle]
pub unsafe extern "C" fn needle_free_str(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: the pointer came from CString::into_raw in this library.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { CString::from_raw(s) })));
    }
}

/// The model configuration as a JSON object: `"generation"` and every geometry field of
/// the file (v1: d_model, num_heads, num_kv_heads, head_dim, layers, vocab_size,
/// max_enc_len, max_dec_len, ffn_dim, activation, rope_theta, ...; v2/v3: the whole
/// `.cact` header), with `"contrastive_dim"` and `"confidence_head"`. Free with
/// `needle_free_str`.
#[no_mangle]
pub unsafe extern "C" fn needle_config_json(engine: *const needle_engine) -> *mut c_char {
    guard(ptr::null_mut(), || {
        // SAFETY: forwarded caller contract.
        to_c_string(unsafe { engine_ref(engine) }?.config_json())
    })
}

// ------------------------------------------------------------------------ options

/// A new options object with the defaults (max_new_tokens = the model's max_dec_len but
/// at most NEEDLE_DEFAULT_MAX_NEW_TOKENS,
/// constrained decoding on, threads = all cores for batch calls). Free with
/// `needle_options_free`. Returns NULL only if memory is exhausted.
#[no_mangle]
pub extern "C" fn needle_options_new() -> *mut needle_options {
    guard(ptr::null_mut(), || Ok(Box::into_raw(Box::new(needle_options { run: RunOptions::default(), threads: 0 }))))
}

/// Frees an options object. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn needle_options_free(opts: *mut needle_options) {
    if !opts.is_null() {
        // SAFETY: the pointer came from needle_options_new and is freed once.
        drop(unsafe { Box::from_raw(opts) });
    }
}

unsafe fn options_mut<'a>(p: *mut needle_options) -> Result<&'a mut needle_options, Error> {
    if p.is_null() {
        return Err(Error::new(ErrorKind::InvalidArgument, "argument 'opts' is NULL"));
    }
    // SAFETY: a non-NULL options pointer comes from needle_options_new.
    Ok(unsafe { &mut *p })
}

/// Most tokens to generate (0 = none; values above the model's max_dec_len are
/// clamped to it).
#[no_mangle]
pub unsafe extern "C" fn needle_options_set_max_new_tokens(opts: *mut needle_options, max_new_tokens: u32) -> needle_status {
    guard_status(|| {
        // SAFETY: forwarded caller contract.
        unsafe { options_mut(opts) }?.run.max_new_tokens = Some(max_new_tokens as usize);
        Ok(())
    })
}

/// Turns constrained decoding of tool names and argument keys on (default) or off.
#[no_mangle]
pub unsafe extern "C" fn needle_options_set_constrained(opts: *mut needle_options, constrained: bool) -> needle_status {
    guard_status(|| {
        // SAFETY: forwarded caller contract.
        unsafe { options_mut(opts) }?.run.constrained = constrained;
        Ok(())
    })
}

/// Turns strict schema mode on or off (default off): the tool-call answer then follows a
/// grammar compiled from the tools' JSON Schemas, so it always parses and its names, keys
/// and values match the schemas (it replaces constrained decoding while on).
#[no_mangle]
pub unsafe extern "C" fn needle_options_set_strict(opts: *mut needle_options, strict: bool) -> needle_status {
    guard_status(|| {
        // SAFETY: forwarded caller contract.
        unsafe { options_mut(opts) }?.run.strict = strict;
        Ok(())
    })
}

/// A system prompt for Needle v2/v3 (a system turn before the user's; v1 has none and
/// ignores it). The text is copied; NULL removes it (the default).
#[no_mangle]
pub unsafe extern "C" fn needle_options_set_system(opts: *mut needle_options, system: *const c_char) -> needle_status {
    guard_status(|| {
        // SAFETY: forwarded caller contract.
        let o = unsafe { options_mut(opts) }?;
        o.run.system = if system.is_null() { None } else { Some(unsafe { arg_str(system, "system") }?.to_string()) };
        Ok(())
    })
}

/// Worker threads for `needle_run_batch` (0 = all cores, 1 = the calling thread only).
#[no_mangle]
pub unsafe extern "C" fn needle_options_set_threads(opts: *mut needle_options, threads: u32) -> needle_status {
    guard_status(|| {
        // SAFETY: forwarded caller contract.
        unsafe { options_mut(opts) }?.threads = threads as usize;
        Ok(())
    })
}

// ------------------------------------------------------------------------ running

/// Answers `query` given `tools_json` (a JSON array of tools, flat or OpenAI style).
/// Returns the call JSON, e.g. `[{"name":"get_weather","arguments":{"city":"Paris"}}]`,
/// as a new string (free with `needle_free_str`), or NULL on error.
#[no_mangle]
pub unsafe extern "C" fn needle_run(engine: *const needle_engine, query: *const c_char, tools_json: *const c_char) -> *mut c_char {
    // SAFETY: forwarded caller contract.
    unsafe { needle_run_with(engine, query, tools_json, ptr::null()) }
}

/// `needle_run` with options (`opts` may be NULL for the defaults).
#[no_mangle]
pub unsafe extern "C" fn needle_run_with(
    engine: *const needle_engine,
    query: *const c_char,
    tools_json: *const c_char,
    opts: *const needle_options,
) -> *mut c_char {
    // SAFETY: forwarded caller contract.
    unsafe { stream_impl(engine, query, tools_json, opts, None, ptr::null_mut(), false) }
}

/// Like `needle_run_with` but returns the structured result as JSON, every key always
/// present: `{"calls":[{"name":…,"arguments":{…}}]|null,"text":"…","token_ids":[…],
/// "prompt_tokens":n,"encoder_tokens":n,"stop":"eos"|"im_end"|"max_tokens"|
/// "max_seq_len"|"callback","reasoning":"…"|null,"confidence":p|null,
/// "prompt_truncated":false}`. `calls` is null when the text is not a valid call list;
/// `reasoning` is the v2/v3 `<think>` block; `confidence` the v2/v3 confidence head's
/// probability when the file has one; `encoder_tokens` repeats `prompt_tokens` under
/// its v1 name.
#[no_mangle]
pub unsafe extern "C" fn needle_run_json(
    engine: *const needle_engine,
    query: *const c_char,
    tools_json: *const c_char,
    opts: *const needle_options,
) -> *mut c_char {
    // SAFETY: forwarded caller contract.
    unsafe { stream_impl(engine, query, tools_json, opts, None, ptr::null_mut(), true) }
}

/// Shared body of the run functions: one run, optionally streamed, returning the text
/// or the structured JSON.
unsafe fn stream_impl(
    engine: *const needle_engine,
    query: *const c_char,
    tools_json: *const c_char,
    opts: *const needle_options,
    callback: needle_token_callback,
    user_data: *mut c_void,
    structured: bool,
) -> *mut c_char {
    guard(ptr::null_mut(), || {
        // SAFETY: forwarded caller contract.
        let e = unsafe { engine_ref(engine) }?;
        let q = unsafe { arg_str(query, "query") }?;
        let t = unsafe { arg_str(tools_json, "tools_json") }?;
        let (o, _) = unsafe { options_of(opts) };
        let r = e.run_stream(q, t, &o, |id, piece| match callback {
            None => true,
            Some(cb) => {
                let c = CString::new(piece).ok();
                let p = c.as_ref().map_or(ptr::null(), |c| c.as_ptr());
                // SAFETY: the caller provides a valid callback; `p` lives during the call.
                unsafe { cb(id, p, user_data) }
            }
        })?;
        to_c_string(if structured { r.to_json() } else { r.text })
    })
}

/// Streams the answer: `callback` (may be NULL) receives each token as it is
/// generated, on the calling thread. Returns the same string `needle_run_with`
/// would, or the text so far if the callback stopped generation. `user_data` is
/// passed through untouched.
#[no_mangle]
pub unsafe extern "C" fn needle_run_stream(
    engine: *const needle_engine,
    query: *const c_char,
    tools_json: *const c_char,
    opts: *const needle_options,
    callback: needle_token_callback,
    user_data: *mut c_void,
) -> *mut c_char {
    // SAFETY: forwarded caller contract.
    unsafe { stream_impl(engine, query, tools_json, opts, callback, user_data, false) }
}

/// `needle_run_stream` returning the structured result JSON of `needle_run_json`
/// (its `"stop"` field says `"callback"` when the callback stopped generation).
#[no_mangle]
pub unsafe extern "C" fn needle_run_stream_json(
    engine: *const needle_engine,
    query: *const c_char,
    tools_json: *const c_char,
    opts: *const needle_options,
    callback: needle_token_callback,
    user_data: *mut c_void,
) -> *mut c_char {
    // SAFETY: forwarded caller contract.
    unsafe { stream_impl(engine, query, tools_json, opts, callback, user_data, true) }
}

/// Answers `n` queries (`queries[i]` with `tools_jsons[i]`), in parallel per
/// `opts` threads. On success writes `n` new strings to `out_texts` (free each with
/// `needle_free_str`) and returns `NEEDLE_OK`. If any item fails, nothing is written
/// and the first failing item's status is returned (its message names the index).
#[no_mangle]
pub unsafe extern "C" fn needle_run_batch(
    engine: *const needle_engine,
    queries: *const *const c_char,
    tools_jsons: *const *const c_char,
    n: usize,
    opts: *const needle_options,
    out_texts: *mut *mut c_char,
) -> needle_status {
    // SAFETY: forwarded caller contract.
    unsafe { batch_impl(engine, queries, tools_jsons, n, opts, out_texts, false) }
}

/// `needle_run_batch` writing each item's structured result JSON (as `needle_run_json`)
/// to `out_jsons`.
#[no_mangle]
pub unsafe extern "C" fn needle_run_batch_json(
    engine: *const needle_engine,
    queries: *const *const c_char,
    tools_jsons: *const *const c_char,
    n: usize,
    opts: *const needle_options,
    out_jsons: *mut *mut c_char,
) -> needle_status {
    // SAFETY: forwarded caller contract.
    unsafe { batch_impl(engine, queries, tools_jsons, n, opts, out_jsons, true) }
}

unsafe fn batch_impl(
    engine: *const needle_engine,
    queries: *const *const c_char,
    tools_jsons: *const *const c_char,
    n: usize,
    opts: *const needle_options,
    out: *mut *mut c_char,
    structured: bool,
) -> needle_status {
    guard_status(|| {
        // SAFETY: forwarded caller contract.
        let e = unsafe { engine_ref(engine) }?;
        if n > 0 && (queries.is_null() || tools_jsons.is_null() || out.is_null()) {
            let out_name = if structured { "out_jsons" } else { "out_texts" };
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("arguments 'queries', 'tools_jsons' and '{out_name}' must not be NULL when n > 0"),
            ));
        }
        let mut items = Vec::with_capacity(n);
        for i in 0..n {
            // SAFETY: the arrays hold n pointers.
            let q = unsafe { arg_str(*queries.add(i), &format!("queries[{i}]")) }?;
            let t = unsafe { arg_str(*tools_jsons.add(i), &format!("tools_jsons[{i}]")) }?;
            items.push((q, t));
        }
        let (o, threads) = unsafe { options_of(opts) };
        let results = e.run_batch_with(&items, &o, threads);
        let mut texts = Vec::with_capacity(n);
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(r) => {
                    let s = if structured { r.to_json() } else { r.text };
                    texts.push(CString::new(s).map_err(|_| Error::new(ErrorKind::Internal, format!("item {i}: output contains NUL")))?)
                }
                Err(err) => return Err(Error::new(err.kind(), format!("item {i}: {}", err.message()))),
            }
        }
        for (i, t) in texts.into_iter().enumerate() {
            // SAFETY: the output array holds n slots.
            unsafe { *out.add(i) = t.into_raw() };
        }
        Ok(())
    })
}

// ------------------------------------------------------------------------ confidence

/// The confidence head's probability that `completion` (the model's output text, e.g.
/// `<tool_call>[…]</tool_call>`) answers `query` with `tools_json` (Needle v2/v3 files
/// with the head; NEEDLE_ERR_UNSUPPORTED otherwise). The prompt uses `opts`' system
/// prompt (`opts` may be NULL). The completion is encoded on its own, as upstream's
/// fine-tuning encodes a target, so the text of a run whose tokens re-encode the same
/// gives that run's `"confidence"`. Writes the probability to `*out`.
#[no_mangle]
pub unsafe extern "C" fn needle_confidence(
    engine: *const needle_engine,
    query: *const c_char,
    tools_json: *const c_char,
    completion: *const c_char,
    opts: *const needle_options,
    out: *mut f32,
) -> needle_status {
    guard_status(|| {
        // SAFETY: forwarded caller contract.
        let e = unsafe { engine_ref(engine) }?;
        let q = unsafe { arg_str(query, "query") }?;
        let t = unsafe { arg_str(tools_json, "tools_json") }?;
        let c = unsafe { arg_str(completion, "completion") }?;
        if out.is_null() {
            return Err(Error::new(ErrorKind::InvalidArgument, "argument 'out' is NULL"));
        }
        let (o, _) = unsafe { options_of(opts) };
        let p = e.confidence(q, t, c, &o)?;
        // SAFETY: checked non-NULL above.
        unsafe { *out = p };
        Ok(())
    })
}

// ------------------------------------------------------------------------ retrieval

/// Output width of the contrastive head, 0 if the model has none or `engine` is NULL.
#[no_mangle]
pub unsafe extern "C" fn needle_contrastive_dim(engine: *const needle_engine) -> usize {
    guard(0, || {
        // SAFETY: forwarded caller contract.
        Ok(unsafe { engine_ref(engine) }?.contrastive_dim())
    })
}

/// Writes the L2-normalised embedding of `text` to `out` (`out_len` must equal
/// `needle_contrastive_dim`). Returns `NEEDLE_ERR_UNSUPPORTED` without a head.
#[no_mangle]
pub unsafe extern "C" fn needle_encode_contrastive(
    engine: *const needle_engine,
    text: *const c_char,
    out: *mut f32,
    out_len: usize,
) -> needle_status {
    guard_status(|| {
        // SAFETY: forwarded caller contract.
        let e = unsafe { engine_ref(engine) }?;
        let t = unsafe { arg_str(text, "text") }?;
        if out.is_null() {
            return Err(Error::new(ErrorKind::InvalidArgument, "argument 'out' is NULL"));
        }
        let v = e.encode_contrastive(t)?;
        if out_len != v.len() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("out_len is {out_len} but the embedding has {} floats (needle_contrastive_dim)", v.len()),
            ));
        }
        // SAFETY: out holds out_len floats.
        unsafe { ptr::copy_nonoverlapping(v.as_ptr(), out, v.len()) };
        Ok(())
    })
}

/// Ranks `n` tool descriptions by similarity to `query`. Writes up to `top_k`
/// results (best first) to `out_indices`/`out_scores` (each with room for `top_k`
/// entries) and their number to `*out_count`.
#[no_mangle]
pub unsafe extern "C" fn needle_retrieve_tools(
    engine: *const needle_engine,
    query: *const c_char,
    descriptions: *const *const c_char,
    n: usize,
    top_k: usize,
    out_indices: *mut usize,
    out_scores: *mut f32,
    out_count: *mut usize,
) -> needle_status {
    guard_status(|| {
        // SAFETY: forwarded caller contract.
        let e = unsafe { engine_ref(engine) }?;
        let q = unsafe { arg_str(query, "query") }?;
        if out_count.is_null() || (top_k > 0 && (out_indices.is_null() || out_scores.is_null())) {
            return Err(Error::new(ErrorKind::InvalidArgument, "output arguments must not be NULL"));
        }
        if n > 0 && descriptions.is_null() {
            return Err(Error::new(ErrorKind::InvalidArgument, "argument 'descriptions' is NULL"));
        }
        let mut descs = Vec::with_capacity(n);
        for i in 0..n {
            // SAFETY: the array holds n pointers.
            descs.push(unsafe { arg_str(*descriptions.add(i), &format!("descriptions[{i}]")) }?);
        }
        let ranked = e.retrieve_tools(q, &descs, top_k)?;
        for (i, (idx, score)) in ranked.iter().enumerate() {
            // SAFETY: the output arrays hold top_k >= ranked.len() entries.
            unsafe {
                *out_indices.add(i) = *idx;
                *out_scores.add(i) = *score;
            }
        }
        // SAFETY: checked non-NULL above.
        unsafe { *out_count = ranked.len() };
        Ok(())
    })
}
