//! Cactus-Quants (CQ) matrices: reconstruction against upstream's own decoder, the
//! rotated-activation products against the naive dequantise-then-dot product, thread
//! split invariance and parameter validation.
//!
//! Fixtures: `tests/fixtures/cq/cases.{json,bin}`, recorded by `tools/record_cq_fixtures.py`
//! with cactus-needle 2.0.15's numpy `export._cq_pack` / `_cq_unpack`.

#![allow(clippy::needless_range_loop)]

use std::path::PathBuf;

use needle::kernels::cq::{hadamard, CqError, CqLayout, CqMatrix, CODEBOOK_LEN, TERNARY_BITS};
use serde_json::Value;

struct Case {
    name: String,
    out: usize,
    inp: usize,
    group: u64,
    bits: u32,
    rows: usize,
    codebook: Vec<f32>,
    blob: Vec<u8>,
    /// Upstream's decoding `[out, in]`.
    w: Vec<f32>,
    /// The same reconstruction with the Hadamard sum in float64, rounded to f32.
    w_exact: Vec<f32>,
    x: Vec<f32>,
    /// `x · wᵀ` from upstream's `w`, accumulated in float64.
    y: Vec<f32>,
}

fn fixtures() -> Vec<Case> {
    let dir = match std::env::var_os("NEEDLE_FIXTURES_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures"),
    }
    .join("cq");
    let index: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let bin = std::fs::read(dir.join("cases.bin")).unwrap();
    let f32s = |off: &Value, n: usize| -> Vec<f32> {
        let o = off.as_u64().unwrap() as usize;
        bin[o..o + 4 * n].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    };
    let us = |c: &Value, k: &str| c[k].as_u64().unwrap() as usize;
    index["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let (out, inp, rows) = (us(c, "out"), us(c, "in"), us(c, "rows"));
            let bo = us(c, "blob");
            Case {
                name: c["name"].as_str().unwrap().to_string(),
                out,
                inp,
                group: c["group"].as_u64().unwrap(),
                bits: c["bits"].as_u64().unwrap() as u32,
                rows,
                codebook: f32s(&c["codebook"], CODEBOOK_LEN),
                blob: bin[bo..bo + us(c, "blob_len")].to_vec(),
                w: f32s(&c["w"], out * inp),
                w_exact: f32s(&c["w_exact"], out * inp),
                x: f32s(&c["x"], rows * inp),
                y: f32s(&c["y"], rows * out),
            }
        })
        .collect()
}

fn layout(c: &Case) -> CqLayout {
    CqLayout::new(c.out, c.inp, c.group, c.bits, &c.codebook).unwrap_or_else(|e| panic!("{}: {e}", c.name))
}

/// Fast product of all rows of `x` (`[rows, in]`), through `rotate_rows` + `gemm`.
fn fast(m: &CqMatrix<'_>, x: &[f32], rows: usize) -> Vec<f32> {
    let l = m.layout();
    let mut xh = vec![0f32; rows * l.in_pad()];
    l.rotate_rows(x, rows, &mut xh);
    let mut y = vec![0f32; rows * l.out()];
    m.gemm(&xh, rows, &mut y, l.out(), 0, l.out());
    y
}

/// `Σ_k |w_k x_k|` for every (row, output): the scale a relative error is measured against.
fn abs_scale(w: &[f32], x: &[f32], out: usize, inp: usize, rows: usize) -> Vec<f64> {
    let mut s = vec![0f64; rows * out];
    for r in 0..rows {
        for o in 0..out {
            s[r * out + o] = (0..inp).map(|k| (w[o * inp + k] as f64 * x[r * inp + k] as f64).abs()).sum();
        }
    }
    s
}

#[test]
fn fixtures_cover_every_width_and_group() {
    let cases = fixtures();
    for bits in [2, 3, 4, TERNARY_BITS] {
        assert!(cases.iter().any(|c| c.bits == bits && c.group == 128), "bits {bits} at G 128");
        assert!(cases.iter().any(|c| c.bits == bits && c.group < 128), "bits {bits} at a small G");
    }
    assert!(cases.iter().all(|c| c.inp as u64 % c.group != 0 || c.name.starts_with("b4_g128")));
    for c in &cases {
        // docs/FORMATS.md#cq-group-layout: out·in_pad·b/8 + 2·out·in_pad/G.
        let in_pad = c.inp.div_ceil(c.group as usize) * c.group as usize;
        let b = if c.bits == TERNARY_BITS { 2 } else { c.bits as usize };
        assert_eq!(layout(c).blob_len(), c.out * in_pad * b / 8 + 2 * c.out * in_pad / c.group as usize, "{}", c.name);
        assert_eq!(c.blob.len(), layout(c).blob_len(), "{}", c.name);
    }
}

#[test]
fn g128_codebook_is_the_spec_table() {
    let c = fixtures().into_iter().find(|c| c.group == 128).unwrap();
    let table: [f64; 28] = [
        -1.506671, -0.4514406, 0.4529475, 1.509933, // 2 bit
        -2.141248, -1.333716, -0.7483983, -0.2377402, 0.2500446, 0.7555868, 1.337983, 2.147636, // 3 bit
        -2.70999, -2.044456, -1.594757, -1.233336, -0.9222139, -0.6395374, -0.372664, -0.1144507, 0.1438063,
        0.403989, 0.6726934, 0.9614053, 1.275526, 1.637059, 2.084426, 2.741014, // 4 bit
    ];
    for (v, t) in c.codebook.iter().zip(table) {
        assert!((*v as f64 * 128f64.sqrt() - t).abs() < 2e-6, "{v} vs {t}");
    }
}

#[test]
fn reconstruction_matches_upstream_decoder() {
    let mut worst = 0f64;
    for c in fixtures() {
        let l = layout(&c);
        let m = CqMatrix::new(&l, &c.blob).unwrap();
        m.validate().unwrap();
        let mut row = vec![0f32; l.in_pad()];
        // Both decoders round a G-term sum Σ_k u_k·(±1/√G) (u = level × norm), so a
        // difference is measured in ε·Σ_k|u_k|/√G, u recovered by rotating forward.
        let gl = c.group as usize;
        let mut e = [0f64; 3]; // ours vs upstream, ours vs exact, upstream vs exact (in that unit)
        let mut max_abs = [0f64; 2]; // |Δw| ours vs upstream, ours vs exact
        for o in 0..c.out {
            m.dequantize_row(o, &mut row);
            for g in 0..l.in_pad() / gl {
                let mut u = row[g * gl..(g + 1) * gl].to_vec();
                hadamard(&mut u);
                let sc = u.iter().map(|v| v.abs() as f64).sum::<f64>() / (gl as f64).sqrt() * f32::EPSILON as f64;
                for k in g * gl..((g + 1) * gl).min(c.inp) {
                    let (ours, up, ex) = (row[k] as f64, c.w[o * c.inp + k] as f64, c.w_exact[o * c.inp + k] as f64);
                    max_abs[0] = max_abs[0].max((ours - up).abs());
                    max_abs[1] = max_abs[1].max((ours - ex).abs());
                    if sc == 0.0 {
                        assert_eq!((ours, up), (0.0, 0.0), "{} zero group", c.name);
                        continue;
                    }
                    // The f32 rounding of the exact value costs up to ½ ulp of it.
                    let half_ulp = ex.abs() * f32::EPSILON as f64 / 2.0;
                    e[0] = e[0].max((ours - up).abs() / sc);
                    e[1] = e[1].max(((ours - ex).abs() - half_ulp).max(0.0) / sc);
                    e[2] = e[2].max(((up - ex).abs() - half_ulp).max(0.0) / sc);
                    // Ours is within upstream's own rounding of the exact value, plus one unit.
                    assert!(
                        (ours - up).abs() <= (up - ex).abs() + sc + 2.0 * half_ulp,
                        "{} row {o} col {k}: ours {ours}, upstream {up}, exact {ex}",
                        c.name
                    );
                }
            }
        }
        eprintln!(
            "{}: |Δw| vs upstream {:.2e} ({:.2} ε·Σ|u|/√G), vs exact {:.2e} ({:.2}); upstream vs exact {:.2}",
            c.name, max_abs[0], e[0], max_abs[1], e[1], e[2]
        );
        assert!(e[1] <= 1.0, "{}: {} from the exact reconstruction", c.name, e[1]);
        worst = worst.max(e[0]);
    }
    eprintln!("reconstruction: worst {worst:.2} ε·Σ|u|/√G from upstream");
}

#[test]
fn fast_products_match_naive_and_upstream() {
    for c in fixtures() {
        let l = layout(&c);
        let m = CqMatrix::new(&l, &c.blob).unwrap();
        let y = fast(&m, &c.x, c.rows);
        let scale = abs_scale(&c.w, &c.x, c.out, c.inp, c.rows);
        let mut naive = vec![0f32; c.out];
        let (mut rel_naive, mut rel_up) = (0f64, 0f64);
        for r in 0..c.rows {
            m.gemv_naive(&c.x[r * c.inp..(r + 1) * c.inp], &mut naive);
            for o in 0..c.out {
                let i = r * c.out + o;
                if scale[i] == 0.0 {
                    assert_eq!(y[i], 0.0);
                    continue;
                }
                rel_naive = rel_naive.max((y[i] as f64 - naive[o] as f64).abs() / scale[i]);
                rel_up = rel_up.max((y[i] as f64 - c.y[i] as f64).abs() / scale[i]);
            }
        }
        eprintln!("{}: fast vs naive {rel_naive:.2e}, vs upstream f64 {rel_up:.2e} (relative to Σ|w·x|)", c.name);
        assert!(rel_naive < 1e-5 && rel_up < 1e-5, "{}", c.name);
    }
}

/// A deterministic random CQ blob (norms finite) for wider shapes than the fixtures.
fn random_blob(l: &CqLayout, seed: u64) -> Vec<u8> {
    let mut s = seed;
    let mut next = || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 33) as u32
    };
    let n_norms = l.out() * l.in_pad() / l.group();
    let mut blob: Vec<u8> = (0..l.blob_len() - 2 * n_norms).map(|_| next() as u8).collect();
    if l.bits() == TERNARY_BITS {
        for b in blob.iter_mut() {
            // No crumb 2: clear the high bit of every crumb whose low bit is clear.
            *b &= !(((!*b) & 0x55) << 1);
        }
    }
    for _ in 0..n_norms {
        // f16 in [0.25, 4): exponent 13..16.
        let h = (((13 + next() % 4) << 10) | (next() % 1024)) as u16;
        blob.extend_from_slice(&h.to_le_bytes());
    }
    blob
}

fn codebook() -> Vec<f32> {
    let c = fixtures().into_iter().find(|c| c.group == 128).unwrap();
    c.codebook
}

#[test]
fn wide_matrices_match_naive_and_any_split() {
    let cb = codebook();
    for (out, inp, bits) in [(70usize, 768usize, 2u32), (37, 700, 3), (53, 640, 4), (41, 896, TERNARY_BITS)] {
        let l = CqLayout::new(out, inp, 128, bits, &cb).unwrap();
        let blob = random_blob(&l, out as u64 * 31 + bits as u64);
        let m = CqMatrix::new(&l, &blob).unwrap();
        m.validate().unwrap();
        let rows = 7;
        let x: Vec<f32> = (0..rows * inp).map(|i| (i * 7919 % 1000) as f32 / 500.0 - 1.0).collect();
        let y = fast(&m, &x, rows);
        // Naive reference in f64 from the dequantised rows.
        let mut w = vec![0f32; l.in_pad()];
        let mut rel = 0f64;
        for o in 0..out {
            m.dequantize_row(o, &mut w);
            for r in 0..rows {
                let xr = &x[r * inp..(r + 1) * inp];
                let want: f64 = xr.iter().zip(&w).map(|(a, b)| *a as f64 * *b as f64).sum();
                let sc: f64 = xr.iter().zip(&w).map(|(a, b)| (*a as f64 * *b as f64).abs()).sum();
                rel = rel.max((y[r * out + o] as f64 - want).abs() / sc);
            }
        }
        eprintln!("{out}x{inp} bits {bits}: fast vs f64 naive {rel:.2e}");
        assert!(rel < 1e-5);
        // Each row alone, in ragged column ranges: bit-identical to the batch.
        let mut xh = vec![0f32; l.in_pad()];
        for r in 0..rows {
            l.rotate(&x[r * inp..(r + 1) * inp], &mut xh);
            for cuts in [vec![0, out], vec![0, 1, 17, 18, out], vec![0, out / 3, out / 2, out - 1, out]] {
                let mut yr = vec![f32::NAN; out];
                for pair in cuts.windows(2) {
                    m.gemv(&xh, &mut yr[pair[0]..pair[1]], pair[0], pair[1]);
                }
                for o in 0..out {
                    assert_eq!(yr[o].to_bits(), y[r * out + o].to_bits(), "row {r} col {o} cuts {cuts:?}");
                }
            }
        }
        // Batches of every size up to 7 (every row-block tail), in a strided output.
        for n in 1..=rows {
            let mut xh = vec![0f32; n * l.in_pad()];
            l.rotate_rows(&x[..n * inp], n, &mut xh);
            let ldy = out + 3;
            let mut yb = vec![f32::NAN; n * ldy];
            m.gemm(&xh, n, &mut yb[..], ldy, 5, out);
            for r in 0..n {
                for o in 5..out {
                    assert_eq!(yb[r * ldy + o - 5].to_bits(), y[r * out + o].to_bits());
                }
                assert!(yb[r * ldy + out - 5..r * ldy + ldy].iter().all(|v| v.is_nan()), "wrote past the range");
            }
        }
    }
}

#[test]
fn rotation_is_the_groupwise_hadamard() {
    let cb = codebook();
    let l = CqLayout::new(3, 40, 16, 4, &cb).unwrap();
    let x: Vec<f32> = (0..40).map(|i| i as f32 - 20.0).collect();
    let mut xh = vec![1f32; 48];
    l.rotate(&x, &mut xh);
    for g in 0..3 {
        let mut v = vec![0f32; 16];
        for k in 0..16 {
            let j = g * 16 + k;
            v[k] = if j < 40 { x[j] } else { 0.0 };
        }
        hadamard(&mut v);
        assert_eq!(&xh[g * 16..g * 16 + 16], &v[..]);
    }
}

#[test]
fn every_invalid_parameter_is_an_error() {
    let cb = codebook();
    let err = |out, inp, group, bits, cb: &[f32]| CqLayout::new(out, inp, group, bits, cb).unwrap_err();
    assert_eq!(err(0, 128, 128, 2, &cb), CqError::EmptyShape { out: 0, inp: 128 });
    assert_eq!(err(4, 0, 128, 2, &cb), CqError::EmptyShape { out: 4, inp: 0 });
    for g in [0u64, 1, 2, 4, 12, 24, 96, 1 << 17, 1 << 40, u64::MAX] {
        assert_eq!(err(4, 128, g, 2, &cb), CqError::BadGroup(g));
    }
    assert_eq!(err(4, 128, 128, 1, &cb), CqError::Binary);
    assert!(CqError::Binary.is_unsupported() && CqError::Binary.to_string().contains("binary"));
    for b in [0u32, 6, 7, 8, 16, u32::MAX] {
        let e = err(4, 128, 128, b, &cb);
        assert_eq!(e, CqError::BadBits(b));
        assert!(!e.is_unsupported() && e.to_string().contains(&b.to_string()));
    }
    assert_eq!(err(4, 128, 128, 2, &cb[..27]), CqError::CodebookLength(27));
    assert_eq!(err(4, 128, 128, TERNARY_BITS, &[]), CqError::CodebookLength(0));
    let mut bad = cb.clone();
    bad[17] = f32::NAN;
    assert!(matches!(err(4, 128, 128, 2, &bad), CqError::CodebookValue { index: 17, .. }));
    bad[17] = f32::INFINITY;
    assert!(matches!(err(4, 128, 128, 4, &bad), CqError::CodebookValue { index: 17, .. }));
    assert_eq!(err(usize::MAX, 1 << 20, 128, 4, &cb), CqError::TooLarge);
    assert_eq!(err(4, usize::MAX, 8, 4, &cb), CqError::TooLarge);

    // Blob length: exact.
    let l = CqLayout::new(3, 20, 8, 3, &cb).unwrap();
    let need = 3 * 3 * 3 + 2 * 3 * 3; // codes 3 rows × 24 cols × 3 bits, norms 3 × 3
    assert_eq!(l.blob_len(), need);
    let blob = vec![0u8; need + 1];
    for n in [0, 1, need - 1, need + 1] {
        assert_eq!(CqMatrix::new(&l, &blob[..n]).unwrap_err(), CqError::BlobLength { expected: need, got: n });
    }
    let mut blob = blob[..need].to_vec();
    CqMatrix::new(&l, &blob).unwrap().validate().unwrap();
    // Split form: codes 27 bytes, norms 18.
    CqMatrix::from_parts(&l, &blob[..27], &blob[27..]).unwrap();
    for (a, b) in [(26, 27), (27, 44), (28, 45), (0, 45)] {
        let e = CqMatrix::from_parts(&l, &blob[..a], &blob[b.min(need)..]).unwrap_err();
        assert!(matches!(e, CqError::BlobLength { expected: 45, .. }), "{a} {b}: {e:?}");
    }
    // Non-finite norms: row 1, group 2 is norm index 5.
    for h in [0x7c00u16, 0xfc00, 0x7e00, 0x7c01] {
        blob[27 + 10..27 + 12].copy_from_slice(&h.to_le_bytes());
        let e = CqMatrix::new(&l, &blob).unwrap().validate().unwrap_err();
        assert_eq!(e, CqError::BadNorm { row: 1, group: 2, bits: h });
        assert!(e.to_string().contains("row 1, group 2"));
    }

    // Ternary: crumb 2 at row 1, column 6 (byte 1 of the row's 2, crumb 2).
    let l = CqLayout::new(2, 8, 8, TERNARY_BITS, &cb).unwrap();
    let mut blob = vec![0u8; l.blob_len()];
    blob[..4].copy_from_slice(&[0xff, 0x55, 0x11, 0x00]);
    CqMatrix::new(&l, &blob).unwrap().validate().unwrap();
    blob[3] = 0b0010_0000;
    let e = CqMatrix::new(&l, &blob).unwrap().validate().unwrap_err();
    assert_eq!(e, CqError::TernaryCode { row: 1, col: 6 });
    assert!(e.to_string().contains("ternary"));
}

#[test]
fn ternary_levels_and_zero_norms() {
    let cb = codebook();
    // One row, G = 8: crumbs 0,1,3,0,1,3,0,0 → levels 0,+t,−t,… with norm 1.
    let l = CqLayout::new(1, 8, 8, TERNARY_BITS, &cb).unwrap();
    let crumbs = [0u8, 1, 3, 0, 1, 3, 0, 0];
    let mut blob = vec![0u8; 2];
    for (k, c) in crumbs.iter().enumerate() {
        blob[k / 4] |= c << (2 * (k % 4));
    }
    blob.extend_from_slice(&0x3c00u16.to_le_bytes());
    let m = CqMatrix::new(&l, &blob).unwrap();
    let mut w = vec![0f32; 8];
    m.dequantize_row(0, &mut w);
    hadamard(&mut w); // back to the levels
    let t = (1.2240064f64 / 8f64.sqrt()) as f32;
    let want = [0.0, t, -t, 0.0, t, -t, 0.0, 0.0];
    for (a, b) in w.iter().zip(want) {
        assert!((a - b).abs() < 1e-6, "{w:?}");
    }
    // A zero norm reconstructs to zeros whatever the codes.
    let n = blob.len();
    blob[n - 2..].copy_from_slice(&[0, 0]);
    let m = CqMatrix::new(&l, &blob).unwrap();
    m.dequantize_row(0, &mut w);
    assert!(w.iter().all(|v| *v == 0.0));
}
