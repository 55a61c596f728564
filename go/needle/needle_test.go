package needle

// Tests of the Go wrapper on the project's synthetic models. They need:
//   - libneedle installed and found with pkg-config (PKG_CONFIG_PATH, LD_LIBRARY_PATH);
//   - target/test-models/{tiny,tiny-head,small}.safetensors (python3 tools/make_model.py),
//     or NEEDLE_TEST_MODELS pointing at a folder with them;
//   - a C compiler for the C-reference comparison (TestSameAnswersAsC).
// tools/test_go.sh sets all of this up.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

const tools = `[{"name":"getWeather","description":"Weather for a city","parameters":{"city":{"type":"string"}}},` +
	`{"name":"send_message","parameters":{"to":{"type":"string"},"body":{"type":"string"}}}]`

var queries = []string{"What's the weather in Paris?", "Text Bob that I am late",
	"Set a timer for ten minutes", "Weather in Tokyo, please"}

func repoRoot() string { return filepath.Join("..", "..") }

func modelPath(t testing.TB, preset string) string {
	t.Helper()
	dir := os.Getenv("NEEDLE_TEST_MODELS")
	if dir == "" {
		dir = filepath.Join(repoRoot(), "target", "test-models")
	}
	p := filepath.Join(dir, preset+".safetensors")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("test model missing: %v (generate it with: python3 tools/make_model.py --preset %s --out %s)", err, preset, p)
	}
	return p
}

func vocabPath() string { return filepath.Join(repoRoot(), "tests", "fixtures", "vocab", "vocab.txt") }

func load(t testing.TB, preset string) *Engine {
	t.Helper()
	e, err := Load(modelPath(t, preset), vocabPath())
	if err != nil {
		t.Fatalf("Load(%s): %v", preset, err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func mustRun(t testing.TB, e *Engine, q, tl string, opts ...Option) *Result {
	t.Helper()
	r, err := e.Run(q, tl, opts...)
	if err != nil {
		t.Fatalf("Run(%q): %v", q, err)
	}
	return r
}

func TestVersion(t *testing.T) {
	v := Version()
	if parts := strings.Split(v, "."); len(parts) != 3 {
		t.Fatalf("Version() = %q, want MAJOR.MINOR.PATCH", v)
	}
	if out, err := exec.Command("pkg-config", "--modversion", "needle").Output(); err == nil {
		if want := strings.TrimSpace(string(out)); v != want {
			t.Errorf("Version() = %q, pkg-config says %q", v, want)
		}
	}
}

func TestStatusNames(t *testing.T) {
	seen := map[string]Status{}
	for s := StatusOK; s <= StatusInternal; s++ {
		name := s.String()
		if name == "unknown status" || name == "" {
			t.Errorf("status %d has no name", s)
		}
		if o, dup := seen[name]; dup {
			t.Errorf("statuses %d and %d share the name %q", o, s, name)
		}
		seen[name] = s
	}
	if StatusInvalidTools.String() != "invalid tools JSON" {
		t.Errorf("StatusInvalidTools = %q", StatusInvalidTools)
	}
	if Status(12345).String() != "unknown status" {
		t.Errorf("Status(12345) = %q", Status(12345))
	}
	sentinels := []*Error{ErrInvalidArgument, ErrIO, ErrInvalidWeights, ErrInvalidVocab, ErrInvalidTools,
		ErrInvalidUTF8, ErrUnsupported, ErrCancelled, ErrInternal}
	for i, s := range sentinels {
		if s.Status != Status(i+1) {
			t.Errorf("sentinel %d has status %d", i, s.Status)
		}
		for j, o := range sentinels {
			if errors.Is(s, o) != (i == j) {
				t.Errorf("errors.Is(%v, %v) = %v", s, o, !(i == j))
			}
		}
	}
}

// cReference builds testdata/cref.c against the installed library and runs it on lines
// with a v1 model and the test vocabulary.
func cReference(t *testing.T, weights string, lines []string) []string {
	t.Helper()
	return cReferenceArgs(t, []string{weights, vocabPath()}, lines)
}

// cReferenceArgs runs testdata/cref.c with args (weights, vocab or "-", optional depth).
func cReferenceArgs(t *testing.T, crefArgs []string, lines []string) []string {
	t.Helper()
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("no C compiler (%s) for the C reference", cc)
	}
	flags, err := exec.Command("pkg-config", "--cflags", "--libs", "needle").Output()
	if err != nil {
		t.Fatalf("pkg-config needle: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "cref")
	args := append([]string{"testdata/cref.c", "-o", bin}, strings.Fields(string(flags))...)
	if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("building the C reference: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, crefArgs...)
	// The helper links libneedle.so even when this test binary links libneedle.a.
	if libdir, err := exec.Command("pkg-config", "--variable=libdir", "needle").Output(); err == nil {
		cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+strings.TrimSpace(string(libdir))+":"+os.Getenv("LD_LIBRARY_PATH"))
	}
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("C reference: %v", err)
	}
	got := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(got) != len(lines) {
		t.Fatalf("C reference gave %d lines for %d cases", len(got), len(lines))
	}
	return got
}

// TestSameAnswersAsC runs the same queries through Go and through a C program on the same
// installed library and compares every field of needle_run_json's result and every error.
func TestSameAnswersAsC(t *testing.T) {
	type tcase struct {
		query, tools string
		max          int // -1: default options
		constrained  bool
	}
	var cases []tcase
	toolSets := []string{tools, `[{"type":"function","function":{"name":"play_song","parameters":{"type":"object","properties":{"title":{"type":"string"}}}}}]`, `[]`}
	for _, q := range append(queries, "", "héllo wörld ✓", "Book a table for 2 at 7pm") {
		for _, ts := range toolSets {
			cases = append(cases, tcase{q, ts, -1, true})
		}
		cases = append(cases, tcase{q, tools, 5, false}, tcase{q, tools, 0, true}, tcase{q, tools, 12, true})
	}
	cases = append(cases, tcase{"q", `[{"name":`, -1, true}, tcase{"q", `[{"description":"x"}]`, -1, true},
		tcase{"q", `{"name":"a","parameters":[]}`, 3, true})
	for _, preset := range []string{"tiny", "small"} {
		t.Run(preset, func(t *testing.T) {
			w := modelPath(t, preset)
			e := load(t, preset)
			lines := make([]string, len(cases))
			for i, c := range cases {
				con := 0
				if c.constrained {
					con = 1
				}
				lines[i] = fmt.Sprintf("%d\t%d\t%s\t%s", c.max, con, c.query, c.tools)
			}
			want := cReference(t, w, lines)
			for i, c := range cases {
				var opts []Option
				if c.max >= 0 {
					opts = []Option{MaxNewTokens(c.max), Constrained(c.constrained)}
				}
				r, err := e.Run(c.query, c.tools, opts...)
				if strings.HasPrefix(want[i], "ERROR ") {
					var ne *Error
					if !errors.As(err, &ne) {
						t.Errorf("case %d: C failed (%s), Go gave %v", i, want[i], err)
						continue
					}
					if got := fmt.Sprintf("ERROR %d %s", ne.Status, ne.Message); got != want[i] {
						t.Errorf("case %d: error\n  Go: %s\n  C:  %s", i, got, want[i])
					}
					continue
				}
				if err != nil {
					t.Errorf("case %d: Go failed: %v (C: %s)", i, err, want[i])
					continue
				}
				var c0 map[string]any
				if err := json.Unmarshal([]byte(want[i]), &c0); err != nil {
					t.Fatal(err)
				}
				// Re-encode Go's result generically and compare with C's JSON object.
				gj, _ := json.Marshal(r)
				var g0 map[string]any
				_ = json.Unmarshal(gj, &g0)
				if !reflect.DeepEqual(g0, c0) {
					t.Errorf("case %d (%q): results differ\n  Go: %s\n  C:  %s", i, c.query, gj, want[i])
				}
				if c.max >= 0 && len(r.TokenIDs) > c.max {
					t.Errorf("case %d: %d tokens > MaxNewTokens(%d)", i, len(r.TokenIDs), c.max)
				}
			}
		})
	}
}

// TestParityFixture checks a sample of the recorded parity cases (the token ids of the
// independent NumPy reference, tests/fixtures/parity/cases.jsonl).
func TestParityFixture(t *testing.T) {
	f, err := os.Open(filepath.Join(repoRoot(), "tests", "fixtures", "parity", "cases.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	engines := map[string]*Engine{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	n, checked, flips := 0, 0, 0
	for sc.Scan() {
		n++
		var c struct {
			ID      int       `json:"id"`
			Preset  string    `json:"preset"`
			Query   string    `json:"query"`
			Tools   string    `json:"tools"`
			RefIDs  []uint32  `json:"ref_ids"`
			RefText string    `json:"ref_text"`
			Margins []float64 `json:"ref_margins"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		// The tiny cases and every 8th small one (the Rust suite checks them all).
		if c.Preset != "tiny" && (c.Preset != "small" || n%8 != 0) {
			continue
		}
		e, ok := engines[c.Preset]
		if !ok {
			e = load(t, c.Preset)
			engines[c.Preset] = e
		}
		r := mustRun(t, e, c.Query, c.Tools)
		checked++
		if reflect.DeepEqual(r.TokenIDs, c.RefIDs) {
			if r.Text != c.RefText {
				t.Errorf("case %d: text %q, reference %q", c.ID, r.Text, c.RefText)
			}
			continue
		}
		// A flip between near-tied logits is accepted, as in tests/parity.rs.
		k := 0
		for k < len(r.TokenIDs) && k < len(c.RefIDs) && r.TokenIDs[k] == c.RefIDs[k] {
			k++
		}
		if k < len(c.Margins) && c.Margins[k] < 1e-3 {
			flips++
			continue
		}
		t.Errorf("case %d (%s): ids differ at step %d\n  Go:  %v\n  ref: %v", c.ID, c.Preset, k, r.TokenIDs, c.RefIDs)
	}
	if checked == 0 {
		t.Fatal("no parity cases")
	}
	t.Logf("parity: %d of %d cases checked, %d near-tie flips", checked, n, flips)
}

func TestLoadBytesAndConfig(t *testing.T) {
	e := load(t, "tiny")
	w, err := os.ReadFile(modelPath(t, "tiny"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := os.ReadFile(vocabPath())
	if err != nil {
		t.Fatal(err)
	}
	eb, err := LoadBytes(w, v)
	if err != nil {
		t.Fatal(err)
	}
	defer eb.Close()
	for i := range w { // the weights were copied
		w[i] = 0
	}
	runtime.GC()
	for _, q := range queries {
		a, b := mustRun(t, e, q, tools), mustRun(t, eb, q, tools)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%q: Load %+v, LoadBytes %+v", q, a, b)
		}
	}
	cfg, err := e.Config()
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(cfg, &c); err != nil || c["d_model"] != float64(64) || c["contrastive_dim"] != float64(0) {
		t.Errorf("Config() = %s (%v)", cfg, err)
	}
}

func TestResultFields(t *testing.T) {
	e := load(t, "tiny")
	r := mustRun(t, e, queries[0], tools)
	if r.EncoderTokens <= 0 || len(r.TokenIDs) == 0 {
		t.Errorf("result %+v", r)
	}
	if r.Stop != StopEOS && r.Stop != StopMaxTokens {
		t.Errorf("Stop = %q", r.Stop)
	}
	if r.Calls != nil { // a random model writes no valid call list
		t.Logf("calls: %+v", r.Calls)
	}
	r = mustRun(t, e, queries[0], tools, MaxNewTokens(0))
	if len(r.TokenIDs) != 0 || r.Text != "" || r.Stop != StopMaxTokens {
		t.Errorf("MaxNewTokens(0): %+v", r)
	}
	r = mustRun(t, e, queries[0], tools, MaxNewTokens(1<<20))
	if len(r.TokenIDs) == 0 {
		t.Errorf("MaxNewTokens(huge) gave no tokens")
	}
}

func TestStrict(t *testing.T) {
	// Strict schema mode: even a random model's answer is a complete call list whose names
	// are tools and whose arguments are strings, as the schema says.
	e := load(t, "tiny")
	for _, q := range queries {
		r := mustRun(t, e, q, tools, Strict(true), MaxNewTokens(24))
		if r.Calls == nil {
			t.Fatalf("Strict(true) %q: no call list in %q", q, r.Text)
		}
		for _, c := range r.Calls {
			if c.Name != "getWeather" && c.Name != "send_message" {
				t.Errorf("Strict(true) %q: unknown tool %q", q, c.Name)
			}
			var args map[string]string
			if err := json.Unmarshal(c.Arguments, &args); err != nil {
				t.Errorf("Strict(true) %q: arguments %s: %v", q, c.Arguments, err)
			}
		}
	}
	a := mustRun(t, e, queries[0], tools)
	b := mustRun(t, e, queries[0], tools, Strict(false))
	if !reflect.DeepEqual(a.TokenIDs, b.TokenIDs) {
		t.Errorf("Strict(false) changed the default answer")
	}
}

func TestCallsDecode(t *testing.T) {
	// The Result type decodes needle_run_json's documented shape.
	js := `{"calls":[{"name":"get_weather","arguments":{"city":"Paris"}}],"text":"[…]","token_ids":[1,2],"encoder_tokens":7,"stop":"eos"}`
	var r Result
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		t.Fatal(err)
	}
	var args struct{ City string }
	if len(r.Calls) != 1 || r.Calls[0].Name != "get_weather" || json.Unmarshal(r.Calls[0].Arguments, &args) != nil || args.City != "Paris" {
		t.Errorf("decoded %+v", r)
	}
	if r.Stop != StopEOS || r.EncoderTokens != 7 || !reflect.DeepEqual(r.TokenIDs, []uint32{1, 2}) {
		t.Errorf("decoded %+v", r)
	}
}

func TestErrors(t *testing.T) {
	e := load(t, "tiny")
	w := modelPath(t, "tiny")
	wb, _ := os.ReadFile(w)
	vb, _ := os.ReadFile(vocabPath())
	loadErr := func(wp, vp string) error { _, err := Load(wp, vp); return err }
	loadBytesErr := func(w, v []byte) error { _, err := LoadBytes(w, v); return err }
	runErr := func(q, tl string, o ...Option) error { _, err := e.Run(q, tl, o...); return err }
	cases := []struct {
		name     string
		err      error
		sentinel *Error
		contains string
	}{
		{"missing weights", loadErr("/nonexistent/needle.safetensors", vocabPath()), ErrIO, "/nonexistent/needle.safetensors"},
		{"missing vocab", loadErr(w, "/nonexistent/vocab.txt"), ErrIO, "/nonexistent/vocab.txt"},
		{"vocab as weights", loadErr(vocabPath(), vocabPath()), ErrInvalidWeights, ""},
		{"truncated weights", loadBytesErr(wb[:len(wb)/2], vb), ErrInvalidWeights, ""},
		{"empty weights", loadBytesErr(nil, vb), ErrInvalidWeights, ""},
		{"truncated vocab", loadBytesErr(wb, vb[:len(vb)/2]), ErrInvalidVocab, ""},
		{"vocab not UTF-8", loadBytesErr(wb, []byte{'a', 0xff, 'b'}), ErrInvalidUTF8, ""},
		{"path not UTF-8", loadErr("a\xffb", vocabPath()), ErrInvalidUTF8, ""},
		{"NUL in path", loadErr("a\x00b", vocabPath()), ErrInvalidArgument, "NUL"},
		{"tools not JSON", runErr("q", `[{"name":`), ErrInvalidTools, "JSON"},
		{"tool without name", runErr("q", `[{"description":"no name"}]`), ErrInvalidTools, "name"},
		{"query not UTF-8", runErr("a\xffb", tools), ErrInvalidUTF8, "query"},
		{"tools not UTF-8", runErr("q", "a\xffb"), ErrInvalidUTF8, ""},
		{"NUL in query", runErr("a\x00b", tools), ErrInvalidArgument, "query contains a NUL byte"},
		{"NUL in tools", runErr("q", "[]\x00"), ErrInvalidArgument, "tools contains a NUL byte"},
		{"negative MaxNewTokens", runErr("q", tools, MaxNewTokens(-1)), ErrInvalidArgument, "MaxNewTokens(-1)"},
		{"negative Threads", runErr("q", tools, Threads(-2)), ErrInvalidArgument, "Threads(-2)"},
	}
	for _, c := range cases {
		var ne *Error
		switch {
		case c.err == nil:
			t.Errorf("%s: no error", c.name)
		case !errors.Is(c.err, c.sentinel):
			t.Errorf("%s: %v is not %v", c.name, c.err, c.sentinel)
		case !errors.As(c.err, &ne) || ne.Status != c.sentinel.Status:
			t.Errorf("%s: %v is not an *Error with status %v", c.name, c.err, c.sentinel.Status)
		case !strings.Contains(ne.Message, c.contains) || ne.Message == "":
			t.Errorf("%s: message %q does not mention %q", c.name, ne.Message, c.contains)
		case !strings.HasPrefix(c.err.Error(), "needle: "+c.sentinel.Status.String()+": "):
			t.Errorf("%s: Error() = %q", c.name, c.err)
		case errors.Is(c.err, ErrInternal) || errors.Is(c.err, ErrClosed):
			t.Errorf("%s: %v matches other sentinels", c.name, c.err)
		}
	}
	// A wrapped error still matches.
	err := fmt.Errorf("loading: %w", loadErr("/nonexistent/x", vocabPath()))
	if !errors.Is(err, ErrIO) {
		t.Errorf("wrapped: %v", err)
	}
	// Errors leave the engine usable.
	mustRun(t, e, queries[0], tools)
}

// TestErrorsPerGoroutine: each failing call must report its own message even with many
// goroutines failing at once on shared OS threads.
// TestInputLimits: the limits come from needle.h; input up to them is accepted and one
// byte more is refused with the documented status, before any work is done.
func TestInputLimits(t *testing.T) {
	if MaxQueryBytes != 64<<20 || MaxToolsBytes != 16<<20 || DefaultMaxNewTokens != 512 {
		t.Errorf("limits %d %d %d", MaxQueryBytes, MaxToolsBytes, DefaultMaxNewTokens)
	}
	e := load(t, "tiny")
	// A query exactly at the limit is accepted (only its first tokens are read).
	atLimit := strings.Repeat("weather ", MaxQueryBytes/8)
	if len(atLimit) != MaxQueryBytes {
		t.Fatal(len(atLimit))
	}
	if _, err := e.Run(atLimit, tools, MaxNewTokens(1)); err != nil {
		t.Errorf("query of MaxQueryBytes: %v", err)
	}
	long := atLimit + "x"
	atLimit = ""
	if _, err := e.Run(long, tools); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Run, query of MaxQueryBytes+1: %v", err)
	}
	called := false
	if _, err := e.RunStream(long, tools, func(uint32, string) bool { called = true; return true }); !errors.Is(err, ErrInvalidArgument) || called {
		t.Errorf("RunStream, query of MaxQueryBytes+1: %v (callback called: %v)", err, called)
	}
	if _, err := e.RunBatch([]BatchItem{{queries[0], tools}, {long, tools}}); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "item 1") {
		t.Errorf("RunBatch, query of MaxQueryBytes+1: %v", err)
	}
	if _, err := e.EncodeContrastive(long); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("EncodeContrastive, text of MaxQueryBytes+1: %v", err)
	}
	if _, err := e.RetrieveTools(long, []string{"a"}, 1); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("RetrieveTools, query of MaxQueryBytes+1: %v", err)
	}
	long = ""
	// Tools JSON exactly at the limit (padded with whitespace) is accepted.
	pad := MaxToolsBytes - len(tools)
	toolsAtLimit := tools[:len(tools)-1] + strings.Repeat(" ", pad) + "]"
	if len(toolsAtLimit) != MaxToolsBytes {
		t.Fatal(len(toolsAtLimit))
	}
	want := mustRun(t, e, queries[0], tools, MaxNewTokens(4))
	if r, err := e.Run(queries[0], toolsAtLimit, MaxNewTokens(4)); err != nil || r.Text != want.Text {
		t.Errorf("tools of MaxToolsBytes: %v %v", r, err)
	}
	longTools := toolsAtLimit + " "
	if _, err := e.Run(queries[0], longTools); !errors.Is(err, ErrInvalidTools) {
		t.Errorf("Run, tools of MaxToolsBytes+1: %v", err)
	}
	if _, err := e.RunStream(queries[0], longTools, nil); !errors.Is(err, ErrInvalidTools) {
		t.Errorf("RunStream, tools of MaxToolsBytes+1: %v", err)
	}
	if _, err := e.RunBatch([]BatchItem{{queries[0], longTools}}); !errors.Is(err, ErrInvalidTools) || !strings.Contains(err.Error(), "item 0") {
		t.Errorf("RunBatch, tools of MaxToolsBytes+1: %v", err)
	}
}

func TestErrorsPerGoroutine(t *testing.T) {
	e := load(t, "tiny")
	var wg sync.WaitGroup
	errs := make(chan error, 16*20)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				path := fmt.Sprintf("/nonexistent/g%d-i%d.safetensors", g, i)
				if _, err := Load(path, vocabPath()); !errors.Is(err, ErrIO) || !strings.Contains(err.Error(), path) {
					errs <- fmt.Errorf("goroutine %d: Load(%s) gave %v", g, path, err)
				}
				// g valid tools, then one whose description is a number: "tools[g].description".
				bad := "[" + strings.Repeat(`{"name":"t"},`, g) + `{"name":"u","description":5}]`
				field := fmt.Sprintf("tools[%d].description", g)
				_, err := e.Run("q", bad, MaxNewTokens(2))
				if !errors.Is(err, ErrInvalidTools) || !strings.Contains(err.Error(), field) {
					errs <- fmt.Errorf("goroutine %d: bad tools gave %v", g, err)
				}
				if _, err := e.Run("q", tools, MaxNewTokens(2)); err != nil {
					errs <- fmt.Errorf("goroutine %d: good call gave %v", g, err)
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestStream(t *testing.T) {
	e := load(t, "tiny")
	for _, q := range queries {
		r := mustRun(t, e, q, tools)
		var ids []uint32
		var pieces strings.Builder
		sr, err := e.RunStream(q, tools, func(id uint32, piece string) bool {
			ids = append(ids, id)
			pieces.WriteString(piece)
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(sr, r) || !reflect.DeepEqual(ids, r.TokenIDs) {
			t.Errorf("%q: stream %+v %v, run %+v", q, sr, ids, r)
		}
		if pieces.Len() == 0 {
			t.Errorf("%q: no piece text streamed", q)
		}
		// Early stop after two tokens.
		var first []uint32
		r2, err := e.RunStream(q, tools, func(id uint32, _ string) bool {
			first = append(first, id)
			return len(first) < 2
		})
		if err != nil || !reflect.DeepEqual(first, r.TokenIDs[:2]) {
			t.Errorf("%q: early stop: %v %v (want %v)", q, first, err, r.TokenIDs[:2])
		} else if r2.Stop != StopCallback || !reflect.DeepEqual(r2.TokenIDs, first) || r2.PromptTokens != r.PromptTokens {
			t.Errorf("%q: early-stopped result %+v", q, r2)
		}
		if err == nil && len(r2.Text) > len(r.Text)+8 {
			t.Errorf("early-stopped text %q longer than the full answer %q", r2.Text, r.Text)
		}
		// Options apply to streaming; a nil callback is allowed.
		n := 0
		if _, err := e.RunStream(q, tools, func(uint32, string) bool { n++; return true }, MaxNewTokens(3)); err != nil || n != 3 {
			t.Errorf("MaxNewTokens(3) streamed %d tokens (%v)", n, err)
		}
		if r3, err := e.RunStream(q, tools, nil); err != nil || !reflect.DeepEqual(r3, r) {
			t.Errorf("nil callback: %+v %v", r3, err)
		}
	}
}

func TestStreamErrors(t *testing.T) {
	e := load(t, "tiny")
	called := false
	_, err := e.RunStream("q", "[", func(uint32, string) bool { called = true; return true })
	if !errors.Is(err, ErrInvalidTools) || called {
		t.Errorf("bad tools: %v (callback called: %v)", err, called)
	}
	for _, v := range []any{"boom", errors.New("boom error"), 42} {
		calls := 0
		_, err = e.RunStream(queries[0], tools, func(uint32, string) bool {
			calls++
			if calls == 2 {
				panic(v)
			}
			return true
		})
		var pe *CallbackPanicError
		if !errors.Is(err, ErrCallbackPanic) || !errors.As(err, &pe) || pe.Value != v || len(pe.Stack) == 0 {
			t.Errorf("panic(%v): got %v", v, err)
		}
		if calls != 2 {
			t.Errorf("panic(%v): generation went on after the panic (%d calls)", v, calls)
		}
		if !strings.Contains(err.Error(), fmt.Sprint(v)) && !strings.Contains(err.Error(), "boom") {
			t.Errorf("message %q", err)
		}
	}
	// The engine still works, on this goroutine and others.
	mustRun(t, e, queries[0], tools)
}

// TestStreamNested: the callback may use the engine (and others) itself, and may trigger
// GC; with no Close pending, nested calls of every kind work, nested streams included.
func TestStreamNested(t *testing.T) {
	e := load(t, "tiny")
	other := load(t, "tiny")
	want := mustRun(t, e, queries[2], tools, MaxNewTokens(4))
	n := 0
	var err error
	within(t, 30*time.Second, "nested calls from a RunStream callback", func() {
		_, err = e.RunStream(queries[0], tools, func(uint32, string) bool {
			n++
			runtime.GC()
			r, err := e.Run(queries[2], tools, MaxNewTokens(4))
			if err != nil || !reflect.DeepEqual(r, want) {
				t.Errorf("nested run: %v %v", r, err)
			}
			if _, err := e.Run("q", "["); !errors.Is(err, ErrInvalidTools) {
				t.Errorf("nested failing run: %v", err)
			}
			if n == 1 {
				inner := 0
				sr, err := e.RunStream(queries[2], tools, func(uint32, string) bool {
					inner++
					if _, err := e.Config(); err != nil { // two callbacks deep
						t.Errorf("Config in a nested callback: %v", err)
					}
					return true
				}, MaxNewTokens(4))
				if err != nil || !reflect.DeepEqual(sr, want) || inner != len(want.TokenIDs) {
					t.Errorf("nested stream: %+v %v after %d tokens, want %+v", sr, err, inner, want)
				}
				rs, err := e.RunBatch([]BatchItem{{queries[2], tools}, {queries[2], tools}}, MaxNewTokens(4), Threads(2))
				if err != nil || !reflect.DeepEqual(rs, []Result{*want, *want}) {
					t.Errorf("nested batch: %+v %v", rs, err)
				}
				if r, err := other.Run(queries[2], tools, MaxNewTokens(4)); err != nil || r.Text != want.Text {
					t.Errorf("nested run on another engine: %v %v", r, err)
				}
			}
			return n < 3
		})
	})
	if err != nil || n != 3 {
		t.Errorf("outer stream: %v after %d tokens", err, n)
	}
}

// within runs f on a new goroutine and fails the test if f has not returned after d, so
// that a deadlock fails the test instead of hanging the suite (the stuck goroutine is
// left behind). f must report with t.Error, not t.Fatal.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
		t.Logf("%s: returned in %v", what, time.Since(start).Round(time.Millisecond))
	case <-time.After(d):
		t.Fatalf("%s: still blocked after %v (deadlock)", what, d)
	}
}

// engineState reads an engine's bookkeeping: calls in flight, Close begun, freed.
func engineState(e *Engine) (inFlight int, closing, freed bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inFlight, e.closing, e.ptr == nil
}

// pollState polls engineState until ok holds (true) or stop is closed or 10 s have passed
// (false).
func pollState(e *Engine, stop <-chan struct{}, ok func(inFlight int, closing, freed bool) bool) bool {
	for deadline := time.Now().Add(10 * time.Second); !ok(engineState(e)); runtime.Gosched() {
		select {
		case <-stop:
			return false
		default:
		}
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// waitState is pollState failing the test on a timeout.
func waitState(t *testing.T, e *Engine, what string, ok func(inFlight int, closing, freed bool) bool) {
	t.Helper()
	if !pollState(e, nil, ok) {
		n, c, f := engineState(e)
		t.Errorf("timed out waiting for %s (in flight %d, closing %v, freed %v)", what, n, c, f)
	}
}

// TestCloseInStreamCallback: Close called from a RunStream callback does not wait for the
// call running that callback (it would wait for itself); the engine is closed at once and
// freed when that call returns. Generation goes on: only the callback returning false
// stops it.
func TestCloseInStreamCallback(t *testing.T) {
	e, err := Load(modelPath(t, "tiny"), vocabPath())
	if err != nil {
		t.Fatal(err)
	}
	want := mustRun(t, e, queries[0], tools)
	n := 0
	var sr *Result
	within(t, 20*time.Second, "Close inside a RunStream callback", func() {
		sr, err = e.RunStream(queries[0], tools, func(uint32, string) bool {
			n++
			if n == 1 {
				if err := e.Close(); err != nil {
					t.Errorf("Close in a callback: %v", err)
				}
				if err := e.Close(); err != nil { // idempotent, and again without waiting
					t.Errorf("second Close in a callback: %v", err)
				}
				if _, err := e.Run(queries[1], tools); !errors.Is(err, ErrClosed) {
					t.Errorf("Run in a callback after Close: %v", err)
				}
				if _, err := e.RunStream(queries[1], tools, nil); !errors.Is(err, ErrClosed) {
					t.Errorf("RunStream in a callback after Close: %v", err)
				}
				if inFlight, closing, freed := engineState(e); inFlight != 1 || !closing || freed {
					t.Errorf("after Close in a callback: in flight %d, closing %v, freed %v", inFlight, closing, freed)
				}
			}
			return true
		})
	})
	if err != nil || !reflect.DeepEqual(sr, want) || n != len(want.TokenIDs) {
		t.Errorf("stream closed in its callback: %+v %v after %d tokens, want %+v (%d tokens)", sr, err, n, want, len(want.TokenIDs))
	}
	if inFlight, _, freed := engineState(e); inFlight != 0 || !freed {
		t.Errorf("after the stream: in flight %d, freed %v (the last call must free the engine)", inFlight, freed)
	}
	if err := e.Close(); err != nil {
		t.Error(err)
	}
	if _, err := e.Run(queries[0], tools); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close: %v", err)
	}

	// With another call in flight on another goroutine, Close from a callback returns at
	// once too, and the last of the two calls frees the engine.
	e, err = Load(modelPath(t, "tiny"), vocabPath())
	if err != nil {
		t.Fatal(err)
	}
	started, resume := make(chan struct{}), make(chan struct{})
	otherDone := make(chan error, 1)
	go func() {
		k := 0
		_, err := e.RunStream(queries[1], tools, func(uint32, string) bool {
			if k++; k == 1 {
				close(started)
				<-resume
			}
			return true
		})
		otherDone <- err
	}()
	<-started
	within(t, 20*time.Second, "Close in a callback with another call in flight", func() {
		_, err = e.RunStream(queries[0], tools, func(uint32, string) bool {
			e.Close()
			return false
		})
	})
	if inFlight, closing, freed := engineState(e); err != nil || inFlight != 1 || !closing || freed {
		t.Errorf("after the first stream: %v, in flight %d, closing %v, freed %v", err, inFlight, closing, freed)
	}
	close(resume)
	if err := <-otherDone; err != nil {
		t.Errorf("the other stream: %v", err)
	}
	if _, _, freed := engineState(e); !freed {
		t.Error("the last call in flight did not free the engine")
	}
	e = nil // its cleanup was cancelled by Close: collecting it must not free it again
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
}

// TestNestedCallWhileClosing: a call made from a callback while another goroutine waits
// in Close fails with ErrClosed (it used to deadlock: the callback's call held a read
// lock that Close's pending write lock queued new readers behind); Close returns once
// the stream has finished.
func TestNestedCallWhileClosing(t *testing.T) {
	e, err := Load(modelPath(t, "tiny"), vocabPath())
	if err != nil {
		t.Fatal(err)
	}
	want := mustRun(t, e, queries[0], tools, MaxNewTokens(3))
	closed := make(chan struct{})
	n := 0
	var sr *Result
	within(t, 20*time.Second, "nested call from a callback while Close waits", func() {
		sr, err = e.RunStream(queries[0], tools, func(uint32, string) bool {
			if n++; n == 1 {
				go func() {
					e.Close()
					close(closed)
				}()
				waitState(t, e, "Close to begin", func(_ int, closing, _ bool) bool { return closing })
				if _, err := e.Run(queries[2], tools); !errors.Is(err, ErrClosed) {
					t.Errorf("nested Run while Close waits: %v", err)
				}
				if _, err := e.RunBatch([]BatchItem{{queries[2], tools}}); !errors.Is(err, ErrClosed) {
					t.Errorf("nested RunBatch while Close waits: %v", err)
				}
				if _, err := e.Config(); !errors.Is(err, ErrClosed) {
					t.Errorf("nested Config while Close waits: %v", err)
				}
			}
			select {
			case <-closed:
				t.Error("Close returned while a call was in flight")
			default:
			}
			return n < 3
		})
	})
	if err != nil || sr.Text != want.Text || !reflect.DeepEqual(sr.TokenIDs, want.TokenIDs) || n != 3 {
		t.Errorf("stream: %+v %v after %d tokens, want %q", sr, err, n, want.Text)
	}
	within(t, 20*time.Second, "Close after the stream", func() { <-closed })
	if _, _, freed := engineState(e); !freed {
		t.Error("engine not freed after Close returned")
	}
}

// TestConcurrentClose: several goroutines close an engine at once while streams (with
// nested calls), runs and batches are in flight; every Close returns after the engine is
// freed, every call succeeds or fails with ErrClosed, and nothing deadlocks.
func TestConcurrentClose(t *testing.T) {
	for round := 0; round < 3; round++ {
		e, err := Load(modelPath(t, "tiny"), vocabPath())
		if err != nil {
			t.Fatal(err)
		}
		var calls sync.WaitGroup
		check := func(what string, err error) {
			if err != nil && !errors.Is(err, ErrClosed) {
				t.Errorf("%s during Close: %v", what, err)
			}
		}
		for g := 0; g < 6; g++ {
			calls.Add(1)
			go func() {
				defer calls.Done()
				for k := 0; k < 4; k++ {
					switch (g + k) % 3 {
					case 0:
						_, err := e.RunStream(queries[g%4], tools, func(uint32, string) bool {
							_, err := e.Run(queries[1], tools, MaxNewTokens(2))
							check("nested Run", err)
							return true
						}, MaxNewTokens(4))
						check("RunStream", err)
					case 1:
						_, err := e.Run(queries[g%4], tools)
						check("Run", err)
					case 2:
						_, err := e.RunBatch([]BatchItem{{queries[0], tools}, {queries[1], tools}, {queries[2], tools}}, Threads(2))
						check("RunBatch", err)
					}
				}
			}()
		}
		allDone := make(chan struct{})
		go func() { calls.Wait(); close(allDone) }()
		pollState(e, allDone, func(n int, _, _ bool) bool { return n > 0 }) // Close with calls in flight
		within(t, 60*time.Second, "concurrent Close", func() {
			var closers sync.WaitGroup
			for c := 0; c < 4; c++ {
				closers.Add(1)
				go func() {
					defer closers.Done()
					e.Close()
					if inFlight, _, freed := engineState(e); inFlight != 0 || !freed {
						t.Errorf("Close returned with %d calls in flight, freed %v", inFlight, freed)
					}
				}()
			}
			closers.Wait()
			calls.Wait()
		})
	}
}

// TestCloseDuringBatch: Close waits for a RunBatch in flight, which completes normally.
func TestCloseDuringBatch(t *testing.T) {
	e, err := Load(modelPath(t, "tiny"), vocabPath())
	if err != nil {
		t.Fatal(err)
	}
	items := make([]BatchItem, 64)
	for i := range items {
		items[i] = BatchItem{queries[i%4], tools}
	}
	want, err := e.RunBatch(items[:4])
	if err != nil {
		t.Fatal(err)
	}
	var results []Result
	done := make(chan struct{})
	go func() {
		defer close(done)
		results, err = e.RunBatch(items, Threads(2))
	}()
	if !pollState(e, done, func(n int, _, _ bool) bool { return n == 1 }) {
		t.Log("the batch finished before it was seen in flight")
	}
	within(t, 30*time.Second, "Close during RunBatch", func() { e.Close() })
	if inFlight, _, freed := engineState(e); inFlight != 0 || !freed {
		t.Errorf("Close returned with %d calls in flight, freed %v", inFlight, freed)
	}
	<-done
	if err != nil || len(results) != len(items) || !reflect.DeepEqual(results[:4], want) {
		t.Errorf("batch in flight during Close: %v %+v", err, results)
	}
}

func TestBatch(t *testing.T) {
	e := load(t, "tiny")
	items := make([]BatchItem, 0, 8)
	var want []Result
	for i := 0; i < 8; i++ {
		q := queries[i%4]
		if i >= 4 {
			q += " now"
		}
		items = append(items, BatchItem{Query: q, Tools: tools})
		want = append(want, *mustRun(t, e, q, tools))
	}
	for _, th := range []int{0, 1, 2} {
		got, err := e.RunBatch(items, Threads(th))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Threads(%d): %+v %v, want %+v", th, got, err, want)
		}
	}
	got, err := e.RunBatch(items)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("default threads: %v", err)
	}
	short, err := e.RunBatch(items[:2], MaxNewTokens(2), Threads(2))
	if err != nil || len(short) != 2 || len(short[0].TokenIDs) > 2 || short[1].Stop != StopMaxTokens {
		t.Errorf("MaxNewTokens(2): %+v %v", short, err)
	}
	if got, err := e.RunBatch(nil); err != nil || len(got) != 0 {
		t.Errorf("empty batch: %v %v", got, err)
	}
	bad := append([]BatchItem(nil), items[:4]...)
	bad[2].Tools = "{oops"
	if got, err := e.RunBatch(bad, Threads(2)); !errors.Is(err, ErrInvalidTools) || !strings.Contains(err.Error(), "item 2") || got != nil {
		t.Errorf("bad item: %v %v", got, err)
	}
	bad[2] = BatchItem{Query: "x\x00y", Tools: tools}
	if _, err := e.RunBatch(bad); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "item 2") {
		t.Errorf("NUL item: %v", err)
	}
}

func TestContrastive(t *testing.T) {
	plain := load(t, "tiny")
	descs := []string{"weather forecast", "send an email", "play a song"}
	if d := plain.ContrastiveDim(); d != 0 {
		t.Errorf("tiny ContrastiveDim = %d", d)
	}
	if _, err := plain.EncodeContrastive("x"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("EncodeContrastive without a head: %v", err)
	}
	if _, err := plain.RetrieveTools("q", descs, 2); !errors.Is(err, ErrUnsupported) {
		t.Errorf("RetrieveTools without a head: %v", err)
	}
	h := load(t, "tiny-head")
	if d := h.ContrastiveDim(); d != 32 {
		t.Fatalf("tiny-head ContrastiveDim = %d", d)
	}
	emb, err := h.EncodeContrastive("book a flight")
	if err != nil || len(emb) != 32 {
		t.Fatalf("EncodeContrastive: %d %v", len(emb), err)
	}
	var n float64
	for _, x := range emb {
		n += float64(x) * float64(x)
	}
	if math.Abs(n-1) > 1e-3 {
		t.Errorf("embedding norm² = %v", n)
	}
	emb2, _ := h.EncodeContrastive("book a flight")
	if !reflect.DeepEqual(emb, emb2) {
		t.Error("embeddings not deterministic")
	}
	m, err := h.RetrieveTools("weather in Rome", descs, 2)
	if err != nil || len(m) != 2 || m[0].Index == m[1].Index || m[0].Score < m[1].Score || m[0].Index >= 3 || m[1].Index >= 3 {
		t.Fatalf("RetrieveTools: %+v %v", m, err)
	}
	// Scores are the cosine similarities of the embeddings.
	q, _ := h.EncodeContrastive("weather in Rome")
	for _, mm := range m {
		d, _ := h.EncodeContrastive(descs[mm.Index])
		var dot float64
		for i := range q {
			dot += float64(q[i]) * float64(d[i])
		}
		if math.Abs(dot-float64(mm.Score)) > 1e-3 {
			t.Errorf("score %v, cosine %v", mm.Score, dot)
		}
	}
	if m, err := h.RetrieveTools("weather", descs, 0); err != nil || len(m) != 0 {
		t.Errorf("topK 0: %v %v", m, err)
	}
	if m, err := h.RetrieveTools("weather", descs, 10); err != nil || len(m) != 3 {
		t.Errorf("topK 10: %v %v", m, err)
	}
	if m, err := h.RetrieveTools("weather", nil, 3); err != nil || len(m) != 0 {
		t.Errorf("no descriptions: %v %v", m, err)
	}
	if _, err := h.RetrieveTools("weather", descs, -1); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("topK -1: %v", err)
	}
	if _, err := h.RetrieveTools("weather", []string{"a", "b\xff"}, 1); !errors.Is(err, ErrInvalidUTF8) {
		t.Errorf("description not UTF-8: %v", err)
	}
	if _, err := h.EncodeContrastive("a\x00"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("NUL text: %v", err)
	}
}

// Test16Goroutines shares one engine between 16 goroutines.
func Test16Goroutines(t *testing.T) {
	e := load(t, "tiny")
	want := make([]*Result, len(queries))
	for i, q := range queries {
		want[i] = mustRun(t, e, q, tools)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := 0; k < 6; k++ {
				i := (g + k) % len(queries)
				var r *Result
				var err error
				switch k % 3 {
				case 0:
					r, err = e.Run(queries[i], tools)
				case 1:
					var ids []uint32
					r, err = e.RunStream(queries[i], tools, func(id uint32, _ string) bool { ids = append(ids, id); return true })
					if err == nil && !reflect.DeepEqual(ids, r.TokenIDs) {
						err = fmt.Errorf("streamed ids %v, result ids %v", ids, r.TokenIDs)
					}
				case 2:
					var rs []Result
					rs, err = e.RunBatch([]BatchItem{{queries[i], tools}}, Threads(1))
					if err == nil {
						r = &rs[0]
					}
				}
				if err != nil || !reflect.DeepEqual(r, want[i]) {
					errs <- fmt.Errorf("goroutine %d, query %d, mode %d: %+v %v", g, i, k%3, r, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestClose(t *testing.T) {
	e, err := Load(modelPath(t, "tiny"), vocabPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if _, err := e.Run("q", tools); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close: %v", err)
	}
	if _, err := e.RunStream("q", tools, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("RunStream after Close: %v", err)
	}
	if _, err := e.RunBatch([]BatchItem{{"q", tools}}); !errors.Is(err, ErrClosed) {
		t.Errorf("RunBatch after Close: %v", err)
	}
	if _, err := e.EncodeContrastive("q"); !errors.Is(err, ErrClosed) {
		t.Errorf("EncodeContrastive after Close: %v", err)
	}
	if _, err := e.RetrieveTools("q", []string{"a"}, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("RetrieveTools after Close: %v", err)
	}
	if _, err := e.Config(); !errors.Is(err, ErrClosed) {
		t.Errorf("Config after Close: %v", err)
	}
	if e.ContrastiveDim() != 0 {
		t.Error("ContrastiveDim after Close")
	}
}

// TestCloseWhileRunning: Close waits for calls in flight; later calls get ErrClosed.
func TestCloseWhileRunning(t *testing.T) {
	e, err := Load(modelPath(t, "tiny"), vocabPath())
	if err != nil {
		t.Fatal(err)
	}
	want := mustRun(t, e, queries[1], tools).Text
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, closed := 0, 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 10; k++ {
				r, err := e.Run(queries[1], tools)
				mu.Lock()
				switch {
				case err == nil && r.Text == want:
					ok++
				case errors.Is(err, ErrClosed):
					closed++
				default:
					t.Errorf("run during Close: %v %v", r, err)
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(5 * time.Millisecond)
	e.Close()
	wg.Wait()
	t.Logf("%d runs finished, %d saw ErrClosed", ok, closed)
	if ok+closed != 80 {
		t.Errorf("%d + %d != 80", ok, closed)
	}
}

// TestFinalizerFreesEngines: engines dropped without Close are freed by the GC.
func TestFinalizerFreesEngines(t *testing.T) {
	engineCleanups.Lock()
	before := engineCleanups.n
	engineCleanups.Unlock()
	func() {
		for i := 0; i < 5; i++ {
			e, err := Load(modelPath(t, "tiny"), vocabPath())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.Run("q", tools, MaxNewTokens(1)); err != nil {
				t.Fatal(err)
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		engineCleanups.Lock()
		n := engineCleanups.n - before
		engineCleanups.Unlock()
		if n >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of 5 dropped engines were freed", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A closed engine's cleanup is cancelled (no double free when it is collected).
	e, _ := Load(modelPath(t, "tiny"), vocabPath())
	e.Close()
	e = nil
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
}

// TestGCPressure runs calls with the garbage collector forced between and during them
// (the tool script also runs the whole suite with GOGC=1).
func TestGCPressure(t *testing.T) {
	w, _ := os.ReadFile(modelPath(t, "tiny"))
	v, _ := os.ReadFile(vocabPath())
	var want string
	for i := 0; i < 20; i++ {
		e, err := LoadBytes(bytes.Clone(w), bytes.Clone(v))
		if err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		r, err := e.RunStream(queries[3], tools, func(uint32, string) bool { runtime.GC(); return true }, MaxNewTokens(6))
		if err != nil {
			t.Fatal(err)
		}
		text := r.Text
		if i == 0 {
			want = text
		} else if text != want {
			t.Fatalf("iteration %d: %q != %q", i, text, want)
		}
		if i%2 == 0 {
			e.Close()
		} // odd ones are left to the cleanup
	}
}

// TestBundledDemoModel makes one real end-to-end tool call on models/needle-demo/.
func TestBundledDemoModel(t *testing.T) {
	demo := filepath.Join(repoRoot(), "models", "needle-demo")
	e, err := Load(filepath.Join(demo, "needle.safetensors"), filepath.Join(demo, "vocab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	tools, err := os.ReadFile(filepath.Join(repoRoot(), "examples", "tools.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.Run("What's the weather in Paris?", string(tools))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Calls) != 1 || r.Calls[0].Name != "get_weather" || string(r.Calls[0].Arguments) != `{"city":"Paris"}` {
		t.Fatalf("unexpected answer %q (calls %+v)", r.Text, r.Calls)
	}
}

// The library loaded at run time is the one needle.h describes (see checkLibrary): the
// guard against another libneedle of the same file name passes for the right one.
func TestLoadedLibraryMatchesHeader(t *testing.T) {
	if err := checkLibrary(); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%d.%d.%d", headerMajor, headerMinor, headerPatch)
	if Version() != want {
		t.Fatalf("needle_version() = %q, needle.h says %q", Version(), want)
	}
}
