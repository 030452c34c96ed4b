/* Library-internal helpers shared by core, kernels and ops: element access by dtype,
 * 16-bit float conversion, the elementwise iterator, the thread pool. Not installed. */
#ifndef CTORCH_INTERNAL_H
#define CTORCH_INTERNAL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ctorch/core.h"

#define CT_UNUSED(x) (void)(x)
#define CT_LIKELY(x) __builtin_expect(!!(x), 1)
#define CT_UNLIKELY(x) __builtin_expect(!!(x), 0)

void *ct_alloc_bytes(size_t n);  /* through the allocator hook; sets error on failure */
void ct_free_bytes(void *p);
void ct_autograd_meta_free(ct_autograd_meta *m);
void ct_autograd_forget_tensor(ct_tensor *t);

/* ------------------------------------------------------------------ 16-bit floats */

typedef uint16_t ct_half;  /* IEEE binary16 bits */
typedef uint16_t ct_bf16;  /* bfloat16 bits */

static inline float ct_half_to_float(ct_half h) {
    _Float16 f;
    memcpy(&f, &h, 2);
    return (float)f;
}
static inline ct_half ct_float_to_half(float x) {
    _Float16 f = (_Float16)x;
    ct_half h;
    memcpy(&h, &f, 2);
    return h;
}
static inline float ct_bf16_to_float(ct_bf16 b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline ct_bf16 ct_float_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (ct_bf16)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
    return (ct_bf16)(u >> 16);
}

/* ------------------------------------------------------------------ element access */

/* Iterate a statement over dtypes: X(ct_dtype enum, C type). */
#define CT_FOR_EACH_DTYPE(X)          \
    X(CT_BOOL, uint8_t)               \
    X(CT_UINT8, uint8_t)              \
    X(CT_INT8, int8_t)                \
    X(CT_INT16, int16_t)              \
    X(CT_INT32, int32_t)              \
    X(CT_INT64, int64_t)              \
    X(CT_FLOAT16, ct_half)            \
    X(CT_BFLOAT16, ct_bf16)           \
    X(CT_FLOAT32, float)              \
    X(CT_FLOAT64, double)

static inline double ct_load_f64(const void *p, int dtype) {
    switch (dtype) {
    case CT_BOOL: return *(const uint8_t *)p ? 1.0 : 0.0;
    case CT_UINT8: return *(const uint8_t *)p;
    case CT_INT8: return *(const int8_t *)p;
    case CT_INT16: return *(const int16_t *)p;
    case CT_INT32: return *(const int32_t *)p;
    case CT_INT64: return (double)*(const int64_t *)p;
    case CT_FLOAT16: return ct_half_to_float(*(const ct_half *)p);
    case CT_BFLOAT16: return ct_bf16_to_float(*(const ct_bf16 *)p);
    case CT_FLOAT32: return *(const float *)p;
    default: return *(const double *)p;
    }
}

static inline int64_t ct_load_i64(const void *p, int dtype) {
    switch (dtype) {
    case CT_BOOL: return *(const uint8_t *)p ? 1 : 0;
    case CT_UINT8: return *(const uint8_t *)p;
    case CT_INT8: return *(const int8_t *)p;
    case CT_INT16: return *(const int16_t *)p;
    case CT_INT32: return *(const int32_t *)p;
    case CT_INT64: return *(const int64_t *)p;
    default: {
        double d = ct_load_f64(p, dtype);
        return d != d ? INT64_MIN : (int64_t)d; /* NaN: as x86 cvttsd2si */
    }
    }
}

/* Float -> integer conversion defined for out-of-range values (wraps like x86 for int64
 * range, then truncates as C does for the narrow type). */
static inline int64_t ct_f2i(double d) {
    if (d != d || d >= 9.2233720368547758e18 || d < -9.2233720368547758e18) return INT64_MIN;
    return (int64_t)d;
}

static inline void ct_store_f64(void *p, int dtype, double v) {
    switch (dtype) {
    case CT_BOOL: *(uint8_t *)p = v != 0; break;
    case CT_UINT8: *(uint8_t *)p = (uint8_t)ct_f2i(v); break;
    case CT_INT8: *(int8_t *)p = (int8_t)ct_f2i(v); break;
    case CT_INT16: *(int16_t *)p = (int16_t)ct_f2i(v); break;
    case CT_INT32: *(int32_t *)p = (int32_t)ct_f2i(v); break;
    case CT_INT64: *(int64_t *)p = ct_f2i(v); break;
    case CT_FLOAT16: *(ct_half *)p = ct_float_to_half((float)v); break;
    case CT_BFLOAT16: *(ct_bf16 *)p = ct_float_to_bf16((float)v); break;
    case CT_FLOAT32: *(float *)p = (float)v; break;
    default: *(double *)p = v; break;
    }
}

static inline void ct_store_i64(void *p, int dtype, int64_t v) {
    switch (dtype) {
    case CT_BOOL: *(uint8_t *)p = v != 0; break;
    case CT_UINT8: *(uint8_t *)p = (uint8_t)v; break;
    case CT_INT8: *(int8_t *)p = (int8_t)v; break;
    case CT_INT16: *(int16_t *)p = (int16_t)v; break;
    case CT_INT32: *(int32_t *)p = (int32_t)v; break;
    case CT_INT64: *(int64_t *)p = v; break;
    default: ct_store_f64(p, dtype, (double)v); break;
    }
}

/* Store a scalar into an element of dtype (floats for float dtypes, exact ints otherwise). */
static inline void ct_store_scalar(void *p, int dtype, ct_scalar s) {
    if (s.kind == CT_SCALAR_FLOAT)
        ct_store_f64(p, dtype, s.v.d);
    else
        ct_store_i64(p, dtype, s.v.i);
}

/* ------------------------------------------------------------------ threads */

/* Run fn over [0, n) split into chunks of at least `grain` elements across the pool.
 * Runs inline when n < 2*grain, when one thread is configured, or when called from
 * inside a parallel region. fn must not fail (no errors across threads). */
typedef void (*ct_range_fn)(int64_t begin, int64_t end, void *ctx);
void ct_parallel_for(int64_t n, int64_t grain, ct_range_fn fn, void *ctx);
/* ct_get_num_threads / ct_set_num_threads: include/ctorch/core.h */

/* Grain size (elements) below which elementwise work stays on one thread. */
#define CT_GRAIN 32768

/* ------------------------------------------------------------------ elementwise iterator */

/* NOTE [ Elementwise iterator ]
 * ct_iter runs a 1-D inner loop over operands that share one broadcast shape. Operand 0
 * is the output. Strides are in bytes; a broadcast input has stride 0. Dimensions are
 * coalesced (adjacent dims that are contiguous for every operand merge into one), so a
 * contiguous problem becomes a single call with n = numel. The loop is called with the
 * operand pointers of the row start, the per-operand byte strides, and the row length. */
#define CT_ITER_MAX_OPS 8
typedef void (*ct_loop_fn)(char **ptrs, const int64_t *strides, int64_t n, void *ctx);

typedef struct ct_iter {
    int nops;
    int ndim;                               /* after coalescing; 0-dim becomes 1 dim of 1 */
    int64_t shape[CT_MAX_DIM];              /* innermost last */
    int64_t strides[CT_ITER_MAX_OPS][CT_MAX_DIM]; /* bytes */
    char *base[CT_ITER_MAX_OPS];
    int64_t numel;
} ct_iter;

/* Build an iterator: every operand is broadcast to `shape` (error if incompatible). */
int ct_iter_init(ct_iter *it, int nops, ct_tensor *const *ops, const int64_t *shape, int ndim, const char *opname);
/* Run fn over the iterator; parallel when numel >= 2*CT_GRAIN and `parallel`. */
void ct_iter_run(const ct_iter *it, ct_loop_fn fn, void *ctx, bool parallel);

/* ------------------------------------------------------------------ copy and helpers */

/* dst[...] = src (broadcast to dst's shape, converted to dst's dtype). Bumps dst's version. */
int ct_copy_into(ct_tensor *dst, const ct_tensor *src);
/* New contiguous tensor of `dtype` (or src's dtype if < 0) holding src's values. Returns a
 * new reference to src itself when it already qualifies. */
ct_tensor *ct_contig_as(ct_tensor *src, int dtype);
/* New tensor with the given sizes and dtype; strides contiguous. */
static inline ct_tensor *ct_empty_like_shape(const ct_tensor *t, int dtype) {
    return ct_empty(t->sizes, t->ndim, dtype < 0 ? t->dtype : dtype);
}

/* Type promotion over operands, as torch.result_type: dimensioned tensors, then 0-dim
 * tensors, then wrapped numbers; within a tier the higher category wins. */
int ct_result_type(int n, ct_tensor *const *ts);

#endif
