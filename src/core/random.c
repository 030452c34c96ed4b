/* Random number generators: MT19937 with torch's seeding and state layout, the default
 * generator, seeding from the OS, state save/restore. See include/ctorch/random.h and
 * NOTE [ Generator state ] in random_impl.h. */
#define _GNU_SOURCE
/* Values must round exactly as torch's do: no implicit a*b+c fusion (-march=native enables FMA). */
#pragma GCC optimize("fp-contract=off")
#include "random_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define MT_M 397
#define MATRIX_A 0x9908b0dfu
#define UMASK 0x80000000u
#define LMASK 0x7fffffffu

static void mt_seed(ct_generator *g, uint64_t seed) {
    g->seed = seed;
    g->state[0] = (uint32_t)(seed & 0xffffffffu);
    for (int j = 1; j < CT_MT_N; j++)
        g->state[j] = 1812433253u * (g->state[j - 1] ^ (g->state[j - 1] >> 30)) + (uint32_t)j;
    g->left = 1;
    g->next = 0;
    g->has_double_normal = false;
    g->has_float_normal = false;
    g->double_normal = 0;
    g->float_normal = 0;
}

static inline uint32_t twist(uint32_t u, uint32_t v) {
    return (((u & UMASK) | (v & LMASK)) >> 1) ^ ((v & 1u) ? MATRIX_A : 0u);
}

static void mt_regenerate(ct_generator *g) {
    uint32_t *s = g->state;
    int k = 0;
    for (; k < CT_MT_N - MT_M; k++) s[k] = s[k + MT_M] ^ twist(s[k], s[k + 1]);
    for (; k < CT_MT_N - 1; k++) s[k] = s[k + MT_M - CT_MT_N] ^ twist(s[k], s[k + 1]);
    s[CT_MT_N - 1] = s[MT_M - 1] ^ twist(s[CT_MT_N - 1], s[0]);
    g->left = CT_MT_N + 1;
    g->next = 0;
}

static inline uint32_t temper(uint32_t y) {
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

uint32_t ct_gen_u32(ct_generator *g) {
    if (CT_UNLIKELY(g->left <= 1)) mt_regenerate(g);
    g->left--;
    return temper(g->state[g->next++]);
}

void ct_gen_fill_u32(ct_generator *g, uint32_t *restrict out, int64_t n) {
    while (n > 0) {
        if (g->left <= 1) mt_regenerate(g);
        int64_t m = g->left - 1;
        if (m > n) m = n;
        const uint32_t *restrict s = g->state + g->next;
        for (int64_t i = 0; i < m; i++) out[i] = temper(s[i]);
        g->left -= (int32_t)m;
        g->next += (uint32_t)m;
        out += m;
        n -= m;
    }
}

double ct_gen_normal_f64(ct_generator *g, double mean, double std) {
    if (g->has_double_normal) {
        g->has_double_normal = false;
        return fma(g->double_normal, std, mean);
    }
    double u1 = ct_gen_uniform_f64(g);
    double u2 = ct_gen_uniform_f64(g);
    double r = sqrt(-2.0 * log1p(-u2));
    double theta = 2.0 * M_PI * u1;
    g->double_normal = r * sin(theta);
    g->has_double_normal = true;
    return fma(r * cos(theta), std, mean); /* fused, as torch's FMA build */
}

/* ------------------------------------------------------------------ objects */

static void gen_init(ct_generator *g, uint64_t seed) {
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    mt_seed(g, seed);
}

ct_generator *ct_generator_new(void) {
    ct_generator *g = malloc(sizeof *g);
    if (!g) return ct_error(CT_ERR_MEMORY, "[Generator] out of memory");
    gen_init(g, CT_DEFAULT_SEED);
    return g;
}

void ct_generator_free(ct_generator *g) {
    if (!g || g->is_default) return;
    pthread_mutex_destroy(&g->mu);
    free(g);
}

static uint64_t os_entropy(void) {
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s = ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 32);
    }
    return s;
}

static ct_generator default_gen;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void) {
    gen_init(&default_gen, os_entropy());
    default_gen.is_default = true;
}

ct_generator *ct_default_generator(void) {
    pthread_once(&default_once, default_init);
    return &default_gen;
}

ct_generator *ct_gen_or_default(ct_generator *g) { return g ? g : ct_default_generator(); }

void ct_generator_manual_seed(ct_generator *g, uint64_t seed) {
    g = ct_gen_or_default(g);
    ct_gen_lock(g);
    mt_seed(g, seed);
    ct_gen_unlock(g);
}

uint64_t ct_generator_seed(ct_generator *g) {
    uint64_t s = os_entropy();
    ct_generator_manual_seed(g, s);
    return s;
}

uint64_t ct_generator_initial_seed(ct_generator *g) {
    g = ct_gen_or_default(g);
    ct_gen_lock(g);
    uint64_t s = g->seed;
    ct_gen_unlock(g);
    return s;
}

void ct_manual_seed(uint64_t seed) { ct_generator_manual_seed(NULL, seed); }
uint64_t ct_seed(void) { return ct_generator_seed(NULL); }
uint64_t ct_initial_seed(void) { return ct_generator_initial_seed(NULL); }

uint32_t ct_generator_random(ct_generator *g) {
    g = ct_gen_or_default(g);
    ct_gen_lock(g);
    uint32_t r = ct_gen_u32(g);
    ct_gen_unlock(g);
    return r;
}

uint64_t ct_generator_random64(ct_generator *g) {
    g = ct_gen_or_default(g);
    ct_gen_lock(g);
    uint64_t r = ct_gen_u64(g);
    ct_gen_unlock(g);
    return r;
}

void ct_generator_copy_state(ct_generator *dst, ct_generator *src) {
    dst = ct_gen_or_default(dst);
    src = ct_gen_or_default(src);
    if (dst == src) return;
    ct_gen_lock(src);
    ct_generator tmp = *src;
    ct_gen_unlock(src);
    ct_gen_lock(dst);
    dst->seed = tmp.seed;
    dst->left = tmp.left;
    dst->next = tmp.next;
    memcpy(dst->state, tmp.state, sizeof dst->state);
    dst->has_double_normal = tmp.has_double_normal;
    dst->double_normal = tmp.double_normal;
    dst->has_float_normal = tmp.has_float_normal;
    dst->float_normal = tmp.float_normal;
    ct_gen_unlock(dst);
}

/* ------------------------------------------------------------------ state bytes */

/* NOTE [ Generator state bytes ]
 * torch's CPUGeneratorImplState, little-endian, natural alignment:
 *   0 int64 initial seed | 8 int32 left | 12 int32 seeded | 16 uint64 next
 *   24 uint64[624] state words | 5016 double normal_x | 5024 double normal_y
 *   5032 double normal_rho | 5040 int32 normal_is_valid | (pad) |
 *   5048 float next float normal | 5052 bool its validity | (pad to 5056).
 * The legacy layout (5048 bytes) stops after normal_is_valid. */
#define LEGACY_SIZE 5048

static void put(uint8_t *p, size_t off, const void *v, size_t n) { memcpy(p + off, v, n); }
static void get(const uint8_t *p, size_t off, void *v, size_t n) { memcpy(v, p + off, n); }

ct_tensor *ct_generator_get_state(ct_generator *g) {
    g = ct_gen_or_default(g);
    int64_t n = CT_GENERATOR_STATE_SIZE;
    ct_tensor *t = ct_empty(&n, 1, CT_UINT8);
    if (!t) return NULL;
    uint8_t *p = ct_tensor_data(t);
    memset(p, 0, CT_GENERATOR_STATE_SIZE);
    ct_gen_lock(g);
    int64_t seed = (int64_t)g->seed;
    int32_t left = g->left, seeded = 1, valid = g->has_double_normal;
    uint64_t next = g->next;
    put(p, 0, &seed, 8);
    put(p, 8, &left, 4);
    put(p, 12, &seeded, 4);
    put(p, 16, &next, 8);
    for (int i = 0; i < CT_MT_N; i++) {
        uint64_t w = g->state[i];
        put(p, 24 + 8 * (size_t)i, &w, 8);
    }
    if (valid) put(p, 5024, &g->double_normal, 8);
    put(p, 5040, &valid, 4);
    if (g->has_float_normal) {
        put(p, 5048, &g->float_normal, 4);
        p[5052] = 1;
    }
    ct_gen_unlock(g);
    return t;
}

int ct_generator_set_state(ct_generator *g, const ct_tensor *state) {
    g = ct_gen_or_default(g);
    if (state->dtype != CT_UINT8)
        return ct_errorf(CT_ERR_TYPE, "RNG state must be a torch.ByteTensor");
    int64_t n = state->numel;
    if (n != LEGACY_SIZE && n != CT_GENERATOR_STATE_SIZE)
        return ct_errorf(CT_ERR_RUNTIME,
                         "Expected a CPUGeneratorImplState of size %d but found the input RNG state size to be %lld",
                         CT_GENERATOR_STATE_SIZE, (long long)n);
    uint8_t buf[CT_GENERATOR_STATE_SIZE];
    memset(buf, 0, sizeof buf);
    const uint8_t *src = ct_tensor_data(state);
    if (ct_tensor_is_contiguous(state)) {
        memcpy(buf, src, (size_t)n);
    } else {
        for (int64_t i = 0; i < n; i++) buf[i] = src[i * state->strides[0]];
    }
    int64_t seed;
    int32_t left, valid;
    uint64_t next;
    get(buf, 0, &seed, 8);
    get(buf, 8, &left, 4);
    get(buf, 16, &next, 8);
    get(buf, 5040, &valid, 4);
    if (left < 1 || left > CT_MT_N + 1 || next > CT_MT_N || (left > 1 && next + (uint64_t)left != CT_MT_N + 1))
        return ct_errorf(CT_ERR_RUNTIME, "[set_state] invalid mt19937 state (left %d, next %llu)", (int)left,
                         (unsigned long long)next);
    ct_gen_lock(g);
    g->seed = (uint64_t)seed;
    g->left = left;
    g->next = (uint32_t)next;
    for (int i = 0; i < CT_MT_N; i++) {
        uint64_t w;
        get(buf, 24 + 8 * (size_t)i, &w, 8);
        g->state[i] = (uint32_t)w;
    }
    g->has_double_normal = valid != 0;
    g->double_normal = 0;
    if (valid) get(buf, 5024, &g->double_normal, 8);
    g->has_float_normal = n == CT_GENERATOR_STATE_SIZE && buf[5052] != 0;
    g->float_normal = 0;
    if (g->has_float_normal) get(buf, 5048, &g->float_normal, 4);
    ct_gen_unlock(g);
    return 0;
}
