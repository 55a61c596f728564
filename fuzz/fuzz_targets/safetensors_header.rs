//! The safetensors header and tensor table: the input is the header JSON, wrapped in a
//! valid container with a small data section.
#![no_main]
use libfuzzer_sys::fuzz_target;

const VOCAB: &str = include_str!("../seeds/micro_vocab.txt");

fuzz_target!(|header: &[u8]| {
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header);
    file.extend_from_slice(&[0u8; 256]);
    if let Err(e) = needle::Engine::from_bytes(file, VOCAB) {
        assert!(!e.message().is_empty());
    }
});
