//! Unit tests of the BPE core and its two sources.

use super::*;

const SPECIALS: &str =
    "<pad>\t0.0\n</s>\t0.0\n<s>\t0.0\n<unk>\t0.0\n<tool_call>\t0.0\n<tools>\t0.0\n";

/// Specials + all 256 byte pieces + the given normal pieces (scores -0, -1, -2, ...).
fn vocab_with(normals: &[&str]) -> String {
    let mut v = String::from(SPECIALS);
    for b in 0..=255u32 {
        v.push_str(&format!("<0x{b:02X}>\t0.0\n"));
    }
    for (i, p) in normals.iter().enumerate() {
        v.push_str(&format!("{p}\t{}\n", -(i as f64)));
    }
    v
}

fn tok(normals: &[&str]) -> Tokenizer {
    Tokenizer::from_vocab_text(&vocab_with(normals)).expect("valid vocab")
}

fn id_of(t: &Tokenizer, piece: &str) -> u32 {
    (0..t.len() as u32)
        .find(|&i| t.piece(i) == Some(piece))
        .expect("piece exists")
}

fn pieces(t: &Tokenizer, ids: &[u32]) -> Vec<String> {
    ids.iter()
        .map(|&i| t.piece(i).unwrap_or("?").to_string())
        .collect()
}

#[test]
fn specials_and_accessors() {
    let t = tok(&["▁a", "a", "▁"]);
    assert_eq!(t.len(), 6 + 256 + 3);
    assert_eq!(t.piece(TOOLS_ID), Some("<tools>"));
    assert_eq!(t.piece(10_000), None);
    assert_eq!(t.piece_text(262), " a");
    assert_eq!(t.piece_text(10_000), "");
    assert_eq!(t.score(263), Some(-1.0));
    assert_eq!(t.score(99_999), None);
    assert_eq!(t.decode(&[262, 262, 99_999, 6]), "a a<0x00>");
    assert_eq!(t.decode(&[TOOL_CALL_ID]), "<tool_call>");
}

#[test]
fn bpe_highest_score_wins() {
    // "ab" (score -2) beats "bc" (score -3): a b c -> ab c
    let t = tok(&["▁", "a", "b", "c", "ab", "bc"]);
    // scores: ▁ 0, a -1, b -2, c -3, ab -4, bc -5
    let ids = t.encode("abc");
    assert_eq!(pieces(&t, &ids), ["▁", "ab", "c"]);
    let t = tok(&["▁", "a", "b", "c", "bc", "ab"]);
    assert_eq!(pieces(&t, &t.encode("abc")), ["▁", "a", "bc"]);
}

#[test]
fn bpe_ties_go_leftmost() {
    // "aa" can merge at (0,1) or (1,2) with the same score: leftmost first -> aa a
    let t = tok(&["▁", "a", "aa"]);
    assert_eq!(pieces(&t, &t.encode("aaa")), ["▁", "aa", "a"]);
    assert_eq!(pieces(&t, &t.encode("aaaaa")), ["▁", "aa", "aa", "a"]);
    let t = tok(&["▁", "a", "aa", "aaaa"]);
    assert_eq!(pieces(&t, &t.encode("aaaaa")), ["▁", "aaaa", "a"]);
}

#[test]
fn merges_chain_through_intermediate_pieces() {
    let t = tok(&["▁h", "el", "▁hel", "lo", "▁hello", "▁", "h", "e", "l", "o"]);
    assert_eq!(pieces(&t, &t.encode("hello")), ["▁hello"]);
    assert_eq!(
        pieces(&t, &t.encode("  hello   hello  ")),
        ["▁hello", "▁hello"]
    );
}

#[test]
fn byte_fallback_and_missing_bytes() {
    let t = tok(&["▁", "a"]);
    let ids = t.encode("aé");
    assert_eq!(pieces(&t, &ids), ["▁", "a", "<0xC3>", "<0xA9>"]);
    // A vocab without the byte pieces falls back to UNK.
    let mut v = String::from(SPECIALS);
    v.push_str("<0x41>\t0.0\n▁\t-0.0\nb\t-1.0\n");
    let t = Tokenizer::from_vocab_text(&v).expect("valid");
    assert_eq!(t.encode("bAé"), vec![7, 8, 6, UNK_ID, UNK_ID]);
}

#[test]
fn whitespace_normalisation() {
    let t = tok(&["▁", "a", "b", "▁a", "▁b"]);
    let a = id_of(&t, "▁a");
    let b = id_of(&t, "▁b");
    assert_eq!(t.encode(""), Vec::<u32>::new());
    assert_eq!(t.encode("    "), Vec::<u32>::new());
    assert_eq!(t.encode("  a   b  "), vec![a, b]);
    // Tabs and newlines are ordinary characters (byte fallback here).
    let ids = t.encode("a\tb\n");
    assert_eq!(pieces(&t, &ids), ["▁a", "<0x09>", "b", "<0x0A>"]);
    // Literal ▁ at the end is stripped like a space.
    assert_eq!(t.encode("a▁▁"), vec![a]);
    assert_eq!(t.encode("▁"), Vec::<u32>::new());
    assert_eq!(t.encode("▁a"), vec![id_of(&t, "▁"), a]);
}

#[test]
fn user_symbols_are_frozen() {
    let t = tok(&[
        "▁", "<", "t", "o", "l", "s", ">", "▁<", "<t", "s>", "ls", "ool",
    ]);
    let sp = id_of(&t, "▁");
    assert_eq!(t.encode("<tools>"), vec![sp, TOOLS_ID]);
    assert_eq!(
        t.encode("<tools><tool_call>"),
        vec![sp, TOOLS_ID, TOOL_CALL_ID]
    );
    assert_eq!(t.encode(" <tools> "), vec![sp, TOOLS_ID]);
    let ids = t.encode("<tool");
    assert_eq!(pieces(&t, &ids), ["▁<", "t", "o", "o", "l"]);
}

#[test]
fn extra_user_symbols_longest_match() {
    let mut v = String::from(SPECIALS);
    v.push_str("<tool\t0.0\n");
    for b in 0..=255u32 {
        v.push_str(&format!("<0x{b:02X}>\t0.0\n"));
    }
    v.push_str("▁\t-0.0\n");
    let t = Tokenizer::from_vocab_text(&v).expect("valid");
    assert_eq!(t.encode("<tools><tool"), vec![263, TOOLS_ID, 6]);
}

#[test]
fn long_input_is_fast() {
    let t = tok(&["▁", "a", "b", "ab", "abab", "▁ab", "ba"]);
    let text: String = "ab".repeat(60_000) + &" a".repeat(20_000);
    let start = std::time::Instant::now();
    let ids = t.encode(&text);
    assert!(!ids.is_empty());
    assert!(start.elapsed().as_secs_f64() < 2.0);
    assert_eq!(t.decode(&ids).len(), text.len());
}

/// `tok(normals)` with the v2/v3 options: spaces kept, dummy prefix and byte fallback
/// as given, `sentencepiece` decoding, `<unk>` an unknown piece.
fn keep(normals: &[&str], add_dummy_prefix: bool, byte_fallback: bool) -> Tokenizer {
    let mut t = tok(normals);
    t.opts = Options {
        add_dummy_prefix,
        remove_extra_whitespaces: false,
        byte_fallback,
        sentencepiece_decode: true,
    };
    t.kinds[UNK_ID as usize] = PieceKind::Unknown;
    t
}

#[test]
fn v1_options_are_the_default() {
    let t = tok(&["a"]);
    assert_eq!(t.options(), Options::V1);
    assert_eq!(t.special_ids(), SpecialIds::V1);
    assert_eq!(t.piece_id("<tools>"), Some(TOOLS_ID));
    assert_eq!(t.piece_id("<unk>"), Some(UNK_ID));
    assert_eq!(t.piece_id("zz"), None);
    assert_eq!(t.byte_value(6 + 0x41), Some(0x41));
}

#[test]
fn spaces_are_kept_without_remove_extra_whitespaces() {
    let t = keep(&["▁", "a", "b", "▁a", "▁b", "▁▁"], true, true);
    let (sp, a, b, ssp) = (id_of(&t, "▁"), id_of(&t, "a"), id_of(&t, "b"), id_of(&t, "▁▁"));
    let (sa, sb) = (id_of(&t, "▁a"), id_of(&t, "▁b"));
    assert_eq!(t.encode(""), Vec::<u32>::new());
    assert_eq!(t.encode(" "), vec![ssp]);
    assert_eq!(t.encode("  a"), vec![ssp, sa]);
    assert_eq!(t.encode("a  "), vec![sa, ssp]);
    assert_eq!(t.encode("a   b"), vec![sa, ssp, sb]);
    assert_eq!(t.encode("a▁"), vec![sa, sp]);
    assert_eq!(t.encode("<tools> "), vec![sp, TOOLS_ID, sp]);
    let t = keep(&["▁", "a", "b", "▁a", "▁b"], false, true);
    assert_eq!(t.encode("a b"), vec![id_of(&t, "a"), id_of(&t, "▁b")]);
    assert_eq!(t.encode(" "), vec![id_of(&t, "▁")]);
    assert_eq!(pieces(&t, &t.encode("\ta")), ["<0x09>", "a"]);
    let _ = (a, b);
}

#[test]
fn unknown_runs_without_byte_fallback() {
    let t = keep(&["▁", "a", "▁a"], true, false);
    let (sp, a, sa) = (id_of(&t, "▁"), id_of(&t, "a"), id_of(&t, "▁a"));
    assert_eq!(t.encode("é"), vec![sp, UNK_ID]);
    assert_eq!(t.encode("éé😀x"), vec![sp, UNK_ID]);
    assert_eq!(t.encode("éaé a"), vec![sp, UNK_ID, a, UNK_ID, sa]);
    // User-defined symbols break a run.
    assert_eq!(t.encode("é<tools>é"), vec![sp, UNK_ID, TOOLS_ID, UNK_ID]);
}

#[test]
fn sentencepiece_decode_rules() {
    let t = keep(&["▁", "a", "▁a", "▁▁"], true, true);
    let (sp, a, sa) = (id_of(&t, "▁"), id_of(&t, "a"), id_of(&t, "▁a"));
    let byte = |b: u8| 6 + b as u32;
    assert_eq!(t.decode(&t.encode("a  é ")), "a  é ");
    // The first piece that is not a control piece loses one leading ▁.
    assert_eq!(t.decode(&[BOS_ID, sa, sa]), "a a");
    assert_eq!(t.decode(&[sp, sa]), " a");
    assert_eq!(t.decode(&[TOOLS_ID, sa]), "<tools> a");
    assert_eq!(t.decode(&[byte(b'x'), sa]), "x a");
    assert_eq!(t.decode(&[UNK_ID, a]), " \u{2047} a");
    assert_eq!(t.decode(&[PAD_ID, EOS_ID, a, 99_999]), "a");
    // Byte runs: valid characters as themselves, every other byte one U+FFFD; a ▁ spelled
    // in bytes stays a ▁.
    assert_eq!(t.decode(&[byte(0xC3), byte(0xA9), a]), "éa");
    assert_eq!(t.decode(&[a, byte(0xE2), byte(0x96), a, byte(0xFF)]), "a\u{FFFD}\u{FFFD}a\u{FFFD}");
    assert_eq!(t.decode(&[byte(0xED), byte(0xA0), byte(0x80)]), "\u{FFFD}".repeat(3));
    assert_eq!(t.decode(&[byte(0xE2), byte(0x96), byte(0x81), a]), "\u{2581}a");
    assert_eq!(t.decode(&[byte(0xF0), byte(0x9F), byte(0x98), byte(0x80)]), "😀");
    // Without a dummy prefix nothing is stripped.
    let t = keep(&["▁", "a", "▁a"], false, true);
    assert_eq!(t.decode(&[id_of(&t, "▁a")]), " a");
}

/// `encode_prefix(text, n)` equals the first `n` ids of `encode(text)` for texts longer
/// than the first window, with every combination of the options.
#[test]
fn encode_prefix_exact_with_all_options() {
    let normals = ["▁", "a", "b", "ab", "▁a", "▁ab", "▁▁", "▁▁▁▁", "ba", "é"];
    let texts = [
        "ab ".repeat(30_000),
        " ".repeat(100_000) + "ab",
        format!("{}ab{}", "a".repeat(70_000), " ".repeat(70_000)),
        "é😀\u{301}".repeat(30_000),
        "a😀😀 <tools>".repeat(12_000),
        "😀".repeat(40_000) + "a",
        "ab <tool_call>  \t".repeat(10_000) + &" ".repeat(40_000),
    ];
    let mut toks = vec![tok(&normals)];
    for dummy in [true, false] {
        for fb in [true, false] {
            toks.push(keep(&normals, dummy, fb));
        }
    }
    for (k, t) in toks.iter().enumerate() {
        for (i, text) in texts.iter().enumerate() {
            let full = t.encode(text);
            for n in [1usize, 3, 1000, 2049, 9000, full.len().saturating_sub(2), full.len() + 1] {
                let got = t.encode_prefix(text, n);
                assert!(got[..] == full[..n.min(full.len())], "tokenizer {k} text {i} n {n}");
            }
        }
    }
}

#[test]
fn vocab_errors() {
    let err = |s: &str| Tokenizer::from_vocab_text(s).expect_err("must fail");
    assert_eq!(err("").kind(), ErrorKind::InvalidVocab);
    assert!(err("<pad>\t0.0\n").message().contains("at least 6"));
    let base = vocab_with(&["a"]);
    assert!(err(&(base.clone() + "b\n")).message().contains("no TAB"));
    assert!(err(&(base.clone() + "\t1.0\n"))
        .message()
        .contains("empty piece"));
    assert!(err(&(base.clone() + "b\tx\n"))
        .message()
        .contains("not a number"));
    assert!(err(&(base.clone() + "b\tinf\n"))
        .message()
        .contains("not finite"));
    assert!(err(&(base.clone() + "b\tNaN\n"))
        .message()
        .contains("not finite"));
    assert!(err(&(base.clone() + "\nb\t1.0\n"))
        .message()
        .contains("is empty"));
    let dup = err(&(base.clone() + "a\t-5.0\n"));
    assert!(
        dup.message().contains("263") && dup.message().contains("264"),
        "{}",
        dup.message()
    );
    let wrong = SPECIALS.replace("<tools>", "<tool>");
    assert!(err(&wrong).message().contains("id 5"));
    // CRLF and a missing final newline are fine.
    let crlf = base.replace('\n', "\r\n");
    assert_eq!(Tokenizer::from_vocab_text(&crlf).expect("crlf").len(), 263);
    assert_eq!(
        Tokenizer::from_vocab_text(base.trim_end())
            .expect("no final newline")
            .len(),
        263
    );
}
