//! The Needle v2 forward pass (docs/NETWORKS.md#the-v2-network), run over a chunk of new positions at a time
//! (the whole prompt at once at prefill, one position per decoding step): the embedding
//! broadcast to the mHC lanes, the Engram keys and values of every site, each layer's
//! routed block (engram gate, attention with q/k norms, split-half RoPE, output gate and
//! learned attention gate, post-attention norm, 3-diagonal Hadamard MLP), the lane mean,
//! the final norm and the tied head; and the probe heads (contrastive, confidence),
//! pooled on the fly over every cell.
//!
//! The language model attends over a sliding window of `kv_window` positions (the
//! current one and up to `kv_window − 1` before it) at every position, prefill included,
//! as upstream's `decode.forward_cached` and needle-rs evaluate it: the KV caches are
//! rings of `kv_window` slots (slot = position mod window), so memory is bounded by the
//! window. The probe heads read the cells of a **full causal** pass with padding ids
//! masked, as upstream's `hidden_cells`; when a sequence fits the window the decoding
//! pass is that pass, otherwise [`Weights::head_pass`] recomputes it.

use crate::kernels::{self, cq::hadamard, sigmoid};
use crate::model::common::engram::{EngramGeom, EngramSite};
use crate::model::common::linear::Mat;
use crate::model::common::mhc::Mhc;
use crate::model::common::ops::{self, rms_unit, silu};

/// The geometry the forward pass needs (from the `.cact` header).
#[derive(Debug, Clone)]
pub(crate) struct Geometry {
    pub vocab: usize,
    pub d: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub hd: usize,
    pub lanes: usize,
    /// The sliding KV window (0: every earlier position).
    pub window: usize,
    pub hada_n: usize,
    pub engram: EngramGeom,
    /// Layer of each Engram site.
    pub sites: Vec<usize>,
    pub rope_theta: f32,
}

pub(crate) struct Layer {
    pub norm_in: Vec<f32>,
    pub q: Mat,
    pub k: Mat,
    pub v: Mat,
    pub q_norm: Vec<f32>,
    pub k_norm: Vec<f32>,
    pub gate: Mat,
    pub out: Mat,
    pub post_norm: Vec<f32>,
    pub attn_gate: f32,
    pub pre_hada: Vec<f32>,
    pub d1: Vec<f32>,
    pub d2: Vec<f32>,
    pub d3: Vec<f32>,
}

/// A v2 probe head: `probes` `[P × d]`, `proj` `[out × P·d]` (row-major) and `bias`.
pub(crate) struct ProbeHead {
    pub probes: Vec<f32>,
    pub proj: Vec<f32>,
    pub bias: Vec<f32>,
    pub out: usize,
}

impl ProbeHead {
    pub(crate) fn count(&self, d: usize) -> usize {
        self.probes.len() / d
    }
}

pub(crate) struct Weights {
    pub g: Geometry,
    pub embedding: Mat,
    pub layers: Vec<Layer>,
    pub mhc: Mhc,
    pub sites: Vec<EngramSite>,
    pub final_norm: Vec<f32>,
    pub contrastive: Option<ProbeHead>,
    pub confidence: Option<ProbeHead>,
}

/// Attention pooling of one probe head over the cells seen so far, as an online
/// softmax: per probe the running maximum score, the sum of `exp(score − max)` and the
/// cells weighted by it.
pub(crate) struct Pool {
    max: Vec<f32>,
    sum: Vec<f32>,
    acc: Vec<f32>,
}

impl Pool {
    fn new(probes: usize, d: usize) -> Pool {
        Pool { max: vec![f32::NEG_INFINITY; probes], sum: vec![0.0; probes], acc: vec![0.0; probes * d] }
    }

    fn add(&mut self, head: &ProbeHead, cell: &[f32]) {
        let d = cell.len();
        let sd = (d as f64).sqrt() as f32;
        for (k, probe) in head.probes.chunks_exact(d).enumerate() {
            let s = kernels::dot(cell, probe) / sd;
            let acc = &mut self.acc[k * d..(k + 1) * d];
            if s > self.max[k] {
                let r = libm::expf(self.max[k] - s);
                self.sum[k] = self.sum[k] * r + 1.0;
                for (a, c) in acc.iter_mut().zip(cell) {
                    *a = *a * r + c;
                }
                self.max[k] = s;
            } else {
                let w = libm::expf(s - self.max[k]);
                self.sum[k] += w;
                kernels::axpy(w, cell, acc);
            }
        }
    }

    /// `proj · [pooled_0, …, pooled_{P−1}] + bias` (upstream's contrastive head has no
    /// bias and its exporter writes zeros; a file's bias is added, as needle-rs does).
    fn project(&self, head: &ProbeHead) -> Vec<f32> {
        let mut pooled = self.acc.clone();
        let d = pooled.len() / self.sum.len().max(1);
        for (k, row) in pooled.chunks_exact_mut(d.max(1)).enumerate() {
            let inv = if self.sum[k] > 0.0 { 1.0 / self.sum[k] } else { 0.0 };
            for v in row.iter_mut() {
                *v *= inv;
            }
        }
        let cols = pooled.len();
        (0..head.out)
            .map(|o| kernels::dot(&head.proj[o * cols..(o + 1) * cols], &pooled) + head.bias[o])
            .collect()
    }
}

/// What a pass computes besides its caches.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The language model: windowed attention, logits of the last position; the
    /// confidence cells are pooled too when `pool` says so.
    Decode { pool: bool },
    /// A probe head's pass: full causal, padding ids (0) masked, no logits.
    Heads { contrastive: bool },
}

/// One pass's state: every cache the next position needs.
pub(crate) struct State {
    pub pos: usize,
    pub tokens: Vec<u32>,
    mode: Mode,
    /// The attention span: the window (decoding) or 0 (all positions).
    window: usize,
    /// Per layer: keys and values `[slots × kv·hd]` (post norm/RoPE), a ring of
    /// `window` slots grown lazily (or every position when the span is 0).
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    /// Per site: the raw Engram values of the last positions the conv reads (a ring).
    engram_raw: Vec<Vec<f32>>,
    freqs: Vec<f32>,
    pub logits: Vec<f32>,
    pool: Option<Pool>,
    mlp: Vec<f32>,
}

/// Positions run at once at prefill (bounds the scratch of a long prompt).
const CHUNK: usize = 128;

fn pad_masked(mode: Mode) -> bool {
    matches!(mode, Mode::Heads { .. })
}

impl Weights {
    /// A fresh state for a pass of `mode`.
    pub(crate) fn state(&self, mode: Mode) -> State {
        let g = &self.g;
        let head = match mode {
            Mode::Decode { pool: true } | Mode::Heads { contrastive: false } => self.confidence.as_ref(),
            Mode::Heads { contrastive: true } => self.contrastive.as_ref(),
            Mode::Decode { pool: false } => None,
        };
        State {
            pos: 0,
            tokens: Vec::new(),
            mode,
            window: if pad_masked(mode) { 0 } else { g.window },
            keys: (0..g.layers).map(|_| Vec::new()).collect(),
            values: (0..g.layers).map(|_| Vec::new()).collect(),
            engram_raw: (0..g.sites.len()).map(|_| vec![0.0; g.engram.history() * g.d]).collect(),
            freqs: ops::rope_freqs(g.hd, g.rope_theta),
            logits: if matches!(mode, Mode::Decode { .. }) { vec![0.0; g.vocab] } else { Vec::new() },
            pool: head.map(|h| Pool::new(h.count(g.d), g.d)),
            mlp: Vec::new(),
        }
    }

    /// Runs `tokens` at the next positions, in chunks; in decoding mode the logits of the
    /// position after the last one are then in `st.logits`.
    pub(crate) fn run(&self, tokens: &[u32], st: &mut State) {
        for c in tokens.chunks(CHUNK) {
            self.chunk(c, st);
        }
    }

    fn pool_head(&self, st: &State) -> Option<&ProbeHead> {
        match st.mode {
            Mode::Decode { pool: true } | Mode::Heads { contrastive: false } => self.confidence.as_ref(),
            Mode::Heads { contrastive: true } => self.contrastive.as_ref(),
            Mode::Decode { pool: false } => None,
        }
    }

    fn add_cells(&self, st: &mut State, p0: usize, cells: &[f32]) {
        let Some(head) = self.pool_head(st) else { return };
        let d = self.g.d;
        let pool = st.pool.as_mut().expect("a pool for the head");
        for (i, c) in cells.chunks_exact(d).enumerate() {
            // Cells at padding ids are not pooled (upstream's `keep`).
            if st.tokens[p0 + i] != 0 {
                pool.add(head, c);
            }
        }
    }

    fn chunk(&self, toks: &[u32], st: &mut State) {
        let g = &self.g;
        let (d, n, s, p0) = (g.d, g.lanes, toks.len(), st.pos);
        if s == 0 {
            return;
        }
        st.tokens.extend_from_slice(toks);
        let masked = pad_masked(st.mode);
        let mut x0 = vec![0f32; s * d];
        let scale = (d as f64).sqrt() as f32;
        for (row, &t) in x0.chunks_exact_mut(d).zip(toks) {
            self.embedding.row(t as usize, row);
            for v in row.iter_mut() {
                *v *= scale;
            }
        }
        self.add_cells(st, p0, &x0);
        // Engram keys and values of every site, `[s × d]` each (token ids only).
        let eg = &g.engram;
        let hist = eg.history();
        let mut ek: Vec<Vec<f32>> = Vec::with_capacity(self.sites.len());
        let mut ev: Vec<Vec<f32>> = Vec::with_capacity(self.sites.len());
        for (si, site) in self.sites.iter().enumerate() {
            let width = eg.sub * eg.orders.len() * eg.heads;
            let mut e = vec![0f32; s * width];
            for (i, ei) in e.chunks_exact_mut(width).enumerate() {
                let p = p0 + i;
                let tokens = &st.tokens;
                site.fetch(eg, &tokens[..=p], |order| p + 1 >= order && (!masked || tokens[p + 1 - order] != 0), ei);
            }
            let mut k = vec![0f32; s * d];
            site.key_proj.gemm_rows(&e, s, 0, d, &mut k);
            let mut vr = vec![0f32; s * d];
            site.value_proj.gemm_rows(&e, s, 0, d, &mut vr);
            let mut v = vec![0f32; s * d];
            for i in 0..s {
                let p = p0 + i;
                let ring = &mut st.engram_raw[si];
                ring[(p % hist) * d..(p % hist + 1) * d].copy_from_slice(&vr[i * d..(i + 1) * d]);
                let ring = &st.engram_raw[si];
                let tokens = &st.tokens;
                site.conv(
                    |j| {
                        let back = j * eg.dilation;
                        if back > p || (masked && tokens[p - back] == 0) {
                            return None;
                        }
                        let slot = (p - back) % hist;
                        Some(&ring[slot * d..(slot + 1) * d])
                    },
                    &mut v[i * d..(i + 1) * d],
                );
            }
            ek.push(k);
            ev.push(v);
        }
        // The lanes, `[s × n × d]`.
        let mut lanes = vec![0f32; s * n * d];
        for (i, row) in x0.chunks_exact(d).enumerate() {
            for j in 0..n {
                lanes[(i * n + j) * d..(i * n + j + 1) * d].copy_from_slice(row);
            }
        }
        let mut u = vec![0f32; s * d];
        let mut cells = vec![0f32; s * d];
        let pooling = st.pool.is_some();
        for (l, layer) in self.layers.iter().enumerate() {
            let route = self.mhc.enter(l, n, d, &lanes, s, &mut u);
            let mut y = self.block(l, layer, &u, &ek, &ev, st, p0);
            for (yj, uj) in y.iter_mut().zip(&u) {
                *yj -= uj;
            }
            self.mhc.leave(n, d, &mut lanes, &route, &y);
            if pooling {
                for (i, c) in cells.chunks_exact_mut(d).enumerate() {
                    ops::mean_lanes(&lanes[i * n * d..(i + 1) * n * d], n, d, c);
                }
                self.add_cells(st, p0, &cells);
            }
        }
        st.pos += s;
        if matches!(st.mode, Mode::Decode { .. }) {
            let mut z = vec![0f32; d];
            ops::mean_lanes(&lanes[(s - 1) * n * d..], n, d, &mut z);
            kernels::zc_rms_norm(&mut z, &self.final_norm);
            self.embedding.gemv(&z, &mut st.logits);
        }
    }

    /// Block `l` on its inputs `u` (`[s × d]`): engram gate, attention residual, MLP
    /// residual.
    #[allow(clippy::too_many_arguments)]
    fn block(&self, l: usize, layer: &Layer, u: &[f32], ek: &[Vec<f32>], ev: &[Vec<f32>], st: &mut State, p0: usize) -> Vec<f32> {
        let g = &self.g;
        let d = g.d;
        let mut x = u.to_vec();
        let sd = (d as f64).sqrt() as f32;
        for (si, &site_layer) in g.sites.iter().enumerate() {
            if site_layer != l {
                continue;
            }
            for (i, xi) in x.chunks_exact_mut(d).enumerate() {
                let mut a = u[i * d..(i + 1) * d].to_vec();
                rms_unit(&mut a);
                let mut b = ek[si][i * d..(i + 1) * d].to_vec();
                rms_unit(&mut b);
                let alpha = sigmoid(kernels::dot(&a, &b) / sd);
                kernels::axpy(alpha, &ev[si][i * d..(i + 1) * d], xi);
            }
        }
        let mut h = x.clone();
        for row in h.chunks_exact_mut(d) {
            kernels::zc_rms_norm(row, &layer.norm_in);
        }
        let mut a = self.attention(l, layer, &h, st, p0);
        let ga = sigmoid(layer.attn_gate);
        for (ar, xr) in a.chunks_exact_mut(d).zip(x.chunks_exact_mut(d)) {
            kernels::zc_rms_norm(ar, &layer.post_norm);
            kernels::axpy(ga, ar, xr);
        }
        let mut h = x.clone();
        let mut out = vec![0f32; d];
        for (hr, xr) in h.chunks_exact_mut(d).zip(x.chunks_exact_mut(d)) {
            kernels::zc_rms_norm(hr, &layer.pre_hada);
            hadamard_mlp(hr, &layer.d1, &layer.d2, &layer.d3, g.hada_n, &mut out, &mut st.mlp);
            for (xi, oi) in xr.iter_mut().zip(&out) {
                *xi += oi;
            }
        }
        x
    }

    fn attention(&self, l: usize, layer: &Layer, h: &[f32], st: &mut State, p0: usize) -> Vec<f32> {
        let g = &self.g;
        let (d, hd) = (g.d, g.hd);
        let s = h.len() / d;
        let (qw, kw) = (g.heads * hd, g.kv_heads * hd);
        let mut q = vec![0f32; s * qw];
        let mut k = vec![0f32; s * kw];
        let mut v = vec![0f32; s * kw];
        let mut gate = vec![0f32; s * qw];
        layer.q.gemm_rows(h, s, 0, qw, &mut q);
        layer.k.gemm_rows(h, s, 0, kw, &mut k);
        layer.v.gemm_rows(h, s, 0, kw, &mut v);
        layer.gate.gemm_rows(h, s, 0, qw, &mut gate);
        for i in 0..s {
            for hq in q[i * qw..(i + 1) * qw].chunks_exact_mut(hd) {
                kernels::zc_rms_norm(hq, &layer.q_norm);
                ops::rope(hq, p0 + i, &st.freqs);
            }
            for hk in k[i * kw..(i + 1) * kw].chunks_exact_mut(hd) {
                kernels::zc_rms_norm(hk, &layer.k_norm);
                ops::rope(hk, p0 + i, &st.freqs);
            }
        }
        let w = st.window;
        let slot = |t: usize| if w > 0 { t % w } else { t };
        let masked = pad_masked(st.mode);
        let rep = g.heads / g.kv_heads;
        let scale = (hd as f32).sqrt();
        let mut o = vec![0f32; s * qw];
        let mut scores = Vec::new();
        let mut keep = Vec::new();
        if masked || s > 1 {
            self.attend_blocked(l, &q, &k, &v, st, p0, &mut o);
        } else {
            let (kc, vc) = (&st.keys[l], &st.values[l]);
            let key = |t: usize| if t >= p0 { &k[(t - p0) * kw..(t - p0 + 1) * kw] } else { &kc[slot(t) * kw..(slot(t) + 1) * kw] };
            let val = |t: usize| if t >= p0 { &v[(t - p0) * kw..(t - p0 + 1) * kw] } else { &vc[slot(t) * kw..(slot(t) + 1) * kw] };
            for i in 0..s {
                let p = p0 + i;
                let first = if w > 0 { (p + 1).saturating_sub(w) } else { 0 };
                keep.clear();
                keep.extend((first..=p).filter(|&t| !masked || st.tokens[t] != 0));
                for hh in 0..g.heads {
                    let kh = hh / rep;
                    let qh = &q[i * qw + hh * hd..i * qw + (hh + 1) * hd];
                    scores.clear();
                    scores.extend(keep.iter().map(|&t| kernels::dot(qh, &key(t)[kh * hd..(kh + 1) * hd]) / scale));
                    kernels::softmax(&mut scores);
                    let oh = &mut o[i * qw + hh * hd..i * qw + (hh + 1) * hd];
                    for (&t, &sc) in keep.iter().zip(&scores) {
                        kernels::axpy(sc, &val(t)[kh * hd..(kh + 1) * hd], oh);
                    }
                }
            }
        }
        // Keep this chunk's keys and values (in a window, only those later positions read).
        let keep_from = if w > 0 { s.saturating_sub(w) } else { 0 };
        for i in keep_from..s {
            let sl = slot(p0 + i);
            for (cache, src) in [(&mut st.keys[l], &k), (&mut st.values[l], &v)] {
                if cache.len() < (sl + 1) * kw {
                    cache.resize((sl + 1) * kw, 0.0);
                }
                cache[sl * kw..(sl + 1) * kw].copy_from_slice(&src[i * kw..(i + 1) * kw]);
            }
        }
        for (oi, gi) in o.iter_mut().zip(&gate) {
            *oi *= sigmoid(*gi);
        }
        let mut a = vec![0f32; s * d];
        layer.out.gemm_rows(&o, s, 0, d, &mut a);
        a
    }

    /// Attention of a chunk's `s` queries as blocked products (prefill, and the probe
    /// heads' full causal pass): per KV head, the scores `Q·Kᵀ/√hd` of the whole chunk
    /// over the keys it can reach, the mask (causal, the window, padding ids in the heads'
    /// pass), softmax, then `P·V`.
    #[allow(clippy::too_many_arguments)]
    fn attend_blocked(&self, l: usize, q: &[f32], k: &[f32], v: &[f32], st: &State, p0: usize, o: &mut [f32]) {
        let g = &self.g;
        let hd = g.hd;
        let (qw, kw) = (g.heads * hd, g.kv_heads * hd);
        let s = q.len() / qw;
        let w = st.window;
        let masked = pad_masked(st.mode);
        // Keys t0 .. p0 + s: the first query's window onwards.
        let t0 = if w > 0 { (p0 + 1).saturating_sub(w) } else { 0 };
        let t_n = p0 + s - t0;
        let slot = |t: usize| if w > 0 { t % w } else { t };
        let (kc, vc) = (&st.keys[l], &st.values[l]);
        let key = |t: usize| if t >= p0 { &k[(t - p0) * kw..(t - p0 + 1) * kw] } else { &kc[slot(t) * kw..(slot(t) + 1) * kw] };
        let val = |t: usize| if t >= p0 { &v[(t - p0) * kw..(t - p0 + 1) * kw] } else { &vc[slot(t) * kw..(slot(t) + 1) * kw] };
        let rep = g.heads / g.kv_heads;
        let alpha = 1.0 / (hd as f32).sqrt();
        let (mut kp, mut vp) = (Vec::new(), Vec::new());
        let mut scores = vec![0f32; s * t_n];
        for kh in 0..g.kv_heads {
            kernels::pack_panels(hd, t_n, &mut kp, |r, c| key(t0 + c)[kh * hd + r]);
            kernels::pack_panels(t_n, hd, &mut vp, |r, c| val(t0 + r)[kh * hd + c]);
            for hh in kh * rep..(kh + 1) * rep {
                kernels::sgemm_packed(&q[hh * hd..], qw, s, hd, &kp, t_n, &mut scores, t_n, alpha);
                for (i, row) in scores.chunks_exact_mut(t_n).enumerate() {
                    let p = p0 + i;
                    for (j, sc) in row.iter_mut().enumerate() {
                        let t = t0 + j;
                        if t > p || (w > 0 && p - t >= w) || (masked && st.tokens[t] == 0) {
                            *sc = f32::NEG_INFINITY;
                        }
                    }
                    kernels::softmax(row);
                }
                kernels::sgemm_packed(&scores, t_n, s, t_n, &vp, hd, &mut o[hh * hd..], qw, 1.0);
            }
        }
    }

    /// The full causal pass of the probe heads over `tokens` (upstream's `hidden_cells`
    /// with padding ids masked): the confidence head's logit, or the contrastive head's
    /// raw projection (`None` without that head).
    pub(crate) fn head_pass(&self, tokens: &[u32], contrastive: bool) -> Option<Vec<f32>> {
        let head = if contrastive { self.contrastive.as_ref()? } else { self.confidence.as_ref()? };
        let mut st = self.state(Mode::Heads { contrastive });
        self.run(tokens, &mut st);
        Some(st.pool.as_ref()?.project(head))
    }

    /// The confidence logit pooled by a decoding pass (valid only when that pass saw
    /// the same cells as the full causal pass: see [`State::pooled_like_heads`]).
    pub(crate) fn pooled_confidence(&self, st: &State) -> Option<f32> {
        let head = self.confidence.as_ref()?;
        Some(st.pool.as_ref()?.project(head)[0])
    }

    /// The L2-normalised contrastive embedding of `tokens` (`None` without the head).
    pub(crate) fn contrastive(&self, tokens: &[u32]) -> Option<Vec<f32>> {
        let mut p = self.head_pass(tokens, true)?;
        let ss: f32 = p.iter().map(|v| v * v).sum();
        let inv = 1.0 / libm::sqrtf(ss + 1e-12);
        for v in p.iter_mut() {
            *v *= inv;
        }
        Some(p)
    }
}

impl State {
    /// Whether the cells this decoding pass pooled are the full causal pass's: every
    /// position saw all earlier ones (the sequence fits the window) and no id is padding.
    pub(crate) fn pooled_like_heads(&self) -> bool {
        self.pool.is_some() && (self.window == 0 || self.pos <= self.window) && !self.tokens.contains(&0)
    }
}

/// The v2 HadamardMLP of one normed row `h` (length `d`) into `out`:
/// `(d3 ⊙ H(silu(d2 ⊙ H(d1 ⊙ pad(h)))))[..d]`, `H` the normalised Sylvester–Hadamard
/// transform of width `n`.
pub(crate) fn hadamard_mlp(h: &[f32], d1: &[f32], d2: &[f32], d3: &[f32], n: usize, out: &mut [f32], z: &mut Vec<f32>) {
    let d = h.len();
    z.clear();
    z.resize(n, 0.0);
    for i in 0..d {
        z[i] = d1[i] * h[i];
    }
    hadamard(z);
    for (zm, dm) in z.iter_mut().zip(d2) {
        *zm = silu(dm * *zm);
    }
    hadamard(z);
    for i in 0..d {
        out[i] = d3[i] * z[i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::cact::Cact;
    use crate::container::Storage;
    use serde_json::Value;
    use std::sync::Arc;

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v2").join(name)
    }

    fn ids(v: &Value) -> Vec<u32> {
        v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
    }

    fn weights(geom: &str) -> Weights {
        let bytes = std::fs::read(fixture(&format!("{geom}.cact"))).unwrap();
        super::super::weights::load(Arc::new(Cact::parse(Storage::Owned(bytes)).unwrap())).unwrap()
    }

    /// Teacher-forced logits of [BOS] + prompt + the reference's first generated ids
    /// against upstream's JAX `decode.forward_cached` with the file's window (prompts of
    /// 58–231 ids, windows of 32, 64 and 1024 positions): max deviation relative to the
    /// logit range; and the chunked prefill (blocked attention) gives the logits of one
    /// position at a time, to rounding.
    #[test]
    fn teacher_forced_logits_match_jax_and_prefill_equals_stepping() {
        let mut worst = 0f32;
        let mut rows_checked = 0;
        for geom in ["tiny", "gqa", "full"] {
            let w = weights(geom);
            let meta: Value = serde_json::from_str(&std::fs::read_to_string(fixture(&format!("{geom}.json"))).unwrap()).unwrap();
            let cases: Vec<Value> = std::fs::read_to_string(fixture(&format!("{geom}.cases.jsonl")))
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let logits: Vec<f32> = std::fs::read(fixture(&format!("{geom}.logits.bin")))
                .unwrap()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let v = w.g.vocab;
            for row in meta["logits_rows"].as_array().unwrap() {
                let (ci, k, r) = (row["case"].as_u64().unwrap() as usize, row["step"].as_u64().unwrap() as usize, row["row"].as_u64().unwrap() as usize);
                let mut seq = ids(&cases[ci]["prompt_ids"]);
                seq.extend_from_slice(&ids(&cases[ci]["jax_ids"])[..k]);
                let mut st = w.state(Mode::Decode { pool: false });
                w.run(&seq, &mut st);
                let want = &logits[r * v..(r + 1) * v];
                let range = want.iter().fold(f32::MIN, |a, &b| a.max(b)) - want.iter().fold(f32::MAX, |a, &b| a.min(b));
                let dev = st.logits.iter().zip(want).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / range;
                worst = worst.max(dev);
                rows_checked += 1;
                if r == 0 {
                    // One position at a time (the decoding path) gives the same logits to
                    // rounding.
                    let mut one = w.state(Mode::Decode { pool: false });
                    for &t in &seq {
                        w.run(&[t], &mut one);
                    }
                    let d = one.logits.iter().zip(&st.logits).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                    assert!(d / range < 1e-5, "{geom}: stepping vs prefill {d}");
                }
            }
        }
        println!("v2 teacher-forced logits: {rows_checked} rows within {worst:.2e} of the logit range of JAX");
        assert!(rows_checked >= 20);
        assert!(worst < 1e-4, "teacher-forced logits deviate {worst} of the range");
    }

    /// While a sequence fits the window, the decoding pass pools the confidence head's
    /// cells itself; that equals the separate full causal pass.
    #[test]
    fn pooled_confidence_equals_the_full_causal_pass_inside_the_window() {
        let w = weights("tiny");
        let seq: Vec<u32> = vec![2, 8042, 4, 300, 301, 302, 5, 8042, 7, 100, 200];
        let mut st = w.state(Mode::Decode { pool: true });
        w.run(&seq, &mut st);
        assert!(st.pooled_like_heads());
        let pooled = w.pooled_confidence(&st).unwrap();
        let full = w.head_pass(&seq, false).unwrap()[0];
        assert!((pooled - full).abs() <= 1e-6 * full.abs().max(1.0), "{pooled} vs {full}");
        // Past the window (32) the decoding pass no longer sees every earlier position.
        w.run(&[9; 40], &mut st);
        assert!(!st.pooled_like_heads());
        // No contrastive head on this file's pass for confidence, and vice versa.
        assert!(weights("gqa").contrastive(&seq).is_none());
    }
}
