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
    if (ct_nn_act_uses_result(kind)) return ct_node_save(node, 0, result, 0);
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
