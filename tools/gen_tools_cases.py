#!/usr/bin/env python3
"""Write the tools-normalisation fixtures (reference: tools/ref_tools.py):

  tests/fixtures/snake_case.jsonl      {"name": str, "snake": str}
  tests/fixtures/tools_normalize.jsonl {"tools": str, "text": str, "defs": [...], "error": null}
                                       or {"tools": str, "error": "short reason"}

Usage: python3 tools/gen_tools_cases.py [--out-dir DIR]   (default DIR: tests/fixtures)
Deterministic (fixed seed), stdlib only.
"""

import argparse
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import make_corpus as mc  # noqa: E402
from ref_tools import ToolsError, normalize_tools, snake_case  # noqa: E402

SEED = 4242


def dump_line(obj) -> str:
    line = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    for ch in ("\u0085", "\u2028", "\u2029"):
        line = line.replace(ch, "\\u%04x" % ord(ch))
    return line


# ----------------------------------------------------------------------------------------------
# snake_case names
# ----------------------------------------------------------------------------------------------
FIXED_NAMES = [
    "getWeather", "GetWeather", "get-weather", "get.weather", "get weather", "get_weather",
    "GET_WEATHER", "WEB_SEARCH_API", "bookFlightTicket", "get_weather_v2", "HTMLParser", "V2API",
    "getV2Data", "html5Parser", "getHTTPResponseCode", "HTTPServer", "XMLHttpRequest", "IOError",
    "ABc", "ABC", "AbC", "aBC", "aB", "Ab", "A", "a", "_", "__", "___", "__init__", "_private",
    "trailing_", "-foo-", "-foo", "foo-", "a..b", "a--b", "a__b", "a  b", " a ", "a.-_b",
    "$get", "get$", "get$weather", "$", "$$$", "", "   ", "---", "...", "a$b$c", "user@domain",
    "get/weather", "get\\weather", "get:weather", "get(weather)", "get[0]", "get{x}", "get#1",
    "getÉtat", "Ünïcode_Name", "café", "naïveBayes", "Straße", "größeBerechnen", "日本語",
    "get天気", "天気Get", "получитьПогоду", "getПогода", "ΑΒΓ", "emoji😀Tool", "😀", "tool😀",
    "get\u00a0weather", "get\u3000weather", "get\tweather", "get\nweather", "x\u200by",
    "0", "123", "1abc", "123ABC", "abc123", "abc123def", "ABC123DEF", "a1B2c3", "A1B2C3",
    "get2FA", "use2FACode", "is3DModel", "load3dModel", "s3Bucket", "S3Bucket", "getS3Bucket",
    "oAuth2Token", "OAuth2Token", "iPhone", "iOSVersion", "macOSApp", "eBay", "McDonald",
    "getID", "getIDs", "getIds", "userID", "UserIDList", "parseJSON", "parseJSONData", "toJSON",
    "JSONToXML", "getURLForPage", "URLs", "APIKey", "apiKEY", "APIKeys", "SQLQuery", "runSQL",
    "PDFToText", "mp3Player", "MP3Player", "x86_64", "utf8Decode", "UTF8Decode", "UTF8",
    "camelCaseString", "PascalCaseString", "snake_case_string", "UPPER_SNAKE_CASE", "kebab-case-string",
    "Mixed_Case-Name.v2", "get__weather", "get--weather", "Get_Weather", "get_Weather", "GET-WEATHER",
    "getWEATHER", "GETWeather", "GETWeatherNow", "getWeatherNOW", "ALLCAPS", "lowercase",
    "a_B", "A_b", "A_B", "aB_C", "AB_C", "ABcD", "ABCd", "abCD", "AbCd", "aBcD",
    "ÀB", "aÀ", "ÉCOLE", "école", "ÉcoleNormale", "SchöneGrüße", "ĲsselMeer", "Ǆungla",
    "İstanbul", "ß", "ẞ", "Σίσυφος", "ﬁle", "①②", "ℌello", "Ⅻ", "x²", "½cup",
    "tool.name.with.dots", "tool name with spaces", "  leading spaces", "trailing spaces  ",
    "tab\tseparated", "new\nline", "dollar$sign", "percent%", "a+b", "a*b", "a=b", "a&b", "a|b",
    "a'b", 'a"b', "a`b", "a~b", "a^b", "a!b", "a?b", "a<b>", "a,b", "a;b",
]


def snake_names(r):
    names = list(FIXED_NAMES)
    # All five conventions over verb_noun(_qualifier) combinations.
    for _ in range(260):
        base = f"{r.choice(mc.VERBS)}_{r.choice(mc.NOUNS)}"
        q = r.choice(mc.QUALIFIERS)
        if q:
            base += "_" + q
        for style in mc.CASE_STYLES:
            if r.random() < 0.45:
                names.append(mc.convert_case(base, style))
    # Mangled variants: acronyms, digits, separators, non-ASCII.
    acr = ["HTTP", "URL", "ID", "API", "JSON", "XML", "SQL", "HTML", "UI", "IO", "AI", "GPS", "PDF", "V2", "S3", "2FA"]
    seps = ["_", "-", ".", " ", "__", "--", "$", "..", " - ", "/"]
    extra = ["É", "ü", "ñ", "ß", "中", "Ж", "ω", "😀", "\u00a0", "ı", "İ"]
    for _ in range(260):
        parts = [r.choice(mc.VERBS), r.choice(acr + [n.split("_")[0] for n in mc.NOUNS])]
        if r.random() < 0.5:
            parts.append(r.choice(acr + mc.VERBS + [str(r.randint(0, 99))]))
        k = r.randrange(5)
        if k == 0:
            s = parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])
        elif k == 1:
            s = "".join(p[:1].upper() + p[1:] for p in parts)
        elif k == 2:
            s = r.choice(seps).join(parts)
        elif k == 3:
            s = r.choice(seps) + r.choice(seps).join(parts) + r.choice(seps)
        else:
            s = "".join(p.upper() if r.random() < 0.3 else p for p in parts)
        if r.random() < 0.15:
            i = r.randint(0, len(s))
            s = s[:i] + r.choice(extra) + s[i:]
        names.append(s)
    seen = set()
    out = []
    for n in names:
        if n not in seen:
            seen.add(n)
            out.append(n)
    return out


# ----------------------------------------------------------------------------------------------
# tools JSON inputs
# ----------------------------------------------------------------------------------------------
def nest(depth: int, leaf: str = "1") -> str:
    """A JSON value with exactly `depth` levels of arrays/objects."""
    s = leaf
    for i in range(depth):
        s = "[" + s + "]" if i % 2 == 0 else "{\"k\":" + s + "}"
    return s


NUMBERS = ["0", "-0", "1", "-1", "42", "123456789012345678901234567890", "-123456789012345678901234567890",
           "9007199254740993", "18446744073709551616", "1.0", "1.5", "-1.5", "0.1", "-0.0", "0.0", "1e-05",
           "1e16", "1E5", "1e5", "1e+5", "1E-5", "1e400", "-1e400", "3.14159265358979", "2.5e-3", "1e15",
           "1e22", "123456789.0", "12345678901234567890.0", "0.0001", "0.00001", "1e-7", "5e-324",
           "2.2250738585072014e-308", "1.7976931348623157e308", "1.7976931348623159e308", "0e10", "-0e0",
           "100", "1.10", "1.000000000000000001", "0.30000000000000004", "4.35", "1e-400", "7.0e0",
           "1234567890123456.7", "0.5e1"]
BAD_NUMBERS = ["01", "1.", ".5", "+1", "0x10", "1e", "-", "--1", "1.e5", "NaN", "Infinity", "-Infinity",
               "nan", "inf", "1_000"]
STRINGS = [r"plain", r"caf\u00e9", "café", r"\u00E9", "😀", r"\ud83d\ude00", r"a\/b", "a/b", r"\"quoted\"",
           r"back\\slash", r"\b\f\n\r\t", r"\u0000", r"\u0001\u001f", "\x7f", r"\u007f", "\u0080\u009f",
           "\u2028\u2029", "日本語の説明", "Привет", "مرحبا", "👨‍👩‍👧‍👦 family", "🇫🇷", "\U0010ffff", "\ufeff",
           r"\uffff", "tab\there", " lead and trail ", "", "<tools>", "<tool_call>", "▁meta", "a\u00a0b"]
BAD_STRINGS = ["\x01", "\n", "\t", "\x00", r"\x41", r"\u12", r"\ud800", r"\udc00", r"\udc00\ud800",
               r"\ud83d", r"a\ud83dz", r"\uD800\u0041", "\\"]


def tools_inputs(r):
    c = mc.Corpus(SEED)
    T = []
    add = T.append
    # Whitespace-only / empty / trivial.
    for s in ["", " ", "\n", "\t", "\r\n", " \t\n\r ", "[]", " [] ", "\n[\n]\n", "[ ]", "{}", "[{}]",
              "\u00a0", "\x0b", "\x0c", "\u3000", "\ufeff[]", "[]\u00a0"]:
        add(s)
    # Generated tool lists: flat / OpenAI, both parameter styles, all name conventions, pretty/compact.
    for i in range(220):
        tool = c.pick_tool()
        style = ["flat", "openai"][i % 2]
        schema = ["flat", "json_schema"][(i // 2) % 2] if style == "flat" else "json_schema"
        n_extra = r.choice([0, 0, 1, 2])
        defs = []
        for t in [tool] + [c.pick_tool() for _ in range(n_extra)]:
            d, _ = c.tool_def(t, style=style, schema=schema, case=mc.CASE_STYLES[r.randrange(5)])
            defs.append(d)
        single = r.random() < 0.15
        obj = defs[0] if single else defs
        k = r.randrange(4)
        if k == 0:
            s = json.dumps(obj, separators=(",", ":"))
        elif k == 1:
            s = json.dumps(obj, indent=r.choice([1, 2, 4]), ensure_ascii=r.random() < 0.5)
        elif k == 2:
            s = json.dumps(obj, ensure_ascii=False)
        else:
            s = json.dumps(obj, indent="\t", separators=(" , ", " : "), ensure_ascii=False)
        if r.random() < 0.2:
            s = r.choice([" ", "\n", "\t", "\r\n"]) + s + r.choice([" ", "\n", "\r\n", ""])
        add(s)
    # Names in all conventions and odd names.
    for n in FIXED_NAMES[:120]:
        if n:
            add(json.dumps([{"name": n, "description": "d", "parameters": {"x": {"type": "string"}}}],
                           ensure_ascii=r.random() < 0.5))
    # Numbers.
    for num in NUMBERS:
        add('[{"name":"numTool","parameters":{"x":{"type":"number","default":%s}}}]' % num)
    add('{"name":"n","parameters":{"a":{"enum":[%s]}}}' % ",".join(NUMBERS))
    for num in BAD_NUMBERS:
        add('[{"name":"numTool","parameters":{"x":{"type":"number","default":%s}}}]' % num)
    # Strings in descriptions, param keys and values.
    for s in STRINGS:
        add('[{"name":"strTool","description":"%s","parameters":{"p":{"type":"string","description":"%s"}}}]' % (s, s))
        add('{"name":"strTool","parameters":{"%s":{"type":"string"}}}' % s)
    for s in BAD_STRINGS:
        add('[{"name":"strTool","description":"%s"}]' % s)
    add('[{"name":"caf\\u00e9Tool"}]')
    add('[{"name":"get\\u0057eather"}]')
    add('[{"name":"\\u65e5\\u672c"}]')
    add('[{"name":"a\\/b"}]')
    # Duplicate keys.
    add('{"name":"first","name":"getSecond"}')
    add('[{"name":"a","description":"x","name":"BName","description":"y"}]')
    add('[{"name":"a","parameters":{"x":{}},"parameters":{"y":{},"z":{}}}]')
    add('[{"name":"a","parameters":{"x":{},"y":1,"x":{"type":"string"}}}]')
    add('[{"name":"a","parameters":{"x":{},"x":2}}]')
    add('[{"type":"function","function":{"name":"a"},"function":{"name":"bTool"}}]')
    add('[{"name":"a","parameters":{"properties":{"p":{}},"properties":{"q":{},"r":{}}}}]')
    # Nested objects / arrays / booleans / null in parameters.
    add('[{"name":"nested","parameters":{"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"array","items":{"type":"object","properties":{"c":{"type":"string"}}}}}},"d":{"type":["string","null"],"default":null},"e":{"type":"boolean","default":true},"f":{"const":false}},"required":["a"],"additionalProperties":false}}]')
    add('[{"name":"flatMixed","parameters":{"a":{"type":"string"},"b":"not a dict","c":[1,2],"d":null,"e":true,"f":{},"g":1.5,"":{"type":"string"}}}]')
    add('[{"name":"schemaNoProps","parameters":{"type":"object","required":["x"]}}]')
    add('[{"name":"schemaEmptyProps","parameters":{"type":"object","properties":{}}}]')
    add('[{"name":"emptyKey","parameters":{"type":"object","properties":{"":{"type":"string"},"ok":1,"n":null}}}]')
    add('[{"name":"propsParam","parameters":{"properties":{"type":"string"}}}]')
    add('[{"name":"noParams"}]')
    add('[{"name":"emptyParams","parameters":{}}]')
    add('[{"name":"extra","description":"","parameters":{},"strict":true,"examples":[{"a":1}],"x":null}]')
    add('{"type":"function","function":{"name":"openAISingle","description":"d","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}}')
    add('[{"function":{"name":"noTypeKey","parameters":{"type":"object","properties":{"q":{}}}}}]')
    add('[{"type":"function","name":"typeButNoFunction","parameters":{"q":{}}}]')
    add('[{"type":"function","function":{"name":"openAIFlatParams","parameters":{"city":{"type":"string"}}}}]')
    add('[{"type":"function","function":{"name":"extraOuter","parameters":{}},"name":"outerName"}]')
    add('[{"name":"a"},{"name":"b"},{"name":"A"},{"name":"a-b"},{"name":"AB"},{"name":"a_b"}]')
    add('[{"name":"getWeather"},{"name":"get-weather"},{"name":"GET_WEATHER"},{"name":"GetWeather"}]')
    add('[{"name":"$$$"},{"name":"日本"},{"name":"__"}]')
    add('[' + ",".join('{"name":"tool%dName","parameters":{"p%d":{}}}' % (i, i) for i in range(50)) + ']')
    # Depth limit (128 allowed, 129 rejected).
    for d in [1, 2, 100, 124, 125, 126, 127]:
        # list(1) > tool(2) > parameters(3) > x(4) > "default": value of depth d  => total 4 + d
        add('[{"name":"deep","parameters":{"x":{"default":%s}}}]' % nest(d))
    add(nest(128, "1"))
    add(nest(129, "1"))
    add(nest(200, "1"))
    add('[{"name":"deep","parameters":{"x":{"default":%s}}}]' % nest(200))
    add("[" * 200 + "]" * 200)
    add("[" * 5000 + "]" * 5000)
    add("[" * 5000)
    add('{"name":"deepDict","parameters":' + nest(127) + "}")
    add('{"name":"deepDict","parameters":{"x":' + nest(126) + "}}")
    add('{"name":"deepDict","parameters":{"x":' + nest(127) + "}}")
    # Error rules.
    errs = [
        "[", "]", "{", "[{]", "[{}", "{\"name\":\"a\"", "[{\"name\":\"a\",}]", "[{\"name\":\"a\"},]",
        "[{'name':'a'}]", "[{name:\"a\"}]", "[{\"name\":\"a\"}] x", "[{\"name\":\"a\"}][]", "[] []",
        "{\"name\":\"a\"}}", "[{\"name\":\"a\"}]\x00", "// comment\n[]", "[] // c", "/* c */ []",
        "1", "-1", "1.5", "\"tools\"", "null", "true", "false", "\"[]\"",
        "[1]", "[\"a\"]", "[null]", "[[]]", "[[{\"name\":\"a\"}]]", "[{\"name\":\"a\"},1]", "[true]",
        "[{}]", "{}", "[{\"description\":\"no name\"}]", "[{\"name\":1}]", "[{\"name\":null}]",
        "[{\"name\":\"\"}]", "[{\"name\":[\"a\"]}]", "[{\"name\":{\"x\":1}}]", "[{\"name\":true}]",
        "[{\"name\":\"a\",\"description\":1}]", "[{\"name\":\"a\",\"description\":null}]",
        "[{\"name\":\"a\",\"description\":[\"x\"]}]", "[{\"name\":\"a\",\"parameters\":null}]",
        "[{\"name\":\"a\",\"parameters\":[]}]", "[{\"name\":\"a\",\"parameters\":\"x\"}]",
        "[{\"name\":\"a\",\"parameters\":1}]",
        "[{\"name\":\"a\",\"parameters\":{\"type\":\"object\",\"properties\":[]}}]",
        "[{\"name\":\"a\",\"parameters\":{\"type\":\"object\",\"properties\":null}}]",
        "[{\"name\":\"a\",\"parameters\":{\"properties\":\"x\"}}]",
        "[{\"type\":\"function\",\"function\":null}]", "[{\"type\":\"function\",\"function\":\"get_weather\"}]",
        "[{\"type\":\"function\",\"function\":[]}]", "[{\"function\":1}]",
        "[{\"type\":\"tool\",\"function\":{\"name\":\"a\"}}]", "[{\"type\":null,\"function\":{\"name\":\"a\"}}]",
        "[{\"type\":\"Function\",\"function\":{\"name\":\"a\"}}]", "[{\"type\":1,\"function\":{\"name\":\"a\"}}]",
        "[{\"type\":\"function\",\"function\":{}}]", "[{\"type\":\"function\",\"function\":{\"name\":\"\"}}]",
        "[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":[]}}]",
        "[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"description\":false}}]",
        "[{\"name\":\"a\"},{\"name\":\"\"}]", "[{\"name\":\"ok\"},{\"nom\":\"x\"}]",
        "[{\"name\":\"a\",\"parameters\":{\"x\":NaN}}]", "[{\"name\":\"a\",\"parameters\":{\"x\":{\"default\":Infinity}}}]",
        "[{\"name\":\"a\",\"parameters\":{\"x\":{\"default\":-Infinity}}}]", "NaN", "[NaN]",
        "[{\"name\":\"a\",\"parameters\":{\"x\":{\"default\":undefined}}}]",
        "[{\"name\":\"a\",\"parameters\":{\"x\":{\"default\":True}}}]",
        "[{\"name\":\"a\",\"parameters\":{\"x\":{\"default\":None}}}]",
        "[{\"name\":\"\\ud800\"}]", "[{\"name\":\"a\",\"description\":\"\\udfff\"}]",
        "{\"name\":\"a\",\"parameters\":{\"\\ud800\":{}}}",
        "\ufeff[{\"name\":\"a\"}]", "[{\"name\":\"a\"}]\u00a0", "\u00a0[{\"name\":\"a\"}]",
        "[{\"name\":\"a\"}\x0b]", "[\x0c]",
    ]
    for e in errs:
        add(e)
    # Pretty-printed error and valid mixes.
    add('[\n  {\n    "name": "getWeather",\n    "parameters": {\n      "city": {"type": "string"}\n    }\n  },\n  {\n    "name": 5\n  }\n]')
    add('[\n  {\n    "name": "getWeather",\n    "description": "Météo ☀️",\n    "parameters": {\n      "city": {"type": "string"}\n    }\n  }\n]\n')
    add('[\r\n\t{"name" : "Get-Weather" , "parameters" : { "city" : { } } }\r\n]')
    seen = set()
    out = []
    for s in T:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "tests", "fixtures"))
    a = ap.parse_args()
    r = random.Random(SEED)
    names = snake_names(r)
    p1 = os.path.join(a.out_dir, "snake_case.jsonl")
    with open(p1, "w", encoding="utf-8", newline="\n") as f:
        for n in names:
            f.write(dump_line({"name": n, "snake": snake_case(n)}) + "\n")
    inputs = tools_inputs(r)
    p2 = os.path.join(a.out_dir, "tools_normalize.jsonl")
    n_err = 0
    with open(p2, "w", encoding="utf-8", newline="\n") as f:
        for s in inputs:
            try:
                text, defs = normalize_tools(s)
                rec = {"tools": s, "text": text, "defs": defs, "error": None}
            except ToolsError as e:
                rec = {"tools": s, "error": str(e)}
                n_err += 1
            f.write(dump_line(rec) + "\n")
    print(f"wrote {len(names)} names to {p1}; {len(inputs)} tools cases ({n_err} errors) to {p2}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
