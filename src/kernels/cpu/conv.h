/* Convolution kernels (src/kernels/cpu/conv.c): im2col / col2im packing around the project's
 * GEMM, for 1-, 2- and 3-D convolutions (lower ranks are 3-D with unit leading sizes), groups,
 * and both directions (a transposed convolution is the data-gradient of a convolution); for
 * float32 1-D/2-D layers with a batch of 8 or more on AVX-512, direct kernels with 16 samples
 * per vector instead (NOTE [ Batch-in-lanes convolution ] in conv.c). Not installed. */
#ifndef CTORCH_KERNELS_CONV_H
#define CTORCH_KERNELS_CONV_H

#include <stdint.h>

/* NOTE [ Convolution geometry ]
 * Every convolution is seen from its "image" side (the tensor that gets unfolded, im2col) and
 * its "column" side (the tensor the GEMM produces): for conv, image = input and column =
 * output; for conv_transpose, image = output and column = input. With K = k0*k1*k2 and
 * L = o0*o1*o2, group g of the weight is the row-major matrix W_g[Cs, Ci*K] at offset
 * g*Cs*Ci*K in both cases (conv weight [G*Cs, Ci, k...], transposed weight [G*Ci', ...] read
 * the same way with the roles swapped by the caller). All buffers are contiguous. */
typedef struct ct_conv_geom {
    int64_t N, G;      /* batch, groups */
    int64_t Ci, Cs;    /* channels per group: image side, column side */
    int64_t isz[3];    /* image spatial sizes */
    int64_t osz[3];    /* column spatial sizes */
    int64_t k[3], s[3], p[3], d[3];
} ct_conv_geom;

/* S[n, g] = W_g @ im2col(img[n, g]) (+ bias[g*Cs + c] per row when bias != NULL).
 * dtype: CT_FLOAT32 or CT_FLOAT64. Returns 0 or -1 (out of memory, error set). */
int ct_conv_img2cols(int dtype, const ct_conv_geom *g, const void *img, const void *w, const void *bias, void *S);
/* img[n, g] = col2im(W_g^T @ S[n, g]) (+ bias per image channel when bias != NULL). */
int ct_conv_cols2img(int dtype, const ct_conv_geom *g, const void *S, const void *w, const void *bias, void *img);
/* gw[g] = sum_n S[n, g] @ im2col(img[n, g])^T  (gw: [G*Cs, Ci*K], overwritten). */
int ct_conv_weight_grad(int dtype, const ct_conv_geom *g, const void *S, const void *img, void *gw);
/* gb[c] = sum over batch and spatial of t[n, c, ...] (t: [N, C, L] contiguous). */
void ct_conv_bias_grad(int dtype, int64_t N, int64_t C, int64_t L, const void *t, void *gb);

/* Plain im2col / col2im of one image with the geometry's first image-side channel count
 * (used by unfold/fold): col[Ci*K, L] from img[Ci, isz]; col2im accumulates into a zeroed img. */
void ct_im2col(int dtype, const ct_conv_geom *g, const void *img, void *col);
void ct_col2im(int dtype, const ct_conv_geom *g, const void *col, void *img);

#endif
