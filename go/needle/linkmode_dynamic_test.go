//go:build !needle_static

package needle

// linkedStatically: this test binary links libneedle.so, the same library as the C
// reference program, so every comparison with C is exact (see linkmode_static_test.go).
const linkedStatically = false
