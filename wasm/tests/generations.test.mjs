// Every generation in the npm package (nodejs build): the v3 and v2 fixture files
// (tests/fixtures/v3|v2/tiny.cact, random weights: gibberish text, so fields, options,
// errors and equality are checked, not answer quality). Token ids and every result field
// must equal the native engine's, recorded for this checkout in
// python/tests/fixtures/engine_cases.jsonl (python/tests/record_fixtures.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Engine, RESULT_FIELDS, STOP_REASONS } from "libneedle";
import { readFileSync } from "node:fs";
import path from "node:path";
import { cactBytes, modelBytes, nativeCases, ROOT, VOCAB } from "./common.mjs";

const WEATHER = '[{"name":"get_weather","parameters":{"city":{"type":"string"}}}]';
const SYSTEM = "You are a helpful assistant that calls tools.";
const Q = "What's the weather in Paris?";
const camel = (k) => k.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

const engines = new Map();
/** One shared engine per (preset, depth) of the native recording. */
function engineFor(preset, depth) {
  const key = `${preset}@${depth}`;
  if (!engines.has(key)) {
    const [generation, name] = preset.split("-");
    engines.set(key, Engine.load(cactBytes(generation, name), depth === undefined ? undefined : { depth }));
  }
  return engines.get(key);
}

/** A result object against the engine's result JSON: every field, camelCase; confidence to 1e-5. */
function sameAsNative(r, want, what) {
  assert.deepEqual(Object.keys(r), RESULT_FIELDS.map(camel), what);
  for (const f of RESULT_FIELDS) {
    const got = r[camel(f)];
    if (f === "confidence" && want[f] !== null) {
      assert.ok(typeof got === "number" && Math.abs(got - want[f]) <= 1e-5, `${what}: confidence ${got} vs native ${want[f]}`);
    } else {
      assert.deepEqual(got, want[f], `${what}: ${f}`);
    }
  }
}

function sameError(e, want, what) {
  assert.equal(e.code, want.code, `${what}: code (${e.message})`);
  assert.ok(e.message.endsWith(want.message), `${what}: "${e.message}" vs native "${want.message}"`);
}

test("the engine's lists: stop reasons and result fields", () => {
  assert.deepEqual([...STOP_REASONS], ["eos", "max_tokens", "callback", "im_end", "max_seq_len"]);
  assert.deepEqual([...RESULT_FIELDS], [
    "calls", "text", "token_ids", "prompt_tokens", "encoder_tokens", "stop", "reasoning", "confidence", "prompt_truncated",
  ]);
  assert.ok(Object.isFrozen(STOP_REASONS) && Object.isFrozen(RESULT_FIELDS));
  // index.d.ts types every stop reason and every result field.
  const dts = readFileSync(path.join(ROOT, "wasm/npm/index.d.ts"), "utf8");
  for (const s of STOP_REASONS) assert.ok(dts.includes(`"${s}"`), `index.d.ts lacks stop reason ${s}`);
  const iface = dts.slice(dts.indexOf("export interface RunResult"), dts.indexOf("/** Per-call options. */"));
  for (const f of RESULT_FIELDS) assert.match(iface, new RegExp(`\\n  ${camel(f)}: `), `index.d.ts RunResult lacks ${camel(f)}`);
});

const CASES = nativeCases().filter((c) => c.req.preset.startsWith("v2-") || c.req.preset.startsWith("v3-"));

test(`same as the native engine: ${CASES.length} recorded v2/v3 cases (run, stream, batch, confidence, config, depth)`, async () => {
  assert.ok(CASES.length >= 60, `${CASES.length} cases`);
  const ops = new Set();
  for (const [i, { req, resp }] of CASES.entries()) {
    const what = `case ${i} ${req.op} ${req.preset}${req.depth === undefined ? "" : ` depth ${req.depth}`}`;
    ops.add(req.op);
    let e;
    try {
      e = await engineFor(req.preset, req.depth);
    } catch (err) {
      assert.ok(resp.err, `${what}: load failed: ${err.message}`);
      sameError(err, resp.err, what);
      engines.delete(`${req.preset}@${req.depth}`);
      continue;
    }
    const opts = { maxNewTokens: req.max_new_tokens ?? undefined, constrained: req.constrained ?? undefined, system: req.system ?? undefined };
    let got;
    try {
      switch (req.op) {
        case "run":
          got = e.run(req.query, req.tools, opts);
          break;
        case "stream": {
          const pieces = [];
          const r = e.runStream(req.query, req.tools, (id, piece) => {
            pieces.push([id, piece]);
            return req.stop_after === null || pieces.length < req.stop_after;
          }, opts);
          sameAsNative(r, resp.ok.result, what);
          assert.deepEqual(pieces, resp.ok.pieces, `${what}: pieces`);
          continue;
        }
        case "batch": {
          const out = e.runBatch(req.items.map(([query, tools]) => ({ query, tools })), opts);
          assert.equal(out.length, resp.ok.length);
          out.forEach((r, j) => (resp.ok[j].err ? sameError(r, resp.ok[j].err, `${what} item ${j}`) : sameAsNative(r, resp.ok[j].ok, `${what} item ${j}`)));
          continue;
        }
        case "confidence":
          got = e.confidence(req.query, req.tools, req.completion, { system: req.system ?? undefined });
          break;
        case "config":
          got = e.config;
          break;
        case "contrastive":
          got = e.encodeContrastive(req.text);
          if (got === undefined) {
            // No contrastive head: undefined here, Unsupported (code 7) natively.
            assert.equal(resp.err?.code, 7, what);
            continue;
          }
          got = [...got];
          break;
        case "retrieve":
          got = e.retrieveTools(req.query, req.descriptions, req.top_k).map(({ index, score }) => [index, score]);
          break;
        default:
          throw new Error(`unknown op ${req.op}`);
      }
    } catch (err) {
      if (!resp.err) throw err;
      sameError(err, resp.err, what);
      continue;
    }
    assert.ok(resp.ok !== undefined, `${what}: native failed (${JSON.stringify(resp.err)}), wasm answered`);
    if (req.op === "run") sameAsNative(got, resp.ok, what);
    else if (req.op === "config") {
      assert.deepEqual(got, resp.ok, what);
      assert.equal(e.generation, resp.ok.generation);
    } else if (req.op === "confidence") assert.ok(Math.abs(got - resp.ok) <= 1e-5, `${what}: ${got} vs ${resp.ok}`);
    else if (req.op === "contrastive") got.forEach((x, j) => assert.ok(Math.abs(x - resp.ok[j]) <= 1e-5, `${what}[${j}]`));
    else if (req.op === "retrieve") {
      assert.deepEqual(got.map((x) => x[0]), resp.ok.map((x) => x[0]), what);
      got.forEach((x, j) => assert.ok(Math.abs(x[1] - resp.ok[j][1]) <= 1e-5, `${what}[${j}]`));
    }
  }
  for (const op of ["run", "stream", "batch", "confidence", "config"]) assert.ok(ops.has(op), op);
  for (const e of engines.values()) (await e).free();
  engines.clear();
});

for (const generation of ["v3", "v2"]) {
  test(`${generation}: load bytes, generation, config, every result field`, async () => {
    const bytes = cactBytes(generation);
    const e = await Engine.load(bytes);
    const g = Number(generation.slice(1));
    assert.equal(e.generation, g);
    const c = e.config;
    assert.equal(c.generation, g);
    assert.equal(c.confidence_head, true);
    assert.equal(c.contrastive_dim, e.contrastiveDim);
    assert.equal(c.num_layers, 4);
    for (const load of [() => Engine.load(bytes.buffer), () => Engine.load(bytes, undefined), () => Engine.load(bytes, null, {})]) {
      const o = await load();
      assert.deepEqual(o.config, c);
      o.free();
    }
    for (const system of [undefined, SYSTEM]) {
      const r = e.run(Q, WEATHER, { maxNewTokens: 10, system });
      assert.deepEqual(Object.keys(r), RESULT_FIELDS.map(camel));
      assert.equal(r.promptTokens, r.encoderTokens);
      assert.ok(r.promptTokens > 0 && r.tokenIds.length <= 10);
      assert.ok(STOP_REASONS.includes(r.stop) && r.stop !== "callback");
      assert.ok(r.reasoning === null || typeof r.reasoning === "string");
      assert.ok(typeof r.confidence === "number" && r.confidence >= 0 && r.confidence <= 1);
      assert.equal(r.promptTruncated, false);
    }
    assert.ok(e.run(Q, WEATHER, { maxNewTokens: 4, system: SYSTEM }).promptTokens > e.run(Q, WEATHER, { maxNewTokens: 4 }).promptTokens);
    // Streaming and batch return the same structured result as run.
    const ids = [];
    const streamed = e.runStream(Q, WEATHER, (id) => void ids.push(id), { maxNewTokens: 10, system: SYSTEM });
    assert.deepEqual(streamed, e.run(Q, WEATHER, { maxNewTokens: 10, system: SYSTEM }));
    assert.deepEqual(ids, streamed.tokenIds);
    let n = 0;
    const early = e.runStream(Q, WEATHER, () => ++n < 2, { maxNewTokens: 10 });
    assert.equal(early.stop, "callback");
    assert.deepEqual(early.tokenIds, e.run(Q, WEATHER, { maxNewTokens: 10 }).tokenIds.slice(0, 2));
    assert.equal(typeof early.confidence, "number");
    const batch = e.runBatch([{ query: Q, tools: WEATHER }, { query: "hi", tools: "[" }, { query: "hello", tools: [] }], { maxNewTokens: 6, system: SYSTEM });
    assert.deepEqual(batch[0], e.run(Q, WEATHER, { maxNewTokens: 6, system: SYSTEM }));
    assert.equal(batch[1].code, 5);
    assert.deepEqual(batch[2], e.run("hello", [], { maxNewTokens: 6, system: SYSTEM }));
    // Confidence.
    const call = '[{"name":"get_weather","arguments":{"city":"Paris"}}]';
    const p = e.confidence(Q, WEATHER, call);
    assert.ok(typeof p === "number" && p >= 0 && p <= 1);
    assert.equal(e.confidence(Q, JSON.parse(WEATHER), call), p);
    assert.notEqual(e.confidence(Q, WEATHER, call, { system: SYSTEM }), p);
    assert.throws(() => e.confidence(Q, WEATHER, 5), TypeError);
    assert.throws(() => e.confidence(Q, WEATHER, "a\ud800"), (x) => x.code === 6 && /completion/.test(x.message));
    assert.throws(() => e.confidence(Q, "[", call), (x) => x.code === 5);
    // Options errors.
    assert.throws(() => e.run(Q, WEATHER, { system: 5 }), TypeError);
    assert.throws(() => e.run(Q, WEATHER, { system: "\udfff" }), (x) => x.code === 6 && /system/.test(x.message));
    e.free();
  });
}

test("v3 depth: the ladder through load options; refused for v2 and v1", async () => {
  const bytes = cactBytes("v3");
  const full = await Engine.load(bytes);
  const seen = new Set();
  for (const depth of [2, 3, 4]) {
    const e = await Engine.load(bytes, { depth });
    assert.equal(e.config.num_layers, depth);
    const r = e.run(Q, WEATHER, { maxNewTokens: 8 });
    seen.add(JSON.stringify(r.tokenIds));
    const same = await Engine.load(bytes, undefined, { depth });
    assert.deepEqual(same.run(Q, WEATHER, { maxNewTokens: 8 }), r);
    same.free();
    if (depth === 4) assert.deepEqual(r, full.run(Q, WEATHER, { maxNewTokens: 8 }));
    e.free();
  }
  assert.ok(seen.size > 1);
  for (const depth of [0, 1, 5]) {
    await assert.rejects(Engine.load(bytes, { depth }), (x) => x.code === 1 && /depth/.test(x.message));
  }
  await assert.rejects(Engine.load(bytes, { depth: -1 }), TypeError);
  await assert.rejects(Engine.load(bytes, { depth: 2.5 }), TypeError);
  await assert.rejects(Engine.load(cactBytes("v2"), { depth: 2 }), (x) => x.code === 1 && /depth/.test(x.message));
  await assert.rejects(Engine.load(modelBytes("tiny"), VOCAB, { depth: 2 }), (x) => x.code === 1 && /depth/.test(x.message));
  full.free();
});

test("vocabulary errors: a vocab with a .cact, none with a v1 file", async () => {
  for (const generation of ["v3", "v2"]) {
    await assert.rejects(Engine.load(cactBytes(generation), VOCAB), (x) => x.code === 1 && /without a vocabulary/.test(x.message));
  }
  await assert.rejects(Engine.load(modelBytes("tiny")), (x) => x.code === 1 && /^invalid argument: vocab is missing: .*vocab\.txt/.test(x.message));
  const data = cactBytes("v3");
  await assert.rejects(Engine.load(data.subarray(0, data.length / 3)), (x) => x.code === 3);
  await assert.rejects(Engine.load("bytes"), TypeError);
  await assert.rejects(Engine.load(data, 5), TypeError);
});

test("v1: new fields, generation, config_json, confidence unsupported", async () => {
  const e = await Engine.demo();
  assert.equal(e.generation, 1);
  const c = e.config;
  assert.equal(c.generation, 1);
  assert.equal(c.confidence_head, false);
  for (const k of ["d_model", "head_dim", "activation", "num_encoder_layers", "max_dec_len", "contrastive_dim", "rope_theta"]) assert.ok(k in c, k);
  const r = e.run(Q, WEATHER);
  assert.deepEqual(r.calls, [{ name: "get_weather", arguments: { city: "Paris" } }]);
  assert.equal(r.reasoning, null);
  assert.equal(r.confidence, null);
  assert.equal(r.promptTruncated, false);
  assert.equal(r.promptTokens, r.encoderTokens);
  assert.deepEqual(e.run(Q, WEATHER, { system: SYSTEM }), r); // v1 has no system turn
  assert.throws(() => e.confidence(Q, WEATHER, r.text), (x) => x.code === 7 && /confidence head/.test(x.message));
  e.free();
});

test("the C ABI is not compiled into the module: no needle_* exports", () => {
  for (const build of ["node", "web-simd", "web-scalar"]) {
    const file = path.join(ROOT, "wasm/npm/gen", build, "libneedle_wasm_bg.wasm");
    let bytes;
    try {
      bytes = readFileSync(file);
    } catch (e) {
      if (build === "web-scalar" && process.env.NEEDLE_WASM_SIMD_ONLY === "1") continue; // not built
      throw e;
    }
    const names = WebAssembly.Module.exports(new WebAssembly.Module(bytes)).map((e) => e.name);
    assert.ok(names.includes("rawengine_new"), `${build}: ${names.slice(0, 5)}`);
    assert.deepEqual(names.filter((n) => n.startsWith("needle_")), [], build);
  }
});
