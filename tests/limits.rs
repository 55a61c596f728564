//! Work bounded by what the model reads, documented input limits, the default token
//! budget, and calls that still succeed when no helper thread can be started.

mod common;
use common::*;
use needle::tokenizer::Tokenizer;
use needle::{Engine, ErrorKind, RunOptions, DEFAULT_MAX_NEW_TOKENS, MAX_QUERY_BYTES, MAX_TOOLS_BYTES};
use serde_json::Value;
use std::time::Instant;

const TOOLS: &str = r#"[{"name":"get_weather","description":"Current weather for a city","parameters":{"city":{"type":"string"}}}]"#;

fn demo() -> &'static Engine {
    static E: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    E.get_or_init(|| {
        let d = root().join("models/needle-demo");
        Engine::load(d.join("needle.safetensors"), d.join("vocab.txt")).expect("bundled demo model loads")
    })
}

/// A deterministic generator (xorshift) of hostile-but-plausible text.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

const BITS: &[&str] = &[
    "weather", " ", "  ", "   ", "Paris", "book", "a", "aa", "aaaa", "\t", "\n", "\u{a0}", "東京", "天気",
    "é", "🙂", "<tool_call>", "<tools>", "\u{2581}", "\u{2581}\u{2581}", "12", "3.5", "{\"x\":", "}", "the ",
    "send_message", "camelCase", "zzzz", "ﬁ", "\r\n", ".", ",",
];

fn text(rng: &mut Rng, bytes: usize) -> String {
    let mut s = String::with_capacity(bytes + 16);
    // Sometimes long runs of one character: no split point for a long stretch.
    while s.len() < bytes {
        if rng.next() % 97 == 0 {
            let c = rng.pick(&["a", " ", "東", "\u{2581}", "z"]);
            let n = (rng.next() % 5000) as usize;
            s.push_str(&c.repeat(n));
        } else {
            s.push_str(rng.pick(BITS));
        }
    }
    s
}

#[test]
fn encode_prefix_gives_exactly_the_first_ids_of_the_whole_encoding() {
    let vocabs = [
        vocab_text(),
        std::fs::read_to_string(root().join("models/needle-demo/vocab.txt")).unwrap(),
    ];
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut compared = 0usize;
    for v in &vocabs {
        let tok = Tokenizer::from_vocab_text(v).unwrap();
        for case in 0..40 {
            // Past the first window (32 KiB), up to a few windows long.
            let len = 40_000 + (rng.next() % 260_000) as usize;
            let t = text(&mut rng, len);
            let full = tok.encode(&t);
            for max in [0usize, 1, 7, 256, 1022, 1024, 5000, 40_000] {
                let got = tok.encode_prefix(&t, max);
                let want = &full[..max.min(full.len())];
                assert!(got == want, "case {case}, {} bytes, max {max}: prefix encoding differs", t.len());
                compared += got.len();
            }
        }
        // Texts that normalise to almost nothing, or end in runs of spaces.
        for t in [" ".repeat(100_000), format!("hi{}", " ".repeat(100_000)), format!("{}x", "a".repeat(200_000))] {
            let full = tok.encode(&t);
            assert_eq!(tok.encode_prefix(&t, 1024), full[..full.len().min(1024)]);
        }
    }
    assert!(compared > 1_000_000, "only {compared} ids compared");
}

/// The 64 MB query of the report: 70 s and 4.2 GB before (the whole text was tokenised),
/// now only what the encoder keeps. The time bound guards against a return to whole-text
/// tokenisation (minutes) on this 2-core machine; it is not a benchmark.
#[test]
fn a_64_mb_query_costs_what_the_model_reads() {
    let e = demo();
    let block = "Could you please tell me what the weather will be like in Paris tomorrow, and in Oslo? ";
    let small = block.repeat(2_000); // 178 kB: whole-text tokenisation is cheap here
    let huge = block.repeat(64_000_000 / block.len());
    assert!(huge.len() > 63_000_000 && huge.len() <= MAX_QUERY_BYTES);
    let want = e.encoder_input(&small, TOOLS).unwrap();
    let t0 = Instant::now();
    let got = e.encoder_input(&huge, TOOLS).unwrap();
    let r = e.run_with(&huge, TOOLS, &RunOptions::default().max_new_tokens(8)).unwrap();
    let took = t0.elapsed();
    assert_eq!(got, want, "same encoder ids as the whole text's encoding");
    assert_eq!(got.len(), e.config().max_enc_len);
    assert_eq!(r.encoder_tokens, want.len());
    assert!(took.as_secs_f64() < 10.0, "64 MB query took {took:?}");
    println!("64 MB query: encoder input + 8-token run in {:.0} ms", took.as_secs_f64() * 1e3);

    // A long tools JSON (one 15 MB description) is parsed whole but tokenised only as
    // far as the encoder reads.
    let desc = "Returns the current weather for a city. ".repeat(15_000_000 / 40);
    let tools = serde_json::json!([{"name": "get_weather", "description": desc, "parameters": {"city": {"type": "string"}}}]).to_string();
    assert!(tools.len() > 14_000_000 && tools.len() <= MAX_TOOLS_BYTES);
    let short_tools = serde_json::json!([{"name": "get_weather", "description": &desc[..200_000], "parameters": {"city": {"type": "string"}}}]).to_string();
    let t0 = Instant::now();
    let got = e.encoder_input("weather in Paris?", &tools).unwrap();
    let took = t0.elapsed();
    assert_eq!(got, e.encoder_input("weather in Paris?", &short_tools).unwrap());
    assert!(took.as_secs_f64() < 10.0, "15 MB tools took {took:?}");
    println!("15 MB tools: encoder input in {:.0} ms", took.as_secs_f64() * 1e3);
}

#[test]
fn input_over_the_documented_limits_is_a_clear_error() {
    let e = engine("tiny");
    let q = "a".repeat(MAX_QUERY_BYTES + 1);
    for err in [e.run(&q, TOOLS).unwrap_err(), e.encoder_input(&q, TOOLS).unwrap_err(), e.encode_contrastive(&q).unwrap_err()] {
        assert!(matches!(err.kind(), ErrorKind::InvalidArgument | ErrorKind::Unsupported), "{err}");
    }
    let err = e.run(&q, TOOLS).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("query is 67108865 bytes") && err.to_string().contains("67108864"), "{err}");
    let head = engine("tiny-head");
    let err = head.retrieve_tools("q", &["ok", &q], 1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("text is"), "{err}");
    // Exactly at the limit is accepted.
    assert!(e.encoder_input(&q[..MAX_QUERY_BYTES], TOOLS).is_ok());

    let tools = format!("[{{\"name\":\"a\",\"description\":\"{}\"}}]", "d".repeat(MAX_TOOLS_BYTES));
    let err = e.run("q", &tools).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidTools);
    assert!(err.to_string().contains("16777216"), "{err}");
    // The engine is fine afterwards.
    assert!(e.run("q", TOOLS).is_ok());
}

fn with_max_dec_len(preset: &str, n: usize) -> Engine {
    let full = std::fs::read(model_path(preset)).unwrap();
    let hlen = u64::from_le_bytes(full[..8].try_into().unwrap()) as usize;
    let mut header: Value = serde_json::from_slice(&full[8..8 + hlen]).unwrap();
    header["__metadata__"]["max_dec_len"] = Value::String(n.to_string());
    let text = serde_json::to_string(&header).unwrap();
    let mut bytes = (text.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(text.as_bytes());
    bytes.extend_from_slice(&full[8 + hlen..]);
    Engine::from_bytes(bytes, &vocab_text()).unwrap()
}

#[test]
fn the_default_budget_is_capped_for_files_with_a_huge_max_dec_len() {
    let big = with_max_dec_len("tiny", 1 << 20);
    // Unconstrained, the random model never ends its answer.
    let free = RunOptions::default().constrained(false);
    let r = big.run_with("What's the weather in Paris?", TOOLS, &free).unwrap();
    assert_eq!(r.token_ids.len(), DEFAULT_MAX_NEW_TOKENS, "stop {:?}", r.stop);
    assert_eq!(r.stop, needle::StopReason::MaxTokens);
    // An explicit budget may go past the default cap, up to max_dec_len.
    let r2 = big.run_with("What's the weather in Paris?", TOOLS, &free.clone().max_new_tokens(600)).unwrap();
    assert_eq!(r2.token_ids.len(), 600);
    assert_eq!(r2.token_ids[..512], r.token_ids[..]);
    // A file whose max_dec_len is below the cap keeps it as the default.
    let r3 = engine("tiny").run_with("What's the weather in Paris?", TOOLS, &free).unwrap();
    assert!(r3.token_ids.len() <= engine("tiny").config().max_dec_len);
}

#[test]
fn calls_succeed_on_the_calling_thread_when_no_thread_can_be_started() {
    Engine::set_threads(4);
    let e = engine("small");
    let long_q = "Please book a table for four people at the Italian place near the station tonight at eight, and remind me an hour before. ".repeat(6);
    let items: Vec<(&str, &str)> = vec![(&long_q, TOOLS), ("weather in Oslo", TOOLS), ("hi", TOOLS), (&long_q[..100], TOOLS), ("", TOOLS)];
    let want_one = e.run(&long_q, TOOLS).unwrap();
    let want_batch: Vec<_> = e.run_batch_with(&items, &RunOptions::default(), 4).into_iter().map(Result::unwrap).collect();
    assert!(e.encoder_input(&long_q, TOOLS).unwrap().len() >= 64, "long enough for encoder threads");

    needle::__simulate_spawn_failure(true);
    let one = e.run(&long_q, TOOLS);
    let batch = e.run_batch_with(&items, &RunOptions::default(), 4);
    needle::__simulate_spawn_failure(false);

    assert_eq!(one.unwrap(), want_one);
    let batch: Vec<_> = batch.into_iter().map(|r| r.expect("batch item succeeds on the calling thread")).collect();
    assert_eq!(batch, want_batch);
}

/// The same with a real limit: the CLI as an unprivileged user under `ulimit -u 1`, where
/// every thread creation fails with EAGAIN (before: "panic: failed to spawn thread", exit
/// 101). Needs root (to switch user) and `setpriv`, which CI has.
#[test]
fn the_cli_answers_under_a_process_limit_of_one() {
    let is_root = std::process::Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
    let has_setpriv = std::process::Command::new("setpriv").arg("--version").output().is_ok();
    if !(is_root && has_setpriv) {
        assert!(std::env::var_os("CI").is_none(), "CI runs as root with setpriv (util-linux)");
        eprintln!("skipped: needs root and setpriv");
        return;
    }
    // Copy what the unprivileged user needs where it can read it.
    let dir = std::env::temp_dir().join(format!("needle-nproc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("needle");
    std::fs::copy(env!("CARGO_BIN_EXE_needle"), &bin).unwrap();
    let d = root().join("models/needle-demo");
    for f in ["needle.safetensors", "vocab.txt"] {
        std::fs::copy(d.join(f), dir.join(f)).unwrap();
    }
    std::fs::copy(root().join("examples/tools.json"), dir.join("tools.json")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for f in ["", "needle", "needle.safetensors", "vocab.txt", "tools.json"] {
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let q = "Please tell me what the weather is going to be like in Paris tomorrow morning, and whether I should bring an umbrella or a warm coat when I go out for a walk along the river";
    let script = format!(
        "ulimit -u 1 && exec {dir}/needle run --weights {dir}/needle.safetensors --vocab {dir}/vocab.txt --tools {dir}/tools.json \"$0\"",
        dir = dir.display()
    );
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "bash", "-c", &script, q])
        .env("NEEDLE_THREADS", "2")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "exit {:?}\nstdout: {stdout}\nstderr: {stderr}", out.status);
    let want = demo().run(q, &std::fs::read_to_string(root().join("examples/tools.json")).unwrap()).unwrap();
    assert_eq!(stdout.trim(), want.text);
    assert!(stdout.contains("get_weather"), "{stdout}");
}

#[test]
fn the_result_says_when_the_v1_encoder_input_was_cut() {
    let e = engine("tiny");
    let max = e.config().max_enc_len;
    assert!(!e.run("What's the weather in Paris?", TOOLS).unwrap().prompt_truncated);
    let long = "book a table for two ".repeat(max);
    let r = e.run(&long, TOOLS).unwrap();
    assert!(r.prompt_truncated);
    assert_eq!(r.encoder_tokens, max);
    // Tools cut after a short query count too.
    let many: Vec<Value> = (0..400).map(|i| serde_json::json!({"name": format!("tool{i}"), "parameters": {"x": {"type": "string"}}})).collect();
    assert!(e.run("q", &serde_json::to_string(&many).unwrap()).unwrap().prompt_truncated);
}
