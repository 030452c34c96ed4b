/* Normalisation ops (src/ops/nn_norm.ops): batch norm (training statistics, running-stat
 * update, eval), layer norm, group norm, rms norm, instance norm's running-stat update, and
 * the fused backward kernels used by src/autograd/formulas_norm.c (norm.h). One pass per
 * channel/row for the statistics (two-pass in double, as torch), one for the output;
 * channels/rows split over threads. float16/bfloat16 are computed in float32. Saved
 * statistics (mean, invstd/rstd) are float64 tensors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ctorch/ops_gen.h"
#include "../../core/internal.h"
#include "norm.h"

#define T float
#define SUF _f32
#include "norm_impl.h"
#undef T
#undef SUF
#define T double
#define SUF _f64
#include "norm_impl.h"
#undef T
#undef SUF

/* ------------------------------------------------------------------ helpers */

static int cdtype(const char *op, const ct_tensor *x) {
    if (!ct_dtype_is_floating(x->dtype)) {
        ct_errorf(CT_ERR_NOT_IMPLEMENTED, "\"%s\" not implemented for '%s'", op, ct_dtype_name(x->dtype));
        return -1;
    }
    return x->dtype == CT_FLOAT64 ? CT_FLOAT64 : CT_FLOAT32;
}

static ct_tensor *finish(ct_tensor *r, int dtype) {
    if (!r || r->dtype == dtype) return r;
    ct_tensor *c = ct_to_dtype(r, dtype, false);
    ct_tensor_release(r);
    return c;
}

/* contiguous copy in dtype, or NULL (no error) when t is NULL */
static int prep_opt(ct_tensor *t, int dtype, ct_tensor **out) {
    *out = NULL;
    if (!t) return 0;
    *out = ct_contig_as(t, dtype);
    return *out ? 0 : -1;
}

/* values of a 1-D tensor as doubles (n entries) */
static void load_vec(const ct_tensor *t, double *dst, int64_t n) {
    const char *base = ct_tensor_data(t);
    int64_t st = t->ndim ? t->strides[0] : 0;
    size_t es = ct_dtype_sizes[t->dtype];
    for (int64_t i = 0; i < n; i++) dst[i] = ct_load_f64(base + i * st * (int64_t)es, t->dtype);
}

static void store_vec(ct_tensor *t, const double *src, int64_t n) {
    char *base = ct_tensor_data(t);
    int64_t st = t->ndim ? t->strides[0] : 0;
    size_t es = ct_dtype_sizes[t->dtype];
    for (int64_t i = 0; i < n; i++) ct_store_f64(base + i * st * (int64_t)es, t->dtype, src[i]);
    ct_tensor_bump_version(t);
}

static int check_vec(const char *op, const char *name, const ct_tensor *t, int64_t n) {
    if (t && t->numel != n)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] %s should contain %lld elements not %lld", op, name, (long long)n,
                         (long long)t->numel);
    return 0;
}

static ct_tensor *vec_f64(int64_t n) { return ct_empty(&n, 1, CT_FLOAT64); }

typedef struct {
    int kind;
    bool f64;
    const void *x, *g;
    void *y;
    const void *w, *b;
    int64_t N, C, S, R, L, G, Cg;
    double eps;
    bool rms, training;
    double *mean, *var, *alpha, *beta, *gw, *gb;
    const double *wd;
} njob;

enum { J_BN_STATS, J_BN_APPLY, J_BN_BWD, J_ROW_STATS, J_ROW_APPLY, J_ROW_BWD, J_ROW_WGRAD, J_GROUP_WGRAD };

static void njob_run(int64_t a, int64_t b, void *ctx) {
    const njob *j = ctx;
#define CALL(fn, ...) do { if (j->f64) fn##_f64(__VA_ARGS__); else fn##_f32(__VA_ARGS__); } while (0)
    switch (j->kind) {
    case J_BN_STATS: CALL(bn_stats_k, j->x, j->N, j->C, j->S, j->mean, j->var, a, b); break;
    case J_BN_APPLY: CALL(bn_apply_k, j->x, j->y, j->C, j->S, j->alpha, j->beta, a, b); break;
    case J_BN_BWD: CALL(bn_bwd_k, j->g, j->x, j->N, j->C, j->S, j->mean, j->var, j->wd, j->training, j->y, j->gw, j->gb, a, b); break;
    case J_ROW_STATS: CALL(row_stats_k, j->x, j->L, j->eps, j->rms, j->mean, j->var, a, b); break;
    case J_ROW_APPLY: CALL(row_apply_k, j->x, j->y, j->L, j->mean, j->var, j->w, j->b, j->G, j->Cg, j->S, a, b); break;
    case J_ROW_BWD: CALL(row_bwd_k, j->g, j->x, j->L, j->mean, j->var, j->w, j->G, j->Cg, j->S, j->rms, j->y, a, b); break;
    case J_ROW_WGRAD: CALL(row_wgrad_k, j->g, j->x, j->R, j->L, j->mean, j->var, j->gw, j->gb, a, b); break;
    case J_GROUP_WGRAD: CALL(group_wgrad_k, j->g, j->x, j->N, j->C, j->S, j->G, j->mean, j->var, j->gw, j->gb, a, b); break;
    }
#undef CALL
}

static void run(njob *j, int kind, int64_t n, int64_t work_each) {
    j->kind = kind;
    if (n <= 0) return;
    int64_t grain = CT_GRAIN / (work_each > 0 ? work_each : 1);
    ct_parallel_for(n, grain < 1 ? 1 : grain, njob_run, j);
}

/* (N, C, S) view sizes of a batch-norm input */
static int bn_dims(const char *op, const ct_tensor *x, int64_t *N, int64_t *C, int64_t *S) {
    if (x->ndim < 2) {
        char b[64];
        return ct_errorf(CT_ERR_VALUE, "[%s] expected 2D or higher input (got %s)", op,
                         ct_shape_str(x->sizes, x->ndim, b, sizeof b));
    }
    *N = x->sizes[0];
    *C = x->sizes[1];
    *S = 1;
    for (int i = 2; i < x->ndim; i++) *S *= x->sizes[i];
    return 0;
}

/* ------------------------------------------------------------------ batch norm */

int ct_nn_batch_norm_impl(ct_tensor *input, ct_tensor *weight, ct_tensor *bias, ct_tensor *running_mean,
                          ct_tensor *running_var, bool training, double momentum, double eps, ct_tensor **out0,
                          ct_tensor **out1, ct_tensor **out2) {
    const char *op = "batch_norm";
    int64_t N = 0, C = 0, S = 0;
    int cd = cdtype(op, input);
    if (cd < 0 || bn_dims(op, input, &N, &C, &S)) return -1;
    if (check_vec(op, "weight", weight, C) || check_vec(op, "bias", bias, C) ||
        check_vec(op, "running_mean", running_mean, C) || check_vec(op, "running_var", running_var, C))
        return -1;
    if (!training && (!running_mean || !running_var))
        return ct_errorf(CT_ERR_RUNTIME, "[%s] running_mean and running_var must be defined in evaluation mode", op);
    ct_tensor *x = ct_contig_as(input, cd);
    ct_tensor *y = x ? ct_empty(input->sizes, input->ndim, cd) : NULL;
    ct_tensor *mean = y ? vec_f64(C) : NULL, *invstd = mean ? vec_f64(C) : NULL;
    double *buf = invstd ? malloc(sizeof(double) * (size_t)(4 * C + 1)) : NULL;
    if (!buf) {
        if (invstd) ct_error(CT_ERR_MEMORY, "[%s] out of memory", op);
        ct_tensor_release(x), ct_tensor_release(y), ct_tensor_release(mean), ct_tensor_release(invstd);
        return -1;
    }
    double *mu = ct_tensor_data(mean), *is = ct_tensor_data(invstd);
    double *m2 = buf, *alpha = buf + C, *beta = buf + 2 * C, *tmp = buf + 3 * C;
    njob j = {.f64 = cd == CT_FLOAT64, .x = ct_tensor_data(x), .y = ct_tensor_data(y), .N = N, .C = C, .S = S};
    int64_t M = N * S;
    if (training) {
        j.mean = mu;
        j.var = m2;
        run(&j, J_BN_STATS, C, 2 * M);
        for (int64_t c = 0; c < C; c++) is[c] = 1.0 / sqrt((M ? m2[c] / (double)M : NAN) + eps);
        if (running_mean) {
            load_vec(running_mean, tmp, C);
            for (int64_t c = 0; c < C; c++) tmp[c] = momentum * mu[c] + (1 - momentum) * tmp[c];
            store_vec(running_mean, tmp, C);
        }
        if (running_var) {
            load_vec(running_var, tmp, C);
            for (int64_t c = 0; c < C; c++)
                tmp[c] = momentum * (M > 1 ? m2[c] / (double)(M - 1) : NAN) + (1 - momentum) * tmp[c];
            store_vec(running_var, tmp, C);
        }
    } else {
        load_vec(running_mean, mu, C);
        load_vec(running_var, tmp, C);
        for (int64_t c = 0; c < C; c++) is[c] = 1.0 / sqrt(tmp[c] + eps);
    }
    if (weight) load_vec(weight, tmp, C);
    for (int64_t c = 0; c < C; c++) alpha[c] = is[c] * (weight ? tmp[c] : 1.0);
    if (bias) load_vec(bias, tmp, C);
    for (int64_t c = 0; c < C; c++) beta[c] = (bias ? tmp[c] : 0.0) - mu[c] * alpha[c];
    j.alpha = alpha;
    j.beta = beta;
    run(&j, J_BN_APPLY, N * C, S);
    free(buf);
    ct_tensor_release(x);
    *out0 = finish(y, input->dtype);
    *out1 = mean;
    *out2 = invstd;
    if (!*out0) {
        ct_tensor_release(mean), ct_tensor_release(invstd);
        return -1;
    }
    return 0;
}

/* gradient tensor of a parameter from double sums (dtype of the parameter) */
static ct_tensor *param_grad(const double *v, int64_t n, int dtype) {
    ct_tensor *t = ct_tensor_from_data(v, &n, 1, CT_FLOAT64);
    return finish(t, dtype);
}

int ct_nn_batch_norm_bwd(ct_tensor *grad, ct_tensor *input, ct_tensor *weight, ct_tensor *mean, ct_tensor *invstd,
                         bool training, const bool need[3], ct_tensor **gi, ct_tensor **gw, ct_tensor **gb) {
    const char *op = "batch_norm_backward";
    *gi = *gw = *gb = NULL;
    int64_t N = 0, C = 0, S = 0;
    int cd = cdtype(op, input);
    if (cd < 0 || bn_dims(op, input, &N, &C, &S)) return -1;
    ct_tensor *x = ct_contig_as(input, cd), *g = x ? ct_contig_as(grad, cd) : NULL;
    ct_tensor *out = g && need[0] ? ct_empty(input->sizes, input->ndim, cd) : NULL;
    double *buf = malloc(sizeof(double) * (size_t)(3 * C + 1));
    if (!g || (need[0] && !out) || !buf) {
        ct_tensor_release(x), ct_tensor_release(g), ct_tensor_release(out), free(buf);
        return -1;
    }
    double *wd = buf, *sw = buf + C, *sb = buf + 2 * C;
    if (weight) load_vec(weight, wd, C);
    njob j = {.f64 = cd == CT_FLOAT64, .x = ct_tensor_data(x), .g = ct_tensor_data(g), .y = out ? ct_tensor_data(out) : NULL,
              .N = N, .C = C, .S = S, .mean = ct_tensor_data(mean), .var = ct_tensor_data(invstd),
              .wd = weight ? wd : NULL, .training = training, .gw = sw, .gb = sb};
    run(&j, J_BN_BWD, C, 3 * N * S);
    int rc = 0;
    if (need[0] && !(*gi = finish(out, input->dtype))) rc = -1;
    if (!need[0]) ct_tensor_release(out);
    if (!rc && need[1] && !(*gw = param_grad(sw, C, weight ? weight->dtype : input->dtype))) rc = -1;
    if (!rc && need[2] && !(*gb = param_grad(sb, C, input->dtype))) rc = -1;
    ct_tensor_release(x), ct_tensor_release(g), free(buf);
    return rc;
}

/* ------------------------------------------------------------------ row norms */

typedef struct rowgeom {
    int64_t R, L;       /* rows, row length */
    int64_t N, C, S, G; /* group norm: (N, C, S), G groups; G == 0 for per-element affine */
} rowgeom;

static int row_forward(const char *op, ct_tensor *input, const rowgeom *rg, ct_tensor *weight, ct_tensor *bias,
                       double eps, bool rms, ct_tensor **out0, ct_tensor **out1, ct_tensor **out2) {
    int cd = cdtype(op, input);
    if (cd < 0) return -1;
    ct_tensor *x = ct_contig_as(input, cd), *w = NULL, *b = NULL;
    if (!x || prep_opt(weight, cd, &w) || prep_opt(bias, cd, &b)) goto fail;
    ct_tensor *y = ct_empty(input->sizes, input->ndim, cd);
    ct_tensor *mean = y ? vec_f64(rg->R) : NULL, *rstd = mean ? vec_f64(rg->R) : NULL;
    if (!rstd) {
        ct_tensor_release(y), ct_tensor_release(mean);
        goto fail;
    }
    njob j = {.f64 = cd == CT_FLOAT64, .x = ct_tensor_data(x), .y = ct_tensor_data(y), .w = w ? ct_tensor_data(w) : NULL,
              .b = b ? ct_tensor_data(b) : NULL, .L = rg->L, .R = rg->R, .G = rg->G, .Cg = rg->G ? rg->C / rg->G : 0,
              .S = rg->S, .eps = eps, .rms = rms, .mean = ct_tensor_data(mean), .var = ct_tensor_data(rstd)};
    run(&j, J_ROW_STATS, rg->R, 2 * rg->L);
    run(&j, J_ROW_APPLY, rg->R, rg->L);
    ct_tensor_release(x), ct_tensor_release(w), ct_tensor_release(b);
    *out0 = finish(y, input->dtype);
    if (out2) {
        *out1 = mean;
        *out2 = rstd;
    } else { /* rms: the mean is zero, only rstd is returned */
        ct_tensor_release(mean);
        *out1 = rstd;
    }
    if (!*out0) {
        ct_tensor_release(*out1);
        if (out2) ct_tensor_release(*out2);
        return -1;
    }
    return 0;
fail:
    ct_tensor_release(x), ct_tensor_release(w), ct_tensor_release(b);
    return -1;
}

static int layer_geom(const char *op, ct_tensor *input, ct_intlist shape, ct_tensor *weight, ct_tensor *bias,
                      rowgeom *rg) {
    int k = (int)shape.n;
    bool ok = k >= 1 && k <= input->ndim;
    for (int i = 0; ok && i < k; i++) ok = input->sizes[input->ndim - k + i] == shape.data[i];
    if (!ok) {
        char b1[128], b2[128], b3[128];
        ct_shape_str(shape.data, k, b2, sizeof b2); /* "[3, 4]": printed as "[*, 3, 4]" */
        size_t n2 = strlen(b2);
        if (n2 >= 2) {
            b2[n2 - 1] = 0;
            memmove(b2, b2 + 1, n2 - 1);
        }
        return ct_errorf(CT_ERR_RUNTIME, "[%s] Given normalized_shape=%s, expected input with shape [*, %s], but got "
                         "input of size%s", op, ct_shape_str(shape.data, k, b1, sizeof b1), b2,
                         ct_shape_str(input->sizes, input->ndim, b3, sizeof b3));
    }
    rg->L = 1;
    for (int i = 0; i < k; i++) rg->L *= shape.data[i];
    rg->R = 1;
    for (int i = 0; i < input->ndim - k; i++) rg->R *= input->sizes[i];
    rg->G = 0;
    rg->S = 1;
    rg->C = rg->N = 0;
    ct_tensor *ps[2] = {weight, bias};
    for (int p = 0; p < 2; p++) {
        ct_tensor *t = ps[p];
        if (!t) continue;
        bool same = t->ndim == k;
        for (int i = 0; same && i < k; i++) same = t->sizes[i] == shape.data[i];
        char b1[128], b2[128];
        if (!same)
            return ct_errorf(CT_ERR_RUNTIME, "[%s] Expected %s to be of same shape as normalized_shape, but got %s of "
                             "shape %s and normalized_shape = %s", op, p ? "bias" : "weight", p ? "bias" : "weight",
                             ct_shape_str(t->sizes, t->ndim, b1, sizeof b1), ct_shape_str(shape.data, k, b2, sizeof b2));
    }
    return 0;
}

int ct_nn_layer_norm_impl(ct_tensor *input, ct_intlist normalized_shape, ct_tensor *weight, ct_tensor *bias, double eps,
                          ct_tensor **out0, ct_tensor **out1, ct_tensor **out2) {
    rowgeom rg;
    if (layer_geom("layer_norm", input, normalized_shape, weight, bias, &rg)) return -1;
    return row_forward("layer_norm", input, &rg, weight, bias, eps, false, out0, out1, out2);
}

int ct_nn_rms_norm_impl(ct_tensor *input, ct_intlist normalized_shape, ct_tensor *weight, const double *eps,
                        ct_tensor **out0, ct_tensor **out1) {
    rowgeom rg;
    if (layer_geom("rms_norm", input, normalized_shape, weight, NULL, &rg)) return -1;
    double e = eps ? *eps
                   : input->dtype == CT_FLOAT64 ? 2.220446049250313e-16
                   : input->dtype == CT_FLOAT16 ? 0.0009765625
                   : input->dtype == CT_BFLOAT16 ? 0.0078125
                                                 : 1.1920928955078125e-07;
    return row_forward("rms_norm", input, &rg, weight, NULL, e, true, out0, out1, NULL);
}

static int group_geom(const char *op, ct_tensor *input, int64_t G, ct_tensor *weight, ct_tensor *bias, rowgeom *rg) {
    if (input->ndim < 2)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] Expected at least 2 dimensions for input tensor but received %d", op,
                         input->ndim);
    int64_t N = input->sizes[0], C = input->sizes[1], S = 1;
    for (int i = 2; i < input->ndim; i++) S *= input->sizes[i];
    if (G <= 0 || C % G)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] Expected number of channels in input to be divisible by num_groups, but "
                         "got input of shape %lld and num_groups=%lld", op, (long long)C, (long long)G);
    if (check_vec(op, "weight", weight, C) || check_vec(op, "bias", bias, C)) return -1;
    rg->N = N, rg->C = C, rg->S = S, rg->G = G;
    rg->R = N * G;
    rg->L = C / G * S;
    return 0;
}

int ct_nn_group_norm_impl(ct_tensor *input, int64_t num_groups, ct_tensor *weight, ct_tensor *bias, double eps,
                          ct_tensor **out0, ct_tensor **out1, ct_tensor **out2) {
    rowgeom rg;
    if (group_geom("group_norm", input, num_groups, weight, bias, &rg)) return -1;
    return row_forward("group_norm", input, &rg, weight, bias, eps, false, out0, out1, out2);
}

/* kind: 0 layer (normalized numel L), 1 group (groups G), 2 rms (normalized numel L) */
int ct_nn_row_norm_bwd(int kind, int64_t param, ct_tensor *grad, ct_tensor *input, ct_tensor *weight, ct_tensor *mean,
                       ct_tensor *rstd, const bool need[3], ct_tensor **gi, ct_tensor **gw, ct_tensor **gb) {
    const char *op = "norm_backward";
    *gi = *gw = *gb = NULL;
    rowgeom rg = {0};
    if (kind == 1) {
        if (group_geom(op, input, param, NULL, NULL, &rg)) return -1;
    } else {
        rg.L = param;
        rg.R = rg.L ? input->numel / rg.L : 0;
    }
    int cd = cdtype(op, input);
    if (cd < 0) return -1;
    ct_tensor *x = ct_contig_as(input, cd), *g = x ? ct_contig_as(grad, cd) : NULL, *w = NULL, *out = NULL;
    int64_t np = kind == 1 ? rg.C : rg.L;
    double *sums = g ? malloc(sizeof(double) * (size_t)(2 * np + 1)) : NULL;
    int rc = -1;
    if (!sums || prep_opt(weight, cd, &w)) goto done;
    njob j = {.f64 = cd == CT_FLOAT64, .x = ct_tensor_data(x), .g = ct_tensor_data(g), .w = w ? ct_tensor_data(w) : NULL,
              .L = rg.L, .R = rg.R, .N = rg.N, .C = rg.C, .S = rg.S, .G = kind == 1 ? rg.G : 0,
              .Cg = kind == 1 ? rg.C / rg.G : 0, .rms = kind == 2, .mean = ct_tensor_data(mean),
              .var = ct_tensor_data(rstd), .gw = need[1] ? sums : NULL, .gb = need[2] ? sums + np : NULL};
    if (need[0]) {
        out = ct_empty(input->sizes, input->ndim, cd);
        if (!out) goto done;
        j.y = ct_tensor_data(out);
        run(&j, J_ROW_BWD, rg.R, 2 * rg.L);
    }
    if (need[1] || need[2]) {
        if (kind == 1)
            run(&j, J_GROUP_WGRAD, rg.C, rg.N * rg.S);
        else
            run(&j, J_ROW_WGRAD, rg.L, rg.R);
    }
    rc = 0;
    if (need[0] && !(*gi = finish(out, input->dtype))) rc = -1;
    out = NULL;
    if (!rc && need[1] && !(*gw = param_grad(sums, np, weight ? weight->dtype : input->dtype))) rc = -1;
    if (!rc && need[2] && !(*gb = param_grad(sums + np, np, input->dtype))) rc = -1;
done:
    ct_tensor_release(x), ct_tensor_release(g), ct_tensor_release(w), ct_tensor_release(out);
    free(sums);
    return rc;
}

/* ------------------------------------------------------------------ instance norm running stats */

/* running_mean/var (C) <- (1 - m) * running + m * mean over the batch of the per-instance mean
 * and unbiased variance (torch's instance_norm update through its repeated batch-norm stats). */
int ct_nn_instance_norm_update_stats(ct_tensor *input, ct_tensor *running_mean, ct_tensor *running_var,
                                     double momentum) {
    const char *op = "instance_norm";
    int64_t N = 0, C = 0, S = 0;
    int cd = cdtype(op, input);
    if (cd < 0 || bn_dims(op, input, &N, &C, &S)) return -1;
    if (check_vec(op, "running_mean", running_mean, C) || check_vec(op, "running_var", running_var, C)) return -1;
    if (!running_mean && !running_var) return 0;
    ct_tensor *x = ct_contig_as(input, cd);
    double *buf = x ? malloc(sizeof(double) * (size_t)(2 * N * C + 2 * C + 1)) : NULL;
    if (!buf) {
        ct_tensor_release(x);
        return -1;
    }
    double *mu = buf, *m2 = buf + N * C, *am = buf + 2 * N * C, *av = am + C;
    /* (N*C) instances of S elements: batch-norm stats with N = 1, C = N*C */
    njob j = {.f64 = cd == CT_FLOAT64, .x = ct_tensor_data(x), .N = 1, .C = N * C, .S = S, .mean = mu, .var = m2};
    run(&j, J_BN_STATS, N * C, 2 * S);
    for (int64_t c = 0; c < C; c++) {
        double sm = 0, sv = 0;
        for (int64_t n = 0; n < N; n++) {
            sm += mu[n * C + c];
            sv += S > 1 ? m2[n * C + c] / (double)(S - 1) : NAN;
        }
        am[c] = sm / (double)N;
        av[c] = sv / (double)N;
    }
    double *tmp = mu; /* reuse */
    if (running_mean) {
        load_vec(running_mean, tmp, C);
        for (int64_t c = 0; c < C; c++) tmp[c] = (1 - momentum) * tmp[c] + momentum * am[c];
        store_vec(running_mean, tmp, C);
    }
    if (running_var) {
        load_vec(running_var, tmp, C);
        for (int64_t c = 0; c < C; c++) tmp[c] = (1 - momentum) * tmp[c] + momentum * av[c];
        store_vec(running_var, tmp, C);
    }
    free(buf);
    ct_tensor_release(x);
    return 0;
}

/* ------------------------------------------------------------------ local response norm */

/* d[n, c, s] = k + alpha / size * sum over c' in [c - size/2, c + (size-1)/2] of x^2, computed
 * in double on contiguous (N, C, S) data; y = x * d^-beta. The backward adds, for every c whose
 * window holds j, -2 alpha beta / size * x_j * g_c x_c d_c^(-beta-1). */
typedef struct {
    const double *x, *g;
    double *y;
    int64_t C, S, size;
    double alpha, beta, k;
    bool bwd;
} lrn_job;

static void lrn_scale(const double *x, int64_t C, int64_t S, int64_t size, double alpha, double k, double *d) {
    int64_t lo_off = size / 2, hi_off = (size - 1) / 2;
    for (int64_t c = 0; c < C; c++) {
        double *dr = d + c * S;
        for (int64_t s = 0; s < S; s++) dr[s] = 0;
        int64_t a = c - lo_off < 0 ? 0 : c - lo_off, b = c + hi_off >= C ? C - 1 : c + hi_off;
        for (int64_t cc = a; cc <= b; cc++) {
            const double *xr = x + cc * S;
            for (int64_t s = 0; s < S; s++) dr[s] += xr[s] * xr[s];
        }
        for (int64_t s = 0; s < S; s++) dr[s] = dr[s] / (double)size * alpha + k;
    }
}

static void lrn_run(int64_t n0, int64_t n1, void *ctx) {
    const lrn_job *j = ctx;
    int64_t C = j->C, S = j->S, P = C * S;
    double *d = malloc(sizeof(double) * (size_t)(2 * P + 1));
    if (!d) return; /* caller pre-checks a probe allocation */
    double *t = d + P;
    for (int64_t n = n0; n < n1; n++) {
        const double *x = j->x + n * P;
        double *y = j->y + n * P;
        lrn_scale(x, C, S, j->size, j->alpha, j->k, d);
        if (!j->bwd) {
            for (int64_t i = 0; i < P; i++) y[i] = x[i] * pow(d[i], -j->beta);
            continue;
        }
        const double *g = j->g + n * P;
        for (int64_t i = 0; i < P; i++) t[i] = g[i] * x[i] * pow(d[i], -j->beta - 1);
        double f = 2 * j->alpha * j->beta / (double)j->size;
        int64_t lo = (j->size - 1) / 2, hi = j->size / 2;
        for (int64_t c = 0; c < C; c++) {
            int64_t a = c - lo < 0 ? 0 : c - lo, b = c + hi >= C ? C - 1 : c + hi;
            for (int64_t s = 0; s < S; s++) {
                double acc = 0;
                for (int64_t cc = a; cc <= b; cc++) acc += t[cc * S + s];
                int64_t i = c * S + s;
                y[i] = g[i] * pow(d[i], -j->beta) - f * x[i] * acc;
            }
        }
    }
    free(d);
}

static ct_tensor *lrn_common(ct_tensor *grad, ct_tensor *self, int64_t size, double alpha, double beta, double k) {
    const char *op = "local_response_norm";
    if (cdtype(op, self) < 0) return NULL;
    if (self->ndim < 3) return ct_error(CT_ERR_VALUE, "[%s] Expected 3D or higher dimensionality input", op);
    if (size <= 0) return ct_error(CT_ERR_RUNTIME, "[%s] size must be positive", op);
    int64_t N = self->sizes[0], C = self->sizes[1], S = 1;
    for (int i = 2; i < self->ndim; i++) S *= self->sizes[i];
    void *probe = malloc(sizeof(double) * (size_t)(2 * C * S + 1));
    if (!probe) return ct_error(CT_ERR_MEMORY, "[%s] out of memory", op);
    free(probe);
    ct_tensor *x = ct_contig_as(self, CT_FLOAT64), *g = grad && x ? ct_contig_as(grad, CT_FLOAT64) : NULL;
    ct_tensor *y = x && (!grad || g) ? ct_empty(self->sizes, self->ndim, CT_FLOAT64) : NULL;
    if (y) {
        lrn_job j = {.x = ct_tensor_data(x), .g = g ? ct_tensor_data(g) : NULL, .y = ct_tensor_data(y), .C = C, .S = S,
                     .size = size, .alpha = alpha, .beta = beta, .k = k, .bwd = grad != NULL};
        int64_t grain = CT_GRAIN / (C * S * size + 1);
        if (N > 0) ct_parallel_for(N, grain < 1 ? 1 : grain, lrn_run, &j);
    }
    ct_tensor_release(x), ct_tensor_release(g);
    return finish(y, self->dtype);
}

ct_tensor *ct_nn_local_response_norm_impl(ct_tensor *self, int64_t size, double alpha, double beta, double k) {
    return lrn_common(NULL, self, size, alpha, beta, k);
}

ct_tensor *ct_nn_lrn_bwd(ct_tensor *grad, ct_tensor *self, int64_t size, double alpha, double beta, double k) {
    return lrn_common(grad, self, size, alpha, beta, k);
}

/* ------------------------------------------------------------------ rsqrt_eps */

/* (x + eps)^-1/2 elementwise: the differentiable 1/std used by the create_graph path of the
 * norm backwards (formulas_norm.c). */
ct_tensor *ct_nn_rsqrt_eps_impl(ct_tensor *self, double eps) {
    int cd = cdtype("rsqrt", self);
    if (cd < 0) return NULL;
    ct_tensor *x = ct_contig_as(self, cd);
    ct_tensor *y = x ? ct_empty(self->sizes, self->ndim, cd) : NULL;
    if (y) {
        if (cd == CT_FLOAT64) {
            const double *a = ct_tensor_data(x);
            double *b = ct_tensor_data(y);
            for (int64_t i = 0; i < x->numel; i++) b[i] = 1.0 / sqrt(a[i] + eps);
        } else {
            const float *a = ct_tensor_data(x);
            float *b = ct_tensor_data(y);
            for (int64_t i = 0; i < x->numel; i++) b[i] = 1.0f / sqrtf(a[i] + (float)eps);
        }
    }
    ct_tensor_release(x);
    return finish(y, self->dtype);
}
