/* Gradient clipping over a whole parameter list in one call: the total norm of all
 * gradients (as torch.nn.utils.clip_grad_norm_ computes it: the norm of the per-tensor
 * norms) and in-place scaling, or elementwise clamping by value. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctorch/ops_gen.h"
#include "../core/internal.h"

static double tensor_norm(ct_tensor *t, double p) {
    ct_tensor *c = ct_contig_as(t, CT_FLOAT64);
    if (!c) return NAN;
    const double *x = ct_tensor_data(c);
    int64_t n = c->numel;
    double acc = 0;
    if (isinf(p) && p > 0) {
        for (int64_t i = 0; i < n; i++) {
            double a = fabs(x[i]);
            if (a > acc || a != a) acc = a;
        }
    } else if (isinf(p)) {
        acc = INFINITY;
        for (int64_t i = 0; i < n; i++) {
            double a = fabs(x[i]);
            if (a < acc || a != a) acc = a;
        }
    } else if (p == 2.0) {
        for (int64_t i = 0; i < n; i++) acc += x[i] * x[i];
        acc = sqrt(acc);
    } else if (p == 1.0) {
        for (int64_t i = 0; i < n; i++) acc += fabs(x[i]);
    } else if (p == 0.0) {
        for (int64_t i = 0; i < n; i++) acc += x[i] != 0;
    } else {
        for (int64_t i = 0; i < n; i++) acc += pow(fabs(x[i]), p);
        acc = pow(acc, 1.0 / p);
    }
    ct_tensor_release(c);
    return acc;
}

/* Norm of the per-tensor norms, as a 0-dim tensor of the first tensor's dtype (float32
 * when the list is empty). */
ct_tensor *ct__total_norm(ct_tensorlist tensors, double norm_type) {
    int dt = CT_FLOAT32;
    double total = 0;
    bool inf = isinf(norm_type);
    for (int64_t i = 0; i < tensors.n; i++) {
        ct_tensor *t = tensors.data[i];
        if (!t) continue;
        if (!ct_dtype_is_floating(t->dtype))
            return ct_error(CT_ERR_RUNTIME, "[clip_grad_norm_] expected floating point gradients, got %s",
                            ct_dtype_name(t->dtype));
        if (i == 0) dt = t->dtype;
        double nrm = tensor_norm(t, norm_type);
        /* per-tensor norms are rounded to the tensor dtype, as torch stacks them */
        if (dt == CT_FLOAT32) nrm = (float)nrm;
        if (inf)
            total = (i == 0 || nrm > total || nrm != nrm) ? nrm : total;
        else if (norm_type == 2.0)
            total += nrm * nrm;
        else if (norm_type == 1.0 || norm_type == 0.0)
            total += nrm;
        else
            total += pow(nrm, norm_type);
    }
    if (!inf) {
        if (norm_type == 2.0)
            total = sqrt(total);
        else if (norm_type != 1.0 && norm_type != 0.0)
            total = pow(total, 1.0 / norm_type);
    }
    return ct_scalar_tensor_f64(total, dt);
}

ct_tensor *ct__clip_grad_norm_(ct_tensorlist grads, double max_norm, double norm_type, bool error_if_nonfinite) {
    ct_tensor *tn = ct__total_norm(grads, norm_type);
    if (!tn) return NULL;
    double total = ct_load_f64(ct_tensor_data(tn), tn->dtype);
    if (error_if_nonfinite && !isfinite(total)) {
        ct_tensor_release(tn);
        char order[32]; /* as Python prints the float: 2.0, 0.5, inf */
        if (isinf(norm_type))
            snprintf(order, sizeof order, "%sinf", norm_type < 0 ? "-" : "");
        else if (norm_type == floor(norm_type) && fabs(norm_type) < 1e16)
            snprintf(order, sizeof order, "%.1f", norm_type);
        else /* the shortest digits that read back as the same double */
            for (int prec = 1; prec <= 17; prec++) {
                snprintf(order, sizeof order, "%.*g", prec, norm_type);
                if (strtod(order, NULL) == norm_type) break;
            }
        return ct_error(CT_ERR_RUNTIME,
                        "The total norm of order %s for gradients from `parameters` is non-finite, so it cannot be "
                        "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
                        "`error_if_nonfinite=False`", order);
    }
    /* torch: clip_coef = max_norm / (total_norm + 1e-6), clamped to 1, in the norm's dtype */
    double coef = max_norm / (total + 1e-6);
    if (tn->dtype == CT_FLOAT32) coef = (float)((float)max_norm / ((float)total + 1e-6f));
    if (coef > 1.0) coef = 1.0;
    for (int64_t i = 0; i < grads.n; i++) {
        ct_tensor *g = grads.data[i];
        if (!g) continue;
        ct_tensor *s = ct_scalar_tensor_f64(coef, tn->dtype);
        ct_tensor *r = s ? ct_mul_(g, s) : NULL;
        ct_tensor_release(s);
        if (!r) {
            ct_tensor_release(tn);
            return NULL;
        }
        ct_tensor_release(r);
    }
    return tn;
}

int ct__clip_grad_value_(ct_tensorlist grads, double clip_value) {
    for (int64_t i = 0; i < grads.n; i++) {
        ct_tensor *g = grads.data[i];
        if (!g) continue;
        ct_tensor *c = ct_contig_as(g, CT_FLOAT64);
        if (!c) return -1;
        double *x = ct_tensor_data(c);
        for (int64_t k = 0; k < c->numel; k++) {
            if (x[k] > clip_value) x[k] = clip_value;
            else if (x[k] < -clip_value) x[k] = -clip_value;
        }
        int rc = ct_copy_into(g, c);
        ct_tensor_release(c);
        if (rc) return -1;
    }
    return 0;
}
