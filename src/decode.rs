//! The generation loop (greedy, KV-cached, optionally constrained) and the
//! post-processing of its output into text and structured calls (spec A5–A7).

use crate::constrain::{argmax, ConstrainedDecoder};
use crate::model::{DecoderState, Model, Scratch};
use crate::tokenizer::{Tokenizer, EOS_ID, TOOLS_ID, TOOL_CALL_ID};
use crate::tools::{restore_names, ToolDef};
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
}

impl StopReason {
    /// Lower-case name used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Eos => "eos",
            StopReason::MaxTokens => "max_tokens",
            StopReason::Callback => "callback",
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
    /// Number of encoder input tokens (query + `<tools>` + tools, after truncation).
    pub encoder_tokens: usize,
    /// Why generation ended.
    pub stop: StopReason,
}

impl RunResult {
    /// The structured result as compact JSON:
    /// `{"calls":[…]|null,"text":"…","token_ids":[…],"encoder_tokens":n,"stop":"eos"}`.
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
        m.insert("encoder_tokens".into(), Value::from(self.encoder_tokens));
        m.insert("stop".into(), Value::String(self.stop.as_str().into()));
        Value::Object(m).to_string()
    }
}

/// Encoder input per spec A3: `query[:max_enc−2] ++ [<tools>] ++ tools[:rest]`.
pub(crate) fn encoder_input(q: &[u32], t: &[u32], max_enc: usize) -> Vec<u32> {
    if q.is_empty() && t.is_empty() {
        return Vec::new();
    }
    let q_len = q.len().min(max_enc.saturating_sub(2));
    let remaining = max_enc.saturating_sub(q_len + 1);
    let t_len = t.len().min(remaining);
    let mut ids = Vec::with_capacity(q_len + 1 + t_len);
    ids.extend_from_slice(&q[..q_len]);
    ids.push(TOOLS_ID);
    ids.extend_from_slice(&t[..t_len]);
    ids
}

/// Greedy generation from encoder input `enc_ids`.
pub(crate) fn generate(
    model: &Model,
    tok: &Tokenizer,
    enc_ids: &[u32],
    defs: &[ToolDef],
    max_new: usize,
    constrained: bool,
    on_token: &mut dyn FnMut(u32, &str) -> bool,
) -> (Vec<u32>, StopReason) {
    let mut out = Vec::new();
    if enc_ids.is_empty() || max_new == 0 {
        return (out, if enc_ids.is_empty() { StopReason::Eos } else { StopReason::MaxTokens });
    }
    let mut s = Scratch::default();
    let enc = model.encode(enc_ids, &mut s);
    let mut st = DecoderState::new(model, &enc, enc_ids.len(), max_new, &mut s);
    drop(enc);
    let mut cd = constrained
        .then(|| ConstrainedDecoder::new(defs.iter().map(|d| (d.snake.as_str(), &d.params[..]))));
    let n_pieces = tok.len();
    let text_of = |id: usize| (id < n_pieces).then(|| tok.piece_text(id as u32).as_bytes());
    let mut current = EOS_ID;
    for step in 0..max_new {
        model.decode_step(current, step, &mut st, &mut s);
        let next = match &cd {
            Some(c) => c.choose(&st.logits, text_of),
            None => argmax(&st.logits),
        };
        if next == EOS_ID {
            return (out, StopReason::Eos);
        }
        out.push(next);
        if let Some(c) = cd.as_mut() {
            c.update(tok.piece_text(next).as_bytes());
        }
        if !on_token(next, tok.piece_text(next)) {
            return (out, StopReason::Callback);
        }
        current = next;
    }
    (out, StopReason::MaxTokens)
}

/// Turns generated ids into the final text and parsed calls (spec A7).
pub(crate) fn postprocess(tok: &Tokenizer, ids: &[u32], defs: &[ToolDef]) -> (String, Option<Vec<ToolCall>>) {
    let raw = tok.decode(ids);
    let prefix = tok.piece_text(TOOL_CALL_ID);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoder_input_truncates_query_then_tools() {
        let q: Vec<u32> = (10..20).collect();
        let t: Vec<u32> = (100..110).collect();
        assert_eq!(encoder_input(&q, &t, 1024).len(), 21);
        let e = encoder_input(&q, &t, 8);
        assert_eq!(e, vec![10, 11, 12, 13, 14, 15, TOOLS_ID, 100]);
        let e = encoder_input(&q[..2], &t, 6);
        assert_eq!(e, vec![10, 11, TOOLS_ID, 100, 101, 102]);
        assert_eq!(encoder_input(&[], &[], 10), Vec::<u32>::new());
        assert_eq!(encoder_input(&[], &t[..1], 10), vec![TOOLS_ID, 100]);
        assert_eq!(encoder_input(&q, &[], 4), vec![10, 11, TOOLS_ID]);
    }

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
}
