/* GEMM throughput of ctorch's own kernels: GFLOP/s for square float32/float64 products and a
 * batched float32 product. Usage: gemm_bench [kernel] (avx512 | avx2 | generic). Not a test. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/internal.h"
#include "kernels/cpu/gemm.h"

/* Wall time, or with CPU_TIME=1 the process's CPU time divided by the thread count: on a
 * machine shared with other jobs this measures what the cores deliver while we run. */
static int use_cpu_time = 0;
static double now(void) {
    struct timespec ts;
    clock_gettime(use_cpu_time ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    double t = ts.tv_sec + ts.tv_nsec * 1e-9;
    return use_cpu_time ? t / ct_get_num_threads() : t;
}

static void fill(float *p, int64_t n) {
    for (int64_t i = 0; i < n; i++) p[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
}

/* Best-of-reps time of one batched float32/float64 GEMM; returns GFLOP/s. */
static double bench(int dtype, int64_t batch, int64_t M, int64_t N, int64_t K, int reps) {
    size_t es = ct_dtype_size(dtype);
    void *A = malloc(es * batch * M * K), *B = malloc(es * batch * K * N), *C = malloc(es * batch * M * N);
    int64_t *ao = malloc(sizeof(int64_t) * batch * 3), *bo = ao + batch, *co = bo + batch;
    if (dtype == CT_FLOAT32) {
        fill(A, batch * M * K);
        fill(B, batch * K * N);
    } else {
        for (int64_t i = 0; i < batch * M * K; i++) ((double *)A)[i] = (double)((i * 31) % 97) / 97.0;
        for (int64_t i = 0; i < batch * K * N; i++) ((double *)B)[i] = (double)((i * 17) % 89) / 89.0;
    }
    for (int64_t b = 0; b < batch; b++) {
        ao[b] = b * M * K;
        bo[b] = b * K * N;
        co[b] = b * M * N;
    }
    ct_gemm_operand a = {A, K, 1}, bb = {B, N, 1}, c = {C, N, 1};
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        ct_gemm_batched(dtype, batch, M, N, K, ct_scalar_f(1), a, ao, bb, bo, ct_scalar_f(0), c, co);
        double t = now() - t0;
        if (t < best) best = t;
    }
    free(A);
    free(B);
    free(C);
    free(ao);
    return 2.0 * batch * M * N * K / best * 1e-9;
}

int main(int argc, char **argv) {
    if (argc > 1 && ct_gemm_force_kernel(argv[1])) {
        fprintf(stderr, "kernel %s not supported on this CPU\n", argv[1]);
        return 1;
    }
    const char *ce = getenv("CPU_TIME");
    use_cpu_time = ce && ce[0] == '1';
    int threads = ct_get_num_threads();
    printf("kernel %s, %d threads, %s time\n", ct_gemm_kernel_name(), threads, use_cpu_time ? "cpu" : "wall");
    printf("sgemm 1024^3        %8.1f GFLOP/s\n", bench(CT_FLOAT32, 1, 1024, 1024, 1024, 10));
    printf("sgemm 4096^3        %8.1f GFLOP/s\n", bench(CT_FLOAT32, 1, 4096, 4096, 4096, 3));
    printf("sgemm 64x128x128x128 %7.1f GFLOP/s\n", bench(CT_FLOAT32, 64, 128, 128, 128, 20));
    printf("dgemm 1024^3        %8.1f GFLOP/s\n", bench(CT_FLOAT64, 1, 1024, 1024, 1024, 5));
    printf("dgemm 4096^3        %8.1f GFLOP/s\n", bench(CT_FLOAT64, 1, 4096, 4096, 4096, 2));
    return 0;
}
