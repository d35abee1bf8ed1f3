// Debian's zlib1g-dev: gzip decompression for IDX and other dataset files.
#include <zlib.h>
