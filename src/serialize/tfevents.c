/* TensorBoard event-file writer (FORMATS.md section 4): TFRecord framing with masked
 * CRC-32C, Event / Summary messages, histograms, PNG images, text and hparams. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "ctorch/tensorboard.h"
#include "../core/internal.h"
#include "proto.h"

struct ct_tb_writer {
    FILE *f;
    char path[4096];
};

static double now_seconds(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

static int mkdirs(const char *dir) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    size_t n = strlen(tmp);
    if (n == 0) return 0;
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0777) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST) return -1;
    return 0;
}

/* One TFRecord: length, masked CRC of the length, payload, masked CRC of the payload. */
static int write_record(ct_tb_writer *w, const ct_buf *payload) {
    if (payload->failed) return ct_errorf(CT_ERR_MEMORY, "[tensorboard] out of memory");
    ct_buf r = {0};
    ct_buf_u64le(&r, payload->len);
    ct_buf_u32le(&r, ct_crc32c_masked(r.data, 8));
    ct_buf_put(&r, payload->data, payload->len);
    ct_buf_u32le(&r, ct_crc32c_masked(payload->data, payload->len));
    int rc = 0;
    if (r.failed || fwrite(r.data, 1, r.len, w->f) != r.len)
        rc = ct_errorf(CT_ERR_IO, "[tensorboard] cannot write %s: %s", w->path, strerror(errno));
    ct_buf_free(&r);
    return rc;
}

/* Event{wall_time, step, summary{value...}} with the given serialized Summary.Value(s). */
static int write_summary_event(ct_tb_writer *w, const ct_buf *values, int64_t step, double walltime) {
    ct_buf summary = {0}, ev = {0};
    ct_buf_put(&summary, values->data, values->len);
    if (values->failed) summary.failed = 1;
    ct_pb_double(&ev, 1, walltime < 0 ? now_seconds() : walltime);
    if (step) ct_pb_uint(&ev, 2, (uint64_t)step);
    ct_pb_msg(&ev, 5, &summary);
    int rc = write_record(w, &ev);
    ct_buf_free(&summary);
    ct_buf_free(&ev);
    return rc;
}

ct_tb_writer *ct_tb_writer_open(const char *logdir, const char *filename_suffix) {
    if (!logdir || !*logdir) return ct_error(CT_ERR_VALUE, "[tensorboard] empty log directory");
    if (mkdirs(logdir)) return ct_error(CT_ERR_IO, "[tensorboard] cannot create %s: %s", logdir, strerror(errno));
    ct_tb_writer *w = calloc(1, sizeof *w);
    if (!w) return ct_error(CT_ERR_MEMORY, "[tensorboard] out of memory");
    static int counter = 0;
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    int n = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
    snprintf(w->path, sizeof w->path, "%s/events.out.tfevents.%lld.%s.%d.%d%s", logdir, (long long)time(NULL), host,
             (int)getpid(), n, filename_suffix ? filename_suffix : "");
    w->f = fopen(w->path, "wb");
    if (!w->f) {
        ct_error(CT_ERR_IO, "[tensorboard] cannot open %s: %s", w->path, strerror(errno));
        free(w);
        return NULL;
    }
    ct_buf ev = {0};
    ct_pb_double(&ev, 1, now_seconds());
    ct_pb_str(&ev, 3, "brain.Event:2");
    int rc = write_record(w, &ev);
    ct_buf_free(&ev);
    if (rc || ct_tb_flush(w)) {
        fclose(w->f);
        free(w);
        return NULL;
    }
    return w;
}

const char *ct_tb_writer_path(const ct_tb_writer *w) { return w->path; }

int ct_tb_flush(ct_tb_writer *w) {
    if (fflush(w->f) != 0) return ct_errorf(CT_ERR_IO, "[tensorboard] cannot flush %s", w->path);
    return 0;
}

void ct_tb_writer_close(ct_tb_writer *w) {
    if (!w) return;
    fflush(w->f);
    fclose(w->f);
    free(w);
}

static void plugin_metadata(ct_buf *value, const char *plugin, const ct_buf *content) {
    ct_buf pd = {0}, md = {0};
    ct_pb_str(&pd, 1, plugin);
    if (content && content->len) ct_pb_msg(&pd, 2, content);
    ct_pb_msg(&md, 1, &pd);
    ct_pb_msg(value, 9, &md);
    ct_buf_free(&pd);
    ct_buf_free(&md);
}

int ct_tb_add_scalar(ct_tb_writer *w, const char *tag, double value, int64_t step, double walltime) {
    ct_buf v = {0}, vals = {0};
    ct_pb_str(&v, 1, tag);
    ct_pb_float(&v, 2, (float)value);
    ct_pb_msg(&vals, 1, &v);
    int rc = write_summary_event(w, &vals, step, walltime);
    ct_buf_free(&v);
    ct_buf_free(&vals);
    return rc;
}

int ct_tb_add_histogram(ct_tb_writer *w, const char *tag, const ct_tensor *values, int bins, int64_t step,
                        double walltime) {
    if (bins < 1) return ct_errorf(CT_ERR_VALUE, "[add_histogram] bins must be positive, got %d", bins);
    ct_tensor *c = ct_contig_as((ct_tensor *)values, CT_FLOAT64);
    if (!c) return -1;
    const double *x = ct_tensor_data(c);
    int64_t n = c->numel;
    double mn = INFINITY, mx = -INFINITY, sum = 0, sq = 0;
    for (int64_t i = 0; i < n; i++) {
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
        sum += x[i];
        sq += x[i] * x[i];
    }
    if (n == 0) {
        ct_tensor_release(c);
        return ct_errorf(CT_ERR_VALUE, "[add_histogram] The histogram is empty, please file a bug report.");
    }
    if (!isfinite(mn) || !isfinite(mx)) {
        ct_tensor_release(c);
        return ct_errorf(CT_ERR_VALUE, "[add_histogram] values must be finite");
    }
    double *limits = malloc(sizeof(double) * (size_t)bins), *counts = calloc((size_t)bins, sizeof(double));
    if (!limits || !counts) {
        free(limits);
        free(counts);
        ct_tensor_release(c);
        return ct_errorf(CT_ERR_MEMORY, "[add_histogram] out of memory");
    }
    double width = (mx - mn) / bins;
    for (int b = 0; b < bins; b++) limits[b] = b == bins - 1 ? mx : mn + width * (b + 1);
    for (int64_t i = 0; i < n; i++) {
        int b = width > 0 ? (int)((x[i] - mn) / width) : bins - 1;
        if (b >= bins) b = bins - 1;
        if (b < 0) b = 0;
        /* bucket b covers (limit[b-1], limit[b]] */
        while (b > 0 && x[i] <= limits[b - 1]) b--;
        while (b < bins - 1 && x[i] > limits[b]) b++;
        counts[b] += 1;
    }
    ct_tensor_release(c);
    ct_buf h = {0}, v = {0}, vals = {0};
    ct_pb_double(&h, 1, mn);
    ct_pb_double(&h, 2, mx);
    ct_pb_double(&h, 3, (double)n);
    ct_pb_double(&h, 4, sum);
    ct_pb_double(&h, 5, sq);
    ct_pb_packed_doubles(&h, 6, limits, (size_t)bins);
    ct_pb_packed_doubles(&h, 7, counts, (size_t)bins);
    ct_pb_str(&v, 1, tag);
    ct_pb_msg(&v, 5, &h);
    plugin_metadata(&v, "histograms", NULL);
    ct_pb_msg(&vals, 1, &v);
    int rc = write_summary_event(w, &vals, step, walltime);
    free(limits);
    free(counts);
    ct_buf_free(&h);
    ct_buf_free(&v);
    ct_buf_free(&vals);
    return rc;
}

int ct_tb_add_image(ct_tb_writer *w, const char *tag, const uint8_t *hwc, int height, int width, int channels,
                    int64_t step, double walltime) {
    if (channels != 1 && channels != 3 && channels != 4)
        return ct_errorf(CT_ERR_VALUE, "[add_image] expected 1, 3 or 4 channels, got %d", channels);
    ct_buf png = {0};
    if (ct_png_encode(&png, hwc, height, width, channels)) {
        ct_buf_free(&png);
        return ct_errorf(CT_ERR_VALUE, "[add_image] cannot encode a %dx%dx%d image", height, width, channels);
    }
    ct_buf img = {0}, v = {0}, vals = {0};
    ct_pb_uint(&img, 1, (uint64_t)height);
    ct_pb_uint(&img, 2, (uint64_t)width);
    ct_pb_uint(&img, 3, (uint64_t)channels);
    ct_pb_msg(&img, 4, &png);
    ct_pb_str(&v, 1, tag);
    ct_pb_msg(&v, 4, &img);
    plugin_metadata(&v, "images", NULL);
    ct_pb_msg(&vals, 1, &v);
    int rc = write_summary_event(w, &vals, step, walltime);
    ct_buf_free(&png);
    ct_buf_free(&img);
    ct_buf_free(&v);
    ct_buf_free(&vals);
    return rc;
}

int ct_tb_add_text(ct_tb_writer *w, const char *tag, const char *text, int64_t step, double walltime) {
    char full[1024];
    snprintf(full, sizeof full, "%s/text_summary", tag);
    ct_buf shape = {0}, dim = {0}, tensor = {0}, v = {0}, vals = {0};
    ct_pb_uint(&dim, 1, 1);
    ct_pb_msg(&shape, 2, &dim);
    ct_pb_uint(&tensor, 1, 7); /* DT_STRING */
    ct_pb_msg(&tensor, 2, &shape);
    ct_pb_str(&tensor, 8, text);
    ct_pb_str(&v, 1, full);
    plugin_metadata(&v, "text", NULL);
    ct_pb_msg(&v, 8, &tensor);
    ct_pb_msg(&vals, 1, &v);
    int rc = write_summary_event(w, &vals, step, walltime);
    ct_buf_free(&shape);
    ct_buf_free(&dim);
    ct_buf_free(&tensor);
    ct_buf_free(&v);
    ct_buf_free(&vals);
    return rc;
}

/* Summary.Value{tag, metadata{plugin "hparams", content = HParamsPluginData}} */
static int write_hparams_value(ct_tb_writer *w, const char *tag, const ct_buf *plugin_data, double walltime) {
    ct_buf v = {0}, vals = {0};
    ct_pb_str(&v, 1, tag);
    plugin_metadata(&v, "hparams", plugin_data);
    ct_pb_msg(&vals, 1, &v);
    int rc = write_summary_event(w, &vals, 0, walltime);
    ct_buf_free(&v);
    ct_buf_free(&vals);
    return rc;
}

/* google.protobuf.Value for one hyperparameter. */
static void hparam_value(ct_buf *out, const ct_tb_hparam *h) {
    if (h->kind == 1)
        ct_pb_str(out, 3, h->string ? h->string : "");
    else if (h->kind == 2)
        ct_pb_uint(out, 4, h->number != 0);
    else
        ct_pb_double(out, 2, h->number);
}

int ct_tb_add_hparams(ct_tb_writer *w, const ct_tb_hparam *hp, int n_hparams, const char *const *metric_tags,
                      int n_metrics, double walltime) {
    /* Experiment: hparam_infos (name, type) and metric_infos (name{tag}) */
    ct_buf exp = {0}, data = {0};
    for (int i = 0; i < n_hparams; i++) {
        ct_buf info = {0};
        ct_pb_str(&info, 1, hp[i].name);
        ct_pb_uint(&info, 4, hp[i].kind == 1 ? 1 : hp[i].kind == 2 ? 2 : 3);
        ct_pb_msg(&exp, 4, &info);
        ct_buf_free(&info);
    }
    for (int i = 0; i < n_metrics; i++) {
        ct_buf name = {0}, info = {0};
        ct_pb_str(&name, 2, metric_tags[i]);
        ct_pb_msg(&info, 1, &name);
        ct_pb_msg(&exp, 5, &info);
        ct_buf_free(&name);
        ct_buf_free(&info);
    }
    ct_pb_msg(&data, 2, &exp);
    int rc = write_hparams_value(w, "_hparams_/experiment", &data, walltime);
    ct_buf_free(&exp);
    ct_buf_free(&data);
    if (rc) return rc;
    /* SessionStartInfo: map<string, Value> hparams = 1 */
    ct_buf start = {0};
    for (int i = 0; i < n_hparams; i++) {
        ct_buf entry = {0}, val = {0};
        ct_pb_str(&entry, 1, hp[i].name);
        hparam_value(&val, &hp[i]);
        ct_pb_msg(&entry, 2, &val);
        ct_pb_msg(&start, 1, &entry);
        ct_buf_free(&entry);
        ct_buf_free(&val);
    }
    ct_pb_double(&start, 5, walltime < 0 ? now_seconds() : walltime);
    ct_pb_msg(&data, 3, &start);
    rc = write_hparams_value(w, "_hparams_/session_start_info", &data, walltime);
    ct_buf_free(&start);
    ct_buf_free(&data);
    if (rc) return rc;
    ct_buf end = {0};
    ct_pb_uint(&end, 1, 1); /* STATUS_SUCCESS */
    ct_pb_double(&end, 2, walltime < 0 ? now_seconds() : walltime);
    ct_pb_msg(&data, 4, &end);
    rc = write_hparams_value(w, "_hparams_/session_end_info", &data, walltime);
    ct_buf_free(&end);
    ct_buf_free(&data);
    return rc;
}
