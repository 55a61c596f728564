//! Tools JSON normalisation (docs/ARCHITECTURE.md#tools-json; name restoration: docs/ARCHITECTURE.md#output).
//!
//! [`normalize_tools`] parses the caller's tools JSON strictly (like Python's `json.loads`, plus a
//! nesting limit of [`MAX_DEPTH`] levels and no `NaN`/`Infinity`), validates every tool, and produces
//! the text fed to the encoder: the same document with each tool's name replaced by its
//! [`snake_case`] form, re-serialised like Python's
//! `json.dumps(obj, separators=(",", ":"), ensure_ascii=True)` (see [`write_py_json`]).

use serde_json::{Map, Number, Value};

use crate::{Error, ErrorKind, Result};

/// Deepest allowed array/object nesting (a top-level `[]` is depth 1).
pub const MAX_DEPTH: usize = 128;

/// Python's default limit on the number of digits of an integer literal (`int()` refuses more).
const PY_INT_MAX_DIGITS: usize = 4300;

/// One tool definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolDef {
    /// The caller's name, as written.
    pub name: String,
    /// [`snake_case`] of `name` (what the model sees and generates).
    pub snake: String,
    /// Parameter keys in document order (empty keys dropped).
    pub params: Vec<String>,
}

/// The normalised tools: definitions in tool order and the text fed to the encoder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tools {
    /// One entry per tool, in order.
    pub defs: Vec<ToolDef>,
    /// Compact, ASCII-only JSON with snake_cased names; empty when there are no tools.
    pub text: String,
}

fn tools_err(msg: String) -> Error {
    Error::new(ErrorKind::InvalidTools, msg)
}

// ---------------------------------------------------------------------------------------------
// snake_case
// ---------------------------------------------------------------------------------------------

/// Upstream's regex snake_case, done by hand:
/// 1. every run of characters outside `[a-zA-Z0-9_]` (any non-ASCII char included) becomes `_`;
/// 2. `_` is inserted between `[a-z0-9]` and a following `[A-Z]`;
/// 3. in every run of two or more `[A-Z]` followed by `[a-z]`, `_` is inserted before the run's
///    last capital (`re.sub(r'([A-Z]+)([A-Z][a-z])', r'\1_\2', s)`);
/// 4. runs of `_` collapse into one;
/// 5. the result is ASCII-lowercased and stripped of `_` at both ends.
pub fn snake_case(name: &str) -> String {
    // Step 1.
    let mut s1: Vec<u8> = Vec::with_capacity(name.len());
    let mut in_other = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            s1.push(c as u8);
            in_other = false;
        } else if !in_other {
            s1.push(b'_');
            in_other = true;
        }
    }
    // Step 2.
    let mut s2: Vec<u8> = Vec::with_capacity(s1.len() * 2);
    for (i, &b) in s1.iter().enumerate() {
        if i > 0 && b.is_ascii_uppercase() {
            let p = s1[i - 1];
            if p.is_ascii_lowercase() || p.is_ascii_digit() {
                s2.push(b'_');
            }
        }
        s2.push(b);
    }
    // Step 3: maximal runs of capitals (after step 2 a run is never preceded by [a-z0-9]).
    let mut s3: Vec<u8> = Vec::with_capacity(s2.len() * 2);
    let mut i = 0;
    while i < s2.len() {
        if s2[i].is_ascii_uppercase() {
            let start = i;
            while i < s2.len() && s2[i].is_ascii_uppercase() {
                i += 1;
            }
            let run = &s2[start..i];
            let followed_by_lower = s2.get(i).is_some_and(u8::is_ascii_lowercase);
            if run.len() >= 2 && followed_by_lower {
                s3.extend_from_slice(&run[..run.len() - 1]);
                s3.push(b'_');
                s3.push(run[run.len() - 1]);
            } else {
                s3.extend_from_slice(run);
            }
        } else {
            s3.push(s2[i]);
            i += 1;
        }
    }
    // Steps 4 and 5.
    let mut out = String::with_capacity(s3.len());
    for &b in &s3 {
        if b == b'_' && (out.is_empty() || out.ends_with('_')) {
            continue;
        }
        out.push(b.to_ascii_lowercase() as char);
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Strict JSON parser (Python json.loads semantics) producing serde_json::Value
// ---------------------------------------------------------------------------------------------

struct Parser<'a> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl<'a> Parser<'a> {
    fn err(&self, what: &str) -> Error {
        // Report line and column (1-based, columns in characters) like most JSON parsers.
        let upto = self.src.get(..self.pos.min(self.src.len())).unwrap_or("");
        let line = upto.matches('\n').count() + 1;
        let col = upto.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        tools_err(format!("invalid JSON: {what} at line {line} column {col}"))
    }

    fn skip_ws(&mut self) {
        while let Some(&c) = self.b.get(self.pos) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn parse_document(&mut self) -> Result<Value> {
        self.skip_ws();
        let v = self.parse_value(0)?;
        self.skip_ws();
        if self.pos != self.b.len() {
            return Err(self.err("trailing characters after the JSON value"));
        }
        Ok(v)
    }

    fn literal(&mut self, word: &str, v: Value) -> Result<Value> {
        if self.b.get(self.pos..self.pos + word.len()) == Some(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.err("expected a value"))
        }
    }

    /// `depth` = number of arrays/objects enclosing this value.
    fn parse_value(&mut self, depth: usize) -> Result<Value> {
        match self.peek() {
            None => Err(self.err("unexpected end of input, expected a value")),
            Some(b'{') => self.parse_object(depth + 1),
            Some(b'[') => self.parse_array(depth + 1),
            Some(b'"') => Ok(Value::String(self.parse_string()?)),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'N') if self.b[self.pos..].starts_with(b"NaN") => {
                Err(self.err("NaN is not allowed"))
            }
            Some(b'I') if self.b[self.pos..].starts_with(b"Infinity") => {
                Err(self.err("Infinity is not allowed"))
            }
            Some(b'-') if self.b[self.pos..].starts_with(b"-Infinity") => {
                Err(self.err("-Infinity is not allowed"))
            }
            Some(b'-' | b'0'..=b'9') => self.parse_number(),
            Some(_) => Err(self.err("expected a value")),
        }
    }

    fn check_depth(&self, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            Err(tools_err(format!("nesting deeper than {MAX_DEPTH} levels")))
        } else {
            Ok(())
        }
    }

    fn parse_array(&mut self, depth: usize) -> Result<Value> {
        self.check_depth(depth)?;
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.parse_value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    fn parse_object(&mut self, depth: usize) -> Result<Value> {
        self.check_depth(depth)?;
        self.pos += 1; // '{'
        let mut map = Map::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(map));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key"));
            }
            let key = self.parse_string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':'"));
            }
            self.pos += 1;
            self.skip_ws();
            let v = self.parse_value(depth)?;
            // A duplicate key keeps its first position and takes the last value (Python dict).
            map.insert(key, v);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32> {
        let Some(h) = self.b.get(self.pos..self.pos + 4) else {
            return Err(self.err("invalid \\uXXXX escape"));
        };
        let mut v = 0u32;
        for &c in h {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(self.err("invalid \\uXXXX escape")),
            };
            v = v * 16 + u32::from(d);
        }
        self.pos += 4;
        Ok(v)
    }

    fn parse_string(&mut self) -> Result<String> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            // Copy the run of plain characters at once.
            let start = self.pos;
            while let Some(&c) = self.b.get(self.pos) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // `start` and `pos` are on char boundaries: the stop bytes are ASCII.
            out.push_str(self.src.get(start..self.pos).unwrap_or(""));
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let Some(e) = self.peek() else {
                        return Err(self.err("unterminated string"));
                    };
                    self.pos += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let u = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&u) {
                                let save = self.pos;
                                let low = if self.b.get(self.pos..self.pos + 2) == Some(b"\\u") {
                                    self.pos += 2;
                                    Some(self.hex4()?)
                                } else {
                                    None
                                };
                                match low {
                                    Some(l) if (0xDC00..0xE000).contains(&l) => {
                                        0x10000 + ((u - 0xD800) << 10) + (l - 0xDC00)
                                    }
                                    _ => {
                                        self.pos = save;
                                        return Err(self.err("string contains a lone surrogate"));
                                    }
                                }
                            } else if (0xDC00..0xE000).contains(&u) {
                                return Err(self.err("string contains a lone surrogate"));
                            } else {
                                u
                            };
                            match char::from_u32(cp) {
                                Some(c) => out.push(c),
                                None => return Err(self.err("invalid \\uXXXX escape")),
                            }
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                Some(_) => return Err(self.err("control character in string")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn parse_number(&mut self) -> Result<Value> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("invalid number")),
        }
        let int_digits = self.pos - int_start;
        let mut is_float = false;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
            is_float = true;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
            is_float = true;
        }
        if !is_float && int_digits > PY_INT_MAX_DIGITS {
            return Err(self.err("integer literal has too many digits"));
        }
        let lit = self.src.get(start..self.pos).unwrap_or("");
        match serde_json::from_str::<Number>(lit) {
            Ok(n) => Ok(Value::Number(n)),
            Err(_) => Err(self.err("invalid number")),
        }
    }
}

/// Parses `text` as strict JSON (Python `json.loads` rules without NaN/Infinity, no lone
/// surrogates, nesting at most [`MAX_DEPTH`]). Recursion is bounded by the nesting limit.
fn parse_json(text: &str) -> Result<Value> {
    Parser {
        src: text,
        b: text.as_bytes(),
        pos: 0,
    }
    .parse_document()
}

// ---------------------------------------------------------------------------------------------
// Python-compatible serialisation
// ---------------------------------------------------------------------------------------------

/// Appends `s` as a JSON string the way Python's `json.dumps(..., ensure_ascii=True)` writes it.
fn write_py_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// Python's `repr(float)` for a finite or infinite `f64` (json.dumps spelling of infinities).
fn py_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if x == 0.0 {
        return format!("{sign}0.0");
    }
    // Shortest round-trip digits and decimal exponent.
    let e = format!("{:e}", x.abs());
    let (mant, exp) = e.split_once('e').unwrap_or((e.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::from(sign);
    if !(-4..16).contains(&exp) {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    } else if exp >= 0 {
        let point = exp as usize + 1;
        if digits.len() <= point {
            out.push_str(&digits);
            out.push_str(&"0".repeat(point - digits.len()));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
    } else {
        out.push_str("0.");
        out.push_str(&"0".repeat((-exp - 1) as usize));
        out.push_str(&digits);
    }
    out
}

/// Appends a number the way Python prints what `json.loads` made of it: integers verbatim
/// (`-0` as `0`), floats (a literal with `.`, `e` or `E`) as `repr(float(literal))`.
fn write_py_number(n: &Number, out: &mut String) {
    let lit = n.as_str();
    if lit.contains(['.', 'e', 'E']) {
        match lit.parse::<f64>() {
            Ok(x) => out.push_str(&py_float_repr(x)),
            Err(_) => out.push_str(lit),
        }
    } else if lit == "-0" {
        out.push('0');
    } else {
        out.push_str(lit);
    }
}

/// Serialises `v` like Python's `json.dumps(v, separators=(",", ":"), ensure_ascii=True)`:
/// key order kept, strings escaped as Python does (non-ASCII and DEL as lowercase `\uXXXX`,
/// surrogate pairs above U+FFFF, `/` unescaped), integers verbatim, floats as `repr`.
pub fn write_py_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_py_number(n, out),
        Value::String(s) => write_py_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_py_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_py_string(k, out);
                out.push(':');
                write_py_json(item, out);
            }
            out.push('}');
        }
    }
}

// ---------------------------------------------------------------------------------------------
// normalize_tools
// ---------------------------------------------------------------------------------------------

fn param_keys(params: &Map<String, Value>, where_: &str) -> Result<Vec<String>> {
    let keys: Vec<String> = match params.get("properties") {
        Some(Value::Object(props)) => props.keys().cloned().collect(),
        Some(other) => {
            return Err(tools_err(format!(
                "{where_}.parameters.properties must be an object, found {}",
                type_name(other)
            )))
        }
        None => params
            .iter()
            .filter(|(_, v)| v.is_object())
            .map(|(k, _)| k.clone())
            .collect(),
    };
    Ok(keys.into_iter().filter(|k| !k.is_empty()).collect())
}

/// Validates one tool, snake_cases its name in place, and returns its definition.
fn normalize_tool(tool: &mut Value, where_: &str) -> Result<ToolDef> {
    let Value::Object(obj) = tool else {
        return Err(tools_err(format!(
            "{where_} must be an object, found {}",
            type_name(tool)
        )));
    };
    let (fn_obj, where_) = if obj.contains_key("function") {
        if let Some(t) = obj.get("type") {
            if t.as_str() != Some("function") {
                let found = match t {
                    Value::String(s) => format!("{s:?}"),
                    other => type_name(other).to_string(),
                };
                return Err(tools_err(format!(
                    "{where_}.type must be \"function\", found {found}"
                )));
            }
        }
        match obj.get_mut("function") {
            Some(Value::Object(f)) => (f, format!("{where_}.function")),
            Some(other) => {
                return Err(tools_err(format!(
                    "{where_}.function must be an object, found {}",
                    type_name(other)
                )))
            }
            None => return Err(tools_err(format!("{where_}.function is missing"))),
        }
    } else {
        (obj, where_.to_string())
    };
    let name = match fn_obj.get("name") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) => {
            return Err(tools_err(format!(
                "{where_}.name must be a non-empty string, found an empty string"
            )))
        }
        Some(other) => {
            return Err(tools_err(format!(
                "{where_}.name must be a non-empty string, found {}",
                type_name(other)
            )))
        }
        None => return Err(tools_err(format!("{where_}.name is missing"))),
    };
    if let Some(d) = fn_obj.get("description") {
        if !d.is_string() {
            return Err(tools_err(format!(
                "{where_}.description must be a string, found {}",
                type_name(d)
            )));
        }
    }
    let params = match fn_obj.get("parameters") {
        None => Vec::new(),
        Some(Value::Object(p)) => param_keys(p, &where_)?,
        Some(other) => {
            return Err(tools_err(format!(
                "{where_}.parameters must be an object, found {}",
                type_name(other)
            )))
        }
    };
    let snake = snake_case(&name);
    fn_obj.insert("name".to_string(), Value::String(snake.clone()));
    Ok(ToolDef {
        name,
        snake,
        params,
    })
}

/// Parses and validates the caller's tools JSON (docs/ARCHITECTURE.md#tools-json) and builds the encoder text.
///
/// Empty or whitespace-only input means no tools (empty text). Otherwise the top level is an array
/// of tools or a single tool object (which stays an object in the text). Each tool is flat
/// (`{"name","description","parameters"}`) or OpenAI style (`{"type":"function","function":{…}}`).
/// Every error is [`ErrorKind::InvalidTools`] with a message naming the tool index and field.
/// Longer tools JSON (in UTF-8 bytes) is refused before it is parsed; this is
/// [`crate::MAX_TOOLS_BYTES`].
pub fn normalize_tools(tools_json: &str) -> Result<Tools> {
    if tools_json.len() > crate::MAX_TOOLS_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidTools,
            format!(
                "tools JSON is {} bytes; libneedle accepts at most {} bytes (16 MiB)",
                tools_json.len(),
                crate::MAX_TOOLS_BYTES
            ),
        ));
    }
    if tools_json
        .bytes()
        .all(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
    {
        return Ok(Tools::default());
    }
    let mut doc = parse_json(tools_json)?;
    let defs = match &mut doc {
        Value::Array(items) => items
            .iter_mut()
            .enumerate()
            .map(|(i, t)| normalize_tool(t, &format!("tools[{i}]")))
            .collect::<Result<Vec<_>>>()?,
        Value::Object(_) => vec![normalize_tool(&mut doc, "tools")?],
        other => {
            return Err(tools_err(format!(
                "tools must be a JSON array or object, found {}",
                type_name(other)
            )))
        }
    };
    let mut text = String::with_capacity(tools_json.len());
    write_py_json(&doc, &mut text);
    Ok(Tools { defs, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_examples() {
        let cases = [
            ("getWeather", "get_weather"),
            ("GetWeather", "get_weather"),
            ("get-weather", "get_weather"),
            ("get.weather", "get_weather"),
            ("HTMLParser", "html_parser"),
            ("GET_WEATHER", "get_weather"),
            ("WEB_SEARCH_API", "web_search_api"),
            ("bookFlightTicket", "book_flight_ticket"),
            ("get_weather_v2", "get_weather_v2"),
            ("__init__", "init"),
            ("V2API", "v2_api"),
            ("ABc", "a_bc"),
            ("-foo", "foo"),
            ("getÉtat", "get_tat"),
            ("Ünïcode_Name", "n_code_name"),
            ("ABcDEf", "a_bc_d_ef"),
            ("a  b", "a_b"),
            ("get2FA", "get2_fa"),
            ("", ""),
            ("___", ""),
            ("日本", ""),
            ("XMLHttpRequest", "xml_http_request"),
            ("IOError", "io_error"),
            ("A", "a"),
            ("aB", "a_b"),
        ];
        for (input, want) in cases {
            assert_eq!(snake_case(input), want, "snake_case({input:?})");
        }
    }

    fn norm(s: &str) -> Tools {
        normalize_tools(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        let e = normalize_tools(s).expect_err(s);
        assert_eq!(e.kind(), ErrorKind::InvalidTools);
        e.message().to_string()
    }

    #[test]
    fn flat_and_openai_tools() {
        let t = norm(
            r#"[{"name": "getWeather", "description": "Get it", "parameters": {"city": {"type": "string"}, "x": 1}},
                {"type": "function", "function": {"name": "HTMLParser", "parameters": {"type": "object", "properties": {"url": {}, "": {}, "depth": 3}}}}]"#,
        );
        assert_eq!(
            t.text,
            r#"[{"name":"get_weather","description":"Get it","parameters":{"city":{"type":"string"},"x":1}},{"type":"function","function":{"name":"html_parser","parameters":{"type":"object","properties":{"url":{},"":{},"depth":3}}}}]"#
        );
        assert_eq!(t.defs.len(), 2);
        assert_eq!(
            t.defs[0],
            ToolDef {
                name: "getWeather".into(),
                snake: "get_weather".into(),
                params: vec!["city".into()]
            }
        );
        assert_eq!(
            t.defs[1].params,
            vec!["url".to_string(), "depth".to_string()]
        );
        // A single object stays an object.
        let t = norm(r#" {"name":"a-b"} "#);
        assert_eq!(t.text, r#"{"name":"a_b"}"#);
        assert_eq!(norm(" \n\t\r "), Tools::default());
        assert_eq!(norm(""), Tools::default());
        assert_eq!(norm("[]").text, "[]");
    }

    #[test]
    fn duplicate_keys_and_escapes() {
        let t =
            norm(r#"[{"name":"x","description":"a","name":"yZ","d":"é😀\u0001\u007f/\"\\\n"}]"#);
        assert_eq!(
            t.text,
            r#"[{"name":"y_z","description":"a","d":"\u00e9\ud83d\ude00\u0001\u007f/\"\\\n"}]"#
        );
        assert_eq!(t.defs[0].name, "yZ");
    }

    #[test]
    fn numbers_like_python() {
        let t = norm(
            r#"{"name":"f","v":[0,-0,12345678901234567890123,1.0,1e5,1E-5,-0.0,1.5e300,1e400,-1e400,0.1,100000.0,1e16,123456789012345678.0,0.0001,0.00001234,2.5E+3]}"#,
        );
        assert_eq!(
            t.text,
            r#"{"name":"f","v":[0,0,12345678901234567890123,1.0,100000.0,1e-05,-0.0,1.5e+300,Infinity,-Infinity,0.1,100000.0,1e+16,1.2345678901234568e+17,0.0001,1.234e-05,2500.0]}"#
        );
    }

    #[test]
    fn float_repr_table() {
        let table: [(f64, &str); 14] = [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (1e-5, "1e-05"),
            (1e16, "1e+16"),
            (9999999999999998.0, "9999999999999998.0"),
            (1.5e300, "1.5e+300"),
            (0.0001, "0.0001"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (123.456, "123.456"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (f64::INFINITY, "Infinity"),
            (-2.5e-7, "-2.5e-07"),
        ];
        for (x, want) in table {
            assert_eq!(py_float_repr(x), want, "repr({x})");
        }
    }

    #[test]
    fn tool_errors() {
        assert!(err("[1").contains("invalid JSON"));
        assert!(err("[] x").contains("invalid JSON"));
        assert!(err("[NaN]").contains("NaN"));
        assert!(err(r#"{"name":Infinity}"#).contains("Infinity"));
        assert!(err(r#"{"name":-Infinity}"#).contains("Infinity"));
        assert!(err(r#"{"name":"\ud800"}"#).contains("surrogate"));
        assert!(err(r#"{"name":"\udc00x"}"#).contains("surrogate"));
        assert!(err(r#"{"name":"a\u0"}"#).contains("invalid JSON"));
        assert!(err("{\"name\":\"a\tb\"}").contains("control"));
        assert!(err("[01]").contains("invalid JSON"));
        assert!(err("[1.]").contains("invalid JSON"));
        assert!(err("[1,]").contains("invalid JSON"));
        assert!(err("\u{feff}[]").contains("invalid JSON"));
        assert!(err("5").contains("array or object"));
        assert!(err("\"x\"").contains("array or object"));
        assert!(err("[5]").contains("tools[0] must be an object"));
        assert!(err(r#"[{"name":"a"},{"description":"x"}]"#).contains("tools[1].name is missing"));
        assert!(err(r#"[{"name":"a"},{"name":""}]"#)
            .contains("tools[1].name must be a non-empty string"));
        assert_eq!(
            err(r#"[{"name":"a"},{"name":"b"},{"function":{"name":3}}]"#),
            "tools[2].function.name must be a non-empty string, found number"
        );
        assert!(err(r#"{"name":null}"#).contains("tools.name"));
        assert!(err(r#"{"function":[]}"#).contains("tools.function must be an object"));
        assert!(err(r#"{"type":"tool","function":{"name":"a"}}"#).contains("tools.type"));
        assert!(err(r#"{"type":1,"function":{"name":"a"}}"#).contains("tools.type"));
        assert!(err(r#"{"name":"a","description":1}"#).contains("tools.description"));
        assert!(
            err(r#"{"name":"a","parameters":null}"#).contains("tools.parameters must be an object")
        );
        assert!(err(r#"{"name":"a","parameters":{"properties":[]}}"#).contains("properties"));
        assert!(err(&format!("[{}]", "1".repeat(4301))).contains("digits"));
        assert!(normalize_tools(&format!("[{}]", "1".repeat(4300))).is_err()); // not an object
    }

    #[test]
    fn nesting_limit_and_deep_input() {
        // Top-level array is depth 1; 128 levels are fine, 129 are not.
        let ok = format!(
            "[{{\"name\":\"a\",\"x\":{}{}}}]",
            "[".repeat(126),
            "]".repeat(126)
        );
        assert!(normalize_tools(&ok).is_ok());
        let bad = format!(
            "[{{\"name\":\"a\",\"x\":{}{}}}]",
            "[".repeat(127),
            "]".repeat(127)
        );
        assert!(err(&bad).contains("nesting"));
        let deep = "[".repeat(100_000);
        assert!(err(&deep).contains("nesting"));
        let deep_obj = "{\"a\":".repeat(100_000);
        assert!(err(&deep_obj).contains("nesting"));
    }
}
