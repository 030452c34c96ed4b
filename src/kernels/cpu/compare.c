/* Comparison, logical, bitwise and selection ops: eq/ne/lt/le/gt/ge, logical_and/or/xor,
 * bitwise_and/or/xor and shifts, minimum/maximum/fmin/fmax, clamp, isclose/allclose/
 * equal, where. */
/* FP exceptions are never inspected: non-trapping comparisons let GCC if-convert and
 * vectorise the NaN-aware select chains (min/max/clamp ...). Values are unaffected. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include "ctorch/ops_gen.h"
#include "elementwise.h"

/* Loops over every dtype (bool included) for one expression; output type TO. */
#define ALL_TYPES_LOOP(MAC, N, TO, E)                       \
    MAC(N##_b1, uint8_t, TO(uint8_t), E)                    \
    MAC(N##_u8, uint8_t, TO(uint8_t), E)                    \
    MAC(N##_i8, int8_t, TO(int8_t), E)                      \
    MAC(N##_i16, int16_t, TO(int16_t), E)                   \
    MAC(N##_i32, int32_t, TO(int32_t), E)                   \
    MAC(N##_i64, int64_t, TO(int64_t), E)                   \
    MAC(N##_f32, float, TO(float), E)                       \
    MAC(N##_f64, double, TO(double), E)
#define OUT_BOOL(T) uint8_t
#define OUT_SAME(T) T

/* ------------------------------------------------------------------ comparisons */

#define CMP(N, E)                                                                              \
    ALL_TYPES_LOOP(CT_BINARY_LOOP, N, OUT_BOOL, E)                                             \
    static const ct_loops N##_loops = CT_LOOPS_ALL(N);                                         \
    ct_tensor *ct_##N(ct_tensor *self, ct_tensor *other) {                                     \
        return ct_ew_binary(#N, self, other, NULL, &N##_loops, CT_RULE_SAME, CT_OUT_BOOL, NULL); \
    }                                                                                          \
    ct_tensor *ct_##N##_(ct_tensor *self, ct_tensor *other) {                                  \
        return ct_ew_binary(#N "_", self, other, self, &N##_loops, CT_RULE_SAME, CT_OUT_BOOL, NULL); \
    }
CMP(eq, a == b)
CMP(ne, a != b)
CMP(lt, a < b)
CMP(le, a <= b)
CMP(gt, a > b)
CMP(ge, a >= b)

CMP(logical_and, (a != 0) & (b != 0))
CMP(logical_or, (a != 0) | (b != 0))
CMP(logical_xor, (a != 0) ^ (b != 0))

/* ------------------------------------------------------------------ bitwise */

#define BITW(N, E)                                                                               \
    CT_BINARY_LOOP(N##_b1, uint8_t, uint8_t, E)                                                  \
    CT_BINARY_LOOP(N##_u8, uint8_t, uint8_t, E)                                                  \
    CT_BINARY_LOOP(N##_i8, int8_t, int8_t, E)                                                    \
    CT_BINARY_LOOP(N##_i16, int16_t, int16_t, E)                                                 \
    CT_BINARY_LOOP(N##_i32, int32_t, int32_t, E)                                                 \
    CT_BINARY_LOOP(N##_i64, int64_t, int64_t, E)                                                 \
    static const ct_loops N##_loops = CT_LOOPS_INTB(N);                                          \
    ct_tensor *ct_##N(ct_tensor *self, ct_tensor *other) {                                       \
        return ct_ew_binary(#N, self, other, NULL, &N##_loops, CT_RULE_INT_ONLY, 0, NULL);       \
    }                                                                                            \
    ct_tensor *ct_##N##_(ct_tensor *self, ct_tensor *other) {                                    \
        return ct_ew_binary(#N "_", self, other, self, &N##_loops, CT_RULE_INT_ONLY, 0, NULL);   \
    }
BITW(bitwise_and, a &b)
BITW(bitwise_or, a | b)
BITW(bitwise_xor, a ^ b)

/* Shifts by a negative amount or by the bit width or more: 0 for left shifts, the sign
 * fill for right shifts (as torch). Computed on the unsigned type (no UB). */
#define NBITS(T) ((int64_t)(sizeof(T) * 8))
#define SHIFTS(SFX, T, UT)                                                                             \
    CT_BINARY_LOOP(lshift_##SFX, T, T, (b < 0 || (int64_t)b >= NBITS(T)) ? (T)0 : (T)((UT)a << b))     \
    CT_BINARY_LOOP(rshift_##SFX, T, T,                                                                 \
                   (b < 0 || (int64_t)b >= NBITS(T)) ? (T)(a < 0 ? -1 : 0) : (T)(a >> b))
CT_BINARY_LOOP(lshift_u8, uint8_t, uint8_t, b >= 8 ? 0 : (uint8_t)((uint32_t)a << b))
CT_BINARY_LOOP(rshift_u8, uint8_t, uint8_t, b >= 8 ? 0 : (uint8_t)(a >> b))
SHIFTS(i8, int8_t, uint32_t)
SHIFTS(i16, int16_t, uint32_t)
SHIFTS(i32, int32_t, uint32_t)
SHIFTS(i64, int64_t, uint64_t)
static const ct_loops lshift_loops = CT_LOOPS_INT(lshift);
static const ct_loops rshift_loops = CT_LOOPS_INT(rshift);
ct_tensor *ct_bitwise_left_shift(ct_tensor *self, ct_tensor *other) {
    return ct_ew_binary("lshift", self, other, NULL, &lshift_loops, CT_RULE_INT_ONLY, 0, NULL);
}
ct_tensor *ct_bitwise_left_shift_(ct_tensor *self, ct_tensor *other) {
    return ct_ew_binary("lshift", self, other, self, &lshift_loops, CT_RULE_INT_ONLY, 0, NULL);
}
ct_tensor *ct_bitwise_right_shift(ct_tensor *self, ct_tensor *other) {
    return ct_ew_binary("rshift", self, other, NULL, &rshift_loops, CT_RULE_INT_ONLY, 0, NULL);
}
ct_tensor *ct_bitwise_right_shift_(ct_tensor *self, ct_tensor *other) {
    return ct_ew_binary("rshift", self, other, self, &rshift_loops, CT_RULE_INT_ONLY, 0, NULL);
}

/* ------------------------------------------------------------------ minimum, maximum */

/* NaN-propagating max/min (any NaN operand gives NaN; a + b is NaN then). For integer
 * types the NaN tests fold away. */
/* Ties (equal values, -0.0 vs 0.0) give `a`, as torch's scalar paths. */
#define MAXP(a, b) (((a) != (a) || (b) != (b)) ? (a) + (b) : ((a) < (b) ? (b) : (a)))
#define MINP(a, b) (((a) != (a) || (b) != (b)) ? (a) + (b) : ((b) < (a) ? (b) : (a)))
/* NaN-ignoring (fmax/fmin): a NaN operand yields the other one. */
#define FMAXE(a, b) ((b) != (b) ? (a) : ((a) != (a) ? (b) : ((a) < (b) ? (b) : (a))))
#define FMINE(a, b) ((b) != (b) ? (a) : ((a) != (a) ? (b) : ((b) < (a) ? (b) : (a))))

#define MINMAX(N, E)                                                                       \
    ALL_TYPES_LOOP(CT_BINARY_LOOP, N, OUT_SAME, E)                                         \
    static const ct_loops N##_loops = CT_LOOPS_ALL(N);                                     \
    ct_tensor *ct_##N##_impl(ct_tensor *self, ct_tensor *other) {                          \
        return ct_ew_binary(#N, self, other, NULL, &N##_loops, CT_RULE_SAME, 0, NULL);     \
    }
/* bool: a + b would not be bool-valued; |, & are max and min there */
#undef OUT_SAME
#define OUT_SAME(T) T
MINMAX(maximum, MAXP(a, b))
MINMAX(minimum, MINP(a, b))
MINMAX(fmax, FMAXE(a, b))
MINMAX(fmin, FMINE(a, b))

/* ------------------------------------------------------------------ clamp */

ALL_TYPES_LOOP(CT_BINARY_LOOP, clampmin, OUT_SAME, MAXP(a, b))
ALL_TYPES_LOOP(CT_BINARY_LOOP, clampmax, OUT_SAME, MINP(a, b))
/* clamp(x, lo, hi) = min(max(x, lo), hi); any NaN among the three gives NaN. Written as
 * straight-line selects so the float loops vectorise. */
#define CLAMP_FN(T, SFX)                                                      \
    static inline T clamp3_##SFX(T a, T lo, T hi) {                          \
        T r = a < lo ? lo : a;                                               \
        r = hi < r ? hi : r;                                                 \
        T nan = a + lo + hi;                                                 \
        return (a != a || lo != lo || hi != hi) ? nan : r;                   \
    }
CLAMP_FN(float, f32)
CLAMP_FN(double, f64)
#define CLAMP_I(SFX, T) CT_TERNARY_LOOP(clamp_##SFX, T, T, MINP(MAXP(a, b), e))
CT_X_INT(CLAMP_I)
CT_TERNARY_LOOP(clamp_f32, float, float, clamp3_f32(a, b, e))
CT_TERNARY_LOOP(clamp_f64, double, double, clamp3_f64(a, b, e))
static const ct_loops clampmin_loops = CT_LOOPS_ALL(clampmin);
static const ct_loops clampmax_loops = CT_LOOPS_ALL(clampmax);
static const ct_loops clamp_loops = CT_LOOPS_NUM(clamp); /* bool: only one-sided tensor bounds */

static ct_tensor *clamp_t(const char *op, ct_tensor *self, ct_tensor *lo, ct_tensor *hi, ct_tensor *out) {
    if (!lo && !hi) return ct_error(CT_ERR_RUNTIME, "torch.clamp: At least one of 'min' or 'max' must not be None");
    if (lo && hi) return ct_ew_ternary(op, self, lo, hi, out, &clamp_loops, CT_RULE_SAME, 0, NULL);
    if (lo) return ct_ew_binary(op, self, lo, out, &clampmin_loops, CT_RULE_SAME, 0, NULL);
    return ct_ew_binary(op, self, hi, out, &clampmax_loops, CT_RULE_SAME, 0, NULL);
}
static ct_tensor *clamp_s(const char *op, ct_tensor *self, const ct_scalar *lo, const ct_scalar *hi, ct_tensor *out) {
    ct_tensor *tl = lo ? ct_ew_wrap_scalar(*lo) : NULL;
    if (self->dtype == CT_BOOL && (!lo || lo->kind == CT_SCALAR_BOOL) && (!hi || hi->kind == CT_SCALAR_BOOL) && (lo || hi)) {
        ct_tensor_release(tl);
        return ct_error(CT_ERR_NOT_IMPLEMENTED, "\"%s_scalar_cpu\" not implemented for 'Bool'", op);
    }
    ct_tensor *th = hi ? ct_ew_wrap_scalar(*hi) : NULL;
    ct_tensor *r = clamp_t(op, self, tl, th, out);
    ct_tensor_release(tl);
    ct_tensor_release(th);
    return r;
}
ct_tensor *ct_clamp_impl(ct_tensor *self, const ct_scalar *min, const ct_scalar *max) { return clamp_s("clamp", self, min, max, NULL); }
ct_tensor *ct_clamp__impl(ct_tensor *self, const ct_scalar *min, const ct_scalar *max) { return clamp_s("clamp_", self, min, max, self); }
ct_tensor *ct_clamp_Tensor_impl(ct_tensor *self, ct_tensor *min, ct_tensor *max) { return clamp_t("clamp", self, min, max, NULL); }
ct_tensor *ct_clamp__Tensor_impl(ct_tensor *self, ct_tensor *min, ct_tensor *max) { return clamp_t("clamp_", self, min, max, self); }
ct_tensor *ct_clamp_min_impl(ct_tensor *self, ct_scalar min) { return clamp_s("clamp_min", self, &min, NULL, NULL); }
ct_tensor *ct_clamp_min__impl(ct_tensor *self, ct_scalar min) { return clamp_s("clamp_min_", self, &min, NULL, self); }
ct_tensor *ct_clamp_min_Tensor_impl(ct_tensor *self, ct_tensor *min) { return clamp_t("clamp_min", self, min, NULL, NULL); }
ct_tensor *ct_clamp_min__Tensor_impl(ct_tensor *self, ct_tensor *min) { return clamp_t("clamp_min_", self, min, NULL, self); }
ct_tensor *ct_clamp_max_impl(ct_tensor *self, ct_scalar max) { return clamp_s("clamp_max", self, NULL, &max, NULL); }
ct_tensor *ct_clamp_max__impl(ct_tensor *self, ct_scalar max) { return clamp_s("clamp_max_", self, NULL, &max, self); }
ct_tensor *ct_clamp_max_Tensor_impl(ct_tensor *self, ct_tensor *max) { return clamp_t("clamp_max", self, NULL, max, NULL); }
ct_tensor *ct_clamp_max__Tensor_impl(ct_tensor *self, ct_tensor *max) { return clamp_t("clamp_max_", self, NULL, max, self); }

/* ------------------------------------------------------------------ isclose, equal */

/* close = a == b, or both NaN with equal_nan (i0), or |a - b| finite and <= atol + |rtol*b|
 * (d0 = rtol, d1 = atol). Integers take the difference in their own type (as torch). */
#define CLOSE_F(T, ABS)                                                                        \
    (a == b || (c->i0 && a != a && b != b) ||                                                  \
     (ABS(a - b) != (T)INFINITY && ABS(a - b) <= (T)c->d1 + ABS((T)c->d0 * b)))
#define CLOSE_I(T)                                                                             \
    (a == b || (float)(a > b ? (uint64_t)a - (uint64_t)b : (uint64_t)b - (uint64_t)a) <=              \
                   (float)c->d1 + fabsf((float)c->d0 * (float)b))
CT_BINARY_LOOP(close_f32, float, uint8_t, CLOSE_F(float, fabsf))
CT_BINARY_LOOP(close_f64, double, uint8_t, CLOSE_F(double, fabs))
#define CLOSE_IL(SFX, T) CT_BINARY_LOOP(close_##SFX, T, uint8_t, CLOSE_I(T))
CT_X_INT(CLOSE_IL)
CT_BINARY_LOOP(close_b1, uint8_t, uint8_t, a == b || fabsf((float)a - (float)b) <= (float)c->d1 + fabsf((float)c->d0 * (float)b))
static const ct_loops close_loops = CT_LOOPS_ALL(close);

ct_tensor *ct_isclose(ct_tensor *self, ct_tensor *other, double rtol, double atol, bool equal_nan) {
    if (self->dtype != other->dtype)
        return ct_error(CT_ERR_RUNTIME, "%s did not match %s", ct_torch_type_name(self->dtype),
                        ct_torch_type_name(other->dtype));
    if (rtol < 0) return ct_error(CT_ERR_RUNTIME, "rtol must be greater than or equal to zero, but got %g", rtol);
    if (atol < 0) return ct_error(CT_ERR_RUNTIME, "atol must be greater than or equal to zero, but got %g", atol);
    ct_ew_ctx c = {0};
    c.d0 = rtol;
    c.d1 = atol;
    c.i0 = equal_nan;
    return ct_ew_binary("isclose", self, other, NULL, &close_loops, CT_RULE_SAME, CT_OUT_BOOL, &c);
}

/* All elements of a (fresh, contiguous) bool tensor are true. */
static bool all_true(const ct_tensor *t) {
    const uint8_t *p = ct_tensor_data(t);
    for (int64_t i = 0; i < t->numel; i++)
        if (!p[i]) return false;
    return true;
}

int ct_allclose(ct_tensor *self, ct_tensor *other, double rtol, double atol, bool equal_nan, bool *result) {
    ct_tensor *r = ct_isclose(self, other, rtol, atol, equal_nan);
    if (!r) return -1;
    *result = all_true(r);
    ct_tensor_release(r);
    return 0;
}

int ct_equal(ct_tensor *self, ct_tensor *other, bool *result) {
    bool same = self->ndim == other->ndim;
    for (int i = 0; same && i < self->ndim; i++) same = self->sizes[i] == other->sizes[i];
    if (!same) {
        *result = false;
        return 0;
    }
    ct_tensor *r = ct_eq(self, other);
    if (!r) return -1;
    *result = all_true(r);
    ct_tensor_release(r);
    return 0;
}

/* ------------------------------------------------------------------ where */

/* out = cond ? x : y, operands already in the result dtype: a byte select by element size. */
#define WHERE_LOOP(NAME, T)                                                                    \
    static void NAME(char **p, const int64_t *s, int64_t n, void *ctx) {                       \
        (void)ctx;                                                                             \
        if (s[0] == sizeof(T) && s[1] == 1 && s[2] == sizeof(T) && s[3] == sizeof(T)) {        \
            T *restrict o = (T *)p[0];                                                         \
            const uint8_t *restrict m = (const uint8_t *)p[1];                                 \
            const T *restrict x = (const T *)p[2];                                             \
            const T *restrict y = (const T *)p[3];                                             \
            for (int64_t i = 0; i < n; i++) o[i] = m[i] ? x[i] : y[i];                         \
        } else {                                                                               \
            for (int64_t i = 0; i < n; i++)                                                    \
                *(T *)(p[0] + i * s[0]) = *(const uint8_t *)(p[1] + i * s[1])                  \
                                              ? *(const T *)(p[2] + i * s[2])                  \
                                              : *(const T *)(p[3] + i * s[3]);                 \
        }                                                                                      \
    }
WHERE_LOOP(where1, uint8_t)
WHERE_LOOP(where2, uint16_t)
WHERE_LOOP(where4, uint32_t)
WHERE_LOOP(where8, uint64_t)

ct_tensor *ct_where_self_impl(ct_tensor *condition, ct_tensor *input, ct_tensor *other) {
    if (condition->dtype != CT_BOOL && condition->dtype != CT_UINT8)
        return ct_error(CT_ERR_RUNTIME, "where expected condition to be a boolean tensor, but got a tensor with dtype %s",
                        ct_torch_type_name(condition->dtype));
    ct_tensor *xy[2] = {input, other};
    int rt = ct_result_type(2, xy);
    int64_t s1[CT_MAX_DIM], shape[CT_MAX_DIM];
    int n1 = ct_broadcast_shapes(condition->sizes, condition->ndim, input->sizes, input->ndim, s1, "where");
    if (n1 < 0) return NULL;
    int nd = ct_broadcast_shapes(s1, n1, other->sizes, other->ndim, shape, "where");
    if (nd < 0) return NULL;
    ct_tensor *x = ct_contig_as(input, rt);
    ct_tensor *y = x ? ct_contig_as(other, rt) : NULL;
    ct_tensor *res = y ? ct_empty(shape, nd, rt) : NULL;
    if (!res) goto fail;
    ct_tensor *ops[4] = {res, condition, x, y};
    ct_iter it;
    if (ct_iter_init(&it, 4, ops, shape, nd, "where")) goto fail;
    size_t es = ct_dtype_sizes[rt];
    ct_iter_run(&it, es == 1 ? where1 : es == 2 ? where2 : es == 4 ? where4 : where8, NULL, true);
    ct_tensor_release(x);
    ct_tensor_release(y);
    return res;
fail:
    ct_tensor_release(x);
    ct_tensor_release(y);
    ct_tensor_release(res);
    return NULL;
}

ct_tensor *ct_where_method(ct_tensor *self, ct_tensor *condition, ct_tensor *other) {
    return ct_where_self(condition, self, other);
}
