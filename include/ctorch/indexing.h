/* ctorch/indexing.h — tensor indexing from C: the engine behind Python's t[...] and
 * t[...] = v, usable with no Python.
 *
 * An index is an array of items, one per entry of the Python index tuple:
 *
 *     // t[1:, None, [2, 0]]  for a 2-d t
 *     int64_t ix[2] = {2, 0};
 *     ct_tensor *it = ct_tensor_from_data(ix, (int64_t[]){2}, 1, CT_INT64);
 *     ct_index_item items[3] = {ct_index_slice(1, CT_INDEX_END, 1), ct_index_none(), ct_index_tensor(it)};
 *     ct_tensor *r = ct_tensor_index(t, items, 3);   // new reference; shape (2, 1, 2)
 *
 * Semantics are torch's: ints select (and drop) a dimension; slices (positive step) and
 * None / Ellipsis / the whole index give views sharing storage; integer tensors (int64,
 * int32), bool/uint8 masks and bool scalars are advanced indices. Advanced indices are
 * broadcast together; when they sit next to each other the broadcast dimensions replace
 * them in place, otherwise they go first (NumPy's rule). Advanced indexing copies.
 *
 * Both functions take part in autograd: ct_tensor_index records the node torch would
 * (SelectBackward0, SliceBackward0, ..., IndexBackward0); ct_tensor_index_put_ on a tensor
 * in the graph (not a leaf requiring grad) records the write (IndexPutBackward0,
 * CopySlices, ...) so gradients reach both the old values and `value`.
 */
#ifndef CTORCH_INDEXING_H
#define CTORCH_INDEXING_H

#include "ctorch/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ct_index_kind {
    CT_INDEX_INT,      /* .i: select one position (negative counts from the end) */
    CT_INDEX_SLICE,    /* .start .stop .step: Python slice semantics, step > 0 */
    CT_INDEX_NONE,     /* new dimension of size 1 */
    CT_INDEX_ELLIPSIS, /* as many full slices as needed */
    CT_INDEX_BOOL,     /* .i: true adds a dimension of size 1, false one of size 0 */
    CT_INDEX_TENSOR    /* .tensor (borrowed): int64/int32 indices or a bool/uint8 mask */
} ct_index_kind;

/* Slice bounds past either end are clamped, as in Python; CT_INDEX_END means "to the end". */
#define CT_INDEX_END INT64_MAX

typedef struct ct_index_item {
    int kind;
    int64_t i;
    int64_t start, stop, step;
    ct_tensor *tensor;
} ct_index_item;

static inline ct_index_item ct_index_int(int64_t i) {
    ct_index_item it = {CT_INDEX_INT, i, 0, 0, 0, NULL};
    return it;
}
static inline ct_index_item ct_index_slice(int64_t start, int64_t stop, int64_t step) {
    ct_index_item it = {CT_INDEX_SLICE, 0, start, stop, step, NULL};
    return it;
}
static inline ct_index_item ct_index_none(void) {
    ct_index_item it = {CT_INDEX_NONE, 0, 0, 0, 0, NULL};
    return it;
}
static inline ct_index_item ct_index_ellipsis(void) {
    ct_index_item it = {CT_INDEX_ELLIPSIS, 0, 0, 0, 0, NULL};
    return it;
}
static inline ct_index_item ct_index_bool(bool b) {
    ct_index_item it = {CT_INDEX_BOOL, b, 0, 0, 0, NULL};
    return it;
}
static inline ct_index_item ct_index_tensor(ct_tensor *t) {
    ct_index_item it = {CT_INDEX_TENSOR, 0, 0, 0, 0, t};
    return it;
}

/* self[items]: a view sharing self's storage when every item is basic (int, slice, None,
 * Ellipsis), else a new tensor. New reference, or NULL with the error set (IndexError for
 * bad or out-of-range indices, ValueError for a non-positive step). */
CT_API ct_tensor *ct_tensor_index(ct_tensor *self, const ct_index_item *items, int n);

/* self[items] = value (value broadcast to the indexed shape and converted to self's dtype;
 * leading size-1 dimensions of value are ignored, as torch does). With accumulate, values
 * are added (repeated indices add up). Bumps self's version. 0 on success. */
CT_API int ct_tensor_index_put_(ct_tensor *self, const ct_index_item *items, int n, ct_tensor *value,
                                bool accumulate);

#ifdef __cplusplus
}
#endif
#endif
