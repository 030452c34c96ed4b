/* C API tests for the ONNX writer against the byte-level worked examples of FORMATS.md
 * section 5.6 (Relu model, attribute and initializer encodings), plus errors. */
#include <stdio.h>
#include <string.h>

#include "ctorch/ctorch.h"
#include "ctorch/onnx.h"

static int failures = 0;
#define CHECK(cond)                                                                                    \
    do {                                                                                               \
        if (!(cond)) {                                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s (%s)\n", __FILE__, __LINE__, #cond, ct_last_error()); \
            failures++;                                                                                \
        }                                                                                              \
    } while (0)

/* is needle a substring of hay? */
static int contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m) {
    for (size_t i = 0; i + m <= n; i++)
        if (!memcmp(hay + i, needle, m)) return 1;
    return 0;
}

static void test_relu_model(void) {
    ct_onnx_model *m = ct_onnx_model_new("g", 13, 8);
    CHECK(m != NULL);
    if (!m) return;
    const char *in[] = {"X"}, *out[] = {"Y"};
    int64_t dims[2] = {1, 4};
    CHECK(ct_onnx_add_node(m, "Relu", NULL, in, 1, out, 1, NULL, 0) == 0);
    CHECK(ct_onnx_add_value(m, 0, "X", CT_FLOAT32, 2, dims, NULL) == 0);
    CHECK(ct_onnx_add_value(m, 1, "Y", CT_FLOAT32, 2, dims, NULL) == 0);
    size_t n = 0;
    const uint8_t *p = ct_onnx_serialize(m, &n);
    /* FORMATS.md 5.6 with producer "ctorch" instead of "cdl" */
    static const uint8_t want[] = {
        0x08, 0x08, 0x12, 0x06, 'c', 't', 'o', 'r', 'c', 'h', 0x1a, 0x03, '0', '.', '1', 0x3a, 0x3b,
        0x0a, 0x0c, 0x0a, 0x01, 'X', 0x12, 0x01, 'Y', 0x22, 0x04, 'R', 'e', 'l', 'u',
        0x12, 0x01, 'g',
        0x5a, 0x13, 0x0a, 0x01, 'X', 0x12, 0x0e, 0x0a, 0x0c, 0x08, 0x01, 0x12, 0x08, 0x0a, 0x02, 0x08, 0x01, 0x0a,
        0x02, 0x08, 0x04,
        0x62, 0x13, 0x0a, 0x01, 'Y', 0x12, 0x0e, 0x0a, 0x0c, 0x08, 0x01, 0x12, 0x08, 0x0a, 0x02, 0x08, 0x01, 0x0a,
        0x02, 0x08, 0x04,
        0x42, 0x04, 0x0a, 0x00, 0x10, 0x0d};
    CHECK(p && n == sizeof want && !memcmp(p, want, n));
    ct_onnx_model_free(m);
}

static void test_attributes_and_initializer(void) {
    ct_onnx_model *m = ct_onnx_model_new("g", 17, 0);
    CHECK(m != NULL);
    if (!m) return;
    int64_t ks[2] = {2, 2};
    const char *acts[1] = {"Relu"};
    ct_onnx_attr at[4] = {
        {.name = "transB", .type = CT_ONNX_ATTR_INT, .i = 1},
        {.name = "alpha", .type = CT_ONNX_ATTR_FLOAT, .f = 1.0},
        {.name = "kernel_shape", .type = CT_ONNX_ATTR_INTS, .ints = ks, .n = 2},
        {.name = "acts", .type = CT_ONNX_ATTR_STRINGS, .strings = acts, .n = 1}};
    const char *in[] = {"A", "B"}, *out[] = {"C"};
    CHECK(ct_onnx_add_node(m, "Gemm", "n0", in, 2, out, 1, at, 4) == 0);
    ct_tensor *b = ct_tensor_from_data((const float[]){0.1f, 0.2f}, (int64_t[]){2}, 1, CT_FLOAT32);
    CHECK(b != NULL);
    CHECK(ct_onnx_add_initializer(m, "fc.bias", b) == 0);
    ct_tensor_release(b);
    const char *sym[1] = {"N"};
    int64_t d[1] = {0};
    CHECK(ct_onnx_add_value(m, 0, "A", CT_FLOAT32, 1, d, sym) == 0);
    size_t n = 0;
    const uint8_t *p = ct_onnx_serialize(m, &n);
    CHECK(p && p[0] == 0x08 && p[1] == 0x08); /* opset 17 -> ir_version 8 */
    static const uint8_t trans_b[] = {0x0a, 0x06, 't', 'r', 'a', 'n', 's', 'B', 0x18, 0x01, 0xa0, 0x01, 0x02};
    static const uint8_t alpha[] = {0x0a, 0x05, 'a', 'l', 'p', 'h', 'a', 0x15, 0x00, 0x00, 0x80, 0x3f, 0xa0, 0x01, 0x01};
    static const uint8_t kshape[] = {0x0a, 0x0c, 'k', 'e', 'r', 'n', 'e', 'l', '_', 's', 'h', 'a', 'p', 'e',
                                     0x40, 0x02, 0x40, 0x02, 0xa0, 0x01, 0x07};
    static const uint8_t init[] = {0x08, 0x02, 0x10, 0x01, 0x42, 0x07, 'f', 'c', '.', 'b', 'i', 'a', 's', 0x4a, 0x08,
                                   0xcd, 0xcc, 0xcc, 0x3d, 0xcd, 0xcc, 0x4c, 0x3e};
    static const uint8_t dimparam[] = {0x0a, 0x03, 0x12, 0x01, 'N'};
    static const uint8_t strings[] = {0x0a, 0x04, 'a', 'c', 't', 's', 0x4a, 0x04, 'R', 'e', 'l', 'u', 0xa0, 0x01, 0x08};
    CHECK(p && contains(p, n, strings, sizeof strings));
    CHECK(p && contains(p, n, trans_b, sizeof trans_b));
    CHECK(p && contains(p, n, alpha, sizeof alpha));
    CHECK(p && contains(p, n, kshape, sizeof kshape));
    CHECK(p && contains(p, n, init, sizeof init));
    CHECK(p && contains(p, n, dimparam, sizeof dimparam));
    ct_onnx_model_free(m);
}

static void test_errors(void) {
    CHECK(ct_onnx_model_new("g", 99, 0) == NULL);
    CHECK(ct_last_error_kind() == CT_ERR_VALUE);
    CHECK(ct_onnx_ir_version(13) == 7 && ct_onnx_ir_version(15) == 8 && ct_onnx_ir_version(21) == 10);
    ct_onnx_model *m = ct_onnx_model_new(NULL, 13, 0);
    CHECK(m != NULL);
    CHECK(ct_onnx_add_node(m, "", NULL, NULL, 0, NULL, 0, NULL, 0) != 0);
    ct_onnx_attr bad = {.name = "x", .type = 42};
    const char *o[] = {"y"};
    CHECK(ct_onnx_add_node(m, "Relu", NULL, NULL, 0, o, 1, &bad, 1) != 0);
    ct_onnx_model_free(m);
    ct_onnx_model_free(NULL);
}

int main(void) {
    test_relu_model();
    test_attributes_and_initializer();
    test_errors();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_onnx: ok\n");
    return 0;
}
