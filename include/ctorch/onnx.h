/* ctorch/onnx.h — build an ONNX ModelProto (FORMATS.md section 5) node by node and
 * serialize it: nodes with typed attributes, initializers from tensors, typed graph inputs
 * and outputs with fixed or symbolic (dim_param) dimensions. The mapping from a traced
 * program to nodes lives in Python (ctorch.onnx); this is the byte-level writer. */
#ifndef CTORCH_ONNX_H
#define CTORCH_ONNX_H

#include "ctorch/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_onnx_model ct_onnx_model;

/* AttributeProto.type values (FORMATS.md 5.2). */
enum {
    CT_ONNX_ATTR_FLOAT = 1,
    CT_ONNX_ATTR_INT = 2,
    CT_ONNX_ATTR_STRING = 3,
    CT_ONNX_ATTR_TENSOR = 4,
    CT_ONNX_ATTR_FLOATS = 6,
    CT_ONNX_ATTR_INTS = 7,
    CT_ONNX_ATTR_STRINGS = 8
};

typedef struct ct_onnx_attr {
    const char *name;
    int type;               /* CT_ONNX_ATTR_* */
    int64_t i;              /* INT */
    double f;               /* FLOAT */
    const char *s;          /* STRING */
    const ct_tensor *t;     /* TENSOR (borrowed) */
    const int64_t *ints;    /* INTS, n elements */
    const double *floats;   /* FLOATS, n elements */
    const char *const *strings; /* STRINGS, n elements */
    int n;
} ct_onnx_attr;

/* TensorProto data type of a ctorch dtype (FLOAT = 1, INT64 = 7, ...). */
CT_API int ct_onnx_elem_type(int dtype);
/* Minimum IR version for an opset (13, 14 -> 7; 15..18 -> 8; 19, 20 -> 9; 21, 22 -> 10;
 * 23 -> 11); -1 outside 1..23. */
CT_API int ct_onnx_ir_version(int64_t opset);

/* New empty model. ir_version <= 0: the one matching the opset. NULL on error. */
CT_API ct_onnx_model *ct_onnx_model_new(const char *graph_name, int64_t opset, int64_t ir_version);
CT_API void ct_onnx_model_free(ct_onnx_model *m); /* NULL-safe */

/* Append a node (nodes must be added in topological order). name may be NULL. An empty
 * input name "" marks an omitted optional input. 0 on success. */
CT_API int ct_onnx_add_node(ct_onnx_model *m, const char *op_type, const char *name, const char *const *inputs,
                            int n_inputs, const char *const *outputs, int n_outputs, const ct_onnx_attr *attrs,
                            int n_attrs);
/* Initializer `name` holding t's values (raw_data, row-major little-endian). Keeps a reference
 * to t (or to a contiguous copy): its values are read when the model is serialized. */
CT_API int ct_onnx_add_initializer(ct_onnx_model *m, const char *name, ct_tensor *t);
/* Graph input (is_output 0) or output (1): tensor of ctorch dtype with ndim dims; dim i is
 * symbolic when dim_params && dim_params[i] && *dim_params[i], else dims[i]. */
CT_API int ct_onnx_add_value(ct_onnx_model *m, int is_output, const char *name, int dtype, int ndim,
                             const int64_t *dims, const char *const *dim_params);
/* The serialized ModelProto, valid until the next call on m or ct_onnx_model_free (borrowed). */
CT_API const uint8_t *ct_onnx_serialize(ct_onnx_model *m, size_t *len);
/* Serialize into a file. 0 on success. */
CT_API int ct_onnx_save(ct_onnx_model *m, const char *path);

#ifdef __cplusplus
}
#endif
#endif
