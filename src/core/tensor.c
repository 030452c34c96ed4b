/* Core objects: dtypes and promotion, the thread-local error, the allocator hook, storages
 * and tensor metadata. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctorch/core.h"
#include "internal.h"

/* ------------------------------------------------------------------ dtypes */

const uint8_t ct_dtype_sizes[CT_NUM_DTYPES] = {1, 1, 1, 2, 4, 8, 2, 2, 4, 8};
static const char *const dtype_names[CT_NUM_DTYPES] = {
    "bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"};

const char *ct_dtype_name(int d) { return (d >= 0 && d < CT_NUM_DTYPES) ? dtype_names[d] : "?"; }
size_t ct_dtype_size(int d) { return (d >= 0 && d < CT_NUM_DTYPES) ? ct_dtype_sizes[d] : 0; }
bool ct_dtype_is_floating(int d) { return d >= CT_FLOAT16 && d <= CT_FLOAT64; }
bool ct_dtype_is_integral(int d, bool include_bool) {
    return (d >= CT_UINT8 && d <= CT_INT64) || (include_bool && d == CT_BOOL);
}

/* torch.promote_types, as a table (rows/cols in ct_dtype order). */
#define b1 CT_BOOL
#define u1 CT_UINT8
#define i1 CT_INT8
#define i2 CT_INT16
#define i4 CT_INT32
#define i8 CT_INT64
#define f2 CT_FLOAT16
#define bf CT_BFLOAT16
#define f4 CT_FLOAT32
#define f8 CT_FLOAT64
static const int8_t promote_table[CT_NUM_DTYPES][CT_NUM_DTYPES] = {
    /*        b1  u1  i1  i2  i4  i8  f2  bf  f4  f8 */
    /* b1 */ {b1, u1, i1, i2, i4, i8, f2, bf, f4, f8},
    /* u1 */ {u1, u1, i2, i2, i4, i8, f2, bf, f4, f8},
    /* i1 */ {i1, i2, i1, i2, i4, i8, f2, bf, f4, f8},
    /* i2 */ {i2, i2, i2, i2, i4, i8, f2, bf, f4, f8},
    /* i4 */ {i4, i4, i4, i4, i4, i8, f2, bf, f4, f8},
    /* i8 */ {i8, i8, i8, i8, i8, i8, f2, bf, f4, f8},
    /* f2 */ {f2, f2, f2, f2, f2, f2, f2, f4, f4, f8},
    /* bf */ {bf, bf, bf, bf, bf, bf, f4, bf, f4, f8},
    /* f4 */ {f4, f4, f4, f4, f4, f4, f4, f4, f4, f8},
    /* f8 */ {f8, f8, f8, f8, f8, f8, f8, f8, f8, f8},
};
#undef b1
#undef u1
#undef i1
#undef i2
#undef i4
#undef i8
#undef f2
#undef bf
#undef f4
#undef f8

int ct_promote_types(int a, int b) {
    if (a < 0 || a >= CT_NUM_DTYPES || b < 0 || b >= CT_NUM_DTYPES) return -1;
    return promote_table[a][b];
}

static int default_dtype = CT_FLOAT32;
int ct_get_default_dtype(void) { return default_dtype; }
int ct_set_default_dtype(int d) {
    if (d != CT_FLOAT32 && d != CT_FLOAT64 && d != CT_FLOAT16 && d != CT_BFLOAT16)
        return ct_errorf(CT_ERR_TYPE, "only floating-point types are supported as the default type");
    default_dtype = d;
    return 0;
}

int ct_scalar_dtype(ct_scalar s) {
    switch (s.kind) {
    case CT_SCALAR_BOOL: return CT_BOOL;
    case CT_SCALAR_INT: return CT_INT64;
    default: return default_dtype;
    }
}

/* ------------------------------------------------------------------ errors */

static _Thread_local ct_error_kind err_kind = CT_OK;
static _Thread_local char err_msg[1024];

static void verror(ct_error_kind kind, const char *fmt, va_list ap) {
    err_kind = kind;
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
}

void *ct_error(ct_error_kind kind, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    verror(kind, fmt, ap);
    va_end(ap);
    return NULL;
}

int ct_errorf(ct_error_kind kind, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    verror(kind, fmt, ap);
    va_end(ap);
    return -1;
}

const char *ct_last_error(void) { return err_kind == CT_OK ? "" : err_msg; }
ct_error_kind ct_last_error_kind(void) { return err_kind; }
void ct_clear_error(void) { err_kind = CT_OK; err_msg[0] = 0; }

/* ------------------------------------------------------------------ allocator */

/* Large blocks (>= CACHE_MIN_BLOCK) come from glibc as fresh mmaps: every op producing a
 * multi-MB result would page-fault its whole output in again (for a 40 MB result that is
 * most of the op's time). The default allocator keeps a few recently freed large blocks,
 * bounded in bytes, and hands them out again for requests of about the same size.
 * Thread-safe (a spin lock held only around the slot table), emptied by ct_set_allocator.
 * Needs malloc_usable_size (glibc) to learn a block's size on free; off under
 * AddressSanitizer so that use-after-free of big tensors is still caught. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CT_NO_BLOCK_CACHE 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CT_NO_BLOCK_CACHE 1
#endif
#if defined(__GLIBC__) && !defined(CT_NO_BLOCK_CACHE)
#define CT_BLOCK_CACHE 1
#include <malloc.h>
#include <pthread.h>
#endif

#ifdef CT_BLOCK_CACHE
#define CACHE_MIN_BLOCK ((size_t)256 << 10)
#define CACHE_MAX_BYTES ((size_t)256 << 20)
#define CACHE_SLOTS 16

static struct {
    void *p[CACHE_SLOTS];
    size_t size[CACHE_SLOTS];
    uint64_t stamp[CACHE_SLOTS]; /* last use, for evicting the oldest */
    size_t total;
    uint64_t clock;
    int count;
    int lock;
} bcache;

static void bcache_lock(void) {
    while (__atomic_exchange_n(&bcache.lock, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&bcache.lock, __ATOMIC_RELAXED)) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
}
static void bcache_unlock(void) { __atomic_store_n(&bcache.lock, 0, __ATOMIC_RELEASE); }

/* fork while another thread holds the lock would leave the child stuck: hold it across fork. */
static void bcache_atfork_child(void) { __atomic_store_n(&bcache.lock, 0, __ATOMIC_RELEASE); }
static pthread_once_t bcache_once = PTHREAD_ONCE_INIT;
static void bcache_register(void) { pthread_atfork(bcache_lock, bcache_unlock, bcache_atfork_child); }

static void bcache_remove(int i) {
    bcache.total -= bcache.size[i];
    bcache.count--;
    bcache.p[i] = bcache.p[bcache.count];
    bcache.size[i] = bcache.size[bcache.count];
    bcache.stamp[i] = bcache.stamp[bcache.count];
}

/* A cached block of at least n bytes wasting at most a quarter more, or NULL. */
static void *bcache_take(size_t n) {
    void *p = NULL;
    /* empty (nothing ever put, so the fork handlers may not be registered yet): no lock */
    if (__atomic_load_n(&bcache.count, __ATOMIC_RELAXED) == 0) return NULL;
    bcache_lock();
    int best = -1;
    for (int i = 0; i < bcache.count; i++)
        if (bcache.size[i] >= n && bcache.size[i] - n <= n / 4 &&
            (best < 0 || bcache.size[i] < bcache.size[best]))
            best = i;
    if (best >= 0) {
        p = bcache.p[best];
        bcache_remove(best);
    }
    bcache_unlock();
    return p;
}

/* Keep p (usable size `size`); returns 0 when it was kept. Evicted blocks are freed
 * outside the lock. */
static int bcache_put(void *p, size_t size) {
    if (size > CACHE_MAX_BYTES / 2) return -1;
    pthread_once(&bcache_once, bcache_register);
    void *evict[CACHE_SLOTS];
    int nev = 0;
    bcache_lock();
    while (bcache.count > 0 && (bcache.count == CACHE_SLOTS || bcache.total + size > CACHE_MAX_BYTES)) {
        int old = 0;
        for (int i = 1; i < bcache.count; i++)
            if (bcache.stamp[i] < bcache.stamp[old]) old = i;
        evict[nev++] = bcache.p[old];
        bcache_remove(old);
    }
    int i = bcache.count++;
    bcache.p[i] = p;
    bcache.size[i] = size;
    bcache.stamp[i] = ++bcache.clock;
    bcache.total += size;
    bcache_unlock();
    for (int k = 0; k < nev; k++) free(evict[k]);
    return 0;
}

static void bcache_clear(void) {
    void *all[CACHE_SLOTS];
    int n = 0;
    bcache_lock();
    while (bcache.count > 0) {
        all[n++] = bcache.p[bcache.count - 1];
        bcache_remove(bcache.count - 1);
    }
    bcache_unlock();
    for (int k = 0; k < n; k++) free(all[k]);
}
#endif

static void *default_alloc(size_t n, void *ctx) {
    (void)ctx;
    void *p = NULL;
#ifdef CT_BLOCK_CACHE
    if (n >= CACHE_MIN_BLOCK && (p = bcache_take(n)) != NULL) return p;
#endif
    if (posix_memalign(&p, 64, n ? n : 64) != 0) return NULL;
    return p;
}
static void default_free(void *p, void *ctx) {
    (void)ctx;
#ifdef CT_BLOCK_CACHE
    if (p) {
        size_t size = malloc_usable_size(p);
        if (size >= CACHE_MIN_BLOCK && bcache_put(p, size) == 0) return;
    }
#endif
    free(p);
}

static ct_alloc_fn g_alloc = default_alloc;
static ct_free_fn g_free = default_free;
static void *g_alloc_ctx = NULL;

void ct_set_allocator(ct_alloc_fn alloc, ct_free_fn free_fn, void *ctx) {
#ifdef CT_BLOCK_CACHE
    bcache_clear();
#endif
    if (!alloc || !free_fn) {
        g_alloc = default_alloc;
        g_free = default_free;
        g_alloc_ctx = NULL;
    } else {
        g_alloc = alloc;
        g_free = free_fn;
        g_alloc_ctx = ctx;
    }
}

/* Refuse absurd sizes before asking the allocator (a tensor of 2^62 bytes is a bug or a
 * hostile file, and malloc may "succeed" lazily). */
#define CT_MAX_ALLOC ((size_t)1 << 46)

void *ct_alloc_bytes(size_t n) {
    if (n > CT_MAX_ALLOC) return ct_error(CT_ERR_MEMORY, "[alloc] refusing to allocate %zu bytes", n);
    void *p = g_alloc(n, g_alloc_ctx);
    if (!p) return ct_error(CT_ERR_MEMORY, "[alloc] out of memory allocating %zu bytes", n);
    return p;
}
void ct_free_bytes(void *p) {
    if (p) g_free(p, g_alloc_ctx);
}

/* ------------------------------------------------------------------ storage */

/* Small storages keep their data in the same 64-byte aligned block as the struct: one
 * allocation per tensor result instead of two on the per-op fast path. */
#define CT_INLINE_STORAGE_MAX 512
_Static_assert(sizeof(ct_storage) <= 64, "ct_storage must fit the inline header");
#define CT_STORAGE_HEADER 64

ct_storage *ct_storage_new(size_t nbytes) {
    if (nbytes <= CT_INLINE_STORAGE_MAX) {
        ct_storage *s = ct_alloc_bytes(CT_STORAGE_HEADER + nbytes);
        if (!s) return NULL;
        s->refcount = 1;
        s->data = (char *)s + CT_STORAGE_HEADER;
        s->nbytes = nbytes;
        s->deleter = NULL;
        s->deleter_ctx = NULL;
        s->version = 0;
        s->owned = true;
        s->inline_data = true;
        s->block_header = true;
        return s;
    }
    ct_storage *s = malloc(sizeof *s);
    if (!s) return ct_error(CT_ERR_MEMORY, "[storage] out of memory");
    s->data = ct_alloc_bytes(nbytes);
    if (!s->data) {
        free(s);
        return NULL;
    }
    s->refcount = 1;
    s->nbytes = nbytes;
    s->deleter = NULL;
    s->deleter_ctx = NULL;
    s->version = 0;
    s->owned = true;
    s->inline_data = false;
    s->block_header = false;
    return s;
}

ct_storage *ct_storage_wrap(void *data, size_t nbytes, ct_deleter_fn deleter, void *ctx) {
    ct_storage *s = malloc(sizeof *s);
    if (!s) return ct_error(CT_ERR_MEMORY, "[storage] out of memory");
    s->refcount = 1;
    s->data = data;
    s->nbytes = nbytes;
    s->deleter = deleter;
    s->deleter_ctx = ctx;
    s->version = 0;
    s->owned = false;
    s->inline_data = false;
    s->block_header = false;
    return s;
}

void ct_storage_retain(ct_storage *s) {
    if (s) __atomic_add_fetch(&s->refcount, 1, __ATOMIC_RELAXED);
}

void ct_storage_release(ct_storage *s) {
    if (!s) return;
    if (__atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    if (s->owned) {
        if (!s->inline_data) ct_free_bytes(s->data);
    } else if (s->deleter) {
        s->deleter(s->data, s->deleter_ctx);
    }
    if (s->block_header)
        ct_free_bytes(s);
    else
        free(s);
}

void *ct_storage_data(const ct_storage *s) { return s->data; }
size_t ct_storage_nbytes(const ct_storage *s) { return s->nbytes; }
int64_t ct_storage_refcount(const ct_storage *s) { return __atomic_load_n(&s->refcount, __ATOMIC_RELAXED); }

int ct_storage_resize(ct_storage *s, size_t nbytes) {
    if (nbytes <= s->nbytes) return 0;
    if (!s->owned)
        return ct_errorf(CT_ERR_RUNTIME, "Trying to resize storage that is not resizable");
    void *p = ct_alloc_bytes(nbytes);
    if (!p) return -1;
    memcpy(p, s->data, s->nbytes);
    if (!s->inline_data) ct_free_bytes(s->data);
    s->inline_data = false; /* the struct stays in its block (block_header) until release */
    s->data = p;
    s->nbytes = nbytes;
    return 0;
}

/* ------------------------------------------------------------------ tensor */

void ct_contiguous_strides(const int64_t *sizes, int ndim, int64_t *strides) {
    int64_t st = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = st;
        st *= sizes[i] > 1 ? sizes[i] : 1;
    }
}

bool ct_tensor_is_contiguous(const ct_tensor *t) { return (t->flags & CT_FLAG_CONTIGUOUS) != 0; }

void ct_tensor_update_meta(ct_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->sizes[i];
    t->numel = n;
    bool contig = true;
    if (n > 1) {
        int64_t st = 1;
        for (int i = t->ndim - 1; i >= 0; i--) {
            if (t->sizes[i] == 1) continue;
            if (t->strides[i] != st) {
                contig = false;
                break;
            }
            st *= t->sizes[i];
        }
    }
    if (contig)
        t->flags |= CT_FLAG_CONTIGUOUS;
    else
        t->flags &= (uint8_t)~CT_FLAG_CONTIGUOUS;
}

static ct_tensor *tensor_alloc(void) {
    ct_tensor *t = malloc(sizeof *t);
    if (!t) return ct_error(CT_ERR_MEMORY, "[tensor] out of memory");
    t->refcount = 1;
    t->storage = NULL;
    t->offset = 0;
    t->numel = 1;
    t->dtype = CT_FLOAT32;
    t->ndim = 0;
    t->flags = CT_FLAG_CONTIGUOUS;
    t->autograd = NULL;
    t->pyobj = NULL;
    return t;
}

static int check_sizes(const int64_t *sizes, int ndim, int64_t *numel, const char *op) {
    if (ndim < 0 || ndim > CT_MAX_DIM)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] number of dimensions %d exceeds the maximum %d", op, ndim, CT_MAX_DIM);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (sizes[i] < 0)
            return ct_errorf(CT_ERR_RUNTIME, "[%s] Trying to create tensor with negative dimension %lld",
                             op, (long long)sizes[i]);
        if (sizes[i] && n > INT64_MAX / sizes[i])
            return ct_errorf(CT_ERR_RUNTIME, "[%s] tensor size overflows int64", op);
        n *= sizes[i];
    }
    *numel = n;
    return 0;
}

ct_tensor *ct_empty(const int64_t *sizes, int ndim, int dtype) {
    int64_t n = 0;
    if (dtype < 0 || dtype >= CT_NUM_DTYPES) return ct_error(CT_ERR_TYPE, "[empty] invalid dtype %d", dtype);
    if (check_sizes(sizes, ndim, &n, "empty")) return NULL;
    size_t es = ct_dtype_sizes[dtype];
    if ((size_t)n > CT_MAX_ALLOC / es)
        return ct_error(CT_ERR_MEMORY, "[empty] refusing to allocate %lld elements", (long long)n);
    ct_storage *s = ct_storage_new((size_t)n * es);
    if (!s) return NULL;
    ct_tensor *t = tensor_alloc();
    if (!t) {
        ct_storage_release(s);
        return NULL;
    }
    t->storage = s;
    t->dtype = (int8_t)dtype;
    t->ndim = (int8_t)ndim;
    if (ndim) memcpy(t->sizes, sizes, sizeof(int64_t) * (size_t)ndim);
    ct_contiguous_strides(sizes, ndim, t->strides);
    t->numel = n;
    t->flags = CT_FLAG_CONTIGUOUS;
    return t;
}

ct_tensor *ct_tensor_from_data(const void *data, const int64_t *sizes, int ndim, int dtype) {
    ct_tensor *t = ct_empty(sizes, ndim, dtype);
    if (!t) return NULL;
    if (t->numel) memcpy(ct_tensor_data(t), data, (size_t)t->numel * ct_dtype_sizes[dtype]);
    return t;
}

ct_tensor *ct_tensor_new_view(ct_storage *storage, int dtype, int64_t offset, const int64_t *sizes,
                              const int64_t *strides, int ndim) {
    int64_t n = 0;
    if (check_sizes(sizes, ndim, &n, "view")) return NULL;
    if (offset < 0) return ct_error(CT_ERR_RUNTIME, "[as_strided] Tensor: invalid storage offset %lld", (long long)offset);
    int64_t st[CT_MAX_DIM];
    if (!strides) {
        ct_contiguous_strides(sizes, ndim, st);
        strides = st;
    }
    if (n > 0) {
        /* every reachable element must lie inside the storage */
        int64_t hi = offset, lo = offset;
        for (int i = 0; i < ndim; i++) {
            int64_t span = (sizes[i] - 1) * strides[i];
            if (span > 0) hi += span; else lo += span;
        }
        int64_t cap = (int64_t)(storage->nbytes / ct_dtype_sizes[dtype]);
        if (lo < 0 || hi >= cap)
            return ct_error(CT_ERR_RUNTIME,
                            "[as_strided] setStorage: sizes and strides reach element %lld, out of bounds for "
                            "storage of %lld elements", (long long)(lo < 0 ? lo : hi), (long long)cap);
    }
    ct_tensor *t = tensor_alloc();
    if (!t) return NULL;
    ct_storage_retain(storage);
    t->storage = storage;
    t->dtype = (int8_t)dtype;
    t->ndim = (int8_t)ndim;
    t->offset = offset;
    if (ndim) memcpy(t->sizes, sizes, sizeof(int64_t) * (size_t)ndim);
    if (ndim) memcpy(t->strides, strides, sizeof(int64_t) * (size_t)ndim);
    ct_tensor_update_meta(t);
    return t;
}

ct_tensor *ct_tensor_alias(const ct_tensor *src) {
    ct_tensor *t = tensor_alloc();
    if (!t) return NULL;
    ct_storage_retain(src->storage);
    t->storage = src->storage;
    t->dtype = src->dtype;
    t->ndim = src->ndim;
    t->offset = src->offset;
    t->numel = src->numel;
    t->flags = src->flags & (uint8_t)~CT_FLAG_WRAPPED_NUMBER;
    memcpy(t->sizes, src->sizes, sizeof(int64_t) * (size_t)src->ndim);
    memcpy(t->strides, src->strides, sizeof(int64_t) * (size_t)src->ndim);
    return t;
}

ct_tensor *ct_scalar_tensor_f64(double v, int dtype) {
    ct_tensor *t = ct_empty(NULL, 0, dtype);
    if (t) ct_store_f64(ct_tensor_data(t), dtype, v);
    return t;
}

ct_tensor *ct_scalar_tensor_i64(int64_t v, int dtype) {
    ct_tensor *t = ct_empty(NULL, 0, dtype);
    if (t) ct_store_i64(ct_tensor_data(t), dtype, v);
    return t;
}

void ct_tensor_retain(ct_tensor *t) {
    if (t) __atomic_add_fetch(&t->refcount, 1, __ATOMIC_RELAXED);
}

void ct_tensor_release(ct_tensor *t) {
    if (!t) return;
    if (__atomic_sub_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    if (t->autograd) {
        ct_autograd_forget_tensor(t);
        ct_autograd_meta_free(t->autograd);
    }
    ct_storage_release(t->storage);
    free(t);
}

int ct_wrap_dim(int64_t dim, int ndim, const char *op) {
    int64_t lo = ndim > 0 ? -ndim : -1, hi = ndim > 0 ? ndim - 1 : 0;
    if (dim < lo || dim > hi) {
        ct_errorf(CT_ERR_INDEX, "[%s] Dimension out of range (expected to be in range of [%lld, %lld], but got %lld)",
                  op, (long long)lo, (long long)hi, (long long)dim);
        return -1;
    }
    return (int)(dim < 0 ? dim + (ndim > 0 ? ndim : 1) : dim);
}

char *ct_shape_str(const int64_t *sizes, int ndim, char *buf, size_t n) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)sizes[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

int ct_broadcast_shapes(const int64_t *a, int na, const int64_t *b, int nb, int64_t *out, const char *op) {
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int ia = na - n + i, ib = nb - n + i;
        int64_t sa = ia >= 0 ? a[ia] : 1, sb = ib >= 0 ? b[ib] : 1;
        if (sa == sb || sb == 1)
            out[i] = sa;
        else if (sa == 1)
            out[i] = sb;
        else {
            ct_errorf(CT_ERR_RUNTIME,
                      "[%s] The size of tensor a (%lld) must match the size of tensor b (%lld) at non-singleton "
                      "dimension %d", op, (long long)sa, (long long)sb, i);
            return -1;
        }
    }
    return n;
}

ct_tensorvec ct_tensorvec_new(int64_t n) {
    ct_tensorvec v;
    v.data = calloc((size_t)(n > 0 ? n : 1), sizeof(ct_tensor *));
    if (!v.data) {
        ct_error(CT_ERR_MEMORY, "[tensorvec] out of memory");
        return CT_TENSORVEC_ERR;
    }
    v.n = n;
    return v;
}

void ct_tensorvec_release(ct_tensorvec v) {
    if (!v.data) return;
    for (int64_t i = 0; i < v.n; i++) ct_tensor_release(v.data[i]);
    free(v.data);
}
