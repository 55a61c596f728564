//! The generation loop: greedy decoding over any model generation (through
//! [`Network`]/[`Decoding`]), optionally constrained, with streaming (docs/ARCHITECTURE.md#decoding).

pub mod constrain;

use crate::model::Network;
use crate::prompt::tools::ToolDef;
use crate::result::StopReason;
use crate::tokenizer::Tokenizer;
use constrain::{argmax, ConstrainedDecoder};

/// Greedy generation from the prompt ids `prompt` (for v1, the encoder input). The
/// constraint, when on, keeps tool names and argument keys to `defs`; `on_token` sees
/// every generated token and stops generation by returning `false`.
pub(crate) fn generate(
    net: &dyn Network,
    tok: &Tokenizer,
    prompt: &[u32],
    defs: &[ToolDef],
    max_new: usize,
    constrained: bool,
    on_token: &mut dyn FnMut(u32, &str) -> bool,
) -> (Vec<u32>, StopReason, Option<f32>) {
    let mut out = Vec::new();
    if prompt.is_empty() {
        return (out, StopReason::Eos, None);
    }
    if max_new == 0 {
        return (out, StopReason::MaxTokens, None);
    }
    let mut session = net.start(prompt, max_new);
    let block = net.constrained_block();
    let names_as_written = net.names_as_written();
    let new_decoder = || {
        ConstrainedDecoder::new(defs.iter().map(|d| {
            (if names_as_written { d.name.as_str() } else { d.snake.as_str() }, &d.params[..])
        }))
    };
    // v1: constrained from the first token; v2/v3: only inside the tool-call block.
    let mut cd = (constrained && block.is_none()).then(new_decoder);
    let n_pieces = tok.len();
    let text_of = |id: usize| (id < n_pieces).then(|| tok.piece_text(id as u32).as_bytes());
    for step in 0..max_new {
        let logits = session.logits();
        let next = match &cd {
            Some(c) => c.choose(logits, text_of),
            None => argmax(logits),
        };
        if let Some(stop) = net.stop_reason(next) {
            let c = session.confidence(None);
            return (out, stop, c);
        }
        out.push(next);
        match block {
            Some((open, _)) if constrained && next == open => cd = Some(new_decoder()),
            Some((_, close)) if next == close => cd = None,
            _ => {
                if let Some(c) = cd.as_mut() {
                    c.update(tok.piece_text(next).as_bytes());
                }
            }
        }
        if !on_token(next, tok.piece_text(next)) {
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
