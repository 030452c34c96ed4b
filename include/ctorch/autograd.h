/* ctorch/autograd.h — per-tensor autograd state (requires_grad, .grad). The graph and
 * engine build on this. */
#ifndef CTORCH_AUTOGRAD_H
#define CTORCH_AUTOGRAD_H

#include "ctorch/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* NOTE [ Autograd meta ]
 * Allocated lazily: a tensor that never required grad and was produced with grad mode off
 * (or from inputs that do not require grad) has autograd == NULL, so the common inference
 * path pays nothing. */
struct ct_autograd_meta {
    bool requires_grad;   /* leaf flag set by the user */
    ct_tensor *grad;      /* owned; NULL until the first backward */
    void *grad_fn;        /* the node that produced this tensor (filled by the engine work) */
    int output_nr;
};

CT_API bool ct_tensor_requires_grad(const ct_tensor *t);
/* Integer and bool tensors cannot require grad (RuntimeError, torch's message). */
CT_API int ct_tensor_set_requires_grad(ct_tensor *t, bool flag);
/* Borrowed; NULL when unset. */
CT_API ct_tensor *ct_tensor_grad(const ct_tensor *t);
/* Replaces .grad (grad is retained; NULL clears). Shape and dtype must match t's. */
CT_API int ct_tensor_set_grad(ct_tensor *t, ct_tensor *grad);

#ifdef __cplusplus
}
#endif
#endif
