/* C API tests for reductions, scans, sorting and searching: values on small inputs, every
 * op's success and error paths (so that ASan/LSan/UBSan see them), and the parallel paths
 * of the reduction engine on large inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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

static float fval(ct_tensor *t, int64_t i) { return ((float *)ct_tensor_data(t))[i]; }
static int64_t ival(ct_tensor *t, int64_t i) { return ((int64_t *)ct_tensor_data(t))[i]; }

/* 2x3 float32 [[3, 1, 2], [1, 5, 1]] */
static ct_tensor *small(void) {
    static const float v[6] = {3, 1, 2, 1, 5, 1};
    int64_t sz[2] = {2, 3};
    return ct_tensor_from_data(v, sz, 2, CT_FLOAT32);
}

static void test_sum_max(void) {
    ct_tensor *x = small();
    int64_t d0 = 0, d1 = 1;
    ct_tensor *s = ct_sum(x, CT_INTLIST_NONE, false, -1);
    CHECK(s && s->ndim == 0 && fval(s, 0) == 13.0f);
    ct_tensor *s0 = ct_sum(x, (ct_intlist){&d0, 1}, false, -1);
    CHECK(s0 && s0->ndim == 1 && fval(s0, 0) == 4 && fval(s0, 1) == 6 && fval(s0, 2) == 3);
    ct_tensor *s1 = ct_sum(x, (ct_intlist){&d1, 1}, true, -1);
    CHECK(s1 && s1->ndim == 2 && s1->sizes[1] == 1 && fval(s1, 0) == 6 && fval(s1, 1) == 7);
    ct_tensor *v = NULL, *i = NULL;
    CHECK(ct_max_dim(x, 1, false, &v, &i) == 0);
    CHECK(v && i && fval(v, 0) == 3 && ival(i, 0) == 0 && fval(v, 1) == 5 && ival(i, 1) == 1);
    ct_tensor *am = ct_argmin(x, &d1, false);
    CHECK(am && ival(am, 0) == 1 && ival(am, 1) == 0); /* first of the tied minima */
    ct_tensor *m = ct_mean(x, CT_INTLIST_NONE, false, -1);
    CHECK(m && fabsf(fval(m, 0) - 13.0f / 6) < 1e-6f);
    ct_tensor *bad = ct_sum(x, (ct_intlist){(int64_t[]){2}, 1}, false, -1);
    CHECK(!bad && ct_last_error_kind() == CT_ERR_INDEX);
    ct_tensor *dup = ct_sum(x, (ct_intlist){(int64_t[]){0, -2}, 2}, false, -1);
    CHECK(!dup && ct_last_error_kind() == CT_ERR_RUNTIME);
    ct_tensor *xi = ct_to_dtype(x, CT_INT32, false);
    ct_tensor *mi = ct_mean(xi, CT_INTLIST_NONE, false, -1);
    CHECK(!mi && ct_last_error_kind() == CT_ERR_RUNTIME);
    ct_tensor *si = ct_sum(xi, CT_INTLIST_NONE, false, -1);
    CHECK(si && si->dtype == CT_INT64 && ival(si, 0) == 13);
    ct_tensor *items[] = {s, s0, s1, v, i, am, m, xi, si, x};
    for (size_t k = 0; k < sizeof items / sizeof items[0]; k++) ct_tensor_release(items[k]);
}

static void test_every_op_runs(void) {
    ct_tensor *x = small();
    int64_t d1 = 1, d2[2] = {0, 1};
    ct_intlist l1 = {&d1, 1}, l2 = {d2, 2};
    ct_scalar two = ct_scalar_i(2), corr = ct_scalar_i(0);
    ct_tensor *r[64];
    int n = 0;
    r[n++] = ct_nansum(x, l1, false, -1);
    r[n++] = ct_nanmean(x, l1, true, -1);
    r[n++] = ct_prod(x, CT_FLOAT64);
    r[n++] = ct_prod_dim_int(x, 0, false, -1);
    r[n++] = ct_amax(x, l2, false);
    r[n++] = ct_amin(x, l1, true);
    r[n++] = ct_max(x);
    r[n++] = ct_min(x);
    r[n++] = ct_argmax(x, NULL, false);
    r[n++] = ct_var(x, true);
    r[n++] = ct_var_dim(x, l1, false, true);
    r[n++] = ct_var_correction(x, l2, &corr, false);
    r[n++] = ct_std(x, true);
    r[n++] = ct_std_dim(x, l1, true, false);
    r[n++] = ct_std_correction(x, CT_INTLIST_NONE, NULL, false);
    r[n++] = ct_norm(x, &two, l1, false, -1);
    r[n++] = ct_norm_str(x, "fro", CT_INTLIST_NONE, false, -1);
    r[n++] = ct_linalg_vector_norm(x, ct_scalar_f(INFINITY), CT_INTLIST_NONE, false, CT_FLOAT64);
    r[n++] = ct_linalg_vector_norm(x, ct_scalar_f(0.5), l1, true, -1);
    r[n++] = ct_linalg_matrix_norm(x, ct_scalar_i(1), l2, false, -1);
    r[n++] = ct_linalg_matrix_norm_str_ord(x, "fro", l2, true, -1);
    r[n++] = ct_logsumexp(x, l1, false);
    r[n++] = ct_all(x, CT_INTLIST_NONE, false);
    r[n++] = ct_any(x, l1, true);
    r[n++] = ct_count_nonzero(x, l1);
    r[n++] = ct_cumsum(x, 1, -1);
    r[n++] = ct_cumprod(x, 0, CT_FLOAT64);
    r[n++] = ct_logcumsumexp(x, 1);
    r[n++] = ct_argsort(x, 0, true);
    r[n++] = ct_msort(x);
    r[n++] = ct_median(x);
    r[n++] = ct_nanmedian(x);
    r[n++] = ct_histc(x, 4, ct_scalar_i(0), ct_scalar_i(0));
    for (int k = 0; k < n; k++) {
        CHECK(r[k] != NULL);
        ct_tensor_release(r[k]);
    }
    ct_tensor *a = NULL, *b = NULL, *c = NULL;
#define PAIR(call)                 \
    do {                           \
        a = b = NULL;              \
        CHECK((call) == 0);        \
        CHECK(a && b);             \
        ct_tensor_release(a);      \
        ct_tensor_release(b);      \
    } while (0)
    PAIR(ct_min_dim(x, 0, true, &a, &b));
    PAIR(ct_aminmax(x, NULL, false, &a, &b));
    PAIR(ct_var_mean(x, true, &a, &b));
    PAIR(ct_var_mean_dim(x, l1, true, true, &a, &b));
    PAIR(ct_var_mean_correction(x, l2, &corr, false, &a, &b));
    PAIR(ct_std_mean(x, false, &a, &b));
    PAIR(ct_std_mean_dim(x, l1, true, false, &a, &b));
    PAIR(ct_std_mean_correction(x, l1, NULL, true, &a, &b));
    PAIR(ct_cummax(x, 1, &a, &b));
    PAIR(ct_cummin(x, 0, &a, &b));
    PAIR(ct_sort(x, -1, true, &a, &b));
    PAIR(ct_sort_stable(x, NULL, 0, false, &a, &b));
    PAIR(ct_topk(x, 2, 1, true, true, &a, &b));
    PAIR(ct_kthvalue(x, 2, 1, false, &a, &b));
    PAIR(ct_median_dim(x, 1, true, &a, &b));
    PAIR(ct_nanmedian_dim(x, 0, false, &a, &b));
    PAIR(ct_mode(x, 1, false, &a, &b));
    int64_t dim0 = 0;
    a = b = c = NULL;
    CHECK(ct_unique_impl(x, true, true, true, NULL, false, &a, &b, &c) == 0);
    CHECK(a && a->numel == 4 && c && ival(c, 0) == 3); /* values 1, 2, 3, 5; 1 three times */
    ct_tensor_release(a);
    ct_tensor_release(b);
    ct_tensor_release(c);
    CHECK(ct_unique_impl(x, true, true, true, &dim0, true, &a, &b, &c) == 0);
    ct_tensor_release(a);
    ct_tensor_release(b);
    ct_tensor_release(c);
    /* errors */
    CHECK(ct_topk(x, 4, 1, true, true, &a, &b) != 0);
    CHECK(ct_kthvalue(x, 0, 1, false, &a, &b) != 0);
    CHECK(ct_linalg_matrix_norm_str_ord(x, "nuc", l2, false, -1) == NULL &&
          ct_last_error_kind() == CT_ERR_NOT_IMPLEMENTED);
    CHECK(ct_bincount(x, NULL, 0) == NULL);
    ct_tensor_release(x);
}

static void test_search_bincount(void) {
    static const int64_t seq[5] = {1, 3, 3, 5, 7}, vals[3] = {3, 0, 8};
    int64_t n5 = 5, n3 = 3;
    ct_tensor *s = ct_tensor_from_data(seq, &n5, 1, CT_INT64);
    ct_tensor *v = ct_tensor_from_data(vals, &n3, 1, CT_INT64);
    ct_tensor *l = ct_searchsorted(s, v, false, false, NULL, NULL);
    ct_tensor *r = ct_searchsorted(s, v, true, false, "right", NULL);
    ct_tensor *b = ct_bucketize(v, s, false, true);
    CHECK(l && ival(l, 0) == 1 && ival(l, 1) == 0 && ival(l, 2) == 5);
    CHECK(r && r->dtype == CT_INT32 && ((int32_t *)ct_tensor_data(r))[0] == 3);
    CHECK(b && ival(b, 0) == 3);
    ct_tensor *bc = ct_bincount(s, NULL, 10);
    CHECK(bc && bc->numel == 10 && ival(bc, 3) == 2);
    ct_tensor *items[] = {s, v, l, r, b, bc};
    for (size_t k = 0; k < sizeof items / sizeof items[0]; k++) ct_tensor_release(items[k]);
}

/* Large inputs: chunked full reductions, parallel rows and column blocks. */
static void test_large(void) {
    int64_t sz[2] = {300, 70001};
    int64_t n = sz[0] * sz[1];
    float *buf = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) buf[i] = (float)((i * 7919) % 1000) / 1000.0f;
    ct_tensor *x = ct_tensor_from_data(buf, sz, 2, CT_FLOAT32);
    double ref = 0;
    for (int64_t i = 0; i < n; i++) ref += buf[i];
    ct_tensor *s = ct_sum(x, CT_INTLIST_NONE, false, -1);
    CHECK(s && fabs(fval(s, 0) - ref) / ref < 1e-5);
    int64_t d0 = 0, d1 = 1;
    ct_tensor *c0 = ct_sum(x, (ct_intlist){&d0, 1}, false, -1);
    ct_tensor *c1 = ct_sum(x, (ct_intlist){&d1, 1}, false, -1);
    double r0 = 0, r1 = 0;
    for (int64_t i = 0; i < sz[0]; i++) r0 += buf[i * sz[1] + 5];
    for (int64_t j = 0; j < sz[1]; j++) r1 += buf[7 * sz[1] + j];
    CHECK(c0 && fabs(fval(c0, 5) - r0) < 1e-3);
    CHECK(c1 && fabs(fval(c1, 7) - r1) / r1 < 1e-5);
    buf[12345] = 5.0f;
    buf[54321] = -2.0f;
    ct_tensor *x2 = ct_tensor_from_data(buf, sz, 2, CT_FLOAT32);
    ct_tensor *mx = ct_max(x2), *mn = ct_min(x2), *am = ct_argmax(x2, NULL, false);
    CHECK(mx && fval(mx, 0) == 5.0f && mn && fval(mn, 0) == -2.0f && am && ival(am, 0) == 12345);
    buf[99999] = NAN;
    ct_tensor *x3 = ct_tensor_from_data(buf, sz, 2, CT_FLOAT32);
    ct_tensor *mx3 = ct_max(x3);
    CHECK(mx3 && isnan(fval(mx3, 0)));
    ct_tensor *items[] = {x, s, c0, c1, x2, mx, mn, am, x3, mx3};
    for (size_t k = 0; k < sizeof items / sizeof items[0]; k++) ct_tensor_release(items[k]);
    free(buf);
}

/* A transposed (non-contiguous) view reduces, scans and sorts like its contiguous copy. */
static void test_noncontiguous(void) {
    float buf[24];
    for (int i = 0; i < 24; i++) buf[i] = (float)((i * 7) % 11) - 5.0f;
    int64_t sz[3] = {2, 3, 4};
    ct_tensor *x = ct_tensor_from_data(buf, sz, 3, CT_FLOAT32);
    int64_t tsz[3] = {4, 3, 2}, tst[3] = {1, 4, 12}; /* x.permute(2, 1, 0) */
    ct_tensor *v = ct_tensor_new_view(x->storage, CT_FLOAT32, 0, tsz, tst, 3);
    ct_tensor *c = ct_contiguous(v);
    CHECK(v && c && !ct_tensor_is_contiguous(v));
    for (int64_t d = 0; d < 3; d++) {
        ct_intlist dl = {&d, 1};
        ct_tensor *r[2][6];
        for (int k = 0; k < 2; k++) {
            ct_tensor *t = k ? c : v, *a = NULL, *b = NULL;
            r[k][0] = ct_sum(t, dl, false, -1);
            r[k][1] = ct_amax(t, dl, true);
            r[k][2] = ct_argmin(t, &d, false);
            r[k][3] = ct_cumsum(t, d, -1);
            CHECK(ct_sort(t, d, true, &a, &b) == 0);
            r[k][4] = a;
            r[k][5] = b;
        }
        for (int j = 0; j < 6; j++) {
            CHECK(r[0][j] && r[1][j] && r[0][j]->numel == r[1][j]->numel);
            if (r[0][j] && r[1][j] && r[0][j]->numel == r[1][j]->numel)
                CHECK(memcmp(ct_tensor_data(r[0][j]), ct_tensor_data(r[1][j]),
                             (size_t)r[0][j]->numel * ct_dtype_size(r[0][j]->dtype)) == 0);
            ct_tensor_release(r[0][j]);
            ct_tensor_release(r[1][j]);
        }
    }
    ct_tensor_release(x);
    ct_tensor_release(v);
    ct_tensor_release(c);
}

int main(void) {
    test_noncontiguous();
    test_sum_max();
    test_every_op_runs();
    test_search_bincount();
    test_large();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_reduce: ok\n");
    return 0;
}
