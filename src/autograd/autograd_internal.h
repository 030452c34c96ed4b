/* Autograd internals shared by meta.c, engine.c and the backward formulas. */
#ifndef CTORCH_AUTOGRAD_INTERNAL_H
#define CTORCH_AUTOGRAD_INTERNAL_H

#include "ctorch/autograd.h"
#include "ctorch/ops_gen.h"
#include "../core/internal.h"

typedef struct ct_hook {
    int64_t id;
    int output_nr;          /* pre-hooks: which output's gradient; -2: post-accumulate */
    ct_hook_fn fn;
    void *ctx;
    ct_hook_free free_fn;
    ct_tensor *retain_owner; /* retain_grad hooks: the (weakly held) tensor */
    struct ct_hook *next;
} ct_hook;

void ct_hooks_free(ct_hook *h);
/* The leaf's AccumulateGrad node (created on demand, cached weakly). New reference. */
ct_node *ct_autograd_grad_accumulator(ct_tensor *leaf);
/* Edge for the gradient of t (new reference on e->fn, which is NULL when t needs none). */
int ct_gradient_edge(ct_tensor *t, ct_edge *e);

/* Differentiable sum over dims with keepdim (create_graph path of ct_sum_to_meta). */
ct_tensor *ct_sum_to_dims(ct_tensor *grad, const int64_t *dims, int nd);
/* Mark result (a recorded view of self) so in-place ops on it are refused: call after the
 * node is recorded, for every op returning a view of a tensor that requires grad. */
void ct_autograd_mark_view(ct_tensor *result, ct_tensor *self);
/* A view's grad_fn was just set for its current contents (NOTE [ Views after in-place ]). */
void ct_autograd_view_fresh(ct_tensor *t);
/* History of self after copy_(self, src). */
int ct_autograd_after_copy_(ct_tensor *self, ct_tensor *src);


/* ---- indexing (formulas_index.c, src/ops/indexing.c) */
#include "ctorch/indexing.h"
int ct_autograd_inplace_begin(ct_tensor *self, int n, ct_tensor *const *inputs);
ct_tensor *ct_autograd_inplace_commit(ct_tensor *self, ct_tensor *result);
/* self[items] / self[items] = value without recording. */
ct_tensor *ct_tensor_index_nograd(ct_tensor *self, const ct_index_item *items, int n);
int ct_tensor_index_put_nograd(ct_tensor *self, const ct_index_item *items, int n, ct_tensor *value, bool accumulate);
/* True when an item is an advanced index (tensor other than a 0-dim integer one, or a bool). */
bool ct_index_items_advanced(const ct_index_item *items, int n);
/* grad_fn name of self after self[items] = value (IndexPutBackward0, CopySlices, ...). */
const char *ct_index_setitem_name(const ct_tensor *self, const ct_index_item *items, int n, const ct_tensor *value);
/* Maker of self[items] (result from ct_tensor_index_nograd). */
int ctg_tensor_index(ct_tensor *result, ct_tensor *self, const ct_index_item *items, int n);
/* Out-of-place index_put over items (a clone of self with value put), recorded as `name`
 * (IndexPutBackward0 / CopySlices). New reference. */
ct_tensor *ct_index_put_items(ct_tensor *self, const ct_index_item *items, int n, ct_tensor *value, bool accumulate,
                              const char *name);
/* The same written into self (whose history it takes over; in-place checks done by the
 * caller): CopySlices-like setitem without a copy of self. 0 or -1. */
int ct_index_put_items_(ct_tensor *self, const ct_index_item *items, int n, ct_tensor *value, bool accumulate,
                        const char *name);

#endif
