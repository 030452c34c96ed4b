/* Per-tensor autograd state (see NOTE [ Autograd meta ] in ctorch/autograd.h), grad mode,
 * graph nodes, saved tensors and hooks. The engine is in engine.c. */
#include <stdlib.h>

#include "ctorch/autograd.h"
#include "autograd_internal.h"

/* ------------------------------------------------------------------ grad mode */

static _Thread_local bool grad_disabled = false;
static _Thread_local bool inference_mode = false;

bool ct_grad_enabled(void) { return !grad_disabled; }
bool ct_set_grad_enabled(bool enabled) {
    bool prev = !grad_disabled;
    grad_disabled = !enabled;
    return prev;
}
bool ct_inference_mode_enabled(void) { return inference_mode; }
bool ct_set_inference_mode(bool enabled) {
    bool prev = inference_mode;
    inference_mode = enabled;
    return prev;
}

/* ------------------------------------------------------------------ hooks */

static int64_t next_hook_id = 1;

static ct_hook *hook_new(ct_hook_fn fn, void *ctx, ct_hook_free free_fn, int output_nr) {
    ct_hook *h = calloc(1, sizeof *h);
    if (!h) return ct_error(CT_ERR_MEMORY, "[hook] out of memory");
    h->id = __atomic_fetch_add(&next_hook_id, 1, __ATOMIC_RELAXED);
    h->fn = fn;
    h->ctx = ctx;
    h->free_fn = free_fn;
    h->output_nr = output_nr;
    return h;
}

void ct_hooks_free(ct_hook *h) {
    while (h) {
        ct_hook *n = h->next;
        if (h->free_fn) h->free_fn(h->ctx);
        free(h);
        h = n;
    }
}

static void hook_append(void **list, ct_hook *h) {
    ct_hook **p = (ct_hook **)list;
    while (*p) p = &(*p)->next;
    *p = h;
}

static bool hook_remove(void **list, int64_t id) {
    ct_hook **p = (ct_hook **)list;
    while (*p) {
        if ((*p)->id == id) {
            ct_hook *h = *p;
            *p = h->next;
            h->next = NULL;
            ct_hooks_free(h);
            return true;
        }
        p = &(*p)->next;
    }
    return false;
}

/* ------------------------------------------------------------------ meta */

static ct_autograd_meta *meta_of(ct_tensor *t) {
    if (!t->autograd) {
        t->autograd = calloc(1, sizeof(ct_autograd_meta));
        if (!t->autograd) ct_error(CT_ERR_MEMORY, "[autograd] out of memory");
    }
    return t->autograd;
}

void ct_autograd_meta_free(ct_autograd_meta *m) {
    if (!m) return;
    ct_tensor_release(m->view_base);
    ct_tensor_release(m->grad);
    ct_hooks_free(m->hooks);
    ct_node_release(m->grad_fn);
    free(m);
}

bool ct_tensor_requires_grad(const ct_tensor *t) {
    return t->autograd && (t->autograd->requires_grad || t->autograd->grad_fn);
}

/* NOTE [ Views after in-place ]
 * A recorded view keeps the history it was made with. When its memory is then written in place
 * (through the base or through another view, which rebases the base's history: CopySlices), that
 * history is stale; like torch, the next use (grad_fn access, use as an op input, saving) gives the
 * view a fresh as_strided node of the base's current history. The storage version is the signal:
 * view_version is the version the view's grad_fn is current for. */
static void refresh_view(ct_tensor *t) {
    ct_autograd_meta *m = t->autograd;
    if (!m || !m->view_base || m->view_version == t->storage->version) return;
    ct_tensor *base = m->view_base;
    m->view_version = t->storage->version;
    if (!m->grad_fn || !ct_tensor_requires_grad(base) || base->storage != t->storage) return;
    bool prev = ct_set_grad_enabled(true);
    int64_t off = t->offset;
    ct_tensor *a = ct_as_strided(base, (ct_intlist){t->sizes, t->ndim}, (ct_intlist){t->strides, t->ndim}, &off);
    ct_set_grad_enabled(prev);
    if (!a) { /* keep the old history; the error is not reportable from a getter */
        ct_clear_error();
        return;
    }
    if (a->autograd && a->autograd->grad_fn) {
        ct_node *fn = a->autograd->grad_fn;
        ct_node_retain(fn);
        ct_node_release(m->grad_fn);
        m->grad_fn = fn;
        m->output_nr = a->autograd->output_nr;
    }
    ct_tensor_release(a);
}

void ct_autograd_view_fresh(ct_tensor *t) {
    if (t->autograd && t->autograd->view_base) t->autograd->view_version = t->storage->version;
}

ct_node *ct_tensor_grad_fn(const ct_tensor *t) {
    if (!t->autograd) return NULL;
    refresh_view((ct_tensor *)t);
    return t->autograd->grad_fn;
}
bool ct_tensor_is_leaf(const ct_tensor *t) { return !(t->autograd && t->autograd->grad_fn); }

int ct_tensor_set_requires_grad(ct_tensor *t, bool flag) {
    if (t->autograd && t->autograd->grad_fn) {
        if (!flag)
            return ct_errorf(CT_ERR_RUNTIME, "you can only change requires_grad flags of leaf variables. If you want "
                             "to use a computed variable in a subgraph that doesn't require differentiation use "
                             "var_no_grad = var.detach().");
        return 0;
    }
    if (flag && !ct_dtype_is_floating(t->dtype))
        return ct_errorf(CT_ERR_RUNTIME, "only Tensors of floating point and complex dtype can require gradients");
    if (!flag && !t->autograd) return 0;
    ct_autograd_meta *m = meta_of(t);
    if (!m) return -1;
    m->requires_grad = flag;
    return 0;
}

ct_tensor *ct_tensor_grad(const ct_tensor *t) { return t->autograd ? t->autograd->grad : NULL; }

int ct_tensor_set_grad(ct_tensor *t, ct_tensor *grad) {
    if (grad) {
        bool same = grad->ndim == t->ndim && grad->dtype == t->dtype;
        for (int i = 0; same && i < t->ndim; i++) same = grad->sizes[i] == t->sizes[i];
        if (!same) {
            char b1[128], b2[128];
            if (grad->dtype != t->dtype)
                return ct_errorf(CT_ERR_TYPE, "assigned grad has data of a different type");
            return ct_errorf(CT_ERR_RUNTIME, "assigned grad has data of a different size: %s vs %s",
                             ct_shape_str(grad->sizes, grad->ndim, b1, sizeof b1),
                             ct_shape_str(t->sizes, t->ndim, b2, sizeof b2));
        }
    }
    if (!grad && !t->autograd) return 0;
    ct_autograd_meta *m = meta_of(t);
    if (!m) return -1;
    ct_tensor_retain(grad);
    ct_tensor_release(m->grad);
    m->grad = grad;
    return 0;
}

ct_tensor *ct_detach(ct_tensor *t) { return ct_tensor_alias(t); }

int ct_detach_(ct_tensor *t) {
    if (!t->autograd) return 0;
    ct_node_release(t->autograd->grad_fn);
    t->autograd->grad_fn = NULL;
    t->autograd->requires_grad = false;
    t->autograd->output_nr = 0;
    return 0;
}

int64_t ct_tensor_register_hook(ct_tensor *t, ct_hook_fn fn, void *ctx, ct_hook_free free_fn) {
    if (!ct_tensor_requires_grad(t)) {
        ct_errorf(CT_ERR_RUNTIME, "cannot register a hook on a tensor that doesn't require gradient");
        return -1;
    }
    ct_hook *h = hook_new(fn, ctx, free_fn, t->autograd->output_nr);
    if (!h) return -1;
    if (t->autograd->grad_fn)
        hook_append(&t->autograd->grad_fn->pre_hooks, h);
    else
        hook_append(&t->autograd->hooks, h);
    return h->id;
}

int64_t ct_tensor_register_post_accumulate_hook(ct_tensor *t, ct_hook_fn fn, void *ctx, ct_hook_free free_fn) {
    if (!ct_tensor_requires_grad(t)) {
        ct_errorf(CT_ERR_RUNTIME, "cannot register a hook on a tensor that doesn't require gradient");
        return -1;
    }
    if (t->autograd->grad_fn) {
        ct_errorf(CT_ERR_RUNTIME, "post accumulate grad hooks cannot be registered on non-leaf tensors");
        return -1;
    }
    ct_hook *h = hook_new(fn, ctx, free_fn, -2);
    if (!h) return -1;
    hook_append(&t->autograd->hooks, h);
    return h->id;
}

void ct_tensor_remove_hook(ct_tensor *t, int64_t handle) {
    if (!t->autograd) return;
    if (hook_remove(&t->autograd->hooks, handle)) return;
    if (t->autograd->grad_fn) hook_remove(&t->autograd->grad_fn->pre_hooks, handle);
}

/* retain_grad: a pre-hook on grad_fn that stores the incoming gradient into the tensor's
 * .grad. ctx is the tensor (weak: the hook is removed when the tensor's meta dies, see
 * retain_hook_owner). */
static ct_tensor *retain_hook(void *ctx, ct_tensor *grad, int *err) {
    ct_tensor *t = ctx;
    if (!grad) return NULL;
    ct_tensor *g = t->autograd->grad;
    if (!g) {
        ct_tensor *c = ct_clone(grad);
        if (!c) {
            *err = 1;
            return NULL;
        }
        ct_autograd_meta *m = t->autograd;
        m->grad = ct_detach(c);
        ct_tensor_release(c);
    } else {
        ct_tensor *s = ct_add(g, grad, ct_scalar_i(1));
        if (!s) {
            *err = 1;
            return NULL;
        }
        ct_tensor_release(t->autograd->grad);
        t->autograd->grad = s;
    }
    return NULL;
}

int ct_retain_grad(ct_tensor *t) {
    if (!ct_tensor_requires_grad(t))
        return ct_errorf(CT_ERR_RUNTIME, "can't retain_grad on Tensor that has requires_grad=False");
    if (!t->autograd->grad_fn || t->autograd->retains_grad) return 0;
    ct_hook *h = hook_new(retain_hook, t, NULL, t->autograd->output_nr);
    if (!h) return -1;
    h->retain_owner = t;
    hook_append(&t->autograd->grad_fn->pre_hooks, h);
    t->autograd->retains_grad = true;
    return 0;
}

/* Called when a non-leaf tensor that retains grad dies: drop its hook from grad_fn. */
void ct_autograd_forget_tensor(ct_tensor *t) {
    if (!t->autograd || !t->autograd->retains_grad || !t->autograd->grad_fn) return;
    ct_hook **p = (ct_hook **)&t->autograd->grad_fn->pre_hooks;
    while (*p) {
        if ((*p)->retain_owner == t) {
            ct_hook *h = *p;
            *p = h->next;
            h->next = NULL;
            ct_hooks_free(h);
            continue;
        }
        p = &(*p)->next;
    }
}

/* ------------------------------------------------------------------ nodes */

static int64_t node_seq = 0;

void ct_node_retain(ct_node *n) {
    if (n) __atomic_add_fetch(&n->refcount, 1, __ATOMIC_RELAXED);
}

/* Releasing a long chain of nodes must not recurse (a 100,000-op chain): nodes whose count
 * drops to zero are queued and freed in a loop. */
void ct_node_release(ct_node *n) {
    if (!n) return;
    if (__atomic_sub_fetch(&n->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    ct_node *stack = n;
    n->free_next = NULL;
    while (stack) {
        ct_node *cur = stack;
        stack = cur->free_next;
        for (int i = 0; i < cur->n_inputs; i++) {
            ct_node *nx = cur->next[i].fn;
            if (nx && __atomic_sub_fetch(&nx->refcount, 1, __ATOMIC_ACQ_REL) == 0) {
                nx->free_next = stack;
                stack = nx;
            }
        }
        for (int i = 0; i < cur->n_saved; i++) ct_tensor_release(cur->saved[i]);
        if (cur->destroy) cur->destroy(cur);
        if (cur->leaf) {
            if (cur->leaf->autograd && cur->leaf->autograd->grad_acc == cur) cur->leaf->autograd->grad_acc = NULL;
            ct_tensor_release(cur->leaf);
        }
        ct_hooks_free(cur->pre_hooks);
        ct_hooks_free(cur->post_hooks);
        free(cur->buf);
        free(cur->next);
        free(cur->in_meta);
        free(cur);
    }
}

static ct_node *node_alloc(const char *name, ct_backward_fn fn, int n_inputs, int n_outputs) {
    ct_node *n = calloc(1, sizeof *n);
    if (!n) return ct_error(CT_ERR_MEMORY, "[autograd] out of memory");
    n->refcount = 1;
    n->name = name;
    n->backward = fn;
    n->n_inputs = n_inputs;
    n->n_outputs = n_outputs;
    n->seq = __atomic_fetch_add(&node_seq, 1, __ATOMIC_RELAXED);
    if (n_inputs) {
        n->next = calloc((size_t)n_inputs, sizeof(ct_edge));
        n->in_meta = calloc((size_t)n_inputs, sizeof(ct_input_meta));
        if (!n->next || !n->in_meta) {
            free(n->next);
            free(n->in_meta);
            free(n);
            return ct_error(CT_ERR_MEMORY, "[autograd] out of memory");
        }
    }
    return n;
}

static int accumulate_backward(ct_node *node, ct_tensor *const *grad_out, ct_tensor **grad_in) {
    (void)node;
    (void)grad_out;
    (void)grad_in;
    return 0; /* the engine handles AccumulateGrad itself */
}

ct_node *ct_autograd_grad_accumulator(ct_tensor *leaf) {
    ct_autograd_meta *m = leaf->autograd;
    if (m->grad_acc) {
        ct_node_retain(m->grad_acc);
        return m->grad_acc;
    }
    ct_node *n = node_alloc("AccumulateGrad", accumulate_backward, 0, 1);
    if (!n) return NULL;
    ct_tensor_retain(leaf);
    n->leaf = leaf;
    m->grad_acc = n;
    return n;
}

int ct_gradient_edge(ct_tensor *t, ct_edge *e) {
    e->fn = NULL;
    e->input_nr = 0;
    if (!ct_tensor_requires_grad(t)) return 0;
    refresh_view(t);
    if (t->autograd->grad_fn) {
        ct_node_retain(t->autograd->grad_fn);
        e->fn = t->autograd->grad_fn;
        e->input_nr = t->autograd->output_nr;
        return 0;
    }
    e->fn = ct_autograd_grad_accumulator(t);
    return e->fn ? 0 : -1;
}

bool ct_autograd_should_record(int n, ct_tensor *const *inputs) {
    if (grad_disabled) return false;
    for (int i = 0; i < n; i++)
        if (inputs[i] && ct_tensor_requires_grad(inputs[i])) return true;
    return false;
}

ct_node *ct_node_new(const char *name, ct_backward_fn fn, int n_inputs, ct_tensor *const *inputs, int n_outputs) {
    ct_node *n = node_alloc(name, fn, n_inputs, n_outputs);
    if (!n) return NULL;
    for (int i = 0; i < n_inputs; i++) {
        ct_tensor *t = inputs[i];
        if (!t) continue;
        n->in_meta[i].ndim = t->ndim;
        n->in_meta[i].dtype = t->dtype;
        for (int d = 0; d < t->ndim; d++) n->in_meta[i].sizes[d] = t->sizes[d];
        if (ct_gradient_edge(t, &n->next[i])) {
            ct_node_release(n);
            return NULL;
        }
    }
    return n;
}

int ct_node_save(ct_node *n, int slot, ct_tensor *t, int output_nr) {
    if (slot < 0 || slot >= CT_NODE_MAX_SAVED) return ct_errorf(CT_ERR_RUNTIME, "[autograd] bad saved slot %d", slot);
    ct_tensor *a = NULL;
    if (t) {
        a = ct_tensor_alias(t);
        if (!a) return -1;
        a->flags |= t->flags & CT_FLAG_WRAPPED_NUMBER;
        /* a saved input keeps its history so double backward can differentiate through it */
        if (output_nr < 0 && t->autograd && ct_tensor_requires_grad(t)) {
            refresh_view(t);
            a->autograd = calloc(1, sizeof(ct_autograd_meta));
            if (!a->autograd) {
                ct_tensor_release(a);
                return ct_errorf(CT_ERR_MEMORY, "[autograd] out of memory");
            }
            if (t->autograd->grad_fn) {
                ct_node_retain(t->autograd->grad_fn);
                a->autograd->grad_fn = t->autograd->grad_fn;
                a->autograd->output_nr = t->autograd->output_nr;
            } else {
                /* a leaf: share its AccumulateGrad so gradients reach the real leaf */
                ct_node *acc = ct_autograd_grad_accumulator(t);
                if (!acc) {
                    ct_tensor_release(a);
                    return -1;
                }
                a->autograd->grad_fn = acc;
                a->autograd->output_nr = 0;
            }
        }
    }
    ct_tensor_release(n->saved[slot]);
    n->saved[slot] = a;
    n->saved_version[slot] = t ? t->storage->version : 0;
    n->saved_output_nr[slot] = (int8_t)output_nr;
    if (slot >= n->n_saved) n->n_saved = slot + 1;
    return 0;
}

ct_tensor *ct_node_saved(ct_node *n, int slot) {
    if (n->released)
        return ct_error(CT_ERR_RUNTIME,
                        "Trying to backward through the graph a second time (or directly access saved tensors after "
                        "they have already been freed). Saved intermediate values of the graph are freed when you "
                        "call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward "
                        "through the graph a second time or if you need to access saved tensors after calling "
                        "backward.");
    ct_tensor *s = n->saved[slot];
    if (!s) return NULL;
    if (s->storage->version != n->saved_version[slot]) {
        char b[128];
        return ct_error(CT_ERR_RUNTIME,
                        "one of the variables needed for gradient computation has been modified by an inplace "
                        "operation: [%s %s] is at version %lld; expected version %lld instead. Hint: the backward "
                        "node is %s.", ct_dtype_name(s->dtype), ct_shape_str(s->sizes, s->ndim, b, sizeof b),
                        (long long)s->storage->version, (long long)n->saved_version[slot], n->name);
    }
    if (n->saved_output_nr[slot] >= 0 && ct_grad_enabled()) {
        /* create_graph: hand the output back attached to this node */
        ct_tensor *a = ct_tensor_alias(s);
        if (!a) return NULL;
        a->autograd = calloc(1, sizeof(ct_autograd_meta));
        if (!a->autograd) {
            ct_tensor_release(a);
            return ct_error(CT_ERR_MEMORY, "[autograd] out of memory");
        }
        ct_node_retain(n);
        a->autograd->grad_fn = n;
        a->autograd->output_nr = n->saved_output_nr[slot];
        return a;
    }
    ct_tensor_retain(s);
    return s;
}

bool ct_node_needs_grad(const ct_node *n, int input) { return input < n->n_inputs && n->next[input].fn != NULL; }

int ct_node_set_output(ct_node *n, ct_tensor *out, int output_nr) {
    ct_autograd_meta *m = meta_of(out);
    if (!m) return -1;
    ct_node_retain(n);
    ct_node_release(m->grad_fn);
    m->grad_fn = n;
    m->output_nr = output_nr;
    m->requires_grad = false;
    return 0;
}

ct_node *ct_autograd_record(const char *name, ct_backward_fn fn, ct_tensor *out, int n_inputs,
                            ct_tensor *const *inputs) {
    ct_node *n = ct_node_new(name, fn, n_inputs, inputs, 1);
    if (!n) return NULL;
    int rc = ct_node_set_output(n, out, 0);
    ct_node_release(n);
    return rc ? NULL : n;
}
