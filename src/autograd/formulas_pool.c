/* Backward formulas of the pooling ops (src/ops/nn_pool.ops).
 *
 * Each linear pool has an adjoint op that is itself recorded, so gradients of gradients
 * work: avg_pool <-> avg_pool_backward, adaptive_avg_pool <-> adaptive_avg_pool_backward,
 * and the index pair pool_scatter_add <-> pool_gather that carries max pools (forward
 * indices), adaptive max pools and max_unpool. lp_pool's backward is a dedicated kernel
 * (nn_lp_pool_backward); under create_graph it is torch's composite differentiated instead. */
#include <stdlib.h>
#include <string.h>

#include "formulas_nn.h"
#include "../kernels/cpu/gridsample.h"

typedef struct pool_params {
    int64_t k[3], s[3], p[3], d[3];
    int nk, ns, np, ndl;
    bool ceil_mode, count_include_pad, has_divisor;
    int64_t divisor;
    double norm;
    int64_t nd;
} pool_params;

static void free_payload(ct_node *n) { free(n->payload); }

static pool_params *params_new(ct_node *n) {
    pool_params *pp = calloc(1, sizeof *pp);
    if (!pp) {
        ct_errorf(CT_ERR_MEMORY, "out of memory");
        return NULL;
    }
    n->payload = pp;
    n->destroy = free_payload;
    return pp;
}

static void copy_list(int64_t *dst, int *n, ct_intlist l) {
    *n = l.n > 3 ? 3 : (l.n < 0 ? 0 : (int)l.n);
    for (int i = 0; i < *n; i++) dst[i] = l.data[i];
}

static ct_intlist L(const int64_t *d, int n) { return (ct_intlist){d, n}; }
static ct_intlist meta_sizes(const ct_node *n, int i) { return (ct_intlist){n->in_meta[i].sizes, n->in_meta[i].ndim}; }

static int put(ct_node *n, ct_tensor **gi, int i, ct_tensor *r) {
    if (!r) return -1;
    ct_tensor *s = ct_sum_to_meta(r, &n->in_meta[i]);
    ct_tensor_release(r);
    if (!s) return -1;
    gi[i] = s;
    return 0;
}

static const char *pick(int64_t nd, const char *n1, const char *n2, const char *n3) {
    return nd == 1 ? n1 : nd == 3 ? n3 : n2;
}

/* single-output, single-differentiable-input node; NULL when nothing to record */
static ct_node *record1(const char *name, ct_backward_fn fn, ct_tensor *out, ct_tensor *in, int *err) {
    *err = 0;
    if (!ct_autograd_should_record(1, &in) || !ct_dtype_is_floating(out->dtype)) return NULL;
    ct_node *node = ct_autograd_record(name, fn, out, 1, &in);
    if (!node) *err = 1;
    return node;
}

/* ------------------------------------------------------------------ input as a zero-derivative input
 *
 * torch's pool backward ops (max_pool*_with_indices_backward, avg_pool*_backward,
 * _adaptive_avg_pool*_backward, adaptive_max_pool*_backward) take the pooled input `self` as an
 * argument whose derivative is zero. Under create_graph the input gradient therefore requires
 * grad even for a constant incoming gradient, and differentiating it again w.r.t. the input
 * gives zeros. bwd_begin / bwd_link reproduce that: the adjoint is computed without recording,
 * then one node with inputs {grad, self} is attached to it (self's edge copied from the
 * forward node). Input 1 of such a node gets zeros. */

static bool bwd_begin(ct_node *fwd, ct_tensor *grad, bool *prev) {
    bool rec = ct_grad_enabled() && ct_dtype_is_floating(grad->dtype) &&
               (ct_node_needs_grad(fwd, 0) || ct_tensor_requires_grad(grad));
    if (rec) *prev = ct_set_grad_enabled(false);
    return rec;
}

/* r: the adjoint computed between bwd_begin and here (NULL on error: passed through). Returns
 * the new node (borrowed, owned by r) or NULL with r released. */
static ct_node *bwd_link(ct_node *fwd, bool prev, ct_tensor **r, ct_tensor *grad, const char *name,
                         ct_backward_fn fn) {
    ct_set_grad_enabled(prev);
    if (!*r) return NULL;
    ct_tensor *ins[2] = {grad, NULL};
    ct_node *node = ct_node_new(name, fn, 2, ins, 1);
    if (node) {
        node->next[1] = fwd->next[0];
        if (node->next[1].fn) ct_node_retain(node->next[1].fn);
        node->in_meta[1] = fwd->in_meta[0];
        if (ct_node_set_output(node, *r, 0)) {
            ct_node_release(node);
            node = NULL;
        } else {
            ct_node_release(node); /* owned by r */
        }
    }
    if (!node) {
        ct_tensor_release(*r);
        *r = NULL;
    }
    return node;
}

/* the zero gradient of the {grad, self} nodes' input 1 */
static int self_zero(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (n->n_inputs < 2 || !ct_node_needs_grad(n, 1)) return 0;
    const ct_input_meta *m = &n->in_meta[1];
    return put(n, gi, 1, ct_zeros((ct_intlist){m->sizes, m->ndim}, g[0] ? g[0]->dtype : m->dtype, -1));
}

/* ------------------------------------------------------------------ index pair */

static int scatter_add_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (self_zero(n, g, gi)) return -1;
    if (!ct_node_needs_grad(n, 0)) return 0;
    ct_tensor *ind = ct_node_saved(n, 0);
    if (!ind) return -1;
    ct_tensor *r = ct_nn_pool_gather(g[0], ind, n->iv[0]);
    ct_tensor_release(ind);
    return put(n, gi, 0, r);
}

static int gather_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *ind = ct_node_saved(n, 0);
    if (!ind) return -1;
    ct_tensor *r = ct_nn_pool_scatter_add(g[0], ind, meta_sizes(n, 0), n->iv[0]);
    ct_tensor_release(ind);
    return put(n, gi, 0, r);
}

int ctg_nn_pool_scatter_add(ct_tensor *result, ct_tensor *grad, ct_tensor *indices, ct_intlist self_size, int64_t nd) {
    (void)self_size;
    int err;
    ct_node *node = record1(pick(nd, "MaxPool1DWithIndicesBackwardBackward0", "MaxPool2DWithIndicesBackwardBackward0",
                                 "MaxPool3DWithIndicesBackwardBackward0"),
                            scatter_add_backward, result, grad, &err);
    if (!node) return err ? -1 : 0;
    node->iv[0] = nd;
    return ct_node_save(node, 0, indices, -1);
}

int ctg_nn_pool_gather(ct_tensor *result, ct_tensor *self, ct_tensor *indices, int64_t nd) {
    int err;
    ct_node *node = record1("PoolGatherBackward0", gather_backward, result, self, &err);
    if (!node) return err ? -1 : 0;
    node->iv[0] = nd;
    return ct_node_save(node, 0, indices, -1);
}

/* max pool and adaptive max pool: the gradient goes to the argmax positions */
static int max_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    ct_tensor *ind = ct_node_saved(n, 0);
    if (!ind) return -1;
    bool prev = false, rec = bwd_begin(n, g[0], &prev);
    ct_tensor *r = ct_nn_pool_scatter_add(g[0], ind, meta_sizes(n, 0), n->iv[0]);
    if (rec) {
        int64_t nd = n->iv[0];
        ct_node *node = bwd_link(n, prev, &r, g[0],
                                 n->iv[1] ? pick(nd, "AdaptiveMaxPool1DBackwardBackward0", "AdaptiveMaxPool2DBackwardBackward0",
                                                 "AdaptiveMaxPool3DBackwardBackward0")
                                          : pick(nd, "MaxPool1DWithIndicesBackwardBackward0",
                                                 "MaxPool2DWithIndicesBackwardBackward0",
                                                 "MaxPool3DWithIndicesBackwardBackward0"),
                                 scatter_add_backward);
        if (node) {
            node->iv[0] = nd;
            if (ct_node_save(node, 0, ind, -1)) {
                ct_tensor_release(r);
                r = NULL;
            }
        }
    }
    ct_tensor_release(ind);
    return put(n, gi, 0, r);
}

static int record_max(const char *name, ct_tensor *out, ct_tensor *ind, ct_tensor *self, int64_t nd, bool adaptive) {
    if (!ct_autograd_should_record(1, &self) || !ct_dtype_is_floating(out->dtype)) return 0;
    ct_node *node = ct_node_new(name, max_backward, 1, &self, 2);
    if (!node) return -1;
    node->iv[0] = nd;
    node->iv[1] = adaptive;
    int rc = ct_node_save(node, 0, ind, -1);
    if (!rc) rc = ct_node_set_output(node, out, 0);
    ct_node_release(node);
    return rc;
}

int ctg_nn_max_pool(ct_tensor *result0, ct_tensor *result1, ct_tensor *self, ct_intlist kernel_size, ct_intlist stride,
                    ct_intlist padding, ct_intlist dilation, bool ceil_mode) {
    (void)stride, (void)padding, (void)dilation, (void)ceil_mode;
    int64_t nd = kernel_size.n;
    return record_max(pick(nd, "MaxPool1DWithIndicesBackward0", "MaxPool2DWithIndicesBackward0",
                           "MaxPool3DWithIndicesBackward0"),
                      result0, result1, self, nd, false);
}

int ctg_nn_adaptive_max_pool(ct_tensor *result0, ct_tensor *result1, ct_tensor *self, ct_intlist output_size) {
    int64_t nd = output_size.n;
    return record_max(pick(nd, "AdaptiveMaxPool1DBackward0", "AdaptiveMaxPool2DBackward0", "AdaptiveMaxPool3DBackward0"),
                      result0, result1, self, nd, true);
}

static int unpool_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *ind = ct_node_saved(n, 0);
    if (!ind) return -1;
    ct_tensor *r = ct_nn_pool_gather(g[0], ind, n->iv[0]);
    ct_tensor_release(ind);
    return put(n, gi, 0, r);
}

int ctg_nn_max_unpool(ct_tensor *result, ct_tensor *self, ct_tensor *indices, ct_intlist output_size) {
    int64_t nd = output_size.n;
    int err;
    ct_node *node = record1(pick(nd, "MaxUnpool1DBackward0", "MaxUnpool2DBackward0", "MaxUnpool3DBackward0"),
                            unpool_backward, result, self, &err);
    if (!node) return err ? -1 : 0;
    node->iv[0] = nd;
    return ct_node_save(node, 0, indices, -1);
}

/* ------------------------------------------------------------------ avg pool pair */

static const int64_t *opt_div(const pool_params *pp) { return pp->has_divisor ? &pp->divisor : NULL; }

static int avg_backward_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi);

static int avg_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    const pool_params *pp = n->payload;
    bool prev = false, rec = bwd_begin(n, g[0], &prev);
    ct_tensor *r = ct_nn_avg_pool_backward(g[0], meta_sizes(n, 0), L(pp->k, pp->nk), L(pp->s, pp->ns), L(pp->p, pp->np),
                                           pp->ceil_mode, pp->count_include_pad, opt_div(pp));
    if (rec) {
        ct_node *node = bwd_link(n, prev, &r, g[0],
                                 pick(pp->nk, "AvgPool1DBackwardBackward0", "AvgPool2DBackwardBackward0",
                                      "AvgPool3DBackwardBackward0"),
                                 avg_backward_backward);
        pool_params *q = node ? params_new(node) : NULL;
        if (q) {
            *q = *pp;
        } else if (node) {
            ct_tensor_release(r);
            r = NULL;
        }
    }
    return put(n, gi, 0, r);
}

static int avg_backward_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (self_zero(n, g, gi)) return -1;
    if (!ct_node_needs_grad(n, 0)) return 0;
    const pool_params *pp = n->payload;
    ct_tensor *r = ct_nn_avg_pool(g[0], L(pp->k, pp->nk), L(pp->s, pp->ns), L(pp->p, pp->np), pp->ceil_mode,
                                  pp->count_include_pad, opt_div(pp));
    return put(n, gi, 0, r);
}

static int avg_record(const char *name, ct_backward_fn fn, ct_tensor *out, ct_tensor *in, ct_intlist k, ct_intlist s,
                      ct_intlist p, bool ceil_mode, bool cip, const int64_t *div) {
    int err;
    ct_node *node = record1(name, fn, out, in, &err);
    if (!node) return err ? -1 : 0;
    pool_params *pp = params_new(node);
    if (!pp) return -1;
    copy_list(pp->k, &pp->nk, k);
    copy_list(pp->s, &pp->ns, s);
    copy_list(pp->p, &pp->np, p);
    pp->ceil_mode = ceil_mode;
    pp->count_include_pad = cip;
    pp->has_divisor = div != NULL;
    pp->divisor = div ? *div : 0;
    return 0;
}

int ctg_nn_avg_pool(ct_tensor *result, ct_tensor *self, ct_intlist kernel_size, ct_intlist stride, ct_intlist padding,
                    bool ceil_mode, bool count_include_pad, const int64_t *divisor_override) {
    return avg_record(pick(kernel_size.n, "AvgPool1DBackward0", "AvgPool2DBackward0", "AvgPool3DBackward0"),
                      avg_backward, result, self, kernel_size, stride, padding, ceil_mode, count_include_pad,
                      divisor_override);
}

int ctg_nn_avg_pool_backward(ct_tensor *result, ct_tensor *grad_output, ct_intlist input_size, ct_intlist kernel_size,
                             ct_intlist stride, ct_intlist padding, bool ceil_mode, bool count_include_pad,
                             const int64_t *divisor_override) {
    (void)input_size;
    return avg_record(pick(kernel_size.n, "AvgPool1DBackwardBackward0", "AvgPool2DBackwardBackward0",
                           "AvgPool3DBackwardBackward0"),
                      avg_backward_backward, result, grad_output, kernel_size, stride, padding, ceil_mode,
                      count_include_pad, divisor_override);
}

/* ------------------------------------------------------------------ adaptive avg pair */

static int aavg_backward_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi);

static int aavg_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    bool prev = false, rec = bwd_begin(n, g[0], &prev);
    ct_tensor *r = ct_nn_adaptive_avg_pool_backward(g[0], meta_sizes(n, 0), n->iv[0]);
    if (rec) {
        int64_t nd = n->iv[0];
        ct_node *node = bwd_link(n, prev, &r, g[0],
                                 pick(nd, "AdaptiveAvgPool1DBackwardBackward0", "AdaptiveAvgPool2DBackwardBackward0",
                                      "AdaptiveAvgPool3DBackwardBackward0"),
                                 aavg_backward_backward);
        if (node) node->iv[0] = nd;
    }
    return put(n, gi, 0, r);
}

static int aavg_backward_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (self_zero(n, g, gi)) return -1;
    if (!ct_node_needs_grad(n, 0)) return 0;
    int64_t nd = n->iv[0];
    const ct_input_meta *m = &n->in_meta[0]; /* grad_output: its spatial sizes are the pool's output size */
    ct_tensor *r = ct_nn_adaptive_avg_pool(g[0], L(m->sizes + m->ndim - nd, (int)nd));
    return put(n, gi, 0, r);
}

/* torch computes an adaptive avg pool to all-ones output sizes (2-d, 3-d) as a mean over the
 * spatial dims: MeanBackward1, whose gradient grad.expand(input) / numel does not involve the
 * input (no second-order edge to it) */
static int global_mean_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (n->iv[2]) { /* channels-last input (N, C, H, W): the gradient is channels-last too */
        const int64_t *s = n->in_meta[0].sizes;
        int64_t to_nhwc[4] = {0, 2, 3, 1}, to_nchw[4] = {0, 3, 1, 2}, nhwc[4] = {s[0], s[2], s[3], s[1]};
        ct_tensor *p = ct_permute(g[0], (ct_intlist){to_nhwc, 4});
        ct_tensor *e = p ? ct_expand(p, (ct_intlist){nhwc, 4}, false) : NULL;
        ct_tensor *k = e ? ct_nn_scalar((double)n->iv[1]) : NULL;
        ct_tensor *d = k ? ct_div(e, k, NULL) : NULL;
        ct_tensor *r = d ? ct_permute(d, (ct_intlist){to_nchw, 4}) : NULL;
        ct_tensor *tmp[] = {p, e, k, d};
        for (int i = 0; i < 4; i++) ct_tensor_release(tmp[i]);
        return put(n, gi, 0, r);
    }
    ct_tensor *e = ct_expand(g[0], meta_sizes(n, 0), false);
    ct_tensor *k = e ? ct_nn_scalar((double)n->iv[1]) : NULL;
    ct_tensor *r = k ? ct_div(e, k, NULL) : NULL;
    ct_tensor_release(e);
    ct_tensor_release(k);
    return put(n, gi, 0, r);
}

/* (N, C, H, W) laid out (N, H, W, C), not also NCHW-contiguous */
static bool channels_last_4d(const ct_tensor *x) {
    if (x->ndim != 4 || ct_tensor_is_contiguous(x)) return false;
    int64_t C = x->sizes[1], H = x->sizes[2], W = x->sizes[3], want[4] = {H * W * C, 1, W * C, C};
    for (int i = 0; i < 4; i++)
        if (x->sizes[i] != 1 && x->strides[i] != want[i]) return false;
    return true;
}

int ctg_nn_adaptive_avg_pool(ct_tensor *result, ct_tensor *self, ct_intlist output_size) {
    int64_t nd = output_size.n;
    int err;
    bool global = nd >= 2 && self->ndim > nd;
    for (int64_t i = 0; i < nd; i++) global = global && output_size.data[i] == 1;
    if (global) {
        ct_node *node = record1("MeanBackward1", global_mean_backward, result, self, &err);
        if (!node) return err ? -1 : 0;
        int64_t numel = 1;
        for (int64_t i = self->ndim - nd; i < self->ndim; i++) numel *= self->sizes[i];
        node->iv[0] = nd;
        node->iv[1] = numel;
        node->iv[2] = nd == 2 && channels_last_4d(self);
        return 0;
    }
    ct_node *node = record1(pick(nd, "AdaptiveAvgPool1DBackward0", "AdaptiveAvgPool2DBackward0",
                                 "AdaptiveAvgPool3DBackward0"),
                            aavg_backward, result, self, &err);
    if (!node) return err ? -1 : 0;
    node->iv[0] = nd;
    return 0;
}

int ctg_nn_adaptive_avg_pool_backward(ct_tensor *result, ct_tensor *grad_output, ct_intlist input_size, int64_t nd) {
    (void)input_size;
    int err;
    ct_node *node = record1(pick(nd, "AdaptiveAvgPool1DBackwardBackward0", "AdaptiveAvgPool2DBackwardBackward0",
                                 "AdaptiveAvgPool3DBackwardBackward0"),
                            aavg_backward_backward, result, grad_output, &err);
    if (!node) return err ? -1 : 0;
    node->iv[0] = nd;
    return 0;
}

/* ------------------------------------------------------------------ lp pool */

/* torch's composite: (sign(a) relu(|a|) prod(k))^(1/p), a = avg_pool(x^p) (create_graph path) */
static int lp_fwd(ct_node *n, ct_tensor *const *in, ct_tensor **outs) {
    const pool_params *pp = n->payload;
    int64_t zeros[3] = {0, 0, 0}, kprod = 1;
    for (int i = 0; i < pp->nk; i++) kprod *= pp->k[i];
    ct_tensor *pw = ct_nn_scalar(pp->norm), *ip = ct_nn_scalar(1.0 / pp->norm), *kp = ct_nn_scalar((double)kprod);
    ct_tensor *xp = (pw && ip && kp) ? ct_pow(in[0], pw) : NULL;
    ct_tensor *a = xp ? ct_nn_avg_pool(xp, L(pp->k, pp->nk), L(pp->s, pp->ns), L(zeros, pp->nk), pp->ceil_mode, true,
                                       NULL) : NULL;
    ct_tensor *sg = a ? ct_sign(a) : NULL, *ab = sg ? ct_abs(a) : NULL;
    ct_tensor *rl = ab ? ct_clamp_min(ab, ct_scalar_i(0)) : NULL, *m = rl ? ct_mul(sg, rl) : NULL;
    ct_tensor *mk = m ? ct_mul(m, kp) : NULL;
    outs[0] = mk ? ct_pow(mk, ip) : NULL;
    ct_tensor *tmp[] = {pw, ip, kp, xp, a, sg, ab, rl, m, mk};
    for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) ct_tensor_release(tmp[i]);
    return outs[0] ? 0 : -1;
}

static int lp_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    const pool_params *pp = n->payload;
    ct_tensor *x = ct_node_saved(n, 0);
    if (x && ct_grad_enabled()) {
        int rc = ct_nn_composite_backward(n, &x, 1, g, lp_fwd, gi);
        ct_tensor_release(x);
        return rc;
    }
    ct_tensor *y = x ? ct_node_saved(n, 1) : NULL;
    ct_tensor *r = y ? ct_nn_lp_pool_backward(g[0], x, y, pp->norm, L(pp->k, pp->nk), L(pp->s, pp->ns), pp->ceil_mode)
                     : NULL;
    int rc = put(n, gi, 0, r);
    ct_tensor_release(x);
    ct_tensor_release(y);
    return rc;
}

int ctg_nn_lp_pool(ct_tensor *result, ct_tensor *self, double norm_type, ct_intlist kernel_size, ct_intlist stride,
                   bool ceil_mode) {
    int err;
    ct_node *node = record1(pick(kernel_size.n, "LpPool1DBackward0", "LpPool2DBackward0", "LpPool3DBackward0"),
                            lp_backward, result, self, &err);
    if (!node) return err ? -1 : 0;
    pool_params *pp = params_new(node);
    if (!pp) return -1;
    copy_list(pp->k, &pp->nk, kernel_size);
    copy_list(pp->s, &pp->ns, stride);
    pp->ceil_mode = ceil_mode;
    pp->norm = norm_type;
    if (ct_node_save(node, 0, self, -1)) return -1;
    return ct_node_save(node, 1, result, 0);
}

/* ------------------------------------------------------------------ upsample pair */

typedef struct up_params {
    int64_t out[3];
    int nd;
    const char *mode; /* static string */
    bool align;
    bool has_s[3];
    double s[3];
} up_params;

static const char *static_mode(const char *m) {
    static const char *modes[] = {"nearest", "nearest-exact", "linear", "bilinear", "trilinear", "bicubic",
                                  "bilinear_aa", "bicubic_aa", "lanczos_aa"};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (!strcmp(m, modes[i])) return modes[i];
    return "linear";
}

static const char *up_name(const char *mode, int nd, bool bwd) {
    if (!strcmp(mode, "bilinear_aa")) /* antialiased (2-d only) */
        return bwd ? "UpsampleBilinear2DAaBackwardBackward0" : "UpsampleBilinear2DAaBackward0";
    if (!strcmp(mode, "bicubic_aa"))
        return bwd ? "UpsampleBicubic2DAaBackwardBackward0" : "UpsampleBicubic2DAaBackward0";
    if (!strcmp(mode, "lanczos_aa"))
        return bwd ? "UpsampleLanczos2DAaBackwardBackward0" : "UpsampleLanczos2DAaBackward0";
    static const char *names[2][4][3] = {
        {{"UpsampleNearest1DBackward0", "UpsampleNearest2DBackward0", "UpsampleNearest3DBackward0"},
         {"UpsampleNearestExact1DBackward0", "UpsampleNearestExact2DBackward0", "UpsampleNearestExact3DBackward0"},
         {"UpsampleLinear1DBackward0", "UpsampleBilinear2DBackward0", "UpsampleTrilinear3DBackward0"},
         {"UpsampleBicubic1DBackward0", "UpsampleBicubic2DBackward0", "UpsampleBicubic3DBackward0"}},
        {{"UpsampleNearest1DBackwardBackward0", "UpsampleNearest2DBackwardBackward0", "UpsampleNearest3DBackwardBackward0"},
         {"UpsampleNearestExact1DBackwardBackward0", "UpsampleNearestExact2DBackwardBackward0",
          "UpsampleNearestExact3DBackwardBackward0"},
         {"UpsampleLinear1DBackwardBackward0", "UpsampleBilinear2DBackwardBackward0", "UpsampleTrilinear3DBackwardBackward0"},
         {"UpsampleBicubic1DBackwardBackward0", "UpsampleBicubic2DBackwardBackward0", "UpsampleBicubic3DBackwardBackward0"}}};
    int m = !strcmp(mode, "nearest") ? 0 : !strcmp(mode, "nearest-exact") ? 1 : !strcmp(mode, "bicubic") ? 3 : 2;
    if (nd < 1) nd = 1;
    if (nd > 3) nd = 3;
    return names[bwd][m][nd - 1];
}

static const double *up_s(const up_params *u, int i) { return u->has_s[i] ? &u->s[i] : NULL; }

static int up_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    const up_params *u = n->payload;
    ct_tensor *r = ct_nn_upsample_backward(g[0], meta_sizes(n, 0), L(u->out, u->nd), u->mode, u->align, up_s(u, 0),
                                           up_s(u, 1), up_s(u, 2));
    return put(n, gi, 0, r);
}

static int up_backward_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    const up_params *u = n->payload;
    ct_tensor *r = ct_nn_upsample(g[0], L(u->out, u->nd), u->mode, u->align, up_s(u, 0), up_s(u, 1), up_s(u, 2));
    return put(n, gi, 0, r);
}

static int up_record(bool bwd, ct_tensor *result, ct_tensor *in, ct_intlist output_size, const char *mode, bool align,
                     const double *s0, const double *s1, const double *s2) {
    int err;
    ct_node *node = record1(up_name(mode, (int)output_size.n, bwd), bwd ? up_backward_backward : up_backward, result,
                            in, &err);
    if (!node) return err ? -1 : 0;
    up_params *u = calloc(1, sizeof *u);
    if (!u) return ct_errorf(CT_ERR_MEMORY, "out of memory");
    node->payload = u;
    node->destroy = free_payload;
    copy_list(u->out, &u->nd, output_size);
    u->mode = static_mode(mode);
    u->align = align;
    const double *s[3] = {s0, s1, s2};
    for (int i = 0; i < 3; i++) {
        u->has_s[i] = s[i] != NULL;
        u->s[i] = s[i] ? *s[i] : 0;
    }
    return 0;
}

int ctg_nn_upsample(ct_tensor *result, ct_tensor *self, ct_intlist output_size, const char *mode, bool align_corners,
                    const double *scale_0, const double *scale_1, const double *scale_2) {
    return up_record(false, result, self, output_size, mode, align_corners, scale_0, scale_1, scale_2);
}

int ctg_nn_upsample_backward(ct_tensor *result, ct_tensor *grad_output, ct_intlist input_size, ct_intlist output_size,
                             const char *mode, bool align_corners, const double *scale_0, const double *scale_1,
                             const double *scale_2) {
    (void)input_size;
    return up_record(true, result, grad_output, output_size, mode, align_corners, scale_0, scale_1, scale_2);
}

/* ------------------------------------------------------------------ grid_sample, affine_grid */

/* grid_sample from recorded ops (create_graph path): source coordinates (unnormalize, then the
 * padding mode's clip / reflection), then bilinear / nearest taps gathered from the flattened
 * input and weighted; out-of-range taps read zero (the kernels have no bicubic mode). */
#define GX(expr) (Ap->fail ? NULL : ct_cx_keep(Ap, (expr)))
#define GS(v) GX(ct_nn_scalar(v))

static ct_tensor *gs_clip(ct_cx *Ap, ct_tensor *c, int64_t size) {
    ct_scalar lo = ct_scalar_f(0), hi = ct_scalar_f((double)(size - 1));
    return GX(ct_clamp(c, &lo, &hi));
}

/* torch's reflect_coordinates over [twice_low/2, twice_high/2] */
static ct_tensor *gs_reflect(ct_cx *Ap, ct_tensor *c, int64_t twice_low, int64_t twice_high) {
    if (twice_low == twice_high) return GX(ct_mul(c, GS(0.0)));
    double mn = twice_low / 2.0, span = (twice_high - twice_low) / 2.0;
    ct_tensor *in = GX(ct_abs(GX(ct_sub(c, GS(mn), ct_scalar_i(1)))));
    ct_tensor *fl = GX(ct_floor(GX(ct_div(in, GS(span), NULL))));
    ct_tensor *extra = GX(ct_sub(in, GX(ct_mul(fl, GS(span))), ct_scalar_i(1)));
    ct_tensor *half = GX(ct_floor(GX(ct_mul(fl, GS(0.5)))));
    ct_tensor *even = GX(ct_eq(GX(ct_sub(fl, GX(ct_mul(half, GS(2.0))), ct_scalar_i(1))), GS(0.0)));
    ct_tensor *a = GX(ct_add(extra, GS(mn), ct_scalar_i(1)));
    ct_tensor *b = GX(ct_add(GX(ct_sub(GS(span), extra, ct_scalar_i(1))), GS(mn), ct_scalar_i(1)));
    return GX(ct_where_self(even, a, b));
}

static ct_tensor *gs_coords(ct_cx *Ap, ct_tensor *c, int64_t size, int64_t pad, bool align) {
    if (pad == 1) return gs_clip(Ap, c, size);
    if (pad == 2) {
        ct_tensor *r = align ? gs_reflect(Ap, c, 0, 2 * (size - 1)) : gs_reflect(Ap, c, -1, 2 * size - 1);
        return r ? gs_clip(Ap, r, size) : NULL;
    }
    return c;
}

typedef struct {
    ct_tensor *flat; /* (N, C, P) */
    int nd;
    int64_t N, C, Q, sz[3], st[3];
} gs_ctx;

/* sum of weight * input at integer-valued (float) positions idx[d] (N, Q), zero out of range */
static ct_tensor *gs_tap(ct_cx *Ap, const gs_ctx *G, ct_tensor *const *idx, ct_tensor *w) {
    ct_tensor *lin = NULL, *valid = NULL;
    for (int d = 0; d < G->nd; d++) {
        ct_tensor *ok = GX(ct_logical_and(GX(ct_ge(idx[d], GS(0.0))), GX(ct_le(idx[d], GS((double)(G->sz[d] - 1))))));
        valid = valid ? GX(ct_logical_and(valid, ok)) : ok;
        ct_tensor *cl = gs_clip(Ap, idx[d], G->sz[d]);
        ct_tensor *term = GX(ct_mul(cl, GS((double)G->st[d])));
        lin = lin ? GX(ct_add(lin, term, ct_scalar_i(1))) : term;
    }
    int64_t e[3] = {G->N, G->C, G->Q};
    ct_tensor *li = GX(ct_expand(GX(ct_unsqueeze(GX(ct_to_dtype(lin, CT_INT64, false)), 1)), (ct_intlist){e, 3}, false));
    ct_tensor *v = GX(ct_gather(G->flat, 2, li, false));
    ct_tensor *vw = w ? GX(ct_where_self(valid, w, GS(0.0))) : GX(ct_to_dtype(valid, G->flat->dtype, false));
    return GX(ct_mul(v, GX(ct_unsqueeze(vw, 1))));
}

static ct_tensor *acc_add(ct_tensor *acc, ct_tensor *t) { /* acc (owned) + t (borrowed) */
    if (!t) {
        ct_tensor_release(acc);
        return NULL;
    }
    if (!acc) {
        ct_tensor_retain(t);
        return t;
    }
    ct_tensor *r = ct_add(acc, t, ct_scalar_i(1));
    ct_tensor_release(acc);
    return r;
}

static int grid_sample_fwd(ct_node *n, ct_tensor *const *in, ct_tensor **outs) {
    ct_cx AA = {.n = 0}, *Ap = &AA;
    ct_tensor *x = in[0], *grid = in[1], *acc = NULL;
    int64_t mode = n->iv[0], pad = n->iv[1];
    bool align = n->iv[2] != 0;
    gs_ctx G = {.nd = x->ndim - 2, .N = x->sizes[0], .C = x->sizes[1], .Q = 1};
    int64_t P = 1;
    for (int d = G.nd - 1; d >= 0; d--) G.sz[d] = x->sizes[2 + d], G.st[d] = P, P *= G.sz[d];
    for (int d = 0; d < G.nd; d++) G.Q *= grid->sizes[1 + d];
    int64_t fs[3] = {G.N, G.C, P}, q2[2] = {G.N, G.Q};
    G.flat = GX(ct_reshape(x, (ct_intlist){fs, 3}));
    ct_tensor *c[3] = {0}, *i0[3] = {0}, *t[3] = {0};
    for (int d = 0; d < G.nd; d++) {
        ct_tensor *raw = GX(ct_reshape(GX(ct_select(grid, -1, G.nd - 1 - d)), (ct_intlist){q2, 2}));
        double sz = (double)G.sz[d];
        ct_tensor *u = align ? GX(ct_add(GX(ct_mul(raw, GS((sz - 1) / 2))), GS((sz - 1) / 2), ct_scalar_i(1)))
                             : GX(ct_add(GX(ct_mul(raw, GS(sz / 2))), GS((sz - 1) / 2), ct_scalar_i(1)));
        c[d] = u ? gs_coords(Ap, u, G.sz[d], pad, align) : NULL;
        if (c[d] && mode != 1) {
            i0[d] = GX(ct_floor(GX(ct_detach(c[d]))));
            t[d] = GX(ct_sub(c[d], i0[d], ct_scalar_i(1)));
        }
    }
    if (Ap->fail) goto out;
    if (mode == 1) { /* nearest: round half to even */
        ct_tensor *idx[3];
        for (int d = 0; d < G.nd; d++) idx[d] = GX(ct_round(GX(ct_detach(c[d])), 0));
        acc = Ap->fail ? NULL : acc_add(NULL, gs_tap(Ap, &G, idx, NULL));
    } else if (mode == 0) { /* bilinear / trilinear */
        for (int corner = 0; corner < (1 << G.nd); corner++) {
            ct_cx TA = {.n = 0}, *Sp = Ap;
            Ap = &TA;
            ct_tensor *idx[3], *w = NULL;
            for (int d = 0; d < G.nd; d++) {
                bool hi = (corner >> d) & 1;
                idx[d] = hi ? GX(ct_add(i0[d], GS(1.0), ct_scalar_i(1))) : i0[d];
                ct_tensor *wd = hi ? t[d] : GX(ct_sub(GS(1.0), t[d], ct_scalar_i(1)));
                w = w ? GX(ct_mul(w, wd)) : wd;
            }
            ct_tensor *v = Ap->fail ? NULL : gs_tap(Ap, &G, idx, w);
            acc = acc_add(acc, v);
            bool fail = TA.fail || !acc;
            ct_cx_free(&TA);
            Ap = Sp;
            if (fail) goto out;
        }
    } else {
        ct_errorf(CT_ERR_NOT_IMPLEMENTED, "grid_sample: mode %lld has no composite", (long long)mode);
    }
out:
    if (acc) {
        int64_t os[5] = {G.N, G.C};
        for (int d = 0; d < G.nd; d++) os[2 + d] = grid->sizes[1 + d];
        outs[0] = ct_reshape(acc, (ct_intlist){os, 2 + G.nd});
        ct_tensor_release(acc);
    }
    ct_cx_free(Ap);
    return outs[0] ? 0 : -1;
}

static int grid_sample_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *x = ct_node_saved(n, 0);
    ct_tensor *grid = x ? ct_node_saved(n, 1) : NULL;
    ct_tensor *r[2] = {NULL, NULL};
    int rc = -1;
    if (grid && ct_grad_enabled() && x->numel && grid->numel) {
        ct_tensor *sv[2] = {x, grid};
        rc = ct_nn_composite_backward(n, sv, 1, g, grid_sample_fwd, gi);
        ct_tensor_release(x), ct_tensor_release(grid);
        return rc;
    }
    if (grid) {
        bool prev = ct_set_grad_enabled(false);
        rc = ct_nn_grid_sample_bwd(g[0], x, grid, n->iv[0], n->iv[1], n->iv[2] != 0, ct_node_needs_grad(n, 0),
                                   ct_node_needs_grad(n, 1), &r[0], &r[1]);
        ct_set_grad_enabled(prev);
    }
    if (rc) {
        ct_tensor_release(x), ct_tensor_release(grid);
        ct_tensor_release(r[0]), ct_tensor_release(r[1]);
        return -1;
    }
    for (int i = 0; i < 2; i++)
        if (r[i] && put(n, gi, i, r[i])) {
            if (i == 0) ct_tensor_release(r[1]);
            ct_tensor_release(x), ct_tensor_release(grid);
            return -1;
        }
    ct_tensor *deps[3] = {g[0], x, grid};
    rc = ct_nn_once_differentiable(strstr(n->name, "3D") ? "GridSampler3DBackwardBackward0" : "GridSampler2DBackwardBackward0",
                                   2, gi, 3, deps);
    ct_tensor_release(x), ct_tensor_release(grid);
    return rc;
}

int ctg_nn_grid_sample(ct_tensor *result, ct_tensor *input, ct_tensor *grid, int64_t mode, int64_t padding_mode,
                       bool align_corners) {
    ct_tensor *ins[2] = {input, grid};
    if (!ct_autograd_should_record(2, ins) || !ct_dtype_is_floating(result->dtype)) return 0;
    ct_node *node = ct_autograd_record(input->ndim == 5 ? "GridSampler3DBackward0" : "GridSampler2DBackward0",
                                       grid_sample_backward, result, 2, ins);
    if (!node) return -1;
    node->iv[0] = mode, node->iv[1] = padding_mode, node->iv[2] = align_corners;
    if (ct_node_save(node, 0, input, -1)) return -1;
    return ct_node_save(node, 1, grid, -1);
}

/* affine_grid <-> affine_grid_backward: linear maps adjoint to each other (double backward) */
static int affine_size(const ct_node *n, int64_t *size) {
    const pool_params *pp = n->payload;
    for (int i = 0; i < pp->nk; i++) size[i] = pp->k[i];
    for (int i = 0; i < pp->ns; i++) size[pp->nk + i] = pp->s[i];
    return pp->nk + pp->ns;
}

static int affine_grid_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    int64_t size[6];
    int k = affine_size(n, size);
    ct_tensor *r = ct_nn_affine_grid_backward(g[0], L(size, k), ((const pool_params *)n->payload)->ceil_mode);
    return put(n, gi, 0, r);
}

static int affine_grid_backward_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    int64_t size[6];
    int k = affine_size(n, size);
    ct_tensor *r = ct_nn_affine_grid(g[0], L(size, k), ((const pool_params *)n->payload)->ceil_mode);
    return put(n, gi, 0, r);
}

static int affine_record(const char *name, ct_backward_fn fn, ct_tensor *result, ct_tensor *in, ct_intlist size,
                         bool align_corners) {
    int err;
    ct_node *node = record1(name, fn, result, in, &err);
    if (!node) return err ? -1 : 0;
    pool_params *pp = params_new(node);
    if (!pp) return -1;
    /* the size (4 or 5 entries) is kept in k (first 3) and s (rest); ceil_mode holds align_corners */
    copy_list(pp->k, &pp->nk, (ct_intlist){size.data, size.n < 3 ? size.n : 3});
    copy_list(pp->s, &pp->ns, (ct_intlist){size.data + 3, size.n > 3 ? size.n - 3 : 0});
    pp->ceil_mode = align_corners;
    return 0;
}

int ctg_nn_affine_grid(ct_tensor *result, ct_tensor *theta, ct_intlist size, bool align_corners) {
    return affine_record("AffineGridGeneratorBackward0", affine_grid_backward, result, theta, size, align_corners);
}

int ctg_nn_affine_grid_backward(ct_tensor *result, ct_tensor *grad, ct_intlist size, bool align_corners) {
    return affine_record("AffineGridGeneratorBackwardBackward0", affine_grid_backward_backward, result, grad, size,
                         align_corners);
}
