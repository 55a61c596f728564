#!/usr/bin/env bash
# Cargo features per model generation (`v1`, `v2`, `v3`) and strict mode (`strict`), all on
# by default: each
# generation builds alone without a warning; a build with v3 alone answers a v3 file with
# the same tokens as the full build, and refuses v1 and v2 files with an `Unsupported`
# error that names the missing feature. From the repository root, after the release build
# of the full CLI (tools/test.sh builds it first):
#   bash tools/test_features.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

for f in v1 v2 v3 v2,v3 v3,strict capi,v1 capi,v3; do
    out=$(cargo check --quiet --no-default-features --features "$f" --lib --bins --message-format short 2>&1) \
        || { echo "$out"; echo "FAILED: --features $f does not build"; exit 1; }
    if grep -q "warning\|error" <<<"$out"; then
        echo "$out"; echo "FAILED: --features $f builds with warnings"; exit 1
    fi
    echo "features $f: builds, no warnings"
done

full=target/release/needle
[ -x "$full" ] || cargo build --release --quiet --bin needle
cargo build --release --quiet --no-default-features --features v3 --bin needle --target-dir target/v3-only
only=target/v3-only/release/needle

tools='[{"name":"get_weather","description":"Current weather for a city","parameters":{"city":{"type":"string"}}}]'
for q in "What's the weather in Paris?" "Weather in Oslo tomorrow?"; do
    a=$("$full" run --weights tests/fixtures/v3/tiny.cact --tools-json "$tools" --max-tokens 24 --json "$q" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token_ids"])')
    b=$("$only" run --weights tests/fixtures/v3/tiny.cact --tools-json "$tools" --max-tokens 24 --json "$q" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token_ids"])')
    [ "$a" = "$b" ] || { echo "FAILED: v3-only build gave $b, the full build $a"; exit 1; }
    echo "v3 alone = full build on '$q': $a"
done

refuse() { # $1 = generation, then the CLI's model arguments
    local g=$1; shift
    set +e
    msg=$("$only" run "$@" --tools-json "$tools" "hi" 2>&1)
    rc=$?
    set -e
    [ $rc -ne 0 ] || { echo "FAILED: the v3-only build ran a v$g file"; exit 1; }
    grep -qF "built without the cargo feature \`v$g\`" <<<"$msg" \
        || { echo "FAILED: the v3-only build's error for a v$g file does not name the feature: $msg"; exit 1; }
    grep -qi "unsupported" <<<"$msg" || { echo "FAILED: not an Unsupported error: $msg"; exit 1; }
    echo "v3 alone refuses v$g: $msg"
}
refuse 1 --weights models/needle-demo/needle.safetensors --vocab models/needle-demo/vocab.txt
refuse 2 --weights tests/fixtures/v2/tiny.cact
set +e
msg=$("$only" run --weights tests/fixtures/v3/tiny.cact --tools-json "$tools" --strict "hi" 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] && grep -qF "built without the cargo feature \`strict\`" <<<"$msg" \
    || { echo "FAILED: the build without strict did not refuse --strict naming the feature: $msg"; exit 1; }
echo "v3 alone (no strict) refuses --strict: $msg"
