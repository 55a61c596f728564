//! Text to ids: normalisation, segmentation around user-defined symbols, the BPE merge
//! loop, and bounded encoding of a prefix (see the module docs of [`super`]).

use std::collections::BinaryHeap;

use super::*;

/// One symbol of the BPE working list: a byte range of the normalised text.
#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    end: usize,
    prev: usize,
    next: usize,
    frozen: bool,
}

const NONE: usize = usize::MAX;

/// A merge candidate in the priority queue.
struct Candidate {
    score: f32,
    left: usize,
    right: usize,
    /// Byte length of the merged piece when the candidate was made (stale check).
    size: usize,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    /// Max-heap order: higher score first, then the leftmost pair.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl Tokenizer {
    /// Length in bytes of the longest user-defined symbol at the start of `s` (0 if none).
    fn match_user_symbol(&self, s: &str) -> usize {
        match s.as_bytes().first() {
            Some(&b) if self.user_first_byte[b as usize] => self
                .user_symbols
                .iter()
                .filter(|u| s.starts_with(u.as_str()))
                .map(|u| u.len())
                .max()
                .unwrap_or(0),
            _ => 0,
        }
    }

    /// Length in bytes of the next normalisation unit of `s` (a user-defined symbol or one char).
    fn unit_len(&self, s: &str) -> usize {
        let u = self.match_user_symbol(s);
        if u > 0 {
            return u;
        }
        s.chars().next().map_or(0, char::len_utf8)
    }

    /// SentencePiece normalisation with identity rules (see the module docs).
    fn normalize(&self, text: &str) -> String {
        let mut out = self.normalize_body(text);
        if self.opts.remove_extra_whitespaces {
            while let Some(s) = out.strip_suffix(SPACE_SYMBOL) {
                let l = s.len();
                out.truncate(l);
            }
        }
        out
    }

    /// [`Tokenizer::normalize`] without removing trailing `▁`s: for a prefix of a text,
    /// this is a prefix of the whole text's normalisation except possibly its last
    /// `3 × max_user_len` bytes (a user-defined symbol cut off at the end). Without
    /// `remove_extra_whitespaces` it is exactly a prefix (each character maps on its own).
    fn normalize_body(&self, text: &str) -> String {
        if !self.opts.remove_extra_whitespaces {
            let mut out = String::with_capacity(text.len() + text.len() / 2 + 3);
            if text.is_empty() {
                return out;
            }
            if self.opts.add_dummy_prefix {
                out.push_str(SPACE_SYMBOL);
            }
            for c in text.chars() {
                if c == ' ' {
                    out.push_str(SPACE_SYMBOL);
                } else {
                    out.push(c);
                }
            }
            return out;
        }
        let mut rest = text;
        // Drop leading spaces (units that are exactly " ").
        while rest.starts_with(' ') && self.unit_len(rest) == 1 {
            rest = &rest[1..];
        }
        let mut out = String::with_capacity(text.len() + text.len() / 2 + 3);
        if rest.is_empty() {
            return out;
        }
        if self.opts.add_dummy_prefix {
            out.push_str(SPACE_SYMBOL);
        }
        let mut prev_space = true;
        while !rest.is_empty() {
            let n = self.unit_len(rest).max(1);
            let Some(unit) = rest.get(..n) else { break };
            rest = &rest[n..];
            let mut sp = unit;
            if prev_space {
                sp = sp.trim_start_matches(' ');
            }
            if sp.is_empty() {
                continue;
            }
            for c in sp.chars() {
                if c == ' ' {
                    out.push_str(SPACE_SYMBOL);
                } else {
                    out.push(c);
                }
            }
            prev_space = sp.ends_with(' ');
        }
        out
    }

    /// Encodes `text` exactly as `sentencepiece` does (no BOS/EOS added).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.bpe(&self.normalize(text))
    }

    /// The first `max_tokens` ids of [`Tokenizer::encode`]`(text)`, with work bounded by
    /// what is kept rather than by the length of `text`.
    ///
    /// A growing prefix of the text is normalised and cut at the last *split point* well
    /// inside it: a place between two characters that stand next to each other in no
    /// mergeable piece, so that no piece, merge or user-defined symbol can span it. The
    /// encoding of everything before a split point is the same whether or not the rest
    /// of the text follows, so the ids are exactly those of the whole text. Once the part
    /// before the split point yields `max_tokens` ids, the rest is never looked at.
    /// A text with no split point at all (one character repeated for megabytes, say) is
    /// cut where the encodings of two prefixes, one twice as long as the other, agree on
    /// their first `max_tokens` ids.
    ///
    /// With either option set: `remove_extra_whitespaces` removes the whole text's trailing
    /// `▁`s, so only cuts before the prefix's last non-`▁` character count; without it the
    /// normalised prefix is exactly a prefix of the whole text's normalisation and any cut
    /// inside it counts. Without `byte_fallback` a run of unknown symbols gives one id, so a
    /// split point must not stand between two characters that are not pieces.
    pub fn encode_prefix(&self, text: &str, max_tokens: usize) -> Vec<u32> {
        const FIRST_WINDOW: usize = 1 << 15;
        let mut window = FIRST_WINDOW.max(max_tokens.saturating_mul(16));
        if max_tokens == 0 {
            return Vec::new();
        }
        // Bytes at the end of a normalised prefix that may differ from the whole text's.
        let margin = 3 * self.max_user_len + 16;
        let mut unsplit: Option<Vec<u32>> = None;
        loop {
            if window >= text.len() {
                let mut ids = self.encode(text);
                ids.truncate(max_tokens);
                return ids;
            }
            let mut cut = window;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            let norm = self.normalize_body(&text[..cut]);
            // Only cuts followed by something other than `▁` within the part that is
            // certainly the whole text's normalisation: the whole text's trailing `▁`s
            // are removed, so ids just before them are not final.
            let limit = norm.len().saturating_sub(margin);
            let mut lim = limit;
            while !norm.is_char_boundary(lim) {
                lim -= 1;
            }
            let last_content = if self.opts.remove_extra_whitespaces {
                norm[..lim].char_indices().rev().find(|&(_, c)| c != '\u{2581}').map(|(i, _)| i)
            } else {
                Some(lim).filter(|&l| l > 0)
            };
            let Some(last_content) = last_content else {
                window = window.saturating_mul(2);
                continue;
            };
            if let Some(p) = self.last_split(&norm, last_content) {
                let mut ids = self.bpe(&norm[..p]);
                if ids.len() >= max_tokens {
                    ids.truncate(max_tokens);
                    return ids;
                }
            } else {
                let mut ids = self.bpe(&norm[..last_content]);
                if ids.len() >= max_tokens {
                    ids.truncate(max_tokens);
                    if unsplit.as_ref() == Some(&ids) {
                        return ids;
                    }
                    unsplit = Some(ids);
                }
            }
            window = window.saturating_mul(2);
        }
    }

    /// The last split point (see [`Tokenizer::encode_prefix`]) at or before the char
    /// boundary `limit` of `norm`, if any.
    fn last_split(&self, norm: &str, limit: usize) -> Option<usize> {
        let head = &norm[..limit];
        let mut after = norm[limit..].chars().next()?;
        for (i, c) in head.char_indices().rev() {
            if !self.joined_pairs.contains(&pair_key(c, after))
                && (self.opts.byte_fallback || !(self.is_unknown_char(c) && self.is_unknown_char(after)))
            {
                return Some(i + c.len_utf8());
            }
            after = c;
        }
        None
    }

    /// True when the character `c` alone is not a mergeable piece (it would be unknown if it
    /// stayed a symbol of its own).
    fn is_unknown_char(&self, c: char) -> bool {
        let mut buf = [0u8; 4];
        !self.merge.0.contains_key(&*c.encode_utf8(&mut buf))
    }

    /// Segmentation and BPE merges of normalised text (steps 2–4 of the module docs).
    fn bpe(&self, norm: &str) -> Vec<u32> {
        if norm.is_empty() {
            return Vec::new();
        }

        // Initial segmentation: frozen user-defined symbols, otherwise one char per symbol.
        let mut syms: Vec<Symbol> = Vec::with_capacity(norm.len());
        let mut pos = 0usize;
        while pos < norm.len() {
            let Some(rest) = norm.get(pos..) else { break };
            let u = self.match_user_symbol(rest);
            let (len, frozen) = if u > 0 {
                (u, true)
            } else {
                (rest.chars().next().map_or(1, char::len_utf8), false)
            };
            let i = syms.len();
            syms.push(Symbol {
                start: pos,
                end: pos + len,
                prev: if i == 0 { NONE } else { i - 1 },
                next: i + 1,
                frozen,
            });
            pos += len;
        }
        if let Some(last) = syms.last_mut() {
            last.next = NONE;
        }

        let mut heap: BinaryHeap<Candidate> = BinaryHeap::with_capacity(syms.len());
        let merge = &self.merge.0;
        let max_len = self.max_piece_len;
        let try_pair =
            |syms: &[Symbol], heap: &mut BinaryHeap<Candidate>, left: usize, right: usize| {
                if left == NONE || right == NONE {
                    return;
                }
                let (l, r) = (syms[left], syms[right]);
                if l.frozen || r.frozen {
                    return;
                }
                let size = r.end - l.start;
                if size > max_len {
                    return;
                }
                if let Some(s) = norm.get(l.start..r.end) {
                    if let Some(&(_, score)) = merge.get(s) {
                        heap.push(Candidate {
                            score,
                            left,
                            right,
                            size,
                        });
                    }
                }
            };

        for i in 1..syms.len() {
            try_pair(&syms, &mut heap, i - 1, i);
        }

        while let Some(c) = heap.pop() {
            let (l, r) = (syms[c.left], syms[c.right]);
            // Skip candidates made stale by earlier merges.
            if l.start == l.end
                || r.start == r.end
                || l.next != c.right
                || r.end - l.start != c.size
            {
                continue;
            }
            syms[c.left].end = r.end;
            syms[c.left].next = r.next;
            if r.next != NONE {
                syms[r.next].prev = c.left;
            }
            syms[c.right].start = r.end;
            syms[c.right].end = r.end;
            let prev = syms[c.left].prev;
            try_pair(&syms, &mut heap, prev, c.left);
            let next = syms[c.left].next;
            try_pair(&syms, &mut heap, c.left, next);
        }

        let mut ids = Vec::with_capacity(syms.len());
        let mut i = if syms.is_empty() { NONE } else { 0 };
        let mut prev_unknown = false;
        while i != NONE {
            let s = syms[i];
            let piece = norm.get(s.start..s.end).unwrap_or("");
            match merge.get(piece) {
                Some(&(id, _)) => {
                    ids.push(id);
                    prev_unknown = false;
                }
                None if self.opts.byte_fallback => {
                    ids.extend(piece.bytes().map(|b| self.byte_ids[b as usize]))
                }
                None => {
                    if !prev_unknown {
                        ids.push(self.specials.unk);
                    }
                    prev_unknown = true;
                }
            }
            i = s.next;
        }
        ids
    }
}
