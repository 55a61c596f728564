//! Tools JSON normalisation against the Python reference (`tools/ref_tools.py`):
//! * `tests/fixtures/snake_case.jsonl`: `{"name", "snake"}`;
//! * `tests/fixtures/tools_normalize.jsonl`: `{"tools", "text", "defs": [{"name", "snake", "params"}],
//!   "error": null}` or `{"tools", "error": "reason"}`.
//!
//! The fixtures directory is `$NEEDLE_FIXTURES_DIR` when set, else `<crate>/tests/fixtures`.

use std::path::PathBuf;

use needle::tools::{normalize_tools, snake_case, ToolDef};
use needle::ErrorKind;
use serde_json::Value;

fn fixtures_dir() -> PathBuf {
    match std::env::var_os("NEEDLE_FIXTURES_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join("fixtures"),
    }
}

fn lines(name: &str) -> Vec<(usize, Value)> {
    let path = fixtures_dir().join(name);
    let data = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    data.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            let v =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{name} line {}: {e}", n + 1));
            (n + 1, v)
        })
        .collect()
}

fn str_field<'a>(v: &'a Value, key: &str, line: usize) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("line {line}: field {key:?} is not a string"))
}

#[test]
fn snake_case_matches_reference() {
    let cases = lines("snake_case.jsonl");
    assert!(!cases.is_empty(), "snake_case.jsonl is empty");
    let mut failures = Vec::new();
    for (line, v) in &cases {
        let name = str_field(v, "name", *line);
        let want = str_field(v, "snake", *line);
        let got = snake_case(name);
        if got != want {
            failures.push(format!(
                "line {line}: snake_case({name:?}) = {got:?}, want {want:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn expected_defs(v: &Value, line: usize) -> Vec<ToolDef> {
    v["defs"]
        .as_array()
        .unwrap_or_else(|| panic!("line {line}: defs is not an array"))
        .iter()
        .map(|d| ToolDef {
            name: str_field(d, "name", line).to_string(),
            snake: str_field(d, "snake", line).to_string(),
            params: d["params"]
                .as_array()
                .unwrap_or_else(|| panic!("line {line}: params is not an array"))
                .iter()
                .map(|p| {
                    p.as_str()
                        .unwrap_or_else(|| panic!("line {line}: bad param"))
                        .to_string()
                })
                .collect(),
        })
        .collect()
}

#[test]
fn normalize_matches_reference() {
    let cases = lines("tools_normalize.jsonl");
    assert!(!cases.is_empty(), "tools_normalize.jsonl is empty");
    let mut failures = Vec::new();
    let (mut ok_cases, mut err_cases) = (0usize, 0usize);
    for (line, v) in &cases {
        let tools = str_field(v, "tools", *line);
        let got = normalize_tools(tools);
        match &v["error"] {
            Value::Null => {
                ok_cases += 1;
                let want_text = str_field(v, "text", *line);
                let want_defs = expected_defs(v, *line);
                match got {
                    Ok(t) if t.text == want_text && t.defs == want_defs => {}
                    Ok(t) => failures.push(format!(
                        "line {line}: tools {tools:?}\n  want text {want_text:?}\n  got  text {:?}\n  want defs {want_defs:?}\n  got  defs {:?}",
                        t.text, t.defs
                    )),
                    Err(e) => failures.push(format!("line {line}: tools {tools:?}: unexpected error {e}")),
                }
            }
            reason => {
                err_cases += 1;
                match got {
                    Err(e) if e.kind() == ErrorKind::InvalidTools => {}
                    Err(e) => failures.push(format!(
                        "line {line}: tools {tools:?}: wrong error kind: {e}"
                    )),
                    Ok(t) => failures.push(format!(
                        "line {line}: tools {tools:?}: expected an error ({reason}), got text {:?}",
                        t.text
                    )),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases ({ok_cases} valid, {err_cases} errors) differ:\n{}",
        failures.len(),
        cases.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
