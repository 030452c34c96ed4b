/* C API tests for the elementwise family, run under ASan/UBSan/LSan: every op over every
 * dtype with extreme values (integer MIN/MAX, -1, 0, nan, inf, subnormals), so that
 * overflow, division and shift edge cases are exercised for undefined behaviour and
 * leaks; plus a few exact value checks of the C API. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ctorch/ctorch.h"

static int failures = 0;
#define CHECK(cond)                                                                                      \
    do {                                                                                                 \
        if (!(cond)) {                                                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s (%s)\n", __FILE__, __LINE__, #cond, ct_last_error()); \
            failures++;                                                                                  \
        }                                                                                                \
    } while (0)

static const double VALS[] = {0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 7.0, 127.0, -128.0, 255.0, 32767.0, -32768.0,
                              2147483647.0, -2147483648.0, 9.2e18, -9.2e18, NAN, INFINITY, -INFINITY, 1e-40,
                              0.5, -3.5, 63.0, 64.0, 1e30};
#define NV ((int64_t)(sizeof VALS / sizeof VALS[0]))

/* A 1-D tensor of dtype holding VALS (integers: extreme values set explicitly). */
static ct_tensor *make(int dtype) {
    int64_t n = NV;
    ct_tensor *f = ct_tensor_from_data(VALS, &n, 1, CT_FLOAT64);
    ct_tensor *t = ct_to_dtype(f, dtype, true);
    ct_tensor_release(f);
    if (dtype == CT_INT64) {
        int64_t *p = ct_tensor_data(t);
        p[14] = INT64_MAX;
        p[15] = INT64_MIN;
    }
    return t;
}

typedef ct_tensor *(*unfn)(ct_tensor *);
typedef ct_tensor *(*binfn)(ct_tensor *, ct_tensor *);

static ct_tensor *u_round(ct_tensor *a) { return ct_round(a, 2); }
static ct_tensor *u_roundn(ct_tensor *a) { return ct_round(a, -1); }
static ct_tensor *u_logit(ct_tensor *a) { double e = 0.1; return ct_logit(a, &e); }
static ct_tensor *u_n2n(ct_tensor *a) { return ct_nan_to_num(a, NULL, NULL, NULL); }
static const unfn UNARY[] = {ct_neg, ct_abs, ct_sign, ct_floor, ct_ceil, ct_trunc, u_round, u_roundn, ct_frac,
                             ct_square, ct_sqrt, ct_rsqrt, ct_exp, ct_exp2, ct_expm1, ct_log, ct_log2, ct_log10,
                             ct_log1p, ct_sin, ct_cos, ct_tan, ct_asin, ct_acos, ct_atan, ct_sinh, ct_cosh, ct_tanh,
                             ct_asinh, ct_acosh, ct_atanh, ct_sigmoid, ct_erf, ct_erfc, ct_erfinv, ct_lgamma,
                             ct_digamma, ct_reciprocal, u_logit, u_n2n, ct_isnan, ct_isinf, ct_isfinite,
                             ct_isposinf, ct_isneginf, ct_logical_not, ct_bitwise_not};

static ct_tensor *b_add(ct_tensor *a, ct_tensor *b) { return ct_add(a, b, ct_scalar_i(3)); }
static ct_tensor *b_sub(ct_tensor *a, ct_tensor *b) { return ct_sub(a, b, ct_scalar_i(1)); }
static ct_tensor *b_div(ct_tensor *a, ct_tensor *b) { return ct_div(a, b, NULL); }
static ct_tensor *b_divt(ct_tensor *a, ct_tensor *b) { return ct_div(a, b, "trunc"); }
static ct_tensor *b_divf(ct_tensor *a, ct_tensor *b) { return ct_div(a, b, "floor"); }
static ct_tensor *b_lerp(ct_tensor *a, ct_tensor *b) { return ct_lerp(a, b, ct_scalar_f(0.75)); }
static ct_tensor *b_addcmul(ct_tensor *a, ct_tensor *b) { return ct_addcmul(a, b, b, ct_scalar_i(-3)); }
static ct_tensor *b_addcdiv(ct_tensor *a, ct_tensor *b) { return ct_addcdiv(a, b, b, ct_scalar_f(0.5)); }
static ct_tensor *b_clamp(ct_tensor *a, ct_tensor *b) { return ct_clamp_Tensor(a, b, b); }
static ct_tensor *b_where(ct_tensor *a, ct_tensor *b) {
    ct_tensor *m = ct_gt(a, b);
    ct_tensor *r = m ? ct_where_self(m, a, b) : NULL;
    ct_tensor_release(m);
    return r;
}
static ct_tensor *b_isclose(ct_tensor *a, ct_tensor *b) { return ct_isclose(a, b, 1e-5, 1e-8, true); }
static const binfn BINARY[] = {b_add, b_sub, ct_mul, b_div, b_divt, b_divf, ct_floor_divide, ct_remainder, ct_fmod,
                               ct_pow, ct_atan2, ct_hypot, ct_minimum, ct_maximum, ct_fmin, ct_fmax, ct_eq, ct_ne,
                               ct_lt, ct_le, ct_gt, ct_ge, ct_logical_and, ct_logical_or, ct_logical_xor,
                               ct_bitwise_and, ct_bitwise_or, ct_bitwise_xor, ct_bitwise_left_shift,
                               ct_bitwise_right_shift, b_lerp, b_addcmul, b_addcdiv, b_clamp, b_where, b_isclose};

/* Every op on every dtype pair: a result or a clean error, never UB or a leak. */
static void test_sweep(void) {
    for (int da = 0; da < CT_NUM_DTYPES; da++) {
        ct_tensor *a = make(da);
        for (size_t k = 0; k < sizeof UNARY / sizeof UNARY[0]; k++) {
            ct_tensor *r = UNARY[k](a);
            ct_tensor_release(r);
            ct_clear_error();
        }
        for (int db = 0; db < CT_NUM_DTYPES; db++) {
            ct_tensor *b = make(db);
            for (size_t k = 0; k < sizeof BINARY / sizeof BINARY[0]; k++) {
                ct_tensor *r = BINARY[k](a, b);
                ct_tensor_release(r);
                ct_clear_error();
            }
            ct_tensor_release(b);
        }
        ct_tensor_release(a);
    }
}

static void test_values(void) {
    int64_t n = 4;
    int64_t iv[4] = {INT64_MIN, 7, -7, 5};
    int64_t dv[4] = {-1, 2, 2, -3};
    ct_tensor *a = ct_tensor_from_data(iv, &n, 1, CT_INT64);
    ct_tensor *b = ct_tensor_from_data(dv, &n, 1, CT_INT64);
    ct_tensor *q = ct_floor_divide(a, b), *r = ct_remainder(a, b);
    CHECK(q && r);
    if (q && r) {
        const int64_t *qp = ct_tensor_data(q), *rp = ct_tensor_data(r);
        CHECK(qp[0] == INT64_MIN && qp[1] == 3 && qp[2] == -4 && qp[3] == -2);
        CHECK(rp[0] == 0 && rp[1] == 1 && rp[2] == 1 && rp[3] == -1);
    }
    ct_tensor_release(q);
    ct_tensor_release(r);
    int64_t zv[4] = {1, 0, 1, 1};
    ct_tensor *z = ct_tensor_from_data(zv, &n, 1, CT_INT64);
    ct_tensor *e = ct_remainder(a, z);
    CHECK(e == NULL && ct_last_error_kind() == CT_ERR_RUNTIME && strstr(ct_last_error(), "ZeroDivisionError"));
    ct_clear_error();
    ct_tensor *f = ct_bitwise_and(a, b);
    CHECK(f != NULL);
    ct_tensor_release(f);
    float xv[4] = {0.0f, 1.0f, -1.0f, 88.0f};
    ct_tensor *x = ct_tensor_from_data(xv, &n, 1, CT_FLOAT32);
    ct_tensor *ex = ct_exp(x);
    CHECK(ex && ((float *)ct_tensor_data(ex))[0] == 1.0f && fabsf(((float *)ct_tensor_data(ex))[1] - 2.7182817f) < 1e-6f);
    ct_tensor *bad = ct_bitwise_and(x, x);
    CHECK(bad == NULL && ct_last_error_kind() == CT_ERR_NOT_IMPLEMENTED);
    ct_clear_error();
    bool eq = false;
    CHECK(ct_equal(x, x, &eq) == 0 && eq);
    ct_tensor_release(ex);
    ct_tensor_release(x);
    ct_tensor_release(z);
    ct_tensor_release(a);
    ct_tensor_release(b);
}

int main(void) {
    test_sweep();
    test_values();
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
