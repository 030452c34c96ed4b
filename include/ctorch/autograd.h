/* ctorch/autograd.h — reverse-mode automatic differentiation: per-tensor state
 * (requires_grad, .grad, grad_fn), graph nodes, grad mode and the backward engine.
 *
 * A recorded op creates one ct_node whose next edges point at the nodes that produced its
 * differentiable inputs (or at the AccumulateGrad node of a leaf); its outputs point back
 * at it through their autograd meta. ct_autograd_backward() walks that graph from the roots
 * in dependency order (iteratively) and accumulates into the leaves' .grad. Backward
 * formulas are written with ops, so with create_graph they are recorded too and can be
 * differentiated again. */
#ifndef CTORCH_AUTOGRAD_H
#define CTORCH_AUTOGRAD_H

#include "ctorch/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_node ct_node;

/* NOTE [ Autograd meta ]
 * Allocated lazily: a tensor that never required grad and was produced with grad mode off
 * (or from inputs that do not require grad) has autograd == NULL, so the common inference
 * path pays nothing. grad_fn is a strong reference; grad_acc is weak (the AccumulateGrad
 * node holds the leaf strongly and clears this pointer when it dies). */
struct ct_autograd_meta {
    bool requires_grad;   /* leaf flag set by the user */
    bool retains_grad;    /* non-leaf asked to keep .grad */
    bool is_view_of_grad; /* a recorded view of a tensor that requires grad */
    ct_tensor *view_base; /* owned: the root tensor this view's memory belongs to (in-place on
                             the view rebases the base's history: CopySlices) */
    ct_tensor *grad;      /* owned; NULL until the first backward */
    ct_node *grad_fn;     /* owned; the node that produced this tensor */
    int output_nr;
    ct_node *grad_acc;    /* weak; the leaf's AccumulateGrad node while it exists */
    void *hooks;          /* tensor hooks (ct_hook list), owned */
    int64_t view_version; /* views: storage version their grad_fn is current for (NOTE [ Views after in-place ]) */
};

CT_API bool ct_tensor_requires_grad(const ct_tensor *t);
/* Integer and bool tensors cannot require grad (RuntimeError, torch's message); only leaves
 * can change the flag. */
CT_API int ct_tensor_set_requires_grad(ct_tensor *t, bool flag);
/* Borrowed; NULL when unset. */
CT_API ct_tensor *ct_tensor_grad(const ct_tensor *t);
/* Replaces .grad (grad is retained; NULL clears). Shape and dtype must match t's. */
CT_API int ct_tensor_set_grad(ct_tensor *t, ct_tensor *grad);
/* Borrowed grad_fn (NULL for leaves). */
CT_API ct_node *ct_tensor_grad_fn(const ct_tensor *t);
CT_API bool ct_tensor_is_leaf(const ct_tensor *t);
/* New tensor sharing t's storage, cut from the graph (requires_grad false). New reference. */
CT_API ct_tensor *ct_detach(ct_tensor *t);
/* Cut t itself from the graph in place. */
CT_API int ct_detach_(ct_tensor *t);
CT_API int ct_retain_grad(ct_tensor *t);

/* ------------------------------------------------------------------ grad mode */

CT_API bool ct_grad_enabled(void);
/* Returns the previous state. Thread-local. */
CT_API bool ct_set_grad_enabled(bool enabled);
CT_API bool ct_inference_mode_enabled(void);
CT_API bool ct_set_inference_mode(bool enabled);

/* ------------------------------------------------------------------ nodes */

typedef struct ct_edge {
    ct_node *fn;   /* NULL: this input needs no gradient */
    int input_nr;  /* which output of fn the gradient belongs to */
} ct_edge;

/* Backward of one node: grad_out holds n_outputs incoming gradients (an entry may be NULL
 * when that output received none: treat as zeros); fill grad_in[i] (new references) for
 * each input whose edge is set (ct_node_needs_grad); leave others NULL. Returns 0 or -1
 * with the error set. */
typedef int (*ct_backward_fn)(ct_node *node, ct_tensor *const *grad_out, ct_tensor **grad_in);

/* Shape/dtype of an input, kept so gradients can be reduced back to it. */
typedef struct ct_input_meta {
    int8_t ndim;
    int8_t dtype;
    int64_t sizes[CT_MAX_DIM];
} ct_input_meta;

#define CT_NODE_MAX_SAVED 8

struct ct_node {
    int64_t refcount;
    const char *name;             /* "AddBackward0" */
    ct_backward_fn backward;
    void (*destroy)(ct_node *);   /* frees payload; may be NULL */
    int n_inputs;
    int n_outputs;
    ct_edge *next;                /* n_inputs edges (strong refs on fn) */
    ct_input_meta *in_meta;       /* n_inputs */
    int n_saved;
    ct_tensor *saved[CT_NODE_MAX_SAVED];      /* aliases without autograd meta */
    int64_t saved_version[CT_NODE_MAX_SAVED];
    int8_t saved_output_nr[CT_NODE_MAX_SAVED]; /* >= 0: the saved tensor is that output of this node */
    bool released;                /* saved tensors freed after a backward without retain_graph */
    /* op parameters for the backward formula */
    ct_scalar sc[2];
    int64_t iv[8];
    double dv[4];
    void *payload;
    int64_t seq;                  /* creation order */
    ct_tensor *leaf;              /* AccumulateGrad only: the leaf (strong) */
    void *pre_hooks;              /* ct_hook list, owned */
    void *post_hooks;             /* ct_hook list, owned */
    ct_node *free_next;           /* release queue link (no recursion on long chains) */
    void *pyobj;                  /* borrowed back-pointer to the Python grad_fn object */
    /* engine scratch (valid during one backward on one thread) */
    uint64_t epoch;
    int deps;
    bool needed;
    ct_tensor **buf;
};

CT_API void ct_node_retain(ct_node *n);
CT_API void ct_node_release(ct_node *n);

/* True when grad mode is on and one of the n inputs (NULLs skipped) requires grad. */
CT_API bool ct_autograd_should_record(int n, ct_tensor *const *inputs);
/* New node with edges to the inputs' grad_fn / AccumulateGrad (NULL inputs or inputs not
 * requiring grad get empty edges). New reference. */
CT_API ct_node *ct_node_new(const char *name, ct_backward_fn fn, int n_inputs, ct_tensor *const *inputs,
                            int n_outputs);
/* Save t for backward (an alias is kept with its version). output_nr >= 0 marks an output
 * of this node (kept without a reference cycle). */
CT_API int ct_node_save(ct_node *n, int slot, ct_tensor *t, int output_nr);
/* Unpack a saved tensor: new reference; error if it was modified in place since or the
 * graph was freed. With grad mode on (create_graph), saved outputs come back attached to
 * this node so formulas stay differentiable. */
CT_API ct_tensor *ct_node_saved(ct_node *n, int slot);
CT_API bool ct_node_needs_grad(const ct_node *n, int input);
/* Make `out` the output_nr-th output of n (grad_fn = n). */
CT_API int ct_node_set_output(ct_node *n, ct_tensor *out, int output_nr);
/* Convenience for single-output ops: creates the node, sets the output; returns a borrowed
 * pointer to the node (owned by out), or NULL on error. */
CT_API ct_node *ct_autograd_record(const char *name, ct_backward_fn fn, ct_tensor *out, int n_inputs,
                                   ct_tensor *const *inputs);

/* ------------------------------------------------------------------ hooks */

/* A hook gets the gradient (borrowed) and may return a replacement (new reference) or NULL
 * to keep it; *err = 1 signals an error (set via ct_error or by the binding). */
typedef ct_tensor *(*ct_hook_fn)(void *ctx, ct_tensor *grad, int *err);
typedef void (*ct_hook_free)(void *ctx);
/* Returns a handle id (> 0) for ct_tensor_remove_hook, or -1. */
CT_API int64_t ct_tensor_register_hook(ct_tensor *t, ct_hook_fn fn, void *ctx, ct_hook_free free_fn);
/* Hook run after a leaf's .grad was accumulated (grad argument is the leaf's .grad). */
CT_API int64_t ct_tensor_register_post_accumulate_hook(ct_tensor *t, ct_hook_fn fn, void *ctx, ct_hook_free free_fn);
CT_API void ct_tensor_remove_hook(ct_tensor *t, int64_t handle);

/* ------------------------------------------------------------------ engine */

/* Backpropagate from roots (grads may be NULL entries for scalar roots: ones). inputs (may
 * be NULL / n_inputs 0) restricts accumulation to those leaves. */
CT_API int ct_autograd_backward(int n_roots, ct_tensor *const *roots, ct_tensor *const *grads, bool retain_graph,
                                bool create_graph, int n_inputs, ct_tensor *const *inputs);
/* Gradients of outputs w.r.t. inputs, returned in results[i] (new references; NULL for
 * unused inputs when allow_unused, else error). */
CT_API int ct_autograd_grad(int n_outputs, ct_tensor *const *outputs, ct_tensor *const *grad_outputs, int n_inputs,
                            ct_tensor *const *inputs, bool retain_graph, bool create_graph, bool allow_unused,
                            ct_tensor **results);
/* detect_anomaly: name the forward op whose backward produced NaN. */
CT_API void ct_set_detect_anomaly(bool enabled);
CT_API bool ct_is_anomaly_enabled(void);

/* Reduce grad (broadcast-shaped) back to `meta`'s shape by summing; cast to its dtype.
 * New reference. */
CT_API ct_tensor *ct_sum_to_meta(ct_tensor *grad, const ct_input_meta *meta);

#ifdef __cplusplus
}
#endif
#endif
