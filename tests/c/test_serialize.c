/* C API tests for src/serialize (run under ASan/UBSan/LSan): CRC-32 vectors, the worked
 * example of FORMATS.md 2.9 (archive layout byte for byte), value-tree round trips with
 * shared storages, hostile pickles and archives (errors, never crashes or leaks), the legacy
 * reader's bounds, and the safetensors worked example. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctorch/ctorch.h"

static int failures = 0;
#define CHECK(cond)                                                                                     \
    do {                                                                                                \
        if (!(cond)) {                                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s (%s)\n", __FILE__, __LINE__, #cond, ct_last_error()); \
            failures++;                                                                                 \
        }                                                                                               \
    } while (0)

static void test_crc(void) {
    CHECK(ct_crc32(0, "123456789", 9) == 0xCBF43926u);
    CHECK(ct_crc32(0, "3\n", 2) == 0x55679ED1u);
    CHECK(ct_crc32(0, "little", 6) == 0x19E33D85u);
    CHECK(ct_crc32(0, "64", 2) == 0xE971773Fu);
    const unsigned char f[8] = {0, 0, 0x80, 0x3f, 0, 0, 0, 0x40};
    CHECK(ct_crc32(0, f, 8) == 0x2E3FA576u);
    CHECK(ct_crc32(ct_crc32(0, "1234", 4), "56789", 5) == 0xCBF43926u);
    /* the folded (PCLMUL) and multi-threaded paths agree with a bytewise reference for every
     * alignment and many lengths, including 4 MiB chunk boundaries */
    uint32_t tab[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        tab[i] = c;
    }
    size_t big = (9u << 20) + 77;
    unsigned char *buf = malloc(big + 64);
    uint32_t seed = 12345;
    for (size_t i = 0; i < big + 64; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (unsigned char)(seed >> 16);
    }
    const size_t lens[] = {0, 1, 15, 16, 63, 64, 65, 127, 128, 200, 1000, 4097, 65536 + 3, big};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
        for (size_t off = 0; off < 64; off += (lens[li] > 100000 ? 31 : 1)) {
            uint32_t c = ~0u;
            for (size_t i = 0; i < lens[li]; i++) c = tab[(c ^ buf[off + i]) & 0xFF] ^ (c >> 8);
            CHECK(ct_crc32(0, buf + off, lens[li]) == ~c);
        }
    free(buf);
}

static ct_value *example_value(void) {
    float d[2] = {1.0f, 2.0f};
    int64_t n = 2;
    ct_tensor *t = ct_tensor_from_data(d, &n, 1, CT_FLOAT32);
    ct_value *v = ct_value_dict(false);
    ct_value_dict_set_str(v, "w", ct_value_tensor(t, false, false));
    ct_tensor_release(t);
    return v;
}

static uint32_t rd32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static void test_worked_example(void) {
    ct_value *v = example_value();
    void *buf = NULL;
    size_t len = 0;
    CHECK(ct_save_buffer(v, &buf, &len) == 0);
    CHECK(len == 1577);
    const unsigned char *b = buf;
    static const unsigned char head[0x40] = {
        0x50, 0x4b, 0x03, 0x04, 0, 0, 8, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0x12, 0,
        'a', 'r', 'c', 'h', 'i', 'v', 'e', '/', 'd', 'a', 't', 'a', '.', 'p', 'k', 'l', 'F', 'B', 0x0e, 0,
        'Z', 'Z', 'Z', 'Z', 'Z', 'Z', 'Z', 'Z', 'Z', 'Z', 'Z', 'Z', 'Z', 'Z'};
    if (len == 1577) {
        CHECK(memcmp(b, head, sizeof head) == 0);
        CHECK(b[0x40] == 0x80 && b[0x41] == 2 && b[0xE1] == '.');
        CHECK(rd32(b + 0xE2) == 0x08074B50u && rd32(b + 0xE6) == 0x8711BA3Au && rd32(b + 0xEA) == 162);
        CHECK(rd32(b + 0x2C8) == 0x08074B50u && rd32(b + 0x2CC) == 0x2E3FA576u);
        const unsigned locals[7] = {0x000, 0x0F2, 0x151, 0x1D2, 0x256, 0x2D8, 0x352};
        for (int i = 0; i < 7; i++) CHECK(rd32(b + locals[i]) == 0x04034B50u);
        CHECK(rd32(b + 0x3F8) == 0x02014B50u && rd32(b + 0x5C7) == 0x06064B50u);
        CHECK(rd32(b + 0x5FF) == 0x07064B50u && rd32(b + 0x613) == 0x06054B50u);
        CHECK(rd32(b + 0x613 + 12) == 463 && rd32(b + 0x613 + 16) == 0x3F8);
    }
    /* and it loads back */
    ct_value *r = ct_load_buffer(buf, len, NULL);
    CHECK(r && r->kind == CT_VAL_DICT);
    ct_value *w = ct_value_dict_get_str(r, "w");
    CHECK(w && w->kind == CT_VAL_TENSOR && w->u.tensor->numel == 2 && ((float *)ct_tensor_data(w->u.tensor))[1] == 2.0f);
    ct_value_release(r);
    free(buf);
    ct_value_release(v);
}

static void test_roundtrip_sharing(void) {
    int64_t sz[2] = {3, 4}, st[2] = {1, 4};
    ct_tensor *base = ct_empty(sz, 2, CT_FLOAT64);
    double *d = ct_tensor_data(base);
    for (int i = 0; i < 12; i++) d[i] = i;
    int64_t tsz[2] = {4, 3};
    ct_tensor *tr = ct_tensor_new_view(base->storage, CT_FLOAT64, 0, tsz, st, 2);
    int64_t one = 2;
    ct_tensor *slice = ct_tensor_new_view(base->storage, CT_FLOAT64, 5, &one, NULL, 1);
    ct_value *root = ct_value_dict(true), *lst = ct_value_list(), *tup = ct_value_tuple(2);
    ct_value *bt = ct_value_tensor(base, false, false);
    ct_value_dict_set_str(root, "base", bt);
    ct_value_retain(bt);
    ct_value_list_append(lst, bt); /* the same tensor twice: memoized */
    ct_value_list_append(lst, ct_value_tensor(tr, true, true));
    ct_value_list_append(lst, ct_value_int(-(1LL << 40)));
    ct_value_list_append(lst, ct_value_float(0.5));
    ct_value_list_append(lst, ct_value_str("h\xc3\xa9", (size_t)-1));
    ct_value_list_append(lst, ct_value_bytes("\0\xff", 2));
    ct_value_list_append(lst, ct_value_none());
    ct_value_list_append(lst, ct_value_dtype(CT_BFLOAT16));
    ct_value_seq_set(tup, 0, ct_value_tensor(slice, false, false));
    ct_value_seq_set(tup, 1, ct_value_bool(true));
    ct_value_dict_set_str(root, "list", lst);
    ct_value_dict_set_str(root, "tuple", tup);
    void *buf;
    size_t len;
    CHECK(ct_save_buffer(root, &buf, &len) == 0);
    ct_value *r = ct_load_buffer(buf, len, NULL);
    CHECK(r != NULL);
    if (r) {
        ct_value *rb = ct_value_dict_get_str(r, "base"), *rl = ct_value_dict_get_str(r, "list"),
                 *rt = ct_value_dict_get_str(r, "tuple");
        CHECK(r->flags & CT_VALF_ORDERED);
        CHECK(rl && rl->u.seq.n == 8 && rl->u.seq.items[0] == rb);
        ct_tensor *t2 = rl->u.seq.items[1]->u.tensor;
        CHECK(rl->u.seq.items[1]->flags & CT_VALF_PARAMETER);
        CHECK(t2->storage == rb->u.tensor->storage && t2->strides[0] == 1 && t2->strides[1] == 4);
        CHECK(rl->u.seq.items[2]->u.i == -(1LL << 40) && rl->u.seq.items[3]->u.f == 0.5);
        CHECK(strcmp(rl->u.seq.items[4]->u.s.data, "h\xc3\xa9") == 0);
        CHECK(rl->u.seq.items[5]->kind == CT_VAL_BYTES && rl->u.seq.items[5]->u.s.len == 2);
        CHECK(rl->u.seq.items[7]->kind == CT_VAL_DTYPE && rl->u.seq.items[7]->u.i == CT_BFLOAT16);
        ct_tensor *s2 = rt->u.seq.items[0]->u.tensor;
        CHECK(s2->storage == rb->u.tensor->storage && s2->offset == 5 && ((double *)ct_tensor_data(s2))[1] == 6.0);
    }
    ct_value_release(r);
    free(buf);
    ct_value_release(root);
    ct_tensor_release(base);
    ct_tensor_release(tr);
    ct_tensor_release(slice);
}

/* A stored ZIP with the given records (via the writer, so layout is valid). */
static void *archive(const char *pkl, size_t pkl_len, const void *data0, size_t n0, size_t *len) {
    ct_zip_writer *w = ct_zip_writer_new(NULL, "x");
    ct_zip_writer_add(w, "data.pkl", pkl, pkl_len);
    if (data0) ct_zip_writer_add(w, "data/0", data0, n0);
    ct_zip_writer_add(w, "version", "3\n", 2);
    void *out;
    ct_zip_writer_finish(w, &out, len);
    return out;
}

static void expect_fail(const char *pkl, size_t n, ct_error_kind kind) {
    size_t len;
    float d[2] = {1, 2};
    void *a = archive(pkl, n, d, sizeof d, &len);
    ct_value *v = ct_load_buffer(a, len, NULL);
    CHECK(v == NULL);
    CHECK(ct_last_error_kind() == kind);
    ct_value_release(v);
    ct_clear_error();
    free(a);
}

#define P(s) s, sizeof(s) - 1

static void test_hostile_pickles(void) {
    expect_fail(P("\x80\x02" "cos\nsystem\n" "X\x02\x00\x00\x00ls" "\x85R."), CT_ERR_UNPICKLING);
    expect_fail(P("\x80\x02" "cbuiltins\neval\n."), CT_ERR_UNPICKLING);
    expect_fail(P("\x80\x02]q\x00h\x00" "a."), CT_ERR_UNPICKLING);          /* self-containing list */
    expect_fail(P("\x80\x02}q\x00K\x01h\x00s."), CT_ERR_UNPICKLING);      /* self-containing dict */
    expect_fail(P("\x80\x02((((."), CT_ERR_UNPICKLING);
    expect_fail(P("\x80\x02" "a."), CT_ERR_UNPICKLING);
    expect_fail(P("\x80\x02" "K\x01" "b."), CT_ERR_UNPICKLING);
    expect_fail(P("\x80\x02" "\x8a\x0a" "\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."), CT_ERR_UNPICKLING);
    expect_fail(P("\x80\x02" "j\xff\xff\xff\xff."), CT_ERR_UNPICKLING);
    expect_fail(P("\x80\x02" "X\x10\x00\x00\x00" "abc"), CT_ERR_UNPICKLING);
    expect_fail(P("\x80\x02" "ctorch\nComplexFloatStorage\n."), CT_ERR_UNPICKLING);
    /* storage larger than its record: an archive error */
    expect_fail(P("\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00"
                  "cpuK\x09tQ."),
                CT_ERR_RUNTIME);
    /* a view past the end of its storage */
    expect_fail(P("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
                  "X\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x02tQK\x00K\x03\x85K\x01\x85\x89" "ccollections\nOrderedDict\n)RtR."),
                CT_ERR_UNPICKLING);
    /* nesting bomb: 100k nested 1-tuples */
    size_t n = 100000;
    char *deep = malloc(n + 4);
    memcpy(deep, "\x80\x02N", 3);
    memset(deep + 3, 0x85, n - 4);
    deep[n - 1] = '.';
    expect_fail(deep, n, CT_ERR_UNPICKLING);
    free(deep);
    /* a user global is only accepted when named */
    const char *g = "\x80\x02" "cmy.mod\nThing\n)\x81}b.";
    size_t len;
    void *a = archive(g, strlen(g), NULL, 0, &len);
    CHECK(ct_load_buffer(a, len, NULL) == NULL);
    const char *names[] = {"my.mod.Thing"};
    ct_load_options o = {names, 1, false, 0, NULL, NULL};
    ct_value *v = ct_load_buffer(a, len, &o);
    CHECK(v && v->kind == CT_VAL_OBJECT && (v->flags & CT_VALF_NEWOBJ) && v->u.obj.state);
    ct_value_release(v);
    free(a);
    ct_clear_error();
}

static void test_damaged_archives(void) {
    ct_value *v = example_value();
    void *buf;
    size_t len;
    CHECK(ct_save_buffer(v, &buf, &len) == 0);
    ct_value_release(v);
    unsigned char *b = buf;
    /* every truncation and every single-byte corruption must fail cleanly or load */
    for (size_t cut = 0; cut < len; cut += 7) {
        ct_value *r = ct_load_buffer(b, cut, NULL);
        CHECK(r == NULL);
        ct_value_release(r);
    }
    unsigned char *c = malloc(len);
    for (size_t i = 0; i < len; i++) {
        memcpy(c, b, len);
        c[i] ^= 0xA5;
        ct_value *r = ct_load_buffer(c, len, NULL);
        CHECK(r != NULL || ct_last_error()[0] != 0);
        ct_value_release(r);
        ct_clear_error();
    }
    free(c);
    free(buf);
    /* legacy: a storage claiming more elements than the file holds */
    static const unsigned char legacy[] = {
        0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e, /* magic */
        0x80, 0x02, 0x4d, 0xe9, 0x03, 0x2e,                                                       /* 1001 */
        0x80, 0x02, 0x7d, 0x2e,                                                                   /* {} */
        0x80, 0x02, 0x28, 0x58, 7, 0, 0, 0, 's', 't', 'o', 'r', 'a', 'g', 'e', 0x63, 't', 'o', 'r', 'c', 'h', '\n',
        'F', 'l', 'o', 'a', 't', 'S', 't', 'o', 'r', 'a', 'g', 'e', '\n', 0x58, 1, 0, 0, 0, '0', 0x58, 3, 0, 0, 0,
        'c', 'p', 'u', 0x4a, 0xff, 0xff, 0xff, 0x7f, 0x4e, 0x74, 0x51, 0x2e};
    ct_value *r = ct_load_buffer(legacy, sizeof legacy, NULL);
    CHECK(r == NULL && ct_last_error_kind() == CT_ERR_RUNTIME);
    ct_clear_error();
}

static void test_safetensors(void) {
    float d[2] = {1, 2};
    int64_t n = 2;
    ct_tensor *t = ct_tensor_from_data(d, &n, 1, CT_FLOAT32);
    const char *names[] = {"w"}, *mk[] = {"format"}, *mv[] = {"pt"};
    void *out;
    size_t len;
    CHECK(ct_st_save(NULL, names, &t, 1, mk, mv, 1, &out, &len) == 0);
    CHECK(len == 104);
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}   ";
    CHECK(len == 104 && memcmp((char *)out + 8, hdr, 88) == 0 && ((unsigned char *)out)[0] == 88);
    ct_st_file *f = ct_st_open_mem(out, len);
    CHECK(f && ct_st_count(f) == 1 && ct_st_metadata_count(f) == 1);
    ct_tensor *r = f ? ct_st_get_tensor(f, "w", false) : NULL;
    CHECK(r && ((float *)ct_tensor_data(r))[1] == 2.0f);
    ct_tensor_release(r);
    CHECK(f && ct_st_get_tensor(f, "nope", false) == NULL);
    ct_st_close(f);
    for (size_t cut = 0; cut < len; cut++) {
        ct_st_file *g = ct_st_open_mem(out, cut);
        CHECK(g == NULL);
        ct_st_close(g);
    }
    free(out);
    ct_tensor_release(t);
    ct_clear_error();
}

/* map_location hook: called once per storage with its location; may substitute a storage */
typedef struct map_rec {
    int calls;
    char last[32];
    int mode; /* 0: keep, 1: replace with a zeroed copy, 2: fail, 3: too small */
} map_rec;

static ct_storage *map_hook(void *ctx, ct_storage *s, const char *location) {
    map_rec *m = ctx;
    m->calls++;
    snprintf(m->last, sizeof m->last, "%s", location);
    if (m->mode == 2) return ct_error(CT_ERR_RUNTIME, "[test] refused %s", location);
    if (m->mode == 1 || m->mode == 3) {
        size_t n = m->mode == 1 ? ct_storage_nbytes(s) : 1;
        ct_storage *c = ct_storage_new(n);
        memset(ct_storage_data(c), 0, n);
        return c;
    }
    ct_storage_retain(s);
    return s;
}

static void test_map_storage(void) {
    ct_value *v = example_value();
    void *buf;
    size_t len;
    CHECK(ct_save_buffer(v, &buf, &len) == 0);
    ct_value_release(v);
    for (int mode = 0; mode < 4; mode++) {
        map_rec m = {0, "", mode};
        ct_load_options o = {NULL, 0, false, 0, map_hook, &m};
        ct_value *r = ct_load_buffer(buf, len, &o);
        CHECK(m.calls == 1 && strcmp(m.last, "cpu") == 0);
        if (mode < 2) {
            ct_value *w = r ? ct_value_dict_get_str(r, "w") : NULL;
            CHECK(w && ((float *)ct_tensor_data(w->u.tensor))[1] == (mode == 0 ? 2.0f : 0.0f));
        } else {
            CHECK(r == NULL && ct_last_error_kind() == CT_ERR_RUNTIME);
            ct_clear_error();
        }
        ct_value_release(r);
    }
    free(buf);
}

int main(void) {
    test_crc();
    test_map_storage();
    test_worked_example();
    test_roundtrip_sharing();
    test_hostile_pickles();
    test_damaged_archives();
    test_safetensors();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_serialize: ok\n");
    return 0;
}
