//! Constrained decoding (docs/ARCHITECTURE.md#constrained-decoding): tool names and argument keys are forced to follow
//! byte tries built from the caller's tools, driven by a small JSON state machine fed
//! with the bytes of each generated token.

use std::collections::HashMap;

/// A byte trie over a set of strings.
#[derive(Debug, Clone, Default)]
pub struct Trie {
    /// `children[node]` = sorted (byte, child) pairs.
    children: Vec<Vec<(u8, u32)>>,
    terminal: Vec<bool>,
}

impl Trie {
    /// An empty trie (only the root, which is not terminal).
    pub fn new() -> Self {
        Trie { children: vec![Vec::new()], terminal: vec![false] }
    }

    /// Builds a trie holding every string of `words`.
    pub fn from_words<'a>(words: impl IntoIterator<Item = &'a str>) -> Self {
        let mut t = Trie::new();
        for w in words {
            t.insert(w.as_bytes());
        }
        t
    }

    /// Adds `word`.
    pub fn insert(&mut self, word: &[u8]) {
        let mut node = 0usize;
        for &b in word {
            node = match self.children[node].binary_search_by_key(&b, |e| e.0) {
                Ok(i) => self.children[node][i].1 as usize,
                Err(i) => {
                    let id = self.children.len();
                    self.children.push(Vec::new());
                    self.terminal.push(false);
                    self.children[node].insert(i, (b, id as u32));
                    id
                }
            };
        }
        self.terminal[node] = true;
    }

    /// True when the trie holds no string at all.
    pub fn is_empty(&self) -> bool {
        self.children[0].is_empty() && !self.terminal[0]
    }

    fn child(&self, node: usize, b: u8) -> Option<usize> {
        self.children[node]
            .binary_search_by_key(&b, |e| e.0)
            .ok()
            .map(|i| self.children[node][i].1 as usize)
    }

    /// The node reached by walking `path` from the root, if any.
    pub fn walk(&self, path: &[u8]) -> Option<usize> {
        let mut node = 0;
        for &b in path {
            node = self.child(node, b)?;
        }
        Some(node)
    }

    /// Whether a token with text `bytes` may follow at `node` (docs/ARCHITECTURE.md#constrained-decoding): a `"` closes the
    /// string and is allowed only at a terminal node; any other byte must continue a
    /// path; running out of bytes inside the trie is allowed.
    pub fn allows(&self, node: usize, bytes: &[u8]) -> bool {
        let mut n = node;
        for &b in bytes {
            if b == b'"' {
                return self.terminal[n];
            }
            match self.child(n, b) {
                Some(c) => n = c,
                None => return false,
            }
        }
        true
    }
}

/// Where the state machine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonState {
    /// Outside any constrained span: all tokens allowed.
    Free,
    /// Inside the string value of a `"name"` key: tool names only.
    InName,
    /// Inside an argument key: the current tool's parameter keys only.
    InArgKey,
}

const NAME_TRIGGER: &[u8] = b"\"name\":\"";
const ARGS_TRIGGER: &[u8] = b"\"arguments\":{";
const TAIL_LEN: usize = 13;

/// The JSON state machine of docs/ARCHITECTURE.md#constrained-decoding, fed one byte at a time.
#[derive(Debug, Clone)]
pub struct JsonStateMachine {
    state: JsonState,
    buf: Vec<u8>,
    current_function: String,
    in_arguments: bool,
    arguments_depth: usize,
    nesting_depth: usize,
    in_string: bool,
    prev_escape: bool,
    tail: [u8; TAIL_LEN],
    tail_len: usize,
    /// Argument keys written so far in the current call (cleared at each `"name":"`).
    used_keys: Vec<String>,
}

impl Default for JsonStateMachine {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonStateMachine {
    /// A machine in the initial (Free) state.
    pub fn new() -> Self {
        JsonStateMachine {
            state: JsonState::Free,
            buf: Vec::new(),
            current_function: String::new(),
            in_arguments: false,
            arguments_depth: 0,
            nesting_depth: 0,
            in_string: false,
            prev_escape: false,
            tail: [0; TAIL_LEN],
            tail_len: 0,
            used_keys: Vec::new(),
        }
    }

    /// Current state.
    pub fn state(&self) -> JsonState {
        self.state
    }

    /// Bytes written so far inside the current constrained span.
    pub fn buffer(&self) -> &[u8] {
        &self.buf
    }

    /// The argument keys written so far in the current call.
    pub fn used_keys(&self) -> &[String] {
        &self.used_keys
    }

    /// The last tool name that was closed.
    pub fn current_function(&self) -> &str {
        &self.current_function
    }

    fn tail(&self) -> &[u8] {
        &self.tail[TAIL_LEN - self.tail_len..]
    }

    fn push_tail(&mut self, b: u8) {
        self.tail.copy_within(1.., 0);
        self.tail[TAIL_LEN - 1] = b;
        self.tail_len = (self.tail_len + 1).min(TAIL_LEN);
    }

    /// Feeds every byte of `bytes`.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.feed_byte(b);
        }
    }

    /// Feeds one byte.
    pub fn feed_byte(&mut self, b: u8) {
        match self.state {
            JsonState::InName => {
                if b == b'"' {
                    self.current_function = String::from_utf8_lossy(&self.buf).into_owned();
                    self.buf.clear();
                    self.state = JsonState::Free;
                } else {
                    self.buf.push(b);
                }
                return;
            }
            JsonState::InArgKey => {
                if b == b'"' {
                    if !self.buf.is_empty() {
                        let key = String::from_utf8_lossy(&self.buf).into_owned();
                        if !self.used_keys.contains(&key) {
                            self.used_keys.push(key);
                        }
                    }
                    self.buf.clear();
                    self.state = JsonState::Free;
                } else {
                    self.buf.push(b);
                }
                return;
            }
            JsonState::Free => {}
        }
        self.push_tail(b);
        if self.in_string {
            if self.prev_escape {
                self.prev_escape = false;
            } else if b == b'\\' {
                self.prev_escape = true;
            } else if b == b'"' {
                self.in_string = false;
            }
            return;
        }
        match b {
            b'{' | b'[' => self.nesting_depth += 1,
            b'}' | b']' => {
                self.nesting_depth = self.nesting_depth.saturating_sub(1);
                if b == b'}' && self.in_arguments && self.nesting_depth < self.arguments_depth {
                    self.in_arguments = false;
                }
                return;
            }
            _ => {}
        }
        let tail = self.tail();
        if !self.in_arguments && tail.ends_with(NAME_TRIGGER) {
            self.state = JsonState::InName;
            self.buf.clear();
            self.used_keys.clear();
            return;
        }
        if tail.ends_with(ARGS_TRIGGER) {
            self.in_arguments = true;
            self.arguments_depth = self.nesting_depth;
            return;
        }
        if self.in_arguments
            && self.nesting_depth == self.arguments_depth
            && (tail.ends_with(b"{\"") || tail.ends_with(b",\""))
        {
            self.state = JsonState::InArgKey;
            self.buf.clear();
            return;
        }
        if b == b'"' && tail.len() >= 2 && tail[tail.len() - 2] == b':' {
            self.in_string = true;
        }
    }
}

/// Per-call constrained decoder: the tries plus the state machine.
#[derive(Debug, Clone)]
pub struct ConstrainedDecoder {
    names: Trie,
    params: HashMap<String, Trie>,
    /// Each tool's declared keys (for the trie of the keys not used yet).
    keys: HashMap<String, Vec<String>>,
    machine: JsonStateMachine,
    /// Forbid writing an argument key twice in one call (needle-rs's v2/v3 rule).
    unique_keys: bool,
    /// While in a key with `unique_keys`: the trie of the current tool's unused keys
    /// (`None` when every key is used: then all of them are allowed again).
    remaining: Option<Trie>,
}

impl ConstrainedDecoder {
    /// Builds the tries from `(snake_name, param_keys)` pairs. A later tool with the same
    /// snake name replaces the earlier one's keys.
    pub fn new<'a>(tools: impl IntoIterator<Item = (&'a str, &'a [String])>) -> Self {
        let mut names = Trie::new();
        let mut params = HashMap::new();
        let mut declared = HashMap::new();
        for (name, keys) in tools {
            names.insert(name.as_bytes());
            params.insert(name.to_string(), Trie::from_words(keys.iter().map(String::as_str)));
            declared.insert(name.to_string(), keys.to_vec());
        }
        ConstrainedDecoder {
            names,
            params,
            keys: declared,
            machine: JsonStateMachine::new(),
            unique_keys: false,
            remaining: None,
        }
    }

    /// Forbids repeating an argument key within one call, as needle-rs's v2 and v3
    /// engines do: a key already written is left out of the key trie until every
    /// declared key has been used, when all are allowed again.
    pub fn unique_keys(mut self, on: bool) -> Self {
        self.unique_keys = on;
        self
    }

    /// The state machine.
    pub fn machine(&self) -> &JsonStateMachine {
        &self.machine
    }

    /// Feeds the text of a generated token.
    pub fn update(&mut self, token_bytes: &[u8]) {
        self.machine.feed(token_bytes);
        self.remaining = None;
        if self.unique_keys && self.machine.state == JsonState::InArgKey {
            if let Some(declared) = self.keys.get(self.machine.current_function.as_str()) {
                let used = &self.machine.used_keys;
                if declared.iter().any(|k| !used.contains(k)) {
                    self.remaining = Some(Trie::from_words(declared.iter().filter(|k| !used.contains(k)).map(String::as_str)));
                }
            }
        }
    }

    /// The trie and node that constrain the next token, or `None` when unconstrained.
    pub fn constraint(&self) -> Option<(&Trie, usize)> {
        let trie = match self.machine.state {
            JsonState::Free => return None,
            JsonState::InName => &self.names,
            JsonState::InArgKey => match &self.remaining {
                Some(t) => t,
                None => self.params.get(self.machine.current_function.as_str())?,
            },
        };
        if trie.is_empty() {
            return None;
        }
        let node = trie.walk(&self.machine.buf)?;
        Some((trie, node))
    }

    /// Picks the next token: the highest logit among allowed ids (lowest id on ties).
    /// `token_text(id)` gives each token's bytes (`None` for ids without a piece, which
    /// are never allowed while constrained). When no id is allowed, the step is
    /// unconstrained.
    pub fn choose<'t>(&self, logits: &[f32], token_text: impl Fn(usize) -> Option<&'t [u8]>) -> u32 {
        if let Some((trie, node)) = self.constraint() {
            let mut best: Option<(usize, f32)> = None;
            for (id, &l) in logits.iter().enumerate() {
                if let Some((_, bl)) = best {
                    if !(l.total_cmp(&bl).is_gt()) {
                        continue;
                    }
                }
                match token_text(id) {
                    Some(t) if trie.allows(node, t) => best = Some((id, l)),
                    _ => {}
                }
            }
            if let Some((id, _)) = best {
                return id as u32;
            }
        }
        argmax(logits)
    }
}

/// Index of the largest value (IEEE total order), lowest index on ties.
pub fn argmax(v: &[f32]) -> u32 {
    let mut best = 0usize;
    for i in 1..v.len() {
        if v[i].total_cmp(&v[best]).is_gt() {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(m: &mut JsonStateMachine, s: &str) {
        m.feed(s.as_bytes());
    }

    #[test]
    fn trie_allows_prefixes_and_closing_quote_only_at_terminals() {
        let t = Trie::from_words(["get_weather", "get_weather_forecast", "send"]);
        let root = 0;
        assert!(t.allows(root, b"get"));
        assert!(t.allows(root, b"get_weather"));
        assert!(t.allows(root, b"get_weather\","));
        assert!(!t.allows(root, b"get\""));
        assert!(!t.allows(root, b"x"));
        let n = t.walk(b"get_weather").unwrap();
        assert!(t.allows(n, b"_f"));
        assert!(t.allows(n, b"\"}"));
        assert!(t.allows(root, b""));
        assert!(!t.allows(root, b"\""));
        assert!(Trie::new().is_empty());
    }

    #[test]
    fn canonical_trajectory_states() {
        let mut m = JsonStateMachine::new();
        feed_all(&mut m, "<tool_call> [{\"name\":\"");
        assert_eq!(m.state(), JsonState::InName);
        feed_all(&mut m, "get_weather");
        assert_eq!(m.buffer(), b"get_weather");
        feed_all(&mut m, "\",\"arguments\":{\"");
        assert_eq!(m.current_function(), "get_weather");
        assert_eq!(m.state(), JsonState::InArgKey);
        feed_all(&mut m, "location\":\"");
        assert_eq!(m.state(), JsonState::Free);
        // Value strings are tracked: a quote-comma inside the value does not open a key.
        feed_all(&mut m, "Par\\\"is,\"");
        assert_eq!(m.state(), JsonState::Free);
        feed_all(&mut m, ",\"");
        assert_eq!(m.state(), JsonState::InArgKey);
        feed_all(&mut m, "unit\":\"c\"}}");
        feed_all(&mut m, ",{\"name\":\"");
        assert_eq!(m.state(), JsonState::InName, "second call re-enters the name state");
    }

    #[test]
    fn nested_objects_in_arguments_do_not_open_keys() {
        let mut m = JsonStateMachine::new();
        feed_all(&mut m, "[{\"name\":\"f\",\"arguments\":{\"a\":{\"");
        assert_eq!(m.state(), JsonState::Free, "a key inside a nested object is free");
        feed_all(&mut m, "x\":1},\"");
        assert_eq!(m.state(), JsonState::InArgKey, "back at the arguments level");
    }

    #[test]
    fn spaced_json_never_triggers() {
        let mut m = JsonStateMachine::new();
        feed_all(&mut m, "[{\"name\": \"get\", \"arguments\": {\"x\": 1}}]");
        assert_eq!(m.state(), JsonState::Free);
    }

    fn texts<'a>(table: &'a [&'static str]) -> impl Fn(usize) -> Option<&'static [u8]> + 'a {
        move |i| table.get(i).map(|s| s.as_bytes())
    }

    /// needle-rs's v2/v3 rule: a key already written in this call is masked until every
    /// declared key is used; a new call starts afresh; off, repeats are allowed.
    #[test]
    fn unique_keys_mask_repeats_within_a_call() {
        let keys = ["a".to_string(), "b".to_string()];
        let table = ["a", "b", "zzz"];
        let tt = texts(&table);
        let logits = [9.0, 1.0, 0.0];
        let feed = |d: &mut ConstrainedDecoder, s: &str| d.update(s.as_bytes());
        let mut d = ConstrainedDecoder::new([("f", &keys[..])]).unique_keys(true);
        feed(&mut d, "[{\"name\":\"f\",\"arguments\":{\"");
        assert_eq!(d.choose(&logits, &tt), 0, "first key: the model's choice");
        feed(&mut d, "a\":1,\"");
        assert_eq!(d.machine().used_keys(), ["a"]);
        assert_eq!(d.choose(&logits, &tt), 1, "\"a\" is used: only \"b\" is left");
        feed(&mut d, "b\":2,\"");
        assert_eq!(d.choose(&logits, &tt), 0, "every key used: all allowed again");
        feed(&mut d, "a\":3}},{\"name\":\"f\",\"arguments\":{\"");
        assert!(d.machine().used_keys().is_empty(), "a new call starts afresh");
        assert_eq!(d.choose(&logits, &tt), 0);
        let mut d = ConstrainedDecoder::new([("f", &keys[..])]);
        feed(&mut d, "[{\"name\":\"f\",\"arguments\":{\"a\":1,\"");
        assert_eq!(d.choose(&logits, &tt), 0, "v1 (off): repeats allowed");
    }

    #[test]
    fn choose_masks_names_and_keys() {
        let keys = ["location".to_string(), "unit".to_string()];
        let none: Vec<String> = vec![];
        let mut d = ConstrainedDecoder::new([("get_weather", &keys[..]), ("ping", &none[..])]);
        let table = ["</s>", "get", "_", "weather", "\",\"", "location", "zzz", "p", "unit"];
        let tt = texts(&table);
        // Free: plain argmax.
        assert_eq!(d.choose(&[0., 0., 0., 0., 0., 0., 9., 0., 0.], &tt), 6);
        d.update(b"[{\"name\":\"");
        // InName: "zzz" and EOS are masked even with the highest logits.
        assert_eq!(d.choose(&[9., 1., 0., 0., 0., 0., 9., 0., 0.], &tt), 1);
        assert_eq!(d.choose(&[9., 0., 0., 0., 0., 0., 9., 2., 0.], &tt), 7);
        d.update(b"get_weather");
        // Terminal node: the closing-quote token is allowed.
        assert_eq!(d.choose(&[9., 0., 0., 0., 5., 0., 9., 0., 0.], &tt), 4);
        d.update(b"\",\"arguments\":{\"");
        assert_eq!(d.machine().state(), JsonState::InArgKey);
        assert_eq!(d.choose(&[9., 0., 0., 0., 0., 1., 9., 0., 2.], &tt), 8);
        // Ties resolve to the lowest id.
        assert_eq!(d.choose(&[9., 0., 0., 0., 0., 3., 9., 0., 3.], &tt), 5);
    }

    #[test]
    fn unconstrained_fallbacks() {
        // Zero tools: the name trie is empty, so nothing is allowed and the step is free.
        let mut d = ConstrainedDecoder::new(std::iter::empty());
        d.update(b"[{\"name\":\"");
        let table = ["</s>", "abc"];
        assert_eq!(d.choose(&[5.0, 1.0], texts(&table)), 0);
        // Parameterless tool: empty key trie, keys are free.
        let none: Vec<String> = vec![];
        let mut d = ConstrainedDecoder::new([("ping", &none[..])]);
        d.update(b"[{\"name\":\"ping\",\"arguments\":{\"");
        assert_eq!(d.machine().state(), JsonState::InArgKey);
        assert_eq!(d.choose(&[1.0, 5.0], texts(&table)), 1);
        // A name off the trie (after a fallback) leaves keys unconstrained.
        let keys = ["a".to_string()];
        let mut d = ConstrainedDecoder::new([("f", &keys[..])]);
        d.update(b"[{\"name\":\"");
        d.update(b"g\",\"arguments\":{\"");
        assert!(d.constraint().is_none());
    }

    #[test]
    fn snake_collision_later_keys_win() {
        let k1 = ["a".to_string()];
        let k2 = ["b".to_string()];
        let mut d = ConstrainedDecoder::new([("get_x", &k1[..]), ("get_x", &k2[..])]);
        d.update(b"[{\"name\":\"get_x\",\"arguments\":{\"");
        let table = ["a", "b"];
        assert_eq!(d.choose(&[5.0, 1.0], texts(&table)), 1);
    }

    #[test]
    fn argmax_lowest_index_on_ties() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
        assert_eq!(argmax(&[f32::NEG_INFINITY, -1.0]), 1);
    }
}
