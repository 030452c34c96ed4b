/* Random sampling ops: rand/randn/randint/randperm, normal, bernoulli, multinomial and the
 * in-place samplers (uniform_, normal_, random_, bernoulli_, exponential_, geometric_,
 * log_normal_, cauchy_).
 *
 * NOTE [ Matching torch's CPU streams ]
 * Every sampler draws from the generator in the order torch's CPU kernels do and turns the
 * 32/64-bit draws into values with the same arithmetic, so equal seeds give equal tensors:
 *   - elements are visited serially in TensorIterator order (memory order, outermost dim =
 *     largest stride), see visit_order();
 *   - uniform floats: float/half/bfloat16 take (u32 & (2^24 - 1)) * 2^-24 (rounded once),
 *     double takes 53 bits of a 64-bit draw (two u32: first = high word);
 *   - integer ranges: (draw % range) + base, with a 64-bit draw when range >= 2^28;
 *   - normal: contiguous tensors of >= 16 elements are first filled with uniforms and then
 *     transformed by Box-Muller in blocks of 16 (element j with j+8); the tail block is
 *     redrawn over the last 16 elements. Smaller or strided tensors use the scalar double
 *     Box-Muller with the cached second sample (ct_gen_normal_f64).
 * The float32 block transform reproduces torch's vectorised log/sincos (NOTE [ float32
 * normal fill ]), so float32 randn matches too.
 * torch's kernels are built with FMA contraction: where they compute a*b+c we call fma(). */
#include <stdlib.h>

/* Values must round exactly as torch's do: no implicit a*b+c fusion (-march=native enables FMA);
 * the multiply-adds that torch's kernels (built with FMA) fuse are written as fma(). */
#pragma GCC optimize("fp-contract=off")
#include "ctorch/ops_gen.h"
#include "ctorch/random.h"
#include "../core/internal.h"
#include "../core/random_impl.h"

#define DRAW_CHUNK 2048

/* ------------------------------------------------------------------ iteration order */

/* Dims of t ordered outermost-first as TensorIterator walks an output: by decreasing
 * stride, ties keeping the original order; size-1 dims do not matter. */
static void visit_order(const ct_tensor *t, int *perm) {
    int nd = t->ndim;
    for (int i = 0; i < nd; i++) perm[i] = i;
    for (int i = 1; i < nd; i++) { /* insertion sort, stable */
        int p = perm[i], j = i - 1;
        while (j >= 0 && t->strides[perm[j]] < t->strides[p] && t->sizes[p] != 1 && t->sizes[perm[j]] != 1) {
            perm[j + 1] = perm[j];
            j--;
        }
        perm[j + 1] = p;
    }
}

/* Element offsets (in elements) of t in visit order, for n = numel; caller frees. */
static int64_t *visit_offsets(const ct_tensor *t, const int64_t *strides) {
    int perm[CT_MAX_DIM];
    visit_order(t, perm);
    int64_t n = t->numel;
    int64_t *off = ct_alloc_bytes(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (!off) return NULL;
    int nd = t->ndim;
    int64_t idx[CT_MAX_DIM] = {0};
    int64_t cur = 0;
    for (int64_t k = 0; k < n; k++) {
        off[k] = cur;
        for (int d = nd - 1; d >= 0; d--) {
            int dim = perm[d];
            if (++idx[dim] < t->sizes[dim]) {
                cur += strides[dim];
                break;
            }
            cur -= strides[dim] * (t->sizes[dim] - 1);
            idx[dim] = 0;
        }
    }
    return off;
}

/* ------------------------------------------------------------------ value generators */

/* A generator writes n values of `dtype` contiguously into out; the lock is held. */
typedef struct {
    double a, b;        /* from/to, mean/std, lambda, p, median/sigma */
    uint64_t range;     /* integer ranges */
    int64_t base;
    int kind;
} sample_params;

enum { S_UNIFORM, S_NORMAL_SERIAL, S_RANGE, S_RANDOM_BITS, S_BERNOULLI, S_EXPONENTIAL, S_GEOMETRIC,
       S_LOG_NORMAL, S_CAUCHY, S_FULL64 };

static int float_digits(int dtype) {
    switch (dtype) {
    case CT_FLOAT16: return 11;
    case CT_BFLOAT16: return 8;
    case CT_FLOAT32: return 24;
    default: return 53;
    }
}

static inline float round_half(float x) { return ct_half_to_float(ct_float_to_half(x)); }
static inline float round_bf16(float x) { return ct_bf16_to_float(ct_float_to_bf16(x)); }
static inline float round_to(int dtype, float x) {
    return dtype == CT_FLOAT16 ? round_half(x) : dtype == CT_BFLOAT16 ? round_bf16(x) : x;
}

static void gen_uniform(ct_generator *g, int dtype, char *out, int64_t n, double from_, double to_) {
    if (dtype == CT_FLOAT64) {
        double *o = (double *)out;
        const double from = from_, span = to_ - from_;
        uint32_t buf[DRAW_CHUNK];
        for (int64_t i = 0; i < n;) {
            int64_t m = n - i < DRAW_CHUNK / 2 ? n - i : DRAW_CHUNK / 2;
            ct_gen_fill_u32(g, buf, 2 * m);
            for (int64_t k = 0; k < m; k++) {
                uint64_t v = ((uint64_t)buf[2 * k] << 32) | buf[2 * k + 1];
                double x = (double)(v & ((1ULL << 53) - 1)) * (1.0 / 9007199254740992.0);
                o[i + k] = fma(x, span, from);
            }
            i += m;
        }
        return;
    }
    if (dtype == CT_FLOAT32) {
        float *o = (float *)out;
        const float from = (float)from_, span = (float)to_ - (float)from_;
        /* the draws are written over the output itself (same width), then converted */
        for (int64_t i = 0; i < n;) {
            int64_t m = n - i < (1 << 16) ? n - i : (1 << 16);
            uint32_t *u = (uint32_t *)(o + i);
            ct_gen_fill_u32(g, u, m);
            float *restrict f = o + i;
            for (int64_t k = 0; k < m; k++) {
                uint32_t r = u[k];
                float x = (float)(r & 0xffffffu) * (1.0f / 16777216.0f);
                f[k] = fmaf(x, span, from);
            }
            i += m;
        }
        return;
    }
    /* float16 / bfloat16: 24-bit float uniforms (torch draws these in float), rounded once */
    float from = round_to(dtype, (float)from_), to = round_to(dtype, (float)to_);
    float span = round_to(dtype, to - from);
    for (int64_t i = 0; i < n; i++) {
        float x = (float)(ct_gen_u32(g) & 0xffffffu) * (1.0f / 16777216.0f);
        float v = fmaf(x, span, from);
        if (dtype == CT_FLOAT16)
            ((ct_half *)out)[i] = ct_float_to_half(v);
        else
            ((ct_bf16 *)out)[i] = ct_float_to_bf16(v);
    }
}

static int64_t int_max_of(int dtype) {
    switch (dtype) {
    case CT_BOOL: return 1;
    case CT_UINT8: return 255;
    case CT_INT8: return 127;
    case CT_INT16: return 32767;
    case CT_INT32: return 2147483647;
    default: return INT64_MAX;
    }
}

static void store_i64_as(char *p, int dtype, int64_t v) {
    switch (dtype) {
    case CT_FLOAT32: *(float *)p = (float)v; break;
    case CT_FLOAT64: *(double *)p = (double)v; break;
    case CT_FLOAT16: *(ct_half *)p = ct_float_to_half((float)v); break;
    case CT_BFLOAT16: *(ct_bf16 *)p = ct_float_to_bf16((float)v); break;
    default: ct_store_i64(p, dtype, v); break;
    }
}

static void gen_values(ct_generator *g, int dtype, char *out, int64_t n, const sample_params *sp) {
    size_t es = ct_dtype_size(dtype);
    switch (sp->kind) {
    case S_UNIFORM: gen_uniform(g, dtype, out, n, sp->a, sp->b); return;
    case S_RANGE: {
        /* torch 2.13 switches to a 64-bit draw from ranges of 2^28 up (less modulo bias) */
        bool wide = sp->range >= (1ULL << 28);
        if (dtype == CT_INT64 && !wide) {
            int64_t *o = (int64_t *)out;
            uint32_t buf[DRAW_CHUNK];
            uint32_t range = (uint32_t)sp->range;
            for (int64_t i = 0; i < n;) {
                int64_t m = n - i < DRAW_CHUNK ? n - i : DRAW_CHUNK;
                ct_gen_fill_u32(g, buf, m);
                for (int64_t k = 0; k < m; k++) o[i + k] = (int64_t)(buf[k] % range) + sp->base;
                i += m;
            }
            return;
        }
        for (int64_t i = 0; i < n; i++) {
            uint64_t v = wide ? ct_gen_u64(g) : ct_gen_u32(g);
            store_i64_as(out + i * es, dtype, (int64_t)(v % sp->range + (uint64_t)sp->base));
        }
        return;
    }
    case S_FULL64:
        for (int64_t i = 0; i < n; i++) store_i64_as(out + i * es, dtype, (int64_t)ct_gen_u64(g));
        return;
    case S_RANDOM_BITS:
        for (int64_t i = 0; i < n; i++) {
            char *p = out + i * es;
            if (dtype == CT_BOOL) {
                *(uint8_t *)p = ct_gen_u32(g) & 1;
            } else if (ct_dtype_is_floating(dtype)) {
                uint64_t v = dtype == CT_FLOAT64 ? ct_gen_u64(g) : ct_gen_u32(g);
                store_i64_as(p, dtype, (int64_t)(v % ((1ULL << float_digits(dtype)) + 1)));
            } else {
                uint64_t v = dtype == CT_INT64 ? ct_gen_u64(g) : ct_gen_u32(g);
                ct_store_i64(p, dtype, (int64_t)(v % ((uint64_t)int_max_of(dtype) + 1)));
            }
        }
        return;
    case S_BERNOULLI:
        for (int64_t i = 0; i < n; i++) store_i64_as(out + i * es, dtype, ct_gen_uniform_f64(g) < sp->a);
        return;
    default: break;
    }
    for (int64_t i = 0; i < n; i++) {
        double v;
        switch (sp->kind) {
        case S_NORMAL_SERIAL: v = ct_gen_normal_f64(g, sp->a, sp->b); break;
        case S_LOG_NORMAL: v = exp(ct_gen_normal_f64(g, sp->a, sp->b)); break;
        case S_EXPONENTIAL: v = -1.0 / sp->a * log1p(-ct_gen_uniform_f64(g)); break;
        case S_GEOMETRIC: v = ceil(log(ct_gen_uniform_f64(g)) / log1p(-sp->a)); break;
        default: /* S_CAUCHY */ v = fma(sp->b, tan(M_PI * (ct_gen_uniform_f64(g) - 0.5)), sp->a); break;
        }
        if (ct_dtype_is_floating(dtype))
            ct_store_f64(out + i * es, dtype, v);
        else
            ct_store_i64(out + i * es, dtype, (int64_t)v);
    }
}

/* ------------------------------------------------------------------ normal fill */

typedef struct {
    char *data;
    int dtype;
    double mean, std;
} nf_ctx;

/* 16 uniforms in place -> 16 normals: element j pairs with j + 8 (libm; 16-bit floats). */
static void nf_block_f32_libm(float *x, float mean, float std) {
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - x[j], u2 = x[j + 8];
        float radius = sqrtf(-2.0f * logf(u1));
        float theta = (float)(2.0 * M_PI * (double)u2);
        x[j] = fmaf(radius * cosf(theta), std, mean);
        x[j + 8] = fmaf(radius * sinf(theta), std, mean);
    }
}

/* NOTE [ float32 normal fill ]
 * torch's float32 fill (AVX2 kernels, also used on AVX512 machines) evaluates log and
 * sin/cos with the classic Cephes single-precision polynomials (Pommier's avx_mathfun), its
 * compiler fusing each multiply-add. To give the same bits we evaluate the same polynomials
 * with the same fused operations, lane by lane; the loops are branch-free so they
 * vectorise. The coefficients are Cephes' (logf, sinf, cosf). */
static inline uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ln(x) for x in (0, 1] (no NaN/inf handling needed: u1 = 1 - u). */
static inline float cephes_logf(float x) {
    uint32_t big = -(uint32_t)(x > 1.17549435e-38f); /* x = max(x, FLT_MIN), branch-free */
    x = u2f((f2u(x) & big) | (f2u(1.17549435e-38f) & ~big));
    int32_t ex = (int32_t)(f2u(x) >> 23) - 0x7f;
    x = u2f((f2u(x) & ~0x7f800000u) | 0x3f000000u); /* mantissa in [0.5, 1) */
    float e = (float)ex + 1.0f;
    uint32_t small = -(uint32_t)(x < 0.707106781186547524f); /* all-ones mask */
    float keep = u2f(f2u(x) & small);
    x = x - 1.0f;
    e = e - u2f(f2u(1.0f) & small);
    x = x + keep;
    float z = x * x;
    float y = 7.0376836292E-2f;
    y = fmaf(y, x, -1.1514610310E-1f);
    y = fmaf(y, x, 1.1676998740E-1f);
    y = fmaf(y, x, -1.2420140846E-1f);
    y = fmaf(y, x, 1.4249322787E-1f);
    y = fmaf(y, x, -1.6668057665E-1f);
    y = fmaf(y, x, 2.0000714765E-1f);
    y = fmaf(y, x, -2.4999993993E-1f);
    y = fmaf(y, x, 3.3333331174E-1f);
    y = y * x;
    y = fmaf(y, z, e * -2.12194440e-4f);
    y = fmaf(-z, 0.5f, y);
    x = x + y;
    return fmaf(e, 0.693359375f, x);
}

/* sin and cos of x >= 0 (theta = 2*pi*u). */
static inline void cephes_sincosf(float x, float *s, float *c) {
    int32_t j = (int32_t)(x * 1.27323954473516f); /* x * 4/pi */
    j = (j + 1) & ~1;
    float y = (float)j;
    uint32_t sign_sin = ((uint32_t)(j & 4)) << 29;
    uint32_t sign_cos = ((uint32_t)(~(j - 2) & 4)) << 29;
    uint32_t cos_poly = -(uint32_t)((j & 2) == 0); /* all-ones mask */
    x = fmaf(y, -0.78515625f, x); /* x - y*pi/4 in three parts */
    x = fmaf(y, -2.4187564849853515625e-4f, x);
    x = fmaf(y, -3.77489497744594108e-8f, x);
    float z = x * x;
    float yc = 2.443315711809948E-005f;
    yc = fmaf(yc, z, -1.388731625493765E-003f);
    yc = fmaf(yc, z, 4.166664568298827E-002f);
    yc = yc * z;
    yc = fmaf(yc, z, -(z * 0.5f));
    yc = yc + 1.0f;
    float ys = -1.9515295891E-4f;
    ys = fmaf(ys, z, 8.3321608736E-3f);
    ys = fmaf(ys, z, -1.6666654611E-1f);
    ys = ys * z;
    ys = fmaf(ys, x, x);
    float sin_part = u2f(f2u(ys) & cos_poly), cos_part = u2f(f2u(yc) & ~cos_poly);
    ys = ys - sin_part;
    yc = yc - cos_part;
    *s = u2f(f2u(cos_part + sin_part) ^ sign_sin);
    *c = u2f(f2u(yc + ys) ^ sign_cos);
}

/* Transform `nb` consecutive blocks of 16 floats (pairs j, j+8 within each block). The
 * pairs are gathered into flat arrays so that the arithmetic loop vectorises. */
#define NF_TILE 64 /* blocks per tile */
static void nf_blocks_f32(float *restrict x, int64_t nb, float mean, float std) {
    const float two_pi = (float)(2.0 * M_PI);
    float a[NF_TILE * 8], b[NF_TILE * 8];
    while (nb > 0) {
        int t = nb < NF_TILE ? (int)nb : NF_TILE;
        for (int k = 0; k < t; k++)
            for (int j = 0; j < 8; j++) {
                a[k * 8 + j] = x[k * 16 + j];
                b[k * 8 + j] = x[k * 16 + 8 + j];
            }
        int m = t * 8;
        for (int i = 0; i < m; i++) {
            float radius = sqrtf(-2.0f * cephes_logf(1.0f - a[i]));
            float sn, cs;
            cephes_sincosf(two_pi * b[i], &sn, &cs);
            a[i] = fmaf(radius * cs, std, mean);
            b[i] = fmaf(radius * sn, std, mean);
        }
        for (int k = 0; k < t; k++)
            for (int j = 0; j < 8; j++) {
                x[k * 16 + j] = a[k * 8 + j];
                x[k * 16 + 8 + j] = b[k * 8 + j];
            }
        x += (int64_t)t * 16;
        nb -= t;
    }
}

static void nf_block_f64(double *x, double mean, double std) {
    for (int j = 0; j < 8; j++) {
        double u1 = 1.0 - x[j], u2 = x[j + 8];
        double radius = sqrt(-2.0 * log(u1));
        double theta = 2.0 * M_PI * u2;
        x[j] = fma(radius * cos(theta), std, mean);
        x[j + 8] = fma(radius * sin(theta), std, mean);
    }
}
static void nf_block(const nf_ctx *c, int64_t start) {
    size_t es = ct_dtype_size(c->dtype);
    char *p = c->data + start * (int64_t)es;
    if (c->dtype == CT_FLOAT32)
        nf_blocks_f32((float *)p, 1, (float)c->mean, (float)c->std);
    else
        nf_block_f64((double *)p, c->mean, c->std);
}

/* float16/bfloat16: torch draws 16 float uniforms per block (the tail block too), transforms
 * them in float and rounds once on store. Lock held. */
static void normal_fill_16bit(ct_generator *g, int dtype, char *data, int64_t n, double mean, double std) {
    float x[16];
    for (int64_t i = 0; i + 16 <= n + (n % 16 ? 16 - n % 16 : 0); i += 16) {
        int64_t at = i + 16 <= n ? i : n - 16;
        gen_uniform(g, CT_FLOAT32, (char *)x, 16, 0.0, 1.0);
        nf_block_f32_libm(x, (float)mean, (float)std);
        for (int j = 0; j < 16; j++) {
            if (dtype == CT_FLOAT16)
                ((ct_half *)data)[at + j] = ct_float_to_half(x[j]);
            else
                ((ct_bf16 *)data)[at + j] = ct_float_to_bf16(x[j]);
        }
    }
}

static void nf_range(int64_t b, int64_t e, void *ctx) {
    const nf_ctx *c = ctx;
    if (c->dtype == CT_FLOAT32) {
        nf_blocks_f32((float *)c->data + b * 16, e - b, (float)c->mean, (float)c->std);
        return;
    }
    for (int64_t k = b; k < e; k++) nf_block(ctx, k * 16);
}

/* Contiguous data of n >= 16 floats: normal values, torch's block algorithm. Lock held. */
static void normal_fill(ct_generator *g, int dtype, char *data, int64_t n, double mean, double std) {
    if (dtype == CT_FLOAT16 || dtype == CT_BFLOAT16) {
        normal_fill_16bit(g, dtype, data, n, mean, std);
        return;
    }
    gen_uniform(g, dtype, data, n, 0.0, 1.0);
    nf_ctx c = {data, dtype, mean, std};
    ct_parallel_for(n / 16, 4096, nf_range, &c);
    if (n % 16) {
        size_t es = ct_dtype_size(dtype);
        gen_uniform(g, dtype, data + (n - 16) * (int64_t)es, 16, 0.0, 1.0);
        nf_block(&c, n - 16);
    }
}

/* ------------------------------------------------------------------ drivers */

static bool is_float_dtype(int dt) { return ct_dtype_is_floating(dt); }

/* Fill self with samples (in visit order); returns self as a new reference. */
static ct_tensor *fill_with(ct_tensor *self, ct_generator *g, const sample_params *sp) {
    g = ct_gen_or_default(g);
    int64_t n = self->numel;
    if (n == 0) {
        ct_tensor_retain(self);
        return self;
    }
    bool normal_block = sp->kind == S_NORMAL_SERIAL && n >= 16 && ct_tensor_is_contiguous(self);
    if (ct_tensor_is_contiguous(self)) {
        ct_gen_lock(g);
        if (normal_block)
            normal_fill(g, self->dtype, ct_tensor_data(self), n, sp->a, sp->b);
        else
            gen_values(g, self->dtype, ct_tensor_data(self), n, sp);
        ct_gen_unlock(g);
    } else {
        size_t es = ct_dtype_size(self->dtype);
        char *tmp = ct_alloc_bytes(es * (size_t)n);
        if (!tmp) return NULL;
        int64_t *off = visit_offsets(self, self->strides);
        if (!off) {
            ct_free_bytes(tmp);
            return NULL;
        }
        ct_gen_lock(g);
        gen_values(g, self->dtype, tmp, n, sp);
        ct_gen_unlock(g);
        char *base = ct_tensor_data(self);
        for (int64_t k = 0; k < n; k++) memcpy(base + off[k] * (int64_t)es, tmp + k * (int64_t)es, es);
        ct_free_bytes(off);
        ct_free_bytes(tmp);
    }
    ct_tensor_bump_version(self);
    ct_tensor_retain(self);
    return self;
}

static ct_tensor *new_filled(ct_intlist size, int dtype, ct_generator *g, const sample_params *sp, const char *op) {
    if (size.n > CT_MAX_DIM) return ct_error(CT_ERR_RUNTIME, "[%s] too many dimensions (%lld)", op, (long long)size.n);
    for (int64_t i = 0; i < size.n; i++)
        if (size.data[i] < 0)
            return ct_error(CT_ERR_RUNTIME, "Trying to create tensor with negative dimension %lld: %s",
                            (long long)size.data[i], "[size]");
    ct_tensor *t = ct_empty(size.data, (int)size.n, dtype);
    if (!t) return NULL;
    ct_tensor *r = fill_with(t, g, sp);
    ct_tensor_release(t);
    return r;
}

static const char *dtype_title(int dt) {
    static const char *names[CT_NUM_DTYPES] = {"Bool", "Byte", "Char", "Short", "Int", "Long",
                                               "Half", "BFloat16", "Float", "Double"};
    return dt >= 0 && dt < CT_NUM_DTYPES ? names[dt] : "?";
}

static int need_float(int dtype, const char *kernel) {
    if (!is_float_dtype(dtype))
        return ct_errorf(CT_ERR_NOT_IMPLEMENTED, "\"%s\" not implemented for '%s'", kernel, dtype_title(dtype));
    return 0;
}

/* ------------------------------------------------------------------ in-place samplers */

ct_tensor *ct_uniform_(ct_tensor *self, double from, double to, ct_generator *generator) {
    if (need_float(self->dtype, "check_uniform_bounds")) return NULL;
    if (!(from <= to))
        return ct_error(CT_ERR_RUNTIME, "uniform_ expects to return a [from, to) range, but found from=%g > to=%g",
                        from, to);
    sample_params sp = {.a = from, .b = to, .kind = S_UNIFORM};
    return fill_with(self, generator, &sp);
}

ct_tensor *ct_normal_(ct_tensor *self, double mean, double std, ct_generator *generator) {
    if (need_float(self->dtype, "normal_kernel_cpu")) return NULL;
    if (!(std >= 0.0)) return ct_error(CT_ERR_RUNTIME, "normal expects std >= 0.0, but found std %g", std);
    sample_params sp = {.a = mean, .b = std, .kind = S_NORMAL_SERIAL};
    return fill_with(self, generator, &sp);
}

/* Largest integer exactly representable and in range for dtype, as random_'s upper end. */
static int64_t dtype_upper(int dtype) {
    if (is_float_dtype(dtype)) return (int64_t)1 << float_digits(dtype);
    return int_max_of(dtype);
}
static int64_t dtype_lower(int dtype) {
    switch (dtype) {
    case CT_BOOL: case CT_UINT8: return 0;
    case CT_INT8: return -128;
    case CT_INT16: return -32768;
    case CT_INT32: return INT32_MIN;
    case CT_INT64: return INT64_MIN;
    default: return -((int64_t)1 << float_digits(dtype));
    }
}

static ct_tensor *random_from_to(ct_tensor *self, int64_t from, int64_t to_inc_or_excl, bool to_given,
                                 ct_generator *g, const char *op) {
    int dt = self->dtype;
    sample_params sp = {.kind = S_RANGE};
    if (to_given) {
        int64_t to = to_inc_or_excl;
        if (from >= to)
            return ct_error(CT_ERR_RUNTIME, "%s expects 'from' to be less than 'to', but got from=%lld >= to=%lld", op,
                            (long long)from, (long long)to);
        if (from < dtype_lower(dt) || from > dtype_upper(dt))
            return ct_error(CT_ERR_RUNTIME, "from is out of bounds for %s", ct_dtype_name(dt));
        if (to - 1 < dtype_lower(dt) || to - 1 > dtype_upper(dt))
            return ct_error(CT_ERR_RUNTIME, "to - 1 is out of bounds for %s", ct_dtype_name(dt));
        sp.range = (uint64_t)to - (uint64_t)from;
        sp.base = from;
    } else {
        if (from == INT64_MIN && (dt == CT_INT64 || dt == CT_FLOAT32 || dt == CT_FLOAT64 || dt == CT_BFLOAT16)) {
            sp.kind = S_FULL64;
            return fill_with(self, g, &sp);
        }
        int64_t to_inc = dtype_upper(dt);
        if (from < dtype_lower(dt) || from > to_inc)
            return ct_error(CT_ERR_RUNTIME, "from is out of bounds for %s", ct_dtype_name(dt));
        sp.range = (uint64_t)to_inc - (uint64_t)from + 1;
        sp.base = from;
    }
    return fill_with(self, g, &sp);
}

ct_tensor *ct_random__from(ct_tensor *self, int64_t from, const int64_t *to, ct_generator *generator) {
    return random_from_to(self, from, to ? *to : 0, to != NULL, generator, "random_");
}
ct_tensor *ct_random__to(ct_tensor *self, int64_t to, ct_generator *generator) {
    return random_from_to(self, 0, to, true, generator, "random_");
}
ct_tensor *ct_random_(ct_tensor *self, ct_generator *generator) {
    sample_params sp = {.kind = S_RANDOM_BITS};
    return fill_with(self, generator, &sp);
}

ct_tensor *ct_bernoulli__float(ct_tensor *self, double p, ct_generator *generator) {
    if (!(p >= 0.0 && p <= 1.0))
        return ct_error(CT_ERR_RUNTIME, "bernoulli_ expects p to be in [0, 1], but got p=%g", p);
    sample_params sp = {.a = p, .kind = S_BERNOULLI};
    return fill_with(self, generator, &sp);
}

/* self[i] = u_i < p[i] with p broadcast to self; u is a 53-bit uniform when p is double,
 * else a 24-bit one compared in float. */
ct_tensor *ct_bernoulli__Tensor(ct_tensor *self, ct_tensor *p, ct_generator *generator) {
    if (!is_float_dtype(p->dtype))
        return ct_error(CT_ERR_NOT_IMPLEMENTED, "\"bernoulli_tensor_cpu_p_\" not implemented for '%s'", dtype_title(p->dtype));
    int64_t bshape[CT_MAX_DIM];
    int bn = ct_broadcast_shapes(self->sizes, self->ndim, p->sizes, p->ndim, bshape, "bernoulli_");
    if (bn < 0) return NULL;
    bool same = bn == self->ndim;
    for (int i = 0; same && i < bn; i++) same = bshape[i] == self->sizes[i];
    if (!same) {
        char a[128], b[128];
        return ct_error(CT_ERR_RUNTIME, "[bernoulli_] p of shape %s cannot be broadcast to self of shape %s",
                        ct_shape_str(p->sizes, p->ndim, a, sizeof a), ct_shape_str(self->sizes, self->ndim, b, sizeof b));
    }
    int64_t n = self->numel;
    if (n == 0) {
        ct_tensor_retain(self);
        return self;
    }
    /* p's strides aligned to self's dims (0 where broadcast) */
    int64_t pst[CT_MAX_DIM];
    for (int i = 0; i < self->ndim; i++) {
        int j = i - (self->ndim - p->ndim);
        pst[i] = (j < 0 || p->sizes[j] == 1) ? 0 : p->strides[j];
    }
    int64_t *so = visit_offsets(self, self->strides);
    int64_t *po = so ? visit_offsets(self, pst) : NULL;
    if (!po) {
        ct_free_bytes(so);
        return NULL;
    }
    ct_generator *g = ct_gen_or_default(generator);
    size_t es = ct_dtype_size(self->dtype), pes = ct_dtype_size(p->dtype);
    char *sb = ct_tensor_data(self);
    const char *pb = ct_tensor_data(p);
    bool pdouble = p->dtype == CT_FLOAT64;
    ct_gen_lock(g);
    for (int64_t k = 0; k < n; k++) {
        const char *pp = pb + po[k] * (int64_t)pes;
        int v;
        if (pdouble)
            v = ct_gen_uniform_f64(g) < *(const double *)pp;
        else
            v = ct_gen_uniform_f32(g) < (float)ct_load_f64(pp, p->dtype);
        store_i64_as(sb + so[k] * (int64_t)es, self->dtype, v);
    }
    ct_gen_unlock(g);
    ct_free_bytes(so);
    ct_free_bytes(po);
    ct_tensor_bump_version(self);
    ct_tensor_retain(self);
    return self;
}

ct_tensor *ct_exponential_(ct_tensor *self, double lambd, ct_generator *generator) {
    if (!is_float_dtype(self->dtype))
        return ct_error(CT_ERR_RUNTIME,
                        "Exponential distribution is a continuous probability distribution. dtype must be a floating "
                        "point but you specified %s", dtype_title(self->dtype));
    if (!(lambd > 0.0))
        return ct_error(CT_ERR_RUNTIME, "exponential_ expects lambda > 0.0, but found lambda=%g", lambd);
    sample_params sp = {.a = lambd, .kind = S_EXPONENTIAL};
    return fill_with(self, generator, &sp);
}

ct_tensor *ct_geometric_(ct_tensor *self, double p, ct_generator *generator) {
    if (self->dtype == CT_BOOL)
        return ct_error(CT_ERR_NOT_IMPLEMENTED, "\"geometric_cpu\" not implemented for 'Bool'");
    if (!(p > 0.0 && p < 1.0))
        return ct_error(CT_ERR_RUNTIME, "geometric_ expects p to be in (0, 1), but got p=%g", p);
    sample_params sp = {.a = p, .kind = S_GEOMETRIC};
    return fill_with(self, generator, &sp);
}

ct_tensor *ct_log_normal_(ct_tensor *self, double mean, double std, ct_generator *generator) {
    if (need_float(self->dtype, "log_normal_cpu")) return NULL;
    if (!(std > 0.0)) return ct_error(CT_ERR_RUNTIME, "log_normal_ expects std > 0.0, but found std=%g", std);
    sample_params sp = {.a = mean, .b = std, .kind = S_LOG_NORMAL};
    return fill_with(self, generator, &sp);
}

ct_tensor *ct_cauchy_(ct_tensor *self, double median, double sigma, ct_generator *generator) {
    if (need_float(self->dtype, "cauchy_cpu")) return NULL;
    if (!(sigma > 0.0)) return ct_error(CT_ERR_RUNTIME, "cauchy_ expects sigma > 0.0, but found sigma=%g", sigma);
    sample_params sp = {.a = median, .b = sigma, .kind = S_CAUCHY};
    return fill_with(self, generator, &sp);
}

/* ------------------------------------------------------------------ factories */

static int float_or_default(int dtype) { return dtype < 0 ? ct_get_default_dtype() : dtype; }

ct_tensor *ct_rand(ct_intlist size, ct_generator *generator, int dtype, int device) {
    (void)device;
    dtype = float_or_default(dtype);
    if (need_float(dtype, "check_uniform_bounds")) return NULL;
    sample_params sp = {.a = 0.0, .b = 1.0, .kind = S_UNIFORM};
    return new_filled(size, dtype, generator, &sp, "rand");
}

ct_tensor *ct_randn(ct_intlist size, ct_generator *generator, int dtype, int device) {
    (void)device;
    dtype = float_or_default(dtype);
    if (need_float(dtype, "normal_kernel_cpu")) return NULL;
    sample_params sp = {.a = 0.0, .b = 1.0, .kind = S_NORMAL_SERIAL};
    return new_filled(size, dtype, generator, &sp, "randn");
}

ct_tensor *ct_randint_low(int64_t low, int64_t high, ct_intlist size, ct_generator *generator, int dtype,
                          int device) {
    (void)device;
    if (dtype < 0) dtype = CT_INT64;
    if (size.n > CT_MAX_DIM) return ct_error(CT_ERR_RUNTIME, "[randint] too many dimensions");
    for (int64_t i = 0; i < size.n; i++)
        if (size.data[i] < 0)
            return ct_error(CT_ERR_RUNTIME, "Trying to create tensor with negative dimension %lld: [size]",
                            (long long)size.data[i]);
    ct_tensor *t = ct_empty(size.data, (int)size.n, dtype);
    if (!t) return NULL;
    ct_tensor *r = random_from_to(t, low, high, true, generator, "random_");
    ct_tensor_release(t);
    return r;
}

ct_tensor *ct_randint(int64_t high, ct_intlist size, ct_generator *generator, int dtype, int device) {
    return ct_randint_low(0, high, size, generator, dtype, device);
}

ct_tensor *ct_randperm(int64_t n, ct_generator *generator, int dtype, int device) {
    (void)device;
    if (dtype < 0) dtype = CT_INT64;
    if (n < 0) return ct_error(CT_ERR_RUNTIME, "n must be non-negative, got%lld", (long long)n);
    if (dtype == CT_BOOL || dtype == CT_FLOAT16 || dtype == CT_BFLOAT16 || dtype == CT_UINT8 || dtype == CT_INT8 ||
        dtype == CT_INT16 || dtype == CT_INT32 || dtype == CT_FLOAT32) {
        int64_t lim = dtype == CT_BOOL ? 2 : dtype_upper(dtype) + 1;
        if (dtype == CT_FLOAT32 || dtype == CT_FLOAT16 || dtype == CT_BFLOAT16) lim = dtype_upper(dtype) + 1;
        if (n > lim)
            return ct_error(CT_ERR_RUNTIME, "n cannot be greater than %lld for %s type.", (long long)lim,
                            dtype_title(dtype));
    }
    ct_tensor *t = ct_empty(&n, 1, dtype);
    if (!t || n == 0) return t;
    int64_t *perm = ct_alloc_bytes(sizeof(int64_t) * (size_t)n);
    if (!perm) {
        ct_tensor_release(t);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    ct_generator *g = ct_gen_or_default(generator);
    ct_gen_lock(g);
    if (n < (int64_t)(UINT32_MAX / 20)) {
        /* torch's small-n shuffle: one 32-bit draw per position */
        for (int64_t i = 0; i < n - 1; i++) {
            int64_t z = (int64_t)(ct_gen_u32(g) % (uint64_t)(n - i));
            int64_t s = perm[i];
            perm[i] = perm[z + i];
            perm[z + i] = s;
        }
    } else {
        /* large n: "inside-out" Fisher-Yates with one 64-bit draw per element, the scheme
         * torch uses here as far as we know; not compared with torch (too large to test) */
        for (int64_t i = 0; i < n; i++) {
            int64_t z = (int64_t)(ct_gen_u64(g) % (uint64_t)(i + 1));
            perm[i] = perm[z];
            perm[z] = i;
        }
    }
    ct_gen_unlock(g);
    char *o = ct_tensor_data(t);
    size_t es = ct_dtype_size(dtype);
    for (int64_t i = 0; i < n; i++) store_i64_as(o + i * (int64_t)es, dtype, perm[i]);
    ct_free_bytes(perm);
    return t;
}

static ct_tensor *like(ct_tensor *self, int dtype) { return ct_empty(self->sizes, self->ndim, dtype < 0 ? self->dtype : dtype); }

ct_tensor *ct_rand_like(ct_tensor *self, int dtype, int device) {
    (void)device;
    ct_tensor *t = like(self, dtype);
    if (!t) return NULL;
    ct_tensor *r = ct_uniform_(t, 0.0, 1.0, NULL);
    ct_tensor_release(t);
    return r;
}

ct_tensor *ct_randn_like(ct_tensor *self, int dtype, int device) {
    (void)device;
    ct_tensor *t = like(self, dtype);
    if (!t) return NULL;
    ct_tensor *r = ct_normal_(t, 0.0, 1.0, NULL);
    ct_tensor_release(t);
    return r;
}

ct_tensor *ct_randint_like_low(ct_tensor *self, int64_t low, int64_t high, int dtype, int device) {
    (void)device;
    ct_tensor *t = like(self, dtype);
    if (!t) return NULL;
    ct_tensor *r = random_from_to(t, low, high, true, NULL, "random_");
    ct_tensor_release(t);
    return r;
}

ct_tensor *ct_randint_like(ct_tensor *self, int64_t high, int dtype, int device) {
    return ct_randint_like_low(self, 0, high, dtype, device);
}

/* ------------------------------------------------------------------ normal */

static int check_std_tensor(ct_tensor *std) {
    const char *b = ct_tensor_data(std);
    int64_t es = (int64_t)ct_dtype_size(std->dtype);
    int64_t *off = visit_offsets(std, std->strides);
    if (!off) return -1;
    int bad = 0;
    for (int64_t k = 0; k < std->numel && !bad; k++) bad = !(ct_load_f64(b + off[k] * es, std->dtype) >= 0.0);
    ct_free_bytes(off);
    if (bad) return ct_errorf(CT_ERR_RUNTIME, "normal expects all elements of std >= 0.0");
    return 0;
}

/* out = N(0, 1) * std + mean (two roundings, as torch's mul_ then add_). */
static ct_tensor *normal_combine(ct_tensor *out, ct_tensor *mean, ct_tensor *std, double smean, double sstd,
                                 ct_generator *g) {
    ct_tensor *r = ct_normal_(out, std ? 0.0 : 0.0, std ? 1.0 : sstd, g);
    if (!r) return NULL;
    ct_tensor_release(r);
    if (std) {
        r = ct_mul_(out, std);
        if (!r) return NULL;
        ct_tensor_release(r);
    }
    if (mean) {
        r = ct_add_(out, mean, ct_scalar_i(1));
    } else {
        ct_tensor *m = ct_scalar_tensor_f64(smean, CT_FLOAT64);
        if (!m) return NULL;
        m->flags |= CT_FLAG_WRAPPED_NUMBER;
        r = ct_add_(out, m, ct_scalar_i(1));
        ct_tensor_release(m);
    }
    if (!r) return NULL;
    ct_tensor_release(r);
    ct_tensor_retain(out);
    return out;
}

ct_tensor *ct_normal_Tensor_Tensor(ct_tensor *mean, ct_tensor *std, ct_generator *generator) {
    if (need_float(mean->dtype, "normal_kernel_cpu")) return NULL;
    if (check_std_tensor(std)) return NULL;
    int64_t shape[CT_MAX_DIM];
    int nd = ct_broadcast_shapes(mean->sizes, mean->ndim, std->sizes, std->ndim, shape, "normal");
    if (nd < 0) return NULL;
    ct_tensor *out = ct_empty(shape, nd, mean->dtype);
    if (!out) return NULL;
    ct_tensor *r = normal_combine(out, mean, std, 0, 0, generator);
    ct_tensor_release(out);
    return r;
}

ct_tensor *ct_normal_Tensor_float(ct_tensor *mean, double std, ct_generator *generator) {
    if (need_float(mean->dtype, "normal_kernel_cpu")) return NULL;
    if (!(std >= 0.0)) return ct_error(CT_ERR_RUNTIME, "normal expects std >= 0.0, but found std %g", std);
    ct_tensor *out = like(mean, -1);
    if (!out) return NULL;
    ct_tensor *r = normal_combine(out, mean, NULL, 0, std, generator);
    ct_tensor_release(out);
    return r;
}

ct_tensor *ct_normal_float_Tensor(double mean, ct_tensor *std, ct_generator *generator) {
    if (need_float(std->dtype, "normal_kernel_cpu")) return NULL;
    if (check_std_tensor(std)) return NULL;
    ct_tensor *out = like(std, -1);
    if (!out) return NULL;
    ct_tensor *r = normal_combine(out, NULL, std, mean, 1.0, generator);
    ct_tensor_release(out);
    return r;
}

ct_tensor *ct_normal_float_float(double mean, double std, ct_intlist size, ct_generator *generator, int dtype,
                                 int device) {
    (void)device;
    dtype = float_or_default(dtype);
    if (need_float(dtype, "normal_kernel_cpu")) return NULL;
    if (!(std >= 0.0)) return ct_error(CT_ERR_RUNTIME, "normal expects std >= 0.0, but found std %g", std);
    sample_params sp = {.a = mean, .b = std, .kind = S_NORMAL_SERIAL};
    return new_filled(size, dtype, generator, &sp, "normal");
}

/* ------------------------------------------------------------------ bernoulli */

ct_tensor *ct_bernoulli(ct_tensor *self, ct_generator *generator) {
    if (need_float(self->dtype, "bernoulli_tensor_cpu_p_")) return NULL;
    const char *b = ct_tensor_data(self);
    int64_t es = (int64_t)ct_dtype_size(self->dtype);
    int64_t *off = visit_offsets(self, self->strides);
    if (!off) return NULL;
    int bad = 0;
    for (int64_t k = 0; k < self->numel && !bad; k++) {
        double p = ct_load_f64(b + off[k] * es, self->dtype);
        bad = !(p >= 0.0 && p <= 1.0);
    }
    ct_free_bytes(off);
    if (bad) return ct_error(CT_ERR_RUNTIME, "Expected p_in >= 0 && p_in <= 1 to be true, but got false.");
    ct_tensor *out = like(self, -1);
    if (!out) return NULL;
    ct_tensor *r = ct_bernoulli__Tensor(out, self, generator);
    ct_tensor_release(out);
    return r;
}

ct_tensor *ct_bernoulli_p(ct_tensor *self, double p, ct_generator *generator) {
    ct_tensor *out = like(self, -1);
    if (!out) return NULL;
    ct_tensor *r = ct_bernoulli__float(out, p, generator);
    ct_tensor_release(out);
    return r;
}

/* ------------------------------------------------------------------ multinomial */

typedef struct {
    double key;
    int64_t idx;
} keyed;

static int keyed_desc(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    if (x->key > y->key) return -1;
    if (x->key < y->key) return 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Rows of probabilities (not necessarily normalised) -> sampled category indices.
 * Without replacement (or one sample): argmax/top-k of p / q with q ~ Exp(1) drawn like
 * exponential_ on a tensor of p's shape. With replacement: inverse CDF by binary search on
 * the normalised cumulative sums, one 53-bit uniform per sample. */
ct_tensor *ct_multinomial(ct_tensor *self, int64_t num_samples, bool replacement, ct_generator *generator) {
    if (self->ndim != 1 && self->ndim != 2)
        return ct_error(CT_ERR_RUNTIME, "prob_dist must be 1 or 2 dim");
    if (!is_float_dtype(self->dtype))
        return ct_error(CT_ERR_RUNTIME, "multinomial only supports floating-point dtypes for input, got: %s",
                        dtype_title(self->dtype));
    if (num_samples <= 0) return ct_error(CT_ERR_RUNTIME, "cannot sample n_sample <= 0 samples");
    int64_t ncat = self->sizes[self->ndim - 1];
    int64_t nrows = self->ndim == 2 ? self->sizes[0] : 1;
    if (!replacement && num_samples > ncat)
        return ct_error(CT_ERR_RUNTIME, "cannot sample n_sample > prob_dist.size(-1) samples without replacement");
    if (ncat > (1 << 24)) return ct_error(CT_ERR_RUNTIME, "number of categories cannot exceed 2^24");
    ct_tensor *src = ct_contig_as(self, CT_FLOAT64);
    if (!src) return NULL;
    const double *p = ct_tensor_data(src);
    int64_t osz[2] = {nrows, num_samples};
    ct_tensor *out = self->ndim == 2 ? ct_empty(osz, 2, CT_INT64) : ct_empty(&num_samples, 1, CT_INT64);
    if (!out) {
        ct_tensor_release(src);
        return NULL;
    }
    int64_t *o = ct_tensor_data(out);
    ct_generator *g = ct_gen_or_default(generator);
    if (!replacement || num_samples == 1) {
        for (int64_t i = 0; i < nrows * ncat; i++)
            if (!(p[i] >= 0.0 && p[i] < INFINITY)) {
                ct_tensor_release(src);
                ct_tensor_release(out);
                return ct_error(CT_ERR_RUNTIME, "probability tensor contains either `inf`, `nan` or element < 0");
            }
        for (int64_t r = 0; r < nrows; r++) {
            double s = 0;
            for (int64_t j = 0; j < ncat; j++) s += p[r * ncat + j];
            if (s == 0) {
                ct_tensor_release(src);
                ct_tensor_release(out);
                return ct_error(CT_ERR_RUNTIME, "invalid multinomial distribution (sum of probabilities <= 0)");
            }
        }
        /* q ~ Exp(1) in self's dtype, then key = p / q in self's dtype */
        ct_tensor *q = ct_empty(self->sizes, self->ndim, self->dtype);
        keyed *k = q ? ct_alloc_bytes(sizeof(keyed) * (size_t)(ncat ? ncat : 1)) : NULL;
        ct_tensor *qq = k ? ct_exponential_(q, 1.0, g) : NULL;
        if (!qq) {
            ct_free_bytes(k);
            ct_tensor_release(q);
            ct_tensor_release(src);
            ct_tensor_release(out);
            return NULL;
        }
        ct_tensor_release(qq);
        const char *qb = ct_tensor_data(q);
        size_t qes = ct_dtype_size(q->dtype);
        for (int64_t r = 0; r < nrows; r++) {
            for (int64_t j = 0; j < ncat; j++) {
                double qv = ct_load_f64(qb + (r * ncat + j) * (int64_t)qes, q->dtype);
                double key = p[r * ncat + j] / qv;
                if (self->dtype == CT_FLOAT32) key = (float)key;
                else if (self->dtype != CT_FLOAT64) key = round_to(self->dtype, (float)key);
                k[j].key = key;
                k[j].idx = j;
            }
            qsort(k, (size_t)ncat, sizeof(keyed), keyed_desc);
            for (int64_t s = 0; s < num_samples; s++) o[r * num_samples + s] = k[s].idx;
        }
        ct_free_bytes(k);
        ct_tensor_release(q);
    } else {
        double *cum = ct_alloc_bytes(sizeof(double) * (size_t)ncat);
        if (!cum) {
            ct_tensor_release(src);
            ct_tensor_release(out);
            return NULL;
        }
        bool is_f64 = self->dtype == CT_FLOAT64;
        for (int64_t r = 0; r < nrows; r++) {
            double sum = 0;
            const double *row = p + r * ncat;
            for (int64_t j = 0; j < ncat; j++) {
                double v = row[j];
                if (!(v >= 0.0)) {
                    ct_free_bytes(cum);
                    ct_tensor_release(src);
                    ct_tensor_release(out);
                    return ct_error(CT_ERR_RUNTIME, v != v ? "invalid multinomial distribution (encountering probability entry = infinity or NaN)"
                                                           : "invalid multinomial distribution (encountering probability entry < 0)");
                }
                if (v == INFINITY) {
                    ct_free_bytes(cum);
                    ct_tensor_release(src);
                    ct_tensor_release(out);
                    return ct_error(CT_ERR_RUNTIME, "invalid multinomial distribution (encountering probability entry = infinity or NaN)");
                }
                sum = is_f64 ? sum + v : (double)((float)sum + (float)v);
                cum[j] = sum;
            }
            if (!(sum > 0)) {
                ct_free_bytes(cum);
                ct_tensor_release(src);
                ct_tensor_release(out);
                return ct_error(CT_ERR_RUNTIME, "invalid multinomial distribution (sum of probabilities <= 0)");
            }
            for (int64_t j = 0; j < ncat; j++) cum[j] = is_f64 ? cum[j] / sum : (double)((float)cum[j] / (float)sum);
            cum[ncat - 1] = 1;
            ct_gen_lock(g);
            for (int64_t s = 0; s < num_samples; s++) {
                double u = ct_gen_uniform_f64(g);
                int64_t lo = 0, hi = ncat;
                while (hi - lo > 0) {
                    int64_t mid = lo + (hi - lo) / 2;
                    if (cum[mid] < u)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                o[r * num_samples + s] = lo;
            }
            ct_gen_unlock(g);
        }
        ct_free_bytes(cum);
    }
    ct_tensor_release(src);
    return out;
}
