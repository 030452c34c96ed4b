/* Fused normalisation backward kernels (src/kernels/cpu/norm.c), used by the backward
 * formulas in src/autograd/formulas_norm.c when no graph of the backward is needed (under
 * create_graph those formulas switch to a composite of ops). need[] selects (input, weight, bias) gradients; the
 * outputs are new references (NULL where not needed). Return 0 or -1 with the error set. */
#ifndef CTORCH_KERNELS_NORM_H
#define CTORCH_KERNELS_NORM_H

#include "ctorch/core.h"

/* mean/invstd: the float64 (C) statistics saved by nn_batch_norm (running ones in eval) */
int ct_nn_batch_norm_bwd(ct_tensor *grad, ct_tensor *input, ct_tensor *weight, ct_tensor *mean, ct_tensor *invstd,
                         bool training, const bool need[3], ct_tensor **gi, ct_tensor **gw, ct_tensor **gb);
/* kind 0 layer norm (param: normalized numel), 1 group norm (param: groups), 2 rms norm
 * (param: normalized numel; mean is zeros) */
int ct_nn_row_norm_bwd(int kind, int64_t param, ct_tensor *grad, ct_tensor *input, ct_tensor *weight, ct_tensor *mean,
                       ct_tensor *rstd, const bool need[3], ct_tensor **gi, ct_tensor **gw, ct_tensor **gb);

/* local response norm: gradient of the input (input's dtype) */
ct_tensor *ct_nn_lrn_bwd(ct_tensor *grad, ct_tensor *self, int64_t size, double alpha, double beta, double k);

#endif
