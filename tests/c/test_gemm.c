/* GEMM kernels against a naive reference: every micro-kernel the CPU supports (AVX-512,
 * AVX2, generic), float32/float64, odd sizes (edge tiles), transposed and strided operands,
 * alpha/beta; plus matmul through the C API. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctorch/ctorch.h"
#include "core/internal.h"
#include "kernels/cpu/gemm.h"

static int failures = 0;
#define CHECK(cond)                                                                                      \
    do {                                                                                                 \
        if (!(cond)) {                                                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s (%s)\n", __FILE__, __LINE__, #cond, ct_last_error()); \
            failures++;                                                                                  \
        }                                                                                                \
    } while (0)

static double frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (double)((*s >> 8) & 0xffff) / 65536.0 - 0.5;
}

/* C = alpha A B + beta C with A (M x K) given transposed or not, C column- or row-major. */
static void run_case(const char *kernel, int64_t M, int64_t N, int64_t K, int transA, int colC, double alpha,
                     double beta) {
    unsigned seed = (unsigned)(M * 131 + N * 7 + K);
    double *A = malloc(sizeof(double) * M * K), *B = malloc(sizeof(double) * K * N);
    double *C0 = malloc(sizeof(double) * M * N), *ref = malloc(sizeof(double) * M * N);
    float *Af = malloc(sizeof(float) * M * K), *Bf = malloc(sizeof(float) * K * N), *Cf = malloc(sizeof(float) * M * N);
    double *Cd = malloc(sizeof(double) * M * N);
    for (int64_t i = 0; i < M * K; i++) Af[i] = (float)(A[i] = frand(&seed));
    for (int64_t i = 0; i < K * N; i++) Bf[i] = (float)(B[i] = frand(&seed));
    for (int64_t i = 0; i < M * N; i++) {
        C0[i] = frand(&seed);
        Cf[i] = (float)C0[i];
        Cd[i] = C0[i];
    }
    int64_t rsa = transA ? 1 : K, csa = transA ? M : 1; /* A stored as given layout */
    int64_t rsc = colC ? 1 : N, csc = colC ? M : 1;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = 0;
            for (int64_t k = 0; k < K; k++) acc += A[i * rsa + k * csa] * B[k * N + j];
            ref[i * rsc + j * csc] = alpha * acc + (beta == 0 ? 0 : beta * C0[i * rsc + j * csc]);
        }
    ct_sgemm(M, N, K, (float)alpha, Af, rsa, csa, Bf, N, 1, (float)beta, Cf, rsc, csc);
    ct_dgemm(M, N, K, alpha, A, rsa, csa, B, N, 1, beta, Cd, rsc, csc);
    /* the same product from A packed once (recurrent weights), twice with one packing */
    float *Cpf = malloc(sizeof(float) * M * N), *Apf = ct_sgemm_pack_a(M, K, Af, rsa, csa);
    double *Cpd = malloc(sizeof(double) * M * N), *Apd = ct_dgemm_pack_a(M, K, A, rsa, csa);
    CHECK(Apf && Apd);
    for (int rep = 0; rep < 2; rep++) {
        for (int64_t i = 0; i < M * N; i++) Cpf[i] = (float)(Cpd[i] = C0[i]);
        ct_sgemm_packed(M, N, K, (float)alpha, Af, rsa, csa, Apf, Bf, N, 1, (float)beta, Cpf, rsc, csc);
        ct_dgemm_packed(M, N, K, alpha, A, rsa, csa, Apd, B, N, 1, beta, Cpd, rsc, csc);
    }
    double es = 0, ed = 0;
    for (int64_t i = 0; i < M * N; i++) {
        es = fmax(es, fmax(fabs(Cf[i] - ref[i]), fabs(Cpf[i] - ref[i])));
        ed = fmax(ed, fmax(fabs(Cd[i] - ref[i]), fabs(Cpd[i] - ref[i])));
    }
    ct_free_bytes(Apf), ct_free_bytes(Apd), free(Cpf), free(Cpd);
    if (!(es < 1e-4 * (K + 1) && ed < 1e-12 * (K + 1))) {
        fprintf(stderr, "%s M=%lld N=%lld K=%lld transA=%d colC=%d: err f32 %g f64 %g\n", kernel, (long long)M,
                (long long)N, (long long)K, transA, colC, es, ed);
        failures++;
    }
    free(A), free(B), free(C0), free(ref), free(Af), free(Bf), free(Cf), free(Cd);
}

static void test_kernels(void) {
    const char *kernels[] = {"generic", "avx2", "avx512"};
    for (int k = 0; k < 3; k++) {
        if (ct_gemm_force_kernel(kernels[k])) continue; /* not on this CPU */
        run_case(kernels[k], 67, 53, 41, 0, 0, 1.0, 0.0);
        run_case(kernels[k], 67, 53, 41, 1, 1, 0.5, 2.0);
        run_case(kernels[k], 130, 29, 400, 0, 1, 1.0, 1.0);
        run_case(kernels[k], 33, 150, 70, 1, 0, -1.0, 0.5);
        run_case(kernels[k], 3, 2, 5, 0, 0, 1.0, 0.0);   /* naive path */
        run_case(kernels[k], 40, 1, 30, 0, 0, 1.0, 0.0); /* matrix-vector */
        run_case(kernels[k], 100, 37, 1000, 1, 1, 1.0, 0.0); /* several equal K blocks */
        run_case(kernels[k], 70, 20, 800, 0, 1, 0.5, 1.0);
        /* the parallel paths at 1-3 threads: row shares with narrow B (balanced last panels:
         * 16 = 8 + 8, 28 = 12 + 8 + 8, 13 = 7 + 6), column shares of a wide B with A packed once */
        int nt0 = ct_get_num_threads();
        for (int threads = 1; threads <= 3; threads++) {
            ct_set_num_threads(threads);
            run_case(kernels[k], 200, 16, 300, 0, 1, 1.0, 0.0);
            run_case(kernels[k], 200, 28, 300, 1, 1, 0.5, 1.0);
            run_case(kernels[k], 150, 13, 90, 0, 0, 1.0, 0.0);
            run_case(kernels[k], 64, 400, 300, 0, 1, 1.0, 0.0);
            run_case(kernels[k], 50, 420, 700, 1, 1, -1.0, 0.5);
        }
        ct_set_num_threads(nt0);
    }
    ct_gemm_force_kernel(NULL);
}

static void test_matmul_api(void) {
    int64_t sa[2] = {2, 3}, sb[2] = {3, 2};
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, 0, 1, 1, 1};
    ct_tensor *A = ct_tensor_from_data(a, sa, 2, CT_FLOAT32), *B = ct_tensor_from_data(b, sb, 2, CT_FLOAT32);
    ct_tensor *C = ct_matmul(A, B);
    CHECK(C && C->ndim == 2 && C->sizes[0] == 2 && C->sizes[1] == 2);
    if (C) {
        const float *c = ct_tensor_data(C);
        CHECK(c[0] == 4 && c[1] == 5 && c[2] == 10 && c[3] == 11);
    }
    ct_tensor *bad = ct_matmul(A, A);
    CHECK(!bad && ct_last_error_kind() == CT_ERR_RUNTIME);
    ct_clear_error();
    ct_tensor_release(A), ct_tensor_release(B), ct_tensor_release(C);
}

int main(void) {
    test_kernels();
    test_matmul_api();
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("test_gemm: ok (kernel %s)\n", ct_gemm_kernel_name());
    return 0;
}
