/* C API tests for the convolution family: convolution / conv_transpose values and gradients
 * against a direct loop nest, pad, im2col/col2im, pixel shuffle, linear and bilinear, and the
 * error paths (run under ASan/UBSan/LSan, so out-of-bounds packing and leaks on failure paths
 * show up here). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ctorch/ctorch.h"

static int failures = 0;
#define CHECK(cond)                                                                                   \
    do {                                                                                              \
        if (!(cond)) {                                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s (%s)\n", __FILE__, __LINE__, #cond, ct_last_error()); \
            failures++;                                                                               \
        }                                                                                             \
    } while (0)
#define IL(...) ((ct_intlist){(int64_t[]){__VA_ARGS__}, sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)})

static uint64_t rng_state = 88172645463325252ull;
static double rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static ct_tensor *randt(ct_intlist shape) {
    ct_tensor *t = ct_empty_size(shape, CT_FLOAT64, -1);
    for (int64_t i = 0; t && i < t->numel; i++) ((double *)ct_tensor_data(t))[i] = rnd();
    return t;
}

static double *D(ct_tensor *t) { return ct_tensor_data(t); }

/* Direct convolution on 3-D geometry (leading unit dims for lower ranks). transposed: the
 * same loop nest scatters input into output. x: [N, Cx, X...], y: [N, Cy, Y...]; for conv
 * x = input (image), y = output; for transposed x = output (image), y = input. */
typedef struct geo {
    int64_t N, G, Ci, Cs, is[3], os[3], k[3], s[3], p[3], d[3];
} geo;

/* for every (n, g, cs, ci, out pos, tap) with a valid image position: fn(yi, xi, wi) */
#define FOR_TAPS(g, BODY)                                                                             \
    for (int64_t n = 0; n < g.N; n++)                                                                 \
        for (int64_t gr = 0; gr < g.G; gr++)                                                          \
            for (int64_t cs = 0; cs < g.Cs; cs++)                                                     \
                for (int64_t ci = 0; ci < g.Ci; ci++)                                                 \
                    for (int64_t o0 = 0; o0 < g.os[0]; o0++)                                          \
                        for (int64_t o1 = 0; o1 < g.os[1]; o1++)                                      \
                            for (int64_t o2 = 0; o2 < g.os[2]; o2++)                                  \
                                for (int64_t a = 0; a < g.k[0]; a++)                                  \
                                    for (int64_t b = 0; b < g.k[1]; b++)                              \
                                        for (int64_t e = 0; e < g.k[2]; e++) {                        \
                                            int64_t i0 = o0 * g.s[0] - g.p[0] + a * g.d[0];           \
                                            int64_t i1 = o1 * g.s[1] - g.p[1] + b * g.d[1];           \
                                            int64_t i2 = o2 * g.s[2] - g.p[2] + e * g.d[2];           \
                                            if (i0 < 0 || i0 >= g.is[0] || i1 < 0 || i1 >= g.is[1] || \
                                                i2 < 0 || i2 >= g.is[2])                              \
                                                continue;                                             \
                                            int64_t yi = (((n * g.G + gr) * g.Cs + cs) * g.os[0] + o0) * g.os[1] * g.os[2] + o1 * g.os[2] + o2; \
                                            int64_t xi = (((n * g.G + gr) * g.Ci + ci) * g.is[0] + i0) * g.is[1] * g.is[2] + i1 * g.is[2] + i2; \
                                            int64_t wi = ((((gr * g.Cs + cs) * g.Ci + ci) * g.k[0] + a) * g.k[1] + b) * g.k[2] + e; \
                                            BODY;                                                     \
                                        }

static double maxdiff(const double *a, const double *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

/* conv (transposed = false) or conv_transpose over geometry g with D spatial dims */
static void check_conv(geo g, int Dn, bool transposed, bool with_bias) {
    int64_t xs[5], ys[5], ws[5];
    int64_t Cx = g.G * g.Ci, Cy = g.G * g.Cs;
    xs[0] = ys[0] = g.N;
    xs[1] = Cx;
    ys[1] = Cy;
    if (!transposed) {
        ws[0] = Cy;
        ws[1] = g.Ci;
    } else {
        ws[0] = Cy;
        ws[1] = g.Ci;
    }
    for (int i = 0; i < Dn; i++) {
        xs[2 + i] = g.is[3 - Dn + i];
        ys[2 + i] = g.os[3 - Dn + i];
        ws[2 + i] = g.k[3 - Dn + i];
    }
    int64_t sv[3], pv[3], dv[3], opv[3] = {0, 0, 0};
    for (int i = 0; i < Dn; i++) {
        sv[i] = g.s[3 - Dn + i];
        pv[i] = g.p[3 - Dn + i];
        dv[i] = g.d[3 - Dn + i];
    }
    ct_tensor *img = randt((ct_intlist){xs, Dn + 2}), *col = randt((ct_intlist){ys, Dn + 2});
    ct_tensor *w = randt((ct_intlist){ws, Dn + 2});
    ct_tensor *bias = with_bias ? randt(IL(transposed ? Cx : Cy)) : NULL;
    ct_tensor *in = transposed ? col : img;
    if (transposed) /* output_padding that reaches the image size */
        for (int i = 0; i < Dn; i++) {
            int j = 3 - Dn + i;
            opv[i] = g.is[j] - ((g.os[j] - 1) * g.s[j] - 2 * g.p[j] + g.d[j] * (g.k[j] - 1) + 1);
        }
    ct_tensor_set_requires_grad(in, true);
    ct_tensor_set_requires_grad(w, true);
    if (bias) ct_tensor_set_requires_grad(bias, true);
    ct_tensor *out = ct_nn_convolution(in, w, bias, (ct_intlist){sv, Dn}, (ct_intlist){pv, Dn}, (ct_intlist){dv, Dn},
                                       transposed, (ct_intlist){opv, Dn}, g.G);
    CHECK(out != NULL);
    if (!out) goto done;
    /* forward reference */
    ct_tensor *ref = ct_zeros_like(transposed ? img : col, -1, -1);
    double *R = D(ref), *X = D(img), *Y = D(col), *W = D(w);
    if (!transposed) {
        FOR_TAPS(g, R[yi] += X[xi] * W[wi]);
    } else {
        FOR_TAPS(g, R[xi] += Y[yi] * W[wi]);
    }
    if (bias) {
        int64_t C = transposed ? Cx : Cy, L = ref->numel / (g.N * C);
        for (int64_t i = 0; i < ref->numel; i++) R[i] += D(bias)[(i / L) % C];
    }
    CHECK(out->numel == ref->numel && maxdiff(D(out), R, ref->numel) < 1e-10);
    /* backward with a random upstream gradient */
    ct_tensor *go = randt((ct_intlist){out->sizes, out->ndim});
    CHECK(ct_autograd_backward(1, &out, &go, false, false, 0, NULL) == 0);
    ct_tensor *gin = ct_zeros_like(in, -1, -1), *gw = ct_zeros_like(w, -1, -1);
    double *GI = D(gin), *GW = D(gw), *GO = D(go);
    if (!transposed) {
        FOR_TAPS(g, (GI[xi] += GO[yi] * W[wi], GW[wi] += GO[yi] * X[xi]));
    } else {
        FOR_TAPS(g, (GI[yi] += GO[xi] * W[wi], GW[wi] += GO[xi] * Y[yi]));
    }
    CHECK(ct_tensor_grad(in) && maxdiff(D(ct_tensor_grad(in)), GI, in->numel) < 1e-10);
    CHECK(ct_tensor_grad(w) && maxdiff(D(ct_tensor_grad(w)), GW, w->numel) < 1e-10);
    if (bias) {
        int64_t C = bias->numel, L = go->numel / (g.N * C);
        double gb[64] = {0};
        for (int64_t i = 0; i < go->numel; i++) gb[(i / L) % C] += GO[i];
        CHECK(ct_tensor_grad(bias) && maxdiff(D(ct_tensor_grad(bias)), gb, C) < 1e-10);
    }
    ct_tensor_release(gin);
    ct_tensor_release(gw);
    ct_tensor_release(go);
    ct_tensor_release(ref);
    ct_tensor_release(out);
done:
    ct_tensor_release(img);
    ct_tensor_release(col);
    ct_tensor_release(w);
    if (bias) ct_tensor_release(bias);
}

static geo make_geo(int64_t N, int64_t G, int64_t Ci, int64_t Cs, const int64_t is[3], const int64_t k[3],
                    const int64_t s[3], const int64_t p[3], const int64_t d[3]) {
    geo g = {N, G, Ci, Cs, {0}, {0}, {0}, {0}, {0}, {0}};
    for (int i = 0; i < 3; i++) {
        g.is[i] = is[i];
        g.k[i] = k[i];
        g.s[i] = s[i];
        g.p[i] = p[i];
        g.d[i] = d[i];
        g.os[i] = (is[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) / s[i] + 1;
    }
    return g;
}

static void test_convolution(void) {
    const int64_t one[3] = {1, 1, 1}, zero[3] = {0, 0, 0};
    /* 1-D */
    check_conv(make_geo(2, 1, 3, 4, (int64_t[]){1, 1, 9}, (int64_t[]){1, 1, 3}, one, zero, one), 1, false, true);
    check_conv(make_geo(2, 2, 2, 3, (int64_t[]){1, 1, 11}, (int64_t[]){1, 1, 3}, (int64_t[]){1, 1, 2},
                        (int64_t[]){0, 0, 2}, (int64_t[]){1, 1, 2}), 1, false, false);
    /* 2-D: padding, stride, dilation, groups, depthwise, 1x1 */
    check_conv(make_geo(2, 1, 3, 5, (int64_t[]){1, 7, 6}, (int64_t[]){1, 3, 3}, one, (int64_t[]){0, 1, 1}, one), 2,
               false, true);
    check_conv(make_geo(1, 2, 2, 3, (int64_t[]){1, 9, 8}, (int64_t[]){1, 3, 2}, (int64_t[]){1, 2, 3},
                        (int64_t[]){0, 2, 1}, (int64_t[]){1, 2, 1}), 2, false, true);
    check_conv(make_geo(3, 4, 1, 1, (int64_t[]){1, 6, 5}, (int64_t[]){1, 3, 3}, one, (int64_t[]){0, 1, 1}, one), 2,
               false, true);
    check_conv(make_geo(2, 1, 4, 3, (int64_t[]){1, 5, 5}, one, one, zero, one), 2, false, false);
    /* 3-D */
    check_conv(make_geo(1, 1, 2, 3, (int64_t[]){4, 5, 3}, (int64_t[]){2, 3, 2}, (int64_t[]){2, 1, 1},
                        (int64_t[]){1, 1, 0}, one), 3, false, true);
    /* transposed: image = output */
    check_conv(make_geo(2, 1, 3, 4, (int64_t[]){1, 9, 8}, (int64_t[]){1, 3, 3}, (int64_t[]){1, 2, 2},
                        (int64_t[]){0, 1, 0}, one), 2, true, true);
    check_conv(make_geo(1, 2, 2, 2, (int64_t[]){1, 1, 12}, (int64_t[]){1, 1, 3}, (int64_t[]){1, 1, 3},
                        (int64_t[]){0, 0, 1}, (int64_t[]){1, 1, 2}), 1, true, false);
    check_conv(make_geo(1, 1, 2, 3, (int64_t[]){5, 4, 6}, (int64_t[]){2, 2, 3}, (int64_t[]){2, 1, 2}, zero, one), 3,
               true, true);
}

static void test_conv_errors(void) {
    ct_tensor *x = randt(IL(1, 3, 5, 5)), *w = randt(IL(4, 2, 3, 3)), *b = randt(IL(5));
    ct_tensor *r = ct_nn_convolution(x, w, NULL, IL(1), IL(0), IL(1), false, IL(0), 1);
    CHECK(r == NULL && ct_last_error_kind() == CT_ERR_RUNTIME);
    ct_tensor *w3 = randt(IL(4, 3, 3, 3));
    r = ct_nn_convolution(x, w3, b, IL(1), IL(0), IL(1), false, IL(0), 1);
    CHECK(r == NULL);
    r = ct_nn_convolution(x, w3, NULL, IL(0), IL(0), IL(1), false, IL(0), 1);
    CHECK(r == NULL);
    r = ct_nn_convolution(x, w3, NULL, IL(1), IL(0), IL(1), false, IL(0), 0);
    CHECK(r == NULL);
    r = ct_nn_convolution(x, w3, NULL, IL(1), IL(9), IL(1, 1, 1), false, IL(0), 1);
    CHECK(r == NULL);
    ct_tensor *small = randt(IL(1, 3, 2, 2));
    r = ct_nn_convolution(small, w3, NULL, IL(1), IL(0), IL(1), false, IL(0), 1);
    CHECK(r == NULL);
    ct_tensor_release(small);
    ct_tensor_release(w3);
    ct_tensor_release(x);
    ct_tensor_release(w);
    ct_tensor_release(b);
}

static void test_pad_fold_shuffle(void) {
    ct_tensor *x = randt(IL(2, 3, 4, 5));
    const char *modes[] = {"constant", "reflect", "replicate", "circular"};
    for (int m = 0; m < 4; m++) {
        ct_tensor *xi = ct_detach(x);
        ct_tensor_set_requires_grad(xi, true);
        ct_tensor *p = ct_nn_pad(xi, IL(2, 1, 3, 0), modes[m], NULL);
        CHECK(p && p->sizes[2] == 7 && p->sizes[3] == 8);
        if (p) {
            ct_tensor *go = randt((ct_intlist){p->sizes, p->ndim});
            CHECK(ct_autograd_backward(1, &p, &go, false, false, 0, NULL) == 0);
            /* sum of the input gradient = sum of the upstream gradient over non-constant cells */
            double s = 0, t = 0;
            for (int64_t i = 0; i < xi->numel; i++) s += D(ct_tensor_grad(xi))[i];
            if (m > 0)
                for (int64_t i = 0; i < go->numel; i++) t += D(go)[i];
            else
                for (int64_t n = 0; n < 6; n++)
                    for (int64_t h = 0; h < 4; h++)
                        for (int64_t w = 0; w < 5; w++) t += D(go)[(n * 7 + h + 3) * 8 + w + 2];
            CHECK(fabs(s - t) < 1e-9);
            ct_tensor_release(go);
            ct_tensor_release(p);
        }
        ct_tensor_release(xi);
    }
    CHECK(ct_nn_pad(x, IL(5, 5), "reflect", NULL) == NULL);
    CHECK(ct_nn_pad(x, IL(1), "constant", NULL) == NULL);
    CHECK(ct_nn_pad(x, IL(1, 1), "nope", NULL) == NULL && ct_last_error_kind() == CT_ERR_NOT_IMPLEMENTED);
    /* unfold then fold with non-overlapping blocks is the identity */
    ct_tensor *u = ct_nn_im2col(x, IL(2, 5), IL(1), IL(0), IL(2, 5));
    CHECK(u && u->sizes[1] == 30 && u->sizes[2] == 2);
    ct_tensor *f = u ? ct_nn_col2im(u, IL(4, 5), IL(2, 5), IL(1), IL(0), IL(2, 5)) : NULL;
    CHECK(f && maxdiff(D(f), D(x), x->numel) == 0);
    CHECK(ct_nn_col2im(u, IL(6, 5), IL(2, 5), IL(1), IL(0), IL(2, 5)) == NULL);
    ct_tensor *ps = ct_nn_pixel_unshuffle(x, 1);
    CHECK(ps && maxdiff(D(ps), D(x), x->numel) == 0);
    ct_tensor *y = randt(IL(2, 8, 3, 2));
    ct_tensor *sh = ct_nn_pixel_shuffle(y, 2), *back = sh ? ct_nn_pixel_unshuffle(sh, 2) : NULL;
    CHECK(sh && sh->sizes[1] == 2 && sh->sizes[2] == 6 && back && maxdiff(D(back), D(y), y->numel) == 0);
    CHECK(ct_nn_pixel_shuffle(y, 3) == NULL);
    ct_tensor *objs[] = {u, f, ps, y, sh, back, x};
    for (int i = 0; i < 7; i++)
        if (objs[i]) ct_tensor_release(objs[i]);
}

static void test_linear_bilinear(void) {
    ct_tensor *x = randt(IL(3, 2, 4)), *w = randt(IL(5, 4)), *b = randt(IL(5));
    ct_tensor *y = ct_nn_linear(x, w, b);
    CHECK(y && y->sizes[2] == 5);
    if (y) {
        double ref = D(b)[3];
        for (int i = 0; i < 4; i++) ref += D(x)[4 + i] * D(w)[3 * 4 + i];
        CHECK(fabs(D(y)[5 + 3] - ref) < 1e-12);
        ct_tensor_release(y);
    }
    ct_tensor *w2 = randt(IL(5, 3));
    CHECK(ct_nn_linear(x, w2, NULL) == NULL);
    ct_tensor *x2 = randt(IL(3, 2, 3)), *bw = randt(IL(5, 4, 3));
    ct_tensor_set_requires_grad(bw, true);
    ct_tensor *z = ct_nn_bilinear(x, x2, bw, b);
    CHECK(z && z->sizes[2] == 5);
    if (z) {
        ct_tensor *go = randt((ct_intlist){z->sizes, 3});
        CHECK(ct_autograd_backward(1, &z, &go, false, false, 0, NULL) == 0);
        /* dW[o, i, j] = sum_m g[m, o] x1[m, i] x2[m, j] */
        double ref = 0;
        for (int m = 0; m < 6; m++) ref += D(go)[m * 5 + 2] * D(x)[m * 4 + 1] * D(x2)[m * 3 + 2];
        CHECK(ct_tensor_grad(bw) && fabs(D(ct_tensor_grad(bw))[(2 * 4 + 1) * 3 + 2] - ref) < 1e-10);
        ct_tensor_release(go);
        ct_tensor_release(z);
    }
    CHECK(ct_nn_bilinear(x, x2, w, NULL) == NULL);
    ct_tensor *objs[] = {x, w, b, w2, x2, bw};
    for (int i = 0; i < 6; i++) ct_tensor_release(objs[i]);
}

/* create_graph paths (recorded gradient ops) run without leaks; second derivatives are
 * compared with torch in tests/python/test_nn_conv.py. */
static ct_tensor *sum_sq(ct_tensor *t) { /* t * t; its gradient with ones is that of sum(t^2) */
    return ct_mul(t, t);
}

static void second_order(ct_tensor *out, ct_tensor **ins, int n) {
    ct_tensor *go = ct_ones_like(out, -1, -1);
    ct_tensor *grads[4] = {NULL, NULL, NULL, NULL};
    CHECK(ct_autograd_grad(1, &out, &go, n, ins, true, true, true, grads) == 0);
    for (int i = 0; i < n; i++) {
        if (!grads[i] || !ct_tensor_requires_grad(grads[i])) continue;
        ct_tensor *q = sum_sq(grads[i]);
        ct_tensor *gq = q ? ct_ones_like(q, -1, -1) : NULL;
        ct_tensor *gg[4] = {NULL, NULL, NULL, NULL};
        CHECK(q && ct_autograd_grad(1, &q, &gq, n, ins, true, false, true, gg) == 0);
        for (int j = 0; j < n; j++)
            if (gg[j]) ct_tensor_release(gg[j]);
        if (gq) ct_tensor_release(gq);
        if (q) ct_tensor_release(q);
    }
    for (int i = 0; i < n; i++)
        if (grads[i]) ct_tensor_release(grads[i]);
    ct_tensor_release(go);
}

static void test_double_backward(void) {
    ct_tensor *x = randt(IL(2, 4, 6, 5)), *w = randt(IL(6, 2, 3, 3)), *b = randt(IL(6));
    ct_tensor *ins[3] = {x, w, b};
    for (int i = 0; i < 3; i++) ct_tensor_set_requires_grad(ins[i], true);
    for (int tr = 0; tr < 2; tr++) {
        ct_tensor *wt = tr ? randt(IL(4, 3, 3, 3)) : NULL;
        if (wt) ct_tensor_set_requires_grad(wt, true);
        ct_tensor *bb = tr ? randt(IL(6)) : b;
        if (tr) ct_tensor_set_requires_grad(bb, true);
        ct_tensor *in3[3] = {x, tr ? wt : w, bb};
        ct_tensor *y = ct_nn_convolution(x, tr ? wt : w, bb, IL(2, 1), IL(1), IL(1, 2), tr, IL(1, 0), tr ? 2 : 2);
        CHECK(y != NULL);
        if (y) {
            second_order(y, in3, 3);
            ct_tensor_release(y);
        }
        if (tr) {
            ct_tensor_release(wt);
            ct_tensor_release(bb);
        }
    }
    ct_tensor *lx = randt(IL(3, 2, 4)), *lw = randt(IL(5, 4)), *lb = randt(IL(5)), *x2 = randt(IL(3, 2, 3));
    ct_tensor *bw = randt(IL(5, 4, 3));
    ct_tensor *lin[5] = {lx, lw, lb, x2, bw};
    for (int i = 0; i < 5; i++) ct_tensor_set_requires_grad(lin[i], true);
    ct_tensor *y = ct_nn_linear(lx, lw, lb);
    if (y) {
        second_order(y, lin, 3);
        ct_tensor_release(y);
    }
    ct_tensor *bl_in[4] = {lx, x2, bw, lb};
    y = ct_nn_bilinear(lx, x2, bw, lb);
    if (y) {
        second_order(y, bl_in, 4);
        ct_tensor_release(y);
    }
    ct_tensor *p_in[1] = {x};
    y = ct_nn_pad(x, IL(1, 2, 2, 1), "reflect", NULL);
    if (y) {
        second_order(y, p_in, 1);
        ct_tensor_release(y);
    }
    for (int i = 0; i < 3; i++) ct_tensor_release(ins[i]);
    for (int i = 0; i < 5; i++) ct_tensor_release(lin[i]);
}

int main(void) {
    test_double_backward();
    test_convolution();
    test_conv_errors();
    test_pad_fold_shuffle();
    test_linear_bilinear();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_conv: ok\n");
    return 0;
}
