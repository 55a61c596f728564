// Times one query on the web SIMD128 and scalar builds in Node.js (same glue, initSync):
//   node wasm/bench/simd_vs_scalar.mjs <needle.safetensors> <vocab.txt> "<query>" <tools.json>
import { readFileSync } from "node:fs";
const [weights, vocab, query, toolsPath] = process.argv.slice(2);
const tools = readFileSync(toolsPath, "utf8");
for (const flavour of ["web-simd", "web-scalar"]) {
  const dir = new URL(`../npm/gen/${flavour}/`, import.meta.url);
  const m = await import(new URL("libneedle_wasm.js", dir));
  m.initSync({ module: readFileSync(new URL("libneedle_wasm_bg.wasm", dir)) });
  const e = new m.RawEngine(readFileSync(weights), readFileSync(vocab, "utf8"));
  const times = [];
  let out;
  for (let i = 0; i < 4; i++) {
    const t = performance.now();
    out = JSON.parse(e.run(query, tools));
    times.push(performance.now() - t);
  }
  console.log(`${flavour}: first ${times[0].toFixed(1)} ms, best ${Math.min(...times).toFixed(1)} ms, ${out.token_ids.length} tokens`);
  e.free();
}
