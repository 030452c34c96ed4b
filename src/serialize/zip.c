/* ZIP archives as PyTorch writes them (FORMATS.md 2.3): CRC-32, a streaming writer with
 * 64-byte aligned stored payloads, data descriptors and ZIP64 end records, and a reader that
 * checks every offset and size against the bytes present. Also file mappings and atomic
 * file replacement used by all writers of this folder. */
#define _GNU_SOURCE /* sync_file_range */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serialize_internal.h"

/* ------------------------------------------------------------------ CRC-32 */

static uint32_t crc_table[8][256];
static int crc_ready;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++) crc_table[t][i] = crc_table[0][crc_table[t - 1][i] & 0xFF] ^ (crc_table[t - 1][i] >> 8);
    __atomic_store_n(&crc_ready, 1, __ATOMIC_RELEASE);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define CT_HAVE_CLMUL 1
/* Carry-less multiplication folding (Intel's "Fast CRC Computation Using PCLMULQDQ", the
 * reflected form used by zlib's polynomial): four 128-bit lanes folded by x^512 / x^128,
 * reduced to 64 then 32 bits, and a Barrett reduction. c is the running (inverted) state;
 * len is a multiple of 16 and at least 64. Checked against the table version in
 * tests/c/test_serialize.c for every length and alignment. */
__attribute__((target("pclmul,sse4.1")))
static uint32_t crc_fold(uint32_t c, const unsigned char *buf, size_t len) {
    __m128i x0, x1, x2, x3, x4, x5, x6, x7, x8, y5, y6, y7, y8;
    x1 = _mm_loadu_si128((const __m128i *)(buf + 0x00));
    x2 = _mm_loadu_si128((const __m128i *)(buf + 0x10));
    x3 = _mm_loadu_si128((const __m128i *)(buf + 0x20));
    x4 = _mm_loadu_si128((const __m128i *)(buf + 0x30));
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)c));
    x0 = _mm_set_epi64x(0x01c6e41596LL, 0x0154442bd4LL);
    buf += 64;
    len -= 64;
    while (len >= 64) {
        x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
        x6 = _mm_clmulepi64_si128(x2, x0, 0x00);
        x7 = _mm_clmulepi64_si128(x3, x0, 0x00);
        x8 = _mm_clmulepi64_si128(x4, x0, 0x00);
        x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
        x2 = _mm_clmulepi64_si128(x2, x0, 0x11);
        x3 = _mm_clmulepi64_si128(x3, x0, 0x11);
        x4 = _mm_clmulepi64_si128(x4, x0, 0x11);
        y5 = _mm_loadu_si128((const __m128i *)(buf + 0x00));
        y6 = _mm_loadu_si128((const __m128i *)(buf + 0x10));
        y7 = _mm_loadu_si128((const __m128i *)(buf + 0x20));
        y8 = _mm_loadu_si128((const __m128i *)(buf + 0x30));
        x1 = _mm_xor_si128(_mm_xor_si128(x1, x5), y5);
        x2 = _mm_xor_si128(_mm_xor_si128(x2, x6), y6);
        x3 = _mm_xor_si128(_mm_xor_si128(x3, x7), y7);
        x4 = _mm_xor_si128(_mm_xor_si128(x4, x8), y8);
        buf += 64;
        len -= 64;
    }
    x0 = _mm_set_epi64x(0x00ccaa009eLL, 0x01751997d0LL);
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x3), x5);
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x4), x5);
    while (len >= 16) {
        x2 = _mm_loadu_si128((const __m128i *)buf);
        x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
        x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
        buf += 16;
        len -= 16;
    }
    x2 = _mm_clmulepi64_si128(x1, x0, 0x10);
    x3 = _mm_setr_epi32(~0, 0, ~0, 0);
    x1 = _mm_srli_si128(x1, 8);
    x1 = _mm_xor_si128(x1, x2);
    x0 = _mm_loadl_epi64((const __m128i *)&(const uint64_t){0x0163cd6124ULL});
    x2 = _mm_srli_si128(x1, 4);
    x1 = _mm_and_si128(x1, x3);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    x0 = _mm_set_epi64x(0x01f7011641LL, 0x01db710641LL);
    x2 = _mm_and_si128(x1, x3);
    x2 = _mm_clmulepi64_si128(x2, x0, 0x10);
    x2 = _mm_and_si128(x2, x3);
    x2 = _mm_clmulepi64_si128(x2, x0, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    return (uint32_t)_mm_extract_epi32(x1, 1);
}
#endif

static uint32_t crc_serial(uint32_t crc, const void *data, size_t len) {
    const unsigned char *p = data;
    uint32_t c = ~crc;
#ifdef CT_HAVE_CLMUL
    static int clmul = -1;
    if (clmul < 0) clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
    if (clmul && len >= 64) {
        size_t m = len & ~(size_t)15;
        c = crc_fold(c, p, m);
        p += m;
        len -= m;
    }
#endif
    /* slicing-by-8 */
    while (len >= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24));
        uint32_t hi = (uint32_t)p[4] | ((uint32_t)p[5] << 8) | ((uint32_t)p[6] << 16) | ((uint32_t)p[7] << 24);
        c = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^ crc_table[5][(lo >> 16) & 0xFF] ^
            crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xFF] ^ crc_table[2][(hi >> 8) & 0xFF] ^
            crc_table[1][(hi >> 16) & 0xFF] ^ crc_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--) c = crc_table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return ~c;
}

/* Combining CRCs of concatenated blocks: crc(A B) = crc(A) * x^(8 |B|) + crc(B) in
 * GF(2)[x] modulo the polynomial, in the reflected bit order of the table. */
static uint32_t gf2_mul(uint32_t a, uint32_t b) {
    uint32_t m = 1u << 31, p = 0;
    for (;;) {
        if (a & m) {
            p ^= b;
            if ((a & (m - 1)) == 0) break;
        }
        m >>= 1;
        b = (b & 1) ? (b >> 1) ^ 0xEDB88320u : b >> 1;
    }
    return p;
}

/* x^(8 n) mod P */
static uint32_t x_pow_bytes(uint64_t n) {
    uint32_t r = 1u << 31;  /* x^0 */
    uint32_t sq = 1u << 23; /* x^8: one byte */
    while (n) {
        if (n & 1) r = gf2_mul(sq, r);
        sq = gf2_mul(sq, sq);
        n >>= 1;
    }
    return r;
}

typedef struct crc_job {
    const unsigned char *p;
    size_t len, chunk;
    uint32_t *parts;
} crc_job;

static void crc_range(int64_t b, int64_t e, void *ctx) {
    crc_job *j = ctx;
    for (int64_t i = b; i < e; i++) {
        size_t off = (size_t)i * j->chunk, n = off + j->chunk <= j->len ? j->chunk : j->len - off;
        j->parts[i] = crc_serial(0, j->p + off, n);
    }
}

uint32_t ct_crc32(uint32_t crc, const void *data, size_t len) {
    if (!__atomic_load_n(&crc_ready, __ATOMIC_ACQUIRE)) crc_init(); /* idempotent: racing inits write equal tables */
    const size_t chunk = (size_t)4 << 20;
    if (len < 2 * chunk || ct_get_num_threads() < 2) return crc_serial(crc, data, len);
    size_t nparts = (len + chunk - 1) / chunk;
    uint32_t stackparts[64], *parts = nparts <= 64 ? stackparts : malloc(nparts * sizeof *parts);
    if (!parts) return crc_serial(crc, data, len);
    crc_job j = {data, len, chunk, parts};
    ct_parallel_for((int64_t)nparts, 1, crc_range, &j);
    uint32_t c = crc;
    for (size_t i = 0; i < nparts; i++) {
        size_t n = i + 1 < nparts ? chunk : len - i * chunk;
        c = gf2_mul(x_pow_bytes(n), c) ^ parts[i];
    }
    if (parts != stackparts) free(parts);
    return c;
}

/* ------------------------------------------------------------------ files */

int ct_write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n > (1u << 30) ? (1u << 30) : n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return ct_errorf(CT_ERR_IO, "[save] write failed: %s", strerror(errno));
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int ct_atomic_open(const char *path, char **tmp_path) {
    size_t n = strlen(path);
    char *t = malloc(n + 16);
    if (!t) return ct_errorf(CT_ERR_MEMORY, "[save] out of memory");
    memcpy(t, path, n);
    memcpy(t + n, ".tmp.XXXXXX", 12);
    int fd = mkstemp(t);
    if (fd < 0) {
        int e = errno;
        free(t);
        ct_error(CT_ERR_IO, "[save] cannot create a file next to '%s': %s", path, strerror(e));
        return -1;
    }
    fchmod(fd, 0644 & ~0); /* mkstemp creates 0600; checkpoints are ordinary files */
    *tmp_path = t;
    return fd;
}

/* Data and the size the file needs to be read back; writeback was started while writing. */
static int sync_data(int fd) {
#ifdef __linux__
    return fdatasync(fd);
#else
    return fsync(fd);
#endif
}

int ct_atomic_commit(int fd, const char *tmp_path, const char *path) {
    if (sync_data(fd) != 0 && errno != EINVAL) {
        int e = errno;
        close(fd);
        unlink(tmp_path);
        return ct_errorf(CT_ERR_IO, "[save] fsync failed: %s", strerror(e));
    }
    close(fd);
    if (rename(tmp_path, path) != 0) {
        int e = errno;
        unlink(tmp_path);
        return ct_errorf(CT_ERR_IO, "[save] cannot rename onto '%s': %s", path, strerror(e));
    }
    /* make the rename itself durable */
    char *dir = strdup(path);
    if (dir) {
        char *slash = strrchr(dir, '/');
        const char *d = ".";
        if (slash) {
            if (slash == dir) slash[1] = 0;
            else *slash = 0;
            d = dir;
        }
        int dfd = open(d, O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    return 0;
}

ct_mapping *ct_mapping_open(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ct_error(CT_ERR_IO, "[load] cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ct_error(CT_ERR_IO, "[load] '%s' is not a regular file", path);
    }
    ct_mapping *m = calloc(1, sizeof *m);
    if (!m) {
        close(fd);
        return ct_error(CT_ERR_MEMORY, "[load] out of memory");
    }
    m->refcount = 1;
    m->len = (size_t)st.st_size;
    if (m->len) {
        /* private and writable: pages written through a mapped tensor are copied, never
         * written back */
        m->base = mmap(NULL, m->len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (m->base == MAP_FAILED) {
            int e = errno;
            close(fd);
            free(m);
            return ct_error(CT_ERR_IO, "[load] cannot map '%s': %s", path, strerror(e));
        }
    }
    m->fd = fd; /* kept for pread copies (no page faults on the mapping) */
    return m;
}

void ct_mapping_release(ct_mapping *m) {
    if (!m) return;
    if (__atomic_sub_fetch(&m->refcount, 1, __ATOMIC_ACQ_REL) > 0) return;
    if (m->base) munmap(m->base, m->len);
    if (m->fd >= 0) close(m->fd);
    free(m);
}

static void mapping_deleter(void *data, void *ctx) {
    (void)data;
    ct_mapping_release(ctx);
}

ct_storage *ct_mapping_storage(ct_mapping *m, const void *data, size_t len, bool share) {
    if (share && m && len && ((uintptr_t)data % 64) == 0) {
        __atomic_add_fetch(&m->refcount, 1, __ATOMIC_ACQ_REL);
        ct_storage *s = ct_storage_wrap((void *)data, len, mapping_deleter, m);
        if (!s) ct_mapping_release(m);
        return s;
    }
    ct_storage *s = ct_storage_new(len);
    if (!s) return NULL;
    if (!len) return s;
    if (m && m->fd >= 0) {
        char *dst = ct_storage_data(s);
        size_t done = 0;
        off_t off = (off_t)((const char *)data - (const char *)m->base);
        while (done < len) {
            ssize_t r = pread(m->fd, dst + done, len - done, off + (off_t)done);
            if (r <= 0) {
                if (r < 0 && errno == EINTR) continue;
                break;
            }
            done += (size_t)r;
        }
        if (done == len) return s;
    }
    memcpy(ct_storage_data(s), data, len);
    return s;
}

/* ------------------------------------------------------------------ writer */

typedef struct zentry {
    char *name;
    uint64_t offset, size;
    uint32_t crc;
    uint16_t flags;
} zentry;

struct ct_zip_writer {
    int fd;          /* -1: memory */
    char *path, *tmp_path;
    char *prefix;    /* "archive/" */
    ct_buf mem;
    uint64_t pos;
    uint64_t flushed; /* file writes: bytes whose writeback has been started */
    zentry *ents;
    size_t n, cap;
};

/* File writes go out in WB_CHUNK pieces, and after each one the kernel is told to start
 * writing the finished range back to disk (sync_file_range, Linux). The final fdatasync of
 * the atomic save then only waits for the tail instead of flushing the whole file at once,
 * and dirty-page throttling never stalls a big save. */
#define WB_CHUNK ((size_t)8 << 20)

static int zw_out(ct_zip_writer *w, const void *p, size_t n) {
    if (w->fd < 0) {
        if (ct_buf_put(&w->mem, p, n)) return -1;
        w->pos += n;
        return 0;
    }
    const char *c = p;
    while (n) {
        size_t k = n > WB_CHUNK ? WB_CHUNK : n;
        if (ct_write_all(w->fd, c, k)) return -1;
        c += k;
        n -= k;
        w->pos += k;
#ifdef __linux__
        if (w->pos - w->flushed >= WB_CHUNK) {
            (void)sync_file_range(w->fd, (off64_t)w->flushed, (off64_t)(w->pos - w->flushed), SYNC_FILE_RANGE_WRITE);
            w->flushed = w->pos;
        }
#endif
    }
    return 0;
}

/* CRC of a big record on a helper thread while the record is being written. */
typedef struct crc_bg {
    const void *p;
    size_t n;
    uint32_t crc;
} crc_bg;

static void *crc_bg_run(void *arg) {
    crc_bg *j = arg;
    j->crc = crc_serial(0, j->p, j->n);
    return NULL;
}

ct_zip_writer *ct_zip_writer_new(const char *path, const char *archive_name) {
    ct_zip_writer *w = calloc(1, sizeof *w);
    if (!w) return ct_error(CT_ERR_MEMORY, "[save] out of memory");
    w->fd = -1;
    if (!archive_name || !*archive_name) archive_name = "archive";
    size_t an = strlen(archive_name);
    w->prefix = malloc(an + 2);
    if (!w->prefix) {
        free(w);
        return ct_error(CT_ERR_MEMORY, "[save] out of memory");
    }
    memcpy(w->prefix, archive_name, an);
    memcpy(w->prefix + an, "/", 2);
    if (path) {
        w->path = strdup(path);
        w->fd = w->path ? ct_atomic_open(path, &w->tmp_path) : -1;
        if (w->fd < 0) {
            if (!w->path) ct_error(CT_ERR_MEMORY, "[save] out of memory");
            free(w->path);
            free(w->prefix);
            free(w);
            return NULL;
        }
    }
    return w;
}

void ct_zip_writer_abort(ct_zip_writer *w) {
    if (!w) return;
    if (w->fd >= 0) {
        close(w->fd);
        unlink(w->tmp_path);
    }
    for (size_t i = 0; i < w->n; i++) free(w->ents[i].name);
    free(w->ents);
    free(w->mem.p);
    free(w->path);
    free(w->tmp_path);
    free(w->prefix);
    free(w);
}

static const unsigned char zpad[64] = {
    'Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z',
    'Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z','Z'};

int ct_zip_writer_reserve(ct_zip_writer *w, size_t bytes) {
    return w->fd >= 0 ? 0 : ct_buf_reserve(&w->mem, bytes);
}

int ct_zip_writer_add(ct_zip_writer *w, const char *record, const void *data, size_t len) {
    size_t pn = strlen(w->prefix), rn = strlen(record);
    if (pn + rn > 0xFFFF) return ct_errorf(CT_ERR_VALUE, "[save] record name too long");
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        zentry *ne = realloc(w->ents, cap * sizeof *ne);
        if (!ne) return ct_errorf(CT_ERR_MEMORY, "[save] out of memory");
        w->ents = ne;
        w->cap = cap;
    }
    zentry *e = &w->ents[w->n];
    e->name = malloc(pn + rn + 1);
    if (!e->name) return ct_errorf(CT_ERR_MEMORY, "[save] out of memory");
    memcpy(e->name, w->prefix, pn);
    memcpy(e->name + pn, record, rn + 1);
    w->n++;
    size_t n = pn + rn;
    uint64_t H = w->pos;
    e->offset = H;
    e->size = len;
    /* big file records: CRC on a helper thread, overlapped with the write below */
    crc_bg bg = {data, len, 0};
    pthread_t bg_thread;
    int bg_running = 0;
    if (w->fd >= 0 && len >= 2 * WB_CHUNK) {
        if (!__atomic_load_n(&crc_ready, __ATOMIC_ACQUIRE)) crc_init();
        bg_running = pthread_create(&bg_thread, NULL, crc_bg_run, &bg) == 0;
    }
    e->crc = bg_running || !len ? 0 : ct_crc32(0, data, len);
    e->flags = len ? 0x0808 : 0x0800;
    int big_size = (uint64_t)len >= 0xFFFFFFFFu, big_off = H >= 0xFFFFFFFFu;
    size_t z64 = (big_size || big_off) ? 4 + (big_size ? 16 : 0) + (big_off ? 8 : 0) : 0;
    uint64_t start = H + 30 + n + z64 + 4;
    unsigned pad = (unsigned)((64 - start % 64) % 64);
    ct_buf h = {0};
    ct_buf_u32(&h, 0x04034B50);
    ct_buf_u16(&h, 0);
    ct_buf_u16(&h, e->flags);
    ct_buf_u16(&h, 0);
    ct_buf_u16(&h, 0);
    ct_buf_u16(&h, 0);
    ct_buf_u32(&h, 0);
    ct_buf_u32(&h, 0);
    ct_buf_u32(&h, 0);
    ct_buf_u16(&h, (unsigned)n);
    ct_buf_u16(&h, (unsigned)(z64 + 4 + pad));
    ct_buf_put(&h, e->name, n);
    if (z64) {
        ct_buf_u16(&h, 0x0001);
        ct_buf_u16(&h, (unsigned)(z64 - 4));
        if (big_size) {
            ct_buf_u64(&h, len);
            ct_buf_u64(&h, len);
        }
        if (big_off) ct_buf_u64(&h, H);
    }
    ct_buf_put(&h, "FB", 2);
    ct_buf_u16(&h, pad);
    ct_buf_put(&h, zpad, pad);
    int rc = h.failed ? -1 : zw_out(w, h.p, h.n);
    free(h.p);
    if (!rc) rc = zw_out(w, data, len);
    if (bg_running) {
        pthread_join(bg_thread, NULL);
        e->crc = bg.crc;
    }
    if (rc) return -1;
    if (len) {
        ct_buf d = {0};
        ct_buf_u32(&d, 0x08074B50);
        ct_buf_u32(&d, e->crc);
        if (z64) {
            ct_buf_u64(&d, len);
            ct_buf_u64(&d, len);
        } else {
            ct_buf_u32(&d, (uint32_t)len);
            ct_buf_u32(&d, (uint32_t)len);
        }
        rc = d.failed ? -1 : zw_out(w, d.p, d.n);
        free(d.p);
        if (rc) return -1;
    }
    return 0;
}

uint32_t ct_zip_writer_last_crc(const ct_zip_writer *w) { return w->n ? w->ents[w->n - 1].crc : 0; }

int ct_zip_writer_finish(ct_zip_writer *w, void **out, size_t *out_len) {
    ct_buf c = {0};
    uint64_t cd_off = w->pos;
    for (size_t i = 0; i < w->n; i++) {
        zentry *e = &w->ents[i];
        size_t n = strlen(e->name);
        int big_size = e->size >= 0xFFFFFFFFu, big_off = e->offset >= 0xFFFFFFFFu;
        unsigned ex = (big_size || big_off) ? 4 + (big_size ? 16 : 0) + (big_off ? 8 : 0) : 0;
        ct_buf_u32(&c, 0x02014B50);
        ct_buf_u16(&c, 0);
        ct_buf_u16(&c, 0);
        ct_buf_u16(&c, e->flags);
        ct_buf_u16(&c, 0);
        ct_buf_u16(&c, 0);
        ct_buf_u16(&c, 0);
        ct_buf_u32(&c, e->crc);
        ct_buf_u32(&c, big_size ? 0xFFFFFFFFu : (uint32_t)e->size);
        ct_buf_u32(&c, big_size ? 0xFFFFFFFFu : (uint32_t)e->size);
        ct_buf_u16(&c, (unsigned)n);
        ct_buf_u16(&c, ex);
        ct_buf_u16(&c, 0);
        ct_buf_u16(&c, 0);
        ct_buf_u16(&c, 0);
        ct_buf_u32(&c, 0);
        ct_buf_u32(&c, big_off ? 0xFFFFFFFFu : (uint32_t)e->offset);
        ct_buf_put(&c, e->name, n);
        if (ex) {
            ct_buf_u16(&c, 0x0001);
            ct_buf_u16(&c, ex - 4);
            if (big_size) {
                ct_buf_u64(&c, e->size);
                ct_buf_u64(&c, e->size);
            }
            if (big_off) ct_buf_u64(&c, e->offset);
        }
    }
    uint64_t cd_size = c.n, z64_off = cd_off + cd_size;
    ct_buf_u32(&c, 0x06064B50);
    ct_buf_u64(&c, 44);
    ct_buf_u16(&c, 0x031E);
    ct_buf_u16(&c, 0x002D);
    ct_buf_u32(&c, 0);
    ct_buf_u32(&c, 0);
    ct_buf_u64(&c, w->n);
    ct_buf_u64(&c, w->n);
    ct_buf_u64(&c, cd_size);
    ct_buf_u64(&c, cd_off);
    ct_buf_u32(&c, 0x07064B50);
    ct_buf_u32(&c, 0);
    ct_buf_u64(&c, z64_off);
    ct_buf_u32(&c, 1);
    ct_buf_u32(&c, 0x06054B50);
    ct_buf_u16(&c, 0);
    ct_buf_u16(&c, 0);
    ct_buf_u16(&c, w->n >= 0xFFFF ? 0xFFFF : (unsigned)w->n);
    ct_buf_u16(&c, w->n >= 0xFFFF ? 0xFFFF : (unsigned)w->n);
    ct_buf_u32(&c, cd_size >= 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)cd_size);
    ct_buf_u32(&c, cd_off >= 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)cd_off);
    ct_buf_u16(&c, 0);
    int rc = c.failed ? -1 : zw_out(w, c.p, c.n);
    free(c.p);
    if (rc) {
        ct_zip_writer_abort(w);
        return -1;
    }
    if (w->fd >= 0) {
        rc = ct_atomic_commit(w->fd, w->tmp_path, w->path);
        w->fd = -1;
        if (out) *out = NULL;
        if (out_len) *out_len = 0;
    } else {
        if (out) {
            *out = w->mem.p;
            w->mem.p = NULL;
        }
        if (out_len) *out_len = w->mem.n;
    }
    ct_zip_writer_abort(w); /* frees the rest; fd already closed */
    return rc;
}

/* ------------------------------------------------------------------ reader */

typedef struct rentry {
    const char *name; /* prefix stripped, points into names */
    uint64_t off, size;
} rentry;

struct ct_zip_reader {
    const unsigned char *data;
    size_t len;
    ct_mapping *map; /* file readers */
    rentry *ents;
    size_t n;
    const rentry **sorted; /* by name, then file order */
    char *names;
};

static void *zerr(const char *msg) { return ct_error(CT_ERR_RUNTIME, "[load] invalid checkpoint archive: %s", msg); }

void ct_zip_reader_close(ct_zip_reader *r) {
    if (!r) return;
    ct_mapping_release(r->map);
    free(r->ents);
    free(r->sorted);
    free(r->names);
    free(r);
}

/* Sort entries by name; ties keep file order (entries are contiguous, so pointer order). */
static int cmp_names(const void *a, const void *b) {
    const rentry *x = *(const rentry *const *)a, *y = *(const rentry *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x < y ? -1 : x > y);
}

static ct_zip_reader *zr_parse(ct_zip_reader *r) {
    const unsigned char *d = r->data;
    size_t len = r->len;
    if (len < 22 || ct_rd32(d) != 0x04034B50) return zerr("not a ZIP file");
    size_t eocd = 0;
    int found = 0;
    size_t lo = len - 22 > 65535 ? len - 22 - 65535 : 0;
    for (size_t p = len - 22 + 1; p-- > lo;) {
        if (ct_rd32(d + p) == 0x06054B50) {
            eocd = p;
            found = 1;
            break;
        }
    }
    if (!found) return zerr("end of central directory not found (truncated file?)");
    uint64_t count = ct_rd16(d + eocd + 10), cd_size = ct_rd32(d + eocd + 12), cd_off = ct_rd32(d + eocd + 16);
    if (count == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu) {
        if (eocd < 20 || ct_rd32(d + eocd - 20) != 0x07064B50) return zerr("ZIP64 locator missing");
        uint64_t z = ct_rd64(d + eocd - 12);
        if (z > len || len - z < 56 || ct_rd32(d + z) != 0x06064B50) return zerr("bad ZIP64 end record");
        count = ct_rd64(d + z + 32);
        cd_size = ct_rd64(d + z + 40);
        cd_off = ct_rd64(d + z + 48);
    }
    if (cd_off > len || cd_size > len - cd_off) return zerr("central directory out of bounds");
    if (count == 0) return zerr("empty archive");
    if (count > cd_size / 46) return zerr("entry count exceeds the central directory");
    r->ents = calloc((size_t)count, sizeof *r->ents);
    r->sorted = malloc((size_t)count * sizeof *r->sorted);
    r->names = malloc((size_t)cd_size + 1); /* names are shorter than their entries */
    if (!r->ents || !r->sorted || !r->names) return ct_error(CT_ERR_MEMORY, "[load] out of memory");
    size_t names_used = 0, prefix_len = 0;
    const unsigned char *p = d + cd_off, *end = d + cd_off + cd_size;
    for (uint64_t i = 0; i < count; i++) {
        if ((size_t)(end - p) < 46 || ct_rd32(p) != 0x02014B50) return zerr("bad central directory entry");
        unsigned method = ct_rd16(p + 10), n = ct_rd16(p + 28), e = ct_rd16(p + 30), c = ct_rd16(p + 32);
        uint64_t csize = ct_rd32(p + 20), usize = ct_rd32(p + 24), off = ct_rd32(p + 42);
        if ((size_t)(end - p) < 46 + (size_t)n + e + c) return zerr("central directory entry out of bounds");
        const unsigned char *name = p + 46, *ex = name + n, *exend = ex + e;
        while (exend - ex >= 4) {
            unsigned id = ct_rd16(ex), sz = ct_rd16(ex + 2);
            if ((size_t)(exend - ex - 4) < sz) return zerr("bad extra field");
            if (id == 0x0001) {
                const unsigned char *q = ex + 4, *qe = ex + 4 + sz;
                if (usize == 0xFFFFFFFFu) {
                    if (qe - q < 8) return zerr("bad ZIP64 extra");
                    usize = ct_rd64(q);
                    q += 8;
                }
                if (csize == 0xFFFFFFFFu) {
                    if (qe - q < 8) return zerr("bad ZIP64 extra");
                    csize = ct_rd64(q);
                    q += 8;
                }
                if (off == 0xFFFFFFFFu) {
                    if (qe - q < 8) return zerr("bad ZIP64 extra");
                    off = ct_rd64(q);
                    q += 8;
                }
            }
            ex += 4 + sz;
        }
        if (method != 0) return zerr("compressed records are not supported (method must be 0)");
        if (csize != usize) return zerr("stored record with differing sizes");
        if (off > len || len - off < 30 || ct_rd32(d + off) != 0x04034B50) return zerr("bad local header offset");
        uint64_t pay = off + 30 + (uint64_t)ct_rd16(d + off + 26) + ct_rd16(d + off + 28);
        if (pay > len || usize > len - pay) return zerr("record extends past the end of the file");
        if (i == 0) {
            const void *slash = memchr(name, '/', n);
            if (!slash) return zerr("first record has no archive folder");
            prefix_len = (size_t)((const unsigned char *)slash - name) + 1;
        }
        size_t skip = (n >= prefix_len && memcmp(name, d + cd_off + 46, prefix_len) == 0) ? prefix_len : 0;
        char *nm = r->names + names_used;
        memcpy(nm, name + skip, n - skip);
        nm[n - skip] = 0;
        if (strlen(nm) != n - skip) return zerr("NUL in record name");
        names_used += n - skip + 1;
        r->ents[i].name = nm;
        r->ents[i].off = pay;
        r->ents[i].size = usize;
        p += 46 + (size_t)n + e + c;
    }
    r->n = (size_t)count;
    for (size_t i = 0; i < r->n; i++) r->sorted[i] = &r->ents[i];
    qsort(r->sorted, r->n, sizeof *r->sorted, cmp_names);
    return r;
}

ct_zip_reader *ct_zip_reader_open_mem(const void *data, size_t len) {
    ct_zip_reader *r = calloc(1, sizeof *r);
    if (!r) return ct_error(CT_ERR_MEMORY, "[load] out of memory");
    r->data = data;
    r->len = len;
    if (!zr_parse(r)) {
        ct_zip_reader_close(r);
        return NULL;
    }
    return r;
}

ct_zip_reader *ct_zip_reader_open_file(const char *path) {
    ct_mapping *m = ct_mapping_open(path);
    if (!m) return NULL;
    ct_zip_reader *r = calloc(1, sizeof *r);
    if (!r) {
        ct_mapping_release(m);
        return ct_error(CT_ERR_MEMORY, "[load] out of memory");
    }
    r->map = m;
    r->data = m->base;
    r->len = m->len;
    if (!zr_parse(r)) {
        ct_zip_reader_close(r);
        return NULL;
    }
    return r;
}

size_t ct_zip_reader_count(const ct_zip_reader *r) { return r->n; }
const char *ct_zip_reader_name(const ct_zip_reader *r, size_t i) { return i < r->n ? r->ents[i].name : NULL; }

int ct_zip_reader_find(const ct_zip_reader *r, const char *record, const void **data, size_t *len) {
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(r->sorted[mid]->name, record) < 0) lo = mid + 1;
        else hi = mid;
    }
    /* lo: the first entry not below record (duplicates: the first in file order) */
    if (lo == r->n || strcmp(r->sorted[lo]->name, record) != 0) return -1;
    *data = r->data + r->sorted[lo]->off;
    *len = (size_t)r->sorted[lo]->size;
    return 0;
}

ct_storage *ct_zip_reader_storage(ct_zip_reader *r, const char *record, bool share) {
    const void *p;
    size_t n;
    if (ct_zip_reader_find(r, record, &p, &n)) return zerr("missing record");
    return ct_mapping_storage(r->map, p, n, share);
}
