/* Backward formulas of the elementwise family (unary math, rounding, binary arithmetic,
 * pow, min/max, clamp, lerp, addcmul/addcdiv, where, nan_to_num), written with ops so that
 * create_graph makes them differentiable again. Subgradients and node names follow torch
 * (abs'(0) = 0, clamp passes the gradient on its boundary, maximum/minimum split ties half
 * and half, pow's special cases at base 0 and exponent 0, floor_divide has no derivative).
 *
 * Formulas are expressions over an arena of temporaries: every helper takes its operands
 * (NULL propagates an earlier failure, whose error is already set), keeps the new tensor in
 * the arena and the arena is released once the gradients were handed out. */
#include <math.h>
#include <string.h>

#include "autograd_internal.h"

/* ------------------------------------------------------------------ arena of temporaries */

#define ARENA_MAX 40
typedef struct arena {
    ct_tensor *t[ARENA_MAX];
    int n;
} arena;

static ct_tensor *keep(arena *a, ct_tensor *t) {
    if (!t) return NULL;
    if (a->n == ARENA_MAX) {
        ct_tensor_release(t);
        return ct_error(CT_ERR_RUNTIME, "[autograd] too many temporaries in a backward formula");
    }
    a->t[a->n++] = t;
    return t;
}

static void arena_free(arena *a) {
    for (int i = 0; i < a->n; i++) ct_tensor_release(a->t[i]);
    a->n = 0;
}

#define OP1(NAME, CALL) \
    static ct_tensor *NAME(arena *a, ct_tensor *x) { return x ? keep(a, CALL) : NULL; }
#define OP2(NAME, CALL) \
    static ct_tensor *NAME(arena *a, ct_tensor *x, ct_tensor *y) { return x && y ? keep(a, CALL) : NULL; }
OP2(Mul, ct_mul(x, y))
OP2(Div, ct_div(x, y, NULL))
OP2(Add, ct_add(x, y, ct_scalar_i(1)))
OP2(Sub, ct_sub(x, y, ct_scalar_i(1)))
OP2(Pow, ct_pow(x, y))
OP2(Eq, ct_eq(x, y))
OP2(Lt, ct_lt(x, y))
OP2(Le, ct_le(x, y))
OP2(Gt, ct_gt(x, y))
OP2(Ge, ct_ge(x, y))
OP2(And, ct_logical_and(x, y))
OP2(Or, ct_logical_or(x, y))
OP1(Neg, ct_neg(x))
OP1(Sign, ct_sign(x))
OP1(Exp, ct_exp(x))
OP1(Log, ct_log(x))
OP1(Sin, ct_sin(x))
OP1(Cos, ct_cos(x))
OP1(Sinh, ct_sinh(x))
OP1(Cosh, ct_cosh(x))
OP1(Rsqrt, ct_rsqrt(x))
OP1(Digamma, ct_digamma(x))
OP1(Isnan, ct_isnan(x))
OP1(Isfinite, ct_isfinite(x))
OP1(ZerosLike, ct_zeros_like(x, -1, -1))

static ct_tensor *Where(arena *a, ct_tensor *c, ct_tensor *x, ct_tensor *y) {
    return c && x && y ? keep(a, ct_where_self(c, x, y)) : NULL;
}
static ct_tensor *Polygamma(arena *a, int64_t n, ct_tensor *x) { return x ? keep(a, ct_polygamma(n, x)) : NULL; }

/* A Python-number-like 0-dim tensor (weakly typed: it takes the other operand's dtype). */
static ct_tensor *NumS(arena *a, ct_scalar s) {
    ct_tensor *t = s.kind == CT_SCALAR_FLOAT ? ct_scalar_tensor_f64(s.v.d, CT_FLOAT64)
                                             : ct_scalar_tensor_i64(s.v.i, CT_INT64);
    if (!t) return NULL;
    t->flags |= CT_FLAG_WRAPPED_NUMBER;
    return keep(a, t);
}
static ct_tensor *Num(arena *a, double v) { return NumS(a, ct_scalar_f(v)); }
static ct_tensor *MulS(arena *a, ct_tensor *x, double v) { return Mul(a, x, Num(a, v)); }
static ct_tensor *AddS(arena *a, ct_tensor *x, double v) { return Add(a, x, Num(a, v)); }
/* v - x */
static ct_tensor *RSubS(arena *a, double v, ct_tensor *x) { return Sub(a, Num(a, v), x); }
static ct_tensor *Sq(arena *a, ct_tensor *x) { return Mul(a, x, x); }
static ct_tensor *Saved(arena *a, ct_node *n, int slot) { return keep(a, ct_node_saved(n, slot)); }
/* g where mask holds, 0 elsewhere */
static ct_tensor *Pass(arena *a, ct_tensor *mask, ct_tensor *g) { return Where(a, mask, g, Num(a, 0.0)); }
/* 0 where mask holds, g elsewhere */
static ct_tensor *Block(arena *a, ct_tensor *mask, ct_tensor *g) { return Where(a, mask, Num(a, 0.0), g); }

/* Hand r (borrowed; NULL = failed) to grad_in[i], reduced to input i's shape and dtype. */
static int give(ct_node *n, ct_tensor **gi, int i, ct_tensor *r) {
    if (!r) return -1;
    ct_tensor *s = ct_sum_to_meta(r, &n->in_meta[i]);
    if (!s) return -1;
    gi[i] = s;
    return 0;
}

static bool is_wrapped(const ct_tensor *t) { return t && (t->flags & CT_FLAG_WRAPPED_NUMBER); }

/* Value of a wrapped-number tensor as the scalar it was made from. */
static ct_scalar wrapped_value(const ct_tensor *t) {
    const void *p = ct_tensor_data(t);
    if (ct_dtype_is_floating(t->dtype)) return ct_scalar_f(ct_load_f64(p, t->dtype));
    return ct_scalar_i(ct_load_i64(p, t->dtype));
}

#define RECORD(NAME, FN, OUT, ...)                                                                   \
    do {                                                                                             \
        ct_tensor *ins_[] = {__VA_ARGS__};                                                           \
        int nin_ = (int)(sizeof ins_ / sizeof ins_[0]);                                              \
        if (!ct_autograd_should_record(nin_, ins_) || !ct_dtype_is_floating((OUT)->dtype)) return 0; \
        node = ct_autograd_record(NAME, FN, OUT, nin_, ins_);                                        \
        if (!node) return -1;                                                                        \
    } while (0)

#define NEEDS(I) ct_node_needs_grad(n, I)

/* ------------------------------------------------------------------ unary ops */

enum { SAVE_X = 1, SAVE_Y = 2 };
typedef ct_tensor *(*unary_formula)(arena *a, ct_node *n, ct_tensor *g, ct_tensor *x, ct_tensor *y);

/* x = saved input (slot 0), y = saved result (slot 1), as `save` asks. */
static int unary_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi, int save, unary_formula f) {
    arena a = {{0}, 0};
    int rc = -1;
    ct_tensor *x = (save & SAVE_X) ? Saved(&a, n, 0) : NULL;
    ct_tensor *y = (save & SAVE_Y) ? Saved(&a, n, 1) : NULL;
    if ((!(save & SAVE_X) || x) && (!(save & SAVE_Y) || y)) rc = give(n, gi, 0, f(&a, n, g[0], x, y));
    arena_free(&a);
    return rc;
}

static int unary_record(const char *name, ct_backward_fn fn, ct_tensor *result, ct_tensor *self, int save,
                        ct_node **out) {
    ct_node *node;
    *out = NULL;
    RECORD(name, fn, result, self);
    if ((save & SAVE_X) && ct_node_save(node, 0, self, -1)) return -1;
    if ((save & SAVE_Y) && ct_node_save(node, 1, result, 0)) return -1;
    *out = node;
    return 0;
}

#define UNARY(OP, NAME, SAVE, BODY)                                                                     \
    static ct_tensor *f_##OP(arena *a, ct_node *n, ct_tensor *g, ct_tensor *x, ct_tensor *y) {          \
        (void)a, (void)n, (void)g, (void)x, (void)y;                                                    \
        return BODY;                                                                                    \
    }                                                                                                   \
    static int bw_##OP(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {                               \
        return unary_backward(n, g, gi, SAVE, f_##OP);                                                  \
    }                                                                                                   \
    int ctg_##OP(ct_tensor *result, ct_tensor *self) {                                                  \
        ct_node *node;                                                                                  \
        return unary_record(NAME, bw_##OP, result, self, SAVE, &node);                                  \
    }

#define SQRT_PI 1.7724538509055160273
UNARY(abs, "AbsBackward0", SAVE_X, Mul(a, g, Sign(a, x)))
UNARY(sign, "SignBackward0", 0, ZerosLike(a, g))
UNARY(floor, "FloorBackward0", 0, ZerosLike(a, g))
UNARY(ceil, "CeilBackward0", 0, ZerosLike(a, g))
UNARY(trunc, "TruncBackward0", 0, ZerosLike(a, g))
UNARY(frac, "FracBackward0", 0, g)
UNARY(reciprocal, "ReciprocalBackward0", SAVE_Y, Neg(a, Mul(a, g, Sq(a, y))))
UNARY(sqrt, "SqrtBackward0", SAVE_Y, Div(a, g, MulS(a, y, 2.0)))
UNARY(rsqrt, "RsqrtBackward0", SAVE_Y, Mul(a, MulS(a, g, -0.5), Mul(a, y, Sq(a, y))))
UNARY(exp2, "Exp2Backward0", SAVE_Y, Mul(a, g, MulS(a, y, M_LN2)))
UNARY(expm1, "Expm1Backward0", SAVE_Y, Mul(a, g, AddS(a, y, 1.0)))
UNARY(log, "LogBackward0", SAVE_X, Div(a, g, x))
UNARY(log2, "Log2Backward0", SAVE_X, Div(a, g, MulS(a, x, M_LN2)))
UNARY(log10, "Log10Backward0", SAVE_X, Div(a, g, MulS(a, x, M_LN10)))
UNARY(log1p, "Log1PBackward0", SAVE_X, Div(a, g, AddS(a, x, 1.0)))
UNARY(sin, "SinBackward0", SAVE_X, Mul(a, g, Cos(a, x)))
UNARY(cos, "CosBackward0", SAVE_X, Mul(a, g, Neg(a, Sin(a, x))))
UNARY(tan, "TanBackward0", SAVE_Y, Mul(a, g, AddS(a, Sq(a, y), 1.0)))
UNARY(asin, "AsinBackward0", SAVE_X, Mul(a, g, Rsqrt(a, RSubS(a, 1.0, Sq(a, x)))))
UNARY(acos, "AcosBackward0", SAVE_X, Neg(a, Mul(a, g, Rsqrt(a, RSubS(a, 1.0, Sq(a, x))))))
UNARY(atan, "AtanBackward0", SAVE_X, Div(a, g, AddS(a, Sq(a, x), 1.0)))
UNARY(sinh, "SinhBackward0", SAVE_X, Mul(a, g, Cosh(a, x)))
UNARY(cosh, "CoshBackward0", SAVE_X, Mul(a, g, Sinh(a, x)))
UNARY(tanh, "TanhBackward0", SAVE_Y, Mul(a, g, RSubS(a, 1.0, Sq(a, y))))
UNARY(asinh, "AsinhBackward0", SAVE_X, Mul(a, g, Rsqrt(a, AddS(a, Sq(a, x), 1.0))))
UNARY(acosh, "AcoshBackward0", SAVE_X, Mul(a, g, Rsqrt(a, AddS(a, Sq(a, x), -1.0))))
UNARY(atanh, "AtanhBackward0", SAVE_X, Div(a, g, RSubS(a, 1.0, Sq(a, x))))
UNARY(sigmoid, "SigmoidBackward0", SAVE_Y, Mul(a, g, Mul(a, RSubS(a, 1.0, y), y)))
UNARY(erf, "ErfBackward0", SAVE_X, Mul(a, g, MulS(a, Exp(a, Neg(a, Sq(a, x))), 2.0 / SQRT_PI)))
UNARY(erfc, "ErfcBackward0", SAVE_X, Mul(a, g, MulS(a, Exp(a, Neg(a, Sq(a, x))), -2.0 / SQRT_PI)))
UNARY(erfinv, "ErfinvBackward0", SAVE_Y, Mul(a, g, MulS(a, Exp(a, Sq(a, y)), SQRT_PI / 2.0)))
UNARY(lgamma, "LgammaBackward0", SAVE_X, Mul(a, g, Digamma(a, x)))
UNARY(digamma, "DigammaBackward0", SAVE_X, Mul(a, g, Polygamma(a, 1, x)))

/* polygamma(n, x)' = polygamma(n + 1, x) */
static ct_tensor *f_polygamma(arena *a, ct_node *n, ct_tensor *g, ct_tensor *x, ct_tensor *y) {
    (void)y;
    return Mul(a, g, Polygamma(a, n->iv[0] + 1, x));
}
static int bw_polygamma(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    return unary_backward(n, g, gi, SAVE_X, f_polygamma);
}
int ctg_polygamma(ct_tensor *result, int64_t n, ct_tensor *self) {
    ct_node *node;
    if (unary_record("PolygammaBackward0", bw_polygamma, result, self, SAVE_X, &node)) return -1;
    if (node) node->iv[0] = n;
    return 0;
}

/* round: zero gradient; RoundBackward1 is the decimals overload. */
static ct_tensor *f_zero(arena *a, ct_node *n, ct_tensor *g, ct_tensor *x, ct_tensor *y) {
    (void)n, (void)x, (void)y;
    return ZerosLike(a, g);
}
static int bw_zero(ct_node *n, ct_tensor *const *g, ct_tensor **gi) { return unary_backward(n, g, gi, 0, f_zero); }
int ctg_round(ct_tensor *result, ct_tensor *self, int64_t decimals) {
    ct_node *node;
    return unary_record(decimals ? "RoundBackward1" : "RoundBackward0", bw_zero, result, self, 0, &node);
}

/* nan_to_num: the gradient passes where the input is finite. */
static ct_tensor *f_n2n(arena *a, ct_node *n, ct_tensor *g, ct_tensor *x, ct_tensor *y) {
    (void)n, (void)y;
    return Mul(a, g, Isfinite(a, x));
}
static int bw_n2n(ct_node *n, ct_tensor *const *g, ct_tensor **gi) { return unary_backward(n, g, gi, SAVE_X, f_n2n); }
int ctg_nan_to_num(ct_tensor *result, ct_tensor *self, const double *nan, const double *posinf, const double *neginf) {
    (void)nan, (void)posinf, (void)neginf;
    ct_node *node;
    return unary_record("NanToNumBackward0", bw_n2n, result, self, SAVE_X, &node);
}

/* logit: grad / (x (1 - x)); with eps >= 0 zero outside [eps, 1 - eps], else NaN outside [0, 1]
 * (iv[0] = eps given, dv[0] = eps). */
static ct_tensor *f_logit(arena *a, ct_node *n, ct_tensor *g, ct_tensor *x, ct_tensor *y) {
    (void)y;
    ct_tensor *d = Div(a, g, Mul(a, x, RSubS(a, 1.0, x)));
    if (n->iv[0]) {
        double lo = n->dv[0], hi = 1.0 - n->dv[0];
        return Where(a, Or(a, Lt(a, x, Num(a, lo)), Gt(a, x, Num(a, hi))), Num(a, 0.0), d);
    }
    return Where(a, Or(a, Lt(a, x, Num(a, 0.0)), Gt(a, x, Num(a, 1.0))), Num(a, NAN), d);
}
static int bw_logit(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    return unary_backward(n, g, gi, SAVE_X, f_logit);
}
int ctg_logit(ct_tensor *result, ct_tensor *self, const double *eps) {
    ct_node *node;
    if (unary_record("LogitBackward0", bw_logit, result, self, SAVE_X, &node)) return -1;
    if (node) {
        node->iv[0] = eps && *eps >= 0;
        node->dv[0] = eps ? *eps : 0.0;
    }
    return 0;
}

/* ------------------------------------------------------------------ binary ops */

/* Binary nodes save self in slot 0, other in slot 1, the result in slot 2 (as needed). */
typedef int (*binary_formula)(arena *a, ct_node *n, ct_tensor *g, ct_tensor **gi);

static int run_formula(ct_node *n, ct_tensor *const *g, ct_tensor **gi, binary_formula f) {
    arena a = {{0}, 0};
    int rc = f(&a, n, g[0], gi);
    arena_free(&a);
    return rc;
}
#define BACKWARD(OP)                                                                          \
    static int fb_##OP(arena *a, ct_node *n, ct_tensor *g, ct_tensor **gi);                   \
    static int bw_##OP(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {                     \
        return run_formula(n, g, gi, fb_##OP);                                                \
    }                                                                                         \
    static int fb_##OP(arena *a, ct_node *n, ct_tensor *g, ct_tensor **gi)

static int save2(ct_node *node, ct_tensor *self, ct_tensor *other) {
    if (ct_node_save(node, 0, self, -1)) return -1;
    return ct_node_save(node, 1, other, -1);
}

/* true_divide is div */
int ctg_true_divide(ct_tensor *result, ct_tensor *self, ct_tensor *other) { return ctg_div(result, self, other, NULL); }

/* floor_divide has no derivative in torch: the node raises when reached. */
static int bw_not_implemented(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    (void)g, (void)gi;
    static const char *ops[] = {"floor_divide", "remainder"};
    return ct_errorf(CT_ERR_RUNTIME, "derivative for aten::%s is not implemented", ops[n->iv[0]]);
}
int ctg_floor_divide(ct_tensor *result, ct_tensor *self, ct_tensor *other) {
    ct_node *node;
    RECORD("NotImplemented", bw_not_implemented, result, self, other);
    node->iv[0] = 0;
    return 0;
}

/* remainder(a, b) = a - b * floor(a / b); fmod with trunc. iv[0]: 1 = fmod. */
BACKWARD(rem) {
    if (NEEDS(0) && give(n, gi, 0, g)) return -1;
    if (n->n_inputs > 1 && NEEDS(1)) {
        ct_tensor *x = Saved(a, n, 0), *o = Saved(a, n, 1);
        ct_tensor *q = x && o ? keep(a, ct_div(x, o, n->iv[0] ? "trunc" : "floor")) : NULL;
        if (give(n, gi, 1, Neg(a, Mul(a, g, q)))) return -1;
    }
    return 0;
}
static int rem_record(ct_tensor *result, ct_tensor *self, ct_tensor *other, bool fmod) {
    ct_node *node;
    if (!fmod && is_wrapped(self)) {
        /* remainder(Scalar, Tensor): no derivative in torch */
        RECORD("NotImplemented", bw_not_implemented, result, other);
        node->iv[0] = 1;
        return 0;
    }
    if (is_wrapped(other)) {
        RECORD(fmod ? "FmodBackward0" : "RemainderBackward0", bw_rem, result, self);
        node->iv[0] = fmod;
        return 0;
    }
    RECORD(fmod ? "FmodBackward1" : "RemainderBackward1", bw_rem, result, self, other);
    node->iv[0] = fmod;
    if (ct_node_needs_grad(node, 1) && save2(node, self, other)) return -1;
    return 0;
}
int ctg_remainder(ct_tensor *result, ct_tensor *self, ct_tensor *other) { return rem_record(result, self, other, false); }
int ctg_fmod(ct_tensor *result, ct_tensor *self, ct_tensor *other) { return rem_record(result, self, other, true); }

/* ------------------------------------------------------------------ pow */

/* PowBackward0: tensor ** number (sc[0]); exponent 0 gives a zero gradient. */
BACKWARD(pow0) {
    ct_scalar e = n->sc[0];
    double ed = ct_scalar_to_f64(e);
    ct_tensor *r;
    if (ed == 0.0) {
        r = ZerosLike(a, g);
    } else {
        ct_scalar em1 = e.kind == CT_SCALAR_FLOAT ? ct_scalar_f(ed - 1.0) : ct_scalar_i(e.v.i - 1);
        r = Mul(a, g, Mul(a, Pow(a, Saved(a, n, 0), NumS(a, em1)), NumS(a, e)));
    }
    return give(n, gi, 0, r);
}

/* grad of exponent: grad * result * log(base), 0 where base == 0 and exponent >= 0 */
BACKWARD(pow1) {
    ct_tensor *x = Saved(a, n, 0), *e = Saved(a, n, 1);
    if (NEEDS(0)) {
        ct_tensor *d = Mul(a, g, Mul(a, e, Pow(a, x, Sub(a, e, NumS(a, ct_scalar_i(1))))));
        if (give(n, gi, 0, Block(a, Eq(a, e, Num(a, 0.0)), d))) return -1;
    }
    if (NEEDS(1)) {
        ct_tensor *y = Saved(a, n, 2);
        ct_tensor *d = Mul(a, y, Log(a, x));
        ct_tensor *z = And(a, Eq(a, x, Num(a, 0.0)), Ge(a, e, Num(a, 0.0)));
        if (give(n, gi, 1, Mul(a, g, Block(a, z, d)))) return -1;
    }
    return 0;
}

/* PowBackward2: number (sc[0]) ** tensor; the only input is the exponent (slot 1), result slot 2 */
BACKWARD(pow2) {
    double b = ct_scalar_to_f64(n->sc[0]);
    ct_tensor *y = Saved(a, n, 2);
    ct_tensor *d = Mul(a, g, MulS(a, y, log(b)));
    if (b == 0.0) d = Block(a, Ge(a, Saved(a, n, 1), Num(a, 0.0)), d);
    return give(n, gi, 0, d);
}

static int pow2_record(ct_tensor *result, ct_scalar base, ct_tensor *exponent) {
    ct_node *node;
    RECORD("PowBackward2", bw_pow2, result, exponent);
    node->sc[0] = base;
    if (ct_node_save(node, 1, exponent, -1)) return -1;
    return ct_node_save(node, 2, result, 0);
}

int ctg_pow(ct_tensor *result, ct_tensor *self, ct_tensor *exponent) {
    ct_node *node;
    if (is_wrapped(self) && !is_wrapped(exponent)) return pow2_record(result, wrapped_value(self), exponent);
    if (is_wrapped(exponent)) {
        RECORD("PowBackward0", bw_pow0, result, self);
        node->sc[0] = wrapped_value(exponent);
        return ct_node_save(node, 0, self, -1);
    }
    RECORD("PowBackward1", bw_pow1, result, self, exponent);
    if (save2(node, self, exponent)) return -1;
    return ct_node_needs_grad(node, 1) ? ct_node_save(node, 2, result, 0) : 0;
}

int ctg_pow_Scalar(ct_tensor *result, ct_scalar self, ct_tensor *exponent) {
    return pow2_record(result, self, exponent);
}

/* ------------------------------------------------------------------ atan2, hypot */

BACKWARD(atan2) {
    ct_tensor *x = Saved(a, n, 0), *o = Saved(a, n, 1);
    ct_tensor *den = Add(a, Sq(a, x), Sq(a, o));
    if (NEEDS(0) && give(n, gi, 0, Div(a, Mul(a, g, o), den))) return -1;
    if (NEEDS(1) && give(n, gi, 1, Div(a, Mul(a, g, Neg(a, x)), den))) return -1;
    return 0;
}
int ctg_atan2(ct_tensor *result, ct_tensor *self, ct_tensor *other) {
    ct_node *node;
    RECORD("Atan2Backward0", bw_atan2, result, self, other);
    return save2(node, self, other);
}

BACKWARD(hypot) {
    ct_tensor *y = Saved(a, n, 2);
    if (NEEDS(0) && give(n, gi, 0, Mul(a, g, Div(a, Saved(a, n, 0), y)))) return -1;
    if (NEEDS(1) && give(n, gi, 1, Mul(a, g, Div(a, Saved(a, n, 1), y)))) return -1;
    return 0;
}
int ctg_hypot(ct_tensor *result, ct_tensor *self, ct_tensor *other) {
    ct_node *node;
    RECORD("HypotBackward0", bw_hypot, result, self, other);
    if (save2(node, self, other)) return -1;
    return ct_node_save(node, 2, result, 0);
}

/* ------------------------------------------------------------------ minimum, maximum, fmin, fmax */

/* iv[0]: 0 maximum, 1 minimum, 2 fmax, 3 fmin */
BACKWARD(minmax) {
    ct_tensor *x = Saved(a, n, 0), *o = Saved(a, n, 1);
    int kind = (int)n->iv[0];
    if (kind < 2) {
        /* ties split the gradient; the losing side gets 0 */
        ct_tensor *tie = Eq(a, x, o), *half = MulS(a, g, 0.5);
        ct_tensor *lose0 = kind == 0 ? Lt(a, x, o) : Gt(a, x, o);
        ct_tensor *lose1 = kind == 0 ? Gt(a, x, o) : Lt(a, x, o);
        if (NEEDS(0) && give(n, gi, 0, Where(a, tie, half, Block(a, lose0, g)))) return -1;
        if (NEEDS(1) && give(n, gi, 1, Where(a, tie, half, Block(a, lose1, g)))) return -1;
        return 0;
    }
    /* fmax/fmin: self wins ties and wherever other is NaN */
    ct_tensor *win = Or(a, kind == 2 ? Ge(a, x, o) : Le(a, x, o), Isnan(a, o));
    if (NEEDS(0) && give(n, gi, 0, Pass(a, win, g))) return -1;
    if (NEEDS(1) && give(n, gi, 1, Block(a, win, g))) return -1;
    return 0;
}
static int minmax_record(const char *name, int kind, ct_tensor *result, ct_tensor *self, ct_tensor *other) {
    ct_node *node;
    RECORD(name, bw_minmax, result, self, other);
    node->iv[0] = kind;
    return save2(node, self, other);
}
int ctg_maximum(ct_tensor *r, ct_tensor *s, ct_tensor *o) { return minmax_record("MaximumBackward0", 0, r, s, o); }
int ctg_minimum(ct_tensor *r, ct_tensor *s, ct_tensor *o) { return minmax_record("MinimumBackward0", 1, r, s, o); }
int ctg_fmax(ct_tensor *r, ct_tensor *s, ct_tensor *o) { return minmax_record("FmaxBackward0", 2, r, s, o); }
int ctg_fmin(ct_tensor *r, ct_tensor *s, ct_tensor *o) { return minmax_record("FminBackward0", 3, r, s, o); }

/* ------------------------------------------------------------------ clamp */

/* Scalar bounds: sc[0] / sc[1] with iv[0] / iv[1] telling which are given. The gradient
 * passes where min <= x <= max (boundaries included). */
BACKWARD(clamp_s) {
    ct_tensor *x = Saved(a, n, 0), *m = NULL;
    if (n->iv[0]) m = Ge(a, x, NumS(a, n->sc[0]));
    if (n->iv[1]) {
        ct_tensor *h = Le(a, x, NumS(a, n->sc[1]));
        m = m ? And(a, m, h) : h;
    }
    return give(n, gi, 0, Pass(a, m, g));
}
static int clamp_s_record(const char *name, ct_tensor *result, ct_tensor *self, const ct_scalar *min,
                          const ct_scalar *max) {
    ct_node *node;
    RECORD(name, bw_clamp_s, result, self);
    node->iv[0] = min != NULL;
    node->iv[1] = max != NULL;
    if (min) node->sc[0] = *min;
    if (max) node->sc[1] = *max;
    return ct_node_save(node, 0, self, -1);
}
int ctg_clamp(ct_tensor *result, ct_tensor *self, const ct_scalar *min, const ct_scalar *max) {
    return clamp_s_record("ClampBackward1", result, self, min, max);
}
int ctg_clamp_min(ct_tensor *result, ct_tensor *self, ct_scalar min) {
    return clamp_s_record("ClampMinBackward0", result, self, &min, NULL);
}
int ctg_clamp_max(ct_tensor *result, ct_tensor *self, ct_scalar max) {
    return clamp_s_record("ClampMaxBackward0", result, self, NULL, &max);
}

/* Tensor bounds: inputs (self, min, max), either bound may be absent (saved NULL). When
 * min > max the result is max: only max receives the gradient there. */
BACKWARD(clamp_t) {
    ct_tensor *x = Saved(a, n, 0);
    ct_tensor *lo = n->iv[0] ? Saved(a, n, 1) : NULL, *hi = n->iv[1] ? Saved(a, n, 2) : NULL;
    if (!x || (n->iv[0] && !lo) || (n->iv[1] && !hi)) return -1;
    if (NEEDS(0)) {
        ct_tensor *m = lo ? Ge(a, x, lo) : NULL;
        if (hi) m = m ? And(a, m, Le(a, x, hi)) : Le(a, x, hi);
        if (give(n, gi, 0, Pass(a, m, g))) return -1;
    }
    if (lo && NEEDS(1)) {
        ct_tensor *m = Lt(a, x, lo);
        if (hi) m = And(a, m, Lt(a, lo, hi));
        if (give(n, gi, 1, Pass(a, m, g))) return -1;
    }
    if (hi && NEEDS(2)) {
        ct_tensor *m = Gt(a, x, hi);
        if (lo) m = Or(a, m, Lt(a, hi, lo));
        if (give(n, gi, 2, Pass(a, m, g))) return -1;
    }
    return 0;
}
static int clamp_t_record(const char *name, ct_tensor *result, ct_tensor *self, ct_tensor *min, ct_tensor *max) {
    ct_node *node;
    RECORD(name, bw_clamp_t, result, self, min, max);
    node->iv[0] = min != NULL;
    node->iv[1] = max != NULL;
    if (ct_node_save(node, 0, self, -1)) return -1;
    if (min && ct_node_save(node, 1, min, -1)) return -1;
    if (max && ct_node_save(node, 2, max, -1)) return -1;
    return 0;
}
int ctg_clamp_Tensor(ct_tensor *result, ct_tensor *self, ct_tensor *min, ct_tensor *max) {
    return clamp_t_record("ClampBackward0", result, self, min, max);
}
int ctg_clamp_min_Tensor(ct_tensor *result, ct_tensor *self, ct_tensor *min) {
    return clamp_t_record("ClampMinBackward1", result, self, min, NULL);
}
int ctg_clamp_max_Tensor(ct_tensor *result, ct_tensor *self, ct_tensor *max) {
    return clamp_t_record("ClampMaxBackward1", result, self, NULL, max);
}

/* ------------------------------------------------------------------ lerp, addcmul, addcdiv */

/* lerp(self, end, w) = self + w (end - self); scalar weight in sc[0] */
BACKWARD(lerp_s) {
    double w = ct_scalar_to_f64(n->sc[0]);
    if (NEEDS(0) && give(n, gi, 0, MulS(a, g, 1.0 - w))) return -1;
    if (NEEDS(1) && give(n, gi, 1, MulS(a, g, w))) return -1;
    return 0;
}
int ctg_lerp(ct_tensor *result, ct_tensor *self, ct_tensor *end, ct_scalar weight) {
    ct_node *node;
    RECORD("LerpBackward0", bw_lerp_s, result, self, end);
    node->sc[0] = weight;
    return 0;
}

BACKWARD(lerp_t) {
    ct_tensor *w = Saved(a, n, 2);
    if (NEEDS(0) && give(n, gi, 0, Mul(a, g, RSubS(a, 1.0, w)))) return -1;
    if (NEEDS(1) && give(n, gi, 1, Mul(a, g, w))) return -1;
    if (NEEDS(2) && give(n, gi, 2, Mul(a, g, Sub(a, Saved(a, n, 1), Saved(a, n, 0))))) return -1;
    return 0;
}
int ctg_lerp_Tensor(ct_tensor *result, ct_tensor *self, ct_tensor *end, ct_tensor *weight) {
    ct_node *node;
    RECORD("LerpBackward1", bw_lerp_t, result, self, end, weight);
    if (ct_node_save(node, 2, weight, -1)) return -1;
    return ct_node_needs_grad(node, 2) ? save2(node, self, end) : 0;
}

/* iv[0]: 0 addcmul, 1 addcdiv; value in sc[0]; tensor1 slot 1, tensor2 slot 2 */
BACKWARD(addc) {
    ct_tensor *v = NumS(a, n->sc[0]);
    ct_tensor *t1 = Saved(a, n, 1), *t2 = Saved(a, n, 2);
    if (NEEDS(0) && give(n, gi, 0, g)) return -1;
    if (n->iv[0] == 0) {
        if (NEEDS(1) && give(n, gi, 1, Mul(a, Mul(a, g, t2), v))) return -1;
        if (NEEDS(2) && give(n, gi, 2, Mul(a, Mul(a, g, t1), v))) return -1;
        return 0;
    }
    if (NEEDS(1) && give(n, gi, 1, Mul(a, g, Div(a, v, t2)))) return -1;
    if (NEEDS(2) && give(n, gi, 2, Div(a, Mul(a, Mul(a, Neg(a, g), v), t1), Sq(a, t2)))) return -1;
    return 0;
}
static int addc_record(const char *name, int kind, ct_tensor *result, ct_tensor *self, ct_tensor *t1, ct_tensor *t2,
                       ct_scalar value) {
    ct_node *node;
    RECORD(name, bw_addc, result, self, t1, t2);
    node->iv[0] = kind;
    node->sc[0] = value;
    if (ct_node_save(node, 1, t1, -1)) return -1;
    return ct_node_save(node, 2, t2, -1);
}
int ctg_addcmul(ct_tensor *result, ct_tensor *self, ct_tensor *tensor1, ct_tensor *tensor2, ct_scalar value) {
    return addc_record("AddcmulBackward0", 0, result, self, tensor1, tensor2, value);
}
int ctg_addcdiv(ct_tensor *result, ct_tensor *self, ct_tensor *tensor1, ct_tensor *tensor2, ct_scalar value) {
    return addc_record("AddcdivBackward0", 1, result, self, tensor1, tensor2, value);
}

/* ------------------------------------------------------------------ where */

/* inputs (condition, input, other); the condition (bool) never needs a gradient */
BACKWARD(where) {
    ct_tensor *c = Saved(a, n, 0);
    if (NEEDS(1) && give(n, gi, 1, Pass(a, c, g))) return -1;
    if (NEEDS(2) && give(n, gi, 2, Block(a, c, g))) return -1;
    return 0;
}
int ctg_where_self(ct_tensor *result, ct_tensor *condition, ct_tensor *input, ct_tensor *other) {
    ct_node *node;
    RECORD("WhereBackward0", bw_where, result, condition, input, other);
    return ct_node_save(node, 0, condition, -1);
}

/* ------------------------------------------------------------------ in-place ops without a derivative */

int ct_autograd_inplace_begin(ct_tensor *self, int n, ct_tensor *const *inputs);
ct_tensor *ct_autograd_inplace_commit(ct_tensor *self, ct_tensor *result);

static int bw_inplace_none(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    (void)g, (void)gi;
    return ct_errorf(CT_ERR_NOT_IMPLEMENTED, "the derivative for 'inplace version of %s' is not implemented.",
                     (const char *)n->payload);
}

/* asinh_/acosh_/atanh_: torch records a node (AsinhBackward1 ...) that raises when reached. */
ct_tensor *ct_autograd_inplace_no_derivative(ct_tensor *self, ct_tensor *(*out_of_place)(ct_tensor *),
                                             ct_tensor *(*in_place)(ct_tensor *), const char *node_name,
                                             const char *op) {
    int k = ct_autograd_inplace_begin(self, 1, &self);
    if (k < 0) return NULL;
    if (k == 0) return in_place(self);
    ct_tensor *r = out_of_place(self);
    if (!r) return NULL;
    if (ct_dtype_is_floating(r->dtype)) {
        ct_node *node = ct_autograd_record(node_name, bw_inplace_none, r, 1, &self);
        if (!node) {
            ct_tensor_release(r);
            return NULL;
        }
        node->payload = (void *)op; /* a string literal: nothing to free */
    }
    return ct_autograd_inplace_commit(self, r);
}
