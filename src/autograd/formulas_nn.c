/* Backward formulas of the nn activation, softmax, loss and embedding ops. First-order
 * gradients come from the fused backward kernels (src/kernels/cpu/activation.c, loss.c);
 * under create_graph the formulas switch to composites of recorded ops so double backward
 * works (NOTE [ Double backward through fused nn kernels ] in formulas_nn.h). */
#include <math.h>
#include <stdlib.h>

#include "../kernels/cpu/nn.h"
#include "autograd_internal.h"
#include "ctorch/ops_gen.h"
#include "formulas_nn.h"

/* ------------------------------------------------------------------ composite machinery */

ct_tensor *ct_nn_scalar(double v) {
    ct_tensor *t = ct_scalar_tensor_f64(v, CT_FLOAT64);
    if (t) t->flags |= CT_FLAG_WRAPPED_NUMBER;
    return t;
}

static ct_tensor *attach_to(const char *name, ct_tensor *r, ct_tensor *s);

/* boundary node: passes the gradient of its alias to the wrapped input's edge */
static int boundary_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (n->n_inputs < 1 || !g[0] || !ct_node_needs_grad(n, 0)) return 0;
    gi[0] = ct_sum_to_meta(g[0], &n->in_meta[0]);
    return gi[0] ? 0 : -1;
}

int ct_nn_composite_backward(ct_node *n, ct_tensor *const *saved, int n_outs, ct_tensor *const *g,
                             ct_composite_fwd fwd, ct_tensor **gi) {
    enum { MAXIN = 8, MAXOUT = 4 };
    int ni = n->n_inputs;
    if (ni > MAXIN || n_outs > MAXOUT) return ct_errorf(CT_ERR_RUNTIME, "[%s] composite backward: too many inputs", n->name);
    ct_node *bnd[MAXIN] = {0};
    ct_tensor *al[MAXIN] = {0}, *outs[MAXOUT] = {0}, *roots[MAXOUT], *gs[MAXOUT], *want[MAXIN], *res[MAXIN] = {0};
    int wi[MAXIN], nw = 0, nr = 0, rc = -1;
    bool prev = ct_set_grad_enabled(true);
    for (int i = 0; i < ni; i++) {
        if (!saved[i]) continue;
        if (!ct_node_needs_grad(n, i) || !ct_tensor_requires_grad(saved[i])) {
            if (!(al[i] = ct_detach(saved[i]))) goto done;
            continue;
        }
        if (!(bnd[i] = ct_node_new("NnCompositeInputBackward", boundary_backward, 1, &saved[i], 1))) goto done;
        if (!(al[i] = ct_tensor_alias(saved[i]))) goto done;
        if (ct_node_set_output(bnd[i], al[i], 0)) goto done;
        want[nw] = al[i];
        wi[nw++] = i;
    }
    if (!nw) {
        rc = 0;
        goto done;
    }
    if (fwd(n, al, outs)) goto done;
    for (int k = 0; k < n_outs; k++)
        if (outs[k] && g[k] && ct_tensor_requires_grad(outs[k])) roots[nr] = outs[k], gs[nr++] = g[k];
    if (!nr) {
        rc = 0;
        goto done;
    }
    /* hide the boundary edges from the nested run (it must not walk into the outer graph) */
    for (int i = 0; i < ni; i++)
        if (bnd[i]) bnd[i]->n_inputs = 0;
    rc = ct_autograd_grad(nr, roots, gs, nw, want, true, true, true, res);
    for (int i = 0; i < ni; i++)
        if (bnd[i]) bnd[i]->n_inputs = 1;
    if (rc) goto done;
    for (int k = 0; k < nw && !rc; k++) {
        int i = wi[k];
        if (!res[k] && ct_node_needs_grad(n, i)) { /* not reached by the composite: a zero gradient, as torch */
            res[k] = ct_zeros((ct_intlist){n->in_meta[i].sizes, n->in_meta[i].ndim}, n->in_meta[i].dtype, -1);
            if (!res[k]) {
                rc = -1;
                break;
            }
        }
        if (res[k] && ct_node_needs_grad(n, i)) {
            ct_tensor *r = res[k];
            if (!ct_tensor_requires_grad(r)) { /* constant in the inputs: keep it attached to the input */
                if (!(r = attach_to(n->name, r, saved[i]))) {
                    rc = -1;
                    break;
                }
                ct_tensor_release(res[k]);
                res[k] = r;
            }
            gi[i] = ct_sum_to_meta(r, &n->in_meta[i]);
            if (!gi[i]) rc = -1;
        }
    }
done:
    ct_set_grad_enabled(prev);
    if (!rc && !prev) /* first-order use (no create_graph): plain gradients */
        for (int i = 0; i < ni; i++)
            if (gi[i]) {
                ct_tensor *d = ct_detach(gi[i]);
                ct_tensor_release(gi[i]);
                gi[i] = d;
                if (!d) rc = -1;
            }
    for (int i = 0; i < MAXIN; i++) {
        if (al[i]) ct_tensor_release(al[i]);
        if (bnd[i]) ct_node_release(bnd[i]);
        if (res[i]) ct_tensor_release(res[i]);
    }
    for (int k = 0; k < MAXOUT; k++)
        if (outs[k]) ct_tensor_release(outs[k]);
    if (rc)
        for (int i = 0; i < ni; i++) {
            if (gi[i]) ct_tensor_release(gi[i]);
            gi[i] = NULL;
        }
    return rc;
}

/* r attached to s with a zero derivative (a gradient that is constant in the inputs still
 * carries history under create_graph, like torch's double-backward nodes) */
static int attach_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    if (ct_node_needs_grad(n, 0)) {
        ct_tensor_retain(g[0]);
        gi[0] = g[0];
    }
    if (ct_node_needs_grad(n, 1)) {
        gi[1] = ct_zeros((ct_intlist){n->in_meta[1].sizes, n->in_meta[1].ndim}, n->in_meta[1].dtype, -1);
        if (!gi[1]) return -1;
    }
    return 0;
}

static ct_tensor *attach_to(const char *name, ct_tensor *r, ct_tensor *s) {
    ct_tensor *a = ct_tensor_alias(r);
    ct_tensor *ins[2] = {r, s};
    if (a && ct_autograd_should_record(2, ins) && !ct_autograd_record(name, attach_backward, a, 2, ins)) {
        ct_tensor_release(a);
        return NULL;
    }
    return a;
}

/* composite-building shorthands (ct_cx A in scope) */
#define X(expr) (Ap->fail ? NULL : ct_cx_keep(Ap, (expr)))
#define S(v) X(ct_nn_scalar(v))
#define ADD(a, b) X(ct_add((a), (b), ct_scalar_i(1)))
#define SUB(a, b) X(ct_sub((a), (b), ct_scalar_i(1)))
#define MUL(a, b) X(ct_mul((a), (b)))
#define DIV(a, b) X(ct_div((a), (b), NULL))
#define MULS(a, v) MUL((a), S(v))
#define ADDS(a, v) ADD((a), S(v))
#define WHERE(c, a, b) X(ct_where_self((c), (a), (b)))

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

/* act'(s) written with ops (s: the input, or the result for the (y) kinds); piecewise-linear
 * kinds get the kernel's constant slope (their second derivative is zero). */
static ct_tensor *act_deriv(ct_cx *Ap, int kind, ct_tensor *s, const double *p) {
    ct_tensor *zero = S(0.0), *one = S(1.0);
    switch (kind) {
    case CT_ACT_ELU:
    case CT_ACT_CELU: {
        double alpha = p[0], scale = p[1], is = p[2];
        ct_tensor *pos = X(ct_gt(s, zero));
        if (ct_nn_act_uses_result(kind, p)) return WHERE(pos, S(scale), MULS(ADDS(s, scale * alpha), is));
        return WHERE(pos, S(scale), MULS(X(ct_exp(MULS(s, is))), is * scale * alpha));
    }
    case CT_ACT_GELU:
        if (p[0] == 0) {
            ct_tensor *cdf = MULS(ADDS(X(ct_erf(MULS(s, M_SQRT1_2))), 1.0), 0.5);
            ct_tensor *pdf = MULS(X(ct_exp(MULS(MUL(s, s), -0.5))), 0.3989422804014327);
            return ADD(cdf, MUL(s, pdf));
        } else {
            const double k = 0.7978845608028654, c = 0.044715;
            ct_tensor *x2 = MUL(s, s);
            ct_tensor *t = X(ct_tanh(MULS(ADD(s, MULS(MUL(x2, s), c)), k)));
            ct_tensor *a = MULS(ADDS(t, 1.0), 0.5);
            ct_tensor *b = MUL(MULS(s, 0.5 * k), MUL(SUB(one, MUL(t, t)), ADDS(MULS(x2, 3 * c), 1.0)));
            return ADD(a, b);
        }
    case CT_ACT_SILU: {
        ct_tensor *sg = X(ct_sigmoid(s));
        return MUL(sg, ADDS(MUL(s, SUB(one, sg)), 1.0));
    }
    case CT_ACT_MISH: {
        ct_tensor *t = X(ct_tanh(X(ct_nn_act(s, CT_ACT_SOFTPLUS, 1.0, 20.0, 0.0))));
        return ADD(t, MUL(MUL(s, SUB(one, MUL(t, t))), X(ct_sigmoid(s))));
    }
    case CT_ACT_SOFTPLUS: {
        ct_tensor *bx = MULS(s, p[0]);
        return WHERE(X(ct_gt(bx, S(p[1]))), one, X(ct_sigmoid(bx)));
    }
    case CT_ACT_SOFTSIGN: {
        ct_tensor *d = ADDS(X(ct_abs(s)), 1.0);
        return DIV(one, MUL(d, d));
    }
    case CT_ACT_TANHSHRINK: {
        ct_tensor *t = X(ct_tanh(s));
        return MUL(t, t);
    }
    case CT_ACT_HARDSWISH: {
        ct_tensor *mid = ADDS(MULS(s, 1.0 / 3.0), 0.5);
        return WHERE(X(ct_lt(s, S(-3.0))), zero, WHERE(X(ct_le(s, S(3.0))), mid, one));
    }
    case CT_ACT_TANH: return SUB(one, MUL(s, s));
    case CT_ACT_SIGMOID: return MUL(s, SUB(one, s));
    case CT_ACT_LOGSIGMOID: return X(ct_sigmoid(X(ct_neg(s))));
    default: {
        bool prev = ct_set_grad_enabled(false);
        ct_tensor *ones = X(ct_ones_like(s, -1, -1));
        ct_tensor *d = ones ? X(ct_nn_act_backward(kind, ones, s, p)) : NULL;
        ct_set_grad_enabled(prev);
        return d;
    }
    }
}

/* NOTE [ Piecewise-linear slopes under create_graph ]
 * g * d where the slope d is a constant of s (relu, leaky_relu, hardtanh, shrinks, threshold,
 * rrelu): recorded on (g, s) so the gradient stays attached to s like torch's (its derivative
 * w.r.t. s is zero). */
static int const_slope_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    ct_tensor *d = ct_node_saved(n, 0);
    if (!d) return -1;
    int rc = 0;
    if (ct_node_needs_grad(n, 0)) {
        gi[0] = ct_mul(g[0], d);
        if (!gi[0]) rc = -1;
    }
    if (!rc && ct_node_needs_grad(n, 1)) {
        gi[1] = ct_zeros((ct_intlist){n->in_meta[1].sizes, n->in_meta[1].ndim}, n->in_meta[1].dtype, -1);
        if (!gi[1]) rc = -1;
    }
    ct_tensor_release(d);
    return rc;
}

static ct_tensor *const_slope_mul(const char *name, ct_tensor *g, ct_tensor *s, ct_tensor *d) {
    bool prev = ct_set_grad_enabled(false);
    ct_tensor *r = ct_mul(g, d);
    ct_set_grad_enabled(prev);
    ct_tensor *ins[2] = {g, s};
    if (r && ct_autograd_should_record(2, ins) && ct_dtype_is_floating(r->dtype)) {
        ct_node *node = ct_autograd_record(name, const_slope_backward, r, 2, ins);
        if (!node || ct_node_save(node, 0, d, -1)) {
            ct_tensor_release(r);
            return NULL;
        }
    }
    return r;
}

static bool act_piecewise_linear(int kind) {
    return kind == CT_ACT_RELU || kind == CT_ACT_HARDTANH || kind == CT_ACT_LEAKY_RELU || kind == CT_ACT_SOFTSHRINK ||
           kind == CT_ACT_HARDSHRINK || kind == CT_ACT_HARDSIGMOID || kind == CT_ACT_THRESHOLD;
}

/* g * d (recorded), reduced to input i */
static int put_mul(ct_node *n, ct_tensor **gi, int i, ct_tensor *g, ct_tensor *d) {
    return d ? put(n, gi, i, ct_mul(g, d)) : -1;
}

static int act_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    ct_tensor *s = ct_node_saved(n, 0);
    if (!s) return -1;
    int rc;
    if (ct_grad_enabled()) { /* create_graph */
        ct_cx AA = {.n = 0}, *Ap = &AA;
        ct_tensor *d = act_deriv(Ap, (int)n->iv[0], s, n->dv);
        if (act_piecewise_linear((int)n->iv[0]))
            rc = d ? put(n, gi, 0, const_slope_mul(n->name, g[0], s, d)) : -1;
        else
            rc = put_mul(n, gi, 0, g[0], d);
        ct_cx_free(Ap);
    } else {
        rc = put(n, gi, 0, ct_nn_act_backward((int)n->iv[0], g[0], s, n->dv));
    }
    ct_tensor_release(s);
    return rc;
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
    int rc;
    if (ct_grad_enabled()) { /* create_graph: softmax y*(g - sum(g*y)), log_softmax g - exp(y)*sum(g) */
        ct_cx AA = {.n = 0}, *Ap = &AA;
        int64_t d = n->iv[0];
        ct_intlist dl = {&d, 1};
        ct_tensor *r;
        if (y->ndim == 0) {
            r = n->iv[1] ? SUB(g[0], MUL(X(ct_exp(y)), g[0])) : MUL(y, SUB(g[0], MUL(g[0], y)));
        } else if (n->iv[1]) {
            r = SUB(g[0], MUL(X(ct_exp(y)), X(ct_sum(g[0], dl, true, -1))));
        } else {
            r = MUL(y, SUB(g[0], X(ct_sum(MUL(g[0], y), dl, true, -1))));
        }
        if (r) ct_tensor_retain(r);
        ct_cx_free(Ap);
        rc = put(n, gi, 0, r);
    } else {
        rc = put(n, gi, 0, ct_nn_softmax_backward(g[0], y, (int)n->iv[0], n->iv[1] != 0));
    }
    ct_tensor_release(y);
    return rc;
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
    int rc;
    if (ct_grad_enabled()) { /* create_graph: cat(g*sig(b), g*a*sig(b)*(1-sig(b))) */
        ct_cx AA = {.n = 0}, *Ap = &AA;
        int64_t d = n->iv[0], h = x->sizes[d] / 2;
        ct_tensor *a = X(ct_narrow(x, d, 0, h)), *b = X(ct_narrow(x, d, h, h));
        ct_tensor *sb = b ? X(ct_sigmoid(b)) : NULL;
        ct_tensor *ga = MUL(g[0], sb);
        ct_tensor *gb = MUL(MUL(ga, a), SUB(S(1.0), sb));
        ct_tensor *parts[2] = {ga, gb};
        ct_tensor *r = Ap->fail ? NULL : ct_cat((ct_tensorlist){parts, 2}, d);
        ct_cx_free(Ap);
        rc = put(n, gi, 0, r);
    } else {
        rc = put(n, gi, 0, ct_nn_glu_backward(g[0], x, (int)n->iv[0]));
    }
    ct_tensor_release(x);
    return rc;
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
    int rc = 0;
    if (ct_grad_enabled()) { /* create_graph: gx = g*where(x>0, 1, w), gw = sum(g*where(x>0, 0, x)) */
        ct_cx AA = {.n = 0}, *Ap = &AA;
        int64_t ws[CT_MAX_DIM];
        for (int i = 0; i < x->ndim; i++) ws[i] = (i == 1 && w->numel > 1) ? w->numel : 1;
        ct_tensor *wv = X(ct_reshape(w, (ct_intlist){ws, x->ndim}));
        ct_tensor *pos = X(ct_gt(x, S(0.0)));
        if (ct_node_needs_grad(n, 0)) rc = put_mul(n, gi, 0, g[0], WHERE(pos, S(1.0), wv));
        if (!rc && ct_node_needs_grad(n, 1)) {
            ct_tensor *t = MUL(g[0], WHERE(pos, S(0.0), x));
            int64_t dims[CT_MAX_DIM];
            int nd = 0;
            for (int i = 0; i < x->ndim; i++)
                if (!(i == 1 && w->numel > 1)) dims[nd++] = i;
            ct_tensor *sm = nd ? X(ct_sum(t, (ct_intlist){dims, nd}, false, -1)) : t;
            ct_tensor *r = sm ? ct_reshape(sm, (ct_intlist){n->in_meta[1].sizes, n->in_meta[1].ndim}) : NULL;
            rc = put(n, gi, 1, r);
        }
        ct_cx_free(Ap);
    } else {
        ct_tensor *gx = NULL, *gw = NULL;
        rc = ct_nn_prelu_backward(g[0], x, w, ct_node_needs_grad(n, 0) ? &gx : NULL,
                                  ct_node_needs_grad(n, 1) ? &gw : NULL);
        if (!rc && gx) rc = put(n, gi, 0, gx);
        else if (gx) ct_tensor_release(gx);
        if (!rc && gw) rc = put(n, gi, 1, gw);
        else if (gw) ct_tensor_release(gw);
    }
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
        r = ct_mul(g[0], s); /* the noise is a constant */
    } else if (ct_grad_enabled()) {
        ct_cx AA = {.n = 0}, *Ap = &AA;
        ct_tensor *d = act_deriv(Ap, CT_ACT_LEAKY_RELU, s, n->dv);
        r = d ? const_slope_mul(n->name, g[0], s, d) : NULL;
        ct_cx_free(Ap);
    } else {
        r = ct_nn_act_backward(CT_ACT_LEAKY_RELU, g[0], s, n->dv);
    }
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

/* -log(sigmoid(x)) = log(1 + e^-x), through the logsigmoid activation */
static ct_tensor *softplus_neg(ct_cx *Ap, ct_tensor *x) {
    return X(ct_neg(X(ct_nn_act(x, CT_ACT_LOGSIGMOID, 0, 0, 0))));
}

static ct_tensor *reduce_cx(ct_cx *Ap, ct_tensor *l, int64_t reduction) {
    if (reduction == CT_RED_MEAN) return X(ct_mean_all(l, -1));
    if (reduction == CT_RED_SUM) return X(ct_sum_all(l, -1));
    return l;
}

/* elementwise loss of kind (the kernel's pw_val) with ops; w, pw may be NULL (ones) */
static ct_tensor *pw_loss_cx(ct_cx *Ap, int kind, ct_tensor *x, ct_tensor *y, ct_tensor *w, ct_tensor *pw, double p0,
                             double p1) {
    ct_tensor *one = S(1.0), *zero = S(0.0), *l = NULL;
    switch (kind) {
    case 0: { ct_tensor *d = SUB(x, y); l = MUL(d, d); break; }                /* mse */
    case 1: l = X(ct_abs(SUB(x, y))); break;                                     /* l1 */
    case 2: {                                                                    /* smooth l1 */
        ct_tensor *d = X(ct_abs(SUB(x, y)));
        l = p0 == 0 ? d : WHERE(X(ct_lt(d, S(p0))), MULS(MUL(d, d), 0.5 / p0), ADDS(d, -0.5 * p0));
        break;
    }
    case 3: {                                                                    /* huber */
        ct_tensor *d = X(ct_abs(SUB(x, y)));
        l = WHERE(X(ct_lt(d, S(p0))), MULS(MUL(d, d), 0.5), MULS(ADDS(d, -0.5 * p0), p0));
        break;
    }
    case 4: {                                                                    /* bce */
        ct_tensor *lx = X(ct_clamp_min(X(ct_log(x)), ct_scalar_f(-100)));
        ct_tensor *l1x = X(ct_clamp_min(X(ct_log1p(X(ct_neg(x)))), ct_scalar_f(-100)));
        l = X(ct_neg(ADD(MUL(y, lx), MUL(SUB(one, y), l1x))));
        if (w) l = MUL(l, w);
        return l;
    }
    case 5: {                                                                    /* bce with logits */
        ct_tensor *lw = pw ? ADDS(MUL(ADDS(pw, -1.0), y), 1.0) : one;
        l = ADD(MUL(SUB(one, y), x), MUL(lw, softplus_neg(Ap, x)));
        return w ? MUL(l, w) : l;
    }
    case 6: return softplus_neg(Ap, MUL(y, x));                                  /* soft margin */
    case 7:                                                                      /* kl div */
        if (p0 != 0) return MUL(X(ct_exp(y)), SUB(y, x));
        else {
            ct_tensor *pos = X(ct_gt(y, zero));
            ct_tensor *ys = WHERE(pos, y, one);
            ct_tensor *xl = WHERE(pos, MUL(y, X(ct_log(ys))), WHERE(X(ct_lt(y, zero)), S(NAN), zero));
            return SUB(xl, MUL(y, x));
        }
    case 8: {                                                                    /* poisson nll */
        int flags = (int)p0;
        l = (flags & 1) ? SUB(X(ct_exp(x)), MUL(y, x)) : SUB(x, MUL(y, X(ct_log(ADDS(x, p1)))));
        if (flags & 2) {
            ct_tensor *big = X(ct_gt(y, one));
            ct_tensor *ys = WHERE(big, y, one);
            ct_tensor *st = ADD(SUB(MUL(ys, X(ct_log(ys))), ys), MULS(X(ct_log(MULS(ys, 2 * M_PI))), 0.5));
            l = ADD(l, WHERE(big, st, zero));
        }
        return l;
    }
    case 9: {                                                                    /* gaussian nll: var clamped by value */
        ct_tensor *cl = X(ct_clamp_min(w, ct_scalar_f(p1)));
        ct_tensor *v = ADD(w, X(ct_detach(SUB(cl, w))));
        ct_tensor *d = SUB(x, y);
        l = MULS(ADD(X(ct_log(v)), DIV(MUL(d, d), v)), 0.5);
        return p0 != 0 ? ADDS(l, 0.9189385332046727) : l;
    }
    case 10:                                                                     /* hinge embedding */
        return ADD(WHERE(X(ct_ne(y, one)), X(ct_relu(X(ct_neg(ADDS(x, -p0))))), zero),
                   WHERE(X(ct_ne(y, S(-1.0))), x, zero));
    case 11: return X(ct_relu(ADDS(X(ct_neg(MUL(w, SUB(x, y)))), p0)));        /* margin ranking */
    case 12:                                                                     /* cosine embedding */
        return ADD(WHERE(X(ct_eq(y, one)), SUB(one, x), zero),
                   WHERE(X(ct_eq(y, S(-1.0))), X(ct_relu(ADDS(x, -p0))), zero));
    case 13: {                                                                   /* triplet */
        ct_tensor *dn = p1 != 0 ? WHERE(X(ct_lt(w, y)), w, y) : y;
        return X(ct_relu(ADDS(SUB(x, dn), p0)));
    }
    case 14: {                                                                   /* multilabel soft margin */
        ct_tensor *a = X(ct_nn_act(x, CT_ACT_LOGSIGMOID, 0, 0, 0));
        ct_tensor *b = X(ct_nn_act(X(ct_neg(x)), CT_ACT_LOGSIGMOID, 0, 0, 0));
        l = X(ct_neg(ADD(MUL(y, a), MUL(SUB(one, y), b))));
        return w ? MUL(l, w) : l;
    }
    }
    if (kind <= 3 && w && l) l = MUL(l, w);
    return l;
}

static int pw_loss_fwd(ct_node *n, ct_tensor *const *in, ct_tensor **outs) {
    ct_cx AA = {.n = 0}, *Ap = &AA;
    ct_tensor *l = pw_loss_cx(Ap, (int)n->iv[0], in[0], in[1], in[2], in[3], n->dv[0], n->dv[1]);
    ct_tensor *r = l ? reduce_cx(Ap, l, n->iv[1]) : NULL;
    if (r) ct_tensor_retain(r);
    ct_cx_free(Ap);
    outs[0] = r;
    return r ? 0 : -1;
}

static int pw_loss_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    ct_tensor *s[4] = {0};
    int rc = -1;
    for (int k = 0; k < 4; k++)
        if (n->iv[2] & (1 << k)) {
            s[k] = ct_node_saved(n, k);
            if (!s[k]) goto done;
        }
    if (ct_grad_enabled()) {
        rc = ct_nn_composite_backward(n, s, 1, g, pw_loss_fwd, gi);
        goto done;
    }
    bool want[4];
    ct_tensor *out[4] = {0};
    for (int k = 0; k < 4; k++) want[k] = ct_node_needs_grad(n, k);
    if (ct_nn_pw_loss_backward(g[0], s[0], s[1], s[2], s[3], n->iv[0], n->iv[1], n->dv[0], n->dv[1], want, out))
        goto done;
    rc = 0;
    for (int k = 0; k < 4; k++)
        if (out[k] && put(n, gi, k, out[k])) rc = -1;
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

/* cross entropy / nll from recorded ops (class dim 1, or 0 for an unbatched input) */
static int ce_fwd(ct_node *n, ct_tensor *const *in, ct_tensor **outs) {
    ct_cx AA = {.n = 0}, *Ap = &AA;
    ct_tensor *x = in[0], *t = in[1], *w = NULL, *r = NULL;
    int64_t red = n->iv[0], ignore = n->iv[1], cd = x->ndim == 1 ? 0 : 1, C = x->sizes[cd];
    double eps = n->dv[0];
    ct_intlist cdl = {&cd, 1};
    if (n->iv[3]) {
        ct_tensor *ws = ct_node_saved(n, 2);
        if (!ws) return -1;
        w = X(ct_detach(ws));
        ct_tensor_release(ws);
    }
    ct_tensor *lp = n->iv[2] == 0 ? X(ct_log_softmax_int(x, cd, -1)) : x;
    ct_tensor *wb = NULL;
    if (w) {
        int64_t sz[CT_MAX_DIM];
        for (int i = 0; i < x->ndim; i++) sz[i] = i == cd ? C : 1;
        wb = X(ct_reshape(w, (ct_intlist){sz, x->ndim}));
    }
    if (ct_dtype_is_floating(t->dtype)) { /* probability targets */
        ct_tensor *tt = eps > 0 ? ADDS(MULS(t, 1.0 - eps), eps / (double)C) : t;
        ct_tensor *prod = MUL(lp, tt);
        if (wb) prod = MUL(prod, wb);
        ct_tensor *per = X(ct_neg(X(ct_sum(prod, cdl, false, -1))));
        r = reduce_cx(Ap, per, red);
    } else {
        ct_tensor *valid = X(ct_ne(t, X(ct_scalar_tensor_i64(ignore, CT_INT64))));
        ct_tensor *invalid = X(ct_logical_not(valid));
        ct_tensor *ts = X(ct_masked_fill_Scalar(t, invalid, ct_scalar_i(0)));
        ct_tensor *picked = X(ct_squeeze_dim(X(ct_gather(lp, cd, X(ct_unsqueeze(ts, cd)), false)), cd));
        ct_tensor *zero = S(0.0);
        ct_tensor *wt;
        if (w) {
            int64_t m1 = -1;
            ct_tensor *flat = X(ct_reshape(ts, (ct_intlist){&m1, 1}));
            wt = X(ct_reshape(X(ct_index_select(w, 0, flat)), (ct_intlist){t->sizes, t->ndim}));
        } else {
            wt = X(ct_to_dtype(valid, x->dtype, false));
        }
        wt = WHERE(valid, wt, zero);
        ct_tensor *nll = WHERE(valid, X(ct_neg(MUL(picked, wt))), zero);
        ct_tensor *nr = red == CT_RED_MEAN ? DIV(X(ct_sum_all(nll, -1)), X(ct_sum_all(wt, -1))) : reduce_cx(Ap, nll, red);
        r = nr;
        if (eps > 0) {
            ct_tensor *prod = wb ? MUL(lp, wb) : lp;
            ct_tensor *sm = WHERE(valid, X(ct_neg(X(ct_sum(prod, cdl, false, -1)))), zero);
            ct_tensor *sr = red == CT_RED_MEAN ? DIV(X(ct_sum_all(sm, -1)), X(ct_sum_all(wt, -1)))
                                                     : reduce_cx(Ap, sm, red);
            r = ADD(MULS(nr, 1.0 - eps), MULS(sr, eps / (double)C));
        }
    }
    if (r) ct_tensor_retain(r);
    ct_cx_free(Ap);
    outs[0] = r;
    return r ? 0 : -1;
}

static int ce_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    ct_tensor *x = ct_node_saved(n, 0);
    ct_tensor *t = x ? ct_node_saved(n, 1) : NULL;
    ct_tensor *w = (t && n->iv[3]) ? ct_node_saved(n, 2) : NULL;
    int rc = -1;
    if (!t || (n->iv[3] && !w)) goto done;
    if (ct_grad_enabled()) {
        ct_tensor *sv[2] = {x, t};
        rc = ct_nn_composite_backward(n, sv, 1, g, ce_fwd, gi);
        goto done;
    }
    if (ct_node_needs_grad(n, 0)) {
        ct_tensor *r = ct_nn_ce_backward(g[0], x, t, w, n->iv[0], n->iv[1], n->dv[0], (int)n->iv[2]);
        if (put(n, gi, 0, r)) goto done;
    }
    if (ct_node_needs_grad(n, 1)) {
        ct_tensor *r = ct_nn_ce_target_backward(g[0], x, t, w, n->iv[0], n->dv[0]);
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

/* multi_margin (kind 0): sum_{j != y} w[y] relu(margin - x[y] + x[j])^p / C per sample;
 * multilabel_margin (1): sum over the target slots k before the first -1 and the non-target
 * classes i of relu(1 - x[t_k] + x[i]) / C. With ops, unbatched inputs as one row. */
static int margin_fwd(ct_node *n, ct_tensor *const *in, ct_tensor **outs) {
    ct_cx AA = {.n = 0}, *Ap = &AA;
    ct_tensor *x = in[0], *t = NULL, *w = NULL, *l = NULL;
    bool unb = x->ndim == 1;
    int64_t C = x->sizes[x->ndim - 1];
    ct_tensor *ts = ct_node_saved(n, 1);
    if (!ts) return -1;
    t = X(ct_to_dtype(ts, CT_INT64, false));
    ct_tensor_release(ts);
    if (n->iv[3]) {
        ct_tensor *ws = ct_node_saved(n, 2);
        if (!ws) {
            ct_cx_free(Ap);
            return -1;
        }
        w = X(ct_detach(ws));
        ct_tensor_release(ws);
    }
    ct_tensor *xr = unb ? X(ct_unsqueeze(x, 0)) : x;
    ct_tensor *zero = S(0.0);
    if (n->iv[0] == 0) {
        ct_tensor *y = X(ct_reshape(t, (ct_intlist){(int64_t[]){-1, 1}, 2}));
        ct_tensor *xy = X(ct_gather(xr, 1, y, false));
        ct_tensor *h = X(ct_relu(ADD(SUB(S(n->dv[0]), xy), xr)));
        if (n->iv[2] == 2) h = MUL(h, h);
        ct_tensor *cls = X(ct_arange(ct_scalar_i(C), CT_INT64, -1));
        h = WHERE(X(ct_eq(cls, y)), zero, h);
        if (w) h = MUL(h, X(ct_unsqueeze(X(ct_index_select(w, 0, X(ct_reshape(y, (ct_intlist){(int64_t[]){-1}, 1})))), 1)));
        int64_t one = 1;
        l = MULS(X(ct_sum(h, (ct_intlist){&one, 1}, false, -1)), 1.0 / (double)C);
    } else {
        ct_tensor *tr = unb ? X(ct_unsqueeze(t, 0)) : t;
        ct_tensor *valid = X(ct_cumprod(X(ct_to_dtype(X(ct_ne(tr, X(ct_scalar_tensor_i64(-1, CT_INT64)))), x->dtype,
                                                     false)), 1, -1));
        ct_tensor *tsafe = X(ct_masked_fill_Scalar(tr, X(ct_eq(valid, zero)), ct_scalar_i(0)));
        ct_tensor *ist = X(ct_gt(X(ct_scatter_add(X(ct_zeros_like(xr, -1, -1)), 1, tsafe, valid)), zero));
        ct_tensor *xt = X(ct_gather(xr, 1, tsafe, false));
        ct_tensor *pair = X(ct_relu(ADD(SUB(S(1.0), X(ct_unsqueeze(xt, 2))), X(ct_unsqueeze(xr, 1)))));
        ct_tensor *m = MUL(X(ct_unsqueeze(valid, 2)), X(ct_unsqueeze(X(ct_to_dtype(X(ct_logical_not(ist)), x->dtype,
                                                                                   false)), 1)));
        int64_t dims[2] = {1, 2};
        l = MULS(X(ct_sum(MUL(pair, m), (ct_intlist){dims, 2}, false, -1)), 1.0 / (double)C);
    }
    if (unb && l) l = X(ct_squeeze_dim(l, 0));
    ct_tensor *r = l ? reduce_cx(Ap, l, n->iv[1]) : NULL;
    if (r) ct_tensor_retain(r);
    ct_cx_free(Ap);
    outs[0] = r;
    return r ? 0 : -1;
}

static int margin_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0] || !ct_node_needs_grad(n, 0)) return 0;
    ct_tensor *x = ct_node_saved(n, 0);
    ct_tensor *t = x ? ct_node_saved(n, 1) : NULL;
    ct_tensor *w = (t && n->iv[3]) ? ct_node_saved(n, 2) : NULL;
    int rc = -1;
    if (t && ct_grad_enabled()) {
        rc = ct_nn_composite_backward(n, &x, 1, g, margin_fwd, gi);
    } else if (t && (!n->iv[3] || w)) {
        ct_tensor *r = ct_nn_margin_loss_backward(g[0], x, t, w, n->iv[0], n->iv[1], n->iv[2], n->dv[0]);
        rc = put(n, gi, 0, r);
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

/* norm over dim with ops; below eps it is the constant eps (zero gradient, like the kernel) */
static int norm_dim_fwd(ct_node *n, ct_tensor *const *in, ct_tensor **outs) {
    ct_cx AA = {.n = 0}, *Ap = &AA;
    ct_tensor *x = in[0];
    int64_t d = n->iv[0];
    ct_intlist dl = {&d, x->ndim ? 1 : 0};
    ct_tensor *nrm = X(ct_linalg_vector_norm(x, ct_scalar_f(n->dv[0]), dl, n->iv[1] != 0, -1));
    ct_tensor *r = nrm ? WHERE(X(ct_lt(nrm, S(n->dv[1]))), X(ct_detach(nrm)), nrm) : NULL;
    if (r && x->ndim == 0 && r->ndim) r = X(ct_reshape(r, (ct_intlist){NULL, 0}));
    if (r) ct_tensor_retain(r);
    ct_cx_free(Ap);
    outs[0] = r;
    return r ? 0 : -1;
}

static int norm_dim_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    ct_tensor *x = ct_node_saved(n, 0);
    if (!x) return -1;
    int rc;
    if (ct_grad_enabled())
        rc = ct_nn_composite_backward(n, &x, 1, g, norm_dim_fwd, gi);
    else
        rc = put(n, gi, 0, ct_nn_norm_dim_backward(g[0], x, n->dv[0], (int)n->iv[0], n->iv[1] != 0, n->dv[1]));
    ct_tensor_release(x);
    return rc;
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

/* cosine similarity with ops: mode 0 sum(a*b) / (max(|a|, eps) max(|b|, eps)), mode 1
 * sum(a*b) / sqrt((|a|^2 + 1e-12)(|b|^2 + 1e-12)) */
static int cosine_fwd(ct_node *n, ct_tensor *const *in, ct_tensor **outs) {
    ct_cx AA = {.n = 0}, *Ap = &AA;
    int64_t shape[CT_MAX_DIM];
    int nd = ct_broadcast_shapes(in[0]->sizes, in[0]->ndim, in[1]->sizes, in[1]->ndim, shape, "cosine_similarity");
    if (nd < 0) return -1;
    ct_tensor *a = X(ct_expand(in[0], (ct_intlist){shape, nd}, false));
    ct_tensor *b = X(ct_expand(in[1], (ct_intlist){shape, nd}, false));
    int64_t d = n->iv[0];
    ct_intlist dl = {&d, nd ? 1 : 0};
    ct_tensor *dot = X(ct_sum(MUL(a, b), dl, false, -1));
    ct_tensor *saa = X(ct_sum(MUL(a, a), dl, false, -1)), *sbb = X(ct_sum(MUL(b, b), dl, false, -1));
    ct_tensor *den;
    if (n->iv[1] == 0) {
        ct_tensor *na = X(ct_clamp_min(X(ct_sqrt(saa)), ct_scalar_f(n->dv[0])));
        ct_tensor *nb = X(ct_clamp_min(X(ct_sqrt(sbb)), ct_scalar_f(n->dv[0])));
        den = MUL(na, nb);
    } else {
        den = X(ct_sqrt(MUL(ADDS(saa, 1e-12), ADDS(sbb, 1e-12))));
    }
    ct_tensor *r = DIV(dot, den);
    if (r) ct_tensor_retain(r);
    ct_cx_free(Ap);
    outs[0] = r;
    return r ? 0 : -1;
}

static int cosine_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    ct_tensor *a = ct_node_saved(n, 0);
    ct_tensor *b = a ? ct_node_saved(n, 1) : NULL;
    int rc = -1;
    if (!b) goto done;
    if (ct_grad_enabled()) {
        ct_tensor *sv[2] = {a, b};
        rc = ct_nn_composite_backward(n, sv, 1, g, cosine_fwd, gi);
        goto done;
    }
    for (int k = 0; k < 2; k++)
        if (ct_node_needs_grad(n, k)) {
            ct_tensor *r = ct_nn_cosine_similarity_backward(g[0], a, b, n->iv[0], n->dv[0], n->iv[1], k);
            if (put(n, gi, k, r)) goto done;
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
    int rc;
    if (ct_grad_enabled()) { /* create_graph: index_add of the (scaled, padding-masked) gradient rows */
        ct_cx AA = {.n = 0}, *Ap = &AA;
        int64_t num = n->iv[0], D = n->in_meta[0].sizes[1], m1 = -1, g2[2] = {-1, D}, wsz[2] = {num, D};
        ct_tensor *flat = X(ct_reshape(ix, (ct_intlist){&m1, 1}));
        ct_tensor *gr = X(ct_reshape(g[0], (ct_intlist){g2, 2}));
        bool prev = ct_set_grad_enabled(false);
        ct_tensor *f = NULL, *c = NULL;
        ct_tensor *fl = X(ct_to_dtype(flat, CT_INT64, false));
        if (n->iv[1] >= 0) {
            f = X(ct_ones_like(fl, n->in_meta[0].dtype, -1));
            f = X(ct_unsqueeze(X(ct_masked_fill_Scalar(f, X(ct_eq(fl, X(ct_scalar_tensor_i64(n->iv[1], CT_INT64)))),
                                                       ct_scalar_i(0))), 1));
        }
        if (n->iv[2]) {
            ct_tensor *cnt = X(ct_to_dtype(X(ct_bincount(fl, NULL, num)), n->in_meta[0].dtype, false));
            c = X(ct_unsqueeze(X(ct_index_select(cnt, 0, fl)), 1));
        }
        ct_set_grad_enabled(prev);
        if (f) gr = MUL(gr, f);
        /* scale_grad_by_freq: the value is scaled, but (like torch's embedding double backward)
         * the derivative w.r.t. the incoming gradient is not */
        if (c) gr = ADD(gr, X(ct_detach(SUB(DIV(gr, c), gr))));
        ct_tensor *z = X(ct_zeros((ct_intlist){wsz, 2}, n->in_meta[0].dtype, -1));
        ct_tensor *r = Ap->fail ? NULL : ct_index_add(z, 0, flat, gr, ct_scalar_i(1));
        if (r && !ct_tensor_requires_grad(r)) {
            ct_tensor *a = attach_to(n->name, r, ix);
            ct_tensor_release(r);
            r = a;
        }
        ct_cx_free(Ap);
        rc = put(n, gi, 0, r);
    } else {
        rc = put(n, gi, 0, ct_nn_embedding_backward(g[0], ix, n->iv[0], n->iv[1], n->iv[2] != 0, n->in_meta[0].dtype));
    }
    ct_tensor_release(ix);
    return rc;
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
