//! The `needle` command-line tool: stdout, stderr and exit codes, on the bundled demo model.

use needle::serde_json::{self, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_needle");
const PARIS: &str = r#"[{"name":"get_weather","arguments":{"city":"Paris"}}]"#;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tools_file() -> String {
    root().join("examples/tools.json").display().to_string()
}

fn needle(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(root())
        .env_remove("NEEDLE_WEIGHTS")
        .env_remove("NEEDLE_VOCAB")
        .output()
        .expect("needle binary runs")
}

fn needle_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(root())
        .env_remove("NEEDLE_WEIGHTS")
        .env_remove("NEEDLE_VOCAB")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("needle binary runs");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Asserts a failure with `code` and exactly one line on stderr (returned), nothing on stdout.
fn fails(o: &Output, code: i32) -> String {
    assert_eq!(o.status.code(), Some(code), "stdout {:?} stderr {:?}", stdout(o), stderr(o));
    assert!(o.stdout.is_empty(), "stdout should be empty: {:?}", stdout(o));
    let e = stderr(o);
    assert_eq!(e.lines().count(), 1, "one line on stderr: {e:?}");
    assert!(e.starts_with("needle: error: "), "{e:?}");
    e
}

#[test]
fn run_with_tools_file_prints_the_call() {
    let o = needle(&["run", "What's the weather in Paris?", "--tools", &tools_file()]);
    assert_eq!(o.status.code(), Some(0), "stderr {:?}", stderr(&o));
    assert_eq!(stdout(&o), format!("{PARIS}\n"));
    assert!(o.stderr.is_empty(), "{:?}", stderr(&o));
}

#[test]
fn run_with_inline_tools_and_stdin_tools() {
    let tools = std::fs::read_to_string(root().join("examples/tools.json")).unwrap();
    let o = needle(&["run", "--tools-json", &tools, "What's the weather in Paris?"]);
    assert_eq!(o.status.code(), Some(0), "stderr {:?}", stderr(&o));
    assert_eq!(stdout(&o), format!("{PARIS}\n"));
    let o = needle(&["run", "--tools-json=".to_string().as_str(), "q"]);
    // an empty tools string means "no tools" (docs/ARCHITECTURE.md#tools-json): still a successful run
    assert_eq!(o.status.code(), Some(0), "stderr {:?}", stderr(&o));
    let o = needle_stdin(&["run", "What's the weather in Paris?", "--tools", "-"], &tools);
    assert_eq!(o.status.code(), Some(0), "stderr {:?}", stderr(&o));
    assert_eq!(stdout(&o), format!("{PARIS}\n"));
}

#[test]
fn caller_tool_names_are_restored() {
    let tools = r#"[{"name":"getWeather","description":"Get the current weather for a city",
        "parameters":{"city":{"type":"string"}}}]"#;
    let o = needle(&["run", "--tools-json", tools, "What's the weather in Paris?"]);
    assert_eq!(o.status.code(), Some(0), "stderr {:?}", stderr(&o));
    assert_eq!(stdout(&o), "[{\"name\":\"getWeather\",\"arguments\":{\"city\":\"Paris\"}}]\n");
}

#[test]
fn json_output_is_the_structured_result() {
    let o = needle(&["run", "What's the weather in Paris?", "--tools", &tools_file(), "--json"]);
    assert_eq!(o.status.code(), Some(0), "stderr {:?}", stderr(&o));
    let s = stdout(&o);
    assert_eq!(s.lines().count(), 1);
    let v: Value = serde_json::from_str(&s).expect("--json prints JSON");
    assert_eq!(v["text"], PARIS);
    assert_eq!(v["calls"][0]["name"], "get_weather");
    assert_eq!(v["calls"][0]["arguments"]["city"], "Paris");
    assert_eq!(v["token_ids"][0], 4, "first generated token is <tool_call>");
    assert_eq!(v["stop"], "eos");
    assert!(v["encoder_tokens"].as_u64().unwrap() > 0);
    assert!(v["timings"]["run_ms"].as_f64().unwrap() >= 0.0);
    assert!(v["timings"]["load_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(v["timings"]["generated_tokens"].as_u64().unwrap() as usize, v["token_ids"].as_array().unwrap().len());
}

#[test]
fn stream_shows_tokens_on_stderr() {
    let o = needle(&["run", "What's the weather in Paris?", "--tools", &tools_file(), "--stream"]);
    assert_eq!(o.status.code(), Some(0), "stderr {:?}", stderr(&o));
    assert_eq!(stdout(&o), format!("{PARIS}\n"));
    let e = stderr(&o);
    assert!(e.starts_with("<tool_call>"), "{e:?}");
    assert_eq!(e.trim_end(), format!("<tool_call> {PARIS}"));
}

#[test]
fn max_tokens_and_no_constrain() {
    let o = needle(&["run", "What's the weather in Paris?", "--tools", &tools_file(), "--max-tokens", "1", "--json"]);
    assert_eq!(o.status.code(), Some(0), "stderr {:?}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["token_ids"].as_array().unwrap().len(), 1);
    assert_eq!(v["stop"], "max_tokens");
    let o = needle(&["run", "What's the weather in Paris?", "--tools", &tools_file(), "--no-constrain"]);
    assert_eq!(o.status.code(), Some(0), "stderr {:?}", stderr(&o));
}

/// `--strict`: the bundled model's answer to chit-chat is still a complete call list, with
/// a tight budget too; `--strict` takes no value and is a run option only.
#[test]
fn strict_flag() {
    for max in ["64", "6"] {
        let o = needle(&["run", "hi there, how are you?", "--tools", &tools_file(), "--strict", "--max-tokens", max, "--json"]);
        assert_eq!(o.status.code(), Some(0), "stderr {:?}", stderr(&o));
        let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert!(v["calls"].is_array(), "max {max}: {v}");
    }
    let o = needle(&["run", "What's the weather in Paris?", "--tools", &tools_file(), "--strict"]);
    assert_eq!(stdout(&o), format!("{PARIS}\n"));
    assert_eq!(needle(&["run", "x", "--strict=1"]).status.code(), Some(2));
    assert_eq!(needle(&["info", "--strict"]).status.code(), Some(2));
}

#[test]
fn info_prints_metadata() {
    let o = needle(&["info"]);
    assert_eq!(o.status.code(), Some(0), "stderr {:?}", stderr(&o));
    let s = stdout(&o);
    assert!(s.contains("d_model: 128\n"), "{s}");
    assert!(s.contains("vocab_size: 1024\n"), "{s}");
    assert!(s.contains("models/needle-demo/needle.safetensors"), "{s}");
    let o = needle(&["info", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["num_encoder_layers"], 3);
    assert_eq!(v["max_enc_len"], 512);
}

#[test]
fn tokenize_prints_ids_and_pieces() {
    let o = needle(&["tokenize", "Hello world"]);
    assert_eq!(o.status.code(), Some(0), "stderr {:?}", stderr(&o));
    let s = stdout(&o);
    let lines: Vec<&str> = s.lines().collect();
    assert!(!lines.is_empty());
    let mut text = String::new();
    for l in &lines {
        let (id, piece) = l.split_once('\t').expect("id<TAB>piece");
        id.parse::<u32>().expect("numeric id");
        text.push_str(piece);
    }
    assert_eq!(text.replace('\u{2581}', " "), " Hello world");
    let o = needle(&["tokenize", "Hello world", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["ids"].as_array().unwrap().len(), lines.len());
    assert_eq!(v["pieces"].as_array().unwrap().len(), lines.len());
}

#[test]
fn help_and_version() {
    for a in [&["--help"][..], &["help"], &["-h"], &["run", "--help"]] {
        let o = needle(a);
        assert_eq!(o.status.code(), Some(0));
        assert!(stdout(&o).contains("Usage:"));
    }
    let o = needle(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("needle "));
}

#[test]
fn usage_errors_exit_2() {
    fails(&needle(&[]), 2);
    assert!(fails(&needle(&["frobnicate"]), 2).contains("unknown command"));
    assert!(fails(&needle(&["run", "q", "--tools", &tools_file(), "--bogus"]), 2).contains("--bogus"));
    assert!(fails(&needle(&["run", "--tools", &tools_file()]), 2).contains("missing query"));
    assert!(fails(&needle(&["run", "q"]), 2).contains("no tools"));
    assert!(fails(&needle(&["run", "q", "--tools"]), 2).contains("--tools needs a value"));
    assert!(fails(&needle(&["run", "q", "--tools", &tools_file(), "--max-tokens", "x"]), 2).contains("--max-tokens"));
    fails(&needle(&["run", "q", "--tools", &tools_file(), "--tools-json", "[]"]), 2);
    fails(&needle(&["run", "a", "b", "--tools", &tools_file()]), 2);
    fails(&needle(&["tokenize"]), 2);
    fails(&needle(&["info", "--stream"]), 2);
}

#[test]
fn runtime_errors_exit_1() {
    let e = fails(&needle(&["run", "q", "--tools-json", "[{\"name\":"]), 1);
    assert!(e.contains("invalid"), "{e}");
    let e = fails(&needle(&["run", "q", "--tools", "/nonexistent/tools.json"]), 1);
    assert!(e.contains("/nonexistent/tools.json"), "{e}");
    let e = fails(&needle(&["info", "--weights", "/nonexistent/w.safetensors"]), 1);
    assert!(e.contains("/nonexistent/w.safetensors"), "{e}");
    let vocab = root().join("tests/fixtures/vocab/vocab.txt");
    // the stand-in vocabulary has 8192 pieces, the bundled weights 1024: a clear load error
    let e = fails(&needle(&["info", "--vocab", vocab.to_str().unwrap()]), 1);
    assert!(e.contains("vocab"), "{e}");
}

#[test]
fn query_starting_with_dash_after_double_dash() {
    let o = needle(&["run", "--tools", &tools_file(), "--", "-weather in Paris"]);
    assert_eq!(o.status.code(), Some(0), "stderr {:?}", stderr(&o));
}
