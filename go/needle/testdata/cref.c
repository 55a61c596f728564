/* Reference outputs straight from the C API, for the Go tests. Usage:
 *   cref <weights> <vocab|-> [depth]  < cases
 * ("-": no vocabulary, NULL, for a .cact; depth: load with needle_load_with and that
 * depth.) Each input line is one of
 *   "max_new_tokens<TAB>constrained<TAB>query<TAB>tools[<TAB>system]"
 *       (max_new_tokens -1: default options, no system prompt) -> needle_run_json's result
 *   "#config"                                -> needle_config_json
 *   "#generation"                            -> needle_generation
 *   "#confidence<TAB>query<TAB>tools<TAB>completion[<TAB>system]"
 *       -> needle_confidence's float as 8 hex digits (its bits)
 * and each output line is that, or "ERROR <status> <message>". */
#include <needle.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXF 6

static void error_line(void) { printf("ERROR %d %s\n", (int)needle_last_status(), needle_last_error()); }

int main(int argc, char **argv) {
  if (argc != 3 && argc != 4) return 2;
  const char *vocab = strcmp(argv[2], "-") == 0 ? NULL : argv[2];
  needle_engine *e;
  if (argc == 4) {
    needle_load_options *lo = needle_load_options_new();
    needle_load_options_set_depth(lo, (uint32_t)atoi(argv[3]));
    e = needle_load_with(argv[1], vocab, lo);
    needle_load_options_free(lo);
  } else {
    e = needle_load(argv[1], vocab);
  }
  if (!e) {
    fprintf(stderr, "load: %s\n", needle_last_error());
    return 1;
  }
  static char line[1 << 20];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    char *field[MAXF] = {line}; /* split at tabs, empty fields kept */
    for (int i = 1; i < MAXF; i++) {
      char *tab = field[i - 1] ? strchr(field[i - 1], '\t') : NULL;
      if (tab) *tab = 0, field[i] = tab + 1;
    }
    if (strcmp(field[0], "#config") == 0) {
      char *c = needle_config_json(e);
      if (c) printf("%s\n", c);
      else error_line();
      needle_free_str(c);
      continue;
    }
    if (strcmp(field[0], "#generation") == 0) {
      printf("%u\n", needle_generation(e));
      continue;
    }
    if (strcmp(field[0], "#confidence") == 0) {
      if (!field[3]) return 3;
      needle_options *o = NULL;
      if (field[4]) {
        o = needle_options_new();
        needle_options_set_system(o, field[4]);
      }
      float p = 0;
      if (needle_confidence(e, field[1], field[2], field[3], o, &p) == NEEDLE_OK) {
        unsigned int bits;
        memcpy(&bits, &p, sizeof bits);
        printf("%08x\n", bits);
      } else {
        error_line();
      }
      needle_options_free(o);
      continue;
    }
    char *max = field[0], *con = field[1], *q = field[2], *t = field[3], *sys = field[4];
    if (!t) return 3;
    needle_options *o = NULL;
    if (atoi(max) >= 0) {
      o = needle_options_new();
      needle_options_set_max_new_tokens(o, (uint32_t)atoi(max));
      needle_options_set_constrained(o, atoi(con) != 0);
      if (sys) needle_options_set_system(o, sys);
    }
    char *r = needle_run_json(e, q, t, o);
    if (r) printf("%s\n", r);
    else error_line();
    needle_free_str(r);
    needle_options_free(o);
  }
  needle_free(e);
  return 0;
}
