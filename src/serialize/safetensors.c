/* safetensors (FORMATS.md 3): a validating header parser (a small JSON reader that accepts
 * exactly the shapes the format allows), lazy per-tensor reads over a mapped file, and a
 * writer that reproduces the reference implementation's bytes. */
#include <stdio.h>
#include <unistd.h>

#include "serialize_internal.h"

static const struct { const char *name; int bits; int ct; } st_dtypes[] = {
    {"BOOL", 8, CT_BOOL},     {"U8", 8, CT_UINT8},     {"I8", 8, CT_INT8},          {"I16", 16, CT_INT16},
    {"U16", 16, -1},          {"F16", 16, CT_FLOAT16}, {"BF16", 16, CT_BFLOAT16},   {"I32", 32, CT_INT32},
    {"U32", 32, -1},          {"F32", 32, CT_FLOAT32}, {"F64", 64, CT_FLOAT64},     {"I64", 64, CT_INT64},
    {"U64", 64, -1},          {"C64", 64, -1},         {"F8_E5M2", 8, -1},          {"F8_E4M3", 8, -1},
    {"F8_E4M3FNUZ", 8, -1},   {"F8_E5M2FNUZ", 8, -1},  {"F8_E8M0", 8, -1},          {"F4", 4, -1},
    {"F6_E2M3", 6, -1},       {"F6_E3M2", 6, -1},      {NULL, 0, -1}};

static const char *st_name_of(int ct) {
    for (int i = 0; st_dtypes[i].name; i++)
        if (st_dtypes[i].ct == ct) return st_dtypes[i].name;
    return NULL;
}

struct ct_st_file {
    const unsigned char *data; /* tensor buffer */
    size_t data_len;
    ct_mapping *map;
    ct_st_entry *ents;
    size_t n, cap;
    const ct_st_entry **by_name;
    char **mkeys, **mvals;
    size_t nm, mcap;
};

static void *sterr(const char *msg) { return ct_error(CT_ERR_RUNTIME, "[safetensors] invalid file: %s", msg); }

/* ------------------------------------------------------------------ JSON */

typedef struct jp {
    const unsigned char *s, *e;
} jp;

static void ws(jp *j) {
    while (j->s < j->e && (*j->s == ' ' || *j->s == '\t' || *j->s == '\n' || *j->s == '\r')) j->s++;
}

static int hexv(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int put_utf8(ct_buf *b, uint32_t c) {
    if (c < 0x80) return ct_buf_u8(b, c);
    if (c < 0x800) {
        ct_buf_u8(b, 0xC0 | (c >> 6));
        return ct_buf_u8(b, 0x80 | (c & 0x3F));
    }
    if (c < 0x10000) {
        ct_buf_u8(b, 0xE0 | (c >> 12));
        ct_buf_u8(b, 0x80 | ((c >> 6) & 0x3F));
        return ct_buf_u8(b, 0x80 | (c & 0x3F));
    }
    ct_buf_u8(b, 0xF0 | (c >> 18));
    ct_buf_u8(b, 0x80 | ((c >> 12) & 0x3F));
    ct_buf_u8(b, 0x80 | ((c >> 6) & 0x3F));
    return ct_buf_u8(b, 0x80 | (c & 0x3F));
}

static int read4(jp *j, uint32_t *out) {
    if (j->e - j->s < 4) return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexv(j->s[i]);
        if (h < 0) return -1;
        v = v * 16 + (uint32_t)h;
    }
    j->s += 4;
    *out = v;
    return 0;
}

/* A JSON string into a malloc'ed NUL-terminated buffer (no embedded NULs allowed). */
static char *jstr(jp *j) {
    ws(j);
    if (j->s >= j->e || *j->s != '"') return sterr("expected a string in the header");
    j->s++;
    ct_buf b = {0};
    while (j->s < j->e && *j->s != '"') {
        unsigned c = *j->s++;
        if (c < 0x20) goto bad;
        if (c != '\\') {
            ct_buf_u8(&b, c);
            continue;
        }
        if (j->s >= j->e) goto bad;
        c = *j->s++;
        switch (c) {
        case '"': case '\\': case '/': ct_buf_u8(&b, c); break;
        case 'b': ct_buf_u8(&b, '\b'); break;
        case 'f': ct_buf_u8(&b, '\f'); break;
        case 'n': ct_buf_u8(&b, '\n'); break;
        case 'r': ct_buf_u8(&b, '\r'); break;
        case 't': ct_buf_u8(&b, '\t'); break;
        case 'u': {
            uint32_t cp, lo;
            if (read4(j, &cp)) goto bad;
            if (cp >= 0xD800 && cp < 0xDC00) {
                if (j->e - j->s < 6 || j->s[0] != '\\' || j->s[1] != 'u') goto bad;
                j->s += 2;
                if (read4(j, &lo) || lo < 0xDC00 || lo >= 0xE000) goto bad;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp < 0xE000) goto bad;
            if (cp == 0) goto bad;
            put_utf8(&b, cp);
            break;
        }
        default: goto bad;
        }
    }
    if (j->s >= j->e) goto bad;
    j->s++;
    ct_buf_u8(&b, 0);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    if (strlen((char *)b.p) != b.n - 1) {
        free(b.p);
        return sterr("NUL character in a header string");
    }
    return (char *)b.p;
bad:
    free(b.p);
    return sterr("malformed string in the header");
}

static int jlit(jp *j, char c) {
    ws(j);
    if (j->s < j->e && *j->s == c) {
        j->s++;
        return 1;
    }
    return 0;
}

static int juint(jp *j, uint64_t *out) {
    ws(j);
    if (j->s >= j->e || *j->s < '0' || *j->s > '9') return -1;
    if (*j->s == '0' && j->e - j->s > 1 && j->s[1] >= '0' && j->s[1] <= '9') return -1;
    uint64_t v = 0;
    while (j->s < j->e && *j->s >= '0' && *j->s <= '9') {
        if (v > (UINT64_MAX - 9) / 10) return -1;
        v = v * 10 + (uint64_t)(*j->s++ - '0');
    }
    if (j->s < j->e && (*j->s == '.' || *j->s == 'e' || *j->s == 'E')) return -1;
    *out = v;
    return 0;
}

static int juint_array(jp *j, uint64_t *out, int max, int *n) {
    if (!jlit(j, '[')) return -1;
    *n = 0;
    if (jlit(j, ']')) return 0;
    do {
        if (*n >= max) return -2;
        if (juint(j, &out[(*n)++])) return -1;
    } while (jlit(j, ','));
    return jlit(j, ']') ? 0 : -1;
}

static int parse_entry(jp *j, ct_st_entry *e) {
    if (!jlit(j, '{')) return -1;
    int have_dtype = 0, have_shape = 0, have_off = 0;
    if (!jlit(j, '}')) {
        do {
            char *k = jstr(j);
            if (!k) return -1;
            if (!jlit(j, ':')) {
                free(k);
                return -1;
            }
            int rc = 0;
            if (strcmp(k, "dtype") == 0 && !have_dtype) {
                char *v = jstr(j);
                if (!v) rc = -1;
                else {
                    rc = -1;
                    for (int i = 0; st_dtypes[i].name; i++)
                        if (strcmp(v, st_dtypes[i].name) == 0) {
                            strcpy(e->dtype, v);
                            e->ct_dtype = st_dtypes[i].ct;
                            rc = 0;
                        }
                    if (rc) sterr("unknown dtype");
                    free(v);
                }
                have_dtype = 1;
            } else if (strcmp(k, "shape") == 0 && !have_shape) {
                uint64_t sh[CT_MAX_DIM];
                int n;
                int r = juint_array(j, sh, CT_MAX_DIM, &n);
                if (r == -2) rc = -1, sterr("too many dimensions");
                else if (r) rc = -1, sterr("bad shape");
                else {
                    e->ndim = n;
                    for (int i = 0; i < n; i++) {
                        if (sh[i] > (uint64_t)INT64_MAX) rc = -1, sterr("bad shape");
                        e->shape[i] = (int64_t)sh[i];
                    }
                }
                have_shape = 1;
            } else if (strcmp(k, "data_offsets") == 0 && !have_off) {
                uint64_t o[2];
                int n;
                if (juint_array(j, o, 2, &n) || n != 2) rc = -1, sterr("bad data_offsets");
                else {
                    e->begin = o[0];
                    e->end = o[1];
                }
                have_off = 1;
            } else {
                rc = -1;
                sterr("unexpected or repeated field in a tensor entry");
            }
            free(k);
            if (rc) return -1;
        } while (jlit(j, ','));
        if (!jlit(j, '}')) return -1;
    }
    if (!have_dtype || !have_shape || !have_off) return sterr("tensor entry lacks dtype, shape or data_offsets"), -1;
    return 0;
}

static int cmp_ent_name(const void *a, const void *b) {
    return strcmp((*(const ct_st_entry *const *)a)->name, (*(const ct_st_entry *const *)b)->name);
}
static int cmp_cstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int cmp_begin(const void *a, const void *b) {
    const ct_st_entry *x = *(const ct_st_entry *const *)a, *y = *(const ct_st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int parse_header(ct_st_file *f, const unsigned char *h, size_t n) {
    jp j = {h, h + n};
    ws(&j);
    if (!jlit(&j, '{')) return sterr("header is not a JSON object"), -1;
    int have_meta = 0;
    if (!jlit(&j, '}')) {
        do {
            char *k = jstr(&j);
            if (!k) return -1;
            if (!jlit(&j, ':')) {
                free(k);
                return sterr("malformed header JSON"), -1;
            }
            if (strcmp(k, "__metadata__") == 0) {
                free(k);
                if (have_meta) return sterr("duplicate __metadata__"), -1;
                have_meta = 1;
                if (!jlit(&j, '{')) return sterr("__metadata__ must be an object of strings"), -1;
                if (!jlit(&j, '}')) {
                    do {
                        char *mk = jstr(&j), *mv = NULL;
                        if (!mk) return -1;
                        if (!jlit(&j, ':') || !(mv = jstr(&j))) {
                            free(mk);
                            if (!ct_last_error()[0] || 1) sterr("__metadata__ values must be strings");
                            return -1;
                        }
                        if (f->nm == f->mcap) {
                            size_t cap = f->mcap ? 2 * f->mcap : 8;
                            char **a = realloc(f->mkeys, cap * sizeof *a);
                            if (a) f->mkeys = a;
                            char **b = realloc(f->mvals, cap * sizeof *b);
                            if (b) f->mvals = b;
                            if (!a || !b) {
                                free(mk);
                                free(mv);
                                return ct_errorf(CT_ERR_MEMORY, "[safetensors] out of memory");
                            }
                            f->mcap = cap;
                        }
                        f->mkeys[f->nm] = mk;
                        f->mvals[f->nm++] = mv;
                    } while (jlit(&j, ','));
                    if (!jlit(&j, '}')) return sterr("malformed __metadata__"), -1;
                }
                continue;
            }
            if (f->n == f->cap) {
                size_t cap = f->cap ? 2 * f->cap : 16;
                ct_st_entry *ne = realloc(f->ents, cap * sizeof *ne);
                if (!ne) {
                    free(k);
                    return ct_errorf(CT_ERR_MEMORY, "[safetensors] out of memory");
                }
                f->ents = ne;
                f->cap = cap;
            }
            ct_st_entry *e = &f->ents[f->n];
            memset(e, 0, sizeof *e);
            e->name = k;
            f->n++;
            if (parse_entry(&j, e)) {
                if (!ct_last_error()[0]) sterr("malformed tensor entry");
                return -1;
            }
        } while (jlit(&j, ','));
        if (!jlit(&j, '}')) return sterr("malformed header JSON"), -1;
    }
    ws(&j);
    if (j.s != j.e) return sterr("trailing bytes after the header JSON"), -1;
    /* duplicates, found by sorting (a hostile header may hold millions of names) */
    f->by_name = malloc((f->n ? f->n : 1) * sizeof *f->by_name);
    if (!f->by_name) return ct_errorf(CT_ERR_MEMORY, "[safetensors] out of memory");
    for (size_t i = 0; i < f->n; i++) f->by_name[i] = &f->ents[i];
    qsort(f->by_name, f->n, sizeof *f->by_name, cmp_ent_name);
    for (size_t i = 1; i < f->n; i++)
        if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0) return sterr("duplicate tensor name"), -1;
    if (f->nm > 1) {
        char **ks = malloc(f->nm * sizeof *ks);
        if (!ks) return ct_errorf(CT_ERR_MEMORY, "[safetensors] out of memory");
        memcpy(ks, f->mkeys, f->nm * sizeof *ks);
        qsort(ks, f->nm, sizeof *ks, cmp_cstr);
        int dup = 0;
        for (size_t i = 1; i < f->nm; i++) dup |= strcmp(ks[i - 1], ks[i]) == 0;
        free(ks);
        if (dup) return sterr("duplicate key in __metadata__"), -1;
    }
    return 0;
}

static ct_st_file *st_validate(ct_st_file *f, const unsigned char *d, size_t len) {
    if (len < 8) return sterr("file shorter than 8 bytes");
    uint64_t N = ct_rd64(d);
    if (N > 100000000) return sterr("header too large");
    if (N > len - 8) return sterr("header length exceeds the file");
    /* the JSON must be UTF-8 */
    const unsigned char *h = d + 8;
    for (size_t i = 0; i < N;) {
        unsigned c = h[i];
        if (c < 0x80) { i++; continue; }
        size_t k = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC2 ? 1 : 0;
        if (!k || c > 0xF4 || N - i <= k) return sterr("header is not UTF-8");
        for (size_t q = 1; q <= k; q++)
            if ((h[i + q] & 0xC0) != 0x80) return sterr("header is not UTF-8");
        i += k + 1;
    }
    if (N == 0 || h[0] != '{') return sterr("header must start with '{'");
    ct_clear_error();
    if (parse_header(f, h, (size_t)N)) {
        if (!ct_last_error()[0]) sterr("malformed header");
        return NULL;
    }
    f->data = d + 8 + N;
    f->data_len = len - 8 - (size_t)N;
    const ct_st_entry **order = malloc((f->n ? f->n : 1) * sizeof *order);
    if (!order) return ct_error(CT_ERR_MEMORY, "[safetensors] out of memory");
    for (size_t i = 0; i < f->n; i++) order[i] = &f->ents[i];
    qsort(order, f->n, sizeof *order, cmp_begin);
    uint64_t at = 0;
    for (size_t i = 0; i < f->n; i++) {
        const ct_st_entry *e = order[i];
        int bits = 0;
        for (int k = 0; st_dtypes[k].name; k++)
            if (strcmp(st_dtypes[k].name, e->dtype) == 0) bits = st_dtypes[k].bits;
        uint64_t numel = 1, nbits;
        int ovf = 0;
        for (int k = 0; k < e->ndim; k++) ovf |= __builtin_mul_overflow(numel, (uint64_t)e->shape[k], &numel);
        ovf |= __builtin_mul_overflow(numel, (uint64_t)bits, &nbits);
        if (e->begin != at || e->end < e->begin) {
            free(order);
            return sterr("tensor data offsets are not contiguous from 0 (gap or overlap)");
        }
        if (ovf || nbits % 8 || e->end - e->begin != nbits / 8) {
            free(order);
            return sterr("tensor byte size does not match its shape and dtype");
        }
        at = e->end;
    }
    free(order);
    if (at != f->data_len) return sterr("data buffer size does not match the header (trailing or missing bytes)");
    return f;
}

void ct_st_close(ct_st_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) free(f->ents[i].name);
    for (size_t i = 0; i < f->nm; i++) {
        free(f->mkeys[i]);
        free(f->mvals[i]);
    }
    free(f->ents);
    free(f->by_name);
    free(f->mkeys);
    free(f->mvals);
    ct_mapping_release(f->map);
    free(f);
}

ct_st_file *ct_st_open_mem(const void *data, size_t len) {
    ct_st_file *f = calloc(1, sizeof *f);
    if (!f) return ct_error(CT_ERR_MEMORY, "[safetensors] out of memory");
    if (!st_validate(f, data, len)) {
        ct_st_close(f);
        return NULL;
    }
    return f;
}

ct_st_file *ct_st_open_file(const char *path) {
    ct_mapping *m = ct_mapping_open(path);
    if (!m) return NULL;
    ct_st_file *f = calloc(1, sizeof *f);
    if (!f) {
        ct_mapping_release(m);
        return ct_error(CT_ERR_MEMORY, "[safetensors] out of memory");
    }
    f->map = m;
    if (!st_validate(f, m->base, m->len)) {
        ct_st_close(f);
        return NULL;
    }
    return f;
}

size_t ct_st_count(const ct_st_file *f) { return f->n; }
const ct_st_entry *ct_st_entry_at(const ct_st_file *f, size_t i) { return i < f->n ? &f->ents[i] : NULL; }
const ct_st_entry *ct_st_find(const ct_st_file *f, const char *name) {
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(f->by_name[mid]->name, name);
        if (c == 0) return f->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}
size_t ct_st_metadata_count(const ct_st_file *f) { return f->nm; }
int ct_st_metadata_at(const ct_st_file *f, size_t i, const char **key, const char **val) {
    if (i >= f->nm) return -1;
    *key = f->mkeys[i];
    *val = f->mvals[i];
    return 0;
}

ct_tensor *ct_st_get_tensor(ct_st_file *f, const char *name, bool share) {
    const ct_st_entry *e = ct_st_find(f, name);
    if (!e) return ct_error(CT_ERR_KEY, "[safetensors] no tensor named '%s'", name);
    if (e->ct_dtype < 0) return ct_error(CT_ERR_TYPE, "[safetensors] dtype %s of '%s' is not supported by ctorch", e->dtype, name);
    size_t nb = (size_t)(e->end - e->begin);
    const unsigned char *p = f->data + e->begin;
    ct_storage *s = NULL;
    if (f->map) s = ct_mapping_storage(f->map, p, nb, share);
    else {
        s = ct_storage_new(nb);
        if (s && nb) memcpy(ct_storage_data(s), p, nb);
    }
    if (!s) return NULL;
    ct_tensor *t = ct_tensor_new_view(s, e->ct_dtype, 0, e->shape, NULL, e->ndim);
    ct_storage_release(s);
    return t;
}

/* ------------------------------------------------------------------ writer */

static void jput_str(ct_buf *b, const char *s) {
    ct_buf_u8(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned c = *p;
        switch (c) {
        case '"': ct_buf_put(b, "\\\"", 2); break;
        case '\\': ct_buf_put(b, "\\\\", 2); break;
        case '\b': ct_buf_put(b, "\\b", 2); break;
        case '\f': ct_buf_put(b, "\\f", 2); break;
        case '\n': ct_buf_put(b, "\\n", 2); break;
        case '\r': ct_buf_put(b, "\\r", 2); break;
        case '\t': ct_buf_put(b, "\\t", 2); break;
        default:
            if (c < 0x20) {
                char esc[8];
                snprintf(esc, sizeof esc, "\\u%04x", c);
                ct_buf_put(b, esc, 6);
            } else ct_buf_u8(b, c);
        }
    }
    ct_buf_u8(b, '"');
}

typedef struct st_item {
    const char *name;
    ct_tensor *t; /* contiguous, new reference */
} st_item;

/* The reference writer orders tensors by its dtype enum, descending (which groups them by
 * alignment: 8-byte types first), then by name. Ranks of ctorch's dtypes in that enum: */
static int st_rank(int ct) {
    static const int r[CT_NUM_DTYPES] = {[CT_BOOL] = 0,     [CT_UINT8] = 4,    [CT_INT8] = 5,
                                         [CT_INT16] = 9,    [CT_FLOAT16] = 11, [CT_BFLOAT16] = 12,
                                         [CT_INT32] = 13,   [CT_FLOAT32] = 15, [CT_FLOAT64] = 17,
                                         [CT_INT64] = 18};
    return r[ct];
}

static int cmp_items(const void *a, const void *b) {
    const st_item *x = a, *y = b;
    int rx = st_rank(x->t->dtype), ry = st_rank(y->t->dtype);
    if (rx != ry) return rx > ry ? -1 : 1;
    return strcmp(x->name, y->name);
}

int ct_st_save(const char *path, const char *const *names, ct_tensor *const *tensors, size_t n,
               const char *const *meta_keys, const char *const *meta_vals, size_t n_meta, void **out, size_t *out_len) {
    st_item *items = calloc(n ? n : 1, sizeof *items);
    ct_buf h = {0}, all = {0};
    int rc = -1, fd = -1;
    char *tmp = NULL;
    if (!items) return ct_errorf(CT_ERR_MEMORY, "[safetensors] out of memory");
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], "__metadata__") == 0) {
            ct_errorf(CT_ERR_VALUE, "[safetensors] '__metadata__' cannot name a tensor");
            goto done;
        }
        items[i].name = names[i];
        items[i].t = ct_contig_as(tensors[i], -1);
        if (!items[i].t) goto done;
    }
    qsort(items, n, sizeof *items, cmp_items);
    {
        const char **sorted = malloc((n ? n : 1) * sizeof *sorted);
        if (!sorted) {
            ct_errorf(CT_ERR_MEMORY, "[safetensors] out of memory");
            goto done;
        }
        memcpy(sorted, names, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, cmp_cstr);
        for (size_t i = 1; i < n; i++)
            if (strcmp(sorted[i - 1], sorted[i]) == 0) {
                ct_errorf(CT_ERR_VALUE, "[safetensors] duplicate tensor name '%s'", sorted[i]);
                free(sorted);
                goto done;
            }
        free(sorted);
    }
    ct_buf_u8(&h, '{');
    int first = 1;
    if (n_meta) {
        ct_buf_put(&h, "\"__metadata__\":{", 16);
        for (size_t i = 0; i < n_meta; i++) {
            if (i) ct_buf_u8(&h, ',');
            jput_str(&h, meta_keys[i]);
            ct_buf_u8(&h, ':');
            jput_str(&h, meta_vals[i]);
        }
        ct_buf_u8(&h, '}');
        first = 0;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        ct_tensor *t = items[i].t;
        if (!first) ct_buf_u8(&h, ',');
        first = 0;
        jput_str(&h, items[i].name);
        char tmpb[64];
        snprintf(tmpb, sizeof tmpb, ":{\"dtype\":\"%s\",\"shape\":[", st_name_of(t->dtype));
        ct_buf_put(&h, tmpb, strlen(tmpb));
        for (int d = 0; d < t->ndim; d++) {
            snprintf(tmpb, sizeof tmpb, d ? ",%lld" : "%lld", (long long)t->sizes[d]);
            ct_buf_put(&h, tmpb, strlen(tmpb));
        }
        uint64_t nb = (uint64_t)t->numel * ct_dtype_size(t->dtype);
        snprintf(tmpb, sizeof tmpb, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                 (unsigned long long)(off + nb));
        ct_buf_put(&h, tmpb, strlen(tmpb));
        off += nb;
    }
    ct_buf_u8(&h, '}');
    while (h.n % 8) ct_buf_u8(&h, ' ');
    if (h.failed) goto done;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
    if (path) {
        fd = ct_atomic_open(path, &tmp);
        if (fd < 0) goto done;
        if (ct_write_all(fd, len8, 8) || ct_write_all(fd, h.p, h.n)) goto done;
        for (size_t i = 0; i < n; i++)
            if (ct_write_all(fd, ct_tensor_data(items[i].t), (size_t)items[i].t->numel * ct_dtype_size(items[i].t->dtype)))
                goto done;
        int cfd = fd;
        fd = -1;
        if (ct_atomic_commit(cfd, tmp, path)) goto done;
    } else {
        ct_buf_put(&all, len8, 8);
        ct_buf_put(&all, h.p, h.n);
        for (size_t i = 0; i < n; i++)
            ct_buf_put(&all, ct_tensor_data(items[i].t), (size_t)items[i].t->numel * ct_dtype_size(items[i].t->dtype));
        if (all.failed) goto done;
        *out = all.p;
        *out_len = all.n;
        all.p = NULL;
    }
    rc = 0;
done:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    free(tmp);
    for (size_t i = 0; i < n; i++) ct_tensor_release(items[i].t);
    free(items);
    free(h.p);
    free(all.p);
    return rc;
}
