// Runs libneedle in a module worker so the page stays responsive and tokens stream in.
import { Engine, init } from "../../wasm/npm/web.js";

let engine = null;
let simd = false;

function fail(e) {
  postMessage({ type: "error", message: e instanceof Error ? e.message : String(e) });
}

onmessage = async ({ data }) => {
  try {
    if (data.type === "load" || data.type === "demo") {
      const t0 = performance.now();
      simd = (await init(data.simd === false ? { simd: false } : {})).simd;
      // "demo": the demo model shipped in the npm package (fetched from wasm/npm/gen/demo/).
      // A .cact comes with `vocab` undefined (it carries its tokenizer; the generation is read from the bytes).
      const next = data.type === "demo" ? await Engine.demo() : await Engine.load(new Uint8Array(data.weights), data.vocab);
      engine?.free();
      engine = next;
      postMessage({ type: "loaded", config: engine.config, generation: engine.generation, simd, ms: performance.now() - t0 });
    } else if (data.type === "run") {
      if (!engine) throw new Error("no model loaded");
      const t0 = performance.now();
      const r = engine.runStream(data.query, data.tools, (id, piece) => {
        postMessage({ type: "token", id, piece, ms: performance.now() - t0 });
      }, { system: data.system });
      postMessage({ type: "done", result: r, ms: performance.now() - t0 });
    }
  } catch (e) {
    fail(e);
  }
};
