/* The value tree of checkpoints: constructors, reference counting, containers (dicts keep
 * insertion order and a hash index so that large state dicts insert in O(1)). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serialize_internal.h"

static ct_value *val_new(int kind) {
    ct_value *v = calloc(1, sizeof *v);
    if (!v) return ct_error(CT_ERR_MEMORY, "[serialize] out of memory");
    v->refcount = 1;
    v->kind = kind;
    return v;
}

ct_value *ct_value_none(void) { return val_new(CT_VAL_NONE); }
ct_value *ct_value_bool(bool b) {
    ct_value *v = val_new(CT_VAL_BOOL);
    if (v) v->u.b = b;
    return v;
}
ct_value *ct_value_int(int64_t i) {
    ct_value *v = val_new(CT_VAL_INT);
    if (v) v->u.i = i;
    return v;
}
ct_value *ct_value_float(double f) {
    ct_value *v = val_new(CT_VAL_FLOAT);
    if (v) v->u.f = f;
    return v;
}
ct_value *ct_value_dtype(int dtype) {
    ct_value *v = val_new(CT_VAL_DTYPE);
    if (v) v->u.i = dtype;
    return v;
}

ct_value *ct_value_strkind(int kind, const char *s, size_t len) {
    ct_value *v = val_new(kind);
    if (!v) return NULL;
    v->u.s.data = malloc(len + 1);
    if (!v->u.s.data) {
        free(v);
        return ct_error(CT_ERR_MEMORY, "[serialize] out of memory");
    }
    if (len) memcpy(v->u.s.data, s, len);
    v->u.s.data[len] = 0;
    v->u.s.len = len;
    return v;
}

ct_value *ct_value_str(const char *s, size_t len) {
    if (len == (size_t)-1) len = strlen(s);
    return ct_value_strkind(CT_VAL_STR, s, len);
}
ct_value *ct_value_bytes(const void *p, size_t len) { return ct_value_strkind(CT_VAL_BYTES, p, len); }

ct_value *ct_value_seqkind(int kind, size_t n) {
    ct_value *v = val_new(kind);
    if (!v) return NULL;
    if (n) {
        v->u.seq.items = calloc(n, sizeof(ct_value *));
        if (!v->u.seq.items) {
            free(v);
            return ct_error(CT_ERR_MEMORY, "[serialize] out of memory");
        }
        v->u.seq.n = v->u.seq.cap = n;
    }
    return v;
}
ct_value *ct_value_device(const char *s) { return ct_value_strkind(CT_VAL_DEVICE, s, strlen(s)); }
ct_value *ct_value_set(void) { return ct_value_seqkind(CT_VAL_SET, 0); }
ct_value *ct_value_tuple(size_t n) { return ct_value_seqkind(CT_VAL_TUPLE, n); }
ct_value *ct_value_list(void) { return val_new(CT_VAL_LIST); }
ct_value *ct_value_dict(bool ordered) {
    ct_value *v = val_new(CT_VAL_DICT);
    if (v && ordered) v->flags |= CT_VALF_ORDERED;
    return v;
}
ct_value *ct_value_tensor(ct_tensor *t, bool is_param, bool requires_grad) {
    ct_value *v = val_new(CT_VAL_TENSOR);
    if (!v) return NULL;
    ct_tensor_retain(t);
    v->u.tensor = t;
    if (is_param) v->flags |= CT_VALF_PARAMETER;
    if (requires_grad) v->flags |= CT_VALF_REQUIRES_GRAD;
    return v;
}

void ct_value_retain(ct_value *v) {
    if (v) v->refcount++;
}

/* Frees v's own resources and returns its children's references to the caller's list
 * (children are released by the caller), so that releasing a deep tree does not recurse. */
static void release_iter(ct_value *root) {
    size_t cap = 64, n = 0;
    ct_value **stack = malloc(cap * sizeof *stack);
    ct_value *local[1];
    if (!stack) { /* fall back to a tiny stack: still correct, only slower paths */
        stack = local;
        cap = 1;
    }
    stack[n++] = root;
#define PUSH(x)                                                                                              \
    do {                                                                                                     \
        ct_value *x_ = (x);                                                                                  \
        if (x_ && --x_->refcount == 0) {                                                                     \
            if (n == cap && stack != local) {                                                                \
                ct_value **ns = realloc(stack, 2 * cap * sizeof *stack);                                     \
                if (ns) { stack = ns; cap *= 2; }                                                            \
            }                                                                                                \
            if (n < cap) stack[n++] = x_;                                                                    \
            else ct_value_free_node(x_); /* out of memory: recurse */                                        \
        }                                                                                                    \
    } while (0)
    while (n) {
        ct_value *v = stack[--n];
        switch (v->kind) {
        case CT_VAL_TUPLE: case CT_VAL_LIST: case CT_VAL_SET:
            for (size_t i = 0; i < v->u.seq.n; i++) PUSH(v->u.seq.items[i]);
            free(v->u.seq.items);
            break;
        case CT_VAL_DICT:
            for (size_t i = 0; i < v->u.dict.n; i++) {
                PUSH(v->u.dict.keys[i]);
                PUSH(v->u.dict.vals[i]);
            }
            free(v->u.dict.keys);
            free(v->u.dict.vals);
            free(v->u.dict.index);
            break;
        case CT_VAL_OBJECT:
            PUSH(v->u.obj.func);
            PUSH(v->u.obj.args);
            PUSH(v->u.obj.state);
            break;
        case CT_VAL_TENSOR: ct_tensor_release(v->u.tensor); break;
        case CT_VAL_STR: case CT_VAL_BYTES: case CT_VAL_DEVICE: case CT_VAL_GLOBAL: free(v->u.s.data); break;
        default: break;
        }
        PUSH(v->attrs);
        free(v);
    }
#undef PUSH
    if (stack != local) free(stack);
}

void ct_value_free_node(ct_value *v) { release_iter(v); }

void ct_value_release(ct_value *v) {
    if (!v || --v->refcount > 0) return;
    release_iter(v);
}

static int seq_reserve(ct_value *v, size_t need) {
    if (need <= v->u.seq.cap) return 0;
    size_t cap = v->u.seq.cap ? v->u.seq.cap * 2 : 4;
    while (cap < need) cap *= 2;
    ct_value **ni = realloc(v->u.seq.items, cap * sizeof *ni);
    if (!ni) return ct_errorf(CT_ERR_MEMORY, "[serialize] out of memory");
    v->u.seq.items = ni;
    v->u.seq.cap = cap;
    return 0;
}

int ct_value_seq_set(ct_value *t, size_t i, ct_value *item) {
    if (!t || (t->kind != CT_VAL_TUPLE && t->kind != CT_VAL_LIST && t->kind != CT_VAL_SET) || i >= t->u.seq.n) {
        ct_value_release(item);
        return ct_errorf(CT_ERR_INDEX, "[serialize] sequence index out of range");
    }
    ct_value_release(t->u.seq.items[i]);
    t->u.seq.items[i] = item;
    return 0;
}

int ct_value_list_append(ct_value *l, ct_value *item) {
    if (!l || (l->kind != CT_VAL_LIST && l->kind != CT_VAL_SET && l->kind != CT_VAL_TUPLE)) {
        ct_value_release(item);
        return ct_errorf(CT_ERR_TYPE, "[serialize] append to a non-list");
    }
    if (seq_reserve(l, l->u.seq.n + 1)) {
        ct_value_release(item);
        return -1;
    }
    l->u.seq.items[l->u.seq.n++] = item;
    return 0;
}

/* ------------------------------------------------------------------ dict hashing */

uint64_t ct_hash_seed(void) {
    static uint64_t seed;
    uint64_t s = __atomic_load_n(&seed, __ATOMIC_RELAXED);
    if (!s) {
        static int anchor;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = ((uint64_t)(uintptr_t)&anchor * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32);
        s |= 1;
        __atomic_store_n(&seed, s, __ATOMIC_RELAXED);
    }
    return s;
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* Hash consistent with key_equal (numbers equal across bool/int/integral float, as Python). */
static uint64_t key_hash(const ct_value *k, int depth) {
    switch (k->kind) {
    case CT_VAL_NONE: return 0x9e3779b97f4a7c15ULL;
    case CT_VAL_BOOL: return mix64((uint64_t)k->u.b);
    case CT_VAL_INT: return mix64((uint64_t)k->u.i);
    case CT_VAL_FLOAT: {
        double f = k->u.f;
        if (f >= -9.2e18 && f <= 9.2e18 && (double)(int64_t)f == f) return mix64((uint64_t)(int64_t)f);
        uint64_t b;
        memcpy(&b, &f, 8);
        return mix64(b ^ 0x1234567ULL);
    }
    case CT_VAL_STR: case CT_VAL_BYTES: {
        uint64_t h = 1469598103934665603ULL ^ (uint64_t)k->kind ^ ct_hash_seed();
        for (size_t i = 0; i < k->u.s.len; i++) h = (h ^ (unsigned char)k->u.s.data[i]) * 1099511628211ULL;
        return h;
    }
    case CT_VAL_TUPLE: {
        uint64_t h = 0x345678ULL;
        if (depth > 32) return mix64((uint64_t)(uintptr_t)k); /* key_equal compares identity here */
        for (size_t i = 0; i < k->u.seq.n; i++) h = mix64(h ^ key_hash(k->u.seq.items[i], depth + 1)) + i;
        return h;
    }
    default: return mix64((uint64_t)(uintptr_t)k);
    }
}

static int is_num(const ct_value *v) { return v->kind == CT_VAL_BOOL || v->kind == CT_VAL_INT || v->kind == CT_VAL_FLOAT; }

static int key_equal(const ct_value *a, const ct_value *b, int depth) {
    if (a == b) return 1;
    if (is_num(a) && is_num(b)) {
        if (a->kind == CT_VAL_FLOAT || b->kind == CT_VAL_FLOAT) {
            double x = a->kind == CT_VAL_FLOAT ? a->u.f : a->kind == CT_VAL_INT ? (double)a->u.i : a->u.b;
            double y = b->kind == CT_VAL_FLOAT ? b->u.f : b->kind == CT_VAL_INT ? (double)b->u.i : b->u.b;
            return x == y;
        }
        int64_t x = a->kind == CT_VAL_INT ? a->u.i : a->u.b, y = b->kind == CT_VAL_INT ? b->u.i : b->u.b;
        return x == y;
    }
    if (a->kind != b->kind) return 0;
    switch (a->kind) {
    case CT_VAL_NONE: return 1;
    case CT_VAL_STR: case CT_VAL_BYTES:
        return a->u.s.len == b->u.s.len && memcmp(a->u.s.data, b->u.s.data, a->u.s.len) == 0;
    case CT_VAL_TUPLE:
        if (a->u.seq.n != b->u.seq.n || depth > 32) return 0;
        for (size_t i = 0; i < a->u.seq.n; i++)
            if (!key_equal(a->u.seq.items[i], b->u.seq.items[i], depth + 1)) return 0;
        return 1;
    default: return 0;
    }
}

static int dict_rehash(ct_value *d, size_t cap) {
    uint32_t *idx = calloc(cap, sizeof *idx);
    if (!idx) return ct_errorf(CT_ERR_MEMORY, "[serialize] out of memory");
    for (size_t i = 0; i < d->u.dict.n; i++) {
        size_t h = (size_t)key_hash(d->u.dict.keys[i], 0) & (cap - 1);
        while (idx[h]) h = (h + 1) & (cap - 1);
        idx[h] = (uint32_t)(i + 1);
    }
    free(d->u.dict.index);
    d->u.dict.index = idx;
    d->u.dict.index_cap = cap;
    return 0;
}

/* Slot of key in d, or -1. */
static int64_t dict_lookup(const ct_value *d, const ct_value *key) {
    if (!d->u.dict.index_cap) return -1;
    size_t cap = d->u.dict.index_cap, h = (size_t)key_hash(key, 0) & (cap - 1);
    while (d->u.dict.index[h]) {
        uint32_t i = d->u.dict.index[h] - 1;
        if (key_equal(d->u.dict.keys[i], key, 0)) return i;
        h = (h + 1) & (cap - 1);
    }
    return -1;
}

int ct_value_dict_set(ct_value *d, ct_value *key, ct_value *val) {
    if (!d || d->kind != CT_VAL_DICT || !key || !val) {
        ct_value_release(key);
        ct_value_release(val);
        return ct_errorf(CT_ERR_TYPE, "[serialize] setitem on a non-dict");
    }
    int64_t at = dict_lookup(d, key);
    if (at >= 0) {
        ct_value_release(key);
        ct_value_release(d->u.dict.vals[at]);
        d->u.dict.vals[at] = val;
        return 0;
    }
    if (d->u.dict.n >= UINT32_MAX - 1) goto oom;
    if (d->u.dict.n == d->u.dict.cap) {
        size_t cap = d->u.dict.cap ? d->u.dict.cap * 2 : 8;
        ct_value **nk = realloc(d->u.dict.keys, cap * sizeof *nk);
        if (!nk) goto oom;
        d->u.dict.keys = nk;
        ct_value **nv = realloc(d->u.dict.vals, cap * sizeof *nv);
        if (!nv) goto oom;
        d->u.dict.vals = nv;
        d->u.dict.cap = cap;
    }
    d->u.dict.keys[d->u.dict.n] = key;
    d->u.dict.vals[d->u.dict.n] = val;
    d->u.dict.n++;
    if (d->u.dict.n * 2 > d->u.dict.index_cap) {
        size_t cap = d->u.dict.index_cap ? d->u.dict.index_cap : 16;
        while (d->u.dict.n * 2 > cap) cap *= 2;
        if (dict_rehash(d, cap)) {
            d->u.dict.n--;
            goto oom;
        }
    } else {
        size_t cap = d->u.dict.index_cap, h = (size_t)key_hash(key, 0) & (cap - 1);
        while (d->u.dict.index[h]) h = (h + 1) & (cap - 1);
        d->u.dict.index[h] = (uint32_t)d->u.dict.n;
    }
    return 0;
oom:
    ct_value_release(key);
    ct_value_release(val);
    return ct_errorf(CT_ERR_MEMORY, "[serialize] out of memory");
}

int ct_value_dict_set_str(ct_value *d, const char *key, ct_value *val) {
    ct_value *k = ct_value_str(key, (size_t)-1);
    if (!k) {
        ct_value_release(val);
        return -1;
    }
    return ct_value_dict_set(d, k, val);
}

ct_value *ct_value_dict_get_str(const ct_value *d, const char *key) {
    if (!d || d->kind != CT_VAL_DICT) return NULL;
    ct_value k;
    memset(&k, 0, sizeof k);
    k.kind = CT_VAL_STR;
    k.u.s.data = (char *)key;
    k.u.s.len = strlen(key);
    int64_t at = dict_lookup(d, &k);
    return at >= 0 ? d->u.dict.vals[at] : NULL;
}
