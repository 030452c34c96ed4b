/* The digits MLP (64-128-10, ReLU, cross-entropy, SGD with momentum) trained through the C
 * API alone: tensors, autograd, ops as layers and a fused optimizer step. No Python.
 *
 *     digits_mlp [path/to/digits.csv] [epochs]
 *
 * Uses the project's fixed split (every fifth image is a test image) and prints the test
 * accuracy after each epoch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ctorch/ctorch.h>
#include <ctorch/random.h>

#define N_MAX 2000
#define CHECK(x)                                                                    \
    do {                                                                            \
        if (!(x)) {                                                                 \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #x, ct_last_error()); \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

static float pix[N_MAX][64];
static int64_t lab[N_MAX];

static int load(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(1);
    }
    int n = 0;
    while (n < N_MAX) {
        int v[65], k;
        for (k = 0; k < 65; k++)
            if (fscanf(f, k ? ",%d" : "%d", &v[k]) != 1) break;
        if (k < 65) break;
        for (k = 0; k < 64; k++) pix[n][k] = (float)v[k] / 16.0f;
        lab[n++] = v[64];
    }
    fclose(f);
    return n;
}

/* New leaf parameter of the given shape, uniform in [-bound, bound), requires_grad. */
static ct_tensor *param(int64_t rows, int64_t cols, double bound) {
    int64_t s[2] = {rows, cols};
    int nd = cols ? 2 : 1;
    ct_tensor *u = ct_rand((ct_intlist){s, nd}, NULL, CT_FLOAT32, -1);
    CHECK(u);
    ct_tensor *two = ct_scalar_tensor_f64(2 * bound, CT_FLOAT32), *half = ct_scalar_tensor_f64(bound, CT_FLOAT32);
    ct_tensor *a = ct_mul(u, two), *p = ct_sub(a, half, ct_scalar_i(1));
    CHECK(p && ct_tensor_set_requires_grad(p, true) == 0);
    ct_tensor_release(u), ct_tensor_release(two), ct_tensor_release(half), ct_tensor_release(a);
    return p;
}

/* logits = relu(x @ w1 + b1) @ w2 + b2 */
static ct_tensor *forward(ct_tensor *x, ct_tensor *w1, ct_tensor *b1, ct_tensor *w2, ct_tensor *b2) {
    ct_tensor *h = ct_matmul(x, w1);
    ct_tensor *hb = ct_add(h, b1, ct_scalar_i(1));
    ct_tensor *r = ct_clamp_min(hb, ct_scalar_f(0.0));
    ct_tensor *o = ct_matmul(r, w2);
    ct_tensor *logits = ct_add(o, b2, ct_scalar_i(1));
    CHECK(logits);
    ct_tensor_release(h), ct_tensor_release(hb), ct_tensor_release(r), ct_tensor_release(o);
    return logits;
}

/* mean over the batch of logsumexp(logits) - logits[y] */
static ct_tensor *cross_entropy(ct_tensor *logits, ct_tensor *y) {
    int64_t one = 1;
    ct_tensor *lse = ct_logsumexp(logits, (ct_intlist){&one, 1}, false);
    int64_t s[2] = {y->sizes[0], 1};
    ct_tensor *y2 = ct_reshape(y, (ct_intlist){s, 2});
    ct_tensor *picked = ct_gather(logits, 1, y2, false);
    ct_tensor *p1 = ct_reshape(picked, (ct_intlist){s, 1});
    ct_tensor *d = ct_sub(lse, p1, ct_scalar_i(1));
    ct_tensor *loss = ct_mean(d, CT_INTLIST_NONE, false, CT_DTYPE_NONE);
    CHECK(loss);
    ct_tensor_release(lse), ct_tensor_release(y2), ct_tensor_release(picked), ct_tensor_release(p1);
    ct_tensor_release(d);
    return loss;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "data/digits/digits.csv";
    int epochs = argc > 2 ? atoi(argv[2]) : 30;
    int n = load(path);
    int ntr = 0, nte = 0;
    static float xtr[N_MAX][64], xte[N_MAX][64];
    static int64_t ytr[N_MAX], yte[N_MAX];
    for (int i = 0; i < n; i++) {
        if (i % 5 == 4) {
            memcpy(xte[nte], pix[i], sizeof pix[i]);
            yte[nte++] = lab[i];
        } else {
            memcpy(xtr[ntr], pix[i], sizeof pix[i]);
            ytr[ntr++] = lab[i];
        }
    }
    printf("digits: %d train, %d test images\n", ntr, nte);
    ct_manual_seed(0);
    int64_t sx[2] = {ntr, 64}, sy[1] = {ntr}, tx[2] = {nte, 64}, ty[1] = {nte};
    ct_tensor *Xtr = ct_tensor_from_data(xtr, sx, 2, CT_FLOAT32), *Ytr = ct_tensor_from_data(ytr, sy, 1, CT_INT64);
    ct_tensor *Xte = ct_tensor_from_data(xte, tx, 2, CT_FLOAT32), *Yte = ct_tensor_from_data(yte, ty, 1, CT_INT64);
    ct_tensor *w1 = param(64, 128, 1.0 / 8.0), *b1 = param(128, 0, 1.0 / 8.0);
    ct_tensor *w2 = param(128, 10, 1.0 / sqrt(128.0)), *b2 = param(10, 0, 1.0 / sqrt(128.0));
    ct_tensor *params[4] = {w1, b1, w2, b2};
    ct_tensor *bufs[4];
    for (int i = 0; i < 4; i++) CHECK(bufs[i] = ct_zeros((ct_intlist){params[i]->sizes, params[i]->ndim}, CT_FLOAT32, -1));
    int64_t fresh[4] = {1, 1, 1, 1};
    const int batch = 32;
    double acc = 0;
    for (int epoch = 1; epoch <= epochs; epoch++) {
        ct_tensor *perm = ct_randperm(ntr, NULL, CT_INT64, -1);
        CHECK(perm);
        double loss_sum = 0;
        for (int start = 0; start < ntr; start += batch) {
            int64_t len = ntr - start < batch ? ntr - start : batch;
            ct_tensor *idx = ct_narrow(perm, 0, start, len);
            ct_tensor *xb = ct_index_select(Xtr, 0, idx), *yb = ct_index_select(Ytr, 0, idx);
            ct_tensor *logits = forward(xb, w1, b1, w2, b2);
            ct_tensor *loss = cross_entropy(logits, yb);
            CHECK(ct_autograd_backward(1, &loss, NULL, false, false, 0, NULL) == 0);
            ct_tensor *grads[4];
            for (int i = 0; i < 4; i++) grads[i] = ct_tensor_grad(params[i]);
            CHECK(ct_optim_sgd_((ct_tensorlist){params, 4}, (ct_tensorlist){grads, 4}, (ct_tensorlist){bufs, 4},
                                (ct_intlist){fresh, 4}, 0.1, 0.9, 0.0, 0.0, false, false) == 0);
            for (int i = 0; i < 4; i++) {
                fresh[i] = 0;
                ct_tensor_set_grad(params[i], NULL);
            }
            ct_scalar lv;
            CHECK(ct_item(loss, &lv) == 0);
            loss_sum += ct_scalar_to_f64(lv) * (double)len;
            ct_tensor_release(idx), ct_tensor_release(xb), ct_tensor_release(yb);
            ct_tensor_release(logits), ct_tensor_release(loss);
        }
        ct_tensor_release(perm);
        /* test accuracy, without recording */
        bool prev = ct_set_grad_enabled(false);
        ct_tensor *logits = forward(Xte, w1, b1, w2, b2);
        int64_t one = 1;
        ct_tensor *pred = ct_argmax(logits, &one, false);
        ct_tensor *hit = ct_eq(pred, Yte);
        ct_tensor *cnt = ct_sum(hit, CT_INTLIST_NONE, false, CT_DTYPE_NONE);
        CHECK(cnt);
        acc = (double)*(int64_t *)ct_tensor_data(cnt) / nte;
        ct_set_grad_enabled(prev);
        ct_tensor_release(logits), ct_tensor_release(pred), ct_tensor_release(hit), ct_tensor_release(cnt);
        printf("epoch %2d  loss %.4f  test acc %.4f\n", epoch, loss_sum / ntr, acc);
    }
    printf("final test accuracy: %.4f\n", acc);
    for (int i = 0; i < 4; i++) ct_tensor_release(params[i]), ct_tensor_release(bufs[i]);
    ct_tensor_release(Xtr), ct_tensor_release(Ytr), ct_tensor_release(Xte), ct_tensor_release(Yte);
    return acc >= 0.95 ? 0 : 2;
}
