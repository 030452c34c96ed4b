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

#endif
