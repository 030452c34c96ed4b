/* C API tests for indexing: t[...] views and advanced indices, index_put_ with
 * accumulate, and the index ops' error paths (run under ASan/UBSan/LSan). */
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

static ct_tensor *arange_f(int64_t n0, int64_t n1) {
    float buf[64];
    for (int i = 0; i < n0 * n1; i++) buf[i] = (float)i;
    int64_t sz[2] = {n0, n1};
    return ct_tensor_from_data(buf, sz, 2, CT_FLOAT32);
}

static ct_tensor *ivec(const int64_t *v, int64_t n) { return ct_tensor_from_data(v, &n, 1, CT_INT64); }

static void test_basic_view(void) {
    ct_tensor *x = arange_f(3, 4);
    ct_index_item items[3] = {ct_index_slice(1, CT_INDEX_END, 1), ct_index_none(), ct_index_slice(0, 4, 2)};
    ct_tensor *v = ct_tensor_index(x, items, 3);
    CHECK(v && v->storage == x->storage && v->ndim == 3 && v->sizes[0] == 2 && v->sizes[1] == 1 && v->sizes[2] == 2);
    CHECK(v && v->offset == 4 && v->strides[2] == 2);
    ct_index_item bad = ct_index_int(3);
    CHECK(ct_tensor_index(x, &bad, 1) == NULL && ct_last_error_kind() == CT_ERR_INDEX);
    ct_index_item neg = ct_index_slice(0, 2, -1);
    CHECK(ct_tensor_index(x, &neg, 1) == NULL && ct_last_error_kind() == CT_ERR_VALUE);
    ct_clear_error();
    ct_tensor_release(v);
    ct_tensor_release(x);
}

static void test_advanced(void) {
    ct_tensor *x = arange_f(3, 4);
    int64_t r[2] = {2, 0}, c[2] = {1, 3};
    ct_tensor *ri = ivec(r, 2), *ci = ivec(c, 2);
    /* x[:, [1, 3]] -> (3, 2); x[[2, 0], [1, 3]] -> (2,) = {9, 3} */
    ct_index_item a[2] = {ct_index_slice(0, CT_INDEX_END, 1), ct_index_tensor(ci)};
    ct_tensor *y = ct_tensor_index(x, a, 2);
    CHECK(y && y->ndim == 2 && y->sizes[0] == 3 && y->sizes[1] == 2);
    CHECK(y && ((float *)ct_tensor_data(y))[5] == 11.0f);
    ct_index_item b[2] = {ct_index_tensor(ri), ct_index_tensor(ci)};
    ct_tensor *z = ct_tensor_index(x, b, 2);
    CHECK(z && z->ndim == 1 && ((float *)ct_tensor_data(z))[0] == 9.0f && ((float *)ct_tensor_data(z))[1] == 3.0f);
    /* x[[2, 2], [1, 1]] += 1 twice with accumulate */
    int64_t rr[2] = {2, 2}, cc[2] = {1, 1};
    ct_tensor *r2 = ivec(rr, 2), *c2 = ivec(cc, 2), *one = ct_scalar_tensor_f64(1.0, CT_FLOAT32);
    ct_index_item d[2] = {ct_index_tensor(r2), ct_index_tensor(c2)};
    int64_t v0 = x->storage->version;
    CHECK(ct_tensor_index_put_(x, d, 2, one, true) == 0);
    CHECK(((float *)ct_tensor_data(x))[9] == 11.0f && x->storage->version > v0);
    /* out of range advanced index */
    int64_t oob[1] = {7};
    ct_tensor *oi = ivec(oob, 1);
    ct_index_item e = ct_index_tensor(oi);
    CHECK(ct_tensor_index(x, &e, 1) == NULL && ct_last_error_kind() == CT_ERR_INDEX);
    CHECK(ct_tensor_index_put_(x, &e, 1, one, false) != 0);
    ct_clear_error();
    ct_tensor *rels[] = {x, ri, ci, y, z, r2, c2, one, oi};
    for (size_t i = 0; i < sizeof rels / sizeof *rels; i++) ct_tensor_release(rels[i]);
}

static void test_ops(void) {
    ct_tensor *x = arange_f(2, 3);
    int64_t g[4] = {2, 0, 1, 1};
    int64_t gs[2] = {2, 2};
    ct_tensor *gi = ct_tensor_from_data(g, gs, 2, CT_INT64);
    ct_tensor *y = ct_gather(x, 1, gi, false);
    CHECK(y && ((float *)ct_tensor_data(y))[0] == 2.0f && ((float *)ct_tensor_data(y))[3] == 4.0f);
    ct_tensor *m = ct_scatter_reduce_two(x, 1, gi, y, "mean", false);
    CHECK(m && ((float *)ct_tensor_data(m))[2] == 2.0f);
    int64_t bad[1] = {7};
    ct_tensor *bi = ivec(bad, 1);
    CHECK(ct_index_select(x, 1, bi) == NULL && ct_last_error_kind() == CT_ERR_INDEX);
    CHECK(ct_take(x, bi) == NULL && ct_last_error_kind() == CT_ERR_INDEX);
    CHECK(ct_scatter_reduce_two(x, 1, gi, y, "median", true) == NULL && ct_last_error_kind() == CT_ERR_RUNTIME);
    ct_clear_error();
    ct_tensor *nz = ct_nonzero(x);
    CHECK(nz && nz->sizes[0] == 5 && nz->sizes[1] == 2);
    ct_tensorvec w = ct_where(x);
    CHECK(w.n == 2 && w.data[1]->numel == 5);
    ct_tensorvec_release(w);
    ct_tensor *rels[] = {x, gi, y, m, bi, nz};
    for (size_t i = 0; i < sizeof rels / sizeof *rels; i++) ct_tensor_release(rels[i]);
}

int main(void) {
    test_basic_view();
    test_advanced();
    test_ops();
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
