//! The `.cact` container reader (src/container/cact.rs): the committed fixtures parse with
//! their exact geometry, every container-level defect is an error of the right kind that
//! names the header field or the tensor, and no mutation or truncation panics.
//!
//! The reader is crate-private, so this test compiles the module itself against a tiny
//! stand-in for `container::Storage` (the only thing it needs from its parent) and the
//! crate's public `Error`/`ErrorKind`/`Result`/`kernels`.
#![allow(dead_code)]

pub use needle::{kernels, Error, ErrorKind, Result};

/// Stand-in for `container::Storage` (the module's `super::Storage`).
pub(crate) enum Storage {
    Owned(Vec<u8>),
}

impl Storage {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Storage::Owned(v) => v,
        }
    }
}

#[path = "../src/container/cact/mod.rs"]
mod cact;

use cact::{Cact, Dtype, Generation, V2Geometry, V3Geometry};
use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cact/");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}{name}")).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn parse(bytes: Vec<u8>) -> Result<Cact> {
    Cact::parse(Storage::Owned(bytes))
}

fn hlen(b: &[u8]) -> usize {
    if b[0..4] == 0x05E1_2A83u32.to_le_bytes() {
        120
    } else {
        196
    }
}

fn rec_at(b: &[u8], i: usize) -> usize {
    hlen(b) + 112 + 44 * i
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn get32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn get64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Expects an error of `kind` whose message contains every one of `needles`.
#[track_caller]
fn expect_err(bytes: Vec<u8>, kind: ErrorKind, needles: &[&str]) -> String {
    match parse(bytes) {
        Ok(_) => panic!("expected a {kind:?} error mentioning {needles:?}, got Ok"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "wrong kind for {:?}", e.message());
            for n in needles {
                assert!(e.message().contains(n), "message {:?} lacks {n:?}", e.message());
            }
            e.message().to_string()
        }
    }
}

/// Touches every accessor of every record of a parsed file (must never panic).
fn exercise(c: &Cact) -> usize {
    let mut touched = 0;
    for (i, r) in c.records().iter().enumerate() {
        let blob = c.blob(i).unwrap();
        assert_eq!(blob.len() as u64, r.nbytes);
        touched += blob.len();
        match r.dtype {
            Dtype::F16 | Dtype::F32 => touched += c.floats(i).unwrap().len(),
            Dtype::Cq => {
                let (l, packed, norms) = c.cq(i).unwrap();
                assert_eq!(packed.len(), l.out * l.row_bytes);
                assert_eq!(norms.len(), 2 * l.out * l.groups);
                assert!(c.levels(l.bits).is_some() || l.bits == cact::TERNARY_BITS);
            }
            Dtype::Raw => {}
        }
    }
    assert!(c.record(c.records().len()).is_err());
    let _ = c.tokenizer_blob();
    touched
}

// ------------------------------------------------------------------ fixtures

fn v3_tiny_geometry() -> V3Geometry {
    let mut sites = [0u32; 16];
    sites[0] = 1;
    V3Geometry {
        kv_window: 0,
        kv_bits: 8,
        vocab: 300,
        out_vocab: 0,
        d_model: 64,
        num_heads: 4,
        num_kv_heads: 2,
        num_layers: 2,
        qk_head_dim: 16,
        v_head_dim: 16,
        max_seq_len: 128,
        hada_n: 64,
        mhc_lanes: 4,
        sliding_window: 16,
        global_mask_lo: 0b10,
        global_mask_hi: 0,
        qkv_conv_taps: 3,
        engram_slots: 32,
        engram_sub_dim: 32,
        num_engram_tables: 2,
        engram_conv_taps: 4,
        engram_conv_dilation: 3,
        engram_seed_heads: 0,
        num_engram_orders: 2,
        engram_orders: [2, 3, 0, 0],
        num_engram_sites: 1,
        engram_sites: sites,
        rope_theta: 100000.0,
    }
}

fn v2_tiny_geometry() -> V2Geometry {
    V2Geometry {
        kv_window: 32,
        kv_bits: 8,
        vocab: 300,
        d_model: 32,
        num_heads: 4,
        num_kv_heads: 2,
        num_layers: 2,
        head_dim: 8,
        max_seq_len: 128,
        hada_n: 32,
        mhc_lanes: 4,
        engram_slots: 32,
        engram_sub_dim: 16,
        num_engram_tables: 2,
        engram_conv_taps: 4,
        engram_conv_dilation: 3,
        num_engram_orders: 2,
        engram_orders: [2, 3, 0, 0],
        num_engram_sites: 1,
        engram_sites: [1, 0, 0, 0],
        rope_theta: 100000.0,
    }
}

/// The codebook at group 128 (docs/FORMATS.md#codebook): the levels × √128 that upstream's exporter
/// writes at that group (cactus-needle 2.0.15 / 3.2.8 `quantize._lloyd_max_gaussian`).
const CB128: [f32; 28] = [
    -1.506671, -0.4514406, 0.4529475, 1.509933, // 2 bit
    -2.141248, -1.333716, -0.7483983, -0.2377402, 0.2500446, 0.7555868, 1.337983, 2.147636, // 3 bit
    -2.70999, -2.044456, -1.594757, -1.233336, -0.9222139, -0.6395374, -0.372664, -0.1144507, 0.1438063,
    0.403989, 0.6726934, 0.9614053, 1.275526, 1.637059, 2.084426, 2.741014, // 4 bit
];

/// Checks every record against the writer's listing (tests/fixtures/cact/writer_fixtures.json).
fn check_listing(c: &Cact, listing: &Value, group: u32) {
    let tensors = listing["tensors"].as_array().unwrap();
    assert_eq!(c.num_tensors(), tensors.len());
    assert_eq!(c.records().len(), tensors.len());
    let mut prev_end = 0u64;
    for (i, (r, t)) in c.records().iter().zip(tensors).enumerate() {
        let want = match t["dtype"].as_str().unwrap() {
            "fp16" => Dtype::F16,
            "fp32" => Dtype::F32,
            "cq" => Dtype::Cq,
            "raw" => Dtype::Raw,
            d => panic!("dtype {d}"),
        };
        let name = t["name"].as_str().unwrap();
        assert_eq!(r.dtype, want, "tensor #{i} {name}");
        let shape: Vec<u32> = t["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        assert_eq!(r.shape(), &shape[..], "tensor #{i} {name}");
        assert_eq!(r.bits as u64, t["bits"].as_u64().unwrap(), "tensor #{i} {name}");
        assert_eq!(r.group, if want == Dtype::Cq { group } else { 0 }, "tensor #{i} {name}");
        assert_eq!(r.offset % 64, 0);
        assert!(r.offset >= prev_end);
        // Upstream's layout: each blob at the next multiple of 64.
        if i > 0 {
            assert_eq!(r.offset, prev_end.div_ceil(64) * 64, "tensor #{i} {name} not packed as upstream packs");
        }
        prev_end = r.offset + r.nbytes;
    }
}

fn writer_listing() -> Value {
    serde_json::from_slice(&fixture("writer_fixtures.json")).unwrap()
}

#[test]
fn v3_fixture_parses_with_exact_geometry() {
    let bytes = fixture("v3_tiny.cact");
    let len = bytes.len();
    let c = parse(bytes).unwrap();
    assert_eq!(c.generation(), Generation::V3);
    assert_eq!(c.v3().unwrap(), &v3_tiny_geometry());
    assert!(c.v2().is_none());
    let g = c.v3().unwrap();
    assert_eq!(g.orders(), &[2, 3]);
    assert_eq!(g.sites(), &[1]);
    assert!(g.is_global(1) && !g.is_global(0));
    assert_eq!(g.scored_vocab(), 300);
    // 1 + L·27 + 9 + 2 + 4·S + 1 + confidence head (7) + tokenizer.
    assert_eq!(c.num_tensors(), 1 + 2 * 27 + 9 + 2 + 4 + 1 + 7 + 1);
    for (got, want) in c.codebook().iter().zip(CB128) {
        assert!((got * 128f32.sqrt() - want).abs() < 2e-6, "{got} vs {want}");
    }
    assert_eq!(c.codebook()[0..4], [-0.13317214f32, -0.03990209, 0.04003528, 0.13346045]);
    assert_eq!(c.levels(2).unwrap().len(), 4);
    assert_eq!(c.levels(3).unwrap().len(), 8);
    assert_eq!(c.levels(4).unwrap().len(), 16);
    assert_eq!(c.cq_group(), Some(128));
    check_listing(&c, &writer_listing()["v3_tiny"], 128);
    // Tokenizer: the last record, RAW, 300 pieces.
    assert_eq!(c.tokenizer_index(), Some(c.num_tensors() - 1));
    let tok = c.tokenizer_blob().unwrap();
    assert_eq!(u32::from_le_bytes(tok[0..4].try_into().unwrap()), 300);
    // The last blob ends the file (no trailing padding).
    let last = c.records().last().unwrap();
    assert_eq!(last.offset + last.nbytes, len as u64);
    // hada_p1 / hada_p2: FP32 permutations of 0..N.
    let p1 = c.records().iter().position(|r| r.dtype == Dtype::F32).unwrap();
    let mut perm = c.floats(p1).unwrap();
    perm.sort_by(f32::total_cmp);
    assert!(perm.iter().enumerate().all(|(i, &v)| v == i as f32));
    // Embedding: CQ 4-bit [300, 64], padded to one group of 128 per row.
    let (l, packed, norms) = c.cq(0).unwrap();
    assert_eq!((l.out, l.cols, l.cols_pad, l.group, l.bits, l.row_bytes, l.groups), (300, 64, 128, 128, 4, 64, 1));
    assert_eq!(packed.len(), 300 * 64);
    assert_eq!(norms.len(), 600);
    exercise(&c);
}

#[test]
fn v2_fixtures_parse_with_exact_geometry() {
    let listing = writer_listing();
    let c = parse(fixture("v2_tiny.cact")).unwrap();
    assert_eq!(c.generation(), Generation::V2);
    assert_eq!(c.v2().unwrap(), &v2_tiny_geometry());
    // 1 + 14L + 9 + 4S + 1 + manifest + 2 heads × 3 + tokenizer.
    assert_eq!(c.num_tensors(), 1 + 28 + 9 + 4 + 1 + 1 + 6 + 1);
    check_listing(&c, &listing["v2_tiny"], 128);
    let bits: Vec<u32> = c.records().iter().filter(|r| r.dtype == Dtype::Cq).map(|r| r.bits).collect();
    assert_eq!(bits.iter().filter(|&&b| b == 4).count(), 4); // embedding + 3 φ
    assert_eq!(bits.iter().filter(|&&b| b == 2).count(), bits.len() - 4);
    let manifest = c.records().len() - 8;
    assert_eq!(c.floats(manifest).unwrap(), vec![1.0, 2.0]);
    assert_eq!(c.tokenizer_index(), Some(c.num_tensors() - 1));
    exercise(&c);

    // Every width the v2 writer can produce (2, 3, 4, ternary) at group 64.
    let c = parse(fixture("v2_widths.cact")).unwrap();
    check_listing(&c, &listing["v2_widths"], 64);
    let mut widths: Vec<u32> = c.records().iter().filter(|r| r.dtype == Dtype::Cq).map(|r| r.bits).collect();
    widths.sort();
    widths.dedup();
    assert_eq!(widths, vec![2, 3, 4, 5]);
    assert_eq!(c.cq_group(), Some(64));
    let g = c.v2().unwrap();
    assert_eq!((g.num_layers, g.vocab, g.sites()), (1, 280, &[0u32][..]));
    let ternary = c.records().iter().position(|r| r.bits == 5).unwrap();
    let (l, packed, _) = c.cq(ternary).unwrap();
    assert_eq!(l.index_bits(), 2);
    // Ternary crumbs are 3, 0 or 1, never 2.
    assert!(packed.iter().all(|&b| (0..4).all(|k| (b >> (2 * k)) & 3 != 2)));
    // Codebook scaled for group 64.
    assert!((c.codebook()[0] * 8.0 + 1.506671).abs() < 2e-6);
    exercise(&c);
}

#[test]
fn v3_without_tokenizer_and_out_vocab() {
    let c = parse(fixture("v3_notok.cact")).unwrap();
    check_listing(&c, &writer_listing()["v3_notok"], 128);
    let g = c.v3().unwrap();
    assert_eq!((g.num_layers, g.out_vocab, g.scored_vocab(), g.qkv_conv_taps), (3, 290, 290, 0));
    assert_eq!(g.sites(), &[0, 2]);
    assert_eq!(g.global_mask(), 0b101);
    // 1 + L·24 + 9 + 2 + 4·S + 1, no heads, no tokenizer.
    assert_eq!(c.num_tensors(), 1 + 3 * 24 + 9 + 2 + 8 + 1);
    assert_eq!(c.tokenizer_index(), None);
    let e = c.tokenizer_blob().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidWeights);
    assert!(e.message().contains("no tokenizer"));
    exercise(&c);
}

// ------------------------------------------------------------------ tags

#[test]
fn tags() {
    assert_eq!(cact::sniff(&0x05E1_2A83u32.to_le_bytes()).unwrap(), Some(Generation::V2));
    assert_eq!(cact::sniff(&0x05E1_2A84u32.to_le_bytes()).unwrap(), Some(Generation::V3));
    assert_eq!(cact::sniff(b"\x10\x00\x00\x00\x00\x00\x00\x00{}").unwrap(), None);
    assert_eq!(cact::sniff(b"").unwrap(), None);
    assert_eq!(cact::sniff(&[0x84, 0x2A, 0xE1]).unwrap(), None);
    let e = cact::sniff(&0x05E1_2A82u32.to_le_bytes()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    for n in ["pre-2.0.8", "0x05e12a82", "re-export", "2.0.8"] {
        assert!(e.message().contains(n), "{}", e.message());
    }
    // The legacy container as 2.0.0 writes it: 5 words, then the codebook.
    let mut legacy = Vec::new();
    for w in [0x05E1_2A82u32, 1, 28, 0, 8] {
        legacy.extend_from_slice(&w.to_le_bytes());
    }
    legacy.resize(20 + 112 + 44 + 64, 0);
    expect_err(legacy, ErrorKind::Unsupported, &["pre-2.0.8", "cactus-needle >= 2.0.8"]);
    let mut other = fixture("v3_tiny.cact");
    put32(&mut other, 0, 0x05E1_2A85);
    expect_err(other, ErrorKind::InvalidWeights, &["unknown tag 0x05e12a85"]);
    expect_err(vec![0x84, 0x2A], ErrorKind::InvalidWeights, &["2 bytes", "tag"]);
}

#[test]
fn whistle_speech_container_is_refused() {
    // Turn hada_p1 (FP32 [64]) into an audio manifest: FP32 [13] starting with 3246.0.
    let mut b = fixture("v3_tiny.cact");
    let c = parse(b.clone()).unwrap();
    let i = c.records().iter().position(|r| r.dtype == Dtype::F32).unwrap();
    let at = rec_at(&b, i);
    put32(&mut b, at + 4, 13);
    put64(&mut b, at + 28, 52);
    let off = get64(&b, at + 20) as usize;
    b[off..off + 4].copy_from_slice(&3246.0f32.to_le_bytes());
    assert!(cact::refuse_speech(&b).is_err());
    expect_err(b.clone(), ErrorKind::Unsupported, &["Whistle", "speech", &format!("tensor #{i}")]);
    // Not the magic: an ordinary (if odd) FP32 tensor.
    b[off..off + 4].copy_from_slice(&1.0f32.to_le_bytes());
    assert!(cact::refuse_speech(&b).is_ok());
    parse(b).unwrap();
    // refuse_speech never reads outside the bytes, whatever the directory says.
    let mut junk = fixture("v3_tiny.cact");
    put32(&mut junk, 4, u32::MAX);
    put32(&mut junk, 8, u32::MAX);
    assert!(cact::refuse_speech(&junk).is_ok());
    assert!(cact::refuse_speech(&junk[..100]).is_ok());
}

// ------------------------------------------------------------------ header fields

#[test]
fn v3_header_fields_out_of_range() {
    let base = fixture("v3_tiny.cact");
    let nan = f32::NAN.to_bits();
    let cases: &[(usize, u32, &str)] = &[
        (2, 27, "codebook_len"),
        (4, 5, "kv_bits"),
        (5, 0, "vocab"),
        (6, 301, "out_vocab"),
        (7, 0, "d_model"),
        (7, 65, "hada_n"),
        (8, 3, "num_kv_heads"),
        (8, 0, "num_heads"),
        (9, 0, "num_kv_heads"),
        (10, 0, "num_layers"),
        (10, 65, "num_layers"),
        (11, 15, "qk_head_dim"),
        (11, 0, "qk_head_dim"),
        (12, 0, "v_head_dim"),
        (13, 0, "max_seq_len"),
        (14, 128, "hada_n"),
        (14, 63, "hada_n"),
        (15, 0, "mhc_lanes"),
        (17, 1 << 5, "global_mask"),
        (18, 1, "global_mask"),
        (20, 0, "engram_slots"),
        (21, 31, "engram_sub_dim"),
        (22, 3, "num_engram_tables"),
        (22, 0, "num_engram_tables"),
        (23, 0, "engram_conv_taps"),
        (24, 2, "engram_conv_dilation"),
        (26, 0, "num_engram_orders"),
        (26, 5, "num_engram_orders"),
        (27, 0, "engram_orders"),
        (29, 7, "engram_orders"),
        (31, 17, "num_engram_sites"),
        (32, 2, "engram_sites"),
        (33, 1, "engram_sites"),
        (48, nan, "rope_theta"),
        (48, (-1.0f32).to_bits(), "rope_theta"),
        (48, 0, "rope_theta"),
    ];
    for &(word, value, field) in cases {
        let mut b = base.clone();
        put32(&mut b, 4 * word, value);
        let msg = expect_err(b, ErrorKind::InvalidWeights, &[field]);
        assert!(msg.contains("header field") || msg.contains("codebook"), "{msg}");
    }
    // Two sites in order are fine only below num_layers and strictly increasing.
    let mut b = base.clone();
    put32(&mut b, 4 * 31, 2);
    put32(&mut b, 4 * 32, 1);
    put32(&mut b, 4 * 33, 1);
    expect_err(b, ErrorKind::InvalidWeights, &["engram_sites", "does not come after"]);
}

#[test]
fn v2_header_fields_out_of_range() {
    let base = fixture("v2_tiny.cact");
    let cases: &[(usize, u32, &str)] = &[
        (2, 0, "codebook_len"),
        (4, 16, "kv_bits"),
        (5, 0, "vocab"),
        (6, 0, "d_model"),
        (6, 33, "hada_n"),
        (6, 31, "engram_sub_dim"),
        (7, 3, "num_kv_heads"),
        (8, 0, "num_kv_heads"),
        (9, 0, "num_layers"),
        (10, 7, "head_dim"),
        (10, 0, "head_dim"),
        (11, 0, "max_seq_len"),
        (12, 64, "hada_n"),
        (13, 0, "mhc_lanes"),
        (14, 0, "engram_slots"),
        (15, 8, "engram_sub_dim"),
        (16, 3, "num_engram_tables"),
        (16, 0, "num_engram_tables"),
        (17, 0, "engram_conv_taps"),
        (18, 4, "engram_conv_dilation"),
        (19, 5, "num_engram_orders"),
        (19, 0, "num_engram_orders"),
        (20, 0, "engram_orders"),
        (23, 1, "engram_orders"),
        (24, 5, "num_engram_sites"),
        (25, 2, "engram_sites"),
        (27, 9, "engram_sites"),
        (29, f32::INFINITY.to_bits(), "rope_theta"),
    ];
    for &(word, value, field) in cases {
        let mut b = base.clone();
        put32(&mut b, 4 * word, value);
        let msg = expect_err(b, ErrorKind::InvalidWeights, &[field, "v2"]);
        assert!(msg.contains("header field"), "{msg}");
    }
}

#[test]
fn codebook_defects() {
    let base = fixture("v3_tiny.cact");
    for (k, v, needle) in [(0usize, f32::NAN, "2-bit level 0"), (5, f32::INFINITY, "3-bit level 1"), (13, -10.0, "4-bit levels are not increasing")] {
        let mut b = base.clone();
        b[196 + 4 * k..200 + 4 * k].copy_from_slice(&v.to_le_bytes());
        expect_err(b, ErrorKind::InvalidWeights, &["codebook", needle]);
    }
}

// ------------------------------------------------------------------ directory and blobs

#[test]
fn directory_defects_name_the_tensor() {
    let base = fixture("v3_tiny.cact");
    let c = parse(base.clone()).unwrap();
    let n = c.num_tensors();
    let cq = 2; // layer 0 q_proj: CQ [64, 64]
    let fp = 1; // layer 0 norm_in: FP16 [64]
    assert_eq!(c.records()[cq].dtype, Dtype::Cq);
    assert_eq!(c.records()[fp].dtype, Dtype::F16);
    let edit = |i: usize, f: &dyn Fn(&mut Vec<u8>, usize)| {
        let mut b = base.clone();
        let at = rec_at(&b, i);
        f(&mut b, at);
        b
    };
    let tag = |i: usize| format!("tensor #{i}");
    // dtype, ndim, zero dimension.
    expect_err(edit(fp, &|b, at| b[at] = 9), ErrorKind::InvalidWeights, &[&tag(fp), "unknown dtype code 9"]);
    expect_err(edit(fp, &|b, at| b[at] = 0), ErrorKind::InvalidWeights, &[&tag(fp), "unknown dtype"]);
    expect_err(edit(fp, &|b, at| b[at + 1] = 5), ErrorKind::InvalidWeights, &[&tag(fp), "ndim is 5"]);
    expect_err(edit(fp, &|b, at| put32(b, at + 4, 0)), ErrorKind::InvalidWeights, &[&tag(fp), "zero dimension"]);
    // Alignment, overlap, order, bounds.
    expect_err(edit(cq, &|b, at| { let o = get64(b, at + 20); put64(b, at + 20, o + 32) }), ErrorKind::InvalidWeights, &[&tag(cq), "not a multiple of 64"]);
    expect_err(edit(cq, &|b, at| { let o = get64(b, at - 44 + 20); put64(b, at + 20, o) }), ErrorKind::InvalidWeights, &[&tag(cq), "overlaps"]);
    expect_err(edit(0, &|b, at| put64(b, at + 20, 64)), ErrorKind::InvalidWeights, &[&tag(0), "overlaps the directory"]);
    let last = n - 1;
    expect_err(edit(last, &|b, at| put64(b, at + 28, u64::MAX)), ErrorKind::InvalidWeights, &[&tag(last), "runs past the end"]);
    expect_err(edit(last, &|b, at| put64(b, at + 20, u64::MAX - 63)), ErrorKind::InvalidWeights, &[&tag(last), "runs past the end"]);
    // Blob lengths: FP16, CQ (one byte short, one norm short).
    expect_err(edit(fp, &|b, at| { let l = get64(b, at + 28); put64(b, at + 28, l - 2) }), ErrorKind::InvalidWeights, &[&tag(fp), "blob is 126 bytes", "needs 128"]);
    expect_err(edit(cq, &|b, at| { let l = get64(b, at + 28); put64(b, at + 28, l - 1) }), ErrorKind::InvalidWeights, &[&tag(cq), "CQ 4-bit group 128", "needs"]);
    expect_err(edit(fp, &|b, at| put32(b, at + 4, 65)), ErrorKind::InvalidWeights, &[&tag(fp), "needs 130"]);
    expect_err(edit(fp, &|b, at| { b[at + 1] = 4; for k in 1..4 { put32(b, at + 4 + 4 * k, u32::MAX) } }), ErrorKind::InvalidWeights, &[&tag(fp), "too large"]);
    // CQ bits and group.
    expect_err(edit(cq, &|b, at| put32(b, at + 40, 6)), ErrorKind::InvalidWeights, &[&tag(cq), "bits is 6"]);
    expect_err(edit(cq, &|b, at| put32(b, at + 40, 0)), ErrorKind::InvalidWeights, &[&tag(cq), "bits is 0"]);
    expect_err(edit(cq, &|b, at| put32(b, at + 40, 1)), ErrorKind::Unsupported, &[&tag(cq), "binary (1-bit)"]);
    for g in [0u32, 4, 96, 100, 2048] {
        expect_err(edit(cq, &|b, at| put32(b, at + 36, g)), ErrorKind::InvalidWeights, &[&tag(cq), &format!("CQ group is {g}")]);
    }
    expect_err(edit(cq, &|b, at| { b[at + 1] = 3; put32(b, at + 12, 1) }), ErrorKind::InvalidWeights, &[&tag(cq), "CQ record has ndim 3"]);
    // A group that is valid but differs from the file's (size fixed to match it).
    expect_err(edit(cq, &|b, at| { put32(b, at + 36, 64); put64(b, at + 28, 64 * 32 + 64 * 2) }), ErrorKind::InvalidWeights, &[&tag(cq), "differs from group 128"]);
    // Group/bits on a float tensor, RAW shape rules, RAW before the last record.
    expect_err(edit(fp, &|b, at| put32(b, at + 36, 128)), ErrorKind::InvalidWeights, &[&tag(fp), "both must be 0"]);
    expect_err(edit(last, &|b, at| { b[at + 1] = 1; put32(b, at + 4, 1) }), ErrorKind::InvalidWeights, &[&tag(last), "RAW record has ndim 1"]);
    expect_err(edit(fp, &|b, at| { b[at] = 4; b[at + 1] = 0 }), ErrorKind::InvalidWeights, &[&tag(fp), "only the tokenizer"]);
    // A tokenizer blob too short for its header.
    expect_err(edit(last, &|b, at| put64(b, at + 28, 23)), ErrorKind::InvalidWeights, &[&tag(last), "tokenizer", "24-byte"]);
    // num_tensors: zero, or a directory past the end of the file.
    let mut b = base.clone();
    put32(&mut b, 4, 0);
    expect_err(b, ErrorKind::InvalidWeights, &["num_tensors", "is 0"]);
    let mut b = base.clone();
    put32(&mut b, 4, u32::MAX);
    expect_err(b, ErrorKind::InvalidWeights, &["directory", "num_tensors = 4294967295", "past the end"]);
}

#[test]
fn v2_directory_defects() {
    // The same checks run on v2 (120-byte header) and on the other widths.
    let base = fixture("v2_widths.cact");
    let c = parse(base.clone()).unwrap();
    let t = c.records().iter().position(|r| r.bits == 5).unwrap();
    let three = c.records().iter().position(|r| r.bits == 3).unwrap();
    for (i, delta) in [(t, 1i64), (t, -1), (three, 1), (three, -2)] {
        let mut b = base.clone();
        let at = rec_at(&b, i);
        let l = get64(&b, at + 28) as i64 + delta;
        put64(&mut b, at + 28, l as u64);
        expect_err(b, ErrorKind::InvalidWeights, &[&format!("tensor #{i}"), "needs"]);
    }
    // Ternary and 3-bit blob sizes: [out, in_pad·2/8 | ·3/8] + FP16 norms.
    let (l, packed, norms) = c.cq(three).unwrap();
    assert_eq!(l.row_bytes, l.cols_pad * 3 / 8);
    assert_eq!(packed.len() + norms.len(), l.out * l.cols_pad * 3 / 8 + 2 * l.out * l.cols_pad / 64);
}

// ------------------------------------------------------------------ truncation

#[test]
fn truncation_at_every_section_boundary() {
    for name in ["v3_tiny.cact", "v2_tiny.cact", "v2_widths.cact", "v3_widths.cact", "v3_notok.cact", "upstream_v3.cact", "upstream_v2.cact"] {
        let b = fixture(name);
        let c = parse(b.clone()).unwrap();
        let h = hlen(&b);
        let cb_end = h + 112;
        let dir_end = cb_end + 44 * c.num_tensors();
        let mut cuts = vec![(0usize, "tag"), (3, "tag"), (4, "header"), (h - 4, "header"), (h - 1, "header"), (h, "codebook"), (cb_end - 1, "codebook"), (cb_end, "directory"), (cb_end + 44, "directory"), (dir_end - 1, "directory")];
        for r in c.records() {
            cuts.push((r.offset as usize, "runs past the end"));
            cuts.push((r.offset as usize + r.nbytes as usize - 1, "runs past the end"));
        }
        cuts.push((dir_end, "runs past the end"));
        for (cut, what) in cuts {
            let e = parse(b[..cut].to_vec()).expect_err(&format!("{name} cut at {cut} parsed"));
            assert_eq!(e.kind(), ErrorKind::InvalidWeights, "{name} cut at {cut}: {}", e.message());
            assert!(e.message().contains(what), "{name} cut at {cut}: {:?} lacks {what:?}", e.message());
        }
        // The last blob's truncation names the last tensor.
        let last = c.num_tensors() - 1;
        let e = parse(b[..b.len() - 1].to_vec()).unwrap_err();
        assert!(e.message().contains(&format!("tensor #{last}")), "{}", e.message());
    }
}

// ------------------------------------------------------------------ robustness

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_mutations_and_truncations_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut ok, mut err) = (0usize, 0usize);
    for name in ["v2_widths.cact", "v3_tiny.cact"] {
        let base = fixture(name);
        let c = parse(base.clone()).unwrap();
        let meta_end = hlen(&base) + 112 + 44 * c.num_tensors();
        for round in 0..3000 {
            let mut b = base.clone();
            // Mostly the header, codebook and directory, where every byte matters.
            let edits = 1 + rng.below(3);
            for _ in 0..edits {
                let at = if rng.below(4) == 0 { rng.below(b.len()) } else { rng.below(meta_end) };
                b[at] = match rng.below(4) {
                    0 => 0,
                    1 => 0xFF,
                    2 => b[at] ^ (1 << rng.below(8)),
                    _ => rng.next() as u8,
                };
            }
            if round % 3 == 0 {
                let cut = rng.below(b.len() + 1);
                b.truncate(cut);
            }
            let _ = cact::refuse_speech(&b);
            match parse(b) {
                Ok(c) => {
                    exercise(&c);
                    ok += 1;
                }
                Err(e) => {
                    assert!(!e.message().is_empty());
                    assert!(matches!(e.kind(), ErrorKind::InvalidWeights | ErrorKind::Unsupported), "{e}");
                    err += 1;
                }
            }
        }
    }
    eprintln!("mutations: {ok} parsed, {err} refused");
    assert_eq!(ok + err, 6000);
    // Both outcomes occur: payload bytes (norms, codes) are free, metadata is checked.
    assert!(ok > 100 && err > 1000, "ok {ok}, err {err}");
}

// ------------------------------------------------------------------ upstream's exporter

/// Files written by upstream's own exporters (tools/record_cact_upstream.py: cactus-needle
/// 3.2.8 for v3, 2.0.15 for v2) parse, with the geometry the recording script set, and the
/// project's writer produces the same header words, codebook bytes and directory layout
/// at the same geometry.
#[test]
fn upstream_exporter_files_match_the_writer() {
    let meta: Value = serde_json::from_slice(&fixture("upstream.json")).unwrap();
    for (gen, up_name, mine_name) in [("v3", "upstream_v3.cact", "v3_tiny.cact"), ("v2", "upstream_v2.cact", "v2_tiny.cact")] {
        let up_bytes = fixture(up_name);
        let mine_bytes = fixture(mine_name);
        let h = hlen(&up_bytes);
        // The words upstream.json recorded are the file's words.
        let words: Vec<u64> = meta[gen]["vs_writer"]["header_words"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        assert_eq!(words.len(), h / 4);
        for (k, &w) in words.iter().enumerate() {
            assert_eq!(get32(&up_bytes, 4 * k) as u64, w, "{up_name} word {k}");
        }
        assert_eq!(up_bytes[..h + 112], mine_bytes[..h + 112], "{gen}: header words and codebook");
        assert_eq!(up_bytes.len(), mine_bytes.len());
        let up = parse(up_bytes).unwrap();
        let mine = parse(mine_bytes).unwrap();
        assert_eq!(up.geometry(), mine.geometry());
        assert_eq!(up.codebook(), mine.codebook());
        assert_eq!(up.records(), mine.records(), "{gen}: directory layout");
        assert_eq!(up.tokenizer_blob().unwrap(), mine.tokenizer_blob().unwrap());
        exercise(&up);
    }
    let up = parse(fixture("upstream_v3.cact")).unwrap();
    assert_eq!(up.v3().unwrap(), &v3_tiny_geometry());
    assert!(up.records().iter().filter(|r| r.dtype == Dtype::Cq).all(|r| r.bits == 4 && r.group == 128));
    let up = parse(fixture("upstream_v2.cact")).unwrap();
    assert_eq!(up.v2().unwrap(), &v2_tiny_geometry());
}

/// The fuzz seed corpus (fuzz/corpus/cact, `make_cact.py --fuzz-seeds`): group 8, every
/// width, v3 router and confidence heads, a v3 file without tokenizer, the legacy tag.
#[test]
fn fuzz_seeds_parse() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/cact/");
    let read = |n: &str| std::fs::read(format!("{dir}{n}")).unwrap();
    let c = parse(read("v2_d8.cact")).unwrap();
    assert_eq!((c.cq_group(), c.v2().unwrap().d_model), (Some(8), 8));
    exercise(&c);
    let c = parse(read("v3_d8.cact")).unwrap();
    let g = c.v3().unwrap();
    assert_eq!((g.out_vocab, g.scored_vocab(), g.vocab), (280, 280, 290));
    let tok = c.tokenizer_blob().unwrap();
    assert_eq!(u32::from_le_bytes(tok[0..4].try_into().unwrap()), 280);
    exercise(&c);
    let c = parse(read("v3_d8_notok.cact")).unwrap();
    assert_eq!((c.v3().unwrap().num_engram_sites, c.tokenizer_index()), (0, None));
    exercise(&c);
    expect_err(read("legacy_v2_tag.cact"), ErrorKind::Unsupported, &["pre-2.0.8"]);
}

/// v3 at every CQ width (2, 3, 4, ternary) at group 32: what the v3 exporter cannot
/// write but the format holds (needle-rs 0.3.1 loads this file: upstream.json).
#[test]
fn v3_every_width() {
    let c = parse(fixture("v3_widths.cact")).unwrap();
    check_listing(&c, &writer_listing()["v3_widths"], 32);
    let mut widths: Vec<u32> = c.records().iter().filter(|r| r.dtype == Dtype::Cq).map(|r| r.bits).collect();
    widths.sort();
    widths.dedup();
    assert_eq!(widths, vec![2, 3, 4, 5]);
    assert!((c.codebook()[27] * 32f32.sqrt() - 2.741014).abs() < 2e-6);
    let g = c.v3().unwrap();
    assert_eq!((g.d_model, g.hada_n, g.engram_sub_dim, g.num_engram_tables), (32, 32, 16, 2));
    exercise(&c);
}
