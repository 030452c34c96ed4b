/* Convolution kernels: im2col / col2im around the project's GEMM (see conv.h). */
#include "conv.h"

#include <string.h>
#include <stdlib.h>

#include "../../core/internal.h"
#include "gemm.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CT_X86 1
#endif

#define T float
#define SFX _s
#define GEMM ct_sgemm
#include "conv_impl.h"
#undef T
#undef SFX
#undef GEMM
#define T double
#define SFX _d
#define GEMM ct_dgemm
#include "conv_impl.h"
#undef T
#undef SFX
#undef GEMM

/* ------------------------------------------------------------------ batch-in-lanes (float32)
 * NOTE [ Batch-in-lanes convolution ]
 * Small convolutions (LeNet-style: few channels, small images, 5x5 taps) waste an im2col +
 * GEMM: the unfolded matrix costs more to build than the GEMM, whose tiles (32 x 12) are
 * half empty with 6 or 16 output channels. Here 16 samples share each AVX-512 vector: the
 * image is repacked as X[c][h][w][16] (zero padded, so no bounds tests), and the convolution
 * runs as a direct loop whose every vector op is fully used whatever the channel counts and
 * sizes:
 *   forward      Y[co][o][16] = bias + sum_{c,tap} W[co][c][tap] * X[c][o*s + tap*d][16]
 *                (tile: up to 8 output channels x up to 4 output columns in registers, the
 *                weights broadcast from a [c][tap][co] copy);
 *   input grad   the forward on the zero-padded output gradient with the flipped,
 *                channel-swapped weights (stride 1 only);
 *   weight grad  per-lane sums of S[co][o] * X[c][o*s + tap*d] over the positions (tile: up
 *                to 8 output channels x up to 6 taps along w), the lanes then added sample
 *                by sample (see bil_wgrad_task; one input channel: bil_wgrad_cols_task).
 * Every sum runs in the order of the path it replaces (im2col + GEMM, or the direct loops of
 * dw_taps for one input channel), so the forward and the weight gradient are bit for bit
 * those of the slower paths: the main job's test trains a CNN with Adam, which amplifies
 * rounding differences, and compares the loss curve with torch's to 1e-4.
 * Work is split over groups of 16 samples (lanes past the batch are zero) and output row
 * blocks. Used for float32 when the GEMM runs its AVX-512 kernel (ct_gemm_kernel_name), for
 * 1-D/2-D geometry with a batch of at least 8 and a bounded reduction (see bil_ok);
 * everything else goes through the im2col + GEMM template. Winograd F(4x4,3x3) / F(2x2,5x5)
 * forward kernels are opt-in (CTORCH_CONV_WINOGRAD=1, NOTE [ Winograd F(m x m, r x r) ]). */

#ifdef CT_X86
#define BL 16 /* lanes */

typedef struct bil_dims {
    int64_t C, Hp, Wp;      /* packed image: channels, padded rows / columns */
    int64_t Co, oH, oW;     /* output of the direct kernel */
    int64_t KH, KW, s0, s1, d0, d1;
    int64_t r0, r1, c0, c1; /* rows / columns of the packed image that may be nonzero */
    int bias_first;         /* forward: start the sums from the bias (else add it last) */
} bil_dims;

/* In-register transpose of a 16 x 16 float block: r[i][j] -> r[j][i]. */
__attribute__((target("avx512f"), always_inline)) static inline void bil_tr16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) { /* r[4i+j], 128-bit lane q: rows 4i..4i+3 of column 4q+j */
        __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
        __m512d c = _mm512_castps_pd(t[4 * i + 1]), e = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, e));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, e));
    }
    for (int j = 0; j < 4; j++) {
        __m512 u0 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88), u1 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xDD);
        __m512 v0 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88), v1 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xDD);
        t[j] = _mm512_shuffle_f32x4(u0, v0, 0x88);
        t[4 + j] = _mm512_shuffle_f32x4(u1, v1, 0x88);
        t[8 + j] = _mm512_shuffle_f32x4(u0, v0, 0xDD);
        t[12 + j] = _mm512_shuffle_f32x4(u1, v1, 0xDD);
    }
    for (int i = 0; i < 16; i++) r[i] = t[i];
}

/* drow[w][16] = src[n * sst + w] for w < cnt, lanes n >= nv zero. */
__attribute__((target("avx512f"))) static void bil_pack_row(const float *src, int64_t sst, int64_t nv, int64_t cnt,
                                                            float *restrict drow) {
    for (int64_t w0 = 0; w0 < cnt; w0 += BL) {
        int64_t m = cnt - w0 < BL ? cnt - w0 : BL;
        __mmask16 mk = (__mmask16)((1u << m) - 1);
        __m512 r[16];
        for (int64_t n = 0; n < BL; n++) r[n] = n < nv ? _mm512_maskz_loadu_ps(mk, src + n * sst + w0) : _mm512_setzero_ps();
        bil_tr16(r);
        for (int64_t k = 0; k < m; k++) _mm512_storeu_ps(drow + (w0 + k) * BL, r[k]);
    }
}

/* dst[c][Hp][Wp][16] = zero-padded src[n0 + lane][c][H][W] (sample stride sst), source row h
 * and column w placed at (h + pt, w + pl); pt < 0 drops the first rows (row blocks), rows and
 * columns past the buffer are dropped; nv valid lanes. */
static void bil_pack(const float *src, int64_t sst, int64_t nv, int64_t C, int64_t H, int64_t W, int64_t pt,
                     int64_t pl, int64_t Hp, int64_t Wp, float *restrict dst) {
    if (pt == 0 && pl == 0 && Hp == H && Wp == W) { /* no padding: one run per sample */
        bil_pack_row(src, sst, nv, C * H * W, dst);
        return;
    }
    memset(dst, 0, (size_t)(C * Hp * Wp * BL) * sizeof(float));
    int64_t h0 = pt < 0 ? -pt : 0, h1 = H < Hp - pt ? H : Hp - pt, w1 = W < Wp - pl ? W : Wp - pl;
    for (int64_t c = 0; c < C; c++)
        for (int64_t h = h0; h < h1; h++)
            bil_pack_row(src + (c * H + h) * W, sst, nv, w1, dst + ((c * Hp + h + pt) * Wp + pl) * BL);
}

/* dst[n0 + lane][i] = Y[i][lane] for i < CL and the nv valid lanes (sample stride sst). */
__attribute__((target("avx512f"))) static void bil_unpack(const float *restrict Y, int64_t C, int64_t L, int64_t nv,
                                                          float *dst, int64_t sst) {
    const int64_t CL = C * L;
    for (int64_t i0 = 0; i0 < CL; i0 += BL) {
        int64_t m = CL - i0 < BL ? CL - i0 : BL;
        __mmask16 mk = (__mmask16)((1u << m) - 1);
        __m512 r[16];
        for (int64_t k = 0; k < BL; k++) r[k] = k < m ? _mm512_loadu_ps(Y + (i0 + k) * BL) : _mm512_setzero_ps();
        bil_tr16(r);
        for (int64_t n = 0; n < nv; n++) _mm512_mask_storeu_ps(dst + n * sst + i0, mk, r[n]);
    }
}

static inline int64_t bil_ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

/* One forward tile: output channels [co0, co0+COB) x output columns [ow0, ow0+P) of row oh. */
__attribute__((target("avx512f,fma"), always_inline)) static inline void bil_fwd_tile(
    const bil_dims *d, const float *X, const float *Wt, const float *bias, float *Y, int64_t co0, int64_t oh,
    int64_t ow0, const int COB, const int P) {
    /* The order of the sums is that of the paths this one replaces (bit for bit the same
     * results): from the bias with one input channel (the direct loops), the bias last
     * otherwise (im2col + GEMM); the taps in (c, a, b) order either way. It matters: the main
     * job's test trains a CNN with Adam, which turns rounding differences into diverging runs,
     * and compares the run with torch's. */
    const int bias_first = bias && d->bias_first;
    __m512 acc[8][4];
    for (int j = 0; j < COB; j++)
        for (int p = 0; p < P; p++) acc[j][p] = bias_first ? _mm512_set1_ps(bias[co0 + j]) : _mm512_setzero_ps();
    const int64_t Co = d->Co, xs = d->s1 * BL, xd = d->d1 * BL;
    /* taps that only meet the zero padding are skipped (the input gradient pads by k-1) */
    int64_t a0 = bil_ceil_div(d->r0 - oh * d->s0, d->d0), a1 = bil_ceil_div(d->r1 - oh * d->s0, d->d0);
    int64_t b0 = bil_ceil_div(d->c0 - (ow0 + P - 1) * d->s1, d->d1), b1 = bil_ceil_div(d->c1 - ow0 * d->s1, d->d1);
    if (a0 < 0) a0 = 0;
    if (a1 > d->KH) a1 = d->KH;
    if (b0 < 0) b0 = 0;
    if (b1 > d->KW) b1 = d->KW;
    for (int64_t c = 0; c < d->C; c++)
        for (int64_t a = a0; a < a1; a++) {
            const float *xr = X + ((c * d->Hp + oh * d->s0 + a * d->d0) * d->Wp + ow0 * d->s1) * BL;
            const float *wr = Wt + ((c * d->KH + a) * d->KW) * Co + co0;
            for (int64_t b = b0; b < b1; b++) {
                __m512 xv[4];
                for (int p = 0; p < P; p++) xv[p] = _mm512_loadu_ps(xr + p * xs + b * xd);
                const float *wp = wr + b * Co;
                for (int j = 0; j < COB; j++) {
                    __m512 wv = _mm512_set1_ps(wp[j]);
                    for (int p = 0; p < P; p++) acc[j][p] = _mm512_fmadd_ps(xv[p], wv, acc[j][p]);
                }
            }
        }
    const int64_t L = d->oH * d->oW;
    for (int j = 0; j < COB; j++)
        for (int p = 0; p < P; p++) {
            __m512 y = bias && !bias_first ? _mm512_add_ps(acc[j][p], _mm512_set1_ps(bias[co0 + j])) : acc[j][p];
            _mm512_storeu_ps(Y + ((co0 + j) * L + oh * d->oW + ow0 + p) * BL, y);
        }
}

#define BIL_FWD_CASE(cob, p) \
    case cob * 8 + p: bil_fwd_tile(d, X, Wt, bias, Y, co0, oh, ow0, cob, p); break;
#define BIL_FWD_COB(cob) BIL_FWD_CASE(cob, 1) BIL_FWD_CASE(cob, 2) BIL_FWD_CASE(cob, 3) BIL_FWD_CASE(cob, 4)

/* Y[Co][oH][oW][16] = direct convolution of X (bil_dims) with Wt[C][KH][KW][Co]. */
__attribute__((target("avx512f,fma"))) static void bil_fwd(const bil_dims *d, const float *X, const float *Wt,
                                                          const float *bias, float *Y) {
    /* rows outer: the few image rows a row of output reads stay in cache for all channels */
    for (int64_t oh = 0; oh < d->oH; oh++)
        for (int64_t co0 = 0; co0 < d->Co; co0 += 8) {
            int cob = d->Co - co0 < 8 ? (int)(d->Co - co0) : 8;
            int pmax = cob <= 6 ? 4 : 3;
            int64_t nt = (d->oW + pmax - 1) / pmax; /* column tiles of balanced widths */
            for (int64_t t = 0; t < nt; t++) {
                int64_t ow0 = d->oW * t / nt, ow1 = d->oW * (t + 1) / nt;
                int p = (int)(ow1 - ow0);
                if (p > 4) p = 4; /* cannot happen: balanced widths are <= pmax */
                switch (cob * 8 + p) {
                    BIL_FWD_COB(1)
                    BIL_FWD_COB(2)
                    BIL_FWD_COB(3)
                    BIL_FWD_COB(4)
                    BIL_FWD_COB(5)
                    BIL_FWD_COB(6)
                    BIL_FWD_CASE(7, 1) BIL_FWD_CASE(7, 2) BIL_FWD_CASE(7, 3)
                    BIL_FWD_CASE(8, 1) BIL_FWD_CASE(8, 2) BIL_FWD_CASE(8, 3)
                    default: break;
                }
            }
    }
}

/* Weight-gradient tile: G[co][c][a][b0 + t][16] += sum over the output rows [oh0, oh1) of
 * S[co][o][16] * X[c][oh*s0 + a*d0][ow*s1 + (b0+t)*d1][16], co in [co0, co0+COB), t < TB.
 * Registers: COB*TB accumulators, TB image vectors, one gradient vector (COB*TB + TB < 32). */
__attribute__((target("avx512f,fma"), always_inline)) static inline void bil_wg_tile(
    const bil_dims *d, const float *X, const float *S, float *G, int64_t oh0, int64_t oh1, int64_t co0, int64_t c,
    int64_t a, int64_t b0, const int COB, const int TB) {
    /* the sums go on from G: one multiply-add chain per lane over the positions in order,
     * whatever the row blocks */
    const int64_t CK = d->C * d->KH * d->KW;
    __m512 acc[8][6];
    for (int j = 0; j < COB; j++)
        for (int t = 0; t < TB; t++) acc[j][t] = _mm512_loadu_ps(G + ((co0 + j) * CK + (c * d->KH + a) * d->KW + b0 + t) * BL);
    const int64_t L = d->oH * d->oW, xs = d->s1 * BL, xd = d->d1 * BL;
    for (int64_t oh = oh0; oh < oh1; oh++) {
        const float *xr = X + ((c * d->Hp + oh * d->s0 + a * d->d0) * d->Wp + b0 * d->d1) * BL;
        const float *sr = S + (co0 * L + oh * d->oW) * BL;
        for (int64_t ow = 0; ow < d->oW; ow++) {
            __m512 xv[6];
            for (int t = 0; t < TB; t++) {
                xv[t] = _mm512_loadu_ps(xr + ow * xs + t * xd);
                /* keep it in a register: GCC otherwise folds the load into each of the COB
                 * FMAs, and the loads, not the FMAs, bound the loop */
                __asm__("" : "+v"(xv[t]));
            }
            for (int j = 0; j < COB; j++) {
                __m512 sv = _mm512_loadu_ps(sr + (j * L + ow) * BL);
                for (int t = 0; t < TB; t++) acc[j][t] = _mm512_fmadd_ps(sv, xv[t], acc[j][t]);
            }
        }
    }
    for (int j = 0; j < COB; j++)
        for (int t = 0; t < TB; t++)
            _mm512_storeu_ps(G + ((co0 + j) * CK + (c * d->KH + a) * d->KW + b0 + t) * BL, acc[j][t]);
}

#define BIL_WG_CASE(cob, tb) \
    case cob * 8 + tb: bil_wg_tile(d, X, S, G, oh0, oh1, co0, c, a, b0, cob, tb); break;
/* the (COB, TB) pairs bil_wgrad_cob allows */
#define BIL_WG_CASES                                                                                   \
    BIL_WG_CASE(1, 1) BIL_WG_CASE(2, 1) BIL_WG_CASE(3, 1) BIL_WG_CASE(4, 1) BIL_WG_CASE(5, 1)          \
    BIL_WG_CASE(6, 1) BIL_WG_CASE(7, 1) BIL_WG_CASE(8, 1) BIL_WG_CASE(1, 2) BIL_WG_CASE(2, 2)          \
    BIL_WG_CASE(3, 2) BIL_WG_CASE(4, 2) BIL_WG_CASE(5, 2) BIL_WG_CASE(6, 2) BIL_WG_CASE(7, 2)          \
    BIL_WG_CASE(8, 2) BIL_WG_CASE(1, 3) BIL_WG_CASE(2, 3) BIL_WG_CASE(3, 3) BIL_WG_CASE(4, 3)          \
    BIL_WG_CASE(5, 3) BIL_WG_CASE(6, 3) BIL_WG_CASE(7, 3) BIL_WG_CASE(8, 3) BIL_WG_CASE(1, 4)          \
    BIL_WG_CASE(2, 4) BIL_WG_CASE(3, 4) BIL_WG_CASE(4, 4) BIL_WG_CASE(5, 4) BIL_WG_CASE(6, 4)          \
    BIL_WG_CASE(1, 5) BIL_WG_CASE(2, 5) BIL_WG_CASE(3, 5) BIL_WG_CASE(4, 5) BIL_WG_CASE(5, 5)          \
    BIL_WG_CASE(1, 6) BIL_WG_CASE(2, 6) BIL_WG_CASE(3, 6) BIL_WG_CASE(4, 6)

/* most output channels per weight-gradient tile for TB taps */
static inline int64_t bil_wgrad_cob(int64_t tb) {
    int64_t m = (31 - tb) / tb;
    return m > 8 ? 8 : m;
}

/* G[Co][C][KH][KW][16] += lane-wise weight gradient of one sample group. */
__attribute__((target("avx512f,fma"))) static void bil_wgrad(const bil_dims *d, const float *X, const float *S,
                                                            float *G) {
    int64_t ntb = (d->KW + 5) / 6, tbmax = (d->KW + ntb - 1) / ntb;
    int64_t ncb = (d->Co + bil_wgrad_cob(tbmax) - 1) / bil_wgrad_cob(tbmax); /* channel blocks, balanced */
    /* row blocks: a tile's output-gradient channels (~24 KiB) stay in L1 across C and taps */
    int64_t rows = 24 * 1024 / (((d->Co + ncb - 1) / ncb) * d->oW * BL * (int64_t)sizeof(float));
    if (rows < 1) rows = 1;
    for (int64_t oh0 = 0; oh0 < d->oH; oh0 += rows) {
        int64_t oh1 = oh0 + rows < d->oH ? oh0 + rows : d->oH;
        for (int64_t cb = 0; cb < ncb; cb++) {
            int64_t co0 = d->Co * cb / ncb;
            int cob = (int)(d->Co * (cb + 1) / ncb - co0);
            for (int64_t c = 0; c < d->C; c++)
                for (int64_t a = 0; a < d->KH; a++)
                    for (int64_t t = 0; t < ntb; t++) {
                        int64_t b0 = d->KW * t / ntb, b1 = d->KW * (t + 1) / ntb;
                        switch (cob * 8 + (int)(b1 - b0)) {
                            BIL_WG_CASES
                            default: break;
                        }
                    }
        }
    }
}

/* ------------------------------------------------------------------ Winograd (batch-in-lanes)
 * NOTE [ Winograd F(m x m, r x r) ]
 * For stride-1, undilated 3x3 and 5x5 convolutions with enough channels, the forward kernel
 * computes m x m output tiles from 6 x 6 input tiles: F(4x4, 3x3) and F(2x2, 5x5), both from
 * the points 0, +-1, +-2 and infinity, so they share the input transform V = B^T d B. Per tile
 * and channel pair the 36 products U[xi][c][co] * V[xi][c] replace m*m*r*r multiply-adds
 * (3x3: 36 for 144, 5x5: 36 for 100); the transforms cost O(C + Co) per tile. Output
 * y = A^T M A with M[xi][co] = sum_c U V; U = G g G^T is computed once per call in double.
 * G rows (points 0, 1, -1, 2, -2 then infinity): p^k / prod_{q != p}(p - q); A^T rows i:
 * p^i, plus 1 at infinity in the last row. Lanes, as in the direct kernel, are 16 samples. */
static const double wino_pts[5] = {0, 1, -1, 2, -2};
static const double wino_den[5] = {4, -6, -6, 24, 24};

/* U[xi][c][co] (xi = 6u + v) from Wt[c][r][r][Co], 16 output channels at a time (a few
 * roundings of at most 5-term sums: far below the transform's own error). */
static void wino_weights(const float *Wt, int64_t C, int64_t Co, int r, float *U) {
    float G[6][5];
    for (int j = 0; j < 6; j++)
        for (int k = 0; k < 5; k++) {
            double p = 1;
            for (int e = 0; e < k; e++) p *= j < 5 ? wino_pts[j] : 0;
            G[j][k] = k >= r ? 0.0f : j < 5 ? (float)(p / wino_den[j]) : (float)(k == r - 1);
        }
    enum { CB = 16 };
    for (int64_t c = 0; c < C; c++)
        for (int64_t co0 = 0; co0 < Co; co0 += CB) {
            int64_t nc = Co - co0 < CB ? Co - co0 : CB;
            float w[5][5][CB], t[6][5][CB]; /* taps (zero padded), G g */
            for (int k = 0; k < 5; k++)
                for (int l = 0; l < 5; l++)
                    for (int q = 0; q < CB; q++)
                        w[k][l][q] = k < r && l < r && q < nc ? Wt[((c * r + k) * r + l) * Co + co0 + q] : 0.0f;
            for (int u = 0; u < 6; u++)
                for (int l = 0; l < 5; l++)
                    for (int q = 0; q < CB; q++)
                        t[u][l][q] = G[u][0] * w[0][l][q] + G[u][1] * w[1][l][q] + G[u][2] * w[2][l][q] +
                                     G[u][3] * w[3][l][q] + G[u][4] * w[4][l][q];
            for (int u = 0; u < 6; u++)
                for (int v = 0; v < 6; v++) {
                    float o[CB];
                    for (int q = 0; q < CB; q++)
                        o[q] = t[u][0][q] * G[v][0] + t[u][1][q] * G[v][1] + t[u][2][q] * G[v][2] +
                               t[u][3][q] * G[v][3] + t[u][4][q] * G[v][4];
                    memcpy(U + ((u * 6 + v) * C + c) * Co + co0, o, (size_t)nc * sizeof(float));
                }
        }
}

/* r = B^T d for 6 vectors. */
__attribute__((target("avx512f,fma"), always_inline)) static inline void wino_bt(const __m512 *d, __m512 *r) {
    const __m512 four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(5.0f), two = _mm512_set1_ps(2.0f);
    __m512 d4_d2 = _mm512_sub_ps(d[4], d[2]), d3_d1 = _mm512_sub_ps(d[3], d[1]);
    r[0] = _mm512_add_ps(_mm512_fnmadd_ps(five, d[2], d[4]), _mm512_mul_ps(four, d[0]));
    r[1] = _mm512_fnmadd_ps(four, _mm512_add_ps(d[1], d[2]), _mm512_add_ps(d[3], d[4]));
    r[2] = _mm512_fmadd_ps(four, _mm512_sub_ps(d[1], d[2]), _mm512_sub_ps(d[4], d[3]));
    r[3] = _mm512_fmadd_ps(two, d3_d1, d4_d2);
    r[4] = _mm512_fnmadd_ps(two, d3_d1, d4_d2);
    r[5] = _mm512_add_ps(_mm512_fnmadd_ps(five, d[3], d[5]), _mm512_mul_ps(four, d[1]));
}

/* o[0..m) = A^T M for 6 vectors. */
__attribute__((target("avx512f,fma"), always_inline)) static inline void wino_at(const __m512 *M, __m512 *o,
                                                                               const int m) {
    __m512 s12 = _mm512_add_ps(M[1], M[2]), d12 = _mm512_sub_ps(M[1], M[2]);
    __m512 s34 = _mm512_add_ps(M[3], M[4]), d34 = _mm512_sub_ps(M[3], M[4]);
    o[0] = _mm512_add_ps(M[0], _mm512_add_ps(s12, s34));
    if (m == 2) {
        o[1] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(2.0f), d34, d12), M[5]);
    } else {
        o[1] = _mm512_fmadd_ps(_mm512_set1_ps(2.0f), d34, d12);
        o[2] = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), s34, s12);
        o[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.0f), d34, d12), M[5]);
    }
}

/* V[(xi*C + c)*np + p] = B^T d B for the np tiles of tile row ty from tile column tx0. */
__attribute__((target("avx512f,fma"))) static void wino_input(const bil_dims *d, const float *X, int m, int64_t ty,
                                                             int64_t tx0, int np, float *V) {
    for (int64_t c = 0; c < d->C; c++)
        for (int p = 0; p < np; p++) {
            const float *x0 = X + ((c * d->Hp + m * ty) * d->Wp + m * (tx0 + p)) * BL;
            __m512 t[6], r[6];
            float *v0 = V + (c * np + p) * BL;
            const int64_t vs = d->C * np * BL; /* between consecutive xi */
            float tmp[36 * BL] __attribute__((aligned(64))); /* B^T d, staged in L1 */
            for (int j = 0; j < 6; j++) { /* columns */
                for (int i = 0; i < 6; i++) t[i] = _mm512_loadu_ps(x0 + (i * d->Wp + j) * BL);
                wino_bt(t, r);
                for (int i = 0; i < 6; i++) _mm512_store_ps(tmp + (i * 6 + j) * BL, r[i]);
            }
            for (int i = 0; i < 6; i++) { /* rows: V[i][.] = (B^T d)[i][.] B */
                for (int j = 0; j < 6; j++) t[j] = _mm512_load_ps(tmp + (i * 6 + j) * BL);
                wino_bt(t, r);
                for (int j = 0; j < 6; j++) _mm512_storeu_ps(v0 + (i * 6 + j) * vs, r[j]);
            }
        }
}

/* Mb[(p*COB + j)*36 + xi] = sum_c U[xi][c][co0 + j] * V[xi][c][p], for all 36 xi. */
__attribute__((target("avx512f,fma"), always_inline)) static inline void wino_mul_tile(
    const bil_dims *d, const float *V, const float *U, float *Mb, int64_t co0, const int COB, const int P) {
    for (int xi = 0; xi < 36; xi++) {
        __m512 acc[8][4];
        for (int j = 0; j < COB; j++)
            for (int p = 0; p < P; p++) acc[j][p] = _mm512_setzero_ps();
        const float *vx = V + xi * d->C * P * BL, *ux = U + xi * d->C * d->Co + co0;
        for (int64_t c = 0; c < d->C; c++) {
            __m512 xv[4];
            for (int p = 0; p < P; p++) {
                xv[p] = _mm512_loadu_ps(vx + (c * P + p) * BL);
                __asm__("" : "+v"(xv[p]));
            }
            for (int j = 0; j < COB; j++) {
                __m512 wv = _mm512_set1_ps(ux[c * d->Co + j]);
                for (int p = 0; p < P; p++) acc[j][p] = _mm512_fmadd_ps(xv[p], wv, acc[j][p]);
            }
        }
        for (int p = 0; p < P; p++)
            for (int j = 0; j < COB; j++) _mm512_storeu_ps(Mb + ((p * COB + j) * 36 + xi) * BL, acc[j][p]);
    }
}

#define WINO_CASE(cob, p) \
    case cob * 8 + p: wino_mul_tile(d, V, U, Mb, co0, cob, p); break;
#define WINO_COB(cob) WINO_CASE(cob, 1) WINO_CASE(cob, 2) WINO_CASE(cob, 3) WINO_CASE(cob, 4)

/* Y[Co][oH][oW][16] = bias + conv of X (Hp, Wp >= m * tiles + r - 1) by Winograd; U from
 * wino_weights; scratch V (36 * C * 4 vectors) and Mb (4 * 8 * 36 vectors). */
__attribute__((target("avx512f,fma"), always_inline)) static inline void wino_fwd_m(
    const bil_dims *d, const int m, const float *X, const float *U, const float *bias, float *Y, float *V, float *Mb) {
    const int64_t nty = (d->oH + m - 1) / m, ntx = (d->oW + m - 1) / m, L = d->oH * d->oW;
    for (int64_t ty = 0; ty < nty; ty++) {
        int pmax = d->Co <= 6 ? 4 : 3;
        int64_t ng = (ntx + pmax - 1) / pmax;
        for (int64_t gi = 0; gi < ng; gi++) {
            int64_t tx0 = ntx * gi / ng;
            int np = (int)(ntx * (gi + 1) / ng - tx0);
            wino_input(d, X, m, ty, tx0, np, V);
            for (int64_t co0 = 0; co0 < d->Co; co0 += 8) {
                int cob = d->Co - co0 < 8 ? (int)(d->Co - co0) : 8;
                switch (cob * 8 + np) {
                    WINO_COB(1)
                    WINO_COB(2)
                    WINO_COB(3)
                    WINO_COB(4)
                    WINO_COB(5)
                    WINO_COB(6)
                    WINO_CASE(7, 1) WINO_CASE(7, 2) WINO_CASE(7, 3)
                    WINO_CASE(8, 1) WINO_CASE(8, 2) WINO_CASE(8, 3)
                    default: break;
                }
                for (int p = 0; p < np; p++)
                    for (int j = 0; j < cob; j++) {
                        const float *M = Mb + (p * cob + j) * 36 * BL;
                        __m512 t[4][6], row[6], o[4];
                        for (int v = 0; v < 6; v++) { /* t = A^T M */
                            for (int u = 0; u < 6; u++) row[u] = _mm512_loadu_ps(M + (u * 6 + v) * BL);
                            wino_at(row, o, m);
                            for (int i = 0; i < m; i++) t[i][v] = o[i];
                        }
                        __m512 bv = _mm512_set1_ps(bias ? bias[co0 + j] : 0.0f);
                        for (int i = 0; i < m; i++) { /* y = t A */
                            int64_t oh = m * ty + i;
                            if (oh >= d->oH) break;
                            wino_at(t[i], o, m);
                            for (int e = 0; e < m; e++) {
                                int64_t ow = m * (tx0 + p) + e;
                                if (ow < d->oW)
                                    _mm512_storeu_ps(Y + ((co0 + j) * L + oh * d->oW + ow) * BL, _mm512_add_ps(o[e], bv));
                            }
                        }
                    }
            }
        }
    }
}

__attribute__((target("avx512f,fma"))) static void wino_fwd(const bil_dims *d, int m, const float *X, const float *U,
                                                           const float *bias, float *Y, float *V, float *Mb) {
    if (m == 2)
        wino_fwd_m(d, 2, X, U, bias, Y, V, Mb); /* m known at compile time in each copy */
    else
        wino_fwd_m(d, 4, X, U, bias, Y, V, Mb);
}

/* Winograd output tile for this geometry (0: direct kernel). Opt-in, with the environment
 * variable CTORCH_CONV_WINOGRAD=1 (read at each call): its results differ from torch's by
 * ~1e-5 relative instead of ~1e-7, enough for Adam to turn the main job's training run away
 * from torch's (see tests/python/test_main_job.py). Op counts per output tile: direct
 * m^2 r^2 C Co multiply-adds against 36 C Co products plus the transforms. */
static int wino_tile(const bil_dims *d) {
    const char *env = getenv("CTORCH_CONV_WINOGRAD");
    if (!env || strcmp(env, "1") != 0) return 0;
    if (d->KH != d->KW || (d->KH != 3 && d->KH != 5) || d->s0 != 1 || d->s1 != 1 || d->d0 != 1 || d->d1 != 1)
        return 0;
    int64_t r = d->KH, m = 7 - r;
    double direct = (double)(m * m * r * r) * d->C * d->Co;
    double wino = 36.0 * d->C * d->Co + 216.0 * d->C + (double)(m * 30 + m * m * 5 + 36) * d->Co;
    return wino < 0.75 * direct ? (int)m : 0;
}

/* The batch-in-lanes path applies: float32 with the AVX-512 GEMM kernel, 1-D/2-D geometry,
 * a batch that fills at least half a vector, not depthwise (dw_taps handles that), and a
 * bounded reduction and weight (the lane accumulators hold 16 copies of the weight gradient).
 * Measured (1 thread): LeNet conv1/conv2 3-5x faster than im2col + GEMM, the ResNet 3x3 64->64
 * layer ~15% faster; with many channels the GEMM's tiles are full, so there the lanes must be
 * too (a batch of 8 would halve the direct kernel's speed). */
static int bil_ok(const ct_conv_geom *g) {
    if (strcmp(ct_gemm_kernel_name(), "avx512") != 0) return 0;
    if (g->k[0] != 1 || g->isz[0] != 1 || g->osz[0] != 1) return 0;
    if (g->N < 8 || (g->Ci == 1 && g->G > 1)) return 0;
    int64_t CiK = g->Ci * g->k[1] * g->k[2];
    if (CiK > 1152 || g->Cs > 64 || g->G * g->Cs * CiK > 131072) return 0;
    int64_t lanes = (g->N + BL - 1) / BL * BL;
    return CiK * g->Cs < 16384 || 4 * g->N >= 3 * lanes;
}

typedef struct bil_ctx {
    const ct_conv_geom *g;
    bil_dims d;
    const float *src, *Wt, *bias; /* Wt: per conv group, [C][KH][KW][Co] */
    float *dst;
    int64_t sH, sW, pt, pl; /* source image planes (NCHW, G*d.C channels), placement in the pad */
    int64_t nrc;            /* output row blocks per image */
    int64_t n0, n1;         /* weight grad: the slice of the batch */
    int wino;               /* Winograd output tile m (0: direct kernel); U: per group [36][C][Co] */
    const float *U;
    int64_t nchunks;        /* weight grad: accumulator sets */
    int64_t ncb;            /* weight grad: input-channel blocks per unit */
    const float *S;         /* weight grad: the column-side tensor [N][G*Co][oH][oW] */
    float *acc;             /* weight grad: per-sample sums [n1 - n0][G][Co][C*KH*KW] (one input
                             * channel: the gradient itself) */
    int failed;
} bil_ctx;

/* Output rows [oh0, oh1) of block rc as a geometry of its own: the packed image then holds
 * only the rows those outputs read, from padded row oh0*s0 (returned in *xr0). */
static bil_dims bil_block(const bil_dims *d, int64_t nrc, int64_t rc, int m, int64_t *oh0, int64_t *xr0) {
    bil_dims b = *d;
    int64_t gran = m ? m : 1, units = (d->oH + gran - 1) / gran; /* Winograd: whole tile rows */
    int64_t r0 = gran * (units * rc / nrc), r1 = gran * (units * (rc + 1) / nrc);
    if (r1 > d->oH) r1 = d->oH;
    b.oH = r1 - r0;
    b.Hp = (b.oH - 1) * d->s0 + (d->KH - 1) * d->d0 + 1;
    if (m) { /* whole 6 x 6 input tiles */
        b.Hp = (b.oH + m - 1) / m * m + d->KH - 1;
        b.Wp = (d->oW + m - 1) / m * m + d->KW - 1;
    }
    *oh0 = r0;
    *xr0 = r0 * d->s0;
    b.r0 -= *xr0;
    b.r1 -= *xr0;
    return b;
}

/* Row blocks: a block's packed image and output stay near 1 MiB (whole small images). */
static int64_t bil_row_blocks(const bil_dims *d) {
    int64_t per_row = (d->Co * d->oW + d->C * d->s0 * d->Wp) * BL * (int64_t)sizeof(float);
    int64_t rows = (1 << 20) / (per_row > 0 ? per_row : 1);
    if (rows < 1) rows = 1;
    return (d->oH + rows - 1) / rows;
}

/* items: (sample group, conv group, row block) for the forward / input-gradient directions */
static void bil_conv_task(int64_t begin, int64_t end, void *vctx) {
    bil_ctx *c = vctx;
    const bil_dims *d = &c->d;
    const int64_t gran = c->wino ? c->wino : 1, units = (d->oH + gran - 1) / gran;
    int64_t mrows = gran * ((units + c->nrc - 1) / c->nrc); /* largest block */
    if (mrows > d->oH) mrows = d->oH;
    bil_dims big = *d;
    big.oH = mrows;
    int64_t o0, x0;
    big = bil_block(&big, 1, 0, c->wino, &o0, &x0);
    const int64_t xsz = d->C * big.Hp * big.Wp * BL, ysz = d->Co * big.oH * d->oW * BL;
    const int64_t vsz = c->wino ? 36 * d->C * 4 * BL : 0, msz = c->wino ? 4 * 8 * 36 * BL : 0;
    float *buf = ct_alloc_bytes((size_t)(xsz + ysz + vsz + msz) * sizeof(float));
    if (!buf) {
        ct_clear_error();
        c->failed = 1;
        return;
    }
    const int64_t G = c->g->G, sst = G * d->C * c->sH * c->sW, L = d->oH * d->oW, dst_st = G * d->Co * L;
    for (int64_t t = begin; t < end; t++) {
        int64_t rc = t % c->nrc, gr = t / c->nrc % G, grp = t / c->nrc / G;
        int64_t n0 = grp * BL, nv = c->g->N - n0 < BL ? c->g->N - n0 : BL, oh0, xr0;
        bil_dims b = bil_block(d, c->nrc, rc, c->wino, &oh0, &xr0);
        float *Y = buf + xsz, *dst = c->dst + n0 * dst_st + gr * d->Co * L;
        const float *bias = c->bias ? c->bias + gr * d->Co : NULL;
        bil_pack(c->src + n0 * sst + gr * d->C * c->sH * c->sW, sst, nv, d->C, c->sH, c->sW, c->pt - xr0, c->pl,
                 b.Hp, b.Wp, buf);
        if (c->wino)
            wino_fwd(&b, c->wino, buf, c->U + gr * 36 * d->C * d->Co, bias, Y, Y + ysz, Y + ysz + vsz);
        else
            bil_fwd(&b, buf, c->Wt + gr * d->C * d->KH * d->KW * d->Co, bias, Y);
        if (c->nrc == 1)
            bil_unpack(Y, d->Co, L, nv, dst, dst_st);
        else
            for (int64_t co = 0; co < d->Co; co++)
                bil_unpack(Y + co * b.oH * d->oW * BL, 1, b.oH * d->oW, nv, dst + co * L + oh0 * d->oW, dst_st);
    }
    ct_free_bytes(buf);
}

static int bil_run_conv(bil_ctx *c) {
    int64_t units = (c->g->N + BL - 1) / BL * c->g->G, nt = ct_get_num_threads();
    const bil_dims *d = &c->d;
    c->wino = wino_tile(d);
    float *U = NULL;
    if (c->wino) {
        U = ct_alloc_bytes((size_t)(c->g->G * 36 * d->C * d->Co) * sizeof(float));
        if (!U) return -1;
        for (int64_t gr = 0; gr < c->g->G; gr++)
            wino_weights(c->Wt + gr * d->C * d->KH * d->KW * d->Co, d->C, d->Co, (int)d->KH,
                         U + gr * 36 * d->C * d->Co);
        c->U = U;
    }
    int64_t gran = c->wino ? c->wino : 1, rows = (d->oH + gran - 1) / gran;
    c->nrc = bil_row_blocks(d);
    if (units * c->nrc < nt) c->nrc = (nt + units - 1) / units; /* every thread gets rows */
    if (c->nrc > rows) c->nrc = rows > 0 ? rows : 1;
    ct_parallel_for(units * c->nrc, 1, bil_conv_task, c);
    ct_free_bytes(U);
    return c->failed ? ct_errorf(CT_ERR_MEMORY, "[conv] out of memory") : 0;
}

/* forward: S = conv(img) + bias */
static int bil_img2cols(const ct_conv_geom *g, const float *img, const float *w, const float *bias, float *S) {
    const int64_t KH = g->k[1], KW = g->k[2], CiK = g->Ci * KH * KW, Cs = g->Cs;
    bil_ctx c = {g};
    c.d = (bil_dims){g->Ci, (g->osz[1] - 1) * g->s[1] + (KH - 1) * g->d[1] + 1,
                     (g->osz[2] - 1) * g->s[2] + (KW - 1) * g->d[2] + 1, Cs, g->osz[1], g->osz[2], KH, KW,
                     g->s[1], g->s[2], g->d[1], g->d[2], g->p[1], g->p[1] + g->isz[1], g->p[2], g->p[2] + g->isz[2]};
    c.d.bias_first = g->Ci == 1;
    float *Wt = ct_alloc_bytes((size_t)(g->G * CiK * Cs) * sizeof(float));
    if (!Wt) return -1;
    for (int64_t gr = 0; gr < g->G; gr++)
        for (int64_t co = 0; co < Cs; co++)
            for (int64_t k = 0; k < CiK; k++) Wt[(gr * CiK + k) * Cs + co] = w[(gr * Cs + co) * CiK + k];
    c.src = img, c.Wt = Wt, c.bias = bias, c.dst = S;
    c.sH = g->isz[1], c.sW = g->isz[2], c.pt = g->p[1], c.pl = g->p[2];
    int rc = bil_run_conv(&c);
    ct_free_bytes(Wt);
    return rc;
}

/* input gradient (stride 1): img = conv(S zero-padded by (k-1)*d - p, flipped W^T) + bias */
static int bil_cols2img(const ct_conv_geom *g, const float *S, const float *w, const float *bias, float *img) {
    const int64_t KH = g->k[1], KW = g->k[2], Ci = g->Ci, Cs = g->Cs, CiK = Ci * KH * KW;
    bil_ctx c = {g};
    c.d = (bil_dims){Cs, g->isz[1] + (KH - 1) * g->d[1], g->isz[2] + (KW - 1) * g->d[2], Ci, g->isz[1], g->isz[2],
                     KH, KW, 1, 1, g->d[1], g->d[2]};
    c.d.r0 = (KH - 1) * g->d[1] - g->p[1], c.d.r1 = c.d.r0 + g->osz[1];
    c.d.c0 = (KW - 1) * g->d[2] - g->p[2], c.d.c1 = c.d.c0 + g->osz[2];
    float *Wt = ct_alloc_bytes((size_t)(g->G * CiK * Cs) * sizeof(float));
    if (!Wt) return -1;
    for (int64_t gr = 0; gr < g->G; gr++)
        for (int64_t co = 0; co < Cs; co++)
            for (int64_t ci = 0; ci < Ci; ci++)
                for (int64_t a = 0; a < KH; a++)
                    for (int64_t b = 0; b < KW; b++)
                        Wt[(((gr * Cs + co) * KH + a) * KW + b) * Ci + ci] =
                            w[(((gr * Cs + co) * Ci + ci) * KH + (KH - 1 - a)) * KW + (KW - 1 - b)];
    c.src = S, c.Wt = Wt, c.bias = bias, c.dst = img;
    c.sH = g->osz[1], c.sW = g->osz[2];
    c.pt = (KH - 1) * g->d[1] - g->p[1], c.pl = (KW - 1) * g->d[2] - g->p[2];
    int rc = bil_run_conv(&c);
    ct_free_bytes(Wt);
    return rc;
}

/* items: chunks of the (sample group, conv group, input-channel block) units of the samples
 * [c->n0, c->n1), each unit's row blocks in order; each lane holds its sample's sum over the
 * output positions, one multiply-add chain in position order (row blocks continue it), stored
 * per sample in c->acc [n - n0][G * Co * C*KH*KW] for bil_weight_grad to add up. Input-channel
 * blocks (c->ncb > 1: fewer sample groups than threads, e.g. one batch of 16) give each thread
 * its own gradient elements, whose sums keep their order. */
static void bil_wgrad_task(int64_t begin, int64_t end, void *vctx) {
    bil_ctx *c = vctx;
    const ct_conv_geom *g = c->g;
    const bil_dims *d = &c->d;
    const int64_t mrows = (d->oH + c->nrc - 1) / c->nrc;
    const int64_t xsz = d->C * ((mrows - 1) * d->s0 + (d->KH - 1) * d->d0 + 1) * d->Wp * BL;
    const int64_t ssz = d->Co * mrows * d->oW * BL, gsz = d->Co * d->C * d->KH * d->KW, wsize = g->G * gsz;
    const int64_t ncb = c->ncb, K = d->KH * d->KW;
    const int64_t units = (c->n1 - c->n0 + BL - 1) / BL * g->G * ncb; /* chains never span two chunks */
    const int64_t IL = c->sH * c->sW, L = d->oH * d->oW, xst = g->G * d->C * IL, sst = g->G * d->Co * L;
    float *buf = ct_alloc_bytes((size_t)(xsz + ssz + gsz * BL) * sizeof(float));
    if (!buf) {
        ct_clear_error();
        c->failed = 1;
        return;
    }
    float *lanes = buf + xsz + ssz;
    for (int64_t ch = begin; ch < end; ch++) {
        int64_t u0 = units * ch / c->nchunks, u1 = units * (ch + 1) / c->nchunks;
        for (int64_t t = u0 * c->nrc; t < u1 * c->nrc; t++) {
            int64_t rc = t % c->nrc, u = t / c->nrc, cbk = u % ncb, gr = u / ncb % g->G, grp = u / ncb / g->G;
            int64_t c0 = d->C * cbk / ncb, cn = d->C * (cbk + 1) / ncb - c0;
            int64_t n0 = c->n0 + grp * BL, nv = c->n1 - n0 < BL ? c->n1 - n0 : BL, oh0, xr0;
            float *P = c->acc + (n0 - c->n0) * wsize + gr * gsz + c0 * K;
            if (rc == 0) memset(lanes, 0, (size_t)(d->Co * cn * K * BL) * sizeof(float));
            bil_dims b = bil_block(d, c->nrc, rc, 0, &oh0, &xr0);
            b.C = cn;
            bil_pack(c->src + n0 * xst + (gr * d->C + c0) * IL, xst, nv, cn, c->sH, c->sW, c->pt - xr0, c->pl, b.Hp,
                     b.Wp, buf);
            bil_pack(c->S + n0 * sst + gr * d->Co * L, sst, nv, d->Co, d->oH, d->oW, -oh0, 0, b.oH, d->oW,
                     buf + xsz);
            bil_wgrad(&b, buf, buf + xsz, lanes); /* lanes: [Co][cn*K][16] */
            if (rc == c->nrc - 1)
                for (int64_t n = 0; n < nv; n++)
                    for (int64_t co = 0; co < d->Co; co++)
                        for (int64_t i = 0; i < cn * K; i++)
                            P[n * wsize + co * d->C * K + i] = lanes[(co * cn * K + i) * BL + n];
        }
    }
    ct_free_bytes(buf);
}

typedef struct bil_red_ctx {
    const float *P; /* per-sample sums of samples [n0, n1) */
    float *run;     /* [R][wsize] running sums */
    int64_t wsize, N, R, n0, n1;
} bil_red_ctx;

/* run[r][i] += P[n][i] for the samples n of reduction chunk r, in sample order */
static void bil_red_task(int64_t begin, int64_t end, void *vctx) {
    const bil_red_ctx *r = vctx;
    for (int64_t n = r->n0; n < r->n1; n++) {
        int64_t ch = (n + 1) * r->R / r->N; /* the chunk [N*ch/R, N*(ch+1)/R) holding n */
        while (r->N * ch / r->R > n) ch--;
        while (r->N * (ch + 1) / r->R <= n) ch++;
        const float *p = r->P + (n - r->n0) * r->wsize;
        float *run = r->run + ch * r->wsize;
        for (int64_t i = begin; i < end; i++) run[i] += p[i];
    }
}

/* One input channel (LeNet's first layer): the weight gradient in the order of the direct
 * loops this path replaces (dw_taps), that is per sample a multiply-add chain down each output
 * column, the column sums added left to right, the samples one after the other. Tile: output
 * channels co0 + j (j < COB) x taps (a, b0 + t) (t < TB), 16 samples per lane; T gets the
 * per-lane sums [COB][KH*KW][16]. */
__attribute__((target("avx512f,fma"), always_inline)) static inline void bil_wgc_tile(
    const bil_dims *d, const float *X, const float *S, float *T, int64_t a, int64_t b0, const int COB, const int TB) {
    __m512 tot[4][5];
    for (int j = 0; j < COB; j++)
        for (int t = 0; t < TB; t++) tot[j][t] = _mm512_setzero_ps();
    const int64_t L = d->oH * d->oW, K = d->KH * d->KW;
    for (int64_t ow = 0; ow < d->oW; ow++) {
        __m512 cp[4][5];
        for (int j = 0; j < COB; j++)
            for (int t = 0; t < TB; t++) cp[j][t] = _mm512_setzero_ps();
        for (int64_t oh = 0; oh < d->oH; oh++) {
            const float *xr = X + ((oh * d->s0 + a * d->d0) * d->Wp + ow * d->s1 + b0 * d->d1) * BL;
            __m512 xv[5];
            for (int t = 0; t < TB; t++) {
                xv[t] = _mm512_loadu_ps(xr + t * d->d1 * BL);
                __asm__("" : "+v"(xv[t]));
            }
            for (int j = 0; j < COB; j++) {
                __m512 sv = _mm512_loadu_ps(S + (j * L + oh * d->oW + ow) * BL);
                for (int t = 0; t < TB; t++) cp[j][t] = _mm512_fmadd_ps(sv, xv[t], cp[j][t]);
            }
        }
        for (int j = 0; j < COB; j++)
            for (int t = 0; t < TB; t++) tot[j][t] = _mm512_add_ps(tot[j][t], cp[j][t]);
    }
    for (int j = 0; j < COB; j++)
        for (int t = 0; t < TB; t++) _mm512_storeu_ps(T + (j * K + a * d->KW + b0 + t) * BL, tot[j][t]);
}

#define BIL_WGC_CASE(cob, tb) \
    case cob * 8 + tb: bil_wgc_tile(d, X, S, T, a, b0, cob, tb); break;
#define BIL_WGC_COB(cob) \
    BIL_WGC_CASE(cob, 1) BIL_WGC_CASE(cob, 2) BIL_WGC_CASE(cob, 3) BIL_WGC_CASE(cob, 4) BIL_WGC_CASE(cob, 5)

/* most output channels per column-order tile for TB taps (2*COB*TB + COB + TB < 32) */
static inline int64_t bil_wgc_cob(int64_t tb) {
    int64_t m = (31 - tb) / (2 * tb + 1);
    return m > 4 ? 4 : m;
}

__attribute__((target("avx512f,fma"))) static void bil_wgrad_cols(const bil_dims *d, const float *X, const float *S,
                                                                 float *T, int cob) {
    int64_t ntb = (d->KW + 4) / 5;
    for (int64_t a = 0; a < d->KH; a++)
        for (int64_t tbi = 0; tbi < ntb; tbi++) {
            int64_t b0 = d->KW * tbi / ntb, b1 = d->KW * (tbi + 1) / ntb;
            switch (cob * 8 + (int)(b1 - b0)) {
                BIL_WGC_COB(1)
                BIL_WGC_COB(2)
                BIL_WGC_COB(3)
                BIL_WGC_COB(4)
                default: break;
            }
        }
}

/* items: blocks of output channels, each over the whole batch in sample order (c->nchunks
 * blocks, each writing its own part of the gradient c->acc) */
static void bil_wgrad_cols_task(int64_t begin, int64_t end, void *vctx) {
    bil_ctx *c = vctx;
    const ct_conv_geom *g = c->g;
    const bil_dims *d = &c->d;
    const int64_t K = d->KH * d->KW, L = d->oH * d->oW, IL = c->sH * c->sW, ngrp = (g->N + BL - 1) / BL;
    const int64_t mcob = (d->Co + c->nchunks - 1) / c->nchunks;
    const int64_t xsz = d->Hp * d->Wp * BL, ssz = mcob * L * BL;
    float *buf = ct_alloc_bytes((size_t)(xsz + ssz + mcob * K * (BL + 1)) * sizeof(float));
    if (!buf) {
        ct_clear_error();
        c->failed = 1;
        return;
    }
    float *T = buf + xsz + ssz, *sum = T + mcob * K * BL; /* sums kept here: no false sharing */
    for (int64_t cb = begin; cb < end; cb++) {
        int64_t co0 = d->Co * cb / c->nchunks, cob = d->Co * (cb + 1) / c->nchunks - co0;
        memset(sum, 0, (size_t)(cob * K) * sizeof(float));
        for (int64_t grp = 0; grp < ngrp; grp++) {
            int64_t n0 = grp * BL, nv = g->N - n0 < BL ? g->N - n0 : BL;
            bil_pack(c->src + n0 * IL, IL, nv, 1, c->sH, c->sW, c->pt, c->pl, d->Hp, d->Wp, buf);
            bil_pack(c->S + (n0 * d->Co + co0) * L, d->Co * L, nv, cob, d->oH, d->oW, 0, 0, d->oH, d->oW, buf + xsz);
            bil_wgrad_cols(d, buf, buf + xsz, T, (int)cob);
            for (int64_t i = 0; i < cob * K; i++)
                for (int64_t n = 0; n < nv; n++) sum[i] += T[i * BL + n];
        }
        memcpy(c->acc + co0 * K, sum, (size_t)(cob * K) * sizeof(float));
    }
    ct_free_bytes(buf);
}

/* gw[g] = sum_n S[n, g] (x) img[n, g] */
static int bil_weight_grad(const ct_conv_geom *g, const float *S, const float *img, float *gw) {
    const int64_t KH = g->k[1], KW = g->k[2], wsize = g->G * g->Cs * g->Ci * KH * KW;
    bil_ctx c = {g};
    c.d = (bil_dims){g->Ci, (g->osz[1] - 1) * g->s[1] + (KH - 1) * g->d[1] + 1,
                     (g->osz[2] - 1) * g->s[2] + (KW - 1) * g->d[2] + 1, g->Cs, g->osz[1], g->osz[2], KH, KW,
                     g->s[1], g->s[2], g->d[1], g->d[2]};
    c.nrc = bil_row_blocks(&c.d);
    if (g->Ci == 1 && g->G == 1 && c.nrc == 1) { /* column order, parallel over output channels */
        int64_t ntb = (KW + 4) / 5, tb = (KW + ntb - 1) / ntb, cobmax = bil_wgc_cob(tb);
        int64_t nt = ct_get_num_threads();
        c.nchunks = (g->Cs + cobmax - 1) / cobmax;
        if (c.nchunks % nt && (c.nchunks + nt - 1) / nt * nt <= g->Cs) /* whole rounds of threads */
            c.nchunks = (c.nchunks + nt - 1) / nt * nt;
        c.src = img, c.S = S, c.acc = gw;
        c.sH = g->isz[1], c.sW = g->isz[2], c.pt = g->p[1], c.pl = g->p[2];
        ct_parallel_for(c.nchunks, 1, bil_wgrad_cols_task, &c);
        return c.failed ? ct_errorf(CT_ERR_MEMORY, "[conv] out of memory") : 0;
    }
    /* The batch is summed like the im2col + GEMM path does: R = (threads, or 1 when the
     * batch is smaller) chunks of consecutive samples, each the sum of its samples' sums in
     * order, the chunk sums added last. Per-sample sums are computed for slices of the batch
     * (bounded buffer), in parallel over sample groups and row blocks. */
    int64_t R = ct_get_num_threads();
    if (R > g->N) R = 1;
    int64_t slice = (int64_t)(16 << 20) / (wsize > 0 ? wsize : 1) / BL * BL; /* <= 64 MiB of sums */
    if (slice < BL) slice = BL;
    float *run = ct_alloc_bytes((size_t)(R * wsize) * sizeof(float));
    float *P = ct_alloc_bytes((size_t)((slice < g->N ? slice : g->N) * wsize) * sizeof(float));
    if (!run || !P) {
        ct_free_bytes(run);
        ct_free_bytes(P);
        return -1;
    }
    memset(run, 0, (size_t)(R * wsize) * sizeof(float));
    c.src = img, c.S = S, c.acc = P;
    c.sH = g->isz[1], c.sW = g->isz[2], c.pt = g->p[1], c.pl = g->p[2];
    for (int64_t n0 = 0; n0 < g->N && !c.failed; n0 += slice) {
        c.n0 = n0;
        c.n1 = n0 + slice < g->N ? n0 + slice : g->N;
        int64_t units = (c.n1 - c.n0 + BL - 1) / BL * g->G, nt = ct_get_num_threads();
        c.ncb = units < nt ? (nt + units - 1) / units : 1;
        if (c.ncb > g->Ci) c.ncb = g->Ci;
        units *= c.ncb;
        c.nchunks = nt < units ? nt : units;
        ct_parallel_for(c.nchunks, 1, bil_wgrad_task, &c);
        bil_red_ctx rc = {P, run, wsize, g->N, R, c.n0, c.n1};
        ct_parallel_for(wsize, 4096, bil_red_task, &rc);
    }
    if (!c.failed)
        for (int64_t i = 0; i < wsize; i++) {
            float s = run[i];
            for (int64_t ch = 1; ch < R; ch++) s += run[ch * wsize + i];
            gw[i] = s;
        }
    ct_free_bytes(run);
    ct_free_bytes(P);
    return c.failed ? ct_errorf(CT_ERR_MEMORY, "[conv] out of memory") : 0;
}
#endif /* CT_X86 */

int ct_conv_img2cols(int dtype, const ct_conv_geom *g, const void *img, const void *w, const void *bias, void *S) {
    if (dtype == CT_FLOAT64) return img2cols_d(g, img, w, bias, S);
#ifdef CT_X86
    if (bil_ok(g)) return bil_img2cols(g, img, w, bias, S);
#endif
    return img2cols_s(g, img, w, bias, S);
}

int ct_conv_cols2img(int dtype, const ct_conv_geom *g, const void *S, const void *w, const void *bias, void *img) {
    if (dtype == CT_FLOAT64) return cols2img_d(g, S, w, bias, img);
#ifdef CT_X86
    if (bil_ok(g) && g->s[1] == 1 && g->s[2] == 1 && (g->k[1] - 1) * g->d[1] >= g->p[1] &&
        (g->k[2] - 1) * g->d[2] >= g->p[2])
        return bil_cols2img(g, S, w, bias, img);
#endif
    return cols2img_s(g, S, w, bias, img);
}

int ct_conv_weight_grad(int dtype, const ct_conv_geom *g, const void *S, const void *img, void *gw) {
    if (dtype == CT_FLOAT64) return weight_grad_d(g, S, img, gw);
#ifdef CT_X86
    if (bil_ok(g)) return bil_weight_grad(g, S, img, gw);
#endif
    return weight_grad_s(g, S, img, gw);
}

void ct_conv_bias_grad(int dtype, int64_t N, int64_t C, int64_t L, const void *t, void *gb) {
    if (dtype == CT_FLOAT64)
        bias_grad_d(N, C, L, t, gb);
    else
        bias_grad_s(N, C, L, t, gb);
}

void ct_im2col(int dtype, const ct_conv_geom *g, const void *img, void *col) {
    if (dtype == CT_FLOAT64)
        im2col_d(g, img, col);
    else
        im2col_s(g, img, col);
}

void ct_col2im(int dtype, const ct_conv_geom *g, const void *col, void *img) {
    if (dtype == CT_FLOAT64)
        col2im_d(g, col, img);
    else
        col2im_s(g, col, img);
}
