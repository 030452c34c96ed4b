/* Internal interface of the nn kernels (activation.c, loss.c) used by their autograd
 * formulas (src/autograd/formulas_nn.c). Backward kernels here are primitives (not recorded):
 * they give first-order gradients; under create_graph the formulas use composites of recorded
 * ops instead (NOTE [ Double backward through fused nn kernels ] in src/autograd/formulas_nn.h). */
#ifndef CTORCH_NN_KERNELS_H
#define CTORCH_NN_KERNELS_H

#include "../../core/internal.h"

/* NOTE [ Activation kinds ]
 * The Python wrappers (python/ctorch/nn/_functional/activation.py) pass these numbers to
 * ctorch._C._ns_nn._act; keep both lists in the same order. p[0..3] are the op's float
 * parameters. Kinds marked (y) compute their backward from the result (leaky_relu, elu and
 * celu only with a non-negative slope/alpha), the others from the input. */
enum {
    CT_ACT_RELU = 0,      /* (y) */
    CT_ACT_HARDTANH,      /* (y) p0 = min, p1 = max */
    CT_ACT_LEAKY_RELU,    /* (y) p0 = negative slope */
    CT_ACT_ELU,           /* (y) p0 = alpha, p1 = scale, p2 = input scale */
    CT_ACT_CELU,          /* (y) same as elu, p2 = 1/alpha */
    CT_ACT_GELU,          /* p0 = 0: erf, 1: tanh approximation */
    CT_ACT_SILU,
    CT_ACT_MISH,
    CT_ACT_SOFTPLUS,      /* p0 = beta, p1 = threshold */
    CT_ACT_SOFTSIGN,
    CT_ACT_SOFTSHRINK,    /* p0 = lambda */
    CT_ACT_HARDSHRINK,    /* p0 = lambda */
    CT_ACT_TANHSHRINK,
    CT_ACT_HARDSWISH,
    CT_ACT_HARDSIGMOID,   /* (y) */
    CT_ACT_TANH,          /* (y) */
    CT_ACT_SIGMOID,       /* (y) */
    CT_ACT_LOGSIGMOID,
    CT_ACT_THRESHOLD,     /* p0 = threshold, p1 = value */
    CT_ACT_COUNT
};

/* Forward of activation `kind` (out: NULL to allocate, or x itself for in-place). New ref. */
ct_tensor *ct_nn_act_forward(int kind, ct_tensor *x, ct_tensor *out, const double *p);
/* grad_input = grad * act'(s), s being the input or the result (see the kinds). New ref. */
ct_tensor *ct_nn_act_backward(int kind, ct_tensor *grad, ct_tensor *s, const double *p);
bool ct_nn_act_uses_result(int kind, const double *p);
const char *ct_nn_act_node_name(int kind);

/* softmax / log_softmax backward over dim: y is the forward result. New ref. */
ct_tensor *ct_nn_softmax_backward(ct_tensor *grad, ct_tensor *y, int dim, bool log);
/* glu backward: grad (half size) and the input. New ref. */
ct_tensor *ct_nn_glu_backward(ct_tensor *grad, ct_tensor *x, int dim);
/* prelu backward: fills *gx and/or *gw (NULL pointers skip). 0 or -1. */
int ct_nn_prelu_backward(ct_tensor *grad, ct_tensor *x, ct_tensor *w, ct_tensor **gx, ct_tensor **gw);

/* Losses (loss.c). Reduction: 0 none, 1 mean, 2 sum (torch's enum). */
enum { CT_RED_NONE = 0, CT_RED_MEAN = 1, CT_RED_SUM = 2 };

/* cross entropy / nll backward (mode 0: logits with fused softmax, 1: log-probs). grad is
 * the loss gradient (0-dim or the per-sample shape). New ref (input's shape). */
ct_tensor *ct_nn_ce_backward(ct_tensor *grad, ct_tensor *input, ct_tensor *target, ct_tensor *weight,
                             int64_t reduction, int64_t ignore_index, double label_smoothing, int mode);
/* gradient w.r.t. a probability target (mode 0 only). New ref. */
ct_tensor *ct_nn_ce_target_backward(ct_tensor *grad, ct_tensor *input, ct_tensor *target, ct_tensor *weight,
                                    int64_t reduction, double label_smoothing);

/* Pointwise losses: grads w.r.t. input, target, weight, pos_weight (want[i], out[i]), in the
 * broadcast shape (the formula reduces them). 0 or -1. */
int ct_nn_pw_loss_backward(ct_tensor *grad, ct_tensor *input, ct_tensor *target, ct_tensor *weight,
                           ct_tensor *pos_weight, int64_t kind, int64_t reduction, double p0, double p1, const bool *want,
                           ct_tensor **out);

ct_tensor *ct_nn_margin_loss_backward(ct_tensor *grad, ct_tensor *input, ct_tensor *target, ct_tensor *weight,
                                      int64_t kind, int64_t reduction, int64_t p, double margin);
/* norm over dim (clamped below at eps) backward; dim already wrapped. New ref. */
ct_tensor *ct_nn_norm_dim_backward(ct_tensor *grad, ct_tensor *self, double p, int dim, bool keepdim, double eps);
/* cosine similarity gradient w.r.t. x1 (which 0) or x2 (1), broadcast shape. New ref. */
ct_tensor *ct_nn_cosine_similarity_backward(ct_tensor *grad, ct_tensor *x1, ct_tensor *x2, int64_t dim, double eps,
                                            int64_t mode, int which);

/* embedding backward: dW (num, D) in dtype. New ref. */
ct_tensor *ct_nn_embedding_backward(ct_tensor *grad, ct_tensor *indices, int64_t num, int64_t padding_idx,
                                    bool scale_grad_by_freq, int dtype);
int ct_nn_embedding_bag_backward(ct_tensor *grad, ct_tensor *weight, ct_tensor *indices, ct_tensor *offsets,
                                 int64_t mode, ct_tensor *per_sample_weights, bool include_last_offset,
                                 int64_t padding_idx, ct_tensor **gw, ct_tensor **gp);

ct_tensor *ct_nn_ctc_loss_backward(ct_tensor *grad, ct_tensor *log_probs, ct_tensor *targets,
                                   ct_tensor *input_lengths, ct_tensor *target_lengths, int64_t blank,
                                   int64_t reduction, bool zero_infinity);

/* Records a node on `result` that refuses double backward (result from a backward kernel
 * run with create_graph); no-op otherwise. 0 or -1. */
int ct_nn_no_double_backward(ct_tensor *result, const char *name, int n, ct_tensor *const *inputs);

#endif
