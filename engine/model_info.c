/* model_info.c - read-only getters on a loaded model. */
#include <string.h>

#include "model.h"

const char *tc_model_name(const tc_model *model) { return model->name; }
tc_shape tc_model_input_shape(const tc_model *model) { return model->input_shape; }
size_t tc_model_input_numel(const tc_model *model) { return model->input_numel; }
int tc_model_num_outputs(const tc_model *model) { return model->n_outputs; }
int tc_model_num_labels(const tc_model *model) { return model->n_labels; }
int tc_model_num_layers(const tc_model *model) { return model->n_layers; }
const tc_preprocess *tc_model_preprocess(const tc_model *model) { return &model->preprocess; }
size_t tc_model_weight_bytes(const tc_model *model) { return model->weight_floats * sizeof(float); }

tc_shape tc_model_output_shape(const tc_model *model, int k)
{
    tc_shape none = {0, {0}};
    if (k < 0 || k >= model->n_outputs)
        return none;
    return model->layers[model->outputs[k]].out_shape;
}

size_t tc_model_output_numel(const tc_model *model, int k)
{
    if (k < 0 || k >= model->n_outputs)
        return 0;
    return model->slots[model->outputs[k]].numel;
}

const char *tc_model_label(const tc_model *model, int i)
{
    return i >= 0 && i < model->n_labels ? model->labels[i] : NULL;
}

int tc_model_num_classes(const tc_model *model)
{
    return (int)tc_model_output_numel(model, 0);
}

int tc_model_output_is_probability(const tc_model *model, int k)
{
    if (k < 0 || k >= model->n_outputs)
        return 0;
    return strcmp(model->layers[model->outputs[k]].ops->type, "softmax") == 0;
}

tc_status tc_model_layer_info(const tc_model *model, int i, tc_layer_info *info)
{
    if (i < 0 || i >= model->n_layers || info == NULL)
        return TC_ERR_ARGUMENT;
    const tc_layer *l = &model->layers[i];
    info->name = l->name;
    info->type = l->ops->type;
    info->out_shape = l->out_shape;
    info->macs = l->macs;
    info->n_params = 0;
    for (int k = 0; k < l->n_weights - (l->fused_bias ? 1 : 0); k++)
        info->n_params += l->weights[k].numel; /* as in the file, not what fusion added */
    info->fused_into = l->absorbed_by != 0 ? model->layers[l->absorbed_by - 1].name : NULL;
    return TC_OK;
}

size_t tc_model_arena_bytes_per_sample(const tc_model *model)
{
    return model->arena_floats * sizeof(float);
}

size_t tc_model_unplanned_bytes_per_sample(const tc_model *model)
{
    return model->unplanned_floats * sizeof(float);
}
