/* Convolution kernel template, included by conv.c once per float type with T (element type),
 * SFX (name suffix) and GEMM (ct_sgemm / ct_dgemm) defined. See NOTE [ Convolution geometry ]. */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, SFX)

/* Valid output range [lo, hi) along one dim for kernel tap offset `off` (= -p + tap*d):
 * positions o with 0 <= o*s + off < n. */
static inline void FN(valid_range)(int64_t osz, int64_t n, int64_t s, int64_t off, int64_t *lo, int64_t *hi) {
    int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t h = n - off <= 0 ? 0 : (n - off + s - 1) / s;
    if (h > osz) h = osz;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* col[Ci*K, l1-l0] <- columns [l0, l1) of im2col(image [Ci, isz]). */
static void FN(im2col_range)(const ct_conv_geom *g, const T *restrict img, T *restrict col, int64_t l0, int64_t l1) {
    const int64_t D = g->isz[0], H = g->isz[1], W = g->isz[2];
    const int64_t oH = g->osz[1], oW = g->osz[2], Lb = l1 - l0;
    const int64_t s0 = g->s[0], s1 = g->s[1], s2 = g->s[2];
    for (int64_t c = 0; c < g->Ci; c++)
        for (int64_t a = 0; a < g->k[0]; a++)
            for (int64_t b = 0; b < g->k[1]; b++)
                for (int64_t e = 0; e < g->k[2]; e++) {
                    T *dst = col + (((c * g->k[0] + a) * g->k[1] + b) * g->k[2] + e) * Lb;
                    const int64_t off0 = a * g->d[0] - g->p[0], off1 = b * g->d[1] - g->p[1],
                                  off2 = e * g->d[2] - g->p[2];
                    int64_t wlo, whi;
                    FN(valid_range)(oW, W, s2, off2, &wlo, &whi);
                    /* position of l0, then advanced run by run (no divisions per output row) */
                    int64_t od = l0 / (oH * oW), oh = l0 % (oH * oW) / oW, ow0 = l0 % oW;
                    for (int64_t l = l0; l < l1;) {
                        int64_t run = oW - ow0 < l1 - l ? oW - ow0 : l1 - l;
                        int64_t id = od * s0 + off0, ih = oh * s1 + off1;
                        if (id < 0 || id >= D || ih < 0 || ih >= H) {
                            for (int64_t i = 0; i < run; i++) dst[i] = 0;
                        } else {
                            const T *src = img + ((c * D + id) * H + ih) * W;
                            int64_t lo = wlo > ow0 ? wlo : ow0, hi = whi < ow0 + run ? whi : ow0 + run;
                            T *d = dst - ow0;
                            int64_t i = ow0;
                            for (; i < lo && i < ow0 + run; i++) d[i] = 0;
                            if (s2 == 1) {
                                for (; i < hi; i++) d[i] = src[i + off2];
                            } else {
                                for (; i < hi; i++) d[i] = src[i * s2 + off2];
                            }
                            for (; i < ow0 + run; i++) d[i] = 0;
                        }
                        dst += run;
                        l += run;
                        ow0 = 0;
                        if (++oh == oH) oh = 0, od++;
                    }
                }
}

/* image [Ci, isz] += col2im of the columns [l0, l1) held in col[Ci*K, l1-l0]. */
static void FN(col2im_range)(const ct_conv_geom *g, const T *restrict col, T *restrict img, int64_t l0, int64_t l1) {
    const int64_t D = g->isz[0], H = g->isz[1], W = g->isz[2];
    const int64_t oH = g->osz[1], oW = g->osz[2], Lb = l1 - l0;
    const int64_t s0 = g->s[0], s1 = g->s[1], s2 = g->s[2];
    for (int64_t c = 0; c < g->Ci; c++)
        for (int64_t a = 0; a < g->k[0]; a++)
            for (int64_t b = 0; b < g->k[1]; b++)
                for (int64_t e = 0; e < g->k[2]; e++) {
                    const T *src = col + (((c * g->k[0] + a) * g->k[1] + b) * g->k[2] + e) * Lb;
                    const int64_t off0 = a * g->d[0] - g->p[0], off1 = b * g->d[1] - g->p[1],
                                  off2 = e * g->d[2] - g->p[2];
                    int64_t wlo, whi;
                    FN(valid_range)(oW, W, s2, off2, &wlo, &whi);
                    /* position of l0, then advanced run by run (no divisions per output row) */
                    int64_t od = l0 / (oH * oW), oh = l0 % (oH * oW) / oW, ow0 = l0 % oW;
                    for (int64_t l = l0; l < l1;) {
                        int64_t run = oW - ow0 < l1 - l ? oW - ow0 : l1 - l;
                        int64_t id = od * s0 + off0, ih = oh * s1 + off1;
                        if (id >= 0 && id < D && ih >= 0 && ih < H) {
                            T *dst = img + ((c * D + id) * H + ih) * W;
                            int64_t lo = wlo > ow0 ? wlo : ow0, hi = whi < ow0 + run ? whi : ow0 + run;
                            const T *s = src - ow0;
                            if (s2 == 1) {
                                for (int64_t i = lo; i < hi; i++) dst[i + off2] += s[i];
                            } else {
                                for (int64_t i = lo; i < hi; i++) dst[i * s2 + off2] += s[i];
                            }
                        }
                        src += run;
                        l += run;
                        ow0 = 0;
                        if (++oh == oH) oh = 0, od++;
                    }
                }
}

static void FN(im2col)(const ct_conv_geom *g, const T *restrict img, T *restrict col) {
    FN(im2col_range)(g, img, col, 0, g->osz[0] * g->osz[1] * g->osz[2]);
}

static void FN(col2im)(const ct_conv_geom *g, const T *restrict col, T *restrict img) {
    FN(col2im_range)(g, col, img, 0, g->osz[0] * g->osz[1] * g->osz[2]);
}

/* Columns per block: the unfolded block (Ci*K x Lb) stays within about 8 MiB, a multiple of 48
 * (the micro-kernels' NR). Blocks only bound the buffer for big images: measured on a ResNet
 * 3x3 layer, L2-sized blocks (<= 2 MiB) were 5-30% slower than one block per image, the GEMM's
 * packing of the small operand and its per-call overhead outweighing the cache reuse. */
static int64_t FN(col_block)(const ct_conv_geom *g) {
    int64_t CiK = g->Ci * g->k[0] * g->k[1] * g->k[2], L = g->osz[0] * g->osz[1] * g->osz[2];
    int64_t lb = (int64_t)(8 * 1024 * 1024 / sizeof(T)) / (CiK > 0 ? CiK : 1);
    lb = lb / 48 * 48;
    if (lb < 96) lb = 96;
    return lb >= L ? L : lb;
}

/* One input channel per group (depthwise and channel-multiplier convolutions): a GEMM with
 * one reduction row per tap would waste the micro-kernel, so these loop over the taps directly,
 * with unit-stride inner loops along the last spatial dim.
 * mode 0: S[r] += w[r, tap] * img (forward), 1: img += w[r, tap] * S[r] (input gradient),
 * 2: gw[r, tap] += S[r] . img (weight gradient). r runs over the group's Cs column channels. */
static void FN(dw_taps)(const ct_conv_geom *g, int mode, T *img, const T *w, T *S, T *gw) {
    const int64_t D = g->isz[0], H = g->isz[1], W = g->isz[2];
    const int64_t oD = g->osz[0], oH = g->osz[1], oW = g->osz[2], L = oD * oH * oW;
    const int64_t K = g->k[0] * g->k[1] * g->k[2], s2 = g->s[2];
    T rowbuf[256];
    T *rowacc = mode == 2 && oW <= 256 ? rowbuf : NULL; /* wider rows: scalar partial sums */
    for (int64_t r = 0; r < g->Cs; r++) {
        T *Sr = S + r * L;
        int64_t t = 0;
        for (int64_t a = 0; a < g->k[0]; a++)
            for (int64_t b = 0; b < g->k[1]; b++)
                for (int64_t e = 0; e < g->k[2]; e++, t++) {
                    const int64_t off0 = a * g->d[0] - g->p[0], off1 = b * g->d[1] - g->p[1],
                                  off2 = e * g->d[2] - g->p[2];
                    int64_t wlo, whi;
                    FN(valid_range)(oW, W, s2, off2, &wlo, &whi);
                    if (wlo >= whi) continue;
                    const T wv = mode == 2 ? 0 : w[r * K + t];
                    T acc = 0;
                    if (rowacc)
                        for (int64_t i = 0; i < whi - wlo; i++) rowacc[i] = 0;
                    for (int64_t od = 0; od < oD; od++) {
                        int64_t id = od * g->s[0] + off0;
                        if (id < 0 || id >= D) continue;
                        for (int64_t oh = 0; oh < oH; oh++) {
                            int64_t ih = oh * g->s[1] + off1;
                            if (ih < 0 || ih >= H) continue;
                            T *src = img + (id * H + ih) * W + (wlo * s2 + off2);
                            T *dst = Sr + (od * oH + oh) * oW + wlo;
                            int64_t cnt = whi - wlo;
                            if (mode == 0) {
                                if (s2 == 1)
                                    for (int64_t i = 0; i < cnt; i++) dst[i] += wv * src[i];
                                else
                                    for (int64_t i = 0; i < cnt; i++) dst[i] += wv * src[i * s2];
                            } else if (mode == 1) {
                                if (s2 == 1)
                                    for (int64_t i = 0; i < cnt; i++) src[i] += wv * dst[i];
                                else
                                    for (int64_t i = 0; i < cnt; i++) src[i * s2] += wv * dst[i];
                            } else if (rowacc) { /* elementwise partial sums: vectorisable in order */
                                if (s2 == 1)
                                    for (int64_t i = 0; i < cnt; i++) rowacc[i] += dst[i] * src[i];
                                else
                                    for (int64_t i = 0; i < cnt; i++) rowacc[i] += dst[i] * src[i * s2];
                            } else {
                                T part = 0;
                                for (int64_t i = 0; i < cnt; i++) part += dst[i] * src[i * s2];
                                acc += part;
                            }
                        }
                    }
                    if (rowacc)
                        for (int64_t i = 0; i < whi - wlo; i++) acc += rowacc[i];
                    if (mode == 2) gw[r * K + t] += acc;
                }
    }
}

typedef struct FN(conv_ctx) {
    const ct_conv_geom *g;
    const T *img, *w, *bias, *S;
    T *out;
    T *gw; /* weight grad: per-chunk buffers (nchunks * wsize) */
    int64_t nchunks, lb, nblk;
    int failed;
} FN(conv_ctx);

static int FN(is_direct)(const ct_conv_geom *g) {
    for (int i = 0; i < 3; i++)
        if (g->k[i] != 1 || g->s[i] != 1 || g->p[i] != 0) return 0;
    return 1;
}

/* A task's im2col buffer (CiK x lb); NULL after marking the job failed (out of memory). */
static T *FN(col_buffer)(FN(conv_ctx) * c, int64_t CiK) {
    T *col = ct_alloc_bytes((size_t)CiK * (size_t)c->lb * sizeof(T));
    if (!col) {
        ct_clear_error();
        c->failed = 1;
    }
    return col;
}

/* items: (n, group, column block) */
static void FN(img2cols_task)(int64_t begin, int64_t end, void *vctx) {
    FN(conv_ctx) *c = vctx;
    const ct_conv_geom *g = c->g;
    const int64_t K = g->k[0] * g->k[1] * g->k[2], L = g->osz[0] * g->osz[1] * g->osz[2];
    const int64_t IL = g->isz[0] * g->isz[1] * g->isz[2], CiK = g->Ci * K;
    const int direct = FN(is_direct)(g), dw = g->Ci == 1 && !direct;
    T *col = NULL;
    if (!direct && !dw && !(col = FN(col_buffer)(c, CiK))) return;
    for (int64_t t = begin; t < end; t++) {
        int64_t blk = t % c->nblk, ng = t / c->nblk, n = ng / g->G, gr = ng % g->G;
        const T *im = c->img + (n * g->G + gr) * g->Ci * IL;
        T *S = c->out + (n * g->G + gr) * g->Cs * L;
        if (dw) {
            for (int64_t r = 0; r < g->Cs; r++) {
                T bv = c->bias ? c->bias[gr * g->Cs + r] : 0;
                for (int64_t i = 0; i < L; i++) S[r * L + i] = bv;
            }
            FN(dw_taps)(g, 0, (T *)im, c->w + gr * g->Cs * CiK, S, NULL);
            continue;
        }
        int64_t l0 = blk * c->lb, l1 = l0 + c->lb < L ? l0 + c->lb : L, lb = l1 - l0;
        const T *B;
        int64_t ldb;
        if (direct) {
            B = im + l0;
            ldb = L;
        } else {
            FN(im2col_range)(g, im, col, l0, l1);
            B = col;
            ldb = lb;
        }
        GEMM(g->Cs, lb, CiK, 1, c->w + gr * g->Cs * CiK, CiK, 1, B, ldb, 1, 0, S + l0, L, 1);
        if (c->bias)
            for (int64_t r = 0; r < g->Cs; r++) {
                T bv = c->bias[gr * g->Cs + r];
                T *row = S + r * L + l0;
                for (int64_t i = 0; i < lb; i++) row[i] += bv;
            }
    }
    ct_free_bytes(col);
}

/* items: (n, group); column blocks in order (they scatter into overlapping image parts) */
static void FN(cols2img_task)(int64_t begin, int64_t end, void *vctx) {
    FN(conv_ctx) *c = vctx;
    const ct_conv_geom *g = c->g;
    const int64_t K = g->k[0] * g->k[1] * g->k[2], L = g->osz[0] * g->osz[1] * g->osz[2];
    const int64_t IL = g->isz[0] * g->isz[1] * g->isz[2], CiK = g->Ci * K;
    const int direct = FN(is_direct)(g), dw = g->Ci == 1 && !direct;
    T *col = NULL;
    if (!direct && !dw && !(col = FN(col_buffer)(c, CiK))) return;
    for (int64_t t = begin; t < end; t++) {
        int64_t n = t / g->G, gr = t % g->G;
        T *im = c->out + (n * g->G + gr) * g->Ci * IL;
        const T *S = c->S + (n * g->G + gr) * g->Cs * L;
        const T *A = c->w + gr * g->Cs * CiK;
        if (dw) {
            for (int64_t i = 0; i < IL; i++) im[i] = 0;
            FN(dw_taps)(g, 1, im, A, (T *)S, NULL);
        } else if (direct) {
            GEMM(CiK, L, g->Cs, 1, A, 1, CiK, S, L, 1, 0, im, L, 1);
        } else {
            for (int64_t i = 0; i < g->Ci * IL; i++) im[i] = 0;
            for (int64_t l0 = 0; l0 < L; l0 += c->lb) {
                int64_t l1 = l0 + c->lb < L ? l0 + c->lb : L;
                GEMM(CiK, l1 - l0, g->Cs, 1, A, 1, CiK, S + l0, L, 1, 0, col, l1 - l0, 1);
                FN(col2im_range)(g, col, im, l0, l1);
            }
        }
        if (c->bias)
            for (int64_t r = 0; r < g->Ci; r++) {
                T bv = c->bias[gr * g->Ci + r];
                T *row = im + r * IL;
                for (int64_t i = 0; i < IL; i++) row[i] += bv;
            }
    }
    ct_free_bytes(col);
}

/* items: batch chunks, each accumulating into its own weight-gradient buffer */
static void FN(wgrad_task)(int64_t begin, int64_t end, void *vctx) {
    FN(conv_ctx) *c = vctx;
    const ct_conv_geom *g = c->g;
    const int64_t K = g->k[0] * g->k[1] * g->k[2], L = g->osz[0] * g->osz[1] * g->osz[2];
    const int64_t IL = g->isz[0] * g->isz[1] * g->isz[2], CiK = g->Ci * K;
    const int64_t wsize = g->G * g->Cs * CiK;
    const int direct = FN(is_direct)(g);
    T *col = NULL;
    if (!direct && !(col = FN(col_buffer)(c, CiK))) return;
    for (int64_t ch = begin; ch < end; ch++) {
        int64_t n0 = g->N * ch / c->nchunks, n1 = g->N * (ch + 1) / c->nchunks;
        T *gw = c->gw + ch * wsize;
        for (int64_t i = 0; i < wsize; i++) gw[i] = 0;
        for (int64_t n = n0; n < n1; n++)
            for (int64_t gr = 0; gr < g->G; gr++) {
                const T *im = c->img + (n * g->G + gr) * g->Ci * IL;
                const T *S = c->S + (n * g->G + gr) * g->Cs * L;
                T *gwg = gw + gr * g->Cs * CiK;
                if (direct) {
                    GEMM(g->Cs, CiK, L, 1, S, L, 1, im, 1, L, 1, gwg, CiK, 1);
                } else {
                    for (int64_t l0 = 0; l0 < L; l0 += c->lb) {
                        int64_t l1 = l0 + c->lb < L ? l0 + c->lb : L;
                        FN(im2col_range)(g, im, col, l0, l1);
                        GEMM(g->Cs, CiK, l1 - l0, 1, S + l0, L, 1, col, 1, l1 - l0, 1, gwg, CiK, 1);
                    }
                }
            }
    }
    ct_free_bytes(col);
}

/* Scheduling: work items run in parallel with single-threaded GEMMs inside when there are at
 * least as many items as threads; with fewer (small batch), the items run one after another on
 * this thread and each GEMM is parallel inside. */
static int FN(img2cols)(const ct_conv_geom *g, const T *img, const T *w, const T *bias, T *S) {
    int64_t L = g->osz[0] * g->osz[1] * g->osz[2], lb = FN(col_block)(g);
    int64_t nt = ct_get_num_threads(), ng = g->N * g->G;
    bool blocked = !(FN(is_direct)(g) || g->Ci == 1 || L == 0);
    if (blocked && ng < nt) { /* more column blocks so that every thread has one */
        int64_t per = (nt + ng - 1) / ng, want = ((L + per - 1) / per + 47) / 48 * 48;
        if (want < lb) lb = want;
    }
    int64_t nblk = blocked ? (L + lb - 1) / lb : 1;
    if (nblk == 1) lb = L;
    FN(conv_ctx) c = {g, img, w, bias, NULL, S, NULL, 0, lb, nblk, 0};
    ct_parallel_for(ng * nblk, 1, FN(img2cols_task), &c);
    return c.failed ? ct_errorf(CT_ERR_MEMORY, "[conv] out of memory") : 0;
}

static int FN(cols2img)(const ct_conv_geom *g, const T *S, const T *w, const T *bias, T *img) {
    FN(conv_ctx) c = {g, NULL, w, bias, S, img, NULL, 0, FN(col_block)(g), 1, 0};
    int64_t ng = g->N * g->G;
    if (ng >= ct_get_num_threads() || g->Ci == 1)
        ct_parallel_for(ng, 1, FN(cols2img_task), &c);
    else
        FN(cols2img_task)(0, ng, &c);
    return c.failed ? ct_errorf(CT_ERR_MEMORY, "[conv] out of memory") : 0;
}

/* depthwise weight gradient: groups are independent, each sums over the batch */
static void FN(dw_wgrad_task)(int64_t begin, int64_t end, void *vctx) {
    FN(conv_ctx) *c = vctx;
    const ct_conv_geom *g = c->g;
    const int64_t K = g->k[0] * g->k[1] * g->k[2], L = g->osz[0] * g->osz[1] * g->osz[2];
    const int64_t IL = g->isz[0] * g->isz[1] * g->isz[2];
    for (int64_t gr = begin; gr < end; gr++) {
        T *gwg = c->gw + gr * g->Cs * K;
        for (int64_t i = 0; i < g->Cs * K; i++) gwg[i] = 0;
        for (int64_t n = 0; n < g->N; n++)
            FN(dw_taps)(g, 2, (T *)(c->img + (n * g->G + gr) * IL), NULL, (T *)(c->S + (n * g->G + gr) * g->Cs * L),
                        gwg);
    }
}

static int FN(weight_grad)(const ct_conv_geom *g, const T *S, const T *img, T *gw) {
    const int64_t wsize = g->G * g->Cs * g->Ci * g->k[0] * g->k[1] * g->k[2];
    if (g->Ci == 1 && !FN(is_direct)(g)) {
        FN(conv_ctx) c = {g, img, NULL, NULL, S, NULL, gw, 1, 0, 1, 0};
        ct_parallel_for(g->G, 1, FN(dw_wgrad_task), &c);
        return 0;
    }
    int64_t nchunks = ct_get_num_threads();
    if (nchunks > g->N) nchunks = 1; /* small batch: one chunk, parallel GEMMs */
    if (g->N == 0) {
        for (int64_t i = 0; i < wsize; i++) gw[i] = 0;
        return 0;
    }
    T *buf = gw;
    if (nchunks > 1) {
        buf = ct_alloc_bytes((size_t)nchunks * (size_t)wsize * sizeof(T));
        if (!buf) return -1;
    }
    FN(conv_ctx) c = {g, img, NULL, NULL, S, NULL, buf, nchunks, FN(col_block)(g), 1, 0};
    ct_parallel_for(nchunks, 1, FN(wgrad_task), &c);
    if (nchunks > 1) {
        for (int64_t i = 0; i < wsize; i++) {
            T acc = buf[i];
            for (int64_t ch = 1; ch < nchunks; ch++) acc += buf[ch * wsize + i];
            gw[i] = acc;
        }
        ct_free_bytes(buf);
    }
    return c.failed ? ct_errorf(CT_ERR_MEMORY, "[conv] out of memory") : 0;
}

typedef struct FN(bias_ctx) {
    int64_t N, C, L;
    const T *t;
    T *gb;
} FN(bias_ctx);

static void FN(bias_task)(int64_t begin, int64_t end, void *vctx) {
    const FN(bias_ctx) *b = vctx;
    if (b->L == 1) { /* linear layers: column sums of [N, C], rows streamed, vectorised along c */
        double acc[256];
        for (int64_t c0 = begin; c0 < end; c0 += 256) {
            int64_t cn = end - c0 < 256 ? end - c0 : 256;
            for (int64_t c = 0; c < cn; c++) acc[c] = 0;
            for (int64_t n = 0; n < b->N; n++) {
                const T *row = b->t + n * b->C + c0;
                for (int64_t c = 0; c < cn; c++) acc[c] += row[c];
            }
            for (int64_t c = 0; c < cn; c++) b->gb[c0 + c] = (T)acc[c];
        }
        return;
    }
    for (int64_t c = begin; c < end; c++) {
        double acc = 0;
        for (int64_t n = 0; n < b->N; n++) {
            const T *row = b->t + (n * b->C + c) * b->L;
            T lanes[16] = {0}, part = 0; /* 16 partial sums: the compiler vectorises them */
            int64_t i = 0;
            for (; i + 16 <= b->L; i += 16)
                for (int j = 0; j < 16; j++) lanes[j] += row[i + j];
            for (; i < b->L; i++) part += row[i];
            for (int j = 0; j < 16; j++) part += lanes[j];
            acc += part;
        }
        b->gb[c] = (T)acc;
    }
}

static void FN(bias_grad)(int64_t N, int64_t C, int64_t L, const T *t, T *gb) {
    FN(bias_ctx) b = {N, C, L, t, gb};
    ct_parallel_for(C, 32768 / (N * L + 1) + 1, FN(bias_task), &b);
}

#undef FN
#undef CAT
#undef CAT_
