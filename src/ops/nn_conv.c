/* The convolution family's ops: convolution (1-3-D, groups, transposed), pad, im2col/col2im
 * (unfold/fold), pixel_shuffle/unshuffle, linear and bilinear, plus the primitive backward
 * kernels their formulas call (src/ops/nn_conv.h). Float math runs in float32 (float16 and
 * bfloat16 are widened) or float64 (integer convolutions are computed exactly in float64 for
 * values below 2^53 and cast back). */
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "ctorch/ops_gen.h"
#include "../core/internal.h"
#include "../kernels/cpu/conv.h"
#include "../kernels/cpu/gemm.h"
#include "nn_conv.h"

/* ------------------------------------------------------------------ helpers */

/* dtype the kernels compute in */
static int compute_dtype(int dtype) { return (dtype == CT_FLOAT32 || dtype == CT_FLOAT16 || dtype == CT_BFLOAT16) ? CT_FLOAT32 : CT_FLOAT64; }

static const char *torch_type_name(int dtype) {
    switch (dtype) {
    case CT_FLOAT32: return "Float";
    case CT_FLOAT64: return "Double";
    case CT_FLOAT16: return "Half";
    case CT_BFLOAT16: return "BFloat16";
    case CT_INT64: return "Long";
    case CT_INT32: return "Int";
    case CT_INT16: return "Short";
    case CT_INT8: return "Char";
    case CT_UINT8: return "Byte";
    case CT_BOOL: return "Bool";
    default: return ct_dtype_name(dtype);
    }
}

/* Release helper for arrays of temporaries. */
static void rel(ct_tensor **ts, int n) {
    for (int i = 0; i < n; i++)
        if (ts[i]) ct_tensor_release(ts[i]);
}

/* Result in `dtype` from a compute-dtype tensor (consumed). */
static ct_tensor *cast_back(ct_tensor *t, int dtype) {
    if (!t || t->dtype == dtype) return t;
    ct_tensor *r = ct_contig_as(t, dtype);
    ct_tensor_release(t);
    return r;
}

static char *shp(const int64_t *s, int n, char *buf) { return ct_shape_str(s, n, buf, 128); }

/* ------------------------------------------------------------------ convolution */

typedef struct conv_setup {
    ct_conv_geom g;
    int D;                   /* spatial dims */
    int64_t out_sizes[CT_MAX_DIM];
    int cdtype;
} conv_setup;

/* Spread a 1- or D-element list over the last D of 3 slots (others keep `fill`). */
static int spread(ct_intlist l, int D, int64_t *dst, int64_t fill, const char *name) {
    for (int i = 0; i < 3; i++) dst[i] = fill;
    if (l.n == 1) {
        for (int i = 0; i < D; i++) dst[3 - D + i] = l.data[0];
        return 0;
    }
    if (l.n != D) {
        char buf[128];
        return ct_errorf(CT_ERR_RUNTIME,
                         "expected %s to be a single integer value or a list of %d values to match the convolution "
                         "dimensions, but got %s=%s",
                         name, D, name, shp(l.data, (int)l.n, buf));
    }
    for (int i = 0; i < D; i++) dst[3 - D + i] = l.data[i];
    return 0;
}

static int conv_check(ct_tensor *input, ct_tensor *weight, ct_tensor *bias, ct_intlist stride, ct_intlist padding,
                      ct_intlist dilation, bool transposed, ct_intlist output_padding, int64_t groups, conv_setup *cs) {
    char b1[128], b2[128];
    int wd = weight->ndim;
    if (wd < 3 || wd > 5)
        return ct_errorf(CT_ERR_RUNTIME, "[convolution] weight should have 3 to 5 dimensions, but got %s",
                         shp(weight->sizes, wd, b1));
    int D = wd - 2;
    cs->D = D;
    if (input->ndim != wd)
        return ct_errorf(CT_ERR_RUNTIME,
                         "Expected %dD (unbatched) or %dD (batched) input to conv%dd, but got input of size: %s", D + 1,
                         D + 2, D, shp(input->sizes, input->ndim, b1));
    if (input->dtype == CT_BOOL)
        return ct_errorf(CT_ERR_NOT_IMPLEMENTED, "\"slow_conv%dd_cpu\" not implemented for 'Bool'", D);
    if (transposed && ct_dtype_is_integral(input->dtype, false) && input->dtype != CT_INT64)
        return ct_errorf(CT_ERR_NOT_IMPLEMENTED, "\"slow_conv_transpose%dd_out_cpu\" not implemented for '%s'",
                         D < 2 ? 2 : D, torch_type_name(input->dtype));
    if (input->dtype != weight->dtype)
        return ct_errorf(CT_ERR_RUNTIME, "expected scalar type %s but found %s", torch_type_name(input->dtype),
                         torch_type_name(weight->dtype));
    if (bias && bias->dtype != input->dtype)
        return ct_errorf(CT_ERR_RUNTIME, "expected scalar type %s but found %s", torch_type_name(input->dtype),
                         torch_type_name(bias->dtype));
    ct_conv_geom *g = &cs->g;
    if (spread(stride, D, g->s, 1, "stride") || spread(padding, D, g->p, 0, "padding") ||
        spread(dilation, D, g->d, 1, "dilation"))
        return -1;
    int64_t op[3];
    if (transposed && spread(output_padding, D, op, 0, "output_padding")) return -1;
    if (!transposed) op[0] = op[1] = op[2] = 0;
    for (int i = 0; i < 3; i++) {
        if (g->s[i] <= 0) return ct_errorf(CT_ERR_RUNTIME, "non-positive stride is not supported");
        if (g->p[i] < 0) return ct_errorf(CT_ERR_RUNTIME, "negative padding is not supported");
        if (op[i] < 0) return ct_errorf(CT_ERR_RUNTIME, "negative output_padding is not supported");
    }
    for (int i = 0; i < 3; i++)
        if (g->d[i] <= 0)
            return ct_errorf(CT_ERR_RUNTIME, "dilation should be greater than zero, but got %s",
                             shp(dilation.data, (int)dilation.n, b1));
    if (groups <= 0) return ct_errorf(CT_ERR_RUNTIME, "non-positive groups is not supported");
    if (transposed)
        for (int i = 0; i < 3; i++)
            if (op[i] >= g->s[i] && op[i] >= g->d[i])
                return ct_errorf(CT_ERR_RUNTIME, "output padding must be smaller than either stride or dilation");
    int64_t N = input->sizes[0], Cin = input->sizes[1];
    int64_t W0 = weight->sizes[0], W1 = weight->sizes[1];
    if (W0 % groups != 0 && !transposed)
        return ct_errorf(CT_ERR_RUNTIME,
                         "Given groups=%lld, expected weight to be divisible by %lld at dimension 0, but got weight "
                         "of size [%s] instead",
                         (long long)groups, (long long)groups, shp(weight->sizes, wd, b1));
    for (int i = 0; i < 3; i++) g->k[i] = 1, g->isz[i] = 1, g->osz[i] = 1;
    for (int i = 0; i < D; i++) g->k[3 - D + i] = weight->sizes[2 + i];
    g->N = N;
    g->G = groups;
    cs->out_sizes[0] = N;
    if (!transposed) {
        if (Cin != W1 * groups)
            return ct_errorf(CT_ERR_RUNTIME,
                             "Given groups=%lld, weight of size %s, expected input%s to have %lld channels, but got "
                             "%lld channels instead",
                             (long long)groups, shp(weight->sizes, wd, b1), shp(input->sizes, input->ndim, b2),
                             (long long)(W1 * groups), (long long)Cin);
        g->Ci = W1;
        g->Cs = W0 / groups;
        cs->out_sizes[1] = W0;
        bool bad = false;
        for (int i = 0; i < D; i++) {
            int j = 3 - D + i;
            g->isz[j] = input->sizes[2 + i];
            int64_t eff = g->d[j] * (g->k[j] - 1) + 1;
            int64_t padded = g->isz[j] + 2 * g->p[j];
            if (padded < eff) bad = true;
            g->osz[j] = bad ? 0 : (padded - eff) / g->s[j] + 1;
            cs->out_sizes[2 + i] = g->osz[j];
        }
        if (bad) {
            char pb[128] = "", kb[128] = "";
            size_t lp = 0, lk = 0;
            for (int i = 0; i < D; i++) {
                int j = 3 - D + i;
                lp += snprintf(pb + lp, sizeof pb - lp, "%s%lld", i ? " x " : "", (long long)(g->isz[j] + 2 * g->p[j]));
                lk += snprintf(kb + lk, sizeof kb - lk, "%s%lld", i ? " x " : "",
                               (long long)(g->d[j] * (g->k[j] - 1) + 1));
            }
            return ct_errorf(CT_ERR_RUNTIME,
                             "Calculated padded input size per channel: (%s). Kernel size: (%s). Kernel size can't be "
                             "greater than actual input size",
                             pb, kb);
        }
    } else {
        if (Cin != W0)
            return ct_errorf(CT_ERR_RUNTIME,
                             "Given transposed=1, weight of size %s, expected input%s to have %lld channels, but got "
                             "%lld channels instead",
                             shp(weight->sizes, wd, b1), shp(input->sizes, input->ndim, b2), (long long)W0,
                             (long long)Cin);
        if (W0 % groups != 0)
            return ct_errorf(CT_ERR_RUNTIME,
                             "Given groups=%lld, expected weight to be divisible by %lld at dimension 0, but got "
                             "weight of size [%s] instead",
                             (long long)groups, (long long)groups, shp(weight->sizes, wd, b1));
        g->Cs = W0 / groups;
        g->Ci = W1;
        cs->out_sizes[1] = W1 * groups;
        for (int i = 0; i < D; i++) {
            int j = 3 - D + i;
            g->osz[j] = input->sizes[2 + i];
            g->isz[j] = (g->osz[j] - 1) * g->s[j] - 2 * g->p[j] + g->d[j] * (g->k[j] - 1) + op[j] + 1;
            if (g->isz[j] <= 0) {
                return ct_errorf(CT_ERR_RUNTIME, "[conv_transpose%dd] output size %lld is too small", D,
                                 (long long)g->isz[j]);
            }
            cs->out_sizes[2 + i] = g->isz[j];
        }
    }
    int64_t Cout = cs->out_sizes[1];
    if (bias && (bias->ndim != 1 || bias->sizes[0] != Cout))
        return ct_errorf(CT_ERR_RUNTIME,
                         "Given weight of size %s, expected bias to be 1-dimensional with %lld elements, but got bias "
                         "of size %s instead",
                         shp(weight->sizes, wd, b1), (long long)Cout, shp(bias->sizes, bias->ndim, b2));
    cs->cdtype = compute_dtype(input->dtype);
    return 0;
}

ct_tensor *ct_nn_convolution_impl(ct_tensor *input, ct_tensor *weight, ct_tensor *bias, ct_intlist stride,
                                  ct_intlist padding, ct_intlist dilation, bool transposed, ct_intlist output_padding,
                                  int64_t groups) {
    conv_setup cs;
    if (conv_check(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups, &cs))
        return NULL;
    int cd = cs.cdtype;
    ct_tensor *t[4] = {ct_contig_as(input, cd), ct_contig_as(weight, cd), bias ? ct_contig_as(bias, cd) : NULL,
                       NULL};
    if (!t[0] || !t[1] || (bias && !t[2])) {
        rel(t, 4);
        return NULL;
    }
    ct_tensor *out = ct_empty(cs.out_sizes, cs.D + 2, cd);
    if (!out) {
        rel(t, 4);
        return NULL;
    }
    if (out->numel > 0) {
        const void *bp = t[2] ? ct_tensor_data(t[2]) : NULL;
        int rc = transposed ? ct_conv_cols2img(cd, &cs.g, ct_tensor_data(t[0]), ct_tensor_data(t[1]), bp,
                                               ct_tensor_data(out))
                            : ct_conv_img2cols(cd, &cs.g, ct_tensor_data(t[0]), ct_tensor_data(t[1]), bp,
                                               ct_tensor_data(out));
        if (rc) {
            rel(t, 4);
            ct_tensor_release(out);
            return NULL;
        }
    }
    rel(t, 4);
    return cast_back(out, input->dtype);
}

int ct_nn_convolution_backward(ct_tensor *grad_output, ct_tensor *input, ct_tensor *weight, ct_intlist stride,
                               ct_intlist padding, ct_intlist dilation, bool transposed, ct_intlist output_padding,
                               int64_t groups, const bool mask[3], ct_tensor **gi, ct_tensor **gw, ct_tensor **gb) {
    conv_setup cs;
    *gi = *gw = *gb = NULL;
    if (conv_check(input, weight, NULL, stride, padding, dilation, transposed, output_padding, groups, &cs)) return -1;
    int cd = cs.cdtype;
    ct_tensor *t[3] = {ct_contig_as(grad_output, cd), ct_contig_as(input, cd), ct_contig_as(weight, cd)};
    if (!t[0] || !t[1] || !t[2]) goto fail;
    ct_conv_geom *g = &cs.g;
    const void *G = ct_tensor_data(t[0]), *X = ct_tensor_data(t[1]), *Wt = ct_tensor_data(t[2]);
    if (mask[0]) {
        *gi = ct_empty(input->sizes, input->ndim, cd);
        if (!*gi) goto fail;
        if ((*gi)->numel > 0) {
            int rc = transposed ? ct_conv_img2cols(cd, g, G, Wt, NULL, ct_tensor_data(*gi))
                                : ct_conv_cols2img(cd, g, G, Wt, NULL, ct_tensor_data(*gi));
            if (rc) goto fail;
        }
    }
    if (mask[1]) {
        *gw = ct_empty(weight->sizes, weight->ndim, cd);
        if (!*gw) goto fail;
        if ((*gw)->numel > 0) {
            int rc = transposed ? ct_conv_weight_grad(cd, g, X, G, ct_tensor_data(*gw))
                                : ct_conv_weight_grad(cd, g, G, X, ct_tensor_data(*gw));
            if (rc) goto fail;
        }
    }
    if (mask[2]) {
        int64_t C = cs.out_sizes[1];
        *gb = ct_empty(&C, 1, cd);
        if (!*gb) goto fail;
        int64_t L = 1;
        for (int i = 2; i < grad_output->ndim; i++) L *= grad_output->sizes[i];
        ct_conv_bias_grad(cd, grad_output->sizes[0], C, L, G, ct_tensor_data(*gb));
    }
    rel(t, 3);
    if (*gi && !(*gi = cast_back(*gi, input->dtype))) goto fail2;
    if (*gw && !(*gw = cast_back(*gw, weight->dtype))) goto fail2;
    if (*gb && !(*gb = cast_back(*gb, input->dtype))) goto fail2;
    return 0;
fail:
    rel(t, 3);
fail2:
    if (*gi) ct_tensor_release(*gi);
    if (*gw) ct_tensor_release(*gw);
    if (*gb) ct_tensor_release(*gb);
    *gi = *gw = *gb = NULL;
    return -1;
}

/* ------------------------------------------------------------------ pad */

enum { PAD_CONSTANT, PAD_REFLECT, PAD_REPLICATE, PAD_CIRCULAR };

static int pad_mode(const char *mode) {
    if (!mode || !strcmp(mode, "constant")) return PAD_CONSTANT;
    if (!strcmp(mode, "reflect")) return PAD_REFLECT;
    if (!strcmp(mode, "replicate")) return PAD_REPLICATE;
    if (!strcmp(mode, "circular")) return PAD_CIRCULAR;
    return -1;
}

/* Output sizes and per-dim source index maps (-1: padding value). maps: one malloc'd block. */
static int64_t *pad_plan(const int64_t *isz, int ndim, ct_intlist pad, int mode, int64_t *osz) {
    char b1[128];
    int np = (int)(pad.n / 2);
    for (int d = 0; d < ndim; d++) osz[d] = isz[d];
    for (int k = 0; k < np; k++) {
        int d = ndim - 1 - k;
        int64_t l = pad.data[2 * k], r = pad.data[2 * k + 1], n = isz[d];
        if (mode == PAD_REFLECT && (l >= n || r >= n))
            return ct_error(CT_ERR_RUNTIME,
                            "Argument #4: Padding size should be less than the corresponding input dimension, but "
                            "got: padding (%lld, %lld) at dimension %d of input %s",
                            (long long)l, (long long)r, d, shp(isz, ndim, b1));
        if (mode == PAD_CIRCULAR && (l > n || r > n))
            return ct_error(CT_ERR_RUNTIME, "Padding value causes wrapping around more than once.");
        if (mode == PAD_REPLICATE && n == 0)
            return ct_error(CT_ERR_RUNTIME,
                            "Expected %dD or %dD (batch mode) tensor with possibly 0 batch size and other non-zero "
                            "dimensions for input, but got: %s",
                            np + 1, np + 2, shp(isz, ndim, b1));
        osz[d] = n + l + r;
        if (osz[d] < 0)
            return ct_error(CT_ERR_RUNTIME,
                            "The input size %lld, plus negative padding %lld and %lld resulted in a negative output "
                            "size, which is invalid. Check dimension %d of your input.",
                            (long long)n, (long long)l, (long long)r, d);
    }
    int64_t total = 0;
    for (int d = 0; d < ndim; d++) total += osz[d];
    int64_t *maps = ct_alloc_bytes((size_t)(total + 1) * sizeof(int64_t));
    if (!maps) return NULL;
    int64_t *m = maps;
    for (int d = 0; d < ndim; d++) {
        int k = ndim - 1 - d;
        int64_t l = k < np ? pad.data[2 * k] : 0, n = isz[d];
        for (int64_t o = 0; o < osz[d]; o++) {
            int64_t i = o - l;
            if (i < 0 || i >= n) {
                switch (mode) {
                case PAD_CONSTANT: i = -1; break;
                case PAD_REFLECT: i = i < 0 ? -i : 2 * (n - 1) - i; break;
                case PAD_REPLICATE: i = i < 0 ? 0 : n - 1; break;
                default: { /* circular: wrap within the part left after negative padding */
                    int64_t lo = l < 0 ? -l : 0, rr = pad.data[2 * k + 1], n2 = n - lo - (rr < 0 ? -rr : 0);
                    int64_t j = o - (l > 0 ? l : 0);
                    i = n2 > 0 ? lo + ((j % n2) + n2) % n2 : 0;
                    break;
                }
                }
            }
            m[o] = i;
        }
        m += osz[d];
    }
    return maps;
}

typedef struct pad_ctx {
    int ndim, esize;
    const int64_t *osz, *istr, *maps;
    const int64_t *mapofs; /* start of each dim's map in maps */
    const char *src;
    char *dst;
    unsigned char fill[8];
} pad_ctx;

#define PAD_INNER(TY)                                                                       \
    do {                                                                                    \
        TY *o = (TY *)c->dst + row * inner;                                                 \
        const TY *s = (const TY *)c->src;                                                   \
        TY fv;                                                                              \
        memcpy(&fv, c->fill, sizeof(TY));                                                   \
        if (!valid) {                                                                       \
            for (int64_t j = 0; j < inner; j++) o[j] = fv;                                  \
        } else {                                                                            \
            for (int64_t j = 0; j < inner; j++) {                                           \
                int64_t mm = lm[j];                                                         \
                o[j] = mm < 0 ? fv : s[base + mm * ls];                                     \
            }                                                                               \
        }                                                                                   \
    } while (0)

static void pad_task(int64_t begin, int64_t end, void *vctx) {
    const pad_ctx *c = vctx;
    int nd = c->ndim;
    int64_t inner = c->osz[nd - 1];
    const int64_t *lm = c->maps + c->mapofs[nd - 1];
    int64_t ls = c->istr[nd - 1];
    int64_t idx[CT_MAX_DIM];
    int64_t r = begin;
    for (int d = nd - 2; d >= 0; d--) {
        idx[d] = r % c->osz[d];
        r /= c->osz[d];
    }
    for (int64_t row = begin; row < end; row++) {
        int64_t base = 0;
        bool valid = true;
        for (int d = 0; d < nd - 1; d++) {
            int64_t mm = c->maps[c->mapofs[d] + idx[d]];
            if (mm < 0) valid = false;
            base += mm * c->istr[d];
        }
        switch (c->esize) {
        case 1: PAD_INNER(uint8_t); break;
        case 2: PAD_INNER(uint16_t); break;
        case 4: PAD_INNER(uint32_t); break;
        default: PAD_INNER(uint64_t); break;
        }
        for (int d = nd - 2; d >= 0; d--) {
            if (++idx[d] < c->osz[d]) break;
            idx[d] = 0;
        }
    }
}

ct_tensor *ct_nn_pad_impl(ct_tensor *input, ct_intlist pad, const char *mode, const double *value) {
    int md = pad_mode(mode);
    if (md < 0) return ct_error(CT_ERR_NOT_IMPLEMENTED, "Unrecognised padding mode %s", mode);
    if (pad.n % 2) return ct_error(CT_ERR_RUNTIME, "Padding length must be divisible by 2");
    int np = (int)(pad.n / 2), nd = input->ndim;
    if (np > nd)
        return ct_error(CT_ERR_RUNTIME,
                        "Padding length should be less than or equal to two times the input dimension but got "
                        "padding length %lld and input of dimension %d",
                        (long long)pad.n, nd);
    if (md != PAD_CONSTANT) {
        if (value && *value != 0)
            return ct_error(CT_ERR_RUNTIME, "Padding mode \"%s\" doesn't take in value argument", mode);
        if (np < 1 || np > 3 || (nd != np + 1 && nd != np + 2))
            return ct_error(CT_ERR_NOT_IMPLEMENTED,
                            "Padding size %lld is not supported for %dD input tensor.\nSupported combinations for "
                            "non-constant padding:\n  - 2D or 3D input: padding size = 2 (pads last dimension)\n  - "
                            "3D or 4D input: padding size = 4 (pads last 2 dimensions)\n  - 4D or 5D input: padding "
                            "size = 6 (pads last 3 dimensions)",
                            (long long)pad.n, nd);
    }
    if (nd == 0) {
        ct_tensor *r = ct_empty(NULL, 0, input->dtype);
        if (r && ct_copy_into(r, input)) {
            ct_tensor_release(r);
            return NULL;
        }
        return r;
    }
    int64_t osz[CT_MAX_DIM];
    int64_t *maps = pad_plan(input->sizes, nd, pad, md, osz);
    if (!maps) return NULL;
    ct_tensor *out = ct_empty(osz, nd, input->dtype);
    if (!out) {
        ct_free_bytes(maps);
        return NULL;
    }
    int64_t mapofs[CT_MAX_DIM], acc = 0;
    for (int d = 0; d < nd; d++) {
        mapofs[d] = acc;
        acc += osz[d];
    }
    pad_ctx c = {nd, (int)ct_dtype_size(input->dtype), osz, input->strides, maps, mapofs,
                 (const char *)ct_tensor_data(input), (char *)ct_tensor_data(out), {0}};
    ct_store_f64(c.fill, input->dtype, value ? *value : 0.0);
    if (out->numel > 0) {
        int64_t rows = out->numel / osz[nd - 1];
        int64_t grain = 32768 / (osz[nd - 1] + 1) + 1;
        ct_parallel_for(rows, grain, pad_task, &c);
    }
    ct_free_bytes(maps);
    return out;
}

ct_tensor *ct_nn_pad_backward(ct_tensor *grad_output, const int64_t *input_size, int ndim, ct_intlist pad,
                              const char *mode) {
    int md = pad_mode(mode);
    int64_t osz[CT_MAX_DIM];
    int64_t *maps = pad_plan(input_size, ndim, pad, md, osz);
    if (!maps) return NULL;
    int cd = compute_dtype(grad_output->dtype);
    ct_tensor *g = ct_contig_as(grad_output, cd);
    ct_tensor *gi = g ? ct_zeros((ct_intlist){input_size, ndim}, cd, -1) : NULL;
    if (!gi) {
        if (g) ct_tensor_release(g);
        ct_free_bytes(maps);
        return NULL;
    }
    int64_t istr[CT_MAX_DIM], idx[CT_MAX_DIM] = {0};
    ct_contiguous_strides(input_size, ndim, istr);
    int64_t mapofs[CT_MAX_DIM], acc = 0;
    for (int d = 0; d < ndim; d++) {
        mapofs[d] = acc;
        acc += osz[d];
    }
    int64_t inner = osz[ndim - 1], rows = inner ? g->numel / inner : 0;
    const int64_t *lm = maps + mapofs[ndim - 1];
    for (int64_t row = 0; row < rows; row++) {
        int64_t base = 0;
        for (int d = 0; d < ndim - 1; d++) base += maps[mapofs[d] + idx[d]] * istr[d];
        if (cd == CT_FLOAT64) {
            const double *s = (const double *)ct_tensor_data(g) + row * inner;
            double *o = ct_tensor_data(gi);
            for (int64_t j = 0; j < inner; j++) o[base + lm[j]] += s[j];
        } else {
            const float *s = (const float *)ct_tensor_data(g) + row * inner;
            float *o = ct_tensor_data(gi);
            for (int64_t j = 0; j < inner; j++) o[base + lm[j]] += s[j];
        }
        for (int d = ndim - 2; d >= 0; d--) {
            if (++idx[d] < osz[d]) break;
            idx[d] = 0;
        }
    }
    ct_tensor_release(g);
    ct_free_bytes(maps);
    return cast_back(gi, grad_output->dtype);
}

/* ------------------------------------------------------------------ im2col / col2im */

static int pair2(ct_intlist l, int64_t *out, const char *name, const char *op) {
    if (l.n == 1) {
        out[0] = out[1] = l.data[0];
        return 0;
    }
    if (l.n != 2) return ct_errorf(CT_ERR_RUNTIME, "%s: %s must be a tuple of two ints", op, name);
    out[0] = l.data[0];
    out[1] = l.data[1];
    return 0;
}

static int fold_params(ct_intlist kernel_size, ct_intlist dilation, ct_intlist padding, ct_intlist stride,
                       ct_conv_geom *g, const char *op) {
    int64_t k[2], d[2], p[2], s[2];
    if (pair2(kernel_size, k, "kernel_size", op) || pair2(dilation, d, "dilation", op) ||
        pair2(padding, p, "padding", op) || pair2(stride, s, "stride", op))
        return -1;
    for (int i = 0; i < 2; i++) {
        if (k[i] <= 0)
            return ct_errorf(CT_ERR_RUNTIME, "kernel size should be greater than zero, but got kernel_height: %lld "
                             "kernel_width: %lld", (long long)k[0], (long long)k[1]);
        if (s[i] <= 0)
            return ct_errorf(CT_ERR_RUNTIME, "stride should be greater than zero, but got stride_height: %lld "
                             "stride_width: %lld", (long long)s[0], (long long)s[1]);
        if (d[i] <= 0)
            return ct_errorf(CT_ERR_RUNTIME, "dilation should be greater than zero, but got dilation_height: %lld "
                             "dilation_width: %lld", (long long)d[0], (long long)d[1]);
        if (p[i] < 0)
            return ct_errorf(CT_ERR_RUNTIME, "padding should be non-negative, but got pad_height: %lld "
                             "pad_width: %lld", (long long)p[0], (long long)p[1]);
    }
    memset(g, 0, sizeof *g);
    g->N = 1;
    g->G = 1;
    g->k[0] = g->s[0] = g->d[0] = 1;
    g->isz[0] = g->osz[0] = 1;
    for (int i = 0; i < 2; i++) {
        g->k[1 + i] = k[i];
        g->s[1 + i] = s[i];
        g->d[1 + i] = d[i];
        g->p[1 + i] = p[i];
    }
    return 0;
}

typedef struct fold_ctx {
    const ct_conv_geom *g;
    int dtype;
    const char *src;
    char *dst;
    int64_t sstride, dstride; /* bytes per batch item */
    bool fold;
} fold_ctx;

static void fold_task(int64_t begin, int64_t end, void *vctx) {
    const fold_ctx *c = vctx;
    for (int64_t n = begin; n < end; n++) {
        if (c->fold)
            ct_col2im(c->dtype, c->g, c->src + n * c->sstride, c->dst + n * c->dstride);
        else
            ct_im2col(c->dtype, c->g, c->src + n * c->sstride, c->dst + n * c->dstride);
    }
}

ct_tensor *ct_nn_im2col_impl(ct_tensor *input, ct_intlist kernel_size, ct_intlist dilation, ct_intlist padding,
                             ct_intlist stride) {
    char b1[128];
    ct_conv_geom g;
    if (fold_params(kernel_size, dilation, padding, stride, &g, "im2col")) return NULL;
    if (!ct_dtype_is_floating(input->dtype))
        return ct_error(CT_ERR_NOT_IMPLEMENTED, "\"im2col_out_cpu\" not implemented for '%s'",
                        torch_type_name(input->dtype));
    int nd = input->ndim;
    if (nd < 3)
        return ct_error(CT_ERR_INDEX, "Dimension out of range (expected to be in range of [%d, %d], but got %d)",
                        nd ? -nd : -1, nd ? nd - 1 : 0, nd == 2 ? 2 : 3 - nd + 1);
    if ((nd != 3 && nd != 4) || (nd == 3 && input->sizes[0] == 0))
        return ct_error(CT_ERR_RUNTIME,
                        "Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other non-zero "
                        "dimensions for input, but got: %s",
                        shp(input->sizes, nd, b1));
    bool batched = nd == 4;
    int64_t N = batched ? input->sizes[0] : 1, C = input->sizes[nd - 3];
    g.Ci = C;
    g.isz[1] = input->sizes[nd - 2];
    g.isz[2] = input->sizes[nd - 1];
    for (int i = 1; i < 3; i++) {
        int64_t eff = g.d[i] * (g.k[i] - 1) + 1;
        g.osz[i] = (g.isz[i] + 2 * g.p[i] - eff) / g.s[i] + 1;
        if (g.isz[i] + 2 * g.p[i] - eff < 0) g.osz[i] = 0;
    }
    if (g.osz[1] < 1 || g.osz[2] < 1)
        return ct_error(CT_ERR_RUNTIME,
                        "Given input with spatial size (%lld, %lld), kernel_size=(%lld, %lld), dilation=(%lld, "
                        "%lld), padding=(%lld, %lld), calculated shape of the array of sliding blocks as (%lld, "
                        "%lld), but its components must be at least one.",
                        (long long)g.isz[1], (long long)g.isz[2], (long long)g.k[1], (long long)g.k[2],
                        (long long)g.d[1], (long long)g.d[2], (long long)g.p[1], (long long)g.p[2],
                        (long long)g.osz[1], (long long)g.osz[2]);
    int cd = compute_dtype(input->dtype);
    ct_tensor *x = ct_contig_as(input, cd);
    if (!x) return NULL;
    int64_t K = g.k[1] * g.k[2], L = g.osz[1] * g.osz[2];
    int64_t osz[3] = {N, C * K, L};
    ct_tensor *out = ct_empty(batched ? osz : osz + 1, batched ? 3 : 2, cd);
    if (!out) {
        ct_tensor_release(x);
        return NULL;
    }
    size_t es = ct_dtype_size(cd);
    fold_ctx c = {&g, cd, ct_tensor_data(x), ct_tensor_data(out), (int64_t)(C * g.isz[1] * g.isz[2] * es),
                  (int64_t)(C * K * L * es), false};
    if (out->numel > 0) ct_parallel_for(N, 1, fold_task, &c);
    ct_tensor_release(x);
    return cast_back(out, input->dtype);
}

ct_tensor *ct_nn_col2im_impl(ct_tensor *input, ct_intlist output_size, ct_intlist kernel_size, ct_intlist dilation,
                             ct_intlist padding, ct_intlist stride) {
    char b1[128];
    ct_conv_geom g;
    if (fold_params(kernel_size, dilation, padding, stride, &g, "col2im")) return NULL;
    if (!ct_dtype_is_floating(input->dtype))
        return ct_error(CT_ERR_NOT_IMPLEMENTED, "\"col2im_out_cpu\" not implemented for '%s'",
                        torch_type_name(input->dtype));
    int64_t os[2] = {0, 0};
    if (pair2(output_size, os, "output_size", "col2im")) return NULL;
    int nd = input->ndim;
    if ((nd != 2 && nd != 3) || input->sizes[nd - 2] == 0)
        return ct_error(CT_ERR_RUNTIME,
                        "Expected 2D or 3D (batch mode) tensor with possibly 0 batch size and non-zero dimensions "
                        "for input, but got: %s",
                        shp(input->sizes, nd, b1));
    bool batched = nd == 3;
    int64_t N = batched ? input->sizes[0] : 1, CK = input->sizes[nd - 2], L = input->sizes[nd - 1];
    int64_t K = g.k[1] * g.k[2];
    if (CK % K != 0)
        return ct_error(CT_ERR_RUNTIME,
                        "Expected size of input's dimension 1 to be divisible by the product of kernel_size, but got "
                        "input.size(1)=%lld and kernel_size=(%lld, %lld).",
                        (long long)CK, (long long)g.k[1], (long long)g.k[2]);
    g.Ci = CK / K;
    g.isz[1] = os[0];
    g.isz[2] = os[1];
    int64_t nb[2];
    for (int i = 1; i < 3; i++) {
        int64_t eff = g.d[i] * (g.k[i] - 1) + 1;
        nb[i - 1] = (g.isz[i] + 2 * g.p[i] - eff) / g.s[i] + 1;
        if (g.isz[i] + 2 * g.p[i] - eff < 0) nb[i - 1] = 0;
        g.osz[i] = nb[i - 1];
    }
    if (nb[0] < 1 || nb[1] < 1 || nb[0] * nb[1] != L)
        return ct_error(CT_ERR_RUNTIME,
                        "Given output_size=(%lld, %lld), kernel_size=(%lld, %lld), dilation=(%lld, %lld), "
                        "padding=(%lld, %lld), stride=(%lld, %lld), expected size of input's dimension 2 to match the "
                        "calculated number of sliding blocks %lld * %lld = %lld, but got input.size(2)=%lld.",
                        (long long)os[0], (long long)os[1], (long long)g.k[1], (long long)g.k[2], (long long)g.d[1],
                        (long long)g.d[2], (long long)g.p[1], (long long)g.p[2], (long long)g.s[1],
                        (long long)g.s[2], (long long)nb[0], (long long)nb[1], (long long)(nb[0] * nb[1]),
                        (long long)L);
    int cd = compute_dtype(input->dtype);
    ct_tensor *x = ct_contig_as(input, cd);
    if (!x) return NULL;
    int64_t osz[4] = {N, g.Ci, os[0], os[1]};
    ct_tensor *out = ct_zeros((ct_intlist){batched ? osz : osz + 1, batched ? 4 : 3}, cd, -1);
    if (!out) {
        ct_tensor_release(x);
        return NULL;
    }
    size_t es = ct_dtype_size(cd);
    fold_ctx c = {&g, cd, ct_tensor_data(x), ct_tensor_data(out), (int64_t)(CK * L * es),
                  (int64_t)(g.Ci * os[0] * os[1] * es), true};
    if (out->numel > 0) ct_parallel_for(N, 1, fold_task, &c);
    ct_tensor_release(x);
    return cast_back(out, input->dtype);
}

/* ------------------------------------------------------------------ pixel shuffle */

/* out = contiguous copy of input (contiguous) viewed as `vs` (6-D) permuted by perm, with
 * final sizes fs. */
static ct_tensor *permuted_copy(ct_tensor *x, const int64_t *vs, const int *perm, const int64_t *fs, int fnd) {
    int64_t vstr[6], ps[6], pst[6];
    ct_contiguous_strides(vs, 6, vstr);
    for (int i = 0; i < 6; i++) {
        ps[i] = vs[perm[i]];
        pst[i] = vstr[perm[i]];
    }
    ct_tensor *v = ct_tensor_new_view(x->storage, x->dtype, x->offset, ps, pst, 6);
    if (!v) return NULL;
    ct_tensor *c = ct_empty(ps, 6, x->dtype);
    if (c && ct_copy_into(c, v)) {
        ct_tensor_release(c);
        c = NULL;
    }
    ct_tensor_release(v);
    if (!c) return NULL;
    ct_tensor *r = ct_tensor_new_view(c->storage, c->dtype, 0, fs, NULL, fnd);
    ct_tensor_release(c);
    return r;
}

static ct_tensor *shuffle(ct_tensor *input, int64_t r, bool up) {
    char b1[128];
    const char *op = up ? "pixel_shuffle" : "pixel_unshuffle";
    int nd = input->ndim;
    if (nd < 3)
        return ct_error(CT_ERR_RUNTIME, "%s expects input to have at least 3 dimensions, but got input with %d "
                        "dimension(s)", op, nd);
    if (r <= 0)
        return ct_error(CT_ERR_RUNTIME, "%s expects a positive %s, but got %lld", op,
                        up ? "upscale_factor" : "downscale_factor", (long long)r);
    int64_t C = input->sizes[nd - 3], H = input->sizes[nd - 2], W = input->sizes[nd - 1];
    if (up && C % (r * r) != 0)
        return ct_error(CT_ERR_RUNTIME,
                        "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                        "upscale_factor, but input.size(-3)=%lld is not divisible by %lld",
                        (long long)C, (long long)(r * r));
    if (!up && H % r != 0)
        return ct_error(CT_ERR_RUNTIME, "pixel_unshuffle expects height to be divisible by downscale_factor, but "
                        "input.size(-2)=%lld is not divisible by %lld", (long long)H, (long long)r);
    if (!up && W % r != 0)
        return ct_error(CT_ERR_RUNTIME, "pixel_unshuffle expects width to be divisible by downscale_factor, but "
                        "input.size(-1)=%lld is not divisible by %lld", (long long)W, (long long)r);
    (void)b1;
    int64_t B = 1;
    for (int i = 0; i < nd - 3; i++) B *= input->sizes[i];
    ct_tensor *x = ct_contig_as(input, -1);
    if (!x) return NULL;
    int64_t fs[CT_MAX_DIM];
    for (int i = 0; i < nd - 3; i++) fs[i] = input->sizes[i];
    ct_tensor *out;
    if (up) {
        int64_t oc = C / (r * r);
        int64_t vs[6] = {B, oc, r, r, H, W};
        int perm[6] = {0, 1, 4, 2, 5, 3};
        fs[nd - 3] = oc;
        fs[nd - 2] = H * r;
        fs[nd - 1] = W * r;
        out = permuted_copy(x, vs, perm, fs, nd);
    } else {
        int64_t vs[6] = {B, C, H / r, r, W / r, r};
        int perm[6] = {0, 1, 3, 5, 2, 4};
        fs[nd - 3] = C * r * r;
        fs[nd - 2] = H / r;
        fs[nd - 1] = W / r;
        out = permuted_copy(x, vs, perm, fs, nd);
    }
    ct_tensor_release(x);
    return out;
}

ct_tensor *ct_nn_pixel_shuffle_impl(ct_tensor *input, int64_t upscale_factor) {
    return shuffle(input, upscale_factor, true);
}

ct_tensor *ct_nn_pixel_unshuffle_impl(ct_tensor *input, int64_t downscale_factor) {
    return shuffle(input, downscale_factor, false);
}

/* ------------------------------------------------------------------ linear */

static void gemm_f(int cd, int64_t M, int64_t N, int64_t K, const void *A, int64_t rsa, int64_t csa, const void *B,
                   int64_t rsb, int64_t csb, double beta, void *C, int64_t rsc, int64_t csc) {
    if (cd == CT_FLOAT64)
        ct_dgemm(M, N, K, 1.0, A, rsa, csa, B, rsb, csb, beta, C, rsc, csc);
    else
        ct_sgemm(M, N, K, 1.0f, A, rsa, csa, B, rsb, csb, (float)beta, C, rsc, csc);
}

static int linear_check(ct_tensor *input, ct_tensor *weight, ct_tensor *bias) {
    if (input->ndim == 0 || weight->ndim != 2) {
        char b1[128], b2[128];
        return ct_errorf(CT_ERR_RUNTIME, "[linear] expected input with at least 1 dimension and a 2-D weight, got "
                         "input %s and weight %s", shp(input->sizes, input->ndim, b1),
                         shp(weight->sizes, weight->ndim, b2));
    }
    int64_t I = input->sizes[input->ndim - 1];
    if (weight->sizes[1] != I) {
        int64_t M = input->numel / (I ? I : 1);
        if (input->ndim == 1) M = 1;
        return ct_errorf(CT_ERR_RUNTIME, "mat1 and mat2 shapes cannot be multiplied (%lldx%lld and %lldx%lld)",
                         (long long)(I ? input->numel / I : M), (long long)I, (long long)weight->sizes[1],
                         (long long)weight->sizes[0]);
    }
    if (input->dtype != weight->dtype)
        return ct_errorf(CT_ERR_RUNTIME, "expected m1 and m2 to have the same dtype, but got: %s != %s",
                         torch_type_name(input->dtype) , torch_type_name(weight->dtype));
    if (bias) {
        if (bias->dtype != input->dtype)
            return ct_errorf(CT_ERR_RUNTIME, "expected scalar type %s but found %s", torch_type_name(input->dtype),
                             torch_type_name(bias->dtype));
        if (bias->ndim > 1 || (bias->numel != weight->sizes[0] && bias->numel != 1)) {
            char b1[128];
            return ct_errorf(CT_ERR_RUNTIME,
                             "The expanded size of the tensor (%lld) must match the existing size (%lld) at "
                             "non-singleton dimension %d.  Tensor sizes: %s",
                             (long long)weight->sizes[0], (long long)(bias->ndim ? bias->sizes[0] : 1),
                             input->ndim - 1, shp(bias->sizes, bias->ndim, b1));
        }
    }
    return 0;
}

ct_tensor *ct_nn_linear_impl(ct_tensor *input, ct_tensor *weight, ct_tensor *bias) {
    if (linear_check(input, weight, bias)) return NULL;
    int64_t I = weight->sizes[1], O = weight->sizes[0];
    int64_t M = I ? input->numel / I : 1;
    if (input->ndim > 1 && I == 0) {
        M = 1;
        for (int i = 0; i < input->ndim - 1; i++) M *= input->sizes[i];
    }
    int64_t osz[CT_MAX_DIM];
    for (int i = 0; i < input->ndim - 1; i++) osz[i] = input->sizes[i];
    osz[input->ndim - 1] = O;
    int dt = input->dtype;
    ct_tensor *x = ct_contig_as(input, -1), *w = x ? ct_contig_as(weight, -1) : NULL;
    ct_tensor *out = w ? ct_empty(osz, input->ndim, dt) : NULL;
    if (!out) goto fail;
    if (out->numel > 0) {
        ct_scalar beta = ct_scalar_i(0);
        if (bias) {
            int64_t bs[2] = {M, O};
            ct_tensor *ov = ct_tensor_new_view(out->storage, dt, 0, bs, NULL, 2);
            int rc = ov ? ct_copy_into(ov, bias) : -1;
            if (ov) ct_tensor_release(ov);
            if (rc) goto fail;
            beta = ct_scalar_i(1);
        }
        int64_t z = 0;
        ct_gemm_operand A = {ct_tensor_data(x), I, 1}, B = {ct_tensor_data(w), 1, I}, C = {ct_tensor_data(out), O, 1};
        if (ct_gemm_batched(dt, 1, M, O, I, ct_scalar_i(1), A, &z, B, &z, beta, C, &z)) goto fail;
    }
    ct_tensor_release(x);
    ct_tensor_release(w);
    return out;
fail:
    if (x) ct_tensor_release(x);
    if (w) ct_tensor_release(w);
    if (out) ct_tensor_release(out);
    return NULL;
}

int ct_nn_linear_backward(ct_tensor *grad_output, ct_tensor *input, ct_tensor *weight, const bool mask[3],
                          ct_tensor **gi, ct_tensor **gw, ct_tensor **gb) {
    *gi = *gw = *gb = NULL;
    int cd = compute_dtype(input->dtype);
    int64_t I = weight->sizes[1], O = weight->sizes[0];
    int64_t M = 1;
    for (int i = 0; i < input->ndim - 1; i++) M *= input->sizes[i];
    ct_tensor *t[3] = {ct_contig_as(grad_output, cd), ct_contig_as(input, cd), ct_contig_as(weight, cd)};
    if (!t[0] || !t[1] || !t[2]) goto fail;
    const void *G = ct_tensor_data(t[0]), *X = ct_tensor_data(t[1]), *W = ct_tensor_data(t[2]);
    if (mask[0]) { /* gX[M, I] = G[M, O] @ W[O, I] */
        if (!(*gi = ct_empty(input->sizes, input->ndim, cd))) goto fail;
        gemm_f(cd, M, I, O, G, O, 1, W, I, 1, 0, ct_tensor_data(*gi), I, 1);
    }
    if (mask[1]) { /* gW[O, I] = G^T[O, M] @ X[M, I] */
        if (!(*gw = ct_empty(weight->sizes, 2, cd))) goto fail;
        gemm_f(cd, O, I, M, G, 1, O, X, I, 1, 0, ct_tensor_data(*gw), I, 1);
    }
    if (mask[2]) {
        if (!(*gb = ct_empty(&O, 1, cd))) goto fail;
        ct_conv_bias_grad(cd, M, O, 1, G, ct_tensor_data(*gb));
    }
    rel(t, 3);
    if (*gi && !(*gi = cast_back(*gi, input->dtype))) goto fail2;
    if (*gw && !(*gw = cast_back(*gw, weight->dtype))) goto fail2;
    if (*gb && !(*gb = cast_back(*gb, input->dtype))) goto fail2;
    return 0;
fail:
    rel(t, 3);
fail2:
    if (*gi) ct_tensor_release(*gi);
    if (*gw) ct_tensor_release(*gw);
    if (*gb) ct_tensor_release(*gb);
    *gi = *gw = *gb = NULL;
    return -1;
}

/* ------------------------------------------------------------------ bilinear */

static int bilinear_check(ct_tensor *x1, ct_tensor *x2, ct_tensor *w, ct_tensor *b) {
    char b1[128], b2[128];
    if (w->ndim != 3)
        return ct_errorf(CT_ERR_RUNTIME, "bilinear(): weight must be three-dimensional, but got %d dimension(s)",
                         w->ndim);
    if (x1->ndim != x2->ndim)
        return ct_errorf(CT_ERR_RUNTIME, "bilinear(): input dimensions do not match: got %d and %d", x1->ndim,
                         x2->ndim);
    if (x1->ndim == 0) return ct_errorf(CT_ERR_RUNTIME, "bilinear(): inputs must have at least one dimension");
    for (int i = 0; i < x1->ndim - 1; i++)
        if (x1->sizes[i] != x2->sizes[i])
            return ct_errorf(CT_ERR_RUNTIME, "bilinear(): input batch dimensions do not match: got %s and %s",
                             shp(x1->sizes, x1->ndim - 1, b1), shp(x2->sizes, x2->ndim - 1, b2));
    if (x1->sizes[x1->ndim - 1] != w->sizes[1])
        return ct_errorf(CT_ERR_RUNTIME, "bilinear(): input1 size does not match weight size: got %lld but expected "
                         "%lld", (long long)x1->sizes[x1->ndim - 1], (long long)w->sizes[1]);
    if (x2->sizes[x2->ndim - 1] != w->sizes[2])
        return ct_errorf(CT_ERR_RUNTIME, "bilinear(): input2 size does not match weight size: got %lld but expected "
                         "%lld", (long long)x2->sizes[x2->ndim - 1], (long long)w->sizes[2]);
    if (b && (b->ndim != 1 || b->sizes[0] != w->sizes[0]))
        return ct_errorf(CT_ERR_RUNTIME, "bilinear(): bias size does not match weight size: got %lld but expected "
                         "%lld", (long long)(b->ndim ? b->sizes[b->ndim - 1] : 1), (long long)w->sizes[0]);
    if (x1->dtype != w->dtype || x2->dtype != w->dtype || (b && b->dtype != w->dtype))
        return ct_errorf(CT_ERR_RUNTIME, "expected scalar type %s but found %s", torch_type_name(x1->dtype),
                         torch_type_name(x1->dtype != w->dtype ? w->dtype : x2->dtype != w->dtype ? x2->dtype
                                                                                              : b->dtype));
    if (!ct_dtype_is_floating(x1->dtype))
        return ct_errorf(CT_ERR_RUNTIME, "\"bilinear\" not implemented for '%s'", torch_type_name(x1->dtype));
    return 0;
}

/* tmp[o][m, j] = sum_i x1[m, i] W[o, i, j]  (float64, O*M*J) */
static double *bilinear_tmp(const double *X1, const double *W, int64_t M, int64_t O, int64_t I, int64_t J) {
    double *tmp = ct_alloc_bytes((size_t)(O * M * J + 1) * sizeof(double));
    if (!tmp) return NULL;
    for (int64_t o = 0; o < O; o++) ct_dgemm(M, J, I, 1.0, X1, I, 1, W + o * I * J, J, 1, 0.0, tmp + o * M * J, J, 1);
    return tmp;
}

ct_tensor *ct_nn_bilinear_impl(ct_tensor *input1, ct_tensor *input2, ct_tensor *weight, ct_tensor *bias) {
    if (bilinear_check(input1, input2, weight, bias)) return NULL;
    int64_t O = weight->sizes[0], I = weight->sizes[1], J = weight->sizes[2];
    int64_t M = 1;
    for (int i = 0; i < input1->ndim - 1; i++) M *= input1->sizes[i];
    int64_t osz[CT_MAX_DIM];
    for (int i = 0; i < input1->ndim - 1; i++) osz[i] = input1->sizes[i];
    osz[input1->ndim - 1] = O;
    ct_tensor *t[4] = {ct_contig_as(input1, CT_FLOAT64), ct_contig_as(input2, CT_FLOAT64),
                       ct_contig_as(weight, CT_FLOAT64), bias ? ct_contig_as(bias, CT_FLOAT64) : NULL};
    ct_tensor *out = NULL;
    if (!t[0] || !t[1] || !t[2] || (bias && !t[3])) goto fail;
    out = ct_empty(osz, input1->ndim, CT_FLOAT64);
    if (!out) goto fail;
    {
        const double *X1 = ct_tensor_data(t[0]), *X2 = ct_tensor_data(t[1]), *W = ct_tensor_data(t[2]);
        const double *B = bias ? ct_tensor_data(t[3]) : NULL;
        double *Y = ct_tensor_data(out);
        double *tmp = bilinear_tmp(X1, W, M, O, I, J);
        if (!tmp) goto fail;
        for (int64_t m = 0; m < M; m++)
            for (int64_t o = 0; o < O; o++) {
                const double *tr = tmp + (o * M + m) * J, *x2 = X2 + m * J;
                double acc = 0;
                for (int64_t j = 0; j < J; j++) acc += tr[j] * x2[j];
                Y[m * O + o] = acc + (B ? B[o] : 0);
            }
        ct_free_bytes(tmp);
    }
    rel(t, 4);
    return cast_back(out, input1->dtype);
fail:
    rel(t, 4);
    if (out) ct_tensor_release(out);
    return NULL;
}

int ct_nn_bilinear_backward(ct_tensor *grad_output, ct_tensor *input1, ct_tensor *input2, ct_tensor *weight,
                            const bool mask[4], ct_tensor **g1, ct_tensor **g2, ct_tensor **gw, ct_tensor **gb) {
    *g1 = *g2 = *gw = *gb = NULL;
    int64_t O = weight->sizes[0], I = weight->sizes[1], J = weight->sizes[2];
    int64_t M = 1;
    for (int i = 0; i < input1->ndim - 1; i++) M *= input1->sizes[i];
    ct_tensor *t[4] = {ct_contig_as(grad_output, CT_FLOAT64), ct_contig_as(input1, CT_FLOAT64),
                       ct_contig_as(input2, CT_FLOAT64), ct_contig_as(weight, CT_FLOAT64)};
    double *tmp = NULL;
    if (!t[0] || !t[1] || !t[2] || !t[3]) goto fail;
    const double *G = ct_tensor_data(t[0]), *X1 = ct_tensor_data(t[1]), *X2 = ct_tensor_data(t[2]),
                 *W = ct_tensor_data(t[3]);
    if (mask[0]) { /* g1[m, i] = sum_o g[m, o] sum_j W[o, i, j] x2[m, j] */
        if (!(*g1 = ct_zeros((ct_intlist){input1->sizes, input1->ndim}, CT_FLOAT64, -1))) goto fail;
        tmp = ct_alloc_bytes((size_t)(O * M * I + 1) * sizeof(double));
        if (!tmp) goto fail;
        for (int64_t o = 0; o < O; o++) /* tmp[o][m, i] = X2[m, :] @ W[o]^T */
            ct_dgemm(M, I, J, 1.0, X2, J, 1, W + o * I * J, 1, J, 0.0, tmp + o * M * I, I, 1);
        double *R = ct_tensor_data(*g1);
        for (int64_t m = 0; m < M; m++)
            for (int64_t o = 0; o < O; o++) {
                double gv = G[m * O + o];
                const double *tr = tmp + (o * M + m) * I;
                for (int64_t i = 0; i < I; i++) R[m * I + i] += gv * tr[i];
            }
        ct_free_bytes(tmp);
        tmp = NULL;
    }
    if (mask[1]) { /* g2[m, j] = sum_o g[m, o] tmp[o][m, j] with tmp = x1 @ W[o] */
        if (!(*g2 = ct_zeros((ct_intlist){input2->sizes, input2->ndim}, CT_FLOAT64, -1))) goto fail;
        tmp = bilinear_tmp(X1, W, M, O, I, J);
        if (!tmp) goto fail;
        double *R = ct_tensor_data(*g2);
        for (int64_t m = 0; m < M; m++)
            for (int64_t o = 0; o < O; o++) {
                double gv = G[m * O + o];
                const double *tr = tmp + (o * M + m) * J;
                for (int64_t j = 0; j < J; j++) R[m * J + j] += gv * tr[j];
            }
        ct_free_bytes(tmp);
        tmp = NULL;
    }
    if (mask[2]) { /* gW[o] = (g[:, o] * x1)^T @ x2 */
        if (!(*gw = ct_empty(weight->sizes, 3, CT_FLOAT64))) goto fail;
        tmp = ct_alloc_bytes((size_t)(M * I + 1) * sizeof(double));
        if (!tmp) goto fail;
        double *R = ct_tensor_data(*gw);
        for (int64_t o = 0; o < O; o++) {
            for (int64_t m = 0; m < M; m++)
                for (int64_t i = 0; i < I; i++) tmp[m * I + i] = G[m * O + o] * X1[m * I + i];
            ct_dgemm(I, J, M, 1.0, tmp, 1, I, X2, J, 1, 0.0, R + o * I * J, J, 1);
        }
        ct_free_bytes(tmp);
        tmp = NULL;
    }
    if (mask[3]) {
        if (!(*gb = ct_empty(&O, 1, CT_FLOAT64))) goto fail;
        ct_conv_bias_grad(CT_FLOAT64, M, O, 1, G, ct_tensor_data(*gb));
    }
    rel(t, 4);
    int dt = input1->dtype;
    if (*g1 && !(*g1 = cast_back(*g1, dt))) goto fail2;
    if (*g2 && !(*g2 = cast_back(*g2, dt))) goto fail2;
    if (*gw && !(*gw = cast_back(*gw, dt))) goto fail2;
    if (*gb && !(*gb = cast_back(*gb, dt))) goto fail2;
    return 0;
fail:
    rel(t, 4);
    if (tmp) ct_free_bytes(tmp);
fail2:
    if (*g1) ct_tensor_release(*g1);
    if (*g2) ct_tensor_release(*g2);
    if (*gw) ct_tensor_release(*gw);
    if (*gb) ct_tensor_release(*gb);
    *g1 = *g2 = *gw = *gb = NULL;
    return -1;
}

/* ------------------------------------------------------------------ init helper */

/* x rounded to dtype (the arithmetic of one torch op on a tensor of that dtype). */
static double round_to(double x, int dtype) {
    if (dtype == CT_FLOAT64) return x;
    unsigned char b[8];
    ct_store_f64(b, dtype, x);
    return ct_load_f64(b, dtype);
}

/* nn.init.trunc_normal_ as torch 2.13 draws it: when the mass inside [a, b] exceeds 0.3,
 * normal draws over the whole tensor, redrawn (whole-tensor normal_) where out of bounds;
 * otherwise uniform proposals on [a, b] accepted by log(u) > log-density (whole-tensor
 * uniform_ draws for proposals and acceptances). The same draws as torch in the same order. */
ct_tensor *ct_nn_init_trunc_normal_(ct_tensor *self, double mean, double std, double a, double b,
                                    ct_generator *generator) {
    int dt = self->dtype;
    if (!ct_dtype_is_floating(dt))
        return ct_error(CT_ERR_NOT_IMPLEMENTED, "\"normal_kernel_cpu\" not implemented for '%s'", torch_type_name(dt));
    ct_tensor *r = NULL, *tmp = NULL, *acc = NULL;
    bool *pending = NULL;
    if (ct_tensor_is_contiguous(self)) {
        ct_tensor_retain(self);
        r = self;
    } else if (!(r = ct_empty(self->sizes, self->ndim, dt))) {
        return NULL;
    }
    int64_t n = r->numel;
    char *rp = ct_tensor_data(r);
    size_t es = ct_dtype_size(dt);
    if (!(tmp = ct_empty(r->sizes, r->ndim, dt))) goto fail;
    char *tp = ct_tensor_data(tmp);
    double cdf_a = 0.5 * (1.0 + erf((a - mean) / std / sqrt(2.0))), cdf_b = 0.5 * (1.0 + erf((b - mean) / std / sqrt(2.0)));
    if (cdf_b - cdf_a > 0.3) {
        double lo = round_to(a, dt), hi = round_to(b, dt);
        if (!ct_normal_(r, mean, std, generator)) goto fail;
        ct_tensor_release(r); /* ct_normal_ returned a new reference to r */
        for (;;) {
            bool any = false;
            for (int64_t i = 0; i < n && !any; i++) {
                double v = ct_load_f64(rp + i * es, dt);
                any = v < lo || v > hi;
            }
            if (!any) break;
            if (!ct_normal_(tmp, mean, std, generator)) goto fail;
            ct_tensor_release(tmp);
            for (int64_t i = 0; i < n; i++) {
                double v = ct_load_f64(rp + i * es, dt);
                if (v < lo || v > hi) memcpy(rp + i * es, tp + i * es, es);
            }
        }
    } else {
        double mode = a > (mean < b ? mean : b) ? a : (mean < b ? mean : b);
        double log_peak = -0.5 * ((mode - mean) / std) * ((mode - mean) / std);
        double rm = round_to(mean, dt), rs = round_to(std, dt), rl = round_to(log_peak, dt);
        if (!(acc = ct_empty(r->sizes, r->ndim, dt))) goto fail;
        pending = malloc((size_t)(n + 1));
        if (!pending) {
            ct_error(CT_ERR_MEMORY, "out of memory");
            goto fail;
        }
        char *ap = ct_tensor_data(acc);
        if (!ct_uniform_(r, a, b, generator)) goto fail;
        ct_tensor_release(r);
        const char *cand = rp;
        bool any = false;
        for (int round = 0;; round++) {
            if (!ct_uniform_(acc, 0.0, 1.0, generator)) goto fail;
            ct_tensor_release(acc);
            any = false;
            for (int64_t i = 0; i < n; i++) {
                if (round > 0 && !pending[i]) continue;
                double c = ct_load_f64(cand + i * es, dt);
                if (round > 0) memcpy(rp + i * es, cand + i * es, es); /* result = where(pending, candidates, result) */
                double t = round_to(c - rm, dt);
                t = round_to(t / rs, dt);
                t = round_to(t * t, dt);
                t = round_to(t * -0.5, dt);
                t = round_to(t - rl, dt);
                double lu = round_to(log(ct_load_f64(ap + i * es, dt)), dt);
                pending[i] = lu > t;
                any |= pending[i];
            }
            if (!any) break;
            if (!ct_uniform_(tmp, a, b, generator)) goto fail;
            ct_tensor_release(tmp);
            cand = tp;
        }
    }
    if (r != self && ct_copy_into(self, r)) goto fail;
    if (r == self) ct_tensor_bump_version(self);
    ct_tensor_release(r);
    ct_tensor_release(tmp);
    if (acc) ct_tensor_release(acc);
    free(pending);
    ct_tensor_retain(self);
    return self;
fail:
    if (r) ct_tensor_release(r);
    if (tmp) ct_tensor_release(tmp);
    if (acc) ct_tensor_release(acc);
    free(pending);
    return NULL;
}
