/* Reduction ops: sum/mean/prod and their nan variants, max/min/amax/amin/aminmax,
 * argmax/argmin, var/std (+ _mean), norms, logsumexp, all/any, count_nonzero. Dtype and
 * error rules follow torch; the loops live in src/kernels/cpu/reduce.c. */
#include <stdlib.h>

#include "ctorch/ops_gen.h"
#include "../core/internal.h"
#include "../kernels/cpu/reduce.h"

/* Release t and return a contiguous copy converted to odt (t itself if it qualifies). */
static ct_tensor *finish(ct_tensor *t, int odt) {
    if (!t) return NULL;
    ct_tensor *r = ct_contig_as(t, odt);
    ct_tensor_release(t);
    return r;
}

/* A contiguous tensor sharing t's storage with other sizes (same numel). New reference. */
static ct_tensor *reshaped(ct_tensor *t, const int64_t *sizes, int nd) {
    return ct_tensor_new_view(t->storage, t->dtype, t->offset, sizes, NULL, nd);
}

static const char *torch_type_name(int d) {
    static const char *n[] = {"Bool", "Byte", "Char", "Short", "Int", "Long", "Half", "BFloat16", "Float", "Double"};
    return (d >= 0 && d < CT_NUM_DTYPES) ? n[d] : "?";
}

/* Reduce self over `dim` with an engine kind; out dtype odt, computed in cdt. */
static ct_tensor *reduce_to(const char *op, ct_tensor *self, ct_intlist dim, bool keepdim, ct_red_kind kind, int cdt,
                            int odt) {
    uint32_t mask;
    if (ct_reduce_mask(op, dim, self->ndim, &mask)) return NULL;
    int64_t osz[CT_MAX_DIM];
    int on = ct_reduce_shape(self, mask, keepdim, osz);
    return finish(ct_reduce_run(self, mask, kind, cdt, osz, on), odt);
}

static ct_tensor *sum_like(const char *op, ct_tensor *self, ct_intlist dim, bool keepdim, int dtype,
                           ct_red_kind kind) {
    int odt = dtype >= 0 ? dtype : (ct_dtype_is_floating(self->dtype) ? self->dtype : CT_INT64);
    ct_tensor *src = self;
    ct_tensor_retain(src);
    if (dtype >= 0 && dtype != self->dtype) {
        ct_tensor_release(src);
        src = ct_contig_as(self, dtype);
        if (!src) return NULL;
    }
    ct_tensor *r = reduce_to(op, src, dim, keepdim, kind, ct_reduce_acc_dtype(odt), odt);
    ct_tensor_release(src);
    return r;
}

ct_tensor *ct_sum(ct_tensor *self, ct_intlist dim, bool keepdim, int dtype) {
    return sum_like("sum", self, dim, keepdim, dtype, CT_RED_SUM);
}

ct_tensor *ct_sum_all(ct_tensor *self, int dtype) { return ct_sum(self, CT_INTLIST_NONE, false, dtype); }

ct_tensor *ct_nansum(ct_tensor *self, ct_intlist dim, bool keepdim, int dtype) {
    return sum_like("nansum", self, dim, keepdim, dtype, CT_RED_NANSUM);
}

ct_tensor *ct_prod(ct_tensor *self, int dtype) {
    return sum_like("prod", self, CT_INTLIST_NONE, false, dtype, CT_RED_PROD);
}

ct_tensor *ct_prod_dim_int(ct_tensor *self, int64_t dim, bool keepdim, int dtype) {
    return sum_like("prod", self, (ct_intlist){&dim, 1}, keepdim, dtype, CT_RED_PROD);
}

/* Divide every element of a contiguous float tensor t (float32/float64) by the matching
 * element of den (double array) or by the constant c when den is NULL. */
static void divide_by(ct_tensor *t, const double *den, double c) {
    int64_t n = t->numel;
    if (t->dtype == CT_FLOAT32) {
        float *p = (float *)ct_tensor_data(t);
        for (int64_t i = 0; i < n; i++) p[i] = (float)((double)p[i] / (den ? den[i] : c));
    } else {
        double *p = (double *)ct_tensor_data(t);
        for (int64_t i = 0; i < n; i++) p[i] = p[i] / (den ? den[i] : c);
    }
}

static ct_tensor *mean_like(const char *op, ct_tensor *self, ct_intlist dim, bool keepdim, int dtype, bool nan) {
    int odt = dtype >= 0 ? dtype : self->dtype;
    if (!ct_dtype_is_floating(odt)) {
        if (nan)
            return ct_error(CT_ERR_RUNTIME, "[nanmean] nanmean(): expected input to have floating point or complex "
                            "dtype but got %s", torch_type_name(self->dtype));
        return ct_error(CT_ERR_RUNTIME, "[mean] mean(): could not infer output dtype. %s must be either a floating "
                        "point or complex dtype. Got: %s", dtype >= 0 ? "Optional dtype" : "Input dtype",
                        torch_type_name(odt));
    }
    if (nan && !ct_dtype_is_floating(self->dtype))
        return ct_error(CT_ERR_RUNTIME, "[nanmean] nanmean(): expected input to have floating point or complex "
                        "dtype but got %s", torch_type_name(self->dtype));
    uint32_t mask;
    if (ct_reduce_mask(op, dim, self->ndim, &mask)) return NULL;
    int64_t osz[CT_MAX_DIM];
    int on = ct_reduce_shape(self, mask, keepdim, osz);
    int cdt = ct_reduce_acc_dtype(odt);
    ct_tensor *src = ct_contig_as(self, odt);
    if (!src) return NULL;
    ct_tensor *s = ct_reduce_run(src, mask, nan ? CT_RED_NANSUM : CT_RED_SUM, cdt, osz, on);
    if (!s) goto fail;
    if (nan) { /* count the non-NaN elements */
        ct_tensor *nn = ct_empty(src->sizes, src->ndim, CT_INT64);
        ct_tensor *sc = nn ? ct_contig_as(src, CT_FLOAT64) : NULL;
        if (!sc) {
            ct_tensor_release(nn);
            goto fail;
        }
        const double *xs = (const double *)ct_tensor_data(sc);
        int64_t *ns = (int64_t *)ct_tensor_data(nn);
        for (int64_t i = 0; i < nn->numel; i++) ns[i] = xs[i] == xs[i];
        ct_tensor_release(sc);
        ct_tensor *cnt = ct_reduce_run(nn, mask, CT_RED_SUM, CT_INT64, osz, on);
        ct_tensor_release(nn);
        if (!cnt) goto fail;
        double *den = malloc(sizeof(double) * (size_t)(cnt->numel ? cnt->numel : 1));
        if (!den) {
            ct_tensor_release(cnt);
            ct_error(CT_ERR_MEMORY, "[nanmean] out of memory");
            goto fail;
        }
        for (int64_t i = 0; i < cnt->numel; i++) den[i] = (double)((int64_t *)ct_tensor_data(cnt))[i];
        divide_by(s, den, 0);
        free(den);
        ct_tensor_release(cnt);
    } else {
        divide_by(s, NULL, (double)ct_reduce_count(self, mask));
    }
    ct_tensor_release(src);
    return finish(s, odt);
fail:
    ct_tensor_release(src);
    ct_tensor_release(s);
    return NULL;
}

ct_tensor *ct_mean(ct_tensor *self, ct_intlist dim, bool keepdim, int dtype) {
    return mean_like("mean", self, dim, keepdim, dtype, false);
}

ct_tensor *ct_mean_all(ct_tensor *self, int dtype) { return ct_mean(self, CT_INTLIST_NONE, false, dtype); }

ct_tensor *ct_nanmean(ct_tensor *self, ct_intlist dim, bool keepdim, int dtype) {
    return mean_like("nanmean", self, dim, keepdim, dtype, true);
}

/* ------------------------------------------------------------------ max / min */

static int minmax_cdt(int d) {
    if (d == CT_BOOL) return CT_BOOL;
    return ct_reduce_acc_dtype(d);
}

/* Error when a reduced dim of an empty tensor has size 0 (max/min have no identity). */
static int check_nonempty(const char *op, const ct_tensor *self, uint32_t mask, bool dims_given) {
    if (self->numel != 0) return 0;
    if (!dims_given)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] %s(): Expected reduction dim to be specified for input.numel() == 0. "
                         "Specify the reduction dim with the 'dim' argument.", op, op);
    for (int d = 0; d < self->ndim; d++)
        if ((mask & (1u << d)) && self->sizes[d] == 0)
            return ct_errorf(CT_ERR_INDEX, "[%s] %s(): Expected reduction dim %d to have non-zero size.", op, op, d);
    return 0;
}

static ct_tensor *amax_like(const char *op, ct_tensor *self, ct_intlist dim, bool keepdim, ct_red_kind kind,
                            bool dims_given) {
    uint32_t mask;
    if (ct_reduce_mask(op, dim, self->ndim, &mask)) return NULL;
    if (check_nonempty(op, self, mask, dims_given)) return NULL;
    int64_t osz[CT_MAX_DIM];
    int on = ct_reduce_shape(self, mask, keepdim, osz);
    return finish(ct_reduce_run(self, mask, kind, minmax_cdt(self->dtype), osz, on), self->dtype);
}

ct_tensor *ct_amax(ct_tensor *self, ct_intlist dim, bool keepdim) {
    return amax_like("amax", self, dim, keepdim, CT_RED_MAX, dim.n > 0);
}
ct_tensor *ct_amin(ct_tensor *self, ct_intlist dim, bool keepdim) {
    return amax_like("amin", self, dim, keepdim, CT_RED_MIN, dim.n > 0);
}
ct_tensor *ct_max(ct_tensor *self) { return amax_like("max", self, CT_INTLIST_NONE, false, CT_RED_MAX, false); }
ct_tensor *ct_min(ct_tensor *self) { return amax_like("min", self, CT_INTLIST_NONE, false, CT_RED_MIN, false); }

/* Arg-reduction over rows: x is (N, R) contiguous int64 or float64; writes the index of the
 * first max (is_max) or min per row, NaN winning (first NaN). */
#define DEF_ARGROW(NAME, T, ISNAN)                                                              \
    static void NAME(const T *x, int64_t N, int64_t R, bool is_max, int64_t *idx) {            \
        for (int64_t r = 0; r < N; r++) {                                                       \
            const T *row = x + r * R;                                                           \
            T best = row[0];                                                                    \
            int64_t bi = 0;                                                                     \
            if (!ISNAN(best)) {                                                                 \
                for (int64_t i = 1; i < R; i++) {                                               \
                    T v = row[i];                                                               \
                    if (ISNAN(v)) {                                                             \
                        bi = i;                                                                 \
                        break;                                                                  \
                    }                                                                           \
                    if (is_max ? v > best : v < best) {                                         \
                        best = v;                                                               \
                        bi = i;                                                                 \
                    }                                                                           \
                }                                                                               \
            }                                                                                   \
            idx[r] = bi;                                                                        \
        }                                                                                       \
    }
#define NEVER_NAN(v) 0
#define IS_NAN(v) ((v) != (v))
DEF_ARGROW(argrow_i64, int64_t, NEVER_NAN)
DEF_ARGROW(argrow_f64, double, IS_NAN)

/* Indices (int64, shape out_sizes) and optionally values (self's dtype) of the max/min
 * along `dim` (dim < 0: flattened). */
static int arg_reduce(const char *op, ct_tensor *self, int dim, bool is_max, const int64_t *osz, int on,
                      ct_tensor **values, ct_tensor **indices) {
    int cdt = ct_dtype_is_floating(self->dtype) ? CT_FLOAT64 : CT_INT64;
    ct_tensor *rows;
    int64_t R;
    if (dim < 0) {
        rows = ct_contig_as(self, cdt);
        R = self->numel;
    } else {
        rows = ct_movedim_last_contig(self, dim, cdt);
        R = self->ndim ? self->sizes[dim] : 1;
    }
    if (!rows) return -1;
    int64_t N = R ? rows->numel / R : 0;
    ct_tensor *idx = ct_empty(osz, on, CT_INT64);
    ct_tensor *val = NULL;
    if (!idx) goto fail;
    int64_t *ip = (int64_t *)ct_tensor_data(idx);
    if (cdt == CT_INT64)
        argrow_i64((const int64_t *)ct_tensor_data(rows), N, R, is_max, ip);
    else
        argrow_f64((const double *)ct_tensor_data(rows), N, R, is_max, ip);
    if (values) {
        val = ct_empty(osz, on, self->dtype);
        if (!val) goto fail;
        char *vp = (char *)ct_tensor_data(val);
        size_t es = ct_dtype_size(self->dtype);
        for (int64_t r = 0; r < N; r++) {
            if (cdt == CT_INT64)
                ct_store_i64(vp + r * (int64_t)es, self->dtype, ((const int64_t *)ct_tensor_data(rows))[r * R + ip[r]]);
            else
                ct_store_f64(vp + r * (int64_t)es, self->dtype, ((const double *)ct_tensor_data(rows))[r * R + ip[r]]);
        }
        *values = val;
    }
    ct_tensor_release(rows);
    *indices = idx;
    (void)op;
    return 0;
fail:
    ct_tensor_release(rows);
    ct_tensor_release(idx);
    ct_tensor_release(val);
    return -1;
}

static int minmax_dim(const char *op, ct_tensor *self, int64_t dim, bool keepdim, bool is_max, ct_tensor **v,
                      ct_tensor **i) {
    int d = ct_wrap_dim(dim, self->ndim, op);
    if (d < 0) return -1;
    uint32_t mask = self->ndim ? 1u << d : 0;
    if (self->ndim && self->sizes[d] == 0)
        return ct_errorf(CT_ERR_INDEX, "[%s] %s(): Expected reduction dim %d to have non-zero size.", op, op, d);
    int64_t osz[CT_MAX_DIM];
    int on = ct_reduce_shape(self, mask, keepdim, osz);
    return arg_reduce(op, self, self->ndim ? d : -1, is_max, osz, on, v, i);
}

int ct_max_dim(ct_tensor *self, int64_t dim, bool keepdim, ct_tensor **out0, ct_tensor **out1) {
    return minmax_dim("max", self, dim, keepdim, true, out0, out1);
}
int ct_min_dim(ct_tensor *self, int64_t dim, bool keepdim, ct_tensor **out0, ct_tensor **out1) {
    return minmax_dim("min", self, dim, keepdim, false, out0, out1);
}

static ct_tensor *argminmax(const char *op, ct_tensor *self, const int64_t *dim, bool keepdim, bool is_max) {
    ct_tensor *v = NULL, *i = NULL;
    if (!dim) {
        if (self->numel == 0)
            return ct_error(CT_ERR_INDEX, "[%s] %s(): Expected reduction dim to be specified for input.numel() == 0.",
                            op, op);
        int64_t osz[CT_MAX_DIM];
        int on = keepdim ? self->ndim : 0;
        for (int k = 0; k < on; k++) osz[k] = 1;
        if (arg_reduce(op, self, -1, is_max, osz, on, NULL, &i)) return NULL;
        return i;
    }
    if (minmax_dim(op, self, *dim, keepdim, is_max, NULL, &i)) return NULL;
    (void)v;
    return i;
}

ct_tensor *ct_argmax(ct_tensor *self, const int64_t *dim, bool keepdim) {
    return argminmax("argmax", self, dim, keepdim, true);
}
ct_tensor *ct_argmin(ct_tensor *self, const int64_t *dim, bool keepdim) {
    return argminmax("argmin", self, dim, keepdim, false);
}

int ct_aminmax(ct_tensor *self, const int64_t *dim, bool keepdim, ct_tensor **out0, ct_tensor **out1) {
    ct_intlist dl = dim ? (ct_intlist){dim, 1} : CT_INTLIST_NONE;
    if (!dim && self->numel == 0)
        return ct_errorf(CT_ERR_RUNTIME, "[aminmax] aminmax(): cannot compute aminmax over an empty dimension as the "
                         "operation has no identity.");
    if (dim && self->ndim) {
        int d = ct_wrap_dim(*dim, self->ndim, "aminmax");
        if (d < 0) return -1;
        if (self->sizes[d] == 0)
            return ct_errorf(CT_ERR_INDEX, "[aminmax] aminmax(): Expected reduction dim %d to have non-zero size.", d);
    }
    *out0 = amax_like("aminmax", self, dl, keepdim, CT_RED_MIN, true);
    if (!*out0) return -1;
    *out1 = amax_like("aminmax", self, dl, keepdim, CT_RED_MAX, true);
    if (!*out1) {
        ct_tensor_release(*out0);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ var / std */

static void sqdev_loop(char **p, const int64_t *s, int64_t n, void *ctx) {
    (void)ctx;
    for (int64_t i = 0; i < n; i++) {
        double x = *(const double *)(p[1] + i * s[1]);
        double m = *(const double *)(p[2] + i * s[2]);
        *(double *)(p[0] + i * s[0]) = (x - m) * (x - m);
    }
}

/* var (want_std false) or std of self over dim; *mean_out (if not NULL) gets the mean. */
static ct_tensor *var_core(const char *op, ct_tensor *self, ct_intlist dim, double correction, bool keepdim,
                           bool want_std, ct_tensor **mean_out) {
    if (!ct_dtype_is_floating(self->dtype))
        return ct_error(CT_ERR_RUNTIME, "[%s] std and var only support floating point and complex dtypes", op);
    uint32_t mask;
    if (ct_reduce_mask(op, dim, self->ndim, &mask)) return NULL;
    int64_t ksz[CT_MAX_DIM], osz[CT_MAX_DIM];
    int kn = ct_reduce_shape(self, mask, true, ksz);
    int on = ct_reduce_shape(self, mask, keepdim, osz);
    int64_t N = ct_reduce_count(self, mask);
    ct_tensor *xd = NULL, *mean = NULL, *dev = NULL, *ss = NULL;
    xd = ct_contig_as(self, CT_FLOAT64);
    if (!xd) goto fail;
    mean = ct_reduce_run(xd, mask, CT_RED_SUM, CT_FLOAT64, ksz, kn);
    if (!mean) goto fail;
    divide_by(mean, NULL, (double)N);
    dev = ct_empty(xd->sizes, xd->ndim, CT_FLOAT64);
    if (!dev) goto fail;
    if (dev->numel) {
        ct_iter it;
        ct_tensor *ops[3] = {dev, xd, mean};
        if (ct_iter_init(&it, 3, ops, xd->sizes, xd->ndim, op)) goto fail;
        ct_iter_run(&it, sqdev_loop, NULL, true);
    }
    ss = ct_reduce_run(dev, mask, CT_RED_SUM, CT_FLOAT64, osz, on);
    if (!ss) goto fail;
    double den = (double)N - correction;
    if (den < 0) den = 0;
    double *sp = (double *)ct_tensor_data(ss);
    for (int64_t i = 0; i < ss->numel; i++) {
        sp[i] /= den;
        if (want_std) sp[i] = sqrt(sp[i]);
    }
    if (mean_out) {
        ct_tensor *m2 = reshaped(mean, osz, on);
        *mean_out = finish(m2, self->dtype);
        if (!*mean_out) goto fail;
    }
    ct_tensor_release(xd);
    ct_tensor_release(mean);
    ct_tensor_release(dev);
    return finish(ss, self->dtype);
fail:
    ct_tensor_release(xd);
    ct_tensor_release(mean);
    ct_tensor_release(dev);
    ct_tensor_release(ss);
    return NULL;
}

static double corr_of(const ct_scalar *c) { return c ? ct_scalar_to_f64(*c) : 1.0; }

ct_tensor *ct_var(ct_tensor *self, bool unbiased) {
    return var_core("var", self, CT_INTLIST_NONE, unbiased, false, false, NULL);
}
ct_tensor *ct_var_dim(ct_tensor *self, ct_intlist dim, bool unbiased, bool keepdim) {
    return var_core("var", self, dim, unbiased, keepdim, false, NULL);
}
ct_tensor *ct_var_correction(ct_tensor *self, ct_intlist dim, const ct_scalar *correction, bool keepdim) {
    return var_core("var", self, dim, corr_of(correction), keepdim, false, NULL);
}
ct_tensor *ct_std(ct_tensor *self, bool unbiased) {
    return var_core("std", self, CT_INTLIST_NONE, unbiased, false, true, NULL);
}
ct_tensor *ct_std_dim(ct_tensor *self, ct_intlist dim, bool unbiased, bool keepdim) {
    return var_core("std", self, dim, unbiased, keepdim, true, NULL);
}
ct_tensor *ct_std_correction(ct_tensor *self, ct_intlist dim, const ct_scalar *correction, bool keepdim) {
    return var_core("std", self, dim, corr_of(correction), keepdim, true, NULL);
}

static int pair_out(ct_tensor *v, ct_tensor *m, ct_tensor **out0, ct_tensor **out1) {
    if (!v) return -1;
    *out0 = v;
    *out1 = m;
    return 0;
}

int ct_var_mean(ct_tensor *self, bool unbiased, ct_tensor **out0, ct_tensor **out1) {
    ct_tensor *m = NULL;
    ct_tensor *v = var_core("var_mean", self, CT_INTLIST_NONE, unbiased, false, false, &m);
    return pair_out(v, m, out0, out1);
}
int ct_var_mean_dim(ct_tensor *self, ct_intlist dim, bool unbiased, bool keepdim, ct_tensor **out0, ct_tensor **out1) {
    ct_tensor *m = NULL;
    ct_tensor *v = var_core("var_mean", self, dim, unbiased, keepdim, false, &m);
    return pair_out(v, m, out0, out1);
}
int ct_var_mean_correction(ct_tensor *self, ct_intlist dim, const ct_scalar *correction, bool keepdim,
                           ct_tensor **out0, ct_tensor **out1) {
    ct_tensor *m = NULL;
    ct_tensor *v = var_core("var_mean", self, dim, corr_of(correction), keepdim, false, &m);
    return pair_out(v, m, out0, out1);
}
int ct_std_mean(ct_tensor *self, bool unbiased, ct_tensor **out0, ct_tensor **out1) {
    ct_tensor *m = NULL;
    ct_tensor *v = var_core("std_mean", self, CT_INTLIST_NONE, unbiased, false, true, &m);
    return pair_out(v, m, out0, out1);
}
int ct_std_mean_dim(ct_tensor *self, ct_intlist dim, bool unbiased, bool keepdim, ct_tensor **out0, ct_tensor **out1) {
    ct_tensor *m = NULL;
    ct_tensor *v = var_core("std_mean", self, dim, unbiased, keepdim, true, &m);
    return pair_out(v, m, out0, out1);
}
int ct_std_mean_correction(ct_tensor *self, ct_intlist dim, const ct_scalar *correction, bool keepdim,
                           ct_tensor **out0, ct_tensor **out1) {
    ct_tensor *m = NULL;
    ct_tensor *v = var_core("std_mean", self, dim, corr_of(correction), keepdim, true, &m);
    return pair_out(v, m, out0, out1);
}

/* ------------------------------------------------------------------ norms */

/* |x|^p (or the p-specific map) of self as a new contiguous float64 tensor. */
static ct_tensor *abs_pow(ct_tensor *self, double p) {
    ct_tensor *xd = ct_contig_as(self, CT_FLOAT64);
    if (!xd) return NULL;
    ct_tensor *y = ct_empty(xd->sizes, xd->ndim, CT_FLOAT64);
    if (!y) {
        ct_tensor_release(xd);
        return NULL;
    }
    const double *x = (const double *)ct_tensor_data(xd);
    double *o = (double *)ct_tensor_data(y);
    int64_t n = y->numel;
    if (p == 2)
        for (int64_t i = 0; i < n; i++) o[i] = x[i] * x[i];
    else if (p == 1 || isinf(p))
        for (int64_t i = 0; i < n; i++) o[i] = fabs(x[i]);
    else if (p == 0)
        for (int64_t i = 0; i < n; i++) o[i] = x[i] != 0 || x[i] != x[i];
    else
        for (int64_t i = 0; i < n; i++) o[i] = pow(fabs(x[i]), p);
    ct_tensor_release(xd);
    return y;
}

static ct_tensor *vector_norm(const char *op, ct_tensor *self, double p, ct_intlist dim, bool keepdim, int dtype) {
    if (!ct_dtype_is_floating(self->dtype))
        return ct_error(CT_ERR_RUNTIME, "[%s] %s: Expected a floating point or complex tensor as input. Got %s", op, op,
                        torch_type_name(self->dtype));
    if (dtype >= 0 && !ct_dtype_is_floating(dtype))
        return ct_error(CT_ERR_RUNTIME, "[%s] %s: dtype should be floating point or complex. Got %s", op, op,
                        torch_type_name(dtype));
    int odt = dtype >= 0 ? dtype : self->dtype;
    uint32_t mask;
    if (ct_reduce_mask(op, dim, self->ndim, &mask)) return NULL;
    if (self->numel == 0 && (p < 0 || isinf(p))) {
        if (dim.n <= 0)
            return ct_error(CT_ERR_RUNTIME, "[%s] %s cannot compute the %g norm on an empty tensor because the "
                            "operation does not have an identity", op, op, p);
        for (int d = 0; d < self->ndim; d++)
            if ((mask & (1u << d)) && self->sizes[d] == 0)
                return ct_error(CT_ERR_RUNTIME, "[%s] %s: Expected reduction dim %d to have non-zero size", op, op, d);
    }
    ct_tensor *y = abs_pow(self, p);
    if (!y) return NULL;
    int64_t osz[CT_MAX_DIM];
    int on = ct_reduce_shape(self, mask, keepdim, osz);
    ct_red_kind kind = p == INFINITY ? CT_RED_MAX : p == -INFINITY ? CT_RED_MIN : CT_RED_SUM;
    ct_tensor *r = ct_reduce_run(y, mask, kind, CT_FLOAT64, osz, on);
    ct_tensor_release(y);
    if (!r) return NULL;
    double *rp = (double *)ct_tensor_data(r);
    if (p == 2)
        for (int64_t i = 0; i < r->numel; i++) rp[i] = sqrt(rp[i]);
    else if (p != 1 && p != 0 && !isinf(p))
        for (int64_t i = 0; i < r->numel; i++) rp[i] = pow(rp[i], 1.0 / p);
    return finish(r, odt);
}

ct_tensor *ct_linalg_vector_norm(ct_tensor *self, ct_scalar ord, ct_intlist dim, bool keepdim, int dtype) {
    return vector_norm("linalg.vector_norm", self, ct_scalar_to_f64(ord), dim, keepdim, dtype);
}

ct_tensor *ct_norm(ct_tensor *self, const ct_scalar *p, ct_intlist dim, bool keepdim, int dtype) {
    return vector_norm("norm", self, p ? ct_scalar_to_f64(*p) : 2.0, dim, keepdim, dtype);
}

ct_tensor *ct_norm_str(ct_tensor *self, const char *p, ct_intlist dim, bool keepdim, int dtype) {
    if (!strcmp(p, "fro")) return vector_norm("norm", self, 2.0, dim, keepdim, dtype);
    if (!strcmp(p, "nuc"))
        return ct_error(CT_ERR_NOT_IMPLEMENTED, "[norm] the nuclear norm needs an SVD, which ctorch does not have yet");
    return ct_error(CT_ERR_RUNTIME, "[norm] norm(): unsupported norm type '%s'", p);
}

static int matrix_dims(const char *op, ct_tensor *self, ct_intlist dim, int *d0, int *d1) {
    if (self->ndim < 2)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] %s: The input tensor A must have at least 2 dimensions.", op, op);
    if (dim.n != 2) return ct_errorf(CT_ERR_RUNTIME, "[%s] %s: dim must be a 2-tuple. Got %lld dims", op, op,
                                     (long long)dim.n);
    *d0 = ct_wrap_dim(dim.data[0], self->ndim, op);
    if (*d0 < 0) return -1;
    *d1 = ct_wrap_dim(dim.data[1], self->ndim, op);
    if (*d1 < 0) return -1;
    if (*d0 == *d1) return ct_errorf(CT_ERR_RUNTIME, "[%s] %s: dims must be different. Got (%d, %d)", op, op, *d0, *d1);
    return 0;
}

ct_tensor *ct_linalg_matrix_norm(ct_tensor *self, ct_scalar ord, ct_intlist dim, bool keepdim, int dtype) {
    const char *op = "linalg.matrix_norm";
    int d0, d1;
    if (matrix_dims(op, self, dim, &d0, &d1)) return NULL;
    double p = ct_scalar_to_f64(ord);
    if (p == 2 || p == -2)
        return ct_error(CT_ERR_NOT_IMPLEMENTED, "[%s] the 2-norm of a matrix needs an SVD, which ctorch does not have yet",
                        op);
    if (!(p == 1 || p == -1 || isinf(p)))
        return ct_error(CT_ERR_RUNTIME, "[%s] %s: Order %g not supported.", op, op, p);
    if (!ct_dtype_is_floating(self->dtype))
        return ct_error(CT_ERR_RUNTIME, "[%s] %s: Expected a floating point or complex tensor as input. Got %s", op, op,
                        torch_type_name(self->dtype));
    int odt = dtype >= 0 ? dtype : self->dtype;
    /* 1-norms: max/min over columns (d1) of sums over rows (d0); inf-norms: the transpose */
    int sum_d = isinf(p) ? d1 : d0, ext_d = isinf(p) ? d0 : d1;
    ct_red_kind kind = p > 0 ? CT_RED_MAX : CT_RED_MIN;
    if (self->sizes[ext_d] == 0 || (self->numel == 0 && kind == CT_RED_MIN))
        return ct_error(CT_ERR_INDEX, "[%s] %s: Expected reduction dim %d to have non-zero size.", op, op, ext_d);
    ct_tensor *y = abs_pow(self, 1.0);
    if (!y) return NULL;
    int64_t ksz[CT_MAX_DIM], osz[CT_MAX_DIM];
    int kn = ct_reduce_shape(self, 1u << sum_d, true, ksz);
    ct_tensor *s = ct_reduce_run(y, 1u << sum_d, CT_RED_SUM, CT_FLOAT64, ksz, kn);
    ct_tensor_release(y);
    if (!s) return NULL;
    int on = ct_reduce_shape(self, (1u << d0) | (1u << d1), keepdim, osz);
    ct_tensor *r = ct_reduce_run(s, 1u << ext_d, kind, CT_FLOAT64, osz, on);
    ct_tensor_release(s);
    return finish(r, odt);
}

ct_tensor *ct_linalg_matrix_norm_str_ord(ct_tensor *self, const char *ord, ct_intlist dim, bool keepdim, int dtype) {
    const char *op = "linalg.matrix_norm";
    int d0, d1;
    if (matrix_dims(op, self, dim, &d0, &d1)) return NULL;
    if (!strcmp(ord, "fro")) {
        int64_t dd[2] = {d0, d1};
        return vector_norm(op, self, 2.0, (ct_intlist){dd, 2}, keepdim, dtype);
    }
    if (!strcmp(ord, "nuc"))
        return ct_error(CT_ERR_NOT_IMPLEMENTED, "[%s] the nuclear norm needs an SVD, which ctorch does not have yet", op);
    return ct_error(CT_ERR_RUNTIME, "[%s] %s: Order %s not supported.", op, op, ord);
}

/* ------------------------------------------------------------------ logsumexp */

static void expshift_loop(char **p, const int64_t *s, int64_t n, void *ctx) {
    (void)ctx;
    for (int64_t i = 0; i < n; i++) {
        double x = *(const double *)(p[1] + i * s[1]);
        double m = *(const double *)(p[2] + i * s[2]);
        *(double *)(p[0] + i * s[0]) = exp(x - m);
    }
}

ct_tensor *ct_logsumexp(ct_tensor *self, ct_intlist dim, bool keepdim) {
    const char *op = "logsumexp";
    int odt = ct_dtype_is_floating(self->dtype) ? self->dtype : ct_get_default_dtype();
    uint32_t mask;
    if (ct_reduce_mask(op, dim, self->ndim, &mask)) return NULL;
    int64_t ksz[CT_MAX_DIM], osz[CT_MAX_DIM];
    int kn = ct_reduce_shape(self, mask, true, ksz);
    int on = ct_reduce_shape(self, mask, keepdim, osz);
    ct_tensor *xd = NULL, *m = NULL, *e = NULL, *s = NULL;
    xd = ct_contig_as(self, CT_FLOAT64);
    if (!xd) goto fail;
    m = ct_reduce_run(xd, mask, CT_RED_MAX, CT_FLOAT64, ksz, kn);
    if (!m) goto fail;
    double *mp = (double *)ct_tensor_data(m);
    for (int64_t i = 0; i < m->numel; i++)
        if (isinf(mp[i])) mp[i] = 0; /* all -inf (or an inf): shift by 0 */
    e = ct_empty(xd->sizes, xd->ndim, CT_FLOAT64);
    if (!e) goto fail;
    if (e->numel) {
        ct_iter it;
        ct_tensor *ops[3] = {e, xd, m};
        if (ct_iter_init(&it, 3, ops, xd->sizes, xd->ndim, op)) goto fail;
        ct_iter_run(&it, expshift_loop, NULL, true);
    }
    s = ct_reduce_run(e, mask, CT_RED_SUM, CT_FLOAT64, osz, on);
    if (!s) goto fail;
    double *sp = (double *)ct_tensor_data(s);
    for (int64_t i = 0; i < s->numel; i++) sp[i] = log(sp[i]) + mp[i];
    ct_tensor_release(xd);
    ct_tensor_release(m);
    ct_tensor_release(e);
    return finish(s, odt);
fail:
    ct_tensor_release(xd);
    ct_tensor_release(m);
    ct_tensor_release(e);
    ct_tensor_release(s);
    return NULL;
}

/* ------------------------------------------------------------------ all / any / count */

static ct_tensor *all_any(const char *op, ct_tensor *self, ct_intlist dim, bool keepdim, ct_red_kind kind) {
    int odt = self->dtype == CT_UINT8 ? CT_UINT8 : CT_BOOL;
    ct_tensor *b = ct_contig_as(self, CT_BOOL);
    if (!b) return NULL;
    ct_tensor *r = reduce_to(op, b, dim, keepdim, kind, CT_BOOL, odt);
    ct_tensor_release(b);
    return r;
}

ct_tensor *ct_all(ct_tensor *self, ct_intlist dim, bool keepdim) {
    return all_any("all", self, dim, keepdim, CT_RED_MIN);
}
ct_tensor *ct_any(ct_tensor *self, ct_intlist dim, bool keepdim) {
    return all_any("any", self, dim, keepdim, CT_RED_MAX);
}

ct_tensor *ct_count_nonzero(ct_tensor *self, ct_intlist dim) {
    ct_tensor *b = ct_contig_as(self, CT_BOOL);
    if (!b) return NULL;
    ct_tensor *r = reduce_to("count_nonzero", b, dim, false, CT_RED_SUM, CT_INT64, CT_INT64);
    ct_tensor_release(b);
    return r;
}
