/* The elementwise iterator (see NOTE [ Elementwise iterator ] in internal.h), dtype
 * conversion copies and type promotion. */
#include <stdlib.h>

#include "internal.h"

int ct_iter_init(ct_iter *it, int nops, ct_tensor *const *ops, const int64_t *shape, int ndim, const char *opname) {
    if (nops > CT_ITER_MAX_OPS) return ct_errorf(CT_ERR_RUNTIME, "[%s] too many operands", opname);
    it->nops = nops;
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) numel *= shape[d];
    it->numel = numel;
    /* broadcast strides in bytes */
    int64_t st[CT_ITER_MAX_OPS][CT_MAX_DIM];
    for (int k = 0; k < nops; k++) {
        const ct_tensor *t = ops[k];
        if (t->ndim > ndim) {
            char b1[128], b2[128];
            return ct_errorf(CT_ERR_RUNTIME, "[%s] shape %s cannot be broadcast to %s", opname,
                             ct_shape_str(t->sizes, t->ndim, b1, sizeof b1), ct_shape_str(shape, ndim, b2, sizeof b2));
        }
        int64_t es = ct_dtype_sizes[t->dtype];
        for (int d = 0; d < ndim; d++) {
            int td = t->ndim - ndim + d;
            if (td < 0) {
                st[k][d] = 0;
            } else if (t->sizes[td] == shape[d]) {
                st[k][d] = shape[d] == 1 ? 0 : t->strides[td] * es;
            } else if (t->sizes[td] == 1) {
                st[k][d] = 0;
            } else {
                char b1[128], b2[128];
                return ct_errorf(CT_ERR_RUNTIME, "[%s] shape %s cannot be broadcast to %s", opname,
                                 ct_shape_str(t->sizes, t->ndim, b1, sizeof b1),
                                 ct_shape_str(shape, ndim, b2, sizeof b2));
            }
        }
        it->base[k] = (char *)ct_tensor_data(t);
    }
    /* drop size-1 dims, then coalesce from the inside out */
    int n = 0;
    int64_t sh[CT_MAX_DIM];
    int64_t s2[CT_ITER_MAX_OPS][CT_MAX_DIM];
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1) continue;
        sh[n] = shape[d];
        for (int k = 0; k < nops; k++) s2[k][n] = st[k][d];
        n++;
    }
    if (n == 0) {
        it->ndim = 1;
        it->shape[0] = numel == 0 ? 0 : 1;
        for (int k = 0; k < nops; k++) it->strides[k][0] = 0;
        return 0;
    }
    /* coalesce: walk from innermost; merge dim d into the running (outer) dim when for
     * every operand stride[d-1] == stride[d] * shape[d] */
    int m = 0;
    int64_t csh[CT_MAX_DIM];
    int64_t cst[CT_ITER_MAX_OPS][CT_MAX_DIM];
    /* build innermost-first, then reverse */
    csh[0] = sh[n - 1];
    for (int k = 0; k < nops; k++) cst[k][0] = s2[k][n - 1];
    m = 1;
    for (int d = n - 2; d >= 0; d--) {
        bool can = true;
        for (int k = 0; k < nops; k++)
            if (s2[k][d] != cst[k][m - 1] * csh[m - 1]) {
                can = false;
                break;
            }
        if (can) {
            csh[m - 1] *= sh[d];
        } else {
            csh[m] = sh[d];
            for (int k = 0; k < nops; k++) cst[k][m] = s2[k][d];
            m++;
        }
    }
    it->ndim = m;
    for (int d = 0; d < m; d++) {
        it->shape[d] = csh[m - 1 - d];
        for (int k = 0; k < nops; k++) it->strides[k][d] = cst[k][m - 1 - d];
    }
    return 0;
}

typedef struct {
    const ct_iter *it;
    ct_loop_fn fn;
    void *ctx;
} iter_job;

/* Run rows [begin, end) of the flattened outer index space (or a slice of the single
 * row when ndim == 1, where begin/end index elements). */
static void iter_range(int64_t begin, int64_t end, void *vctx) {
    iter_job *job = vctx;
    const ct_iter *it = job->it;
    int nops = it->nops, nd = it->ndim;
    int64_t inner = it->shape[nd - 1];
    int64_t istr[CT_ITER_MAX_OPS];
    char *ptrs[CT_ITER_MAX_OPS];
    for (int k = 0; k < nops; k++) istr[k] = it->strides[k][nd - 1];
    if (nd == 1) {
        for (int k = 0; k < nops; k++) ptrs[k] = it->base[k] + begin * istr[k];
        job->fn(ptrs, istr, end - begin, job->ctx);
        return;
    }
    /* decompose begin into an outer index */
    int64_t idx[CT_MAX_DIM];
    int64_t r = begin;
    for (int d = nd - 2; d >= 0; d--) {
        idx[d] = r % it->shape[d];
        r /= it->shape[d];
    }
    for (int64_t row = begin; row < end; row++) {
        for (int k = 0; k < nops; k++) {
            char *p = it->base[k];
            for (int d = 0; d < nd - 1; d++) p += idx[d] * it->strides[k][d];
            ptrs[k] = p;
        }
        job->fn(ptrs, istr, inner, job->ctx);
        for (int d = nd - 2; d >= 0; d--) {
            if (++idx[d] < it->shape[d]) break;
            idx[d] = 0;
        }
    }
}

void ct_iter_run(const ct_iter *it, ct_loop_fn fn, void *ctx, bool parallel) {
    if (it->numel == 0) return;
    iter_job job = {it, fn, ctx};
    int64_t inner = it->shape[it->ndim - 1];
    if (it->ndim == 1) {
        if (parallel)
            ct_parallel_for(inner, CT_GRAIN, iter_range, &job);
        else
            iter_range(0, inner, &job);
        return;
    }
    int64_t rows = it->numel / inner;
    if (parallel) {
        int64_t grain = CT_GRAIN / inner;
        ct_parallel_for(rows, grain < 1 ? 1 : grain, iter_range, &job);
    } else {
        iter_range(0, rows, &job);
    }
}

/* ------------------------------------------------------------------ casting copy */

/* One loop per (dst, src) dtype pair; values convert as C casts with 16-bit floats going
 * through float32 and float->int conversions defined for out-of-range values. */
#define LOAD_AS_DOUBLE(T, p) ((double)*(const T *)(p))

#define CAST_LOOP(DN, DT, SN, ST, CONV)                                                        \
    static void cast_##DN##_##SN(char **p, const int64_t *s, int64_t n, void *ctx) {         \
        (void)ctx;                                                                             \
        char *d = p[0];                                                                        \
        const char *q = p[1];                                                                  \
        if (s[0] == sizeof(DT) && s[1] == sizeof(ST)) {                                        \
            DT *restrict dd = (DT *)d;                                                         \
            const ST *restrict qq = (const ST *)q;                                             \
            for (int64_t i = 0; i < n; i++) { ST x = qq[i]; dd[i] = CONV; }                   \
        } else {                                                                               \
            for (int64_t i = 0; i < n; i++) {                                                  \
                ST x = *(const ST *)(q + i * s[1]);                                            \
                *(DT *)(d + i * s[0]) = CONV;                                                  \
            }                                                                                  \
        }                                                                                      \
    }

/* Conversions from a source C value x of type ST into DT. */
#define TO_NUM(DT) ((DT)(x))
#define F_TO_INT(DT) ((DT)ct_f2i((double)(x)))
#define TO_BOOL ((uint8_t)((x) != 0))

/* generic path: through double for floats, through int64 for ints */
static void cast_generic(char **p, const int64_t *s, int64_t n, void *ctx) {
    const int *dt = ctx; /* [dst, src] */
    for (int64_t i = 0; i < n; i++) {
        const char *q = p[1] + i * s[1];
        char *d = p[0] + i * s[0];
        if (ct_dtype_is_floating(dt[1]))
            ct_store_f64(d, dt[0], ct_load_f64(q, dt[1]));
        else
            ct_store_i64(d, dt[0], ct_load_i64(q, dt[1]));
    }
}

/* Fast same-dtype copy (memcpy-like, any strides). */
#define SAME_LOOP(NAME, T)                                                         \
    static void NAME(char **p, const int64_t *s, int64_t n, void *ctx) {          \
        (void)ctx;                                                                 \
        if (s[0] == sizeof(T) && s[1] == sizeof(T)) {                              \
            memcpy(p[0], p[1], (size_t)n * sizeof(T));                             \
        } else if (s[1] == 0 && s[0] == sizeof(T)) {                               \
            T v = *(const T *)p[1];                                                \
            T *restrict d = (T *)p[0];                                             \
            for (int64_t i = 0; i < n; i++) d[i] = v; /* vectorised fill */         \
        } else if (s[1] == 0) {                                                    \
            T v = *(const T *)p[1];                                                \
            for (int64_t i = 0; i < n; i++) *(T *)(p[0] + i * s[0]) = v;           \
        } else {                                                                   \
            for (int64_t i = 0; i < n; i++) *(T *)(p[0] + i * s[0]) = *(const T *)(p[1] + i * s[1]); \
        }                                                                          \
    }
SAME_LOOP(copy1, uint8_t)
SAME_LOOP(copy2, uint16_t)
SAME_LOOP(copy4, uint32_t)
SAME_LOOP(copy8, uint64_t)

CAST_LOOP(f32, float, f64, double, TO_NUM(float))
CAST_LOOP(f64, double, f32, float, TO_NUM(double))
CAST_LOOP(f32, float, i64, int64_t, TO_NUM(float))
CAST_LOOP(f64, double, i64, int64_t, TO_NUM(double))
CAST_LOOP(i64, int64_t, f32, float, F_TO_INT(int64_t))
CAST_LOOP(i64, int64_t, i32, int32_t, TO_NUM(int64_t))
CAST_LOOP(i32, int32_t, i64, int64_t, TO_NUM(int32_t))
CAST_LOOP(f32, float, i32, int32_t, TO_NUM(float))
CAST_LOOP(f32, float, b1, uint8_t, TO_NUM(float))
CAST_LOOP(f32, float, u8, uint8_t, TO_NUM(float))
CAST_LOOP(i64, int64_t, b1, uint8_t, TO_NUM(int64_t))
CAST_LOOP(b1, uint8_t, f32, float, TO_BOOL)
CAST_LOOP(f32, float, f16, ct_half, ct_half_to_float(x))
CAST_LOOP(f16, ct_half, f32, float, ct_float_to_half(x))
CAST_LOOP(f32, float, bf, ct_bf16, ct_bf16_to_float(x))
CAST_LOOP(bf, ct_bf16, f32, float, ct_float_to_bf16(x))

static ct_loop_fn cast_fast(int dst, int src) {
#define P(a, b) ((a) * CT_NUM_DTYPES + (b))
    switch (P(dst, src)) {
    case P(CT_FLOAT32, CT_FLOAT64): return cast_f32_f64;
    case P(CT_FLOAT64, CT_FLOAT32): return cast_f64_f32;
    case P(CT_FLOAT32, CT_INT64): return cast_f32_i64;
    case P(CT_FLOAT64, CT_INT64): return cast_f64_i64;
    case P(CT_INT64, CT_FLOAT32): return cast_i64_f32;
    case P(CT_INT64, CT_INT32): return cast_i64_i32;
    case P(CT_INT32, CT_INT64): return cast_i32_i64;
    case P(CT_FLOAT32, CT_INT32): return cast_f32_i32;
    case P(CT_FLOAT32, CT_BOOL): return cast_f32_b1;
    case P(CT_FLOAT32, CT_UINT8): return cast_f32_u8;
    case P(CT_INT64, CT_BOOL): return cast_i64_b1;
    case P(CT_BOOL, CT_FLOAT32): return cast_b1_f32;
    case P(CT_FLOAT32, CT_FLOAT16): return cast_f32_f16;
    case P(CT_FLOAT16, CT_FLOAT32): return cast_f16_f32;
    case P(CT_FLOAT32, CT_BFLOAT16): return cast_f32_bf;
    case P(CT_BFLOAT16, CT_FLOAT32): return cast_bf_f32;
    default: return NULL;
    }
#undef P
}

int ct_copy_into(ct_tensor *dst, const ct_tensor *src) {
    ct_iter it;
    ct_tensor *ops[2] = {dst, (ct_tensor *)src};
    if (ct_iter_init(&it, 2, ops, dst->sizes, dst->ndim, "copy_")) return -1;
    ct_tensor_bump_version(dst);
    int dt[2] = {dst->dtype, src->dtype};
    ct_loop_fn fn;
    if (dst->dtype == src->dtype || (dst->dtype == CT_BOOL && src->dtype == CT_UINT8 && 0)) {
        switch (ct_dtype_sizes[dst->dtype]) {
        case 1: fn = copy1; break;
        case 2: fn = copy2; break;
        case 4: fn = copy4; break;
        default: fn = copy8; break;
        }
    } else {
        fn = cast_fast(dst->dtype, src->dtype);
        if (!fn) fn = cast_generic;
    }
    ct_iter_run(&it, fn, dt, true);
    return 0;
}

ct_tensor *ct_contig_as(ct_tensor *src, int dtype) {
    if (dtype < 0) dtype = src->dtype;
    if (dtype == src->dtype && ct_tensor_is_contiguous(src)) {
        ct_tensor_retain(src);
        return src;
    }
    ct_tensor *t = ct_empty(src->sizes, src->ndim, dtype);
    if (!t) return NULL;
    if (ct_copy_into(t, src)) {
        ct_tensor_release(t);
        return NULL;
    }
    return t;
}

/* ------------------------------------------------------------------ promotion */

/* torch's combine_categories: `higher` is the result of a higher-priority tier. */
static int combine_categories(int higher, int lower) {
    if (higher >= 0 && ct_dtype_is_floating(higher)) return higher;
    if (higher == CT_BOOL || (lower >= 0 && ct_dtype_is_floating(lower))) {
        if (higher < 0) return lower;
        if (lower < 0) return higher;
        return ct_promote_types(higher, lower);
    }
    return higher >= 0 ? higher : lower;
}

int ct_result_type(int n, ct_tensor *const *ts) {
    if (n == 2 && ts[0] && ts[1] && ts[0]->dtype == ts[1]->dtype &&
        !((ts[0]->flags | ts[1]->flags) & CT_FLAG_WRAPPED_NUMBER))
        return ts[0]->dtype;
    int tier_dt[3] = {-1, -1, -1}; /* dimensioned, zero-dim, wrapped numbers */
    for (int i = 0; i < n; i++) {
        const ct_tensor *t = ts[i];
        if (!t) continue;
        int tier = (t->flags & CT_FLAG_WRAPPED_NUMBER) ? 2 : t->ndim > 0 ? 0 : 1;
        int d = t->dtype;
        if (tier == 2 && ct_dtype_is_floating(d)) d = ct_get_default_dtype();
        tier_dt[tier] = tier_dt[tier] < 0 ? d : ct_promote_types(tier_dt[tier], d);
    }
    int r = combine_categories(tier_dt[0], combine_categories(tier_dt[1], tier_dt[2]));
    return r < 0 ? ct_get_default_dtype() : r;
}
