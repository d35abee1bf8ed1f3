// Debian's libopenblas-dev installs cblas.h (with OpenBLAS's threading controls) under the
// multiarch include directory, which is on the default search path.
#include <cblas.h>
