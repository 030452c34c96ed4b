/* Backward formulas of the nn activation, softmax, loss and embedding ops. Their backward
 * kernels (src/kernels/cpu/activation.c, loss.c) are primitives: with create_graph the
 * gradient they return carries a node that refuses a second backward. */
#include <stdlib.h>

#include "../kernels/cpu/nn.h"
#include "autograd_internal.h"
#include "ctorch/ops_gen.h"

/* ------------------------------------------------------------------ helpers */

static int put(ct_node *n, ct_tensor **grad_in, int i, ct_tensor *r) {
    if (!r) return -1;
    ct_tensor *s = ct_sum_to_meta(r, &n->in_meta[i]);
    ct_tensor_release(r);
    if (!s) return -1;
    grad_in[i] = s;
    return 0;
}

static int no_double_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    (void)g;
    (void)gi;
    return ct_errorf(CT_ERR_NOT_IMPLEMENTED,
                     "double backward through %s is not supported (its backward is a fused kernel)", n->name);
}

int ct_nn_no_double_backward(ct_tensor *result, const char *name, int n, ct_tensor *const *inputs) {
    if (!result || !ct_autograd_should_record(n, inputs) || !ct_dtype_is_floating(result->dtype)) return 0;
    return ct_autograd_record(name, no_double_backward, result, n, inputs) ? 0 : -1;
}

/* A backward kernel's result, marked for create_graph. */
static ct_tensor *mark(ct_tensor *r, ct_node *n, ct_tensor *g, ct_tensor *s) {
    ct_tensor *ins[2] = {g, s};
    if (r && ct_nn_no_double_backward(r, n->name, s ? 2 : 1, ins)) {
        ct_tensor_release(r);
        return NULL;
    }
    return r;
}

/* ------------------------------------------------------------------ activations */

static int act_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    ct_tensor *s = ct_node_saved(n, 0);
    if (!s) return -1;
    ct_tensor *r = ct_nn_act_backward((int)n->iv[0], g[0], s, n->dv);
    r = mark(r, n, g[0], s);
    ct_tensor_release(s);
    return put(n, gi, 0, r);
}

static int act_record(int kind, ct_tensor *result, ct_tensor *self, double p0, double p1, double p2) {
    ct_tensor *ins[1] = {self};
    if (!ct_autograd_should_record(1, ins) || !ct_dtype_is_floating(result->dtype)) return 0;
    ct_node *node = ct_autograd_record(ct_nn_act_node_name(kind), act_backward, result, 1, ins);
    if (!node) return -1;
    node->iv[0] = kind;
    node->dv[0] = p0;
    node->dv[1] = p1;
    node->dv[2] = p2;
    node->dv[3] = 0;
    if (ct_nn_act_uses_result(kind, node->dv)) return ct_node_save(node, 0, result, 0);
    return ct_node_save(node, 0, self, -1);
}

int ctg_relu(ct_tensor *result, ct_tensor *self) { return act_record(CT_ACT_RELU, result, self, 0, 0, 0); }

int ctg_nn_act(ct_tensor *result, ct_tensor *self, int64_t kind, double p0, double p1, double p2) {
    return act_record((int)kind, result, self, p0, p1, p2);
}

/* ------------------------------------------------------------------ softmax */

static int softmax_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    ct_tensor *y = ct_node_saved(n, 0);
    if (!y) return -1;
    ct_tensor *r = ct_nn_softmax_backward(g[0], y, (int)n->iv[0], n->iv[1] != 0);
    r = mark(r, n, g[0], y);
    ct_tensor_release(y);
    return put(n, gi, 0, r);
}

static int softmax_record(const char *name, ct_tensor *result, ct_tensor *self, int64_t dim, bool log) {
    ct_tensor *ins[1] = {self};
    if (!ct_autograd_should_record(1, ins) || !ct_dtype_is_floating(result->dtype)) return 0;
    ct_node *node = ct_autograd_record(name, softmax_backward, result, 1, ins);
    if (!node) return -1;
    node->iv[0] = ct_wrap_dim(dim, self->ndim, name);
    if (node->iv[0] < 0) node->iv[0] = 0;
    node->iv[1] = log;
    return ct_node_save(node, 0, result, 0);
}

int ctg_softmax_int(ct_tensor *result, ct_tensor *self, int64_t dim, int dtype) {
    (void)dtype;
    return softmax_record("SoftmaxBackward0", result, self, dim, false);
}

int ctg_log_softmax_int(ct_tensor *result, ct_tensor *self, int64_t dim, int dtype) {
    (void)dtype;
    return softmax_record("LogSoftmaxBackward0", result, self, dim, true);
}

/* ------------------------------------------------------------------ glu, prelu, rrelu */

static int glu_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    ct_tensor *x = ct_node_saved(n, 0);
    if (!x) return -1;
    ct_tensor *r = ct_nn_glu_backward(g[0], x, (int)n->iv[0]);
    r = mark(r, n, g[0], x);
    ct_tensor_release(x);
    return put(n, gi, 0, r);
}

int ctg_nn_glu(ct_tensor *result, ct_tensor *self, int64_t dim) {
    ct_tensor *ins[1] = {self};
    if (!ct_autograd_should_record(1, ins) || !ct_dtype_is_floating(result->dtype)) return 0;
    ct_node *node = ct_autograd_record("GluBackward0", glu_backward, result, 1, ins);
    if (!node) return -1;
    node->iv[0] = ct_wrap_dim(dim, self->ndim, "glu");
    return ct_node_save(node, 0, self, -1);
}

static int prelu_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    ct_tensor *x = ct_node_saved(n, 0);
    ct_tensor *w = x ? ct_node_saved(n, 1) : NULL;
    if (!w) {
        ct_tensor_release(x);
        return -1;
    }
    ct_tensor *gx = NULL, *gw = NULL;
    int rc = ct_nn_prelu_backward(g[0], x, w, ct_node_needs_grad(n, 0) ? &gx : NULL,
                                  ct_node_needs_grad(n, 1) ? &gw : NULL);
    if (!rc && gx) rc = put(n, gi, 0, mark(gx, n, g[0], x));
    if (!rc && gw) rc = put(n, gi, 1, mark(gw, n, g[0], x));
    ct_tensor_release(x);
    ct_tensor_release(w);
    return rc;
}

int ctg_nn_prelu(ct_tensor *result, ct_tensor *self, ct_tensor *weight) {
    ct_tensor *ins[2] = {self, weight};
    if (!ct_autograd_should_record(2, ins) || !ct_dtype_is_floating(result->dtype)) return 0;
    ct_node *node = ct_autograd_record("PreluKernelBackward0", prelu_backward, result, 2, ins);
    if (!node) return -1;
    if (ct_node_save(node, 0, self, -1)) return -1;
    return ct_node_save(node, 1, weight, -1);
}

static int rrelu_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    ct_tensor *s = ct_node_saved(n, 0);
    if (!s) return -1;
    ct_tensor *r;
    if (n->iv[0]) {
        bool prev = ct_set_grad_enabled(false);
        r = ct_mul(g[0], s);
        ct_set_grad_enabled(prev);
    } else {
        r = ct_nn_act_backward(CT_ACT_LEAKY_RELU, g[0], s, n->dv);
    }
    r = mark(r, n, g[0], s);
    ct_tensor_release(s);
    return put(n, gi, 0, r);
}

int ctg_nn_rrelu_with_noise(ct_tensor *result, ct_tensor *self, ct_tensor *noise, double lower, double upper,
                            bool training, ct_generator *generator) {
    (void)generator;
    ct_tensor *ins[1] = {self};
    if (!ct_autograd_should_record(1, ins) || !ct_dtype_is_floating(result->dtype)) return 0;
    ct_node *node = ct_autograd_record("RreluWithNoiseBackward0", rrelu_backward, result, 1, ins);
    if (!node) return -1;
    node->iv[0] = training;
    node->dv[0] = (lower + upper) / 2;
    return ct_node_save(node, 0, training ? noise : self, -1);
}

/* ------------------------------------------------------------------ pointwise losses */

static const char *const pw_node_names[] = {
    "MseLossBackward0", "L1LossBackward0", "SmoothL1LossBackward0", "HuberLossBackward0",
    "BinaryCrossEntropyBackward0", "BinaryCrossEntropyWithLogitsBackward0", "SoftMarginLossBackward0",
    "KlDivBackward0", "PoissonNllLossBackward0", "GaussianNllLossBackward0", "HingeEmbeddingLossBackward0",
    "MarginRankingLossBackward0", "CosineEmbeddingLossBackward0", "TripletMarginLossBackward0",
    "MultilabelSoftMarginLossBackward0"};

static int pw_loss_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    ct_tensor *s[4] = {0};
    int rc = -1;
    for (int k = 0; k < 4; k++)
        if (n->iv[2] & (1 << k)) {
            s[k] = ct_node_saved(n, k);
            if (!s[k]) goto done;
        }
    bool want[4];
    ct_tensor *out[4] = {0};
    for (int k = 0; k < 4; k++) want[k] = ct_node_needs_grad(n, k);
    if (ct_nn_pw_loss_backward(g[0], s[0], s[1], s[2], s[3], n->iv[0], n->iv[1], n->dv[0], n->dv[1], want, out))
        goto done;
    rc = 0;
    for (int k = 0; k < 4; k++)
        if (out[k]) {
            ct_tensor *ins[2] = {g[0], s[0]};
            if (ct_nn_no_double_backward(out[k], n->name, 2, ins)) rc = -1;
            if (put(n, gi, k, out[k])) rc = -1;
        }
done:
    for (int k = 0; k < 4; k++) ct_tensor_release(s[k]);
    return rc;
}

int ctg_nn_pw_loss(ct_tensor *result, ct_tensor *input, ct_tensor *target, ct_tensor *weight, ct_tensor *pos_weight,
                   int64_t kind, int64_t reduction, double p0, double p1) {
    ct_tensor *ins[4] = {input, target, weight, pos_weight};
    if (!ct_autograd_should_record(4, ins) || !ct_dtype_is_floating(result->dtype)) return 0;
    ct_node *node = ct_autograd_record(pw_node_names[kind], pw_loss_backward, result, 4, ins);
    if (!node) return -1;
    node->iv[0] = kind;
    node->iv[1] = reduction;
    node->iv[2] = 0;
    node->dv[0] = p0;
    node->dv[1] = p1;
    for (int k = 0; k < 4; k++)
        if (ins[k]) {
            if (ct_node_save(node, k, ins[k], -1)) return -1;
            node->iv[2] |= 1 << k;
        }
    return 0;
}

/* ------------------------------------------------------------------ loss reduction */

static ct_tensor *scaled(ct_tensor *g, double s) {
    if (s == 1.0) {
        ct_tensor_retain(g);
        return g;
    }
    ct_tensor *st = ct_scalar_tensor_f64(s, CT_FLOAT64);
    if (!st) return NULL;
    st->flags |= CT_FLAG_WRAPPED_NUMBER;
    ct_tensor *r = ct_mul(g, st);
    ct_tensor_release(st);
    return r;
}

static int reduce_loss_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    ct_input_meta *m = &n->in_meta[0];
    int64_t numel = 1;
    for (int i = 0; i < m->ndim; i++) numel *= m->sizes[i];
    ct_tensor *src = g[0], *v = NULL;
    double s = 1.0;
    if (n->iv[0] == CT_RED_NONE) {
        ct_tensor_retain(g[0]);
        return put(n, gi, 0, g[0]);
    }
    if (n->iv[0] == CT_RED_MEAN) s = numel ? 1.0 / (double)numel : NAN;
    if (n->iv[0] == 3) {
        int64_t sz[CT_MAX_DIM];
        for (int i = 0; i < m->ndim; i++) sz[i] = m->sizes[i];
        sz[m->ndim - 1] = 1;
        v = ct_view(g[0], (ct_intlist){sz, m->ndim});
        if (!v) return -1;
        src = v;
        s = 1.0 / (double)m->sizes[m->ndim - 1];
    }
    ct_tensor *sc = scaled(src, s);
    ct_tensor_release(v);
    if (!sc) return -1;
    ct_tensor *z = ct_zeros((ct_intlist){m->sizes, m->ndim}, sc->dtype, -1);
    ct_tensor *r = z ? ct_add(z, sc, ct_scalar_i(1)) : NULL;
    ct_tensor_release(z);
    ct_tensor_release(sc);
    return put(n, gi, 0, r);
}

int ctg_nn_reduce_loss(ct_tensor *result, ct_tensor *self, int64_t reduction) {
    static const char *names[] = {"CloneBackward0", "MeanBackward0", "SumBackward0", "MeanBackward1"};
    ct_tensor *ins[1] = {self};
    if (!ct_autograd_should_record(1, ins) || !ct_dtype_is_floating(result->dtype)) return 0;
    ct_node *node = ct_autograd_record(names[reduction], reduce_loss_backward, result, 1, ins);
    if (!node) return -1;
    node->iv[0] = reduction;
    return 0;
}

/* ------------------------------------------------------------------ cross entropy / nll */

static int ce_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    ct_tensor *x = ct_node_saved(n, 0);
    ct_tensor *t = x ? ct_node_saved(n, 1) : NULL;
    ct_tensor *w = (t && n->iv[3]) ? ct_node_saved(n, 2) : NULL;
    int rc = -1;
    if (!t || (n->iv[3] && !w)) goto done;
    if (ct_node_needs_grad(n, 0)) {
        ct_tensor *r = ct_nn_ce_backward(g[0], x, t, w, n->iv[0], n->iv[1], n->dv[0], (int)n->iv[2]);
        r = mark(r, n, g[0], x);
        if (put(n, gi, 0, r)) goto done;
    }
    if (ct_node_needs_grad(n, 1)) {
        ct_tensor *r = ct_nn_ce_target_backward(g[0], x, t, w, n->iv[0], n->dv[0]);
        r = mark(r, n, g[0], x);
        if (put(n, gi, 1, r)) goto done;
    }
    rc = 0;
done:
    ct_tensor_release(x);
    ct_tensor_release(t);
    ct_tensor_release(w);
    return rc;
}

int ctg_nn_cross_entropy(ct_tensor *result, ct_tensor *input, ct_tensor *target, ct_tensor *weight,
                         int64_t reduction, int64_t ignore_index, double label_smoothing, int64_t mode) {
    ct_tensor *ins[2] = {input, target};
    if (!ct_autograd_should_record(2, ins) || !ct_dtype_is_floating(result->dtype)) return 0;
    const char *name = (mode == 1 || (!ct_dtype_is_floating(target->dtype) && label_smoothing == 0))
                           ? "NllLossBackward0" : "CrossEntropyLossBackward0";
    ct_node *node = ct_autograd_record(name, ce_backward, result, 2, ins);
    if (!node) return -1;
    node->iv[0] = reduction;
    node->iv[1] = ignore_index;
    node->iv[2] = mode;
    node->iv[3] = weight != NULL;
    node->dv[0] = label_smoothing;
    if (ct_node_save(node, 0, input, -1) || ct_node_save(node, 1, target, -1)) return -1;
    if (weight && ct_node_save(node, 2, weight, -1)) return -1;
    return 0;
}

/* ------------------------------------------------------------------ margin losses, norms, cosine */

static int margin_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0] || !ct_node_needs_grad(n, 0)) return 0;
    ct_tensor *x = ct_node_saved(n, 0);
    ct_tensor *t = x ? ct_node_saved(n, 1) : NULL;
    ct_tensor *w = (t && n->iv[3]) ? ct_node_saved(n, 2) : NULL;
    int rc = -1;
    if (t && (!n->iv[3] || w)) {
        ct_tensor *r = ct_nn_margin_loss_backward(g[0], x, t, w, n->iv[0], n->iv[1], n->iv[2], n->dv[0]);
        rc = put(n, gi, 0, mark(r, n, g[0], x));
    }
    ct_tensor_release(x);
    ct_tensor_release(t);
    ct_tensor_release(w);
    return rc;
}

int ctg_nn_margin_loss(ct_tensor *result, ct_tensor *input, ct_tensor *target, ct_tensor *weight, int64_t kind,
                       int64_t reduction, int64_t p, double margin) {
    ct_tensor *ins[1] = {input};
    if (!ct_autograd_should_record(1, ins) || !ct_dtype_is_floating(result->dtype)) return 0;
    ct_node *node = ct_autograd_record(kind == 0 ? "MultiMarginLossBackward0" : "MultilabelMarginLossBackward0",
                                       margin_backward, result, 1, ins);
    if (!node) return -1;
    node->iv[0] = kind;
    node->iv[1] = reduction;
    node->iv[2] = p;
    node->iv[3] = weight != NULL;
    node->dv[0] = margin;
    if (ct_node_save(node, 0, input, -1) || ct_node_save(node, 1, target, -1)) return -1;
    return weight ? ct_node_save(node, 2, weight, -1) : 0;
}

static int norm_dim_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    ct_tensor *x = ct_node_saved(n, 0);
    if (!x) return -1;
    ct_tensor *r = ct_nn_norm_dim_backward(g[0], x, n->dv[0], (int)n->iv[0], n->iv[1] != 0, n->dv[1]);
    r = mark(r, n, g[0], x);
    ct_tensor_release(x);
    return put(n, gi, 0, r);
}

int ctg_nn_norm_dim(ct_tensor *result, ct_tensor *self, double p, int64_t dim, bool keepdim, double eps) {
    ct_tensor *ins[1] = {self};
    if (!ct_autograd_should_record(1, ins) || !ct_dtype_is_floating(result->dtype)) return 0;
    ct_node *node = ct_autograd_record("NormBackward1", norm_dim_backward, result, 1, ins);
    if (!node) return -1;
    node->iv[0] = self->ndim ? ct_wrap_dim(dim, self->ndim, "norm") : 0;
    node->iv[1] = keepdim;
    node->dv[0] = p;
    node->dv[1] = eps;
    return ct_node_save(node, 0, self, -1);
}

static int cosine_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    ct_tensor *a = ct_node_saved(n, 0);
    ct_tensor *b = a ? ct_node_saved(n, 1) : NULL;
    int rc = -1;
    if (!b) goto done;
    for (int k = 0; k < 2; k++)
        if (ct_node_needs_grad(n, k)) {
            ct_tensor *r = ct_nn_cosine_similarity_backward(g[0], a, b, n->iv[0], n->dv[0], n->iv[1], k);
            if (put(n, gi, k, mark(r, n, g[0], a))) goto done;
        }
    rc = 0;
done:
    ct_tensor_release(a);
    ct_tensor_release(b);
    return rc;
}

int ctg_nn_cosine_similarity(ct_tensor *result, ct_tensor *x1, ct_tensor *x2, int64_t dim, double eps, int64_t mode) {
    ct_tensor *ins[2] = {x1, x2};
    if (!ct_autograd_should_record(2, ins) || !ct_dtype_is_floating(result->dtype)) return 0;
    ct_node *node = ct_autograd_record("CosineSimilarityBackward0", cosine_backward, result, 2, ins);
    if (!node) return -1;
    node->iv[0] = dim;
    node->iv[1] = mode;
    node->dv[0] = eps;
    if (ct_node_save(node, 0, x1, -1)) return -1;
    return ct_node_save(node, 1, x2, -1);
}

/* ------------------------------------------------------------------ embedding */

static int embedding_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0] || !ct_node_needs_grad(n, 0)) return 0;
    ct_tensor *ix = ct_node_saved(n, 0);
    if (!ix) return -1;
    ct_tensor *r = ct_nn_embedding_backward(g[0], ix, n->iv[0], n->iv[1], n->iv[2] != 0, n->in_meta[0].dtype);
    ct_tensor_release(ix);
    return put(n, gi, 0, mark(r, n, g[0], NULL));
}

int ctg_nn_embedding(ct_tensor *result, ct_tensor *weight, ct_tensor *indices, int64_t padding_idx,
                     bool scale_grad_by_freq, bool sparse) {
    (void)sparse;
    ct_tensor *ins[1] = {weight};
    if (!ct_autograd_should_record(1, ins) || !ct_dtype_is_floating(result->dtype)) return 0;
    ct_node *node = ct_autograd_record("EmbeddingBackward0", embedding_backward, result, 1, ins);
    if (!node) return -1;
    node->iv[0] = weight->sizes[0];
    node->iv[1] = padding_idx;
    node->iv[2] = scale_grad_by_freq;
    return ct_node_save(node, 0, indices, -1);
}

static int embedding_bag_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    ct_tensor *s[4] = {0};
    int rc = -1;
    for (int k = 0; k < 4; k++)
        if (k < 3 || n->iv[3]) {
            s[k] = ct_node_saved(n, k);
            if (!s[k]) goto done;
        }
    ct_tensor *gw = NULL, *gp = NULL;
    bool ww = ct_node_needs_grad(n, 0), wp = n->iv[3] && ct_node_needs_grad(n, 1);
    if (ct_nn_embedding_bag_backward(g[0], s[0], s[1], s[2], n->iv[0], s[3], n->iv[1] != 0, n->iv[2],
                                     ww ? &gw : NULL, wp ? &gp : NULL))
        goto done;
    rc = 0;
    if (gw && put(n, gi, 0, mark(gw, n, g[0], s[0]))) rc = -1;
    if (gp && put(n, gi, 1, mark(gp, n, g[0], s[0]))) rc = -1;
done:
    for (int k = 0; k < 4; k++) ct_tensor_release(s[k]);
    return rc;
}

int ctg_nn_embedding_bag(ct_tensor *result, ct_tensor *weight, ct_tensor *indices, ct_tensor *offsets, int64_t mode,
                         ct_tensor *per_sample_weights, bool include_last_offset, int64_t padding_idx) {
    ct_tensor *ins[2] = {weight, per_sample_weights};
    if (!ct_autograd_should_record(2, ins) || !ct_dtype_is_floating(result->dtype)) return 0;
    ct_node *node = ct_autograd_record("EmbeddingBagBackward0", embedding_bag_backward, result, 2, ins);
    if (!node) return -1;
    node->iv[0] = mode;
    node->iv[1] = include_last_offset;
    node->iv[2] = padding_idx;
    node->iv[3] = per_sample_weights != NULL;
    if (ct_node_save(node, 0, weight, -1) || ct_node_save(node, 1, indices, -1) || ct_node_save(node, 2, offsets, -1))
        return -1;
    return per_sample_weights ? ct_node_save(node, 3, per_sample_weights, -1) : 0;
}

/* ------------------------------------------------------------------ ctc */

static int ctc_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0] || !ct_node_needs_grad(n, 0)) return 0;
    ct_tensor *s[4] = {0};
    int rc = -1;
    for (int k = 0; k < 4; k++)
        if (!(s[k] = ct_node_saved(n, k))) goto done;
    ct_tensor *r = ct_nn_ctc_loss_backward(g[0], s[0], s[1], s[2], s[3], n->iv[0], n->iv[1], n->iv[2] != 0);
    rc = put(n, gi, 0, mark(r, n, g[0], s[0]));
done:
    for (int k = 0; k < 4; k++) ct_tensor_release(s[k]);
    return rc;
}

int ctg_nn_ctc_loss(ct_tensor *result, ct_tensor *log_probs, ct_tensor *targets, ct_tensor *input_lengths,
                    ct_tensor *target_lengths, int64_t blank, int64_t reduction, bool zero_infinity) {
    ct_tensor *ins[1] = {log_probs};
    if (!ct_autograd_should_record(1, ins) || !ct_dtype_is_floating(result->dtype)) return 0;
    ct_node *node = ct_autograd_record("CtcLossBackward0", ctc_backward, result, 1, ins);
    if (!node) return -1;
    node->iv[0] = blank;
    node->iv[1] = reduction;
    node->iv[2] = zero_infinity;
    if (ct_node_save(node, 0, log_probs, -1) || ct_node_save(node, 1, targets, -1)) return -1;
    return ct_node_save(node, 2, input_lengths, -1) || ct_node_save(node, 3, target_lengths, -1) ? -1 : 0;
}
