/* Binary arithmetic ops: add, sub, mul, div. */
#include "ctorch/ops_gen.h"
#include "elementwise.h"

/* a + alpha*b; alpha is folded for the common alpha == 1 case. */
#define ADD_FOR(N, T)                                                   \
    CT_BINARY_LOOP(add_##N, T, T, a + b)                                \
    CT_BINARY_LOOP(adda_##N, T, T, a + (T)c->d0 * b)
#define ADDI_FOR(N, T)                                                  \
    CT_BINARY_LOOP(add_##N, T, T, a + b)                                \
    CT_BINARY_LOOP(adda_##N, T, T, a + (T)c->i0 * b)
ADD_FOR(f32, float)
ADD_FOR(f64, double)
ADDI_FOR(i64, int64_t)
ADDI_FOR(i32, int32_t)
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
CT_BINARY_LOOP(sub_i64, int64_t, int64_t, a - b)
CT_BINARY_LOOP(sub_i32, int32_t, int32_t, a - b)
CT_BINARY_LOOP(sub_i16, int16_t, int16_t, a - b)
CT_BINARY_LOOP(sub_i8, int8_t, int8_t, a - b)
CT_BINARY_LOOP(sub_u8, uint8_t, uint8_t, a - b)
static const ct_loops sub_loops = {{NULL, sub_u8, sub_i8, sub_i16, sub_i32, sub_i64, NULL, NULL, sub_f32, sub_f64}};

CT_BINARY_LOOP(mul_f32, float, float, a *b)
CT_BINARY_LOOP(mul_f64, double, double, a *b)
CT_BINARY_LOOP(mul_i64, int64_t, int64_t, a *b)
CT_BINARY_LOOP(mul_i32, int32_t, int32_t, a *b)
CT_BINARY_LOOP(mul_i16, int16_t, int16_t, a *b)
CT_BINARY_LOOP(mul_i8, int8_t, int8_t, a *b)
CT_BINARY_LOOP(mul_u8, uint8_t, uint8_t, a *b)
CT_BINARY_LOOP(mul_b1, uint8_t, uint8_t, a &b)
static const ct_loops mul_loops = {{mul_b1, mul_u8, mul_i8, mul_i16, mul_i32, mul_i64, NULL, NULL, mul_f32, mul_f64}};

CT_BINARY_LOOP(div_f32, float, float, a / b)
CT_BINARY_LOOP(div_f64, double, double, a / b)
static const ct_loops div_loops = {{NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, div_f32, div_f64}};

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
    return ct_ew_binary(op, self, other, out, &adda_loops, CT_RULE_SAME, 0, &c);
}

ct_tensor *ct_add_impl(ct_tensor *self, ct_tensor *other, ct_scalar alpha) { return add_impl("add", self, other, alpha, NULL, false); }
ct_tensor *ct_add__impl(ct_tensor *self, ct_tensor *other, ct_scalar alpha) { return add_impl("add_", self, other, alpha, self, false); }
ct_tensor *ct_sub_impl(ct_tensor *self, ct_tensor *other, ct_scalar alpha) { return add_impl("sub", self, other, alpha, NULL, true); }
ct_tensor *ct_sub__impl(ct_tensor *self, ct_tensor *other, ct_scalar alpha) { return add_impl("sub_", self, other, alpha, self, true); }

ct_tensor *ct_mul_impl(ct_tensor *self, ct_tensor *other) {
    return ct_ew_binary("mul", self, other, NULL, &mul_loops, CT_RULE_SAME, 0, NULL);
}
ct_tensor *ct_mul__impl(ct_tensor *self, ct_tensor *other) {
    return ct_ew_binary("mul_", self, other, self, &mul_loops, CT_RULE_SAME, 0, NULL);
}

static ct_tensor *div_impl(const char *op, ct_tensor *self, ct_tensor *other, const char *mode, ct_tensor *out) {
    if (mode)
        return ct_error(CT_ERR_NOT_IMPLEMENTED, "[%s] rounding_mode '%s' is not supported yet", op, mode);
    return ct_ew_binary(op, self, other, out, &div_loops, CT_RULE_FLOAT, 0, NULL);
}
ct_tensor *ct_div_impl(ct_tensor *self, ct_tensor *other, const char *rounding_mode) {
    return div_impl("div", self, other, rounding_mode, NULL);
}
ct_tensor *ct_div__impl(ct_tensor *self, ct_tensor *other, const char *rounding_mode) {
    return div_impl("div_", self, other, rounding_mode, self);
}
