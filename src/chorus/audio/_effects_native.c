/*
 * The effect chain's per-sample and per-frame work in C: the same arithmetic as the Python chain in
 * effects.py, operation for operation, so the output bytes are identical (tests/unit/test_effects_native.py
 * compares the two, and tests/unit/test_effects_reference.py compares both with the plain formulas).
 *
 * Bit-identity rests on three things: the same IEEE double operations in the same order (this file is
 * compiled with -ffp-contract=off so that no multiply-add is fused, and x86-64 uses SSE2 doubles); the
 * same libm functions the Python code calls (log10, pow); and sums formed as NumPy forms them (pairwise,
 * eight accumulators: pairwise_sum) or as math.fsum does (exactly rounded: exact_sum).
 *
 * Loaded with ctypes (src/chorus/audio/effects_native.py); there is no Python API in here. All constants
 * come from Python in fx_params, so effects.py stays their one source. Bump CHORUS_FX_ABI (and ABI in
 * effects_native.py) whenever a struct below or the arithmetic changes: a stale build is then refused
 * and the Python chain used instead.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#define CHORUS_FX_ABI 3
#define FRAME_MAX 1024 /* samples per 5 ms frame: enough for 200 kHz */
#define RING_MAX 256   /* frames kept for the 400 ms blocks and the 60 ms pause window */

typedef struct {
    double alpha;
    int64_t blocks;
    double ungated;
    int64_t gated_blocks;
    double level;
} gated_level;

typedef struct {
    int64_t len;  /* items held, at most the ring's capacity */
    int64_t head; /* index of the oldest item */
    double v[RING_MAX];
} ring;

/* What the dynamics carry from frame to frame (effects.py: _DYNAMIC_STATE). */
typedef struct {
    double kw_zi[2][2];
    double pending[FRAME_MAX]; /* K-weighted samples of the frame in progress */
    int64_t frame_pos;         /* how many of them */
    ring powers, powers_out, recent;
    int64_t speech_frames;
    gated_level level_in, level_out;
    double makeup_db, envelope, style_env;
    double dyn_a, dyn_b, makeup_a, makeup_b; /* the ramps of the frame in progress */
} dyn_state;

/* What only a breathy voice carries (effects.py: _BREATHY_STATE). */
typedef struct {
    double ref_zi[2][2];
    double ref_pending[FRAME_MAX];
    ring powers_ref;
    gated_level match_ref, match_voice;
} breathy_state;

typedef struct {
    int64_t pos; /* position within the limiter block */
    double env;  /* envelope at the end of the previous block */
    double max;  /* running max of |y| r^-j within the block */
} limiter_state;

typedef struct {
    limiter_state lim;
    dyn_state dyn;
    breathy_state br;
} fx_state;

typedef struct {
    int64_t frame, hop, powers_cap, recent_cap, limiter_block;
    int32_t dynamics, boost, breathy, has_target;
    double style, target_power, volume;
    double a_attack, a_release, a_style_attack, a_style_release, a_makeup;
    double quiet_ratio, open_ratio, slope, half, knee, threshold_db;
    double style_min_db, style_max_db, match_low_db, match_high_db, agc_min_db, agc_max_db;
    double pause_low_db, pause_high_db, frame_restart, start_gate, restart, abs_gate, rel_gate;
    double ceiling;
    double kw_sos[2][6];
    const double *lim_pow, *lim_pow1, *lim_inv; /* r^j, r^(j+1), r^-j over one limiter block */
} fx_params;

int chorus_fx_abi(void) { return CHORUS_FX_ABI; }
#ifndef CHORUS_FX_SOURCE
#define CHORUS_FX_SOURCE "" /* built without setup.py: no record of the source */
#endif
const char *chorus_fx_source(void) { return CHORUS_FX_SOURCE; }
int64_t chorus_fx_frame_max(void) { return FRAME_MAX; }
int64_t chorus_fx_ring_max(void) { return RING_MAX; }
int64_t chorus_fx_state_size(void) { return (int64_t)sizeof(fx_state); }
int64_t chorus_fx_params_size(void) { return (int64_t)sizeof(fx_params); }

/*
 * Subnormal numbers: in the silence between sentences the filters' states decay through them, and
 * every operation on one costs about a hundred cycles. Inside these functions they are flushed to
 * zero (FTZ and DAZ in MXCSR; the caller's setting is restored). The output does not change: a state
 * under 2.2e-308 is absorbed exactly by the next sample's c0 * x (at least 3e-5 times the coefficient,
 * since x is an s16 sample), and squares of such states are already 0 in the frame energies.
 */
#if defined(__SSE__)
#define FLUSH_SUBNORMALS_BEGIN                    \
    const unsigned int saved_csr_ = _mm_getcsr(); \
    _mm_setcsr(saved_csr_ | 0x8040u);
#define FLUSH_SUBNORMALS_END _mm_setcsr(saved_csr_);
#else
#define FLUSH_SUBNORMALS_BEGIN
#define FLUSH_SUBNORMALS_END
#endif

/*
 * libm's pow, called as Python's float ** calls it. Through a volatile pointer so that no compiler
 * rewrites a call: GCC and Clang turn pow(x, 2.0) into x * x, which glibc's pow (under 0.52 ULP, not
 * correctly rounded) differs from for about one x in a thousand.
 */
static double libm_pow(double x, double y) {
    double (*volatile call)(double, double) = pow;
    return call(x, y);
}

/* Python's max(a, b) and min(a, b): the first argument unless the second is strictly beyond it. */
static inline double py_max(double a, double b) { return b > a ? b : a; }
static inline double py_min(double a, double b) { return b < a ? b : a; }

/*
 * scipy.signal.sosfilt (direct form II transposed, the operation order of scipy's _sosfilt), in place.
 * The state lives in locals while filtering (through a pointer that might alias x, every sample would
 * wait for a store and a load), so the cascade is written out for each count of sections up to four.
 */
#define SOS_STEP(k)                                            \
    do {                                                       \
        const double *c = sos + 6 * (k);                       \
        double x_new = c[0] * x_cur + z[k][0];                 \
        z[k][0] = c[1] * x_cur - c[4] * x_new + z[k][1];       \
        z[k][1] = c[2] * x_cur - c[5] * x_new;                 \
        x_cur = x_new;                                         \
    } while (0)

static inline void sosfilt_fixed(const double *restrict sos, const int sections, double *restrict zi,
                                 double *restrict x, int64_t n) {
    double z[4][2];
    for (int k = 0; k < sections; k++) z[k][0] = zi[2 * k], z[k][1] = zi[2 * k + 1];
    for (int64_t i = 0; i < n; i++) {
        double x_cur = x[i];
        SOS_STEP(0);
        if (sections > 1) SOS_STEP(1);
        if (sections > 2) SOS_STEP(2);
        if (sections > 3) SOS_STEP(3);
        x[i] = x_cur;
    }
    for (int k = 0; k < sections; k++) zi[2 * k] = z[k][0], zi[2 * k + 1] = z[k][1];
}

/* A cascade of any length, four sections at a time: each section sees the previous one's output sample
 * for sample whichever way the loops are nested, so the groups give the same values as one pass. */
static void sosfilt_any(const double *sos, int64_t sections, double *zi, double *x, int64_t n) {
    for (int64_t k = 0; k < sections; k += 4) {
        switch (sections - k) {
            case 1: sosfilt_fixed(sos + 6 * k, 1, zi + 2 * k, x, n); break;
            case 2: sosfilt_fixed(sos + 6 * k, 2, zi + 2 * k, x, n); break;
            case 3: sosfilt_fixed(sos + 6 * k, 3, zi + 2 * k, x, n); break;
            default: sosfilt_fixed(sos + 6 * k, 4, zi + 2 * k, x, n); break;
        }
    }
}

void chorus_fx_sosfilt(const double *sos, int64_t sections, double *zi, double *x, int64_t n) {
    FLUSH_SUBNORMALS_BEGIN
    sosfilt_any(sos, sections, zi, x, n);
    FLUSH_SUBNORMALS_END
}

/*
 * NumPy's pairwise_sum, as np.add.reduce forms a float64 sum, of three series at once: sq[i],
 * sq[i] * w1[i] and sq[i] * w2[i] (the frame's energy and its energy weighted by the ramp and its
 * square). Eight accumulators per series, combined as NumPy combines them; over 128 items the halves.
 */
static void pairwise_sum3(const double *restrict sq, const double *restrict w1, const double *restrict w2,
                          int64_t n, double out[3]) {
    if (n < 8) {
        double r0 = 0., r1 = 0., r2 = 0.;
        for (int64_t i = 0; i < n; i++) {
            r0 += sq[i];
            r1 += sq[i] * w1[i];
            r2 += sq[i] * w2[i];
        }
        out[0] = r0, out[1] = r1, out[2] = r2;
    } else if (n <= 128) {
        double a[8], b[8], c[8];
        int64_t i;
        for (int j = 0; j < 8; j++) a[j] = sq[j], b[j] = sq[j] * w1[j], c[j] = sq[j] * w2[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) {
                a[j] += sq[i + j];
                b[j] += sq[i + j] * w1[i + j];
                c[j] += sq[i + j] * w2[i + j];
            }
        double r0 = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
        double r1 = ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]));
        double r2 = ((c[0] + c[1]) + (c[2] + c[3])) + ((c[4] + c[5]) + (c[6] + c[7]));
        for (; i < n; i++) {
            r0 += sq[i];
            r1 += sq[i] * w1[i];
            r2 += sq[i] * w2[i];
        }
        out[0] = r0, out[1] = r1, out[2] = r2;
    } else {
        int64_t n2 = n / 2;
        n2 -= n2 % 8;
        double low[3], high[3];
        pairwise_sum3(sq, w1, w2, n2, low);
        pairwise_sum3(sq + n2, w1 + n2, w2 + n2, n - n2, high);
        for (int k = 0; k < 3; k++) out[k] = low[k] + high[k];
    }
}

/* The same for one series (sq[i]). */
static double pairwise_sum(const double *restrict a, int64_t n) {
    if (n < 8) {
        double res = 0.;
        for (int64_t i = 0; i < n; i++) res += a[i];
        return res;
    } else if (n <= 128) {
        double r[8];
        int64_t i;
        for (int j = 0; j < 8; j++) r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    int64_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

/* math.fsum: the exactly rounded sum (Shewchuk's partials with CPython's half-even fix-up). */
static double exact_sum(const double *items, int64_t count) {
    double p[128];
    int64_t n = 0;
    for (int64_t k = 0; k < count; k++) {
        double x = items[k];
        int64_t i = 0;
        for (int64_t j = 0; j < n; j++) {
            double y = p[j];
            if (fabs(x) < fabs(y)) {
                double t = x;
                x = y;
                y = t;
            }
            double hi = x + y;
            double yr = hi - x;
            double lo = y - yr;
            if (lo != 0.0) p[i++] = lo;
            x = hi;
        }
        n = i;
        if (x != 0.0 && n < 128) p[n++] = x; /* finite, non-overlapping partials: never near 128 */
    }
    double hi = 0.0, lo = 0.0;
    if (n > 0) {
        hi = p[--n];
        while (n > 0) {
            double x = hi;
            double y = p[--n];
            hi = x + y;
            double yr = hi - x;
            lo = y - yr;
            if (lo != 0.0) break;
        }
        if (n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0))) {
            double y = lo * 2.0;
            double x = hi + y;
            double yr = x - hi;
            if (y == yr) hi = x;
        }
    }
    return hi;
}

/* Index of the k-th oldest item (k < cap); no division, which costs more than the rest of a push. */
static inline int64_t ring_at(const ring *r, int64_t cap, int64_t k) {
    int64_t i = r->head + k;
    return i >= cap ? i - cap : i;
}

static void ring_push(ring *r, int64_t cap, double value) {
    if (r->len < cap) {
        r->v[ring_at(r, cap, r->len)] = value;
        r->len++;
    } else {
        r->v[r->head] = value;
        r->head = r->head + 1 == cap ? 0 : r->head + 1;
    }
}

/* math.fsum of the newest `count` items over `count`. */
static double ring_mean_newest(const ring *r, int64_t cap, int64_t count) {
    double items[RING_MAX];
    for (int64_t k = 0; k < count; k++) items[k] = r->v[ring_at(r, cap, r->len - 1 - k)];
    return exact_sum(items, count) / (double)count;
}

static double ring_max(const ring *r, int64_t cap) {
    double m = -INFINITY;
    for (int64_t k = 0; k < r->len; k++) m = py_max(m, r->v[ring_at(r, cap, k)]);
    return m;
}

static void level_reset(gated_level *g) {
    g->blocks = 0;
    g->ungated = 0.0;
    g->gated_blocks = 0;
    g->level = 0.0;
}

static void level_add(const fx_params *p, gated_level *g, double block) {
    if (block <= p->abs_gate) return;
    g->blocks += 1;
    g->ungated += py_max(g->alpha, 1.0 / (double)g->blocks) * (block - g->ungated);
    if (block <= g->ungated * p->rel_gate) return;
    g->gated_blocks += 1;
    g->level += py_max(g->alpha, 1.0 / (double)g->gated_blocks) * (block - g->level);
}

static void reset_levels(const fx_params *p, fx_state *s) {
    level_reset(&s->dyn.level_in);
    level_reset(&s->dyn.level_out);
    if (p->breathy) {
        level_reset(&s->br.match_ref);
        level_reset(&s->br.match_voice);
    }
}

/* EffectChain._update_level. */
static void update_level(const fx_params *p, fx_state *s) {
    dyn_state *d = &s->dyn;
    int64_t count = d->powers.len < d->speech_frames ? d->powers.len : d->speech_frames;
    double block = ring_mean_newest(&d->powers, p->powers_cap, count);
    double block_out = ring_mean_newest(&d->powers_out, p->powers_cap, count);
    if (d->level_in.blocks && block > d->level_in.ungated * p->restart) reset_levels(p, s);
    level_add(p, &d->level_in, block);
    level_add(p, &d->level_out, block_out);
    if (p->breathy) {
        if (s->br.powers_ref.len < count) count = s->br.powers_ref.len;
        level_add(p, &s->br.match_ref, ring_mean_newest(&s->br.powers_ref, p->powers_cap, count));
        level_add(p, &s->br.match_voice, ring_mean_newest(&d->powers, p->powers_cap, count));
    }
}

/* One iteration of EffectChain._decide's loop: frame energies in, the next frame's gains set. */
static void decide(const fx_params *p, fx_state *s, double s0, double s1, double s2, double s_ref) {
    dyn_state *d = &s->dyn;
    const double frame = (double)p->frame;
    const double power = s0 / frame;
    ring_push(&d->recent, p->recent_cap, power);
    const double loudest = ring_max(&d->recent, p->recent_cap);
    ring_push(&d->powers, p->powers_cap, power);
    const double a = d->dyn_a, b = d->dyn_b;
    if (a == 1.0 && b == 1.0) {
        ring_push(&d->powers_out, p->powers_cap, power);
    } else {
        double step = b - a;
        ring_push(&d->powers_out, p->powers_cap, (a * a * s0 + 2 * a * step * s1 + step * step * s2) / frame);
    }
    if (p->boost) {
        if (power > d->envelope)
            d->envelope += p->a_attack * (power - d->envelope);
        else
            d->envelope += p->a_release * (power - d->envelope);
    }
    if (p->style > 0) {
        if (power > d->style_env)
            d->style_env += p->a_style_attack * (power - d->style_env);
        else
            d->style_env += p->a_style_release * (power - d->style_env);
    }
    if (p->breathy) ring_push(&s->br.powers_ref, p->powers_cap, s_ref / frame);
    double level = d->level_in.level;
    if (level != 0.0 && power > level * p->frame_restart) {
        reset_levels(p, s);
        d->speech_frames = 0;
        if (d->makeup_db > 0.0) d->makeup_db = 0.0;
    }
    if (d->speech_frames || power > p->start_gate) {
        d->speech_frames += 1;
        if (d->speech_frames % p->hop == 0) update_level(p, s);
    }
    level = d->level_in.level;
    const double level_after = d->level_out.level;
    d->dyn_a = d->dyn_b;
    d->makeup_a = d->makeup_b;
    if (!(level != 0.0 && level_after != 0.0)) {
        d->dyn_b = 1.0;
        d->makeup_b = 1.0;
        return;
    }
    double dynamic_db = 0.0;
    if (p->boost) {
        double floor_ = level * 1e-10;
        double ratio = (floor_ > d->envelope ? floor_ : d->envelope) / level;
        if (ratio <= p->quiet_ratio) {
            dynamic_db += 0.0;
        } else {
            double over = 10 * log10(ratio) - p->threshold_db;
            if (over <= -p->half)
                dynamic_db += 0.0;
            else if (over < p->half)
                dynamic_db += -p->slope * libm_pow(over + p->half, 2.0) / (2 * p->knee);
            else
                dynamic_db += -p->slope * over;
        }
    }
    if (p->style > 0) {
        double floor_ = level * 1e-6;
        double swing = 10 * log10((floor_ > d->style_env ? floor_ : d->style_env) / level);
        dynamic_db += py_min(p->style_max_db, py_max(p->style_min_db, p->style * swing));
    }
    double target = p->has_target ? p->target_power : level;
    if (p->breathy && s->br.match_ref.level != 0.0 && s->br.match_voice.level != 0.0) {
        double match_db = 10 * log10(s->br.match_ref.level / s->br.match_voice.level);
        match_db = py_min(p->match_high_db, py_max(p->match_low_db, match_db));
        dynamic_db += match_db;
        if (!p->has_target) target = level * libm_pow(10.0, match_db / 10);
    }
    double wanted_db = py_min(p->agc_max_db, py_max(p->agc_min_db, 10 * log10(target / level_after)));
    if (wanted_db < d->makeup_db)
        d->makeup_db = wanted_db;
    else
        d->makeup_db += p->a_makeup * (wanted_db - d->makeup_db);
    double applied_db = d->makeup_db;
    if (applied_db > 0) {
        double floor_ = level * 1e-10;
        double ratio = (floor_ > loudest ? floor_ : loudest) / level;
        if (ratio < p->open_ratio) {
            double recent_db = 10 * log10(ratio);
            applied_db *= py_min(1.0, py_max(0.0, (recent_db - p->pause_low_db) / (p->pause_high_db - p->pause_low_db)));
        }
    }
    /* The Python loop skips pow() when a gain is unchanged or 0 dB; pow gives the same values. */
    d->dyn_b = dynamic_db == 0.0 ? 1.0 : libm_pow(10.0, dynamic_db / 20);
    d->makeup_b = applied_db == 0.0 ? 1.0 : libm_pow(10.0, applied_db / 20);
}

/* One biquad of the K-weighting, as chorus_fx_sosfilt computes it, for one sample; state in z0, z1. */
#define BIQUAD(c, z0, z1, in, out_)                  \
    do {                                             \
        double in_ = (in);                           \
        double y_ = (c)[0] * in_ + z0;               \
        z0 = (c)[1] * in_ - (c)[4] * y_ + z1;        \
        z1 = (c)[2] * in_ - (c)[5] * y_;             \
        out_ = y_;                                   \
    } while (0)

/*
 * np.rint for |v| < 2^51: adding and subtracting 1.5 * 2^52 leaves the nearest integer, ties to even,
 * in the default rounding mode (which NumPy's rint uses too); libm's nearbyint costs far more.
 */
static inline double round_even(double v) {
    const double magic = 6755399441055744.0;
    return (v + magic) - magic;
}

/* Squares of the frame's K-weighted samples into `sq`; returns nothing, the sums are taken by the caller. */
static void squares(const double *samples, int64_t n, double *sq) {
    for (int64_t i = 0; i < n; i++) sq[i] = samples[i] * samples[i];
}

/*
 * The chain after its voice filters, for n samples: frame-rate dynamics (when p->dynamics), volume, the
 * safety limiter and the conversion to s16. `y` is the voice (modified in place), `x` the input before the
 * voice filters (read only when breathy, to match loudness), `out` receives the s16 samples. `ramp` and
 * `ramp2` are the frame's ramp and its square (effects.py: _ramp, _ramp2).
 */
static inline void tail(const fx_params *restrict p, fx_state *restrict s, double *restrict y,
                        const double *restrict x, const double *restrict ramp, const double *restrict ramp2,
                        int16_t *restrict out, int64_t n, const int dynamics, const int breathy,
                        const int sections, const int16_t *restrict in16, const double *restrict sos,
                        double *restrict zi) {
    dyn_state *d = &s->dyn;
    limiter_state *lim = &s->lim;
    const int64_t frame = p->frame, block = p->limiter_block;
    const double volume = p->volume, ceiling = p->ceiling;
    const double *restrict kw0 = p->kw_sos[0], *restrict kw1 = p->kw_sos[1];
    const double *restrict lim_pow = p->lim_pow, *restrict lim_pow1 = p->lim_pow1, *restrict lim_inv = p->lim_inv;
    /* Everything carried from sample to sample in locals; decide() sees the ramps through d. */
    double k00 = d->kw_zi[0][0], k01 = d->kw_zi[0][1], k10 = d->kw_zi[1][0], k11 = d->kw_zi[1][1];
    double r00 = s->br.ref_zi[0][0], r01 = s->br.ref_zi[0][1], r10 = s->br.ref_zi[1][0], r11 = s->br.ref_zi[1][1];
    double dyn_a = d->dyn_a, dyn_b = d->dyn_b, makeup_a = d->makeup_a, makeup_b = d->makeup_b;
    int64_t j = d->frame_pos, lim_j = lim->pos;
    double lim_env = lim->env, lim_max = lim->max;
    double sq[FRAME_MAX], sq_ref[FRAME_MAX];
    /* Fused input (sections >= 0): the s16 samples, scaled and run through the voice filters here, as
     * EffectChain.process and chorus_fx_sosfilt do it, so that both filter chains overlap in one loop. */
    double z[4][2] = {{0.0}};
    for (int k = 0; k < sections; k++) z[k][0] = zi[2 * k], z[k][1] = zi[2 * k + 1];
    for (int64_t i = 0; i < n; i++) {
        double v;
        if (sections >= 0) {
            double x_cur = (double)in16[i] * (1.0 / 32768.0); /* exact, as np.multiply(x, 2**-15) */
            if (sections > 0) SOS_STEP(0);
            if (sections > 1) SOS_STEP(1);
            if (sections > 2) SOS_STEP(2);
            if (sections > 3) SOS_STEP(3);
            v = x_cur;
        } else {
            v = y[i];
        }
        if (dynamics) {
            /* K-weighted detector on the voice, and on the input for a breathy voice's loudness match. */
            double stage, det;
            BIQUAD(kw0, k00, k01, v, stage);
            BIQUAD(kw1, k10, k11, stage, det);
            d->pending[j] = det;
            if (breathy) {
                double ref;
                BIQUAD(kw0, r00, r01, x[i], stage);
                BIQUAD(kw1, r10, r11, stage, ref);
                s->br.ref_pending[j] = ref;
            }
            double dyn_gain = dyn_a + (dyn_b - dyn_a) * ramp[j];
            double makeup_gain = makeup_a + (makeup_b - makeup_a) * ramp[j];
            v = v * (dyn_gain * makeup_gain);
            if (++j == frame) {
                double sums[3];
                squares(d->pending, frame, sq);
                pairwise_sum3(sq, ramp, ramp2, frame, sums);
                double s_ref = 0.0;
                if (breathy) {
                    squares(s->br.ref_pending, frame, sq_ref);
                    s_ref = pairwise_sum(sq_ref, frame);
                }
                d->dyn_a = dyn_a, d->dyn_b = dyn_b, d->makeup_a = makeup_a, d->makeup_b = makeup_b;
                decide(p, s, sums[0], sums[1], sums[2], s_ref);
                dyn_a = d->dyn_a, dyn_b = d->dyn_b, makeup_a = d->makeup_a, makeup_b = d->makeup_b;
                j = 0;
            }
        }
        if (volume != 1.0) v = v * volume;
        /* Safety limiter, as the block formulas of EffectChain._limit give it sample by sample. */
        double running = py_max(lim_max, fabs(v) * lim_inv[lim_j]);
        double envelope = py_max(running * lim_pow[lim_j], lim_env * lim_pow1[lim_j]);
        envelope = py_max(envelope, ceiling);
        if (envelope != ceiling) v = v * (ceiling / envelope); /* else the gain is exactly 1 */
        if (++lim_j == block) {
            lim_env = envelope;
            lim_max = 0.0;
            lim_j = 0;
        } else {
            lim_max = running;
        }
        if (sections < 0) y[i] = v;
        double scaled = round_even(v * 32768.0); /* |v| <= the ceiling, under 1 */
        out[i] = (int16_t)(scaled < -32768.0 ? -32768.0 : (scaled > 32767.0 ? 32767.0 : scaled));
    }
    d->kw_zi[0][0] = k00, d->kw_zi[0][1] = k01, d->kw_zi[1][0] = k10, d->kw_zi[1][1] = k11;
    s->br.ref_zi[0][0] = r00, s->br.ref_zi[0][1] = r01, s->br.ref_zi[1][0] = r10, s->br.ref_zi[1][1] = r11;
    d->dyn_a = dyn_a, d->dyn_b = dyn_b, d->makeup_a = makeup_a, d->makeup_b = makeup_b;
    if (dynamics) d->frame_pos = j;
    lim->pos = lim_j, lim->env = lim_env, lim->max = lim_max;
    for (int k = 0; k < sections; k++) zi[2 * k] = z[k][0], zi[2 * k + 1] = z[k][1];
}

/* The loop above written out for each combination of stages, so that each keeps its state in registers. */
void chorus_fx_tail(const fx_params *p, fx_state *s, double *y, const double *x, const double *ramp,
                    const double *ramp2, int16_t *out, int64_t n) {
    FLUSH_SUBNORMALS_BEGIN
    if (!p->dynamics)
        tail(p, s, y, x, ramp, ramp2, out, n, 0, 0, -1, NULL, NULL, NULL);
    else if (!p->breathy)
        tail(p, s, y, x, ramp, ramp2, out, n, 1, 0, -1, NULL, NULL, NULL);
    else
        tail(p, s, y, x, ramp, ramp2, out, n, 1, 1, -1, NULL, NULL, NULL);
    FLUSH_SUBNORMALS_END
}

/*
 * The whole chain for a voice without breath, straight from s16: the scaling, the voice filters (`sos`,
 * `sections` of them, state `zi`, as chorus_fx_sosfilt) and the tail, in one pass over the samples. The
 * same values as chorus_fx_sosfilt followed by chorus_fx_tail; the filters' latency chains overlap with
 * the detector's instead of running one after the other. Returns 0, or -1 (nothing done) for a breathy
 * voice or more than four sections, which go the two-call way.
 */
#define RUN_CASE(dyn, k) tail(p, s, NULL, NULL, ramp, ramp2, out, n, dyn, 0, k, in, sos, zi)
#define RUN_SECTIONS(dyn)                 \
    switch (sections) {                   \
        case 0: RUN_CASE(dyn, 0); break;  \
        case 1: RUN_CASE(dyn, 1); break;  \
        case 2: RUN_CASE(dyn, 2); break;  \
        case 3: RUN_CASE(dyn, 3); break;  \
        default: RUN_CASE(dyn, 4); break; \
    }
int chorus_fx_run(const fx_params *p, fx_state *s, const double *sos, int64_t sections, double *zi,
                  const int16_t *in, const double *ramp, const double *ramp2, int16_t *out, int64_t n) {
    if (p->breathy || sections < 0 || sections > 4) return -1;
    FLUSH_SUBNORMALS_BEGIN
    if (p->dynamics)
        RUN_SECTIONS(1)
    else
        RUN_SECTIONS(0)
    FLUSH_SUBNORMALS_END
    return 0;
}
