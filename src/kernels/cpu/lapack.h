/* LAPACK glue (src/kernels/cpu/lapack.c): double-precision routines of the scipy-openblas32
 * library (symbols scipy_d*_, Fortran ABI, 32-bit integers), loaded with dlopen at the first
 * call. Not installed. */
#ifndef CTORCH_KERNELS_LAPACK_H
#define CTORCH_KERNELS_LAPACK_H

#include <stddef.h>

#include "ctorch/core.h"

typedef int ct_lapack_int;

typedef struct ct_lapack {
    void (*getrf)(const int *m, const int *n, double *a, const int *lda, int *ipiv, int *info);
    void (*getri)(const int *n, double *a, const int *lda, const int *ipiv, double *work, const int *lwork, int *info);
    void (*getrs)(const char *trans, const int *n, const int *nrhs, const double *a, const int *lda, const int *ipiv,
                  double *b, const int *ldb, int *info, size_t);
    void (*potrf)(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t);
    void (*potrs)(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda, double *b,
                  const int *ldb, int *info, size_t);
    void (*geqrf)(const int *m, const int *n, double *a, const int *lda, double *tau, double *work, const int *lwork,
                  int *info);
    void (*orgqr)(const int *m, const int *n, const int *k, double *a, const int *lda, const double *tau, double *work,
                  const int *lwork, int *info);
    void (*gesdd)(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s, double *u,
                  const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork, int *iwork, int *info,
                  size_t);
    void (*syevd)(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w, double *work,
                  const int *lwork, int *iwork, const int *liwork, int *info, size_t, size_t);
    void (*gelsy)(const int *m, const int *n, const int *nrhs, double *a, const int *lda, double *b, const int *ldb,
                  int *jpvt, const double *rcond, int *rank, double *work, const int *lwork, int *info);
    void (*gelsd)(const int *m, const int *n, const int *nrhs, double *a, const int *lda, double *b, const int *ldb,
                  double *s, const double *rcond, int *rank, double *work, const int *lwork, int *iwork, int *info);
    void (*gelss)(const int *m, const int *n, const int *nrhs, double *a, const int *lda, double *b, const int *ldb,
                  double *s, const double *rcond, int *rank, double *work, const int *lwork, int *info);
    void (*gels)(const char *trans, const int *m, const int *n, const int *nrhs, double *a, const int *lda, double *b,
                 const int *ldb, double *work, const int *lwork, int *info, size_t);
} ct_lapack;

/* The loaded routines (borrowed, process lifetime), or NULL with a RuntimeError set that
 * names the package to install. `op` prefixes the message. */
const ct_lapack *ct_lapack_get(const char *op);

/* Where to find the library: a directory holding libscipy_openblas.so or the file itself.
 * Used by the first ct_lapack_get(); the environment variable CTORCH_LAPACK overrides it. */
CT_API void ct_lapack_set_path(const char *path);

#endif
