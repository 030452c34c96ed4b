/* Backward of the recurrent layer op (nn_rnn_layer): the fused backward through time
 * nn_rnn_layer_backward (src/kernels/cpu/rnn.c) is a primitive, so double backward through a
 * recurrent layer is not supported (its results carry no history). The input projection GEMM and
 * everything around the layer are ordinary differentiable ops recorded by the caller. */
#include <string.h>

#include "autograd_internal.h"

/* saved: 0 workspace, 1 w_hh, 2 w_hr (iv[4]), 3 batch_sizes (int64); iv: mode, reverse, B, H, has_whr */
static int rnn_layer_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
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
    if (!rc) rc = ct_node_set_output(node, result0, 0);
    if (!rc) rc = ct_node_set_output(node, result1, 1);
    if (!rc) rc = ct_node_set_output(node, result2, 2);
    if (bs) ct_tensor_release(bs);
    ct_node_release(node);
    return rc;
}

/* ------------------------------------------------------------------ scaled dot-product attention */

/* saved: 0 q, 1 k, 2 v, 3 attn_mask, 4 dropout_mask; iv: causal, has mask, has dropout mask; dv: scale.
 * The backward op nn_sdpa_backward is a primitive (no double backward); the float attn_mask gets no
 * gradient. */
static int sdpa_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    if (!g[0]) return 0;
    ct_tensor *q = ct_node_saved(n, 0), *k = ct_node_saved(n, 1), *v = ct_node_saved(n, 2);
    ct_tensor *m = n->iv[1] ? ct_node_saved(n, 3) : NULL, *dm = n->iv[2] ? ct_node_saved(n, 4) : NULL;
    ct_tensor *r[3] = {0};
    int rc = -1;
    if (!q || !k || !v || (n->iv[1] && !m) || (n->iv[2] && !dm)) goto done;
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
    ct_tensor *in[3] = {q, k, v};
    (void)result1;
    (void)need_weights;
    if (!ct_autograd_should_record(3, in) || !ct_dtype_is_floating(q->dtype)) return 0;
    ct_node *node = ct_node_new("ScaledDotProductFlashAttentionForCpuBackward0", sdpa_backward, 3, in, 1);
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
    ct_node_release(node);
    return rc;
}
