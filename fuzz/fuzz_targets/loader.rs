//! The whole loader on mutated model files (seeded with a valid micro model).
#![no_main]
use libfuzzer_sys::fuzz_target;

const VOCAB: &str = include_str!("../seeds/micro_vocab.txt");

fuzz_target!(|data: &[u8]| {
    // One thread: worker threads finishing their TLS teardown after a call returns
    // would look like leaks to LeakSanitizer.
    needle::Engine::set_threads(1);
    match needle::Engine::from_bytes(data.to_vec(), VOCAB) {
        Ok(engine) => {
            // A file that loads must also run without panicking.
            let opts = needle::RunOptions::default().max_new_tokens(4);
            let _ = engine.run_with("weather in Paris", r#"[{"name":"get_weather","parameters":{"city":{"type":"string"}}}]"#, &opts);
        }
        Err(e) => assert!(!e.message().is_empty()),
    }
});
