// The README's JavaScript example: node wasm/examples/quickstart.mjs (after tools/build_wasm.sh)
import { Engine } from "libneedle";

const engine = await Engine.demo();   // the bundled demo model; or Engine.load(weightsBytes, vocabText)
const tools = [{ name: "get_weather", parameters: { city: { type: "string" } } }];   // or the JSON string

const r = engine.run("What's the weather in Paris?", tools);
console.log(r.text);       // [{"name":"get_weather","arguments":{"city":"Paris"}}]
console.log(r.calls);      // [ { name: 'get_weather', arguments: { city: 'Paris' } } ]  (null if not a call list)
console.log(r.tokenIds);   // generated ids; also r.encoderTokens, r.stop

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
