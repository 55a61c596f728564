//! The generation loop: greedy decoding over any model generation (through
//! [`Network`]/[`Decoding`]), optionally constrained, with streaming (docs/ARCHITECTURE.md#decoding).

pub mod constrain;
#[cfg(feature = "strict")]
pub mod schema;
#[cfg(feature = "strict")]
mod strict;

#[cfg(feature = "strict")]
pub(crate) use strict::generate_strict;

use crate::model::Network;
use crate::prompt::tools::ToolDef;
use crate::result::StopReason;
use crate::tokenizer::Tokenizer;
use constrain::{argmax, ConstrainedDecoder};

/// The text a v2/v3 stream hands out: each token's share of the decoded answer, with the
/// bytes of a character held back until the character is whole.
#[derive(Default)]
struct TextStream {
    /// Bytes of the decoded text already handed out.
    sent: usize,
    piece: String,
}

impl TextStream {
    /// The new text after `ids` (all generated so far) is decoded.
    fn next(&mut self, tok: &Tokenizer, ids: &[u32]) -> &str {
        let text = tok.decode(ids);
        // A trailing U+FFFD from a byte piece may be a character still incomplete.
        let mut end = text.len();
        if ids.last().is_some_and(|&id| tok.byte_value(id).is_some()) {
            end = text.trim_end_matches('\u{FFFD}').len();
        }
        self.piece.clear();
        if end > self.sent && text.is_char_boundary(self.sent) {
            self.piece.push_str(&text[self.sent..end]);
            self.sent = end;
        }
        &self.piece
    }
}

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
    let streams_text = net.streams_text();
    let mut stream = TextStream::default();
    let names_as_written = net.names_as_written();
    let new_decoder = || {
        ConstrainedDecoder::new(defs.iter().map(|d| {
            (if names_as_written { d.name.as_str() } else { d.snake.as_str() }, &d.params[..])
        }))
        // needle-rs's v2/v3 engines forbid a repeated argument key; its v1 does not.
        .unique_keys(streams_text)
    };
    // v1: constrained from the first token; v2/v3: only inside the tool-call block.
    let mut cd = (constrained && block.is_none()).then(new_decoder);
    let n_pieces = tok.len();
    // v1 masks each token by its piece text (needle-rs's v1 rule: EOS's "</s>" is masked
    // inside a name); v2/v3 by the bytes it adds to the decoded text (byte pieces as
    // their byte, control pieces such as EOS as nothing, which every state allows).
    let bytes_of = |id: u32| if streams_text { tok.token_bytes(id) } else { tok.piece_text(id).as_bytes() };
    let text_of = |id: usize| (id < n_pieces).then(|| bytes_of(id as u32));
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
                    c.update(bytes_of(next));
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Decoding, Prompt};
    use crate::result::ToolCall;
    use crate::tokenizer::Tokenizer;

    /// A network whose logits follow a script: at step `i`, the listed ids get the listed
    /// scores and every other id −1000.
    struct Script {
        cfg: crate::Config,
        steps: Vec<Vec<(u32, f32)>>,
        block: Option<(u32, u32)>,
        as_written: bool,
        vocab: usize,
        /// v2/v3: the constraint reads token bytes.
        streams: bool,
    }

    struct Session<'a> {
        s: &'a Script,
        step: usize,
        logits: Vec<f32>,
    }

    impl Session<'_> {
        fn fill(&mut self) {
            self.logits.iter_mut().for_each(|v| *v = -1000.0);
            for &(id, sc) in self.s.steps.get(self.step).map(Vec::as_slice).unwrap_or(&[]) {
                self.logits[id as usize] = sc;
            }
        }
    }

    impl Decoding for Session<'_> {
        fn logits(&self) -> &[f32] {
            &self.logits
        }
        fn push(&mut self, _token: u32) {
            self.step += 1;
            self.fill();
        }
    }

    impl Network for Script {
        fn generation(&self) -> u32 {
            3
        }
        fn config(&self) -> &crate::Config {
            &self.cfg
        }
        fn geometry(&self) -> serde_json::Value {
            serde_json::Value::Null
        }
        fn prompt(&self, _: &Tokenizer, _: &str, _: &str, _: Option<&str>) -> crate::Result<Prompt> {
            unreachable!()
        }
        fn default_new_tokens(&self) -> usize {
            16
        }
        fn max_prompt_tokens(&self) -> usize {
            16
        }
        fn max_new_tokens(&self, _: usize) -> usize {
            16
        }
        fn start<'a>(&'a self, _: &[u32], _: usize) -> Box<dyn Decoding + 'a> {
            let mut s = Session { s: self, step: 0, logits: vec![0.0; self.vocab] };
            s.fill();
            Box::new(s)
        }
        fn stop_reason(&self, token: u32) -> Option<StopReason> {
            (token == 1).then_some(StopReason::Eos)
        }
        fn constrained_block(&self) -> Option<(u32, u32)> {
            self.block
        }
        fn names_as_written(&self) -> bool {
            self.as_written
        }
        fn streams_text(&self) -> bool {
            self.streams
        }
        fn answer(&self, _: &Tokenizer, _: &[u32], _: &[ToolDef]) -> (String, Option<Vec<ToolCall>>) {
            unreachable!()
        }
        fn contrastive_dim(&self) -> usize {
            0
        }
        fn contrastive(&self, _: &[u32]) -> Option<Vec<f32>> {
            None
        }
    }

    const PIECES: [&str; 9] = ["</tool_call>", "[{\"name\":\"", "getWeather", "get_weather", "getX", "\"", "}]", "hello", "caf"];

    fn tok() -> Tokenizer {
        let mut v = String::from("<pad>\t0\n</s>\t0\n<s>\t0\n<unk>\t0\n<tool_call>\t0\n<tools>\t0\n");
        v.push_str(&format!("{}\t0\n", PIECES[0]));
        for b in 0..=255u32 {
            v.push_str(&format!("<0x{b:02X}>\t0\n"));
        }
        for p in &PIECES[1..] {
            v.push_str(&format!("{p}\t-1\n"));
        }
        Tokenizer::from_vocab_text(&v).unwrap()
    }

    fn id(t: &Tokenizer, p: &str) -> u32 {
        (0..t.len() as u32).find(|&i| t.piece(i) == Some(p)).unwrap()
    }

    fn script(t: &Tokenizer, block: Option<(u32, u32)>, as_written: bool) -> Script {
        let i = |p| id(t, p);
        // The model prefers an unknown name ("getX") over the tool's ("getWeather").
        let name_step = vec![(i("getX"), 5.0), (i("getWeather"), 2.0), (i("get_weather"), 1.0)];
        let steps = vec![
            vec![(i("hello"), 1.0)],
            vec![(4, 1.0)],
            vec![(i("[{\"name\":\""), 1.0)],
            name_step.clone(),
            vec![(i("\""), 1.0)],
            vec![(i("}]"), 1.0)],
            vec![(i("</tool_call>"), 1.0)],
            vec![(i("[{\"name\":\""), 1.0)],
            name_step,
            vec![(i("\""), 1.0)],
            vec![(i("}]"), 1.0)],
            vec![(1, 1.0)],
        ];
        let cfg = crate::Config {
            d_model: 8, num_heads: 1, num_kv_heads: 1, num_encoder_layers: 0, num_decoder_layers: 1,
            vocab_size: t.len(), max_enc_len: 16, max_dec_len: 16, no_feedforward: true, ffn_dim: 0,
            activation: crate::Activation::DRelu, rope_theta: 1e4, contrastive_dim: 0,
        };
        Script { cfg, steps, block, as_written, vocab: t.len(), streams: as_written }
    }

    fn defs() -> Vec<ToolDef> {
        vec![ToolDef { name: "getWeather".into(), snake: "get_weather".into(), params: vec![] }]
    }

    fn run(t: &Tokenizer, s: &Script, constrained: bool) -> Vec<String> {
        let (ids, stop, _) = generate(s, t, &[2], &defs(), 16, constrained, &mut |_, _| true);
        assert_eq!(stop, StopReason::Eos);
        ids.iter().map(|&i| t.piece(i).unwrap().to_string()).collect()
    }

    #[test]
    fn v2_v3_constraint_applies_inside_the_tool_call_block_only_with_names_as_written() {
        let t = tok();
        let close = id(&t, "</tool_call>");
        let s = script(&t, Some((4, close)), true);
        let got = run(&t, &s, true);
        // Inside the block: the name is forced to the tool's, as the prompt shows it.
        assert_eq!(got[3], "getWeather", "{got:?}");
        // After </tool_call>: free again, so the same preference wins.
        assert_eq!(got[8], "getX", "{got:?}");
        // Unconstrained: the model's choice everywhere.
        let free = run(&t, &s, false);
        assert_eq!((free[3].as_str(), free[8].as_str()), ("getX", "getX"));
    }

    /// v2/v3 read a token's bytes: EOS (no bytes) passes the mask inside a name, and a
    /// byte piece continues a non-ASCII name; v1 reads piece texts, so neither does.
    #[test]
    fn v2_v3_constraint_reads_token_bytes() {
        let t = tok();
        let close = id(&t, "</tool_call>");
        let i = |p| id(&t, p);
        let c3 = t.piece_id("<0xC3>").unwrap();
        let base = script(&t, Some((4, close)), true);
        let eos_step = vec![(1, 9.0), (i("getX"), 5.0), (i("getWeather"), 2.0)];
        let s = Script { steps: vec![vec![(4, 1.0)], vec![(i("[{\"name\":\""), 1.0)], eos_step.clone()], ..base };
        let (ids, stop, _) = generate(&s, &t, &[2], &defs(), 16, true, &mut |_, _| true);
        assert_eq!((ids.len(), stop), (2, StopReason::Eos), "{ids:?}");
        let v1 = Script { block: None, as_written: false, streams: false, steps: vec![vec![(i("[{\"name\":\""), 1.0)], eos_step, vec![(1, 1.0)]], ..script(&t, None, false) };
        let (ids, _, _) = generate(&v1, &t, &[2], &defs(), 16, true, &mut |_, _| true);
        assert_eq!(t.piece(ids[1]), Some("get_weather"), "v1 masks EOS inside a name: {ids:?}");
        // A non-ASCII name: "caf" then the byte 0xC3 of "é".
        let cafe = vec![ToolDef { name: "café".into(), snake: "café".into(), params: vec![] }];
        let steps = vec![
            vec![(4, 1.0)],
            vec![(i("[{\"name\":\""), 1.0)],
            vec![(i("caf"), 2.0), (i("getX"), 5.0)],
            vec![(c3, 2.0), (i("getX"), 5.0), (i("\""), 4.0)],
            vec![(1, 1.0)],
        ];
        for (streams, want) in [(true, c3), (false, i("getX"))] {
            let s = Script { steps: steps.clone(), streams, ..script(&t, Some((4, close)), true) };
            let (ids, _, _) = generate(&s, &t, &[2], &cafe, 16, true, &mut |_, _| true);
            assert_eq!(t.piece(ids[2]), Some("caf"), "{ids:?}");
            assert_eq!(ids[3], want, "streams {streams}: {ids:?}");
        }
    }

    #[test]
    fn v1_constraint_applies_from_the_first_token_with_snake_names() {
        let t = tok();
        let s = script(&t, None, false);
        let got = run(&t, &s, true);
        assert_eq!((got[3].as_str(), got[8].as_str()), ("get_weather", "get_weather"), "{got:?}");
    }
}
