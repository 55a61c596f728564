#!/usr/bin/env bash
# Stripped sizes of every artefact, for all generations and for Needle v3 alone (cargo
# features `v1`, `v2`, `v3`; "v3 alone" leaves out `strict` too), built as they ship: the CLI and the C library with the `dist`
# profile (fat LTO, one codegen unit, stripped; the C library keeps its panic guard), the
# wasm module with wasm/'s `release` profile (opt-level 3, LTO, panic = "abort") and its
# `size` profile (opt-level "z"), through wasm-bindgen and, where installed, wasm-opt.
# Checks the target: the v3-alone wasm module (size profile, wasm-opt -Oz) at most 300,000
# bytes raw. wasm-opt is binaryen's, from PATH or wasm/node_modules (wasm/package.json pins it).
# From the repository root:
#   bash tools/footprint.sh            # every artefact (several minutes: fat-LTO builds)
#   bash tools/footprint.sh --wasm     # the four wasm modules only
#   bash tools/footprint.sh --check    # only the v3-alone size module and its limit (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
LIMIT=300000
OUT=target/footprint
mkdir -p "$OUT"
rows=()
row() { rows+=("$(printf '%-44s %10s %10s' "$1" "$2" "$3")"); }
gz() { gzip -9c "$1" | wc -c | tr -d ' '; }

mode=${1:-all}
if [ "$mode" = all ]; then
    for set in "v1,v2,v3,strict" "v3"; do
        d=target/footprint/native-${set//,/-}
        cargo build --quiet --profile dist --no-default-features --features "$set" --bin needle --target-dir "$d"
        cargo rustc --quiet --profile dist --no-default-features --features "capi,$set" --lib --crate-type cdylib --target-dir "$d"
        cargo rustc --quiet --profile dist --no-default-features --features "capi,$set" --lib --crate-type staticlib --target-dir "$d"
        cp "$d/dist/libneedle.a" "$OUT/libneedle-${set//,/-}.a" && strip --strip-debug "$OUT/libneedle-${set//,/-}.a"
        row "needle CLI ($set)" "$(wc -c <"$d/dist/needle")" "$(gz "$d/dist/needle")"
        row "libneedle.so ($set)" "$(wc -c <"$d/dist/libneedle.so")" "$(gz "$d/dist/libneedle.so")"
        row "libneedle.a ($set, debug info stripped)" "$(wc -c <"$OUT/libneedle-${set//,/-}.a")" "$(gz "$OUT/libneedle-${set//,/-}.a")"
    done
fi

WB_VERSION=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' wasm/Cargo.toml)
[ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" = "$WB_VERSION" ] \
    || { echo "footprint: wasm-bindgen-cli $WB_VERSION is needed (tools/test_wasm.sh installs it)" >&2; exit 1; }
opt=""
command -v wasm-opt >/dev/null 2>&1 && opt=wasm-opt
[ -z "$opt" ] && [ -x wasm/node_modules/.bin/wasm-opt ] && opt=wasm/node_modules/.bin/wasm-opt
[ -n "$opt" ] || { echo "footprint: wasm-opt is needed (cd wasm && npm ci installs binaryen)" >&2; exit 1; }
v3_size=""
builds=("v1,v2,v3,strict release" "v1,v2,v3,strict size" "v3,strict size" "v3 release" "v3 size")
[ "$mode" = --check ] && builds=("v3 size")
for b in "${builds[@]}"; do
    set=${b% *} prof=${b#* }
    {
        tdir=target/fp-${set//,/-}
        (cd wasm && RUSTFLAGS="-C target-feature=+simd128" CARGO_TARGET_DIR="$tdir" \
            cargo build --quiet --profile "$prof" --locked --target wasm32-unknown-unknown --no-default-features --features "$set")
        w=$OUT/wasm-${set//,/-}-$prof
        rm -rf "$w"
        wasm-bindgen "wasm/$tdir/wasm32-unknown-unknown/$prof/libneedle_wasm.wasm" --target web --out-dir "$w" \
            --out-name libneedle_wasm --no-typescript --remove-name-section --remove-producers-section
        f=$w/libneedle_wasm_bg.wasm
        lvl=-O3; [ "$prof" = size ] && lvl=-Oz
        "$opt" "$lvl" --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
            --enable-mutable-globals --enable-multivalue --enable-reference-types "$f" -o "$f"
        row "wasm SIMD128 ($set, $prof, wasm-opt $lvl)" "$(wc -c <"$f")" "$(gz "$f")"
        [ "$set" = v3 ] && [ "$prof" = size ] && v3_size=$(wc -c <"$f")
        if [ "$set" = v3 ] && [ "$prof" = size ]; then
            # The small module works: a v3 file gives the native build's ids, a v1 file the
            # error that names the left-out feature.
            wasm-bindgen "wasm/$tdir/wasm32-unknown-unknown/$prof/libneedle_wasm.wasm" --target nodejs --out-dir "$w/node" \
                --out-name libneedle_wasm --no-typescript
            cp "$f" "$w/node/libneedle_wasm_bg.wasm"
            echo '{ "type": "commonjs" }' > "$w/node/package.json"
            [ -x target/release/needle ] || cargo build --release --quiet --bin needle
            tools='[{"name":"get_weather","description":"Current weather for a city","parameters":{"city":{"type":"string"}}}]'
            q="What's the weather in Paris?"
            native=$(target/release/needle run --weights tests/fixtures/v3/tiny.cact --tools-json "$tools" --max-tokens 24 --json "$q" \
                | python3 -c 'import json,sys; print(json.load(sys.stdin)["token_ids"])')
            small=$(node -e '
const m = require(process.argv[1]), fs = require("fs");
const e = new m.RawEngine(fs.readFileSync("tests/fixtures/v3/tiny.cact"), undefined, undefined);
console.log(JSON.stringify(JSON.parse(e.run(process.argv[2], process.argv[3], 24)).token_ids).replace(/,/g, ", "));
let msg = "";
try { new m.RawEngine(fs.readFileSync("models/needle-demo/needle.safetensors"), fs.readFileSync("models/needle-demo/vocab.txt", "utf8"), undefined); }
catch (err) { msg = String(err.message || err); }
if (!msg.includes("cargo feature `v1`")) { console.error("v1 file not refused with the feature named: " + msg); process.exit(1); }
' "$PWD/$w/node/libneedle_wasm.js" "$q" "$tools")
            [ "$small" = "$native" ] || { echo "FAILED: the v3-alone wasm module gave $small, native $native"; exit 1; }
            echo "ok: the v3-alone wasm module (size profile) gives the native ids $native and refuses a v1 file naming the feature"
        fi
    }
done

if [ "$mode" != --check ]; then
    # What the size profile costs: one v3 answer (examples/tools.json, 32 new tokens) on the
    # published geometry, Node.js, each module's best of 3 runs, the same ids from both.
    V3=target/test-models/needle3-full.cact
    [ -f "$V3" ] || python3 tools/make_cact.py "$V3" $(python3 -c 'import sys; sys.path.insert(0, "tools"); from record_v3_needle_rs import FULL_ARGS; print(" ".join(FULL_ARGS))') >/dev/null
    for prof in release size; do
        w=$OUT/wasm-v3-$prof
        wasm-bindgen "wasm/target/fp-v3/wasm32-unknown-unknown/$prof/libneedle_wasm.wasm" --target nodejs --out-dir "$w/node" \
            --out-name libneedle_wasm --no-typescript
        cp "$w/libneedle_wasm_bg.wasm" "$w/node/libneedle_wasm_bg.wasm"
        echo '{ "type": "commonjs" }' > "$w/node/package.json"
        node -e '
const m = require(process.argv[1]), fs = require("fs");
const e = new m.RawEngine(fs.readFileSync(process.argv[2]), undefined, undefined);
const tools = fs.readFileSync("examples/tools.json", "utf8");
let best = Infinity, ids = "";
for (let i = 0; i < 3; i++) {
  const t = process.hrtime.bigint();
  const r = JSON.parse(e.run("What is the weather in Paris?", tools, 32));
  best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e6);
  ids = JSON.stringify(r.token_ids);
}
console.log(`wasm v3 ${process.argv[3]}: ${best.toFixed(0)} ms for a ${JSON.parse(e.run("What is the weather in Paris?", tools, 1)).prompt_tokens}-token prompt + 32 tokens; ids ${ids.length > 60 ? ids.slice(0, 60) + "…" : ids}`);
' "$PWD/$w/node/libneedle_wasm.js" "$V3" "$prof"
    done
fi

printf '%-44s %10s %10s\n' "artefact" "raw B" "gzip -9 B"
printf '%s\n' "${rows[@]}"
if [ "$v3_size" -le "$LIMIT" ]; then
    echo "ok: the Needle v3 wasm module (size profile) is $v3_size B <= $LIMIT B"
else
    echo "FAILED: the Needle v3 wasm module (size profile) is $v3_size B > $LIMIT B"; exit 1
fi
