/* Protocol-2 pickle writer for the weights-only subset (FORMATS.md 2.4-2.6), memoized the way
 * Python's pickler does it (so that {'w': tensor} reproduces torch.save's data.pkl byte for
 * byte), plus the checkpoint record set around it. Storages are keyed by identity: tensors
 * that share a ct_storage share one data/N record, with their offsets and strides. */
#include <stdio.h>

#include "serialize_internal.h"

/* ------------------------------------------------------------------ memo maps */

typedef struct memo_ent {
    uint64_t h;
    const void *ptr;   /* identity key (NULL for content keys) */
    char *bytes;       /* content key (owned) */
    size_t len;
    uint32_t idx;
    int used;
} memo_ent;

typedef struct memo_map {
    memo_ent *e;
    size_t cap, n;
} memo_map;

static uint64_t hash_bytes(const void *p, size_t n, uint64_t seed) {
    const unsigned char *c = p;
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ULL;
    return h ? h : 1;
}

static memo_ent *memo_slot(memo_map *m, uint64_t h, const void *ptr, const char *bytes, size_t len) {
    if (!m->cap) return NULL;
    size_t i = (size_t)h & (m->cap - 1);
    while (m->e[i].used) {
        memo_ent *e = &m->e[i];
        if (e->h == h && e->ptr == ptr && e->len == len && (!bytes || memcmp(e->bytes, bytes, len) == 0)) return e;
        i = (i + 1) & (m->cap - 1);
    }
    return &m->e[i];
}

static int memo_grow(memo_map *m) {
    size_t cap = m->cap ? m->cap * 2 : 64;
    memo_ent *ne = calloc(cap, sizeof *ne);
    if (!ne) return ct_errorf(CT_ERR_MEMORY, "[save] out of memory");
    for (size_t k = 0; k < m->cap; k++) {
        if (!m->e[k].used) continue;
        size_t i = (size_t)m->e[k].h & (cap - 1);
        while (ne[i].used) i = (i + 1) & (cap - 1);
        ne[i] = m->e[k];
    }
    free(m->e);
    m->e = ne;
    m->cap = cap;
    return 0;
}

/* Lookup: returns index or -1. */
static int64_t memo_get(memo_map *m, const void *ptr, const char *bytes, size_t len) {
    uint64_t h = bytes ? hash_bytes(bytes, len, 7) : hash_bytes(&ptr, sizeof ptr, 3);
    memo_ent *e = memo_slot(m, h, bytes ? NULL : ptr, bytes, len);
    return e && e->used ? (int64_t)e->idx : -1;
}

static int memo_put(memo_map *m, const void *ptr, const char *bytes, size_t len, uint32_t idx) {
    if ((m->n + 1) * 2 > m->cap && memo_grow(m)) return -1;
    uint64_t h = bytes ? hash_bytes(bytes, len, 7) : hash_bytes(&ptr, sizeof ptr, 3);
    memo_ent *e = memo_slot(m, h, bytes ? NULL : ptr, bytes, len);
    if (e->used) return 0;
    e->h = h;
    e->ptr = bytes ? NULL : ptr;
    e->len = len;
    if (bytes) {
        e->bytes = malloc(len ? len : 1);
        if (!e->bytes) return ct_errorf(CT_ERR_MEMORY, "[save] out of memory");
        memcpy(e->bytes, bytes, len);
    }
    e->idx = idx;
    e->used = 1;
    m->n++;
    return 0;
}

static void memo_free(memo_map *m) {
    for (size_t i = 0; i < m->cap; i++) free(m->e[i].bytes);
    free(m->e);
}

/* ------------------------------------------------------------------ writer state */

typedef struct wstorage {
    ct_storage *storage; /* borrowed from the tensors of the tree (or owned when copied) */
    int dtype;
    int owned;
} wstorage;

typedef struct pwriter {
    ct_buf out;
    memo_map ids, strs, stmap;
    uint32_t next;
    wstorage *st;
    size_t nst, capst;
    int depth;
} pwriter;

static int w_memoize_ptr(pwriter *w, const void *p) {
    uint32_t i = w->next++;
    if (memo_put(&w->ids, p, NULL, 0, i)) return -1;
    if (i < 256) {
        ct_buf_u8(&w->out, 'q');
        return ct_buf_u8(&w->out, i);
    }
    ct_buf_u8(&w->out, 'r');
    return ct_buf_u32(&w->out, i);
}

static int w_get(pwriter *w, int64_t i) {
    if (i < 256) {
        ct_buf_u8(&w->out, 'h');
        return ct_buf_u8(&w->out, (unsigned)i);
    }
    ct_buf_u8(&w->out, 'j');
    return ct_buf_u32(&w->out, (uint32_t)i);
}

/* Strings and globals are memoized by content (kind byte first so they never collide). */
static int w_content(pwriter *w, char kind, const char *s, size_t n, int (*emit)(pwriter *, const char *, size_t)) {
    char stackbuf[256];
    char *key = n + 1 <= sizeof stackbuf ? stackbuf : malloc(n + 1);
    if (!key) return ct_errorf(CT_ERR_MEMORY, "[save] out of memory");
    key[0] = kind;
    memcpy(key + 1, s, n);
    int64_t got = memo_get(&w->strs, NULL, key, n + 1);
    int rc;
    if (got >= 0) rc = w_get(w, got);
    else {
        uint32_t i = w->next++;
        rc = emit(w, s, n);
        if (!rc) rc = memo_put(&w->strs, NULL, key, n + 1, i);
        if (!rc) {
            if (i < 256) {
                ct_buf_u8(&w->out, 'q');
                rc = ct_buf_u8(&w->out, i);
            } else {
                ct_buf_u8(&w->out, 'r');
                rc = ct_buf_u32(&w->out, i);
            }
        }
    }
    if (key != stackbuf) free(key);
    return rc;
}

static int emit_str(pwriter *w, const char *s, size_t n) {
    ct_buf_u8(&w->out, 'X');
    ct_buf_u32(&w->out, (uint32_t)n);
    return ct_buf_put(&w->out, s, n);
}
static int emit_global(pwriter *w, const char *s, size_t n) {
    /* s = "module\nname" */
    ct_buf_u8(&w->out, 'c');
    ct_buf_put(&w->out, s, n);
    return ct_buf_u8(&w->out, '\n');
}

static int w_str(pwriter *w, const char *s, size_t n) {
    if (n > 0xFFFFFFFFu) return ct_errorf(CT_ERR_VALUE, "[save] string too long for protocol 2");
    return w_content(w, 's', s, n, emit_str);
}

static int w_global(pwriter *w, const char *module, const char *name) {
    char stackbuf[160];
    size_t n = strlen(module) + 1 + strlen(name);
    char *buf = n < sizeof stackbuf ? stackbuf : malloc(n + 1); /* long qualified names too */
    if (!buf) return ct_errorf(CT_ERR_MEMORY, "[save] out of memory");
    snprintf(buf, n + 1, "%s\n%s", module, name);
    int rc = w_content(w, 'g', buf, n, emit_global);
    if (buf != stackbuf) free(buf);
    return rc;
}

static int w_int(pwriter *w, int64_t v) {
    if (v >= 0 && v < 256) {
        ct_buf_u8(&w->out, 'K');
        return ct_buf_u8(&w->out, (unsigned)v);
    }
    if (v >= 0 && v < 65536) {
        ct_buf_u8(&w->out, 'M');
        return ct_buf_u16(&w->out, (unsigned)v);
    }
    if (v >= INT32_MIN && v <= INT32_MAX) {
        ct_buf_u8(&w->out, 'J');
        return ct_buf_u32(&w->out, (uint32_t)(int32_t)v);
    }
    unsigned char b[9];
    int n = 0;
    uint64_t u = (uint64_t)v;
    for (n = 0; n < 8; n++) b[n] = (unsigned char)(u >> (8 * n));
    /* minimal two's complement length */
    while (n > 1 && ((b[n - 1] == 0 && !(b[n - 2] & 0x80)) || (b[n - 1] == 0xFF && (b[n - 2] & 0x80)))) n--;
    ct_buf_u8(&w->out, 0x8a);
    ct_buf_u8(&w->out, (unsigned)n);
    return ct_buf_put(&w->out, b, (size_t)n);
}

static int w_float(pwriter *w, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    unsigned char b[9];
    b[0] = 'G';
    for (int i = 0; i < 8; i++) b[1 + i] = (unsigned char)(u >> (56 - 8 * i));
    return ct_buf_put(&w->out, b, 9);
}

static int w_value(pwriter *w, const ct_value *v);

/* A new storage key (or the existing one) for t. *copy receives a contiguous replacement
 * tensor when t's storage is already used with another dtype. */
static int64_t storage_key(pwriter *w, ct_tensor *t) {
    int64_t got = memo_get(&w->stmap, t->storage, NULL, 0);
    if (got >= 0 && !w->st[got].owned) return w->st[got].dtype == t->dtype ? got : -2;
    if (w->nst == w->capst) {
        size_t cap = w->capst ? 2 * w->capst : 16;
        wstorage *ns = realloc(w->st, cap * sizeof *ns);
        if (!ns) return ct_errorf(CT_ERR_MEMORY, "[save] out of memory"), -1;
        w->st = ns;
        w->capst = cap;
    }
    w->st[w->nst].storage = t->storage;
    w->st[w->nst].dtype = t->dtype;
    w->st[w->nst].owned = 0;
    if (got < 0 && memo_put(&w->stmap, t->storage, NULL, 0, (uint32_t)w->nst)) return -1;
    return (int64_t)w->nst++;
}

static int w_tuple_ints(pwriter *w, const int64_t *a, int n) {
    if (n == 0) return ct_buf_u8(&w->out, ')');
    if (n > 3) ct_buf_u8(&w->out, '(');
    for (int i = 0; i < n; i++)
        if (w_int(w, a[i])) return -1;
    ct_buf_u8(&w->out, n == 1 ? 0x85 : n == 2 ? 0x86 : n == 3 ? 0x87 : 't');
    /* a fresh tuple object each time: memoized but never looked up again */
    uint32_t i = w->next++;
    if (i < 256) {
        ct_buf_u8(&w->out, 'q');
        return ct_buf_u8(&w->out, i);
    }
    ct_buf_u8(&w->out, 'r');
    return ct_buf_u32(&w->out, i);
}

static int w_fresh_memo(pwriter *w) {
    uint32_t i = w->next++;
    if (i < 256) {
        ct_buf_u8(&w->out, 'q');
        return ct_buf_u8(&w->out, i);
    }
    ct_buf_u8(&w->out, 'r');
    return ct_buf_u32(&w->out, i);
}

static int w_ordereddict_empty(pwriter *w) {
    if (w_global(w, "collections", "OrderedDict")) return -1;
    ct_buf_u8(&w->out, ')');
    ct_buf_u8(&w->out, 'R');
    return w_fresh_memo(w);
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, OrderedDict()) */
static int w_tensor_body(pwriter *w, ct_tensor *t, bool requires_grad) {
    int64_t k = storage_key(w, t);
    ct_tensor *own = NULL;
    if (k == -1) return -1;
    if (k == -2) { /* storage already written with another dtype: write a contiguous copy */
        own = ct_tensor_new_view(t->storage, t->dtype, t->offset, t->sizes, t->strides, t->ndim);
        ct_tensor *c = own ? ct_empty(t->sizes, t->ndim, t->dtype) : NULL;
        if (!c || ct_copy_into(c, own)) {
            ct_tensor_release(own);
            ct_tensor_release(c);
            return -1;
        }
        ct_tensor_release(own);
        own = c;
        k = storage_key(w, c);
        if (k < 0) {
            ct_tensor_release(c);
            return -1;
        }
        ct_storage_retain(c->storage);
        w->st[k].owned = 1;
        t = c;
    }
    if (w_global(w, "torch._utils", "_rebuild_tensor_v2")) goto fail;
    ct_buf_u8(&w->out, '(');
    ct_buf_u8(&w->out, '(');
    if (w_str(w, "storage", 7) || w_global(w, "torch", ct_storage_class_name(t->dtype))) goto fail;
    char key[32];
    int kn = snprintf(key, sizeof key, "%lld", (long long)k);
    if (w_str(w, key, (size_t)kn) || w_str(w, "cpu", 3)) goto fail;
    if (w_int(w, (int64_t)(t->storage->nbytes / ct_dtype_sizes[t->dtype]))) goto fail;
    ct_buf_u8(&w->out, 't');
    if (w_fresh_memo(w)) goto fail;
    ct_buf_u8(&w->out, 'Q');
    if (w_int(w, t->offset) || w_tuple_ints(w, t->sizes, t->ndim) || w_tuple_ints(w, t->strides, t->ndim)) goto fail;
    ct_buf_u8(&w->out, requires_grad ? 0x88 : 0x89);
    if (w_ordereddict_empty(w)) goto fail;
    ct_buf_u8(&w->out, 't');
    if (w_fresh_memo(w)) goto fail;
    ct_buf_u8(&w->out, 'R');
    ct_tensor_release(own);
    return w->out.failed ? -1 : 0;
fail:
    ct_tensor_release(own);
    return -1;
}

static int w_tensor(pwriter *w, const ct_value *v) {
    ct_tensor *t = v->u.tensor;
    if (!t) return ct_errorf(CT_ERR_VALUE, "[save] NULL tensor");
    bool rg = (v->flags & CT_VALF_REQUIRES_GRAD) != 0;
    if (v->flags & CT_VALF_PARAMETER) {
        if (w_global(w, "torch._utils", "_rebuild_parameter")) return -1;
        if (w_tensor_body(w, t, false) || w_fresh_memo(w)) return -1;
        ct_buf_u8(&w->out, rg ? 0x88 : 0x89);
        if (w_ordereddict_empty(w)) return -1;
        ct_buf_u8(&w->out, 0x87);
        if (w_fresh_memo(w)) return -1;
        ct_buf_u8(&w->out, 'R');
        return w_memoize_ptr(w, v);
    }
    if (w_tensor_body(w, t, rg)) return -1;
    return w_memoize_ptr(w, v);
}

static int w_setitems(pwriter *w, const ct_value *d) {
    size_t n = d->u.dict.n;
    for (size_t b = 0; b < n; b += 1000) {
        size_t e = b + 1000 < n ? b + 1000 : n;
        if (e - b > 1) ct_buf_u8(&w->out, '(');
        for (size_t i = b; i < e; i++)
            if (w_value(w, d->u.dict.keys[i]) || w_value(w, d->u.dict.vals[i])) return -1;
        ct_buf_u8(&w->out, e - b > 1 ? 'u' : 's');
    }
    return 0;
}

static int w_appends(pwriter *w, const ct_value *l) {
    size_t n = l->u.seq.n;
    for (size_t b = 0; b < n; b += 1000) {
        size_t e = b + 1000 < n ? b + 1000 : n;
        if (e - b > 1) ct_buf_u8(&w->out, '(');
        for (size_t i = b; i < e; i++)
            if (w_value(w, l->u.seq.items[i])) return -1;
        ct_buf_u8(&w->out, e - b > 1 ? 'e' : 'a');
    }
    return 0;
}

static int w_value(pwriter *w, const ct_value *v) {
    if (!v) return ct_errorf(CT_ERR_VALUE, "[save] NULL value in the tree");
    if (w->out.failed) return -1;
    switch (v->kind) {
    case CT_VAL_NONE: return ct_buf_u8(&w->out, 'N');
    case CT_VAL_BOOL: return ct_buf_u8(&w->out, v->u.b ? 0x88 : 0x89);
    case CT_VAL_INT: return w_int(w, v->u.i);
    case CT_VAL_FLOAT: return w_float(w, v->u.f);
    case CT_VAL_STR: return w_str(w, v->u.s.data, v->u.s.len);
    case CT_VAL_DTYPE:
        if (v->u.i < 0 || v->u.i >= CT_NUM_DTYPES) return ct_errorf(CT_ERR_VALUE, "[save] bad dtype");
        return w_global(w, "torch", ct_dtype_name((int)v->u.i));
    default: break;
    }
    /* identity-memoized kinds */
    int64_t got = memo_get(&w->ids, v, NULL, 0);
    if (got >= 0) return w_get(w, got);
    if (++w->depth > 10000) return ct_errorf(CT_ERR_VALUE, "[save] object nesting too deep (or recursive)");
    int rc = 0;
    switch (v->kind) {
    case CT_VAL_BYTES:
        {
            /* Python writes b"" as __builtin__.bytes(), which torch's weights-only loader
             * refuses; _codecs.encode("", "latin1") is allowed and means the same */
            /* latin-1 decoded str, UTF-8 encoded */
            ct_buf s = {0};
            for (size_t i = 0; i < v->u.s.len; i++) {
                unsigned char c = (unsigned char)v->u.s.data[i];
                if (c < 0x80) ct_buf_u8(&s, c);
                else {
                    ct_buf_u8(&s, 0xC0 | (c >> 6));
                    ct_buf_u8(&s, 0x80 | (c & 0x3F));
                }
            }
            rc = s.failed ? -1 : w_global(w, "_codecs", "encode");
            if (!rc) rc = w_str(w, (const char *)s.p, s.n);
            free(s.p);
            if (!rc) rc = w_str(w, "latin1", 6);
            ct_buf_u8(&w->out, 0x86);
            if (!rc) rc = w_fresh_memo(w);
            ct_buf_u8(&w->out, 'R');
        }
        if (!rc) rc = w_memoize_ptr(w, v);
        break;
    case CT_VAL_TUPLE: {
        size_t n = v->u.seq.n;
        if (n == 0) {
            rc = ct_buf_u8(&w->out, ')');
            break;
        }
        if (n > 3) ct_buf_u8(&w->out, '(');
        for (size_t i = 0; i < n && !rc; i++) rc = w_value(w, v->u.seq.items[i]);
        if (rc) break;
        ct_buf_u8(&w->out, n == 1 ? 0x85 : n == 2 ? 0x86 : n == 3 ? 0x87 : 't');
        rc = w_memoize_ptr(w, v);
        break;
    }
    case CT_VAL_LIST:
        ct_buf_u8(&w->out, ']');
        rc = w_memoize_ptr(w, v);
        if (!rc) rc = w_appends(w, v);
        break;
    case CT_VAL_SET: {
        rc = w_global(w, "__builtin__", "set");
        ct_buf_u8(&w->out, ']');
        if (!rc) rc = w_fresh_memo(w);
        if (!rc) rc = w_appends(w, v);
        ct_buf_u8(&w->out, 0x85);
        if (!rc) rc = w_fresh_memo(w);
        ct_buf_u8(&w->out, 'R');
        if (!rc) rc = w_memoize_ptr(w, v);
        break;
    }
    case CT_VAL_DICT:
        if (v->flags & CT_VALF_ORDERED) {
            rc = w_global(w, "collections", "OrderedDict");
            ct_buf_u8(&w->out, ')');
            ct_buf_u8(&w->out, 'R');
        } else {
            ct_buf_u8(&w->out, '}');
        }
        if (!rc) rc = w_memoize_ptr(w, v);
        if (!rc) rc = w_setitems(w, v);
        if (!rc && v->attrs && v->attrs->kind == CT_VAL_DICT && (v->flags & CT_VALF_ORDERED)) {
            rc = w_value(w, v->attrs);
            ct_buf_u8(&w->out, 'b');
        }
        break;
    case CT_VAL_TENSOR: rc = w_tensor(w, v); break;
    case CT_VAL_DEVICE:
        rc = w_global(w, "torch", "device");
        if (!rc) rc = w_str(w, v->u.s.data, v->u.s.len);
        ct_buf_u8(&w->out, 0x85);
        if (!rc) rc = w_fresh_memo(w);
        ct_buf_u8(&w->out, 'R');
        if (!rc) rc = w_memoize_ptr(w, v);
        break;
    default:
        rc = ct_errorf(CT_ERR_TYPE, "[save] value of kind %d cannot be saved in the weights-only format", v->kind);
    }
    w->depth--;
    if (!rc && w->out.failed) rc = -1;
    return rc;
}

static void pwriter_free(pwriter *w) {
    free(w->out.p);
    memo_free(&w->ids);
    memo_free(&w->strs);
    memo_free(&w->stmap);
    for (size_t i = 0; i < w->nst; i++)
        if (w->st[i].owned) ct_storage_release(w->st[i].storage);
    free(w->st);
}

int ct_pickle_to_zip(ct_zip_writer *zw, const ct_value *value) {
    pwriter w;
    memset(&w, 0, sizeof w);
    ct_buf_u8(&w.out, 0x80);
    ct_buf_u8(&w.out, 2);
    if (w_value(&w, value)) goto fail;
    if (ct_buf_u8(&w.out, '.')) goto fail;
    size_t total = w.out.n + 4096 + 200 * w.nst;
    for (size_t i = 0; i < w.nst; i++) total += w.st[i].storage->nbytes + 64;
    if (ct_zip_writer_reserve(zw, total)) goto fail;
    if (ct_zip_writer_add(zw, "data.pkl", w.out.p, w.out.n) || ct_zip_writer_add(zw, ".format_version", "1", 1) ||
        ct_zip_writer_add(zw, ".storage_alignment", "64", 2) || ct_zip_writer_add(zw, "byteorder", "little", 6))
        goto fail;
    uint32_t crcs = 0;
    for (size_t i = 0; i < w.nst; i++) {
        char name[40];
        snprintf(name, sizeof name, "data/%zu", i);
        ct_storage *s = w.st[i].storage;
        size_t nb = s->nbytes / ct_dtype_sizes[w.st[i].dtype] * ct_dtype_sizes[w.st[i].dtype];
        if (ct_zip_writer_add(zw, name, s->data, nb)) goto fail;
        crcs = crcs * 31u + ct_zip_writer_last_crc(zw);
    }
    if (ct_zip_writer_add(zw, "version", "3\n", 2)) goto fail;
    /* 40 decimal digits: PyTorch derives them from record names and CRCs; nothing checks them */
    char sid[48];
    uint64_t a = hash_bytes(w.out.p, w.out.n, w.nst) % 10000000000000000000ULL, b = crcs;
    snprintf(sid, sizeof sid, "%020llu%020llu", (unsigned long long)a, (unsigned long long)b);
    if (ct_zip_writer_add(zw, ".data/serialization_id", sid, 40)) goto fail;
    pwriter_free(&w);
    return 0;
fail:
    pwriter_free(&w);
    return -1;
}

/* ------------------------------------------------------------------ tables */

static const char *const storage_names[CT_NUM_DTYPES] = {
    [CT_BOOL] = "BoolStorage", [CT_UINT8] = "ByteStorage", [CT_INT8] = "CharStorage",
    [CT_INT16] = "ShortStorage", [CT_INT32] = "IntStorage", [CT_INT64] = "LongStorage",
    [CT_FLOAT16] = "HalfStorage", [CT_BFLOAT16] = "BFloat16Storage", [CT_FLOAT32] = "FloatStorage",
    [CT_FLOAT64] = "DoubleStorage"};

const char *ct_storage_class_name(int dtype) { return storage_names[dtype]; }

int ct_storage_class_dtype(const char *name) {
    for (int d = 0; d < CT_NUM_DTYPES; d++)
        if (strcmp(name, storage_names[d]) == 0) return d;
    if (strcmp(name, "UntypedStorage") == 0) return CT_UINT8;
    return strstr(name, "Storage") ? -2 : -1;
}

int ct_dtype_from_torch_name(const char *n) {
    static const struct { const char *name; int dtype; } t[] = {
        {"bool", CT_BOOL}, {"uint8", CT_UINT8}, {"int8", CT_INT8}, {"int16", CT_INT16}, {"short", CT_INT16},
        {"int32", CT_INT32}, {"int", CT_INT32}, {"int64", CT_INT64}, {"long", CT_INT64}, {"float16", CT_FLOAT16},
        {"half", CT_FLOAT16}, {"bfloat16", CT_BFLOAT16}, {"float32", CT_FLOAT32}, {"float", CT_FLOAT32},
        {"float64", CT_FLOAT64}, {"double", CT_FLOAT64}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(n, t[i].name) == 0) return t[i].dtype;
    return -1;
}
