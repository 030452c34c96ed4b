/* Vectorisable transcendental functions: float32 exp, expm1, log, log1p, sin, cos, tanh,
 * sigmoid, erf;
 * float64 exp and log (also used for float32 pow, see binary.c).
 *
 * Each is a straight-line function (no branches, only selects) so that a loop calling it is
 * vectorised by the compiler (the CT_*_LOOP macros, -march=native): libm's scalar expf is a
 * call per element. Range reduction + minimax polynomials (Cephes-style coefficients);
 * accuracy about 1-2 ulp over the whole range, special values (nan, +-inf, +-0,
 * subnormals) handled as libm does. sin/cos are accurate for |x| <= CT_VTRIG_LIMIT; larger
 * arguments are recomputed with libm by the caller (see ct_vtrig_big).
 * Files including this header compile with GCC's no-trapping-math (a pragma at their top):
 * with trapping comparisons GCC does not if-convert the select chains. */
#ifndef CTORCH_VMATH_H
#define CTORCH_VMATH_H

#include <math.h>
#include <stdint.h>

/* Always inlined: a call inside a loop would stop its vectorisation. */
#if defined(__GNUC__)
#define CT_VINLINE static inline __attribute__((always_inline))
#else
#define CT_VINLINE static inline
#endif

CT_VINLINE float ct__as_float(uint32_t u) {
    union { uint32_t u; float f; } v;
    v.u = u;
    return v.f;
}
CT_VINLINE uint32_t ct__as_bits(float f) {
    union { float f; uint32_t u; } v;
    v.f = f;
    return v.u;
}

/* exp(x) = 2^k * exp(r), r = x - k*ln2 in [-ln2/2, ln2/2]; 2^k applied in two halves so
 * that results in the subnormal range and overflow come out right. */
CT_VINLINE float ct_vexpf(float x) {
    float xc = x < -104.0f ? -104.0f : x;
    xc = xc > 89.0f ? 89.0f : xc;
    xc = x == x ? xc : 0.0f;
    float k = rintf(xc * 1.44269504088896341f);
    float r = fmaf(k, -0.693359375f, xc);
    r = fmaf(k, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    p = fmaf(p, r * r, r) + 1.0f;
    int32_t n = (int32_t)k;
    int32_t n1 = n / 2;
    int32_t n2 = n - n1;
    float res = p * ct__as_float((uint32_t)(n1 + 127) << 23) * ct__as_float((uint32_t)(n2 + 127) << 23);
    return x == x ? res : x;
}

/* log(x) = e*ln2 + log(m), m in [sqrt(1/2), sqrt(2)). */
CT_VINLINE float ct_vlogf(float x) {
    /* only selects of values below (no conditional arithmetic), so that the compiler can
     * if-convert and vectorise under the default -ftrapping-math */
    int sub = x < 1.17549435e-38f;
    float xs = x * (sub ? 8388608.0f : 1.0f);
    uint32_t u = ct__as_bits(xs);
    int32_t e = (int32_t)((u >> 23) & 0xffu) - 126 - (sub ? 23 : 0);
    float m = ct__as_float((u & 0x007fffffu) | 0x3f000000u); /* [0.5, 1) */
    int lo = m < 0.707106781186547524f;
    e = e - (lo ? 1 : 0);
    m = (m + (lo ? m : 0.0f)) - 1.0f;
    float z = m * m;
    float y = 7.0376836292e-2f;
    y = fmaf(y, m, -1.1514610310e-1f);
    y = fmaf(y, m, 1.1676998740e-1f);
    y = fmaf(y, m, -1.2420140846e-1f);
    y = fmaf(y, m, 1.4249322787e-1f);
    y = fmaf(y, m, -1.6668057665e-1f);
    y = fmaf(y, m, 2.0000714765e-1f);
    y = fmaf(y, m, -2.4999993993e-1f);
    y = fmaf(y, m, 3.3333331174e-1f);
    y = y * m * z;
    float fe = (float)e;
    y = fmaf(fe, -2.12194440e-4f, y);
    y = fmaf(-0.5f, z, y);
    float r = m + y;
    r = fmaf(fe, 0.693359375f, r);
    r = x == 0.0f ? -INFINITY : r;
    r = x < 0.0f ? NAN : r;
    r = x == INFINITY ? INFINITY : r;
    return x == x ? r : x;
}

/* expm1(x) = 2^k * (exp(r) - 1) + (2^k - 1), with exp(r) - 1 from the exp polynomial
 * (no cancellation near 0); one fused rounding for the sum. */
CT_VINLINE float ct_vexpm1f(float x) {
    float xc = x < -30.0f ? -30.0f : x;
    xc = xc > 88.8f ? 88.8f : xc;
    xc = x == x ? xc : 0.0f;
    float k = rintf(xc * 1.44269504088896341f);
    float r = fmaf(k, -0.693359375f, xc);
    r = fmaf(k, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    float q = fmaf(p, r * r, r); /* exp(r) - 1 */
    float kk = k > 127.0f ? 127.0f : k; /* 2^128 overflows: scale by 2^127, then by 2 */
    float sc = ct__as_float((uint32_t)((int32_t)kk + 127) << 23);
    float res = fmaf(sc, q, sc - 1.0f);
    res = k > 127.0f ? res * 2.0f : res;
    res = x > 88.7228391f ? INFINITY : res;
    res = x == 0.0f ? x : res; /* expm1(-0) = -0 */
    return x == x ? res : x;
}

/* log1p(x) = log(u) - ((u - 1) - x) / u with u = 1 + x rounded (the quotient corrects
 * the rounding of u). */
CT_VINLINE float ct_vlog1pf(float x) {
    float u = 1.0f + x;
    float cr = ((u - 1.0f) - x) / u;
    float r = ct_vlogf(u) - cr;
    r = x == -1.0f ? -INFINITY : r;
    r = x == INFINITY ? INFINITY : r;
    r = x == 0.0f ? x : r;
    return x == x ? r : x;
}

#define CT_VTRIG_LIMIT 8192.0f

/* Quadrant reduction x = q*pi/2 + r, |r| <= pi/4 (three-part pi/2, fused). */
CT_VINLINE float ct__trig_reduce(float x, int32_t *q) {
    float xc = fabsf(x) <= CT_VTRIG_LIMIT ? x : 0.0f;
    float qf = rintf(xc * 0.636619772367581343f);
    float r = fmaf(qf, -1.57079637050628662109375f, xc);
    r = fmaf(qf, 4.371138828673793e-8f, r);
    r = fmaf(qf, 1.7151244994e-15f, r);
    *q = (int32_t)qf;
    return r;
}
CT_VINLINE float ct__sin_poly(float r) {
    float z = r * r;
    float y = fmaf(-1.9515295891e-4f, z, 8.3321608736e-3f);
    y = fmaf(y, z, -1.6666654611e-1f);
    return fmaf(y * z, r, r);
}
CT_VINLINE float ct__cos_poly(float r) {
    float z = r * r;
    float y = fmaf(2.443315711809948e-5f, z, -1.388731625493765e-3f);
    y = fmaf(y, z, 4.166664568298827e-2f);
    return fmaf(y * z, z, fmaf(-0.5f, z, 1.0f));
}

CT_VINLINE float ct_vsinf(float x) {
    int32_t q;
    float r = ct__trig_reduce(x, &q);
    float s = ct__sin_poly(r), c = ct__cos_poly(r);
    float v = (q & 1) ? c : s;
    v = (q & 2) ? -v : v;
    v = x == 0.0f ? x : v;                 /* sin(-0) = -0 */
    return fabsf(x) <= INFINITY && fabsf(x) != INFINITY ? v : x - x; /* inf, nan -> nan */
}

CT_VINLINE float ct_vcosf(float x) {
    int32_t q;
    float r = ct__trig_reduce(x, &q);
    float s = ct__sin_poly(r), c = ct__cos_poly(r);
    float v = (q & 1) ? s : c;
    v = ((q + 1) & 2) ? -v : v;
    return fabsf(x) <= INFINITY && fabsf(x) != INFINITY ? v : x - x;
}

/* Elements needing the scalar libm path (finite and beyond the reduction's range). */
CT_VINLINE int ct_vtrig_big(float x) { return fabsf(x) > CT_VTRIG_LIMIT && fabsf(x) != INFINITY; }

CT_VINLINE float ct_vtanhf(float x) {
    float ax = fabsf(x);
    float z = x * x;
    float p = fmaf(-5.70498872745e-3f, z, 2.06390887954e-2f);
    p = fmaf(p, z, -5.37397155531e-2f);
    p = fmaf(p, z, 1.33314422036e-1f);
    p = fmaf(p, z, -3.33332819422e-1f);
    float small = fmaf(p * z, x, x);
    float e = ct_vexpf(ax + ax);
    float big = copysignf(1.0f - 2.0f / (e + 1.0f), x);
    float r = ax < 0.625f ? small : big;
    return x == 0.0f ? x : r; /* tanh(-0) = -0 */
}

CT_VINLINE float ct_vsigmoidf(float x) { return 1.0f / (1.0f + ct_vexpf(-x)); }

/* erf: |x| < 0.921875: x * P(x^2); up to 4: 1 - exp(-x^2) * Q(|x| - 2.4609375) (Q fits
 * erfc(x) * exp(x^2), least squares on Chebyshev nodes, relative weights); beyond: +-1. */
CT_VINLINE float ct_verff(float x) {
    float ax = fabsf(x);
    float z = x * x;
    float p = -1.0284268932521379e-05f;
    p = fmaf(p, z, 0.0001145168243544964f);
    p = fmaf(p, z, -0.0008505955478341071f);
    p = fmaf(p, z, 0.005222303496949229f);
    p = fmaf(p, z, -0.026865807975148925f);
    p = fmaf(p, z, 0.11283787783599039f);
    p = fmaf(p, z, -0.37612638743272064f);
    p = fmaf(p, z, -5.864626362317438e-08f); /* the fit's c0 minus its float32 head */
    float small = fmaf(x, 1.12837922573089599609375f, x * p);
    float t = ax - 2.4609375f;
    float q = -2.735924648639143e-08f;
    q = fmaf(q, t, 1.232851521704159e-07f);
    q = fmaf(q, t, -2.835389535278676e-07f);
    q = fmaf(q, t, 1.0445155875435375e-06f);
    q = fmaf(q, t, -4.680297029767064e-06f);
    q = fmaf(q, t, 1.779244497439672e-05f);
    q = fmaf(q, t, -6.41069496969968e-05f);
    q = fmaf(q, t, 0.00022759588843578125f);
    q = fmaf(q, t, -0.0007849674011847618f);
    q = fmaf(q, t, 0.0026153585681319247f);
    q = fmaf(q, t, -0.008398503420687745f);
    q = fmaf(q, t, 0.02589869969672512f);
    q = fmaf(q, t, -0.07633285198963395f);
    q = fmaf(q, t, 0.21374909268620523f);
    float big = fmaf(-ct_vexpf(-z), q, 1.0f);
    big = ax >= 4.0f ? 1.0f : big;
    big = copysignf(big, x);
    float r = ax < 0.921875f ? small : big;
    return x == 0.0f ? x : r; /* erf(-0) = -0 */
}

/* ------------------------------------------------------------------ double precision */

CT_VINLINE double ct__as_double(uint64_t u) {
    union { uint64_t u; double d; } v;
    v.u = u;
    return v.d;
}
CT_VINLINE uint64_t ct__as_bits64(double d) {
    union { double d; uint64_t u; } v;
    v.d = d;
    return v.u;
}

/* exp(x), double: k = rint(x / ln2), r = x - k*ln2 (two-part ln2), Taylor to r^13 (the
 * truncation is below 2^-56 for |r| <= ln2/2), 2^k applied in two halves. ~1 ulp. */
CT_VINLINE double ct_vexp(double x) {
    double xc = x < -746.0 ? -746.0 : x;
    xc = xc > 710.0 ? 710.0 : xc;
    xc = x == x ? xc : 0.0;
    double k = rint(xc * 1.4426950408889634);
    double r = fma(k, -6.93147180369123816490e-01, xc);
    r = fma(k, -1.90821492927058770002e-10, r);
    double p = 1.0 / 6227020800.0;
    p = fma(p, r, 1.0 / 479001600.0);
    p = fma(p, r, 1.0 / 39916800.0);
    p = fma(p, r, 1.0 / 3628800.0);
    p = fma(p, r, 1.0 / 362880.0);
    p = fma(p, r, 1.0 / 40320.0);
    p = fma(p, r, 1.0 / 5040.0);
    p = fma(p, r, 1.0 / 720.0);
    p = fma(p, r, 1.0 / 120.0);
    p = fma(p, r, 1.0 / 24.0);
    p = fma(p, r, 1.0 / 6.0);
    p = fma(p, r, 0.5);
    p = fma(p * r, r, r) + 1.0;
    int64_t n = (int64_t)k;
    int64_t n1 = n / 2, n2 = n - n1;
    double res = p * ct__as_double((uint64_t)(n1 + 1023) << 52) * ct__as_double((uint64_t)(n2 + 1023) << 52);
    return x == x ? res : x;
}

/* log(x), double: x = 2^e * m, m in [sqrt(1/2), sqrt(2)); log(m) = 2 atanh(s),
 * s = (m - 1) / (m + 1), odd series to s^23. ~1 ulp. */
CT_VINLINE double ct_vlog(double x) {
    int sub = x < 2.2250738585072014e-308;
    double xs = x * (sub ? 18014398509481984.0 : 1.0); /* 2^54 */
    uint64_t u = ct__as_bits64(xs);
    int64_t e = (int64_t)((u >> 52) & 0x7ff) - 1022 - (sub ? 54 : 0);
    double m = ct__as_double((u & 0x000fffffffffffffull) | 0x3fe0000000000000ull); /* [0.5, 1) */
    int lo = m < 0.70710678118654752440;
    e = e - (lo ? 1 : 0);
    m = m * (lo ? 2.0 : 1.0);
    double f = m - 1.0;
    double sden = f / (m + 1.0);
    double z = sden * sden;
    double p = 1.0 / 23;
    p = fma(p, z, 1.0 / 21);
    p = fma(p, z, 1.0 / 19);
    p = fma(p, z, 1.0 / 17);
    p = fma(p, z, 1.0 / 15);
    p = fma(p, z, 1.0 / 13);
    p = fma(p, z, 1.0 / 11);
    p = fma(p, z, 1.0 / 9);
    p = fma(p, z, 1.0 / 7);
    p = fma(p, z, 1.0 / 5);
    p = fma(p, z, 1.0 / 3);
    /* log(m) = 2s + 2s^3/3 + 2s^5/5 + ... = 2s + 2s * z * p */
    double ed = (double)e;
    double lg = fma(2.0 * sden, z * p, 2.0 * sden);
    lg = fma(ed, 6.93147180369123816490e-01, fma(ed, 1.90821492927058770002e-10, lg));
    lg = x == 0.0 ? -INFINITY : lg;
    lg = x < 0.0 ? NAN : lg;
    lg = x == INFINITY ? INFINITY : lg;
    return x == x ? lg : x;
}

#endif
