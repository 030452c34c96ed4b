/* C API tests for the shape ops: values of views and copies, storage sharing, and the
 * error paths (run under ASan/UBSan/LSan, so leaks on failure paths show up here). */
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

/* arange(n) as float32 of the given shape */
static ct_tensor *arange(ct_intlist shape) {
    ct_tensor *t = ct_empty_size(shape, CT_FLOAT32, -1);
    for (int64_t i = 0; t && i < t->numel; i++) ((float *)ct_tensor_data(t))[i] = (float)i;
    return t;
}

/* element at logical index (row-major over sizes) of any float32 view */
static float at(const ct_tensor *t, int64_t flat) {
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        off += (flat % t->sizes[d]) * t->strides[d];
        flat /= t->sizes[d];
    }
    return ((float *)ct_tensor_data(t))[off];
}

static void test_views(void) {
    ct_tensor *x = arange(IL(2, 3, 4));
    ct_tensor *p = ct_permute(x, IL(2, 0, 1));
    CHECK(p && p->storage == x->storage && p->sizes[0] == 4 && at(p, 1) == 4.0f);
    ct_tensor *tr = ct_transpose(x, 0, -1);
    CHECK(tr && tr->sizes[0] == 4 && at(tr, 1) == 12.0f);
    ct_tensor *u = ct_unsqueeze(x, -1);
    CHECK(u && u->ndim == 4 && u->sizes[3] == 1);
    ct_tensor *sq = u ? ct_squeeze(u) : NULL;
    CHECK(sq && sq->ndim == 3);
    ct_tensor *n = ct_narrow(x, 2, 1, 2);
    CHECK(n && at(n, 0) == 1.0f && at(n, 2) == 5.0f);
    ct_tensor *s = ct_select(x, 1, -1);
    CHECK(s && s->ndim == 2 && at(s, 0) == 8.0f);
    ct_tensor *d = ct_diagonal(x, 1, 1, 2);
    CHECK(d && d->sizes[1] == 3 && at(d, 0) == 1.0f && at(d, 1) == 6.0f);
    ct_tensor *e = ct_expand(s, IL(5, -1, -1), false);
    CHECK(e && e->strides[0] == 0 && at(e, 8) == 8.0f);
    ct_tensor *m = ct_movedim_int(x, 0, 2);
    CHECK(m && m->sizes[2] == 2 && at(m, 1) == 12.0f);
    ct_tensor *f = ct_flatten(x, 1, -1);
    CHECK(f && f->storage == x->storage && f->sizes[1] == 12);
    ct_tensor *uf = ct_unflatten(x, -1, IL(2, -1));
    CHECK(uf && uf->ndim == 4 && at(uf, 3) == 3.0f);
    ct_tensor *as = ct_as_strided(x, IL(2, 2), IL(1, 4), NULL);
    CHECK(as && at(as, 1) == 4.0f && at(as, 2) == 1.0f);
    ct_tensorvec sp = ct_split(x, 3, 2);
    CHECK(sp.n == 2 && sp.data[1]->sizes[2] == 1 && at(sp.data[1], 0) == 3.0f);
    ct_tensorvec_release(sp);
    ct_tensorvec ts = ct_tensor_split_indices(x, IL(1, -1), 2);
    CHECK(ts.n == 3 && ts.data[1]->sizes[2] == 2);
    ct_tensorvec_release(ts);
    ct_tensorvec ub = ct_unbind(x, 0);
    CHECK(ub.n == 2 && at(ub.data[1], 0) == 12.0f);
    ct_tensorvec_release(ub);
    ct_tensor *s0 = ct_select(x, 0, 0);
    ct_tensor *list[2] = {x, s0};
    ct_tensorvec bt = ct_broadcast_tensors((ct_tensorlist){list, 2});
    CHECK(bt.n == 2 && bt.data[1]->ndim == 3);
    ct_tensorvec_release(bt);
    ct_tensor_release(s0);
    ct_tensor *p2 = ct_permute(x, IL(2, 0, 1)); /* a second view; its wrapper-free lifetime */
    ct_tensor_release(x);                       /* the views keep the storage alive */
    CHECK(p2 && at(p2, 5) == 20.0f);
    ct_tensor *all[] = {p, p2, tr, u, sq, n, s, d, e, m, f, uf, as};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ct_tensor_release(all[i]);
}

static void test_copies(void) {
    ct_tensor *x = arange(IL(2, 3));
    ct_tensor *xt = ct_t(x);
    ct_tensor *list[3] = {x, x, NULL};
    ct_tensor *c = ct_cat((ct_tensorlist){list, 2}, 1);
    CHECK(c && c->sizes[1] == 6 && at(c, 3) == 0.0f && at(c, 6) == 3.0f);
    ct_tensor *st = ct_stack((ct_tensorlist){list, 2}, -1);
    CHECK(st && st->ndim == 3 && at(st, 1) == 0.0f && at(st, 2) == 1.0f);
    ct_tensor *fl = ct_flip(xt, IL(0, 1));
    CHECK(fl && at(fl, 0) == 5.0f && at(fl, 1) == 2.0f);
    ct_tensor *r = ct_roll(x, IL(1), IL(1));
    CHECK(r && at(r, 0) == 2.0f && at(r, 1) == 0.0f);
    ct_tensor *rf = ct_roll(xt, IL(-1), IL(0));
    CHECK(rf && ct_tensor_is_contiguous(rf));
    ct_tensor *rp = ct_repeat(xt, IL(2, 1, 2));
    CHECK(rp && rp->ndim == 3 && rp->sizes[2] == 4 && at(rp, 2) == 0.0f && at(rp, 3) == 3.0f);
    ct_tensor *ri = ct_repeat_interleave_self_int(x, 2, (int64_t[]){0}, NULL);
    CHECK(ri && ri->sizes[0] == 4 && at(ri, 3) == 0.0f && at(ri, 6) == 3.0f);
    ct_tensor *tl = ct_tril(x, 0);
    CHECK(tl && at(tl, 1) == 0.0f && at(tl, 4) == 4.0f);
    ct_tensor *dg = ct_diag(x, 1);
    CHECK(dg && dg->numel == 2 && at(dg, 0) == 1.0f && at(dg, 1) == 5.0f);
    ct_tensor *de = ct_diag_embed(x, 0, -2, -1);
    CHECK(de && de->ndim == 3 && at(de, 4) == 1.0f);
    ct_tensor *h = ct_to_dtype_method(xt, CT_INT16, false, false);
    CHECK(h && h->dtype == CT_INT16 && h->strides[0] == 1); /* preserve_format */
    ct_tensor *zl = ct_zeros_like(xt, CT_DTYPE_NONE, -1);
    CHECK(zl && zl->strides[1] == 3 && at(zl, 0) == 0.0f);
    ct_tensor *all[] = {xt, c, st, fl, r, rf, rp, ri, tl, dg, de, h, zl, x};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ct_tensor_release(all[i]);
}

static void test_errors(void) {
    ct_tensor *x = arange(IL(2, 3));
    ct_tensor *s = arange(IL(3));
    ct_tensor *list[2] = {x, s};
    CHECK(!ct_cat((ct_tensorlist){list, 2}, 0) && ct_last_error_kind() == CT_ERR_RUNTIME);
    CHECK(!ct_cat((ct_tensorlist){list, 0}, 0) && ct_last_error_kind() == CT_ERR_VALUE);
    CHECK(!ct_stack((ct_tensorlist){list, 2}, 0) && ct_last_error_kind() == CT_ERR_RUNTIME);
    CHECK(!ct_hstack((ct_tensorlist){list, 2}) && ct_last_error_kind() == CT_ERR_RUNTIME);
    CHECK(!ct_permute(x, IL(0, 0)) && ct_last_error_kind() == CT_ERR_RUNTIME);
    CHECK(!ct_transpose(x, 0, 2) && ct_last_error_kind() == CT_ERR_INDEX);
    CHECK(!ct_select(x, 0, 2) && ct_last_error_kind() == CT_ERR_INDEX);
    CHECK(!ct_as_strided(x, IL(4, 4), IL(4, 1), NULL) && ct_last_error_kind() == CT_ERR_RUNTIME);
    CHECK(!ct_roll(x, IL(1, 2), IL(0)) && ct_last_error_kind() == CT_ERR_RUNTIME);
    CHECK(!ct_roll(x, IL(1, 2), IL(0, 5)) && ct_last_error_kind() == CT_ERR_INDEX);
    CHECK(!ct_repeat(x, IL(2)) && ct_last_error_kind() == CT_ERR_RUNTIME);
    ct_tensor *rep = arange(IL(2));
    CHECK(!ct_repeat_interleave_self_Tensor(x, rep, (int64_t[]){1}, NULL) && ct_last_error_kind() == CT_ERR_RUNTIME);
    CHECK(!ct_repeat_interleave_self_int(x, 2, NULL, (int64_t[]){5}) && ct_last_error_kind() == CT_ERR_RUNTIME);
    ct_tensorvec v = ct_split_with_sizes(x, IL(1, 2), 0);
    CHECK(v.n == -1 && ct_last_error_kind() == CT_ERR_RUNTIME);
    ct_clear_error();
    ct_tensor_release(rep);
    ct_tensor_release(x);
    ct_tensor_release(s);
}

static void test_inplace_geometry(void) {
    ct_tensor *x = arange(IL(2, 3));
    ct_tensor *r = ct_t_(x);
    CHECK(r == x && x->sizes[0] == 3 && x->strides[0] == 1 && at(x, 1) == 3.0f && !ct_tensor_is_contiguous(x));
    ct_tensor_release(r);
    r = ct_unsqueeze_(x, 0);
    CHECK(r == x && x->ndim == 3);
    ct_tensor_release(r);
    CHECK(!ct_transpose_(x, 0, 3) && ct_last_error_kind() == CT_ERR_INDEX && x->ndim == 3);
    CHECK(!ct_as_strided_(x, IL(7), IL(1), NULL) && ct_last_error_kind() == CT_ERR_RUNTIME && x->ndim == 3);
    ct_clear_error();
    ct_tensor_release(x);
}

int main(void) {
    test_inplace_geometry();
    test_views();
    test_copies();
    test_errors();
    if (failures) fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
