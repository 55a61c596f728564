// Reliability of the JavaScript facade: limits checked before anything is copied into wasm
// memory, every failure an Error with `code`/`kind`, lone surrogates rejected like Python
// does, and the stream callback rule (only `false` stops).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { Engine, DEFAULT_MAX_NEW_TOKENS, MAX_QUERY_BYTES, MAX_TOOLS_BYTES } from "libneedle";
import { engine, modelBytes, ROOT, TOOLS, VOCAB } from "./common.mjs";

const QUERY = "What's the weather in Paris?";
const WEATHER_CALL = [{ name: "get_weather", arguments: { city: "Paris" } }];
const DEMO = path.join(ROOT, "models/needle-demo");
const demoWeights = () => readFileSync(path.join(DEMO, "needle.safetensors"));
const DEMO_VOCAB = readFileSync(path.join(DEMO, "vocab.txt"), "utf8");
let demo;
const demoEngine = async () => (demo ??= await Engine.load(demoWeights(), DEMO_VOCAB));

/** An assert.throws/rejects validator: an Error (not a TypeError) with this code and kind. */
function needleError(code, kind, message) {
  return (err) => {
    assert.ok(err instanceof Error, `not an Error: ${err}`);
    assert.ok(!(err instanceof TypeError), `a TypeError: ${err}`);
    assert.ok(!(err instanceof WebAssembly.RuntimeError), `a wasm trap: ${err}`);
    assert.equal(err.code, code, `code of ${err.message}`);
    assert.equal(err.kind, kind);
    assert.ok(err.message.startsWith(`${kind}: `), err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
}

test("limits are exported from the engine's constants", () => {
  assert.equal(MAX_QUERY_BYTES, 64 * 1024 * 1024);
  assert.equal(MAX_TOOLS_BYTES, 16 * 1024 * 1024);
  assert.equal(DEFAULT_MAX_NEW_TOKENS, 512);
});

test("a 100 MB tools string or query is an Error with code/kind, and the next calls answer", async () => {
  const e = await demoEngine();
  assert.deepEqual(e.run(QUERY, TOOLS).calls, WEATHER_CALL);
  // Valid JSON, so that nothing short-circuits on the first byte.
  const hugeTools = `[{"name":"get_weather","description":"${"weather ".repeat(12_500_000)}","parameters":{"city":{"type":"string"}}}]`;
  assert.ok(hugeTools.length > 100e6);
  assert.throws(() => e.run(QUERY, hugeTools), needleError(5, "invalid tools JSON", /^invalid tools JSON: tools JSON is at least 100000\d+ bytes; libneedle accepts at most 16777216 bytes \(16 MiB, MAX_TOOLS_BYTES\)$/));
  assert.throws(() => e.runStream(QUERY, hugeTools, () => {}), needleError(5, "invalid tools JSON"));
  const hugeQuery = "What's the weather in Paris? ".repeat(3_500_000);
  assert.ok(hugeQuery.length > 100e6);
  assert.throws(() => e.run(hugeQuery, TOOLS), needleError(1, "invalid argument", /^invalid argument: query is at least 1015\d+ bytes; libneedle accepts at most 67108864 bytes \(64 MiB, MAX_QUERY_BYTES\)$/));
  // The same engine, and a newly loaded one, still answer.
  assert.deepEqual(e.run(QUERY, TOOLS).calls, WEATHER_CALL);
  const fresh = await Engine.load(demoWeights(), DEMO_VOCAB);
  assert.deepEqual(fresh.run(QUERY, TOOLS).calls, WEATHER_CALL);
  fresh.free();
});

test("limits count UTF-8 bytes exactly, not UTF-16 units", async () => {
  const e = await engine("tiny");
  // 2 and 4 UTF-8 bytes per character: under the limit in UTF-16 units, over it in bytes.
  const twoByte = "é".repeat(MAX_QUERY_BYTES / 2 + 1);
  assert.throws(() => e.run(twoByte, TOOLS), needleError(1, "invalid argument", new RegExp(`query is ${MAX_QUERY_BYTES + 2} bytes;`)));
  const emoji = "😀".repeat(MAX_TOOLS_BYTES / 4 + 1);
  assert.throws(() => e.run(QUERY, emoji), needleError(5, "invalid tools JSON", new RegExp(`tools JSON is ${MAX_TOOLS_BYTES + 4} bytes;`)));
  assert.throws(() => e.encodeContrastive(twoByte), needleError(1, "invalid argument", /^invalid argument: text /));
  assert.throws(() => e.retrieveTools(QUERY, ["a", twoByte]), needleError(1, "invalid argument", /descriptions\[1\]/));
  // A batch item over the limit is an Error in its slot; the others run.
  const out = e.runBatch([{ query: QUERY, tools: TOOLS }, { query: twoByte, tools: TOOLS }, { query: QUERY, tools: emoji }]);
  assert.deepEqual(out[0], e.run(QUERY, TOOLS));
  needleError(1, "invalid argument", /runBatch item 1: query/)(out[1]);
  needleError(5, "invalid tools JSON")(out[2]);
  // A query of exactly MAX_QUERY_BYTES bytes is accepted (the model reads its start only).
  const atLimit = "é".repeat(MAX_QUERY_BYTES / 2);
  assert.ok(Array.isArray(e.run(atLimit, TOOLS, { maxNewTokens: 2 }).tokenIds));
});

test("errors of a freed engine carry code and kind", async () => {
  const e = await Engine.load(modelBytes("tiny-head"), VOCAB);
  e.free();
  const freed = needleError(1, "invalid argument", /freed/);
  assert.throws(() => e.run(QUERY, TOOLS), freed);
  assert.throws(() => e.runStream(QUERY, TOOLS, () => {}), freed);
  assert.throws(() => e.runBatch([{ query: QUERY, tools: TOOLS }]), freed);
  assert.throws(() => e.encodeContrastive("x"), freed);
  assert.throws(() => e.retrieveTools("x", ["a"]), freed);
  assert.throws(() => e.config, freed);
  assert.throws(() => e.contrastiveDim, freed);
  e.free(); // still idempotent
  // Wrong argument types stay TypeErrors, freed or not.
  assert.throws(() => e.run(42, TOOLS), TypeError);
});

test("other facade failures carry code and kind too", async () => {
  const e = await engine("tiny");
  // Tools that JSON cannot represent.
  const cyclic = { name: "x" };
  cyclic.self = cyclic;
  assert.throws(() => e.run(QUERY, cyclic), needleError(5, "invalid tools JSON", /serialised/));
  assert.throws(() => e.run(QUERY, [{ name: "x", n: 1n }]), needleError(5, "invalid tools JSON"));
  // vocab.txt bytes that are not UTF-8: the engine's invalid-vocabulary status.
  await assert.rejects(Engine.load(modelBytes("tiny"), new Uint8Array([0x61, 0xff, 0x0a])), needleError(4, "invalid vocabulary", /UTF-8/));
  // The engine's own errors keep their codes.
  assert.throws(() => e.run(QUERY, "[{"), needleError(5, "invalid tools JSON"));
  assert.throws(() => e.retrieveTools("q", ["a"]), needleError(7, "unsupported by this model"));
});

test("lone surrogates are rejected with the invalid-UTF-8 status, naming the argument", async () => {
  const e = await engine("tiny-head");
  const utf8 = (what) => needleError(6, "invalid UTF-8", new RegExp(`^invalid UTF-8: ${what} is not valid UTF-8: lone surrogate`));
  assert.throws(() => e.run("bad \ud800", TOOLS), utf8("query"));
  assert.throws(() => e.run("bad \udc00 low", TOOLS), utf8("query"));
  assert.throws(() => e.run("\ud83d\ud83d\ude00", TOOLS), utf8("query")); // a high one before a pair
  assert.throws(() => e.runStream("end \ud83d", TOOLS, () => {}), utf8("query"));
  assert.throws(() => e.run(QUERY, '[{"name":"\ud800"}]'), utf8("tools"));
  assert.throws(() => e.encodeContrastive("\udfff"), utf8("text"));
  assert.throws(() => e.retrieveTools("\ud800", ["a"]), utf8("query"));
  assert.throws(() => e.retrieveTools("q", ["ok", "x\udc00"]), utf8("descriptions\\[1\\]"));
  await assert.rejects(Engine.load(modelBytes("tiny"), VOCAB + "\ud800"), utf8("vocab"));
  const out = e.runBatch([{ query: "\ud800", tools: TOOLS }, { query: QUERY, tools: TOOLS }]);
  utf8("runBatch item 0: query")(out[0]);
  assert.deepEqual(out[1], e.run(QUERY, TOOLS));
  // The message says where.
  assert.throws(() => e.run("ab\ud800", TOOLS), /U\+D800 at index 2/);
  // Tools given as objects are JSON.stringify'ed, which escapes a lone surrogate: the
  // engine then rejects the escape as invalid tools JSON.
  assert.throws(() => e.run(QUERY, [{ name: "\ud800" }]), needleError(5, "invalid tools JSON", /surrogate/));
  // Well-formed pairs are fine.
  assert.ok(Array.isArray(e.run("weather 😀 in Paris", TOOLS).tokenIds));
  assert.equal(e.encodeContrastive("😀").length, 32);
});

test("lone surrogates are rejected where String.prototype.isWellFormed is missing", () => {
  const script = `
    delete String.prototype.isWellFormed;
    const { Engine } = await import("libneedle");
    const { readFileSync } = await import("node:fs");
    const e = await Engine.load(readFileSync(${JSON.stringify(path.join(ROOT, "target/test-models/tiny.safetensors"))}),
                                readFileSync(${JSON.stringify(path.join(ROOT, "tests/fixtures/vocab/vocab.txt"))}, "utf8"));
    const out = [];
    for (const q of ["a\\ud800", "\\udc00", "\\ud800\\ud800\\udc00", "x\\udc00\\udc00"]) {
      try { e.run(q, "[]"); out.push("accepted"); } catch (err) { out.push(err.code); }
    }
    out.push(e.run("ok 😀 \\ud83d\\ude00", "[]").tokenIds.length > 0);
    console.log(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: path.join(ROOT, "wasm"), encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [6, 6, 6, 6, true]);
});

test("stream callback: only an exact `false` stops; other values continue", async () => {
  const e = await engine("small");
  const full = e.run(QUERY, TOOLS);
  assert.ok(full.tokenIds.length > 2);
  for (const value of [undefined, null, 0, "", NaN, "false", true, 1, {}]) {
    let n = 0;
    const r = e.runStream(QUERY, TOOLS, () => {
      n++;
      return value;
    });
    assert.deepEqual(r, full, `callback returning ${String(value)}`);
    assert.equal(n, full.tokenIds.length);
  }
  let n = 0;
  const stopped = e.runStream(QUERY, TOOLS, () => {
    n++;
    return false;
  });
  assert.equal(n, 1);
  assert.deepEqual(stopped.tokenIds, full.tokenIds.slice(0, 1));
  assert.equal(stopped.stop, "callback");
  // An exception stops generation and reaches the caller as it was thrown (any value).
  for (const thrown of [new RangeError("boom"), 42, undefined]) {
    let calls = 0;
    assert.throws(
      () => e.runStream(QUERY, TOOLS, () => {
        calls++;
        throw thrown;
      }),
      (err) => err === thrown,
    );
    assert.equal(calls, 1);
  }
  assert.deepEqual(e.run(QUERY, TOOLS), full);
});

test("free() from inside a stream callback takes effect when the call returns", async () => {
  const e = await Engine.load(modelBytes("small"), VOCAB);
  const full = e.run(QUERY, TOOLS);
  let n = 0;
  const r = e.runStream(QUERY, TOOLS, () => {
    if (++n === 1) {
      e.free();
      assert.throws(() => e.run(QUERY, TOOLS), needleError(1, "invalid argument", /freed/));
    }
  });
  assert.deepEqual(r, full);
  assert.throws(() => e.run(QUERY, TOOLS), /freed/);
  // Other engines are unaffected, and a nested call of another engine works.
  const other = await engine("small");
  let nested;
  other.runStream(QUERY, TOOLS, () => {
    nested ??= other.run(QUERY, TOOLS);
  });
  assert.deepEqual(nested, full);
});
