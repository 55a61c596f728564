//! What every generation's answer and configuration look like from outside: the
//! structured result JSON (every key always there), the config JSON the wrappers
//! return, the confidence of a given completion, and the lists the wrappers are
//! checked against.

mod common;

use common::{fixture, model_path, vocab_path};
use needle::{Engine, ErrorKind, RunOptions, RunResult, StopReason};
use serde_json::Value;

const TOOLS: &str = r#"[{"name":"getWeather","description":"Weather for a city","parameters":{"city":{"type":"string"}}},{"name":"send_message","parameters":{"to":{"type":"string"},"body":{"type":"string"}}}]"#;

fn engines() -> Vec<(&'static str, Engine)> {
    vec![
        ("v1", Engine::load(model_path("tiny"), vocab_path()).unwrap()),
        ("v2", Engine::open(fixture("v2/tiny.cact")).unwrap()),
        ("v3", Engine::open(fixture("v3/tiny.cact")).unwrap()),
    ]
}

#[test]
fn the_result_json_has_every_field_for_every_generation() {
    for (name, e) in engines() {
        for opts in [RunOptions::default().max_new_tokens(8), RunOptions::default().max_new_tokens(8).system("Be brief.")] {
            let r = e.run_with("What's the weather in Paris?", TOOLS, &opts).unwrap();
            let v: Value = serde_json::from_str(&r.to_json()).unwrap();
            let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, RunResult::JSON_FIELDS, "{name}");
            assert_eq!(v["text"], r.text.as_str(), "{name}");
            assert_eq!(v["prompt_tokens"].as_u64().unwrap() as usize, r.prompt_tokens, "{name}");
            assert_eq!(r.prompt_tokens, r.encoder_tokens, "{name}");
            assert_eq!(v["stop"], r.stop.as_str(), "{name}");
            assert_eq!(v["prompt_truncated"], false, "{name}");
            let ids: Vec<u32> = v["token_ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
            assert_eq!(ids, r.token_ids, "{name}");
            match r.confidence {
                Some(c) => assert!((v["confidence"].as_f64().unwrap() - c as f64).abs() < 1e-6, "{name}"),
                None => assert!(v["confidence"].is_null(), "{name}"),
            }
            assert_eq!(r.confidence.is_some(), name != "v1", "{name}: the tiny v2/v3 files carry the confidence head");
            match &r.reasoning {
                Some(t) => assert_eq!(v["reasoning"], t.as_str()),
                None => assert!(v["reasoning"].is_null()),
            }
            if name == "v1" {
                assert!(r.reasoning.is_none());
            }
        }
    }
}

#[test]
fn the_config_json_is_the_geometry_with_the_heads() {
    for (name, e) in engines() {
        let v: Value = serde_json::from_str(&e.config_json()).unwrap();
        assert_eq!(v["generation"], e.generation(), "{name}");
        let g = e.geometry();
        for (k, val) in g.as_object().unwrap() {
            assert_eq!(&v[k], val, "{name}: {k}");
        }
        assert_eq!(v["contrastive_dim"].as_u64().unwrap() as usize, e.contrastive_dim(), "{name}");
        assert!(v["confidence_head"].is_boolean(), "{name}");
    }
    let v1: Value = serde_json::from_str(&Engine::load(model_path("tiny"), vocab_path()).unwrap().config_json()).unwrap();
    let c = Engine::load(model_path("tiny"), vocab_path()).unwrap().config().clone();
    assert_eq!(v1["head_dim"].as_u64().unwrap() as usize, c.head_dim());
    assert_eq!(v1["activation"], c.activation.name());
    assert_eq!(v1["confidence_head"], false);
    for k in ["d_model", "num_heads", "num_kv_heads", "num_encoder_layers", "num_decoder_layers", "vocab_size", "max_enc_len", "max_dec_len", "ffn_dim", "rope_theta"] {
        assert!(v1.get(k).is_some(), "v1 config keeps {k}");
    }
}

/// `Engine::confidence` on the text of a run's tokens gives that run's confidence when
/// the text encodes back to the same ids (the completion is encoded on its own).
#[test]
fn confidence_of_a_completion_is_the_runs_confidence() {
    let mut compared = 0;
    for (name, e) in engines().into_iter().skip(1) {
        let queries = ["What's the weather in Paris?", "Text Bob that I am late", "hello", "Set a timer for 10 minutes"];
        for q in queries {
            for n in [1, 2, 3, 5, 8] {
                let opts = RunOptions::default().max_new_tokens(n).constrained(false);
                let r = e.run_with(q, TOOLS, &opts).unwrap();
                let text = e.tokenizer().decode(&r.token_ids);
                if e.tokenizer().encode(&text) != r.token_ids {
                    continue;
                }
                let c = e.confidence(q, TOOLS, &text, &opts).unwrap();
                assert!((c - r.confidence.unwrap()).abs() < 1e-6, "{name} {q:?} {n}: {c} vs {:?}", r.confidence);
                compared += 1;
            }
        }
        // A completion of the model's own shape, with and without a system prompt.
        let call = r#"<tool_call>[{"name":"getWeather","arguments":{"city":"Paris"}}]</tool_call>"#;
        let a = e.confidence("What's the weather in Paris?", TOOLS, call, &RunOptions::default()).unwrap();
        let b = e.confidence("What's the weather in Paris?", TOOLS, call, &RunOptions::default().system("Be brief.")).unwrap();
        assert!(a > 0.0 && a < 1.0 && b > 0.0 && b < 1.0 && a != b, "{name}: {a} {b}");
        let err = e.confidence("q", "[{", call, &RunOptions::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidTools);
    }
    assert!(compared >= 4, "only {compared} runs re-encode to their own ids");
    let v1 = Engine::load(model_path("tiny"), vocab_path()).unwrap();
    let err = v1.confidence("q", TOOLS, "[]", &RunOptions::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.message().contains("no confidence head"));
}

#[test]
fn the_lists_the_wrappers_are_checked_against_are_complete() {
    let codes: Vec<i32> = ErrorKind::ALL.iter().map(|k| k.code()).collect();
    assert_eq!(codes, (1..=9).collect::<Vec<_>>());
    for k in ErrorKind::ALL {
        assert_eq!(ErrorKind::from_code(k.code()), Some(k));
        assert!(!k.name().is_empty() && !k.name().contains('\0'));
    }
    assert_eq!(ErrorKind::from_code(0), None);
    assert_eq!(ErrorKind::from_code(10), None);
    let names: Vec<&str> = StopReason::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(names, ["eos", "max_tokens", "callback", "im_end", "max_seq_len"]);
}

#[test]
fn load_options_and_vocabularies_are_checked_for_every_generation() {
    let depth = needle::LoadOptions::default().depth(2);
    let err = Engine::load_with(model_path("tiny"), vocab_path(), &depth).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("depth"));
    let bytes = std::fs::read(model_path("tiny")).unwrap();
    let vocab = std::fs::read_to_string(vocab_path()).unwrap();
    assert_eq!(Engine::from_bytes_with(bytes.clone(), &vocab, &depth).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert!(Engine::from_bytes_with(bytes, &vocab, &needle::LoadOptions::default()).is_ok());
    assert_eq!(Engine::open_with(fixture("v2/tiny.cact"), &depth).unwrap_err().kind(), ErrorKind::InvalidArgument);
    let e = Engine::open_with(fixture("v3/tiny.cact"), &depth).unwrap();
    assert_eq!(e.geometry()["num_layers"], 2);
    for g in ["v2", "v3"] {
        let err = Engine::load(fixture(&format!("{g}/tiny.cact")), vocab_path()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{g}");
        assert!(err.message().contains("carries its own tokenizer"), "{g}");
    }
}
