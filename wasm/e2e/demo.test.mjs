// End-to-end: the browser demo (examples/browser/) in real headless Chromium, served by
// `python3 -m http.server` on 127.0.0.1; the result shown must equal the Node.js result.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { Engine } from "libneedle";
import { ROOT, TOOLS, VOCAB, cactBytes, cactPath, modelBytes } from "../tests/common.mjs";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const QUERY = "Send a message to Ann saying I'm late";
let server;
let browser;
let base;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitForServer(url, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    if (Date.now() > end) throw new Error(`static server did not answer at ${url}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  const port = await freePort();
  // The one-line static server of the README.
  server = spawn("python3", ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", ROOT], {
    stdio: "ignore",
  });
  base = `http://127.0.0.1:${port}`;
  await waitForServer(`${base}/examples/browser/`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu"],
  });
});

after(async () => {
  await browser?.close();
  server?.kill();
});

async function openDemo(query = "") {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${base}/examples/browser/${query}`);
  return { page, errors };
}

// `fill`: replace the page's default tools and query (else the defaults: examples/tools.json
// and "What's the weather in Paris?").
async function runInPage(page, fill = true, system = "") {
  await page.waitForSelector("body[data-state=ready]", { timeout: 60000 });
  await page.waitForFunction(() => document.getElementById("tools").value.length > 0);
  if (fill) {
    await page.fill("#tools", TOOLS);
    await page.fill("#query", QUERY);
  }
  if (system) await page.fill("#system", system);
  await page.click("#run");
  await page.waitForSelector("body[data-state=done]", { timeout: 60000 });
  return {
    model: await page.textContent("#model"),
    status: await page.textContent("#status"),
    result: JSON.parse(await page.textContent("#result")),
    calls: await page.textContent("#calls"),
    stream: await page.textContent("#stream"),
    time: await page.textContent("#time"),
    reasoning: (await page.isVisible("#reasoning-box")) ? await page.textContent("#reasoning") : null,
    confidence: (await page.isVisible("#confidence-box")) ? await page.textContent("#confidence") : null,
    tools: await page.inputValue("#tools"),
    query: await page.inputValue("#query"),
  };
}

async function expected(load, query, tools, opts) {
  const e = await load();
  let stream = "";
  const r = e.runStream(query, tools, (_, piece) => {
    stream += piece;
  }, opts);
  e.free();
  return { r, stream };
}
const demoExpected = () => expected(() => Engine.demo(), "What's the weather in Paris?", TOOLS);
const PARIS = [{ name: "get_weather", arguments: { city: "Paris" } }];

test("demo page: bundled demo model by default, a real call streams in, equal to Node.js", async () => {
  const { page, errors } = await openDemo();
  const shown = await runInPage(page, false);
  assert.equal(shown.query, "What's the weather in Paris?");
  assert.equal(shown.tools, TOOLS); // examples/tools.json
  const { r, stream } = await demoExpected();
  assert.deepEqual(r.calls, PARIS);
  // Which model and generation, and the build.
  assert.match(shown.model, /^bundled demo model \(models\/needle-demo.*\) — Needle v1$/);
  assert.match(shown.status, /^Ready: bundled demo model .* — Needle v1, d_model 128, 4\/2 heads, 3\+3 layers, vocab 1024 — SIMD128 build, loaded in \d+ ms$/);
  // The call JSON as it streamed, the parsed calls, the result and the timing.
  assert.equal(shown.stream, stream);
  assert.match(shown.stream, /\[\{"name":"get_weather","arguments":\{"city":"Paris"\}\}\]/);
  assert.deepEqual(JSON.parse(shown.calls), PARIS);
  assert.deepEqual(shown.result, { calls: r.calls, text: r.text, tokenIds: r.tokenIds, stop: r.stop });
  assert.match(shown.time, /^\d+(\.\d+)? ms \(\d+ tokens generated, \d+ encoder tokens, first token after \d+(\.\d+)? ms, stop: eos\)$/);
  // v1: no reasoning, no confidence head: neither is shown.
  assert.equal(shown.reasoning, null);
  assert.equal(shown.confidence, null);
  // What a person sees: a screenshot of the page, and its rendered text.
  mkdirSync(path.join(ROOT, "wasm/target"), { recursive: true });
  const png = await page.screenshot({ path: path.join(ROOT, "wasm/target/e2e-demo.png"), fullPage: true });
  assert.ok(png.length > 10000, `screenshot is only ${png.length} bytes`);
  const seen = await page.innerText("body");
  assert.match(seen, /Call JSON, as it streams\s+<tool_call> \[\{"name":"get_weather","arguments":\{"city":"Paris"\}\}\]/);
  assert.match(seen, /Parsed calls\s+\[\s+\{\s+"name": "get_weather",\s+"arguments": \{\s+"city": "Paris"/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("demo page: scalar fallback build (?simd=0) gives the same result", async () => {
  const { page, errors } = await openDemo("?simd=0");
  const shown = await runInPage(page, false);
  const { r } = await demoExpected();
  assert.match(shown.status, /scalar build/);
  assert.deepEqual(shown.result.tokenIds, r.tokenIds);
  assert.equal(shown.result.text, r.text);
  assert.deepEqual(errors, []);
  await page.close();
});

test("demo page: ?weights=&vocab= loads other files (a synthetic model), equal to Node.js", async () => {
  const { page, errors } = await openDemo("?weights=../../target/test-models/small.safetensors");
  const shown = await runInPage(page);
  const { r, stream } = await expected(() => Engine.load(modelBytes("small"), VOCAB), QUERY, TOOLS);
  assert.match(shown.status, /^Ready: small\.safetensors — Needle v1, d_model .*SIMD128 build/);
  assert.deepEqual(shown.result, { calls: r.calls, text: r.text, tokenIds: r.tokenIds, stop: r.stop });
  assert.equal(shown.stream, stream);
  assert.deepEqual(errors, []);
  await page.close();
});

test("demo page: a v3 .cact by ?weights= (no vocabulary): generation, confidence, system prompt, equal to Node.js", async () => {
  const { page, errors } = await openDemo("?weights=../../tests/fixtures/v3/tiny.cact");
  const SYSTEM = "You call tools.";
  const shown = await runInPage(page, true, SYSTEM);
  const { r, stream } = await expected(() => Engine.load(cactBytes("v3")), QUERY, TOOLS, { system: SYSTEM });
  assert.equal(shown.model, "tiny.cact — Needle v3");
  assert.match(shown.status, /^Ready: tiny\.cact — Needle v3, d_model 128, 4\/2 heads, 4 layers, vocab 8192, confidence head — SIMD128 build, loaded in \d+ ms$/);
  assert.deepEqual(shown.result, { calls: r.calls, text: r.text, tokenIds: r.tokenIds, stop: r.stop });
  assert.equal(shown.stream, stream);
  assert.equal(typeof r.confidence, "number");
  assert.equal(shown.confidence, r.confidence.toFixed(4));
  assert.equal(shown.reasoning, r.reasoning);
  assert.match(shown.time, new RegExp(`^\\d+(\\.\\d+)? ms \\(${r.tokenIds.length} tokens generated, ${r.promptTokens} prompt tokens${r.promptTruncated ? " \\(truncated\\)" : ""}, first token after .* ms, stop: ${r.stop}\\)$`));
  assert.deepEqual(errors, []);
  await page.close();
});

test("demo page: a .cact picked with the file picker (v2, no vocabulary file)", async () => {
  const { page, errors } = await openDemo();
  await page.waitForSelector("body[data-state=ready]", { timeout: 60000 });
  await page.setInputFiles("#weights-file", cactPath("v2"));
  await page.click("#load-files");
  await page.waitForFunction(() => /Needle v2/.test(document.getElementById("model").textContent), null, { timeout: 60000 });
  const shown = await runInPage(page);
  const { r } = await expected(() => Engine.load(cactBytes("v2")), QUERY, TOOLS);
  assert.equal(shown.model, "tiny.cact — Needle v2");
  assert.match(shown.status, /Needle v2, .*4 layers, vocab 8192, contrastive head, confidence head — SIMD128 build/);
  assert.deepEqual(shown.result.tokenIds, r.tokenIds);
  assert.equal(shown.confidence, r.confidence.toFixed(4));
  // Screenshot of a v2 answer with its confidence.
  await page.screenshot({ path: path.join(ROOT, "wasm/target/e2e-demo-v2.png"), fullPage: true });
  assert.match(await page.innerText("body"), /Confidence \(the model's confidence head\)\s+0\.\d{4}/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("demo page: an invalid weights file shows the engine's error", async () => {
  const { page, errors } = await openDemo("?weights=../../tests/fixtures/vocab/vocab.txt");
  await page.waitForSelector("body[data-state=error]", { timeout: 60000 });
  assert.match(await page.textContent("#status"), /^Error: invalid weights file: /);
  assert.deepEqual(errors, []);
  await page.close();
});

test("browser (main thread): limits, lone surrogates and recovery from a wasm trap", async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${base}/`);
  const got = await page.evaluate(async (base) => {
    const lib = await import(`${base}/wasm/npm/web.js`);
    // The glue module web.js uses (same URL, same module instance).
    const glue = await import(`${base}/wasm/npm/gen/web-simd/libneedle_wasm.js`);
    const [w, v] = await Promise.all([
      fetch(`${base}/target/test-models/tiny.safetensors`).then((r) => r.arrayBuffer()),
      fetch(`${base}/tests/fixtures/vocab/vocab.txt`).then((r) => r.text()),
    ]);
    const caught = (f) => {
      try {
        f();
        return null;
      } catch (x) {
        return { code: x.code, kind: x.kind, message: x.message, trap: x instanceof WebAssembly.RuntimeError };
      }
    };
    const e = await lib.Engine.load(new Uint8Array(w), v);
    const ok = e.run("hi", "[]").tokenIds;
    const lone = caught(() => e.run("a\ud800", "[]"));
    const long = caught(() => e.run("a".repeat(lib.MAX_QUERY_BYTES + 1), "[]"));
    // A real trap inside the instance: the raw binding runs on a pointer outside its memory.
    const orig = glue.RawEngine.prototype.run;
    glue.RawEngine.prototype.run = function (...a) {
      glue.RawEngine.prototype.run = orig;
      const bogus = Object.create(glue.RawEngine.prototype);
      bogus.__wbg_ptr = 0xfffffff0;
      return orig.apply(bogus, a);
    };
    const trap = caught(() => e.run("hi", "[]"));
    const stale = caught(() => e.run("hi", "[]"));
    e.free();
    const fresh = await lib.Engine.load(new Uint8Array(w), v);
    const again = fresh.run("hi", "[]").tokenIds;
    fresh.free();
    return { limits: [lib.MAX_QUERY_BYTES, lib.MAX_TOOLS_BYTES, lib.DEFAULT_MAX_NEW_TOKENS], ok, lone, long, trap, stale, again };
  }, base);
  assert.deepEqual(got.limits, [64 << 20, 16 << 20, 512]);
  assert.ok(got.ok.length > 0);
  assert.equal(got.lone.code, 6);
  assert.match(got.lone.message, /^invalid UTF-8: query is not valid UTF-8: lone surrogate/);
  assert.equal(got.long.code, 1);
  assert.equal(got.trap.code, 9);
  assert.equal(got.trap.trap, false);
  assert.match(got.trap.message, /^internal error: the WebAssembly instance trapped \(RuntimeError: /);
  assert.equal(got.stale.code, 9);
  assert.match(got.stale.message, /lost after an earlier call trapped/);
  assert.deepEqual(got.again, got.ok);
  assert.deepEqual(errors, []);
  await page.close();
});
