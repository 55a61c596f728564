# The README's Python example: python3 examples/python/quickstart.py (after pip install ./python)
from pathlib import Path

import libneedle

engine = libneedle.Engine.demo()    # the bundled demo model; or Engine.load("needle.safetensors", "vocab.txt")
tools = [{"name": "get_weather", "parameters": {"city": {"type": "string"}}}]   # or the JSON string

r = engine.run("What's the weather in Paris?", tools)
print(r.calls)        # [{'name': 'get_weather', 'arguments': {'city': 'Paris'}}]  (None if not a call list)
print(r.text, r.token_ids, r.stop)

# Options, streaming (return False to stop), batch, errors.
r = engine.run("Weather in Oslo?", tools, max_new_tokens=64, constrained=True)
engine.run_stream("Weather in Oslo?", tools, lambda token_id, piece: print(piece, end="") or True)
print()
results = engine.run_batch([("Weather in Rome?", tools), ("Weather in Lima?", tools)])
print([r.calls for r in results])
try:
    engine.run("hi", '[{"description": "no name"}]')
except libneedle.InvalidToolsError as e:    # every error is a libneedle.NeedleError
    print(type(e).__name__, e)

# Needle v2/v3: a .cact carries its tokenizer (no vocab); the generation is read from the file.
# Here the repository's small random-weight v3 test file (gibberish text, real fields); the
# published needle3.cact answers for real.
v3 = libneedle.Engine.load(Path(__file__).resolve().parents[2] / "tests/fixtures/v3/tiny.cact")
print(v3.generation, v3.config["num_layers"], v3.config["confidence_head"])   # 3 4 True
r = v3.run("What's the weather in Paris?", tools, system="You call tools.", max_new_tokens=16)
print(r.stop, r.prompt_tokens, r.reasoning, r.confidence)   # reasoning: the <think> block or None
print(v3.confidence("What's the weather in Paris?", tools, '[{"name":"get_weather","arguments":{"city":"Paris"}}]'))
r = v3.run_stream("Weather in Oslo?", tools, lambda token_id, piece: None, max_new_tokens=8)   # same RunResult
small = libneedle.Engine.load(Path(__file__).resolve().parents[2] / "tests/fixtures/v3/tiny.cact", depth=2)   # v3 ladder
print(small.config["num_layers"], r.stop)   # 2 max_tokens
