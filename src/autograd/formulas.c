/* Backward formulas of the core ops (arithmetic, copies, views), written with ops so that
 * they are differentiable again under create_graph, plus the in-place protocol used by the
 * generated wrappers of `autograd=inplace` ops. Each op has a maker ctg_<op> (records the
 * node when an input requires grad) and a backward function. */
#include <stdlib.h>

#include "autograd_internal.h"

/* ------------------------------------------------------------------ helpers */

/* grad (borrowed) reduced to input i's shape and dtype; new reference. */
static ct_tensor *to_input(ct_node *n, int i, ct_tensor *grad) { return ct_sum_to_meta(grad, &n->in_meta[i]); }

static ct_tensor *mul_scalar(ct_tensor *g, ct_scalar s) {
    ct_tensor *st = s.kind == CT_SCALAR_FLOAT ? ct_scalar_tensor_f64(s.v.d, CT_FLOAT64)
                                              : ct_scalar_tensor_i64(s.v.i, CT_INT64);
    if (!st) return NULL;
    st->flags |= CT_FLAG_WRAPPED_NUMBER;
    ct_tensor *r = ct_mul(g, st);
    ct_tensor_release(st);
    return r;
}

/* Take ownership of `r` into grad_in[i] after reducing it to input i; r consumed. */
static int put(ct_node *n, ct_tensor **grad_in, int i, ct_tensor *r) {
    if (!r) return -1;
    ct_tensor *s = to_input(n, i, r);
    ct_tensor_release(r);
    if (!s) return -1;
    grad_in[i] = s;
    return 0;
}

#define RECORD(NAME, FN, OUT, ...)                                                    \
    do {                                                                              \
        ct_tensor *ins_[] = {__VA_ARGS__};                                            \
        int nin_ = (int)(sizeof ins_ / sizeof ins_[0]);                               \
        if (!ct_autograd_should_record(nin_, ins_) || !ct_dtype_is_floating((OUT)->dtype)) return 0; \
        node = ct_autograd_record(NAME, FN, OUT, nin_, ins_);                         \
        if (!node) return -1;                                                         \
    } while (0)

/* ------------------------------------------------------------------ sum to size */

/* Differentiable "sum over dims" (keepdim) used by ct_sum_to_meta under create_graph: the
 * real sum op, so it records SumBackward1 like any other sum. */
ct_tensor *ct_sum_to_dims(ct_tensor *grad, const int64_t *dims, int nd) {
    if (nd == 0) { /* nothing to reduce (sum(dim=[]) would reduce everything) */
        ct_tensor_retain(grad);
        return grad;
    }
    return ct_sum(grad, (ct_intlist){dims, nd}, true, -1);
}

/* ------------------------------------------------------------------ in-place protocol */

/* 1: record through the out-of-place op; 0: run the plain kernel; -1: error. */
int ct_autograd_inplace_begin(ct_tensor *self, int n, ct_tensor *const *inputs) {
    if (!ct_autograd_should_record(n, inputs)) return 0;
    if (self->autograd && self->autograd->requires_grad && !self->autograd->grad_fn)
        return ct_errorf(CT_ERR_RUNTIME, "a leaf Variable that requires grad is being used in an in-place operation.");
    if (self->autograd && self->autograd->view_base) {
        ct_tensor *base = self->autograd->view_base;
        if (base->autograd && base->autograd->requires_grad && !base->autograd->grad_fn)
            return ct_errorf(CT_ERR_RUNTIME, "a view of a leaf Variable that requires grad is being used in an "
                             "in-place operation.");
        if (!ct_tensor_is_contiguous(base) || base->dtype != self->dtype)
            return ct_errorf(CT_ERR_NOT_IMPLEMENTED,
                             "in-place operation on a view whose base is not contiguous is not supported; apply the "
                             "operation out of place (or clone() the view first)");
        return 1;
    }
    if (self->autograd && self->autograd->is_view_of_grad)
        return ct_errorf(CT_ERR_NOT_IMPLEMENTED,
                         "in-place operation on a view of a tensor that requires grad is not supported yet; apply "
                         "the operation out of place (or clone() the view first)");
    if (!ct_tensor_requires_grad(self) && __atomic_load_n(&self->storage->refcount, __ATOMIC_ACQUIRE) > 1)
        /* self would take a history that the tensors sharing its memory (its base, other views)
         * would not see: refuse rather than give them a wrong gradient */
        return ct_errorf(CT_ERR_NOT_IMPLEMENTED,
                         "in-place operation with an input that requires grad on a tensor that shares its memory "
                         "with other tensors that do not require grad is not supported; clone() it first");
    return 1;
}

/* NOTE [ In-place on views ]
 * An in-place op on a view V of a base B (V recorded as a view: autograd meta view_base)
 * writes R = op(V) into V's memory, then rebases: B's history becomes a CopySlices node
 * over (B's old history, R) -- gradient of the old B is the incoming gradient with V's
 * region zeroed, gradient of R is that region -- and V becomes as_strided(B) of the new
 * history. The base must be contiguous (so V's storage positions map to B's flat index).
 * Other views of B taken before the write get a fresh as_strided history of B on their next use
 * (NOTE [ Views after in-place ] in meta.c), as in torch. */
static int copyslices_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    const int64_t *geo = n->payload; /* [nd, rel_offset, sizes..., strides...] */
    int nd = (int)geo[0];
    ct_intlist vs = {geo + 2, nd}, vst = {geo + 2 + nd, nd};
    ct_tensor *g0 = ct_contiguous(g[0]);
    if (!g0) return -1;
    int64_t off = g0->offset + geo[1];
    if (ct_node_needs_grad(n, 1)) {
        ct_tensor *region = ct_as_strided(g0, vs, vst, &off);
        ct_tensor *r = region ? ct_contiguous(region) : NULL;
        ct_tensor_release(region);
        if (!r) {
            ct_tensor_release(g0);
            return -1;
        }
        gi[1] = ct_sum_to_meta(r, &n->in_meta[1]);
        ct_tensor_release(r);
        if (!gi[1]) {
            ct_tensor_release(g0);
            return -1;
        }
    }
    if (ct_node_needs_grad(n, 0)) {
        bool prev = ct_set_grad_enabled(false);
        ct_tensor *mask = ct_ones((ct_intlist){g0->sizes, g0->ndim}, g0->dtype, -1);
        int64_t moff = geo[1];
        ct_tensor *mregion = mask ? ct_as_strided(mask, vs, vst, &moff) : NULL;
        ct_tensor *z = mregion ? ct_zero_(mregion) : NULL;
        ct_set_grad_enabled(prev);
        ct_tensor_release(z);
        ct_tensor_release(mregion);
        ct_tensor *r = mask ? ct_mul(g0, mask) : NULL;
        ct_tensor_release(mask);
        if (!r) {
            ct_tensor_release(g0);
            return -1;
        }
        gi[0] = r;
    }
    ct_tensor_release(g0);
    return 0;
}

static void free_payload(ct_node *n) {
    free(n->payload);
    n->payload = NULL;
}

/* Rebase after writing result R (with its history) into view V. */
static int rebase_view(ct_tensor *view, ct_tensor *result) {
    ct_tensor *base = view->autograd->view_base;
    int nd = view->ndim;
    int64_t *geo = malloc(sizeof(int64_t) * (size_t)(2 + 2 * nd));
    if (!geo) return ct_errorf(CT_ERR_MEMORY, "[autograd] out of memory");
    geo[0] = nd;
    geo[1] = view->offset - base->offset;
    for (int d = 0; d < nd; d++) {
        geo[2 + d] = view->sizes[d];
        geo[2 + nd + d] = view->strides[d];
    }
    ct_tensor *ins[2] = {base, result};
    ct_node *c = ct_node_new("CopySlices", copyslices_backward, 2, ins, 1);
    if (!c) {
        free(geo);
        return -1;
    }
    c->payload = geo;
    c->destroy = free_payload;
    int rc = ct_node_set_output(c, base, 0);
    ct_node_release(c);
    if (rc) return -1;
    /* the view's new history: as_strided of the rebased base */
    int64_t voff = view->offset;
    ct_tensor *t = ct_as_strided(base, (ct_intlist){view->sizes, nd}, (ct_intlist){view->strides, nd}, &voff);
    if (!t) return -1;
    rc = 0;
    if (t->autograd && t->autograd->grad_fn) rc = ct_node_set_output(t->autograd->grad_fn, view, t->autograd->output_nr);
    ct_tensor_release(t);
    ct_autograd_view_fresh(view);
    return rc;
}

/* The out-of-place node may have saved self as an input for its formula; self is about to
 * be overwritten, so the node keeps a private copy of the original values instead (torch's
 * original self), with the same history. Convention: makers of ops with an in-place form
 * save `self` in slot 0. Other saved arguments that alias self (z.mul_(z)) stay references
 * and raise at backward, as in torch. */
static int keep_original_self(ct_node *fn, ct_tensor *self) {
    for (int s = 0; s < 1 && s < fn->n_saved; s++) {
        ct_tensor *a = fn->saved[s];
        if (!a || fn->saved_output_nr[s] >= 0 || a->storage != self->storage) continue;
        bool prev = ct_set_grad_enabled(false);
        ct_tensor *c = ct_clone(a);
        ct_set_grad_enabled(prev);
        if (!c) return -1;
        c->flags |= a->flags & CT_FLAG_WRAPPED_NUMBER;
        c->autograd = a->autograd; /* no meta of its own: made with grad mode off */
        a->autograd = NULL;
        ct_tensor_release(a);
        fn->saved[s] = c;
        fn->saved_version[s] = c->storage->version;
    }
    return 0;
}

/* self takes result's values and history (result consumed). Returns a new ref to self. */
ct_tensor *ct_autograd_inplace_commit(ct_tensor *self, ct_tensor *result) {
    if (!result) return NULL;
    bool same = result->ndim == self->ndim;
    for (int i = 0; same && i < self->ndim; i++) same = result->sizes[i] == self->sizes[i];
    if (!same) {
        char b1[128], b2[128];
        ct_tensor_release(result);
        return ct_error(CT_ERR_RUNTIME, "output with shape %s doesn't match the broadcast shape %s",
                        ct_shape_str(self->sizes, self->ndim, b1, sizeof b1),
                        ct_shape_str(result->sizes, result->ndim, b2, sizeof b2));
    }
    if (!ct_can_cast(result->dtype, self->dtype)) {
        ct_tensor_release(result);
        return ct_error(CT_ERR_RUNTIME, "result type %s can't be cast to the desired output type %s",
                        ct_dtype_name(result->dtype), ct_dtype_name(self->dtype));
    }
    ct_node *fn = result->autograd ? result->autograd->grad_fn : NULL;
    if ((fn && keep_original_self(fn, self)) || ct_copy_into(self, result)) {
        ct_tensor_release(result);
        return NULL;
    }
    if (self->autograd && self->autograd->view_base && fn) {
        if (rebase_view(self, result)) {
            ct_tensor_release(result);
            return NULL;
        }
    } else if (fn) {
        if (ct_node_set_output(fn, self, result->autograd->output_nr)) {
            ct_tensor_release(result);
            return NULL;
        }
    }
    ct_tensor_release(result);
    ct_tensor_retain(self);
    return self;
}

/* ------------------------------------------------------------------ arithmetic */

static int add_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (ct_node_needs_grad(n, 0)) {
        ct_tensor_retain(g[0]);
        if (put(n, gi, 0, g[0])) return -1;
    }
    if (ct_node_needs_grad(n, 1)) {
        ct_scalar a = n->sc[0];
        bool one = a.kind == CT_SCALAR_FLOAT ? a.v.d == 1.0 : a.v.i == 1;
        ct_tensor *r;
        if (one) {
            ct_tensor_retain(g[0]);
            r = g[0];
        } else {
            r = mul_scalar(g[0], a);
        }
        if (put(n, gi, 1, r)) return -1;
    }
    return 0;
}

int ctg_add(ct_tensor *result, ct_tensor *self, ct_tensor *other, ct_scalar alpha) {
    ct_node *node;
    RECORD("AddBackward0", add_backward, result, self, other);
    node->sc[0] = alpha;
    return 0;
}

int ctg_sub(ct_tensor *result, ct_tensor *self, ct_tensor *other, ct_scalar alpha) {
    ct_node *node;
    /* number - tensor is torch's rsub */
    RECORD((self->flags & CT_FLAG_WRAPPED_NUMBER) && !(other->flags & CT_FLAG_WRAPPED_NUMBER) ? "RsubBackward1"
                                                                                              : "SubBackward0",
           add_backward, result, self, other);
    if (alpha.kind == CT_SCALAR_FLOAT)
        alpha.v.d = -alpha.v.d;
    else
        alpha.v.i = -alpha.v.i;
    node->sc[0] = alpha;
    return 0;
}

static int mul_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (ct_node_needs_grad(n, 0)) {
        ct_tensor *o = ct_node_saved(n, 1);
        if (!o) return -1;
        ct_tensor *r = ct_mul(g[0], o);
        ct_tensor_release(o);
        if (put(n, gi, 0, r)) return -1;
    }
    if (ct_node_needs_grad(n, 1)) {
        ct_tensor *s = ct_node_saved(n, 0);
        if (!s) return -1;
        ct_tensor *r = ct_mul(g[0], s);
        ct_tensor_release(s);
        if (put(n, gi, 1, r)) return -1;
    }
    return 0;
}

int ctg_mul(ct_tensor *result, ct_tensor *self, ct_tensor *other) {
    ct_node *node;
    RECORD("MulBackward0", mul_backward, result, self, other);
    if (ct_node_needs_grad(node, 1) && ct_node_save(node, 0, self, -1)) return -1;
    if (ct_node_needs_grad(node, 0) && ct_node_save(node, 1, other, -1)) return -1;
    return 0;
}

static int div_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *o = ct_node_saved(n, 1);
    if (!o) return -1;
    if (ct_node_needs_grad(n, 0)) {
        ct_tensor *r = ct_div(g[0], o, NULL);
        if (put(n, gi, 0, r)) goto fail;
    }
    if (ct_node_needs_grad(n, 1)) {
        /* -grad * self / other^2 */
        ct_tensor *s = ct_node_saved(n, 0);
        if (!s) goto fail;
        ct_tensor *a = ct_mul(g[0], s);
        ct_tensor_release(s);
        ct_tensor *o2 = a ? ct_mul(o, o) : NULL;
        ct_tensor *q = o2 ? ct_div(a, o2, NULL) : NULL;
        ct_tensor_release(a);
        ct_tensor_release(o2);
        ct_tensor *r = q ? ct_neg(q) : NULL;
        ct_tensor_release(q);
        if (put(n, gi, 1, r)) goto fail;
    }
    ct_tensor_release(o);
    return 0;
fail:
    ct_tensor_release(o);
    return -1;
}

static int div_rounding_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    for (int i = 0; i < 2; i++)
        if (ct_node_needs_grad(n, i) && put(n, gi, i, ct_zeros_like(g[0], -1, -1))) return -1;
    return 0;
}

int ctg_div(ct_tensor *result, ct_tensor *self, ct_tensor *other, const char *rounding_mode) {
    ct_node *node;
    if (rounding_mode) {
        /* floor/trunc division: piecewise constant, zero gradient for both operands (torch's
         * DivBackward2) */
        RECORD("DivBackward2", div_rounding_backward, result, self, other);
        return 0;
    }
    RECORD("DivBackward0", div_backward, result, self, other);
    if (ct_node_save(node, 1, other, -1)) return -1;
    if (ct_node_needs_grad(node, 1) && ct_node_save(node, 0, self, -1)) return -1;
    return 0;
}

static int neg_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) { return put(n, gi, 0, ct_neg(g[0])); }

int ctg_neg(ct_tensor *result, ct_tensor *self) {
    ct_node *node;
    RECORD("NegBackward0", neg_backward, result, self);
    (void)node;
    return 0;
}

static int exp_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *r = ct_node_saved(n, 0);
    if (!r) return -1;
    ct_tensor *m = ct_mul(g[0], r);
    ct_tensor_release(r);
    return put(n, gi, 0, m);
}

int ctg_exp(ct_tensor *result, ct_tensor *self) {
    ct_node *node;
    RECORD("ExpBackward0", exp_backward, result, self);
    return ct_node_save(node, 0, result, 0);
}

/* ------------------------------------------------------------------ copies and views */

static int identity_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor_retain(g[0]);
    return put(n, gi, 0, g[0]);
}

static int reshape_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *r = ct_reshape(g[0], (ct_intlist){n->in_meta[0].sizes, n->in_meta[0].ndim});
    if (!r) return -1;
    return put(n, gi, 0, r);
}

/* Views of tensors that require grad are marked so in-place ops on them are refused
 * rather than silently giving the base a wrong gradient. */
void ct_autograd_mark_view(ct_tensor *result, ct_tensor *self) {
    if (result->storage != self->storage || !result->autograd) return;
    result->autograd->is_view_of_grad = true;
    ct_tensor *base = self->autograd && self->autograd->view_base ? self->autograd->view_base : self;
    if (base == result) return;
    ct_tensor_retain(base);
    ct_tensor_release(result->autograd->view_base);
    result->autograd->view_base = base;
    result->autograd->view_version = result->storage->version;
}
#define mark_view ct_autograd_mark_view

int ctg_view(ct_tensor *result, ct_tensor *self, ct_intlist size) {
    (void)size;
    ct_node *node;
    RECORD("ViewBackward0", reshape_backward, result, self);
    (void)node;
    mark_view(result, self);
    return 0;
}

int ctg_reshape(ct_tensor *result, ct_tensor *self, ct_intlist shape) {
    (void)shape;
    ct_node *node;
    RECORD(result->storage == self->storage ? "ViewBackward0" : "UnsafeViewBackward0", reshape_backward, result,
           self);
    (void)node;
    mark_view(result, self);
    return 0;
}

int ctg_clone(ct_tensor *result, ct_tensor *self) {
    ct_node *node;
    RECORD("CloneBackward0", identity_backward, result, self);
    (void)node;
    return 0;
}

int ctg_contiguous(ct_tensor *result, ct_tensor *self) {
    if (result == self) return 0;
    ct_node *node;
    RECORD("CloneBackward0", identity_backward, result, self);
    (void)node;
    return 0;
}

int ctg_to_dtype(ct_tensor *result, ct_tensor *self, int dtype, bool copy) {
    (void)dtype;
    (void)copy;
    if (result == self) return 0;
    ct_node *node;
    RECORD("ToCopyBackward0", identity_backward, result, self);
    (void)node;
    return 0;
}

/* copy_(self, src): gradient flows to src only; self's old history is cut. */
static int copy_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor_retain(g[0]);
    return put(n, gi, 0, g[0]);
}

int ct_autograd_after_copy_(ct_tensor *self, ct_tensor *src) {
    if (!ct_autograd_should_record(1, &src)) {
        if (self->autograd && self->autograd->grad_fn) ct_detach_(self);
        return 0;
    }
    ct_node *n = ct_node_new("CopyBackwards", copy_backward, 1, &src, 1);
    if (!n) return -1;
    int rc = ct_node_set_output(n, self, 0);
    ct_node_release(n);
    return rc;
}
