//! SentencePiece-compatible BPE tokenizer: one BPE core fed by two sources (v1 `vocab.txt`:
//! docs/ARCHITECTURE.md#tokenizer; the v2/v3 blob: docs/FORMATS.md#tokenizer-blob).
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

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::{Error, ErrorKind, Result};

#[cfg(any(feature = "v2", feature = "v3"))]
mod cact_blob;
mod decode;
mod encode;
#[cfg(feature = "v1")]
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
#[cfg(feature = "v1")]
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
    /// Each id's bytes as the v2/v3 constraint reads them (`token_bytes`), concatenated;
    /// id `i` is `bytes[bytes_ends[i-1]..bytes_ends[i]]`.
    bytes: Vec<u8>,
    bytes_ends: Vec<u32>,
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
    #[cfg_attr(not(any(feature = "v2", feature = "v3")), allow(dead_code))]
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

/// Key of the character pair `a b` in `Tokenizer::joined_pairs`.
fn pair_key(a: char, b: char) -> u64 {
    (a as u64) << 32 | b as u64
}

#[cfg(feature = "v1")]
fn vocab_err(msg: String) -> Error {
    Error::new(ErrorKind::InvalidVocab, msg)
}

impl Tokenizer {
    /// The BPE core's constructor with v1's options and special ids ([`Options::V1`],
    /// [`SpecialIds::V1`]): the pieces in id order, their scores and their kinds, already
    /// validated by the source.
    #[cfg(feature = "v1")]
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
        let mut bytes = Vec::with_capacity(texts.buf.len());
        let mut bytes_ends = Vec::with_capacity(kinds.len());
        for (id, kind) in kinds.iter().enumerate() {
            match *kind {
                PieceKind::Control | PieceKind::Unknown => {}
                PieceKind::Byte(b) => bytes.push(b),
                PieceKind::User | PieceKind::Normal => bytes.extend_from_slice(texts.get(id).unwrap_or("").as_bytes()),
            }
            bytes_ends.push(bytes.len() as u32);
        }
        Tokenizer {
            pieces,
            texts,
            bytes,
            bytes_ends,
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

    /// True for an ordinary piece (neither control, unknown, marker nor byte piece).
    pub fn is_ordinary(&self, id: u32) -> bool {
        matches!(self.kinds.get(id as usize), Some(PieceKind::Normal))
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

    /// The bytes `id` adds to the decoded text, as the v2/v3 constraint reads a token:
    /// `▁` as a space, a byte piece as its byte, nothing for control and unknown pieces
    /// (so EOS passes every mask), a user-defined marker as its text; empty out of range.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        let i = id as usize;
        match self.bytes_ends.get(i) {
            Some(&end) => {
                let start = if i == 0 { 0 } else { self.bytes_ends[i - 1] as usize };
                &self.bytes[start..end as usize]
            }
            None => &[],
        }
    }

    /// The score of `id` as written in `vocab.txt`, or `None` when out of range.
    pub fn score(&self, id: u32) -> Option<f32> {
        self.scores.get(id as usize).copied()
    }

}

#[cfg(test)]
mod tests;
