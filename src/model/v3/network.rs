//! The Needle v3 forward pass, one position at a time with its caches (Part B7): the
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
    /// Per layer: keys `[pos × kv·qk]` and values `[pos × kv·vh]` (post conv/norm/RoPE).
    keys: Vec<Vec<f32>>,
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
            keys: (0..g.layers).map(|_| Vec::new()).collect(),
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
        let g = &self.g;
        let (d, n, p) = (g.d, g.lanes, st.pos);
        st.tokens.push(token);
        let mut x0 = vec![0f32; d];
        self.embedding.row(token as usize, &mut x0);
        let scale = (d as f64).sqrt() as f32;
        for v in x0.iter_mut() {
            *v *= scale;
        }
        if let Some(c) = st.cells.as_mut() {
            c.extend_from_slice(&x0);
        }
        // Engram keys and values of every site (token ids only).
        let mut ek: Vec<Vec<f32>> = Vec::with_capacity(self.sites.len());
        let mut ev: Vec<Vec<f32>> = Vec::with_capacity(self.sites.len());
        if !self.sites.is_empty() {
            let eg = &g.engram;
            let mut e = vec![0f32; d];
            for (si, site) in self.sites.iter().enumerate() {
                site.fetch(eg, &st.tokens, |order| p + 1 >= order, &mut e);
                let mut k = vec![0f32; d];
                site.key_proj.gemv(&e, &mut k);
                let mut vr = vec![0f32; d];
                site.value_proj.gemv(&e, &mut vr);
                st.engram_raw[si].extend_from_slice(&vr);
                let raw = &st.engram_raw[si];
                let mut v = vec![0f32; d];
                site.conv(
                    |j| {
                        let back = j * eg.dilation;
                        (back <= p).then(|| &raw[(p - back) * d..(p - back + 1) * d])
                    },
                    &mut v,
                );
                ek.push(k);
                ev.push(v);
            }
        }
        // Lanes.
        let mut lanes: Vec<f32> = (0..n).flat_map(|_| x0.iter().copied()).collect();
        let mut u = vec![0f32; d];
        for (l, layer) in self.layers.iter().enumerate() {
            let route = self.mhc.enter(l, n, d, &lanes, 1, &mut u);
            let mut y = self.block(l, layer, &u, &ek, &ev, st);
            for (yj, uj) in y.iter_mut().zip(&u) {
                *yj -= uj;
            }
            self.mhc.leave(n, d, &mut lanes, &route, &y);
            if let Some(c) = st.cells.as_mut() {
                let at = c.len();
                c.resize(at + d, 0.0);
                ops::mean_lanes(&lanes, n, d, &mut c[at..]);
            }
        }
        let mut z = vec![0f32; d];
        ops::mean_lanes(&lanes, n, d, &mut z);
        kernels::zc_rms_norm(&mut z, &self.final_norm);
        self.embedding.gemv_rows(&z, 0, g.out_vocab, &mut st.logits);
        st.pos += 1;
    }

    /// Block `l` on its input `u`: engram gate, attention residual, MLP residual.
    fn block(&self, l: usize, layer: &Layer, u: &[f32], ek: &[Vec<f32>], ev: &[Vec<f32>], st: &mut State) -> Vec<f32> {
        let g = &self.g;
        let d = g.d;
        let mut x = u.to_vec();
        for (si, &site_layer) in g.sites.iter().enumerate() {
            if site_layer != l {
                continue;
            }
            let mut a = u.to_vec();
            ops::rms_unit(&mut a);
            let mut b = ek[si].clone();
            ops::rms_unit(&mut b);
            let alpha = sigmoid(kernels::dot(&a, &b) / (d as f64).sqrt() as f32);
            for (xi, vi) in x.iter_mut().zip(&ev[si]) {
                *xi += alpha * vi;
            }
        }
        let mut h = x.clone();
        kernels::zc_rms_norm(&mut h, &layer.norm_in);
        let mut a = self.attention(l, layer, &h, st);
        kernels::zc_rms_norm(&mut a, &layer.post_norm);
        let ga = sigmoid(layer.attn_gate);
        for (xi, ai) in x.iter_mut().zip(&a) {
            *xi += ga * ai;
        }
        let mut h = x.clone();
        kernels::zc_rms_norm(&mut h, &layer.pre_hada);
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
        let mut out = vec![0f32; d];
        mlp.apply(&h, &mut out, &mut st.mlp);
        for (xi, oi) in x.iter_mut().zip(&out) {
            *xi += oi;
        }
        x
    }

    fn attention(&self, l: usize, layer: &Layer, h: &[f32], st: &mut State) -> Vec<f32> {
        let g = &self.g;
        let (p, qk, vh) = (st.pos, g.qk, g.vh);
        let (qw, kw, vw) = (g.heads * qk, g.kv_heads * qk, g.kv_heads * vh);
        let mut q = vec![0f32; qw];
        let mut k = vec![0f32; kw];
        let mut v = vec![0f32; vw];
        layer.q.gemv(h, &mut q);
        layer.k.gemv(h, &mut k);
        layer.v.gemv(h, &mut v);
        if g.conv_taps > 0 {
            let c = g.conv_taps;
            for (which, (cur, taps)) in [(&mut q, &layer.q_taps), (&mut k, &layer.k_taps), (&mut v, &layer.v_taps)]
                .into_iter()
                .enumerate()
            {
                let w = cur.len();
                let hist = &mut st.raw[l][which];
                hist.extend_from_slice(cur);
                let have = hist.len() / w;
                let past: Vec<&[f32]> = (0..c.min(have)).map(|j| &hist[(have - 1 - j) * w..(have - j) * w]).collect();
                let mut out = vec![0f32; w];
                super::ops::causal_conv(&past, taps, &mut out);
                *cur = out;
                if have >= c {
                    hist.drain(..w);
                }
            }
        }
        for hq in q.chunks_exact_mut(qk) {
            kernels::zc_rms_norm(hq, &layer.q_norm);
            ops::rope(hq, p, &st.freqs);
        }
        for hk in k.chunks_exact_mut(qk) {
            kernels::zc_rms_norm(hk, &layer.k_norm);
            ops::rope(hk, p, &st.freqs);
        }
        st.keys[l].extend_from_slice(&k);
        st.values[l].extend_from_slice(&v);
        let local = g.window > 0 && !g.global[l];
        let first = if local { (p + 1).saturating_sub(g.window) } else { 0 };
        let rep = g.heads / g.kv_heads;
        let scale = (qk as f32).sqrt();
        let mut o = vec![0f32; g.heads * vh];
        let mut scores = Vec::with_capacity(p + 1 - first);
        for hh in 0..g.heads {
            let kh = hh / rep;
            let qh = &q[hh * qk..(hh + 1) * qk];
            scores.clear();
            for t in first..=p {
                let kt = &st.keys[l][t * kw + kh * qk..t * kw + (kh + 1) * qk];
                scores.push(kernels::dot(qh, kt) / scale);
            }
            kernels::softmax(&mut scores);
            let oh = &mut o[hh * vh..(hh + 1) * vh];
            for (i, t) in (first..=p).enumerate() {
                let vt = &st.values[l][t * vw + kh * vh..t * vw + (kh + 1) * vh];
                kernels::axpy(scores[i], vt, oh);
            }
        }
        let mut gate = vec![0f32; g.heads * vh];
        layer.gate.gemv(h, &mut gate);
        for (oi, gi) in o.iter_mut().zip(&gate) {
            *oi *= sigmoid(*gi);
        }
        let mut a = vec![0f32; g.d];
        layer.out.gemv(&o, &mut a);
        a
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
