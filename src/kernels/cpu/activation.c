/* Activation functions (forward and backward kernels, one pass each), softmax/log_softmax
 * over a dim (max-subtracted, a row per chunk), glu, prelu and rrelu. */
/* Floating-point exceptions are never inspected: non-trapping comparisons let GCC
 * if-convert (and so vectorise) the selects of vmath.h and of the activation formulas. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <math.h>
#include <string.h>

#include "ctorch/autograd.h"
#include "ctorch/ops_gen.h"
#include "ctorch/random.h"
#include "elementwise.h"
#include "nn.h"
#include "vmath.h"
#include "rowops.h"

/* ------------------------------------------------------------------ loop generators */

/* Math in the loop type R (float loops call the float functions). */
#define EXP(x) (sizeof(R) == 4 ? (R)ct_vexpf((float)(x)) : (R)ct_vexp((double)(x)))
#define LOG1P(x) (sizeof(R) == 4 ? (R)ct_vlog1pf((float)(x)) : (R)log1p((double)(x)))
#define TANH(x) (sizeof(R) == 4 ? (R)ct_vtanhf((float)(x)) : (R)tanh((double)(x)))
#define ERF(x) (sizeof(R) == 4 ? (R)ct_verff((float)(x)) : (R)erf((double)(x)))
#define FABS(x) (sizeof(R) == 4 ? (R)fabsf((float)(x)) : (R)fabs((double)(x)))
#define P0 ((R)P[0])
#define P1 ((R)P[1])
#define P2 ((R)P[2])

/* out = EXPR(a) */
#define ACT_FWD(NAME, T, EXPR)                                                               \
    static void NAME(char **p, const int64_t *s, int64_t n, void *vctx) {                   \
        typedef T R;                                                                         \
        const double *P = (const double *)((const ct_ew_ctx *)vctx)->extra;                  \
        (void)P;                                                                             \
        if (s[0] == sizeof(R) && s[1] == sizeof(R)) {                                        \
            R *restrict o = (R *)p[0];                                                       \
            const R *restrict x = (const R *)p[1];                                           \
            for (int64_t i = 0; i < n; i++) {                                                \
                R a = x[i];                                                                  \
                o[i] = (R)(EXPR);                                                            \
            }                                                                                \
        } else {                                                                             \
            for (int64_t i = 0; i < n; i++) {                                                \
                R a = *(const R *)(p[1] + i * s[1]);                                         \
                *(R *)(p[0] + i * s[0]) = (R)(EXPR);                                         \
            }                                                                                \
        }                                                                                    \
    }

/* out = EXPR(g, b) with g the incoming gradient and b the saved input or result */
#define ACT_BWD(NAME, T, EXPR)                                                               \
    static void NAME(char **p, const int64_t *s, int64_t n, void *vctx) {                   \
        typedef T R;                                                                         \
        const double *P = (const double *)((const ct_ew_ctx *)vctx)->extra;                  \
        (void)P;                                                                             \
        if (s[0] == sizeof(R) && s[1] == sizeof(R) && s[2] == sizeof(R)) {                   \
            R *restrict o = (R *)p[0];                                                       \
            const R *restrict gp = (const R *)p[1];                                          \
            const R *restrict bp = (const R *)p[2];                                          \
            for (int64_t i = 0; i < n; i++) {                                                \
                R g = gp[i], b = bp[i];                                                      \
                o[i] = (R)(EXPR);                                                            \
            }                                                                                \
        } else {                                                                             \
            for (int64_t i = 0; i < n; i++) {                                                \
                R g = *(const R *)(p[1] + i * s[1]);                                         \
                R b = *(const R *)(p[2] + i * s[2]);                                         \
                *(R *)(p[0] + i * s[0]) = (R)(EXPR);                                         \
            }                                                                                \
        }                                                                                    \
    }

#define ACT(KIND, FWD, BWD)                                                                  \
    ACT_FWD(KIND##_f32, float, FWD)                                                          \
    ACT_FWD(KIND##_f64, double, FWD)                                                         \
    ACT_BWD(KIND##_bf32, float, BWD)                                                         \
    ACT_BWD(KIND##_bf64, double, BWD)

#define SIG(x) ((R)1 / ((R)1 + EXP(-(x))))
#define GELU_K 0.7978845608028654 /* sqrt(2/pi) */

ACT(relu, a < 0 ? (R)0 : a, b > 0 ? g : (R)0)
ACT(hardtanh, a < P0 ? P0 : (a > P1 ? P1 : a), (b > P0 && b < P1) ? g : (R)0)
ACT(leaky, a > 0 ? a : a * P0, b > 0 ? g : g * P0)
ACT(elu, a > 0 ? a * P1 : P1 * P0 * (EXP(a * P2) - (R)1), b > 0 ? g * P1 : g * P2 * (b + P1 * P0))
/* elu from the input (negative alpha: the result no longer tells the sign of the input) */
ACT(elu_x, a > 0 ? a * P1 : P1 * P0 * (EXP(a * P2) - (R)1), b > 0 ? g * P1 : g * P2 * P1 * P0 * EXP(b * P2))
/* erf for float gelu: Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7, the same
 * formula as torch's vectorised float erf, so float gelu stays close to torch's): one
 * division and a degree-5 polynomial instead of erf's two minimax branches. e = exp(-x^2). */
CT_VINLINE float erf_as(float x, float e) {
    float t = 1.0f / fmaf(0.3275911f, fabsf(x), 1.0f);
    float r = fmaf(1.061405429f, t, -1.453152027f);
    r = fmaf(r, t, 1.421413741f);
    r = fmaf(r, t, -0.284496736f);
    r = fmaf(r, t, 0.254829592f);
    r = r * t;
    return copysignf(fmaf(-r, e, 1.0f), x);
}
/* exp(-z) for z >= 0 (or NaN: the callers' results are NaN through x anyway), flushed to 0
 * below e^-87: no subnormal / overflow handling (ct_vexpf's two-step scaling), so 2^k is
 * one exponent-field build. Same reduction and polynomial as ct_vexpf. */
CT_VINLINE float exp_neg(float z) {
    float x = z > 87.0f ? -87.0f : -z;
    float k = rintf(x * 1.44269504088896341f);
    float r = fmaf(k, -0.693359375f, x);
    r = fmaf(k, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    p = fmaf(p, r * r, r) + 1.0f;
    float res = p * ct__as_float((uint32_t)((int32_t)k + 127) << 23);
    return z > 87.0f ? 0.0f : res;
}
CT_VINLINE float gelu_fwd_f(float a) {
    float u = a * 0.70710678118654752440f;
    return 0.5f * a * (1.0f + erf_as(u, exp_neg(u * u)));
}
CT_VINLINE float gelu_bwd_f(float g, float b) {
    float u = b * 0.70710678118654752440f;
    float e = exp_neg(u * u);
    return g * (0.5f * (1.0f + erf_as(u, e)) + b * e * 0.39894228040143267794f);
}
ACT(gelu,
    sizeof(R) == 4 ? (R)gelu_fwd_f((float)a) : (R)0.5 * a * ((R)1 + ERF(a * (R)0.70710678118654752440)),
    sizeof(R) == 4 ? (R)gelu_bwd_f((float)g, (float)b)
                   : g * ((R)0.5 * ((R)1 + ERF(b * (R)0.70710678118654752440)) +
                          b * EXP((R)-0.5 * b * b) * (R)0.39894228040143267794))
ACT(gelu_tanh, (R)0.5 * a * ((R)1 + TANH((R)GELU_K * (a + (R)0.044715 * a * a * a))),
    g * ((R)0.5 * ((R)1 + TANH((R)GELU_K * (b + (R)0.044715 * b * b * b))) +
         (R)0.5 * b * ((R)1 - TANH((R)GELU_K * (b + (R)0.044715 * b * b * b)) *
                                 TANH((R)GELU_K * (b + (R)0.044715 * b * b * b))) *
             (R)GELU_K * ((R)1 + (R)3 * (R)0.044715 * b * b)))
/* float sigmoid from e = exp(-|x|) (no overflow, one exp): 1/(1+e) or e/(1+e) */
CT_VINLINE float sig_f(float x) {
    float e = exp_neg(fabsf(x));
    return (x >= 0.0f ? 1.0f : e) / (1.0f + e);
}
CT_VINLINE float silu_bwd_f(float g, float b) {
    float sg = sig_f(b);
    return g * sg * (1.0f + b * (1.0f - sg));
}
ACT(silu, sizeof(R) == 4 ? (R)((float)a * sig_f((float)a)) : a * SIG(a),
    sizeof(R) == 4 ? (R)silu_bwd_f((float)g, (float)b) : g * SIG(b) * ((R)1 + b * ((R)1 - SIG(b))))
ACT(mish, a * TANH(LOG1P(EXP(a))),
    g * (TANH(LOG1P(EXP(b))) + b * SIG(b) * ((R)1 - TANH(LOG1P(EXP(b))) * TANH(LOG1P(EXP(b))))))
/* float softplus: log(1 + e^x) = max(x, 0) + log1p(e^-|x|), x = beta * a */
CT_VINLINE float softplus_f(float a, float beta, float thr) {
    float x = a * beta;
    float v = (x > 0.0f ? x : 0.0f) + ct_vlog1pf(exp_neg(fabsf(x)));
    return x > thr ? a : v / beta;
}
ACT(softplus, sizeof(R) == 4 ? (R)softplus_f((float)a, (float)P0, (float)P1) : (a * P0 > P1 ? a : LOG1P(EXP(a * P0)) / P0),
    sizeof(R) == 4 ? (R)(b * P0 > P1 ? g : g * (R)sig_f((float)(b * P0)))
                   : (b * P0 > P1 ? g : g * EXP(b * P0) / (EXP(b * P0) + (R)1)))
ACT(softsign, a / ((R)1 + FABS(a)), g / (((R)1 + FABS(b)) * ((R)1 + FABS(b))))
ACT(softshrink, a > P0 ? a - P0 : (a < -P0 ? a + P0 : (a != a ? a : (R)0)), (b >= -P0 && b <= P0) ? (R)0 : g)
ACT(hardshrink, (a >= -P0 && a <= P0) ? (R)0 : a, (b >= -P0 && b <= P0) ? (R)0 : g)
ACT(tanhshrink, a - TANH(a), g * TANH(b) * TANH(b))
ACT(hardswish, a * (a + (R)3 < 0 ? (R)0 : (a + (R)3 > (R)6 ? (R)6 : a + (R)3)) / (R)6,
    b < (R)-3 ? (R)0 : (b <= (R)3 ? g * (b / (R)3 + (R)0.5) : g))
ACT(hardsigmoid, (a + (R)3 < 0 ? (R)0 : (a + (R)3 > (R)6 ? (R)6 : a + (R)3)) / (R)6,
    (b > 0 && b < 1) ? g / (R)6 : (R)0)
ACT(tanh, TANH(a), g * ((R)1 - b * b))
ACT(sigmoid, SIG(a), g * b * ((R)1 - b))
ACT(logsigmoid, (a < 0 ? a : (R)0) - LOG1P(EXP(-FABS(a))),
    g * ((b < 0 ? (R)1 : (R)0) - (b < 0 ? (R)1 : (R)-1) * (EXP(-FABS(b)) / ((R)1 + EXP(-FABS(b))))))
ACT(threshold, a > P0 ? a : P1, b > P0 ? g : (R)0)

/* relu on integers */
#define RELU_INT(NAME, T)                                                                    \
    static void NAME(char **p, const int64_t *s, int64_t n, void *vctx) {                   \
        (void)vctx;                                                                          \
        for (int64_t i = 0; i < n; i++) {                                                    \
            T a = *(const T *)(p[1] + i * s[1]);                                             \
            *(T *)(p[0] + i * s[0]) = a < 0 ? (T)0 : a;                                      \
        }                                                                                    \
    }
RELU_INT(relu_u8, uint8_t)
RELU_INT(relu_i8, int8_t)
RELU_INT(relu_i16, int16_t)
RELU_INT(relu_i32, int32_t)
RELU_INT(relu_i64, int64_t)

#define FL(K) {{NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, K##_f32, K##_f64}}
#define BL(K) {{NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, K##_bf32, K##_bf64}}

static const ct_loops fwd_loops[CT_ACT_COUNT] = {
    {{NULL, relu_u8, relu_i8, relu_i16, relu_i32, relu_i64, NULL, NULL, relu_f32, relu_f64}},
    FL(hardtanh), FL(leaky), FL(elu), FL(elu), FL(gelu), FL(silu), FL(mish), FL(softplus), FL(softsign),
    FL(softshrink), FL(hardshrink), FL(tanhshrink), FL(hardswish), FL(hardsigmoid), FL(tanh), FL(sigmoid),
    FL(logsigmoid), FL(threshold)};
static const ct_loops bwd_loops[CT_ACT_COUNT] = {
    BL(relu), BL(hardtanh), BL(leaky), BL(elu), BL(elu), BL(gelu), BL(silu), BL(mish), BL(softplus), BL(softsign),
    BL(softshrink), BL(hardshrink), BL(tanhshrink), BL(hardswish), BL(hardsigmoid), BL(tanh), BL(sigmoid),
    BL(logsigmoid), BL(threshold)};

static const ct_loops gelu_tanh_fwd = FL(gelu_tanh), gelu_tanh_bwd = BL(gelu_tanh);
static const ct_loops elu_x_bwd = BL(elu_x);

static const char *const act_names[CT_ACT_COUNT] = {
    "relu", "hardtanh", "leaky_relu", "elu", "celu", "gelu", "silu", "mish", "softplus", "softsign",
    "softshrink", "hardshrink", "tanhshrink", "hardswish", "hardsigmoid", "tanh", "sigmoid", "log_sigmoid",
    "threshold"};
static const char *const node_names[CT_ACT_COUNT] = {
    "ReluBackward0", "HardtanhBackward0", "LeakyReluBackward0", "EluBackward0", "CeluBackward0",
    "GeluBackward0", "SiluBackward0", "MishBackward0", "SoftplusBackward0", "SoftsignBackward0",
    "SoftshrinkBackward0", "HardshrinkBackward0", "TanhshrinkBackward0", "HardswishBackward0",
    "HardsigmoidBackward0", "TanhBackward0", "SigmoidBackward0", "LogSigmoidBackward0", "ThresholdBackward0"};

bool ct_nn_act_uses_result(int kind, const double *p) {
    switch (kind) {
    case CT_ACT_LEAKY_RELU: case CT_ACT_ELU: case CT_ACT_CELU:
        return p[0] >= 0; /* a negative slope/alpha maps negative inputs to positive outputs */
    case CT_ACT_RELU: case CT_ACT_HARDTANH: case CT_ACT_HARDSIGMOID: case CT_ACT_TANH: case CT_ACT_SIGMOID:
        return true;
    default:
        return false;
    }
}

const char *ct_nn_act_node_name(int kind) { return node_names[kind]; }

ct_tensor *ct_nn_act_forward(int kind, ct_tensor *x, ct_tensor *out, const double *p) {
    if (kind < 0 || kind >= CT_ACT_COUNT) return ct_error(CT_ERR_VALUE, "[activation] unknown kind %d", kind);
    ct_ew_ctx ctx = {0};
    ctx.extra = p;
    ct_dtype_rule rule = (kind == CT_ACT_TANH || kind == CT_ACT_SIGMOID) ? CT_RULE_FLOAT : CT_RULE_SAME;
    if (x->dtype == CT_BOOL && kind == CT_ACT_RELU)
        return ct_error(CT_ERR_RUNTIME, "\"clamp_min_cpu\" not implemented for 'Bool'");
    const ct_loops *lp = (kind == CT_ACT_GELU && p[0] != 0) ? &gelu_tanh_fwd : &fwd_loops[kind];
    return ct_ew_unary(act_names[kind], x, out, lp, rule, 0, &ctx);
}

ct_tensor *ct_nn_act_backward(int kind, ct_tensor *grad, ct_tensor *s, const double *p) {
    ct_ew_ctx ctx = {0};
    ctx.extra = p;
    ct_tensor *g = grad;
    if (grad->dtype != s->dtype) {
        g = ct_to_dtype(grad, s->dtype, false);
        if (!g) return NULL;
    } else {
        ct_tensor_retain(g);
    }
    const ct_loops *lp = (kind == CT_ACT_GELU && p[0] != 0) ? &gelu_tanh_bwd : &bwd_loops[kind];
    if ((kind == CT_ACT_ELU || kind == CT_ACT_CELU) && p[0] < 0) lp = &elu_x_bwd;
    ct_tensor *r = ct_ew_binary(act_names[kind], g, s, NULL, lp, CT_RULE_SAME, 0, &ctx);
    ct_tensor_release(g);
    return r;
}

/* ------------------------------------------------------------------ ops */

static int check_params(int64_t kind, const double *p) {
    if ((kind == CT_ACT_SOFTSHRINK) && p[0] < 0)
        return ct_errorf(CT_ERR_RUNTIME, "lambda must be greater or equal to 0, but found to be %g.", p[0]);
    if (kind == CT_ACT_CELU && p[0] == 0)
        return ct_errorf(CT_ERR_RUNTIME, "ZeroDivisionError");
    if (kind == CT_ACT_HARDTANH && p[0] > p[1])
        return ct_errorf(CT_ERR_VALUE, "min_val cannot be greater than max_val");
    return 0;
}

ct_tensor *ct_nn_act_impl(ct_tensor *self, int64_t kind, double p0, double p1, double p2) {
    double p[4] = {p0, p1, p2, 0};
    if (kind < 0 || kind >= CT_ACT_COUNT) return ct_error(CT_ERR_VALUE, "[activation] unknown kind %lld", (long long)kind);
    if (check_params(kind, p)) return NULL;
    return ct_nn_act_forward((int)kind, self, NULL, p);
}

ct_tensor *ct_nn_act__impl(ct_tensor *self, int64_t kind, double p0, double p1, double p2) {
    double p[4] = {p0, p1, p2, 0};
    if (kind < 0 || kind >= CT_ACT_COUNT) return ct_error(CT_ERR_VALUE, "[activation] unknown kind %lld", (long long)kind);
    if (check_params(kind, p)) return NULL;
    ct_tensor *r = ct_nn_act_forward((int)kind, self, self, p);
    return r;
}

ct_tensor *ct_relu_impl(ct_tensor *self) {
    double p[4] = {0};
    return ct_nn_act_forward(CT_ACT_RELU, self, NULL, p);
}

ct_tensor *ct_relu__impl(ct_tensor *self) {
    double p[4] = {0};
    return ct_nn_act_forward(CT_ACT_RELU, self, self, p);
}

/* ------------------------------------------------------------------ softmax */

typedef struct {
    const char *src;
    char *dst;
    int64_t outer, dim, inner;
    int dtype;
    bool log;
} sm_ctx;


/* Rows of a contiguous (outer, dim, inner) block, one outer index per chunk item. inner == 1:
 * a contiguous row (max, exp, sum with 8 lanes so the loops vectorise); inner > 1: bands of
 * up to 256 columns processed together, dim outermost. */
#define SM_BAND 256
#define SOFTMAX_ROWS(NAME, T, VEXP, VLOG, ROWMAX, ROWSUM)                                                    \
    static void NAME(int64_t begin, int64_t end, void *vctx) {                              \
        const sm_ctx *c = (const sm_ctx *)vctx;                                             \
        const int64_t D = c->dim, I = c->inner;                                             \
        for (int64_t o = begin; o < end; o++) {                                              \
            const T *x = (const T *)c->src + o * D * I;                                      \
            T *y = (T *)c->dst + o * D * I;                                                  \
            if (I == 1) {                                                                    \
                T m = ROWMAX(x, D);                                                          \
                if (m == -INFINITY) m = 0;                                                   \
                for (int64_t d = 0; d < D; d++) y[d] = VEXP(x[d] - m);                       \
                double sum = ROWSUM(y, D);                                                   \
                if (c->log) {                                                                \
                    T ls = (T)log(sum);                                                      \
                    for (int64_t d = 0; d < D; d++) y[d] = (x[d] - m) - ls;                  \
                } else {                                                                     \
                    T inv = (T)(1 / sum);                                                    \
                    for (int64_t d = 0; d < D; d++) y[d] *= inv;                             \
                }                                                                            \
            } else {                                                                         \
                T mx[SM_BAND], sums[SM_BAND];                                                \
                for (int64_t i0 = 0; i0 < I; i0 += SM_BAND) {                                \
                    int64_t w = I - i0 < SM_BAND ? I - i0 : SM_BAND;                         \
                    for (int64_t i = 0; i < w; i++) mx[i] = -INFINITY, sums[i] = 0;          \
                    for (int64_t d = 0; d < D; d++) {                                        \
                        const T *xr = x + d * I + i0;                                        \
                        for (int64_t i = 0; i < w; i++) mx[i] = xr[i] > mx[i] ? xr[i] : mx[i]; \
                    }                                                                        \
                    for (int64_t i = 0; i < w; i++) mx[i] = mx[i] == -INFINITY ? 0 : mx[i];  \
                    for (int64_t d = 0; d < D; d++) {                                        \
                        const T *xr = x + d * I + i0;                                        \
                        T *yr = y + d * I + i0;                                              \
                        if (c->log) /* only the sums: the result is x - m - log(sum) */      \
                            for (int64_t i = 0; i < w; i++) sums[i] += VEXP(xr[i] - mx[i]);  \
                        else                                                                 \
                            for (int64_t i = 0; i < w; i++) {                                \
                                T e = VEXP(xr[i] - mx[i]);                                   \
                                yr[i] = e;                                                   \
                                sums[i] += e;                                                \
                            }                                                                \
                    }                                                                        \
                    if (c->log) {                                                            \
                        for (int64_t i = 0; i < w; i++) sums[i] = VLOG(sums[i]);             \
                        for (int64_t d = 0; d < D; d++) {                                    \
                            const T *xr = x + d * I + i0;                                    \
                            T *yr = y + d * I + i0;                                          \
                            for (int64_t i = 0; i < w; i++) yr[i] = (xr[i] - mx[i]) - sums[i]; \
                        }                                                                    \
                    } else {                                                                 \
                        for (int64_t i = 0; i < w; i++) sums[i] = (T)1 / sums[i];            \
                        for (int64_t d = 0; d < D; d++) {                                    \
                            T *yr = y + d * I + i0;                                          \
                            for (int64_t i = 0; i < w; i++) yr[i] *= sums[i];                \
                        }                                                                    \
                    }                                                                        \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }
SOFTMAX_ROWS(softmax_rows_f32, float, ct_vexpf, ct_vlogf, row_max_f32, row_sum_f32)
SOFTMAX_ROWS(softmax_rows_f64, double, ct_vexp, ct_vlog, row_max_f64, row_sum_f64)

/* backward: softmax: gx = y * (g - sum(g*y)); log_softmax: gx = g - exp(y) * sum(g) */
typedef struct {
    const char *g, *y;
    char *dst;
    int64_t dim, inner;
    bool log;
} smb_ctx;

#define SOFTMAX_BWD(NAME, T, VEXP, ROWSUM, ROWDOT)                                                           \
    static void NAME(int64_t begin, int64_t end, void *vctx) {                              \
        const smb_ctx *c = (const smb_ctx *)vctx;                                           \
        const int64_t D = c->dim, I = c->inner;                                             \
        T s[SM_BAND];                                                                        \
        for (int64_t o = begin; o < end; o++) {                                              \
            const T *g = (const T *)c->g + o * D * I;                                        \
            const T *y = (const T *)c->y + o * D * I;                                        \
            T *dx = (T *)c->dst + o * D * I;                                                 \
            if (I == 1) { /* contiguous row: one vectorised pass after the row reduction */  \
                const T *restrict gr = g, *restrict yr = y;                                  \
                T *restrict dr = dx;                                                         \
                const T sv = (T)(c->log ? ROWSUM(g, D) : ROWDOT(g, y, D));                   \
                if (c->log)                                                                  \
                    for (int64_t d = 0; d < D; d++) dr[d] = gr[d] - VEXP(yr[d]) * sv;        \
                else                                                                         \
                    for (int64_t d = 0; d < D; d++) dr[d] = yr[d] * (gr[d] - sv);            \
                continue;                                                                    \
            }                                                                                \
            for (int64_t i0 = 0; i0 < I; i0 += SM_BAND) {                                    \
                int64_t w = I - i0 < SM_BAND ? I - i0 : SM_BAND;                             \
                if (I == 1) {                                                                \
                    s[0] = (T)(c->log ? ROWSUM(g, D) : ROWDOT(g, y, D));                     \
                } else {                                                                     \
                    for (int64_t i = 0; i < w; i++) s[i] = 0;                                \
                    for (int64_t d = 0; d < D; d++) {                                        \
                        const T *gr = g + d * I + i0, *yr = y + d * I + i0;                  \
                        if (c->log)                                                          \
                            for (int64_t i = 0; i < w; i++) s[i] += gr[i];                   \
                        else                                                                 \
                            for (int64_t i = 0; i < w; i++) s[i] += gr[i] * yr[i];           \
                    }                                                                        \
                }                                                                            \
                for (int64_t d = 0; d < D; d++) {                                            \
                    const T *gr = g + d * I + i0, *yr = y + d * I + i0;                      \
                    T *dr = dx + d * I + i0;                                                 \
                    if (c->log)                                                              \
                        for (int64_t i = 0; i < w; i++) dr[i] = gr[i] - VEXP(yr[i]) * s[i];  \
                    else                                                                     \
                        for (int64_t i = 0; i < w; i++) dr[i] = yr[i] * (gr[i] - s[i]);      \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }
SOFTMAX_BWD(softmax_bwd_f32, float, ct_vexpf, row_sum_f32, row_dot_f32)
SOFTMAX_BWD(softmax_bwd_f64, double, ct_vexp, row_sum_f64, row_dot_f64)

static void dims3(const ct_tensor *t, int dim, int64_t *outer, int64_t *D, int64_t *inner) {
    *outer = 1, *inner = 1, *D = t->ndim ? t->sizes[dim] : 1;
    for (int i = 0; i < dim; i++) *outer *= t->sizes[i];
    for (int i = dim + 1; i < t->ndim; i++) *inner *= t->sizes[i];
}

static ct_tensor *softmax_common(const char *op, ct_tensor *self, int64_t dim, int dtype, bool log) {
    int d = ct_wrap_dim(dim, self->ndim, op);
    if (d < 0) return NULL;
    int cdt = dtype >= 0 ? dtype : self->dtype;
    if (!ct_dtype_is_floating(cdt))
        return ct_error(CT_ERR_RUNTIME, "\"%s_lastdim_kernel_impl\" not implemented for '%s'", op,
                        cdt == CT_INT64 ? "Long" : cdt == CT_INT32 ? "Int" : cdt == CT_BOOL ? "Bool" : "integer");
    int work = (cdt == CT_FLOAT64) ? CT_FLOAT64 : CT_FLOAT32;
    ct_tensor *x = ct_contig_as(self, work);
    if (!x) return NULL;
    ct_tensor *y = ct_empty(self->sizes, self->ndim, work);
    if (!y) {
        ct_tensor_release(x);
        return NULL;
    }
    sm_ctx c = {ct_tensor_data(x), ct_tensor_data(y), 0, 0, 0, work, log};
    dims3(x, d, &c.outer, &c.dim, &c.inner);
    if (x->numel > 0) {
        int64_t grain = CT_GRAIN / (c.dim * c.inner > 0 ? c.dim * c.inner : 1);
        ct_parallel_for(c.outer, grain > 0 ? grain : 1, work == CT_FLOAT64 ? softmax_rows_f64 : softmax_rows_f32, &c);
    }
    ct_tensor_release(x);
    if (work != cdt) {
        ct_tensor *r = ct_to_dtype(y, cdt, false);
        ct_tensor_release(y);
        return r;
    }
    return y;
}

ct_tensor *ct_softmax_int_impl(ct_tensor *self, int64_t dim, int dtype) {
    return softmax_common("softmax", self, dim, dtype, false);
}
ct_tensor *ct_log_softmax_int_impl(ct_tensor *self, int64_t dim, int dtype) {
    return softmax_common("log_softmax", self, dim, dtype, true);
}

ct_tensor *ct_nn_softmax_backward(ct_tensor *grad, ct_tensor *y, int dim, bool log) {
    int work = y->dtype == CT_FLOAT64 ? CT_FLOAT64 : CT_FLOAT32;
    ct_tensor *g = ct_contig_as(grad, work);
    ct_tensor *yc = g ? ct_contig_as(y, work) : NULL;
    ct_tensor *dx = yc ? ct_empty(y->sizes, y->ndim, work) : NULL;
    if (!dx) {
        ct_tensor_release(g);
        ct_tensor_release(yc);
        return NULL;
    }
    smb_ctx c = {ct_tensor_data(g), ct_tensor_data(yc), ct_tensor_data(dx), 0, 0, log};
    int64_t outer;
    dims3(yc, dim, &outer, &c.dim, &c.inner);
    if (dx->numel > 0) {
        int64_t grain = CT_GRAIN / (c.dim * c.inner > 0 ? c.dim * c.inner : 1);
        ct_parallel_for(outer, grain > 0 ? grain : 1, work == CT_FLOAT64 ? softmax_bwd_f64 : softmax_bwd_f32, &c);
    }
    ct_tensor_release(g);
    ct_tensor_release(yc);
    if (work != y->dtype) {
        ct_tensor *r = ct_to_dtype(dx, y->dtype, false);
        ct_tensor_release(dx);
        return r;
    }
    return dx;
}

/* ------------------------------------------------------------------ glu */

CT_BINARY_LOOP(glu_f32, float, float, a / (1.0f + expf(-b)))
CT_BINARY_LOOP(glu_f64, double, double, a / (1.0 + exp(-b)))
static const ct_loops glu_loops = {{NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, glu_f32, glu_f64}};

ct_tensor *ct_nn_glu_impl(ct_tensor *self, int64_t dim) {
    if (self->ndim == 0) return ct_error(CT_ERR_RUNTIME, "glu does not support scalars because halving size must be even");
    int d = ct_wrap_dim(dim, self->ndim, "glu");
    if (d < 0) return NULL;
    int64_t n = self->sizes[d];
    if (n % 2)
        return ct_error(CT_ERR_RUNTIME, "Halving dimension must be even, but dimension %d is size %lld", d,
                        (long long)n);
    if (!ct_dtype_is_floating(self->dtype))
        return ct_error(CT_ERR_RUNTIME, "\"glu_cpu\" not implemented for 'Long'");
    ct_tensor *a = ct_narrow(self, d, 0, n / 2);
    ct_tensor *b = a ? ct_narrow(self, d, n / 2, n / 2) : NULL;
    ct_tensor *r = b ? ct_ew_binary("glu", a, b, NULL, &glu_loops, CT_RULE_SAME, 0, NULL) : NULL;
    ct_tensor_release(a);
    ct_tensor_release(b);
    return r;
}

/* ga = g * s(b), gb = g * a * s(b) * (1 - s(b)) */
CT_BINARY_LOOP(sig_f32, float, float, a / (1.0f + expf(-b)))
CT_BINARY_LOOP(sig_f64, double, double, a / (1.0 + exp(-b)))
static const ct_loops sigmul_loops = {{NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, sig_f32, sig_f64}};

ct_tensor *ct_nn_glu_backward(ct_tensor *grad, ct_tensor *x, int dim) {
    int64_t n = x->sizes[dim];
    ct_tensor *a = ct_narrow(x, dim, 0, n / 2);
    ct_tensor *b = a ? ct_narrow(x, dim, n / 2, n / 2) : NULL;
    ct_tensor *ga = NULL, *gb = NULL, *t = NULL, *r = NULL;
    if (!b) goto done;
    ga = ct_ew_binary("glu_backward", grad, b, NULL, &sigmul_loops, CT_RULE_SAME, 0, NULL); /* g*s */
    double p[4] = {0};
    t = ga ? ct_nn_act_forward(CT_ACT_SIGMOID, b, NULL, p) : NULL;                        /* s */
    if (!t) goto done;
    {
        /* gb = ga * a * (1 - s) = ga * a - ga * a * s */
        bool prev = ct_set_grad_enabled(false);
        ct_tensor *ga_a = ct_mul(ga, a);
        ct_tensor *ga_a_s = ga_a ? ct_mul(ga_a, t) : NULL;
        gb = ga_a_s ? ct_sub(ga_a, ga_a_s, ct_scalar_i(1)) : NULL;
        ct_tensor_release(ga_a);
        ct_tensor_release(ga_a_s);
        if (gb) {
            ct_tensor *parts[2] = {ga, gb};
            r = ct_cat((ct_tensorlist){parts, 2}, dim);
        }
        ct_set_grad_enabled(prev);
    }
done:
    ct_tensor_release(a);
    ct_tensor_release(b);
    ct_tensor_release(ga);
    ct_tensor_release(gb);
    ct_tensor_release(t);
    return r;
}

/* ------------------------------------------------------------------ prelu */

/* weight broadcast along dim 1 (or a single value) */
static int prelu_view_weight(ct_tensor *x, ct_tensor *w, ct_tensor **wv) {
    int64_t nw = w->numel;
    if (w->ndim > 1 && nw != 1)
        return ct_errorf(CT_ERR_RUNTIME, "prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = %d",
                         w->ndim);
    if (nw != 1) {
        if (x->ndim == 0)
            return ct_errorf(CT_ERR_RUNTIME, "Not allow zero-dim input tensor.");
        int64_t ch = x->ndim >= 2 ? x->sizes[1] : x->sizes[0];
        if (ch != nw)
            return ct_errorf(CT_ERR_RUNTIME,
                             "Mismatch of parameter numbers and input channel size. Found parameter numbers = %lld "
                             "and channel size = %lld.",
                             (long long)nw, (long long)ch);
    }
    int64_t sizes[CT_MAX_DIM];
    int nd = x->ndim;
    for (int i = 0; i < nd; i++) sizes[i] = 1;
    if (nw != 1) sizes[x->ndim >= 2 ? 1 : 0] = nw;
    ct_tensor *wc = ct_contiguous(w);
    if (!wc) return -1;
    *wv = ct_view(wc, (ct_intlist){sizes, nd});
    ct_tensor_release(wc);
    return *wv ? 0 : -1;
}

CT_BINARY_LOOP(prelu_f32, float, float, a > 0 ? a : a * b)
CT_BINARY_LOOP(prelu_f64, double, double, a > 0 ? a : a * b)
static const ct_loops prelu_loops = {{NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, prelu_f32, prelu_f64}};

ct_tensor *ct_nn_prelu_impl(ct_tensor *self, ct_tensor *weight) {
    if (self->dtype != weight->dtype)
        return ct_error(CT_ERR_RUNTIME, "expected scalar type %s but found %s", ct_dtype_name(self->dtype),
                        ct_dtype_name(weight->dtype));
    ct_tensor *wv;
    if (prelu_view_weight(self, weight, &wv)) return NULL;
    ct_tensor *r = ct_ew_binary("prelu", self, wv, NULL, &prelu_loops, CT_RULE_SAME, 0, NULL);
    ct_tensor_release(wv);
    return r;
}

CT_BINARY_LOOP(prelu_gx_f32, float, float, a > 0 ? 1.0f : b)
CT_BINARY_LOOP(prelu_gx_f64, double, double, a > 0 ? 1.0 : b)
static const ct_loops prelu_gx_loops = {{NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, prelu_gx_f32, prelu_gx_f64}};
CT_BINARY_LOOP(prelu_gw_f32, float, float, a > 0 ? 0.0f : a * b)
CT_BINARY_LOOP(prelu_gw_f64, double, double, a > 0 ? 0.0 : a * b)
static const ct_loops prelu_gw_loops = {{NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, prelu_gw_f32, prelu_gw_f64}};

int ct_nn_prelu_backward(ct_tensor *grad, ct_tensor *x, ct_tensor *w, ct_tensor **gx, ct_tensor **gw) {
    ct_tensor *wv;
    if (prelu_view_weight(x, w, &wv)) return -1;
    int rc = -1;
    bool prev = ct_set_grad_enabled(false);
    if (gx) {
        ct_tensor *slope = ct_ew_binary("prelu_backward", x, wv, NULL, &prelu_gx_loops, CT_RULE_SAME, 0, NULL);
        *gx = slope ? ct_mul(grad, slope) : NULL;
        ct_tensor_release(slope);
        if (!*gx) goto done;
    }
    if (gw) {
        ct_tensor *t = ct_ew_binary("prelu_backward", x, grad, NULL, &prelu_gw_loops, CT_RULE_SAME, 0, NULL);
        if (!t) goto done;
        ct_input_meta m = {0};
        m.ndim = (int8_t)wv->ndim;
        m.dtype = w->dtype;
        for (int i = 0; i < wv->ndim; i++) m.sizes[i] = wv->sizes[i];
        ct_tensor *s = ct_sum_to_meta(t, &m);
        ct_tensor_release(t);
        if (!s) goto done;
        *gw = ct_reshape(s, (ct_intlist){w->sizes, w->ndim});
        ct_tensor_release(s);
        if (!*gw) goto done;
    }
    rc = 0;
done:
    ct_set_grad_enabled(prev);
    ct_tensor_release(wv);
    return rc;
}

/* ------------------------------------------------------------------ rrelu */

/* Training: each non-positive element draws a slope uniform in [lower, upper) from the
 * generator (53-bit double draws, one per such element in order, as torch's CPU kernel);
 * noise holds the slope (1 for positive elements). */
ct_tensor *ct_nn_rrelu_with_noise_impl(ct_tensor *self, ct_tensor *noise, double lower, double upper, bool training,
                                       ct_generator *generator) {
    if (!ct_dtype_is_floating(self->dtype))
        return ct_error(CT_ERR_RUNTIME, "\"rrelu_with_noise_out_cpu\" not implemented for 'Long'");
    if (!training) {
        double p[4] = {(lower + upper) / 2, 0, 0, 0};
        return ct_nn_act_forward(CT_ACT_LEAKY_RELU, self, NULL, p);
    }
    if (noise->numel != self->numel || noise->dtype != self->dtype || !ct_tensor_is_contiguous(noise))
        return ct_error(CT_ERR_RUNTIME, "rrelu: noise must be a contiguous tensor like the input");
    ct_generator *gen = generator ? generator : ct_default_generator();
    int work = self->dtype == CT_FLOAT64 ? CT_FLOAT64 : CT_FLOAT32;
    ct_tensor *x = ct_contig_as(self, CT_FLOAT64);
    ct_tensor *y = x ? ct_empty(self->sizes, self->ndim, CT_FLOAT64) : NULL;
    ct_tensor *nz = y ? ct_empty(self->sizes, self->ndim, CT_FLOAT64) : NULL;
    if (!nz) {
        ct_tensor_release(x);
        ct_tensor_release(y);
        return NULL;
    }
    const double *xd = ct_tensor_data(x);
    double *yd = ct_tensor_data(y), *nd = ct_tensor_data(nz);
    for (int64_t i = 0; i < x->numel; i++) {
        if (xd[i] <= 0) {
            uint64_t v = ct_generator_random64(gen);
            double u = (double)(v & ((UINT64_C(1) << 53) - 1)) * ldexp(1.0, -53);
            double r = u * (upper - lower) + lower;
            if (work == CT_FLOAT32) r = (float)r;
            yd[i] = xd[i] * r;
            nd[i] = r;
        } else {
            yd[i] = xd[i];
            nd[i] = 1;
        }
    }
    int rc = ct_copy_into(noise, nz);
    ct_tensor_release(x);
    ct_tensor_release(nz);
    if (rc) {
        ct_tensor_release(y);
        return NULL;
    }
    ct_tensor *r = ct_to_dtype(y, self->dtype, false);
    ct_tensor_release(y);
    return r;
}
