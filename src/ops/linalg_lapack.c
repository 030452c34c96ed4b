/* torch.linalg decompositions and solvers on LAPACK (scipy-openblas32, loaded lazily by
 * src/kernels/cpu/lapack.c): inv, solve, det, slogdet, cholesky, qr, svd, svdvals, eigh,
 * eigvalsh, lstsq, pinv, matrix_rank, cholesky_solve. Each matrix of a batch is copied into a
 * column-major float64 buffer (any input strides), factorised, and the results are rounded
 * to the input dtype (float32 or float64) on the way out. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctorch/ops_gen.h"
#include "../core/internal.h"
#include "../kernels/cpu/gemm.h"
#include "../kernels/cpu/lapack.h"

/* ------------------------------------------------------------------ helpers */

static int check_float(const char *op, const ct_tensor *A, const char *name) {
    if (A->dtype != CT_FLOAT32 && A->dtype != CT_FLOAT64) {
        static const char *tn[] = {"Bool", "Byte", "Char", "Short", "Int", "Long", "Half", "BFloat16", "Float", "Double"};
        return ct_errorf(CT_ERR_RUNTIME, "[%s] %s: Expected a floating point or complex tensor as input. Got %s", op,
                         name, tn[A->dtype]);
    }
    return 0;
}

static int check_matrix(const char *op, const ct_tensor *A, bool square) {
    if (A->ndim < 2)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] The input tensor A must have at least 2 dimensions.", op);
    int64_t m = A->sizes[A->ndim - 2], n = A->sizes[A->ndim - 1];
    if (square && m != n)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] A must be batches of square matrices, but they are %lld by %lld matrices",
                         op, (long long)m, (long long)n);
    if (m > INT32_MAX || n > INT32_MAX) return ct_errorf(CT_ERR_RUNTIME, "[%s] matrix too large for LAPACK", op);
    return check_float(op, A, "A");
}

static int64_t prod(const int64_t *s, int n) {
    int64_t p = 1;
    for (int i = 0; i < n; i++) p *= s[i];
    return p;
}

/* Offsets (elements) of the matrices of t (its last `mat` dims) over the batch bshape[nb];
 * t's leading dims align right and broadcast. malloc'd, or NULL with the error set. */
static int64_t *batch_offsets(const ct_tensor *t, int mat, int nb, const int64_t *bshape, int64_t count) {
    int64_t *off = malloc(sizeof(int64_t) * (size_t)(count > 0 ? count : 1));
    if (!off) return ct_error(CT_ERR_MEMORY, "[linalg] out of memory");
    int tb = t->ndim - mat;
    int64_t st[CT_MAX_DIM], idx[CT_MAX_DIM] = {0}, o = 0;
    for (int i = 0; i < nb; i++) {
        int j = i - (nb - tb);
        st[i] = (j < 0 || t->sizes[j] == 1) ? 0 : t->strides[j];
    }
    for (int64_t b = 0; b < count; b++) {
        off[b] = o;
        for (int d = nb - 1; d >= 0; d--) {
            if (++idx[d] < bshape[d]) {
                o += st[d];
                break;
            }
            idx[d] = 0;
            o -= st[d] * (bshape[d] - 1);
        }
    }
    return off;
}

/* t's element block at `off` (m x n, strides rs, cs) -> column-major double dst (ld). */
static void load_cm(const ct_tensor *t, int64_t off, int64_t m, int64_t n, int64_t rs, int64_t cs, double *dst,
                    int64_t ld) {
    const char *p = (const char *)ct_tensor_data(t);
    int64_t es = (int64_t)ct_dtype_size(t->dtype);
    if (t->dtype == CT_FLOAT64) {
        const double *d = (const double *)p + off;
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < m; i++) dst[i + j * ld] = d[i * rs + j * cs];
    } else if (t->dtype == CT_FLOAT32) {
        const float *d = (const float *)p + off;
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < m; i++) dst[i + j * ld] = d[i * rs + j * cs];
    } else {
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < m; i++) dst[i + j * ld] = ct_load_f64(p + (off + i * rs + j * cs) * es, t->dtype);
    }
}

/* column-major src (ld) -> contiguous out at element offset off, as m x n row-major
 * (trans: write src^T, i.e. out[i][j] = src[j + i*ld]). */
static void store_rm(ct_tensor *out, int64_t off, int64_t m, int64_t n, const double *src, int64_t ld, bool trans) {
    if (out->dtype == CT_FLOAT64) {
        double *d = (double *)ct_tensor_data(out) + off;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) d[i * n + j] = trans ? src[j + i * ld] : src[i + j * ld];
    } else {
        float *d = (float *)ct_tensor_data(out) + off;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) d[i * n + j] = (float)(trans ? src[j + i * ld] : src[i + j * ld]);
    }
}

static void store1(ct_tensor *out, int64_t i, double v) {
    if (out->dtype == CT_FLOAT64)
        ((double *)ct_tensor_data(out))[i] = v;
    else if (out->dtype == CT_FLOAT32)
        ((float *)ct_tensor_data(out))[i] = (float)v;
    else
        ((int64_t *)ct_tensor_data(out))[i] = (int64_t)v;
}

static double dtype_eps(int dtype) { return dtype == CT_FLOAT32 ? FLT_EPSILON : DBL_EPSILON; }

static ct_tensor *empty1(int dtype) {
    int64_t z = 0;
    return ct_empty(&z, 1, dtype);
}

/* "(Batch element 3): " when batched, "" otherwise. */
static const char *batch_tag(char *buf, size_t n, int nb, int64_t b) {
    if (nb == 0) return "";
    snprintf(buf, n, "(Batch element %lld): ", (long long)b);
    return buf;
}

#define LAPACK_OR_NULL(op)                          \
    const ct_lapack *L = ct_lapack_get(op);         \
    if (!L) return NULL;

/* ------------------------------------------------------------------ inv */

static ct_tensor *inv_impl(const char *op, ct_tensor *A) {
    if (check_matrix(op, A, true)) return NULL;
    int nb = A->ndim - 2;
    int64_t count = prod(A->sizes, nb), n64 = A->sizes[A->ndim - 1];
    ct_tensor *out = ct_empty(A->sizes, A->ndim, A->dtype);
    if (!out || count == 0 || n64 == 0) return out;
    LAPACK_OR_NULL(op)
    int n = (int)n64, info = 0, lwork = -1;
    double wq;
    int64_t *off = batch_offsets(A, 2, nb, A->sizes, count);
    double *buf = malloc(sizeof(double) * (size_t)(n * n) + 8);
    int *ipiv = malloc(sizeof(int) * (size_t)n);
    double *work = NULL;
    if (!off || !buf || !ipiv) goto oom;
    L->getri(&n, buf, &n, ipiv, &wq, &lwork, &info);
    lwork = wq > n ? (int)wq : n;
    work = malloc(sizeof(double) * (size_t)lwork);
    if (!work) goto oom;
    for (int64_t b = 0; b < count; b++) {
        load_cm(A, off[b], n, n, A->strides[nb], A->strides[nb + 1], buf, n);
        L->getrf(&n, &n, buf, &n, ipiv, &info);
        if (info > 0) {
            char tb[64];
            ct_error(CT_ERR_LINALG, "[%s] %s%s: The diagonal element %d is zero, the inversion could not be completed "
                     "because the input matrix is singular.", op, batch_tag(tb, sizeof tb, nb, b), op, info);
            goto fail;
        }
        L->getri(&n, buf, &n, ipiv, work, &lwork, &info);
        store_rm(out, b * n * n, n, n, buf, n, false);
    }
    free(off), free(buf), free(ipiv), free(work);
    return out;
oom:
    ct_error(CT_ERR_MEMORY, "[%s] out of memory", op);
fail:
    free(off), free(buf), free(ipiv), free(work);
    ct_tensor_release(out);
    return NULL;
}

ct_tensor *ct_linalg_inv_impl(ct_tensor *A) { return inv_impl("linalg.inv", A); }
ct_tensor *ct_inverse_impl(ct_tensor *self) { return inv_impl("inverse", self); }

/* ------------------------------------------------------------------ solve */

static ct_tensor *swap_last2(ct_tensor *t) {
    int64_t s[CT_MAX_DIM], st[CT_MAX_DIM];
    memcpy(s, t->sizes, sizeof(int64_t) * (size_t)t->ndim);
    memcpy(st, t->strides, sizeof(int64_t) * (size_t)t->ndim);
    int n = t->ndim;
    int64_t x = s[n - 1];
    s[n - 1] = s[n - 2];
    s[n - 2] = x;
    x = st[n - 1];
    st[n - 1] = st[n - 2];
    st[n - 2] = x;
    return ct_tensor_new_view(t->storage, t->dtype, t->offset, s, st, n);
}

/* X with A X = B (potrs: A = L L^T given as its factor `A` with uplo) over broadcast batches. */
static ct_tensor *solve_impl(const char *op, ct_tensor *A, ct_tensor *B, bool chol, bool upper) {
    if (check_matrix(op, A, true) || check_float(op, B, "B")) return NULL;
    if (A->dtype != B->dtype)
        return ct_error(CT_ERR_RUNTIME, "[%s] Expected A and B to have the same dtype, but found A of type %s and B of "
                        "type %s instead", op, ct_dtype_name(A->dtype), ct_dtype_name(B->dtype));
    int64_t n = A->sizes[A->ndim - 1];
    bool vec = !chol && (B->ndim == 1 || (B->ndim == A->ndim - 1 && memcmp(B->sizes, A->sizes, sizeof(int64_t) *
                                                                                                   (size_t)B->ndim) == 0));
    if (!vec && B->ndim < 2) return ct_error(CT_ERR_RUNTIME, "[%s] The input tensor B must have at least 2 dimensions.", op);
    int bmat = vec ? 1 : 2;
    int64_t k = vec ? 1 : B->sizes[B->ndim - 1];
    if (B->sizes[B->ndim - bmat] != n) {
        char s1[128], s2[128];
        return ct_error(CT_ERR_RUNTIME, "[%s] Incompatible shapes of A and B for the equation AX = B (%s and %s)", op,
                        ct_shape_str(A->sizes, A->ndim, s1, sizeof s1), ct_shape_str(B->sizes, B->ndim, s2, sizeof s2));
    }
    int64_t bshape[CT_MAX_DIM];
    int nb = ct_broadcast_shapes(A->sizes, A->ndim - 2, B->sizes, B->ndim - bmat, bshape, op);
    if (nb < 0) return NULL;
    int64_t oshape[CT_MAX_DIM];
    memcpy(oshape, bshape, sizeof(int64_t) * (size_t)nb);
    oshape[nb] = n;
    if (!vec) oshape[nb + 1] = k;
    ct_tensor *out = ct_empty(oshape, nb + bmat, A->dtype);
    int64_t count = prod(bshape, nb);
    if (!out || count == 0 || n == 0 || k == 0) return out;
    const ct_lapack *L = ct_lapack_get(op);
    if (!L) {
        ct_tensor_release(out);
        return NULL;
    }
    int ni = (int)n, ki = (int)k, info = 0;
    int64_t *ao = batch_offsets(A, 2, nb, bshape, count), *bo = batch_offsets(B, bmat, nb, bshape, count);
    double *abuf = malloc(sizeof(double) * (size_t)(n * n)), *bbuf = malloc(sizeof(double) * (size_t)(n * k));
    int *ipiv = malloc(sizeof(int) * (size_t)n);
    if (!ao || !bo || !abuf || !bbuf || !ipiv) {
        ct_error(CT_ERR_MEMORY, "[%s] out of memory", op);
        goto fail;
    }
    int64_t brs = B->strides[B->ndim - bmat], bcs = vec ? 0 : B->strides[B->ndim - 1];
    for (int64_t b = 0; b < count; b++) {
        load_cm(A, ao[b], n, n, A->strides[A->ndim - 2], A->strides[A->ndim - 1], abuf, n);
        load_cm(B, bo[b], n, k, brs, bcs, bbuf, n);
        char tb[64];
        if (chol) {
            char uplo = upper ? 'U' : 'L';
            L->potrs(&uplo, &ni, &ki, abuf, &ni, bbuf, &ni, &info, 1);
        } else {
            L->getrf(&ni, &ni, abuf, &ni, ipiv, &info);
            if (info > 0) {
                ct_error(CT_ERR_LINALG, "[%s] %s%s: The solver failed because the input matrix is singular.", op,
                         batch_tag(tb, sizeof tb, nb, b), op);
                goto fail;
            }
            char tr = 'N';
            L->getrs(&tr, &ni, &ki, abuf, &ni, ipiv, bbuf, &ni, &info, 1);
        }
        store_rm(out, b * n * k, n, k, bbuf, n, false);
    }
    free(ao), free(bo), free(abuf), free(bbuf), free(ipiv);
    return out;
fail:
    free(ao), free(bo), free(abuf), free(bbuf), free(ipiv);
    ct_tensor_release(out);
    return NULL;
}

ct_tensor *ct_linalg_solve_impl(ct_tensor *A, ct_tensor *B, bool left) {
    if (left) return solve_impl("linalg.solve", A, B, false, false);
    /* X A = B  <=>  A^T X^T = B^T */
    if (A->ndim < 2 || B->ndim < 2)
        return ct_error(CT_ERR_RUNTIME, "[linalg.solve] left=False needs A and B with at least 2 dimensions");
    ct_tensor *At = swap_last2(A), *Bt = At ? swap_last2(B) : NULL;
    ct_tensor *Xt = Bt ? solve_impl("linalg.solve", At, Bt, false, false) : NULL;
    ct_tensor *X = Xt ? swap_last2(Xt) : NULL;
    ct_tensor *r = X ? ct_contiguous(X) : NULL;
    ct_tensor_release(At), ct_tensor_release(Bt), ct_tensor_release(Xt), ct_tensor_release(X);
    return r;
}

ct_tensor *ct_cholesky_solve_impl(ct_tensor *self, ct_tensor *input2, bool upper) {
    return solve_impl("cholesky_solve", input2, self, true, upper);
}

/* ------------------------------------------------------------------ det, slogdet */

/* LU per matrix: det or (sign, logabsdet). */
static int det_impl(const char *op, ct_tensor *A, ct_tensor **det, ct_tensor **sign, ct_tensor **logabs) {
    if (check_matrix(op, A, true)) return -1;
    int nb = A->ndim - 2;
    int64_t count = prod(A->sizes, nb), n64 = A->sizes[A->ndim - 1];
    ct_tensor *d = det ? ct_empty(A->sizes, nb, A->dtype) : NULL;
    ct_tensor *s = sign ? ct_empty(A->sizes, nb, A->dtype) : NULL;
    ct_tensor *l = sign ? ct_empty(A->sizes, nb, A->dtype) : NULL;
    int64_t *off = NULL;
    double *buf = NULL;
    int *ipiv = NULL;
    if ((det && !d) || (sign && (!s || !l))) goto fail;
    const ct_lapack *L = NULL;
    if (count > 0 && n64 > 0 && !(L = ct_lapack_get(op))) goto fail;
    int n = (int)n64, info;
    off = batch_offsets(A, 2, nb, A->sizes, count);
    buf = malloc(sizeof(double) * (size_t)(n64 * n64) + 8);
    ipiv = malloc(sizeof(int) * (size_t)n64 + 4);
    if (!off || !buf || !ipiv) {
        ct_error(CT_ERR_MEMORY, "[%s] out of memory", op);
        goto fail;
    }
    for (int64_t b = 0; b < count; b++) {
        double psign = 1, dsign = 1, la = 0, dv = 1;
        if (n > 0) {
            load_cm(A, off[b], n, n, A->strides[nb], A->strides[nb + 1], buf, n);
            L->getrf(&n, &n, buf, &n, ipiv, &info);
            for (int i = 0; i < n; i++) {
                double v = buf[i + (int64_t)i * n];
                if (ipiv[i] != i + 1) psign = -psign;
                if (v < 0) dsign = -dsign;
                if (v == 0) dsign = 0;
                dv *= v;
                la += log(fabs(v));
            }
        }
        if (d) store1(d, b, psign * dv);
        if (s) {
            store1(s, b, psign * dsign);
            store1(l, b, la);
        }
    }
    free(off), free(buf), free(ipiv);
    if (det) *det = d;
    if (sign) {
        *sign = s;
        *logabs = l;
    }
    return 0;
fail:
    free(off), free(buf), free(ipiv);
    ct_tensor_release(d), ct_tensor_release(s), ct_tensor_release(l);
    return -1;
}

ct_tensor *ct_linalg_det_impl(ct_tensor *A) {
    ct_tensor *d = NULL;
    return det_impl("linalg.det", A, &d, NULL, NULL) ? NULL : d;
}
ct_tensor *ct_det_impl(ct_tensor *self) {
    ct_tensor *d = NULL;
    return det_impl("det", self, &d, NULL, NULL) ? NULL : d;
}
int ct_linalg_slogdet_impl(ct_tensor *A, ct_tensor **out0, ct_tensor **out1) {
    return det_impl("linalg.slogdet", A, NULL, out0, out1);
}
int ct_slogdet_impl(ct_tensor *self, ct_tensor **out0, ct_tensor **out1) { return det_impl("slogdet", self, NULL, out0, out1); }

/* ------------------------------------------------------------------ cholesky */

ct_tensor *ct_linalg_cholesky_impl(ct_tensor *A, bool upper) {
    const char *op = "linalg.cholesky";
    if (check_matrix(op, A, true)) return NULL;
    int nb = A->ndim - 2;
    int64_t count = prod(A->sizes, nb), n64 = A->sizes[A->ndim - 1];
    ct_tensor *out = ct_empty(A->sizes, A->ndim, A->dtype);
    if (!out || count == 0 || n64 == 0) return out;
    const ct_lapack *L = ct_lapack_get(op);
    int64_t *off = L ? batch_offsets(A, 2, nb, A->sizes, count) : NULL;
    double *buf = off ? malloc(sizeof(double) * (size_t)(n64 * n64)) : NULL;
    if (!buf) {
        if (off) ct_error(CT_ERR_MEMORY, "[%s] out of memory", op);
        goto fail;
    }
    int n = (int)n64, info;
    char uplo = 'L';
    for (int64_t b = 0; b < count; b++) {
        load_cm(A, off[b], n, n, A->strides[nb], A->strides[nb + 1], buf, n);
        L->potrf(&uplo, &n, buf, &n, &info, 1);
        if (info > 0) {
            char tb[64];
            ct_error(CT_ERR_LINALG, "[%s] %s%s: The factorization could not be completed because the input is not "
                     "positive-definite (the leading minor of order %d is not positive-definite).", op,
                     batch_tag(tb, sizeof tb, nb, b), op, info);
            goto fail;
        }
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < j; i++) buf[i + j * n] = 0; /* upper part of L */
        store_rm(out, b * n * n, n, n, buf, n, upper);
    }
    free(off), free(buf);
    return out;
fail:
    free(off), free(buf);
    ct_tensor_release(out);
    return NULL;
}

/* ------------------------------------------------------------------ qr */

int ct_linalg_qr_impl(ct_tensor *A, const char *mode, ct_tensor **out0, ct_tensor **out1) {
    const char *op = "linalg.qr";
    bool reduced = strcmp(mode, "reduced") == 0, complete = strcmp(mode, "complete") == 0, ronly = strcmp(mode, "r") == 0;
    if (!reduced && !complete && !ronly)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] qr received unrecognized mode '%s' but expected one of 'reduced' "
                         "(default), 'r', or 'complete'", op, mode);
    if (check_matrix(op, A, false)) return -1;
    int nb = A->ndim - 2;
    int64_t m = A->sizes[nb], n = A->sizes[nb + 1], k = m < n ? m : n;
    int64_t count = prod(A->sizes, nb);
    int64_t qc = complete ? m : k, rr = complete ? m : k;
    int64_t qs[CT_MAX_DIM], rs[CT_MAX_DIM];
    memcpy(qs, A->sizes, sizeof(int64_t) * (size_t)nb);
    memcpy(rs, A->sizes, sizeof(int64_t) * (size_t)nb);
    qs[nb] = m, qs[nb + 1] = qc, rs[nb] = rr, rs[nb + 1] = n;
    ct_tensor *Q = ronly ? empty1(A->dtype) : ct_empty(qs, nb + 2, A->dtype);
    ct_tensor *R = Q ? ct_empty(rs, nb + 2, A->dtype) : NULL;
    int64_t *off = NULL;
    double *a = NULL, *q = NULL, *tau = NULL, *work = NULL;
    if (!R) goto fail;
    if (count > 0 && (m == 0 || n == 0)) { /* Q is the identity / empty, R is zeros */
        for (int64_t b = 0; b < count; b++) {
            if (!ronly)
                for (int64_t i = 0; i < m * qc; i++) store1(Q, b * m * qc + i, (i / qc) == (i % qc));
            for (int64_t i = 0; i < rr * n; i++) store1(R, b * rr * n + i, 0);
        }
    }
    if (count > 0 && m > 0 && n > 0) {
        const ct_lapack *L = ct_lapack_get(op);
        if (!L) goto fail;
        int mi = (int)m, ni = (int)n, ki = (int)k, qci = (int)qc, info, lwork = -1;
        int64_t qcols = qc > n ? qc : n;
        off = batch_offsets(A, 2, nb, A->sizes, count);
        a = malloc(sizeof(double) * (size_t)(m * n));
        q = malloc(sizeof(double) * (size_t)(m * qcols));
        tau = malloc(sizeof(double) * (size_t)k);
        if (!off || !a || !q || !tau) goto oom;
        double w1 = 0, w2 = 0;
        L->geqrf(&mi, &ni, a, &mi, tau, &w1, &lwork, &info);
        if (!ronly) L->orgqr(&mi, &qci, &ki, q, &mi, tau, &w2, &lwork, &info);
        lwork = (int)(w1 > w2 ? w1 : w2);
        if (lwork < (int)(m + n)) lwork = (int)(m + n);
        work = malloc(sizeof(double) * (size_t)lwork);
        if (!work) goto oom;
        for (int64_t b = 0; b < count; b++) {
            load_cm(A, off[b], m, n, A->strides[nb], A->strides[nb + 1], a, m);
            L->geqrf(&mi, &ni, a, &mi, tau, work, &lwork, &info);
            double *rp = (double *)ct_tensor_data(R);
            float *rf = (float *)ct_tensor_data(R);
            for (int64_t i = 0; i < rr; i++)
                for (int64_t j = 0; j < n; j++) {
                    double v = i <= j && i < m ? a[i + j * m] : 0;
                    if (R->dtype == CT_FLOAT64)
                        rp[b * rr * n + i * n + j] = v;
                    else
                        rf[b * rr * n + i * n + j] = (float)v;
                }
            if (ronly) continue;
            int64_t cp = qc < n ? qc : n;
            memcpy(q, a, sizeof(double) * (size_t)(m * cp));
            L->orgqr(&mi, &qci, &ki, q, &mi, tau, work, &lwork, &info);
            store_rm(Q, b * m * qc, m, qc, q, m, false);
        }
    }
    free(off), free(a), free(q), free(tau), free(work);
    *out0 = Q;
    *out1 = R;
    return 0;
oom:
    ct_error(CT_ERR_MEMORY, "[%s] out of memory", op);
fail:
    free(off), free(a), free(q), free(tau), free(work);
    ct_tensor_release(Q), ct_tensor_release(R);
    return -1;
}

/* ------------------------------------------------------------------ svd family */

/* SVD of each matrix: S (batch, k); U, Vh when jobz is 'A' or 'S' (NULL outputs skipped).
 * Results also handed back in double (sv: batch*k) when svout is given. */
static int svd_impl(const char *op, ct_tensor *A, char jobz, ct_tensor **U, ct_tensor **S, ct_tensor **Vh) {
    if (check_matrix(op, A, false)) return -1;
    int nb = A->ndim - 2;
    int64_t m = A->sizes[nb], n = A->sizes[nb + 1], k = m < n ? m : n;
    int64_t count = prod(A->sizes, nb);
    int64_t ucols = jobz == 'A' ? m : k, vrows = jobz == 'A' ? n : k;
    int64_t sh[CT_MAX_DIM];
    memcpy(sh, A->sizes, sizeof(int64_t) * (size_t)nb);
    sh[nb] = k;
    ct_tensor *s = ct_empty(sh, nb + 1, A->dtype), *u = NULL, *vh = NULL;
    int64_t *off = NULL;
    double *a = NULL, *sv = NULL, *ub = NULL, *vb = NULL, *work = NULL;
    int *iwork = NULL;
    if (!s) goto fail;
    if (jobz != 'N') {
        sh[nb] = m, sh[nb + 1] = ucols;
        u = ct_empty(sh, nb + 2, A->dtype);
        sh[nb] = vrows, sh[nb + 1] = n;
        vh = u ? ct_empty(sh, nb + 2, A->dtype) : NULL;
        if (!vh) goto fail;
    }
    if (count > 0 && k == 0 && jobz != 'N') { /* identity factors for empty matrices */
        for (int64_t b = 0; b < count; b++) {
            for (int64_t i = 0; i < m * ucols; i++) store1(u, b * m * ucols + i, (i / ucols) == (i % ucols));
            for (int64_t i = 0; i < vrows * n; i++) store1(vh, b * vrows * n + i, (i / n) == (i % n));
        }
    }
    if (count > 0 && k > 0) {
        const ct_lapack *L = ct_lapack_get(op);
        if (!L) goto fail;
        int mi = (int)m, ni = (int)n, ldu = (int)m, ldvt = (int)(vrows > 0 ? vrows : 1), info, lwork = -1;
        off = batch_offsets(A, 2, nb, A->sizes, count);
        a = malloc(sizeof(double) * (size_t)(m * n));
        sv = malloc(sizeof(double) * (size_t)k);
        ub = malloc(sizeof(double) * (size_t)(m * ucols + 1));
        vb = malloc(sizeof(double) * (size_t)(vrows * n + 1));
        iwork = malloc(sizeof(int) * (size_t)(8 * k));
        if (!off || !a || !sv || !ub || !vb || !iwork) goto oom;
        double wq = 0;
        L->gesdd(&jobz, &mi, &ni, a, &mi, sv, ub, &ldu, vb, &ldvt, &wq, &lwork, iwork, &info, 1);
        lwork = (int)wq + 1;
        work = malloc(sizeof(double) * (size_t)lwork);
        if (!work) goto oom;
        for (int64_t b = 0; b < count; b++) {
            load_cm(A, off[b], m, n, A->strides[nb], A->strides[nb + 1], a, m);
            L->gesdd(&jobz, &mi, &ni, a, &mi, sv, ub, &ldu, vb, &ldvt, work, &lwork, iwork, &info, 1);
            if (info > 0) {
                char tb[64];
                ct_error(CT_ERR_LINALG, "[%s] %s%s: The algorithm failed to converge because the input matrix is "
                         "ill-conditioned or has too many repeated singular values (error code: %d).", op,
                         batch_tag(tb, sizeof tb, nb, b), op, info);
                goto fail;
            }
            for (int64_t i = 0; i < k; i++) store1(s, b * k + i, sv[i]);
            if (jobz != 'N') {
                store_rm(u, b * m * ucols, m, ucols, ub, m, false);
                store_rm(vh, b * vrows * n, vrows, n, vb, vrows, false);
            }
        }
    }
    free(off), free(a), free(sv), free(ub), free(vb), free(work), free(iwork);
    *S = s;
    if (U) *U = u;
    else ct_tensor_release(u);
    if (Vh) *Vh = vh;
    else ct_tensor_release(vh);
    return 0;
oom:
    ct_error(CT_ERR_MEMORY, "[%s] out of memory", op);
fail:
    free(off), free(a), free(sv), free(ub), free(vb), free(work), free(iwork);
    ct_tensor_release(s), ct_tensor_release(u), ct_tensor_release(vh);
    return -1;
}

static int check_driver(const char *op, const char *driver) {
    if (driver && strcmp(driver, "gesvd") && strcmp(driver, "gesvdj") && strcmp(driver, "gesvda"))
        return ct_errorf(CT_ERR_RUNTIME, "[%s] driver should be one of None, 'gesvd', 'gesvdj' or 'gesvda'", op);
    if (driver)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] keyword argument `driver=` is only supported on CUDA inputs with "
                         "cuSOLVER backend.", op);
    return 0;
}

int ct_linalg_svd_impl(ct_tensor *A, bool full_matrices, const char *driver, ct_tensor **out0, ct_tensor **out1,
                  ct_tensor **out2) {
    if (check_driver("linalg.svd", driver)) return -1;
    return svd_impl("linalg.svd", A, full_matrices ? 'A' : 'S', out0, out1, out2);
}

ct_tensor *ct_linalg_svdvals_impl(ct_tensor *A, const char *driver) {
    ct_tensor *s = NULL;
    if (check_driver("linalg.svdvals", driver)) return NULL;
    return svd_impl("linalg.svdvals", A, 'N', NULL, &s, NULL) ? NULL : s;
}

/* ------------------------------------------------------------------ eigh */

static int eigh_impl(const char *op, ct_tensor *A, const char *UPLO, bool vectors, ct_tensor **W, ct_tensor **V) {
    if (!UPLO || strlen(UPLO) != 1 || (UPLO[0] != 'L' && UPLO[0] != 'U' && UPLO[0] != 'l' && UPLO[0] != 'u'))
        return ct_errorf(CT_ERR_RUNTIME, "[%s] Expected UPLO argument to be 'L' or 'U', but got %s", op, UPLO ? UPLO : "None");
    if (check_matrix(op, A, true)) return -1;
    int nb = A->ndim - 2;
    int64_t n = A->sizes[nb], count = prod(A->sizes, nb);
    ct_tensor *w = ct_empty(A->sizes, nb + 1, A->dtype);
    ct_tensor *v = vectors && w ? ct_empty(A->sizes, A->ndim, A->dtype) : NULL;
    int64_t *off = NULL;
    double *a = NULL, *wb = NULL, *work = NULL;
    int *iwork = NULL;
    if (!w || (vectors && !v)) goto fail;
    if (count > 0 && n > 0) {
        const ct_lapack *L = ct_lapack_get(op);
        if (!L) goto fail;
        char jobz = vectors ? 'V' : 'N', uplo = (char)(UPLO[0] & ~0x20);
        int ni = (int)n, info, lwork = -1, liwork = -1, iq = 0;
        double wq = 0;
        off = batch_offsets(A, 2, nb, A->sizes, count);
        a = malloc(sizeof(double) * (size_t)(n * n));
        wb = malloc(sizeof(double) * (size_t)n);
        if (!off || !a || !wb) goto oom;
        L->syevd(&jobz, &uplo, &ni, a, &ni, wb, &wq, &lwork, &iq, &liwork, &info, 1, 1);
        lwork = (int)wq + 1;
        liwork = iq + 1;
        work = malloc(sizeof(double) * (size_t)lwork);
        iwork = malloc(sizeof(int) * (size_t)liwork);
        if (!work || !iwork) goto oom;
        for (int64_t b = 0; b < count; b++) {
            load_cm(A, off[b], n, n, A->strides[nb], A->strides[nb + 1], a, n);
            L->syevd(&jobz, &uplo, &ni, a, &ni, wb, work, &lwork, iwork, &liwork, &info, 1, 1);
            if (info > 0) {
                char tb[64];
                ct_error(CT_ERR_LINALG, "[%s] %s%s: The algorithm failed to converge because the input matrix is "
                         "ill-conditioned or has too many repeated eigenvalues (error code: %d).", op,
                         batch_tag(tb, sizeof tb, nb, b), op, info);
                goto fail;
            }
            for (int64_t i = 0; i < n; i++) store1(w, b * n + i, wb[i]);
            if (vectors) store_rm(v, b * n * n, n, n, a, n, false);
        }
    }
    free(off), free(a), free(wb), free(work), free(iwork);
    *W = w;
    if (V) *V = v;
    return 0;
oom:
    ct_error(CT_ERR_MEMORY, "[%s] out of memory", op);
fail:
    free(off), free(a), free(wb), free(work), free(iwork);
    ct_tensor_release(w), ct_tensor_release(v);
    return -1;
}

int ct_linalg_eigh_impl(ct_tensor *A, const char *UPLO, ct_tensor **out0, ct_tensor **out1) {
    return eigh_impl("linalg.eigh", A, UPLO, true, out0, out1);
}

ct_tensor *ct_linalg_eigvalsh_impl(ct_tensor *A, const char *UPLO) {
    ct_tensor *w = NULL;
    return eigh_impl("linalg.eigvalsh", A, UPLO, false, &w, NULL) ? NULL : w;
}

/* ------------------------------------------------------------------ lstsq */

int ct_linalg_lstsq_impl(ct_tensor *A, ct_tensor *B, const double *rcond, const char *driver, ct_tensor **out0,
                    ct_tensor **out1, ct_tensor **out2, ct_tensor **out3) {
    const char *op = "linalg.lstsq";
    const char *drv = driver ? driver : "gelsy";
    int kind = !strcmp(drv, "gelsy") ? 0 : !strcmp(drv, "gelsd") ? 1 : !strcmp(drv, "gelss") ? 2 : !strcmp(drv, "gels") ? 3 : -1;
    if (kind < 0)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] torch.linalg.lstsq: parameter `driver` should be one of (gels, gelsy, "
                         "gelsd, gelss)", op);
    if (check_matrix(op, A, false) || check_float(op, B, "B")) return -1;
    if (A->dtype != B->dtype)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] torch.linalg.lstsq: Expected input and other to have the same dtype, "
                         "but got input's dtype %s and other's dtype %s", op, ct_dtype_name(A->dtype),
                         ct_dtype_name(B->dtype));
    bool vec = B->ndim == A->ndim - 1;
    int bmat = vec ? 1 : 2;
    if (B->ndim < bmat) return ct_errorf(CT_ERR_RUNTIME, "[%s] input must have at least 2 dimensions.", op);
    int nb0 = A->ndim - 2;
    int64_t m = A->sizes[nb0], n = A->sizes[nb0 + 1], k = vec ? 1 : B->sizes[B->ndim - 1];
    if (B->sizes[B->ndim - bmat] != m)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] torch.linalg.lstsq: input.size(-2) should match other.size(-%d)", op, bmat);
    int64_t bshape[CT_MAX_DIM];
    int nb = ct_broadcast_shapes(A->sizes, nb0, B->sizes, B->ndim - bmat, bshape, op);
    if (nb < 0) return -1;
    int64_t count = prod(bshape, nb), mn = m < n ? m : n, ldb = m > n ? m : n;
    if (ldb < 1) ldb = 1;
    int64_t sh[CT_MAX_DIM];
    memcpy(sh, bshape, sizeof(int64_t) * (size_t)nb);
    sh[nb] = n, sh[nb + 1] = k;
    ct_tensor *X = ct_empty(sh, nb + bmat, A->dtype), *res = NULL, *rank = NULL, *sv = NULL;
    int64_t *ao = NULL, *bo = NULL;
    double *a = NULL, *b = NULL, *s = NULL, *work = NULL;
    int *iw = NULL, *rk = NULL;
    if (!X) goto fail;
    rank = kind == 3 ? empty1(CT_INT64) : ct_empty(bshape, nb, CT_INT64);
    sh[nb] = mn;
    sv = (kind == 1 || kind == 2) ? ct_empty(sh, nb + 1, A->dtype) : empty1(A->dtype);
    if (!rank || !sv) goto fail;
    rk = calloc((size_t)(count > 0 ? count : 1), sizeof(int));
    double *resid = calloc((size_t)((count > 0 ? count : 1) * k), sizeof(double));
    if (!rk || !resid) {
        free(resid);
        goto oom;
    }
    if (count > 0) {
        const ct_lapack *L = NULL;
        if (m > 0 && n > 0 && !(L = ct_lapack_get(op))) {
            free(resid);
            goto fail;
        }
        int mi = (int)m, ni = (int)n, ki = (int)k, ldbi = (int)ldb, info, lwork = -1, r = 0;
        double rc = rcond ? *rcond : dtype_eps(A->dtype) * (double)(m > n ? m : n);
        ao = batch_offsets(A, 2, nb, bshape, count);
        bo = batch_offsets(B, bmat, nb, bshape, count);
        a = malloc(sizeof(double) * (size_t)(m * n + 1));
        b = malloc(sizeof(double) * (size_t)(ldb * k + 1));
        s = malloc(sizeof(double) * (size_t)(mn + 1));
        iw = malloc(sizeof(int) * (size_t)(n + 1));
        if (!ao || !bo || !a || !b || !s || !iw) {
            free(resid);
            goto oom;
        }
        double wq = 0;
        int iq = 0;
        if (L && k > 0) {
            if (kind == 0) L->gelsy(&mi, &ni, &ki, a, &mi, b, &ldbi, iw, &rc, &r, &wq, &lwork, &info);
            else if (kind == 1) L->gelsd(&mi, &ni, &ki, a, &mi, b, &ldbi, s, &rc, &r, &wq, &lwork, &iq, &info);
            else if (kind == 2) L->gelss(&mi, &ni, &ki, a, &mi, b, &ldbi, s, &rc, &r, &wq, &lwork, &info);
            else {
                char t = 'N';
                L->gels(&t, &mi, &ni, &ki, a, &mi, b, &ldbi, &wq, &lwork, &info, 1);
            }
            lwork = (int)wq + 1;
            work = malloc(sizeof(double) * (size_t)lwork);
            if (kind == 1) {
                free(iw);
                iw = malloc(sizeof(int) * (size_t)(iq > 1 ? iq : 1));
            }
            if (!work || !iw) {
                free(resid);
                goto oom;
            }
        }
        for (int64_t bi = 0; bi < count; bi++) {
            load_cm(A, ao[bi], m, n, A->strides[nb0], A->strides[nb0 + 1], a, m);
            for (int64_t i = 0; i < ldb * k; i++) b[i] = 0;
            load_cm(B, bo[bi], m, k, B->strides[B->ndim - bmat], vec ? 0 : B->strides[B->ndim - 1], b, ldb);
            r = 0;
            for (int64_t i = 0; i < mn; i++) s[i] = 0;
            if (L && k > 0) {
                if (kind == 0) {
                    for (int64_t i = 0; i < n; i++) iw[i] = 0;
                    L->gelsy(&mi, &ni, &ki, a, &mi, b, &ldbi, iw, &rc, &r, work, &lwork, &info);
                } else if (kind == 1) {
                    L->gelsd(&mi, &ni, &ki, a, &mi, b, &ldbi, s, &rc, &r, work, &lwork, iw, &info);
                } else if (kind == 2) {
                    L->gelss(&mi, &ni, &ki, a, &mi, b, &ldbi, s, &rc, &r, work, &lwork, &info);
                } else {
                    char t = 'N';
                    L->gels(&t, &mi, &ni, &ki, a, &mi, b, &ldbi, work, &lwork, &info, 1);
                    r = (int)n;
                }
                if (info > 0) {
                    free(resid);
                    ct_error(CT_ERR_LINALG, "[%s] torch.linalg.lstsq: The least squares solution could not be "
                             "computed because the input matrix does not have full rank (error code: %d).", op, info);
                    goto fail;
                }
            } else if (L && k == 0 && kind == 1) {
                r = 0;
            }
            rk[bi] = r;
            for (int64_t j = 0; j < k; j++) {
                double acc = 0;
                for (int64_t i = n; i < m; i++) acc += b[i + j * ldb] * b[i + j * ldb];
                resid[bi * k + j] = acc;
            }
            store_rm(X, bi * n * k, n, k, b, ldb, false);
            if (kind != 3) store1(rank, bi, r);
            if (kind == 1 || kind == 2)
                for (int64_t i = 0; i < mn; i++) store1(sv, bi * mn + i, s[i]);
        }
    }
    /* Residuals: only for the drivers other than gelsy, when m > n and every matrix has full rank. */
    bool full = kind != 0 && m > n;
    for (int64_t bi = 0; bi < count && full; bi++) full = rk[bi] == n;
    if (full) {
        sh[nb] = k;
        res = ct_empty(sh, nb + 1, A->dtype);
        if (res)
            for (int64_t i = 0; i < count * k; i++) store1(res, i, resid[i]);
    } else {
        res = empty1(A->dtype);
    }
    free(resid);
    if (!res) goto fail;
    free(ao), free(bo), free(a), free(b), free(s), free(work), free(iw), free(rk);
    *out0 = X, *out1 = res, *out2 = rank, *out3 = sv;
    return 0;
oom:
    ct_error(CT_ERR_MEMORY, "[%s] out of memory", op);
fail:
    free(ao), free(bo), free(a), free(b), free(s), free(work), free(iw), free(rk);
    ct_tensor_release(X), ct_tensor_release(res), ct_tensor_release(rank), ct_tensor_release(sv);
    return -1;
}

/* ------------------------------------------------------------------ pinv, matrix_rank */

/* Singular values (or |eigenvalues|) tolerance: max(atol, rtol * largest). */
static double tol_of(const double *atol, const double *rtol, int dtype, int64_t m, int64_t n, double smax) {
    double r = rtol ? *rtol : (atol && *atol > 0) ? 0.0 : dtype_eps(dtype) * (double)(m > n ? m : n);
    double a = atol ? *atol : 0.0;
    return a > r * smax ? a : r * smax;
}

/* Spectral factors in double of every matrix: U (m x k), s (k), V^T (k x n) (hermitian:
 * U = V = eigenvectors, s = eigenvalues (signed)). */
static int factor_all(const char *op, ct_tensor *A, bool hermitian, ct_tensor **U, ct_tensor **S, ct_tensor **Vh) {
    ct_tensor *Ad = ct_contig_as(A, CT_FLOAT64);
    if (!Ad) return -1;
    int rc;
    *U = NULL;
    if (Vh) *Vh = NULL;
    if (hermitian) {
        rc = eigh_impl(op, Ad, "L", Vh != NULL, S, Vh ? U : NULL);
        if (!rc && Vh) { /* V = U: the eigenvectors */
            *Vh = *U;
            ct_tensor_retain(*Vh);
        }
    } else {
        rc = svd_impl(op, Ad, Vh ? 'S' : 'N', Vh ? U : NULL, S, Vh);
    }
    ct_tensor_release(Ad);
    return rc;
}

ct_tensor *ct_linalg_pinv_impl(ct_tensor *A, const double *atol, const double *rtol, bool hermitian) {
    const char *op = "linalg.pinv";
    if (check_matrix(op, A, hermitian)) return NULL;
    int nb = A->ndim - 2;
    int64_t m = A->sizes[nb], n = A->sizes[nb + 1], k = m < n ? m : n, count = prod(A->sizes, nb);
    int64_t sh[CT_MAX_DIM];
    memcpy(sh, A->sizes, sizeof(int64_t) * (size_t)nb);
    sh[nb] = n, sh[nb + 1] = m;
    ct_tensor *out = ct_empty(sh, nb + 2, A->dtype);
    if (!out || count == 0) return out;
    if (k == 0) {
        for (int64_t i = 0; i < out->numel; i++) store1(out, i, 0);
        return out;
    }
    ct_tensor *U = NULL, *S = NULL, *Vh = NULL;
    double *tmp = malloc(sizeof(double) * (size_t)(m * k + n * m));
    if (!tmp) {
        ct_tensor_release(out);
        return ct_error(CT_ERR_MEMORY, "[%s] out of memory", op);
    }
    if (factor_all(op, A, hermitian, &U, &S, &Vh)) goto fail;
    const double *u = ct_tensor_data(U), *s = ct_tensor_data(S), *vh = ct_tensor_data(Vh);
    double *us = tmp, *res = tmp + m * k;
    for (int64_t b = 0; b < count; b++) {
        const double *ub = u + b * m * k, *sb = s + b * k, *vb = vh + b * k * n;
        double smax = 0;
        for (int64_t i = 0; i < k; i++) smax = fabs(sb[i]) > smax ? fabs(sb[i]) : smax;
        double tol = tol_of(atol, rtol, A->dtype, m, n, smax);
        /* pinv = V diag(1/s) U^T; hermitian: V = U (eigenvectors), s signed. */
        for (int64_t i = 0; i < m; i++)
            for (int64_t l = 0; l < k; l++) us[i * k + l] = fabs(sb[l]) > tol && sb[l] != 0 ? ub[i * k + l] / sb[l] : 0;
        /* res (n x m) = Vh^T (n x k) @ us^T (k x m); hermitian: Vh is U (n x n), use its columns. */
        if (hermitian)
            ct_dgemm(n, m, k, 1.0, vb, k, 1, us, 1, k, 0.0, res, m, 1);
        else
            ct_dgemm(n, m, k, 1.0, vb, 1, n, us, 1, k, 0.0, res, m, 1);
        for (int64_t i = 0; i < n * m; i++) store1(out, b * n * m + i, res[i]);
    }
    free(tmp);
    ct_tensor_release(U), ct_tensor_release(S), ct_tensor_release(Vh);
    return out;
fail:
    free(tmp);
    ct_tensor_release(U), ct_tensor_release(S), ct_tensor_release(Vh);
    ct_tensor_release(out);
    return NULL;
}

ct_tensor *ct_linalg_matrix_rank(ct_tensor *A, const double *atol, const double *rtol, bool hermitian) {
    const char *op = "linalg.matrix_rank";
    if (check_matrix(op, A, hermitian)) return NULL;
    int nb = A->ndim - 2;
    int64_t m = A->sizes[nb], n = A->sizes[nb + 1], k = m < n ? m : n, count = prod(A->sizes, nb);
    ct_tensor *out = ct_empty(A->sizes, nb, CT_INT64);
    if (!out || count == 0) return out;
    if (k == 0) {
        for (int64_t i = 0; i < count; i++) store1(out, i, 0);
        return out;
    }
    ct_tensor *S = NULL, *U = NULL;
    if (factor_all(op, A, hermitian, &U, &S, NULL)) {
        ct_tensor_release(out);
        return NULL;
    }
    const double *s = ct_tensor_data(S);
    for (int64_t b = 0; b < count; b++) {
        double smax = 0;
        for (int64_t i = 0; i < k; i++) smax = fabs(s[b * k + i]) > smax ? fabs(s[b * k + i]) : smax;
        double tol = tol_of(atol, rtol, A->dtype, m, n, smax);
        int64_t r = 0;
        for (int64_t i = 0; i < k; i++) r += fabs(s[b * k + i]) > tol;
        store1(out, b, (double)r);
    }
    ct_tensor_release(S);
    return out;
}
