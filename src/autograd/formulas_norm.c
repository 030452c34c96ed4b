/* Backward formulas of the normalisation ops (src/ops/nn_norm.ops). The gradients come from
 * the fused backward kernels in src/kernels/cpu/norm.c (one pass per channel / row), which
 * are not recorded: double backward through batch/layer/group/rms norm is not supported
 * (under create_graph the first-order gradients come back without history). Node names are
 * torch's, except rms norm (torch records a composite there). */
#include "formulas_nn.h"
#include "../kernels/cpu/norm.h"

/* ------------------------------------------------------------------ once differentiable */

static int not_twice(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    (void)g, (void)gi;
    return ct_errorf(CT_ERR_NOT_IMPLEMENTED, "the derivative of %s is not implemented in ctorch (double backward "
                     "through this fused nn backward kernel is not supported)", n->name);
}

int ct_nn_once_differentiable(const char *name, int n_grads, ct_tensor **grads, int n_ins, ct_tensor *const *ins) {
    if (!ct_grad_enabled() || !ct_autograd_should_record(n_ins, ins)) return 0;
    ct_node *node = ct_node_new(name, not_twice, n_ins, ins, n_grads);
    if (!node) return -1;
    int rc = 0;
    for (int i = 0; i < n_grads && !rc; i++)
        if (grads[i] && ct_dtype_is_floating(grads[i]->dtype)) rc = ct_node_set_output(node, grads[i], i);
    ct_node_release(node);
    return rc;
}

/* saved slots: 0 input, 1 weight (may be absent), 2 mean, 3 invstd/rstd */
static int save_common(ct_node *node, ct_tensor *input, ct_tensor *weight, ct_tensor *mean, ct_tensor *rstd) {
    if (ct_node_save(node, 0, input, -1)) return -1;
    if (weight && ct_node_save(node, 1, weight, -1)) return -1;
    if (ct_node_save(node, 2, mean, -1)) return -1;
    return ct_node_save(node, 3, rstd, -1);
}

static int unpack(ct_node *n, ct_tensor **x, ct_tensor **w, ct_tensor **mean, ct_tensor **rstd) {
    *x = *w = *mean = *rstd = NULL;
    if (!(*x = ct_node_saved(n, 0))) return -1;
    if (n->iv[7] && !(*w = ct_node_saved(n, 1))) return -1;
    if (!(*mean = ct_node_saved(n, 2))) return -1;
    if (!(*rstd = ct_node_saved(n, 3))) return -1;
    return 0;
}

static int finish_grads(ct_node *n, ct_tensor **gi, ct_tensor *r[3]) {
    for (int i = 0; i < 3; i++) {
        if (!r[i]) continue;
        if (r[i]->ndim != n->in_meta[i].ndim) { /* flat parameter gradient -> the parameter's shape */
            ct_tensor *v = ct_reshape(r[i], (ct_intlist){n->in_meta[i].sizes, n->in_meta[i].ndim});
            ct_tensor_release(r[i]);
            r[i] = v;
            if (!v) {
                for (int k = i + 1; k < 3; k++) ct_tensor_release(r[k]);
                return -1;
            }
        }
        ct_tensor *s = ct_sum_to_meta(r[i], &n->in_meta[i]);
        ct_tensor_release(r[i]);
        r[i] = NULL;
        if (!s) {
            for (int k = i + 1; k < 3; k++) ct_tensor_release(r[k]);
            return -1;
        }
        gi[i] = s;
    }
    return 0;
}

static int norm_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    ct_tensor *x, *w, *mean, *rstd;
    ct_tensor *r[3] = {NULL, NULL, NULL};
    bool need[3] = {ct_node_needs_grad(n, 0), n->n_inputs > 1 && ct_node_needs_grad(n, 1),
                    n->n_inputs > 2 && ct_node_needs_grad(n, 2)};
    int rc = unpack(n, &x, &w, &mean, &rstd);
    if (!rc) {
        bool prev = ct_set_grad_enabled(false);
        if (n->iv[0] == 3)
            rc = ct_nn_batch_norm_bwd(g[0], x, w, mean, rstd, n->iv[2] != 0, need, &r[0], &r[1], &r[2]);
        else
            rc = ct_nn_row_norm_bwd((int)n->iv[0], n->iv[1], g[0], x, w, mean, rstd, need, &r[0], &r[1], &r[2]);
        ct_set_grad_enabled(prev);
    }
    if (rc || finish_grads(n, gi, r)) {
        ct_tensor_release(x), ct_tensor_release(w), ct_tensor_release(mean), ct_tensor_release(rstd);
        return -1;
    }
    char *names[4] = {"NativeLayerNormBackwardBackward0", "NativeGroupNormBackwardBackward0",
                      "FusedRmsNormBackwardBackward0", "NativeBatchNormBackwardBackward0"};
    ct_tensor *deps[3] = {g[0], x, w};
    rc = ct_nn_once_differentiable(names[n->iv[0]], n->n_inputs, gi, 3, deps);
    ct_tensor_release(x), ct_tensor_release(w), ct_tensor_release(mean), ct_tensor_release(rstd);
    return rc;
}

static int record_norm(const char *name, int kind, int64_t param, bool training, ct_tensor *out, ct_tensor *mean,
                       ct_tensor *rstd, ct_tensor *input, ct_tensor *weight, ct_tensor *bias, int nout) {
    ct_tensor *ins[3] = {input, weight, bias};
    if (!ct_autograd_should_record(3, ins) || !ct_dtype_is_floating(out->dtype)) return 0;
    ct_node *node = ct_node_new(name, norm_backward, kind == 2 ? 2 : 3, ins, nout);
    if (!node) return -1;
    node->iv[0] = kind;
    node->iv[1] = param;
    node->iv[2] = training;
    node->iv[7] = weight != NULL;
    int rc = save_common(node, input, weight, mean, rstd);
    if (!rc) rc = ct_node_set_output(node, out, 0);
    ct_node_release(node);
    return rc;
}

int ctg_nn_batch_norm(ct_tensor *result0, ct_tensor *result1, ct_tensor *result2, ct_tensor *input, ct_tensor *weight,
                      ct_tensor *bias, ct_tensor *running_mean, ct_tensor *running_var, bool training, double momentum,
                      double eps) {
    (void)running_mean, (void)running_var, (void)momentum, (void)eps;
    return record_norm("NativeBatchNormBackward0", 3, 0, training, result0, result1, result2, input, weight, bias, 3);
}

int ctg_nn_layer_norm(ct_tensor *result0, ct_tensor *result1, ct_tensor *result2, ct_tensor *input,
                      ct_intlist normalized_shape, ct_tensor *weight, ct_tensor *bias, double eps) {
    (void)eps;
    int64_t L = 1;
    for (int64_t i = 0; i < normalized_shape.n; i++) L *= normalized_shape.data[i];
    return record_norm("NativeLayerNormBackward0", 0, L, true, result0, result1, result2, input, weight, bias, 3);
}

int ctg_nn_group_norm(ct_tensor *result0, ct_tensor *result1, ct_tensor *result2, ct_tensor *input, int64_t num_groups,
                      ct_tensor *weight, ct_tensor *bias, double eps) {
    (void)eps;
    return record_norm("NativeGroupNormBackward0", 1, num_groups, true, result0, result1, result2, input, weight, bias,
                       3);
}

int ctg_nn_rms_norm(ct_tensor *result0, ct_tensor *result1, ct_tensor *input, ct_intlist normalized_shape,
                    ct_tensor *weight, const double *eps) {
    (void)eps;
    int64_t L = 1;
    for (int64_t i = 0; i < normalized_shape.n; i++) L *= normalized_shape.data[i];
    /* the rms kernel returns only rstd; the row backward reads a zero mean */
    ct_tensor *zeros = ct_zeros((ct_intlist){result1->sizes, result1->ndim}, CT_FLOAT64, -1);
    if (!zeros) return -1;
    int rc = record_norm("FusedRmsNormBackward0", 2, L, true, result0, zeros, result1, input, weight, NULL, 2);
    ct_tensor_release(zeros);
    return rc;
}

/* local response norm: fused backward kernel (torch records a composite of pow/avg_pool/div) */
static int lrn_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *x = ct_node_saved(n, 0);
    if (!x) return -1;
    bool prev = ct_set_grad_enabled(false);
    ct_tensor *r = ct_nn_lrn_bwd(g[0], x, n->iv[0], n->dv[0], n->dv[1], n->dv[2]);
    ct_set_grad_enabled(prev);
    if (!r) {
        ct_tensor_release(x);
        return -1;
    }
    gi[0] = ct_sum_to_meta(r, &n->in_meta[0]);
    ct_tensor_release(r);
    ct_tensor *deps[2] = {g[0], x};
    int rc = gi[0] ? ct_nn_once_differentiable("LocalResponseNormBackwardBackward0", 1, gi, 2, deps) : -1;
    ct_tensor_release(x);
    return rc;
}

int ctg_nn_local_response_norm(ct_tensor *result, ct_tensor *self, int64_t size, double alpha, double beta, double k) {
    if (!ct_autograd_should_record(1, &self) || !ct_dtype_is_floating(result->dtype)) return 0;
    ct_node *node = ct_autograd_record("LocalResponseNormBackward0", lrn_backward, result, 1, &self);
    if (!node) return -1;
    node->iv[0] = size;
    node->dv[0] = alpha, node->dv[1] = beta, node->dv[2] = k;
    return ct_node_save(node, 0, self, -1);
}
