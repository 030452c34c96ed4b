/* C API tests of the fused recurrent layer (nn_rnn_layer) and attention (nn_sdpa) ops: gradients of
 * every input against central finite differences (float64, packed batch sizes, both directions,
 * LSTM projection, masks and a dropout mask), and no leaks (run under ASan/LSan in CI). */
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

static unsigned rng_state = 12345;
static double urand(void) {
    rng_state = rng_state * 1103515245u + 12345u;
    return ((rng_state >> 8) & 0xffff) / 65536.0 - 0.5;
}

static ct_tensor *rnd(int64_t a, int64_t b, int64_t c, int nd, bool grad) {
    int64_t sz[3] = {a, b, c};
    int64_t n = a * (nd > 1 ? b : 1) * (nd > 2 ? c : 1);
    double buf[512];
    for (int64_t i = 0; i < n; i++) buf[i] = urand() * 2;
    ct_tensor *t = ct_tensor_from_data(buf, sz, nd, CT_FLOAT64);
    if (grad) ct_tensor_set_requires_grad(t, true);
    return t;
}

static double sumsq(ct_tensor *t) {
    double s = 0;
    const double *d = ct_tensor_data(t);
    for (int64_t i = 0; i < t->numel; i++) s += d[i] * d[i] * (1 + 0.1 * (double)(i % 3));
    return s;
}

/* loss = sum w_i out_i^2 + sum w_i hn_i^2 + sum w_i cn_i^2, computed with ops (differentiable) */
static ct_tensor *wsq(ct_tensor *t) {
    ct_tensor *w = ct_empty(t->sizes, t->ndim, CT_FLOAT64);
    double *d = ct_tensor_data(w);
    for (int64_t i = 0; i < t->numel; i++) d[i] = 1 + 0.1 * (double)(i % 3);
    ct_tensor *a = ct_mul(t, t), *b = ct_mul(a, w), *s = ct_sum_all(b, -1);
    ct_tensor_release(w);
    ct_tensor_release(a);
    ct_tensor_release(b);
    return s;
}

static const int64_t BS[3] = {3, 2, 1};

static double rnn_loss(ct_tensor **in, int mode, bool reverse) {
    ct_tensor *o[4];
    ct_intlist bs = {BS, 3};
    if (ct_nn_rnn_layer(in[0], in[1], in[2], in[3], in[4], in[5], bs, mode, reverse, &o[0], &o[1], &o[2], &o[3]))
        return NAN;
    double l = sumsq(o[0]) + sumsq(o[1]) + sumsq(o[2]);
    for (int i = 0; i < 4; i++) ct_tensor_release(o[i]);
    return l;
}

static void test_rnn(int mode, bool reverse, bool proj) {
    int64_t H = 3, P = proj ? 2 : 3, I = 6, G = (mode == 2 ? 4 : mode == 3 ? 3 : 1) * H;
    ct_tensor *in[6] = {rnd(I, G, 0, 2, true), rnd(G, P, 0, 2, true), rnd(G, 0, 0, 1, true),
                        proj ? rnd(P, H, 0, 2, true) : NULL, rnd(3, P, 0, 2, true),
                        mode == 2 ? rnd(3, H, 0, 2, true) : NULL};
    ct_tensor *o[4];
    ct_intlist bs = {BS, 3};
    CHECK(!ct_nn_rnn_layer(in[0], in[1], in[2], in[3], in[4], in[5], bs, mode, reverse, &o[0], &o[1], &o[2], &o[3]));
    ct_tensor *l0 = wsq(o[0]), *l1 = wsq(o[1]), *l2 = wsq(o[2]);
    ct_tensor *s01 = ct_add(l0, l1, ct_scalar_i(1)), *loss = ct_add(s01, l2, ct_scalar_i(1));
    CHECK(!ct_autograd_backward(1, &loss, NULL, false, false, 0, NULL));
    for (int k = 0; k < 6; k++) {
        if (!in[k]) continue;
        ct_tensor *g = ct_tensor_grad(in[k]);
        CHECK(g != NULL);
        if (!g) continue;
        double *x = ct_tensor_data(in[k]);
        const double *gd = ct_tensor_data(g);
        for (int64_t i = 0; i < in[k]->numel; i++) {
            double keep = x[i], e = 1e-6;
            x[i] = keep + e;
            double lp = rnn_loss(in, mode, reverse);
            x[i] = keep - e;
            double lm = rnn_loss(in, mode, reverse);
            x[i] = keep;
            double num = (lp - lm) / (2 * e);
            if (fabs(num - gd[i]) > 1e-6 * (1 + fabs(num))) {
                fprintf(stderr, "rnn mode %d reverse %d proj %d input %d elem %lld: %g vs %g\n", mode, reverse, proj,
                        k, (long long)i, gd[i], num);
                failures++;
                break;
            }
        }
    }
    ct_tensor *rel[] = {o[0], o[1], o[2], o[3], l0, l1, l2, s01, loss};
    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) ct_tensor_release(rel[i]);
    for (int k = 0; k < 6; k++)
        if (in[k]) ct_tensor_release(in[k]);
}

static double sdpa_loss(ct_tensor **in, ct_tensor *mask, ct_tensor *dm, bool causal) {
    ct_tensor *o, *w;
    if (ct_nn_sdpa(in[0], in[1], in[2], mask, dm, causal, 0.7, true, &o, &w)) return NAN;
    double l = sumsq(o);
    ct_tensor_release(o);
    ct_tensor_release(w);
    return l;
}

static void test_sdpa(bool causal, bool with_mask, bool with_dropout) {
    ct_tensor *in[3] = {rnd(2, 3, 4, 3, true), rnd(2, 5, 4, 3, true), rnd(2, 5, 2, 3, true)};
    ct_tensor *mask = with_mask ? rnd(2, 3, 5, 3, false) : NULL, *dm = NULL;
    if (with_dropout) {
        dm = rnd(2, 3, 5, 3, false);
        double *d = ct_tensor_data(dm);
        for (int64_t i = 0; i < dm->numel; i++) d[i] = d[i] > 0 ? 2.0 : 0.0;
    }
    ct_tensor *o, *w;
    CHECK(!ct_nn_sdpa(in[0], in[1], in[2], mask, dm, causal, 0.7, true, &o, &w));
    ct_tensor *loss = wsq(o);
    CHECK(!ct_autograd_backward(1, &loss, NULL, false, false, 0, NULL));
    for (int k = 0; k < 3; k++) {
        ct_tensor *g = ct_tensor_grad(in[k]);
        CHECK(g != NULL);
        if (!g) continue;
        double *x = ct_tensor_data(in[k]);
        const double *gd = ct_tensor_data(g);
        for (int64_t i = 0; i < in[k]->numel; i++) {
            double keep = x[i], e = 1e-6;
            x[i] = keep + e;
            double lp = sdpa_loss(in, mask, dm, causal);
            x[i] = keep - e;
            double lm = sdpa_loss(in, mask, dm, causal);
            x[i] = keep;
            double num = (lp - lm) / (2 * e);
            if (fabs(num - gd[i]) > 1e-6 * (1 + fabs(num))) {
                fprintf(stderr, "sdpa causal %d mask %d dropout %d input %d elem %lld: %g vs %g\n", causal, with_mask,
                        with_dropout, k, (long long)i, gd[i], num);
                failures++;
                break;
            }
        }
    }
    ct_tensor_release(o);
    ct_tensor_release(w);
    ct_tensor_release(loss);
    for (int k = 0; k < 3; k++) ct_tensor_release(in[k]);
    if (mask) ct_tensor_release(mask);
    if (dm) ct_tensor_release(dm);
}

/* NOTE [ RNN batch shares ]: a batch of 8+ rows per thread runs each thread's rows through the
 * whole sequence on its own. Every row sees the same operations whatever the split, so outputs
 * and gradients at 1, 2 and 3 threads are bit for bit those of one thread (packed sizes ending
 * inside a share, both directions, projection). */
static ct_tensor *filled(int64_t a, int64_t b, int nd, double scale) {
    int64_t sz[2] = {a, b};
    ct_tensor *t = ct_empty(sz, nd, CT_FLOAT64);
    double *d = ct_tensor_data(t);
    for (int64_t i = 0; i < t->numel; i++) d[i] = urand() * scale;
    return t;
}

static void rnn_shares_run(int mode, bool reverse, bool proj, int threads, ct_tensor **res) {
    static const int64_t bs[6] = {20, 20, 17, 9, 9, 2};
    int64_t N = 77, H = 5, P = proj ? 3 : 5, G = (mode == 2 ? 4 : mode == 3 ? 3 : 1) * H;
    rng_state = 777;
    ct_tensor *in[6] = {filled(N, G, 2, 2), filled(G, P, 2, 1), filled(G, 0, 1, 1), proj ? filled(P, H, 2, 1) : NULL,
                        filled(20, P, 2, 1), mode == 2 ? filled(20, H, 2, 1) : NULL};
    for (int k = 0; k < 6; k++)
        if (in[k]) ct_tensor_set_requires_grad(in[k], true);
    ct_set_num_threads(threads);
    ct_tensor *o[4];
    ct_intlist bl = {bs, 6};
    CHECK(!ct_nn_rnn_layer(in[0], in[1], in[2], in[3], in[4], in[5], bl, mode, reverse, &o[0], &o[1], &o[2], &o[3]));
    ct_tensor *l0 = wsq(o[0]), *l1 = wsq(o[1]), *l2 = wsq(o[2]);
    ct_tensor *s01 = ct_add(l0, l1, ct_scalar_i(1)), *loss = ct_add(s01, l2, ct_scalar_i(1));
    CHECK(!ct_autograd_backward(1, &loss, NULL, false, false, 0, NULL));
    res[0] = ct_contiguous(o[0]);
    res[1] = ct_contiguous(o[1]);
    for (int k = 0; k < 6; k++) res[2 + k] = in[k] ? ct_tensor_grad(in[k]) : NULL;
    for (int k = 2; k < 8; k++)
        if (res[k]) ct_tensor_retain(res[k]);
    ct_tensor *rel[] = {o[0], o[1], o[2], o[3], l0, l1, l2, s01, loss};
    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) ct_tensor_release(rel[i]);
    for (int k = 0; k < 6; k++)
        if (in[k]) ct_tensor_release(in[k]);
    ct_set_num_threads(1);
}

static void test_rnn_shares(int mode, bool reverse, bool proj) {
    ct_tensor *ref[8], *got[8];
    rnn_shares_run(mode, reverse, proj, 1, ref);
    for (int threads = 2; threads <= 3; threads++) {
        rnn_shares_run(mode, reverse, proj, threads, got);
        for (int k = 0; k < 8; k++) {
            CHECK((ref[k] == NULL) == (got[k] == NULL));
            if (ref[k] && got[k]) {
                CHECK(ref[k]->numel == got[k]->numel);
                if (ref[k]->numel == got[k]->numel &&
                    memcmp(ct_tensor_data(ref[k]), ct_tensor_data(got[k]), (size_t)ref[k]->numel * sizeof(double))) {
                    fprintf(stderr, "rnn shares mode %d reverse %d proj %d threads %d: result %d differs\n", mode,
                            reverse, proj, threads, k);
                    failures++;
                }
            }
            if (got[k]) ct_tensor_release(got[k]);
        }
    }
    for (int k = 0; k < 8; k++)
        if (ref[k]) ct_tensor_release(ref[k]);
}

int main(void) {
    for (int mode = 0; mode < 4; mode++)
        for (int rev = 0; rev < 2; rev++) test_rnn_shares(mode, rev, false);
    test_rnn_shares(2, true, true);
    for (int mode = 0; mode < 4; mode++)
        for (int rev = 0; rev < 2; rev++) test_rnn(mode, rev, false);
    test_rnn(2, false, true);
    test_rnn(2, true, true);
    for (int c = 0; c < 2; c++)
        for (int m = 0; m < 2; m++)
            for (int d = 0; d < 2; d++) test_sdpa(c, m, d);
    /* bad shapes are errors, not crashes */
    ct_tensor *x = rnd(4, 5, 0, 2, false), *w = rnd(4, 3, 0, 2, false), *h = rnd(3, 3, 0, 2, false);
    ct_tensor *o[4];
    ct_intlist bs = {BS, 3};
    CHECK(ct_nn_rnn_layer(x, w, NULL, NULL, h, NULL, bs, 0, false, &o[0], &o[1], &o[2], &o[3]) != 0);
    ct_tensor_release(x);
    ct_tensor_release(w);
    ct_tensor_release(h);
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
