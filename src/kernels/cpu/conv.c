/* Convolution kernels: im2col / col2im around the project's GEMM (see conv.h). */
#include "conv.h"

#include "../../core/internal.h"
#include "gemm.h"

#define T float
#define SFX _s
#define GEMM ct_sgemm
#include "conv_impl.h"
#undef T
#undef SFX
#undef GEMM
#define T double
#define SFX _d
#define GEMM ct_dgemm
#include "conv_impl.h"
#undef T
#undef SFX
#undef GEMM

int ct_conv_img2cols(int dtype, const ct_conv_geom *g, const void *img, const void *w, const void *bias, void *S) {
    if (dtype == CT_FLOAT64) return img2cols_d(g, img, w, bias, S);
    return img2cols_s(g, img, w, bias, S);
}

int ct_conv_cols2img(int dtype, const ct_conv_geom *g, const void *S, const void *w, const void *bias, void *img) {
    if (dtype == CT_FLOAT64) return cols2img_d(g, S, w, bias, img);
    return cols2img_s(g, S, w, bias, img);
}

int ct_conv_weight_grad(int dtype, const ct_conv_geom *g, const void *S, const void *img, void *gw) {
    if (dtype == CT_FLOAT64) return weight_grad_d(g, S, img, gw);
    return weight_grad_s(g, S, img, gw);
}

void ct_conv_bias_grad(int dtype, int64_t N, int64_t C, int64_t L, const void *t, void *gb) {
    if (dtype == CT_FLOAT64)
        bias_grad_d(N, C, L, t, gb);
    else
        bias_grad_s(N, C, L, t, gb);
}

void ct_im2col(int dtype, const ct_conv_geom *g, const void *img, void *col) {
    if (dtype == CT_FLOAT64)
        im2col_d(g, img, col);
    else
        im2col_s(g, img, col);
}

void ct_col2im(int dtype, const ct_conv_geom *g, const void *col, void *img) {
    if (dtype == CT_FLOAT64)
        col2im_d(g, col, img);
    else
        col2im_s(g, col, img);
}
