/* Backward kernels of grid_sample and affine_grid (src/kernels/cpu/gridsample.c), used by
 * src/autograd/formulas_pool.c. Not recorded: no double backward through these two ops. */
#ifndef CTORCH_KERNELS_GRIDSAMPLE_H
#define CTORCH_KERNELS_GRIDSAMPLE_H

#include "ctorch/core.h"

/* gradients of input and grid (new references, NULL where not needed); 0 or -1 */
int ct_nn_grid_sample_bwd(ct_tensor *grad, ct_tensor *input, ct_tensor *grid, int64_t mode, int64_t padding_mode,
                          bool align_corners, bool need_input, bool need_grid, ct_tensor **ginput, ct_tensor **ggrid);
/* gradient of theta (N, nd, nd+1) from the grid gradient; new reference */
ct_tensor *ct_nn_affine_grid_bwd(ct_tensor *grad, ct_intlist size, bool align_corners);

#endif
