/* The backward engine: dependency counting over the graph reachable from the roots, then
 * execution in dependency order with an explicit stack (no recursion, so a chain of
 * 100,000 ops is fine), gradient accumulation into leaves, hooks, capture for
 * autograd.grad, and release of saved tensors unless retain_graph. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd_internal.h"

static bool anomaly = false;
void ct_set_detect_anomaly(bool enabled) { anomaly = enabled; }
bool ct_is_anomaly_enabled(void) { return anomaly; }

/* ------------------------------------------------------------------ sum to shape */

static void sum_into_loop(char **p, const int64_t *s, int64_t n, void *ctx) {
    int dt = *(const int *)ctx;
    if (dt == CT_FLOAT32) {
        if (s[0] == 0) {
            float acc = 0;
            for (int64_t i = 0; i < n; i++) acc += *(const float *)(p[1] + i * s[1]);
            *(float *)p[0] += acc;
        } else {
            for (int64_t i = 0; i < n; i++) *(float *)(p[0] + i * s[0]) += *(const float *)(p[1] + i * s[1]);
        }
    } else if (dt == CT_FLOAT64) {
        if (s[0] == 0) {
            double acc = 0;
            for (int64_t i = 0; i < n; i++) acc += *(const double *)(p[1] + i * s[1]);
            *(double *)p[0] += acc;
        } else {
            for (int64_t i = 0; i < n; i++) *(double *)(p[0] + i * s[0]) += *(const double *)(p[1] + i * s[1]);
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            double v = ct_load_f64(p[0] + i * s[0], dt) + ct_load_f64(p[1] + i * s[1], dt);
            ct_store_f64(p[0] + i * s[0], dt, v);
        }
    }
}

/* Sum `grad` over the dims where `sizes` (right-aligned) is 1 or missing. Not recorded:
 * callers that need it differentiable compose it from ops. */
static ct_tensor *sum_to_sizes(ct_tensor *grad, const int64_t *sizes, int ndim) {
    ct_tensor *acc_src = grad;
    int dt = grad->dtype;
    int work = (dt == CT_FLOAT16 || dt == CT_BFLOAT16) ? CT_FLOAT32 : dt;
    ct_tensor *src = ct_contig_as(grad, work);
    if (!src) return NULL;
    (void)acc_src;
    ct_tensor *out = ct_empty(sizes, ndim, work);
    if (!out) {
        ct_tensor_release(src);
        return NULL;
    }
    memset(ct_tensor_data(out), 0, (size_t)out->numel * ct_dtype_size(work));
    ct_iter it;
    ct_tensor *ops[2] = {out, src};
    if (ct_iter_init(&it, 2, ops, src->sizes, src->ndim, "sum_to_size")) {
        ct_tensor_release(src);
        ct_tensor_release(out);
        return NULL;
    }
    ct_iter_run(&it, sum_into_loop, &work, false);
    ct_tensor_release(src);
    if (work != dt) {
        ct_tensor *r = ct_contig_as(out, dt);
        ct_tensor_release(out);
        return r;
    }
    return out;
}

ct_tensor *ct_sum_to_meta(ct_tensor *grad, const ct_input_meta *meta) {
    bool same = grad->ndim == meta->ndim;
    for (int i = 0; same && i < meta->ndim; i++) same = grad->sizes[i] == meta->sizes[i];
    ct_tensor *r;
    if (same) {
        ct_tensor_retain(grad);
        r = grad;
    } else if (ct_grad_enabled() && ct_tensor_requires_grad(grad)) {
        /* differentiable path (create_graph): sum over the broadcast dims with ops */
        int64_t dims[CT_MAX_DIM];
        int nd = 0, lead = grad->ndim - meta->ndim;
        for (int i = 0; i < grad->ndim; i++)
            if (i < lead || (meta->sizes[i - lead] == 1 && grad->sizes[i] != 1)) dims[nd++] = i;
        ct_tensor *s = ct_sum_to_dims(grad, dims, nd);
        if (!s) return NULL;
        bool keep = s->ndim == meta->ndim; /* keepdim sum already has the shape: no view (as torch) */
        for (int i = 0; keep && i < meta->ndim; i++) keep = s->sizes[i] == meta->sizes[i];
        if (keep) {
            r = s;
        } else {
            r = ct_reshape(s, (ct_intlist){meta->sizes, meta->ndim});
            ct_tensor_release(s);
            if (!r) return NULL;
        }
    } else {
        r = sum_to_sizes(grad, meta->sizes, meta->ndim);
        if (!r) return NULL;
    }
    if (r->dtype != meta->dtype && ct_dtype_is_floating(meta->dtype)) {
        ct_tensor *c = ct_to_dtype(r, meta->dtype, false);
        ct_tensor_release(r);
        r = c;
    }
    return r;
}

/* ------------------------------------------------------------------ engine */

typedef struct {
    ct_node **v;
    int64_t n, cap;
} node_vec;

static int vec_push(node_vec *a, ct_node *n) {
    if (a->n == a->cap) {
        int64_t cap = a->cap ? a->cap * 2 : 64;
        ct_node **v = realloc(a->v, sizeof(ct_node *) * (size_t)cap);
        if (!v) return ct_errorf(CT_ERR_MEMORY, "[backward] out of memory");
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = n;
    return 0;
}

typedef struct {
    ct_node *fn;
    int input_nr;
    int result; /* index into results */
} capture;

typedef struct {
    bool create_graph;
    bool retain_graph;
    bool accumulate;   /* backward(): accumulate into leaves; grad(): capture only */
    int n_caps;
    capture *caps;
    ct_tensor **results;
} task;

static uint64_t epoch_counter = 0;

/* Add g (new reference, consumed) into *slot. */
static int accumulate_into(ct_tensor **slot, ct_tensor *g, bool create_graph) {
    if (!*slot) {
        *slot = g;
        return 0;
    }
    ct_tensor *s;
    /* in place only into a plain buffer: a gradient may be an expanded view (stride 0) */
    if (!create_graph && (*slot)->refcount == 1 && (*slot)->storage->refcount == 1 && !(*slot)->autograd &&
        ct_tensor_is_contiguous(*slot)) {
        bool same = (*slot)->ndim == g->ndim;
        for (int i = 0; same && i < g->ndim; i++) same = (*slot)->sizes[i] == g->sizes[i];
        if (same && (*slot)->dtype == g->dtype) {
            s = ct_add_(*slot, g, ct_scalar_i(1));
            ct_tensor_release(g);
            if (!s) return -1;
            ct_tensor_release(s);
            return 0;
        }
    }
    s = ct_add(*slot, g, ct_scalar_i(1));
    ct_tensor_release(g);
    if (!s) return -1;
    ct_tensor_release(*slot);
    *slot = s;
    return 0;
}

static int run_hooks(ct_hook *h, int output_nr, ct_tensor **grad) {
    for (; h; h = h->next) {
        if (h->output_nr != output_nr || !*grad) continue;
        int err = 0;
        ct_tensor *r = h->fn(h->ctx, *grad, &err);
        if (err) return -1;
        if (r) {
            ct_tensor_release(*grad);
            *grad = r;
        }
    }
    return 0;
}

static bool has_nan(ct_tensor *t) {
    if (!ct_dtype_is_floating(t->dtype)) return false;
    ct_tensor *c = ct_contig_as(t, CT_FLOAT64);
    if (!c) return false;
    const double *p = ct_tensor_data(c);
    bool r = false;
    for (int64_t i = 0; i < c->numel && !r; i++) r = isnan(p[i]);
    ct_tensor_release(c);
    return r;
}

/* g may become leaf.grad as it is: contiguous, or (torch's gradient layout contract) laid out
 * with the leaf's own strides over a storage of exactly its elements, e.g. a channels-last
 * gradient of a channels-last leaf */
static bool grad_layout_ok(const ct_tensor *g, const ct_tensor *leaf) {
    if (ct_tensor_is_contiguous(g)) return true;
    if (g->ndim != leaf->ndim || g->offset != 0 || g->storage->nbytes != (size_t)g->numel * ct_dtype_size(g->dtype))
        return false;
    for (int i = 0; i < g->ndim; i++)
        if (g->sizes[i] != leaf->sizes[i] || (g->sizes[i] != 1 && g->strides[i] != leaf->strides[i])) return false;
    return true;
}

/* AccumulateGrad: leaf.grad += g (g is a new reference, consumed). */
static int accumulate_leaf(ct_node *node, ct_tensor *g, bool create_graph) {
    ct_tensor *leaf = node->leaf;
    ct_autograd_meta *m = leaf->autograd;
    if (run_hooks(m->hooks, 0, &g)) {
        ct_tensor_release(g);
        return -1;
    }
    if (!m->grad) {
        ct_tensor *ng;
        if (create_graph) {
            ng = g;
        } else if (g->refcount == 1 && g->storage->refcount == 1 && !g->autograd && grad_layout_ok(g, leaf)) {
            ng = g;
        } else {
            bool prev = ct_set_grad_enabled(false);
            ng = ct_clone(g);
            ct_set_grad_enabled(prev);
            ct_tensor_release(g);
            if (!ng) return -1;
        }
        if (ng->dtype != leaf->dtype) {
            ct_tensor *c = ct_to_dtype(ng, leaf->dtype, false);
            ct_tensor_release(ng);
            if (!c) return -1;
            ng = c;
        }
        m->grad = ng;
    } else if (!create_graph && !ct_tensor_requires_grad(m->grad)) {
        ct_tensor *r = ct_add_(m->grad, g, ct_scalar_i(1));
        ct_tensor_release(g);
        if (!r) return -1;
        ct_tensor_release(r);
    } else {
        ct_tensor *r = ct_add(m->grad, g, ct_scalar_i(1));
        ct_tensor_release(g);
        if (!r) return -1;
        ct_tensor_release(m->grad);
        m->grad = r;
    }
    for (ct_hook *h = m->hooks; h; h = h->next) {
        if (h->output_nr != -2) continue;
        int err = 0;
        ct_tensor *r = h->fn(h->ctx, m->grad, &err);
        ct_tensor_release(r);
        if (err) return -1;
    }
    return 0;
}

static int run_graph(int n_roots, ct_edge *roots, ct_tensor **root_grads, task *tk) {
    uint64_t epoch = __atomic_add_fetch(&epoch_counter, 1, __ATOMIC_RELAXED);
    node_vec all = {0}, stack = {0};
    int rc = -1;
    /* 1. discover nodes, count dependencies (iterative DFS) */
    for (int r = 0; r < n_roots; r++) {
        ct_node *n = roots[r].fn;
        if (n->epoch == epoch) continue;
        n->epoch = epoch;
        n->deps = 0;
        n->needed = false;
        n->buf = NULL;
        if (vec_push(&all, n) || vec_push(&stack, n)) goto done;
    }
    while (stack.n) {
        ct_node *n = stack.v[--stack.n];
        for (int i = 0; i < n->n_inputs; i++) {
            ct_node *nx = n->next[i].fn;
            if (!nx) continue;
            if (nx->epoch != epoch) {
                nx->epoch = epoch;
                nx->deps = 0;
                nx->needed = false;
                nx->buf = NULL;
                if (vec_push(&all, nx) || vec_push(&stack, nx)) goto done;
            }
            nx->deps++;
        }
    }
    /* 2. which nodes lead to something we want: with captures, only paths to them; for
     * backward() every AccumulateGrad (or only the given inputs' ones). Nodes were
     * discovered parents-first, so a reverse sweep sees children before parents. */
    for (int64_t k = all.n - 1; k >= 0; k--) {
        ct_node *n = all.v[k];
        bool need = false;
        if (tk->n_caps) {
            for (int c = 0; c < tk->n_caps; c++)
                if (tk->caps[c].fn == n) need = true;
        } else {
            need = n->leaf != NULL;
        }
        for (int i = 0; !need && i < n->n_inputs; i++)
            if (n->next[i].fn && n->next[i].fn->needed) need = true;
        n->needed = need;
    }
    /* the reverse sweep is only a heuristic order for DAGs with shared nodes: iterate to a
     * fixed point so a node discovered early but reaching a needed node later is kept */
    for (bool changed = true; changed;) {
        changed = false;
        for (int64_t k = 0; k < all.n; k++) {
            ct_node *n = all.v[k];
            if (n->needed) continue;
            for (int i = 0; i < n->n_inputs; i++)
                if (n->next[i].fn && n->next[i].fn->needed) {
                    n->needed = true;
                    changed = true;
                    break;
                }
        }
    }
    /* 3. seed the roots' buffers */
    for (int r = 0; r < n_roots; r++) {
        ct_node *n = roots[r].fn;
        if (!n->buf) {
            n->buf = calloc((size_t)(n->n_outputs > 0 ? n->n_outputs : 1), sizeof(ct_tensor *));
            if (!n->buf) {
                ct_error(CT_ERR_MEMORY, "[backward] out of memory");
                goto done;
            }
        }
        ct_tensor_retain(root_grads[r]);
        if (accumulate_into(&n->buf[roots[r].input_nr], root_grads[r], tk->create_graph)) goto done;
    }
    /* 4. execute in dependency order */
    stack.n = 0;
    for (int r = 0; r < n_roots; r++) {
        ct_node *n = roots[r].fn;
        if (n->deps == 0 && n->epoch == epoch) {
            n->deps = -1; /* queued */
            if (vec_push(&stack, n)) goto done;
        }
    }
    bool prev_grad = ct_set_grad_enabled(tk->create_graph);
    while (stack.n) {
        ct_node *n = stack.v[--stack.n];
        ct_tensor *gin_small[8];
        ct_tensor **gin = n->n_inputs <= 8 ? gin_small : calloc((size_t)n->n_inputs, sizeof(ct_tensor *));
        if (!gin) {
            ct_set_grad_enabled(prev_grad);
            ct_error(CT_ERR_MEMORY, "[backward] out of memory");
            goto done;
        }
        for (int i = 0; i < n->n_inputs; i++) gin[i] = NULL;
        int err = 0;
        if (n->needed && n->buf) {
            for (int o = 0; o < n->n_outputs && !err; o++)
                if (n->pre_hooks && run_hooks(n->pre_hooks, o, &n->buf[o])) err = 1;
            for (int c = 0; c < tk->n_caps && !err; c++)
                if (tk->caps[c].fn == n && n->buf[tk->caps[c].input_nr]) {
                    ct_tensor *g = n->buf[tk->caps[c].input_nr];
                    ct_tensor **slot = &tk->results[tk->caps[c].result];
                    ct_tensor_retain(g);
                    if (accumulate_into(slot, g, tk->create_graph)) err = 1;
                }
            if (!err && n->leaf) {
                if (tk->accumulate && n->buf[0]) {
                    ct_tensor *g = n->buf[0];
                    n->buf[0] = NULL;
                    if (accumulate_leaf(n, g, tk->create_graph)) err = 1;
                }
            } else if (!err) {
                bool any = false;
                for (int o = 0; o < n->n_outputs; o++) any |= n->buf[o] != NULL;
                if (any && n->backward(n, n->buf, gin)) err = 1;
                if (!err && anomaly)
                    for (int i = 0; i < n->n_inputs; i++)
                        if (gin[i] && has_nan(gin[i])) {
                            ct_errorf(CT_ERR_RUNTIME, "Function '%s' returned nan values in its %dth output.",
                                      n->name, i);
                            err = 1;
                            break;
                        }
                if (!tk->retain_graph) {
                    n->released = true;
                    for (int s = 0; s < n->n_saved; s++) {
                        ct_tensor_release(n->saved[s]);
                        n->saved[s] = NULL;
                    }
                }
            }
        }
        if (n->buf) {
            for (int o = 0; o < n->n_outputs; o++) ct_tensor_release(n->buf[o]);
            free(n->buf);
            n->buf = NULL;
        }
        for (int i = 0; i < n->n_inputs; i++) {
            ct_node *nx = n->next[i].fn;
            if (!nx) {
                ct_tensor_release(gin[i]);
                continue;
            }
            if (!err && gin[i]) {
                if (!nx->buf) nx->buf = calloc((size_t)(nx->n_outputs > 0 ? nx->n_outputs : 1), sizeof(ct_tensor *));
                if (!nx->buf) {
                    ct_error(CT_ERR_MEMORY, "[backward] out of memory");
                    err = 1;
                    ct_tensor_release(gin[i]);
                } else if (accumulate_into(&nx->buf[n->next[i].input_nr], gin[i], tk->create_graph)) {
                    err = 1;
                }
            } else {
                ct_tensor_release(gin[i]);
            }
            if (--nx->deps == 0) {
                nx->deps = -1;
                if (vec_push(&stack, nx)) err = 1;
            }
        }
        if (gin != gin_small) free(gin);
        if (err) {
            ct_set_grad_enabled(prev_grad);
            goto done;
        }
    }
    ct_set_grad_enabled(prev_grad);
    rc = 0;
done:
    for (int64_t k = 0; k < all.n; k++) {
        ct_node *n = all.v[k];
        if (n->buf) {
            for (int o = 0; o < n->n_outputs; o++) ct_tensor_release(n->buf[o]);
            free(n->buf);
            n->buf = NULL;
        }
    }
    free(all.v);
    free(stack.v);
    return rc;
}

/* Root gradients: given ones, or ones for scalar roots; shape checked. */
static int make_root_grads(int n, ct_tensor *const *roots, ct_tensor *const *grads, ct_tensor **out, ct_edge *edges,
                           const char *api) {
    for (int i = 0; i < n; i++) {
        out[i] = NULL;
        edges[i].fn = NULL;
    }
    for (int i = 0; i < n; i++) {
        ct_tensor *r = roots[i];
        if (!ct_tensor_requires_grad(r))
            return ct_errorf(CT_ERR_RUNTIME, "element %d of tensors does not require grad and does not have a grad_fn",
                             i);
        ct_tensor *g = grads ? grads[i] : NULL;
        if (!g) {
            if (r->numel != 1)
                return ct_errorf(CT_ERR_RUNTIME, "grad can be implicitly created only for scalar outputs");
            if (!ct_dtype_is_floating(r->dtype))
                return ct_errorf(CT_ERR_RUNTIME, "grad can be implicitly created only for real scalar outputs but got "
                                 "%s", ct_dtype_name(r->dtype));
            g = ct_empty(r->sizes, r->ndim, r->dtype);
            if (!g) return -1;
            ct_tensor *f = ct_fill_(g, ct_scalar_i(1));
            ct_tensor_release(f);
            out[i] = g;
        } else {
            bool same = g->ndim == r->ndim;
            for (int d = 0; same && d < r->ndim; d++) same = g->sizes[d] == r->sizes[d];
            if (!same) {
                char b1[128], b2[128];
                return ct_errorf(CT_ERR_RUNTIME, "Mismatch in shape: grad_output[%d] has a shape of %s and output[%d] "
                                 "has a shape of %s.", i, ct_shape_str(g->sizes, g->ndim, b1, sizeof b1), i,
                                 ct_shape_str(r->sizes, r->ndim, b2, sizeof b2));
            }
            ct_tensor_retain(g);
            out[i] = g;
        }
        if (ct_gradient_edge(r, &edges[i])) return -1;
    }
    (void)api;
    return 0;
}

static void free_roots(int n, ct_tensor **grads, ct_edge *edges) {
    for (int i = 0; i < n; i++) {
        ct_tensor_release(grads[i]);
        ct_node_release(edges[i].fn);
    }
    free(grads);
    free(edges);
}

int ct_autograd_backward(int n_roots, ct_tensor *const *roots, ct_tensor *const *grads, bool retain_graph,
                         bool create_graph, int n_inputs, ct_tensor *const *inputs) {
    ct_tensor **rg = calloc((size_t)(n_roots ? n_roots : 1), sizeof(ct_tensor *));
    ct_edge *edges = calloc((size_t)(n_roots ? n_roots : 1), sizeof(ct_edge));
    capture *caps = NULL;
    if (!rg || !edges) {
        free(rg);
        free(edges);
        return ct_errorf(CT_ERR_MEMORY, "[backward] out of memory");
    }
    int rc = make_root_grads(n_roots, roots, grads, rg, edges, "backward");
    task tk = {create_graph, retain_graph, true, 0, NULL, NULL};
    ct_tensor **results = NULL;
    if (!rc && n_inputs > 0) {
        /* accumulate only into the given inputs: capture leaves' gradients, then add */
        caps = calloc((size_t)n_inputs, sizeof(capture));
        results = calloc((size_t)n_inputs, sizeof(ct_tensor *));
        if (!caps || !results) rc = ct_errorf(CT_ERR_MEMORY, "[backward] out of memory");
        for (int i = 0; !rc && i < n_inputs; i++) {
            ct_edge e;
            if (ct_gradient_edge(inputs[i], &e)) {
                rc = -1;
                break;
            }
            if (!e.fn) {
                rc = ct_errorf(CT_ERR_RUNTIME, "One of the differentiated Tensors does not require grad");
                break;
            }
            caps[i].fn = e.fn;
            caps[i].input_nr = e.input_nr;
            caps[i].result = i;
            ct_node_release(e.fn); /* inputs keep their nodes alive */
        }
        tk.accumulate = false;
        tk.n_caps = n_inputs;
        tk.caps = caps;
        tk.results = results;
    }
    if (!rc) rc = run_graph(n_roots, edges, rg, &tk);
    if (!rc && n_inputs > 0) {
        for (int i = 0; i < n_inputs && !rc; i++) {
            if (!results[i]) continue;
            ct_tensor *t = inputs[i];
            if (!t->autograd->grad_fn) {
                ct_node *acc = ct_autograd_grad_accumulator(t);
                if (!acc) {
                    rc = -1;
                    break;
                }
                ct_tensor *g = results[i];
                results[i] = NULL;
                rc = accumulate_leaf(acc, g, create_graph);
                ct_node_release(acc);
            } else {
                /* a non-leaf input: torch accumulates into its .grad as well */
                ct_tensor *g = results[i];
                results[i] = NULL;
                rc = accumulate_into(&t->autograd->grad, g, create_graph);
            }
        }
    }
    if (results) {
        for (int i = 0; i < n_inputs; i++) ct_tensor_release(results[i]);
        free(results);
    }
    free(caps);
    free_roots(n_roots, rg, edges);
    return rc;
}

int ct_autograd_grad(int n_outputs, ct_tensor *const *outputs, ct_tensor *const *grad_outputs, int n_inputs,
                     ct_tensor *const *inputs, bool retain_graph, bool create_graph, bool allow_unused,
                     ct_tensor **results) {
    for (int i = 0; i < n_inputs; i++) results[i] = NULL;
    ct_tensor **rg = calloc((size_t)(n_outputs ? n_outputs : 1), sizeof(ct_tensor *));
    ct_edge *edges = calloc((size_t)(n_outputs ? n_outputs : 1), sizeof(ct_edge));
    capture *caps = calloc((size_t)(n_inputs ? n_inputs : 1), sizeof(capture));
    if (!rg || !edges || !caps) {
        free(rg);
        free(edges);
        free(caps);
        return ct_errorf(CT_ERR_MEMORY, "[grad] out of memory");
    }
    int rc = make_root_grads(n_outputs, outputs, grad_outputs, rg, edges, "grad");
    ct_node **held = calloc((size_t)(n_inputs ? n_inputs : 1), sizeof(ct_node *));
    for (int i = 0; !rc && i < n_inputs; i++) {
        ct_edge e;
        if (!ct_tensor_requires_grad(inputs[i])) {
            rc = ct_errorf(CT_ERR_RUNTIME, "One of the differentiated Tensors does not require grad");
            break;
        }
        if (ct_gradient_edge(inputs[i], &e)) {
            rc = -1;
            break;
        }
        held[i] = e.fn;
        caps[i].fn = e.fn;
        caps[i].input_nr = e.input_nr;
        caps[i].result = i;
    }
    task tk = {create_graph, retain_graph, false, n_inputs, caps, results};
    if (!rc) rc = run_graph(n_outputs, edges, rg, &tk);
    if (!rc && !allow_unused)
        for (int i = 0; i < n_inputs; i++)
            if (!results[i]) {
                rc = ct_errorf(CT_ERR_RUNTIME, "One of the differentiated Tensors appears to not have been used in the "
                               "graph. Set allow_unused=True if this is the desired behavior.");
                break;
            }
    if (rc)
        for (int i = 0; i < n_inputs; i++) {
            ct_tensor_release(results[i]);
            results[i] = NULL;
        }
    for (int i = 0; i < n_inputs; i++) ct_node_release(held[i]);
    free(held);
    free(caps);
    free_roots(n_outputs, rg, edges);
    return rc;
}
