#!/usr/bin/env python3
"""Write tests/fixtures/tokenizer_cases.jsonl: {"text": str, "ids": [int]} per line, where
ids = sentencepiece's encode(text) with the stand-in model (the tokenizer oracle, docs/ARCHITECTURE.md#tokenizer).

Usage: python3 tools/gen_tokenizer_cases.py [--model PATH] [--out PATH]

Deterministic (fixed seeds). Texts are de-duplicated keeping the first occurrence; no text
contains a surrogate code point.
"""

import argparse
import json
import os
import random
import sys

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import make_corpus as mc  # noqa: E402

SEED = 7331

SPACES = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r", "\r\n", "\x0b", "\x0c", "\u00a0", "\u3000",
          "\u2009", "\u2002", "\u2003", "\u200a", "\u200b", "\u2028", "\u2029", "\u202f", "\u205f",
          "\u0085", "\u1680", "\ufeff", " \t ", "\n ", " \n", "\u00a0 ", " \u3000 "]
BASES = ["hello world", "What's the weather in Paris?", "get_weather", "a", "x", "{\"name\":\"f\"}",
         "Set a timer", "東京", "Привет мир", "😀", "<tools>", "123", "a b c", "café au lait",
         "[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}]"]
SCRIPTS = {
    "latin_ext": "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿāăąćčďđēęěğīıłńňőœřśşšţťūůűźżžƒǎǐǒǔȘșțẞß",
    "greek": "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΘΛΞΠΣΦΨΩάέήίόύώ",
    "cyrillic": "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЫЭЮЯіїєґ",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأإةىًٌٍَُِّْ٠١٢٣٤٥٦٧٨٩",
    "hebrew": "אבגדהוזחטיכלמנסעפצקרשתםןףץ",
    "devanagari": "अआइईउऊएऐओऔकखगघचछजझटठडढणतथदधनपफबभमयरलवशषसहािीुूेैोौं्",
    "thai": "กขคงจฉชซญดตถทธนบปผพฟภมยรลวศษสหอฮะาำิีึืุูเแโใไ่้๊๋",
    "hangul": "가나다라마바사아자차카타파하한국어서울날씨음악",
    "kana": "あいうえおかきくけこさしすせそたちつてとなにぬねのアイウエオカキクケコサシスセソラーメン",
    "cjk": "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年天气明北京东京上海",
    "rare_cjk": "𠀀𠀁𠀂𪚥𩸽𠮷𡈽𤭢𥝱𦰩𧾷𨳊𩽾𪘀𫝀𬺰龘靐齉爩鱻麤",
    "symbols": "©®™°±×÷µ¶§¤¢£¥€₹₽₿←↑→↓↔⇒∀∂∃∅∇∈∑∏√∞∧∨∩∪∫≈≠≡≤≥⊂⊃⌘⌥☐☑★☆♠♣♥♦♪♫✓✗",
    "box": "─│┌┐└┘├┤┬┴┼═║╔╗╚╝▀▄█▌▐░▒▓■□▪▫▲△▼▽◆◇○●",
    "math_alnum": "𝐀𝐁𝐂𝐚𝐛𝐜𝔸𝔹ℂ𝕒𝕓𝕔𝟎𝟏𝟐",
    "misc": "ǅǈǋ\u0301\u0308e\u0301n\u0303\u200d\u200c\u2060\ufe0f\ufe0e\u00ad\u034f",
}
CONTROL = [chr(c) for c in range(0, 32)] + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)]
EMOJI_EXTRA = ["👨‍👩‍👧‍👦", "👩🏽‍💻", "🏳️‍🌈", "🏴‍☠️", "🇫🇷", "🇯🇵", "🇺🇸🇬🇧", "🇪🇺", "👋🏻", "👋🏿", "🤷‍♂️",
               "🧑‍🤝‍🧑", "❤️‍🔥", "1️⃣", "#️⃣", "*️⃣", "©️", "☺️", "☺︎", "🫠", "🪿", "🥹", "🏴󠁧󠁢󠁳󠁣󠁴󠁿",
               "😀😃😄😁", "🔥🔥🔥", "🎉 party 🎉", "ok👍", "👍ok", "a😀b"]


def cp_ranges():
    """Weighted code-point ranges for the random generator (no surrogates)."""
    return [
        (30, 0x20, 0x7E), (4, 0x00, 0x1F), (3, 0xA0, 0x24F), (2, 0x370, 0x52F), (2, 0x590, 0x6FF),
        (2, 0x900, 0xDFF), (1, 0xE00, 0xEFF), (2, 0x1100, 0x11FF), (2, 0x2000, 0x206F),
        (3, 0x2070, 0x2BFF), (2, 0x3000, 0x30FF), (6, 0x4E00, 0x9FFF), (2, 0xAC00, 0xD7A3),
        (1, 0xE000, 0xF8FF), (1, 0xF900, 0xFFFF), (4, 0x1F300, 0x1FAFF), (1, 0x10000, 0x1FFFF),
        (1, 0x20000, 0x2FFFF), (1, 0x30000, 0x10FFFF),
    ]


def rand_char(r, ranges):
    tot = sum(w for w, _, _ in ranges)
    x = r.uniform(0, tot)
    for w, lo, hi in ranges:
        if x < w:
            c = r.randint(lo, hi)
            break
        x -= w
    else:
        c = r.randint(0x20, 0x7E)
    if 0xD800 <= c <= 0xDFFF:
        c = 0xFFFD
    return chr(c)


def rand_unicode(r, n, ranges):
    return "".join(rand_char(r, ranges) for _ in range(n))


def build_texts():
    r = random.Random(SEED)
    c = mc.Corpus(SEED + 1)
    ranges = cp_ranges()
    T = []
    add = T.append

    # 1. Edge cases.
    add("")
    for n in range(1, 21):
        add(" " * n)
    for s in SPACES:
        add(s)
        add(s * 3)
    # 2. Single characters: all ASCII, some Latin-1 and others.
    for cp in range(0, 128):
        add(chr(cp))
    for cp in list(range(0xA0, 0x100)) + [0x2581, 0x3000, 0x4E00, 0x1F600, 0x10FFFF, 0xFFFD, 0xFEFF, 0xFFFF]:
        add(chr(cp))
    for s in SCRIPTS.values():
        for ch in s[:12]:
            add(ch)
    # 3. Digits and numbers.
    for n in range(1, 40):
        add("".join(r.choice("0123456789") for _ in range(n)))
    for _ in range(160):
        add(c.number())
    for _ in range(60):
        add(c.number_line())
    for v in ["0", "00", "007", "-1", "+1", "1.0", "1e-05", "1e+16", "3.14159265358979", "1,000,000",
              "12:30", "2024-05-17", "١٢٣", "１２３", "½", "²³", "Ⅻ", "0x1F", "1_000"]:
        add(v)
    # 4. Long repeated characters.
    for ch in ["a", " ", "x", "_", "-", "=", "0", "9", ".", "!", "?", "\"", "{", "}", "[", "é", "中", "😀",
               "▁", "\t", "\n", "ab", "ha", "<tools>", "\u3000", "\u00a0", "🇫🇷", " a"]:
        for n in (2, 3, 5, 8, 17, 64, 200):
            add(ch * n)
    # 5. Whitespace placement on base strings.
    for b in BASES:
        for s in SPACES:
            add(s + b)
            add(b + s)
            if " " in b:
                add(b.replace(" ", s))
            else:
                k = max(1, len(b) // 2)
                add(b[:k] + s + b[k:])
        add(" " + b + " ")
        add("  " + b + "   ")
        add("\t" + b + "\n")
    for _ in range(200):
        parts = [r.choice(BASES + [c.word() for _ in range(3)]) for _ in range(r.randint(2, 5))]
        out = r.choice(SPACES + [""])
        for p in parts:
            out += p + r.choice(SPACES)
        add(out)
    # 6. Literal user-defined symbols and partial forms, and the meta symbol.
    specials = ["<tools>", "<tool_call>", "<tool", "<tools", "tools>", "tool_call>", "<tool_call",
                "<tool_", "<", ">", "<>", "</tools>", "</tool_call>", "<TOOLS>", "<tools >", "< tools>",
                "<s>", "</s>", "<pad>", "<unk>", "<0x41>", "<0xE3>", "<tools><tools>", "<tool_call><tools>",
                "<<tools>>", "<tool<tools>>", "<tools>>", "<tool_call>>", "<tool_calls>", "<toolsx>"]
    for s in specials:
        add(s)
        add(" " + s)
        add(s + " ")
        add("a" + s + "b")
        add("hello " + s + " world")
        add("x" + s)
        add(s + "x")
        add("\n" + s + "\t")
    for _ in range(60):
        add(r.choice(["What's the weather", "get_weather", "query", "Paris", "", " "]) + r.choice(specials) +
            r.choice(["[{\"name\":\"x\"}]", " ok", "", "\n", "😀", "<tools>"]))
    metas = ["▁", "▁▁", "▁a", "a▁", "a▁b", "▁ ▁", " ▁", "▁ ", "▁hello▁world", "get▁weather", "▁▁x▁▁",
             "a ▁ b", "▁\t▁", "▁<tools>", "<tools>▁", "▁▁▁▁▁▁▁▁", "x▁▁y", "▁the", "the▁", "▁What's the weather?"]
    for s in metas:
        add(s)
        add(" " + s + " ")
    # 7. Control characters and byte fallback.
    for ch in CONTROL:
        add("a" + ch + "b")
        add(ch + "x")
        add("x" + ch)
    for name, s in SCRIPTS.items():
        add(s)
        for _ in range(8):
            k = r.randint(1, min(12, len(s)))
            i = r.randint(0, len(s) - k)
            add(s[i:i + k])
            add("hello " + s[i:i + k] + " world")
    # 8. Emoji.
    for e in mc.EMOJI + EMOJI_EXTRA:
        add(e)
        add("I love it " + e)
        add(e + e)
    for _ in range(80):
        add(c.emoji_line())
    # 9. Multilingual.
    for lang, lines in mc.MULTI.items():
        for s in lines:
            add(s)
    for _ in range(150):
        add(c.multilingual_line())
    # 10. Ordinary queries, tools JSON and answers (corpus generator) ...
    for _ in range(1300):
        tool = c.pick_tool()
        q, args = c.query_and_args(tool)
        add(q)
        if r.random() < 0.35:
            add(c.answer_json([{"name": tool[0], "arguments": args}]))
    for _ in range(300):
        tool = c.pick_tool()
        defs, _ = c.tools_list(tool, extra=r.choice([0, 0, 0, 1]))
        add(c.tools_json(defs, pretty=r.random() < 0.15, ascii_only=r.random() < 0.8))
    for _ in range(200):
        q, t, a = c.example()
        add(q)
        if r.random() < 0.5:
            add(a)
    # ... and unseen combinations: words from different domains shuffled, invented names in all cases.
    pools = [mc.CITIES, mc.PEOPLE, mc.TOPICS, mc.PRODUCTS, mc.FOODS, mc.VERBS, mc.NOUNS, mc.DESC_WORDS,
             mc.ARTISTS, mc.LANGS, mc.TICKERS]
    for _ in range(400):
        words = [r.choice(r.choice(pools)) for _ in range(r.randint(1, 10))]
        if r.random() < 0.3:
            words.append(c.word())
        if r.random() < 0.2:
            words.append(c.number())
        sep = r.choice([" ", " ", " ", "_", "-", ", ", ""])
        add(sep.join(words))
    for _ in range(300):
        base = f"{r.choice(mc.VERBS)}_{r.choice(mc.NOUNS)}"
        if r.random() < 0.3:
            base += "_" + c.word().lower()
        name = mc.convert_case(base, r.choice(mc.CASE_STYLES))
        k = r.randrange(4)
        if k == 0:
            add(name)
        elif k == 1:
            add(json.dumps({"name": name, "arguments": {r.choice(mc.PARAM_POOL)[0]: c.word()}},
                           separators=(",", ":")))
        elif k == 2:
            add(f"[{{\"name\":\"{name}\",\"description\":\"{c.word()} {c.word()}\",\"parameters\":{{}}}}]")
        else:
            add(f"Please call {name} now")
    # 11. Random unicode strings from the seeded generator.
    for i in range(1100):
        n = r.choice([1, 2, 3, 5, 8, 13, 21, 34, 55, 80])
        if i % 3 == 0:
            add(rand_unicode(r, n, ranges))
        elif i % 3 == 1:  # mostly ASCII words with sprinkled unicode
            add("".join(rand_char(r, ranges) if r.random() < 0.15 else r.choice("abcdefghij klmnop qrstuvwxyz ")
                        for _ in range(n)))
        else:  # unicode mixed with whitespace variety
            add("".join(r.choice(SPACES) if r.random() < 0.2 else rand_char(r, ranges) for _ in range(n)))
    # 12. Long inputs (20 strings of 2,000-20,000 characters).
    lengths = [2000, 2500, 3000, 3500, 4000, 5000, 6000, 7000, 8000, 9000,
               10000, 11000, 12000, 13000, 14000, 15000, 16000, 17000, 18500, 20000]
    for i, L in enumerate(lengths):
        kind = i % 5
        if kind == 0:  # long English/tool text
            s = ""
            while len(s) < L:
                q, t, a = c.example()
                s += q + " " + a + " "
        elif kind == 1:  # long tools JSON
            s = ""
            while len(s) < L:
                defs, _ = c.tools_list(c.pick_tool(), extra=2)
                s += c.tools_json(defs)
        elif kind == 2:  # multilingual with whitespace variety
            s = ""
            while len(s) < L:
                s += c.multilingual_line() + r.choice(SPACES)
        elif kind == 3:  # long run of one character plus noise
            s = r.choice(["a", " ", "中", "x y ", "ab"]) * (L // 2)
            s += rand_unicode(r, L - len(s), ranges) if len(s) < L else ""
        else:  # long random unicode (mostly ASCII)
            s = "".join(rand_char(r, ranges) if r.random() < 0.1 else r.choice("abcdefghijklmnopqrstuvwxyz  ")
                        for _ in range(L))
        add(s[:L])
    # De-duplicate, keep order.
    seen = set()
    out = []
    for t in T:
        assert not any(0xD800 <= ord(ch) <= 0xDFFF for ch in t)
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "tests", "fixtures", "vocab", "stand-in.model"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "tokenizer_cases.jsonl"))
    a = ap.parse_args()
    sp = spm.SentencePieceProcessor(model_file=a.model)
    texts = build_texts()
    with open(a.out, "w", encoding="utf-8", newline="\n") as f:
        for t in texts:
            ids = sp.encode(t, out_type=int)
            line = json.dumps({"text": t, "ids": ids}, ensure_ascii=False, separators=(",", ":"))
            # Escape characters that some line splitters treat as line breaks.
            for ch in ("\u0085", "\u2028", "\u2029"):
                line = line.replace(ch, "\\u%04x" % ord(ch))
            f.write(line + "\n")
    print(f"wrote {len(texts)} cases to {a.out} ({os.path.getsize(a.out)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
