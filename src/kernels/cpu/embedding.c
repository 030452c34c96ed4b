/* Embedding lookups: embedding (row gather, backward scatter-add that skips padding_idx and
 * may scale by index frequency), max_norm renormalisation in place, and embedding_bag
 * (sum / mean / max over bags given by offsets, per_sample_weights for sum). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ctorch/autograd.h"
#include "ctorch/ops_gen.h"
#include "nn.h"

static int check_indices(ct_tensor *indices, const char *arg) {
    if (indices->dtype != CT_INT64 && indices->dtype != CT_INT32) {
        static const char *n[] = {"Bool", "Byte", "Char", "Short", "Int", "Long", "Half", "BFloat16", "Float", "Double"};
        return ct_errorf(CT_ERR_RUNTIME,
                         "Expected tensor for argument #1 '%s' to have one of the following scalar types: Long, Int; "
                         "but got torch.%sTensor instead (while checking arguments for embedding)",
                         arg, n[indices->dtype]);
    }
    return 0;
}

/* indices as a contiguous int64 copy, range-checked against num. */
static ct_tensor *index_copy64(ct_tensor *indices, int64_t num) {
    ct_tensor *ix = ct_contig_as(indices, CT_INT64);
    if (!ix) return NULL;
    const int64_t *d = ct_tensor_data(ix);
    for (int64_t i = 0; i < ix->numel; i++)
        if (d[i] < 0 || d[i] >= num) {
            ct_tensor_release(ix);
            return ct_error(CT_ERR_INDEX, "index out of range in self");
        }
    return ix;
}

typedef struct {
    const char *w;
    char *out;
    const int64_t *idx;
    int64_t D, esz;
} gather_ctx;

static void gather_rows(int64_t b, int64_t e, void *vctx) {
    const gather_ctx *c = vctx;
    size_t row = (size_t)(c->D * c->esz);
    for (int64_t i = b; i < e; i++) memcpy(c->out + i * row, c->w + c->idx[i] * row, row);
}

ct_tensor *ct_nn_embedding_impl(ct_tensor *weight, ct_tensor *indices, int64_t padding_idx, bool scale_grad_by_freq,
                                bool sparse) {
    (void)padding_idx, (void)scale_grad_by_freq, (void)sparse;
    if (weight->ndim != 2) return ct_error(CT_ERR_RUNTIME, "'weight' must be 2-D");
    if (check_indices(indices, "indices")) return NULL;
    ct_tensor *ix = index_copy64(indices, weight->sizes[0]);
    if (!ix) return NULL;
    ct_tensor *w = ct_contiguous_impl(weight);
    int64_t sz[CT_MAX_DIM];
    for (int i = 0; i < indices->ndim; i++) sz[i] = indices->sizes[i];
    sz[indices->ndim] = weight->sizes[1];
    ct_tensor *out = w ? ct_empty(sz, indices->ndim + 1, weight->dtype) : NULL;
    if (out && ix->numel) {
        gather_ctx c = {ct_tensor_data(w), ct_tensor_data(out), ct_tensor_data(ix), weight->sizes[1],
                        ct_dtype_sizes[weight->dtype]};
        ct_parallel_for(ix->numel, 1024, gather_rows, &c);
    }
    ct_tensor_release(w);
    ct_tensor_release(ix);
    return out;
}

/* dW[num, D] = sum over positions of grad rows at their index (padding_idx skipped). */
ct_tensor *ct_nn_embedding_backward(ct_tensor *grad, ct_tensor *indices, int64_t num, int64_t padding_idx,
                                    bool scale_grad_by_freq, int dtype) {
    ct_tensor *ix = ct_contig_as(indices, CT_INT64);
    ct_tensor *g = ix ? ct_contig_as(grad, CT_FLOAT64) : NULL;
    int64_t D = grad->ndim ? grad->sizes[grad->ndim - 1] : 1;
    int64_t sz[2] = {num, D};
    ct_tensor *dw = g ? ct_zeros((ct_intlist){sz, 2}, CT_FLOAT64, -1) : NULL;
    ct_tensor *res = NULL;
    int64_t *cnt = NULL;
    if (!dw) goto done;
    const int64_t *id = ct_tensor_data(ix);
    const double *gd = ct_tensor_data(g);
    double *wd = ct_tensor_data(dw);
    if (scale_grad_by_freq) {
        cnt = calloc((size_t)(num > 0 ? num : 1), sizeof(int64_t));
        if (!cnt) {
            ct_error(CT_ERR_RUNTIME, "out of memory");
            goto done;
        }
        for (int64_t i = 0; i < ix->numel; i++) cnt[id[i]]++;
    }
    for (int64_t i = 0; i < ix->numel; i++) {
        int64_t r = id[i];
        if (r == padding_idx) continue;
        double s = cnt ? 1.0 / (double)cnt[r] : 1.0;
        double *dst = wd + r * D;
        const double *src = gd + i * D;
        for (int64_t k = 0; k < D; k++) dst[k] += s * src[k];
    }
    res = ct_to_dtype(dw, dtype, false);
done:
    free(cnt);
    ct_tensor_release(ix);
    ct_tensor_release(g);
    ct_tensor_release(dw);
    return res;
}

ct_tensor *ct_nn_embedding_renorm_(ct_tensor *self, ct_tensor *indices, double max_norm, double norm_type) {
    if (self->ndim != 2) return ct_error(CT_ERR_RUNTIME, "'weight' must be 2-D");
    if (check_indices(indices, "indices")) return NULL;
    ct_tensor *ix = index_copy64(indices, self->sizes[0]);
    if (!ix) return NULL;
    int64_t num = self->sizes[0], D = self->sizes[1];
    char *seen = calloc((size_t)(num > 0 ? num : 1), 1);
    if (!seen) {
        ct_tensor_release(ix);
        return ct_error(CT_ERR_RUNTIME, "out of memory");
    }
    const int64_t *id = ct_tensor_data(ix);
    char *base = ct_tensor_data(self);
    int esz = ct_dtype_sizes[self->dtype];
    for (int64_t i = 0; i < ix->numel; i++) {
        int64_t r = id[i];
        if (seen[r]) continue;
        seen[r] = 1;
        double nrm = 0;
        for (int64_t k = 0; k < D; k++) {
            char *p = base + (r * self->strides[0] + k * self->strides[1]) * esz;
            double v = self->dtype == CT_FLOAT64 ? *(double *)p : (double)*(float *)p;
            if (norm_type == 1)
                nrm += fabs(v);
            else if (norm_type == 2)
                nrm += v * v;
            else if (isinf(norm_type))
                nrm = fmax(nrm, fabs(v));
            else
                nrm += pow(fabs(v), norm_type);
        }
        if (norm_type == 2)
            nrm = sqrt(nrm);
        else if (norm_type != 1 && !isinf(norm_type))
            nrm = pow(nrm, 1.0 / norm_type);
        if (nrm > max_norm) {
            double scale = max_norm / (nrm + 1e-7);
            for (int64_t k = 0; k < D; k++) {
                char *p = base + (r * self->strides[0] + k * self->strides[1]) * esz;
                if (self->dtype == CT_FLOAT64)
                    *(double *)p *= scale;
                else
                    *(float *)p = (float)(*(float *)p * scale);
            }
        }
    }
    free(seen);
    ct_tensor_release(ix);
    ct_tensor_bump_version(self);
    ct_tensor_retain(self);
    return self;
}

/* ------------------------------------------------------------------ embedding_bag */

typedef struct {
    ct_tensor *w, *ix, *off, *psw;
    int64_t B, n, D;
} bag_prep;

static void bag_free(bag_prep *p) {
    ct_tensor_release(p->w);
    ct_tensor_release(p->ix);
    ct_tensor_release(p->off);
    ct_tensor_release(p->psw);
}

static int bag_prepare(ct_tensor *weight, ct_tensor *indices, ct_tensor *offsets, int64_t mode,
                       ct_tensor *per_sample_weights, bool include_last_offset, bag_prep *p) {
    memset(p, 0, sizeof *p);
    if (weight->ndim != 2) return ct_errorf(CT_ERR_RUNTIME, "'weight' must be 2-D");
    if (check_indices(indices, "indices")) return -1;
    if (indices->ndim != 1) return ct_errorf(CT_ERR_VALUE, "input has to be 1D or 2D Tensor, but got Tensor of dimension %d", indices->ndim);
    if (offsets->ndim != 1) return ct_errorf(CT_ERR_VALUE, "offsets has to be a 1D Tensor");
    if (per_sample_weights && mode != 0)
        return ct_errorf(CT_ERR_NOT_IMPLEMENTED,
                         "embedding_bag: per_sample_weights was not None. per_sample_weights is only supported for "
                         "mode='sum' (got mode='%s'). Please open a feature request on the Pytorch GitHub.",
                         mode == 1 ? "mean" : "max");
    if (per_sample_weights && per_sample_weights->numel != indices->numel)
        return ct_errorf(CT_ERR_VALUE, "embedding_bag: If per_sample_weights (%lld) is not None, then it must have the "
                         "same shape as the input (%lld)", (long long)per_sample_weights->numel,
                         (long long)indices->numel);
    p->ix = index_copy64(indices, weight->sizes[0]);
    if (!p->ix) return -1;
    p->off = ct_contig_as(offsets, CT_INT64);
    if (!p->off) return -1;
    p->n = indices->numel;
    p->D = weight->sizes[1];
    int64_t no = offsets->numel;
    const int64_t *od = ct_tensor_data(p->off);
    if (no > 0 && od[0] != 0)
        return ct_errorf(CT_ERR_RUNTIME, "offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to "
                         "start from position 0. However, got %lld", (long long)od[0]);
    for (int64_t i = 0; i < no; i++)
        if (od[i] < 0 || od[i] > p->n || (i > 0 && od[i] < od[i - 1]))
            return ct_errorf(CT_ERR_RUNTIME, "offsets[%lld] is out of bounds or not non-decreasing", (long long)i);
    p->B = include_last_offset ? (no > 0 ? no - 1 : 0) : no;
    p->w = ct_contig_as(weight, CT_FLOAT64);
    if (!p->w) return -1;
    if (per_sample_weights && !(p->psw = ct_contig_as(per_sample_weights, CT_FLOAT64))) return -1;
    return 0;
}

static void bag_range(const bag_prep *p, int64_t b, int64_t *s, int64_t *e) {
    const int64_t *od = ct_tensor_data(p->off);
    *s = od[b];
    *e = (b + 1 < p->off->numel) ? od[b + 1] : p->n;
}

ct_tensor *ct_nn_embedding_bag_impl(ct_tensor *weight, ct_tensor *indices, ct_tensor *offsets, int64_t mode,
                                    ct_tensor *per_sample_weights, bool include_last_offset, int64_t padding_idx) {
    bag_prep p;
    ct_tensor *res = NULL, *o = NULL;
    if (bag_prepare(weight, indices, offsets, mode, per_sample_weights, include_last_offset, &p)) goto done;
    int64_t sz[2] = {p.B, p.D};
    o = ct_zeros((ct_intlist){sz, 2}, CT_FLOAT64, -1);
    if (!o) goto done;
    {
        const int64_t *id = ct_tensor_data(p.ix);
        const double *wd = ct_tensor_data(p.w), *ps = p.psw ? ct_tensor_data(p.psw) : NULL;
        double *od = ct_tensor_data(o);
        for (int64_t b = 0; b < p.B; b++) {
            int64_t s, e, cnt = 0;
            bag_range(&p, b, &s, &e);
            double *dst = od + b * p.D;
            for (int64_t i = s; i < e; i++) {
                int64_t r = id[i];
                if (r == padding_idx) continue;
                const double *src = wd + r * p.D;
                if (mode == 2) {
                    for (int64_t k = 0; k < p.D; k++)
                        if (cnt == 0 || src[k] > dst[k]) dst[k] = src[k];
                } else {
                    double sc = ps ? ps[i] : 1.0;
                    for (int64_t k = 0; k < p.D; k++) dst[k] += sc * src[k];
                }
                cnt++;
            }
            if (mode == 1 && cnt > 0)
                for (int64_t k = 0; k < p.D; k++) dst[k] /= (double)cnt;
        }
    }
    res = ct_to_dtype(o, weight->dtype, false);
done:
    ct_tensor_release(o);
    bag_free(&p);
    return res;
}

/* grads w.r.t. weight (*gw) and per_sample_weights (*gp); NULL pointers skip. */
int ct_nn_embedding_bag_backward(ct_tensor *grad, ct_tensor *weight, ct_tensor *indices, ct_tensor *offsets,
                                 int64_t mode, ct_tensor *per_sample_weights, bool include_last_offset,
                                 int64_t padding_idx, ct_tensor **gw, ct_tensor **gp) {
    bag_prep p;
    int rc = -1;
    ct_tensor *g = NULL, *dw = NULL, *dp = NULL;
    if (bag_prepare(weight, indices, offsets, mode, per_sample_weights, include_last_offset, &p)) goto done;
    g = ct_contig_as(grad, CT_FLOAT64);
    if (!g) goto done;
    int64_t sz[2] = {weight->sizes[0], p.D};
    if (gw && !(dw = ct_zeros((ct_intlist){sz, 2}, CT_FLOAT64, -1))) goto done;
    if (gp && !(dp = ct_zeros((ct_intlist){&p.n, 1}, CT_FLOAT64, -1))) goto done;
    {
        const int64_t *id = ct_tensor_data(p.ix);
        const double *wd = ct_tensor_data(p.w), *ps = p.psw ? ct_tensor_data(p.psw) : NULL;
        const double *gd = ct_tensor_data(g);
        double *dwd = dw ? ct_tensor_data(dw) : NULL, *dpd = dp ? ct_tensor_data(dp) : NULL;
        for (int64_t b = 0; b < p.B; b++) {
            int64_t s, e, cnt = 0;
            bag_range(&p, b, &s, &e);
            for (int64_t i = s; i < e; i++) cnt += id[i] != padding_idx;
            const double *gr = gd + b * p.D;
            if (mode == 2) {
                if (!dwd || cnt == 0) continue;
                for (int64_t k = 0; k < p.D; k++) {
                    int64_t best = -1;
                    for (int64_t i = s; i < e; i++) {
                        int64_t r = id[i];
                        if (r == padding_idx) continue;
                        if (best < 0 || wd[r * p.D + k] > wd[best * p.D + k]) best = r;
                    }
                    dwd[best * p.D + k] += gr[k];
                }
                continue;
            }
            for (int64_t i = s; i < e; i++) {
                int64_t r = id[i];
                if (r == padding_idx) continue;
                double sc = mode == 1 ? 1.0 / (double)cnt : (ps ? ps[i] : 1.0);
                if (dwd)
                    for (int64_t k = 0; k < p.D; k++) dwd[r * p.D + k] += sc * gr[k];
                if (dpd) {
                    double dot = 0;
                    for (int64_t k = 0; k < p.D; k++) dot += gr[k] * wd[r * p.D + k];
                    dpd[i] = dot;
                }
            }
        }
    }
    if (gw && !(*gw = ct_to_dtype(dw, weight->dtype, false))) goto done;
    if (gp && !(*gp = ct_to_dtype(dp, per_sample_weights->dtype, false))) goto done;
    rc = 0;
done:
    ct_tensor_release(g);
    ct_tensor_release(dw);
    ct_tensor_release(dp);
    bag_free(&p);
    return rc;
}
