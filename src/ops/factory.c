/* Factories: zeros, ones, full, empty, arange, range, linspace, logspace, eye, empty_strided,
 * tril_indices, triu_indices. */
/* Values must round exactly as torch's do: no implicit a*b+c fusion (-march=native enables FMA). */
#pragma GCC optimize("fp-contract=off")
#include "ctorch/ops_gen.h"
#include "../core/internal.h"

static ct_tensor *filled(ct_intlist size, int dtype, ct_scalar v, bool fill) {
    if (size.n > CT_MAX_DIM) return ct_error(CT_ERR_RUNTIME, "[factory] too many dimensions (%lld)", (long long)size.n);
    ct_tensor *t = ct_empty(size.data, (int)size.n, dtype);
    if (!t || !fill) return t;
    if (ct_fill_(t, v) == NULL) {
        ct_tensor_release(t);
        return NULL;
    }
    ct_tensor_release(t); /* ct_fill_ returned a new reference */
    return t;
}

ct_tensor *ct_zeros(ct_intlist size, int dtype, int device) {
    (void)device;
    ct_tensor *t = filled(size, dtype < 0 ? ct_get_default_dtype() : dtype, ct_scalar_i(0), false);
    if (t && t->numel) memset(ct_tensor_data(t), 0, (size_t)t->numel * ct_dtype_sizes[t->dtype]);
    return t;
}
ct_tensor *ct_ones(ct_intlist size, int dtype, int device) {
    (void)device;
    return filled(size, dtype < 0 ? ct_get_default_dtype() : dtype, ct_scalar_i(1), true);
}
ct_tensor *ct_full(ct_intlist size, ct_scalar fill_value, int dtype, int device) {
    (void)device;
    if (dtype < 0) dtype = ct_scalar_dtype(fill_value);
    return filled(size, dtype, fill_value, true);
}
ct_tensor *ct_empty_size(ct_intlist size, int dtype, int device) {
    (void)device;
    return filled(size, dtype < 0 ? ct_get_default_dtype() : dtype, ct_scalar_i(0), false);
}

/* ------------------------------------------------------------------ ranges */

static bool scalar_is_float(ct_scalar s) { return s.kind == CT_SCALAR_FLOAT; }

/* arange/range element count and values. Integral results accumulate in int64 (the scalars
 * truncated), floating results in double, as torch's CPU kernel. */
static ct_tensor *arange_impl(ct_scalar start, ct_scalar end, ct_scalar step, int dtype, bool inclusive) {
    if (dtype < 0)
        dtype = (inclusive || scalar_is_float(start) || scalar_is_float(end) || scalar_is_float(step))
                    ? ct_get_default_dtype() : CT_INT64;
    const char *op = inclusive ? "range" : "arange";
    double ds = ct_scalar_to_f64(start), de = ct_scalar_to_f64(end), dst = ct_scalar_to_f64(step);
    bool integral = ct_dtype_is_integral(dtype, true);
    if (!isfinite(ds) || !isfinite(de))
        return ct_error(CT_ERR_RUNTIME, "unsupported range: %g -> %g", ds, de);
    int64_t size;
    if (integral) {
        int64_t is = ct_scalar_to_i64(start), ie = ct_scalar_to_i64(end), ist = ct_scalar_to_i64(step);
        /* as torch: a zero step, then the sign check on the untruncated step, then a step
         * that truncates to 0 (ValueError for int64) */
        if (dst == 0) return ct_error(CT_ERR_RUNTIME, "step must be nonzero");
        double sgn_ok = dst;
        if (!((sgn_ok > 0 && de >= ds) || (sgn_ok < 0 && de <= ds)))
            return ct_error(CT_ERR_RUNTIME, "upper bound and %s bound inconsistent with step sign",
                            inclusive ? "larger" : "lower");
        if (ist == 0 && dtype == CT_INT64) return ct_error(CT_ERR_VALUE, "step must be nonzero");
        double size_d;
        if (inclusive) {
            size_d = floor((de - ds) / dst) + 1;
        } else if (dtype == CT_INT64) {
            int64_t sgn = (ist > 0) - (ist < 0);
            size_d = ceil((double)((ie - is + ist - sgn) / ist));
        } else {
            size_d = ceil((de - ds) / dst);
        }
        if (!(size_d >= 0 && size_d <= 9.2e18)) return ct_error(CT_ERR_RUNTIME, "invalid size, possible overflow?");
        size = (int64_t)size_d;
        ct_tensor *t = ct_empty(&size, 1, dtype);
        if (!t) return NULL;
        char *p = ct_tensor_data(t);
        size_t es = ct_dtype_size(dtype);
        for (int64_t i = 0; i < size; i++) ct_store_i64(p + i * (int64_t)es, dtype, is + ist * i);
        return t;
    }
    if (dst == 0) return ct_error(CT_ERR_RUNTIME, "step must be nonzero");
    if (!((dst > 0 && de >= ds) || (dst < 0 && de <= ds)))
        return ct_error(CT_ERR_RUNTIME, "upper bound and %s bound inconsistent with step sign",
                        inclusive ? "larger" : "lower");
    double size_d = inclusive ? floor((de - ds) / dst) + 1 : ceil((de - ds) / dst);
    if (!(size_d >= 0 && size_d <= 9.2e18)) return ct_error(CT_ERR_RUNTIME, "invalid size, possible overflow?");
    size = (int64_t)size_d;
    ct_tensor *t = ct_empty(&size, 1, dtype);
    if (!t) return NULL;
    char *p = ct_tensor_data(t);
    size_t es = ct_dtype_size(dtype);
    if (dtype == CT_FLOAT32 || dtype == CT_FLOAT64) {
        /* NOTE [ arange rounding ]: torch's CPU kernel fills pairs of 256-bit vectors, each
         * from base = start + step*i (fused) plus k*step (fused) for k < lanes, and the tail
         * element by element; we reproduce that to get the same last bits. */
        int lanes = dtype == CT_FLOAT32 ? 8 : 4;
        int64_t full = size / (2 * lanes) * (2 * lanes); /* vectors go in pairs */
        for (int64_t i = 0; i < full; i += lanes) {
            double base = fma(dst, (double)i, ds);
            if (dtype == CT_FLOAT32) {
                base = (float)base;
                for (int k = 0; k < lanes; k++) ((float *)p)[i + k] = (float)fma((double)k, dst, base);
            } else {
                for (int k = 0; k < lanes; k++) ((double *)p)[i + k] = fma((double)k, dst, base);
            }
        }
        for (int64_t i = full; i < size; i++) ct_store_f64(p + i * (int64_t)es, dtype, fma(dst, (double)i, ds));
    } else {
        for (int64_t i = 0; i < size; i++) ct_store_f64(p + i * (int64_t)es, dtype, ds + dst * (double)i);
    }
    (void)op;
    return t;
}

ct_tensor *ct_arange(ct_scalar end, int dtype, int device) {
    (void)device;
    return arange_impl(ct_scalar_i(0), end, ct_scalar_i(1), dtype, false);
}
ct_tensor *ct_arange_start(ct_scalar start, ct_scalar end, ct_scalar step, int dtype, int device) {
    (void)device;
    return arange_impl(start, end, step, dtype, false);
}
ct_tensor *ct_range(ct_scalar start, ct_scalar end, ct_scalar step, int dtype, int device) {
    (void)device;
    return arange_impl(start, end, step, dtype, true);
}

static float round16(int dtype, float x) {
    return dtype == CT_FLOAT16 ? ct_half_to_float(ct_float_to_half(x)) : ct_bf16_to_float(ct_float_to_bf16(x));
}

/* linspace: the first half counts up from start, the second half down from end, in the
 * result's type (double steps for integral results), as torch's CPU kernel. */
static ct_tensor *linspace_impl(ct_scalar start, ct_scalar end, int64_t steps, int dtype, const double *base) {
    if (steps < 0) return ct_error(CT_ERR_RUNTIME, "number of steps must be non-negative");
    if (dtype < 0) dtype = ct_get_default_dtype();
    ct_tensor *t = ct_empty(&steps, 1, dtype);
    if (!t || steps == 0) return t;
    char *p = ct_tensor_data(t);
    size_t es = ct_dtype_size(dtype);
    double s = ct_scalar_to_f64(start), e = ct_scalar_to_f64(end);
    int64_t half = steps / 2;
    if (steps == 1) half = 1; /* a single point is start */
    if (!base) {
        /* torch's linspace kernel fuses start + step*i and end - step*(steps-1-i); floats
         * step in their own type, integers in double */
        if (dtype == CT_FLOAT32) {
            float fs = (float)s, fe = (float)e, step = steps == 1 ? 0.0f : (fe - fs) / (float)(steps - 1);
            float *f = (float *)p;
            for (int64_t i = 0; i < steps; i++)
                f[i] = i < half ? fmaf(step, (float)i, fs) : fmaf(-step, (float)(steps - i - 1), fe);
            return t;
        }
        if (dtype == CT_FLOAT16 || dtype == CT_BFLOAT16) {
            /* 16-bit floats: every operation rounds to the type (torch's Half arithmetic) */
            float hs = round16(dtype, (float)s), he = round16(dtype, (float)e);
            float step = steps == 1 ? 0.0f : round16(dtype, round16(dtype, he - hs) / round16(dtype, (float)(steps - 1)));
            for (int64_t i = 0; i < steps; i++) {
                float v = i < half ? round16(dtype, hs + round16(dtype, step * round16(dtype, (float)i)))
                                   : round16(dtype, he - round16(dtype, step * round16(dtype, (float)(steps - i - 1))));
                ct_store_f64(p + i * (int64_t)es, dtype, v);
            }
            return t;
        }
        if (ct_dtype_is_integral(dtype, true)) { /* the ends converted to the type first */
            /* c10's checked conversion: in range, except that negative ints may wrap into
             * an unsigned type (down to -max) */
            static const double lim[][2] = {{0, 1}, {0, 255}, {-128, 127}, {-32768, 32767},
                                            {-2147483648.0, 2147483647.0}, {-9.3e18, 9.3e18}};
            static const char *names[] = {"bool", "uint8_t", "int8_t", "int16_t", "int", "int64_t"};
            ct_scalar ends[2] = {start, end};
            for (int k = 0; k < 2 && dtype != CT_BOOL; k++) {
                double v = ct_scalar_to_f64(ends[k]);
                double lo = lim[dtype][0];
                if (dtype == CT_UINT8 && ends[k].kind != CT_SCALAR_FLOAT) lo = -255;
                if (v < lo || v > lim[dtype][1]) {
                    ct_tensor_release(t);
                    return ct_error(CT_ERR_RUNTIME, "value cannot be converted to type %s without overflow", names[dtype]);
                }
            }
            char tmp[8];
            ct_store_scalar(tmp, dtype, start);
            s = (double)ct_load_i64(tmp, dtype);
            ct_store_scalar(tmp, dtype, end);
            e = (double)ct_load_i64(tmp, dtype);
        }
        double step = steps == 1 ? 0.0 : (e - s) / (double)(steps - 1);
        for (int64_t i = 0; i < steps; i++) {
            double v = i < half ? fma(step, (double)i, s) : fma(-step, (double)(steps - i - 1), e);
            if (ct_dtype_is_floating(dtype))
                ct_store_f64(p + i * (int64_t)es, dtype, v);
            else
                ct_store_i64(p + i * (int64_t)es, dtype, (int64_t)v);
        }
        return t;
    }
    /* logspace: exponents and pow in double (torch computes these without fusion) */
    if (ct_dtype_is_integral(dtype, true)) {
        s = (double)ct_scalar_to_i64(start);
        e = (double)ct_scalar_to_i64(end);
    }
    double step = steps == 1 ? 0.0 : (e - s) / (double)(steps - 1);
    for (int64_t i = 0; i < steps; i++) {
        double v = i < half ? s + step * (double)i : e - step * (double)(steps - i - 1);
        if (base) v = pow(*base, v);
        if (ct_dtype_is_floating(dtype))
            ct_store_f64(p + i * (int64_t)es, dtype, v);
        else
            ct_store_i64(p + i * (int64_t)es, dtype, (int64_t)v);
    }
    return t;
}

ct_tensor *ct_linspace(ct_scalar start, ct_scalar end, int64_t steps, int dtype, int device) {
    (void)device;
    return linspace_impl(start, end, steps, dtype, NULL);
}
ct_tensor *ct_logspace(ct_scalar start, ct_scalar end, int64_t steps, double base, int dtype, int device) {
    (void)device;
    return linspace_impl(start, end, steps, dtype, &base);
}

/* ------------------------------------------------------------------ eye, empty_strided */

ct_tensor *ct_eye_m(int64_t n, int64_t m, int dtype, int device) {
    (void)device;
    if (n < 0) return ct_error(CT_ERR_RUNTIME, "n must be greater or equal to 0, got %lld", (long long)n);
    if (m < 0) return ct_error(CT_ERR_RUNTIME, "m must be greater or equal to 0, got %lld", (long long)m);
    int64_t sz[2] = {n, m};
    ct_tensor *t = ct_zeros((ct_intlist){sz, 2}, dtype, device);
    if (!t) return NULL;
    char *p = ct_tensor_data(t);
    size_t es = ct_dtype_size(t->dtype);
    for (int64_t i = 0; i < n && i < m; i++) ct_store_i64(p + (i * m + i) * (int64_t)es, t->dtype, 1);
    return t;
}
ct_tensor *ct_eye(int64_t n, int dtype, int device) { return ct_eye_m(n, n, dtype, device); }

ct_tensor *ct_empty_strided(ct_intlist size, ct_intlist stride, int dtype, int device) {
    (void)device;
    if (dtype < 0) dtype = ct_get_default_dtype();
    if (size.n != stride.n)
        return ct_error(CT_ERR_RUNTIME, "mismatch in length of strides and shape");
    if (size.n > CT_MAX_DIM) return ct_error(CT_ERR_RUNTIME, "[empty_strided] too many dimensions");
    int64_t need = 1;
    bool empty = false;
    for (int64_t i = 0; i < size.n; i++) {
        if (size.data[i] < 0)
            return ct_error(CT_ERR_RUNTIME, "Trying to create tensor with negative dimension %lld: [size]",
                            (long long)size.data[i]);
        if (stride.data[i] < 0) {
            char a[256], b[256];
            return ct_error(CT_ERR_RUNTIME, "Storage size calculation overflowed with sizes=%s and strides=%s",
                            ct_shape_str(size.data, (int)size.n, a, sizeof a),
                            ct_shape_str(stride.data, (int)stride.n, b, sizeof b));
        }
        if (size.data[i] == 0) empty = true;
        need += (size.data[i] - 1) * stride.data[i];
    }
    if (empty) need = 0;
    ct_storage *st = ct_storage_new((size_t)need * ct_dtype_size(dtype));
    if (!st) return NULL;
    ct_tensor *t = ct_tensor_new_view(st, dtype, 0, size.data, stride.data, (int)size.n);
    ct_storage_release(st);
    return t;
}

/* ------------------------------------------------------------------ tril/triu indices */

static ct_tensor *tri_indices(int64_t row, int64_t col, int64_t offset, int dtype, bool lower) {
    if (dtype < 0) dtype = CT_INT64;
    if (row < 0) return ct_error(CT_ERR_RUNTIME, "row must be non-negative, got%lld", (long long)row);
    if (col < 0) return ct_error(CT_ERR_RUNTIME, "col must be non-negative, got%lld", (long long)col);
    if (dtype != CT_INT64 && dtype != CT_INT32)
        return ct_error(CT_ERR_NOT_IMPLEMENTED, "\"%s_indices\" not implemented for '%s'", lower ? "tril" : "triu",
                        ct_dtype_name(dtype));
    int64_t count = 0;
    for (int64_t i = 0; i < row; i++) {
        int64_t lo = lower ? 0 : (i + offset > 0 ? i + offset : 0);
        int64_t hi = lower ? (i + offset + 1 < col ? i + offset + 1 : col) : col;
        if (hi > lo) count += hi - lo;
    }
    int64_t sz[2] = {2, count};
    ct_tensor *t = ct_empty(sz, 2, dtype);
    if (!t) return NULL;
    char *p = ct_tensor_data(t);
    size_t es = ct_dtype_size(dtype);
    int64_t k = 0;
    for (int64_t i = 0; i < row; i++) {
        int64_t lo = lower ? 0 : (i + offset > 0 ? i + offset : 0);
        int64_t hi = lower ? (i + offset + 1 < col ? i + offset + 1 : col) : col;
        for (int64_t j = lo; j < hi; j++, k++) {
            ct_store_i64(p + k * (int64_t)es, dtype, i);
            ct_store_i64(p + (count + k) * (int64_t)es, dtype, j);
        }
    }
    return t;
}

ct_tensor *ct_tril_indices(int64_t row, int64_t col, int64_t offset, int dtype, int device) {
    (void)device;
    return tri_indices(row, col, offset, dtype, true);
}
ct_tensor *ct_triu_indices(int64_t row, int64_t col, int64_t offset, int dtype, int device) {
    (void)device;
    return tri_indices(row, col, offset, dtype, false);
}
