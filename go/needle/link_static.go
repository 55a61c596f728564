//go:build needle_static

package needle

// With -tags needle_static: links libneedle.a (from the same pkg-config install) into the
// binary. The -Bstatic -lneedle comes before pkg-config's own -lneedle, so the archive
// resolves every symbol and --as-needed drops the shared library.

// #cgo pkg-config: --static needle
// #cgo LDFLAGS: -Wl,-Bstatic -lneedle -Wl,-Bdynamic -Wl,--as-needed
import "C"
