/* C API tests for the nn pooling / resampling / normalisation ops: known values, backward
 * through each op (and double backward through avg pool), error paths; run under ASan, UBSan
 * and LSan so the kernels' indexing and the nodes' ownership are checked. */
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

#define L(...) ((ct_intlist){(const int64_t[]){__VA_ARGS__}, sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)})

/* arange(n) reshaped, dtype, requires_grad */
static ct_tensor *ramp(ct_intlist shape, int dtype, bool rg) {
    int64_t n = 1;
    for (int64_t i = 0; i < shape.n; i++) n *= shape.data[i];
    ct_tensor *a = ct_empty(shape.data, (int)shape.n, dtype);
    for (int64_t i = 0; i < n; i++) {
        double v = sin((double)i * 0.7) * 2 + (double)i * 0.01;
        if (dtype == CT_FLOAT64) ((double *)ct_tensor_data(a))[i] = v;
        else ((float *)ct_tensor_data(a))[i] = (float)v;
    }
    if (rg) ct_tensor_set_requires_grad(a, true);
    return a;
}

static double at(const ct_tensor *t, int64_t i) {
    return t->dtype == CT_FLOAT64 ? ((double *)ct_tensor_data(t))[i] : ((float *)ct_tensor_data(t))[i];
}

/* backward of sum(out) into x; returns 0 and checks the gradient's shape */
static void backward_ones(ct_tensor *out, ct_tensor *x) {
    ct_tensor *ones = ct_ones((ct_intlist){out->sizes, out->ndim}, out->dtype, -1);
    CHECK(ct_autograd_backward(1, &out, &ones, false, false, 0, NULL) == 0);
    ct_tensor *g = ct_tensor_grad(x);
    CHECK(g && g->numel == x->numel);
    ct_tensor_release(ones);
}

static void test_pools(void) {
    for (int dt = 0; dt < 2; dt++) {
        int dtype = dt ? CT_FLOAT64 : CT_FLOAT32;
        ct_tensor *x = ramp(L(2, 3, 7, 6), dtype, true);
        ct_tensor *y = NULL, *ind = NULL;
        CHECK(ct_nn_max_pool(x, L(3, 3), L(2, 2), L(1, 1), L(1, 1), true, &y, &ind) == 0);
        CHECK(y && y->sizes[2] == 4 && y->sizes[3] == 4 && ind->dtype == CT_INT64);
        backward_ones(y, x);
        ct_tensor_release(y), ct_tensor_release(ind);

        ct_tensor *a = ct_nn_avg_pool(x, L(3, 2), L(2, 1), L(1, 1), true, false, NULL);
        CHECK(a != NULL);
        if (a) backward_ones(a, x);
        ct_tensor_release(a);
        int64_t div = 3;
        a = ct_nn_avg_pool(x, L(2, 2), L(2, 2), L(0, 0), false, true, &div);
        CHECK(a && fabs(at(a, 0) - (at(x, 0) + at(x, 1) + at(x, 6) + at(x, 7)) / 3) < 1e-5);
        ct_tensor_release(a);

        a = ct_nn_adaptive_avg_pool(x, L(3, 4));
        CHECK(a && a->sizes[2] == 3 && a->sizes[3] == 4);
        if (a) backward_ones(a, x);
        ct_tensor_release(a);
        CHECK(ct_nn_adaptive_max_pool(x, L(5, 5), &y, &ind) == 0);
        if (y) backward_ones(y, x);
        ct_tensor *u = ct_nn_max_unpool(y, ind, L(7, 6));
        CHECK(u && u->sizes[2] == 7);
        ct_tensor_release(u), ct_tensor_release(y), ct_tensor_release(ind);

        ct_tensor *x3 = ramp(L(1, 2, 4, 5, 3), dtype, true);
        CHECK(ct_nn_max_pool(x3, L(2, 2, 2), L(1, 2, 1), L(0, 1, 0), L(1, 1, 2), false, &y, &ind) == 0);
        if (y) backward_ones(y, x3);
        ct_tensor_release(y), ct_tensor_release(ind);
        a = ct_nn_lp_pool(x3, 2.0, L(2, 2, 1), L(1, 1, 1), false);
        CHECK(a != NULL);
        if (a) backward_ones(a, x3);
        ct_tensor_release(a);
        ct_tensor_release(x3);
        ct_tensor_release(x);
    }
    /* errors: zero kernel, too much padding, wrong rank, bad unpool index */
    ct_tensor *x = ramp(L(2, 3, 4, 4), CT_FLOAT32, false), *y = NULL, *ind = NULL;
    CHECK(ct_nn_max_pool(x, L(0, 2), L(1, 1), L(0, 0), L(1, 1), false, &y, &ind) != 0 && !y);
    CHECK(ct_nn_max_pool(x, L(2, 2), L(1, 1), L(2, 2), L(1, 1), false, &y, &ind) != 0);
    CHECK(ct_nn_avg_pool(x, L(2, 2, 2, 2), L(1), L(0), false, true, NULL) == NULL);
    ct_clear_error();
    CHECK(ct_nn_max_pool(x, L(2, 2), L(2, 2), L(0, 0), L(1, 1), false, &y, &ind) == 0);
    ((int64_t *)ct_tensor_data(ind))[3] = 99;
    CHECK(ct_nn_max_unpool(y, ind, L(4, 4)) == NULL);
    ct_clear_error();
    ct_tensor_release(y), ct_tensor_release(ind), ct_tensor_release(x);
}

static void test_avg_double_backward(void) {
    ct_tensor *x = ramp(L(1, 2, 5, 5), CT_FLOAT64, true);
    ct_tensor *y = ct_nn_avg_pool(x, L(3, 3), L(2, 2), L(1, 1), false, true, NULL);
    ct_tensor *v = ramp((ct_intlist){y->sizes, y->ndim}, CT_FLOAT64, true);
    ct_tensor *g = NULL;
    CHECK(ct_autograd_grad(1, &y, &v, 1, &x, true, true, false, &g) == 0);
    CHECK(g && ct_tensor_grad_fn(g) && !strcmp(ct_tensor_grad_fn(g)->name, "AvgPool2DBackwardBackward0"));
    if (g) {
        ct_tensor *ones = ct_ones((ct_intlist){g->sizes, g->ndim}, CT_FLOAT64, -1);
        CHECK(ct_autograd_backward(1, &g, &ones, false, false, 0, NULL) == 0);
        CHECK(ct_tensor_grad(v) != NULL);
        ct_tensor_release(ones);
    }
    ct_tensor_release(g), ct_tensor_release(v), ct_tensor_release(y), ct_tensor_release(x);
}

static void test_resample(void) {
    ct_tensor *x = ramp(L(2, 3, 4, 5), CT_FLOAT32, true);
    const char *modes[] = {"nearest", "nearest-exact", "bilinear", "bicubic"};
    for (int m = 0; m < 4; m++) {
        double s = 1.5;
        ct_tensor *y = ct_nn_upsample(x, L(6, 7), modes[m], m >= 2, &s, NULL, NULL);
        CHECK(y && y->sizes[2] == 6 && y->sizes[3] == 7);
        if (y) backward_ones(y, x);
        ct_tensor_release(y);
    }
    ct_tensor *y = ct_nn_upsample(x, L(8, 10), "nearest", false, NULL, NULL, NULL);
    CHECK(y && at(y, 0) == at(x, 0) && at(y, 1) == at(x, 0) && at(y, 2) == at(x, 1));
    ct_tensor_release(y);
    CHECK(ct_nn_upsample(x, L(0, 3), "bilinear", false, NULL, NULL, NULL) == NULL);
    CHECK(ct_nn_upsample(x, L(3, 3), "bogus", false, NULL, NULL, NULL) == NULL);
    ct_clear_error();

    /* identity affine grid with align_corners reproduces the input */
    double th[12] = {1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0};
    int64_t tsz[3] = {2, 2, 3};
    ct_tensor *theta = ct_tensor_from_data(th, tsz, 3, CT_FLOAT64);
    ct_tensor_set_requires_grad(theta, true);
    ct_tensor *grid = ct_nn_affine_grid(theta, L(2, 3, 4, 5), true);
    ct_tensor *xd = ramp(L(2, 3, 4, 5), CT_FLOAT64, true);
    for (int mode = 0; mode < 2; mode++)
        for (int pad = 0; pad < 3; pad++) {
            ct_tensor *o = ct_nn_grid_sample(xd, grid, mode, pad, true);
            CHECK(o && fabs(at(o, 17) - at(xd, 17)) < 1e-9);
            if (o) backward_ones(o, xd);
            CHECK(ct_tensor_grad(theta) != NULL);
            ct_tensor_release(o);
        }
    ct_tensor_release(grid), ct_tensor_release(theta), ct_tensor_release(xd), ct_tensor_release(x);
}

static void test_norms(void) {
    for (int dt = 0; dt < 2; dt++) {
        int dtype = dt ? CT_FLOAT64 : CT_FLOAT32;
        ct_tensor *x = ramp(L(4, 3, 5), dtype, true);
        ct_tensor *w = ramp(L(3), dtype, true), *b = ramp(L(3), dtype, true);
        ct_tensor *rm = ct_zeros(L(3), dtype, -1), *rv = ct_ones(L(3), dtype, -1);
        ct_tensor *y = NULL, *m = NULL, *s = NULL;
        CHECK(ct_nn_batch_norm(x, w, b, rm, rv, true, 0.1, 1e-5, &y, &m, &s) == 0);
        CHECK(y && fabs(at(rm, 0) - 0.1 * at(m, 0)) < 1e-6);
        if (y) backward_ones(y, x);
        CHECK(ct_tensor_grad(w) && ct_tensor_grad(b));
        ct_tensor_release(y), ct_tensor_release(m), ct_tensor_release(s);
        CHECK(ct_nn_batch_norm(x, NULL, NULL, rm, rv, false, 0.1, 1e-5, &y, &m, &s) == 0);
        if (y) backward_ones(y, x);
        ct_tensor_release(y), ct_tensor_release(m), ct_tensor_release(s);

        ct_tensor *lw = ramp(L(5), dtype, true);
        CHECK(ct_nn_layer_norm(x, L(5), lw, NULL, 1e-5, &y, &m, &s) == 0);
        if (y) backward_ones(y, x);
        ct_tensor_release(y), ct_tensor_release(m), ct_tensor_release(s);
        CHECK(ct_nn_rms_norm(x, L(3, 5), NULL, NULL, &y, &m) == 0);
        if (y) backward_ones(y, x);
        ct_tensor_release(y), ct_tensor_release(m);
        ct_tensor *x6 = ramp(L(2, 6, 2, 2), dtype, true);
        ct_tensor *gw = ramp(L(6), dtype, true);
        CHECK(ct_nn_group_norm(x6, 3, gw, NULL, 1e-5, &y, &m, &s) == 0);
        if (y) backward_ones(y, x6);
        CHECK(ct_tensor_grad(gw) != NULL);
        ct_tensor_release(y), ct_tensor_release(m), ct_tensor_release(s);
        CHECK(ct_nn_instance_norm_update_stats(x6, NULL, NULL, 0.1) == 0);
        ct_tensor *l = ct_nn_local_response_norm(x6, 3, 1e-2, 0.75, 1.0);
        CHECK(l != NULL);
        if (l) backward_ones(l, x6);
        ct_tensor_release(l);
        /* errors */
        CHECK(ct_nn_group_norm(x6, 4, NULL, NULL, 1e-5, &y, &m, &s) != 0);
        CHECK(ct_nn_layer_norm(x, L(4), NULL, NULL, 1e-5, &y, &m, &s) != 0);
        CHECK(ct_nn_batch_norm(x, NULL, NULL, NULL, NULL, false, 0.1, 1e-5, &y, &m, &s) != 0);
        ct_clear_error();
        ct_tensor_release(x6), ct_tensor_release(gw), ct_tensor_release(lw);
        ct_tensor_release(x), ct_tensor_release(w), ct_tensor_release(b), ct_tensor_release(rm), ct_tensor_release(rv);
    }
}

/* double backward through layer norm and batch norm (composite create_graph path) */
static void test_norm_double_backward(void) {
    ct_tensor *x = ramp(L(3, 4, 5), CT_FLOAT64, true), *w = ramp(L(5), CT_FLOAT64, true);
    ct_tensor *y = NULL, *m = NULL, *s = NULL;
    CHECK(ct_nn_layer_norm(x, L(5), w, NULL, 1e-5, &y, &m, &s) == 0);
    ct_tensor *v = ramp((ct_intlist){y->sizes, y->ndim}, CT_FLOAT64, false);
    ct_tensor *g[2] = {NULL, NULL};
    ct_tensor *ins[2] = {x, w};
    CHECK(ct_autograd_grad(1, &y, &v, 2, ins, true, true, false, g) == 0);
    CHECK(g[0] && ct_tensor_requires_grad(g[0]));
    if (g[0]) {
        ct_tensor *sq = ct_mul(g[0], g[0]);
        ct_tensor *ones = ct_ones((ct_intlist){sq->sizes, sq->ndim}, CT_FLOAT64, -1);
        CHECK(ct_autograd_backward(1, &sq, &ones, false, false, 0, NULL) == 0);
        CHECK(ct_tensor_grad(x) != NULL && ct_tensor_grad(w) != NULL);
        ct_tensor_release(sq), ct_tensor_release(ones);
    }
    ct_tensor_release(g[0]), ct_tensor_release(g[1]);
    ct_tensor_release(y), ct_tensor_release(m), ct_tensor_release(s), ct_tensor_release(v);
    ct_tensor *rm = ct_zeros(L(4), CT_FLOAT64, -1), *rv = ct_ones(L(4), CT_FLOAT64, -1);
    CHECK(ct_nn_batch_norm(x, NULL, NULL, rm, rv, true, 0.1, 1e-5, &y, &m, &s) == 0);
    v = ramp((ct_intlist){y->sizes, y->ndim}, CT_FLOAT64, false);
    CHECK(ct_autograd_grad(1, &y, &v, 1, &x, true, true, false, g) == 0);
    CHECK(g[0] && ct_tensor_grad_fn(g[0]) != NULL);
    ct_tensor_release(g[0]);
    ct_tensor_release(y), ct_tensor_release(m), ct_tensor_release(s), ct_tensor_release(v);
    ct_tensor_release(rm), ct_tensor_release(rv), ct_tensor_release(x), ct_tensor_release(w);
}

int main(void) {
    test_pools();
    test_norm_double_backward();
    test_avg_double_backward();
    test_resample();
    test_norms();
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
