//go:build needle_static

package needle

// linkedStatically: this test binary links libneedle.a, while the C reference program
// (testdata/cref.c) links libneedle.so. The two builds agree on every token, but the
// confidence head's probability may differ in its last bit (seen: 1 ulp of f32), so the
// comparisons with C allow confidenceTolerance for it in this mode only.
const linkedStatically = true
