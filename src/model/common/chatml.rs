//! The ChatML side both decoder-only generations share: the marker ids that end a turn
//! or bound the tool-call block, and the answer read from the generated ids.

use crate::result::{chatml_answer, StopReason, ToolCall};
use crate::tokenizer::Tokenizer;

/// The marker ids of a ChatML tokenizer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChatMarkers {
    pub eos: u32,
    pub im_end: Option<u32>,
    /// `<tool_call>` and `</tool_call>`, when the tokenizer has both.
    pub tool_call: Option<(u32, u32)>,
}

impl ChatMarkers {
    pub(crate) fn new(tok: &Tokenizer) -> ChatMarkers {
        let piece = |p: &str| tok.piece_id(p);
        ChatMarkers {
            eos: tok.special_ids().eos,
            im_end: piece("<|im_end|>"),
            tool_call: piece("<tool_call>").zip(piece("</tool_call>")),
        }
    }

    /// Why generation ends if the model chooses `token`: `</s>` or `<|im_end|>`.
    pub(crate) fn stop_reason(&self, token: u32) -> Option<StopReason> {
        if token == self.eos {
            Some(StopReason::Eos)
        } else if Some(token) == self.im_end {
            Some(StopReason::ImEnd)
        } else {
            None
        }
    }

    /// The block the constraint applies in; without the markers there is no block (ids
    /// no token has), and so no constraint.
    pub(crate) fn block(&self) -> (u32, u32) {
        self.tool_call.unwrap_or((u32::MAX, u32::MAX))
    }

    /// The tool-call payload and its parsed calls.
    pub(crate) fn answer(tok: &Tokenizer, ids: &[u32]) -> (String, Option<Vec<ToolCall>>) {
        let (text, calls, _) = chatml_answer(tok, ids);
        (text, calls)
    }

    /// The trimmed `<think>` block.
    pub(crate) fn reasoning(tok: &Tokenizer, ids: &[u32]) -> Option<String> {
        chatml_answer(tok, ids).2
    }
}
