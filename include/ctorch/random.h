/* ctorch/random.h — random number generators: a Mersenne Twister (MT19937) generator object,
 * the process-wide default generator, seeding and state save/restore.
 *
 * The CPU generator reproduces torch's CPU generator bit for bit: the same seed gives the
 * same 32-bit stream (std::mt19937 seeding of the low 32 bits of the seed), and the random
 * ops (src/ops/random.c) turn that stream into values the way torch does, so
 * `ct_manual_seed(0)` followed by `ct_rand` gives torch.manual_seed(0); torch.rand(...).
 * The state bytes (ct_generator_get_state) use torch's layout (5056 bytes), so a state
 * saved by torch.get_rng_state() can be restored here and vice versa.
 *
 * Thread safety: each generator has a lock; ops hold it while they draw numbers.
 */
#ifndef CTORCH_RANDOM_H
#define CTORCH_RANDOM_H

#include "ctorch/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CT_MT_N 624

/* Size in bytes of a serialised generator state (torch's CPUGeneratorImplState). */
#define CT_GENERATOR_STATE_SIZE 5056

/* Seed of a fresh generator made with ct_generator_new (torch's default_rng_seed_val). */
#define CT_DEFAULT_SEED 67280421310721ULL

/* New generator seeded with CT_DEFAULT_SEED. Free with ct_generator_free (NULL-safe).
 * Returns NULL (error set) when out of memory. */
CT_API ct_generator *ct_generator_new(void);
CT_API void ct_generator_free(ct_generator *g);

/* The process-wide default generator (borrowed; lives for the whole process). It is seeded
 * non-deterministically on first use, as torch's is at import. */
CT_API ct_generator *ct_default_generator(void);

/* Seed g (NULL: the default generator). Clears the cached normal samples. */
CT_API void ct_generator_manual_seed(ct_generator *g, uint64_t seed);
/* Seed g from the operating system's entropy and return the seed used. */
CT_API uint64_t ct_generator_seed(ct_generator *g);
/* The seed g was last seeded with. */
CT_API uint64_t ct_generator_initial_seed(ct_generator *g);
/* Shorthands on the default generator. */
CT_API void ct_manual_seed(uint64_t seed);
CT_API uint64_t ct_seed(void);
CT_API uint64_t ct_initial_seed(void);

/* The state as a new 1-D uint8 tensor of CT_GENERATOR_STATE_SIZE bytes (new reference). */
CT_API ct_tensor *ct_generator_get_state(ct_generator *g);
/* Restore a state made by ct_generator_get_state (or torch's get_rng_state). 0 on success;
 * RuntimeError for a tensor that is not uint8 of the right size or holds an invalid state. */
CT_API int ct_generator_set_state(ct_generator *g, const ct_tensor *state);
/* Copy the whole state of src into dst (Generator.clone_state / graphsafe helpers). */
CT_API void ct_generator_copy_state(ct_generator *dst, ct_generator *src);

/* Raw draws (take the generator's lock themselves). */
CT_API uint32_t ct_generator_random(ct_generator *g);
CT_API uint64_t ct_generator_random64(ct_generator *g);

#ifdef __cplusplus
}
#endif
#endif
