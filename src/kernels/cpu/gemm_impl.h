/* GEMM driver template, included by gemm.c once per float type with T (element type), SFX
 * (name suffix) defined. BLIS-style loops: N blocks of NC, K blocks of KC (B packed into
 * NR-wide panels, shared), M blocks of MC (A packed into MR-tall panels, per task), then the
 * MR x NR micro-kernel, which computes a column-major tile (unit stride along M). */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, SFX)

/* Pack A[0:mc, 0:kc] (strides rsa, csa) into MR-tall panels: panel p holds, for each k,
 * MR consecutive rows (zero padded). dst: ceil(mc/MR)*MR*kc. */
static void FN(pack_a)(int64_t mc, int64_t kc, const T *A, int64_t rsa, int64_t csa, int MR, T *restrict dst,
                       void (*tr)(int64_t, const T *, int64_t, T *, int)) {
    for (int64_t i0 = 0; i0 < mc; i0 += MR) {
        int64_t mr = mc - i0 < MR ? mc - i0 : MR;
        const T *a = A + i0 * rsa;
        if (tr && csa == 1 && rsa != 1 && mr == MR) {
            tr(kc, a, rsa, dst, MR);
        } else if (rsa == 1 && mr == MR) { /* constant-size copies compile to vector moves */
            if (MR == 32)
                for (int64_t k = 0; k < kc; k++) memcpy(dst + k * 32, a + k * csa, 32 * sizeof(T));
            else if (MR == 16)
                for (int64_t k = 0; k < kc; k++) memcpy(dst + k * 16, a + k * csa, 16 * sizeof(T));
            else
                for (int64_t k = 0; k < kc; k++) memcpy(dst + k * MR, a + k * csa, (size_t)MR * sizeof(T));
        } else {
            for (int64_t i = 0; i < mr; i++) {
                const T *src = a + i * rsa;
                for (int64_t k = 0; k < kc; k++) dst[k * MR + i] = src[k * csa];
            }
            for (int64_t i = mr; i < MR; i++)
                for (int64_t k = 0; k < kc; k++) dst[k * MR + i] = 0;
        }
        dst += MR * kc;
    }
}

#ifndef CT_GEMM_PANEL_DEFINED
#define CT_GEMM_PANEL_DEFINED
/* NOTE [ Balanced last panels ]
 * Panel p of an nc-column block of B covers columns [p*NR, p*NR + NR). A short tail (nc % NR
 * under NR/2, nc > NR) would be an edge tile that streams a whole A block for a few columns,
 * bound by cache bandwidth, not the FMA units; the last two panels split NR + tail evenly
 * instead (16 = 8 + 8, not 12 + 4). Panel p still sits at p*NR*kc in the packed buffer (zero
 * padded), and every element is the same k-ordered sum whatever the panels: results are
 * unchanged. */
static inline void gemm_panel(int64_t nc, int NR, int64_t p, int64_t *j0, int64_t *nr) {
    int64_t np = (nc + NR - 1) / NR, r = nc % NR;
    if (nc > NR && r > 0 && 2 * r < NR && p >= np - 2) {
        int64_t w1 = (NR + r + 1) / 2;
        *j0 = p == np - 2 ? p * NR : (np - 2) * NR + w1;
        *nr = p == np - 2 ? w1 : NR + r - w1;
        return;
    }
    *j0 = p * NR;
    *nr = nc - *j0 < NR ? nc - *j0 : NR;
}
#endif

/* Pack panels [p0, p1) of B[0:kc, 0:nc] (gemm_panel's columns) into NR-wide panels: for each k,
 * NR consecutive columns, zero padded; panel p at dst + p*NR*kc. */
static void FN(pack_b)(int64_t kc, int64_t nc, int64_t p0, int64_t p1, const T *B, int64_t rsb, int64_t csb,
                       int NR, T *restrict dst, void (*tr)(int64_t, const T *, int64_t, T *, int)) {
    for (int64_t p = p0; p < p1; p++) {
        int64_t j0, nr;
        gemm_panel(nc, NR, p, &j0, &nr);
        const T *b = B + j0 * csb;
        T *d = dst + p * NR * kc;
        if (tr && rsb == 1 && csb != 1) { /* partial panels too: zero padded */
            tr(kc, b, csb, d, (int)nr);
        } else if (csb == 1 && nr == NR) {
            if (NR == 12)
                for (int64_t k = 0; k < kc; k++) memcpy(d + k * 12, b + k * rsb, 12 * sizeof(T));
            else
                for (int64_t k = 0; k < kc; k++) memcpy(d + k * NR, b + k * rsb, (size_t)NR * sizeof(T));
        } else {
            for (int64_t j = 0; j < nr; j++) {
                const T *src = b + j * csb;
                for (int64_t k = 0; k < kc; k++) d[k * NR + j] = src[k * rsb];
            }
            for (int64_t j = nr; j < NR; j++)
                for (int64_t k = 0; k < kc; k++) d[k * NR + j] = 0;
        }
    }
}

/* C[M,N] = alpha*A@B + beta*C by a plain loop (tiny or degenerate shapes). */
static void FN(gemm_naive)(int64_t M, int64_t N, int64_t K, T alpha, const T *A, int64_t rsa, int64_t csa,
                           const T *B, int64_t rsb, int64_t csb, T beta, T *C, int64_t rsc, int64_t csc) {
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            const T *a = A + i * rsa, *b = B + j * csb;
            double acc = 0;
            for (int64_t k = 0; k < K; k++) acc += (double)a[k * csa] * (double)b[k * rsb];
            T *c = C + i * rsc + j * csc;
            T v = (T)(alpha * (T)acc);
            *c = beta == 0 ? v : v + beta * *c;
        }
    }
}

typedef struct FN(gemm_ctx) {
    const FN(gemm_cfg) * cfg;
    int64_t M, kc, nc, mc, nrs, nsplit, npanels;
    T alpha, beta;
    const T *A; int64_t rsa, csa;
    const T *Bp;
    T *C; int64_t rsc, csc;
    const T *Apk; /* pre-packed A of this K block (ct_*gemm_pack_a), or NULL */
} FN(gemm_ctx);

/* Pack the rows [i0, i0+mc) of A and multiply them with the packed B panels [p0, p1). */
static void FN(gemm_block)(const FN(gemm_ctx) * g, T *Ap, int64_t i0, int64_t mc, int64_t p0, int64_t p1) {
    const FN(gemm_cfg) *cfg = g->cfg;
    const int MR = cfg->MR, NR = cfg->NR;
    T tile[32 * 16] __attribute__((aligned(64)));
    const T *A = g->A + i0 * g->rsa;
    if (g->Apk) { /* pre-packed: i0 is a multiple of MR, so its panels start at i0 * kc */
        Ap = (T *)g->Apk + i0 * g->kc;
    } else if (!Ap) { /* out of memory: finish this block without packing */
        for (int64_t p = p0; p < p1; p++) {
            int64_t j0, nr;
            gemm_panel(g->nc, NR, p, &j0, &nr);
            for (int64_t j = j0; j < j0 + nr; j++)
            for (int64_t i = 0; i < mc; i++) {
                const T *bp = g->Bp + p * NR * g->kc + (j - j0);
                double acc = 0;
                for (int64_t k = 0; k < g->kc; k++) acc += (double)A[i * g->rsa + k * g->csa] * bp[k * NR];
                T *c = g->C + (i0 + i) * g->rsc + j * g->csc;
                T v = (T)(g->alpha * (T)acc);
                *c = g->beta == 0 ? v : v + g->beta * *c;
            }
        }
        return;
    }
    if (!g->Apk) FN(pack_a)(mc, g->kc, A, g->rsa, g->csa, MR, Ap, cfg->pack_a_t);
    for (int64_t p = p0; p < p1; p++) {
        int64_t j0, nr;
        gemm_panel(g->nc, NR, p, &j0, &nr);
        const T *bp = g->Bp + p * NR * g->kc;
        for (int64_t ii = 0; ii < mc; ii += MR) {
            int64_t mr = mc - ii < MR ? mc - ii : MR;
            const T *ap = Ap + (ii / MR) * MR * g->kc;
            T *c = g->C + (i0 + ii) * g->rsc + j0 * g->csc;
            if (mr == MR && nr == NR && g->rsc == 1) {
                cfg->ukr(g->kc, ap, bp, c, g->csc, g->alpha, g->beta);
            } else if (cfg->edge && g->rsc == 1) {
                cfg->edge(g->kc, ap, bp, c, g->csc, g->alpha, g->beta, (int)mr, (int)nr);
            } else {
                cfg->ukr(g->kc, ap, bp, tile, MR, 1, 0);
                for (int64_t j = 0; j < nr; j++)
                    for (int64_t i = 0; i < mr; i++) {
                        T *cp = c + i * g->rsc + j * g->csc;
                        T v = g->alpha * tile[j * MR + i];
                        *cp = g->beta == 0 ? v : v + g->beta * *cp;
                    }
            }
        }
    }
}

/* Task t: row share t / nsplit (an equal number of MR panels of M, walked in MC blocks) times
 * column share t % nsplit of the packed B panels. One task per thread balances the load to
 * within one micro-panel. */
static void FN(gemm_task)(int64_t begin, int64_t end, void *vctx) {
    const FN(gemm_ctx) *g = vctx;
    const int MR = g->cfg->MR;
    T *Ap = g->Apk ? NULL : ct_alloc_bytes((size_t)(g->mc + MR) * (size_t)g->kc * sizeof(T) + 64);
    if (!Ap) ct_clear_error();
    int64_t P = (g->M + MR - 1) / MR;
    for (int64_t t = begin; t < end; t++) {
        int64_t rsh = t / g->nsplit, part = t % g->nsplit;
        int64_t r0 = P * rsh / g->nrs * MR, r1 = P * (rsh + 1) / g->nrs * MR;
        if (r1 > g->M) r1 = g->M;
        int64_t p0 = g->npanels * part / g->nsplit, p1 = g->npanels * (part + 1) / g->nsplit;
        for (int64_t i0 = r0; i0 < r1; i0 += g->mc)
            FN(gemm_block)(g, Ap, i0, r1 - i0 < g->mc ? r1 - i0 : g->mc, p0, p1);
    }
    ct_free_bytes(Ap);
}

typedef struct FN(packb_ctx) {
    int64_t kc, nc, rsb, csb;
    int NR;
    const T *B;
    T *Bp;
    void (*tr)(int64_t, const T *, int64_t, T *, int);
} FN(packb_ctx);

static void FN(packb_task)(int64_t begin, int64_t end, void *vctx) {
    const FN(packb_ctx) *p = vctx;
    FN(pack_b)(p->kc, p->nc, begin, end, p->B, p->rsb, p->csb, p->NR, p->Bp, p->tr);
}

/* Narrow B (fewer than 16 NR panels, which the main path packs on one thread anyway) and M
 * split in row shares: one parallel job for the whole product, each task packing B itself
 * for each K block (the same packing the main path does serially) and walking its rows. This
 * saves two fork/joins per K block, which dominate the per-step products of a recurrent layer
 * (M = 4 x hidden, N = batch). Same blocking and kernel: bit-identical results. */
typedef struct FN(narrow_ctx) {
    const FN(gemm_cfg) * cfg;
    int64_t M, N, K, KC, mc, nrs, Mp;
    T alpha, beta;
    const T *A; int64_t rsa, csa;
    const T *B; int64_t rsb, csb;
    T *C; int64_t rsc, csc;
    const T *Apk;
} FN(narrow_ctx);

static void FN(gemm_naive)(int64_t M, int64_t N, int64_t K, T alpha, const T *A, int64_t rsa, int64_t csa,
                           const T *B, int64_t rsb, int64_t csb, T beta, T *C, int64_t rsc, int64_t csc);

static void FN(narrow_task)(int64_t begin, int64_t end, void *vctx) {
    const FN(narrow_ctx) *n = vctx;
    const FN(gemm_cfg) *cfg = n->cfg;
    const int MR = cfg->MR, NR = cfg->NR;
    const int64_t npanels = (n->N + NR - 1) / NR, kcmax = n->K < n->KC ? n->K : n->KC;
    const int64_t P = (n->M + MR - 1) / MR;
    T *Bp = ct_alloc_bytes((size_t)(npanels * NR * kcmax) * sizeof(T) + 64);
    T *Ap = n->Apk ? NULL : ct_alloc_bytes((size_t)((n->mc + MR) * kcmax) * sizeof(T) + 64);
    for (int64_t t = begin; t < end; t++) {
        int64_t r0 = P * t / n->nrs * MR, r1 = P * (t + 1) / n->nrs * MR;
        if (r1 > n->M) r1 = n->M;
        if (r0 >= r1) continue;
        if (!Bp || (!n->Apk && !Ap)) { /* out of memory: this share unpacked */
            FN(gemm_naive)(r1 - r0, n->N, n->K, n->alpha, n->A + r0 * n->rsa, n->rsa, n->csa, n->B, n->rsb, n->csb,
                           n->beta, n->C + r0 * n->rsc, n->rsc, n->csc);
            continue;
        }
        for (int64_t pc = 0; pc < n->K; pc += n->KC) {
            int64_t kc = n->K - pc < n->KC ? n->K - pc : n->KC;
            FN(pack_b)(kc, n->N, 0, npanels, n->B + pc * n->rsb, n->rsb, n->csb, NR, Bp, cfg->pack_b_t);
            FN(gemm_ctx) g = {cfg, n->M, kc, n->N, n->mc, n->nrs, 1, npanels, n->alpha, pc == 0 ? n->beta : (T)1,
                              n->A + pc * n->csa, n->rsa, n->csa, Bp, n->C, n->rsc, n->csc,
                              n->Apk ? n->Apk + pc * n->Mp : NULL};
            for (int64_t i0 = r0; i0 < r1; i0 += n->mc)
                FN(gemm_block)(&g, Ap, i0, r1 - i0 < n->mc ? r1 - i0 : n->mc, 0, npanels);
        }
    }
    ct_clear_error();
    ct_free_bytes(Bp);
    ct_free_bytes(Ap);
}

/* Short M (at most 16 MR panels) and wide N: the column panels of B split in shares, one parallel
 * job for the whole product; each task packs its own B panels (per K block) and all of A. With
 * row shares instead, every thread streams the whole packed B, half of it packed by (and dirty
 * in the cache of) the other core, for only a few micro-panels of A each. Same blocking and
 * kernel: bit-identical results. */
static void FN(wide_task)(int64_t begin, int64_t end, void *vctx) {
    const FN(narrow_ctx) *n = vctx; /* nrs: the number of column shares */
    const FN(gemm_cfg) *cfg = n->cfg;
    const int MR = cfg->MR, NR = cfg->NR;
    const int64_t npan = (n->N + NR - 1) / NR, kcmax = n->K < n->KC ? n->K : n->KC;
    for (int64_t t = begin; t < end; t++) {
        int64_t p0 = npan * t / n->nrs, p1 = npan * (t + 1) / n->nrs;
        if (p0 >= p1) continue;
        int64_t j0 = p0 * NR, j1 = p1 * NR < n->N ? p1 * NR : n->N;
        T *Bp = ct_alloc_bytes((size_t)((p1 - p0) * NR * kcmax) * sizeof(T) + 64);
        T *Ap = n->Apk ? NULL : ct_alloc_bytes((size_t)((n->mc + MR) * kcmax) * sizeof(T) + 64);
        if (!Bp || (!n->Apk && !Ap)) { /* out of memory: this share unpacked */
            FN(gemm_naive)(n->M, j1 - j0, n->K, n->alpha, n->A, n->rsa, n->csa, n->B + j0 * n->csb, n->rsb, n->csb,
                           n->beta, n->C + j0 * n->csc, n->rsc, n->csc);
        } else {
            for (int64_t pc = 0; pc < n->K; pc += n->KC) {
                int64_t kc = n->K - pc < n->KC ? n->K - pc : n->KC;
                FN(pack_b)(kc, j1 - j0, 0, p1 - p0, n->B + pc * n->rsb + j0 * n->csb, n->rsb, n->csb, NR, Bp,
                           cfg->pack_b_t);
                FN(gemm_ctx) g = {cfg, n->M, kc, j1 - j0, n->mc, 1, 1, p1 - p0, n->alpha, pc == 0 ? n->beta : (T)1,
                                  n->A + pc * n->csa, n->rsa, n->csa, Bp, n->C + j0 * n->csc, n->rsc, n->csc,
                                  n->Apk ? n->Apk + pc * n->Mp : NULL};
                for (int64_t i0 = 0; i0 < n->M; i0 += n->mc)
                    FN(gemm_block)(&g, Ap, i0, n->M - i0 < n->mc ? n->M - i0 : n->mc, 0, p1 - p0);
            }
        }
        ct_clear_error();
        ct_free_bytes(Bp);
        ct_free_bytes(Ap);
    }
}

/* K block size: at most cfg->KC, K split into equal blocks (784 = 392 + 392, not 384 + 384 + 16). */
static int64_t FN(kc_block)(const FN(gemm_cfg) * cfg, int64_t K) {
    int64_t KC = cfg->KC;
    if (K > KC) {
        int64_t nkb = (K + KC - 1) / KC;
        KC = ((K + nkb - 1) / nkb + 7) / 8 * 8;
    }
    return KC;
}

/* A[0:M, 0:K] packed once for repeated products (recurrent weights): the K blocks one after
 * another, block pc holding ceil(M/MR)*MR x kc in MR-tall panels. NULL when out of memory. */
static T *FN(pack_a_all)(const FN(gemm_cfg) * cfg, int64_t M, int64_t K, const T *A, int64_t rsa, int64_t csa) {
    int64_t KC = FN(kc_block)(cfg, K), Mp = (M + cfg->MR - 1) / cfg->MR * cfg->MR;
    T *dst = ct_alloc_bytes((size_t)(Mp * K) * sizeof(T) + 64);
    if (!dst) {
        ct_clear_error();
        return NULL;
    }
    for (int64_t pc = 0; pc < K; pc += KC) {
        int64_t kc = K - pc < KC ? K - pc : KC;
        FN(pack_a)(M, kc, A + pc * csa, rsa, csa, cfg->MR, dst + pc * Mp, cfg->pack_a_t);
    }
    return dst;
}

/* pack_a_all's layout, built in parallel: task t packs a share of the MR panels of every K block. */
typedef struct FN(packa_ctx) {
    const FN(gemm_cfg) * cfg;
    int64_t M, K, KC, Mp, ntasks;
    const T *A; int64_t rsa, csa;
    T *dst;
} FN(packa_ctx);

static void FN(packa_task)(int64_t begin, int64_t end, void *vctx) {
    const FN(packa_ctx) *q = vctx;
    const int MR = q->cfg->MR;
    const int64_t P = (q->M + MR - 1) / MR;
    for (int64_t t = begin; t < end; t++) {
        int64_t p0 = P * t / q->ntasks, p1 = P * (t + 1) / q->ntasks, i0 = p0 * MR;
        int64_t mc = (p1 * MR < q->M ? p1 * MR : q->M) - i0;
        if (mc <= 0) continue;
        for (int64_t pc = 0; pc < q->K; pc += q->KC) {
            int64_t kc = q->K - pc < q->KC ? q->K - pc : q->KC;
            FN(pack_a)(mc, kc, q->A + i0 * q->rsa + pc * q->csa, q->rsa, q->csa, MR, q->dst + pc * q->Mp + i0 * kc,
                       q->cfg->pack_a_t);
        }
    }
}

/* Apk: NULL, or A packed by pack_a_all with the same cfg (used when C has unit row stride). */
static void FN(gemm_driver)(const FN(gemm_cfg) * cfg, int64_t M, int64_t N, int64_t K, T alpha, const T *A,
                            int64_t rsa, int64_t csa, const T *B, int64_t rsb, int64_t csb, T beta, T *C,
                            int64_t rsc, int64_t csc, const T *Apk) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                T *c = C + i * rsc + j * csc;
                *c = beta == 0 ? 0 : beta * *c;
            }
        return;
    }
    if (rsc != 1) Apk = NULL;
    /* Keep C's unit stride along M (the micro-kernel's vector direction): C^T = B^T A^T. */
    if (rsc != 1 && (csc == 1 || N == 1)) {
        int64_t t;
        const T *tp;
        t = M; M = N; N = t;
        tp = A; A = B; B = tp;
        t = rsa; rsa = csb; csb = t;
        t = csa; csa = rsb; rsb = t;
        t = rsc; rsc = csc; csc = t;
    }
    if (M * N * K < 8192 || N < 2 || K < 4) {
        FN(gemm_naive)(M, N, K, alpha, A, rsa, csa, B, rsb, csb, beta, C, rsc, csc);
        return;
    }
    const int MR = cfg->MR, NR = cfg->NR;
    int nthreads = ct_get_num_threads();
    int64_t KC = FN(kc_block)(cfg, K), NC = cfg->NC;
    const int64_t Mp = (M + MR - 1) / MR * MR;
    int64_t mc = cfg->MC;
    if (mc > (M + MR - 1) / MR * MR) mc = (M + MR - 1) / MR * MR; /* packed A buffer no bigger than M */
    /* Row shares: one per thread when M has enough micro-panels, else split N too. */
    int64_t P = (M + MR - 1) / MR;
    int64_t nrs = P >= nthreads ? nthreads : P;
    int64_t nbpan = ((N < NC ? N : NC) + NR - 1) / NR;
    if (nthreads > 1 && nrs == nthreads && N <= NC && nbpan < 16 && (double)M * (double)N * (double)K >= 2e5) {
        FN(narrow_ctx) nx = {cfg, M, N, K, KC, mc, nrs, Mp, alpha, beta, A, rsa, csa, B, rsb, csb, C, rsc, csc, Apk};
        ct_parallel_for(nrs, 1, FN(narrow_task), &nx);
        return;
    }
    if (nthreads > 1 && P <= 32 && N <= NC && nbpan >= 8 * nthreads &&
        (double)M * (double)N * (double)K >= 2e5) {
        /* Every column share multiplies all of A: pack it once, in parallel, instead of once per
         * thread (same panels, same results). */
        T *own = NULL;
        if (!Apk && Mp * K >= 16384 && (own = ct_alloc_bytes((size_t)(Mp * K) * sizeof(T) + 64)) != NULL) {
            FN(packa_ctx) pq = {cfg, M, K, KC, Mp, nthreads, A, rsa, csa, own};
            ct_parallel_for(nthreads, 1, FN(packa_task), &pq);
            Apk = own;
        }
        ct_clear_error();
        FN(narrow_ctx) nx = {cfg, M, N, K, KC, mc, nthreads, Mp, alpha, beta, A, rsa, csa, B, rsb, csb, C, rsc, csc, Apk};
        ct_parallel_for(nthreads, 1, FN(wide_task), &nx);
        ct_free_bytes(own);
        return;
    }
    T *Bp = ct_alloc_bytes((size_t)nbpan * NR * (size_t)(K < KC ? K : KC) * sizeof(T) + 64);
    if (!Bp) {
        ct_clear_error();
        FN(gemm_naive)(M, N, K, alpha, A, rsa, csa, B, rsb, csb, beta, C, rsc, csc);
        return;
    }
    for (int64_t jc = 0; jc < N; jc += NC) {
        int64_t nc = N - jc < NC ? N - jc : NC;
        int64_t npanels = (nc + NR - 1) / NR;
        for (int64_t pc = 0; pc < K; pc += KC) {
            int64_t kc = K - pc < KC ? K - pc : KC;
            FN(packb_ctx) pb = {kc, nc, rsb, csb, NR, B + pc * rsb + jc * csb, Bp, cfg->pack_b_t};
            ct_parallel_for(npanels, 8, FN(packb_task), &pb);
            int64_t nsplit = (nthreads + nrs - 1) / nrs;
            if (nsplit > npanels) nsplit = npanels;
            FN(gemm_ctx) g = {cfg, M, kc, nc, mc, nrs, nsplit, npanels, alpha, pc == 0 ? beta : (T)1,
                              A + pc * csa, rsa, csa, Bp, C + jc * csc, rsc, csc, Apk ? Apk + pc * Mp : NULL};
            int64_t ntasks = nrs * nsplit;
            /* Tiny work stays on this thread. */
            if ((double)M * (double)nc * (double)kc < 2e5) {
                FN(gemm_task)(0, ntasks, &g);
            } else {
                ct_parallel_for(ntasks, 1, FN(gemm_task), &g);
            }
        }
    }
    ct_free_bytes(Bp);
}

#undef FN
#undef CAT
#undef CAT_
