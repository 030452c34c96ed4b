/* A small fork-safe thread pool for parallel-for. Workers start lazily on first use; a
 * forked child (DataLoader workers) starts with no pool and builds its own if it needs one.
 * The calling thread takes chunks too, so n threads means n-1 workers. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

#define MAX_THREADS 256

static int num_threads = 0;              /* configured; 0 = not yet decided */
static int pool_size = 0;                /* workers running */
static pthread_t workers[MAX_THREADS];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv_work = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t submit_mu = PTHREAD_MUTEX_INITIALIZER; /* one job at a time */
static _Thread_local int in_parallel = 0;

/* NOTE [ Parallel-for protocol ]
 * A job is split into nchunks chunks. `claim` packs (job sequence << 32 | next chunk); a
 * thread takes a chunk by a compare-and-swap that also checks the sequence, so a worker that
 * wakes late (after its job finished and another began) can never take a chunk of the wrong
 * job. Job fields are read only after a successful claim: the submitter rewrites them only
 * when every chunk of the previous job has completed. The submitter waits for `completed`
 * to reach nchunks, i.e. only for chunks actually taken: a worker still asleep (waking costs
 * a futex round trip, tens of microseconds in a VM) never delays the job; the submitter then
 * simply runs more chunks itself. */
static struct {
    ct_range_fn fn;
    void *ctx;
    int64_t n, chunk, nchunks;
    uint64_t claim;      /* atomic: sequence << 32 | next chunk index */
    int64_t completed;   /* atomic: chunks finished */
    uint64_t generation; /* bumped per job (under mu) */
    int stop;
} job;

static int default_threads(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int c = CPU_COUNT(&set);
        if (c > 0) return c > MAX_THREADS ? MAX_THREADS : c;
    }
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c > 0 ? (int)(c > MAX_THREADS ? MAX_THREADS : c) : 1;
}

int ct_get_num_threads(void) {
    if (num_threads == 0) {
        const char *e = getenv("OMP_NUM_THREADS");
        int v = e ? atoi(e) : 0;
        num_threads = v > 0 ? (v > MAX_THREADS ? MAX_THREADS : v) : default_threads();
    }
    return num_threads;
}

/* Take and run chunks of job `seq` until none is left. */
static void run_chunks(uint32_t seq) {
    for (;;) {
        uint64_t c = __atomic_load_n(&job.claim, __ATOMIC_ACQUIRE);
        if ((uint32_t)(c >> 32) != seq) return;
        int64_t idx = (int64_t)(c & 0xffffffffu);
        if (idx >= __atomic_load_n(&job.nchunks, __ATOMIC_RELAXED)) return;
        if (!__atomic_compare_exchange_n(&job.claim, &c, c + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) continue;
        int64_t b = idx * job.chunk, e = b + job.chunk < job.n ? b + job.chunk : job.n;
        job.fn(b, e, job.ctx);
        __atomic_add_fetch(&job.completed, 1, __ATOMIC_RELEASE);
    }
}

/* Waking a sleeping worker costs a futex round trip (tens of microseconds on a loaded box),
 * as much as a mid-size job itself. Workers therefore spin (WORKER_SPIN pauses, some
 * 50-200 microseconds: the gaps between the parallel ops of a training step, Python included)
 * on the job generation before sleeping on the condition variable; a burst of ops finds them
 * awake. The generation is read atomically outside mu; it is still written (and sleepers
 * signalled) under mu, so no wake-up is lost. The submitter spins SPIN_ITERS pauses on the
 * chunks still running, then yields. */
#define SPIN_ITERS 1000
#define WORKER_SPIN 4000

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void *worker_main(void *arg) {
    (void)arg;
    in_parallel = 1;
    uint64_t seen = 0;
    for (;;) {
        for (int i = 0; i < WORKER_SPIN; i++) {
            if (__atomic_load_n(&job.generation, __ATOMIC_ACQUIRE) != seen ||
                __atomic_load_n(&job.stop, __ATOMIC_RELAXED))
                break;
            cpu_relax();
        }
        pthread_mutex_lock(&mu);
        while (job.generation == seen && !job.stop) pthread_cond_wait(&cv_work, &mu);
        if (job.stop) {
            pthread_mutex_unlock(&mu);
            break;
        }
        seen = job.generation;
        pthread_mutex_unlock(&mu);
        run_chunks((uint32_t)seen);
    }
    return NULL;
}

static void stop_pool(void) {
    pthread_mutex_lock(&mu);
    __atomic_store_n(&job.stop, 1, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&cv_work);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < pool_size; i++) pthread_join(workers[i], NULL);
    pool_size = 0;
    job.stop = 0;
}

static void start_pool(int nworkers) {
    for (int i = 0; i < nworkers; i++) {
        if (pthread_create(&workers[i], NULL, worker_main, NULL) != 0) break;
        pool_size++;
    }
}

/* After fork only the forking thread exists: forget the pool, reset the locks. */
static void atfork_child(void) {
    pthread_mutex_init(&mu, NULL);
    pthread_mutex_init(&submit_mu, NULL);
    pthread_cond_init(&cv_work, NULL);
    pool_size = 0;
    job.stop = 0;
    in_parallel = 0;
}
static void atfork_prepare(void) { pthread_mutex_lock(&submit_mu); }
static void atfork_parent(void) { pthread_mutex_unlock(&submit_mu); }

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void) { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); }

void ct_set_num_threads(int n) {
    if (n < 1) n = 1;
    if (n > MAX_THREADS) n = MAX_THREADS;
    pthread_mutex_lock(&submit_mu);
    if (pool_size) stop_pool();
    num_threads = n;
    pthread_mutex_unlock(&submit_mu);
}

void ct_parallel_for(int64_t n, int64_t grain, ct_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    int nt = ct_get_num_threads();
    if (in_parallel || nt <= 1 || n < 2 * grain) {
        fn(0, n, ctx);
        return;
    }
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&submit_mu);
    if (pool_size == 0) start_pool(nt - 1);
    int64_t parts = n / grain;
    if (parts > nt) parts = nt;
    int64_t chunk = (n + parts - 1) / parts;
    pthread_mutex_lock(&mu);
    uint32_t seq = (uint32_t)(job.generation + 1);
    job.fn = fn;
    job.ctx = ctx;
    job.n = n;
    job.chunk = chunk;
    __atomic_store_n(&job.nchunks, (n + chunk - 1) / chunk, __ATOMIC_RELAXED);
    __atomic_store_n(&job.completed, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&job.claim, (uint64_t)seq << 32, __ATOMIC_RELEASE);
    __atomic_store_n(&job.generation, job.generation + 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&cv_work);
    pthread_mutex_unlock(&mu);
    in_parallel = 1;
    run_chunks(seq);
    in_parallel = 0;
    /* every chunk is taken; wait for those still running on workers (awake, so brief) */
    for (unsigned i = 0; __atomic_load_n(&job.completed, __ATOMIC_ACQUIRE) < job.nchunks; i++) {
        if (i < SPIN_ITERS)
            cpu_relax();
        else
            sched_yield();
    }
    pthread_mutex_unlock(&submit_mu);
}
