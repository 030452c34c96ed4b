/* Row reductions for the nn kernels (softmax, cross entropy): max, sum and sum of
 * exp(x - m) over a contiguous row, vectorised with GCC vector extensions. Include after
 * vmath.h. */
#ifndef CTORCH_ROWOPS_H
#define CTORCH_ROWOPS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* dot product of two rows (needs ROW_REDUCE's vector type) */
#define ROW_DOT(SUF, T, W)                                                                   \
    static inline double row_dot_##SUF(const T *x, const T *y, int64_t n) {                 \
        v_##SUF vs = {0}, vs1 = {0};                                                         \
        int64_t i = 0;                                                                       \
        for (; i + 2 * W <= n; i += 2 * W) {                                                 \
            v_##SUF a, b, a1, b1;                                                            \
            memcpy(&a, x + i, sizeof a);                                                     \
            memcpy(&b, y + i, sizeof b);                                                     \
            memcpy(&a1, x + i + W, sizeof a1);                                               \
            memcpy(&b1, y + i + W, sizeof b1);                                               \
            vs += a * b, vs1 += a1 * b1;                                                     \
        }                                                                                    \
        vs += vs1;                                                                           \
        for (; i + W <= n; i += W) {                                                         \
            v_##SUF a, b;                                                                    \
            memcpy(&a, x + i, sizeof a);                                                     \
            memcpy(&b, y + i, sizeof b);                                                     \
            vs += a * b;                                                                     \
        }                                                                                    \
        double r = 0;                                                                        \
        for (int j = 0; j < W; j++) r += vs[j];                                              \
        for (; i < n; i++) r += (double)x[i] * y[i];                                         \
        return r;                                                                            \
    }

/* Row max / sum with GCC vector extensions (plain loops with a select or a floating-point
 * reduction are not vectorised without -ffast-math). NaNs in the max are ignored: they make
 * the exps, and so the result, NaN anyway. */
#define ROW_REDUCE(SUF, T, IT, W)                                                            \
    typedef T v_##SUF __attribute__((vector_size(W * sizeof(T))));                          \
    typedef IT vi_##SUF __attribute__((vector_size(W * sizeof(T))));                        \
    static inline T row_max_##SUF(const T *x, int64_t n) {                                  \
        v_##SUF vm;                                                                          \
        for (int j = 0; j < W; j++) vm[j] = -INFINITY;                                       \
        v_##SUF vm1 = vm, vm2 = vm, vm3 = vm; /* 4 chains: the select's latency hides */     \
        int64_t i = 0;                                                                       \
        for (; i + 4 * W <= n; i += 4 * W) {                                                 \
            v_##SUF v0, v1, v2, v3;                                                          \
            memcpy(&v0, x + i, sizeof v0);                                                   \
            memcpy(&v1, x + i + W, sizeof v1);                                               \
            memcpy(&v2, x + i + 2 * W, sizeof v2);                                           \
            memcpy(&v3, x + i + 3 * W, sizeof v3);                                           \
            vi_##SUF m0 = v0 > vm, m1 = v1 > vm1, m2 = v2 > vm2, m3 = v3 > vm3;              \
            vm = (v_##SUF)((m0 & (vi_##SUF)v0) | (~m0 & (vi_##SUF)vm));                      \
            vm1 = (v_##SUF)((m1 & (vi_##SUF)v1) | (~m1 & (vi_##SUF)vm1));                    \
            vm2 = (v_##SUF)((m2 & (vi_##SUF)v2) | (~m2 & (vi_##SUF)vm2));                    \
            vm3 = (v_##SUF)((m3 & (vi_##SUF)v3) | (~m3 & (vi_##SUF)vm3));                    \
        }                                                                                    \
        {                                                                                    \
            vi_##SUF m1 = vm1 > vm, m2 = vm3 > vm2;                                          \
            vm = (v_##SUF)((m1 & (vi_##SUF)vm1) | (~m1 & (vi_##SUF)vm));                     \
            vm2 = (v_##SUF)((m2 & (vi_##SUF)vm3) | (~m2 & (vi_##SUF)vm2));                   \
            m1 = vm2 > vm;                                                                   \
            vm = (v_##SUF)((m1 & (vi_##SUF)vm2) | (~m1 & (vi_##SUF)vm));                     \
        }                                                                                    \
        for (; i + W <= n; i += W) {                                                         \
            v_##SUF v;                                                                       \
            memcpy(&v, x + i, sizeof v);                                                     \
            vi_##SUF m = v > vm;                                                             \
            vm = (v_##SUF)((m & (vi_##SUF)v) | (~m & (vi_##SUF)vm));                         \
        }                                                                                    \
        T r = -INFINITY;                                                                     \
        for (int j = 0; j < W; j++) r = vm[j] > r ? vm[j] : r;                               \
        for (; i < n; i++) r = x[i] > r ? x[i] : r;                                          \
        return r;                                                                            \
    }                                                                                        \
    static inline double row_sum_##SUF(const T *x, int64_t n) {                             \
        v_##SUF vs = {0}, vs1 = {0}, vs2 = {0}, vs3 = {0};                                 \
        int64_t i = 0;                                                                       \
        for (; i + 4 * W <= n; i += 4 * W) {                                                 \
            v_##SUF v0, v1, v2, v3;                                                          \
            memcpy(&v0, x + i, sizeof v0);                                                   \
            memcpy(&v1, x + i + W, sizeof v1);                                               \
            memcpy(&v2, x + i + 2 * W, sizeof v2);                                           \
            memcpy(&v3, x + i + 3 * W, sizeof v3);                                           \
            vs += v0, vs1 += v1, vs2 += v2, vs3 += v3;                                       \
        }                                                                                    \
        vs += vs1 + (vs2 + vs3);                                                             \
        for (; i + W <= n; i += W) {                                                         \
            v_##SUF v;                                                                       \
            memcpy(&v, x + i, sizeof v);                                                     \
            vs += v;                                                                         \
        }                                                                                    \
        double r = 0;                                                                        \
        for (int j = 0; j < W; j++) r += vs[j];                                              \
        for (; i < n; i++) r += x[i];                                                        \
        return r;                                                                            \
    }
ROW_REDUCE(f32, float, int32_t, 8)
ROW_DOT(f32, float, 8)
ROW_REDUCE(f64, double, int64_t, 4)
ROW_DOT(f64, double, 4)

/* sum over the row of exp(x - m), in chunks through a stack buffer so the exps vectorise */
#define ROW_SUMEXP(SUF, T, VEXP)                                                             \
    static inline double row_sumexp_##SUF(const T *x, int64_t n, T m) {                     \
        T buf[256];                                                                          \
        double s = 0;                                                                        \
        for (int64_t i = 0; i < n; i += 256) {                                               \
            int64_t w = n - i < 256 ? n - i : 256;                                           \
            for (int64_t j = 0; j < w; j++) buf[j] = VEXP(x[i + j] - m);                     \
            s += row_sum_##SUF(buf, w);                                                      \
        }                                                                                    \
        return s;                                                                            \
    }
ROW_SUMEXP(f32, float, ct_vexpf)
ROW_SUMEXP(f64, double, ct_vexp)

#endif
