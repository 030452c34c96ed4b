/* t[...] and t[...] = v (ct_tensor_index, ct_tensor_index_put_): basic indices become a
 * view; advanced ones (integer tensors, masks, bool scalars) are broadcast together and
 * turned into one table of byte offsets that the indexed-copy driver walks. */
#include <stdlib.h>

#include "ctorch/ops_gen.h"
#include "ctorch/indexing.h"
#include "../kernels/cpu/index.h"
#include "../autograd/autograd_internal.h"

/* NOTE [ Index geometry ]
 * Applying the items walks self's dims left to right and builds the basic view (offset,
 * sizes, strides in elements). Every advanced index keeps its dim in the view and records
 * an int64 index tensor for it (a k-dim mask becomes k such dims via nonzero; a bool
 * scalar becomes an unsqueezed dim indexed by [0] or []). The result then has the view's
 * non-indexed dims with the broadcast index shape B in place of the indexed dims when they
 * are adjacent, or in front of everything when they are not. ints always select (torch,
 * unlike NumPy, never treats them as advanced indices). */
typedef struct geom {
    int64_t offset;
    int nd;
    int64_t sizes[CT_MAX_DIM], strides[CT_MAX_DIM];
    ct_tensor *adv[CT_MAX_DIM]; /* owned int64 index per view dim, or NULL */
    int nadv;
    /* result layout, filled by finish_geom */
    int bnd;
    int64_t bshape[CT_MAX_DIM];
    int64_t bnumel;
    int64_t *boff;   /* bytes offset per broadcast position (owned) */
    int first;       /* position of the B block in the result dims */
    int rnd;
    int64_t rsizes[CT_MAX_DIM];
    int npre, npost; /* non-indexed view dims before / after the B block */
    int64_t pre_sz[CT_MAX_DIM], pre_st[CT_MAX_DIM], post_sz[CT_MAX_DIM], post_st[CT_MAX_DIM];
} geom;

static void geom_free(geom *g) {
    for (int i = 0; i < g->nd; i++) ct_tensor_release(g->adv[i]);
    free(g->boff);
}

static int push_dim(geom *g, int64_t size, int64_t stride, ct_tensor *adv) {
    if (g->nd >= CT_MAX_DIM) {
        ct_tensor_release(adv);
        return ct_errorf(CT_ERR_INDEX, "[index] too many dimensions (at most %d)", CT_MAX_DIM);
    }
    g->sizes[g->nd] = size;
    g->strides[g->nd] = stride;
    g->adv[g->nd] = adv;
    if (adv) g->nadv++;
    g->nd++;
    return 0;
}

static bool is_int_index_dtype(int d) { return d == CT_INT64 || d == CT_INT32; }

/* How many of self's dims an item consumes. */
static int consumed_dims(const ct_index_item *it) {
    switch (it->kind) {
    case CT_INDEX_INT:
    case CT_INDEX_SLICE: return 1;
    case CT_INDEX_TENSOR: {
        const ct_tensor *t = it->tensor;
        if (t->dtype == CT_BOOL || t->dtype == CT_UINT8) return t->ndim;
        return t->ndim == 0 && is_int_index_dtype(t->dtype) ? 1 : 1;
    }
    default: return 0;
    }
}

static int apply_items(ct_tensor *self, const ct_index_item *items, int n, geom *g) {
    memset(g, 0, sizeof *g);
    g->offset = self->offset;
    int used = 0;
    for (int i = 0; i < n; i++) {
        if (items[i].kind == CT_INDEX_ELLIPSIS) {
            /* torch lets every further ellipsis skip the same count again */
        } else if (items[i].kind == CT_INDEX_TENSOR && !items[i].tensor) {
            return ct_errorf(CT_ERR_INDEX, "[index] NULL index tensor");
        } else {
            used += consumed_dims(&items[i]);
        }
    }
    if (used > self->ndim) {
        if (self->ndim == 0) {
            for (int i = 0; i < n; i++)
                if (items[i].kind == CT_INDEX_SLICE)
                    return ct_errorf(CT_ERR_INDEX, "[index] slice() cannot be applied to a 0-dim tensor.");
            return ct_errorf(CT_ERR_INDEX, "[index] invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                             "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number");
        }
        return ct_errorf(CT_ERR_INDEX, "[index] too many indices for tensor of dimension %d", self->ndim);
    }
    int sd = 0; /* next dim of self */
    for (int i = 0; i < n; i++) {
        const ct_index_item *it = &items[i];
        if (sd + consumed_dims(it) > self->ndim)
            return ct_errorf(CT_ERR_INDEX, "[index] index 0 is out of bounds for dimension %d with size 0", sd);
        switch (it->kind) {
        case CT_INDEX_INT: {
        select:;
            int64_t size = self->sizes[sd], k = it->kind == CT_INDEX_INT ? it->i : 0;
            if (it->kind == CT_INDEX_TENSOR) k = ct_load_i64(ct_tensor_data(it->tensor), it->tensor->dtype);
            if (k < -size || k >= size)
                return ct_errorf(CT_ERR_INDEX, "[index] index %lld is out of bounds for dimension %d with size %lld",
                                 (long long)k, sd, (long long)size);
            if (k < 0) k += size;
            g->offset += k * self->strides[sd];
            sd++;
            break;
        }
        case CT_INDEX_SLICE: {
            if (it->step <= 0)
                return ct_errorf(CT_ERR_VALUE, it->step == 0 ? "[index] slice step cannot be zero"
                                                             : "[index] step must be greater than zero");
            int64_t size = self->sizes[sd];
            int64_t a = it->start, b = it->stop;
            if (a < 0) a = a < -size ? 0 : a + size;
            if (a > size) a = size;
            if (b < 0) b = b < -size ? 0 : b + size;
            if (b > size) b = size;
            int64_t len = b > a ? (b - a + it->step - 1) / it->step : 0;
            if (len > 0) g->offset += a * self->strides[sd];
            if (push_dim(g, len, self->strides[sd] * it->step, NULL)) return -1;
            sd++;
            break;
        }
        case CT_INDEX_NONE: {
            int64_t stride = sd < self->ndim ? self->sizes[sd] * self->strides[sd] : 1;
            if (push_dim(g, 1, stride, NULL)) return -1;
            break;
        }
        case CT_INDEX_ELLIPSIS: {
            int k = self->ndim - used;
            for (int j = 0; j < k; j++, sd++)
                if (sd < self->ndim && push_dim(g, self->sizes[sd], self->strides[sd], NULL)) return -1;
            break;
        }
        case CT_INDEX_BOOL: {
        boolean:;
            bool v = it->kind == CT_INDEX_BOOL ? it->i != 0 : *(const uint8_t *)ct_tensor_data(it->tensor) != 0;
            int64_t len = v ? 1 : 0;
            ct_tensor *ix = ct_empty(&len, 1, CT_INT64);
            if (!ix) return -1;
            if (v) *(int64_t *)ct_tensor_data(ix) = 0;
            if (push_dim(g, 1, 0, ix)) return -1;
            break;
        }
        case CT_INDEX_TENSOR: {
            ct_tensor *t = it->tensor;
            if (t->dtype == CT_BOOL || t->dtype == CT_UINT8) {
                if (t->ndim == 0) goto boolean;
                for (int j = 0; j < t->ndim; j++) {
                    if (t->sizes[j] != self->sizes[sd + j]) {
                        char b1[128], b2[128];
                        return ct_errorf(CT_ERR_INDEX, "[index] The shape of the mask %s at index %d does not match "
                                         "the shape of the indexed tensor %s at index %d",
                                         ct_shape_str(t->sizes, t->ndim, b1, sizeof b1), j,
                                         ct_shape_str(self->sizes + sd, self->ndim - sd, b2, sizeof b2), sd + j);
                    }
                }
                ct_tensor *nz = ct_ix_nonzero(t);
                if (!nz) return -1;
                int64_t cnt = nz->sizes[0];
                const int64_t *z = ct_tensor_data(nz);
                for (int j = 0; j < t->ndim; j++, sd++) {
                    ct_tensor *col = ct_empty(&cnt, 1, CT_INT64);
                    if (!col) {
                        ct_tensor_release(nz);
                        return -1;
                    }
                    int64_t *c = ct_tensor_data(col);
                    for (int64_t r = 0; r < cnt; r++) c[r] = z[r * t->ndim + j];
                    if (push_dim(g, self->sizes[sd], self->strides[sd], col)) {
                        ct_tensor_release(nz);
                        return -1;
                    }
                }
                ct_tensor_release(nz);
            } else if (is_int_index_dtype(t->dtype) || t->dtype == CT_INT8 || t->dtype == CT_INT16) {
                if (!is_int_index_dtype(t->dtype))
                    return ct_errorf(CT_ERR_INDEX, "[index] tensors used as indices must be long, int, byte or bool "
                                     "tensors");
                if (t->ndim == 0) goto select;
                ct_tensor *ix = ct_contig_as(t, CT_INT64);
                if (!ix) return -1;
                if (push_dim(g, self->sizes[sd], self->strides[sd], ix)) return -1;
                sd++;
            } else {
                return ct_errorf(CT_ERR_INDEX, "[index] tensors used as indices must be long, int, byte or bool "
                                 "tensors");
            }
            break;
        }
        default: return ct_errorf(CT_ERR_INDEX, "[index] unknown index kind %d", it->kind);
        }
    }
    for (; sd < self->ndim; sd++)
        if (push_dim(g, self->sizes[sd], self->strides[sd], NULL)) return -1;
    return 0;
}

/* Broadcast the advanced indices, check their ranges, build the offset table and the
 * result layout (NOTE [ Index geometry ]). */
static int finish_geom(geom *g, int es) {
    int bnd = 0;
    int64_t bs[CT_MAX_DIM];
    int first = -1, last = -1;
    for (int d = 0; d < g->nd; d++) {
        ct_tensor *t = g->adv[d];
        if (!t) continue;
        if (first < 0) first = d;
        last = d;
        int64_t nb[CT_MAX_DIM];
        int r = ct_broadcast_shapes(bs, bnd, t->sizes, t->ndim, nb, "index");
        if (r < 0) {
            /* torch's message lists every index shape */
            char msg[512] = "", b[128];
            for (int e = 0; e < g->nd; e++) {
                if (!g->adv[e]) continue;
                if (msg[0]) strncat(msg, ", ", sizeof msg - strlen(msg) - 1);
                strncat(msg, ct_shape_str(g->adv[e]->sizes, g->adv[e]->ndim, b, sizeof b), sizeof msg - strlen(msg) - 1);
            }
            return ct_errorf(CT_ERR_INDEX, "[index] shape mismatch: indexing tensors could not be broadcast together "
                             "with shapes %s", msg);
        }
        bnd = r;
        memcpy(bs, nb, sizeof(int64_t) * (size_t)r);
    }
    g->bnd = bnd;
    memcpy(g->bshape, bs, sizeof(int64_t) * (size_t)bnd);
    int64_t bn = 1;
    for (int k = 0; k < bnd; k++) bn *= bs[k];
    g->bnumel = bn;
    g->boff = calloc((size_t)(bn ? bn : 1), sizeof(int64_t));
    if (!g->boff) return ct_errorf(CT_ERR_MEMORY, "[index] out of memory");
    for (int d = 0; d < g->nd; d++)
        if (g->adv[d] && g->sizes[d] == 0 && bn > 0)
            return ct_errorf(CT_ERR_INDEX, "[index] index is out of bounds for dimension with size 0");
    /* like torch, indices are otherwise only checked (and used) when the result has elements */
    int64_t rnumel = bn;
    for (int d = 0; d < g->nd; d++)
        if (!g->adv[d]) rnumel *= g->sizes[d];
    for (int d = 0; d < g->nd && rnumel > 0; d++) {
        ct_tensor *t = g->adv[d];
        if (!t) continue;
        int64_t bad;
        if (ct_ix_find_bad(t, -g->sizes[d], g->sizes[d], &bad))
            return ct_errorf(CT_ERR_INDEX, "[index] index %lld is out of bounds for dimension %d with size %lld",
                             (long long)bad, d, (long long)g->sizes[d]);
        /* walk B, reading t broadcast (right-aligned) */
        int64_t tst[CT_MAX_DIM];
        for (int k = 0; k < bnd; k++) {
            int td = t->ndim - bnd + k;
            tst[k] = (td < 0 || t->sizes[td] == 1) ? 0 : t->strides[td];
        }
        const int64_t *x = ct_tensor_data(t);
        int64_t co[CT_MAX_DIM] = {0}, pos = 0, size = g->sizes[d], stb = g->strides[d] * es;
        for (int64_t b = 0; b < bn; b++) {
            int64_t k = x[pos];
            if (k < 0) k += size;
            g->boff[b] += k * stb;
            for (int q = bnd - 1; q >= 0; q--) {
                pos += tst[q];
                if (++co[q] < bs[q]) break;
                pos -= tst[q] * bs[q];
                co[q] = 0;
            }
        }
    }
    bool adjacent = (last - first + 1) == g->nadv;
    g->npre = g->npost = 0;
    for (int d = 0; d < g->nd; d++) {
        if (g->adv[d]) continue;
        if (adjacent && d < first) {
            g->pre_sz[g->npre] = g->sizes[d];
            g->pre_st[g->npre++] = g->strides[d] * es;
        } else {
            g->post_sz[g->npost] = g->sizes[d];
            g->post_st[g->npost++] = g->strides[d] * es;
        }
    }
    g->first = g->npre;
    g->rnd = g->npre + bnd + g->npost;
    if (g->rnd > CT_MAX_DIM) return ct_errorf(CT_ERR_INDEX, "[index] too many dimensions in the result");
    memcpy(g->rsizes, g->pre_sz, sizeof(int64_t) * (size_t)g->npre);
    memcpy(g->rsizes + g->npre, bs, sizeof(int64_t) * (size_t)bnd);
    memcpy(g->rsizes + g->npre + bnd, g->post_sz, sizeof(int64_t) * (size_t)g->npost);
    return 0;
}

/* Plan over positions (pre..., B flattened, post...) where `strided` is the indexed
 * storage side (offset table applies) and `dense` a contiguous tensor of the result shape. */
static void geom_plan(const geom *g, ct_ix_plan *p, char *base, const char *dense_base, int es, bool write_base) {
    int nd = 0;
    for (int k = 0; k < g->npre; k++, nd++) {
        p->sizes[nd] = g->pre_sz[k];
        p->idx_st[nd] = 0;
        if (write_base) p->dst_st[nd] = g->pre_st[k];
        else p->src_st[nd] = g->pre_st[k];
    }
    p->sizes[nd] = g->bnumel;
    p->idx_st[nd] = 8;
    if (write_base) p->dst_st[nd] = 0;
    else p->src_st[nd] = 0;
    nd++;
    for (int k = 0; k < g->npost; k++, nd++) {
        p->sizes[nd] = g->post_sz[k];
        p->idx_st[nd] = 0;
        if (write_base) p->dst_st[nd] = g->post_st[k];
        else p->src_st[nd] = g->post_st[k];
    }
    p->ndim = nd;
    /* contiguous strides of the dense side */
    int64_t s = es;
    for (int d = nd - 1; d >= 0; d--) {
        if (write_base) p->src_st[d] = s;
        else p->dst_st[d] = s;
        s *= p->sizes[d];
    }
    if (write_base) {
        p->dst = base;
        p->src = dense_base;
        p->dst_mul = 1;
    } else {
        p->src = base;
        p->dst = (char *)dense_base;
        p->src_mul = 1;
    }
    p->idx = (const char *)g->boff;
}

ct_tensor *ct_tensor_index_nograd(ct_tensor *self, const ct_index_item *items, int n) {
    geom g;
    if (apply_items(self, items, n, &g)) {
        geom_free(&g);
        return NULL;
    }
    ct_tensor *out = NULL;
    if (g.nadv == 0) {
        out = ct_tensor_new_view(self->storage, self->dtype, g.offset, g.sizes, g.strides, g.nd);
        geom_free(&g);
        return out;
    }
    int es = ct_dtype_sizes[self->dtype];
    if (finish_geom(&g, es)) goto done;
    out = ct_empty(g.rsizes, g.rnd, self->dtype);
    if (!out || !out->numel) goto done;
    ct_ix_plan p;
    memset(&p, 0, sizeof p);
    p.dtype = self->dtype;
    p.op = CT_IX_COPY;
    geom_plan(&g, &p, (char *)self->storage->data + g.offset * es, ct_tensor_data(out), es, false);
    p.parallel = true;
    ct_ix_run(&p);
done:
    geom_free(&g);
    return out;
}

/* value without its leading size-1 dims beyond ndim (torch ignores them when assigning) */
static ct_tensor *strip_leading_ones(ct_tensor *v, int ndim) {
    int k = 0;
    while (v->ndim - k > ndim && v->sizes[k] == 1) k++;
    return ct_tensor_new_view(v->storage, v->dtype, v->offset, v->sizes + k, v->strides + k, v->ndim - k);
}

/* torch refuses a copy between two contiguous views of one storage whose memory partly
 * overlaps (identical views are fine; strided ones are not analysed, as in torch). */
static bool partial_overlap(const ct_tensor *a, const ct_tensor *b) {
    if (a->storage != b->storage || a->numel == 0 || b->numel == 0) return false;
    if (!ct_tensor_is_contiguous(a) || !ct_tensor_is_contiguous(b)) return false;
    int64_t ea = ct_dtype_sizes[a->dtype], eb = ct_dtype_sizes[b->dtype];
    int64_t a0 = a->offset * ea, a1 = a0 + a->numel * ea, b0 = b->offset * eb, b1 = b0 + b->numel * eb;
    if (a0 == b0 && a1 == b1) return false;
    return a0 < b1 && b0 < a1;
}

int ct_tensor_index_put_nograd(ct_tensor *self, const ct_index_item *items, int n, ct_tensor *value, bool accumulate) {
    geom g;
    int rc = -1;
    ct_tensor *dense = NULL, *vs = NULL, *view = NULL;
    if (n == 1 && items[0].kind == CT_INDEX_BOOL && !accumulate) {
        /* t[True] = v writes t (v may carry the new leading dim); t[False] = v is a no-op */
        memset(&g, 0, sizeof g);
        if (!items[0].i) {
            rc = 0;
            goto done;
        }
        int64_t sz1[CT_MAX_DIM + 1], st1[CT_MAX_DIM + 1];
        if (self->ndim >= CT_MAX_DIM) {
            ct_error(CT_ERR_INDEX, "[index_put_] too many dimensions");
            goto done;
        }
        sz1[0] = 1;
        st1[0] = 0;
        memcpy(sz1 + 1, self->sizes, sizeof(int64_t) * (size_t)self->ndim);
        memcpy(st1 + 1, self->strides, sizeof(int64_t) * (size_t)self->ndim);
        view = ct_tensor_new_view(self->storage, self->dtype, self->offset, sz1, st1, self->ndim + 1);
        vs = view ? strip_leading_ones(value, view->ndim) : NULL;
        if (!vs) goto done;
        rc = ct_copy_into(view, vs);
        goto done;
    }
    if (apply_items(self, items, n, &g)) goto done;
    if (g.nadv > 0 && value->dtype != self->dtype) {
        /* torch casts only on its masked_fill path: one mask index and a one-element value */
        int nmask = 0, nother = 0;
        for (int i = 0; i < n; i++) {
            const ct_index_item *it = &items[i];
            if (it->kind == CT_INDEX_BOOL) nother++;
            if (it->kind != CT_INDEX_TENSOR) continue;
            const ct_tensor *t = it->tensor;
            if ((t->dtype == CT_BOOL || t->dtype == CT_UINT8) && t->ndim > 0) nmask++;
            else if (!(t->ndim == 0 && is_int_index_dtype(t->dtype))) nother++;
        }
        if (!(nmask == 1 && nother == 0 && value->numel == 1)) {
            ct_error(CT_ERR_RUNTIME, "[index_put_] Index put requires the source and destination dtypes match, got %s "
                     "for the destination and %s for the source.", ct_dtype_name(self->dtype),
                     ct_dtype_name(value->dtype));
            goto done;
        }
    }
    if (g.nadv == 0 && !accumulate) {
        view = ct_tensor_new_view(self->storage, self->dtype, g.offset, g.sizes, g.strides, g.nd);
        vs = view ? strip_leading_ones(value, view->ndim) : NULL;
        if (!vs) goto done;
        if (partial_overlap(view, vs)) {
            ct_error(CT_ERR_RUNTIME, "[index_put_] unsupported operation: some elements of the input tensor and the "
                     "written-to tensor refer to a single memory location. Please clone() the tensor before "
                     "performing the operation.");
            goto done;
        }
        rc = ct_copy_into(view, vs);
        goto done;
    }
    if (g.nadv == 0) { /* accumulate over a basic index: index a pushed size-1 dim with 0 */
        ct_tensor *z = ct_scalar_tensor_i64(0, CT_INT64);
        if (!z || push_dim(&g, 1, 0, z)) goto done;
    }
    int es = ct_dtype_sizes[self->dtype];
    if (finish_geom(&g, es)) goto done;
    vs = strip_leading_ones(value, g.rnd);
    if (!vs) goto done;
    dense = ct_empty(g.rsizes, g.rnd, self->dtype);
    if (!dense) goto done;
    {
        ct_iter it;
        ct_tensor *ops[2] = {dense, vs};
        if (ct_iter_init(&it, 2, ops, dense->sizes, dense->ndim, "index_put_")) {
            char b1[128], b2[128];
            ct_error(CT_ERR_RUNTIME, "[index_put_] shape mismatch: value tensor of shape %s cannot be broadcast to "
                     "indexing result of shape %s", ct_shape_str(value->sizes, value->ndim, b1, sizeof b1),
                     ct_shape_str(g.rsizes, g.rnd, b2, sizeof b2));
            goto done;
        }
    }
    if (ct_copy_into(dense, vs)) goto done;
    if (dense->numel) {
        ct_ix_plan p;
        memset(&p, 0, sizeof p);
        p.dtype = self->dtype;
        p.op = accumulate ? CT_IX_ADD : CT_IX_COPY;
        p.alpha_d = 1.0;
        p.alpha_i = 1;
        geom_plan(&g, &p, (char *)self->storage->data + g.offset * es, ct_tensor_data(dense), es, true);
        ct_ix_run(&p);
    }
    ct_tensor_bump_version(self);
    rc = 0;
done:
    geom_free(&g);
    ct_tensor_release(dense);
    ct_tensor_release(vs);
    ct_tensor_release(view);
    return rc;
}

/* ------------------------------------------------------------------ autograd */

/* self[items], recorded (NOTE [ Indexing autograd ] in src/autograd/formulas_index.c). */
ct_tensor *ct_tensor_index(ct_tensor *self, const ct_index_item *items, int n) {
    ct_tensor *r = ct_tensor_index_nograd(self, items, n);
    if (r && ct_grad_enabled() && ctg_tensor_index(r, self, items, n)) {
        ct_tensor_release(r);
        return NULL;
    }
    return r;
}

/* self[items] = value: when the graph must see it, recorded as an index_put whose output is
 * self (checks of the autograd=inplace protocol; written in place, no copy of self); else
 * the plain kernel. */
int ct_tensor_index_put_(ct_tensor *self, const ct_index_item *items, int n, ct_tensor *value, bool accumulate) {
    ct_tensor *ins[2] = {self, value};
    bool noop = n == 1 && items[0].kind == CT_INDEX_BOOL && !items[0].i && !accumulate; /* t[False] = v */
    if (noop || !ct_dtype_is_floating(self->dtype) || !ct_autograd_should_record(2, ins))
        return ct_tensor_index_put_nograd(self, items, n, value, accumulate);
    bool adv = ct_index_items_advanced(items, n);
    if (self->autograd && self->autograd->requires_grad && !self->autograd->grad_fn)
        return ct_errorf(CT_ERR_RUNTIME, adv ? "a leaf Variable that requires grad is being used in an in-place "
                                               "operation."
                                             : "a view of a leaf Variable that requires grad is being used in an "
                                               "in-place operation.");
    if (ct_autograd_inplace_begin(self, 2, ins) < 0) return -1;
    if (self->autograd && self->autograd->view_base) {
        /* a view: write into a recorded copy, then commit it into the view, which rebases
         * the base's history (NOTE [ In-place on views ]) */
        ct_tensor *tmp = ct_clone(self);
        if (!tmp) return -1;
        if (ct_index_put_items_(tmp, items, n, value, accumulate, ct_index_setitem_name(tmp, items, n, value))) {
            ct_tensor_release(tmp);
            return -1;
        }
        ct_tensor *r = ct_autograd_inplace_commit(self, tmp);
        if (!r) return -1;
        ct_tensor_release(r);
        return 0;
    }
    if (!ct_tensor_requires_grad(self) && __atomic_load_n(&self->storage->refcount, __ATOMIC_ACQUIRE) > 1)
        /* self takes the history, but tensors sharing its memory (its base, its views) would
         * not see it: refuse rather than drop the gradient silently */
        return ct_errorf(CT_ERR_NOT_IMPLEMENTED, "[index_put_] assigning a value that requires grad into a tensor "
                         "that shares its memory with other tensors (a view such as x[i][j], or a tensor that has "
                         "views) is not supported: index the base tensor directly (x[i, j] = v) or clone() first");
    return ct_index_put_items_(self, items, n, value, accumulate, ct_index_setitem_name(self, items, n, value));
}
