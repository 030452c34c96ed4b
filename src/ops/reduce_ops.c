/* Reduction ops: sum/mean/prod and their nan variants, max/min/amax/amin/aminmax,
 * argmax/argmin, var/std (+ _mean), norms, logsumexp, all/any, count_nonzero. Dtype and
 * error rules follow torch; the loops live in src/kernels/cpu/reduce.c. */
#include <stdlib.h>

#pragma GCC optimize("no-trapping-math") /* if-converted selects in vmath.h */

#include "ctorch/ops_gen.h"
#include "../core/internal.h"
#include "../kernels/cpu/reduce.h"
#include "../kernels/cpu/vmath.h"

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

ct_tensor *ct_sum_impl(ct_tensor *self, ct_intlist dim, bool keepdim, int dtype) {
    return sum_like("sum", self, dim, keepdim, dtype, CT_RED_SUM);
}

ct_tensor *ct_sum_all_impl(ct_tensor *self, int dtype) { return ct_sum_impl(self, CT_INTLIST_NONE, false, dtype); }

ct_tensor *ct_nansum_impl(ct_tensor *self, ct_intlist dim, bool keepdim, int dtype) {
    return sum_like("nansum", self, dim, keepdim, dtype, CT_RED_NANSUM);
}

ct_tensor *ct_prod_impl(ct_tensor *self, int dtype) {
    return sum_like("prod", self, CT_INTLIST_NONE, false, dtype, CT_RED_PROD);
}

ct_tensor *ct_prod_dim_int_impl(ct_tensor *self, int64_t dim, bool keepdim, int dtype) {
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

ct_tensor *ct_mean_impl(ct_tensor *self, ct_intlist dim, bool keepdim, int dtype) {
    return mean_like("mean", self, dim, keepdim, dtype, false);
}

ct_tensor *ct_mean_all_impl(ct_tensor *self, int dtype) { return ct_mean_impl(self, CT_INTLIST_NONE, false, dtype); }

ct_tensor *ct_nanmean_impl(ct_tensor *self, ct_intlist dim, bool keepdim, int dtype) {
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
    /* torch checks for an empty reduced dim before it checks for repeated dims */
    if (self->numel == 0 && dims_given && self->ndim > 0)
        for (int64_t k = 0; k < dim.n; k++) {
            int d = ct_wrap_dim(dim.data[k], self->ndim, op);
            if (d < 0) return NULL;
            if (self->sizes[d] == 0)
                return ct_error(CT_ERR_INDEX, "[%s] %s(): Expected reduction dim %d to have non-zero size.", op, op, d);
        }
    if (ct_reduce_mask(op, dim, self->ndim, &mask)) return NULL;
    if (check_nonempty(op, self, mask, dims_given)) return NULL;
    int64_t osz[CT_MAX_DIM];
    int on = ct_reduce_shape(self, mask, keepdim, osz);
    return finish(ct_reduce_run(self, mask, kind, minmax_cdt(self->dtype), osz, on), self->dtype);
}

ct_tensor *ct_amax_impl(ct_tensor *self, ct_intlist dim, bool keepdim) {
    return amax_like("amax", self, dim, keepdim, CT_RED_MAX, dim.n > 0);
}
ct_tensor *ct_amin_impl(ct_tensor *self, ct_intlist dim, bool keepdim) {
    return amax_like("amin", self, dim, keepdim, CT_RED_MIN, dim.n > 0);
}
ct_tensor *ct_max_impl(ct_tensor *self) { return amax_like("max", self, CT_INTLIST_NONE, false, CT_RED_MAX, false); }
ct_tensor *ct_min_impl(ct_tensor *self) { return amax_like("min", self, CT_INTLIST_NONE, false, CT_RED_MIN, false); }

/* NOTE [ Arg-reductions ]
 * argmax/argmin and max/min(dim) run in two vectorisable passes instead of one branchy
 * one: the engine computes the extreme values (NaN-propagating), then a find pass looks
 * for the first position equal to that value (NaN matching NaN), walking x as (O, R, I)
 * rows so that memory is read contiguously. The first index wins ties, as in torch. */
typedef struct find_ctx {
    const char *x, *m;
    int64_t *idx;
    int64_t R, I;
    int cdt;
} find_ctx;

#define DEF_FIND(NAME, T)                                                                       \
    static void NAME(const T *x, const T *m, int64_t *idx, int64_t R, int64_t I) {              \
        if (I == 1) {                                                                           \
            T v = m[0];                                                                         \
            int64_t r = 0;                                                                      \
            /* blocks of 32 tested branch-free (vectorised), then the exact position */         \
            if (v == v) {                                                                       \
                for (; r + 32 <= R; r += 32) {                                                  \
                    int hit = 0;                                                                \
                    for (int j = 0; j < 32; j++) hit |= x[r + j] == v;                          \
                    if (hit) break;                                                             \
                }                                                                               \
                while (r < R - 1 && x[r] != v) r++;                                             \
            } else {                                                                            \
                for (; r + 32 <= R; r += 32) {                                                  \
                    int hit = 0;                                                                \
                    for (int j = 0; j < 32; j++) hit |= x[r + j] != x[r + j];                   \
                    if (hit) break;                                                             \
                }                                                                               \
                while (r < R - 1 && x[r] == x[r]) r++;                                          \
            }                                                                                   \
            idx[0] = r;                                                                         \
            return;                                                                             \
        }                                                                                       \
        int64_t left = I;                                                                       \
        for (int64_t i = 0; i < I; i++) idx[i] = -1;                                            \
        for (int64_t r = 0; r < R && left; r++) {                                               \
            const T *row = x + r * I;                                                           \
            for (int64_t i = 0; i < I; i++) {                                                   \
                if (idx[i] < 0 && (row[i] == m[i] || (row[i] != row[i] && m[i] != m[i]))) {     \
                    idx[i] = r;                                                                 \
                    left--;                                                                     \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }
DEF_FIND(find_i64, int64_t)
DEF_FIND(find_f32, float)
DEF_FIND(find_f64, double)
DEF_FIND(find_u8, uint8_t)

static void find_task(int64_t b, int64_t e, void *vctx) {
    const find_ctx *c = (const find_ctx *)vctx;
    size_t es = ct_dtype_size(c->cdt);
    for (int64_t o = b; o < e; o++) {
        const char *x = c->x + o * c->R * c->I * (int64_t)es;
        const char *m = c->m + o * c->I * (int64_t)es;
        int64_t *idx = c->idx + o * c->I;
        switch (c->cdt) {
        case CT_INT64: find_i64((const int64_t *)x, (const int64_t *)m, idx, c->R, c->I); break;
        case CT_FLOAT32: find_f32((const float *)x, (const float *)m, idx, c->R, c->I); break;
        case CT_FLOAT64: find_f64((const double *)x, (const double *)m, idx, c->R, c->I); break;
        default: find_u8((const uint8_t *)x, (const uint8_t *)m, idx, c->R, c->I); break;
        }
    }
}

/* Indices (int64, shape osz) and optionally values (self's dtype, same shape) of the
 * first max/min along dim (dim < 0: over the flattened tensor). */
static int arg_reduce(const char *op, ct_tensor *self, int dim, bool is_max, const int64_t *osz, int on,
                      ct_tensor **values, ct_tensor **indices) {
    (void)op;
    int cdt = minmax_cdt(self->dtype);
    ct_tensor *xc = ct_contig_as(self, cdt);
    if (!xc) return -1;
    int64_t O = 1, R, I = 1;
    uint32_t mask;
    if (dim < 0) {
        R = self->numel;
        mask = self->ndim ? (uint32_t)((1ull << self->ndim) - 1) : 0;
    } else {
        R = self->sizes[dim];
        for (int k = 0; k < dim; k++) O *= self->sizes[k];
        for (int k = dim + 1; k < self->ndim; k++) I *= self->sizes[k];
        mask = 1u << dim;
    }
    ct_tensor *m = ct_reduce_run(xc, mask, is_max ? CT_RED_MAX : CT_RED_MIN, cdt, osz, on);
    ct_tensor *idx = m ? ct_empty(osz, on, CT_INT64) : NULL;
    if (!idx) {
        ct_tensor_release(xc);
        ct_tensor_release(m);
        return -1;
    }
    if (idx->numel) {
        find_ctx c = {(const char *)ct_tensor_data(xc), (const char *)ct_tensor_data(m),
                      (int64_t *)ct_tensor_data(idx), R, I, cdt};
        int64_t grain = CT_GRAIN / (R * I > 0 ? R * I : 1);
        ct_parallel_for(O, grain < 1 ? 1 : grain, find_task, &c);
    }
    ct_tensor_release(xc);
    if (values) {
        *values = finish(m, self->dtype);
        if (!*values) {
            ct_tensor_release(idx);
            return -1;
        }
    } else {
        ct_tensor_release(m);
    }
    *indices = idx;
    return 0;
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

int ct_max_dim_impl(ct_tensor *self, int64_t dim, bool keepdim, ct_tensor **out0, ct_tensor **out1) {
    return minmax_dim("max", self, dim, keepdim, true, out0, out1);
}
int ct_min_dim_impl(ct_tensor *self, int64_t dim, bool keepdim, ct_tensor **out0, ct_tensor **out1) {
    return minmax_dim("min", self, dim, keepdim, false, out0, out1);
}

static ct_tensor *argminmax(const char *op, ct_tensor *self, const int64_t *dim, bool keepdim, bool is_max) {
    ct_tensor *i = NULL;
    if (self->dtype == CT_BOOL) return ct_error(CT_ERR_RUNTIME, "[%s] %s(): does not support bool input", op, op);
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
    return i;
}

ct_tensor *ct_argmax(ct_tensor *self, const int64_t *dim, bool keepdim) {
    return argminmax("argmax", self, dim, keepdim, true);
}
ct_tensor *ct_argmin(ct_tensor *self, const int64_t *dim, bool keepdim) {
    return argminmax("argmin", self, dim, keepdim, false);
}

int ct_aminmax_impl(ct_tensor *self, const int64_t *dim, bool keepdim, ct_tensor **out0, ct_tensor **out1) {
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

ct_tensor *ct_var_impl(ct_tensor *self, bool unbiased) {
    return var_core("var", self, CT_INTLIST_NONE, unbiased, false, false, NULL);
}
ct_tensor *ct_var_dim_impl(ct_tensor *self, ct_intlist dim, bool unbiased, bool keepdim) {
    return var_core("var", self, dim, unbiased, keepdim, false, NULL);
}
ct_tensor *ct_var_correction_impl(ct_tensor *self, ct_intlist dim, const ct_scalar *correction, bool keepdim) {
    return var_core("var", self, dim, corr_of(correction), keepdim, false, NULL);
}
ct_tensor *ct_std_impl(ct_tensor *self, bool unbiased) {
    return var_core("std", self, CT_INTLIST_NONE, unbiased, false, true, NULL);
}
ct_tensor *ct_std_dim_impl(ct_tensor *self, ct_intlist dim, bool unbiased, bool keepdim) {
    return var_core("std", self, dim, unbiased, keepdim, true, NULL);
}
ct_tensor *ct_std_correction_impl(ct_tensor *self, ct_intlist dim, const ct_scalar *correction, bool keepdim) {
    return var_core("std", self, dim, corr_of(correction), keepdim, true, NULL);
}

static int pair_out(ct_tensor *v, ct_tensor *m, ct_tensor **out0, ct_tensor **out1) {
    if (!v) return -1;
    *out0 = v;
    *out1 = m;
    return 0;
}

int ct_var_mean_impl(ct_tensor *self, bool unbiased, ct_tensor **out0, ct_tensor **out1) {
    ct_tensor *m = NULL;
    ct_tensor *v = var_core("var_mean", self, CT_INTLIST_NONE, unbiased, false, false, &m);
    return pair_out(v, m, out0, out1);
}
int ct_var_mean_dim_impl(ct_tensor *self, ct_intlist dim, bool unbiased, bool keepdim, ct_tensor **out0, ct_tensor **out1) {
    ct_tensor *m = NULL;
    ct_tensor *v = var_core("var_mean", self, dim, unbiased, keepdim, false, &m);
    return pair_out(v, m, out0, out1);
}
int ct_var_mean_correction_impl(ct_tensor *self, ct_intlist dim, const ct_scalar *correction, bool keepdim,
                           ct_tensor **out0, ct_tensor **out1) {
    ct_tensor *m = NULL;
    ct_tensor *v = var_core("var_mean", self, dim, corr_of(correction), keepdim, false, &m);
    return pair_out(v, m, out0, out1);
}
int ct_std_mean_impl(ct_tensor *self, bool unbiased, ct_tensor **out0, ct_tensor **out1) {
    ct_tensor *m = NULL;
    ct_tensor *v = var_core("std_mean", self, CT_INTLIST_NONE, unbiased, false, true, &m);
    return pair_out(v, m, out0, out1);
}
int ct_std_mean_dim_impl(ct_tensor *self, ct_intlist dim, bool unbiased, bool keepdim, ct_tensor **out0, ct_tensor **out1) {
    ct_tensor *m = NULL;
    ct_tensor *v = var_core("std_mean", self, dim, unbiased, keepdim, true, &m);
    return pair_out(v, m, out0, out1);
}
int ct_std_mean_correction_impl(ct_tensor *self, ct_intlist dim, const ct_scalar *correction, bool keepdim,
                           ct_tensor **out0, ct_tensor **out1) {
    ct_tensor *m = NULL;
    ct_tensor *v = var_core("std_mean", self, dim, corr_of(correction), keepdim, true, &m);
    return pair_out(v, m, out0, out1);
}

/* ------------------------------------------------------------------ norms */

/* |x|^p (or the p-specific map: x*x, |x|, x != 0) of self as a new contiguous tensor of
 * self's accumulation dtype (float32 for 16/32-bit floats, float64 otherwise). */
#define DEF_ABSPOW(NAME, T, FABS, POW)                                                          \
    static void NAME(const T *restrict x, T *restrict o, int64_t n, double p) {                 \
        if (p == 2)                                                                             \
            for (int64_t i = 0; i < n; i++) o[i] = x[i] * x[i];                                 \
        else if (p == 1 || isinf(p))                                                            \
            for (int64_t i = 0; i < n; i++) o[i] = FABS(x[i]);                                  \
        else if (p == 0)                                                                        \
            for (int64_t i = 0; i < n; i++) o[i] = (T)(x[i] != 0);                              \
        else                                                                                    \
            for (int64_t i = 0; i < n; i++) o[i] = POW(FABS(x[i]), (T)p);                       \
    }
DEF_ABSPOW(abspow_f32, float, fabsf, powf)
DEF_ABSPOW(abspow_f64, double, fabs, pow)

static ct_tensor *abs_pow(ct_tensor *self, double p) {
    int cdt = self->dtype == CT_FLOAT64 || !ct_dtype_is_floating(self->dtype) ? CT_FLOAT64 : CT_FLOAT32;
    ct_tensor *xc = ct_contig_as(self, cdt);
    if (!xc) return NULL;
    ct_tensor *y = ct_empty(xc->sizes, xc->ndim, cdt);
    if (y && cdt == CT_FLOAT32)
        abspow_f32((const float *)ct_tensor_data(xc), (float *)ct_tensor_data(y), y->numel, p);
    else if (y)
        abspow_f64((const double *)ct_tensor_data(xc), (double *)ct_tensor_data(y), y->numel, p);
    ct_tensor_release(xc);
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
    /* with dtype=, torch converts the input first and computes in that dtype */
    ct_tensor *src = dtype >= 0 ? ct_contig_as(self, dtype) : (ct_tensor_retain(self), self);
    if (!src) return NULL;
    ct_tensor *y = abs_pow(src, p);
    ct_tensor_release(src);
    if (!y) return NULL;
    int64_t osz[CT_MAX_DIM];
    int on = ct_reduce_shape(self, mask, keepdim, osz);
    ct_red_kind kind = p == INFINITY ? CT_RED_MAX : p == -INFINITY ? CT_RED_MIN : CT_RED_SUM;
    ct_tensor *r = ct_reduce_run(y, mask, kind, y->dtype, osz, on);
    ct_tensor_release(y);
    if (!r) return NULL;
    if (r->dtype == CT_FLOAT32) {
        float *rp = (float *)ct_tensor_data(r);
        if (p == 2)
            for (int64_t i = 0; i < r->numel; i++) rp[i] = sqrtf(rp[i]);
        else if (p != 1 && p != 0 && !isinf(p))
            for (int64_t i = 0; i < r->numel; i++) rp[i] = powf(rp[i], (float)(1.0 / p));
    } else {
        double *rp = (double *)ct_tensor_data(r);
        if (p == 2)
            for (int64_t i = 0; i < r->numel; i++) rp[i] = sqrt(rp[i]);
        else if (p != 1 && p != 0 && !isinf(p))
            for (int64_t i = 0; i < r->numel; i++) rp[i] = pow(rp[i], 1.0 / p);
    }
    return finish(r, odt);
}

ct_tensor *ct_linalg_vector_norm_impl(ct_tensor *self, ct_scalar ord, ct_intlist dim, bool keepdim, int dtype) {
    return vector_norm("linalg.vector_norm", self, ct_scalar_to_f64(ord), dim, keepdim, dtype);
}

ct_tensor *ct_norm_impl(ct_tensor *self, const ct_scalar *p, ct_intlist dim, bool keepdim, int dtype) {
    return vector_norm("norm", self, p ? ct_scalar_to_f64(*p) : 2.0, dim, keepdim, dtype);
}

ct_tensor *ct_norm_str_impl(ct_tensor *self, const char *p, ct_intlist dim, bool keepdim, int dtype) {
    if (!strcmp(p, "fro")) return vector_norm("norm", self, 2.0, dim, keepdim, dtype);
    if (!strcmp(p, "nuc"))
        return ct_error(CT_ERR_NOT_IMPLEMENTED, "[norm] p='nuc' is computed by ctorch.linalg.matrix_norm(x, 'nuc') (through the singular values)");
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

ct_tensor *ct_linalg_matrix_norm_impl(ct_tensor *self, ct_scalar ord, ct_intlist dim, bool keepdim, int dtype) {
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
    if (self->sizes[ext_d] == 0)
        return ct_error(CT_ERR_INDEX, "[%s] %s: Expected reduction dim %d to have non-zero size.", op, op, ext_d);
    ct_tensor *src = dtype >= 0 ? ct_contig_as(self, dtype) : (ct_tensor_retain(self), self);
    if (!src) return NULL;
    ct_tensor *y = abs_pow(src, 1.0);
    ct_tensor_release(src);
    if (!y) return NULL;
    int64_t ksz[CT_MAX_DIM], osz[CT_MAX_DIM];
    int kn = ct_reduce_shape(self, 1u << sum_d, true, ksz);
    ct_tensor *s = ct_reduce_run(y, 1u << sum_d, CT_RED_SUM, y->dtype, ksz, kn);
    ct_tensor_release(y);
    if (!s) return NULL;
    int on = ct_reduce_shape(self, (1u << d0) | (1u << d1), keepdim, osz);
    ct_tensor *r = ct_reduce_run(s, 1u << ext_d, kind, s->dtype, osz, on);
    ct_tensor_release(s);
    return finish(r, odt);
}

ct_tensor *ct_linalg_matrix_norm_str_ord_impl(ct_tensor *self, const char *ord, ct_intlist dim, bool keepdim, int dtype) {
    const char *op = "linalg.matrix_norm";
    int d0, d1;
    if (matrix_dims(op, self, dim, &d0, &d1)) return NULL;
    if (!strcmp(ord, "fro")) {
        int64_t dd[2] = {d0, d1};
        return vector_norm(op, self, 2.0, (ct_intlist){dd, 2}, keepdim, dtype);
    }
    if (!strcmp(ord, "nuc"))
        return ct_error(CT_ERR_NOT_IMPLEMENTED, "[%s] the nuclear norm is computed by the Python ctorch.linalg.matrix_norm (through linalg.svdvals)", op);
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

/* float32 e = exp(x - m), vectorised (ct_vexpf) when the operands are contiguous. */
static void expshift_loop_f32(char **p, const int64_t *s, int64_t n, void *ctx) {
    (void)ctx;
    if (s[0] == 4 && s[1] == 4 && (s[2] == 0 || s[2] == 4)) {
        float *restrict y = (float *)p[0];
        const float *restrict x = (const float *)p[1];
        const float *restrict m = (const float *)p[2];
        if (s[2] == 0) {
            float mv = m[0];
            for (int64_t i = 0; i < n; i++) y[i] = ct_vexpf(x[i] - mv);
        } else {
            for (int64_t i = 0; i < n; i++) y[i] = ct_vexpf(x[i] - m[i]);
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float x = *(const float *)(p[1] + i * s[1]);
        float m = *(const float *)(p[2] + i * s[2]);
        *(float *)(p[0] + i * s[0]) = ct_vexpf(x - m);
    }
}

/* float32 and 16-bit inputs: computed in float32 as torch does (max, exp(x - max), sum, log);
 * float64 and integer inputs (default dtype float64) below in float64. */
static ct_tensor *logsumexp_f32(ct_tensor *self, uint32_t mask, const int64_t *ksz, int kn, const int64_t *osz,
                                int on, int odt) {
    ct_tensor *xf = NULL, *m = NULL, *e = NULL, *s = NULL;
    xf = ct_contig_as(self, CT_FLOAT32);
    if (!xf) goto fail;
    m = ct_reduce_run(xf, mask, CT_RED_MAX, CT_FLOAT32, ksz, kn);
    if (!m) goto fail;
    float *mp = (float *)ct_tensor_data(m);
    for (int64_t i = 0; i < m->numel; i++)
        if (isinf(mp[i])) mp[i] = 0; /* all -inf (or an inf): shift by 0 */
    e = ct_empty(xf->sizes, xf->ndim, CT_FLOAT32);
    if (!e) goto fail;
    if (e->numel) {
        ct_iter it;
        ct_tensor *ops[3] = {e, xf, m};
        if (ct_iter_init(&it, 3, ops, xf->sizes, xf->ndim, "logsumexp")) goto fail;
        ct_iter_run(&it, expshift_loop_f32, NULL, true);
    }
    s = ct_reduce_run(e, mask, CT_RED_SUM, CT_FLOAT32, osz, on);
    if (!s) goto fail;
    float *sp = (float *)ct_tensor_data(s);
    for (int64_t i = 0; i < s->numel; i++) sp[i] = logf(sp[i]) + mp[i];
    ct_tensor_release(xf);
    ct_tensor_release(m);
    ct_tensor_release(e);
    return finish(s, odt);
fail:
    ct_tensor_release(xf);
    ct_tensor_release(m);
    ct_tensor_release(e);
    ct_tensor_release(s);
    return NULL;
}

ct_tensor *ct_logsumexp_impl(ct_tensor *self, ct_intlist dim, bool keepdim) {
    const char *op = "logsumexp";
    int odt = ct_dtype_is_floating(self->dtype) ? self->dtype : ct_get_default_dtype();
    if (dim.n == 0 && self->ndim > 0 && !keepdim) /* as torch: its keepdim max meets a 0-dim result */
        return ct_error(CT_ERR_RUNTIME, "[logsumexp] output with shape [] doesn't match the broadcast shape of the "
                        "input");
    uint32_t mask;
    if (ct_reduce_mask(op, dim, self->ndim, &mask)) return NULL;
    int64_t ksz[CT_MAX_DIM], osz[CT_MAX_DIM];
    int kn = ct_reduce_shape(self, mask, true, ksz);
    int on = ct_reduce_shape(self, mask, keepdim, osz);
    if (odt == CT_FLOAT32 || odt == CT_FLOAT16 || odt == CT_BFLOAT16)
        return logsumexp_f32(self, mask, ksz, kn, osz, on, odt);
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
    ct_tensor *r;
    if (dim.n == 0) { /* all/any(dim=()) reduce nothing in torch (unlike sum) */
        r = ct_reduce_run(b, 0, kind, CT_BOOL, self->sizes, self->ndim);
        r = finish(r, odt);
    } else {
        r = reduce_to(op, b, dim, keepdim, kind, CT_BOOL, odt);
    }
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
