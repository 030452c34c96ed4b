/* Loads a checkpoint written from Python (torch.save / ctorch.save of a state dict) with the
 * C API alone and prints each tensor's name, dtype, shape and sum:
 *
 *     $ load_checkpoint model.pt
 *     fc.weight float32 [4, 3] sum=1.25
 */
#include <stdio.h>

#include "ctorch/ctorch.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CHECKPOINT\n", argv[0]);
        return 2;
    }
    ct_state_dict sd;
    if (ct_load_state_dict(argv[1], &sd)) {
        fprintf(stderr, "error: %s\n", ct_last_error());
        return 1;
    }
    for (size_t i = 0; i < sd.n; i++) {
        ct_tensor *t = sd.tensors[i];
        char shape[256];
        /* new reference: a 0-dim float64 holding the sum over all dims */
        ct_tensor *s = ct_sum(t, CT_INTLIST_NONE, false, CT_FLOAT64);
        if (!s) {
            fprintf(stderr, "error: %s\n", ct_last_error());
            ct_state_dict_free(&sd);
            return 1;
        }
        printf("%s %s %s sum=%.10g\n", sd.names[i], ct_dtype_name(t->dtype),
               ct_shape_str(t->sizes, t->ndim, shape, sizeof shape), *(double *)ct_tensor_data(s));
        ct_tensor_release(s);
    }
    ct_state_dict_free(&sd);
    return 0;
}
