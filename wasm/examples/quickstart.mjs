// The README's JavaScript example: node wasm/examples/quickstart.mjs (after tools/build_wasm.sh)
import { Engine } from "libneedle";
import { readFileSync } from "node:fs";

const engine = await Engine.demo();   // the bundled demo model; or Engine.load(weightsBytes, vocabText)
const tools = [{ name: "get_weather", parameters: { city: { type: "string" } } }];   // or the JSON string

const r = engine.run("What's the weather in Paris?", tools);
console.log(r.text);       // [{"name":"get_weather","arguments":{"city":"Paris"}}]
console.log(r.calls);      // [ { name: 'get_weather', arguments: { city: 'Paris' } } ]  (null if not a call list)
console.log(r.tokenIds);   // generated ids; also r.promptTokens, r.stop, r.reasoning, r.confidence, r.promptTruncated

engine.run("Weather in Oslo?", tools, { maxNewTokens: 64, constrained: true });
engine.runStream("Weather in Oslo?", tools, (id, piece) => { process.stdout.write(piece); });  // return false to stop
console.log();
const results = engine.runBatch([{ query: "Weather in Rome?", tools }, { query: "Weather in Lima?", tools }]);
console.log(results.map((x) => x.text));   // in order; an item that fails holds its Error
if (engine.contrastiveDim > 0) {
  engine.encodeContrastive("book a flight");                                   // Float32Array (undefined without a head)
  engine.retrieveTools("book a flight", ["flights", "weather", "music"], 2);   // [{ index, score }, …], best first
}
try {
  engine.run("hi", [{ description: "no name" }]);
} catch (e) {
  console.log(e.code, e.message);   // 5 invalid tools JSON: tools[0].name is missing (also e.kind)
}
engine.free();             // or engine[Symbol.dispose]() / `using engine = await Engine.demo()`

// Needle v2/v3: a .cact carries its tokenizer (no vocab); the generation is read from the bytes.
// Here the repository's small random-weight v3 test file (gibberish text, real fields); the
// published needle3.cact answers for real.
const cact = readFileSync(new URL("../../tests/fixtures/v3/tiny.cact", import.meta.url));
const v3 = await Engine.load(cact);
console.log(v3.generation, v3.config.num_layers, v3.config.confidence_head);   // 3 4 true
const a = v3.run("What's the weather in Paris?", tools, { system: "You call tools.", maxNewTokens: 16 });
console.log(a.stop, a.promptTokens, a.reasoning, a.confidence);   // reasoning: the <think> block or null
console.log(v3.confidence("What's the weather in Paris?", tools, '[{"name":"get_weather","arguments":{"city":"Paris"}}]'));
const small = await Engine.load(cact, { depth: 2 });   // the v3 ladder: keep 2 of the file's blocks
console.log(small.config.num_layers, small.runStream("Weather in Oslo?", tools, () => {}, { maxNewTokens: 8 }).stop);   // 2 max_tokens
v3.free();
small.free();
