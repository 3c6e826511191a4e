/*
 * model.h - the loaded model and its memory plan; shared by the loader, the planner and the
 * runtime (engine/ only).
 */
#ifndef TC_MODEL_H
#define TC_MODEL_H

#include "tc_internal.h"

#define TC_MAX_OUTPUTS 64
#define TC_MAX_LABELS 100000
#define TC_MAX_LABEL_BYTES 256
#define TC_ARENA_ALIGN_FLOATS 16 /* buffers start on 64-byte boundaries */

/* Where one layer's output lives in the arena: per-sample offset and size, in floats. For a batch
 * of N both scale by N, which keeps the planned buffers disjoint. */
typedef struct tc_slot {
    size_t offset;
    size_t numel;
} tc_slot;

struct tc_model {
    char name[128];
    char file[256];             /* the JSON file, for messages */
    tc_limits limits;
    tc_shape input_shape;
    size_t input_numel;
    tc_preprocess preprocess;
    int n_labels;
    char **labels;              /* n_labels strings, owned */
    int n_layers;
    tc_layer *layers;           /* n_layers, in file order (which is a topological order) */
    int n_outputs;
    int outputs[TC_MAX_OUTPUTS]; /* layer indices */
    tc_slot *slots;             /* n_layers: where each layer's output lives */
    size_t arena_floats;        /* per sample */
    size_t unplanned_floats;    /* per sample, without reuse */
    size_t scratch_bytes;       /* max over layers, independent of the batch */
    float *weights;             /* one block for all weights, owned */
    size_t weight_floats;
};

/* Load-time fusion (engine/fuse.c). tc_fuse_plan marks the batchnorm and activation layers that
 * the conv2d or dense before them will compute (before planning, which aliases their outputs);
 * tc_fuse_fold folds the batchnorms into those layers' weights (after the weights are loaded and
 * checked, before prepare packs them). */
void tc_fuse_plan(tc_model *model);
tc_status tc_fuse_fold(tc_model *model, tc_error *err);

/* Plans the arena: lifetimes, in-place reuse, greedy placement (engine/plan.c). */
tc_status tc_plan_memory(tc_model *model, tc_error *err);

/* Resolves every declared weight to floats in one block (engine/weights.c). json_dir is where
 * weights_file is found (NULL if not allowed); weights_file may be "" when there is none. */
tc_status tc_weights_load(tc_model *model, const char *json_dir, const char *weights_file,
                          tc_error *err);

/* Parses the "preprocess" object (engine/preprocess.c). */
tc_status tc_preprocess_parse(const cJSON *obj, const tc_shape *input, tc_preprocess *out,
                              tc_error *err);

#endif
