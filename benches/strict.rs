//! Strict schema mode's cost per generated token, side by side with the default
//! constrained mode in one run: the bundled demo model (v1) and the v3 test model, with the
//! first 1 and 20 tools of `benches/tools20.json`.
//!
//! Per-token time = (time of a full run − time of a 1-token run, the prefill) / (tokens − 1),
//! the median over interleaved repetitions. The last two columns are the strict decoder's
//! own time per answer token (grammar compile, masks, choice, feeding), replaying the strict
//! answer: cold (a new decoder, as for new tools) and warm (the engine's cached decoder for
//! repeated tools). `cargo bench --bench strict [-- REPS]`.

use needle::schema::decoder::{Choice, StrictDecoder, TokenBytes};
use needle::schema::{compile, grammar::Grammar};
use needle::{Engine, RunOptions};
use std::time::Instant;

const QUERY: &str = "What's the weather in Paris?";

fn tools(n: usize) -> String {
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("benches/tools20.json").expect("benches/tools20.json")).unwrap();
    serde_json::Value::Array(all.as_array().unwrap()[..n].to_vec()).to_string()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median microseconds per generated token (after the first) of `opts`, and the tokens.
fn per_token(e: &Engine, t: &str, opts: &RunOptions, reps: usize, out: &mut Vec<f64>) -> usize {
    let full = opts.clone().max_new_tokens(48);
    let one = opts.clone().max_new_tokens(1);
    let n = e.run_with(QUERY, t, &full).unwrap().token_ids.len();
    for _ in 0..reps {
        let a = Instant::now();
        e.run_with(QUERY, t, &one).unwrap();
        let pre = a.elapsed().as_secs_f64();
        let a = Instant::now();
        let r = e.run_with(QUERY, t, &full).unwrap();
        let all = a.elapsed().as_secs_f64();
        out.push((all - pre).max(0.0) * 1e6 / (r.token_ids.len().max(2) - 1) as f64);
    }
    n
}

/// Median microseconds per answer token spent in the strict decoder alone (compiling the
/// grammar, masks from an empty cache as in a real call, choosing, feeding), replaying the
/// strict run's answer tokens.
fn grammar_only(e: &Engine, t: &str, reps: usize) -> (f64, f64) {
    let ids = e.run_with(QUERY, t, &RunOptions::default().strict(true).max_new_tokens(48)).unwrap().token_ids;
    let tok = e.tokenizer();
    let v1 = e.generation() == 1;
    let answer: Vec<u32> = if v1 {
        ids[1..].to_vec()
    } else {
        let open = tok.piece_id("<tool_call>").unwrap();
        let close = tok.piece_id("</tool_call>").unwrap();
        let a = ids.iter().position(|&i| i == open).map_or(ids.len(), |p| p + 1);
        ids[a..].iter().copied().take_while(|&i| i != close).collect()
    };
    let tb = TokenBytes::new(tok, !v1);
    let defs = needle::tools::normalize_tools(t).unwrap().defs;
    let names: Vec<&str> = defs.iter().map(|d| if v1 { d.snake.as_str() } else { d.name.as_str() }).collect();
    let mut logits = vec![0f32; tb.len()];
    let mut out = Vec::new();
    let mut warm = StrictDecoder::new(Grammar::new(compile(t, &names)));
    for rep in 0..2 * reps {
        // First `reps` cold (new grammar, empty cache), then `reps` warm (as a repeated call
        // with the same tools finds them).
        let a = Instant::now();
        let mut cold;
        let d = if rep < reps {
            cold = StrictDecoder::new(Grammar::new(compile(t, &names)));
            &mut cold
        } else {
            warm.reset();
            &mut warm
        };
        for (k, &id) in answer.iter().enumerate() {
            logits[id as usize] = 1.0;
            match d.choose(&logits, &tb, 48 - k, 0) {
                Choice::Token(c) => {
                    d.update(tb.get(c as usize));
                }
                _ => break,
            }
            logits[id as usize] = 0.0;
        }
        out.push(a.elapsed().as_secs_f64() * 1e6 / answer.len().max(1) as f64);
    }
    let warm_part = out.split_off(reps);
    (median(out), median(warm_part))
}

fn main() {
    let reps: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(15);
    Engine::set_threads(1);
    let demo = Engine::load("models/needle-demo/needle.safetensors", "models/needle-demo/vocab.txt").unwrap();
    let v3 = Engine::open("tests/fixtures/v3/full.cact").unwrap();
    println!("strict schema mode, per generated token (median of {reps}, 1 thread, 48-token budget)");
    println!(
        "{:<28} {:>5} {:>12} {:>12} {:>8} {:>8} {:>11} {:>11}",
        "model", "tools", "default µs", "strict µs", "ratio", "tokens", "cold µs/tok", "warm µs/tok"
    );
    for (name, e) in [("bundled demo (v1)", &demo), ("v3 test model (full.cact)", &v3)] {
        for n in [1usize, 20] {
            let t = tools(n);
            let (mut d, mut s) = (Vec::new(), Vec::new());
            let mut toks = (0, 0);
            // Interleaved: one default round, one strict round, repeated.
            for _ in 0..3 {
                toks.0 = per_token(e, &t, &RunOptions::default(), reps.div_ceil(3), &mut d);
                toks.1 = per_token(e, &t, &RunOptions::default().strict(true), reps.div_ceil(3), &mut s);
            }
            let (dm, sm) = (median(d), median(s));
            let (cold, warm) = grammar_only(e, &t, reps);
            println!(
                "{name:<28} {n:>5} {dm:>12.1} {sm:>12.1} {:>8.3} {:>4}/{:<3} {cold:>11.1} {warm:>11.1}",
                sm / dm,
                toks.0,
                toks.1
            );
        }
    }
}
