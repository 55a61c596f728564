//! Reading `.cact` containers (Needle v2 and v3), as written by upstream's exporters
//! (`cactus-needle` 2.0.8+ for v2, 3.x for v3) and read by needle-rs 0.3.1.
//!
//! Layout (all little-endian):
//! 1. the header: v2 is 29 × u32 + 1 × f32 (120 bytes), v3 is 48 × u32 + 1 × f32 (196 bytes);
//! 2. the codebook, `codebook_len` (= 28) × f32: `cb2[4] | cb3[8] | cb4[16]`, each level
//!    already divided by √group;
//! 3. the directory, `num_tensors` records of 44 bytes (dtype, ndim, pad, shape[4], offset,
//!    nbytes, group, bits), with no names: tensors are identified by position in the canon;
//! 4. the blobs, each at a 64-byte-aligned absolute offset, in directory order.
//!
//! [`Cact::parse`] validates everything a container can know before any tensor is used:
//! every header field in range and consistent with the others, the codebook, every
//! record's dtype/shape/group/bits, every blob inside the file, aligned, in order, not
//! overlapping and exactly as long as its dtype and shape need. Nothing is copied: the
//! records are byte ranges into the [`Storage`]. Every size read from the file goes through
//! checked arithmetic, and every defect is an error naming the header field or the tensor
//! (by directory index); nothing here panics on any input.

mod header;

pub(crate) use header::{Geometry, V2Geometry, V3Geometry};

use super::Storage;
use crate::kernels::f16_to_f32;
use crate::{Error, ErrorKind, Result};

/// First word of a Needle v2 `.cact` (cactus-needle 2.0.8 and later).
pub(crate) const TAG_V2: u32 = 0x05E1_2A83;
/// First word of a Needle v3 `.cact`.
pub(crate) const TAG_V3: u32 = 0x05E1_2A84;
/// First word of the geometry-free v2 container written by cactus-needle 2.0.0.
pub(crate) const TAG_V2_LEGACY: u32 = 0x05E1_2A82;

/// Bytes of the v2 header (`"<29If"`).
pub(crate) const V2_HEADER_LEN: usize = 120;
/// Bytes of the v3 header (`"<48If"`).
pub(crate) const V3_HEADER_LEN: usize = 196;
/// Number of codebook floats: 4 + 8 + 16 levels.
pub(crate) const CODEBOOK_LEN: usize = 28;
/// Bytes of one directory record (`"<BBHIIIIQQII"`).
pub(crate) const RECORD_LEN: usize = 44;
/// Alignment of every blob's absolute file offset.
pub(crate) const ALIGN: u64 = 64;
/// Largest CQ group a record may declare (the batched kernels hold one group on the stack).
pub(crate) const MAX_GROUP: u32 = 1024;
/// Record `bits` value of ternary CQ (three levels in 2-bit crumbs).
pub(crate) const TERNARY_BITS: u32 = 5;
/// Bytes of the tokenizer blob's fixed header (docs/FORMATS.md#tokenizer-blob).
pub(crate) const TOKENIZER_HEADER_LEN: usize = 24;
/// First value of a Whistle speech container's `audio.manifest` (FP32 `[13]`).
pub(crate) const AUDIO_MANIFEST_MAGIC: f32 = 3246.0;
/// Most layers a v3 header can describe (the global mask has 64 bits).
pub(crate) const V3_MAX_LAYERS: u32 = 64;

/// The `.cact` generation, from the first word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Generation {
    /// Needle v2, tag `0x05E12A83`.
    V2,
    /// Needle v3, tag `0x05E12A84`.
    V3,
}

impl Generation {
    /// The generation number (2 or 3).
    pub(crate) fn number(self) -> u32 {
        match self {
            Generation::V2 => 2,
            Generation::V3 => 3,
        }
    }

    fn header_len(self) -> usize {
        match self {
            Generation::V2 => V2_HEADER_LEN,
            Generation::V3 => V3_HEADER_LEN,
        }
    }
}

fn weights(msg: String) -> Error {
    Error::new(ErrorKind::InvalidWeights, msg)
}

fn unsupported(msg: String) -> Error {
    Error::new(ErrorKind::Unsupported, msg)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// What the first word says a file is: `Ok(Some(generation))` for a `.cact`, `Ok(None)` for
/// anything else (not a `.cact` at all), and `Unsupported` for the pre-2.0.8 v2 container.
pub(crate) fn sniff(bytes: &[u8]) -> Result<Option<Generation>> {
    if bytes.len() < 4 {
        return Ok(None);
    }
    match u32_at(bytes, 0) {
        TAG_V2 => Ok(Some(Generation::V2)),
        TAG_V3 => Ok(Some(Generation::V3)),
        TAG_V2_LEGACY => Err(unsupported(
            "this is the pre-2.0.8 Needle v2 .cact container (tag 0x05e12a82, 20-byte header \
             without geometry, written by cactus-needle 2.0.0); it cannot be read: re-export \
             the model with cactus-needle >= 2.0.8"
                .into(),
        )),
        _ => Ok(None),
    }
}

/// Refuses a Whistle speech container: its audio tail starts with `audio.manifest`, an
/// FP32 `[13]` record whose first value is 3246.0 (no text canon tensor is FP32 of length
/// 13: `hada_p1`/`hada_p2` have a power-of-two length). Reads only what lies inside `bytes`;
/// a malformed directory is left to [`Cact::parse`] to report.
pub(crate) fn refuse_speech(bytes: &[u8]) -> Result<()> {
    let hlen = match sniff(bytes) {
        Ok(Some(g)) => g.header_len(),
        _ => return Ok(()),
    };
    if bytes.len() < hlen {
        return Ok(());
    }
    let n = u32_at(bytes, 4) as usize;
    let Some(dir) = (u32_at(bytes, 8) as usize).checked_mul(4).and_then(|c| c.checked_add(hlen)) else {
        return Ok(());
    };
    for i in 0..n {
        let Some(at) = i.checked_mul(RECORD_LEN).and_then(|o| o.checked_add(dir)) else { break };
        let Some(r) = at.checked_add(RECORD_LEN).and_then(|end| bytes.get(at..end)) else { break };
        if r[0] == 2 && r[1] == 1 && u32_at(r, 4) == 13 && u64_at(r, 28) >= 4 {
            let off = u64_at(r, 20);
            let value = usize::try_from(off).ok().and_then(|o| bytes.get(o..o.checked_add(4)?));
            if let Some(v) = value {
                if f32::from_le_bytes([v[0], v[1], v[2], v[3]]) == AUDIO_MANIFEST_MAGIC {
                    return Err(unsupported(format!(
                        "this .cact is a Whistle speech container (tensor #{i} is its audio.manifest); \
                         libneedle runs only the text tool-calling models, not speech"
                    )));
                }
            }
        }
    }
    Ok(())
}
/// A directory record's element type (docs/FORMATS.md#blobs-and-dtypes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dtype {
    /// IEEE binary16, C order.
    F16,
    /// IEEE binary32, C order.
    F32,
    /// Cactus-Quants: packed codebook indices, then FP16 group norms.
    Cq,
    /// Opaque bytes (the tokenizer).
    Raw,
}

impl Dtype {
    fn from_code(c: u8) -> Option<Dtype> {
        Some(match c {
            1 => Dtype::F16,
            2 => Dtype::F32,
            3 => Dtype::Cq,
            4 => Dtype::Raw,
            _ => return None,
        })
    }

    /// The name used in messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Dtype::F16 => "FP16",
            Dtype::F32 => "FP32",
            Dtype::Cq => "CQ",
            Dtype::Raw => "RAW",
        }
    }
}

/// One 44-byte directory record, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub dtype: Dtype,
    pub ndim: u8,
    /// All four shape words; entries at and beyond `ndim` are as written (0 upstream).
    pub dims: [u32; 4],
    /// Absolute file offset of the blob (a multiple of 64).
    pub offset: u64,
    /// Blob length in bytes.
    pub nbytes: u64,
    /// CQ group size (0 for other dtypes).
    pub group: u32,
    /// CQ record width: 2, 3, 4 or 5 (= ternary); 0 for other dtypes.
    pub bits: u32,
}

impl Record {
    /// The logical shape (`ndim` entries).
    pub(crate) fn shape(&self) -> &[u32] {
        &self.dims[..self.ndim as usize]
    }

    /// Number of elements of the logical shape (1 for ndim 0).
    pub(crate) fn elements(&self) -> u64 {
        // Cannot overflow: validated when the directory was read.
        self.shape().iter().map(|&d| d as u64).product()
    }
}

/// Geometry of one CQ matrix (docs/FORMATS.md#cq-group-layout), from a validated record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CqLayout {
    /// Output rows.
    pub out: usize,
    /// Logical input columns.
    pub cols: usize,
    /// Columns padded to a multiple of the group.
    pub cols_pad: usize,
    /// Group size.
    pub group: usize,
    /// Record width (2, 3, 4, or 5 = ternary).
    pub bits: u32,
    /// Packed bytes per row.
    pub row_bytes: usize,
    /// Groups per row (= FP16 norms per row).
    pub groups: usize,
}

impl CqLayout {
    /// Stored bits per index (ternary uses 2-bit crumbs).
    pub(crate) fn index_bits(&self) -> u32 {
        if self.bits == TERNARY_BITS {
            2
        } else {
            self.bits
        }
    }

    /// Bytes of all packed rows (the norms follow).
    pub(crate) fn packed_len(&self) -> usize {
        self.out * self.row_bytes
    }
}

/// Packed length of a CQ blob for `[out, cols]` at `bits`/`group`, or `None` on overflow.
fn cq_sizes(out: u64, cols: u64, group: u64, bits: u32) -> Option<(u64, u64, u64, u64)> {
    let groups = cols.checked_add(group - 1)? / group;
    let cols_pad = groups.checked_mul(group)?;
    let index_bits = if bits == TERNARY_BITS { 2 } else { bits as u64 };
    // group is a multiple of 8, so cols_pad · bits is a whole number of bytes.
    let row_bytes = cols_pad.checked_mul(index_bits)? / 8;
    let packed = out.checked_mul(row_bytes)?;
    let norms = out.checked_mul(groups)?.checked_mul(2)?;
    Some((packed.checked_add(norms)?, cols_pad, row_bytes, groups))
}

/// A parsed, validated `.cact` file. Holds the storage; blobs are ranges into it.
pub(crate) struct Cact {
    storage: Storage,
    generation: Generation,
    geometry: Geometry,
    num_tensors: u32,
    codebook: [f32; CODEBOOK_LEN],
    records: Vec<Record>,
    tokenizer: Option<usize>,
    cq_group: Option<u32>,
}

impl std::fmt::Debug for Cact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cact")
            .field("generation", &self.generation)
            .field("geometry", &self.geometry)
            .field("num_tensors", &self.num_tensors)
            .field("tokenizer", &self.tokenizer)
            .finish_non_exhaustive()
    }
}

impl Cact {
    /// Parses and validates a `.cact` held in `storage`. A file that is not a `.cact` is an
    /// `InvalidWeights` error naming its first word; the pre-2.0.8 v2 container and a
    /// Whistle speech container are `Unsupported`.
    pub(crate) fn parse(storage: Storage) -> Result<Cact> {
        let b = storage.bytes();
        let generation = match sniff(b)? {
            Some(g) => g,
            None if b.len() < 4 => {
                return Err(weights(format!("file of {} bytes ends inside the .cact tag (4 bytes)", b.len())))
            }
            None => {
                return Err(weights(format!("not a .cact file: unknown tag 0x{:08x}", u32_at(b, 0))));
            }
        };
        let hlen = generation.header_len();
        let gname = if generation == Generation::V2 { "v2" } else { "v3" };
        if b.len() < hlen {
            return Err(weights(format!(
                "file of {} bytes ends inside the .cact {gname} header ({hlen} bytes)",
                b.len()
            )));
        }
        let nwords = hlen / 4 - 1;
        let words: Vec<u32> = (0..nwords).map(|i| u32_at(b, 4 * i)).collect();
        let rope_theta = f32::from_bits(u32_at(b, hlen - 4));
        let num_tensors = words[1];
        let codebook_len = words[2];
        if codebook_len as usize != CODEBOOK_LEN {
            return Err(weights(format!(
                ".cact {gname} header field codebook_len: is {codebook_len}, expected {CODEBOOK_LEN}"
            )));
        }
        let geometry = match generation {
            Generation::V2 => {
                let g = V2Geometry::from_words(&words, rope_theta);
                g.validate()?;
                Geometry::V2(g)
            }
            Generation::V3 => {
                let g = V3Geometry::from_words(&words, rope_theta);
                g.validate()?;
                Geometry::V3(g)
            }
        };

        // Codebook.
        let cb_end = hlen + 4 * CODEBOOK_LEN;
        if b.len() < cb_end {
            return Err(weights(format!(
                "file of {} bytes ends inside the .cact codebook (bytes {hlen}..{cb_end})",
                b.len()
            )));
        }
        let mut codebook = [0f32; CODEBOOK_LEN];
        for (i, c) in codebook.iter_mut().enumerate() {
            *c = f32::from_bits(u32_at(b, hlen + 4 * i));
        }
        for (width, lo, hi) in [(2, 0, 4), (3, 4, 12), (4, 12, 28)] {
            let levels = &codebook[lo..hi];
            if let Some(k) = levels.iter().position(|v| !v.is_finite()) {
                return Err(weights(format!(".cact codebook: {width}-bit level {k} is {}", levels[k])));
            }
            if let Some(k) = (1..levels.len()).find(|&k| levels[k] <= levels[k - 1]) {
                return Err(weights(format!(
                    ".cact codebook: {width}-bit levels are not increasing at level {k} ({} after {})",
                    levels[k],
                    levels[k - 1]
                )));
            }
        }

        // Directory.
        let dir_len = (num_tensors as u64).checked_mul(RECORD_LEN as u64);
        let dir_end = dir_len.and_then(|l| l.checked_add(cb_end as u64));
        let dir_end = match dir_end {
            Some(e) if e <= b.len() as u64 => e as usize,
            _ => {
                return Err(weights(format!(
                    ".cact directory of num_tensors = {num_tensors} records ({RECORD_LEN} bytes each, from byte {cb_end}) \
                     runs past the end of the {}-byte file",
                    b.len()
                )))
            }
        };
        if num_tensors == 0 {
            return Err(weights(".cact header field num_tensors: is 0, the file holds no tensors".into()));
        }
        let file_len = b.len() as u64;
        let mut records = Vec::with_capacity(num_tensors as usize);
        let mut prev_end = dir_end as u64;
        let mut cq_group: Option<(u32, usize)> = None;
        for i in 0..num_tensors as usize {
            let r = &b[cb_end + i * RECORD_LEN..cb_end + (i + 1) * RECORD_LEN];
            let rec = read_record(i, r, file_len, prev_end)?;
            if rec.dtype == Dtype::Cq {
                match cq_group {
                    None => cq_group = Some((rec.group, i)),
                    Some((g, first)) if g != rec.group => {
                        return Err(weights(format!(
                            ".cact tensor #{i}: CQ group {} differs from group {g} of tensor #{first} \
                             (the file's codebook is computed for one group)",
                            rec.group
                        )))
                    }
                    _ => {}
                }
            }
            prev_end = rec.offset + rec.nbytes;
            records.push(rec);
        }

        refuse_speech(b)?;

        // The tokenizer: the one RAW record, which both exporters append last
        // (docs/FORMATS.md#tokenizer-blob).
        // v2 readers take the last record when it is RAW, v3 readers the first RAW
        // record; with at most one RAW record, at the end, both rules agree.
        let last = records.len() - 1;
        if let Some(i) = records[..last].iter().position(|r| r.dtype == Dtype::Raw) {
            return Err(weights(format!(
                ".cact tensor #{i}: a RAW record before the last record; only the tokenizer, \
                 appended last, may be RAW"
            )));
        }
        let tokenizer = if records[last].dtype == Dtype::Raw { Some(last) } else { None };
        if let Some(t) = tokenizer {
            let rec = &records[t];
            if rec.nbytes < TOKENIZER_HEADER_LEN as u64 {
                return Err(weights(format!(
                    ".cact tensor #{t} (tokenizer): {} bytes, shorter than the {TOKENIZER_HEADER_LEN}-byte tokenizer header",
                    rec.nbytes
                )));
            }
        }

        let cq_group = cq_group.map(|(g, _)| g);
        Ok(Cact { storage, generation, geometry, num_tensors, codebook, records, tokenizer, cq_group })
    }

    /// v2 or v3.
    pub(crate) fn generation(&self) -> Generation {
        self.generation
    }

    /// The header fields.
    pub(crate) fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The v2 header, if this is a v2 file.
    pub(crate) fn v2(&self) -> Option<&V2Geometry> {
        match &self.geometry {
            Geometry::V2(g) => Some(g),
            Geometry::V3(_) => None,
        }
    }

    /// The v3 header, if this is a v3 file.
    pub(crate) fn v3(&self) -> Option<&V3Geometry> {
        match &self.geometry {
            Geometry::V3(g) => Some(g),
            Geometry::V2(_) => None,
        }
    }

    /// Header word 1: the number of directory records.
    pub(crate) fn num_tensors(&self) -> usize {
        self.num_tensors as usize
    }

    /// The 28 codebook floats as stored.
    pub(crate) fn codebook(&self) -> &[f32; CODEBOOK_LEN] {
        &self.codebook
    }

    /// The stored levels for CQ width `bits` (2, 3 or 4), already divided by √group.
    pub(crate) fn levels(&self, bits: u32) -> Option<&[f32]> {
        match bits {
            2 => Some(&self.codebook[0..4]),
            3 => Some(&self.codebook[4..12]),
            4 => Some(&self.codebook[12..28]),
            _ => None,
        }
    }

    /// The group size shared by every CQ record (`None` if the file has no CQ record).
    pub(crate) fn cq_group(&self) -> Option<u32> {
        self.cq_group
    }

    /// Every directory record, in file order.
    pub(crate) fn records(&self) -> &[Record] {
        &self.records
    }

    /// Record `i`, or an error naming the missing index.
    pub(crate) fn record(&self, i: usize) -> Result<&Record> {
        self.records.get(i).ok_or_else(|| {
            weights(format!(".cact tensor #{i}: the file has only {} tensors", self.records.len()))
        })
    }

    /// The blob bytes of record `i` (validated to lie inside the file).
    pub(crate) fn blob(&self, i: usize) -> Result<&[u8]> {
        let r = self.record(i)?;
        // In range: checked against the file length when parsing.
        Ok(&self.storage.bytes()[r.offset as usize..(r.offset + r.nbytes) as usize])
    }

    /// The directory index of the tokenizer record (`None`: the file carries none).
    pub(crate) fn tokenizer_index(&self) -> Option<usize> {
        self.tokenizer
    }

    /// The RAW tokenizer blob (docs/FORMATS.md#tokenizer-blob), or an error saying the file carries none.
    pub(crate) fn tokenizer_blob(&self) -> Result<&[u8]> {
        match self.tokenizer {
            Some(t) => self.blob(t),
            None => Err(weights(
                ".cact file carries no tokenizer (its last record is not RAW); re-export it with a tokenizer".into(),
            )),
        }
    }

    /// Record `i` as f32 values: FP16 widened exactly, FP32 as stored. Other dtypes are an
    /// error naming the tensor.
    pub(crate) fn floats(&self, i: usize) -> Result<Vec<f32>> {
        let r = self.record(i)?;
        let b = self.blob(i)?;
        match r.dtype {
            Dtype::F16 => Ok(b.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect()),
            Dtype::F32 => Ok(b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
            d => Err(weights(format!(".cact tensor #{i}: is {}, expected FP16 or FP32", d.name()))),
        }
    }

    /// The layout of CQ record `i`, with its packed index bytes and its FP16 norm bytes.
    pub(crate) fn cq(&self, i: usize) -> Result<(CqLayout, &[u8], &[u8])> {
        let r = self.record(i)?;
        if r.dtype != Dtype::Cq {
            return Err(weights(format!(".cact tensor #{i}: is {}, expected CQ", r.dtype.name())));
        }
        let (_, cols_pad, row_bytes, groups) =
            cq_sizes(r.dims[0] as u64, r.dims[1] as u64, r.group as u64, r.bits).ok_or_else(|| {
                Error::new(ErrorKind::Internal, format!(".cact tensor #{i}: CQ size overflow after validation"))
            })?;
        let layout = CqLayout {
            out: r.dims[0] as usize,
            cols: r.dims[1] as usize,
            cols_pad: cols_pad as usize,
            group: r.group as usize,
            bits: r.bits,
            row_bytes: row_bytes as usize,
            groups: groups as usize,
        };
        let b = self.blob(i)?;
        let (packed, norms) = b.split_at(layout.packed_len());
        Ok((layout, packed, norms))
    }

    /// The storage the records point into.
    pub(crate) fn storage(&self) -> &Storage {
        &self.storage
    }
}

/// Reads and validates directory record `i` (bytes `r`); `prev_end` is where the previous
/// blob (or the directory) ends.
fn read_record(i: usize, r: &[u8], file_len: u64, prev_end: u64) -> Result<Record> {
    let e = |msg: String| weights(format!(".cact tensor #{i}: {msg}"));
    let code = r[0];
    let dtype = Dtype::from_code(code)
        .ok_or_else(|| e(format!("unknown dtype code {code} (known: 1 FP16, 2 FP32, 3 CQ, 4 RAW)")))?;
    let ndim = r[1];
    if ndim > 4 {
        return Err(e(format!("ndim is {ndim}, at most 4")));
    }
    let dims = [u32_at(r, 4), u32_at(r, 8), u32_at(r, 12), u32_at(r, 16)];
    let offset = u64_at(r, 20);
    let nbytes = u64_at(r, 28);
    let group = u32_at(r, 36);
    let bits = u32_at(r, 40);
    let shape = &dims[..ndim as usize];
    if let Some(k) = shape.iter().position(|&d| d == 0) {
        return Err(e(format!("{} shape {shape:?} has a zero dimension {k}", dtype.name())));
    }
    // The blob: aligned, after the previous one, inside the file.
    if offset % ALIGN != 0 {
        return Err(e(format!("blob offset {offset} is not a multiple of {ALIGN}")));
    }
    if offset < prev_end {
        return Err(e(format!(
            "blob offset {offset} overlaps the directory or the previous blob (which ends at byte {prev_end})"
        )));
    }
    match offset.checked_add(nbytes) {
        Some(end) if end <= file_len => {}
        _ => {
            return Err(e(format!(
                "blob of {nbytes} bytes at offset {offset} runs past the end of the {file_len}-byte file"
            )))
        }
    }
    // Its length from dtype × shape.
    let elements = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
    let want = match dtype {
        Dtype::F16 | Dtype::F32 => {
            if group != 0 || bits != 0 {
                return Err(e(format!("{} record has group {group} and bits {bits}, both must be 0", dtype.name())));
            }
            let size = if dtype == Dtype::F16 { 2 } else { 4 };
            elements.and_then(|n| n.checked_mul(size))
        }
        Dtype::Raw => {
            if ndim != 0 || group != 0 || bits != 0 {
                return Err(e(format!(
                    "RAW record has ndim {ndim}, group {group}, bits {bits}; all must be 0"
                )));
            }
            Some(nbytes)
        }
        Dtype::Cq => {
            if ndim != 2 {
                return Err(e(format!("CQ record has ndim {ndim}, must be 2 ([out, in])")));
            }
            match bits {
                2 | 3 | 4 | TERNARY_BITS => {}
                1 => {
                    return Err(Error::new(
                        ErrorKind::Unsupported,
                        format!(
                            ".cact tensor #{i}: binary (1-bit) CQ is not supported (no upstream exporter writes it; \
                             widths 2, 3, 4 and ternary are)"
                        ),
                    ))
                }
                _ => return Err(e(format!("CQ bits is {bits}, must be 2, 3, 4 or 5 (ternary)"))),
            }
            if group == 0 || group % 8 != 0 || !group.is_power_of_two() || group > MAX_GROUP {
                return Err(e(format!(
                    "CQ group is {group}, must be a power of two, a multiple of 8 and at most {MAX_GROUP}"
                )));
            }
            cq_sizes(dims[0] as u64, dims[1] as u64, group as u64, bits).map(|s| s.0)
        }
    };
    match want {
        Some(w) if w == nbytes => {}
        Some(w) => {
            let what = match dtype {
                Dtype::Cq => format!("CQ {bits}-bit group {group} {shape:?} (packed rows + FP16 norms)"),
                d => format!("{} {shape:?}", d.name()),
            };
            return Err(e(format!("blob is {nbytes} bytes, {what} needs {w}")));
        }
        None => return Err(e(format!("{} shape {shape:?} is too large", dtype.name()))),
    }
    Ok(Record { dtype, ndim, dims, offset, nbytes, group, bits })
}
