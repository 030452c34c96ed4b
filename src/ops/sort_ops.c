/* Scans (cumsum, cumprod, cummax, cummin, logcumsumexp), sorting and selection (sort,
 * argsort, msort, topk, kthvalue, median, nanmedian, mode), unique, bincount, histc,
 * searchsorted and bucketize.
 *
 * Everything along one dim works on rows: the input is copied with that dim moved last
 * (as int64 for integer/bool inputs, float64 for floating ones: both exact), each row is
 * processed, and results are moved back. Sorting is a stable merge sort of indices;
 * NaN sorts above every number (last ascending, first descending), as in torch. */
#include <stdlib.h>

#include "ctorch/ops_gen.h"
#include "../core/internal.h"
#include "../kernels/cpu/reduce.h"

static int row_cdt(int d) { return ct_dtype_is_floating(d) ? CT_FLOAT64 : CT_INT64; }

/* Rows of self along dim (wrapped into *wd): contiguous (N, R) in row_cdt. */
static ct_tensor *rows_of(const char *op, ct_tensor *self, int64_t dim, int *wd, int64_t *N, int64_t *R) {
    int d = ct_wrap_dim(dim, self->ndim, op);
    if (d < 0) return NULL;
    *wd = d;
    *R = self->ndim ? self->sizes[d] : 1;
    *N = *R ? self->numel / *R : 0;
    if (self->ndim && *R == 0) {
        *N = 1;
        for (int k = 0; k < self->ndim; k++)
            if (k != d) *N *= self->sizes[k];
    }
    return ct_movedim_last_contig(self, d, row_cdt(self->dtype));
}

/* Sizes of self with dim d moved last and given length. */
static int moved_sizes(const ct_tensor *self, int d, int64_t len, int64_t *sz) {
    int n = 0;
    for (int k = 0; k < self->ndim; k++)
        if (k != d) sz[n++] = self->sizes[k];
    if (self->ndim) sz[n++] = len;
    return n;
}

/* ------------------------------------------------------------------ stable merge sort */

#define LT_ASC_F(a, b) ((a) < (b) || ((b) != (b) && (a) == (a)))
#define LT_DESC_F(a, b) ((a) > (b) || ((a) != (a) && (b) == (b)))
#define LT_ASC_I(a, b) ((a) < (b))
#define LT_DESC_I(a, b) ((a) > (b))

#define DEF_MSORT(NAME, T, LESS)                                                                \
    static void NAME(const T *key, int64_t *idx, int64_t *tmp, int64_t n) {                     \
        for (int64_t lo = 0; lo < n; lo += 16) { /* insertion sort runs of 16 */               \
            int64_t hi = lo + 16 < n ? lo + 16 : n;                                             \
            for (int64_t i = lo + 1; i < hi; i++) {                                             \
                int64_t v = idx[i], j = i;                                                      \
                while (j > lo && LESS(key[v], key[idx[j - 1]])) {                               \
                    idx[j] = idx[j - 1];                                                        \
                    j--;                                                                        \
                }                                                                               \
                idx[j] = v;                                                                     \
            }                                                                                   \
        }                                                                                       \
        int64_t *a = idx, *b = tmp;                                                             \
        for (int64_t w = 16; w < n; w *= 2) {                                                   \
            for (int64_t lo = 0; lo < n; lo += 2 * w) {                                         \
                int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;    \
                int64_t i = lo, j = mid, k = lo;                                                \
                while (i < mid && j < hi) b[k++] = LESS(key[a[j]], key[a[i]]) ? a[j++] : a[i++]; \
                while (i < mid) b[k++] = a[i++];                                                \
                while (j < hi) b[k++] = a[j++];                                                 \
            }                                                                                   \
            int64_t *t = a;                                                                     \
            a = b;                                                                              \
            b = t;                                                                              \
        }                                                                                       \
        if (a != idx) memcpy(idx, a, (size_t)n * sizeof(int64_t));                              \
    }
DEF_MSORT(msort_f_asc, double, LT_ASC_F)
DEF_MSORT(msort_f_desc, double, LT_DESC_F)
DEF_MSORT(msort_i_asc, int64_t, LT_ASC_I)
DEF_MSORT(msort_i_desc, int64_t, LT_DESC_I)

typedef struct sort_ctx {
    const void *x;
    int64_t *idx;
    int64_t R;
    bool flt, desc;
} sort_ctx;

static void sort_task(int64_t b, int64_t e, void *vctx) {
    const sort_ctx *c = (const sort_ctx *)vctx;
    int64_t *tmp = malloc((size_t)(c->R ? c->R : 1) * sizeof(int64_t));
    if (!tmp) return; /* reported by the caller through the check below */
    for (int64_t r = b; r < e; r++) {
        int64_t *idx = c->idx + r * c->R;
        for (int64_t i = 0; i < c->R; i++) idx[i] = i;
        if (c->flt) {
            const double *x = (const double *)c->x + r * c->R;
            (c->desc ? msort_f_desc : msort_f_asc)(x, idx, tmp, c->R);
        } else {
            const int64_t *x = (const int64_t *)c->x + r * c->R;
            (c->desc ? msort_i_desc : msort_i_asc)(x, idx, tmp, c->R);
        }
    }
    free(tmp);
}

/* Stable sort of each row of rows (N, R); returns a new (N, R) int64 tensor of indices. */
static ct_tensor *sort_rows(ct_tensor *rows, int64_t N, int64_t R, bool desc) {
    int64_t sz[2] = {N, R};
    ct_tensor *idx = ct_empty(sz, 2, CT_INT64);
    if (!idx || N * R == 0) return idx;
    /* the index array doubles as a sentinel for allocation failures inside tasks */
    int64_t *ip = (int64_t *)ct_tensor_data(idx);
    for (int64_t r = 0; r < N; r++) ip[r * R] = -1;
    sort_ctx c = {ct_tensor_data(rows), ip, R, rows->dtype == CT_FLOAT64, desc};
    int64_t grain = CT_GRAIN / (R * 8) > 0 ? CT_GRAIN / (R * 8) : 1;
    ct_parallel_for(N, grain, sort_task, &c);
    for (int64_t r = 0; r < N; r++)
        if (ip[r * R] < 0) {
            ct_tensor_release(idx);
            return ct_error(CT_ERR_MEMORY, "[sort] out of memory");
        }
    return idx;
}

/* Gather rows[r, idx[r, j]] for j < K (idx rows of length R) into a new (N, K) tensor of
 * rows' dtype. */
static ct_tensor *gather_rows(ct_tensor *rows, ct_tensor *idx, int64_t N, int64_t R, int64_t K, int64_t start) {
    int64_t sz[2] = {N, K};
    ct_tensor *v = ct_empty(sz, 2, rows->dtype);
    if (!v) return NULL;
    const int64_t *ip = (const int64_t *)ct_tensor_data(idx);
    if (rows->dtype == CT_FLOAT64) {
        const double *x = (const double *)ct_tensor_data(rows);
        double *o = (double *)ct_tensor_data(v);
        for (int64_t r = 0; r < N; r++)
            for (int64_t j = 0; j < K; j++) o[r * K + j] = x[r * R + ip[r * R + start + j]];
    } else {
        const int64_t *x = (const int64_t *)ct_tensor_data(rows);
        int64_t *o = (int64_t *)ct_tensor_data(v);
        for (int64_t r = 0; r < N; r++)
            for (int64_t j = 0; j < K; j++) o[r * K + j] = x[r * R + ip[r * R + start + j]];
    }
    return v;
}

/* Keep columns [start, start+K) of an (N, R) int64 tensor. */
static ct_tensor *slice_cols(ct_tensor *idx, int64_t N, int64_t R, int64_t K, int64_t start) {
    int64_t sz[2] = {N, K};
    ct_tensor *v = ct_empty(sz, 2, CT_INT64);
    if (!v) return NULL;
    const int64_t *ip = (const int64_t *)ct_tensor_data(idx);
    int64_t *o = (int64_t *)ct_tensor_data(v);
    for (int64_t r = 0; r < N; r++)
        for (int64_t j = 0; j < K; j++) o[r * K + j] = ip[r * R + start + j];
    return v;
}

/* (N, K) row results -> self's layout with dim d of length K (moved back), dtype odt. */
static ct_tensor *unrow(ct_tensor *t, const ct_tensor *self, int d, int64_t K, int odt) {
    int64_t sz[CT_MAX_DIM];
    int n = moved_sizes(self, d, K, sz);
    ct_tensor *v = ct_tensor_new_view(t->storage, t->dtype, t->offset, sz, NULL, n);
    ct_tensor_release(t);
    if (!v) return NULL;
    ct_tensor *r = ct_movedim_back(v, self->ndim ? d : 0, odt);
    ct_tensor_release(v);
    return r;
}

/* Sort along dim keeping columns [start, start+K): values (self dtype) and indices. */
static int sorted_part(const char *op, ct_tensor *self, int64_t dim, bool desc, int64_t K, int64_t start,
                       ct_tensor **values, ct_tensor **indices) {
    int d;
    int64_t N, R;
    ct_tensor *rows = rows_of(op, self, dim, &d, &N, &R);
    if (!rows) return -1;
    ct_tensor *idx = sort_rows(rows, N, R, desc);
    ct_tensor *v = NULL, *i = NULL;
    if (!idx) goto fail;
    if (values) {
        v = gather_rows(rows, idx, N, R, K, start);
        if (!v || !(v = unrow(v, self, d, K, self->dtype))) goto fail;
    }
    i = slice_cols(idx, N, R, K, start);
    if (!i || !(i = unrow(i, self, d, K, CT_INT64))) goto fail;
    ct_tensor_release(rows);
    ct_tensor_release(idx);
    if (values) *values = v;
    *indices = i;
    return 0;
fail:
    ct_tensor_release(rows);
    ct_tensor_release(idx);
    ct_tensor_release(v);
    return -1;
}

static int64_t dim_len(ct_tensor *self, int64_t dim, const char *op) {
    int d = ct_wrap_dim(dim, self->ndim, op);
    if (d < 0) return -1;
    return self->ndim ? self->sizes[d] : 1;
}

int ct_sort_impl(ct_tensor *self, int64_t dim, bool descending, ct_tensor **out0, ct_tensor **out1) {
    int64_t R = dim_len(self, dim, "sort");
    if (R < 0) return -1;
    return sorted_part("sort", self, dim, descending, R, 0, out0, out1);
}

int ct_sort_stable_impl(ct_tensor *self, const bool *stable, int64_t dim, bool descending, ct_tensor **out0,
                        ct_tensor **out1) {
    (void)stable; /* always stable */
    return ct_sort_impl(self, dim, descending, out0, out1);
}

ct_tensor *ct_argsort(ct_tensor *self, int64_t dim, bool descending) {
    int64_t R = dim_len(self, dim, "argsort");
    if (R < 0) return NULL;
    ct_tensor *i = NULL;
    if (sorted_part("argsort", self, dim, descending, R, 0, NULL, &i)) return NULL;
    return i;
}

ct_tensor *ct_argsort_stable(ct_tensor *self, bool stable, int64_t dim, bool descending) {
    (void)stable;
    return ct_argsort(self, dim, descending);
}

ct_tensor *ct_msort(ct_tensor *self) {
    ct_tensor *v = NULL, *i = NULL;
    if (ct_sort(self, 0, false, &v, &i)) return NULL;
    ct_tensor_release(i);
    return v;
}

/* Squeeze dim d of a length-1 result unless keepdim. Consumes t. */
static ct_tensor *maybe_squeeze(ct_tensor *t, int d, bool keepdim) {
    if (keepdim || t->ndim == 0) return t;
    int64_t sz[CT_MAX_DIM];
    int n = 0;
    for (int k = 0; k < t->ndim; k++)
        if (k != d) sz[n++] = t->sizes[k];
    ct_tensor *v = ct_tensor_new_view(t->storage, t->dtype, t->offset, sz, NULL, n);
    ct_tensor_release(t);
    return v;
}

/* Quickselect (Hoare partition, median-of-three pivot) of position k in the index array
 * idx under the ascending order with NaN largest: afterwards key[idx[k]] is the k-th
 * smallest. Which of several tied elements lands there is unspecified, as in torch. */
#define DEF_SELECT(NAME, T, LESS)                                                               \
    static void NAME(const T *key, int64_t *idx, int64_t n, int64_t k) {                        \
        int64_t lo = 0, hi = n - 1;                                                             \
        while (hi > lo) {                                                                       \
            int64_t mid = lo + (hi - lo) / 2, t;                                                \
            if (LESS(key[idx[mid]], key[idx[lo]])) t = idx[mid], idx[mid] = idx[lo], idx[lo] = t; \
            if (LESS(key[idx[hi]], key[idx[lo]])) t = idx[hi], idx[hi] = idx[lo], idx[lo] = t;   \
            if (LESS(key[idx[hi]], key[idx[mid]])) t = idx[hi], idx[hi] = idx[mid], idx[mid] = t; \
            T pv = key[idx[mid]];                                                               \
            int64_t i = lo, j = hi;                                                             \
            while (i <= j) {                                                                    \
                while (LESS(key[idx[i]], pv)) i++;                                              \
                while (LESS(pv, key[idx[j]])) j--;                                              \
                if (i <= j) {                                                                   \
                    t = idx[i], idx[i] = idx[j], idx[j] = t;                                    \
                    i++;                                                                        \
                    j--;                                                                        \
                }                                                                               \
            }                                                                                   \
            if (k <= j)                                                                         \
                hi = j;                                                                         \
            else if (k >= i)                                                                    \
                lo = i;                                                                         \
            else                                                                                \
                break;                                                                          \
        }                                                                                       \
    }
DEF_SELECT(select_f, double, LT_ASC_F)
DEF_SELECT(select_i, int64_t, LT_ASC_I)
DEF_SELECT(select_f_desc, double, LT_DESC_F)
DEF_SELECT(select_i_desc, int64_t, LT_DESC_I)

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Small k: one pass per row keeping the k best seen so far in a sorted buffer; an element
 * enters only if it is at least as good as the current k-th (rare, after the first few
 * hundred, on unordered data), so the pass is about a compare per element. Among ties at the
 * boundary the later positions are kept (torch's CPU kernel picks [2, 3] for topk(2) of four
 * equal values); the result is sorted by value, ties by position, as the general path's. */
#define TOPK_SMALL 32
#define DEF_TOPK_SCAN(NAME, T, BEFORE)                                                          \
    static void NAME(const T *x, int64_t R, int64_t k, int64_t *buf) {                          \
        int64_t m = 0;                                                                          \
        for (int64_t i = 0; i < R; i++) {                                                       \
            T v = x[i];                                                                         \
            if (m == k && BEFORE(x[buf[k - 1]], v)) continue;                                   \
            int64_t j = m < k ? m++ : k - 1;                                                    \
            while (j > 0 && !BEFORE(x[buf[j - 1]], v)) { /* ties: newest first */               \
                buf[j] = buf[j - 1];                                                            \
                j--;                                                                            \
            }                                                                                   \
            buf[j] = i;                                                                         \
        }                                                                                       \
        for (int64_t a = 0; a < k;) { /* runs of equal values back to ascending positions */  \
            int64_t b = a + 1;                                                                  \
            while (b < k && !BEFORE(x[buf[a]], x[buf[b]])) b++;                                 \
            for (int64_t l = a, h = b - 1; l < h; l++, h--) {                                   \
                int64_t t = buf[l];                                                             \
                buf[l] = buf[h];                                                                \
                buf[h] = t;                                                                     \
            }                                                                                   \
            a = b;                                                                              \
        }                                                                                       \
    }
DEF_TOPK_SCAN(topk_scan_f_asc, double, LT_ASC_F)
DEF_TOPK_SCAN(topk_scan_f_desc, double, LT_DESC_F)
DEF_TOPK_SCAN(topk_scan_i_asc, int64_t, LT_ASC_I)
DEF_TOPK_SCAN(topk_scan_i_desc, int64_t, LT_DESC_I)

typedef struct {
    const void *rows;
    void *v;
    int64_t *ix;
    int64_t R, k;
    bool flt, largest;
} topk_ctx;

static void topk_small_task(int64_t b, int64_t e, void *vctx) {
    const topk_ctx *c = (const topk_ctx *)vctx;
    int64_t buf[TOPK_SMALL];
    for (int64_t r = b; r < e; r++) {
        int64_t *oi = c->ix + r * c->k;
        if (c->flt) {
            const double *x = (const double *)c->rows + r * c->R;
            (c->largest ? topk_scan_f_desc : topk_scan_f_asc)(x, c->R, c->k, buf);
            for (int64_t j = 0; j < c->k; j++) ((double *)c->v)[r * c->k + j] = x[buf[j]];
        } else {
            const int64_t *x = (const int64_t *)c->rows + r * c->R;
            (c->largest ? topk_scan_i_desc : topk_scan_i_asc)(x, c->R, c->k, buf);
            for (int64_t j = 0; j < c->k; j++) ((int64_t *)c->v)[r * c->k + j] = x[buf[j]];
        }
        memcpy(oi, buf, sizeof(int64_t) * (size_t)c->k);
    }
}

/* topk: select the k-th element (expected O(R)), then sort only the k winners (by value,
 * ties by position). */
int ct_topk_impl(ct_tensor *self, int64_t k, int64_t dim, bool largest, bool sorted, ct_tensor **out0,
            ct_tensor **out1) {
    (void)sorted; /* results always come sorted, which torch allows for sorted=False */
    int d;
    int64_t N, R;
    int64_t Rl = dim_len(self, dim, "topk");
    if (Rl < 0) return -1;
    if (self->dtype == CT_BOOL) return ct_errorf(CT_ERR_RUNTIME, "[topk] topk does not support bool dtypes on CPU");
    if (k < 0 || k > Rl) return ct_errorf(CT_ERR_RUNTIME, "[topk] selected index k out of range");
    ct_tensor *rows = rows_of("topk", self, dim, &d, &N, &R);
    if (!rows) return -1;
    int64_t sz[2] = {N, k};
    ct_tensor *v = ct_empty(sz, 2, rows->dtype);
    ct_tensor *ix = v ? ct_empty(sz, 2, CT_INT64) : NULL;
    if (ix && k > 0 && k <= TOPK_SMALL && k < R) {
        topk_ctx c = {ct_tensor_data(rows), ct_tensor_data(v), (int64_t *)ct_tensor_data(ix), R, k,
                      rows->dtype == CT_FLOAT64, largest};
        ct_parallel_for(N, R >= CT_GRAIN ? 1 : CT_GRAIN / R + 1, topk_small_task, &c);
        ct_tensor_release(rows);
        goto done;
    }
    int64_t *idx = ix ? malloc(sizeof(int64_t) * (size_t)(2 * R + 2)) : NULL;
    if (!idx) {
        if (ix) ct_error(CT_ERR_MEMORY, "[topk] out of memory");
        ct_tensor_release(rows);
        ct_tensor_release(v);
        ct_tensor_release(ix);
        return -1;
    }
    bool flt = rows->dtype == CT_FLOAT64;
    for (int64_t r = 0; r < N && k > 0; r++) {
        for (int64_t i = 0; i < R; i++) idx[i] = i;
        const double *xf = (const double *)ct_tensor_data(rows) + r * R;
        const int64_t *xi = (const int64_t *)ct_tensor_data(rows) + r * R;
        if (k < R) {
            if (flt)
                (largest ? select_f_desc : select_f)(xf, idx, R, k - 1);
            else
                (largest ? select_i_desc : select_i)(xi, idx, R, k - 1);
        }
        qsort(idx, (size_t)k, sizeof(int64_t), cmp_i64);
        if (flt)
            (largest ? msort_f_desc : msort_f_asc)(xf, idx, idx + R, k);
        else
            (largest ? msort_i_desc : msort_i_asc)(xi, idx, idx + R, k);
        int64_t *oi = (int64_t *)ct_tensor_data(ix) + r * k;
        for (int64_t j = 0; j < k; j++) {
            oi[j] = idx[j];
            if (flt)
                ((double *)ct_tensor_data(v))[r * k + j] = xf[idx[j]];
            else
                ((int64_t *)ct_tensor_data(v))[r * k + j] = xi[idx[j]];
        }
    }
    free(idx);
    ct_tensor_release(rows);
done:
    v = unrow(v, self, d, k, self->dtype);
    ix = unrow(ix, self, d, k, CT_INT64);
    if (!v || !ix) {
        ct_tensor_release(v);
        ct_tensor_release(ix);
        return -1;
    }
    *out0 = v;
    *out1 = ix;
    return 0;
}

/* NOTE [ Order statistics ] kthvalue, median and nanmedian select per row (expected
 * O(R)) instead of sorting. `pos_of` gives the wanted position for a row from its length
 * and NaN count; a negative result means "the first NaN" (median of a row with NaN). */
typedef int64_t (*pos_fn)(int64_t R, int64_t nnan, int64_t k);

static int64_t pos_kth(int64_t R, int64_t nnan, int64_t k) { return (void)R, (void)nnan, k; }
static int64_t pos_median(int64_t R, int64_t nnan, int64_t k) { return (void)k, nnan ? -1 : (R - 1) / 2; }
static int64_t pos_nanmedian(int64_t R, int64_t nnan, int64_t k) {
    (void)k;
    return nnan == R ? -1 : (R - nnan - 1) / 2;
}

/* values (self's dtype) and indices of the selected element of each row along dim (or of
 * the flattened tensor when flat), keepdim as torch. */
static int order_stat(const char *op, ct_tensor *self, int64_t dim, bool flat, bool keepdim, pos_fn pos_of,
                      int64_t k, ct_tensor **values, ct_tensor **indices) {
    int d = 0;
    int64_t N, R;
    ct_tensor *rows;
    if (flat) {
        rows = ct_contig_as(self, row_cdt(self->dtype));
        N = 1;
        R = self->numel;
    } else {
        rows = rows_of(op, self, dim, &d, &N, &R);
        if (rows && self->ndim && R == 0) {
            ct_tensor_release(rows);
            return ct_errorf(CT_ERR_INDEX, "[%s] %s(): Expected reduction dim %d to have non-zero size.", op, op, d);
        }
    }
    if (!rows) return -1;
    int64_t osz[2] = {N, 1};
    ct_tensor *v = ct_empty(osz, 2, rows->dtype);
    ct_tensor *ix = v ? ct_empty(osz, 2, CT_INT64) : NULL;
    int64_t *idx = ix ? malloc(sizeof(int64_t) * (size_t)(R ? R : 1)) : NULL;
    if (!idx) {
        if (ix) ct_error(CT_ERR_MEMORY, "[%s] out of memory", op);
        goto fail;
    }
    bool flt = rows->dtype == CT_FLOAT64;
    int64_t *oi = (int64_t *)ct_tensor_data(ix);
    for (int64_t r = 0; r < N; r++) {
        if (R == 0) { /* full median of an empty tensor: NaN (torch: the lowest int for ints) */
            oi[r] = 0;
            /* what torch gives for an empty input (its bool result is True) */
            static const int64_t lowest[CT_NUM_DTYPES] = {1, 0, INT8_MIN, INT16_MIN, INT32_MIN, INT64_MIN};
            if (flt)
                ((double *)ct_tensor_data(v))[r] = NAN;
            else
                ((int64_t *)ct_tensor_data(v))[r] = lowest[self->dtype];
            continue;
        }
        int64_t nnan = 0, first_nan = -1;
        if (flt) {
            const double *x = (const double *)ct_tensor_data(rows) + r * R;
            for (int64_t i = 0; i < R; i++)
                if (x[i] != x[i]) {
                    if (first_nan < 0) first_nan = i;
                    nnan++;
                }
        }
        int64_t p = pos_of(R, nnan, k), at;
        if (p < 0) {
            at = first_nan;
        } else {
            for (int64_t i = 0; i < R; i++) idx[i] = i;
            if (flt)
                select_f((const double *)ct_tensor_data(rows) + r * R, idx, R, p);
            else
                select_i((const int64_t *)ct_tensor_data(rows) + r * R, idx, R, p);
            at = idx[p];
        }
        oi[r] = at;
        if (flt)
            ((double *)ct_tensor_data(v))[r] = ((const double *)ct_tensor_data(rows))[r * R + at];
        else
            ((int64_t *)ct_tensor_data(v))[r] = ((const int64_t *)ct_tensor_data(rows))[r * R + at];
    }
    free(idx);
    ct_tensor_release(rows);
    rows = NULL;
    if (flat) {
        ct_tensor *vc = ct_contig_as(v, self->dtype);
        ct_tensor_release(v);
        ct_tensor_release(ix);
        if (!vc) return -1;
        ct_tensor *vv = ct_tensor_new_view(vc->storage, vc->dtype, vc->offset, NULL, NULL, 0);
        ct_tensor_release(vc);
        if (!vv) return -1;
        *values = vv;
        return 0;
    }
    v = unrow(v, self, d, 1, self->dtype);
    ix = unrow(ix, self, d, 1, CT_INT64);
    if (!v || !ix) goto fail;
    *values = maybe_squeeze(v, d, keepdim);
    *indices = maybe_squeeze(ix, d, keepdim);
    if (!*values || !*indices) {
        ct_tensor_release(*values);
        ct_tensor_release(*indices);
        return -1;
    }
    return 0;
fail:
    ct_tensor_release(rows);
    ct_tensor_release(v);
    ct_tensor_release(ix);
    return -1;
}

int ct_kthvalue_impl(ct_tensor *self, int64_t k, int64_t dim, bool keepdim, ct_tensor **out0, ct_tensor **out1) {
    int64_t R = dim_len(self, dim, "kthvalue");
    if (R < 0) return -1;
    if (R == 0)
        return ct_errorf(CT_ERR_INDEX, "[kthvalue] kthvalue(): Expected reduction dim %d to have non-zero size.",
                         ct_wrap_dim(dim, self->ndim, "kthvalue"));
    if (self->dtype == CT_BOOL)
        return ct_errorf(CT_ERR_NOT_IMPLEMENTED, "[kthvalue] \"kthvalue_cpu\" not implemented for 'Bool'");
    if (k < 1 || k > R)
        return ct_errorf(CT_ERR_RUNTIME, "[kthvalue] kthvalue(): selected number k out of range for dimension %lld",
                         (long long)dim);
    return order_stat("kthvalue", self, dim, false, keepdim, pos_kth, k - 1, out0, out1);
}

static int median_rows(const char *op, ct_tensor *self, int64_t dim, bool flat, bool keepdim, bool ignore_nan,
                       ct_tensor **values, ct_tensor **indices) {
    if (!flat) {
        int d = ct_wrap_dim(dim, self->ndim, op);
        if (d < 0) return -1;
        if (self->ndim && self->sizes[d] == 0)
            return ct_errorf(CT_ERR_INDEX, "[%s] %s(): Expected reduction dim %d to have non-zero size.", op, op, d);
    }
    if (self->dtype == CT_BOOL && (!flat || self->numel > 0))
        return ct_errorf(CT_ERR_NOT_IMPLEMENTED, "[%s] \"median_cpu\" not implemented for 'Bool'", op);
    return order_stat(op, self, dim, flat, keepdim, ignore_nan ? pos_nanmedian : pos_median, 0, values, indices);
}

ct_tensor *ct_median_impl(ct_tensor *self) {
    ct_tensor *v = NULL;
    if (median_rows("median", self, 0, true, false, false, &v, NULL)) return NULL;
    return v;
}

int ct_median_dim_impl(ct_tensor *self, int64_t dim, bool keepdim, ct_tensor **out0, ct_tensor **out1) {
    return median_rows("median", self, dim, false, keepdim, false, out0, out1);
}

ct_tensor *ct_nanmedian_impl(ct_tensor *self) {
    ct_tensor *v = NULL;
    if (median_rows("nanmedian", self, 0, true, false, true, &v, NULL)) return NULL;
    return v;
}

int ct_nanmedian_dim_impl(ct_tensor *self, int64_t dim, bool keepdim, ct_tensor **out0, ct_tensor **out1) {
    return median_rows("nanmedian", self, dim, false, keepdim, true, out0, out1);
}

/* Most frequent value per row (smallest among ties) and the last index holding it. */
int ct_mode_impl(ct_tensor *self, int64_t dim, bool keepdim, ct_tensor **out0, ct_tensor **out1) {
    int d;
    int64_t N, R;
    ct_tensor *rows = rows_of("mode", self, dim, &d, &N, &R);
    if (!rows) return -1;
    if (self->ndim && R == 0) {
        ct_tensor_release(rows);
        return ct_errorf(CT_ERR_INDEX, "[mode] mode(): Expected reduction dim %d to have non-zero size.", d);
    }
    ct_tensor *idx = sort_rows(rows, N, R, false);
    int64_t osz[2] = {N, 1};
    ct_tensor *v = idx ? ct_empty(osz, 2, rows->dtype) : NULL;
    ct_tensor *ix = v ? ct_empty(osz, 2, CT_INT64) : NULL;
    if (!ix) goto fail;
    const int64_t *ip = (const int64_t *)ct_tensor_data(idx);
    bool flt = rows->dtype == CT_FLOAT64;
    for (int64_t r = 0; r < N; r++) {
        const int64_t *ri = ip + r * R;
        int64_t best_n = 0, best_i = 0, j = 0;
        while (j < R) {
            int64_t k = j + 1, last = ri[j];
            if (flt) {
                const double *x = (const double *)ct_tensor_data(rows) + r * R;
                while (k < R && x[ri[k]] == x[ri[j]]) last = ri[k] > last ? ri[k] : last, k++;
            } else {
                const int64_t *x = (const int64_t *)ct_tensor_data(rows) + r * R;
                while (k < R && x[ri[k]] == x[ri[j]]) last = ri[k] > last ? ri[k] : last, k++;
            }
            if (k - j > best_n) {
                best_n = k - j;
                best_i = last;
            }
            j = k;
        }
        ((int64_t *)ct_tensor_data(ix))[r] = best_i;
        if (flt)
            ((double *)ct_tensor_data(v))[r] = ((const double *)ct_tensor_data(rows))[r * R + best_i];
        else
            ((int64_t *)ct_tensor_data(v))[r] = ((const int64_t *)ct_tensor_data(rows))[r * R + best_i];
    }
    ct_tensor_release(rows);
    ct_tensor_release(idx);
    rows = idx = NULL;
    v = unrow(v, self, d, 1, self->dtype);
    ix = unrow(ix, self, d, 1, CT_INT64);
    if (!v || !ix) goto fail;
    *out0 = maybe_squeeze(v, d, keepdim);
    *out1 = maybe_squeeze(ix, d, keepdim);
    return 0;
fail:
    ct_tensor_release(rows);
    ct_tensor_release(idx);
    ct_tensor_release(v);
    ct_tensor_release(ix);
    return -1;
}

/* ------------------------------------------------------------------ scans */

typedef enum { SCAN_SUM, SCAN_PROD, SCAN_LSE } scan_kind;

static inline double logaddexp(double a, double x) {
    double m = a > x ? a : x, lo = a > x ? x : a;
    if (a != a || x != x) return NAN;
    if (isinf(m) && (m > 0 || lo == m)) return m;
    return m + log1p(exp(lo - m));
}

/* NOTE [ Scans ] The input is viewed as (O, R, I) rows (R: the scanned dim) in its
 * storage order, so no transposed copy is made: for I == 1 each row is scanned in place
 * order; for I > 1 a running row of I accumulators is updated with each of the R input
 * rows, reading and writing memory contiguously. Floats accumulate in double and integers
 * in (wrapping) uint64, as torch's CPU kernels do. */
typedef struct scan_ctx {
    const char *x;
    char *y;
    int64_t R, I;
    int cdt;
    scan_kind kind;
    char *acc; /* O * I accumulators of 8 bytes, allocated by the caller */
} scan_ctx;

#define DEF_SCAN(NAME, T, ACC)                                                                  \
    static void NAME(const T *x, T *y, int64_t R, int64_t I, scan_kind kind, ACC *acc) {       \
        ACC init = kind == SCAN_PROD ? (ACC)1 : kind == SCAN_SUM ? (ACC)0 : (ACC)-INFINITY;     \
        for (int64_t i = 0; i < I; i++) acc[i] = init;                                          \
        for (int64_t r = 0; r < R; r++) {                                                       \
            const T *xr = x + r * I;                                                            \
            T *yr = y + r * I;                                                                  \
            if (kind == SCAN_SUM)                                                               \
                for (int64_t i = 0; i < I; i++) yr[i] = (T)(acc[i] += (ACC)xr[i]);              \
            else if (kind == SCAN_PROD)                                                         \
                for (int64_t i = 0; i < I; i++) yr[i] = (T)(acc[i] *= (ACC)xr[i]);              \
            else                                                                                \
                for (int64_t i = 0; i < I; i++) yr[i] = (T)(acc[i] = (ACC)logaddexp((double)acc[i], (double)xr[i])); \
        }                                                                                       \
    }
DEF_SCAN(scan_f32, float, double)
DEF_SCAN(scan_f64, double, double)
DEF_SCAN(scan_i64, int64_t, uint64_t)

static void scan_task(int64_t b, int64_t e, void *vctx) {
    const scan_ctx *c = (const scan_ctx *)vctx;
    size_t es = ct_dtype_size(c->cdt);
    for (int64_t o = b; o < e; o++) {
        int64_t off = o * c->R * c->I * (int64_t)es;
        void *acc = c->acc + o * c->I * 8; /* this row's I accumulators (8 bytes each) */
        if (c->cdt == CT_FLOAT32)
            scan_f32((const float *)(c->x + off), (float *)(c->y + off), c->R, c->I, c->kind, (double *)acc);
        else if (c->cdt == CT_FLOAT64)
            scan_f64((const double *)(c->x + off), (double *)(c->y + off), c->R, c->I, c->kind, (double *)acc);
        else
            scan_i64((const int64_t *)(c->x + off), (int64_t *)(c->y + off), c->R, c->I, c->kind, (uint64_t *)acc);
    }
}

static ct_tensor *scan(const char *op, ct_tensor *self, int64_t dim, int dtype, scan_kind kind) {
    int odt;
    if (ct_wrap_dim(dim, self->ndim, op) < 0) return NULL;
    if (kind == SCAN_LSE) {
        if (!ct_dtype_is_floating(self->dtype))
            return ct_error(CT_ERR_NOT_IMPLEMENTED, "[%s] \"%s_out_cpu\" not implemented for '%s'", op, op,
                            ct_dtype_name(self->dtype));
        odt = self->dtype;
    } else {
        odt = dtype >= 0 ? dtype : (ct_dtype_is_floating(self->dtype) ? self->dtype : CT_INT64);
        if (odt == CT_BOOL)
            return ct_error(CT_ERR_NOT_IMPLEMENTED, "[%s] \"%s_out_cpu\" not implemented for 'Bool'", op, op);
    }
    int d = ct_wrap_dim(dim, self->ndim, op);
    if (d < 0) return NULL;
    /* with dtype=, torch converts the input first */
    ct_tensor *src = dtype >= 0 ? ct_contig_as(self, dtype) : (ct_tensor_retain(self), self);
    if (!src) return NULL;
    int cdt = !ct_dtype_is_floating(odt) ? CT_INT64 : odt == CT_FLOAT64 ? CT_FLOAT64 : CT_FLOAT32;
    ct_tensor *xc = ct_contig_as(src, cdt);
    ct_tensor_release(src);
    if (!xc) return NULL;
    ct_tensor *y = ct_empty(self->sizes, self->ndim, cdt);
    if (!y) {
        ct_tensor_release(xc);
        return NULL;
    }
    int64_t O = 1, R = self->ndim ? self->sizes[d] : 1, I = 1;
    for (int k = 0; k < d; k++) O *= self->sizes[k];
    for (int k = d + 1; k < self->ndim; k++) I *= self->sizes[k];
    if (y->numel) {
        char *acc = malloc((size_t)(O * I) * 8);
        if (!acc) {
            ct_tensor_release(xc);
            ct_tensor_release(y);
            return ct_error(CT_ERR_MEMORY, "[%s] out of memory", op);
        }
        scan_ctx c = {(const char *)ct_tensor_data(xc), (char *)ct_tensor_data(y), R, I, cdt, kind, acc};
        int64_t grain = CT_GRAIN / (R * I);
        ct_parallel_for(O, grain < 1 ? 1 : grain, scan_task, &c);
        free(acc);
    }
    ct_tensor_release(xc);
    ct_tensor *r = ct_contig_as(y, odt);
    ct_tensor_release(y);
    return r;
}

ct_tensor *ct_cumsum_impl(ct_tensor *self, int64_t dim, int dtype) { return scan("cumsum", self, dim, dtype, SCAN_SUM); }
ct_tensor *ct_cumprod_impl(ct_tensor *self, int64_t dim, int dtype) { return scan("cumprod", self, dim, dtype, SCAN_PROD); }
ct_tensor *ct_logcumsumexp_impl(ct_tensor *self, int64_t dim) { return scan("logcumsumexp", self, dim, -1, SCAN_LSE); }

/* Running max/min: a new element wins on >= (<=) or when it is NaN; NaN then sticks. */
static int cum_ext(const char *op, ct_tensor *self, int64_t dim, bool is_max, ct_tensor **out0, ct_tensor **out1) {
    int d;
    int64_t N, R;
    ct_tensor *rows = rows_of(op, self, dim, &d, &N, &R);
    if (!rows) return -1;
    ct_tensor *v = ct_empty(rows->sizes, rows->ndim, rows->dtype);
    ct_tensor *ix = v ? ct_empty(rows->sizes, rows->ndim, CT_INT64) : NULL;
    if (!ix) {
        ct_tensor_release(rows);
        ct_tensor_release(v);
        return -1;
    }
    if (R == 0) N = 0;
    for (int64_t r = 0; r < N; r++) {
        int64_t *ii = (int64_t *)ct_tensor_data(ix) + r * R;
        int64_t bi = 0;
        if (rows->dtype == CT_FLOAT64) {
            const double *x = (const double *)ct_tensor_data(rows) + r * R;
            double *y = (double *)ct_tensor_data(v) + r * R;
            double b = x[0];
            for (int64_t i = 0; i < R; i++) {
                double e = x[i];
                if (e != e || (b == b && (is_max ? e >= b : e <= b))) {
                    b = e;
                    bi = i;
                }
                y[i] = b;
                ii[i] = bi;
            }
        } else {
            const int64_t *x = (const int64_t *)ct_tensor_data(rows) + r * R;
            int64_t *y = (int64_t *)ct_tensor_data(v) + r * R;
            int64_t b = x[0];
            for (int64_t i = 0; i < R; i++) {
                if (is_max ? x[i] >= b : x[i] <= b) {
                    b = x[i];
                    bi = i;
                }
                y[i] = b;
                ii[i] = bi;
            }
        }
    }
    ct_tensor_release(rows);
    int dd = self->ndim ? d : 0;
    *out0 = ct_movedim_back(v, dd, self->dtype);
    *out1 = ct_movedim_back(ix, dd, CT_INT64);
    ct_tensor_release(v);
    ct_tensor_release(ix);
    if (!*out0 || !*out1) {
        ct_tensor_release(*out0);
        ct_tensor_release(*out1);
        return -1;
    }
    return 0;
}

int ct_cummax_impl(ct_tensor *self, int64_t dim, ct_tensor **out0, ct_tensor **out1) {
    return cum_ext("cummax", self, dim, true, out0, out1);
}
int ct_cummin_impl(ct_tensor *self, int64_t dim, ct_tensor **out0, ct_tensor **out1) {
    return cum_ext("cummin", self, dim, false, out0, out1);
}

/* ------------------------------------------------------------------ unique */

/* Slices of length L (rows of a contiguous (S, L) buffer) compared lexicographically. */
typedef struct slices {
    const char *base;
    int64_t L;
    bool flt;
} slices;

static int slice_cmp(const slices *s, int64_t a, int64_t b) {
    for (int64_t k = 0; k < s->L; k++) {
        if (s->flt) {
            double x = ((const double *)s->base)[a * s->L + k], y = ((const double *)s->base)[b * s->L + k];
            if (LT_ASC_F(x, y)) return -1;
            if (LT_ASC_F(y, x)) return 1;
        } else {
            int64_t x = ((const int64_t *)s->base)[a * s->L + k], y = ((const int64_t *)s->base)[b * s->L + k];
            if (x != y) return x < y ? -1 : 1;
        }
    }
    return 0;
}

static bool slice_eq(const slices *s, int64_t a, int64_t b) {
    for (int64_t k = 0; k < s->L; k++) {
        if (s->flt) {
            if (((const double *)s->base)[a * s->L + k] != ((const double *)s->base)[b * s->L + k]) return false;
        } else if (((const int64_t *)s->base)[a * s->L + k] != ((const int64_t *)s->base)[b * s->L + k]) {
            return false;
        }
    }
    return true;
}

static void slice_sort(const slices *s, int64_t *idx, int64_t *tmp, int64_t n) {
    int64_t *a = idx, *b = tmp;
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) b[k++] = slice_cmp(s, a[j], a[i]) < 0 ? a[j++] : a[i++];
            while (i < mid) b[k++] = a[i++];
            while (j < hi) b[k++] = a[j++];
        }
        int64_t *t = a;
        a = b;
        b = t;
    }
    if (a != idx) memcpy(idx, a, (size_t)n * sizeof(int64_t));
}

int ct_unique_impl_impl(ct_tensor *self, bool sorted, bool return_inverse, bool return_counts, const int64_t *dim,
                   bool consecutive, ct_tensor **out0, ct_tensor **out1, ct_tensor **out2) {
    (void)sorted; /* results always come sorted (torch's CPU unique sorts too) */
    (void)return_inverse;
    (void)return_counts;
    const char *op = consecutive ? "unique_consecutive" : "unique";
    int d = 0;
    ct_tensor *buf;
    int64_t S, L;
    if (dim) {
        d = ct_wrap_dim(*dim, self->ndim, op);
        if (d < 0) return -1;
        if (self->ndim == 0) return ct_errorf(CT_ERR_INDEX, "[%s] dim out of range for a 0-dim tensor", op);
        /* dim moved to the front: (S, L) */
        int64_t sz[CT_MAX_DIM], st[CT_MAX_DIM];
        int n = 0;
        sz[n] = self->sizes[d];
        st[n++] = self->strides[d];
        for (int k = 0; k < self->ndim; k++)
            if (k != d) {
                sz[n] = self->sizes[k];
                st[n++] = self->strides[k];
            }
        ct_tensor *v = ct_tensor_new_view(self->storage, self->dtype, self->offset, sz, st, n);
        if (!v) return -1;
        buf = ct_contig_as(v, row_cdt(self->dtype));
        ct_tensor_release(v);
        S = self->sizes[d];
        L = S ? self->numel / S : 0;
        if (S && self->numel == 0) return (ct_tensor_release(buf), ct_errorf(CT_ERR_RUNTIME,
                                           "[%s] Number of zero sized dimensions is more than one, so unique cannot "
                                           "be applied", op));
    } else {
        buf = ct_contig_as(self, row_cdt(self->dtype));
        S = self->numel;
        L = 1;
    }
    if (!buf) return -1;
    slices sl = {(const char *)ct_tensor_data(buf), L, buf->dtype == CT_FLOAT64};
    int64_t *order = malloc(sizeof(int64_t) * (size_t)(S ? 2 * S : 2));
    int64_t *inv_p = NULL, *cnt_p = NULL;
    ct_tensor *uniq = NULL, *inv = NULL, *cnt = NULL, *vals = NULL;
    if (!order) {
        ct_error(CT_ERR_MEMORY, "[%s] out of memory", op);
        goto fail;
    }
    for (int64_t i = 0; i < S; i++) order[i] = i;
    if (!consecutive) slice_sort(&sl, order, order + S, S);
    /* group */
    int64_t U = 0;
    int64_t *first = order + S; /* reuse: first element of each group (in order) */
    {
        int64_t ish[CT_MAX_DIM];
        int ind = dim ? 1 : self->ndim;
        if (dim) ish[0] = S;
        else memcpy(ish, self->sizes, sizeof(int64_t) * (size_t)self->ndim);
        inv = ct_empty(ish, ind, CT_INT64);
        if (!inv) goto fail;
        inv_p = (int64_t *)ct_tensor_data(inv);
    }
    int64_t *counts_tmp = malloc(sizeof(int64_t) * (size_t)(S ? S : 1));
    if (!counts_tmp) {
        ct_error(CT_ERR_MEMORY, "[%s] out of memory", op);
        goto fail;
    }
    for (int64_t i = 0; i < S; i++) {
        if (i == 0 || !slice_eq(&sl, order[i], order[i - 1])) {
            first[U] = order[i];
            counts_tmp[U] = 0;
            U++;
        }
        counts_tmp[U - 1]++;
        inv_p[order[i]] = U - 1;
    }
    int64_t csz[1] = {U};
    cnt = ct_empty(csz, 1, CT_INT64);
    if (!cnt) {
        free(counts_tmp);
        goto fail;
    }
    cnt_p = (int64_t *)ct_tensor_data(cnt);
    memcpy(cnt_p, counts_tmp, sizeof(int64_t) * (size_t)U);
    free(counts_tmp);
    /* unique values / slices */
    {
        int64_t vsz[CT_MAX_DIM];
        int vn = 0;
        vsz[vn++] = U;
        if (dim)
            for (int k = 0; k < self->ndim; k++)
                if (k != d) vsz[vn++] = self->sizes[k];
        vals = ct_empty(vsz, vn, buf->dtype);
        if (!vals) goto fail;
        size_t es = ct_dtype_size(buf->dtype);
        for (int64_t u = 0; u < U; u++)
            memcpy((char *)ct_tensor_data(vals) + u * L * (int64_t)es, sl.base + first[u] * L * (int64_t)es,
                   (size_t)L * es);
        if (dim) {
            /* move the leading dim back to position d */
            int64_t sz[CT_MAX_DIM], st[CT_MAX_DIM];
            int k = 1;
            for (int q = 0; q < self->ndim; q++) {
                if (q == d) {
                    sz[q] = vals->sizes[0];
                    st[q] = vals->strides[0];
                } else {
                    sz[q] = vals->sizes[k];
                    st[q] = vals->strides[k];
                    k++;
                }
            }
            ct_tensor *v = ct_tensor_new_view(vals->storage, vals->dtype, vals->offset, sz, st, self->ndim);
            if (!v) goto fail;
            uniq = ct_empty(sz, self->ndim, self->dtype);
            if (!uniq || ct_copy_into(uniq, v)) {
                ct_tensor_release(v);
                goto fail;
            }
            ct_tensor_release(v);
        } else {
            uniq = ct_contig_as(vals, self->dtype);
            if (!uniq) goto fail;
        }
    }
    free(order);
    ct_tensor_release(buf);
    ct_tensor_release(vals);
    *out0 = uniq;
    *out1 = inv;
    *out2 = cnt;
    return 0;
fail:
    free(order);
    ct_tensor_release(buf);
    ct_tensor_release(vals);
    ct_tensor_release(uniq);
    ct_tensor_release(inv);
    ct_tensor_release(cnt);
    return -1;
}

/* ------------------------------------------------------------------ bincount / histc */

ct_tensor *ct_bincount_impl(ct_tensor *self, ct_tensor *weights, int64_t minlength) {
    if (self->ndim != 1 || !ct_dtype_is_integral(self->dtype, false))
        return ct_error(CT_ERR_RUNTIME, "[bincount] bincount only supports 1-d non-negative integral inputs.");
    if (minlength < 0) return ct_error(CT_ERR_RUNTIME, "[bincount] minlength should be >= 0");
    if (weights && (weights->ndim != 1 || weights->sizes[0] != self->sizes[0]))
        return ct_error(CT_ERR_RUNTIME, "[bincount] weights should be 1-d and have the same length as input");
    ct_tensor *x = ct_contig_as(self, CT_INT64);
    if (!x) return NULL;
    const int64_t *xp = (const int64_t *)ct_tensor_data(x);
    int64_t n = x->numel, mx = -1;
    for (int64_t i = 0; i < n; i++) {
        if (xp[i] < 0) {
            ct_tensor_release(x);
            return ct_error(CT_ERR_RUNTIME, "[bincount] bincount only supports 1-d non-negative integral inputs.");
        }
        if (xp[i] > mx) mx = xp[i];
    }
    int64_t len = mx + 1 > minlength ? mx + 1 : minlength;
    int odt = !weights ? CT_INT64 : weights->dtype == CT_FLOAT32 ? CT_FLOAT32 : CT_FLOAT64;
    ct_tensor *out = ct_empty(&len, 1, weights ? CT_FLOAT64 : CT_INT64);
    ct_tensor *w = out && weights ? ct_contig_as(weights, CT_FLOAT64) : NULL;
    if (!out || (weights && !w)) {
        ct_tensor_release(x);
        ct_tensor_release(out);
        return NULL;
    }
    if (weights) {
        double *o = (double *)ct_tensor_data(out);
        const double *wp = (const double *)ct_tensor_data(w);
        for (int64_t i = 0; i < len; i++) o[i] = 0;
        for (int64_t i = 0; i < n; i++) o[xp[i]] += wp[i];
    } else {
        int64_t *o = (int64_t *)ct_tensor_data(out);
        for (int64_t i = 0; i < len; i++) o[i] = 0;
        for (int64_t i = 0; i < n; i++) o[xp[i]]++;
    }
    ct_tensor_release(x);
    ct_tensor_release(w);
    ct_tensor *r = ct_contig_as(out, odt);
    ct_tensor_release(out);
    return r;
}

ct_tensor *ct_histc(ct_tensor *self, int64_t bins, ct_scalar min, ct_scalar max) {
    if (!ct_dtype_is_floating(self->dtype))
        return ct_error(CT_ERR_NOT_IMPLEMENTED, "[histc] \"histogram_cpu\" not implemented for '%s'",
                        ct_dtype_name(self->dtype));
    if (bins <= 0) return ct_error(CT_ERR_RUNTIME, "[histc] torch.histc(): bins must be > 0, but got %lld for dimension 0",
                                   (long long)bins);
    double lo = ct_scalar_to_f64(min), hi = ct_scalar_to_f64(max);
    if (lo > hi) return ct_error(CT_ERR_RUNTIME, "[histc] torch.histc(): max must be larger than min");
    if (isinf(lo) || isinf(hi) || lo != lo || hi != hi)
        return ct_error(CT_ERR_RUNTIME, "[histc] torch.histc(): range of [%g, %g] is not finite", lo, hi);
    ct_tensor *x = ct_contig_as(self, CT_FLOAT64);
    if (!x) return NULL;
    const double *xp = (const double *)ct_tensor_data(x);
    int64_t n = x->numel;
    if (lo == hi && n > 0) {
        lo = INFINITY;
        hi = -INFINITY;
        for (int64_t i = 0; i < n; i++) {
            if (xp[i] < lo) lo = xp[i];
            if (xp[i] > hi) hi = xp[i];
        }
    }
    if (lo == hi) {
        lo -= 1;
        hi += 1;
    }
    ct_tensor *out = ct_empty(&bins, 1, CT_FLOAT64);
    if (!out) {
        ct_tensor_release(x);
        return NULL;
    }
    double *o = (double *)ct_tensor_data(out);
    for (int64_t i = 0; i < bins; i++) o[i] = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = xp[i];
        if (!(v >= lo && v <= hi)) continue;
        int64_t b = (int64_t)((v - lo) * (double)bins / (hi - lo));
        if (b >= bins) b = bins - 1;
        o[b] += 1;
    }
    ct_tensor_release(x);
    ct_tensor *r = ct_contig_as(out, self->dtype);
    ct_tensor_release(out);
    return r;
}

/* ------------------------------------------------------------------ searching */

static ct_tensor *search(const char *op, ct_tensor *seq, ct_tensor *vals, bool out_int32, bool right, ct_tensor *sorter) {
    if (seq->ndim == 0)
        return ct_error(CT_ERR_RUNTIME, "[%s] %s(): boundaries tensor should have positive dimension, but got 0 "
                        "dimension", op, op);
    bool lead_ok = seq->ndim == 1;
    if (!lead_ok && seq->ndim == vals->ndim) {
        lead_ok = true;
        for (int k = 0; k < seq->ndim - 1; k++)
            if (seq->sizes[k] != vals->sizes[k]) lead_ok = false;
    }
    if (!lead_ok)
        return ct_error(CT_ERR_RUNTIME, "[%s] %s(): boundaries tensor should be 1 dimension or the first N-1 "
                        "dimensions of boundaries tensor and input value tensor must match", op, op);
    if (sorter) {
        if (sorter->ndim != seq->ndim) goto bad_sorter;
        for (int k = 0; k < seq->ndim; k++)
            if (sorter->sizes[k] != seq->sizes[k]) goto bad_sorter;
        if (sorter->dtype != CT_INT64)
            return ct_error(CT_ERR_RUNTIME, "[%s] %s(): sorter must be a tensor of long dtype but got %s", op, op,
                            ct_dtype_name(sorter->dtype));
    }
    if (seq->dtype == CT_BOOL || vals->dtype == CT_BOOL)
        return ct_error(CT_ERR_NOT_IMPLEMENTED, "[%s] \"searchsorted_out_cpu\" not implemented for 'Bool'", op);
    bool flt = ct_dtype_is_floating(seq->dtype) || ct_dtype_is_floating(vals->dtype);
    int cdt = flt ? CT_FLOAT64 : CT_INT64;
    ct_tensor *s = ct_contig_as(seq, cdt), *v = s ? ct_contig_as(vals, cdt) : NULL;
    ct_tensor *so = v && sorter ? ct_contig_as(sorter, CT_INT64) : NULL;
    ct_tensor *out = v && (!sorter || so) ? ct_empty(vals->sizes, vals->ndim, CT_INT64) : NULL;
    if (!out) goto fail;
    int64_t M = seq->sizes[seq->ndim - 1];
    int64_t inner = vals->ndim ? vals->sizes[vals->ndim - 1] : 1;
    const int64_t *sop = so ? (const int64_t *)ct_tensor_data(so) : NULL;
    int64_t *op_ = (int64_t *)ct_tensor_data(out);
    for (int64_t i = 0; i < out->numel; i++) {
        int64_t row = seq->ndim == 1 ? 0 : i / (inner ? inner : 1);
        int64_t lo = 0, hi = M;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            int64_t pos = row * M + (sop ? sop[row * M + mid] : mid);
            bool go_right;
            if (flt) {
                double a = ((const double *)ct_tensor_data(s))[pos], x = ((const double *)ct_tensor_data(v))[i];
                go_right = right ? !(x < a) : a < x;
            } else {
                int64_t a = ((const int64_t *)ct_tensor_data(s))[pos], x = ((const int64_t *)ct_tensor_data(v))[i];
                go_right = right ? !(x < a) : a < x;
            }
            if (go_right)
                lo = mid + 1;
            else
                hi = mid;
        }
        op_[i] = lo;
    }
    ct_tensor_release(s);
    ct_tensor_release(v);
    ct_tensor_release(so);
    if (out_int32) {
        ct_tensor *r = ct_contig_as(out, CT_INT32);
        ct_tensor_release(out);
        return r;
    }
    return out;
fail:
    ct_tensor_release(s);
    ct_tensor_release(v);
    ct_tensor_release(so);
    return NULL;
bad_sorter:
    return ct_error(CT_ERR_RUNTIME, "[%s] %s(): boundary and sorter must have the same size", op, op);
}

ct_tensor *ct_searchsorted(ct_tensor *sorted_sequence, ct_tensor *self, bool out_int32, bool right, const char *side,
                           ct_tensor *sorter) {
    if (side) {
        if (strcmp(side, "left") && strcmp(side, "right"))
            return ct_error(CT_ERR_RUNTIME, "[searchsorted] torch.searchsorted(): side can only be 'left' or 'right' "
                            "but got %s", side);
        if (right && !strcmp(side, "left"))
            return ct_error(CT_ERR_RUNTIME, "[searchsorted] torch.searchsorted(): side and right can't be set to "
                            "opposites, got side of left while right was True");
        right = !strcmp(side, "right");
    }
    return search("searchsorted", sorted_sequence, self, out_int32, right, sorter);
}

ct_tensor *ct_bucketize(ct_tensor *self, ct_tensor *boundaries, bool out_int32, bool right) {
    if (boundaries->ndim != 1)
        return ct_error(CT_ERR_RUNTIME, "[bucketize] bucketize(): boundaries tensor must be 1 dimension, but got dim(%d)",
                        boundaries->ndim);
    return search("bucketize", boundaries, self, out_int32, right, NULL);
}
