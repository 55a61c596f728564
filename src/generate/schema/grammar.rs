//! The byte-level pushdown machine of strict schema mode: a stack of small [`Frame`]s (the
//! whole state, hashable, so masks can be cached per state) fed one byte at a time, and the
//! length of the shortest text that completes the answer from any state ([`Grammar::min_close`]).

use super::{kind, Node, NodeId, Schema};

/// A byte trie whose terminals carry an index (a tool, a property or an enum value).
#[derive(Debug, Clone, Default)]
struct Trie {
    children: Vec<Vec<(u8, u32)>>,
    /// The index ending at a node, or `u32::MAX`.
    term: Vec<u32>,
    /// Bit `i` set when index `i` (< 64) ends in the node's subtree.
    sub: Vec<u64>,
    depth: Vec<u32>,
}

impl Trie {
    fn new() -> Self {
        Trie { children: vec![Vec::new()], term: vec![u32::MAX], sub: vec![0], depth: vec![0] }
    }

    fn insert(&mut self, word: &[u8], index: u32) {
        let mut n = 0usize;
        self.sub[0] |= bit(index);
        for &b in word {
            n = match self.children[n].binary_search_by_key(&b, |e| e.0) {
                Ok(i) => self.children[n][i].1 as usize,
                Err(i) => {
                    let id = self.term.len();
                    self.children.push(Vec::new());
                    self.term.push(u32::MAX);
                    self.sub.push(0);
                    self.depth.push(self.depth[n] + 1);
                    self.children[n].insert(i, (b, id as u32));
                    id
                }
            };
            self.sub[n] |= bit(index);
        }
        // The first of equal words wins.
        if self.term[n] == u32::MAX {
            self.term[n] = index;
        }
    }

    fn child(&self, n: u32, b: u8) -> Option<u32> {
        let c = &self.children[n as usize];
        c.binary_search_by_key(&b, |e| e.0).ok().map(|i| c[i].1)
    }

    /// Every terminal index under `n` with its distance from `n`.
    fn terminals(&self, n: u32, f: &mut dyn FnMut(u32, u32)) {
        let base = self.depth[n as usize];
        let mut todo = vec![n];
        while let Some(m) = todo.pop() {
            if self.term[m as usize] != u32::MAX {
                f(self.term[m as usize], self.depth[m as usize] - base);
            }
            todo.extend(self.children[m as usize].iter().map(|e| e.1));
        }
    }
}

fn bit(i: u32) -> u64 {
    if i < 64 {
        1 << i
    } else {
        0
    }
}

/// One level of the machine's stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Frame {
    /// The top-level array: 0 before `[`, 1 after `[`, 2 after a call, 3 after `,`, 4 closed.
    Top(u8),
    /// `pos` bytes into [`CALL_HEAD`] (`{"name":"`, whitespace allowed between tokens).
    Head(u8),
    /// Inside the name string, at a node of the name trie.
    Name(u32),
    /// `pos` bytes into [`CALL_MID`] after the name of `tool` closed.
    Mid { tool: u16, pos: u8 },
    /// The call's arguments are written: `}` closes the call.
    CallEnd,
    /// A value of this node starts here.
    Value(NodeId),
    /// Inside a string: 0 plain, 1 after `\`, 2–5 in `\u` (hex digits left = 6 − sub),
    /// 6–8 in a UTF-8 character (continuation bytes left = sub − 5), 9–12 after a lead
    /// byte whose next byte has a narrower range (E0, ED, F0, F4).
    Str(u8),
    /// An integer (`-?(0|[1-9][0-9]*)`): 0 start, 1 after `-`, 2 after a leading `0`, 3 in
    /// digits; `n` digits so far.
    Int { sub: u8, n: u8 },
    /// A number: 0 start, 1 `-`, 2 leading `0`, 3 int digits, 4 `.`, 5 fraction digits,
    /// 6 `e`, 7 exponent sign, 8 exponent digits; `n` digits in the current part.
    Num { sub: u8, n: u8 },
    /// `pos` bytes into literal `lit` of [`LITERALS`].
    Lit { lit: u8, pos: u8 },
    /// Inside an enum value, at a node of the node's trie.
    Enum { node: NodeId, t: u32 },
    /// A schema object: 0 after `{`, 1 after a value, 2 after `,`, 3 after key `prop` (`:` next).
    Obj { node: NodeId, used: u64, phase: u8, prop: u16 },
    /// Inside a key of a schema object, at a node of its key trie.
    Key { node: NodeId, used: u64, t: u32 },
    /// A schema array with `count` items: 0 after `[`, 1 after an item, 2 after `,`.
    Arr { node: NodeId, count: u16, phase: u8 },
    /// An object of any content: 0 after `{`, 1 after a value, 2 after `,`, 3 after a key.
    AnyObj(u8),
    /// An array of any content: 0 after `[`, 1 after an item, 2 after `,`.
    AnyArr(u8),
}

/// The call object up to its name's first byte; a space marks where whitespace may go.
const CALL_HEAD: &[u8] = b"{ \"name\" : \"";
/// From the name's closing quote to the arguments value.
const CALL_MID: &[u8] = b" , \"arguments\" :";
const LITERALS: [&[u8]; 3] = [b"true", b"false", b"null"];
/// Most integer or number digits in one part (keeps values exact in every JSON reader).
const MAX_DIGITS: u8 = 15;
/// Deepest stack; below it no further object or array of any content opens.
const MAX_STACK: usize = 48;

fn ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\t' | b'\r')
}

/// Bytes still to write in `pat` from `pos` (spaces are optional whitespace).
fn pat_left(pat: &[u8], pos: u8) -> u32 {
    pat[pos as usize..].iter().filter(|&&c| c != b' ').count() as u32
}

/// What a frame does with a byte.
enum Step {
    /// Taken; the frame stays (possibly changed in place).
    Stay,
    /// Taken and the frame's value is complete.
    Done,
    /// Taken, and a child frame starts.
    Push(Frame),
    /// Not taken: the frame's value was already complete; the parent reads the byte.
    Retry,
    Reject,
}

/// A compiled schema with its tries and per-node minimal value lengths.
#[derive(Debug, Clone)]
pub struct Grammar {
    schema: Schema,
    names: Trie,
    /// Per node: its key trie (objects) or value trie (enums), an index into `tries`.
    trie_of: Vec<u32>,
    tries: Vec<Trie>,
    /// Per node: the length of its shortest valid value.
    min_val: Vec<u32>,
    /// Per name-trie node: the shortest `name-rest + "` + `,"arguments":` + arguments + `}`.
    name_cost: Vec<u32>,
}

impl Grammar {
    /// Builds the grammar of `schema`.
    pub fn new(schema: Schema) -> Grammar {
        // Names and keys are stored with their closing quote; each word also in its
        // ASCII-escaped spelling (`\u00e9`), which a vocabulary without the character can write.
        let mut names = Trie::new();
        for (i, (n, _)) in schema.tools.iter().enumerate() {
            insert_spellings(&mut names, n, b"\"", i as u32);
        }
        let mut tries = Vec::new();
        let mut trie_of = Vec::with_capacity(schema.nodes.len());
        for n in &schema.nodes {
            let mut t = Trie::new();
            match n {
                Node::Enum(vals) => vals.iter().enumerate().for_each(|(i, v)| insert_spellings(&mut t, v, b"", i as u32)),
                Node::Object { props, .. } => {
                    props.iter().enumerate().for_each(|(i, (k, _))| insert_spellings(&mut t, k, b"\"", i as u32))
                }
                _ => {}
            }
            trie_of.push(tries.len() as u32);
            tries.push(t);
        }
        let mut g = Grammar { schema, names, trie_of, tries, min_val: Vec::new(), name_cost: Vec::new() };
        // Children come before their parents, so one pass in id order sees every child's length.
        for id in 0..g.schema.nodes.len() {
            let v = g.compute_min_val(id as NodeId);
            g.min_val.push(v);
        }
        let mut cost = vec![u32::MAX; g.names.term.len()];
        for (n, c) in cost.iter_mut().enumerate() {
            g.names.terminals(n as u32, &mut |tool, d| {
                let args = g.schema.tools[tool as usize].1;
                *c = (*c).min(g.min_val[args as usize].saturating_add(d + pat_left(CALL_MID, 0) + 1));
            });
        }
        g.name_cost = cost;
        g
    }

    /// The compiled schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    fn compute_min_val(&self, id: NodeId) -> u32 {
        let mv = |c: NodeId| self.min_val.get(c as usize).copied().unwrap_or(1);
        match self.schema.node(id) {
            Node::Kinds(k) => {
                let mut best = u32::MAX;
                for (f, l) in [(kind::INT | kind::NUM, 1), (kind::STR | kind::OBJ | kind::ARR, 2), (kind::BOOL | kind::NULL, 4)] {
                    if k & f != 0 {
                        best = best.min(l);
                    }
                }
                best
            }
            Node::Enum(vals) => vals.iter().map(|v| v.len() as u32).min().unwrap_or(4),
            Node::Object { props, required } => self.required_cost(props, *required, 0, true).saturating_add(1),
            Node::Array { items, min, .. } => {
                2u32.saturating_add((*min as u32).saturating_mul(mv(*items).saturating_add(1))).saturating_sub((*min > 0) as u32)
            }
        }
    }

    /// Bytes to write every required key not in `used` with its shortest value, the commas
    /// between them (and one before the first unless `first`), and the closing `}`.
    fn required_cost(&self, props: &[(Vec<u8>, NodeId)], required: u64, used: u64, first: bool) -> u32 {
        let mut sum = 1;
        let mut n = 0;
        for (i, (k, v)) in props.iter().enumerate().take(64) {
            if required & !used & (1 << i) != 0 {
                sum = (k.len() as u32 + 3).saturating_add(self.min_val.get(*v as usize).copied().unwrap_or(1)).saturating_add(sum);
                n += 1;
            }
        }
        if n > 0 {
            sum = sum.saturating_add(n - first as u32);
        }
        sum
    }

    fn obj(&self, node: NodeId) -> (&[(Vec<u8>, NodeId)], u64) {
        match self.schema.node(node) {
            Node::Object { props, required } => (props, *required),
            _ => (&[], 0),
        }
    }

    /// Whether key `i` of an object may still be written.
    fn unused(used: u64, i: usize) -> bool {
        i >= 64 || used & (1 << i) == 0
    }

    /// The stack at the start of an answer.
    pub fn start(&self, stack: &mut Vec<Frame>) {
        stack.clear();
        stack.push(Frame::Top(0));
    }

    /// True when the answer is complete (the top-level array is closed).
    pub fn complete(stack: &[Frame]) -> bool {
        stack == [Frame::Top(4)]
    }

    /// Feeds `bytes`; false (with `stack` left part-way) when some byte is not allowed.
    pub fn feed(&self, stack: &mut Vec<Frame>, bytes: &[u8]) -> bool {
        bytes.iter().all(|&b| self.feed_byte(stack, b))
    }

    /// Feeds one byte.
    pub fn feed_byte(&self, stack: &mut Vec<Frame>, b: u8) -> bool {
        loop {
            let depth_ok = stack.len() < MAX_STACK;
            let Some(top) = stack.last_mut() else { return false };
            match self.step(top, b, depth_ok) {
                Step::Stay => return true,
                Step::Done => {
                    stack.pop();
                    return true;
                }
                Step::Push(f) => {
                    stack.push(f);
                    return true;
                }
                Step::Retry => {
                    stack.pop();
                }
                Step::Reject => return false,
            }
        }
    }

    /// Starts a value of `node` at byte `b` (the frame replaces `Value(node)`).
    fn start_value(&self, node: NodeId, b: u8, depth_ok: bool) -> Option<(Frame, Step)> {
        match self.schema.node(node) {
            Node::Enum(_) => {
                let t = self.tries[self.trie_of[node as usize] as usize].child(0, b)?;
                let f = Frame::Enum { node, t };
                Some((f, self.enum_after(node, t)))
            }
            Node::Object { .. } if b == b'{' => Some((Frame::Obj { node, used: 0, phase: 0, prop: 0 }, Step::Stay)),
            Node::Array { .. } if b == b'[' => Some((Frame::Arr { node, count: 0, phase: 0 }, Step::Stay)),
            Node::Object { .. } | Node::Array { .. } => None,
            Node::Kinds(k) => {
                let k = *k;
                let has = |f: u8| k & f != 0;
                match b {
                    b'"' if has(kind::STR) => Some((Frame::Str(0), Step::Stay)),
                    b'{' if has(kind::OBJ) && depth_ok => Some((Frame::AnyObj(0), Step::Stay)),
                    b'[' if has(kind::ARR) && depth_ok => Some((Frame::AnyArr(0), Step::Stay)),
                    b't' if has(kind::BOOL) => Some((Frame::Lit { lit: 0, pos: 1 }, Step::Stay)),
                    b'f' if has(kind::BOOL) => Some((Frame::Lit { lit: 1, pos: 1 }, Step::Stay)),
                    b'n' if has(kind::NULL) => Some((Frame::Lit { lit: 2, pos: 1 }, Step::Stay)),
                    b'-' | b'0'..=b'9' if has(kind::NUM) => {
                        let (sub, n) = num_start(b);
                        Some((Frame::Num { sub, n }, Step::Stay))
                    }
                    b'-' | b'0'..=b'9' if has(kind::INT) => {
                        let (sub, n) = num_start(b);
                        Some((Frame::Int { sub, n }, Step::Stay))
                    }
                    _ => None,
                }
            }
        }
    }

    /// After moving to enum trie node `t`: done when no longer value goes on from here.
    fn enum_after(&self, node: NodeId, t: u32) -> Step {
        let tr = &self.tries[self.trie_of[node as usize] as usize];
        if tr.term[t as usize] != u32::MAX && tr.children[t as usize].is_empty() {
            Step::Done
        } else {
            Step::Stay
        }
    }

    fn step(&self, f: &mut Frame, b: u8, depth_ok: bool) -> Step {
        match *f {
            Frame::Top(p) => match (p, b) {
                (_, b) if ws(b) => Step::Stay,
                (0, b'[') => {
                    *f = Frame::Top(1);
                    Step::Stay
                }
                (1 | 2, b']') => {
                    *f = Frame::Top(4);
                    Step::Stay
                }
                (2, b',') => {
                    *f = Frame::Top(3);
                    Step::Stay
                }
                (1 | 3, b'{') if !self.schema.tools.is_empty() => {
                    *f = Frame::Top(2);
                    Step::Push(Frame::Head(1))
                }
                _ => Step::Reject,
            },
            Frame::Head(pos) => {
                let mut pos = pos as usize;
                if CALL_HEAD[pos] == b' ' {
                    if ws(b) {
                        return Step::Stay;
                    }
                    pos += 1;
                }
                if CALL_HEAD[pos] != b {
                    return Step::Reject;
                }
                if pos + 1 == CALL_HEAD.len() {
                    *f = Frame::Name(0);
                } else {
                    *f = Frame::Head(pos as u8 + 1);
                }
                Step::Stay
            }
            Frame::Name(t) => match self.names.child(t, b) {
                Some(c) => {
                    let tool = self.names.term[c as usize];
                    *f = if tool == u32::MAX { Frame::Name(c) } else { Frame::Mid { tool: tool as u16, pos: 0 } };
                    Step::Stay
                }
                None => Step::Reject,
            },
            Frame::Mid { tool, pos } => {
                let mut pos = pos as usize;
                if CALL_MID[pos] == b' ' {
                    if ws(b) {
                        return Step::Stay;
                    }
                    pos += 1;
                }
                if CALL_MID[pos] != b {
                    return Step::Reject;
                }
                if pos + 1 == CALL_MID.len() {
                    *f = Frame::CallEnd;
                    return Step::Push(Frame::Value(self.schema.tools[tool as usize].1));
                }
                *f = Frame::Mid { tool, pos: pos as u8 + 1 };
                Step::Stay
            }
            Frame::CallEnd => match b {
                b if ws(b) => Step::Stay,
                b'}' => Step::Done,
                _ => Step::Reject,
            },
            Frame::Value(node) => {
                if ws(b) {
                    return Step::Stay;
                }
                match self.start_value(node, b, depth_ok) {
                    Some((nf, st)) => {
                        *f = nf;
                        st
                    }
                    None => Step::Reject,
                }
            }
            Frame::Str(sub) => str_step(f, sub, b),
            Frame::Int { sub, n } => match num_step(sub, n, b, false) {
                Some((sub, n)) => {
                    *f = Frame::Int { sub, n };
                    Step::Stay
                }
                None if num_can_end(sub) => Step::Retry,
                None => Step::Reject,
            },
            Frame::Num { sub, n } => match num_step(sub, n, b, true) {
                Some((sub, n)) => {
                    *f = Frame::Num { sub, n };
                    Step::Stay
                }
                None if num_can_end(sub) => Step::Retry,
                None => Step::Reject,
            },
            Frame::Lit { lit, pos } => {
                let text = LITERALS[lit as usize];
                if text[pos as usize] != b {
                    return Step::Reject;
                }
                if pos as usize + 1 == text.len() {
                    return Step::Done;
                }
                *f = Frame::Lit { lit, pos: pos + 1 };
                Step::Stay
            }
            Frame::Enum { node, t } => {
                let tr = &self.tries[self.trie_of[node as usize] as usize];
                match tr.child(t, b) {
                    Some(c) => {
                        *f = Frame::Enum { node, t: c };
                        self.enum_after(node, c)
                    }
                    None if tr.term[t as usize] != u32::MAX => Step::Retry,
                    None => Step::Reject,
                }
            }
            Frame::Obj { node, used, phase, prop } => self.obj_step(f, node, used, phase, prop, b),
            Frame::Key { node, used, t } => {
                let tr = &self.tries[self.trie_of[node as usize] as usize];
                match tr.child(t, b) {
                    Some(c) if self.key_open(tr, c, used) => {
                        let i = tr.term[c as usize];
                        *f = if i == u32::MAX {
                            Frame::Key { node, used, t: c }
                        } else {
                            Frame::Obj { node, used: used | bit(i), phase: 3, prop: i as u16 }
                        };
                        Step::Stay
                    }
                    _ => Step::Reject,
                }
            }
            Frame::Arr { node, count, phase } => {
                let Node::Array { items, min, max } = *self.schema.node(node) else { return Step::Reject };
                match (phase, b) {
                    (_, b) if ws(b) => Step::Stay,
                    (0 | 1, b']') if count >= min => Step::Done,
                    (1, b',') if count < max => {
                        *f = Frame::Arr { node, count, phase: 2 };
                        Step::Stay
                    }
                    (0, _) if max == 0 => Step::Reject,
                    (0 | 2, b) => match self.start_value(items, b, depth_ok) {
                        Some((nf, st)) => {
                            *f = Frame::Arr { node, count: count.saturating_add(1), phase: 1 };
                            match st {
                                Step::Done => Step::Stay,
                                _ => Step::Push(nf),
                            }
                        }
                        None => Step::Reject,
                    },
                    _ => Step::Reject,
                }
            }
            Frame::AnyObj(phase) => match (phase, b) {
                (_, b) if ws(b) => Step::Stay,
                (0 | 1, b'}') => Step::Done,
                (1, b',') => {
                    *f = Frame::AnyObj(2);
                    Step::Stay
                }
                (0 | 2, b'"') => {
                    *f = Frame::AnyObj(4);
                    Step::Push(Frame::Str(0))
                }
                // 4: the key string was written, `:` next.
                (4, b':') => {
                    *f = Frame::AnyObj(1);
                    Step::Push(Frame::Value(0))
                }
                _ => Step::Reject,
            },
            Frame::AnyArr(phase) => match (phase, b) {
                (_, b) if ws(b) => Step::Stay,
                (0 | 1, b']') => Step::Done,
                (1, b',') => {
                    *f = Frame::AnyArr(2);
                    Step::Stay
                }
                (0 | 2, b) => match self.start_value(0, b, depth_ok) {
                    Some((nf, st)) => {
                        *f = Frame::AnyArr(1);
                        match st {
                            Step::Done => Step::Stay,
                            _ => Step::Push(nf),
                        }
                    }
                    None => Step::Reject,
                },
                _ => Step::Reject,
            },
        }
    }

    /// Whether some unused key ends under key-trie node `t`.
    fn key_open(&self, tr: &Trie, t: u32, used: u64) -> bool {
        // Keys past the 64th are not tracked: a node with such a key below stays open.
        let untracked = tr.sub[t as usize] == 0 && tr.term.len() > 1;
        tr.sub[t as usize] & !used != 0 || untracked
    }

    fn obj_step(&self, f: &mut Frame, node: NodeId, used: u64, phase: u8, prop: u16, b: u8) -> Step {
        let (props, required) = self.obj(node);
        let any_left = props.len() > 64 || (0..props.len()).any(|i| Self::unused(used, i));
        match (phase, b) {
            (_, b) if ws(b) => Step::Stay,
            (0 | 1, b'}') if required & !used == 0 => Step::Done,
            (1, b',') if any_left => {
                *f = Frame::Obj { node, used, phase: 2, prop };
                Step::Stay
            }
            (0 | 2, b'"') if any_left => {
                *f = Frame::Key { node, used, t: 0 };
                Step::Stay
            }
            (3, b':') => {
                *f = Frame::Obj { node, used, phase: 1, prop };
                Step::Push(Frame::Value(props[prop as usize].1))
            }
            _ => Step::Reject,
        }
    }

    /// The length in bytes of the shortest text that completes the answer from `stack`.
    pub fn min_close(&self, stack: &[Frame]) -> u32 {
        stack.iter().map(|f| self.frame_cost(f)).fold(0u32, u32::saturating_add)
    }

    fn frame_cost(&self, f: &Frame) -> u32 {
        let mv = |n: NodeId| self.min_val[n as usize];
        match *f {
            Frame::Top(p) => match p {
                0 => 2,
                1 | 2 => 1,
                3 => self.name_cost[0].saturating_add(pat_left(CALL_HEAD, 0) + 1),
                _ => 0,
            },
            Frame::Head(pos) => self.name_cost[0].saturating_add(pat_left(CALL_HEAD, pos)),
            Frame::Name(t) => self.name_cost[t as usize],
            Frame::Mid { tool, pos } => mv(self.schema.tools[tool as usize].1).saturating_add(pat_left(CALL_MID, pos) + 1),
            Frame::CallEnd => 1,
            Frame::Value(n) => mv(n),
            Frame::Str(sub) => match sub {
                0 => 1,
                1 => 2,
                2..=5 => (6 - sub as u32) + 1,
                6..=8 => (sub as u32 - 5) + 1,
                9 | 10 => 3,
                _ => 4,
            },
            Frame::Int { sub, .. } | Frame::Num { sub, .. } => (!num_can_end(sub)) as u32,
            Frame::Lit { lit, pos } => (LITERALS[lit as usize].len() - pos as usize) as u32,
            Frame::Enum { node, t } => {
                let mut best = u32::MAX;
                self.tries[self.trie_of[node as usize] as usize].terminals(t, &mut |_, d| best = best.min(d));
                best
            }
            Frame::Obj { node, used, phase, prop } => {
                let (props, required) = self.obj(node);
                match phase {
                    0 => self.required_cost(props, required, used, true),
                    1 => self.required_cost(props, required, used, false),
                    2 => self.after_comma_cost(node, used),
                    _ => mv(props[prop as usize].1).saturating_add(1).saturating_add(self.required_cost(props, required, used, false)),
                }
            }
            Frame::Key { node, used, t } => {
                let (props, required) = self.obj(node);
                let tr = &self.tries[self.trie_of[node as usize] as usize];
                let mut best = u32::MAX;
                tr.terminals(t, &mut |i, d| {
                    if Self::unused(used, i as usize) {
                        let u = used | bit(i);
                        let c = mv(props[i as usize].1).saturating_add(d + 1).saturating_add(self.required_cost(props, required, u, false));
                        best = best.min(c);
                    }
                });
                best
            }
            Frame::Arr { node, count, phase } => {
                let Node::Array { items, min, .. } = *self.schema.node(node) else { return 1 };
                let left = (min.saturating_sub(count)) as u32;
                let per = mv(items).saturating_add(1);
                match phase {
                    0 if left > 0 => left.saturating_mul(per),
                    2 => per.saturating_add(left.saturating_sub(1).saturating_mul(per)),
                    _ => left.saturating_mul(per).saturating_add(1),
                }
            }
            Frame::AnyObj(phase) => match phase {
                2 => 2 + 1 + 1 + 1,
                4 => 1 + 1 + 1,
                _ => 1,
            },
            Frame::AnyArr(phase) => match phase {
                2 => 1 + 1,
                _ => 1,
            },
        }
    }

    /// After a `,` in a schema object: the cheapest next key (a missing required one, or
    /// any unused one) with its value, then the rest of the required keys and `}`.
    fn after_comma_cost(&self, node: NodeId, used: u64) -> u32 {
        let (props, required) = self.obj(node);
        let mut best = u32::MAX;
        for (i, (k, v)) in props.iter().enumerate() {
            if Self::unused(used, i) {
                let u = used | bit(i as u32);
                let c = self.min_val[*v as usize].saturating_add(k.len() as u32 + 3).saturating_add(self.required_cost(props, required, u, false));
                best = best.min(c);
            }
        }
        best
    }
}

/// Inserts `word` + `end` and, when `word` has non-ASCII characters, also its spelling with
/// those as `\u` escapes (UTF-16, as JSON writes them).
fn insert_spellings(t: &mut Trie, word: &[u8], end: &[u8], index: u32) {
    let mut w = word.to_vec();
    w.extend_from_slice(end);
    t.insert(&w, index);
    if let Ok(s) = std::str::from_utf8(word) {
        if !s.is_ascii() {
            let mut a = String::with_capacity(s.len() * 2);
            for c in s.chars() {
                if c.is_ascii() {
                    a.push(c);
                } else {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        a.push_str(&format!("\\u{:04x}", u));
                    }
                }
            }
            a.push_str(std::str::from_utf8(end).unwrap_or(""));
            t.insert(a.as_bytes(), index);
        }
    }
}

fn num_start(b: u8) -> (u8, u8) {
    match b {
        b'-' => (1, 0),
        b'0' => (2, 1),
        _ => (3, 1),
    }
}

fn num_can_end(sub: u8) -> bool {
    matches!(sub, 2 | 3 | 5 | 8)
}

/// The next number state after `b`, or `None` when `b` cannot continue it.
fn num_step(sub: u8, n: u8, b: u8, real: bool) -> Option<(u8, u8)> {
    let digit = b.is_ascii_digit();
    let more = n < MAX_DIGITS;
    Some(match (sub, b) {
        (1, b'0') => (2, 1),
        (1, _) if digit => (3, 1),
        (3, _) if digit && more => (3, n + 1),
        (2 | 3, b'.') if real => (4, 0),
        (2 | 3 | 5, b'e' | b'E') if real => (6, 0),
        (4, _) if digit => (5, 1),
        (5, _) if digit && more => (5, n + 1),
        (6, b'+' | b'-') => (7, 0),
        (6 | 7, _) if digit => (8, 1),
        (8, _) if digit && n < 2 => (8, n + 1),
        _ => return None,
    })
}

/// One byte inside a string (valid JSON: escapes checked, no control bytes, whole UTF-8).
fn str_step(f: &mut Frame, sub: u8, b: u8) -> Step {
    let next = match sub {
        0 => match b {
            b'"' => return Step::Done,
            b'\\' => 1,
            0x00..=0x1f | 0x7f => return Step::Reject,
            0x20..=0x7e => 0,
            0xc2..=0xdf => 6,
            0xe0 => 9,
            0xed => 10,
            0xe1..=0xef => 7,
            0xf0 => 11,
            0xf4 => 12,
            0xf1..=0xf3 => 8,
            _ => return Step::Reject,
        },
        1 => match b {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => 0,
            b'u' => 2,
            _ => return Step::Reject,
        },
        2..=5 if b.is_ascii_hexdigit() => {
            if sub == 5 {
                0
            } else {
                sub + 1
            }
        }
        // The first continuation byte of E0, ED, F0 and F4 (no overlong forms, surrogates
        // or code points past U+10FFFF).
        9 if (0xa0..=0xbf).contains(&b) => 6,
        10 if (0x80..=0x9f).contains(&b) => 6,
        11 if (0x90..=0xbf).contains(&b) => 7,
        12 if (0x80..=0x8f).contains(&b) => 7,
        6..=8 if (0x80..=0xbf).contains(&b) => {
            if sub == 6 {
                0
            } else {
                sub - 1
            }
        }
        _ => return Step::Reject,
    };
    *f = Frame::Str(next);
    Step::Stay
}
