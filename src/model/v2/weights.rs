//! The v2 weights from a parsed `.cact`: the tensor canon walked in upstream's export
//! order (docs/FORMATS.md#v2-canon), every shape checked against the header, CQ matrices kept in the
//! file (memory map or bytes) and evaluated by rotating the activation
//! (docs/FORMATS.md#cq-evaluation), FP16
//! vectors widened exactly; the probe heads (docs/FORMATS.md#probe-heads) after `final_norm`.

use super::network::{Geometry, Layer, ProbeHead, Weights};
use crate::container::cact::Cact;
use crate::model::common::canon::{bad, Canon};
use crate::model::common::engram::{EngramGeom, EngramSite, ENGRAM_TAPS};
use crate::model::common::mhc::Mhc;
use crate::Result;
use std::sync::Arc;

/// Probes of the contrastive and the confidence head (upstream's constants).
pub(crate) const CONTRASTIVE_PROBES: usize = 4;
pub(crate) const CONFIDENCE_PROBES: usize = 8;

/// Builds the v2 weights of a parsed v2 `.cact` (the tokenizer record excluded).
pub(crate) fn load(file: Arc<Cact>) -> Result<Weights> {
    let h = file.v2().ok_or_else(|| bad("not a Needle v2 .cact file".into()))?.clone();
    let u = |v: u32| v as usize;
    let (v, d, l, heads, kv) = (u(h.vocab), u(h.d_model), u(h.num_layers), u(h.num_heads), u(h.num_kv_heads));
    let (hd, n, nh) = (u(h.head_dim), u(h.mhc_lanes), u(h.hada_n));
    let orders: Vec<usize> = h.orders().iter().map(|&o| o as usize).collect();
    let sites: Vec<usize> = h.sites().iter().map(|&s| s as usize).collect();
    let check = |ok: bool, what: String| if ok { Ok(()) } else { Err(bad(format!(".cact v2 header: {what}"))) };
    // The container checked the fields one by one; these tie them to the canon.
    check(kv > 0 && heads % kv == 0, format!("num_heads {heads} must be a multiple of num_kv_heads {kv}"))?;
    check(hd > 0 && hd % 2 == 0, format!("head_dim {hd} must be even and non-zero"))?;
    check(nh == d.next_power_of_two(), format!("hada_n {nh} must be the next power of two ≥ d_model {d}"))?;
    check(sites.iter().all(|&s| s < l), format!("engram sites {sites:?} must be below num_layers {l}"))?;
    let tables = u(h.num_engram_tables);
    let sub = u(h.engram_sub_dim);
    let mut eheads = 0;
    if !sites.is_empty() {
        check(!orders.is_empty(), "engram sites need at least one engram order".into())?;
        check(tables > 0 && tables % orders.len() == 0, format!("{tables} engram tables for {} orders", orders.len()))?;
        check(tables * sub == d, format!("engram tables × sub_dim = {tables} × {sub} must equal d_model {d}"))?;
        check(h.engram_slots > 0, "engram_slots must be non-zero".into())?;
        check(u(h.engram_conv_taps) == ENGRAM_TAPS, format!("engram_conv_taps {} (upstream writes 4)", h.engram_conv_taps))?;
        check(
            u(h.engram_conv_dilation) == orders.iter().copied().max().unwrap_or(0),
            format!("engram_conv_dilation {} must be the largest order", h.engram_conv_dilation),
        )?;
        eheads = tables / orders.len();
    }
    let g = Geometry {
        vocab: v,
        d,
        layers: l,
        heads,
        kv_heads: kv,
        hd,
        lanes: n,
        window: u(h.kv_window),
        hada_n: nh,
        engram: EngramGeom {
            heads: eheads,
            seed_stride: eheads,
            slots: u(h.engram_slots),
            sub,
            dilation: u(h.engram_conv_dilation).max(1),
            orders,
        },
        sites: sites.clone(),
        rope_theta: h.rope_theta,
    };
    let end = file.tokenizer_index().unwrap_or(file.num_tensors());
    let mut c = Canon { file: &file, next: 0, end };
    let embedding = c.cq("embedding", v, d)?;
    let mut layers = Vec::with_capacity(l);
    for i in 0..l {
        let r = |s: &str| format!("layer {i} {s}");
        layers.push(Layer {
            norm_in: c.floats(&r("norm_in"), &[d])?,
            q: c.cq(&r("q_proj"), heads * hd, d)?,
            k: c.cq(&r("k_proj"), kv * hd, d)?,
            v: c.cq(&r("v_proj"), kv * hd, d)?,
            q_norm: c.floats(&r("q_norm"), &[hd])?,
            k_norm: c.floats(&r("k_norm"), &[hd])?,
            gate: c.cq(&r("gate_proj"), heads * hd, d)?,
            out: c.cq(&r("out_proj"), d, heads * hd)?,
            post_norm: c.floats(&r("post_norm"), &[d])?,
            attn_gate: c.floats(&r("attn_gate"), &[1])?[0],
            pre_hada: c.floats(&r("pre_hada"), &[d])?,
            d1: c.floats(&r("d1"), &[nh])?,
            d2: c.floats(&r("d2"), &[nh])?,
            d3: c.floats(&r("d3"), &[nh])?,
        });
    }
    let mhc = Mhc {
        a_pre: c.floats("mhc_a_pre", &[l])?,
        a_post: c.floats("mhc_a_post", &[l])?,
        a_res: c.floats("mhc_a_res", &[l])?,
        b_pre: c.floats("mhc_b_pre", &[l, n])?,
        b_post: c.floats("mhc_b_post", &[l, n])?,
        b_res: c.floats("mhc_b_res", &[l, n, n])?,
        phi_pre: c.cq("mhc_phi_pre", l * n, n * d)?,
        phi_post: c.cq("mhc_phi_post", l * n, n * d)?,
        phi_res: c.cq("mhc_phi_res", l * n * n, n * d)?,
    };
    let mut esites = Vec::with_capacity(sites.len());
    for s in 0..sites.len() {
        let r = |x: &str| format!("engram site {s} {x}");
        esites.push(EngramSite {
            tables: c.cq(&r("tables"), tables * g.engram.slots, sub)?,
            key_proj: c.cq(&r("key_proj"), d, tables * sub)?,
            value_proj: c.cq(&r("value_proj"), d, tables * sub)?,
            taps: c.floats(&r("taps"), &[ENGRAM_TAPS, d])?,
        });
    }
    let final_norm = c.floats("final_norm", &[d])?;
    let (mut contrastive, mut confidence) = (None, None);
    if c.next < c.end {
        let extra = c.end - c.next;
        let count = file.record(c.next)?.elements() as usize;
        if extra < 4 || (extra - 1) % 3 != 0 || count != (extra - 1) / 3 {
            return Err(bad(format!(
                ".cact heads: {extra} tensors after final_norm with a manifest of {count} codes \
                 (want the manifest and 3 tensors per head)"
            )));
        }
        let manifest = c.floats("heads manifest", &[count])?;
        for (j, &code) in manifest.iter().enumerate() {
            if code != 1.0 && code != 2.0 {
                return Err(bad(format!(".cact heads manifest: unknown head code {code} (v2 knows 1 contrastive, 2 confidence)")));
            }
            if j > 0 && code <= manifest[j - 1] {
                return Err(bad(format!(".cact heads manifest {manifest:?}: a head listed twice or out of order (want 1 before 2)")));
            }
        }
        for code in manifest {
            let (name, probes, out) = if code == 1.0 {
                ("contrastive head", CONTRASTIVE_PROBES, None)
            } else {
                ("confidence head", CONFIDENCE_PROBES, Some(1))
            };
            let probes = c.floats(&format!("{name} probes"), &[probes, d])?;
            let rows = out.unwrap_or_else(|| file.record(c.next).map(|r| r.dims[0] as usize).unwrap_or(0));
            if rows == 0 {
                return Err(bad(format!(".cact {name} proj: 0 outputs")));
            }
            let proj = c.floats(&format!("{name} proj"), &[rows, probes.len()])?;
            let bias = c.floats(&format!("{name} bias"), &[rows])?;
            let head = ProbeHead { probes, proj, bias, out: rows };
            if code == 1.0 {
                contrastive = Some(head);
            } else {
                confidence = Some(head);
            }
        }
    }
    if c.next != c.end {
        return Err(bad(format!(".cact has {} tensors after the model's last one (#{})", c.end - c.next, c.next)));
    }
    Ok(Weights { g, embedding, layers, mhc, sites: esites, final_norm, contrastive, confidence })
}
