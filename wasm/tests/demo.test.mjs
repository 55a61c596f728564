// The demo model shipped in the npm package (Engine.demo()) and the README's JavaScript
// example (wasm/examples/quickstart.mjs, kept equal to the README by tools/check_readme.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { Engine } from "libneedle";
import { ROOT } from "./common.mjs";

const PARIS = '[{"name":"get_weather","arguments":{"city":"Paris"}}]';
const WEATHER = '[{"name":"get_weather","parameters":{"city":{"type":"string"}}}]';

test("Engine.demo() answers a real call with the bundled model", async () => {
  const e = await Engine.demo();
  const r = e.run("What's the weather in Paris?", WEATHER);
  assert.equal(r.text, PARIS);
  assert.deepEqual(r.calls, [{ name: "get_weather", arguments: { city: "Paris" } }]);
  assert.equal(r.stop, "eos");
  assert.equal(e.config.d_model, 128);
  assert.equal(e.config.vocab_size, 1024);
  e.free();
});

test("the package ships the demo model byte for byte (gen/demo/, listed in package.json files)", () => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "wasm/npm/package.json"), "utf8"));
  assert.ok(pkg.files.includes("gen/demo/"));
  for (const f of ["needle.safetensors", "vocab.txt"]) {
    assert.ok(
      readFileSync(path.join(ROOT, "wasm/npm/gen/demo", f)).equals(readFileSync(path.join(ROOT, "models/needle-demo", f))),
      `gen/demo/${f} differs from models/needle-demo/${f}`,
    );
  }
  assert.match(readFileSync(path.join(ROOT, "wasm/npm/index.d.ts"), "utf8"), /static demo\(\): Promise<Engine>;/);
});

test("Engine.demo() equals the framework's greedy decode on the 600 held-out cases", async () => {
  const e = await Engine.demo();
  const cases = readFileSync(path.join(ROOT, "tests/fixtures/demo/heldout.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
  assert.equal(cases.length, 600);
  const bad = cases.filter((c) => JSON.stringify(e.run(c.query, c.tools).tokenIds) !== JSON.stringify(c.framework_ids));
  assert.deepEqual(bad.map((c) => c.query), []);
  e.free();
});

test("the README's JavaScript example prints a real call", () => {
  const out = execFileSync(process.execPath, [path.join(ROOT, "wasm/examples/quickstart.mjs")], {
    cwd: ROOT, // as the README runs it: node wasm/examples/quickstart.mjs
    encoding: "utf8",
  });
  const lines = out.split("\n");
  assert.equal(lines[0], PARIS);
  assert.match(out, /"city":"Oslo"/);
  assert.match(out, /"city":"Rome"/);
  assert.match(out, /"city":"Lima"/);
  assert.match(out, /^5 invalid tools JSON: tools\[0\]\.name is missing$/m);
  // The v3 part, on the repository's v3 test file: generation, fields, confidence, depth.
  const v3 = lines.slice(lines.findIndex((l) => l.startsWith("5 invalid tools JSON")) + 1);
  assert.equal(v3[0], "3 4 true");
  const words = v3[1].split(" ");
  const [stop, promptTokens, confidence] = [words[0], words[1], words.at(-1)];
  assert.ok(["eos", "max_tokens", "im_end", "max_seq_len"].includes(stop), stop);
  assert.ok(Number(promptTokens) > 0);
  assert.ok(Number(confidence) >= 0 && Number(confidence) <= 1, v3[1]);
  assert.ok(Number(v3[2]) >= 0 && Number(v3[2]) <= 1, v3[2]);
  assert.equal(v3[3], "2 max_tokens");
});
