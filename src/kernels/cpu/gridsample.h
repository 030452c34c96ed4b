/* Backward kernel of grid_sample (src/kernels/cpu/gridsample.c), used by
 * src/autograd/formulas_pool.c. Not recorded: grid_sample's gradient is once differentiable (as torch's). */
#ifndef CTORCH_KERNELS_GRIDSAMPLE_H
#define CTORCH_KERNELS_GRIDSAMPLE_H

#include "ctorch/core.h"

/* gradients of input and grid (new references, NULL where not needed); 0 or -1 */
int ct_nn_grid_sample_bwd(ct_tensor *grad, ct_tensor *input, ct_tensor *grid, int64_t mode, int64_t padding_mode,
                          bool align_corners, bool need_input, bool need_grid, ct_tensor **ginput, ct_tensor **ggrid);

#endif
