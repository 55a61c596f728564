//! Cactus-Quants kernel micro-benchmarks at 2 bits, G = 128: the rotated-activation gemv
//! (one FWHT per input group, then codebook-decoded rows scaled by the group norms)
//! against the naive dequantise-then-dot product, and the small-batch GEMM (prefill).
//!
//! `cargo bench --bench cq` (add `-- --quick` for a short run).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use needle::kernels::cq::{CqLayout, CqMatrix, CODEBOOK_LEN};

/// The G = 128 Lloyd–Max levels (docs/FORMATS.md#codebook) divided by √128, as a `.cact` header holds them.
fn codebook() -> Vec<f32> {
    let t: [f64; CODEBOOK_LEN] = [
        -1.506671, -0.4514406, 0.4529475, 1.509933, -2.141248, -1.333716, -0.7483983, -0.2377402, 0.2500446,
        0.7555868, 1.337983, 2.147636, -2.70999, -2.044456, -1.594757, -1.233336, -0.9222139, -0.6395374,
        -0.372664, -0.1144507, 0.1438063, 0.403989, 0.6726934, 0.9614053, 1.275526, 1.637059, 2.084426, 2.741014,
    ];
    t.iter().map(|v| (v / 128f64.sqrt()) as f32).collect()
}

/// A deterministic random 2-bit blob for `l` (norms in [0.25, 4)).
fn blob(l: &CqLayout) -> Vec<u8> {
    let mut s = 7u64;
    let mut next = || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 33) as u32
    };
    let n_norms = l.out() * l.in_pad() / l.group();
    let mut b: Vec<u8> = (0..l.blob_len() - 2 * n_norms).map(|_| next() as u8).collect();
    for _ in 0..n_norms {
        b.extend_from_slice(&((((13 + next() % 4) << 10) | (next() % 1024)) as u16).to_le_bytes());
    }
    b
}

fn cq2(c: &mut Criterion) {
    let mut g = c.benchmark_group("cq2");
    // [out, in]: a square projection and a down projection (in = 2048).
    for &(out, inp) in &[(768usize, 768usize), (768, 2048)] {
        let l = CqLayout::new(out, inp, 128, 2, &codebook()).unwrap();
        let bytes = blob(&l);
        let m = CqMatrix::new(&l, &bytes).unwrap();
        m.validate().unwrap();
        let x: Vec<f32> = (0..64 * inp).map(|i| ((i % 17) as f32 - 8.0) * 0.01).collect();
        let mut xh = vec![0f32; 64 * l.in_pad()];
        let mut y = vec![0f32; 64 * out];
        let shape = format!("{out}x{inp}");
        g.throughput(Throughput::Elements((out * inp) as u64));
        g.bench_function(BenchmarkId::new("gemv_rotated", &shape), |b| {
            b.iter(|| {
                l.rotate(black_box(&x[..inp]), &mut xh[..l.in_pad()]);
                m.gemv(&xh[..l.in_pad()], &mut y[..out], 0, out)
            })
        });
        g.bench_function(BenchmarkId::new("gemv_kernel_only", &shape), |b| {
            b.iter(|| m.gemv(black_box(&xh[..l.in_pad()]), &mut y[..out], 0, out))
        });
        g.bench_function(BenchmarkId::new("gemv_naive", &shape), |b| {
            b.iter(|| m.gemv_naive(black_box(&x[..inp]), &mut y[..out]))
        });
        for &rows in &[4usize, 64] {
            g.throughput(Throughput::Elements((rows * out * inp) as u64));
            g.bench_function(BenchmarkId::new(format!("gemm_{rows}"), &shape), |b| {
                b.iter(|| {
                    l.rotate_rows(black_box(&x[..rows * inp]), rows, &mut xh[..rows * l.in_pad()]);
                    m.gemm(&xh[..rows * l.in_pad()], rows, &mut y[..rows * out], out, 0, out)
                })
            });
        }
        // The same 64 rows as 4-row calls: the register-decoding tile that many-row
        // products used before the decoded panels (bit-identical results).
        g.bench_function(BenchmarkId::new("gemm_64_as_4_row_calls", &shape), |b| {
            b.iter(|| {
                l.rotate_rows(black_box(&x[..64 * inp]), 64, &mut xh[..64 * l.in_pad()]);
                for r in (0..64).step_by(4) {
                    let xr = &xh[r * l.in_pad()..(r + 4) * l.in_pad()];
                    m.gemm(xr, 4, &mut y[r * out..(r + 4) * out], out, 0, out)
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, cq2);
criterion_main!(benches);
