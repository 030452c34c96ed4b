/* Pooling kernels for one floating type, included by pool.c with T (element type) and SUF
 * (name suffix) defined. Every kernel works on contiguous (planes, D, H, W) data: 1-d and
 * 2-d pools are the 3-d case with leading spatial sizes 1. Each function handles planes
 * [p0, p1) so pool.c can split planes over threads. */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, SUF)

/* sum of n values; long rows use 8 independent accumulators (vectorised) */
static inline T FN(rowsum)(const T *p, int64_t n) {
    if (n < 16) {
        T s = 0;
        for (int64_t j = 0; j < n; j++) s += p[j];
        return s;
    }
    T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++) acc[k] += p[j + k];
    T s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; j < n; j++) s += p[j];
    return s;
}

/* one max-pool window, scanned in row-major order as torch does: the result is the last NaN
 * if the window holds one, else the first maximum; ind is its flat index in the plane */
static inline void FN(max_window)(const pgeom *g, const T *xp, int64_t od, int64_t oh, int64_t ow, T *out,
                                  int64_t *ind) {
    int64_t d0 = od * g->s[0] - g->p[0];
    int64_t d1 = d0 + (g->k[0] - 1) * g->d[0] + 1;
    if (d1 > g->in[0]) d1 = g->in[0];
    while (d0 < 0) d0 += g->d[0];
    int64_t h0 = oh * g->s[1] - g->p[1];
    int64_t h1 = h0 + (g->k[1] - 1) * g->d[1] + 1;
    if (h1 > g->in[1]) h1 = g->in[1];
    while (h0 < 0) h0 += g->d[1];
    int64_t w0 = ow * g->s[2] - g->p[2];
    int64_t w1 = w0 + (g->k[2] - 1) * g->d[2] + 1;
    if (w1 > g->in[2]) w1 = g->in[2];
    while (w0 < 0) w0 += g->d[2];
    int64_t best = (d0 * g->in[1] + h0) * g->in[2] + w0;
    T m = -(T)INFINITY;
    for (int64_t a = d0; a < d1; a += g->d[0])
        for (int64_t b = h0; b < h1; b += g->d[1]) {
            int64_t row = (a * g->in[1] + b) * g->in[2];
            for (int64_t c = w0; c < w1; c += g->d[2]) {
                T v = xp[row + c];
                if (v > m || isnan(v)) {
                    m = v;
                    best = row + c;
                }
            }
        }
    *out = m;
    *ind = best;
}

/* Folds one input row r (flat plane offset rbase) into the running maxima m / indices id of the
 * outputs [lo, hi) whose windows lie inside the row: branch-free, vectorised over outputs. The
 * k = 2 / 3 cases are unrolled so the strided loads of a window are fused into one pass. */
static inline void FN(max_row)(T *restrict m, int64_t *restrict id, const T *restrict r, int64_t rbase, int64_t lo,
                               int64_t hi, int64_t s, int64_t off, int64_t k, int64_t dl) {
#define MAX_UPD(v, c)                                                                                                  \
    do {                                                                                                               \
        bool t_ = (v) > mo || (v) != (v);                                                                              \
        mo = t_ ? (v) : mo;                                                                                            \
        io = t_ ? (c) : io;                                                                                            \
    } while (0)
    if (k == 2 && s == 2 && dl == 1) {
        for (int64_t o = lo; o < hi; o++) {
            int64_t c = 2 * o + off;
            T v0 = r[c], v1 = r[c + 1], mo = m[o];
            int64_t io = id[o];
            MAX_UPD(v0, rbase + c);
            MAX_UPD(v1, rbase + c + 1);
            m[o] = mo;
            id[o] = io;
        }
    } else if (k == 3 && dl == 1) {
        for (int64_t o = lo; o < hi; o++) {
            int64_t c = s * o + off;
            T v0 = r[c], v1 = r[c + 1], v2 = r[c + 2], mo = m[o];
            int64_t io = id[o];
            MAX_UPD(v0, rbase + c);
            MAX_UPD(v1, rbase + c + 1);
            MAX_UPD(v2, rbase + c + 2);
            m[o] = mo;
            id[o] = io;
        }
    } else {
        for (int64_t j = 0; j < k; j++) {
            int64_t oj = off + j * dl;
            for (int64_t o = lo; o < hi; o++) {
                int64_t c = s * o + oj;
                T v = r[c], mo = m[o];
                int64_t io = id[o];
                MAX_UPD(v, rbase + c);
                m[o] = mo;
                id[o] = io;
            }
        }
    }
#undef MAX_UPD
}

/* the AVX-512 kernels (pool.c) take float32 planes with stride and kernel <= POOL_AVX_KMAX
 * along W and plane offsets (with padding) in int32 */
static inline bool FN(avx_rows)(const pgeom *g) {
#ifdef POOL_AVX512
    return sizeof(T) == 4 && g->s[2] <= POOL_AVX_KMAX && g->k[2] <= POOL_AVX_KMAX &&
           g->in[0] * g->in[1] * (g->in[2] + g->p[2]) <= INT32_MAX;
#else
    (void)g;
    return false;
#endif
}

/* max pool: x (planes, in), y (planes, out), ind (planes, out) flat spatial indices (NULL:
 * values only, for planes the AVX-512 kernel takes). Without it, each output row (od, oh) is
 * built by folding its window's input rows into it in scan order (max_row) for the outputs
 * whose windows lie inside the row; the few border outputs (padding, ceil mode) take the
 * per-window scan. */
static void FN(maxpool_k)(const pgeom *g, const T *x, T *y, int64_t *ind, int64_t p0, int64_t p1) {
#ifdef POOL_AVX512
    if (FN(avx_rows)(g) && g->in[0] * g->in[1] * g->in[2] <= INT32_MAX) { /* ind NULL: values only */
        max_planes_avx512(g, (const float *)x, (float *)y, ind, p0, p1);
        return;
    }
#endif
    int64_t isz = g->in[0] * g->in[1] * g->in[2], osz = g->out[0] * g->out[1] * g->out[2];
    int64_t W = g->in[2], OW = g->out[2], sw = g->s[2], pw = g->p[2], kw = g->k[2], dw = g->d[2];
    int64_t lo, hi;
    interior_range(W, OW, kw, sw, pw, dw, &lo, &hi);
    for (int64_t p = p0; p < p1; p++) {
        const T *xp = x + p * isz;
        for (int64_t od = 0; od < g->out[0]; od++) {
            int64_t d0, d1;
            valid_taps(od, g->in[0], g->k[0], g->s[0], g->p[0], g->d[0], &d0, &d1);
            for (int64_t oh = 0; oh < g->out[1]; oh++) {
                int64_t h0, h1;
                valid_taps(oh, g->in[1], g->k[1], g->s[1], g->p[1], g->d[1], &h0, &h1);
                int64_t orow = (od * g->out[1] + oh) * OW;
                T *m = y + p * osz + orow;
                int64_t *id = ind + p * osz + orow;
                for (int64_t o = 0; o < lo; o++) FN(max_window)(g, xp, od, oh, o, m + o, id + o);
                for (int64_t o = hi; o < OW; o++) FN(max_window)(g, xp, od, oh, o, m + o, id + o);
                if (lo >= hi) continue;
                int64_t first = (d0 * g->in[1] + h0) * W - pw;
                for (int64_t o = lo; o < hi; o++) {
                    m[o] = -(T)INFINITY;
                    id[o] = first + o * sw;
                }
                for (int64_t a = d0; a < d1; a += g->d[0])
                    for (int64_t b = h0; b < h1; b += g->d[1]) {
                        int64_t rb = (a * g->in[1] + b) * W;
                        FN(max_row)(m, id, xp + rb, rb, lo, hi, sw, -pw, kw, dw);
                    }
            }
        }
    }
}

/* avg pool window of output (od, oh, ow): clamped bounds and the divisor */
static inline T FN(avg_window)(const pgeom *g, int64_t od, int64_t oh, int64_t ow, int64_t *lo, int64_t *hi) {
    int64_t o[3] = {od, oh, ow};
    int64_t full = 1, inside = 1;
    for (int i = 0; i < 3; i++) {
        int64_t s = o[i] * g->s[i] - g->p[i];
        int64_t e = s + g->k[i];
        if (e > g->in[i] + g->p[i]) e = g->in[i] + g->p[i];
        full *= e - s;
        if (s < 0) s = 0;
        if (e > g->in[i]) e = g->in[i];
        lo[i] = s;
        hi[i] = e;
        inside *= e > s ? e - s : 0;
    }
    if (g->divisor) return (T)g->divisor;
    return (T)(g->count_include_pad ? full : inside);
}

static void FN(avgpool_k)(const pgeom *g, const T *x, T *y, int64_t p0, int64_t p1) {
    int64_t isz = g->in[0] * g->in[1] * g->in[2], osz = g->out[0] * g->out[1] * g->out[2];
#ifdef POOL_AVX512
    if (FN(avx_rows)(g)) {
        avg_planes_avx512(g, (float *)(uintptr_t)x, (float *)y, p0, p1, false);
        return;
    }
#endif
    for (int64_t p = p0; p < p1; p++) {
        const T *xp = x + p * isz;
        T *yp = y + p * osz;
        for (int64_t od = 0; od < g->out[0]; od++)
            for (int64_t oh = 0; oh < g->out[1]; oh++)
                for (int64_t ow = 0; ow < g->out[2]; ow++) {
                    int64_t lo[3], hi[3];
                    T div = FN(avg_window)(g, od, oh, ow, lo, hi);
                    int64_t o = (od * g->out[1] + oh) * g->out[2] + ow;
                    if (lo[0] >= hi[0] || lo[1] >= hi[1] || lo[2] >= hi[2]) {
                        yp[o] = 0;
                        continue;
                    }
                    T sum = 0;
                    for (int64_t a = lo[0]; a < hi[0]; a++)
                        for (int64_t b = lo[1]; b < hi[1]; b++)
                            sum += FN(rowsum)(xp + (a * g->in[1] + b) * g->in[2] + lo[2], hi[2] - lo[2]);
                    yp[o] = sum / div;
                }
    }
}

/* adjoint of avgpool_k: gx (planes, in), each plane zeroed here */
static void FN(avgpool_bwd_k)(const pgeom *g, const T *gy, T *gx, int64_t p0, int64_t p1) {
    int64_t isz = g->in[0] * g->in[1] * g->in[2], osz = g->out[0] * g->out[1] * g->out[2];
#ifdef POOL_AVX512
    if (FN(avx_rows)(g)) {
        avg_planes_avx512(g, (float *)gx, (float *)(uintptr_t)gy, p0, p1, true);
        return;
    }
#endif
    for (int64_t p = p0; p < p1; p++) {
        T *xp = gx + p * isz;
        memset(xp, 0, (size_t)isz * sizeof(T));
        const T *yp = gy + p * osz;
        for (int64_t od = 0; od < g->out[0]; od++)
            for (int64_t oh = 0; oh < g->out[1]; oh++)
                for (int64_t ow = 0; ow < g->out[2]; ow++) {
                    int64_t lo[3], hi[3];
                    T div = FN(avg_window)(g, od, oh, ow, lo, hi);
                    T v = yp[(od * g->out[1] + oh) * g->out[2] + ow] / div;
                    for (int64_t a = lo[0]; a < hi[0]; a++)
                        for (int64_t b = lo[1]; b < hi[1]; b++) {
                            T *row = xp + (a * g->in[1] + b) * g->in[2];
                            for (int64_t c = lo[2]; c < hi[2]; c++) row[c] += v;
                        }
                }
    }
}

/* global avg pool (every output size 1): y[p] = mean of plane p */
static void FN(global_avg_k)(int64_t isz, const T *x, T *y, int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; p++) {
#ifdef POOL_AVX512
        if (sizeof(T) == 4) {
            y[p] = (T)sum_avx512((const float *)(x + p * isz), isz) / (T)isz;
            continue;
        }
#endif
        y[p] = FN(rowsum)(x + p * isz, isz) / (T)isz;
    }
}

/* global max pool: y[p], ind[p] = max of plane p and its flat index (the scan's: last NaN,
 * else first maximum) */
static void FN(global_max_k)(int64_t isz, const T *x, T *y, int64_t *ind, int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; p++) {
        const T *xp = x + p * isz;
#ifdef POOL_AVX512
        if (sizeof(T) == 4 && isz <= INT32_MAX) {
            max_index_avx512((const float *)xp, isz, (float *)(y + p), ind + p);
            continue;
        }
#endif
        T m = -(T)INFINITY;
        int64_t b = 0;
        for (int64_t i = 0; i < isz; i++)
            if (xp[i] > m || isnan(xp[i])) {
                m = xp[i];
                b = i;
            }
        y[p] = m;
        ind[p] = b;
    }
}

/* its adjoint: every element of plane p of gx is gy[p] / isz (no zero fill needed) */
static void FN(global_avg_bwd_k)(int64_t isz, const T *gy, T *gx, int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; p++) {
        T v = gy[p] / (T)isz, *q = gx + p * isz;
        for (int64_t i = 0; i < isz; i++) q[i] = v;
    }
}

static void FN(adaptive_avg_k)(const pgeom *g, const T *x, T *y, int64_t p0, int64_t p1) {
    int64_t isz = g->in[0] * g->in[1] * g->in[2], osz = g->out[0] * g->out[1] * g->out[2];
    for (int64_t p = p0; p < p1; p++) {
        const T *xp = x + p * isz;
        T *yp = y + p * osz;
        for (int64_t od = 0; od < g->out[0]; od++) {
            int64_t d0 = ad_start(od, g->out[0], g->in[0]), d1 = ad_end(od, g->out[0], g->in[0]);
            for (int64_t oh = 0; oh < g->out[1]; oh++) {
                int64_t h0 = ad_start(oh, g->out[1], g->in[1]), h1 = ad_end(oh, g->out[1], g->in[1]);
                for (int64_t ow = 0; ow < g->out[2]; ow++) {
                    int64_t w0 = ad_start(ow, g->out[2], g->in[2]), w1 = ad_end(ow, g->out[2], g->in[2]);
                    T sum = 0;
                    for (int64_t a = d0; a < d1; a++)
                        for (int64_t b = h0; b < h1; b++)
                            sum += FN(rowsum)(xp + (a * g->in[1] + b) * g->in[2] + w0, w1 - w0);
                    yp[(od * g->out[1] + oh) * g->out[2] + ow] = sum / (T)((d1 - d0) * (h1 - h0) * (w1 - w0));
                }
            }
        }
    }
}

static void FN(adaptive_avg_bwd_k)(const pgeom *g, const T *gy, T *gx, int64_t p0, int64_t p1) {
    int64_t isz = g->in[0] * g->in[1] * g->in[2], osz = g->out[0] * g->out[1] * g->out[2];
    for (int64_t p = p0; p < p1; p++) {
        T *xp = gx + p * isz;
        const T *yp = gy + p * osz;
        for (int64_t od = 0; od < g->out[0]; od++) {
            int64_t d0 = ad_start(od, g->out[0], g->in[0]), d1 = ad_end(od, g->out[0], g->in[0]);
            for (int64_t oh = 0; oh < g->out[1]; oh++) {
                int64_t h0 = ad_start(oh, g->out[1], g->in[1]), h1 = ad_end(oh, g->out[1], g->in[1]);
                for (int64_t ow = 0; ow < g->out[2]; ow++) {
                    int64_t w0 = ad_start(ow, g->out[2], g->in[2]), w1 = ad_end(ow, g->out[2], g->in[2]);
                    T v = yp[(od * g->out[1] + oh) * g->out[2] + ow] / (T)((d1 - d0) * (h1 - h0) * (w1 - w0));
                    for (int64_t a = d0; a < d1; a++)
                        for (int64_t b = h0; b < h1; b++) {
                            T *row = xp + (a * g->in[1] + b) * g->in[2];
                            for (int64_t c = w0; c < w1; c++) row[c] += v;
                        }
                }
            }
        }
    }
}

static void FN(adaptive_max_k)(const pgeom *g, const T *x, T *y, int64_t *ind, int64_t p0, int64_t p1) {
    int64_t isz = g->in[0] * g->in[1] * g->in[2], osz = g->out[0] * g->out[1] * g->out[2];
    /* column windows of the outputs of a row, computed once (they cost two divisions each) */
    int64_t wb[2 * 256];
    bool cached = g->out[2] <= 256;
    for (int64_t ow = 0; cached && ow < g->out[2]; ow++) {
        wb[2 * ow] = ad_start(ow, g->out[2], g->in[2]);
        wb[2 * ow + 1] = ad_end(ow, g->out[2], g->in[2]);
    }
    for (int64_t p = p0; p < p1; p++) {
        const T *xp = x + p * isz;
        T *yp = y + p * osz;
        int64_t *ip = ind + p * osz;
        for (int64_t od = 0; od < g->out[0]; od++) {
            int64_t d0 = ad_start(od, g->out[0], g->in[0]), d1 = ad_end(od, g->out[0], g->in[0]);
            for (int64_t oh = 0; oh < g->out[1]; oh++) {
                int64_t h0 = ad_start(oh, g->out[1], g->in[1]), h1 = ad_end(oh, g->out[1], g->in[1]);
                for (int64_t ow = 0; ow < g->out[2]; ow++) {
                    int64_t w0 = cached ? wb[2 * ow] : ad_start(ow, g->out[2], g->in[2]);
                    int64_t w1 = cached ? wb[2 * ow + 1] : ad_end(ow, g->out[2], g->in[2]);
                    int64_t best = (d0 * g->in[1] + h0) * g->in[2] + w0;
                    T m = -(T)INFINITY;
                    for (int64_t a = d0; a < d1; a++)
                        for (int64_t b = h0; b < h1; b++) {
                            int64_t row = (a * g->in[1] + b) * g->in[2];
                            for (int64_t c = w0; c < w1; c++) { /* the scan's last NaN, else first max */
                                T v = xp[row + c];
                                if (v > m || isnan(v)) {
                                    m = v;
                                    best = row + c;
                                }
                            }
                        }
                    int64_t o = (od * g->out[1] + oh) * g->out[2] + ow;
                    yp[o] = m;
                    ip[o] = best;
                }
            }
        }
    }
}

/* lp pool: y = (sum_window x^p)^(1/p) over the (unpadded) window, as torch's composite
 * (avg_pool(x^p) * k) ^ (1/p) with sign(s)*relu(|s|) clamping of the sum. */
static void FN(lppool_k)(const pgeom *g, const T *x, T *y, int64_t p0, int64_t p1) {
    int64_t isz = g->in[0] * g->in[1] * g->in[2], osz = g->out[0] * g->out[1] * g->out[2];
    T pw = (T)g->norm;
    for (int64_t p = p0; p < p1; p++) {
        const T *xp = x + p * isz;
        T *yp = y + p * osz;
        for (int64_t od = 0; od < g->out[0]; od++)
            for (int64_t oh = 0; oh < g->out[1]; oh++)
                for (int64_t ow = 0; ow < g->out[2]; ow++) {
                    int64_t lo[3], hi[3];
                    T div = FN(avg_window)(g, od, oh, ow, lo, hi);
                    T sum = 0;
                    for (int64_t a = lo[0]; a < hi[0]; a++)
                        for (int64_t b = lo[1]; b < hi[1]; b++) {
                            const T *row = xp + (a * g->in[1] + b) * g->in[2];
                            for (int64_t c = lo[2]; c < hi[2]; c++) sum += (T)pow(row[c], pw);
                        }
                    T kp = (T)(g->k[0] * g->k[1] * g->k[2]);
                    yp[(od * g->out[1] + oh) * g->out[2] + ow] = (T)pow(sum / div * kp, (T)1 / pw);
                }
    }
}

/* lp pool backward: gx = gy * u^(1/p-1) * k/div * x^(p-1) over each window, u = sum*k/div */
static void FN(lppool_bwd_k)(const pgeom *g, const T *gy, const T *x, const T *y, T *gx, int64_t p0, int64_t p1) {
    int64_t isz = g->in[0] * g->in[1] * g->in[2], osz = g->out[0] * g->out[1] * g->out[2];
    T pw = (T)g->norm;
    for (int64_t p = p0; p < p1; p++) {
        const T *xp = x + p * isz;
        T *gp = gx + p * isz;
        for (int64_t od = 0; od < g->out[0]; od++)
            for (int64_t oh = 0; oh < g->out[1]; oh++)
                for (int64_t ow = 0; ow < g->out[2]; ow++) {
                    int64_t lo[3], hi[3];
                    T div = FN(avg_window)(g, od, oh, ow, lo, hi);
                    T kp = (T)(g->k[0] * g->k[1] * g->k[2]);
                    int64_t o = p * osz + (od * g->out[1] + oh) * g->out[2] + ow;
                    T u = (T)pow(y[o], pw);
                    T f = gy[o] * (T)pow(u, (T)1 / pw - (T)1) * kp / div;
                    for (int64_t a = lo[0]; a < hi[0]; a++)
                        for (int64_t b = lo[1]; b < hi[1]; b++) {
                            int64_t r = (a * g->in[1] + b) * g->in[2];
                            for (int64_t c = lo[2]; c < hi[2]; c++) gp[r + c] += f * (T)pow(xp[r + c], pw - 1);
                        }
                }
    }
}

/* gx[p, ind[p, j]] += gy[p, j] (planes, in) <- (planes, out): each plane of gx is zeroed here
 * (while it is hot in cache) then scattered into; an index outside [0, isz) is skipped and
 * flagged in *bad (the caller reports it). set: plain stores (max_unpool). */
static void FN(scatter_k)(int64_t isz, int64_t osz, const T *restrict gy, const int64_t *restrict ind,
                          T *restrict gx, int64_t p0, int64_t p1, bool set, int *bad) {
    for (int64_t p = p0; p < p1; p++) {
        T *gp = gx + p * isz;
        const T *yp = gy + p * osz;
        const int64_t *ip = ind + p * osz;
        memset(gp, 0, (size_t)isz * sizeof(T));
        int64_t nbad = 0;
        if (set) {
            for (int64_t j = 0; j < osz; j++) {
                uint64_t i = (uint64_t)ip[j];
                if (i < (uint64_t)isz) gp[i] = yp[j];
                else nbad++;
            }
        } else {
            for (int64_t j = 0; j < osz; j++) {
                uint64_t i = (uint64_t)ip[j];
                if (i < (uint64_t)isz) gp[i] += yp[j];
                else nbad++;
            }
        }
        if (nbad) __atomic_store_n(bad, 1, __ATOMIC_RELAXED);
    }
}

/* y[p, j] = x[p, ind[p, j]] */
static void FN(gather_k)(int64_t isz, int64_t osz, const T *x, const int64_t *ind, T *y, int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; p++)
        for (int64_t j = 0; j < osz; j++) y[p * osz + j] = x[p * isz + ind[p * osz + j]];
}

/* ------------------------------------------------------------------ channels-last (NHWC) 2-d pools
 *
 * Data (N, H, W, C) contiguous, g a 2-d geometry (in[0] = out[0] = 1). The loops over the C
 * channels of one position are innermost and branch-free (vectorised); the kernels take rows
 * [r0, r1) of the output (forward: n * OH + oh) or of the input (backward: n * H + h) so the
 * caller splits rows over threads and every thread writes only its own rows. */

/* max pool: scan order as max_window (last NaN, else first maximum); ind = h * W + w */
static void FN(max_nhwc_k)(const pgeom *g, int64_t C, const T *restrict x, T *restrict y, int64_t *restrict ind,
                           int64_t r0, int64_t r1) {
    int64_t H = g->in[1], W = g->in[2], OH = g->out[1], OW = g->out[2];
    for (int64_t r = r0; r < r1; r++) {
        int64_t n = r / OH, oh = r % OH, h0, h1;
        valid_taps(oh, H, g->k[1], g->s[1], g->p[1], g->d[1], &h0, &h1);
        const T *xn = x + n * H * W * C;
        for (int64_t ow = 0; ow < OW; ow++) {
            int64_t w0, w1;
            valid_taps(ow, W, g->k[2], g->s[2], g->p[2], g->d[2], &w0, &w1);
            T *restrict m = y + (r * OW + ow) * C;
            int64_t *restrict id = ind ? ind + (r * OW + ow) * C : NULL;
            for (int64_t c = 0; c < C; c++) m[c] = -(T)INFINITY;
            if (id)
                for (int64_t c = 0; c < C; c++) id[c] = h0 * W + w0;
            for (int64_t a = h0; a < h1; a += g->d[1])
                for (int64_t b = w0; b < w1; b += g->d[2]) {
                    const T *restrict v = xn + (a * W + b) * C;
                    int64_t pos = a * W + b;
                    if (id) {
                        for (int64_t c = 0; c < C; c++) {
                            bool up = v[c] > m[c] || v[c] != v[c];
                            m[c] = up ? v[c] : m[c];
                            id[c] = up ? pos : id[c];
                        }
                    } else {
                        for (int64_t c = 0; c < C; c++) {
                            bool up = v[c] > m[c] || v[c] != v[c];
                            m[c] = up ? v[c] : m[c];
                        }
                    }
                }
        }
    }
}

/* avg pool forward: window sums in (h, w) order, divided by avg_window's divisor */
static void FN(avg_nhwc_k)(const pgeom *g, int64_t C, const T *restrict x, T *restrict y, int64_t r0, int64_t r1) {
    int64_t H = g->in[1], W = g->in[2], OH = g->out[1], OW = g->out[2];
    for (int64_t r = r0; r < r1; r++) {
        int64_t n = r / OH, oh = r % OH;
        const T *xn = x + n * H * W * C;
        for (int64_t ow = 0; ow < OW; ow++) {
            int64_t lo[3], hi[3];
            T div = FN(avg_window)(g, 0, oh, ow, lo, hi);
            T *restrict o = y + (r * OW + ow) * C;
            for (int64_t c = 0; c < C; c++) o[c] = 0;
            for (int64_t a = lo[1]; a < hi[1]; a++)
                for (int64_t b = lo[2]; b < hi[2]; b++) {
                    const T *restrict v = xn + (a * W + b) * C;
                    for (int64_t c = 0; c < C; c++) o[c] += v[c];
                }
            for (int64_t c = 0; c < C; c++) o[c] = o[c] / div;
        }
    }
}

/* outputs [*lo, *hi) of one dim whose window (kernel k, stride s, padding p) covers input i */
static inline void FN(covering)(int64_t i, int64_t k, int64_t s, int64_t p, int64_t out, int64_t *lo, int64_t *hi) {
    int64_t a = i + p - k + 1;
    int64_t l = a <= 0 ? 0 : (a + s - 1) / s;
    int64_t h = (i + p) / s + 1;
    *lo = l;
    *hi = h < out ? h : out;
}

/* avg pool adjoint, per input row (n * H + h): gx = sum over covering outputs of gy / divisor,
 * outputs in increasing (oh, ow) order */
static void FN(avg_nhwc_bwd_k)(const pgeom *g, int64_t C, const T *restrict gy, T *restrict gx, int64_t r0,
                               int64_t r1) {
    int64_t H = g->in[1], W = g->in[2], OH = g->out[1], OW = g->out[2];
    for (int64_t r = r0; r < r1; r++) {
        int64_t n = r / H, h = r % H, oh0, oh1;
        FN(covering)(h, g->k[1], g->s[1], g->p[1], OH, &oh0, &oh1);
        for (int64_t w = 0; w < W; w++) {
            int64_t ow0, ow1;
            FN(covering)(w, g->k[2], g->s[2], g->p[2], OW, &ow0, &ow1);
            T *restrict o = gx + (r * W + w) * C;
            for (int64_t c = 0; c < C; c++) o[c] = 0;
            for (int64_t oh = oh0; oh < oh1; oh++)
                for (int64_t ow = ow0; ow < ow1; ow++) {
                    int64_t lo[3], hi[3];
                    T div = FN(avg_window)(g, 0, oh, ow, lo, hi);
                    if (h < lo[1] || h >= hi[1] || w < lo[2] || w >= hi[2]) continue;
                    const T *restrict v = gy + ((n * OH + oh) * OW + ow) * C;
                    for (int64_t c = 0; c < C; c++) o[c] += v[c] / div;
                }
        }
    }
}

/* adaptive avg pool forward, rows n * OH + oh */
static void FN(aavg_nhwc_k)(const pgeom *g, int64_t C, const T *restrict x, T *restrict y, int64_t r0, int64_t r1) {
    int64_t H = g->in[1], W = g->in[2], OH = g->out[1], OW = g->out[2];
    for (int64_t r = r0; r < r1; r++) {
        int64_t n = r / OH, oh = r % OH;
        int64_t h0 = ad_start(oh, OH, H), h1 = ad_end(oh, OH, H);
        const T *xn = x + n * H * W * C;
        for (int64_t ow = 0; ow < OW; ow++) {
            int64_t w0 = ad_start(ow, OW, W), w1 = ad_end(ow, OW, W);
            T *restrict o = y + (r * OW + ow) * C;
            for (int64_t c = 0; c < C; c++) o[c] = 0;
            for (int64_t a = h0; a < h1; a++)
                for (int64_t b = w0; b < w1; b++) {
                    const T *restrict v = xn + (a * W + b) * C;
                    for (int64_t c = 0; c < C; c++) o[c] += v[c];
                }
            T cnt = (T)((h1 - h0) * (w1 - w0));
            for (int64_t c = 0; c < C; c++) o[c] = o[c] / cnt;
        }
    }
}

/* adaptive avg pool adjoint, per input row (n * H + h) */
static void FN(aavg_nhwc_bwd_k)(const pgeom *g, int64_t C, const T *restrict gy, T *restrict gx, int64_t r0,
                                int64_t r1) {
    int64_t H = g->in[1], W = g->in[2], OH = g->out[1], OW = g->out[2];
    for (int64_t r = r0; r < r1; r++) {
        int64_t n = r / H, h = r % H;
        /* the outputs whose windows hold h: floor(h OH / H) <= oh < ceil((h + 1) OH / H) */
        int64_t oh_lo = h * OH / H, oh_hi = ((h + 1) * OH + H - 1) / H;
        if (oh_hi > OH) oh_hi = OH;
        for (int64_t w = 0; w < W; w++) {
            T *restrict o = gx + (r * W + w) * C;
            for (int64_t c = 0; c < C; c++) o[c] = 0;
            int64_t ow_lo = w * OW / W, ow_hi = ((w + 1) * OW + W - 1) / W;
            if (ow_hi > OW) ow_hi = OW;
            for (int64_t oh = oh_lo; oh < oh_hi; oh++) {
                int64_t h0 = ad_start(oh, OH, H), h1 = ad_end(oh, OH, H);
                if (h < h0 || h >= h1) continue;
                for (int64_t ow = ow_lo; ow < ow_hi; ow++) {
                    int64_t w0 = ad_start(ow, OW, W), w1 = ad_end(ow, OW, W);
                    if (w < w0 || w >= w1) continue;
                    T cnt = (T)((h1 - h0) * (w1 - w0));
                    const T *restrict v = gy + ((n * OH + oh) * OW + ow) * C;
                    for (int64_t c = 0; c < C; c++) o[c] += v[c] / cnt;
                }
            }
        }
    }
}

/* max pool adjoint (index scatter-add), per image n in [r0, r1): gx (N, isz, C) zeroed here,
 * gy / ind (N, osz, C) */
static void FN(scatter_nhwc_k)(int64_t isz, int64_t osz, int64_t C, const T *restrict gy,
                               const int64_t *restrict ind, T *restrict gx, int64_t r0, int64_t r1, int *bad) {
    for (int64_t n = r0; n < r1; n++) {
        T *gp = gx + n * isz * C;
        memset(gp, 0, (size_t)(isz * C) * sizeof(T));
        int64_t nbad = 0;
        for (int64_t j = 0; j < osz; j++) {
            const T *v = gy + (n * osz + j) * C;
            const int64_t *ip = ind + (n * osz + j) * C;
            for (int64_t c = 0; c < C; c++) {
                uint64_t i = (uint64_t)ip[c];
                if (i < (uint64_t)isz) gp[i * C + c] += v[c];
                else nbad++;
            }
        }
        if (nbad) __atomic_store_n(bad, 1, __ATOMIC_RELAXED);
    }
}

#undef FN
#undef CAT
#undef CAT_
