/* Reference outputs straight from the C API, for the Go tests. Usage:
 *   cref <weights> <vocab>  < cases
 * Each input line is "max_new_tokens<TAB>constrained<TAB>query<TAB>tools" (max_new_tokens
 * -1: default options); each output line is needle_run_json's result, or
 * "ERROR <status> <message>". */
#include <needle.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  needle_engine *e = needle_load(argv[1], argv[2]);
  if (!e) {
    fprintf(stderr, "load: %s\n", needle_last_error());
    return 1;
  }
  static char line[1 << 20];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    char *field[4] = {line, NULL, NULL, NULL}; /* split at tabs, empty fields kept */
    for (int i = 1; i < 4; i++) {
      char *tab = field[i - 1] ? strchr(field[i - 1], '\t') : NULL;
      if (tab) *tab = 0, field[i] = tab + 1;
    }
    char *max = field[0], *con = field[1], *q = field[2], *t = field[3];
    if (!t) return 3;
    needle_options *o = NULL;
    if (atoi(max) >= 0) {
      o = needle_options_new();
      needle_options_set_max_new_tokens(o, (uint32_t)atoi(max));
      needle_options_set_constrained(o, atoi(con) != 0);
    }
    char *r = needle_run_json(e, q, t, o);
    if (r) printf("%s\n", r);
    else printf("ERROR %d %s\n", (int)needle_last_status(), needle_last_error());
    needle_free_str(r);
    needle_options_free(o);
  }
  needle_free(e);
  return 0;
}
