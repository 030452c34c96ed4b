/* C API tests for indexing autograd: t[...] through ct_tensor_index records (views and
 * advanced indices), t[...] = v through ct_tensor_index_put_ on a non-leaf, the leaf
 * refusal, an index op, double backward; no leaks (LeakSanitizer in CI). */
#include <stdio.h>
#include <string.h>

#include "ctorch/ctorch.h"
#include "ctorch/indexing.h"

static int failures = 0;
#define CHECK(cond)                                                                                     \
    do {                                                                                                \
        if (!(cond)) {                                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s (%s)\n", __FILE__, __LINE__, #cond, ct_last_error()); \
            failures++;                                                                                 \
        }                                                                                               \
    } while (0)

/* 3x4 float64 leaf 0..11 requiring grad */
static ct_tensor *leaf34(void) {
    double d[12];
    for (int i = 0; i < 12; i++) d[i] = i;
    int64_t s[2] = {3, 4};
    ct_tensor *x = ct_tensor_from_data(d, s, 2, CT_FLOAT64);
    ct_tensor_set_requires_grad(x, true);
    return x;
}

static ct_tensor *ones_like_t(ct_tensor *t) { return ct_ones_like(t, CT_DTYPE_NONE, CT_DTYPE_NONE); }

static const char *fn_name(ct_tensor *t) { return ct_tensor_grad_fn(t) ? ct_tensor_grad_fn(t)->name : "(none)"; }

static void test_basic_and_advanced_getitem(void) {
    ct_tensor *x = leaf34();
    ct_tensor *y = ct_mul(x, x);
    /* y[1, 1::2] -> SliceBackward0 view; grad 2x at (1,1), (1,3) */
    ct_index_item items[2] = {ct_index_int(1), ct_index_slice(1, CT_INDEX_END, 2)};
    ct_tensor *r = ct_tensor_index(y, items, 2);
    CHECK(r && !strcmp(fn_name(r), "SliceBackward0") && r->storage == y->storage);
    ct_tensor *g = ones_like_t(r);
    CHECK(ct_autograd_backward(1, &r, &g, true, false, 0, NULL) == 0);
    const double *gx = ct_tensor_grad(x) ? ct_tensor_data(ct_tensor_grad(x)) : NULL;
    CHECK(gx && gx[5] == 10.0 && gx[7] == 14.0 && gx[4] == 0.0 && gx[6] == 0.0);
    ct_tensor_release(g);
    ct_tensor_release(r);

    /* y[[2, 2, 0]] -> IndexBackward0; repeated rows accumulate */
    int64_t iv[3] = {2, 2, 0}, n3 = 3;
    ct_tensor *ix = ct_tensor_from_data(iv, &n3, 1, CT_INT64);
    ct_index_item it = ct_index_tensor(ix);
    ct_tensor_set_grad(x, NULL);
    r = ct_tensor_index(y, &it, 1);
    CHECK(r && !strcmp(fn_name(r), "IndexBackward0"));
    g = ones_like_t(r);
    CHECK(ct_autograd_backward(1, &r, &g, false, false, 0, NULL) == 0);
    gx = ct_tensor_grad(x) ? ct_tensor_data(ct_tensor_grad(x)) : NULL;
    CHECK(gx && gx[8] == 2 * 2 * 8.0 && gx[0] == 0.0 && gx[1] == 2.0 && gx[4] == 0.0);
    ct_tensor_release(g);
    ct_tensor_release(r);
    ct_tensor_release(ix);
    ct_tensor_release(y);
    ct_tensor_release(x);
}

static void test_setitem(void) {
    ct_tensor *x = leaf34();
    /* leaf: refused */
    ct_index_item row = ct_index_int(0);
    ct_tensor *v = ct_scalar_tensor_f64(5.0, CT_FLOAT64);
    CHECK(ct_tensor_index_put_(x, &row, 1, v, false) != 0 && strstr(ct_last_error(), "leaf Variable"));
    ct_clear_error();
    /* non-leaf: y = 3x; y[mask] = w (w requires grad); z = y * y */
    ct_tensor *y = ct_mul(x, v);
    uint8_t mv[12] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1};
    int64_t s[2] = {3, 4};
    ct_tensor *mask = ct_tensor_from_data(mv, s, 2, CT_BOOL);
    ct_tensor *w = ct_scalar_tensor_f64(2.0, CT_FLOAT64);
    ct_tensor_set_requires_grad(w, true);
    ct_index_item it = ct_index_tensor(mask);
    CHECK(ct_tensor_index_put_(y, &it, 1, w, false) == 0);
    CHECK(!strcmp(fn_name(y), "IndexPutBackward0"));
    const double *yd = ct_tensor_data(y);
    CHECK(yd[0] == 2.0 && yd[5] == 2.0 && yd[1] == 5.0);
    ct_tensor *z = ct_mul(y, y);
    ct_tensor *g = ones_like_t(z);
    ct_tensor *ins[2] = {x, w}, *res[2] = {NULL, NULL};
    CHECK(ct_autograd_grad(1, &z, &g, 2, ins, false, false, false, res) == 0);
    if (res[0] && res[1]) {
        const double *gx = ct_tensor_data(res[0]);
        /* dz/dx = 2y * 5 off the mask, 0 on it; dz/dw = sum over the 3 masked 2y = 12 */
        CHECK(gx[0] == 0.0 && gx[1] == 2 * 5.0 * 5.0 && gx[11] == 0.0);
        CHECK(*(const double *)ct_tensor_data(res[1]) == 12.0);
    }
    ct_tensor_release(res[0]);
    ct_tensor_release(res[1]);
    ct_tensor_release(g);
    ct_tensor_release(z);
    ct_tensor_release(w);
    ct_tensor_release(mask);
    ct_tensor_release(y);
    ct_tensor_release(v);
    ct_tensor_release(x);
}

static void test_gather_double_backward(void) {
    ct_tensor *x = leaf34();
    ct_tensor *xx = ct_mul(x, x);
    int64_t iv[4] = {0, 2, 2, 1}, s[2] = {1, 4};
    ct_tensor *ix = ct_tensor_from_data(iv, s, 2, CT_INT64);
    ct_tensor *r = ct_gather(xx, 0, ix, false);
    CHECK(r && !strcmp(fn_name(r), "GatherBackward0"));
    ct_tensor *g = ones_like_t(r), *d1 = NULL;
    CHECK(ct_autograd_grad(1, &r, &g, 1, &x, true, true, false, &d1) == 0);
    CHECK(d1 && ct_tensor_requires_grad(d1));
    if (d1) {
        ct_tensor *g2 = ones_like_t(d1), *d2 = NULL;
        CHECK(ct_autograd_grad(1, &d1, &g2, 1, &x, false, false, false, &d2) == 0);
        /* d/dx of 2x at the gathered positions: 2 there, 0 elsewhere */
        if (d2) {
            const double *p = ct_tensor_data(d2);
            CHECK(p[0] == 2.0 && p[9] == 2.0 && p[1] == 0.0 && p[10] == 2.0 && p[7] == 2.0 && p[5] == 0.0);
        }
        ct_tensor_release(d2);
        ct_tensor_release(g2);
    }
    ct_tensor_release(d1);
    ct_tensor_release(g);
    ct_tensor_release(r);
    ct_tensor_release(ix);
    ct_tensor_release(xx);
    ct_tensor_release(x);
}

/* every index-op formula once with create_graph and once more through it (leak coverage) */
static void test_op_formulas(void) {
    ct_tensor *x = leaf34();
    double sd[8] = {0, 3, 1, 0, 2, 2, 5, 1};
    int64_t s24[2] = {2, 4}, s34[2] = {3, 4};
    ct_tensor *src = ct_tensor_from_data(sd, s24, 2, CT_FLOAT64);
    ct_tensor_set_requires_grad(src, true);
    int64_t iv[8] = {0, 2, 1, 0, 2, 0, 0, 1};
    ct_tensor *idx = ct_tensor_from_data(iv, s24, 2, CT_INT64);
    int64_t i3[3] = {2, 0, 2}, n3 = 3;
    ct_tensor *vidx = ct_tensor_from_data(i3, &n3, 1, CT_INT64);
    uint8_t mv[12] = {1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 1};
    ct_tensor *mask = ct_tensor_from_data(mv, s34, 2, CT_BOOL);
    ct_tensor *val = ct_scalar_tensor_f64(1.5, CT_FLOAT64);
    ct_tensor_set_requires_grad(val, true);
    const char *reds[5] = {"sum", "prod", "mean", "amax", "amin"};
    for (int k = 0; k < 12; k++) {
        ct_tensor *xx = ct_mul(x, x), *r = NULL;
        switch (k) {
        case 0: case 1: case 2: case 3: case 4: r = ct_scatter_reduce_two(xx, 0, idx, src, reds[k], k % 2); break;
        case 5: r = ct_masked_scatter(xx, mask, src); break;
        case 6: r = ct_masked_fill_Tensor(xx, mask, val); break;
        case 7: r = ct_index_fill_int_Tensor(xx, 0, vidx, val); break;
        case 8: r = ct_take_along_dim(xx, idx, (int64_t[]){0}); break;
        case 9: r = ct_index_select(xx, 0, vidx); break;
        case 10: r = ct_masked_select(xx, mask); break;
        default: r = ct_scatter_src(xx, 0, idx, src); break;
        }
        CHECK(r != NULL);
        if (r) {
            ct_tensor *g = ones_like_t(r), *ins[3] = {x, src, val}, *d1[3] = {NULL, NULL, NULL};
            CHECK(ct_autograd_grad(1, &r, &g, 3, ins, true, true, true, d1) == 0);
            CHECK(d1[0] && ct_tensor_requires_grad(d1[0]));
            if (d1[0]) {
                ct_tensor *g2 = ones_like_t(d1[0]), *d2 = NULL;
                CHECK(ct_autograd_grad(1, &d1[0], &g2, 1, &x, false, false, true, &d2) == 0);
                ct_tensor_release(d2);
                ct_tensor_release(g2);
            }
            for (int i = 0; i < 3; i++) ct_tensor_release(d1[i]);
            ct_tensor_release(g);
        }
        ct_clear_error();
        ct_tensor_release(r);
        ct_tensor_release(xx);
    }
    ct_tensor_release(val);
    ct_tensor_release(mask);
    ct_tensor_release(vidx);
    ct_tensor_release(idx);
    ct_tensor_release(src);
    ct_tensor_release(x);
}

int main(void) {
    test_op_formulas();
    test_basic_and_advanced_getitem();
    test_setitem();
    test_gather_double_backward();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
