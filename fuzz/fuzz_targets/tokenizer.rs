//! The tokenizer on arbitrary text with the stand-in vocabulary.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static TOK: OnceLock<needle::tokenizer::Tokenizer> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let tok = TOK.get_or_init(|| {
        needle::tokenizer::Tokenizer::from_vocab_text(include_str!("../../tests/fixtures/vocab/vocab.txt")).unwrap()
    });
    let text = String::from_utf8_lossy(data);
    let ids = tok.encode(&text);
    assert!(ids.iter().all(|&i| (i as usize) < tok.len()));
    let _ = tok.decode(&ids);
});
