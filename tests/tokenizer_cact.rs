//! The v2/v3 tokenizer from a `.cact` RAW tokenizer blob against the `sentencepiece` oracle
//! (docs/FORMATS.md#tokenizer-blob).
//!
//! Fixtures (`tests/fixtures/tokenizer_cact/`, written by `tools/record_cact_tokenizer.py`):
//! three blobs — `v2` (the real v2 tokenizer, by the v2 exporter), `v3s` (a small v3-style
//! model with the 16 v3 markers, by the v3 exporter) and `nd` (no dummy prefix, no byte
//! fallback) — `cases.jsonl` with `sentencepiece`'s ids for every string and model,
//! `decode.jsonl` with `sentencepiece`'s decode of id sequences. Ids are base64 of u16 LE.
//!
//! The fixtures directory is `$NEEDLE_FIXTURES_DIR` when set, else `<crate>/tests/fixtures`.

use std::path::PathBuf;

use needle::tokenizer::Tokenizer;
use needle::ErrorKind;

const MODELS: [&str; 3] = ["v2", "v3s", "nd"];

fn dir() -> PathBuf {
    match std::env::var_os("NEEDLE_FIXTURES_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures"),
    }
    .join("tokenizer_cact")
}

fn blob(model: &str) -> Vec<u8> {
    let p = dir().join(format!("{model}.tokblob"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

fn tokenizer(model: &str) -> Tokenizer {
    Tokenizer::from_cact_blob(&blob(model)).unwrap_or_else(|e| panic!("{model}: {e}"))
}

fn jsonl(name: &str) -> Vec<serde_json::Value> {
    let p = dir().join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(n, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("{name} line {}: {e}", n + 1)))
        .collect()
}

/// Base64 (standard alphabet, padded) of little-endian u16 ids.
fn ids(b64: &str) -> Vec<u32> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("bad base64 character {c:?}"),
        }
    };
    let mut bytes = Vec::with_capacity(b64.len() * 3 / 4);
    for chunk in b64.as_bytes().chunks(4) {
        let n = chunk.iter().take_while(|&&c| c != b'=').count();
        let mut acc = 0u32;
        for (i, &c) in chunk[..n].iter().enumerate() {
            acc |= val(c) << (18 - 6 * i);
        }
        bytes.extend_from_slice(&acc.to_be_bytes()[1..n.max(1)]);
    }
    assert_eq!(bytes.len() % 2, 0, "odd id byte count");
    bytes.chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]]) as u32).collect()
}

struct Case {
    text: String,
    ids: [Vec<u32>; 3],
}

fn cases() -> Vec<Case> {
    jsonl("cases.jsonl")
        .into_iter()
        .map(|v| Case {
            text: v["t"].as_str().expect("t").to_string(),
            ids: MODELS.map(|m| ids(v[m].as_str().expect("ids"))),
        })
        .collect()
}

#[test]
fn encode_matches_sentencepiece() {
    let cases = cases();
    assert!(cases.len() >= 5000, "only {} cases", cases.len());
    for (mi, model) in MODELS.iter().enumerate() {
        let tok = tokenizer(model);
        let (mut n_ids, mut bad) = (0usize, Vec::new());
        for (i, c) in cases.iter().enumerate() {
            let got = tok.encode(&c.text);
            n_ids += c.ids[mi].len();
            if got != c.ids[mi] {
                bad.push(format!("case {i} {:?}: got {:?}, want {:?}", c.text.chars().take(80).collect::<String>(),
                    &got[..got.len().min(24)], &c.ids[mi][..c.ids[mi].len().min(24)]));
            }
        }
        eprintln!("{model}: {} strings, {n_ids} ids compared, {} mismatches", cases.len(), bad.len());
        assert!(bad.is_empty(), "{model}: {} mismatches:\n{}", bad.len(), bad[..bad.len().min(10)].join("\n"));
    }
}

#[test]
fn encode_prefix_is_the_truncated_encoding() {
    let cases = cases();
    // Long inputs: the recorded long strings (checked against sentencepiece above) and, past
    // encode_prefix's first window, concatenations and repetitions of recorded strings.
    let all: String = cases.iter().filter(|c| c.text.len() < 1000).map(|c| c.text.as_str()).collect();
    let long: Vec<&str> = cases.iter().filter(|c| c.text.chars().count() >= 2000).map(|c| c.text.as_str()).collect();
    assert!(long.len() >= 5);
    let mut texts: Vec<String> = long.iter().map(|s| s.to_string()).collect();
    texts.push(all.clone());
    texts.push(long.concat());
    texts.push(" ".repeat(70_000) + &all.chars().take(40_000).collect::<String>());
    texts.push(format!("{}x{}", "a".repeat(90_000), " ".repeat(50_000)));
    texts.push("<tool_call> \u{a0}\t".repeat(20_000));
    texts.push("\r\u{7}".repeat(40_000) + "end");
    for model in MODELS {
        let tok = tokenizer(model);
        for (ti, text) in texts.iter().enumerate() {
            let full = tok.encode(text);
            for n in [0usize, 1, 2, 17, 500, 2048, 6000, 30_000, full.len().saturating_sub(1), full.len(), full.len() + 5] {
                let got = tok.encode_prefix(text, n);
                let want = &full[..n.min(full.len())];
                assert!(got == want, "{model} text {ti} ({} bytes) max_tokens {n}: prefix differs", text.len());
            }
        }
    }
}

#[test]
fn decode_matches_sentencepiece() {
    let toks = MODELS.map(tokenizer);
    let (mut n, mut ref_diff) = (0usize, 0usize);
    let mut bad = Vec::new();
    for (i, v) in jsonl("decode.jsonl").iter().enumerate() {
        let m = MODELS.iter().position(|&m| m == v["m"].as_str().expect("m")).expect("model");
        let seq = ids(v["ids"].as_str().expect("ids"));
        let want = v["sp"].as_str().expect("sp");
        let got = toks[m].decode(&seq);
        n += 1;
        if v["ref"].as_str().is_some_and(|r| r != want) {
            ref_diff += 1;
        }
        if got != want {
            bad.push(format!("row {i} {} {seq:?}: got {got:?}, want {want:?}", MODELS[m]));
        }
    }
    eprintln!("{n} decodes compared, {} mismatches; upstream RefTokenizer differs from sentencepiece on {ref_diff}", bad.len());
    assert!(bad.is_empty(), "{} mismatches:\n{}", bad.len(), bad[..bad.len().min(10)].join("\n"));
}

#[test]
fn blob_metadata() {
    let v2 = tokenizer("v2");
    assert_eq!(v2.len(), 8192);
    let sp = v2.special_ids();
    assert_eq!((sp.pad, sp.eos, sp.bos, sp.unk), (0, 1, 2, 3));
    assert!(v2.options().add_dummy_prefix && v2.options().byte_fallback);
    assert!(!v2.options().remove_extra_whitespaces);
    let markers = ["<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tools>", "</tools>", "<tool_call>",
        "</tool_call>", "<tool_result>", "</tool_result>"];
    for (i, m) in markers.iter().enumerate() {
        assert_eq!(v2.piece_id(m), Some(4 + i as u32), "{m}");
    }
    assert_eq!(v2.piece_id("\u{2581}"), Some(8042));
    assert_eq!(v2.byte_value(24), Some(b'\n'));
    assert_eq!(v2.byte_value(300), None);
    assert_eq!(v2.encode("<|im_start|>"), vec![8042, 4]);
    let v3 = tokenizer("v3s");
    for m in markers.iter().chain(&["<context>", "</context>", "<extract>", "</extract>", "<schema>", "</schema>"]) {
        let id = v3.piece_id(m).unwrap_or_else(|| panic!("{m} missing"));
        assert_eq!(v3.encode(&format!("x{m}y"))[2], id, "{m} is one token inside text");
    }
    let nd = tokenizer("nd");
    assert!(!nd.options().add_dummy_prefix && !nd.options().byte_fallback);
}

// ---------------------------------------------------------------------------------------------
// Defective blobs
// ---------------------------------------------------------------------------------------------

/// One piece record: score, type, surface bytes.
type Piece = (f32, u8, Vec<u8>);

/// A blob with the given header fields and pieces.
fn build(n: u32, ids: [u32; 4], flags: [u8; 2], padding: u16, pieces: &[Piece]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&n.to_le_bytes());
    for id in ids {
        b.extend_from_slice(&id.to_le_bytes());
    }
    b.extend_from_slice(&flags);
    b.extend_from_slice(&padding.to_le_bytes());
    for (score, ty, s) in pieces {
        b.extend_from_slice(&score.to_le_bytes());
        b.push(*ty);
        b.extend_from_slice(&(s.len() as u16).to_le_bytes());
        b.extend_from_slice(s);
    }
    b
}

fn good_pieces() -> Vec<Piece> {
    let mut p: Vec<Piece> = vec![
        (0.0, 2, b"<pad>".to_vec()),
        (0.0, 2, b"</s>".to_vec()),
        (0.0, 2, b"<s>".to_vec()),
        (0.0, 1, b"<unk>".to_vec()),
        (0.0, 3, b"<tool_call>".to_vec()),
    ];
    for b in 0..=255u32 {
        p.push((0.0, 4, format!("<0x{b:02X}>").into_bytes()));
    }
    for (i, s) in ["\u{2581}", "a", "b", "ab", "\u{2581}ab"].iter().enumerate() {
        p.push((-(i as f32), 0, s.as_bytes().to_vec()));
    }
    p
}

fn good() -> Vec<u8> {
    let p = good_pieces();
    build(p.len() as u32, [0, 1, 2, 3], [1, 1], 0, &p)
}

fn err_of(b: &[u8]) -> String {
    match Tokenizer::from_cact_blob(b) {
        Ok(_) => panic!("blob accepted"),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::InvalidWeights, "{e}");
            assert!(e.message().starts_with("tokenizer blob: "), "{e}");
            e.message().to_string()
        }
    }
}

fn expect_err(b: &[u8], needles: &[&str]) {
    let m = err_of(b);
    for n in needles {
        assert!(m.contains(n), "message {m:?} lacks {n:?}");
    }
}

#[test]
fn good_built_blob_encodes() {
    let t = Tokenizer::from_cact_blob(&good()).expect("valid");
    assert_eq!(t.len(), 5 + 256 + 5);
    let ab = t.piece_id("\u{2581}ab").expect("piece");
    assert_eq!(t.encode("ab"), vec![ab]);
    assert_eq!(t.encode("ab<tool_call>"), vec![ab, 4]);
    assert_eq!(t.encode("  ab").len(), 3);
    assert_eq!(t.decode(&t.encode("ab é")), "ab é");
}

#[test]
fn truncated_blobs_are_errors() {
    let g = good();
    expect_err(&g[..0], &["0 bytes", "24-byte header"]);
    expect_err(&g[..23], &["23 bytes"]);
    expect_err(&g[..24], &["header declares 266 pieces", "at most 0 records"]);
    // Cut inside the first record (score, type, length) and inside its surface.
    for cut in [24 + 3, 24 + 5, 24 + 6] {
        expect_err(&g[..cut], &["at most"]);
    }
    // Every cut of a real blob fails cleanly.
    let nd = blob("nd");
    for cut in 0..nd.len() {
        err_of(&nd[..cut]);
    }
    expect_err(&nd[..nd.len() - 1], &["piece 699", "runs past the end"]);
    let mut p = good_pieces();
    p.truncate(10);
    // Records whose surface is missing at the end.
    let b = build(11, [0, 1, 2, 3], [0, 0], 0, &p);
    let mut b2 = b.clone();
    b2.extend_from_slice(&[0, 0, 0, 0, 0, 5]);
    expect_err(&b2, &["piece 10", "record truncated"]);
}

#[test]
fn count_and_length_defects() {
    let p = good_pieces();
    let n = p.len() as u32;
    expect_err(&build(n + 1, [0, 1, 2, 3], [1, 1], 0, &p), &["piece 266", "record truncated"]);
    expect_err(&build(n - 1, [0, 1, 2, 3], [1, 1], 0, &p), &["follow the last of the 265 pieces"]);
    expect_err(&build(0, [0, 1, 2, 3], [1, 1], 0, &p), &["0 pieces"]);
    expect_err(&build(u32::MAX, [0, 1, 2, 3], [1, 1], 0, &p), &["4294967295 pieces", "at most"]);
    // A surface length past the end.
    let mut g = good();
    let last_len_at = g.len() - "\u{2581}ab".len() - 2;
    g[last_len_at..last_len_at + 2].copy_from_slice(&500u16.to_le_bytes());
    expect_err(&g, &["piece 265", "500 bytes", "runs past the end"]);
    // A surface length that swallows the following records and stops short.
    let mut g = good();
    g[24 + 5..24 + 7].copy_from_slice(&40u16.to_le_bytes());
    err_of(&g);
}

#[test]
fn content_defects() {
    let base = good_pieces();
    let with = |f: &dyn Fn(&mut Vec<Piece>)| {
        let mut p = base.clone();
        f(&mut p);
        build(p.len() as u32, [0, 1, 2, 3], [1, 1], 0, &p)
    };
    expect_err(&with(&|p| p[262].2 = vec![b'a', 0xFF]), &["piece 262", "not valid UTF-8"]);
    expect_err(&with(&|p| p[262].2 = vec![0xE2, 0x96]), &["piece 262", "not valid UTF-8"]);
    expect_err(&with(&|p| p[262].1 = 5), &["piece 262", "unknown type 5"]);
    expect_err(&with(&|p| p[262].1 = 255), &["unknown type 255"]);
    expect_err(&with(&|p| p[262].2 = Vec::new()), &["piece 262", "empty surface"]);
    expect_err(&with(&|p| p[4].2 = Vec::new()), &["piece 4", "empty surface"]);
    expect_err(&with(&|p| p[262].0 = f32::NAN), &["piece 262", "not finite"]);
    expect_err(&with(&|p| p[262].0 = f32::INFINITY), &["not finite"]);
    expect_err(&with(&|p| p[263].2 = b"a".to_vec()), &["pieces 262 and 263", "same surface"]);
    expect_err(&with(&|p| p[262].1 = 4), &["piece 262", "not <0xHH>"]);
    expect_err(&with(&|p| p[5 + 0x41].1 = 0), &["byte_fallback", "<0x41> is missing"]);
    expect_err(&with(&|p| p[5 + 0x41].2 = b"<0x42>".to_vec()), &["same surface"]);
    expect_err(&with(&|p| p[5 + 0x41].2 = b"<0x4g>".to_vec()), &["not <0xHH>"]);
    expect_err(&with(&|p| p[1].1 = 0), &["eos_id 1", "normal piece", "expected a control piece"]);
    expect_err(&with(&|p| p[3].1 = 2), &["unk_id 3", "expected a unknown piece"]);
    // Without byte fallback the byte pieces are optional.
    let mut p = base.clone();
    p.retain(|x| x.1 != 4);
    let b = build(p.len() as u32, [0, 1, 2, 3], [1, 0], 0, &p);
    let t = Tokenizer::from_cact_blob(&b).expect("no byte pieces needed");
    // ▁ = 5, a = 6, b = 7: the run "éé" is one unknown id.
    assert_eq!(t.encode("ééa b"), vec![5, 3, 6, 5, 7]);
    assert_eq!(t.encode("éaé"), vec![5, 3, 6, 3]);
}

#[test]
fn header_defects() {
    let p = good_pieces();
    let n = p.len() as u32;
    expect_err(&build(n, [0, 1, 2, 3], [2, 1], 0, &p), &["add_dummy_prefix is 2"]);
    expect_err(&build(n, [0, 1, 2, 3], [1, 7], 0, &p), &["byte_fallback is 7"]);
    expect_err(&build(n, [0, 1, 2, 3], [1, 1], 1, &p), &["padding"]);
    expect_err(&build(n, [n, 1, 2, 3], [1, 1], 0, &p), &["pad_id 266"]);
    expect_err(&build(n, [0, 999, 2, 3], [1, 1], 0, &p), &["eos_id 999"]);
    expect_err(&build(n, [0, 1, u32::MAX, 3], [1, 1], 0, &p), &["bos_id 4294967295"]);
    expect_err(&build(n, [0, 1, 2, n + 3], [1, 1], 0, &p), &["unk_id"]);
}

#[test]
fn random_mutations_never_panic() {
    let bases = [good(), blob("nd"), blob("v3s")];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut accepted = 0usize;
    for iter in 0..3000 {
        let base = &bases[iter % 3];
        let mut b = base.clone();
        match next() % 4 {
            0 => {
                let cut = (next() as usize) % (b.len() + 1);
                b.truncate(cut);
            }
            1 => {
                for _ in 0..1 + next() % 4 {
                    let at = (next() as usize) % b.len();
                    b[at] = next() as u8;
                }
            }
            2 => {
                // Hit the header and the first records more often.
                let at = (next() as usize) % b.len().min(64);
                b[at] = next() as u8;
            }
            _ => {
                let at = (next() as usize) % b.len();
                b.insert(at, next() as u8);
            }
        }
        if let Ok(t) = Tokenizer::from_cact_blob(&b) {
            accepted += 1;
            let ids = t.encode("a <tool_call> é 😀  \t x");
            let _ = t.decode(&ids);
            let _ = t.decode(&[0, 1, 2, 3, u32::MAX, t.len() as u32]);
            let _ = t.encode_prefix("ab ab ab", 2);
        } else if let Err(e) = Tokenizer::from_cact_blob(&b) {
            assert_eq!(e.kind(), ErrorKind::InvalidWeights);
        }
    }
    eprintln!("{accepted} of 3000 mutated blobs were still valid");
}
