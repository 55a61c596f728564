/* libneedle from C: load a model, answer a query, stream it, handle an error.
 *   needle_demo <needle.safetensors> <vocab.txt> "<query>" '<tools JSON>'   */
#include <needle.h>
#include <stdio.h>
#include <string.h>

static bool print_piece(uint32_t token_id, const char *piece, void *user_data) {
  int *count = (int *)user_data;
  (*count)++;
  printf("[%u:%s]", token_id, piece ? piece : "");
  return true; /* keep going; return false to stop early */
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s <needle.safetensors> <vocab.txt> <query> <tools-json>\n", argv[0]);
    return 2;
  }
  printf("libneedle %s\n", needle_version());
  needle_engine *engine = needle_load(argv[1], argv[2]);
  if (!engine) {
    fprintf(stderr, "load failed (%s): %s\n", needle_status_str(needle_last_status()), needle_last_error());
    return 1;
  }

  char *answer = needle_run(engine, argv[3], argv[4]);
  if (!answer) {
    fprintf(stderr, "run failed: %s\n", needle_last_error());
    needle_free(engine);
    return 1;
  }
  printf("answer: %s\n", answer);

  int tokens = 0;
  printf("stream: ");
  char *streamed = needle_run_stream(engine, argv[3], argv[4], NULL, print_piece, &tokens);
  printf("\nstreamed %d tokens, same answer: %s\n", tokens,
         streamed && strcmp(answer, streamed) == 0 ? "yes" : "no");
  needle_free_str(streamed);
  needle_free_str(answer);

  /* Errors never crash: they return NULL and leave a message for this thread. */
  char *bad = needle_run(engine, argv[3], "[{\"name\": 42}]");
  if (!bad) {
    printf("error handled: %s: %s\n", needle_status_str(needle_last_status()), needle_last_error());
  }
  needle_free(engine);
  return 0;
}
