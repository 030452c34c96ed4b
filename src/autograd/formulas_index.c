/* Backward formulas of indexing: t[...] (views and advanced indexing), t[...] = v on tensors
 * in the graph, and the index ops of src/ops/index.ops (gather/scatter family, index_*,
 * masked_*, take/put). Written with ops so that create_graph double backward works.
 *
 * NOTE [ Indexing autograd ]
 * t[items] records one node for the whole index (named after the last op torch would apply:
 * SelectBackward0, SliceBackward0, UnsqueezeBackward0, AliasBackward0 or IndexBackward0)
 * holding the items (index tensors retained) in its payload; its backward is
 * zeros(t.shape).index_put(items, grad, accumulate=True), itself recorded, so double
 * backward goes back through t[items] again. t[items] = v on a tensor that requires grad
 * (or with v requiring grad) writes t in place and makes t the output of an index_put node
 * (IndexPutBackward0 for advanced indices, CopySlices / CopyBackwards / FillBackward3 for
 * basic ones, as torch names them) whose edges point at t's previous history: the old t
 * gets grad with the written positions zeroed, v gets grad[items] summed to its shape.
 * Leaves requiring grad are refused as torch does; views of tensors requiring grad are
 * refused by the in-place protocol, and so is writing a value requiring grad into a plain
 * tensor that shares its memory (the engine does not rebase views, so the base or the
 * views would silently miss the history). */
#include <stdlib.h>

#include "autograd_internal.h"
#include "../kernels/cpu/index.h"

/* ------------------------------------------------------------------ helpers */

static ct_tensor *zeros_of(const int64_t *sizes, int nd, int dtype) {
    return ct_zeros((ct_intlist){sizes, nd}, dtype, CT_DTYPE_NONE);
}

static ct_tensor *zeros_meta(const ct_input_meta *m, int dtype) { return zeros_of(m->sizes, m->ndim, dtype); }

static int64_t meta_numel(const ct_input_meta *m) {
    int64_t k = 1;
    for (int i = 0; i < m->ndim; i++) k *= m->sizes[i];
    return k;
}

static bool same_shape(const ct_tensor *t, const ct_input_meta *m) {
    if (t->ndim != m->ndim) return false;
    for (int i = 0; i < m->ndim; i++)
        if (t->sizes[i] != m->sizes[i]) return false;
    return true;
}

/* r (consumed) reduced to input i: broadcast dims summed, leading size-1 dims of the input
 * that r lacks restored, cast to the input's dtype. */
static int put(ct_node *n, ct_tensor **gi, int i, ct_tensor *r) {
    if (!r) return -1;
    ct_input_meta m = n->in_meta[i];
    int lead = 0;
    while (m.ndim - lead > r->ndim && m.sizes[lead] == 1) lead++;
    ct_tensor *s;
    if (lead) {
        ct_input_meta m2 = m;
        m2.ndim = (int8_t)(m.ndim - lead);
        for (int k = 0; k < m2.ndim; k++) m2.sizes[k] = m.sizes[k + lead];
        ct_tensor *a = ct_sum_to_meta(r, &m2);
        s = a ? ct_reshape(a, (ct_intlist){m.sizes, m.ndim}) : NULL;
        ct_tensor_release(a);
    } else {
        s = ct_sum_to_meta(r, &m);
    }
    ct_tensor_release(r);
    if (!s) return -1;
    gi[i] = s;
    return 0;
}

/* r (consumed) with as many elements as input i, reshaped to it (take/put, index_add of a
 * 0-dim source, ...); otherwise reduced like put(). */
static int fit(ct_node *n, ct_tensor **gi, int i, ct_tensor *r) {
    if (!r) return -1;
    const ct_input_meta *m = &n->in_meta[i];
    if (!same_shape(r, m) && r->numel == meta_numel(m)) {
        ct_tensor *s = ct_reshape(r, (ct_intlist){m->sizes, m->ndim});
        ct_tensor_release(r);
        r = s;
    }
    return put(n, gi, i, r);
}

static ct_tensor *mul_scalar(ct_tensor *g, ct_scalar s) {
    ct_tensor *st = s.kind == CT_SCALAR_FLOAT ? ct_scalar_tensor_f64(s.v.d, CT_FLOAT64)
                                              : ct_scalar_tensor_i64(s.v.i, CT_INT64);
    if (!st) return NULL;
    st->flags |= CT_FLAG_WRAPPED_NUMBER;
    ct_tensor *r = ct_mul(g, st);
    ct_tensor_release(st);
    return r;
}

#define RECORD(NAME, FN, OUT, ...)                                                                   \
    do {                                                                                             \
        ct_tensor *ins_[] = {__VA_ARGS__};                                                           \
        int nin_ = (int)(sizeof ins_ / sizeof ins_[0]);                                              \
        if (!ct_autograd_should_record(nin_, ins_) || !ct_dtype_is_floating((OUT)->dtype)) return 0; \
        node = ct_autograd_record(NAME, FN, OUT, nin_, ins_);                                        \
        if (!node) return -1;                                                                        \
    } while (0)

/* ---- bool masks of saved values (constants of the formulas: computed directly) */

/* a == b elementwise (same shapes), or a == 0 when b is NULL: new bool tensor. */
static ct_tensor *eq_mask(ct_tensor *a, ct_tensor *b) {
    ct_tensor *x = ct_contig_as(a, CT_FLOAT64), *y = b ? ct_contig_as(b, CT_FLOAT64) : NULL;
    ct_tensor *m = x && (y || !b) ? ct_empty(a->sizes, a->ndim, CT_BOOL) : NULL;
    if (m) {
        const double *p = ct_tensor_data(x), *q = y ? ct_tensor_data(y) : NULL;
        uint8_t *o = ct_tensor_data(m);
        for (int64_t i = 0; i < m->numel; i++) o[i] = p[i] == (q ? q[i] : 0.0);
    }
    ct_tensor_release(x);
    ct_tensor_release(y);
    return m;
}

/* ------------------------------------------------------------------ index items payload */

/* index tensors are kept with their storage version: like torch's saved indices, modifying
 * one in place before the backward is an error (items_check) */
typedef struct ix_items {
    int n;
    int64_t *ver;
    ct_index_item it[];
} ix_items;

static void items_destroy(ct_node *node) {
    ix_items *p = node->payload;
    if (!p) return;
    for (int i = 0; i < p->n; i++)
        if (p->it[i].kind == CT_INDEX_TENSOR) ct_tensor_release(p->it[i].tensor);
    free(p->ver);
    free(p);
    node->payload = NULL;
}

static bool is_advanced(const ct_index_item *it);

static int attach_items(ct_node *node, const ct_index_item *items, int n) {
    ix_items *p = malloc(sizeof *p + sizeof(ct_index_item) * (size_t)(n > 0 ? n : 1));
    int64_t *ver = p ? malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1)) : NULL;
    if (!ver) {
        free(p);
        return ct_errorf(CT_ERR_MEMORY, "[autograd] out of memory");
    }
    p->n = n;
    p->ver = ver;
    for (int i = 0; i < n; i++) {
        p->it[i] = items[i];
        ver[i] = 0;
        if (items[i].kind == CT_INDEX_TENSOR && !is_advanced(&items[i])) { /* 0-dim integer: its value now */
            ct_tensor *c = ct_contig_as(items[i].tensor, CT_INT64);
            if (!c) {
                p->n = i;
                node->payload = p;
                node->destroy = items_destroy;
                return -1;
            }
            p->it[i] = ct_index_int(*(const int64_t *)ct_tensor_data(c));
            ct_tensor_release(c);
        } else if (items[i].kind == CT_INDEX_TENSOR) {
            ct_tensor_retain(items[i].tensor);
            ver[i] = items[i].tensor->storage->version;
        }
    }
    node->payload = p;
    node->destroy = items_destroy;
    return 0;
}

static int items_check(const ct_node *node, const ix_items *p) {
    for (int i = 0; i < p->n; i++) {
        const ct_tensor *t = p->it[i].tensor;
        if (p->it[i].kind != CT_INDEX_TENSOR || !is_advanced(&p->it[i]) || t->storage->version == p->ver[i]) continue;
        char b[128];
        return ct_errorf(CT_ERR_RUNTIME,
                         "one of the variables needed for gradient computation has been modified by an inplace "
                         "operation: [%s %s] is at version %lld; expected version %lld instead. Hint: the backward "
                         "node is %s.", ct_dtype_name(t->dtype), ct_shape_str(t->sizes, t->ndim, b, sizeof b),
                         (long long)t->storage->version, (long long)p->ver[i], node->name);
    }
    return 0;
}

static bool is_advanced(const ct_index_item *it) {
    if (it->kind == CT_INDEX_BOOL) return true;
    if (it->kind != CT_INDEX_TENSOR) return false;
    const ct_tensor *t = it->tensor;
    return !(t->ndim == 0 && (t->dtype == CT_INT64 || t->dtype == CT_INT32));
}

bool ct_index_items_advanced(const ct_index_item *items, int n) {
    for (int i = 0; i < n; i++)
        if (is_advanced(&items[i])) return true;
    return false;
}

/* Name of the last op torch applies for a basic index: a lone item is applied as is; in a
 * tuple, slices that keep a whole dim (start 0, step 1, stop past the end) are skipped, and
 * an index that changed nothing is an alias. */
static const char *basic_name(const ct_tensor *self, const ct_index_item *items, int n) {
    if (n == 1) {
        switch (items[0].kind) {
        case CT_INDEX_SLICE: return "SliceBackward0";
        case CT_INDEX_NONE: return "UnsqueezeBackward0";
        case CT_INDEX_ELLIPSIS: return "AliasBackward0";
        default: return "SelectBackward0";
        }
    }
    int used = 0;
    for (int i = 0; i < n; i++)
        used += items[i].kind == CT_INDEX_INT || items[i].kind == CT_INDEX_SLICE || items[i].kind == CT_INDEX_TENSOR;
    const char *last = NULL;
    int sd = 0;
    for (int i = 0; i < n; i++) {
        const ct_index_item *it = &items[i];
        switch (it->kind) {
        case CT_INDEX_INT:
        case CT_INDEX_TENSOR: last = "SelectBackward0"; sd++; break;
        case CT_INDEX_SLICE:
            if (!(it->start == 0 && it->step == 1 && sd < self->ndim && it->stop >= self->sizes[sd]))
                last = "SliceBackward0";
            sd++;
            break;
        case CT_INDEX_NONE: last = "UnsqueezeBackward0"; break;
        case CT_INDEX_ELLIPSIS: sd += self->ndim - used > 0 ? self->ndim - used : 0; break;
        default: break;
        }
    }
    return last ? last : "AliasBackward0";
}

/* Name torch gives self's new grad_fn after self[items] = value. torch first applies the
 * basic part of the index (ints, None, bools, slices other than a whole dim) as a view and
 * writes through it (CopySlices); with no such view, advanced indices are an index_put_
 * on self (IndexPutBackward0) and a plain index copies into self (FillBackward3 for a 0-dim
 * value, CopyBackwards otherwise). */
const char *ct_index_setitem_name(const ct_tensor *self, const ct_index_item *items, int n, const ct_tensor *value) {
    int used = 0;
    for (int i = 0; i < n; i++) {
        const ct_index_item *it = &items[i];
        if (it->kind == CT_INDEX_SLICE || it->kind == CT_INDEX_INT) used++;
        else if (it->kind == CT_INDEX_TENSOR)
            used += (it->tensor->dtype == CT_BOOL || it->tensor->dtype == CT_UINT8) ? it->tensor->ndim : 1;
    }
    bool view = false;
    int sd = 0;
    for (int i = 0; i < n; i++) {
        const ct_index_item *it = &items[i];
        switch (it->kind) {
        case CT_INDEX_ELLIPSIS: sd += self->ndim - used > 0 ? self->ndim - used : 0; break;
        case CT_INDEX_SLICE:
            if (!(it->start == 0 && it->step == 1 && sd < self->ndim && it->stop >= self->sizes[sd])) view = true;
            sd++;
            break;
        case CT_INDEX_INT: view = true, sd++; break;
        case CT_INDEX_TENSOR: {
            const ct_tensor *t = it->tensor;
            bool mask = t->dtype == CT_BOOL || t->dtype == CT_UINT8;
            if (t->ndim == 0) view = true; /* select / unsqueeze */
            sd += mask ? t->ndim : 1;
            break;
        }
        default: view = true; break; /* None, bool */
        }
    }
    if (view) return "CopySlices";
    if (ct_index_items_advanced(items, n)) return "IndexPutBackward0";
    return value->ndim == 0 ? "FillBackward3" : "CopyBackwards";
}

/* ------------------------------------------------------------------ t[items] */

static int getitem_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ix_items *p = n->payload;
    if (items_check(n, p)) return -1;
    ct_tensor *z = zeros_meta(&n->in_meta[0], g[0]->dtype);
    if (!z) return -1;
    if (!(ct_grad_enabled() && ct_tensor_requires_grad(g[0]))) {
        /* not differentiated again: accumulate straight into the fresh zeros */
        if (ct_tensor_index_put_nograd(z, p->it, p->n, g[0], true)) {
            ct_tensor_release(z);
            return -1;
        }
        return put(n, gi, 0, z);
    }
    ct_tensor *r = ct_index_put_items(z, p->it, p->n, g[0], true, "IndexPutBackward0");
    ct_tensor_release(z);
    return put(n, gi, 0, r);
}

int ctg_tensor_index(ct_tensor *result, ct_tensor *self, const ct_index_item *items, int n) {
    ct_node *node;
    bool adv = ct_index_items_advanced(items, n);
    RECORD(adv ? "IndexBackward0" : basic_name(self, items, n), getitem_backward, result, self);
    if (attach_items(node, items, n)) return -1;
    if (!adv) ct_autograd_mark_view(result, self);
    return 0;
}

/* ------------------------------------------------------------------ index_put over items */

static int index_put_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ix_items *p = n->payload;
    if (items_check(n, p)) return -1;
    if (ct_node_needs_grad(n, 0)) {
        ct_tensor *r;
        if (n->iv[0]) {
            ct_tensor_retain(g[0]);
            r = g[0];
        } else {
            ct_tensor *zero = ct_zeros((ct_intlist){NULL, 0}, g[0]->dtype, CT_DTYPE_NONE);
            r = zero ? ct_index_put_items(g[0], p->it, p->n, zero, false, "IndexPutBackward0") : NULL;
            ct_tensor_release(zero);
        }
        if (put(n, gi, 0, r)) return -1;
    }
    if (ct_node_needs_grad(n, 1) && put(n, gi, 1, ct_tensor_index(g[0], p->it, p->n))) return -1;
    return 0;
}

ct_tensor *ct_index_put_items(ct_tensor *self, const ct_index_item *items, int n, ct_tensor *value, bool accumulate,
                              const char *name) {
    bool prev = ct_set_grad_enabled(false);
    ct_tensor *out = ct_clone(self);
    int rc = out ? ct_tensor_index_put_nograd(out, items, n, value, accumulate) : -1;
    ct_set_grad_enabled(prev);
    if (rc) {
        ct_tensor_release(out);
        return NULL;
    }
    ct_tensor *ins[2] = {self, value};
    if (ct_grad_enabled() && ct_autograd_should_record(2, ins) && ct_dtype_is_floating(out->dtype)) {
        ct_node *node = ct_autograd_record(name, index_put_backward, out, 2, ins);
        if (!node || attach_items(node, items, n)) {
            ct_tensor_release(out);
            return NULL;
        }
        node->iv[0] = accumulate;
    }
    return out;
}

int ct_index_put_items_(ct_tensor *self, const ct_index_item *items, int n, ct_tensor *value, bool accumulate,
                        const char *name) {
    ct_tensor *ins[2] = {self, value};
    /* edges to self's current history first, then write in place and take self over */
    ct_node *node = ct_node_new(name, index_put_backward, 2, ins, 1);
    if (!node) return -1;
    int rc = attach_items(node, items, n);
    node->iv[0] = accumulate;
    if (!rc) {
        bool prev = ct_set_grad_enabled(false);
        rc = ct_tensor_index_put_nograd(self, items, n, value, accumulate);
        ct_set_grad_enabled(prev);
    }
    if (!rc) rc = ct_node_set_output(node, self, 0);
    ct_node_release(node);
    return rc;
}

/* Tensor?[] -> items (None -> full slice) */
static int list_items(ct_tensorlist indices, ct_index_item *items) {
    if (indices.n > CT_MAX_DIM) return ct_errorf(CT_ERR_INDEX, "[index] too many indices");
    for (int64_t i = 0; i < indices.n; i++)
        items[i] = indices.data[i] ? ct_index_tensor(indices.data[i]) : ct_index_slice(0, CT_INDEX_END, 1);
    return 0;
}

int ctg_index_Tensor(ct_tensor *result, ct_tensor *self, ct_tensorlist indices) {
    ct_node *node;
    ct_index_item items[CT_MAX_DIM];
    if (list_items(indices, items)) return -1;
    RECORD("IndexBackward0", getitem_backward, result, self);
    return attach_items(node, items, (int)indices.n);
}

int ctg_index_put(ct_tensor *result, ct_tensor *self, ct_tensorlist indices, ct_tensor *values, bool accumulate) {
    ct_node *node;
    ct_index_item items[CT_MAX_DIM];
    if (list_items(indices, items)) return -1;
    RECORD("IndexPutBackward0", index_put_backward, result, self, values);
    node->iv[0] = accumulate;
    return attach_items(node, items, (int)indices.n);
}

/* ------------------------------------------------------------------ gather / scatter */

/* r (consumed, index-shaped) into input i's shape: zeros elsewhere when the input (src of
 * scatter) is larger than the index. */
static int pad_put(ct_node *n, ct_tensor **gi, int i, ct_tensor *r) {
    if (!r) return -1;
    const ct_input_meta *m = &n->in_meta[i];
    if (!same_shape(r, m) && r->ndim == m->ndim) {
        ct_index_item items[CT_MAX_DIM];
        for (int k = 0; k < r->ndim; k++) items[k] = ct_index_slice(0, r->sizes[k], 1);
        ct_tensor *z = zeros_meta(m, r->dtype);
        ct_tensor *p = z ? ct_index_put_items(z, items, r->ndim, r, false, "IndexPutBackward0") : NULL;
        ct_tensor_release(z);
        ct_tensor_release(r);
        r = p;
    }
    return put(n, gi, i, r);
}

static int gather_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *idx = ct_node_saved(n, 0);
    ct_tensor *z = idx ? zeros_meta(&n->in_meta[0], g[0]->dtype) : NULL;
    ct_tensor *r = z ? ct_scatter_add(z, n->iv[0], idx, g[0]) : NULL;
    ct_tensor_release(z);
    ct_tensor_release(idx);
    return put(n, gi, 0, r);
}

int ctg_gather(ct_tensor *result, ct_tensor *self, int64_t dim, ct_tensor *index, bool sparse_grad) {
    (void)sparse_grad;
    ct_node *node;
    RECORD("GatherBackward0", gather_backward, result, self);
    node->iv[0] = dim;
    return ct_node_save(node, 0, index, -1);
}

/* inputs (self[, src]); saved index in slot 0; iv[0] = dim; iv[1]: 1 = scatter_add */
static int scatter_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *idx = ct_node_saved(n, 0);
    if (!idx) return -1;
    int rc = -1;
    if (ct_node_needs_grad(n, 0)) {
        ct_tensor *r;
        if (n->iv[1]) {
            ct_tensor_retain(g[0]);
            r = g[0];
        } else {
            r = ct_scatter_value(g[0], n->iv[0], idx, ct_scalar_i(0));
        }
        if (put(n, gi, 0, r)) goto done;
    }
    if (n->n_inputs > 1 && ct_node_needs_grad(n, 1) && pad_put(n, gi, 1, ct_gather(g[0], n->iv[0], idx, false)))
        goto done;
    rc = 0;
done:
    ct_tensor_release(idx);
    return rc;
}

int ctg_scatter_src(ct_tensor *result, ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *src) {
    ct_node *node;
    RECORD("ScatterBackward0", scatter_backward, result, self, src);
    node->iv[0] = dim;
    return ct_node_save(node, 0, index, -1);
}

int ctg_scatter_value(ct_tensor *result, ct_tensor *self, int64_t dim, ct_tensor *index, ct_scalar value) {
    (void)value;
    ct_node *node;
    RECORD("ScatterBackward1", scatter_backward, result, self);
    node->iv[0] = dim;
    return ct_node_save(node, 0, index, -1);
}

int ctg_scatter_add(ct_tensor *result, ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *src) {
    ct_node *node;
    RECORD("ScatterAddBackward0", scatter_backward, result, self, src);
    node->iv[0] = dim;
    node->iv[1] = 1;
    return ct_node_save(node, 0, index, -1);
}

/* scatter with reduce= has no derivative in torch either: the node errors in backward. */
static int not_implemented_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    (void)n;
    (void)g;
    (void)gi;
    return ct_errorf(CT_ERR_RUNTIME, "derivative for aten::scatter is not implemented");
}

int ctg_scatter_reduce(ct_tensor *result, ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *src,
                       const char *reduce) {
    (void)dim, (void)index, (void)reduce;
    ct_node *node;
    RECORD("NotImplemented", not_implemented_backward, result, self, src);
    (void)node;
    return 0;
}

int ctg_scatter_value_reduce(ct_tensor *result, ct_tensor *self, int64_t dim, ct_tensor *index, ct_scalar value,
                             const char *reduce) {
    (void)dim, (void)index, (void)value, (void)reduce;
    ct_node *node;
    RECORD("NotImplemented", not_implemented_backward, result, self);
    (void)node;
    return 0;
}

/* ------------------------------------------------------------------ scatter_reduce */

enum { SR_SUM, SR_PROD, SR_MEAN, SR_AMAX, SR_AMIN };

static ct_tensor *as_dtype(ct_tensor *m, int dtype) { return m ? ct_to_dtype(m, dtype, false) : NULL; }

/* a.masked_fill(!m, 0) + b.masked_fill(m, 0): where(m, a, b) without NaN leaks. a, b consumed. */
static ct_tensor *select_where(ct_tensor *m, ct_tensor *a, ct_tensor *b) {
    ct_tensor *nm = NULL, *x = NULL, *y = NULL, *r = NULL;
    if (!a || !b) goto done;
    nm = ct_empty(m->sizes, m->ndim, CT_BOOL);
    if (!nm) goto done;
    {
        ct_tensor *mc = ct_contig_as(m, CT_BOOL);
        if (!mc) goto done;
        const uint8_t *p = ct_tensor_data(mc);
        uint8_t *q = ct_tensor_data(nm);
        for (int64_t i = 0; i < nm->numel; i++) q[i] = !p[i];
        ct_tensor_release(mc);
    }
    x = ct_masked_fill_Scalar(a, nm, ct_scalar_i(0));
    y = x ? ct_masked_fill_Scalar(b, m, ct_scalar_i(0)) : NULL;
    r = y ? ct_add(x, y, ct_scalar_i(1)) : NULL;
done:
    ct_tensor_release(nm);
    ct_tensor_release(x);
    ct_tensor_release(y);
    ct_tensor_release(a);
    ct_tensor_release(b);
    return r;
}

/* saved: 0 self, 1 src (cut to the index's shape), 2 index, 3 result; iv: dim, include_self, reduce */
static int scatter_reduce_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    int64_t dim = n->iv[0];
    bool inc = n->iv[1] != 0;
    int red = (int)n->iv[2];
    ct_tensor *self = NULL, *src = NULL, *idx = NULL, *res = NULL;
    ct_tensor *gs = NULL, *gsrc = NULL;
    int dt = g[0]->dtype, rc = -1;
    if (red != SR_SUM && red != SR_MEAN && !(self = ct_node_saved(n, 0))) goto done;
    src = ct_node_saved(n, 1);
    idx = src ? ct_node_saved(n, 2) : NULL;
    res = idx ? ct_node_saved(n, 3) : NULL;
    if (!res) goto done;
    bool need0 = ct_node_needs_grad(n, 0), need1 = ct_node_needs_grad(n, 1);
    if (red == SR_SUM) {
        ct_tensor_retain(g[0]);
        gs = g[0];
        gsrc = need1 ? ct_gather(g[0], dim, idx, false) : NULL;
    } else if (red == SR_MEAN) {
        bool prev = ct_set_grad_enabled(false);
        ct_tensor *base = ct_full((ct_intlist){g[0]->sizes, g[0]->ndim}, ct_scalar_i(inc ? 1 : 0), dt, CT_DTYPE_NONE);
        ct_tensor *ones = base ? ct_full((ct_intlist){idx->sizes, idx->ndim}, ct_scalar_i(1), dt, CT_DTYPE_NONE) : NULL;
        ct_tensor *cnt = ones ? ct_scatter_add(base, dim, idx, ones) : NULL;
        ct_tensor *z = cnt ? eq_mask(cnt, NULL) : NULL;
        ct_tensor *N = z ? ct_masked_fill_Scalar(cnt, z, ct_scalar_i(1)) : NULL;
        ct_tensor_release(base), ct_tensor_release(ones), ct_tensor_release(cnt), ct_tensor_release(z);
        ct_tensor *Ns = N && need1 ? ct_gather(N, dim, idx, false) : NULL;
        ct_set_grad_enabled(prev);
        if (!N || (need1 && !Ns)) {
            ct_tensor_release(N);
            goto done;
        }
        gs = ct_div(g[0], N, NULL);
        if (need1) {
            ct_tensor *gg = ct_gather(g[0], dim, idx, false);
            gsrc = gg ? ct_div(gg, Ns, NULL) : NULL;
            ct_tensor_release(gg);
        }
        ct_tensor_release(N);
        ct_tensor_release(Ns);
    } else if (red == SR_AMAX || red == SR_AMIN) {
        ct_tensor *value = ct_gather(res, dim, idx, false);
        ct_tensor *sm = value ? eq_mask(self, res) : NULL, *cm = sm ? eq_mask(src, value) : NULL;
        ct_tensor *sf = as_dtype(sm, dt), *cf = as_dtype(cm, dt);
        ct_tensor *N = sf && cf ? ct_scatter_add(sf, dim, idx, cf) : NULL;
        ct_tensor *gd = N ? ct_div(g[0], N, NULL) : NULL;
        gs = gd && need0 ? ct_mul(sf, gd) : NULL;
        if (gd && need1) {
            ct_tensor *t = ct_gather(gd, dim, idx, false);
            gsrc = t ? ct_mul(cf, t) : NULL;
            ct_tensor_release(t);
        }
        bool ok = gd != NULL;
        ct_tensor_release(value), ct_tensor_release(sm), ct_tensor_release(cm), ct_tensor_release(sf);
        ct_tensor_release(cf), ct_tensor_release(N), ct_tensor_release(gd);
        if (!ok) goto done;
    } else { /* prod */
        if (need0) {
            ct_tensor *z = eq_mask(self, NULL);
            ct_tensor *ms = z ? ct_masked_fill_Scalar(self, z, ct_scalar_i(1)) : NULL;
            ct_tensor *msr = ms ? ct_scatter_reduce_two(ms, dim, idx, src, "prod", inc) : NULL;
            ct_tensor *t = msr ? ct_mul(g[0], msr) : NULL;
            gs = t ? ct_div(t, ms, NULL) : NULL;
            ct_tensor_release(z), ct_tensor_release(ms), ct_tensor_release(msr), ct_tensor_release(t);
            if (!gs) goto done;
        }
        if (need1) {
            ct_tensor *sz = eq_mask(src, NULL), *single = NULL, *msrc = NULL, *msres = NULL, *a = NULL, *b = NULL;
            if (!sz) goto done;
            { /* how many zeros of src land on each position; single zero: the product of the others */
                bool prev = ct_set_grad_enabled(false);
                ct_tensor *zs = zeros_of(self->sizes, self->ndim, dt), *szf = as_dtype(sz, dt);
                ct_tensor *cnt = zs && szf ? ct_scatter_add(zs, dim, idx, szf) : NULL;
                ct_tensor *back = cnt ? ct_gather(cnt, dim, idx, false) : NULL;
                ct_set_grad_enabled(prev);
                if (back) {
                    ct_tensor *bc = ct_contig_as(back, CT_FLOAT64);
                    single = bc ? ct_empty(sz->sizes, sz->ndim, CT_BOOL) : NULL;
                    if (single) {
                        const double *c = ct_tensor_data(bc);
                        const uint8_t *zz = ct_tensor_data(sz);
                        uint8_t *o = ct_tensor_data(single);
                        for (int64_t i = 0; i < single->numel; i++) o[i] = zz[i] && c[i] == 1.0;
                    }
                    ct_tensor_release(bc);
                }
                ct_tensor_release(zs), ct_tensor_release(szf), ct_tensor_release(cnt), ct_tensor_release(back);
            }
            msrc = single ? ct_masked_fill_Scalar(src, single, ct_scalar_i(1)) : NULL;
            msres = msrc ? ct_scatter_reduce_two(self, dim, idx, msrc, "prod", inc) : NULL;
            if (msres) {
                ct_tensor *t = ct_mul(g[0], msres);
                a = t ? ct_gather(t, dim, idx, false) : NULL;
                ct_tensor_release(t);
                t = a ? ct_mul(g[0], res) : NULL;
                ct_tensor *t2 = t ? ct_gather(t, dim, idx, false) : NULL;
                ct_tensor *den = t2 ? ct_masked_fill_Scalar(src, sz, ct_scalar_i(1)) : NULL;
                b = den ? ct_div(t2, den, NULL) : NULL;
                ct_tensor_release(t), ct_tensor_release(t2), ct_tensor_release(den);
            }
            gsrc = a && b ? select_where(single, a, b) : (ct_tensor_release(a), ct_tensor_release(b), NULL);
            ct_tensor_release(sz), ct_tensor_release(single), ct_tensor_release(msrc), ct_tensor_release(msres);
            if (!gsrc) goto done;
        }
    }
    if (need0) {
        if (!gs) goto done;
        if (!inc) {
            ct_tensor *t = ct_scatter_value(gs, dim, idx, ct_scalar_i(0));
            ct_tensor_release(gs);
            gs = t;
        }
        ct_tensor *t = gs;
        gs = NULL;
        if (put(n, gi, 0, t)) goto done;
    }
    if (need1) {
        ct_tensor *t = gsrc;
        gsrc = NULL;
        if (pad_put(n, gi, 1, t)) goto done;
    }
    rc = 0;
done:
    ct_tensor_release(self), ct_tensor_release(src), ct_tensor_release(idx), ct_tensor_release(res);
    ct_tensor_release(gs), ct_tensor_release(gsrc);
    return rc;
}

int ctg_scatter_reduce_two(ct_tensor *result, ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *src,
                           const char *reduce, bool include_self) {
    ct_node *node;
    RECORD("ScatterReduceBackward0", scatter_reduce_backward, result, self, src);
    static const char *names[] = {"sum", "prod", "mean", "amax", "amin"};
    int red = -1;
    for (int i = 0; i < 5; i++)
        if (!strcmp(reduce, names[i])) red = i;
    if (red < 0) return ct_errorf(CT_ERR_RUNTIME, "[scatter_reduce] unknown reduce %s", reduce);
    node->iv[0] = dim;
    node->iv[1] = include_self;
    node->iv[2] = red;
    /* src beyond the index's extent takes no part: keep the part the index covers */
    ct_tensor *s = src;
    bool differs = false;
    for (int k = 0; k < src->ndim && k < index->ndim; k++) differs |= src->sizes[k] != index->sizes[k];
    if (differs) {
        ct_index_item items[CT_MAX_DIM];
        for (int k = 0; k < index->ndim; k++) items[k] = ct_index_slice(0, index->sizes[k], 1);
        s = ct_tensor_index(src, items, index->ndim); /* recorded: double backward reaches src */
        if (!s) return -1;
    } else {
        ct_tensor_retain(s);
    }
    /* prod/amax/amin read self in backward: keep a copy, as the in-place variant overwrites
     * self with the result (the copy is recorded, so double backward still reaches self) */
    ct_tensor *sc = NULL;
    if (red == SR_PROD || red == SR_AMAX || red == SR_AMIN) {
        sc = ct_clone(self);
        if (!sc) {
            ct_tensor_release(s);
            return -1;
        }
    }
    int rc = (sc && ct_node_save(node, 0, sc, -1)) || ct_node_save(node, 1, s, -1) ||
             ct_node_save(node, 2, index, -1) || ct_node_save(node, 3, result, 0);
    ct_tensor_release(s);
    ct_tensor_release(sc);
    return rc ? -1 : 0;
}

/* ------------------------------------------------------------------ index_select / add / copy / fill */

static int index_select_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *idx = ct_node_saved(n, 0);
    ct_tensor *z = idx ? zeros_meta(&n->in_meta[0], g[0]->dtype) : NULL;
    ct_tensor *r = z ? ct_index_add(z, n->iv[0], idx, g[0], ct_scalar_i(1)) : NULL;
    ct_tensor_release(z);
    ct_tensor_release(idx);
    return put(n, gi, 0, r);
}

int ctg_index_select(ct_tensor *result, ct_tensor *self, int64_t dim, ct_tensor *index) {
    ct_node *node;
    RECORD("IndexSelectBackward0", index_select_backward, result, self);
    node->iv[0] = dim;
    return ct_node_save(node, 0, index, -1);
}

/* index_add (iv[1] = 0) / index_copy (iv[1] = 1): inputs self, source; saved index; sc[0] alpha */
static int index_acc_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *idx = ct_node_saved(n, 0);
    if (!idx) return -1;
    int rc = -1;
    bool copy = n->iv[1] != 0;
    if (ct_node_needs_grad(n, 0)) {
        ct_tensor *r;
        if (copy) {
            r = ct_index_fill_int_Scalar(g[0], n->iv[0], idx, ct_scalar_i(0));
        } else {
            ct_tensor_retain(g[0]);
            r = g[0];
        }
        if (put(n, gi, 0, r)) goto done;
    }
    if (ct_node_needs_grad(n, 1)) {
        ct_tensor *r = ct_index_select(g[0], n->iv[0], idx);
        ct_scalar a = n->sc[0];
        bool one = a.kind == CT_SCALAR_FLOAT ? a.v.d == 1.0 : a.v.i == 1;
        if (r && !copy && !one) {
            ct_tensor *t = mul_scalar(r, a);
            ct_tensor_release(r);
            r = t;
        }
        if (fit(n, gi, 1, r)) goto done;
    }
    rc = 0;
done:
    ct_tensor_release(idx);
    return rc;
}

int ctg_index_add(ct_tensor *result, ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *source,
                  ct_scalar alpha) {
    ct_node *node;
    RECORD("IndexAddBackward0", index_acc_backward, result, self, source);
    node->iv[0] = dim;
    node->sc[0] = alpha;
    return ct_node_save(node, 0, index, -1);
}

int ctg_index_copy(ct_tensor *result, ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *source) {
    ct_node *node;
    RECORD("IndexCopyBackward0", index_acc_backward, result, self, source);
    node->iv[0] = dim;
    node->iv[1] = 1;
    node->sc[0] = ct_scalar_i(1);
    return ct_node_save(node, 0, index, -1);
}

/* inputs self[, value]; saved index */
static int index_fill_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *idx = ct_node_saved(n, 0);
    if (!idx) return -1;
    int rc = -1;
    if (ct_node_needs_grad(n, 0) && put(n, gi, 0, ct_index_fill_int_Scalar(g[0], n->iv[0], idx, ct_scalar_i(0))))
        goto done;
    if (n->n_inputs > 1 && ct_node_needs_grad(n, 1)) {
        /* sum of grad over the (distinct) filled positions */
        bool prev = ct_set_grad_enabled(false);
        ct_tensor *z = zeros_of(g[0]->sizes, g[0]->ndim, g[0]->dtype);
        ct_tensor *m = z ? ct_index_fill_int_Scalar(z, n->iv[0], idx, ct_scalar_i(1)) : NULL;
        ct_set_grad_enabled(prev);
        ct_tensor_release(z);
        ct_tensor *r = m ? ct_mul(g[0], m) : NULL;
        ct_tensor_release(m);
        if (put(n, gi, 1, r)) goto done;
    }
    rc = 0;
done:
    ct_tensor_release(idx);
    return rc;
}

int ctg_index_fill_int_Scalar(ct_tensor *result, ct_tensor *self, int64_t dim, ct_tensor *index, ct_scalar value) {
    (void)value;
    ct_node *node;
    RECORD("IndexFillBackward0", index_fill_backward, result, self);
    node->iv[0] = dim;
    return ct_node_save(node, 0, index, -1);
}

int ctg_index_fill_int_Tensor(ct_tensor *result, ct_tensor *self, int64_t dim, ct_tensor *index, ct_tensor *value) {
    ct_node *node;
    RECORD("IndexFillBackward1", index_fill_backward, result, self, value);
    node->iv[0] = dim;
    return ct_node_save(node, 0, index, -1);
}

/* ------------------------------------------------------------------ masked_* */

/* inputs self[, value]; saved mask */
static int masked_fill_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *mask = ct_node_saved(n, 0);
    if (!mask) return -1;
    int rc = -1;
    if (ct_node_needs_grad(n, 0) && put(n, gi, 0, ct_masked_fill_Scalar(g[0], mask, ct_scalar_i(0)))) goto done;
    if (n->n_inputs > 1 && ct_node_needs_grad(n, 1) && put(n, gi, 1, ct_masked_select(g[0], mask))) goto done;
    rc = 0;
done:
    ct_tensor_release(mask);
    return rc;
}

int ctg_masked_fill_Scalar(ct_tensor *result, ct_tensor *self, ct_tensor *mask, ct_scalar value) {
    (void)value;
    ct_node *node;
    RECORD("MaskedFillBackward0", masked_fill_backward, result, self);
    return ct_node_save(node, 0, mask, -1);
}

int ctg_masked_fill_Tensor(ct_tensor *result, ct_tensor *self, ct_tensor *mask, ct_tensor *value) {
    ct_node *node;
    RECORD("MaskedFillBackward1", masked_fill_backward, result, self, value);
    return ct_node_save(node, 0, mask, -1);
}

static int masked_select_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *mask = ct_node_saved(n, 0);
    if (!mask) return -1;
    const ct_input_meta *m = &n->in_meta[0];
    int64_t shape[CT_MAX_DIM];
    int nd = ct_broadcast_shapes(m->sizes, m->ndim, mask->sizes, mask->ndim, shape, "masked_select");
    ct_tensor *z = nd >= 0 ? zeros_of(shape, nd, g[0]->dtype) : NULL;
    ct_tensor *r = z ? ct_masked_scatter(z, mask, g[0]) : NULL;
    ct_tensor_release(z);
    ct_tensor_release(mask);
    return put(n, gi, 0, r);
}

int ctg_masked_select(ct_tensor *result, ct_tensor *self, ct_tensor *mask) {
    ct_node *node;
    RECORD("MaskedSelectBackward0", masked_select_backward, result, self);
    return ct_node_save(node, 0, mask, -1);
}

static int masked_scatter_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *mask = ct_node_saved(n, 0);
    if (!mask) return -1;
    int rc = -1;
    if (ct_node_needs_grad(n, 0) && put(n, gi, 0, ct_masked_fill_Scalar(g[0], mask, ct_scalar_i(0)))) goto done;
    if (ct_node_needs_grad(n, 1)) {
        /* the selected gradients fill source in order; the rest of source was unused */
        ct_tensor *sel = ct_masked_select(g[0], mask);
        if (!sel) goto done;
        int64_t total = meta_numel(&n->in_meta[1]);
        if (sel->numel != total) {
            ct_index_item it = ct_index_slice(0, sel->numel, 1);
            ct_tensor *z = zeros_of(&total, 1, g[0]->dtype);
            ct_tensor *p = z ? ct_index_put_items(z, &it, 1, sel, false, "IndexPutBackward0") : NULL;
            ct_tensor_release(z);
            ct_tensor_release(sel);
            sel = p;
        }
        if (fit(n, gi, 1, sel)) goto done;
    }
    rc = 0;
done:
    ct_tensor_release(mask);
    return rc;
}

int ctg_masked_scatter(ct_tensor *result, ct_tensor *self, ct_tensor *mask, ct_tensor *source) {
    ct_node *node;
    RECORD("MaskedScatterBackward0", masked_scatter_backward, result, self, source);
    return ct_node_save(node, 0, mask, -1);
}

/* ------------------------------------------------------------------ take / put / take_along_dim */

static int take_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *idx = ct_node_saved(n, 0);
    ct_tensor *z = idx ? zeros_meta(&n->in_meta[0], g[0]->dtype) : NULL;
    ct_tensor *r = z ? ct_put(z, idx, g[0], true) : NULL;
    ct_tensor_release(z);
    ct_tensor_release(idx);
    return put(n, gi, 0, r);
}

int ctg_take(ct_tensor *result, ct_tensor *self, ct_tensor *index) {
    ct_node *node;
    RECORD("TakeBackward0", take_backward, result, self);
    return ct_node_save(node, 0, index, -1);
}

static int put_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *idx = ct_node_saved(n, 0);
    if (!idx) return -1;
    int rc = -1;
    if (ct_node_needs_grad(n, 0)) {
        ct_tensor *r;
        if (n->iv[0]) {
            ct_tensor_retain(g[0]);
            r = g[0];
        } else {
            ct_tensor *z = zeros_meta(&n->in_meta[1], g[0]->dtype);
            r = z ? ct_put(g[0], idx, z, false) : NULL;
            ct_tensor_release(z);
        }
        if (put(n, gi, 0, r)) goto done;
    }
    if (ct_node_needs_grad(n, 1) && fit(n, gi, 1, ct_take(g[0], idx))) goto done;
    rc = 0;
done:
    ct_tensor_release(idx);
    return rc;
}

int ctg_put(ct_tensor *result, ct_tensor *self, ct_tensor *index, ct_tensor *source, bool accumulate) {
    ct_node *node;
    RECORD("PutBackward0", put_backward, result, self, source);
    node->iv[0] = accumulate;
    return ct_node_save(node, 0, index, -1);
}

/* iv[1]: 0 flat (dim=None), 1 along dim iv[0] with the saved broadcast index */
static int take_along_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *idx = ct_node_saved(n, 0);
    if (!idx) return -1;
    const ct_input_meta *m = &n->in_meta[0];
    ct_tensor *r = NULL;
    if (n->iv[1] == 0) {
        int64_t total = meta_numel(m), k = g[0]->numel;
        ct_tensor *z = zeros_of(&total, 1, g[0]->dtype);
        ct_tensor *gf = z ? ct_reshape(g[0], (ct_intlist){&k, 1}) : NULL;
        ct_tensor *i1 = gf ? ct_reshape(idx, (ct_intlist){&k, 1}) : NULL;
        ct_tensor *s = i1 ? ct_scatter_add(z, 0, i1, gf) : NULL;
        r = s ? ct_reshape(s, (ct_intlist){m->sizes, m->ndim}) : NULL;
        ct_tensor_release(z), ct_tensor_release(gf), ct_tensor_release(i1), ct_tensor_release(s);
    } else {
        int64_t bs[CT_MAX_DIM];
        int d = (int)n->iv[0];
        memcpy(bs, idx->sizes, sizeof(int64_t) * (size_t)idx->ndim);
        if (idx->ndim) bs[d] = m->sizes[d];
        ct_tensor *z = zeros_of(bs, idx->ndim, g[0]->dtype);
        r = z ? ct_scatter_add(z, d, idx, g[0]) : NULL;
        ct_tensor_release(z);
    }
    ct_tensor_release(idx);
    return put(n, gi, 0, r);
}

int ctg_take_along_dim(ct_tensor *result, ct_tensor *self, ct_tensor *indices, const int64_t *dim) {
    ct_node *node;
    RECORD("GatherBackward0", take_along_backward, result, self);
    if (!dim) return ct_node_save(node, 0, indices, -1);
    int d = ct_wrap_dim(*dim, self->ndim, "take_along_dim");
    if (d < 0) return -1;
    node->iv[0] = d;
    node->iv[1] = 1;
    if (self->ndim == 0) return ct_node_save(node, 0, indices, -1);
    int64_t bs[CT_MAX_DIM];
    int nd = 0;
    ct_tensor *ib = ct_ix_take_along_index(self, indices, d, bs, &nd);
    if (!ib) return -1;
    int rc = ct_node_save(node, 0, ib, -1);
    ct_tensor_release(ib);
    return rc;
}
