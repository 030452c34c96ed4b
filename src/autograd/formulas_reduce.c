/* Backward formulas of the reduction / scan / sort family: sum, mean, prod, max/min,
 * amax/amin/aminmax, var/std (+ _mean), norms, logsumexp, cumsum/cumprod/cummax/cummin,
 * logcumsumexp, sort/topk/kthvalue/median/mode.
 *
 * Formulas are written with ops (so create_graph double backward differentiates them
 * again). Tie masks, signs and "first zero" markers are constants (their derivative is zero
 * almost everywhere), so they are built with plain loops and enter the formulas as
 * multiplicative masks. Subgradients follow torch: max/min/median of the whole tensor and
 * amax/amin split the gradient evenly among ties; the dim variants route it through the
 * returned indices; prod/cumprod treat zeros exactly; std at zero and the 2-norm at zero give
 * zero gradient; norm(p=0) has none. */
#include <math.h>
#include <stdlib.h>

#include "autograd_internal.h"
#include "../kernels/cpu/reduce.h"

/* ------------------------------------------------------------------ temporaries */

#define MAX_TMP 32
typedef struct {
    ct_tensor *t[MAX_TMP];
    int n;
} tmps;

/* Keep x for release at the end; returns x (NULL on failure, error already set). */
static ct_tensor *keep(tmps *s, ct_tensor *x) {
    if (x && s->n < MAX_TMP) s->t[s->n++] = x;
    return x;
}
static void tmps_free(tmps *s) {
    for (int i = 0; i < s->n; i++) ct_tensor_release(s->t[i]);
    s->n = 0;
}
#define TRY(var, expr)                  \
    do {                                \
        (var) = keep(&S, (expr));       \
        if (!(var)) goto fail;          \
    } while (0)

/* grad (borrowed) reduced/cast to input i and stored in grad_in[i] (new reference). */
static int put_in(ct_node *n, ct_tensor **gi, int i, ct_tensor *g) {
    ct_tensor *r = ct_sum_to_meta(g, &n->in_meta[i]);
    if (!r) return -1;
    gi[i] = r;
    return 0;
}

/* A wrapped-number float scalar (does not take part in type promotion). */
static ct_tensor *num(double v) {
    ct_tensor *t = ct_scalar_tensor_f64(v, CT_FLOAT64);
    if (t) t->flags |= CT_FLAG_WRAPPED_NUMBER;
    return t;
}
static ct_tensor *mul_s(ct_tensor *g, double v) {
    ct_tensor *s = num(v);
    if (!s) return NULL;
    ct_tensor *r = ct_mul(g, s);
    ct_tensor_release(s);
    return r;
}
static ct_tensor *div_s(ct_tensor *g, double v) {
    ct_tensor *s = num(v);
    if (!s) return NULL;
    ct_tensor *r = ct_div(g, s, NULL);
    ct_tensor_release(s);
    return r;
}

/* ------------------------------------------------------------------ shapes */

/* Dims of a reduction mask as an intlist over buf (all dims of a 0-dim input: NONE). */
static ct_intlist dims_of(uint32_t mask, int ndim, int64_t *buf) {
    if (ndim == 0) return CT_INTLIST_NONE;
    int k = 0;
    for (int d = 0; d < ndim; d++)
        if (mask & (1u << d)) buf[k++] = d;
    return (ct_intlist){buf, k};
}

static int64_t count_of(const ct_input_meta *m, uint32_t mask) {
    int64_t c = 1;
    for (int d = 0; d < m->ndim; d++)
        if (mask & (1u << d)) c *= m->sizes[d];
    return c;
}

/* t (a reduction result over `mask` of an input shaped like m, keepdim or not) reshaped to
 * the keepdim shape. New reference. */
static ct_tensor *unsqueeze_to(ct_tensor *t, const ct_input_meta *m, uint32_t mask) {
    if (t->ndim == m->ndim) {
        ct_tensor_retain(t);
        return t;
    }
    int64_t sz[CT_MAX_DIM];
    for (int d = 0; d < m->ndim; d++) sz[d] = (mask & (1u << d)) ? 1 : m->sizes[d];
    return ct_reshape(t, (ct_intlist){sz, m->ndim});
}

/* t broadcast to m's shape as a materialised tensor (differentiable under create_graph). */
static ct_tensor *expand_to(ct_tensor *t, const ct_input_meta *m) {
    ct_intlist sz = {m->sizes, m->ndim};
    if (ct_grad_enabled() && ct_tensor_requires_grad(t)) {
        ct_tensor *z = ct_zeros(sz, t->dtype, -1);
        if (!z) return NULL;
        ct_tensor *r = ct_add(z, t, ct_scalar_i(1));
        ct_tensor_release(z);
        return r;
    }
    ct_tensor *e = ct_expand(t, sz, false);
    if (!e) return NULL;
    ct_tensor *r = ct_contig_as(e, -1);
    ct_tensor_release(e);
    if (r == e) { /* cannot happen for a real expansion; keep a private copy anyway */
        ct_tensor *c = ct_empty(e->sizes, e->ndim, e->dtype);
        if (c && ct_copy_into(c, e)) {
            ct_tensor_release(c);
            c = NULL;
        }
        ct_tensor_release(r);
        r = c;
    }
    return r;
}

/* ------------------------------------------------------------------ constant masks */

enum { M_EQ, M_EQNAN, M_ABSEQ, M_SIGN, M_ZERO, M_NONZERO, M_NOTNAN };

static void mask_loop(char **p, const int64_t *s, int64_t n, void *ctx) {
    int kind = *(const int *)ctx;
    for (int64_t i = 0; i < n; i++) {
        double a = *(const double *)(p[1] + i * s[1]);
        double b = s[2] >= 0 && p[2] ? *(const double *)(p[2] + i * s[2]) : 0;
        double r;
        switch (kind) {
        case M_EQ: r = a == b; break;
        case M_EQNAN: r = a == b || (isnan(a) && isnan(b)); break;
        case M_ABSEQ: r = fabs(a) == b || isnan(a); break;
        case M_SIGN: r = a > 0 ? 1.0 : a < 0 ? -1.0 : 0.0; break; /* sign(nan) = 0, as torch */
        case M_ZERO: r = a == 0; break;
        case M_NONZERO: r = a != 0; break;
        default: r = !isnan(a); break;
        }
        *(double *)(p[0] + i * s[0]) = r;
    }
}

/* Elementwise constant of a (and b, broadcast) as a new tensor of `dtype`; no history. */
static ct_tensor *mask_of(int kind, ct_tensor *a, ct_tensor *b, int dtype) {
    ct_tensor *ad = NULL, *bd = NULL, *o = NULL, *r = NULL;
    int64_t shape[CT_MAX_DIM];
    int nd = a->ndim;
    for (int d = 0; d < nd; d++) shape[d] = a->sizes[d];
    if (b) {
        nd = ct_broadcast_shapes(a->sizes, a->ndim, b->sizes, b->ndim, shape, "autograd");
        if (nd < 0) return NULL;
    }
    ad = ct_contig_as(a, CT_FLOAT64);
    if (!ad) goto done;
    if (b) {
        bd = ct_contig_as(b, CT_FLOAT64);
        if (!bd) goto done;
    }
    o = ct_empty(shape, nd, CT_FLOAT64);
    if (!o) goto done;
    if (o->numel) {
        ct_iter it;
        ct_tensor *ops[3] = {o, ad, bd ? bd : ad};
        if (ct_iter_init(&it, 3, ops, shape, nd, "autograd")) goto done;
        int k = kind;
        ct_iter_run(&it, mask_loop, &k, true);
    }
    r = ct_contig_as(o, dtype);
    if (r == o) {
        ct_tensor_release(o);
        o = NULL;
    }
done:
    ct_tensor_release(ad);
    ct_tensor_release(bd);
    ct_tensor_release(o);
    return r;
}

/* Per slice along `dim` (all elements in flat order when dim < 0): first[i] = 1 at the
 * first zero, before[i] = 1 strictly before it (everywhere when the slice has no zero).
 * Either output may be NULL. Returns 1 when x has a zero, 0 if none, -1 on error. */
static int zero_marks(ct_tensor *x, int dim, int dtype, ct_tensor **first, ct_tensor **before) {
    ct_tensor *rows = dim >= 0 ? ct_movedim_last_contig(x, dim, CT_FLOAT64) : ct_contig_as(x, CT_FLOAT64);
    if (!rows) return -1;
    int64_t R = dim >= 0 && x->ndim ? x->sizes[dim] : x->numel;
    int64_t N = R ? rows->numel / R : 0;
    ct_tensor *f = ct_empty(rows->sizes, rows->ndim, CT_FLOAT64);
    ct_tensor *b = ct_empty(rows->sizes, rows->ndim, CT_FLOAT64);
    int any = 0;
    if (!f || !b) goto fail;
    const double *xp = (const double *)ct_tensor_data(rows);
    double *fp = (double *)ct_tensor_data(f), *bp = (double *)ct_tensor_data(b);
    for (int64_t r = 0; r < N; r++) {
        bool seen = false;
        for (int64_t j = 0; j < R; j++) {
            double v = xp[r * R + j];
            bool z = !seen && v == 0;
            fp[r * R + j] = z;
            if (z) any = 1;
            bp[r * R + j] = !seen && !z;
            seen |= z;
        }
    }
    ct_tensor_release(rows);
    rows = NULL;
    ct_tensor *outs[2] = {f, b};
    ct_tensor **dst[2] = {first, before};
    for (int k = 0; k < 2; k++) {
        if (!dst[k]) continue;
        ct_tensor *o;
        if (dim >= 0) {
            o = ct_movedim_back(outs[k], dim, dtype);
        } else {
            ct_tensor *v = ct_tensor_new_view(outs[k]->storage, outs[k]->dtype, outs[k]->offset, x->sizes, NULL,
                                              x->ndim);
            o = v ? ct_contig_as(v, dtype) : NULL;
            if (o == v) {
                ct_tensor_release(o);
                o = v ? ct_empty(x->sizes, x->ndim, dtype) : NULL;
                if (o && ct_copy_into(o, v)) {
                    ct_tensor_release(o);
                    o = NULL;
                }
            }
            ct_tensor_release(v);
        }
        if (!o) goto fail;
        *dst[k] = o;
    }
    ct_tensor_release(f);
    ct_tensor_release(b);
    return any;
fail:
    if (first && *first) ct_tensor_release(*first), *first = NULL;
    if (before && *before) ct_tensor_release(*before), *before = NULL;
    ct_tensor_release(rows);
    ct_tensor_release(f);
    ct_tensor_release(b);
    return -1;
}

static bool has_zero(ct_tensor *x) {
    ct_tensor *z = mask_of(M_ZERO, x, NULL, CT_FLOAT64);
    if (!z) return true; /* take the careful path */
    const double *p = (const double *)ct_tensor_data(z);
    bool any = false;
    for (int64_t i = 0; i < z->numel && !any; i++) any = p[i] != 0;
    ct_tensor_release(z);
    return any;
}

/* x with its first zero (per slice) replaced by the constant 1: x * (1 - first) + first,
 * so products over it do not depend on that element. New reference (not kept in s). */
static ct_tensor *without_first_zero(tmps *s, ct_tensor *x, ct_tensor *first) {
    ct_tensor *nf = keep(s, mask_of(M_ZERO, first, NULL, x->dtype));
    if (!nf) return NULL;
    ct_tensor *a = keep(s, ct_mul(x, nf));
    if (!a) return NULL;
    return ct_add(a, first, ct_scalar_i(1));
}

/* ------------------------------------------------------------------ differentiable |.|^e */

static ct_tensor *dpow(ct_tensor *a, double e);

static int dpow_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    tmps S = {0};
    ct_tensor *a, *p, *t, *r;
    double e = n->dv[0];
    TRY(a, ct_node_saved(n, 0));
    if (e == 0) {
        TRY(r, mul_s(g[0], 0.0));
    } else {
        TRY(p, dpow(a, e - 1));
        TRY(t, mul_s(p, e));
        TRY(r, ct_mul(g[0], t));
    }
    if (put_in(n, gi, 0, r)) goto fail;
    tmps_free(&S);
    return 0;
fail:
    tmps_free(&S);
    return -1;
}

/* a^e for a >= 0 (elementwise, a's dtype), recorded as PowBackward0. */
static ct_tensor *dpow(ct_tensor *a, double e) {
    ct_tensor *ad = ct_contig_as(a, CT_FLOAT64);
    if (!ad) return NULL;
    ct_tensor *o = ct_empty(a->sizes, a->ndim, CT_FLOAT64);
    if (!o) {
        ct_tensor_release(ad);
        return NULL;
    }
    const double *ap = (const double *)ct_tensor_data(ad);
    double *op = (double *)ct_tensor_data(o);
    for (int64_t i = 0; i < o->numel; i++) op[i] = pow(ap[i], e);
    ct_tensor_release(ad);
    ct_tensor *r = ct_contig_as(o, a->dtype); /* o itself (new reference) for float64 */
    ct_tensor_release(o);
    if (!r) return NULL;
    if (ct_autograd_should_record(1, &a) && ct_dtype_is_floating(r->dtype)) {
        ct_node *node = ct_autograd_record("PowBackward0", dpow_backward, r, 1, &a);
        if (!node || ct_node_save(node, 0, a, -1)) {
            ct_tensor_release(r);
            return NULL;
        }
        node->dv[0] = e;
    }
    return r;
}

/* ------------------------------------------------------------------ recording helpers */

#define RECORD1(NAME, FN, OUT, SELF)                                                          \
    ct_node *node;                                                                            \
    do {                                                                                      \
        ct_tensor *ins_[1] = {SELF};                                                          \
        if (!ct_autograd_should_record(1, ins_) || !ct_dtype_is_floating((OUT)->dtype)) return 0; \
        node = ct_autograd_record(NAME, FN, OUT, 1, ins_);                                    \
        if (!node) return -1;                                                                 \
    } while (0)

/* Node for a multi-output op; outputs[k] NULL = not differentiable. */
static ct_node *record_multi(const char *name, ct_backward_fn fn, ct_tensor *self, int nout, ct_tensor **outs) {
    ct_node *n = ct_node_new(name, fn, 1, &self, nout);
    if (!n) return NULL;
    for (int k = 0; k < nout; k++)
        if (outs[k] && ct_node_set_output(n, outs[k], k)) {
            ct_node_release(n);
            return NULL;
        }
    ct_node_release(n); /* the outputs own it now */
    return n;
}

static bool wants(ct_tensor *self, ct_tensor *out) {
    return ct_autograd_should_record(1, &self) && ct_dtype_is_floating(out->dtype);
}

/* Make `result` take the history of `composite` (the same values computed with recorded
 * ops): for composite ops whose grad_fn in torch is the last op of the composition. */
static int adopt(ct_tensor *result, ct_tensor *composite) {
    if (!composite) return -1;
    int rc = 0;
    if (composite->autograd && composite->autograd->grad_fn)
        rc = ct_node_set_output(composite->autograd->grad_fn, result, composite->autograd->output_nr);
    ct_tensor_release(composite);
    return rc;
}

static int mask_from(const char *op, ct_intlist dim, int ndim, uint32_t *mask) {
    return ct_reduce_mask(op, dim, ndim, mask);
}
static uint32_t dim_mask(int64_t dim, int ndim) {
    if (ndim == 0) return 0;
    int d = (int)(dim < 0 ? dim + ndim : dim);
    return 1u << d;
}

/* ------------------------------------------------------------------ sum / mean / nansum */

/* iv[0] reduce mask, iv[1] keepdim (unused: shapes tell), iv[2] nan (nansum), iv[3] mean */
static int sum_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    tmps S = {0};
    const ct_input_meta *m = &n->in_meta[0];
    uint32_t mask = (uint32_t)n->iv[0];
    ct_tensor *gk, *e, *r, *x, *nn;
    TRY(gk, unsqueeze_to(g[0], m, mask));
    if (n->iv[3]) TRY(gk, div_s(gk, (double)count_of(m, mask)));
    TRY(e, expand_to(gk, m));
    r = e;
    if (n->iv[2]) {
        TRY(x, ct_node_saved(n, 0));
        TRY(nn, mask_of(M_NOTNAN, x, NULL, e->dtype));
        TRY(r, ct_mul(e, nn));
    }
    if (put_in(n, gi, 0, r)) goto fail;
    tmps_free(&S);
    return 0;
fail:
    tmps_free(&S);
    return -1;
}

static int rec_sum(const char *name, ct_tensor *result, ct_tensor *self, ct_intlist dim, bool keepdim, bool nan,
                   bool mean) {
    uint32_t mask;
    RECORD1(name, sum_backward, result, self);
    if (mask_from("sum", dim, self->ndim, &mask)) return -1;
    node->iv[0] = mask;
    node->iv[1] = keepdim;
    node->iv[2] = nan;
    node->iv[3] = mean;
    if (nan && ct_node_save(node, 0, self, -1)) return -1;
    return 0;
}

int ctg_sum_all(ct_tensor *result, ct_tensor *self, int dtype) {
    (void)dtype;
    return rec_sum("SumBackward0", result, self, CT_INTLIST_NONE, false, false, false);
}
int ctg_sum(ct_tensor *result, ct_tensor *self, ct_intlist dim, bool keepdim, int dtype) {
    (void)dtype;
    return rec_sum("SumBackward1", result, self, dim, keepdim, false, false);
}
int ctg_nansum(ct_tensor *result, ct_tensor *self, ct_intlist dim, bool keepdim, int dtype) {
    (void)dtype;
    return rec_sum("NansumBackward0", result, self, dim, keepdim, true, false);
}
int ctg_mean_all(ct_tensor *result, ct_tensor *self, int dtype) {
    (void)dtype;
    return rec_sum("MeanBackward0", result, self, CT_INTLIST_NONE, false, false, true);
}
int ctg_mean(ct_tensor *result, ct_tensor *self, ct_intlist dim, bool keepdim, int dtype) {
    (void)dtype;
    return rec_sum("MeanBackward1", result, self, dim, keepdim, false, true);
}

/* nanmean is nansum / count in torch (grad_fn DivBackward0 over NansumBackward0). */
int ctg_nanmean(ct_tensor *result, ct_tensor *self, ct_intlist dim, bool keepdim, int dtype) {
    if (!wants(self, result)) return 0;
    ct_tensor *nn = mask_of(M_NOTNAN, self, NULL, result->dtype);
    if (!nn) return -1;
    ct_tensor *cnt = ct_sum(nn, dim, keepdim, -1);
    ct_tensor_release(nn);
    if (!cnt) return -1;
    ct_tensor *ns = ct_nansum(self, dim, keepdim, dtype);
    ct_tensor *q = ns ? ct_div(ns, cnt, NULL) : NULL;
    ct_tensor_release(ns);
    ct_tensor_release(cnt);
    return adopt(result, q);
}

/* ------------------------------------------------------------------ prod */

/* saved: 0 self, 1 result. iv[0] dim (-1: all), iv[1] keepdim */
static int prod_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    tmps S = {0};
    const ct_input_meta *m = &n->in_meta[0];
    int dim = (int)n->iv[0];
    uint32_t mask = dim < 0 ? (uint32_t)((1u << m->ndim) - 1) : (m->ndim ? 1u << dim : 0);
    ct_tensor *x, *out, *gk, *ok, *t, *r;
    TRY(x, ct_node_saved(n, 0));
    TRY(out, ct_node_saved(n, 1));
    TRY(gk, unsqueeze_to(g[0], m, mask));
    TRY(ok, unsqueeze_to(out, m, mask));
    TRY(t, ct_mul(gk, ok));
    if (!has_zero(x)) {
        TRY(r, ct_div(t, x, NULL));
    } else {
        /* slices with no zero: grad*out/x; a slice with one zero: the product of the others
         * at that zero (prod of x with its first zero replaced by 1); two or more: zero */
        ct_tensor *first = NULL, *z, *nz, *xs, *q0, *q, *x1, *p1, *t2, *t3;
        int rc = zero_marks(x, dim < 0 || m->ndim == 0 ? -1 : dim, x->dtype, &first, NULL);
        if (rc < 0) goto fail;
        keep(&S, first);
        TRY(z, mask_of(M_ZERO, x, NULL, x->dtype));
        TRY(nz, mask_of(M_NONZERO, x, NULL, x->dtype));
        TRY(xs, ct_add(x, z, ct_scalar_i(1)));
        TRY(q0, ct_div(t, xs, NULL));
        TRY(q, ct_mul(q0, nz)); /* identically zero at zeros (also for double backward) */
        TRY(x1, without_first_zero(&S, x, first));
        if (dim < 0 || m->ndim == 0)
            TRY(p1, ct_prod(x1, -1));
        else
            TRY(p1, ct_prod_dim_int(x1, dim, true, -1));
        TRY(t2, ct_mul(gk, p1));
        TRY(t3, ct_mul(t2, first));
        TRY(r, ct_add(q, t3, ct_scalar_i(1)));
    }
    if (put_in(n, gi, 0, r)) goto fail;
    tmps_free(&S);
    return 0;
fail:
    tmps_free(&S);
    return -1;
}

static int rec_prod(const char *name, ct_tensor *result, ct_tensor *self, int dim, bool keepdim) {
    RECORD1(name, prod_backward, result, self);
    node->iv[0] = dim;
    node->iv[1] = keepdim;
    if (ct_node_save(node, 0, self, -1) || ct_node_save(node, 1, result, 0)) return -1;
    return 0;
}
int ctg_prod(ct_tensor *result, ct_tensor *self, int dtype) {
    (void)dtype;
    return rec_prod("ProdBackward0", result, self, -1, false);
}
int ctg_prod_dim_int(ct_tensor *result, ct_tensor *self, int64_t dim, bool keepdim, int dtype) {
    (void)dtype;
    int d = self->ndim ? ct_wrap_dim(dim, self->ndim, "prod") : 0;
    if (d < 0) return -1;
    return rec_prod("ProdBackward1", result, self, d, keepdim);
}

/* ------------------------------------------------------------------ amax / amin / max / min */

/* Gradient split evenly among the elements equal to the (keepdim) result. saved 0 self,
 * 1 result; iv[0] mask; iv[1] 1: NaN-aware mask (evenly_distribute). */
static ct_tensor *split_evenly(ct_tensor *gk, ct_tensor *x, ct_tensor *ok, uint32_t mask, int ndim, bool nan) {
    tmps S = {0};
    ct_tensor *mk, *cnt, *q, *r = NULL;
    int64_t buf[CT_MAX_DIM];
    TRY(mk, mask_of(nan ? M_EQNAN : M_EQ, x, ok, x->dtype));
    TRY(cnt, ct_sum(mk, dims_of(mask, ndim, buf), true, -1));
    TRY(q, ct_div(gk, cnt, NULL));
    r = ct_mul(mk, q);
fail:
    tmps_free(&S);
    return r;
}

static int amax_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    tmps S = {0};
    const ct_input_meta *m = &n->in_meta[0];
    uint32_t mask = (uint32_t)n->iv[0];
    ct_tensor *x, *out, *gk, *ok, *r;
    TRY(x, ct_node_saved(n, 0));
    TRY(out, ct_node_saved(n, 1));
    TRY(gk, unsqueeze_to(g[0], m, mask));
    TRY(ok, unsqueeze_to(out, m, mask));
    TRY(r, split_evenly(gk, x, ok, mask, m->ndim, n->iv[1]));
    if (put_in(n, gi, 0, r)) goto fail;
    tmps_free(&S);
    return 0;
fail:
    tmps_free(&S);
    return -1;
}

static int rec_amax(const char *name, ct_tensor *result, ct_tensor *self, uint32_t mask, bool nan) {
    RECORD1(name, amax_backward, result, self);
    node->iv[0] = mask;
    node->iv[1] = nan;
    if (ct_node_save(node, 0, self, -1) || ct_node_save(node, 1, result, 0)) return -1;
    return 0;
}

int ctg_amax(ct_tensor *result, ct_tensor *self, ct_intlist dim, bool keepdim) {
    (void)keepdim;
    uint32_t mask;
    if (!wants(self, result)) return 0;
    if (mask_from("amax", dim, self->ndim, &mask)) return -1;
    return rec_amax("AmaxBackward0", result, self, mask, false);
}
int ctg_amin(ct_tensor *result, ct_tensor *self, ct_intlist dim, bool keepdim) {
    (void)keepdim;
    uint32_t mask;
    if (!wants(self, result)) return 0;
    if (mask_from("amin", dim, self->ndim, &mask)) return -1;
    return rec_amax("AminBackward0", result, self, mask, false);
}
static uint32_t all_mask(int ndim) { return ndim ? (uint32_t)((1u << ndim) - 1) : 0; }
int ctg_max(ct_tensor *result, ct_tensor *self) {
    return rec_amax("MaxBackward1", result, self, all_mask(self->ndim), true);
}
int ctg_min(ct_tensor *result, ct_tensor *self) {
    return rec_amax("MinBackward1", result, self, all_mask(self->ndim), true);
}
int ctg_median(ct_tensor *result, ct_tensor *self) {
    return rec_amax("MedianBackward0", result, self, all_mask(self->ndim), true);
}
int ctg_nanmedian(ct_tensor *result, ct_tensor *self) {
    return rec_amax("NanmedianBackward0", result, self, all_mask(self->ndim), true);
}

/* aminmax: outputs (min, max); saved 0 self, 1 min, 2 max; iv[0] mask */
static int aminmax_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    tmps S = {0};
    const ct_input_meta *m = &n->in_meta[0];
    uint32_t mask = (uint32_t)n->iv[0];
    ct_tensor *x, *acc = NULL;
    TRY(x, ct_node_saved(n, 0));
    for (int k = 0; k < 2; k++) {
        if (!g[k]) continue;
        ct_tensor *out, *gk, *ok, *r;
        TRY(out, ct_node_saved(n, 1 + k));
        TRY(gk, unsqueeze_to(g[k], m, mask));
        TRY(ok, unsqueeze_to(out, m, mask));
        TRY(r, split_evenly(gk, x, ok, mask, m->ndim, false));
        if (acc)
            TRY(acc, ct_add(acc, r, ct_scalar_i(1)));
        else
            acc = r;
    }
    if (acc && put_in(n, gi, 0, acc)) goto fail;
    tmps_free(&S);
    return 0;
fail:
    tmps_free(&S);
    return -1;
}

int ctg_aminmax(ct_tensor *result0, ct_tensor *result1, ct_tensor *self, const int64_t *dim, bool keepdim) {
    (void)keepdim;
    if (!wants(self, result0)) return 0;
    uint32_t mask = dim ? dim_mask(*dim, self->ndim) : all_mask(self->ndim);
    ct_tensor *outs[2] = {result0, result1};
    ct_node *node = record_multi("AminmaxBackward0", aminmax_backward, self, 2, outs);
    if (!node) return -1;
    node->iv[0] = mask;
    if (ct_node_save(node, 0, self, -1) || ct_node_save(node, 1, result0, 0) || ct_node_save(node, 2, result1, 1))
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ through indices */

/* Values gathered by `indices` along iv[0]: the gradient goes back to those positions.
 * saved 0: indices; iv[0] dim, iv[1] keepdim-like (indices already full rank), iv[2]
 * accumulate (scatter_add: indices may repeat, cummax/cummin). */
static int index_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    tmps S = {0};
    const ct_input_meta *m = &n->in_meta[0];
    int dim = (int)n->iv[0];
    ct_tensor *idx, *gk, *ik, *z, *r;
    if (m->ndim == 0) {
        if (put_in(n, gi, 0, g[0])) goto fail;
        return 0;
    }
    TRY(idx, ct_node_saved(n, 0));
    uint32_t mask = 1u << dim;
    TRY(gk, unsqueeze_to(g[0], m, mask));
    TRY(ik, unsqueeze_to(idx, m, mask));
    TRY(z, ct_zeros((ct_intlist){m->sizes, m->ndim}, gk->dtype, -1));
    if (n->iv[2])
        TRY(r, ct_scatter_add(z, dim, ik, gk));
    else
        TRY(r, ct_scatter_src(z, dim, ik, gk));
    if (put_in(n, gi, 0, r)) goto fail;
    tmps_free(&S);
    return 0;
fail:
    tmps_free(&S);
    return -1;
}

static int rec_index(const char *name, ct_tensor *values, ct_tensor *indices, ct_tensor *self, int64_t dim,
                     bool accumulate) {
    if (!wants(self, values)) return 0;
    int d = self->ndim ? ct_wrap_dim(dim, self->ndim, name) : 0;
    if (d < 0) return -1;
    ct_tensor *outs[1] = {values};
    ct_node *node = record_multi(name, index_backward, self, 1, outs);
    if (!node) return -1;
    node->iv[0] = d;
    node->iv[2] = accumulate;
    return ct_node_save(node, 0, indices, -1);
}

int ctg_max_dim(ct_tensor *result0, ct_tensor *result1, ct_tensor *self, int64_t dim, bool keepdim) {
    (void)keepdim;
    return rec_index("MaxBackward0", result0, result1, self, dim, false);
}
int ctg_min_dim(ct_tensor *result0, ct_tensor *result1, ct_tensor *self, int64_t dim, bool keepdim) {
    (void)keepdim;
    return rec_index("MinBackward0", result0, result1, self, dim, false);
}
int ctg_median_dim(ct_tensor *result0, ct_tensor *result1, ct_tensor *self, int64_t dim, bool keepdim) {
    (void)keepdim;
    return rec_index("MedianBackward1", result0, result1, self, dim, false);
}
int ctg_nanmedian_dim(ct_tensor *result0, ct_tensor *result1, ct_tensor *self, int64_t dim, bool keepdim) {
    (void)keepdim;
    return rec_index("NanmedianBackward1", result0, result1, self, dim, false);
}
int ctg_kthvalue(ct_tensor *result0, ct_tensor *result1, ct_tensor *self, int64_t k, int64_t dim, bool keepdim) {
    (void)k;
    (void)keepdim;
    return rec_index("KthvalueBackward0", result0, result1, self, dim, false);
}
int ctg_mode(ct_tensor *result0, ct_tensor *result1, ct_tensor *self, int64_t dim, bool keepdim) {
    (void)keepdim;
    return rec_index("ModeBackward0", result0, result1, self, dim, false);
}
int ctg_sort(ct_tensor *result0, ct_tensor *result1, ct_tensor *self, int64_t dim, bool descending) {
    (void)descending;
    return rec_index("SortBackward0", result0, result1, self, dim, false);
}
int ctg_sort_stable(ct_tensor *result0, ct_tensor *result1, ct_tensor *self, const bool *stable, int64_t dim,
                    bool descending) {
    (void)stable;
    (void)descending;
    return rec_index("SortBackward1", result0, result1, self, dim, false);
}
int ctg_topk(ct_tensor *result0, ct_tensor *result1, ct_tensor *self, int64_t k, int64_t dim, bool largest,
             bool sorted) {
    (void)k;
    (void)largest;
    (void)sorted;
    return rec_index("TopkBackward0", result0, result1, self, dim, false);
}
int ctg_cummax(ct_tensor *result0, ct_tensor *result1, ct_tensor *self, int64_t dim) {
    return rec_index("CummaxBackward0", result0, result1, self, dim, true);
}
int ctg_cummin(ct_tensor *result0, ct_tensor *result1, ct_tensor *self, int64_t dim) {
    return rec_index("CumminBackward0", result0, result1, self, dim, true);
}

/* ------------------------------------------------------------------ var / std */

/* (2 / dof) * gk * (x - mean(x)) */
static ct_tensor *var_grad(ct_tensor *gk, ct_tensor *x, uint32_t mask, const ct_input_meta *m, double corr) {
    tmps S = {0};
    ct_tensor *mu, *d, *t, *r = NULL;
    int64_t buf[CT_MAX_DIM];
    double dof = (double)count_of(m, mask) - corr; /* not clamped: torch's backward uses it as is */
    TRY(mu, ct_mean(x, dims_of(mask, m->ndim, buf), true, -1));
    TRY(d, ct_sub(x, mu, ct_scalar_i(1)));
    TRY(t, mul_s(gk, 2.0 / dof));
    r = ct_mul(t, d);
fail:
    tmps_free(&S);
    return r;
}

/* gk / (2 std), zero where std is zero */
static ct_tensor *std_scale(ct_tensor *gk, ct_tensor *sk) {
    tmps S = {0};
    ct_tensor *z, *nz, *ss, *s2, *q, *r = NULL;
    TRY(z, mask_of(M_ZERO, sk, NULL, sk->dtype));
    TRY(nz, mask_of(M_NONZERO, sk, NULL, sk->dtype));
    TRY(ss, ct_add(sk, z, ct_scalar_i(1)));
    TRY(s2, mul_s(ss, 2.0));
    TRY(q, ct_div(gk, s2, NULL));
    r = ct_mul(q, nz);
fail:
    tmps_free(&S);
    return r;
}

/* var/std with optional mean output. saved 0 self, 1 result (std); iv[0] mask, iv[1] std,
 * iv[2] has a mean output; dv[0] correction */
static int var_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    tmps S = {0};
    const ct_input_meta *m = &n->in_meta[0];
    uint32_t mask = (uint32_t)n->iv[0];
    ct_tensor *acc = NULL, *x, *gk, *r;
    if (g[0]) {
        TRY(x, ct_node_saved(n, 0));
        TRY(gk, unsqueeze_to(g[0], m, mask));
        if (n->iv[1]) {
            ct_tensor *out, *ok;
            TRY(out, ct_node_saved(n, 1));
            TRY(ok, unsqueeze_to(out, m, mask));
            TRY(gk, std_scale(gk, ok));
        }
        TRY(acc, var_grad(gk, x, mask, m, n->dv[0]));
    }
    if (n->iv[2] && n->n_outputs > 1 && g[1]) {
        ct_tensor *gm, *q, *e;
        TRY(gm, unsqueeze_to(g[1], m, mask));
        TRY(q, div_s(gm, (double)count_of(m, mask)));
        TRY(e, expand_to(q, m));
        if (acc)
            TRY(acc, ct_add(acc, e, ct_scalar_i(1)));
        else
            acc = e;
    }
    r = acc;
    if (r && put_in(n, gi, 0, r)) goto fail;
    tmps_free(&S);
    return 0;
fail:
    tmps_free(&S);
    return -1;
}

static int rec_var(const char *name, ct_tensor *r0, ct_tensor *r1, ct_tensor *self, ct_intlist dim, double corr,
                   bool is_std) {
    if (!wants(self, r0)) return 0;
    uint32_t mask;
    if (mask_from(name, dim, self->ndim, &mask)) return -1;
    ct_tensor *outs[2] = {r0, r1};
    ct_node *node = record_multi(name, var_backward, self, r1 ? 2 : 1, outs);
    if (!node) return -1;
    node->iv[0] = mask;
    node->iv[1] = is_std;
    node->iv[2] = r1 != NULL;
    node->dv[0] = corr;
    if (ct_node_save(node, 0, self, -1)) return -1;
    if (is_std && ct_node_save(node, 1, r0, 0)) return -1;
    return 0;
}

static double corr_of(const ct_scalar *c) { return c ? ct_scalar_to_f64(*c) : 1.0; }

int ctg_var(ct_tensor *result, ct_tensor *self, bool unbiased) {
    return rec_var("VarBackward0", result, NULL, self, CT_INTLIST_NONE, unbiased, false);
}
int ctg_var_dim(ct_tensor *result, ct_tensor *self, ct_intlist dim, bool unbiased, bool keepdim) {
    (void)keepdim;
    return rec_var("VarBackward0", result, NULL, self, dim, unbiased, false);
}
int ctg_var_correction(ct_tensor *result, ct_tensor *self, ct_intlist dim, const ct_scalar *correction,
                       bool keepdim) {
    (void)keepdim;
    return rec_var("VarBackward0", result, NULL, self, dim, corr_of(correction), false);
}
int ctg_std(ct_tensor *result, ct_tensor *self, bool unbiased) {
    return rec_var("StdBackward0", result, NULL, self, CT_INTLIST_NONE, unbiased, true);
}
int ctg_std_dim(ct_tensor *result, ct_tensor *self, ct_intlist dim, bool unbiased, bool keepdim) {
    (void)keepdim;
    return rec_var("StdBackward0", result, NULL, self, dim, unbiased, true);
}
int ctg_std_correction(ct_tensor *result, ct_tensor *self, ct_intlist dim, const ct_scalar *correction,
                       bool keepdim) {
    (void)keepdim;
    return rec_var("StdBackward0", result, NULL, self, dim, corr_of(correction), true);
}
int ctg_var_mean(ct_tensor *result0, ct_tensor *result1, ct_tensor *self, bool unbiased) {
    return rec_var("VarMeanBackward0", result0, result1, self, CT_INTLIST_NONE, unbiased, false);
}
int ctg_var_mean_dim(ct_tensor *result0, ct_tensor *result1, ct_tensor *self, ct_intlist dim, bool unbiased,
                     bool keepdim) {
    (void)keepdim;
    return rec_var("VarMeanBackward0", result0, result1, self, dim, unbiased, false);
}
int ctg_var_mean_correction(ct_tensor *result0, ct_tensor *result1, ct_tensor *self, ct_intlist dim,
                            const ct_scalar *correction, bool keepdim) {
    (void)keepdim;
    return rec_var("VarMeanBackward0", result0, result1, self, dim, corr_of(correction), false);
}
int ctg_std_mean(ct_tensor *result0, ct_tensor *result1, ct_tensor *self, bool unbiased) {
    return rec_var("StdMeanBackward0", result0, result1, self, CT_INTLIST_NONE, unbiased, true);
}
int ctg_std_mean_dim(ct_tensor *result0, ct_tensor *result1, ct_tensor *self, ct_intlist dim, bool unbiased,
                     bool keepdim) {
    (void)keepdim;
    return rec_var("StdMeanBackward0", result0, result1, self, dim, unbiased, true);
}
int ctg_std_mean_correction(ct_tensor *result0, ct_tensor *result1, ct_tensor *self, ct_intlist dim,
                            const ct_scalar *correction, bool keepdim) {
    (void)keepdim;
    return rec_var("StdMeanBackward0", result0, result1, self, dim, corr_of(correction), true);
}

/* ------------------------------------------------------------------ norms */

/* nonzero-safe: t + (t == 0), and the (t != 0) mask */
static int safe_nz(tmps *s, ct_tensor *t, ct_tensor **safe, ct_tensor **nz) {
    ct_tensor *z = keep(s, mask_of(M_ZERO, t, NULL, t->dtype));
    if (!z) return -1;
    *nz = keep(s, mask_of(M_NONZERO, t, NULL, t->dtype));
    if (!*nz) return -1;
    *safe = keep(s, ct_add(t, z, ct_scalar_i(1)));
    return *safe ? 0 : -1;
}

/* saved 0 self, 1 result; iv[0] mask; dv[0] p */
static int norm_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    tmps S = {0};
    const ct_input_meta *m = &n->in_meta[0];
    uint32_t mask = (uint32_t)n->iv[0];
    double p = n->dv[0];
    ct_tensor *x, *out, *gk, *nk, *sg, *r;
    if (p == 0) return 0; /* not differentiable: no gradient (as torch) */
    TRY(x, ct_node_saved(n, 0));
    TRY(out, ct_node_saved(n, 1));
    TRY(gk, unsqueeze_to(g[0], m, mask));
    TRY(nk, unsqueeze_to(out, m, mask));
    TRY(sg, mask_of(M_SIGN, x, NULL, x->dtype));
    if (p == 1) {
        TRY(r, ct_mul(sg, gk));
    } else if (p == 2) {
        ct_tensor *ns, *nnz, *q, *q2;
        if (safe_nz(&S, nk, &ns, &nnz)) goto fail;
        TRY(q, ct_div(x, ns, NULL));
        TRY(q2, ct_mul(q, nnz));
        TRY(r, ct_mul(gk, q2));
    } else if (isinf(p)) {
        ct_tensor *mk, *cnt, *q, *q2;
        int64_t buf[CT_MAX_DIM];
        TRY(mk, mask_of(M_ABSEQ, x, nk, x->dtype));
        TRY(cnt, ct_sum(mk, dims_of(mask, m->ndim, buf), true, -1));
        TRY(q, ct_div(gk, cnt, NULL));
        TRY(q2, ct_mul(q, mk));
        TRY(r, ct_mul(sg, q2));
    } else {
        ct_tensor *ax, *scaled, *sv;
        TRY(ax, ct_mul(x, sg)); /* |x| */
        if (p < 1) {
            ct_tensor *as, *anz, *pw, *t, *pn;
            if (safe_nz(&S, ax, &as, &anz)) goto fail;
            TRY(pw, dpow(as, p - 1));
            TRY(t, ct_mul(sg, pw));
            TRY(scaled, ct_mul(t, anz));
            TRY(t, ct_mul(scaled, gk));
            TRY(pn, dpow(nk, 1 - p));
            TRY(r, ct_mul(t, pn));
        } else {
            ct_tensor *pw, *ns, *nnz, *pn, *q;
            if (p < 2) {
                TRY(pw, dpow(ax, p - 1));
                TRY(scaled, ct_mul(sg, pw));
            } else {
                TRY(pw, dpow(ax, p - 2));
                TRY(scaled, ct_mul(x, pw));
            }
            if (safe_nz(&S, nk, &ns, &nnz)) goto fail;
            TRY(pn, dpow(ns, p - 1));
            TRY(q, ct_div(gk, pn, NULL));
            TRY(sv, ct_mul(q, nnz));
            TRY(r, ct_mul(scaled, sv));
        }
    }
    if (put_in(n, gi, 0, r)) goto fail;
    tmps_free(&S);
    return 0;
fail:
    tmps_free(&S);
    return -1;
}

static int rec_norm(ct_tensor *result, ct_tensor *self, double p, ct_intlist dim) {
    uint32_t mask;
    RECORD1("LinalgVectorNormBackward0", norm_backward, result, self);
    if (mask_from("linalg.vector_norm", dim, self->ndim, &mask)) return -1;
    node->iv[0] = mask;
    node->dv[0] = p;
    if (ct_node_save(node, 0, self, -1) || ct_node_save(node, 1, result, 0)) return -1;
    return 0;
}

int ctg_linalg_vector_norm(ct_tensor *result, ct_tensor *self, ct_scalar ord, ct_intlist dim, bool keepdim,
                           int dtype) {
    (void)keepdim;
    (void)dtype;
    return rec_norm(result, self, ct_scalar_to_f64(ord), dim);
}
int ctg_norm(ct_tensor *result, ct_tensor *self, const ct_scalar *p, ct_intlist dim, bool keepdim, int dtype) {
    (void)keepdim;
    (void)dtype;
    return rec_norm(result, self, p ? ct_scalar_to_f64(*p) : 2.0, dim);
}
int ctg_norm_str(ct_tensor *result, ct_tensor *self, const char *p, ct_intlist dim, bool keepdim, int dtype) {
    (void)p; /* only 'fro' gets here ('nuc' is refused by the kernel) */
    (void)keepdim;
    (void)dtype;
    return rec_norm(result, self, 2.0, dim);
}

/* matrix 1/inf norms are amax/amin(|A|.sum(dim0), dim1) in torch: record that composition. */
int ctg_linalg_matrix_norm(ct_tensor *result, ct_tensor *self, ct_scalar ord, ct_intlist dim, bool keepdim,
                           int dtype) {
    if (!wants(self, result)) return 0;
    double p = ct_scalar_to_f64(ord);
    int d0 = ct_wrap_dim(dim.data[0], self->ndim, "linalg.matrix_norm");
    int d1 = ct_wrap_dim(dim.data[1], self->ndim, "linalg.matrix_norm");
    if (d0 < 0 || d1 < 0) return -1;
    int sum_d = isinf(p) ? d1 : d0, ext_d = isinf(p) ? d0 : d1;
    tmps S = {0};
    ct_tensor *x = self, *sg, *a, *s, *r;
    if (dtype >= 0 && dtype != self->dtype) TRY(x, ct_to_dtype(self, dtype, false));
    TRY(sg, mask_of(M_SIGN, x, NULL, x->dtype));
    TRY(a, ct_mul(x, sg));
    int64_t sd = sum_d;
    TRY(s, ct_sum(a, (ct_intlist){&sd, 1}, keepdim, -1));
    int64_t ed = (!keepdim && sum_d < ext_d) ? ext_d - 1 : ext_d;
    r = p > 0 ? ct_amax(s, (ct_intlist){&ed, 1}, keepdim) : ct_amin(s, (ct_intlist){&ed, 1}, keepdim);
    tmps_free(&S);
    return adopt(result, r);
fail:
    tmps_free(&S);
    return -1;
}

int ctg_linalg_matrix_norm_str_ord(ct_tensor *result, ct_tensor *self, const char *ord, ct_intlist dim,
                                   bool keepdim, int dtype) {
    (void)ord; /* 'fro' ('nuc' is refused by the kernel) */
    (void)keepdim;
    (void)dtype;
    int64_t dd[2];
    for (int k = 0; k < 2; k++) {
        int d = ct_wrap_dim(dim.data[k], self->ndim, "linalg.matrix_norm");
        if (d < 0) return -1;
        dd[k] = d;
    }
    return rec_norm(result, self, 2.0, (ct_intlist){dd, 2});
}

/* ------------------------------------------------------------------ logsumexp */

static int logsumexp_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    tmps S = {0};
    const ct_input_meta *m = &n->in_meta[0];
    uint32_t mask = (uint32_t)n->iv[0];
    ct_tensor *x, *out, *gk, *ok, *d, *e, *r;
    TRY(x, ct_node_saved(n, 0));
    TRY(out, ct_node_saved(n, 1));
    TRY(gk, unsqueeze_to(g[0], m, mask));
    TRY(ok, unsqueeze_to(out, m, mask));
    TRY(d, ct_sub(x, ok, ct_scalar_i(1)));
    TRY(e, ct_exp(d));
    TRY(r, ct_mul(gk, e));
    if (put_in(n, gi, 0, r)) goto fail;
    tmps_free(&S);
    return 0;
fail:
    tmps_free(&S);
    return -1;
}

int ctg_logsumexp(ct_tensor *result, ct_tensor *self, ct_intlist dim, bool keepdim) {
    (void)keepdim;
    uint32_t mask;
    RECORD1("LogsumexpBackward0", logsumexp_backward, result, self);
    if (mask_from("logsumexp", dim, self->ndim, &mask)) return -1;
    node->iv[0] = mask;
    if (ct_node_save(node, 0, self, -1) || ct_node_save(node, 1, result, 0)) return -1;
    return 0;
}

/* ------------------------------------------------------------------ scans */

/* sum_{i >= j} t_i along dim. Exact flips without create_graph; with it, the
 * differentiable form sum - cumsum + t (flip has no backward of its own here). */
static ct_tensor *rev_cumsum(ct_tensor *t, int dim) {
    int64_t d = dim;
    if (!(ct_grad_enabled() && ct_tensor_requires_grad(t))) {
        ct_tensor *f = ct_flip(t, (ct_intlist){&d, 1});
        ct_tensor *c = f ? ct_cumsum(f, dim, -1) : NULL;
        ct_tensor_release(f);
        ct_tensor *r = c ? ct_flip(c, (ct_intlist){&d, 1}) : NULL;
        ct_tensor_release(c);
        return r;
    }
    tmps S = {0};
    ct_tensor *s, *c, *a, *r = NULL;
    TRY(s, ct_sum(t, (ct_intlist){&d, 1}, true, -1));
    TRY(c, ct_cumsum(t, dim, -1));
    TRY(a, ct_sub(s, c, ct_scalar_i(1)));
    r = ct_add(a, t, ct_scalar_i(1));
fail:
    tmps_free(&S);
    return r;
}

/* iv[0] dim */
static int cumsum_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (n->in_meta[0].ndim == 0) return put_in(n, gi, 0, g[0]);
    ct_tensor *r = rev_cumsum(g[0], (int)n->iv[0]);
    if (!r) return -1;
    int rc = put_in(n, gi, 0, r);
    ct_tensor_release(r);
    return rc;
}

int ctg_cumsum(ct_tensor *result, ct_tensor *self, int64_t dim, int dtype) {
    (void)dtype;
    RECORD1("CumsumBackward0", cumsum_backward, result, self);
    int d = self->ndim ? ct_wrap_dim(dim, self->ndim, "cumsum") : 0;
    if (d < 0) return -1;
    node->iv[0] = d;
    return 0;
}

/* saved 0 self, 1 result; iv[0] dim */
static int cumprod_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    tmps S = {0};
    int dim = (int)n->iv[0];
    ct_tensor *x, *out, *t, *rc, *r;
    if (n->in_meta[0].ndim == 0) return put_in(n, gi, 0, g[0]);
    TRY(x, ct_node_saved(n, 0));
    TRY(out, ct_node_saved(n, 1));
    TRY(t, ct_mul(g[0], out));
    TRY(rc, rev_cumsum(t, dim));
    if (!has_zero(x)) {
        TRY(r, ct_div(rc, x, NULL));
    } else {
        /* before the first zero of a slice: revcumsum(g*out)/x; at it: revcumsum of g times
         * the cumprod with that zero replaced by 1; after it: 0 */
        ct_tensor *first = NULL, *before = NULL, *nb, *xb, *xs, *q, *t1, *x1, *o1, *w, *rc1, *t2;
        if (zero_marks(x, dim, x->dtype, &first, &before) < 0) goto fail;
        keep(&S, first);
        keep(&S, before);
        TRY(nb, mask_of(M_ZERO, before, NULL, x->dtype));
        TRY(xb, ct_mul(x, before));
        TRY(xs, ct_add(xb, nb, ct_scalar_i(1)));
        TRY(q, ct_div(rc, xs, NULL));
        TRY(t1, ct_mul(q, before));
        TRY(x1, without_first_zero(&S, x, first));
        TRY(o1, ct_cumprod(x1, dim, -1));
        TRY(w, ct_mul(g[0], o1));
        TRY(rc1, rev_cumsum(w, dim));
        TRY(t2, ct_mul(rc1, first));
        TRY(r, ct_add(t1, t2, ct_scalar_i(1)));
    }
    if (put_in(n, gi, 0, r)) goto fail;
    tmps_free(&S);
    return 0;
fail:
    tmps_free(&S);
    return -1;
}

int ctg_cumprod(ct_tensor *result, ct_tensor *self, int64_t dim, int dtype) {
    (void)dtype;
    RECORD1("CumprodBackward0", cumprod_backward, result, self);
    int d = self->ndim ? ct_wrap_dim(dim, self->ndim, "cumprod") : 0;
    if (d < 0) return -1;
    node->iv[0] = d;
    if (ct_node_save(node, 0, self, -1) || ct_node_save(node, 1, result, 0)) return -1;
    return 0;
}

/* First-order logcumsumexp gradient along the last dim of contiguous float64 rows:
 * grad_j = exp(x_j - out_j) * S_j with S_j = sum_{i>=j} g_i exp(out_j - out_i), computed
 * backwards as S_j = g_j + exp(out_j - out_{j+1}) S_{j+1}: every exponent is <= 0 (out is
 * nondecreasing), so nothing overflows whatever the range of x. */
static ct_tensor *lcse_grad_rows(ct_tensor *x, ct_tensor *out, ct_tensor *g, int dim, int odt) {
    ct_tensor *xr = ct_movedim_last_contig(x, dim, CT_FLOAT64);
    ct_tensor *orow = xr ? ct_movedim_last_contig(out, dim, CT_FLOAT64) : NULL;
    ct_tensor *gr = orow ? ct_movedim_last_contig(g, dim, CT_FLOAT64) : NULL;
    ct_tensor *res = gr ? ct_empty(xr->sizes, xr->ndim, CT_FLOAT64) : NULL, *r = NULL;
    if (res) {
        int64_t R = x->sizes[dim], N = R ? xr->numel / R : 0;
        const double *xp = (const double *)ct_tensor_data(xr), *op = (const double *)ct_tensor_data(orow),
                     *gp = (const double *)ct_tensor_data(gr);
        double *rp = (double *)ct_tensor_data(res);
        for (int64_t k = 0; k < N; k++) {
            const double *xs = xp + k * R, *os = op + k * R, *gs = gp + k * R;
            double *rs = rp + k * R, S = 0;
            for (int64_t j = R - 1; j >= 0; j--) {
                /* leading -inf entries give nan (-inf - -inf), as torch's log-space formula does */
                S = j == R - 1 ? gs[j] : gs[j] + exp(os[j] - os[j + 1]) * S;
                rs[j] = exp(xs[j] - os[j]) * S;
            }
        }
        r = ct_movedim_back(res, dim, odt);
    }
    ct_tensor_release(xr);
    ct_tensor_release(orow);
    ct_tensor_release(gr);
    ct_tensor_release(res);
    return r;
}

/* grad_j = sum_{i>=j} g_i exp(x_j - out_i). First order: the stable row kernel above.
 * create_graph: with ops, exp(x_j - M) * revcumsum(g_i exp(M - out_i)), M the last (largest)
 * value of out along the slice held constant (the gradient does not depend on it; exact
 * unless the slice spans more than ~700 in log space). saved 0 self, 1 result; iv[0] dim */
static int logcumsumexp_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    tmps S = {0};
    int dim = (int)n->iv[0];
    const ct_input_meta *m = &n->in_meta[0];
    ct_tensor *x, *out, *last, *M, *a, *ea, *b, *eb, *w, *rc, *r;
    if (m->ndim == 0) return put_in(n, gi, 0, g[0]);
    int64_t R = m->sizes[dim];
    if (R == 0) return put_in(n, gi, 0, g[0]);
    TRY(x, ct_node_saved(n, 0));
    TRY(out, ct_node_saved(n, 1));
    if (!(ct_grad_enabled() && (ct_tensor_requires_grad(g[0]) || ct_tensor_requires_grad(x)))) {
        TRY(r, lcse_grad_rows(x, out, g[0], dim, g[0]->dtype));
        if (put_in(n, gi, 0, r)) goto fail;
        tmps_free(&S);
        return 0;
    }
    TRY(last, ct_narrow(out, dim, R - 1, 1));
    TRY(M, ct_empty(last->sizes, last->ndim, last->dtype));
    if (ct_copy_into(M, last)) goto fail;
    TRY(a, ct_sub(x, M, ct_scalar_i(1)));
    TRY(ea, ct_exp(a));
    TRY(b, ct_sub(M, out, ct_scalar_i(1)));
    TRY(eb, ct_exp(b));
    TRY(w, ct_mul(g[0], eb));
    TRY(rc, rev_cumsum(w, dim));
    TRY(r, ct_mul(ea, rc));
    if (put_in(n, gi, 0, r)) goto fail;
    tmps_free(&S);
    return 0;
fail:
    tmps_free(&S);
    return -1;
}

int ctg_logcumsumexp(ct_tensor *result, ct_tensor *self, int64_t dim) {
    RECORD1("LogcumsumexpBackward0", logcumsumexp_backward, result, self);
    int d = self->ndim ? ct_wrap_dim(dim, self->ndim, "logcumsumexp") : 0;
    if (d < 0) return -1;
    node->iv[0] = d;
    if (ct_node_save(node, 0, self, -1) || ct_node_save(node, 1, result, 0)) return -1;
    return 0;
}

/* ------------------------------------------------------------------ not differentiable */

/* Ops whose floating output torch keeps in the graph with a backward that refuses: unique
 * (values), bincount (weights). iv[0] selects the message. */
static int refuse_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    (void)g;
    (void)gi;
    static const char *ops[] = {"_unique2", "unique_dim", "unique_consecutive"};
    if (n->iv[0] == 3) return ct_errorf(CT_ERR_RUNTIME, "derivative for aten::bincount is not implemented");
    return ct_errorf(CT_ERR_NOT_IMPLEMENTED, "the derivative for '%s' is not implemented.", ops[n->iv[0]]);
}

int ctg_unique_impl(ct_tensor *result0, ct_tensor *result1, ct_tensor *result2, ct_tensor *self, bool sorted,
                    bool return_inverse, bool return_counts, const int64_t *dim, bool consecutive) {
    (void)result1;
    (void)result2;
    (void)sorted;
    (void)return_inverse;
    (void)return_counts;
    if (!wants(self, result0)) return 0;
    int which = consecutive ? 2 : dim ? 1 : 0;
    static const char *names[] = {"Unique2Backward0", "UniqueDimBackward0", "UniqueConsecutiveBackward0"};
    ct_tensor *outs[1] = {result0};
    ct_node *node = record_multi(names[which], refuse_backward, self, 1, outs);
    if (!node) return -1;
    node->iv[0] = which;
    return 0;
}

int ctg_bincount(ct_tensor *result, ct_tensor *self, ct_tensor *weights, int64_t minlength) {
    (void)self;
    (void)minlength;
    if (!weights) return 0;
    RECORD1("NotImplemented", refuse_backward, result, weights);
    node->iv[0] = 3;
    return 0;
}
