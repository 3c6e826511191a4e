/*
 * tc_internal.h - the layer API, JSON helpers, errors and allocation, shared by engine/, layers/
 * and tests/. Not installed; users include only tinycnn.h.
 */
#ifndef TC_INTERNAL_H
#define TC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "tinycnn.h"

/* All allocation goes through these so that tests can route them to cmocka's checked allocator. */
#ifdef UNIT_TESTING
void *_test_malloc(size_t size, const char *file, int line);
void *_test_calloc(size_t n, size_t size, const char *file, int line);
void *_test_realloc(void *ptr, size_t size, const char *file, int line);
void _test_free(void *ptr, const char *file, int line);
#define TC_MALLOC(n) _test_malloc((n), __FILE__, __LINE__)
#define TC_CALLOC(n, s) _test_calloc((n), (s), __FILE__, __LINE__)
#define TC_REALLOC(p, n) _test_realloc((p), (n), __FILE__, __LINE__)
#define TC_FREE(p) _test_free((p), __FILE__, __LINE__)
#else
#include <stdlib.h>
#define TC_MALLOC(n) malloc(n)
#define TC_CALLOC(n, s) calloc((n), (s))
#define TC_REALLOC(p, n) realloc((p), (n))
#define TC_FREE(p) free(p)
#endif

#if defined(__GNUC__)
#define TC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TC_PRINTF(f, a)
#endif

/* ---- errors (engine/error.c) ---- */

/* Records an error unless one is already recorded (the first error wins). err may be NULL.
 * path may be NULL. Returns code, so callers can `return tc_error_set(...)`. */
tc_status tc_error_set(tc_error *err, tc_status code, const char *path, const char *fmt, ...)
    TC_PRINTF(4, 5);

/* Resets err to "no error" (err may be NULL). */
void tc_error_clear(tc_error *err);

/* Sets err->file if an error is recorded and no file is named yet. */
void tc_error_set_file(tc_error *err, const char *file);

/* Writes "base.key" (or "key" when base is empty) into out. */
void tc_path_join(char *out, size_t out_len, const char *base, const char *key);
/* Writes "base[i]" into out. */
void tc_path_index(char *out, size_t out_len, const char *base, int i);

/* ---- checked size arithmetic (engine/tensor.c) ---- */

/* *out = a * b; returns false on overflow. */
bool tc_mul_size(size_t a, size_t b, size_t *out);
/* *out = a + b; returns false on overflow. */
bool tc_add_size(size_t a, size_t b, size_t *out);
/* Element count of shape, or false if a dim < 1, ndim out of range, or the product exceeds limit. */
bool tc_shape_numel(const tc_shape *shape, size_t limit, size_t *out);
/* 1 if equal ranks and dims. */
bool tc_shape_equal(const tc_shape *a, const tc_shape *b);
/* Makes a shape from a list of dims (n <= TC_MAX_DIMS). */
tc_shape tc_shape_make(int ndim, const int32_t *dim);

/* ---- JSON helpers (engine/json.c): the only code that reads cJSON values ---- */

typedef enum tc_presence { TC_OPTIONAL = 0, TC_REQUIRED = 1 } tc_presence;

/* Each helper reads obj[key]. If the key is absent and optional, *out is left untouched (the
 * caller sets the documented default first) and TC_OK is returned. path is the JSON path of obj;
 * errors name path.key. */
tc_status tc_json_int(const cJSON *obj, const char *key, const char *path, int64_t lo, int64_t hi,
                      tc_presence presence, int32_t *out, tc_error *err);
tc_status tc_json_float(const cJSON *obj, const char *key, const char *path, double lo, double hi,
                        tc_presence presence, float *out, tc_error *err);
tc_status tc_json_bool(const cJSON *obj, const char *key, const char *path, tc_presence presence,
                       bool *out, tc_error *err);
/* A string that must be one of choices[0..n_choices); *out gets its index. */
tc_status tc_json_enum(const cJSON *obj, const char *key, const char *path,
                       const char *const *choices, int n_choices, tc_presence presence, int *out,
                       tc_error *err);
/* A string of at most out_len - 1 bytes, copied into out. */
tc_status tc_json_string(const cJSON *obj, const char *key, const char *path, tc_presence presence,
                         char *out, size_t out_len, tc_error *err);
/* An integer, or an array of min_n..max_n integers, each in [lo, hi]. A single integer gives
 * *n_out = 1. */
tc_status tc_json_int_list(const cJSON *obj, const char *key, const char *path, int min_n,
                           int max_n, int64_t lo, int64_t hi, tc_presence presence, int32_t *out,
                           int *n_out, tc_error *err);
/* Like tc_json_int_list for floats (finite values in [lo, hi]). */
tc_status tc_json_float_list(const cJSON *obj, const char *key, const char *path, int min_n,
                             int max_n, double lo, double hi, tc_presence presence, float *out,
                             int *n_out, tc_error *err);
/* Fails with TC_ERR_SCHEMA naming the first key of obj not in allowed (NULL-terminated). */
tc_status tc_json_check_keys(const cJSON *obj, const char *path, const char *const *allowed,
                             tc_error *err);
/* True if obj has key. */
bool tc_json_has(const cJSON *obj, const char *key);
/* Child obj[key] or NULL. */
const cJSON *tc_json_get(const cJSON *obj, const char *key);
/* Describes a JSON value for messages ("a string", "the number 3", "an array of 2"). */
void tc_json_describe(const cJSON *item, char *buf, size_t buf_len);

/* ---- weights ---- */

#define TC_MAX_WEIGHTS 4 /* weight blobs one layer may have (batchnorm has 4) */

/* A weight blob as declared in the JSON, then resolved to floats by the loader. */
typedef struct tc_weight {
    char key[16];          /* JSON field name, e.g. "weight" */
    bool is_inline;        /* inline array (true) or {offset, shape} into weights_file */
    const cJSON *json;     /* inline: the array (valid while loading only) */
    uint64_t offset;       /* file form: byte offset into weights_file */
    tc_shape shape;        /* declared shape: nested array dims, or "shape"; flat = [numel] */
    size_t numel;          /* element count of shape */
    float *data;           /* after loading: points into the model's weight block */
} tc_weight;

/* ---- layers ---- */

#define TC_MAX_INPUTS 64      /* inputs one layer may name */
#define TC_MAX_NAME 64        /* bytes of a layer name, including the terminator */
#define TC_INPUT_MODEL (-1)   /* producer index that means "the model input" */

typedef struct tc_layer_ops tc_layer_ops;

/* What a layer that can absorb the batchnorm and activation after it exposes (engine/fuse.c). */
typedef struct tc_fuse_target {
    int *weight_slot; /* [channels, ...]: row c is scaled by channel c's factor */
    int *bias_slot;   /* [channels], or -1: fusion then adds one */
    struct tc_act *act; /* the layer's activation; must be identity to absorb anything */
} tc_fuse_target;

/* Engine-owned description of one layer: only what every layer shares. */
typedef struct tc_layer {
    const tc_layer_ops *ops; /* the layer type */
    char name[TC_MAX_NAME];  /* unique name ("<type>_<index>" if the JSON gives none) */
    char where[TC_MAX_NAME + 24]; /* place for errors: `layers[2] "conv2"` */
    int index;               /* position in "layers" */
    int n_inputs;            /* number of producers */
    int inputs[TC_MAX_INPUTS]; /* producer layer indices, TC_INPUT_MODEL for the model input */
    tc_shape out_shape;      /* per sample, set by infer_shape */
    uint64_t macs;           /* multiply-accumulates per sample, set by infer_shape (0: none) */
    int n_weights;           /* used entries of weights[] */
    tc_weight weights[TC_MAX_WEIGHTS];
    void *params;            /* ops->params_size bytes, zeroed, owned by the engine */
    /* load-time fusion (engine/fuse.c) */
    int absorbed_by;         /* 1 + index of the conv2d/dense that computes this layer, 0 if
                              * none; an absorbed layer is not run, its output aliased */
    int fused_affine;        /* 1 + index of the batchnorm this layer absorbed, 0 if none */
    float *fused_weights;    /* the folded weight and bias, owned; NULL if none */
    bool fused_bias;         /* the last weight is a bias fusion added (not in the file) */
    int fused_pool;          /* 1 + index of the max pool this layer computes, 0 if none; its
                              * buffer then holds the pooled output */
} tc_layer;

/* The data of a tensor during a run: `batch` samples of `shape` in a row. */
typedef struct tc_tensor {
    tc_shape shape; /* per sample */
    float *data;    /* borrowed: points into the workspace arena */
} tc_tensor;

enum {
    TC_LAYER_INPLACE_OK = 1u << 0, /* output may share its first input's buffer */
};

struct tc_layer_ops {
    const char *type;              /* JSON "type" value, e.g. "conv2d" */
    const char *const *keys;       /* NULL-terminated layer-specific JSON fields */
    size_t params_size;            /* engine allocates (zeroed) and frees this */
    int min_inputs;                /* inputs the layer takes: min_inputs..max_inputs */
    int max_inputs;
    /* Reads the layer's own fields from obj (path is e.g. "layers[3]"). May declare weights with
     * tc_layer_add_weight. No I/O, no shape checks. */
    tc_status (*parse)(tc_layer *l, const cJSON *obj, const char *path, tc_error *err);
    /* Checks the input shapes, sets *out (and l->macs), checks weight sizes with
     * tc_layer_expect_weight. The only place shapes are checked. Errors use l->where. */
    tc_status (*infer_shape)(tc_layer *l, const tc_shape *in, int n_in, tc_shape *out,
                             tc_error *err);
    /* Scratch bytes forward needs, independent of the batch (may be NULL: none). */
    size_t (*scratch_bytes)(const tc_layer *l);
    /* Computes out from in for `batch` samples. Allocates nothing; all checks have passed. */
    tc_status (*forward)(const tc_layer *l, const tc_tensor *in, int n_in, tc_tensor *out,
                         int batch, void *scratch);
    /* Frees what parse allocated beyond params_size (may be NULL). */
    void (*destroy)(tc_layer *l);
    unsigned flags; /* TC_LAYER_* */
    /* Checks weight values once they are loaded, before any run (may be NULL). Errors use
     * l->where and TC_ERR_WEIGHTS. */
    tc_status (*check_weights)(const tc_layer *l, tc_error *err);
    /* Prepares for fast runs once the weights are loaded and checked (may be NULL): e.g. packs
     * weights into the layout its kernels read. What it allocates, the layer owns and frees in
     * destroy (which may then run on a layer whose prepare never ran). Errors: TC_ERR_NOMEM. */
    tc_status (*prepare)(tc_layer *l, tc_error *err);
    /* Load-time fusion (engine/fuse.c); each may be NULL. fuse_target: the layer (conv2d, dense)
     * can compute the batchnorm and activation that follow it. channel_affine: the layer (a
     * batchnorm) is y = x * mul + add per channel c (dim 0), mul and add in double. fusable_act:
     * the layer is an activation that fuse_target layers can apply in its place. */
    bool (*fuse_target)(tc_layer *l, tc_fuse_target *t);
    void (*channel_affine)(const tc_layer *l, size_t c, double *mul, double *add);
    bool (*fusable_act)(const tc_layer *l, struct tc_act *act);
    /* is_max2x2: the layer is a 2x2 stride-2 max pool whose windows all lie inside input `in`.
     * absorb_max2x2: the layer can pool its output so (and now will; false: it cannot). */
    bool (*is_max2x2)(const tc_layer *l, const tc_shape *in);
    bool (*absorb_max2x2)(tc_layer *l);
};

/* Declares weight blob obj[key]: either an inline (flat or nested) array of numbers or
 * {"offset": bytes, "shape": [...]}. *slot gets its index in l->weights, or -1 if the key is
 * absent and optional. */
tc_status tc_layer_add_weight(tc_layer *l, const cJSON *obj, const char *key, const char *path,
                              tc_presence presence, int *slot, tc_error *err);

/* In infer_shape: checks that weight `slot` fits `expected`: the element counts must be equal,
 * and a declared multi-dimensional shape must equal `expected` exactly. */
tc_status tc_layer_expect_weight(const tc_layer *l, int slot, const tc_shape *expected,
                                 tc_error *err);

/* The floats of weight `slot` (NULL if slot < 0). */
static inline const float *tc_layer_weight_data(const tc_layer *l, int slot)
{
    return slot < 0 ? NULL : l->weights[slot].data;
}

/* maxpool2d's rule (layers/pool.c, and the pools fused into conv2d): the larger of a and b, or
 * b if it is a NaN (so a NaN, once taken, stays). */
static inline float tc_max_nan(float a, float b)
{
    return (b > a || b != b) ? b : a;
}
/* tc_max_nan on 16 lanes of __m512 (expand only where immintrin.h is included, AVX-512 code). */
#define TC_MAX_NAN16(m, b)                                                                         \
    _mm512_mask_mov_ps((m),                                                                        \
                       _mm512_cmp_ps_mask((b), (m), _CMP_GT_OQ) |                                  \
                           _mm512_cmp_ps_mask((b), (b), _CMP_UNORD_Q),                             \
                       (b))
/* The 2x2 window rule on 16 windows: tc_max_nan from -infinity over the taps tl, tr, bl, br (in
 * maxpool2d's order), arguments being plain variables. Without NaNs, that is the first largest
 * tap, which pairwise max_ps(later, earlier) gives in 3 operations (it keeps the earlier one on
 * ties, as tc_max_nan does with +0 and -0); a NaN anywhere takes the exact chain. */
#define TC_MAX4_NAN16(tl, tr, bl, br)                                                              \
    (_mm512_kortestz(_mm512_cmp_ps_mask((tl), (tr), _CMP_UNORD_Q),                                 \
                     _mm512_cmp_ps_mask((bl), (br), _CMP_UNORD_Q))                                 \
         ? _mm512_max_ps(_mm512_max_ps((br), (bl)), _mm512_max_ps((tr), (tl)))                     \
         : TC_MAX_NAN16(TC_MAX_NAN16(TC_MAX_NAN16(TC_MAX_NAN16(_mm512_set1_ps(-INFINITY), (tl)),   \
                                                  (tr)),                                           \
                                     (bl)),                                                        \
                        (br)))

/* `rows` output rows (ow floats each, contiguous in y) of a 2x2 stride-2 max pool, output row i
 * from input rows 2i and 2i + 1 of x (w floats apart), with tc_max_nan, taps in maxpool2d's
 * order (layers/pool.c; conv2d's fused pooling uses it). */
void tc_max2x2_rows(const float *x, size_t w, size_t rows, float *y, size_t ow);

/* ---- activation functions, shared by the activation layer and fused activations ---- */

typedef enum tc_act_kind {
    TC_ACT_IDENTITY = 0,
    TC_ACT_RELU,
    TC_ACT_RELU6,
    TC_ACT_LEAKY_RELU,
    TC_ACT_ELU,
    TC_ACT_SELU,
    TC_ACT_PRELU,
    TC_ACT_SIGMOID,
    TC_ACT_HARD_SIGMOID,
    TC_ACT_TANH,
    TC_ACT_SOFTPLUS,
    TC_ACT_SOFTSIGN,
    TC_ACT_GELU,
    TC_ACT_SILU,
    TC_ACT_HARD_SWISH,
    TC_ACT_CLIP,
    TC_ACT_COUNT
} tc_act_kind;

/* One activation function with its parameters (PReLU's slopes live in a layer weight). */
typedef struct tc_act {
    tc_act_kind kind;
    float alpha;        /* leaky_relu, elu, hard_sigmoid */
    float beta;         /* hard_sigmoid */
    float min, max;     /* clip (defaults -inf, +inf) */
    bool gelu_tanh;     /* gelu: tanh approximation instead of erf */
} tc_act;

/* Parses an activation: `function` plus its parameters from obj. With fused = true (the
 * "activation" field of conv2d/dense) prelu is refused. */
tc_status tc_act_parse(tc_act *act, const cJSON *obj, const char *path, bool fused,
                       tc_error *err);
/* Parses the "activation" field of conv2d/dense: absent (identity), a function name, or an
 * object {"function": ..., params}. */
tc_status tc_act_parse_fused(tc_act *act, const cJSON *layer_obj, const char *path,
                             tc_error *err);
/* Applies act in place to n values (not for prelu). */
void tc_act_apply(const tc_act *act, float *x, size_t n);

/* ---- gzip (engine/image.c, which holds the stb zlib decoder) ---- */

/* Inflates a gzip file held in memory into a new buffer (caller frees with TC_FREE). Refuses
 * output larger than max_out before allocating; the data must inflate to exactly the size the
 * trailer declares. */
tc_status tc_gunzip(const uint8_t *data, size_t len, size_t max_out, uint8_t **out,
                    size_t *out_len, tc_error *err);

/* ---- registry (engine/registry.c) ---- */

/* The ops for a JSON "type", or NULL. */
const tc_layer_ops *tc_layer_ops_find(const char *type);
/* The registered ops, for tests. */
const tc_layer_ops *const *tc_layer_ops_all(int *n);

#endif /* TC_INTERNAL_H */
