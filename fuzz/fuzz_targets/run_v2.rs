//! A whole `run_with` on a micro Needle v2 `.cact` model (fuzz/seeds/micro_v2.cact, written
//! by tools/make_cact.py: d 32, 2 layers, an 8-position KV window, sequence limit 96, both
//! probe heads), its retrieval calls, and `Engine::open_bytes` on mutated copies of it.
//!
//! The first input byte is a flag byte. Bit 0 clear: run mode, the rest of the input is
//! `query 0xFF tools [0xFF system]` (0xFF never occurs in UTF-8); bit 1 = constrained,
//! bit 2 = pass the system prompt, bits 3-6 = max_new_tokens (0 ... 15: past the window and,
//! with long prompts, past the sequence limit), bit 7 = also `encode_contrastive` the query
//! and `retrieve_tools` over the tools text's lines. Every run must return a result with
//! at most max_new_tokens ids and a confidence in [0, 1], or an InvalidTools /
//! InvalidArgument error; embeddings must be unit vectors. Bit 0 set: model mode, byte 1
//! truncates the model (0 = keep it whole, else keep len * byte / 256 bytes) and each
//! further 3 bytes (offset u16 LE modulo the length, value) overwrite one byte; opening the
//! result must give Ok or an InvalidWeights / Unsupported / InvalidArgument error, and a
//! model that opens must run a short query like any other.
#![no_main]
use libfuzzer_sys::fuzz_target;
use needle::ErrorKind;
use std::sync::OnceLock;

static MODEL: &[u8] = include_bytes!("../seeds/micro_v2.cact");
static ENGINE: OnceLock<needle::Engine> = OnceLock::new();

const TOOLS: &str = r#"[{"name":"get_weather","description":"Weather","parameters":{"city":{"type":"string"}}}]"#;

fn allowed(e: &needle::Error) -> bool {
    matches!(e.kind(), ErrorKind::InvalidTools | ErrorKind::InvalidArgument) && !e.message().is_empty()
}

fn check_run(engine: &needle::Engine, query: &str, tools: &str, opts: &needle::RunOptions) {
    let max_new = opts.max_new_tokens.unwrap();
    match engine.run_with(query, tools, opts) {
        Ok(r) => {
            assert!(r.token_ids.len() <= max_new, "{} ids > max_new_tokens {max_new}", r.token_ids.len());
            assert_ne!(r.stop, needle::StopReason::Callback);
            let max_seq = engine.geometry()["max_seq_len"].as_u64().unwrap() as usize;
            assert!(r.encoder_tokens <= max_seq, "{} prompt ids, max_seq_len {max_seq}", r.encoder_tokens);
            if let Some(c) = r.confidence {
                assert!((0.0..=1.0).contains(&c), "confidence {c}");
            }
        }
        Err(e) => assert!(allowed(&e), "run_with: unexpected error {:?}: {}", e.kind(), e.message()),
    }
}

fn check_retrieval(engine: &needle::Engine, query: &str, tools: &str) {
    match engine.encode_contrastive(query) {
        Ok(v) => {
            let n: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!(v.len() == engine.contrastive_dim() && (n - 1.0).abs() < 1e-3, "embedding of norm {n}");
        }
        Err(e) => assert!(allowed(&e), "encode_contrastive: {:?}: {}", e.kind(), e.message()),
    }
    let descriptions: Vec<&str> = tools.lines().take(8).collect();
    match engine.retrieve_tools(query, &descriptions, 3) {
        Ok(r) => assert!(r.len() <= 3 && r.iter().all(|(i, _)| *i < descriptions.len())),
        Err(e) => assert!(allowed(&e), "retrieve_tools: {:?}: {}", e.kind(), e.message()),
    }
}

fn run_mode(engine: &needle::Engine, flags: u8, rest: &[u8]) {
    let mut parts = rest.splitn(3, |&b| b == 0xff);
    let q = parts.next().unwrap_or(&[]);
    let t = parts.next().unwrap_or(&[]);
    let s = parts.next().unwrap_or(&[]);
    let (Ok(q), Ok(t), Ok(s)) = (std::str::from_utf8(q), std::str::from_utf8(t), std::str::from_utf8(s)) else {
        return;
    };
    let max_new = ((flags >> 3) & 15) as usize;
    let mut opts = needle::RunOptions::default().max_new_tokens(max_new).constrained(flags & 2 != 0);
    if flags & 4 != 0 {
        opts = opts.system(s);
    }
    check_run(engine, q, t, &opts);
    if flags & 0x80 != 0 {
        check_retrieval(engine, q, t);
    }
}

fn model_mode(rest: &[u8]) {
    let Some((&cut, patches)) = rest.split_first() else { return };
    let mut bytes = MODEL.to_vec();
    if cut != 0 {
        bytes.truncate(bytes.len() * cut as usize / 256);
    }
    if !bytes.is_empty() {
        for p in patches.chunks_exact(3) {
            let off = u16::from_le_bytes([p[0], p[1]]) as usize % bytes.len();
            bytes[off] = p[2];
        }
    }
    match needle::Engine::open_bytes(bytes) {
        Ok(engine) => {
            let opts = needle::RunOptions::default().max_new_tokens(2);
            check_run(&engine, "weather in Paris?", TOOLS, &opts);
            check_retrieval(&engine, "weather in Paris?", "Weather\nTimer");
        }
        Err(e) => match e.kind() {
            ErrorKind::InvalidWeights | ErrorKind::Unsupported | ErrorKind::InvalidArgument => {
                assert!(!e.message().is_empty())
            }
            k => panic!("open_bytes: unexpected error kind {k:?}: {}", e.message()),
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let engine = ENGINE.get_or_init(|| {
        // One thread: see loader.rs.
        needle::Engine::set_threads(1);
        needle::Engine::open_bytes(MODEL.to_vec()).unwrap()
    });
    let Some((&flags, rest)) = data.split_first() else { return };
    if flags & 1 == 0 {
        run_mode(engine, flags, rest);
    } else {
        model_mode(rest);
    }
});
