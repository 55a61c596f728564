//! The vocab.txt parser, and encoding with whatever vocabulary parses.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(tok) = needle::tokenizer::Tokenizer::from_vocab_text(text) {
        let ids = tok.encode("What's the weather in Paris? <tools> \t naïve 😀");
        assert!(ids.iter().all(|&i| (i as usize) < tok.len()));
        let _ = tok.decode(&ids);
    }
});
