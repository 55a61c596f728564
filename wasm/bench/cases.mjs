// Times the bench cases of tools/bench_vs_needle_rs.py on a wasm build in Node.js (same model,
// query and tools bytes as the native driver), prints one JSON object:
//   node wasm/bench/cases.mjs <needle.safetensors> <vocab.txt> <tools20.json> <cases> <reps> [flavour]
// flavour: web-simd (default) or web-scalar (built by tools/build_wasm.sh), or the path of a
// directory holding another `--target web` build (e.g. of an older commit, for before/after).
import { readFileSync } from "node:fs";
const [weights, vocab, toolsPath, casesArg, repsArg, flavour = "web-simd"] = process.argv.slice(2);
const query = "What's the weather in Paris?";
const all = JSON.parse(readFileSync(toolsPath, "utf8"));
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
const dir = flavour.includes("/") ? pathToFileURL(resolve(flavour) + "/")
  : new URL(`../npm/gen/${flavour}/`, import.meta.url);
const m = await import(new URL("libneedle_wasm.js", dir));
m.initSync({ module: readFileSync(new URL("libneedle_wasm_bg.wasm", dir)) });
const e = new m.RawEngine(readFileSync(weights), readFileSync(vocab, "utf8"));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
const cases = [];
for (const n of casesArg.split(",").map(Number)) {
  const tools = JSON.stringify(all.slice(0, n));
  const first = JSON.parse(e.run(query, tools));
  const times = [];
  for (let i = 0; i < Number(repsArg); i++) {
    const t = performance.now();
    e.run(query, tools);
    times.push(performance.now() - t);
  }
  cases.push({ tools: n, warm_ms: median(times), warm_all_ms: times, token_ids: first.token_ids });
}
e.free();
console.log(JSON.stringify({ flavour, node: process.version, cases }));
