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
