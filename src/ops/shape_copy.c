/* Shape ops that produce new storage: cat/stack and friends, repeat/tile,
 * repeat_interleave, flip, roll, diag/diag_embed, tril/triu. Copies go through
 * ct_copy_into on views (the iterator coalesces dims, so contiguous runs become memcpy)
 * or through direct memcpy/memset loops. */
#include <stdlib.h>

#include "ctorch/autograd.h"
#include "ctorch/ops_gen.h"
#include "../core/internal.h"

static ct_tensor *view_of(const ct_tensor *t, int64_t offset, const int64_t *sizes, const int64_t *strides, int nd) {
    return ct_tensor_new_view(t->storage, t->dtype, offset, sizes, strides, nd);
}

/* dst = src where dst is a fresh view; releases dst. 0 on success. */
static int copy_to_view(ct_tensor *dst, const ct_tensor *src) {
    if (!dst) return -1;
    int rc = dst->numel ? ct_copy_into(dst, src) : 0;
    ct_tensor_release(dst);
    return rc;
}

/* ------------------------------------------------------------------ cat / stack */

static bool legacy_empty(const ct_tensor *t) { return t->ndim == 1 && t->sizes[0] == 0; }

static ct_tensor *cat_impl(ct_tensorlist ts, int64_t dim, const char *op) {
    if (ts.n == 0) return ct_error(CT_ERR_VALUE, "[%s] torch.cat(): expected a non-empty list of Tensors", op);
    int dtype = ts.data[0]->dtype;
    const ct_tensor *ref = NULL;
    for (int64_t i = 0; i < ts.n; i++) {
        const ct_tensor *t = ts.data[i];
        if (t->ndim == 0)
            return ct_error(CT_ERR_RUNTIME, "[%s] zero-dimensional tensor (at position %lld) cannot be concatenated", op,
                            (long long)i);
        dtype = ct_promote_types(dtype, t->dtype);
        if (!ref && !legacy_empty(t)) ref = t;
    }
    if (!ref) {
        int64_t z = 0; /* all inputs are legacy empty: torch skips the dim check too */
        return ct_empty(&z, 1, dtype);
    }
    int d = ct_wrap_dim(dim, ref->ndim, op);
    if (d < 0) return NULL;
    int64_t shape[CT_MAX_DIM];
    memcpy(shape, ref->sizes, sizeof(int64_t) * (size_t)ref->ndim);
    shape[d] = 0;
    for (int64_t i = 0; i < ts.n; i++) {
        const ct_tensor *t = ts.data[i];
        if (legacy_empty(t)) continue;
        if (t->ndim != ref->ndim)
            return ct_error(CT_ERR_RUNTIME, "[%s] Tensors must have same number of dimensions: got %d and %d", op,
                            ref->ndim, t->ndim);
        for (int k = 0; k < t->ndim; k++)
            if (k != d && t->sizes[k] != ref->sizes[k])
                return ct_error(CT_ERR_RUNTIME, "[%s] Sizes of tensors must match except in dimension %d. Expected size "
                                "%lld but got size %lld for tensor number %lld in the list.", op, d,
                                (long long)ref->sizes[k], (long long)t->sizes[k], (long long)i);
        shape[d] += t->sizes[d];
    }
    ct_tensor *out = ct_empty(shape, ref->ndim, dtype);
    if (!out) return NULL;
    int64_t at = 0;
    for (int64_t i = 0; i < ts.n; i++) {
        const ct_tensor *t = ts.data[i];
        if (legacy_empty(t)) continue;
        if (t->sizes[d]) {
            shape[d] = t->sizes[d];
            if (copy_to_view(view_of(out, at * out->strides[d], shape, out->strides, out->ndim), t)) {
                ct_tensor_release(out);
                return NULL;
            }
        }
        at += t->sizes[d];
    }
    return out;
}

ct_tensor *ct_cat_impl(ct_tensorlist tensors, int64_t dim) { return cat_impl(tensors, dim, "cat"); }
ct_tensor *ct_concat_impl(ct_tensorlist tensors, int64_t dim) { return cat_impl(tensors, dim, "concat"); }
ct_tensor *ct_concatenate_impl(ct_tensorlist tensors, int64_t axis) { return cat_impl(tensors, axis, "concatenate"); }

ct_tensor *ct_stack_impl(ct_tensorlist tensors, int64_t dim) {
    if (tensors.n == 0) return ct_error(CT_ERR_RUNTIME, "[stack] stack expects a non-empty TensorList");
    const ct_tensor *r = tensors.data[0];
    int d = ct_wrap_dim(dim, r->ndim + 1, "stack");
    if (d < 0) return NULL;
    if (r->ndim >= CT_MAX_DIM) return ct_error(CT_ERR_RUNTIME, "[stack] too many dimensions");
    int dtype = r->dtype;
    for (int64_t i = 1; i < tensors.n; i++) {
        const ct_tensor *t = tensors.data[i];
        bool same = t->ndim == r->ndim;
        for (int k = 0; same && k < t->ndim; k++) same = t->sizes[k] == r->sizes[k];
        if (!same) {
            char b1[256], b2[256];
            return ct_error(CT_ERR_RUNTIME, "[stack] stack expects each tensor to be equal size, but got %s at entry 0 "
                            "and %s at entry %lld", ct_shape_str(r->sizes, r->ndim, b1, sizeof b1),
                            ct_shape_str(t->sizes, t->ndim, b2, sizeof b2), (long long)i);
        }
        dtype = ct_promote_types(dtype, t->dtype);
    }
    int64_t shape[CT_MAX_DIM];
    for (int k = 0, j = 0; k <= r->ndim; k++) shape[k] = k == d ? tensors.n : r->sizes[j++];
    ct_tensor *out = ct_empty(shape, r->ndim + 1, dtype);
    if (!out) return NULL;
    if (out->numel == 0) return out;
    int64_t sh[CT_MAX_DIM], st[CT_MAX_DIM];
    for (int k = 0, j = 0; k <= r->ndim; k++)
        if (k != d) sh[j] = out->sizes[k], st[j] = out->strides[k], j++;
    for (int64_t i = 0; i < tensors.n; i++) {
        if (copy_to_view(view_of(out, i * out->strides[d], sh, st, r->ndim), tensors.data[i])) {
            ct_tensor_release(out);
            return NULL;
        }
    }
    return out;
}

/* Apply `fn` to each tensor, cat the results along dim (or dim_if_1d when the first
 * transformed tensor is 1-D and dim_if_1d >= 0). */
static ct_tensor *stack_family(ct_tensorlist ts, const char *op, int kind) {
    if (ts.n == 0) return ct_error(CT_ERR_RUNTIME, "[%s] %s expects a non-empty TensorList", op, op);
    ct_tensor **v = calloc((size_t)ts.n, sizeof(ct_tensor *));
    if (!v) return ct_error(CT_ERR_MEMORY, "[%s] out of memory", op);
    ct_tensor *res = NULL;
    for (int64_t i = 0; i < ts.n; i++) {
        ct_tensor *t = ts.data[i];
        switch (kind) {
        case 1: v[i] = ct_atleast_1d(t); break;
        case 2: v[i] = ct_atleast_2d(t); break;
        case 3: v[i] = ct_atleast_3d(t); break;
        default: { /* column_stack: 0-d and 1-d become columns */
            if (t->ndim <= 1) {
                int64_t sh[2] = {t->numel, 1};
                v[i] = ct_reshape(t, (ct_intlist){sh, 2});
            } else {
                ct_tensor_retain(t);
                v[i] = t;
            }
        }
        }
        if (!v[i]) goto done;
    }
    int64_t dim = kind == 1 ? (v[0]->ndim == 1 ? 0 : 1) : kind == 2 ? 0 : kind == 3 ? 2 : 1;
    res = cat_impl((ct_tensorlist){v, ts.n}, dim, op);
    if (res && ct_grad_enabled() && ctg_cat(res, (ct_tensorlist){v, ts.n}, dim)) {
        ct_tensor_release(res);
        res = NULL;
    }
done:
    for (int64_t i = 0; i < ts.n; i++) ct_tensor_release(v[i]);
    free(v);
    return res;
}

ct_tensor *ct_hstack(ct_tensorlist tensors) { return stack_family(tensors, "hstack", 1); }
ct_tensor *ct_vstack(ct_tensorlist tensors) { return stack_family(tensors, "vstack", 2); }
ct_tensor *ct_row_stack(ct_tensorlist tensors) { return stack_family(tensors, "row_stack", 2); }
ct_tensor *ct_dstack(ct_tensorlist tensors) { return stack_family(tensors, "dstack", 3); }
ct_tensor *ct_column_stack(ct_tensorlist tensors) { return stack_family(tensors, "column_stack", 0); }

/* ------------------------------------------------------------------ repeat / tile */

ct_tensor *ct_repeat_impl(ct_tensor *self, ct_intlist repeats) {
    if (repeats.n < self->ndim)
        return ct_error(CT_ERR_RUNTIME, "[repeat] Number of dimensions of repeat dims can not be smaller than number of "
                        "dimensions of tensor");
    if (repeats.n > CT_MAX_DIM) return ct_error(CT_ERR_RUNTIME, "[repeat] too many dimensions");
    int n = (int)repeats.n, lead = n - self->ndim;
    int64_t out_shape[CT_MAX_DIM];
    for (int i = 0; i < n; i++) {
        if (repeats.data[i] < 0)
            return ct_error(CT_ERR_RUNTIME, "[repeat] Trying to create tensor with negative dimension %lld",
                            (long long)repeats.data[i]);
        out_shape[i] = repeats.data[i] * (i < lead ? 1 : self->sizes[i - lead]);
    }
    ct_tensor *out = ct_empty(out_shape, n, self->dtype);
    if (!out || out->numel == 0) return out;
    /* The output seen as (r0, s0, r1, s1, ...): a broadcast (stride 0) view of the input
     * on the r axes. Axes with r == 1 or s == 1 are left out to stay within CT_MAX_DIM. */
    int64_t vs[2 * CT_MAX_DIM], is[2 * CT_MAX_DIM], os[2 * CT_MAX_DIM];
    int k = 0;
    int64_t ost = 1;
    int64_t tmp_sz[2 * CT_MAX_DIM], tmp_is[2 * CT_MAX_DIM];
    int m = 0;
    for (int i = 0; i < n; i++) {
        int64_t s = i < lead ? 1 : self->sizes[i - lead], st = i < lead ? 0 : self->strides[i - lead];
        tmp_sz[m] = repeats.data[i], tmp_is[m] = 0, m++;
        tmp_sz[m] = s, tmp_is[m] = st, m++;
    }
    for (int j = m - 1; j >= 0; j--) { /* contiguous strides of the output in the split view */
        if (tmp_sz[j] != 1) {
            vs[k] = tmp_sz[j], is[k] = tmp_is[j], os[k] = ost;
            k++;
        }
        ost *= tmp_sz[j];
    }
    if (k > CT_MAX_DIM) {
        ct_tensor_release(out);
        return ct_error(CT_ERR_RUNTIME, "[repeat] too many non-trivial dimensions");
    }
    int64_t a[CT_MAX_DIM], b[CT_MAX_DIM], c[CT_MAX_DIM];
    for (int j = 0; j < k; j++) a[j] = vs[k - 1 - j], b[j] = is[k - 1 - j], c[j] = os[k - 1 - j];
    ct_tensor *src = view_of(self, self->offset, a, b, k);
    int rc = src ? copy_to_view(view_of(out, 0, a, c, k), src) : -1;
    ct_tensor_release(src);
    if (rc) {
        ct_tensor_release(out);
        return NULL;
    }
    return out;
}

ct_tensor *ct_tile(ct_tensor *self, ct_intlist dims) {
    if (dims.n >= self->ndim) return ct_repeat(self, dims);
    int64_t r[CT_MAX_DIM];
    int pad = self->ndim - (int)dims.n;
    for (int i = 0; i < self->ndim; i++) r[i] = i < pad ? 1 : dims.data[i - pad];
    return ct_repeat(self, (ct_intlist){r, self->ndim});
}

/* ------------------------------------------------------------------ repeat_interleave */

/* out[..., j, ...] = x[..., i, ...] repeated reps[i] times along dim d (x contiguous). */
static ct_tensor *interleave(ct_tensor *self, const int64_t *dimp, const int64_t *reps, int64_t nrep,
                             const int64_t *output_size) {
    ct_tensor *x;
    int d;
    if (!dimp) {
        x = ct_contig_as(self, -1);
        if (!x) return NULL;
        ct_tensor *f = view_of(x, x->offset, &x->numel, NULL, 1);
        ct_tensor_release(x);
        if (!f) return NULL;
        x = f;
        d = 0;
    } else {
        d = ct_wrap_dim(*dimp, self->ndim, "repeat_interleave");
        if (d < 0) return NULL;
        x = ct_contig_as(self, -1);
        if (!x) return NULL;
    }
    int64_t n = x->sizes[d];
    if (nrep != 1 && nrep != n) {
        ct_tensor_release(x);
        return ct_error(CT_ERR_RUNTIME, "[repeat_interleave] repeats must have the same size as input along dim, but "
                        "got repeats.size(0) = %lld and input.size(%d) = %lld", (long long)nrep, d, (long long)n);
    }
    int64_t total = 0;
    for (int64_t i = 0; i < n; i++) total += reps[nrep == 1 ? 0 : i];
    if (output_size && *output_size != total) {
        ct_tensor_release(x);
        return ct_error(CT_ERR_RUNTIME, "[repeat_interleave] repeat_interleave: Invalid output_size, expected %lld but "
                        "got %lld", (long long)total, (long long)*output_size);
    }
    int64_t shape[CT_MAX_DIM];
    memcpy(shape, x->sizes, sizeof(int64_t) * (size_t)x->ndim);
    shape[d] = total;
    ct_tensor *out = ct_empty(shape, x->ndim, x->dtype);
    if (!out) {
        ct_tensor_release(x);
        return NULL;
    }
    int64_t outer = 1, inner = ct_dtype_sizes[x->dtype];
    for (int k = 0; k < d; k++) outer *= x->sizes[k];
    for (int k = d + 1; k < x->ndim; k++) inner *= x->sizes[k];
    const char *src = ct_tensor_data(x);
    char *dst = ct_tensor_data(out);
    if (out->numel)
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < n; i++) {
                const char *row = src + (o * n + i) * inner;
                for (int64_t r = reps[nrep == 1 ? 0 : i]; r > 0; r--, dst += inner) memcpy(dst, row, (size_t)inner);
            }
    ct_tensor_release(x);
    return out;
}

/* Read a 0/1-D integer repeats tensor into a malloc'd array (checks sign). */
static int64_t *read_repeats(const ct_tensor *r, int64_t *n) {
    if (r->ndim > 1) return ct_error(CT_ERR_RUNTIME, "[repeat_interleave] repeats must be 0-dim or 1-dim tensor");
    if (!ct_dtype_is_integral(r->dtype, false))
        return ct_error(CT_ERR_RUNTIME, "[repeat_interleave] repeats has to be Long or Int tensor");
    *n = r->numel;
    int64_t *v = malloc(sizeof(int64_t) * (size_t)(r->numel ? r->numel : 1));
    if (!v) return ct_error(CT_ERR_MEMORY, "[repeat_interleave] out of memory");
    const char *p = ct_tensor_data(r);
    int64_t step = (r->ndim ? r->strides[0] : 0) * (int64_t)ct_dtype_sizes[r->dtype];
    for (int64_t i = 0; i < r->numel; i++) {
        v[i] = ct_load_i64(p + i * step, r->dtype);
        if (v[i] < 0) {
            free(v);
            return ct_error(CT_ERR_RUNTIME, "[repeat_interleave] repeats can not be negative");
        }
    }
    return v;
}

/* torch validates dim first; a 0-dim input admits no dim at all (it is flattened to 1-D
 * first, as torch does, where dim -1/0 would be fine, but torch reports dim 1). */
static int check_ri_dim(const ct_tensor *self, const int64_t *dim) {
    if (!dim) return 0;
    if (self->ndim == 0)
        return ct_errorf(CT_ERR_INDEX, "[repeat_interleave] Dimension out of range (expected to be in range of [-1, 0], "
                         "but got 1)");
    return ct_wrap_dim(*dim, self->ndim, "repeat_interleave") < 0 ? -1 : 0;
}

ct_tensor *ct_repeat_interleave_self_int_impl(ct_tensor *self, int64_t repeats, const int64_t *dim,
                                         const int64_t *output_size) {
    if (self->ndim == 0) { /* torch's order for 0-dim inputs: dim range, repeats, then no dim at all */
        if (dim && ct_wrap_dim(*dim, 0, "repeat_interleave") < 0) return NULL;
        if (repeats < 0) return ct_error(CT_ERR_RUNTIME, "[repeat_interleave] Repeats must be non-negative");
    }
    if (check_ri_dim(self, dim)) return NULL;
    if (repeats < 0) return ct_error(CT_ERR_RUNTIME, "[repeat_interleave] repeats can not be negative");
    return interleave(self, dim, &repeats, 1, output_size);
}

ct_tensor *ct_repeat_interleave_self_Tensor_impl(ct_tensor *self, ct_tensor *repeats, const int64_t *dim,
                                            const int64_t *output_size) {
    if (check_ri_dim(self, dim)) return NULL;
    int64_t n;
    int64_t *r = read_repeats(repeats, &n);
    if (!r) return NULL;
    ct_tensor *out = interleave(self, dim, r, n, output_size);
    free(r);
    return out;
}

ct_tensor *ct_repeat_interleave_Tensor(ct_tensor *repeats, const int64_t *output_size) {
    if (repeats->ndim != 1)
        return ct_error(CT_ERR_RUNTIME, "[repeat_interleave] repeat_interleave only accept 1D vector as repeat");
    int64_t n;
    int64_t *r = read_repeats(repeats, &n);
    if (!r) return NULL;
    int64_t total = 0;
    for (int64_t i = 0; i < n; i++) total += r[i];
    ct_tensor *out = NULL;
    if (output_size && *output_size != total) {
        ct_error(CT_ERR_RUNTIME, "[repeat_interleave] repeat_interleave: Invalid output_size, expected %lld but got %lld",
                 (long long)total, (long long)*output_size);
    } else {
        out = ct_empty(&total, 1, repeats->dtype);
        if (out) {
            char *p = ct_tensor_data(out);
            size_t es = ct_dtype_sizes[out->dtype];
            for (int64_t i = 0, j = 0; i < n; i++)
                for (int64_t k = 0; k < r[i]; k++, j++) ct_store_i64(p + (size_t)j * es, out->dtype, i);
        }
    }
    free(r);
    return out;
}

/* ------------------------------------------------------------------ flip / roll */

/* Element offset of row r (row-major over all dims but the last) of view v. */
static inline int64_t row_off(const ct_tensor *v, int64_t r) {
    int64_t off = 0;
    for (int d = v->ndim - 2; d >= 0; d--) {
        off += (r % v->sizes[d]) * v->strides[d];
        r /= v->sizes[d];
    }
    return off;
}

typedef struct { const ct_tensor *v; char *dst; int64_t n, st; } rev_ctx;

/* Reverse-copy rows [r0, r1): dst[r][j] = row(r)[(n - 1 - j) * st], rows enumerated over
 * the outer dims of view v (whose outer strides already encode the other flips). */
#define REV_ROWS(T)                                                                    \
    for (int64_t r = r0; r < r1; r++) {                                                \
        const T *sp = (const T *)base + row_off(c->v, r);                              \
        T *dp = (T *)c->dst + r * n;                                                   \
        if (st == 1)                                                                   \
            for (int64_t j = 0; j < n; j++) dp[j] = sp[n - 1 - j];                     \
        else                                                                           \
            for (int64_t j = 0; j < n; j++) dp[j] = sp[(n - 1 - j) * st];              \
    }

static void rev_rows(int64_t r0, int64_t r1, void *ctx) {
    const rev_ctx *c = ctx;
    const char *base = ct_tensor_data(c->v);
    int64_t n = c->n, st = c->st;
    switch (ct_dtype_sizes[c->v->dtype]) {
    case 1: REV_ROWS(uint8_t) break;
    case 2: REV_ROWS(uint16_t) break;
    case 4: REV_ROWS(uint32_t) break;
    default: REV_ROWS(uint64_t) break;
    }
}
#undef REV_ROWS

ct_tensor *ct_flip_impl(ct_tensor *self, ct_intlist dims) {
    bool f[CT_MAX_DIM] = {false};
    for (int64_t i = 0; i < dims.n; i++) {
        int d = ct_wrap_dim(dims.data[i], self->ndim, "flip");
        if (d < 0) return NULL;
        if (self->ndim == 0) continue;
        if (f[d]) return ct_error(CT_ERR_RUNTIME, "[flip] dims has duplicates, original flip dims size=%lld, but unique "
                                  "flip dims size=%lld", (long long)dims.n, (long long)dims.n - 1);
        f[d] = true;
    }
    ct_tensor *out = ct_empty(self->sizes, self->ndim, self->dtype);
    if (!out || out->numel == 0) return out;
    /* a view with the flipped outer dims as negative strides */
    int nd = self->ndim;
    int64_t vst[CT_MAX_DIM], off = self->offset;
    bool last = nd > 0 && f[nd - 1] && self->sizes[nd - 1] > 1;
    for (int i = 0; i < nd; i++) {
        vst[i] = self->strides[i];
        if (f[i] && (i < nd - 1 || !last)) {
            off += (self->sizes[i] - 1) * vst[i];
            vst[i] = -vst[i];
        }
    }
    ct_tensor *v = view_of(self, off, self->sizes, vst, nd);
    if (!v) {
        ct_tensor_release(out);
        return NULL;
    }
    if (!last) { /* rows keep their order: the copy iterator memcpy's them */
        int rc = ct_copy_into(out, v);
        ct_tensor_release(v);
        if (rc) {
            ct_tensor_release(out);
            return NULL;
        }
        return out;
    }
    /* the last dim is reversed: a per-row reverse copy */
    int64_t n = v->sizes[nd - 1];
    rev_ctx c = {v, ct_tensor_data(out), n, v->strides[nd - 1]};
    ct_parallel_for(out->numel / n, CT_GRAIN / n + 1, rev_rows, &c);
    ct_tensor_release(v);
    return out;
}

ct_tensor *ct_fliplr(ct_tensor *self) {
    if (self->ndim < 2) return ct_error(CT_ERR_RUNTIME, "[fliplr] Input must be >= 2-d.");
    int64_t d = 1;
    return ct_flip(self, (ct_intlist){&d, 1});
}

ct_tensor *ct_flipud(ct_tensor *self) {
    if (self->ndim < 1) return ct_error(CT_ERR_RUNTIME, "[flipud] Input must be >= 1-d.");
    int64_t d = 0;
    return ct_flip(self, (ct_intlist){&d, 1});
}

/* out = x rolled by `shift` along d: two block copies. */
static ct_tensor *roll_one(ct_tensor *x, int d, int64_t shift) {
    ct_tensor *out = ct_empty(x->sizes, x->ndim, x->dtype);
    if (!out || out->numel == 0) return out;
    int64_t n = x->sizes[d];
    int64_t s = ((shift % n) + n) % n;
    int64_t sh[CT_MAX_DIM];
    memcpy(sh, x->sizes, sizeof(int64_t) * (size_t)x->ndim);
    int rc = 0;
    /* out[s:] = x[:n-s]; out[:s] = x[n-s:] */
    if (n - s > 0) {
        sh[d] = n - s;
        ct_tensor *sv = view_of(x, x->offset, sh, x->strides, x->ndim);
        rc = sv ? copy_to_view(view_of(out, s * out->strides[d], sh, out->strides, out->ndim), sv) : -1;
        ct_tensor_release(sv);
    }
    if (!rc && s > 0) {
        sh[d] = s;
        ct_tensor *sv = view_of(x, x->offset + (n - s) * x->strides[d], sh, x->strides, x->ndim);
        rc = sv ? copy_to_view(view_of(out, 0, sh, out->strides, out->ndim), sv) : -1;
        ct_tensor_release(sv);
    }
    if (rc) {
        ct_tensor_release(out);
        return NULL;
    }
    return out;
}

ct_tensor *ct_roll_impl(ct_tensor *self, ct_intlist shifts, ct_intlist dims) {
    if (dims.n < 0) dims.n = 0; /* None: roll the flattened tensor */
    if (shifts.n == 0) return ct_error(CT_ERR_RUNTIME, "[roll] `shifts` required");
    if (dims.n == 0 && shifts.n == 1) {
        if (self->numel == 0) return ct_clone(self);
        ct_tensor *flat = ct_contig_as(self, -1);
        if (!flat) return NULL;
        ct_tensor *f1 = view_of(flat, flat->offset, &flat->numel, NULL, 1);
        ct_tensor_release(flat);
        if (!f1) return NULL;
        ct_tensor *r = roll_one(f1, 0, shifts.data[0]);
        ct_tensor_release(f1);
        if (!r) return NULL;
        ct_tensor *v = view_of(r, 0, self->sizes, NULL, self->ndim);
        ct_tensor_release(r);
        return v;
    }
    if (shifts.n != dims.n)
        return ct_error(CT_ERR_RUNTIME, "[roll] shifts and dimensions must align. shifts: %lld, dims:%lld",
                        (long long)shifts.n, (long long)dims.n);
    if (self->numel == 0) return ct_clone(self);
    if (self->ndim == 0)
        return ct_error(CT_ERR_INDEX, "[roll] Dimension specified as %lld but tensor has no dimensions",
                        (long long)dims.data[0]);
    ct_tensor *cur = self;
    ct_tensor_retain(cur);
    for (int64_t i = 0; i < dims.n; i++) {
        int d = ct_wrap_dim(dims.data[i], self->ndim, "roll");
        ct_tensor *nx = d < 0 ? NULL : roll_one(cur, d, shifts.data[i]);
        ct_tensor_release(cur);
        if (!nx) return NULL;
        cur = nx;
    }
    return cur;
}

/* ------------------------------------------------------------------ diag / tril / triu */

ct_tensor *ct_diag_impl(ct_tensor *self, int64_t diagonal) {
    if (self->ndim == 1) {
        int64_t n = self->sizes[0] + (diagonal < 0 ? -diagonal : diagonal);
        int64_t sh[2] = {n, n};
        ct_tensor *out = ct_zeros((ct_intlist){sh, 2}, self->dtype, -1);
        if (!out) return NULL;
        if (copy_to_view(ct_diagonal(out, diagonal, 0, 1), self)) {
            ct_tensor_release(out);
            return NULL;
        }
        return out;
    }
    if (self->ndim == 2) {
        ct_tensor *v = ct_diagonal(self, diagonal, 0, 1);
        if (!v) return NULL;
        ct_tensor *r = ct_clone(v);
        ct_tensor_release(v);
        return r;
    }
    return ct_error(CT_ERR_RUNTIME, "[diag] diag(): Supports 1D or 2D tensors. Got %dD", self->ndim);
}

ct_tensor *ct_diag_embed_impl(ct_tensor *self, int64_t offset, int64_t dim1, int64_t dim2) {
    int nd = self->ndim + 1;
    int a = ct_wrap_dim(dim1, nd, "diag_embed");
    if (a < 0) return NULL;
    int b = ct_wrap_dim(dim2, nd, "diag_embed");
    if (b < 0) return NULL;
    if (a == b)
        return ct_error(CT_ERR_RUNTIME, "[diag_embed] diagonal dimensions cannot be identical %lld, %lld",
                        (long long)dim1, (long long)dim2);
    if (nd > CT_MAX_DIM) return ct_error(CT_ERR_RUNTIME, "[diag_embed] too many dimensions");
    int64_t last = self->sizes[self->ndim - 1] + (offset < 0 ? -offset : offset);
    int64_t sh[CT_MAX_DIM];
    for (int k = 0, j = 0; k < nd; k++) sh[k] = (k == a || k == b) ? last : self->sizes[j++];
    ct_tensor *out = ct_zeros((ct_intlist){sh, nd}, self->dtype, -1);
    if (!out) return NULL;
    if (copy_to_view(ct_diagonal(out, offset, a, b), self)) {
        ct_tensor_release(out);
        return NULL;
    }
    return out;
}

/* Band of each matrix: row i keeps columns [keep_lo, keep_hi) (tril: [0, i+k+1), triu:
 * [i+k, cols)). */
static inline void band(int64_t i, int64_t k, int64_t cols, bool lower, int64_t *lo, int64_t *hi) {
    int64_t a = lower ? 0 : i + k, b = lower ? i + k + 1 : cols;
    *lo = a < 0 ? 0 : a > cols ? cols : a;
    *hi = b < *lo ? *lo : b > cols ? cols : b;
}

typedef struct { char *dst; const char *src; int64_t rows, cols, k; size_t es; bool lower; } tri_ctx;

/* Rows [r0, r1) (counted over all matrices) of dst = band of src; src may alias dst. */
static void tri_rows(int64_t r0, int64_t r1, void *ctx) {
    const tri_ctx *c = ctx;
    size_t es = c->es, rb = (size_t)c->cols * es;
    for (int64_t r = r0; r < r1; r++) {
        size_t ro = (size_t)r * rb;
        int64_t lo, hi;
        band(r % c->rows, c->k, c->cols, c->lower, &lo, &hi);
        if (lo > 0) memset(c->dst + ro, 0, (size_t)lo * es);
        if (hi > lo && c->dst != c->src)
            memcpy(c->dst + ro + (size_t)lo * es, c->src + ro + (size_t)lo * es, (size_t)(hi - lo) * es);
        if (hi < c->cols) memset(c->dst + ro + (size_t)hi * es, 0, (size_t)(c->cols - hi) * es);
    }
}

/* dst (contiguous) = band of src (contiguous, may alias dst): one pass, memcpy + memset per row. */
static void tri_copy(char *dst, const char *src, const ct_tensor *t, int64_t k, bool lower) {
    if (t->numel == 0) return;
    tri_ctx c = {dst, src, t->sizes[t->ndim - 2], t->sizes[t->ndim - 1], k, ct_dtype_sizes[t->dtype], lower};
    ct_parallel_for(t->numel / c.cols, CT_GRAIN / c.cols + 1, tri_rows, &c);
}

static ct_tensor *tri(ct_tensor *self, int64_t k, bool lower, const char *op) {
    if (self->ndim < 2)
        return ct_error(CT_ERR_RUNTIME, "[%s] %s: input tensor must have at least 2 dimensions", op, op);
    ct_tensor *src = ct_contig_as(self, -1);
    if (!src) return NULL;
    ct_tensor *out = src != self ? src : ct_empty(self->sizes, self->ndim, self->dtype);
    if (!out) {
        ct_tensor_release(src);
        return NULL;
    }
    tri_copy(ct_tensor_data(out), ct_tensor_data(src), src, k, lower);
    if (out != src) ct_tensor_release(src);
    return out;
}

ct_tensor *ct_tril_impl(ct_tensor *self, int64_t diagonal) { return tri(self, diagonal, true, "tril"); }
ct_tensor *ct_triu_impl(ct_tensor *self, int64_t diagonal) { return tri(self, diagonal, false, "triu"); }

static ct_tensor *tri_(ct_tensor *self, int64_t k, bool lower, const char *op) {
    if (self->ndim < 2)
        return ct_error(CT_ERR_RUNTIME, "[%s] %s: input tensor must have at least 2 dimensions", op, op);
    if (ct_tensor_is_contiguous(self)) {
        char *p = ct_tensor_data(self);
        tri_copy(p, p, self, k, lower);
        ct_tensor_bump_version(self);
    } else {
        ct_tensor *r = tri(self, k, lower, op);
        if (!r) return NULL;
        int rc = ct_copy_into(self, r);
        ct_tensor_release(r);
        if (rc) return NULL;
    }
    ct_tensor_retain(self);
    return self;
}

ct_tensor *ct_tril__impl(ct_tensor *self, int64_t diagonal) { return tri_(self, diagonal, true, "tril_"); }
ct_tensor *ct_triu__impl(ct_tensor *self, int64_t diagonal) { return tri_(self, diagonal, false, "triu_"); }
