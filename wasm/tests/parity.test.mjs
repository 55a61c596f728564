// The wasm build must generate exactly the token ids the native engine does (the
// recorded `ref_ids`, which the native engine reproduces) on a sample of the parity cases.
import { test } from "node:test";
import assert from "node:assert/strict";
import { engine, parityCases } from "./common.mjs";

const cases = parityCases();
const byPreset = new Map();
for (const c of cases) {
  if (!byPreset.has(c.preset)) byPreset.set(c.preset, []);
  byPreset.get(c.preset).push(c);
}
// Every tiny-* case, every 4th `small` case, the first 3 `full` ones (set
// NEEDLE_WASM_PARITY=all for the whole file).
const all = process.env.NEEDLE_WASM_PARITY === "all";
function sample(preset, list) {
  if (all) return list;
  if (preset === "small") return list.filter((_, i) => i % 4 === 0);
  if (preset === "full") return list.slice(0, 3);
  return list;
}

for (const [preset, list] of byPreset) {
  const picked = sample(preset, list);
  test(`parity with native: ${preset} (${picked.length} of ${list.length} cases)`, async () => {
    const e = await engine(preset);
    const failures = [];
    for (const c of picked) {
      const r = e.run(c.query, c.tools);
      assert.equal(r.encoderTokens, c.enc_ids.length, `case ${c.id}: encoder input length`);
      if (JSON.stringify(r.tokenIds) !== JSON.stringify(c.ref_ids)) {
        failures.push(`case ${c.id}: wasm ${JSON.stringify(r.tokenIds)} != native ${JSON.stringify(c.ref_ids)}`);
      } else if (c.ref_text !== undefined) {
        assert.equal(r.text, c.ref_text, `case ${c.id}: text differs`);
      }
    }
    assert.deepEqual(failures, [], `${failures.length} of ${picked.length} ${preset} cases differ`);
  });
}
