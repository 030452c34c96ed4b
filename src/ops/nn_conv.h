/* Internal backward kernels of the conv family (src/ops/nn_conv.c), called by the backward
 * formulas in src/autograd/formulas_conv.c. They are primitives (not recorded), so double
 * backward through them is not available. Not installed. */
#ifndef CTORCH_OPS_NN_CONV_H
#define CTORCH_OPS_NN_CONV_H

#include "ctorch/core.h"

/* Gradients of ct_nn_convolution; mask[i] selects grad_input / grad_weight / grad_bias.
 * Unselected outputs are left NULL. Returns 0 or -1. */
int ct_nn_convolution_backward(ct_tensor *grad_output, ct_tensor *input, ct_tensor *weight, ct_intlist stride,
                               ct_intlist padding, ct_intlist dilation, bool transposed, ct_intlist output_padding,
                               int64_t groups, const bool mask[3], ct_tensor **gi, ct_tensor **gw, ct_tensor **gb);
/* Gradient of non-constant ct_nn_pad (scatter-add of grad_output back to input_size). */
ct_tensor *ct_nn_pad_backward(ct_tensor *grad_output, const int64_t *input_size, int ndim, ct_intlist pad,
                              const char *mode);
/* Gradients of ct_nn_linear. */
int ct_nn_linear_backward(ct_tensor *grad_output, ct_tensor *input, ct_tensor *weight, const bool mask[3],
                          ct_tensor **gi, ct_tensor **gw, ct_tensor **gb);
/* Gradients of ct_nn_bilinear (input1's shape is used for g1 even where its values are not). */
int ct_nn_bilinear_backward(ct_tensor *grad_output, ct_tensor *input1, ct_tensor *input2, ct_tensor *weight,
                            const bool mask[4], ct_tensor **g1, ct_tensor **g2, ct_tensor **gw, ct_tensor **gb);

#endif
