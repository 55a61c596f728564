// Shared helpers of the libneedle npm package tests (node --test).
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { Engine } from "libneedle";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const VOCAB_PATH = path.join(ROOT, "tests/fixtures/vocab/vocab.txt");
export const VOCAB = readFileSync(VOCAB_PATH, "utf8");
export const TOOLS = readFileSync(path.join(ROOT, "examples/tools.json"), "utf8");

export function modelPath(preset) {
  const p = path.join(ROOT, "target/test-models", `${preset}.safetensors`);
  if (!existsSync(p)) {
    throw new Error(`${p} is missing: python3 tools/make_model.py --preset ${preset} --out ${p}`);
  }
  return p;
}

export function modelBytes(preset) {
  return new Uint8Array(readFileSync(modelPath(preset)));
}

const cache = new Map();
/** One shared engine per preset (loaded on first use). */
export function engine(preset) {
  if (!cache.has(preset)) cache.set(preset, Engine.load(modelBytes(preset), VOCAB));
  return cache.get(preset);
}

export function parityCases() {
  return readFileSync(path.join(ROOT, "tests/fixtures/parity/cases.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

/** The v2/v3 fixture files: `cactPath("v3")` is tests/fixtures/v3/tiny.cact (confidence
 * head), `cactPath("v2")` tests/fixtures/v2/tiny.cact (contrastive and confidence heads). */
export function cactPath(generation, name = "tiny") {
  return path.join(ROOT, "tests/fixtures", generation, `${name}.cact`);
}

export function cactBytes(generation, name = "tiny") {
  return new Uint8Array(readFileSync(cactPath(generation, name)));
}

/**
 * Answers of the native Rust engine for this checkout, recorded by
 * python/tests/record_fixtures.py (python/examples/record_fixtures.rs): `{req, resp}` each,
 * `req.preset` "v3-tiny" / "v2-tiny" for the .cact fixtures.
 */
export function nativeCases() {
  return readFileSync(path.join(ROOT, "python/tests/fixtures/engine_cases.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}
