/* Factories: zeros, ones, full, empty. */
#include "ctorch/ops_gen.h"
#include "../core/internal.h"

static ct_tensor *filled(ct_intlist size, int dtype, ct_scalar v, bool fill) {
    if (size.n > CT_MAX_DIM) return ct_error(CT_ERR_RUNTIME, "[factory] too many dimensions (%lld)", (long long)size.n);
    ct_tensor *t = ct_empty(size.data, (int)size.n, dtype);
    if (!t || !fill) return t;
    if (ct_fill_(t, v) == NULL) {
        ct_tensor_release(t);
        return NULL;
    }
    ct_tensor_release(t); /* ct_fill_ returned a new reference */
    return t;
}

ct_tensor *ct_zeros(ct_intlist size, int dtype, int device) {
    (void)device;
    ct_tensor *t = filled(size, dtype < 0 ? ct_get_default_dtype() : dtype, ct_scalar_i(0), false);
    if (t && t->numel) memset(ct_tensor_data(t), 0, (size_t)t->numel * ct_dtype_sizes[t->dtype]);
    return t;
}
ct_tensor *ct_ones(ct_intlist size, int dtype, int device) {
    (void)device;
    return filled(size, dtype < 0 ? ct_get_default_dtype() : dtype, ct_scalar_i(1), true);
}
ct_tensor *ct_full(ct_intlist size, ct_scalar fill_value, int dtype, int device) {
    (void)device;
    if (dtype < 0) dtype = ct_scalar_dtype(fill_value);
    return filled(size, dtype, fill_value, true);
}
ct_tensor *ct_empty_size(ct_intlist size, int dtype, int device) {
    (void)device;
    return filled(size, dtype < 0 ? ct_get_default_dtype() : dtype, ct_scalar_i(0), false);
}
