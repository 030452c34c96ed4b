/* Unary elementwise ops: negation, absolute value and sign, rounding, the float math
 * functions (exp/log/trig/hyperbolic/special), predicates (isnan ...), logical and
 * bitwise not. float32 exp, log, sin, cos, tanh and sigmoid use the vectorisable
 * implementations of vmath.h; float16/bfloat16 run through the float32 loops. */
/* Floating-point exceptions are never inspected: letting GCC treat comparisons as
 * non-trapping is what allows it to if-convert (and so vectorise) the select chains of
 * vmath.h. Values are unaffected. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <float.h>

#include "ctorch/ops_gen.h"
#include "elementwise.h"
#include "vmath.h"

/* ------------------------------------------------------------------ helpers */

/* in-place inverse hyperbolics: hand-written autograd entry points (see NO_INPLACE_GRAD) */
ct_tensor *ct_asinh__impl(ct_tensor *self);
ct_tensor *ct_acosh__impl(ct_tensor *self);
ct_tensor *ct_atanh__impl(ct_tensor *self);
ct_tensor *ct_autograd_inplace_no_derivative(ct_tensor *self, ct_tensor *(*out_of_place)(ct_tensor *),
                                             ct_tensor *(*in_place)(ct_tensor *), const char *node,
                                             const char *op);

/* A float-rule op (integers/bool promote to the default float): loops for f32/f64 and
 * the out-of-place and in-place kernels. These ops record autograd (op table `autograd`):
 * the entry points are ct_<op>_impl / ct_<op>__impl and the generated ct_<op> wraps them. */
#define F_UNARY(N, E32, E64)                                   \
    CT_UNARY_LOOP(N##_f32, float, float, E32)                  \
    CT_UNARY_LOOP(N##_f64, double, double, E64)                \
    static const ct_loops N##_loops = CT_LOOPS_FLT(N);         \
    F_UNARY_API(N)
#define F_UNARY_API(N)                                                                                 \
    ct_tensor *ct_##N##_impl(ct_tensor *self) { return ct_ew_unary(#N, self, NULL, &N##_loops, CT_RULE_FLOAT, 0, NULL); } \
    ct_tensor *ct_##N##__impl(ct_tensor *self) { return ct_ew_unary(#N "_", self, self, &N##_loops, CT_RULE_FLOAT, 0, NULL); }

/* Integer loops for each C integer type with one expression. */
#define I_LOOP(SFX, T, N, E) CT_UNARY_LOOP(N##_##SFX, T, T, E)

/* ------------------------------------------------------------------ neg, abs, sign */

CT_UNARY_LOOP(neg_f32, float, float, -a)
CT_UNARY_LOOP(neg_f64, double, double, -a)
CT_UNARY_LOOP(neg_i64, int64_t, int64_t, (int64_t)(0 - (uint64_t)a))
CT_UNARY_LOOP(neg_i32, int32_t, int32_t, (int32_t)(0 - (uint32_t)a))
CT_UNARY_LOOP(neg_i16, int16_t, int16_t, -a)
CT_UNARY_LOOP(neg_i8, int8_t, int8_t, -a)
CT_UNARY_LOOP(neg_u8, uint8_t, uint8_t, -a)
static const ct_loops neg_loops = {{NULL, neg_u8, neg_i8, neg_i16, neg_i32, neg_i64, NULL, NULL, neg_f32, neg_f64}};

static ct_tensor *neg_impl(const char *op, ct_tensor *self, ct_tensor *out) {
    if (self->dtype == CT_BOOL)
        return ct_error(CT_ERR_RUNTIME, "[%s] Negation, the `-` operator, on a bool tensor is not supported. If you "
                        "are trying to invert a mask, use the `~` or `logical_not()` operator instead.", op);
    return ct_ew_unary(op, self, out, &neg_loops, CT_RULE_SAME, 0, NULL);
}
ct_tensor *ct_neg_impl(ct_tensor *self) { return neg_impl("neg", self, NULL); }
ct_tensor *ct_neg__impl(ct_tensor *self) { return neg_impl("neg_", self, self); }

CT_UNARY_LOOP(abs_f32, float, float, fabsf(a))
CT_UNARY_LOOP(abs_f64, double, double, fabs(a))
CT_UNARY_LOOP(abs_i64, int64_t, int64_t, (int64_t)(a < 0 ? 0 - (uint64_t)a : (uint64_t)a))
CT_UNARY_LOOP(abs_i32, int32_t, int32_t, (int32_t)(a < 0 ? 0 - (uint32_t)a : (uint32_t)a))
CT_UNARY_LOOP(abs_i16, int16_t, int16_t, a < 0 ? -a : a)
CT_UNARY_LOOP(abs_i8, int8_t, int8_t, a < 0 ? -a : a)
CT_UNARY_LOOP(abs_u8, uint8_t, uint8_t, a)
static const ct_loops abs_loops = CT_LOOPS_NUM(abs);
ct_tensor *ct_abs_impl(ct_tensor *self) { return ct_ew_unary("abs", self, NULL, &abs_loops, CT_RULE_SAME, 0, NULL); }
ct_tensor *ct_abs__impl(ct_tensor *self) { return ct_ew_unary("abs_", self, self, &abs_loops, CT_RULE_SAME, 0, NULL); }

#define SIGN_I(SFX, T) I_LOOP(SFX, T, sign, (T)((0 < a) - (a < 0)))
SIGN_I(i8, int8_t)
SIGN_I(i16, int16_t)
SIGN_I(i32, int32_t)
SIGN_I(i64, int64_t)
CT_UNARY_LOOP(sign_u8, uint8_t, uint8_t, a != 0)
CT_UNARY_LOOP(sign_b1, uint8_t, uint8_t, a)
CT_UNARY_LOOP(sign_f32, float, float, (float)((0.0f < a) - (a < 0.0f)))
CT_UNARY_LOOP(sign_f64, double, double, (double)((0.0 < a) - (a < 0.0)))
static const ct_loops sign_loops = CT_LOOPS_ALL(sign);
ct_tensor *ct_sign_impl(ct_tensor *self) { return ct_ew_unary("sign", self, NULL, &sign_loops, CT_RULE_SAME, 0, NULL); }
ct_tensor *ct_sign__impl(ct_tensor *self) { return ct_ew_unary("sign_", self, self, &sign_loops, CT_RULE_SAME, 0, NULL); }

/* ------------------------------------------------------------------ rounding */

/* Integers are returned unchanged (as torch: floor of an int tensor is itself); bool is
 * not supported. */
#define IDENT_I(SFX, T) I_LOOP(SFX, T, ident, a)
CT_X_INT(IDENT_I)
#define ROUNDING(N, E32, E64)                                                                  \
    CT_UNARY_LOOP(N##_f32, float, float, E32)                                                  \
    CT_UNARY_LOOP(N##_f64, double, double, E64)                                                \
    static const ct_loops N##_loops = {                                                        \
        {NULL, ident_u8, ident_i8, ident_i16, ident_i32, ident_i64, NULL, NULL, N##_f32, N##_f64}}; \
    ct_tensor *ct_##N##_impl(ct_tensor *self) { return ct_ew_unary(#N, self, NULL, &N##_loops, CT_RULE_SAME, 0, NULL); } \
    ct_tensor *ct_##N##__impl(ct_tensor *self) { return ct_ew_unary(#N "_", self, self, &N##_loops, CT_RULE_SAME, 0, NULL); }
ROUNDING(floor, floorf(a), floor(a))
ROUNDING(ceil, ceilf(a), ceil(a))
ROUNDING(trunc, truncf(a), trunc(a))

CT_UNARY_LOOP(rint_f32, float, float, rintf(a))
CT_UNARY_LOOP(rint_f64, double, double, rint(a))
static const ct_loops rint_loops = {{NULL, ident_u8, ident_i8, ident_i16, ident_i32, ident_i64, NULL, NULL, rint_f32, rint_f64}};
/* round(decimals): scale by 10^|d|, round half to even, scale back (d1 = 10^|d|). */
CT_UNARY_LOOP(roundp_f32, float, float, rintf(a * (float)c->d1) / (float)c->d1)
CT_UNARY_LOOP(roundp_f64, double, double, rint(a * c->d1) / c->d1)
CT_UNARY_LOOP(roundn_f32, float, float, rintf(a / (float)c->d1) * (float)c->d1)
CT_UNARY_LOOP(roundn_f64, double, double, rint(a / c->d1) * c->d1)
static const ct_loops roundp_loops = CT_LOOPS_FLT(roundp);
static const ct_loops roundn_loops = CT_LOOPS_FLT(roundn);

static ct_tensor *round_impl(const char *op, ct_tensor *self, int64_t decimals, ct_tensor *out) {
    if (decimals == 0) return ct_ew_unary(op, self, out, &rint_loops, CT_RULE_SAME, 0, NULL);
    ct_ew_ctx c = {0};
    c.d1 = pow(10.0, (double)(decimals < 0 ? -decimals : decimals));
    return ct_ew_unary(op, self, out, decimals > 0 ? &roundp_loops : &roundn_loops, CT_RULE_SAME, 0, &c);
}
ct_tensor *ct_round_impl(ct_tensor *self, int64_t decimals) { return round_impl("round", self, decimals, NULL); }
ct_tensor *ct_round__impl(ct_tensor *self, int64_t decimals) { return round_impl("round_", self, decimals, self); }

CT_UNARY_LOOP(frac_f32, float, float, a - truncf(a))
CT_UNARY_LOOP(frac_f64, double, double, a - trunc(a))
static const ct_loops frac_loops = CT_LOOPS_FLT(frac);
ct_tensor *ct_frac_impl(ct_tensor *self) { return ct_ew_unary("frac", self, NULL, &frac_loops, CT_RULE_SAME, 0, NULL); }
ct_tensor *ct_frac__impl(ct_tensor *self) { return ct_ew_unary("frac_", self, self, &frac_loops, CT_RULE_SAME, 0, NULL); }

/* square(x) = pow(x, 2): bool promotes to int64 as in torch. */
static ct_tensor *square_impl(ct_tensor *self, bool inplace) {
    ct_tensor *two = ct_ew_wrap_scalar(ct_scalar_i(2));
    if (!two) return NULL;
    ct_tensor *r = inplace ? ct_pow_(self, two) : ct_pow(self, two);
    ct_tensor_release(two);
    return r;
}
ct_tensor *ct_square(ct_tensor *self) { return square_impl(self, false); }
ct_tensor *ct_square_(ct_tensor *self) { return square_impl(self, true); }

/* ------------------------------------------------------------------ float math */

/* exp/expm1/log/log1p/sin/cos/tanh/sigmoid/erf: vectorised float32, exp/log/sigmoid also float64
 * (vmath.h). */
/* exp records autograd: its kernel entry points are the _impl functions (op table `autograd`). */
CT_UNARY_LOOP(exp_f32, float, float, ct_vexpf(a))
CT_UNARY_LOOP(exp_f64, double, double, ct_vexp(a))
static const ct_loops exp_loops = CT_LOOPS_FLT(exp);
ct_tensor *ct_exp_impl(ct_tensor *self) { return ct_ew_unary("exp", self, NULL, &exp_loops, CT_RULE_FLOAT, 0, NULL); }
ct_tensor *ct_exp__impl(ct_tensor *self) { return ct_ew_unary("exp_", self, self, &exp_loops, CT_RULE_FLOAT, 0, NULL); }
F_UNARY(log, ct_vlogf(a), ct_vlog(a))
F_UNARY(tanh, ct_vtanhf(a), tanh(a))
F_UNARY(sigmoid, ct_vsigmoidf(a), 1.0 / (1.0 + ct_vexp(-a)))

/* sin/cos: vector path in blocks, then the (rare) huge finite arguments again with libm. */
#define VTRIG(N, VF, SF, DF)                                                                   \
    static void N##_f32(char **p, const int64_t *s, int64_t n, void *ctx) {                    \
        (void)ctx;                                                                             \
        if (s[0] == 4 && s[1] == 4) {                                                          \
            float *o = (float *)p[0];                                                          \
            const float *x = (const float *)p[1];                                              \
            for (int64_t i0 = 0; i0 < n; i0 += 512) {                                          \
                int64_t m = n - i0 < 512 ? n - i0 : 512;                                       \
                float tmp[512];                                                                \
                int big = 0;                                                                   \
                const float *restrict xx = x + i0;                                             \
                for (int64_t j = 0; j < m; j++) {                                              \
                    tmp[j] = VF(xx[j]);                                                        \
                    big |= ct_vtrig_big(xx[j]);                                                \
                }                                                                              \
                if (big)                                                                       \
                    for (int64_t j = 0; j < m; j++)                                            \
                        if (ct_vtrig_big(xx[j])) tmp[j] = SF(xx[j]);                           \
                memcpy(o + i0, tmp, (size_t)m * sizeof(float));                                \
            }                                                                                  \
        } else {                                                                               \
            for (int64_t i = 0; i < n; i++) {                                                  \
                float a = *(const float *)(p[1] + i * s[1]);                                   \
                *(float *)(p[0] + i * s[0]) = ct_vtrig_big(a) ? SF(a) : VF(a);                 \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
    CT_UNARY_LOOP(N##_f64, double, double, DF(a))                                              \
    static const ct_loops N##_loops = CT_LOOPS_FLT(N);                                         \
    F_UNARY_API(N)
VTRIG(sin, ct_vsinf, sinf, sin)
VTRIG(cos, ct_vcosf, cosf, cos)

F_UNARY(sqrt, sqrtf(a), sqrt(a))
F_UNARY(rsqrt, 1.0f / sqrtf(a), 1.0 / sqrt(a))
F_UNARY(reciprocal, 1.0f / a, 1.0 / a)
F_UNARY(exp2, exp2f(a), exp2(a))
F_UNARY(expm1, ct_vexpm1f(a), expm1(a))
F_UNARY(log2, log2f(a), log2(a))
F_UNARY(log10, log10f(a), log10(a))
F_UNARY(log1p, ct_vlog1pf(a), log1p(a))
F_UNARY(tan, tanf(a), tan(a))
F_UNARY(asin, asinf(a), asin(a))
F_UNARY(acos, acosf(a), acos(a))
F_UNARY(atan, atanf(a), atan(a))
F_UNARY(sinh, sinhf(a), sinh(a))
F_UNARY(cosh, coshf(a), cosh(a))
F_UNARY(asinh, asinhf(a), asinh(a))
F_UNARY(acosh, acoshf(a), acosh(a))
F_UNARY(atanh, atanhf(a), atanh(a))
/* torch defines no derivative for the in-place inverse hyperbolics: recorded, the node raises
 * on backward (src/autograd/formulas_elementwise.c) */
#define NO_INPLACE_GRAD(N, NODE)                                                                        \
    ct_tensor *ct_##N##_(ct_tensor *self) {                                                             \
        return ct_autograd_inplace_no_derivative(self, ct_##N##_impl, ct_##N##__impl, NODE, #N);        \
    }
NO_INPLACE_GRAD(asinh, "AsinhBackward1")
NO_INPLACE_GRAD(acosh, "AcoshBackward1")
NO_INPLACE_GRAD(atanh, "AtanhBackward1")
F_UNARY(erf, ct_verff(a), erf(a))
F_UNARY(erfc, erfcf(a), erfc(a))

static inline float lgammaf_safe(float x) {
    int sg;
    return lgammaf_r(x, &sg);
}
static inline double lgamma_safe(double x) {
    int sg;
    return lgamma_r(x, &sg);
}
F_UNARY(lgamma, lgammaf_safe(a), lgamma_safe(a))

/* digamma: reflection for x < 0, recurrence up to x >= 10, then the asymptotic series.
 * digamma(+-0) = -+inf and negative integers give nan, as torch. */
static double digamma_d(double x) {
    if (x == 0) return copysign(INFINITY, -x);
    double r = 0;
    if (x < 0) {
        if (x == floor(x)) return NAN;
        r = -M_PI / tan(M_PI * x);
        x = 1 - x;
    }
    if (x != x || x == INFINITY) return x + r;
    while (x < 10) {
        r -= 1 / x;
        x += 1;
    }
    double z = 1 / (x * x);
    double y = z * (1.0 / 12 - z * (1.0 / 120 - z * (1.0 / 252 - z * (1.0 / 240 - z * (1.0 / 132 - z * (691.0 / 32760))))));
    return r + log(x) - 0.5 / x - y;
}
F_UNARY(digamma, (float)digamma_d(a), digamma_d(a))

/* polygamma(n, x) = (-1)^(n+1) n! zeta(n+1, x) for n >= 1 (n = 0 is digamma), with the
 * Hurwitz zeta summed directly up to q + k > 9 and finished by the Euler-Maclaurin tail
 * (coefficients (2j)! / B_2j). Poles at non-positive integers give inf, as torch. */
static double hurwitz_zeta(double s, double q) {
    static const double em[12] = {12.0, -720.0, 30240.0, -1209600.0, 47900160.0, -1.8924375803183791606e9,
                                  7.47242496e10, -2.950130727918164224e12, 1.1646782814350067249e14,
                                  -4.5979787224074726105e15, 1.8152105401943546773e17, -7.1661652561756670113e18};
    if (s == 1) return INFINITY;
    if (q <= 0 && q == floor(q)) return INFINITY;
    double sum = pow(q, -s), a = q, b = 0;
    int i = 0;
    while (i < 9 || a <= 9) {
        i++;
        a += 1;
        b = pow(a, -s);
        sum += b;
        if (fabs(b / sum) < 1.1102230246251565e-16) return sum;
    }
    double w = a, f = 1, k = 0;
    sum += b * w / (s - 1) - 0.5 * b;
    for (int j = 0; j < 12; j++) {
        f *= s + k;
        b /= w;
        double t = f * b / em[j];
        sum += t;
        if (fabs(t / sum) < 1.1102230246251565e-16) break;
        k += 1;
        f *= s + k;
        b /= w;
        k += 1;
    }
    return sum;
}
/* trigamma: reflection below 1/2, six recurrence steps, then the asymptotic series
 * 1/x + 1/(2x^2) + 1/(6x^3) - 1/(30x^5) + 1/(42x^7), in the input's precision (the same
 * truncation as torch, whose values it reproduces; float32 near the poles included). */
#define TRIGAMMA(NAME, T, SIN)                                                             \
    static T NAME(T x) {                                                                   \
        const T pi = (T)M_PI;                                                              \
        T r = 0, sg = 1;                                                                   \
        if (x < (T)0.5) {                                                                  \
            T s = SIN(pi * x);                                                             \
            r = -(pi * pi) / (s * s);                                                      \
            sg = -1;                                                                       \
            x = 1 - x;                                                                     \
        }                                                                                  \
        for (int i = 0; i < 6; i++) {                                                      \
            r += 1 / (x * x);                                                              \
            x += 1;                                                                        \
        }                                                                                  \
        T ix2 = 1 / (x * x);                                                               \
        r += (1 + 1 / (2 * x) + ix2 * ((T)1 / 6 - ix2 * ((T)1 / 30 - ix2 * ((T)1 / 42)))) / x; \
        return sg * r;                                                                     \
    }
TRIGAMMA(trigamma_d, double, sin)
TRIGAMMA(trigamma_f, float, sinf)
static double digamma_d(double x);
static double polygamma_d(int64_t n, double x) {
    if (n == 0) return digamma_d(x);
    if (n == 1) return trigamma_d(x);
    if (x != x) return x;
    double fact = 1;
    for (int64_t k = 2; k <= n; k++) fact *= (double)k;
    return ((n & 1) ? 1.0 : -1.0) * fact * hurwitz_zeta((double)n + 1, x);
}
CT_UNARY_LOOP(polygamma_f32, float, float, c->i0 == 1 ? trigamma_f(a) : (float)polygamma_d(c->i0, a))
CT_UNARY_LOOP(polygamma_f64, double, double, polygamma_d(c->i0, a))
static const ct_loops polygamma_loops = CT_LOOPS_FLT(polygamma);
ct_tensor *ct_polygamma_impl(int64_t n, ct_tensor *self) {
    if (n < 0) return ct_error(CT_ERR_RUNTIME, "polygamma(n, x) does not support negative n.");
    ct_ew_ctx c = {0};
    c.i0 = n;
    return ct_ew_unary("polygamma", self, NULL, &polygamma_loops, CT_RULE_FLOAT, 0, &c);
}
ct_tensor *ct_polygamma_method(ct_tensor *self, int64_t n) { return ct_polygamma(n, self); }

/* erfinv: single-precision rational start (Giles) refined by two Newton steps on erf. */
static double erfinv_d(double y) {
    if (!(y >= -1 && y <= 1)) return NAN;
    if (y == 1) return INFINITY;
    if (y == -1) return -INFINITY;
    double w = -log((1.0 - y) * (1.0 + y)), p;
    if (w < 5) {
        w -= 2.5;
        p = 2.81022636e-08;
        p = 3.43273939e-07 + p * w;
        p = -3.5233877e-06 + p * w;
        p = -4.39150654e-06 + p * w;
        p = 0.00021858087 + p * w;
        p = -0.00125372503 + p * w;
        p = -0.00417768164 + p * w;
        p = 0.246640727 + p * w;
        p = 1.50140941 + p * w;
    } else {
        w = sqrt(w) - 3;
        p = -0.000200214257;
        p = 0.000100950558 + p * w;
        p = 0.00134934322 + p * w;
        p = -0.00367342844 + p * w;
        p = 0.00573950773 + p * w;
        p = -0.0076224613 + p * w;
        p = 0.00943887047 + p * w;
        p = 1.00167406 + p * w;
        p = 2.83297682 + p * w;
    }
    double x = p * y;
    for (int k = 0; k < 2; k++) x -= (erf(x) - y) / (1.1283791670955126 * exp(-x * x));
    return x;
}
F_UNARY(erfinv, (float)erfinv_d(a), erfinv_d(a))

/* logit(x, eps): log(x / (1 - x)) with x clamped to [eps, 1 - eps] when eps >= 0 (c->i0). */
CT_UNARY_LOOP(logit_f32, float, float,
              logf((c->i0 ? (a < (float)c->d0 ? (float)c->d0 : a > (float)c->d1 ? (float)c->d1 : a) : a) /
                   (1.0f - (c->i0 ? (a < (float)c->d0 ? (float)c->d0 : a > (float)c->d1 ? (float)c->d1 : a) : a))))
CT_UNARY_LOOP(logit_f64, double, double,
              log((c->i0 ? (a < c->d0 ? c->d0 : a > c->d1 ? c->d1 : a) : a) /
                  (1.0 - (c->i0 ? (a < c->d0 ? c->d0 : a > c->d1 ? c->d1 : a) : a))))
static const ct_loops logit_loops = CT_LOOPS_FLT(logit);
static ct_tensor *logit_impl(const char *op, ct_tensor *self, const double *eps, ct_tensor *out) {
    ct_ew_ctx c = {0};
    if (eps && *eps >= 0) {
        c.i0 = 1;
        c.d0 = *eps;
        c.d1 = 1.0 - *eps;
    }
    return ct_ew_unary(op, self, out, &logit_loops, CT_RULE_FLOAT, 0, &c);
}
ct_tensor *ct_logit_impl(ct_tensor *self, const double *eps) { return logit_impl("logit", self, eps, NULL); }
ct_tensor *ct_logit__impl(ct_tensor *self, const double *eps) { return logit_impl("logit_", self, eps, self); }

/* nan_to_num: d0 = nan, d1 = posinf, *(double *)extra = neginf (already defaulted to
 * the output dtype's finite range). Integers and bool are returned unchanged. */
CT_UNARY_LOOP(n2n_f32, float, float,
              a != a ? (float)c->d0 : a == INFINITY ? (float)c->d1 : a == -INFINITY ? (float)*(const double *)c->extra : a)
CT_UNARY_LOOP(n2n_f64, double, double,
              a != a ? c->d0 : a == INFINITY ? c->d1 : a == -INFINITY ? *(const double *)c->extra : a)
CT_UNARY_LOOP(ident_b1, uint8_t, uint8_t, a)
static const ct_loops n2n_loops = {{ident_b1, ident_u8, ident_i8, ident_i16, ident_i32, ident_i64, NULL, NULL, n2n_f32, n2n_f64}};
static ct_tensor *n2n_impl(const char *op, ct_tensor *self, const double *nan, const double *posinf,
                           const double *neginf, ct_tensor *out) {
    double big = self->dtype == CT_FLOAT16 ? 65504.0 : self->dtype == CT_BFLOAT16 ? 3.3895313892515355e+38
                 : self->dtype == CT_FLOAT32 ? (double)FLT_MAX : DBL_MAX;
    double ninf = neginf ? *neginf : -big;
    ct_ew_ctx c = {0};
    c.d0 = nan ? *nan : 0.0;
    c.d1 = posinf ? *posinf : big;
    c.extra = &ninf;
    return ct_ew_unary(op, self, out, &n2n_loops, CT_RULE_SAME, 0, &c);
}
ct_tensor *ct_nan_to_num_impl(ct_tensor *self, const double *nan, const double *posinf, const double *neginf) {
    return n2n_impl("nan_to_num", self, nan, posinf, neginf, NULL);
}
ct_tensor *ct_nan_to_num__impl(ct_tensor *self, const double *nan, const double *posinf, const double *neginf) {
    return n2n_impl("nan_to_num_", self, nan, posinf, neginf, self);
}

/* ------------------------------------------------------------------ predicates */

#define PRED(N, EF, EI)                                                            \
    CT_UNARY_LOOP(N##_f32, float, uint8_t, EF)                                     \
    CT_UNARY_LOOP(N##_f64, double, uint8_t, EF)                                    \
    CT_UNARY_LOOP(N##_b1, uint8_t, uint8_t, EI)                                    \
    CT_UNARY_LOOP(N##_u8, uint8_t, uint8_t, EI)                                    \
    CT_UNARY_LOOP(N##_i8, int8_t, uint8_t, EI)                                     \
    CT_UNARY_LOOP(N##_i16, int16_t, uint8_t, EI)                                   \
    CT_UNARY_LOOP(N##_i32, int32_t, uint8_t, EI)                                   \
    CT_UNARY_LOOP(N##_i64, int64_t, uint8_t, EI)                                   \
    static const ct_loops N##_loops = CT_LOOPS_ALL(N);                             \
    ct_tensor *ct_##N(ct_tensor *self) { return ct_ew_unary(#N, self, NULL, &N##_loops, CT_RULE_SAME, CT_OUT_BOOL, NULL); }
PRED(isnan, a != a, 0)
PRED(isinf, a == INFINITY || a == -INFINITY, 0)
PRED(isfinite, a == a && a != INFINITY && a != -INFINITY, 1)
PRED(isposinf, a == INFINITY, 0)
PRED(isneginf, a == -INFINITY, 0)

#define LNOT(N)                                                                    \
    CT_UNARY_LOOP(N##_f32, float, uint8_t, a == 0)                                 \
    CT_UNARY_LOOP(N##_f64, double, uint8_t, a == 0)                                \
    CT_UNARY_LOOP(N##_b1, uint8_t, uint8_t, a == 0)                                \
    CT_UNARY_LOOP(N##_u8, uint8_t, uint8_t, a == 0)                                \
    CT_UNARY_LOOP(N##_i8, int8_t, uint8_t, a == 0)                                 \
    CT_UNARY_LOOP(N##_i16, int16_t, uint8_t, a == 0)                               \
    CT_UNARY_LOOP(N##_i32, int32_t, uint8_t, a == 0)                               \
    CT_UNARY_LOOP(N##_i64, int64_t, uint8_t, a == 0)                               \
    static const ct_loops N##_loops = CT_LOOPS_ALL(N);
LNOT(lnot)
ct_tensor *ct_logical_not(ct_tensor *self) { return ct_ew_unary("logical_not", self, NULL, &lnot_loops, CT_RULE_SAME, CT_OUT_BOOL, NULL); }
ct_tensor *ct_logical_not_(ct_tensor *self) { return ct_ew_unary("logical_not_", self, self, &lnot_loops, CT_RULE_SAME, CT_OUT_BOOL, NULL); }

#define BNOT_I(SFX, T) I_LOOP(SFX, T, bnot, (T)~a)
CT_X_INT(BNOT_I)
CT_UNARY_LOOP(bnot_b1, uint8_t, uint8_t, !a)
static const ct_loops bnot_loops = CT_LOOPS_INTB(bnot);
ct_tensor *ct_bitwise_not(ct_tensor *self) { return ct_ew_unary("bitwise_not", self, NULL, &bnot_loops, CT_RULE_INT_ONLY, 0, NULL); }
ct_tensor *ct_bitwise_not_(ct_tensor *self) { return ct_ew_unary("bitwise_not_", self, self, &bnot_loops, CT_RULE_INT_ONLY, 0, NULL); }
