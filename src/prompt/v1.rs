//! The v1 prompt: the encoder input `query ++ <tools> ++ tools` (docs/ARCHITECTURE.md#encoder-input).

use crate::prompt::tools::Tools;
use crate::tokenizer::{Tokenizer, TOOLS_ID};

/// The encoder input for `query` and normalised `tools`. Only the tokens the encoder can
/// keep are made: query and tools each give at most `max_enc` (the ids are the first
/// ones of the whole texts' encodings, see [`Tokenizer::encode_prefix`]).
pub(crate) fn encoder_ids(tok: &Tokenizer, query: &str, tools: &Tools, max_enc: usize) -> (Vec<u32>, bool) {
    // One id past the limit tells whether anything was cut.
    let mut q = tok.encode_prefix(query, max_enc + 1);
    let mut t = tok.encode_prefix(&tools.text, max_enc + 1);
    let full = if q.is_empty() && t.is_empty() { 0 } else { q.len() + 1 + t.len() };
    q.truncate(max_enc);
    t.truncate(max_enc);
    let ids = encoder_input(&q, &t, max_enc);
    let truncated = full > ids.len();
    (ids, truncated)
}

/// Encoder input per docs/ARCHITECTURE.md#encoder-input: `query[:max_enc−2] ++ [<tools>] ++ tools[:rest]`.
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
}
