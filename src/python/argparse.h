/* The Python binding's shared declarations: the Tensor object, converters between Python
 * objects and C API values, and the signature-driven argument parser used by the
 * generated bindings (bindings_gen.c). */
#ifndef CTORCH_PY_ARGPARSE_H
#define CTORCH_PY_ARGPARSE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "ctorch/ctorch.h"

/* ------------------------------------------------------------------ objects */

typedef struct {
    PyObject_HEAD
    ct_tensor *t;      /* owned reference */
    PyObject *dict;
    PyObject *weakrefs;
} PyTensor;

extern PyTypeObject *ctp_Tensor_Type;
#define PyTensor_Check(o) PyObject_TypeCheck(o, ctp_Tensor_Type)

typedef struct {
    PyObject_HEAD
    int dtype;
} PyDType;
extern PyTypeObject PyDType_Type;
extern PyObject *ctp_dtype_objs[CT_NUM_DTYPES];

extern PyTypeObject *ctp_Size_Type;

/* Hook filled by the random module: returns the ct_generator of a Generator object, or
 * NULL (no error set) when obj is not one. */
extern ct_generator *(*ctp_generator_of)(PyObject *obj);

/* ------------------------------------------------------------------ converters */

/* Turn the thread-local ct error into a Python exception. Returns NULL. */
PyObject *ctp_raise_ct_error(void);
/* Wrap a new reference (stolen) into a Python Tensor (reusing a live wrapper). NULL-safe:
 * raises the ct error when r is NULL. */
PyObject *ctp_wrap(ct_tensor *r);
/* For in-place ops returning self: return self_obj (new ref) and drop r. */
PyObject *ctp_wrap_self(PyObject *self_obj, ct_tensor *r);
PyObject *ctp_wrap_vec(ct_tensorvec v);                                  /* tuple; consumes v */
PyObject *ctp_wrap_tuple(ct_tensor **rs, int n, PyTypeObject *structseq); /* consumes rs */
PyObject *ctp_from_scalar(ct_scalar s);
PyObject *ctp_size(const int64_t *sizes, int n);                          /* ctorch.Size */
/* Write result r (borrowed) into the out= tensor object (resizing it as torch does) and
 * return out (new ref). */
PyObject *ctp_write_out(PyObject *outo, ct_tensor *r);
/* Before writing into out=: torch's RuntimeError when autograd would be needed (grad mode on and
 * the result was recorded, or a differentiable op's out= tensor requires grad). outo: a tensor or
 * a tuple/list of them. 0, or -1 with the error set. */
int ctp_out_autograd_check(const char *name, PyObject *outo, ct_tensor *const *rs, int n, bool differentiable);
/* requires_grad=True on a factory result. 0 on success. */
int ctp_factory_post(PyObject *res, PyObject *requires_grad);

static inline ct_tensor *ctp_t(PyObject *o) { return ((PyTensor *)o)->t; }

typedef struct { ct_tensor **data; Py_ssize_t n; ct_tensor *small[8]; int owned; } ctp_listbuf;
typedef struct { int64_t *data; int64_t small[CT_MAX_DIM]; } ctp_intbuf;
void ctp_listbuf_free(ctp_listbuf *b);
void ctp_intbuf_free(ctp_intbuf *b);

/* Each returns 0 on success, -1 with a Python TypeError set. */
int ctp_tensor(PyObject *o, ct_tensor **v);
int ctp_tensor_opt(PyObject *o, ct_tensor **v);
int ctp_tensor_or_scalar(PyObject *o, ct_tensor **v, ct_tensor **tmp); /* *tmp: new ref or NULL */
int ctp_tensorlist(PyObject *o, ct_tensorlist *v, ctp_listbuf *buf, int allow_none);
int ctp_scalar(PyObject *o, ct_scalar *v);
int ctp_int(PyObject *o, int64_t *v);
int ctp_intlist(PyObject *o, ct_intlist *v, ctp_intbuf *buf);
int ctp_intlist_opt(PyObject *o, ct_intlist *v, ctp_intbuf *buf);
int ctp_float(PyObject *o, double *v);
int ctp_bool(PyObject *o, bool *v);
int ctp_str(PyObject *o, const char **v);
int ctp_str_opt(PyObject *o, const char **v);
int ctp_dtype(PyObject *o, int *v);
int ctp_dtype_opt(PyObject *o, int *v);
int ctp_device_opt(PyObject *o, int *v);
int ctp_generator_opt(PyObject *o, ct_generator **v);

/* Python number -> 0-dim "wrapped number" tensor (weakly typed). New reference. */
ct_tensor *ctp_wrap_number(PyObject *o);
/* True for Python/NumPy numbers and bools (not str, not tensors). */
int ctp_is_number(PyObject *o);

/* ------------------------------------------------------------------ parser */

enum {
    CTP_TENSOR, CTP_TENSOR_OR_SCALAR, CTP_TENSORLIST, CTP_TENSORLIST_OPT, CTP_SCALAR, CTP_INT, CTP_INTLIST,
    CTP_FLOAT, CTP_BOOL, CTP_STR, CTP_DTYPE, CTP_DEVICE, CTP_GENERATOR, CTP_ANY
};

#define CTP_MAX_PARAMS 24

typedef struct {
    int kind;
    int optional;        /* the type admits None */
    int kwonly;
    PyObject *name;      /* interned */
    PyObject *deflt;     /* NULL: required */
    char type_name[32];
} ctp_param;

typedef struct {
    char name[64];
    int nparams;
    int npos;            /* positional-capable params */
    ctp_param p[CTP_MAX_PARAMS];
    char display[512];   /* "(Tensor input, Tensor other, *, Number alpha = 1)" */
} ctp_sig;

typedef PyObject *(*ctp_caller)(PyObject **a, PyObject *self_obj);

typedef struct {
    const char *sig;
    ctp_caller call;
    ctp_sig *parsed;     /* filled by ctp_prepare */
} ctp_overload;

typedef struct {
    const char *ns;
    PyMethodDef *defs;
} ctp_namespace;

int ctp_prepare(ctp_overload *ovs);
/* Parse (args, kwnames) against the overloads and call the first that matches; self is
 * the bound Tensor for methods (placed at a[0]) or NULL. */
PyObject *ctp_dispatch(ctp_overload *ovs, const char *name, PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                       PyObject *kwnames);
/* Parse against one prepared signature into out[] (borrowed refs, defaults filled).
 * Returns 0, or -1 with a TypeError set when raise_error, else -1 silently. */
int ctp_parse(const ctp_sig *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, PyObject **out,
              int raise_error);
int ctp_parse_sig(const char *text, ctp_sig *s);

/* NOTE [Op tracer]: while ctp_tracer is set (ctorch._C._set_tracer, used by ctorch.onnx),
 * every op called from Python -- generated bindings through ctp_dispatch, the operator
 * slots, __getitem__, Tensor.T/mT -- reports tracer(name, names, values, result) after it
 * succeeds: names/values are the parsed parameters (defaults filled; a method's self comes
 * first, named "self"). Ops that C code calls inside other ops are not reported. When no
 * tracer is set the cost is one NULL test per call. */
extern PyObject *ctp_tracer;
/* Report a call from a parsed signature; steals res and returns it (NULL if the tracer
 * raised). */
PyObject *ctp_trace_sig(const char *name, const ctp_sig *s, PyObject *const *a, int has_self, PyObject *res);
/* Report a call with n (const char *name, PyObject *value) pairs; steals res. */
PyObject *ctp_trace_op(const char *name, PyObject *res, int n, ...);

/* Generated tables. */
extern const ctp_namespace ctp_namespaces[];
extern PyMethodDef *ctp_tensor_methods_gen;
int ctp_init_generated(PyObject *return_types_module);

/* Module pieces. */
int ctp_init_dtypes(PyObject *m);
int ctp_init_tensor_type(PyObject *m);
int ctp_init_random(PyObject *m); /* random_py.c: Generator, default_generator */
extern PyMethodDef ctp_tensor_methods_manual[];
extern PyMethodDef ctp_module_functions_manual[];
extern PyMethodDef ctp_tensor_methods_autograd[];
extern PyGetSetDef ctp_tensor_getset_autograd[];
int ctp_init_autograd(PyObject *m);
PyObject *ctp_wrap_node(struct ct_node *n);
/* Printing (repr.c), NumPy interop (numpy_interop.c), DLPack (dlpack.c). */
PyObject *ctp_tensor_repr(PyObject *self);
PyObject *ctp_tensor_str(PyObject *self);
int ctp_add_tensor_methods(PyMethodDef *defs); /* onto the created Tensor type */
int ctp_init_repr(PyObject *m);
int ctp_init_numpy(PyObject *m);
int ctp_is_ndarray(PyObject *o); /* 1/0, -1 on error; never imports numpy */
/* Tensor sharing an ndarray's memory (torch.from_numpy's checks); new reference or NULL. */
ct_tensor *ctp_tensor_from_ndarray(PyObject *arr, int warn_readonly);
int ctp_init_dlpack(PyObject *m);
int ctp_init_shared(PyObject *m);
int ctp_init_tensorboard(PyObject *m);
int ctp_init_onnx(PyObject *m); /* onnx_py.c: _OnnxModel, _set_tracer */
int ctp_init_serialize(PyObject *m); /* serialize_py.c: checkpoint and safetensors codecs */

#endif
