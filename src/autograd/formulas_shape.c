/* Backward formulas of the shape family: views (squeeze/unsqueeze, permute/transpose,
 * expand, narrow/select/split, diagonal, as_strided), copies (cat/stack, repeat, flip, roll,
 * diag/diag_embed, tril/triu, repeat_interleave) and dtype conversions.
 *
 * Gradients of views that pick part of the input (narrow, select, diagonal, as_strided) are
 * "embedded" back into zeros of the input's shape by embed(), which is itself recorded (its
 * backward applies the view again), so double backward works through them. */
#include <stdlib.h>
#include <string.h>

#include "autograd_internal.h"

/* ------------------------------------------------------------------ helpers */

static int put(ct_node *n, ct_tensor **grad_in, int i, ct_tensor *r) {
    if (!r) return -1;
    ct_tensor *s = ct_sum_to_meta(r, &n->in_meta[i]);
    ct_tensor_release(r);
    if (!s) return -1;
    grad_in[i] = s;
    return 0;
}

static bool floating(const ct_tensor *t) { return ct_dtype_is_floating(t->dtype); }

#define RECORD(NAME, FN, OUT, ...)                                                                   \
    do {                                                                                             \
        ct_tensor *ins_[] = {__VA_ARGS__};                                                           \
        int nin_ = (int)(sizeof ins_ / sizeof ins_[0]);                                              \
        if (!ct_autograd_should_record(nin_, ins_) || !ct_dtype_is_floating((OUT)->dtype)) return 0; \
        for (int k_ = 0; k_ < nin_; k_++)                                                            \
            if (ins_[k_] == (OUT)) return 0; /* the input itself came back: nothing to record */     \
        node = ct_autograd_record(NAME, FN, OUT, nin_, ins_);                                        \
        if (!node) return -1;                                                                        \
    } while (0)

static void free_payload(ct_node *n) {
    free(n->payload);
    n->payload = NULL;
}

/* Copy of an int list kept on the node (payload[0] = count, then the values). */
static int64_t *keep_ints(ct_node *n, const int64_t *a, int64_t na, const int64_t *b, int64_t nb) {
    if (na < 0) na = 0;
    if (nb < 0) nb = 0;
    int64_t *p = malloc(sizeof(int64_t) * (size_t)(2 + na + nb));
    if (!p) {
        ct_error(CT_ERR_MEMORY, "[autograd] out of memory");
        return NULL;
    }
    p[0] = na;
    p[1] = nb;
    if (na) memcpy(p + 2, a, sizeof(int64_t) * (size_t)na);
    if (nb) memcpy(p + 2 + na, b, sizeof(int64_t) * (size_t)nb);
    n->payload = p;
    n->destroy = free_payload;
    return p;
}
static ct_intlist kept_a(const ct_node *n) {
    const int64_t *p = n->payload;
    return (ct_intlist){p + 2, p[0]};
}
static ct_intlist kept_b(const ct_node *n) {
    const int64_t *p = n->payload;
    return (ct_intlist){p + 2 + p[0], p[1]};
}

static ct_intlist meta_sizes(const ct_node *n, int i) { return (ct_intlist){n->in_meta[i].sizes, n->in_meta[i].ndim}; }

static ct_tensor *zeros_of(const ct_input_meta *m, int dtype) {
    return ct_zeros((ct_intlist){m->sizes, m->ndim}, dtype, -1);
}

/* Sum of t over dim d keeping it (size 1). */
static ct_tensor *sum_keep(ct_tensor *t, int d) {
    ct_input_meta m = {0};
    m.ndim = (int8_t)t->ndim;
    m.dtype = t->dtype;
    for (int i = 0; i < t->ndim; i++) m.sizes[i] = i == d ? 1 : t->sizes[i];
    return ct_sum_to_meta(t, &m);
}

static int wrap(int64_t d, int nd) {
    if (nd <= 0) nd = 1;
    return (int)(d < 0 ? d + nd : d);
}

/* ------------------------------------------------------------------ embed (view adjoint) */

enum { EMB_NARROW, EMB_SELECT, EMB_DIAGONAL, EMB_STRIDED };

/* Apply the view described by p (kind, a, b, c; strided: size/stride lists in pl) to t. */
static ct_tensor *apply_view(ct_tensor *t, const int64_t *p, const int64_t *pl) {
    switch ((int)p[0]) {
    case EMB_NARROW: return ct_narrow(t, p[1], p[2], p[3]);
    case EMB_SELECT: return ct_select(t, p[1], p[2]);
    case EMB_DIAGONAL: return ct_diagonal(t, p[1], p[2], p[3]);
    default: {
        ct_tensor *c = ct_contiguous(t);
        if (!c) return NULL;
        int64_t off = p[1];
        ct_tensor *r = ct_as_strided(c, (ct_intlist){pl + 2, pl[0]}, (ct_intlist){pl + 2 + pl[0], pl[0]}, &off);
        ct_tensor_release(c);
        return r;
    }
    }
}

static int embed_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    return put(n, gi, 0, apply_view(g[0], n->iv, n->payload));
}

/* Zeros shaped like `m` (strided: a flat buffer of p[2] elements) with g written into the
 * view p of it (strided: accumulated, views may overlap). Recorded when g requires grad. */
static ct_tensor *embed(ct_tensor *g, const ct_input_meta *m, const int64_t *p, const int64_t *pl) {
    bool prev = ct_set_grad_enabled(false);
    ct_tensor *z = NULL;
    if (p[0] != EMB_STRIDED) {
        z = zeros_of(m, g->dtype);
        ct_tensor *v = z ? apply_view(z, p, pl) : NULL;
        int rc = v ? ct_copy_into(v, g) : -1;
        ct_tensor_release(v);
        if (rc) {
            ct_tensor_release(z);
            z = NULL;
        }
    } else {
        /* scatter-add in float64 over the strided positions, then cast back */
        int64_t len = p[2];
        ct_tensor *acc = ct_zeros((ct_intlist){&len, 1}, CT_FLOAT64, -1);
        ct_tensor *gd = acc ? ct_to_dtype(g, CT_FLOAT64, true) : NULL;
        if (gd) {
            double *dst = ct_tensor_data(acc);
            const double *src = ct_tensor_data(gd);
            int nd = (int)pl[0];
            const int64_t *sz = pl + 2, *st = pl + 2 + pl[0];
            int64_t idx[CT_MAX_DIM] = {0};
            for (int64_t e = 0; e < gd->numel; e++) {
                int64_t pos = p[1];
                for (int k = 0; k < nd; k++) pos += idx[k] * st[k];
                dst[pos] += src[e];
                for (int k = nd - 1; k >= 0; k--) {
                    if (++idx[k] < sz[k]) break;
                    idx[k] = 0;
                }
            }
            z = ct_to_dtype(acc, g->dtype, false);
        }
        ct_tensor_release(acc);
        ct_tensor_release(gd);
    }
    ct_set_grad_enabled(prev);
    if (!z) return NULL;
    if (ct_autograd_should_record(1, &g)) {
        ct_node *node = ct_autograd_record("EmbedBackward0", embed_backward, z, 1, &g);
        if (!node) goto fail;
        memcpy(node->iv, p, sizeof(int64_t) * 4);
        if (pl) {
            const int64_t *q = pl;
            if (!keep_ints(node, q + 2, q[0], q + 2 + q[0], q[1])) goto fail;
        }
    }
    return z;
fail:
    ct_tensor_release(z);
    return NULL;
}

/* Backward of a view op whose parameters are in n->iv (kind first). */
static int pick_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (n->iv[0] == EMB_STRIDED) {
        /* gradient of the storage, read back through the input's own geometry */
        const int64_t *q = n->payload;
        ct_tensor *buf = embed(g[0], NULL, n->iv, q);
        if (!buf) return -1;
        int64_t nd = n->iv[4];
        const int64_t *in_sz = q + 2 + q[0] + q[1] - 2 * nd, *in_st = in_sz + nd;
        int64_t off = n->iv[5];
        bool overlap = false;
        for (int64_t k = 0; k < nd; k++) overlap |= in_st[k] == 0 && in_sz[k] > 1;
        if (overlap) {
            /* an input reading a storage element several times gets its share: divide by the count */
            int64_t *pl = malloc(sizeof(int64_t) * (size_t)(2 + 2 * nd));
            if (!pl) {
                ct_tensor_release(buf);
                return ct_errorf(CT_ERR_MEMORY, "[autograd] out of memory");
            }
            pl[0] = pl[1] = nd;
            memcpy(pl + 2, in_sz, sizeof(int64_t) * (size_t)nd);
            memcpy(pl + 2 + nd, in_st, sizeof(int64_t) * (size_t)nd);
            int64_t p[4] = {EMB_STRIDED, off, n->iv[2], 0};
            ct_tensor *ones = ct_ones(meta_sizes(n, 0), g[0]->dtype, -1);
            bool prev = ct_set_grad_enabled(false);
            ct_tensor *cnt = ones ? embed(ones, NULL, p, pl) : NULL;
            ct_set_grad_enabled(prev);
            ct_tensor_release(ones);
            free(pl);
            ct_tensor *q = cnt ? ct_div(buf, cnt, NULL) : NULL;
            ct_tensor_release(cnt);
            ct_tensor_release(buf);
            if (!q) return -1;
            buf = q;
        }
        ct_tensor *r = ct_as_strided(buf, meta_sizes(n, 0), (ct_intlist){in_st, nd}, &off);
        ct_tensor_release(buf);
        if (!r) return -1;
        ct_tensor *c = ct_contiguous(r);
        ct_tensor_release(r);
        return put(n, gi, 0, c);
    }
    return put(n, gi, 0, embed(g[0], &n->in_meta[0], n->iv, NULL));
}

/* ------------------------------------------------------------------ reshaping views */

static int reshape_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    return put(n, gi, 0, ct_reshape(g[0], meta_sizes(n, 0)));
}

static int reshape_like(ct_tensor *result, ct_tensor *self, const char *name) {
    ct_node *node;
    RECORD(name, reshape_backward, result, self);
    (void)node;
    ct_autograd_mark_view(result, self);
    return 0;
}

int ctg_squeeze(ct_tensor *result, ct_tensor *self) { return reshape_like(result, self, "SqueezeBackward0"); }
int ctg_squeeze_dim(ct_tensor *result, ct_tensor *self, int64_t dim) {
    (void)dim;
    return reshape_like(result, self, "SqueezeBackward1");
}
int ctg_squeeze_dims(ct_tensor *result, ct_tensor *self, ct_intlist dim) {
    (void)dim;
    return reshape_like(result, self, "SqueezeBackward2");
}
/* torch's formula is grad.squeeze(dim): under create_graph it records SqueezeBackward1 */
static int unsqueeze_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    return put(n, gi, 0, ct_squeeze_dim(g[0], n->iv[0]));
}

int ctg_unsqueeze(ct_tensor *result, ct_tensor *self, int64_t dim) {
    ct_node *node;
    RECORD("UnsqueezeBackward0", unsqueeze_backward, result, self);
    node->iv[0] = dim;
    ct_autograd_mark_view(result, self);
    return 0;
}
int ctg_unflatten(ct_tensor *result, ct_tensor *self, int64_t dim, ct_intlist sizes) {
    (void)dim;
    (void)sizes;
    return reshape_like(result, self, "ViewBackward0");
}
int ctg_flatten(ct_tensor *result, ct_tensor *self, int64_t start_dim, int64_t end_dim) {
    (void)start_dim;
    (void)end_dim;
    return reshape_like(result, self, result->storage == self->storage ? "ViewBackward0" : "UnsafeViewBackward0");
}
/* atleast_Nd returns self itself when it has enough dims (nothing to record) */
static int atleast_like(ct_tensor *result, ct_tensor *self) {
    return result == self ? 0 : reshape_like(result, self, "UnsqueezeBackward0");
}
int ctg_atleast_1d(ct_tensor *result, ct_tensor *self) {
    return result == self ? 0 : reshape_like(result, self, "ViewBackward0");
}
int ctg_atleast_2d(ct_tensor *result, ct_tensor *self) { return atleast_like(result, self); }
int ctg_atleast_3d(ct_tensor *result, ct_tensor *self) { return atleast_like(result, self); }

/* ------------------------------------------------------------------ permutations */

static int permute_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_intlist p = kept_a(n);
    int64_t inv[CT_MAX_DIM];
    for (int64_t i = 0; i < p.n; i++) inv[wrap(p.data[i], (int)p.n)] = i;
    return put(n, gi, 0, ct_permute(g[0], (ct_intlist){inv, p.n}));
}

int ctg_permute(ct_tensor *result, ct_tensor *self, ct_intlist dims) {
    ct_node *node;
    RECORD("PermuteBackward0", permute_backward, result, self);
    if (!keep_ints(node, dims.data, dims.n, NULL, 0)) return -1;
    ct_autograd_mark_view(result, self);
    return 0;
}

static int movedim_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    return put(n, gi, 0, ct_movedim(g[0], kept_b(n), kept_a(n)));
}

static int movedim_rec(ct_tensor *result, ct_tensor *self, ct_intlist src, ct_intlist dst) {
    ct_node *node;
    RECORD("PermuteBackward0", movedim_backward, result, self);
    if (!keep_ints(node, src.data, src.n, dst.data, dst.n)) return -1;
    ct_autograd_mark_view(result, self);
    return 0;
}
int ctg_movedim(ct_tensor *result, ct_tensor *self, ct_intlist source, ct_intlist destination) {
    return movedim_rec(result, self, source, destination);
}
int ctg_moveaxis(ct_tensor *result, ct_tensor *self, ct_intlist source, ct_intlist destination) {
    return movedim_rec(result, self, source, destination);
}
int ctg_movedim_int(ct_tensor *result, ct_tensor *self, int64_t source, int64_t destination) {
    return movedim_rec(result, self, (ct_intlist){&source, 1}, (ct_intlist){&destination, 1});
}
int ctg_moveaxis_int(ct_tensor *result, ct_tensor *self, int64_t source, int64_t destination) {
    return movedim_rec(result, self, (ct_intlist){&source, 1}, (ct_intlist){&destination, 1});
}

static int transpose_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (n->in_meta[0].ndim < 2) {
        ct_tensor_retain(g[0]);
        return put(n, gi, 0, g[0]);
    }
    return put(n, gi, 0, ct_transpose(g[0], n->iv[0], n->iv[1]));
}

static int transpose_rec(ct_tensor *result, ct_tensor *self, int64_t d0, int64_t d1, const char *name) {
    ct_node *node;
    RECORD(name, transpose_backward, result, self);
    node->iv[0] = d0;
    node->iv[1] = d1;
    ct_autograd_mark_view(result, self);
    return 0;
}
int ctg_transpose(ct_tensor *result, ct_tensor *self, int64_t dim0, int64_t dim1) {
    return transpose_rec(result, self, dim0, dim1, "TransposeBackward0");
}
int ctg_swapaxes(ct_tensor *result, ct_tensor *self, int64_t axis0, int64_t axis1) {
    return transpose_rec(result, self, axis0, axis1, "TransposeBackward0");
}
int ctg_swapdims(ct_tensor *result, ct_tensor *self, int64_t dim0, int64_t dim1) {
    return transpose_rec(result, self, dim0, dim1, "TransposeBackward0");
}
int ctg_adjoint(ct_tensor *result, ct_tensor *self) { return transpose_rec(result, self, -2, -1, "TransposeBackward0"); }
int ctg_t(ct_tensor *result, ct_tensor *self) { return transpose_rec(result, self, 0, 1, "TBackward0"); }

/* ------------------------------------------------------------------ expand */

static int expand_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor_retain(g[0]);
    return put(n, gi, 0, g[0]); /* put sums to the input's shape */
}

static int expand_rec(ct_tensor *result, ct_tensor *self) {
    ct_node *node;
    RECORD("ExpandBackward0", expand_backward, result, self);
    (void)node;
    ct_autograd_mark_view(result, self);
    return 0;
}
int ctg_expand(ct_tensor *result, ct_tensor *self, ct_intlist size, bool implicit) {
    (void)size;
    (void)implicit;
    return expand_rec(result, self);
}
int ctg_expand_as(ct_tensor *result, ct_tensor *self, ct_tensor *other) {
    (void)other;
    return expand_rec(result, self);
}
int ctg_broadcast_to(ct_tensor *result, ct_tensor *self, ct_intlist size) {
    (void)size;
    return expand_rec(result, self);
}

/* ------------------------------------------------------------------ narrow / select / diagonal */

static int pick_rec(ct_tensor *result, ct_tensor *self, const char *name, int kind, int64_t a, int64_t b, int64_t c) {
    ct_node *node;
    RECORD(name, pick_backward, result, self);
    node->iv[0] = kind;
    node->iv[1] = a;
    node->iv[2] = b;
    node->iv[3] = c;
    ct_autograd_mark_view(result, self);
    return 0;
}

int ctg_narrow(ct_tensor *result, ct_tensor *self, int64_t dim, int64_t start, int64_t length) {
    int d = wrap(dim, self->ndim);
    if (start < 0) start += self->sizes[d];
    return pick_rec(result, self, "SliceBackward0", EMB_NARROW, d, start, length);
}

int ctg_select(ct_tensor *result, ct_tensor *self, int64_t dim, int64_t index) {
    int d = wrap(dim, self->ndim);
    if (index < 0) index += self->sizes[d];
    return pick_rec(result, self, "SelectBackward0", EMB_SELECT, d, index, 0);
}

int ctg_diagonal(ct_tensor *result, ct_tensor *self, int64_t offset, int64_t dim1, int64_t dim2) {
    return pick_rec(result, self, "DiagonalBackward0", EMB_DIAGONAL, offset, wrap(dim1, self->ndim),
                    wrap(dim2, self->ndim));
}

int ctg_as_strided(ct_tensor *result, ct_tensor *self, ct_intlist size, ct_intlist stride,
                   const int64_t *storage_offset) {
    (void)size;
    (void)stride;
    (void)storage_offset;
    ct_node *node;
    RECORD("AsStridedBackward0", pick_backward, result, self);
    /* payload: out sizes + strides (as a) then input sizes + strides (as b); positions are
     * relative to the smallest storage index either geometry touches */
    int nd = result->ndim, ni = self->ndim;
    int64_t lo = result->offset < self->offset ? result->offset : self->offset, hi = 0;
    int64_t ab[4 * CT_MAX_DIM];
    bool empty = result->numel == 0 || self->numel == 0;
    int64_t e1 = result->offset, e2 = self->offset;
    for (int i = 0; i < nd; i++) e1 += (result->sizes[i] - 1) * result->strides[i];
    for (int i = 0; i < ni; i++) e2 += (self->sizes[i] - 1) * self->strides[i];
    hi = e1 > e2 ? e1 : e2;
    for (int i = 0; i < nd; i++) ab[i] = result->sizes[i], ab[nd + i] = result->strides[i];
    for (int i = 0; i < ni; i++) ab[2 * nd + i] = self->sizes[i], ab[2 * nd + ni + i] = self->strides[i];
    /* a: out sizes (nd); b: out strides (nd) + input sizes + strides */
    if (!keep_ints(node, ab, nd, ab + nd, nd + 2 * ni)) return -1;
    node->iv[0] = EMB_STRIDED;
    node->iv[1] = result->offset - lo;
    node->iv[2] = empty ? 0 : hi - lo + 1;
    node->iv[3] = 0;
    node->iv[4] = ni;
    node->iv[5] = self->offset - lo;
    ct_autograd_mark_view(result, self);
    return 0;
}

/* ------------------------------------------------------------------ unbind / split */

/* Gradient pieces (NULL -> zeros of that output's size along d). */
static int pieces_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi, bool stack) {
    int d = (int)n->iv[0];
    int no = n->n_outputs;
    const int64_t *lens = n->payload ? kept_a(n).data : NULL;
    ct_tensor *ref = NULL;
    for (int i = 0; i < no && !ref; i++) ref = g[i];
    ct_tensor **v = calloc((size_t)(no > 0 ? no : 1), sizeof(ct_tensor *));
    if (!v) return ct_errorf(CT_ERR_MEMORY, "[autograd] out of memory");
    int rc = -1;
    for (int i = 0; i < no; i++) {
        if (g[i]) {
            ct_tensor_retain(g[i]);
            v[i] = g[i];
            continue;
        }
        ct_input_meta m = n->in_meta[0];
        if (stack) {
            for (int k = d; k < m.ndim - 1; k++) m.sizes[k] = m.sizes[k + 1];
            m.ndim--;
        } else {
            m.sizes[d] = lens[i];
        }
        v[i] = zeros_of(&m, ref->dtype);
        if (!v[i]) goto done;
    }
    ct_tensor *r = stack ? ct_stack((ct_tensorlist){v, no}, d) : ct_cat((ct_tensorlist){v, no}, d);
    rc = put(n, gi, 0, r);
done:
    for (int i = 0; i < no; i++) ct_tensor_release(v[i]);
    free(v);
    return rc;
}
static int unbind_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) { return pieces_backward(n, g, gi, true); }
static int split_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) { return pieces_backward(n, g, gi, false); }

/* One node for all outputs (unbind, split, chunk, split_with_sizes). */
static int pieces_rec(ct_tensorvec *r, ct_tensor *self, int64_t dim, const char *name, bool stack) {
    if (!ct_autograd_should_record(1, &self) || !floating(self) || r->n == 0) return 0;
    int d = wrap(dim, self->ndim);
    ct_node *node = ct_node_new(name, stack ? unbind_backward : split_backward, 1, &self, (int)r->n);
    if (!node) return -1;
    node->iv[0] = d;
    int rc = 0;
    if (!stack) {
        int64_t *lens = malloc(sizeof(int64_t) * (size_t)r->n);
        if (!lens) rc = ct_errorf(CT_ERR_MEMORY, "[autograd] out of memory");
        for (int64_t i = 0; !rc && i < r->n; i++) lens[i] = r->data[i]->sizes[d];
        if (!rc && !keep_ints(node, lens, r->n, NULL, 0)) rc = -1;
        free(lens);
    }
    for (int64_t i = 0; !rc && i < r->n; i++) {
        rc = ct_node_set_output(node, r->data[i], (int)i);
        if (!rc) ct_autograd_mark_view(r->data[i], self);
    }
    ct_node_release(node);
    return rc;
}

int ctg_unbind(ct_tensorvec *result, ct_tensor *self, int64_t dim) {
    return pieces_rec(result, self, dim, "UnbindBackward0", true);
}
int ctg_split(ct_tensorvec *result, ct_tensor *self, int64_t split_size_or_sections, int64_t dim) {
    (void)split_size_or_sections;
    return pieces_rec(result, self, dim, "SplitBackward0", false);
}
int ctg_chunk(ct_tensorvec *result, ct_tensor *self, int64_t chunks, int64_t dim) {
    (void)chunks;
    return pieces_rec(result, self, dim, "SplitBackward0", false);
}
int ctg_split_sizes(ct_tensorvec *result, ct_tensor *self, ct_intlist split_size_or_sections, int64_t dim) {
    (void)split_size_or_sections;
    return pieces_rec(result, self, dim, "SplitWithSizesBackward0", false);
}
int ctg_split_with_sizes(ct_tensorvec *result, ct_tensor *self, ct_intlist split_sizes, int64_t dim) {
    (void)split_sizes;
    return pieces_rec(result, self, dim, "SplitWithSizesBackward0", false);
}

/* One SliceBackward0 node per piece (tensor_split, hsplit, vsplit, dsplit). */
static int slices_rec(ct_tensorvec *r, ct_tensor *self, int d) {
    if (!ct_autograd_should_record(1, &self) || !floating(self)) return 0;
    int64_t start = 0;
    for (int64_t i = 0; i < r->n; i++) {
        ct_tensor *p = r->data[i];
        int64_t len = p->sizes[d];
        int64_t st = start;
        if (self->strides[d] != 0 && len > 0) st = (p->offset - self->offset) / self->strides[d];
        if (st + len > self->sizes[d]) st = self->sizes[d] - len;
        if (pick_rec(p, self, "SliceBackward0", EMB_NARROW, d, st, len)) return -1;
        start = st + len;
    }
    return 0;
}
static int split_dim(const ct_tensor *self, int which) {
    if (which == 1) return self->ndim == 1 ? 0 : 1;
    return which;
}
int ctg_tensor_split(ct_tensorvec *result, ct_tensor *self, int64_t sections, int64_t dim) {
    (void)sections;
    return slices_rec(result, self, wrap(dim, self->ndim));
}
int ctg_tensor_split_indices(ct_tensorvec *result, ct_tensor *self, ct_intlist indices, int64_t dim) {
    (void)indices;
    return slices_rec(result, self, wrap(dim, self->ndim));
}
int ctg_hsplit(ct_tensorvec *result, ct_tensor *self, int64_t sections) {
    (void)sections;
    return slices_rec(result, self, split_dim(self, 1));
}
int ctg_hsplit_array(ct_tensorvec *result, ct_tensor *self, ct_intlist indices) {
    (void)indices;
    return slices_rec(result, self, split_dim(self, 1));
}
int ctg_vsplit(ct_tensorvec *result, ct_tensor *self, int64_t sections) {
    (void)sections;
    return slices_rec(result, self, 0);
}
int ctg_vsplit_array(ct_tensorvec *result, ct_tensor *self, ct_intlist indices) {
    (void)indices;
    return slices_rec(result, self, 0);
}
int ctg_dsplit(ct_tensorvec *result, ct_tensor *self, int64_t sections) {
    (void)sections;
    return slices_rec(result, self, 2);
}
int ctg_dsplit_array(ct_tensorvec *result, ct_tensor *self, ct_intlist indices) {
    (void)indices;
    return slices_rec(result, self, 2);
}

/* ------------------------------------------------------------------ cat / stack */

static int cat_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    int d = (int)n->iv[0];
    int64_t start = 0;
    for (int i = 0; i < n->n_inputs; i++) {
        const ct_input_meta *m = &n->in_meta[i];
        bool legacy = m->ndim == 1 && m->sizes[0] == 0 && g[0]->ndim != 1;
        int64_t len = legacy ? 0 : m->sizes[d];
        if (ct_node_needs_grad(n, i)) {
            ct_tensor *r = legacy ? zeros_of(m, g[0]->dtype) : ct_narrow(g[0], d, start, len);
            if (put(n, gi, i, r)) return -1;
        }
        start += len;
    }
    return 0;
}

int ctg_cat(ct_tensor *result, ct_tensorlist tensors, int64_t dim) {
    if (!ct_autograd_should_record((int)tensors.n, tensors.data) || !floating(result)) return 0;
    ct_node *node = ct_autograd_record("CatBackward0", cat_backward, result, (int)tensors.n, tensors.data);
    if (!node) return -1;
    node->iv[0] = wrap(dim, result->ndim);
    return 0;
}
int ctg_concat(ct_tensor *result, ct_tensorlist tensors, int64_t dim) { return ctg_cat(result, tensors, dim); }
int ctg_concatenate(ct_tensor *result, ct_tensorlist tensors, int64_t axis) { return ctg_cat(result, tensors, axis); }

static int stack_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    for (int i = 0; i < n->n_inputs; i++)
        if (ct_node_needs_grad(n, i) && put(n, gi, i, ct_select(g[0], n->iv[0], i))) return -1;
    return 0;
}

int ctg_stack(ct_tensor *result, ct_tensorlist tensors, int64_t dim) {
    if (!ct_autograd_should_record((int)tensors.n, tensors.data) || !floating(result)) return 0;
    ct_node *node = ct_autograd_record("StackBackward0", stack_backward, result, (int)tensors.n, tensors.data);
    if (!node) return -1;
    node->iv[0] = wrap(dim, result->ndim);
    return 0;
}

/* ------------------------------------------------------------------ repeat */

static int repeat_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_intlist rep = kept_a(n);
    int nr = (int)rep.n, lead = nr - n->in_meta[0].ndim;
    if (g[0]->numel == 0) return put(n, gi, 0, zeros_of(&n->in_meta[0], g[0]->dtype));
    /* g seen as (r0, s0, r1, s1, ...) summed over the r axes (size 1 ones skipped) */
    int64_t sh[2 * CT_MAX_DIM];
    ct_input_meta m = {0};
    int k = 0;
    for (int i = 0; i < nr; i++) {
        int64_t s = i < lead ? 1 : n->in_meta[0].sizes[i - lead];
        if (rep.data[i] != 1) {
            sh[k] = rep.data[i];
            m.sizes[k] = 1;
            k++;
        }
        sh[k] = s;
        m.sizes[k] = s;
        k++;
    }
    if (k > CT_MAX_DIM) return ct_errorf(CT_ERR_RUNTIME, "[repeat] backward: too many dimensions");
    m.ndim = (int8_t)k;
    m.dtype = g[0]->dtype;
    ct_tensor *v = ct_reshape(g[0], (ct_intlist){sh, k});
    if (!v) return -1;
    ct_tensor *s = ct_sum_to_meta(v, &m);
    ct_tensor_release(v);
    if (!s) return -1;
    ct_tensor *r = ct_reshape(s, meta_sizes(n, 0));
    ct_tensor_release(s);
    return put(n, gi, 0, r);
}

int ctg_repeat(ct_tensor *result, ct_tensor *self, ct_intlist repeats) {
    ct_node *node;
    RECORD("RepeatBackward0", repeat_backward, result, self);
    return keep_ints(node, repeats.data, repeats.n, NULL, 0) ? 0 : -1;
}

/* repeat_interleave: sums of consecutive segments of g along d (lengths kept). */
static int interleave_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_intlist reps = kept_a(n);
    bool flat = n->iv[1];
    int d = flat ? 0 : (int)n->iv[0];
    ct_tensor *gg = g[0];
    const ct_input_meta *im = &n->in_meta[0];
    int64_t size = 1;
    if (flat)
        for (int i = 0; i < im->ndim; i++) size *= im->sizes[i];
    else
        size = im->sizes[d];
    bool uniform = true;
    for (int64_t i = 1; i < reps.n; i++) uniform &= reps.data[i] == reps.data[0];
    ct_tensor *r = NULL;
    if (uniform && reps.n > 0 && reps.data[0] > 0) {
        int64_t sh[CT_MAX_DIM + 1];
        ct_input_meta m = {0};
        int k = 0;
        for (int i = 0; i < gg->ndim; i++) {
            if (i == d) {
                sh[k] = size, m.sizes[k++] = size;
                sh[k] = reps.data[0], m.sizes[k++] = 1;
            } else {
                sh[k] = gg->sizes[i], m.sizes[k++] = gg->sizes[i];
            }
        }
        m.ndim = (int8_t)k;
        m.dtype = gg->dtype;
        ct_tensor *v = ct_reshape(gg, (ct_intlist){sh, k});
        r = v ? ct_sum_to_meta(v, &m) : NULL;
        ct_tensor_release(v);
    } else {
        ct_tensor **parts = calloc((size_t)(size > 0 ? size : 1), sizeof(ct_tensor *));
        if (!parts) return ct_errorf(CT_ERR_MEMORY, "[autograd] out of memory");
        int64_t start = 0;
        bool ok = true;
        for (int64_t i = 0; ok && i < size; i++) {
            int64_t len = reps.n == 1 ? reps.data[0] : reps.data[i];
            ct_tensor *piece = ct_narrow(gg, d, start, len);
            parts[i] = piece ? sum_keep(piece, d) : NULL;
            ct_tensor_release(piece);
            ok = parts[i] != NULL;
            start += len;
        }
        if (ok) r = size > 0 ? ct_cat((ct_tensorlist){parts, size}, d) : NULL;
        if (ok && size == 0) {
            ct_input_meta m = *im;
            r = zeros_of(&m, gg->dtype);
        }
        for (int64_t i = 0; i < size; i++) ct_tensor_release(parts[i]);
        free(parts);
    }
    if (!r) return -1;
    ct_tensor *o = ct_reshape(r, meta_sizes(n, 0));
    ct_tensor_release(r);
    return put(n, gi, 0, o);
}

static int interleave_rec(ct_tensor *result, ct_tensor *self, const int64_t *reps, int64_t nrep, const int64_t *dim,
                          const char *name) {
    ct_node *node;
    RECORD(name, interleave_backward, result, self);
    node->iv[0] = dim ? wrap(*dim, self->ndim) : 0;
    node->iv[1] = dim == NULL || self->ndim == 0;
    return keep_ints(node, reps, nrep, NULL, 0) ? 0 : -1;
}

int ctg_repeat_interleave_self_int(ct_tensor *result, ct_tensor *self, int64_t repeats, const int64_t *dim,
                                   const int64_t *output_size) {
    (void)output_size;
    return interleave_rec(result, self, &repeats, 1, dim, "ViewBackward0");
}

int ctg_repeat_interleave_self_Tensor(ct_tensor *result, ct_tensor *self, ct_tensor *repeats, const int64_t *dim,
                                      const int64_t *output_size) {
    (void)output_size;
    if (!ct_autograd_should_record(1, &self) || !floating(result)) return 0;
    ct_tensor *r64 = ct_to_dtype(repeats, CT_INT64, true);
    if (!r64) return -1;
    ct_tensor *c = ct_contiguous(r64);
    ct_tensor_release(r64);
    if (!c) return -1;
    int rc = interleave_rec(result, self, ct_tensor_data(c), c->numel, dim, "IndexSelectBackward0");
    ct_tensor_release(c);
    return rc;
}

/* ------------------------------------------------------------------ flip / roll */

static int flip_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    return put(n, gi, 0, ct_flip(g[0], kept_a(n)));
}

int ctg_flip(ct_tensor *result, ct_tensor *self, ct_intlist dims) {
    ct_node *node;
    RECORD("FlipBackward0", flip_backward, result, self);
    return keep_ints(node, dims.data, dims.n, NULL, 0) ? 0 : -1;
}

static int roll_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_intlist s = kept_a(n), d = kept_b(n);
    int64_t neg[CT_MAX_DIM];
    for (int64_t i = 0; i < s.n && i < CT_MAX_DIM; i++) neg[i] = -s.data[i];
    return put(n, gi, 0, ct_roll(g[0], (ct_intlist){neg, s.n}, n->iv[0] ? CT_INTLIST_NONE : d));
}

int ctg_roll(ct_tensor *result, ct_tensor *self, ct_intlist shifts, ct_intlist dims) {
    ct_node *node;
    RECORD("RollBackward0", roll_backward, result, self);
    node->iv[0] = dims.n <= 0;
    return keep_ints(node, shifts.data, shifts.n, dims.data, dims.n) ? 0 : -1;
}

/* ------------------------------------------------------------------ diag / diag_embed / tril / triu */

static int diag_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (n->in_meta[0].ndim == 1) return put(n, gi, 0, ct_diagonal(g[0], n->iv[1], 0, 1));
    return put(n, gi, 0, embed(g[0], &n->in_meta[0], n->iv, NULL));
}

int ctg_diag(ct_tensor *result, ct_tensor *self, int64_t diagonal) {
    ct_node *node;
    RECORD(self->ndim == 1 ? "DiagEmbedBackward0" : "DiagonalBackward0_copy", diag_backward, result, self);
    node->iv[0] = EMB_DIAGONAL;
    node->iv[1] = diagonal;
    node->iv[2] = 0;
    node->iv[3] = 1;
    return 0;
}

static int diag_embed_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    return put(n, gi, 0, ct_diagonal(g[0], n->iv[0], n->iv[1], n->iv[2]));
}

int ctg_diag_embed(ct_tensor *result, ct_tensor *self, int64_t offset, int64_t dim1, int64_t dim2) {
    ct_node *node;
    RECORD("DiagEmbedBackward0", diag_embed_backward, result, self);
    node->iv[0] = offset;
    node->iv[1] = wrap(dim1, result->ndim);
    node->iv[2] = wrap(dim2, result->ndim);
    return 0;
}

static int tril_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    return put(n, gi, 0, n->iv[1] ? ct_tril(g[0], n->iv[0]) : ct_triu(g[0], n->iv[0]));
}

int ctg_tril(ct_tensor *result, ct_tensor *self, int64_t diagonal) {
    ct_node *node;
    RECORD("TrilBackward0", tril_backward, result, self);
    node->iv[0] = diagonal;
    node->iv[1] = 1;
    return 0;
}

int ctg_triu(ct_tensor *result, ct_tensor *self, int64_t diagonal) {
    ct_node *node;
    RECORD("TriuBackward0", tril_backward, result, self);
    node->iv[0] = diagonal;
    node->iv[1] = 0;
    return 0;
}

/* ------------------------------------------------------------------ meshgrid / broadcast */

static int meshgrid_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_input_meta m = {0};
    m.ndim = (int8_t)g[0]->ndim;
    m.dtype = g[0]->dtype;
    for (int i = 0; i < g[0]->ndim; i++) m.sizes[i] = i == n->iv[0] ? g[0]->sizes[i] : 1;
    ct_tensor *s = ct_sum_to_meta(g[0], &m);
    if (!s) return -1;
    ct_tensor *r = ct_reshape(s, meta_sizes(n, 0));
    ct_tensor_release(s);
    return put(n, gi, 0, r);
}

int ctg_meshgrid_piece(ct_tensor *out, ct_tensor *in, int axis);
int ctg_meshgrid_piece(ct_tensor *out, ct_tensor *in, int axis) {
    ct_node *node;
    RECORD("ExpandBackward0", meshgrid_backward, out, in);
    node->iv[0] = axis;
    ct_autograd_mark_view(out, in);
    return 0;
}
