/* C API tests for random numbers: seeding reproduces torch's CPU stream, generators are
 * independent, state save/restore, errors. Golden values from torch 2.13
 * (torch.manual_seed(0); torch.rand(5) / torch.randn(5) / torch.randperm(10)). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ctorch/ctorch.h"

static int failures = 0;
#define CHECK(cond)                                                                                    \
    do {                                                                                               \
        if (!(cond)) {                                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s (%s)\n", __FILE__, __LINE__, #cond, ct_last_error()); \
            failures++;                                                                                \
        }                                                                                              \
    } while (0)

static void test_golden_streams(void) {
    int64_t n = 5;
    ct_manual_seed(0);
    ct_tensor *r = ct_rand((ct_intlist){&n, 1}, NULL, CT_FLOAT32, -1);
    CHECK(r != NULL);
    const float want_rand[5] = {0.49625659f, 0.76822180f, 0.08847743f, 0.13203049f, 0.30742282f};
    for (int i = 0; r && i < 5; i++) CHECK(fabsf(((float *)ct_tensor_data(r))[i] - want_rand[i]) < 1e-7f);
    ct_tensor_release(r);

    ct_manual_seed(0);
    ct_tensor *z = ct_randn((ct_intlist){&n, 1}, NULL, CT_FLOAT32, -1);
    const float want_randn[5] = {1.5410f, -0.2934f, -2.1788f, 0.5684f, -1.0845f};
    for (int i = 0; z && i < 5; i++) CHECK(fabsf(((float *)ct_tensor_data(z))[i] - want_randn[i]) < 1e-4f);
    ct_tensor_release(z);

    ct_manual_seed(0);
    ct_tensor *p = ct_randperm(10, NULL, CT_INT64, -1);
    const int64_t want_perm[10] = {4, 1, 7, 5, 3, 9, 0, 8, 6, 2};
    for (int i = 0; p && i < 10; i++) CHECK(((int64_t *)ct_tensor_data(p))[i] == want_perm[i]);
    ct_tensor_release(p);
    CHECK(ct_initial_seed() == 0);
}

static void test_generators_and_state(void) {
    ct_generator *g = ct_generator_new();
    CHECK(g && ct_generator_initial_seed(g) == CT_DEFAULT_SEED);
    ct_generator_manual_seed(g, 123);
    ct_tensor *st = ct_generator_get_state(g);
    CHECK(st && st->numel == CT_GENERATOR_STATE_SIZE && st->dtype == CT_UINT8);
    int64_t n = 1000; /* crosses a state regeneration; odd count leaves a cached normal */
    ct_tensor *a = ct_randn((ct_intlist){&n, 1}, g, CT_FLOAT64, -1);
    ct_tensor *a2 = ct_normal_float_float(0.0, 1.0, (ct_intlist){(int64_t[]){3}, 1}, g, CT_FLOAT64, -1);
    CHECK(ct_generator_set_state(g, st) == 0);
    ct_tensor *b = ct_randn((ct_intlist){&n, 1}, g, CT_FLOAT64, -1);
    ct_tensor *b2 = ct_normal_float_float(0.0, 1.0, (ct_intlist){(int64_t[]){3}, 1}, g, CT_FLOAT64, -1);
    CHECK(a && b && memcmp(ct_tensor_data(a), ct_tensor_data(b), sizeof(double) * 1000) == 0);
    CHECK(a2 && b2 && memcmp(ct_tensor_data(a2), ct_tensor_data(b2), sizeof(double) * 3) == 0);

    ct_generator *h = ct_generator_new();
    ct_generator_copy_state(h, g);
    CHECK(ct_generator_random(h) == ct_generator_random(g));
    CHECK(ct_generator_random64(h) == ct_generator_random64(g));

    int64_t bad_n = 10;
    ct_tensor *bad = ct_empty(&bad_n, 1, CT_UINT8);
    CHECK(ct_generator_set_state(g, bad) != 0 && ct_last_error_kind() == CT_ERR_RUNTIME);
    ct_tensor_release(bad);

    ct_tensor_release(st);
    ct_tensor_release(a);
    ct_tensor_release(b);
    ct_tensor_release(a2);
    ct_tensor_release(b2);
    ct_generator_free(g);
    ct_generator_free(h);
    ct_generator_free(NULL);
}

static void test_errors(void) {
    int64_t n = 3;
    CHECK(ct_randint_low(5, 5, (ct_intlist){&n, 1}, NULL, -1, -1) == NULL && ct_last_error_kind() == CT_ERR_RUNTIME);
    CHECK(ct_rand((ct_intlist){&n, 1}, NULL, CT_INT64, -1) == NULL &&
          ct_last_error_kind() == CT_ERR_NOT_IMPLEMENTED);
    int64_t neg = -1;
    CHECK(ct_rand((ct_intlist){&neg, 1}, NULL, -1, -1) == NULL);
    CHECK(ct_randperm(-1, NULL, -1, -1) == NULL);
    float probs[3] = {0.5f, -0.1f, 0.6f};
    ct_tensor *p = ct_tensor_from_data(probs, &n, 1, CT_FLOAT32);
    CHECK(ct_multinomial(p, 2, true, NULL) == NULL && ct_last_error_kind() == CT_ERR_RUNTIME);
    CHECK(ct_multinomial(p, 2, false, NULL) == NULL);
    ct_tensor_release(p);
}

int main(void) {
    test_golden_streams();
    test_generators_and_state();
    test_errors();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_random: ok\n");
    return 0;
}
