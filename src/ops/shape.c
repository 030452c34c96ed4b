/* Shape ops that return views (they share the input's storage): squeeze/unsqueeze,
 * flatten/unflatten, permute/transpose/movedim, expand/broadcast, narrow/select and the
 * split family, as_strided, diagonal, atleast_Nd, meshgrid. */
#include <stdlib.h>

#include "ctorch/autograd.h"
#include "ctorch/ops_gen.h"
#include "../core/internal.h"

/* autograd of one meshgrid output (src/autograd/formulas_shape.c) */
int ctg_meshgrid_piece(ct_tensor *out, ct_tensor *in, int axis);

/* A view of self with new geometry (new reference). */
static ct_tensor *mkview(const ct_tensor *self, int64_t offset, const int64_t *sizes, const int64_t *strides, int nd) {
    return ct_tensor_new_view(self->storage, self->dtype, offset, sizes, strides, nd);
}

static ct_tensor *alias(ct_tensor *self) { return mkview(self, self->offset, self->sizes, self->strides, self->ndim); }

ct_tensor *ct_view_as(ct_tensor *self, ct_tensor *other) {
    return ct_view(self, (ct_intlist){other->sizes, other->ndim});
}

ct_tensor *ct_reshape_as(ct_tensor *self, ct_tensor *other) {
    return ct_reshape(self, (ct_intlist){other->sizes, other->ndim});
}

ct_tensor *ct_flatten_impl(ct_tensor *self, int64_t start_dim, int64_t end_dim) {
    int s = ct_wrap_dim(start_dim, self->ndim, "flatten");
    if (s < 0) return NULL;
    int e = ct_wrap_dim(end_dim, self->ndim, "flatten");
    if (e < 0) return NULL;
    if (self->ndim == 0) {
        int64_t one = 1;
        return ct_reshape(self, (ct_intlist){&one, 1});
    }
    if (s > e) return ct_error(CT_ERR_RUNTIME, "[flatten] flatten() has invalid args: start_dim cannot come after end_dim");
    if (s == e) return alias(self);
    int64_t shape[CT_MAX_DIM];
    int n = 0;
    for (int i = 0; i < s; i++) shape[n++] = self->sizes[i];
    int64_t p = 1;
    for (int i = s; i <= e; i++) p *= self->sizes[i];
    shape[n++] = p;
    for (int i = e + 1; i < self->ndim; i++) shape[n++] = self->sizes[i];
    return ct_reshape(self, (ct_intlist){shape, n});
}

ct_tensor *ct_ravel(ct_tensor *self) {
    int64_t m1 = -1;
    if (ct_tensor_is_contiguous(self)) return ct_reshape(self, (ct_intlist){&m1, 1});
    /* as torch: contiguous().view(-1) (CloneBackward0 then ViewBackward0 under autograd) */
    ct_tensor *c = ct_contiguous(self);
    if (!c) return NULL;
    ct_tensor *r = ct_view(c, (ct_intlist){&m1, 1});
    ct_tensor_release(c);
    return r;
}

ct_tensor *ct_unflatten_impl(ct_tensor *self, int64_t dim, ct_intlist sizes) {
    if (sizes.n == 0) return ct_error(CT_ERR_RUNTIME, "[unflatten] sizes must be non-empty");
    int d = ct_wrap_dim(dim, self->ndim, "unflatten");
    if (d < 0) return NULL;
    if (self->ndim == 0)
        return ct_error(CT_ERR_RUNTIME, "[unflatten] Dimension specified as %lld but tensor has no dimensions",
                        (long long)dim);
    if (self->ndim - 1 + sizes.n > CT_MAX_DIM) return ct_error(CT_ERR_RUNTIME, "[unflatten] too many dimensions");
    int64_t ins[CT_MAX_DIM];
    int infer = -1;
    int64_t prod = 1;
    for (int64_t i = 0; i < sizes.n; i++) {
        ins[i] = sizes.data[i];
        if (ins[i] == -1) {
            if (infer >= 0) return ct_error(CT_ERR_RUNTIME, "[unflatten] only one dimension can be inferred");
            infer = (int)i;
        } else if (ins[i] < 0) {
            return ct_error(CT_ERR_RUNTIME, "[unflatten] invalid shape dimension %lld", (long long)ins[i]);
        } else {
            prod *= ins[i];
        }
    }
    int64_t dsz = self->sizes[d];
    if (infer >= 0) {
        if (prod == 0 || dsz % prod)
            return ct_error(CT_ERR_RUNTIME, "[unflatten] Provided sizes don't multiply up to the size of dim %d (%lld)",
                            d, (long long)dsz);
        ins[infer] = dsz / prod;
    } else if (prod != dsz) {
        return ct_error(CT_ERR_RUNTIME, "[unflatten] Provided sizes don't multiply up to the size of dim %d (%lld)", d,
                        (long long)dsz);
    }
    int64_t sh[CT_MAX_DIM], st[CT_MAX_DIM];
    int n = 0;
    for (int i = 0; i < d; i++, n++) sh[n] = self->sizes[i], st[n] = self->strides[i];
    int64_t run = self->strides[d];
    for (int64_t i = sizes.n - 1; i >= 0; i--) {
        sh[n + i] = ins[i];
        st[n + i] = run;
        run *= ins[i];
    }
    n += (int)sizes.n;
    for (int i = d + 1; i < self->ndim; i++, n++) sh[n] = self->sizes[i], st[n] = self->strides[i];
    return mkview(self, self->offset, sh, st, n);
}

/* ------------------------------------------------------------------ squeeze / unsqueeze */

static ct_tensor *squeeze_mask(ct_tensor *self, const bool *drop) {
    int64_t sh[CT_MAX_DIM], st[CT_MAX_DIM];
    int n = 0;
    for (int i = 0; i < self->ndim; i++) {
        if (drop[i] && self->sizes[i] == 1) continue;
        sh[n] = self->sizes[i];
        st[n] = self->strides[i];
        n++;
    }
    return mkview(self, self->offset, sh, st, n);
}

ct_tensor *ct_squeeze_impl(ct_tensor *self) {
    bool drop[CT_MAX_DIM];
    for (int i = 0; i < self->ndim; i++) drop[i] = true;
    return squeeze_mask(self, drop);
}

ct_tensor *ct_squeeze_dim_impl(ct_tensor *self, int64_t dim) {
    int64_t d1[1] = {dim};
    return ct_squeeze_dims(self, (ct_intlist){d1, 1});
}

ct_tensor *ct_squeeze_dims_impl(ct_tensor *self, ct_intlist dim) {
    bool drop[CT_MAX_DIM] = {false};
    for (int64_t i = 0; i < dim.n; i++) {
        int d = ct_wrap_dim(dim.data[i], self->ndim, "squeeze");
        if (d < 0) return NULL;
        if (drop[d]) return ct_error(CT_ERR_RUNTIME, "[squeeze] dim %d appears multiple times in the list of dims", d);
        drop[d] = true;
    }
    return squeeze_mask(self, drop);
}

ct_tensor *ct_unsqueeze_impl(ct_tensor *self, int64_t dim) {
    int d = ct_wrap_dim(dim, self->ndim + 1, "unsqueeze");
    if (d < 0) return NULL;
    if (self->ndim >= CT_MAX_DIM) return ct_error(CT_ERR_RUNTIME, "[unsqueeze] too many dimensions");
    int64_t sh[CT_MAX_DIM], st[CT_MAX_DIM];
    int n = 0;
    for (int i = 0; i <= self->ndim; i++) {
        if (i == d) {
            sh[n] = 1;
            st[n] = i < self->ndim ? self->sizes[i] * self->strides[i] : 1;
            n++;
        }
        if (i < self->ndim) {
            sh[n] = self->sizes[i];
            st[n] = self->strides[i];
            n++;
        }
    }
    return mkview(self, self->offset, sh, st, n);
}

/* ------------------------------------------------------------------ permutations */

/* Wrap and check a permutation-like list of dims; seen[] marks used dims. */
static int wrap_dims_unique(const char *op, ct_intlist dims, int ndim, int *out, const char *dupmsg) {
    bool seen[CT_MAX_DIM] = {false};
    for (int64_t i = 0; i < dims.n; i++) {
        int d = ct_wrap_dim(dims.data[i], ndim, op);
        if (d < 0) return -1;
        if (ndim == 0) d = 0;
        if (seen[d]) return ct_errorf(CT_ERR_RUNTIME, "[%s] %s", op, dupmsg);
        seen[d] = true;
        out[i] = d;
    }
    return 0;
}

ct_tensor *ct_permute_impl(ct_tensor *self, ct_intlist dims) {
    if (dims.n != self->ndim)
        return ct_error(CT_ERR_RUNTIME,
                        "[permute] number of dimensions in the tensor input does not match the length of the desired "
                        "ordering of dimensions i.e. input.dim() = %d is not equal to len(dims) = %lld",
                        self->ndim, (long long)dims.n);
    int p[CT_MAX_DIM];
    if (wrap_dims_unique("permute", dims, self->ndim, p, "duplicate dims are not allowed.")) return NULL;
    int64_t sh[CT_MAX_DIM], st[CT_MAX_DIM];
    for (int i = 0; i < self->ndim; i++) {
        sh[i] = self->sizes[p[i]];
        st[i] = self->strides[p[i]];
    }
    return mkview(self, self->offset, sh, st, self->ndim);
}

static ct_tensor *transpose_impl(ct_tensor *self, int64_t dim0, int64_t dim1, const char *op) {
    int a = ct_wrap_dim(dim0, self->ndim, op);
    if (a < 0) return NULL;
    int b = ct_wrap_dim(dim1, self->ndim, op);
    if (b < 0) return NULL;
    int64_t sh[CT_MAX_DIM], st[CT_MAX_DIM];
    memcpy(sh, self->sizes, sizeof(int64_t) * (size_t)self->ndim);
    memcpy(st, self->strides, sizeof(int64_t) * (size_t)self->ndim);
    if (self->ndim) {
        sh[a] = self->sizes[b], sh[b] = self->sizes[a];
        st[a] = self->strides[b], st[b] = self->strides[a];
    }
    return mkview(self, self->offset, sh, st, self->ndim);
}

ct_tensor *ct_transpose_impl(ct_tensor *self, int64_t dim0, int64_t dim1) {
    return transpose_impl(self, dim0, dim1, "transpose");
}
ct_tensor *ct_swapaxes_impl(ct_tensor *self, int64_t axis0, int64_t axis1) {
    return transpose_impl(self, axis0, axis1, "swapaxes");
}
ct_tensor *ct_swapdims_impl(ct_tensor *self, int64_t dim0, int64_t dim1) {
    return transpose_impl(self, dim0, dim1, "swapdims");
}

ct_tensor *ct_t_impl(ct_tensor *self) {
    if (self->ndim > 2)
        return ct_error(CT_ERR_RUNTIME, "[t] t() expects a tensor with <= 2 dimensions, but self is %dD", self->ndim);
    if (self->ndim < 2) return alias(self);
    return transpose_impl(self, 0, 1, "t");
}

ct_tensor *ct_adjoint_impl(ct_tensor *self) {
    if (self->ndim < 2)
        return ct_error(CT_ERR_RUNTIME, "[adjoint] tensor.adjoint() is only supported on matrices or batches of "
                        "matrices. Got %d-D tensor.", self->ndim);
    return transpose_impl(self, -2, -1, "adjoint");
}

static ct_tensor *movedim_impl(ct_tensor *self, ct_intlist source, ct_intlist destination, const char *op) {
    if (source.n != destination.n)
        return ct_error(CT_ERR_RUNTIME, "[%s] Invalid source or destination dims: source (%lld dims) should contain the "
                        "same number of dims as destination (%lld dims)", op, (long long)source.n,
                        (long long)destination.n);
    int nd = self->ndim;
    int src[CT_MAX_DIM], dst[CT_MAX_DIM];
    if (source.n > CT_MAX_DIM) return ct_error(CT_ERR_RUNTIME, "[%s] too many dims", op);
    for (int64_t i = 0; i < source.n; i++) /* torch wraps every dim before looking for repeats */
        if (ct_wrap_dim(source.data[i], nd, op) < 0 || ct_wrap_dim(destination.data[i], nd, op) < 0) return NULL;
    if (wrap_dims_unique(op, source, nd, src, "repeated dim in `source`")) return NULL;
    if (wrap_dims_unique(op, destination, nd, dst, "repeated dim in `destination`")) return NULL;
    if (nd == 0) return alias(self);
    int order[CT_MAX_DIM];
    bool used_src[CT_MAX_DIM] = {false}, used_dst[CT_MAX_DIM] = {false};
    for (int64_t i = 0; i < source.n; i++) {
        order[dst[i]] = src[i];
        used_src[src[i]] = true;
        used_dst[dst[i]] = true;
    }
    int s = 0;
    for (int d = 0; d < nd; d++) {
        if (used_dst[d]) continue;
        while (used_src[s]) s++;
        order[d] = s++;
    }
    int64_t sh[CT_MAX_DIM], st[CT_MAX_DIM];
    for (int d = 0; d < nd; d++) {
        sh[d] = self->sizes[order[d]];
        st[d] = self->strides[order[d]];
    }
    return mkview(self, self->offset, sh, st, nd);
}

ct_tensor *ct_movedim_impl(ct_tensor *self, ct_intlist source, ct_intlist destination) {
    return movedim_impl(self, source, destination, "movedim");
}
ct_tensor *ct_movedim_int_impl(ct_tensor *self, int64_t source, int64_t destination) {
    return movedim_impl(self, (ct_intlist){&source, 1}, (ct_intlist){&destination, 1}, "movedim");
}
ct_tensor *ct_moveaxis_impl(ct_tensor *self, ct_intlist source, ct_intlist destination) {
    return movedim_impl(self, source, destination, "moveaxis");
}
ct_tensor *ct_moveaxis_int_impl(ct_tensor *self, int64_t source, int64_t destination) {
    return movedim_impl(self, (ct_intlist){&source, 1}, (ct_intlist){&destination, 1}, "moveaxis");
}

/* ------------------------------------------------------------------ expand */

static ct_tensor *expand_impl(ct_tensor *self, ct_intlist size, const char *op) {
    if (size.n < self->ndim)
        return ct_error(CT_ERR_RUNTIME, "[%s] the number of sizes provided (%lld) must be greater or equal to the "
                        "number of dimensions in the tensor (%d)", op, (long long)size.n, self->ndim);
    if (size.n > CT_MAX_DIM) return ct_error(CT_ERR_RUNTIME, "[%s] too many dimensions", op);
    int nd = (int)size.n;
    int64_t sh[CT_MAX_DIM], st[CT_MAX_DIM];
    for (int i = nd - 1; i >= 0; i--) {
        int j = self->ndim - nd + i;
        int64_t want = size.data[i];
        if (j < 0) {
            if (want < 0)
                return ct_error(CT_ERR_RUNTIME, "[%s] The expanded size of the tensor (%lld) isn't allowed in a leading, "
                                "non-existing dimension %d", op, (long long)want, i);
            sh[i] = want;
            st[i] = 0;
            continue;
        }
        int64_t have = self->sizes[j];
        if (want == -1) want = have;
        if (want < 0)
            return ct_error(CT_ERR_RUNTIME, "[%s] Trying to create tensor with negative dimension %lld", op,
                            (long long)want);
        if (have == want) {
            sh[i] = have;
            st[i] = self->strides[j];
        } else if (have == 1) {
            sh[i] = want;
            st[i] = 0;
        } else {
            char b1[256], b2[256];
            return ct_error(CT_ERR_RUNTIME, "[%s] The expanded size of the tensor (%lld) must match the existing size "
                            "(%lld) at non-singleton dimension %d.  Target sizes: %s.  Tensor sizes: %s", op,
                            (long long)want, (long long)have, i, ct_shape_str(size.data, nd, b1, sizeof b1),
                            ct_shape_str(self->sizes, self->ndim, b2, sizeof b2));
        }
    }
    return mkview(self, self->offset, sh, st, nd);
}

ct_tensor *ct_expand_impl(ct_tensor *self, ct_intlist size, bool implicit) {
    (void)implicit;
    return expand_impl(self, size, "expand");
}
ct_tensor *ct_expand_as_impl(ct_tensor *self, ct_tensor *other) {
    return expand_impl(self, (ct_intlist){other->sizes, other->ndim}, "expand_as");
}
ct_tensor *ct_broadcast_to_impl(ct_tensor *self, ct_intlist size) { return expand_impl(self, size, "broadcast_to"); }

ct_tensorvec ct_broadcast_tensors(ct_tensorlist tensors) {
    int64_t shape[CT_MAX_DIM];
    int nd = 0;
    for (int64_t i = 0; i < tensors.n; i++) {
        int64_t tmp[CT_MAX_DIM];
        nd = ct_broadcast_shapes(shape, nd, tensors.data[i]->sizes, tensors.data[i]->ndim, tmp, "broadcast_tensors");
        if (nd < 0) return CT_TENSORVEC_ERR;
        memcpy(shape, tmp, sizeof(int64_t) * (size_t)nd);
    }
    ct_tensorvec v = ct_tensorvec_new(tensors.n);
    if (v.n < 0) return v;
    for (int64_t i = 0; i < tensors.n; i++) {
        v.data[i] = expand_impl(tensors.data[i], (ct_intlist){shape, nd}, "broadcast_tensors");
        if (v.data[i] && ct_grad_enabled() && ctg_expand(v.data[i], tensors.data[i], (ct_intlist){shape, nd}, false)) {
            ct_tensorvec_release(v);
            return CT_TENSORVEC_ERR;
        }
        if (!v.data[i]) {
            ct_tensorvec_release(v);
            return CT_TENSORVEC_ERR;
        }
    }
    return v;
}

/* ------------------------------------------------------------------ slicing */

ct_tensor *ct_narrow_impl(ct_tensor *self, int64_t dim, int64_t start, int64_t length) {
    if (length < 0) return ct_error(CT_ERR_RUNTIME, "[narrow] narrow(): length must be non-negative.");
    if (self->ndim == 0) return ct_error(CT_ERR_RUNTIME, "[narrow] narrow() cannot be applied to a 0-dim tensor.");
    int d = ct_wrap_dim(dim, self->ndim, "narrow");
    if (d < 0) return NULL;
    int64_t n = self->sizes[d];
    if (start < -n || start > n)
        return ct_error(CT_ERR_INDEX, "[narrow] start out of range (expected to be in range of [%lld, %lld], but got "
                        "%lld)", (long long)-n, (long long)n, (long long)start);
    if (start < 0) start += n;
    if (start > n - length)
        return ct_error(CT_ERR_RUNTIME, "[narrow] start (%lld) + length (%lld) exceeds dimension size (%lld).",
                        (long long)start, (long long)length, (long long)n);
    int64_t sh[CT_MAX_DIM];
    memcpy(sh, self->sizes, sizeof(int64_t) * (size_t)self->ndim);
    sh[d] = length;
    int64_t off = self->offset + (length ? start * self->strides[d] : 0);
    return mkview(self, off, sh, self->strides, self->ndim);
}

ct_tensor *ct_select_impl(ct_tensor *self, int64_t dim, int64_t index) {
    if (self->ndim == 0) return ct_error(CT_ERR_INDEX, "[select] select() cannot be applied to a 0-dim tensor.");
    int d = ct_wrap_dim(dim, self->ndim, "select");
    if (d < 0) return NULL;
    int64_t n = self->sizes[d];
    if (index < -n || index >= n)
        return ct_error(CT_ERR_INDEX, "[select] select(): index %lld out of range for tensor of size %lld at "
                        "dimension %d", (long long)index, (long long)n, d);
    if (index < 0) index += n;
    int64_t sh[CT_MAX_DIM], st[CT_MAX_DIM];
    int k = 0;
    for (int i = 0; i < self->ndim; i++) {
        if (i == d) continue;
        sh[k] = self->sizes[i];
        st[k] = self->strides[i];
        k++;
    }
    return mkview(self, self->offset + index * self->strides[d], sh, st, k);
}

/* Pieces [starts[i], starts[i] + lens[i]) along dim d (already wrapped). */
static ct_tensorvec pieces(ct_tensor *self, int d, int64_t n, const int64_t *starts, const int64_t *lens) {
    ct_tensorvec v = ct_tensorvec_new(n);
    if (v.n < 0) return v;
    int64_t sh[CT_MAX_DIM];
    memcpy(sh, self->sizes, sizeof(int64_t) * (size_t)self->ndim);
    for (int64_t i = 0; i < n; i++) {
        sh[d] = lens[i];
        int64_t off = self->offset + (lens[i] ? starts[i] * self->strides[d] : 0);
        v.data[i] = mkview(self, off, sh, self->strides, self->ndim);
        if (!v.data[i]) {
            ct_tensorvec_release(v);
            return CT_TENSORVEC_ERR;
        }
    }
    return v;
}

/* Scratch arrays of n starts and n lengths (one allocation). */
static int64_t *scratch(int64_t n) {
    int64_t *p = malloc(sizeof(int64_t) * (size_t)(2 * (n > 0 ? n : 1)));
    if (!p) ct_error(CT_ERR_MEMORY, "[split] out of memory");
    return p;
}

static ct_tensorvec pieces_free(ct_tensor *self, int d, int64_t n, int64_t *buf) {
    ct_tensorvec v = pieces(self, d, n, buf, buf + n);
    free(buf);
    return v;
}

ct_tensorvec ct_unbind_impl(ct_tensor *self, int64_t dim) {
    if (self->ndim == 0) {
        ct_error(CT_ERR_INDEX, "[unbind] Dimension specified as 0 but tensor has no dimensions");
        return CT_TENSORVEC_ERR;
    }
    int d = ct_wrap_dim(dim, self->ndim, "unbind");
    if (d < 0) return CT_TENSORVEC_ERR;
    int64_t n = self->sizes[d];
    ct_tensorvec v = ct_tensorvec_new(n);
    if (v.n < 0) return v;
    for (int64_t i = 0; i < n; i++) {
        v.data[i] = ct_select(self, d, i);
        if (!v.data[i]) {
            ct_tensorvec_release(v);
            return CT_TENSORVEC_ERR;
        }
    }
    return v;
}

static ct_tensorvec split_size_impl(ct_tensor *self, int64_t split_size, int64_t dim, const char *op) {
    if (split_size < 0) {
        ct_error(CT_ERR_RUNTIME, "[%s] split expects split_size be non-negative, but got split_size=%lld", op,
                 (long long)split_size);
        return CT_TENSORVEC_ERR;
    }
    if (self->ndim == 0) {
        ct_error(CT_ERR_RUNTIME, "[%s] %s expects at least a 1-dimensional tensor", op, op);
        return CT_TENSORVEC_ERR;
    }
    int d = ct_wrap_dim(dim, self->ndim, op);
    if (d < 0) return CT_TENSORVEC_ERR;
    int64_t size = self->sizes[d];
    if (split_size == 0 && size != 0) {
        ct_error(CT_ERR_RUNTIME, "[%s] split_size can only be 0 if dimension size is 0, but got dimension size of %lld",
                 op, (long long)size);
        return CT_TENSORVEC_ERR;
    }
    int64_t n = split_size == 0 ? 1 : (size + split_size - 1) / split_size;
    if (n == 0) n = 1;
    int64_t *buf = scratch(n);
    if (!buf) return CT_TENSORVEC_ERR;
    for (int64_t i = 0; i < n; i++) {
        buf[i] = i * split_size;
        int64_t rem = size - buf[i];
        buf[n + i] = rem < split_size ? rem : split_size;
    }
    return pieces_free(self, d, n, buf);
}

ct_tensorvec ct_split_impl(ct_tensor *self, int64_t split_size_or_sections, int64_t dim) {
    return split_size_impl(self, split_size_or_sections, dim, "split");
}

ct_tensorvec ct_split_with_sizes_impl(ct_tensor *self, ct_intlist split_sizes, int64_t dim) {
    if (self->ndim == 0) {
        ct_error(CT_ERR_RUNTIME, "[split_with_sizes] split expects at least a 1-dimensional tensor");
        return CT_TENSORVEC_ERR;
    }
    int d = ct_wrap_dim(dim, self->ndim, "split_with_sizes");
    if (d < 0) return CT_TENSORVEC_ERR;
    int64_t n = split_sizes.n, total = 0;
    for (int64_t i = 0; i < n; i++) {
        if (split_sizes.data[i] < 0) {
            ct_error(CT_ERR_RUNTIME, "[split_with_sizes] split_with_sizes expects split_sizes have only non-negative "
                     "entries, but got split_sizes=%lld", (long long)split_sizes.data[i]);
            return CT_TENSORVEC_ERR;
        }
        total += split_sizes.data[i];
    }
    if (total != self->sizes[d]) {
        ct_error(CT_ERR_RUNTIME, "[split_with_sizes] split_with_sizes expects split_sizes to sum exactly to %lld "
                 "(input tensor's size at dimension %d), but got sum %lld", (long long)self->sizes[d], d,
                 (long long)total);
        return CT_TENSORVEC_ERR;
    }
    int64_t *buf = scratch(n);
    if (!buf) return CT_TENSORVEC_ERR;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        buf[i] = at;
        buf[n + i] = split_sizes.data[i];
        at += split_sizes.data[i];
    }
    return pieces_free(self, d, n, buf);
}

ct_tensorvec ct_split_sizes_impl(ct_tensor *self, ct_intlist split_size_or_sections, int64_t dim) {
    return ct_split_with_sizes(self, split_size_or_sections, dim);
}

ct_tensorvec ct_chunk_impl(ct_tensor *self, int64_t chunks, int64_t dim) {
    if (self->ndim == 0) {
        ct_error(CT_ERR_RUNTIME, "[chunk] chunk expects at least a 1-dimensional tensor");
        return CT_TENSORVEC_ERR;
    }
    if (chunks <= 0) {
        ct_error(CT_ERR_RUNTIME, "[chunk] chunk expects `chunks` to be greater than 0, got: %lld", (long long)chunks);
        return CT_TENSORVEC_ERR;
    }
    int d = ct_wrap_dim(dim, self->ndim, "chunk");
    if (d < 0) return CT_TENSORVEC_ERR;
    int64_t size = self->sizes[d];
    int64_t split_size = (size + chunks - 1) / chunks;
    if (split_size == 0 && size == 0) {
        /* torch: `chunks` empty pieces when the dimension is empty */
        int64_t *buf = scratch(chunks);
        if (!buf) return CT_TENSORVEC_ERR;
        for (int64_t i = 0; i < chunks; i++) buf[i] = 0, buf[chunks + i] = 0;
        return pieces_free(self, d, chunks, buf);
    }
    return split_size_impl(self, split_size, d, "chunk");
}

static ct_tensorvec tensor_split_sections(ct_tensor *self, int64_t sections, int64_t dim, const char *op) {
    if (self->ndim == 0) {
        ct_error(CT_ERR_RUNTIME, "[%s] tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 "
                 "dims", op);
        return CT_TENSORVEC_ERR;
    }
    int d = ct_wrap_dim(dim, self->ndim, op);
    if (d < 0) return CT_TENSORVEC_ERR;
    if (sections <= 0) {
        ct_error(CT_ERR_RUNTIME, "[%s] number of sections must be larger than 0, got %lld", op, (long long)sections);
        return CT_TENSORVEC_ERR;
    }
    int64_t size = self->sizes[d], base = size / sections, extra = size % sections;
    int64_t *buf = scratch(sections);
    if (!buf) return CT_TENSORVEC_ERR;
    int64_t at = 0;
    for (int64_t i = 0; i < sections; i++) {
        int64_t len = base + (i < extra ? 1 : 0);
        buf[i] = at;
        buf[sections + i] = len;
        at += len;
    }
    return pieces_free(self, d, sections, buf);
}

static ct_tensorvec tensor_split_indices(ct_tensor *self, ct_intlist indices, int64_t dim, const char *op) {
    if (self->ndim == 0) {
        ct_error(CT_ERR_RUNTIME, "[%s] tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 "
                 "dims", op);
        return CT_TENSORVEC_ERR;
    }
    int d = ct_wrap_dim(dim, self->ndim, op);
    if (d < 0) return CT_TENSORVEC_ERR;
    int64_t size = self->sizes[d], n = indices.n + 1;
    int64_t *buf = scratch(n);
    if (!buf) return CT_TENSORVEC_ERR;
    int64_t prev = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t end = i < indices.n ? indices.data[i] : size;
        /* slice semantics: negative wraps, both ends clamp into [0, size] */
        int64_t s = prev < 0 ? prev + size : prev, e = end < 0 ? end + size : end;
        s = s < 0 ? 0 : s > size ? size : s;
        e = e < 0 ? 0 : e > size ? size : e;
        if (e < s) e = s;
        buf[i] = s;
        buf[n + i] = e - s;
        prev = end;
    }
    return pieces_free(self, d, n, buf);
}

ct_tensorvec ct_tensor_split_impl(ct_tensor *self, int64_t sections, int64_t dim) {
    return tensor_split_sections(self, sections, dim, "tensor_split");
}
ct_tensorvec ct_tensor_split_indices_impl(ct_tensor *self, ct_intlist indices, int64_t dim) {
    return tensor_split_indices(self, indices, dim, "tensor_split");
}

/* hsplit/vsplit/dsplit: need `mindim` dims, split along `dim`, sections must divide. */
static ct_tensorvec xsplit(ct_tensor *self, const int64_t *sections, ct_intlist indices, const char *op, int mindim,
                           int dim) {
    if (self->ndim < mindim) {
        ct_error(CT_ERR_RUNTIME, "[%s] torch.%s requires a tensor with at least %d dimension%s, but got a tensor with "
                 "%d dimensions!", op, op, mindim, mindim == 1 ? "" : "s", self->ndim);
        return CT_TENSORVEC_ERR;
    }
    if (sections) {
        int64_t size = self->sizes[dim];
        if (*sections == 0 || size % *sections) {
            ct_error(CT_ERR_RUNTIME, "[%s] torch.%s attempted to split along dimension %d, but the size of the "
                     "dimension %lld is not divisible by the split_size %lld!", op, op, dim, (long long)size,
                     (long long)*sections);
            return CT_TENSORVEC_ERR;
        }
        return tensor_split_sections(self, *sections, dim, op);
    }
    return tensor_split_indices(self, indices, dim, op);
}

ct_tensorvec ct_hsplit_impl(ct_tensor *self, int64_t sections) {
    return xsplit(self, &sections, CT_INTLIST_NONE, "hsplit", 1, self->ndim == 1 ? 0 : 1);
}
ct_tensorvec ct_hsplit_array_impl(ct_tensor *self, ct_intlist indices) {
    return xsplit(self, NULL, indices, "hsplit", 1, self->ndim == 1 ? 0 : 1);
}
ct_tensorvec ct_vsplit_impl(ct_tensor *self, int64_t sections) { return xsplit(self, &sections, CT_INTLIST_NONE, "vsplit", 2, 0); }
ct_tensorvec ct_vsplit_array_impl(ct_tensor *self, ct_intlist indices) { return xsplit(self, NULL, indices, "vsplit", 2, 0); }
ct_tensorvec ct_dsplit_impl(ct_tensor *self, int64_t sections) { return xsplit(self, &sections, CT_INTLIST_NONE, "dsplit", 3, 2); }
ct_tensorvec ct_dsplit_array_impl(ct_tensor *self, ct_intlist indices) { return xsplit(self, NULL, indices, "dsplit", 3, 2); }

/* ------------------------------------------------------------------ strided views */

ct_tensor *ct_as_strided_impl(ct_tensor *self, ct_intlist size, ct_intlist stride, const int64_t *storage_offset) {
    if (size.n != stride.n)
        return ct_error(CT_ERR_RUNTIME, "[as_strided] mismatch in length of strides and shape");
    if (size.n > CT_MAX_DIM) return ct_error(CT_ERR_RUNTIME, "[as_strided] too many dimensions");
    for (int64_t i = 0; i < stride.n; i++)
        if (stride.data[i] < 0)
            return ct_error(CT_ERR_RUNTIME, "[as_strided] as_strided: Negative strides are not supported at the moment, "
                            "got strides: %lld", (long long)stride.data[i]);
    int64_t off = storage_offset ? *storage_offset : self->offset;
    return mkview(self, off, size.data, stride.data, (int)size.n);
}

ct_tensor *ct_diagonal_impl(ct_tensor *self, int64_t offset, int64_t dim1, int64_t dim2) {
    int a = ct_wrap_dim(dim1, self->ndim, "diagonal");
    if (a < 0) return NULL;
    int b = ct_wrap_dim(dim2, self->ndim, "diagonal");
    if (b < 0) return NULL;
    if (a == b)
        return ct_error(CT_ERR_RUNTIME, "[diagonal] diagonal dimensions cannot be identical %lld, %lld",
                        (long long)dim1, (long long)dim2);
    int64_t len, off = self->offset;
    if (offset >= 0) {
        len = self->sizes[b] - offset < self->sizes[a] ? self->sizes[b] - offset : self->sizes[a];
        if (len > 0) off += offset * self->strides[b];
    } else {
        len = self->sizes[a] + offset < self->sizes[b] ? self->sizes[a] + offset : self->sizes[b];
        if (len > 0) off -= offset * self->strides[a];
    }
    if (len < 0) len = 0;
    int64_t sh[CT_MAX_DIM], st[CT_MAX_DIM];
    int k = 0;
    for (int i = 0; i < self->ndim; i++) {
        if (i == a || i == b) continue;
        sh[k] = self->sizes[i];
        st[k] = self->strides[i];
        k++;
    }
    sh[k] = len;
    st[k] = self->strides[a] + self->strides[b];
    return mkview(self, off, sh, st, k + 1);
}

/* ------------------------------------------------------------------ atleast_Nd, meshgrid */

static ct_tensor *atleast(ct_tensor *self, int n) {
    if (self->ndim >= n) { /* torch returns the input itself */
        ct_tensor_retain(self);
        return self;
    }
    int64_t sh[3], st[3];
    int64_t s0 = self->ndim > 0 ? self->sizes[0] : 1, t0 = self->ndim > 0 ? self->strides[0] : 1;
    if (n == 1) {
        sh[0] = 1, st[0] = 1;
    } else if (n == 2) { /* (n) -> (1, n); () -> (1, 1) */
        sh[0] = 1, st[0] = s0 * t0;
        sh[1] = s0, st[1] = t0;
    } else if (self->ndim <= 1) { /* (n) -> (1, n, 1) */
        sh[0] = 1, st[0] = s0 * t0;
        sh[1] = s0, st[1] = t0;
        sh[2] = 1, st[2] = 1;
    } else { /* (m, n) -> (m, n, 1) */
        sh[0] = self->sizes[0], st[0] = self->strides[0];
        sh[1] = self->sizes[1], st[1] = self->strides[1];
        sh[2] = 1, st[2] = 1;
    }
    return mkview(self, self->offset, sh, st, n);
}

static ct_tensorvec atleast_seq(ct_tensorlist ts, int n) {
    ct_tensorvec v = ct_tensorvec_new(ts.n);
    if (v.n < 0) return v;
    for (int64_t i = 0; i < ts.n; i++) {
        v.data[i] = n == 1 ? ct_atleast_1d(ts.data[i]) : n == 2 ? ct_atleast_2d(ts.data[i]) : ct_atleast_3d(ts.data[i]);
        if (!v.data[i]) {
            ct_tensorvec_release(v);
            return CT_TENSORVEC_ERR;
        }
    }
    return v;
}

ct_tensor *ct_atleast_1d_impl(ct_tensor *self) { return atleast(self, 1); }
ct_tensor *ct_atleast_2d_impl(ct_tensor *self) { return atleast(self, 2); }
ct_tensor *ct_atleast_3d_impl(ct_tensor *self) { return atleast(self, 3); }
ct_tensorvec ct_atleast_1d_Sequence(ct_tensorlist tensors) { return atleast_seq(tensors, 1); }
ct_tensorvec ct_atleast_2d_Sequence(ct_tensorlist tensors) { return atleast_seq(tensors, 2); }
ct_tensorvec ct_atleast_3d_Sequence(ct_tensorlist tensors) { return atleast_seq(tensors, 3); }

ct_tensorvec ct_meshgrid(ct_tensorlist tensors, const char *indexing) {
    int64_t n = tensors.n;
    bool xy = false;
    if (indexing && strcmp(indexing, "ij") != 0) {
        if (strcmp(indexing, "xy") != 0) {
            ct_error(CT_ERR_RUNTIME, "[meshgrid] torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but "
                     "received: %s", indexing);
            return CT_TENSORVEC_ERR;
        }
        xy = true;
    }
    if (n == 0) {
        ct_error(CT_ERR_RUNTIME, "[meshgrid] torch.meshgrid expects a non-empty TensorList");
        return CT_TENSORVEC_ERR;
    }
    if (n > CT_MAX_DIM) {
        ct_error(CT_ERR_RUNTIME, "[meshgrid] too many tensors");
        return CT_TENSORVEC_ERR;
    }
    for (int64_t i = 0; i < n; i++) {
        const ct_tensor *t = tensors.data[i];
        if (t->ndim > 1) {
            ct_error(CT_ERR_RUNTIME, "[meshgrid] torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: "
                     "%dD", t->ndim);
            return CT_TENSORVEC_ERR;
        }
        if (t->dtype != tensors.data[0]->dtype) {
            ct_error(CT_ERR_RUNTIME, "[meshgrid] torch.meshgrid: Expected all tensors in the tensor list to have the "
                     "same dtype, got %s and %s", ct_dtype_name(tensors.data[0]->dtype), ct_dtype_name(t->dtype));
            return CT_TENSORVEC_ERR;
        }
    }
    /* grid axis of input i: swap the first two for 'xy' */
    int64_t shape[CT_MAX_DIM];
    int axis_of[CT_MAX_DIM];
    for (int64_t i = 0; i < n; i++) axis_of[i] = (int)i;
    if (xy && n >= 2) axis_of[0] = 1, axis_of[1] = 0;
    for (int64_t i = 0; i < n; i++) shape[axis_of[i]] = tensors.data[i]->numel;
    ct_tensorvec v = ct_tensorvec_new(n);
    if (v.n < 0) return v;
    for (int64_t i = 0; i < n; i++) {
        const ct_tensor *t = tensors.data[i];
        int64_t st[CT_MAX_DIM] = {0};
        st[axis_of[i]] = t->ndim ? t->strides[0] : 0;
        v.data[i] = mkview(t, t->offset, shape, st, (int)n);
        if (v.data[i] && ct_grad_enabled() && ctg_meshgrid_piece(v.data[i], tensors.data[i], axis_of[i])) {
            ct_tensorvec_release(v);
            return CT_TENSORVEC_ERR;
        }
        if (!v.data[i]) {
            ct_tensorvec_release(v);
            return CT_TENSORVEC_ERR;
        }
    }
    return v;
}

/* ------------------------------------------------------------------ in-place geometry */

/* self takes the geometry of v (a view of self's storage, consumed). New reference to self.
 * Autograd: v was recorded as a view of self (out-of-place op); self takes that history
 * under torch's name for the in-place variant. A leaf requiring grad is refused. */
static ct_tensor *take_geometry(ct_tensor *self, ct_tensor *v, const char *name) {
    if (!v) return NULL;
    if (ct_grad_enabled() && ct_tensor_requires_grad(self) && ct_tensor_is_leaf(self)) {
        ct_tensor_release(v);
        return ct_error(CT_ERR_RUNTIME, "a leaf Variable that requires grad is being used in an in-place operation.");
    }
    self->ndim = v->ndim;
    self->offset = v->offset;
    if (v->ndim) {
        memcpy(self->sizes, v->sizes, sizeof(int64_t) * (size_t)v->ndim);
        memcpy(self->strides, v->strides, sizeof(int64_t) * (size_t)v->ndim);
    }
    ct_tensor_update_meta(self);
    ct_node *fn = ct_tensor_grad_fn(v);
    if (fn && ct_grad_enabled()) {
        fn->name = name;
        if (ct_node_set_output(fn, self, v->autograd->output_nr)) {
            ct_tensor_release(v);
            return NULL;
        }
    }
    ct_tensor_release(v);
    ct_tensor_retain(self);
    return self;
}

/* transpose_impl plus the recording the public op would do */
static ct_tensor *transpose_rec(ct_tensor *self, int64_t d0, int64_t d1, const char *op) {
    ct_tensor *v = transpose_impl(self, d0, d1, op);
    if (v && ct_grad_enabled() && ctg_transpose(v, self, d0, d1)) {
        ct_tensor_release(v);
        return NULL;
    }
    return v;
}

ct_tensor *ct_t_(ct_tensor *self) { return take_geometry(self, ct_t(self), "TBackward1"); }
ct_tensor *ct_transpose_(ct_tensor *self, int64_t dim0, int64_t dim1) {
    return take_geometry(self, transpose_rec(self, dim0, dim1, "transpose_"), "TransposeBackward1");
}
ct_tensor *ct_swapaxes_(ct_tensor *self, int64_t axis0, int64_t axis1) {
    return take_geometry(self, transpose_rec(self, axis0, axis1, "swapaxes_"), "TransposeBackward1");
}
ct_tensor *ct_swapdims_(ct_tensor *self, int64_t dim0, int64_t dim1) {
    return take_geometry(self, transpose_rec(self, dim0, dim1, "swapdims_"), "TransposeBackward1");
}
ct_tensor *ct_squeeze_(ct_tensor *self) { return take_geometry(self, ct_squeeze(self), "SqueezeBackward3"); }
ct_tensor *ct_squeeze__dim(ct_tensor *self, int64_t dim) {
    return take_geometry(self, ct_squeeze_dim(self, dim), "SqueezeBackward4");
}
ct_tensor *ct_squeeze__dims(ct_tensor *self, ct_intlist dim) {
    return take_geometry(self, ct_squeeze_dims(self, dim), "SqueezeBackward5");
}
ct_tensor *ct_unsqueeze_(ct_tensor *self, int64_t dim) {
    return take_geometry(self, ct_unsqueeze(self, dim), "UnsqueezeBackward1");
}
ct_tensor *ct_as_strided_(ct_tensor *self, ct_intlist size, ct_intlist stride, const int64_t *storage_offset) {
    return take_geometry(self, ct_as_strided(self, size, stride, storage_offset), "AsStridedBackward1");
}
