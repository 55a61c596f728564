//! The answer of one call: the generated ids turned into text and parsed calls, with
//! why generation ended (docs/ARCHITECTURE.md#output). Post-processing only: nothing here runs the model.

use crate::prompt::tools::ToolDef;
use crate::tokenizer::Tokenizer;
use serde_json::{Map, Value};

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The model produced the end-of-sequence token.
    Eos,
    /// `max_new_tokens` tokens were generated.
    MaxTokens,
    /// The streaming callback asked to stop.
    Callback,
    /// The model ended its turn with `<|im_end|>` (v2/v3).
    ImEnd,
    /// The model's sequence limit was reached (v2/v3).
    MaxSeqLen,
}

impl StopReason {
    /// Every stop reason, in the order of their names in [`StopReason::as_str`] (what
    /// the wrappers check their own lists against).
    pub const ALL: [StopReason; 5] =
        [StopReason::Eos, StopReason::MaxTokens, StopReason::Callback, StopReason::ImEnd, StopReason::MaxSeqLen];

    /// Lower-case name used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Eos => "eos",
            StopReason::MaxTokens => "max_tokens",
            StopReason::Callback => "callback",
            StopReason::ImEnd => "im_end",
            StopReason::MaxSeqLen => "max_seq_len",
        }
    }
}

/// One parsed tool call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The tool's name, in the caller's spelling.
    pub name: String,
    /// The arguments object (empty when the model wrote none).
    pub arguments: Map<String, Value>,
}

/// The answer to one query.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// The call JSON as generated: `<tool_call>` removed, whitespace trimmed, tool names
    /// restored to the caller's spelling. Usually `[{"name":…,"arguments":{…}}]` or `[]`.
    pub text: String,
    /// The calls parsed from `text`, or `None` when `text` is not a JSON array of
    /// `{"name": string, "arguments": object}` objects.
    pub calls: Option<Vec<ToolCall>>,
    /// Generated token ids (the leading `<tool_call>` included, EOS excluded).
    pub token_ids: Vec<u32>,
    /// Number of prompt tokens: for v1 the encoder input (query + `<tools>` + tools, after
    /// truncation), for v2/v3 the ChatML prompt with BOS (at most one past the sequence
    /// limit).
    pub prompt_tokens: usize,
    /// The same count as `prompt_tokens`, under its v1 name (kept for v1 programs).
    pub encoder_tokens: usize,
    /// Why generation ended.
    pub stop: StopReason,
    /// The trimmed `<think>` block of a v2/v3 answer, `None` when there is none (v1:
    /// always `None`).
    pub reasoning: Option<String>,
    /// The confidence head's probability for this completion, when the file carries the
    /// head (v2/v3); `None` otherwise.
    pub confidence: Option<f32>,
    /// Whether the prompt was longer than the model reads: v1 cuts the query and tools to
    /// `max_enc_len`; a v2/v3 prompt over the sequence limit generates nothing (as
    /// needle-rs), with `stop == MaxSeqLen`.
    pub prompt_truncated: bool,
}

impl RunResult {
    /// The keys of [`RunResult::to_json`], in order: every key is always present (the
    /// wrappers are checked against this list).
    pub const JSON_FIELDS: [&'static str; 9] = [
        "calls",
        "text",
        "token_ids",
        "prompt_tokens",
        "encoder_tokens",
        "stop",
        "reasoning",
        "confidence",
        "prompt_truncated",
    ];

    /// The structured result as compact JSON, with every key of
    /// [`RunResult::JSON_FIELDS`]: `{"calls":[…]|null,"text":"…","token_ids":[…],
    /// "prompt_tokens":n,"encoder_tokens":n,"stop":"eos","reasoning":"…"|null,
    /// "confidence":p|null,"prompt_truncated":false}`.
    pub fn to_json(&self) -> String {
        let calls = match &self.calls {
            None => Value::Null,
            Some(cs) => Value::Array(
                cs.iter()
                    .map(|c| {
                        let mut m = Map::new();
                        m.insert("name".into(), Value::String(c.name.clone()));
                        m.insert("arguments".into(), Value::Object(c.arguments.clone()));
                        Value::Object(m)
                    })
                    .collect(),
            ),
        };
        let mut m = Map::new();
        m.insert("calls".into(), calls);
        m.insert("text".into(), Value::String(self.text.clone()));
        m.insert(
            "token_ids".into(),
            Value::Array(self.token_ids.iter().map(|&i| Value::from(i)).collect()),
        );
        m.insert("prompt_tokens".into(), Value::from(self.prompt_tokens));
        m.insert("encoder_tokens".into(), Value::from(self.encoder_tokens));
        m.insert("stop".into(), Value::String(self.stop.as_str().into()));
        m.insert("reasoning".into(), self.reasoning.clone().map_or(Value::Null, Value::String));
        m.insert("confidence".into(), self.confidence.map_or(Value::Null, |c| Value::from(c as f64)));
        m.insert("prompt_truncated".into(), Value::Bool(self.prompt_truncated));
        debug_assert!(m.keys().map(String::as_str).eq(RunResult::JSON_FIELDS));
        Value::Object(m).to_string()
    }
}

/// Turns generated ids into the final text and parsed calls (docs/ARCHITECTURE.md#output).
#[cfg(feature = "v1")]
pub(crate) fn postprocess(tok: &Tokenizer, ids: &[u32], defs: &[ToolDef]) -> (String, Option<Vec<ToolCall>>) {
    let raw = tok.decode(ids);
    let prefix = tok.piece_text(crate::tokenizer::TOOL_CALL_ID);
    let body = if !prefix.is_empty() { raw.strip_prefix(prefix).unwrap_or(&raw) } else { &raw };
    let text = restore_names(body.trim(), defs);
    let calls = parse_calls(&text);
    (text, calls)
}

/// Parses `[{"name": "...", "arguments": {...}}, ...]`; `None` for anything else.
pub fn parse_calls(text: &str) -> Option<Vec<ToolCall>> {
    let v: Value = serde_json::from_str(text).ok()?;
    let Value::Array(items) = v else { return None };
    let mut calls = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(mut obj) = item else { return None };
        let Some(Value::String(name)) = obj.remove("name") else { return None };
        let arguments = match obj.remove("arguments") {
            None => Map::new(),
            Some(Value::Object(m)) => m,
            Some(_) => return None,
        };
        calls.push(ToolCall { name, arguments });
    }
    Some(calls)
}

// ---------------------------------------------------------------------------------------------
// restore_names
// ---------------------------------------------------------------------------------------------

/// Appends `name` escaped so that it is valid inside a JSON string literal (`"`, `\` and control
/// characters escaped; everything else raw).
fn push_json_string_body(name: &str, out: &mut String) {
    for c in name.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
}

/// docs/ARCHITECTURE.md#output (name restoration): maps snake names back to the caller's names in every `"name"` value.
///
/// Renames are the defs whose `name != snake`, stably sorted by snake byte length (longest first).
/// The text is scanned for every `"name"` byte pattern; ASCII whitespace, a `:` if present and
/// ASCII whitespace are skipped (the whitespace is not copied); if a `"` follows, the value up to the
/// next unescaped `"` is read and, if it equals a snake name (first match), replaced by the original
/// name (escaped as needed to stay valid JSON). Everything else is copied byte for byte. Without
/// renames the text is returned unchanged.
pub fn restore_names(text: &str, defs: &[ToolDef]) -> String {
    let mut renames: Vec<(&str, &str)> = defs
        .iter()
        .filter(|d| d.name != d.snake)
        .map(|d| (d.snake.as_str(), d.name.as_str()))
        .collect();
    if renames.is_empty() {
        return text.to_string();
    }
    renames.sort_by_key(|(snake, _)| std::cmp::Reverse(snake.len()));

    const PAT: &[u8] = b"\"name\"";
    let b = text.as_bytes();
    let n = b.len();
    let mut out = String::with_capacity(text.len() + 16);
    let mut flushed = 0usize; // bytes of `text` before this index are already in `out`
    let mut i = 0usize;
    while i + PAT.len() <= n {
        if b[i] != b'"' || &b[i..i + PAT.len()] != PAT {
            i += 1;
            continue;
        }
        // All positions used to slice `text` below sit next to ASCII bytes, so they are char
        // boundaries; `get` keeps this panic-free regardless.
        out.push_str(text.get(flushed..i).unwrap_or(""));
        out.push_str("\"name\"");
        let mut j = i + PAT.len();
        while j < n && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if j < n && b[j] == b':' {
            out.push(':');
            j += 1;
        }
        while j < n && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if j < n && b[j] == b'"' {
            out.push('"');
            j += 1;
            let start = j;
            while j < n && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            let end = j.min(n);
            let value = text.get(start..end).unwrap_or("");
            match renames.iter().find(|(snake, _)| *snake == value) {
                Some((_, orig)) => push_json_string_body(orig, &mut out),
                None => out.push_str(value),
            }
            if j < n {
                out.push('"');
                j += 1;
            }
            i = j.min(n);
        } else {
            i = j;
        }
        flushed = i;
    }
    out.push_str(text.get(flushed..).unwrap_or(""));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_calls_shapes() {
        let c = parse_calls(r#"[{"name":"a","arguments":{"x":1}},{"name":"b"}]"#).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].name, "a");
        assert_eq!(c[0].arguments["x"], Value::from(1));
        assert!(c[1].arguments.is_empty());
        assert_eq!(parse_calls("[]"), Some(vec![]));
        assert_eq!(parse_calls(r#"[{"name":1}]"#), None);
        assert_eq!(parse_calls(r#"{"name":"a"}"#), None);
        assert_eq!(parse_calls(r#"[{"name":"a","arguments":[]}]"#), None);
        assert_eq!(parse_calls("[{\"name\":\"a\""), None);
    }
    fn defs(pairs: &[(&str, &str)]) -> Vec<ToolDef> {
        pairs
            .iter()
            .map(|(n, s)| ToolDef {
                name: n.to_string(),
                snake: s.to_string(),
                params: vec![],
            })
            .collect()
    }

    #[test]
    fn restore_names_rules() {
        let d = defs(&[
            ("getWeather", "get_weather"),
            ("get_time", "get_time"),
            ("getWeatherNow", "get_weather_now"),
        ]);
        assert_eq!(
            restore_names(
                r#" [{"name":"get_weather","arguments":{"name":"get_weather_now"}}]"#,
                &d
            ),
            r#" [{"name":"getWeather","arguments":{"name":"getWeatherNow"}}]"#
        );
        // Whitespace after "name" and ':' is dropped; other values are untouched.
        assert_eq!(
            restore_names(r#"{"name" :  "get_weather"}"#, &d),
            r#"{"name":"getWeather"}"#
        );
        assert_eq!(
            restore_names(r#"{"name" : "get_time"}"#, &d),
            r#"{"name":"get_time"}"#
        );
        assert_eq!(
            restore_names(r#"{"x":"get_weather"}"#, &d),
            r#"{"x":"get_weather"}"#
        );
        assert_eq!(
            restore_names(r#"{"name":"get_weather"#, &d),
            r#"{"name":"getWeather"#
        );
        assert_eq!(
            restore_names(r#"{"name":"a\"b","name":"get_weather"}"#, &d),
            r#"{"name":"a\"b","name":"getWeather"}"#
        );
        assert_eq!(restore_names(r#"{"name":"x\"#, &d), r#"{"name":"x\"#);
        assert_eq!(restore_names(r#""name""name":"#, &d), r#""name""name":"#);
        // Nothing to rename: unchanged, even with whitespace.
        let same = defs(&[("get_time", "get_time")]);
        assert_eq!(
            restore_names(r#"{"name" : "get_time"}"#, &same),
            r#"{"name" : "get_time"}"#
        );
        // Originals needing escapes stay valid JSON.
        let q = defs(&[("my \"tool\"\\\n", "my_tool")]);
        assert_eq!(
            restore_names(r#"[{"name":"my_tool"}]"#, &q),
            r#"[{"name":"my \"tool\"\\\n"}]"#
        );
        // Non-ASCII text around is preserved.
        assert_eq!(
            restore_names("é\"name\":\"get_weather\"😀", &d),
            "é\"name\":\"getWeather\"😀"
        );
    }
}

#[cfg(any(feature = "v2", feature = "v3"))]
/// The answer of a ChatML model (v2/v3) from its generated ids (docs/NETWORKS.md#the-result): the tool-call
/// payload between `<tool_call>` and `</tool_call>` as the text, parsed into calls; if
/// the model opened no tool-call block, the generated text with the markers removed.
/// Also returns the trimmed `<think>` block, if any.
pub(crate) fn chatml_answer(tok: &Tokenizer, ids: &[u32]) -> (String, Option<Vec<ToolCall>>, Option<String>) {
    let text = tok.decode(ids);
    let between = |open: &str, close: &str| -> Option<String> {
        let a = text.find(open)? + open.len();
        let rest = &text[a..];
        let b = rest.find(close).unwrap_or(rest.len());
        Some(rest[..b].trim().to_string())
    };
    let reasoning = between("<think>", "</think>");
    match between("<tool_call>", "</tool_call>") {
        Some(payload) => {
            let calls = parse_calls(&payload);
            (payload, calls, reasoning)
        }
        None => {
            let mut plain = text.clone();
            for m in ["<think>", "</think>", "<tool_call>", "</tool_call>", "<|im_end|>", "<|im_start|>"] {
                plain = plain.replace(m, "");
            }
            let plain = plain.trim().to_string();
            let calls = parse_calls(&plain);
            (plain, calls, reasoning)
        }
    }
}
