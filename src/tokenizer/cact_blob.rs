//! The RAW tokenizer blob of a v2/v3 `.cact` file as a source for the BPE core
//! (docs/FORMATS.md#tokenizer-blob).
//!
//! Layout (little-endian): a 24-byte header — u32 `n_pieces`, u32 `pad_id`, u32 `eos_id`,
//! u32 `bos_id`, u32 `unk_id`, u8 `add_dummy_prefix`, u8 `byte_fallback`, u16 padding — then
//! `n_pieces` records in id order, each f32 score, u8 type, u16 length and `length` bytes of
//! UTF-8 surface. Types: 0 normal, 1 unknown, 2 control, 3 user-defined, 4 byte (`<0xHH>`).
//!
//! Everything is checked before use; any defect is an [`ErrorKind::InvalidWeights`] error
//! that names the field or piece.

use super::*;

/// Bytes of the blob header.
pub(crate) const HEADER_LEN: usize = 24;
/// Bytes of a piece record before its surface.
const RECORD_LEN: usize = 7;

const TYPE_NORMAL: u8 = 0;
const TYPE_UNKNOWN: u8 = 1;
const TYPE_CONTROL: u8 = 2;
const TYPE_USER: u8 = 3;
const TYPE_BYTE: u8 = 4;

fn blob_err(msg: String) -> Error {
    Error::new(ErrorKind::InvalidWeights, format!("tokenizer blob: {msg}"))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

fn type_name(t: u8) -> &'static str {
    match t {
        TYPE_NORMAL => "normal",
        TYPE_UNKNOWN => "unknown",
        TYPE_CONTROL => "control",
        TYPE_USER => "user-defined",
        _ => "byte",
    }
}

impl Tokenizer {
    /// Builds the tokenizer a v2/v3 `.cact` file carries from its RAW tokenizer blob
    /// (see the module docs), with the blob's `add_dummy_prefix` and `byte_fallback`,
    /// `remove_extra_whitespaces` off and `sentencepiece`'s decoding.
    ///
    /// Checks: the header is complete; `n_pieces` > 0 and every record (type, length,
    /// surface) lies inside the blob, with nothing after the last; surfaces are non-empty,
    /// valid UTF-8 and unique; scores are finite; types are known; byte pieces are spelled
    /// `<0xHH>` with each byte at most once, and all 256 are present when `byte_fallback` is
    /// set; the two flags are 0 or 1 and the padding is 0; the pad/EOS/BOS/unknown ids are
    /// pieces, EOS and BOS control pieces and the unknown id the unknown piece. Any defect is
    /// an [`ErrorKind::InvalidWeights`] error naming it.
    pub fn from_cact_blob(blob: &[u8]) -> Result<Tokenizer> {
        if blob.len() < HEADER_LEN {
            return Err(blob_err(format!(
                "{} bytes, shorter than its {HEADER_LEN}-byte header",
                blob.len()
            )));
        }
        let n_u32 = u32_at(blob, 0);
        let [pad, eos, bos, unk] = [4usize, 8, 12, 16].map(|at| u32_at(blob, at));
        let (dummy, byte_fb) = (blob[20], blob[21]);
        let padding = u16::from_le_bytes([blob[22], blob[23]]);
        if n_u32 == 0 {
            return Err(blob_err("header declares 0 pieces".to_string()));
        }
        let n = n_u32 as usize;
        let room = (blob.len() - HEADER_LEN) / RECORD_LEN;
        if n > room {
            return Err(blob_err(format!(
                "header declares {n} pieces but its {} bytes hold at most {room} records",
                blob.len()
            )));
        }
        for (name, v) in [("add_dummy_prefix", dummy), ("byte_fallback", byte_fb)] {
            if v > 1 {
                return Err(blob_err(format!("option {name} is {v}, expected 0 or 1")));
            }
        }
        if padding != 0 {
            return Err(blob_err(format!(
                "header padding (bytes 22..24) is {padding:#06x}, expected 0"
            )));
        }
        for (name, id) in [("pad_id", pad), ("eos_id", eos), ("bos_id", bos), ("unk_id", unk)] {
            if id >= n_u32 {
                return Err(blob_err(format!(
                    "{name} {id} is not a piece id (the blob has {n} pieces)"
                )));
            }
        }

        let mut pieces = Strings::with_capacity(n, blob.len() - HEADER_LEN);
        let mut scores = Vec::with_capacity(n);
        let mut types = Vec::with_capacity(n);
        let mut off = HEADER_LEN;
        for id in 0..n {
            let Some(head) = off.checked_add(RECORD_LEN).filter(|&e| e <= blob.len()) else {
                return Err(blob_err(format!(
                    "piece {id}: record truncated at byte {off} (the blob is {} bytes, {n} pieces declared)",
                    blob.len()
                )));
            };
            let rec = &blob[off..head];
            let score = f32::from_le_bytes([rec[0], rec[1], rec[2], rec[3]]);
            let ty = rec[4];
            let len = u16::from_le_bytes([rec[5], rec[6]]) as usize;
            let Some(end) = head.checked_add(len).filter(|&e| e <= blob.len()) else {
                return Err(blob_err(format!(
                    "piece {id}: surface of {len} bytes at byte {head} runs past the end of the blob ({} bytes)",
                    blob.len()
                )));
            };
            if ty > TYPE_BYTE {
                return Err(blob_err(format!("piece {id}: unknown type {ty} (known: 0..=4)")));
            }
            if !score.is_finite() {
                return Err(blob_err(format!("piece {id}: score {score} is not finite")));
            }
            let surface = match std::str::from_utf8(&blob[head..end]) {
                Ok(s) => s,
                Err(e) => {
                    return Err(blob_err(format!(
                        "piece {id}: surface is not valid UTF-8 (invalid byte at offset {} of {len})",
                        e.valid_up_to()
                    )))
                }
            };
            if surface.is_empty() {
                return Err(blob_err(format!("piece {id} ({} type) has an empty surface", type_name(ty))));
            }
            if u32::try_from(pieces.buf.len() + surface.len()).is_err() {
                return Err(blob_err("surfaces exceed 4 GiB".to_string()));
            }
            pieces.push(surface);
            scores.push(score);
            types.push(ty);
            off = end;
        }
        if off != blob.len() {
            return Err(blob_err(format!(
                "{} bytes follow the last of the {n} pieces its header declares",
                blob.len() - off
            )));
        }

        let mut seen: HashMap<&str, usize, BuildHasherDefault<PieceHasher>> =
            HashMap::with_capacity_and_hasher(n, Default::default());
        let mut byte_seen: [Option<usize>; 256] = [None; 256];
        let mut kinds = Vec::with_capacity(n);
        for (id, (surface, &ty)) in pieces.iter().zip(&types).enumerate() {
            if let Some(first) = seen.insert(surface, id) {
                return Err(blob_err(format!(
                    "pieces {first} and {id} have the same surface {surface:?}"
                )));
            }
            kinds.push(match ty {
                TYPE_NORMAL => PieceKind::Normal,
                TYPE_UNKNOWN => PieceKind::Unknown,
                TYPE_CONTROL => PieceKind::Control,
                TYPE_USER => PieceKind::User,
                _ => {
                    let Some(b) = byte_piece_value(surface) else {
                        return Err(blob_err(format!(
                            "piece {id} is a byte piece but its surface {surface:?} is not <0xHH>"
                        )));
                    };
                    if let Some(first) = byte_seen[b as usize].replace(id) {
                        return Err(blob_err(format!(
                            "pieces {first} and {id} are both the byte piece <0x{b:02X}>"
                        )));
                    }
                    PieceKind::Byte(b)
                }
            });
        }
        drop(seen);
        if byte_fb == 1 {
            if let Some(b) = byte_seen.iter().position(Option::is_none) {
                return Err(blob_err(format!(
                    "option byte_fallback is set but the byte piece <0x{b:02X}> is missing"
                )));
            }
        }
        for (name, id, want) in [
            ("eos_id", eos, TYPE_CONTROL),
            ("bos_id", bos, TYPE_CONTROL),
            ("unk_id", unk, TYPE_UNKNOWN),
        ] {
            let ty = types[id as usize];
            if ty != want {
                return Err(blob_err(format!(
                    "{name} {id} is a {} piece, expected a {} piece",
                    type_name(ty),
                    type_name(want)
                )));
            }
        }
        let opts = Options {
            add_dummy_prefix: dummy == 1,
            remove_extra_whitespaces: false,
            byte_fallback: byte_fb == 1,
            sentencepiece_decode: true,
        };
        let specials = SpecialIds { pad, eos, bos, unk };
        Ok(Tokenizer::from_table_with(pieces, scores, kinds, opts, specials))
    }
}
