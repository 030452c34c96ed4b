/* Library-internal view of ct_generator (src/core/random.c) for the random ops: the struct,
 * the lock, and draws that assume the lock is held. Not installed. */
#ifndef CTORCH_RANDOM_IMPL_H
#define CTORCH_RANDOM_IMPL_H

#include <pthread.h>
#include <stdbool.h>

#include "ctorch/random.h"

/* NOTE [ Generator state ]
 * Mirrors torch's at::mt19937 + CPUGeneratorImpl: `left` counts down to the next
 * regeneration of the 624-word state (1 right after seeding, so the first draw regenerates),
 * `next` indexes the next word to temper. The cached normal samples are part of the state:
 * the scalar Box-Muller path (ct_gen_normal_f64) produces two values and keeps the second
 * for the next call, as torch does; get/set_state carry them. */
struct ct_generator {
    pthread_mutex_t mu;
    uint64_t seed;
    int32_t left;
    uint32_t next;
    uint32_t state[CT_MT_N];
    bool has_double_normal;
    double double_normal;
    bool has_float_normal;
    float float_normal;
    bool is_default;
};

ct_generator *ct_gen_or_default(ct_generator *g);
static inline void ct_gen_lock(ct_generator *g) { pthread_mutex_lock(&g->mu); }
static inline void ct_gen_unlock(ct_generator *g) { pthread_mutex_unlock(&g->mu); }

/* Draws; the caller holds the lock. */
void ct_gen_fill_u32(ct_generator *g, uint32_t *out, int64_t n);
uint32_t ct_gen_u32(ct_generator *g);
static inline uint64_t ct_gen_u64(ct_generator *g) {
    uint64_t hi = ct_gen_u32(g);
    uint64_t lo = ct_gen_u32(g);
    return (hi << 32) | lo;
}
/* Uniform [0, 1) with 24 bits (float) or 53 bits (double), as torch's uniform_real. */
static inline float ct_gen_uniform_f32(ct_generator *g) {
    return (float)(ct_gen_u32(g) & ((1u << 24) - 1)) * (1.0f / (float)(1u << 24));
}
static inline double ct_gen_uniform_f64(ct_generator *g) {
    return (double)(ct_gen_u64(g) & ((1ULL << 53) - 1)) * (1.0 / (double)(1ULL << 53));
}
/* One N(mean, std) sample by Box-Muller in double, using and refilling the cached sample. */
double ct_gen_normal_f64(ct_generator *g, double mean, double std);

#endif
