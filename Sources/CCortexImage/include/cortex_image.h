// PNG and JPEG decoding through Debian's libpng and libjpeg-turbo (libpng-dev,
// libjpeg62-turbo-dev), with their longjmp error handling kept on the C side.
#ifndef CORTEX_IMAGE_H
#define CORTEX_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/// A decoded image: `height` rows of `width` pixels of `channels` bytes (1 gray, 2 gray and
/// alpha, 3 RGB, 4 RGBA), row-major, in `pixels` (free it with cortex_image_free).
typedef struct {
    int width;
    int height;
    int channels;
    uint8_t *pixels;
    char error[256];
} cortex_image;

/// Decodes a PNG from memory as Pillow does: palettes expanded to RGB (RGBA with
/// transparency), gray below 8 bits scaled to 0-255, 16-bit samples cut to their high byte,
/// no gamma correction. Returns 0, or -1 with `error` set.
int cortex_png_decode(const uint8_t *data, size_t size, cortex_image *image);

/// Decodes a baseline or progressive JPEG from memory with libjpeg's defaults (accurate
/// integer DCT, fancy upsampling), as Pillow does: gray stays gray, YCbCr becomes RGB.
/// Returns 0, or -1 with `error` set (CMYK files are refused).
int cortex_jpeg_decode(const uint8_t *data, size_t size, cortex_image *image);

void cortex_image_free(cortex_image *image);

#endif
