/* The C API of libneedle, from the install found with pkg-config (Cflags: -I.../include). */
#include <needle.h>

/* Cactus's closed engine also ships a needle.h (and a libneedle) with other signatures:
 * refuse to build against a needle.h that is not libneedle's. */
#if !defined(NEEDLE_VERSION_MAJOR) || !defined(NEEDLE_MAX_QUERY_BYTES)
#error "this needle.h is not libneedle's (Cactus's own engine ships a needle.h too): set PKG_CONFIG_PATH to <libneedle prefix>/lib/pkgconfig"
#endif
