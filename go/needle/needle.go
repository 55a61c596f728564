// Package needle runs Needle, Cactus Compute's tool-calling models, through libneedle's C
// API (needle.h): v1 (needle.safetensors + vocab.txt) and v2/v3 (a .cact file, which
// carries its own tokenizer). Given a user query and a JSON list of tools it returns the
// function call(s) the model chose:
//
//	e, err := needle.Load("needle3.cact", "") // v1: needle.Load("needle.safetensors", "vocab.txt")
//	if err != nil { ... }
//	defer e.Close()
//	r, err := e.Run("What's the weather in Paris?", `[{"name":"get_weather","parameters":{"city":{"type":"string"}}}]`)
//	fmt.Println(r.Text) // [{"name":"get_weather","arguments":{"city":"Paris"}}]
//
// The package is a thin cgo layer over the installed library, found with pkg-config
// (package "needle"); it links libneedle.so by default and libneedle.a with the build tag
// needle_static.
//
// An *Engine is safe for concurrent use by any number of goroutines, and a RunStream
// callback may itself make calls on the engine. Close frees it (it waits for calls in
// flight, except when called from a RunStream callback: see Close); an engine that
// becomes unreachable without Close is freed by the garbage collector as a safety net.
//
// Errors returned by this package are *Error values carrying the libneedle status; test
// them with errors.Is against ErrInvalidArgument, ErrIO, ErrInvalidWeights, ErrInvalidVocab,
// ErrInvalidTools, ErrInvalidUTF8, ErrUnsupported, ErrCancelled and ErrInternal, or use
// errors.As to read the status and message. Calls on a closed engine return ErrClosed.
package needle

/*
#include <needle.h>
#include <stdlib.h>
#include <string.h>

// Cactus's closed engine also ships a needle.h (and a libneedle) with other signatures:
// refuse to build against a needle.h that is not libneedle's.
#if !defined(NEEDLE_VERSION_MAJOR) || !defined(NEEDLE_VERSION_MINOR) || !defined(NEEDLE_MAX_QUERY_BYTES)
#error "this needle.h is not libneedle's (Cactus's own engine ships a needle.h too): set PKG_CONFIG_PATH to <libneedle prefix>/lib/pkgconfig"
#endif

// Every helper below makes one libneedle call and, if it failed, copies this thread's
// last status and message into *err before returning, so both are read on the OS thread
// that made the call (a goroutine may move to another thread between two cgo calls).
// err->msg is malloc'ed here and freed by Go with C.free.
typedef struct {
	int32_t status;
	char *msg;
} gn_err;

static void gn_capture(gn_err *err) {
	const char *m = needle_last_error();
	err->status = (int32_t)needle_last_status();
	if (err->status == NEEDLE_OK) err->status = NEEDLE_ERR_INTERNAL;
	err->msg = m ? strdup(m) : NULL;
}

static needle_engine *gn_load(const char *w, const char *v, gn_err *err) {
	needle_engine *e = needle_load(w, v);
	if (!e) gn_capture(err);
	return e;
}

static needle_engine *gn_load_bytes(const uint8_t *w, size_t wl, const char *v, size_t vl, gn_err *err) {
	needle_engine *e = needle_load_bytes(w, wl, v, vl);
	if (!e) gn_capture(err);
	return e;
}

// A new load-options object set up in one go (depth 0: the whole model).
static needle_load_options *gn_load_options(uint32_t depth, gn_err *err) {
	needle_load_options *o = needle_load_options_new();
	if (!o) {
		err->status = NEEDLE_ERR_INTERNAL;
		err->msg = strdup("needle_load_options_new returned NULL");
		return NULL;
	}
	if (needle_load_options_set_depth(o, depth) != NEEDLE_OK) {
		gn_capture(err);
		needle_load_options_free(o);
		return NULL;
	}
	return o;
}

static needle_engine *gn_load_with(const char *w, const char *v, uint32_t depth, gn_err *err) {
	needle_load_options *o = gn_load_options(depth, err);
	if (!o) return NULL;
	needle_engine *e = needle_load_with(w, v, o);
	if (!e) gn_capture(err);
	needle_load_options_free(o);
	return e;
}

static needle_engine *gn_load_bytes_with(const uint8_t *w, size_t wl, const char *v, size_t vl, uint32_t depth,
                                         gn_err *err) {
	needle_load_options *o = gn_load_options(depth, err);
	if (!o) return NULL;
	needle_engine *e = needle_load_bytes_with(w, wl, v, vl, o);
	if (!e) gn_capture(err);
	needle_load_options_free(o);
	return e;
}

static char *gn_config_json(const needle_engine *e, gn_err *err) {
	char *s = needle_config_json(e);
	if (!s) gn_capture(err);
	return s;
}

// A new options object set up in one go (threads and max_new_tokens < 0: default;
// system NULL: none).
static needle_options *gn_options(int64_t max_new_tokens, int constrained, int strict, int64_t threads, const char *system,
                                  gn_err *err) {
	needle_options *o = needle_options_new();
	if (!o) {
		err->status = NEEDLE_ERR_INTERNAL;
		err->msg = strdup("needle_options_new returned NULL");
		return NULL;
	}
	needle_status st = NEEDLE_OK;
	if (max_new_tokens >= 0) st = needle_options_set_max_new_tokens(o, (uint32_t)max_new_tokens);
	if (st == NEEDLE_OK) st = needle_options_set_constrained(o, constrained != 0);
	if (st == NEEDLE_OK) st = needle_options_set_strict(o, strict != 0);
	if (st == NEEDLE_OK && threads >= 0) st = needle_options_set_threads(o, (uint32_t)threads);
	if (st == NEEDLE_OK && system) st = needle_options_set_system(o, system);
	if (st != NEEDLE_OK) {
		gn_capture(err);
		needle_options_free(o);
		return NULL;
	}
	return o;
}

static char *gn_run_json(const needle_engine *e, const char *q, const char *t, const needle_options *o, gn_err *err) {
	char *s = needle_run_json(e, q, t, o);
	if (!s) gn_capture(err);
	return s;
}

// An identifier of the calling OS thread: the address of a thread-local variable (unique
// among live threads). Go code running a cgo callback is locked to the thread of the C
// call, so this identifies "the goroutine running this callback" for the callback's
// duration (see Engine.Close).
static _Thread_local char gn_thread_marker;
static uintptr_t gn_thread_id(void) { return (uintptr_t)&gn_thread_marker; }

// The Go trampoline (exported from callback.go).
extern _Bool needleGoToken(uint32_t id, char *piece, uintptr_t handle, uintptr_t thread);

static bool gn_token(uint32_t id, const char *piece, void *user_data) {
	return needleGoToken(id, (char *)piece, (uintptr_t)user_data, gn_thread_id());
}

static char *gn_run_stream_json(const needle_engine *e, const char *q, const char *t, const needle_options *o,
                                uintptr_t handle, gn_err *err) {
	char *s = needle_run_stream_json(e, q, t, o, gn_token, (void *)handle);
	if (!s) gn_capture(err);
	return s;
}

static int32_t gn_run_batch_json(const needle_engine *e, const char *const *q, const char *const *t, size_t n,
                                 const needle_options *o, char **out, gn_err *err) {
	needle_status st = needle_run_batch_json(e, q, t, n, o, out);
	if (st != NEEDLE_OK) gn_capture(err);
	return (int32_t)st;
}

static int32_t gn_confidence(const needle_engine *e, const char *q, const char *t, const char *c,
                             const needle_options *o, float *out, gn_err *err) {
	needle_status st = needle_confidence(e, q, t, c, o, out);
	if (st != NEEDLE_OK) gn_capture(err);
	return (int32_t)st;
}

static int32_t gn_encode(const needle_engine *e, const char *text, float *out, size_t n, gn_err *err) {
	needle_status st = needle_encode_contrastive(e, text, out, n);
	if (st != NEEDLE_OK) gn_capture(err);
	return (int32_t)st;
}

static int32_t gn_retrieve(const needle_engine *e, const char *q, const char *const *d, size_t n, size_t k,
                           size_t *idx, float *scores, size_t *count, gn_err *err) {
	needle_status st = needle_retrieve_tools(e, q, d, n, k, idx, scores, count);
	if (st != NEEDLE_OK) gn_capture(err);
	return (int32_t)st;
}
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// Version returns the version of the linked libneedle, "MAJOR.MINOR.PATCH".
func Version() string { return C.GoString(C.needle_version()) }

// The version of the needle.h this package was built against.
const (
	headerMajor = C.NEEDLE_VERSION_MAJOR
	headerMinor = C.NEEDLE_VERSION_MINOR
	headerPatch = C.NEEDLE_VERSION_PATCH
)

var libraryOnce sync.Once
var libraryErr error

// checkLibrary makes sure, once, that the libneedle loaded at run time is the one the
// header described (same MAJOR.MINOR), not another build or another library of the same
// file name; Load and LoadBytes return its error.
func checkLibrary() error {
	libraryOnce.Do(func() {
		have := Version()
		want := fmt.Sprintf("%d.%d.", headerMajor, headerMinor)
		if !strings.HasPrefix(have, want) {
			libraryErr = newError(StatusInternal, fmt.Sprintf(
				"the loaded libneedle reports version %q but this package was built against needle.h %d.%d.%d: "+
					"another libneedle (or another library named libneedle) was found at run time; "+
					"use the prefix of the needle.pc you built with (rpath, LD_LIBRARY_PATH) or the needle_static tag",
				have, headerMajor, headerMinor, headerPatch))
		}
	})
	return libraryErr
}

// Input limits of libneedle (needle.h), in bytes of UTF-8. A longer query (of Run,
// RunStream, RunBatch) or retrieval text (of EncodeContrastive, RetrieveTools) fails with
// ErrInvalidArgument, a longer tools JSON with ErrInvalidTools, before any work is done.
const (
	MaxQueryBytes = C.NEEDLE_MAX_QUERY_BYTES // 64 MiB
	MaxToolsBytes = C.NEEDLE_MAX_TOOLS_BYTES // 16 MiB
)

// DefaultMaxNewTokens caps the tokens generated when MaxNewTokens is not given (the
// default is the model's max_dec_len, but at most this many).
const DefaultMaxNewTokens = C.NEEDLE_DEFAULT_MAX_NEW_TOKENS

// Engine is a loaded model. It is safe for concurrent use; each call keeps its own caches.
type Engine struct {
	// No lock is held while libneedle (or a RunStream callback) runs: a call only counts
	// itself in inFlight for its duration, so calls from callbacks never wait on a lock;
	// Close waits for inFlight to drop to zero (see Close for the callback case).
	mu       sync.Mutex
	idle     sync.Cond        // L = &mu; broadcast when inFlight drops to 0 and when ptr is freed
	ptr      *C.needle_engine // nil once freed
	inFlight int              // calls between acquire and release
	closing  bool             // Close was called: new calls fail with ErrClosed
	// callbacks counts, per OS thread (gn_thread_id), the RunStream callbacks of this
	// engine running on it (more than one when callbacks nest).
	callbacks map[uintptr]int
	cleanup   runtime.Cleanup
}

// Call is one function call chosen by the model.
type Call struct {
	Name string `json:"name"`
	// Arguments is the JSON object of arguments, e.g. {"city":"Paris"}; unmarshal it into
	// a struct or a map[string]any.
	Arguments json.RawMessage `json:"arguments"`
}

// StopReason says why generation ended.
type StopReason string

const (
	StopEOS       StopReason = "eos"         // the model ended its answer
	StopMaxTokens StopReason = "max_tokens"  // the token budget ran out
	StopCallback  StopReason = "callback"    // a streaming callback returned false
	StopImEnd     StopReason = "im_end"      // a v2/v3 model ended its turn (<|im_end|>)
	StopMaxSeqLen StopReason = "max_seq_len" // a v2/v3 model reached its sequence limit
)

// Result is the structured answer of Run, RunStream and RunBatch: needle_run_json's object
// (RunResult::JSON_FIELDS of the engine), every field always present.
type Result struct {
	// Calls are the parsed calls; nil when Text is not a valid call list.
	Calls []Call `json:"calls"`
	// Text is the answer, e.g. [{"name":"get_weather","arguments":{"city":"Paris"}}].
	Text string `json:"text"`
	// TokenIDs are the generated token ids (without the decoder start token).
	TokenIDs []uint32 `json:"token_ids"`
	// PromptTokens is the length of the prompt in tokens (v1: the encoder input, query +
	// tools; v2/v3: the ChatML prompt).
	PromptTokens int `json:"prompt_tokens"`
	// EncoderTokens repeats PromptTokens under its v1 name.
	EncoderTokens int `json:"encoder_tokens"`
	// Stop says why generation ended.
	Stop StopReason `json:"stop"`
	// Reasoning is the v2/v3 model's <think> block, trimmed; nil when there is none.
	Reasoning *string `json:"reasoning"`
	// Confidence is the confidence head's probability for this answer (v2/v3 files with
	// the head); nil otherwise.
	Confidence *float64 `json:"confidence"`
	// PromptTruncated says the prompt was longer than the model reads.
	PromptTruncated bool `json:"prompt_truncated"`
}

// BatchItem is one query of RunBatch with its tools JSON.
type BatchItem struct {
	Query string
	Tools string
}

// Match is one tool description ranked by RetrieveTools.
type Match struct {
	Index int     // index into the descriptions passed in
	Score float32 // cosine similarity
}

// cErr receives a failed call's status and message (see gn_capture).
type cErr = C.gn_err

func cError(ce *cErr) error {
	msg := ""
	if ce.msg != nil {
		msg = C.GoString(ce.msg)
		C.free(unsafe.Pointer(ce.msg))
		ce.msg = nil
	}
	return &Error{Status: Status(ce.status), Message: msg}
}

// cstr converts s for C; what = the argument name used in the error for an embedded NUL.
func cstr(s, what string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, newError(StatusInvalidArgument, what+" contains a NUL byte")
	}
	return C.CString(s), nil
}

// goStr copies and frees a string returned by libneedle.
func goStr(s *C.char) string {
	out := C.GoString(s)
	C.needle_free_str(s)
	return out
}

// LoadOptions are the settings of LoadWith and LoadBytesWith. The zero value loads the
// whole model, as Load does.
type LoadOptions struct {
	// Depth (Needle v3 only) keeps this many of the file's blocks (2 … its layers, in
	// upstream's ladder order) for a smaller, faster model; 0 keeps them all. Any other
	// depth with a v1 or v2 file, or one out of range, fails with ErrInvalidArgument.
	Depth int
}

// Load loads a model file of any generation, detected from its first bytes: a v1
// needle.safetensors (memory-mapped) with its vocab.txt, or a v2/v3 .cact (memory-mapped),
// whose tokenizer is inside: pass vocabPath "" for a .cact. A vocabulary with a .cact, or
// none with a v1 file, fails with ErrInvalidArgument.
func Load(weightsPath, vocabPath string) (*Engine, error) {
	return loadPath(weightsPath, vocabPath, nil)
}

// LoadWith is Load with load options (LoadOptions{Depth: n} for a v3 ladder depth).
func LoadWith(weightsPath, vocabPath string, opts LoadOptions) (*Engine, error) {
	return loadPath(weightsPath, vocabPath, &opts)
}

// depthArg checks a LoadOptions' depth for C.
func depthArg(opts *LoadOptions) (C.uint32_t, error) {
	if opts.Depth < 0 || int64(opts.Depth) > 1<<32-1 {
		return 0, newError(StatusInvalidArgument, fmt.Sprintf("LoadOptions.Depth %d out of range", opts.Depth))
	}
	return C.uint32_t(opts.Depth), nil
}

func loadPath(weightsPath, vocabPath string, opts *LoadOptions) (*Engine, error) {
	if err := checkLibrary(); err != nil {
		return nil, err
	}
	w, err := cstr(weightsPath, "weights path")
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(w))
	var v *C.char // NULL: no vocabulary (a .cact)
	if vocabPath != "" {
		if v, err = cstr(vocabPath, "vocab path"); err != nil {
			return nil, err
		}
		defer C.free(unsafe.Pointer(v))
	}
	var ce cErr
	var p *C.needle_engine
	if opts == nil {
		p = C.gn_load(w, v, &ce)
	} else {
		depth, err := depthArg(opts)
		if err != nil {
			return nil, err
		}
		p = C.gn_load_with(w, v, depth, &ce)
	}
	if p == nil {
		return nil, cError(&ce)
	}
	return newEngine(p), nil
}

// LoadBytes loads a model from the contents of its file and, for a v1 model, of vocab.txt;
// for a .cact pass vocab nil. Both are copied; the slices may be reused after the call.
func LoadBytes(weights, vocab []byte) (*Engine, error) {
	return loadFromBytes(weights, vocab, nil)
}

// LoadBytesWith is LoadBytes with load options.
func LoadBytesWith(weights, vocab []byte, opts LoadOptions) (*Engine, error) {
	return loadFromBytes(weights, vocab, &opts)
}

func loadFromBytes(weights, vocab []byte, opts *LoadOptions) (*Engine, error) {
	if err := checkLibrary(); err != nil {
		return nil, err
	}
	var one [1]byte // C rejects NULL weights even when empty: pass a valid pointer instead
	wp := unsafe.Pointer(&one[0])
	if len(weights) > 0 {
		wp = unsafe.Pointer(&weights[0])
	}
	var vp unsafe.Pointer // nil vocab: NULL (a .cact); an empty one: a valid pointer, length 0
	if vocab != nil {
		vp = unsafe.Pointer(&one[0])
		if len(vocab) > 0 {
			vp = unsafe.Pointer(&vocab[0])
		}
	}
	var ce cErr
	var p *C.needle_engine
	if opts == nil {
		p = C.gn_load_bytes((*C.uint8_t)(wp), C.size_t(len(weights)), (*C.char)(vp), C.size_t(len(vocab)), &ce)
	} else {
		depth, err := depthArg(opts)
		if err != nil {
			return nil, err
		}
		p = C.gn_load_bytes_with((*C.uint8_t)(wp), C.size_t(len(weights)), (*C.char)(vp), C.size_t(len(vocab)), depth, &ce)
	}
	runtime.KeepAlive(weights)
	runtime.KeepAlive(vocab)
	if p == nil {
		return nil, cError(&ce)
	}
	return newEngine(p), nil
}

// engineCleanups counts engines freed by the garbage collector (for tests).
var engineCleanups struct {
	sync.Mutex
	n int
}

func newEngine(p *C.needle_engine) *Engine {
	e := &Engine{ptr: p}
	e.idle.L = &e.mu
	e.cleanup = runtime.AddCleanup(e, func(p *C.needle_engine) {
		C.needle_free(p)
		engineCleanups.Lock()
		engineCleanups.n++
		engineCleanups.Unlock()
	}, p)
	return e
}

// Close frees the engine. Calls that start once Close has begun return ErrClosed, calls
// made from RunStream callbacks included. Close is idempotent, safe to call from several
// goroutines at once, and always returns nil.
//
// Called from any goroutine but one running a RunStream callback of this engine, Close
// waits for the calls in flight (on other goroutines, and their callbacks) to return,
// frees the engine, then returns. Called from inside a RunStream callback of this engine
// (directly or through nested calls), Close cannot wait, since the call running the
// callback is in flight: it marks the engine closed and returns at once; the streaming
// call goes on until it ends (generation stops only when the callback returns false),
// and the last call in flight frees the engine when it returns. A callback must not
// block waiting for another goroutine that is in Close.
func (e *Engine) Close() error {
	thread := uintptr(C.gn_thread_id())
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closing {
		e.closing = true
		e.cleanup.Stop() // from now on Close or the last call in flight frees the engine
	}
	if e.callbacks[thread] > 0 {
		return nil // inside a callback of a call in flight: release frees the engine
	}
	for e.ptr != nil && e.inFlight > 0 {
		e.idle.Wait()
	}
	e.free()
	return nil
}

// free frees the engine if it is not freed yet; e.mu must be held and no call in flight.
func (e *Engine) free() {
	if e.ptr != nil {
		C.needle_free(e.ptr)
		e.ptr = nil
		e.idle.Broadcast()
	}
}

// acquire registers one call in flight; the caller must call e.release when done with the
// pointer (and after any callback can still run).
func (e *Engine) acquire() (*C.needle_engine, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing || e.ptr == nil {
		return nil, ErrClosed
	}
	e.inFlight++
	return e.ptr, nil
}

// release ends a call registered by acquire. The last call out of a closing engine frees
// it (the case of Close called from a callback) and wakes the goroutines waiting in Close.
func (e *Engine) release() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.inFlight--
	if e.inFlight == 0 {
		if e.closing {
			e.free()
		}
		e.idle.Broadcast()
	}
}

// enterCallback and exitCallback bracket a RunStream callback of this engine running on
// the OS thread identified by thread (see gn_thread_id).
func (e *Engine) enterCallback(thread uintptr) {
	e.mu.Lock()
	if e.callbacks == nil {
		e.callbacks = make(map[uintptr]int)
	}
	e.callbacks[thread]++
	e.mu.Unlock()
}

func (e *Engine) exitCallback(thread uintptr) {
	e.mu.Lock()
	if e.callbacks[thread]--; e.callbacks[thread] == 0 {
		delete(e.callbacks, thread)
	}
	e.mu.Unlock()
}

// Generation is the model generation of the engine: 1 (needle.safetensors), 2 or 3
// (.cact); 0 once the engine is closed.
func (e *Engine) Generation() int {
	p, err := e.acquire()
	if err != nil {
		return 0
	}
	defer e.release()
	g := int(C.needle_generation(p))
	runtime.KeepAlive(e)
	return g
}

// Config returns the engine's configuration JSON (needle_config_json, as is): "generation"
// and every geometry field of the file (v1: d_model, num_heads, layers, vocab_size,
// max_enc_len, max_dec_len, activation, head_dim, ...; v2/v3: the .cact header), with
// "contrastive_dim" and "confidence_head".
func (e *Engine) Config() (json.RawMessage, error) {
	p, err := e.acquire()
	if err != nil {
		return nil, err
	}
	defer e.release()
	var ce cErr
	s := C.gn_config_json(p, &ce)
	runtime.KeepAlive(e)
	if s == nil {
		return nil, cError(&ce)
	}
	return json.RawMessage(goStr(s)), nil
}

// Run answers query given tools, a JSON array of tools (flat or OpenAI style).
func (e *Engine) Run(query, tools string, opts ...Option) (*Result, error) {
	p, err := e.acquire()
	if err != nil {
		return nil, err
	}
	defer e.release()
	call, err := newCall(query, tools, opts)
	if err != nil {
		return nil, err
	}
	defer call.free()
	var ce cErr
	s := C.gn_run_json(p, call.q, call.t, call.o, &ce)
	runtime.KeepAlive(e)
	if s == nil {
		return nil, cError(&ce)
	}
	return parseResult(goStr(s), "needle_run_json")
}

// parseResult decodes one structured result JSON of libneedle.
func parseResult(js, what string) (*Result, error) {
	r := new(Result)
	if err := json.Unmarshal([]byte(js), r); err != nil {
		return nil, newError(StatusInternal, fmt.Sprintf("cannot parse %s output: %v", what, err))
	}
	return r, nil
}

// RunStream answers like Run, calling fn (if not nil) on the calling goroutine for every
// generated token, in order, with its id and text (empty if the piece contains a NUL
// byte), and returns the same structured Result as Run. Generation stops early only when
// fn returns false (after that token; the Result then holds the answer so far, with Stop
// StopCallback) or panics (RunStream then returns an error matching ErrCallbackPanic that
// carries the panic value); otherwise it runs to the end, even if fn closes the engine. fn
// may make calls on this engine (they fail with ErrClosed once Close has begun) and may
// call Close (see Close).
func (e *Engine) RunStream(query, tools string, fn func(id uint32, piece string) bool, opts ...Option) (*Result, error) {
	p, err := e.acquire()
	if err != nil {
		return nil, err
	}
	defer e.release()
	call, err := newCall(query, tools, opts)
	if err != nil {
		return nil, err
	}
	defer call.free()
	st := &streamState{fn: fn, engine: e}
	h := newHandle(st)
	defer h.Delete()
	var ce cErr
	s := C.gn_run_stream_json(p, call.q, call.t, call.o, C.uintptr_t(h), &ce)
	runtime.KeepAlive(e)
	if s == nil {
		if st.panicked != nil {
			return nil, st.panicked
		}
		return nil, cError(&ce)
	}
	js := goStr(s)
	if st.panicked != nil {
		return nil, st.panicked
	}
	return parseResult(js, "needle_run_stream_json")
}

// RunBatch answers several queries in parallel (Threads sets the number of worker
// threads; the default is all cores) and returns their structured results in order, each
// the Result Run gives for that item. If an item fails, no results are returned and the
// error (of the first failing item) names its index.
func (e *Engine) RunBatch(items []BatchItem, opts ...Option) ([]Result, error) {
	p, err := e.acquire()
	if err != nil {
		return nil, err
	}
	defer e.release()
	n := len(items)
	if n == 0 {
		return []Result{}, nil
	}
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	defer C.needle_options_free(o)
	// The pointer arrays live in C memory: cgo forbids passing Go memory that holds Go
	// pointers, and C.CString results are C pointers anyway.
	qs, ts, outs := cStrArray(n), cStrArray(n), cStrArray(n)
	defer func() {
		freeCStrArray(qs)
		freeCStrArray(ts)
		C.free(unsafe.Pointer(unsafe.SliceData(outs))) // its strings are owned (and freed) below
	}()
	for i, it := range items {
		if qs[i], err = cstr(it.Query, fmt.Sprintf("item %d: query", i)); err != nil {
			return nil, err
		}
		if ts[i], err = cstr(it.Tools, fmt.Sprintf("item %d: tools", i)); err != nil {
			return nil, err
		}
	}
	var ce cErr
	st := C.gn_run_batch_json(p, unsafe.SliceData(qs), unsafe.SliceData(ts), C.size_t(n), o, unsafe.SliceData(outs), &ce)
	runtime.KeepAlive(e)
	if st != 0 {
		return nil, cError(&ce)
	}
	jsons := make([]string, n)
	for i := range jsons { // take (and free) every string before parsing any
		jsons[i] = goStr(outs[i])
	}
	results := make([]Result, n)
	for i, js := range jsons {
		r, err := parseResult(js, fmt.Sprintf("needle_run_batch_json item %d", i))
		if err != nil {
			return nil, err
		}
		results[i] = *r
	}
	return results, nil
}

// Confidence is the confidence head's probability that completion (the model's output
// text, e.g. "<tool_call>[…]</tool_call>") answers query with tools (Needle v2/v3 files
// with the head; otherwise the error matches ErrUnsupported). The prompt uses the System
// option if given; the other options are ignored. The completion is encoded on its own, as
// upstream's fine-tuning encodes a target, so a run's own output text whose tokens
// re-encode the same gives that run's Result.Confidence.
func (e *Engine) Confidence(query, tools, completion string, opts ...Option) (float32, error) {
	p, err := e.acquire()
	if err != nil {
		return 0, err
	}
	defer e.release()
	call, err := newCall(query, tools, opts)
	if err != nil {
		return 0, err
	}
	defer call.free()
	c, err := cstr(completion, "completion")
	if err != nil {
		return 0, err
	}
	defer C.free(unsafe.Pointer(c))
	var out C.float
	var ce cErr
	st := C.gn_confidence(p, call.q, call.t, c, call.o, &out, &ce)
	runtime.KeepAlive(e)
	if st != 0 {
		return 0, cError(&ce)
	}
	return float32(out), nil
}

// ContrastiveDim is the width of the model's contrastive head, 0 if it has none (as the
// published weights) or the engine is closed.
func (e *Engine) ContrastiveDim() int {
	p, err := e.acquire()
	if err != nil {
		return 0
	}
	defer e.release()
	d := int(C.needle_contrastive_dim(p))
	runtime.KeepAlive(e)
	return d
}

// EncodeContrastive returns the L2-normalised embedding of text from the contrastive
// head. Without a head the error matches ErrUnsupported.
func (e *Engine) EncodeContrastive(text string) ([]float32, error) {
	p, err := e.acquire()
	if err != nil {
		return nil, err
	}
	defer e.release()
	t, err := cstr(text, "text")
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(t))
	dim := int(C.needle_contrastive_dim(p))
	out := make([]float32, max(dim, 1)) // without a head libneedle reports Unsupported
	var ce cErr
	st := C.gn_encode(p, t, (*C.float)(unsafe.Pointer(&out[0])), C.size_t(dim), &ce)
	runtime.KeepAlive(e)
	if st != 0 {
		return nil, cError(&ce)
	}
	return out[:dim], nil
}

// RetrieveTools ranks tool descriptions by similarity to query and returns the best topK
// (fewer if there are fewer descriptions), best first. Without a contrastive head the
// error matches ErrUnsupported.
func (e *Engine) RetrieveTools(query string, descriptions []string, topK int) ([]Match, error) {
	p, err := e.acquire()
	if err != nil {
		return nil, err
	}
	defer e.release()
	if topK < 0 {
		return nil, newError(StatusInvalidArgument, "topK is negative")
	}
	q, err := cstr(query, "query")
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(q))
	n := len(descriptions)
	k := min(topK, n)
	ds := cStrArray(n)
	defer freeCStrArray(ds)
	for i, d := range descriptions {
		if ds[i], err = cstr(d, fmt.Sprintf("description %d", i)); err != nil {
			return nil, err
		}
	}
	idx := make([]C.size_t, max(k, 1))
	scores := make([]C.float, max(k, 1))
	var count C.size_t
	var ce cErr
	st := C.gn_retrieve(p, q, unsafe.SliceData(ds), C.size_t(n), C.size_t(k), &idx[0], &scores[0], &count, &ce)
	runtime.KeepAlive(e)
	if st != 0 {
		return nil, cError(&ce)
	}
	out := make([]Match, int(count))
	for i := range out {
		out[i] = Match{Index: int(idx[i]), Score: float32(scores[i])}
	}
	return out, nil
}

// cStrArray allocates a zeroed C array of n (at least 1) char pointers, returned as a
// slice of length n over it.
func cStrArray(n int) []*C.char {
	p := (**C.char)(C.calloc(C.size_t(max(n, 1)), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	if p == nil {
		panic("needle: out of memory")
	}
	return unsafe.Slice(p, max(n, 1))[:n]
}

// freeCStrArray frees the strings of a cStrArray and the array itself.
func freeCStrArray(a []*C.char) {
	a = a[:cap(a)]
	for _, s := range a {
		C.free(unsafe.Pointer(s))
	}
	C.free(unsafe.Pointer(unsafe.SliceData(a)))
}

// cCall holds the C arguments of one run.
type cCall struct {
	q, t *C.char
	o    *C.needle_options
}

func newCall(query, tools string, opts []Option) (*cCall, error) {
	c := &cCall{}
	var err error
	if c.q, err = cstr(query, "query"); err != nil {
		return nil, err
	}
	if c.t, err = cstr(tools, "tools"); err != nil {
		c.free()
		return nil, err
	}
	if c.o, err = buildOptions(opts); err != nil {
		c.free()
		return nil, err
	}
	return c, nil
}

func (c *cCall) free() {
	C.free(unsafe.Pointer(c.q))
	C.free(unsafe.Pointer(c.t))
	C.needle_options_free(c.o)
}

// buildOptions makes a needle_options object (NULL when opts is empty: the defaults).
func buildOptions(opts []Option) (*C.needle_options, error) {
	if len(opts) == 0 {
		return nil, nil
	}
	s := settings{maxNewTokens: -1, constrained: true, threads: -1}
	for _, o := range opts {
		o(&s)
	}
	if s.err != nil {
		return nil, s.err
	}
	constrained := C.int(0)
	if s.constrained {
		constrained = 1
	}
	strict := C.int(0)
	if s.strict {
		strict = 1
	}
	var system *C.char // NULL: no system prompt
	if s.system != nil {
		var err error
		if system, err = cstr(*s.system, "system prompt"); err != nil {
			return nil, err
		}
		defer C.free(unsafe.Pointer(system))
	}
	var ce cErr
	o := C.gn_options(C.int64_t(s.maxNewTokens), constrained, strict, C.int64_t(s.threads), system, &ce)
	if o == nil {
		return nil, cError(&ce)
	}
	return o, nil
}
