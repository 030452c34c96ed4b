/* Elementwise drivers: promotion, broadcasting, casting of inputs to the loop dtype,
 * output allocation or in-place writes, then the iterator. */
#include "elementwise.h"

#if defined(__F16C__)
#include <immintrin.h> /* vcvtph2ps / vcvtps2ph: GCC does not vectorise _Float16 casts */
#endif

bool ct_can_cast(int from, int to) {
    if (ct_dtype_is_floating(from) && ct_dtype_is_integral(to, true)) return false;
    if (from != CT_BOOL && to == CT_BOOL) return false;
    return true;
}

int ct_ew_compute_dtype(const char *op, int d, ct_dtype_rule rule) {
    switch (rule) {
    case CT_RULE_SAME: return d;
    case CT_RULE_FLOAT: return ct_dtype_is_floating(d) ? d : ct_get_default_dtype();
    case CT_RULE_INT_ONLY:
        if (ct_dtype_is_floating(d)) {
            ct_errorf(CT_ERR_NOT_IMPLEMENTED, "\"%s_cpu\" not implemented for '%s'", op,
                      d == CT_FLOAT32 ? "Float" : d == CT_FLOAT64 ? "Double" : d == CT_FLOAT16 ? "Half" : "BFloat16");
            return -1;
        }
        return d;
    case CT_RULE_NO_BOOL:
        if (d == CT_BOOL) {
            ct_errorf(CT_ERR_RUNTIME, "[%s] Subtraction, the `-` operator, with a bool tensor is not supported. "
                      "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.", op);
            return -1;
        }
        return d;
    }
    return d;
}

static const char *torch_type_name(int d) {
    static const char *n[] = {"Bool", "Byte", "Char", "Short", "Int", "Long", "Half", "BFloat16", "Float", "Double"};
    return (d >= 0 && d < CT_NUM_DTYPES) ? n[d] : "?";
}

/* Pick the loop and its dtype: the compute dtype, or float32 for 16-bit floats without a
 * dedicated loop. */
static int loop_dtype(const char *op, const ct_loops *loops, int compute, ct_loop_fn *fn) {
    if (loops->f[compute]) {
        *fn = loops->f[compute];
        return compute;
    }
    if ((compute == CT_FLOAT16 || compute == CT_BFLOAT16) && loops->f[CT_FLOAT32]) {
        *fn = loops->f[CT_FLOAT32];
        return CT_FLOAT32;
    }
    ct_errorf(CT_ERR_NOT_IMPLEMENTED, "\"%s_cpu\" not implemented for '%s'", op, torch_type_name(compute));
    return -1;
}

static bool same_geometry(const ct_tensor *a, const ct_tensor *b) {
    if (a->storage != b->storage || a->offset != b->offset || a->ndim != b->ndim || a->dtype != b->dtype) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->sizes[i] != b->sizes[i] || (a->sizes[i] > 1 && a->strides[i] != b->strides[i])) return false;
    return true;
}

/* NOTE [ 16-bit floats through float32 loops ]
 * An op without float16/bfloat16 loops computes in float32. Instead of converting whole
 * tensors, the float32 loop is wrapped: each row is processed in blocks; 16-bit operands
 * are widened into stack buffers (vectorised conversions), the float32 loop runs on the
 * buffers, and a 16-bit result is rounded back into the output. Operands of other dtypes
 * (ints promoted to float32) are passed through unchanged. A Python scalar (wrapped
 * number) is first rounded to the 16-bit dtype, as torch does for most ops; with
 * CT_SCALAR_OPMATH (mul, the divisions) it keeps float32 precision instead. */
#define EW16_BLOCK 256
typedef struct {
    ct_loop_fn fn;
    void *ctx;
    int nops;
    int8_t dt[CT_ITER_MAX_OPS]; /* per operand: CT_FLOAT16/CT_BFLOAT16 to convert, else -1 */
} ew16_ctx;

static void widen(float *restrict d, const char *src, int64_t stride, int64_t m, int dt) {
    if (dt == CT_FLOAT16) {
        if (stride == 2) {
            const ct_half *restrict q = (const ct_half *)src;
            int64_t j = 0;
#if defined(__F16C__)
            for (; j + 8 <= m; j += 8) _mm256_storeu_ps(d + j, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(q + j))));
#endif
            for (; j < m; j++) d[j] = ct_half_to_float(q[j]);
        } else {
            for (int64_t j = 0; j < m; j++) d[j] = ct_half_to_float(*(const ct_half *)(src + j * stride));
        }
    } else {
        if (stride == 2) {
            const ct_bf16 *restrict q = (const ct_bf16 *)src;
            for (int64_t j = 0; j < m; j++) d[j] = ct_bf16_to_float(q[j]);
        } else {
            for (int64_t j = 0; j < m; j++) d[j] = ct_bf16_to_float(*(const ct_bf16 *)(src + j * stride));
        }
    }
}

static void narrow(char *dst, int64_t stride, const float *restrict s, int64_t m, int dt) {
    if (dt == CT_FLOAT16) {
        if (stride == 2) {
            ct_half *restrict q = (ct_half *)dst;
            int64_t j = 0;
#if defined(__F16C__)
            for (; j + 8 <= m; j += 8)
                _mm_storeu_si128((__m128i *)(q + j), _mm256_cvtps_ph(_mm256_loadu_ps(s + j), _MM_FROUND_TO_NEAREST_INT));
#endif
            for (; j < m; j++) q[j] = ct_float_to_half(s[j]);
        } else {
            for (int64_t j = 0; j < m; j++) *(ct_half *)(dst + j * stride) = ct_float_to_half(s[j]);
        }
    } else {
        if (stride == 2) {
            ct_bf16 *restrict q = (ct_bf16 *)dst;
            for (int64_t j = 0; j < m; j++) q[j] = ct_float_to_bf16(s[j]);
        } else {
            for (int64_t j = 0; j < m; j++) *(ct_bf16 *)(dst + j * stride) = ct_float_to_bf16(s[j]);
        }
    }
}

static void ew16_loop(char **p, const int64_t *s, int64_t n, void *vctx) {
    const ew16_ctx *c = vctx;
    float buf[CT_ITER_MAX_OPS][EW16_BLOCK];
    char *pp[CT_ITER_MAX_OPS];
    int64_t ss[CT_ITER_MAX_OPS];
    for (int64_t i0 = 0; i0 < n; i0 += EW16_BLOCK) {
        int64_t m = n - i0 < EW16_BLOCK ? n - i0 : EW16_BLOCK;
        for (int k = 0; k < c->nops; k++) {
            if (c->dt[k] < 0) {
                pp[k] = p[k] + i0 * s[k];
                ss[k] = s[k];
            } else if (k == 0) {
                pp[0] = (char *)buf[0];
                ss[0] = sizeof(float);
            } else if (s[k] == 0) {
                widen(buf[k], p[k], 0, 1, c->dt[k]);
                pp[k] = (char *)buf[k];
                ss[k] = 0;
            } else {
                widen(buf[k], p[k] + i0 * s[k], s[k], m, c->dt[k]);
                pp[k] = (char *)buf[k];
                ss[k] = sizeof(float);
            }
        }
        c->fn(pp, ss, m, c->ctx);
        if (c->dt[0] >= 0) narrow(p[0] + i0 * s[0], s[0], buf[0], m, c->dt[0]);
    }
}

/* Run `fn` over (result, inputs...) writing either a fresh tensor or `out`. `compute` is
 * the op's dtype; ldt the dtype of the loop (float32 for 16-bit computes). */
static ct_tensor *ew_run(const char *op, int nin, ct_tensor **in, const int64_t *shape, int ndim, ct_tensor *out,
                         int res_dtype, int compute, int ldt, int out_flags, ct_loop_fn fn, ct_ew_ctx *ctx) {
    bool out_bool = out_flags & CT_OUT_BOOL;
    ct_tensor *cast[3] = {NULL, NULL, NULL};
    ct_tensor *ops[4];
    ct_tensor *res = NULL;
    bool adapt = ldt == CT_FLOAT32 && (compute == CT_FLOAT16 || compute == CT_BFLOAT16);
    ew16_ctx actx;
    if (adapt) {
        actx.fn = fn;
        actx.ctx = ctx;
        actx.nops = nin + 1;
        actx.dt[0] = out_bool ? -1 : (int8_t)compute;
        for (int k = 0; k < nin; k++) actx.dt[k + 1] = in[k]->dtype == compute ? (int8_t)compute : -1;
    }
    for (int k = 0; k < nin; k++) {
        if (adapt && in[k]->dtype == compute) {
            ops[k + 1] = in[k];
        } else if (adapt && (in[k]->flags & CT_FLAG_WRAPPED_NUMBER) && !(out_flags & CT_SCALAR_OPMATH)) {
            /* a Python scalar rounded to the 16-bit dtype, as torch */
            cast[k] = ct_contig_as(in[k], compute);
            if (!cast[k]) goto fail;
            ops[k + 1] = cast[k];
            actx.dt[k + 1] = (int8_t)compute;
        } else if (in[k]->dtype != ldt) {
            cast[k] = ct_contig_as(in[k], ldt);
            if (!cast[k]) goto fail;
            ops[k + 1] = cast[k];
        } else {
            ops[k + 1] = in[k];
        }
    }
    int loop_out = out_bool ? CT_BOOL : adapt ? compute : ldt;
    bool direct = out && out->dtype == loop_out;
    if (direct) {
        /* writing into out while reading an overlapping but not identical view is unsafe */
        for (int k = 0; k < nin; k++)
            if (ops[k + 1]->storage == out->storage && !same_geometry(ops[k + 1], out) && ops[k + 1]->numel > 1)
                direct = false;
    }
    if (direct) {
        res = out;
        ct_tensor_retain(res);
    } else {
        res = ct_empty(shape, ndim, loop_out);
        if (!res) goto fail;
    }
    ops[0] = res;
    ct_iter it;
    /* Fast path: every operand contiguous and either full-size or a single element: one
     * 1-D run, no broadcasting analysis (the per-op overhead path for small tensors). */
    bool flat = ct_tensor_is_contiguous(res);
    for (int k = 0; flat && k <= nin; k++)
        flat = ct_tensor_is_contiguous(ops[k]) && (ops[k]->numel == res->numel || ops[k]->numel == 1);
    if (flat) {
        it.nops = nin + 1;
        it.ndim = 1;
        it.numel = res->numel;
        it.shape[0] = res->numel;
        for (int k = 0; k <= nin; k++) {
            it.base[k] = (char *)ct_tensor_data(ops[k]);
            it.strides[k][0] = ops[k]->numel == res->numel && res->numel != 1 ? (int64_t)ct_dtype_sizes[ops[k]->dtype] : 0;
        }
        if (res->numel == 1) it.strides[0][0] = ct_dtype_sizes[res->dtype];
    } else if (ct_iter_init(&it, nin + 1, ops, shape, ndim, op)) {
        goto fail;
    }
    if (adapt)
        ct_iter_run(&it, ew16_loop, &actx, true);
    else
        ct_iter_run(&it, fn, ctx, true);
    if (direct) {
        ct_tensor_bump_version(out);
    } else if (out) {
        if (ct_copy_into(out, res)) goto fail;
        ct_tensor_release(res);
        res = out;
        ct_tensor_retain(res);
    } else if (res->dtype != res_dtype) {
        ct_tensor *r2 = ct_contig_as(res, res_dtype);
        ct_tensor_release(res);
        res = r2;
    }
    for (int k = 0; k < 3; k++) ct_tensor_release(cast[k]);
    return res;
fail:
    for (int k = 0; k < 3; k++) ct_tensor_release(cast[k]);
    ct_tensor_release(res);
    return NULL;
}

static int check_out(const char *op, ct_tensor *out, int res_dtype, const int64_t *shape, int ndim) {
    if (!out) return 0;
    if (!ct_can_cast(res_dtype, out->dtype))
        return ct_errorf(CT_ERR_RUNTIME, "[%s] result type %s can't be cast to the desired output type %s", op,
                         torch_type_name(res_dtype), torch_type_name(out->dtype));
    bool ok = out->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = out->sizes[i] == shape[i];
    if (!ok) {
        char b1[128], b2[128];
        return ct_errorf(CT_ERR_RUNTIME, "[%s] output with shape %s doesn't match the broadcast shape %s", op,
                         ct_shape_str(out->sizes, out->ndim, b1, sizeof b1), ct_shape_str(shape, ndim, b2, sizeof b2));
    }
    return 0;
}

ct_tensor *ct_ew_binary(const char *op, ct_tensor *a, ct_tensor *b, ct_tensor *out, const ct_loops *loops,
                        ct_dtype_rule rule, int out_flags, ct_ew_ctx *ctx) {
    ct_tensor *ab[2] = {a, b};
    int promoted = ct_result_type(2, ab);
    int compute = ct_ew_compute_dtype(op, promoted, rule);
    if (compute < 0) return NULL;
    int64_t shape[CT_MAX_DIM];
    int ndim = ct_broadcast_shapes(a->sizes, a->ndim, b->sizes, b->ndim, shape, op);
    if (ndim < 0) return NULL;
    bool out_bool = out_flags & CT_OUT_BOOL;
    int res_dtype = out_bool ? CT_BOOL : compute;
    if (check_out(op, out, res_dtype, shape, ndim)) return NULL;
    ct_loop_fn fn;
    int ldt = loop_dtype(op, loops, compute, &fn);
    if (ldt < 0) return NULL;
    ct_ew_ctx local = {0};
    return ew_run(op, 2, ab, shape, ndim, out, res_dtype, compute, ldt, out_flags, fn, ctx ? ctx : &local);
}

ct_tensor *ct_ew_unary(const char *op, ct_tensor *a, ct_tensor *out, const ct_loops *loops, ct_dtype_rule rule,
                       int out_flags, ct_ew_ctx *ctx) {
    int compute = ct_ew_compute_dtype(op, a->dtype, rule);
    if (compute < 0) return NULL;
    bool out_bool = out_flags & CT_OUT_BOOL;
    int res_dtype = out_bool ? CT_BOOL : compute;
    if (check_out(op, out, res_dtype, a->sizes, a->ndim)) return NULL;
    ct_loop_fn fn;
    int ldt = loop_dtype(op, loops, compute, &fn);
    if (ldt < 0) return NULL;
    ct_ew_ctx local = {0};
    return ew_run(op, 1, &a, a->sizes, a->ndim, out, res_dtype, compute, ldt, out_flags, fn, ctx ? ctx : &local);
}

ct_tensor *ct_ew_ternary(const char *op, ct_tensor *a, ct_tensor *b, ct_tensor *e, ct_tensor *out,
                         const ct_loops *loops, ct_dtype_rule rule, int out_flags, ct_ew_ctx *ctx) {
    ct_tensor *abe[3] = {a, b, e};
    int promoted = ct_result_type(3, abe);
    int compute = ct_ew_compute_dtype(op, promoted, rule);
    if (compute < 0) return NULL;
    int64_t s1[CT_MAX_DIM], shape[CT_MAX_DIM];
    int n1 = ct_broadcast_shapes(a->sizes, a->ndim, b->sizes, b->ndim, s1, op);
    if (n1 < 0) return NULL;
    int ndim = ct_broadcast_shapes(s1, n1, e->sizes, e->ndim, shape, op);
    if (ndim < 0) return NULL;
    bool out_bool = out_flags & CT_OUT_BOOL;
    int res_dtype = out_bool ? CT_BOOL : compute;
    if (check_out(op, out, res_dtype, shape, ndim)) return NULL;
    ct_loop_fn fn;
    int ldt = loop_dtype(op, loops, compute, &fn);
    if (ldt < 0) return NULL;
    ct_ew_ctx local = {0};
    return ew_run(op, 3, abe, shape, ndim, out, res_dtype, compute, ldt, out_flags, fn, ctx ? ctx : &local);
}

ct_tensor *ct_ew_wrap_scalar(ct_scalar s) {
    ct_tensor *t = s.kind == CT_SCALAR_FLOAT ? ct_scalar_tensor_f64(s.v.d, CT_FLOAT64)
                   : ct_scalar_tensor_i64(s.v.i, s.kind == CT_SCALAR_BOOL ? CT_BOOL : CT_INT64);
    if (t) t->flags |= CT_FLAG_WRAPPED_NUMBER;
    return t;
}

const char *ct_torch_type_name(int dtype) { return torch_type_name(dtype); }

#define ZERO_LOOP(NAME, T)                                                  \
    static void NAME(char **p, const int64_t *s, int64_t n, void *ctx) {   \
        bool z = false;                                                     \
        for (int64_t i = 0; i < n; i++) z |= *(const T *)(p[0] + i * s[0]) == 0; \
        if (z) *(volatile bool *)ctx = true;                                \
    }
ZERO_LOOP(zero1, uint8_t)
ZERO_LOOP(zero2, uint16_t)
ZERO_LOOP(zero4, uint32_t)
ZERO_LOOP(zero8, uint64_t)

bool ct_ew_any_zero(ct_tensor *t) {
    ct_iter it;
    if (t->numel == 0 || ct_iter_init(&it, 1, &t, t->sizes, t->ndim, "any_zero")) {
        ct_clear_error();
        return false;
    }
    bool found = false;
    size_t es = ct_dtype_sizes[t->dtype];
    ct_loop_fn fn = es == 1 ? zero1 : es == 2 ? zero2 : es == 4 ? zero4 : zero8;
    ct_iter_run(&it, fn, &found, true);
    return found;
}
