//! Cross-checks against the two recorded oracles on the project's synthetic models:
//! the independent NumPy reference (`tests/reference/needle_ref.py`: ids, margins,
//! logits, encoder states) and the `needle-rs` 0.3.1 wheel (ids).
//! Fixtures come from `tools/record_parity.py`.

mod common;
use common::*;
use serde_json::Value;

/// Margin below which a flip between near-tied logits is accepted (docs/ARCHITECTURE.md#numerics, #synthetic-test-models).
const NEAR_TIE: f64 = 1e-3;

fn first_diff(a: &[u32], b: &[u32]) -> Option<usize> {
    let n = a.len().min(b.len());
    (0..n).find(|&i| a[i] != b[i]).or(if a.len() != b.len() { Some(n) } else { None })
}

#[test]
fn greedy_outputs_match_reference_and_needle_rs() {
    let cases = jsonl("parity/cases.jsonl");
    assert!(cases.len() >= 500, "parity suite has only {} cases", cases.len());
    let (mut exact_ref, mut flips_ref, mut exact_rs, mut flips_rs, mut tokens) = (0, 0, 0, 0, 0usize);
    let mut failures = Vec::new();
    for c in &cases {
        let e = engine(c["preset"].as_str().unwrap());
        let (q, t) = (c["query"].as_str().unwrap(), c["tools"].as_str().unwrap());
        let enc = e.encoder_input(q, t).expect("tools are valid");
        assert_eq!(enc, ids_of(&c["enc_ids"]), "case {}: encoder input differs", c["id"]);
        let r = e.run(q, t).expect("run succeeds");
        let ref_ids = ids_of(&c["ref_ids"]);
        let margins: Vec<f64> = c["ref_margins"].as_array().unwrap().iter().map(|m| m.as_f64().unwrap()).collect();
        tokens += ref_ids.len();
        let mut check = |target: &[u32], exact: &mut usize, flips: &mut usize, who: &str| match first_diff(&r.token_ids, target) {
            None => *exact += 1,
            Some(k) if k < margins.len() && margins[k] < NEAR_TIE && r.token_ids[..k] == ref_ids[..k] => *flips += 1,
            Some(k) => failures.push(format!(
                "case {} ({}): differs from {who} at step {k} (reference margin {:?})\n  ours: {:?}\n  {who}: {:?}",
                c["id"], c["preset"], margins.get(k), r.token_ids, target
            )),
        };
        check(&ref_ids, &mut exact_ref, &mut flips_ref, "numpy reference");
        check(&ids_of(&c["needle_rs_ids"]), &mut exact_rs, &mut flips_rs, "needle-rs");
        if r.token_ids == ref_ids {
            assert_eq!(r.text, c["ref_text"].as_str().unwrap(), "case {}: text differs", c["id"]);
        }
    }
    eprintln!(
        "parity: {} cases, {tokens} reference tokens; numpy reference: {exact_ref} exact + {flips_ref} near-tie flips; needle-rs: {exact_rs} exact + {flips_rs} near-tie flips",
        cases.len()
    );
    assert!(failures.is_empty(), "{} parity failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn logits_and_encoder_states_match_reference() {
    let cases = jsonl("parity/logits.jsonl");
    assert!(!cases.is_empty());
    let mut worst_logit = 0f64;
    let mut worst_enc = 0f64;
    let mut steps_checked = 0;
    for c in &cases {
        let e = engine(c["preset"].as_str().unwrap());
        let enc_ids = ids_of(&c["enc_ids"]);
        let dec_input = ids_of(&c["dec_input"]);
        let logits = e.teacher_forced_logits(&enc_ids, &dec_input).unwrap();
        let steps = c["steps"].as_array().unwrap();
        assert_eq!(steps.len(), logits.len().min(steps.len()));
        for (k, s) in steps.iter().enumerate() {
            let l = &logits[k];
            let range = s["max"].as_f64().unwrap() - s["min"].as_f64().unwrap();
            let mut check = |id: usize, want: f64| {
                let dev = (l[id] as f64 - want).abs() / range;
                worst_logit = worst_logit.max(dev);
                assert!(dev <= 1e-4, "case {} step {k} id {id}: {} vs {want} (rel. dev {dev:e})", c["id"], l[id]);
            };
            for pair in s["top"].as_array().unwrap() {
                check(pair[0].as_u64().unwrap() as usize, pair[1].as_f64().unwrap());
            }
            for (i, v) in s["sample"].as_array().unwrap().iter().enumerate() {
                check(i * 61, v.as_f64().unwrap());
            }
            let top = s["top"].as_array().unwrap();
            let margin = top[0][1].as_f64().unwrap() - top[1][1].as_f64().unwrap();
            if margin > NEAR_TIE {
                let am = needle::constrain::argmax(l) as u64;
                assert_eq!(am, top[0][0].as_u64().unwrap(), "case {} step {k}: argmax differs", c["id"]);
            }
            steps_checked += 1;
        }
        let states = e.encoder_states(&enc_ids).unwrap();
        let d = e.config().d_model;
        let n = enc_ids.len();
        for (key, row) in [("0", 0usize), ("last", n - 1)] {
            let want = floats_of(&c["enc_rows"][key]);
            let got = &states[row * d..(row + 1) * d];
            let scale = want.iter().fold(1f32, |m, v| m.max(v.abs())) as f64;
            for j in 0..d {
                let dev = (got[j] as f64 - want[j] as f64).abs() / scale;
                worst_enc = worst_enc.max(dev);
                assert!(dev <= 1e-4, "case {} encoder row {key} col {j}: {} vs {}", c["id"], got[j], want[j]);
            }
        }
        let norms = floats_of(&c["enc_row_norms"]);
        for t in 0..n {
            let r = &states[t * d..(t + 1) * d];
            let nrm = r.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
            assert!((nrm - norms[t] as f64).abs() <= 1e-4 * (1.0 + nrm), "case {} row {t} norm", c["id"]);
        }
    }
    eprintln!(
        "logit parity: {} cases, {steps_checked} steps; max deviation {worst_logit:e} of the logit range; encoder states max deviation {worst_enc:e}",
        cases.len()
    );
}

#[test]
fn contrastive_embeddings_and_retrieval_match_reference() {
    let cases = jsonl("parity/contrastive.jsonl");
    let mut n_emb = 0;
    let mut n_ret = 0;
    for c in &cases {
        let e = engine(c["preset"].as_str().unwrap());
        if let Some(text) = c.get("text").and_then(Value::as_str) {
            assert_eq!(e.tokenizer().encode(text), ids_of(&c["ids"]));
            let got = e.encode_contrastive(text).unwrap();
            let want = floats_of(&c["embedding"]);
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-4, "{text:?}: {g} vs {w}");
            }
            n_emb += 1;
        } else {
            let descs: Vec<&str> = c["descriptions"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
            let k = c["top_k"].as_u64().unwrap() as usize;
            let got = e.retrieve_tools(c["query"].as_str().unwrap(), &descs, k).unwrap();
            let want = c["expected"].as_array().unwrap();
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(want) {
                assert!((g.1 as f64 - w[1].as_f64().unwrap()).abs() <= 1e-4);
            }
            // Order must agree wherever neighbouring reference scores are not near-tied.
            for (i, w) in want.iter().enumerate() {
                let near = want.iter().any(|o| o != w && (o[1].as_f64().unwrap() - w[1].as_f64().unwrap()).abs() < 1e-5);
                if !near {
                    assert_eq!(got[i].0 as u64, w[0].as_u64().unwrap());
                }
            }
            n_ret += 1;
        }
    }
    assert!(n_emb >= 10 && n_ret >= 2, "contrastive fixture too small ({n_emb} embeddings, {n_ret} retrievals)");
}
