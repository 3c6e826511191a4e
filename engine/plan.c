/*
 * plan.c - the memory plan, made once at load: every layer output gets a place in one arena.
 * A buffer is reused once its tensor is dead; element-wise layers may write over their input
 * when nothing else reads it later. Placement is greedy, largest buffer first, at the lowest
 * offset free during its lifetime.
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"

typedef struct buffer {
    size_t numel;  /* per sample, in floats */
    int first;     /* index of the layer that creates it */
    int last;      /* index of the last layer that reads it (n_layers: a model output) */
    size_t offset; /* assigned by place_buffers */
    bool placed;
} buffer;

static size_t align_up(size_t n)
{
    return (n + TC_ARENA_ALIGN_FLOATS - 1) / TC_ARENA_ALIGN_FLOATS * TC_ARENA_ALIGN_FLOATS;
}

static int by_size_desc(const void *a, const void *b)
{
    const buffer *const *x = a;
    const buffer *const *y = b;
    if ((*x)->numel != (*y)->numel)
        return (*x)->numel < (*y)->numel ? 1 : -1;
    return (*x)->first - (*y)->first;
}

static int by_offset(const void *a, const void *b)
{
    const buffer *const *x = a;
    const buffer *const *y = b;
    return (*x)->offset < (*y)->offset ? -1 : (*x)->offset > (*y)->offset;
}

/* Greedy placement; returns the arena size in floats. work holds 2 * n pointers. */
static size_t place_buffers(buffer *bufs, int n, buffer **work)
{
    buffer **order = work;
    buffer **live = work + n;
    for (int i = 0; i < n; i++)
        order[i] = &bufs[i];
    qsort(order, (size_t)n, sizeof *order, by_size_desc);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        buffer *b = order[i];
        int n_live = 0;
        for (int j = 0; j < i; j++) {
            const buffer *o = order[j];
            if (o->first <= b->last && b->first <= o->last)
                live[n_live++] = order[j];
        }
        qsort(live, (size_t)n_live, sizeof *live, by_offset);
        size_t offset = 0;
        for (int j = 0; j < n_live; j++) {
            if (offset + b->numel <= live[j]->offset)
                break;
            size_t end = align_up(live[j]->offset + live[j]->numel);
            if (end > offset)
                offset = end;
        }
        b->offset = offset;
        b->placed = true;
        if (align_up(offset + b->numel) > total)
            total = align_up(offset + b->numel);
    }
    return total;
}

tc_status tc_plan_memory(tc_model *model, tc_error *err)
{
    int n = model->n_layers;
    model->slots = TC_CALLOC((size_t)n, sizeof *model->slots);
    int *last_use = TC_CALLOC((size_t)n, sizeof *last_use);
    int *buf_of = TC_CALLOC((size_t)n, sizeof *buf_of);
    buffer *bufs = TC_CALLOC((size_t)n, sizeof *bufs);
    buffer **work = TC_CALLOC((size_t)n * 2, sizeof *work);
    tc_status st = TC_OK;
    if (!model->slots || !last_use || !buf_of || !bufs || !work) {
        st = tc_error_set(err, TC_ERR_NOMEM, "", "out of memory while planning");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const tc_layer *l = &model->layers[i];
        last_use[i] = i;
        for (int k = 0; k < l->n_inputs; k++) {
            if (l->inputs[k] >= 0 && last_use[l->inputs[k]] < i)
                last_use[l->inputs[k]] = i;
        }
        size_t scratch = l->ops->scratch_bytes ? l->ops->scratch_bytes(l) : 0;
        if (scratch > model->scratch_bytes)
            model->scratch_bytes = scratch;
    }
    for (int k = 0; k < model->n_outputs; k++)
        last_use[model->outputs[k]] = n; /* outputs live to the end of the run */

    int n_bufs = 0;
    size_t unplanned = 0;
    for (int i = 0; i < n; i++) {
        const tc_layer *l = &model->layers[i];
        size_t numel = 0;
        tc_shape_numel(&l->out_shape, SIZE_MAX, &numel); /* checked by shape inference */
        unplanned += align_up(numel);
        /* fuse.c: a layer that pools its output holds the pooled values, and a layer it
         * absorbed shares that buffer and its contents */
        if (l->fused_pool != 0)
            tc_shape_numel(&model->layers[l->fused_pool - 1].out_shape, SIZE_MAX, &numel);
        if (l->absorbed_by != 0)
            numel = model->slots[l->absorbed_by - 1].numel;
        model->slots[i].numel = numel;
        int p = l->inputs[0];
        /* an absorbed layer's output is its producer's (fuse.c: the only reader of it) */
        bool inplace = (l->absorbed_by != 0 || (l->ops->flags & TC_LAYER_INPLACE_OK)) && p >= 0 &&
                       model->slots[p].numel == numel && bufs[buf_of[p]].last == i;
        if (l->absorbed_by != 0 && !inplace) { /* fuse.c guarantees it; never compute garbage */
            st = tc_error_set(err, TC_ERR_INTERNAL, l->where, "fused layer cannot share its "
                              "producer's buffer");
            goto done;
        }
        if (inplace) {
            buf_of[i] = buf_of[p];
            bufs[buf_of[i]].last = last_use[i];
        } else {
            buf_of[i] = n_bufs;
            bufs[n_bufs++] = (buffer){numel, i, last_use[i], 0, false};
        }
    }
    model->arena_floats = place_buffers(bufs, n_bufs, work);
    model->unplanned_floats = unplanned;
    for (int i = 0; i < n; i++)
        model->slots[i].offset = bufs[buf_of[i]].offset;
    size_t bytes;
    if (!tc_mul_size(model->arena_floats, sizeof(float), &bytes) ||
        !tc_add_size(bytes, model->scratch_bytes, &bytes))
        st = tc_error_set(err, TC_ERR_LIMIT, "layers",
                          "activations need more than SIZE_MAX bytes per sample, above the limit "
                          "max_arena_bytes = %zu", model->limits.max_arena_bytes);
    else if (bytes > model->limits.max_arena_bytes)
        st = tc_error_set(err, TC_ERR_LIMIT, "layers",
                          "activations need %zu bytes per sample (%zu of buffers, %zu of "
                          "scratch), above the limit max_arena_bytes = %zu", bytes,
                          bytes - model->scratch_bytes, model->scratch_bytes,
                          model->limits.max_arena_bytes);
done:
    TC_FREE(last_use);
    TC_FREE(buf_of);
    TC_FREE(bufs);
    TC_FREE(work);
    return st;
}
