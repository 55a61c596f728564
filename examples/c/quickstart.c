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
  return 0;
}
