/* ctorch.h — the C API of ctorch: tensors, their ops, autograd, layers and optimizers,
 * usable with no Python at all.
 *
 * A tour:
 *
 *     #include <ctorch/ctorch.h>
 *
 *     int64_t shape[2] = {2, 3};
 *     ct_tensor *a = ct_ones((ct_intlist){shape, 2}, CT_FLOAT32, CT_DTYPE_NONE);
 *     ct_tensor *b = ct_full((ct_intlist){shape, 2}, ct_scalar_f(2.0), CT_FLOAT32, CT_DTYPE_NONE);
 *     ct_tensor *c = ct_add(a, b, ct_scalar_i(1));          // new reference
 *     if (!c) fprintf(stderr, "%s\n", ct_last_error());     // errors never abort
 *     float *p = ct_tensor_data(c);                         // contiguous result: 3 3 3 3 3 3
 *     ct_tensor_release(a); ct_tensor_release(b); ct_tensor_release(c);
 *
 * Conventions (see core.h): functions returning a tensor return a new reference or NULL
 * with the thread-local error set; functions returning int return 0 on success. Every op
 * of the op table (the src/ops/NAME.ops files) has a C function ct_<name> declared in ops_gen.h, whose
 * arguments follow the op's schema: Tensor -> ct_tensor* (borrowed), int[] -> ct_intlist,
 * Scalar -> ct_scalar, optional int/float/bool -> pointer (NULL = None), optional dtype or
 * device -> int (-1 = None), str? -> const char* (NULL = None).
 */
#ifndef CTORCH_CTORCH_H
#define CTORCH_CTORCH_H

#include "ctorch/core.h"
#include "ctorch/autograd.h"
#include "ctorch/random.h"
#include "ctorch/ops_gen.h"
#include "ctorch/indexing.h"
#include "ctorch/serialize.h"

#endif
