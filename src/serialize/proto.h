/* Growable byte buffers with protobuf wire-format writers (varints, keys, fixed-width
 * numbers, length-delimited fields) and the checksums the file formats need (CRC-32 for
 * ZIP/PNG, masked CRC-32C for TFRecord, Adler-32 for zlib). Shared by the TensorBoard
 * and ONNX writers. */
#ifndef CTORCH_SERIALIZE_PROTO_H
#define CTORCH_SERIALIZE_PROTO_H

#include <stddef.h>
#include <stdint.h>

typedef struct ct_buf {
    uint8_t *data;
    size_t len, cap;
    int failed; /* sticky out-of-memory flag */
} ct_buf;

void ct_buf_free(ct_buf *b);
void ct_buf_put(ct_buf *b, const void *p, size_t n);
void ct_buf_u8(ct_buf *b, uint8_t v);
void ct_buf_u32le(ct_buf *b, uint32_t v);
void ct_buf_u64le(ct_buf *b, uint64_t v);
void ct_buf_u32be(ct_buf *b, uint32_t v);

/* protobuf wire format (FORMATS.md 1.3) */
void ct_pb_varint(ct_buf *b, uint64_t v);
void ct_pb_key(ct_buf *b, uint32_t field, uint32_t wire);
void ct_pb_uint(ct_buf *b, uint32_t field, uint64_t v);  /* VARINT; negative int64 as 2^64 + v */
void ct_pb_double(ct_buf *b, uint32_t field, double v);  /* I64 */
void ct_pb_float(ct_buf *b, uint32_t field, float v);    /* I32 */
void ct_pb_bytes(ct_buf *b, uint32_t field, const void *p, size_t n); /* LEN */
void ct_pb_str(ct_buf *b, uint32_t field, const char *s);
void ct_pb_msg(ct_buf *b, uint32_t field, const ct_buf *child); /* embedded message */
void ct_pb_packed_doubles(ct_buf *b, uint32_t field, const double *v, size_t n);

uint32_t ct_crc32(uint32_t crc, const void *p, size_t n);   /* start with 0 (defined in zip.c) */
uint32_t ct_crc32c(uint32_t crc, const void *p, size_t n);  /* start with 0 */
uint32_t ct_crc32c_masked(const void *p, size_t n);
uint32_t ct_adler32(const void *p, size_t n);

/* PNG of 8-bit pixels (channels 1..4), rows top to bottom, stored-deflate IDAT. */
int ct_png_encode(ct_buf *out, const uint8_t *pixels, int height, int width, int channels);

#endif
