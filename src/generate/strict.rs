//! The generation loop of strict schema mode (docs/ARCHITECTURE.md#strict-schema-mode): the
//! tool-call answer follows the grammar compiled from the caller's tools. v1: from the first
//! token (`<tool_call>`, then the array, then EOS). v2/v3: free text (reasoning) until the
//! `<tool_call>` block opens, which is forced when the model would stop first or when only
//! the tokens needed for `<tool_call>[]</tool_call>` are left; inside it the grammar; once the
//! array is closed, `</tool_call>`; after it, free again.

use super::constrain::argmax;
use super::schema::decoder::{Choice, StrictDecoder, TokenBytes};
use super::TextStream;
use crate::model::Network;
use crate::result::StopReason;
use crate::tokenizer::{Tokenizer, TOOL_CALL_ID};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Before,
    In,
    After,
}

/// Greedy strict generation from `prompt` (see [`super::generate`] for the other arguments).
pub(crate) fn generate_strict(
    net: &dyn Network,
    tok: &Tokenizer,
    tokens: &TokenBytes,
    sd: &mut StrictDecoder,
    prompt: &[u32],
    max_new: usize,
    on_token: &mut dyn FnMut(u32, &str) -> bool,
) -> (Vec<u32>, StopReason, Option<f32>) {
    let mut out = Vec::new();
    if prompt.is_empty() {
        return (out, StopReason::Eos, None);
    }
    if max_new == 0 {
        return (out, StopReason::MaxTokens, None);
    }
    let n = tok.len() as u32;
    // The block markers, when the vocabulary has them (v2/v3).
    let block = net.constrained_block().filter(|&(o, c)| o < n && c < n);
    let is_v1 = net.constrained_block().is_none();
    let think = tok.piece_id("<think>").zip(tok.piece_id("</think>")).filter(|_| !is_v1);
    let eos = tok.special_ids().eos;
    let streams_text = net.streams_text();
    let mut stream = TextStream::default();
    let mut session = net.start(prompt, max_new);
    sd.reset();
    let mut phase = if block.is_some() || is_v1 { Phase::Before } else { Phase::In };
    let mut think_open = false;
    // Tokens kept after the array: `</tool_call>` for v2/v3.
    let reserve = usize::from(block.is_some());
    for step in 0..max_new {
        let left = max_new - step;
        let logits = session.logits();
        let mut fed = false;
        let next = match phase {
            Phase::Before if is_v1 => TOOL_CALL_ID,
            Phase::Before => {
                let (open, _) = block.unwrap_or((eos, eos));
                let pick = argmax(logits);
                // `<tool_call>` + `[]` + `</tool_call>` (+ `</think>`) must still fit.
                let need = 1 + sd.min_close() as usize + reserve + usize::from(think_open);
                let must = net.stop_reason(pick).is_some() || left <= need;
                match think {
                    Some((_, close_think)) if must && think_open => close_think,
                    _ if must => open,
                    _ => pick,
                }
            }
            Phase::In => match sd.choose(logits, tokens, left, reserve) {
                Choice::Token(t) => {
                    fed = sd.update(tokens.get(t as usize));
                    t
                }
                Choice::End => block.map_or(eos, |b| b.1),
                // A vocabulary without the bytes the grammar needs: the answer is cut.
                Choice::Stuck => eos,
            },
            Phase::After => argmax(logits),
        };
        if let Some(stop) = net.stop_reason(next) {
            let c = session.confidence(None);
            return (out, stop, c);
        }
        out.push(next);
        match phase {
            Phase::Before if is_v1 => phase = Phase::In,
            Phase::Before if block.is_some_and(|b| b.0 == next) => {
                sd.reset();
                phase = Phase::In;
            }
            Phase::In if !fed && block.is_some_and(|b| b.1 == next) => phase = Phase::After,
            _ => {}
        }
        if let Some((open_think, close_think)) = think {
            if next == open_think {
                think_open = true;
            } else if next == close_think {
                think_open = false;
            }
        }
        let piece = if streams_text { stream.next(tok, &out) } else { tok.piece_text(next) };
        if !on_token(next, piece) {
            let c = session.confidence(Some(next));
            return (out, StopReason::Callback, c);
        }
        if step + 1 < max_new {
            session.push(next);
        }
    }
    let c = session.confidence(out.last().copied());
    (out, StopReason::MaxTokens, c)
}
