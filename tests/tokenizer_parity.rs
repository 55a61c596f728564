//! Tokenizer parity against the `sentencepiece` oracle: every line of
//! `tests/fixtures/tokenizer_cases.jsonl` (`{"text", "ids"}`, ids from `sp.encode(text, out_type=int)`
//! on the model whose vocabulary is `tests/fixtures/vocab/vocab.txt`) must encode identically.
//!
//! The fixtures directory is `$NEEDLE_FIXTURES_DIR` when set, else `<crate>/tests/fixtures`.

use std::path::PathBuf;

use needle::tokenizer::Tokenizer;

fn fixtures_dir() -> PathBuf {
    match std::env::var_os("NEEDLE_FIXTURES_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join("fixtures"),
    }
}

fn read(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn load_tokenizer() -> Tokenizer {
    let path = fixtures_dir().join("vocab").join("vocab.txt");
    Tokenizer::from_vocab_text(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn tokenizer_matches_sentencepiece() {
    let tok = load_tokenizer();
    let path = fixtures_dir().join("tokenizer_cases.jsonl");
    let data = read(&path);
    let mut total = 0usize;
    let mut mismatches: Vec<String> = Vec::new();
    let mut mismatch_count = 0usize;
    for (n, line) in data.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: bad JSON: {e}", n + 1));
        let text = v["text"]
            .as_str()
            .unwrap_or_else(|| panic!("line {}: no text", n + 1));
        let want: Vec<u32> = v["ids"]
            .as_array()
            .unwrap_or_else(|| panic!("line {}: no ids", n + 1))
            .iter()
            .map(|x| {
                let id = x
                    .as_u64()
                    .unwrap_or_else(|| panic!("line {}: bad id", n + 1));
                u32::try_from(id).unwrap_or_else(|_| panic!("line {}: id too large", n + 1))
            })
            .collect();
        let got = tok.encode(text);
        total += 1;
        if got != want {
            mismatch_count += 1;
            if mismatches.len() < 10 {
                mismatches.push(format!(
                    "line {}: text {text:?}\n  want {want:?}\n  got  {got:?}",
                    n + 1
                ));
            }
        }
    }
    assert!(
        total >= 5000,
        "fixture has only {total} cases, expected at least 5000"
    );
    assert!(
        mismatch_count == 0,
        "{mismatch_count} of {total} cases differ from sentencepiece; first ones:\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn decode_round_trips_plain_text() {
    let tok = load_tokenizer();
    for text in [
        "What's the weather?",
        "get_weather",
        "{\"name\":\"get_weather\"}",
        "a b  c",
    ] {
        let ids = tok.encode(text);
        let want = text
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let got = tok.decode(&ids);
        if !got.contains("<0x") {
            assert_eq!(got, want, "decode(encode({text:?}))");
        }
    }
}

#[test]
fn long_input_encodes_quickly() {
    let tok = load_tokenizer();
    let base = "Search for Python tutorials online, then book a flight to New York tomorrow. ";
    let text: String = base.repeat(100_000 / base.len() + 1);
    let start = std::time::Instant::now();
    let ids = tok.encode(&text);
    let secs = start.elapsed().as_secs_f64();
    assert!(!ids.is_empty());
    assert!(secs < 1.0, "encoding {} chars took {secs:.3}s", text.len());
}
