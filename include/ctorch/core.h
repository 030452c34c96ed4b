/* ctorch/core.h — dtypes, errors, storages and tensor metadata: the part of the C API
 * every other header builds on.
 *
 * Ownership vocabulary (as CPython's): a function documented as returning a *new reference*
 * hands the caller one reference, to be dropped with ct_tensor_release(); a *borrowed*
 * pointer is valid only while its owner is alive. Every *_release accepts NULL.
 *
 * Errors: a function returning a pointer returns NULL on failure; one returning int returns
 * non-zero. Either way it sets the thread-local error read with ct_last_error() /
 * ct_last_error_kind(). Nothing in the library aborts on user input.
 */
#ifndef CTORCH_CORE_H
#define CTORCH_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CT_API __attribute__((visibility("default")))
#else
#define CT_API
#endif

/* Most dimensions a tensor may have (PyTorch's pointwise limit is 25 too). */
#define CT_MAX_DIM 25

/* ------------------------------------------------------------------ dtypes */

/* The order is the promotion lattice order inside each category and must not change:
 * several tables are indexed by it. */
typedef enum ct_dtype {
    CT_BOOL = 0,
    CT_UINT8,
    CT_INT8,
    CT_INT16,
    CT_INT32,
    CT_INT64,
    CT_FLOAT16,
    CT_BFLOAT16,
    CT_FLOAT32,
    CT_FLOAT64,
    CT_NUM_DTYPES
} ct_dtype;

#define CT_DTYPE_NONE (-1) /* "no dtype given" in optional dtype arguments */

CT_API const char *ct_dtype_name(int dtype);      /* "float32" */
CT_API size_t ct_dtype_size(int dtype);           /* bytes per element */
CT_API bool ct_dtype_is_floating(int dtype);
CT_API bool ct_dtype_is_integral(int dtype, bool include_bool);
CT_API int ct_promote_types(int a, int b);        /* torch.promote_types */
CT_API int ct_get_default_dtype(void);
/* torch.can_cast(from, to): false for float -> integer/bool and non-bool -> bool. */
CT_API bool ct_can_cast(int from, int to);
CT_API int ct_set_default_dtype(int dtype);       /* float32 or float64 only; 0 on success */

/* ------------------------------------------------------------------ errors */

typedef enum ct_error_kind {
    CT_OK = 0,
    CT_ERR_RUNTIME,        /* RuntimeError */
    CT_ERR_VALUE,          /* ValueError */
    CT_ERR_TYPE,           /* TypeError */
    CT_ERR_INDEX,          /* IndexError */
    CT_ERR_NOT_IMPLEMENTED,/* NotImplementedError */
    CT_ERR_MEMORY,         /* out of memory: RuntimeError, as torch's CPU allocator raises */
    CT_ERR_IO,             /* OSError */
    CT_ERR_UNPICKLING,     /* pickle.UnpicklingError */
    CT_ERR_KEY,            /* KeyError */
    CT_ERR_PYTHON,         /* a Python exception is already set (binding-internal) */
    CT_ERR_LINALG          /* torch.linalg.LinAlgError (a RuntimeError): singular / not converged */
} ct_error_kind;

/* Set the thread-local error; printf-style. Messages start with "[op] ". Returns NULL so
 * that `return ct_error(...)` works in pointer-returning functions. */
CT_API void *ct_error(ct_error_kind kind, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
CT_API int ct_errorf(ct_error_kind kind, const char *fmt, ...) /* same, returns -1 */
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
CT_API const char *ct_last_error(void);  /* borrowed; "" when none */
CT_API ct_error_kind ct_last_error_kind(void);
CT_API void ct_clear_error(void);

/* ------------------------------------------------------------------ allocator */

/* One hook for every byte the library allocates for tensor data. Both functions must be
 * thread-safe. alloc returns 64-byte aligned memory or NULL. Pass NULLs to restore the
 * default. */
typedef void *(*ct_alloc_fn)(size_t nbytes, void *ctx);
typedef void (*ct_free_fn)(void *ptr, void *ctx);
CT_API void ct_set_allocator(ct_alloc_fn alloc, ct_free_fn free_fn, void *ctx);

/* ------------------------------------------------------------------ storage */

typedef struct ct_storage ct_storage;
typedef void (*ct_deleter_fn)(void *data, void *ctx);

/* New storage of nbytes (uninitialised), refcount 1. New reference. */
CT_API ct_storage *ct_storage_new(size_t nbytes);
/* Wrap foreign memory; deleter(data, ctx) is called when the last reference goes (may be
 * NULL for memory the caller keeps alive). New reference. */
CT_API ct_storage *ct_storage_wrap(void *data, size_t nbytes, ct_deleter_fn deleter, void *ctx);
CT_API void ct_storage_retain(ct_storage *s);
CT_API void ct_storage_release(ct_storage *s);
CT_API void *ct_storage_data(const ct_storage *s);
CT_API size_t ct_storage_nbytes(const ct_storage *s);
CT_API int64_t ct_storage_refcount(const ct_storage *s);
/* Grow/shrink an owned storage (used by resize_). Fails for wrapped memory. */
CT_API int ct_storage_resize(ct_storage *s, size_t nbytes);

/* Shared memory (for passing tensors between processes without copying through pipes).
 * ct_storage_share moves s's bytes into a new POSIX shared-memory object, in place; the
 * name (ct_storage_shm_name, borrowed) can be opened once by another process with
 * ct_storage_open_shared, which maps it and unlinks the name. */
CT_API int ct_storage_share(ct_storage *s);
CT_API bool ct_storage_is_shared(const ct_storage *s);
CT_API const char *ct_storage_shm_name(const ct_storage *s);
CT_API ct_storage *ct_storage_open_shared(const char *name, size_t nbytes);
/* Extra text in the names this process creates (lets a parent find leftovers). */
CT_API void ct_shm_set_prefix(const char *prefix);

/* ------------------------------------------------------------------ tensor */

typedef struct ct_tensor ct_tensor;
typedef struct ct_autograd_meta ct_autograd_meta; /* see autograd.h */

/* NOTE [ Tensor layout ]
 * A tensor is a view: storage + dtype + sizes + strides (in elements) + offset (in
 * elements). Views share the storage; the version counter lives on the storage so that
 * every view (and detach()) sees in-place writes of the others. The struct is public so
 * kernels can read it directly; fields are written only by the core. */
struct ct_storage {
    int64_t refcount;       /* atomic */
    void *data;
    size_t nbytes;
    ct_deleter_fn deleter;  /* NULL: owned by the library allocator */
    void *deleter_ctx;
    int64_t version;        /* bumped by every in-place write through any view */
    bool owned;             /* allocated by us (resizable) */
    bool inline_data;       /* data lives in the struct's own block (small storages) */
    bool block_header;      /* the struct was allocated with the data allocator */
};

struct ct_tensor {
    int64_t refcount;       /* atomic */
    ct_storage *storage;
    int64_t offset;         /* in elements */
    int64_t numel;
    int8_t dtype;
    int8_t ndim;
    uint8_t flags;          /* CT_FLAG_* */
    int64_t sizes[CT_MAX_DIM];
    int64_t strides[CT_MAX_DIM];
    ct_autograd_meta *autograd; /* NULL unless requires_grad or produced by a recorded op */
    void *pyobj;            /* borrowed back-pointer to the Python wrapper, if alive */
};

enum {
    CT_FLAG_WRAPPED_NUMBER = 1, /* made from a Python scalar: weakly typed in promotion */
    CT_FLAG_CONTIGUOUS = 2,     /* cached; maintained by ct_tensor_update_meta */
};

/* Creation. Sizes must be non-negative. All return new references. */
CT_API ct_tensor *ct_empty(const int64_t *sizes, int ndim, int dtype);
CT_API ct_tensor *ct_tensor_from_data(const void *data, const int64_t *sizes, int ndim, int dtype);
CT_API ct_tensor *ct_scalar_tensor_f64(double v, int dtype);   /* 0-dim */
CT_API ct_tensor *ct_scalar_tensor_i64(int64_t v, int dtype);  /* 0-dim */
/* A view on `storage` (retained). Strides may be NULL for contiguous. Bounds are checked. */
CT_API ct_tensor *ct_tensor_new_view(ct_storage *storage, int dtype, int64_t offset,
                                     const int64_t *sizes, const int64_t *strides, int ndim);
/* Same storage and geometry as t, new tensor object, no autograd meta. New reference. */
CT_API ct_tensor *ct_tensor_alias(const ct_tensor *t);

CT_API void ct_tensor_retain(ct_tensor *t);
CT_API void ct_tensor_release(ct_tensor *t);

/* Bytes per element by dtype, for inline use. */
extern CT_API const uint8_t ct_dtype_sizes[CT_NUM_DTYPES];

/* Address of element 0 of the view (borrowed, valid while t lives). */
static inline void *ct_tensor_data(const ct_tensor *t) {
    return (char *)t->storage->data + t->offset * (int64_t)ct_dtype_sizes[t->dtype];
}

CT_API bool ct_tensor_is_contiguous(const ct_tensor *t);
/* Recompute numel and the contiguity flag after sizes/strides were written. */
CT_API void ct_tensor_update_meta(ct_tensor *t);
/* Contiguous strides for sizes. */
CT_API void ct_contiguous_strides(const int64_t *sizes, int ndim, int64_t *strides);
/* Bump the storage version (call after any in-place write). */
static inline void ct_tensor_bump_version(ct_tensor *t) { t->storage->version++; }

/* Wrap a negative dim into [0, ndim); error (IndexError, torch's message) when out of
 * range. For ndim == 0 the valid range is [-1, 0]. Returns -1 on error. */
CT_API int ct_wrap_dim(int64_t dim, int ndim, const char *op);
/* Broadcast two shapes; returns ndim of the result or -1 with error set. */
CT_API int ct_broadcast_shapes(const int64_t *a, int na, const int64_t *b, int nb,
                               int64_t *out, const char *op);
/* "[2, 3]" into buf (for messages). Returns buf. */
CT_API char *ct_shape_str(const int64_t *sizes, int ndim, char *buf, size_t n);

/* ------------------------------------------------------------------ scalars */

/* A Python-like number: bool, int or float. */
typedef struct ct_scalar {
    enum { CT_SCALAR_BOOL, CT_SCALAR_INT, CT_SCALAR_FLOAT } kind;
    union { int64_t i; double d; } v;
} ct_scalar;

static inline ct_scalar ct_scalar_f(double d) { ct_scalar s; s.kind = CT_SCALAR_FLOAT; s.v.d = d; return s; }
static inline ct_scalar ct_scalar_i(int64_t i) { ct_scalar s; s.kind = CT_SCALAR_INT; s.v.i = i; return s; }
static inline ct_scalar ct_scalar_b(bool b) { ct_scalar s; s.kind = CT_SCALAR_BOOL; s.v.i = b; return s; }
static inline double ct_scalar_to_f64(ct_scalar s) { return s.kind == CT_SCALAR_FLOAT ? s.v.d : (double)s.v.i; }
static inline int64_t ct_scalar_to_i64(ct_scalar s) { return s.kind == CT_SCALAR_FLOAT ? (int64_t)s.v.d : s.v.i; }
/* The dtype a bare Python scalar of this kind gets (bool, int64, default float). */
CT_API int ct_scalar_dtype(ct_scalar s);

/* Integer lists (sizes, dims). n < 0 means "None" where the argument is optional. */
typedef struct ct_intlist { const int64_t *data; int64_t n; } ct_intlist;
#define CT_INTLIST_NONE ((ct_intlist){NULL, -1})
/* Lists of tensors (borrowed elements). */
typedef struct ct_tensorlist { ct_tensor *const *data; int64_t n; } ct_tensorlist;
/* A list of new references returned by ops like split/unbind; free with ct_tensorvec_release.
 * On error data is NULL and n is -1. */
typedef struct ct_tensorvec { ct_tensor **data; int64_t n; } ct_tensorvec;
CT_API ct_tensorvec ct_tensorvec_new(int64_t n); /* zero-filled slots */
CT_API void ct_tensorvec_release(ct_tensorvec v);

/* Threads of the CPU kernels (torch.get/set_num_threads): the default is the CPUs this process
 * may run on, or OMP_NUM_THREADS when set. Set it before or between ops, not from inside one. */
CT_API int ct_get_num_threads(void);
CT_API void ct_set_num_threads(int n);
#define CT_TENSORVEC_ERR ((ct_tensorvec){NULL, -1})

typedef struct ct_generator ct_generator; /* see random.h */

#ifdef __cplusplus
}
#endif
#endif
