//! Ids back to text: v1's piece-text concatenation, `sentencepiece`'s `Decode` for a blob.

use super::{PieceKind, Tokenizer, SPACE_SYMBOL};

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

impl Tokenizer {
    /// Turns `ids` back into text; ids out of range are skipped.
    ///
    /// v1 (`vocab.txt`): concatenates the piece texts and trims leading Unicode whitespace
    /// (docs/ARCHITECTURE.md#tokenizer); byte pieces stay literal (`<0xE2>`).
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
}
