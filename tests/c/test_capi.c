/* C tests of the libneedle ABI. Usage:
 *   test_capi <tiny.safetensors> <tiny-head.safetensors> <vocab.txt> <v3.cact> <v2.cact>
 * Prints one line per failed check and ends with "N passed, M failed". */
#define _POSIX_C_SOURCE 200809L
#include <needle.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed = 0, failed = 0;
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (cond) {                                                                \
      passed++;                                                                \
    } else {                                                                   \
      failed++;                                                                \
      fprintf(stderr, "FAIL %s:%d: %s (last error: %s)\n", __FILE__, __LINE__, \
              #cond, needle_last_error() ? needle_last_error() : "none");      \
    }                                                                          \
  } while (0)

static const char *W, *WH, *V, *C3, *C2;
static const char *TOOLS =
    "[{\"name\":\"getWeather\",\"description\":\"Weather for a "
    "city\",\"parameters\":{\"city\":{\"type\":\"string\"}}},"
    "{\"name\":\"send_message\",\"parameters\":{\"to\":{\"type\":\"string\"},"
    "\"body\":{\"type\":\"string\"}}}]";
static const char *QUERIES[4] = {"What's the weather in Paris?", "Text Bob that I am late",
                                 "Set a timer for ten minutes", "Weather in Tokyo, please"};

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (fread(buf, 1, (size_t)n, f) != (size_t)n) { fclose(f); free(buf); return NULL; }
  fclose(f);
  buf[n] = 0;
  *len = (size_t)n;
  return buf;
}

static int has(const char *s, const char *sub) { return s && sub && strstr(s, sub) != NULL; }

static void test_versions_and_status(void) {
  char buf[32];
  snprintf(buf, sizeof buf, "%d.%d.%d", NEEDLE_VERSION_MAJOR, NEEDLE_VERSION_MINOR, NEEDLE_VERSION_PATCH);
  CHECK(strcmp(needle_version(), buf) == 0);
  CHECK(NEEDLE_OK == 0);
  CHECK(strcmp(needle_status_str(NEEDLE_OK), "ok") == 0);
  CHECK(strcmp(needle_status_str(NEEDLE_ERR_INVALID_TOOLS), "invalid tools JSON") == 0);
  CHECK(strcmp(needle_status_str(12345), "unknown status") == 0);
  CHECK(strcmp(needle_status_str(-1), "unknown status") == 0);
}

static void test_null_arguments(needle_engine *e) {
  char *out;
  CHECK(needle_load(NULL, V) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(has(needle_last_error(), "weights_path"));
  CHECK(needle_load(W, NULL) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(has(needle_last_error(), "vocab_path"));
  CHECK(needle_load_bytes(NULL, 10, "x", 1) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_load_bytes((const uint8_t *)"x", 1, NULL, 1) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_run(NULL, "q", TOOLS) == NULL && has(needle_last_error(), "engine"));
  CHECK(needle_run(e, NULL, TOOLS) == NULL && has(needle_last_error(), "query"));
  CHECK(needle_run(e, "q", NULL) == NULL && has(needle_last_error(), "tools_json"));
  CHECK(needle_run_with(NULL, "q", TOOLS, NULL) == NULL);
  CHECK(needle_run_json(e, NULL, TOOLS, NULL) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_run_stream(e, "q", NULL, NULL, NULL, NULL) == NULL);
  CHECK(needle_config_json(NULL) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_options_set_max_new_tokens(NULL, 3) == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_options_set_constrained(NULL, false) == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_options_set_strict(NULL, true) == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(has(needle_last_error(), "opts"));
  CHECK(needle_options_set_threads(NULL, 1) == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_contrastive_dim(NULL) == 0);
  float f[4];
  CHECK(needle_encode_contrastive(NULL, "x", f, 4) == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_encode_contrastive(e, NULL, f, 4) == NEEDLE_ERR_INVALID_ARGUMENT);
  size_t idx[2], count = 99;
  float sc[2];
  const char *descs[2] = {"a", NULL};
  CHECK(needle_retrieve_tools(NULL, "q", descs, 1, 1, idx, sc, &count) == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_retrieve_tools(e, NULL, descs, 1, 1, idx, sc, &count) == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_retrieve_tools(e, "q", NULL, 1, 1, idx, sc, &count) == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_retrieve_tools(e, "q", descs, 2, 1, idx, sc, &count) == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_retrieve_tools(e, "q", descs, 1, 1, NULL, sc, &count) == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_retrieve_tools(e, "q", descs, 1, 1, idx, sc, NULL) == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(count == 99); /* never written on failure */
  const char *qs[1] = {"q"}, *ts[1] = {TOOLS};
  char *outs[1] = {NULL};
  CHECK(needle_run_batch(NULL, qs, ts, 1, NULL, outs) == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_run_batch(e, NULL, ts, 1, NULL, outs) == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_run_batch(e, qs, NULL, 1, NULL, outs) == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_run_batch(e, qs, ts, 1, NULL, NULL) == NEEDLE_ERR_INVALID_ARGUMENT);
  const char *qnull[1] = {NULL};
  CHECK(needle_run_batch(e, qnull, ts, 1, NULL, outs) == NEEDLE_ERR_INVALID_ARGUMENT && outs[0] == NULL);
  CHECK(needle_run_batch(e, NULL, NULL, 0, NULL, NULL) == NEEDLE_OK);
  needle_free(NULL);
  needle_free_str(NULL);
  needle_options_free(NULL);
  out = needle_run(e, "q", TOOLS);
  CHECK(out != NULL && needle_last_error() == NULL && needle_last_status() == NEEDLE_OK);
  needle_free_str(out);
}

static void test_invalid_utf8_and_tools(needle_engine *e) {
  const char bad[] = {'a', (char)0xff, 'b', 0};
  CHECK(needle_run(e, bad, TOOLS) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_UTF8);
  CHECK(has(needle_last_error(), "query"));
  CHECK(needle_run(e, "q", bad) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_UTF8);
  CHECK(needle_load(bad, V) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_UTF8);
  size_t wlen;
  char *w = read_file(W, &wlen);
  CHECK(needle_load_bytes((const uint8_t *)w, wlen, bad, 3) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_UTF8);
  free(w);
  CHECK(needle_run(e, "q", "[{\"name\":") == NULL && needle_last_status() == NEEDLE_ERR_INVALID_TOOLS);
  CHECK(has(needle_last_error(), "JSON"));
  CHECK(needle_run(e, "q", "[{\"description\":\"no name\"}]") == NULL && needle_last_status() == NEEDLE_ERR_INVALID_TOOLS);
  CHECK(has(needle_last_error(), "name"));
  char *out = needle_run(e, "", "");
  CHECK(out != NULL && strcmp(out, "") == 0);
  needle_free_str(out);
}

static void test_files(void) {
  CHECK(needle_load("/nonexistent/needle.safetensors", V) == NULL && needle_last_status() == NEEDLE_ERR_IO);
  CHECK(has(needle_last_error(), "/nonexistent/needle.safetensors"));
  CHECK(needle_load(W, "/nonexistent/vocab.txt") == NULL && needle_last_status() == NEEDLE_ERR_IO);
  CHECK(needle_load(V, V) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_WEIGHTS);
  size_t wlen, vlen;
  char *w = read_file(W, &wlen), *v = read_file(V, &vlen);
  CHECK(needle_load_bytes((const uint8_t *)w, wlen / 2, v, vlen) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_WEIGHTS);
  CHECK(needle_load_bytes((const uint8_t *)w, 0, v, vlen) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_WEIGHTS);
  w[9] = '#'; /* corrupt the header JSON */
  CHECK(needle_load_bytes((const uint8_t *)w, wlen, v, vlen) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_WEIGHTS);
  w[9] = '"';
  CHECK(needle_load_bytes((const uint8_t *)w, wlen, v, vlen / 2) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_VOCAB);
  needle_engine *e = needle_load_bytes((const uint8_t *)w, wlen, v, vlen);
  CHECK(e != NULL && needle_last_error() == NULL);
  needle_engine *e2 = needle_load(W, V);
  char *a = needle_run(e, QUERIES[0], TOOLS), *b = needle_run(e2, QUERIES[0], TOOLS);
  CHECK(a && b && strcmp(a, b) == 0);
  needle_free_str(a);
  needle_free_str(b);
  needle_free(e);
  needle_free(e2);
  free(w);
  free(v);
}

static void test_last_error_lifetime(needle_engine *e) {
  CHECK(needle_run(e, "q", "not json") == NULL);
  const char *msg = needle_last_error();
  char copy[512];
  CHECK(msg != NULL);
  snprintf(copy, sizeof copy, "%s", msg ? msg : "");
  /* Reading the error, the status, status strings and the version keep it. */
  (void)needle_last_status();
  (void)needle_status_str(3);
  (void)needle_version();
  CHECK(needle_last_error() == msg && strcmp(msg, copy) == 0);
  CHECK(needle_last_status() == NEEDLE_ERR_INVALID_TOOLS);
  /* The next call that can fail resets it. */
  char *out = needle_run(e, "q", TOOLS);
  CHECK(out != NULL && needle_last_error() == NULL && needle_last_status() == NEEDLE_OK);
  needle_free_str(out);
}

static void *other_thread(void *arg) {
  (void)arg;
  return (void *)needle_last_error();
}

static void test_error_is_thread_local(needle_engine *e) {
  CHECK(needle_run(e, "q", "[") == NULL);
  pthread_t t;
  void *seen = (void *)1;
  pthread_create(&t, NULL, other_thread, NULL);
  pthread_join(t, &seen);
  CHECK(seen == NULL);
  CHECK(needle_last_error() != NULL);
}

/* A JSON number after `"key":` in `json`, or -1. */
static double json_num(const char *json, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = json ? strstr(json, pat) : NULL;
  return p ? strtod(p + strlen(pat), NULL) : -1.0;
}

static void test_v1_result_fields(needle_engine *e) {
  char *j = needle_run_json(e, "What's the weather in Paris?", TOOLS, NULL);
  CHECK(j && has(j, "\"prompt_tokens\":") && has(j, "\"encoder_tokens\":") && has(j, "\"reasoning\":null") &&
        has(j, "\"confidence\":null") && has(j, "\"prompt_truncated\":false"));
  CHECK(json_num(j, "prompt_tokens") > 0 && json_num(j, "prompt_tokens") == json_num(j, "encoder_tokens"));
  needle_free_str(j);
  CHECK(needle_generation(e) == 1);
  CHECK(needle_generation(NULL) == 0 && needle_last_status() == NEEDLE_ERR_INVALID_ARGUMENT);
  char *cfg = needle_config_json(e);
  CHECK(cfg && has(cfg, "\"generation\":1") && has(cfg, "\"activation\":") && has(cfg, "\"head_dim\":") &&
        has(cfg, "\"confidence_head\":false"));
  needle_free_str(cfg);
  float p = 7.0f;
  CHECK(needle_confidence(e, "q", TOOLS, "<tool_call>[]", NULL, &p) == NEEDLE_ERR_UNSUPPORTED && p == 7.0f);
  CHECK(has(needle_last_error(), "no confidence head"));
}

/* Needle v2/v3 `.cact` files through the same functions: detection, vocab NULL, load
 * options, the system prompt, structured results, batch JSON, confidence. */
static void test_cact(void) {
  /* A .cact carries its tokenizer: a vocabulary with it is refused, and so is a v1 file without one. */
  CHECK(needle_load(C3, V) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_ARGUMENT &&
        has(needle_last_error(), "carries its own tokenizer"));
  CHECK(needle_load(W, NULL) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_ARGUMENT &&
        has(needle_last_error(), "vocab.txt"));
  needle_engine *e3 = needle_load(C3, NULL);
  CHECK(e3 != NULL);
  if (!e3) return;
  CHECK(needle_generation(e3) == 3);
  char *cfg = needle_config_json(e3);
  CHECK(cfg && has(cfg, "\"generation\":3") && has(cfg, "\"qk_head_dim\":") && has(cfg, "\"confidence_head\":true"));
  double layers = json_num(cfg, "num_layers");
  CHECK(layers >= 3);
  needle_free_str(cfg);

  const char *q = "What's the weather in Paris?";
  needle_options *o = needle_options_new();
  CHECK(needle_options_set_max_new_tokens(o, 6) == NEEDLE_OK);
  char *j = needle_run_json(e3, q, TOOLS, o);
  CHECK(j && has(j, "\"stop\":") && has(j, "\"prompt_truncated\":false") && has(j, "\"reasoning\":"));
  double conf = json_num(j, "confidence");
  CHECK(conf > 0.0 && conf < 1.0);
  double plain = json_num(j, "prompt_tokens");
  CHECK(plain > 10);
  needle_free_str(j);

  /* The system prompt adds a turn; NULL removes it again. */
  CHECK(needle_options_set_system(o, "You are a helpful assistant.") == NEEDLE_OK);
  j = needle_run_json(e3, q, TOOLS, o);
  CHECK(j && json_num(j, "prompt_tokens") > plain);
  needle_free_str(j);
  CHECK(needle_options_set_system(o, NULL) == NEEDLE_OK);
  j = needle_run_json(e3, q, TOOLS, o);
  CHECK(j && json_num(j, "prompt_tokens") == plain);
  needle_free_str(j);
  CHECK(needle_options_set_system(NULL, "x") == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_options_set_system(o, "\xff") == NEEDLE_ERR_INVALID_UTF8);

  /* Streaming and batch return the same structured result. */
  char *a = needle_run_json(e3, q, TOOLS, o);
  char *b = needle_run_stream_json(e3, q, TOOLS, o, NULL, NULL);
  CHECK(a && b && strcmp(a, b) == 0);
  const char *qs[2] = {q, "Text Bob that I am late"};
  const char *ts[2] = {TOOLS, TOOLS};
  char *outs[2] = {NULL, NULL};
  CHECK(needle_run_batch_json(e3, qs, ts, 2, o, outs) == NEEDLE_OK);
  CHECK(outs[0] && a && strcmp(outs[0], a) == 0 && outs[1] && has(outs[1], "\"prompt_tokens\":"));
  needle_free_str(outs[0]);
  needle_free_str(outs[1]);
  CHECK(needle_run_batch_json(e3, qs, ts, 2, o, NULL) == NEEDLE_ERR_INVALID_ARGUMENT &&
        has(needle_last_error(), "out_jsons"));
  needle_free_str(a);
  needle_free_str(b);

  /* Confidence of a given completion. */
  float p = -1.0f;
  CHECK(needle_confidence(e3, q, TOOLS, "<tool_call>[{\"name\":\"getWeather\",\"arguments\":{\"city\":\"Paris\"}}]</tool_call>",
                          NULL, &p) == NEEDLE_OK);
  CHECK(p > 0.0f && p < 1.0f);
  float p2 = -1.0f;
  CHECK(needle_confidence(e3, q, TOOLS, "<tool_call>[]</tool_call>", NULL, &p2) == NEEDLE_OK && p2 > 0.0f && p2 != p);
  CHECK(needle_confidence(e3, q, TOOLS, "x", NULL, NULL) == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_confidence(e3, NULL, TOOLS, "x", NULL, &p) == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_confidence(e3, q, "[{", "x", NULL, &p) == NEEDLE_ERR_INVALID_TOOLS);

  /* Load options: the v3 ladder depth. */
  needle_load_options *lo = needle_load_options_new();
  CHECK(lo != NULL);
  CHECK(needle_load_options_set_depth(lo, 2) == NEEDLE_OK);
  needle_engine *d2 = needle_load_with(C3, NULL, lo);
  CHECK(d2 != NULL);
  cfg = needle_config_json(d2);
  CHECK(cfg && json_num(cfg, "num_layers") == 2);
  needle_free_str(cfg);
  needle_free(d2);
  CHECK(needle_load_options_set_depth(lo, 1000) == NEEDLE_OK);
  CHECK(needle_load_with(C3, NULL, lo) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_load_options_set_depth(lo, 2) == NEEDLE_OK);
  CHECK(needle_load_with(W, V, lo) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_ARGUMENT &&
        has(needle_last_error(), "depth"));
  CHECK(needle_load_with(C2, NULL, lo) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_load_options_set_depth(NULL, 2) == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_load_options_set_depth(lo, 0) == NEEDLE_OK);
  d2 = needle_load_with(C3, NULL, lo);
  CHECK(d2 != NULL && needle_generation(d2) == 3);
  needle_free(d2);
  needle_load_options_free(lo);
  needle_load_options_free(NULL);

  /* From bytes, vocab NULL: the same answer as from the path. */
  size_t len = 0;
  char *bytes = read_file(C3, &len);
  CHECK(bytes != NULL);
  needle_engine *eb = bytes ? needle_load_bytes((const uint8_t *)bytes, len, NULL, 0) : NULL;
  free(bytes);
  CHECK(eb != NULL);
  a = needle_run_json(e3, q, TOOLS, o);
  b = eb ? needle_run_json(eb, q, TOOLS, o) : NULL;
  CHECK(a && b && strcmp(a, b) == 0);
  needle_free_str(a);
  needle_free_str(b);
  needle_free(eb);
  needle_free(e3);

  /* Needle v2. */
  needle_engine *e2 = needle_load(C2, NULL);
  CHECK(e2 != NULL && needle_generation(e2) == 2);
  if (e2) {
    j = needle_run_json(e2, q, TOOLS, o);
    CHECK(j && has(j, "\"prompt_tokens\":") && json_num(j, "confidence") > 0.0);
    needle_free_str(j);
    cfg = needle_config_json(e2);
    CHECK(cfg && has(cfg, "\"generation\":2") && has(cfg, "\"kv_window\":"));
    size_t dim = needle_contrastive_dim(e2);
    CHECK(dim > 0 && (double)dim == json_num(cfg, "contrastive_dim"));
    needle_free_str(cfg);
    const char *descs[2] = {"weather forecast", "send an email"};
    size_t idx[2], count = 0;
    float sc[2];
    CHECK(needle_retrieve_tools(e2, "weather in Rome", descs, 2, 2, idx, sc, &count) == NEEDLE_OK && count == 2);
    needle_free(e2);
  }
  needle_options_free(o);
}

typedef struct {
  int count;
  int stop_after;
  uint32_t ids[64];
  char text[4096];
} stream_state;

static bool on_token(uint32_t id, const char *piece, void *user_data) {
  stream_state *s = (stream_state *)user_data;
  if (s->count < 64) s->ids[s->count] = id;
  s->count++;
  if (piece) strncat(s->text, piece, sizeof s->text - strlen(s->text) - 1);
  return s->stop_after == 0 || s->count < s->stop_after;
}

static void test_streaming(needle_engine *e) {
  char *full = needle_run_json(e, QUERIES[1], TOOLS, NULL);
  CHECK(full != NULL && has(full, "\"token_ids\":["));
  stream_state s;
  memset(&s, 0, sizeof s);
  char *text = needle_run_stream(e, QUERIES[1], TOOLS, NULL, on_token, &s);
  char *plain = needle_run(e, QUERIES[1], TOOLS);
  CHECK(text && plain && strcmp(text, plain) == 0);
  CHECK(s.count > 0);
  /* every streamed id appears in the structured result, in order */
  char ids[1024] = "\"token_ids\":[";
  for (int i = 0; i < s.count && i < 64; i++) {
    char num[16];
    snprintf(num, sizeof num, i ? ",%u" : "%u", s.ids[i]);
    strncat(ids, num, sizeof ids - strlen(ids) - 1);
  }
  strncat(ids, "]", sizeof ids - strlen(ids) - 1);
  CHECK(has(full, ids));
  needle_free_str(text);
  /* stop after two tokens */
  stream_state s2;
  memset(&s2, 0, sizeof s2);
  s2.stop_after = 2;
  needle_options *o = needle_options_new();
  char *j = NULL;
  text = needle_run_stream(e, QUERIES[1], TOOLS, o, on_token, &s2);
  CHECK(text != NULL && s2.count == 2 && s2.ids[0] == s.ids[0] && s2.ids[1] == s.ids[1]);
  needle_free_str(text);
  /* the structured variant reports the early stop */
  stream_state s3;
  memset(&s3, 0, sizeof s3);
  s3.stop_after = 2;
  j = needle_run_stream_json(e, QUERIES[1], TOOLS, NULL, on_token, &s3);
  CHECK(j && has(j, "\"stop\":\"callback\"") && s3.count == 2);
  needle_free_str(j);
  CHECK(needle_run_stream_json(NULL, QUERIES[1], TOOLS, NULL, on_token, &s3) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_ARGUMENT);
  /* NULL callback is allowed */
  text = needle_run_stream(e, QUERIES[1], TOOLS, NULL, NULL, NULL);
  CHECK(text && strcmp(text, plain) == 0);
  needle_free_str(text);
  /* max_new_tokens */
  CHECK(needle_options_set_max_new_tokens(o, 1) == NEEDLE_OK);
  CHECK(needle_options_set_constrained(o, false) == NEEDLE_OK);
  j = needle_run_json(e, QUERIES[1], TOOLS, o);
  char one[64];
  snprintf(one, sizeof one, "\"token_ids\":[%u]", s.ids[0]);
  CHECK(j && has(j, one));
  needle_free_str(j);
  /* strict schema mode: every answer parses into calls (`"calls":[`, never null) */
  needle_options *so = needle_options_new();
  CHECK(needle_options_set_strict(so, true) == NEEDLE_OK);
  CHECK(needle_options_set_max_new_tokens(so, 24) == NEEDLE_OK);
  for (int q = 0; q < 4; q++) {
    j = needle_run_json(e, QUERIES[q], TOOLS, so);
    CHECK(j && has(j, "\"calls\":["));
    needle_free_str(j);
  }
  needle_options_free(so);
  needle_options_free(o);
  needle_free_str(plain);
  needle_free_str(full);
}

/* A callback that makes a failing nested call (NULL tools) and an over-long one. */
static int nested_failures = 0;
static bool on_token_nested(uint32_t id, const char *piece, void *user_data) {
  (void)id;
  (void)piece;
  needle_engine *e = (needle_engine *)user_data;
  char *r = needle_run(e, "nested", NULL);
  if (r == NULL && needle_last_status() == NEEDLE_ERR_INVALID_ARGUMENT) nested_failures++;
  needle_free_str(r);
  return true;
}

static void test_nested_failure_does_not_leak_into_status(needle_engine *e) {
  nested_failures = 0;
  char *text = needle_run_stream(e, QUERIES[1], TOOLS, NULL, on_token_nested, e);
  CHECK(text != NULL);
  CHECK(nested_failures > 0);
  /* The outer call succeeded: its status is OK and there is no error message. */
  CHECK(needle_last_status() == NEEDLE_OK);
  CHECK(needle_last_error() == NULL);
  needle_free_str(text);
}

static void test_input_limits(needle_engine *e) {
  CHECK(NEEDLE_MAX_QUERY_BYTES == 64u * 1024 * 1024);
  CHECK(NEEDLE_MAX_TOOLS_BYTES == 16u * 1024 * 1024);
  CHECK(NEEDLE_DEFAULT_MAX_NEW_TOKENS == 512);
  size_t n = NEEDLE_MAX_QUERY_BYTES + 1;
  char *q = malloc(n + 1);
  memset(q, 'a', n);
  q[n] = 0;
  CHECK(needle_run(e, q, TOOLS) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_ARGUMENT &&
        has(needle_last_error(), "67108864"));
  /* At the limit: accepted, and only what the encoder reads is tokenised. */
  q[NEEDLE_MAX_QUERY_BYTES] = 0;
  char *r = needle_run(e, q, TOOLS);
  CHECK(r != NULL);
  needle_free_str(r);
  free(q);
  size_t tn = NEEDLE_MAX_TOOLS_BYTES + 1;
  char *t = malloc(tn + 1);
  memset(t, ' ', tn);
  t[tn] = 0;
  CHECK(needle_run(e, "q", t) == NULL && needle_last_status() == NEEDLE_ERR_INVALID_TOOLS &&
        has(needle_last_error(), "16777216"));
  free(t);
}

static void test_batch(needle_engine *e) {
  const char *ts[4] = {TOOLS, TOOLS, TOOLS, TOOLS};
  char *outs[4] = {0};
  needle_options *o = needle_options_new();
  for (uint32_t threads = 0; threads <= 2; threads++) {
    CHECK(needle_options_set_threads(o, threads) == NEEDLE_OK);
    CHECK(needle_run_batch(e, QUERIES, ts, 4, o, outs) == NEEDLE_OK);
    for (int i = 0; i < 4; i++) {
      char *one = needle_run(e, QUERIES[i], TOOLS);
      CHECK(outs[i] && one && strcmp(outs[i], one) == 0);
      needle_free_str(one);
      needle_free_str(outs[i]);
      outs[i] = NULL;
    }
  }
  const char *bad[4] = {TOOLS, TOOLS, "{oops", TOOLS};
  CHECK(needle_run_batch(e, QUERIES, bad, 4, o, outs) == NEEDLE_ERR_INVALID_TOOLS);
  CHECK(has(needle_last_error(), "item 2"));
  CHECK(outs[0] == NULL && outs[3] == NULL);
  needle_options_free(o);
}

static void test_contrastive(needle_engine *e) {
  CHECK(needle_contrastive_dim(e) == 0);
  float f[4];
  CHECK(needle_encode_contrastive(e, "x", f, 4) == NEEDLE_ERR_UNSUPPORTED);
  const char *descs[3] = {"weather forecast", "send an email", "play a song"};
  size_t idx[3], count = 7;
  float sc[3];
  CHECK(needle_retrieve_tools(e, "q", descs, 3, 2, idx, sc, &count) == NEEDLE_ERR_UNSUPPORTED && count == 7);
  needle_engine *h = needle_load(WH, V);
  CHECK(h != NULL);
  size_t dim = needle_contrastive_dim(h);
  CHECK(dim == 32);
  float *emb = calloc(dim, sizeof(float));
  CHECK(needle_encode_contrastive(h, "book a flight", emb, dim) == NEEDLE_OK);
  double n = 0;
  for (size_t i = 0; i < dim; i++) n += (double)emb[i] * emb[i];
  CHECK(n > 0.999 && n < 1.001);
  CHECK(needle_encode_contrastive(h, "book a flight", emb, dim - 1) == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_encode_contrastive(h, "x", NULL, dim) == NEEDLE_ERR_INVALID_ARGUMENT);
  CHECK(needle_retrieve_tools(h, "weather in Rome", descs, 3, 2, idx, sc, &count) == NEEDLE_OK);
  CHECK(count == 2 && idx[0] < 3 && idx[1] < 3 && idx[0] != idx[1] && sc[0] >= sc[1]);
  CHECK(needle_retrieve_tools(h, "weather", descs, 3, 0, NULL, NULL, &count) == NEEDLE_OK && count == 0);
  CHECK(needle_retrieve_tools(h, "weather", descs, 3, 10, idx, sc, &count) == NEEDLE_OK && count == 3);
  char *cfg = needle_config_json(h);
  CHECK(cfg && has(cfg, "\"contrastive_dim\":32") && has(cfg, "\"d_model\":64"));
  needle_free_str(cfg);
  free(emb);
  needle_free(h);
}

typedef struct {
  needle_engine *e;
  int index;
  char *out[8];
} thread_job;

static void *worker(void *arg) {
  thread_job *j = (thread_job *)arg;
  for (int k = 0; k < 8; k++) j->out[k] = needle_run(j->e, QUERIES[(j->index + k) % 4], TOOLS);
  return NULL;
}

static void test_threads(needle_engine *e) {
  char *expect[4];
  for (int i = 0; i < 4; i++) expect[i] = needle_run(e, QUERIES[i], TOOLS);
  pthread_t t[8];
  thread_job jobs[8];
  for (int i = 0; i < 8; i++) {
    jobs[i].e = e;
    jobs[i].index = i;
    pthread_create(&t[i], NULL, worker, &jobs[i]);
  }
  int same = 1;
  for (int i = 0; i < 8; i++) {
    pthread_join(t[i], NULL);
    for (int k = 0; k < 8; k++) {
      if (!jobs[i].out[k] || strcmp(jobs[i].out[k], expect[(i + k) % 4]) != 0) same = 0;
      needle_free_str(jobs[i].out[k]);
    }
  }
  CHECK(same);
  for (int i = 0; i < 4; i++) needle_free_str(expect[i]);
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s <tiny.safetensors> <tiny-head.safetensors> <vocab.txt> <v3.cact> <v2.cact>\n", argv[0]);
    return 2;
  }
  W = argv[1];
  WH = argv[2];
  V = argv[3];
  C3 = argv[4];
  C2 = argv[5];
  needle_engine *e = needle_load(W, V);
  if (!e) {
    fprintf(stderr, "cannot load %s: %s\n", W, needle_last_error());
    return 1;
  }
  test_versions_and_status();
  test_null_arguments(e);
  test_invalid_utf8_and_tools(e);
  test_files();
  test_last_error_lifetime(e);
  test_error_is_thread_local(e);
  test_streaming(e);
  test_nested_failure_does_not_leak_into_status(e);
  test_input_limits(e);
  test_batch(e);
  test_contrastive(e);
  test_threads(e);
  test_v1_result_fields(e);
  test_cact();
  needle_free(e);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
