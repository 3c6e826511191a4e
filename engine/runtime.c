/*
 * runtime.c - workspaces and the forward pass. A run walks the layers in order and does
 * arithmetic only: every buffer was planned at load and allocated with the workspace.
 *
 * Micro-batches: a batch larger than `chunk` samples (as many as fit CHUNK_BYTES of activations,
 * so that a layer's output is still in cache when the next layer reads it) is run chunk by chunk
 * in a small arena of its own; each chunk's part of the model outputs is then copied into the
 * workspace's arena, where tc_workspace_output finds them.
 * Threads (tc_workspace_set_threads): a batch is split into one contiguous share of samples per
 * thread, each run in chunks as above in the thread's own arena and scratch. Every sample is
 * computed by the same code whatever the split, so results are identical for every thread count
 * and chunk size. The pool is persistent: no thread is created per run. A run that is not split
 * by samples (a batch of 1) makes the pool the calling thread's current one (tc_pool_current), so
 * layers can split their own work over it (conv2d's Winograd path does, by channels and products).
 */
#include <math.h>
#include <string.h>

#include "model.h"
#include "threads.h"

#define ARENA_ALIGN_BYTES 64
#define TC_MAX_THREADS 256
#define CHUNK_BYTES ((size_t)1 << 20) /* activations of one micro-batch: about half of L2 */

/* The memory one thread runs its chunks in. */
typedef struct thread_mem {
    void *raw;     /* the allocation */
    float *arena;  /* model->arena_floats * chunk floats */
    void *scratch; /* model->scratch_bytes */
    tc_status status;
} thread_mem;

struct tc_workspace {
    const tc_model *model;
    int max_batch;
    int batch;        /* batch of the last successful run, 0 before the first */
    void *raw;        /* the allocation; arena and scratch are aligned inside it */
    float *arena;     /* model->arena_floats * max_batch floats */
    void *scratch;    /* model->scratch_bytes */
    int n_threads;    /* 1 unless tc_workspace_set_threads */
    int chunk;        /* samples per micro-batch */
    thread_mem *mem;  /* n_threads chunk arenas, or NULL when chunks and threads are not used */
    tc_pool *pool;
    const float *run_input; /* the run in progress, for the pool's job */
    int run_batch;
};

static void *align_ptr(void *p)
{
    uintptr_t u = (uintptr_t)p;
    return (void *)((u + ARENA_ALIGN_BYTES - 1) / ARENA_ALIGN_BYTES * ARENA_ALIGN_BYTES);
}

/* Allocates an arena for `batch` samples plus scratch: *arena and *scratch point into *raw. */
static tc_status alloc_arena(const tc_model *model, int batch, void **raw, float **arena,
                             void **scratch, tc_error *err)
{
    size_t arena_bytes;
    size_t total;
    if (!tc_mul_size(model->arena_floats, sizeof(float), &arena_bytes) ||
        !tc_mul_size(arena_bytes, (size_t)batch, &arena_bytes) ||
        arena_bytes > model->limits.max_arena_bytes ||
        !tc_add_size(arena_bytes, model->scratch_bytes, &total) ||
        !tc_add_size(total, 2 * ARENA_ALIGN_BYTES, &total))
        return tc_error_set(err, TC_ERR_LIMIT, "",
                            "a batch of %d needs more than the arena limit of %zu bytes", batch,
                            model->limits.max_arena_bytes);
    *raw = TC_MALLOC(total);
    if (*raw == NULL)
        return tc_error_set(err, TC_ERR_NOMEM, "", "cannot allocate a %zu-byte arena", total);
    *arena = align_ptr(*raw);
    *scratch = align_ptr((char *)*arena + arena_bytes);
    return TC_OK;
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
    tc_workspace *ws = TC_CALLOC(1, sizeof *ws);
    if (ws == NULL)
        return tc_error_set(err, TC_ERR_NOMEM, "", "out of memory");
    tc_status st = alloc_arena(model, max_batch, &ws->raw, &ws->arena, &ws->scratch, err);
    if (st != TC_OK) {
        TC_FREE(ws);
        return st;
    }
    ws->model = model;
    ws->max_batch = max_batch;
    ws->n_threads = 1;
    const size_t per_sample = model->arena_floats * sizeof(float);
    const size_t fit = per_sample > 0 ? CHUNK_BYTES / per_sample : (size_t)max_batch;
    ws->chunk = fit < 1 ? 1 : fit > (size_t)max_batch ? max_batch : (int)fit;
    st = tc_workspace_set_threads(ws, 1, err);
    if (st != TC_OK) {
        tc_workspace_free(ws);
        return st;
    }
    *out = ws;
    return TC_OK;
}

/* Stops the pool and frees the chunk arenas. */
static void drop_threads(tc_workspace *ws)
{
    tc_pool_free(ws->pool);
    ws->pool = NULL;
    for (int t = 0; ws->mem != NULL && t < ws->n_threads; t++)
        TC_FREE(ws->mem[t].raw);
    TC_FREE(ws->mem);
    ws->mem = NULL;
    ws->n_threads = 1;
}

tc_status tc_workspace_set_threads(tc_workspace *ws, int n_threads, tc_error *err)
{
    tc_error_clear(err);
    if (ws == NULL)
        return tc_error_set(err, TC_ERR_ARGUMENT, "", "workspace must not be NULL");
    if (n_threads < 1 || n_threads > TC_MAX_THREADS)
        return tc_error_set(err, TC_ERR_ARGUMENT, "", "threads must be in 1..%d, got %d",
                            TC_MAX_THREADS, n_threads);
    drop_threads(ws);
    ws->batch = 0; /* outputs of earlier runs are dropped */
    if (n_threads == 1 && ws->max_batch <= ws->chunk)
        return TC_OK; /* every run fits the main arena in one go */
    ws->mem = TC_CALLOC((size_t)n_threads, sizeof *ws->mem);
    if (ws->mem == NULL)
        return tc_error_set(err, TC_ERR_NOMEM, "", "out of memory");
    ws->n_threads = n_threads;
    tc_status st = TC_OK;
    for (int t = 0; t < n_threads && st == TC_OK; t++)
        st = alloc_arena(ws->model, ws->chunk, &ws->mem[t].raw, &ws->mem[t].arena,
                         &ws->mem[t].scratch, err);
    if (st == TC_OK && n_threads > 1)
        st = tc_pool_create(n_threads, &ws->pool, err);
    if (st != TC_OK)
        drop_threads(ws);
    return st;
}

int tc_workspace_threads(const tc_workspace *ws)
{
    return ws == NULL ? 0 : ws->n_threads;
}

void tc_workspace_free(tc_workspace *ws)
{
    if (ws == NULL)
        return;
    drop_threads(ws);
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

/* How one pass over the layers is run and watched. */
typedef struct pass {
    float *arena;
    void *scratch;
    const float *input;
    int batch;
    bool check_finite;
    tc_layer_observer observer;
    void *user;
} pass;

static tc_status run_layers(const tc_model *model, const pass *ps, tc_error *err)
{
    tc_tensor in[TC_MAX_INPUTS];
    for (int i = 0; i < model->n_layers; i++) {
        const tc_layer *l = &model->layers[i];
        for (int k = 0; k < l->n_inputs; k++) {
            int p = l->inputs[k];
            if (p == TC_INPUT_MODEL) {
                in[k].shape = model->input_shape;
                /* Layers never write to an input they do not alias, and nothing aliases the
                 * model input (plan.c), so dropping const here is safe. */
                in[k].data = (float *)(uintptr_t)ps->input;
            } else {
                in[k].shape = model->layers[p].out_shape;
                in[k].data = ps->arena + model->slots[p].offset * (size_t)ps->batch;
            }
        }
        tc_tensor out = {l->out_shape, ps->arena + model->slots[i].offset * (size_t)ps->batch};
        /* an absorbed layer's result is already in out (its producer's buffer; fuse.c) */
        tc_status st = l->absorbed_by != 0 ? TC_OK
                                   : l->ops->forward(l, in, l->n_inputs, &out, ps->batch,
                                                     ps->scratch);
        if (st != TC_OK)
            return tc_error_set(err, st, l->where, "forward failed");
        if (ps->observer != NULL)
            ps->observer(ps->user, i);
        size_t n = model->slots[i].numel * (size_t)ps->batch;
        size_t bad = ps->check_finite ? first_nonfinite(out.data, n) : n;
        if (bad < n)
            return tc_error_set(err, TC_ERR_RANGE, l->where,
                                "output is not finite: index %zu of batch sample %zu is %g",
                                bad % model->slots[i].numel, bad / model->slots[i].numel,
                                (double)out.data[bad]);
    }
    return TC_OK;
}

/* The pool's job: thread t runs its share of the batch chunk by chunk, copying the outputs. */
static void run_share(void *arg, int t)
{
    tc_workspace *ws = arg;
    const tc_model *model = ws->model;
    const int batch = ws->run_batch;
    const int per = (batch + ws->n_threads - 1) / ws->n_threads;
    const int end = (t + 1) * per < batch ? (t + 1) * per : batch;
    thread_mem *mem = &ws->mem[t];
    mem->status = TC_OK;
    for (int s0 = t * per; s0 < end && mem->status == TC_OK; s0 += ws->chunk) {
        const int b = end - s0 < ws->chunk ? end - s0 : ws->chunk;
        const pass ps = {mem->arena, mem->scratch,
                         ws->run_input + (size_t)s0 * model->input_numel, b, false, NULL, NULL};
        mem->status = run_layers(model, &ps, NULL);
        for (int k = 0; k < model->n_outputs && mem->status == TC_OK; k++) {
            const tc_slot *slot = &model->slots[model->outputs[k]];
            memcpy(ws->arena + slot->offset * (size_t)batch + (size_t)s0 * slot->numel,
                   mem->arena + slot->offset * (size_t)b, (size_t)b * slot->numel * sizeof(float));
        }
    }
}

static tc_status run(const tc_model *model, tc_workspace *ws, const float *input, int batch,
                     bool check_finite, tc_layer_observer observer, void *user, tc_error *err)
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
    const bool split = ws->n_threads > 1 ? batch > 1 : batch > ws->chunk;
    if (ws->mem != NULL && split && !check_finite && observer == NULL) {
        ws->run_input = input;
        ws->run_batch = batch;
        if (ws->pool != NULL)
            tc_pool_run(ws->pool, run_share, ws);
        else
            run_share(ws, 0);
        for (int t = 0; t < ws->n_threads; t++) {
            if (ws->mem[t].status != TC_OK)
                return tc_error_set(err, ws->mem[t].status, "", "forward failed in thread %d", t);
        }
    } else {
        const pass ps = {ws->arena, ws->scratch, input, batch, check_finite, observer, user};
        /* a batch of 1: layers that can split their own work use the pool */
        tc_pool_set_current(ws->pool);
        tc_status st = run_layers(model, &ps, err);
        tc_pool_set_current(NULL);
        if (st != TC_OK)
            return st;
    }
    ws->batch = batch;
    return TC_OK;
}

tc_status tc_model_run(const tc_model *model, tc_workspace *ws, const float *input, int batch,
                       tc_error *err)
{
    return run(model, ws, input, batch, false, NULL, NULL, err);
}

tc_status tc_model_run_checked(const tc_model *model, tc_workspace *ws, const float *input,
                               int batch, bool check_finite, tc_error *err)
{
    return run(model, ws, input, batch, check_finite, NULL, NULL, err);
}

tc_status tc_model_run_observed(const tc_model *model, tc_workspace *ws, const float *input,
                                int batch, tc_layer_observer after_layer, void *user,
                                tc_error *err)
{
    return run(model, ws, input, batch, false, after_layer, user, err);
}

const float *tc_workspace_output(const tc_workspace *ws, int k)
{
    if (ws == NULL || ws->batch == 0 || k < 0 || k >= ws->model->n_outputs)
        return NULL;
    const tc_model *m = ws->model;
    return ws->arena + m->slots[m->outputs[k]].offset * (size_t)ws->batch;
}
