//! SentencePiece-compatible BPE tokenizer: one BPE core fed by two sources (v1 spec Part A, A2;
//! v2/v3 spec Part A, A3; Part B4).
//!
//! * `vocab.txt` (Needle v1, [`Tokenizer::from_vocab_text`], `vocab_txt.rs`);
//! * the RAW tokenizer blob of a v2/v3 `.cact` file ([`Tokenizer::from_cact_blob`], `cact_blob.rs`):
//!   pieces, scores and types as the exporter recorded them, `add_dummy_prefix` and
//!   `byte_fallback` from its header, `remove_extra_whitespaces` false.
//!
//! The sources differ only in their [`Options`]; the algorithm is the same.
//!
//! `vocab.txt` has one line per id: `piece<TAB>score`. Ids 0..5 are the fixed specials
//! (`<pad>`, `</s>`, `<s>`, `<unk>`, `<tool_call>`, `<tools>`). The pieces between id 4 and the first
//! byte piece (`<0xHH>`) are user-defined symbols, the 256 byte pieces follow, and every other piece
//! after the first byte piece is a normal BPE piece with its merge score.
//!
//! [`Tokenizer::encode`] reproduces what the `sentencepiece` library returns for a BPE model trained
//! with identity normalisation and the recorded options (`add_dummy_prefix`,
//! `remove_extra_whitespaces`, `byte_fallback`, user-defined symbols):
//!
//! 1. Normalisation with `remove_extra_whitespaces` (v1): leading ASCII spaces are dropped, runs of
//!    ASCII spaces collapse into one, every space becomes `▁` (U+2581), a `▁` is prefixed (unless
//!    nothing is left), and trailing `▁`s are removed (including ones written literally in the
//!    text). Without it (v2/v3): every space becomes `▁` and nothing else changes (runs, leading
//!    and trailing spaces are kept); a `▁` is prefixed when `add_dummy_prefix` is set and the text
//!    is not empty. Other whitespace (`\t`, `\n`, `\r`, NBSP, U+3000, …) is kept as ordinary
//!    characters in both. User-defined symbols are copied untouched.
//! 2. Segmentation: user-defined symbols found literally (longest match) become single frozen
//!    symbols that never merge; every other character is one symbol.
//! 3. BPE: repeatedly merge the adjacent pair whose concatenation is a normal or user-defined piece
//!    with the highest score (ties: leftmost pair), using a priority queue over a linked list.
//! 4. Symbols that are pieces give their id; with `byte_fallback` any other symbol is emitted as one
//!    byte piece per UTF-8 byte (`<0xHH>`), or the unknown id when that byte piece is missing;
//!    without it, a run of such symbols gives one unknown id (as `sentencepiece` merges runs of
//!    unknown pieces).
//!
//! [`Tokenizer::decode`] is v1's piece-text concatenation for `vocab.txt`, and `sentencepiece`'s
//! `Decode` for a blob (byte pieces back to UTF-8, see [`Tokenizer::decode`]).

use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use crate::{Error, ErrorKind, Result};

mod cact_blob;
mod vocab_txt;

/// Padding id (unused at inference).
pub const PAD_ID: u32 = 0;
/// End of sequence: decoder start token and stop token.
pub const EOS_ID: u32 = 1;
/// Beginning of sequence (unused by v1 inference).
pub const BOS_ID: u32 = 2;
/// Unknown piece; used when a byte piece is missing from the vocabulary.
pub const UNK_ID: u32 = 3;
/// `<tool_call>`: the first generated token.
pub const TOOL_CALL_ID: u32 = 4;
/// `<tools>`: separator between query and tools in the encoder input.
pub const TOOLS_ID: u32 = 5;

/// The pieces ids 0..5 must have, in order.
const SPECIAL_PIECES: [&str; 6] = ["<pad>", "</s>", "<s>", "<unk>", "<tool_call>", "<tools>"];

/// The SentencePiece whitespace meta-symbol `▁` (U+2581).
const SPACE_SYMBOL: &str = "\u{2581}";

/// Small, fast, non-cryptographic hasher for piece lookups (FNV-1a over 8-byte words).
#[derive(Default)]
struct PieceHasher(u64);

impl Hasher for PieceHasher {
    fn finish(&self) -> u64 {
        // Final avalanche so the low bits used by the table are well mixed.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = (h ^ u64::from_le_bytes(w))
                .wrapping_mul(0x0000_0100_0000_01b3)
                .rotate_left(29);
        }
        for &b in chunks.remainder() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

type PieceMap = HashMap<Box<str>, (u32, f32), BuildHasherDefault<PieceHasher>>;

/// How a source's model encodes and decodes: the options a SentencePiece model records that
/// the BPE core follows (normalisation is always the identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Prefix a `▁` to every non-empty text.
    pub add_dummy_prefix: bool,
    /// Drop leading spaces, collapse runs of spaces and drop trailing `▁`s (v1); otherwise every
    /// space is kept as a `▁`.
    pub remove_extra_whitespaces: bool,
    /// Spell symbols that are not pieces as byte pieces (otherwise: one unknown id per run).
    pub byte_fallback: bool,
    /// Decode as `sentencepiece` does (byte pieces to UTF-8); otherwise v1's piece text.
    pub sentencepiece_decode: bool,
}

impl Options {
    /// Needle v1's `vocab.txt` model.
    pub const V1: Options = Options {
        add_dummy_prefix: true,
        remove_extra_whitespaces: true,
        byte_fallback: true,
        sentencepiece_decode: false,
    };
}

/// The ids of the special pieces a model names (v1: the constants [`PAD_ID`] … [`UNK_ID`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialIds {
    /// Padding.
    pub pad: u32,
    /// End of sequence.
    pub eos: u32,
    /// Beginning of sequence.
    pub bos: u32,
    /// Unknown piece.
    pub unk: u32,
}

impl SpecialIds {
    /// Needle v1's fixed ids.
    pub const V1: SpecialIds = SpecialIds { pad: PAD_ID, eos: EOS_ID, bos: BOS_ID, unk: UNK_ID };
}

/// An immutable tokenizer built from `vocab.txt` (v1) or a `.cact` tokenizer blob (v2/v3).
/// Safe to share between threads.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    /// Raw pieces, concatenated; piece `id` is `pieces[ends[id-1]..ends[id]]`.
    pieces: Strings,
    /// Pieces with `▁` replaced by a space, stored the same way.
    texts: Strings,
    /// Scores as written in the file.
    scores: Vec<f32>,
    /// Mergeable pieces (normal and user-defined) -> (id, score with -0.0 folded into 0.0).
    merge: PieceMapDebug,
    /// User-defined symbols (matched literally, frozen).
    user_symbols: Vec<String>,
    /// `user_first_byte[b]` is true when some user-defined symbol starts with byte `b`.
    user_first_byte: [bool; 256],
    /// Id of the byte piece `<0xHH>` for every byte, or [`UNK_ID`] when missing.
    byte_ids: [u32; 256],
    /// Longest mergeable piece in bytes (pairs longer than this are never looked up).
    max_piece_len: usize,
    /// Longest user-defined symbol in bytes.
    max_user_len: usize,
    /// Every pair of characters that stand next to each other inside some mergeable piece
    /// (`a << 32 | b`). Between two characters that form no such pair, no piece can ever
    /// span, so the encoding splits there (see [`Tokenizer::encode_prefix`]).
    joined_pairs: std::collections::HashSet<u64, BuildHasherDefault<PieceHasher>>,
    /// What each id is.
    kinds: Vec<PieceKind>,
    /// The source's options.
    opts: Options,
    /// The source's special ids.
    specials: SpecialIds,
}

/// What a piece is to the BPE core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PieceKind {
    /// `<pad>`, `</s>`, `<s>` (and v1's `<unk>`): never produced by encoding, decoded to nothing.
    Control,
    /// A blob's `<unk>`: produced by encoding only without byte fallback; decoded as ` ⁇ `.
    Unknown,
    /// Matched literally wherever it occurs and never merged further (`<tool_call>`, …).
    User,
    /// The byte-fallback piece `<0xHH>` of this byte.
    Byte(u8),
    /// An ordinary BPE piece with its merge score.
    Normal,
}

/// Many short strings in one buffer (one allocation instead of one per piece).
#[derive(Debug, Clone, Default)]
struct Strings {
    buf: String,
    ends: Vec<u32>,
}

impl Strings {
    fn with_capacity(n: usize, bytes: usize) -> Self {
        Strings { buf: String::with_capacity(bytes), ends: Vec::with_capacity(n) }
    }

    fn push(&mut self, s: &str) {
        self.buf.push_str(s);
        self.ends.push(self.buf.len() as u32);
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.buf.get(start..end)
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.get(i).unwrap_or(""))
    }
}

/// Wrapper so `Tokenizer` can derive `Debug` without printing the whole table.
#[derive(Clone, Default)]
struct PieceMapDebug(PieceMap);

impl std::fmt::Debug for PieceMapDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} mergeable pieces>", self.0.len())
    }
}

/// Parses `<0xHH>` (upper-case hex, as SentencePiece writes byte pieces) into the byte value.
fn byte_piece_value(piece: &str) -> Option<u8> {
    let b = piece.as_bytes();
    if b.len() != 6 || &b[..3] != b"<0x" || b[5] != b'>' {
        return None;
    }
    let hex = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    Some(hex(b[3])? * 16 + hex(b[4])?)
}

/// Appends a run of byte pieces as `sentencepiece` decodes it: every valid UTF-8 character
/// as itself, every other byte as one U+FFFD. Empties `bytes`.
fn flush_bytes(bytes: &mut Vec<u8>, out: &mut String) {
    let mut rest: &[u8] = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).unwrap_or(""));
                out.push('\u{FFFD}');
                rest = bad.get(1..).unwrap_or(&[]);
            }
        }
    }
    bytes.clear();
}

/// Key of the character pair `a b` in `Tokenizer::joined_pairs`.
fn pair_key(a: char, b: char) -> u64 {
    (a as u64) << 32 | b as u64
}

fn vocab_err(msg: String) -> Error {
    Error::new(ErrorKind::InvalidVocab, msg)
}

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
    /// The BPE core's constructor with v1's options and special ids ([`Options::V1`],
    /// [`SpecialIds::V1`]): the pieces in id order, their scores and their kinds, already
    /// validated by the source.
    fn from_table(pieces: Strings, scores: Vec<f32>, kinds: Vec<PieceKind>) -> Tokenizer {
        Tokenizer::from_table_with(pieces, scores, kinds, Options::V1, SpecialIds::V1)
    }

    /// The BPE core's constructor, shared by every vocabulary source: the pieces in id
    /// order, their scores and their kinds, already validated by the source (one kind and
    /// one score per piece, special ids in range), and the source's options.
    fn from_table_with(
        pieces: Strings,
        scores: Vec<f32>,
        kinds: Vec<PieceKind>,
        opts: Options,
        specials: SpecialIds,
    ) -> Tokenizer {
        let mut merge = PieceMap::with_capacity_and_hasher(pieces.len(), Default::default());
        let mut user_symbols = Vec::new();
        let mut user_first_byte = [false; 256];
        let mut byte_ids = [specials.unk; 256];
        let mut max_piece_len = 0usize;
        for ((id, piece), kind) in pieces.iter().enumerate().zip(&kinds) {
            match *kind {
                PieceKind::Control | PieceKind::Unknown => continue,
                PieceKind::Byte(b) => {
                    byte_ids[b as usize] = id as u32;
                    continue;
                }
                PieceKind::User => {
                    let Some(&first) = piece.as_bytes().first() else { continue };
                    user_symbols.push(piece.to_string());
                    user_first_byte[first as usize] = true;
                }
                PieceKind::Normal => {}
            }
            // Fold -0.0 into 0.0 so comparisons behave like C++ `<` on floats.
            let score = scores[id] + 0.0;
            merge.insert(piece.into(), (id as u32, score));
            max_piece_len = max_piece_len.max(piece.len());
        }
        let mut joined_pairs = std::collections::HashSet::with_capacity_and_hasher(merge.len() * 2, Default::default());
        for piece in merge.keys() {
            let mut it = piece.chars();
            if let Some(mut a) = it.next() {
                for b in it {
                    joined_pairs.insert(pair_key(a, b));
                    a = b;
                }
            }
        }
        let max_user_len = user_symbols.iter().map(String::len).max().unwrap_or(0);
        let mut texts = Strings::with_capacity(pieces.len(), pieces.buf.len());
        for p in pieces.iter() {
            if p.contains(SPACE_SYMBOL) {
                texts.push(&p.replace(SPACE_SYMBOL, " "));
            } else {
                texts.push(p);
            }
        }
        Tokenizer {
            pieces,
            texts,
            scores,
            merge: PieceMapDebug(merge),
            user_symbols,
            user_first_byte,
            byte_ids,
            max_piece_len,
            max_user_len,
            joined_pairs,
            kinds,
            opts,
            specials,
        }
    }

    /// The options this tokenizer encodes and decodes with.
    pub fn options(&self) -> Options {
        self.opts
    }

    /// The special ids (pad, EOS, BOS, unknown) of the model.
    pub fn special_ids(&self) -> SpecialIds {
        self.specials
    }

    /// The id of the piece spelled exactly `piece` (any kind), or `None`.
    pub fn piece_id(&self, piece: &str) -> Option<u32> {
        if let Some(&(id, _)) = self.merge.0.get(piece) {
            return Some(id);
        }
        self.pieces.iter().position(|p| p == piece).map(|i| i as u32)
    }

    /// The byte a byte piece (`<0xHH>`) stands for, or `None` for any other id.
    pub fn byte_value(&self, id: u32) -> Option<u8> {
        match self.kinds.get(id as usize) {
            Some(PieceKind::Byte(b)) => Some(*b),
            _ => None,
        }
    }

    /// Number of pieces (lines of `vocab.txt`, records of a blob).
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// Always false: a valid vocabulary has at least the six special pieces.
    pub fn is_empty(&self) -> bool {
        self.pieces.len() == 0
    }

    /// The raw piece of `id` (with `▁`), or `None` when out of range.
    pub fn piece(&self, id: u32) -> Option<&str> {
        self.pieces.get(id as usize)
    }

    /// The piece of `id` with `▁` replaced by a space; `""` for ids out of range.
    pub fn piece_text(&self, id: u32) -> &str {
        self.texts.get(id as usize).unwrap_or("")
    }

    /// The score of `id` as written in `vocab.txt`, or `None` when out of range.
    pub fn score(&self, id: u32) -> Option<f32> {
        self.scores.get(id as usize).copied()
    }

    /// Turns `ids` back into text; ids out of range are skipped.
    ///
    /// v1 (`vocab.txt`): concatenates the piece texts and trims leading Unicode whitespace
    /// (v1 spec §3.3); byte pieces stay literal (`<0xE2>`).
    ///
    /// A blob (v2/v3) decodes as `sentencepiece`'s `Decode`: each run of byte pieces becomes the
    /// UTF-8 it spells, every byte that is not part of a valid character giving one U+FFFD;
    /// control pieces give nothing; the unknown piece gives ` ⁇ `; any other piece gives its
    /// surface with `▁` as a space, except that the first piece that is not a control piece
    /// loses one leading `▁` when `add_dummy_prefix` is set. A `▁` spelled by byte pieces stays
    /// a `▁`.
    pub fn decode(&self, ids: &[u32]) -> String {
        if self.opts.sentencepiece_decode {
            return self.decode_sentencepiece(ids);
        }
        let mut out = String::new();
        for &id in ids {
            out.push_str(self.piece_text(id));
        }
        let trimmed = out.trim_start();
        if trimmed.len() == out.len() {
            out
        } else {
            trimmed.to_string()
        }
    }

    /// `sentencepiece`'s `Decode` (see [`Tokenizer::decode`]).
    fn decode_sentencepiece(&self, ids: &[u32]) -> String {
        let mut out = String::new();
        let mut bytes: Vec<u8> = Vec::new();
        let mut at_start = true;
        for &id in ids {
            let (Some(kind), Some(piece)) = (self.kinds.get(id as usize), self.pieces.get(id as usize)) else {
                continue;
            };
            if let PieceKind::Byte(b) = *kind {
                bytes.push(b);
                at_start = false;
                continue;
            }
            flush_bytes(&mut bytes, &mut out);
            match kind {
                PieceKind::Control => {}
                PieceKind::Unknown => {
                    out.push_str(" \u{2047} ");
                    at_start = false;
                }
                _ => {
                    let mut p = piece;
                    if at_start && self.opts.add_dummy_prefix {
                        p = p.strip_prefix(SPACE_SYMBOL).unwrap_or(p);
                    }
                    for c in p.chars() {
                        out.push(if c == '\u{2581}' { ' ' } else { c });
                    }
                    at_start = false;
                }
            }
        }
        flush_bytes(&mut bytes, &mut out);
        out
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    const SPECIALS: &str =
        "<pad>\t0.0\n</s>\t0.0\n<s>\t0.0\n<unk>\t0.0\n<tool_call>\t0.0\n<tools>\t0.0\n";

    /// Specials + all 256 byte pieces + the given normal pieces (scores -0, -1, -2, ...).
    fn vocab_with(normals: &[&str]) -> String {
        let mut v = String::from(SPECIALS);
        for b in 0..=255u32 {
            v.push_str(&format!("<0x{b:02X}>\t0.0\n"));
        }
        for (i, p) in normals.iter().enumerate() {
            v.push_str(&format!("{p}\t{}\n", -(i as f64)));
        }
        v
    }

    fn tok(normals: &[&str]) -> Tokenizer {
        Tokenizer::from_vocab_text(&vocab_with(normals)).expect("valid vocab")
    }

    fn id_of(t: &Tokenizer, piece: &str) -> u32 {
        (0..t.len() as u32)
            .find(|&i| t.piece(i) == Some(piece))
            .expect("piece exists")
    }

    fn pieces(t: &Tokenizer, ids: &[u32]) -> Vec<String> {
        ids.iter()
            .map(|&i| t.piece(i).unwrap_or("?").to_string())
            .collect()
    }

    #[test]
    fn specials_and_accessors() {
        let t = tok(&["▁a", "a", "▁"]);
        assert_eq!(t.len(), 6 + 256 + 3);
        assert_eq!(t.piece(TOOLS_ID), Some("<tools>"));
        assert_eq!(t.piece(10_000), None);
        assert_eq!(t.piece_text(262), " a");
        assert_eq!(t.piece_text(10_000), "");
        assert_eq!(t.score(263), Some(-1.0));
        assert_eq!(t.score(99_999), None);
        assert_eq!(t.decode(&[262, 262, 99_999, 6]), "a a<0x00>");
        assert_eq!(t.decode(&[TOOL_CALL_ID]), "<tool_call>");
    }

    #[test]
    fn bpe_highest_score_wins() {
        // "ab" (score -2) beats "bc" (score -3): a b c -> ab c
        let t = tok(&["▁", "a", "b", "c", "ab", "bc"]);
        // scores: ▁ 0, a -1, b -2, c -3, ab -4, bc -5
        let ids = t.encode("abc");
        assert_eq!(pieces(&t, &ids), ["▁", "ab", "c"]);
        let t = tok(&["▁", "a", "b", "c", "bc", "ab"]);
        assert_eq!(pieces(&t, &t.encode("abc")), ["▁", "a", "bc"]);
    }

    #[test]
    fn bpe_ties_go_leftmost() {
        // "aa" can merge at (0,1) or (1,2) with the same score: leftmost first -> aa a
        let t = tok(&["▁", "a", "aa"]);
        assert_eq!(pieces(&t, &t.encode("aaa")), ["▁", "aa", "a"]);
        assert_eq!(pieces(&t, &t.encode("aaaaa")), ["▁", "aa", "aa", "a"]);
        let t = tok(&["▁", "a", "aa", "aaaa"]);
        assert_eq!(pieces(&t, &t.encode("aaaaa")), ["▁", "aaaa", "a"]);
    }

    #[test]
    fn merges_chain_through_intermediate_pieces() {
        let t = tok(&["▁h", "el", "▁hel", "lo", "▁hello", "▁", "h", "e", "l", "o"]);
        assert_eq!(pieces(&t, &t.encode("hello")), ["▁hello"]);
        assert_eq!(
            pieces(&t, &t.encode("  hello   hello  ")),
            ["▁hello", "▁hello"]
        );
    }

    #[test]
    fn byte_fallback_and_missing_bytes() {
        let t = tok(&["▁", "a"]);
        let ids = t.encode("aé");
        assert_eq!(pieces(&t, &ids), ["▁", "a", "<0xC3>", "<0xA9>"]);
        // A vocab without the byte pieces falls back to UNK.
        let mut v = String::from(SPECIALS);
        v.push_str("<0x41>\t0.0\n▁\t-0.0\nb\t-1.0\n");
        let t = Tokenizer::from_vocab_text(&v).expect("valid");
        assert_eq!(t.encode("bAé"), vec![7, 8, 6, UNK_ID, UNK_ID]);
    }

    #[test]
    fn whitespace_normalisation() {
        let t = tok(&["▁", "a", "b", "▁a", "▁b"]);
        let a = id_of(&t, "▁a");
        let b = id_of(&t, "▁b");
        assert_eq!(t.encode(""), Vec::<u32>::new());
        assert_eq!(t.encode("    "), Vec::<u32>::new());
        assert_eq!(t.encode("  a   b  "), vec![a, b]);
        // Tabs and newlines are ordinary characters (byte fallback here).
        let ids = t.encode("a\tb\n");
        assert_eq!(pieces(&t, &ids), ["▁a", "<0x09>", "b", "<0x0A>"]);
        // Literal ▁ at the end is stripped like a space.
        assert_eq!(t.encode("a▁▁"), vec![a]);
        assert_eq!(t.encode("▁"), Vec::<u32>::new());
        assert_eq!(t.encode("▁a"), vec![id_of(&t, "▁"), a]);
    }

    #[test]
    fn user_symbols_are_frozen() {
        let t = tok(&[
            "▁", "<", "t", "o", "l", "s", ">", "▁<", "<t", "s>", "ls", "ool",
        ]);
        let sp = id_of(&t, "▁");
        assert_eq!(t.encode("<tools>"), vec![sp, TOOLS_ID]);
        assert_eq!(
            t.encode("<tools><tool_call>"),
            vec![sp, TOOLS_ID, TOOL_CALL_ID]
        );
        assert_eq!(t.encode(" <tools> "), vec![sp, TOOLS_ID]);
        let ids = t.encode("<tool");
        assert_eq!(pieces(&t, &ids), ["▁<", "t", "o", "o", "l"]);
    }

    #[test]
    fn extra_user_symbols_longest_match() {
        let mut v = String::from(SPECIALS);
        v.push_str("<tool\t0.0\n");
        for b in 0..=255u32 {
            v.push_str(&format!("<0x{b:02X}>\t0.0\n"));
        }
        v.push_str("▁\t-0.0\n");
        let t = Tokenizer::from_vocab_text(&v).expect("valid");
        assert_eq!(t.encode("<tools><tool"), vec![263, TOOLS_ID, 6]);
    }

    #[test]
    fn long_input_is_fast() {
        let t = tok(&["▁", "a", "b", "ab", "abab", "▁ab", "ba"]);
        let text: String = "ab".repeat(60_000) + &" a".repeat(20_000);
        let start = std::time::Instant::now();
        let ids = t.encode(&text);
        assert!(!ids.is_empty());
        assert!(start.elapsed().as_secs_f64() < 2.0);
        assert_eq!(t.decode(&ids).len(), text.len());
    }

    /// `tok(normals)` with the v2/v3 options: spaces kept, dummy prefix and byte fallback
    /// as given, `sentencepiece` decoding, `<unk>` an unknown piece.
    fn keep(normals: &[&str], add_dummy_prefix: bool, byte_fallback: bool) -> Tokenizer {
        let mut t = tok(normals);
        t.opts = Options {
            add_dummy_prefix,
            remove_extra_whitespaces: false,
            byte_fallback,
            sentencepiece_decode: true,
        };
        t.kinds[UNK_ID as usize] = PieceKind::Unknown;
        t
    }

    #[test]
    fn v1_options_are_the_default() {
        let t = tok(&["a"]);
        assert_eq!(t.options(), Options::V1);
        assert_eq!(t.special_ids(), SpecialIds::V1);
        assert_eq!(t.piece_id("<tools>"), Some(TOOLS_ID));
        assert_eq!(t.piece_id("<unk>"), Some(UNK_ID));
        assert_eq!(t.piece_id("zz"), None);
        assert_eq!(t.byte_value(6 + 0x41), Some(0x41));
    }

    #[test]
    fn spaces_are_kept_without_remove_extra_whitespaces() {
        let t = keep(&["▁", "a", "b", "▁a", "▁b", "▁▁"], true, true);
        let (sp, a, b, ssp) = (id_of(&t, "▁"), id_of(&t, "a"), id_of(&t, "b"), id_of(&t, "▁▁"));
        let (sa, sb) = (id_of(&t, "▁a"), id_of(&t, "▁b"));
        assert_eq!(t.encode(""), Vec::<u32>::new());
        assert_eq!(t.encode(" "), vec![ssp]);
        assert_eq!(t.encode("  a"), vec![ssp, sa]);
        assert_eq!(t.encode("a  "), vec![sa, ssp]);
        assert_eq!(t.encode("a   b"), vec![sa, ssp, sb]);
        assert_eq!(t.encode("a▁"), vec![sa, sp]);
        assert_eq!(t.encode("<tools> "), vec![sp, TOOLS_ID, sp]);
        let t = keep(&["▁", "a", "b", "▁a", "▁b"], false, true);
        assert_eq!(t.encode("a b"), vec![id_of(&t, "a"), id_of(&t, "▁b")]);
        assert_eq!(t.encode(" "), vec![id_of(&t, "▁")]);
        assert_eq!(pieces(&t, &t.encode("\ta")), ["<0x09>", "a"]);
        let _ = (a, b);
    }

    #[test]
    fn unknown_runs_without_byte_fallback() {
        let t = keep(&["▁", "a", "▁a"], true, false);
        let (sp, a, sa) = (id_of(&t, "▁"), id_of(&t, "a"), id_of(&t, "▁a"));
        assert_eq!(t.encode("é"), vec![sp, UNK_ID]);
        assert_eq!(t.encode("éé😀x"), vec![sp, UNK_ID]);
        assert_eq!(t.encode("éaé a"), vec![sp, UNK_ID, a, UNK_ID, sa]);
        // User-defined symbols break a run.
        assert_eq!(t.encode("é<tools>é"), vec![sp, UNK_ID, TOOLS_ID, UNK_ID]);
    }

    #[test]
    fn sentencepiece_decode_rules() {
        let t = keep(&["▁", "a", "▁a", "▁▁"], true, true);
        let (sp, a, sa) = (id_of(&t, "▁"), id_of(&t, "a"), id_of(&t, "▁a"));
        let byte = |b: u8| 6 + b as u32;
        assert_eq!(t.decode(&t.encode("a  é ")), "a  é ");
        // The first piece that is not a control piece loses one leading ▁.
        assert_eq!(t.decode(&[BOS_ID, sa, sa]), "a a");
        assert_eq!(t.decode(&[sp, sa]), " a");
        assert_eq!(t.decode(&[TOOLS_ID, sa]), "<tools> a");
        assert_eq!(t.decode(&[byte(b'x'), sa]), "x a");
        assert_eq!(t.decode(&[UNK_ID, a]), " \u{2047} a");
        assert_eq!(t.decode(&[PAD_ID, EOS_ID, a, 99_999]), "a");
        // Byte runs: valid characters as themselves, every other byte one U+FFFD; a ▁ spelled
        // in bytes stays a ▁.
        assert_eq!(t.decode(&[byte(0xC3), byte(0xA9), a]), "éa");
        assert_eq!(t.decode(&[a, byte(0xE2), byte(0x96), a, byte(0xFF)]), "a\u{FFFD}\u{FFFD}a\u{FFFD}");
        assert_eq!(t.decode(&[byte(0xED), byte(0xA0), byte(0x80)]), "\u{FFFD}".repeat(3));
        assert_eq!(t.decode(&[byte(0xE2), byte(0x96), byte(0x81), a]), "\u{2581}a");
        assert_eq!(t.decode(&[byte(0xF0), byte(0x9F), byte(0x98), byte(0x80)]), "😀");
        // Without a dummy prefix nothing is stripped.
        let t = keep(&["▁", "a", "▁a"], false, true);
        assert_eq!(t.decode(&[id_of(&t, "▁a")]), " a");
    }

    /// `encode_prefix(text, n)` equals the first `n` ids of `encode(text)` for texts longer
    /// than the first window, with every combination of the options.
    #[test]
    fn encode_prefix_exact_with_all_options() {
        let normals = ["▁", "a", "b", "ab", "▁a", "▁ab", "▁▁", "▁▁▁▁", "ba", "é"];
        let texts = [
            "ab ".repeat(30_000),
            " ".repeat(100_000) + "ab",
            format!("{}ab{}", "a".repeat(70_000), " ".repeat(70_000)),
            "é😀\u{301}".repeat(30_000),
            "a😀😀 <tools>".repeat(12_000),
            "😀".repeat(40_000) + "a",
            "ab <tool_call>  \t".repeat(10_000) + &" ".repeat(40_000),
        ];
        let mut toks = vec![tok(&normals)];
        for dummy in [true, false] {
            for fb in [true, false] {
                toks.push(keep(&normals, dummy, fb));
            }
        }
        for (k, t) in toks.iter().enumerate() {
            for (i, text) in texts.iter().enumerate() {
                let full = t.encode(text);
                for n in [1usize, 3, 1000, 2049, 9000, full.len().saturating_sub(2), full.len() + 1] {
                    let got = t.encode_prefix(text, n);
                    assert!(got[..] == full[..n.min(full.len())], "tokenizer {k} text {i} n {n}");
                }
            }
        }
    }

    #[test]
    fn vocab_errors() {
        let err = |s: &str| Tokenizer::from_vocab_text(s).expect_err("must fail");
        assert_eq!(err("").kind(), ErrorKind::InvalidVocab);
        assert!(err("<pad>\t0.0\n").message().contains("at least 6"));
        let base = vocab_with(&["a"]);
        assert!(err(&(base.clone() + "b\n")).message().contains("no TAB"));
        assert!(err(&(base.clone() + "\t1.0\n"))
            .message()
            .contains("empty piece"));
        assert!(err(&(base.clone() + "b\tx\n"))
            .message()
            .contains("not a number"));
        assert!(err(&(base.clone() + "b\tinf\n"))
            .message()
            .contains("not finite"));
        assert!(err(&(base.clone() + "b\tNaN\n"))
            .message()
            .contains("not finite"));
        assert!(err(&(base.clone() + "\nb\t1.0\n"))
            .message()
            .contains("is empty"));
        let dup = err(&(base.clone() + "a\t-5.0\n"));
        assert!(
            dup.message().contains("263") && dup.message().contains("264"),
            "{}",
            dup.message()
        );
        let wrong = SPECIALS.replace("<tools>", "<tool>");
        assert!(err(&wrong).message().contains("id 5"));
        // CRLF and a missing final newline are fine.
        let crlf = base.replace('\n', "\r\n");
        assert_eq!(Tokenizer::from_vocab_text(&crlf).expect("crlf").len(), 263);
        assert_eq!(
            Tokenizer::from_vocab_text(base.trim_end())
                .expect("no final newline")
                .len(),
            263
        );
    }
}
