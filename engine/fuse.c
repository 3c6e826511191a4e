/*
 * fuse.c - layer fusion decided at load. A conv2d or dense layer absorbs what follows it when
 * nothing else reads its output: first a batchnorm (folded into its weights and bias), then an
 * activation (applied in its kernel's epilogue), then a 2x2 stride-2 max pool where its method
 * can pool as it writes (Winograd: each tile is one pooling window). An absorbed layer is not
 * run; its output is its producer's buffer (plan.c), so shapes, names, outputs and summaries
 * stay as in the file. With a pool absorbed, that buffer holds the pooled values only.
 *
 * Folding: y = ((W x + b) - mean) * f + beta with f = scale / sqrt(var + eps) is
 * (W * f) x + ((b - mean) * f + beta), computed in double per channel and rounded once, so the
 * result stays within the engine's tolerance of the unfused layers (not the same bits).
 */
#include <stdio.h>
#include <string.h>

#include "model.h"

/* The layer that reads layer i's output when exactly one does and it reads nothing else, or -1
 * (none, several, or i is a model output). */
static int only_consumer(const tc_model *m, int i)
{
    for (int k = 0; k < m->n_outputs; k++) {
        if (m->outputs[k] == i)
            return -1;
    }
    int found = -1;
    for (int j = i + 1; j < m->n_layers; j++) {
        const tc_layer *l = &m->layers[j];
        for (int k = 0; k < l->n_inputs; k++) {
            if (l->inputs[k] != i)
                continue;
            if (found >= 0 || l->n_inputs != 1)
                return -1;
            found = j;
        }
    }
    return found;
}

void tc_fuse_plan(tc_model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        tc_layer *l = &m->layers[i];
        tc_fuse_target t;
        if (l->absorbed_by != 0 || l->ops->fuse_target == NULL || !l->ops->fuse_target(l, &t))
            continue;
        /* a batchnorm or an activation only before the layer's own activation */
        const bool own_act = t.act->kind != TC_ACT_IDENTITY;
        int j = only_consumer(m, i);
        if (j >= 0 && !own_act && m->layers[j].ops->channel_affine != NULL) {
            m->layers[j].absorbed_by = i + 1;
            l->fused_affine = j + 1;
            j = only_consumer(m, j);
        }
        tc_act act;
        if (j >= 0 && !own_act && m->layers[j].ops->fusable_act != NULL &&
            m->layers[j].ops->fusable_act(&m->layers[j], &act)) {
            m->layers[j].absorbed_by = i + 1;
            *t.act = act;
            j = only_consumer(m, j);
        }
        /* a 2x2 max pool last: the layer writes only the pooled values */
        if (j >= 0 && m->layers[j].ops->is_max2x2 != NULL && l->ops->absorb_max2x2 != NULL &&
            m->layers[j].ops->is_max2x2(&m->layers[j], &l->out_shape) &&
            l->ops->absorb_max2x2(l)) {
            m->layers[j].absorbed_by = i + 1;
            l->fused_pool = j + 1;
        }
    }
}

tc_status tc_fuse_fold(tc_model *m, tc_error *err)
{
    for (int i = 0; i < m->n_layers; i++) {
        tc_layer *l = &m->layers[i];
        tc_fuse_target t;
        if (l->fused_affine == 0 || !l->ops->fuse_target(l, &t))
            continue;
        const tc_layer *bn = &m->layers[l->fused_affine - 1];
        tc_weight *w = &l->weights[*t.weight_slot];
        const size_t channels = (size_t)l->out_shape.dim[0];
        const size_t row = w->numel / channels;
        const float *bias = tc_layer_weight_data(l, *t.bias_slot);
        if (*t.bias_slot < 0 && l->n_weights >= TC_MAX_WEIGHTS)
            return tc_error_set(err, TC_ERR_INTERNAL, l->where, "no weight slot for the bias");
        float *folded = TC_MALLOC((w->numel + channels) * sizeof *folded);
        if (folded == NULL)
            return tc_error_set(err, TC_ERR_NOMEM, l->where, "cannot allocate folded weights");
        for (size_t c = 0; c < channels; c++) {
            double mul, add;
            bn->ops->channel_affine(bn, c, &mul, &add);
            for (size_t k = 0; k < row; k++)
                folded[c * row + k] = (float)((double)w->data[c * row + k] * mul);
            folded[w->numel + c] = (float)((bias != NULL ? (double)bias[c] : 0.0) * mul + add);
        }
        TC_FREE(l->fused_weights);
        l->fused_weights = folded;
        w->data = folded;
        if (*t.bias_slot < 0) {
            *t.bias_slot = l->n_weights++;
            tc_weight *b = &l->weights[*t.bias_slot];
            memset(b, 0, sizeof *b);
            snprintf(b->key, sizeof b->key, "bias");
            b->shape = tc_shape_make(1, &l->out_shape.dim[0]);
            b->numel = channels;
            l->fused_bias = true;
        }
        l->weights[*t.bias_slot].data = folded + w->numel;
    }
    return TC_OK;
}
