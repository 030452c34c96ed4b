/* Byte buffers, protobuf wire-format writers, checksums and a minimal PNG encoder. */
#include "proto.h"

#include <stdlib.h>
#include <string.h>

void ct_buf_free(ct_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static int grow(ct_buf *b, size_t need) {
    if (b->failed) return -1;
    if (b->len + need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + need) {
        if (cap > ((size_t)1 << 40)) {
            b->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void ct_buf_put(ct_buf *b, const void *p, size_t n) {
    if (!n || grow(b, n)) return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void ct_buf_u8(ct_buf *b, uint8_t v) { ct_buf_put(b, &v, 1); }

void ct_buf_u32le(ct_buf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    ct_buf_put(b, x, 4);
}

void ct_buf_u64le(ct_buf *b, uint64_t v) {
    ct_buf_u32le(b, (uint32_t)v);
    ct_buf_u32le(b, (uint32_t)(v >> 32));
}

void ct_buf_u32be(ct_buf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    ct_buf_put(b, x, 4);
}

void ct_pb_varint(ct_buf *b, uint64_t v) {
    uint8_t x[10];
    int n = 0;
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        x[n++] = byte | (v ? 0x80 : 0);
    } while (v);
    ct_buf_put(b, x, (size_t)n);
}

void ct_pb_key(ct_buf *b, uint32_t field, uint32_t wire) { ct_pb_varint(b, ((uint64_t)field << 3) | wire); }

void ct_pb_uint(ct_buf *b, uint32_t field, uint64_t v) {
    ct_pb_key(b, field, 0);
    ct_pb_varint(b, v);
}

void ct_pb_double(ct_buf *b, uint32_t field, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    ct_pb_key(b, field, 1);
    ct_buf_u64le(b, u);
}

void ct_pb_float(ct_buf *b, uint32_t field, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    ct_pb_key(b, field, 5);
    ct_buf_u32le(b, u);
}

void ct_pb_bytes(ct_buf *b, uint32_t field, const void *p, size_t n) {
    ct_pb_key(b, field, 2);
    ct_pb_varint(b, n);
    ct_buf_put(b, p, n);
}

void ct_pb_str(ct_buf *b, uint32_t field, const char *s) { ct_pb_bytes(b, field, s, strlen(s)); }

void ct_pb_msg(ct_buf *b, uint32_t field, const ct_buf *child) {
    if (child->failed) b->failed = 1;
    ct_pb_bytes(b, field, child->data, child->len);
}

void ct_pb_packed_doubles(ct_buf *b, uint32_t field, const double *v, size_t n) {
    ct_pb_key(b, field, 2);
    ct_pb_varint(b, n * 8);
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, &v[i], 8);
        ct_buf_u64le(b, u);
    }
}

/* ------------------------------------------------------------------ checksums */

/* CRC-32 (ZIP/PNG) is ct_crc32 in zip.c (table-sliced and parallel for large records). */
static uint32_t crcc_table[256];
static int tables_ready = 0;

static void make_tables(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t d = i;
        for (int k = 0; k < 8; k++) d = (d & 1) ? 0x82F63B78u ^ (d >> 1) : d >> 1;
        crcc_table[i] = d;
    }
    __atomic_store_n(&tables_ready, 1, __ATOMIC_RELEASE);
}

static void ensure_tables(void) {
    if (!__atomic_load_n(&tables_ready, __ATOMIC_ACQUIRE)) make_tables();
}

uint32_t ct_crc32c(uint32_t crc, const void *p, size_t n) {
    ensure_tables();
    const uint8_t *s = p;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = crcc_table[(crc ^ s[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

uint32_t ct_crc32c_masked(const void *p, size_t n) {
    uint32_t c = ct_crc32c(0, p, n);
    return ((c >> 15) | (c << 17)) + 0xA282EAD8u;
}

uint32_t ct_adler32(const void *p, size_t n) {
    const uint8_t *s = p;
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < n; i++) {
        a = (a + s[i]) % 65521u;
        b = (b + a) % 65521u;
    }
    return (b << 16) | a;
}

/* ------------------------------------------------------------------ PNG */

static void png_chunk(ct_buf *out, const char *type, const uint8_t *data, size_t n) {
    ct_buf_u32be(out, (uint32_t)n);
    size_t start = out->len;
    ct_buf_put(out, type, 4);
    ct_buf_put(out, data, n);
    uint32_t crc = out->failed ? 0 : ct_crc32(0, out->data + start, 4 + n);
    ct_buf_u32be(out, crc);
}

int ct_png_encode(ct_buf *out, const uint8_t *pixels, int height, int width, int channels) {
    static const uint8_t sig[8] = {0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a};
    static const uint8_t ctype[5] = {0, 0, 4, 2, 6};
    if (height <= 0 || width <= 0 || channels < 1 || channels > 4) return -1;
    ct_buf_put(out, sig, 8);
    uint8_t ihdr[13];
    uint32_t w = (uint32_t)width, h = (uint32_t)height;
    ihdr[0] = (uint8_t)(w >> 24), ihdr[1] = (uint8_t)(w >> 16), ihdr[2] = (uint8_t)(w >> 8), ihdr[3] = (uint8_t)w;
    ihdr[4] = (uint8_t)(h >> 24), ihdr[5] = (uint8_t)(h >> 16), ihdr[6] = (uint8_t)(h >> 8), ihdr[7] = (uint8_t)h;
    ihdr[8] = 8, ihdr[9] = ctype[channels], ihdr[10] = 0, ihdr[11] = 0, ihdr[12] = 0;
    png_chunk(out, "IHDR", ihdr, 13);
    /* raw scanlines: filter byte 0 + row */
    size_t row = (size_t)width * (size_t)channels;
    ct_buf raw = {0};
    for (int y = 0; y < height; y++) {
        ct_buf_u8(&raw, 0);
        ct_buf_put(&raw, pixels + (size_t)y * row, row);
    }
    /* zlib stream of stored deflate blocks */
    ct_buf z = {0};
    ct_buf_u8(&z, 0x78);
    ct_buf_u8(&z, 0x01);
    size_t pos = 0;
    do {
        size_t n = raw.len - pos > 65535 ? 65535 : raw.len - pos;
        ct_buf_u8(&z, pos + n == raw.len ? 1 : 0);
        uint16_t len = (uint16_t)n, nlen = (uint16_t)~len;
        uint8_t hdr[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)nlen, (uint8_t)(nlen >> 8)};
        ct_buf_put(&z, hdr, 4);
        ct_buf_put(&z, raw.data + pos, n);
        pos += n;
    } while (pos < raw.len);
    ct_buf_u32be(&z, ct_adler32(raw.data, raw.len));
    png_chunk(out, "IDAT", z.data, z.len);
    png_chunk(out, "IEND", NULL, 0);
    int failed = raw.failed || z.failed || out->failed;
    ct_buf_free(&raw);
    ct_buf_free(&z);
    return failed ? -1 : 0;
}
