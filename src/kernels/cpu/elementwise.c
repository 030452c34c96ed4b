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
            ct_errorf(CT_ERR_RUNTIME, "\"%s_cpu\" not implemented for '%s'", op,
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
    ct_errorf(CT_ERR_RUNTIME, "\"%s_cpu\" not implemented for '%s'", op, torch_type_name(compute));
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
    ct_tensor *cast[2] = {NULL, NULL};
    ct_tensor *ops[3];
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
    ct_tensor_release(cast[0]);
    ct_tensor_release(cast[1]);
    return res;
fail:
    ct_tensor_release(cast[0]);
    ct_tensor_release(cast[1]);
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
