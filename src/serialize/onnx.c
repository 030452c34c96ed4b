/* ONNX ModelProto writer (FORMATS.md section 5): the graph's parts are serialized as they
 * are added (nodes, initializers, inputs, outputs each into its own buffer) and joined in
 * field order when the model is serialized. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctorch/onnx.h"
#include "../core/internal.h"
#include "proto.h"

/* Initializers keep a reference to their (contiguous) tensor and a serialized TensorProto
 * header (dims, data_type, name); the raw bytes are copied once, straight into the output,
 * when the model is serialized (weights are most of a model's bytes). */
typedef struct {
    ct_tensor *t;
    ct_buf hdr;
} onnx_init;

struct ct_onnx_model {
    char *graph_name;
    int64_t opset, ir_version;
    ct_buf nodes, inputs, outputs;
    onnx_init *inits;
    size_t n_inits, cap_inits;
    ct_buf out; /* last serialization */
};

int ct_onnx_elem_type(int dtype) {
    switch (dtype) {
    case CT_FLOAT32: return 1;
    case CT_UINT8: return 2;
    case CT_INT8: return 3;
    case CT_INT16: return 5;
    case CT_INT32: return 6;
    case CT_INT64: return 7;
    case CT_BOOL: return 9;
    case CT_FLOAT16: return 10;
    case CT_FLOAT64: return 11;
    case CT_BFLOAT16: return 16;
    default: return 0;
    }
}

int ct_onnx_ir_version(int64_t opset) {
    if (opset < 1 || opset > 23) return -1;
    if (opset <= 8) return 3;
    if (opset <= 9) return 4;
    if (opset <= 10) return 5;
    if (opset <= 11) return 6;
    if (opset <= 14) return 7;
    if (opset <= 18) return 8;
    if (opset <= 20) return 9;
    if (opset <= 22) return 10;
    return 11;
}

ct_onnx_model *ct_onnx_model_new(const char *graph_name, int64_t opset, int64_t ir_version) {
    if (ct_onnx_ir_version(opset) < 0) return ct_error(CT_ERR_VALUE, "[onnx] unsupported opset %lld", (long long)opset);
    ct_onnx_model *m = calloc(1, sizeof *m);
    if (!m) return ct_error(CT_ERR_RUNTIME, "[onnx] out of memory");
    const char *g = graph_name && *graph_name ? graph_name : "main_graph";
    m->graph_name = malloc(strlen(g) + 1);
    if (!m->graph_name) {
        free(m);
        return ct_error(CT_ERR_RUNTIME, "[onnx] out of memory");
    }
    strcpy(m->graph_name, g);
    m->opset = opset;
    m->ir_version = ir_version > 0 ? ir_version : ct_onnx_ir_version(opset);
    return m;
}

void ct_onnx_model_free(ct_onnx_model *m) {
    if (!m) return;
    ct_buf_free(&m->nodes);
    for (size_t i = 0; i < m->n_inits; i++) {
        ct_tensor_release(m->inits[i].t);
        ct_buf_free(&m->inits[i].hdr);
    }
    free(m->inits);
    ct_buf_free(&m->inputs);
    ct_buf_free(&m->outputs);
    ct_buf_free(&m->out);
    free(m->graph_name);
    free(m);
}

static int oom(ct_buf *b) {
    if (!b->failed) return 0;
    ct_error(CT_ERR_RUNTIME, "[onnx] out of memory");
    return -1;
}

/* TensorProto: dims 1 (unpacked), data_type 2, name 8, raw_data 9. */
static int tensor_proto(ct_buf *b, const char *name, ct_tensor *t) {
    int et = ct_onnx_elem_type(t->dtype);
    if (!et) {
        ct_error(CT_ERR_TYPE, "[onnx] dtype %s has no ONNX element type", ct_dtype_name(t->dtype));
        return -1;
    }
    ct_tensor *c = ct_contig_as(t, -1);
    if (!c) return -1;
    for (int i = 0; i < c->ndim; i++) ct_pb_uint(b, 1, (uint64_t)c->sizes[i]);
    ct_pb_uint(b, 2, (uint64_t)et);
    if (name && *name) ct_pb_str(b, 8, name);
    /* raw_data is little-endian; the hosts ctorch supports are little-endian */
    ct_pb_bytes(b, 9, c->numel ? ct_tensor_data(c) : "", (size_t)c->numel * ct_dtype_size(c->dtype));
    ct_tensor_release(c);
    return oom(b);
}

/* AttributeProto: name 1, f 2, i 3, s 4, t 5, floats 7, ints 8, strings 9, type 20. */
static int attr_proto(ct_buf *b, const ct_onnx_attr *a) {
    ct_pb_str(b, 1, a->name);
    switch (a->type) {
    case CT_ONNX_ATTR_FLOAT: ct_pb_float(b, 2, (float)a->f); break;
    case CT_ONNX_ATTR_INT: ct_pb_uint(b, 3, (uint64_t)a->i); break;
    case CT_ONNX_ATTR_STRING: ct_pb_str(b, 4, a->s ? a->s : ""); break;
    case CT_ONNX_ATTR_TENSOR: {
        ct_buf tb = {0};
        if (!a->t || tensor_proto(&tb, NULL, (ct_tensor *)a->t)) {
            ct_buf_free(&tb);
            if (!a->t) ct_error(CT_ERR_VALUE, "[onnx] attribute '%s': missing tensor", a->name);
            return -1;
        }
        ct_pb_msg(b, 5, &tb);
        ct_buf_free(&tb);
        break;
    }
    case CT_ONNX_ATTR_FLOATS:
        for (int k = 0; k < a->n; k++) ct_pb_float(b, 7, (float)a->floats[k]);
        break;
    case CT_ONNX_ATTR_INTS:
        for (int k = 0; k < a->n; k++) ct_pb_uint(b, 8, (uint64_t)a->ints[k]);
        break;
    case CT_ONNX_ATTR_STRINGS:
        for (int k = 0; k < a->n; k++) ct_pb_str(b, 9, a->strings[k] ? a->strings[k] : "");
        break;
    default: ct_error(CT_ERR_VALUE, "[onnx] attribute '%s': unknown type %d", a->name, a->type); return -1;
    }
    ct_pb_uint(b, 20, (uint64_t)a->type);
    return oom(b);
}

/* NodeProto: input 1, output 2, name 3, op_type 4, attribute 5. */
int ct_onnx_add_node(ct_onnx_model *m, const char *op_type, const char *name, const char *const *inputs,
                     int n_inputs, const char *const *outputs, int n_outputs, const ct_onnx_attr *attrs,
                     int n_attrs) {
    if (!op_type || !*op_type) {
        ct_error(CT_ERR_VALUE, "[onnx] a node needs an op_type");
        return -1;
    }
    ct_buf nb = {0};
    int rc = 0;
    for (int i = 0; i < n_inputs; i++) ct_pb_str(&nb, 1, inputs[i] ? inputs[i] : "");
    for (int i = 0; i < n_outputs; i++) ct_pb_str(&nb, 2, outputs[i] ? outputs[i] : "");
    if (name && *name) ct_pb_str(&nb, 3, name);
    ct_pb_str(&nb, 4, op_type);
    for (int i = 0; i < n_attrs && !rc; i++) {
        ct_buf ab = {0};
        rc = attr_proto(&ab, &attrs[i]);
        if (!rc) ct_pb_msg(&nb, 5, &ab);
        ct_buf_free(&ab);
    }
    if (!rc) rc = oom(&nb);
    if (!rc) {
        ct_pb_msg(&m->nodes, 1, &nb);
        rc = oom(&m->nodes);
    }
    ct_buf_free(&nb);
    return rc;
}

int ct_onnx_add_initializer(ct_onnx_model *m, const char *name, ct_tensor *t) {
    int et = ct_onnx_elem_type(t->dtype);
    if (!et) {
        ct_error(CT_ERR_TYPE, "[onnx] dtype %s has no ONNX element type", ct_dtype_name(t->dtype));
        return -1;
    }
    if (m->n_inits == m->cap_inits) {
        size_t cap = m->cap_inits ? 2 * m->cap_inits : 16;
        onnx_init *p = realloc(m->inits, cap * sizeof *p);
        if (!p) {
            ct_error(CT_ERR_RUNTIME, "[onnx] out of memory");
            return -1;
        }
        m->inits = p;
        m->cap_inits = cap;
    }
    ct_tensor *c = ct_contig_as(t, -1);
    if (!c) return -1;
    onnx_init *in = &m->inits[m->n_inits];
    memset(in, 0, sizeof *in);
    for (int i = 0; i < c->ndim; i++) ct_pb_uint(&in->hdr, 1, (uint64_t)c->sizes[i]);
    ct_pb_uint(&in->hdr, 2, (uint64_t)et);
    ct_pb_str(&in->hdr, 8, name);
    if (oom(&in->hdr)) {
        ct_buf_free(&in->hdr);
        ct_tensor_release(c);
        return -1;
    }
    in->t = c;
    m->n_inits++;
    return 0;
}

static size_t varint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t init_nbytes(const onnx_init *in) { return (size_t)in->t->numel * ct_dtype_size(in->t->dtype); }

/* size of the TensorProto of an initializer (header + raw_data field) */
static size_t init_len(const onnx_init *in) {
    size_t nb = init_nbytes(in);
    return in->hdr.len + 1 + varint_len(nb) + nb;
}

/* ValueInfoProto{name 1, type 2: TypeProto{tensor_type 1: {elem_type 1, shape 2: {dim 1:
 * {dim_value 1 | dim_param 2}}}}} */
int ct_onnx_add_value(ct_onnx_model *m, int is_output, const char *name, int dtype, int ndim, const int64_t *dims,
                      const char *const *dim_params) {
    int et = ct_onnx_elem_type(dtype);
    if (!et) {
        ct_error(CT_ERR_TYPE, "[onnx] dtype %s has no ONNX element type", ct_dtype_name(dtype));
        return -1;
    }
    ct_buf shape = {0}, tt = {0}, ty = {0}, vi = {0};
    for (int i = 0; i < ndim; i++) {
        ct_buf d = {0};
        if (dim_params && dim_params[i] && *dim_params[i])
            ct_pb_str(&d, 2, dim_params[i]);
        else
            ct_pb_uint(&d, 1, (uint64_t)dims[i]);
        ct_pb_msg(&shape, 1, &d);
        ct_buf_free(&d);
    }
    ct_pb_uint(&tt, 1, (uint64_t)et);
    ct_pb_msg(&tt, 2, &shape);
    ct_pb_msg(&ty, 1, &tt);
    ct_pb_str(&vi, 1, name);
    ct_pb_msg(&vi, 2, &ty);
    ct_buf *dst = is_output ? &m->outputs : &m->inputs;
    ct_pb_msg(dst, is_output ? 12 : 11, &vi);
    int rc = oom(&shape) || oom(&tt) || oom(&ty) || oom(&vi) || oom(dst) ? -1 : 0;
    ct_buf_free(&shape);
    ct_buf_free(&tt);
    ct_buf_free(&ty);
    ct_buf_free(&vi);
    return rc;
}

/* ModelProto: ir_version 1, producer_name 2, producer_version 3, graph 7, opset_import 8.
 * GraphProto: node 1, name 2, initializer 5, input 11, output 12. */
const uint8_t *ct_onnx_serialize(ct_onnx_model *m, size_t *len) {
    ct_buf head = {0}, op = {0};
    ct_buf_free(&m->out);
    memset(&m->out, 0, sizeof m->out);
    /* the graph's length first (initializer bytes are not copied until the single write) */
    ct_pb_str(&head, 2, m->graph_name);
    size_t glen = m->nodes.len + head.len + m->inputs.len + m->outputs.len;
    for (size_t i = 0; i < m->n_inits; i++) {
        size_t il = init_len(&m->inits[i]);
        glen += 1 + varint_len(il) + il;
    }
    if (glen > 0x7fffffffu) {
        ct_buf_free(&head);
        return ct_error(CT_ERR_RUNTIME, "[onnx] model above 2 GiB (external data not supported)");
    }
    m->out.data = malloc(glen + 256);
    if (!m->out.data) {
        ct_buf_free(&head);
        return ct_error(CT_ERR_RUNTIME, "[onnx] out of memory");
    }
    m->out.cap = glen + 256;
    ct_pb_str(&op, 1, "");
    ct_pb_uint(&op, 2, (uint64_t)m->opset);
    ct_pb_uint(&m->out, 1, (uint64_t)m->ir_version);
    ct_pb_str(&m->out, 2, "ctorch");
    ct_pb_str(&m->out, 3, "0.1");
    ct_pb_key(&m->out, 7, 2);
    ct_pb_varint(&m->out, glen);
    ct_buf_put(&m->out, m->nodes.data, m->nodes.len);
    ct_buf_put(&m->out, head.data, head.len);
    for (size_t i = 0; i < m->n_inits; i++) {
        const onnx_init *in = &m->inits[i];
        size_t nb = init_nbytes(in);
        ct_pb_key(&m->out, 5, 2);
        ct_pb_varint(&m->out, init_len(in));
        ct_buf_put(&m->out, in->hdr.data, in->hdr.len);
        /* raw_data is little-endian; the hosts ctorch supports are little-endian */
        ct_pb_key(&m->out, 9, 2);
        ct_pb_varint(&m->out, nb);
        ct_buf_put(&m->out, ct_tensor_data(in->t), nb);
    }
    ct_buf_put(&m->out, m->inputs.data, m->inputs.len);
    ct_buf_put(&m->out, m->outputs.data, m->outputs.len);
    ct_pb_msg(&m->out, 8, &op);
    int bad = head.failed || op.failed || m->out.failed;
    ct_buf_free(&head);
    ct_buf_free(&op);
    if (bad) return ct_error(CT_ERR_RUNTIME, "[onnx] out of memory");
    *len = m->out.len;
    return m->out.data;
}

int ct_onnx_save(ct_onnx_model *m, const char *path) {
    size_t n;
    const uint8_t *p = ct_onnx_serialize(m, &n);
    if (!p) return -1;
    FILE *f = fopen(path, "wb");
    if (!f) {
        ct_error(CT_ERR_RUNTIME, "[onnx] cannot open '%s' for writing", path);
        return -1;
    }
    size_t w = fwrite(p, 1, n, f);
    if (fclose(f) != 0 || w != n) {
        ct_error(CT_ERR_RUNTIME, "[onnx] write to '%s' failed", path);
        return -1;
    }
    return 0;
}
