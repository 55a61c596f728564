#!/usr/bin/env bash
# Go wrapper checks (go/): `cargo cinstall` into a prefix under target/, pkg-config set up
# for cgo, the synthetic models generated, then go vet, go test -race, the suite under
# GOGC=1, the needle_static build tag (test suite and an example without libneedle.so),
# the example programs (v1 and a .cact), and the wrapper check (tools/check_wrappers.py: Go,
# Swift, Python and JavaScript against needle.h and the engine's lists, with its self-test).
# Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$ROOT/target/go-tests
PREFIX=$WORK/prefix
MODELS=$ROOT/target/test-models
VOCAB=$ROOT/tests/fixtures/vocab/vocab.txt
export PATH="$HOME/.cargo/bin:/usr/local/go/bin:$PATH"
mkdir -p "$WORK"
fail=0
step() { echo "== go: $*"; }
bad() { echo "  FAILED: $*"; fail=1; }

for m in tiny tiny-head small; do
  [ -f "$MODELS/$m.safetensors" ] || python3 tools/make_model.py --preset "$m" --out "$MODELS/$m.safetensors"
done

if [ -n "${NEEDLE_PREFIX:-}" ]; then
  PREFIX=$NEEDLE_PREFIX # installed once by tools/test.sh
else
  step "cargo cinstall into $PREFIX"
  rm -rf "$PREFIX"
  cargo cinstall --release --prefix "$PREFIX" --libdir "$PREFIX/lib" >"$WORK/cinstall.log" 2>&1 || { cat "$WORK/cinstall.log"; exit 1; }
fi
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
export LD_LIBRARY_PATH=$PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export NEEDLE_TEST_MODELS=$MODELS
export CGO_ENABLED=1
go version

cd "$ROOT/go"
# `go test` prints one summary line per package ("ok ..." / "FAIL ..."); keep those and
# any failure details, drop the per-test chatter of -v.
run_tests() { # label, go test args...
  local label=$1 log
  shift
  log=$WORK/$(echo "$label" | tr -c 'a-zA-Z0-9\n' '_').log
  if go test -count=1 "$@" ./... >"$log" 2>&1; then
    grep -E '^(ok|FAIL|---|PASS|\?)' "$log" | grep -vE '^(--- PASS|PASS$)' | sed 's/^/  /'
    echo "  ok: $label ($(grep -c '^--- PASS' "$log") tests passed, $(grep -c '^--- SKIP' "$log") skipped)"
  else
    sed 's/^/  /' "$log" | tail -60
    bad "$label"
  fi
}

step "gofmt and go vet"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then bad "gofmt: $unformatted"; else echo "  ok: gofmt"; fi
if go vet ./... && go vet -tags needle_static ./...; then echo "  ok: go vet"; else bad "go vet"; fi

step "go test -race"
run_tests "go test -race" -race -v
step "go test with GOGC=1"
GOGC=1 run_tests "GOGC=1 go test" -v
step "go test -tags needle_static (libneedle.a, no LD_LIBRARY_PATH)"
LD_LIBRARY_PATH= run_tests "go test -tags needle_static" -tags needle_static -v

step "examples"
TOOLS_JSON='[{"name":"getWeather","parameters":{"city":{"type":"string"}}}]'
check_demo() { # binary, label[, weights, vocab, generation]
  local out
  if out=$("$1" "${3:-$MODELS/tiny.safetensors}" "${4-$VOCAB}" "What's the weather in Paris?" "$TOOLS_JSON" 2>&1) &&
    grep -q "same answer: true" <<<"$out" && grep -q "batch: 2 answers" <<<"$out" &&
    grep -q "error handled: invalid tools JSON" <<<"$out" && grep -qx "generation: ${5:-1}" <<<"$out"; then
    echo "  ok: $2"
  else
    echo "$out" | tail -5; bad "$2"
  fi
}
go build -o "$WORK/needle-demo" ./examples/needle-demo
check_demo "$WORK/needle-demo" "example (shared libneedle)"
check_demo "$WORK/needle-demo" "example on a v3 .cact (no vocabulary)" "$ROOT/tests/fixtures/v3/tiny.cact" "" 3
check_demo "$WORK/needle-demo" "example on a v2 .cact (no vocabulary)" "$ROOT/tests/fixtures/v2/tiny.cact" "" 2
go build -tags needle_static -o "$WORK/needle-demo-static" ./examples/needle-demo
if ldd "$WORK/needle-demo-static" | grep -q libneedle; then bad "static example still links libneedle.so"; else echo "  ok: static example has no libneedle.so dependency"; fi
LD_LIBRARY_PATH= check_demo "$WORK/needle-demo-static" "example (static libneedle)"

step "README example (go/examples/quickstart, printed verbatim in README.md)"
if python3 "$ROOT/tools/check_readme.py" go/examples/quickstart/main.go examples/swift/quickstart.swift | sed 's/^  //'; then echo "  ok: README blocks"; else bad "README blocks"; fi
if qs_out=$(go run ./examples/quickstart 2>&1) &&
  [ "$(head -1 <<<"$qs_out")" = '[{"name":"get_weather","arguments":{"city":"Paris"}}]' ] &&
  grep -qF 'get_weather {"city":"Paris"}' <<<"$qs_out" && grep -qF '"city":"Lima"' <<<"$qs_out" &&
  grep -qF 'invalid tools JSON - invalid tools JSON: tools[0].name' <<<"$qs_out" &&
  grep -qE '^generation 3 stop [a-z_]+ confidence 0\.[0-9]+' <<<"$qs_out" &&
  grep -qE '^confidence of a given completion: 0\.[0-9]{3} <nil>$' <<<"$qs_out" &&
  grep -qxF 'a .cact takes no vocabulary' <<<"$qs_out"; then
  echo "  ok: go run ./examples/quickstart answers with the bundled demo model, and runs the v3 part"
else
  echo "$qs_out" | tail -5; bad "go run ./examples/quickstart"
fi

step "name clash: a foreign needle.h/libneedle (another engine of the same name) is refused at build time"
bash "$ROOT/tools/make_foreign_needle.sh" "$WORK/foreign"
# (CGO_CFLAGS differs from the other builds so that the build cache, whose key does not
# include pkg-config's output, cannot answer with the package built against libneedle.)
if foreign_out=$(PKG_CONFIG_PATH=$WORK/foreign/lib/pkgconfig CGO_CFLAGS="-O2 -g -DNEEDLE_FOREIGN_CHECK" go build -o /dev/null ./needle 2>&1); then
  bad "the Go package built against a foreign needle.h"
elif grep -q "this needle.h is not libneedle's" <<<"$foreign_out"; then
  echo "  ok: the Go package refuses a foreign needle.h"
else
  echo "$foreign_out" | tail -5; bad "the Go package failed on a foreign needle.h without naming the clash"
fi

cd "$ROOT"
step "wrapper check (Go, Swift, Python, JavaScript against needle.h and the engine's lists; Swift: static only)"
if python3 tools/check_wrappers.py --self-test; then echo "  ok: wrapper check"; else bad "wrapper check"; fi

if [ "$fail" -ne 0 ]; then echo "Go/Swift checks: FAILED"; exit 1; fi
echo "Go/Swift checks: all passed"
