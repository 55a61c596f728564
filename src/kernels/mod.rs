//! Numeric kernels, a leaf of the engine: nothing here knows about files or models.
//!
//! - this file: the run-time instruction-set choice (the one dispatch point) and
//!   half-precision conversions;
//! - [`gemm`]: the f32 panel micro-kernel and packed matrix × matrix product;
//! - [`i4`]: v1's packed INT4 projections and its BF16 tied LM head;
//! - [`cq`]: Cactus-Quants (v2/v3) matrices;
//! - [`vector`]: dot products, norms, softmax, RoPE.
//!
//! All arithmetic is f32 (docs/ARCHITECTURE.md#numerics). Each hot kernel is written once as portable Rust
//! and instantiated for several instruction sets (AVX-512, AVX2+FMA, baseline), picked
//! at run time; the compiler vectorises the fixed-width inner loops.

#![allow(clippy::needless_range_loop)]
// A leaf serves whichever generations are built (cargo features `v1`, `v2`, `v3`): a
// build without some of them leaves kernels unused, and the linker drops them.
#![cfg_attr(not(all(feature = "v1", feature = "v2", feature = "v3")), allow(dead_code, unused_imports))]

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;

pub mod cq;
mod gemm;
mod i4;
mod monarch;
mod vector;

pub(crate) use gemm::{pack_panels, sgemm_packed, NC};
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) use i4::emb_rows;
pub(crate) use monarch::kron_apply;
pub(crate) use i4::{gemm_i4, gemv_cols, lm_head, QMatrix};
pub(crate) use vector::{axpy, dot, rope_apply, rope_table, sigmoid, softmax, zc_rms_norm};

/// Widens a little-endian IEEE binary16 value exactly.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let mant = (h & 0x3ff) as u32;
    let bits = if exp == 0 {
        if mant == 0 {
            sign
        } else {
            // Subnormal: mant * 2^-24, exact in f32.
            let v = mant as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
    } else if exp == 0x1f {
        sign | 0x7f80_0000 | (mant << 13)
    } else {
        sign | ((exp + 112) << 23) | (mant << 13)
    };
    f32::from_bits(bits)
}

/// Widens a bfloat16 bit pattern exactly.
#[inline(always)]
pub fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}


#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
enum Isa {
    Avx512,
    Avx2,
    /// aarch64: Advanced SIMD is part of the base architecture, with fused multiply-add.
    #[cfg(target_arch = "aarch64")]
    Neon,
    Base,
}

fn isa() -> Isa {
    use std::sync::OnceLock;
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::env::var_os("NEEDLE_FORCE_SCALAR").is_some() {
                return Isa::Base;
            }
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma") {
                return Isa::Avx512;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Isa::Avx2;
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            if std::env::var_os("NEEDLE_FORCE_SCALAR").is_none() {
                return Isa::Neon;
            }
        }
        Isa::Base
    })
}

/// Name of the instruction set the kernels run with on this machine.
pub fn isa_name() -> &'static str {
    match isa() {
        Isa::Avx512 => "avx512",
        Isa::Avx2 => "avx2+fma",
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => "neon",
        Isa::Base => "portable",
    }
}

#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// Entry points for the criterion benches (`benches/kernels.rs`); not a stable API.
#[doc(hidden)]
pub mod bench {
    use super::*;

    /// A random packed INT4 matrix `in_feat × out_feat` with its scales.
    pub struct Int4 {
        q: QMatrix,
        bytes: Vec<u8>,
        panel: Vec<f32>,
    }

    fn rnd(seed: &mut u64) -> u64 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        *seed >> 33
    }

    impl Int4 {
        /// Builds a random matrix (deterministic).
        pub fn new(in_feat: usize, out_feat: usize) -> Int4 {
            let gs = in_feat.min(32);
            let in_pad = in_feat.div_ceil(gs) * gs;
            let mut seed = 7;
            let mut bytes = (0..in_pad / 2 * out_feat).map(|_| rnd(&mut seed) as u8).collect::<Vec<u8>>();
            let len = bytes.len();
            for _ in 0..in_pad / gs * out_feat {
                bytes.extend_from_slice(&((rnd(&mut seed) % 1000) as f32 * 1e-5).to_le_bytes());
            }
            let q = QMatrix { in_feat, out_feat, gs, start: 0, len, scale_start: len };
            Int4 { q, bytes, panel: Vec::new() }
        }

        /// `y[rows × out] = x[rows × in] · Ŵ`.
        pub fn gemm(&mut self, x: &[f32], rows: usize, y: &mut [f32]) {
            gemm_i4(x, rows, &self.q, &self.bytes, y, &mut self.panel)
        }
    }

    /// The tied LM head over BF16 rows `emb` (`[logits.len(), z.len()]`).
    pub fn lm_head(z: &[f32], emb: &[u8], logits: &mut [f32]) {
        super::lm_head(z, emb, logits)
    }

    /// Softmax in place.
    pub fn softmax(s: &mut [f32]) {
        super::softmax(s)
    }

    /// `c = alpha · a · b` with `b` (`k × n`, row-major) packed on each call.
    #[allow(clippy::too_many_arguments)]
    pub fn sgemm(a: &[f32], rows: usize, k: usize, b: &[f32], n: usize, c: &mut [f32], packed: &mut Vec<f32>) {
        pack_panels(k, n, packed, |r, cc| b[r * n + cc]);
        sgemm_packed(a, k, rows, k, packed, n, c, n, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::vector::exp16;
    use super::*;

    fn pack(w: &[f32], inf: usize, out: usize) -> (Vec<u8>, Vec<f32>, Vec<f32>) {
        // Returns packed codes, scales and the dequantised reference matrix.
        let gs = inf.min(32);
        let inp = inf.div_ceil(gs) * gs;
        let groups = inp / gs;
        let mut scales = vec![0f32; groups * out];
        for g in 0..groups {
            for o in 0..out {
                let mut m = 0f32;
                for r in g * gs..((g + 1) * gs).min(inf) {
                    m = m.max(w[r * out + o].abs());
                }
                scales[g * out + o] = (m / 7.0).max(1e-8);
            }
        }
        let mut q = vec![0i8; inp * out];
        let mut deq = vec![0f32; inf * out];
        for r in 0..inf {
            for o in 0..out {
                let s = scales[(r / gs) * out + o];
                let v = (w[r * out + o] / s).round_ties_even().clamp(-8.0, 7.0) as i8;
                q[r * out + o] = v;
                deq[r * out + o] = v as f32 * s;
            }
        }
        let mut bytes = vec![0u8; inp / 2 * out];
        for p in 0..inp / 2 {
            for o in 0..out {
                let lo = q[2 * p * out + o] as u8 & 0xf;
                let hi = q[(2 * p + 1) * out + o] as u8 & 0xf;
                bytes[p * out + o] = lo | (hi << 4);
            }
        }
        (bytes, scales, deq)
    }

    #[test]
    fn gemm_matches_naive_dequantised_product() {
        let mut seed = 12345u64;
        let mut rnd = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
        };
        for &(inf, out, rows) in &[(64usize, 48usize, 5usize), (20, 7, 1), (22, 5, 2), (96, 33, 9), (512, 256, 3), (512, 40, 4)] {
            let w: Vec<f32> = (0..inf * out).map(|_| rnd()).collect();
            let x: Vec<f32> = (0..rows * inf).map(|_| rnd()).collect();
            let (mut bytes, scales, deq) = pack(&w, inf, out);
            // Codes at an odd offset, scales unaligned after them (as in a real file).
            bytes.insert(0, 0xAA);
            let len = bytes.len() - 1;
            for sc in &scales {
                bytes.extend_from_slice(&sc.to_le_bytes());
            }
            let q = QMatrix { in_feat: inf, out_feat: out, gs: inf.min(32), start: 1, len, scale_start: 1 + len };
            let mut y = vec![f32::NAN; rows * out];
            let mut panel = Vec::new();
            gemm_i4(&x, rows, &q, &bytes, &mut y, &mut panel);
            if rows == 1 {
                // Any column split gives bit-identical results.
                for split in [0, 1, 17, 64, out / 2, out] {
                    let split = split.min(out);
                    let mut y2 = vec![f32::NAN; out];
                    let (a, b) = y2.split_at_mut(split);
                    gemv_cols(&x, &q, &bytes, a, 0, split);
                    gemv_cols(&x, &q, &bytes, b, split, out);
                    assert!(y2.iter().zip(&y).all(|(p, q)| p.to_bits() == q.to_bits()), "split {split}");
                }
            }
            for l in 0..rows {
                for o in 0..out {
                    let mut s = 0f64;
                    for r in 0..inf {
                        s += x[l * inf + r] as f64 * deq[r * out + o] as f64;
                    }
                    let got = y[l * out + o] as f64;
                    assert!((got - s).abs() < 1e-4 * (1.0 + s.abs()), "{inf}x{out} row {l} col {o}: {got} vs {s}");
                }
            }
        }
    }

    #[test]
    fn lm_head_matches_naive() {
        let d = 40;
        let v = 9;
        let z: Vec<f32> = (0..d).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut emb = Vec::new();
        let mut e = vec![0f32; v * d];
        for i in 0..v * d {
            let f = ((i as f32) * 0.11).cos();
            let b = (f.to_bits() >> 16) as u16;
            e[i] = f32::from_bits((b as u32) << 16);
            emb.extend_from_slice(&b.to_le_bytes());
        }
        let mut logits = vec![0f32; v];
        lm_head(&z, &emb, &mut logits);
        for t in 0..v {
            let s: f32 = (0..d).map(|j| z[j] * e[t * d + j]).sum();
            assert!((logits[t] - s).abs() < 1e-5, "{t}: {} vs {s}", logits[t]);
        }
    }

    #[test]
    fn exp16_is_accurate() {
        let mut worst = 0f64;
        let mut x = -90.0f32;
        while x < 1.0 {
            let mut b = [x; 16];
            exp16(&mut b);
            let want = (x as f64).exp();
            if want > 1e-37 {
                worst = worst.max(((b[0] as f64 - want) / want).abs());
            } else {
                assert!(b[0] < 2e-37);
            }
            x += 0.0137;
        }
        assert!(worst < 3.0 * f32::EPSILON as f64, "max rel err {worst}");
    }

    #[test]
    fn sgemm_matches_naive() {
        for &(rows, k, n) in &[(1usize, 5usize, 3usize), (9, 64, 70), (13, 33, 32), (8, 100, 1)] {
            let a: Vec<f32> = (0..rows * (k + 3)).map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.1).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 5 % 11) as f32 - 5.0) * 0.2).collect();
            let mut packed = Vec::new();
            pack_panels(k, n, &mut packed, |r, c| b[r * n + c]);
            let ldc = n + 2;
            let mut c = vec![f32::NAN; rows * ldc];
            sgemm_packed(&a, k + 3, rows, k, &packed, n, &mut c, ldc, 0.5);
            for i in 0..rows {
                for j in 0..n {
                    let s: f32 = (0..k).map(|r| a[i * (k + 3) + r] * b[r * n + j]).sum::<f32>() * 0.5;
                    assert!((c[i * ldc + j] - s).abs() < 1e-4, "{rows}x{k}x{n} [{i},{j}]");
                }
            }
        }
    }

    #[test]
    fn softmax_handles_all_negative_infinity() {
        let mut s = [f32::NEG_INFINITY; 4];
        softmax(&mut s);
        assert_eq!(s, [0.25; 4]);
        let mut s = [0.0, (2.0f32).ln()];
        softmax(&mut s);
        assert!((s[0] - 1.0 / 3.0).abs() < 1e-6 && (s[1] - 2.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn norm_matches_formula() {
        let mut x = [1.0f32, 2.0, 3.0, 4.0];
        zc_rms_norm(&mut x, &[0.0, 0.5, -1.0, 0.0]);
        let inv = 1.0 / (7.5f32 + 1e-6).sqrt();
        assert!((x[0] - inv).abs() < 1e-6);
        assert!((x[1] - 3.0 * inv).abs() < 1e-6);
        assert_eq!(x[2], 0.0);
    }
}
