//! A whole `run` on a micro model with fuzzed query and tools (split at the first 0xFF).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static ENGINE: OnceLock<needle::Engine> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let engine = ENGINE.get_or_init(|| {
        // One thread: see loader.rs.
        needle::Engine::set_threads(1);
        needle::Engine::from_bytes(
            include_bytes!("../seeds/micro.safetensors").to_vec(),
            include_str!("../seeds/micro_vocab.txt"),
        )
        .unwrap()
    });
    let (q, t) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let (Ok(q), Ok(t)) = (std::str::from_utf8(q), std::str::from_utf8(t)) else { return };
    let constrained = q.len() % 2 == 0;
    let opts = needle::RunOptions::default().max_new_tokens(6).constrained(constrained);
    match engine.run_with(q, t, &opts) {
        Ok(r) => assert!(r.token_ids.len() <= 6),
        Err(e) => assert_eq!(e.kind(), needle::ErrorKind::InvalidTools),
    }
});
