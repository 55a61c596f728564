/* The C API of libneedle, from the install found with pkg-config (Cflags: -I.../include). */
#include <needle.h>
