/* Matrix products: matmul (every torch broadcasting case), mm, bmm, mv, dot, vdot, inner,
 * outer/ger, addmm/addmv/addbmm/baddbmm, einsum, tensordot, kron, trace. All products go
 * through one batched strided GEMM call (src/kernels/cpu/gemm.c); no operand is copied
 * unless several dimensions must be fused into one GEMM dimension. */
#include <stdlib.h>
#include <string.h>

#include "ctorch/autograd.h"
#include "ctorch/ops_gen.h"
#include "../core/internal.h"
#include "../kernels/cpu/gemm.h"

/* ------------------------------------------------------------------ batched operands */

/* A batched matrix operand: element 0, a stride per broadcast batch dim, row/col strides. */
typedef struct opnd {
    char *data;
    int64_t bst[CT_MAX_DIM];
    int64_t rs, cs;
} opnd;

enum { ROLE_MAT = 0, ROLE_ROW = 1, ROLE_COL = 2 };

/* Describe t as an operand of a batch of shape bshape[nb]: ROLE_MAT uses t's last two dims,
 * ROLE_ROW its last dim as a 1 x n row, ROLE_COL its last dim as an n x 1 column. Leading
 * dims of t align right with bshape; missing or size-1 dims broadcast (stride 0). */
static void make_opnd(const ct_tensor *t, int role, int nb, opnd *o) {
    int mat = role == ROLE_MAT ? 2 : 1;
    int tb = t->ndim - mat;
    for (int i = 0; i < nb; i++) {
        int j = i - (nb - tb);
        o->bst[i] = (j < 0 || t->sizes[j] == 1) ? 0 : t->strides[j];
    }
    int nd = t->ndim;
    if (role == ROLE_MAT) {
        o->rs = t->strides[nd - 2];
        o->cs = t->strides[nd - 1];
    } else if (role == ROLE_ROW) {
        o->rs = 0;
        o->cs = t->strides[nd - 1];
    } else {
        o->rs = t->strides[nd - 1];
        o->cs = 0;
    }
    o->data = ct_tensor_data(t);
}

/* C = alpha * A @ B + beta * C over the batch bshape[nb]. 0 or -1 with the error set. */
static int run_gemm(int dtype, int nb, const int64_t *bshape, int64_t M, int64_t N, int64_t K, ct_scalar alpha,
                    const opnd *A, const opnd *B, ct_scalar beta, const opnd *C) {
    int64_t nbatch = 1;
    for (int i = 0; i < nb; i++) nbatch *= bshape[i];
    if (nbatch == 0 || M == 0 || N == 0) return 0;
    int64_t small[3];
    int64_t *off = nbatch == 1 ? small : malloc(sizeof(int64_t) * 3 * (size_t)nbatch);
    if (!off) return ct_errorf(CT_ERR_MEMORY, "[matmul] out of memory");
    int64_t *ao = off, *bo = off + nbatch, *co = off + 2 * nbatch;
    int64_t idx[CT_MAX_DIM] = {0};
    int64_t a = 0, b = 0, c = 0;
    for (int64_t n = 0; n < nbatch; n++) {
        ao[n] = a;
        bo[n] = b;
        co[n] = c;
        for (int d = nb - 1; d >= 0; d--) { /* odometer increment */
            if (++idx[d] < bshape[d]) {
                a += A->bst[d];
                b += B->bst[d];
                c += C->bst[d];
                break;
            }
            idx[d] = 0;
            a -= A->bst[d] * (bshape[d] - 1);
            b -= B->bst[d] * (bshape[d] - 1);
            c -= C->bst[d] * (bshape[d] - 1);
        }
    }
    ct_gemm_operand ga = {A->data, A->rs, A->cs}, gb = {B->data, B->rs, B->cs}, gc = {C->data, C->rs, C->cs};
    int rc = ct_gemm_batched(dtype, nbatch, M, N, K, alpha, ga, ao, gb, bo, beta, gc, co);
    if (off != small) free(off);
    return rc;
}

static const char *dname(int dt) { return ct_dtype_name(dt); }

/* dtype checks shared by the products: same dtype, not bool. */
static int check_dtypes(const char *op, const ct_tensor *a, const ct_tensor *b) {
    if (a->dtype != b->dtype)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] expected m1 and m2 to have the same dtype, but got: %s != %s", op,
                         dname(a->dtype), dname(b->dtype));
    if (a->dtype == CT_BOOL)
        return ct_errorf(CT_ERR_NOT_IMPLEMENTED, "[%s] \"addmm_impl_cpu_\" not implemented for 'Bool'", op);
    return 0;
}

/* ------------------------------------------------------------------ matmul */

/* The general product: a (..., M, K) or (K), b (..., K, N) or (K); batch dims broadcast.
 * Output (batch..., [M], [N]) contiguous. */
static ct_tensor *matmul_impl(const char *op, ct_tensor *a, ct_tensor *b) {
    if (a->ndim == 0 || b->ndim == 0)
        return ct_error(CT_ERR_RUNTIME, "[%s] both arguments to matmul need to be at least 1D, but they are %dD and %dD",
                        op, a->ndim, b->ndim);
    if (check_dtypes(op, a, b)) return NULL;
    int da = a->ndim, db = b->ndim;
    int64_t M = da >= 2 ? a->sizes[da - 2] : 1, K = a->sizes[da - 1];
    int64_t Kb = db >= 2 ? b->sizes[db - 2] : b->sizes[0], N = db >= 2 ? b->sizes[db - 1] : 1;
    char s1[128], s2[128];
    if (K != Kb) {
        if (da == 1 && db == 1)
            return ct_error(CT_ERR_RUNTIME,
                            "[%s] inconsistent tensor size, expected tensor [%lld] and src [%lld] to have the same "
                            "number of elements, but got %lld and %lld elements respectively",
                            op, (long long)K, (long long)Kb, (long long)K, (long long)Kb);
        return ct_error(CT_ERR_RUNTIME, "[%s] mat1 and mat2 shapes cannot be multiplied (%s and %s)", op,
                        ct_shape_str(a->sizes, da, s1, sizeof s1), ct_shape_str(b->sizes, db, s2, sizeof s2));
    }
    int64_t bshape[CT_MAX_DIM];
    int nb = ct_broadcast_shapes(a->sizes, da > 2 ? da - 2 : 0, b->sizes, db > 2 ? db - 2 : 0, bshape, op);
    if (nb < 0) return NULL;
    int64_t oshape[CT_MAX_DIM];
    int on = nb;
    memcpy(oshape, bshape, sizeof(int64_t) * (size_t)nb);
    if (da >= 2) oshape[on++] = M;
    if (db >= 2) oshape[on++] = N;
    ct_tensor *out = ct_empty(oshape, on, a->dtype);
    if (!out) return NULL;
    opnd A, B, C;
    make_opnd(a, da >= 2 ? ROLE_MAT : ROLE_ROW, nb, &A);
    make_opnd(b, db >= 2 ? ROLE_MAT : ROLE_COL, nb, &B);
    /* The output's own dims: (M, N), (M) or (N). */
    for (int i = 0; i < nb; i++) C.bst[i] = out->strides[i];
    C.rs = da >= 2 ? out->strides[nb] : 0;
    C.cs = db >= 2 ? out->strides[on - 1] : 0;
    C.data = ct_tensor_data(out);
    if (run_gemm(a->dtype, nb, bshape, M, N, K, ct_scalar_i(1), &A, &B, ct_scalar_i(0), &C)) {
        ct_tensor_release(out);
        return NULL;
    }
    return out;
}

ct_tensor *ct_matmul_impl(ct_tensor *self, ct_tensor *other) { return matmul_impl("matmul", self, other); }
ct_tensor *ct_linalg_matmul_impl(ct_tensor *self, ct_tensor *other) { return matmul_impl("linalg.matmul", self, other); }

ct_tensor *ct_mm_impl(ct_tensor *self, ct_tensor *mat2) {
    if (self->ndim != 2) return ct_error(CT_ERR_RUNTIME, "[mm] self must be a matrix");
    if (mat2->ndim != 2) return ct_error(CT_ERR_RUNTIME, "[mm] mat2 must be a matrix");
    return matmul_impl("mm", self, mat2);
}

ct_tensor *ct_bmm_impl(ct_tensor *self, ct_tensor *mat2) {
    if (self->ndim != 3) return ct_error(CT_ERR_RUNTIME, "[bmm] batch1 must be a 3D tensor");
    if (mat2->ndim != 3) return ct_error(CT_ERR_RUNTIME, "[bmm] batch2 must be a 3D tensor");
    if (self->sizes[0] != mat2->sizes[0] || self->sizes[2] != mat2->sizes[1]) {
        char s1[128], s2[128];
        return ct_error(CT_ERR_RUNTIME, "[bmm] Expected size for first two dimensions of batch2 tensor to be: [%lld, %lld] "
                        "but got: [%lld, %lld] (shapes %s and %s).",
                        (long long)self->sizes[0], (long long)self->sizes[2], (long long)mat2->sizes[0],
                        (long long)mat2->sizes[1], ct_shape_str(self->sizes, 3, s1, sizeof s1),
                        ct_shape_str(mat2->sizes, 3, s2, sizeof s2));
    }
    return matmul_impl("bmm", self, mat2);
}

ct_tensor *ct_mv_impl(ct_tensor *self, ct_tensor *vec) {
    if (self->ndim != 2 || vec->ndim != 1)
        return ct_error(CT_ERR_RUNTIME, "[mv] vector + matrix @ vector expected, got %d, %d, %d", 1, self->ndim,
                        vec->ndim);
    if (self->sizes[1] != vec->sizes[0]) {
        char s1[128];
        return ct_error(CT_ERR_RUNTIME, "[mv] size mismatch, got input (%lld), mat (%s), vec (%lld)",
                        (long long)self->sizes[0], ct_shape_str(self->sizes, 2, s1, sizeof s1),
                        (long long)vec->sizes[0]);
    }
    return matmul_impl("mv", self, vec);
}

static ct_tensor *dot_impl(const char *op, ct_tensor *a, ct_tensor *b) {
    if (a->ndim != 1 || b->ndim != 1)
        return ct_error(CT_ERR_RUNTIME, "[%s] 1D tensors expected, but got %dD and %dD tensors", op, a->ndim, b->ndim);
    if (a->dtype != b->dtype)
        return ct_error(CT_ERR_RUNTIME, "[%s] expected both vectors to have same dtype, but found %s and %s", op,
                        dname(a->dtype), dname(b->dtype));
    return matmul_impl(op, a, b);
}

ct_tensor *ct_dot_impl(ct_tensor *self, ct_tensor *tensor) { return dot_impl("dot", self, tensor); }
ct_tensor *ct_vdot_impl(ct_tensor *self, ct_tensor *other) { return dot_impl("vdot", self, other); }

/* A view of t with new geometry (same storage). */
static ct_tensor *geom_view(const ct_tensor *t, const int64_t *sizes, const int64_t *strides, int nd, int64_t offset) {
    return ct_tensor_new_view(t->storage, t->dtype, offset, sizes, strides, nd);
}

ct_tensor *ct_outer(ct_tensor *self, ct_tensor *vec2) {
    if (self->ndim != 1 || vec2->ndim != 1)
        return ct_error(CT_ERR_RUNTIME, "[outer] 1D tensors expected, but got %dD and %dD tensors", self->ndim,
                        vec2->ndim);
    int64_t s1[2] = {self->sizes[0], 1}, st1[2] = {self->strides[0], 0};
    int64_t s2[2] = {1, vec2->sizes[0]}, st2[2] = {0, vec2->strides[0]};
    (void)st1;
    (void)st2;
    ct_tensor *a = ct_reshape(self, (ct_intlist){s1, 2}); /* recorded views: outer is a composite */
    ct_tensor *b = a ? ct_reshape(vec2, (ct_intlist){s2, 2}) : NULL;
    ct_tensor *r = b ? ct_mul(a, b) : NULL;
    ct_tensor_release(a);
    ct_tensor_release(b);
    return r;
}

ct_tensor *ct_outer_ger(ct_tensor *self, ct_tensor *vec2) { return ct_outer(self, vec2); }

ct_tensor *ct_kron(ct_tensor *self, ct_tensor *other) {
    int nd = self->ndim > other->ndim ? self->ndim : other->ndim;
    if (2 * nd > CT_MAX_DIM) return ct_error(CT_ERR_RUNTIME, "[kron] too many dimensions");
    /* a as (a0, 1, a1, 1, ...), b as (1, b0, 1, b1, ...): their product is (a0, b0, a1, b1, ...). */
    int64_t sa[CT_MAX_DIM], ta[CT_MAX_DIM], sb[CT_MAX_DIM], tb[CT_MAX_DIM], rs[CT_MAX_DIM];
    for (int i = 0; i < nd; i++) {
        int ja = i - (nd - self->ndim), jb = i - (nd - other->ndim);
        sa[2 * i] = ja >= 0 ? self->sizes[ja] : 1;
        ta[2 * i] = ja >= 0 ? self->strides[ja] : 0;
        sa[2 * i + 1] = 1;
        ta[2 * i + 1] = 0;
        sb[2 * i] = 1;
        tb[2 * i] = 0;
        sb[2 * i + 1] = jb >= 0 ? other->sizes[jb] : 1;
        tb[2 * i + 1] = jb >= 0 ? other->strides[jb] : 0;
        rs[i] = sa[2 * i] * sb[2 * i + 1];
    }
    (void)ta;
    (void)tb;
    ct_tensor *a = ct_reshape(self, (ct_intlist){sa, 2 * nd}); /* recorded: kron is a composite */
    ct_tensor *b = a ? ct_reshape(other, (ct_intlist){sb, 2 * nd}) : NULL;
    ct_tensor *p = b ? ct_mul(a, b) : NULL;
    ct_tensor_release(a);
    ct_tensor_release(b);
    if (!p) return NULL;
    ct_tensor *r = ct_reshape(p, (ct_intlist){rs, nd});
    ct_tensor_release(p);
    ct_node *fn = r ? ct_tensor_grad_fn(r) : NULL;
    if (fn) fn->name = "UnsafeViewBackward0"; /* torch's name for kron's result (a view of a temporary) */
    return r;
}

ct_tensor *ct_trace_impl(ct_tensor *self) {
    if (self->ndim != 2) return ct_error(CT_ERR_RUNTIME, "[trace] trace: expected a matrix, but got tensor with dim %d",
                                         self->ndim);
    if (self->dtype == CT_BOOL) return ct_error(CT_ERR_NOT_IMPLEMENTED, "[trace] \"trace\" not implemented for 'Bool'");
    int64_t n = self->sizes[0] < self->sizes[1] ? self->sizes[0] : self->sizes[1];
    int64_t st = self->strides[0] + self->strides[1];
    size_t es = ct_dtype_size(self->dtype);
    const char *p = ct_tensor_data(self);
    if (ct_dtype_is_floating(self->dtype)) {
        double acc = 0;
        for (int64_t i = 0; i < n; i++) acc += ct_load_f64(p + i * st * (int64_t)es, self->dtype);
        return ct_scalar_tensor_f64(acc, self->dtype);
    }
    uint64_t acc = 0;
    for (int64_t i = 0; i < n; i++) acc += (uint64_t)ct_load_i64(p + i * st * (int64_t)es, self->dtype);
    return ct_scalar_tensor_i64((int64_t)acc, CT_INT64);
}

/* ------------------------------------------------------------------ addmm family */

/* out = beta * self + alpha * (m1 @ m2) where m1/m2 are (b, n, m)/(b, m, p) batches or
 * (n, m)/(m, p) (or (m) for addmv); `sum_batch`: addbmm (sum over b). inplace: write into
 * self (which must have the result's shape). */
static ct_tensor *addmm_impl(const char *op, ct_tensor *self, ct_tensor *m1, ct_tensor *m2, ct_scalar beta,
                             ct_scalar alpha, bool inplace, bool sum_batch, int want_nd1, int want_nd2) {
    if (m1->ndim != want_nd1 || m2->ndim != want_nd2)
        return ct_error(CT_ERR_RUNTIME, "[%s] expected %dD and %dD tensors, got %dD and %dD", op, want_nd1, want_nd2,
                        m1->ndim, m2->ndim);
    if (check_dtypes(op, m1, m2)) return NULL;
    if (self->dtype != m1->dtype)
        return ct_error(CT_ERR_RUNTIME, "[%s] self and mat2 must have the same dtype, but got %s and %s", op,
                        dname(self->dtype), dname(m1->dtype));
    bool batched = want_nd1 == 3;
    int64_t nbat = batched ? m1->sizes[0] : 1;
    int64_t M = m1->sizes[want_nd1 - 2], K = m1->sizes[want_nd1 - 1];
    int64_t Kb = m2->sizes[batched ? 1 : 0], N = want_nd2 >= 2 ? m2->sizes[want_nd2 - 1] : 1;
    char s1[128], s2[128];
    if (K != Kb || (batched && m2->sizes[0] != nbat))
        return ct_error(CT_ERR_RUNTIME, "[%s] mat1 and mat2 shapes cannot be multiplied (%s and %s)", op,
                        ct_shape_str(m1->sizes, m1->ndim, s1, sizeof s1), ct_shape_str(m2->sizes, m2->ndim, s2, sizeof s2));
    int64_t oshape[3];
    int on = 0;
    if (batched && !sum_batch) oshape[on++] = nbat;
    oshape[on++] = M;
    if (want_nd2 >= 2) oshape[on++] = N;
    int64_t bshape[CT_MAX_DIM];
    if (ct_broadcast_shapes(self->sizes, self->ndim, oshape, on, bshape, op) < 0) return NULL;
    ct_tensor *out;
    if (inplace) {
        if (self->ndim != on || memcmp(self->sizes, oshape, sizeof(int64_t) * (size_t)on) != 0)
            return ct_error(CT_ERR_RUNTIME, "[%s] the in-place result shape %s does not match self's %s", op,
                            ct_shape_str(oshape, on, s1, sizeof s1), ct_shape_str(self->sizes, self->ndim, s2, sizeof s2));
        out = self;
        ct_tensor_retain(out);
    } else {
        out = ct_empty(oshape, on, m1->dtype);
        if (!out) return NULL;
        if (ct_scalar_to_f64(beta) != 0 && ct_copy_into(out, self)) goto fail;
    }
    bool beta0 = ct_scalar_to_f64(beta) == 0;
    opnd A, B, C;
    int nb = batched && !sum_batch ? 1 : 0;
    make_opnd(m1, ROLE_MAT, nb, &A);
    make_opnd(m2, want_nd2 >= 2 ? ROLE_MAT : ROLE_COL, nb, &B);
    C.data = ct_tensor_data(out);
    C.bst[0] = out->strides[0];
    C.rs = out->strides[nb];
    C.cs = want_nd2 >= 2 ? out->strides[on - 1] : 0;
    if (sum_batch) {
        ct_scalar be = beta0 ? ct_scalar_i(0) : beta;
        if (nbat == 0 && run_gemm(m1->dtype, 0, NULL, M, N, 0, alpha, &A, &B, be, &C)) goto fail;
        for (int64_t b = 0; b < nbat; b++) {
            opnd Ab = A, Bb = B;
            Ab.data += m1->strides[0] * b * (int64_t)ct_dtype_size(m1->dtype);
            Bb.data += m2->strides[0] * b * (int64_t)ct_dtype_size(m2->dtype);
            if (run_gemm(m1->dtype, 0, NULL, M, N, K, alpha, &Ab, &Bb, b == 0 ? be : ct_scalar_i(1), &C)) goto fail;
        }
    } else {
        if (run_gemm(m1->dtype, nb, &nbat, M, N, K, alpha, &A, &B, beta0 ? ct_scalar_i(0) : beta, &C)) goto fail;
    }
    if (inplace) ct_tensor_bump_version(out);
    return out;
fail:
    ct_tensor_release(out);
    return NULL;
}

ct_tensor *ct_addmm_impl(ct_tensor *self, ct_tensor *mat1, ct_tensor *mat2, ct_scalar beta, ct_scalar alpha) {
    return addmm_impl("addmm", self, mat1, mat2, beta, alpha, false, false, 2, 2);
}
ct_tensor *ct_addmm__impl(ct_tensor *self, ct_tensor *mat1, ct_tensor *mat2, ct_scalar beta, ct_scalar alpha) {
    return addmm_impl("addmm_", self, mat1, mat2, beta, alpha, true, false, 2, 2);
}
ct_tensor *ct_addmv_impl(ct_tensor *self, ct_tensor *mat, ct_tensor *vec, ct_scalar beta, ct_scalar alpha) {
    return addmm_impl("addmv", self, mat, vec, beta, alpha, false, false, 2, 1);
}
ct_tensor *ct_addmv__impl(ct_tensor *self, ct_tensor *mat, ct_tensor *vec, ct_scalar beta, ct_scalar alpha) {
    return addmm_impl("addmv_", self, mat, vec, beta, alpha, true, false, 2, 1);
}
ct_tensor *ct_addbmm_impl(ct_tensor *self, ct_tensor *batch1, ct_tensor *batch2, ct_scalar beta, ct_scalar alpha) {
    return addmm_impl("addbmm", self, batch1, batch2, beta, alpha, false, true, 3, 3);
}
ct_tensor *ct_addbmm__impl(ct_tensor *self, ct_tensor *batch1, ct_tensor *batch2, ct_scalar beta, ct_scalar alpha) {
    return addmm_impl("addbmm_", self, batch1, batch2, beta, alpha, true, true, 3, 3);
}
ct_tensor *ct_baddbmm_impl(ct_tensor *self, ct_tensor *batch1, ct_tensor *batch2, ct_scalar beta, ct_scalar alpha) {
    return addmm_impl("baddbmm", self, batch1, batch2, beta, alpha, false, false, 3, 3);
}
ct_tensor *ct_baddbmm__impl(ct_tensor *self, ct_tensor *batch1, ct_tensor *batch2, ct_scalar beta, ct_scalar alpha) {
    return addmm_impl("baddbmm_", self, batch1, batch2, beta, alpha, true, false, 3, 3);
}

/* ------------------------------------------------------------------ labelled contraction */

/* NOTE [ einsum by batched GEMM ]
 * Every operand is a view plus one label per dim (labels unique within the operand after
 * diagonals are taken). Operands are contracted left to right: for a pair X, Y the labels
 * split into batch (both, still needed), contracted (both, not needed later), M (X only,
 * needed) and N (Y only, needed); labels of one operand that nobody needs later are summed
 * out first (a GEMM with a stride-0 vector of ones). X is viewed as (batch, M.., K..) and Y
 * as (batch, K.., N..); fusing M.., K.., N.. into single dims copies only when the strides
 * do not allow a view. The last result is permuted (a view) into the output order. */

#define EIN_MAXL (52 + CT_MAX_DIM) /* letters, then ellipsis dims */

typedef struct lview {
    ct_tensor *t; /* owned */
    int n;
    int lab[CT_MAX_DIM];
} lview;

/* New view of lv->t with dims in order perm[0..n). */
static ct_tensor *permuted(const ct_tensor *t, const int *perm, int n) {
    int64_t s[CT_MAX_DIM], st[CT_MAX_DIM];
    for (int i = 0; i < n; i++) {
        s[i] = t->sizes[perm[i]];
        st[i] = t->strides[perm[i]];
    }
    return geom_view(t, s, st, n, t->offset);
}

static int label_pos(const lview *v, int l) {
    for (int i = 0; i < v->n; i++)
        if (v->lab[i] == l) return i;
    return -1;
}

/* Fuse the dims of t [lead..., g1 dims, g2 dims] into [lead..., prod g1, prod g2]. */
static ct_tensor *fuse2(ct_tensor *t, int lead, int g1, int g2) {
    int64_t s[CT_MAX_DIM];
    int n = 0;
    for (int i = 0; i < lead; i++) s[n++] = t->sizes[i];
    int64_t p = 1, q = 1;
    for (int i = 0; i < g1; i++) p *= t->sizes[lead + i];
    for (int i = 0; i < g2; i++) q *= t->sizes[lead + g1 + i];
    s[n++] = p;
    s[n++] = q;
    return ct_reshape(t, (ct_intlist){s, n});
}

/* Sum out the labels of v marked in `drop` (in place on *v). */
static int sum_out(lview *v, const bool *drop) {
    int perm[CT_MAX_DIM], nk = 0, nd = 0, keep[CT_MAX_DIM];
    for (int i = 0; i < v->n; i++)
        if (!drop[v->lab[i]]) {
            keep[nk] = v->lab[i];
            perm[nk++] = i;
        }
    for (int i = 0; i < v->n; i++)
        if (drop[v->lab[i]]) perm[nk + nd++] = i;
    if (nd == 0) return 0;
    ct_tensor *p = permuted(v->t, perm, v->n);
    ct_tensor *f = p ? fuse2(p, 0, nk, nd) : NULL;
    ct_tensor_release(p);
    if (!f) return -1;
    int64_t ks[CT_MAX_DIM];
    for (int i = 0; i < nk; i++) ks[i] = v->t->sizes[perm[i]];
    ct_tensor *out = ct_empty(ks, nk, v->t->dtype);
    ct_tensor *one = out ? ct_empty(NULL, 0, v->t->dtype) : NULL;
    if (!one) {
        ct_tensor_release(f);
        ct_tensor_release(out);
        return -1;
    }
    ct_store_i64(ct_tensor_data(one), one->dtype, 1);
    opnd A = {.data = ct_tensor_data(f), .rs = f->strides[0], .cs = f->strides[1]};
    opnd B = {.data = ct_tensor_data(one), .rs = 0, .cs = 0};
    opnd C = {.data = ct_tensor_data(out), .rs = 1, .cs = 0};
    int rc = run_gemm(v->t->dtype, 0, NULL, f->sizes[0], 1, f->sizes[1], ct_scalar_i(1), &A, &B, ct_scalar_i(0), &C);
    ct_tensor_release(f);
    ct_tensor_release(one);
    if (rc) {
        ct_tensor_release(out);
        return -1;
    }
    ct_tensor_release(v->t);
    v->t = out;
    v->n = nk;
    memcpy(v->lab, keep, sizeof(int) * (size_t)nk);
    return 0;
}

/* Contract X and Y (consumed into *X). needed[l]: label l is used later (output or operands
 * still to come). */
static int contract_pair(lview *X, lview *Y, const bool *needed) {
    bool inx[EIN_MAXL] = {0}, iny[EIN_MAXL] = {0}, drop[EIN_MAXL] = {0};
    for (int i = 0; i < X->n; i++) inx[X->lab[i]] = true;
    for (int i = 0; i < Y->n; i++) iny[Y->lab[i]] = true;
    for (int l = 0; l < EIN_MAXL; l++) drop[l] = (inx[l] != iny[l]) && !needed[l];
    if (sum_out(X, drop) || sum_out(Y, drop)) return -1;
    int bl[CT_MAX_DIM], ml[CT_MAX_DIM], kl[CT_MAX_DIM], nl[CT_MAX_DIM], nb = 0, nm = 0, nk = 0, nn = 0;
    for (int i = 0; i < X->n; i++) {
        int l = X->lab[i];
        if (label_pos(Y, l) >= 0) {
            if (needed[l])
                bl[nb++] = l;
            else
                kl[nk++] = l;
        } else
            ml[nm++] = l;
    }
    for (int i = 0; i < Y->n; i++)
        if (label_pos(X, Y->lab[i]) < 0) nl[nn++] = Y->lab[i];
    if (nb + nm + nn > CT_MAX_DIM) return ct_errorf(CT_ERR_RUNTIME, "[einsum] too many dimensions");
    int px[CT_MAX_DIM], py[CT_MAX_DIM], n = 0;
    for (int i = 0; i < nb; i++) px[n++] = label_pos(X, bl[i]);
    for (int i = 0; i < nm; i++) px[n++] = label_pos(X, ml[i]);
    for (int i = 0; i < nk; i++) px[n++] = label_pos(X, kl[i]);
    n = 0;
    for (int i = 0; i < nb; i++) py[n++] = label_pos(Y, bl[i]);
    for (int i = 0; i < nk; i++) py[n++] = label_pos(Y, kl[i]);
    for (int i = 0; i < nn; i++) py[n++] = label_pos(Y, nl[i]);
    ct_tensor *xp = permuted(X->t, px, X->n), *yp = xp ? permuted(Y->t, py, Y->n) : NULL;
    ct_tensor *xf = yp ? fuse2(xp, nb, nm, nk) : NULL, *yf = xf ? fuse2(yp, nb, nk, nn) : NULL;
    ct_tensor *out = NULL;
    int rc = -1;
    if (!yf) goto done;
    int64_t oshape[CT_MAX_DIM];
    for (int i = 0; i < nb; i++) oshape[i] = xf->sizes[i];
    int64_t M = xf->sizes[nb], K = xf->sizes[nb + 1], N = yf->sizes[nb + 1];
    oshape[nb] = M;
    oshape[nb + 1] = N;
    out = ct_empty(oshape, nb + 2, X->t->dtype);
    if (!out) goto done;
    opnd A, B, C;
    make_opnd(xf, ROLE_MAT, nb, &A);
    make_opnd(yf, ROLE_MAT, nb, &B);
    make_opnd(out, ROLE_MAT, nb, &C);
    if (run_gemm(out->dtype, nb, oshape, M, N, K, ct_scalar_i(1), &A, &B, ct_scalar_i(0), &C)) goto done;
    /* Unfuse: (batch, M.., N..) contiguous. */
    int64_t us[CT_MAX_DIM];
    int un = 0;
    for (int i = 0; i < nb; i++) us[un++] = oshape[i];
    for (int i = 0; i < nm; i++) us[un++] = xp->sizes[nb + i];
    for (int i = 0; i < nn; i++) us[un++] = yp->sizes[nb + nk + i];
    ct_tensor *r = geom_view(out, us, NULL, un, out->offset);
    if (!r) goto done;
    ct_tensor_release(X->t);
    X->t = r;
    X->n = un;
    memcpy(X->lab, bl, sizeof(int) * (size_t)nb);
    memcpy(X->lab + nb, ml, sizeof(int) * (size_t)nm);
    memcpy(X->lab + nb + nm, nl, sizeof(int) * (size_t)nn);
    rc = 0;
done:
    ct_tensor_release(xp);
    ct_tensor_release(yp);
    ct_tensor_release(xf);
    ct_tensor_release(yf);
    ct_tensor_release(out);
    return rc;
}

/* Contract labelled operands into the output labels. labs[i] has ts[i]->ndim labels (may
 * repeat: diagonal); label values < EIN_MAXL. New reference. */
static ct_tensor *contract_labelled(const char *op, int nops, ct_tensor *const *ts, int *const *labs,
                                    const int *outl, int nout) {
    int64_t lsize[EIN_MAXL];
    for (int l = 0; l < EIN_MAXL; l++) lsize[l] = -1;
    for (int i = 0; i < nops; i++) {
        if (ts[i]->dtype != ts[0]->dtype)
            return ct_error(CT_ERR_RUNTIME, "[%s] expected scalar type %s but found %s", op, dname(ts[0]->dtype),
                            dname(ts[i]->dtype));
        for (int d = 0; d < ts[i]->ndim; d++) {
            int l = labs[i][d];
            int64_t s = ts[i]->sizes[d];
            if (lsize[l] < 0 || lsize[l] == 1)
                lsize[l] = s;
            else if (s != 1 && s != lsize[l])
                return ct_error(CT_ERR_RUNTIME, "[%s] operands do not broadcast: dimension of size %lld vs %lld", op,
                                (long long)s, (long long)lsize[l]);
        }
    }
    lview *v = calloc((size_t)(nops > 0 ? nops : 1), sizeof(lview));
    if (!v) return ct_error(CT_ERR_MEMORY, "[%s] out of memory", op);
    ct_tensor *res = NULL;
    for (int i = 0; i < nops; i++) {
        /* Diagonals for repeated labels, broadcast of size-1 dims. */
        const ct_tensor *t = ts[i];
        int64_t s[CT_MAX_DIM], st[CT_MAX_DIM];
        int n = 0;
        for (int d = 0; d < t->ndim; d++) {
            int l = labs[i][d], j;
            for (j = 0; j < n; j++)
                if (v[i].lab[j] == l) break;
            if (j < n) {
                if (t->sizes[d] != s[j]) {
                    ct_error(CT_ERR_RUNTIME, "[%s] subscript %c is repeated for operand %d but the sizes don't match, "
                             "%lld != %lld", op, l < 26 ? 'A' + l : l < 52 ? 'a' + l - 26 : '.', i,
                             (long long)t->sizes[d], (long long)s[j]);
                    goto done;
                }
                st[j] += t->strides[d];
                continue;
            }
            v[i].lab[n] = l;
            s[n] = t->sizes[d];
            st[n++] = t->strides[d];
        }
        for (int j = 0; j < n; j++)
            if (s[j] != lsize[v[i].lab[j]]) { /* size 1 broadcast to the label's size */
                s[j] = lsize[v[i].lab[j]];
                st[j] = 0;
            }
        v[i].n = n;
        v[i].t = geom_view(t, s, st, n, t->offset);
        if (!v[i].t) goto done;
    }
    bool needed[EIN_MAXL];
    for (int i = 1; i <= nops; i++) {
        memset(needed, 0, sizeof needed);
        for (int j = 0; j < nout; j++) needed[outl[j]] = true;
        for (int k = i + 1; k < nops; k++)
            for (int j = 0; j < v[k].n; j++) needed[v[k].lab[j]] = true;
        if (i < nops) {
            if (contract_pair(&v[0], &v[i], needed)) goto done;
        } else {
            bool drop[EIN_MAXL];
            for (int l = 0; l < EIN_MAXL; l++) drop[l] = !needed[l];
            if (sum_out(&v[0], drop)) goto done;
        }
    }
    int perm[CT_MAX_DIM];
    for (int j = 0; j < nout; j++) {
        perm[j] = label_pos(&v[0], outl[j]);
        if (perm[j] < 0) {
            ct_error(CT_ERR_RUNTIME, "[%s] output subscript does not appear in the inputs", op);
            goto done;
        }
    }
    res = permuted(v[0].t, perm, nout);
done:
    for (int i = 0; i < nops; i++) ct_tensor_release(v[i].t);
    free(v);
    return res;
}

static int letter_id(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    return -1;
}

/* Parse an einsum equation into per-operand labels (letters 0..51, ellipsis dims 52+) and
 * the output labels. 0 or -1 with the error set. */
int ct_einsum_labels(const char *equation, ct_tensorlist tensors, int (*lab_store)[CT_MAX_DIM], int *outl, int *nout_p);
int ct_einsum_labels(const char *equation, ct_tensorlist tensors, int (*lab_store)[CT_MAX_DIM], int *outl, int *nout_p) {
    int nops = (int)tensors.n;
    if (nops == 0) return ct_errorf(CT_ERR_RUNTIME, "[einsum] einsum(): must provide at least one operand");
    const char *arrow = strstr(equation, "->");
    size_t lhs_len = arrow ? (size_t)(arrow - equation) : strlen(equation);
    int *labs[64];
    if (nops > 64) return ct_errorf(CT_ERR_RUNTIME, "[einsum] too many operands");
    int raw[64][CT_MAX_DIM + 3], nraw[64] = {0}, ellpos[64];
    int op = 0, E = 0;
    int count[EIN_MAXL] = {0};
    for (int i = 0; i < 64; i++) ellpos[i] = -1;
    for (size_t p = 0; p < lhs_len; p++) {
        char c = equation[p];
        if (c == ' ') continue;
        if (c == ',') {
            if (++op >= nops) return ct_errorf(CT_ERR_RUNTIME, "[einsum] einsum(): more operands were provided than specified in the equation");
            continue;
        }
        if (c == '.') {
            if (p + 2 >= lhs_len + 0 || equation[p + 1] != '.' || equation[p + 2] != '.' || ellpos[op] >= 0)
                return ct_errorf(CT_ERR_RUNTIME, "[einsum] einsum(): found '.' for operand %d that is not part of any ellipsis", op);
            ellpos[op] = nraw[op];
            p += 2;
            continue;
        }
        int l = letter_id(c);
        if (l < 0) return ct_errorf(CT_ERR_RUNTIME, "[einsum] einsum(): invalid subscript given at index %zu in the equation string, subscripts must be in [a-zA-Z]", p);
        if (nraw[op] >= CT_MAX_DIM) return ct_errorf(CT_ERR_RUNTIME, "[einsum] too many subscripts");
        raw[op][nraw[op]++] = l;
    }
    if (op + 1 != nops)
        return ct_errorf(CT_ERR_RUNTIME, "[einsum] einsum(): %s operands were provided than specified in the equation",
                        op + 1 > nops ? "fewer" : "more");
    for (int i = 0; i < nops; i++) {
        ct_tensor *t = tensors.data[i];
        int nd = t->ndim;
        if (ellpos[i] < 0 ? nraw[i] != nd : nraw[i] > nd)
            return ct_errorf(CT_ERR_RUNTIME, "[einsum] einsum(): the number of subscripts in the equation (%d) does not "
                            "match the number of dimensions (%d) for operand %d%s", nraw[i], nd, i,
                            ellpos[i] < 0 ? " and no ellipsis was given" : "");
        if (ellpos[i] >= 0 && nd - nraw[i] > E) E = nd - nraw[i];
    }
    for (int i = 0; i < nops; i++) {
        ct_tensor *t = tensors.data[i];
        int e = ellpos[i] >= 0 ? t->ndim - nraw[i] : 0, n = 0;
        for (int j = 0; j <= nraw[i]; j++) {
            if (j == ellpos[i])
                for (int k = 0; k < e; k++) lab_store[i][n++] = 52 + (E - e + k);
            if (j < nraw[i]) lab_store[i][n++] = raw[i][j];
        }
        labs[i] = lab_store[i];
        bool seen[EIN_MAXL] = {0};
        for (int j = 0; j < n; j++)
            if (!seen[lab_store[i][j]]) {
                seen[lab_store[i][j]] = true;
                count[lab_store[i][j]]++;
            }
    }
    int nout = 0;
    if (arrow) {
        bool used[EIN_MAXL] = {0}, ell = false;
        for (const char *p = arrow + 2; *p; p++) {
            if (*p == ' ') continue;
            if (*p == '.') {
                if (p[1] != '.' || p[2] != '.' || ell)
                    return ct_errorf(CT_ERR_RUNTIME, "[einsum] einsum(): found '.' for output that is not part of any ellipsis");
                for (int k = 0; k < E; k++) outl[nout++] = 52 + k;
                ell = true;
                p += 2;
                continue;
            }
            int l = letter_id(*p);
            if (l < 0) return ct_errorf(CT_ERR_RUNTIME, "[einsum] einsum(): invalid subscript given in the output, subscripts must be in [a-zA-Z]");
            if (used[l]) return ct_errorf(CT_ERR_RUNTIME, "[einsum] einsum(): output subscript %c appears more than once in the output", *p);
            if (!count[l]) return ct_errorf(CT_ERR_RUNTIME, "[einsum] einsum(): output subscript %c does not appear in the equation for any input operand", *p);
            if (nout >= CT_MAX_DIM) return ct_errorf(CT_ERR_RUNTIME, "[einsum] too many output dimensions");
            used[l] = true;
            outl[nout++] = l;
        }
    } else {
        /* Implicit output: ellipsis dims, then the labels seen exactly once, sorted. */
        int total[EIN_MAXL] = {0};
        for (int i = 0; i < nops; i++)
            for (int j = 0; j < tensors.data[i]->ndim; j++) total[labs[i][j]]++;
        for (int k = 0; k < E; k++) outl[nout++] = 52 + k;
        for (int l = 0; l < 52; l++)
            if (total[l] == 1) {
                if (nout >= CT_MAX_DIM) return ct_errorf(CT_ERR_RUNTIME, "[einsum] too many output dimensions");
                outl[nout++] = l;
            }
    }
    *nout_p = nout;
    return 0;
}

ct_tensor *ct_einsum_impl(const char *equation, ct_tensorlist tensors) {
    if (tensors.n > 64) return ct_error(CT_ERR_RUNTIME, "[einsum] too many operands");
    int lab_store[64][CT_MAX_DIM], outl[CT_MAX_DIM + 52], nout = 0;
    if (ct_einsum_labels(equation, tensors, lab_store, outl, &nout)) return NULL;
    int *labs[64];
    for (int64_t i = 0; i < tensors.n; i++) labs[i] = lab_store[i];
    ct_tensor *r = contract_labelled("einsum", (int)tensors.n, tensors.data, labs, outl, nout);
    for (int64_t i = 0; r && i < tensors.n; i++)
        if (r == tensors.data[i]) { /* a fresh tensor, as torch (autograd records on it) */
            ct_tensor *a = ct_tensor_alias(r);
            ct_tensor_release(r);
            r = a;
        }
    return r;
}

ct_tensor *ct_tensordot_impl(ct_tensor *self, ct_tensor *other, ct_intlist dims_self, ct_intlist dims_other) {
    if (dims_self.n != dims_other.n)
        return ct_error(CT_ERR_RUNTIME, "[tensordot] both dimension lists should have same length");
    int la[CT_MAX_DIM], lb[CT_MAX_DIM], outl[CT_MAX_DIM];
    bool ca[CT_MAX_DIM] = {0}, cb[CT_MAX_DIM] = {0};
    for (int i = 0; i < self->ndim; i++) la[i] = i;
    for (int i = 0; i < other->ndim; i++) lb[i] = -1;
    for (int64_t i = 0; i < dims_self.n; i++) {
        int da = ct_wrap_dim(dims_self.data[i], self->ndim, "tensordot");
        int db = ct_wrap_dim(dims_other.data[i], other->ndim, "tensordot");
        if (da < 0 || db < 0) return NULL;
        if (self->sizes[da] != other->sizes[db])
            return ct_error(CT_ERR_RUNTIME, "[tensordot] contracted dimensions need to match, but first has size %lld "
                            "in dim %d and second has size %lld in dim %d", (long long)self->sizes[da], da,
                            (long long)other->sizes[db], db);
        if (ca[da] || cb[db]) return ct_error(CT_ERR_RUNTIME, "[tensordot] dim appears multiple times in the list of dims");
        ca[da] = cb[db] = true;
        lb[db] = la[da];
    }
    int nout = 0, next = self->ndim;
    for (int i = 0; i < self->ndim; i++)
        if (!ca[i]) outl[nout++] = la[i];
    for (int i = 0; i < other->ndim; i++)
        if (lb[i] < 0) {
            lb[i] = next++;
            outl[nout++] = lb[i];
        }
    if (nout > CT_MAX_DIM) return ct_error(CT_ERR_RUNTIME, "[tensordot] too many dimensions");
    ct_tensor *ts[2] = {self, other};
    int *labs[2] = {la, lb};
    ct_tensor *r = contract_labelled("tensordot", 2, ts, labs, outl, nout);
    if (!r || ct_tensor_is_contiguous(r)) return r;
    ct_tensor *c = ct_contiguous(r);
    ct_tensor_release(r);
    return c;
}

ct_tensor *ct_inner(ct_tensor *self, ct_tensor *other) {
    if (self->ndim == 0 || other->ndim == 0) return ct_mul(self, other);
    if (self->dtype != other->dtype)
        return ct_error(CT_ERR_RUNTIME, "[inner] expected scalar type %s but found %s", dname(self->dtype),
                        dname(other->dtype));
    if (self->sizes[self->ndim - 1] != other->sizes[other->ndim - 1]) {
        char s1[128], s2[128];
        return ct_error(CT_ERR_RUNTIME, "[inner] inner() the last dimension must match on both input tensors but got "
                        "shapes %s and %s", ct_shape_str(self->sizes, self->ndim, s1, sizeof s1),
                        ct_shape_str(other->sizes, other->ndim, s2, sizeof s2));
    }
    if (self->dtype == CT_BOOL) return ct_error(CT_ERR_NOT_IMPLEMENTED, "[inner] \"addmm_impl_cpu_\" not implemented for 'Bool'");
    int64_t d = -1;
    return ct_tensordot(self, other, (ct_intlist){&d, 1}, (ct_intlist){&d, 1});
}
