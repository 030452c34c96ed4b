/* Loss kernels: pointwise losses (mse, l1, smooth_l1, huber, bce, bce-with-logits, kl_div,
 * poisson/gaussian nll, soft margin, hinge embedding, margin ranking, cosine embedding,
 * triplet margin) behind one op with per-kind forward/derivative formulas; the fused
 * cross_entropy / nll_loss kernel (log_softmax + nll in one pass, backward softmax - onehot);
 * multi-margin losses; row norms and cosine similarity; the loss reduction op. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ctorch/autograd.h"
#include "ctorch/ops_gen.h"
#include "nn.h"
#include "vmath.h"
#include "rowops.h"

enum {
    PW_MSE = 0, PW_L1, PW_SMOOTH_L1, PW_HUBER, PW_BCE, PW_BCE_LOGITS, PW_SOFT_MARGIN, PW_KL_DIV, PW_POISSON,
    PW_GAUSSIAN, PW_HINGE_EMB, PW_MARGIN_RANK, PW_COS_EMB, PW_TRIPLET, PW_MLSM, PW_COUNT
};

static const char *const pw_names[PW_COUNT] = {
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "soft_margin_loss", "kl_div", "poisson_nll_loss", "gaussian_nll_loss",
    "hinge_embedding_loss", "margin_ranking_loss", "cosine_embedding_loss", "triplet_margin_loss",
    "multilabel_soft_margin_loss"};

CT_VINLINE double sgn(double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0); }
/* log1p(e) (e > -1) with the vectorisable log: log(u) * e / (u - 1), u = 1 + e. */
CT_VINLINE double vlog1p01(double e) {
    double u = 1.0 + e;
    double d = u - 1.0;
    return u == 1.0 ? e : ct_vlog(u) * e / (d == 0 ? 1.0 : d);
}
CT_VINLINE double softplus_neg(double x) { return vlog1p01(ct_vexp(-fabs(x))) + (x < 0 ? -x : 0.0); } /* log(1+e^-x) */
CT_VINLINE double sigm(double x) { return 1.0 / (1.0 + ct_vexp(-x)); }
CT_VINLINE double logsig(double x) { return (x < 0 ? x : 0.0) - vlog1p01(ct_vexp(-fabs(x))); }

/* Loss of one element. w: weight or third input (var, y of margin ranking, d_pn), pw: pos_weight. */
CT_VINLINE double pw_val_raw(int kind, double x, double y, double w, double pw, double p0, double p1) {
    double d;
    switch (kind) {
    case PW_MSE: d = x - y; return d * d;
    case PW_L1: return fabs(x - y);
    case PW_SMOOTH_L1:
        d = fabs(x - y);
        if (p0 == 0) return d;
        return d < p0 ? 0.5 * d * d / p0 : d - 0.5 * p0;
    case PW_HUBER:
        d = fabs(x - y);
        return d < p0 ? 0.5 * d * d : p0 * (d - 0.5 * p0);
    case PW_BCE: {
        double lx = ct_vlog(x), l1x = vlog1p01(-x);
        if (lx < -100) lx = -100;
        if (l1x < -100) l1x = -100;
        return -w * (y * lx + (1 - y) * l1x);
    }
    case PW_BCE_LOGITS: return w * ((1 - y) * x + (1 + (pw - 1) * y) * softplus_neg(x));
    case PW_SOFT_MARGIN: return softplus_neg(y * x);
    case PW_KL_DIV:
        if (p0 != 0) return ct_vexp(y) * (y - x);
        return (y > 0 ? y * ct_vlog(y) : (y == 0 ? 0.0 : NAN)) - y * x;
    case PW_POISSON: {
        int flags = (int)p0;
        double l = (flags & 1) ? ct_vexp(x) - y * x : x - y * ct_vlog(x + p1);
        if ((flags & 2) && y > 1) l += y * ct_vlog(y) - y + 0.5 * ct_vlog(2 * M_PI * y);
        return l;
    }
    case PW_GAUSSIAN: {
        double v = w < p1 ? p1 : w;
        d = x - y;
        return 0.5 * (ct_vlog(v) + d * d / v) + (p0 != 0 ? 0.9189385332046727 : 0.0);
    }
    case PW_HINGE_EMB: {
        double l = 0;
        if (y != 1) l += (p0 - x) > 0 ? p0 - x : 0.0;
        if (y != -1) l += x;
        return l;
    }
    case PW_MARGIN_RANK: d = -w * (x - y) + p0; return d > 0 ? d : 0.0;
    case PW_COS_EMB: { /* x = cos, y = target */
        double l = 0;
        if (y == 1) l += 1 - x;
        if (y == -1) l += (x - p0) > 0 ? x - p0 : 0.0;
        return l;
    }
    case PW_TRIPLET: { /* x = d(a,p), y = d(a,n), w = d(p,n) when swapping (p1 != 0) */
        double dn = (p1 != 0 && w < y) ? w : y;
        d = p0 + x - dn;
        return d > 0 ? d : 0.0;
    }
    case PW_MLSM: return -w * (y * logsig(x) + (1 - y) * logsig(-x));
    }
    return NAN;
}

CT_VINLINE double pw_val(int kind, double x, double y, double w, double pw, double p0, double p1) {
    double v = pw_val_raw(kind, x, y, w, pw, p0, p1);
    return kind <= PW_HUBER ? v * w : v;
}

/* Partial derivatives of one element's loss. */
CT_VINLINE void pw_grad_raw(int kind, double x, double y, double w, double pw, double p0, double p1, double *dx,
                           double *dy, double *dw, double *dpw) {
    double d;
    *dw = 0, *dpw = 0;
    switch (kind) {
    case PW_MSE: *dx = 2 * (x - y); *dy = -*dx; return;
    case PW_L1: *dx = sgn(x - y); *dy = -*dx; return;
    case PW_SMOOTH_L1:
        d = x - y;
        *dx = (p0 != 0 && fabs(d) < p0) ? d / p0 : sgn(d);
        *dy = -*dx;
        return;
    case PW_HUBER:
        d = x - y;
        *dx = fabs(d) < p0 ? d : p0 * sgn(d);
        *dy = -*dx;
        return;
    case PW_BCE: {
        const double eps = 1e-12;
        double den = (1 - x) * x;
        *dx = w * (x - y) / (den > eps ? den : eps);
        double lx = ct_vlog(x), l1x = vlog1p01(-x);
        if (lx < -100) lx = -100;
        if (l1x < -100) l1x = -100;
        *dy = w * (l1x - lx);
        *dw = -(y * lx + (1 - y) * l1x);
        return;
    }
    case PW_BCE_LOGITS: {
        double lw = 1 + (pw - 1) * y, sp = softplus_neg(x);
        *dx = w * ((1 - y) - lw * sigm(-x));
        *dy = w * (-x + (pw - 1) * sp);
        *dw = (1 - y) * x + lw * sp;
        *dpw = w * y * sp;
        return;
    }
    case PW_SOFT_MARGIN: {
        double s = sigm(-y * x);
        *dx = -y * s;
        *dy = -x * s;
        return;
    }
    case PW_KL_DIV:
        if (p0 != 0) {
            double e = ct_vexp(y);
            *dx = -e;
            *dy = e * (y - x + 1);
        } else {
            *dx = -y;
            *dy = (y > 0 ? ct_vlog(y) + 1 : (y == 0 ? -INFINITY : NAN)) - x;
            if (y == 0) *dy = 0; /* torch: xlogy's gradient at 0 is taken as 0 via masking */
        }
        return;
    case PW_POISSON: {
        int flags = (int)p0;
        if (flags & 1) {
            *dx = ct_vexp(x) - y;
            *dy = -x;
        } else {
            *dx = 1 - y / (x + p1);
            *dy = -ct_vlog(x + p1);
        }
        if ((flags & 2) && y > 1) *dy += ct_vlog(y) + 0.5 / y;
        return;
    }
    case PW_GAUSSIAN: {
        double v = w < p1 ? p1 : w;
        d = x - y;
        *dx = d / v;
        *dy = -*dx;
        *dw = 0.5 * (1 / v - d * d / (v * v));
        return;
    }
    case PW_HINGE_EMB:
        *dx = 0, *dy = 0;
        if (y != 1 && p0 - x > 0) *dx -= 1;
        if (y != -1) *dx += 1;
        return;
    case PW_MARGIN_RANK:
        d = -w * (x - y) + p0;
        if (d > 0) {
            *dx = -w, *dy = w, *dw = -(x - y);
        } else {
            *dx = 0, *dy = 0;
        }
        return;
    case PW_COS_EMB:
        *dx = 0, *dy = 0;
        if (y == 1) *dx = -1;
        if (y == -1 && x - p0 > 0) *dx = 1;
        return;
    case PW_TRIPLET: {
        bool use_w = p1 != 0 && w < y;
        double dn = use_w ? w : y;
        *dx = 0, *dy = 0;
        if (p0 + x - dn > 0) {
            *dx = 1;
            if (use_w)
                *dw = -1;
            else
                *dy = -1;
        }
        return;
    }
    case PW_MLSM:
        *dx = -w * (y * (1 - sigm(x)) - (1 - y) * sigm(x));
        *dy = -w * (logsig(x) - logsig(-x));
        *dw = -(y * logsig(x) + (1 - y) * logsig(-x));
        return;
    }
    *dx = *dy = NAN;
}

CT_VINLINE void pw_grad(int kind, double x, double y, double w, double pw, double p0, double p1, double *dx,
                           double *dy, double *dw, double *dpw) {
    pw_grad_raw(kind, x, y, w, pw, p0, p1, dx, dy, dw, dpw);
    if (kind <= PW_HUBER) {
        *dx *= w;
        *dy *= w;
        *dw = pw_val_raw(kind, x, y, w, pw, p0, p1);
    }
}

typedef struct {
    int kind;
    double p0, p1, scale;
    int has_w;
    bool want[3];
} pw_ctx;

#define PW_LOAD(T, k) ((double)*(const T *)(p[k] + i * s[k]))

/* One loop per kind (the kind is a constant inside each, so the formula is specialised). */
#define PW_KINDS(X)                                                                          \
    X(PW_MSE) X(PW_L1) X(PW_SMOOTH_L1) X(PW_HUBER) X(PW_BCE) X(PW_BCE_LOGITS) X(PW_SOFT_MARGIN) \
    X(PW_KL_DIV) X(PW_POISSON) X(PW_GAUSSIAN) X(PW_HINGE_EMB) X(PW_MARGIN_RANK) X(PW_COS_EMB)   \
    X(PW_TRIPLET) X(PW_MLSM)

/* float32 binary_cross_entropy_with_logits over contiguous x, y (the common case): float
 * math with the vectorised exp/log1p; weight / pos_weight (stride 0 when broadcast scalars
 * or absent) are loaded with their strides. loss = w * ((1-y)*x + (1+(pw-1)*y) * sp),
 * sp = log(1 + e^-x) = log1p(e^-|x|) + max(-x, 0). */
static void bce_logits_fwd_f32(float *restrict o, const float *restrict x, const float *restrict y,
                               const char *wp, int64_t ws, const char *pp, int64_t ps, int64_t n) {
    if (ws == 0 && ps == 0) {
        const float w = *(const float *)wp, pm1 = *(const float *)pp - 1.0f;
        for (int64_t i = 0; i < n; i++) {
            float a = x[i], b = y[i];
            float sp = ct_vlog1pf(ct_vexpf(-fabsf(a))) + (a < 0 ? -a : 0.0f);
            o[i] = w * ((1.0f - b) * a + (1.0f + pm1 * b) * sp);
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float a = x[i], b = y[i];
        float w = *(const float *)(wp + i * ws), pm1 = *(const float *)(pp + i * ps) - 1.0f;
        float sp = ct_vlog1pf(ct_vexpf(-fabsf(a))) + (a < 0 ? -a : 0.0f);
        o[i] = w * ((1.0f - b) * a + (1.0f + pm1 * b) * sp);
    }
}
/* gx = g * scale * w * ((1-y) - (1+(pw-1)*y) * sigmoid(-x)) */
static void bce_logits_bwd_f32(float *restrict gx, const float *restrict x, const float *restrict y,
                               const char *wp, int64_t ws, const char *pp, int64_t ps, const char *gp,
                               int64_t gs, float scale, int64_t n) {
    if (ws == 0 && ps == 0 && gs == 0) {
        const float k = scale * *(const float *)gp * *(const float *)wp, pm1 = *(const float *)pp - 1.0f;
        for (int64_t i = 0; i < n; i++) {
            float a = x[i], b = y[i];
            gx[i] = k * ((1.0f - b) - (1.0f + pm1 * b) / (1.0f + ct_vexpf(a)));
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float a = x[i], b = y[i];
        float w = *(const float *)(wp + i * ws), pm1 = *(const float *)(pp + i * ps) - 1.0f;
        float g = *(const float *)(gp + i * gs);
        gx[i] = scale * g * w * ((1.0f - b) - (1.0f + pm1 * b) / (1.0f + ct_vexpf(a)));
    }
}

/* operands: out, x, y, w, pw */
#define PW_FWD(NAME, T)                                                                      \
    static void NAME(char **p, const int64_t *s, int64_t n, void *vctx) {                   \
        const pw_ctx *c = (const pw_ctx *)vctx;                                             \
        if (c->kind == PW_MSE && !c->has_w && s[0] == sizeof(T) && s[1] == sizeof(T) && s[2] == sizeof(T)) { \
            T *restrict o = (T *)p[0];                                                       \
            const T *restrict x = (const T *)p[1], *restrict y = (const T *)p[2];            \
            for (int64_t i = 0; i < n; i++) {                                                \
                T d = x[i] - y[i];                                                           \
                o[i] = d * d;                                                                \
            }                                                                                \
            return;                                                                          \
        }                                                                                    \
        if (sizeof(T) == 4 && c->kind == PW_BCE_LOGITS && s[0] == 4 && s[1] == 4 && s[2] == 4) { \
            bce_logits_fwd_f32((float *)p[0], (const float *)p[1], (const float *)p[2], p[3], s[3], \
                               p[4], s[4], n);                                               \
            return;                                                                          \
        }                                                                                    \
        switch (c->kind) {                                                                   \
            PW_KINDS(PW_FWD_CASE_##T)                                                        \
        }                                                                                    \
    }
#define PWB 64
#define PW_FWD_CASE(K, T)                                                                    \
    case K: {                                                                                \
        double xb[PWB], yb[PWB], wb[PWB], pb[PWB], ob[PWB];                                  \
        for (int64_t i0 = 0; i0 < n; i0 += PWB) {                                            \
            int64_t m = n - i0 < PWB ? n - i0 : PWB;                                         \
            for (int64_t j = 0; j < m; j++) {                                                \
                int64_t i = i0 + j;                                                          \
                xb[j] = PW_LOAD(T, 1), yb[j] = PW_LOAD(T, 2), wb[j] = PW_LOAD(T, 3), pb[j] = PW_LOAD(T, 4); \
            }                                                                                \
            for (int64_t j = 0; j < m; j++) ob[j] = pw_val(K, xb[j], yb[j], wb[j], pb[j], c->p0, c->p1); \
            for (int64_t j = 0; j < m; j++) *(T *)(p[0] + (i0 + j) * s[0]) = (T)ob[j];       \
        }                                                                                    \
        break;                                                                               \
    }
#define PW_FWD_CASE_float(K) PW_FWD_CASE(K, float)
#define PW_FWD_CASE_double(K) PW_FWD_CASE(K, double)
PW_FWD(pw_fwd_f32, float)
PW_FWD(pw_fwd_f64, double)

/* operands: gx, gy, gw (written when wanted), x, y, w, pw, g (the incoming gradient,
 * broadcast); every gradient is scaled by c->scale (1/numel for mean). */
#define PW_BWD_CASE(K, T)                                                                    \
    case K: {                                                                                \
        double xb[PWB], yb[PWB], wb[PWB], pb[PWB], gb[PWB], dxb[PWB], dyb[PWB], dwb[PWB];    \
        for (int64_t i0 = 0; i0 < n; i0 += PWB) {                                            \
            int64_t m = n - i0 < PWB ? n - i0 : PWB;                                         \
            for (int64_t j = 0; j < m; j++) {                                                \
                int64_t i = i0 + j;                                                          \
                xb[j] = PW_LOAD(T, 3), yb[j] = PW_LOAD(T, 4), wb[j] = PW_LOAD(T, 5), pb[j] = PW_LOAD(T, 6); \
                gb[j] = c->scale * PW_LOAD(T, 7);                                            \
            }                                                                                \
            for (int64_t j = 0; j < m; j++) {                                                \
                double dx, dy, dw, dpw;                                                      \
                pw_grad(K, xb[j], yb[j], wb[j], pb[j], c->p0, c->p1, &dx, &dy, &dw, &dpw);   \
                dxb[j] = gb[j] * dx, dyb[j] = gb[j] * dy, dwb[j] = gb[j] * dw;               \
            }                                                                                \
            if (c->want[0])                                                                  \
                for (int64_t j = 0; j < m; j++) *(T *)(p[0] + (i0 + j) * s[0]) = (T)dxb[j];  \
            if (c->want[1])                                                                  \
                for (int64_t j = 0; j < m; j++) *(T *)(p[1] + (i0 + j) * s[1]) = (T)dyb[j];  \
            if (c->want[2])                                                                  \
                for (int64_t j = 0; j < m; j++) *(T *)(p[2] + (i0 + j) * s[2]) = (T)dwb[j];  \
        }                                                                                    \
        break;                                                                               \
    }
#define PW_BWD_CASE_float(K) PW_BWD_CASE(K, float)
#define PW_BWD_CASE_double(K) PW_BWD_CASE(K, double)
#define PW_BWD(NAME, T)                                                                      \
    static void NAME(char **p, const int64_t *s, int64_t n, void *vctx) {                   \
        const pw_ctx *c = (const pw_ctx *)vctx;                                             \
        if ((c->kind == PW_MSE || c->kind == PW_L1) && !c->has_w && s[3] == sizeof(T) &&    \
            s[4] == sizeof(T) && s[7] == 0 && (!c->want[0] || s[0] == sizeof(T)) &&          \
            (!c->want[1] || s[1] == sizeof(T))) {                                            \
            const T *restrict x = (const T *)p[3], *restrict y = (const T *)p[4];            \
            T k = (T)(c->scale * (double)*(const T *)p[7]);                                  \
            T *restrict gx = c->want[0] ? (T *)p[0] : NULL, *restrict gy = c->want[1] ? (T *)p[1] : NULL; \
            if (c->kind == PW_MSE) k *= 2;                                                   \
            for (int64_t i = 0; i < n; i++) {                                                \
                T d = x[i] - y[i];                                                           \
                T v = c->kind == PW_MSE ? k * d : (d > 0 ? k : (d < 0 ? -k : (T)0));         \
                if (gx) gx[i] = v;                                                           \
                if (gy) gy[i] = -v;                                                          \
            }                                                                                \
            return;                                                                          \
        }                                                                                    \
        if (sizeof(T) == 4 && c->kind == PW_BCE_LOGITS && c->want[0] && !c->want[1] && !c->want[2] && \
            s[0] == 4 && s[3] == 4 && s[4] == 4) {                                           \
            bce_logits_bwd_f32((float *)p[0], (const float *)p[3], (const float *)p[4], p[5], s[5], \
                               p[6], s[6], p[7], s[7], (float)c->scale, n);                  \
            return;                                                                          \
        }                                                                                    \
        switch (c->kind) {                                                                   \
            PW_KINDS(PW_BWD_CASE_##T)                                                        \
        }                                                                                    \
    }
PW_BWD(pw_bwd_f32, float)
PW_BWD(pw_bwd_f64, double)

static int work_dtype(int d) { return d == CT_FLOAT64 ? CT_FLOAT64 : CT_FLOAT32; }

static ct_tensor *one_like(int dtype, double v) { return ct_scalar_tensor_f64(v, dtype); }

/* broadcast shape of up to 4 tensors (NULL skipped) */
static int bshape(ct_tensor *const *ts, int n, int64_t *shape, const char *op) {
    int nd = 0;
    for (int k = 0; k < n; k++) {
        if (!ts[k]) continue;
        int64_t tmp[CT_MAX_DIM];
        nd = ct_broadcast_shapes(shape, nd, ts[k]->sizes, ts[k]->ndim, tmp, op);
        if (nd < 0) return -1;
        memcpy(shape, tmp, sizeof(int64_t) * nd);
    }
    return nd;
}

ct_tensor *ct_nn_pw_loss_impl(ct_tensor *input, ct_tensor *target, ct_tensor *weight, ct_tensor *pos_weight,
                              int64_t kind, int64_t reduction, double p0, double p1) {
    if (kind < 0 || kind >= PW_COUNT) return ct_error(CT_ERR_VALUE, "[loss] unknown kind %lld", (long long)kind);
    const char *op = pw_names[kind];
    if (reduction < 0 || reduction > 2) return ct_error(CT_ERR_VALUE, "%lld is not a valid value for reduction", (long long)reduction);
    ct_tensor *all[4] = {input, target, weight, pos_weight};
    int dt = -1;
    for (int k = 0; k < 4; k++)
        if (all[k]) dt = dt < 0 ? all[k]->dtype : ct_result_type(2, (ct_tensor *[]){all[0], all[k]});
    if (!ct_dtype_is_floating(input->dtype) && kind != PW_HINGE_EMB && kind != PW_COS_EMB)
        dt = ct_dtype_is_floating(dt) ? dt : -1;
    if (dt < 0 || !ct_dtype_is_floating(dt)) {
        if (ct_dtype_is_floating(input->dtype))
            dt = input->dtype;
        else
            return ct_error(CT_ERR_RUNTIME, "\"%s\" not implemented for '%s'", op,
                            input->dtype == CT_INT64 ? "Long" : ct_dtype_name(input->dtype));
    }
    if (kind == PW_BCE) {
        /* all elements of input should be between 0 and 1 */
        ct_tensor *xc = ct_contig_as(input, CT_FLOAT64);
        if (!xc) return NULL;
        const double *xd = ct_tensor_data(xc);
        for (int64_t i = 0; i < xc->numel; i++)
            if (!(xd[i] >= 0 && xd[i] <= 1)) {
                ct_tensor_release(xc);
                return ct_error(CT_ERR_RUNTIME, "all elements of input should be between 0 and 1");
            }
        ct_tensor_release(xc);
    }
    int64_t shape[CT_MAX_DIM];
    int nd = bshape(all, 4, shape, op);
    if (nd < 0) return NULL;
    int wdt = work_dtype(dt);
    ct_tensor *ops[5] = {0};
    ct_tensor *res = NULL, *out = NULL;
    ops[0] = ct_empty(shape, nd, wdt);
    for (int k = 0; k < 4 && ops[0]; k++) {
        ops[k + 1] = all[k] ? ct_contig_as(all[k], wdt) : one_like(wdt, 1.0);
        if (!ops[k + 1]) goto done;
    }
    if (!ops[0]) goto done;
    {
        ct_iter it;
        if (ct_iter_init(&it, 5, ops, shape, nd, op)) goto done;
        pw_ctx c = {(int)kind, p0, p1, 1.0, weight != NULL};
        if (it.numel) ct_iter_run(&it, wdt == CT_FLOAT64 ? pw_fwd_f64 : pw_fwd_f32, &c, true);
    }
    if (reduction == CT_RED_NONE) {
        out = ops[0];
        ops[0] = NULL;
    } else {
        out = reduction == CT_RED_SUM ? ct_sum_all(ops[0], -1) : ct_mean_all(ops[0], -1);
    }
    if (out && out->dtype != dt) {
        res = ct_to_dtype(out, dt, false);
        ct_tensor_release(out);
    } else {
        res = out;
    }
done:
    for (int k = 0; k < 5; k++) ct_tensor_release(ops[k]);
    return res;
}

int ct_nn_pw_loss_backward(ct_tensor *grad, ct_tensor *input, ct_tensor *target, ct_tensor *weight,
                           ct_tensor *pos_weight, int64_t kind, int64_t reduction, double p0, double p1,
                           const bool *want, ct_tensor **out) {
    ct_tensor *all[4] = {input, target, weight, pos_weight};
    int64_t shape[CT_MAX_DIM];
    int nd = bshape(all, 4, shape, "loss_backward");
    if (nd < 0) return -1;
    int wdt = work_dtype(input->dtype == CT_FLOAT64 || (target && target->dtype == CT_FLOAT64) ? CT_FLOAT64 : input->dtype);
    ct_tensor *ops[8] = {0};
    int rc = -1;
    double scale = 1.0;
    int64_t numel = 1;
    for (int d = 0; d < nd; d++) numel *= shape[d];
    if (reduction == CT_RED_MEAN) scale = 1.0 / (double)numel;
    for (int k = 0; k < 3; k++)
        if (!(ops[k] = want[k] ? ct_empty(shape, nd, wdt) : one_like(wdt, 0.0))) goto done;
    for (int k = 0; k < 4; k++) {
        ops[k + 3] = all[k] ? ct_contig_as(all[k], wdt) : one_like(wdt, 1.0);
        if (!ops[k + 3]) goto done;
    }
    if (!(ops[7] = ct_contig_as(grad, wdt))) goto done;
    {
        ct_iter it;
        if (ct_iter_init(&it, 8, ops, shape, nd, "loss_backward")) goto done;
        pw_ctx c = {(int)kind, p0, p1, scale, weight != NULL, {want[0], want[1], want[2]}};
        if (it.numel) ct_iter_run(&it, wdt == CT_FLOAT64 ? pw_bwd_f64 : pw_bwd_f32, &c, true);
    }
    for (int k = 0; k < 3; k++)
        if (want[k]) {
            out[k] = ops[k];
            ops[k] = NULL;
        }
    rc = 0;
done:
    for (int k = 0; k < 8; k++) ct_tensor_release(ops[k]);
    return rc;
}

/* ------------------------------------------------------------------ reduction op */

ct_tensor *ct_nn_reduce_loss_impl(ct_tensor *self, int64_t reduction) {
    switch (reduction) {
    case CT_RED_NONE: return ct_clone_impl(self);
    case CT_RED_MEAN: return ct_mean_all(self, -1);
    case CT_RED_SUM: return ct_sum_all(self, -1);
    case 3: {
        int64_t d = -1;
        return ct_mean(self, (ct_intlist){&d, 1}, false, -1);
    }
    }
    return ct_error(CT_ERR_VALUE, "%lld is not a valid value for reduction", (long long)reduction);
}

/* ------------------------------------------------------------------ cross entropy / nll */

typedef struct {
    const void *x;        /* (N, C, I) contiguous, work dtype */
    const int64_t *t;     /* (N*I) class indices, or NULL */
    const void *tp;       /* (N, C, I) probabilities (work dtype), or NULL */
    const double *w;      /* C weights or NULL */
    double *loss;         /* N*I per-sample losses */
    double *den;          /* N*I per-sample denominators */
    const double *gs;     /* backward: per-sample gradient scale (or NULL: gscale) */
    double gscale;
    void *gx;             /* backward output (N, C, I) */
    void *gt;             /* backward target grad (prob targets) or NULL */
    int64_t N, C, I, ignore_index;
    double ls, wsum;
    int mode, f64;
    int64_t bad;          /* out of range target seen (value + 1 stored in bad_val) */
    int64_t bad_val;
} ce_ctx;

#define CE_ROWS(NAME, T, SUF, VEXP)                                                          \
    static void NAME(int64_t begin, int64_t end, void *vctx) {                              \
        ce_ctx *c = (ce_ctx *)vctx;                                                         \
        const int64_t C = c->C, I = c->I;                                                   \
        const bool bwd = c->gx != NULL;                                                     \
        for (int64_t r = begin; r < end; r++) {                                              \
            int64_t n = r / I, i = r % I;                                                    \
            const T *x = (const T *)c->x + n * C * I + i;                                    \
            T *gx = bwd ? (T *)c->gx + n * C * I + i : NULL;                                 \
            double scale = bwd ? (c->gs ? c->gs[r] : c->gscale) : 0;                         \
            double lse = 0;                                                                  \
            if (I == 1 && c->mode == 0 && c->t && !c->w) { /* contiguous row, no weights */ \
                int64_t t = c->t[r];                                                         \
                if (t == c->ignore_index) {                                                  \
                    if (!bwd) c->loss[r] = 0, c->den[r] = 0;                                 \
                    else memset(gx, 0, sizeof(T) * (size_t)C);                               \
                    continue;                                                                \
                }                                                                            \
                if (t < 0 || t >= C) {                                                       \
                    c->bad = 1;                                                              \
                    c->bad_val = t;                                                          \
                    if (!bwd) c->loss[r] = 0, c->den[r] = 0;                                 \
                    continue;                                                                \
                }                                                                            \
                T m = row_max_##SUF(x, C);                                                   \
                if (isinf(m)) m = m > 0 ? m : 0;                                             \
                if (bwd) { /* exps written once into gx, then scaled by 1/sum in place */    \
                    T *restrict gr = gx;                                                     \
                    const T *restrict xr = x;                                                \
                    for (int64_t k = 0; k < C; k++) gr[k] = VEXP(xr[k] - m);                 \
                    double a = (1 - c->ls), b = c->ls / (double)C;                           \
                    double se = row_sum_##SUF(gr, C);                                        \
                    T coef = (T)(scale * (a + b * (double)C) / se), off = (T)(scale * b);    \
                    for (int64_t k = 0; k < C; k++) gr[k] = gr[k] * coef - off;              \
                    gx[t] = (T)(gx[t] - scale * a);                                          \
                    continue;                                                                \
                }                                                                            \
                double ls_ = log(row_sumexp_##SUF(x, C, m));                                 \
                lse = (double)m + ls_;                                                       \
                if (!bwd) {                                                                  \
                    double nll = -((double)x[t] - lse);                                      \
                    if (c->ls > 0) {                                                         \
                        double sm = (double)C * lse - row_sum_##SUF(x, C);                   \
                        nll = (1 - c->ls) * nll + c->ls / (double)C * sm;                    \
                    }                                                                        \
                    c->loss[r] = nll;                                                        \
                    c->den[r] = 1;                                                           \
                } else {                                                                     \
                    double a = (1 - c->ls), b = c->ls / (double)C;                           \
                    T coef = (T)(scale * (a + b * (double)C)), off = (T)(scale * b);         \
                    T l = (T)ls_;                                                            \
                    for (int64_t k = 0; k < C; k++) gx[k] = coef * VEXP((x[k] - m) - l) - off; \
                    gx[t] = (T)(gx[t] - scale * a);                                          \
                }                                                                            \
                continue;                                                                    \
            }                                                                                \
            if (c->mode == 0) {                                                              \
                double m = -INFINITY;                                                        \
                for (int64_t k = 0; k < C; k++) m = (double)x[k * I] > m || x[k * I] != x[k * I] ? (double)x[k * I] : m; \
                if (isinf(m)) m = m > 0 ? m : 0;                                             \
                double s = 0;                                                                \
                for (int64_t k = 0; k < C; k++) s += ct_vexp((double)x[k * I] - m);              \
                lse = m + log(s);                                                            \
            }                                                                                \
            if (c->tp) {                                                                     \
                const T *tp = (const T *)c->tp + n * C * I + i;                              \
                double l = 0, wt = 0;                                                        \
                for (int64_t k = 0; k < C; k++) {                                            \
                    double wk = c->w ? c->w[k] : 1.0;                                        \
                    double tk = (double)tp[k * I] * (1 - c->ls) + c->ls / (double)C;         \
                    l -= wk * tk * ((double)x[k * I] - lse);                                 \
                    wt += wk * tk;                                                           \
                }                                                                            \
                if (!bwd) {                                                                  \
                    c->loss[r] = l;                                                          \
                    c->den[r] = 1;                                                           \
                } else {                                                                     \
                    for (int64_t k = 0; k < C; k++) {                                        \
                        double wk = c->w ? c->w[k] : 1.0;                                    \
                        double tk = (double)tp[k * I] * (1 - c->ls) + c->ls / (double)C;     \
                        double pk = ct_vexp((double)x[k * I] - lse);                             \
                        gx[k * I] = (T)(scale * (pk * wt - wk * tk));                        \
                        if (c->gt)                                                           \
                            ((T *)c->gt + n * C * I + i)[k * I] =                            \
                                (T)(-scale * wk * ((double)x[k * I] - lse) * (1 - c->ls));   \
                    }                                                                        \
                }                                                                            \
                continue;                                                                    \
            }                                                                                \
            int64_t t = c->t[r];                                                             \
            if (t == c->ignore_index) {                                                      \
                if (!bwd) {                                                                  \
                    c->loss[r] = 0;                                                          \
                    c->den[r] = 0;                                                           \
                } else {                                                                     \
                    for (int64_t k = 0; k < C; k++) gx[k * I] = 0;                           \
                }                                                                            \
                continue;                                                                    \
            }                                                                                \
            if (t < 0 || t >= C) {                                                           \
                c->bad = 1;                                                                  \
                c->bad_val = t;                                                              \
                if (!bwd) c->loss[r] = 0, c->den[r] = 0;                                     \
                continue;                                                                    \
            }                                                                                \
            double wt = c->w ? c->w[t] : 1.0;                                                \
            if (!bwd) {                                                                      \
                double nll = c->mode == 0 ? -wt * ((double)x[t * I] - lse) : -wt * (double)x[t * I]; \
                if (c->ls > 0) {                                                             \
                    double sm = 0;                                                           \
                    for (int64_t k = 0; k < C; k++)                                          \
                        sm -= (c->w ? c->w[k] : 1.0) * ((double)x[k * I] - lse);             \
                    nll = (1 - c->ls) * nll + c->ls / (double)C * sm;                        \
                }                                                                            \
                c->loss[r] = nll;                                                            \
                c->den[r] = wt;                                                              \
            } else if (c->mode == 1) {                                                       \
                for (int64_t k = 0; k < C; k++) gx[k * I] = 0;                               \
                gx[t * I] = (T)(-scale * wt);                                                \
            } else {                                                                         \
                double a = (1 - c->ls) * wt, b = c->ls / (double)C;                          \
                for (int64_t k = 0; k < C; k++) {                                            \
                    double pk = ct_vexp((double)x[k * I] - lse);                                 \
                    double v = a * pk + b * (c->wsum * pk - (c->w ? c->w[k] : 1.0));         \
                    if (k == t) v -= a;                                                      \
                    gx[k * I] = (T)(scale * v);                                              \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }
CE_ROWS(ce_rows_f32, float, f32, ct_vexpf)
CE_ROWS(ce_rows_f64, double, f64, ct_vexp)

typedef struct {
    ct_tensor *x, *t, *tp, *w;
    int64_t N, C, I;
    int64_t out_sizes[CT_MAX_DIM];
    int out_ndim;
} ce_prep;

static void ce_prep_free(ce_prep *p) {
    ct_tensor_release(p->x);
    ct_tensor_release(p->t);
    ct_tensor_release(p->tp);
    ct_tensor_release(p->w);
}

static const char *tname(int d) {
    static const char *n[] = {"Bool", "Byte", "Char", "Short", "Int", "Long", "Half", "BFloat16", "Float", "Double"};
    return (d >= 0 && d < CT_NUM_DTYPES) ? n[d] : "?";
}

static int ce_prepare(ct_tensor *input, ct_tensor *target, ct_tensor *weight, int mode, double ls, ce_prep *p) {
    memset(p, 0, sizeof *p);
    if (input->ndim < 1) return ct_errorf(CT_ERR_VALUE, "Expected 1 or more dimensions (got %d)", input->ndim);
    if (!ct_dtype_is_floating(input->dtype))
        return ct_errorf(CT_ERR_RUNTIME, "\"%s\" not implemented for '%s'", mode == 0 ? "log_softmax_lastdim_kernel_impl" : "nll_loss_out_frame", tname(input->dtype));
    bool prob = false;
    if (mode == 0 && ct_dtype_is_floating(target->dtype)) {
        bool same = target->ndim == input->ndim;
        for (int i = 0; same && i < input->ndim; i++) same = target->sizes[i] == input->sizes[i];
        if (!same) {
            char b1[128], b2[128];
            return ct_errorf(CT_ERR_RUNTIME,
                             "Expected floating point type for target with class probabilities, or target "
                             "shape %s to match input shape %s",
                             ct_shape_str(target->sizes, target->ndim, b1, sizeof b1),
                             ct_shape_str(input->sizes, input->ndim, b2, sizeof b2));
        }
        prob = true;
        (void)ls;
    }
    int cdim = input->ndim == 1 ? 0 : 1;
    p->C = input->sizes[cdim];
    p->N = input->ndim == 1 ? 1 : input->sizes[0];
    p->I = 1;
    for (int i = 2; i < input->ndim; i++) p->I *= input->sizes[i];
    if (!prob) {
        if (target->dtype != CT_INT64) {
            return ct_errorf(CT_ERR_RUNTIME, "expected scalar type Long but found %s", tname(target->dtype));
        }
        if (input->ndim == 1) {
            if (target->ndim != 0 && !(target->ndim == 1 && target->sizes[0] == 1 && mode == 1))
                return ct_errorf(CT_ERR_RUNTIME, "0D or 1D target tensor expected, multi-target not supported");
        } else {
            if (target->ndim >= 1 && input->sizes[0] != target->sizes[0])
                return ct_errorf(CT_ERR_VALUE, "Expected input batch_size (%lld) to match target batch_size (%lld).",
                                 (long long)input->sizes[0], (long long)target->sizes[0]);
            bool ok = target->ndim == input->ndim - 1;
            for (int i = 2; ok && i < input->ndim; i++) ok = target->sizes[i - 1] == input->sizes[i];
            if (!ok) {
                char b1[128], b2[128];
                if (input->ndim == 2)
                    return ct_errorf(CT_ERR_RUNTIME, "0D or 1D target tensor expected, multi-target not supported");
                return ct_errorf(CT_ERR_RUNTIME, "size mismatch (got input: %s, target: %s)",
                                 ct_shape_str(input->sizes, input->ndim, b1, sizeof b1),
                                 ct_shape_str(target->sizes, target->ndim, b2, sizeof b2));
            }
        }
    }
    if (weight && weight->numel != p->C) {
        char b1[128];
        return ct_errorf(CT_ERR_RUNTIME,
                         "weight tensor should be defined either for all %lld classes or no classes but got weight "
                         "tensor of shape: %s",
                         (long long)p->C, ct_shape_str(weight->sizes, weight->ndim, b1, sizeof b1));
    }
    int wdt = work_dtype(input->dtype);
    p->x = ct_contig_as(input, wdt);
    if (!p->x) return -1;
    if (prob) {
        p->tp = ct_contig_as(target, wdt);
        if (!p->tp) return -1;
    } else {
        p->t = ct_contig_as(target, CT_INT64);
        if (!p->t) return -1;
    }
    if (weight) {
        p->w = ct_contig_as(weight, CT_FLOAT64);
        if (!p->w) return -1;
    }
    if (prob) {
        p->out_ndim = 0;
        if (input->ndim > 1) {
            p->out_sizes[p->out_ndim++] = input->sizes[0];
            for (int i = 2; i < input->ndim; i++) p->out_sizes[p->out_ndim++] = input->sizes[i];
        }
    } else {
        p->out_ndim = input->ndim == 1 ? 0 : target->ndim;
        for (int i = 0; i < p->out_ndim; i++) p->out_sizes[i] = target->sizes[i];
    }
    return 0;
}

static void ce_fill(ce_ctx *c, ce_prep *p, int mode, int64_t ignore_index, double ls) {
    memset(c, 0, sizeof *c);
    c->x = ct_tensor_data(p->x);
    c->t = p->t ? ct_tensor_data(p->t) : NULL;
    c->tp = p->tp ? ct_tensor_data(p->tp) : NULL;
    c->w = p->w ? ct_tensor_data(p->w) : NULL;
    c->N = p->N, c->C = p->C, c->I = p->I;
    c->ignore_index = ignore_index;
    c->ls = ls;
    c->mode = mode;
    c->f64 = p->x->dtype == CT_FLOAT64;
    c->wsum = 0;
    for (int64_t k = 0; k < p->C; k++) c->wsum += c->w ? c->w[k] : 1.0;
}

ct_tensor *ct_nn_cross_entropy_impl(ct_tensor *input, ct_tensor *target, ct_tensor *weight, int64_t reduction,
                                    int64_t ignore_index, double label_smoothing, int64_t mode) {
    if (reduction < 0 || reduction > 2)
        return ct_error(CT_ERR_VALUE, "%lld is not a valid value for reduction", (long long)reduction);
    if (label_smoothing < 0 || label_smoothing > 1)
        return ct_error(CT_ERR_RUNTIME, "label_smoothing must be between 0.0 and 1.0. Got: %g", label_smoothing);
    ce_prep p;
    if (ce_prepare(input, target, weight, (int)mode, label_smoothing, &p)) {
        ce_prep_free(&p);
        return NULL;
    }
    int64_t rows = p.N * p.I;
    double *buf = malloc(sizeof(double) * 2 * (size_t)(rows > 0 ? rows : 1));
    ct_tensor *res = NULL;
    if (!buf) {
        ce_prep_free(&p);
        return ct_error(CT_ERR_RUNTIME, "out of memory");
    }
    ce_ctx c;
    ce_fill(&c, &p, (int)mode, ignore_index, label_smoothing);
    c.loss = buf;
    c.den = buf + rows;
    if (rows > 0 && p.C > 0) {
        int64_t grain = CT_GRAIN / (p.C > 0 ? p.C : 1);
        ct_parallel_for(rows, grain > 0 ? grain : 1, c.f64 ? ce_rows_f64 : ce_rows_f32, &c);
    } else {
        for (int64_t r = 0; r < rows; r++) buf[r] = 0, buf[rows + r] = 0;
    }
    if (c.bad) {
        ct_error(CT_ERR_INDEX, "Target %lld is out of bounds.", (long long)c.bad_val);
        goto done;
    }
    if (reduction == CT_RED_NONE) {
        ct_tensor *o = ct_empty(p.out_sizes, p.out_ndim, CT_FLOAT64);
        if (!o) goto done;
        memcpy(ct_tensor_data(o), buf, sizeof(double) * (size_t)rows);
        res = ct_to_dtype(o, input->dtype, false);
        ct_tensor_release(o);
    } else {
        double s = 0, d = 0;
        for (int64_t r = 0; r < rows; r++) s += buf[r], d += buf[rows + r];
        double v = reduction == CT_RED_SUM ? s : s / d;
        res = ct_scalar_tensor_f64(v, input->dtype);
    }
done:
    free(buf);
    ce_prep_free(&p);
    return res;
}

/* per-sample gradient scales for the backward */
static double *ce_scales(ct_tensor *grad, ce_ctx *c, ce_prep *p, int64_t reduction, double *gscale) {
    int64_t rows = p->N * p->I;
    if (reduction == CT_RED_NONE) {
        ct_tensor *g = ct_contig_as(grad, CT_FLOAT64);
        if (!g) return NULL;
        double *gs = malloc(sizeof(double) * (size_t)(rows > 0 ? rows : 1));
        if (gs) memcpy(gs, ct_tensor_data(g), sizeof(double) * (size_t)rows);
        ct_tensor_release(g);
        if (!gs) ct_error(CT_ERR_RUNTIME, "out of memory");
        return gs;
    }
    ct_tensor *g = ct_contig_as(grad, CT_FLOAT64);
    if (!g) return NULL;
    double gv = *(const double *)ct_tensor_data(g);
    ct_tensor_release(g);
    if (reduction == CT_RED_MEAN) {
        double den = 0;
        if (c->tp)
            den = (double)rows;
        else
            for (int64_t r = 0; r < rows; r++) {
                int64_t t = c->t[r];
                if (t != c->ignore_index && t >= 0 && t < c->C) den += c->w ? c->w[t] : 1.0;
            }
        gv /= den;
    }
    *gscale = gv;
    return (double *)1; /* non-NULL marker: uniform scale */
}

static ct_tensor *ce_backward_common(ct_tensor *grad, ct_tensor *input, ct_tensor *target, ct_tensor *weight,
                                     int64_t reduction, int64_t ignore_index, double ls, int mode, bool want_target) {
    ce_prep p;
    if (ce_prepare(input, target, weight, mode, ls, &p)) {
        ce_prep_free(&p);
        return NULL;
    }
    ce_ctx c;
    ce_fill(&c, &p, mode, ignore_index, ls);
    ct_tensor *res = NULL, *gx = NULL, *gt = NULL;
    double *gs = ce_scales(grad, &c, &p, reduction, &c.gscale);
    if (!gs) goto done;
    c.gs = gs == (double *)1 ? NULL : gs;
    gx = ct_empty(input->sizes, input->ndim, p.x->dtype);
    if (!gx) goto done;
    c.gx = ct_tensor_data(gx);
    if (want_target) {
        gt = ct_empty(input->sizes, input->ndim, p.x->dtype);
        if (!gt) goto done;
        c.gt = ct_tensor_data(gt);
    }
    int64_t rows = p.N * p.I;
    if (rows > 0 && p.C > 0) {
        int64_t grain = CT_GRAIN / (p.C > 0 ? p.C : 1);
        ct_parallel_for(rows, grain > 0 ? grain : 1, c.f64 ? ce_rows_f64 : ce_rows_f32, &c);
    }
    ct_tensor *keep = want_target ? gt : gx;
    res = ct_to_dtype(keep, want_target ? target->dtype : input->dtype, false);
done:
    if (gs && gs != (double *)1) free(gs);
    ct_tensor_release(gx);
    ct_tensor_release(gt);
    ce_prep_free(&p);
    return res;
}

ct_tensor *ct_nn_ce_backward(ct_tensor *grad, ct_tensor *input, ct_tensor *target, ct_tensor *weight,
                             int64_t reduction, int64_t ignore_index, double label_smoothing, int mode) {
    return ce_backward_common(grad, input, target, weight, reduction, ignore_index, label_smoothing, mode, false);
}

ct_tensor *ct_nn_ce_target_backward(ct_tensor *grad, ct_tensor *input, ct_tensor *target, ct_tensor *weight,
                                    int64_t reduction, double label_smoothing) {
    return ce_backward_common(grad, input, target, weight, reduction, -100, label_smoothing, 0, true);
}

/* ------------------------------------------------------------------ multi-margin losses */

/* kind 0: multi_margin_loss (target: class index per sample, p in {1, 2}, margin, weight[C]);
 * kind 1: multilabel_margin_loss (target rows of class indices ended by -1, margin 1).
 * One sample per row of a contiguous (N, C) double copy; gx NULL for the forward. */
static int margin_rows(int kind, const double *x, const int64_t *t, const double *w, int64_t N, int64_t C, int p,
                       double margin, double *loss, const double *gs, double *gx, char *mark) {
    for (int64_t n = 0; n < N; n++) {
        const double *xr = x + n * C;
        double *gr = gx ? gx + n * C : NULL;
        if (gr) memset(gr, 0, sizeof(double) * (size_t)C);
        double l = 0, g = gx ? gs[n] / (double)C : 0;
        if (kind == 0) {
            int64_t y = t[n];
            if (y < 0 || y >= C) return ct_errorf(CT_ERR_RUNTIME, "target out of range");
            double wy = w ? w[y] : 1.0;
            for (int64_t j = 0; j < C; j++) {
                if (j == y) continue;
                double z = margin - xr[y] + xr[j];
                if (z <= 0) continue;
                l += (p == 1 ? z : z * z) * wy;
                if (gr) {
                    double c = (p == 1 ? 1.0 : 2 * z) * wy * g;
                    gr[j] += c;
                    gr[y] -= c;
                }
            }
        } else {
            const int64_t *tr = t + n * C;
            memset(mark, 0, (size_t)C);
            int64_t nt = 0;
            for (; nt < C && tr[nt] >= 0; nt++) {
                if (tr[nt] >= C) return ct_errorf(CT_ERR_RUNTIME, "target index out of range");
                mark[tr[nt]] = 1;
            }
            for (int64_t a = 0; a < nt; a++) {
                int64_t j = tr[a];
                for (int64_t k = 0; k < C; k++) {
                    if (mark[k]) continue;
                    double z = 1 - (xr[j] - xr[k]);
                    if (z <= 0) continue;
                    l += z;
                    if (gr) {
                        gr[k] += g;
                        gr[j] -= g;
                    }
                }
            }
        }
        if (loss) loss[n] = l / (double)C;
    }
    return 0;
}

static int margin_prep(ct_tensor *input, ct_tensor *target, ct_tensor *weight, int64_t kind, int64_t p,
                       ct_tensor **x, ct_tensor **t, ct_tensor **w, int64_t *N, int64_t *C) {
    *x = *t = *w = NULL;
    if (!ct_dtype_is_floating(input->dtype))
        return ct_errorf(CT_ERR_RUNTIME, "\"multi_margin_loss\" not implemented for '%s'", tname(input->dtype));
    if (input->ndim > 2 || (input->ndim == 2 && input->sizes[1] == 0) || (input->ndim <= 1 && input->numel == 0))
        return ct_errorf(CT_ERR_RUNTIME, "Expected non-empty vector or matrix with optional 0-dim batch size, but got: %s",
                         "input");
    *C = input->ndim == 0 ? 1 : input->sizes[input->ndim - 1];
    *N = input->ndim == 2 ? input->sizes[0] : 1;
    if (target->dtype != CT_INT64)
        return ct_errorf(CT_ERR_RUNTIME, "expected scalar type Long but found %s", tname(target->dtype));
    if (kind == 0) {
        if (p != 1 && p != 2) return ct_errorf(CT_ERR_VALUE, "only p == 1 and p == 2 supported");
        int64_t tn = target->numel;
        if (!(target->ndim <= 1 && tn == *N))
            return ct_errorf(CT_ERR_RUNTIME, "inconsistent target size, expected %lld but got %lld", (long long)*N,
                             (long long)tn);
        if (weight && weight->numel != *C)
            return ct_errorf(CT_ERR_RUNTIME, "inconsistent weight size, expected %lld but got %lld", (long long)*C,
                             (long long)weight->numel);
    } else {
        bool same = target->numel == input->numel && target->ndim == (input->ndim == 0 ? 1 : input->ndim);
        if (!same && !(input->ndim <= 1 && target->numel == *C))
            return ct_errorf(CT_ERR_RUNTIME, "inconsistent target size: expected the input's size");
    }
    *x = ct_contig_as(input, CT_FLOAT64);
    *t = *x ? ct_contig_as(target, CT_INT64) : NULL;
    if (!*t) return -1;
    if (weight && !(*w = ct_contig_as(weight, CT_FLOAT64))) return -1;
    return 0;
}

ct_tensor *ct_nn_margin_loss_impl(ct_tensor *input, ct_tensor *target, ct_tensor *weight, int64_t kind,
                                  int64_t reduction, int64_t p, double margin) {
    ct_tensor *x, *t, *w, *res = NULL;
    int64_t N, C;
    double *buf = NULL;
    char *mk = NULL;
    if (margin_prep(input, target, weight, kind, p, &x, &t, &w, &N, &C)) goto done;
    buf = malloc(sizeof(double) * (size_t)(N > 0 ? N : 1));
    mk = malloc((size_t)(C > 0 ? C : 1));
    if (!buf || !mk) {
        ct_error(CT_ERR_RUNTIME, "out of memory");
        goto done;
    }
    if (margin_rows((int)kind, ct_tensor_data(x), ct_tensor_data(t), w ? ct_tensor_data(w) : NULL, N, C, (int)p,
                    margin, buf, NULL, NULL, mk))
        goto done;
    if (reduction == CT_RED_NONE) {
        int64_t sz[1] = {N};
        ct_tensor *o = ct_empty(sz, input->ndim == 2 ? 1 : 0, CT_FLOAT64);
        if (!o) goto done;
        memcpy(ct_tensor_data(o), buf, sizeof(double) * (size_t)N);
        res = ct_to_dtype(o, input->dtype, false);
        ct_tensor_release(o);
    } else {
        double s = 0;
        for (int64_t n = 0; n < N; n++) s += buf[n];
        res = ct_scalar_tensor_f64(reduction == CT_RED_SUM ? s : s / (double)N, input->dtype);
    }
done:
    free(buf);
    free(mk);
    ct_tensor_release(x);
    ct_tensor_release(t);
    ct_tensor_release(w);
    return res;
}

ct_tensor *ct_nn_margin_loss_backward(ct_tensor *grad, ct_tensor *input, ct_tensor *target, ct_tensor *weight,
                                      int64_t kind, int64_t reduction, int64_t p, double margin) {
    ct_tensor *x, *t, *w, *res = NULL, *gx = NULL, *gc = NULL;
    int64_t N, C;
    double *gs = NULL;
    char *mk = NULL;
    if (margin_prep(input, target, weight, kind, p, &x, &t, &w, &N, &C)) goto done;
    gs = malloc(sizeof(double) * (size_t)(N > 0 ? N : 1));
    mk = malloc((size_t)(C > 0 ? C : 1));
    gc = ct_contig_as(grad, CT_FLOAT64);
    if (!gs || !mk || !gc) {
        if (gc) ct_error(CT_ERR_RUNTIME, "out of memory");
        goto done;
    }
    const double *gd = ct_tensor_data(gc);
    for (int64_t n = 0; n < N; n++)
        gs[n] = reduction == CT_RED_NONE ? gd[n] : (reduction == CT_RED_MEAN ? gd[0] / (double)N : gd[0]);
    gx = ct_empty(input->sizes, input->ndim, CT_FLOAT64);
    if (!gx) goto done;
    if (margin_rows((int)kind, ct_tensor_data(x), ct_tensor_data(t), w ? ct_tensor_data(w) : NULL, N, C, (int)p,
                    margin, NULL, gs, ct_tensor_data(gx), mk))
        goto done;
    res = ct_to_dtype(gx, input->dtype, false);
done:
    free(gs);
    free(mk);
    ct_tensor_release(gc);
    ct_tensor_release(gx);
    ct_tensor_release(x);
    ct_tensor_release(t);
    ct_tensor_release(w);
    return res;
}

/* ------------------------------------------------------------------ norms over a dim, cosine */

/* Move `dim` last and make contiguous in the work dtype: rows of length D. */
static ct_tensor *rows_last(ct_tensor *x, int dim, int wdt) {
    ct_tensor *m = ct_movedim_int(x, dim, -1);
    if (!m) return NULL;
    ct_tensor *c = ct_contig_as(m, wdt);
    ct_tensor_release(m);
    return c;
}

static double row_norm(const double *x, int64_t D, double p) {
    double s = 0;
    if (p == 2) {
        for (int64_t d = 0; d < D; d++) s += x[d] * x[d];
        return sqrt(s);
    }
    if (p == 1) {
        for (int64_t d = 0; d < D; d++) s += fabs(x[d]);
        return s;
    }
    if (isinf(p)) {
        double m = p > 0 ? 0 : INFINITY;
        for (int64_t d = 0; d < D; d++) m = p > 0 ? fmax(m, fabs(x[d])) : fmin(m, fabs(x[d]));
        return m;
    }
    if (p == 0) {
        for (int64_t d = 0; d < D; d++) s += x[d] != 0;
        return s;
    }
    for (int64_t d = 0; d < D; d++) s += pow(fabs(x[d]), p);
    return pow(s, 1.0 / p);
}

static int out_shape_wo(const ct_tensor *x, int dim, bool keepdim, int64_t *sz) {
    int k = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (i == dim) {
            if (keepdim) sz[k++] = 1;
        } else {
            sz[k++] = x->sizes[i];
        }
    }
    return k;
}

ct_tensor *ct_nn_norm_dim_impl(ct_tensor *self, double p, int64_t dim, bool keepdim, double eps) {
    if (!ct_dtype_is_floating(self->dtype))
        return ct_error(CT_ERR_RUNTIME, "linalg.vector_norm: Expected a floating point or complex tensor as input. "
                                        "Got %s", tname(self->dtype));
    int d = ct_wrap_dim(dim, self->ndim, "norm");
    if (d < 0) return NULL;
    ct_tensor *x = self->ndim ? rows_last(self, d, CT_FLOAT64) : ct_contig_as(self, CT_FLOAT64);
    if (!x) return NULL;
    int64_t D = self->ndim ? self->sizes[d] : 1, R = D ? x->numel / D : 0;
    if (D == 0) {
        int64_t sz[CT_MAX_DIM];
        for (int i = 0; i < self->ndim; i++) sz[i] = i == d ? 1 : self->sizes[i];
        R = 1;
        for (int i = 0; i < self->ndim; i++) R *= sz[i];
    }
    int64_t sz[CT_MAX_DIM];
    int nd = self->ndim ? out_shape_wo(self, d, keepdim, sz) : 0;
    ct_tensor *o = ct_empty(sz, nd, CT_FLOAT64);
    if (!o) {
        ct_tensor_release(x);
        return NULL;
    }
    const double *xd = ct_tensor_data(x);
    double *od = ct_tensor_data(o);
    for (int64_t r = 0; r < R; r++) {
        double v = D ? row_norm(xd + r * D, D, p) : 0;
        od[r] = v < eps ? eps : v;
    }
    ct_tensor_release(x);
    ct_tensor *res = ct_to_dtype(o, self->dtype, false);
    ct_tensor_release(o);
    return res;
}

ct_tensor *ct_nn_norm_dim_backward(ct_tensor *grad, ct_tensor *self, double p, int dim, bool keepdim, double eps) {
    int d = dim;
    ct_tensor *x = self->ndim ? rows_last(self, d, CT_FLOAT64) : ct_contig_as(self, CT_FLOAT64);
    if (!x) return NULL;
    int64_t D = self->ndim ? self->sizes[d] : 1, R = D ? x->numel / D : 0;
    /* grad in the reduced shape -> contiguous (R) */
    ct_tensor *g = ct_contig_as(grad, CT_FLOAT64);
    ct_tensor *gx = g ? ct_empty(x->sizes, x->ndim, CT_FLOAT64) : NULL;
    ct_tensor *res = NULL;
    (void)keepdim;
    if (!gx) goto done;
    const double *xd = ct_tensor_data(x), *gd = ct_tensor_data(g);
    double *od = ct_tensor_data(gx);
    for (int64_t r = 0; r < R; r++) {
        const double *xr = xd + r * D;
        double *orow = od + r * D;
        double nrm = row_norm(xr, D, p), gv = gd[r];
        if (nrm < eps || nrm == 0 || p == 0) {
            for (int64_t k = 0; k < D; k++) orow[k] = 0;
            continue;
        }
        if (p == 2) {
            for (int64_t k = 0; k < D; k++) orow[k] = gv * xr[k] / nrm;
        } else if (p == 1) {
            for (int64_t k = 0; k < D; k++) orow[k] = gv * sgn(xr[k]);
        } else if (isinf(p)) {
            int64_t cnt = 0;
            for (int64_t k = 0; k < D; k++) cnt += fabs(xr[k]) == nrm;
            for (int64_t k = 0; k < D; k++) orow[k] = fabs(xr[k]) == nrm ? gv * sgn(xr[k]) / (double)cnt : 0;
        } else {
            double den = pow(nrm, p - 1);
            for (int64_t k = 0; k < D; k++) orow[k] = gv * xr[k] * pow(fabs(xr[k]), p - 2) / den;
        }
    }
    {
        ct_tensor *m = self->ndim ? ct_movedim_int(gx, -1, d) : (ct_tensor_retain(gx), gx);
        if (m) {
            res = ct_to_dtype(m, self->dtype, true);
            ct_tensor_release(m);
        }
    }
done:
    ct_tensor_release(x);
    ct_tensor_release(g);
    ct_tensor_release(gx);
    return res;
}

/* cosine similarity over dim of the broadcast x1, x2. mode 0: F.cosine_similarity (each
 * norm clamped to eps); mode 1: cosine_embedding_loss's sqrt((|a|^2+eps)(|b|^2+eps)). */
static int cos_prep(ct_tensor *x1, ct_tensor *x2, int64_t dim, ct_tensor **a, ct_tensor **b, int *d, int64_t *shape,
                    int *nd) {
    *a = *b = NULL;
    *nd = ct_broadcast_shapes(x1->sizes, x1->ndim, x2->sizes, x2->ndim, shape, "cosine_similarity");
    if (*nd < 0) return -1;
    *d = ct_wrap_dim(dim, *nd, "cosine_similarity");
    if (*d < 0) return -1;
    ct_tensor *e1 = ct_expand(x1, (ct_intlist){shape, *nd}, false);
    ct_tensor *e2 = e1 ? ct_expand(x2, (ct_intlist){shape, *nd}, false) : NULL;
    if (e2) {
        *a = *nd ? rows_last(e1, *d, CT_FLOAT64) : ct_contig_as(e1, CT_FLOAT64);
        *b = *a ? (*nd ? rows_last(e2, *d, CT_FLOAT64) : ct_contig_as(e2, CT_FLOAT64)) : NULL;
    }
    ct_tensor_release(e1);
    ct_tensor_release(e2);
    return *b ? 0 : -1;
}

static int cos_dtype(ct_tensor *x1, ct_tensor *x2) {
    ct_tensor *ts[2] = {x1, x2};
    int dt = ct_result_type(2, ts);
    return ct_dtype_is_floating(dt) ? dt : ct_get_default_dtype();
}

ct_tensor *ct_nn_cosine_similarity_impl(ct_tensor *x1, ct_tensor *x2, int64_t dim, double eps, int64_t mode) {
    ct_tensor *a, *b, *res = NULL;
    int d, nd;
    int64_t shape[CT_MAX_DIM];
    if (cos_prep(x1, x2, dim, &a, &b, &d, shape, &nd)) {
        ct_tensor_release(a);
        return NULL;
    }
    int64_t D = nd ? shape[d] : 1, R = D ? a->numel / D : 0;
    int64_t sz[CT_MAX_DIM];
    int k = 0;
    for (int i = 0; i < nd; i++)
        if (i != d) sz[k++] = shape[i];
    if (D == 0) {
        R = 1;
        for (int i = 0; i < k; i++) R *= sz[i];
    }
    ct_tensor *o = ct_empty(sz, k, CT_FLOAT64);
    if (o) {
        const double *ad = ct_tensor_data(a), *bd = ct_tensor_data(b);
        double *od = ct_tensor_data(o);
        for (int64_t r = 0; r < R; r++) {
            const double *ar = ad + r * D, *br = bd + r * D;
            double s = 0, na = 0, nb = 0;
            for (int64_t j = 0; j < D; j++) s += ar[j] * br[j], na += ar[j] * ar[j], nb += br[j] * br[j];
            if (mode == 0) {
                double n1 = fmax(sqrt(na), eps), n2 = fmax(sqrt(nb), eps);
                od[r] = s / (n1 * n2);
            } else {
                od[r] = s / sqrt((na + 1e-12) * (nb + 1e-12));
            }
        }
        res = ct_to_dtype(o, cos_dtype(x1, x2), false);
        ct_tensor_release(o);
    }
    ct_tensor_release(a);
    ct_tensor_release(b);
    return res;
}

/* gradients w.r.t. the broadcast x1 (which = 0) or x2 (1), in the broadcast shape */
ct_tensor *ct_nn_cosine_similarity_backward(ct_tensor *grad, ct_tensor *x1, ct_tensor *x2, int64_t dim, double eps,
                                            int64_t mode, int which) {
    ct_tensor *a, *b, *res = NULL, *gx = NULL, *g = NULL;
    int d, nd;
    int64_t shape[CT_MAX_DIM];
    if (cos_prep(x1, x2, dim, &a, &b, &d, shape, &nd)) {
        ct_tensor_release(a);
        return NULL;
    }
    if (which) { /* symmetric: swap roles */
        ct_tensor *t = a;
        a = b;
        b = t;
    }
    int64_t D = nd ? shape[d] : 1, R = D ? a->numel / D : 0;
    g = ct_contig_as(grad, CT_FLOAT64);
    gx = g ? ct_empty(a->sizes, a->ndim, CT_FLOAT64) : NULL;
    if (!gx) goto done;
    const double *ad = ct_tensor_data(a), *bd = ct_tensor_data(b), *gd = ct_tensor_data(g);
    double *od = ct_tensor_data(gx);
    for (int64_t r = 0; r < R; r++) {
        const double *ar = ad + r * D, *br = bd + r * D;
        double *orow = od + r * D;
        double s = 0, na = 0, nb = 0;
        for (int64_t j = 0; j < D; j++) s += ar[j] * br[j], na += ar[j] * ar[j], nb += br[j] * br[j];
        if (mode == 0) {
            double la = sqrt(na), n1 = fmax(la, eps), n2 = fmax(sqrt(nb), eps);
            double cs = s / (n1 * n2);
            for (int64_t j = 0; j < D; j++)
                orow[j] = gd[r] * (br[j] / (n1 * n2) - (la > 0 ? cs * ar[j] / (n1 * la) : 0));
        } else {
            double den = sqrt((na + 1e-12) * (nb + 1e-12)), cs = s / den;
            for (int64_t j = 0; j < D; j++) orow[j] = gd[r] * (br[j] / den - cs * ar[j] / (na + 1e-12));
        }
    }
    {
        ct_tensor *m = nd ? ct_movedim_int(gx, -1, d) : (ct_tensor_retain(gx), gx);
        if (m) {
            res = ct_to_dtype(m, cos_dtype(x1, x2), true);
            ct_tensor_release(m);
        }
    }
done:
    ct_tensor_release(a);
    ct_tensor_release(b);
    ct_tensor_release(g);
    ct_tensor_release(gx);
    return res;
}

/* ------------------------------------------------------------------ CTC */

/* Connectionist temporal classification in log space: alpha (forward) for the loss, beta
 * (backward) for the gradient. log_probs (T, N, C); targets (N, S) padded or 1-D
 * concatenated. The gradient follows torch's CPU kernel: exp(lp) - exp(log(alpha*beta) +
 * nll - lp) per (t, c) for t < input_length, 0 after (it is meant to flow into a
 * log_softmax). */
typedef struct {
    const double *lp;
    const int64_t *tg, *il, *tl, *toff;
    int64_t T, N, C, S2d; /* S2d: row stride of 2-D targets, 0 for 1-D */
    int64_t blank;
    double *nll;          /* N */
    double *grad;         /* (T, N, C) or NULL */
    const double *gscale; /* N, with grad */
    bool zero_inf;
    int err;
} ctc_ctx;

static inline double lse2(double a, double b) {
    if (a == -INFINITY) return b;
    if (b == -INFINITY) return a;
    double m = a > b ? a : b;
    return m + log1p(exp(-fabs(a - b)));
}

static void ctc_samples(int64_t b0, int64_t b1, void *vctx) {
    ctc_ctx *c = vctx;
    const int64_t C = c->C, N = c->N;
    for (int64_t b = b0; b < b1; b++) {
        int64_t Tb = c->il[b], L = c->tl[b], S = 2 * L + 1;
        const int64_t *tgt = c->S2d ? c->tg + b * c->S2d : c->tg + c->toff[b];
        double *alpha = malloc(sizeof(double) * (size_t)((Tb > 0 ? Tb : 1) * S));
        double *beta = c->grad ? malloc(sizeof(double) * (size_t)((Tb > 0 ? Tb : 1) * S)) : NULL;
        if (!alpha || (c->grad && !beta)) {
            free(alpha);
            free(beta);
            c->err = 1;
            continue;
        }
#define LP(t, k) c->lp[((t) * N + b) * C + (k)]
#define LAB(s) ((s) % 2 == 0 ? c->blank : tgt[(s) / 2])
        double nll;
        if (Tb == 0) {
            nll = L == 0 ? 0.0 : INFINITY;
        } else {
            for (int64_t s = 0; s < S; s++) alpha[s] = -INFINITY;
            alpha[0] = LP(0, c->blank);
            if (S > 1) alpha[1] = LP(0, LAB(1));
            for (int64_t t = 1; t < Tb; t++) {
                double *a = alpha + t * S, *ap = alpha + (t - 1) * S;
                for (int64_t s = 0; s < S; s++) {
                    int64_t l = LAB(s);
                    double v = ap[s];
                    if (s >= 1) v = lse2(v, ap[s - 1]);
                    if (s >= 2 && l != c->blank && l != LAB(s - 2)) v = lse2(v, ap[s - 2]);
                    a[s] = v == -INFINITY ? -INFINITY : v + LP(t, l);
                }
            }
            double *al = alpha + (Tb - 1) * S;
            double ll = al[S - 1];
            if (S > 1) ll = lse2(ll, al[S - 2]);
            nll = -ll;
        }
        bool zero = c->zero_inf && isinf(nll);
        c->nll[b] = zero ? 0.0 : nll;
        if (c->grad) {
            double g = c->gscale[b];
            for (int64_t t = 0; t < c->T; t++)
                for (int64_t k = 0; k < C; k++) c->grad[(t * N + b) * C + k] = 0;
            if (!zero && Tb > 0) {
                for (int64_t s = 0; s < S; s++) beta[(Tb - 1) * S + s] = -INFINITY;
                beta[(Tb - 1) * S + S - 1] = LP(Tb - 1, c->blank);
                if (S > 1) beta[(Tb - 1) * S + S - 2] = LP(Tb - 1, LAB(S - 2));
                for (int64_t t = Tb - 2; t >= 0; t--) {
                    double *bt = beta + t * S, *bn = beta + (t + 1) * S;
                    for (int64_t s = 0; s < S; s++) {
                        int64_t l = LAB(s);
                        double v = bn[s];
                        if (s + 1 < S) v = lse2(v, bn[s + 1]);
                        if (s + 2 < S && l != c->blank && l != LAB(s + 2)) v = lse2(v, bn[s + 2]);
                        bt[s] = v == -INFINITY ? -INFINITY : v + LP(t, l);
                    }
                }
                double *lcab = malloc(sizeof(double) * (size_t)C);
                if (!lcab) {
                    c->err = 1;
                } else {
                    for (int64_t t = 0; t < Tb; t++) {
                        for (int64_t k = 0; k < C; k++) lcab[k] = -INFINITY;
                        for (int64_t s = 0; s < S; s++) {
                            int64_t l = LAB(s);
                            lcab[l] = lse2(lcab[l], alpha[t * S + s] + beta[t * S + s]);
                        }
                        for (int64_t k = 0; k < C; k++) {
                            double lp = LP(t, k);
                            double v = exp(lp);
                            if (lcab[k] != -INFINITY) v -= exp(lcab[k] + nll - lp);
                            c->grad[(t * N + b) * C + k] = v * g;
                        }
                    }
                    free(lcab);
                }
            }
        }
#undef LP
#undef LAB
        free(alpha);
        free(beta);
    }
}

typedef struct {
    ct_tensor *lp, *tg, *il, *tl;
    int64_t *toff;
} ctc_prep;

static void ctc_free(ctc_prep *p) {
    ct_tensor_release(p->lp);
    ct_tensor_release(p->tg);
    ct_tensor_release(p->il);
    ct_tensor_release(p->tl);
    free(p->toff);
}

static int ctc_prepare(ct_tensor *log_probs, ct_tensor *targets, ct_tensor *input_lengths,
                       ct_tensor *target_lengths, int64_t blank, ctc_prep *p, ctc_ctx *c) {
    memset(p, 0, sizeof *p);
    memset(c, 0, sizeof *c);
    if (log_probs->ndim != 3) return ct_errorf(CT_ERR_RUNTIME, "ctc_loss: log_probs must be 3-D (T, N, C)");
    if (!ct_dtype_is_floating(log_probs->dtype))
        return ct_errorf(CT_ERR_RUNTIME, "\"ctc_loss_cpu\" not implemented for '%s'", tname(log_probs->dtype));
    int64_t T = log_probs->sizes[0], N = log_probs->sizes[1], C = log_probs->sizes[2];
    if (blank < 0 || blank >= C) return ct_errorf(CT_ERR_RUNTIME, "blank must be in label range");
    if (input_lengths->numel != N)
        return ct_errorf(CT_ERR_RUNTIME, "input_lengths must be of size batch_size");
    if (target_lengths->numel != N)
        return ct_errorf(CT_ERR_RUNTIME, "target_lengths must be of size batch_size");
    if (ct_dtype_is_floating(targets->dtype) || ct_dtype_is_floating(input_lengths->dtype) ||
        ct_dtype_is_floating(target_lengths->dtype))
        return ct_errorf(CT_ERR_RUNTIME, "ctc_loss: targets and lengths must be integer tensors");
    p->lp = ct_contig_as(log_probs, CT_FLOAT64);
    p->tg = p->lp ? ct_contig_as(targets, CT_INT64) : NULL;
    p->il = p->tg ? ct_contig_as(input_lengths, CT_INT64) : NULL;
    p->tl = p->il ? ct_contig_as(target_lengths, CT_INT64) : NULL;
    if (!p->tl) return -1;
    const int64_t *il = ct_tensor_data(p->il), *tl = ct_tensor_data(p->tl), *tg = ct_tensor_data(p->tg);
    int64_t S2d = 0;
    p->toff = malloc(sizeof(int64_t) * (size_t)(N > 0 ? N : 1));
    if (!p->toff) return ct_errorf(CT_ERR_RUNTIME, "out of memory");
    int64_t acc = 0;
    if (targets->ndim == 2) {
        if (targets->sizes[0] != N) return ct_errorf(CT_ERR_RUNTIME, "ctc_loss: targets batch size mismatch");
        S2d = targets->sizes[1];
    } else if (targets->ndim != 1) {
        return ct_errorf(CT_ERR_RUNTIME, "ctc_loss: targets must be 1-D or 2-D");
    }
    for (int64_t b = 0; b < N; b++) {
        if (il[b] < 0 || il[b] > T)
            return ct_errorf(CT_ERR_RUNTIME, "Expected input_lengths to have value at most %lld, but got value %lld "
                             "(while checking arguments for ctc_loss_cpu)", (long long)T, (long long)il[b]);
        if (tl[b] < 0) return ct_errorf(CT_ERR_RUNTIME, "ctc_loss: target_lengths must be non-negative");
        if (S2d) {
            if (tl[b] > S2d)
                return ct_errorf(CT_ERR_RUNTIME, "Expected tensor to have size at least %lld at dimension 1, but got "
                                 "size %lld for argument #2 'targets' (while checking arguments for ctc_loss_cpu)",
                                 (long long)tl[b], (long long)S2d);
        }
        p->toff[b] = acc;
        acc += tl[b];
    }
    if (!S2d && acc > targets->numel)
        return ct_errorf(CT_ERR_RUNTIME, "Expected tensor to have size at least %lld at dimension 0, but got size "
                         "%lld for argument #2 'targets' (while checking arguments for ctc_loss_cpu)",
                         (long long)acc, (long long)targets->numel);
    for (int64_t b = 0; b < N; b++)
        for (int64_t j = 0; j < tl[b]; j++) {
            int64_t v = S2d ? tg[b * S2d + j] : tg[p->toff[b] + j];
            if (v < 0 || v >= C) return ct_errorf(CT_ERR_RUNTIME, "ctc_loss: target index %lld out of range", (long long)v);
        }
    c->lp = ct_tensor_data(p->lp);
    c->tg = tg, c->il = il, c->tl = tl, c->toff = p->toff;
    c->T = T, c->N = N, c->C = C, c->S2d = S2d, c->blank = blank;
    return 0;
}

ct_tensor *ct_nn_ctc_loss_impl(ct_tensor *log_probs, ct_tensor *targets, ct_tensor *input_lengths,
                               ct_tensor *target_lengths, int64_t blank, int64_t reduction, bool zero_infinity) {
    ctc_prep p;
    ctc_ctx c;
    ct_tensor *res = NULL;
    double *nll = NULL;
    if (ctc_prepare(log_probs, targets, input_lengths, target_lengths, blank, &p, &c)) goto done;
    nll = malloc(sizeof(double) * (size_t)(c.N > 0 ? c.N : 1));
    if (!nll) {
        ct_error(CT_ERR_RUNTIME, "out of memory");
        goto done;
    }
    c.nll = nll;
    c.zero_inf = zero_infinity;
    if (c.N) ct_parallel_for(c.N, 1, ctc_samples, &c);
    if (c.err) {
        ct_error(CT_ERR_RUNTIME, "out of memory");
        goto done;
    }
    if (reduction == CT_RED_NONE) {
        ct_tensor *o = ct_empty(&c.N, 1, CT_FLOAT64);
        if (!o) goto done;
        memcpy(ct_tensor_data(o), nll, sizeof(double) * (size_t)c.N);
        res = ct_to_dtype(o, log_probs->dtype, false);
        ct_tensor_release(o);
    } else {
        double s = 0;
        for (int64_t b = 0; b < c.N; b++)
            s += reduction == CT_RED_MEAN ? nll[b] / (double)(c.tl[b] > 1 ? c.tl[b] : 1) : nll[b];
        if (reduction == CT_RED_MEAN) s /= (double)c.N;
        res = ct_scalar_tensor_f64(s, log_probs->dtype);
    }
done:
    free(nll);
    ctc_free(&p);
    return res;
}

ct_tensor *ct_nn_ctc_loss_backward(ct_tensor *grad, ct_tensor *log_probs, ct_tensor *targets,
                                   ct_tensor *input_lengths, ct_tensor *target_lengths, int64_t blank,
                                   int64_t reduction, bool zero_infinity) {
    ctc_prep p;
    ctc_ctx c;
    ct_tensor *res = NULL, *gx = NULL, *g = NULL;
    double *nll = NULL, *gs = NULL;
    if (ctc_prepare(log_probs, targets, input_lengths, target_lengths, blank, &p, &c)) goto done;
    nll = malloc(sizeof(double) * (size_t)(c.N > 0 ? c.N : 1));
    gs = malloc(sizeof(double) * (size_t)(c.N > 0 ? c.N : 1));
    g = ct_contig_as(grad, CT_FLOAT64);
    gx = g ? ct_zeros((ct_intlist){log_probs->sizes, 3}, CT_FLOAT64, -1) : NULL;
    if (!nll || !gs || !gx) {
        if (gx) ct_error(CT_ERR_RUNTIME, "out of memory");
        goto done;
    }
    const double *gd = ct_tensor_data(g);
    for (int64_t b = 0; b < c.N; b++) {
        if (reduction == CT_RED_NONE)
            gs[b] = gd[b];
        else if (reduction == CT_RED_SUM)
            gs[b] = gd[0];
        else
            gs[b] = gd[0] / ((double)c.N * (double)(c.tl[b] > 1 ? c.tl[b] : 1));
    }
    c.nll = nll;
    c.grad = ct_tensor_data(gx);
    c.gscale = gs;
    c.zero_inf = zero_infinity;
    if (c.N) ct_parallel_for(c.N, 1, ctc_samples, &c);
    if (c.err) {
        ct_error(CT_ERR_RUNTIME, "out of memory");
        goto done;
    }
    res = ct_to_dtype(gx, log_probs->dtype, false);
done:
    free(nll);
    free(gs);
    ct_tensor_release(g);
    ct_tensor_release(gx);
    ctc_free(&p);
    return res;
}
