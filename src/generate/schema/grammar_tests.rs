//! Unit tests of the strict grammar: each type, objects, arrays, the call layout, the
//! shortest completion, and budget exhaustion through the decoder.

use super::decoder::{Choice, StrictDecoder, TokenBytes};
use super::grammar::{Frame, Grammar};
use super::*;

fn grammar(params: &str) -> Grammar {
    let tools = format!(r#"[{{"name":"f","parameters":{params}}},{{"name":"g","parameters":{{}}}}]"#);
    Grammar::new(compile(&tools, &["f", "g"]))
}

/// Whether the grammar accepts `text` as a whole answer (fed byte by byte, complete at the end).
fn full(g: &Grammar, text: &str) -> bool {
    let mut st = Vec::new();
    g.start(&mut st);
    g.feed(&mut st, text.as_bytes()) && Grammar::complete(&st)
}

/// Whether `text` is a valid prefix of an answer.
fn prefix(g: &Grammar, text: &str) -> bool {
    let mut st = Vec::new();
    g.start(&mut st);
    g.feed(&mut st, text.as_bytes())
}

fn call(args: &str) -> String {
    format!(r#"[{{"name":"f","arguments":{args}}}]"#)
}

#[test]
fn top_level_array_and_names() {
    let g = grammar(r#"{"a":{"type":"string"}}"#);
    assert!(full(&g, "[]"));
    assert!(full(&g, " [ ] "));
    assert!(full(&g, r#"[{"name":"g","arguments":{}}]"#));
    assert!(full(&g, r#"[{"name": "f", "arguments": {}}, {"name":"g","arguments":{}}]"#));
    assert!(!prefix(&g, r#"[{"name":"h"#), "not a tool");
    assert!(!prefix(&g, r#"[{"name":"f""#) || !full(&g, r#"[{"name":"f"}]"#), "arguments are required");
    assert!(!prefix(&g, r#"[{"name":"fg""#));
    assert!(!prefix(&g, "{"), "the payload is an array");
    assert!(!full(&g, "[{"), "incomplete is not complete");
    assert!(!prefix(&g, "[],"), "nothing after the array");
}

#[test]
fn strings_with_escapes_and_utf8() {
    let g = grammar(r#"{"a":{"type":"string"}}"#);
    assert!(full(&g, &call(r#"{"a":"x \"q\" \\ \n \u00e9 é 😀"}"#)));
    assert!(!prefix(&g, &call(r#"{"a":"\x"#)), "bad escape");
    assert!(!prefix(&g, &call(r#"{"a":"\u12g"#)), "bad hex");
    assert!(!prefix(&g, "[{\"name\":\"f\",\"arguments\":{\"a\":\"\n"), "raw control byte");
    let mut st = Vec::new();
    g.start(&mut st);
    assert!(g.feed(&mut st, b"[{\"name\":\"f\",\"arguments\":{\"a\":\"\xc3"));
    assert!(!g.feed(&mut st.clone(), b"\""), "a character cut in half");
    assert!(g.feed(&mut st, b"\xa9\""));
    assert!(!prefix(&g, &call(r#"{"a":1"#)), "a number is not a string");
}

#[test]
fn integers_numbers_booleans_null() {
    let g = grammar(r#"{"i":{"type":"integer"},"n":{"type":"float"},"b":{"type":"bool"},"z":{"type":"null"}}"#);
    for ok in [r#"{"i":0}"#, r#"{"i":-12}"#, r#"{"n":-0.5e+3}"#, r#"{"n":7}"#, r#"{"b":false,"z":null}"#] {
        assert!(full(&g, &call(ok)), "{ok}");
    }
    for bad in [r#"{"i":1.5}"#, r#"{"i":01}"#, r#"{"i":"one"}"#, r#"{"n":50..0}"#, r#"{"n":1.}"#, r#"{"b":tru}"#, r#"{"i":-}"#] {
        assert!(!full(&g, &call(bad)), "{bad}");
    }
    assert!(!prefix(&g, &call(r#"{"i":1234567890123456"#)), "at most 15 digits");
}

#[test]
fn enums_take_exactly_one_listed_value() {
    let g = grammar(r#"{"u":{"type":"string","enum":["celsius","fahrenheit"]},"k":{"enum":[1,10,"x",null]}}"#);
    assert!(full(&g, &call(r#"{"u":"celsius"}"#)));
    assert!(full(&g, &call(r#"{"k":10}"#)));
    assert!(full(&g, &call(r#"{"k":1,"u":"fahrenheit"}"#)));
    assert!(full(&g, &call(r#"{"k":null}"#)));
    assert!(!prefix(&g, &call(r#"{"u":"cycling"#)));
    assert!(!prefix(&g, &call(r#"{"u":"celsiusx"#)));
    assert!(!full(&g, &call(r#"{"k":100}"#)));
}

#[test]
fn keys_once_required_before_close_no_extras() {
    let g = grammar(r#"{"type":"object","properties":{"a":{"type":"integer"},"ab":{"type":"integer"}},"required":["ab"]}"#);
    assert!(full(&g, &call(r#"{"ab":1}"#)));
    assert!(full(&g, &call(r#"{"a":1,"ab":2}"#)));
    assert!(!full(&g, &call(r#"{"a":1}"#)), "required ab missing");
    assert!(!full(&g, &call("{}")));
    assert!(!prefix(&g, &call(r#"{"ab":1,"ab""#)), "repeated key");
    assert!(!prefix(&g, &call(r#"{"c"#)), "unknown key");
    assert!(!prefix(&g, &call(r#"{"a":1,"ab":2,"#)), "no key left after a comma");
    assert!(!prefix(&g, &call(r#"{"a""#)) || prefix(&g, &call(r#"{"a":"#)));
}

#[test]
fn nested_objects_and_arrays_with_bounds() {
    let g = grammar(
        r#"{"type":"object","properties":{"p":{"type":"object","properties":{"x":{"type":"number"}},"required":["x"],"additionalProperties":false},
           "l":{"type":"array","items":{"type":"string"},"minItems":1,"maxItems":2},"d":{"type":"dict"},"t":{"type":"tuple"}}}"#,
    );
    assert!(full(&g, &call(r#"{"p":{"x":1.5},"l":["a","b"]}"#)));
    assert!(full(&g, &call(r#"{"d":{"any":[1,{"k":null}],"b":true},"t":[1,"x",[]]}"#)));
    assert!(!full(&g, &call(r#"{"p":{}}"#)), "nested required");
    assert!(!prefix(&g, &call(r#"{"p":{"y"#)), "nested extra key");
    assert!(!full(&g, &call(r#"{"l":[]}"#)), "minItems");
    assert!(!prefix(&g, &call(r#"{"l":["a","b","#)), "maxItems");
    assert!(!prefix(&g, &call(r#"{"l":[1"#)), "item type");
}

#[test]
fn unions_and_untyped_fall_back() {
    let g = grammar(r#"{"u":{"type":["integer","null"]},"o":{"anyOf":[{"type":"string"},{"type":"boolean"}]},"w":{"description":"?"}}"#);
    assert!(full(&g, &call(r#"{"u":null,"o":true}"#)));
    assert!(full(&g, &call(r#"{"u":3,"o":"s","w":[{"a":1}]}"#)));
    assert!(!full(&g, &call(r#"{"u":"s"}"#)));
    assert!(!full(&g, &call(r#"{"o":1}"#)));
}

/// The shortest completion is exact along the cheapest path: it falls by one per byte of it.
#[test]
fn min_close_counts_the_shortest_completion() {
    let g = grammar(r#"{"type":"object","properties":{"city":{"type":"string"},"n":{"type":"integer"}},"required":["city","n"]}"#);
    let mut st = Vec::new();
    g.start(&mut st);
    assert_eq!(g.min_close(&st), 2, "[]");
    g.feed(&mut st, b"[{");
    // Tool g (no parameters) is the cheaper call.
    let rest = r#""name":"g","arguments":{}}]"#;
    assert_eq!(g.min_close(&st) as usize, rest.len());
    g.feed(&mut st, br#""name":"f","arguments":{"city":"Par"#);
    assert_eq!(g.min_close(&st) as usize, r#"","n":0}}]"#.len());
    assert_ne!(st, [Frame::Top(4)]);
}

fn bytes_vocab() -> TokenBytes {
    // Every printable ASCII byte, plus some longer pieces a model likes.
    let mut v: Vec<Vec<u8>> = (0x20u8..0x7f).map(|b| vec![b]).collect();
    for s in ["[{\"name\":\"", "\",\"arguments\":{\"", "hello world", "\"}}]", "aaaaaaaa", "12345"] {
        v.push(s.as_bytes().to_vec());
    }
    TokenBytes::from_strings(v.iter().map(Vec::as_slice))
}

/// Budget exhaustion: with logits that want to write forever, every budget from the shortest
/// answer up still ends in a complete answer that uses at most the budget.
#[test]
fn budget_exhaustion_closes_validly() {
    let tools = r#"[{"name":"f","parameters":{"type":"object","properties":{"s":{"type":"string"},"l":{"type":"array","items":{"type":"integer"}}},"required":["s","l"]}}]"#;
    let tb = bytes_vocab();
    let aaa = tb.len() - 2;
    for budget in 2..60 {
        let mut d = StrictDecoder::new(Grammar::new(compile(tools, &["f"])));
        let mut text = Vec::new();
        let mut used = 0;
        let mut ended = false;
        for step in 0..budget {
            // Prefer "aaaaaaaa", then "1", then "{": long strings and long arrays.
            let mut logits = vec![0.0f32; tb.len()];
            logits[aaa] = 9.0;
            logits[(b'1' - 0x20) as usize] = 8.0;
            logits[(b'[' - 0x20) as usize] = 7.0;
            logits[(b'{' - 0x20) as usize] = 6.0;
            match d.choose(&logits, &tb, budget - step, 0) {
                Choice::Token(t) => {
                    assert!(d.update(tb.get(t as usize)));
                    text.extend_from_slice(tb.get(t as usize));
                    used += 1;
                }
                Choice::End => {
                    ended = true;
                    break;
                }
                Choice::Stuck => panic!("stuck at budget {budget}"),
            }
        }
        assert!(d.complete(), "budget {budget}: {}", String::from_utf8_lossy(&text));
        assert!(used <= budget);
        let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert!(v.is_array());
        let _ = ended;
    }
}

/// The mask of a state is computed once: a second identical answer adds no cache entries.
#[test]
fn masks_are_cached_per_state() {
    let tb = bytes_vocab();
    let tools = r#"[{"name":"f","parameters":{"a":{"type":"string"}}}]"#;
    let mut d = StrictDecoder::new(Grammar::new(compile(tools, &["f"])));
    let run = |d: &mut StrictDecoder| {
        d.reset();
        let logits: Vec<f32> = (0..tb.len()).map(|i| (i % 7) as f32).collect();
        for step in 0..40 {
            match d.choose(&logits, &tb, 40 - step, 0) {
                Choice::Token(t) => assert!(d.update(tb.get(t as usize))),
                _ => break,
            }
        }
        assert!(d.complete());
    };
    run(&mut d);
    let (states, misses) = (d.cached_states(), d.misses);
    assert!(states > 0 && misses == states);
    run(&mut d);
    assert_eq!((d.cached_states(), d.misses), (states, misses));
}

/// A schema whose shortest answer is huge (65535 required items of nested required objects)
/// neither overflows nor panics: the only way to stay closable is `[]`, which is what a tight
/// budget gets.
#[test]
fn huge_minimal_answers_do_not_overflow() {
    let tools = r#"[{"name":"f","parameters":{"type":"object","properties":{"l":{"type":"array","minItems":65535,
        "items":{"type":"array","minItems":65535,"items":{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}}}},"required":["l"]}}]"#;
    let g = Grammar::new(compile(tools, &["f"]));
    let mut st = Vec::new();
    g.start(&mut st);
    assert_eq!(g.min_close(&st), 2);
    assert!(g.feed(&mut st, br#"[{"name":"f","arguments":{"l":[[{"#));
    assert!(g.min_close(&st) > 1 << 30);
    let tb = bytes_vocab();
    let mut d = StrictDecoder::new(Grammar::new(compile(tools, &["f"])));
    let logits: Vec<f32> = (0..tb.len()).map(|i| (i % 13) as f32).collect();
    let mut text = Vec::new();
    for step in 0..30 {
        match d.choose(&logits, &tb, 30 - step, 0) {
            Choice::Token(t) => {
                assert!(d.update(tb.get(t as usize)));
                text.extend_from_slice(tb.get(t as usize));
            }
            _ => break,
        }
    }
    assert!(d.complete());
    assert_eq!(String::from_utf8_lossy(&text).trim(), "[]");
}
