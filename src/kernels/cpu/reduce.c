/* The reduction engine (see NOTE [ Reduction engine ] in reduce.h): per-dtype row and
 * row-accumulate kernels, the plan that maps any set of reduced dims onto them, and the
 * dim-moving helpers used by the scan and sort ops. */
#include <stdlib.h>
#include <string.h>

#include "reduce.h"

/* ------------------------------------------------------------------ dims and shapes */

int ct_reduce_mask(const char *op, ct_intlist dim, int ndim, uint32_t *mask) {
    uint32_t m = 0;
    if (dim.n <= 0) {
        *mask = ndim ? (uint32_t)((1ull << ndim) - 1) : 0;
        return 0;
    }
    bool seen0 = false; /* 0-dim tensors: dims 0/-1 name the same (virtual) dim */
    for (int64_t k = 0; k < dim.n; k++) {
        int d = ct_wrap_dim(dim.data[k], ndim, op);
        if (d < 0) return -1;
        if (ndim == 0) {
            if (seen0) return ct_errorf(CT_ERR_RUNTIME, "[%s] dim 0 appears multiple times in the list of dims", op);
            seen0 = true;
            continue;
        }
        if (m & (1u << d)) return ct_errorf(CT_ERR_RUNTIME, "[%s] dim %d appears multiple times in the list of dims", op, d);
        m |= 1u << d;
    }
    *mask = m;
    return 0;
}

int ct_reduce_shape(const ct_tensor *x, uint32_t mask, bool keepdim, int64_t *out) {
    int n = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (mask & (1u << d)) {
            if (keepdim) out[n++] = 1;
        } else {
            out[n++] = x->sizes[d];
        }
    }
    return n;
}

int64_t ct_reduce_count(const ct_tensor *x, uint32_t mask) {
    int64_t c = 1;
    for (int d = 0; d < x->ndim; d++)
        if (mask & (1u << d)) c *= x->sizes[d];
    return c;
}

/* ------------------------------------------------------------------ kernels */

typedef struct red_vt {
    void (*row)(const void *x, int64_t n, void *res); /* *res = reduce x[0..n) */
    void (*acc)(void *a, const void *x, int64_t n);   /* a[i] = op(a[i], x[i]) */
    void (*comb)(void *a, const void *b);             /* *a = op(*a, *b) */
    void (*fill)(void *a, int64_t n);                 /* identity */
} red_vt;

#define NACC 64 /* 4 AVX-512 (8 AVX2) registers of float: hides the add/compare latency */
#define OP_ADD(a, b) ((a) + (b))
#define OP_MUL(a, b) ((a) * (b))
#define OP_NANADD(a, b) ((a) + ((b) == (b) ? (b) : 0))
/* a: accumulator, b: new value. Written as "take b if it wins or is NaN" (a NaN a is kept
 * since nothing compares greater than it), the form GCC turns into compare + blend. */
#define OP_FMAX(a, b) (((b) > (a) || (b) != (b)) ? (b) : (a))
#define OP_FMIN(a, b) (((b) < (a) || (b) != (b)) ? (b) : (a))
#define OP_IMAX(a, b) ((a) > (b) ? (a) : (b))
#define OP_IMIN(a, b) ((a) < (b) ? (a) : (b))

/* T: storage type; A: accumulator type (uint64 for int64 sums: wrap-around, no UB). */
#define DEF_BLOCK(NAME, T, A, IDENT, OP)                                                        \
    static void NAME##_block(const T *restrict x, int64_t n, A *res) {                          \
        A a[NACC];                                                                              \
        for (int j = 0; j < NACC; j++) a[j] = (A)(IDENT);                                       \
        int64_t i = 0;                                                                          \
        for (; i + NACC <= n; i += NACC)                                                        \
            for (int j = 0; j < NACC; j++) a[j] = OP(a[j], (A)x[i + j]);                        \
        for (; i < n; i++) a[0] = OP(a[0], (A)x[i]);                                            \
        for (int s = NACC / 2; s > 0; s /= 2)                                                   \
            for (int j = 0; j < s; j++) a[j] = OP(a[j], a[j + s]);                              \
        *res = a[0];                                                                            \
    }

/* Float max/min: plain compare-select per lane (vmaxps-like) plus a NaN flag per lane. */
#define DEF_FBLOCK(NAME, T, IDENT, CMP)                                                         \
    static void NAME##_block(const T *restrict x, int64_t n, T *res) {                          \
        T a[NACC];                                                                              \
        int nan[NACC];                                                                          \
        for (int j = 0; j < NACC; j++) {                                                        \
            a[j] = (T)(IDENT);                                                                  \
            nan[j] = 0;                                                                         \
        }                                                                                       \
        int64_t i = 0;                                                                          \
        for (; i + NACC <= n; i += NACC)                                                        \
            for (int j = 0; j < NACC; j++) {                                                    \
                T v = x[i + j];                                                                 \
                a[j] = v CMP a[j] ? v : a[j];                                                   \
                nan[j] |= v != v;                                                               \
            }                                                                                   \
        for (; i < n; i++) {                                                                    \
            T v = x[i];                                                                         \
            a[0] = v CMP a[0] ? v : a[0];                                                       \
            nan[0] |= v != v;                                                                   \
        }                                                                                       \
        int any = 0;                                                                            \
        for (int j = 0; j < NACC; j++) any |= nan[j];                                           \
        for (int j = 1; j < NACC; j++) a[0] = a[j] CMP a[0] ? a[j] : a[0];                      \
        *res = any ? (T)NAN : a[0];                                                             \
    }

#define DEF_KERNELS(NAME, T, A, IDENT, OP)                                                      \
    /* pairwise above 2048 elements: error grows with log(n), as torch's cascade sum */         \
    static A NAME##_pair(const T *x, int64_t n) {                                               \
        if (n <= 2048) {                                                                        \
            A r;                                                                                \
            NAME##_block(x, n, &r);                                                             \
            return r;                                                                           \
        }                                                                                       \
        int64_t h = (n / 2 + NACC - 1) / NACC * NACC;                                           \
        A l = NAME##_pair(x, h), r = NAME##_pair(x + h, n - h);                                 \
        return OP(l, r);                                                                        \
    }                                                                                           \
    static void NAME##_row(const void *vx, int64_t n, void *res) {                              \
        *(T *)res = (T)NAME##_pair((const T *)vx, n);                                           \
    }                                                                                           \
    static void NAME##_acc(void *va, const void *vx, int64_t n) {                               \
        T *restrict a = (T *)va;                                                                \
        const T *restrict x = (const T *)vx;                                                    \
        for (int64_t i = 0; i < n; i++) a[i] = (T)OP((A)a[i], (A)x[i]);                         \
    }                                                                                           \
    static void NAME##_comb(void *va, const void *vb) {                                         \
        *(T *)va = (T)OP((A) * (T *)va, (A) * (const T *)vb);                                   \
    }                                                                                           \
    static void NAME##_fill(void *va, int64_t n) {                                              \
        T *a = (T *)va;                                                                         \
        for (int64_t i = 0; i < n; i++) a[i] = (T)(IDENT);                                      \
    }                                                                                           \
    static const red_vt NAME##_vt = {NAME##_row, NAME##_acc, NAME##_comb, NAME##_fill};

DEF_BLOCK(sum_i64, int64_t, uint64_t, 0, OP_ADD)
/* float32 sum, the hot one: explicit 16-lane vectors, 4 independent accumulators (64 lanes,
 * the same lane assignment as DEF_BLOCK), so the row kernel is load-bound instead of paying
 * for a 64-element scalar-array reduction tree GCC does not keep in registers. */
typedef float ct_v16f __attribute__((vector_size(64)));
static void sum_f32_block(const float *restrict x, int64_t n, float *res) {
    ct_v16f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        ct_v16f v0, v1, v2, v3;
        memcpy(&v0, x + i, 64);
        memcpy(&v1, x + i + 16, 64);
        memcpy(&v2, x + i + 32, 64);
        memcpy(&v3, x + i + 48, 64);
        a0 += v0;
        a1 += v1;
        a2 += v2;
        a3 += v3;
    }
    a0 = (a0 + a2) + (a1 + a3);
    float t[16];
    memcpy(t, &a0, sizeof t);
    for (; i < n; i++) t[0] += x[i];
    for (int s = 8; s > 0; s /= 2)
        for (int j = 0; j < s; j++) t[j] += t[j + s];
    *res = t[0];
}
DEF_BLOCK(sum_f64, double, double, 0, OP_ADD)
DEF_BLOCK(nansum_f32, float, float, 0, OP_NANADD)
DEF_BLOCK(nansum_f64, double, double, 0, OP_NANADD)
DEF_BLOCK(prod_i64, int64_t, uint64_t, 1, OP_MUL)
DEF_BLOCK(prod_f32, float, float, 1, OP_MUL)
DEF_BLOCK(prod_f64, double, double, 1, OP_MUL)
DEF_BLOCK(max_i64, int64_t, int64_t, INT64_MIN, OP_IMAX)
DEF_FBLOCK(max_f32, float, -INFINITY, >)
DEF_FBLOCK(max_f64, double, -INFINITY, >)
DEF_BLOCK(max_u8, uint8_t, uint8_t, 0, OP_IMAX)
DEF_BLOCK(min_i64, int64_t, int64_t, INT64_MAX, OP_IMIN)
DEF_FBLOCK(min_f32, float, INFINITY, <)
DEF_FBLOCK(min_f64, double, INFINITY, <)
DEF_BLOCK(min_u8, uint8_t, uint8_t, 1, OP_IMIN)
DEF_KERNELS(sum_i64, int64_t, uint64_t, 0, OP_ADD)
DEF_KERNELS(sum_f32, float, float, 0, OP_ADD)
DEF_KERNELS(sum_f64, double, double, 0, OP_ADD)
DEF_KERNELS(nansum_f32, float, float, 0, OP_NANADD)
DEF_KERNELS(nansum_f64, double, double, 0, OP_NANADD)
DEF_KERNELS(prod_i64, int64_t, uint64_t, 1, OP_MUL)
DEF_KERNELS(prod_f32, float, float, 1, OP_MUL)
DEF_KERNELS(prod_f64, double, double, 1, OP_MUL)
DEF_KERNELS(max_i64, int64_t, int64_t, INT64_MIN, OP_IMAX)
DEF_KERNELS(max_f32, float, float, -INFINITY, OP_FMAX)
DEF_KERNELS(max_f64, double, double, -INFINITY, OP_FMAX)
DEF_KERNELS(max_u8, uint8_t, uint8_t, 0, OP_IMAX)
DEF_KERNELS(min_i64, int64_t, int64_t, INT64_MAX, OP_IMIN)
DEF_KERNELS(min_f32, float, float, INFINITY, OP_FMIN)
DEF_KERNELS(min_f64, double, double, INFINITY, OP_FMIN)
DEF_KERNELS(min_u8, uint8_t, uint8_t, 1, OP_IMIN)

static const red_vt *pick_vt(ct_red_kind kind, int cdt) {
    switch (kind) {
    case CT_RED_SUM:
        return cdt == CT_INT64 ? &sum_i64_vt : cdt == CT_FLOAT32 ? &sum_f32_vt : cdt == CT_FLOAT64 ? &sum_f64_vt : NULL;
    case CT_RED_NANSUM:
        return cdt == CT_INT64 ? &sum_i64_vt : cdt == CT_FLOAT32 ? &nansum_f32_vt : cdt == CT_FLOAT64 ? &nansum_f64_vt : NULL;
    case CT_RED_PROD:
        return cdt == CT_INT64 ? &prod_i64_vt : cdt == CT_FLOAT32 ? &prod_f32_vt : cdt == CT_FLOAT64 ? &prod_f64_vt : NULL;
    case CT_RED_MAX:
        return cdt == CT_INT64 ? &max_i64_vt : cdt == CT_FLOAT32 ? &max_f32_vt : cdt == CT_FLOAT64 ? &max_f64_vt
             : cdt == CT_BOOL ? &max_u8_vt : NULL;
    case CT_RED_MIN:
        return cdt == CT_INT64 ? &min_i64_vt : cdt == CT_FLOAT32 ? &min_f32_vt : cdt == CT_FLOAT64 ? &min_f64_vt
             : cdt == CT_BOOL ? &min_u8_vt : NULL;
    }
    return NULL;
}

/* ------------------------------------------------------------------ plan */

typedef struct plan {
    const red_vt *vt;
    size_t esz;
    const char *x;
    char *out;
    int nO, nR;
    int64_t osz[CT_MAX_DIM], ost[CT_MAX_DIM]; /* outer kept runs (element strides) */
    int64_t rsz[CT_MAX_DIM], rst[CT_MAX_DIM]; /* reduced runs */
    int64_t O, R, I;                          /* I: innermost kept run (1 if none) */
    int64_t Rin, Rout;                        /* I == 1: innermost reduced run, count of rows */
    int64_t nblk, cb;                         /* I > 1: column blocks per output row */
    int64_t nchunk, chunk;                    /* few outputs: fixed chunks of the reduced range */
    char *partial;
    bool cascade;
} plan;

static int64_t outer_off(const plan *p, int64_t o) {
    int64_t off = 0;
    for (int k = p->nO - 1; k >= 0; k--) {
        off += (o % p->osz[k]) * p->ost[k];
        o /= p->osz[k];
    }
    return off;
}

/* Offset of reduced position r counted over dims [0, nd). */
static int64_t red_off(const plan *p, int64_t r, int nd) {
    int64_t off = 0;
    for (int k = nd - 1; k >= 0; k--) {
        off += (r % p->rsz[k]) * p->rst[k];
        r /= p->rsz[k];
    }
    return off;
}

/* I == 1: reduce the flat reduced range [b, e) starting at base into *res. */
static void inner_range(const plan *p, const char *base, int64_t b, int64_t e, void *res) {
    char tmp[16], blk[16];
    int nblk = 0;
    p->vt->fill(res, 1);
    p->vt->fill(blk, 1);
    while (b < e) {
        int64_t row = b / p->Rin, col = b % p->Rin;
        int64_t n = p->Rin - col;
        if (n > e - b) n = e - b;
        const char *src = base + (red_off(p, row, p->nR - 1) + col) * (int64_t)p->esz;
        p->vt->row(src, n, tmp);
        /* many short rows: partial results are combined in blocks of 64 (a cascade), so
         * float sums do not lose accuracy linearly in the number of rows */
        p->vt->comb(blk, tmp);
        if (++nblk == 64) {
            p->vt->comb(res, blk);
            p->vt->fill(blk, 1);
            nblk = 0;
        }
        b += n;
    }
    p->vt->comb(res, blk);
}

static void task_inner(int64_t begin, int64_t end, void *ctx) {
    const plan *p = (const plan *)ctx;
    if (p->R == p->Rin) { /* one contiguous reduced row per output: no cascade bookkeeping */
        for (int64_t o = begin; o < end; o++)
            p->vt->row(p->x + outer_off(p, o) * (int64_t)p->esz, p->R, p->out + o * (int64_t)p->esz);
        return;
    }
    for (int64_t o = begin; o < end; o++)
        inner_range(p, p->x + outer_off(p, o) * (int64_t)p->esz, 0, p->R, p->out + o * (int64_t)p->esz);
}

static void task_chunks(int64_t begin, int64_t end, void *ctx) {
    const plan *p = (const plan *)ctx;
    for (int64_t c = begin; c < end; c++) {
        int64_t b = c * p->chunk, e = b + p->chunk < p->R ? b + p->chunk : p->R;
        inner_range(p, p->x, b, e, p->partial + c * (int64_t)p->esz);
    }
}

/* I > 1: task t = (outer row, column block); rows of x accumulate into the output row. */
static void task_outer(int64_t begin, int64_t end, void *ctx) {
    const plan *p = (const plan *)ctx;
    int64_t es = (int64_t)p->esz;
    char *tmp = NULL;
    if (p->cascade) tmp = malloc((size_t)(p->cb * es));
    for (int64_t t = begin; t < end; t++) {
        int64_t o = t / p->nblk, blk = t % p->nblk;
        int64_t c0 = blk * p->cb, n = p->I - c0 < p->cb ? p->I - c0 : p->cb;
        char *dst = p->out + (o * p->I + c0) * es;
        const char *base = p->x + (outer_off(p, o) + c0) * es;
        p->vt->fill(dst, n);
        if (tmp) { /* float32 sums: blocks of 128 rows summed apart, then added (cascade) */
            for (int64_t r0 = 0; r0 < p->R; r0 += 128) {
                int64_t r1 = r0 + 128 < p->R ? r0 + 128 : p->R;
                p->vt->fill(tmp, n);
                for (int64_t r = r0; r < r1; r++) p->vt->acc(tmp, base + red_off(p, r, p->nR) * es, n);
                p->vt->acc(dst, tmp, n);
            }
        } else {
            for (int64_t r = 0; r < p->R; r++) p->vt->acc(dst, base + red_off(p, r, p->nR) * es, n);
        }
    }
    free(tmp);
}

ct_tensor *ct_reduce_run(ct_tensor *x, uint32_t mask, ct_red_kind kind, int cdt, const int64_t *out_sizes,
                         int out_ndim) {
    const red_vt *vt = pick_vt(kind, cdt);
    if (!vt) return ct_error(CT_ERR_RUNTIME, "[reduce] unsupported compute dtype %s", ct_dtype_name(cdt));
    ct_tensor *out = ct_empty(out_sizes, out_ndim, cdt);
    if (!out) return NULL;
    if (out->numel == 0) return out;
    ct_tensor *xc = ct_contig_as(x, cdt);
    if (!xc) {
        ct_tensor_release(out);
        return NULL;
    }
    plan p;
    memset(&p, 0, sizeof p);
    p.vt = vt;
    p.esz = ct_dtype_size(cdt);
    p.x = (const char *)ct_tensor_data(xc);
    p.out = (char *)ct_tensor_data(out);
    /* coalesce into runs, innermost last */
    int64_t rs[CT_MAX_DIM];
    int rr[CT_MAX_DIM];
    int nr = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (x->sizes[d] == 1) continue;
        int red = (mask >> d) & 1;
        if (nr && rr[nr - 1] == red) {
            rs[nr - 1] *= x->sizes[d];
        } else {
            rs[nr] = x->sizes[d];
            rr[nr++] = red;
        }
    }
    p.I = 1;
    if (nr && !rr[nr - 1]) p.I = rs[--nr];
    int64_t st = p.I;
    for (int k = nr - 1; k >= 0; k--) {
        if (rr[k]) {
            p.rsz[p.nR] = rs[k];
            p.rst[p.nR++] = st;
        } else {
            p.osz[p.nO] = rs[k];
            p.ost[p.nO++] = st;
        }
        st *= rs[k];
    }
    /* collected innermost first: reverse into outermost-first order */
    for (int a = 0, b = p.nO - 1; a < b; a++, b--) {
        int64_t t = p.osz[a]; p.osz[a] = p.osz[b]; p.osz[b] = t;
        t = p.ost[a]; p.ost[a] = p.ost[b]; p.ost[b] = t;
    }
    for (int a = 0, b = p.nR - 1; a < b; a++, b--) {
        int64_t t = p.rsz[a]; p.rsz[a] = p.rsz[b]; p.rsz[b] = t;
        t = p.rst[a]; p.rst[a] = p.rst[b]; p.rst[b] = t;
    }
    p.O = 1;
    for (int k = 0; k < p.nO; k++) p.O *= p.osz[k];
    p.R = 1;
    for (int k = 0; k < p.nR; k++) p.R *= p.rsz[k];
    if (x->numel == 0) p.R = 0;
    if (p.R == 0) {
        vt->fill(p.out, out->numel);
    } else if (p.I == 1) {
        p.Rin = p.nR ? p.rsz[p.nR - 1] : 1;
        if (p.nR == 0) { /* nothing reduced: copy */
            p.nR = 1;
            p.rsz[0] = 1;
            p.rst[0] = 1;
        }
        p.Rout = p.R / p.Rin;
        int nth = ct_get_num_threads();
        if (p.O < 4 * nth && p.R >= 4 * (int64_t)CT_GRAIN && nth > 1) {
            /* few outputs, long reductions: fixed chunks of the reduced range per output */
            p.chunk = 4 * (int64_t)CT_GRAIN;
            p.nchunk = (p.R + p.chunk - 1) / p.chunk;
            p.partial = malloc((size_t)p.nchunk * p.esz);
            char *xbase = (char *)p.x;
            for (int64_t o = 0; o < p.O && p.partial; o++) {
                p.x = xbase + outer_off(&p, o) * (int64_t)p.esz;
                ct_parallel_for(p.nchunk, 1, task_chunks, &p);
                char *dst = p.out + o * (int64_t)p.esz;
                vt->fill(dst, 1);
                for (int64_t c = 0; c < p.nchunk; c++) vt->comb(dst, p.partial + c * (int64_t)p.esz);
            }
            if (!p.partial) {
                ct_tensor_release(xc);
                ct_tensor_release(out);
                return ct_error(CT_ERR_MEMORY, "[reduce] out of memory");
            }
            free(p.partial);
        } else {
            int64_t grain = CT_GRAIN / p.R;
            ct_parallel_for(p.O, grain < 1 ? 1 : grain, task_inner, &p);
        }
    } else {
        p.cb = p.I < 2048 ? p.I : 2048;
        p.nblk = (p.I + p.cb - 1) / p.cb;
        p.cascade = (kind == CT_RED_SUM || kind == CT_RED_NANSUM) && cdt == CT_FLOAT32 && p.R > 128;
        int64_t work = p.R * p.cb;
        int64_t grain = CT_GRAIN / (work ? work : 1);
        ct_parallel_for(p.O * p.nblk, grain < 1 ? 1 : grain, task_outer, &p);
    }
    ct_tensor_release(xc);
    return out;
}

/* ------------------------------------------------------------------ moving a dim */

ct_tensor *ct_movedim_last_contig(ct_tensor *x, int dim, int cdt) {
    if (x->ndim == 0 || dim == x->ndim - 1) return ct_contig_as(x, cdt);
    int64_t sz[CT_MAX_DIM], st[CT_MAX_DIM];
    int n = 0;
    for (int d = 0; d < x->ndim; d++)
        if (d != dim) {
            sz[n] = x->sizes[d];
            st[n++] = x->strides[d];
        }
    sz[n] = x->sizes[dim];
    st[n++] = x->strides[dim];
    ct_tensor *v = ct_tensor_new_view(x->storage, x->dtype, x->offset, sz, st, n);
    if (!v) return NULL;
    ct_tensor *r = ct_contig_as(v, cdt);
    ct_tensor_release(v);
    return r;
}

ct_tensor *ct_movedim_back(ct_tensor *r, int dim, int odt) {
    int nd = r->ndim;
    if (nd == 0 || dim == nd - 1) return ct_contig_as(r, odt);
    int64_t sz[CT_MAX_DIM], st[CT_MAX_DIM];
    /* r dims: others in order then `dim` */
    int k = 0;
    for (int d = 0; d < nd; d++) {
        if (d == dim) {
            sz[d] = r->sizes[nd - 1];
            st[d] = r->strides[nd - 1];
        } else {
            sz[d] = r->sizes[k];
            st[d] = r->strides[k];
            k++;
        }
    }
    ct_tensor *v = ct_tensor_new_view(r->storage, r->dtype, r->offset, sz, st, nd);
    if (!v) return NULL;
    ct_tensor *out = ct_empty(sz, nd, odt < 0 ? r->dtype : odt);
    if (out && ct_copy_into(out, v)) {
        ct_tensor_release(out);
        out = NULL;
    }
    ct_tensor_release(v);
    return out;
}
