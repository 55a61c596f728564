#!/usr/bin/env bash
# C ABI checks: header drift, header compiles alone (C11, C++17), `cargo cinstall` into a
# temporary prefix, examples built with pkg-config (shared and static) and run, the C test
# suite, valgrind memcheck, and the CMake/CTest build against the installed library.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$ROOT/target/c-tests
MODELS=$ROOT/target/test-models
VOCAB=$ROOT/tests/fixtures/vocab/vocab.txt
TOOLS_JSON='[{"name":"getWeather","parameters":{"city":{"type":"string"}}}]'
rm -rf "$WORK" && mkdir -p "$WORK"
pass=0
fail=0
ok() { echo "  ok: $*"; pass=$((pass + 1)); }
bad() { echo "  FAILED: $*"; fail=$((fail + 1)); }

for m in tiny tiny-head; do
  [ -f "$MODELS/$m.safetensors" ] || python3 tools/make_model.py --preset "$m" --out "$MODELS/$m.safetensors"
done

# 1. The committed header is exactly what cbindgen generates now.
cbindgen --quiet --config cbindgen.toml --crate libneedle --output "$WORK/needle.h"
if diff -u include/needle.h "$WORK/needle.h"; then ok "include/needle.h matches cbindgen"; else bad "include/needle.h drifted: regenerate with cbindgen --config cbindgen.toml --crate libneedle --output include/needle.h"; fi

# Every name the header declares carries the needle_/NEEDLE_ prefix.
leaks=$(grep -oE '^(#define [A-Za-z_0-9]+|[a-z_ ]*\b[a-z_0-9]+\()' include/needle.h | grep -vE 'NEEDLE_|needle_' || true)
if [ -z "$leaks" ]; then ok "all header names are prefixed"; else bad "unprefixed names in needle.h: $leaks"; fi

# 2. The header compiles on its own.
printf '#include <needle.h>\nint main(void) { return NEEDLE_OK; }\n' > "$WORK/h.c"
cp "$WORK/h.c" "$WORK/h.cpp"
if gcc -std=c11 -Wall -Wextra -Werror -pedantic -Iinclude -c "$WORK/h.c" -o "$WORK/h.o"; then ok "header alone as C11"; else bad "header alone as C11"; fi
if g++ -std=c++17 -Wall -Wextra -Werror -pedantic -Iinclude -c "$WORK/h.cpp" -o "$WORK/hpp.o"; then ok "header alone as C++17"; else bad "header alone as C++17"; fi

# 3. Install with cargo-c.
if [ -n "${NEEDLE_PREFIX:-}" ]; then
  PREFIX=$NEEDLE_PREFIX # installed once by tools/test.sh
else
  PREFIX=$WORK/prefix
  cargo cinstall --release --prefix "$PREFIX" --libdir "$PREFIX/lib" >"$WORK/cinstall.log" 2>&1 || { cat "$WORK/cinstall.log"; exit 1; }
fi
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
for f in lib/libneedle.so lib/libneedle.a lib/pkgconfig/needle.pc include/needle.h; do
  if [ -e "$PREFIX/$f" ]; then ok "installed $f"; else bad "missing $PREFIX/$f"; fi
done
if cmp -s include/needle.h "$PREFIX/include/needle.h"; then ok "installed header is the committed one"; else bad "installed header differs"; fi
ls -la "$PREFIX/lib" | sed 's/^/    /'

# 4. Examples against the install: shared and static.
run_demo() { # binary, label
  local out
  if out=$("$1" "$MODELS/tiny.safetensors" "$VOCAB" "What's the weather in Paris?" "$TOOLS_JSON" 2>&1) &&
    grep -q "same answer: yes" <<<"$out" && grep -q "error handled: invalid tools JSON" <<<"$out"; then
    ok "$2"
  else
    bad "$2"; echo "$out" | tail -5
  fi
}
gcc -std=c11 -Wall -Wextra -Werror examples/c/needle_demo.c $(pkg-config --cflags --libs needle) -o "$WORK/demo_shared"
LD_LIBRARY_PATH=$PREFIX/lib run_demo "$WORK/demo_shared" "C example, shared library via pkg-config"
# Static: the same pkg-config flags with --static, asking the linker for libneedle.a.
gcc -std=c11 -Wall -Wextra -Werror examples/c/needle_demo.c $(pkg-config --cflags needle) \
  $(pkg-config --static --libs needle | sed 's/-lneedle/-Wl,-Bstatic -lneedle -Wl,-Bdynamic/') -o "$WORK/demo_static"
if ldd "$WORK/demo_static" | grep -q libneedle; then bad "static demo still links libneedle.so"; else ok "static demo has no libneedle.so dependency"; fi
run_demo "$WORK/demo_static" "C example, static library via pkg-config --static"
g++ -std=c++17 -Wall -Wextra -Werror examples/cpp/needle_demo.cpp $(pkg-config --cflags --libs needle) -o "$WORK/demo_cpp"
LD_LIBRARY_PATH=$PREFIX/lib run_demo "$WORK/demo_cpp" "C++ example, shared library"

# A real tool call on the bundled demo model.
demo_out=$(LD_LIBRARY_PATH=$PREFIX/lib "$WORK/demo_shared" models/needle-demo/needle.safetensors models/needle-demo/vocab.txt \
  "What's the weather in Paris?" "$(cat examples/tools.json)" 2>&1 || true)
if grep -qF 'answer: [{"name":"get_weather","arguments":{"city":"Paris"}}]' <<<"$demo_out"; then
  ok "C example answers with the bundled demo model"
else
  bad "C example on the bundled demo model"; echo "$demo_out" | tail -5
fi

# The README's C example (examples/c/quickstart.c, printed verbatim in README.md), built and run
# with the README's commands from the repository root.
if python3 tools/check_readme.py examples/c/quickstart.c | sed 's/^  //'; then ok "README prints examples/c/quickstart.c"; else bad "README block of examples/c/quickstart.c"; fi
rm -f quickstart
if cc examples/c/quickstart.c $(pkg-config --cflags --libs needle) -Wl,-rpath,"$(pkg-config --variable=libdir needle)" -o quickstart &&
  qs_out=$(./quickstart 2>&1) && rm -f quickstart &&
  grep -qxF '[{"name":"get_weather","arguments":{"city":"Paris"}}]' <<<"$qs_out" &&
  grep -qF 'status 5 (invalid tools JSON): invalid tools JSON: tools[0].name' <<<"$qs_out" &&
  grep -qE '^generation 3: \{"calls":.*"reasoning":.*"confidence":0\.[0-9]' <<<"$qs_out" &&
  grep -qE '^confidence 0\.[0-9]{4}$' <<<"$qs_out" && grep -qxF 'ladder: generation 3' <<<"$qs_out"; then
  ok "README C example answers with the bundled demo model and the v3 test file (rpath, no LD_LIBRARY_PATH)"
else
  bad "README C example"; echo "${qs_out:-}" | tail -5; rm -f quickstart
fi

# 5. The C test suite, then under valgrind.
gcc -std=c11 -Wall -Wextra -Werror -g tests/c/test_capi.c $(pkg-config --cflags --libs needle) -lpthread -o "$WORK/test_capi"
ARGS=("$MODELS/tiny.safetensors" "$MODELS/tiny-head.safetensors" "$VOCAB" tests/fixtures/v3/tiny.cact tests/fixtures/v2/tiny.cact)
echo "  C API tests:"
if LD_LIBRARY_PATH=$PREFIX/lib "$WORK/test_capi" "${ARGS[@]}" | sed 's/^/    /'; then ok "C API test suite"; else bad "C API test suite"; fi
if LD_LIBRARY_PATH=$PREFIX/lib valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
  "$WORK/test_capi" "${ARGS[@]}" >"$WORK/valgrind.out" 2>&1; then
  ok "valgrind memcheck: no errors, no definite leaks"
else
  bad "valgrind memcheck"; tail -30 "$WORK/valgrind.out"
fi

# The C example under valgrind as well (the issue asks for the suite and the examples).
if LD_LIBRARY_PATH=$PREFIX/lib valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
  "$WORK/demo_shared" models/needle-demo/needle.safetensors models/needle-demo/vocab.txt \
  "What's the weather in Paris?" "$(cat examples/tools.json)" >"$WORK/valgrind-demo.out" 2>&1; then
  ok "valgrind memcheck of the C example: no errors, no definite leaks"
else
  bad "valgrind memcheck of the C example"; tail -30 "$WORK/valgrind-demo.out"
fi

# 6. CMake + CTest against the installed library (pkg-config → needle::needle).
if cmake -S . -B "$WORK/cmake" -DNEEDLE_TEST_MODELS="$MODELS" >"$WORK/cmake.log" 2>&1 &&
  cmake --build "$WORK/cmake" -j2 >>"$WORK/cmake.log" 2>&1; then
  ok "CMake build against the install"
  if (cd "$WORK/cmake" && LD_LIBRARY_PATH=$PREFIX/lib ctest --output-on-failure 2>&1 | tee -a "$WORK/cmake.log" | sed 's/^/    /'); then ok "CTest"; else bad "CTest"; fi
else
  bad "CMake build"; tail -20 "$WORK/cmake.log"
fi

# 7. Name clash: another library installed as libneedle/needle.h (Cactus's closed engine) is
# refused by CMake at configure time, with a message naming the clash.
bash tools/make_foreign_needle.sh "$WORK/foreign"
if PKG_CONFIG_PATH=$WORK/foreign/lib/pkgconfig cmake -S . -B "$WORK/cmake-foreign" >"$WORK/cmake-foreign.log" 2>&1; then
  bad "CMake accepted a foreign needle.h/libneedle"
elif tr -s ' \n' '  ' <"$WORK/cmake-foreign.log" | grep -q "are not this project's libneedle"; then
  ok "CMake refuses a foreign needle.h/libneedle found through pkg-config"
else
  bad "CMake failed on a foreign libneedle without naming the clash"; tail -10 "$WORK/cmake-foreign.log"
fi

echo "C ABI checks: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
