/* ctorch/tensorboard.h — TensorBoard event files (TFRecord framing, masked CRC-32C,
 * Event/Summary protobufs, PNG images), written without any TensorBoard code. */
#ifndef CTORCH_TENSORBOARD_H
#define CTORCH_TENSORBOARD_H

#include "ctorch/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_tb_writer ct_tb_writer;

/* Create logdir (and parents) and a new events.out.tfevents.<time>.<host>.<pid>.<n><suffix>
 * file in it, starting with the file_version event. NULL on error. */
CT_API ct_tb_writer *ct_tb_writer_open(const char *logdir, const char *filename_suffix);
CT_API const char *ct_tb_writer_path(const ct_tb_writer *w); /* borrowed */
CT_API int ct_tb_flush(ct_tb_writer *w);
CT_API void ct_tb_writer_close(ct_tb_writer *w); /* flushes; NULL-safe */

/* walltime < 0 means "now". */
CT_API int ct_tb_add_scalar(ct_tb_writer *w, const char *tag, double value, int64_t step, double walltime);
/* Histogram of a tensor's values in `bins` equal-width buckets between min and max. */
CT_API int ct_tb_add_histogram(ct_tb_writer *w, const char *tag, const ct_tensor *values, int bins, int64_t step,
                               double walltime);
/* An image of uint8 pixels, HWC, channels 1 (gray), 3 (RGB) or 4 (RGBA), PNG-encoded. */
CT_API int ct_tb_add_image(ct_tb_writer *w, const char *tag, const uint8_t *hwc, int height, int width, int channels,
                           int64_t step, double walltime);
CT_API int ct_tb_add_text(ct_tb_writer *w, const char *tag, const char *text, int64_t step, double walltime);

/* Hyperparameters (the "hparams" plugin): kind 0 = number, 1 = string, 2 = bool. Writes
 * the experiment, session start and session end summaries; metrics are then logged with
 * ct_tb_add_scalar under the given tags. */
typedef struct ct_tb_hparam {
    const char *name;
    int kind;
    double number;
    const char *string;
} ct_tb_hparam;
CT_API int ct_tb_add_hparams(ct_tb_writer *w, const ct_tb_hparam *hparams, int n_hparams,
                             const char *const *metric_tags, int n_metrics, double walltime);

#ifdef __cplusplus
}
#endif
#endif
