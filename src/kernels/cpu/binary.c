/* Binary (and ternary) arithmetic ops: add, sub, mul, div with rounding modes,
 * remainder, fmod, pow, atan2, hypot, lerp, addcmul, addcdiv. */
/* FP exceptions are never inspected: non-trapping comparisons let GCC if-convert and
 * vectorise the NaN-aware select chains (min/max/clamp ...). Values are unaffected. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include "ctorch/ops_gen.h"
#include <string.h>

#include "elementwise.h"
#include "vmath.h"

/* a + alpha*b; alpha is folded for the common alpha == 1 case. */
#define ADD_FOR(N, T)                                                   \
    CT_BINARY_LOOP(add_##N, T, T, a + b)                                \
    CT_BINARY_LOOP(adda_##N, T, T, a + (T)c->d0 * b)
#define ADDI_FOR(N, T)                                                  \
    CT_BINARY_LOOP(add_##N, T, T, a + b)                                \
    CT_BINARY_LOOP(adda_##N, T, T, a + (T)c->i0 * b)
/* 32/64-bit integers wrap on overflow (computed unsigned: no UB), as torch's results. */
#define ADDW_FOR(N, T, UT)                                                             \
    CT_BINARY_LOOP(add_##N, T, T, (T)((UT)a + (UT)b))                                  \
    CT_BINARY_LOOP(adda_##N, T, T, (T)((UT)a + (UT)c->i0 * (UT)b))
ADD_FOR(f32, float)
ADD_FOR(f64, double)
ADDW_FOR(i64, int64_t, uint64_t)
ADDW_FOR(i32, int32_t, uint32_t)
ADDI_FOR(i16, int16_t)
ADDI_FOR(i8, int8_t)
ADDI_FOR(u8, uint8_t)
CT_BINARY_LOOP(add_b1, uint8_t, uint8_t, (a | b))
CT_BINARY_LOOP(adda_b1, uint8_t, uint8_t, (a | (c->i0 && b)))

static const ct_loops add_loops = {{add_b1, add_u8, add_i8, add_i16, add_i32, add_i64, NULL, NULL, add_f32, add_f64}};
static const ct_loops adda_loops = {
    {adda_b1, adda_u8, adda_i8, adda_i16, adda_i32, adda_i64, NULL, NULL, adda_f32, adda_f64}};

CT_BINARY_LOOP(sub_f32, float, float, a - b)
CT_BINARY_LOOP(sub_f64, double, double, a - b)
CT_BINARY_LOOP(sub_i64, int64_t, int64_t, (int64_t)((uint64_t)a - (uint64_t)b))
CT_BINARY_LOOP(sub_i32, int32_t, int32_t, (int32_t)((uint32_t)a - (uint32_t)b))
CT_BINARY_LOOP(sub_i16, int16_t, int16_t, a - b)
CT_BINARY_LOOP(sub_i8, int8_t, int8_t, a - b)
CT_BINARY_LOOP(sub_u8, uint8_t, uint8_t, a - b)
static const ct_loops sub_loops = {{NULL, sub_u8, sub_i8, sub_i16, sub_i32, sub_i64, NULL, NULL, sub_f32, sub_f64}};

CT_BINARY_LOOP(mul_f32, float, float, a *b)
CT_BINARY_LOOP(mul_f64, double, double, a *b)
CT_BINARY_LOOP(mul_i64, int64_t, int64_t, (int64_t)((uint64_t)a * (uint64_t)b))
CT_BINARY_LOOP(mul_i32, int32_t, int32_t, (int32_t)((uint32_t)a * (uint32_t)b))
CT_BINARY_LOOP(mul_i16, int16_t, int16_t, a *b)
CT_BINARY_LOOP(mul_i8, int8_t, int8_t, a *b)
CT_BINARY_LOOP(mul_u8, uint8_t, uint8_t, a *b)
CT_BINARY_LOOP(mul_b1, uint8_t, uint8_t, a &b)
static const ct_loops mul_loops = {{mul_b1, mul_u8, mul_i8, mul_i16, mul_i32, mul_i64, NULL, NULL, mul_f32, mul_f64}};

CT_BINARY_LOOP(div_f32, float, float, a / b)
CT_BINARY_LOOP(div_f64, double, double, a / b)
static const ct_loops div_loops = {{NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, div_f32, div_f64}};

/* Integer division helpers: the divisor is known non-zero (checked before the loop);
 * MIN / -1 wraps as two's complement instead of trapping. */
#define IDIV(T, UT) static inline T idiv_##T(T a, T b) { return b == -1 ? (T)(0 - (UT)a) : (T)(a / b); }
#define IMOD(T) static inline T imod_##T(T a, T b) { return b == -1 ? (T)0 : (T)(a % b); }
IDIV(int8_t, uint8_t) IDIV(int16_t, uint16_t) IDIV(int32_t, uint32_t) IDIV(int64_t, uint64_t)
IMOD(int8_t) IMOD(int16_t) IMOD(int32_t) IMOD(int64_t)
static inline uint8_t idiv_uint8_t(uint8_t a, uint8_t b) { return (uint8_t)(a / b); }
static inline uint8_t imod_uint8_t(uint8_t a, uint8_t b) { return (uint8_t)(a % b); }
#define IFLOORDIV(T)                                                       \
    static inline T ifloordiv_##T(T a, T b) {                              \
        T q = idiv_##T(a, b), r = imod_##T(a, b);                          \
        return (r != 0 && ((r < 0) != (b < 0))) ? (T)(q - 1) : q;          \
    }                                                                      \
    static inline T iremainder_##T(T a, T b) {                             \
        T r = imod_##T(a, b);                                              \
        return (r != 0 && ((r < 0) != (b < 0))) ? (T)(r + b) : r;          \
    }
IFLOORDIV(int8_t) IFLOORDIV(int16_t) IFLOORDIV(int32_t) IFLOORDIV(int64_t)
static inline uint8_t ifloordiv_uint8_t(uint8_t a, uint8_t b) { return (uint8_t)(a / b); }
static inline uint8_t iremainder_uint8_t(uint8_t a, uint8_t b) { return (uint8_t)(a % b); }

/* Python's float floor division (rounded quotient consistent with fmod). */
#define FFLOORDIV(T, SFX)                                                  \
    static inline T floordiv_##SFX(T a, T b) {                             \
        if (b == 0) return a / b;                                          \
        T mod = fmod##SFX(a, b);                                           \
        T div = (a - mod) / b;                                             \
        if (mod != 0 && (b < 0) != (mod < 0)) div -= 1;                    \
        if (div == 0) return copysign##SFX(0, a / b);                      \
        T fl = floor##SFX(div);                                            \
        if (div - fl > (T)0.5) fl += 1;                                    \
        return fl;                                                         \
    }                                                                      \
    static inline T fremainder_##SFX(T a, T b) {                           \
        T mod = fmod##SFX(a, b);                                           \
        return (mod != 0 && (b < 0) != (mod < 0)) ? mod + b : mod;         \
    }
FFLOORDIV(float, f)
FFLOORDIV(double, )

#define INT_DIVS(SFX, T)                                                   \
    CT_BINARY_LOOP(divt_##SFX, T, T, idiv_##T(a, b))                       \
    CT_BINARY_LOOP(divf_##SFX, T, T, ifloordiv_##T(a, b))                  \
    CT_BINARY_LOOP(rem_##SFX, T, T, iremainder_##T(a, b))                  \
    CT_BINARY_LOOP(fmod_##SFX, T, T, imod_##T(a, b))
CT_X_INT(INT_DIVS)
CT_BINARY_LOOP(divt_f32, float, float, truncf(a / b))
CT_BINARY_LOOP(divt_f64, double, double, trunc(a / b))
CT_BINARY_LOOP(divf_f64, double, double, floordiv_(a, b))
CT_BINARY_LOOP(rem_f64, double, double, fremainder_(a, b))
CT_BINARY_LOOP(fmod_f64, double, double, fmod(a, b))

/* NOTE [ float32 fmod through double ]
 * For float32 a, b the quotient q = trunc(a / b) computed in double is exact whenever
 * |a / b| < 2^29 (a float32 ratio cannot lie within a double rounding of an integer
 * below that), and then fma(-q, b, a) is fmod(a, b) exactly. That vectorises, unlike
 * libm's fmodf. Elements outside the range (b = 0, inf/nan operands, huge ratios) are
 * flagged and recomputed with the exact scalar formula. The floor-division and remainder
 * built on it repeat the scalar formulas step by step, so results are bit-identical. */
CT_VINLINE float vfmod_f32(float a, float b, int *slow) {
    double q = trunc((double)a / (double)b);
    float r = (float)fma(-q, (double)b, (double)a);
    *slow |= !(fabs(q) < 536870912.0) | !(fabsf(b) <= 3.40282347e38f);
    return r == 0.0f ? copysignf(0.0f, a) : r;
}
CT_VINLINE float vrem_f32(float a, float b, int *slow) {
    float mod = vfmod_f32(a, b, slow);
    return (mod != 0.0f && (b < 0.0f) != (mod < 0.0f)) ? mod + b : mod;
}
CT_VINLINE float vfloordiv_f32(float a, float b, int *slow) {
    float mod = vfmod_f32(a, b, slow);
    float div = (a - mod) / b;
    div = (mod != 0.0f && (b < 0.0f) != (mod < 0.0f)) ? div - 1.0f : div;
    float fl = floorf(div);
    fl = div - fl > 0.5f ? fl + 1.0f : fl;
    return div == 0.0f ? copysignf(0.0f, a / b) : fl;
}
#define VDIV_LOOP(NAME, VF, SF)                                                                \
    static void NAME(char **p, const int64_t *s, int64_t n, void *ctx) {                       \
        (void)ctx;                                                                             \
        if (s[0] == 4 && (s[1] == 4 || s[1] == 0) && (s[2] == 4 || s[2] == 0)) {               \
            float *o = (float *)p[0];                                                          \
            const float *x = (const float *)p[1], *y = (const float *)p[2];                    \
            int64_t sx = s[1] / 4, sy = s[2] / 4;                                              \
            for (int64_t i0 = 0; i0 < n; i0 += 512) {                                          \
                int64_t m = n - i0 < 512 ? n - i0 : 512;                                       \
                float tmp[512];                                                                \
                int slow = 0;                                                                  \
                const float *restrict xx = x + i0 * sx, *restrict yy = y + i0 * sy;            \
                if (sx && sy)                                                                  \
                    for (int64_t j = 0; j < m; j++) tmp[j] = VF(xx[j], yy[j], &slow);          \
                else if (sx)                                                                   \
                    for (int64_t j = 0; j < m; j++) tmp[j] = VF(xx[j], yy[0], &slow);          \
                else                                                                           \
                    for (int64_t j = 0; j < m; j++) tmp[j] = VF(xx[0], yy[j * sy], &slow);     \
                if (slow)                                                                      \
                    for (int64_t j = 0; j < m; j++) {                                          \
                        int one = 0;                                                           \
                        (void)VF(xx[j * sx], yy[j * sy], &one);                                \
                        if (one) tmp[j] = SF(xx[j * sx], yy[j * sy]);                          \
                    }                                                                          \
                memcpy(o + i0, tmp, (size_t)m * sizeof(float));                                \
            }                                                                                  \
        } else {                                                                               \
            for (int64_t i = 0; i < n; i++)                                                    \
                *(float *)(p[0] + i * s[0]) =                                                  \
                    SF(*(const float *)(p[1] + i * s[1]), *(const float *)(p[2] + i * s[2]));  \
        }                                                                                      \
    }
VDIV_LOOP(divf_f32, vfloordiv_f32, floordiv_f)
VDIV_LOOP(rem_f32, vrem_f32, fremainder_f)
VDIV_LOOP(fmod_f32, vfmod_f32, fmodf)

/* float32 pow as exp(y * log(x)) in double (vmath.h): the double result carries ~1e-14
 * relative error, far below float32 rounding. x <= 0, inf/nan operands take libm's powf. */
CT_VINLINE float vpow_f32(float x, float y, int *slow) {
    *slow |= !(x > 0.0f) | !(x < INFINITY) | !(fabsf(y) < INFINITY);
    double xs = x > 0.0f && x < INFINITY ? (double)x : 1.0;
    double ys = fabsf(y) < INFINITY ? (double)y : 0.0;
    return (float)ct_vexp(ys * ct_vlog(xs));
}
VDIV_LOOP(pow_f32, vpow_f32, powf)
static const ct_loops divt_loops = CT_LOOPS_NUM(divt);
static const ct_loops divf_loops = CT_LOOPS_NUM(divf);
static const ct_loops rem_loops = CT_LOOPS_NUM(rem);
static const ct_loops fmod_loops = CT_LOOPS_NUM(fmod);

/* Integer ops that divide: torch raises "ZeroDivisionError" (a RuntimeError). */
static ct_tensor *int_div_op(const char *op, ct_tensor *self, ct_tensor *other, ct_tensor *out, const ct_loops *loops,
                             int flags) {
    ct_tensor *ab[2] = {self, other};
    int rt = ct_result_type(2, ab);
    if (ct_dtype_is_integral(rt, false) && self->numel > 0 && ct_ew_any_zero(other))
        return ct_error(CT_ERR_RUNTIME, "ZeroDivisionError");
    return ct_ew_binary(op, self, other, out, loops, CT_RULE_SAME, flags, NULL);
}

static bool alpha_is_one(ct_scalar alpha) {
    return alpha.kind == CT_SCALAR_FLOAT ? alpha.v.d == 1.0 : alpha.v.i == 1;
}

static ct_tensor *add_impl(const char *op, ct_tensor *self, ct_tensor *other, ct_scalar alpha, ct_tensor *out,
                           bool negate) {
    ct_tensor *ab[2] = {self, other};
    int rt = ct_result_type(2, ab);
    if (alpha.kind == CT_SCALAR_FLOAT && !ct_dtype_is_floating(rt))
        return ct_error(CT_ERR_RUNTIME, "[%s] For integral input tensors, argument alpha must not be a floating point "
                        "number.", op);
    if (alpha.kind == CT_SCALAR_BOOL && rt != CT_BOOL)
        return ct_error(CT_ERR_RUNTIME, "[%s] Boolean alpha only supported for Boolean results.", op);
    if (negate) {
        if (self->dtype == CT_BOOL || other->dtype == CT_BOOL)
            return ct_error(CT_ERR_RUNTIME,
                            "[%s] Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
                            "trying to invert a mask, use the `~` or `logical_not()` operator instead.", op);
        if (alpha.kind == CT_SCALAR_FLOAT) alpha.v.d = -alpha.v.d; else alpha.v.i = -alpha.v.i;
    }
    ct_ew_ctx c = {0};
    if (!negate && alpha_is_one(alpha))
        return ct_ew_binary(op, self, other, out, &add_loops, CT_RULE_SAME, 0, &c);
    if (negate && alpha.kind != CT_SCALAR_FLOAT && alpha.v.i == -1)
        return ct_ew_binary(op, self, other, out, &sub_loops, CT_RULE_SAME, 0, &c);
    c.d0 = ct_scalar_to_f64(alpha);
    c.i0 = ct_scalar_to_i64(alpha);
    /* torch rounds alpha to a 16-bit compute dtype, as it does the scalar operand */
    if (rt == CT_FLOAT16) c.d0 = ct_half_to_float(ct_float_to_half((float)c.d0));
    if (rt == CT_BFLOAT16) c.d0 = ct_bf16_to_float(ct_float_to_bf16((float)c.d0));
    return ct_ew_binary(op, self, other, out, &adda_loops, CT_RULE_SAME, 0, &c);
}

ct_tensor *ct_add_impl(ct_tensor *self, ct_tensor *other, ct_scalar alpha) { return add_impl("add", self, other, alpha, NULL, false); }
ct_tensor *ct_add__impl(ct_tensor *self, ct_tensor *other, ct_scalar alpha) { return add_impl("add_", self, other, alpha, self, false); }
ct_tensor *ct_sub_impl(ct_tensor *self, ct_tensor *other, ct_scalar alpha) { return add_impl("sub", self, other, alpha, NULL, true); }
ct_tensor *ct_sub__impl(ct_tensor *self, ct_tensor *other, ct_scalar alpha) { return add_impl("sub_", self, other, alpha, self, true); }

ct_tensor *ct_mul_impl(ct_tensor *self, ct_tensor *other) {
    return ct_ew_binary("mul", self, other, NULL, &mul_loops, CT_RULE_SAME, CT_SCALAR_OPMATH, NULL);
}
ct_tensor *ct_mul__impl(ct_tensor *self, ct_tensor *other) {
    return ct_ew_binary("mul_", self, other, self, &mul_loops, CT_RULE_SAME, CT_SCALAR_OPMATH, NULL);
}

static ct_tensor *div_impl(const char *op, ct_tensor *self, ct_tensor *other, const char *mode, ct_tensor *out) {
    if (!mode) return ct_ew_binary(op, self, other, out, &div_loops, CT_RULE_FLOAT, CT_SCALAR_OPMATH, NULL);
    if (!strcmp(mode, "trunc")) return int_div_op(op, self, other, out, &divt_loops, CT_SCALAR_OPMATH);
    if (!strcmp(mode, "floor")) return int_div_op(op, self, other, out, &divf_loops, CT_SCALAR_OPMATH);
    return ct_error(CT_ERR_RUNTIME, "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '%s'",
                    mode);
}
ct_tensor *ct_div_impl(ct_tensor *self, ct_tensor *other, const char *rounding_mode) {
    return div_impl("div", self, other, rounding_mode, NULL);
}
ct_tensor *ct_div__impl(ct_tensor *self, ct_tensor *other, const char *rounding_mode) {
    return div_impl("div_", self, other, rounding_mode, self);
}
ct_tensor *ct_true_divide_impl(ct_tensor *self, ct_tensor *other) { return div_impl("true_divide", self, other, NULL, NULL); }
ct_tensor *ct_true_divide__impl(ct_tensor *self, ct_tensor *other) { return div_impl("true_divide_", self, other, NULL, self); }
ct_tensor *ct_floor_divide_impl(ct_tensor *self, ct_tensor *other) { return int_div_op("floor_divide", self, other, NULL, &divf_loops, CT_SCALAR_OPMATH); }
ct_tensor *ct_floor_divide__impl(ct_tensor *self, ct_tensor *other) { return int_div_op("floor_divide_", self, other, self, &divf_loops, CT_SCALAR_OPMATH); }
ct_tensor *ct_remainder_impl(ct_tensor *self, ct_tensor *other) { return int_div_op("remainder", self, other, NULL, &rem_loops, 0); }
ct_tensor *ct_remainder__impl(ct_tensor *self, ct_tensor *other) { return int_div_op("remainder_", self, other, self, &rem_loops, 0); }
ct_tensor *ct_fmod_impl(ct_tensor *self, ct_tensor *other) { return int_div_op("fmod", self, other, NULL, &fmod_loops, 0); }
ct_tensor *ct_fmod__impl(ct_tensor *self, ct_tensor *other) { return int_div_op("fmod_", self, other, self, &fmod_loops, 0); }

/* ------------------------------------------------------------------ pow */

/* Integer power by squaring with wrap-around; negative exponents give 0 except for bases
 * 1 and -1 (as torch). */
static inline int64_t ipow64(int64_t base, int64_t e) {
    if (e < 0) return base == 1 ? 1 : base == -1 ? ((e & 1) ? -1 : 1) : 0;
    uint64_t r = 1, b = (uint64_t)base;
    while (e) {
        if (e & 1) r *= b;
        b *= b;
        e >>= 1;
    }
    return (int64_t)r;
}
#define POW_I(SFX, T) CT_BINARY_LOOP(pow_##SFX, T, T, (T)ipow64((int64_t)a, (int64_t)b))
CT_X_INT(POW_I)

CT_BINARY_LOOP(pow_f64, double, double, pow(a, b))
static const ct_loops pow_loops = CT_LOOPS_NUM(pow);
CT_BINARY_LOOP(sq_f32, float, float, a *a)
CT_BINARY_LOOP(sq_f64, double, double, a *a)
#define SQ_I(SFX, T) CT_BINARY_LOOP(sq_##SFX, T, T, (T)((uint64_t)a * (uint64_t)a))
CT_X_INT(SQ_I)
static const ct_loops sq_loops = CT_LOOPS_NUM(sq);
CT_BINARY_LOOP(powb_b1, uint8_t, uint8_t, b ? a : 1)
CT_BINARY_LOOP(cube_f32, float, float, a * a * a)
CT_BINARY_LOOP(cube_f64, double, double, a * a * a)
CT_BINARY_LOOP(psqrt_f32, float, float, sqrtf(a))
CT_BINARY_LOOP(psqrt_f64, double, double, sqrt(a))
CT_BINARY_LOOP(prsqrt_f32, float, float, 1.0f / sqrtf(a))
CT_BINARY_LOOP(prsqrt_f64, double, double, 1.0 / sqrt(a))
CT_BINARY_LOOP(precip_f32, float, float, 1.0f / a)
CT_BINARY_LOOP(precip_f64, double, double, 1.0 / a)
CT_BINARY_LOOP(pinvsq_f32, float, float, 1.0f / (a * a))
CT_BINARY_LOOP(pinvsq_f64, double, double, 1.0 / (a * a))
static const ct_loops cube_loops = CT_LOOPS_FLT(cube);
static const ct_loops psqrt_loops = CT_LOOPS_FLT(psqrt);
static const ct_loops prsqrt_loops = CT_LOOPS_FLT(prsqrt);
static const ct_loops precip_loops = CT_LOOPS_FLT(precip);
static const ct_loops pinvsq_loops = CT_LOOPS_FLT(pinvsq);
static const ct_loops powb_loops = {{powb_b1}};

static ct_tensor *pow_impl(const char *op, ct_tensor *self, ct_tensor *exp, ct_tensor *out) {
    ct_tensor *ab[2] = {self, exp};
    int rt = ct_result_type(2, ab);
    bool wrapped = exp->flags & CT_FLAG_WRAPPED_NUMBER;
    if (wrapped && ct_dtype_is_integral(rt, true) && exp->dtype != CT_BOOL &&
        ct_load_i64(ct_tensor_data(exp), exp->dtype) < 0)
        return ct_error(CT_ERR_RUNTIME, "Integers to negative integer powers are not allowed.");
    if (rt == CT_BOOL) {
        /* bool ** True/False (a wrapped exponent) is defined: x ** 1 = x, x ** 0 = 1 */
        if (!wrapped || (self->flags & CT_FLAG_WRAPPED_NUMBER))
            return ct_error(CT_ERR_NOT_IMPLEMENTED, "\"pow\" not implemented for 'Bool'");
        return ct_ew_binary(op, self, exp, out, &powb_loops, CT_RULE_SAME, 0, NULL);
    }
    if (wrapped) {
        /* common scalar exponents as plain arithmetic (vectorised; torch special-cases the
         * same ones, so results match it bit for bit) */
        double e = ct_load_f64(ct_tensor_data(exp), exp->dtype);
        if (e == 2.0) return ct_ew_binary(op, self, exp, out, &sq_loops, CT_RULE_SAME, 0, NULL);
        if (ct_dtype_is_floating(rt)) {
            const ct_loops *l = e == 3.0 ? &cube_loops : e == 0.5 ? &psqrt_loops : e == -0.5 ? &prsqrt_loops
                                : e == -1.0 ? &precip_loops : e == -2.0 ? &pinvsq_loops : NULL;
            if (l) return ct_ew_binary(op, self, exp, out, l, CT_RULE_SAME, 0, NULL);
        }
    }
    return ct_ew_binary(op, self, exp, out, &pow_loops, CT_RULE_SAME, 0, NULL);
}
ct_tensor *ct_pow_impl(ct_tensor *self, ct_tensor *exponent) { return pow_impl("pow", self, exponent, NULL); }
ct_tensor *ct_pow__impl(ct_tensor *self, ct_tensor *exponent) { return pow_impl("pow_", self, exponent, self); }
ct_tensor *ct_pow_Scalar_impl(ct_scalar self, ct_tensor *exponent) {
    ct_tensor *b = ct_ew_wrap_scalar(self);
    if (!b) return NULL;
    ct_tensor *r = pow_impl("pow", b, exponent, NULL);
    ct_tensor_release(b);
    return r;
}

/* ------------------------------------------------------------------ atan2, hypot */

CT_BINARY_LOOP(atan2_f32, float, float, atan2f(a, b))
CT_BINARY_LOOP(atan2_f64, double, double, atan2(a, b))
static const ct_loops atan2_loops = CT_LOOPS_FLT(atan2);
ct_tensor *ct_atan2_impl(ct_tensor *self, ct_tensor *other) { return ct_ew_binary("atan2", self, other, NULL, &atan2_loops, CT_RULE_FLOAT, 0, NULL); }
ct_tensor *ct_atan2__impl(ct_tensor *self, ct_tensor *other) { return ct_ew_binary("atan2_", self, other, self, &atan2_loops, CT_RULE_FLOAT, 0, NULL); }

CT_BINARY_LOOP(hypot_f32, float, float, hypotf(a, b))
CT_BINARY_LOOP(hypot_f64, double, double, hypot(a, b))
static const ct_loops hypot_loops = CT_LOOPS_FLT(hypot);
ct_tensor *ct_hypot_impl(ct_tensor *self, ct_tensor *other) { return ct_ew_binary("hypot", self, other, NULL, &hypot_loops, CT_RULE_SAME, 0, NULL); }
ct_tensor *ct_hypot__impl(ct_tensor *self, ct_tensor *other) { return ct_ew_binary("hypot_", self, other, self, &hypot_loops, CT_RULE_SAME, 0, NULL); }

/* ------------------------------------------------------------------ lerp */

/* lerp(a, b, w) = a + w*(b - a), evaluated from the nearer end for |w| >= 0.5. */
#define LERP_EXPR(W, ABS) (ABS(W) < 0.5 ? a + (W) * (b - a) : b - (b - a) * (1 - (W)))
CT_BINARY_LOOP(lerps_f32, float, float, LERP_EXPR((float)c->d0, fabsf))
CT_BINARY_LOOP(lerps_f64, double, double, LERP_EXPR(c->d0, fabs))
CT_TERNARY_LOOP(lerpt_f32, float, float, LERP_EXPR(e, fabsf))
CT_TERNARY_LOOP(lerpt_f64, double, double, LERP_EXPR(e, fabs))
static const ct_loops lerps_loops = CT_LOOPS_FLT(lerps);
static const ct_loops lerpt_loops = CT_LOOPS_FLT(lerpt);

static int lerp_check(ct_tensor *self, ct_tensor *end, ct_tensor *weight) {
    static const char *names[] = {"bool", "unsigned char", "signed char", "short", "int", "long int",
                                  "c10::Half", "c10::BFloat16", "float", "double"};
    if (end->dtype != self->dtype)
        return ct_errorf(CT_ERR_RUNTIME, "expected dtype %s for `end` but got dtype %s", names[self->dtype],
                         names[end->dtype]);
    if (weight && weight->ndim > 0 && weight->dtype != self->dtype)
        return ct_errorf(CT_ERR_RUNTIME, "expected dtype %s for `weight` but got dtype %s", names[self->dtype],
                         names[weight->dtype]);
    return 0;
}
static ct_tensor *lerp_s(const char *op, ct_tensor *self, ct_tensor *end, ct_scalar w, ct_tensor *out) {
    if (lerp_check(self, end, NULL)) return NULL;
    ct_ew_ctx c = {0};
    c.d0 = ct_scalar_to_f64(w);
    return ct_ew_binary(op, self, end, out, &lerps_loops, CT_RULE_SAME, 0, &c);
}
static ct_tensor *lerp_t(const char *op, ct_tensor *self, ct_tensor *end, ct_tensor *w, ct_tensor *out) {
    if (lerp_check(self, end, w)) return NULL;
    return ct_ew_ternary(op, self, end, w, out, &lerpt_loops, CT_RULE_SAME, 0, NULL);
}
ct_tensor *ct_lerp_impl(ct_tensor *self, ct_tensor *end, ct_scalar weight) { return lerp_s("lerp", self, end, weight, NULL); }
ct_tensor *ct_lerp__impl(ct_tensor *self, ct_tensor *end, ct_scalar weight) { return lerp_s("lerp_", self, end, weight, self); }
ct_tensor *ct_lerp_Tensor_impl(ct_tensor *self, ct_tensor *end, ct_tensor *weight) { return lerp_t("lerp", self, end, weight, NULL); }
ct_tensor *ct_lerp__Tensor_impl(ct_tensor *self, ct_tensor *end, ct_tensor *weight) { return lerp_t("lerp_", self, end, weight, self); }

/* ------------------------------------------------------------------ addcmul, addcdiv */

#define ADDC_I(SFX, T) \
    CT_TERNARY_LOOP(addcmul_##SFX, T, T, (T)((uint64_t)a + (uint64_t)(T)c->i0 * (uint64_t)b * (uint64_t)e))
CT_X_INT(ADDC_I)
CT_TERNARY_LOOP(addcmul_f32, float, float, a + (float)c->d0 * b * e)
CT_TERNARY_LOOP(addcmul_f64, double, double, a + c->d0 * b * e)
CT_TERNARY_LOOP(addcdiv_f32, float, float, a + (float)c->d0 * b / e)
CT_TERNARY_LOOP(addcdiv_f64, double, double, a + c->d0 * b / e)
static const ct_loops addcmul_loops = CT_LOOPS_NUM(addcmul);
static const ct_loops addcdiv_loops = CT_LOOPS_FLT(addcdiv);

static ct_tensor *addc(const char *op, ct_tensor *self, ct_tensor *t1, ct_tensor *t2, ct_scalar value, ct_tensor *out,
                       bool is_div) {
    if (is_div && ct_dtype_is_integral(t1->dtype, true) && ct_dtype_is_integral(t2->dtype, true))
        return ct_error(CT_ERR_RUNTIME, "Integer division with addcdiv is no longer supported, and in a future  "
                        "release addcdiv will perform a true division of tensor1 and tensor2. The historic addcdiv "
                        "behavior can be implemented as (input + value * torch.trunc(tensor1 / tensor2)).to(input.dtype) "
                        "for integer inputs and as (input + value * tensor1 / tensor2) for float inputs. The future "
                        "addcdiv behavior is just the latter implementation: (input + value * tensor1 / tensor2), "
                        "for all dtypes.");
    ct_ew_ctx c = {0};
    c.d0 = ct_scalar_to_f64(value);
    c.i0 = ct_scalar_to_i64(value);
    return ct_ew_ternary(op, self, t1, t2, out, is_div ? &addcdiv_loops : &addcmul_loops, CT_RULE_SAME, 0, &c);
}
ct_tensor *ct_addcmul_impl(ct_tensor *self, ct_tensor *tensor1, ct_tensor *tensor2, ct_scalar value) {
    return addc("addcmul", self, tensor1, tensor2, value, NULL, false);
}
ct_tensor *ct_addcmul__impl(ct_tensor *self, ct_tensor *tensor1, ct_tensor *tensor2, ct_scalar value) {
    return addc("addcmul_", self, tensor1, tensor2, value, self, false);
}
ct_tensor *ct_addcdiv_impl(ct_tensor *self, ct_tensor *tensor1, ct_tensor *tensor2, ct_scalar value) {
    return addc("addcdiv", self, tensor1, tensor2, value, NULL, true);
}
ct_tensor *ct_addcdiv__impl(ct_tensor *self, ct_tensor *tensor1, ct_tensor *tensor2, ct_scalar value) {
    return addc("addcdiv_", self, tensor1, tensor2, value, self, true);
}

/* ------------------------------------------------------------------ scalar first argument */

/* torch.add(2, t) etc.: the scalar becomes a wrapped number (weakly typed). */
#define WITH_WRAPPED(S, EXPR)                       \
    ct_tensor *w = ct_ew_wrap_scalar(S);            \
    if (!w) return NULL;                            \
    ct_tensor *r = (EXPR);                          \
    ct_tensor_release(w);                           \
    return r;
ct_tensor *ct_add_Scalar_Tensor(ct_scalar self, ct_tensor *other, ct_scalar alpha) { WITH_WRAPPED(self, ct_add(w, other, alpha)) }
ct_tensor *ct_sub_Scalar_Tensor(ct_scalar self, ct_tensor *other, ct_scalar alpha) { WITH_WRAPPED(self, ct_sub(w, other, alpha)) }
ct_tensor *ct_mul_Scalar_Tensor(ct_scalar self, ct_tensor *other) { WITH_WRAPPED(self, ct_mul(w, other)) }
ct_tensor *ct_div_Scalar_Tensor(ct_scalar self, ct_tensor *other, const char *rounding_mode) {
    WITH_WRAPPED(self, ct_div(w, other, rounding_mode))
}
ct_tensor *ct_true_divide_Scalar_Tensor(ct_scalar self, ct_tensor *other) { WITH_WRAPPED(self, ct_true_divide(w, other)) }
ct_tensor *ct_floor_divide_Scalar_Tensor(ct_scalar self, ct_tensor *other) { WITH_WRAPPED(self, ct_floor_divide(w, other)) }
ct_tensor *ct_remainder_Scalar_Tensor(ct_scalar self, ct_tensor *other) { WITH_WRAPPED(self, ct_remainder(w, other)) }
ct_tensor *ct_bitwise_and_Scalar_Tensor(ct_scalar self, ct_tensor *other) { WITH_WRAPPED(self, ct_bitwise_and(w, other)) }
ct_tensor *ct_bitwise_or_Scalar_Tensor(ct_scalar self, ct_tensor *other) { WITH_WRAPPED(self, ct_bitwise_or(w, other)) }
ct_tensor *ct_bitwise_xor_Scalar_Tensor(ct_scalar self, ct_tensor *other) { WITH_WRAPPED(self, ct_bitwise_xor(w, other)) }
ct_tensor *ct_bitwise_left_shift_Scalar_Tensor(ct_scalar self, ct_tensor *other) {
    WITH_WRAPPED(self, ct_bitwise_left_shift(w, other))
}
ct_tensor *ct_bitwise_right_shift_Scalar_Tensor(ct_scalar self, ct_tensor *other) {
    WITH_WRAPPED(self, ct_bitwise_right_shift(w, other))
}
