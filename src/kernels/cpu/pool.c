/* Pooling ops (src/ops/nn_pool.ops): max / avg / adaptive avg / adaptive max / lp pooling
 * over 1 to 3 spatial dims, max unpooling, and the index scatter/gather pair that carries
 * max-pool gradients. Inputs are (*, spatial...) with the spatial dims last; the kernels
 * (pool_impl.h) run on contiguous (planes, D, H, W) data, planes split over threads. float16
 * and bfloat16 are computed in float32. */
#include <math.h>
#include <string.h>

#include "ctorch/ops_gen.h"
#include "../../core/internal.h"

typedef struct pgeom {
    int nd;                         /* spatial dims of the op (1..3) */
    int64_t planes;                 /* product of the leading dims */
    int64_t in[3], out[3];          /* spatial sizes, left-padded with 1 */
    int64_t k[3], s[3], p[3], d[3]; /* kernel, stride, padding, dilation */
    bool count_include_pad;
    int64_t divisor;                /* 0: none */
    double norm;                    /* lp pool exponent */
} pgeom;

static inline int64_t ad_start(int64_t o, int64_t osz, int64_t isz) { return (o * isz) / osz; }
static inline int64_t ad_end(int64_t o, int64_t osz, int64_t isz) { return ((o + 1) * isz + osz - 1) / osz; }

/* outputs [lo, hi) of one dim whose whole window (k taps, stride s, padding p, dilation d)
 * lies inside [0, n) */
static inline void interior_range(int64_t n, int64_t out, int64_t k, int64_t s, int64_t p, int64_t d, int64_t *lo,
                                  int64_t *hi) {
    int64_t a = (p + s - 1) / s;
    int64_t num = n - 1 + p - (k - 1) * d;
    int64_t b = num < 0 ? 0 : num / s + 1;
    if (b > out) b = out;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* input positions [t0, t1) (step d) of the valid taps of output o in one dim */
static inline void valid_taps(int64_t o, int64_t n, int64_t k, int64_t s, int64_t p, int64_t d, int64_t *t0,
                              int64_t *t1) {
    int64_t a = o * s - p;
    int64_t e = a + (k - 1) * d + 1;
    if (e > n) e = n;
    while (a < 0) a += d;
    *t0 = a;
    *t1 = e;
}

/* window rows of avg-pool output (od, oh): inner taps [d0, d1) x [h0, h1) and the row factors
 * of the divisor (rows of the padded window, rows inside the input), as avg_window */
static inline void avg_rows(const pgeom *g, int64_t od, int64_t oh, int64_t *d0, int64_t *d1, int64_t *h0,
                            int64_t *h1, int64_t *full, int64_t *inside) {
    int64_t o[2] = {od, oh}, *lo[2] = {d0, h0}, *hi[2] = {d1, h1};
    *full = *inside = 1;
    for (int i = 0; i < 2; i++) {
        int64_t st = o[i] * g->s[i] - g->p[i];
        int64_t e = st + g->k[i];
        if (e > g->in[i] + g->p[i]) e = g->in[i] + g->p[i];
        *full *= e - st;
        if (st < 0) st = 0;
        if (e > g->in[i]) e = g->in[i];
        *lo[i] = st;
        *hi[i] = e;
        *inside *= e > st ? e - st : 0;
    }
}

#if defined(__AVX512F__)
#include <immintrin.h>
#define POOL_AVX512 1

/* AVX-512 float32 pooling kernels (compiled with -march=native on a CPU that has it; the
 * portable loops in pool_impl.h otherwise). 16 outputs of a row per step, with masks for the
 * tail and for window columns outside [0, W) (padding, ceil mode), so every output takes the
 * vector path. Stride 1: plain loads; stride 2: pairs of loads split into even / odd lanes;
 * larger strides: gathers. Loads are masked to valid columns: nothing outside the row is
 * read. */

/* mask of the bits [a, b) of 32, a and b clamped to [0, 32] */
static inline uint32_t bits_range(int64_t a, int64_t b) {
    if (a < 0) a = 0;
    if (b > 32) b = 32;
    if (b <= a) return 0;
    uint32_t hi = b >= 32 ? 0xFFFFFFFFu : (1u << b) - 1;
    uint32_t lo = (1u << a) - 1;
    return hi & ~lo;
}

/* ceil(a / s) for a > 0, else 0 */
static inline int64_t ceil_div_pos(int64_t a, int64_t s) {
    return a <= 0 ? 0 : s == 1 ? a : s == 2 ? (a + 1) >> 1 : (a + s - 1) / s;
}

/* lanes l < n whose column P + s*l lies in [0, W) */
static inline __mmask16 lanes_valid(int64_t P, int64_t s, int64_t W, int64_t n) {
    int64_t l0 = ceil_div_pos(-P, s), l1 = ceil_div_pos(W - P, s);
    if (l1 > n) l1 = n;
    return (__mmask16)bits_range(l0, l1);
}

/* Lane l of the result: element 2l (odd: 2l+1) of the 32 floats lo:hi. */
static inline __m512 even_ps(__m512 lo, __m512 hi, int odd) {
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    return _mm512_permutex2var_ps(lo, odd ? _mm512_add_epi32(ev, _mm512_set1_epi32(1)) : ev, hi);
}

/* Column masks of one 16-output step (outputs [o0, o0 + n) of a row): tap j of lane l reads
 * column P_j + s*l, P_j = s*o0 - pad + j*dil. They depend on the columns only, so they are set
 * once per step for all rows and planes (a table of steps per call, see colmask_table). */
#define POOL_AVX_KMAX 16   /* widest kernel along W of the vector path */
#define POOL_AVX_STEPS 32  /* steps with cached masks (rows up to 512 outputs) */
typedef struct {
    int64_t n;                      /* lanes in use */
    __mmask16 valid[POOL_AVX_KMAX]; /* lanes whose tap j column is inside the row */
    uint32_t elem[POOL_AVX_KMAX];   /* stride 2: elements of [P_j, P_j + 32) to load */
} colmask;

typedef struct {
    int64_t W, OW, s, pad, k, dl;
    bool pair;      /* stride 2, dilation 1, at least 2 taps: taps j, j+1 share one pair of loads */
    __m512i lane_s; /* stride 3+: gather offsets s*l */
} colgeom;

/* S, K: 0, or the stride / kernel along W (dilation 1) as constants for specialised copies */
static inline __attribute__((always_inline)) colgeom colgeom_of(const pgeom *g, int S, int K) {
    colgeom c = {.W = g->in[2], .OW = g->out[2], .s = g->s[2], .pad = g->p[2], .k = g->k[2], .dl = g->d[2]};
    if (S && K) {
        c.s = S;
        c.k = K;
        c.dl = 1;
    }
    c.pair = c.s == 2 && c.k >= 2 && c.dl == 1;
    c.lane_s = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                  _mm512_set1_epi32((int)c.s));
    return c;
}

static void colmask_set(colmask *m, const colgeom *c, int64_t o0) {
    m->n = c->OW - o0 < 16 ? c->OW - o0 : 16;
    for (int64_t j = 0; j < c->k; j++) {
        int64_t P = c->s * o0 - c->pad + j * c->dl;
        m->valid[j] = lanes_valid(P, c->s, c->W, m->n);
        /* inside the row, and needed: e <= 2(n-1) (+1 with a shared pair) */
        m->elem[j] = c->s != 2 ? 0 : bits_range(-P, c->W - P) & bits_range(0, 2 * m->n - (c->pair ? 0 : 1));
    }
}

/* masks of step i: from the table when the row has at most POOL_AVX_STEPS steps, else set
 * into *tmp */
static inline const colmask *colmask_get(const colmask *tab, colmask *tmp, const colgeom *c, int64_t i) {
    if (tab) return tab + i;
    colmask_set(tmp, c, 16 * i);
    return tmp;
}

static colmask *colmask_table(colmask *tab, const colgeom *c) {
    int64_t steps = (c->OW + 15) / 16;
    if (steps > POOL_AVX_STEPS) return NULL;
    for (int64_t i = 0; i < steps; i++) colmask_set(tab + i, c, 16 * i);
    return tab;
}

/* tap j of one input row r: lanes of invalid columns are 0; *lo / *hi carry a shared pair */
static inline __attribute__((always_inline)) __m512 tap_load(const colgeom *c, const colmask *m, const float *r,
                                                              int64_t j, int64_t P, __m512 *lo,
                              __m512 *hi) {
    if (c->s == 1) return _mm512_maskz_loadu_ps(m->valid[j], r + P);
    if (c->s > 2) return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m->valid[j], c->lane_s, r + P, 4);
    if (c->pair && (j & 1)) return even_ps(*lo, *hi, 1);
    uint32_t mm = m->elem[j];
    *lo = _mm512_maskz_loadu_ps((__mmask16)mm, r + P);
    *hi = _mm512_maskz_loadu_ps((__mmask16)(mm >> 16), r + P + 16);
    return even_ps(*lo, *hi, 0);
}

/* Max pool of planes [p0, p1) (float32, stride and kernel <= POOL_AVX_KMAX along W, planes
 * < 2^31 elements). Each output row's window rows (valid_taps) are scanned in order;
 * per lane the result is the last NaN, else the first maximum (torch's scan). Indices are
 * tracked as int32 and widened on store. */
static inline __attribute__((always_inline)) void max_planes_impl(const pgeom *g, const float *x, float *y,
                                                                  int64_t *ind, int64_t p0, int64_t p1, int S, int K,
                                                                  bool IND) {
    colgeom c = colgeom_of(g, S, K);
    colmask tab[POOL_AVX_STEPS], tmp;
    const colmask *table = colmask_table(tab, &c);
    int64_t H = g->in[1], W = c.W, OW = c.OW, isz = g->in[0] * H * W, osz = g->out[0] * g->out[1] * OW;
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i lane_s = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)c.s));
    for (int64_t p = p0; p < p1; p++) {
        const float *xp = x + p * isz;
        for (int64_t i = 0, o0 = 0; o0 < OW; i++, o0 += 16) {
            const colmask *m = colmask_get(table, &tmp, &c, i);
            __mmask16 mk = (__mmask16)bits_range(0, m->n);
            int64_t c0 = c.s * o0 - c.pad; /* column of tap 0 of lane 0 */
            for (int64_t od = 0; od < g->out[0]; od++) {
                int64_t d0, d1;
                valid_taps(od, g->in[0], g->k[0], g->s[0], g->p[0], g->d[0], &d0, &d1);
                for (int64_t oh = 0; oh < g->out[1]; oh++) {
                    int64_t h0, h1;
                    valid_taps(oh, H, g->k[1], g->s[1], g->p[1], g->d[1], &h0, &h1);
                    __mmask16 unset = mk;
                    __m512 mx = _mm512_set1_ps(-INFINITY), lo = mx, hi = mx;
                    __m512i id = _mm512_setzero_si512();
                    for (int64_t a = d0; a < d1; a += g->d[0])
                        for (int64_t b = h0; b < h1; b += g->d[1]) {
                            int64_t rb = (a * H + b) * W;
                            for (int64_t j = 0; j < c.k; j++) {
                                int64_t P = c0 + j * c.dl;
                                __m512 v = tap_load(&c, m, xp + rb, j, P, &lo, &hi);
                                if (!IND) { /* values only: invalid lanes stay -inf unless NaN */
                                    __mmask16 up = (_mm512_cmp_ps_mask(v, mx, _CMP_GT_OQ) |
                                                    _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q)) & m->valid[j];
                                    mx = _mm512_mask_mov_ps(mx, up, v);
                                    continue;
                                }
                                __m512i pos = _mm512_add_epi32(_mm512_set1_epi32((int)(rb + P)), lane_s);
                                if (unset) { /* a window's first valid element is its index until a larger one */
                                    id = _mm512_mask_mov_epi32(id, m->valid[j] & unset, pos);
                                    unset &= (__mmask16)~m->valid[j];
                                }
                                __mmask16 up = (_mm512_cmp_ps_mask(v, mx, _CMP_GT_OQ) |
                                                _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q)) & m->valid[j];
                                mx = _mm512_mask_mov_ps(mx, up, v);
                                id = _mm512_mask_mov_epi32(id, up, pos);
                            }
                        }
                    int64_t o = p * osz + (od * g->out[1] + oh) * OW + o0;
                    _mm512_mask_storeu_ps(y + o, mk, mx);
                    if (!IND) continue;
                    _mm512_mask_storeu_epi64(ind + o, (__mmask8)(mk & 0xFF),
                                             _mm512_cvtepi32_epi64(_mm512_castsi512_si256(id)));
                    _mm512_mask_storeu_epi64(ind + o + 8, (__mmask8)(mk >> 8),
                                             _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(id, 1)));
                }
            }
        }
    }
}

/* copies for the common kernels along W (constant taps: unrolled, no per-tap branches) */
static void max_planes_avx512(const pgeom *g, const float *x, float *y, int64_t *ind, int64_t p0, int64_t p1) {
    int64_t s = g->s[2], k = g->k[2];
    if (!ind) { /* values only */
        if (g->d[2] == 1 && s == 2 && k == 2) max_planes_impl(g, x, y, ind, p0, p1, 2, 2, false);
        else max_planes_impl(g, x, y, ind, p0, p1, 0, 0, false);
    } else if (g->d[2] == 1 && s == 2 && k == 2) {
        max_planes_impl(g, x, y, ind, p0, p1, 2, 2, true);
    } else if (g->d[2] == 1 && s == 2 && k == 3) {
        max_planes_impl(g, x, y, ind, p0, p1, 2, 3, true);
    } else if (g->d[2] == 1 && s == 1 && k == 3) {
        max_planes_impl(g, x, y, ind, p0, p1, 1, 3, true);
    } else {
        max_planes_impl(g, x, y, ind, p0, p1, 0, 0, true);
    }
}

/* Per-lane divisor of the avg-pool outputs [o0, o0 + 16) of a row: the row factor (window
 * rows of the padded input, or inside the input: avg_rows) times each lane's window columns,
 * as avg_window. */
static inline __m512 avg_div(const pgeom *g, int64_t o0, int64_t rows_full, int64_t rows_in) {
    if (g->divisor) return _mm512_set1_ps((float)g->divisor);
    int64_t W = g->in[2], s = g->s[2], pad = g->p[2], k = g->k[2];
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    __m512i st = _mm512_add_epi32(_mm512_set1_epi32((int)(s * o0 - pad)),
                                  _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)s)));
    __m512i en = _mm512_min_epi32(_mm512_add_epi32(st, _mm512_set1_epi32((int)k)), _mm512_set1_epi32((int)(W + pad)));
    __m512i cols, rows;
    if (g->count_include_pad) {
        cols = _mm512_sub_epi32(en, st);
        rows = _mm512_set1_epi32((int)rows_full);
    } else {
        __m512i a = _mm512_max_epi32(st, _mm512_setzero_si512());
        __m512i e = _mm512_min_epi32(en, _mm512_set1_epi32((int)W));
        cols = _mm512_max_epi32(_mm512_sub_epi32(e, a), _mm512_setzero_si512());
        rows = _mm512_set1_epi32((int)rows_in);
    }
    return _mm512_cvtepi32_ps(_mm512_mullo_epi32(cols, rows));
}

/* windows tile the input exactly (kernel = stride, no padding, in = out * kernel): every input
 * element is in exactly one window */
static bool windows_tile(const pgeom *g) {
    for (int i = 0; i < 3; i++)
        if (g->k[i] != g->s[i] || g->p[i] || g->d[i] != 1 || g->in[i] != g->out[i] * g->k[i]) return false;
    return true;
}

/* Avg pool of planes [p0, p1) (float32, stride and kernel <= POOL_AVX_KMAX along W), forward (bwd false: x -> y)
 * or its adjoint (bwd true: gy = y -> gx = x; each window gets gy / divisor added to the
 * plane zeroed here, or stored when the windows tile the plane). */
static inline __attribute__((always_inline)) void avg_planes_impl(const pgeom *g, float *x, float *y, int64_t p0,
                                                                  int64_t p1, bool bwd, int S, int K) {
    colgeom c = colgeom_of(g, S, K);
    colmask tab[POOL_AVX_STEPS], tmp;
    const colmask *table = colmask_table(tab, &c);
    int64_t H = g->in[1], W = c.W, OW = c.OW, isz = g->in[0] * H * W, osz = g->out[0] * g->out[1] * OW;
    const __m512i spread_lo = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    const __m512i spread_hi = _mm512_add_epi32(spread_lo, _mm512_set1_epi32(8));
    bool tile = bwd && c.s <= 2 && windows_tile(g);
    for (int64_t p = p0; p < p1; p++) {
        float *xp = x + p * isz;
        if (bwd && !tile) memset(xp, 0, (size_t)isz * sizeof(float));
        for (int64_t i = 0, o0 = 0; o0 < OW; i++, o0 += 16) {
            const colmask *m = colmask_get(table, &tmp, &c, i);
            __mmask16 mk = (__mmask16)bits_range(0, m->n);
            int64_t c0 = c.s * o0 - c.pad;
            __m512 div_pad = _mm512_setzero_ps();
            int64_t div_rows = -1, div_rows_in = -1;
            for (int64_t od = 0; od < g->out[0]; od++)
                for (int64_t oh = 0; oh < g->out[1]; oh++) {
                    int64_t d0, d1, h0, h1, full, inside;
                    avg_rows(g, od, oh, &d0, &d1, &h0, &h1, &full, &inside);
                    if (full != div_rows || inside != div_rows_in) { /* the row factor changes at borders only */
                        div_pad = avg_div(g, o0, full, inside);
                        div_rows = full;
                        div_rows_in = inside;
                    }
                    float *yo = y + p * osz + (od * g->out[1] + oh) * OW + o0;
                    if (!bwd) {
                        __m512 sum = _mm512_setzero_ps(), lo = sum, hi = sum;
                        for (int64_t a = d0; a < d1; a++)
                            for (int64_t b = h0; b < h1; b++) {
                                const float *r = xp + (a * H + b) * W;
                                for (int64_t j = 0; j < c.k; j++) /* invalid lanes load 0 */
                                    sum = _mm512_add_ps(sum, tap_load(&c, m, r, j, c0 + j, &lo, &hi));
                            }
                        _mm512_mask_storeu_ps(yo, mk, _mm512_div_ps(sum, div_pad));
                        continue;
                    }
                    __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(mk, yo), div_pad);
                    /* stride 2: lane l's value at element 2l of a 32-float span */
                    __m512 vlo = _mm512_permutexvar_ps(spread_lo, v), vhi = _mm512_permutexvar_ps(spread_hi, v);
                    if (tile) { /* plain stores: k = s = 1 or 2 along W */
                        uint32_t mm = bits_range(0, c.s * m->n);
                        for (int64_t a = d0; a < d1; a++)
                            for (int64_t b = h0; b < h1; b++) {
                                float *r = xp + (a * H + b) * W + c0;
                                if (c.s == 1) {
                                    _mm512_mask_storeu_ps(r, mk, v);
                                } else {
                                    _mm512_mask_storeu_ps(r, (__mmask16)mm, vlo);
                                    _mm512_mask_storeu_ps(r + 16, (__mmask16)(mm >> 16), vhi);
                                }
                            }
                        continue;
                    }
                    for (int64_t a = d0; a < d1; a++)
                        for (int64_t b = h0; b < h1; b++) {
                            float *r = xp + (a * H + b) * W;
                            for (int64_t j = 0; j < c.k; j++) {
                                int64_t P = c0 + j;
                                if (c.s == 1) {
                                    __m512 cur = _mm512_maskz_loadu_ps(m->valid[j], r + P);
                                    _mm512_mask_storeu_ps(r + P, m->valid[j], _mm512_add_ps(cur, v));
                                } else if (c.s > 2) { /* the lanes' columns are distinct */
                                    __m512 cur = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m->valid[j], c.lane_s,
                                                                          r + P, 4);
                                    _mm512_mask_i32scatter_ps(r + P, m->valid[j], c.lane_s, _mm512_add_ps(cur, v), 4);
                                } else {
                                    uint32_t mm = m->elem[j] & 0x55555555u & bits_range(0, 2 * m->n - 1);
                                    __m512 lo = _mm512_maskz_loadu_ps((__mmask16)mm, r + P);
                                    __m512 hi = _mm512_maskz_loadu_ps((__mmask16)(mm >> 16), r + P + 16);
                                    _mm512_mask_storeu_ps(r + P, (__mmask16)mm, _mm512_add_ps(lo, vlo));
                                    _mm512_mask_storeu_ps(r + P + 16, (__mmask16)(mm >> 16), _mm512_add_ps(hi, vhi));
                                }
                            }
                        }
                }
        }
    }
}

static void avg_planes_avx512(const pgeom *g, float *x, float *y, int64_t p0, int64_t p1, bool bwd) {
    int64_t s = g->s[2], k = g->k[2];
    if (s == 2 && k == 2) avg_planes_impl(g, x, y, p0, p1, bwd, 2, 2);
    else if (s == 2 && k == 3) avg_planes_impl(g, x, y, p0, p1, bwd, 2, 3);
    else if (s == 1 && k == 3) avg_planes_impl(g, x, y, p0, p1, bwd, 1, 3);
    else avg_planes_impl(g, x, y, p0, p1, bwd, 0, 0);
}

/* Max of n floats (n < 2^31) and its index, as a scan in order: the last NaN if any, else the
 * first maximum. Each lane scans its own subsequence in order; the lanes are then merged. */
static void max_index_avx512(const float *p, int64_t n, float *out, int64_t *ind) {
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    /* 4 interleaved accumulators (independent chains): accumulator a scans the steps i = a mod 4 */
    __m512 m[4];
    __m512i id[4];
    for (int a = 0; a < 4; a++) {
        m[a] = _mm512_set1_ps(-INFINITY);
        id[a] = _mm512_setzero_si512();
    }
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int a = 0; a < 4; a++) {
            __m512 v = _mm512_loadu_ps(p + i + 16 * a);
            __mmask16 up = _mm512_cmp_ps_mask(v, m[a], _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
            m[a] = _mm512_mask_mov_ps(m[a], up, v);
            id[a] = _mm512_mask_mov_epi32(id[a], up, _mm512_add_epi32(lane, _mm512_set1_epi32((int)(i + 16 * a))));
        }
    for (; i < n; i += 16) {
        __mmask16 mk = (__mmask16)bits_range(0, n - i);
        __m512 v = _mm512_maskz_loadu_ps(mk, p + i);
        __mmask16 up = (_mm512_cmp_ps_mask(v, m[0], _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q)) & mk;
        m[0] = _mm512_mask_mov_ps(m[0], up, v);
        id[0] = _mm512_mask_mov_epi32(id[0], up, _mm512_add_epi32(lane, _mm512_set1_epi32((int)i)));
    }
    /* merge accumulators lane-wise: a NaN with the larger index, else the larger value, on ties
     * the smaller index (untouched lanes hold (-inf, 0): index 0 is the answer when all are -inf) */
    for (int a = 1; a < (n >= 64 ? 4 : 1); a++) {
        __mmask16 n0 = _mm512_cmp_ps_mask(m[0], m[0], _CMP_UNORD_Q), n1 = _mm512_cmp_ps_mask(m[a], m[a], _CMP_UNORD_Q);
        __mmask16 later = _mm512_cmp_epi32_mask(id[a], id[0], _MM_CMPINT_GT);
        __mmask16 gt = _mm512_cmp_ps_mask(m[a], m[0], _CMP_GT_OQ);
        __mmask16 eq = _mm512_cmp_ps_mask(m[a], m[0], _CMP_EQ_OQ);
        __mmask16 take = (n1 & (__mmask16)(~n0 | later)) | ((__mmask16)~(n0 | n1) & (gt | (eq & (__mmask16)~later)));
        m[0] = _mm512_mask_mov_ps(m[0], take, m[a]);
        id[0] = _mm512_mask_mov_epi32(id[0], take, id[a]);
    }
    if (!_mm512_cmp_ps_mask(m[0], m[0], _CMP_UNORD_Q)) { /* no NaN: the largest value, its smallest index */
        float mx = _mm512_reduce_max_ps(m[0]);
        *out = mx;
        *ind = _mm512_mask_reduce_min_epi32(_mm512_cmp_ps_mask(m[0], _mm512_set1_ps(mx), _CMP_EQ_OQ), id[0]);
        return;
    }
    float mv[16];
    int32_t iv[16];
    _mm512_storeu_ps(mv, m[0]);
    _mm512_storeu_si512(iv, id[0]);
    int best = -1; /* the NaN lane with the largest index */
    for (int l = 0; l < 16; l++)
        if (isnan(mv[l]) && (best < 0 || iv[l] > iv[best])) best = l;
    *out = mv[best];
    *ind = iv[best];
}

/* sum of n floats (16 lanes, masked tail) */
static inline float sum_avx512(const float *p, int64_t n) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t j = 0;
    for (; j + 32 <= n; j += 32) {
        acc0 = _mm512_add_ps(acc0, _mm512_loadu_ps(p + j));
        acc1 = _mm512_add_ps(acc1, _mm512_loadu_ps(p + j + 16));
    }
    for (; j < n; j += 16) acc0 = _mm512_add_ps(acc0, _mm512_maskz_loadu_ps((__mmask16)bits_range(0, n - j), p + j));
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}
#endif


#define T float
#define SUF _f32
#include "pool_impl.h"
#undef T
#undef SUF
#define T double
#define SUF _f64
#include "pool_impl.h"
#undef T
#undef SUF

/* ------------------------------------------------------------------ helpers */

static const char *torch_type_name(int dtype) {
    switch (dtype) {
    case CT_BOOL: return "Bool";
    case CT_UINT8: return "Byte";
    case CT_INT8: return "Char";
    case CT_INT16: return "Short";
    case CT_INT32: return "Int";
    case CT_INT64: return "Long";
    default: return ct_dtype_name(dtype);
    }
}

static int compute_dtype(const char *op, const ct_tensor *x) {
    if (!ct_dtype_is_floating(x->dtype)) {
        ct_errorf(CT_ERR_NOT_IMPLEMENTED, "\"%s\" not implemented for '%s'", op, torch_type_name(x->dtype));
        return -1;
    }
    return x->dtype == CT_FLOAT64 ? CT_FLOAT64 : CT_FLOAT32;
}

/* max/avg pools also take integer inputs (as torch): computed exactly in float64 for values
 * below 2^53, converted back (avg truncates toward zero like torch's integer division) */
static int compute_dtype_int(const char *op, const ct_tensor *x) {
    if (ct_dtype_is_integral(x->dtype, false)) return CT_FLOAT64;
    return compute_dtype(op, x);
}

/* Contiguous copy of x in the compute dtype (new reference). */
static ct_tensor *prep(ct_tensor *x, int cd) { return ct_contig_as(x, cd); }

/* Result in x's dtype from a compute-dtype tensor r (consumed). */
static ct_tensor *finish(ct_tensor *r, int dtype) {
    if (!r || r->dtype == dtype) return r;
    ct_tensor *c = ct_to_dtype(r, dtype, false);
    ct_tensor_release(r);
    return c;
}

static void geom_fill_in(pgeom *g, const ct_tensor *x, int nd) {
    g->nd = nd;
    g->planes = 1;
    for (int i = 0; i < x->ndim - nd; i++) g->planes *= x->sizes[i];
    for (int i = 0; i < 3; i++) {
        int j = i - (3 - nd);
        g->in[i] = j >= 0 ? x->sizes[x->ndim - nd + j] : 1;
        g->out[i] = 1;
        g->k[i] = g->s[i] = g->d[i] = 1;
        g->p[i] = 0;
    }
    g->count_include_pad = true;
    g->divisor = 0;
    g->norm = 1;
}

/* Checks the input rank: (C, spatial) or (N, C, spatial), non-empty except the batch dim. */
static int check_input(const char *op, const ct_tensor *x, int nd) {
    if (x->ndim != nd + 1 && x->ndim != nd + 2)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] non-empty %dD or %dD (batch mode) tensor expected for input", op,
                         nd + 1, nd + 2);
    for (int i = x->ndim == nd + 2 ? 1 : 0; i < x->ndim; i++)
        if (x->sizes[i] == 0) {
            char b[128];
            return ct_errorf(CT_ERR_RUNTIME,
                             "[%s] Expected input's non-batch dimensions to have positive length, but input has a "
                             "shape of %s",
                             op, ct_shape_str(x->sizes, x->ndim, b, sizeof b));
        }
    return 0;
}

static int load_list(const char *op, const char *what, ct_intlist l, int nd, int64_t *dst, int64_t dflt) {
    if (l.n <= 0) {
        for (int i = 0; i < nd; i++) dst[3 - nd + i] = dflt;
        return 0;
    }
    if (l.n != 1 && l.n != nd)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] %s must either be a single int, or a tuple of %d ints", op, what, nd);
    for (int i = 0; i < nd; i++) dst[3 - nd + i] = l.data[l.n == 1 ? 0 : i];
    return 0;
}

static int64_t pool_out_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil, bool ceil) {
    int64_t num = in + 2 * pad - dil * (k - 1) - 1 + (ceil ? stride - 1 : 0);
    int64_t q = num >= 0 ? num / stride : -((-num + stride - 1) / stride);
    int64_t out = q + 1;
    if (ceil && (out - 1) * stride >= in + pad) out--;
    return out;
}

/* Window pools (max, avg, lp): parse and validate parameters, compute output sizes. */
static int pool_setup(const char *op, ct_tensor *x, int nd, ct_intlist kernel, ct_intlist stride, ct_intlist pad,
                      ct_intlist dil, bool ceil, bool is_max, pgeom *g) {
    if (nd < 1 || nd > 3) return ct_errorf(CT_ERR_RUNTIME, "[%s] kernel_size must have 1 to 3 entries", op);
    if (check_input(op, x, nd)) return -1;
    geom_fill_in(g, x, nd);
    if (load_list(op, "kernel_size", kernel, nd, g->k, 1) || load_list(op, "stride", stride, nd, g->s, 0) ||
        load_list(op, "padding", pad, nd, g->p, 0) || load_list(op, "dilation", dil, nd, g->d, 1))
        return -1;
    if (stride.n <= 0)
        for (int i = 3 - nd; i < 3; i++) g->s[i] = g->k[i];
    for (int i = 3 - nd; i < 3; i++) {
        if (g->k[i] <= 0)
            return ct_errorf(CT_ERR_RUNTIME, "[%s] kernel size should be greater than zero, but got kernel size %lld",
                             op, (long long)g->k[i]);
        if (g->s[i] <= 0)
            return ct_errorf(CT_ERR_RUNTIME, "[%s] stride should be greater than zero, but got stride %lld", op,
                             (long long)g->s[i]);
        if (g->d[i] <= 0)
            return ct_errorf(CT_ERR_RUNTIME, "[%s] dilation should be greater than zero, but got dilation %lld", op,
                             (long long)g->d[i]);
        if (g->p[i] < 0) return ct_errorf(CT_ERR_RUNTIME, "[%s] pad must be non-negative", op);
        if (g->p[i] > g->k[i] / 2)
            return ct_errorf(CT_ERR_RUNTIME, "[%s] pad should be smaller than or equal to half of kernel size, but got "
                             "pad=%lld, kernel_size=%lld", op, (long long)g->p[i], (long long)g->k[i]);
        if (!is_max && nd == 3 && g->in[i] < g->k[i]) {
            char b[128];
            return ct_errorf(CT_ERR_RUNTIME, "[%s] input image %s smaller than kernel size", op,
                             ct_shape_str(x->sizes + x->ndim - 3, 3, b, sizeof b));
        }
        g->out[i] = pool_out_size(g->in[i], g->k[i], g->p[i], g->s[i], g->d[i], ceil);
        if (g->out[i] < 1) {
            char b[128];
            return ct_errorf(CT_ERR_RUNTIME, "[%s] Given input size %s, calculated output size is too small", op,
                             ct_shape_str(x->sizes, x->ndim, b, sizeof b));
        }
    }
    return 0;
}

/* Single-row planes (1-d pools) cut into whole windows (kernel = stride, no padding, in = out *
 * kernel): consecutive planes joined into one longer row are the same pool, so g is rewritten
 * to rows of up to 512 outputs (fewer partial 16-output steps, one mask table). Only where the
 * output keeps no per-plane indices. */
static void join_rows(pgeom *g) {
    if (g->in[0] != 1 || g->in[1] != 1 || g->k[2] != g->s[2] || g->p[2] || g->d[2] != 1 ||
        g->in[2] != g->out[2] * g->k[2] || g->planes <= 1)
        return;
    int64_t c = 512 / g->out[2];
    if (c > g->planes) c = g->planes;
    while (c > 1 && g->planes % c) c--;
    if (c <= 1) return;
    g->in[2] *= c;
    g->out[2] *= c;
    g->planes /= c;
}

static ct_tensor *new_out(const ct_tensor *x, const pgeom *g, int dtype) {
    int64_t sz[CT_MAX_DIM];
    int lead = x->ndim - g->nd;
    for (int i = 0; i < lead; i++) sz[i] = x->sizes[i];
    for (int i = 0; i < g->nd; i++) sz[lead + i] = g->out[3 - g->nd + i];
    return ct_empty(sz, x->ndim, dtype);
}

typedef struct {
    const pgeom *g;
    const void *a, *b, *c;
    void *y;
    int64_t *ind;
    int64_t isz, osz;
    int kind;
    bool f64;
    int bad;   /* scatter: an index was out of range */
    int64_t C; /* channels-last kernels: channels */
} pjob;

enum {
    K_GAVG, K_GAVG_BWD, K_GMAX, K_MAX, K_AVG, K_AVG_BWD, K_AAVG, K_AAVG_BWD, K_AMAX, K_LP, K_LP_BWD,
    K_SCATTER_ADD, K_SCATTER_SET, K_GATHER,
    K_MAX_NHWC, K_AVG_NHWC, K_AVG_BWD_NHWC, K_AAVG_NHWC, K_AAVG_BWD_NHWC, K_SCATTER_NHWC
};

static void pjob_run(int64_t p0, int64_t p1, void *ctx) {
    const pjob *j = ctx;
    const pgeom *g = j->g;
    switch (j->kind) {
    case K_GAVG: if (j->f64) global_avg_k_f64(j->isz, j->a, j->y, p0, p1); else global_avg_k_f32(j->isz, j->a, j->y, p0, p1); break;
    case K_GAVG_BWD: if (j->f64) global_avg_bwd_k_f64(j->isz, j->a, j->y, p0, p1); else global_avg_bwd_k_f32(j->isz, j->a, j->y, p0, p1); break;
    case K_GMAX: if (j->f64) global_max_k_f64(j->isz, j->a, j->y, j->ind, p0, p1); else global_max_k_f32(j->isz, j->a, j->y, j->ind, p0, p1); break;
    case K_MAX: if (j->f64) maxpool_k_f64(g, j->a, j->y, j->ind, p0, p1); else maxpool_k_f32(g, j->a, j->y, j->ind, p0, p1); break;
    case K_AVG: if (j->f64) avgpool_k_f64(g, j->a, j->y, p0, p1); else avgpool_k_f32(g, j->a, j->y, p0, p1); break;
    case K_AVG_BWD: if (j->f64) avgpool_bwd_k_f64(g, j->a, j->y, p0, p1); else avgpool_bwd_k_f32(g, j->a, j->y, p0, p1); break;
    case K_AAVG: if (j->f64) adaptive_avg_k_f64(g, j->a, j->y, p0, p1); else adaptive_avg_k_f32(g, j->a, j->y, p0, p1); break;
    case K_AAVG_BWD: if (j->f64) adaptive_avg_bwd_k_f64(g, j->a, j->y, p0, p1); else adaptive_avg_bwd_k_f32(g, j->a, j->y, p0, p1); break;
    case K_AMAX: if (j->f64) adaptive_max_k_f64(g, j->a, j->y, j->ind, p0, p1); else adaptive_max_k_f32(g, j->a, j->y, j->ind, p0, p1); break;
    case K_LP: if (j->f64) lppool_k_f64(g, j->a, j->y, p0, p1); else lppool_k_f32(g, j->a, j->y, p0, p1); break;
    case K_LP_BWD: if (j->f64) lppool_bwd_k_f64(g, j->a, j->b, j->c, j->y, p0, p1); else lppool_bwd_k_f32(g, j->a, j->b, j->c, j->y, p0, p1); break;
    case K_SCATTER_ADD:
    case K_SCATTER_SET:
        if (j->f64)
            scatter_k_f64(j->isz, j->osz, j->a, j->ind, j->y, p0, p1, j->kind == K_SCATTER_SET, (int *)&j->bad);
        else
            scatter_k_f32(j->isz, j->osz, j->a, j->ind, j->y, p0, p1, j->kind == K_SCATTER_SET, (int *)&j->bad);
        break;
    case K_MAX_NHWC: if (j->f64) max_nhwc_k_f64(g, j->C, j->a, j->y, j->ind, p0, p1); else max_nhwc_k_f32(g, j->C, j->a, j->y, j->ind, p0, p1); break;
    case K_AVG_NHWC: if (j->f64) avg_nhwc_k_f64(g, j->C, j->a, j->y, p0, p1); else avg_nhwc_k_f32(g, j->C, j->a, j->y, p0, p1); break;
    case K_AVG_BWD_NHWC: if (j->f64) avg_nhwc_bwd_k_f64(g, j->C, j->a, j->y, p0, p1); else avg_nhwc_bwd_k_f32(g, j->C, j->a, j->y, p0, p1); break;
    case K_AAVG_NHWC: if (j->f64) aavg_nhwc_k_f64(g, j->C, j->a, j->y, p0, p1); else aavg_nhwc_k_f32(g, j->C, j->a, j->y, p0, p1); break;
    case K_AAVG_BWD_NHWC: if (j->f64) aavg_nhwc_bwd_k_f64(g, j->C, j->a, j->y, p0, p1); else aavg_nhwc_bwd_k_f32(g, j->C, j->a, j->y, p0, p1); break;
    case K_SCATTER_NHWC:
        if (j->f64) scatter_nhwc_k_f64(j->isz, j->osz, j->C, j->a, j->ind, j->y, p0, p1, (int *)&j->bad);
        else scatter_nhwc_k_f32(j->isz, j->osz, j->C, j->a, j->ind, j->y, p0, p1, (int *)&j->bad);
        break;
    case K_GATHER: if (j->f64) gather_k_f64(j->isz, j->osz, j->a, j->ind, j->y, p0, p1); else gather_k_f32(j->isz, j->osz, j->a, j->ind, j->y, p0, p1); break;
    }
}

static void run_planes(pjob *j, int64_t planes, int64_t work_per_plane) {
    if (planes <= 0) return;
    int64_t w = work_per_plane > 0 ? work_per_plane : 1;
    int64_t grain = CT_GRAIN / w;
    if (grain < 1) grain = 1;
    ct_parallel_for(planes, grain, pjob_run, j);
}

static int64_t window_volume(const pgeom *g) { return g->k[0] * g->k[1] * g->k[2]; }
static int64_t osz_of(const pgeom *g) { return g->out[0] * g->out[1] * g->out[2]; }

/* ------------------------------------------------------------------ channels-last (NHWC) inputs
 *
 * A 4-d float32 / float64 tensor laid out (N, H, W, C) (torch's channels_last, not also
 * contiguous as NCHW) is pooled in place of layout by the *_nhwc kernels, and the result is
 * channels-last too, as torch's CPU kernels give it. */

/* x (N, C, H, W) with channels-last strides (size-1 dims skipped), not NCHW-contiguous */
static bool is_nhwc_layout(const ct_tensor *x) {
    if (x->ndim != 4 || ct_tensor_is_contiguous(x)) return false;
    int64_t N = x->sizes[0], C = x->sizes[1], H = x->sizes[2], W = x->sizes[3];
    if (N * C * H * W == 0) return false;
    int64_t want[4] = {H * W * C, 1, W * C, C};
    for (int i = 0; i < 4; i++)
        if (x->sizes[i] != 1 && x->strides[i] != want[i]) return false;
    return true;
}

static bool is_nhwc(const ct_tensor *x) {
    return (x->dtype == CT_FLOAT32 || x->dtype == CT_FLOAT64) && is_nhwc_layout(x);
}

/* empty (N, C, H, W) tensor with channels-last strides */
static ct_tensor *empty_nhwc(int64_t N, int64_t C, int64_t H, int64_t W, int dtype) {
    int64_t phys[4] = {N, H, W, C};
    ct_tensor *b = ct_empty(phys, 4, dtype);
    if (!b) return NULL;
    int64_t sz[4] = {N, C, H, W}, st[4] = {H * W * C, 1, W * C, C};
    ct_tensor *v = ct_tensor_new_view(b->storage, dtype, b->offset, sz, st, 4);
    ct_tensor_release(b);
    return v;
}

/* rows [0, rows) of work_per_row each, split over threads */
static void run_rows(pjob *j, int64_t rows, int64_t work_per_row) {
    run_planes(j, rows, work_per_row);
}

static ct_tensor *nhwc_out(const ct_tensor *x, const pgeom *g, int dtype) {
    return empty_nhwc(x->sizes[0], x->sizes[1], g->out[1], g->out[2], dtype);
}

/* ------------------------------------------------------------------ max pool */

int ct_nn_max_pool_impl(ct_tensor *self, ct_intlist kernel_size, ct_intlist stride, ct_intlist padding,
                        ct_intlist dilation, bool ceil_mode, ct_tensor **out0, ct_tensor **out1) {
    const char *op = kernel_size.n == 3 ? "max_pool3d" : kernel_size.n == 1 ? "max_pool1d" : "max_pool2d";
    int nd = (int)kernel_size.n;
    pgeom g;
    int cd = compute_dtype_int(op, self);
    if (cd < 0 || pool_setup(op, self, nd, kernel_size, stride, padding, dilation, ceil_mode, true, &g)) return -1;
    if (nd == 2 && is_nhwc(self)) {
        ct_tensor *y = nhwc_out(self, &g, self->dtype);
        ct_tensor *ind = y ? nhwc_out(self, &g, CT_INT64) : NULL;
        if (!ind) {
            ct_tensor_release(y);
            return -1;
        }
        pjob j = {.g = &g, .a = ct_tensor_data(self), .y = ct_tensor_data(y), .ind = ct_tensor_data(ind),
                  .kind = K_MAX_NHWC, .f64 = self->dtype == CT_FLOAT64, .C = self->sizes[1]};
        run_rows(&j, self->sizes[0] * g.out[1], g.out[2] * self->sizes[1] * window_volume(&g));
        *out0 = y;
        *out1 = ind;
        return 0;
    }
    ct_tensor *x = prep(self, cd);
    ct_tensor *y = x ? new_out(self, &g, cd) : NULL;
    ct_tensor *ind = y ? new_out(self, &g, CT_INT64) : NULL;
    if (!ind) goto fail;
    pjob j = {.g = &g, .a = ct_tensor_data(x), .y = ct_tensor_data(y), .ind = ct_tensor_data(ind), .kind = K_MAX,
              .f64 = cd == CT_FLOAT64};
    run_planes(&j, g.planes, osz_of(&g) * window_volume(&g));
    ct_tensor_release(x);
    *out0 = finish(y, self->dtype);
    *out1 = ind;
    if (!*out0) {
        ct_tensor_release(ind);
        return -1;
    }
    return 0;
fail:
    ct_tensor_release(x);
    ct_tensor_release(y);
    return -1;
}

/* Values of nn_max_pool only: float32 planes the AVX-512 kernel takes skip the indices; other
 * cases run nn_max_pool and drop them. */
ct_tensor *ct_nn_max_pool_values(ct_tensor *self, ct_intlist kernel_size, ct_intlist stride, ct_intlist padding,
                                 ct_intlist dilation, bool ceil_mode) {
#ifdef POOL_AVX512
    const char *op = kernel_size.n == 3 ? "max_pool3d" : kernel_size.n == 1 ? "max_pool1d" : "max_pool2d";
    pgeom g;
    int cd = compute_dtype_int(op, self);
    if (cd < 0 || pool_setup(op, self, (int)kernel_size.n, kernel_size, stride, padding, dilation, ceil_mode, true, &g))
        return NULL;
    if (kernel_size.n == 2 && is_nhwc(self)) {
        ct_tensor *y = nhwc_out(self, &g, self->dtype);
        if (y) {
            pjob j = {.g = &g, .a = ct_tensor_data(self), .y = ct_tensor_data(y), .ind = NULL, .kind = K_MAX_NHWC,
                      .f64 = self->dtype == CT_FLOAT64, .C = self->sizes[1]};
            run_rows(&j, self->sizes[0] * g.out[1], g.out[2] * self->sizes[1] * window_volume(&g));
        }
        return y;
    }
    if (cd == CT_FLOAT32 && avx_rows_f32(&g) && g.in[0] * g.in[1] * g.in[2] <= INT32_MAX) {
        ct_tensor *x = prep(self, cd);
        ct_tensor *y = x ? new_out(self, &g, cd) : NULL;
        if (y) {
            join_rows(&g);
            pjob j = {.g = &g, .a = ct_tensor_data(x), .y = ct_tensor_data(y), .ind = NULL, .kind = K_MAX};
            run_planes(&j, g.planes, osz_of(&g) * window_volume(&g));
        }
        ct_tensor_release(x);
        return finish(y, self->dtype);
    }
#endif
    ct_tensor *y, *ind;
    if (ct_nn_max_pool_impl(self, kernel_size, stride, padding, dilation, ceil_mode, &y, &ind)) return NULL;
    ct_tensor_release(ind);
    return y;
}

/* ------------------------------------------------------------------ avg pool */

static int avg_setup(const char *op, ct_tensor *x, ct_intlist kernel_size, ct_intlist stride, ct_intlist padding,
                     bool ceil_mode, bool count_include_pad, const int64_t *divisor_override, pgeom *g) {
    int nd = (int)kernel_size.n;
    if (pool_setup(op, x, nd, kernel_size, stride, padding, (ct_intlist){NULL, 0}, ceil_mode, false, g)) return -1;
    g->count_include_pad = count_include_pad;
    if (divisor_override) {
        if (*divisor_override == 0) return ct_errorf(CT_ERR_RUNTIME, "[%s] divisor must be not zero", op);
        g->divisor = *divisor_override;
    }
    return 0;
}

ct_tensor *ct_nn_avg_pool_impl(ct_tensor *self, ct_intlist kernel_size, ct_intlist stride, ct_intlist padding,
                               bool ceil_mode, bool count_include_pad, const int64_t *divisor_override) {
    const char *op = kernel_size.n == 3 ? "avg_pool3d" : kernel_size.n == 1 ? "avg_pool1d" : "avg_pool2d";
    pgeom g;
    int cd = compute_dtype_int(op, self);
    if (cd < 0 || avg_setup(op, self, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, &g))
        return NULL;
    if (kernel_size.n == 2 && is_nhwc(self)) {
        ct_tensor *y = nhwc_out(self, &g, self->dtype);
        if (y) {
            pjob j = {.g = &g, .a = ct_tensor_data(self), .y = ct_tensor_data(y), .kind = K_AVG_NHWC,
                      .f64 = self->dtype == CT_FLOAT64, .C = self->sizes[1]};
            run_rows(&j, self->sizes[0] * g.out[1], g.out[2] * self->sizes[1] * window_volume(&g));
        }
        return y;
    }
    ct_tensor *x = prep(self, cd);
    ct_tensor *y = x ? new_out(self, &g, cd) : NULL;
    if (y) {
        join_rows(&g);
        pjob j = {.g = &g, .a = ct_tensor_data(x), .y = ct_tensor_data(y), .kind = K_AVG, .f64 = cd == CT_FLOAT64};
        run_planes(&j, g.planes, osz_of(&g) * window_volume(&g));
    }
    ct_tensor_release(x);
    return finish(y, self->dtype);
}

/* grad_output (*, out spatial) -> grad_input of input_size (the adjoint of avg pool). */
ct_tensor *ct_nn_avg_pool_backward_impl(ct_tensor *grad_output, ct_intlist input_size, ct_intlist kernel_size,
                                        ct_intlist stride, ct_intlist padding, bool ceil_mode, bool count_include_pad,
                                        const int64_t *divisor_override) {
    const char *op = "avg_pool_backward";
    if (input_size.n != grad_output->ndim || input_size.n > CT_MAX_DIM)
        return ct_error(CT_ERR_RUNTIME, "[%s] input_size must have the rank of grad_output", op);
    int cd = compute_dtype(op, grad_output);
    if (cd < 0) return NULL;
    ct_tensor *shape = ct_empty(input_size.data, (int)input_size.n, cd);
    if (!shape) return NULL;
    pgeom g;
    int rc = avg_setup(op, shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, &g);
    if (rc) {
        ct_tensor_release(shape);
        return NULL;
    }
    ct_tensor_release(shape);
    if (g.nd == 2 && is_nhwc(grad_output)) {
        for (int i = 0; i < 2; i++)
            if (grad_output->sizes[2 + i] != g.out[1 + i])
                return ct_error(CT_ERR_RUNTIME, "[%s] grad_output has the wrong spatial size", op);
        const int64_t *is = input_size.data;
        if (is[0] != grad_output->sizes[0] || is[1] != grad_output->sizes[1])
            return ct_error(CT_ERR_RUNTIME, "[%s] grad_output and input_size batch sizes differ", op);
        ct_tensor *gx = empty_nhwc(is[0], is[1], is[2], is[3], grad_output->dtype);
        if (gx) {
            pjob j = {.g = &g, .a = ct_tensor_data(grad_output), .y = ct_tensor_data(gx), .kind = K_AVG_BWD_NHWC,
                      .f64 = grad_output->dtype == CT_FLOAT64, .C = is[1]};
            run_rows(&j, is[0] * is[2], is[3] * is[1] * window_volume(&g));
        }
        return gx;
    }
    ct_tensor *gy = prep(grad_output, cd);
    ct_tensor *gx = gy ? ct_empty(input_size.data, (int)input_size.n, cd) : NULL; /* zeroed by the kernel */
    if (gx) {
        for (int i = 0; i < g.nd; i++)
            if (gy->sizes[gy->ndim - g.nd + i] != g.out[3 - g.nd + i]) {
                ct_tensor_release(gy);
                ct_tensor_release(gx);
                return ct_error(CT_ERR_RUNTIME, "[%s] grad_output has the wrong spatial size", op);
            }
        pjob j = {.g = &g, .a = ct_tensor_data(gy), .y = ct_tensor_data(gx), .kind = K_AVG_BWD, .f64 = cd == CT_FLOAT64};
        run_planes(&j, g.planes, osz_of(&g) * window_volume(&g));
    }
    ct_tensor_release(gy);
    return finish(gx, grad_output->dtype);
}

/* ------------------------------------------------------------------ adaptive pools */

static int adaptive_setup(const char *op, ct_tensor *x, ct_intlist output_size, pgeom *g) {
    int nd = (int)output_size.n;
    if (nd < 1 || nd > 3) return ct_errorf(CT_ERR_RUNTIME, "[%s] output_size must have 1 to 3 entries", op);
    if (check_input(op, x, nd)) return -1;
    geom_fill_in(g, x, nd);
    for (int i = 0; i < nd; i++) {
        if (output_size.data[i] < 0)
            return ct_errorf(CT_ERR_RUNTIME, "[%s] elements of output_size must be greater than or equal to 0 but "
                             "received %lld", op, (long long)output_size.data[i]);
        g->out[3 - nd + i] = output_size.data[i];
    }
    return 0;
}

/* Adaptive avg / max pools that are plain ones: 1 = global (all outputs 1: one window per plane),
 * 2 = every input size a multiple of its output size (the windows are the non-overlapping
 * kernel = stride = in / out windows of avg pool, whose row kernels g is set up for),
 * 0 = neither. */
static int adaptive_as_avg(pgeom *g) {
    bool global = true, even = true;
    for (int i = 0; i < 3; i++) {
        if (g->out[i] != 1) global = false;
        if (g->out[i] <= 0 || g->in[i] % g->out[i]) even = false;
    }
    if (global) return 1;
    if (!even) return 0;
    for (int i = 0; i < 3; i++) g->k[i] = g->s[i] = g->in[i] / g->out[i];
    return 2;
}

static int64_t adaptive_work(const pgeom *g) {
    int64_t w = 1;
    for (int i = 0; i < 3; i++) w *= g->in[i] > g->out[i] ? g->in[i] : g->out[i];
    return w;
}

ct_tensor *ct_nn_adaptive_avg_pool_impl(ct_tensor *self, ct_intlist output_size) {
    const char *op = output_size.n == 3 ? "adaptive_avg_pool3d" : "adaptive_avg_pool2d";
    pgeom g;
    int cd = compute_dtype(op, self);
    if (cd < 0 || adaptive_setup(op, self, output_size, &g)) return NULL;
    if (output_size.n == 2 && is_nhwc(self)) {
        ct_tensor *y = nhwc_out(self, &g, self->dtype);
        if (y) {
            pjob j = {.g = &g, .a = ct_tensor_data(self), .y = ct_tensor_data(y), .kind = K_AAVG_NHWC,
                      .f64 = self->dtype == CT_FLOAT64, .C = self->sizes[1]};
            run_rows(&j, self->sizes[0] * g.out[1], adaptive_work(&g) * self->sizes[1] / (g.out[1] > 0 ? g.out[1] : 1));
        }
        return y;
    }
    ct_tensor *x = prep(self, cd);
    ct_tensor *y = x ? new_out(self, &g, cd) : NULL;
    if (y) {
        int mode = adaptive_as_avg(&g);
        pjob j = {.g = &g, .a = ct_tensor_data(x), .y = ct_tensor_data(y), .isz = g.in[0] * g.in[1] * g.in[2],
                  .kind = mode == 1 ? K_GAVG : mode == 2 ? K_AVG : K_AAVG, .f64 = cd == CT_FLOAT64};
        run_planes(&j, g.planes, adaptive_work(&g));
    }
    ct_tensor_release(x);
    return finish(y, self->dtype);
}

/* grad_output (*, out spatial nd) -> grad_input of input_size (the adjoint of adaptive avg pool). */
ct_tensor *ct_nn_adaptive_avg_pool_backward_impl(ct_tensor *grad_output, ct_intlist input_size, int64_t nd) {
    const char *op = "adaptive_avg_pool_backward";
    if (input_size.n != grad_output->ndim || nd < 1 || nd > 3 || nd >= input_size.n)
        return ct_error(CT_ERR_RUNTIME, "[%s] input_size must have the rank of grad_output", op);
    int cd = compute_dtype(op, grad_output);
    if (cd < 0) return NULL;
    ct_tensor *shape = ct_empty(input_size.data, (int)input_size.n, cd);
    if (!shape) return NULL;
    pgeom g;
    geom_fill_in(&g, shape, (int)nd);
    ct_tensor_release(shape);
    for (int i = 0; i < nd; i++) g.out[3 - nd + i] = grad_output->sizes[grad_output->ndim - nd + i];
    if (nd == 2 && is_nhwc(grad_output)) {
        const int64_t *is = input_size.data;
        if (is[0] != grad_output->sizes[0] || is[1] != grad_output->sizes[1])
            return ct_error(CT_ERR_RUNTIME, "[%s] grad_output and input_size batch sizes differ", op);
        ct_tensor *gx = empty_nhwc(is[0], is[1], is[2], is[3], grad_output->dtype);
        if (gx) {
            pjob j = {.g = &g, .a = ct_tensor_data(grad_output), .y = ct_tensor_data(gx), .kind = K_AAVG_BWD_NHWC,
                      .f64 = grad_output->dtype == CT_FLOAT64, .C = is[1]};
            run_rows(&j, is[0] * is[2], is[3] * is[1] * (g.out[1] + g.out[2]));
        }
        return gx;
    }
    int mode = adaptive_as_avg(&g);
    ct_tensor *gy = prep(grad_output, cd);
    ct_tensor *gx = !gy ? NULL : mode ? ct_empty(input_size.data, (int)input_size.n, cd) /* zeroed by the kernel */
                                      : ct_zeros(input_size, cd, -1);
    if (gx) {
        pjob j = {.g = &g, .a = ct_tensor_data(gy), .y = ct_tensor_data(gx), .isz = g.in[0] * g.in[1] * g.in[2],
                  .kind = mode == 1 ? K_GAVG_BWD : mode == 2 ? K_AVG_BWD : K_AAVG_BWD, .f64 = cd == CT_FLOAT64};
        run_planes(&j, g.planes, adaptive_work(&g));
    }
    ct_tensor_release(gy);
    return finish(gx, grad_output->dtype);
}

int ct_nn_adaptive_max_pool_impl(ct_tensor *self, ct_intlist output_size, ct_tensor **out0, ct_tensor **out1) {
    const char *op = output_size.n == 3 ? "adaptive_max_pool3d" : "adaptive_max_pool2d";
    pgeom g;
    int cd = compute_dtype(op, self);
    if (cd < 0 || adaptive_setup(op, self, output_size, &g)) return -1;
    ct_tensor *x = prep(self, cd);
    ct_tensor *y = x ? new_out(self, &g, cd) : NULL;
    ct_tensor *ind = y ? new_out(self, &g, CT_INT64) : NULL;
    if (!ind) {
        ct_tensor_release(x);
        ct_tensor_release(y);
        return -1;
    }
    int64_t work = adaptive_work(&g);
    int mode = adaptive_as_avg(&g); /* global, or the windows of a max pool with kernel = stride */
    pjob j = {.g = &g, .a = ct_tensor_data(x), .y = ct_tensor_data(y), .ind = ct_tensor_data(ind),
              .isz = g.in[0] * g.in[1] * g.in[2], .kind = mode == 1 ? K_GMAX : mode == 2 ? K_MAX : K_AMAX,
              .f64 = cd == CT_FLOAT64};
    run_planes(&j, g.planes, work);
    ct_tensor_release(x);
    *out0 = finish(y, self->dtype);
    *out1 = ind;
    if (!*out0) {
        ct_tensor_release(ind);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ lp pool */

static int lp_setup(const char *op, ct_tensor *x, ct_intlist kernel_size, ct_intlist stride, bool ceil_mode,
                    double norm_type, pgeom *g) {
    if (pool_setup(op, x, (int)kernel_size.n, kernel_size, stride, (ct_intlist){NULL, 0}, (ct_intlist){NULL, 0},
                   ceil_mode, false, g))
        return -1;
    g->norm = norm_type;
    return 0;
}

ct_tensor *ct_nn_lp_pool_impl(ct_tensor *self, double norm_type, ct_intlist kernel_size, ct_intlist stride,
                              bool ceil_mode) {
    const char *op = kernel_size.n == 3 ? "lp_pool3d" : kernel_size.n == 1 ? "lp_pool1d" : "lp_pool2d";
    pgeom g;
    int cd = compute_dtype(op, self);
    if (cd < 0 || lp_setup(op, self, kernel_size, stride, ceil_mode, norm_type, &g)) return NULL;
    ct_tensor *x = prep(self, cd);
    ct_tensor *y = x ? new_out(self, &g, cd) : NULL;
    if (y) {
        pjob j = {.g = &g, .a = ct_tensor_data(x), .y = ct_tensor_data(y), .kind = K_LP, .f64 = cd == CT_FLOAT64};
        run_planes(&j, g.planes, osz_of(&g) * window_volume(&g));
    }
    ct_tensor_release(x);
    return finish(y, self->dtype);
}

ct_tensor *ct_nn_lp_pool_backward(ct_tensor *grad_output, ct_tensor *self, ct_tensor *output, double norm_type,
                                  ct_intlist kernel_size, ct_intlist stride, bool ceil_mode) {
    const char *op = "lp_pool_backward";
    pgeom g;
    int cd = compute_dtype(op, self);
    if (cd < 0 || lp_setup(op, self, kernel_size, stride, ceil_mode, norm_type, &g)) return NULL;
    ct_tensor *x = prep(self, cd), *gy = prep(grad_output, cd), *y = prep(output, cd);
    ct_tensor *gx = (x && gy && y) ? ct_zeros((ct_intlist){self->sizes, self->ndim}, cd, -1) : NULL;
    if (gx) {
        pjob j = {.g = &g, .a = ct_tensor_data(gy), .b = ct_tensor_data(x), .c = ct_tensor_data(y),
                  .y = ct_tensor_data(gx), .kind = K_LP_BWD, .f64 = cd == CT_FLOAT64};
        run_planes(&j, g.planes, osz_of(&g) * window_volume(&g));
    }
    ct_tensor_release(x);
    ct_tensor_release(gy);
    ct_tensor_release(y);
    return finish(gx, self->dtype);
}

/* ------------------------------------------------------------------ index scatter / gather */

/* planes and per-plane sizes of a (lead..., spatial nd) pair; checks the leading dims agree */
static int index_geom(const char *op, const int64_t *src, int sn, const ct_tensor *ind, int64_t nd, int64_t *planes,
                      int64_t *isz, int64_t *osz) {
    if (nd < 1 || nd > sn || sn != ind->ndim)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] indices must have the rank of the input", op);
    if (ind->dtype != CT_INT64) return ct_errorf(CT_ERR_RUNTIME, "[%s] expected indices of dtype int64", op);
    *planes = 1;
    for (int i = 0; i < sn - nd; i++) {
        if (src[i] != ind->sizes[i]) return ct_errorf(CT_ERR_RUNTIME, "[%s] indices and input batch sizes differ", op);
        *planes *= src[i];
    }
    *isz = 1;
    *osz = 1;
    for (int i = sn - (int)nd; i < sn; i++) {
        *isz *= src[i];
        *osz *= ind->sizes[i];
    }
    return 0;
}

static int check_indices(const char *op, const ct_tensor *ind, int64_t isz) {
    const int64_t *p = ct_tensor_data(ind);
    for (int64_t i = 0; i < ind->numel; i++)
        if (p[i] < 0 || p[i] >= isz)
            return ct_errorf(CT_ERR_RUNTIME, "[%s] Found an invalid max index: %lld (output volumes are of size %lld)",
                             op, (long long)p[i], (long long)isz);
    return 0;
}

static ct_tensor *scatter_common(const char *op, ct_tensor *src, ct_tensor *indices, ct_intlist size, int64_t nd,
                                 int kind) {
    int cd = compute_dtype(op, src);
    if (cd < 0) return NULL;
    if (size.n > CT_MAX_DIM) return ct_error(CT_ERR_RUNTIME, "[%s] too many dims", op);
    int64_t planes, isz, osz;
    if (index_geom(op, size.data, (int)size.n, indices, nd, &planes, &isz, &osz)) return NULL;
    for (int i = 0; i < src->ndim; i++)
        if (src->ndim != indices->ndim || src->sizes[i] != indices->sizes[i]) {
            char b1[128], b2[128];
            return ct_error(CT_ERR_RUNTIME, "[%s] Expected shape of indices to be same as that of the input tensor (%s) "
                            "but got indices tensor with shape: %s", op, ct_shape_str(src->sizes, src->ndim, b1, sizeof b1),
                            ct_shape_str(indices->sizes, indices->ndim, b2, sizeof b2));
        }
    ct_tensor *ind = ct_contig_as(indices, CT_INT64);
    if (!ind) return NULL;
    ct_tensor *s = prep(src, cd);
    ct_tensor *out = s ? ct_empty(size.data, (int)size.n, cd) : NULL;
    if (out) {
        pjob j = {.a = ct_tensor_data(s), .ind = ct_tensor_data(ind), .y = ct_tensor_data(out), .isz = isz, .osz = osz,
                  .kind = kind, .f64 = cd == CT_FLOAT64};
        run_planes(&j, planes, isz + osz);
        if (j.bad) {
            check_indices(op, ind, isz); /* sets the error naming the first bad index */
            ct_tensor_release(out);
            out = NULL;
        }
    }
    ct_tensor_release(s);
    ct_tensor_release(ind);
    return finish(out, src->dtype);
}

ct_tensor *ct_nn_pool_scatter_add_impl(ct_tensor *grad, ct_tensor *indices, ct_intlist self_size, int64_t nd) {
    if (nd == 2 && self_size.n == 4 && is_nhwc(grad) && indices->dtype == CT_INT64 && indices->ndim == 4 &&
        is_nhwc_layout(indices)) {
        const char *op = "max_pool_backward";
        int64_t planes, isz, osz;
        if (index_geom(op, self_size.data, 4, indices, nd, &planes, &isz, &osz)) return NULL;
        for (int i = 0; i < 4; i++)
            if (grad->sizes[i] != indices->sizes[i])
                return ct_error(CT_ERR_RUNTIME, "[%s] Expected shape of indices to be same as that of the input tensor",
                                op);
        const int64_t *ss = self_size.data;
        ct_tensor *gx = empty_nhwc(ss[0], ss[1], ss[2], ss[3], grad->dtype);
        if (!gx) return NULL;
        pjob j = {.a = ct_tensor_data(grad), .ind = ct_tensor_data(indices), .y = ct_tensor_data(gx), .isz = isz,
                  .osz = osz, .kind = K_SCATTER_NHWC, .f64 = grad->dtype == CT_FLOAT64, .C = ss[1]};
        run_rows(&j, ss[0], (isz + osz) * ss[1]);
        if (j.bad) {
            ct_tensor *ic = ct_contig_as(indices, CT_INT64);
            if (ic) check_indices(op, ic, isz);
            ct_tensor_release(ic);
            ct_tensor_release(gx);
            return NULL;
        }
        return gx;
    }
    return scatter_common("max_pool_backward", grad, indices, self_size, nd, K_SCATTER_ADD);
}

ct_tensor *ct_nn_pool_gather_impl(ct_tensor *self, ct_tensor *indices, int64_t nd) {
    const char *op = "pool_gather";
    int cd = compute_dtype(op, self);
    if (cd < 0) return NULL;
    int64_t planes, isz, osz;
    if (index_geom(op, self->sizes, self->ndim, indices, nd, &planes, &isz, &osz)) return NULL;
    ct_tensor *ind = ct_contig_as(indices, CT_INT64);
    if (!ind) return NULL;
    if (check_indices(op, ind, isz)) {
        ct_tensor_release(ind);
        return NULL;
    }
    ct_tensor *s = prep(self, cd);
    ct_tensor *out = s ? ct_empty(indices->sizes, indices->ndim, cd) : NULL;
    if (out) {
        pjob j = {.a = ct_tensor_data(s), .ind = ct_tensor_data(ind), .y = ct_tensor_data(out), .isz = isz, .osz = osz,
                  .kind = K_GATHER, .f64 = cd == CT_FLOAT64};
        run_planes(&j, planes, osz);
    }
    ct_tensor_release(s);
    ct_tensor_release(ind);
    return finish(out, self->dtype);
}

ct_tensor *ct_nn_max_unpool_impl(ct_tensor *self, ct_tensor *indices, ct_intlist output_size) {
    int nd = (int)output_size.n;
    const char *op = nd == 3 ? "max_unpooling3d_forward_out" : "max_unpooling2d_forward_out";
    if (nd < 1 || nd > 3) return ct_error(CT_ERR_RUNTIME, "[%s] output_size must have 1 to 3 entries", op);
    if (self->ndim != nd + 1 && self->ndim != nd + 2)
        return ct_error(CT_ERR_RUNTIME, "[%s] Input to max_unpooling%dd should be a %dd or %dd Tensor", op, nd, nd + 1,
                        nd + 2);
    int64_t sz[CT_MAX_DIM];
    int lead = self->ndim - nd;
    for (int i = 0; i < lead; i++) sz[i] = self->sizes[i];
    for (int i = 0; i < nd; i++) sz[lead + i] = output_size.data[i];
    return scatter_common(op, self, indices, (ct_intlist){sz, self->ndim}, nd, K_SCATTER_SET);
}
