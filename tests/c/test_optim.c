/* C API tests for the fused optimizer steps (src/optim/fused.c): an Adam step checked against
 * the formula, strided (non-contiguous) parameters written back, LBFGS vector helpers, errors
 * without leaks (LeakSanitizer in CI). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ctorch/ctorch.h"

static int failures = 0;
#define CHECK(cond)                                                                                     \
    do {                                                                                                \
        if (!(cond)) {                                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s (%s)\n", __FILE__, __LINE__, #cond, ct_last_error()); \
            failures++;                                                                                 \
        }                                                                                               \
    } while (0)

static ct_tensor *vec64(const double *d, int64_t n) { return ct_tensor_from_data(d, &n, 1, CT_FLOAT64); }
static ct_tensor *zeros64(int64_t n) { return ct_zeros((ct_intlist){&n, 1}, CT_FLOAT64, -1); }
#define LIST(...) ((ct_tensorlist){(ct_tensor *[]){__VA_ARGS__}, sizeof((ct_tensor *[]){__VA_ARGS__}) / sizeof(ct_tensor *)})
#define EMPTY ((ct_tensorlist){NULL, 0})

static void test_adam(void) {
    double pv[3] = {1.0, -2.0, 0.5}, gv[3] = {0.3, -0.1, 2.0};
    ct_tensor *p = vec64(pv, 3), *g = vec64(gv, 3), *m = zeros64(3), *v = zeros64(3);
    ct_tensor *step = ct_scalar_tensor_f64(0.0, CT_FLOAT32);
    double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    CHECK(ct_optim_adam_(LIST(p), LIST(g), LIST(m), LIST(v), EMPTY, LIST(step), lr, b1, b2, eps, 0, false, false,
                         false) == 0);
    CHECK(*(float *)ct_tensor_data(step) == 1.0f);
    const double *pd = ct_tensor_data(p);
    for (int i = 0; i < 3; i++) {
        double mi = 0.1 * gv[i], vi = 0.001 * gv[i] * gv[i];
        double want = pv[i] - lr / 0.1 * mi / (sqrt(vi) / sqrt(0.001) + eps);
        CHECK(fabs(pd[i] - want) < 1e-12);
    }
    /* a second step with maximize and decoupled weight decay runs and advances the step */
    CHECK(ct_optim_adam_(LIST(p), LIST(g), LIST(m), LIST(v), EMPTY, LIST(step), lr, b1, b2, eps, 0.1, false, true,
                         true) == 0);
    CHECK(*(float *)ct_tensor_data(step) == 2.0f);
    /* amsgrad without its state list is an error */
    CHECK(ct_optim_adam_(LIST(p), LIST(g), LIST(m), LIST(v), EMPTY, LIST(step), lr, b1, b2, eps, 0, true, false,
                         false) != 0);
    CHECK(ct_last_error_kind() == CT_ERR_VALUE);
    ct_clear_error();
    ct_tensor_release(p);
    ct_tensor_release(g);
    ct_tensor_release(m);
    ct_tensor_release(v);
    ct_tensor_release(step);
}

static void test_strided_param(void) {
    /* param = every other element of a 6-element storage; SGD with momentum writes back through
     * a contiguous copy and leaves the gaps alone. */
    double base[6] = {1, 100, 2, 100, 3, 100};
    ct_tensor *b = vec64(base, 6);
    int64_t n = 3, stride = 2;
    ct_tensor *p = ct_tensor_new_view(b->storage, CT_FLOAT64, 0, &n, &stride, 1);
    CHECK(p && !ct_tensor_is_contiguous(p));
    double gv[3] = {1, 2, 3};
    ct_tensor *g = vec64(gv, 3), *buf = zeros64(3);
    int64_t fresh = 1;
    int64_t ver = b->storage->version;
    CHECK(ct_optim_sgd_(LIST(p), LIST(g), LIST(buf), (ct_intlist){&fresh, 1}, 0.5, 0.9, 0, 0, false, false) == 0);
    const double *d = ct_tensor_data(b);
    CHECK(d[0] == 0.5 && d[2] == 1.0 && d[4] == 1.5);
    CHECK(d[1] == 100 && d[3] == 100 && d[5] == 100);
    CHECK(b->storage->version > ver);
    CHECK(((double *)ct_tensor_data(buf))[2] == 3.0);
    fresh = 0; /* buf = 0.9*buf + g = 1.9, 3.8, 5.7 */
    CHECK(ct_optim_sgd_(LIST(p), LIST(g), LIST(buf), (ct_intlist){&fresh, 1}, 0.5, 0.9, 0, 0, false, false) == 0);
    CHECK(fabs(d[0] - (0.5 - 0.95)) < 1e-12 && d[1] == 100);
    ct_tensor_release(p);
    ct_tensor_release(b);
    ct_tensor_release(g);
    ct_tensor_release(buf);
}

static void test_errors(void) {
    double pv[2] = {1, 2};
    float gv[2] = {1, 2};
    int64_t n = 2;
    ct_tensor *p = vec64(pv, 2), *g32 = ct_tensor_from_data(gv, &n, 1, CT_FLOAT32), *g1 = vec64(pv, 1);
    CHECK(ct_optim_sgd_(LIST(p), LIST(g32), EMPTY, (ct_intlist){NULL, 0}, 0.1, 0, 0, 0, false, false) != 0);
    CHECK(ct_last_error_kind() == CT_ERR_TYPE);
    CHECK(ct_optim_sgd_(LIST(p), LIST(g1), EMPTY, (ct_intlist){NULL, 0}, 0.1, 0, 0, 0, false, false) != 0);
    CHECK(ct_last_error_kind() == CT_ERR_RUNTIME);
    ct_tensor *steps = ct_scalar_tensor_f64(0, CT_FLOAT32);
    CHECK(ct_optim_adagrad_(LIST(p), LIST(p), EMPTY, LIST(steps), 0.1, 0, 0, 1e-10, false) != 0);
    ct_clear_error();
    ct_tensor_release(steps);
    ct_tensor_release(p);
    ct_tensor_release(g32);
    ct_tensor_release(g1);
}

static void test_lbfgs_helpers(void) {
    double a[2] = {1, -2}, b[3] = {3, 4, -5};
    ct_tensor *pa = vec64(a, 2), *pb = vec64(b, 3), *ga = vec64(b, 2);
    ct_tensor *flat = ct_optim_gather_flat(LIST(pa, pb), LIST(ga, NULL));
    CHECK(flat && flat->numel == 5);
    const double *f = ct_tensor_data(flat);
    CHECK(f[0] == 3 && f[1] == 4 && f[2] == 0 && f[4] == 0);
    double r = 0;
    CHECK(ct_optim_dot(flat, flat, &r) == 0 && r == 25);
    CHECK(ct_optim_abs_max(pb, &r) == 0 && r == 5);
    CHECK(ct_optim_abs_sum(pb, &r) == 0 && r == 12);
    CHECK(ct_optim_add_flat_(LIST(pa, pb), -1.0, flat) == 0);
    CHECK(((double *)ct_tensor_data(pa))[1] == -6 && ((double *)ct_tensor_data(pb))[0] == 3);
    CHECK(ct_optim_dot(pa, pb, &r) != 0);
    ct_clear_error();
    ct_tensor_release(flat);
    ct_tensor_release(pa);
    ct_tensor_release(pb);
    ct_tensor_release(ga);
}

int main(void) {
    test_adam();
    test_strided_param();
    test_errors();
    test_lbfgs_helpers();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_optim: ok\n");
    return 0;
}
