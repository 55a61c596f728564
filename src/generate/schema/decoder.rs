//! Masking a model's logits with the strict grammar: each token's bytes are precomputed once
//! per engine ([`TokenBytes`]); per grammar state the set of tokens whose bytes the grammar
//! accepts is computed on first use and cached (a bitset per state); a step that hits the
//! cache allocates nothing.
//!
//! Budget (docs/ARCHITECTURE.md#strict-schema-mode): a token is taken only if the answer can
//! still be closed in the tokens left after it, counting the shortest completion in bytes
//! (every byte the closing text needs has a one-byte token in Needle's vocabularies). When
//! the model's choice would not leave room, the best-scoring token that does is taken, so
//! with a budget of at least the shortest answer the output is always complete.

use super::grammar::{Frame, Grammar};
use crate::tokenizer::Tokenizer;
use std::collections::HashMap;

/// Every token's bytes as the strict grammar reads them (empty: never allowed inside the
/// answer: control pieces, markers, and for v1 byte pieces, which v1 decodes literally).
#[derive(Debug, Clone)]
pub struct TokenBytes {
    bytes: Vec<u8>,
    ends: Vec<u32>,
    /// The ids with bytes, sorted by their bytes (so tokens sharing a prefix are adjacent).
    order: Vec<u32>,
    /// `lcp[i]`: the length of the common prefix of `order[i]`'s bytes and `order[i - 1]`'s.
    lcp: Vec<u16>,
}

impl TokenBytes {
    /// The byte view of `tok`: v2/v3 (`streams_text`) read a token as the bytes it adds to
    /// the decoded text (byte pieces as their byte), v1 as its piece text.
    pub fn new(tok: &Tokenizer, streams_text: bool) -> TokenBytes {
        let mut bytes = Vec::new();
        let mut ends = Vec::with_capacity(tok.len());
        for id in 0..tok.len() as u32 {
            if tok.is_ordinary(id) {
                bytes.extend_from_slice(if streams_text { tok.token_bytes(id) } else { tok.piece_text(id).as_bytes() });
            } else if streams_text {
                if let Some(b) = tok.byte_value(id) {
                    bytes.push(b);
                }
            }
            ends.push(bytes.len() as u32);
        }
        TokenBytes { bytes, ends, order: Vec::new(), lcp: Vec::new() }.sorted()
    }

    /// Fills `order` and `lcp`.
    fn sorted(mut self) -> TokenBytes {
        let mut order: Vec<u32> = (0..self.len() as u32).filter(|&i| !self.get(i as usize).is_empty()).collect();
        order.sort_by(|&a, &b| self.get(a as usize).cmp(self.get(b as usize)));
        let mut lcp = Vec::with_capacity(order.len());
        for (i, &id) in order.iter().enumerate() {
            let l = match i {
                0 => 0,
                _ => {
                    let (a, b) = (self.get(order[i - 1] as usize), self.get(id as usize));
                    a.iter().zip(b).take_while(|(x, y)| x == y).count()
                }
            };
            lcp.push(l.min(u16::MAX as usize) as u16);
        }
        self.order = order;
        self.lcp = lcp;
        self
    }

    /// From explicit byte strings (tests and tools).
    pub fn from_strings<'a>(tokens: impl IntoIterator<Item = &'a [u8]>) -> TokenBytes {
        let mut t = TokenBytes { bytes: Vec::new(), ends: Vec::new(), order: Vec::new(), lcp: Vec::new() };
        for s in tokens {
            t.bytes.extend_from_slice(s);
            t.ends.push(t.bytes.len() as u32);
        }
        t.sorted()
    }

    /// The bytes of token `id` (empty out of range).
    pub fn get(&self, id: usize) -> &[u8] {
        match self.ends.get(id) {
            Some(&e) => &self.bytes[if id == 0 { 0 } else { self.ends[id - 1] as usize }..e as usize],
            None => &[],
        }
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// Most grammar states whose masks one decoder keeps (the cache starts afresh past it).
const MAX_CACHED_STATES: usize = 4096;

/// What the strict decoder wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// This token (its bytes follow the grammar).
    Token(u32),
    /// The answer is complete: the caller ends it (v1: EOS; v2/v3: `</tool_call>`).
    End,
    /// No token can continue (a vocabulary without the needed bytes): the answer is cut.
    Stuck,
}

/// The strict decoder of one call: the grammar, its state and the per-state mask cache.
#[derive(Debug, Clone)]
pub struct StrictDecoder {
    grammar: Grammar,
    stack: Vec<Frame>,
    scratch: Vec<Frame>,
    cache: HashMap<Vec<Frame>, Box<[u64]>>,
    /// Mask scratch: the machine's stack after each prefix length of the current token.
    prefix: Vec<Vec<Frame>>,
    /// Mask computations (cache misses) so far.
    pub misses: usize,
}

impl StrictDecoder {
    /// A decoder at the start of an answer.
    pub fn new(grammar: Grammar) -> StrictDecoder {
        let mut stack = Vec::with_capacity(16);
        grammar.start(&mut stack);
        StrictDecoder { grammar, stack, scratch: Vec::with_capacity(16), cache: HashMap::new(), prefix: Vec::new(), misses: 0 }
    }

    /// Back to the start of an answer (the cache is kept).
    pub fn reset(&mut self) {
        self.grammar.start(&mut self.stack);
    }

    /// The grammar.
    pub fn grammar(&self) -> &Grammar {
        &self.grammar
    }

    /// True when the answer is complete.
    pub fn complete(&self) -> bool {
        Grammar::complete(&self.stack)
    }

    /// Shortest completion from here, in bytes.
    pub fn min_close(&self) -> u32 {
        self.grammar.min_close(&self.stack)
    }

    /// Feeds a chosen token's bytes; false if the grammar refuses them (state unchanged then).
    pub fn update(&mut self, bytes: &[u8]) -> bool {
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.stack);
        if self.grammar.feed(&mut self.scratch, bytes) {
            std::mem::swap(&mut self.stack, &mut self.scratch);
            true
        } else {
            false
        }
    }

    /// Whether the grammar accepts `bytes` next (the state is unchanged).
    pub fn accepts(&mut self, bytes: &[u8]) -> bool {
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.stack);
        self.grammar.feed(&mut self.scratch, bytes)
    }

    /// The number of grammar states whose masks are cached.
    pub fn cached_states(&self) -> usize {
        self.cache.len()
    }

    /// The allowed-token bitset of the current state.
    fn mask(&mut self, tokens: &TokenBytes) -> &[u64] {
        if !self.cache.contains_key(self.stack.as_slice()) {
            self.misses += 1;
            if self.cache.len() >= MAX_CACHED_STATES {
                self.cache.clear();
            }
            let mut m = vec![0u64; tokens.len().div_ceil(64)].into_boxed_slice();
            // Tokens in byte order: the machine's state after a shared prefix is reused, and
            // a prefix the grammar refuses rules out every token that starts with it.
            let pre = &mut self.prefix;
            if pre.is_empty() {
                pre.push(Vec::new());
            }
            pre[0].clear();
            pre[0].extend_from_slice(&self.stack);
            // The byte index at which the previous token was refused (`usize::MAX`: none).
            let mut dead = usize::MAX;
            for (&id, &l) in tokens.order.iter().zip(&tokens.lcp) {
                let l = l as usize;
                if dead < l {
                    continue;
                }
                dead = usize::MAX;
                let b = tokens.get(id as usize);
                while pre.len() <= b.len() {
                    pre.push(Vec::new());
                }
                let mut ok = true;
                for k in l..b.len() {
                    let (lo, hi) = pre.split_at_mut(k + 1);
                    let next = &mut hi[0];
                    next.clear();
                    next.extend_from_slice(&lo[k]);
                    if !self.grammar.feed_byte(next, b[k]) {
                        dead = k;
                        ok = false;
                        break;
                    }
                }
                if ok {
                    m[id as usize / 64] |= 1 << (id % 64);
                }
            }
            self.cache.insert(self.stack.clone(), m);
        }
        &self.cache[self.stack.as_slice()]
    }

    /// Shortest completion after token `id`.
    fn close_after(&mut self, tokens: &TokenBytes, id: usize) -> u32 {
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.stack);
        self.grammar.feed(&mut self.scratch, tokens.get(id));
        self.grammar.min_close(&self.scratch)
    }

    /// The next token: the highest logit among the tokens the grammar allows (lowest id on
    /// ties) that leaves the answer closable within `left` tokens after it, keeping `reserve`
    /// tokens for what follows the answer.
    pub fn choose(&mut self, logits: &[f32], tokens: &TokenBytes, left: usize, reserve: usize) -> Choice {
        if self.complete() {
            return Choice::End;
        }
        let n = logits.len().min(tokens.len());
        let best = {
            let mask = self.mask(tokens);
            masked_argmax(&logits[..n], mask, |_| true)
        };
        let Some(best) = best else { return Choice::Stuck };
        let room = left.saturating_sub(1 + reserve);
        if self.close_after(tokens, best) as usize <= room {
            return Choice::Token(best as u32);
        }
        // Too little room for the model's choice: the best token that keeps the answer
        // closable, or failing that the one that gets closest to closing.
        let mask: Vec<u64> = self.mask(tokens).to_vec();
        let mut pick: Option<(usize, f32)> = None;
        let mut nearest: Option<(usize, u32)> = None;
        for id in 0..n {
            if mask[id / 64] & (1 << (id % 64)) == 0 {
                continue;
            }
            let c = self.close_after(tokens, id);
            if c as usize <= room && pick.map_or(true, |(_, l)| logits[id].total_cmp(&l).is_gt()) {
                pick = Some((id, logits[id]));
            }
            if nearest.map_or(true, |(_, nc)| c < nc) {
                nearest = Some((id, c));
            }
        }
        Choice::Token(pick.map(|p| p.0).or(nearest.map(|p| p.0)).unwrap_or(best) as u32)
    }
}

/// Index of the largest logit whose bit is set in `mask` (lowest index on ties).
fn masked_argmax(logits: &[f32], mask: &[u64], keep: impl Fn(usize) -> bool) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (w, &bits) in mask.iter().enumerate() {
        let mut bits = bits;
        while bits != 0 {
            let id = w * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if id >= logits.len() || !keep(id) {
                continue;
            }
            let l = logits[id];
            if best.map_or(true, |(_, bl)| l.total_cmp(&bl).is_gt()) {
                best = Some((id, l));
            }
        }
    }
    best.map(|b| b.0)
}
