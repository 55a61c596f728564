#!/usr/bin/env python3
"""The README's code examples are files that CI runs; this checks that README.md prints them
exactly.

Each example block in README.md is preceded by a marker line naming its file:

    <!-- example: examples/quickstart.rs -->
    ```rust
    ...the file, verbatim...
    ```

  python3 tools/check_readme.py                 # every marked block equals its file
  python3 tools/check_readme.py FILE...         # only these (each must have a block)
  python3 tools/check_readme.py --fix           # rewrite the blocks from the files
It also checks that every `docs/<NAME>.md#<heading>` cited in the repository (NAME in capitals:
ARCHITECTURE, FORMATS, NETWORKS, ERRORS, ...) names an existing document and a heading of it, and
that no code under src/, tools/, tests/, fuzz/, benches/ cites the specification kept outside the
repository (its section numbers, "Part B", "A<n>" decisions, its file names): the behaviour is
described in docs/, and a comment points there instead.
Every file in EXAMPLES must have a block. The test scripts run the files themselves
(tools/test.sh: Rust; test_c.sh: C; test_python.sh: Python; test_go.sh: Go; test_wasm.sh:
JavaScript; the Swift one is checked statically by tools/check_wrappers.py). Exits non-zero on
any difference, naming the file and the first differing line.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
EXAMPLES = [
    "examples/quickstart.rs",
    "examples/c/quickstart.c",
    "examples/python/quickstart.py",
    "wasm/examples/quickstart.mjs",
    "go/examples/quickstart/main.go",
    "examples/swift/quickstart.swift",
]
BLOCK = re.compile(r"<!-- example: (\S+) -->\n(```[a-z]*\n)(.*?)(```)\n", re.S)


def blocks(text):
    return {m.group(1): m for m in BLOCK.finditer(text)}


def anchors(md_text):
    """GitHub's heading anchors of a Markdown document."""
    out = set()
    in_code = False
    for line in md_text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        m = None if in_code else re.match(r"#{1,6}\s+(.*)", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            out.add(slug)
    return out


CITE = re.compile(r"docs/([A-Z][A-Z_]*)\.md((?:#[\w-]+)?(?:,\s*#[\w-]+)*)")
SCAN = ["README.md", "src", "tools", "tests", "python", "wasm", "go", "swift", "examples", "benches", "docs"]
SKIP = {"target", "node_modules", ".mypy_cache", "gen", "fixtures", "__pycache__"}


def check_doc_citations():
    """Every `docs/<NAME>.md#anchor` cited in the repository names a heading that exists."""
    docs = {}
    for fn in sorted(os.listdir(os.path.join(ROOT, "docs"))):
        if fn.endswith(".md"):
            docs[fn[:-3]] = anchors(open(os.path.join(ROOT, "docs", fn), encoding="utf-8").read())
    problems, cites = [], 0
    files = []
    for top in SCAN:
        full = os.path.join(ROOT, top)
        if os.path.isfile(full):
            files.append(full)
        for dp, dns, fns in os.walk(full):
            dns[:] = [d for d in dns if d not in SKIP]
            files += [os.path.join(dp, f) for f in fns if f.endswith((".rs", ".py", ".md", ".sh", ".js", ".mjs", ".ts", ".go", ".swift", ".c", ".h", ".txt"))]
    for f in files:
        try:
            text = open(f, encoding="utf-8").read()
        except (UnicodeDecodeError, OSError):
            continue
        for m in CITE.finditer(text):
            cites += 1
            rel = os.path.relpath(f, ROOT)
            if docs.get(m.group(1)) is None:
                problems.append(f"{rel}: cites docs/{m.group(1)}.md, which does not exist")
                continue
            for a in re.findall(r"#([\w-]+)", m.group(2)):
                if a not in docs[m.group(1)]:
                    problems.append(f"{rel}: docs/{m.group(1)}.md has no heading #{a}")
    return problems, cites


# Citations of the specification that lives outside the repository (a newcomer cannot follow
# them): "spec" + section sign, section numbers, "Part A"/"Part B" and their sections (B2.3, B6),
# the Part A decisions (A1 … A12), the v1 spec's sections, and the spec's file names and folder.
SPEC_CITES = [
    (re.compile(r"\bspec\b\s*(§|Part\b|[AB]\d)", re.I), "a 'spec' citation"),
    (re.compile(r"§\s*\d"), "a section-sign citation"),
    (re.compile(r"\bPart\s+[AB](\b|\d)"), "a 'Part A/B' citation"),
    (re.compile(r"\bB\d{1,2}(\.\d+)+\b"), "a Part B section number"),
    (re.compile(r"\bB([0-9]|1[01])\b(?![-_])"), "a Part B section"),
    (re.compile(r"\bA([1-9]|1[0-2])\b(?![-_])"), "a Part A decision"),
    (re.compile(r"\b(v1|v2/v3|v2-v3)\s+spec\b", re.I), "a 'v1/v2/v3 spec' citation"),
    (re.compile(r"needle-v1\.md|needle-v2-v3(-partB)?\.md|shared/spec\b"), "the spec's file or folder"),
]
SPEC_SCAN = ["src", "tools", "tests", "fuzz", "benches", "docs", "models", "README.md"]
SPEC_SKIP = SKIP | {"corpus", "artifacts", "reference_data"}
SPEC_EXT = (".rs", ".py", ".sh", ".js", ".mjs", ".ts", ".go", ".swift", ".c", ".h", ".toml", ".md")


# The guard's own check: lines it must flag and lines it must let through.
SPEC_FLAG = [
    "(spec §3.3)", "per spec A3:", "spec Part A, A4", "(Part B6.2)", "Part B7 of the v2/v3", "(A11)",
    "spec A5's near-tie rule", "A2/A5/A11", "B2.3", "exactly per B3.3", "(v1 spec, 2.8)",
    "see needle-v2-v3-partB.md", "/work/shared/spec/needle-v1.md", "section §5.4",
]
SPEC_PASS = [
    "the tools spec", "parse_script(spec)", "a spec sheet", "A100 GPU", "0xB2 byte", "b_res", "F16",
    "Part of the prompt", "SHA1", "u16 A-side", "docs/FORMATS.md#cq-evaluation", "¶§¤ symbols",
]


def spec_self_test():
    """SPEC_CITES flags every SPEC_FLAG line and no SPEC_PASS line."""
    hit = lambda line: any(rx.search(line) for rx, _ in SPEC_CITES)
    return [f"citation guard misses {x!r}" for x in SPEC_FLAG if not hit(x)] + [
        f"citation guard wrongly flags {x!r}" for x in SPEC_PASS if hit(x)
    ]

def check_spec_citations():
    """No code or document cites the out-of-repository specification; it points into docs/."""
    me = os.path.abspath(__file__)
    files = []
    for top in SPEC_SCAN:
        full = os.path.join(ROOT, top)
        if os.path.isfile(full):
            files.append(full)
        for dp, dns, fns in os.walk(full):
            dns[:] = sorted(d for d in dns if d not in SPEC_SKIP)
            files += [os.path.join(dp, fn) for fn in sorted(fns)]
    problems = []
    for f in files:
        if not f.endswith(SPEC_EXT) or os.path.abspath(f) == me:
            continue
        try:
            lines = open(f, encoding="utf-8").read().splitlines()
        except (UnicodeDecodeError, OSError):
            continue
        for n, line in enumerate(lines, 1):
            for rx, what in SPEC_CITES:
                m = rx.search(line)
                if m:
                    problems.append(
                        f"{os.path.relpath(f, ROOT)}:{n}: {what} ({m.group(0)!r}); the specification is not "
                        f"in the repository: point to docs/*.md#<heading> instead"
                    )
                    break
    return problems


def main(argv):
    fix = "--fix" in argv
    wanted = [a for a in argv if not a.startswith("--")] or EXAMPLES
    text = open(README, encoding="utf-8").read()
    found = blocks(text)
    problems = []
    for path in sorted(set(EXAMPLES) | set(found)):
        if path not in EXAMPLES and path in found:
            problems.append(f"README.md names {path}, which tools/check_readme.py does not list in EXAMPLES")
    for path in wanted:
        full = os.path.join(ROOT, path)
        if not os.path.isfile(full):
            problems.append(f"{path}: no such file")
            continue
        body = open(full, encoding="utf-8").read()
        m = found.get(path)
        if m is None:
            problems.append(f"README.md has no `<!-- example: {path} -->` block")
            continue
        if m.group(3) != body:
            if fix:
                text = text.replace(m.group(0), f"<!-- example: {path} -->\n{m.group(2)}{body}{m.group(4)}\n")
                continue
            a, b = m.group(3).splitlines(), body.splitlines()
            n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            problems.append(
                f"README.md block for {path} differs from the file at line {n + 1}:\n"
                f"      README: {a[n] if n < len(a) else '<end>'!r}\n      file:   {b[n] if n < len(b) else '<end>'!r}"
            )
    if fix:
        open(README, "w", encoding="utf-8").write(text)
    cite_problems, cites = check_doc_citations()
    problems += cite_problems
    if not cite_problems:
        print(f"  ok: {cites} citations of docs/*.md name headings that exist")
    spec_problems = spec_self_test() + check_spec_citations()
    problems += spec_problems
    if not spec_problems:
        print(f"  ok: nothing in {', '.join(SPEC_SCAN)} cites the specification outside the repository")
    for p in problems:
        print("  FAILED: " + p)
    if not problems:
        print(f"  ok: README.md prints {', '.join(wanted)} verbatim")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
