/* GEMM kernels (src/kernels/cpu/gemm.c): C = alpha * A @ B + beta * C for every dtype, with
 * arbitrary element strides on all three operands. Not installed. */
#ifndef CTORCH_KERNELS_GEMM_H
#define CTORCH_KERNELS_GEMM_H

#include <stdint.h>

#include "ctorch/core.h"

/* One matrix operand: base pointer (element 0 of batch 0) and element strides. */
typedef struct ct_gemm_operand {
    void *data;
    int64_t rs, cs; /* row / column stride in elements */
} ct_gemm_operand;

/* Single-precision / double-precision GEMM on one matrix:
 *   C[M,N] = alpha * A[M,K] @ B[K,N] + beta * C   (beta == 0: C is not read).
 * Parallel over the pool. */
void ct_sgemm(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa, int64_t csa,
              const float *B, int64_t rsb, int64_t csb, float beta, float *C, int64_t rsc, int64_t csc);
void ct_dgemm(int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t rsa, int64_t csa,
              const double *B, int64_t rsb, int64_t csb, double beta, double *C, int64_t rsc, int64_t csc);

/* Repeated products with one A (recurrent weights): ct_*gemm_pack_a packs A[M, K] once into
 * the micro-kernel's panel layout (free with ct_free_bytes; NULL when out of memory or empty),
 * and ct_*gemm_packed computes what ct_*gemm computes with the same A, reading the packed
 * copy instead of packing A again when C has unit row stride (rsc == 1; otherwise, and for
 * tiny shapes, A itself is used). Apk may be NULL. Pack and product must use the same kernel
 * (no ct_gemm_force_kernel in between). */
float *ct_sgemm_pack_a(int64_t M, int64_t K, const float *A, int64_t rsa, int64_t csa);
double *ct_dgemm_pack_a(int64_t M, int64_t K, const double *A, int64_t rsa, int64_t csa);
void ct_sgemm_packed(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa, int64_t csa,
                     const float *Apk, const float *B, int64_t rsb, int64_t csb, float beta, float *C, int64_t rsc,
                     int64_t csc);
void ct_dgemm_packed(int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t rsa, int64_t csa,
                     const double *Apk, const double *B, int64_t rsb, int64_t csb, double beta, double *C,
                     int64_t rsc, int64_t csc);

/* Batched GEMM of any dtype (bool excluded by callers): matrix b uses A.data + aoff[b],
 * B.data + boff[b], C.data + coff[b] (offsets in elements). alpha/beta are converted to the
 * dtype (integers: exact int64 arithmetic, wrapping in the dtype; float16/bfloat16: computed
 * in float32 and rounded once). Small matrices are parallelised over the batch. Returns 0, or
 * -1 with the error set (out of memory). */
int ct_gemm_batched(int dtype, int64_t nbatch, int64_t M, int64_t N, int64_t K, ct_scalar alpha,
                    ct_gemm_operand A, const int64_t *aoff, ct_gemm_operand B, const int64_t *boff,
                    ct_scalar beta, ct_gemm_operand C, const int64_t *coff);

/* Which micro-kernel the float GEMMs use: "avx512", "avx2" or "generic". */
const char *ct_gemm_kernel_name(void);
/* Force a kernel ("avx512", "avx2", "generic"; NULL: automatic). For tests and benchmarks.
 * Returns 0, or -1 when the CPU lacks the feature. */
int ct_gemm_force_kernel(const char *name);

#endif
