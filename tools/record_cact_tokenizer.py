#!/usr/bin/env python3
"""Record the fixtures of tests/tokenizer_cact.rs (docs/FORMATS.md#tokenizer-blob, docs/NETWORKS.md#chatml-prompt).

Writes tests/fixtures/tokenizer_cact/:
  v2.tokblob   the RAW tokenizer blob of the real v2 tokenizer (`needle/model/tokenizer.model` of the
               cactus-needle==2.0.0 wheel), written by the v2 exporter (cactus-needle==2.0.15
               `export._tokenizer_blob`)
  v3s.tokblob  a small v3-style model trained here (BPE, byte fallback, the 16 v3 chat markers as
               user-defined symbols, the v2 model's options), written by the v3 exporter
               (cactus-needle==3.2.8 `export._tokenizer_blob`)
  nd.tokblob   a small model with the other options: add_dummy_prefix false, byte_fallback false,
               whitespace-only pieces, split digits (no upstream exporter can write byte_fallback = 0,
               so this blob comes from this script's own writer; the v2/v3 blobs are checked
               byte for byte against it)
  cases.jsonl  {"t": text, "v2": ids, "v3s": ids, "nd": ids} per line: sentencepiece's
               Encode(text, out_type=int) for each model
  decode.jsonl {"m": model, "ids": ids, "sp": sentencepiece Decode, "ref": upstream RefTokenizer
               decode (null for nd, which RefTokenizer cannot model)} per line
  prompts.jsonl {"system", "query", "tools" (the JSON text a caller passes), "prompt" (upstream's
               finetune.render_example on json.loads(tools)), "v2"/"v3s": [BOS] + Encode(prompt)}
Ids are stored as base64 of little-endian u16 values.

Usage: python3 tools/record_cact_tokenizer.py [--wheels DIR] [--out DIR]
Needs: pip packages sentencepiece==0.2.3 and numpy; the wheels cactus-needle==2.0.0, 2.0.15 and
3.2.8 (downloaded with `pip download --no-deps` into --wheels when missing; they are only unzipped,
never installed; JAX is not needed: the exporter's module is imported with JAX stubbed out).
Deterministic: fixed seeds, one trainer thread.
"""

import argparse
import base64
import glob
import hashlib
import importlib
import importlib.machinery
import io
import json
import os
import random
import struct
import subprocess
import sys
import types
import zipfile

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import gen_tokenizer_cases as g  # noqa: E402  (character pools of the v1 oracle cases)

SEED = 20260
V2_MD5 = "3075c4751cb12aeed7d1cd8b4c8ddbf6"
MARKERS16 = ["<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tools>", "</tools>",
             "<tool_call>", "</tool_call>", "<tool_result>", "</tool_result>",
             "<context>", "</context>", "<extract>", "</extract>", "<schema>", "</schema>"]
META = "\u2581"
HDR = "<IIIIIBBH"
REC = "<fBH"


# ------------------------------------------------------------------------------------------
# wheels and upstream modules
# ------------------------------------------------------------------------------------------

def wheel_dir(wheels, version):
    dest = os.path.join(wheels, f"cactus_needle-{version}")
    if not os.path.isdir(dest):
        found = glob.glob(os.path.join(wheels, f"cactus_needle-{version}-*.whl"))
        if not found:
            subprocess.run([sys.executable, "-m", "pip", "download", f"cactus-needle=={version}",
                            "--no-deps", "-q", "-d", wheels], check=True)
            found = glob.glob(os.path.join(wheels, f"cactus_needle-{version}-*.whl"))
        with zipfile.ZipFile(found[0]) as z:
            z.extractall(dest)
    return dest


class _Stub:
    """Anything JAX-like that an upstream module touches at import time: attributes, calls,
    decorators and subscripts all give another stub (a decorator returns the function)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Stub()

    def __call__(self, *args, **kwargs):
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]
        return _Stub()

    def __getitem__(self, key):
        return _Stub()

    def __mro_entries__(self, bases):
        return (object,)


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Stub()


class _StubFinder:
    PREFIXES = ("jax", "jaxlib", "flax", "optax", "orbax", "ml_dtypes", "einops")

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.PREFIXES:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        m = _StubModule(spec.name)
        m.__path__ = []
        return m

    def exec_module(self, module):
        pass


def import_upstream(root, module):
    """Imports `needle.model.<module>` from an unzipped wheel with JAX (and friends) stubbed: the
    tokenizer blob writer, RefTokenizer and the prompt template never call them."""
    for name in list(sys.modules):
        if name == "needle" or name.startswith("needle."):
            del sys.modules[name]
    if not any(isinstance(f, _StubFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _StubFinder())
    sys.path.insert(0, root)
    try:
        return importlib.import_module(f"needle.model.{module}")
    finally:
        sys.path.remove(root)


class Tok:
    def __init__(self, sp):
        self.sp = sp


def own_blob(sp, markers, byte_fallback):
    """The blob layout of docs/FORMATS.md#tokenizer-blob, typed as the exporters type it."""
    n = sp.GetPieceSize()
    dummy = 1 if sp.IdToPiece(sp.Encode("a", out_type=int)[0]).startswith(META) else 0
    out = bytearray(struct.pack(HDR, n, 0, 1, 2, 3, dummy, byte_fallback, 0))
    for i in range(n):
        p = sp.IdToPiece(i)
        t = 2 if sp.IsControl(i) else 1 if sp.IsUnknown(i) else 4 if sp.IsByte(i) else \
            3 if p in markers else 0
        b = p.encode("utf-8")
        out += struct.pack(REC, sp.GetScore(i), t, len(b)) + b
    return bytes(out)


# ------------------------------------------------------------------------------------------
# training a small model
# ------------------------------------------------------------------------------------------

WORDS = ("the of and to in is you that it he was for on are as with his they at be this have from "
         "or one had by word but not what all were we when your can said there use an each which "
         "she do how their if will up other about out many then them these so some her would make "
         "like him into time has look two more write go see number no way could people my than "
         "first water been call who oil its now find long down day did get come made may part "
         "weather city timer alarm message send email call contact play music volume set get "
         "search query name arguments description parameters properties type string integer "
         "required function tool result think schema extract context hello world Paris London "
         "Tokyo Berlin reminder tomorrow today minutes hours temperature celsius fahrenheit").split()
CJK = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年天气明北京东京上海"
ARABIC = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"


def training_lines(r, n):
    lines = []
    for _ in range(n):
        k = r.random()
        if k < 0.45:
            lines.append(" ".join(r.choice(WORDS) for _ in range(r.randint(3, 20))))
        elif k < 0.65:
            name = "_".join(r.choice(WORDS) for _ in range(r.randint(1, 3)))
            args = {r.choice(WORDS): r.choice([r.choice(WORDS), r.randint(0, 999), 1.5, True])
                    for _ in range(r.randint(1, 3))}
            lines.append("<tool_call>" + json.dumps([{"name": name, "arguments": args}],
                                                     separators=(",", ":")) + "</tool_call>")
        elif k < 0.75:
            q = " ".join(r.choice(WORDS) for _ in range(r.randint(3, 10)))
            lines.append("<|im_start|>user\n<tools>[]</tools>\n" + q + "<|im_end|>\n<|im_start|>assistant\n"
                         "<think>\n" + q + "\n</think>\n")
        elif k < 0.85:
            lines.append("".join(r.choice(CJK) for _ in range(r.randint(2, 15))))
        elif k < 0.9:
            lines.append(" ".join("".join(r.choice(ARABIC) for _ in range(r.randint(2, 6)))
                                  for _ in range(r.randint(1, 6))))
        else:
            lines.append("  ".join(str(r.randint(0, 10 ** r.randint(1, 6))) for _ in range(r.randint(1, 6)))
                         + "    " + r.choice(WORDS) + "\t" + r.choice(WORDS))
    return lines


def train(lines, vocab, dummy, byte_fallback, ws_only, split_digits):
    spm.set_random_generator_seed(SEED)
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=buf, model_type="bpe", vocab_size=vocab,
        normalization_rule_name="identity", add_dummy_prefix=dummy, remove_extra_whitespaces=False,
        byte_fallback=byte_fallback, split_by_whitespace=True, split_by_unicode_script=True,
        split_by_number=True, split_digits=split_digits, max_sentencepiece_length=16,
        treat_whitespace_as_suffix=False, allow_whitespace_only_pieces=ws_only,
        pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="</s>",
        bos_piece="<s>", unk_piece="<unk>", user_defined_symbols=MARKERS16, num_threads=1,
        character_coverage=0.9995, minloglevel=2)
    return spm.SentencePieceProcessor(model_proto=buf.getvalue())


# ------------------------------------------------------------------------------------------
# the strings
# ------------------------------------------------------------------------------------------

PARTIAL = ["<tool", "<tool_cal", "</tool_call", "<|im_start", "<|im_", "|>", "<|im_end|", "<think",
           "</", "<", ">", "<<tools>>", "<tools >", "< tools>", "<TOOLS>", "<unk>", "<s>", "</s>",
           "<pad>", "<0x41>", "<0x0A>", "▁", "▁▁", "<extract", "</schema"]
JSONISH = ['{"name":"get_weather","arguments":{"city":"Paris"}}', '[{"a":1},{"b":[1,2,3]}]',
           '{"x": 1.5e10, "y": -0, "z": null}', '"\\u00e9\\n"', "{ }", "[ ]", '{"k":"v w"}',
           '{"type":"function","function":{"name":"f","parameters":{}}}', "1e400", "-0.0"]


def fragment(r):
    k = r.random()
    if k < 0.22:
        return r.choice(WORDS)
    if k < 0.34:
        return " " * r.choice([1, 1, 1, 2, 2, 3, 4, 5, 8])
    if k < 0.42:
        return r.choice(g.SPACES)
    if k < 0.50:
        return r.choice(MARKERS16)
    if k < 0.55:
        return r.choice(PARTIAL)
    if k < 0.66:
        s = r.choice(list(g.SCRIPTS.values()))
        return "".join(r.choice(s) for _ in range(r.randint(1, 6)))
    if k < 0.70:
        return r.choice(g.EMOJI_EXTRA)
    if k < 0.75:
        return str(r.randint(0, 10 ** r.randint(1, 9)))
    if k < 0.80:
        return r.choice(JSONISH)
    if k < 0.83:
        return r.choice(g.CONTROL)
    if k < 0.88:
        return "".join(r.choice("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") for _ in range(r.randint(1, 4)))
    return "".join(g.rand_char(r, g.cp_ranges()) for _ in range(r.randint(1, 5)))


def edge_cases():
    out = ["", " ", "  ", "   ", "a", " a", "a ", "  a", "a  ", "  a  b  ", "a\tb", "\t", "\n", "\n\n",
           "a\nb", "a\r\nb", "\r\n", " \n ", "\t \t", "\u00a0", "a\u00a0b", " \u00a0 ", "\u3000", "▁",
           "▁▁a", "a▁", "a ▁ b", "ﬁ", "e\u0301", "\u0301", "😀", "👨‍👩‍👧‍👦", "🇫🇷", "東京の天気",
           "مرحبا بالعالم", "Привет,  мир", "\x00", "a\x00b", "\x7f", "\ufeff", "\ufffd", "\U0010ffff",
           "<unk>", "<s>", "</s>", "<pad>", "hello world", "Hello World!", "get_weather(city='Paris')"]
    for m in MARKERS16:
        out += [m, " " + m, m + " ", "x" + m + "y", m + m, "  " + m + "  ", m + "\n", "▁" + m]
    out += ["".join(MARKERS16), " ".join(MARKERS16), "<tool_call>[]</tool_call><|im_end|>",
            "<|im_start|>user\n<tools>[]</tools>\nWhat's the weather?<|im_end|>\n<|im_start|>assistant\n",
            "<think>\nI should call get_weather.\n</think>\n<tool_call>[{\"name\":\"get_weather\","
            "\"arguments\":{\"city\":\"Paris\"}}]</tool_call><|im_end|>"]
    out += [" " * n for n in range(4, 40, 3)] + ["a" + " " * n + "b" for n in range(1, 20)]
    out += ["\n" * n for n in range(2, 10)] + ["\t" * n + "x" for n in range(1, 6)]
    out += PARTIAL + JSONISH
    return out


def long_cases(r):
    def build(frag):
        parts, n = [], 0
        while n < 20000:
            f = frag()
            parts.append(f)
            n += len(f)
        return "".join(parts)[:20000]
    return [
        build(lambda: r.choice(WORDS) + r.choice([" ", " ", "  ", "\n", ", ", " <tool_call> "])),
        build(lambda: fragment(r)),
        build(lambda: r.choice([" " * r.randint(1, 9), "\n" * r.randint(1, 3), "\t", r.choice(WORDS)])),
    ]


def build_texts():
    r = random.Random(SEED)
    seen, out = set(), []
    for t in edge_cases():
        if t not in seen:
            seen.add(t)
            out.append(t)
    while len(out) < 5100:
        t = "".join(fragment(r) for _ in range(r.randint(1, 8)))
        if t not in seen:
            seen.add(t)
            out.append(t)
    out += ["a" * 2000, "ab" * 1000 + " " * 1000] + long_cases(r)
    return out


# ------------------------------------------------------------------------------------------
# prompts
# ------------------------------------------------------------------------------------------

TOOLS_FLAT = [{"name": "get_weather", "description": "Get the weather for a city.",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                               "days": {"type": "integer"}},
                              "required": ["city"]}}]
TOOLS_OPENAI = [{"type": "function", "function": {"name": "setTimer", "description": "Set a timer",
                                                  "parameters": {"type": "object", "properties": {
                                                      "minutes": {"type": "number", "default": 5.0}}}}},
                {"type": "function", "function": {"name": "send-message", "parameters": {}}}]
PROMPT_CASES = [
    (None, "What's the weather in Paris?", json.dumps(TOOLS_FLAT)),
    ("You are a helpful assistant.", "What's the weather in Paris?", json.dumps(TOOLS_FLAT, indent=2)),
    ("  \n ", "set a timer for 5 minutes", json.dumps(TOOLS_OPENAI)),
    ("\x1c system with odd whitespace \u3000\x1f", "  leading and trailing  ", json.dumps(TOOLS_OPENAI)),
    ("", "Quel temps fait-il à Zürich? 東京は？", json.dumps(
        [{"name": "météo", "description": "Météo ☀️ für Zürich — 東京 \u2028 «ok»",
          "parameters": {"ville": {"type": "string", "description": "nom\tde la\nville \"x\" \\ /"}}}],
        ensure_ascii=True)),
    (None, "literal <tool_call> and <|im_start|> in a query </tools>", json.dumps(TOOLS_FLAT,
                                                                                  ensure_ascii=False)),
    ("sys", "floats", '[{"name":"f","parameters":{"a":{"default":1e400},"b":{"default":-0.0},'
                      '"c":{"default":1E5},"d":{"default":0.1},"e":{"default":-0},"g":{"default":12345678901234567890123},'
                      '"h":{"default":1.5e-7},"i":{"default":2.5e16},"j":{"default":100.0}}}]'),
    (None, "dup keys", '[{"name":"a","name":"b_tool","description":"first","parameters":{},"description":"last"}]'),
    (None, "single object", '{"name":"lookUp","description":"DEL \x7f and emoji \\ud83d\\ude00",'
                            '"parameters":{"q":{"type":"string"}}}'),
    ("Be brief.", "empty list", "[]"),
    (None, "nested", json.dumps([{"name": "deep", "parameters": {"type": "object", "properties": {
        "x": {"type": "array", "items": {"type": "object", "properties": {"y": {"type": "boolean"}}}}}}}])),
    ("multi\nline\nsystem", "two tools, 2 calls?", json.dumps(TOOLS_FLAT + TOOLS_OPENAI, ensure_ascii=False)),
]


# ------------------------------------------------------------------------------------------

def b64ids(ids):
    return base64.b64encode(struct.pack(f"<{len(ids)}H", *ids)).decode("ascii")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wheels", default=os.path.join(ROOT, "target", "cactus-wheels"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "tokenizer_cact"))
    a = ap.parse_args()
    os.makedirs(a.wheels, exist_ok=True)
    os.makedirs(a.out, exist_ok=True)
    w200, w2015, w328 = (wheel_dir(a.wheels, v) for v in ("2.0.0", "2.0.15", "3.2.8"))

    v2_path = os.path.join(w200, "needle", "model", "tokenizer.model")
    with open(v2_path, "rb") as f:
        v2_bytes = f.read()
    assert hashlib.md5(v2_bytes).hexdigest() == V2_MD5, "unexpected v2 tokenizer.model"
    models = {"v2": spm.SentencePieceProcessor(model_proto=v2_bytes)}
    lines = training_lines(random.Random(SEED + 1), 12000)
    models["v3s"] = train(lines, 1400, True, True, False, False)
    models["nd"] = train(lines, 700, False, False, True, True)

    exp2 = import_upstream(w2015, "export")
    blob_v2 = exp2._tokenizer_blob(Tok(models["v2"]))
    assert blob_v2 == own_blob(models["v2"], MARKERS16[:10], 1)
    exp3 = import_upstream(w328, "export")
    blob_v3 = exp3._tokenizer_blob(Tok(models["v3s"]))
    assert blob_v3 == own_blob(models["v3s"], MARKERS16, 1)
    blobs = {"v2": blob_v2, "v3s": blob_v3, "nd": own_blob(models["nd"], MARKERS16, 0)}
    refs = {k: exp3.RefTokenizer(exp3.parse_tokenizer_blob(blobs[k])) for k in ("v2", "v3s")}
    for k, b in blobs.items():
        with open(os.path.join(a.out, f"{k}.tokblob"), "wb") as f:
            f.write(b)
        print(f"{k}: {models[k].GetPieceSize()} pieces, blob {len(b)} bytes")

    texts = build_texts()
    ref_agree = {k: 0 for k in refs}
    n_ids = {k: 0 for k in models}
    with open(os.path.join(a.out, "cases.jsonl"), "w", encoding="utf-8") as f:
        for t in texts:
            row = {"t": t}
            for k, sp in models.items():
                ids = sp.Encode(t, out_type=int)
                n_ids[k] += len(ids)
                row[k] = b64ids(ids)
                if k in refs and refs[k].encode(t) == ids:
                    ref_agree[k] += 1
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(texts)} strings; ids per model {n_ids}; RefTokenizer == sentencepiece on {ref_agree}")

    r = random.Random(SEED + 2)
    ref_same = {k: 0 for k in refs}
    n_dec = 0
    with open(os.path.join(a.out, "decode.jsonl"), "w", encoding="utf-8") as f:
        for k, sp in models.items():
            n = sp.GetPieceSize()
            seqs = [sp.Encode(t, out_type=int) for t in texts[:300] if len(t) < 200]
            byte_ids = [i for i in range(n) if sp.IsByte(i)] or [3]
            for _ in range(300):
                ln = r.randint(1, 24)
                seqs.append([r.choice(byte_ids) if r.random() < 0.4 else r.randrange(n) for _ in range(ln)])
            for ids in seqs:
                ref = refs[k].decode(ids) if k in refs else None
                dec = sp.Decode(ids)
                if ref == dec:
                    ref_same[k] += 1
                n_dec += 1
                f.write(json.dumps({"m": k, "ids": b64ids(ids), "sp": dec, "ref": ref}, ensure_ascii=False) + "\n")
    print(f"{n_dec} decode sequences; RefTokenizer decode == sentencepiece on {ref_same}")

    ft = import_upstream(w328, "finetune")
    with open(os.path.join(a.out, "prompts.jsonl"), "w", encoding="utf-8") as f:
        for system, query, tools_json in PROMPT_CASES:
            ex = {"query": query, "tools": json.loads(tools_json)}
            if system is not None:
                ex["system"] = system
            prompt, _ = ft.render_example(ex)
            row = {"system": system, "query": query, "tools": tools_json, "prompt": prompt}
            for k in ("v2", "v3s"):
                row[k] = b64ids([2] + models[k].Encode(prompt, out_type=int))
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(PROMPT_CASES)} prompts")


if __name__ == "__main__":
    main()
