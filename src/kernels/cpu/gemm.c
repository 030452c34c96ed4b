/* GEMM: our own BLIS-style float32/float64 matrix multiply (packing, cache blocking, an
 * AVX-512 or AVX2 micro-kernel chosen at run time, a plain C fallback), plus the batched
 * driver for every dtype used by the matmul family (src/ops/linalg.c). */
#include <stdlib.h>
#include <string.h>

#include "../../core/internal.h"
#include "gemm.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CT_X86 1
#endif

/* Micro-kernel: c[0:MR, 0:NR] (column-major, unit stride along M, column stride ldc) =
 *   alpha * sum_k a[k*MR + i] * b[k*NR + j] + beta * c   (beta == 0: c not read). */
typedef void (*ct_sukr)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, float alpha, float beta);
typedef void (*ct_dukr)(int64_t kc, const double *a, const double *b, double *c, int64_t ldc, double alpha,
                        double beta);
/* Edge micro-kernel: the same product for the top-left mr x nr part of a tile (mr <= MR,
 * nr <= NR; the packed panels are zero padded), written straight into c. NULL: the driver
 * computes a full tile into a buffer and copies the part. */
typedef void (*ct_sukr_edge)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, float alpha,
                             float beta, int mr, int nr);
typedef void (*ct_dukr_edge)(int64_t kc, const double *a, const double *b, double *c, int64_t ldc, double alpha,
                             double beta, int mr, int nr);

/* Transposing packs (vectorised): A rows with unit column stride into a full MR-tall panel,
 * n <= NR columns of B with unit row stride into a zero-padded NR-wide panel. NULL: scalar loops. */
typedef void (*ct_spack_t)(int64_t kc, const float *src, int64_t ld, float *dst, int n);
typedef void (*ct_dpack_t)(int64_t kc, const double *src, int64_t ld, double *dst, int n);
typedef struct gemm_cfg_s {
    int MR, NR;
    int64_t MC, KC, NC;
    ct_sukr ukr;
    ct_sukr_edge edge;
    ct_spack_t pack_a_t, pack_b_t;
} gemm_cfg_s;
typedef struct gemm_cfg_d {
    int MR, NR;
    int64_t MC, KC, NC;
    ct_dukr ukr;
    ct_dukr_edge edge;
    ct_dpack_t pack_a_t, pack_b_t;
} gemm_cfg_d;

/* ------------------------------------------------------------------ generic kernels */

#define GEN_MR_S 8
#define GEN_NR_S 4
static void sukr_generic(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, float alpha, float beta) {
    float acc[GEN_NR_S][GEN_MR_S] = {{0}};
    for (int64_t k = 0; k < kc; k++)
        for (int j = 0; j < GEN_NR_S; j++)
            for (int i = 0; i < GEN_MR_S; i++) acc[j][i] += a[k * GEN_MR_S + i] * b[k * GEN_NR_S + j];
    for (int j = 0; j < GEN_NR_S; j++)
        for (int i = 0; i < GEN_MR_S; i++)
            c[j * ldc + i] = beta == 0 ? alpha * acc[j][i] : alpha * acc[j][i] + beta * c[j * ldc + i];
}
static void dukr_generic(int64_t kc, const double *a, const double *b, double *c, int64_t ldc, double alpha,
                         double beta) {
    double acc[GEN_NR_S][GEN_MR_S] = {{0}};
    for (int64_t k = 0; k < kc; k++)
        for (int j = 0; j < GEN_NR_S; j++)
            for (int i = 0; i < GEN_MR_S; i++) acc[j][i] += a[k * GEN_MR_S + i] * b[k * GEN_NR_S + j];
    for (int j = 0; j < GEN_NR_S; j++)
        for (int i = 0; i < GEN_MR_S; i++)
            c[j * ldc + i] = beta == 0 ? alpha * acc[j][i] : alpha * acc[j][i] + beta * c[j * ldc + i];
}

#ifdef CT_X86
/* ------------------------------------------------------------------ AVX-512 kernels */

/* float32, 32 x 12: 24 zmm accumulators, two A vectors, B broadcast from memory. */
#define S512_DECL(j) __m512 c0_##j = _mm512_setzero_ps(), c1_##j = _mm512_setzero_ps();
#define S512_STEP(j)                                  \
    {                                                 \
        __m512 bj = _mm512_set1_ps(b[j]);             \
        c0_##j = _mm512_fmadd_ps(a0, bj, c0_##j);     \
        c1_##j = _mm512_fmadd_ps(a1, bj, c1_##j);     \
    }
#define S512_STORE(j)                                                                      \
    {                                                                                      \
        float *cp = c + (j) * ldc;                                                         \
        if (beta == 0) {                                                                   \
            _mm512_storeu_ps(cp, _mm512_mul_ps(va, c0_##j));                               \
            _mm512_storeu_ps(cp + 16, _mm512_mul_ps(va, c1_##j));                          \
        } else {                                                                           \
            _mm512_storeu_ps(cp, _mm512_fmadd_ps(vb, _mm512_loadu_ps(cp), _mm512_mul_ps(va, c0_##j)));           \
            _mm512_storeu_ps(cp + 16, _mm512_fmadd_ps(vb, _mm512_loadu_ps(cp + 16), _mm512_mul_ps(va, c1_##j))); \
        }                                                                                  \
    }
#define X12(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)

__attribute__((target("avx512f,fma"))) static void sukr_avx512(int64_t kc, const float *a, const float *b, float *c,
                                                               int64_t ldc, float alpha, float beta) {
    X12(S512_DECL)
    for (int64_t k = 0; k < kc; k++) {
        _mm_prefetch((const char *)(a + 32 * 8), _MM_HINT_T0);
        __m512 a0 = _mm512_loadu_ps(a), a1 = _mm512_loadu_ps(a + 16);
        X12(S512_STEP)
        a += 32;
        b += 12;
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    X12(S512_STORE)
}

/* float32 edge tiles, 32 x 12 panels: only the nr columns and the 16-row halves that hold
 * rows are computed (an nr-column tile costs nr/12 of a full one), stores masked to mr rows.
 * NRV and TWO are compile-time constants in each instantiation below. */
static inline __attribute__((always_inline, target("avx512f,fma"))) void s512_edge(
    int64_t kc, const float *a, const float *b, float *c, int64_t ldc, float alpha, float beta, __mmask16 m0,
    __mmask16 m1, const int NRV, const int TWO) {
    __m512 c0[12], c1[12];
#pragma GCC unroll 12
    for (int j = 0; j < NRV; j++) c0[j] = c1[j] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; k++) {
        __m512 a0 = _mm512_loadu_ps(a), a1 = TWO ? _mm512_loadu_ps(a + 16) : a0;
#pragma GCC unroll 12
        for (int j = 0; j < NRV; j++) {
            __m512 bj = _mm512_set1_ps(b[j]);
            c0[j] = _mm512_fmadd_ps(a0, bj, c0[j]);
            if (TWO) c1[j] = _mm512_fmadd_ps(a1, bj, c1[j]);
        }
        a += 32;
        b += 12;
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
    for (int j = 0; j < NRV; j++) {
        float *cp = c + j * ldc;
        __m512 r0 = _mm512_mul_ps(va, c0[j]);
        if (beta != 0) r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cp), r0);
        _mm512_mask_storeu_ps(cp, m0, r0);
        if (TWO) {
            __m512 r1 = _mm512_mul_ps(va, c1[j]);
            if (beta != 0) r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cp + 16), r1);
            _mm512_mask_storeu_ps(cp + 16, m1, r1);
        }
    }
}

#define S512_EDGE_CASE(n)                                                       \
    case n:                                                                     \
        if (mr > 16)                                                            \
            s512_edge(kc, a, b, c, ldc, alpha, beta, m0, m1, n, 1);             \
        else                                                                    \
            s512_edge(kc, a, b, c, ldc, alpha, beta, m0, m1, n, 0);             \
        break;
__attribute__((target("avx512f,fma"))) static void sukr_avx512_edge(int64_t kc, const float *a, const float *b,
                                                                    float *c, int64_t ldc, float alpha, float beta,
                                                                    int mr, int nr) {
    __mmask16 m0 = mr >= 16 ? 0xFFFF : (__mmask16)((1u << mr) - 1);
    __mmask16 m1 = mr >= 32 ? 0xFFFF : mr > 16 ? (__mmask16)((1u << (mr - 16)) - 1) : 0;
    switch (nr) {
        S512_EDGE_CASE(1) S512_EDGE_CASE(2) S512_EDGE_CASE(3) S512_EDGE_CASE(4) S512_EDGE_CASE(5) S512_EDGE_CASE(6)
        S512_EDGE_CASE(7) S512_EDGE_CASE(8) S512_EDGE_CASE(9) S512_EDGE_CASE(10) S512_EDGE_CASE(11)
        S512_EDGE_CASE(12)
    }
}

/* 16 x 16 float transpose in registers: r[i] (row i) becomes column i. */
static inline __attribute__((always_inline, target("avx512f"))) void s512_tr16(__m512 r[16]) {
    __m512 t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
    }
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    }
}

/* A panel of 32 rows, each row contiguous along k (row stride ld): dst[k*32 + i] = src[i*ld + k]. */
__attribute__((target("avx512f"))) static void spack_a32_t(int64_t kc, const float *src, int64_t ld, float *dst,
                                                          int mr) {
    (void)mr; /* full panels only */
    int64_t k0 = 0;
    for (; k0 + 16 <= kc; k0 += 16)
        for (int h = 0; h < 2; h++) {
            __m512 r[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + (h * 16 + i) * ld + k0);
            s512_tr16(r);
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + (k0 + i) * 32 + h * 16, r[i]);
        }
    for (int64_t i = 0; i < 32; i++)
        for (int64_t k = k0; k < kc; k++) dst[k * 32 + i] = src[i * ld + k];
}

/* A panel of nr <= 12 columns, each contiguous along k (column stride ld), zero padded to 12:
 * dst[k*12 + j] = src[j*ld + k] for j < nr, 0 for nr <= j < 12. */
__attribute__((target("avx512f"))) static void spack_b12_t(int64_t kc, const float *src, int64_t ld, float *dst,
                                                          int nr) {
    int64_t k0 = 0;
    const __m512 zero = _mm512_setzero_ps();
    for (; k0 + 16 <= kc; k0 += 16) {
        __m512 r[16];
#pragma GCC unroll 12
        for (int j = 0; j < 12; j++) r[j] = _mm512_maskz_loadu_ps(j < nr ? 0xFFFF : 0, src + (j < nr ? j : 0) * ld + k0);
        r[12] = r[13] = r[14] = r[15] = zero;
        s512_tr16(r);
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) _mm512_mask_storeu_ps(dst + (k0 + i) * 12, 0x0FFF, r[i]);
    }
    for (int64_t j = 0; j < 12; j++)
        for (int64_t k = k0; k < kc; k++) dst[k * 12 + j] = j < nr ? src[j * ld + k] : 0.0f;
}

/* float64, 16 x 12. */
#define D512_DECL(j) __m512d c0_##j = _mm512_setzero_pd(), c1_##j = _mm512_setzero_pd();
#define D512_STEP(j)                                  \
    {                                                 \
        __m512d bj = _mm512_set1_pd(b[j]);            \
        c0_##j = _mm512_fmadd_pd(a0, bj, c0_##j);     \
        c1_##j = _mm512_fmadd_pd(a1, bj, c1_##j);     \
    }
#define D512_STORE(j)                                                                      \
    {                                                                                      \
        double *cp = c + (j) * ldc;                                                        \
        if (beta == 0) {                                                                   \
            _mm512_storeu_pd(cp, _mm512_mul_pd(va, c0_##j));                               \
            _mm512_storeu_pd(cp + 8, _mm512_mul_pd(va, c1_##j));                           \
        } else {                                                                           \
            _mm512_storeu_pd(cp, _mm512_fmadd_pd(vb, _mm512_loadu_pd(cp), _mm512_mul_pd(va, c0_##j)));         \
            _mm512_storeu_pd(cp + 8, _mm512_fmadd_pd(vb, _mm512_loadu_pd(cp + 8), _mm512_mul_pd(va, c1_##j))); \
        }                                                                                  \
    }

__attribute__((target("avx512f,fma"))) static void dukr_avx512(int64_t kc, const double *a, const double *b,
                                                               double *c, int64_t ldc, double alpha, double beta) {
    X12(D512_DECL)
    for (int64_t k = 0; k < kc; k++) {
        _mm_prefetch((const char *)(a + 16 * 8), _MM_HINT_T0);
        __m512d a0 = _mm512_loadu_pd(a), a1 = _mm512_loadu_pd(a + 8);
        X12(D512_STEP)
        a += 16;
        b += 12;
    }
    __m512d va = _mm512_set1_pd(alpha), vb = _mm512_set1_pd(beta);
    X12(D512_STORE)
}

/* ------------------------------------------------------------------ AVX2 kernels */

#define X6(M) M(0) M(1) M(2) M(3) M(4) M(5)
#define S256_DECL(j) __m256 c0_##j = _mm256_setzero_ps(), c1_##j = _mm256_setzero_ps();
#define S256_STEP(j)                                  \
    {                                                 \
        __m256 bj = _mm256_broadcast_ss(b + (j));     \
        c0_##j = _mm256_fmadd_ps(a0, bj, c0_##j);     \
        c1_##j = _mm256_fmadd_ps(a1, bj, c1_##j);     \
    }
#define S256_STORE(j)                                                                      \
    {                                                                                      \
        float *cp = c + (j) * ldc;                                                         \
        if (beta == 0) {                                                                   \
            _mm256_storeu_ps(cp, _mm256_mul_ps(va, c0_##j));                               \
            _mm256_storeu_ps(cp + 8, _mm256_mul_ps(va, c1_##j));                           \
        } else {                                                                           \
            _mm256_storeu_ps(cp, _mm256_fmadd_ps(vb, _mm256_loadu_ps(cp), _mm256_mul_ps(va, c0_##j)));         \
            _mm256_storeu_ps(cp + 8, _mm256_fmadd_ps(vb, _mm256_loadu_ps(cp + 8), _mm256_mul_ps(va, c1_##j))); \
        }                                                                                  \
    }
__attribute__((target("avx2,fma"))) static void sukr_avx2(int64_t kc, const float *a, const float *b, float *c,
                                                          int64_t ldc, float alpha, float beta) {
    X6(S256_DECL)
    for (int64_t k = 0; k < kc; k++) {
        __m256 a0 = _mm256_loadu_ps(a), a1 = _mm256_loadu_ps(a + 8);
        X6(S256_STEP)
        a += 16;
        b += 6;
    }
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    X6(S256_STORE)
}

#define D256_DECL(j) __m256d c0_##j = _mm256_setzero_pd(), c1_##j = _mm256_setzero_pd();
#define D256_STEP(j)                                  \
    {                                                 \
        __m256d bj = _mm256_broadcast_sd(b + (j));    \
        c0_##j = _mm256_fmadd_pd(a0, bj, c0_##j);     \
        c1_##j = _mm256_fmadd_pd(a1, bj, c1_##j);     \
    }
#define D256_STORE(j)                                                                      \
    {                                                                                      \
        double *cp = c + (j) * ldc;                                                        \
        if (beta == 0) {                                                                   \
            _mm256_storeu_pd(cp, _mm256_mul_pd(va, c0_##j));                               \
            _mm256_storeu_pd(cp + 4, _mm256_mul_pd(va, c1_##j));                           \
        } else {                                                                           \
            _mm256_storeu_pd(cp, _mm256_fmadd_pd(vb, _mm256_loadu_pd(cp), _mm256_mul_pd(va, c0_##j)));         \
            _mm256_storeu_pd(cp + 4, _mm256_fmadd_pd(vb, _mm256_loadu_pd(cp + 4), _mm256_mul_pd(va, c1_##j))); \
        }                                                                                  \
    }
__attribute__((target("avx2,fma"))) static void dukr_avx2(int64_t kc, const double *a, const double *b, double *c,
                                                          int64_t ldc, double alpha, double beta) {
    X6(D256_DECL)
    for (int64_t k = 0; k < kc; k++) {
        __m256d a0 = _mm256_loadu_pd(a), a1 = _mm256_loadu_pd(a + 4);
        X6(D256_STEP)
        a += 8;
        b += 6;
    }
    __m256d va = _mm256_set1_pd(alpha), vb = _mm256_set1_pd(beta);
    X6(D256_STORE)
}
#endif /* CT_X86 */

/* ------------------------------------------------------------------ kernel choice */

/* Block sizes: the NR-wide B micro-panel (KC x NR) stays in L1, the packed A block
 * (MC x KC) in L2, the packed B block (KC x NC) in L3. AVX-512 float32: KC 512 (a 24 KiB B
 * micro-panel; 3-5% faster than 384 on 1-2 MiB products, measured on a 48 KiB-L1 core). */
static const gemm_cfg_s s_generic = {GEN_MR_S, GEN_NR_S, 256, 256, 4096, sukr_generic, NULL, NULL, NULL};
static const gemm_cfg_d d_generic = {GEN_MR_S, GEN_NR_S, 128, 256, 4096, dukr_generic, NULL, NULL, NULL};
#ifdef CT_X86
static const gemm_cfg_s s_avx512 = {32, 12, 320, 512, 4080, sukr_avx512, sukr_avx512_edge, spack_a32_t, spack_b12_t};
static const gemm_cfg_d d_avx512 = {16, 12, 192, 256, 4080, dukr_avx512, NULL, NULL, NULL};
static const gemm_cfg_s s_avx2 = {16, 6, 256, 256, 4080, sukr_avx2, NULL, NULL, NULL};
static const gemm_cfg_d d_avx2 = {8, 6, 128, 256, 4080, dukr_avx2, NULL, NULL, NULL};
#endif

static int kernel_choice = -1; /* 0 generic, 1 avx2, 2 avx512 */
static int forced = -1;

static int detect(void) {
    if (kernel_choice < 0) {
        int k = 0;
#ifdef CT_X86
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma"))
            k = 2;
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            k = 1;
#endif
        kernel_choice = k;
    }
    return forced >= 0 ? forced : kernel_choice;
}

const char *ct_gemm_kernel_name(void) {
    static const char *names[] = {"generic", "avx2", "avx512"};
    return names[detect()];
}

int ct_gemm_force_kernel(const char *name) {
    int best = (forced = -1, detect());
    if (!name) return 0;
    int want = strcmp(name, "avx512") == 0 ? 2 : strcmp(name, "avx2") == 0 ? 1 : 0;
    if (want > best) return -1;
    forced = want;
    return 0;
}

static const gemm_cfg_s *cfg_s(void) {
#ifdef CT_X86
    switch (detect()) {
    case 2: return &s_avx512;
    case 1: return &s_avx2;
    }
#endif
    return &s_generic;
}
static const gemm_cfg_d *cfg_d(void) {
#ifdef CT_X86
    switch (detect()) {
    case 2: return &d_avx512;
    case 1: return &d_avx2;
    }
#endif
    return &d_generic;
}

/* ------------------------------------------------------------------ drivers */

#define T float
#define SFX _s
#include "gemm_impl.h"
#undef T
#undef SFX
#define T double
#define SFX _d
#include "gemm_impl.h"
#undef T
#undef SFX

void ct_sgemm(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa, int64_t csa,
              const float *B, int64_t rsb, int64_t csb, float beta, float *C, int64_t rsc, int64_t csc) {
    gemm_driver_s(cfg_s(), M, N, K, alpha, A, rsa, csa, B, rsb, csb, beta, C, rsc, csc, NULL);
}

void ct_dgemm(int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t rsa, int64_t csa,
              const double *B, int64_t rsb, int64_t csb, double beta, double *C, int64_t rsc, int64_t csc) {
    gemm_driver_d(cfg_d(), M, N, K, alpha, A, rsa, csa, B, rsb, csb, beta, C, rsc, csc, NULL);
}

float *ct_sgemm_pack_a(int64_t M, int64_t K, const float *A, int64_t rsa, int64_t csa) {
    return M > 0 && K > 0 ? pack_a_all_s(cfg_s(), M, K, A, rsa, csa) : NULL;
}

double *ct_dgemm_pack_a(int64_t M, int64_t K, const double *A, int64_t rsa, int64_t csa) {
    return M > 0 && K > 0 ? pack_a_all_d(cfg_d(), M, K, A, rsa, csa) : NULL;
}

void ct_sgemm_packed(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa, int64_t csa,
                     const float *Apk, const float *B, int64_t rsb, int64_t csb, float beta, float *C, int64_t rsc,
                     int64_t csc) {
    gemm_driver_s(cfg_s(), M, N, K, alpha, A, rsa, csa, B, rsb, csb, beta, C, rsc, csc, Apk);
}

void ct_dgemm_packed(int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t rsa, int64_t csa,
                     const double *Apk, const double *B, int64_t rsb, int64_t csb, double beta, double *C,
                     int64_t rsc, int64_t csc) {
    gemm_driver_d(cfg_d(), M, N, K, alpha, A, rsa, csa, B, rsb, csb, beta, C, rsc, csc, Apk);
}

/* ------------------------------------------------------------------ batched, every dtype */

typedef struct batch_ctx {
    int dtype;
    int64_t M, N, K;
    ct_scalar alpha, beta;
    ct_gemm_operand A, B, C;
    const int64_t *aoff, *boff, *coff;
    int failed;
} batch_ctx;

/* float16/bfloat16 matrix -> float32 contiguous (row-major M x N). */
static void load16(const uint16_t *p, int64_t rs, int64_t cs, int64_t M, int64_t N, int bf, float *out) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            uint16_t v = p[i * rs + j * cs];
            out[i * N + j] = bf ? ct_bf16_to_float(v) : ct_half_to_float(v);
        }
}

static void gemm_int(int dtype, int64_t M, int64_t N, int64_t K, int64_t alpha, const char *A, int64_t rsa,
                     int64_t csa, const char *B, int64_t rsb, int64_t csb, int64_t beta, char *C, int64_t rsc,
                     int64_t csc) {
    size_t es = ct_dtype_size(dtype);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            uint64_t acc = 0; /* wrapping arithmetic, as the dtype's */
            for (int64_t k = 0; k < K; k++)
                acc += (uint64_t)ct_load_i64(A + (i * rsa + k * csa) * es, dtype) *
                       (uint64_t)ct_load_i64(B + (k * rsb + j * csb) * es, dtype);
            char *c = C + (i * rsc + j * csc) * es;
            uint64_t v = acc * (uint64_t)alpha;
            if (beta != 0) v += (uint64_t)beta * (uint64_t)ct_load_i64(c, dtype);
            if (dtype == CT_BOOL)
                *(uint8_t *)c = v != 0;
            else
                ct_store_i64(c, dtype, (int64_t)v);
        }
}

static void batch_one(const batch_ctx *g, int64_t b) {
    int dt = g->dtype;
    size_t es = ct_dtype_size(dt);
    char *A = (char *)g->A.data + g->aoff[b] * (int64_t)es;
    char *B = (char *)g->B.data + g->boff[b] * (int64_t)es;
    char *C = (char *)g->C.data + g->coff[b] * (int64_t)es;
    double al = ct_scalar_to_f64(g->alpha), be = ct_scalar_to_f64(g->beta);
    if (dt == CT_FLOAT32) {
        ct_sgemm(g->M, g->N, g->K, (float)al, (float *)A, g->A.rs, g->A.cs, (float *)B, g->B.rs, g->B.cs, (float)be,
                 (float *)C, g->C.rs, g->C.cs);
    } else if (dt == CT_FLOAT64) {
        ct_dgemm(g->M, g->N, g->K, al, (double *)A, g->A.rs, g->A.cs, (double *)B, g->B.rs, g->B.cs, be,
                 (double *)C, g->C.rs, g->C.cs);
    } else if (dt == CT_FLOAT16 || dt == CT_BFLOAT16) {
        int bf = dt == CT_BFLOAT16;
        int64_t M = g->M, N = g->N, K = g->K;
        float *buf = malloc(sizeof(float) * (size_t)(M * K + K * N + M * N + 1));
        if (!buf) {
            __atomic_store_n((int *)&g->failed, 1, __ATOMIC_RELAXED);
            return;
        }
        float *a = buf, *bb = buf + M * K, *c = bb + K * N;
        load16((uint16_t *)A, g->A.rs, g->A.cs, M, K, bf, a);
        load16((uint16_t *)B, g->B.rs, g->B.cs, K, N, bf, bb);
        if (be != 0) load16((uint16_t *)C, g->C.rs, g->C.cs, M, N, bf, c);
        ct_sgemm(M, N, K, (float)al, a, K, 1, bb, N, 1, (float)be, c, N, 1);
        uint16_t *cp = (uint16_t *)C;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++)
                cp[i * g->C.rs + j * g->C.cs] = bf ? ct_float_to_bf16(c[i * N + j]) : ct_float_to_half(c[i * N + j]);
        free(buf);
    } else {
        gemm_int(dt, g->M, g->N, g->K, ct_scalar_to_i64(g->alpha), A, g->A.rs, g->A.cs, B, g->B.rs, g->B.cs,
                 ct_scalar_to_i64(g->beta), C, g->C.rs, g->C.cs);
    }
}

static void batch_task(int64_t begin, int64_t end, void *ctx) {
    for (int64_t b = begin; b < end; b++) batch_one(ctx, b);
}

int ct_gemm_batched(int dtype, int64_t nbatch, int64_t M, int64_t N, int64_t K, ct_scalar alpha,
                    ct_gemm_operand A, const int64_t *aoff, ct_gemm_operand B, const int64_t *boff,
                    ct_scalar beta, ct_gemm_operand C, const int64_t *coff) {
    if (nbatch <= 0 || M <= 0 || N <= 0) return 0;
    batch_ctx g = {dtype, M, N, K, alpha, beta, A, B, C, aoff, boff, coff, 0};
    double work = (double)M * (double)N * (double)(K > 0 ? K : 1);
    /* Big matrices: each GEMM is parallel inside; small ones: parallel over the batch. */
    if (nbatch == 1 || work >= 4e6 || ct_get_num_threads() == 1) {
        batch_task(0, nbatch, &g);
    } else {
        int64_t grain = (int64_t)(2e5 / work) + 1;
        ct_parallel_for(nbatch, grain, batch_task, &g);
    }
    if (g.failed) return ct_errorf(CT_ERR_MEMORY, "[matmul] out of memory");
    return 0;
}
