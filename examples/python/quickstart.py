# The README's Python example: python3 examples/python/quickstart.py (after pip install ./python)
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
