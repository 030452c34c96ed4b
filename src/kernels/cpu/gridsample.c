/* grid_sample (2-d and 3-d; bilinear/trilinear or nearest; zeros, border or reflection
 * padding) and affine_grid, with their backward kernels (src/ops/nn_pool.ops, formulas in
 * src/autograd/formulas_pool.c). Computed in double on contiguous copies; output in the
 * input's dtype. Shapes: input (N, C, [D], H, W), grid (N, [Do], Ho, Wo, nd) with grid[..., 0]
 * indexing W, [..., 1] H, [..., 2] D. Bicubic (2-d only): cubic convolution (A = -0.75) over the
 * 4x4 neighbourhood of the unpadded source point, each tap's integer coordinate mapped through the
 * padding on its own (as torch); the grid gradient flows through the fractional part only. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ctorch/autograd.h"
#include "ctorch/ops_gen.h"
#include "../../core/internal.h"
#include "gridsample.h"

enum { GS_BILINEAR = 0, GS_NEAREST = 1, GS_BICUBIC = 2 };
enum { PAD_ZEROS = 0, PAD_BORDER = 1, PAD_REFLECTION = 2 };

static double clip_grad(double in, int64_t size, double *g) {
    if (in <= 0) {
        *g = 0;
        return 0;
    }
    if (in >= (double)(size - 1)) {
        *g = 0;
        return (double)(size - 1);
    }
    *g = 1;
    return in;
}

static double reflect_grad(double in, int64_t twice_low, int64_t twice_high, double *g) {
    if (twice_low == twice_high) {
        *g = 0;
        return 0;
    }
    double mn = (double)twice_low / 2, span = (double)(twice_high - twice_low) / 2;
    in = in - mn;
    double m = 1;
    if (in < 0) {
        m = -1;
        in = -in;
    }
    double extra = fmod(in, span);
    int64_t flips = (int64_t)floor(in / span);
    if (flips % 2 == 0) {
        *g = m;
        return extra + mn;
    }
    *g = -m;
    return span - extra + mn;
}

/* source coordinate of a normalised grid coordinate and its derivative */
static double source_index(double coord, int64_t size, int pad, bool align, double *dcoord) {
    double g = align ? (double)(size - 1) / 2 : (double)size / 2;
    coord = align ? (coord + 1) / 2 * (double)(size - 1) : ((coord + 1) * (double)size - 1) / 2;
    double gc, gr;
    if (pad == PAD_BORDER) {
        coord = clip_grad(coord, size, &gc);
        g *= gc;
    } else if (pad == PAD_REFLECTION) {
        coord = align ? reflect_grad(coord, 0, 2 * (size - 1), &gr) : reflect_grad(coord, -1, 2 * size - 1, &gr);
        coord = clip_grad(coord, size, &gc);
        g *= gr * gc;
    }
    if (!isfinite(coord) || coord > (double)INT32_MAX - 1 || coord < (double)INT32_MIN + 1) coord = -100.0;
    *dcoord = g;
    return coord;
}

typedef struct {
    int nd, mode, pad;
    bool align;
    int64_t N, C, in[3], out[3]; /* spatial, left-padded with 1: (D, H, W) */
    const double *x, *grid, *gy;
    double *y, *gx, *ggrid;
} gsjob;

/* per output point: per dim floor index, fraction, derivative multiplier (dims in (D, H, W) order) */
static void point_coords(const gsjob *j, const double *gp, int64_t *f, double *t, double *mult, double *src) {
    for (int k = 0; k < 3; k++) {
        int dimk = 2 - k; /* grid component k addresses spatial dim W, H, D */
        if (k >= j->nd) {
            f[dimk] = 0, t[dimk] = 0, mult[dimk] = 0, src[dimk] = 0;
            continue;
        }
        double s = source_index(gp[k], j->in[dimk], j->pad, j->align, &mult[dimk]);
        src[dimk] = s;
        f[dimk] = (int64_t)floor(s);
        t[dimk] = s - (double)f[dimk];
    }
}

static bool inb(const gsjob *j, const int64_t *p) {
    for (int d = 0; d < 3; d++)
        if (p[d] < 0 || p[d] >= j->in[d]) return false;
    return true;
}

static int64_t ncorners(const gsjob *j) { return j->mode == GS_NEAREST ? 1 : (int64_t)1 << j->nd; }

/* corner c: position and weight (and per-dim weight factors) */
static double corner(const gsjob *j, int64_t c, const int64_t *f, const double *t, const double *src, int64_t *pos,
                     double *wf) {
    double w = 1;
    for (int d = 0; d < 3; d++) {
        int k = 2 - d;
        if (k >= j->nd) {
            pos[d] = 0;
            wf[d] = 1;
            continue;
        }
        if (j->mode == GS_NEAREST) {
            pos[d] = (int64_t)nearbyint(src[d]);
            wf[d] = 1;
        } else {
            int bit = (int)((c >> k) & 1);
            pos[d] = f[d] + bit;
            wf[d] = bit ? t[d] : 1 - t[d];
        }
        w *= wf[d];
    }
    return w;
}

static void gs_forward(int64_t a, int64_t b, void *ctx) {
    const gsjob *j = ctx;
    int64_t P = j->out[0] * j->out[1] * j->out[2], isz = j->in[0] * j->in[1] * j->in[2];
    for (int64_t q = a; q < b; q++) {
        int64_t n = q / P, p = q % P;
        const double *gp = j->grid + (n * P + p) * j->nd;
        int64_t f[3], pos[3];
        double t[3], mult[3], src[3], wf[3];
        point_coords(j, gp, f, t, mult, src);
        for (int64_t c = 0; c < j->C; c++) j->y[(n * j->C + c) * P + p] = 0;
        for (int64_t k = 0; k < ncorners(j); k++) {
            double w = corner(j, k, f, t, src, pos, wf);
            if (!inb(j, pos)) continue;
            int64_t off = (pos[0] * j->in[1] + pos[1]) * j->in[2] + pos[2];
            for (int64_t c = 0; c < j->C; c++) j->y[(n * j->C + c) * P + p] += w * j->x[(n * j->C + c) * isz + off];
        }
    }
}

static void gs_backward(int64_t a, int64_t b, void *ctx) {
    const gsjob *j = ctx;
    int64_t P = j->out[0] * j->out[1] * j->out[2], isz = j->in[0] * j->in[1] * j->in[2];
    for (int64_t n = a; n < b; n++)
        for (int64_t p = 0; p < P; p++) {
            const double *gp = j->grid + (n * P + p) * j->nd;
            int64_t f[3], pos[3];
            double t[3], mult[3], src[3], wf[3], gg[3] = {0, 0, 0};
            point_coords(j, gp, f, t, mult, src);
            for (int64_t k = 0; k < ncorners(j); k++) {
                double w = corner(j, k, f, t, src, pos, wf);
                if (!inb(j, pos)) continue;
                int64_t off = (pos[0] * j->in[1] + pos[1]) * j->in[2] + pos[2];
                double dot = 0;
                for (int64_t c = 0; c < j->C; c++) {
                    double go = j->gy[(n * j->C + c) * P + p];
                    if (j->gx) j->gx[(n * j->C + c) * isz + off] += w * go;
                    dot += go * j->x[(n * j->C + c) * isz + off];
                }
                if (j->mode == GS_NEAREST || !j->ggrid) continue;
                for (int d = 0; d < 3; d++) {
                    int kk = 2 - d;
                    if (kk >= j->nd) continue;
                    double prod = (((k >> kk) & 1) ? 1.0 : -1.0);
                    for (int e = 0; e < 3; e++)
                        if (e != d) prod *= wf[e];
                    gg[d] += dot * prod;
                }
            }
            if (j->ggrid) {
                double *o = j->ggrid + (n * P + p) * j->nd;
                for (int k = 0; k < j->nd; k++) o[k] = j->mode == GS_NEAREST ? 0 : gg[2 - k] * mult[2 - k];
            }
        }
}

/* ------------------------------------------------------------------ bicubic (2-d) */

#define GS_CUBIC_A (-0.75)

/* cubic-convolution weights of the taps at offsets -1, 0, 1, 2 for fraction t, and their t-derivatives */
static void cubic_coeffs(double t, double *c, double *dc) {
    const double A = GS_CUBIC_A;
    double x = t + 1; /* 1 <= x < 2 */
    c[0] = ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    dc[0] = (3 * A * x - 10 * A) * x + 8 * A;
    x = t; /* 0 <= x < 1 */
    c[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
    dc[1] = (3 * (A + 2) * x - 2 * (A + 3)) * x;
    x = 1 - t;
    c[2] = ((A + 2) * x - (A + 3)) * x * x + 1;
    dc[2] = -(3 * (A + 2) * x - 2 * (A + 3)) * x;
    x = 2 - t;
    c[3] = ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    dc[3] = -((3 * A * x - 10 * A) * x + 8 * A);
}

/* unnormalised (unpadded) source coordinate and d(coord)/d(grid) */
static double unnormalize(double coord, int64_t size, bool align, double *mult) {
    *mult = align ? (double)(size - 1) / 2 : (double)size / 2;
    return align ? (coord + 1) / 2 * (double)(size - 1) : ((coord + 1) * (double)size - 1) / 2;
}

/* integer tap coordinate through the padding; -1 when it reads zero */
static int64_t tap_index(double c, int64_t size, int pad, bool align) {
    double g;
    if (!isfinite(c)) { /* where torch's padded NaN/inf coordinates land (its weights are then NaN) */
        if (pad == PAD_ZEROS) return -1;
        return pad == PAD_BORDER && c > 0 ? size - 1 : 0;
    }
    if (pad == PAD_BORDER) c = clip_grad(c, size, &g);
    else if (pad == PAD_REFLECTION) {
        c = align ? reflect_grad(c, 0, 2 * (size - 1), &g) : reflect_grad(c, -1, 2 * size - 1, &g);
        c = clip_grad(c, size, &g);
    }
    if (!(c > -1) || !(c < (double)size)) return -1;
    return (int64_t)c;
}

typedef struct {
    bool nan;             /* non-finite source point: NaN output (as torch, whose weights are NaN) */
    int64_t ix[4], iy[4]; /* tap positions (-1: outside) */
    double cx[4], cy[4], dcx[4], dcy[4], mx, my;
} cubic_pt;

static void cubic_point(const gsjob *j, const double *gp, cubic_pt *pt) {
    int64_t W = j->in[2], H = j->in[1];
    double x = unnormalize(gp[0], W, j->align, &pt->mx), y = unnormalize(gp[1], H, j->align, &pt->my);
    double fx = floor(x), fy = floor(y);
    pt->nan = !isfinite(x) || !isfinite(y);
    cubic_coeffs(x - fx, pt->cx, pt->dcx);
    cubic_coeffs(y - fy, pt->cy, pt->dcy);
    for (int i = 0; i < 4; i++) {
        pt->ix[i] = tap_index(fx - 1 + i, W, j->pad, j->align);
        pt->iy[i] = tap_index(fy - 1 + i, H, j->pad, j->align);
    }
}

static void gs_cubic_forward(int64_t a, int64_t b, void *ctx) {
    const gsjob *j = ctx;
    int64_t P = j->out[1] * j->out[2], isz = j->in[1] * j->in[2], W = j->in[2];
    for (int64_t q = a; q < b; q++) {
        int64_t n = q / P, p = q % P;
        cubic_pt pt;
        cubic_point(j, j->grid + (n * P + p) * 2, &pt);
        for (int64_t c = 0; c < j->C; c++) {
            const double *xp = j->x + (n * j->C + c) * isz;
            double acc = 0;
            for (int r = 0; r < 4; r++) {
                double row = 0;
                if (pt.iy[r] >= 0)
                    for (int i = 0; i < 4; i++)
                        if (pt.ix[i] >= 0) row += pt.cx[i] * xp[pt.iy[r] * W + pt.ix[i]];
                acc += pt.cy[r] * row;
            }
            j->y[(n * j->C + c) * P + p] = pt.nan ? NAN : acc;
        }
    }
}

static void gs_cubic_backward(int64_t a, int64_t b, void *ctx) {
    const gsjob *j = ctx;
    int64_t P = j->out[1] * j->out[2], isz = j->in[1] * j->in[2], W = j->in[2];
    for (int64_t n = a; n < b; n++)
        for (int64_t p = 0; p < P; p++) {
            cubic_pt pt;
            cubic_point(j, j->grid + (n * P + p) * 2, &pt);
            double gxs = 0, gys = 0;
            for (int64_t c = 0; c < j->C; c++) {
                double go = j->gy[(n * j->C + c) * P + p];
                const double *xp = j->x + (n * j->C + c) * isz;
                double *gxp = j->gx ? j->gx + (n * j->C + c) * isz : NULL;
                for (int r = 0; r < 4; r++) {
                    if (pt.iy[r] < 0) continue;
                    for (int i = 0; i < 4; i++) {
                        if (pt.ix[i] < 0) continue;
                        int64_t off = pt.iy[r] * W + pt.ix[i];
                        if (gxp) gxp[off] += go * pt.cx[i] * pt.cy[r];
                        double v = go * xp[off];
                        gxs += v * pt.dcx[i] * pt.cy[r];
                        gys += v * pt.cx[i] * pt.dcy[r];
                    }
                }
            }
            if (j->ggrid) {
                double *o = j->ggrid + (n * P + p) * 2;
                o[0] = pt.nan ? NAN : gxs * pt.mx, o[1] = pt.nan ? NAN : gys * pt.my;
            }
        }
}

static int gs_setup(const char *op, ct_tensor *input, ct_tensor *grid, int64_t mode, int64_t pad, bool align,
                    gsjob *j) {
    memset(j, 0, sizeof *j);
    if (!ct_dtype_is_floating(input->dtype) || !ct_dtype_is_floating(grid->dtype))
        return ct_errorf(CT_ERR_NOT_IMPLEMENTED, "[%s] \"grid_sampler\" not implemented for '%s'", op,
                         ct_dtype_name(input->dtype));
    if (input->dtype != grid->dtype)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] expected input and grid to have the same dtype, but input has %s and "
                         "grid has %s", op, ct_dtype_name(input->dtype), ct_dtype_name(grid->dtype));
    if (input->ndim != 4 && input->ndim != 5)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] grid_sampler(): expected 4D or 5D input and grid with same number of "
                         "dimensions, but got input with sizes %d dims", op, input->ndim);
    int nd = input->ndim - 2;
    if (grid->ndim != input->ndim || grid->sizes[grid->ndim - 1] != nd || grid->sizes[0] != input->sizes[0])
        return ct_errorf(CT_ERR_RUNTIME, "[%s] grid_sampler(): expected grid of shape (N, *, %d) matching the input's "
                         "batch size and rank", op, nd);
    if (mode != GS_BILINEAR && mode != GS_NEAREST && mode != GS_BICUBIC)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] grid_sampler(): bad interpolation mode %lld", op, (long long)mode);
    if (mode == GS_BICUBIC && nd != 2)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] grid_sampler(): bicubic interpolation only supports 4D input", op);
    if (pad < 0 || pad > 2) return ct_errorf(CT_ERR_RUNTIME, "[%s] bad padding mode", op);
    for (int i = 2; i < input->ndim; i++)
        if (input->sizes[i] <= 0)
            return ct_errorf(CT_ERR_RUNTIME, "[%s] grid_sampler(): expected input to have non-empty spatial dimensions",
                             op);
    j->nd = nd, j->mode = (int)mode, j->pad = (int)pad, j->align = align;
    j->N = input->sizes[0], j->C = input->sizes[1];
    for (int i = 0; i < 3; i++) {
        int k = i - (3 - nd);
        j->in[i] = k >= 0 ? input->sizes[2 + k] : 1;
        j->out[i] = k >= 0 ? grid->sizes[1 + k] : 1;
    }
    return 0;
}

static ct_tensor *fin(ct_tensor *r, int dtype) {
    if (!r || r->dtype == dtype) return r;
    ct_tensor *c = ct_to_dtype(r, dtype, false);
    ct_tensor_release(r);
    return c;
}

ct_tensor *ct_nn_grid_sample_impl(ct_tensor *input, ct_tensor *grid, int64_t mode, int64_t padding_mode,
                                  bool align_corners) {
    gsjob j;
    if (gs_setup("grid_sampler", input, grid, mode, padding_mode, align_corners, &j)) return NULL;
    ct_tensor *x = ct_contig_as(input, CT_FLOAT64), *g = x ? ct_contig_as(grid, CT_FLOAT64) : NULL;
    int64_t sz[5] = {j.N, j.C, 0, 0, 0};
    for (int i = 0; i < j.nd; i++) sz[2 + i] = grid->sizes[1 + i];
    ct_tensor *y = g ? ct_empty(sz, input->ndim, CT_FLOAT64) : NULL;
    if (y) {
        j.x = ct_tensor_data(x), j.grid = ct_tensor_data(g), j.y = ct_tensor_data(y);
        int64_t tot = j.N * j.out[0] * j.out[1] * j.out[2];
        int64_t grain = CT_GRAIN / (j.C * 8 + 1);
        if (tot > 0)
            ct_parallel_for(tot, grain < 1 ? 1 : grain, j.mode == GS_BICUBIC ? gs_cubic_forward : gs_forward, &j);
    }
    ct_tensor_release(x), ct_tensor_release(g);
    return fin(y, input->dtype);
}

int ct_nn_grid_sample_bwd(ct_tensor *grad, ct_tensor *input, ct_tensor *grid, int64_t mode, int64_t padding_mode,
                          bool align_corners, bool need_input, bool need_grid, ct_tensor **ginput, ct_tensor **ggrid) {
    *ginput = *ggrid = NULL;
    gsjob j;
    if (gs_setup("grid_sampler_backward", input, grid, mode, padding_mode, align_corners, &j)) return -1;
    ct_tensor *x = ct_contig_as(input, CT_FLOAT64), *g = x ? ct_contig_as(grid, CT_FLOAT64) : NULL;
    ct_tensor *gy = g ? ct_contig_as(grad, CT_FLOAT64) : NULL;
    ct_tensor *gx = gy && need_input ? ct_zeros((ct_intlist){input->sizes, input->ndim}, CT_FLOAT64, -1) : NULL;
    ct_tensor *gg = gy && need_grid ? ct_zeros((ct_intlist){grid->sizes, grid->ndim}, CT_FLOAT64, -1) : NULL;
    int rc = -1;
    if (gy && (!need_input || gx) && (!need_grid || gg)) {
        j.x = ct_tensor_data(x), j.grid = ct_tensor_data(g), j.gy = ct_tensor_data(gy);
        j.gx = gx ? ct_tensor_data(gx) : NULL;
        j.ggrid = gg ? ct_tensor_data(gg) : NULL;
        if (j.N > 0) ct_parallel_for(j.N, 1, j.mode == GS_BICUBIC ? gs_cubic_backward : gs_backward, &j);
        rc = 0;
        if (gx && !(*ginput = fin(gx, input->dtype))) rc = -1;
        gx = NULL;
        if (gg && !(*ggrid = fin(gg, grid->dtype))) rc = -1;
        gg = NULL;
    }
    ct_tensor_release(x), ct_tensor_release(g), ct_tensor_release(gy), ct_tensor_release(gx), ct_tensor_release(gg);
    return rc;
}

/* ------------------------------------------------------------------ affine_grid */

/* base grid (prod spatial, nd + 1): rows (x, y[, z], 1), x fastest */
static ct_tensor *base_grid(const int64_t *spatial, int nd, bool align, int dtype) {
    int64_t P = 1;
    for (int i = 0; i < nd; i++) P *= spatial[i];
    int64_t sz[2] = {P, nd + 1};
    ct_tensor *b = ct_empty(sz, 2, CT_FLOAT64);
    if (!b) return NULL;
    double *p = ct_tensor_data(b);
    for (int64_t q = 0; q < P; q++) {
        int64_t r = q;
        for (int k = 0; k < nd; k++) { /* k = 0: x (last spatial dim) */
            int64_t n = spatial[nd - 1 - k];
            int64_t i = r % n;
            r /= n;
            double v;
            if (n <= 1) v = 0;
            else {
                v = -1.0 + 2.0 * (double)i / (double)(n - 1);
                if (!align) v = v * (double)(n - 1) / (double)n;
            }
            p[q * (nd + 1) + k] = v;
        }
        p[q * (nd + 1) + nd] = 1;
    }
    return fin(b, dtype);
}

static int ag_check(const char *op, ct_tensor *theta, ct_intlist size, int *nd) {
    if (!ct_dtype_is_floating(theta->dtype))
        return ct_errorf(CT_ERR_VALUE, "[%s] Expected theta to have floating point type, but got %s", op,
                         ct_dtype_name(theta->dtype));
    if (size.n != 4 && size.n != 5)
        return ct_errorf(CT_ERR_NOT_IMPLEMENTED, "[%s] affine_grid only supports 4D and 5D sizes, for 2D and 3D "
                         "affine transforms, respectively. Got size %lld.", op, (long long)size.n);
    *nd = (int)size.n - 2;
    if (theta->ndim != 3 || theta->sizes[1] != *nd || theta->sizes[2] != *nd + 1 || theta->sizes[0] != size.data[0])
        return ct_errorf(CT_ERR_VALUE, "[%s] Expected a batch of %dD affine matrices of shape Nx%dx%d for size of "
                         "batch %lld", op, *nd, *nd, *nd + 1, (long long)size.data[0]);
    return 0;
}

ct_tensor *ct_nn_affine_grid_impl(ct_tensor *theta, ct_intlist size, bool align_corners) {
    int nd = 0;
    if (ag_check("affine_grid", theta, size, &nd)) return NULL;
    bool prev = ct_set_grad_enabled(false);
    ct_tensor *b = base_grid(size.data + 2, nd, align_corners, theta->dtype);
    ct_tensor *tt = b ? ct_transpose(theta, 1, 2) : NULL;      /* (N, nd+1, nd) */
    ct_tensor *m = tt ? ct_matmul(b, tt) : NULL;                /* (N, P, nd) */
    int64_t sz[5];
    sz[0] = size.data[0];
    for (int i = 0; i < nd; i++) sz[1 + i] = size.data[2 + i];
    sz[1 + nd] = nd;
    ct_tensor *r = m ? ct_reshape(m, (ct_intlist){sz, nd + 2}) : NULL;
    ct_tensor *c = r ? ct_contiguous(r) : NULL;
    ct_set_grad_enabled(prev);
    ct_tensor_release(b), ct_tensor_release(tt), ct_tensor_release(m), ct_tensor_release(r);
    return c;
}

/* theta gradient (N, nd, nd+1) = grad^T @ base per batch: the adjoint of affine_grid */
ct_tensor *ct_nn_affine_grid_backward_impl(ct_tensor *grad, ct_intlist size, bool align_corners) {
    int nd = (int)size.n - 2;
    if (nd < 2 || nd > 3) return ct_error(CT_ERR_RUNTIME, "[affine_grid_backward] bad size");
    if (!ct_dtype_is_floating(grad->dtype) || grad->numel != size.data[0] * (int64_t)nd *
        (nd == 2 ? size.data[2] * size.data[3] : size.data[2] * size.data[3] * size.data[4]))
        return ct_error(CT_ERR_RUNTIME, "[affine_grid_backward] grad does not match the size");
    bool prev = ct_set_grad_enabled(false);
    ct_tensor *b = base_grid(size.data + 2, nd, align_corners, grad->dtype);
    int64_t P = 1;
    for (int i = 0; i < nd; i++) P *= size.data[2 + i];
    int64_t sz[3] = {size.data[0], P, nd};
    ct_tensor *g = b ? ct_reshape(grad, (ct_intlist){sz, 3}) : NULL;
    ct_tensor *gt = g ? ct_transpose(g, 1, 2) : NULL; /* (N, nd, P) */
    ct_tensor *r = gt ? ct_matmul(gt, b) : NULL;      /* (N, nd, nd+1) */
    ct_set_grad_enabled(prev);
    ct_tensor_release(b), ct_tensor_release(g), ct_tensor_release(gt);
    return r;
}
