//! The Needle v3 forward pass over a chunk of positions with its caches (the prompt in chunks,
//! then one position per token; docs/NETWORKS.md#the-v3-network): the
//! embedding broadcast to the mHC lanes, the Engram sites, each layer's routed block
//! (engram gate, attention with conv taps and local/global masks, Monarch MLP), the
//! lane mean, the final norm and the tied head; and the confidence head over the cells.
//!
//! Matrices are behind [`Linear`] so that the same code runs on the file's Cactus-Quants
//! weights and on plain `f32` matrices (the tests build one from upstream's parameters).

use super::ops::{MlpScratch, MonarchMlp};
use crate::kernels;
use crate::model::common::ops;
pub(crate) use crate::model::common::engram::{EngramGeom, EngramSite};
#[cfg(test)]
pub(crate) use crate::model::common::linear::Dense;
pub(crate) use crate::model::common::linear::{Linear, Mat};
pub(crate) use crate::model::common::mhc::Mhc;

/// The geometry the forward pass needs (from the `.cact` header).
#[derive(Debug, Clone)]
pub(crate) struct Geometry {
    pub vocab: usize,
    /// Rows of the tied head that are scored (the whole vocabulary when the header says 0).
    pub out_vocab: usize,
    pub d: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub qk: usize,
    pub vh: usize,
    pub lanes: usize,
    /// Width of the local layers (0: every layer is full causal).
    pub window: usize,
    pub global: Vec<bool>,
    pub conv_taps: usize,
    pub hada_n: usize,
    pub engram: EngramGeom,
    /// Layer of each Engram site.
    pub sites: Vec<usize>,
    pub rope_theta: f32,
}

pub(crate) struct MlpWeights {
    pub d1: Vec<f32>,
    pub d2: Vec<f32>,
    pub b2: Vec<f32>,
    pub d3: Vec<f32>,
    pub d4: Vec<f32>,
    /// `w1a, w1b, w2a, w2b, w3a, w3b`, row-major.
    pub w: [Vec<f32>; 6],
    pub cond_v: Vec<f32>,
    pub cond_u: Vec<f32>,
}

pub(crate) struct Layer {
    pub norm_in: Vec<f32>,
    pub q: Mat,
    pub k: Mat,
    pub v: Mat,
    /// `[taps × width]` each, when the model has conv taps.
    pub q_taps: Vec<f32>,
    pub k_taps: Vec<f32>,
    pub v_taps: Vec<f32>,
    pub q_norm: Vec<f32>,
    pub k_norm: Vec<f32>,
    pub gate: Mat,
    pub out: Mat,
    pub post_norm: Vec<f32>,
    pub attn_gate: f32,
    pub pre_hada: Vec<f32>,
    pub mlp: MlpWeights,
}

/// A probe head (confidence): probes `[(L+1)·k × d]`, gain `[(L+1) × k]`, queries
/// `[q × d]`, row bias `[q × (L+1) × k]`, projection `[out × q·d]` and bias.
pub(crate) struct ProbeHead {
    pub probes: Mat,
    pub gain: Vec<f32>,
    pub query: Mat,
    pub row_bias: Vec<f32>,
    pub proj: Mat,
    pub bias: Vec<f32>,
    pub per_row: usize,
}

pub(crate) struct Weights {
    pub g: Geometry,
    pub embedding: Mat,
    pub layers: Vec<Layer>,
    pub mhc: Mhc,
    pub p1: Vec<u32>,
    pub p2: Vec<u32>,
    pub sites: Vec<EngramSite>,
    pub final_norm: Vec<f32>,
    pub confidence: Option<ProbeHead>,
}

/// One call's state: every cache the next position needs.
pub(crate) struct State {
    pub pos: usize,
    tokens: Vec<u32>,
    /// Per layer and KV head: the keys (post conv/norm/RoPE) as column panels of
    /// [`kernels::NC`] positions, `[panel][qk][NC]` — the layout the panel product reads,
    /// so `Q·Kᵀ` needs no packing at any step.
    keys: Vec<Vec<Vec<f32>>>,
    /// Per layer: values `[pos × kv·vh]`.
    values: Vec<Vec<f32>>,
    /// Per layer: the raw q, k, v projections of the last positions (conv history).
    raw: Vec<[Vec<f32>; 3]>,
    /// Per site: the raw Engram values of every position so far (`[pos × d]`).
    engram_raw: Vec<Vec<f32>>,
    freqs: Vec<f32>,
    /// Lane means after each layer (and the scaled embedding) per position, when kept
    /// for the probe heads: `[pos × (L+1) × d]`.
    pub cells: Option<Vec<f32>>,
    pub logits: Vec<f32>,
    mlp: MlpScratch,
}

fn sigmoid(x: f32) -> f32 {
    kernels::sigmoid(x)
}

impl Weights {
    /// A fresh state; `keep_cells` keeps what the confidence head reads.
    pub(crate) fn state(&self, keep_cells: bool) -> State {
        let g = &self.g;
        State {
            pos: 0,
            tokens: Vec::new(),
            keys: (0..g.layers).map(|_| vec![Vec::new(); g.kv_heads]).collect(),
            values: (0..g.layers).map(|_| Vec::new()).collect(),
            raw: (0..g.layers).map(|_| [Vec::new(), Vec::new(), Vec::new()]).collect(),
            engram_raw: (0..g.sites.len()).map(|_| Vec::new()).collect(),
            freqs: ops::rope_freqs(g.qk, g.rope_theta),
            cells: keep_cells.then(Vec::new),
            logits: vec![0.0; g.out_vocab],
            mlp: MlpScratch::default(),
        }
    }

    /// Runs `token` at the next position; the logits of the position after it are then
    /// in `st.logits`.
    pub(crate) fn step(&self, token: u32, st: &mut State) {
        self.forward(&[token], st, true)
    }

    /// Runs `tokens` at the next positions, all at once (the matrices as matrix ×
    /// matrix products over the chunk's rows); with `logits`, the logits of the
    /// position after the last one are then in `st.logits` (a prefill that is not the
    /// last chunk skips the head). Every row goes through the same operations as a
    /// one-position step, so the result does not depend on how positions are chunked.
    pub(crate) fn forward(&self, tokens: &[u32], st: &mut State, logits: bool) {
        let s = tokens.len();
        if s == 0 {
            return;
        }
        let g = &self.g;
        let (d, n, p0) = (g.d, g.lanes, st.pos);
        let l1 = g.layers + 1;
        let scale = (d as f64).sqrt() as f32;
        let mut x0 = vec![0f32; s * d];
        for (t, &tok) in tokens.iter().enumerate() {
            let row = &mut x0[t * d..(t + 1) * d];
            self.embedding.row(tok as usize, row);
            for v in row.iter_mut() {
                *v *= scale;
            }
        }
        if let Some(c) = st.cells.as_mut() {
            c.resize((p0 + s) * l1 * d, 0.0);
            for t in 0..s {
                let at = ((p0 + t) * l1) * d;
                c[at..at + d].copy_from_slice(&x0[t * d..(t + 1) * d]);
            }
        }
        // Engram keys and values of every site (token ids only), `[s × d]` each.
        let mut ek: Vec<Vec<f32>> = Vec::with_capacity(self.sites.len());
        let mut ev: Vec<Vec<f32>> = Vec::with_capacity(self.sites.len());
        let t0 = st.tokens.len();
        st.tokens.extend_from_slice(tokens);
        if !self.sites.is_empty() {
            let eg = &g.engram;
            let mut e = vec![0f32; s * d];
            for (si, site) in self.sites.iter().enumerate() {
                for t in 0..s {
                    let p = p0 + t;
                    site.fetch(eg, &st.tokens[..t0 + t + 1], |order| p + 1 >= order, &mut e[t * d..(t + 1) * d]);
                }
                let mut k = vec![0f32; s * d];
                site.key_proj.gemm_rows(&e, s, 0, d, &mut k);
                let mut vr = vec![0f32; s * d];
                site.value_proj.gemm_rows(&e, s, 0, d, &mut vr);
                st.engram_raw[si].extend_from_slice(&vr);
                let raw = &st.engram_raw[si];
                let mut v = vec![0f32; s * d];
                for t in 0..s {
                    let p = p0 + t;
                    site.conv(
                        |j| {
                            let back = j * eg.dilation;
                            (back <= p).then(|| &raw[(p - back) * d..(p - back + 1) * d])
                        },
                        &mut v[t * d..(t + 1) * d],
                    );
                }
                ek.push(k);
                ev.push(v);
            }
        }
        // Lanes, `[s × n × d]`.
        let mut lanes = vec![0f32; s * n * d];
        for t in 0..s {
            for i in 0..n {
                lanes[(t * n + i) * d..(t * n + i + 1) * d].copy_from_slice(&x0[t * d..(t + 1) * d]);
            }
        }
        let mut u = vec![0f32; s * d];
        for (l, layer) in self.layers.iter().enumerate() {
            let route = self.mhc.enter(l, n, d, &lanes, s, &mut u);
            let mut y = self.block(l, layer, &u, s, &ek, &ev, st);
            for (yj, uj) in y.iter_mut().zip(&u) {
                *yj -= uj;
            }
            self.mhc.leave(n, d, &mut lanes, &route, &y);
            if let Some(c) = st.cells.as_mut() {
                for t in 0..s {
                    let at = ((p0 + t) * l1 + l + 1) * d;
                    ops::mean_lanes(&lanes[t * n * d..(t + 1) * n * d], n, d, &mut c[at..at + d]);
                }
            }
        }
        st.pos += s;
        if logits {
            let mut z = vec![0f32; d];
            ops::mean_lanes(&lanes[(s - 1) * n * d..s * n * d], n, d, &mut z);
            kernels::zc_rms_norm(&mut z, &self.final_norm);
            self.embedding.gemv_rows(&z, 0, g.out_vocab, &mut st.logits);
        }
    }

    /// Block `l` on its input rows `u` (`[s × d]`): engram gate, attention residual,
    /// MLP residual.
    #[allow(clippy::too_many_arguments)]
    fn block(&self, l: usize, layer: &Layer, u: &[f32], s: usize, ek: &[Vec<f32>], ev: &[Vec<f32>], st: &mut State) -> Vec<f32> {
        let g = &self.g;
        let d = g.d;
        let mut x = u.to_vec();
        for (si, &site_layer) in g.sites.iter().enumerate() {
            if site_layer != l {
                continue;
            }
            for t in 0..s {
                let mut a = u[t * d..(t + 1) * d].to_vec();
                ops::rms_unit(&mut a);
                let mut b = ek[si][t * d..(t + 1) * d].to_vec();
                ops::rms_unit(&mut b);
                let alpha = sigmoid(kernels::dot(&a, &b) / (d as f64).sqrt() as f32);
                for (xi, vi) in x[t * d..(t + 1) * d].iter_mut().zip(&ev[si][t * d..(t + 1) * d]) {
                    *xi += alpha * vi;
                }
            }
        }
        let mut h = x.clone();
        for row in h.chunks_exact_mut(d) {
            kernels::zc_rms_norm(row, &layer.norm_in);
        }
        let mut a = self.attention(l, layer, &h, s, st);
        let ga = sigmoid(layer.attn_gate);
        for (arow, xrow) in a.chunks_exact_mut(d).zip(x.chunks_exact_mut(d)) {
            kernels::zc_rms_norm(arow, &layer.post_norm);
            for (xi, ai) in xrow.iter_mut().zip(arow.iter()) {
                *xi += ga * ai;
            }
        }
        let m = &layer.mlp;
        let mlp = MonarchMlp {
            d,
            n: g.hada_n,
            p1: &self.p1,
            p2: &self.p2,
            factors: [(&m.w[0], &m.w[1]), (&m.w[2], &m.w[3]), (&m.w[4], &m.w[5])],
            d1: &m.d1,
            d2: &m.d2,
            b2: &m.b2,
            d3: &m.d3,
            d4: &m.d4,
            cond_v: &m.cond_v,
            cond_u: &m.cond_u,
        };
        let mut h = vec![0f32; d];
        let mut out = vec![0f32; d];
        for xrow in x.chunks_exact_mut(d) {
            h.copy_from_slice(xrow);
            kernels::zc_rms_norm(&mut h, &layer.pre_hada);
            mlp.apply(&h, &mut out, &mut st.mlp);
            for (xi, oi) in xrow.iter_mut().zip(&out) {
                *xi += oi;
            }
        }
        x
    }

    /// Attention of the rows `h` (`[s × d]`, positions `st.pos ..`): q/k/v with their
    /// conv taps, norms and RoPE; each row attends causally over the cache (its window
    /// for a local layer), then the output gate and projection.
    fn attention(&self, l: usize, layer: &Layer, h: &[f32], s: usize, st: &mut State) -> Vec<f32> {
        let g = &self.g;
        let (p0, qk, vh, d) = (st.pos, g.qk, g.vh, g.d);
        let (qw, kw, vw) = (g.heads * qk, g.kv_heads * qk, g.kv_heads * vh);
        let mut q = vec![0f32; s * qw];
        let mut k = vec![0f32; s * kw];
        let mut v = vec![0f32; s * vw];
        layer.q.gemm_rows(h, s, 0, qw, &mut q);
        layer.k.gemm_rows(h, s, 0, kw, &mut k);
        layer.v.gemm_rows(h, s, 0, vw, &mut v);
        if g.conv_taps > 0 {
            let c = g.conv_taps;
            for (which, (cur, taps)) in [(&mut q, &layer.q_taps), (&mut k, &layer.k_taps), (&mut v, &layer.v_taps)]
                .into_iter()
                .enumerate()
            {
                let w = cur.len() / s;
                let hist = &mut st.raw[l][which];
                let mut out = vec![0f32; w];
                for row in cur.chunks_exact_mut(w) {
                    hist.extend_from_slice(row);
                    let have = hist.len() / w;
                    let past: Vec<&[f32]> = (0..c.min(have)).map(|j| &hist[(have - 1 - j) * w..(have - j) * w]).collect();
                    super::ops::causal_conv(&past, taps, &mut out);
                    row.copy_from_slice(&out);
                    if have >= c {
                        hist.drain(..w);
                    }
                }
            }
        }
        for (t, (qrow, krow)) in q.chunks_exact_mut(qw).zip(k.chunks_exact_mut(kw)).enumerate() {
            for hq in qrow.chunks_exact_mut(qk) {
                kernels::zc_rms_norm(hq, &layer.q_norm);
                ops::rope(hq, p0 + t, &st.freqs);
            }
            for hk in krow.chunks_exact_mut(qk) {
                kernels::zc_rms_norm(hk, &layer.k_norm);
                ops::rope(hk, p0 + t, &st.freqs);
            }
        }
        const NC: usize = kernels::NC;
        for (t, krow) in k.chunks_exact(kw).enumerate() {
            let p = p0 + t;
            let (panel, col) = (p / NC, p % NC);
            for (kh, cache) in st.keys[l].iter_mut().enumerate() {
                if col == 0 {
                    cache.resize((panel + 1) * qk * NC, 0.0);
                }
                let base = panel * qk * NC + col;
                for (r, &kv) in krow[kh * qk..(kh + 1) * qk].iter().enumerate() {
                    cache[base + r * NC] = kv;
                }
            }
        }
        st.values[l].extend_from_slice(&v);
        let mut o = vec![0f32; s * g.heads * vh];
        if s > 1 {
            self.attend_chunk(l, &q, s, st, &mut o);
        } else {
            self.attend_one(l, &q, st, &mut o);
        }
        let ow = g.heads * vh;
        let mut gate = vec![0f32; s * ow];
        layer.gate.gemm_rows(h, s, 0, ow, &mut gate);
        for (oi, gi) in o.iter_mut().zip(&gate) {
            *oi *= sigmoid(*gi);
        }
        let mut a = vec![0f32; s * d];
        layer.out.gemm_rows(&o, s, 0, d, &mut a);
        a
    }

    /// One position (`st.pos`, already in the cache) attends over the cache: per KV
    /// head, the scores of its query heads as one panel product over the key panels,
    /// softmax over the row's range, then `O = P·V`.
    fn attend_one(&self, l: usize, q: &[f32], st: &State, o: &mut [f32]) {
        let g = &self.g;
        let (qk, vh) = (g.qk, g.vh);
        let vw = g.kv_heads * vh;
        let local = g.window > 0 && !g.global[l];
        let rep = g.heads / g.kv_heads;
        let p = st.pos;
        let first = if local { (p + 1).saturating_sub(g.window) } else { 0 };
        let cp = first / kernels::NC * kernels::NC;
        let cols = p + 1 - cp;
        let inv = 1.0 / (qk as f32).sqrt();
        let mut scores = vec![0f32; rep * cols];
        let values = &st.values[l];
        for kh in 0..g.kv_heads {
            let keys = &st.keys[l][kh][cp * qk..];
            kernels::sgemm_packed(&q[kh * rep * qk..], qk, rep, qk, keys, cols, &mut scores, cols, inv);
            for row in scores.chunks_exact_mut(cols) {
                kernels::softmax(&mut row[first - cp..]);
            }
            for (i, t) in (first..=p).enumerate() {
                let vt = &values[t * vw + kh * vh..t * vw + (kh + 1) * vh];
                for j in 0..rep {
                    let hh = kh * rep + j;
                    kernels::axpy(scores[j * cols + first - cp + i], vt, &mut o[hh * vh..(hh + 1) * vh]);
                }
            }
        }
    }

    /// The `s` positions `st.pos ..` (already in the cache) attend causally, as matrix
    /// products per head: `S = Q·Kᵀ/√qk` over every cached position, masked to each row's
    /// causal range (its window for a local layer), softmax, `O = P·V`.
    fn attend_chunk(&self, l: usize, q: &[f32], s: usize, st: &State, o: &mut [f32]) {
        let g = &self.g;
        let (qk, vh) = (g.qk, g.vh);
        let (qw, vw, ow) = (g.heads * qk, g.kv_heads * vh, g.heads * vh);
        let local = g.window > 0 && !g.global[l];
        let rep = g.heads / g.kv_heads;
        let p0 = st.pos;
        let tn = p0 + s;
        // Columns every row may see: from the panel of the first row's window start.
        let first0 = if local { (p0 + 1).saturating_sub(g.window) } else { 0 };
        let c0 = first0 / kernels::NC * kernels::NC;
        let cols = tn - c0;
        let values = &st.values[l];
        let mut packed_v = Vec::new();
        let mut scores = vec![0f32; s * cols];
        let inv = 1.0 / (qk as f32).sqrt();
        for kh in 0..g.kv_heads {
            let keys = &st.keys[l][kh][c0 * qk..];
            kernels::pack_panels(cols, vh, &mut packed_v, |r, c| values[(c0 + r) * vw + kh * vh + c]);
            for hh in kh * rep..(kh + 1) * rep {
                kernels::sgemm_packed(&q[hh * qk..], qw, s, qk, keys, cols, &mut scores, cols, inv);
                for (t, row) in scores.chunks_exact_mut(cols).enumerate() {
                    let p = p0 + t;
                    let first = if local { (p + 1).saturating_sub(g.window) } else { 0 };
                    let (lo, hi) = (first - c0, p + 1 - c0);
                    kernels::softmax(&mut row[lo..hi]);
                    row[..lo].fill(0.0);
                    row[hi..].fill(0.0);
                }
                kernels::sgemm_packed(&scores, cols, s, cols, &packed_v, vh, &mut o[hh * vh..], ow, 1.0);
            }
        }
    }

    /// The confidence head's logit over the cells of every position run so far (`None`
    /// without the head or without kept cells).
    pub(crate) fn confidence_logit(&self, st: &State) -> Option<f32> {
        let head = self.confidence.as_ref()?;
        let cells = st.cells.as_ref()?;
        let d = self.g.d;
        let l1 = self.g.layers + 1;
        let t_n = st.pos;
        let k = head.per_row;
        let q_n = head.query.rows();
        let sd = (d as f64).sqrt() as f32;
        let cell = |t: usize, l: usize| &cells[(t * l1 + l) * d..(t * l1 + l + 1) * d];
        // r[l, κ] = rms_unit(Σ_t softmax_t(⟨C_tl, P_lκ⟩/√d) C_tl) · gain[l, κ]
        let mut r = vec![0f32; l1 * k * d];
        let mut probe = vec![0f32; d];
        let mut s = vec![0f32; t_n];
        for l in 0..l1 {
            for kk in 0..k {
                head.probes.row(l * k + kk, &mut probe);
                for (t, st) in s.iter_mut().enumerate() {
                    *st = kernels::dot(cell(t, l), &probe) / sd;
                }
                kernels::softmax(&mut s);
                let rr = &mut r[(l * k + kk) * d..(l * k + kk + 1) * d];
                for (t, w) in s.iter().enumerate() {
                    kernels::axpy(*w, cell(t, l), rr);
                }
                ops::rms_unit(rr);
                let gn = head.gain[l * k + kk];
                for v in rr.iter_mut() {
                    *v *= gn;
                }
            }
        }
        let mut pooled = vec![0f32; q_n * d];
        let mut qv = vec![0f32; d];
        let mut uu = vec![0f32; l1 * k];
        for j in 0..q_n {
            head.query.row(j, &mut qv);
            for (m, um) in uu.iter_mut().enumerate() {
                *um = kernels::dot(&r[m * d..(m + 1) * d], &qv) / sd + head.row_bias[j * l1 * k + m];
            }
            kernels::softmax(&mut uu);
            let o = &mut pooled[j * d..(j + 1) * d];
            for (m, w) in uu.iter().enumerate() {
                kernels::axpy(*w, &r[m * d..(m + 1) * d], o);
            }
        }
        let mut out = vec![0f32; head.proj.rows()];
        head.proj.gemv(&pooled, &mut out);
        Some(out[0] + head.bias[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn fixture() -> Value {
        let p = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v3/ops.json");
        serde_json::from_str(&std::fs::read_to_string(p).expect("ops.json is committed")).unwrap()
    }

    /// Upstream's parameter tree (Flax layout) as the weights of the forward pass.
    fn weights_from(net: &Value) -> Weights {
        let cfg = &net["config"];
        let p = &net["params"];
        let uz = |k: &str| cfg[k].as_u64().unwrap() as usize;
        let get = |k: &str| -> (Vec<usize>, Vec<f32>) {
            let t = &p[k];
            assert!(t.is_object(), "missing {k}");
            let shape = t["shape"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
            (shape, t["v"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect())
        };
        // Flax kernels are [in, out] (per layer: [L, in, out]); the forward pass wants [out, in].
        let kernel_t = |v: &[f32], rin: usize, cout: usize| -> Mat {
            let mut w = vec![0f32; rin * cout];
            for i in 0..rin {
                for o in 0..cout {
                    w[o * rin + i] = v[i * cout + o];
                }
            }
            Box::new(Dense { rows: cout, cols: rin, w })
        };
        let per_layer = |k: &str, l: usize| -> (Vec<usize>, Vec<f32>) {
            let (shape, v) = get(k);
            let inner: usize = shape[1..].iter().product();
            (shape[1..].to_vec(), v[l * inner..(l + 1) * inner].to_vec())
        };
        let (d, layers, n) = (uz("d_model"), uz("num_layers"), uz("mhc_lanes"));
        let orders: Vec<usize> = cfg["engram_orders"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
        let sites: Vec<usize> = cfg["engram_layers"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
        let globals: Vec<usize> = cfg["global_layers"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
        let heads_e = 1.max(d / (orders.len() * 128));
        let g = Geometry {
            vocab: uz("vocab_size"),
            out_vocab: uz("vocab_size"),
            d,
            layers,
            heads: uz("num_heads"),
            kv_heads: uz("num_kv_heads"),
            qk: uz("qk_head_dim"),
            vh: uz("v_head_dim"),
            lanes: n,
            window: uz("sliding_window"),
            global: (0..layers).map(|l| globals.contains(&l)).collect(),
            conv_taps: uz("qkv_conv_taps"),
            hada_n: d.next_power_of_two(),
            engram: EngramGeom {
                heads: heads_e,
                seed_stride: heads_e,
                slots: uz("engram_slots"),
                sub: d / (orders.len() * heads_e),
                dilation: *orders.iter().max().unwrap(),
                orders,
            },
            sites,
            rope_theta: cfg["rope_theta"].as_f64().unwrap_or(100_000.0) as f32,
        };
        let b = "stack/layers/block/";
        let mut ls = Vec::new();
        for l in 0..layers {
            let v = |k: &str| per_layer(&format!("{b}{k}"), l).1;
            let m = |k: &str| {
                let (shape, w) = per_layer(&format!("{b}{k}"), l);
                kernel_t(&w, shape[0], shape[1])
            };
            ls.push(Layer {
                norm_in: v("ZCRMSNorm_0/scale"),
                q: m("self_attn/q_proj/kernel"),
                k: m("self_attn/k_proj/kernel"),
                v: m("self_attn/v_proj/kernel"),
                q_taps: v("self_attn/q_taps"),
                k_taps: v("self_attn/k_taps"),
                v_taps: v("self_attn/v_taps"),
                q_norm: v("self_attn/q_norm/scale"),
                k_norm: v("self_attn/k_norm/scale"),
                gate: m("self_attn/gate_proj/kernel"),
                out: m("self_attn/out_proj/kernel"),
                post_norm: v("post_attn_norm/scale"),
                attn_gate: v("attn_gate")[0],
                pre_hada: v("pre_hada_norm/scale"),
                mlp: MlpWeights {
                    d1: v("hadamard_mlp/d1"),
                    d2: v("hadamard_mlp/d2"),
                    b2: v("hadamard_mlp/b2"),
                    d3: v("hadamard_mlp/d3"),
                    d4: v("hadamard_mlp/d4"),
                    w: ["w1a", "w1b", "w2a", "w2b", "w3a", "w3b"].map(|k| v(&format!("hadamard_mlp/{k}"))),
                    cond_v: v("hadamard_mlp/cond_v"),
                    cond_u: v("hadamard_mlp/cond_u"),
                },
            });
        }
        // φ: [L, n·d, m] in Flax; the file (and the forward pass) hold [L·m, n·d].
        let phi = |k: &str| -> Mat {
            let (shape, v) = get(k);
            let (nc, m) = (shape[1], shape[2]);
            let mut w = vec![0f32; layers * m * nc];
            for l in 0..layers {
                for r in 0..nc {
                    for c in 0..m {
                        w[(l * m + c) * nc + r] = v[(l * nc + r) * m + c];
                    }
                }
            }
            Box::new(Dense { rows: layers * m, cols: nc, w })
        };
        let mhc = Mhc {
            a_pre: get("stack/mhc_a_pre").1,
            a_post: get("stack/mhc_a_post").1,
            a_res: get("stack/mhc_a_res").1,
            b_pre: get("stack/mhc_b_pre").1,
            b_post: get("stack/mhc_b_post").1,
            b_res: get("stack/mhc_b_res").1,
            phi_pre: phi("stack/mhc_phi_pre"),
            phi_post: phi("stack/mhc_phi_post"),
            phi_res: phi("stack/mhc_phi_res"),
        };
        let sites = (0..g.sites.len())
            .map(|s| {
                let (shape, tables) = get(&format!("engrams_{s}/embedding"));
                let (kshape, kp) = get(&format!("engrams_{s}/key_proj/kernel"));
                let (_, vp) = get(&format!("engrams_{s}/value_proj/kernel"));
                EngramSite {
                    tables: Box::new(Dense { rows: shape[0] * shape[1], cols: shape[2], w: tables }),
                    key_proj: kernel_t(&kp, kshape[0], kshape[1]),
                    value_proj: kernel_t(&vp, kshape[0], kshape[1]),
                    taps: get(&format!("engrams_{s}/taps")).1,
                }
            })
            .collect();
        let (eshape, emb) = get("embedding/embedding");
        let (pshape, probes) = get("confidence_head/probes");
        let (qshape, query) = get("confidence_head/query");
        let (kshape, kern) = get("confidence_head/proj/kernel");
        let confidence = Some(ProbeHead {
            probes: Box::new(Dense { rows: pshape[0] * pshape[1], cols: pshape[2], w: probes }),
            gain: get("confidence_head/gain").1,
            query: Box::new(Dense { rows: qshape[0], cols: qshape[1], w: query }),
            row_bias: get("confidence_head/row_bias").1,
            proj: kernel_t(&kern, kshape[0], kshape[1]),
            bias: get("confidence_head/proj/bias").1,
            per_row: pshape[1],
        });
        let perm = |k: &str| net[k].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        Weights {
            embedding: Box::new(Dense { rows: eshape[0], cols: eshape[1], w: emb }),
            layers: ls,
            mhc,
            p1: perm("p1"),
            p2: perm("p2"),
            sites,
            final_norm: get("stack/final_norm/scale").1,
            confidence,
            g,
        }
    }

    #[test]
    fn every_position_matches_upstreams_full_forward() {
        let f = fixture();
        let net = &f["network"];
        let w = weights_from(net);
        let toks: Vec<u32> = net["tokens"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        let want: Vec<f32> = net["logits"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        let v = w.g.vocab;
        let mut st = w.state(true);
        let mut worst = 0f32;
        for (p, &t) in toks.iter().enumerate() {
            w.step(t, &mut st);
            let row = &want[p * v..(p + 1) * v];
            let range = row.iter().fold(f32::MIN, |a, &b| a.max(b)) - row.iter().fold(f32::MAX, |a, &b| a.min(b));
            let dev = st.logits.iter().zip(row).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / range;
            worst = worst.max(dev);
        }
        assert!(worst < 1e-5, "max logit deviation {worst} of the logit range");
        println!("v3 forward vs upstream (20 positions): max deviation {worst:.2e} of the logit range");
        // The window (4) is shorter than the sequence (20): local layers were exercised.
        assert!(toks.len() > 2 * w.g.window);
        let c = w.confidence_logit(&st).unwrap();
        let want_c = net["confidence_logit"].as_f64().unwrap() as f32;
        assert!((c - want_c).abs() < 1e-5 * want_c.abs().max(1.0), "confidence logit {c} vs {want_c}");
        println!("confidence logit {c} vs upstream {want_c}");
    }
}
