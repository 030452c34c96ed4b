/* The restricted unpickler (FORMATS.md 2.7-2.8): a stack machine over protocol 0-5 binary
 * opcodes that understands only an allow-list of globals, never imports or calls anything,
 * and builds a ct_value tree. Tensors are rebuilt from storages handed out by a loader
 * callback (ZIP records or the legacy stream), so views keep sharing one storage.
 *
 * NOTE [ Hostile pickles ]
 * Every operand is bounds-checked against the input; every allocation is proportional to
 * bytes consumed; the stack, mark stack and memo are bounded by the input size; the result
 * graph is checked for cycles and nesting depth before it is returned, and on any error
 * every node made so far is freed directly from a registry (so cyclic garbage cannot leak). */
#include <stdio.h>

#include "serialize_internal.h"

enum {
    G_USER = 0,
    G_ORDEREDDICT, G_COUNTER, G_REBUILD_TENSOR, G_REBUILD_V2, G_REBUILD_V3, G_REBUILD_PARAM,
    G_REBUILD_PARAM_STATE, G_FROM_TYPE_V2, G_PARAMETER, G_SIZE, G_DEVICE, G_GET_LAYOUT, G_DTYPE,
    G_STORAGE, G_CODECS_ENCODE, G_BYTEARRAY, G_BYTES, G_SET, G_COMPLEX, G_UNSUPPORTED
};
#define CT_VALF_STORAGEREF 0x100u /* internal: tensor value standing for a storage (1-D view) */
#define GCODE(v) ((int)((v)->flags & 0xFF))
#define GDTYPE(v) ((int)(((v)->flags >> 8) & 0xFF))

typedef struct upk {
    const unsigned char *d;
    size_t len, pos;
    ct_unpickle_ctx *ctx;
    ct_value **stack;
    size_t sn, scap;
    size_t *marks;
    size_t mn, mcap;
    /* memo: open addressing u32 -> value */
    uint32_t *mkeys;
    ct_value **mvals;
    size_t memo_cap, memo_n;
    /* every node made, for the final graph check and for cleanup on error */
    ct_value **all;
    size_t an, acap;
} upk;

static void *uerr(upk *u, const char *fmt, const char *arg) {
    char buf[400];
    snprintf(buf, sizeof buf, fmt, arg ? arg : "");
    return ct_error(CT_ERR_UNPICKLING, "Weights only load failed: %s (at byte %zu of the pickle)", buf, u->pos);
}

static int track(upk *u, ct_value *v) {
    if (!v) return -1;
    if (u->an == u->acap) {
        size_t cap = u->acap ? 2 * u->acap : 256;
        ct_value **na = realloc(u->all, cap * sizeof *na);
        if (!na) {
            ct_value_release(v);
            return ct_errorf(CT_ERR_MEMORY, "[load] out of memory");
        }
        u->all = na;
        u->acap = cap;
    }
    u->all[u->an++] = v;
    ct_value_retain(v); /* the registry's reference keeps every node alive until the end */
    return 0;
}
#define NEWV(expr) ({ ct_value *nv_ = (expr); track(u, nv_) ? NULL : nv_; })

static int push(upk *u, ct_value *v) { /* steals v */
    if (!v) return -1;
    if (u->sn == u->scap) {
        size_t cap = u->scap ? 2 * u->scap : 64;
        ct_value **ns = realloc(u->stack, cap * sizeof *ns);
        if (!ns) {
            ct_value_release(v);
            return ct_errorf(CT_ERR_MEMORY, "[load] out of memory");
        }
        u->stack = ns;
        u->scap = cap;
    }
    u->stack[u->sn++] = v;
    return 0;
}

/* Pops into a new reference; NULL (with error) on underflow or when a mark is in the way. */
static ct_value *pop(upk *u) {
    size_t floor = u->mn ? u->marks[u->mn - 1] : 0;
    if (u->sn <= floor) return uerr(u, "stack underflow%s", u->mn ? " (hit a MARK)" : "");
    return u->stack[--u->sn];
}
static ct_value *top(upk *u) {
    size_t floor = u->mn ? u->marks[u->mn - 1] : 0;
    if (u->sn <= floor) return uerr(u, "stack underflow%s", "");
    return u->stack[u->sn - 1];
}

/* Pops to the last mark: returns the index where the items start; the items remain in
 * u->stack[start..sn) for the caller, who must consume them and set sn = start. */
static int pop_mark(upk *u, size_t *start) {
    if (!u->mn) return uerr(u, "MARK expected%s", ""), -1;
    *start = u->marks[--u->mn];
    return 0;
}

static int memo_set(upk *u, uint32_t key, ct_value *v) {
    if ((u->memo_n + 1) * 2 > u->memo_cap) {
        size_t cap = u->memo_cap ? 2 * u->memo_cap : 64;
        uint32_t *nk = malloc(cap * sizeof *nk);
        ct_value **nv = calloc(cap, sizeof *nv);
        if (!nk || !nv) {
            free(nk);
            free(nv);
            return ct_errorf(CT_ERR_MEMORY, "[load] out of memory");
        }
        for (size_t i = 0; i < u->memo_cap; i++) {
            if (!u->mvals[i]) continue;
            size_t h = (u->mkeys[i] * 2654435761u) & (cap - 1);
            while (nv[h]) h = (h + 1) & (cap - 1);
            nk[h] = u->mkeys[i];
            nv[h] = u->mvals[i];
        }
        free(u->mkeys);
        free(u->mvals);
        u->mkeys = nk;
        u->mvals = nv;
        u->memo_cap = cap;
    }
    size_t h = (key * 2654435761u) & (u->memo_cap - 1);
    while (u->mvals[h] && u->mkeys[h] != key) h = (h + 1) & (u->memo_cap - 1);
    ct_value_retain(v);
    if (u->mvals[h]) ct_value_release(u->mvals[h]);
    else u->memo_n++;
    u->mkeys[h] = key;
    u->mvals[h] = v;
    return 0;
}

static ct_value *memo_get(upk *u, uint32_t key) {
    if (!u->memo_cap) return NULL;
    size_t h = (key * 2654435761u) & (u->memo_cap - 1);
    while (u->mvals[h]) {
        if (u->mkeys[h] == key) return u->mvals[h];
        h = (h + 1) & (u->memo_cap - 1);
    }
    return NULL;
}

static const unsigned char *need(upk *u, size_t n) {
    if (u->len - u->pos < n) return uerr(u, "pickle data was truncated%s", "");
    const unsigned char *p = u->d + u->pos;
    u->pos += n;
    return p;
}

static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t k = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC2 ? 1 : 0;
        if (!k || c > 0xF4 || n - i <= k) return 0;
        for (size_t j = 1; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[i + 1] < 0xA0) return 0;
        if (c == 0xF0 && s[i + 1] < 0x90) return 0;
        if (c == 0xF4 && s[i + 1] > 0x8F) return 0;
        i += k + 1;
    }
    return 1;
}

static ct_value *make_str(upk *u, const unsigned char *p, size_t n, int py2) {
    if (!utf8_valid(p, n)) {
        if (py2) return NEWV(ct_value_bytes(p, n));
        return uerr(u, "invalid UTF-8 in a string%s", "");
    }
    return NEWV(ct_value_str((const char *)p, n));
}

/* ------------------------------------------------------------------ globals */

static const char *const unsupported_utils[] = {
    "_rebuild_qtensor", "_rebuild_sparse_tensor", "_rebuild_meta_tensor_no_storage", "_rebuild_nested_tensor",
    "_rebuild_wrapper_subclass", "_rebuild_device_tensor_from_numpy", "_rebuild_device_tensor_from_cpu_tensor", NULL};

static ct_value *resolve_global(upk *u, const char *mod_in, const char *name) {
    const char *mod = mod_in;
    if (strcmp(mod, "__builtin__") == 0) mod = "builtins";
    else if (strcmp(mod, "copy_reg") == 0) mod = "copyreg";
    else if (strcmp(mod, "torch.tensor") == 0) mod = "torch._tensor";
    char full[600];
    snprintf(full, sizeof full, "%s.%s", mod, name);
    int code = -1, dt = 0;
    if (strcmp(mod, "collections") == 0) {
        if (strcmp(name, "OrderedDict") == 0) code = G_ORDEREDDICT;
        else if (strcmp(name, "Counter") == 0) code = G_COUNTER;
    } else if (strcmp(mod, "torch._utils") == 0) {
        if (strcmp(name, "_rebuild_tensor") == 0) code = G_REBUILD_TENSOR;
        else if (strcmp(name, "_rebuild_tensor_v2") == 0) code = G_REBUILD_V2;
        else if (strcmp(name, "_rebuild_tensor_v3") == 0) code = G_REBUILD_V3;
        else if (strcmp(name, "_rebuild_parameter") == 0) code = G_REBUILD_PARAM;
        else if (strcmp(name, "_rebuild_parameter_with_state") == 0) code = G_REBUILD_PARAM_STATE;
        else
            for (int i = 0; unsupported_utils[i]; i++)
                if (strcmp(name, unsupported_utils[i]) == 0) code = G_UNSUPPORTED;
    } else if (strcmp(mod, "torch._tensor") == 0) {
        if (strcmp(name, "_rebuild_from_type_v2") == 0) code = G_FROM_TYPE_V2;
    } else if (strcmp(mod, "torch.nn.parameter") == 0) {
        if (strcmp(name, "Parameter") == 0) code = G_PARAMETER;
    } else if (strcmp(mod, "torch.serialization") == 0) {
        if (strcmp(name, "_get_layout") == 0) code = G_GET_LAYOUT;
    } else if (strcmp(mod, "torch") == 0) {
        int sd;
        if (strcmp(name, "Size") == 0) code = G_SIZE;
        else if (strcmp(name, "device") == 0) code = G_DEVICE;
        else if (strcmp(name, "Tensor") == 0) code = G_UNSUPPORTED;
        else if ((sd = ct_storage_class_dtype(name)) != -1) {
            if (sd == -2) return uerr(u, "storage type torch.%s is not supported by ctorch", name);
            code = G_STORAGE;
            dt = sd;
        } else if ((sd = ct_dtype_from_torch_name(name)) >= 0) {
            return NEWV(ct_value_dtype(sd)); /* a dtype is a plain value */
        } else {
            static const char *const known_dtypes[] = {"complex64", "complex128", "cfloat", "cdouble", "complex32",
                                                       "chalf", "uint16", "uint32", "uint64", "float8_e4m3fn",
                                                       "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
                                                       "float8_e8m0fnu", "qint8", "quint8", "qint32", "quint4x2",
                                                       "quint2x4", NULL};
            for (int i = 0; known_dtypes[i]; i++)
                if (strcmp(name, known_dtypes[i]) == 0)
                    return uerr(u, "dtype torch.%s is not supported by ctorch", name);
            size_t nl = strlen(name);
            if (nl > 6 && strcmp(name + nl - 6, "Tensor") == 0) code = G_UNSUPPORTED; /* legacy tensor classes */
            if (strncmp(name, "per_", 4) == 0) code = G_UNSUPPORTED;                  /* qschemes */
        }
    } else if (strcmp(mod, "_codecs") == 0) {
        if (strcmp(name, "encode") == 0) code = G_CODECS_ENCODE;
    } else if (strcmp(mod, "builtins") == 0) {
        if (strcmp(name, "bytearray") == 0) code = G_BYTEARRAY;
        else if (strcmp(name, "bytes") == 0) code = G_BYTES;
        else if (strcmp(name, "set") == 0) code = G_SET;
        else if (strcmp(name, "complex") == 0) code = G_COMPLEX;
    }
    if (code < 0) {
        int banned = strcmp(mod, "sys") == 0 || strcmp(mod, "os") == 0 || strcmp(mod, "posix") == 0 ||
                     strcmp(mod, "nt") == 0 || strncmp(mod, "os.", 3) == 0 || strncmp(mod, "sys.", 4) == 0;
        const ct_load_options *o = u->ctx->opts;
        if (!banned && o)
            for (size_t i = 0; i < o->n_extra_globals; i++)
                if (o->extra_globals[i] && strcmp(o->extra_globals[i], full) == 0) code = G_USER;
        if (code < 0)
            return uerr(u,
                        "Unsupported global: GLOBAL %s was not an allowed global by default. Use "
                        "ctorch.serialization.add_safe_globals([...]) or the safe_globals([...]) context manager to "
                        "allow it, only if you trust the file",
                        full);
    }
    ct_value *g = NEWV(ct_value_strkind(CT_VAL_GLOBAL, full, strlen(full)));
    if (g) g->flags = (uint32_t)code | ((uint32_t)dt << 8);
    return g;
}

static int read_line(upk *u, char *out, size_t cap) {
    const unsigned char *s = u->d + u->pos, *nl = memchr(s, '\n', u->len - u->pos);
    if (!nl) return uerr(u, "truncated GLOBAL%s", ""), -1;
    size_t n = (size_t)(nl - s);
    if (n >= cap) return uerr(u, "GLOBAL name too long%s", ""), -1;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e) return uerr(u, "non-ASCII GLOBAL name%s", ""), -1;
    memcpy(out, s, n);
    out[n] = 0;
    u->pos += n + 1;
    return 0;
}

/* ------------------------------------------------------------------ calls */

static int get_int(const ct_value *v, int64_t *out) {
    if (v->kind == CT_VAL_INT) *out = v->u.i;
    else if (v->kind == CT_VAL_BOOL) *out = v->u.b;
    else return -1;
    return 0;
}

static int int_tuple(upk *u, const ct_value *v, int64_t *out, int *n, const char *what) {
    if (v->kind != CT_VAL_TUPLE && v->kind != CT_VAL_LIST) return uerr(u, "%s must be a tuple of ints", what), -1;
    if (v->u.seq.n > CT_MAX_DIM) return uerr(u, "%s has too many dimensions", what), -1;
    for (size_t i = 0; i < v->u.seq.n; i++)
        if (get_int(v->u.seq.items[i], &out[i])) return uerr(u, "%s must be a tuple of ints", what), -1;
    *n = (int)v->u.seq.n;
    return 0;
}

/* _rebuild_tensor*(storage, offset, size, stride, ...) */
static ct_value *rebuild_tensor(upk *u, ct_value *const *a, int dtype_override, int rg) {
    const ct_value *sref = a[0];
    if (sref->kind != CT_VAL_TENSOR || !(sref->flags & CT_VALF_STORAGEREF))
        return uerr(u, "_rebuild_tensor expects a storage as its first argument%s", "");
    ct_tensor *st = sref->u.tensor;
    int dtype = dtype_override >= 0 ? dtype_override : st->dtype;
    int64_t off, sizes[CT_MAX_DIM], strides[CT_MAX_DIM];
    int nd, nd2;
    if (get_int(a[1], &off) || off < 0) return uerr(u, "bad storage offset%s", "");
    if (int_tuple(u, a[2], sizes, &nd, "size") || int_tuple(u, a[3], strides, &nd2, "stride")) return NULL;
    if (nd != nd2) return uerr(u, "size and stride have different lengths%s", "");
    /* the storage reference covers bytes [st->offset, st->offset + st->numel) * its element
     * size (legacy views select a sub-range); express that range in elements of dtype */
    int64_t es = (int64_t)ct_dtype_size(dtype), rs = (int64_t)ct_dtype_size(st->dtype);
    int64_t base = st->offset * rs;
    if (base % es) return uerr(u, "misaligned storage view%s", "");
    base /= es;
    int64_t cap = (st->offset + st->numel) * rs / es;
    int64_t numel = 1, hi = 0;
    for (int i = 0; i < nd; i++) {
        if (sizes[i] < 0 || strides[i] < 0) return uerr(u, "negative size or stride%s", "");
        if (__builtin_mul_overflow(numel, sizes[i], &numel)) return uerr(u, "tensor too large%s", "");
    }
    if (numel > 0) {
        for (int i = 0; i < nd; i++) {
            int64_t span;
            if (__builtin_mul_overflow(sizes[i] - 1, strides[i], &span) || __builtin_add_overflow(hi, span, &hi))
                return uerr(u, "tensor extent overflows%s", "");
        }
        int64_t last;
        if (__builtin_add_overflow(hi, off, &last) || __builtin_add_overflow(last, base, &last) || last >= cap)
            return uerr(u, "tensor reaches outside its storage (offset/size/stride do not fit the data record)%s", "");
    }
    if (__builtin_add_overflow(off, base, &off)) return uerr(u, "bad storage offset%s", "");
    if (numel == 0 && off > cap) off = 0; /* empty views may point anywhere; keep them valid */
    ct_tensor *t = ct_tensor_new_view(st->storage, dtype, off, sizes, strides, nd);
    if (!t) return uerr(u, "%s", ct_last_error());
    ct_value *v = NEWV(ct_value_tensor(t, false, rg));
    ct_tensor_release(t);
    return v;
}

static int tuple_args(upk *u, const ct_value *args, size_t lo, size_t hi, const char *fn) {
    if (args->kind != CT_VAL_TUPLE) return uerr(u, "arguments of %s must be a tuple", fn), -1;
    if (args->u.seq.n < lo || args->u.seq.n > hi) return uerr(u, "wrong number of arguments for %s", fn), -1;
    return 0;
}

static ct_value *apply(upk *u, ct_value *f, ct_value *args, int depth);

static ct_value *apply_global(upk *u, ct_value *f, ct_value *args, int depth) {
    ct_value *const *a = args->kind == CT_VAL_TUPLE ? args->u.seq.items : NULL;
    const char *fn = f->u.s.data;
    switch (GCODE(f)) {
    case G_ORDEREDDICT:
    case G_COUNTER: {
        if (tuple_args(u, args, 0, 1, fn)) return NULL;
        ct_value *d = NEWV(ct_value_dict(GCODE(f) == G_ORDEREDDICT));
        if (!d) return NULL;
        if (args->u.seq.n == 1) {
            const ct_value *src = a[0];
            if (src->kind == CT_VAL_DICT) {
                for (size_t i = 0; i < src->u.dict.n; i++) {
                    ct_value_retain(src->u.dict.keys[i]);
                    ct_value_retain(src->u.dict.vals[i]);
                    if (ct_value_dict_set(d, src->u.dict.keys[i], src->u.dict.vals[i])) return NULL;
                }
            } else if (src->kind == CT_VAL_LIST || src->kind == CT_VAL_TUPLE) {
                for (size_t i = 0; i < src->u.seq.n; i++) {
                    const ct_value *p = src->u.seq.items[i];
                    if ((p->kind != CT_VAL_TUPLE && p->kind != CT_VAL_LIST) || p->u.seq.n != 2)
                        return uerr(u, "%s expects (key, value) pairs", fn);
                    ct_value_retain(p->u.seq.items[0]);
                    ct_value_retain(p->u.seq.items[1]);
                    if (ct_value_dict_set(d, p->u.seq.items[0], p->u.seq.items[1])) return NULL;
                }
            } else return uerr(u, "unsupported argument for %s", fn);
        }
        return d;
    }
    case G_REBUILD_TENSOR:
        if (tuple_args(u, args, 4, 4, fn)) return NULL;
        return rebuild_tensor(u, a, -1, 0);
    case G_REBUILD_V2:
        if (tuple_args(u, args, 6, 7, fn)) return NULL;
        return rebuild_tensor(u, a, -1, a[4]->kind == CT_VAL_BOOL && a[4]->u.b);
    case G_REBUILD_V3:
        if (tuple_args(u, args, 7, 8, fn)) return NULL;
        if (a[6]->kind != CT_VAL_DTYPE) return uerr(u, "_rebuild_tensor_v3 expects a dtype%s", "");
        return rebuild_tensor(u, a, (int)a[6]->u.i, a[4]->kind == CT_VAL_BOOL && a[4]->u.b);
    case G_REBUILD_PARAM:
    case G_REBUILD_PARAM_STATE:
    case G_PARAMETER: {
        if (GCODE(f) == G_PARAMETER ? tuple_args(u, args, 0, 2, fn)
                                    : tuple_args(u, args, GCODE(f) == G_REBUILD_PARAM ? 3 : 4,
                                                 GCODE(f) == G_REBUILD_PARAM ? 3 : 4, fn))
            return NULL;
        if (args->u.seq.n == 0) return uerr(u, "Parameter() without data is not supported%s", "");
        if (a[0]->kind != CT_VAL_TENSOR || (a[0]->flags & CT_VALF_STORAGEREF))
            return uerr(u, "%s expects a tensor", fn);
        bool rg = args->u.seq.n > 1 ? (a[1]->kind == CT_VAL_BOOL && a[1]->u.b) : true;
        return NEWV(ct_value_tensor(a[0]->u.tensor, true, rg));
    }
    case G_FROM_TYPE_V2:
        if (tuple_args(u, args, 4, 4, fn)) return NULL;
        if (a[2]->kind != CT_VAL_TUPLE) return uerr(u, "%s expects an args tuple", fn);
        return apply(u, a[0], a[2], depth + 1);
    case G_SIZE:
        if (tuple_args(u, args, 0, 1, fn)) return NULL;
        if (args->u.seq.n == 0) return NEWV(ct_value_tuple(0));
        if (a[0]->kind != CT_VAL_TUPLE && a[0]->kind != CT_VAL_LIST) return uerr(u, "torch.Size expects a tuple%s", "");
        {
            ct_value *t = NEWV(ct_value_tuple(a[0]->u.seq.n));
            if (!t) return NULL;
            for (size_t i = 0; i < a[0]->u.seq.n; i++) {
                int64_t x;
                if (get_int(a[0]->u.seq.items[i], &x)) return uerr(u, "torch.Size expects ints%s", "");
                ct_value_retain(a[0]->u.seq.items[i]);
                t->u.seq.items[i] = a[0]->u.seq.items[i];
            }
            return t;
        }
    case G_DEVICE: {
        if (tuple_args(u, args, 1, 2, fn)) return NULL;
        char buf[64];
        if (a[0]->kind == CT_VAL_STR && a[0]->u.s.len < 40) {
            int64_t idx;
            if (args->u.seq.n == 2 && !get_int(a[1], &idx))
                snprintf(buf, sizeof buf, "%s:%lld", a[0]->u.s.data, (long long)idx);
            else snprintf(buf, sizeof buf, "%s", a[0]->u.s.data);
        } else return uerr(u, "torch.device expects a string%s", "");
        return NEWV(ct_value_strkind(CT_VAL_DEVICE, buf, strlen(buf)));
    }
    case G_GET_LAYOUT:
        if (tuple_args(u, args, 1, 1, fn) ) return NULL;
        if (a[0]->kind != CT_VAL_STR || strcmp(a[0]->u.s.data, "torch.strided") != 0)
            return uerr(u, "only the strided layout is supported%s", "");
        return NEWV(ct_value_str("torch.strided", 13));
    case G_CODECS_ENCODE: {
        if (tuple_args(u, args, 1, 2, fn)) return NULL;
        if (a[0]->kind != CT_VAL_STR) return uerr(u, "_codecs.encode expects a str%s", "");
        if (args->u.seq.n == 2 && (a[1]->kind != CT_VAL_STR || (strcmp(a[1]->u.s.data, "latin1") != 0 &&
                                                                 strcmp(a[1]->u.s.data, "latin-1") != 0)))
            return uerr(u, "_codecs.encode: only latin1 is supported%s", "");
        const unsigned char *s = (const unsigned char *)a[0]->u.s.data;
        size_t n = a[0]->u.s.len, o = 0;
        ct_value *b = NEWV(ct_value_bytes(s, n));
        if (!b) return NULL;
        for (size_t i = 0; i < n;) {
            unsigned c = s[i];
            if (c < 0x80) i++;
            else if ((c & 0xE0) == 0xC0 && c <= 0xC3) {
                c = ((c & 0x1F) << 6) | (s[i + 1] & 0x3F);
                i += 2;
            } else return uerr(u, "_codecs.encode: character outside latin1%s", "");
            b->u.s.data[o++] = (char)c;
        }
        b->u.s.len = o;
        b->u.s.data[o] = 0;
        return b;
    }
    case G_BYTES:
    case G_BYTEARRAY:
        if (tuple_args(u, args, 0, 1, fn)) return NULL;
        if (args->u.seq.n == 0) return NEWV(ct_value_bytes("", 0));
        if (a[0]->kind != CT_VAL_BYTES) return uerr(u, "unsupported argument for %s", fn);
        ct_value_retain(a[0]);
        return a[0];
    case G_SET: {
        if (tuple_args(u, args, 0, 1, fn)) return NULL;
        ct_value *s = NEWV(ct_value_seqkind(CT_VAL_SET, 0));
        if (!s) return NULL;
        if (args->u.seq.n == 1) {
            if (a[0]->kind != CT_VAL_LIST && a[0]->kind != CT_VAL_TUPLE) return uerr(u, "set() expects a list%s", "");
            for (size_t i = 0; i < a[0]->u.seq.n; i++) {
                ct_value_retain(a[0]->u.seq.items[i]);
                if (ct_value_list_append(s, a[0]->u.seq.items[i])) return NULL;
            }
        }
        return s;
    }
    case G_USER: {
        ct_value *o = NEWV(ct_value_seqkind(CT_VAL_OBJECT, 0));
        if (!o) return NULL;
        ct_value_retain(f);
        ct_value_retain(args);
        o->u.obj.func = f;
        o->u.obj.args = args;
        return o;
    }
    default: return uerr(u, "calling %s is not supported by ctorch's weights-only loader", fn);
    }
}

static ct_value *apply(upk *u, ct_value *f, ct_value *args, int depth) {
    if (depth > 8) return uerr(u, "nested rebuild calls too deep%s", "");
    if (f->kind != CT_VAL_GLOBAL) return uerr(u, "REDUCE on a non-callable%s", "");
    if (args->kind != CT_VAL_TUPLE) return uerr(u, "REDUCE arguments must be a tuple%s", "");
    return apply_global(u, f, args, depth);
}

/* persistent_load */
static ct_value *persistent(upk *u, ct_value *pid) {
    if (pid->kind != CT_VAL_TUPLE || pid->u.seq.n < 1 || pid->u.seq.items[0]->kind != CT_VAL_STR ||
        strcmp(pid->u.seq.items[0]->u.s.data, "storage") != 0)
        return uerr(u, "persistent id must be a tuple starting with 'storage'%s", "");
    size_t want = u->ctx->legacy ? 6 : 5;
    if (pid->u.seq.n != want) return uerr(u, "persistent id has the wrong number of items%s", "");
    ct_value *const *a = pid->u.seq.items;
    if (a[1]->kind != CT_VAL_GLOBAL || GCODE(a[1]) != G_STORAGE)
        return uerr(u, "persistent id names no storage type%s", "");
    int dtype = GDTYPE(a[1]);
    char key[64];
    int64_t ik;
    if ((a[2]->kind == CT_VAL_STR || a[2]->kind == CT_VAL_BYTES) && a[2]->u.s.len < sizeof key &&
        !memchr(a[2]->u.s.data, 0, a[2]->u.s.len))
        memcpy(key, a[2]->u.s.data, a[2]->u.s.len + 1);
    else if (!get_int(a[2], &ik)) snprintf(key, sizeof key, "%lld", (long long)ik);
    else return uerr(u, "bad storage key%s", "");
    int64_t numel;
    if (get_int(a[4], &numel) || numel < 0) return uerr(u, "bad storage size%s", "");
    char loc[64] = "";
    if (a[3]->kind == CT_VAL_STR && a[3]->u.s.len < sizeof loc && !memchr(a[3]->u.s.data, 0, a[3]->u.s.len))
        memcpy(loc, a[3]->u.s.data, a[3]->u.s.len + 1);
    else if (a[3]->kind == CT_VAL_STR)
        return uerr(u, "bad storage location%s", "");
    ct_storage *s = u->ctx->load_storage(u->ctx->loader_ctx, key, dtype, (uint64_t)numel, loc);
    if (!s) return NULL; /* archive problems stay RuntimeErrors */
    int64_t off = 0, n = numel;
    if (u->ctx->legacy && a[5]->kind != CT_VAL_NONE) {
        /* (view_key, offset, size) inside the root storage */
        const ct_value *vm = a[5];
        int64_t vo, vs;
        if (vm->kind != CT_VAL_TUPLE || vm->u.seq.n != 3 || get_int(vm->u.seq.items[1], &vo) ||
            get_int(vm->u.seq.items[2], &vs) || vo < 0 || vs < 0 || vo > numel || vs > numel - vo) {
            ct_storage_release(s);
            return uerr(u, "bad storage view metadata%s", "");
        }
        off = vo;
        n = vs;
    }
    ct_tensor *t = ct_tensor_new_view(s, dtype, off, &n, NULL, 1);
    ct_storage_release(s);
    if (!t) return uerr(u, "%s", ct_last_error());
    ct_value *v = NEWV(ct_value_tensor(t, false, false));
    ct_tensor_release(t);
    if (v) v->flags |= CT_VALF_STORAGEREF;
    return v;
}

/* ------------------------------------------------------------------ graph check */

/* Cycle and depth check over every node (iterative DFS). mark: 0 new, 1 open, >=2 done
 * (height + 2). */
static int children(ct_value *v, ct_value ***out, size_t *n, ct_value *tmp[4]) {
    switch (v->kind) {
    case CT_VAL_TUPLE: case CT_VAL_LIST: case CT_VAL_SET:
        *out = v->u.seq.items;
        *n = v->u.seq.n;
        return 0;
    case CT_VAL_DICT:
        return 1; /* keys and values: handled by index mapping */
    case CT_VAL_OBJECT:
        tmp[0] = v->u.obj.func;
        tmp[1] = v->u.obj.args;
        tmp[2] = v->u.obj.state;
        *out = tmp;
        *n = 3;
        return 0;
    default:
        *out = NULL;
        *n = 0;
        return 0;
    }
}

static ct_value *child_at(ct_value *v, size_t i, ct_value *tmp[4]) {
    if (v->kind == CT_VAL_DICT) {
        size_t n = v->u.dict.n;
        if (i < n) return v->u.dict.keys[i];
        if (i < 2 * n) return v->u.dict.vals[i - n];
        return i == 2 * n ? v->attrs : NULL;
    }
    ct_value **c;
    size_t n;
    children(v, &c, &n, tmp);
    return i < n ? c[i] : NULL;
}
static size_t child_count(ct_value *v) {
    ct_value *tmp[4], **c;
    size_t n;
    if (v->kind == CT_VAL_DICT) return 2 * v->u.dict.n + 1;
    children(v, &c, &n, tmp);
    return n;
}

static int check_graph(upk *u, size_t max_depth) {
    typedef struct { ct_value *v; size_t i; } frame;
    size_t cap = 64;
    frame *st = malloc(cap * sizeof *st);
    if (!st) return ct_errorf(CT_ERR_MEMORY, "[load] out of memory");
    int rc = 0;
    for (size_t k = 0; k < u->an && !rc; k++) u->all[k]->mark = 0;
    for (size_t k = 0; k < u->an && !rc; k++) {
        if (u->all[k]->mark) continue;
        size_t sp = 0;
        st[sp++] = (frame){u->all[k], 0};
        u->all[k]->mark = 1;
        while (sp && !rc) {
            frame *f = &st[sp - 1];
            ct_value *tmp[4];
            if (f->i < child_count(f->v)) {
                ct_value *c = child_at(f->v, f->i++, tmp);
                if (!c || c->mark >= 2) continue;
                if (c->mark == 1) {
                    uerr(u, "recursive (self-referencing) structures are not supported%s", "");
                    rc = -1;
                    break;
                }
                if (sp + 1 > max_depth) {
                    uerr(u, "nesting deeper than the limit%s", "");
                    rc = -1;
                    break;
                }
                if (sp == cap) {
                    frame *ns = realloc(st, 2 * cap * sizeof *st);
                    if (!ns) {
                        rc = ct_errorf(CT_ERR_MEMORY, "[load] out of memory");
                        break;
                    }
                    st = ns;
                    cap *= 2;
                }
                c->mark = 1;
                st[sp++] = (frame){c, 0};
            } else {
                /* height = 1 + max child height */
                uint32_t h = 0;
                for (size_t i = 0, n = child_count(f->v); i < n; i++) {
                    ct_value *c = child_at(f->v, i, tmp);
                    if (c && c->mark - 2 + 1 > h) h = c->mark - 2 + 1;
                }
                if (h > max_depth) {
                    uerr(u, "nesting deeper than the limit%s", "");
                    rc = -1;
                }
                f->v->mark = h + 2;
                sp--;
            }
        }
    }
    free(st);
    return rc;
}

/* ------------------------------------------------------------------ machine */

static void upk_free(upk *u, int failed) {
    if (failed) {
        /* free every node directly: reference counts are irrelevant, cycles included */
        for (size_t i = 0; i < u->an; i++) {
            ct_value *v = u->all[i];
            switch (v->kind) {
            case CT_VAL_TUPLE: case CT_VAL_LIST: case CT_VAL_SET: free(v->u.seq.items); break;
            case CT_VAL_DICT: free(v->u.dict.keys); free(v->u.dict.vals); free(v->u.dict.index); break;
            case CT_VAL_TENSOR: ct_tensor_release(v->u.tensor); break;
            case CT_VAL_STR: case CT_VAL_BYTES: case CT_VAL_DEVICE: case CT_VAL_GLOBAL: free(v->u.s.data); break;
            default: break;
            }
            free(v);
        }
    } else {
        for (size_t i = 0; i < u->sn; i++) ct_value_release(u->stack[i]);
        for (size_t i = 0; i < u->memo_cap; i++) ct_value_release(u->mvals[i]);
        for (size_t i = 0; i < u->an; i++) ct_value_release(u->all[i]); /* acyclic: frees the garbage */
    }
    free(u->stack);
    free(u->marks);
    free(u->mkeys);
    free(u->mvals);
    free(u->all);
}

static int do_setitems(upk *u, ct_value *d, size_t start) {
    if (d->kind != CT_VAL_DICT) return uerr(u, "SETITEM(S) on a non-dict%s", ""), -1;
    if ((u->sn - start) % 2) return uerr(u, "odd number of items for SETITEMS%s", ""), -1;
    for (size_t i = start; i < u->sn; i += 2) {
        ct_value_retain(u->stack[i]);
        ct_value_retain(u->stack[i + 1]);
        if (u->stack[i]->kind == CT_VAL_LIST || u->stack[i]->kind == CT_VAL_DICT || u->stack[i]->kind == CT_VAL_SET) {
            ct_value_release(u->stack[i]);
            ct_value_release(u->stack[i + 1]);
            return uerr(u, "unhashable dict key%s", ""), -1;
        }
        if (ct_value_dict_set(d, u->stack[i], u->stack[i + 1])) return -1;
    }
    return 0;
}

static int do_appends(upk *u, ct_value *l, size_t start, int is_set) {
    if (is_set ? l->kind != CT_VAL_SET : l->kind != CT_VAL_LIST)
        return uerr(u, "APPEND(S)/ADDITEMS on the wrong type%s", ""), -1;
    for (size_t i = start; i < u->sn; i++) {
        ct_value_retain(u->stack[i]);
        if (ct_value_list_append(l, u->stack[i])) return -1;
    }
    return 0;
}

static void drop_to(upk *u, size_t start) {
    while (u->sn > start) ct_value_release(u->stack[--u->sn]);
}

ct_value *ct_unpickle(const unsigned char *data, size_t len, size_t *posp, ct_unpickle_ctx *ctx) {
    upk U;
    memset(&U, 0, sizeof U);
    upk *u = &U;
    u->d = data;
    u->len = len;
    u->pos = *posp;
    u->ctx = ctx;
    ct_value *result = NULL;
    size_t max_depth = ctx->opts && ctx->opts->max_depth ? ctx->opts->max_depth : 1000;
    for (;;) {
        const unsigned char *p = need(u, 1);
        if (!p) goto fail;
        unsigned op = *p;
        ct_value *v = NULL, *a, *b;
        size_t start;
        switch (op) {
        case 0x80: /* PROTO */
            if (!(p = need(u, 1))) goto fail;
            if (*p > 5) {
                uerr(u, "unsupported pickle protocol %s", *p > 9 ? "> 9" : (char[2]){(char)('0' + *p), 0});
                goto fail;
            }
            continue;
        case 0x95: /* FRAME */
            if (!(p = need(u, 8))) goto fail;
            if (ct_rd64(p) > u->len - u->pos) {
                uerr(u, "frame exceeds the data%s", "");
                goto fail;
            }
            continue;
        case '.': /* STOP */
            if (!(result = pop(u))) goto fail;
            if (u->mn) {
                ct_value_release(result);
                result = NULL;
                uerr(u, "unbalanced MARK at STOP%s", "");
                goto fail;
            }
            goto done;
        case '}': v = NEWV(ct_value_dict(false)); break;
        case ']': v = NEWV(ct_value_list()); break;
        case ')': v = NEWV(ct_value_tuple(0)); break;
        case 0x8f: v = NEWV(ct_value_seqkind(CT_VAL_SET, 0)); break; /* EMPTY_SET */
        case '(': /* MARK */
            if (u->mn == u->mcap) {
                size_t cap = u->mcap ? 2 * u->mcap : 32;
                size_t *nm = realloc(u->marks, cap * sizeof *nm);
                if (!nm) {
                    ct_error(CT_ERR_MEMORY, "[load] out of memory");
                    goto fail;
                }
                u->marks = nm;
                u->mcap = cap;
            }
            u->marks[u->mn++] = u->sn;
            continue;
        case 't': case 0x91: /* TUPLE, FROZENSET */
            if (pop_mark(u, &start)) goto fail;
            v = NEWV(ct_value_seqkind(op == 't' ? CT_VAL_TUPLE : CT_VAL_SET, u->sn - start));
            if (!v) goto fail;
            for (size_t i = start; i < u->sn; i++) v->u.seq.items[i - start] = u->stack[i];
            if (op == 0x91) v->u.seq.cap = v->u.seq.n;
            u->sn = start;
            break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1-3 */
            size_t n = op - 0x84;
            size_t floor = u->mn ? u->marks[u->mn - 1] : 0;
            if (u->sn - floor < n) {
                uerr(u, "stack underflow in TUPLE%s", "");
                goto fail;
            }
            v = NEWV(ct_value_tuple(n));
            if (!v) goto fail;
            for (size_t i = 0; i < n; i++) v->u.seq.items[i] = u->stack[u->sn - n + i];
            u->sn -= n;
            break;
        }
        case '0': /* POP */
            if (!(a = pop(u))) goto fail;
            ct_value_release(a);
            continue;
        case '1': /* POP_MARK */
            if (pop_mark(u, &start)) goto fail;
            drop_to(u, start);
            continue;
        case 'X': case 0x8c: case 0x8d: { /* BINUNICODE, SHORT_BINUNICODE, BINUNICODE8 */
            size_t w = op == 'X' ? 4 : op == 0x8c ? 1 : 8;
            if (!(p = need(u, w))) goto fail;
            uint64_t n = w == 4 ? ct_rd32(p) : w == 1 ? *p : ct_rd64(p);
            if (n > u->len - u->pos) {
                uerr(u, "pickle data was truncated (string length)%s", "");
                goto fail;
            }
            p = need(u, (size_t)n);
            v = make_str(u, p, (size_t)n, 0);
            break;
        }
        case 'U': case 'T': case 'B': case 'C': case 0x8e: { /* SHORT_BINSTRING, BINSTRING, BINBYTES, SHORT_BINBYTES, BINBYTES8 */
            size_t w = (op == 'U' || op == 'C') ? 1 : op == 0x8e ? 8 : 4;
            if (!(p = need(u, w))) goto fail;
            uint64_t n = w == 1 ? *p : w == 4 ? ct_rd32(p) : ct_rd64(p);
            if (op == 'T' && (int32_t)n < 0) {
                uerr(u, "negative BINSTRING length%s", "");
                goto fail;
            }
            if (n > u->len - u->pos) {
                uerr(u, "pickle data was truncated (bytes length)%s", "");
                goto fail;
            }
            p = need(u, (size_t)n);
            v = (op == 'U' || op == 'T') ? make_str(u, p, (size_t)n, 1) : NEWV(ct_value_bytes(p, (size_t)n));
            break;
        }
        case 'c': { /* GLOBAL */
            char mod[256], name[256];
            if (read_line(u, mod, sizeof mod) || read_line(u, name, sizeof name)) goto fail;
            v = resolve_global(u, mod, name);
            break;
        }
        case 0x93: { /* STACK_GLOBAL */
            if (!(b = pop(u))) goto fail;
            if (!(a = pop(u))) {
                ct_value_release(b);
                goto fail;
            }
            if (a->kind == CT_VAL_STR && b->kind == CT_VAL_STR && a->u.s.len < 256 && b->u.s.len < 256 &&
                strlen(a->u.s.data) == a->u.s.len && strlen(b->u.s.data) == b->u.s.len)
                v = resolve_global(u, a->u.s.data, b->u.s.data);
            else uerr(u, "STACK_GLOBAL requires two strings%s", "");
            ct_value_release(a);
            ct_value_release(b);
            break;
        }
        case 'Q': /* BINPERSID */
            if (!(a = pop(u))) goto fail;
            v = persistent(u, a);
            ct_value_release(a);
            break;
        case 'R': case 0x81: { /* REDUCE, NEWOBJ */
            if (!(b = pop(u))) goto fail;
            if (!(a = pop(u))) {
                ct_value_release(b);
                goto fail;
            }
            if (op == 0x81 && a->kind == CT_VAL_GLOBAL && GCODE(a) == G_USER) {
                if (b->kind != CT_VAL_TUPLE) uerr(u, "NEWOBJ arguments must be a tuple%s", "");
                else if ((v = NEWV(ct_value_seqkind(CT_VAL_OBJECT, 0)))) {
                    ct_value_retain(a);
                    ct_value_retain(b);
                    v->u.obj.func = a;
                    v->u.obj.args = b;
                    v->flags |= CT_VALF_NEWOBJ;
                }
            } else {
                v = apply(u, a, b, 0);
            }
            ct_value_release(a);
            ct_value_release(b);
            break;
        }
        case 'b': { /* BUILD */
            if (!(b = pop(u))) goto fail;
            if (!(a = top(u))) {
                ct_value_release(b);
                goto fail;
            }
            if (a->kind == CT_VAL_DICT && (a->flags & CT_VALF_ORDERED)) {
                if (b->kind == CT_VAL_DICT) {
                    ct_value_release(a->attrs);
                    a->attrs = b;
                    b = NULL;
                } else if (b->kind != CT_VAL_NONE) {
                    ct_value_release(b);
                    uerr(u, "BUILD on an OrderedDict with unsupported state%s", "");
                    goto fail;
                }
            } else if (a->kind == CT_VAL_TENSOR && !(a->flags & CT_VALF_STORAGEREF)) {
                /* tensor state (hooks, python attributes): ignored */
            } else if (a->kind == CT_VAL_OBJECT) {
                ct_value_release(a->u.obj.state);
                a->u.obj.state = b;
                b = NULL;
            } else {
                ct_value_release(b);
                uerr(u, "BUILD is only allowed on tensors, parameters, OrderedDicts and allowed classes%s", "");
                goto fail;
            }
            ct_value_release(b);
            continue;
        }
        case 's': case 'u': case 'a': case 'e': case 0x90: { /* SETITEM(S), APPEND(S), ADDITEMS */
            int batch = op == 'u' || op == 'e' || op == 0x90;
            if (batch) {
                if (pop_mark(u, &start)) goto fail;
            } else {
                size_t k = op == 's' ? 2 : 1, floor = u->mn ? u->marks[u->mn - 1] : 0;
                if (u->sn < floor + k) {
                    uerr(u, "stack underflow%s", "");
                    goto fail;
                }
                start = u->sn - k;
            }
            size_t floor = u->mn ? u->marks[u->mn - 1] : 0;
            if (start <= floor) {
                uerr(u, "%s without a target container", op == 's' || op == 'u' ? "SETITEM(S)" : "APPEND(S)");
                goto fail;
            }
            int rc = (op == 's' || op == 'u') ? do_setitems(u, u->stack[start - 1], start)
                                                : do_appends(u, u->stack[start - 1], start, op == 0x90);
            drop_to(u, start);
            if (rc) goto fail;
            continue;
        }
        case 'q': case 'r': case 0x94: { /* BINPUT, LONG_BINPUT, MEMOIZE */
            uint32_t key;
            if (op == 0x94) key = (uint32_t)u->memo_n;
            else {
                if (!(p = need(u, op == 'q' ? 1 : 4))) goto fail;
                key = op == 'q' ? *p : ct_rd32(p);
            }
            if (!(a = top(u)) || memo_set(u, key, a)) goto fail;
            continue;
        }
        case 'h': case 'j': { /* BINGET, LONG_BINGET */
            if (!(p = need(u, op == 'h' ? 1 : 4))) goto fail;
            uint32_t key = op == 'h' ? *p : ct_rd32(p);
            v = memo_get(u, key);
            if (!v) {
                char k[16];
                snprintf(k, sizeof k, "%u", key);
                uerr(u, "memo key %s not found", k);
                goto fail;
            }
            ct_value_retain(v);
            break;
        }
        case 'K': if (!(p = need(u, 1))) goto fail; v = NEWV(ct_value_int(*p)); break;
        case 'M': if (!(p = need(u, 2))) goto fail; v = NEWV(ct_value_int(ct_rd16(p))); break;
        case 'J': if (!(p = need(u, 4))) goto fail; v = NEWV(ct_value_int((int32_t)ct_rd32(p))); break;
        case 0x8a: case 0x8b: { /* LONG1, LONG4 */
            if (!(p = need(u, op == 0x8a ? 1 : 4))) goto fail;
            uint64_t n = op == 0x8a ? *p : ct_rd32(p);
            if (op == 0x8b && (int32_t)n < 0) {
                uerr(u, "negative LONG4 length%s", "");
                goto fail;
            }
            if (n > 8) {
                uerr(u, "integer wider than 64 bits%s", "");
                goto fail;
            }
            if (!(p = need(u, (size_t)n))) goto fail;
            uint64_t x = 0;
            for (size_t i = 0; i < n; i++) x |= (uint64_t)p[i] << (8 * i);
            if (n && n < 8 && (p[n - 1] & 0x80)) x |= ~0ULL << (8 * n);
            v = NEWV(ct_value_int((int64_t)x));
            break;
        }
        case 'G': {
            if (!(p = need(u, 8))) goto fail;
            uint64_t x = 0;
            for (int i = 0; i < 8; i++) x = (x << 8) | p[i];
            double d;
            memcpy(&d, &x, 8);
            v = NEWV(ct_value_float(d));
            break;
        }
        case 'N': v = NEWV(ct_value_none()); break;
        case 0x88: v = NEWV(ct_value_bool(true)); break;
        case 0x89: v = NEWV(ct_value_bool(false)); break;
        default: {
            char k[8];
            snprintf(k, sizeof k, "0x%02x", op);
            u->pos--;
            uerr(u, "unsupported or unknown pickle opcode %s", k);
            goto fail;
        }
        }
        if (!v || push(u, v)) goto fail;
        if (u->sn > u->len + 64) { /* cannot happen for honest input; belt and braces */
            uerr(u, "stack too large%s", "");
            goto fail;
        }
    }
done:
    /* every node is still referenced by the registry's bookkeeping only through refcounts */
    if (check_graph(u, max_depth)) goto fail_after_result; /* result is freed from the registry */
    *posp = u->pos;
    upk_free(u, 0);
    return result;
fail:
    if (ct_last_error_kind() == CT_OK) uerr(u, "invalid pickle%s", "");
fail_after_result:
    upk_free(u, 1);
    return NULL;
}
