package needle

/*
#include <needle.h>
#if !defined(NEEDLE_VERSION_MAJOR) || !defined(NEEDLE_MAX_QUERY_BYTES)
#error "this needle.h is not libneedle's (Cactus's own engine ships a needle.h too): set PKG_CONFIG_PATH to <libneedle prefix>/lib/pkgconfig"
#endif
*/
import "C"

import "errors"

// Status is a libneedle status code (needle_status in needle.h). The numbers are stable.
type Status int32

// The statuses of needle.h.
const (
	StatusOK              Status = C.NEEDLE_OK
	StatusInvalidArgument Status = C.NEEDLE_ERR_INVALID_ARGUMENT
	StatusIO              Status = C.NEEDLE_ERR_IO
	StatusInvalidWeights  Status = C.NEEDLE_ERR_INVALID_WEIGHTS
	StatusInvalidVocab    Status = C.NEEDLE_ERR_INVALID_VOCAB
	StatusInvalidTools    Status = C.NEEDLE_ERR_INVALID_TOOLS
	StatusInvalidUTF8     Status = C.NEEDLE_ERR_INVALID_UTF8
	StatusUnsupported     Status = C.NEEDLE_ERR_UNSUPPORTED
	StatusCancelled       Status = C.NEEDLE_ERR_CANCELLED
	StatusInternal        Status = C.NEEDLE_ERR_INTERNAL
)

// String is libneedle's name for the status, e.g. "invalid tools JSON".
func (s Status) String() string { return C.GoString(C.needle_status_str(C.int32_t(s))) }

// Sentinel errors, one per failure status: errors.Is(err, ErrInvalidTools) holds for an
// *Error with StatusInvalidTools.
var (
	ErrInvalidArgument = &Error{Status: StatusInvalidArgument}
	ErrIO              = &Error{Status: StatusIO}
	ErrInvalidWeights  = &Error{Status: StatusInvalidWeights}
	ErrInvalidVocab    = &Error{Status: StatusInvalidVocab}
	ErrInvalidTools    = &Error{Status: StatusInvalidTools}
	ErrInvalidUTF8     = &Error{Status: StatusInvalidUTF8}
	ErrUnsupported     = &Error{Status: StatusUnsupported}
	ErrCancelled       = &Error{Status: StatusCancelled}
	ErrInternal        = &Error{Status: StatusInternal}
)

// ErrClosed is returned by calls on an engine that start once Close has begun (calls from
// RunStream callbacks included).
var ErrClosed = errors.New("needle: engine is closed")

// ErrCallbackPanic matches the error RunStream returns when its callback panicked (the
// error is a *CallbackPanicError holding the value).
var ErrCallbackPanic = errors.New("needle: streaming callback panicked")

// Error is a failed libneedle call: its status and libneedle's message (which starts with
// the status name and names the argument, file, tool or field at fault).
type Error struct {
	Status  Status
	Message string
}

// Error returns "needle: " and the message; libneedle's messages start with the status
// name, e.g. "needle: invalid tools JSON: tools[0].name must be a non-empty string, ...".
func (e *Error) Error() string {
	if e.Message == "" {
		return "needle: " + e.Status.String()
	}
	return "needle: " + e.Message
}

// newError makes an *Error raised on the Go side, with a message in libneedle's style.
func newError(s Status, msg string) *Error {
	return &Error{Status: s, Message: s.String() + ": " + msg}
}

// Is reports whether target is an *Error with the same status, so that the sentinel
// values (ErrInvalidTools, ...) match any error of their status.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status
}

// CallbackPanicError is returned by RunStream when the callback panicked; generation was
// stopped and the process goes on.
type CallbackPanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the callback's stack at the panic
}

func (e *CallbackPanicError) Error() string {
	return "needle: streaming callback panicked: " + anyString(e.Value)
}

// Unwrap makes errors.Is(err, ErrCallbackPanic) hold.
func (e *CallbackPanicError) Unwrap() error { return ErrCallbackPanic }
