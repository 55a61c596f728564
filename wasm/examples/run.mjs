// Answers one query with the npm package (nodejs build) and times it, like examples/run.rs natively:
//   node wasm/examples/run.mjs <needle.safetensors> <vocab.txt> "<query>" <tools.json | inline JSON>
import { readFileSync } from "node:fs";
import { Engine } from "libneedle";

const [weights, vocab, query, toolsArg] = process.argv.slice(2);
if (!toolsArg) {
  console.error("usage: node wasm/examples/run.mjs <needle.safetensors> <vocab.txt> <query> <tools.json | inline JSON>");
  process.exit(2);
}
const tools = /^\s*[[{]/.test(toolsArg) ? toolsArg : readFileSync(toolsArg, "utf8");
const t0 = performance.now();
const engine = await Engine.load(readFileSync(weights), readFileSync(vocab, "utf8"));
const t1 = performance.now();
const r = engine.run(query, tools);
const t2 = performance.now();
const runs = [];
for (let i = 0; i < 5; i++) {
  const s = performance.now();
  engine.run(query, tools);
  runs.push(performance.now() - s);
}
runs.sort((a, b) => a - b);
console.log(r.text);
console.error(JSON.stringify({ calls: r.calls, text: r.text, token_ids: r.tokenIds, encoder_tokens: r.encoderTokens, stop: r.stop }));
console.error(
  `load ${(t1 - t0).toFixed(1)} ms, run ${(t2 - t1).toFixed(1)} ms (next 5 runs: median ${runs[2].toFixed(1)} ms; ` +
    `${r.encoderTokens} encoder tokens, ${r.tokenIds.length} generated, wasm simd128, node ${process.version})`,
);
