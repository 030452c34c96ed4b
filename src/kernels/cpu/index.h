/* The indexed-copy driver shared by the indexing ops and t[...]: one strided loop over a
 * "position" shape with a destination, a source and an optional int64 index operand whose
 * value (times a byte multiplier) moves the destination or the source pointer. Gather,
 * scatter, index_select/add/copy/fill, take/put and advanced indexing are all instances. */
#ifndef CTORCH_KERNELS_INDEX_H
#define CTORCH_KERNELS_INDEX_H

#include "../../core/internal.h"

typedef enum ct_ix_op {
    CT_IX_COPY, /* dst = src */
    CT_IX_ADD,  /* dst += alpha * src */
    CT_IX_MUL,  /* dst *= src */
    CT_IX_MAX,  /* dst = max(dst, src), NaN wins */
    CT_IX_MIN,  /* dst = min(dst, src), NaN wins */
} ct_ix_op;

/* NOTE [ Indexed-copy plan ]
 * For every position p of `sizes` (row-major):
 *     k   = idx ? idx[p . idx_st] (+ bound when negative and bound > 0) : 0
 *     dst[p . dst_st + k * dst_mul]  (op)=  src[p . src_st + k * src_mul]
 * Strides and multipliers are in bytes; dst and src have dtype `dtype`. Index values must
 * be validated by the caller (ct_ix_find_bad). `parallel` may be set only when different
 * positions never write the same destination element. */
typedef struct ct_ix_plan {
    int ndim;
    int64_t sizes[CT_MAX_DIM];
    char *dst;
    int64_t dst_st[CT_MAX_DIM];
    const char *src;
    int64_t src_st[CT_MAX_DIM];
    const char *idx;
    int64_t idx_st[CT_MAX_DIM];
    int64_t bound, dst_mul, src_mul;
    int op, dtype;
    double alpha_d;
    int64_t alpha_i;
    bool parallel;
} ct_ix_plan;

void ct_ix_run(const ct_ix_plan *p);
/* True when an element of the int64 tensor idx lies outside [lo, hi); *bad = first one. */
bool ct_ix_find_bad(const ct_tensor *idx, int64_t lo, int64_t hi, int64_t *bad);
/* Broadcast view of t to shape (stride 0 on broadcast dims); error when incompatible. */
ct_tensor *ct_ix_expand(ct_tensor *t, const int64_t *shape, int nd, const char *op);
/* torch's check that a scalar fits dtype (c10's overflow rule: integers may wrap into
 * uint8 from down to -255, floats may not; NaN never converts to an integer; float
 * infinities and NaN are fine). 16-bit float ranges are checked only with check_16bit
 * (torch's setitem path does not check them). 0, or -1 with a RuntimeError set. */
int ct_ix_scalar_fits(ct_scalar s, int dtype, bool check_16bit, const char *op);
/* Row-major coordinates of the nonzero elements of t: int64 tensor (count, ndim). */
ct_tensor *ct_ix_nonzero(ct_tensor *t);
/* take_along_dim's broadcast, wrapped int64 index along dim d (shape bs, *nd dims). */
ct_tensor *ct_ix_take_along_index(ct_tensor *self, ct_tensor *indices, int d, int64_t *bs, int *nd);

#endif
