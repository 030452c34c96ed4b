/* Fused optimizer steps: one call updates every parameter of a param group (and its state) in
 * place. Each kernel reproduces, element by element, the order of floating-point operations of
 * torch's single-tensor (foreach=False) CPU algorithm, with Python-float scalars (lr, betas,
 * bias corrections) computed in double and cast to the parameter dtype where torch casts them.
 * Also the flat-vector helpers LBFGS needs (gather, add, dot, abs max/sum). */
#include <math.h>

#include "core/internal.h"
#include "ctorch/ops_gen.h"

/* NOTE [ Optimizer rounding ]
 * torch evaluates e.g. `exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)` as two
 * rounded steps, `v*b2` then `v + (c*g)*g`. Contracting these into FMAs would change the
 * trajectory in the last bits, so contraction is off in this file. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define MAXSLOTS 6

typedef struct {
    char *d[MAXSLOTS]; /* contiguous data: 0 param, 1 grad, 2.. state tensors */
    double c[12];      /* scalars */
    int f[4];          /* flags */
} kctx;

#define SQ(x) _Generic((x), float: sqrtf, default: sqrt)(x)
#define ABS(x) _Generic((x), float: fabsf, default: fabs)(x)
/* torch's lerp: self + w*(end-self) for |w| < 0.5, else end - (end-self)*(1-w). */
#define LERP(a, b, w) ((ABS(w) < (T)0.5) ? (a) + (w) * ((b) - (a)) : (b) - ((b) - (a)) * ((T)1 - (w)))

/* NOTE [ 16-bit optimizer math ]
 * Each kernel is written once over a storage type ST (float, double, h16, b16) and a compute
 * type T (float for 16-bit storage, like torch's opmath). torch evaluates a step as a sequence
 * of tensor ops, each rounding its result to the tensor dtype; R(x) marks those op boundaries
 * (identity for float32/float64, round-to-16-bit for float16/bfloat16), so reduced-precision
 * trajectories follow torch's too. Scalars are cast to T as torch does for opmath, except the
 * alpha of add(..., alpha=a) and a scalar added with add(s), which torch first rounds to the
 * 16-bit dtype. (torch's add also rounds alpha*other separately on the scalar tail of its
 * vectorised loop; we follow the vectorised body, so 16-bit results can differ by one ulp on a
 * few elements. float32/float64 are unaffected.) */
typedef struct { uint16_t x; } h16;
typedef struct { uint16_t x; } b16;
static inline float ld_f32(const float *p, int64_t i) { return p[i]; }
static inline double ld_f64(const double *p, int64_t i) { return p[i]; }
static inline float ld_h16(const h16 *p, int64_t i) { return ct_half_to_float(p[i].x); }
static inline float ld_b16(const b16 *p, int64_t i) { return ct_bf16_to_float(p[i].x); }
static inline void st_f32(float *p, int64_t i, float v) { p[i] = v; }
static inline void st_f64(double *p, int64_t i, double v) { p[i] = v; }
static inline void st_h16(h16 *p, int64_t i, float v) { p[i].x = ct_float_to_half(v); }
static inline void st_b16(b16 *p, int64_t i, float v) { p[i].x = ct_float_to_bf16(v); }
#define LD(p, i) _Generic((p), float *: ld_f32, const float *: ld_f32, double *: ld_f64, const double *: ld_f64, \
                          h16 *: ld_h16, const h16 *: ld_h16, b16 *: ld_b16, const b16 *: ld_b16)(p, i)
#define STO(p, i, v) _Generic((p), float *: st_f32, double *: st_f64, h16 *: st_h16, b16 *: st_b16)(p, i, v)
static inline float round_h16(float x) { return ct_half_to_float(ct_float_to_half(x)); }
static inline float round_b16(float x) { return ct_bf16_to_float(ct_float_to_bf16(x)); }
#define R(x) (RK == 1 ? (T)round_h16((float)(x)) : RK == 2 ? (T)round_b16((float)(x)) : (x))

#define DEF_VARIANT(NAME, SUFFIX, STYPE, CTYPE, RKIND, ...)                          \
    static void NAME##_##SUFFIX(int64_t b, int64_t e, void *vc) {                   \
        typedef STYPE ST;                                                            \
        typedef CTYPE T;                                                             \
        enum { RK = RKIND };                                                         \
        const kctx *k = (const kctx *)vc;                                            \
        __VA_ARGS__                                                                  \
    }
#define DEF_KERNEL(NAME, ...)                                                        \
    DEF_VARIANT(NAME, f32, float, float, 0, __VA_ARGS__)                             \
    DEF_VARIANT(NAME, f64, double, double, 0, __VA_ARGS__)                           \
    DEF_VARIANT(NAME, f16, h16, float, 1, __VA_ARGS__)                               \
    DEF_VARIANT(NAME, bf16, b16, float, 2, __VA_ARGS__)                              \
    static const ct_range_fn NAME[4] = {NAME##_f32, NAME##_f64, NAME##_f16, NAME##_bf16};

#define P ((ST *)k->d[0])
#define G ((const ST *)k->d[1])
#define S(j) ((ST *)k->d[2 + (j)])
/* maximize: multiply by -1 (exact negation), branch-free so loops vectorise */
#define GS ((T)(k->f[0] ? -1 : 1))

/* NOTE [ Specialised loops ]
 * Options that change the arithmetic (weight-decay mode, amsgrad, momentum, centered, ...) are
 * turned into compile-time constants: each kernel expands its loop once per combination through
 * a *_LOOP(flags...) macro, so every instance is branch-free and vectorises. Loads of optional
 * state (e.g. max_exp_avg_sq) happen only in the instances that use them. */
#define DISPATCH2(a, b, LOOP)          \
    do {                               \
        if (a) {                       \
            if (b) LOOP(1, 1) else LOOP(1, 0) \
        } else {                       \
            if (b) LOOP(0, 1) else LOOP(0, 0) \
        }                              \
    } while (0)
#define DISPATCH_MODE(mode, b, LOOP)                         \
    do {                                                     \
        if ((mode) == 2) DISPATCH2(1, b, LOOP##_DEC);        \
        else if ((mode) == 1) DISPATCH2(1, b, LOOP##_L2);    \
        else DISPATCH2(0, b, LOOP##_L2);                     \
    } while (0)

/* SGD. c: lr, momentum, dampening, weight_decay; f: maximize, has_momentum, nesterov, fresh. */
#define SGD_LOOP(WD, MOM, NEST, FRESH)                                  \
    for (int64_t i = b; i < e; i++) {                                   \
        T g = LD(G, i) * gs, pi = LD(p, i);                             \
        if (WD) g = R(g + wd * pi);                                     \
        if (MOM) {                                                      \
            T bu = g;                                                   \
            if (!(FRESH)) {                                             \
                bu = R(LD(buf, i) * mom);                               \
                bu = R(bu + omd * g);                                   \
            }                                                           \
            STO(buf, i, bu);                                            \
            g = (NEST) ? R(g + momA * bu) : bu;                         \
        }                                                               \
        STO(p, i, R(pi + nlr * g));                                     \
    }
#define SGD_M(W, N, F) SGD_LOOP(W, 1, N, F)
DEF_KERNEL(sgd_k, {
    ST *p = P, *buf = S(0);
    /* add(..., alpha=a) rounds a to the storage dtype (identity for float32/64) */
    const T gs = GS, nlr = R((T)(-k->c[0])), mom = (T)k->c[1], momA = R(mom), omd = R((T)(1 - k->c[2]));
    const T wd = R((T)k->c[3]);
    const int hasmom = k->f[1], nest = k->f[2], fresh = k->f[3], haswd = k->c[3] != 0;
    if (!hasmom) {
        if (haswd) SGD_LOOP(1, 0, 0, 0) else SGD_LOOP(0, 0, 0, 0)
    } else if (fresh) {
        if (haswd) { if (nest) SGD_M(1, 1, 1) else SGD_M(1, 0, 1) }
        else { if (nest) SGD_M(0, 1, 1) else SGD_M(0, 0, 1) }
    } else {
        if (haswd) { if (nest) SGD_M(1, 1, 0) else SGD_M(1, 0, 0) }
        else { if (nest) SGD_M(0, 1, 0) else SGD_M(0, 0, 0) }
    }
})

/* Adam, NAdam, RAdam: element i's gradient g (weight decay: decoupled DEC or L2) and parameter
 * pi, first and second moments mi, vi updated and stored. */
#define ADAM_MOMENTS(DEC, L2)                                           \
        T g = LD(G, i) * gs, pi = LD(p, i);                             \
        if (DEC) pi = R(pi * decay);                                    \
        if (L2) g = R(g + wd * pi);                                     \
        T mi = LD(m, i);                                                \
        mi = R(LERP(mi, g, w1));                                        \
        T vi = R(LD(v, i) * b2);                                        \
        vi = R(vi + omb2 * g * g);                                      \
        STO(m, i, mi);                                                  \
        STO(v, i, vi);

/* Adam/AdamW. c: wd, decay, 1-beta1, beta2, 1-beta2, sqrt(bc2), eps, -step_size;
 * f: maximize, wd mode (0 none, 1 L2, 2 decoupled), amsgrad. */
#define ADAM_LOOP(DEC, L2, AMS)                                         \
    for (int64_t i = b; i < e; i++) {                                   \
        ADAM_MOMENTS(DEC, L2)                                           \
        if (AMS) {                                                      \
            T x = LD(mx, i);                                            \
            x = (x > vi || x != x) ? x : vi;                            \
            STO(mx, i, x);                                              \
            vi = x;                                                     \
        }                                                               \
        T den = R(SQ(vi));                                              \
        den = R(den / bc2s);                                            \
        den = R(den + eps);                                             \
        STO(p, i, R(pi + nss * mi / den));                              \
    }
#define ADAM_DEC(on, ams) ADAM_LOOP(1, 0, ams)
#define ADAM_L2(on, ams) ADAM_LOOP(0, on, ams)
DEF_KERNEL(adam_k, {
    ST *p = P, *m = S(0), *v = S(1), *mx = S(2);
    const T gs = GS, wd = R((T)k->c[0]), decay = (T)k->c[1], w1 = (T)k->c[2], b2 = (T)k->c[3], omb2 = (T)k->c[4];
    const T bc2s = (T)k->c[5], eps = R((T)k->c[6]), nss = (T)k->c[7];
    DISPATCH_MODE(k->f[1], k->f[2], ADAM);
})

/* RMSprop. c: -lr, alpha, 1-alpha, eps, wd, momentum; f: maximize, centered, has_momentum. */
#define RMS_LOOP(WD, CEN, MOM)                                          \
    for (int64_t i = b; i < e; i++) {                                   \
        T g = LD(G, i) * gs;                                            \
        if (WD) g = R(g + wd * LD(p, i));                               \
        T s = R(LD(sq, i) * al);                                        \
        s = R(s + oma * g * g);                                         \
        STO(sq, i, s);                                                  \
        T avg;                                                          \
        if (CEN) {                                                      \
            T a = LD(ga, i);                                            \
            a = R(LERP(a, g, oma));                                     \
            STO(ga, i, a);                                              \
            avg = R(s + (T)(-1) * a * a);                               \
            avg = R(SQ(avg));                                           \
        } else {                                                        \
            avg = R(SQ(s));                                             \
        }                                                               \
        avg = R(avg + eps);                                             \
        if (MOM) {                                                      \
            T bu = R(LD(buf, i) * mom);                                 \
            bu = R(bu + (T)1 * g / avg);                                \
            STO(buf, i, bu);                                            \
            STO(p, i, R(LD(p, i) + nlrA * bu));                         \
        } else {                                                        \
            STO(p, i, R(LD(p, i) + nlr * g / avg));                     \
        }                                                               \
    }
#define RMS_W1(c, m) RMS_LOOP(1, c, m)
#define RMS_W0(c, m) RMS_LOOP(0, c, m)
DEF_KERNEL(rmsprop_k, {
    ST *p = P, *sq = S(0), *ga = S(1), *buf = S(2);
    const T gs = GS, nlr = (T)k->c[0], nlrA = R(nlr), al = (T)k->c[1], oma = (T)k->c[2], eps = R((T)k->c[3]);
    const T wd = R((T)k->c[4]), mom = (T)k->c[5];
    if (k->c[4] != 0) DISPATCH2(k->f[1], k->f[2], RMS_W1);
    else DISPATCH2(k->f[1], k->f[2], RMS_W0);
})

/* Adagrad. c: -clr, wd, eps; f: maximize. */
#define ADAGRAD_LOOP(WD)                                                \
    for (int64_t i = b; i < e; i++) {                                   \
        T g = LD(G, i) * gs, pi = LD(p, i);                             \
        if (WD) g = R(g + wd * pi);                                     \
        T s = R(LD(sum, i) + (T)1 * g * g);                             \
        STO(sum, i, s);                                                 \
        T sd = R(SQ(s));                                                \
        sd = R(sd + eps);                                               \
        STO(p, i, R(pi + nclr * g / sd));                               \
    }
DEF_KERNEL(adagrad_k, {
    ST *p = P, *sum = S(0);
    const T gs = GS, nclr = (T)k->c[0], wd = R((T)k->c[1]), eps = R((T)k->c[2]);
    if (k->c[1] != 0) ADAGRAD_LOOP(1) else ADAGRAD_LOOP(0)
})

/* Adadelta. c: -lr, rho, 1-rho, eps, wd; f: maximize. */
#define ADADELTA_LOOP(WD)                                               \
    for (int64_t i = b; i < e; i++) {                                   \
        T g = LD(G, i) * gs, pi = LD(p, i);                             \
        if (WD) g = R(g + wd * pi);                                     \
        T s = R(LD(sq, i) * rho);                                       \
        s = R(s + omr * g * g);                                         \
        STO(sq, i, s);                                                  \
        T sd = R(s + eps);                                              \
        sd = R(SQ(sd));                                                 \
        T ac = LD(acc, i);                                              \
        T delta = R(ac + eps);                                          \
        delta = R(SQ(delta));                                           \
        delta = R(delta / sd);                                          \
        delta = R(delta * g);                                           \
        T a = R(ac * rho);                                              \
        STO(acc, i, R(a + omr * delta * delta));                        \
        STO(p, i, R(pi + nlr * delta));                                 \
    }
DEF_KERNEL(adadelta_k, {
    ST *p = P, *sq = S(0), *acc = S(1);
    const T gs = GS, nlr = R((T)k->c[0]), rho = (T)k->c[1], omr = (T)k->c[2], eps = R((T)k->c[3]);
    const T wd = R((T)k->c[4]);
    if (k->c[4] != 0) ADADELTA_LOOP(1) else ADADELTA_LOOP(0)
})

/* Adamax. c: -clr, 1-beta1, beta2, eps, wd; f: maximize. */
#define ADAMAX_LOOP(WD)                                                 \
    for (int64_t i = b; i < e; i++) {                                   \
        T g = LD(G, i) * gs, pi = LD(p, i);                             \
        if (WD) g = R(g + wd * pi);                                     \
        T mi = LD(m, i);                                                \
        mi = R(LERP(mi, g, w1));                                        \
        STO(m, i, mi);                                                  \
        T a = R(LD(u, i) * b2), c = R(ABS(g) + eps);                    \
        T ui = (a > c || a != a) ? a : c;                               \
        STO(u, i, ui);                                                  \
        STO(p, i, R(pi + nclr * mi / ui));                              \
    }
DEF_KERNEL(adamax_k, {
    ST *p = P, *m = S(0), *u = S(1);
    const T gs = GS, nclr = (T)k->c[0], w1 = (T)k->c[1], b2 = (T)k->c[2], eps = R((T)k->c[3]);
    const T wd = R((T)k->c[4]);
    if (k->c[4] != 0) ADAMAX_LOOP(1) else ADAMAX_LOOP(0)
})

/* NAdam. c: wd, decay, 1-beta1, beta2, 1-beta2, bc2, eps, coef_grad, coef_avg;
 * f: maximize, wd mode. */
#define NADAM_LOOP(DEC, L2)                                             \
    for (int64_t i = b; i < e; i++) {                                   \
        ADAM_MOMENTS(DEC, L2)                                           \
        T den = R(vi / bc2);                                            \
        den = R(SQ(den));                                               \
        den = R(den + eps);                                             \
        pi = R(pi + cg * g / den);                                      \
        STO(p, i, R(pi + cm * mi / den));                               \
    }
DEF_KERNEL(nadam_k, {
    ST *p = P, *m = S(0), *v = S(1);
    const T gs = GS, wd = R((T)k->c[0]), decay = (T)k->c[1], w1 = (T)k->c[2], b2 = (T)k->c[3], omb2 = (T)k->c[4];
    const T bc2 = (T)k->c[5], eps = R((T)k->c[6]), cg = (T)k->c[7], cm = (T)k->c[8];
    const int mode = k->f[1];
    if (mode == 2) NADAM_LOOP(1, 0) else if (mode == 1) NADAM_LOOP(0, 1) else NADAM_LOOP(0, 0)
})

/* RAdam. c: wd, decay, 1-beta1, beta2, 1-beta2, bc1, lr, sqrt(bc2), eps, rect;
 * f: maximize, wd mode, rectified (rho_t > 5). */
#define RADAM_LOOP(DEC, L2, RECT)                                       \
    for (int64_t i = b; i < e; i++) {                                   \
        ADAM_MOMENTS(DEC, L2)                                           \
        T upd = R(mi / bc1);                                            \
        upd = R(upd * lr);                                              \
        if (RECT) {                                                     \
            T a = R(SQ(vi));                                            \
            a = R(a + eps);                                             \
            a = R((T)1 / a); /* scalar / tensor is reciprocal() * scalar */ \
            a = R(a * bc2s);                                            \
            upd = R(upd * a);                                           \
            upd = R(upd * rect);                                        \
        }                                                               \
        STO(p, i, R(pi + (T)(-1) * upd));                               \
    }
#define RADAM_DEC(on, r) RADAM_LOOP(1, 0, r)
#define RADAM_L2(on, r) RADAM_LOOP(0, on, r)
DEF_KERNEL(radam_k, {
    ST *p = P, *m = S(0), *v = S(1);
    const T gs = GS, wd = R((T)k->c[0]), decay = (T)k->c[1], w1 = (T)k->c[2], b2 = (T)k->c[3], omb2 = (T)k->c[4];
    const T bc1 = (T)k->c[5], lr = (T)k->c[6], bc2s = (T)k->c[7], eps = R((T)k->c[8]), rect = (T)k->c[9];
    DISPATCH_MODE(k->f[1], k->f[2], RADAM);
})

/* ASGD. c: wd, decay (1 - lambd*eta), -eta, mu; f: maximize, mu != 1. */
#define ASGD_LOOP(WD, AVG)                                              \
    for (int64_t i = b; i < e; i++) {                                   \
        T g = LD(G, i) * gs, pi = LD(p, i);                             \
        if (WD) g = R(g + wd * pi);                                     \
        pi = R(pi * decay);                                             \
        pi = R(pi + neta * g);                                          \
        STO(p, i, pi);                                                  \
        if (AVG) {                                                      \
            T a = LD(ax, i);                                            \
            T d = R(pi - a);                                            \
            d = R(d * mu);                                              \
            STO(ax, i, R(a + d));                                       \
        } else {                                                        \
            STO(ax, i, pi);                                             \
        }                                                               \
    }
DEF_KERNEL(asgd_k, {
    ST *p = P, *ax = S(0);
    const T gs = GS, wd = R((T)k->c[0]), decay = (T)k->c[1], neta = R((T)k->c[2]), mu = (T)k->c[3];
    DISPATCH2(k->c[0] != 0, k->f[1], ASGD_LOOP);
})

/* Rprop. c: etaminus, etaplus, step_size_min, step_size_max; f: maximize. The eta factors are
 * written into a tensor of the parameter dtype in torch, hence R(). */
DEF_KERNEL(rprop_k, {
    ST *p = P, *prev = S(0), *ss = S(1);
    const T gs = GS, em = R((T)k->c[0]), ep = R((T)k->c[1]), lo = R((T)k->c[2]), hi = R((T)k->c[3]);
    for (int64_t i = b; i < e; i++) {
        T g = LD(G, i) * gs;
        T s = R(g * LD(prev, i));
        T f = s > 0 ? ep : (T)1;
        f = s < 0 ? em : f;
        f = s != s ? s : f;
        T st = R(LD(ss, i) * f);
        st = st < lo ? lo : st;
        st = st > hi ? hi : st;
        STO(ss, i, st);
        g = f == em ? (T)0 : g;
        T sg = (T)(g > 0) - (T)(g < 0);
        STO(p, i, R(LD(p, i) + (T)(-1) * sg * st));
        STO(prev, i, g);
    }
})

/* ------------------------------------------------------------------ group driver */

typedef struct {
    const char *op;
    int nslots;                    /* param, grad, then state lists */
    ct_tensorlist lists[MAXSLOTS]; /* n == 0 for an unused state list */
    bool written[MAXSLOTS];
} group;

/* Validate list lengths, dtypes and sizes. Returns 0 or -1 with the error set. */
static int group_check(const group *gr) {
    int64_t n = gr->lists[0].n;
    for (int s = 1; s < gr->nslots; s++)
        if (gr->lists[s].n != 0 && gr->lists[s].n != n)
            return ct_errorf(CT_ERR_VALUE, "[%s] expected %lld tensors in list %d, got %lld", gr->op, (long long)n, s,
                             (long long)gr->lists[s].n);
    for (int64_t i = 0; i < n; i++) {
        ct_tensor *p = gr->lists[0].data[i];
        if (!p) return ct_errorf(CT_ERR_VALUE, "[%s] parameter %lld is None", gr->op, (long long)i);
        if (p->dtype != CT_FLOAT32 && p->dtype != CT_FLOAT64 && p->dtype != CT_FLOAT16 && p->dtype != CT_BFLOAT16)
            return ct_errorf(CT_ERR_TYPE, "[%s] parameters must be floating point (float16, bfloat16, float32, "
                             "float64), got %s", gr->op, ct_dtype_name(p->dtype));
        for (int s = 1; s < gr->nslots; s++) {
            if (gr->lists[s].n == 0) continue;
            ct_tensor *t = gr->lists[s].data[i];
            if (!t) return ct_errorf(CT_ERR_VALUE, "[%s] tensor %lld of list %d is None", gr->op, (long long)i, s);
            if (t->dtype != p->dtype)
                return ct_errorf(CT_ERR_TYPE, "[%s] expected %s for tensor %lld of list %d (like its parameter), got %s",
                                 gr->op, ct_dtype_name(p->dtype), (long long)i, s, ct_dtype_name(t->dtype));
            if (t->numel != p->numel)
                return ct_errorf(CT_ERR_RUNTIME, "[%s] tensor %lld of list %d has %lld elements, its parameter %lld",
                                 gr->op, (long long)i, s, (long long)t->numel, (long long)p->numel);
        }
    }
    return 0;
}

/* Contiguous working copies of tensor i of each list (borrowed when already contiguous). */
typedef struct {
    ct_tensor *orig[MAXSLOTS], *work[MAXSLOTS];
} slots;

static int slots_open(const group *gr, int64_t i, slots *sl, kctx *k) {
    for (int s = 0; s < MAXSLOTS; s++) {
        sl->orig[s] = sl->work[s] = NULL;
        k->d[s] = NULL;
    }
    for (int s = 0; s < gr->nslots; s++) {
        if (gr->lists[s].n == 0) continue;
        ct_tensor *t = gr->lists[s].data[i];
        sl->orig[s] = t;
        if (ct_tensor_is_contiguous(t)) {
            sl->work[s] = t;
        } else {
            sl->work[s] = ct_contiguous_impl(t);
            if (!sl->work[s]) return -1;
        }
        k->d[s] = (char *)ct_tensor_data(sl->work[s]);
    }
    return 0;
}

/* Write back non-contiguous copies, bump versions of written tensors, drop copies. */
static int slots_close(const group *gr, slots *sl, int ok) {
    int rc = ok ? 0 : -1;
    for (int s = 0; s < MAXSLOTS; s++) {
        if (!sl->orig[s]) continue;
        if (sl->work[s] && sl->work[s] != sl->orig[s]) {
            if (rc == 0 && gr->written[s]) {
                ct_tensor *r = ct_copy_(sl->orig[s], sl->work[s], false);
                if (!r) rc = -1;
                ct_tensor_release(r);
            }
            ct_tensor_release(sl->work[s]);
        } else if (gr->written[s] && rc == 0) {
            ct_tensor_bump_version(sl->orig[s]);
        }
    }
    return rc;
}

static void run_kernel(const ct_tensor *p, const ct_range_fn fns[4], kctx *k) {
    int v = p->dtype == CT_FLOAT32 ? 0 : p->dtype == CT_FLOAT64 ? 1 : p->dtype == CT_FLOAT16 ? 2 : 3;
    ct_parallel_for(p->numel, CT_GRAIN, fns[v], k);
}

/* Step counters: 0-dim (or 1-element) float tensors, incremented in place. */
static int step_check(const char *op, ct_tensorlist steps, int64_t n) {
    if (steps.n != n)
        return ct_errorf(CT_ERR_VALUE, "[%s] expected %lld state_steps, got %lld", op, (long long)n, (long long)steps.n);
    for (int64_t i = 0; i < n; i++) {
        ct_tensor *t = steps.data[i];
        if (!t || t->numel != 1 || !ct_dtype_is_floating(t->dtype))
            return ct_errorf(CT_ERR_RUNTIME, "[%s] state step %lld must be a 1-element float tensor", op, (long long)i);
    }
    return 0;
}
static double scalar_get(ct_tensor *t) { return ct_load_f64(ct_tensor_data(t), t->dtype); }
static void scalar_set(ct_tensor *t, double v) {
    ct_store_f64(ct_tensor_data(t), t->dtype, v);
    ct_tensor_bump_version(t);
}
static double step_bump(ct_tensor *t) {
    scalar_set(t, scalar_get(t) + 1);
    return scalar_get(t);
}

/* ------------------------------------------------------------------ public steps */

/* Contract shared by every ct_optim_<name>_ step (prototypes in ctorch/ops_gen.h, generated
 * from src/ops/optim.ops):
 *  - all tensors are borrowed; params[i], grads[i] and the state tensors of index i must have
 *    the same dtype (float16, bfloat16, float32, float64) and element count; any layout works
 *    (non-contiguous tensors go through a contiguous copy that is written back);
 *  - a state list that an option does not use may be empty (e.g. max_exp_avg_sqs without
 *    amsgrad); state_steps (and ASGD's etas/mus, NAdam's mu_products) are 1-element float
 *    tensors, advanced in place;
 *  - params and state are updated in place and their version counters bumped; no autograd
 *    recording happens;
 *  - returns 0, or -1 with the error set (VALUE: list lengths, TYPE: dtypes, RUNTIME: sizes).
 *    Validation happens before any write. */

int ct_optim_sgd_(ct_tensorlist params, ct_tensorlist grads, ct_tensorlist momentum_buffers, ct_intlist fresh,
                  double lr, double momentum, double dampening, double weight_decay, bool nesterov, bool maximize) {
    group gr = {"optim_sgd_", 3, {params, grads, momentum != 0 ? momentum_buffers : (ct_tensorlist){NULL, 0}},
                {true, false, true}};
    if (group_check(&gr)) return -1;
    if (momentum != 0 && (momentum_buffers.n != params.n || fresh.n != params.n))
        return ct_errorf(CT_ERR_VALUE, "[optim_sgd_] momentum needs one buffer and one fresh flag per parameter");
    for (int64_t i = 0; i < params.n; i++) {
        kctx k = {.c = {lr, momentum, dampening, weight_decay},
                  .f = {maximize, momentum != 0, nesterov, momentum != 0 && fresh.data[i] != 0}};
        slots sl;
        int ok = slots_open(&gr, i, &sl, &k) == 0;
        if (ok) run_kernel(params.data[i], sgd_k, &k);
        if (slots_close(&gr, &sl, ok)) return -1;
    }
    return 0;
}

int ct_optim_adam_(ct_tensorlist params, ct_tensorlist grads, ct_tensorlist exp_avgs, ct_tensorlist exp_avg_sqs,
                   ct_tensorlist max_exp_avg_sqs, ct_tensorlist state_steps, double lr, double beta1, double beta2,
                   double eps, double weight_decay, bool amsgrad, bool maximize, bool decoupled_weight_decay) {
    if (!amsgrad) max_exp_avg_sqs.n = 0;
    else if (max_exp_avg_sqs.n != params.n)
        return ct_errorf(CT_ERR_VALUE, "[optim_adam_] amsgrad needs one max_exp_avg_sq per parameter");
    group gr = {"optim_adam_", 5, {params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs}, {true, false, true, true, true}};
    if (exp_avgs.n != params.n || exp_avg_sqs.n != params.n)
        return ct_errorf(CT_ERR_VALUE, "[optim_adam_] expected one exp_avg and exp_avg_sq per parameter");
    if (group_check(&gr) || step_check(gr.op, state_steps, params.n)) return -1;
    for (int64_t i = 0; i < params.n; i++) {
        double step = step_bump(state_steps.data[i]);
        double bc1 = 1 - pow(beta1, step), bc2 = 1 - pow(beta2, step);
        double step_size = lr / bc1, bc2s = pow(bc2, 0.5);
        int mode = weight_decay != 0 ? (decoupled_weight_decay ? 2 : 1) : 0;
        kctx k = {.c = {weight_decay, 1 - lr * weight_decay, 1 - beta1, beta2, 1 - beta2, bc2s, eps, -step_size},
                  .f = {maximize, mode, amsgrad}};
        slots sl;
        int ok = slots_open(&gr, i, &sl, &k) == 0;
        if (ok) run_kernel(params.data[i], adam_k, &k);
        if (slots_close(&gr, &sl, ok)) return -1;
    }
    return 0;
}

int ct_optim_rmsprop_(ct_tensorlist params, ct_tensorlist grads, ct_tensorlist square_avgs, ct_tensorlist grad_avgs,
                      ct_tensorlist momentum_buffers, ct_tensorlist state_steps, double lr, double alpha, double eps,
                      double weight_decay, double momentum, bool centered, bool maximize) {
    if (!centered) grad_avgs.n = 0;
    if (!(momentum > 0)) momentum_buffers.n = 0;
    if (square_avgs.n != params.n || (centered && grad_avgs.n != params.n) ||
        (momentum > 0 && momentum_buffers.n != params.n))
        return ct_errorf(CT_ERR_VALUE, "[optim_rmsprop_] state lists must have one tensor per parameter");
    group gr = {"optim_rmsprop_", 5, {params, grads, square_avgs, grad_avgs, momentum_buffers},
                {true, false, true, true, true}};
    if (group_check(&gr) || step_check(gr.op, state_steps, params.n)) return -1;
    for (int64_t i = 0; i < params.n; i++) {
        step_bump(state_steps.data[i]);
        kctx k = {.c = {-lr, alpha, 1 - alpha, eps, weight_decay, momentum}, .f = {maximize, centered, momentum > 0}};
        slots sl;
        int ok = slots_open(&gr, i, &sl, &k) == 0;
        if (ok) run_kernel(params.data[i], rmsprop_k, &k);
        if (slots_close(&gr, &sl, ok)) return -1;
    }
    return 0;
}

int ct_optim_adagrad_(ct_tensorlist params, ct_tensorlist grads, ct_tensorlist state_sums, ct_tensorlist state_steps,
                      double lr, double lr_decay, double weight_decay, double eps, bool maximize) {
    if (state_sums.n != params.n) return ct_errorf(CT_ERR_VALUE, "[optim_adagrad_] expected one state_sum per parameter");
    group gr = {"optim_adagrad_", 3, {params, grads, state_sums}, {true, false, true}};
    if (group_check(&gr) || step_check(gr.op, state_steps, params.n)) return -1;
    for (int64_t i = 0; i < params.n; i++) {
        double step = step_bump(state_steps.data[i]);
        double clr = lr / (1 + (step - 1) * lr_decay);
        kctx k = {.c = {-clr, weight_decay, eps}, .f = {maximize}};
        slots sl;
        int ok = slots_open(&gr, i, &sl, &k) == 0;
        if (ok) run_kernel(params.data[i], adagrad_k, &k);
        if (slots_close(&gr, &sl, ok)) return -1;
    }
    return 0;
}

int ct_optim_adadelta_(ct_tensorlist params, ct_tensorlist grads, ct_tensorlist square_avgs, ct_tensorlist acc_deltas,
                       ct_tensorlist state_steps, double lr, double rho, double eps, double weight_decay,
                       bool maximize) {
    if (square_avgs.n != params.n || acc_deltas.n != params.n)
        return ct_errorf(CT_ERR_VALUE, "[optim_adadelta_] state lists must have one tensor per parameter");
    group gr = {"optim_adadelta_", 4, {params, grads, square_avgs, acc_deltas}, {true, false, true, true}};
    if (group_check(&gr) || step_check(gr.op, state_steps, params.n)) return -1;
    for (int64_t i = 0; i < params.n; i++) {
        step_bump(state_steps.data[i]);
        kctx k = {.c = {-lr, rho, 1 - rho, eps, weight_decay}, .f = {maximize}};
        slots sl;
        int ok = slots_open(&gr, i, &sl, &k) == 0;
        if (ok) run_kernel(params.data[i], adadelta_k, &k);
        if (slots_close(&gr, &sl, ok)) return -1;
    }
    return 0;
}

int ct_optim_adamax_(ct_tensorlist params, ct_tensorlist grads, ct_tensorlist exp_avgs, ct_tensorlist exp_infs,
                     ct_tensorlist state_steps, double lr, double beta1, double beta2, double eps, double weight_decay,
                     bool maximize) {
    if (exp_avgs.n != params.n || exp_infs.n != params.n)
        return ct_errorf(CT_ERR_VALUE, "[optim_adamax_] state lists must have one tensor per parameter");
    group gr = {"optim_adamax_", 4, {params, grads, exp_avgs, exp_infs}, {true, false, true, true}};
    if (group_check(&gr) || step_check(gr.op, state_steps, params.n)) return -1;
    for (int64_t i = 0; i < params.n; i++) {
        double step = step_bump(state_steps.data[i]);
        double clr = lr / (1 - pow(beta1, step));
        kctx k = {.c = {-clr, 1 - beta1, beta2, eps, weight_decay}, .f = {maximize}};
        slots sl;
        int ok = slots_open(&gr, i, &sl, &k) == 0;
        if (ok) run_kernel(params.data[i], adamax_k, &k);
        if (slots_close(&gr, &sl, ok)) return -1;
    }
    return 0;
}

int ct_optim_nadam_(ct_tensorlist params, ct_tensorlist grads, ct_tensorlist exp_avgs, ct_tensorlist exp_avg_sqs,
                    ct_tensorlist mu_products, ct_tensorlist state_steps, double lr, double beta1, double beta2,
                    double eps, double weight_decay, double momentum_decay, bool decoupled_weight_decay,
                    bool maximize) {
    if (exp_avgs.n != params.n || exp_avg_sqs.n != params.n)
        return ct_errorf(CT_ERR_VALUE, "[optim_nadam_] state lists must have one tensor per parameter");
    group gr = {"optim_nadam_", 4, {params, grads, exp_avgs, exp_avg_sqs}, {true, false, true, true}};
    if (group_check(&gr) || step_check(gr.op, state_steps, params.n) || step_check(gr.op, mu_products, params.n))
        return -1;
    for (int64_t i = 0; i < params.n; i++) {
        double step = step_bump(state_steps.data[i]);
        double bc2 = 1 - pow(beta2, step);
        double mu = beta1 * (1.0 - 0.5 * pow(0.96, step * momentum_decay));
        double mu_next = beta1 * (1.0 - 0.5 * pow(0.96, (step + 1) * momentum_decay));
        /* mu_product *= mu, in the state tensor's dtype (float32 by default, like torch) */
        ct_tensor *mp = mu_products.data[i];
        if (mp->dtype == CT_FLOAT32) scalar_set(mp, (double)((float)scalar_get(mp) * (float)mu));
        else scalar_set(mp, scalar_get(mp) * mu);
        double mpv = scalar_get(mp), mp_next = mpv * mu_next;
        double cg = -lr * (1.0 - mu) / (1.0 - mpv), cm = (-lr * mu_next) / (1.0 - mp_next);
        int mode = weight_decay != 0 ? (decoupled_weight_decay ? 2 : 1) : 0;
        kctx k = {.c = {weight_decay, 1 - lr * weight_decay, 1 - beta1, beta2, 1 - beta2, bc2, eps, cg, cm},
                  .f = {maximize, mode}};
        slots sl;
        int ok = slots_open(&gr, i, &sl, &k) == 0;
        if (ok) run_kernel(params.data[i], nadam_k, &k);
        if (slots_close(&gr, &sl, ok)) return -1;
    }
    return 0;
}

int ct_optim_radam_(ct_tensorlist params, ct_tensorlist grads, ct_tensorlist exp_avgs, ct_tensorlist exp_avg_sqs,
                    ct_tensorlist state_steps, double lr, double beta1, double beta2, double eps, double weight_decay,
                    bool decoupled_weight_decay, bool maximize) {
    if (exp_avgs.n != params.n || exp_avg_sqs.n != params.n)
        return ct_errorf(CT_ERR_VALUE, "[optim_radam_] state lists must have one tensor per parameter");
    group gr = {"optim_radam_", 4, {params, grads, exp_avgs, exp_avg_sqs}, {true, false, true, true}};
    if (group_check(&gr) || step_check(gr.op, state_steps, params.n)) return -1;
    for (int64_t i = 0; i < params.n; i++) {
        double step = step_bump(state_steps.data[i]);
        double bc1 = 1 - pow(beta1, step), bc2 = 1 - pow(beta2, step);
        double rho_inf = 2 / (1 - beta2) - 1;
        double rho_t = rho_inf - 2 * step * pow(beta2, step) / bc2;
        int rectified = rho_t > 5.0;
        double rect = rectified ? pow((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t), 0.5)
                                : 1.0;
        int mode = weight_decay != 0 ? (decoupled_weight_decay ? 2 : 1) : 0;
        kctx k = {.c = {weight_decay, 1 - lr * weight_decay, 1 - beta1, beta2, 1 - beta2, bc1, lr, pow(bc2, 0.5), eps,
                        rect},
                  .f = {maximize, mode, rectified}};
        slots sl;
        int ok = slots_open(&gr, i, &sl, &k) == 0;
        if (ok) run_kernel(params.data[i], radam_k, &k);
        if (slots_close(&gr, &sl, ok)) return -1;
    }
    return 0;
}

int ct_optim_asgd_(ct_tensorlist params, ct_tensorlist grads, ct_tensorlist axs, ct_tensorlist mus, ct_tensorlist etas,
                   ct_tensorlist state_steps, double lr, double lambd, double alpha, double t0, double weight_decay,
                   bool maximize) {
    if (axs.n != params.n) return ct_errorf(CT_ERR_VALUE, "[optim_asgd_] expected one ax per parameter");
    group gr = {"optim_asgd_", 3, {params, grads, axs}, {true, false, true}};
    if (group_check(&gr) || step_check(gr.op, state_steps, params.n) || step_check(gr.op, mus, params.n) ||
        step_check(gr.op, etas, params.n))
        return -1;
    for (int64_t i = 0; i < params.n; i++) {
        double step = step_bump(state_steps.data[i]);
        double eta = scalar_get(etas.data[i]), mu = scalar_get(mus.data[i]);
        kctx k = {.c = {weight_decay, 1 - lambd * eta, -eta, mu}, .f = {maximize, mu != 1}};
        slots sl;
        int ok = slots_open(&gr, i, &sl, &k) == 0;
        if (ok) run_kernel(params.data[i], asgd_k, &k);
        if (slots_close(&gr, &sl, ok)) return -1;
        scalar_set(etas.data[i], lr / pow(1 + lambd * lr * step, alpha));
        scalar_set(mus.data[i], 1 / fmax(1, step - t0));
    }
    return 0;
}

int ct_optim_rprop_(ct_tensorlist params, ct_tensorlist grads, ct_tensorlist prevs, ct_tensorlist step_sizes,
                    ct_tensorlist state_steps, double etaminus, double etaplus, double step_size_min,
                    double step_size_max, bool maximize) {
    if (prevs.n != params.n || step_sizes.n != params.n)
        return ct_errorf(CT_ERR_VALUE, "[optim_rprop_] state lists must have one tensor per parameter");
    group gr = {"optim_rprop_", 4, {params, grads, prevs, step_sizes}, {true, false, true, true}};
    if (group_check(&gr) || step_check(gr.op, state_steps, params.n)) return -1;
    for (int64_t i = 0; i < params.n; i++) {
        step_bump(state_steps.data[i]);
        kctx k = {.c = {etaminus, etaplus, step_size_min, step_size_max}, .f = {maximize}};
        slots sl;
        int ok = slots_open(&gr, i, &sl, &k) == 0;
        if (ok) run_kernel(params.data[i], rprop_k, &k);
        if (slots_close(&gr, &sl, ok)) return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ LBFGS vector helpers */

static int float_vec(const char *op, const ct_tensor *t) {
    if (!ct_dtype_is_floating(t->dtype))
        return ct_errorf(CT_ERR_TYPE, "[%s] expected a floating tensor, got %s", op, ct_dtype_name(t->dtype));
    return 0;
}

/* The gradients of params flattened into one new 1-D tensor (zeros where a grad is None), of
 * the promoted parameter dtype. New reference. */
ct_tensor *ct_optim_gather_flat(ct_tensorlist params, ct_tensorlist grads) {
    if (grads.n != params.n) return ct_error(CT_ERR_VALUE, "[optim_gather_flat] expected one grad per parameter");
    int64_t total = 0;
    int dt = -1;
    for (int64_t i = 0; i < params.n; i++) {
        if (float_vec("optim_gather_flat", params.data[i])) return NULL;
        dt = dt < 0 ? params.data[i]->dtype : ct_promote_types(dt, params.data[i]->dtype);
        total += params.data[i]->numel;
        if (grads.data[i] && grads.data[i]->numel != params.data[i]->numel)
            return ct_error(CT_ERR_RUNTIME, "[optim_gather_flat] grad %lld does not match its parameter", (long long)i);
    }
    if (dt < 0) dt = ct_get_default_dtype();
    ct_tensor *out = ct_empty(&total, 1, dt);
    if (!out) return NULL;
    char *o = ct_tensor_data(out);
    size_t es = ct_dtype_size(dt);
    for (int64_t i = 0; i < params.n; i++) {
        ct_tensor *g = grads.data[i];
        int64_t n = params.data[i]->numel;
        if (!g) {
            memset(o, 0, (size_t)n * es);
        } else {
            ct_tensor *c = ct_tensor_is_contiguous(g) ? g : ct_contiguous_impl(g);
            if (!c) {
                ct_tensor_release(out);
                return NULL;
            }
            const char *src = ct_tensor_data(c);
            if (c->dtype == dt) {
                memcpy(o, src, (size_t)n * es);
            } else {
                size_t ss = ct_dtype_size(c->dtype);
                for (int64_t j = 0; j < n; j++) ct_store_f64(o + j * es, dt, ct_load_f64(src + j * ss, c->dtype));
            }
            if (c != g) ct_tensor_release(c);
        }
        o += (size_t)n * es;
    }
    return out;
}

/* params[i] += alpha * update[offset_i : offset_i + numel_i] (torch's `p.add_(u, alpha=...)`). */
int ct_optim_add_flat_(ct_tensorlist params, double alpha, ct_tensor *update) {
    int64_t total = 0;
    for (int64_t i = 0; i < params.n; i++) {
        if (!ct_dtype_is_floating(params.data[i]->dtype))
            return ct_errorf(CT_ERR_TYPE, "[optim_add_flat_] parameters must be floating point, got %s",
                             ct_dtype_name(params.data[i]->dtype));
        total += params.data[i]->numel;
    }
    if (update->numel != total || float_vec("optim_add_flat_", update))
        return ct_errorf(CT_ERR_RUNTIME, "[optim_add_flat_] update has %lld elements, parameters %lld",
                         (long long)update->numel, (long long)total);
    ct_tensor *u = ct_tensor_is_contiguous(update) ? update : ct_contiguous_impl(update);
    if (!u) return -1;
    const char *ud = ct_tensor_data(u);
    size_t us = ct_dtype_size(u->dtype);
    int64_t off = 0;
    int rc = 0;
    for (int64_t i = 0; i < params.n && rc == 0; i++) {
        ct_tensor *p = params.data[i];
        ct_tensor *w = ct_tensor_is_contiguous(p) ? p : ct_contiguous_impl(p);
        if (!w) {
            rc = -1;
            break;
        }
        int64_t n = p->numel;
        if (p->dtype == CT_FLOAT32) {
            float *d = ct_tensor_data(w), a = (float)alpha;
            if (u->dtype == CT_FLOAT32) {
                const float *s = (const float *)ud + off;
                for (int64_t j = 0; j < n; j++) d[j] = d[j] + a * s[j];
            } else {
                for (int64_t j = 0; j < n; j++) d[j] = d[j] + a * (float)ct_load_f64(ud + (off + j) * us, u->dtype);
            }
        } else if (p->dtype != CT_FLOAT64) {
            /* 16-bit: float math, alpha rounded to the dtype first (like torch's add) */
            char *d = ct_tensor_data(w);
            size_t ps = ct_dtype_size(p->dtype);
            uint16_t ab;
            ct_store_f64(&ab, p->dtype, alpha);
            float a = (float)ct_load_f64(&ab, p->dtype);
            for (int64_t j = 0; j < n; j++) {
                float v = (float)ct_load_f64(d + j * ps, p->dtype) + a * (float)ct_load_f64(ud + (off + j) * us, u->dtype);
                ct_store_f64(d + j * ps, p->dtype, v);
            }
        } else {
            double *d = ct_tensor_data(w);
            if (u->dtype == CT_FLOAT64) {
                const double *s = (const double *)ud + off;
                for (int64_t j = 0; j < n; j++) d[j] = d[j] + alpha * s[j];
            } else {
                for (int64_t j = 0; j < n; j++) d[j] = d[j] + alpha * ct_load_f64(ud + (off + j) * us, u->dtype);
            }
        }
        off += n;
        if (w != p) {
            ct_tensor *r = ct_copy_(p, w, false);
            if (!r) rc = -1;
            ct_tensor_release(r);
            ct_tensor_release(w);
        } else {
            ct_tensor_bump_version(p);
        }
    }
    if (u != update) ct_tensor_release(u);
    return rc;
}

/* Reductions over one vector (or two of equal length): 0 dot, 1 abs max, 2 abs sum. Accumulated
 * in double; float32 results are rounded to float like torch's float32 0-dim results. */
static int vec_reduce(const char *op, int kind, ct_tensor *a, ct_tensor *b, double *result) {
    if (float_vec(op, a) || (b && float_vec(op, b))) return -1;
    if (b && a->numel != b->numel)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] inconsistent tensor size, expected tensor [%lld] and src [%lld] to have "
                                         "the same number of elements, but got %lld and %lld elements respectively",
                         op, (long long)a->numel, (long long)b->numel, (long long)a->numel, (long long)b->numel);
    if (kind == 1 && a->numel == 0)
        return ct_errorf(CT_ERR_RUNTIME, "[%s] max(): Expected reduction dim to be specified for input.numel() == 0.",
                         op);
    ct_tensor *ca = ct_tensor_is_contiguous(a) ? a : ct_contiguous_impl(a);
    ct_tensor *cb = !b ? NULL : ct_tensor_is_contiguous(b) ? b : ct_contiguous_impl(b);
    if (!ca || (b && !cb)) {
        if (ca && ca != a) ct_tensor_release(ca);
        return -1;
    }
    double acc = kind == 1 ? 0.0 : 0.0;
    int64_t n = a->numel;
    if (ca->dtype == CT_FLOAT64 && (!cb || cb->dtype == CT_FLOAT64)) {
        const double *x = ct_tensor_data(ca), *y = cb ? ct_tensor_data(cb) : NULL;
        if (kind == 0) for (int64_t i = 0; i < n; i++) acc += x[i] * y[i];
        else if (kind == 1) for (int64_t i = 0; i < n; i++) { double v = fabs(x[i]); acc = (v > acc || isnan(v)) ? v : acc; }
        else for (int64_t i = 0; i < n; i++) acc += fabs(x[i]);
    } else {
        const char *x = ct_tensor_data(ca), *y = cb ? ct_tensor_data(cb) : NULL;
        size_t xs = ct_dtype_size(ca->dtype), ys = cb ? ct_dtype_size(cb->dtype) : 0;
        for (int64_t i = 0; i < n; i++) {
            double v = ct_load_f64(x + i * xs, ca->dtype);
            if (kind == 0) acc += v * ct_load_f64(y + i * ys, cb->dtype);
            else if (kind == 1) { v = fabs(v); acc = (v > acc || isnan(v)) ? v : acc; }
            else acc += fabs(v);
        }
    }
    int rdt = cb ? ct_promote_types(ca->dtype, cb->dtype) : ca->dtype;
    if (rdt != CT_FLOAT64) acc = (double)(float)acc;
    if (ca != a) ct_tensor_release(ca);
    if (cb && cb != b) ct_tensor_release(cb);
    *result = acc;
    return 0;
}

int ct_optim_dot(ct_tensor *a, ct_tensor *b, double *result) { return vec_reduce("optim_dot", 0, a, b, result); }
int ct_optim_abs_max(ct_tensor *a, double *result) { return vec_reduce("optim_abs_max", 1, a, NULL, result); }
int ct_optim_abs_sum(ct_tensor *a, double *result) { return vec_reduce("optim_abs_sum", 2, a, NULL, result); }
