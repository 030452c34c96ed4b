/* Unary elementwise math ops. */
#include "ctorch/ops_gen.h"
#include "elementwise.h"

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

CT_UNARY_LOOP(exp_f32, float, float, expf(a))
CT_UNARY_LOOP(exp_f64, double, double, exp(a))
static const ct_loops exp_loops = {{NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, exp_f32, exp_f64}};
ct_tensor *ct_exp_impl(ct_tensor *self) { return ct_ew_unary("exp", self, NULL, &exp_loops, CT_RULE_FLOAT, 0, NULL); }
ct_tensor *ct_exp__impl(ct_tensor *self) { return ct_ew_unary("exp_", self, self, &exp_loops, CT_RULE_FLOAT, 0, NULL); }
