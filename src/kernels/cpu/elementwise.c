/* Elementwise drivers: promotion, broadcasting, casting of inputs to the loop dtype,
 * output allocation or in-place writes, then the iterator. */
#include "elementwise.h"

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

/* Run `fn` over (result, inputs...) writing either a fresh tensor or `out`. */
static ct_tensor *ew_run(const char *op, int nin, ct_tensor **in, const int64_t *shape, int ndim, ct_tensor *out,
                         int res_dtype, int ldt, bool out_bool, ct_loop_fn fn, ct_ew_ctx *ctx) {
    ct_tensor *cast[3] = {NULL, NULL, NULL};
    ct_tensor *ops[4];
    ct_tensor *res = NULL;
    for (int k = 0; k < nin; k++) {
        if (in[k]->dtype != ldt) {
            cast[k] = ct_contig_as(in[k], ldt);
            if (!cast[k]) goto fail;
            ops[k + 1] = cast[k];
        } else {
            ops[k + 1] = in[k];
        }
    }
    int loop_out = out_bool ? CT_BOOL : ldt;
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
    if (ct_iter_init(&it, nin + 1, ops, shape, ndim, op)) goto fail;
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
    return ew_run(op, 2, ab, shape, ndim, out, res_dtype, ldt, out_bool, fn, ctx ? ctx : &local);
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
    return ew_run(op, 1, &a, a->sizes, a->ndim, out, res_dtype, ldt, out_bool, fn, ctx ? ctx : &local);
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
    return ew_run(op, 3, abe, shape, ndim, out, res_dtype, ldt, out_bool, fn, ctx ? ctx : &local);
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
