/* Recurrent layers: one layer and one direction over a whole (packed) sequence, forward and fused
 * backward through time (ops nn_rnn_layer / nn_rnn_layer_backward, src/ops/nn_rnn.ops).
 *
 * NOTE [ RNN layer layout ]
 * The caller computes the input projections of all time steps with one GEMM: xg (N, G) =
 * x @ W_ih^T + b_ih, rows in packed order (time step t owns batch_sizes[t] consecutive rows, the
 * sizes non-increasing; an unpacked (T, B) input is the case batch_sizes = [B] * T). Per step the
 * kernel does one GEMM h @ W_hh^T (+ b_hh) for the active rows and the gate math; rows past
 * batch_sizes[t] keep their state, which gives the right final state of shorter sequences in the
 * forward direction and the right initial state of them in the reverse one. Gate order is
 * torch's: LSTM (i, f, g, o), GRU (r, z, n). LSTM with proj_size projects h = (o * tanh c) @ W_hr^T.
 * The workspace (N, W) keeps per row what the backward needs (activated gates, cell states, the
 * previous hidden state), so the backward is a loop of elementwise work plus one GEMM per step
 * and three large GEMMs at the end (dW_hh, dW_hr, db_hh). */
#pragma GCC optimize("no-trapping-math")

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ctorch/ops_gen.h"
#include "../../core/internal.h"
#include "gemm.h"
#include "vmath.h"

enum { RNN_TANH = 0, RNN_RELU = 1, RNN_LSTM = 2, RNN_GRU = 3 };

typedef struct {
    int mode;
    int64_t H, P, G, W;           /* hidden, output (proj) size, gate width, workspace width */
    int64_t o_c, o_cp, o_hpre, o_hp; /* workspace column offsets */
} rnn_geom;

static int rnn_geometry(int mode, int64_t H, int64_t P, rnn_geom *g) {
    memset(g, 0, sizeof *g);
    g->mode = mode;
    g->H = H;
    g->P = P;
    switch (mode) {
    case RNN_TANH:
    case RNN_RELU: /* [h_new H | h_prev H] */
        g->G = H;
        g->o_hp = H;
        g->W = 2 * H;
        break;
    case RNN_LSTM: /* [i f g o 4H | c H | c_prev H | h_pre H | h_prev P] */
        g->G = 4 * H;
        g->o_c = 4 * H;
        g->o_cp = 5 * H;
        g->o_hpre = 6 * H;
        g->o_hp = 7 * H;
        g->W = 7 * H + P;
        break;
    case RNN_GRU: /* [r z n 3H | W_hn h + b_hn H | h_prev H] */
        g->G = 3 * H;
        g->o_c = 3 * H;
        g->o_hp = 4 * H;
        g->W = 5 * H;
        break;
    default:
        return ct_errorf(CT_ERR_VALUE, "[rnn_layer] unknown mode %d", mode);
    }
    return 0;
}

typedef struct {
    const rnn_geom *g;
    const void *xg;   /* step rows of xg (rs G) */
    const void *hg;   /* hidden gates (rs G) */
    const void *bhh;  /* (G) or NULL */
    void *h, *c;      /* state (rs P / H) */
    void *ws;         /* step rows of the workspace (rs W) */
    void *out;        /* step rows of the output (rs P), NULL with proj */
    /* backward */
    void *dh, *dhpre, *dc, *dxg, *dgh;
} rnn_ctx;

#define RNN_DEFINE(T, SUF, EXP, TANH, SIGM, GEMM, PACK, GEMMPK)                                                               \
    /* one LSTM row's gate gradients; separate (restrict) streams so the loop vectorises */              \
    static void lstm_bw_row_##SUF(int64_t H, const T *restrict w, const T *restrict wc,                  \
                                  const T *restrict cp, const T *restrict dhp, T *restrict dc,           \
                                  T *restrict dx) {                                                      \
        const T *restrict gi = w, *restrict gf = w + H, *restrict gg = w + 2 * H, *restrict go = w + 3 * H; \
        for (int64_t j = 0; j < H; j++) {                                                                \
            T tc = TANH(wc[j]);                                                                          \
            T i = gi[j], f = gf[j], gv = gg[j], o = go[j], d = dhp[j];                                   \
            T dcc = dc[j] + d * o * ((T)1 - tc * tc);                                                    \
            dx[j] = dcc * gv * i * ((T)1 - i);                                                           \
            dx[H + j] = dcc * cp[j] * f * ((T)1 - f);                                                    \
            dx[2 * H + j] = dcc * i * ((T)1 - gv * gv);                                                  \
            dx[3 * H + j] = d * tc * o * ((T)1 - o);                                                     \
            dc[j] = dcc * f;                                                                             \
        }                                                                                                \
    }                                                                                                    \
    /* one LSTM row's gates, cell and hidden pre-projection (restrict streams: vectorised) */            \
    static void lstm_fw_row_##SUF(int64_t H, const T *restrict xr, const T *restrict hr,                 \
                                  const T *restrict bhh, T *restrict w, T *restrict wc,                  \
                                  T *restrict wh, T *restrict c) {                                       \
        const int64_t G = 4 * H;                                                                         \
        if (bhh) {                                                                                       \
            for (int64_t j = 0; j < G; j++) w[j] = xr[j] + hr[j] + bhh[j];                               \
        } else {                                                                                         \
            for (int64_t j = 0; j < G; j++) w[j] = xr[j] + hr[j];                                        \
        }                                                                                                \
        for (int64_t j = 0; j < 2 * H; j++) w[j] = SIGM(w[j]);                                           \
        for (int64_t j = 2 * H; j < 3 * H; j++) w[j] = TANH(w[j]);                                       \
        for (int64_t j = 3 * H; j < 4 * H; j++) w[j] = SIGM(w[j]);                                       \
        for (int64_t j = 0; j < H; j++) {                                                                \
            T cn = w[H + j] * c[j] + w[j] * w[2 * H + j];                                                \
            wc[j] = cn;                                                                                  \
            c[j] = cn;                                                                                   \
            wh[j] = w[3 * H + j] * TANH(cn);                                                             \
        }                                                                                                \
    }                                                                                                    \
    static void fw_rows_##SUF(int64_t b0, int64_t b1, void *vctx) {                                      \
        const rnn_ctx *cx = vctx;                                                                        \
        const rnn_geom *g = cx->g;                                                                       \
        const int64_t H = g->H, G = g->G, W = g->W, P = g->P;                                          \
        const T *bhh = cx->bhh;                                                                          \
        for (int64_t b = b0; b < b1; b++) {                                                              \
            const T *xr = (const T *)cx->xg + b * G;                                                     \
            const T *hr = (const T *)cx->hg + b * G;                                                     \
            T *w = (T *)cx->ws + b * W;                                                                  \
            T *h = (T *)cx->h + b * P;                                                                   \
            if (g->mode == RNN_LSTM) {                                                                           \
                T *c = (T *)cx->c + b * H;                                                                       \
                memcpy(w + g->o_cp, c, (size_t)H * sizeof(T));                                                   \
                T *hd = P == H ? h : w + g->o_hpre;                                                              \
                lstm_fw_row_##SUF(H, xr, hr, bhh, w, w + g->o_c, w + g->o_hpre, c);                              \
                if (hd != w + g->o_hpre) memcpy(hd, w + g->o_hpre, (size_t)H * sizeof(T));                       \
            } else if (g->mode == RNN_GRU) {                                                             \
                for (int64_t j = 0; j < H; j++) {                                                        \
                    T hrr = hr[j], hz = hr[H + j], hn = hr[2 * H + j];                                   \
                    if (bhh) {                                                                           \
                        hrr += bhh[j];                                                                   \
                        hz += bhh[H + j];                                                                \
                        hn += bhh[2 * H + j];                                                            \
                    }                                                                                    \
                    T r = SIGM(xr[j] + hrr), z = SIGM(xr[H + j] + hz);                       \
                    T n = TANH(xr[2 * H + j] + r * hn);                                                  \
                    w[j] = r;                                                                            \
                    w[H + j] = z;                                                                        \
                    w[2 * H + j] = n;                                                                    \
                    w[g->o_c + j] = hn;                                                                  \
                    h[j] = ((T)1 - z) * n + z * h[j];                                                    \
                }                                                                                        \
            } else {                                                                                     \
                for (int64_t j = 0; j < H; j++) {                                                        \
                    T v = xr[j] + hr[j] + (bhh ? bhh[j] : (T)0);                                         \
                    v = g->mode == RNN_TANH ? TANH(v) : (v > 0 ? v : (T)0);                              \
                    w[j] = v;                                                                            \
                    h[j] = v;                                                                            \
                }                                                                                        \
            }                                                                                            \
            if (cx->out) memcpy((T *)cx->out + b * P, h, (size_t)P * sizeof(T));                         \
        }                                                                                                \
    }                                                                                                    \
    static void bw_rows_##SUF(int64_t b0, int64_t b1, void *vctx) {                                      \
        const rnn_ctx *cx = vctx;                                                                        \
        const rnn_geom *g = cx->g;                                                                       \
        const int64_t H = g->H, G = g->G, W = g->W, P = g->P;                                          \
        for (int64_t b = b0; b < b1; b++) {                                                              \
            const T *w = (const T *)cx->ws + b * W;                                                      \
            T *dx = (T *)cx->dxg + b * G;                                                                \
            T *dhp = (T *)cx->dhpre + b * H;                                                             \
            if (g->mode == RNN_LSTM) {                                                                           \
                lstm_bw_row_##SUF(H, w, w + g->o_c, w + g->o_cp, dhp, (T *)cx->dc + b * H, dx);                 \
            } else if (g->mode == RNN_GRU) {                                                             \
                T *dgh = (T *)cx->dgh + b * G;                                                           \
                T *dh = (T *)cx->dh + b * P;                                                             \
                for (int64_t j = 0; j < H; j++) {                                                        \
                    T r = w[j], z = w[H + j], n = w[2 * H + j], hn = w[g->o_c + j], hp = w[g->o_hp + j]; \
                    T d = dh[j];                                                                         \
                    T dnp = d * ((T)1 - z) * ((T)1 - n * n);                                             \
                    T dzp = d * (hp - n) * z * ((T)1 - z);                                               \
                    T drp = dnp * hn * r * ((T)1 - r);                                                   \
                    dx[j] = drp;                                                                         \
                    dx[H + j] = dzp;                                                                     \
                    dx[2 * H + j] = dnp;                                                                 \
                    dgh[j] = drp;                                                                        \
                    dgh[H + j] = dzp;                                                                    \
                    dgh[2 * H + j] = dnp * r;                                                            \
                    dh[j] = d * z;                                                                       \
                }                                                                                        \
            } else {                                                                                     \
                for (int64_t j = 0; j < H; j++) {                                                        \
                    T v = w[j], d = dhp[j];                                                              \
                    dx[j] = g->mode == RNN_TANH ? d * ((T)1 - v * v) : (v > 0 ? d : (T)0);               \
                }                                                                                        \
            }                                                                                            \
        }                                                                                                \
    }                                                                                                    \
    /* NOTE [ RNN batch shares ]                                                                        \
     * Batch rows of a recurrent layer never interact: row b at step t needs only row b of step         \
     * t-1. With batch B >= 8 per thread, each thread takes a share of the rows for the whole           \
     * sequence (one fork/join per layer instead of two per step) and runs its own per-step GEMM        \
     * against the shared packed W_hh. Smaller batches keep one share and parallelise each step's       \
     * GEMM over W_hh's rows instead. Every row sees the same operations either way. */                 \
    typedef struct {                                                                                     \
        const rnn_geom *g;                                                                               \
        const int64_t *bs, *offs;                                                                        \
        int64_t T_, nparts, B;                                                                           \
        bool reverse;                                                                                    \
        const T *xg, *whh, *bhh, *wrt, *whh_pk, *gout, *whr, *ws_c;                                      \
        T *h, *c, *out, *ws, *hg;                                                                        \
        T *dxg, *dgh_all, *dh, *dc, *dhpre, *dhall;                                                      \
    } rnn_seq_##SUF;                                                                                     \
    static void fw_span_##SUF(int64_t p0, int64_t p1, void *vctx) {                                      \
        const rnn_seq_##SUF *q = vctx;                                                                   \
        const rnn_geom *g = q->g;                                                                        \
        const int64_t H = g->H, G = g->G, W = g->W, P = g->P;                                          \
        for (int64_t part = p0; part < p1; part++) {                                                     \
            int64_t b0 = q->B * part / q->nparts, b1 = q->B * (part + 1) / q->nparts;                    \
            for (int64_t s = 0; s < q->T_; s++) {                                                        \
                int64_t t = q->reverse ? q->T_ - 1 - s : s, off = q->offs[t] + b0;                       \
                int64_t nl = (q->bs[t] < b1 ? q->bs[t] : b1) - b0;                                       \
                if (nl <= 0) continue;                                                                   \
                T *w = q->ws + off * W, *h = q->h + b0 * P, *hg = q->hg + b0 * G;                        \
                for (int64_t b = 0; b < nl; b++) memcpy(w + b * W + g->o_hp, h + b * P, (size_t)P * sizeof(T)); \
                GEMMPK(G, nl, P, (T)1, q->whh, P, 1, q->whh_pk, h, 1, P, (T)0, hg, 1, G);                 \
                rnn_ctx cx = {g, q->xg + off * G, hg, q->bhh, h, q->c ? q->c + b0 * H : NULL, w,          \
                              q->wrt ? NULL : q->out + off * P, NULL, NULL, NULL, NULL, NULL};           \
                ct_parallel_for(nl, H >= 1024 ? 1 : 1024 / H + 1, fw_rows_##SUF, &cx);                   \
                if (q->wrt) {                                                                            \
                    GEMM(nl, P, H, (T)1, w + g->o_hpre, W, 1, q->wrt, P, 1, (T)0, h, P, 1);              \
                    memcpy(q->out + off * P, h, (size_t)(nl * P) * sizeof(T));                           \
                }                                                                                        \
            }                                                                                            \
        }                                                                                                \
    }                                                                                                    \
    static void bw_span_##SUF(int64_t p0, int64_t p1, void *vctx) {                                      \
        const rnn_seq_##SUF *q = vctx;                                                                   \
        const rnn_geom *g = q->g;                                                                        \
        const int64_t H = g->H, G = g->G, W = g->W, P = g->P;                                          \
        T *dgh_base = g->mode == RNN_GRU ? q->dgh_all : q->dxg;                                          \
        for (int64_t part = p0; part < p1; part++) {                                                     \
            int64_t b0 = q->B * part / q->nparts, b1 = q->B * (part + 1) / q->nparts;                    \
            for (int64_t s = q->T_ - 1; s >= 0; s--) {                                                   \
                int64_t t = q->reverse ? q->T_ - 1 - s : s, off = q->offs[t] + b0;                       \
                int64_t nl = (q->bs[t] < b1 ? q->bs[t] : b1) - b0;                                       \
                if (nl <= 0) continue;                                                                   \
                T *dh = q->dh + b0 * P, *dhp = dh;                                                       \
                if (q->gout) {                                                                           \
                    const T *go = q->gout + off * P;                                                     \
                    for (int64_t k = 0; k < nl * P; k++) dh[k] += go[k];                                 \
                }                                                                                        \
                if (q->whr) {                                                                            \
                    memcpy(q->dhall + off * P, dh, (size_t)(nl * P) * sizeof(T));                        \
                    dhp = q->dhpre + b0 * H;                                                             \
                    GEMM(nl, H, P, (T)1, dh, P, 1, q->whr, H, 1, (T)0, dhp, H, 1);                       \
                }                                                                                        \
                rnn_ctx cx = {g, NULL, NULL, NULL, NULL, NULL, (void *)(q->ws_c + off * W), NULL, dh, dhp, \
                              q->dc ? q->dc + b0 * H : NULL, q->dxg + off * G,                            \
                              q->dgh_all ? q->dgh_all + off * G : NULL};                                 \
                ct_parallel_for(nl, H >= 1024 ? 1 : 1024 / H + 1, bw_rows_##SUF, &cx);                   \
                GEMMPK(P, nl, G, (T)1, q->whh, 1, P, q->whh_pk, dgh_base + off * G, 1, G,                \
                       g->mode == RNN_GRU ? (T)1 : (T)0, dh, 1, P);                                      \
            }                                                                                            \
        }                                                                                                \
    }                                                                                                    \
    /* db = column sums of the gate gradients, split in 64-column strips (same order as serial) */      \
    typedef struct {                                                                                     \
        const T *x;                                                                                      \
        T *out;                                                                                          \
        int64_t N, G;                                                                                    \
    } rnn_colsum_ctx_##SUF;                                                                              \
    static void rnn_colsum_##SUF(int64_t s0, int64_t s1, void *vctx) {                                   \
        const rnn_colsum_ctx_##SUF *q = vctx;                                                            \
        int64_t j0 = s0 * 64, j1 = s1 * 64 < q->G ? s1 * 64 : q->G;                                      \
        T *restrict o = q->out;                                                                          \
        for (int64_t j = j0; j < j1; j++) o[j] = 0;                                                      \
        for (int64_t r = 0; r < q->N; r++) {                                                             \
            const T *restrict row = q->x + r * q->G;                                                     \
            for (int64_t j = j0; j < j1; j++) o[j] += row[j];                                            \
        }                                                                                                \
    }                                                                                                    \
    static int64_t rnn_parts_##SUF(int64_t B) {                                                          \
        int64_t nt = ct_get_num_threads(), parts = B / 8;                                                \
        return parts < 1 ? 1 : parts > nt ? nt : parts;                                                 \
    }                                                                                                    \
    static void rnn_run_##SUF(rnn_seq_##SUF *q, ct_range_fn fn) {                                        \
        q->nparts = rnn_parts_##SUF(q->B);                                                               \
        if (q->nparts > 1)                                                                               \
            ct_parallel_for(q->nparts, 1, fn, q);                                                        \
        else                                                                                             \
            fn(0, 1, q);                                                                                 \
    }                                                                                                    \
    static int rnn_forward_##SUF(const rnn_geom *g, const int64_t *bs, int64_t T_, bool reverse,         \
                                  const T *xg, const T *whh, const T *bhh, const T *whr, T *h, T *c,     \
                                  T *out, T *ws, T *hg) {                                                \
        const int64_t H = g->H, G = g->G, P = g->P;                                                     \
        int64_t *offs = malloc((size_t)(T_ + 1) * sizeof(int64_t));                                      \
        /* W_hh packed once for the per-step GEMMs (hg^T = W_hh h^T); contiguous W_hr^T (H, P) */        \
        T *wt = malloc((size_t)((whr ? H * P : 0) + 1) * sizeof(T));                                     \
        T *whh_pk = PACK(G, P, whh, P, 1);                                                               \
        if (!offs || !wt) {                                                                              \
            free(offs);                                                                                  \
            free(wt);                                                                                    \
            ct_free_bytes(whh_pk);                                                                       \
            return ct_errorf(CT_ERR_MEMORY, "[rnn_layer] out of memory");                                \
        }                                                                                                \
        offs[0] = 0;                                                                                     \
        for (int64_t t = 0; t < T_; t++) offs[t + 1] = offs[t] + bs[t];                                  \
        if (whr)                                                                                         \
            for (int64_t j = 0; j < P; j++)                                                              \
                for (int64_t k = 0; k < H; k++) wt[k * P + j] = whr[j * H + k];                          \
        rnn_seq_##SUF q = {g, bs, offs, T_, 1, T_ > 0 ? bs[0] : 0, reverse, xg, whh, bhh,                \
                           whr ? wt : NULL, whh_pk, NULL, NULL, NULL, h, g->mode == RNN_LSTM ? c : NULL, out, ws, hg,                  \
                           NULL, NULL, NULL, NULL, NULL, NULL};                                          \
        (void)G;                                                                                         \
        rnn_run_##SUF(&q, fw_span_##SUF);                                                                \
        free(offs);                                                                                      \
        free(wt);                                                                                        \
        ct_free_bytes(whh_pk);                                                                           \
        return 0;                                                                                        \
    }                                                                                                    \
    static int rnn_backward_##SUF(const rnn_geom *g, const int64_t *bs, int64_t T_, bool reverse,        \
                                   const T *gout, const T *whh, const T *whr, const T *ws, T *dxg,       \
                                   T *dgh_all, T *dwhh, T *dbhh, T *dwhr, T *dh, T *dc, T *dhpre,       \
                                   T *dhall, int64_t N) {                                                \
        const int64_t H = g->H, G = g->G, W = g->W, P = g->P;                                          \
        int64_t *offs = malloc((size_t)(T_ + 1) * sizeof(int64_t));                                      \
        if (!offs) return ct_errorf(CT_ERR_MEMORY, "[rnn_layer_backward] out of memory");                \
        offs[0] = 0;                                                                                     \
        for (int64_t t = 0; t < T_; t++) offs[t + 1] = offs[t] + bs[t];                                  \
        T *dgh_base = g->mode == RNN_GRU ? dgh_all : dxg;                                                \
        T *whh_pk = PACK(P, G, whh, 1, P); /* dh^T = W_hh^T dgh^T, packed once */                        \
        rnn_seq_##SUF q = {g, bs, offs, T_, 1, T_ > 0 ? bs[0] : 0, reverse, NULL, whh, NULL, NULL,       \
                           whh_pk, gout, whr, ws, NULL, NULL, NULL, NULL, NULL, dxg, dgh_all, dh,         \
                           g->mode == RNN_LSTM ? dc : NULL, dhpre, dhall};                               \
        rnn_run_##SUF(&q, bw_span_##SUF);                                                                \
        free(offs);                                                                                      \
        ct_free_bytes(whh_pk);                                                                           \
        if (N > 0) {                                                                                     \
            GEMM(G, P, N, (T)1, dgh_base, 1, G, ws + g->o_hp, W, 1, (T)0, dwhh, P, 1);                   \
            if (whr) GEMM(P, H, N, (T)1, dhall, 1, P, ws + g->o_hpre, W, 1, (T)0, dwhr, H, 1);           \
        } else {                                                                                         \
            memset(dwhh, 0, (size_t)(G * P) * sizeof(T));                                                \
            if (whr) memset(dwhr, 0, (size_t)(P * H) * sizeof(T));                                       \
        }                                                                                                \
        rnn_colsum_ctx_##SUF cs = {dgh_base, dbhh, N, G};                                               \
        ct_parallel_for((G + 63) / 64, N * G >= 65536 ? 1 : (G + 63) / 64, rnn_colsum_##SUF, &cs);        \
        return 0;                                                                                        \
    }

static inline double sigm_f64(double x) { return 1.0 / (1.0 + ct_vexp(-x)); }

RNN_DEFINE(float, f32, ct_vexpf, ct_vtanhf, ct_vsigmoidf, ct_sgemm, ct_sgemm_pack_a, ct_sgemm_packed)
RNN_DEFINE(double, f64, ct_vexp, tanh, sigm_f64, ct_dgemm, ct_dgemm_pack_a, ct_dgemm_packed)

/* ------------------------------------------------------------------ ops */

static ct_tensor *contig(ct_tensor *t) {
    if (!t) return NULL;
    if (ct_tensor_is_contiguous(t)) {
        ct_tensor_retain(t);
        return t;
    }
    return ct_contiguous(t);
}

static ct_tensor *ct_to_dtype_contig(ct_tensor *t, int dtype) {
    if (t->dtype == dtype) return contig(t);
    ct_tensor *c = ct_to_dtype(t, dtype, false);
    if (!c) return NULL;
    ct_tensor *r = contig(c);
    ct_tensor_release(c);
    return r;
}

static int check_bs(ct_intlist bs, int64_t *N, int64_t B) {
    int64_t s = 0;
    for (int64_t t = 0; t < bs.n; t++) {
        if (bs.data[t] <= 0 || bs.data[t] > B || (t > 0 && bs.data[t] > bs.data[t - 1]))
            return ct_errorf(CT_ERR_RUNTIME, "[rnn_layer] batch_sizes must be positive, non-increasing and at most "
                                             "the batch size %lld", (long long)B);
        s += bs.data[t];
    }
    *N = s;
    return 0;
}

static int same_dtype(ct_tensor *t, int dtype, const char *name) {
    if (t && t->dtype != dtype)
        return ct_errorf(CT_ERR_RUNTIME, "[rnn_layer] %s has dtype %s but the input has %s", name,
                         ct_dtype_name(t->dtype), ct_dtype_name(dtype));
    return 0;
}

int ct_nn_rnn_layer_impl(ct_tensor *xg, ct_tensor *w_hh, ct_tensor *b_hh, ct_tensor *w_hr, ct_tensor *h0,
                         ct_tensor *c0, ct_intlist batch_sizes, int64_t mode, bool reverse, ct_tensor **out0,
                         ct_tensor **out1, ct_tensor **out2, ct_tensor **out3) {
    int dt = xg->dtype;
    if (dt != CT_FLOAT32 && dt != CT_FLOAT64)
        return ct_errorf(CT_ERR_RUNTIME, "[rnn_layer] expected float32 or float64, got %s", ct_dtype_name(dt));
    if (same_dtype(w_hh, dt, "weight_hh") || same_dtype(b_hh, dt, "bias_hh") || same_dtype(w_hr, dt, "weight_hr") ||
        same_dtype(h0, dt, "hx") || same_dtype(c0, dt, "cx"))
        return -1;
    if (w_hh->ndim != 2 || h0->ndim != 2 || xg->ndim != 2)
        return ct_errorf(CT_ERR_RUNTIME, "[rnn_layer] expected 2-d xg, weight_hh and hx");
    int64_t B = h0->sizes[0], P = h0->sizes[1], G = w_hh->sizes[0];
    int64_t H = mode == RNN_LSTM ? G / 4 : mode == RNN_GRU ? G / 3 : G;
    rnn_geom g;
    if (rnn_geometry((int)mode, H, P, &g)) return -1;
    if (g.G != G || w_hh->sizes[1] != P || xg->sizes[1] != G || (b_hh && (b_hh->ndim != 1 || b_hh->sizes[0] != G)))
        return ct_errorf(CT_ERR_RUNTIME, "[rnn_layer] inconsistent shapes: xg (%lld, %lld), weight_hh (%lld, %lld), "
                                         "hx (%lld, %lld)", (long long)xg->sizes[0], (long long)xg->sizes[1],
                         (long long)w_hh->sizes[0], (long long)w_hh->sizes[1], (long long)B, (long long)P);
    if (w_hr ? (w_hr->ndim != 2 || w_hr->sizes[0] != P || w_hr->sizes[1] != H) : P != H)
        return ct_errorf(CT_ERR_RUNTIME, "[rnn_layer] weight_hr must be (%lld, %lld)", (long long)P, (long long)H);
    if (mode == RNN_LSTM && (!c0 || c0->ndim != 2 || c0->sizes[0] != B || c0->sizes[1] != H))
        return ct_errorf(CT_ERR_RUNTIME, "[rnn_layer] LSTM needs a (%lld, %lld) cell state", (long long)B, (long long)H);
    int64_t N = 0;
    if (check_bs(batch_sizes, &N, B)) return -1;
    if (N != xg->sizes[0])
        return ct_errorf(CT_ERR_RUNTIME, "[rnn_layer] batch_sizes sum to %lld but xg has %lld rows", (long long)N,
                         (long long)xg->sizes[0]);
    ct_tensor *x = contig(xg), *whh = contig(w_hh), *bhh = contig(b_hh), *whr = contig(w_hr);
    ct_tensor *hc = contig(h0), *cc = contig(c0);
    int64_t so[2] = {N, P}, sh[2] = {B, P}, sc[2] = {B, mode == RNN_LSTM ? H : 0}, sw[2] = {N, g.W}, shg[2] = {B, G};
    ct_tensor *out = ct_empty(so, 2, dt), *hn = ct_empty(sh, 2, dt), *cn = ct_empty(sc, 2, dt);
    ct_tensor *ws = ct_empty(sw, 2, dt), *hg = ct_empty(shg, 2, dt);
    int rc = -1;
    if (!x || !whh || (b_hh && !bhh) || (w_hr && !whr) || !hc || (c0 && !cc) || !out || !hn || !cn || !ws || !hg)
        goto done;
    size_t es = ct_dtype_sizes[dt];
    memcpy(ct_tensor_data(hn), ct_tensor_data(hc), (size_t)(B * P) * es);
    if (mode == RNN_LSTM) memcpy(ct_tensor_data(cn), ct_tensor_data(cc), (size_t)(B * H) * es);
    int frc = dt == CT_FLOAT32 ?
        rnn_forward_f32(&g, batch_sizes.data, batch_sizes.n, reverse, ct_tensor_data(x), ct_tensor_data(whh),
                        bhh ? ct_tensor_data(bhh) : NULL, whr ? ct_tensor_data(whr) : NULL, ct_tensor_data(hn),
                        ct_tensor_data(cn), ct_tensor_data(out), ct_tensor_data(ws), ct_tensor_data(hg)) :
        rnn_forward_f64(&g, batch_sizes.data, batch_sizes.n, reverse, ct_tensor_data(x), ct_tensor_data(whh),
                        bhh ? ct_tensor_data(bhh) : NULL, whr ? ct_tensor_data(whr) : NULL, ct_tensor_data(hn),
                        ct_tensor_data(cn), ct_tensor_data(out), ct_tensor_data(ws), ct_tensor_data(hg));
    if (frc) goto done;
    *out0 = out;
    *out1 = hn;
    *out2 = cn;
    *out3 = ws;
    out = hn = cn = ws = NULL;
    rc = 0;
done:
    ct_tensor_release(x);
    ct_tensor_release(whh);
    if (bhh) ct_tensor_release(bhh);
    if (whr) ct_tensor_release(whr);
    ct_tensor_release(hc);
    if (cc) ct_tensor_release(cc);
    if (out) ct_tensor_release(out);
    if (hn) ct_tensor_release(hn);
    if (cn) ct_tensor_release(cn);
    if (ws) ct_tensor_release(ws);
    if (hg) ct_tensor_release(hg);
    return rc;
}

int ct_nn_rnn_layer_backward(ct_tensor *grad_output, ct_tensor *grad_hn, ct_tensor *grad_cn, ct_tensor *w_hh,
                             ct_tensor *w_hr, ct_tensor *workspace, ct_intlist batch_sizes, int64_t mode, bool reverse,
                             int64_t batch, int64_t hidden, ct_tensor **out0, ct_tensor **out1, ct_tensor **out2,
                             ct_tensor **out3, ct_tensor **out4, ct_tensor **out5) {
    int dt = workspace->dtype;
    int64_t G = w_hh->sizes[0], P = w_hh->sizes[1], H = hidden, B = batch;
    rnn_geom g;
    if (rnn_geometry((int)mode, H, P, &g)) return -1;
    int64_t N = 0;
    if (check_bs(batch_sizes, &N, B)) return -1;
    if (g.G != G || workspace->ndim != 2 || workspace->sizes[0] != N || workspace->sizes[1] != g.W ||
        (grad_output && (grad_output->numel != N * P)) || (grad_hn && grad_hn->numel != B * P) ||
        (grad_cn && mode == RNN_LSTM && grad_cn->numel != B * H))
        return ct_errorf(CT_ERR_RUNTIME, "[rnn_layer_backward] inconsistent shapes");
    ct_tensor *gout = grad_output ? ct_to_dtype_contig(grad_output, dt) : NULL;
    ct_tensor *ghn = grad_hn ? ct_to_dtype_contig(grad_hn, dt) : NULL;
    ct_tensor *gcn = grad_cn && mode == RNN_LSTM ? ct_to_dtype_contig(grad_cn, dt) : NULL;
    ct_tensor *whh = contig(w_hh), *whr = contig(w_hr), *ws = contig(workspace);
    int64_t sx[2] = {N, G}, sw[2] = {G, P}, sb[1] = {G}, sr[2] = {P, H}, sh[2] = {B, P}, sc[2] = {B, H};
    int64_t sr0[2] = {P, 0}, sc0[2] = {B, 0}, shp[2] = {B, H}, sha[2] = {N, P};
    ct_tensor *dxg = ct_empty(sx, 2, dt), *dwhh = ct_empty(sw, 2, dt), *dbhh = ct_empty(sb, 1, dt);
    ct_tensor *dwhr = ct_empty(w_hr ? sr : sr0, 2, dt), *dh = ct_empty(sh, 2, dt);
    ct_tensor *dc = ct_empty(mode == RNN_LSTM ? sc : sc0, 2, dt);
    ct_tensor *dgh = mode == RNN_GRU ? ct_empty(sx, 2, dt) : NULL;
    ct_tensor *dhpre = ct_empty(shp, 2, dt), *dhall = w_hr ? ct_empty(sha, 2, dt) : NULL;
    int rc = -1;
    if ((grad_output && !gout) || (grad_hn && !ghn) || (gcn == NULL && grad_cn && mode == RNN_LSTM) || !whh ||
        (w_hr && (!whr || !dhall)) || !ws || !dxg || !dwhh || !dbhh || !dwhr || !dh || !dc ||
        (mode == RNN_GRU && !dgh) || !dhpre)
        goto done;
    size_t es = ct_dtype_sizes[dt];
    if (ghn)
        memcpy(ct_tensor_data(dh), ct_tensor_data(ghn), (size_t)(B * P) * es);
    else
        memset(ct_tensor_data(dh), 0, (size_t)(B * P) * es);
    if (mode == RNN_LSTM) {
        if (gcn)
            memcpy(ct_tensor_data(dc), ct_tensor_data(gcn), (size_t)(B * H) * es);
        else
            memset(ct_tensor_data(dc), 0, (size_t)(B * H) * es);
    }
#define RNN_BW_CALL(SUF, T)                                                                                     \
    rnn_backward_##SUF(&g, batch_sizes.data, batch_sizes.n, reverse, gout ? (const T *)ct_tensor_data(gout) : NULL, \
                       ct_tensor_data(whh), whr ? ct_tensor_data(whr) : NULL, ct_tensor_data(ws),             \
                       ct_tensor_data(dxg), dgh ? ct_tensor_data(dgh) : NULL, ct_tensor_data(dwhh),           \
                       ct_tensor_data(dbhh), whr ? ct_tensor_data(dwhr) : NULL, ct_tensor_data(dh),           \
                       ct_tensor_data(dc), ct_tensor_data(dhpre), dhall ? ct_tensor_data(dhall) : NULL, N)
    if (dt == CT_FLOAT32 ? RNN_BW_CALL(f32, float) : RNN_BW_CALL(f64, double)) goto done;
#undef RNN_BW_CALL
    *out0 = dxg;
    *out1 = dwhh;
    *out2 = dbhh;
    *out3 = dwhr;
    *out4 = dh;
    *out5 = dc;
    dxg = dwhh = dbhh = dwhr = dh = dc = NULL;
    rc = 0;
done:
    if (gout) ct_tensor_release(gout);
    if (ghn) ct_tensor_release(ghn);
    if (gcn) ct_tensor_release(gcn);
    if (whh) ct_tensor_release(whh);
    if (whr) ct_tensor_release(whr);
    if (ws) ct_tensor_release(ws);
    ct_tensor *rels[] = {dxg, dwhh, dbhh, dwhr, dh, dc, dgh, dhpre, dhall};
    for (size_t i = 0; i < sizeof rels / sizeof *rels; i++)
        if (rels[i]) ct_tensor_release(rels[i]);
    return rc;
}
