//go:build !needle_static

package needle

// Links libneedle.so, found with pkg-config (set PKG_CONFIG_PATH to the install's
// lib/pkgconfig, and LD_LIBRARY_PATH to its lib at run time if it is not a system path).

// #cgo pkg-config: needle
import "C"
