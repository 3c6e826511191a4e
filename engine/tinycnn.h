/*
 * tinycnn.h - a tiny CNN inference engine. This is the only public header.
 *
 * tinycnn loads a model described in JSON (format version 1, see docs/model-format.md), checks
 * it completely, infers every shape and plans all activation memory once; a run then does
 * arithmetic only: no allocation, no parsing, no printing.
 *
 * Worked example (error handling shortened):
 *
 *     tc_error err;
 *     tc_model *model = NULL;
 *     tc_workspace *ws = NULL;
 *     if (tc_model_load("model.json", NULL, &model, &err) != TC_OK) { report(&err); return 1; }
 *     tc_workspace_create(model, 1, &ws, &err);                 // room for batch 1
 *     float x[28 * 28] = {0};                                     // tc_model_input_numel()
 *     tc_model_run(model, ws, x, 1, &err);
 *     const float *probs = tc_workspace_output(ws, 0);            // borrowed
 *     for (size_t i = 0; i < tc_model_output_numel(model, 0); i++) printf("%zu %f\n", i, probs[i]);
 *     tc_workspace_free(ws);
 *     tc_model_free(model);
 *
 * Standard parameters
 *   err     out, may be NULL. On failure it holds the code, the place (file and JSON path, e.g.
 *           "layers[3].kernel_size") and a sentence giving the expected and the actual value.
 *           The first error wins: later failures do not overwrite it.
 *   model   in. A loaded model; read-only after tc_model_load.
 *   ws      in/out. A workspace: the activation arena of one thread.
 *   batch   in. Number of samples N >= 1; tensors are N x (per-sample shape), row-major.
 *
 * Thread safety: a loaded model is read-only. Any number of threads may run it at once, each
 * with its own workspace. A workspace may also run a batch on its own pool of threads
 * (tc_workspace_set_threads); one run at a time per workspace. The library has no global state.
 *
 * Ownership: whoever allocates frees. tc_model_load allocates everything a model needs and
 * tc_model_free releases it; pointers returned by getters are borrowed and stay valid until the
 * model (or, for outputs, the next run on the same workspace / tc_workspace_free) goes away.
 */
#ifndef TC_H
#define TC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TC_VERSION "0.1.0"

#if defined(__GNUC__)
#define TC_API __attribute__((visibility("default")))
#else
#define TC_API
#endif

#define TC_MAX_DIMS 4 /* per-sample rank; the batch dimension comes on top */

typedef enum tc_status {
    TC_OK = 0,
    TC_ERR_IO,            /* a file could not be opened or read */
    TC_ERR_JSON,          /* not well-formed JSON */
    TC_ERR_SCHEMA,        /* missing, unknown or wrongly typed field */
    TC_ERR_RANGE,         /* a value outside its documented range */
    TC_ERR_UNKNOWN_LAYER, /* "type" names no registered layer */
    TC_ERR_GRAPH,         /* unknown or duplicate names, cycles, bad inputs/outputs */
    TC_ERR_SHAPE,         /* shapes that do not fit together */
    TC_ERR_WEIGHTS,       /* weight sizes, offsets or files that do not match */
    TC_ERR_LIMIT,         /* a resource limit (tc_limits) would be exceeded */
    TC_ERR_NOMEM,         /* allocation failed */
    TC_ERR_ARGUMENT,      /* a caller passed an invalid argument */
    TC_ERR_INTERNAL       /* a bug in tinycnn */
} tc_status;

typedef struct tc_error {
    tc_status code;     /* TC_OK when nothing failed */
    char file[256];     /* file the error is about, "" if none */
    char path[160];     /* place in that file, e.g. "layers[2].stride" or "layers[2] \"conv2\"" */
    char message[320];  /* what was expected and what was found */
} tc_error;

/* Per-sample shape, row-major. Images are {C, H, W}. */
typedef struct tc_shape {
    int32_t ndim;             /* 1..TC_MAX_DIMS */
    int32_t dim[TC_MAX_DIMS]; /* each >= 1 */
} tc_shape;

/* Formats a shape as "[1, 28, 28]" into buf (buf_len >= 1); returns buf. */
TC_API char *tc_shape_str(const tc_shape *shape, char *buf, size_t buf_len);

/* Resource limits checked while loading, before anything is allocated. */
typedef struct tc_limits {
    size_t max_json_bytes;      /* size of the model JSON file */
    int32_t max_layers;         /* entries in "layers" */
    size_t max_tensor_elements; /* elements of one per-sample tensor or weight */
    size_t max_arena_bytes;     /* activation arena of one workspace (all of a batch) */
    size_t max_weight_bytes;    /* all weights together, and the weights file's length */
    int32_t max_batch;          /* largest batch a workspace may be created for */
} tc_limits;

/* Fills *limits with the defaults: 64 MiB JSON, 4096 layers, 2^28 elements per tensor,
 * 2 GiB arena, 2 GiB weights, batch 4096. */
TC_API void tc_limits_default(tc_limits *limits);

/* Stable upper-case name of a status code, e.g. "TC_ERR_SHAPE". Never NULL. */
TC_API const char *tc_status_str(tc_status code);

/* Formats err as one line "file: path: message" (parts that are empty are left out).
 * Returns buf. buf_len >= 1. */
TC_API char *tc_error_format(const tc_error *err, char *buf, size_t buf_len);

typedef struct tc_model tc_model;
typedef struct tc_workspace tc_workspace;

/*
 * Loads and checks the model at json_path (and its weights_file, resolved relative to it).
 * @param json_path in   path of the model JSON
 * @param limits    in   NULL for tc_limits_default()
 * @param out       out  the model on success (caller frees with tc_model_free), NULL on failure
 * @return TC_OK or the first error: IO, JSON, SCHEMA, RANGE, UNKNOWN_LAYER, GRAPH, SHAPE,
 *         WEIGHTS, LIMIT, NOMEM.
 */
TC_API tc_status tc_model_load(const char *json_path, const tc_limits *limits, tc_model **out,
                               tc_error *err);

/*
 * As tc_model_load, from JSON text in memory. base_dir is where "weights_file" is looked up
 * (NULL: weights_file is not allowed); name is used in error messages (may be NULL).
 */
TC_API tc_status tc_model_load_buffer(const char *json, size_t json_len, const char *base_dir,
                                      const char *name, const tc_limits *limits, tc_model **out,
                                      tc_error *err);

/* Frees everything the model owns. NULL is a no-op. */
TC_API void tc_model_free(tc_model *model);

/* The model's "name" ("" if none). Borrowed. */
TC_API const char *tc_model_name(const tc_model *model);

/* Per-sample input shape and its element count. */
TC_API tc_shape tc_model_input_shape(const tc_model *model);
TC_API size_t tc_model_input_numel(const tc_model *model);

/* Number of model outputs (>= 1) and the per-sample shape/numel of output k. */
TC_API int tc_model_num_outputs(const tc_model *model);
TC_API tc_shape tc_model_output_shape(const tc_model *model, int k);
TC_API size_t tc_model_output_numel(const tc_model *model, int k);

/* Number of entries in "labels" (0 if none) and label i (NULL if out of range). Borrowed. */
TC_API int tc_model_num_labels(const tc_model *model);
TC_API const char *tc_model_label(const tc_model *model, int i);

/* Number of classes of output 0: its element count. */
TC_API int tc_model_num_classes(const tc_model *model);

/* 1 if output k is produced by a softmax layer (a probability distribution), else 0. */
TC_API int tc_model_output_is_probability(const tc_model *model, int k);

/* How images are turned into the input tensor (the model's "preprocess"). */
typedef enum tc_resize_mode {
    TC_RESIZE_STRETCH = 0,
    TC_RESIZE_LETTERBOX,
    TC_RESIZE_CENTER_CROP
} tc_resize_mode;

#define TC_MAX_CHANNELS 4
typedef struct tc_preprocess {
    float scale;                 /* multiplies each 0..255 value; default 1 */
    int32_t n_mean;              /* entries in mean/std: 0, 1 (all channels) or one per channel */
    float mean[TC_MAX_CHANNELS]; /* subtracted after scaling; default 0 */
    float std[TC_MAX_CHANNELS];  /* divides after subtracting; default 1 */
    int invert;                  /* 1: v = 255 - v before scaling */
    float background;            /* 0..255, what transparent pixels are composited over */
    tc_resize_mode resize;       /* how an image of another size is fitted */
} tc_preprocess;

/* The model's preprocessing, defaults filled in. Borrowed. */
TC_API const tc_preprocess *tc_model_preprocess(const tc_model *model);

/* Description of one layer, for summaries. */
typedef struct tc_layer_info {
    const char *name;  /* borrowed */
    const char *type;  /* borrowed, e.g. "conv2d" */
    tc_shape out_shape; /* per sample */
    size_t n_params;   /* weight elements */
    uint64_t macs;     /* multiply-accumulates per sample (0 where none) */
    /* the layer that computes this one as part of itself (a batchnorm or activation after a
     * conv2d or dense, fused at load), or NULL; borrowed */
    const char *fused_into;
} tc_layer_info;

TC_API int tc_model_num_layers(const tc_model *model);
/* Fills *info for layer i (0-based, in file order). Returns TC_ERR_ARGUMENT if i is out of range. */
TC_API tc_status tc_model_layer_info(const tc_model *model, int i, tc_layer_info *info);

/* Bytes of activation memory one sample needs (the planned arena), and bytes of all weights. */
TC_API size_t tc_model_arena_bytes_per_sample(const tc_model *model);
TC_API size_t tc_model_weight_bytes(const tc_model *model);
/* Bytes the activations would take with no buffer reuse (for comparison with the plan). */
TC_API size_t tc_model_unplanned_bytes_per_sample(const tc_model *model);

/*
 * Creates a workspace able to run batches of up to max_batch samples.
 * @param out out  caller frees with tc_workspace_free
 * @return TC_OK, TC_ERR_ARGUMENT (max_batch < 1), TC_ERR_LIMIT, TC_ERR_NOMEM
 */
TC_API tc_status tc_workspace_create(const tc_model *model, int max_batch, tc_workspace **out,
                                     tc_error *err);
TC_API void tc_workspace_free(tc_workspace *ws);

/*
 * Runs a forward pass on `batch` samples. input holds batch * tc_model_input_numel() floats
 * (caller-owned, not modified). Allocates nothing.
 * @return TC_OK or TC_ERR_ARGUMENT (batch outside 1..max_batch, NULL pointers, a workspace of
 *         another model).
 */
TC_API tc_status tc_model_run(const tc_model *model, tc_workspace *ws, const float *input,
                              int batch, tc_error *err);

/* As tc_model_run; with check_finite, stops at the first layer whose output holds a NaN or an
 * infinity and returns TC_ERR_RANGE naming that layer, the sample and the index. */
TC_API tc_status tc_model_run_checked(const tc_model *model, tc_workspace *ws, const float *input,
                                      int batch, bool check_finite, tc_error *err);

/*
 * Makes runs on ws use n_threads threads (1..256; a new workspace has 1): a batch is split
 * into one share of samples per thread (a batch of 1 runs on the calling thread). Starts a
 * persistent pool of n_threads - 1 workers and gives each thread its own arena for
 * ceil(max_batch / n_threads) samples; runs create no thread and allocate nothing. Results are
 * identical for every thread count. Outputs of earlier runs are dropped. One run at a time per
 * workspace (as always).
 * @return TC_OK, TC_ERR_ARGUMENT, TC_ERR_LIMIT, TC_ERR_NOMEM (ws is then back to 1 thread)
 */
TC_API tc_status tc_workspace_set_threads(tc_workspace *ws, int n_threads, tc_error *err);
/* Threads runs on ws use (0 if ws is NULL). */
TC_API int tc_workspace_threads(const tc_workspace *ws);

/* Called after layer `layer` (index as in tc_model_layer_info) of a run has finished. */
typedef void (*tc_layer_observer)(void *user, int layer);

/* As tc_model_run, calling after_layer(user, i) after each layer, for per-layer profiles. Runs
 * on the calling thread only, whatever tc_workspace_set_threads said. */
TC_API tc_status tc_model_run_observed(const tc_model *model, tc_workspace *ws,
                                       const float *input, int batch,
                                       tc_layer_observer after_layer, void *user, tc_error *err);

/* Output k of the last run: batch * tc_model_output_numel(k) floats. Borrowed until the next
 * run on ws or tc_workspace_free. NULL if k is out of range or nothing ran yet. */
TC_API const float *tc_workspace_output(const tc_workspace *ws, int k);

/* A float32 array read from or written to a .npy file (C order). */
typedef struct tc_array {
    int32_t ndim;              /* 0..TC_MAX_DIMS + 1 */
    int64_t dim[TC_MAX_DIMS + 1];
    float *data;               /* owned; free with tc_array_free */
    size_t numel;
} tc_array;

/* Reads a float32 (little-endian '<f4', C order) .npy file. Other dtypes are refused. */
TC_API tc_status tc_npy_read(const char *path, tc_array *out, tc_error *err);
/* Reads a .npy from memory (same rules). */
TC_API tc_status tc_npy_read_buffer(const void *buf, size_t len, tc_array *out, tc_error *err);
/* Writes data with the given shape as a float32 .npy file. */
TC_API tc_status tc_npy_write(const char *path, const float *data, const int64_t *dim, int ndim,
                              tc_error *err);
/* Frees arr->data and zeroes *arr. NULL is a no-op. */
TC_API void tc_array_free(tc_array *arr);


/* ---- images (engine/image.c, engine/image_preprocess.c) ---- */

/* A decoded image: 8-bit samples, rows top to bottom, channels interleaved. */
typedef struct tc_image {
    int32_t width;
    int32_t height;
    int32_t channels; /* 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA */
    uint8_t *pixels;  /* width * height * channels bytes, owned; free with tc_image_free */
} tc_image;

#define TC_DEFAULT_MAX_PIXELS ((size_t)1 << 24) /* 16 megapixels */
#define TC_MAX_IMAGE_FILE_BYTES ((size_t)256 << 20)

/*
 * Decodes a PNG (8/16-bit; gray, gray+alpha, RGB, RGBA, palette), JPEG (baseline, progressive),
 * BMP or PGM/PPM image. The header is read first: an image of more than max_pixels pixels
 * (0: TC_DEFAULT_MAX_PIXELS) is refused before anything is allocated. 16-bit samples are reduced
 * to 8 bits. Thread-safe.
 * @return TC_OK, TC_ERR_IO (unreadable file), TC_ERR_RANGE (not a supported or valid image),
 *         TC_ERR_LIMIT (too many pixels or too big a file), TC_ERR_NOMEM
 */
TC_API tc_status tc_image_load(const char *path, size_t max_pixels, tc_image *out, tc_error *err);
TC_API tc_status tc_image_decode(const void *data, size_t len, size_t max_pixels, tc_image *out,
                                 tc_error *err);
/* Frees img->pixels and zeroes *img. NULL is a no-op. */
TC_API void tc_image_free(tc_image *img);

/*
 * Turns an image into a model input tensor as `pp` says: channels (1 = BT.601 luma, 3 = RGB),
 * alpha composited over pp->background, resize to the input's H x W (area averaging when
 * shrinking, bilinear when enlarging; stretch, letterbox or center crop), invert, scale, then per
 * channel (v - mean) / std. input is the model's input shape: [C, H, W] with C 1 or 3, or [H, W].
 * out receives C * H * W floats. Deterministic: the same image gives the same floats everywhere.
 * @return TC_OK, TC_ERR_ARGUMENT (an input shape that is not an image), TC_ERR_NOMEM
 */
TC_API tc_status tc_image_to_tensor(const tc_image *img, const tc_preprocess *pp, tc_shape input,
                                    float *out, tc_error *err);

/* ---- idx data sets (engine/idx.c) ---- */

/* An idx file of unsigned bytes (as MNIST and Fashion-MNIST ship): images [N, H, W] or labels
 * [N]. */
typedef struct tc_idx {
    int32_t ndim;                 /* 1..4 */
    int64_t dim[4];
    uint8_t *data;                /* numel bytes, owned; free with tc_idx_free */
    size_t numel;
} tc_idx;

#define TC_MAX_IDX_BYTES ((size_t)1 << 30)

/* Reads an idx file, gzipped (.gz, detected by its signature) or not. Only the unsigned-byte
 * type (0x08) is accepted. The element count must match the data exactly.
 * @return TC_OK, TC_ERR_IO, TC_ERR_RANGE (malformed), TC_ERR_LIMIT (above 1 GiB), TC_ERR_NOMEM */
TC_API tc_status tc_idx_read(const char *path, tc_idx *out, tc_error *err);
TC_API void tc_idx_free(tc_idx *idx);

#ifdef __cplusplus
}
#endif

#endif /* TC_H */
