#include "cortex_image.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

void cortex_image_free(cortex_image *image) {
    free(image->pixels);
    image->pixels = NULL;
}

// MARK: PNG

typedef struct {
    const uint8_t *data;
    size_t size, offset;
    cortex_image *image;
} png_source;

static void png_read_memory(png_structp png, png_bytep out, png_size_t count) {
    png_source *source = (png_source *)png_get_io_ptr(png);
    if (count > source->size - source->offset) png_error(png, "the data ends before the image does");
    memcpy(out, source->data + source->offset, count);
    source->offset += count;
}

static void png_fail(png_structp png, png_const_charp message) {
    png_source *source = (png_source *)png_get_error_ptr(png);
    snprintf(source->image->error, sizeof source->image->error, "%s", message);
    png_longjmp(png, 1);
}

static void png_warn(png_structp png, png_const_charp message) { (void)png; (void)message; }

int cortex_png_decode(const uint8_t *data, size_t size, cortex_image *image) {
    memset(image, 0, sizeof *image);
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
        snprintf(image->error, sizeof image->error, "not a PNG (no PNG signature)");
        return -1;
    }
    png_source source = {data, size, 8, image};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, png_fail, png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        snprintf(image->error, sizeof image->error, "libpng could not allocate its state");
        png_destroy_read_struct(&png, NULL, NULL);
        return -1;
    }
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        cortex_image_free(image);
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    png_set_read_fn(png, &source, png_read_memory);
    png_set_sig_bytes(png, 8);
    png_set_user_limits(png, 1 << 16, 1 << 16);
    png_read_info(png, info);
    int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (depth == 16) png_set_strip_16(png);
    int passes = png_set_interlace_handling(png);
    (void)passes;
    png_read_update_info(png, info);
    image->width = (int)png_get_image_width(png, info);
    image->height = (int)png_get_image_height(png, info);
    image->channels = png_get_channels(png, info);
    size_t stride = png_get_rowbytes(png, info);
    if (stride != (size_t)image->width * (size_t)image->channels) png_error(png, "unexpected row layout after the transformations");
    image->pixels = malloc(stride * (size_t)image->height);
    rows = malloc(sizeof(png_bytep) * (size_t)image->height);
    if (!image->pixels || !rows) png_error(png, "out of memory for the pixels");
    for (int row = 0; row < image->height; row++) rows[row] = image->pixels + (size_t)row * stride;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

// MARK: JPEG

typedef struct {
    struct jpeg_error_mgr manager;
    jmp_buf jump;
    cortex_image *image;
} jpeg_failure;

static void jpeg_fail(j_common_ptr codec) {
    jpeg_failure *failure = (jpeg_failure *)codec->err;
    char message[JMSG_LENGTH_MAX];
    (*codec->err->format_message)(codec, message);
    snprintf(failure->image->error, sizeof failure->image->error, "%s", message);
    longjmp(failure->jump, 1);
}

/// Warnings pass, as in Pillow, except a file that ends before its image does.
static void jpeg_quiet(j_common_ptr codec, int level) {
    if (level < 0 && codec->err->msg_code == JWRN_JPEG_EOF) {
        jpeg_failure *failure = (jpeg_failure *)codec->err;
        snprintf(failure->image->error, sizeof failure->image->error, "the data ends before the image does");
        longjmp(failure->jump, 1);
    }
}

int cortex_jpeg_decode(const uint8_t *data, size_t size, cortex_image *image) {
    memset(image, 0, sizeof *image);
    if (size < 3 || data[0] != 0xFF || data[1] != 0xD8) {
        snprintf(image->error, sizeof image->error, "not a JPEG (no start-of-image marker)");
        return -1;
    }
    struct jpeg_decompress_struct codec;
    jpeg_failure failure;
    failure.image = image;
    codec.err = jpeg_std_error(&failure.manager);
    failure.manager.error_exit = jpeg_fail;
    failure.manager.emit_message = jpeg_quiet;
    if (setjmp(failure.jump)) {
        jpeg_destroy_decompress(&codec);
        cortex_image_free(image);
        return -1;
    }
    jpeg_create_decompress(&codec);
    jpeg_mem_src(&codec, data, (unsigned long)size);
    jpeg_read_header(&codec, TRUE);
    if (codec.jpeg_color_space == JCS_CMYK || codec.jpeg_color_space == JCS_YCCK) {
        snprintf(image->error, sizeof image->error, "CMYK JPEGs are not supported");
        longjmp(failure.jump, 1);
    }
    codec.out_color_space = codec.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    codec.dct_method = JDCT_ISLOW;
    codec.do_fancy_upsampling = TRUE;
    jpeg_start_decompress(&codec);
    image->width = (int)codec.output_width;
    image->height = (int)codec.output_height;
    image->channels = codec.output_components;
    size_t stride = (size_t)image->width * (size_t)image->channels;
    image->pixels = malloc(stride * (size_t)image->height);
    if (!image->pixels) {
        snprintf(image->error, sizeof image->error, "out of memory for the pixels");
        longjmp(failure.jump, 1);
    }
    while (codec.output_scanline < codec.output_height) {
        JSAMPROW row = image->pixels + (size_t)codec.output_scanline * stride;
        jpeg_read_scanlines(&codec, &row, 1);
    }
    jpeg_finish_decompress(&codec);
    jpeg_destroy_decompress(&codec);
    return 0;
}
