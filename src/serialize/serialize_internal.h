/* Internal helpers shared by the checkpoint, pickle and safetensors code. */
#ifndef CT_SERIALIZE_INTERNAL_H
#define CT_SERIALIZE_INTERNAL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctorch/serialize.h"
#include "core/internal.h"

/* Growable byte buffer. */
typedef struct ct_buf {
    unsigned char *p;
    size_t n, cap;
    int failed;
} ct_buf;

static inline int ct_buf_reserve(ct_buf *b, size_t extra) {
    if (b->failed) return -1;
    if (b->n + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra) {
        if (cap > SIZE_MAX / 2) {
            b->failed = 1;
            return ct_errorf(CT_ERR_MEMORY, "[serialize] out of memory");
        }
        cap *= 2;
    }
    unsigned char *np = realloc(b->p, cap);
    if (!np) {
        b->failed = 1;
        return ct_errorf(CT_ERR_MEMORY, "[serialize] out of memory");
    }
    b->p = np;
    b->cap = cap;
    return 0;
}
static inline int ct_buf_put(ct_buf *b, const void *d, size_t n) {
    if (ct_buf_reserve(b, n)) return -1;
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
    return 0;
}
static inline int ct_buf_u8(ct_buf *b, unsigned v) {
    unsigned char c = (unsigned char)v;
    return ct_buf_put(b, &c, 1);
}
static inline int ct_buf_u16(ct_buf *b, unsigned v) {
    unsigned char c[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    return ct_buf_put(b, c, 2);
}
static inline int ct_buf_u32(ct_buf *b, uint32_t v) {
    unsigned char c[4];
    for (int i = 0; i < 4; i++) c[i] = (unsigned char)(v >> (8 * i));
    return ct_buf_put(b, c, 4);
}
static inline int ct_buf_u64(ct_buf *b, uint64_t v) {
    unsigned char c[8];
    for (int i = 0; i < 8; i++) c[i] = (unsigned char)(v >> (8 * i));
    return ct_buf_put(b, c, 8);
}

static inline uint16_t ct_rd16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t ct_rd32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t ct_rd64(const unsigned char *p) { return (uint64_t)ct_rd32(p) | ((uint64_t)ct_rd32(p + 4) << 32); }

/* String -> index hash set for the loaders' caches (keys are owned by the caller and must
 * outlive the map). Randomly seeded so hostile files cannot force collisions. */
typedef struct ct_strmap {
    const char **keys;
    size_t *vals;
    size_t cap, n;
} ct_strmap;
uint64_t ct_hash_seed(void);
static inline uint64_t ct_strhash(const char *s) {
    uint64_t h = 1469598103934665603ULL ^ ct_hash_seed();
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h ^ (h >> 29);
}
/* index of key or (size_t)-1 */
static inline size_t ct_strmap_get(const ct_strmap *m, const char *key) {
    if (!m->cap) return (size_t)-1;
    for (size_t i = (size_t)ct_strhash(key) & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1))
        if (strcmp(m->keys[i], key) == 0) return m->vals[i];
    return (size_t)-1;
}
static inline int ct_strmap_put(ct_strmap *m, const char *key, size_t val) {
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 32;
        const char **nk = calloc(cap, sizeof *nk);
        size_t *nv = calloc(cap, sizeof *nv);
        if (!nk || !nv) {
            free(nk);
            free(nv);
            return ct_errorf(CT_ERR_MEMORY, "[serialize] out of memory");
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i]) continue;
            size_t j = (size_t)ct_strhash(m->keys[i]) & (cap - 1);
            while (nk[j]) j = (j + 1) & (cap - 1);
            nk[j] = m->keys[i];
            nv[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = nk;
        m->vals = nv;
        m->cap = cap;
    }
    size_t i = (size_t)ct_strhash(key) & (m->cap - 1);
    while (m->keys[i]) i = (i + 1) & (m->cap - 1);
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
    return 0;
}
static inline void ct_strmap_free(ct_strmap *m) {
    free(m->keys);
    free(m->vals);
}

/* value.c */
ct_value *ct_value_strkind(int kind, const char *s, size_t len);
ct_value *ct_value_seqkind(int kind, size_t n);
void ct_value_free_node(ct_value *v);

/* A read-only file mapping shared by the storages made from it (refcounted). */
typedef struct ct_mapping {
    int64_t refcount;
    void *base;
    size_t len;
    int fd;
} ct_mapping;
/* Memory writers: make room for this many more bytes up front (one allocation). */
int ct_zip_writer_reserve(ct_zip_writer *w, size_t bytes);
/* CRC-32 of the record added last (0 before any). */
uint32_t ct_zip_writer_last_crc(const ct_zip_writer *w);
ct_mapping *ct_mapping_open(const char *path); /* NULL with CT_ERR_IO set */
void ct_mapping_release(ct_mapping *m);
/* Storage over [off, off+len) of the mapping: copy-on-write private pages when share,
 * otherwise a copy. */
ct_storage *ct_mapping_storage(ct_mapping *m, const void *data, size_t len, bool share);

/* unpickle.c: storage lookup callback for persistent ids. */
typedef struct ct_unpickler ct_unpickler;
typedef ct_storage *(*ct_storage_loader)(void *ctx, const char *key, int dtype, uint64_t numel, const char *where);

/* Runs one pickle program from data[*pos..len); *pos is advanced past STOP. legacy selects
 * the pre-1.6 persistent-id form. New reference or NULL (CT_ERR_UNPICKLING). */
typedef struct ct_unpickle_ctx {
    const ct_load_options *opts;
    ct_storage_loader load_storage;
    void *loader_ctx;
    int legacy;
} ct_unpickle_ctx;
ct_value *ct_unpickle(const unsigned char *data, size_t len, size_t *pos, ct_unpickle_ctx *ctx);

/* Storage class name ("FloatStorage") <-> dtype. */
int ct_storage_class_dtype(const char *name); /* -1 unknown, -2 known but unsupported */
const char *ct_storage_class_name(int dtype);
/* "float32"/aliases -> dtype or -1. */
int ct_dtype_from_torch_name(const char *name);

/* Atomic file writes: open a temp file next to path. */
int ct_atomic_open(const char *path, char **tmp_path); /* fd or -1 */
int ct_atomic_commit(int fd, const char *tmp_path, const char *path); /* fsync, rename; frees nothing */
int ct_write_all(int fd, const void *p, size_t n);

#endif
