/* Indexing ops: the indexed-copy driver (NOTE [ Indexed-copy plan ] in index.h) and the
 * ops built on it: gather/scatter/scatter_add/scatter_reduce, index_select/add/copy/fill,
 * index_put, masked_fill/select/scatter, take/take_along_dim/put, nonzero/argwhere/where. */
#include <stdio.h>
#include <stdlib.h>

#include "ctorch/ops_gen.h"
#include "ctorch/indexing.h"
#include "index.h"
#include "../../autograd/autograd_internal.h"

/* ------------------------------------------------------------------ driver */

#define IADD(a, b) ((int64_t)((uint64_t)(a) + (uint64_t)(b)))
#define IMUL(a, b) ((int64_t)((uint64_t)(a) * (uint64_t)(b)))
#define FADD(a, b) ((a) + (b))
#define FMUL(a, b) ((a) * (b))
#define LD_ID(x) (x)
#define LD_I64(x) ((int64_t)(x))
#define ST_BOOL(x) ((uint8_t)((x) != 0))
#define ST_U8(x) ((uint8_t)(x))
#define ST_I8(x) ((int8_t)(x))
#define ST_I16(x) ((int16_t)(x))
#define ST_I32(x) ((int32_t)(x))
#define ST_I64(x) ((int64_t)(x))
#define ST_F32(x) ((float)(x))
#define ST_F64(x) ((double)(x))
#define ST_F16(x) ct_float_to_half((float)(x))
#define ST_BF16(x) ct_float_to_bf16((float)(x))

/* positions [r0, r1) of the rows (all dims but the last) of plan p */
#define IX_KERNEL(NAME, T, A, LD, ST, ALPHA, ADD, MUL)                                            \
    static void NAME(const ct_ix_plan *p, int64_t r0, int64_t r1) {                               \
        const int nd = p->ndim;                                                                   \
        const int64_t inner = p->sizes[nd - 1];                                                   \
        const int64_t ds = p->dst_st[nd - 1], ss = p->src_st[nd - 1], xs = p->idx_st[nd - 1];    \
        const int op = p->op;                                                                     \
        const A alpha = (A)(ALPHA);                                                               \
        int64_t co[CT_MAX_DIM];                                                                   \
        int64_t r = r0;                                                                           \
        for (int d = nd - 2; d >= 0; d--) {                                                       \
            co[d] = r % p->sizes[d];                                                              \
            r /= p->sizes[d];                                                                     \
        }                                                                                         \
        for (int64_t row = r0; row < r1; row++) {                                                 \
            char *dp = p->dst;                                                                    \
            const char *sp = p->src;                                                              \
            const char *xp = p->idx;                                                              \
            for (int d = 0; d < nd - 1; d++) {                                                    \
                dp += co[d] * p->dst_st[d];                                                       \
                sp += co[d] * p->src_st[d];                                                       \
                if (xp) xp += co[d] * p->idx_st[d];                                               \
            }                                                                                     \
            for (int64_t i = 0; i < inner; i++) {                                                 \
                char *dq = dp + i * ds;                                                           \
                const char *sq = sp + i * ss;                                                     \
                if (xp) {                                                                         \
                    int64_t k = *(const int64_t *)(xp + i * xs);                                  \
                    if (k < 0 && p->bound > 0) k += p->bound;                                     \
                    dq += k * p->dst_mul;                                                         \
                    sq += k * p->src_mul;                                                         \
                }                                                                                 \
                T *dd = (T *)dq;                                                                  \
                T sv = *(const T *)sq;                                                            \
                switch (op) {                                                                     \
                case CT_IX_COPY: *dd = sv; break;                                                 \
                case CT_IX_ADD: *dd = ST(ADD((A)LD(*dd), MUL(alpha, (A)LD(sv)))); break;          \
                case CT_IX_MUL: *dd = ST(MUL((A)LD(*dd), (A)LD(sv))); break;                      \
                case CT_IX_MAX: {                                                                 \
                    A a = (A)LD(*dd), b = (A)LD(sv);                                              \
                    if (b > a || b != b) *dd = sv;                                                \
                    break;                                                                        \
                }                                                                                 \
                default: {                                                                        \
                    A a = (A)LD(*dd), b = (A)LD(sv);                                              \
                    if (b < a || b != b) *dd = sv;                                                \
                    break;                                                                        \
                }                                                                                 \
                }                                                                                 \
            }                                                                                     \
            for (int d = nd - 2; d >= 0; d--) {                                                   \
                if (++co[d] < p->sizes[d]) break;                                                 \
                co[d] = 0;                                                                        \
            }                                                                                     \
        }                                                                                         \
    }

IX_KERNEL(ix_bool, uint8_t, int64_t, LD_I64, ST_BOOL, p->alpha_i, IADD, IMUL)
IX_KERNEL(ix_u8, uint8_t, int64_t, LD_I64, ST_U8, p->alpha_i, IADD, IMUL)
IX_KERNEL(ix_i8, int8_t, int64_t, LD_I64, ST_I8, p->alpha_i, IADD, IMUL)
IX_KERNEL(ix_i16, int16_t, int64_t, LD_I64, ST_I16, p->alpha_i, IADD, IMUL)
IX_KERNEL(ix_i32, int32_t, int64_t, LD_I64, ST_I32, p->alpha_i, IADD, IMUL)
IX_KERNEL(ix_i64, int64_t, int64_t, LD_I64, ST_I64, p->alpha_i, IADD, IMUL)
IX_KERNEL(ix_f16, ct_half, float, ct_half_to_float, ST_F16, p->alpha_d, FADD, FMUL)
IX_KERNEL(ix_bf16, ct_bf16, float, ct_bf16_to_float, ST_BF16, p->alpha_d, FADD, FMUL)
IX_KERNEL(ix_f32, float, float, LD_ID, ST_F32, p->alpha_d, FADD, FMUL)
IX_KERNEL(ix_f64, double, double, LD_ID, ST_F64, p->alpha_d, FADD, FMUL)

typedef void (*ix_kernel)(const ct_ix_plan *, int64_t, int64_t);
static const ix_kernel ix_kernels[CT_NUM_DTYPES] = {ix_bool, ix_u8,   ix_i8,   ix_i16, ix_i32,
                                                    ix_i64,  ix_f16, ix_bf16, ix_f32, ix_f64};

static void ix_range(int64_t b, int64_t e, void *ctx) {
    const ct_ix_plan *p = ctx;
    ix_kernels[p->dtype](p, b, e);
}

void ct_ix_run(const ct_ix_plan *p) {
    ct_ix_plan one;
    if (p->ndim == 0) {
        one = *p;
        one.ndim = 1;
        one.sizes[0] = 1;
        one.dst_st[0] = one.src_st[0] = one.idx_st[0] = 0;
        p = &one;
    }
    int64_t numel = 1;
    for (int d = 0; d < p->ndim; d++) numel *= p->sizes[d];
    if (numel == 0) return;
    int64_t inner = p->sizes[p->ndim - 1];
    int64_t rows = numel / inner;
    if (p->parallel && numel >= 2 * CT_GRAIN) {
        int64_t grain = CT_GRAIN / inner;
        ct_parallel_for(rows, grain < 1 ? 1 : grain, ix_range, (void *)p);
    } else {
        ix_kernels[p->dtype](p, 0, rows);
    }
}

bool ct_ix_find_bad(const ct_tensor *idx, int64_t lo, int64_t hi, int64_t *bad) {
    const int64_t *x = ct_tensor_data(idx);
    for (int64_t i = 0; i < idx->numel; i++) {
        if (x[i] < lo || x[i] >= hi) {
            *bad = x[i];
            return true;
        }
    }
    return false;
}

ct_tensor *ct_ix_expand(ct_tensor *t, const int64_t *shape, int nd, const char *op) {
    int64_t st[CT_MAX_DIM];
    if (t->ndim > nd) goto bad;
    for (int d = 0; d < nd; d++) {
        int td = t->ndim - nd + d;
        if (td < 0) {
            st[d] = 0;
        } else if (t->sizes[td] == shape[d]) {
            st[d] = t->strides[td];
        } else if (t->sizes[td] == 1) {
            st[d] = 0;
        } else {
            goto bad;
        }
    }
    return ct_tensor_new_view(t->storage, t->dtype, t->offset, shape, st, nd);
bad: {
    char b1[128], b2[128];
    return ct_error(CT_ERR_RUNTIME, "[%s] The expanded size of the tensor %s cannot be broadcast to %s", op,
                    ct_shape_str(t->sizes, t->ndim, b1, sizeof b1), ct_shape_str(shape, nd, b2, sizeof b2));
}
}

int ct_ix_scalar_fits(ct_scalar s, int dtype, bool check_16bit, const char *op) {
    static const char *cname[CT_NUM_DTYPES] = {"bool", "uint8_t", "int8_t", "int16_t", "int", "int64_t",
                                               "c10::Half", "c10::BFloat16", "float", "double"};
    double lo, hi;
    switch (dtype) {
    case CT_UINT8: lo = 0, hi = 255; break;
    case CT_INT8: lo = -128, hi = 127; break;
    case CT_INT16: lo = -32768, hi = 32767; break;
    case CT_INT32: lo = -2147483648.0, hi = 2147483647.0; break;
    case CT_INT64: lo = -9.2233720368547758e18, hi = 9.2233720368547758e18; break;
    case CT_FLOAT16:
        if (!check_16bit) return 0;
        lo = -65504.0, hi = 65504.0;
        break;
    case CT_BFLOAT16:
        if (!check_16bit) return 0;
        lo = -3.3895313892515355e38, hi = 3.3895313892515355e38;
        break;
    case CT_FLOAT32: lo = -3.4028234663852886e38, hi = 3.4028234663852886e38; break;
    default: return 0;
    }
    bool bad;
    if (s.kind == CT_SCALAR_FLOAT) {
        double d = s.v.d;
        if (ct_dtype_is_floating(dtype)) bad = !isinf(d) && d == d && (d < lo || d > hi);
        else bad = d != d || d < lo || d > hi;
    } else {
        int64_t v = s.v.i;
        if (dtype == CT_UINT8) bad = v > 255 || v < -255;
        else if (dtype == CT_INT64) bad = false;
        else bad = (double)v < lo || (double)v > hi;
    }
    if (bad) return ct_errorf(CT_ERR_RUNTIME, "[%s] value cannot be converted to type %s without overflow", op, cname[dtype]);
    return 0;
}

/* Nonzero flags of t's elements in row-major order into a new byte array (caller frees). */
static uint8_t *nonzero_flags(ct_tensor *t, int64_t *count) {
    ct_tensor *c = ct_contig_as(t, -1);
    if (!c) return NULL;
    uint8_t *f = ct_alloc_bytes((size_t)(t->numel ? t->numel : 1));
    if (!f) {
        ct_tensor_release(c);
        return NULL;
    }
    const char *p = ct_tensor_data(c);
    int64_t n = c->numel, cnt = 0;
#define NZ(E, T)                                                               \
    case E: {                                                                  \
        const T *q = (const T *)p;                                             \
        for (int64_t i = 0; i < n; i++) cnt += (f[i] = (q[i] != 0));           \
        break;                                                                 \
    }
    switch (c->dtype) {
        NZ(CT_BOOL, uint8_t)
        NZ(CT_UINT8, uint8_t)
        NZ(CT_INT8, int8_t)
        NZ(CT_INT16, int16_t)
        NZ(CT_INT32, int32_t)
        NZ(CT_INT64, int64_t)
        NZ(CT_FLOAT32, float)
        NZ(CT_FLOAT64, double)
    case CT_FLOAT16: {
        const ct_half *q = (const ct_half *)p;
        for (int64_t i = 0; i < n; i++) cnt += (f[i] = (ct_half_to_float(q[i]) != 0));
        break;
    }
    default: {
        const ct_bf16 *q = (const ct_bf16 *)p;
        for (int64_t i = 0; i < n; i++) cnt += (f[i] = (ct_bf16_to_float(q[i]) != 0));
        break;
    }
    }
#undef NZ
    ct_tensor_release(c);
    *count = cnt;
    return f;
}

ct_tensor *ct_ix_nonzero(ct_tensor *t) {
    int64_t cnt;
    uint8_t *f = nonzero_flags(t, &cnt);
    if (!f) return NULL;
    int nd = t->ndim;
    int64_t shape[2] = {cnt, nd};
    ct_tensor *out = ct_empty(shape, 2, CT_INT64);
    if (!out) {
        ct_free_bytes(f);
        return NULL;
    }
    int64_t *o = ct_tensor_data(out);
    int64_t co[CT_MAX_DIM] = {0};
    for (int64_t i = 0; i < t->numel; i++) {
        if (f[i]) {
            for (int d = 0; d < nd; d++) *o++ = co[d];
        }
        for (int d = nd - 1; d >= 0; d--) {
            if (++co[d] < t->sizes[d]) break;
            co[d] = 0;
        }
    }
    ct_free_bytes(f);
    return out;
}

/* ------------------------------------------------------------------ helpers */

static inline int64_t sz(const ct_tensor *t, int d) { return t->ndim ? t->sizes[d] : 1; }
static inline int64_t st(const ct_tensor *t, int d) { return t->ndim ? t->strides[d] : 0; }
static inline int nd1(const ct_tensor *t) { return t->ndim ? t->ndim : 1; }

/* torch's dtype names for messages */
static const char *tname(int d) {
    static const char *n[CT_NUM_DTYPES] = {"Bool", "Byte", "Char", "Short", "Int", "Long", "Half", "BFloat16", "Float",
                                           "Double"};
    return (d >= 0 && d < CT_NUM_DTYPES) ? n[d] : "?";
}

/* int32/int64 index -> contiguous int64 (new reference), else error of `kind`. */
static ct_tensor *index_i64(ct_tensor *index, bool allow_int32, ct_error_kind kind, const char *msg) {
    if (!(index->dtype == CT_INT64 || (allow_int32 && index->dtype == CT_INT32)))
        return ct_error(kind, "%s", msg);
    return ct_contig_as(index, CT_INT64);
}

/* Output tensor for an op that starts from a copy of self (or self itself in place). */
static ct_tensor *start_from(ct_tensor *self, bool inplace) {
    if (inplace) {
        ct_tensor_retain(self);
        return self;
    }
    return ct_clone_impl(self);
}

/* 0-dim tensor of dtype holding s (for value operands). */
static ct_tensor *scalar_of(ct_scalar s, int dtype) {
    ct_tensor *v = ct_empty(NULL, 0, dtype);
    if (v) ct_store_scalar(ct_tensor_data(v), dtype, s);
    return v;
}

static void plan_init(ct_ix_plan *p, int dtype, int op) {
    memset(p, 0, sizeof *p);
    p->dtype = dtype;
    p->op = op;
    p->alpha_d = 1.0;
    p->alpha_i = 1;
}

/* positions = shape of `pos` (at least 1-d); strides of t (in bytes) along them. */
static void plan_strides(int64_t *out, const ct_tensor *t, int nd) {
    int64_t es = ct_dtype_sizes[t->dtype];
    for (int d = 0; d < nd; d++) out[d] = st(t, d) * es;
}

/* ------------------------------------------------------------------ gather / scatter */

ct_tensor *ct_gather_impl(ct_tensor *self, int64_t dim, ct_tensor *index, bool sparse_grad) {
    (void)sparse_grad;
    int d = ct_wrap_dim(dim, self->ndim, "gather");
    if (d < 0) return NULL;
    ct_tensor *ix = index_i64(index, true, CT_ERR_RUNTIME, "[gather] gather(): Expected dtype int64 for index");
    if (!ix) return NULL;
    ct_tensor *out = NULL;
    int nd = nd1(index);
    if (index->numel > 0 && nd != nd1(self)) {
        ct_error(CT_ERR_RUNTIME, "[gather] Index tensor must have the same number of dimensions as input tensor");
        goto done;
    }
    for (int k = 0; k < nd && index->numel > 0; k++) {
        if (k != d && sz(index, k) > sz(self, k)) {
            char b1[128], b2[128];
            ct_error(CT_ERR_RUNTIME, "[gather] Size does not match at dimension %d expected index %s to be no larger "
                     "than self %s apart from dimension %d", k, ct_shape_str(index->sizes, index->ndim, b1, sizeof b1),
                     ct_shape_str(self->sizes, self->ndim, b2, sizeof b2), d);
            goto done;
        }
    }
    int64_t bad, n = sz(self, d);
    if (ct_ix_find_bad(ix, 0, n, &bad)) {
        ct_error(CT_ERR_RUNTIME, "[gather] index %lld is out of bounds for dimension %d with size %lld",
                 (long long)bad, d, (long long)n);
        goto done;
    }
    out = ct_empty(index->sizes, index->ndim, self->dtype);
    if (!out || index->numel == 0) goto done;
    ct_ix_plan p;
    plan_init(&p, self->dtype, CT_IX_COPY);
    p.ndim = index->ndim;
    memcpy(p.sizes, index->sizes, sizeof(int64_t) * (size_t)index->ndim);
    p.dst = ct_tensor_data(out);
    plan_strides(p.dst_st, out, p.ndim);
    p.src = ct_tensor_data(self);
    plan_strides(p.src_st, self, p.ndim);
    if (self->ndim) p.src_st[d] = 0;
    p.src_mul = st(self, d) * (int64_t)ct_dtype_sizes[self->dtype];
    p.idx = ct_tensor_data(ix);
    plan_strides(p.idx_st, ix, p.ndim);
    p.parallel = true;
    ct_ix_run(&p);
done:
    ct_tensor_release(ix);
    return out;
}

typedef enum { RED_NONE = -1, RED_SUM, RED_PROD, RED_MEAN, RED_AMAX, RED_AMIN } red_kind;

/* Checks shared by the scatter family; returns the int64 index (new reference) or NULL. */
static ct_tensor *scatter_check(const char *name, ct_tensor *self, int d, ct_tensor *index, ct_tensor *src) {
    char msg[160];
    snprintf(msg, sizeof msg, "[%s] %s(): Expected dtype int64 for index", name, name);
    ct_tensor *ix = index_i64(index, true, CT_ERR_RUNTIME, msg);
    if (!ix) return NULL;
    if (src && src->dtype != self->dtype) {
        ct_error(CT_ERR_RUNTIME, "[%s] %s(): Expected self.dtype to be equal to src.dtype", name, name);
        goto fail;
    }
    int nd = nd1(index);
    if (index->numel > 0) {
        if (nd != nd1(self) || (src && nd != nd1(src))) {
            ct_error(CT_ERR_RUNTIME, "[%s] Index tensor must have the same number of dimensions as self tensor", name);
            goto fail;
        }
        for (int k = 0; k < nd; k++) {
            if ((k != d && sz(index, k) > sz(self, k)) || (src && sz(index, k) > sz(src, k))) {
                char b1[128], b2[128];
                ct_error(CT_ERR_RUNTIME, "[%s] Expected index %s to be no larger than self %s apart from dimension %d "
                         "and to be no larger size than src", name, ct_shape_str(index->sizes, index->ndim, b1, sizeof b1),
                         ct_shape_str(self->sizes, self->ndim, b2, sizeof b2), d);
                goto fail;
            }
        }
    }
    int64_t bad, n = sz(self, d);
    if (ct_ix_find_bad(ix, 0, n, &bad)) {
        ct_error(CT_ERR_RUNTIME, "[%s] index %lld is out of bounds for dimension %d with size %lld", name,
                 (long long)bad, d, (long long)n);
        goto fail;
    }
    return ix;
fail:
    ct_tensor_release(ix);
    return NULL;
}

/* The scatter family: out[...index[i]...] (op)= src[i] or value, over the positions of index. */
static ct_tensor *scatter_impl(const char *name, ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *src,
                               const ct_scalar *value, int op, bool inplace) {
    int d = ct_wrap_dim(dim, self->ndim, name);
    if (d < 0) return NULL;
    ct_tensor *ix = scatter_check(name, self, d, index, src);
    if (!ix) return NULL;
    ct_tensor *out = NULL, *val = NULL;
    if (!src && ct_ix_scalar_fits(*value, self->dtype, true, name)) goto fail;
    out = start_from(self, inplace);
    if (!out) goto fail;
    if (!src) {
        val = scalar_of(*value, self->dtype);
        if (!val) goto fail;
    }
    if (index->numel > 0) {
        ct_ix_plan p;
        plan_init(&p, self->dtype, op);
        p.ndim = index->ndim;
        memcpy(p.sizes, index->sizes, sizeof(int64_t) * (size_t)index->ndim);
        p.dst = ct_tensor_data(out);
        plan_strides(p.dst_st, out, p.ndim);
        if (out->ndim) p.dst_st[d] = 0;
        p.dst_mul = st(out, d) * (int64_t)ct_dtype_sizes[out->dtype];
        if (src) {
            p.src = ct_tensor_data(src);
            plan_strides(p.src_st, src, p.ndim);
        } else {
            p.src = ct_tensor_data(val);
        }
        p.idx = ct_tensor_data(ix);
        plan_strides(p.idx_st, ix, p.ndim);
        ct_ix_run(&p);
    }
    ct_tensor_bump_version(out);
    ct_tensor_release(ix);
    ct_tensor_release(val);
    return out;
fail:
    ct_tensor_release(ix);
    ct_tensor_release(val);
    ct_tensor_release(out);
    return NULL;
}

static int scatter_reduce_op(const char *name, const char *reduce) {
    if (!strcmp(reduce, "add")) return CT_IX_ADD;
    if (!strcmp(reduce, "multiply")) return CT_IX_MUL;
    return ct_errorf(CT_ERR_RUNTIME, "[%s] reduce argument must be either add or multiply.", name);
}

ct_tensor *ct_scatter_src_impl(ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *src) {
    return scatter_impl("scatter", self, dim, index, src, NULL, CT_IX_COPY, false);
}
ct_tensor *ct_scatter_value_impl(ct_tensor *self, int64_t dim, ct_tensor *index, ct_scalar value) {
    return scatter_impl("scatter", self, dim, index, NULL, &value, CT_IX_COPY, false);
}
ct_tensor *ct_scatter_reduce_impl(ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *src, const char *reduce) {
    int op = scatter_reduce_op("scatter", reduce);
    return op < 0 ? NULL : scatter_impl("scatter", self, dim, index, src, NULL, op, false);
}
ct_tensor *ct_scatter_value_reduce_impl(ct_tensor *self, int64_t dim, ct_tensor *index, ct_scalar value,
                                        const char *reduce) {
    int op = scatter_reduce_op("scatter", reduce);
    return op < 0 ? NULL : scatter_impl("scatter", self, dim, index, NULL, &value, op, false);
}
ct_tensor *ct_scatter__src_impl(ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *src) {
    return scatter_impl("scatter", self, dim, index, src, NULL, CT_IX_COPY, true);
}
ct_tensor *ct_scatter__value_impl(ct_tensor *self, int64_t dim, ct_tensor *index, ct_scalar value) {
    return scatter_impl("scatter", self, dim, index, NULL, &value, CT_IX_COPY, true);
}
ct_tensor *ct_scatter__reduce_impl(ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *src, const char *reduce) {
    int op = scatter_reduce_op("scatter", reduce);
    return op < 0 ? NULL : scatter_impl("scatter", self, dim, index, src, NULL, op, true);
}
ct_tensor *ct_scatter__value_reduce_impl(ct_tensor *self, int64_t dim, ct_tensor *index, ct_scalar value,
                                         const char *reduce) {
    int op = scatter_reduce_op("scatter", reduce);
    return op < 0 ? NULL : scatter_impl("scatter", self, dim, index, NULL, &value, op, true);
}
ct_tensor *ct_scatter_add_impl(ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *src) {
    return scatter_impl("scatter_add", self, dim, index, src, NULL, CT_IX_ADD, false);
}
ct_tensor *ct_scatter_add__impl(ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *src) {
    return scatter_impl("scatter_add", self, dim, index, src, NULL, CT_IX_ADD, true);
}

/* Identity of a reduction in dtype (the start value of positions that exclude self). */
static ct_scalar red_identity(int red, int dtype) {
    bool fl = ct_dtype_is_floating(dtype);
    switch (red) {
    case RED_PROD: return ct_scalar_i(1);
    case RED_AMAX:
        if (fl) return ct_scalar_f(-INFINITY);
        switch (dtype) {
        case CT_INT8: return ct_scalar_i(INT8_MIN);
        case CT_INT16: return ct_scalar_i(INT16_MIN);
        case CT_INT32: return ct_scalar_i(INT32_MIN);
        case CT_INT64: return ct_scalar_i(INT64_MIN);
        default: return ct_scalar_i(0);
        }
    case RED_AMIN:
        if (fl) return ct_scalar_f(INFINITY);
        switch (dtype) {
        case CT_BOOL: return ct_scalar_i(1);
        case CT_UINT8: return ct_scalar_i(UINT8_MAX);
        case CT_INT8: return ct_scalar_i(INT8_MAX);
        case CT_INT16: return ct_scalar_i(INT16_MAX);
        case CT_INT32: return ct_scalar_i(INT32_MAX);
        default: return ct_scalar_i(INT64_MAX);
        }
    default: return ct_scalar_i(0);
    }
}

static ct_tensor *scatter_reduce_impl(ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *src,
                                      const char *reduce, bool include_self, bool inplace) {
    int red;
    if (!strcmp(reduce, "sum")) red = RED_SUM;
    else if (!strcmp(reduce, "prod")) red = RED_PROD;
    else if (!strcmp(reduce, "mean")) red = RED_MEAN;
    else if (!strcmp(reduce, "amax")) red = RED_AMAX;
    else if (!strcmp(reduce, "amin")) red = RED_AMIN;
    else
        return ct_error(CT_ERR_RUNTIME, "[scatter_reduce] reduce argument must be either sum, prod, mean, amax or "
                        "amin, got %s", reduce);
    if (red == RED_MEAN && self->dtype == CT_BOOL)
        return ct_error(CT_ERR_NOT_IMPLEMENTED, "[scatter_reduce] \"scatter_gather_tensor_cpu_reduce_mean\" not "
                        "implemented for 'Bool'");
    static const int ops[] = {CT_IX_ADD, CT_IX_MUL, CT_IX_ADD, CT_IX_MAX, CT_IX_MIN};
    /* mean needs a contiguous work tensor for the final division */
    bool work_copy = inplace && red == RED_MEAN && !ct_tensor_is_contiguous(self);
    ct_tensor *out;
    if (!include_self) {
        /* validate everything before the first pass writes identities */
        int d = ct_wrap_dim(dim, self->ndim, "scatter_reduce");
        ct_tensor *ix = d < 0 ? NULL : scatter_check("scatter_reduce", self, d, index, src);
        if (!ix) return NULL;
        ct_tensor_release(ix);
        ct_scalar idv = red_identity(red, self->dtype);
        out = scatter_impl("scatter_reduce", self, dim, index, NULL, &idv, CT_IX_COPY, inplace && !work_copy);
    } else {
        out = start_from(self, inplace && !work_copy);
    }
    if (!out) return NULL;
    ct_tensor *r = scatter_impl("scatter_reduce", out, dim, index, src, NULL, ops[red], true);
    if (!r) {
        ct_tensor_release(out);
        return NULL;
    }
    ct_tensor_release(r);
    if (red == RED_MEAN) {
        /* counts of contributions per element, then out /= max(count, 1) */
        ct_tensor *cnt = ct_empty(out->sizes, out->ndim, CT_INT64);
        ct_tensor *one = NULL;
        ct_scalar one_s = ct_scalar_i(1);
        if (!cnt) goto mean_fail;
        int64_t *c = ct_tensor_data(cnt);
        for (int64_t i = 0; i < cnt->numel; i++) c[i] = include_self ? 1 : 0;
        ct_tensor *rc = scatter_impl("scatter_reduce", cnt, dim, index, NULL, &one_s, CT_IX_ADD, true);
        if (!rc) goto mean_fail;
        ct_tensor_release(rc);
        ct_tensor *w = out;
        if (!ct_tensor_is_contiguous(w)) {
            w = ct_contig_as(out, -1);
            if (!w) goto mean_fail;
        } else {
            ct_tensor_retain(w);
        }
        char *base = ct_tensor_data(w);
        size_t es = ct_dtype_sizes[w->dtype];
        bool fl = ct_dtype_is_floating(w->dtype);
        for (int64_t i = 0; i < w->numel; i++) {
            int64_t k = c[i] > 0 ? c[i] : 1;
            char *q = base + (size_t)i * es;
            if (fl) {
                ct_store_f64(q, w->dtype, ct_load_f64(q, w->dtype) / (double)k);
            } else {
                int64_t v = ct_load_i64(q, w->dtype), qv = v / k;
                if ((v % k != 0) && ((v < 0) != (k < 0))) qv--;
                ct_store_i64(q, w->dtype, qv);
            }
        }
        if (w != out) ct_copy_into(out, w);
        ct_tensor_release(w);
        ct_tensor_release(cnt);
        ct_tensor_release(one);
        goto mean_done;
    mean_fail:
        ct_tensor_release(cnt);
        ct_tensor_release(one);
        ct_tensor_release(out);
        return NULL;
    }
mean_done:
    if (work_copy) {
        if (ct_copy_into(self, out)) {
            ct_tensor_release(out);
            return NULL;
        }
        ct_tensor_release(out);
        ct_tensor_retain(self);
        return self;
    }
    return out;
}

ct_tensor *ct_scatter_reduce_two_impl(ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *src,
                                      const char *reduce, bool include_self) {
    if (src->dtype != self->dtype)
        return ct_error(CT_ERR_RUNTIME, "[scatter_reduce] scatter(): Expected self.dtype to be equal to src.dtype");
    return scatter_reduce_impl(self, dim, index, src, reduce, include_self, false);
}
ct_tensor *ct_scatter_reduce__two_impl(ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *src,
                                       const char *reduce, bool include_self) {
    if (src->dtype != self->dtype)
        return ct_error(CT_ERR_RUNTIME, "[scatter_reduce_] scatter(): Expected self.dtype to be equal to src.dtype");
    return scatter_reduce_impl(self, dim, index, src, reduce, include_self, true);
}

/* ------------------------------------------------------------------ index_* family */

static ct_tensor *vector_index(const char *name, ct_tensor *index, ct_error_kind vec_kind) {
    if (index->ndim > 1)
        return ct_error(vec_kind, "[%s] %s(): Index is supposed to be a vector", name, name);
    char msg[160];
    snprintf(msg, sizeof msg, "[%s] %s(): Expected dtype int32 or int64 for index", name, name);
    return index_i64(index, true, CT_ERR_RUNTIME, msg);
}

ct_tensor *ct_index_select_impl(ct_tensor *self, int64_t dim, ct_tensor *index) {
    int d = ct_wrap_dim(dim, self->ndim, "index_select");
    if (d < 0) return NULL;
    ct_tensor *ix = vector_index("index_select", index, CT_ERR_INDEX);
    if (!ix) return NULL;
    int64_t bad, n = sz(self, d);
    if (ct_ix_find_bad(ix, 0, n, &bad)) {
        ct_tensor_release(ix);
        return ct_error(CT_ERR_INDEX, "[index_select] index out of range in self");
    }
    int64_t shape[CT_MAX_DIM];
    memcpy(shape, self->sizes, sizeof(int64_t) * (size_t)self->ndim);
    if (self->ndim) shape[d] = ix->numel;
    ct_tensor *out = ct_empty(shape, self->ndim, self->dtype);
    if (out && out->numel) {
        ct_ix_plan p;
        plan_init(&p, self->dtype, CT_IX_COPY);
        p.ndim = self->ndim;
        memcpy(p.sizes, shape, sizeof(int64_t) * (size_t)self->ndim);
        p.dst = ct_tensor_data(out);
        plan_strides(p.dst_st, out, p.ndim);
        p.src = ct_tensor_data(self);
        plan_strides(p.src_st, self, p.ndim);
        if (p.ndim) p.src_st[d] = 0, p.idx_st[d] = 8;
        p.src_mul = st(self, d) * (int64_t)ct_dtype_sizes[self->dtype];
        p.idx = ct_tensor_data(ix);
        p.parallel = true;
        ct_ix_run(&p);
    }
    ct_tensor_release(ix);
    return out;
}

/* index_add / index_copy: out.select(dim, index[i]) (op)= source.select(dim, i) */
static ct_tensor *index_accumulate(const char *name, ct_tensor *self, int64_t dim, ct_tensor *index,
                                   ct_tensor *source, ct_scalar alpha, int op, bool inplace) {
    int d = ct_wrap_dim(dim, self->ndim, name);
    if (d < 0) return NULL;
    bool copy = op == CT_IX_COPY;
    if (source->dtype != self->dtype) {
        if (copy)
            return ct_error(CT_ERR_RUNTIME, "[%s] index_copy_(): self and source expected to have the same dtype, but "
                            "got (self) %s and (source) %s", name, tname(self->dtype), tname(source->dtype));
        return ct_error(CT_ERR_RUNTIME, "[%s] index_add_(): self (%s) and source (%s) must have the same scalar type",
                        name, tname(self->dtype), tname(source->dtype));
    }
    if (copy && index->dtype != CT_INT64)
        return ct_error(CT_ERR_RUNTIME, "[%s] index_copy_(): Expected a long tensor for index, but got %s", name,
                        tname(index->dtype));
    ct_tensor *ix = vector_index(copy ? "index_copy_" : "index_add_", index, CT_ERR_INDEX);
    if (!ix) return NULL;
    ct_tensor *out = NULL;
    bool shape_ok = nd1(source) == nd1(self) || (source->ndim == 0 && self->ndim <= 1) ||
                    (self->ndim == 0 && source->ndim <= 1);
    if (shape_ok)
        for (int k = 0; k < nd1(self) && k < nd1(source); k++)
            if (k != d && sz(source, k) != sz(self, k)) shape_ok = false;
    if (shape_ok && sz(source, d) != ix->numel && !(source->ndim == 0 && ix->numel == 1)) {
        ct_error(copy ? CT_ERR_INDEX : CT_ERR_RUNTIME, "[%s] Number of indices (%lld) should be equal to "
                 "source.size(dim) (%lld)", name, (long long)ix->numel, (long long)sz(source, d));
        goto done;
    }
    if (!shape_ok) {
        char b1[128], b2[128];
        ct_error(CT_ERR_RUNTIME, "[%s] source tensor shape %s must match self tensor shape %s, excluding the "
                 "specified dimension, and have index.numel() = %lld slices along it", name,
                 ct_shape_str(source->sizes, source->ndim, b1, sizeof b1),
                 ct_shape_str(self->sizes, self->ndim, b2, sizeof b2), (long long)ix->numel);
        goto done;
    }
    int64_t bad, n = sz(self, d);
    if (ct_ix_find_bad(ix, 0, n, &bad)) {
        if (copy)
            ct_error(CT_ERR_INDEX, "[%s] index_copy_(): index %lld is out of bounds for dimension %d with size %lld",
                     name, (long long)bad, d, (long long)n);
        else
            ct_error(CT_ERR_RUNTIME, "[%s] index %lld is out of bounds for dimension %d with size %lld", name,
                     (long long)bad, d, (long long)n);
        goto done;
    }
    out = start_from(self, inplace);
    if (!out) goto done;
    int pnd = nd1(self);
    ct_ix_plan p;
    plan_init(&p, self->dtype, op);
    p.ndim = pnd;
    for (int k = 0; k < pnd; k++) p.sizes[k] = k == d ? ix->numel : sz(self, k);
    p.dst = ct_tensor_data(out);
    plan_strides(p.dst_st, out, pnd);
    p.dst_st[d] = 0;
    p.dst_mul = st(out, d) * (int64_t)ct_dtype_sizes[out->dtype];
    p.src = ct_tensor_data(source);
    if (source->ndim == pnd) plan_strides(p.src_st, source, pnd);
    p.idx = ct_tensor_data(ix);
    p.idx_st[d] = 8;
    if (ct_dtype_is_floating(self->dtype)) p.alpha_d = ct_scalar_to_f64(alpha);
    else p.alpha_i = ct_scalar_to_i64(alpha);
    ct_ix_run(&p);
    ct_tensor_bump_version(out);
done:
    ct_tensor_release(ix);
    return out;
}

ct_tensor *ct_index_add_impl(ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *source, ct_scalar alpha) {
    return index_accumulate("index_add", self, dim, index, source, alpha, CT_IX_ADD, false);
}
ct_tensor *ct_index_add__impl(ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *source, ct_scalar alpha) {
    return index_accumulate("index_add_", self, dim, index, source, alpha, CT_IX_ADD, true);
}
ct_tensor *ct_index_copy_impl(ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *source) {
    return index_accumulate("index_copy", self, dim, index, source, ct_scalar_i(1), CT_IX_COPY, false);
}
ct_tensor *ct_index_copy__impl(ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *source) {
    return index_accumulate("index_copy_", self, dim, index, source, ct_scalar_i(1), CT_IX_COPY, true);
}

static ct_tensor *index_fill_impl(ct_tensor *self, int64_t dim, ct_tensor *index, ct_scalar value, bool inplace) {
    int d = ct_wrap_dim(dim, self->ndim, "index_fill_");
    if (d < 0) return NULL;
    if (index->dtype != CT_INT64)
        return ct_error(CT_ERR_INDEX, "[index_fill_] index_fill_(): Expected dtype int64 for index.");
    ct_tensor *ix = vector_index("index_fill_", index, CT_ERR_RUNTIME);
    if (!ix) return NULL;
    ct_tensor *out = NULL, *val = NULL;
    int64_t bad, n = sz(self, d);
    if (ct_ix_scalar_fits(value, self->dtype, true, "index_fill_")) goto done;
    if (ct_ix_find_bad(ix, -n, n, &bad)) {
        ct_error(CT_ERR_INDEX, "[index_fill_] index %lld is out of bounds for dimension %d with size %lld",
                 (long long)bad, d, (long long)n);
        goto done;
    }
    out = start_from(self, inplace);
    val = scalar_of(value, self->dtype);
    if (!out || !val) {
        ct_tensor_release(out);
        out = NULL;
        goto done;
    }
    int pnd = nd1(self);
    ct_ix_plan p;
    plan_init(&p, self->dtype, CT_IX_COPY);
    p.ndim = pnd;
    for (int k = 0; k < pnd; k++) p.sizes[k] = k == d ? ix->numel : sz(self, k);
    p.dst = ct_tensor_data(out);
    plan_strides(p.dst_st, out, pnd);
    p.dst_st[d] = 0;
    p.dst_mul = st(out, d) * (int64_t)ct_dtype_sizes[out->dtype];
    p.src = ct_tensor_data(val);
    p.idx = ct_tensor_data(ix);
    p.idx_st[d] = 8;
    p.bound = n;
    ct_ix_run(&p);
    ct_tensor_bump_version(out);
done:
    ct_tensor_release(ix);
    ct_tensor_release(val);
    return out;
}

static int value_of_0dim(const char *name, ct_tensor *value, ct_scalar *s) {
    if (value->ndim != 0)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] %s only supports a 0-dimensional value tensor, but got tensor with %d "
                         "dimension(s).", name, name, value->ndim);
    return ct_item(value, s);
}

ct_tensor *ct_index_fill_int_Scalar_impl(ct_tensor *self, int64_t dim, ct_tensor *index, ct_scalar value) {
    return index_fill_impl(self, dim, index, value, false);
}
ct_tensor *ct_index_fill__int_Scalar_impl(ct_tensor *self, int64_t dim, ct_tensor *index, ct_scalar value) {
    return index_fill_impl(self, dim, index, value, true);
}
ct_tensor *ct_index_fill_int_Tensor_impl(ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *value) {
    ct_scalar s;
    if (value_of_0dim("index_fill_", value, &s)) return NULL;
    return index_fill_impl(self, dim, index, s, false);
}
ct_tensor *ct_index_fill__int_Tensor_impl(ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *value) {
    ct_scalar s;
    if (value_of_0dim("index_fill_", value, &s)) return NULL;
    return index_fill_impl(self, dim, index, s, true);
}

/* ------------------------------------------------------------------ index / index_put */

/* Tensor?[] -> index items (None -> full slice). items must hold indices.n entries. */
static int items_from_list(ct_tensorlist indices, ct_index_item *items) {
    if (indices.n > CT_MAX_DIM) return ct_errorf(CT_ERR_INDEX, "[index] too many indices");
    for (int64_t i = 0; i < indices.n; i++)
        items[i] = indices.data[i] ? ct_index_tensor(indices.data[i]) : ct_index_slice(0, CT_INDEX_END, 1);
    return 0;
}

ct_tensor *ct_index_Tensor_impl(ct_tensor *self, ct_tensorlist indices) {
    ct_index_item items[CT_MAX_DIM];
    if (items_from_list(indices, items)) return NULL;
    return ct_tensor_index_nograd(self, items, (int)indices.n);
}

static ct_tensor *index_put_impl(ct_tensor *self, ct_tensorlist indices, ct_tensor *values, bool accumulate,
                                 bool inplace) {
    if (values->dtype != self->dtype)
        return ct_error(CT_ERR_RUNTIME, "[index_put_] Index put requires the source and destination dtypes match, got "
                        "%s for the destination and %s for the source.", tname(self->dtype), tname(values->dtype));
    if (indices.n == 0) return ct_error(CT_ERR_RUNTIME, "[index_put_] at least one index is required");
    ct_index_item items[CT_MAX_DIM];
    if (items_from_list(indices, items)) return NULL;
    ct_tensor *out = start_from(self, inplace);
    if (!out) return NULL;
    if (ct_tensor_index_put_nograd(out, items, (int)indices.n, values, accumulate)) {
        ct_tensor_release(out);
        return NULL;
    }
    return out;
}

ct_tensor *ct_index_put_impl(ct_tensor *self, ct_tensorlist indices, ct_tensor *values, bool accumulate) {
    return index_put_impl(self, indices, values, accumulate, false);
}
ct_tensor *ct_index_put__impl(ct_tensor *self, ct_tensorlist indices, ct_tensor *values, bool accumulate) {
    return index_put_impl(self, indices, values, accumulate, true);
}

/* ------------------------------------------------------------------ masked_* */

static int broadcast_mask(const char *name, ct_tensor *self, ct_tensor *mask, bool inplace, int64_t *shape) {
    int nd = ct_broadcast_shapes(self->sizes, self->ndim, mask->sizes, mask->ndim, shape, name);
    if (nd < 0) return -1;
    if (inplace && (nd != self->ndim || memcmp(shape, self->sizes, sizeof(int64_t) * (size_t)nd))) {
        char b1[128], b2[128];
        return ct_errorf(CT_ERR_RUNTIME, "[%s] output with shape %s doesn't match the broadcast shape %s", name,
                         ct_shape_str(self->sizes, self->ndim, b1, sizeof b1), ct_shape_str(shape, nd, b2, sizeof b2));
    }
    return nd;
}

/* self expanded to shape, as a new contiguous tensor */
static ct_tensor *materialize(ct_tensor *t, const int64_t *shape, int nd, int dtype) {
    ct_tensor *o = ct_empty(shape, nd, dtype < 0 ? t->dtype : dtype);
    if (o && ct_copy_into(o, t)) {
        ct_tensor_release(o);
        return NULL;
    }
    return o;
}

typedef struct { char bytes[8]; int es; } fill_ctx;

static void masked_fill_loop(char **p, const int64_t *s, int64_t n, void *vctx) {
    const fill_ctx *c = vctx;
    for (int64_t i = 0; i < n; i++)
        if (*(const uint8_t *)(p[1] + i * s[1])) memcpy(p[0] + i * s[0], c->bytes, (size_t)c->es);
}

static ct_tensor *masked_fill_impl(ct_tensor *self, ct_tensor *mask, ct_scalar value, bool inplace) {
    if (mask->dtype != CT_BOOL)
        return ct_error(CT_ERR_RUNTIME, "[masked_fill_] masked_fill_ only supports boolean masks, but got mask with "
                        "dtype %s", ct_dtype_name(mask->dtype));
    if (ct_ix_scalar_fits(value, self->dtype, true, "masked_fill_")) return NULL;
    int64_t shape[CT_MAX_DIM];
    int nd = broadcast_mask("masked_fill_", self, mask, inplace, shape);
    if (nd < 0) return NULL;
    ct_tensor *out = inplace ? (ct_tensor_retain(self), self) : materialize(self, shape, nd, -1);
    if (!out) return NULL;
    fill_ctx c;
    c.es = ct_dtype_sizes[out->dtype];
    ct_store_scalar(c.bytes, out->dtype, value);
    ct_iter it;
    ct_tensor *ops[2] = {out, mask};
    if (ct_iter_init(&it, 2, ops, out->sizes, out->ndim, "masked_fill_")) {
        ct_tensor_release(out);
        return NULL;
    }
    ct_iter_run(&it, masked_fill_loop, &c, true);
    ct_tensor_bump_version(out);
    return out;
}

ct_tensor *ct_masked_fill_Scalar_impl(ct_tensor *self, ct_tensor *mask, ct_scalar value) {
    return masked_fill_impl(self, mask, value, false);
}
ct_tensor *ct_masked_fill__Scalar_impl(ct_tensor *self, ct_tensor *mask, ct_scalar value) {
    return masked_fill_impl(self, mask, value, true);
}
ct_tensor *ct_masked_fill_Tensor_impl(ct_tensor *self, ct_tensor *mask, ct_tensor *value) {
    ct_scalar s;
    if (value_of_0dim("masked_fill_", value, &s)) return NULL;
    return masked_fill_impl(self, mask, s, false);
}
ct_tensor *ct_masked_fill__Tensor_impl(ct_tensor *self, ct_tensor *mask, ct_tensor *value) {
    ct_scalar s;
    if (value_of_0dim("masked_fill_", value, &s)) return NULL;
    return masked_fill_impl(self, mask, s, true);
}

static void copy_elem(char *d, const char *s, int es) {
    switch (es) {
    case 1: *(uint8_t *)d = *(const uint8_t *)s; break;
    case 2: memcpy(d, s, 2); break;
    case 4: memcpy(d, s, 4); break;
    default: memcpy(d, s, 8); break;
    }
}

ct_tensor *ct_masked_select_impl(ct_tensor *self, ct_tensor *mask) {
    if (mask->dtype != CT_BOOL) return ct_error(CT_ERR_RUNTIME, "[masked_select] masked_select: expected BoolTensor for mask");
    int64_t shape[CT_MAX_DIM];
    int nd = broadcast_mask("masked_select", self, mask, false, shape);
    if (nd < 0) return NULL;
    ct_tensor *s = materialize(self, shape, nd, -1), *m = materialize(mask, shape, nd, -1), *out = NULL;
    if (!s || !m) goto done;
    const uint8_t *mp = ct_tensor_data(m);
    int64_t cnt = 0;
    for (int64_t i = 0; i < m->numel; i++) cnt += mp[i] != 0;
    out = ct_empty(&cnt, 1, self->dtype);
    if (!out) goto done;
    int es = ct_dtype_sizes[self->dtype];
    const char *sp = ct_tensor_data(s);
    char *op = ct_tensor_data(out);
    for (int64_t i = 0, k = 0; i < m->numel; i++)
        if (mp[i]) copy_elem(op + (k++) * es, sp + i * es, es);
done:
    ct_tensor_release(s);
    ct_tensor_release(m);
    return out;
}

static ct_tensor *masked_scatter_impl(ct_tensor *self, ct_tensor *mask, ct_tensor *source, bool inplace) {
    if (mask->dtype != CT_BOOL)
        return ct_error(CT_ERR_RUNTIME, "[masked_scatter_] masked_scatter_ only supports boolean masks, but got mask "
                        "with dtype %s", ct_dtype_name(mask->dtype));
    if (source->dtype != self->dtype)
        return ct_error(CT_ERR_RUNTIME, "[masked_scatter_] masked_scatter: expected self and source to have same "
                        "dtypes but got %s and %s", tname(self->dtype), tname(source->dtype));
    int64_t shape[CT_MAX_DIM];
    int nd = broadcast_mask("masked_scatter_", self, mask, inplace, shape);
    if (nd < 0) return NULL;
    ct_tensor *w = materialize(self, shape, nd, -1), *m = materialize(mask, shape, nd, -1);
    ct_tensor *src = ct_contig_as(source, -1);
    if (!w || !m || !src) goto fail;
    const uint8_t *mp = ct_tensor_data(m);
    int64_t cnt = 0;
    for (int64_t i = 0; i < m->numel; i++) cnt += mp[i] != 0;
    if (src->numel < cnt) {
        ct_error(CT_ERR_RUNTIME, "[masked_scatter_] Number of elements of source < number of ones in mask");
        goto fail;
    }
    int es = ct_dtype_sizes[self->dtype];
    char *wp = ct_tensor_data(w);
    const char *sp = ct_tensor_data(src);
    for (int64_t i = 0, k = 0; i < m->numel; i++)
        if (mp[i]) copy_elem(wp + i * es, sp + (k++) * es, es);
    ct_tensor_release(m);
    ct_tensor_release(src);
    if (inplace) {
        int rc = ct_copy_into(self, w);
        ct_tensor_release(w);
        if (rc) return NULL;
        ct_tensor_retain(self);
        return self;
    }
    return w;
fail:
    ct_tensor_release(w);
    ct_tensor_release(m);
    ct_tensor_release(src);
    return NULL;
}

ct_tensor *ct_masked_scatter_impl(ct_tensor *self, ct_tensor *mask, ct_tensor *source) {
    return masked_scatter_impl(self, mask, source, false);
}
ct_tensor *ct_masked_scatter__impl(ct_tensor *self, ct_tensor *mask, ct_tensor *source) {
    return masked_scatter_impl(self, mask, source, true);
}

/* ------------------------------------------------------------------ take / put */

ct_tensor *ct_take_impl(ct_tensor *self, ct_tensor *index) {
    if (index->dtype != CT_INT64)
        return ct_error(CT_ERR_RUNTIME, "[take] take(): Expected a long tensor for index, but got %s",
                        tname(index->dtype));
    ct_tensor *ix = ct_contig_as(index, CT_INT64), *sc = ct_contig_as(self, -1), *out = NULL;
    if (!ix || !sc) goto done;
    int64_t bad, n = self->numel;
    if (ct_ix_find_bad(ix, -n, n, &bad)) {
        ct_error(CT_ERR_INDEX, "[take] out of range: tried to access index %lld on a tensor of %lld elements.",
                 (long long)bad, (long long)n);
        goto done;
    }
    out = ct_empty(index->sizes, index->ndim, self->dtype);
    if (!out || !out->numel) goto done;
    ct_ix_plan p;
    plan_init(&p, self->dtype, CT_IX_COPY);
    p.ndim = 1;
    p.sizes[0] = ix->numel;
    p.dst = ct_tensor_data(out);
    p.dst_st[0] = ct_dtype_sizes[self->dtype];
    p.src = ct_tensor_data(sc);
    p.src_mul = ct_dtype_sizes[self->dtype];
    p.idx = ct_tensor_data(ix);
    p.idx_st[0] = 8;
    p.bound = n;
    p.parallel = true;
    ct_ix_run(&p);
done:
    ct_tensor_release(ix);
    ct_tensor_release(sc);
    return out;
}

static ct_tensor *put_impl(ct_tensor *self, ct_tensor *index, ct_tensor *source, bool accumulate, bool inplace) {
    if (source->dtype != self->dtype)
        return ct_error(CT_ERR_RUNTIME, "[put_] put_(): self and source expected to have the same dtype, but got "
                        "self.dtype = %s and source.dtype = %s", tname(self->dtype), tname(source->dtype));
    if (index->dtype != CT_INT64)
        return ct_error(CT_ERR_RUNTIME, "[put_] put_(): Expected a long tensor for index, but got %s",
                        tname(index->dtype));
    if (index->numel != source->numel)
        return ct_error(CT_ERR_INDEX, "[put_] put_(): Expected source and index to have the same number of elements, "
                        "but got source.numel() = %lld, index.numel() = %lld", (long long)source->numel,
                        (long long)index->numel);
    ct_tensor *ix = ct_contig_as(index, CT_INT64), *src = ct_contig_as(source, -1), *w = NULL;
    if (!ix || !src) goto fail;
    int64_t bad, n = self->numel;
    if (ct_ix_find_bad(ix, -n, n, &bad)) {
        ct_error(CT_ERR_INDEX, "[put_] out of range: tried to access index %lld on a tensor of %lld elements.",
                 (long long)bad, (long long)n);
        goto fail;
    }
    bool direct = inplace && ct_tensor_is_contiguous(self);
    w = direct ? (ct_tensor_retain(self), self) : ct_clone_impl(self); /* clone: contiguous, flat order */
    if (!w) goto fail;
    ct_ix_plan p;
    plan_init(&p, self->dtype, accumulate ? CT_IX_ADD : CT_IX_COPY);
    p.ndim = 1;
    p.sizes[0] = ix->numel;
    p.dst = ct_tensor_data(w);
    p.dst_mul = ct_dtype_sizes[self->dtype];
    p.src = ct_tensor_data(src);
    p.src_st[0] = ct_dtype_sizes[self->dtype];
    p.idx = ct_tensor_data(ix);
    p.idx_st[0] = 8;
    p.bound = n;
    ct_ix_run(&p);
    ct_tensor_bump_version(w);
    ct_tensor_release(ix);
    ct_tensor_release(src);
    if (inplace && !direct) {
        int rc = ct_copy_into(self, w);
        ct_tensor_release(w);
        if (rc) return NULL;
        ct_tensor_retain(self);
        return self;
    }
    return w;
fail:
    ct_tensor_release(ix);
    ct_tensor_release(src);
    ct_tensor_release(w);
    return NULL;
}

ct_tensor *ct_put_impl(ct_tensor *self, ct_tensor *index, ct_tensor *source, bool accumulate) {
    return put_impl(self, index, source, accumulate, false);
}
ct_tensor *ct_put__impl(ct_tensor *self, ct_tensor *index, ct_tensor *source, bool accumulate) {
    return put_impl(self, index, source, accumulate, true);
}

/* take_along_dim's index along dim d: indices broadcast against self (all dims but d) to
 * shape bs (*nd dims; bs[d] = indices' size there), read modulo self's size along d. */
ct_tensor *ct_ix_take_along_index(ct_tensor *self, ct_tensor *indices, int d, int64_t *bs, int *ndp) {
    int64_t ss[CT_MAX_DIM];
    memcpy(ss, self->sizes, sizeof(int64_t) * (size_t)self->ndim);
    ss[d] = indices->sizes[d];
    int nd = ct_broadcast_shapes(ss, self->ndim, indices->sizes, indices->ndim, bs, "take_along_dim");
    if (nd < 0) return NULL;
    *ndp = nd;
    ct_tensor *ie = ct_ix_expand(indices, bs, nd, "take_along_dim");
    /* torch 2.13 reads indices along dim modulo the size there (Python's remainder) */
    ct_tensor *ib = ie ? ct_empty(bs, nd, CT_INT64) : NULL;
    if (ib && ct_copy_into(ib, ie)) {
        ct_tensor_release(ib);
        ib = NULL;
    }
    ct_tensor_release(ie);
    int64_t m = self->sizes[d];
    if (ib && m > 0) {
        int64_t *q = ct_tensor_data(ib);
        for (int64_t i = 0; i < ib->numel; i++) q[i] = ((q[i] % m) + m) % m;
    }
    return ib;
}

ct_tensor *ct_take_along_dim_impl(ct_tensor *self, ct_tensor *indices, const int64_t *dim) {
    if (indices->dtype != CT_INT64)
        return ct_error(CT_ERR_RUNTIME, "[take_along_dim] torch.take_along_dim(): dtype of indices should be Long but "
                        "got %s", tname(indices->dtype));
    if (!dim) {
        int64_t a = self->numel, b = indices->numel;
        ct_tensor *s = ct_reshape_impl(self, (ct_intlist){&a, 1});
        ct_tensor *i = s ? ct_reshape_impl(indices, (ct_intlist){&b, 1}) : NULL;
        ct_tensor *r = i ? ct_gather_impl(s, 0, i, false) : NULL;
        ct_tensor_release(s);
        ct_tensor_release(i);
        return r;
    }
    int d = ct_wrap_dim(*dim, self->ndim, "take_along_dim");
    if (d < 0) return NULL;
    if (self->ndim != indices->ndim)
        return ct_error(CT_ERR_RUNTIME, "[take_along_dim] torch.take_along_dim(): input and indices should have the "
                        "same number of dimensions, but got %d dimensions for input, and %d dimensions for indices",
                        self->ndim, indices->ndim);
    if (self->ndim == 0) return ct_gather_impl(self, 0, indices, false);
    int64_t bs[CT_MAX_DIM];
    int nd = 0;
    ct_tensor *ib = ct_ix_take_along_index(self, indices, d, bs, &nd);
    bs[d] = self->sizes[d];
    ct_tensor *sb = ib ? ct_ix_expand(self, bs, nd, "take_along_dim") : NULL;
    ct_tensor *r = sb ? ct_gather_impl(sb, d, ib, false) : NULL;
    ct_tensor_release(ib);
    ct_tensor_release(sb);
    return r;
}

/* ------------------------------------------------------------------ nonzero / where */

ct_tensor *ct_nonzero(ct_tensor *self) { return ct_ix_nonzero(self); }
ct_tensor *ct_argwhere(ct_tensor *self) { return ct_ix_nonzero(self); }

ct_tensorvec ct_nonzero_numpy(ct_tensor *self) {
    ct_tensor *nz = ct_ix_nonzero(self);
    if (!nz) return CT_TENSORVEC_ERR;
    int nd = self->ndim ? self->ndim : 1;
    ct_tensorvec v = ct_tensorvec_new(nd);
    if (v.n < 0) {
        ct_tensor_release(nz);
        return v;
    }
    int64_t cnt = nz->sizes[0];
    const int64_t *z = ct_tensor_data(nz);
    for (int k = 0; k < nd; k++) {
        v.data[k] = ct_empty(&cnt, 1, CT_INT64);
        if (!v.data[k]) {
            ct_tensorvec_release(v);
            ct_tensor_release(nz);
            return CT_TENSORVEC_ERR;
        }
        int64_t *o = ct_tensor_data(v.data[k]);
        for (int64_t i = 0; i < cnt; i++) o[i] = self->ndim ? z[i * nd + k] : 0;
    }
    ct_tensor_release(nz);
    return v;
}

ct_tensorvec ct_where(ct_tensor *condition) { return ct_nonzero_numpy(condition); }
