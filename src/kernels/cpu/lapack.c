/* LAPACK glue: load the double-precision routines of scipy-openblas32 lazily with dlopen, so
 * that importing ctorch never needs the library and only linalg ops do. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/internal.h"
#include "lapack.h"

static char lib_path[4096];
static ct_lapack lapack;
static int loaded = 0; /* 1 ok, -1 failed */
static char load_err[512];
static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;

void ct_lapack_set_path(const char *path) {
    pthread_mutex_lock(&load_mu);
    snprintf(lib_path, sizeof lib_path, "%s", path ? path : "");
    if (loaded < 0) loaded = 0; /* retry with the new path */
    pthread_mutex_unlock(&load_mu);
}

static void *open_lib(void) {
    const char *env = getenv("CTORCH_LAPACK");
    const char *base = env && env[0] ? env : lib_path;
    char buf[4200];
    void *h = NULL;
    if (base[0]) {
        h = dlopen(base, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            snprintf(buf, sizeof buf, "%s/libscipy_openblas.so", base);
            h = dlopen(buf, RTLD_NOW | RTLD_LOCAL);
        }
    }
    if (!h) h = dlopen("libscipy_openblas.so", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(load_err, sizeof load_err, "%s", e ? e : "not found");
    }
    return h;
}

#define SYM(field, name)                                                          \
    do {                                                                          \
        *(void **)&lapack.field = dlsym(h, "scipy_" name "_");                    \
        if (!lapack.field) {                                                      \
            snprintf(load_err, sizeof load_err, "symbol scipy_%s_ missing", name); \
            return -1;                                                            \
        }                                                                         \
    } while (0)

static int load(void) {
    void *h = open_lib();
    if (!h) return -1;
    SYM(getrf, "dgetrf");
    SYM(getri, "dgetri");
    SYM(getrs, "dgetrs");
    SYM(potrf, "dpotrf");
    SYM(potrs, "dpotrs");
    SYM(geqrf, "dgeqrf");
    SYM(orgqr, "dorgqr");
    SYM(gesdd, "dgesdd");
    SYM(syevd, "dsyevd");
    SYM(gelsy, "dgelsy");
    SYM(gelsd, "dgelsd");
    SYM(gelss, "dgelss");
    SYM(gels, "dgels");
    /* Keep OpenBLAS single-threaded: we loop batches ourselves and share 2 cores. */
    void (*set_threads)(int) = (void (*)(int))dlsym(h, "scipy_openblas_set_num_threads");
    if (set_threads) set_threads(1);
    return 0;
}

const ct_lapack *ct_lapack_get(const char *op) {
    if (__atomic_load_n(&loaded, __ATOMIC_ACQUIRE) == 1) return &lapack;
    pthread_mutex_lock(&load_mu);
    if (loaded == 0) loaded = load() == 0 ? 1 : -1;
    int ok = loaded;
    pthread_mutex_unlock(&load_mu);
    if (ok == 1) return &lapack;
    return ct_error(CT_ERR_RUNTIME,
                    "[%s] LAPACK is not available (%s): install the 'scipy-openblas32' package "
                    "(pip install scipy-openblas32) or set CTORCH_LAPACK to libscipy_openblas.so",
                    op, load_err);
}
