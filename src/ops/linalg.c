/* linalg ops */
#include "ctorch/ops_gen.h"
