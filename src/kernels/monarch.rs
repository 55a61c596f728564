//! The Monarch stage of the v3 HadamardMLP, `out = Aᵀ · Z · B`, and the normalised
//! Walsh–Hadamard transform, compiled for the detected ISA. Both are plain multiplies and
//! adds in a fixed order (never fused: Rust does not contract `a * b + c`), so every ISA
//! gives the same bits as the portable build; only the vector width changes.

use super::isa;

/// `z` (length `ba·bb`) read as the row-major `ba × bb` matrix `Z` becomes `Aᵀ · Z · B`
/// (`a` is `ba × ba`, `b` is `bb × bb`, both row-major), written to `out`. `tmp` is
/// scratch (resized here).
pub(crate) fn kron_apply(z: &[f32], a: &[f32], b: &[f32], ba: usize, bb: usize, tmp: &mut Vec<f32>, out: &mut [f32]) {
    tmp.clear();
    tmp.resize(ba * bb, 0.0);
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports the features (checked by `isa()`).
        super::Isa::Avx512 => unsafe { kron_avx512(z, a, b, ba, bb, tmp, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        super::Isa::Avx2 => unsafe { kron_avx2(z, a, b, ba, bb, tmp, out) },
        _ => kron_body(z, a, b, ba, bb, tmp, out),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn kron_avx512(z: &[f32], a: &[f32], b: &[f32], ba: usize, bb: usize, tmp: &mut [f32], out: &mut [f32]) {
    kron_body(z, a, b, ba, bb, tmp, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn kron_avx2(z: &[f32], a: &[f32], b: &[f32], ba: usize, bb: usize, tmp: &mut [f32], out: &mut [f32]) {
    kron_body(z, a, b, ba, bb, tmp, out)
}

#[inline(always)]
fn kron_body(z: &[f32], a: &[f32], b: &[f32], ba: usize, bb: usize, tmp: &mut [f32], out: &mut [f32]) {
    // T = Z · B
    for i in 0..ba {
        let t = &mut tmp[i * bb..(i + 1) * bb];
        for j in 0..bb {
            let zij = z[i * bb + j];
            let brow = &b[j * bb..(j + 1) * bb];
            for (tm, bjm) in t.iter_mut().zip(brow) {
                *tm += zij * bjm;
            }
        }
    }
    // out = Aᵀ · T
    out[..ba * bb].fill(0.0);
    for i in 0..ba {
        let t = &tmp[i * bb..(i + 1) * bb];
        for k in 0..ba {
            let aik = a[i * ba + k];
            let o = &mut out[k * bb..(k + 1) * bb];
            for (om, tm) in o.iter_mut().zip(t) {
                *om += aik * tm;
            }
        }
    }
}

/// Normalised fast Walsh–Hadamard transform of every `group`-long chunk of `v` in place.
pub(crate) fn hadamard_groups(v: &mut [f32], group: usize) {
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports the features (checked by `isa()`).
        super::Isa::Avx512 => unsafe { hadamard_avx512(v, group) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        super::Isa::Avx2 => unsafe { hadamard_avx2(v, group) },
        _ => hadamard_body(v, group),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn hadamard_avx512(v: &mut [f32], group: usize) {
    hadamard_body(v, group)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn hadamard_avx2(v: &mut [f32], group: usize) {
    hadamard_body(v, group)
}

#[inline(always)]
fn hadamard_body(v: &mut [f32], group: usize) {
    for g in v.chunks_exact_mut(group) {
        super::cq::hadamard_one(g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// The dispatched stage and transform give the portable loops' bits.
    #[test]
    fn dispatched_equals_portable_bitwise() {
        for (ba, bb) in [(32, 32), (16, 32), (4, 8), (3, 5)] {
            let (z, a, b) = (data(ba * bb, 1), data(ba * ba, 2), data(bb * bb, 3));
            let (mut t0, mut t1) = (vec![0f32; ba * bb], Vec::new());
            let (mut o0, mut o1) = (vec![0f32; ba * bb], vec![1f32; ba * bb]);
            kron_body(&z, &a, &b, ba, bb, &mut t0, &mut o0);
            kron_apply(&z, &a, &b, ba, bb, &mut t1, &mut o1);
            assert_eq!(o0.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), o1.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
            assert!(o0.iter().any(|x| *x != 0.0));
        }
        for group in [8, 64, 128, 256] {
            let mut v0 = data(4 * group, 7);
            let mut v1 = v0.clone();
            hadamard_body(&mut v0, group);
            hadamard_groups(&mut v1, group);
            assert_eq!(v0.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), v1.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
        }
    }
}
