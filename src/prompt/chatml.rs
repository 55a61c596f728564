//! The v2/v3 prompt: upstream's ChatML template (docs/NETWORKS.md#chatml-prompt).
//!
//! The prompt text is, as `finetune.render_example` builds it (cactus-needle 2.0.x and 3.x):
//!
//! 1. `<|im_start|>system\n{system}<|im_end|>\n` when the system text, stripped of whitespace as
//!    Python's `str.strip()` strips it, is not empty (the stripped text is inserted);
//! 2. `<|im_start|>user\n<tools>{tools}</tools>\n{query}<|im_end|>\n<|im_start|>assistant\n`,
//!    the query inserted as given.
//!
//! `{tools}` is the caller's tools JSON, parsed and checked exactly as for v1 (same accepted
//! shapes, same errors: [`normalize_tools`]) and re-serialised as Python's
//! `json.dumps(tools, separators=(",", ":"), ensure_ascii=False)` would write what
//! `json.loads` made of it: compact, key order kept (a duplicate key keeps its first place and
//! its last value), tool names as written (not snake_cased), non-ASCII characters as
//! themselves, floats as Python's `repr`. No tools (empty or whitespace-only JSON) gives `[]`,
//! which is what training renders for an empty list.
//!
//! The prompt ids are `[BOS] + encode(prompt)`: one encoding of the whole string, so the
//! markers in it — and any marker the caller wrote in the query — are single tokens.

// Used by the v2/v3 engine once it is wired up; until then only the tests call it.
#![allow(dead_code)]

use serde_json::Value;

use crate::prompt::tools::{normalize_tools, write_py_json, ToolDef};
use crate::tokenizer::Tokenizer;
use crate::{Error, ErrorKind, Result};

/// The tools as a v2/v3 prompt shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ChatTools {
    /// One entry per tool, in order (`name` as written; it is what the prompt shows).
    pub(crate) defs: Vec<ToolDef>,
    /// `json.dumps(tools, separators=(",", ":"), ensure_ascii=False)`; `[]` without tools.
    pub(crate) text: String,
}

/// Parses and checks `tools_json` as v1 does and serialises it for the ChatML prompt (see the
/// module docs). Errors are v1's [`ErrorKind::InvalidTools`] errors.
pub(crate) fn chat_tools(tools_json: &str) -> Result<ChatTools> {
    let checked = normalize_tools(tools_json)?;
    if checked.defs.is_empty() && checked.text.is_empty() {
        return Ok(ChatTools { defs: Vec::new(), text: "[]".to_string() });
    }
    // `normalize_tools` has accepted the text, so it is strict JSON that `serde_json` reads
    // to the same document (numbers kept as written, duplicate keys resolved the same way),
    // but with the names as written. serde_json refuses one level of nesting fewer than
    // the tools parser's limit.
    let doc: Value = serde_json::from_str(tools_json).map_err(|e| {
        Error::new(
            ErrorKind::InvalidTools,
            format!("tools JSON cannot be re-read for the prompt ({e}); it nests too deeply"),
        )
    })?;
    let mut ascii = String::with_capacity(tools_json.len());
    write_py_json(&doc, &mut ascii);
    Ok(ChatTools { defs: checked.defs, text: unescape_non_ascii(&ascii) })
}

/// Turns the output of [`write_py_json`] (Python's `ensure_ascii=True`) into what
/// `ensure_ascii=False` writes: every `\uXXXX` escape of a character from U+007F up (a
/// surrogate pair as one character) becomes the character; escapes of control characters,
/// quotes and backslashes stay.
fn unescape_non_ascii(ascii: &str) -> String {
    let b = ascii.as_bytes();
    let mut out = String::with_capacity(ascii.len());
    let mut i = 0;
    let hex4 = |at: usize| -> Option<u32> {
        let s = ascii.get(at..at + 4)?;
        u32::from_str_radix(s, 16).ok()
    };
    while i < b.len() {
        if b[i] != b'\\' {
            let start = i;
            while i < b.len() && b[i] != b'\\' {
                i += 1;
            }
            out.push_str(&ascii[start..i]);
            continue;
        }
        if b.get(i + 1) == Some(&b'u') {
            if let Some(u) = hex4(i + 2) {
                if (0xD800..0xDC00).contains(&u) && ascii.get(i + 6..i + 8) == Some("\\u") {
                    if let Some(lo) = hex4(i + 8).filter(|lo| (0xDC00..0xE000).contains(lo)) {
                        let c = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                        if let Some(c) = char::from_u32(c) {
                            out.push(c);
                            i += 12;
                            continue;
                        }
                    }
                }
                if u >= 0x7F {
                    if let Some(c) = char::from_u32(u) {
                        out.push(c);
                        i += 6;
                        continue;
                    }
                }
            }
        }
        // Any other escape: the backslash and the character after it, verbatim.
        out.push('\\');
        i += 1;
        if let Some(c) = ascii[i..].chars().next() {
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Python's `str.isspace()`: Unicode White_Space plus U+001C..U+001F.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The ChatML prompt text (see the module docs). `tools_text` is [`ChatTools::text`].
pub(crate) fn prompt_text(system: Option<&str>, query: &str, tools_text: &str) -> String {
    let system = system.map(|s| s.trim_matches(py_space)).unwrap_or("");
    let mut p = String::with_capacity(system.len() + query.len() + tools_text.len() + 96);
    if !system.is_empty() {
        p.push_str("<|im_start|>system\n");
        p.push_str(system);
        p.push_str("<|im_end|>\n");
    }
    p.push_str("<|im_start|>user\n<tools>");
    p.push_str(tools_text);
    p.push_str("</tools>\n");
    p.push_str(query);
    p.push_str("<|im_end|>\n<|im_start|>assistant\n");
    p
}

/// `[BOS] + encode(prompt)`, BOS being the tokenizer's.
pub(crate) fn prompt_ids(tok: &Tokenizer, prompt: &str) -> Vec<u32> {
    let mut ids = vec![tok.special_ids().bos];
    ids.extend(tok.encode(prompt));
    ids
}

/// The first `max_ids` ids of [`prompt_ids`], with work bounded by what is kept
/// ([`Tokenizer::encode_prefix`]).
pub(crate) fn prompt_ids_prefix(tok: &Tokenizer, prompt: &str, max_ids: usize) -> Vec<u32> {
    if max_ids == 0 {
        return Vec::new();
    }
    let mut ids = vec![tok.special_ids().bos];
    ids.extend(tok.encode_prefix(prompt, max_ids - 1));
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn dir() -> PathBuf {
        match std::env::var_os("NEEDLE_FIXTURES_DIR") {
            Some(d) => PathBuf::from(d),
            None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures"),
        }
        .join("tokenizer_cact")
    }

    fn tokenizer(model: &str) -> Tokenizer {
        let p = dir().join(format!("{model}.tokblob"));
        let blob = std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
        Tokenizer::from_cact_blob(&blob).unwrap_or_else(|e| panic!("{model}: {e}"))
    }

    fn ids_b64(s: &str) -> Vec<u32> {
        let mut bits = 0u32;
        let mut n = 0;
        let mut bytes = Vec::new();
        for c in s.bytes().take_while(|&c| c != b'=') {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                _ => 63,
            };
            bits = bits << 6 | u32::from(v);
            n += 6;
            if n >= 8 {
                n -= 8;
                bytes.push((bits >> n) as u8);
            }
        }
        bytes.chunks(2).map(|c| u32::from(u16::from_le_bytes([c[0], c[1]]))).collect()
    }

    /// Upstream's `render_example` prompt and `[BOS] + sp.Encode(prompt)` ids, recorded by
    /// `tools/record_cact_tokenizer.py`.
    #[test]
    fn prompts_match_upstream() {
        let toks = [("v2", tokenizer("v2")), ("v3s", tokenizer("v3s"))];
        let text = std::fs::read_to_string(dir().join("prompts.jsonl")).expect("prompts.jsonl");
        let mut n = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line).expect("json");
            let tools = chat_tools(v["tools"].as_str().expect("tools")).expect("valid tools");
            let prompt = prompt_text(v["system"].as_str(), v["query"].as_str().expect("query"), &tools.text);
            assert_eq!(prompt, v["prompt"].as_str().expect("prompt"), "tools {}", v["tools"]);
            for (m, tok) in &toks {
                let want = ids_b64(v[*m].as_str().expect("ids"));
                assert_eq!(prompt_ids(tok, &prompt), want, "{m}: {prompt:?}");
                for k in [0, 1, 3, want.len() / 2, want.len(), want.len() + 3] {
                    assert_eq!(prompt_ids_prefix(tok, &prompt, k), want[..k.min(want.len())]);
                }
            }
            n += 1;
        }
        assert!(n >= 10, "only {n} prompts");
    }

    #[test]
    fn template_and_tools_text() {
        let t = chat_tools(r#"[{"name": "getWeather", "parameters": {"city": {"type": "string"}}}]"#).unwrap();
        assert_eq!(t.text, r#"[{"name":"getWeather","parameters":{"city":{"type":"string"}}}]"#);
        assert_eq!(t.defs[0].name, "getWeather");
        assert_eq!(t.defs[0].params, ["city"]);
        assert_eq!(
            prompt_text(Some(" \u{3000}Be brief.\n"), " q ", "[]"),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n<tools>[]</tools>\n q <|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(prompt_text(Some("\u{1c}\t \u{1f}"), "q", "[]"), prompt_text(None, "q", "[]"));
        assert_eq!(chat_tools("").unwrap().text, "[]");
        assert_eq!(chat_tools(" \n").unwrap().text, "[]");
        assert_eq!(chat_tools("[]").unwrap().text, "[]");
        // v1's errors.
        let e = chat_tools(r#"[{"description":"x"}]"#).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidTools);
        assert!(e.message().contains("tools[0].name"), "{e}");
        assert_eq!(chat_tools("[1,").unwrap_err().kind(), ErrorKind::InvalidTools);
    }

    #[test]
    fn ensure_ascii_false_spelling() {
        let t = chat_tools(
            "[{\"name\":\"f\\u00e9\",\"description\":\"\\ud83d\\ude00 \u{7f} \u{2028} \\u0001 \\\\u00e9 \\\" \\n \\/ \u{e9}\"}]",
        )
        .unwrap();
        assert_eq!(t.text, "[{\"name\":\"f\u{e9}\",\"description\":\"\u{1F600} \u{7f} \u{2028} \\u0001 \\\\u00e9 \\\" \\n / \u{e9}\"}]");
        assert_eq!(t.defs[0].name, "f\u{e9}");
        let t = chat_tools(r#"{"name":"n","parameters":{"a":{"default":1e400},"b":{"default":-0},"c":{"default":1E5}}}"#).unwrap();
        assert_eq!(t.text, r#"{"name":"n","parameters":{"a":{"default":Infinity},"b":{"default":0},"c":{"default":100000.0}}}"#);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_panic() {
        let ok = format!("[{{\"name\":\"a\",\"x\":{}{}}}]", "[".repeat(125), "]".repeat(125));
        assert!(chat_tools(&ok).is_ok());
        // 128 levels: v1's parser accepts them, serde_json's re-read does not (a clear error
        // until the tools parser hands over its document with the names as written).
        let edge = format!("[{{\"name\":\"a\",\"x\":{}{}}}]", "[".repeat(126), "]".repeat(126));
        assert!(normalize_tools(&edge).is_ok());
        let e = chat_tools(&edge).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidTools);
        assert!(e.message().contains("nests too deeply"), "{e}");
    }
}
