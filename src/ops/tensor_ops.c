/* Core tensor methods: clone, contiguous, copy_, dtype conversion, view/reshape, fill_,
 * item. */
#include "ctorch/ops_gen.h"
#include "../core/internal.h"
#include "../kernels/cpu/elementwise.h"
#include "../autograd/autograd_internal.h"

/* In-place writes that replace self's values entirely: a leaf requiring grad refuses them;
 * a non-leaf loses its old history. */
static int inplace_overwrite_check(ct_tensor *self) {
    if (!ct_grad_enabled() || !ct_tensor_requires_grad(self)) return 0;
    if (ct_tensor_is_leaf(self))
        return ct_errorf(CT_ERR_RUNTIME, "a leaf Variable that requires grad is being used in an in-place operation.");
    return 0;
}

ct_tensor *ct_clone_impl(ct_tensor *self) {
    ct_tensor *t = ct_empty(self->sizes, self->ndim, self->dtype);
    if (!t) return NULL;
    if (ct_copy_into(t, self)) {
        ct_tensor_release(t);
        return NULL;
    }
    return t;
}

ct_tensor *ct_contiguous_impl(ct_tensor *self) {
    if (ct_tensor_is_contiguous(self)) {
        ct_tensor_retain(self);
        return self;
    }
    return ct_clone_impl(self);
}

ct_tensor *ct_copy_(ct_tensor *self, ct_tensor *src, bool non_blocking) {
    (void)non_blocking;
    if (ct_grad_enabled() && ct_tensor_is_leaf(self) && ct_tensor_requires_grad(self))
        return ct_error(CT_ERR_RUNTIME, "a leaf Variable that requires grad is being used in an in-place operation.");
    if (ct_copy_into(self, src)) return NULL;
    if (ct_grad_enabled() && ct_autograd_after_copy_(self, src)) return NULL;
    ct_tensor_retain(self);
    return self;
}

ct_tensor *ct_to_dtype_impl(ct_tensor *self, int dtype, bool copy) {
    if (dtype == self->dtype && !copy) {
        ct_tensor_retain(self);
        return self;
    }
    ct_tensor *t = ct_empty(self->sizes, self->ndim, dtype);
    if (!t) return NULL;
    if (ct_copy_into(t, self)) {
        ct_tensor_release(t);
        return NULL;
    }
    return t;
}

/* Resolve a size list with at most one -1 against numel. */
static int infer_size(const char *op, ct_intlist size, int64_t numel, int64_t *out) {
    if (size.n > CT_MAX_DIM) return ct_errorf(CT_ERR_RUNTIME, "[%s] too many dimensions (%lld)", op, (long long)size.n);
    int infer = -1;
    int64_t prod = 1;
    for (int64_t i = 0; i < size.n; i++) {
        int64_t s = size.data[i];
        if (s == -1) {
            if (infer >= 0) return ct_errorf(CT_ERR_RUNTIME, "[%s] only one dimension can be inferred", op);
            infer = (int)i;
        } else if (s < 0) {
            return ct_errorf(CT_ERR_RUNTIME, "[%s] invalid shape dimension %lld", op, (long long)s);
        } else {
            prod *= s;
        }
        out[i] = s;
    }
    if (infer >= 0) {
        if (prod == 0 || numel % prod != 0) goto bad;
        out[infer] = numel / prod;
    } else if (prod != numel) {
        goto bad;
    }
    return 0;
bad: {
    char b[256];
    return ct_errorf(CT_ERR_RUNTIME, "[%s] shape '%s' is invalid for input of size %lld", op,
                     ct_shape_str(size.data, (int)size.n, b, sizeof b), (long long)numel);
}
}

/* Strides for viewing `t` as `shape` without copying, or false (torch's computeStride). */
static bool view_strides(const ct_tensor *t, const int64_t *shape, int nd, int64_t *st) {
    if (t->numel == 0 || t->ndim == 0) { /* nothing to span, or a single element */
        ct_contiguous_strides(shape, nd, st);
        return true;
    }
    int64_t view_d = nd - 1;
    int64_t chunk_base_stride = t->ndim ? t->strides[t->ndim - 1] : 1;
    int64_t tensor_numel = 1, view_numel = 1;
    for (int64_t td = t->ndim - 1; td >= 0; td--) {
        tensor_numel *= t->sizes[td];
        if (td == 0 || (t->sizes[td - 1] != 1 && t->strides[td - 1] != tensor_numel * chunk_base_stride)) {
            while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
                st[view_d] = view_numel * chunk_base_stride;
                view_numel *= shape[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel) return false;
            if (td > 0) {
                chunk_base_stride = t->strides[td - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    return view_d == -1;
}

ct_tensor *ct_view_impl(ct_tensor *self, ct_intlist size) {
    int64_t shape[CT_MAX_DIM], st[CT_MAX_DIM];
    if (infer_size("view", size, self->numel, shape)) return NULL;
    if (!view_strides(self, shape, (int)size.n, st))
        return ct_error(CT_ERR_RUNTIME, "[view] view size is not compatible with input tensor's size and stride (at "
                        "least one dimension spans across two contiguous subspaces). Use .reshape(...) instead.");
    return ct_tensor_new_view(self->storage, self->dtype, self->offset, shape, st, (int)size.n);
}

ct_tensor *ct_reshape_impl(ct_tensor *self, ct_intlist shape_in) {
    int64_t shape[CT_MAX_DIM], st[CT_MAX_DIM];
    if (infer_size("reshape", shape_in, self->numel, shape)) return NULL;
    if (view_strides(self, shape, (int)shape_in.n, st))
        return ct_tensor_new_view(self->storage, self->dtype, self->offset, shape, st, (int)shape_in.n);
    ct_tensor *c = ct_clone_impl(self);
    if (!c) return NULL;
    ct_tensor *r = ct_tensor_new_view(c->storage, c->dtype, 0, shape, NULL, (int)shape_in.n);
    ct_tensor_release(c);
    return r;
}

static int fill_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    (void)n;
    (void)g;
    (void)gi;
    return 0;
}

ct_tensor *ct_fill_(ct_tensor *self, ct_scalar value) {
    if (inplace_overwrite_check(self)) return NULL;
    if (ct_grad_enabled() && ct_tensor_requires_grad(self)) {
        /* the new values depend on nothing: history is replaced by a node without inputs */
        ct_node *n = ct_node_new("FillBackward0", fill_backward, 0, NULL, 1);
        if (!n) return NULL;
        int rc = ct_node_set_output(n, self, 0);
        ct_node_release(n);
        if (rc) return NULL;
    }
    ct_tensor *v = ct_empty(NULL, 0, self->dtype);
    if (!v) return NULL;
    ct_store_scalar(ct_tensor_data(v), self->dtype, value);
    int rc = ct_copy_into(self, v);
    ct_tensor_release(v);
    if (rc) return NULL;
    ct_tensor_retain(self);
    return self;
}

ct_tensor *ct_zero_(ct_tensor *self) { return ct_fill_(self, ct_scalar_i(0)); }

int ct_item(ct_tensor *self, ct_scalar *result) {
    if (self->numel != 1)
        return ct_errorf(CT_ERR_RUNTIME, "[item] a Tensor with %lld elements cannot be converted to Scalar",
                         (long long)self->numel);
    const void *p = ct_tensor_data(self);
    if (self->dtype == CT_BOOL) {
        *result = ct_scalar_b(*(const uint8_t *)p != 0);
    } else if (ct_dtype_is_floating(self->dtype)) {
        *result = ct_scalar_f(ct_load_f64(p, self->dtype));
    } else {
        *result = ct_scalar_i(ct_load_i64(p, self->dtype));
    }
    return 0;
}

ct_tensor *ct_resize_(ct_tensor *self, ct_intlist size) {
    if (size.n > CT_MAX_DIM) return ct_error(CT_ERR_RUNTIME, "[resize_] too many dimensions");
    int64_t n = 1;
    for (int64_t i = 0; i < size.n; i++) {
        if (size.data[i] < 0)
            return ct_error(CT_ERR_RUNTIME, "[resize_] Trying to create tensor with negative dimension %lld",
                            (long long)size.data[i]);
        n *= size.data[i];
    }
    size_t need = (size_t)(self->offset + n) * ct_dtype_size(self->dtype);
    if (need > self->storage->nbytes && ct_storage_resize(self->storage, need)) return NULL;
    self->ndim = (int8_t)size.n;
    if (size.n) memcpy(self->sizes, size.data, sizeof(int64_t) * (size_t)size.n);
    ct_contiguous_strides(self->sizes, self->ndim, self->strides);
    ct_tensor_update_meta(self);
    ct_tensor_retain(self);
    return self;
}
