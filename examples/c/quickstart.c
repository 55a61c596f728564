/* The README's C example. From the repository root:
 *   cc examples/c/quickstart.c $(pkg-config --cflags --libs needle) -o quickstart && ./quickstart */
#include <needle.h>
#include <stdio.h>

int main(void) {
  /* The demo model bundled in models/needle-demo/ (memory-mapped). */
  needle_engine *e = needle_load("models/needle-demo/needle.safetensors", "models/needle-demo/vocab.txt");
  if (!e) { fprintf(stderr, "%s\n", needle_last_error()); return 1; }
  const char *tools_json = "[{\"name\":\"get_weather\",\"parameters\":{\"city\":{\"type\":\"string\"}}}]";

  char *json = needle_run(e, "What's the weather in Paris?", tools_json);
  if (json) { puts(json); needle_free_str(json); } /* [{"name":"get_weather","arguments":{"city":"Paris"}}] */
  else fprintf(stderr, "%s\n", needle_last_error());

  /* Errors never crash: NULL, a status and a message for this thread. */
  if (!needle_run(e, "hi", "[{\"name\": 42}]"))
    printf("status %d (%s): %s\n", needle_last_status(), needle_status_str(needle_last_status()), needle_last_error());
  needle_free(e);

  /* Needle v2/v3: a .cact carries its tokenizer (vocab NULL); the generation is read from the
   * file. Here the repository's small random-weight v3 test file (gibberish text, real fields);
   * the published needle3.cact answers for real. */
  needle_engine *v3 = needle_load("tests/fixtures/v3/tiny.cact", NULL);
  if (!v3) { fprintf(stderr, "%s\n", needle_last_error()); return 1; }
  needle_options *o = needle_options_new();
  needle_options_set_max_new_tokens(o, 16);
  needle_options_set_system(o, "You call tools.");
  /* Structured result: calls, text, token_ids, prompt_tokens, stop, reasoning, confidence, ... */
  char *res = needle_run_json(v3, "What's the weather in Paris?", tools_json, o);
  if (res) { printf("generation %u: %s\n", needle_generation(v3), res); needle_free_str(res); }
  float p;
  if (needle_confidence(v3, "What's the weather in Paris?", tools_json,
                        "[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}]", o, &p) == NEEDLE_OK)
    printf("confidence %.4f\n", p);
  needle_options_free(o);
  needle_free(v3);

  /* The v3 ladder: keep 2 of the file's blocks (smaller, faster). */
  needle_load_options *lo = needle_load_options_new();
  needle_load_options_set_depth(lo, 2);
  needle_engine *small = needle_load_with("tests/fixtures/v3/tiny.cact", NULL, lo);
  needle_load_options_free(lo);
  if (small) { printf("ladder: generation %u\n", needle_generation(small)); needle_free(small); }
  return 0;
}
