#!/usr/bin/env bash
# Makes a stand-in for *another* library installed as libneedle (Cactus's closed engine ships
# a libneedle.so and a needle.h with needle_load/needle_init/needle_complete of other
# signatures) under $1: include/needle.h, lib/libneedle.so and lib/pkgconfig/needle.pc.
# tools/test_c.sh and tools/test_go.sh check that CMake and the Go package refuse it.
set -euo pipefail
dir=$1
rm -rf "$dir" && mkdir -p "$dir/include" "$dir/lib/pkgconfig"
cat >"$dir/include/needle.h" <<'H'
/* Not libneedle's header: same file name, another API. */
typedef struct needle_ctx needle_ctx;
needle_ctx *needle_init(const char *model_dir);
needle_ctx *needle_load(const char *path, int flags);
int needle_complete(needle_ctx *ctx, const char *prompt, char *out, int out_len);
H
cat >"$dir/foreign.c" <<'C'
#include <needle.h>
needle_ctx *needle_init(const char *d) { (void)d; return 0; }
needle_ctx *needle_load(const char *p, int f) { (void)p; (void)f; return 0; }
int needle_complete(needle_ctx *c, const char *p, char *o, int n) { (void)c; (void)p; (void)o; return n; }
C
cc -shared -fPIC -I"$dir/include" "$dir/foreign.c" -o "$dir/lib/libneedle.so"
cat >"$dir/lib/pkgconfig/needle.pc" <<PC
prefix=$dir
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: needle
Description: another engine that is also called libneedle
Version: 1.0.0
Libs: -L\${libdir} -lneedle
Cflags: -I\${includedir}
PC
