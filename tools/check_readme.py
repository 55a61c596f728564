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
It also checks that every `docs/<NAME>.md#<heading>` (ARCHITECTURE, FORMATS, ERRORS) cited in
the repository names a heading of that document.
Every file in EXAMPLES must have a block. The test scripts run the files themselves
(tools/test.sh: Rust; test_c.sh: C; test_python.sh: Python; test_go.sh: Go; test_wasm.sh:
JavaScript; the Swift one is checked statically by tools/check_swift.py). Exits non-zero on
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


CITE = re.compile(r"docs/(ARCHITECTURE|FORMATS|ERRORS)\.md((?:#[\w-]+)?(?:,\s*#[\w-]+)*)")
SCAN = ["README.md", "src", "tools", "tests", "python", "wasm", "go", "swift", "examples", "benches", "docs"]
SKIP = {"target", "node_modules", ".mypy_cache", "gen", "fixtures", "__pycache__"}


def check_doc_citations():
    """Every `docs/<NAME>.md#anchor` cited in the repository names a heading that exists."""
    docs = {}
    for name in ("ARCHITECTURE", "FORMATS", "ERRORS"):
        path = os.path.join(ROOT, "docs", name + ".md")
        docs[name] = anchors(open(path, encoding="utf-8").read()) if os.path.isfile(path) else None
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
            if docs[m.group(1)] is None:
                problems.append(f"{rel}: cites docs/{m.group(1)}.md, which does not exist")
                continue
            for a in re.findall(r"#([\w-]+)", m.group(2)):
                if a not in docs[m.group(1)]:
                    problems.append(f"{rel}: docs/{m.group(1)}.md has no heading #{a}")
    return problems, cites


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
    for p in problems:
        print("  FAILED: " + p)
    if not problems:
        print(f"  ok: README.md prints {', '.join(wanted)} verbatim")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
