#!/usr/bin/env python3
"""Static checks of the Swift package (swift/) for machines without a Swift toolchain.

Verifies what can be verified without compiling Swift:
  1. Package.swift declares the `.systemLibrary` target CNeedle (pkgConfig "needle"), the
     Needle target depending on it and the test target, and their folders exist.
  2. The module map names headers that exist, links "needle", and the headers it names
     include only headers that exist (needle.h from include/ and, when pkg-config finds an
     installed libneedle, from the install, which must equal include/needle.h).
  3. Every status code of needle.h (`needle_status`) has its own NeedleError case, both
     ways (status -> case in `init(status:message:)`, case -> status in `status`).
  4. Every C function the Swift sources call exists in needle.h with the same number of
     arguments; every NEEDLE_* constant and needle_* type they name exists; the streaming
     closure passed as needle_token_callback takes as many parameters as the typedef.
  5. The public API the project promises exists (Engine, init(weights:vocab:), run, ...).
If `swift` is on PATH it also runs `swift build` and `swift test`; otherwise it says so.

  python3 tools/check_swift.py             # the checks
  python3 tools/check_swift.py --self-test # also proves each check catches a seeded fault
Exits non-zero if a check fails.
"""
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWIFT = os.path.join(ROOT, "swift")
HEADER = os.path.join(ROOT, "include", "needle.h")


# ---------------------------------------------------------------- C header parsing
def strip_c_comments(src):
    src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
    return re.sub(r"//[^\n]*", " ", src)


def c_arity(params):
    params = params.strip()
    if params in ("", "void"):
        return 0
    return len(params.split(","))


def parse_header(text):
    """Returns (functions: name -> arity, statuses: name -> value, types, callback arities)."""
    src = strip_c_comments(text)
    funcs = {}
    for m in re.finditer(r"\b(needle_\w+)\s*\(([^()]*)\)\s*;", src):
        funcs[m.group(1)] = c_arity(m.group(2))
    statuses = {}
    em = re.search(r"typedef\s+enum\s*\{(.*?)\}\s*needle_status\s*;", src, re.S)
    if em:
        for m in re.finditer(r"\b(NEEDLE_\w+)\s*=\s*(-?\d+)", em.group(1)):
            statuses[m.group(1)] = int(m.group(2))
    types = set(re.findall(r"\}\s*(needle_\w+)\s*;", src))
    types |= set(re.findall(r"typedef\s+struct\s+\w+\s+(needle_\w+)\s*;", src))
    callbacks = {}
    for m in re.finditer(r"typedef\s+[\w\s\*]+\(\s*\*\s*(needle_\w+)\s*\)\s*\(([^()]*)\)\s*;", src):
        callbacks[m.group(1)] = c_arity(m.group(2))
        types.add(m.group(1))
    macros = set(re.findall(r"#define\s+(NEEDLE_\w+)", src))
    return funcs, statuses, types, callbacks, macros


# ---------------------------------------------------------------- Swift lexing
def strip_swift(src):
    """Blanks comments and string literals (keeping their newlines) so that the rest can
    be scanned for identifiers and balanced brackets. String interpolations are blanked
    with the string: the wrapper never calls libneedle inside one."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == '"' or (c == "#" and re.match(r'#+"', src[i:])):
            hashes = len(re.match(r"#*", src[i:]).group(0))
            j = i + hashes
            triple = src.startswith('"""', j)
            close = ('"""' if triple else '"') + "#" * hashes
            j += 3 if triple else 1
            while j < n:
                if hashes == 0 and src[j] == "\\":
                    j += 2
                    continue
                if src.startswith(close, j):
                    j += len(close)
                    break
                j += 1
            out.append('"' + re.sub(r"[^\n]", " ", src[i + 1 : j - 1]) + '"')
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def call_args(code, open_paren):
    """Splits the argument list starting at code[open_paren] == '(' at top-level commas."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack, args, start = [], [], open_paren + 1
    for j in range(open_paren, len(code)):
        c = code[j]
        if c in pairs:
            stack.append(pairs[c])
        elif c in ")]}":
            if not stack or stack.pop() != c:
                return None, j
            if not stack:
                last = code[start:j].strip()
                if last or args:
                    args.append(last)
                return args, j
        elif c == "," and len(stack) == 1:
            args.append(code[start:j].strip())
            start = j + 1
    return None, len(code)


def balanced(code):
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack = []
    for i, c in enumerate(code):
        if c in pairs:
            stack.append((pairs[c], i))
        elif c in ")]}":
            if not stack or stack.pop()[0] != c:
                return f"unbalanced '{c}' at offset {i}"
    return f"unclosed bracket at offset {stack[-1][1]}" if stack else None


def line_of(code, pos):
    return code.count("\n", 0, pos) + 1


# ---------------------------------------------------------------- the checks
def check_package(pkg_text, swift_dir):
    problems = []
    code = strip_swift(pkg_text)
    if not re.search(r"swift-tools-version:\s*5\.[5-9]|swift-tools-version:\s*[6-9]", pkg_text):
        problems.append("Package.swift: swift-tools-version must be 5.5 or later")
    sysm = re.search(r"\.systemLibrary\s*\(", pkg_text)
    if not sysm:
        problems.append("Package.swift: no .systemLibrary target")
    else:
        args, _ = call_args(pkg_text, sysm.end() - 1)
        body = ",".join(args or [])
        if not re.search(r'name:\s*"CNeedle"', body):
            problems.append('Package.swift: the .systemLibrary target is not named "CNeedle"')
        if not re.search(r'pkgConfig:\s*"needle"', body):
            problems.append('Package.swift: the .systemLibrary target lacks pkgConfig: "needle"')
        pm = re.search(r'path:\s*"([^"]+)"', body)
        path = pm.group(1) if pm else "Sources/CNeedle"
        if not os.path.isfile(os.path.join(swift_dir, path, "module.modulemap")):
            problems.append(f"Package.swift: {path}/module.modulemap does not exist")
    for kind, name in (("target", "Needle"), ("testTarget", "NeedleTests")):
        m = re.search(r"\." + kind + r'\s*\(\s*name:\s*"' + name + '"', pkg_text)
        if not m:
            problems.append(f'Package.swift: no .{kind}(name: "{name}")')
            continue
        args, _ = call_args(pkg_text, pkg_text.index("(", m.start()))
        body = ",".join(args or [])
        pm = re.search(r'path:\s*"([^"]+)"', body)
        path = pm.group(1) if pm else ("Sources/" if kind == "target" else "Tests/") + name
        d = os.path.join(swift_dir, path)
        if not os.path.isdir(d) or not any(f.endswith(".swift") for f in os.listdir(d)):
            problems.append(f"Package.swift: target {name}: {path} has no .swift files")
        dep = '"CNeedle"' if name == "Needle" else '"Needle"'
        if not re.search(r"dependencies:\s*\[[^\]]*" + re.escape(dep), body):
            problems.append(f"Package.swift: target {name} does not depend on {dep}")
    err = balanced(code)
    if err:
        problems.append(f"Package.swift: {err}")
    return problems


def check_modulemap(mm_text, mm_dir, include_dirs):
    problems = []
    if not re.search(r"\bmodule\s+CNeedle\b", mm_text):
        problems.append("module.modulemap: does not declare module CNeedle")
    if not re.search(r'\blink\s+"needle"', mm_text):
        problems.append('module.modulemap: no link "needle"')
    headers = re.findall(r'\b(?:umbrella\s+)?header\s+"([^"]+)"', mm_text)
    if not headers:
        problems.append("module.modulemap: names no header")
    for h in headers:
        p = os.path.join(mm_dir, h)
        if not os.path.isfile(p):
            problems.append(f'module.modulemap: header "{h}" does not exist ({p})')
            continue
        for inc in re.findall(r'#\s*include\s*[<"]([^>"]+)[>"]', open(p, encoding="utf-8").read()):
            if inc in ("stdbool.h", "stddef.h", "stdint.h"):
                continue
            found = [d for d in include_dirs if os.path.isfile(os.path.join(d, inc))]
            if not found:
                problems.append(f"{h}: #include <{inc}> is in none of {include_dirs}")
    return problems


def swift_sources(swift_dir, sub):
    base = os.path.join(swift_dir, sub)
    out = {}
    for dp, _, fs in os.walk(base):
        for f in sorted(fs):
            if f.endswith(".swift"):
                p = os.path.join(dp, f)
                out[os.path.relpath(p, swift_dir)] = open(p, encoding="utf-8").read()
    return out


def check_errors(error_src, statuses):
    problems = []
    code = strip_swift(error_src)
    em = re.search(r"public\s+enum\s+NeedleError\b[^{]*\{", code)
    if not em:
        return ["NeedleError: no `public enum NeedleError`"]
    declared = set(re.findall(r"^\s*case\s+`?(\w+)`?\s*\(", code, re.M))
    forward = {}
    for m in re.finditer(r"case\s+(NEEDLE_\w+)\s*:\s*self\s*=\s*\.`?(\w+)`?\s*\(", code):
        if m.group(1) in forward:
            problems.append(f"NeedleError: {m.group(1)} is mapped twice")
        forward[m.group(1)] = m.group(2)
    backward = {}
    for m in re.finditer(r"case\s+\.`?(\w+)`?\s*:\s*return\s+(NEEDLE_\w+)", code):
        backward[m.group(1)] = m.group(2)
    for name, value in sorted(statuses.items(), key=lambda kv: kv[1]):
        if value == 0:
            if name in forward:
                problems.append(f"NeedleError: {name} (success) must not map to an error case")
            continue
        case = forward.get(name)
        if case is None:
            problems.append(f"NeedleError: status {name} = {value} has no case in init(status:message:)")
        elif case not in declared:
            problems.append(f"NeedleError: {name} maps to .{case}, which is not a declared case")
        elif backward.get(case) != name:
            problems.append(f"NeedleError: .{case}.status is {backward.get(case)}, not {name}")
    for name in forward:
        if name not in statuses:
            problems.append(f"NeedleError: maps {name}, which needle.h does not define")
    cases = list(forward.values())
    for c in set(cases):
        if cases.count(c) > 1:
            problems.append(f"NeedleError: .{c} is used for several statuses")
    for c in declared - set(cases):
        problems.append(f"NeedleError: case .{c} has no status")
    return problems


def check_calls(sources, funcs, statuses, types, callbacks, macros):
    problems, calls = [], 0
    for path, src in sources.items():
        code = strip_swift(src)
        err = balanced(code)
        if err:
            problems.append(f"{path}: {err} (line {line_of(code, int(err.split()[-1]))})")
            continue
        for m in re.finditer(r"\b(needle_\w+)\b(\s*\()?", code):
            name, is_call = m.group(1), m.group(2) is not None
            where = f"{path}:{line_of(code, m.start())}"
            if not is_call:
                if name not in types and name not in funcs:
                    problems.append(f"{where}: {name} is not a type or function of needle.h")
                continue
            if name in types:  # e.g. needle_status(rawValue: ...)
                continue
            if name not in funcs:
                problems.append(f"{where}: calls {name}, which needle.h does not declare")
                continue
            args, _ = call_args(code, m.end() - 1)
            if args is None:
                problems.append(f"{where}: cannot parse the arguments of {name}")
                continue
            calls += 1
            if len(args) != funcs[name]:
                problems.append(f"{where}: {name} called with {len(args)} arguments, needle.h declares {funcs[name]}")
            if name == "needle_run_stream" and len(args) == funcs[name]:
                cb = args[4]
                pm = re.match(r"\{\s*(?:\(([^)]*)\)|([\w\s,]+?))\s+in\b", cb)
                if cb.startswith("{"):
                    n = len([p for p in (pm.group(1) or pm.group(2)).split(",") if p.strip()]) if pm else -1
                    want = callbacks.get("needle_token_callback")
                    if n != want:
                        problems.append(f"{where}: the token callback closure takes {n} parameters, needle_token_callback {want}")
        for m in re.finditer(r"\b(NEEDLE_\w+)\b", code):
            if m.group(1) not in statuses and m.group(1) not in macros:
                problems.append(f"{path}:{line_of(code, m.start())}: {m.group(1)} is not defined in needle.h")
    return problems, calls


API = [
    (r"public\s+final\s+class\s+Engine\b", "public final class Engine"),
    (r"public\s+init\s*\(\s*weights\s*:\s*String\s*,\s*vocab\s*:\s*String\s*\)\s*throws", "Engine.init(weights:vocab:) throws"),
    (r"public\s+init\s*\(\s*weightsData\s*:\s*Data\s*,\s*vocabText\s*:\s*String\s*\)\s*throws", "Engine.init(weightsData:vocabText:) throws"),
    (r"public\s+func\s+run\s*\(\s*_\s+\w+\s*:\s*String\s*,\s*tools\s*:\s*String[^{]*?\)\s*throws\s*->\s*Result\b", "run(_:tools:) throws -> Result"),
    (r"public\s+func\s+runStream\s*\([^{]*onToken\s*:\s*\(UInt32,\s*String\)\s*throws\s*->\s*Bool\s*\)\s*throws\s*->\s*String", "runStream(_:tools:options:onToken:)"),
    (r"public\s+func\s+runBatch\s*\(", "runBatch"),
    (r"public\s+func\s+encodeContrastive\s*\(", "encodeContrastive"),
    (r"public\s+func\s+retrieveTools\s*\(", "retrieveTools"),
    (r"deinit\s*\{[^}]*needle_free\s*\(", "deinit frees the engine with needle_free"),
    (r"public\s+enum\s+NeedleError\s*:\s*Error\b", "public enum NeedleError: Error"),
]


def check_api(sources):
    code = "\n".join(strip_swift(s) for p, s in sources.items())
    return [f"API: missing {what}" for rx, what in API if not re.search(rx, code)]


def swift_signatures(sources):
    """Public API of the Needle target: {"init": [label sets]}, {func: [label sets]}, vars,
    RunOptions init labels, NeedleError cases and Result fields (from the stripped sources)."""
    code = "\n".join(strip_swift(s) for s in sources.values())

    def label_sets(rx):
        out = []
        for m in re.finditer(rx, code):
            args, _ = call_args(code, m.end() - 1)
            labels = []
            for a in args or []:
                names = a.split(":")[0].split()
                labels.append(names[0] if names else "")
            out.append(labels)
        return out

    funcs = {}
    for m in re.finditer(r"public\s+func\s+(\w+)\s*\(", code):
        funcs.setdefault(m.group(1), []).extend(label_sets(r"public\s+func\s+" + m.group(1) + r"\s*\("))
    eng = code[code.find("public final class Engine"):]
    return {
        "init": label_sets(r"public\s+init\s*\((?=weights)|public\s+init\s*\((?=weightsData)"),
        "funcs": funcs,
        "vars": set(re.findall(r"public\s+(?:static\s+)?var\s+(\w+)", eng)),
        "options": label_sets(r"public\s+init\s*\((?=maxNewTokens)"),
        "cases": set(re.findall(r"\bcase\s+`?(\w+)`?\(String\)", code)),
        "result": set(re.findall(r"public\s+let\s+(\w+)", code[code.find("public struct Result"):code.find("public struct ToolMatch")])),
    }


def check_example(example_src, sources):
    """The README's Swift example (examples/swift/quickstart.swift) against the Needle API:
    every Engine/RunOptions initialiser, method, property, NeedleError case and Result field
    it uses exists, with argument labels the declaration has (defaulted parameters may be
    left out; the first, unlabelled `_` one is positional)."""
    if example_src is None:
        return ["examples/swift/quickstart.swift is missing"]
    api = swift_signatures(sources)
    code = strip_swift(example_src)
    problems = []

    def labels_ok(used, decls):
        for decl in decls:
            named = [l for l in decl if l != "_"]
            if all(u in named for u in used if u) and [u for u in used if u] == [n for n in named if n in used]:
                return True
        return False

    def used_labels(pos):
        args, _ = call_args(code, pos)
        out = []
        for a in args or []:
            m = re.match(r"\s*(\w+)\s*:(?!:)", a)
            out.append(m.group(1) if m else "")
        return out

    if "import Needle" not in example_src:
        problems.append("example: no `import Needle`")
    for m in re.finditer(r"\b(Engine|RunOptions)\s*\(", code):
        decls = api["init"] if m.group(1) == "Engine" else api["options"]
        used = used_labels(m.end() - 1)
        if not labels_ok(used, decls):
            problems.append(f"example line {line_of(code, m.start())}: {m.group(1)}({', '.join(u + ':' for u in used)}) matches no initialiser")
    for m in re.finditer(r"\bengine\.(\w+)(\s*\()?", code):
        name, call = m.group(1), m.group(2)
        if call:
            if name not in api["funcs"]:
                problems.append(f"example line {line_of(code, m.start())}: Engine has no method {name}")
            elif not labels_ok(used_labels(m.end() - 1), api["funcs"][name]):
                problems.append(f"example line {line_of(code, m.start())}: {name}(...) labels match no declaration")
        elif name not in api["vars"]:
            problems.append(f"example line {line_of(code, m.start())}: Engine has no property {name}")
    for m in re.finditer(r"\bNeedleError\.(\w+)", code):
        if m.group(1) not in api["cases"] and m.group(1) != "last":
            problems.append(f"example line {line_of(code, m.start())}: NeedleError has no case {m.group(1)}")
    for m in re.finditer(r"\br\.(\w+)", code):
        if m.group(1) not in api["result"]:
            problems.append(f"example line {line_of(code, m.start())}: Result has no field {m.group(1)}")
    unbalanced = balanced(code)
    if unbalanced:
        problems.append(f"example: {unbalanced}")
    return problems


def check_tests(test_sources, funcs):
    problems = []
    if not test_sources:
        return ["Tests/: no XCTest sources"]
    code = "\n".join(strip_swift(s) for s in test_sources.values())
    if "import XCTest" not in code:
        problems.append("Tests/: no `import XCTest`")
    n = len(re.findall(r"func\s+test\w+\s*\(\s*\)", code))
    if n == 0:
        problems.append("Tests/: no test methods")
    err = balanced(code)
    if err:
        problems.append(f"Tests/: {err}")
    return problems


def installed_include_dir():
    if not shutil.which("pkg-config"):
        return None
    r = subprocess.run(["pkg-config", "--variable=includedir", "needle"], capture_output=True, text=True)
    return r.stdout.strip() or None if r.returncode == 0 else None


EXAMPLE = os.path.join(ROOT, "examples", "swift", "quickstart.swift")


def run_all(swift_dir, header_text, quiet=False, example_path=EXAMPLE):
    funcs, statuses, types, callbacks, macros = parse_header(header_text)
    results = []  # (name, problems)
    if len(funcs) < 10 or len(statuses) < 2:
        results.append(("needle.h parsed", [f"only {len(funcs)} functions and {len(statuses)} statuses found"]))
    results.append(("Package.swift targets", check_package(open(os.path.join(swift_dir, "Package.swift")).read(), swift_dir)))
    mm_dir = os.path.join(swift_dir, "Sources", "CNeedle")
    inc_dirs = [os.path.join(ROOT, "include")]
    inst = installed_include_dir()
    if inst:
        inc_dirs.append(inst)
    mm_path = os.path.join(mm_dir, "module.modulemap")
    mm_text = open(mm_path).read() if os.path.isfile(mm_path) else ""
    mm_problems = check_modulemap(mm_text, mm_dir, inc_dirs)
    if inst:
        p = os.path.join(inst, "needle.h")
        if os.path.isfile(p) and open(p).read() != header_text:
            mm_problems.append(f"installed {p} differs from include/needle.h")
        elif not os.path.isfile(p):
            mm_problems.append(f"pkg-config's includedir {inst} has no needle.h")
    results.append(("module map headers" + (" (repo and installed include dirs)" if inst else " (repo include dir)"), mm_problems))
    sources = swift_sources(swift_dir, "Sources")
    err_src = "\n".join(s for p, s in sources.items() if "enum NeedleError" in s)
    results.append((f"NeedleError covers the {len(statuses)} status codes", check_errors(err_src, statuses)))
    call_problems, ncalls = check_calls(sources, funcs, statuses, types, callbacks, macros)
    results.append((f"C calls match needle.h ({ncalls} call sites)", call_problems))
    results.append(("public API present", check_api(sources)))
    example = open(example_path).read() if os.path.isfile(example_path) else None
    results.append(("README example examples/swift/quickstart.swift uses the API as declared", check_example(example, sources)))
    tests = swift_sources(swift_dir, "Tests")
    results.append((f"XCTest sources ({len(tests)} files)", check_tests(tests, funcs) + check_calls(tests, funcs, statuses, types, callbacks, macros)[0]))
    failed = 0
    for name, problems in results:
        if not quiet:
            print(("  ok: " if not problems else "  FAILED: ") + name)
        for p in problems:
            if not quiet:
                print("      " + p)
        failed += bool(problems)
    return len(results) - failed, failed


def self_test():
    """Seeds one fault per check into a copy of the package and expects a failure."""
    import tempfile

    header = open(HEADER).read()
    faults = [
        ("drop a NeedleError mapping", "Sources/Needle/NeedleError.swift",
         lambda s: s.replace("case NEEDLE_ERR_CANCELLED: self = .cancelled(message)\n", "")),
        ("wrong argument count", "Sources/Needle/Engine.swift",
         lambda s: s.replace("needle_run_json(handle, query, tools, opts)", "needle_run_json(handle, query, tools)")),
        ("unknown C function", "Sources/Needle/Engine.swift",
         lambda s: s.replace("needle_config_json(handle)", "needle_config(handle)")),
        ("callback arity", "Sources/Needle/Engine.swift",
         lambda s: s.replace("{ id, piece, userData in", "{ id, piece in")),
        ("module map header missing", "Sources/CNeedle/module.modulemap",
         lambda s: s.replace('header "shim.h"', 'header "needle_shim.h"')),
        ("pkgConfig name", "Package.swift", lambda s: s.replace('pkgConfig: "needle"', 'pkgConfig: "libneedle"')),
        ("unbalanced braces", "Sources/Needle/Engine.swift", lambda s: s.replace("deinit {", "deinit {{", 1)),
    ]
    ok = True
    for what, rel, mutate in faults:
        with tempfile.TemporaryDirectory() as tmp:
            dst = os.path.join(tmp, "swift")
            shutil.copytree(SWIFT, dst, ignore=shutil.ignore_patterns(".build"))
            p = os.path.join(dst, rel)
            before = open(p).read()
            after = mutate(before)
            assert after != before, f"self-test fault '{what}' did not apply"
            open(p, "w").write(after)
            _, failed = run_all(dst, header, quiet=True)
            print(("  ok: " if failed else "  FAILED: ") + f"self-test catches: {what}")
            ok &= failed > 0
    # The README example calling what the package does not declare is caught too.
    example = open(EXAMPLE).read()
    for what, mutate in [
        ("example: unknown method", lambda s: s.replace("engine.runStream(", "engine.runStreaming(")),
        ("example: wrong label", lambda s: s.replace("descriptions:", "texts:")),
        ("example: unknown error case", lambda s: s.replace("NeedleError.invalidTools", "NeedleError.badTools")),
        ("example: unknown result field", lambda s: s.replace("r.tokenIDs", "r.tokens")),
    ]:
        bad = mutate(example)
        assert bad != example, f"self-test fault '{what}' did not apply"
        with tempfile.TemporaryDirectory() as tmp:
            p = os.path.join(tmp, "quickstart.swift")
            open(p, "w").write(bad)
            _, failed = run_all(SWIFT, header, quiet=True, example_path=p)
        print(("  ok: " if failed else "  FAILED: ") + f"self-test catches: {what}")
        ok &= failed > 0
    # A status added to the header without a Swift case is caught too.
    extra = header.replace("NEEDLE_ERR_INTERNAL = 9,", "NEEDLE_ERR_INTERNAL = 9,\n  NEEDLE_ERR_NEW = 10,")
    assert extra != header
    _, failed = run_all(SWIFT, extra, quiet=True)
    print(("  ok: " if failed else "  FAILED: ") + "self-test catches: a new status code in needle.h")
    return ok and failed > 0


def main():
    header = open(HEADER).read()
    print("Swift package checks (static; swift/ against include/needle.h):")
    passed, failed = run_all(SWIFT, header)
    if "--self-test" in sys.argv[1:]:
        if not self_test():
            failed += 1
    swift = shutil.which("swift")
    if swift:
        for cmd in (["swift", "build"], ["swift", "test"]):
            r = subprocess.run(cmd, cwd=SWIFT)
            print(("  ok: " if r.returncode == 0 else "  FAILED: ") + " ".join(cmd))
            failed += r.returncode != 0
    else:
        print("  not run: swift build / swift test (no Swift toolchain on this machine): the Swift code is not compiled here")
    print(f"Swift checks: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
