/* Resampling ops (src/ops/nn_pool.ops): upsample/interpolate (nearest, nearest-exact,
 * linear/bilinear/trilinear, bicubic; 2-d antialiased modes bilinear_aa/bicubic_aa/lanczos_aa)
 * over 1 to 3 spatial dims and its adjoint (the backward, itself recorded so double backward
 * works). Inputs (N, C, spatial...). Kernels in upsample_impl.h; planes (N*C) split over threads;
 * float16/bfloat16 in float32. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ctorch/ops_gen.h"
#include "../../core/internal.h"

enum { UP_NEAREST, UP_NEAREST_EXACT, UP_LINEAR, UP_CUBIC, UP_LINEAR_AA, UP_CUBIC_AA, UP_LANCZOS_AA };

typedef struct upgeom {
    int nd;
    int64_t planes, in[3], out[3];
    int nt[3];
    int64_t *idx[3];
    double *w[3];
    float *wf[3]; /* float copies of w (float32 compute) */
} upgeom;

#define T float
#define SUF _f32
#include "upsample_impl.h"
#undef T
#undef SUF
#define T double
#define SUF _f64
#include "upsample_impl.h"
#undef T
#undef SUF

static int parse_mode(const char *mode) {
    if (!strcmp(mode, "nearest")) return UP_NEAREST;
    if (!strcmp(mode, "nearest-exact")) return UP_NEAREST_EXACT;
    if (!strcmp(mode, "linear") || !strcmp(mode, "bilinear") || !strcmp(mode, "trilinear")) return UP_LINEAR;
    if (!strcmp(mode, "bicubic") || !strcmp(mode, "cubic")) return UP_CUBIC;
    /* antialiased 2-d resampling (torch's _upsample_bilinear2d_aa / _upsample_bicubic2d_aa) */
    if (!strcmp(mode, "bilinear_aa")) return UP_LINEAR_AA;
    if (!strcmp(mode, "bicubic_aa")) return UP_CUBIC_AA;
    if (!strcmp(mode, "lanczos_aa")) return UP_LANCZOS_AA;
    return ct_errorf(CT_ERR_VALUE, "[upsample] unknown mode '%s'", mode);
}

static void geom_free(upgeom *g) {
    for (int i = 0; i < 3; i++) free(g->idx[i]), free(g->w[i]), free(g->wf[i]);
}

/* in_sizes: full input shape (N, C, spatial) of rank nd + 2 */
static int up_setup(const char *op, const int64_t *in_sizes, int rank, ct_intlist output_size, int mode, bool align,
                    const double *scales[3], bool f64, bool bwd, upgeom *g) {
    memset(g, 0, sizeof *g);
    int nd = (int)output_size.n;
    if ((mode == UP_LINEAR_AA || mode == UP_CUBIC_AA || mode == UP_LANCZOS_AA) && nd != 2)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] antialiased resampling needs a 4-D input (N, C, H, W)", op);
    if (nd < 1 || nd > 3 || rank != nd + 2) {
        return ct_errorf(CT_ERR_RUNTIME, "[%s] expected a %dD input (N, C, spatial) for an output size of %d dims", op,
                         nd + 2, nd);
    }
    g->nd = nd;
    g->planes = in_sizes[0] * in_sizes[1];
    bool bad = false;
    for (int i = 0; i < 3; i++) {
        int j = i - (3 - nd);
        g->in[i] = j >= 0 ? in_sizes[2 + j] : 1;
        g->out[i] = j >= 0 ? output_size.data[j] : 1;
        if (g->in[i] <= 0 || g->out[i] <= 0) bad = true;
    }
    if (bad) {
        char b1[128], b2[128];
        return ct_errorf(CT_ERR_RUNTIME, "[%s] Input and output sizes should be greater than 0, but got input %s output %s",
                         op, ct_shape_str(in_sizes + 2, nd, b1, sizeof b1), ct_shape_str(output_size.data, nd, b2, sizeof b2));
    }
    for (int i = 0; i < 3; i++) {
        int j = i - (3 - nd);
        int m = j >= 0 ? mode : UP_NEAREST;
        const double *sc = j >= 0 ? scales[j] : NULL;
        bool aa = m == UP_LINEAR_AA || m == UP_CUBIC_AA || m == UP_LANCZOS_AA;
        int nt = m == UP_LINEAR ? 2 : m == UP_CUBIC ? 4 : 1;
        if (aa)
            nt = f64 ? aa_ntaps_f64(m, g->in[i], g->out[i], align, sc) : aa_ntaps_f32(m, g->in[i], g->out[i], align, sc);
        g->nt[i] = nt;
        g->idx[i] = malloc(sizeof(int64_t) * (size_t)(g->out[i] * nt));
        g->w[i] = malloc(sizeof(double) * (size_t)(g->out[i] * nt));
        g->wf[i] = malloc(sizeof(float) * (size_t)(g->out[i] * nt));
        if (!g->idx[i] || !g->w[i] || !g->wf[i]) {
            geom_free(g);
            return ct_errorf(CT_ERR_MEMORY, "[%s] out of memory", op);
        }
        /* torch's nearest: same/double-size shortcuts in the 2-d forward and in every backward */
        bool shortcuts = nd == 2 || bwd;
        if (aa && f64) taps_aa_f64(m, g->in[i], g->out[i], align, sc, nt, g->idx[i], g->w[i]);
        else if (aa) taps_aa_f32(m, g->in[i], g->out[i], align, sc, nt, g->idx[i], g->w[i]);
        else if (f64) taps_f64(m, g->in[i], g->out[i], align, sc, shortcuts, g->idx[i], g->w[i]);
        else taps_f32(m, g->in[i], g->out[i], align, sc, shortcuts, g->idx[i], g->w[i]);
        for (int64_t k = 0; k < g->out[i] * nt; k++) g->wf[i][k] = (float)g->w[i][k];
    }
    return 0;
}

typedef struct {
    const upgeom *g;
    const void *x;
    void *y;
    bool f64, bwd, aa;
    volatile int failed;
} ujob;

static void ujob_run(int64_t p0, int64_t p1, void *ctx) {
    const ujob *j = ctx;
    if (j->aa) { /* separable two-pass kernels with a per-worker scratch */
        const upgeom *g = j->g;
        int64_t a = g->in[1] * g->out[2], b = g->out[1] * g->in[2];
        size_t n = (size_t)(a > b ? a : b);
        void *tmp = malloc((n ? n : 1) * (j->f64 ? sizeof(double) : sizeof(float)));
        int *cnt = malloc(sizeof(int) * (size_t)g->out[2]);
        if (!tmp || !cnt) {
            free(tmp), free(cnt);
            ((ujob *)ctx)->failed = 1;
            return;
        }
        /* real taps of each output column: a run from idx[o * nt] (padding repeats idx[o * nt]) */
        int nw = g->nt[2];
        for (int64_t o = 0; o < g->out[2]; o++) {
            const int64_t *io = g->idx[2] + o * nw;
            int c = 1;
            while (c < nw && io[c] == io[0] + c) c++;
            cnt[o] = c;
        }
        /* W pass first (torch's order) unless H first is clearly cheaper: the W pass is a
         * sequential dot product per output, the H pass vectorises over whole rows */
        double wfirst = 4.0 * (double)(g->in[1] * g->out[2] * g->nt[2]) + (double)(g->out[1] * g->out[2] * g->nt[1]);
        double hfirst = (double)(g->out[1] * g->in[2] * g->nt[1]) + 4.0 * (double)(g->out[1] * g->out[2] * g->nt[2]);
        bool h_first = hfirst < 0.8 * wfirst;
        if (j->f64) aa_k_f64(g, cnt, h_first, j->bwd, j->x, j->y, tmp, p0, p1);
        else aa_k_f32(g, cnt, h_first, j->bwd, j->x, j->y, tmp, p0, p1);
        free(tmp), free(cnt);
        return;
    }
    if (j->bwd) {
        if (j->f64) up_bwd_k_f64(j->g, j->x, j->y, p0, p1);
        else up_bwd_k_f32(j->g, j->x, j->y, p0, p1);
    } else {
        if (j->f64) up_fwd_k_f64(j->g, j->x, j->y, p0, p1);
        else up_fwd_k_f32(j->g, j->x, j->y, p0, p1);
    }
}

static ct_tensor *finish(ct_tensor *r, int dtype) {
    if (!r || r->dtype == dtype) return r;
    ct_tensor *c = ct_to_dtype(r, dtype, false);
    ct_tensor_release(r);
    return c;
}

static ct_tensor *up_common(const char *op, ct_tensor *src, const int64_t *in_sizes, int rank, ct_intlist output_size,
                            const char *mode_s, bool align, const double *s0, const double *s1, const double *s2,
                            bool bwd) {
    if (!ct_dtype_is_floating(src->dtype))
        return ct_error(CT_ERR_NOT_IMPLEMENTED, "\"%s\" not implemented for '%s'", op, ct_dtype_name(src->dtype));
    int mode = parse_mode(mode_s);
    if (mode < 0) return NULL;
    if ((mode == UP_LINEAR_AA || mode == UP_CUBIC_AA || mode == UP_LANCZOS_AA) && src->dtype != CT_FLOAT32 &&
        src->dtype != CT_FLOAT64) /* as torch: its antialias weights exist for float and double only */
        return ct_error(CT_ERR_NOT_IMPLEMENTED, "\"compute_index_ranges_weights\" not implemented for '%s'",
                        ct_dtype_name(src->dtype));
    int cd = src->dtype == CT_FLOAT64 ? CT_FLOAT64 : CT_FLOAT32;
    const double *scales[3] = {s0, s1, s2};
    upgeom g;
    if (up_setup(op, in_sizes, rank, output_size, mode, align, scales, cd == CT_FLOAT64, bwd, &g)) return NULL;
    int64_t osz[CT_MAX_DIM];
    osz[0] = in_sizes[0], osz[1] = in_sizes[1];
    for (int i = 0; i < g.nd; i++) osz[2 + i] = output_size.data[i];
    if (bwd) {
        bool ok = src->ndim == rank;
        for (int i = 0; ok && i < rank; i++) ok = src->sizes[i] == osz[i];
        if (!ok) {
            geom_free(&g);
            return ct_error(CT_ERR_RUNTIME, "[%s] grad_output has the wrong shape", op);
        }
    }
    ct_tensor *x = ct_contig_as(src, cd);
    ct_tensor *y = NULL;
    if (x) y = bwd ? ct_zeros((ct_intlist){in_sizes, rank}, cd, -1) : ct_empty(osz, rank, cd);
    if (y) {
        bool aa = mode == UP_LINEAR_AA || mode == UP_CUBIC_AA || mode == UP_LANCZOS_AA;
        ujob j = {.g = &g, .x = ct_tensor_data(x), .y = ct_tensor_data(y), .f64 = cd == CT_FLOAT64, .bwd = bwd,
                  .aa = aa};
        int64_t work = aa ? g.in[1] * g.out[2] * g.nt[2] + g.out[1] * g.out[2] * g.nt[1]
                          : g.out[0] * g.out[1] * g.out[2] * g.nt[0] * g.nt[1] * g.nt[2];
        int64_t grain = CT_GRAIN / (work > 0 ? work : 1);
        if (g.planes > 0) ct_parallel_for(g.planes, grain < 1 ? 1 : grain, ujob_run, &j);
        if (j.failed) {
            ct_tensor_release(y);
            y = (ct_tensor *)ct_error(CT_ERR_MEMORY, "[%s] out of memory", op);
        }
    }
    geom_free(&g);
    ct_tensor_release(x);
    return finish(y, src->dtype);
}

ct_tensor *ct_nn_upsample_impl(ct_tensor *self, ct_intlist output_size, const char *mode, bool align_corners,
                               const double *scale_0, const double *scale_1, const double *scale_2) {
    return up_common("upsample", self, self->sizes, self->ndim, output_size, mode, align_corners, scale_0, scale_1,
                     scale_2, false);
}

ct_tensor *ct_nn_upsample_backward_impl(ct_tensor *grad_output, ct_intlist input_size, ct_intlist output_size,
                                        const char *mode, bool align_corners, const double *scale_0,
                                        const double *scale_1, const double *scale_2) {
    if (input_size.n > CT_MAX_DIM || input_size.n < 3)
        return ct_error(CT_ERR_RUNTIME, "[upsample_backward] bad input_size");
    return up_common("upsample_backward", grad_output, input_size.data, (int)input_size.n, output_size, mode,
                     align_corners, scale_0, scale_1, scale_2, true);
}
