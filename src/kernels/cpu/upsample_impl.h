/* Separable resampling kernels for one floating type (T, SUF), included by upsample.c.
 * Each output position along a spatial dim reads `ntaps` input positions (nearest 1,
 * linear 2, cubic 4) with weights; taps are computed in T as torch's opmath for the type.
 * Data: contiguous (planes, D, H, W), 1-d/2-d as 3-d with leading sizes 1. */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, SUF)

/* taps of one dim: idx[o * nt + t], w[o * nt + t] */
static void FN(taps)(int mode, int64_t in, int64_t out, bool align, const double *scale, bool shortcuts, int64_t *idx,
                     double *w) {
    if (mode == UP_NEAREST || mode == UP_NEAREST_EXACT) {
        float sc = (scale && *scale > 0) ? (float)(1.0 / *scale) : (float)in / (float)out;
        for (int64_t o = 0; o < out; o++) {
            int64_t s;
            if (mode == UP_NEAREST) {
                /* torch's 2-d nearest forward and its nearest backwards copy (same size) or
                 * shift (double size) whatever the scale; its 1-d and 3-d forwards use the scale */
                if (shortcuts && out == in) s = o;
                else if (shortcuts && out == 2 * in) s = o >> 1;
                else s = (int64_t)floorf((float)o * sc);
            } else {
                s = (int64_t)floorf((float)(((double)o + 0.5) * (double)sc));
            }
            idx[o] = s < in - 1 ? s : in - 1;
            w[o] = 1;
        }
        return;
    }
    bool cubic = mode == UP_CUBIC;
    if (!cubic && in == out) { /* torch's linear kernels copy a dim whose size does not change */
        for (int64_t o = 0; o < out; o++) idx[2 * o] = idx[2 * o + 1] = o, w[2 * o] = 1.0, w[2 * o + 1] = 0.0;
        return;
    }
    T sc;
    if (align) sc = out > 1 ? (T)(in - 1) / (T)(out - 1) : (T)0;
    else sc = (scale && *scale > 0) ? (T)(1.0 / *scale) : (T)in / (T)out;
    for (int64_t o = 0; o < out; o++) {
        T real;
        if (align) real = sc * (T)o;
        else {
            real = sc * ((T)o + (T)0.5) - (T)0.5;
            if (!cubic && real < 0) real = 0;
        }
        int64_t i0 = (int64_t)floor(real);
        if (i0 > in - 1) i0 = in - 1;
        T lam = real - (T)i0;
        if (lam < 0) lam = 0;
        if (lam > 1) lam = 1;
        if (!cubic) {
            int64_t i1 = i0 + (i0 < in - 1 ? 1 : 0);
            idx[2 * o] = i0, w[2 * o] = (double)((T)1 - lam);
            idx[2 * o + 1] = i1, w[2 * o + 1] = (double)lam;
        } else {
            const T A = (T)-0.75;
            T x1 = lam, c[4];
            T y = x1 + 1;
            c[0] = ((A * y - 5 * A) * y + 8 * A) * y - 4 * A;
            c[1] = ((A + 2) * x1 - (A + 3)) * x1 * x1 + 1;
            y = 1 - x1;
            c[2] = ((A + 2) * y - (A + 3)) * y * y + 1;
            y = 2 - x1;
            c[3] = ((A * y - 5 * A) * y + 8 * A) * y - 4 * A;
            for (int t = 0; t < 4; t++) {
                int64_t ii = i0 - 1 + t;
                ii = ii < 0 ? 0 : ii > in - 1 ? in - 1 : ii;
                idx[4 * o + t] = ii, w[4 * o + t] = (double)c[t];
            }
        }
    }
}

/* antialiased (separable filter) taps, torch's _upsample_{bilinear,bicubic}2d_aa: the filter
 * (triangle for linear, cubic convolution with A = -0.5 for cubic, Lanczos-3 windowed sinc) is stretched by the
 * downscale factor; per output o the input window [xmin, xmin + xsize) around the centre
 * scale * (o + 0.5), weights normalised to sum 1. Padded to nt taps with weight 0. */
static T FN(aa_scale)(int64_t in, int64_t out, bool align, const double *scale) {
    if (align) return out > 1 ? (T)(in - 1) / (T)(out - 1) : (T)0;
    return (scale && *scale > 0) ? (T)(1.0 / *scale) : (T)in / (T)out;
}

static T FN(aa_support)(int mode, T sc) {
    T half = mode == UP_CUBIC_AA ? (T)2 : mode == UP_LANCZOS_AA ? (T)3 : (T)1; /* interp_size / 2 */
    return sc >= (T)1 ? half * sc : half;
}

static int FN(aa_ntaps)(int mode, int64_t in, int64_t out, bool align, const double *scale) {
    T sup = FN(aa_support)(mode, FN(aa_scale)(in, out, align, scale));
    return (int)ceil((double)sup) * 2 + 1;
}

static T FN(aa_filter)(int mode, T x) {
    x = x < 0 ? -x : x;
    if (mode == UP_LINEAR_AA) return x < (T)1 ? (T)1 - x : (T)0;
    if (mode == UP_LANCZOS_AA) { /* Lanczos-3: sinc(x) sinc(x / 3) on [0, 3) */
        if (!(x < (T)3)) return 0;
        if (x == 0) return 1;
        double px = M_PI * (double)x, px3 = px / 3;
        return (T)((sin(px) / px) * (sin(px3) / px3));
    }
    const T A = (T)-0.5;
    if (x < (T)1) return ((A + 2) * x - (A + 3)) * x * x + 1;
    if (x < (T)2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    return 0;
}

static void FN(taps_aa)(int mode, int64_t in, int64_t out, bool align, const double *scale, int nt, int64_t *idx,
                        double *w) {
    T sc = FN(aa_scale)(in, out, align, scale);
    T sup = FN(aa_support)(mode, sc);
    T invscale = sc >= (T)1 ? (T)1 / sc : (T)1;
    for (int64_t o = 0; o < out; o++) {
        T center = (T)((double)sc * ((double)o + 0.5));
        int64_t xmin = (int64_t)((double)(center - sup) + 0.5);
        if (xmin < 0) xmin = 0;
        int64_t xend = (int64_t)((double)(center + sup) + 0.5);
        if (xend > in) xend = in;
        int64_t xsize = xend - xmin;
        if (xsize > nt) xsize = nt;
        if (xsize < 0) xsize = 0;
        T total = 0;
        for (int64_t j = 0; j < nt; j++) { /* w holds T values until normalised */
            T v = j < xsize ? FN(aa_filter)(mode, (T)(((double)(j + xmin) - (double)center + 0.5) * (double)invscale))
                            : (T)0;
            idx[o * nt + j] = j < xsize ? xmin + j : (xsize > 0 ? xmin : 0);
            w[o * nt + j] = (double)v;
            total += v;
        }
        if (total != (T)0)
            for (int64_t j = 0; j < xsize; j++) w[o * nt + j] = (double)((T)w[o * nt + j] / total);
    }
}

/* weights of dim i in T (float copies are made by up_setup for float32) */
static inline const T *FN(wts)(const upgeom *g, int i) {
    return sizeof(T) == sizeof(float) ? (const T *)(const void *)g->wf[i] : (const T *)(const void *)g->w[i];
}

/* y[p, od, oh, ow] = sum_a wd sum_b wh sum_c ww x[p, id, ih, iw] for planes [p0, p1); one
 * output row at a time: nearest rows are gathers, others accumulate (wd*wh) * (W-interpolated
 * source row) in torch's order for the 2-d case: h0 * (w0 x00 + w1 x01) + h1 * (...) */
static void FN(up_fwd_k)(const upgeom *g, const T *x, T *y, int64_t p0, int64_t p1) {
    int64_t isz = g->in[0] * g->in[1] * g->in[2], osz = g->out[0] * g->out[1] * g->out[2];
    int n0 = g->nt[0], n1 = g->nt[1], n2 = g->nt[2];
    int64_t OW = g->out[2];
    const T *w0 = FN(wts)(g, 0), *w1 = FN(wts)(g, 1), *w2 = FN(wts)(g, 2);
    const int64_t *i2 = g->idx[2];
    for (int64_t p = p0; p < p1; p++) {
        const T *xp = x + p * isz;
        T *yp = y + p * osz;
        for (int64_t od = 0; od < g->out[0]; od++)
            for (int64_t oh = 0; oh < g->out[1]; oh++) {
                T *row = yp + (od * g->out[1] + oh) * OW;
                if (n0 == 1 && n1 == 1 && n2 == 1 && w0[od] == (T)1 && w1[oh] == (T)1) {
                    const T *xr = xp + (g->idx[0][od] * g->in[1] + g->idx[1][oh]) * g->in[2];
                    for (int64_t ow = 0; ow < OW; ow++) row[ow] = xr[i2[ow]];
                    continue;
                }
                bool first = true;
                for (int a = 0; a < n0; a++)
                    for (int b = 0; b < n1; b++) {
                        T coef = w0[od * n0 + a] * w1[oh * n1 + b];
                        if (n0 == 1) coef = w1[oh * n1 + b];
                        const T *xr = xp + (g->idx[0][od * n0 + a] * g->in[1] + g->idx[1][oh * n1 + b]) * g->in[2];
                        if (n2 == 2) {
                            for (int64_t ow = 0; ow < OW; ow++) {
                                T v = coef * (w2[2 * ow] * xr[i2[2 * ow]] + w2[2 * ow + 1] * xr[i2[2 * ow + 1]]);
                                row[ow] = first ? v : row[ow] + v;
                            }
                        } else {
                            for (int64_t ow = 0; ow < OW; ow++) {
                                T acc = 0;
                                for (int c = 0; c < n2; c++) acc += w2[ow * n2 + c] * xr[i2[ow * n2 + c]];
                                T v = coef * acc;
                                row[ow] = first ? v : row[ow] + v;
                            }
                        }
                        first = false;
                    }
            }
    }
}

/* adjoint: gx (zero-filled) += weights * gy */
static void FN(up_bwd_k)(const upgeom *g, const T *gy, T *gx, int64_t p0, int64_t p1) {
    int64_t isz = g->in[0] * g->in[1] * g->in[2], osz = g->out[0] * g->out[1] * g->out[2];
    int n0 = g->nt[0], n1 = g->nt[1], n2 = g->nt[2];
    int64_t OW = g->out[2];
    const T *w0 = FN(wts)(g, 0), *w1 = FN(wts)(g, 1), *w2 = FN(wts)(g, 2);
    const int64_t *i2 = g->idx[2];
    for (int64_t p = p0; p < p1; p++) {
        T *xp = gx + p * isz;
        const T *yp = gy + p * osz;
        for (int64_t od = 0; od < g->out[0]; od++)
            for (int64_t oh = 0; oh < g->out[1]; oh++) {
                const T *row = yp + (od * g->out[1] + oh) * OW;
                for (int a = 0; a < n0; a++)
                    for (int b = 0; b < n1; b++) {
                        T coef = w0[od * n0 + a] * w1[oh * n1 + b];
                        T *xr = xp + (g->idx[0][od * n0 + a] * g->in[1] + g->idx[1][oh * n1 + b]) * g->in[2];
                        for (int64_t ow = 0; ow < OW; ow++) {
                            T v = coef * row[ow];
                            for (int c = 0; c < n2; c++) xr[i2[ow * n2 + c]] += w2[ow * n2 + c] * v;
                        }
                    }
            }
    }
}

/* antialiased 2-d resampling as two separable passes. W pass: rows of `iw` values -> rows of `ow`,
 * a dot product over the contiguous run of real taps per output (cnt); H pass: (ih, C) -> (oh, C),
 * vectorised over the C columns. The order (W first as torch, or H first) is picked by cost in
 * upsample.c; the backward kernels are the exact adjoints of the passes. */
static void FN(aa_wpass)(const upgeom *g, const int *cnt, const T *src, int64_t rows, T *dst) {
    const int64_t IW = g->in[2], OW = g->out[2];
    const int nw = g->nt[2];
    const T *ww = FN(wts)(g, 2);
    const int64_t *iw = g->idx[2];
    for (int64_t r = 0; r < rows; r++) {
        const T *xr = src + r * IW;
        T *dr = dst + r * OW;
        for (int64_t o = 0; o < OW; o++) {
            const T *wo = ww + o * nw, *xs = xr + iw[o * nw];
            T acc = 0;
            for (int t = 0; t < cnt[o]; t++) acc += wo[t] * xs[t];
            dr[o] = acc;
        }
    }
}

static void FN(aa_hpass)(const upgeom *g, const T *src, int64_t C, T *dst) {
    const int64_t OH = g->out[1];
    const int nh = g->nt[1];
    const T *wh = FN(wts)(g, 1);
    const int64_t *ih = g->idx[1];
    for (int64_t o = 0; o < OH; o++) {
        T *dr = dst + o * C;
        for (int64_t c = 0; c < C; c++) dr[c] = 0;
        for (int t = 0; t < nh; t++) {
            T w = wh[o * nh + t];
            if (w == (T)0) continue;
            const T *sr = src + ih[o * nh + t] * C;
            for (int64_t c = 0; c < C; c++) dr[c] += w * sr[c];
        }
    }
}

/* adjoint of aa_wpass: dst (rows, IW) zero-filled here, += */
static void FN(aa_wpass_t)(const upgeom *g, const int *cnt, const T *src, int64_t rows, T *dst) {
    const int64_t IW = g->in[2], OW = g->out[2];
    const int nw = g->nt[2];
    const T *ww = FN(wts)(g, 2);
    const int64_t *iw = g->idx[2];
    for (int64_t k = 0; k < rows * IW; k++) dst[k] = 0;
    for (int64_t r = 0; r < rows; r++) {
        const T *sr = src + r * OW;
        T *xr = dst + r * IW;
        for (int64_t o = 0; o < OW; o++) {
            const T *wo = ww + o * nw;
            T *xs = xr + iw[o * nw], v = sr[o];
            for (int t = 0; t < cnt[o]; t++) xs[t] += wo[t] * v;
        }
    }
}

/* adjoint of aa_hpass: dst (IH, C) zero-filled here, += */
static void FN(aa_hpass_t)(const upgeom *g, const T *src, int64_t C, T *dst) {
    const int64_t IH = g->in[1], OH = g->out[1];
    const int nh = g->nt[1];
    const T *wh = FN(wts)(g, 1);
    const int64_t *ih = g->idx[1];
    for (int64_t k = 0; k < IH * C; k++) dst[k] = 0;
    for (int64_t o = 0; o < OH; o++) {
        const T *sr = src + o * C;
        for (int t = 0; t < nh; t++) {
            T w = wh[o * nh + t];
            if (w == (T)0) continue;
            T *dr = dst + ih[o * nh + t] * C;
            for (int64_t c = 0; c < C; c++) dr[c] += w * sr[c];
        }
    }
}

/* planes [p0, p1): forward (bwd false: x -> y) or adjoint (gy -> gx); tmp holds
 * max(IH * OW, OH * IW) values */
static void FN(aa_k)(const upgeom *g, const int *cnt, bool h_first, bool bwd, const T *src, T *dst, T *tmp,
                     int64_t p0, int64_t p1) {
    const int64_t IH = g->in[1], IW = g->in[2], OH = g->out[1], OW = g->out[2];
    int64_t ssz = bwd ? OH * OW : IH * IW, dsz = bwd ? IH * IW : OH * OW;
    for (int64_t p = p0; p < p1; p++) {
        const T *sp = src + p * ssz;
        T *dp = dst + p * dsz;
        if (!bwd && !h_first) FN(aa_wpass)(g, cnt, sp, IH, tmp), FN(aa_hpass)(g, tmp, OW, dp);
        else if (!bwd) FN(aa_hpass)(g, sp, IW, tmp), FN(aa_wpass)(g, cnt, tmp, OH, dp);
        else if (!h_first) FN(aa_hpass_t)(g, sp, OW, tmp), FN(aa_wpass_t)(g, cnt, tmp, IH, dp);
        else FN(aa_wpass_t)(g, cnt, sp, OH, tmp), FN(aa_hpass_t)(g, tmp, IW, dp);
    }
}

#undef FN
#undef CAT
#undef CAT_
