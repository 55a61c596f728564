use super::CqMatrix;
use core::arch::x86_64::*;

/// The 8 indices of one 8-column chunk: `B` bytes read as a little-endian word.
#[inline(always)]
fn word<const B: usize>(c: &[u8]) -> u32 {
    match B {
        2 => u16::from_le_bytes([c[0], c[1]]) as u32,
        3 => c[0] as u32 | (c[1] as u32) << 8 | (c[2] as u32) << 16,
        _ => u32::from_le_bytes([c[0], c[1], c[2], c[3]]),
    }
}

#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn tile<const B: usize, const R: usize, const C: usize>(
    m: &CqMatrix<'_>,
    x: &[f32],
    y: &mut [f32],
    ldy: usize,
    yoff: usize,
    o: usize,
) {
    let l = m.layout;
    let (g_len, rb, in_pad) = (l.group, l.row_bytes, l.in_pad);
    // No closures in here: they would not inherit the target features.
    let mut crow: [&[u8]; C] = [&[]; C];
    for c in 0..C {
        crow[c] = &m.codes[(o + c) * rb..(o + c + 1) * rb];
    }
    let mut xrow: [&[f32]; R] = [&[]; R];
    for r in 0..R {
        xrow[r] = &x[r * in_pad..(r + 1) * in_pad];
    }
    let b = B as i32;
    let sh = _mm256_setr_epi32(0, b, 2 * b, 3 * b, 4 * b, 5 * b, 6 * b, 7 * b);
    // No mask after the shift: the permute reads only the low 3 bits of each lane
    // (for 2 bits the 4 levels are repeated in the upper half, so the next index's
    // low bit in bit 2 is harmless) and the 4-bit blend reads bit 3 alone (<< 28).
    let mut t = [0f32; 16];
    t.copy_from_slice(&l.levels);
    if B == 2 {
        t.copy_within(0..4, 4);
    }
    // SAFETY: `t` is a [f32; 16]; reads of 8 at 0 and 8.
    let t_lo = unsafe { _mm256_loadu_ps(t.as_ptr()) };
    let t_hi = unsafe { _mm256_loadu_ps(t.as_ptr().add(8)) };
    let mut tot = [[0f32; C]; R];
    for g in 0..l.groups {
        let mut acc = [[_mm256_setzero_ps(); C]; R];
        let mut e = g * g_len;
        while e < (g + 1) * g_len {
            let bo = e / 8 * B;
            let mut lv = [_mm256_setzero_ps(); C];
            for c in 0..C {
                // A whole 4-byte word where the row has one (the bits above this
                // chunk's indices are ignored, as above), else exactly B bytes.
                let w = match crow[c].get(bo..bo + 4) {
                    Some(q) => u32::from_le_bytes([q[0], q[1], q[2], q[3]]),
                    None => word::<B>(&crow[c][bo..bo + B]),
                };
                let v = _mm256_set1_epi32(w as i32);
                let idx = _mm256_srlv_epi32(v, sh);
                lv[c] = if B == 4 {
                    let lo = _mm256_permutevar8x32_ps(t_lo, idx);
                    let hi = _mm256_permutevar8x32_ps(t_hi, idx);
                    _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32::<28>(idx)))
                } else {
                    _mm256_permutevar8x32_ps(t_lo, idx)
                };
            }
            for r in 0..R {
                let xs = &xrow[r][e..e + 8];
                // SAFETY: `xs` holds 8 values (sliced just above).
                let xv = unsafe { _mm256_loadu_ps(xs.as_ptr()) };
                for c in 0..C {
                    acc[r][c] = _mm256_fmadd_ps(lv[c], xv, acc[r][c]);
                }
            }
            e += 8;
        }
        for c in 0..C {
            let nu = m.norm(o + c, g);
            for r in 0..R {
                // SAFETY: AVX2 (this function's features).
                tot[r][c] = unsafe { super::panel::hsum8v(acc[r][c]) }.mul_add(nu, tot[r][c]);
            }
        }
    }
    for r in 0..R {
        y[yoff + r * ldy..yoff + r * ldy + C].copy_from_slice(&tot[r]);
    }
}
