// End-to-end: the browser demo (examples/browser/) in real headless Chromium, served by
// `python3 -m http.server` on 127.0.0.1; the result shown must equal the Node.js result.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";
import { Engine } from "libneedle";
import { ROOT, TOOLS, VOCAB, modelBytes } from "../tests/common.mjs";

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

async function runInPage(page) {
  await page.waitForSelector("body[data-state=ready]", { timeout: 60000 });
  await page.waitForFunction(() => document.getElementById("tools").value.length > 0);
  await page.fill("#tools", TOOLS);
  await page.fill("#query", QUERY);
  await page.click("#run");
  await page.waitForSelector("body[data-state=done]", { timeout: 60000 });
  return {
    status: await page.textContent("#status"),
    result: JSON.parse(await page.textContent("#result")),
    stream: await page.textContent("#stream"),
    time: await page.textContent("#time"),
  };
}

async function expected() {
  const e = await Engine.load(modelBytes("small"), VOCAB);
  let stream = "";
  const r = e.runStream(QUERY, TOOLS, (_, piece) => {
    stream += piece;
  });
  e.free();
  return { r, stream };
}

test("demo page: default model, SIMD build, streamed call and result equal Node.js", async () => {
  const { page, errors } = await openDemo();
  const shown = await runInPage(page);
  const { r, stream } = await expected();
  assert.match(shown.status, /^Ready: small\.safetensors .*SIMD128 build/);
  assert.deepEqual(shown.result, { calls: r.calls, text: r.text, tokenIds: r.tokenIds, stop: r.stop });
  assert.equal(shown.stream, stream);
  assert.match(shown.time, /^\d+(\.\d+)? ms \(\d+ tokens generated/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("demo page: scalar fallback build (?simd=0) gives the same result", async () => {
  const { page, errors } = await openDemo("?simd=0");
  const shown = await runInPage(page);
  const { r } = await expected();
  assert.match(shown.status, /scalar build/);
  assert.deepEqual(shown.result.tokenIds, r.tokenIds);
  assert.equal(shown.result.text, r.text);
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
