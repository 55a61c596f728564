//! `vocab.txt` (Needle v1) as a source for the BPE core: one `piece<TAB>score` line per
//! id, the six specials first, user-defined symbols up to the first byte piece.

use super::*;

impl Tokenizer {
    /// Parses the contents of `vocab.txt` (see the module docs) and validates it.
    pub fn from_vocab_text(text: &str) -> Result<Tokenizer> {
        if text.is_empty() {
            return Err(vocab_err("vocab is empty".to_string()));
        }
        let body = text.strip_suffix('\n').unwrap_or(text);
        let lines_hint = text.len() / 12 + 8;
        let mut pieces = Strings::with_capacity(lines_hint, text.len());
        let mut scores: Vec<f32> = Vec::with_capacity(lines_hint);
        let mut seen: HashMap<&str, usize, BuildHasherDefault<PieceHasher>> =
            HashMap::with_capacity_and_hasher(lines_hint, Default::default());
        for (idx, raw_line) in body.split('\n').enumerate() {
            let line_no = idx + 1;
            let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
            if line.is_empty() {
                return Err(vocab_err(format!(
                    "vocab line {line_no} (id {idx}) is empty"
                )));
            }
            let Some((piece, score_text)) = line.split_once('\t') else {
                return Err(vocab_err(format!(
                    "vocab line {line_no} (id {idx}) has no TAB between piece and score"
                )));
            };
            if piece.is_empty() {
                return Err(vocab_err(format!(
                    "vocab line {line_no} (id {idx}) has an empty piece"
                )));
            }
            let score_trim = score_text.trim();
            let score: f32 = match score_trim.parse::<f32>() {
                Ok(s) if s.is_finite() => s,
                Ok(_) => {
                    return Err(vocab_err(format!(
                        "vocab line {line_no} (id {idx}): score {score_trim:?} is not finite"
                    )))
                }
                Err(_) => {
                    return Err(vocab_err(format!(
                        "vocab line {line_no} (id {idx}): score {score_trim:?} is not a number"
                    )))
                }
            };
            if let Some(&first) = seen.get(piece) {
                return Err(vocab_err(format!(
                    "vocab piece {piece:?} is duplicated on lines {} and {line_no}",
                    first + 1
                )));
            }
            seen.insert(piece, idx);
            pieces.push(piece);
            scores.push(score);
        }
        if pieces.len() < SPECIAL_PIECES.len() {
            return Err(vocab_err(format!(
                "vocab has {} lines, at least {} are required (the special pieces)",
                pieces.len(),
                SPECIAL_PIECES.len()
            )));
        }
        if u32::try_from(pieces.len()).is_err() {
            return Err(vocab_err(format!(
                "vocab has too many lines ({})",
                pieces.len()
            )));
        }
        for (id, want) in SPECIAL_PIECES.iter().enumerate() {
            if pieces.get(id) != Some(*want) {
                return Err(vocab_err(format!(
                    "vocab line {} (id {id}) must be {want:?}, found {:?}",
                    id + 1,
                    pieces.get(id).unwrap_or("")
                )));
            }
        }
        drop(seen);

        // Piece classes (docs/FORMATS.md#vocabtxt): user-defined = non-byte pieces from id 4 up to the first byte
        // piece; normal = non-byte pieces after it. Without byte pieces only ids 4 and 5 are
        // user-defined.
        let first_byte = pieces
            .iter()
            .enumerate()
            .skip(TOOL_CALL_ID as usize)
            .find(|(_, p)| byte_piece_value(p).is_some())
            .map(|(i, _)| i);
        let user_end = first_byte.unwrap_or(TOOLS_ID as usize + 1);
        let kinds = (0..pieces.len())
            .map(|id| match pieces.get(id).and_then(byte_piece_value) {
                _ if id < TOOL_CALL_ID as usize => PieceKind::Control,
                Some(b) => PieceKind::Byte(b),
                None if id < user_end => PieceKind::User,
                None => PieceKind::Normal,
            })
            .collect();
        Ok(Tokenizer::from_table(pieces, scores, kinds))
    }
}
