/* Dtype/device conversion (to, type_as, float(), ...) and the factories shaped after an
 * existing tensor (new_zeros ..., zeros_like ...). */
#include "ctorch/autograd.h"
#include "ctorch/ops_gen.h"
#include "../core/internal.h"

/* self when nothing changes (as torch: the same tensor object), else a converted copy. */
static ct_tensor *convert(ct_tensor *self, int dtype, bool copy) {
    if (dtype < 0) dtype = self->dtype;
    if (dtype == self->dtype && !copy) {
        ct_tensor_retain(self);
        return self;
    }
    ct_tensor *t = ct_empty_like(self, dtype, -1);
    if (!t) return NULL;
    if (t->numel && ct_copy_into(t, self)) {
        ct_tensor_release(t);
        return NULL;
    }
    if (ct_grad_enabled() && ctg_to_dtype(t, self, dtype, copy)) { /* ToCopyBackward0 */
        ct_tensor_release(t);
        return NULL;
    }
    return t;
}

ct_tensor *ct_to_dtype_method(ct_tensor *self, int dtype, bool non_blocking, bool copy) {
    (void)non_blocking;
    return convert(self, dtype, copy);
}
ct_tensor *ct_to_other(ct_tensor *self, ct_tensor *other, bool non_blocking, bool copy) {
    (void)non_blocking;
    return convert(self, other->dtype, copy);
}
ct_tensor *ct_to_device(ct_tensor *self, int device, int dtype, bool non_blocking, bool copy) {
    (void)device; /* the converter only admits cpu */
    (void)non_blocking;
    return convert(self, dtype, copy);
}
ct_tensor *ct_type_as(ct_tensor *self, ct_tensor *other) { return convert(self, other->dtype, false); }

ct_tensor *ct_cast_float32(ct_tensor *self) { return convert(self, CT_FLOAT32, false); }
ct_tensor *ct_cast_float64(ct_tensor *self) { return convert(self, CT_FLOAT64, false); }
ct_tensor *ct_cast_float16(ct_tensor *self) { return convert(self, CT_FLOAT16, false); }
ct_tensor *ct_cast_bfloat16(ct_tensor *self) { return convert(self, CT_BFLOAT16, false); }
ct_tensor *ct_cast_int64(ct_tensor *self) { return convert(self, CT_INT64, false); }
ct_tensor *ct_cast_int32(ct_tensor *self) { return convert(self, CT_INT32, false); }
ct_tensor *ct_cast_int16(ct_tensor *self) { return convert(self, CT_INT16, false); }
ct_tensor *ct_cast_int8(ct_tensor *self) { return convert(self, CT_INT8, false); }
ct_tensor *ct_cast_uint8(ct_tensor *self) { return convert(self, CT_UINT8, false); }
ct_tensor *ct_cast_bool(ct_tensor *self) { return convert(self, CT_BOOL, false); }
ct_tensor *ct_cpu(ct_tensor *self) {
    ct_tensor_retain(self);
    return self;
}

/* ------------------------------------------------------------------ new_* */

static int dt_or(int dtype, const ct_tensor *self) { return dtype < 0 ? self->dtype : dtype; }

ct_tensor *ct_new_zeros(ct_tensor *self, ct_intlist size, int dtype, int device) {
    return ct_zeros(size, dt_or(dtype, self), device);
}
ct_tensor *ct_new_ones(ct_tensor *self, ct_intlist size, int dtype, int device) {
    return ct_ones(size, dt_or(dtype, self), device);
}
ct_tensor *ct_new_empty(ct_tensor *self, ct_intlist size, int dtype, int device) {
    return ct_empty_size(size, dt_or(dtype, self), device);
}
ct_tensor *ct_new_full(ct_tensor *self, ct_intlist size, ct_scalar fill_value, int dtype, int device) {
    return ct_full(size, fill_value, dt_or(dtype, self), device);
}

/* ------------------------------------------------------------------ *_like */

/* Uninitialised tensor shaped like self. As torch's preserve_format: when self is dense
 * and non-overlapping, the result gets the same stride order (a transposed input gives a
 * transposed result); otherwise contiguous. */
ct_tensor *ct_empty_like(ct_tensor *self, int dtype, int device) {
    (void)device;
    dtype = dt_or(dtype, self);
    int nd = self->ndim;
    if (ct_tensor_is_contiguous(self) || nd < 2 || self->numel == 0) return ct_empty(self->sizes, nd, dtype);
    /* order dims by decreasing stride (stable; size-1 dims keep their place) */
    int perm[CT_MAX_DIM];
    for (int i = 0; i < nd; i++) perm[i] = i;
    for (int i = 1; i < nd; i++)
        for (int j = i; j > 0 && self->strides[perm[j - 1]] < self->strides[perm[j]]; j--) {
            int tmp = perm[j];
            perm[j] = perm[j - 1];
            perm[j - 1] = tmp;
        }
    /* dense and non-overlapping: strides are exactly the contiguous strides of the order */
    int64_t expect = 1;
    bool dense = true;
    for (int i = nd - 1; i >= 0; i--) {
        int d = perm[i];
        if (self->sizes[d] != 1 && self->strides[d] != expect) dense = false;
        expect *= self->sizes[d];
    }
    if (!dense) return ct_empty(self->sizes, nd, dtype);
    int64_t psz[CT_MAX_DIM];
    for (int i = 0; i < nd; i++) psz[i] = self->sizes[perm[i]];
    ct_tensor *base = ct_empty(psz, nd, dtype);
    if (!base) return NULL;
    int64_t st[CT_MAX_DIM];
    for (int i = 0; i < nd; i++) st[perm[i]] = base->strides[i];
    ct_tensor *r = ct_tensor_new_view(base->storage, dtype, 0, self->sizes, st, nd);
    ct_tensor_release(base);
    return r;
}

static ct_tensor *filled_like(ct_tensor *self, int dtype, ct_scalar v) {
    ct_tensor *t = ct_empty_like(self, dtype, -1);
    if (!t) return NULL;
    if (t->numel && !ct_fill_(t, v)) {
        ct_tensor_release(t);
        return NULL;
    }
    if (t->numel) ct_tensor_release(t); /* ct_fill_ returned a new reference */
    return t;
}

ct_tensor *ct_zeros_like(ct_tensor *self, int dtype, int device) {
    (void)device;
    return filled_like(self, dtype, ct_scalar_i(0));
}
ct_tensor *ct_ones_like(ct_tensor *self, int dtype, int device) {
    (void)device;
    return filled_like(self, dtype, ct_scalar_i(1));
}
ct_tensor *ct_full_like(ct_tensor *self, ct_scalar fill_value, int dtype, int device) {
    (void)device;
    return filled_like(self, dtype, fill_value);
}
