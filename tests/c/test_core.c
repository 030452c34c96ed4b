/* C API tests for the core: storage lifetime, views, broadcasting, promotion, errors. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ctorch/ctorch.h"

static int failures = 0;
#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s (%s)\n", __FILE__, __LINE__, #cond, ct_last_error()); \
            failures++;                                                          \
        }                                                                        \
    } while (0)

static int deleted = 0;
static void count_delete(void *data, void *ctx) {
    (void)data;
    (void)ctx;
    deleted++;
}

static void test_storage_lifetime(void) {
    static float buf[6] = {1, 2, 3, 4, 5, 6};
    ct_storage *s = ct_storage_wrap(buf, sizeof buf, count_delete, NULL);
    int64_t sizes[2] = {2, 3};
    ct_tensor *t = ct_tensor_new_view(s, CT_FLOAT32, 0, sizes, NULL, 2);
    ct_storage_release(s);
    CHECK(t && deleted == 0);
    ct_tensor *v = ct_view(t, (ct_intlist){(int64_t[]){3, 2}, 2});
    CHECK(v && v->storage == t->storage);
    ct_tensor_release(t);
    CHECK(deleted == 0);
    CHECK(((float *)ct_tensor_data(v))[5] == 6.0f);
    ct_tensor_release(v);
    CHECK(deleted == 1);
    ct_tensor_release(NULL); /* no-op */
}

static void test_broadcast_add(void) {
    int64_t s1[2] = {2, 3}, s2[1] = {3};
    ct_tensor *a = ct_ones((ct_intlist){s1, 2}, CT_FLOAT32, -1);
    ct_tensor *b = ct_full((ct_intlist){s2, 1}, ct_scalar_f(2.5), CT_FLOAT32, -1);
    ct_tensor *c = ct_add(a, b, ct_scalar_i(2));
    CHECK(c && c->ndim == 2 && c->sizes[0] == 2 && c->sizes[1] == 3);
    for (int i = 0; c && i < 6; i++) CHECK(((float *)ct_tensor_data(c))[i] == 6.0f);
    ct_tensor_release(a);
    ct_tensor_release(b);
    ct_tensor_release(c);
}

static void test_errors(void) {
    int64_t s1[1] = {3}, s2[1] = {4};
    ct_tensor *a = ct_ones((ct_intlist){s1, 1}, CT_FLOAT32, -1);
    ct_tensor *b = ct_ones((ct_intlist){s2, 1}, CT_FLOAT32, -1);
    ct_tensor *c = ct_add(a, b, ct_scalar_i(1));
    CHECK(c == NULL && ct_last_error_kind() == CT_ERR_RUNTIME && strstr(ct_last_error(), "must match"));
    ct_clear_error();
    ct_tensor *v = ct_view(a, (ct_intlist){(int64_t[]){2, 2}, 2});
    CHECK(v == NULL && strstr(ct_last_error(), "invalid"));
    ct_tensor_release(a);
    ct_tensor_release(b);
}

static void test_promotion(void) {
    CHECK(ct_promote_types(CT_INT32, CT_FLOAT16) == CT_FLOAT16);
    CHECK(ct_promote_types(CT_UINT8, CT_INT8) == CT_INT16);
    CHECK(ct_promote_types(CT_BFLOAT16, CT_FLOAT16) == CT_FLOAT32);
    CHECK(ct_promote_types(CT_BOOL, CT_BOOL) == CT_BOOL);
}

int main(void) {
    test_storage_lifetime();
    test_broadcast_add();
    test_errors();
    test_promotion();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_core: ok\n");
    return 0;
}
