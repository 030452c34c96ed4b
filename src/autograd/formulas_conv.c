/* Backward formulas of the conv family (src/ops/nn_conv.ops). Convolution uses the fused
 * primitive backward kernel, and under create_graph recorded ops instead (the adjoint
 * convolution for the input, a recorded bilinear weight-gradient op whose own backward is made
 * of convolutions, a recorded bias sum), so it differentiates any number of times. Constant
 * pad, im2col/col2im and pixel_shuffle/unshuffle are written with their adjoint ops; linear,
 * bilinear and the non-constant pads likewise switch to recorded ops under create_graph. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd_internal.h"
#include "../ops/nn_conv.h"

/* op parameters kept on the node (lists of up to 3 spatial values each) */
typedef struct conv_payload {
    int64_t stride[3], padding[3], dilation[3], output_padding[3];
    int64_t ns, np, nd, nop;
    int64_t groups;
    bool transposed;
    int64_t pad[2 * CT_MAX_DIM];
    int64_t npad;
    int64_t in_sizes[CT_MAX_DIM];
    int in_ndim;
    char mode[16];
} conv_payload;

static void payload_free(ct_node *n) {
    free(n->payload);
    n->payload = NULL;
}

static conv_payload *payload_new(ct_node *n) {
    conv_payload *p = calloc(1, sizeof *p);
    if (!p) {
        ct_error(CT_ERR_MEMORY, "out of memory");
        return NULL;
    }
    n->payload = p;
    n->destroy = payload_free;
    return p;
}

static int64_t copy_list(int64_t *dst, ct_intlist l, int max) {
    int64_t n = l.n < max ? l.n : max;
    for (int64_t i = 0; i < n; i++) dst[i] = l.data[i];
    return n < 0 ? 0 : n;
}

static bool floating(ct_tensor *t) { return ct_dtype_is_floating(t->dtype); }

/* ------------------------------------------------------------------ convolution */

static int64_t lv(const int64_t *v, int64_t n, int i) { return n == 1 ? v[0] : v[i]; }

/* Differentiable gradient of the convolution's input: the adjoint convolution of go with w
 * (conv <-> conv_transpose), recorded like any convolution. in_sizes: the input's sizes. */
static ct_tensor *conv_grad_input(ct_tensor *go, ct_tensor *w, const conv_payload *p, const int64_t *in_sizes) {
    ct_intlist s = {p->stride, p->ns}, pd = {p->padding, p->np}, dl = {p->dilation, p->nd};
    if (p->transposed) {
        int64_t zero = 0;
        return ct_nn_convolution(go, w, NULL, s, pd, dl, false, (ct_intlist){&zero, 1}, p->groups);
    }
    int D = go->ndim - 2;
    int64_t op[3];
    for (int i = 0; i < D && i < 3; i++) {
        int64_t k = w->sizes[2 + i];
        op[i] = in_sizes[2 + i] - ((go->sizes[2 + i] - 1) * lv(p->stride, p->ns, i) - 2 * lv(p->padding, p->np, i) +
                                   lv(p->dilation, p->nd, i) * (k - 1) + 1);
    }
    return ct_nn_convolution(go, w, NULL, s, pd, dl, true, (ct_intlist){op, D}, p->groups);
}

/* grad_weight = WG(go, x) recorded as a bilinear op (for double backward):
 * <ggW, WG(go, x)> = <go, conv(x, ggW)>, so d/dgo = conv(x, ggW) and d/dx = the input
 * gradient of conv(x, .) with weight ggW and output gradient go. */
static int conv_wgrad_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    conv_payload *p = n->payload;
    ct_tensor *go = ct_node_saved(n, 0), *x = go ? ct_node_saved(n, 1) : NULL;
    int rc = -1;
    if (!x) goto out;
    if (ct_node_needs_grad(n, 0)) {
        gi[0] = ct_nn_convolution(x, g[0], NULL, (ct_intlist){p->stride, p->ns}, (ct_intlist){p->padding, p->np},
                                  (ct_intlist){p->dilation, p->nd}, p->transposed,
                                  (ct_intlist){p->output_padding, p->nop}, p->groups);
        if (!gi[0]) goto out;
    }
    if (ct_node_needs_grad(n, 1) && !(gi[1] = conv_grad_input(go, g[0], p, x->sizes))) goto out;
    rc = 0;
out:
    if (go) ct_tensor_release(go);
    if (x) ct_tensor_release(x);
    return rc;
}

/* grad_bias = sum of go over batch and space; its gradient broadcasts back. */
static int conv_bgrad_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!ct_node_needs_grad(n, 0)) return 0;
    const ct_input_meta *m = &n->in_meta[0];
    int64_t vs[CT_MAX_DIM];
    for (int i = 0; i < m->ndim; i++) vs[i] = i == 1 ? m->sizes[1] : 1;
    ct_tensor *v = ct_view(g[0], (ct_intlist){vs, m->ndim});
    ct_tensor *z = v ? ct_zeros((ct_intlist){m->sizes, m->ndim}, g[0]->dtype, -1) : NULL;
    gi[0] = z ? ct_add(z, v, ct_scalar_i(1)) : NULL;
    if (v) ct_tensor_release(v);
    if (z) ct_tensor_release(z);
    return gi[0] ? 0 : -1;
}

static conv_payload *payload_copy(ct_node *node, const conv_payload *src) {
    conv_payload *p = payload_new(node);
    if (p) *p = *src;
    return p;
}

/* create_graph path: every gradient is produced by a recorded op. */
static int convolution_backward_graph(ct_node *n, ct_tensor *go, ct_tensor *x, ct_tensor *w, ct_tensor **gi) {
    conv_payload *p = n->payload;
    if (ct_node_needs_grad(n, 0) && !(gi[0] = conv_grad_input(go, w, p, x->sizes))) return -1;
    bool mask[3] = {false, ct_node_needs_grad(n, 1), ct_node_needs_grad(n, 2)};
    ct_tensor *unused, *gw, *gb;
    if (ct_nn_convolution_backward(go, x, w, (ct_intlist){p->stride, p->ns}, (ct_intlist){p->padding, p->np},
                                   (ct_intlist){p->dilation, p->nd}, p->transposed,
                                   (ct_intlist){p->output_padding, p->nop}, p->groups, mask, &unused, &gw, &gb))
        return -1;
    gi[1] = gw;
    gi[2] = gb;
    if (gw) {
        /* WG(go, x) for conv; for conv_transpose the roles are WG(grad of output, input) too */
        ct_tensor *ins[2] = {go, x};
        if (ct_autograd_should_record(2, ins)) {
            ct_node *node = ct_autograd_record("ConvolutionBackwardBackward0", conv_wgrad_backward, gw, 2, ins);
            if (!node || !payload_copy(node, p) || ct_node_save(node, 0, go, -1) || ct_node_save(node, 1, x, -1))
                return -1;
        }
    }
    if (gb && ct_autograd_should_record(1, &go) &&
        !ct_autograd_record("ConvolutionBackwardBackward0", conv_bgrad_backward, gb, 1, &go))
        return -1;
    return 0;
}

static int convolution_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    conv_payload *p = n->payload;
    ct_tensor *x = ct_node_saved(n, 0), *w = x ? ct_node_saved(n, 1) : NULL;
    if (!w) {
        if (x) ct_tensor_release(x);
        return -1;
    }
    int rc;
    if (ct_grad_enabled()) {
        rc = convolution_backward_graph(n, g[0], x, w, gi);
    } else {
        bool mask[3] = {ct_node_needs_grad(n, 0), ct_node_needs_grad(n, 1), ct_node_needs_grad(n, 2)};
        rc = ct_nn_convolution_backward(g[0], x, w, (ct_intlist){p->stride, p->ns}, (ct_intlist){p->padding, p->np},
                                        (ct_intlist){p->dilation, p->nd}, p->transposed,
                                        (ct_intlist){p->output_padding, p->nop}, p->groups, mask, &gi[0], &gi[1],
                                        &gi[2]);
    }
    ct_tensor_release(x);
    ct_tensor_release(w);
    return rc;
}

int ctg_nn_convolution(ct_tensor *result, ct_tensor *input, ct_tensor *weight, ct_tensor *bias, ct_intlist stride,
                       ct_intlist padding, ct_intlist dilation, bool transposed, ct_intlist output_padding,
                       int64_t groups) {
    ct_tensor *ins[3] = {input, weight, bias};
    if (!ct_autograd_should_record(3, ins) || !floating(result)) return 0;
    ct_node *node = ct_autograd_record("ConvolutionBackward0", convolution_backward, result, 3, ins);
    if (!node) return -1;
    conv_payload *p = payload_new(node);
    if (!p) return -1;
    p->ns = copy_list(p->stride, stride, 3);
    p->np = copy_list(p->padding, padding, 3);
    p->nd = copy_list(p->dilation, dilation, 3);
    p->nop = copy_list(p->output_padding, output_padding, 3);
    p->groups = groups;
    p->transposed = transposed;
    if (ct_node_save(node, 0, input, -1) || ct_node_save(node, 1, weight, -1)) return -1;
    return 0;
}

/* ------------------------------------------------------------------ pad */

static int pad_backward_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!ct_node_needs_grad(n, 0)) return 0;
    conv_payload *p = n->payload;
    gi[0] = ct_nn_pad(g[0], (ct_intlist){p->pad, p->npad}, p->mode, NULL);
    return gi[0] ? 0 : -1;
}

static int pad_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!ct_node_needs_grad(n, 0)) return 0;
    conv_payload *p = n->payload;
    if (!strcmp(p->mode, "constant")) {
        int64_t neg[2 * CT_MAX_DIM];
        for (int64_t i = 0; i < p->npad; i++) neg[i] = -p->pad[i];
        gi[0] = ct_nn_pad(g[0], (ct_intlist){neg, p->npad}, "constant", NULL);
    } else {
        gi[0] = ct_nn_pad_backward(g[0], p->in_sizes, p->in_ndim, (ct_intlist){p->pad, p->npad}, p->mode);
        /* the scatter-add is linear in g: its own gradient is the pad again */
        if (gi[0] && ct_grad_enabled() && ct_autograd_should_record(1, &g[0])) {
            ct_node *node = ct_autograd_record(n->name, pad_backward_backward, gi[0], 1, &g[0]);
            conv_payload *q = node ? payload_new(node) : NULL;
            if (!q) return -1;
            *q = *p;
        }
    }
    return gi[0] ? 0 : -1;
}

int ctg_nn_pad(ct_tensor *result, ct_tensor *input, ct_intlist pad, const char *mode, const double *value) {
    (void)value;
    if (!ct_autograd_should_record(1, &input) || !floating(result)) return 0;
    const char *m = mode ? mode : "constant";
    const char *name = "ConstantPadNdBackward0";
    int k = (int)(pad.n / 2);
    if (!strcmp(m, "reflect")) {
        static const char *names[] = {"ReflectionPad1DBackward0", "ReflectionPad2DBackward0", "ReflectionPad3DBackward0"};
        name = names[k >= 1 && k <= 3 ? k - 1 : 0];
    } else if (!strcmp(m, "replicate")) {
        static const char *names[] = {"ReplicationPad1DBackward0", "ReplicationPad2DBackward0",
                                      "ReplicationPad3DBackward0"};
        name = names[k >= 1 && k <= 3 ? k - 1 : 0];
    } else if (!strcmp(m, "circular")) {
        name = "torch::autograd::CopySlices";
    }
    ct_node *node = ct_autograd_record(name, pad_backward, result, 1, &input);
    if (!node) return -1;
    conv_payload *p = payload_new(node);
    if (!p) return -1;
    p->npad = copy_list(p->pad, pad, 2 * CT_MAX_DIM);
    p->in_ndim = input->ndim;
    memcpy(p->in_sizes, input->sizes, sizeof(int64_t) * (size_t)input->ndim);
    snprintf(p->mode, sizeof p->mode, "%s", m);
    return 0;
}

/* ------------------------------------------------------------------ im2col / col2im */

static int im2col_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!ct_node_needs_grad(n, 0)) return 0;
    conv_payload *p = n->payload;
    int nd = p->in_ndim;
    gi[0] = ct_nn_col2im(g[0], (ct_intlist){p->in_sizes + nd - 2, 2}, (ct_intlist){p->output_padding, 2},
                         (ct_intlist){p->dilation, 2}, (ct_intlist){p->padding, 2}, (ct_intlist){p->stride, 2});
    return gi[0] ? 0 : -1;
}

static int col2im_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!ct_node_needs_grad(n, 0)) return 0;
    conv_payload *p = n->payload;
    gi[0] = ct_nn_im2col(g[0], (ct_intlist){p->output_padding, 2}, (ct_intlist){p->dilation, 2},
                         (ct_intlist){p->padding, 2}, (ct_intlist){p->stride, 2});
    return gi[0] ? 0 : -1;
}

/* kernel_size is kept in output_padding[] (unused by these ops). */
static int fold_record(const char *name, ct_backward_fn fn, ct_tensor *result, ct_tensor *input,
                       ct_intlist kernel_size, ct_intlist dilation, ct_intlist padding, ct_intlist stride) {
    if (!ct_autograd_should_record(1, &input) || !floating(result)) return 0;
    ct_node *node = ct_autograd_record(name, fn, result, 1, &input);
    if (!node) return -1;
    conv_payload *p = payload_new(node);
    if (!p) return -1;
    ct_intlist ls[4] = {kernel_size, dilation, padding, stride};
    int64_t *dst[4] = {p->output_padding, p->dilation, p->padding, p->stride};
    for (int i = 0; i < 4; i++) {
        dst[i][0] = ls[i].data[0];
        dst[i][1] = ls[i].n > 1 ? ls[i].data[1] : ls[i].data[0];
    }
    p->in_ndim = input->ndim;
    memcpy(p->in_sizes, input->sizes, sizeof(int64_t) * (size_t)input->ndim);
    return 0;
}

int ctg_nn_im2col(ct_tensor *result, ct_tensor *input, ct_intlist kernel_size, ct_intlist dilation,
                  ct_intlist padding, ct_intlist stride) {
    return fold_record("Im2ColBackward0", im2col_backward, result, input, kernel_size, dilation, padding, stride);
}

int ctg_nn_col2im(ct_tensor *result, ct_tensor *input, ct_intlist output_size, ct_intlist kernel_size,
                  ct_intlist dilation, ct_intlist padding, ct_intlist stride) {
    (void)output_size;
    return fold_record("Col2ImBackward0", col2im_backward, result, input, kernel_size, dilation, padding, stride);
}

/* ------------------------------------------------------------------ pixel shuffle */

static int pixel_shuffle_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!ct_node_needs_grad(n, 0)) return 0;
    gi[0] = ct_nn_pixel_unshuffle(g[0], n->iv[0]);
    return gi[0] ? 0 : -1;
}

static int pixel_unshuffle_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!ct_node_needs_grad(n, 0)) return 0;
    gi[0] = ct_nn_pixel_shuffle(g[0], n->iv[0]);
    return gi[0] ? 0 : -1;
}

int ctg_nn_pixel_shuffle(ct_tensor *result, ct_tensor *input, int64_t upscale_factor) {
    if (!ct_autograd_should_record(1, &input) || !floating(result)) return 0;
    ct_node *node = ct_autograd_record("PixelShuffleBackward0", pixel_shuffle_backward, result, 1, &input);
    if (!node) return -1;
    node->iv[0] = upscale_factor;
    return 0;
}

int ctg_nn_pixel_unshuffle(ct_tensor *result, ct_tensor *input, int64_t downscale_factor) {
    if (!ct_autograd_should_record(1, &input) || !floating(result)) return 0;
    ct_node *node = ct_autograd_record("PixelUnshuffleBackward0", pixel_unshuffle_backward, result, 1, &input);
    if (!node) return -1;
    node->iv[0] = downscale_factor;
    return 0;
}

/* ------------------------------------------------------------------ linear / bilinear */

/* Recorded matrix product op(A) @ op(B) of 2-D tensors (op: optional transpose), used by the
 * create_graph path of linear: its backward is made of the same op, so it differentiates again. */
static ct_tensor *mm_flags(ct_tensor *A, ct_tensor *B, bool ta, bool tb);

static int mm_flags_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    bool ta = n->iv[0], tb = n->iv[1];
    ct_tensor *A = ct_node_saved(n, 0), *B = A ? ct_node_saved(n, 1) : NULL;
    int rc = -1;
    if (!B) goto out;
    if (ct_node_needs_grad(n, 0) && !(gi[0] = ta ? mm_flags(B, g[0], tb, true) : mm_flags(g[0], B, false, !tb)))
        goto out;
    if (ct_node_needs_grad(n, 1) && !(gi[1] = tb ? mm_flags(g[0], A, true, ta) : mm_flags(A, g[0], !ta, false)))
        goto out;
    rc = 0;
out:
    if (A) ct_tensor_release(A);
    if (B) ct_tensor_release(B);
    return rc;
}

static ct_tensor *mm_flags(ct_tensor *A, ct_tensor *B, bool ta, bool tb) {
    ct_tensor *a = ta ? ct_transpose(A, 0, 1) : (ct_tensor_retain(A), A);
    ct_tensor *b = a ? (tb ? ct_transpose(B, 0, 1) : (ct_tensor_retain(B), B)) : NULL;
    bool prev = ct_set_grad_enabled(false);
    ct_tensor *r = b ? ct_mm(a, b) : NULL;
    ct_set_grad_enabled(prev);
    if (a) ct_tensor_release(a);
    if (b) ct_tensor_release(b);
    if (!r) return NULL;
    ct_tensor *ins[2] = {A, B};
    if (ct_autograd_should_record(2, ins)) {
        ct_node *node = ct_autograd_record("MmBackward0", mm_flags_backward, r, 2, ins);
        if (!node || ct_node_save(node, 0, A, -1) || ct_node_save(node, 1, B, -1)) {
            ct_tensor_release(r);
            return NULL;
        }
        node->iv[0] = ta;
        node->iv[1] = tb;
    }
    return r;
}

/* create_graph path of linear: every gradient from recorded ops. */
static int linear_backward_graph(ct_node *n, ct_tensor *go, ct_tensor *x, ct_tensor *w, ct_tensor **gi) {
    int64_t O = w->sizes[0], I = w->sizes[1], M = 1;
    for (int i = 0; i < x->ndim - 1; i++) M *= x->sizes[i];
    int64_t gs[2] = {M, O}, xs[2] = {M, I};
    ct_tensor *g2 = ct_reshape(go, (ct_intlist){gs, 2}), *x2 = g2 ? ct_reshape(x, (ct_intlist){xs, 2}) : NULL;
    int rc = -1;
    if (!x2) goto out;
    if (ct_node_needs_grad(n, 0)) {
        ct_tensor *r = mm_flags(g2, w, false, false);
        gi[0] = r ? ct_reshape(r, (ct_intlist){x->sizes, x->ndim}) : NULL;
        if (r) ct_tensor_release(r);
        if (!gi[0]) goto out;
    }
    if (ct_node_needs_grad(n, 1) && !(gi[1] = mm_flags(g2, x2, true, false))) goto out;
    if (ct_node_needs_grad(n, 2)) {
        bool mask[3] = {false, false, true};
        ct_tensor *u0, *u1, *gb;
        if (ct_nn_linear_backward(g2, x2, w, mask, &u0, &u1, &gb)) goto out;
        if (ct_autograd_should_record(1, &g2) &&
            !ct_autograd_record("SumBackward1", conv_bgrad_backward, gb, 1, &g2)) {
            ct_tensor_release(gb);
            goto out;
        }
        gi[2] = ct_sum_to_meta(gb, &n->in_meta[2]);
        ct_tensor_release(gb);
        if (!gi[2]) goto out;
    }
    rc = 0;
out:
    if (g2) ct_tensor_release(g2);
    if (x2) ct_tensor_release(x2);
    return rc;
}

static int linear_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *x = ct_node_saved(n, 0), *w = x ? ct_node_saved(n, 1) : NULL;
    if (!w) {
        if (x) ct_tensor_release(x);
        return -1;
    }
    if (ct_grad_enabled()) {
        int rc = linear_backward_graph(n, g[0], x, w, gi);
        ct_tensor_release(x);
        ct_tensor_release(w);
        return rc;
    }
    bool mask[3] = {ct_node_needs_grad(n, 0), ct_node_needs_grad(n, 1), ct_node_needs_grad(n, 2)};
    ct_tensor *r[3];
    int rc = ct_nn_linear_backward(g[0], x, w, mask, &r[0], &r[1], &r[2]);
    ct_tensor_release(x);
    ct_tensor_release(w);
    if (rc) return -1;
    gi[0] = r[0];
    gi[1] = r[1];
    if (r[2]) { /* bias may be a broadcast scalar-like tensor */
        gi[2] = ct_sum_to_meta(r[2], &n->in_meta[2]);
        ct_tensor_release(r[2]);
        if (!gi[2]) return -1;
    }
    return 0;
}

int ctg_nn_linear(ct_tensor *result, ct_tensor *input, ct_tensor *weight, ct_tensor *bias) {
    ct_tensor *ins[3] = {input, weight, bias};
    if (!ct_autograd_should_record(3, ins) || !floating(result)) return 0;
    const char *name;
    if (input->ndim == 2)
        name = bias ? "AddmmBackward0" : "MmBackward0";
    else if (input->ndim == 1)
        name = bias ? "ViewBackward0" : "SqueezeBackward4";
    else
        name = bias ? "ViewBackward0" : "UnsafeViewBackward0";
    ct_node *node = ct_autograd_record(name, linear_backward, result, 3, ins);
    if (!node) return -1;
    if (ct_node_save(node, 0, input, -1) || ct_node_save(node, 1, weight, -1)) return -1;
    return 0;
}

/* NOTE [ Bilinear double backward ]
 * With S(g, x1, x2, W) = sum g[m,o] x1[m,i] x2[m,j] W[o,i,j], the output of bilinear (bias
 * aside) is dS/dg and its gradients are dS/dx1, dS/dx2, dS/dW. Each P_k = dS/d(slot k) is
 * linear in the three other slots, and the gradient of <u, P_k> with respect to slot l is
 * P_l with u in slot k. So one recorded op P_k, whose backward is P_l again, differentiates
 * any number of times. Slot k's tensor only gives the result's shape. */
static ct_tensor *quad_partial(int k, ct_tensor *const a[4]);

static int quad_partial_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    int k = (int)n->iv[0];
    ct_tensor *a[4] = {NULL, NULL, NULL, NULL};
    int rc = -1;
    for (int m = 0, s = 0; m < 4; m++) {
        if (m == k) {
            a[m] = g[0];
            continue;
        }
        if (!(a[m] = ct_node_saved(n, s++))) goto out;
    }
    for (int m = 0, s = 0; m < 4; m++) {
        if (m == k) continue;
        if (ct_node_needs_grad(n, s) && !(gi[s] = quad_partial(m, a))) goto out;
        s++;
    }
    rc = 0;
out:
    for (int m = 0; m < 4; m++)
        if (m != k && a[m]) ct_tensor_release(a[m]);
    return rc;
}

static ct_tensor *quad_partial(int k, ct_tensor *const a[4]) {
    ct_tensor *r = NULL;
    bool prev = ct_set_grad_enabled(false);
    if (k == 0) {
        r = ct_nn_bilinear_impl(a[1], a[2], a[3], NULL);
    } else {
        bool mask[4] = {k == 1, k == 2, k == 3, false};
        ct_tensor *o[4];
        if (ct_nn_bilinear_backward(a[0], a[1], a[2], a[3], mask, &o[0], &o[1], &o[2], &o[3]) == 0) r = o[k - 1];
    }
    ct_set_grad_enabled(prev);
    if (!r) return NULL;
    ct_tensor *ins[3];
    for (int m = 0, s = 0; m < 4; m++)
        if (m != k) ins[s++] = a[m];
    if (ct_autograd_should_record(3, ins)) {
        ct_node *node = ct_autograd_record("BilinearBackwardBackward0", quad_partial_backward, r, 3, ins);
        if (!node || ct_node_save(node, 0, ins[0], -1) || ct_node_save(node, 1, ins[1], -1) ||
            ct_node_save(node, 2, ins[2], -1)) {
            ct_tensor_release(r);
            return NULL;
        }
        node->iv[0] = k;
    }
    return r;
}

static int bilinear_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    ct_tensor *s[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++)
        if (!(s[i] = ct_node_saved(n, i))) {
            for (int j = 0; j < i; j++) ct_tensor_release(s[j]);
            return -1;
        }
    int rc = 0;
    if (ct_grad_enabled()) { /* create_graph: recorded partials, see the note above */
        ct_tensor *a[4] = {g[0], s[0], s[1], s[2]};
        for (int i = 0; i < 3 && rc == 0; i++)
            if (ct_node_needs_grad(n, i) && !(gi[i] = quad_partial(i + 1, a))) rc = -1;
        if (rc == 0 && ct_node_needs_grad(n, 3)) {
            int64_t O = s[2]->sizes[0], gs[2] = {g[0]->numel / (O ? O : 1), O};
            ct_tensor *g2 = ct_reshape(g[0], (ct_intlist){gs, 2});
            bool mask[3] = {false, false, true};
            ct_tensor *u0, *u1, *gb = NULL;
            /* the bias gradient is linear's: column sums of g2 (stand-ins give the shapes) */
            int64_t ws[2] = {O, 1}, xs[2] = {gs[0], 1};
            ct_tensor *wd = g2 ? ct_zeros((ct_intlist){ws, 2}, g2->dtype, -1) : NULL;
            ct_tensor *xd = wd ? ct_zeros((ct_intlist){xs, 2}, g2->dtype, -1) : NULL;
            if (!xd || ct_nn_linear_backward(g2, xd, wd, mask, &u0, &u1, &gb)) rc = -1;
            if (xd) ct_tensor_release(xd);
            if (gb && ct_autograd_should_record(1, &g2) &&
                !ct_autograd_record("SumBackward1", conv_bgrad_backward, gb, 1, &g2))
                rc = -1;
            gi[3] = rc == 0 ? gb : NULL;
            if (rc && gb) ct_tensor_release(gb);
            if (g2) ct_tensor_release(g2);
            if (wd) ct_tensor_release(wd);
        }
    } else {
        bool mask[4] = {ct_node_needs_grad(n, 0), ct_node_needs_grad(n, 1), ct_node_needs_grad(n, 2),
                        ct_node_needs_grad(n, 3)};
        rc = ct_nn_bilinear_backward(g[0], s[0], s[1], s[2], mask, &gi[0], &gi[1], &gi[2], &gi[3]);
    }
    for (int i = 0; i < 3; i++) ct_tensor_release(s[i]);
    return rc;
}

int ctg_nn_bilinear(ct_tensor *result, ct_tensor *input1, ct_tensor *input2, ct_tensor *weight, ct_tensor *bias) {
    ct_tensor *ins[4] = {input1, input2, weight, bias};
    if (!ct_autograd_should_record(4, ins) || !floating(result)) return 0;
    ct_node *node = ct_autograd_record(bias ? "AddBackward0" : "ViewBackward0", bilinear_backward, result, 4, ins);
    if (!node) return -1;
    if (ct_node_save(node, 0, input1, -1) || ct_node_save(node, 1, input2, -1) || ct_node_save(node, 2, weight, -1))
        return -1;
    return 0;
}
