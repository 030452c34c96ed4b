/* Backward of the recurrent layer op (nn_rnn_layer) and of scaled dot-product attention
 * (nn_sdpa). First-order gradients come from the fused kernels (nn_rnn_layer_backward,
 * nn_sdpa_backward); under create_graph the gradient is that of a composite of the forward
 * written with recorded ops (NOTE [ Double backward through fused nn kernels ]), so Hessian-vector
 * products and gradient penalties through LSTMs and attention work. The input projection GEMM and
 * everything around the layer are ordinary differentiable ops recorded by the caller. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd_internal.h"
#include "formulas_nn.h"

#define X(expr) (Ap->fail ? NULL : ct_cx_keep(Ap, (expr)))
#define S(v) X(ct_nn_scalar(v))
#define ADD(a, b) X(ct_add((a), (b), ct_scalar_i(1)))
#define SUB(a, b) X(ct_sub((a), (b), ct_scalar_i(1)))
#define MUL(a, b) X(ct_mul((a), (b)))

/* a @ w^T for a (R, K), w (M, K) */
static ct_tensor *mm_t(ct_cx *Ap, ct_tensor *a, ct_tensor *w) { return X(ct_mm(a, X(ct_t(w)))); }

/* One layer, one direction, with ops (NOTE [ RNN layer layout ] in src/kernels/cpu/rnn.c).
 * in: xg, w_hh, b_hh, w_hr, h0, c0; outs: output (N, P), h_n, c_n. */
static int rnn_layer_fwd(ct_node *n, ct_tensor *const *in, ct_tensor **outs) {
    ct_cx AA = {.n = 0}, *Ap = &AA;
    ct_tensor *xg = in[0], *whh = in[1], *bhh = in[2], *whr = in[3], *h = in[4], *c = in[5];
    ct_tensor *bs_t = ct_node_saved(n, 3);
    if (!bs_t) return -1;
    int mode = (int)n->iv[0];
    bool reverse = n->iv[1] != 0;
    int64_t B = n->iv[2], H = n->iv[3], T = bs_t->numel;
    const int64_t *bs = ct_tensor_data(bs_t);
    int64_t *off = malloc(sizeof(int64_t) * (size_t)(T ? T : 1));
    ct_tensor **steps = calloc((size_t)(T ? T : 1), sizeof(ct_tensor *));
    int rc = -1;
    if (!off || !steps) {
        ct_error(CT_ERR_MEMORY, "[rnn_layer] out of memory");
        goto out;
    }
    int64_t o = 0;
    for (int64_t t = 0; t < T; t++) off[t] = o, o += bs[t];
    ct_tensor_retain(h);
    if (c) ct_tensor_retain(c);
    for (int64_t k = 0; k < T; k++) {
        int64_t t = reverse ? T - 1 - k : k, bt = bs[t];
        ct_cx SA = {.n = 0}, *Sp = Ap;
        Ap = &SA; /* per-step scratch */
        ct_tensor *xt = X(ct_narrow(xg, 0, off[t], bt));
        ct_tensor *ha = bt == B ? h : X(ct_narrow(h, 0, 0, bt));
        ct_tensor *gh = mm_t(Ap, ha, whh);
        if (bhh) gh = ADD(gh, bhh);
        ct_tensor *hnew = NULL, *cnew = NULL;
        if (mode == 0 || mode == 1) {
            ct_tensor *pre = ADD(xt, gh);
            hnew = mode == 0 ? X(ct_tanh(pre)) : X(ct_relu(pre));
        } else if (mode == 2) {
            ct_tensor *pre = ADD(xt, gh);
            ct_tensor *ig = X(ct_sigmoid(X(ct_narrow(pre, 1, 0, H))));
            ct_tensor *fg = X(ct_sigmoid(X(ct_narrow(pre, 1, H, H))));
            ct_tensor *gg = X(ct_tanh(X(ct_narrow(pre, 1, 2 * H, H))));
            ct_tensor *og = X(ct_sigmoid(X(ct_narrow(pre, 1, 3 * H, H))));
            ct_tensor *ca = bt == B ? c : X(ct_narrow(c, 0, 0, bt));
            cnew = ADD(MUL(fg, ca), MUL(ig, gg));
            hnew = MUL(og, X(ct_tanh(cnew)));
            if (whr) hnew = mm_t(Ap, hnew, whr);
        } else {
            ct_tensor *r = X(ct_sigmoid(ADD(X(ct_narrow(xt, 1, 0, H)), X(ct_narrow(gh, 1, 0, H)))));
            ct_tensor *z = X(ct_sigmoid(ADD(X(ct_narrow(xt, 1, H, H)), X(ct_narrow(gh, 1, H, H)))));
            ct_tensor *nn = X(ct_tanh(ADD(X(ct_narrow(xt, 1, 2 * H, H)), MUL(r, X(ct_narrow(gh, 1, 2 * H, H))))));
            hnew = ADD(MUL(SUB(S(1.0), z), nn), MUL(z, ha));
        }
        ct_tensor *h2 = NULL, *c2 = NULL;
        if (hnew) {
            ct_tensor_retain(hnew);
            steps[t] = hnew;
            if (bt == B) {
                ct_tensor_retain(hnew);
                h2 = hnew;
            } else {
                ct_tensor *parts[2] = {hnew, X(ct_narrow(h, 0, bt, B - bt))};
                h2 = Ap->fail ? NULL : ct_cat((ct_tensorlist){parts, 2}, 0);
            }
            if (cnew) {
                if (bt == B) {
                    ct_tensor_retain(cnew);
                    c2 = cnew;
                } else {
                    ct_tensor *parts[2] = {cnew, X(ct_narrow(c, 0, bt, B - bt))};
                    c2 = Ap->fail ? NULL : ct_cat((ct_tensorlist){parts, 2}, 0);
                }
            }
        }
        bool fail = SA.fail || !h2 || (mode == 2 && !c2);
        ct_cx_free(&SA);
        Ap = Sp;
        ct_tensor_release(h);
        h = h2;
        if (mode == 2) {
            ct_tensor_release(c);
            c = c2;
        }
        if (fail) {
            for (int64_t j = 0; j < k; j++) ct_tensor_release(steps[reverse ? T - 1 - j : j]);
            if (hnew) ct_tensor_release(steps[t]);
            ct_tensor_release(h);
            if (c) ct_tensor_release(c);
            goto out;
        }
    }
    outs[0] = ct_cat((ct_tensorlist){steps, T}, 0);
    for (int64_t t = 0; t < T; t++) ct_tensor_release(steps[t]);
    outs[1] = h;
    outs[2] = mode == 2 ? c : NULL;
    if (mode != 2 && c) ct_tensor_release(c);
    rc = outs[0] ? 0 : -1;
out:
    free(off);
    free(steps);
    ct_cx_free(Ap);
    ct_tensor_release(bs_t);
    return rc;
}

/* saved: 0 workspace, 1 w_hh, 2 w_hr (iv[4]), 3 batch_sizes (int64), 4 xg, 5 b_hh, 6 h0, 7 c0 (for the
 * create_graph composite); iv: mode, reverse, B, H, has_whr */
static int rnn_layer_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (ct_grad_enabled()) { /* create_graph: gradient of the composite forward */
        ct_tensor *sv[6] = {0};
        int slots[6] = {4, 1, 5, 2, 6, 7}, rc = -1;
        for (int i = 0; i < 6; i++)
            if (n->saved[slots[i]] && !(sv[i] = ct_node_saved(n, slots[i]))) goto fail;
        rc = ct_nn_composite_backward(n, sv, 3, g, rnn_layer_fwd, gi);
    fail:
        for (int i = 0; i < 6; i++) ct_tensor_release(sv[i]);
        return rc;
    }
    ct_tensor *ws = ct_node_saved(n, 0), *whh = ct_node_saved(n, 1);
    ct_tensor *whr = n->iv[4] ? ct_node_saved(n, 2) : NULL, *bs = ct_node_saved(n, 3);
    ct_tensor *r[6] = {0};
    int rc = -1;
    if (!ws || !whh || !bs || (n->iv[4] && !whr)) goto done;
    ct_intlist bl = {(const int64_t *)ct_tensor_data(bs), bs->numel};
    if (ct_nn_rnn_layer_backward(g[0], g[1], g[2], whh, whr, ws, bl, n->iv[0], n->iv[1] != 0, n->iv[2], n->iv[3],
                                 &r[0], &r[1], &r[2], &r[3], &r[4], &r[5]))
        goto done;
    for (int i = 0; i < 6; i++) {
        if (ct_node_needs_grad(n, i)) {
            gi[i] = r[i];
            r[i] = NULL;
        }
    }
    rc = 0;
done:
    for (int i = 0; i < 6; i++)
        if (r[i]) ct_tensor_release(r[i]);
    if (ws) ct_tensor_release(ws);
    if (whh) ct_tensor_release(whh);
    if (whr) ct_tensor_release(whr);
    if (bs) ct_tensor_release(bs);
    return rc;
}

int ctg_nn_rnn_layer(ct_tensor *result0, ct_tensor *result1, ct_tensor *result2, ct_tensor *result3, ct_tensor *xg,
                     ct_tensor *w_hh, ct_tensor *b_hh, ct_tensor *w_hr, ct_tensor *h0, ct_tensor *c0,
                     ct_intlist batch_sizes, int64_t mode, bool reverse) {
    ct_tensor *in[6] = {xg, w_hh, b_hh, w_hr, h0, c0};
    (void)result3;
    if (!ct_autograd_should_record(6, in) || !ct_dtype_is_floating(xg->dtype)) return 0;
    ct_node *node = ct_node_new("RnnLayerBackward0", rnn_layer_backward, 6, in, 3);
    if (!node) return -1;
    node->iv[0] = mode;
    node->iv[1] = reverse;
    node->iv[2] = h0->sizes[0];
    node->iv[3] = mode == 2 ? w_hh->sizes[0] / 4 : mode == 3 ? w_hh->sizes[0] / 3 : w_hh->sizes[0];
    node->iv[4] = w_hr != NULL;
    int64_t nb = batch_sizes.n;
    ct_tensor *bs = ct_tensor_from_data(batch_sizes.data, &nb, 1, CT_INT64);
    int rc = bs ? 0 : -1;
    if (!rc) rc = ct_node_save(node, 0, result3, -1);
    if (!rc) rc = ct_node_save(node, 1, w_hh, -1);
    if (!rc && w_hr) rc = ct_node_save(node, 2, w_hr, -1);
    if (!rc) rc = ct_node_save(node, 3, bs, -1);
    if (!rc) rc = ct_node_save(node, 4, xg, -1);
    if (!rc && b_hh) rc = ct_node_save(node, 5, b_hh, -1);
    if (!rc) rc = ct_node_save(node, 6, h0, -1);
    if (!rc && c0) rc = ct_node_save(node, 7, c0, -1);
    if (!rc) rc = ct_node_set_output(node, result0, 0);
    if (!rc) rc = ct_node_set_output(node, result1, 1);
    if (!rc) rc = ct_node_set_output(node, result2, 2);
    if (bs) ct_tensor_release(bs);
    ct_node_release(node);
    return rc;
}

/* ------------------------------------------------------------------ scaled dot-product attention */

/* attention with ops: softmax(scale q k^T + mask, causal top-left) (* dropout mask) @ v; rows
 * with every key masked give zeros like the kernel. in: q, k, v, attn_mask */
static int sdpa_fwd(ct_node *n, ct_tensor *const *in, ct_tensor **outs) {
    ct_cx AA = {.n = 0}, *Ap = &AA;
    ct_tensor *q = in[0], *k = in[1], *v = in[2], *m = in[3];
    ct_tensor *s = MUL(X(ct_bmm(q, X(ct_transpose(k, 1, 2)))), S(n->dv[0]));
    if (m) s = ADD(s, m);
    if (n->iv[0]) {
        int64_t L = q->sizes[1], Sk = k->sizes[1], sz[2] = {L, Sk};
        ct_tensor *ones = X(ct_ones((ct_intlist){sz, 2}, CT_BOOL, -1));
        ct_tensor *up = ones ? X(ct_triu(ones, 1)) : NULL;
        s = up ? X(ct_masked_fill_Scalar(s, up, ct_scalar_f(-INFINITY))) : NULL;
    }
    int64_t last = -1;
    ct_tensor *mx = s ? X(ct_amax(X(ct_detach(s)), (ct_intlist){&last, 1}, true)) : NULL;
    ct_tensor *dead = mx ? X(ct_eq(mx, S(-INFINITY))) : NULL; /* fully masked rows */
    if (dead) s = X(ct_masked_fill_Scalar(s, dead, ct_scalar_f(0)));
    ct_tensor *p = s ? X(ct_softmax_int(s, -1, -1)) : NULL;
    if (dead) p = X(ct_masked_fill_Scalar(p, dead, ct_scalar_f(0)));
    if (n->iv[2]) {
        ct_tensor *dm = ct_node_saved(n, 4);
        p = dm ? MUL(p, X(ct_detach(dm))) : NULL;
        ct_tensor_release(dm);
    }
    ct_tensor *o = p ? X(ct_bmm(p, v)) : NULL;
    if (o) {
        ct_tensor_retain(o);
        ct_tensor_retain(p);
        outs[1] = p; /* the attention weights output (after dropout, like the kernel's) */
    }
    ct_cx_free(Ap);
    outs[0] = o;
    return o ? 0 : -1;
}

/* saved: 0 q, 1 k, 2 v, 3 attn_mask, 4 dropout_mask; iv: causal, has mask, has dropout mask; dv: scale.
 * Inputs q, k, v and the float attn_mask, whose gradient is that of the pre-softmax scores;
 * outputs: the attention output and, with need_weights, the weights. The fused kernel covers
 * q, k, v from the output's gradient; the composite path does the rest (and create_graph). */
static int sdpa_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    bool gw = n->n_outputs > 1 && g[1];
    if (!g[0] && !gw) return 0;
    ct_tensor *q = ct_node_saved(n, 0), *k = ct_node_saved(n, 1), *v = ct_node_saved(n, 2);
    ct_tensor *m = n->iv[1] ? ct_node_saved(n, 3) : NULL, *dm = n->iv[2] ? ct_node_saved(n, 4) : NULL;
    ct_tensor *r[3] = {0};
    int rc = -1;
    if (!q || !k || !v || (n->iv[1] && !m) || (n->iv[2] && !dm)) goto done;
    if (ct_grad_enabled() || ct_node_needs_grad(n, 3) || gw) {
        ct_tensor *sv[4] = {q, k, v, m};
        rc = ct_nn_composite_backward(n, sv, n->n_outputs, g, sdpa_fwd, gi);
        goto done;
    }
    if (ct_nn_sdpa_backward(g[0], q, k, v, m, dm, n->iv[0] != 0, n->dv[0], &r[0], &r[1], &r[2])) goto done;
    for (int i = 0; i < 3; i++) {
        if (ct_node_needs_grad(n, i)) {
            gi[i] = r[i];
            r[i] = NULL;
        }
    }
    rc = 0;
done:;
    ct_tensor *rel[] = {q, k, v, m, dm, r[0], r[1], r[2]};
    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++)
        if (rel[i]) ct_tensor_release(rel[i]);
    return rc;
}

int ctg_nn_sdpa(ct_tensor *result0, ct_tensor *result1, ct_tensor *q, ct_tensor *k, ct_tensor *v,
                ct_tensor *attn_mask, ct_tensor *dropout_mask, bool is_causal, double scale, bool need_weights) {
    ct_tensor *in[4] = {q, k, v, attn_mask};
    if (!ct_autograd_should_record(4, in) || !ct_dtype_is_floating(q->dtype)) return 0;
    ct_node *node = ct_node_new("ScaledDotProductFlashAttentionForCpuBackward0", sdpa_backward, 4, in,
                                need_weights ? 2 : 1);
    if (!node) return -1;
    node->iv[0] = is_causal;
    node->iv[1] = attn_mask != NULL;
    node->iv[2] = dropout_mask != NULL;
    node->dv[0] = scale;
    int rc = ct_node_save(node, 0, q, -1);
    if (!rc) rc = ct_node_save(node, 1, k, -1);
    if (!rc) rc = ct_node_save(node, 2, v, -1);
    if (!rc && attn_mask) rc = ct_node_save(node, 3, attn_mask, -1);
    if (!rc && dropout_mask) rc = ct_node_save(node, 4, dropout_mask, -1);
    if (!rc) rc = ct_node_set_output(node, result0, 0);
    if (!rc && need_weights) rc = ct_node_set_output(node, result1, 1);
    ct_node_release(node);
    return rc;
}
