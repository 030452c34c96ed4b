/* Backward formulas of the matmul family (matmul/mm/bmm/mv/dot, addmm & co, einsum,
 * tensordot, kron pieces, trace) and of torch.linalg (inv, solve, det, slogdet, cholesky,
 * qr, svd, eigh, lstsq, pinv). All written with ops (matmul, transpose, solve ...), so they
 * are recorded again under create_graph. Matrices are the last two dims; batch dims
 * broadcast and are summed back with ct_sum_to_meta. */
#include <stdlib.h>
#include <string.h>

#include "autograd_internal.h"

/* ------------------------------------------------------------------ helpers */

static int put(ct_node *n, ct_tensor **grad_in, int i, ct_tensor *r) {
    if (!r) return -1;
    ct_tensor *s = ct_sum_to_meta(r, &n->in_meta[i]);
    ct_tensor_release(r);
    if (!s) return -1;
    grad_in[i] = s;
    return 0;
}

#define RECORD(NAME, FN, OUT, ...)                                                                   \
    do {                                                                                             \
        ct_tensor *ins_[] = {__VA_ARGS__};                                                           \
        int nin_ = (int)(sizeof ins_ / sizeof ins_[0]);                                              \
        if (!ct_autograd_should_record(nin_, ins_) || !ct_dtype_is_floating((OUT)->dtype)) return 0; \
        for (int k_ = 0; k_ < nin_; k_++)                                                            \
            if (ins_[k_] == (OUT)) return 0; /* the input itself came back: nothing to record */     \
        node = ct_autograd_record(NAME, FN, OUT, nin_, ins_);                                        \
        if (!node) return -1;                                                                        \
    } while (0)

/* Release helper: R(x) releases and yields NULL. */
static void rel(ct_tensor *t) { ct_tensor_release(t); }

static ct_tensor *mT(ct_tensor *t) { return t ? ct_transpose(t, -2, -1) : NULL; }

/* a op b with both consumed (NULL-safe). */
static ct_tensor *mm_c(ct_tensor *a, ct_tensor *b) {
    ct_tensor *r = a && b ? ct_matmul(a, b) : NULL;
    rel(a);
    rel(b);
    return r;
}
static ct_tensor *mul_c(ct_tensor *a, ct_tensor *b) {
    ct_tensor *r = a && b ? ct_mul(a, b) : NULL;
    rel(a);
    rel(b);
    return r;
}
static ct_tensor *add_c(ct_tensor *a, ct_tensor *b) {
    ct_tensor *r = a && b ? ct_add(a, b, ct_scalar_i(1)) : NULL;
    rel(a);
    rel(b);
    return r;
}
static ct_tensor *sub_c(ct_tensor *a, ct_tensor *b) {
    ct_tensor *r = a && b ? ct_sub(a, b, ct_scalar_i(1)) : NULL;
    rel(a);
    rel(b);
    return r;
}
static ct_tensor *neg_c(ct_tensor *a) {
    ct_tensor *r = a ? ct_neg(a) : NULL;
    rel(a);
    return r;
}
static ct_tensor *mT_c(ct_tensor *a) {
    ct_tensor *r = mT(a);
    rel(a);
    return r;
}
static ct_tensor *unsq_c(ct_tensor *a, int64_t d) {
    ct_tensor *r = a ? ct_unsqueeze(a, d) : NULL;
    rel(a);
    return r;
}
static ct_tensor *ref(ct_tensor *t) {
    if (t) ct_tensor_retain(t);
    return t;
}

static ct_tensor *scalar_like(double v, int dtype) {
    ct_tensor *s = ct_scalar_tensor_f64(v, dtype);
    if (s) s->flags |= CT_FLAG_WRAPPED_NUMBER;
    return s;
}

/* NOTE [ Gradient layout of transposed operands ]
 * A weight used transposed (x @ W.t(), nn.Linear's layout) is a column-major 2-D operand. Its
 * gradient is then computed as the transpose of a row-major product, so that after the
 * transpose view's backward it is contiguous like the weight itself and AccumulateGrad keeps
 * it instead of copying it (torch does the same). Same elements, same summation order. */
static bool colmajor(const ct_tensor *t) {
    return t->ndim == 2 && t->sizes[0] > 1 && t->sizes[1] > 1 && t->strides[0] == 1 && t->strides[1] == t->sizes[0];
}

static bool is_one(ct_scalar s) { return s.kind == CT_SCALAR_FLOAT ? s.v.d == 1.0 : s.v.i == 1; }

/* g * s (g consumed). */
static ct_tensor *scale_c(ct_tensor *g, ct_scalar s) {
    if (!g || is_one(s)) return g;
    ct_tensor *st = s.kind == CT_SCALAR_FLOAT ? ct_scalar_tensor_f64(s.v.d, CT_FLOAT64)
                                              : ct_scalar_tensor_i64(s.v.i, CT_INT64);
    if (!st) {
        rel(g);
        return NULL;
    }
    st->flags |= CT_FLAG_WRAPPED_NUMBER;
    return mul_c(g, st);
}

/* Identity matrices shaped like the last two dims (n x n), dtype dt (a constant). */
static ct_tensor *eye(int64_t n, int64_t m, int dt) {
    int64_t sh[2] = {n, m};
    ct_tensor *z = ct_zeros((ct_intlist){sh, 2}, dt, -1);
    if (!z) return NULL;
    bool prev = ct_set_grad_enabled(false);
    ct_tensor *d = ct_diagonal(z, 0, 0, 1);
    ct_tensor *r = d ? ct_fill_(d, ct_scalar_i(1)) : NULL;
    ct_set_grad_enabled(prev);
    rel(d);
    if (!r) {
        rel(z);
        return NULL;
    }
    rel(r);
    return z;
}

static void free_payload(ct_node *n) {
    free(n->payload);
    n->payload = NULL;
}

/* ------------------------------------------------------------------ matmul family */

/* matmul semantics with 1-D operands promoted (a: prepend, b: append a dim). iv[0]/iv[1]:
 * ndim of the inputs. */
static int matmul_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    int da = n->in_meta[0].ndim, db = n->in_meta[1].ndim;
    ct_tensor *a = ct_node_saved(n, 0), *b = a ? ct_node_saved(n, 1) : NULL;
    if (!b) {
        rel(a);
        return -1;
    }
    ct_tensor *gg = ref(g[0]);
    if (da == 1) gg = unsq_c(gg, db == 1 ? 0 : -2);
    if (db == 1) gg = unsq_c(gg, -1);
    ct_tensor *a2 = da == 1 ? ct_unsqueeze(a, 0) : ref(a);
    ct_tensor *b2 = db == 1 ? ct_unsqueeze(b, 1) : ref(b);
    int rc = gg && a2 && b2 ? 0 : -1;
    for (int i = 0; i < 2 && !rc; i++) {
        if (!ct_node_needs_grad(n, i)) continue;
        ct_tensor *r;
        if (n->iv[2 + i]) /* NOTE [ Gradient layout of transposed operands ] */
            r = i == 0 ? mT_c(mm_c(ref(b2), mT(gg))) : mT_c(mm_c(mT(gg), ref(a2)));
        else
            r = i == 0 ? mm_c(ref(gg), mT(b2)) : mm_c(mT(a2), ref(gg));
        if (!r) {
            rc = -1;
            break;
        }
        /* reduce broadcast batch dims to the promoted operand shape, then drop the promotion */
        ct_tensor *p = i == 0 ? a2 : b2;
        ct_input_meta m = {0};
        m.ndim = (int8_t)p->ndim;
        m.dtype = n->in_meta[i].dtype;
        memcpy(m.sizes, p->sizes, sizeof(int64_t) * (size_t)p->ndim);
        ct_tensor *s = ct_sum_to_meta(r, &m);
        rel(r);
        ct_tensor *o = s ? ct_reshape(s, (ct_intlist){n->in_meta[i].sizes, n->in_meta[i].ndim}) : NULL;
        rel(s);
        rc = put(n, gi, i, o);
    }
    rel(gg);
    rel(a2);
    rel(b2);
    rel(a);
    rel(b);
    return rc;
}

static const char *matmul_name(const ct_tensor *a, const ct_tensor *b) {
    if (a->ndim == 2 && b->ndim == 2) return "MmBackward0";
    if (a->ndim == 2 && b->ndim == 1) return "MvBackward0";
    if (a->ndim == 1 && b->ndim == 1) return "DotBackward0";
    if (a->ndim == 1 && b->ndim == 2) return "SqueezeBackward4";
    if (a->ndim == 2 && b->ndim >= 3) return "CloneBackward0";
    return "UnsafeViewBackward0";
}

static int matmul_rec(ct_tensor *result, ct_tensor *a, ct_tensor *b, const char *name) {
    ct_node *node;
    RECORD(name, matmul_backward, result, a, b);
    if (a->ndim == 2 && b->ndim == 2) {
        node->iv[2] = colmajor(a);
        node->iv[3] = colmajor(b);
    }
    if (ct_node_save(node, 0, a, -1)) return -1;
    return ct_node_save(node, 1, b, -1);
}

int ctg_matmul(ct_tensor *result, ct_tensor *self, ct_tensor *other) {
    return matmul_rec(result, self, other, matmul_name(self, other));
}
int ctg_linalg_matmul(ct_tensor *result, ct_tensor *self, ct_tensor *other) {
    return matmul_rec(result, self, other, matmul_name(self, other));
}
int ctg_mm(ct_tensor *result, ct_tensor *self, ct_tensor *mat2) { return matmul_rec(result, self, mat2, "MmBackward0"); }
int ctg_bmm(ct_tensor *result, ct_tensor *self, ct_tensor *mat2) {
    return matmul_rec(result, self, mat2, "BmmBackward0");
}
int ctg_mv(ct_tensor *result, ct_tensor *self, ct_tensor *vec) { return matmul_rec(result, self, vec, "MvBackward0"); }
int ctg_dot(ct_tensor *result, ct_tensor *self, ct_tensor *tensor) {
    return matmul_rec(result, self, tensor, "DotBackward0");
}
int ctg_vdot(ct_tensor *result, ct_tensor *self, ct_tensor *other) {
    return matmul_rec(result, self, other, "VdotBackward0");
}

/* addmm & co: out = beta * self + alpha * (m1 @ m2); sc[0] = beta, sc[1] = alpha; iv[0]: 1
 * for addmv (m2 is a vector). addbmm's m1 @ m2 product is summed over the batch, which the
 * broadcasting matmul in the backward reproduces (g broadcasts against the batches). */
static int addmm_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (ct_node_needs_grad(n, 0)) {
        ct_scalar beta = n->sc[0];
        bool zero = beta.kind == CT_SCALAR_FLOAT ? beta.v.d == 0 : beta.v.i == 0;
        ct_tensor *r = zero ? ct_zeros((ct_intlist){g[0]->sizes, g[0]->ndim}, g[0]->dtype, -1) : scale_c(ref(g[0]), beta);
        if (put(n, gi, 0, r)) return -1;
    }
    bool vec = n->iv[0];
    if (ct_node_needs_grad(n, 1)) {
        ct_tensor *m2 = ct_node_saved(n, 1);
        if (!m2) return -1;
        /* NOTE [ Gradient layout of transposed operands ] */
        ct_tensor *r = vec        ? scale_c(mul_c(ct_unsqueeze(g[0], -1), ct_unsqueeze(m2, 0)), n->sc[1])
                       : n->iv[1] ? mT_c(scale_c(mm_c(ref(m2), mT(g[0])), n->sc[1]))
                                  : scale_c(mm_c(ref(g[0]), mT(m2)), n->sc[1]);
        rel(m2);
        if (put(n, gi, 1, r)) return -1;
    }
    if (ct_node_needs_grad(n, 2)) {
        ct_tensor *m1 = ct_node_saved(n, 0);
        if (!m1) return -1;
        ct_tensor *r = n->iv[2] ? mT_c(scale_c(mm_c(mT(g[0]), ref(m1)), n->sc[1]))
                                : scale_c(mm_c(mT(m1), ref(g[0])), n->sc[1]);
        rel(m1);
        if (put(n, gi, 2, r)) return -1;
    }
    return 0;
}

static int addmm_rec(ct_tensor *result, ct_tensor *self, ct_tensor *m1, ct_tensor *m2, ct_scalar beta, ct_scalar alpha,
                     const char *name, bool vec) {
    ct_node *node;
    RECORD(name, addmm_backward, result, self, m1, m2);
    node->sc[0] = beta;
    node->sc[1] = alpha;
    node->iv[0] = vec;
    if (!vec && m1->ndim == 2 && m2->ndim == 2) {
        node->iv[1] = colmajor(m1);
        node->iv[2] = colmajor(m2);
    }
    if (ct_node_needs_grad(node, 2) && ct_node_save(node, 0, m1, -1)) return -1;
    if (ct_node_needs_grad(node, 1) && ct_node_save(node, 1, m2, -1)) return -1;
    return 0;
}

int ctg_addmm(ct_tensor *result, ct_tensor *self, ct_tensor *mat1, ct_tensor *mat2, ct_scalar beta, ct_scalar alpha) {
    return addmm_rec(result, self, mat1, mat2, beta, alpha, "AddmmBackward0", false);
}
int ctg_addmv(ct_tensor *result, ct_tensor *self, ct_tensor *mat, ct_tensor *vec, ct_scalar beta, ct_scalar alpha) {
    return addmm_rec(result, self, mat, vec, beta, alpha, "AddmvBackward0", true);
}
int ctg_addbmm(ct_tensor *result, ct_tensor *self, ct_tensor *batch1, ct_tensor *batch2, ct_scalar beta,
               ct_scalar alpha) {
    return addmm_rec(result, self, batch1, batch2, beta, alpha, "AddbmmBackward0", false);
}
int ctg_baddbmm(ct_tensor *result, ct_tensor *self, ct_tensor *batch1, ct_tensor *batch2, ct_scalar beta,
                ct_scalar alpha) {
    return addmm_rec(result, self, batch1, batch2, beta, alpha, "BaddbmmBackward0", false);
}

/* ------------------------------------------------------------------ labelled contractions */

/* einsum / tensordot: payload = nops, then per operand ndim + labels, then nout + out labels.
 * The gradient of operand i is an einsum of the output gradient with the other operands,
 * re-expanded over labels only operand i has and re-embedded on repeated labels. */
typedef struct {
    int nops;
    int nd[64];
    int labs[64][CT_MAX_DIM];
    int nout;
    int outl[CT_MAX_DIM + 52];
} lab_info;

int ct_einsum_labels(const char *equation, ct_tensorlist tensors, int (*labs)[CT_MAX_DIM], int *outl, int *nout);

static int label_char(const int *map, int l) { return map[l]; }

static int contract_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    const lab_info *L = n->payload;
    /* letters for every label used */
    int map[52 + CT_MAX_DIM + 64];
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) map[i] = -1;
    int next = 0;
    const char *letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
#define MAPL(l)                                                                                              \
    do {                                                                                                     \
        if (map[l] < 0) {                                                                                    \
            if (next >= 52) return ct_errorf(CT_ERR_RUNTIME, "[einsum] backward: too many distinct subscripts"); \
            map[l] = letters[next++];                                                                        \
        }                                                                                                    \
    } while (0)
    for (int i = 0; i < L->nops; i++)
        for (int j = 0; j < L->nd[i]; j++) MAPL(L->labs[i][j]);
    for (int j = 0; j < L->nout; j++) MAPL(L->outl[j]);
#undef MAPL
    ct_tensor **ops = malloc(sizeof(ct_tensor *) * (size_t)L->nops);
    if (!ops) return ct_errorf(CT_ERR_MEMORY, "[autograd] out of memory");
    int rc = 0;
    for (int i = 0; i < L->nops; i++) ops[i] = NULL;
    for (int i = 0; i < L->nops && !rc; i++) {
        ops[i] = ct_node_saved(n, i < CT_NODE_MAX_SAVED ? i : 0);
        if (!ops[i]) rc = -1;
    }
    for (int i = 0; i < L->nops && !rc; i++) {
        if (!ct_node_needs_grad(n, i)) continue;
        /* labels of operand i present elsewhere (output or other operands) */
        bool elsewhere[52 + CT_MAX_DIM + 64] = {0};
        for (int j = 0; j < L->nout; j++) elsewhere[L->outl[j]] = true;
        for (int k = 0; k < L->nops; k++)
            if (k != i)
                for (int j = 0; j < L->nd[k]; j++) elsewhere[L->labs[k][j]] = true;
        int uniq[CT_MAX_DIM], nu = 0, cnt[52 + CT_MAX_DIM + 64] = {0};
        for (int j = 0; j < L->nd[i]; j++) {
            int l = L->labs[i][j];
            if (!cnt[l]++) uniq[nu++] = l;
        }
        char eq[1024];
        size_t p = 0;
        for (int j = 0; j < L->nout; j++) eq[p++] = (char)label_char(map, L->outl[j]);
        ct_tensor **args = malloc(sizeof(ct_tensor *) * (size_t)L->nops);
        if (!args) {
            rc = ct_errorf(CT_ERR_MEMORY, "[autograd] out of memory");
            break;
        }
        int na = 0;
        args[na++] = g[0];
        for (int k = 0; k < L->nops; k++) {
            if (k == i) continue;
            eq[p++] = ',';
            for (int j = 0; j < L->nd[k]; j++) eq[p++] = (char)label_char(map, L->labs[k][j]);
            args[na++] = ops[k];
        }
        eq[p++] = '-';
        eq[p++] = '>';
        int have[CT_MAX_DIM], nh = 0;
        for (int j = 0; j < nu; j++)
            if (elsewhere[uniq[j]]) {
                eq[p++] = (char)label_char(map, uniq[j]);
                have[nh++] = uniq[j];
            }
        eq[p] = 0;
        ct_tensor *r = ct_einsum(eq, (ct_tensorlist){args, na});
        free(args);
        if (!r) {
            rc = -1;
            break;
        }
        /* r has dims `have`; build dims `uniq` (missing ones broadcast) */
        int64_t sizes[CT_MAX_DIM];
        for (int j = 0; j < nu; j++) {
            for (int q = 0; q < L->nd[i]; q++)
                if (L->labs[i][q] == uniq[j]) {
                    sizes[j] = n->in_meta[i].sizes[q];
                    break;
                }
        }
        if (nh != nu) {
            int64_t sh[CT_MAX_DIM];
            for (int j = 0, h = 0; j < nu; j++) sh[j] = (h < nh && have[h] == uniq[j]) ? r->sizes[h++] : 1;
            ct_tensor *v = ct_reshape(r, (ct_intlist){sh, nu});
            rel(r);
            r = v ? ct_expand(v, (ct_intlist){sizes, nu}, false) : NULL;
            rel(v);
            if (!r) {
                rc = -1;
                break;
            }
        }
        /* repeated labels: each further occurrence puts the values on a diagonal (diag_embed of
         * one occurrence moved last gives two equal dims) */
        int cur[CT_MAX_DIM + 8], nc = nu;
        for (int j = 0; j < nu; j++) cur[j] = uniq[j];
        for (int j = 0; j < nu && !rc; j++) {
            int l = uniq[j];
            for (int rep = 1; rep < cnt[l] && !rc; rep++) {
                int pos = -1;
                for (int q = 0; q < nc; q++)
                    if (cur[q] == l) pos = q;
                ct_tensor *mv = ct_movedim_int(r, pos, -1);
                rel(r);
                r = mv ? ct_diag_embed(mv, 0, -2, -1) : NULL;
                rel(mv);
                if (!r) rc = -1;
                for (int q = pos; q < nc - 1; q++) cur[q] = cur[q + 1];
                cur[nc - 1] = l;
                cur[nc] = l;
                nc++;
            }
        }
        if (rc) {
            rel(r);
            break;
        }
        /* permute cur -> operand order */
        int64_t perm[CT_MAX_DIM];
        bool used[CT_MAX_DIM + 8] = {0};
        for (int q = 0; q < L->nd[i]; q++) {
            int l = L->labs[i][q];
            for (int c = 0; c < nc; c++)
                if (!used[c] && cur[c] == l) {
                    used[c] = true;
                    perm[q] = c;
                    break;
                }
        }
        ct_tensor *o = L->nd[i] ? ct_permute(r, (ct_intlist){perm, L->nd[i]}) : ref(r);
        rel(r);
        if (put(n, gi, i, o)) rc = -1;
    }
    for (int i = 0; i < L->nops; i++) rel(ops[i]);
    free(ops);
    return rc;
}

static int contract_rec(ct_tensor *result, int nops, ct_tensor *const *ts, const lab_info *L) {
    if (!ct_autograd_should_record(nops, ts) || !ct_dtype_is_floating(result->dtype)) return 0;
    for (int i = 0; i < nops; i++)
        if (ts[i] == result) return 0;
    if (nops > CT_NODE_MAX_SAVED)
        return ct_errorf(CT_ERR_NOT_IMPLEMENTED, "[einsum] autograd supports at most %d operands", CT_NODE_MAX_SAVED);
    ct_node *node = ct_autograd_record("ViewBackward0", contract_backward, result, nops, ts);
    if (!node) return -1;
    lab_info *p = malloc(sizeof *p);
    if (!p) return ct_errorf(CT_ERR_MEMORY, "[autograd] out of memory");
    *p = *L;
    node->payload = p;
    node->destroy = free_payload;
    for (int i = 0; i < nops; i++)
        if (ct_node_save(node, i, ts[i], -1)) return -1;
    return 0;
}

int ctg_einsum(ct_tensor *result, const char *equation, ct_tensorlist tensors) {
    if (!ct_autograd_should_record((int)tensors.n, tensors.data)) return 0;
    if (tensors.n > 64) return ct_errorf(CT_ERR_RUNTIME, "[einsum] too many operands");
    lab_info *L = calloc(1, sizeof *L);
    if (!L) return ct_errorf(CT_ERR_MEMORY, "[autograd] out of memory");
    L->nops = (int)tensors.n;
    int rc = ct_einsum_labels(equation, tensors, L->labs, L->outl, &L->nout);
    for (int i = 0; i < L->nops; i++) L->nd[i] = tensors.data[i]->ndim;
    if (!rc) rc = contract_rec(result, L->nops, tensors.data, L);
    free(L);
    return rc;
}

int ctg_tensordot(ct_tensor *result, ct_tensor *self, ct_tensor *other, ct_intlist dims_self, ct_intlist dims_other) {
    ct_tensor *ts[2] = {self, other};
    if (!ct_autograd_should_record(2, ts)) return 0;
    lab_info *L = calloc(1, sizeof *L);
    if (!L) return ct_errorf(CT_ERR_MEMORY, "[autograd] out of memory");
    L->nops = 2;
    L->nd[0] = self->ndim;
    L->nd[1] = other->ndim;
    bool ca[CT_MAX_DIM] = {0};
    for (int i = 0; i < self->ndim; i++) L->labs[0][i] = i;
    for (int i = 0; i < other->ndim; i++) L->labs[1][i] = -1;
    for (int64_t i = 0; i < dims_self.n; i++) {
        int da = (int)(dims_self.data[i] < 0 ? dims_self.data[i] + self->ndim : dims_self.data[i]);
        int db = (int)(dims_other.data[i] < 0 ? dims_other.data[i] + other->ndim : dims_other.data[i]);
        ca[da] = true;
        L->labs[1][db] = da;
    }
    int next = self->ndim;
    for (int i = 0; i < self->ndim; i++)
        if (!ca[i]) L->outl[L->nout++] = i;
    for (int i = 0; i < other->ndim; i++)
        if (L->labs[1][i] < 0) {
            L->labs[1][i] = next++;
            L->outl[L->nout++] = L->labs[1][i];
        }
    int rc = contract_rec(result, 2, ts, L);
    free(L);
    return rc;
}

/* ------------------------------------------------------------------ trace */

static int trace_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *e = eye(n->in_meta[0].sizes[0], n->in_meta[0].sizes[1], g[0]->dtype);
    return put(n, gi, 0, mul_c(ref(g[0]), e));
}

int ctg_trace(ct_tensor *result, ct_tensor *self) {
    ct_node *node;
    RECORD("TraceBackward0", trace_backward, result, self);
    (void)node;
    return 0;
}

/* ------------------------------------------------------------------ inv / solve / det */

/* gA = -X^T g X^T with X = inv(A) (saved output). */
static int inv_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *x = ct_node_saved(n, 0);
    if (!x) return -1;
    ct_tensor *r = neg_c(mm_c(mm_c(mT(x), ref(g[0])), mT(x)));
    rel(x);
    return put(n, gi, 0, r);
}

static int inv_rec(ct_tensor *result, ct_tensor *A) {
    ct_node *node;
    RECORD("LinalgInvExBackward0", inv_backward, result, A);
    return ct_node_save(node, 0, result, 0);
}
int ctg_linalg_inv(ct_tensor *result, ct_tensor *A) { return inv_rec(result, A); }
int ctg_inverse(ct_tensor *result, ct_tensor *self) { return inv_rec(result, self); }

/* left: X = A^-1 B, gB = A^-T g, gA = -gB X^T; right: X = B A^-1, gB = g A^-T, gA = -X^T gB.
 * iv[0]: left; iv[1]: B is a (batch of) vector(s). */
static int solve_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    bool left = n->iv[0], vec = n->iv[1];
    ct_tensor *A = ct_node_saved(n, 0);
    if (!A) return -1;
    ct_tensor *At = mT(A);
    rel(A);
    ct_tensor *gB = At ? ct_linalg_solve(At, g[0], left) : NULL;
    rel(At);
    if (!gB) return -1;
    int rc = 0;
    if (ct_node_needs_grad(n, 0)) {
        ct_tensor *X = ct_node_saved(n, 1);
        ct_tensor *r;
        if (!X)
            r = NULL;
        else if (vec)
            r = neg_c(mul_c(ct_unsqueeze(gB, -1), ct_unsqueeze(X, -2)));
        else if (left)
            r = neg_c(mm_c(ref(gB), mT(X)));
        else
            r = neg_c(mm_c(mT(X), ref(gB)));
        rel(X);
        rc = put(n, gi, 0, r);
    }
    if (!rc && ct_node_needs_grad(n, 1)) rc = put(n, gi, 1, ref(gB));
    rel(gB);
    return rc;
}

int ctg_linalg_solve(ct_tensor *result, ct_tensor *A, ct_tensor *B, bool left) {
    ct_node *node;
    RECORD("LinalgSolveExBackward0", solve_backward, result, A, B);
    node->iv[0] = left;
    bool vec = B->ndim == 1 || (B->ndim == A->ndim - 1 && left);
    if (vec && B->ndim > 1)
        for (int i = 0; i < B->ndim; i++) vec &= B->sizes[i] == A->sizes[i];
    node->iv[1] = vec;
    if (ct_node_save(node, 0, A, -1)) return -1;
    return ct_node_save(node, 1, result, 0);
}

/* d det / dA = det * A^-T; slogdet: d logabsdet / dA = A^-T. */
static int det_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *A = ct_node_saved(n, 0);
    if (!A) return -1;
    ct_tensor *ai = ct_linalg_inv(A);
    /* exactly singular: det is 0 there, so any finite A^-T stand-in gives torch's zeros */
    if (!ai && !n->iv[0]) ai = ct_linalg_pinv(A, NULL, NULL, false);
    rel(A);
    if (!ai) return -1;
    ct_tensor *w;
    if (n->iv[0]) { /* slogdet: gradient arrives on output 1 */
        w = g[1] ? ref(g[1]) : NULL;
        if (!w) {
            rel(ai);
            int dt = g[0] ? g[0]->dtype : n->in_meta[0].dtype;
            return put(n, gi, 0, ct_zeros((ct_intlist){n->in_meta[0].sizes, n->in_meta[0].ndim}, dt, -1));
        }
    } else {
        ct_tensor *d = ct_node_saved(n, 1);
        w = mul_c(ref(g[0]), d);
    }
    ct_tensor *r = mul_c(unsq_c(unsq_c(w, -1), -1), mT_c(ai));
    return put(n, gi, 0, r);
}

static int det_rec(ct_tensor *result, ct_tensor *A) {
    ct_node *node;
    RECORD("LinalgDetBackward0", det_backward, result, A);
    node->iv[0] = 0;
    if (ct_node_save(node, 0, A, -1)) return -1;
    return ct_node_save(node, 1, result, 0);
}
int ctg_linalg_det(ct_tensor *result, ct_tensor *A) { return det_rec(result, A); }
int ctg_det(ct_tensor *result, ct_tensor *self) { return det_rec(result, self); }

static int slogdet_rec(ct_tensor *sign, ct_tensor *logabs, ct_tensor *A) {
    if (!ct_autograd_should_record(1, &A) || !ct_dtype_is_floating(logabs->dtype)) return 0;
    ct_node *node = ct_node_new("LinalgSlogdetBackward0", det_backward, 1, &A, 2);
    if (!node) return -1;
    node->iv[0] = 1;
    int rc = ct_node_save(node, 0, A, -1);
    if (!rc) rc = ct_node_set_output(node, sign, 0);
    if (!rc) rc = ct_node_set_output(node, logabs, 1);
    ct_node_release(node);
    return rc;
}
int ctg_linalg_slogdet(ct_tensor *result0, ct_tensor *result1, ct_tensor *A) {
    return slogdet_rec(result0, result1, A);
}
int ctg_slogdet(ct_tensor *result0, ct_tensor *result1, ct_tensor *self) { return slogdet_rec(result0, result1, self); }

/* ------------------------------------------------------------------ cholesky */

/* Phi(X): lower triangle with the diagonal halved. */
static ct_tensor *phi_c(ct_tensor *x) {
    if (!x) return NULL;
    ct_tensor *lo = ct_tril(x, 0);
    ct_tensor *d = ct_diagonal(x, 0, -2, -1);
    rel(x);
    ct_tensor *h = scale_c(d ? ct_diag_embed(d, 0, -2, -1) : NULL, ct_scalar_f(0.5));
    rel(d);
    return sub_c(lo, h);
}

/* gA = sym(L^-T Phi(L^T gL) L^-1) with sym(X) = (X + X^T) / 2. */
static int cholesky_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *L = ct_node_saved(n, 0);
    if (!L) return -1;
    bool upper = n->iv[0];
    if (upper) L = mT_c(L);
    ct_tensor *gL = upper ? mT(g[0]) : ref(g[0]);
    ct_tensor *P = phi_c(mm_c(mT(L), gL));
    ct_tensor *Li = L ? ct_linalg_inv(L) : NULL;
    rel(L);
    ct_tensor *S = mm_c(mm_c(mT(Li), P), ref(Li));
    rel(Li);
    ct_tensor *r = scale_c(add_c(ref(S), mT(S)), ct_scalar_f(0.5));
    rel(S);
    return put(n, gi, 0, r);
}

int ctg_linalg_cholesky(ct_tensor *result, ct_tensor *A, bool upper) {
    ct_node *node;
    RECORD("LinalgCholeskyExBackward0", cholesky_backward, result, A);
    node->iv[0] = upper;
    return ct_node_save(node, 0, result, 0);
}

/* ------------------------------------------------------------------ qr */

/* diag(M) as a matrix */
static ct_tensor *diagm(ct_tensor *M) {
    ct_tensor *d = ct_diagonal(M, 0, -2, -1);
    ct_tensor *r = d ? ct_diag_embed(d, 0, -2, -1) : NULL;
    rel(d);
    return r;
}

/* diag(v) as a matrix (v: (..., k)) */
static ct_tensor *diagm_vec(ct_tensor *v) { return ct_diag_embed(v, 0, -2, -1); }

static ct_tensor *ct_div_c(ct_tensor *a, ct_tensor *b) {
    ct_tensor *r = a && b ? ct_div(a, b, NULL) : NULL;
    rel(a);
    rel(b);
    return r;
}

/* copyltu(M) = tril(M, -1) + tril(M, -1)^T + diag(M) */
static ct_tensor *copyltu_c(ct_tensor *M) {
    if (!M) return NULL;
    ct_tensor *lo = ct_tril(M, -1);
    ct_tensor *r = add_c(add_c(ref(lo), mT(lo)), diagm(M));
    rel(lo);
    rel(M);
    return r;
}

static ct_tensor *zeros_as(const ct_tensor *t) { return ct_zeros((ct_intlist){t->sizes, t->ndim}, t->dtype, -1); }

/* Square/tall case (m >= n, reduced): M = R gR^T - gQ^T Q, gA = (gQ + Q copyltu(M)) R^-T. */
static ct_tensor *qr_tall(ct_tensor *gQ, ct_tensor *gR, ct_tensor *Q, ct_tensor *R) {
    ct_tensor *M = sub_c(mm_c(ref(R), mT(gR)), mm_c(mT(gQ), ref(Q)));
    ct_tensor *b = add_c(ref(gQ), mm_c(ref(Q), copyltu_c(M)));
    ct_tensor *Rt = mT(R);
    ct_tensor *r = b && Rt ? ct_linalg_solve(Rt, b, false) : NULL;
    rel(b);
    rel(Rt);
    return r;
}

static int qr_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *Q = ct_node_saved(n, 0), *R = Q ? ct_node_saved(n, 1) : NULL;
    if (!R) {
        rel(Q);
        return -1;
    }
    ct_tensor *gQ = g[0] ? ref(g[0]) : zeros_as(Q);
    ct_tensor *gR = g[1] ? ref(g[1]) : zeros_as(R);
    int64_t m = Q->sizes[Q->ndim - 2], k = R->sizes[R->ndim - 2], nn = R->sizes[R->ndim - 1];
    ct_tensor *r = NULL;
    if (gQ && gR) {
        if (m >= nn) {
            r = qr_tall(gQ, gR, Q, R);
        } else {
            /* wide: A = [X | Y], R = [U | V]: gY = Q gV, gX = qr_tall(gQ + Y gV^T, gU, Q, U) */
            ct_tensor *A = ct_node_saved(n, 2);
            ct_tensor *Y = A ? ct_narrow(A, -1, m, nn - m) : NULL;
            ct_tensor *U = ct_narrow(R, -1, 0, k), *gU = ct_narrow(gR, -1, 0, k);
            ct_tensor *gV = ct_narrow(gR, -1, k, nn - k);
            ct_tensor *gY = mm_c(ref(Q), ref(gV));
            ct_tensor *gQ2 = add_c(ref(gQ), mm_c(ref(Y), mT(gV)));
            ct_tensor *gX = gQ2 && gU && U ? qr_tall(gQ2, gU, Q, U) : NULL;
            if (gX && gY) {
                ct_tensor *parts[2] = {gX, gY};
                r = ct_cat((ct_tensorlist){parts, 2}, -1);
            }
            rel(A), rel(Y), rel(U), rel(gU), rel(gV), rel(gY), rel(gQ2), rel(gX);
        }
    }
    rel(gQ), rel(gR), rel(Q), rel(R);
    return put(n, gi, 0, r);
}

/* torch records these modes but refuses the backward */
static int qr_refuse(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    (void)g;
    (void)gi;
    if (n->iv[0])
        return ct_errorf(CT_ERR_RUNTIME, "The derivative of linalg.qr depends on Q, which is not computed when mode='r'. "
                         "Please use linalg.qr(A, mode='reduced') if you are going to differentiate through linalg.qr.");
    return ct_errorf(CT_ERR_RUNTIME, "The QR decomposition is not differentiable when mode='complete' and nrows > ncols.");
}

int ctg_linalg_qr(ct_tensor *result0, ct_tensor *result1, ct_tensor *A, const char *mode) {
    if (!ct_autograd_should_record(1, &A) || !ct_dtype_is_floating(A->dtype)) return 0;
    int64_t m = A->sizes[A->ndim - 2], nn = A->sizes[A->ndim - 1];
    bool r_only = mode && !strcmp(mode, "r");
    bool complete_tall = mode && !strcmp(mode, "complete") && m > nn;
    ct_node *node = ct_node_new("LinalgQrBackward0", r_only || complete_tall ? qr_refuse : qr_backward, 1, &A, 2);
    if (!node) return -1;
    node->iv[0] = r_only;
    int rc = 0;
    if (!r_only && !complete_tall) {
        rc = ct_node_save(node, 0, result0, 0);
        if (!rc) rc = ct_node_save(node, 1, result1, 1);
        if (!rc && m < nn) rc = ct_node_save(node, 2, A, -1);
    }
    if (!rc) rc = ct_node_set_output(node, result0, 0);
    if (!rc) rc = ct_node_set_output(node, result1, 1);
    ct_node_release(node);
    return rc;
}

/* ------------------------------------------------------------------ svd */

/* F_ij = 1 / (s_j - s_i) (squared: of the squares) off the diagonal, 0 on it; s: (..., k). */
static ct_tensor *inv_gaps(ct_tensor *s, bool squared) {
    ct_tensor *s2 = squared ? ct_mul(s, s) : ref(s);
    if (!s2) return NULL;
    ct_tensor *D = sub_c(ct_unsqueeze(s2, -2), ct_unsqueeze(s2, -1));
    rel(s2);
    int64_t k = s->sizes[s->ndim - 1];
    ct_tensor *I = eye(k, k, s->dtype);
    ct_tensor *one = scalar_like(1.0, s->dtype);
    ct_tensor *num = I && one ? ct_sub(one, I, ct_scalar_i(1)) : NULL;
    rel(one);
    ct_tensor *den = add_c(D, I);
    ct_tensor *r = num && den ? ct_div(num, den, NULL) : NULL;
    rel(num);
    rel(den);
    return r;
}

/* Townsend's formula (real):
 * gA = U [ (F o (U^T gU - gU^T U)) S + diag(gS) + S (F o (V^T gV - gV^T V)) ] V^T
 *      + (I - U U^T) gU S^-1 V^T + U S^-1 gV^T (I - V V^T),  F_ij = 1/(s_j^2 - s_i^2). */
static ct_tensor *svd_grad(ct_tensor *gU, ct_tensor *gS, ct_tensor *gVh, ct_tensor *U, ct_tensor *S, ct_tensor *Vh) {
    if (!gU && !gVh) {
        if (!gS) return NULL;
        return mm_c(mul_c(ref(U), ct_unsqueeze(gS, -2)), ref(Vh));
    }
    int64_t m = U->sizes[U->ndim - 2], n = Vh->sizes[Vh->ndim - 1], k = S->sizes[S->ndim - 1];
    ct_tensor *F = inv_gaps(S, true);
    ct_tensor *Srow = ct_unsqueeze(S, -2), *Scol = ct_unsqueeze(S, -1);
    ct_tensor *inner = gS ? diagm_vec(gS) : NULL;
    ct_tensor *acc = NULL;
    if (gU) {
        ct_tensor *J = mm_c(mT(U), ref(gU));
        ct_tensor *sk = sub_c(ref(J), mT(J));
        rel(J);
        ct_tensor *t = mul_c(mul_c(ref(F), sk), ref(Srow));
        acc = t;
    }
    if (gVh) {
        ct_tensor *K = mm_c(ref(Vh), mT(gVh)); /* V^T gV */
        ct_tensor *sk = sub_c(ref(K), mT(K));
        rel(K);
        ct_tensor *t = mul_c(ref(Scol), mul_c(ref(F), sk));
        acc = acc ? add_c(acc, t) : t;
    }
    if (inner) acc = acc ? add_c(acc, inner) : inner;
    ct_tensor *r = mm_c(mm_c(ref(U), acc), ref(Vh));
    if (gU && m > k) {
        /* (gU - U (U^T gU)) S^-1 V^T */
        ct_tensor *proj = sub_c(ref(gU), mm_c(ref(U), mm_c(mT(U), ref(gU))));
        ct_tensor *t = mm_c(ct_div_c(proj, ref(Srow)), ref(Vh));
        r = add_c(r, t);
    }
    if (gVh && n > k) {
        /* U S^-1 (gVh - (gVh V) Vh) */
        ct_tensor *proj = sub_c(ref(gVh), mm_c(mm_c(ref(gVh), mT(Vh)), ref(Vh)));
        ct_tensor *t = mm_c(ref(U), ct_div_c(proj, ref(Scol)));
        r = add_c(r, t);
    }
    rel(F);
    rel(Srow);
    rel(Scol);
    return r;
}

static int svd_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *U = ct_node_saved(n, 0), *S = U ? ct_node_saved(n, 1) : NULL, *Vh = S ? ct_node_saved(n, 2) : NULL;
    if (!Vh) {
        rel(U), rel(S);
        return -1;
    }
    ct_tensor *gU = g[0] ? ref(g[0]) : NULL, *gS = g[1] ? ref(g[1]) : NULL, *gVh = g[2] ? ref(g[2]) : NULL;
    int64_t k = S->sizes[S->ndim - 1];
    if (n->iv[0]) { /* full_matrices: only the first k singular vectors are determined */
        ct_tensor *t;
        t = ct_narrow(U, -1, 0, k), rel(U), U = t;
        t = ct_narrow(Vh, -2, 0, k), rel(Vh), Vh = t;
        if (gU) t = ct_narrow(gU, -1, 0, k), rel(gU), gU = t;
        if (gVh) t = ct_narrow(gVh, -2, 0, k), rel(gVh), gVh = t;
    }
    ct_tensor *r;
    if (!gU && !gS && !gVh)
        r = ct_zeros((ct_intlist){n->in_meta[0].sizes, n->in_meta[0].ndim}, S->dtype, -1);
    else
        r = U && Vh ? svd_grad(gU, gS, gVh, U, S, Vh) : NULL;
    rel(U), rel(S), rel(Vh), rel(gU), rel(gS), rel(gVh);
    return put(n, gi, 0, r);
}

int ctg_linalg_svd(ct_tensor *result0, ct_tensor *result1, ct_tensor *result2, ct_tensor *A, bool full_matrices,
                   const char *driver) {
    (void)driver;
    if (!ct_autograd_should_record(1, &A) || !ct_dtype_is_floating(A->dtype)) return 0;
    ct_node *node = ct_node_new("LinalgSvdBackward0", svd_backward, 1, &A, 3);
    if (!node) return -1;
    node->iv[0] = full_matrices;
    ct_tensor *outs[3] = {result0, result1, result2};
    int rc = 0;
    for (int i = 0; i < 3 && !rc; i++) rc = ct_node_save(node, i, outs[i], i);
    for (int i = 0; i < 3 && !rc; i++) rc = ct_node_set_output(node, outs[i], i);
    ct_node_release(node);
    return rc;
}

/* svdvals: gA = U diag(gS) Vh with U, Vh computed here (constants of the graph). */
static int svdvals_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *U = ct_node_saved(n, 0), *Vh = U ? ct_node_saved(n, 1) : NULL;
    ct_tensor *r = Vh ? mm_c(mul_c(ref(U), ct_unsqueeze(g[0], -2)), ref(Vh)) : NULL;
    rel(U), rel(Vh);
    return put(n, gi, 0, r);
}

int ctg_linalg_svdvals(ct_tensor *result, ct_tensor *A, const char *driver) {
    (void)driver;
    ct_node *node;
    RECORD("LinalgSvdBackward0", svdvals_backward, result, A);
    ct_tensor *U = NULL, *S = NULL, *Vh = NULL;
    if (ct_linalg_svd(A, false, NULL, &U, &S, &Vh)) return -1; /* recorded: second derivatives flow */
    int rc = ct_node_save(node, 0, U, -1);
    if (!rc) rc = ct_node_save(node, 1, Vh, -1);
    rel(U), rel(S), rel(Vh);
    return rc;
}

/* ------------------------------------------------------------------ eigh */

/* gA = V (diag(gL) + F o (V^T gV - gV^T V) / 2) V^T, F_ij = 1/(l_j - l_i). */
static ct_tensor *eigh_grad(ct_tensor *gL, ct_tensor *gV, ct_tensor *L, ct_tensor *V) {
    ct_tensor *inner = gL ? diagm_vec(gL) : NULL;
    if (gV) {
        ct_tensor *F = inv_gaps(L, false);
        ct_tensor *K = mm_c(mT(V), ref(gV));
        ct_tensor *sk = K ? scale_c(sub_c(ref(K), mT(K)), ct_scalar_f(0.5)) : NULL; /* symmetric gA, as torch */
        rel(K);
        ct_tensor *t = mul_c(F, sk);
        inner = inner ? add_c(inner, t) : t;
    }
    if (!inner) return NULL;
    ct_tensor *r = mm_c(mm_c(ref(V), inner), mT(V));
    return r;
}

static int eigh_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *L = ct_node_saved(n, 0), *V = L ? ct_node_saved(n, 1) : NULL;
    if (!V) {
        rel(L);
        return -1;
    }
    ct_tensor *gV = n->n_outputs > 1 ? g[1] : NULL;
    ct_tensor *r = !g[0] && !gV ? ct_zeros((ct_intlist){n->in_meta[0].sizes, n->in_meta[0].ndim}, L->dtype, -1)
                                : eigh_grad(g[0], gV, L, V);
    rel(L), rel(V);
    return put(n, gi, 0, r);
}

int ctg_linalg_eigh(ct_tensor *result0, ct_tensor *result1, ct_tensor *A, const char *UPLO) {
    (void)UPLO;
    if (!ct_autograd_should_record(1, &A) || !ct_dtype_is_floating(A->dtype)) return 0;
    ct_node *node = ct_node_new("LinalgEighBackward0", eigh_backward, 1, &A, 2);
    if (!node) return -1;
    int rc = ct_node_save(node, 0, result0, 0);
    if (!rc) rc = ct_node_save(node, 1, result1, 1);
    if (!rc) rc = ct_node_set_output(node, result0, 0);
    if (!rc) rc = ct_node_set_output(node, result1, 1);
    ct_node_release(node);
    return rc;
}

int ctg_linalg_eigvalsh(ct_tensor *result, ct_tensor *A, const char *UPLO) {
    ct_node *node;
    RECORD("LinalgEighBackward0", eigh_backward, result, A);
    ct_tensor *L = NULL, *V = NULL;
    if (ct_linalg_eigh(A, UPLO, &L, &V)) return -1; /* recorded: second derivatives flow */
    int rc = ct_node_save(node, 0, L, -1);
    if (!rc) rc = ct_node_save(node, 1, V, -1);
    rel(L), rel(V);
    return rc;
}

/* ------------------------------------------------------------------ pinv / lstsq */

/* P = pinv(A): gA = -P^T gP P^T + (I - A P) gP^T P P^T + P^T P gP^T (I - P A). */
static ct_tensor *pinv_grad(ct_tensor *gP, ct_tensor *A, ct_tensor *P) {
    ct_tensor *t1 = neg_c(mm_c(mm_c(mT(P), ref(gP)), mT(P)));
    ct_tensor *Z = mm_c(mm_c(mT(gP), ref(P)), mT(P));          /* gP^T P P^T (m x n) */
    ct_tensor *t2 = sub_c(ref(Z), mm_c(ref(A), mm_c(ref(P), ref(Z))));
    rel(Z);
    ct_tensor *W = mm_c(mm_c(mT(P), ref(P)), mT(gP));          /* P^T P gP^T (m x n) */
    ct_tensor *t3 = sub_c(ref(W), mm_c(mm_c(ref(W), ref(P)), ref(A)));
    rel(W);
    return add_c(add_c(t1, t2), t3);
}

static int pinv_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *A = ct_node_saved(n, 0), *P = A ? ct_node_saved(n, 1) : NULL;
    ct_tensor *r = P ? pinv_grad(g[0], A, P) : NULL;
    rel(A), rel(P);
    return put(n, gi, 0, r);
}

int ctg_linalg_pinv(ct_tensor *result, ct_tensor *A, const double *atol, const double *rtol, bool hermitian) {
    (void)atol, (void)rtol, (void)hermitian;
    ct_node *node;
    RECORD("LinalgPinvBackward0", pinv_backward, result, A);
    if (ct_node_save(node, 0, A, -1)) return -1;
    return ct_node_save(node, 1, result, 0);
}

static ct_tensor *pinv_grad_c(ct_tensor *gP, ct_tensor *A, ct_tensor *P) {
    ct_tensor *r = gP ? pinv_grad(gP, A, P) : NULL;
    rel(gP);
    return r;
}

/* solution X = pinv(A) B: gB = P^T g, gA = pinv_grad(g B^T). iv[0]: B is a vector. */
static int lstsq_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    ct_tensor *A = ct_node_saved(n, 0), *B = A ? ct_node_saved(n, 1) : NULL;
    if (!B) {
        rel(A);
        return -1;
    }
    ct_tensor *P = ct_linalg_pinv(A, NULL, NULL, false);
    ct_tensor *gg = n->iv[0] ? ct_unsqueeze(g[0], -1) : ref(g[0]);
    ct_tensor *B2 = n->iv[0] ? ct_unsqueeze(B, -1) : ref(B);
    int rc = P && gg && B2 ? 0 : -1;
    if (!rc && ct_node_needs_grad(n, 0)) rc = put(n, gi, 0, pinv_grad_c(mm_c(ref(gg), mT(B2)), A, P));
    if (!rc && ct_node_needs_grad(n, 1)) {
        ct_tensor *r = mm_c(mT(P), ref(gg));
        if (r && n->iv[0]) {
            ct_tensor *s = ct_squeeze_dim(r, -1);
            rel(r);
            r = s;
        }
        rc = put(n, gi, 1, r);
    }
    rel(P), rel(gg), rel(B2), rel(A), rel(B);
    return rc;
}

int ctg_linalg_lstsq(ct_tensor *result0, ct_tensor *result1, ct_tensor *result2, ct_tensor *result3, ct_tensor *A,
                     ct_tensor *B, const double *rcond, const char *driver) {
    (void)result1, (void)result2, (void)result3, (void)rcond, (void)driver;
    ct_tensor *ins[2] = {A, B};
    if (!ct_autograd_should_record(2, ins) || !ct_dtype_is_floating(result0->dtype)) return 0;
    ct_node *node = ct_node_new("LinalgLstsqBackward0", lstsq_backward, 2, ins, 1);
    if (!node) return -1;
    node->iv[0] = B->ndim == A->ndim - 1;
    int rc = ct_node_save(node, 0, A, -1);
    if (!rc) rc = ct_node_save(node, 1, B, -1);
    if (!rc) rc = ct_node_set_output(node, result0, 0);
    ct_node_release(node);
    return rc;
}

/* ------------------------------------------------------------------ cholesky_solve */

/* X = (L L^T)^-1 B: gB = cholesky_solve(g, L); with C = gB X^T + X gB^T, gL = -C L (upper:
 * gU = -U C). */
static int cholesky_solve_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    bool upper = n->iv[0];
    ct_tensor *L = ct_node_saved(n, 0);
    if (!L) return -1;
    ct_tensor *gB = ct_cholesky_solve(g[0], L, upper);
    int rc = gB ? 0 : -1;
    if (!rc && ct_node_needs_grad(n, 1)) {
        ct_tensor *X = ct_node_saved(n, 1);
        ct_tensor *C0 = X ? mm_c(ref(gB), mT(X)) : NULL;
        rel(X);
        ct_tensor *C = C0 ? add_c(ref(C0), mT(C0)) : NULL;
        rel(C0);
        ct_tensor *r = C ? neg_c(upper ? mm_c(ref(L), ref(C)) : mm_c(ref(C), ref(L))) : NULL;
        rel(C);
        rc = put(n, gi, 1, r);
    }
    if (!rc && ct_node_needs_grad(n, 0)) rc = put(n, gi, 0, ref(gB));
    rel(gB);
    rel(L);
    return rc;
}

int ctg_cholesky_solve(ct_tensor *result, ct_tensor *self, ct_tensor *input2, bool upper) {
    ct_node *node;
    RECORD("CholeskySolveBackward0", cholesky_solve_backward, result, self, input2);
    node->iv[0] = upper;
    if (ct_node_save(node, 0, input2, -1)) return -1;
    return ct_node_save(node, 1, result, 0);
}
