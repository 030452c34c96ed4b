/* Scaled dot-product attention, forward and backward (ops nn_sdpa / nn_sdpa_backward).
 *
 * Per batch-head n (parallel over n): S = scale * Q K^T (GEMM), + mask, causal (top-left aligned:
 * key j visible from query i when j <= i), row softmax (rows with every key masked give zeros),
 * optional dropout mask, O = P V (GEMM). The backward recomputes P from Q, K (nothing of size
 * L x S is kept between forward and backward) and does four GEMMs:
 *   dV = Pd^T dO, dPd = dO V^T, dP = dPd * M, dS = P * (dP - rowsum(dP * P)),
 *   dQ = scale dS K, dK = scale dS^T Q. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ctorch/ops_gen.h"
#include "../../core/internal.h"
#include "gemm.h"

typedef struct {
    int64_t L, S, E, Ev;
    const void *q, *k, *v, *go;
    const void *mask; int64_t ms0, ms1, ms2;
    const void *dmask; int64_t ds0, ds1, ds2;
    bool causal;
    double scale;
    void *out, *w;
    void *dq, *dk, *dv;
    volatile int failed; /* a worker could not get its scratch */
} sdpa_ctx;

#define SDPA_DEFINE(T, SUF, EXP, GEMM)                                                                       \
    /* P (L, S) = softmax(scale Q K^T + mask) for batch n; returns nothing, P filled. */                      \
    static void probs_##SUF(const sdpa_ctx *c, int64_t n, T *P) {                                            \
        const int64_t L = c->L, S = c->S, E = c->E;                                                          \
        const T *q = (const T *)c->q + n * L * E, *k = (const T *)c->k + n * S * E;                          \
        GEMM(L, S, E, (T)c->scale, q, E, 1, k, 1, E, (T)0, P, S, 1);                                         \
        for (int64_t i = 0; i < L; i++) {                                                                    \
            T *row = P + i * S;                                                                              \
            if (c->mask) {                                                                                   \
                const T *m = (const T *)c->mask + n * c->ms0 + i * c->ms1;                                   \
                for (int64_t j = 0; j < S; j++) row[j] += m[j * c->ms2];                                     \
            }                                                                                                \
            int64_t lim = c->causal ? (i + 1 < S ? i + 1 : S) : S;                                           \
            for (int64_t j = lim; j < S; j++) row[j] = -INFINITY;                                            \
            T mx = -INFINITY;                                                                                \
            for (int64_t j = 0; j < lim; j++) mx = row[j] > mx ? row[j] : mx;                                \
            if (mx == -INFINITY) {                                                                           \
                for (int64_t j = 0; j < S; j++) row[j] = 0;                                                  \
                continue;                                                                                    \
            }                                                                                                \
            T sum = 0;                                                                                       \
            for (int64_t j = 0; j < lim; j++) {                                                              \
                T e = EXP(row[j] - mx);                                                                      \
                row[j] = e;                                                                                  \
                sum += e;                                                                                    \
            }                                                                                                \
            T inv = (T)1 / sum;                                                                              \
            for (int64_t j = 0; j < lim; j++) row[j] *= inv;                                                 \
            for (int64_t j = lim; j < S; j++) row[j] = 0;                                                    \
        }                                                                                                    \
    }                                                                                                        \
    static void apply_dmask_##SUF(const sdpa_ctx *c, int64_t n, const T *P, T *Pd) {                         \
        for (int64_t i = 0; i < c->L; i++) {                                                                 \
            const T *m = (const T *)c->dmask + n * c->ds0 + i * c->ds1;                                      \
            for (int64_t j = 0; j < c->S; j++) Pd[i * c->S + j] = P[i * c->S + j] * m[j * c->ds2];           \
        }                                                                                                    \
    }                                                                                                        \
    static void fw_##SUF(int64_t n0, int64_t n1, void *vc) {                                                 \
        const sdpa_ctx *c = vc;                                                                              \
        const int64_t L = c->L, S = c->S, Ev = c->Ev;                                                        \
        T *P = malloc((size_t)(2 * L * S + 1) * sizeof(T)), *Pd = P + L * S;                                 \
        if (!P) {                                                                                            \
            ((sdpa_ctx *)vc)->failed = 1;                                                                    \
            return;                                                                                          \
        }                                                                                                    \
        for (int64_t n = n0; n < n1; n++) {                                                                  \
            probs_##SUF(c, n, P);                                                                            \
            T *use = P;                                                                                      \
            if (c->dmask) {                                                                                  \
                apply_dmask_##SUF(c, n, P, Pd);                                                              \
                use = Pd;                                                                                    \
            }                                                                                                \
            if (c->w) memcpy((T *)c->w + n * L * S, use, (size_t)(L * S) * sizeof(T));                       \
            GEMM(L, Ev, S, (T)1, use, S, 1, (const T *)c->v + n * S * Ev, Ev, 1, (T)0,                       \
                 (T *)c->out + n * L * Ev, Ev, 1);                                                           \
        }                                                                                                    \
        free(P);                                                                                             \
    }                                                                                                        \
    static void bw_##SUF(int64_t n0, int64_t n1, void *vc) {                                                 \
        const sdpa_ctx *c = vc;                                                                              \
        const int64_t L = c->L, S = c->S, E = c->E, Ev = c->Ev;                                              \
        T *P = malloc((size_t)(3 * L * S + 1) * sizeof(T)), *Pd = P + L * S, *dP = P + 2 * L * S;            \
        if (!P) {                                                                                            \
            ((sdpa_ctx *)vc)->failed = 1;                                                                    \
            return;                                                                                          \
        }                                                                                                    \
        for (int64_t n = n0; n < n1; n++) {                                                                  \
            const T *q = (const T *)c->q + n * L * E, *k = (const T *)c->k + n * S * E;                      \
            const T *v = (const T *)c->v + n * S * Ev, *go = (const T *)c->go + n * L * Ev;                  \
            probs_##SUF(c, n, P);                                                                            \
            const T *use = P;                                                                                \
            if (c->dmask) {                                                                                  \
                apply_dmask_##SUF(c, n, P, Pd);                                                              \
                use = Pd;                                                                                    \
            }                                                                                                \
            GEMM(S, Ev, L, (T)1, use, 1, S, go, Ev, 1, (T)0, (T *)c->dv + n * S * Ev, Ev, 1);                \
            GEMM(L, S, Ev, (T)1, go, Ev, 1, v, 1, Ev, (T)0, dP, S, 1);                                       \
            for (int64_t i = 0; i < L; i++) {                                                                \
                T *d = dP + i * S;                                                                           \
                const T *p = P + i * S;                                                                      \
                if (c->dmask) {                                                                              \
                    const T *m = (const T *)c->dmask + n * c->ds0 + i * c->ds1;                              \
                    for (int64_t j = 0; j < S; j++) d[j] *= m[j * c->ds2];                                   \
                }                                                                                            \
                T D = 0;                                                                                     \
                for (int64_t j = 0; j < S; j++) D += d[j] * p[j];                                            \
                for (int64_t j = 0; j < S; j++) d[j] = p[j] * (d[j] - D);                                    \
            }                                                                                                \
            GEMM(L, E, S, (T)c->scale, dP, S, 1, k, E, 1, (T)0, (T *)c->dq + n * L * E, E, 1);               \
            GEMM(S, E, L, (T)c->scale, dP, 1, S, q, E, 1, (T)0, (T *)c->dk + n * S * E, E, 1);               \
        }                                                                                                    \
        free(P);                                                                                             \
    }

SDPA_DEFINE(float, f32, expf, ct_sgemm)
SDPA_DEFINE(double, f64, exp, ct_dgemm)

static ct_tensor *contig_dt(ct_tensor *t, int dtype) {
    if (!t) return NULL;
    if (t->dtype == dtype && ct_tensor_is_contiguous(t)) {
        ct_tensor_retain(t);
        return t;
    }
    ct_tensor *c = t->dtype == dtype ? NULL : ct_to_dtype(t, dtype, false);
    if (t->dtype != dtype && !c) return NULL;
    ct_tensor *r = ct_contiguous(c ? c : t);
    if (c) ct_tensor_release(c);
    return r;
}

static int sdpa_setup(ct_tensor *q, ct_tensor *k, ct_tensor *v, ct_tensor *mask, ct_tensor *dmask, sdpa_ctx *c,
                      ct_tensor **mk, ct_tensor **dk) {
    int dt = q->dtype;
    if (dt != CT_FLOAT32 && dt != CT_FLOAT64)
        return ct_errorf(CT_ERR_RUNTIME, "[scaled_dot_product_attention] expected float32 or float64, got %s",
                         ct_dtype_name(dt));
    if (k->dtype != dt || v->dtype != dt)
        return ct_errorf(CT_ERR_RUNTIME, "[scaled_dot_product_attention] Expected query, key, and value to have the "
                                         "same dtype, but got query.dtype: %s key.dtype: %s and value.dtype: %s "
                                         "instead.", ct_dtype_name(dt), ct_dtype_name(k->dtype),
                         ct_dtype_name(v->dtype));
    if (q->ndim != 3 || k->ndim != 3 || v->ndim != 3 || k->sizes[0] != q->sizes[0] || v->sizes[0] != q->sizes[0] ||
        k->sizes[2] != q->sizes[2] || v->sizes[1] != k->sizes[1])
        return ct_errorf(CT_ERR_RUNTIME, "[scaled_dot_product_attention] inconsistent q/k/v shapes");
    memset(c, 0, sizeof *c);
    c->L = q->sizes[1];
    c->S = k->sizes[1];
    c->E = q->sizes[2];
    c->Ev = v->sizes[2];
    int64_t N = q->sizes[0];
    ct_tensor *ms[2] = {mask, dmask}, **outs[2] = {mk, dk};
    for (int i = 0; i < 2; i++) {
        *outs[i] = NULL;
        ct_tensor *m = ms[i];
        if (!m) continue;
        if (m->ndim != 3 || m->sizes[0] != N || m->sizes[1] != c->L || m->sizes[2] != c->S)
            return ct_errorf(CT_ERR_RUNTIME, "[scaled_dot_product_attention] mask must be (%lld, %lld, %lld)",
                             (long long)N, (long long)c->L, (long long)c->S);
        if (m->dtype != dt) {
            *outs[i] = ct_to_dtype(m, dt, false);
            if (!*outs[i]) return -1;
        } else {
            ct_tensor_retain(m);
            *outs[i] = m;
        }
    }
    if (*mk) {
        c->mask = ct_tensor_data(*mk);
        c->ms0 = (*mk)->strides[0];
        c->ms1 = (*mk)->strides[1];
        c->ms2 = (*mk)->strides[2];
    }
    if (*dk) {
        c->dmask = ct_tensor_data(*dk);
        c->ds0 = (*dk)->strides[0];
        c->ds1 = (*dk)->strides[1];
        c->ds2 = (*dk)->strides[2];
    }
    return 0;
}

int ct_nn_sdpa_impl(ct_tensor *q, ct_tensor *k, ct_tensor *v, ct_tensor *attn_mask, ct_tensor *dropout_mask,
                    bool is_causal, double scale, bool need_weights, ct_tensor **out0, ct_tensor **out1) {
    sdpa_ctx c;
    ct_tensor *mk = NULL, *dk = NULL;
    if (sdpa_setup(q, k, v, attn_mask, dropout_mask, &c, &mk, &dk)) {
        if (mk) ct_tensor_release(mk);
        return -1;
    }
    int dt = q->dtype;
    int64_t N = q->sizes[0];
    ct_tensor *qc = contig_dt(q, dt), *kc = contig_dt(k, dt), *vc = contig_dt(v, dt);
    int64_t so[3] = {N, c.L, c.Ev}, sw[3] = {N, need_weights ? c.L : 0, need_weights ? c.S : 0};
    ct_tensor *out = ct_empty(so, 3, dt), *w = ct_empty(sw, 3, dt);
    int rc = -1;
    if (!qc || !kc || !vc || !out || !w) goto done;
    c.q = ct_tensor_data(qc);
    c.k = ct_tensor_data(kc);
    c.v = ct_tensor_data(vc);
    c.causal = is_causal;
    c.scale = scale;
    c.out = ct_tensor_data(out);
    c.w = need_weights ? ct_tensor_data(w) : NULL;
    ct_parallel_for(N, 1, dt == CT_FLOAT32 ? fw_f32 : fw_f64, &c);
    if (c.failed) {
        ct_error(CT_ERR_MEMORY, "[scaled_dot_product_attention] out of memory");
        goto done;
    }
    *out0 = out;
    *out1 = w;
    out = w = NULL;
    rc = 0;
done:;
    ct_tensor *rel[] = {qc, kc, vc, out, w, mk, dk};
    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++)
        if (rel[i]) ct_tensor_release(rel[i]);
    return rc;
}

int ct_nn_sdpa_backward(ct_tensor *grad_out, ct_tensor *q, ct_tensor *k, ct_tensor *v, ct_tensor *attn_mask,
                        ct_tensor *dropout_mask, bool is_causal, double scale, ct_tensor **out0, ct_tensor **out1,
                        ct_tensor **out2) {
    sdpa_ctx c;
    ct_tensor *mk = NULL, *dk = NULL;
    if (sdpa_setup(q, k, v, attn_mask, dropout_mask, &c, &mk, &dk)) {
        if (mk) ct_tensor_release(mk);
        return -1;
    }
    int dt = q->dtype;
    int64_t N = q->sizes[0];
    ct_tensor *qc = contig_dt(q, dt), *kc = contig_dt(k, dt), *vc = contig_dt(v, dt), *gc = contig_dt(grad_out, dt);
    int64_t sq[3] = {N, c.L, c.E}, sk[3] = {N, c.S, c.E}, sv[3] = {N, c.S, c.Ev};
    ct_tensor *dq = ct_empty(sq, 3, dt), *dkk = ct_empty(sk, 3, dt), *dv = ct_empty(sv, 3, dt);
    int rc = -1;
    if (!qc || !kc || !vc || !gc || !dq || !dkk || !dv) goto done;
    if (gc->numel != N * c.L * c.Ev) {
        ct_error(CT_ERR_RUNTIME, "[scaled_dot_product_attention backward] bad gradient shape");
        goto done;
    }
    c.q = ct_tensor_data(qc);
    c.k = ct_tensor_data(kc);
    c.v = ct_tensor_data(vc);
    c.go = ct_tensor_data(gc);
    c.causal = is_causal;
    c.scale = scale;
    c.dq = ct_tensor_data(dq);
    c.dk = ct_tensor_data(dkk);
    c.dv = ct_tensor_data(dv);
    ct_parallel_for(N, 1, dt == CT_FLOAT32 ? bw_f32 : bw_f64, &c);
    if (c.failed) {
        ct_error(CT_ERR_MEMORY, "[scaled_dot_product_attention backward] out of memory");
        goto done;
    }
    *out0 = dq;
    *out1 = dkk;
    *out2 = dv;
    dq = dkk = dv = NULL;
    rc = 0;
done:;
    ct_tensor *rel[] = {qc, kc, vc, gc, dq, dkk, dv, mk, dk};
    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++)
        if (rel[i]) ct_tensor_release(rel[i]);
    return rc;
}
