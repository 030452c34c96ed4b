/* Per-tensor autograd state (see NOTE [ Autograd meta ] in ctorch/autograd.h). */
#include <stdlib.h>

#include "ctorch/autograd.h"
#include "../core/internal.h"

static ct_autograd_meta *meta_of(ct_tensor *t) {
    if (!t->autograd) {
        t->autograd = calloc(1, sizeof(ct_autograd_meta));
        if (!t->autograd) ct_error(CT_ERR_MEMORY, "[autograd] out of memory");
    }
    return t->autograd;
}

void ct_autograd_meta_free(ct_autograd_meta *m) {
    if (!m) return;
    ct_tensor_release(m->grad);
    free(m);
}

bool ct_tensor_requires_grad(const ct_tensor *t) {
    return t->autograd && (t->autograd->requires_grad || t->autograd->grad_fn);
}

int ct_tensor_set_requires_grad(ct_tensor *t, bool flag) {
    if (flag && !ct_dtype_is_floating(t->dtype))
        return ct_errorf(CT_ERR_RUNTIME, "only Tensors of floating point and complex dtype can require gradients");
    if (!flag && !t->autograd) return 0;
    ct_autograd_meta *m = meta_of(t);
    if (!m) return -1;
    m->requires_grad = flag;
    return 0;
}

ct_tensor *ct_tensor_grad(const ct_tensor *t) { return t->autograd ? t->autograd->grad : NULL; }

int ct_tensor_set_grad(ct_tensor *t, ct_tensor *grad) {
    if (grad) {
        bool same = grad->ndim == t->ndim && grad->dtype == t->dtype;
        for (int i = 0; same && i < t->ndim; i++) same = grad->sizes[i] == t->sizes[i];
        if (!same) {
            char b1[128], b2[128];
            return ct_errorf(CT_ERR_RUNTIME, "assigned grad has data of a different size or type: %s %s vs %s %s",
                             ct_shape_str(grad->sizes, grad->ndim, b1, sizeof b1), ct_dtype_name(grad->dtype),
                             ct_shape_str(t->sizes, t->ndim, b2, sizeof b2), ct_dtype_name(t->dtype));
        }
    }
    if (!grad && !t->autograd) return 0;
    ct_autograd_meta *m = meta_of(t);
    if (!m) return -1;
    ct_tensor_retain(grad);
    ct_tensor_release(m->grad);
    m->grad = grad;
    return 0;
}
