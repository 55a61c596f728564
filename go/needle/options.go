package needle

import "fmt"

// Option changes one setting of a call (Run, RunStream, RunBatch, Confidence).
type Option func(*settings)

type settings struct {
	maxNewTokens int64 // < 0: the model's max_dec_len
	constrained  bool
	strict       bool
	threads      int64   // < 0: all cores
	system       *string // nil: no system prompt
	err          error
}

// MaxNewTokens limits the number of generated tokens (0 = none; values above the model's
// max_dec_len are clamped to it). The default is the model's max_dec_len, but at most
// DefaultMaxNewTokens.
func MaxNewTokens(n int) Option {
	return func(s *settings) {
		if n < 0 || int64(n) > 1<<32-1 {
			s.err = newError(StatusInvalidArgument, fmt.Sprintf("MaxNewTokens(%d) out of range", n))
			return
		}
		s.maxNewTokens = int64(n)
	}
}

// Constrained turns constrained decoding of tool names and argument keys on (the default)
// or off.
func Constrained(on bool) Option {
	return func(s *settings) { s.constrained = on }
}

// Strict turns strict schema mode on or off (off by default): the tool-call answer then
// follows a grammar compiled from the tools' JSON Schemas, so it always parses and its
// names, keys and values match the schemas (it replaces constrained decoding while on).
func Strict(on bool) Option {
	return func(s *settings) { s.strict = on }
}

// Threads sets the worker threads of RunBatch (0 = all cores, the default; 1 = the calling
// thread only). Other calls ignore it.
func Threads(n int) Option {
	return func(s *settings) {
		if n < 0 || int64(n) > 1<<32-1 {
			s.err = newError(StatusInvalidArgument, fmt.Sprintf("Threads(%d) out of range", n))
			return
		}
		s.threads = int64(n)
	}
}

// System sets a system prompt for Needle v2/v3 (a system turn before the user's; v1 models
// have none and ignore it). It applies to Run, RunStream, RunBatch and Confidence. A
// prompt with a NUL byte fails with ErrInvalidArgument.
func System(text string) Option {
	return func(s *settings) { s.system = &text }
}
