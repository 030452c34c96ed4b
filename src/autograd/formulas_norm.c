/* Backward formulas of the normalisation ops (src/ops/nn_norm.ops). First-order gradients
 * come from the fused backward kernels in src/kernels/cpu/norm.c (one pass per channel /
 * row). Under create_graph (grad mode on during the backward) batch/layer/group/rms norm use
 * a composite of recorded ops instead (norm_backward_composite, with the differentiable
 * nn_rsqrt_eps), so double backward works. nn_local_response_norm (the C op; the Python
 * F.local_response_norm is torch's composite) does the same with the gradient of a composite
 * forward (NOTE [ Double backward through fused nn kernels ]). Node names
 * are torch's, except rms norm (torch records a composite there). */
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

/* ------------------------------------------------------------------ create_graph path */

/* rsqrt_eps: d/dx (x + eps)^-1/2 = -1/2 y^3, written with ops (y saved as this node's output) */
static ct_tensor *scal(double v, int dtype) {
    ct_tensor *t = ct_scalar_tensor_f64(v, CT_FLOAT64);
    (void)dtype;
    if (t) t->flags |= CT_FLAG_WRAPPED_NUMBER;
    return t;
}

static ct_tensor *mul_s(ct_tensor *a, double v) {
    ct_tensor *s = scal(v, a->dtype);
    ct_tensor *r = s ? ct_mul(a, s) : NULL;
    ct_tensor_release(s);
    return r;
}

static int rsqrt_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *y = ct_node_saved(n, 0);
    if (!y) return -1;
    ct_tensor *y2 = ct_mul(y, y), *y3 = y2 ? ct_mul(y2, y) : NULL, *t = y3 ? ct_mul(g[0], y3) : NULL;
    ct_tensor *r = t ? mul_s(t, -0.5) : NULL;
    ct_tensor_release(y), ct_tensor_release(y2), ct_tensor_release(y3), ct_tensor_release(t);
    if (!r) return -1;
    gi[0] = ct_sum_to_meta(r, &n->in_meta[0]);
    ct_tensor_release(r);
    return gi[0] ? 0 : -1;
}

int ctg_nn_rsqrt_eps(ct_tensor *result, ct_tensor *self, double eps) {
    (void)eps;
    if (!ct_autograd_should_record(1, &self) || !ct_dtype_is_floating(result->dtype)) return 0;
    ct_node *node = ct_autograd_record("RsqrtBackward0", rsqrt_backward, result, 1, &self);
    if (!node) return -1;
    return ct_node_save(node, 0, result, 0);
}

/* a simple arena so the composite can release everything on every path */
typedef struct {
    ct_tensor *t[64];
    int n;
    bool fail;
} arena;

static ct_tensor *keep(arena *A, ct_tensor *t) {
    if (!t || A->n >= 64) {
        if (t) ct_tensor_release(t);
        A->fail = true;
        return NULL;
    }
    A->t[A->n++] = t;
    return t;
}

static void arena_free(arena *A) {
    for (int i = 0; i < A->n; i++) ct_tensor_release(A->t[i]);
}

#define K(expr) (A.fail ? NULL : keep(&A, (expr)))

/* mean over dims (keepdim) with a differentiable sum */
static ct_tensor *mean_dims(arena *Ap, ct_tensor *t, const int64_t *dims, int nd, double count) {
    arena A = *Ap;
    ct_tensor *s = K(ct_sum_to_dims(t, dims, nd));
    ct_tensor *m = s ? K(mul_s(s, 1.0 / count)) : NULL;
    *Ap = A;
    return m;
}

/* Norm gradients as a composite of recorded ops (used under create_graph so they can be
 * differentiated again): recompute mean, 1/std (rsqrt_eps) and xhat from x with ops, then
 * gi = rstd * (a - mean(a) - xhat * mean(a * xhat)), a = g * w; weight/bias gradients are
 * sums of g * xhat and g over the other dims. Batch norm in eval uses the saved 1/std. */
static int norm_backward_composite(ct_node *n, ct_tensor *g0, ct_tensor *x, ct_tensor *w, ct_tensor *saved_mean,
                                   ct_tensor *saved_rstd, ct_tensor **gi) {
    arena A = {.n = 0, .fail = false};
    int kind = (int)n->iv[0];
    const ct_input_meta *xm = &n->in_meta[0];
    int64_t vs[4], ws[4];
    int vn, red[3], nred, bdims[3], nb;
    if (kind == 0 || kind == 2) { /* layer / rms: (R, L) */
        int64_t L = n->iv[1], R = L ? x->numel / L : 0;
        vs[0] = R, vs[1] = L, vn = 2;
        ws[0] = 1, ws[1] = L;
        red[0] = 1, nred = 1, bdims[0] = 0, nb = 1;
    } else if (kind == 1) { /* group: (N, G, Cg, S) */
        int64_t N = xm->sizes[0], C = xm->sizes[1], G = n->iv[1], S = 1;
        for (int i = 2; i < xm->ndim; i++) S *= xm->sizes[i];
        vs[0] = N, vs[1] = G, vs[2] = C / G, vs[3] = S, vn = 4;
        ws[0] = 1, ws[1] = G, ws[2] = C / G, ws[3] = 1;
        red[0] = 2, red[1] = 3, nred = 2, bdims[0] = 0, bdims[1] = 3, nb = 2;
    } else { /* batch: (N, C, S) */
        int64_t N = xm->sizes[0], C = xm->sizes[1], S = 1;
        for (int i = 2; i < xm->ndim; i++) S *= xm->sizes[i];
        vs[0] = N, vs[1] = C, vs[2] = S, vn = 3;
        ws[0] = 1, ws[1] = C, ws[2] = 1;
        red[0] = 0, red[1] = 2, nred = 2, bdims[0] = 0, bdims[1] = 2, nb = 2;
    }
    int64_t rdims[3], bd[3];
    double M = 1;
    for (int i = 0; i < nred; i++) rdims[i] = red[i], M *= (double)vs[red[i]];
    for (int i = 0; i < nb; i++) bd[i] = bdims[i];
    bool training = n->iv[2] != 0;
    double eps = n->dv[0];
    ct_tensor *xv = K(ct_reshape(x, (ct_intlist){vs, vn}));
    ct_tensor *gv = K(ct_reshape(g0, (ct_intlist){vs, vn}));
    ct_tensor *wv = w ? K(ct_reshape(w, (ct_intlist){ws, vn})) : NULL;
    ct_tensor *rstd, *xhat, *d;
    if (kind == 3 && !training) { /* eval: statistics are constants */
        int64_t cs[3] = {1, vs[1], 1};
        ct_tensor *mu = K(ct_to_dtype(saved_mean, x->dtype, false));
        ct_tensor *is = K(ct_to_dtype(saved_rstd, x->dtype, false));
        ct_tensor *mu3 = mu ? K(ct_reshape(mu, (ct_intlist){cs, 3})) : NULL;
        rstd = is ? K(ct_reshape(is, (ct_intlist){cs, 3})) : NULL;
        d = mu3 ? K(ct_sub(xv, mu3, ct_scalar_i(1))) : NULL;
    } else {
        if (kind == 2) {
            d = xv;
        } else {
            ct_tensor *mu = xv ? mean_dims(&A, xv, rdims, nred, M) : NULL;
            d = mu ? K(ct_sub(xv, mu, ct_scalar_i(1))) : NULL;
        }
        ct_tensor *d2 = d ? K(ct_mul(d, d)) : NULL;
        ct_tensor *var = d2 ? mean_dims(&A, d2, rdims, nred, M) : NULL;
        rstd = var ? K(ct_nn_rsqrt_eps(var, eps)) : NULL;
    }
    xhat = (d && rstd) ? K(ct_mul(d, rstd)) : NULL;
    int rc = -1;
    if (A.fail || !xhat || !gv) goto done;
    if (ct_node_needs_grad(n, 0)) {
        ct_tensor *a = wv ? K(ct_mul(gv, wv)) : gv;
        ct_tensor *r;
        if (kind == 3 && !training) {
            r = a ? K(ct_mul(a, rstd)) : NULL;
        } else {
            ct_tensor *ax = a ? K(ct_mul(a, xhat)) : NULL;
            ct_tensor *max_ = ax ? mean_dims(&A, ax, rdims, nred, M) : NULL;
            ct_tensor *t = max_ ? K(ct_mul(xhat, max_)) : NULL;
            ct_tensor *u = a;
            if (kind != 2 && a) {
                ct_tensor *ma = mean_dims(&A, a, rdims, nred, M);
                u = ma ? K(ct_sub(a, ma, ct_scalar_i(1))) : NULL;
            }
            ct_tensor *v = (u && t) ? K(ct_sub(u, t, ct_scalar_i(1))) : NULL;
            r = v ? K(ct_mul(v, rstd)) : NULL;
        }
        ct_tensor *rr = r ? ct_reshape(r, (ct_intlist){xm->sizes, xm->ndim}) : NULL;
        if (!rr) goto done;
        gi[0] = rr;
    }
    for (int p = 1; p <= 2; p++) {
        if (p >= n->n_inputs || !ct_node_needs_grad(n, p)) continue;
        ct_tensor *src = p == 1 ? K(ct_mul(gv, xhat)) : gv;
        ct_tensor *s = src ? K(ct_sum_to_dims(src, bd, nb)) : NULL;
        ct_tensor *rr = s ? ct_reshape(s, (ct_intlist){n->in_meta[p].sizes, n->in_meta[p].ndim}) : NULL;
        if (!rr) goto done;
        gi[p] = rr;
    }
    rc = 0;
done:
    arena_free(&A);
    if (rc)
        for (int i = 0; i < 3; i++) {
            ct_tensor_release(gi[i]);
            gi[i] = NULL;
        }
    return rc;
}

static int norm_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    ct_tensor *x, *w, *mean, *rstd;
    ct_tensor *r[3] = {NULL, NULL, NULL};
    bool need[3] = {ct_node_needs_grad(n, 0), n->n_inputs > 1 && ct_node_needs_grad(n, 1),
                    n->n_inputs > 2 && ct_node_needs_grad(n, 2)};
    int rc = unpack(n, &x, &w, &mean, &rstd);
    if (!rc && ct_grad_enabled()) { /* create_graph: differentiable composite */
        rc = norm_backward_composite(n, g[0], x, w, mean, rstd, gi);
        ct_tensor_release(x), ct_tensor_release(w), ct_tensor_release(mean), ct_tensor_release(rstd);
        return rc;
    }
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

static int record_norm(const char *name, int kind, int64_t param, bool training, double eps, ct_tensor *out,
                       ct_tensor *mean, ct_tensor *rstd, ct_tensor *input, ct_tensor *weight, ct_tensor *bias, int nout) {
    ct_tensor *ins[3] = {input, weight, bias};
    if (!ct_autograd_should_record(3, ins) || !ct_dtype_is_floating(out->dtype)) return 0;
    ct_node *node = ct_node_new(name, norm_backward, kind == 2 ? 2 : 3, ins, nout);
    if (!node) return -1;
    node->iv[0] = kind;
    node->iv[1] = param;
    node->iv[2] = training;
    node->iv[7] = weight != NULL;
    node->dv[0] = eps;
    int rc = save_common(node, input, weight, mean, rstd);
    if (!rc) rc = ct_node_set_output(node, out, 0);
    ct_node_release(node);
    return rc;
}

int ctg_nn_batch_norm(ct_tensor *result0, ct_tensor *result1, ct_tensor *result2, ct_tensor *input, ct_tensor *weight,
                      ct_tensor *bias, ct_tensor *running_mean, ct_tensor *running_var, bool training, double momentum,
                      double eps) {
    (void)running_mean, (void)running_var, (void)momentum;
    return record_norm("NativeBatchNormBackward0", 3, 0, training, eps, result0, result1, result2, input, weight, bias, 3);
}

int ctg_nn_layer_norm(ct_tensor *result0, ct_tensor *result1, ct_tensor *result2, ct_tensor *input,
                      ct_intlist normalized_shape, ct_tensor *weight, ct_tensor *bias, double eps) {
    int64_t L = 1;
    for (int64_t i = 0; i < normalized_shape.n; i++) L *= normalized_shape.data[i];
    return record_norm("NativeLayerNormBackward0", 0, L, true, eps, result0, result1, result2, input, weight, bias, 3);
}

int ctg_nn_group_norm(ct_tensor *result0, ct_tensor *result1, ct_tensor *result2, ct_tensor *input, int64_t num_groups,
                      ct_tensor *weight, ct_tensor *bias, double eps) {
    return record_norm("NativeGroupNormBackward0", 1, num_groups, true, eps, result0, result1, result2, input, weight, bias,
                       3);
}

int ctg_nn_rms_norm(ct_tensor *result0, ct_tensor *result1, ct_tensor *input, ct_intlist normalized_shape,
                    ct_tensor *weight, const double *eps) {
    int64_t L = 1;
    for (int64_t i = 0; i < normalized_shape.n; i++) L *= normalized_shape.data[i];
    double e = eps ? *eps
                   : input->dtype == CT_FLOAT64 ? 2.220446049250313e-16
                   : input->dtype == CT_FLOAT16 ? 0.0009765625
                   : input->dtype == CT_BFLOAT16 ? 0.0078125
                                                 : 1.1920928955078125e-07;
    /* the rms kernel returns only rstd; the row backward reads a zero mean */
    ct_tensor *zeros = ct_zeros((ct_intlist){result1->sizes, result1->ndim}, CT_FLOAT64, -1);
    if (!zeros) return -1;
    int rc = record_norm("FusedRmsNormBackward0", 2, L, true, e, result0, zeros, result1, input, weight, NULL, 2);
    ct_tensor_release(zeros);
    return rc;
}

/* local response norm: fused backward kernel; under create_graph the gradient of torch's
 * composite x / (k + alpha * avg over size channels of x^2)^beta (zero padding size/2 before,
 * (size-1)/2 after) */
static int lrn_fwd(ct_node *n, ct_tensor *const *in, ct_tensor **outs) {
    ct_tensor *x = in[0];
    int64_t size = n->iv[0], N = x->sizes[0], C = x->sizes[1], v4[4] = {N, 1, C, -1};
    int64_t k2[2] = {size, 1}, s2[2] = {1, 1}, p2[2] = {size / 2, 0};
    ct_tensor *al = scal(n->dv[0], 0), *kk = scal(n->dv[2], 0), *be = scal(n->dv[1], 0);
    ct_tensor *sq = (al && kk && be) ? ct_mul(x, x) : NULL;
    ct_tensor *r4 = sq ? ct_reshape(sq, (ct_intlist){v4, 4}) : NULL;
    ct_tensor *av = r4 ? ct_nn_avg_pool(r4, (ct_intlist){k2, 2}, (ct_intlist){s2, 2}, (ct_intlist){p2, 2}, false, true,
                                        NULL) : NULL;
    ct_tensor *nr = av ? ct_narrow(av, 2, 0, C) : NULL;
    ct_tensor *rs = nr ? ct_reshape(nr, (ct_intlist){x->sizes, x->ndim}) : NULL;
    ct_tensor *ma = rs ? ct_mul(rs, al) : NULL, *ad = ma ? ct_add(ma, kk, ct_scalar_i(1)) : NULL;
    ct_tensor *pw = ad ? ct_pow(ad, be) : NULL;
    outs[0] = pw ? ct_div(x, pw, NULL) : NULL;
    ct_tensor *tmp[] = {al, kk, be, sq, r4, av, nr, rs, ma, ad, pw};
    for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) ct_tensor_release(tmp[i]);
    return outs[0] ? 0 : -1;
}

static int lrn_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *x = ct_node_saved(n, 0);
    if (!x) return -1;
    if (ct_grad_enabled() && x->numel) {
        int rc = ct_nn_composite_backward(n, &x, 1, g, lrn_fwd, gi);
        ct_tensor_release(x);
        return rc;
    }
    ct_tensor *r = ct_nn_lrn_bwd(g[0], x, n->iv[0], n->dv[0], n->dv[1], n->dv[2]);
    ct_tensor_release(x);
    if (!r) return -1;
    gi[0] = ct_sum_to_meta(r, &n->in_meta[0]);
    ct_tensor_release(r);
    return gi[0] ? 0 : -1;
}

int ctg_nn_local_response_norm(ct_tensor *result, ct_tensor *self, int64_t size, double alpha, double beta, double k) {
    if (!ct_autograd_should_record(1, &self) || !ct_dtype_is_floating(result->dtype)) return 0;
    ct_node *node = ct_autograd_record("LocalResponseNormBackward0", lrn_backward, result, 1, &self);
    if (!node) return -1;
    node->iv[0] = size;
    node->dv[0] = alpha, node->dv[1] = beta, node->dv[2] = k;
    return ct_node_save(node, 0, self, -1);
}
