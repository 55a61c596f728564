use super::*;

fn cb() -> Vec<f32> {
    (0..28).map(|i| (i as f32 - 13.5) * 0.01).collect()
}

#[test]
fn hadamard_is_orthonormal_involution() {
    let mut v: Vec<f32> = (0..64).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
    let orig = v.clone();
    hadamard(&mut v);
    let n0: f32 = orig.iter().map(|a| a * a).sum();
    let n1: f32 = v.iter().map(|a| a * a).sum();
    assert!((n0 - n1).abs() < 1e-3 * n0);
    // Row 1 of Sylvester H is (+, −, +, −, …).
    let alt: f32 = orig.iter().enumerate().map(|(i, a)| if i % 2 == 0 { *a } else { -*a }).sum();
    assert!((v[1] - alt / 8.0).abs() < 1e-5);
    hadamard(&mut v);
    for (a, b) in v.iter().zip(&orig) {
        assert!((a - b).abs() < 1e-5);
    }
}

/// The AVX2 tile and the portable FMA tile run the same operations: bit-identical.
#[cfg(target_arch = "x86_64")]
#[test]
fn avx2_tile_equals_portable_fma_tile() {
    if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
        return;
    }
    for (bits, group, inp) in [(2u32, 128u64, 300usize), (3, 16, 72), (4, 64, 200), (TERNARY_BITS, 8, 44)] {
        let out = 23;
        let l = CqLayout::new(out, inp, group, bits, &cb()).unwrap();
        let mut s = 99u64;
        let mut blob: Vec<u8> = (0..l.blob_len())
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (s >> 40) as u8
            })
            .collect();
        let nn = 2 * out * l.groups;
        let n = blob.len();
        for (i, v) in blob[n - nn..].chunks_exact_mut(2).enumerate() {
            v.copy_from_slice(&(0x3000u16 + (i as u16 * 37) % 0x0c00).to_le_bytes());
        }
        if bits == TERNARY_BITS {
            for b in blob[..n - nn].iter_mut() {
                *b &= 0x55;
            }
        }
        let m = CqMatrix::new(&l, &blob).unwrap();
        m.validate().unwrap();
        for rows in 1..=5 {
            let x: Vec<f32> = (0..rows * inp).map(|i| ((i * 31 % 97) as f32 - 48.0) * 0.02).collect();
            let mut xh = vec![0f32; rows * l.in_pad];
            l.rotate_rows(&x, rows, &mut xh);
            let mut y0 = vec![0f32; rows * out];
            let mut y1 = vec![1f32; rows * out];
            run::<true, false>(Args { m: &m, xhat: &xh, rows, y: &mut y0, ldy: out, c_lo: 0, c_hi: out });
            run::<true, true>(Args { m: &m, xhat: &xh, rows, y: &mut y1, ldy: out, c_lo: 0, c_hi: out });
            for (a, b) in y0.iter().zip(&y1) {
                assert_eq!(a.to_bits(), b.to_bits(), "bits {bits} rows {rows}");
            }
        }
        // Many rows (the decoded-panel path) against one row at a time (the tile).
        for rows in [8usize, 11, 13] {
            let x: Vec<f32> = (0..rows * inp).map(|i| ((i * 17 % 89) as f32 - 44.0) * 0.03).collect();
            let mut xh = vec![0f32; rows * l.in_pad];
            l.rotate_rows(&x, rows, &mut xh);
            let (lo, hi) = (3, out);
            let mut many = vec![0f32; rows * (hi - lo)];
            run::<true, true>(Args { m: &m, xhat: &xh, rows, y: &mut many, ldy: hi - lo, c_lo: lo, c_hi: hi });
            for r in 0..rows {
                let mut one = vec![0f32; hi - lo];
                let xr = &xh[r * l.in_pad..(r + 1) * l.in_pad];
                run::<true, true>(Args { m: &m, xhat: xr, rows: 1, y: &mut one, ldy: hi - lo, c_lo: lo, c_hi: hi });
                let got: Vec<u32> = many[r * (hi - lo)..(r + 1) * (hi - lo)].iter().map(|v| v.to_bits()).collect();
                assert_eq!(got, one.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "bits {bits} rows {rows} row {r}");
            }
        }
    }
}

#[test]
fn code_reader_matches_lsb_first_layout() {
    // 3-bit, G = 8, one row: indices 0..8 packed LSB-first into 3 bytes.
    let l = CqLayout::new(1, 8, 8, 3, &cb()).unwrap();
    let mut word = 0u32;
    for k in 0..8u32 {
        word |= k << (3 * k);
    }
    let mut blob = word.to_le_bytes()[..3].to_vec();
    blob.extend_from_slice(&0x3c00u16.to_le_bytes());
    let m = CqMatrix::new(&l, &blob).unwrap();
    for k in 0..8 {
        assert_eq!(m.code(0, k), k);
    }
}
