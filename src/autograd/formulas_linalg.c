/* Backward formulas of the matmul family and torch.linalg. */
#include <stdlib.h>
#include <string.h>

#include "autograd_internal.h"
