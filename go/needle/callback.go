package needle

/*
#include <stdbool.h>
#include <stdint.h>
*/
import "C"

import (
	"fmt"
	"runtime/cgo"
	"runtime/debug"
)

// streamState is what a streaming call's cgo.Handle points to.
type streamState struct {
	fn       func(id uint32, piece string) bool
	engine   *Engine // the engine of the call (for Close called from fn)
	panicked *CallbackPanicError
}

func newHandle(s *streamState) cgo.Handle { return cgo.NewHandle(s) }

// needleGoToken is the C callback's trampoline (called through gn_token in needle.go on the
// thread running needle_run_stream; thread identifies it, see gn_thread_id). A panic must
// not unwind through libneedle's frames: it is recovered here, recorded, and stops
// generation. Only fn returning false or panicking stops generation.
//
//export needleGoToken
func needleGoToken(id C.uint32_t, piece *C.char, handle C.uintptr_t, thread C.uintptr_t) (cont C.bool) {
	st := cgo.Handle(handle).Value().(*streamState)
	if st.fn == nil {
		return true
	}
	// While fn runs, this goroutine is locked to this OS thread (cgo callbacks are), so
	// Close can tell it is called from a callback of this engine.
	st.engine.enterCallback(uintptr(thread))
	defer st.engine.exitCallback(uintptr(thread))
	defer func() {
		if v := recover(); v != nil {
			st.panicked = &CallbackPanicError{Value: v, Stack: debug.Stack()}
			cont = false
		}
	}()
	p := ""
	if piece != nil {
		p = C.GoString(piece)
	}
	if st.fn(uint32(id), p) {
		return true
	}
	return false
}

func anyString(v any) string {
	if err, ok := v.(error); ok {
		return err.Error()
	}
	return fmt.Sprint(v)
}
