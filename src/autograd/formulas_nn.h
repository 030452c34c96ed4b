/* Shared by the nn backward formulas (formulas_norm.c, formulas_pool.c). */
#ifndef CTORCH_FORMULAS_NN_H
#define CTORCH_FORMULAS_NN_H

#include "autograd_internal.h"

/* NOTE [ Once-differentiable nn backwards ]
 * Fused backward kernels (norms, lp_pool, LRN, grid_sample, affine_grid) are not written with
 * ops. Under create_graph their gradients are attached to a node named `name` whose own
 * backward fails with NotImplementedError, so a second-order use is reported instead of
 * silently missing terms. ins: what the gradients depend on (NULLs allowed). */
int ct_nn_once_differentiable(const char *name, int n_grads, ct_tensor **grads, int n_ins, ct_tensor *const *ins);

/* NOTE [ Double backward through fused nn kernels ]
 * First-order gradients come from the fused backward kernels. Under create_graph (grad mode
 * on during the backward) the formulas build the gradient from recorded ops instead, so it
 * can be differentiated again: either a composite of the backward formula itself (pointwise
 * activations, softmax) or, through ct_nn_composite_backward, the gradient of a composite of
 * the forward (losses, recurrent layers, attention): the forward is recomputed with recorded
 * ops on aliases of the saved inputs and differentiated by a nested ct_autograd_grad with
 * create_graph; the aliases hang off boundary nodes whose edges are the node's own input
 * edges, hidden from the nested engine run so it never walks into the outer graph. */

/* Scratch list of temporaries released together (composites). */
typedef struct {
    ct_tensor *t[256];
    int n;
    bool fail;
} ct_cx;

static inline ct_tensor *ct_cx_keep(ct_cx *A, ct_tensor *t) {
    if (A->fail || !t || A->n >= 256) {
        if (t) ct_tensor_release(t);
        A->fail = true;
        return NULL;
    }
    A->t[A->n++] = t;
    return t;
}

static inline void ct_cx_free(ct_cx *A) {
    for (int i = 0; i < A->n; i++) ct_tensor_release(A->t[i]);
    A->n = 0;
}

/* forward composite: outs[0..n_outs) from ins (aliases of the saved inputs, NULL where absent);
 * new references (NULL outputs allowed). 0 or -1. */
typedef int (*ct_composite_fwd)(ct_node *n, ct_tensor *const *ins, ct_tensor **outs);
/* gi[i] (for the inputs needing grad) = the gradient of fwd's outputs weighted by g, built
 * from recorded ops (detached when called with grad mode off, i.e. outside create_graph). saved: n->n_inputs tensors (NULL allowed; borrowed). 0 or -1. */
int ct_nn_composite_backward(ct_node *n, ct_tensor *const *saved, int n_outs, ct_tensor *const *g,
                             ct_composite_fwd fwd, ct_tensor **gi);
/* Wrapped-number float64 scalar tensor (new ref). */
ct_tensor *ct_nn_scalar(double v);

#endif
