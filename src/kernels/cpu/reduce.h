/* Reduction engine shared by the reduction, scan and sort ops: dim-list handling, the
 * output shape rule, and a kernel that reduces any set of dims of a tensor with
 * sum/prod/max/min/nansum. */
#ifndef CTORCH_REDUCE_H
#define CTORCH_REDUCE_H

#include "../../core/internal.h"

typedef enum ct_red_kind {
    CT_RED_SUM,
    CT_RED_PROD,
    CT_RED_MAX,    /* NaN-propagating */
    CT_RED_MIN,    /* NaN-propagating */
    CT_RED_NANSUM, /* NaN counts as 0 */
} ct_red_kind;

/* Bit mask of reduced dims from an optional dim list: None or [] means every dim. Wraps
 * negative dims; out of range -> IndexError; repeated dim -> RuntimeError. 0-dim tensors
 * accept dim 0 / -1. Returns 0, or -1 with the error set. */
int ct_reduce_mask(const char *op, ct_intlist dim, int ndim, uint32_t *mask);
/* Output sizes for reducing `mask` of x (keepdim keeps reduced dims as 1). Returns ndim. */
int ct_reduce_shape(const ct_tensor *x, uint32_t mask, bool keepdim, int64_t *out);
/* Number of elements reduced into each output element. */
int64_t ct_reduce_count(const ct_tensor *x, uint32_t mask);

/* NOTE [ Reduction engine ]
 * ct_reduce_run converts x to the compute dtype `cdt` (CT_INT64, CT_FLOAT32, CT_FLOAT64,
 * or CT_BOOL for MAX/MIN over 0/1 values) as a contiguous tensor, coalesces its dims
 * into runs of kept / reduced dims and views the problem as out[o, i] = reduce_r x[o, r, i]
 * where i is the innermost kept run (contiguous) and r the reduced runs. An innermost
 * reduced run is reduced with a vectorised multi-accumulator row kernel (pairwise for
 * float sums); otherwise rows of x are accumulated into the output row so that memory is
 * walked contiguously. Work is split over output rows/column blocks, or over the
 * reduced range (fixed chunks, combined in order: results do not depend on the thread
 * count) when there are few outputs. An empty reduced range gives the identity
 * (0, 1, -inf, +inf); callers that must raise do so first.
 * Returns a new contiguous tensor of dtype cdt with sizes out_sizes (whose numel must be
 * the number of kept elements: keepdim or not). */
ct_tensor *ct_reduce_run(ct_tensor *x, uint32_t mask, ct_red_kind kind, int cdt, const int64_t *out_sizes,
                         int out_ndim);

/* Compute dtype for accumulating values of dtype d: int64 for integers/bool, float32 for
 * 16-bit and 32-bit floats, float64 for float64. */
static inline int ct_reduce_acc_dtype(int d) {
    if (d == CT_FLOAT64) return CT_FLOAT64;
    if (ct_dtype_is_floating(d)) return CT_FLOAT32;
    return CT_INT64;
}

/* x with `dim` moved last, as a new contiguous tensor of dtype cdt (<0: x's dtype). New
 * reference (x itself when it already qualifies). */
ct_tensor *ct_movedim_last_contig(ct_tensor *x, int dim, int cdt);
/* Inverse: r has x's sizes with `dim` moved last (contiguous); returns a contiguous
 * tensor with `dim` back in place, converted to odt (<0: r's dtype). New reference. */
ct_tensor *ct_movedim_back(ct_tensor *r, int dim, int odt);

#endif
