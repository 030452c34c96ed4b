/* Vectorisable float32 transcendental functions: exp, log, sin, cos, tanh, sigmoid, erf.
 *
 * Each is a straight-line function (no branches, only selects) so that a loop calling it is
 * vectorised by the compiler (the CT_*_LOOP macros, -march=native): libm's scalar expf is a
 * call per element. Range reduction + minimax polynomials (Cephes-style coefficients);
 * accuracy about 1-2 ulp over the whole range, special values (nan, +-inf, +-0,
 * subnormals) handled as libm does. sin/cos are accurate for |x| <= CT_VTRIG_LIMIT; larger
 * arguments are recomputed with libm by the caller (see ct_vtrig_big). */
#ifndef CTORCH_VMATH_H
#define CTORCH_VMATH_H

#include <math.h>
#include <stdint.h>

static inline float ct__as_float(uint32_t u) {
    union { uint32_t u; float f; } v;
    v.u = u;
    return v.f;
}
static inline uint32_t ct__as_bits(float f) {
    union { float f; uint32_t u; } v;
    v.f = f;
    return v.u;
}

/* exp(x) = 2^k * exp(r), r = x - k*ln2 in [-ln2/2, ln2/2]; 2^k applied in two halves so
 * that results in the subnormal range and overflow come out right. */
static inline float ct_vexpf(float x) {
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
static inline float ct_vlogf(float x) {
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

#define CT_VTRIG_LIMIT 8192.0f

/* Quadrant reduction x = q*pi/2 + r, |r| <= pi/4 (three-part pi/2, fused). */
static inline float ct__trig_reduce(float x, int32_t *q) {
    float xc = fabsf(x) <= CT_VTRIG_LIMIT ? x : 0.0f;
    float qf = rintf(xc * 0.636619772367581343f);
    float r = fmaf(qf, -1.57079637050628662109375f, xc);
    r = fmaf(qf, 4.371138828673793e-8f, r);
    r = fmaf(qf, 1.7151244994e-15f, r);
    *q = (int32_t)qf;
    return r;
}
static inline float ct__sin_poly(float r) {
    float z = r * r;
    float y = fmaf(-1.9515295891e-4f, z, 8.3321608736e-3f);
    y = fmaf(y, z, -1.6666654611e-1f);
    return fmaf(y * z, r, r);
}
static inline float ct__cos_poly(float r) {
    float z = r * r;
    float y = fmaf(2.443315711809948e-5f, z, -1.388731625493765e-3f);
    y = fmaf(y, z, 4.166664568298827e-2f);
    return fmaf(y * z, z, fmaf(-0.5f, z, 1.0f));
}

static inline float ct_vsinf(float x) {
    int32_t q;
    float r = ct__trig_reduce(x, &q);
    float s = ct__sin_poly(r), c = ct__cos_poly(r);
    float v = (q & 1) ? c : s;
    v = (q & 2) ? -v : v;
    v = x == 0.0f ? x : v;                 /* sin(-0) = -0 */
    return fabsf(x) <= INFINITY && fabsf(x) != INFINITY ? v : x - x; /* inf, nan -> nan */
}

static inline float ct_vcosf(float x) {
    int32_t q;
    float r = ct__trig_reduce(x, &q);
    float s = ct__sin_poly(r), c = ct__cos_poly(r);
    float v = (q & 1) ? s : c;
    v = ((q + 1) & 2) ? -v : v;
    return fabsf(x) <= INFINITY && fabsf(x) != INFINITY ? v : x - x;
}

/* Elements needing the scalar libm path (finite and beyond the reduction's range). */
static inline int ct_vtrig_big(float x) { return fabsf(x) > CT_VTRIG_LIMIT && fabsf(x) != INFINITY; }

static inline float ct_vtanhf(float x) {
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

static inline float ct_vsigmoidf(float x) { return 1.0f / (1.0f + ct_vexpf(-x)); }

/* erf: |x| < 0.921875: x * P(x^2); up to 4: 1 - exp(-x^2) * Q(|x| - 2.4609375) (Q fits
 * erfc(x) * exp(x^2), least squares on Chebyshev nodes, relative weights); beyond: +-1. */
static inline float ct_verff(float x) {
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

#endif
