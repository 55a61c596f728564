//! Constrained decoding driven by hand-made traces over the real stand-in vocabulary:
//! at every step the logits favour a forbidden token (EOS, a name that is not a tool,
//! a key that is not a parameter); the constrained decoder must still pick the token
//! of the intended call whenever the JSON machine is inside a name or argument key.

mod common;
use common::*;
use needle::constrain::{ConstrainedDecoder, JsonState};
use needle::tokenizer::{Tokenizer, EOS_ID};
use needle::tools::normalize_tools;

fn tok() -> Tokenizer {
    Tokenizer::from_vocab_text(&vocab_text()).unwrap()
}

/// Replays `answer` (the model's JSON, tokenised like the training targets) through a
/// constrained decoder built from `tools`. Returns the number of constrained steps.
/// At constrained steps the forbidden `tempt` tokens get the highest logits.
fn replay(tools: &str, answer: &str, tempt: &[&str]) -> usize {
    let t = tok();
    let norm = normalize_tools(tools).unwrap();
    let mut cd = ConstrainedDecoder::new(norm.defs.iter().map(|d| (d.snake.as_str(), &d.params[..])));
    let target = t.encode(answer);
    let mut tempt_ids: Vec<u32> = vec![EOS_ID];
    for s in tempt {
        tempt_ids.extend(t.encode(s).into_iter().filter(|&i| t.piece_text(i).trim() != ""));
    }
    let text_of = |id: usize| (id < t.len()).then(|| t.piece_text(id as u32).as_bytes());
    let mut constrained_steps = 0;
    for (step, &want) in target.iter().enumerate() {
        let mut logits = vec![0f32; t.len()];
        logits[want as usize] = 1.0;
        if let Some((trie, node)) = cd.constraint() {
            constrained_steps += 1;
            for &bad in &tempt_ids {
                if bad != want {
                    logits[bad as usize] = 10.0;
                }
            }
            assert!(!trie.allows(node, t.piece_text(EOS_ID).as_bytes()), "EOS allowed inside a constrained span");
            assert!(trie.allows(node, t.piece_text(want).as_bytes()), "step {step}: intended token {:?} masked", t.piece_text(want));
        }
        let got = cd.choose(&logits, text_of);
        if cd.constraint().is_some() {
            assert_eq!(got, want, "step {step}: picked {:?} instead of {:?}", t.piece_text(got), t.piece_text(want));
        }
        cd.update(t.piece_text(want).as_bytes());
    }
    assert_eq!(cd.machine().state(), JsonState::Free, "trace ends outside constrained spans");
    constrained_steps
}

const FLAT: &str = r#"[{"name":"getWeather","description":"Weather","parameters":{"location":{"type":"string"},"unit":{"type":"string","enum":["c","f"]}}},{"name":"SendMessage","parameters":{"recipient":{"type":"string"},"text":{"type":"string"}}}]"#;

#[test]
fn flat_style_names_and_keys() {
    let n = replay(FLAT, r#"[{"name":"get_weather","arguments":{"location":"Paris","unit":"c"}}]"#, &["send", "city", "zzz", "location"]);
    assert!(n >= 4, "only {n} constrained steps");
}

#[test]
fn openai_style_with_properties() {
    let tools = r#"[{"type":"function","function":{"name":"book-flight","description":"Book","parameters":{"type":"object","properties":{"origin":{"type":"string"},"destination":{"type":"string"},"date":{"type":"string"}},"required":["origin"]}}}]"#;
    let n = replay(tools, r#"[{"name":"book_flight","arguments":{"origin":"Oslo","destination":"Rome","date":"2026-12-01"}}]"#, &["type", "required", "get"]);
    assert!(n >= 4);
}

#[test]
fn prefix_shadowed_names_both_reachable() {
    let tools = r#"[{"name":"get_weather","parameters":{"city":{"type":"string"}}},{"name":"get_weather_forecast","parameters":{"city":{"type":"string"},"days":{"type":"integer"}}}]"#;
    replay(tools, r#"[{"name":"get_weather","arguments":{"city":"Rome"}}]"#, &["zzz", "days", "hour"]);
    replay(tools, r#"[{"name":"get_weather_forecast","arguments":{"city":"Rome","days":3}}]"#, &["hour", "zzz"]);
}

#[test]
fn multiple_calls_and_nested_arguments() {
    replay(
        FLAT,
        r#"[{"name":"get_weather","arguments":{"location":"Oslo"}},{"name":"send_message","arguments":{"recipient":"Ann","text":"{\"a\":1}"}}]"#,
        &["get", "zzz"],
    );
    // A nested object inside the arguments: its keys are free, the outer keys constrained.
    let tools = r#"[{"name":"create_event","parameters":{"when":{"type":"object"},"title":{"type":"string"}}}]"#;
    replay(tools, r#"[{"name":"create_event","arguments":{"when":{"day":"mon","hour":9},"title":"Standup"}}]"#, &["what"]);
}

#[test]
fn snake_collisions_and_parameterless_tools() {
    let tools = r#"[{"name":"getTime","parameters":{"zone":{"type":"string"}}},{"name":"get_time","parameters":{"tz":{"type":"string"}}},{"name":"ping"}]"#;
    let defs = normalize_tools(tools).unwrap().defs;
    assert_eq!(defs[0].snake, defs[1].snake);
    // The later tool's keys win (docs/ARCHITECTURE.md#constrained-decoding).
    replay(tools, r#"[{"name":"get_time","arguments":{"tz":"UTC"}}]"#, &["zone"]);
    replay(tools, r#"[{"name":"ping","arguments":{}}]"#, &["pong"]);
}

#[test]
fn zero_tools_leave_names_unconstrained() {
    let t = tok();
    let cd0 = ConstrainedDecoder::new(normalize_tools("[]").unwrap().defs.iter().map(|d| (d.snake.as_str(), &d.params[..])));
    let mut cd = cd0.clone();
    cd.update(b" [{\"name\":\"");
    assert_eq!(cd.machine().state(), JsonState::InName);
    assert!(cd.constraint().is_none());
    let mut logits = vec![0f32; t.len()];
    logits[EOS_ID as usize] = 3.0;
    let text_of = |id: usize| Some(t.piece_text(id as u32).as_bytes());
    assert_eq!(cd.choose(&logits, text_of), EOS_ID);
}
