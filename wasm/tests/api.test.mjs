// The JavaScript API of the libneedle npm package (nodejs build): results, streaming,
// errors, batch, contrastive retrieval, lifetime.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Engine, init, simdSupported, version } from "libneedle";
import { readFileSync } from "node:fs";
import path from "node:path";
import { engine, modelBytes, parityCases, ROOT, TOOLS, VOCAB } from "./common.mjs";

const QUERY = "What's the weather in Paris?";

test("package entry: version, init, SIMD build", async () => {
  assert.match(await version(), /^\d+\.\d+\.\d+/);
  assert.equal((await init()).simd, true);
  assert.equal(simdSupported(), true);
  assert.equal(typeof Engine.load, "function");
  assert.throws(() => new Engine(), TypeError);
});

test("run returns every result field, tokenIds like the parity fixture", async () => {
  const c = parityCases().find((c) => c.preset === "small");
  const e = await engine("small");
  const r = e.run(c.query, c.tools);
  assert.deepEqual(Object.keys(r).sort(), [
    "calls", "confidence", "encoderTokens", "promptTokens", "promptTruncated", "reasoning", "stop", "text", "tokenIds",
  ]);
  assert.deepEqual(r.tokenIds, c.ref_ids);
  assert.equal(r.text, c.ref_text);
  assert.ok(r.calls === null || Array.isArray(r.calls));
  assert.ok(["eos", "max_tokens"].includes(r.stop), r.stop);
});

test("tools as a JSON string, an array or a single object give the same result", async () => {
  const e = await engine("small");
  const tools = JSON.parse(TOOLS);
  const s = e.run(QUERY, TOOLS);
  assert.deepEqual(e.run(QUERY, tools), s);
  assert.deepEqual(e.run(QUERY, tools[0]), e.run(QUERY, JSON.stringify(tools[0])));
});

test("options: maxNewTokens and constrained", async () => {
  const e = await engine("small");
  const r = e.run(QUERY, TOOLS, { maxNewTokens: 3 });
  assert.ok(r.tokenIds.length <= 3);
  const full = e.run(QUERY, TOOLS);
  assert.deepEqual(r.tokenIds, full.tokenIds.slice(0, r.tokenIds.length));
  assert.ok(Array.isArray(e.run(QUERY, TOOLS, { constrained: false }).tokenIds));
  assert.throws(() => e.run(QUERY, TOOLS, { maxNewTokens: -1 }), TypeError);
  assert.throws(() => e.run(QUERY, TOOLS, { constrained: "yes" }), TypeError);
});

test("options: strict gives a complete call list matching the schemas", async () => {
  const e = await engine("small");
  for (const q of [QUERY, "hello", "text mom"]) {
    const r = e.run(q, TOOLS, { strict: true, maxNewTokens: 32 });
    assert.ok(Array.isArray(r.calls), r.text);
    for (const c of r.calls) {
      assert.ok(["get_weather", "sendMessage"].includes(c.name), c.name);
      if (c.name === "get_weather" && "unit" in c.arguments) assert.ok(["celsius", "fahrenheit"].includes(c.arguments.unit));
      if (c.name === "sendMessage") assert.deepEqual(Object.keys(c.arguments).sort(), ["recipient", "text"]);
    }
  }
  assert.deepEqual(e.run(QUERY, TOOLS, { strict: false }).tokenIds, e.run(QUERY, TOOLS).tokenIds);
  assert.throws(() => e.run(QUERY, TOOLS, { strict: "yes" }), TypeError);
});

test("runStream calls back per token and matches run", async () => {
  const e = await engine("small");
  const ids = [];
  let text = "";
  const r = e.runStream(QUERY, TOOLS, (id, piece) => {
    assert.equal(typeof id, "number");
    assert.equal(typeof piece, "string");
    ids.push(id);
    text += piece;
  });
  assert.deepEqual(r, e.run(QUERY, TOOLS));
  assert.deepEqual(ids, r.tokenIds);
  assert.ok(text.length > 0);
});

test("runStream stops when the callback returns false", async () => {
  const e = await engine("small");
  let n = 0;
  const r = e.runStream(QUERY, TOOLS, () => ++n < 2);
  assert.equal(n, 2);
  assert.equal(r.tokenIds.length, 2);
  assert.equal(r.stop, "callback");
});

test("runStream rethrows an exception from the callback", async () => {
  const e = await engine("small");
  const boom = new Error("boom");
  assert.throws(() => e.runStream(QUERY, TOOLS, () => { throw boom; }), (err) => err === boom);
  assert.throws(() => e.runStream(QUERY, TOOLS, "nope"), TypeError);
  // The engine stays usable.
  assert.deepEqual(e.runStream(QUERY, TOOLS, () => true), e.run(QUERY, TOOLS));
});

test("load errors are Errors with the engine's message", async () => {
  await assert.rejects(Engine.load(new Uint8Array([1, 2, 3]), VOCAB), (err) => {
    assert.ok(err instanceof Error);
    assert.match(err.message, /^invalid weights file: /);
    assert.equal(err.code, 3);
    assert.equal(err.kind, "invalid weights file");
    return true;
  });
  const truncated = modelBytes("tiny").subarray(0, 5000);
  await assert.rejects(Engine.load(truncated, VOCAB), /^Error: invalid weights file: /);
  await assert.rejects(Engine.load(modelBytes("tiny"), "a\t0\nb\t0\n"), (err) => {
    assert.match(err.message, /^invalid vocabulary: /);
    assert.equal(err.code, 4);
    return true;
  });
  await assert.rejects(Engine.load("weights.safetensors", VOCAB), TypeError);
  await assert.rejects(Engine.load(modelBytes("tiny"), 42), TypeError);
});

test("invalid tools JSON throws an Error naming the problem", async () => {
  const e = await engine("tiny");
  assert.throws(() => e.run(QUERY, "[{"), (err) => {
    assert.match(err.message, /^invalid tools JSON: /);
    assert.equal(err.code, 5);
    return true;
  });
  assert.throws(() => e.run(QUERY, [{ description: "no name" }]), /invalid tools JSON: .*name/);
  assert.throws(() => e.run(42, TOOLS), TypeError);
  assert.throws(() => e.run(QUERY, 42), TypeError);
});

test("Engine.load accepts an ArrayBuffer and vocab bytes", async () => {
  const bytes = modelBytes("tiny");
  const e = await Engine.load(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), new TextEncoder().encode(VOCAB));
  const ref = await engine("tiny");
  assert.deepEqual(e.run(QUERY, TOOLS), ref.run(QUERY, TOOLS));
  assert.equal(e.config.vocab_size, ref.config.vocab_size);
  e.free();
});

test("runBatch: results in order, equal to single runs, errors in place", async () => {
  const e = await engine("small");
  const cases = parityCases().filter((c) => c.preset === "small").slice(0, 6);
  const items = cases.map((c) => ({ query: c.query, tools: c.tools }));
  items.splice(2, 0, { query: QUERY, tools: "not json" });
  const out = e.runBatch(items);
  assert.equal(out.length, items.length);
  assert.ok(out[2] instanceof Error);
  assert.match(out[2].message, /^invalid tools JSON: /);
  const ok = out.filter((r) => !(r instanceof Error));
  assert.deepEqual(ok.map((r) => r.tokenIds), cases.map((c) => c.ref_ids));
  assert.deepEqual(e.runBatch([]), []);
  assert.throws(() => e.runBatch([{ tools: TOOLS }]), TypeError);
});

test("contrastive: encodeContrastive and retrieveTools on a model with a head", async () => {
  const e = await engine("tiny-head");
  assert.equal(e.contrastiveDim, 32);
  const v = e.encodeContrastive("book a flight to Rome");
  assert.ok(v instanceof Float32Array);
  assert.equal(v.length, 32);
  const norm = Math.hypot(...v);
  assert.ok(Math.abs(norm - 1) < 1e-4, `norm ${norm}`);
  assert.deepEqual(e.encodeContrastive("book a flight to Rome"), v);
  const descs = ["flights", "weather", "music", "book a flight to Rome"];
  const all = e.retrieveTools("book a flight to Rome", descs);
  assert.equal(all.length, 4);
  assert.deepEqual(all.map((r) => r.index).sort(), [0, 1, 2, 3]);
  for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].score >= all[i].score);
  assert.equal(all[0].index, 3); // identical text: cosine 1
  assert.ok(Math.abs(all[0].score - 1) < 1e-4);
  // Scores are the dot products of the embeddings.
  const d1 = e.encodeContrastive(descs[all[1].index]);
  const dot = v.reduce((s, x, i) => s + x * d1[i], 0);
  assert.ok(Math.abs(dot - all[1].score) < 1e-5);
  assert.deepEqual(e.retrieveTools("book a flight to Rome", descs, 2), all.slice(0, 2));
});

test("contrastive: a model without a head", async () => {
  const e = await engine("tiny");
  assert.equal(e.contrastiveDim, 0);
  assert.equal(e.encodeContrastive("hello"), undefined);
  assert.throws(() => e.retrieveTools("q", ["a"], 1), /unsupported by this model: .*contrastive/);
});

test("free() and Symbol.dispose release the engine; later calls throw", async () => {
  const e = await Engine.load(modelBytes("tiny"), VOCAB);
  assert.ok(e.run(QUERY, TOOLS).tokenIds.length > 0);
  e.free();
  e.free(); // idempotent
  assert.throws(() => e.run(QUERY, TOOLS), /freed/);
  const d = await Engine.load(modelBytes("tiny"), VOCAB);
  assert.equal(typeof d[Symbol.dispose], "function");
  d[Symbol.dispose]();
  assert.throws(() => d.encodeContrastive("x"), /freed/);
});

test("bundled demo model makes a real tool call", async () => {
  const demo = path.join(ROOT, "models/needle-demo");
  const engine = await Engine.load(
    readFileSync(path.join(demo, "needle.safetensors")),
    readFileSync(path.join(demo, "vocab.txt"), "utf8"),
  );
  try {
    const r = engine.run("What's the weather in Paris?", TOOLS);
    assert.deepEqual(r.calls, [{ name: "get_weather", arguments: { city: "Paris" } }]);
  } finally {
    engine.free();
  }
});
