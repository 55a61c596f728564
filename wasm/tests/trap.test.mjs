// Defence in depth: a wasm trap inside a call (here a real one: the raw binding is made to
// run on a pointer outside the wasm memory) must not poison the module. The call throws an
// Error with code/kind; engines of the trapped instance then throw a clear internal Error
// (never running it again), and Engine.load uses a fresh instance.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";
import { Engine } from "libneedle";
import { modelBytes, ROOT, TOOLS, VOCAB } from "./common.mjs";

const require = createRequire(import.meta.url);
const GLUE = path.join(ROOT, "wasm/npm/gen/node/libneedle_wasm.js");
// The same module object the package uses (the package's symlink resolves to wasm/npm/).
const glue = require(GLUE);

const QUERY = "What's the weather in Paris?";
const WEATHER_CALL = [{ name: "get_weather", arguments: { city: "Paris" } }];
const DEMO = path.join(ROOT, "models/needle-demo");
const loadDemo = () =>
  Engine.load(readFileSync(path.join(DEMO, "needle.safetensors")), readFileSync(path.join(DEMO, "vocab.txt"), "utf8"));

/** Makes the next `RawEngine.prototype[method]` call trap inside the wasm instance. */
function trapNext(method) {
  const orig = glue.RawEngine.prototype[method];
  glue.RawEngine.prototype[method] = function (...args) {
    glue.RawEngine.prototype[method] = orig;
    const bogus = Object.create(glue.RawEngine.prototype);
    bogus.__wbg_ptr = 0xfffffff0; // far outside the wasm memory: "memory access out of bounds"
    return orig.apply(bogus, args);
  };
}

let resets = 0;
const reset = glue.__wbg_reset_state;
glue.__wbg_reset_state = () => {
  resets++;
  reset();
};

function internalError(message) {
  return (err) => {
    assert.ok(err instanceof Error && !(err instanceof WebAssembly.RuntimeError), String(err));
    assert.equal(err.code, 9);
    assert.equal(err.kind, "internal error");
    assert.match(err.message, /^internal error: /);
    assert.match(err.message, message);
    return true;
  };
}

test("the trap itself: without the facade, a raw call on a bad pointer traps", () => {
  const bogus = Object.create(glue.RawEngine.prototype);
  bogus.__wbg_ptr = 0xfffffff0;
  assert.throws(() => bogus.contrastive_dim(), WebAssembly.RuntimeError);
  // (That trap left this instance in an unknown state: replace it before the tests below.)
  glue.__wbg_reset_state();
  resets = 0;
});

test("a trap becomes an internal Error; the next load answers on a fresh instance", async () => {
  const e = await loadDemo();
  const other = await Engine.load(modelBytes("tiny"), VOCAB);
  assert.deepEqual(e.run(QUERY, TOOLS).calls, WEATHER_CALL);

  trapNext("run");
  assert.throws(() => e.run(QUERY, TOOLS), (err) => {
    internalError(/trapped \(RuntimeError: memory access out of bounds\)/)(err);
    assert.ok(err.cause instanceof WebAssembly.RuntimeError);
    return true;
  });
  assert.equal(resets, 1);

  // Engines of the trapped instance never run it again: a clear internal Error, every call.
  for (const f of [() => e.run(QUERY, TOOLS), () => other.run(QUERY, TOOLS), () => other.config, () => e.runBatch([])]) {
    assert.throws(f, internalError(/lost after an earlier call trapped .*Engine\.load/));
  }
  e.free();
  other.free();
  e.free();
  assert.throws(() => e.run(QUERY, TOOLS), /freed/);

  // A new load uses the fresh instance and answers.
  const fresh = await loadDemo();
  assert.deepEqual(fresh.run(QUERY, TOOLS).calls, WEATHER_CALL);
  assert.deepEqual(fresh.runBatch([{ query: QUERY, tools: TOOLS }])[0].calls, WEATHER_CALL);
  fresh.free();
  assert.equal(resets, 1);
});

test("a trap in a call made from a stream callback: the outer call fails too, then loads work", async () => {
  const e = await loadDemo();
  const before = resets;
  let inner;
  let tokens = 0;
  assert.throws(
    () =>
      e.runStream(QUERY, TOOLS, () => {
        tokens++;
        trapNext("encode_contrastive");
        try {
          e.encodeContrastive("x");
        } catch (err) {
          inner = err; // swallowed: the outer call must still stop
        }
      }),
    internalError(/lost during this call/),
  );
  internalError(/trapped/)(inner);
  assert.equal(tokens, 1);
  // The instance was replaced once the outer call had returned, not while it ran.
  assert.equal(resets, before + 1);
  const fresh = await loadDemo();
  assert.deepEqual(fresh.runStream(QUERY, TOOLS, () => {}).calls, WEATHER_CALL);
  fresh.free();
});

test("engines of a trapped instance that are dropped without free() do not crash the GC", () => {
  const script = `
    const { Engine } = await import("libneedle");
    const { createRequire } = await import("node:module");
    const { readFileSync } = await import("node:fs");
    const glue = createRequire(import.meta.url)(${JSON.stringify(GLUE)});
    const w = readFileSync(${JSON.stringify(path.join(ROOT, "target/test-models/tiny.safetensors"))});
    const v = readFileSync(${JSON.stringify(path.join(ROOT, "tests/fixtures/vocab/vocab.txt"))}, "utf8");
    let engines = [];
    for (let i = 0; i < 5; i++) engines.push(await Engine.load(w, v));
    const orig = glue.RawEngine.prototype.run;
    glue.RawEngine.prototype.run = function (...a) {
      glue.RawEngine.prototype.run = orig;
      const b = Object.create(glue.RawEngine.prototype); b.__wbg_ptr = 0xfffffff0; return orig.apply(b, a);
    };
    try { engines[0].run("hi", "[]"); } catch (e) { if (e.code !== 9) throw e; }
    engines = null; // never freed: the glue's finalizer must skip the old instance
    for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
    const e = await Engine.load(w, v);
    console.log(e.run("hi", "[]").tokenIds.length > 0 ? "ok" : "empty");`;
  const r = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], {
    cwd: path.join(ROOT, "wasm"),
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), "ok");
});
