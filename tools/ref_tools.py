"""Python reference for libneedle's tools-JSON handling (docs/ARCHITECTURE.md#tools-json, #output).

Functions:
  snake_case(name)            -- upstream regex snake_case (UP needle/dataset/tokenizer.py)
  normalize_tools(tools_json) -- (text fed to the encoder, tool defs) or ToolsError
  restore_names(text, defs)   -- byte-level restoration of "name" values (docs/ARCHITECTURE.md#output)

Stdlib only. This module is the contract the Rust implementation is tested against.
"""

import json
import re

__all__ = ["snake_case", "ToolsError", "normalize_tools", "restore_names", "MAX_DEPTH"]

# Nesting deeper than this many array/object levels is an error (top-level "[]" is depth 1).
MAX_DEPTH = 128

_JSON_WS = " \t\n\r"


def snake_case(name: str) -> str:
    """Upstream's regex snake_case (ASCII only: every other character becomes a separator)."""
    s = re.sub(r"[^a-zA-Z0-9_]+", "_", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    s = re.sub(r"_+", "_", s)
    return s.lower().strip("_")


class ToolsError(ValueError):
    """The tools JSON is invalid or has a wrong-typed field."""


def _reject_constant(lit):
    raise ToolsError(f"invalid JSON: {lit} is not allowed")


def _has_lone_surrogate(s: str) -> bool:
    for ch in s:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            return True
    return False


def _check_value(v, depth: int) -> None:
    """Depth limit and lone-surrogate check (iterative so deep inputs cannot overflow the stack)."""
    stack = [(v, depth)]
    while stack:
        x, d = stack.pop()
        if isinstance(x, dict):
            if d + 1 > MAX_DEPTH:
                raise ToolsError(f"nesting deeper than {MAX_DEPTH} levels")
            for k, val in x.items():
                if _has_lone_surrogate(k):
                    raise ToolsError("string contains a lone surrogate")
                stack.append((val, d + 1))
        elif isinstance(x, list):
            if d + 1 > MAX_DEPTH:
                raise ToolsError(f"nesting deeper than {MAX_DEPTH} levels")
            for val in x:
                stack.append((val, d + 1))
        elif isinstance(x, str):
            if _has_lone_surrogate(x):
                raise ToolsError("string contains a lone surrogate")


def _max_bracket_depth(s: str) -> int:
    """Upper bound on nesting depth, computed lexically (ignores brackets inside strings)."""
    depth = best = 0
    in_str = esc = False
    for ch in s:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > best:
                best = depth
        elif ch in "]}":
            depth -= 1
    return best


def _parse(tools_json: str):
    # Cheap pre-check so absurdly deep inputs are rejected before json's recursive parser runs
    # (a lexical depth above the limit is only an error if the JSON is otherwise valid, but either
    # way it is an error, so the reason may be reported as depth).
    if _max_bracket_depth(tools_json) > MAX_DEPTH:
        try:
            json.loads(tools_json, parse_constant=_reject_constant)
        except ToolsError:
            raise
        except (ValueError, RecursionError) as e:
            raise ToolsError(f"invalid JSON: {e}") from None
        raise ToolsError(f"nesting deeper than {MAX_DEPTH} levels")
    try:
        obj = json.loads(tools_json, parse_constant=_reject_constant)
    except ToolsError:
        raise
    except (ValueError, RecursionError) as e:
        raise ToolsError(f"invalid JSON: {e}") from None
    _check_value(obj, 0)
    return obj


def _param_keys(params: dict, where: str) -> list:
    if "properties" in params:
        props = params["properties"]
        if not isinstance(props, dict):
            raise ToolsError(f"{where}.parameters.properties is not an object")
        keys = list(props.keys())
    else:
        keys = [k for k, v in params.items() if isinstance(v, dict)]
    return [k for k in keys if k != ""]


def _normalize_tool(tool, where: str) -> dict:
    if not isinstance(tool, dict):
        raise ToolsError(f"{where} is not an object")
    if "function" in tool:
        fn = tool["function"]
        if not isinstance(fn, dict):
            raise ToolsError(f"{where}.function is not an object")
        if "type" in tool and tool["type"] != "function":
            raise ToolsError(f'{where}.type is not "function"')
        where = where + ".function"
    else:
        fn = tool
    if "name" not in fn:
        raise ToolsError(f"{where} has no name")
    name = fn["name"]
    if not isinstance(name, str):
        raise ToolsError(f"{where}.name is not a string")
    if name == "":
        raise ToolsError(f"{where}.name is empty")
    if "description" in fn and not isinstance(fn["description"], str):
        raise ToolsError(f"{where}.description is not a string")
    keys = []
    if "parameters" in fn:
        params = fn["parameters"]
        if not isinstance(params, dict):
            raise ToolsError(f"{where}.parameters is not an object")
        keys = _param_keys(params, where)
    snake = snake_case(name)
    fn["name"] = snake  # in place: key order preserved
    return {"name": name, "snake": snake, "params": keys}


def normalize_tools(tools_json: str):
    """Return (text, defs). text is the compact ensure_ascii re-serialisation with tool names
    snake_cased; defs = [{"name", "snake", "params"}] in tool order. Raises ToolsError."""
    if all(ch in _JSON_WS for ch in tools_json):
        return "", []
    obj = _parse(tools_json)
    if isinstance(obj, list):
        defs = [_normalize_tool(t, f"tools[{i}]") for i, t in enumerate(obj)]
    elif isinstance(obj, dict):
        defs = [_normalize_tool(obj, "tools")]
    else:
        raise ToolsError("tools must be a JSON array or object")
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=True)
    return text, defs


_ASCII_WS = b" \t\n\r\x0b\x0c"


def restore_names(text: str, defs) -> str:
    """docs/ARCHITECTURE.md#output (name restoration): map snake names back to the caller's names in every "name" value.

    Scan the UTF-8 bytes for the pattern `"name"`; skip ASCII whitespace, a `:`, ASCII whitespace;
    if a `"` follows, read the value up to the next unescaped `"` (a backslash escapes the next byte).
    If the raw value bytes equal a snake name in the rename list (sorted by UTF-8 length descending,
    stable; first match wins) write `"name":"<original>"` (the skipped whitespace is dropped);
    otherwise copy everything unchanged. If nothing needs renaming the text is returned unchanged.
    """
    renames = [(d["snake"].encode("utf-8"), d["name"].encode("utf-8"))
               for d in defs if d["name"] != d["snake"]]
    if not renames:
        return text
    renames.sort(key=lambda r: len(r[0]), reverse=True)  # stable
    b = text.encode("utf-8")
    pat = b'"name"'
    out = bytearray()
    i = 0
    n = len(b)
    while True:
        p = b.find(pat, i)
        if p < 0:
            out += b[i:]
            break
        j = p + len(pat)
        while j < n and b[j] in _ASCII_WS:
            j += 1
        if j >= n or b[j] != ord(":"):
            out += b[i:p + len(pat)]
            i = p + len(pat)
            continue
        j += 1
        while j < n and b[j] in _ASCII_WS:
            j += 1
        if j >= n or b[j] != ord('"'):
            out += b[i:p + len(pat)]
            i = p + len(pat)
            continue
        vs = j + 1
        k = vs
        while k < n and b[k] != ord('"'):
            k += 2 if b[k] == ord("\\") else 1
        if k >= n:  # unterminated value: copy the rest unchanged
            out += b[i:]
            break
        value = b[vs:k]
        repl = None
        for snake, orig in renames:
            if value == snake:
                repl = orig
                break
        if repl is None:
            out += b[i:k + 1]
        else:
            out += b[i:p] + b'"name":"' + repl + b'"'
        i = k + 1
    return out.decode("utf-8")


if __name__ == "__main__":
    import sys
    data = sys.stdin.read()
    try:
        t, d = normalize_tools(data)
        print(t)
        print(json.dumps(d, ensure_ascii=False))
    except ToolsError as e:
        print("error:", e)
        sys.exit(1)
