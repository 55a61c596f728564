#!/usr/bin/env python3
"""Records needle-rs 0.3.1 `V3Engine` greedy ids on the project's own writer files
(tests/fixtures/cact/v3_tiny.cact and v3_widths.cact: CQ at 2, 3 and 4 bits and ternary,
written by tools/make_cact.py), for tests/v3.rs (fixture tests/fixtures/v3/writer_cases.jsonl).

    pip install needle-rs==0.3.1 && python3 tools/record_v3_writer_cases.py
"""
import json
import os

import needle_rs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUERIES = [
    "What's the weather in Paris?", "hi there", "Text Bob: running late!",
    "東京の天気は？", "Set a timer for 10 minutes and play jazz", "a b  c   d\t e\n f",
    "Please " + "really " * 30 + "help", "<tool_call> literal",
]
TOOLS = [
    '[{"name":"get_weather","parameters":{"city":{"type":"string"}}}]',
    '[{"type":"function","function":{"name":"sendMessage","parameters":{"type":"object","properties":{"to":{"type":"string"}}}}}]',
    "[]",
]


def main():
    out = os.path.join(ROOT, "tests", "fixtures", "v3", "writer_cases.jsonl")
    with open(out, "w", encoding="utf-8") as f:
        for name in ("v3_tiny", "v3_widths"):
            eng = needle_rs.V3Engine.load(os.path.join(ROOT, "tests", "fixtures", "cact", f"{name}.cact"))
            for qi, q in enumerate(QUERIES):
                tools = TOOLS[qi % len(TOOLS)]
                system = "Be brief." if qi % 4 == 3 else None
                case = {"file": name, "query": q, "tools": tools, "system": system}
                for constrain in (False, True):
                    r = eng.generate(q, tools, max_new_tokens=16, system=system, constrain=constrain)
                    case[f"ids_constrain_{str(constrain).lower()}"] = list(r["token_ids"])
                    case[f"stop_constrain_{str(constrain).lower()}"] = r["stop_reason"]
                f.write(json.dumps(case, ensure_ascii=False) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
