/* Building blocks for elementwise kernels: loop generators (contiguous / scalar-broadcast /
 * strided paths, written so the compiler vectorises the contiguous ones) and the drivers
 * that do promotion, broadcasting, output allocation and 16-bit-float handling. */
#ifndef CTORCH_ELEMENTWISE_H
#define CTORCH_ELEMENTWISE_H

#include "../../core/internal.h"

/* Context passed to every elementwise loop: up to two scalar parameters (alpha, bounds,
 * exponent ...) as double and int64. */
typedef struct ct_ew_ctx {
    double d0, d1;
    int64_t i0, i1;
    const void *extra;
} ct_ew_ctx;

/* Binary loop: out[i] = EXPR(a, b) with a, b of type T and out of type TO. EXPR may use
 * `c` (const ct_ew_ctx *). Fast paths: all contiguous; b broadcast; a broadcast. */
#define CT_BINARY_LOOP(NAME, T, TO, EXPR)                                                    \
    static void NAME(char **p, const int64_t *s, int64_t n, void *vctx) {                   \
        const ct_ew_ctx *c = (const ct_ew_ctx *)vctx;                                       \
        (void)c;                                                                             \
        if (s[0] == sizeof(TO) && s[1] == sizeof(T) && s[2] == sizeof(T)) {                  \
            TO *restrict o = (TO *)p[0];                                                     \
            const T *restrict x = (const T *)p[1];                                           \
            const T *restrict y = (const T *)p[2];                                           \
            _Pragma("GCC ivdep") for (int64_t i = 0; i < n; i++) {                           \
                T a = x[i], b = y[i];                                                        \
                (void)b;                                                                     \
                o[i] = (TO)(EXPR);                                                           \
            }                                                                                \
        } else if (s[0] == sizeof(TO) && s[1] == sizeof(T) && s[2] == 0) {                   \
            TO *restrict o = (TO *)p[0];                                                     \
            const T *restrict x = (const T *)p[1];                                           \
            const T b = *(const T *)p[2];                                                    \
            (void)b;                                                                         \
            _Pragma("GCC ivdep") for (int64_t i = 0; i < n; i++) {                           \
                T a = x[i];                                                                  \
                o[i] = (TO)(EXPR);                                                           \
            }                                                                                \
        } else if (s[0] == sizeof(TO) && s[1] == 0 && s[2] == sizeof(T)) {                   \
            TO *restrict o = (TO *)p[0];                                                     \
            const T a = *(const T *)p[1];                                                    \
            const T *restrict y = (const T *)p[2];                                           \
            _Pragma("GCC ivdep") for (int64_t i = 0; i < n; i++) {                           \
                T b = y[i];                                                                  \
                (void)b;                                                                     \
                o[i] = (TO)(EXPR);                                                           \
            }                                                                                \
        } else {                                                                             \
            for (int64_t i = 0; i < n; i++) {                                                \
                T a = *(const T *)(p[1] + i * s[1]);                                         \
                T b = *(const T *)(p[2] + i * s[2]);                                         \
                (void)b;                                                                     \
                *(TO *)(p[0] + i * s[0]) = (TO)(EXPR);                                       \
            }                                                                                \
        }                                                                                    \
    }

/* Unary loop: out[i] = EXPR(a). */
#define CT_UNARY_LOOP(NAME, T, TO, EXPR)                                                     \
    static void NAME(char **p, const int64_t *s, int64_t n, void *vctx) {                   \
        const ct_ew_ctx *c = (const ct_ew_ctx *)vctx;                                       \
        (void)c;                                                                             \
        if (s[0] == sizeof(TO) && s[1] == sizeof(T)) {                                       \
            TO *restrict o = (TO *)p[0];                                                     \
            const T *restrict x = (const T *)p[1];                                           \
            _Pragma("GCC ivdep") for (int64_t i = 0; i < n; i++) {                           \
                T a = x[i];                                                                  \
                (void)a;                                                                     \
                o[i] = (TO)(EXPR);                                                           \
            }                                                                                \
        } else {                                                                             \
            for (int64_t i = 0; i < n; i++) {                                                \
                T a = *(const T *)(p[1] + i * s[1]);                                         \
                (void)a;                                                                     \
                *(TO *)(p[0] + i * s[0]) = (TO)(EXPR);                                       \
            }                                                                                \
        }                                                                                    \
    }

/* Ternary loop: out[i] = EXPR(a, b, e) (lerp, addcmul, clamp). Fast paths: all contiguous;
 * b and e broadcast (scalar bounds/weights). */
#define CT_TERNARY_LOOP(NAME, T, TO, EXPR)                                                   \
    static void NAME(char **p, const int64_t *s, int64_t n, void *vctx) {                   \
        const ct_ew_ctx *c = (const ct_ew_ctx *)vctx;                                       \
        (void)c;                                                                             \
        if (s[0] == sizeof(TO) && s[1] == sizeof(T) && s[2] == sizeof(T) && s[3] == sizeof(T)) { \
            TO *restrict o = (TO *)p[0];                                                     \
            const T *restrict x = (const T *)p[1];                                           \
            const T *restrict y = (const T *)p[2];                                           \
            const T *restrict z = (const T *)p[3];                                           \
            _Pragma("GCC ivdep") for (int64_t i = 0; i < n; i++) {                           \
                T a = x[i], b = y[i], e = z[i];                                              \
                o[i] = (TO)(EXPR);                                                           \
            }                                                                                \
        } else if (s[0] == sizeof(TO) && s[1] == sizeof(T) && s[2] == 0 && s[3] == 0) {      \
            TO *restrict o = (TO *)p[0];                                                     \
            const T *restrict x = (const T *)p[1];                                           \
            const T b = *(const T *)p[2], e = *(const T *)p[3];                              \
            _Pragma("GCC ivdep") for (int64_t i = 0; i < n; i++) {                           \
                T a = x[i];                                                                  \
                o[i] = (TO)(EXPR);                                                           \
            }                                                                                \
        } else {                                                                             \
            for (int64_t i = 0; i < n; i++) {                                                \
                T a = *(const T *)(p[1] + i * s[1]);                                         \
                T b = *(const T *)(p[2] + i * s[2]);                                         \
                T e = *(const T *)(p[3] + i * s[3]);                                         \
                *(TO *)(p[0] + i * s[0]) = (TO)(EXPR);                                       \
            }                                                                                \
        }                                                                                    \
    }

/* Loop-table initialisers: P##_b1, P##_u8 ... P##_f64 named loops. */
#define CT_LOOPS_ALL(P) {{P##_b1, P##_u8, P##_i8, P##_i16, P##_i32, P##_i64, NULL, NULL, P##_f32, P##_f64}}
#define CT_LOOPS_NUM(P) {{NULL, P##_u8, P##_i8, P##_i16, P##_i32, P##_i64, NULL, NULL, P##_f32, P##_f64}}
#define CT_LOOPS_INT(P) {{NULL, P##_u8, P##_i8, P##_i16, P##_i32, P##_i64, NULL, NULL, NULL, NULL}}
#define CT_LOOPS_INTB(P) {{P##_b1, P##_u8, P##_i8, P##_i16, P##_i32, P##_i64, NULL, NULL, NULL, NULL}}
#define CT_LOOPS_FLT(P) {{NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, P##_f32, P##_f64}}
/* X-macros over loop C types: X(suffix, C type). */
#define CT_X_INT(X) X(u8, uint8_t) X(i8, int8_t) X(i16, int16_t) X(i32, int32_t) X(i64, int64_t)
#define CT_X_FLT(X) X(f32, float) X(f64, double)

/* Per-dtype loop table; NULL entries mean "dtype not supported by this op". */
typedef struct ct_loops {
    ct_loop_fn f[CT_NUM_DTYPES];
} ct_loops;

/* How an op chooses its computation dtype from the promoted input dtype. */
typedef enum ct_dtype_rule {
    CT_RULE_SAME,        /* compute in the promoted dtype (add, mul, maximum) */
    CT_RULE_FLOAT,       /* integers/bool promote to the default float (div, exp, sqrt) */
    CT_RULE_INT_ONLY,    /* integer/bool only; float is a TypeError/RuntimeError (bitwise) */
    CT_RULE_NO_BOOL,     /* promoted dtype but bool is rejected (sub, neg) */
} ct_dtype_rule;

/* Output dtype for a comparison/predicate op is bool whatever the compute dtype. */
#define CT_OUT_BOOL 1
/* For float16/bfloat16 computes: keep Python-scalar operands at float32 precision instead
 * of rounding them to the 16-bit dtype first. torch does this for mul and the divisions
 * only; add, sub, comparisons, fmod ... see the scalar rounded (NOTE [ 16-bit floats
 * through float32 loops ] in elementwise.c). */
#define CT_SCALAR_OPMATH 2

/* Elementwise drivers. `out` may be NULL (allocate) or a tensor to write into (in-place:
 * out == a; its dtype must be able to hold the result: torch's "result type Float can't be
 * cast to the desired output type Long"). Loops for float16/bfloat16 may be NULL: then the
 * computation runs in float32 and is rounded into the 16-bit output. Returns a new
 * reference (to out when given). */
ct_tensor *ct_ew_binary(const char *op, ct_tensor *a, ct_tensor *b, ct_tensor *out, const ct_loops *loops,
                        ct_dtype_rule rule, int out_flags, ct_ew_ctx *ctx);
ct_tensor *ct_ew_unary(const char *op, ct_tensor *a, ct_tensor *out, const ct_loops *loops, ct_dtype_rule rule,
                       int out_flags, ct_ew_ctx *ctx);
/* Three inputs, promoted together (lerp, addcmul, addcdiv, clamp with tensor bounds). */
ct_tensor *ct_ew_ternary(const char *op, ct_tensor *a, ct_tensor *b, ct_tensor *e, ct_tensor *out,
                         const ct_loops *loops, ct_dtype_rule rule, int out_flags, ct_ew_ctx *ctx);
/* A 0-dim "wrapped number" tensor for a scalar (weakly typed in promotion). New reference. */
ct_tensor *ct_ew_wrap_scalar(ct_scalar s);
/* True when any element of t is zero (integer division checks). */
bool ct_ew_any_zero(ct_tensor *t);
/* torch's C++ type name ("Float", "Long") for messages. */
const char *ct_torch_type_name(int dtype);
/* Compute dtype for op applied to dtype d under rule; -1 with error when unsupported. */
int ct_ew_compute_dtype(const char *op, int d, ct_dtype_rule rule);


#endif
