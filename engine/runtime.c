/*
 * runtime.c - workspaces and the forward pass. A run walks the layers in order and does
 * arithmetic only: every buffer was planned at load and allocated with the workspace.
 */
#include <math.h>
#include <string.h>

#include "model.h"

#define ARENA_ALIGN_BYTES 64

struct tc_workspace {
    const tc_model *model;
    int max_batch;
    int batch;        /* batch of the last successful run, 0 before the first */
    void *raw;        /* the allocation; arena and scratch are aligned inside it */
    float *arena;     /* model->arena_floats * max_batch floats */
    void *scratch;    /* model->scratch_bytes */
};

static void *align_ptr(void *p)
{
    uintptr_t u = (uintptr_t)p;
    return (void *)((u + ARENA_ALIGN_BYTES - 1) / ARENA_ALIGN_BYTES * ARENA_ALIGN_BYTES);
}

tc_status tc_workspace_create(const tc_model *model, int max_batch, tc_workspace **out,
                              tc_error *err)
{
    tc_error_clear(err);
    if (out == NULL || model == NULL)
        return tc_error_set(err, TC_ERR_ARGUMENT, "", "model and out must not be NULL");
    *out = NULL;
    if (max_batch < 1 || max_batch > model->limits.max_batch)
        return tc_error_set(err, TC_ERR_ARGUMENT, "", "batch must be in 1..%d, got %d",
                            model->limits.max_batch, max_batch);
    size_t arena_bytes;
    size_t total;
    if (!tc_mul_size(model->arena_floats, sizeof(float), &arena_bytes) ||
        !tc_mul_size(arena_bytes, (size_t)max_batch, &arena_bytes) ||
        arena_bytes > model->limits.max_arena_bytes ||
        !tc_add_size(arena_bytes, model->scratch_bytes, &total) ||
        !tc_add_size(total, 2 * ARENA_ALIGN_BYTES, &total))
        return tc_error_set(err, TC_ERR_LIMIT, "",
                            "a batch of %d needs more than the arena limit of %zu bytes",
                            max_batch, model->limits.max_arena_bytes);
    tc_workspace *ws = TC_CALLOC(1, sizeof *ws);
    if (ws == NULL)
        return tc_error_set(err, TC_ERR_NOMEM, "", "out of memory");
    ws->raw = TC_MALLOC(total);
    if (ws->raw == NULL) {
        TC_FREE(ws);
        return tc_error_set(err, TC_ERR_NOMEM, "", "cannot allocate a %zu-byte arena", total);
    }
    ws->model = model;
    ws->max_batch = max_batch;
    ws->arena = align_ptr(ws->raw);
    ws->scratch = align_ptr((char *)ws->arena + arena_bytes);
    *out = ws;
    return TC_OK;
}

void tc_workspace_free(tc_workspace *ws)
{
    if (ws == NULL)
        return;
    TC_FREE(ws->raw);
    TC_FREE(ws);
}

/* Index of the first value of x[0..n) that is NaN or infinite, or n. */
static size_t first_nonfinite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return i;
    }
    return n;
}

tc_status tc_model_run(const tc_model *model, tc_workspace *ws, const float *input, int batch,
                       tc_error *err)
{
    return tc_model_run_checked(model, ws, input, batch, false, err);
}

tc_status tc_model_run_checked(const tc_model *model, tc_workspace *ws, const float *input,
                               int batch, bool check_finite, tc_error *err)
{
    tc_error_clear(err);
    if (model == NULL || ws == NULL || input == NULL)
        return tc_error_set(err, TC_ERR_ARGUMENT, "", "model, workspace and input must not be NULL");
    if (ws->model != model)
        return tc_error_set(err, TC_ERR_ARGUMENT, "", "the workspace belongs to another model");
    if (batch < 1 || batch > ws->max_batch)
        return tc_error_set(err, TC_ERR_ARGUMENT, "",
                            "batch must be in 1..%d (the workspace's size), got %d", ws->max_batch,
                            batch);
    ws->batch = 0;
    tc_tensor in[TC_MAX_INPUTS];
    for (int i = 0; i < model->n_layers; i++) {
        const tc_layer *l = &model->layers[i];
        for (int k = 0; k < l->n_inputs; k++) {
            int p = l->inputs[k];
            if (p == TC_INPUT_MODEL) {
                in[k].shape = model->input_shape;
                /* Layers never write to an input they do not alias, and nothing aliases the
                 * model input (plan.c), so dropping const here is safe. */
                in[k].data = (float *)(uintptr_t)input;
            } else {
                in[k].shape = model->layers[p].out_shape;
                in[k].data = ws->arena + model->slots[p].offset * (size_t)batch;
            }
        }
        tc_tensor out = {l->out_shape, ws->arena + model->slots[i].offset * (size_t)batch};
        tc_status st = l->ops->forward(l, in, l->n_inputs, &out, batch, ws->scratch);
        if (st != TC_OK)
            return tc_error_set(err, st, l->where, "forward failed");
        size_t n = model->slots[i].numel * (size_t)batch;
        size_t bad = check_finite ? first_nonfinite(out.data, n) : n;
        if (bad < n)
            return tc_error_set(err, TC_ERR_RANGE, l->where,
                                "output is not finite: index %zu of batch sample %zu is %g",
                                bad % model->slots[i].numel, bad / model->slots[i].numel,
                                (double)out.data[bad]);
    }
    ws->batch = batch;
    return TC_OK;
}

const float *tc_workspace_output(const tc_workspace *ws, int k)
{
    if (ws == NULL || ws->batch == 0 || k < 0 || k >= ws->model->n_outputs)
        return NULL;
    const tc_model *m = ws->model;
    return ws->arena + m->slots[m->outputs[k]].offset * (size_t)ws->batch;
}
