//! The bundled demo model (`models/needle-demo/`, issue 8): accuracy on the committed held-out
//! split re-measured with libneedle (constrained decoding), and token-for-token parity with the
//! training framework's (PyTorch) greedy decode of the same exported INT4 weights.
//!
//! Fixture: `tests/fixtures/demo/heldout.jsonl`, written by `tools/train/train.py eval`; each line
//! has `category` (`values`: training phrasings with slot values never seen in training,
//! `phrasings`: phrasings never seen in training, `notool`: no tool fits, answer `[]`), `query`,
//! `tools`, `expected` (calls with the caller's tool names), `framework_ids` and
//! `framework_min_margin` (smallest top-1 minus top-2 logit gap over the framework's steps).

use needle::serde_json::{self, Value};
use needle::Engine;
use std::path::PathBuf;
use std::sync::OnceLock;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        let d = root().join("models/needle-demo");
        Engine::load(d.join("needle.safetensors"), d.join("vocab.txt")).expect("bundled model loads")
    })
}

struct Case {
    category: String,
    query: String,
    tools: String,
    expected: Value,
    framework_ids: Vec<u32>,
    framework_min_margin: f64,
}

/// Whether every call of `expected` writes all the keys its tool's schema marks `required`
/// (a few references of the split omit one; strict mode cannot match those).
fn reference_is_schema_valid(tools: &str, expected: &Value) -> bool {
    let t: Value = serde_json::from_str(tools).unwrap();
    let list = match t {
        Value::Array(a) => a,
        o => vec![o],
    };
    let required = |name: &str| -> Vec<String> {
        for tool in &list {
            let f = tool.get("function").unwrap_or(tool);
            if f["name"] != name {
                continue;
            }
            let p = &f["parameters"];
            if p.get("properties").is_some() {
                return p["required"].as_array().map(|r| r.iter().filter_map(|k| k.as_str().map(String::from)).collect()).unwrap_or_default();
            }
            return p.as_object().map(|m| m.iter().filter(|(_, v)| v["required"] == true).map(|(k, _)| k.clone()).collect()).unwrap_or_default();
        }
        Vec::new()
    };
    expected.as_array().unwrap().iter().all(|c| {
        required(c["name"].as_str().unwrap()).iter().all(|k| c["arguments"].get(k).is_some())
    })
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(root().join("tests/fixtures/demo/heldout.jsonl"))
        .expect("tests/fixtures/demo/heldout.jsonl is committed");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("fixture line is JSON");
            Case {
                category: v["category"].as_str().unwrap().to_string(),
                query: v["query"].as_str().unwrap().to_string(),
                tools: v["tools"].as_str().unwrap().to_string(),
                expected: serde_json::from_str(v["expected"].as_str().unwrap()).unwrap(),
                framework_ids: v["framework_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u32)
                    .collect(),
                framework_min_margin: v["framework_min_margin"].as_f64().unwrap_or(1e9),
            }
        })
        .collect()
}

/// JSON equality where numbers compare by value (`5` == `5.0`) and booleans only equal booleans.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn names(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
        .collect()
}

struct Outcome {
    category: String,
    parseable: bool,
    exact: bool,
    names_ok: bool,
    ids: Vec<u32>,
}

fn outcomes() -> &'static (Vec<Case>, Vec<Outcome>) {
    static O: OnceLock<(Vec<Case>, Vec<Outcome>)> = OnceLock::new();
    O.get_or_init(|| measure(&needle::RunOptions::default()))
}

/// The held-out split in strict schema mode.
fn strict_outcomes() -> &'static (Vec<Case>, Vec<Outcome>) {
    static O: OnceLock<(Vec<Case>, Vec<Outcome>)> = OnceLock::new();
    O.get_or_init(|| measure(&needle::RunOptions::default().strict(true)))
}

fn measure(opts: &needle::RunOptions) -> (Vec<Case>, Vec<Outcome>) {
    {
        let cases = cases();
        let items: Vec<(&str, &str)> = cases.iter().map(|c| (c.query.as_str(), c.tools.as_str())).collect();
        let results = engine().run_batch_with(&items, opts, 0);
        let outs = cases
            .iter()
            .zip(results)
            .map(|(c, r)| {
                let r = r.expect("run succeeds on a held-out case");
                let got: Option<Value> = serde_json::from_str(&r.text).ok();
                let parseable = got.is_some();
                let exact = got.as_ref().is_some_and(|g| same(g, &c.expected));
                let names_ok = got.as_ref().and_then(names).is_some_and(|n| Some(n) == names(&c.expected));
                Outcome { category: c.category.clone(), parseable, exact, names_ok, ids: r.token_ids }
            })
            .collect();
        (cases, outs)
    }
}

fn rate(outs: &[Outcome], cats: &[&str], f: impl Fn(&Outcome) -> bool) -> (f64, usize) {
    let sel: Vec<&Outcome> = outs.iter().filter(|o| cats.contains(&o.category.as_str())).collect();
    assert!(!sel.is_empty(), "no held-out cases in {cats:?}");
    let hits = sel.iter().filter(|o| f(o)).count();
    (100.0 * hits as f64 / sel.len() as f64, sel.len())
}

/// Issue 8's targets, in percent.
const TARGETS: Targets = Targets { values: 85.0, phrasings: 70.0, names: 95.0, parse: 99.0, notool: 85.0 };
/// What the committed model measured when it was committed, less 2 points, and never below the
/// target (a regression guard for the runtime: the figures are deterministic, so any drop means
/// libneedle changed its output).
const FLOORS: Targets = Targets { values: 90.0, phrasings: 76.0, names: 95.0, parse: 99.0, notool: 89.5 };

struct Targets {
    values: f64,
    phrasings: f64,
    names: f64,
    parse: f64,
    notool: f64,
}

#[test]
fn heldout_accuracy() {
    let (_, outs) = outcomes();
    let (values_exact, nv) = rate(outs, &["values"], |o| o.exact);
    let (phr_exact, np) = rate(outs, &["phrasings"], |o| o.exact);
    let (names, nc) = rate(outs, &["values", "phrasings"], |o| o.names_ok);
    let (parse, na) = rate(outs, &["values", "phrasings", "notool"], |o| o.parseable);
    let (notool, nn) = rate(outs, &["notool"], |o| o.exact);
    let t = &TARGETS;
    println!("bundled demo model, held-out split, libneedle constrained decoding:");
    println!("  exact match, unseen slot values : {values_exact:5.1}%  (n={nv}, issue target {})", t.values);
    println!("  exact match, unseen phrasings   : {phr_exact:5.1}%  (n={np}, issue target {})", t.phrasings);
    println!("  right tool name(s)              : {names:5.1}%  (n={nc}, issue target {})", t.names);
    println!("  parseable JSON                  : {parse:5.1}%  (n={na}, issue target {})", t.parse);
    println!("  correct [] on no-tool queries   : {notool:5.1}%  (n={nn}, issue target {})", t.notool);
    let f = &FLOORS;
    assert!(values_exact >= f.values, "exact match on unseen slot values {values_exact:.1}% < {}%", f.values);
    assert!(phr_exact >= f.phrasings, "exact match on unseen phrasings {phr_exact:.1}% < {}%", f.phrasings);
    assert!(names >= f.names, "right tool names {names:.1}% < {}%", f.names);
    assert!(parse >= f.parse, "parseable JSON {parse:.1}% < {}%", f.parse);
    assert!(notool >= f.notool, "correct [] on no-tool queries {notool:.1}% < {}%", f.notool);
}

/// Strict schema mode on the held-out split: every answer parses (100%), and exact match is
/// not below the default constrained mode's in any category.
#[test]
fn heldout_strict_mode() {
    let (_, d) = outcomes();
    let (_, s) = strict_outcomes();
    println!("bundled demo model, held-out split: default constrained | strict");
    let rows: [(&str, &[&str], fn(&Outcome) -> bool); 5] = [
        ("exact match, unseen slot values", &["values"], |o| o.exact),
        ("exact match, unseen phrasings  ", &["phrasings"], |o| o.exact),
        ("right tool name(s)             ", &["values", "phrasings"], |o| o.names_ok),
        ("parseable JSON                 ", &["values", "phrasings", "notool"], |o| o.parseable),
        ("correct [] on no-tool queries  ", &["notool"], |o| o.exact),
    ];
    for (what, cats, f) in rows {
        let (a, n) = rate(d, cats, f);
        let (b, _) = rate(s, cats, f);
        println!("  {what}: {a:5.1}% | {b:5.1}%  (n={n})");
    }
    let (parse, _) = rate(s, &["values", "phrasings", "notool"], |o| o.parseable);
    assert_eq!(parse, 100.0, "strict answers always parse");
    // Exact match where the reference itself follows the schema (strict writes every
    // required key, so it cannot match a reference that leaves one out).
    let (cases, _) = outcomes();
    for cat in ["values", "phrasings", "notool"] {
        let pick = |outs: &[Outcome]| {
            let sel: Vec<bool> = cases
                .iter()
                .zip(outs)
                .filter(|(c, o)| o.category == cat && reference_is_schema_valid(&c.tools, &c.expected))
                .map(|(_, o)| o.exact)
                .collect();
            (sel.iter().filter(|&&e| e).count(), sel.len())
        };
        let ((a, n), (b, _)) = (pick(d), pick(s));
        println!("  exact match, {cat}, schema-valid references only: {a}/{n} | {b}/{n}");
        assert!(b >= a, "strict exact match on {cat} ({b}/{n}) below default ({a}/{n})");
    }
}

/// libneedle's generated ids equal the framework's greedy decode of the exported INT4 weights
/// (constrained path included). A difference is only tolerated on a case where the framework's
/// own top-2 logit margin fell below 1e-3 at some step (docs/ARCHITECTURE.md#numerics: rounding may flip near-ties).
#[test]
fn token_parity_with_the_training_framework() {
    let (cases, outs) = outcomes();
    let mut same_ids = 0;
    let mut bad = Vec::new();
    for (c, o) in cases.iter().zip(outs) {
        if o.ids == c.framework_ids {
            same_ids += 1;
        } else if c.framework_min_margin >= 1e-3 {
            bad.push(format!("{:?}: libneedle {:?} framework {:?}", c.query, o.ids, c.framework_ids));
        }
    }
    println!("framework parity: {same_ids}/{} token-identical", cases.len());
    assert!(bad.is_empty(), "{} cases differ from the framework:\n{}", bad.len(), bad.join("\n"));
}

#[test]
fn readme_example_gives_a_real_tool_call() {
    let tools = std::fs::read_to_string(root().join("examples/tools.json")).unwrap();
    let r = engine().run("What's the weather in Paris?", &tools).unwrap();
    assert_eq!(r.text, r#"[{"name":"get_weather","arguments":{"city":"Paris"}}]"#);
    let calls = r.calls.expect("parsed calls");
    assert_eq!(calls[0].name, "get_weather");
}

#[test]
fn bundled_model_metadata() {
    let c = engine().config();
    assert_eq!((c.d_model, c.num_heads, c.num_kv_heads), (128, 4, 2));
    assert_eq!((c.num_encoder_layers, c.num_decoder_layers), (3, 3));
    assert_eq!(c.vocab_size, 1024);
    assert!(c.no_feedforward);
    let size = std::fs::metadata(root().join("models/needle-demo/needle.safetensors")).unwrap().len();
    assert!(size <= 5 * 1024 * 1024, "bundled model is {size} bytes");
}

