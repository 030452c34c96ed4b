/* C API tests for autograd: recording, backward, grad(), saved-tensor version checks, no
 * leaks (run under LeakSanitizer in CI). */
#include <stdio.h>
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

static ct_tensor *vec(float a, float b, float c) {
    float d[3] = {a, b, c};
    int64_t n = 3;
    return ct_tensor_from_data(d, &n, 1, CT_FLOAT32);
}

static void test_backward(void) {
    ct_tensor *x = vec(1, 2, 3);
    CHECK(ct_tensor_set_requires_grad(x, true) == 0);
    ct_tensor *xx = ct_mul(x, x);
    ct_tensor *y = ct_add(xx, x, ct_scalar_i(2)); /* y = x^2 + 2x, dy/dx = 2x + 2 */
    CHECK(y && ct_tensor_grad_fn(y) && !strcmp(ct_tensor_grad_fn(y)->name, "AddBackward0"));
    ct_tensor *ones = vec(1, 1, 1);
    CHECK(ct_autograd_backward(1, &y, &ones, false, false, 0, NULL) == 0);
    ct_tensor *g = ct_tensor_grad(x);
    CHECK(g && ((float *)ct_tensor_data(g))[2] == 8.0f);
    /* second backward without retain_graph: MulBackward's saved tensors are gone */
    CHECK(ct_autograd_backward(1, &y, &ones, false, false, 0, NULL) != 0);
    ct_clear_error();
    ct_tensor_release(xx);
    ct_tensor_release(y);
    ct_tensor_release(ones);
    ct_tensor_release(x);
}

static void test_grad_and_versions(void) {
    ct_tensor *x = vec(1, 2, 3);
    ct_tensor_set_requires_grad(x, true);
    ct_tensor *a = ct_mul(x, x);
    ct_tensor *b = ct_exp(a);
    ct_tensor *ones = vec(1, 1, 1);
    ct_tensor *res[1];
    CHECK(ct_autograd_grad(1, &b, &ones, 1, &x, true, false, false, res) == 0);
    CHECK(res[0] && ct_tensor_grad(x) == NULL);
    ct_tensor_release(res[0]);
    /* modify the saved output of exp in place: backward must refuse */
    bool prev = ct_set_grad_enabled(false);
    ct_tensor *r = ct_add_(b, ones, ct_scalar_i(1));
    ct_set_grad_enabled(prev);
    ct_tensor_release(r);
    CHECK(ct_autograd_backward(1, &b, &ones, false, false, 0, NULL) != 0 &&
          strstr(ct_last_error(), "modified by an inplace operation"));
    ct_clear_error();
    ct_tensor_release(a);
    ct_tensor_release(b);
    ct_tensor_release(ones);
    ct_tensor_release(x);
}

static void test_no_grad(void) {
    ct_tensor *x = vec(1, 2, 3);
    ct_tensor_set_requires_grad(x, true);
    bool prev = ct_set_grad_enabled(false);
    ct_tensor *y = ct_mul(x, x);
    CHECK(y && !ct_tensor_requires_grad(y));
    ct_set_grad_enabled(prev);
    ct_tensor_release(y);
    ct_tensor_release(x);
}

int main(void) {
    test_backward();
    test_grad_and_versions();
    test_no_grad();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_autograd: ok\n");
    return 0;
}
