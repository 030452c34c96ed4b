/* ct_save / ct_load: the checkpoint formats of PyTorch around the pickle layer: the ZIP
 * archive (FORMATS.md 2.1-2.3) for both directions and the legacy pre-1.6 stream (2.10)
 * for reading, plus state-dict helpers for C programs. */
#include <stdio.h>

#include "serialize_internal.h"

/* ------------------------------------------------------------------ save */

static int save_to(const char *path, const ct_value *value, void **out, size_t *out_len) {
    if (!value) return ct_errorf(CT_ERR_VALUE, "[save] NULL value");
    ct_zip_writer *w = ct_zip_writer_new(path, "archive");
    if (!w) return -1;
    if (ct_pickle_to_zip(w, value)) {
        ct_zip_writer_abort(w);
        return -1;
    }
    return ct_zip_writer_finish(w, out, out_len);
}

int ct_save(const char *path, const ct_value *value) {
    if (!path) return ct_errorf(CT_ERR_VALUE, "[save] NULL path");
    return save_to(path, value, NULL, NULL);
}

int ct_save_buffer(const ct_value *value, void **out, size_t *out_len) { return save_to(NULL, value, out, out_len); }

/* ------------------------------------------------------------------ ZIP load */

typedef struct zip_loader {
    const ct_load_options *opts;
    ct_zip_reader *r;
    bool share, big_endian;
    struct { char *key; ct_storage *s; } *cache;
    size_t n, cap;
    ct_strmap index;
} zip_loader;

static void byteswap(void *p, size_t nbytes, size_t es) {
    unsigned char *c = p;
    for (size_t i = 0; i + es <= nbytes; i += es)
        for (size_t a = 0, b = es - 1; a < b; a++, b--) {
            unsigned char t = c[i + a];
            c[i + a] = c[i + b];
            c[i + b] = t;
        }
}

/* Applies opts->map_storage to a freshly read storage s (consumed); new reference or NULL. */
static ct_storage *map_storage(const ct_load_options *opts, ct_storage *s, const char *location) {
    if (!opts || !opts->map_storage) return s;
    ct_storage *m = opts->map_storage(opts->map_ctx, s, location ? location : "");
    size_t need = ct_storage_nbytes(s);
    ct_storage_release(s);
    if (m && ct_storage_nbytes(m) < need) {
        size_t got = ct_storage_nbytes(m);
        ct_storage_release(m);
        return ct_error(CT_ERR_RUNTIME, "[load] map_location returned a storage of %zu bytes for a record of %zu bytes",
                        got, need);
    }
    return m;
}

static ct_storage *zip_load_storage(void *ctx, const char *key, int dtype, uint64_t numel, const char *where) {
    zip_loader *L = ctx;
    size_t i = ct_strmap_get(&L->index, key);
    if (i != (size_t)-1) {
        if (numel * ct_dtype_size(dtype) > ct_storage_nbytes(L->cache[i].s))
            return ct_error(CT_ERR_RUNTIME, "[load] storage '%s' is used with a larger size than its record", key);
        ct_storage_retain(L->cache[i].s);
        return L->cache[i].s;
    }
    char name[96];
    snprintf(name, sizeof name, "data/%s", key);
    const void *p;
    size_t len;
    if (ct_zip_reader_find(L->r, name, &p, &len))
        return ct_error(CT_ERR_RUNTIME, "[load] invalid checkpoint archive: record '%s' is missing", name);
    uint64_t need;
    if (__builtin_mul_overflow(numel, (uint64_t)ct_dtype_size(dtype), &need) || need > len)
        return ct_error(CT_ERR_RUNTIME,
                        "[load] invalid checkpoint archive: record '%s' holds %zu bytes but its storage declares "
                        "%llu elements of %zu bytes",
                        name, len, (unsigned long long)numel, ct_dtype_size(dtype));
    ct_storage *s = ct_zip_reader_storage(L->r, name, L->share && !L->big_endian);
    if (!s) return NULL;
    if (L->big_endian) byteswap(ct_storage_data(s), ct_storage_nbytes(s), ct_dtype_size(dtype));
    s = map_storage(L->opts, s, where);
    if (!s) return NULL;
    if (L->n == L->cap) {
        size_t cap = L->cap ? 2 * L->cap : 16;
        void *nc = realloc(L->cache, cap * sizeof *L->cache);
        if (!nc) {
            ct_storage_release(s);
            return ct_error(CT_ERR_MEMORY, "[load] out of memory");
        }
        L->cache = nc;
        L->cap = cap;
    }
    L->cache[L->n].key = strdup(key);
    if (!L->cache[L->n].key) {
        ct_storage_release(s);
        return ct_error(CT_ERR_MEMORY, "[load] out of memory");
    }
    L->cache[L->n].s = s;
    if (ct_strmap_put(&L->index, L->cache[L->n].key, L->n)) {
        free(L->cache[L->n].key);
        ct_storage_release(s);
        return NULL;
    }
    L->n++;
    ct_storage_retain(s);
    return s;
}

ct_value *ct_unpickle_zip(ct_zip_reader *r, const ct_load_options *opts) {
    const void *pkl;
    size_t len;
    if (ct_zip_reader_find(r, "data.pkl", &pkl, &len))
        return ct_error(CT_ERR_RUNTIME, "[load] invalid checkpoint archive: no data.pkl record");
    const void *cp;
    size_t cl;
    if (!ct_zip_reader_find(r, "constants.pkl", &cp, &cl))
        return ct_error(CT_ERR_RUNTIME, "[load] TorchScript archives are not supported");
    zip_loader L;
    memset(&L, 0, sizeof L);
    L.opts = opts;
    L.r = r;
    L.share = opts && opts->mmap;
    const void *bo;
    size_t bl;
    if (!ct_zip_reader_find(r, "byteorder", &bo, &bl)) {
        if (bl == 3 && memcmp(bo, "big", 3) == 0) L.big_endian = true;
        else if (!(bl == 6 && memcmp(bo, "little", 6) == 0))
            return ct_error(CT_ERR_RUNTIME, "[load] invalid checkpoint archive: unknown byteorder");
    }
    ct_unpickle_ctx ctx = {opts, zip_load_storage, &L, 0};
    size_t pos = 0;
    ct_value *v = ct_unpickle(pkl, len, &pos, &ctx);
    for (size_t i = 0; i < L.n; i++) {
        free(L.cache[i].key);
        ct_storage_release(L.cache[i].s);
    }
    free(L.cache);
    ct_strmap_free(&L.index);
    return v;
}

/* ------------------------------------------------------------------ legacy load */

typedef struct legacy_loader {
    const ct_load_options *opts;
    size_t budget; /* bytes the file can still justify */
    struct { char *key; ct_storage *s; int dtype; uint64_t numel; int filled; } *st;
    size_t n, cap;
    ct_strmap index;
} legacy_loader;

static ct_storage *legacy_load_storage(void *ctx, const char *key, int dtype, uint64_t numel, const char *where) {
    legacy_loader *L = ctx;
    size_t i = ct_strmap_get(&L->index, key);
    if (i != (size_t)-1) {
        if (numel > L->st[i].numel || dtype != L->st[i].dtype)
            return ct_error(CT_ERR_UNPICKLING, "[load] storage '%s' declared twice differently", key);
        ct_storage_retain(L->st[i].s);
        return L->st[i].s;
    }
    uint64_t nb;
    if (__builtin_mul_overflow(numel, (uint64_t)ct_dtype_size(dtype), &nb) || nb > L->budget)
        return ct_error(CT_ERR_RUNTIME, "[load] invalid legacy checkpoint: storage '%s' is larger than the file", key);
    L->budget -= nb;
    if (L->n == L->cap) {
        size_t cap = L->cap ? 2 * L->cap : 16;
        void *ns = realloc(L->st, cap * sizeof *L->st);
        if (!ns) return ct_error(CT_ERR_MEMORY, "[load] out of memory");
        L->st = ns;
        L->cap = cap;
    }
    ct_storage *s = ct_storage_new((size_t)nb);
    if (!s) return NULL;
    memset(ct_storage_data(s), 0, (size_t)nb);
    s = map_storage(L->opts, s, where);
    if (!s) return NULL;
    L->st[L->n].key = strdup(key);
    if (!L->st[L->n].key) {
        ct_storage_release(s);
        return ct_error(CT_ERR_MEMORY, "[load] out of memory");
    }
    L->st[L->n].s = s;
    L->st[L->n].dtype = dtype;
    L->st[L->n].numel = numel;
    L->st[L->n].filled = 0;
    if (ct_strmap_put(&L->index, L->st[L->n].key, L->n)) {
        free(L->st[L->n].key);
        ct_storage_release(s);
        return NULL;
    }
    L->n++;
    ct_storage_retain(s);
    return s;
}

static ct_storage *no_storage(void *ctx, const char *key, int dtype, uint64_t numel, const char *where) {
    (void)ctx, (void)key, (void)dtype, (void)numel, (void)where;
    return ct_error(CT_ERR_UNPICKLING, "[load] unexpected persistent id in a legacy header pickle");
}

static const unsigned char legacy_magic[15] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                               0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};

static ct_value *load_legacy(const unsigned char *d, size_t len, const ct_load_options *opts) {
    if (len < sizeof legacy_magic || memcmp(d, legacy_magic, sizeof legacy_magic) != 0) {
        if (len >= 262 && memcmp(d + 257, "ustar", 5) == 0)
            return ct_error(CT_ERR_RUNTIME, "[load] tar-based checkpoints (PyTorch < 0.4) are not supported");
        return ct_error(CT_ERR_RUNTIME, "[load] not a checkpoint: neither a ZIP archive nor a legacy torch.save stream");
    }
    size_t pos = sizeof legacy_magic;
    ct_unpickle_ctx hctx = {opts, no_storage, NULL, 0};
    ct_value *ver = ct_unpickle(d, len, &pos, &hctx);
    if (!ver) return NULL;
    int ok = ver->kind == CT_VAL_INT && ver->u.i == 1001;
    ct_value_release(ver);
    if (!ok) return ct_error(CT_ERR_RUNTIME, "[load] invalid legacy checkpoint: unsupported protocol version");
    ct_value *sys = ct_unpickle(d, len, &pos, &hctx);
    if (!sys) return NULL;
    ct_value *le = ct_value_dict_get_str(sys, "little_endian");
    int big = le && le->kind == CT_VAL_BOOL && !le->u.b;
    ct_value_release(sys);
    legacy_loader L;
    memset(&L, 0, sizeof L);
    L.budget = len - pos;
    L.opts = opts;
    ct_unpickle_ctx ctx = {opts, legacy_load_storage, &L, 1};
    ct_value *root = ct_unpickle(d, len, &pos, &ctx);
    ct_value *keys = NULL;
    if (!root) goto fail;
    keys = ct_unpickle(d, len, &pos, &hctx);
    if (!keys) goto fail;
    if (keys->kind != CT_VAL_LIST) {
        ct_error(CT_ERR_RUNTIME, "[load] invalid legacy checkpoint: storage key list missing");
        goto fail;
    }
    for (size_t k = 0; k < keys->u.seq.n; k++) {
        const ct_value *kv = keys->u.seq.items[k];
        if (kv->kind != CT_VAL_STR && kv->kind != CT_VAL_BYTES) {
            ct_error(CT_ERR_RUNTIME, "[load] invalid legacy checkpoint: bad storage key");
            goto fail;
        }
        size_t i = strlen(kv->u.s.data) == kv->u.s.len ? ct_strmap_get(&L.index, kv->u.s.data) : (size_t)-1;
        if (i == (size_t)-1 || L.st[i].filled) {
            ct_error(CT_ERR_RUNTIME, "[load] invalid legacy checkpoint: unknown or repeated storage key");
            goto fail;
        }
        if (len - pos < 8) {
            ct_error(CT_ERR_RUNTIME, "[load] invalid legacy checkpoint: truncated storage data");
            goto fail;
        }
        uint64_t count = ct_rd64(d + pos);
        pos += 8;
        size_t es = ct_dtype_size(L.st[i].dtype);
        if (count != L.st[i].numel || count > (len - pos) / es) {
            ct_error(CT_ERR_RUNTIME, "[load] invalid legacy checkpoint: storage size mismatch or truncated data");
            goto fail;
        }
        memcpy(ct_storage_data(L.st[i].s), d + pos, (size_t)count * es);
        if (big) byteswap(ct_storage_data(L.st[i].s), (size_t)count * es, es);
        pos += (size_t)count * es;
        L.st[i].filled = 1;
    }
    for (size_t i = 0; i < L.n; i++)
        if (!L.st[i].filled) {
            ct_error(CT_ERR_RUNTIME, "[load] invalid legacy checkpoint: no data for storage '%s'", L.st[i].key);
            goto fail;
        }
    ct_value_release(keys);
    for (size_t i = 0; i < L.n; i++) {
        free(L.st[i].key);
        ct_storage_release(L.st[i].s);
    }
    free(L.st);
    ct_strmap_free(&L.index);
    return root;
fail:
    ct_value_release(keys);
    ct_value_release(root);
    for (size_t i = 0; i < L.n; i++) {
        free(L.st[i].key);
        ct_storage_release(L.st[i].s);
    }
    free(L.st);
    ct_strmap_free(&L.index);
    return NULL;
}

/* ------------------------------------------------------------------ load */

ct_value *ct_load_buffer(const void *data, size_t len, const ct_load_options *opts) {
    const unsigned char *d = data;
    if (len >= 4 && ct_rd32(d) == 0x04034B50) {
        ct_zip_reader *r = ct_zip_reader_open_mem(data, len);
        if (!r) return NULL;
        ct_value *v = ct_unpickle_zip(r, opts);
        ct_zip_reader_close(r);
        return v;
    }
    return load_legacy(d, len, opts);
}

ct_value *ct_load(const char *path, const ct_load_options *opts) {
    if (!path) return ct_error(CT_ERR_VALUE, "[load] NULL path");
    ct_mapping *m = ct_mapping_open(path);
    if (!m) return NULL;
    const unsigned char *d = m->base;
    ct_value *v;
    if (m->len >= 4 && ct_rd32(d) == 0x04034B50) {
        ct_mapping_release(m);
        ct_zip_reader *r = ct_zip_reader_open_file(path);
        if (!r) return NULL;
        v = ct_unpickle_zip(r, opts);
        ct_zip_reader_close(r);
    } else {
        v = load_legacy(d, m->len, opts);
        ct_mapping_release(m);
    }
    return v;
}

/* ------------------------------------------------------------------ state dicts */

int ct_save_state_dict(const char *path, const char *const *names, ct_tensor *const *tensors, size_t n) {
    ct_value *d = ct_value_dict(true);
    if (!d) return -1;
    for (size_t i = 0; i < n; i++) {
        ct_value *t = ct_value_tensor(tensors[i], false, false);
        if (!t || ct_value_dict_set_str(d, names[i], t)) {
            ct_value_release(d);
            return -1;
        }
    }
    int rc = ct_save(path, d);
    ct_value_release(d);
    return rc;
}

void ct_state_dict_free(ct_state_dict *sd) {
    if (!sd) return;
    for (size_t i = 0; i < sd->n; i++) {
        free(sd->names[i]);
        ct_tensor_release(sd->tensors[i]);
    }
    free(sd->names);
    free(sd->tensors);
    memset(sd, 0, sizeof *sd);
}

static int collect(ct_state_dict *sd, const ct_value *d, const char *prefix, int depth, size_t *cap) {
    if (depth > 64) return 0;
    for (size_t i = 0; i < d->u.dict.n; i++) {
        const ct_value *k = d->u.dict.keys[i], *v = d->u.dict.vals[i];
        if (k->kind != CT_VAL_STR) continue;
        size_t pl = strlen(prefix);
        char *name = malloc(pl + k->u.s.len + 2);
        if (!name) return ct_errorf(CT_ERR_MEMORY, "[load] out of memory");
        if (pl) {
            memcpy(name, prefix, pl);
            name[pl] = '.';
            memcpy(name + pl + 1, k->u.s.data, k->u.s.len + 1);
        } else memcpy(name, k->u.s.data, k->u.s.len + 1);
        if (v->kind == CT_VAL_TENSOR) {
            if (sd->n == *cap) {
                size_t nc = *cap ? 2 * *cap : 16;
                char **nn = realloc(sd->names, nc * sizeof *nn);
                if (nn) sd->names = nn;
                ct_tensor **nt = realloc(sd->tensors, nc * sizeof *nt);
                if (nt) sd->tensors = nt;
                if (!nn || !nt) {
                    free(name);
                    return ct_errorf(CT_ERR_MEMORY, "[load] out of memory");
                }
                *cap = nc;
            }
            sd->names[sd->n] = name;
            ct_tensor_retain(v->u.tensor);
            sd->tensors[sd->n++] = v->u.tensor;
        } else {
            int rc = v->kind == CT_VAL_DICT ? collect(sd, v, name, depth + 1, cap) : 0;
            free(name);
            if (rc) return rc;
        }
    }
    return 0;
}

int ct_load_state_dict(const char *path, ct_state_dict *out) {
    memset(out, 0, sizeof *out);
    ct_value *v = ct_load(path, NULL);
    if (!v) return -1;
    if (v->kind != CT_VAL_DICT) {
        ct_value_release(v);
        return ct_errorf(CT_ERR_TYPE, "[load] '%s' does not hold a dict", path);
    }
    size_t cap = 0;
    int rc = collect(out, v, "", 0, &cap);
    ct_value_release(v);
    if (rc) ct_state_dict_free(out);
    return rc;
}
