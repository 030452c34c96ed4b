"""nn.functional: attention family. scaled_dot_product_attention runs the fused C kernel
ctorch._C._ns_nn.sdpa (src/kernels/cpu/attention.c) with its fused backward;
multi_head_attention_forward is the projections around it (need_weights=True: torch's composite
bmm/softmax/dropout/bmm path, so the weights are differentiable and post-dropout as torch's)."""
import math

import ctorch

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


def _sdpa_kernel():
    return ctorch._C._ns_nn.sdpa


def _linear(x, w, b=None):
    from .linear import linear
    return linear(x, w, b)


def _dropout_mask(shape, p, dtype):
    if p >= 1:
        return ctorch.zeros(shape, dtype=dtype)
    m = ctorch.empty(shape, dtype=dtype).bernoulli_(1 - p)
    return m.div_(1 - p)


def _bool_to_additive(mask, dtype, masked_value_when):
    """Bool mask -> additive float mask (-inf where mask == masked_value_when)."""
    sel = mask if masked_value_when else mask.logical_not()
    return ctorch.zeros(tuple(mask.shape), dtype=dtype).masked_fill_(sel, float("-inf"))


def _broadcast_shape(*shapes):
    nd = max(len(s) for s in shapes)
    out = []
    for i in range(nd):
        d = 1
        for s in shapes:
            k = i - (nd - len(s))
            if k >= 0 and s[k] != 1:
                if d != 1 and d != s[k]:
                    raise RuntimeError("scaled_dot_product_attention: batch dimensions of query, key and value "
                                       "do not broadcast: %s" % (shapes,))
                d = s[k]
        out.append(d)
    return tuple(out)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True")
    if query.dim() < 2 or key.dim() < 2 or value.dim() < 2:
        raise RuntimeError("scaled_dot_product_attention: query, key and value must be at least 2-D")
    if not (query.dtype == key.dtype == value.dtype):
        raise RuntimeError("Expected query, key, and value to have the same dtype, but got query.dtype: %s key.dtype: "
                           "%s and value.dtype: %s instead." % (query.dtype, key.dtype, value.dtype))
    L, E = query.shape[-2], query.shape[-1]
    S, Ev = key.shape[-2], value.shape[-1]
    if enable_gqa and query.dim() >= 3 and key.shape[-3] != query.shape[-3]:
        hq, hk = query.shape[-3], key.shape[-3]
        if hq % hk or value.shape[-3] != hk:
            raise RuntimeError("scaled_dot_product_attention: number of heads in key/value must divide the number "
                               "of heads in query")
        g = hq // hk

        def rep(t):
            lead = tuple(t.shape[:-3])
            t = t.unsqueeze(-3).expand(lead + (hk, g) + tuple(t.shape[-2:]))
            return t.reshape(lead + (hk * g,) + tuple(t.shape[-2:]))
        key, value = rep(key), rep(value)
    batch = _broadcast_shape(tuple(query.shape[:-2]), tuple(key.shape[:-2]), tuple(value.shape[:-2]))
    N = 1
    for d in batch:
        N *= d
    q3 = query.expand(batch + (L, E)).reshape(N, L, E)
    k3 = key.expand(batch + (S, E)).reshape(N, S, E)
    v3 = value.expand(batch + (S, Ev)).reshape(N, S, Ev)
    if scale is None:
        scale = 1.0 / math.sqrt(E) if E > 0 else 1.0
    m3 = None
    if attn_mask is not None:
        if attn_mask.dtype == ctorch.bool:
            attn_mask = _bool_to_additive(attn_mask, query.dtype, False)
        m3 = attn_mask.expand(batch + (L, S)).reshape(N, L, S)
    d3 = _dropout_mask((N, L, S), dropout_p, query.dtype) if dropout_p > 0 else None
    out, _ = _sdpa_kernel()(q3, k3, v3, m3, d3, bool(is_causal), float(scale), False)
    return out.reshape(batch + (L, Ev))


def _pad_last(t, n=1):
    """Append n zero columns on the last dim."""
    z = ctorch.zeros(tuple(t.shape[:-1]) + (n,), dtype=t.dtype)
    return ctorch.cat([t, z], -1)


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    is_batched = query.dim() == 3
    if query.dim() not in (2, 3):
        raise AssertionError("query should be unbatched 2D or batched 3D tensor but received %d-D query tensor"
                             % query.dim())
    if key_padding_mask is not None and key_padding_mask.dtype != ctorch.bool and \
            not key_padding_mask.dtype.is_floating_point:
        raise AssertionError("only bool and floating types of key_padding_mask are supported")
    if not is_batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    if embed_dim != embed_dim_to_check:
        raise AssertionError("was expecting embedding dimension of %d, but got %d" % (embed_dim_to_check, embed_dim))
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError("embed_dim %d not divisible by num_heads %d" % (embed_dim, num_heads))
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                           "method `generate_square_subsequent_mask` to create this mask.")
    dtype = query.dtype
    if key_padding_mask is not None and key_padding_mask.dtype == ctorch.bool:
        key_padding_mask = _bool_to_additive(key_padding_mask, dtype, True)
    if attn_mask is not None and attn_mask.dtype == ctorch.bool:
        attn_mask = _bool_to_additive(attn_mask, dtype, True)
    # input projections
    if not use_separate_proj_weight:
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        if key is value and query is key:
            qkv = _linear(query, in_proj_weight, in_proj_bias)
            q, k, v = qkv.chunk(3, -1)
        else:
            w_q, w_k, w_v = in_proj_weight.chunk(3)
            b_q, b_k, b_v = in_proj_bias.chunk(3) if in_proj_bias is not None else (None, None, None)
            q = _linear(query, w_q, b_q)
            if key is value:
                kv = _linear(key, ctorch.cat([w_k, w_v], 0),
                             ctorch.cat([b_k, b_v], 0) if b_k is not None else None)
                k, v = kv.chunk(2, -1)
            else:
                k = _linear(key, w_k, b_k)
                v = _linear(value, w_v, b_v)
    else:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is True but q_proj_weight, k_proj_weight or "
                                 "v_proj_weight is None")
        b_q, b_k, b_v = in_proj_bias.chunk(3) if in_proj_bias is not None else (None, None, None)
        q = _linear(query, q_proj_weight, b_q)
        k = _linear(key, k_proj_weight, b_k)
        v = _linear(value, v_proj_weight, b_v)
    if attn_mask is not None:
        if attn_mask.dim() == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError("The shape of the 2D attn_mask is %s, but should be %s."
                                   % (tuple(attn_mask.shape), (tgt_len, src_len)))
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.dim() == 3:
            if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError("The shape of the 3D attn_mask is %s, but should be %s."
                                   % (tuple(attn_mask.shape), (bsz * num_heads, tgt_len, src_len)))
        else:
            raise RuntimeError("attn_mask's dimension %d is not supported" % attn_mask.dim())
    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise AssertionError("bias cannot be added to static key/value.")
        k = ctorch.cat([k, bias_k.expand(1, bsz, embed_dim)], 0)
        v = ctorch.cat([v, bias_v.expand(1, bsz, embed_dim)], 0)
        if attn_mask is not None:
            attn_mask = _pad_last(attn_mask)
        if key_padding_mask is not None:
            key_padding_mask = _pad_last(key_padding_mask)
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    k = k.reshape(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1) if static_k is None else static_k
    v = v.reshape(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1) if static_v is None else static_v
    if add_zero_attn:
        k = ctorch.cat([k, ctorch.zeros((bsz * num_heads, 1, head_dim), dtype=k.dtype)], 1)
        v = ctorch.cat([v, ctorch.zeros((bsz * num_heads, 1, head_dim), dtype=v.dtype)], 1)
        if attn_mask is not None:
            attn_mask = _pad_last(attn_mask)
        if key_padding_mask is not None:
            key_padding_mask = _pad_last(key_padding_mask)
    src_len = k.shape[1]
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            raise AssertionError("expecting key_padding_mask shape of %s, but got %s"
                                 % ((bsz, src_len), tuple(key_padding_mask.shape)))
        kpm = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(bsz, num_heads, 1, src_len) \
            .reshape(bsz * num_heads, 1, src_len)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0
    if need_weights:
        # torch's own need_weights path, op for op: the returned weights are the post-dropout
        # probabilities, differentiable, and the dropout mask is drawn on (bsz * num_heads, L, S)
        # right after the softmax (the same generator stream as torch). Fully masked rows give NaN.
        from .activation import softmax
        from .dropout import dropout
        q_scaled = q * math.sqrt(1.0 / float(head_dim))
        if attn_mask is not None:
            w = ctorch.baddbmm(attn_mask, q_scaled, k.transpose(-2, -1))
        else:
            w = ctorch.bmm(q_scaled, k.transpose(-2, -1))
        w = softmax(w, dim=-1)
        if dropout_p > 0.0:
            w = dropout(w, p=dropout_p)
        out = ctorch.bmm(w, v)
        out = out.transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        out = _linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, embed_dim)
        w = w.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            w = w.mean(dim=1)
        if not is_batched:
            out = out.squeeze(1)
            w = w.squeeze(0)
        return out, w
    N = bsz * num_heads
    m3 = attn_mask.expand(N, tgt_len, src_len) if attn_mask is not None else None
    d3 = _dropout_mask((N, tgt_len, src_len), dropout_p, dtype) if dropout_p > 0 else None
    out, _ = _sdpa_kernel()(q, k, v, m3, d3, False, 1.0 / math.sqrt(head_dim), False)
    out = out.transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
    out = _linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, embed_dim)
    if not is_batched:
        out = out.squeeze(1)
    return out, None
