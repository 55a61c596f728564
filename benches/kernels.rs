//! Kernel micro-benchmarks: INT4 GEMV (1 row, the decoder) and GEMM (many rows, the
//! encoder) at the Needle v1 shapes, the BF16 LM head, softmax and the attention GEMM.
//!
//! `cargo bench --bench kernels` (add `-- --quick` for a short run).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use needle::kernels::bench::{self, Int4};

fn int4(c: &mut Criterion) {
    let mut g = c.benchmark_group("int4");
    for &(inf, out) in &[(512usize, 512usize), (512, 256)] {
        let mut m = Int4::new(inf, out);
        for &rows in &[1usize, 4, 64, 207] {
            let x: Vec<f32> = (0..rows * inf).map(|i| ((i % 17) as f32 - 8.0) * 0.01).collect();
            let mut y = vec![0f32; rows * out];
            g.throughput(Throughput::Elements((rows * inf * out) as u64));
            let name = if rows == 1 { "gemv" } else { "gemm" };
            g.bench_with_input(BenchmarkId::new(format!("{name}_{inf}x{out}"), rows), &rows, |b, &rows| {
                b.iter(|| m.gemm(black_box(&x), rows, &mut y))
            });
        }
    }
    g.finish();
}

fn lm_head(c: &mut Criterion) {
    let (v, d) = (8192usize, 512usize);
    let emb: Vec<u8> = (0..v * d).flat_map(|i| (0x3c00u16 ^ (i as u16 & 0x7f)).to_le_bytes()).collect();
    let z: Vec<f32> = (0..d).map(|i| (i as f32 * 0.1).sin()).collect();
    let mut logits = vec![0f32; v];
    let mut g = c.benchmark_group("lm_head");
    g.throughput(Throughput::Elements((v * d) as u64));
    g.bench_function("8192x512", |b| b.iter(|| bench::lm_head(black_box(&z), &emb, &mut logits)));
    g.finish();
}

fn attention(c: &mut Criterion) {
    let mut g = c.benchmark_group("attention");
    for &l in &[207usize, 858] {
        let mut s: Vec<f32> = (0..l).map(|i| (i as f32 * 0.37).sin() * 4.0).collect();
        g.bench_with_input(BenchmarkId::new("softmax", l), &l, |b, _| b.iter(|| bench::softmax(black_box(&mut s))));
        // One head's scores for 64 queries: [64 × 64] · [64 × L].
        let q: Vec<f32> = (0..64 * 64).map(|i| (i as f32 * 0.01).cos()).collect();
        let k: Vec<f32> = (0..64 * l).map(|i| (i as f32 * 0.02).sin()).collect();
        let mut out = vec![0f32; 64 * l];
        let mut packed = Vec::new();
        g.throughput(Throughput::Elements((64 * 64 * l) as u64));
        g.bench_with_input(BenchmarkId::new("scores_64q", l), &l, |b, &l| {
            b.iter(|| bench::sgemm(black_box(&q), 64, 64, &k, l, &mut out, &mut packed))
        });
    }
    g.finish();
}

criterion_group!(benches, int4, lm_head, attention);
criterion_main!(benches);
