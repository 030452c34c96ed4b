/* Normalisation kernels for one floating type (T, SUF), included by norm.c. Statistics are
 * accumulated in double with two passes (mean, then centred squares) as torch's CPU kernels.
 * Shapes: batch norm x (N, C, S); row norms (layer, group, rms) x (R, L) where a row is one
 * normalisation group; affine parameters are per element of the row (layer, rms: index j)
 * or per channel (group: channel (r % G) * Cg + j / S). */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, SUF)

/* sum and centred sum of squares of n values in double, 8 independent accumulators so the
 * compiler vectorises them */
static inline double FN(sum_d)(const T *p, int64_t n) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++) acc[k] += (double)p[j + k];
    double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; j < n; j++) s += (double)p[j];
    return s;
}

static inline double FN(sqdev_d)(const T *p, int64_t n, double mu) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++) {
            double d = (double)p[j + k] - mu;
            acc[k] += d * d;
        }
    double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; j < n; j++) {
        double d = (double)p[j] - mu;
        s += d * d;
    }
    return s;
}

/* sum of a[j] and of a[j] * (x[j] - mu) with a = g * w (w scalar) */
static inline void FN(dot2_d)(const T *g, const T *x, int64_t n, double w, double mu, double *sa, double *sax) {
    double a1[8] = {0, 0, 0, 0, 0, 0, 0, 0}, a2[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++) {
            double gv = (double)g[j + k];
            a1[k] += gv;
            a2[k] += gv * ((double)x[j + k] - mu);
        }
    double s1 = 0, s2 = 0;
    for (int k = 0; k < 8; k++) s1 += a1[k], s2 += a2[k];
    for (; j < n; j++) {
        s1 += (double)g[j];
        s2 += (double)g[j] * ((double)x[j] - mu);
    }
    *sa += w * s1;
    *sax += w * s2;
}

/* per-channel mean and sum of squared deviations, channels [c0, c1) */
static void FN(bn_stats_k)(const T *x, int64_t N, int64_t C, int64_t S, double *mean, double *m2, int64_t c0,
                           int64_t c1) {
    double M = (double)(N * S);
    for (int64_t c = c0; c < c1; c++) {
        double s = 0;
        for (int64_t n = 0; n < N; n++) s += FN(sum_d)(x + (n * C + c) * S, S);
        double mu = M > 0 ? s / M : 0;
        double q = 0;
        for (int64_t n = 0; n < N; n++) q += FN(sqdev_d)(x + (n * C + c) * S, S, mu);
        mean[c] = mu;
        m2[c] = q;
    }
}

/* y = x * alpha[c] + beta[c] over planes [p0, p1) of (N*C, S) */
static void FN(bn_apply_k)(const T *x, T *y, int64_t C, int64_t S, const double *alpha, const double *beta, int64_t p0,
                           int64_t p1) {
    for (int64_t pl = p0; pl < p1; pl++) {
        int64_t c = pl % C;
        T a = (T)alpha[c], b = (T)beta[c];
        const T *xp = x + pl * S;
        T *yp = y + pl * S;
        for (int64_t i = 0; i < S; i++) yp[i] = xp[i] * a + b;
    }
}

/* batch norm backward for channels [c0, c1): gi (may be NULL), gw/gb sums (double, may be NULL) */
static void FN(bn_bwd_k)(const T *g, const T *x, int64_t N, int64_t C, int64_t S, const double *mean,
                         const double *invstd, const double *w, bool training, T *gi, double *gw, double *gb,
                         int64_t c0, int64_t c1) {
    double M = (double)(N * S);
    for (int64_t c = c0; c < c1; c++) {
        double mu = mean[c], is = invstd[c], wc = w ? w[c] : 1.0;
        double sg = 0, dot = 0;
        for (int64_t n = 0; n < N; n++) FN(dot2_d)(g + (n * C + c) * S, x + (n * C + c) * S, S, 1.0, mu, &sg, &dot);
        if (gw) gw[c] = dot * is;
        if (gb) gb[c] = sg;
        if (!gi) continue;
        if (training) {
            double k = dot * is * is / M, gm = sg / M, f = is * wc;
            for (int64_t n = 0; n < N; n++) {
                const T *gp = g + (n * C + c) * S, *xp = x + (n * C + c) * S;
                T *op = gi + (n * C + c) * S;
                for (int64_t i = 0; i < S; i++) op[i] = (T)(((double)gp[i] - gm - ((double)xp[i] - mu) * k) * f);
            }
        } else {
            T f = (T)(is * wc);
            for (int64_t n = 0; n < N; n++) {
                const T *gp = g + (n * C + c) * S;
                T *op = gi + (n * C + c) * S;
                for (int64_t i = 0; i < S; i++) op[i] = gp[i] * f;
            }
        }
    }
}

/* row statistics for rows [r0, r1): mean and rstd (rms: mean is 0 and rstd uses mean(x^2)) */
static void FN(row_stats_k)(const T *x, int64_t L, double eps, bool rms, double *mean, double *rstd, int64_t r0,
                            int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
        const T *p = x + r * L;
        double mu = 0, q;
        if (!rms) mu = L ? FN(sum_d)(p, L) / (double)L : 0;
        q = FN(sqdev_d)(p, L, mu);
        mean[r] = mu;
        rstd[r] = 1.0 / sqrt((L ? q / (double)L : 0) + eps);
    }
}

/* y = (x - mean) * rstd * w + b per row; w/b per element (G == 0) or per channel (group) */
static void FN(row_apply_k)(const T *x, T *y, int64_t L, const double *mean, const double *rstd, const T *w,
                            const T *b, int64_t G, int64_t Cg, int64_t S, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
        const T *p = x + r * L;
        T *q = y + r * L;
        double mu = mean[r], rs = rstd[r];
        if (G == 0) {
            T m = (T)mu, s = (T)rs;
            for (int64_t j = 0; j < L; j++) {
                T v = (p[j] - m) * s;
                if (w) v *= w[j];
                if (b) v += b[j];
                q[j] = v;
            }
        } else {
            int64_t cbase = (r % G) * Cg;
            for (int64_t cc = 0; cc < Cg; cc++) {
                double wc = w ? (double)w[cbase + cc] : 1.0, bc = b ? (double)b[cbase + cc] : 0.0;
                T a = (T)(rs * wc), bb = (T)(bc - mu * rs * wc);
                const T *pp = p + cc * S;
                T *qq = q + cc * S;
                for (int64_t s = 0; s < S; s++) qq[s] = pp[s] * a + bb;
            }
        }
    }
}

/* row-norm backward of the input for rows [r0, r1):
 * a = g * w; gi = rstd * (a - mean(a) - xhat * mean(a * xhat)) (rms: no mean(a) term, xhat = x * rstd) */
static void FN(row_bwd_k)(const T *g, const T *x, int64_t L, const double *mean, const double *rstd, const T *w,
                          int64_t G, int64_t Cg, int64_t S, bool rms, T *gi, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
        const T *gp = g + r * L, *xp = x + r * L;
        T *op = gi + r * L;
        double mu = mean[r], rs = rstd[r];
        double sa = 0, sax = 0;
        int64_t cbase = G ? (r % G) * Cg : 0;
        if (G) {
            for (int64_t cc = 0; cc < Cg; cc++)
                FN(dot2_d)(gp + cc * S, xp + cc * S, S, w ? (double)w[cbase + cc] : 1.0, mu, &sa, &sax);
        } else if (!w) {
            FN(dot2_d)(gp, xp, L, 1.0, mu, &sa, &sax);
        } else {
            for (int64_t j = 0; j < L; j++) {
                double a = (double)gp[j] * (double)w[j];
                sa += a;
                sax += a * ((double)xp[j] - mu);
            }
        }
        sax *= rs;
        double ma = rms ? 0.0 : sa / (double)L, max_ = sax / (double)L;
        /* gi = rs * (g * w - ma - (x - mu) * rs * max_) */
        T c1 = (T)(rs * rs * max_), c0 = (T)(rs * ma), m = (T)mu;
        if (G) {
            for (int64_t cc = 0; cc < Cg; cc++) {
                T f = (T)(rs * (w ? (double)w[cbase + cc] : 1.0));
                const T *gq = gp + cc * S, *xq = xp + cc * S;
                T *oq = op + cc * S;
                for (int64_t s2 = 0; s2 < S; s2++) oq[s2] = gq[s2] * f - c0 - (xq[s2] - m) * c1;
            }
        } else {
            T f = (T)rs;
            for (int64_t j = 0; j < L; j++) op[j] = gp[j] * (w ? w[j] : (T)1) * f - c0 - (xp[j] - m) * c1;
        }
    }
}

/* per-element (layer, rms) weight/bias gradients for columns [j0, j1): sums over rows */
static void FN(row_wgrad_k)(const T *g, const T *x, int64_t R, int64_t L, const double *mean, const double *rstd,
                            double *gw, double *gb, int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; j++) {
        if (gw) gw[j] = 0;
        if (gb) gb[j] = 0;
    }
    for (int64_t r = 0; r < R; r++) {
        const T *gp = g + r * L, *xp = x + r * L;
        double mu = mean[r], rs = rstd[r];
        for (int64_t j = j0; j < j1; j++) {
            if (gw) gw[j] += (double)gp[j] * ((double)xp[j] - mu) * rs;
            if (gb) gb[j] += gp[j];
        }
    }
}

/* group norm weight/bias gradients for channels [c0, c1): x (N, C, S), rows (N, G) */
static void FN(group_wgrad_k)(const T *g, const T *x, int64_t N, int64_t C, int64_t S, int64_t G, const double *mean,
                              const double *rstd, double *gw, double *gb, int64_t c0, int64_t c1) {
    int64_t Cg = C / G;
    for (int64_t c = c0; c < c1; c++) {
        double sw = 0, sb = 0;
        for (int64_t n = 0; n < N; n++) {
            int64_t r = n * G + c / Cg;
            const T *gp = g + (n * C + c) * S, *xp = x + (n * C + c) * S;
            double mu = mean[r], rs = rstd[r];
            for (int64_t s = 0; s < S; s++) {
                sw += (double)gp[s] * ((double)xp[s] - mu) * rs;
                sb += gp[s];
            }
        }
        if (gw) gw[c] = sw;
        if (gb) gb[c] = sb;
    }
}

#undef FN
#undef CAT
#undef CAT_
