//! Strict schema mode (docs/ARCHITECTURE.md#strict-schema-mode): a grammar compiled from the
//! caller's tools JSON that every strict answer follows byte by byte, so the payload is a
//! complete JSON array of calls whose names are tools and whose arguments match each tool's
//! schema.
//!
//! [`compile`] turns the tools into [`Schema`] nodes, [`grammar`] is the byte-level pushdown
//! machine over them, and [`decoder`] masks a model's logits with it (per-state masks cached).

pub mod decoder;
pub mod grammar;
#[cfg(test)]
mod grammar_tests;

use serde_json::{Map, Value};

/// Index of a node in [`Schema::nodes`].
pub type NodeId = u16;

/// Primitive kinds a union (`anyOf`/`oneOf`/a list of types) may allow.
pub(crate) mod kind {
    pub(crate) const STR: u8 = 1;
    pub(crate) const INT: u8 = 2;
    pub(crate) const NUM: u8 = 4;
    pub(crate) const BOOL: u8 = 8;
    pub(crate) const NULL: u8 = 16;
    pub(crate) const OBJ: u8 = 32;
    pub(crate) const ARR: u8 = 64;
    pub(crate) const ANY: u8 = 127;
}

/// One compiled schema node.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Node {
    /// Any value of the listed kinds (a bit set: string 1, integer 2, number 4, boolean 8, null
    /// 16, object 32, array 64, each of any content); 127 = any JSON value.
    Kinds(u8),
    /// Exactly one of these JSON texts (compact serialisations of the `enum`/`const` values).
    Enum(Vec<Vec<u8>>),
    /// An object with these properties (keys as the bytes inside their JSON string, escaped),
    /// each at most once, the `required` ones all present before it closes. Only the first 64
    /// properties are tracked for repeats and `required`; later ones may be written once or more.
    Object { props: Vec<(Vec<u8>, NodeId)>, required: u64 },
    /// An array of `items` with `min ..= max` elements.
    Array { items: NodeId, min: u16, max: u16 },
}

/// The compiled grammar of one call's tools.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// Every node; node 0 is "any value".
    pub nodes: Vec<Node>,
    /// Each tool: the name the model writes (escaped JSON string content) and its arguments node.
    pub tools: Vec<(Vec<u8>, NodeId)>,
}

/// Most schema nodes one call compiles; deeper or larger schemas fall back to "any value".
const MAX_NODES: usize = 4096;
/// Deepest schema nesting followed; below it, "any value".
const MAX_SCHEMA_DEPTH: usize = 16;
/// The largest `maxItems` honoured (larger bounds mean "no bound").
const MAX_ITEMS: u16 = u16::MAX;

/// The bytes of `s` as they appear inside a JSON string literal (serde_json's escaping).
pub(crate) fn escaped(s: &str) -> Vec<u8> {
    let full = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    full.as_bytes()[1..full.len() - 1].to_vec()
}

/// Compiles the tools of `tools_json` (already accepted by
/// [`crate::prompt::tools::normalize_tools`], whose defs give `names`, in tool order: the
/// names the model writes). Flat (`"parameters":{key:{type,…}}`) and JSON Schema style
/// (`"parameters":{"type":"object","properties":…,"required":…}`) tools are both read.
pub fn compile(tools_json: &str, names: &[&str]) -> Schema {
    let mut s = Schema { nodes: vec![Node::Kinds(kind::ANY)], tools: Vec::new() };
    let doc: Value = serde_json::from_str(tools_json).unwrap_or(Value::Null);
    let list: Vec<&Value> = match &doc {
        Value::Array(a) => a.iter().collect(),
        Value::Object(_) => vec![&doc],
        _ => Vec::new(),
    };
    for (tool, name) in list.into_iter().zip(names) {
        let f = tool.get("function").filter(|_| tool.get("function").is_some_and(Value::is_object)).unwrap_or(tool);
        let args = match f.get("parameters") {
            Some(Value::Object(p)) => parameters(&mut s, p),
            _ => s.push(Node::Object { props: Vec::new(), required: 0 }),
        };
        s.tools.push((escaped(name), args));
    }
    s
}

impl Schema {
    fn push(&mut self, n: Node) -> NodeId {
        if self.nodes.len() >= MAX_NODES {
            return 0;
        }
        self.nodes.push(n);
        (self.nodes.len() - 1) as NodeId
    }

    /// The node of `id` (node 0 is "any value").
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }
}

/// A tool's `parameters`: JSON Schema style when it has `properties` (or `"type":"object"`),
/// otherwise flat (every object-valued member is a parameter, all of them optional unless
/// they say `"required": true`).
fn parameters(s: &mut Schema, p: &Map<String, Value>) -> NodeId {
    if p.contains_key("properties") || p.get("type").and_then(Value::as_str) == Some("object") {
        return object(s, p, 0);
    }
    let mut props = Vec::new();
    let mut required = 0u64;
    for (k, v) in p {
        if k.is_empty() || !v.is_object() {
            continue;
        }
        if v.get("required") == Some(&Value::Bool(true)) && props.len() < 64 {
            required |= 1 << props.len();
        }
        let id = node(s, v, 1);
        props.push((escaped(k), id));
    }
    s.push(Node::Object { props, required })
}

fn object(s: &mut Schema, o: &Map<String, Value>, depth: usize) -> NodeId {
    let Some(Value::Object(pm)) = o.get("properties") else {
        return s.push(Node::Kinds(kind::OBJ));
    };
    let req: Vec<&str> = match o.get("required") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let mut props = Vec::new();
    let mut required = 0u64;
    for (k, v) in pm {
        if k.is_empty() {
            continue;
        }
        let i = props.len();
        let flat_required = v.get("required") == Some(&Value::Bool(true));
        if i < 64 && (req.contains(&k.as_str()) || flat_required) {
            required |= 1 << i;
        }
        let id = node(s, v, depth + 1);
        props.push((escaped(k), id));
    }
    if props.is_empty() && o.get("additionalProperties") != Some(&Value::Bool(false)) {
        return s.push(Node::Kinds(kind::OBJ));
    }
    s.push(Node::Object { props, required })
}

/// The kind a type spelling stands for (the spellings real tool lists use).
fn type_kind(t: &str) -> Option<u8> {
    Some(match t.trim().to_ascii_lowercase().as_str() {
        "string" | "str" | "text" | "date" | "datetime" | "time" | "uri" | "email" => kind::STR,
        "integer" | "int" | "long" | "int32" | "int64" => kind::INT,
        "number" | "float" | "double" | "decimal" | "real" | "num" => kind::NUM,
        "boolean" | "bool" => kind::BOOL,
        "null" | "none" => kind::NULL,
        "object" | "dict" | "map" | "dictionary" => kind::OBJ,
        "array" | "list" | "tuple" | "set" => kind::ARR,
        "any" => kind::ANY,
        _ => return None,
    })
}

/// One value schema.
fn node(s: &mut Schema, v: &Value, depth: usize) -> NodeId {
    let Value::Object(o) = v else { return 0 };
    if depth > MAX_SCHEMA_DEPTH {
        return 0;
    }
    if let Some(Value::Array(vals)) = o.get("enum") {
        if !vals.is_empty() {
            return s.push(Node::Enum(vals.iter().map(|x| x.to_string().into_bytes()).collect()));
        }
    }
    if let Some(c) = o.get("const") {
        return s.push(Node::Enum(vec![c.to_string().into_bytes()]));
    }
    let kinds = match o.get("type") {
        Some(Value::String(t)) => type_kind(t).unwrap_or(kind::ANY),
        Some(Value::Array(ts)) => {
            let mut k = 0;
            for t in ts {
                k |= t.as_str().and_then(type_kind).unwrap_or(kind::ANY);
            }
            if k == 0 {
                kind::ANY
            } else {
                k
            }
        }
        _ => {
            // anyOf / oneOf of simple types: the union of their kinds.
            let alts = o.get("anyOf").or_else(|| o.get("oneOf")).and_then(Value::as_array);
            match alts {
                Some(alts) if !alts.is_empty() => {
                    let mut k = 0;
                    for a in alts {
                        k |= match a.get("type") {
                            Some(Value::String(t)) if a.get("enum").is_none() => type_kind(t).unwrap_or(kind::ANY),
                            _ => kind::ANY,
                        };
                    }
                    if k == kind::OBJ {
                        return 0;
                    }
                    k
                }
                _ if o.contains_key("properties") => kind::OBJ,
                _ if o.contains_key("items") => kind::ARR,
                _ => kind::ANY,
            }
        }
    };
    match kinds {
        kind::OBJ => object(s, o, depth),
        kind::ARR => {
            let items = match o.get("items") {
                Some(i @ Value::Object(_)) => node(s, i, depth + 1),
                _ => 0,
            };
            let bound = |k: &str| o.get(k).and_then(Value::as_u64).map(|n| n.min(MAX_ITEMS as u64) as u16);
            let min = bound("minItems").unwrap_or(0);
            let max = bound("maxItems").unwrap_or(MAX_ITEMS).max(min);
            s.push(Node::Array { items, min, max })
        }
        kind::ANY => 0,
        k => s.push(Node::Kinds(k)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_both_styles_and_messy_types() {
        let tools = r#"[
          {"name":"a","parameters":{"city":{"type":"string","required":true},"n":{"type":"int"},"u":{"type":"string","enum":["c","f"]}}},
          {"type":"function","function":{"name":"b","parameters":{"type":"object","properties":{
            "x":{"type":["integer","null"]},"y":{"type":"list","items":{"type":"float"},"minItems":1,"maxItems":3},
            "z":{"type":"dict"},"w":{"anyOf":[{"type":"string"},{"type":"number"}]},"q":{"type":"whatever"}},"required":["y"]}}}
        ]"#;
        let s = compile(tools, &["a", "b"]);
        assert_eq!(s.tools.len(), 2);
        let Node::Object { props, required } = s.node(s.tools[0].1) else { panic!() };
        assert_eq!(props.len(), 3);
        assert_eq!(*required, 1);
        assert_eq!(s.node(props[0].1), &Node::Kinds(kind::STR));
        assert_eq!(s.node(props[1].1), &Node::Kinds(kind::INT));
        assert_eq!(s.node(props[2].1), &Node::Enum(vec![b"\"c\"".to_vec(), b"\"f\"".to_vec()]));
        let Node::Object { props, required } = s.node(s.tools[1].1) else { panic!() };
        assert_eq!(*required, 2);
        assert_eq!(s.node(props[0].1), &Node::Kinds(kind::INT | kind::NULL));
        let Node::Array { items, min, max } = s.node(props[1].1) else { panic!() };
        assert_eq!((s.node(*items), *min, *max), (&Node::Kinds(kind::NUM), 1, 3));
        assert_eq!(s.node(props[2].1), &Node::Kinds(kind::OBJ));
        assert_eq!(s.node(props[3].1), &Node::Kinds(kind::STR | kind::NUM));
        assert_eq!(props[4].1, 0, "an unknown type is any value");
    }

    #[test]
    fn names_and_keys_are_escaped() {
        let s = compile(r#"[{"name":"q\"x","parameters":{"a\"b":{"type":"string"}}}]"#, &["q\"x"]);
        assert_eq!(s.tools[0].0, b"q\\\"x");
        let Node::Object { props, .. } = s.node(s.tools[0].1) else { panic!() };
        assert_eq!(props[0].0, b"a\\\"b");
    }
}
