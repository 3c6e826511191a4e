/*
 * model_load.c - reads a model JSON (format version 1), checks everything, then hands over to
 * shape inference, the memory planner and the weight loader. Phases never mix:
 * parse -> infer shapes -> plan memory -> load weights.
 */
#define _POSIX_C_SOURCE 200809L /* fileno, fstat */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "model.h"
#include "name_table.h"

#define MAX_ALLOWED_KEYS 32

static const char *const top_keys[] = {"format", "version", "name", "input", "preprocess",
                                       "labels", "weights_file", "layers", "outputs", NULL};
static const char *const common_layer_keys[] = {"name", "type", "inputs", NULL};

/* Line and column (1-based) of position pos in text, for JSON syntax errors. */
static void line_col(const char *text, size_t pos, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < pos; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* Nesting depth of arrays and objects at position pos (strings skipped). */
static int depth_at(const char *text, size_t pos)
{
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < pos; i++) {
        char ch = text[i];
        if (in_string) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_string = false;
        } else if (ch == '"') {
            in_string = true;
        } else if (ch == '[' || ch == '{') {
            depth++;
        } else if (ch == ']' || ch == '}') {
            depth--;
        }
    }
    return depth;
}

static tc_status parse_json(const char *json, size_t len, cJSON **root, tc_error *err)
{
    const char *end = NULL;
    if (len == 0)
        return tc_error_set(err, TC_ERR_JSON, "", "the file is empty, expected a JSON object");
    *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    int line;
    int col;
    if (*root == NULL) {
        size_t pos = end != NULL && end >= json && end <= json + len ? (size_t)(end - json) : 0;
        line_col(json, pos, &line, &col);
        if (depth_at(json, pos) >= CJSON_NESTING_LIMIT)
            return tc_error_set(err, TC_ERR_JSON, "",
                                "arrays or objects nested more than %d levels deep at line %d, "
                                "column %d", CJSON_NESTING_LIMIT, line, col);
        return tc_error_set(err, TC_ERR_JSON, "", "not valid JSON at line %d, column %d", line,
                            col);
    }
    size_t pos = (size_t)(end - json);
    while (pos < len && (json[pos] == ' ' || json[pos] == '\t' || json[pos] == '\n' ||
                         json[pos] == '\r' || json[pos] == '\0'))
        pos++;
    if (pos < len) {
        line_col(json, pos, &line, &col);
        cJSON_Delete(*root);
        *root = NULL;
        return tc_error_set(err, TC_ERR_JSON, "", "unexpected text after the JSON value at line %d, column %d",
                            line, col);
    }
    return TC_OK;
}

static tc_status parse_header(tc_model *model, const cJSON *root, tc_error *err)
{
    if (!cJSON_IsObject(root))
        return tc_error_set(err, TC_ERR_SCHEMA, "", "the model must be a JSON object");
    tc_status st = tc_json_check_keys(root, "", top_keys, err);
    if (st != TC_OK)
        return st;
    char format[16];
    if ((st = tc_json_string(root, "format", "", TC_REQUIRED, format, sizeof format, err)))
        return st;
    if (strcmp(format, "tinycnn") != 0)
        return tc_error_set(err, TC_ERR_SCHEMA, "format", "expected \"tinycnn\", got \"%s\"", format);
    const cJSON *version = tc_json_get(root, "version");
    if (version == NULL)
        return tc_error_set(err, TC_ERR_SCHEMA, "version", "required field is missing");
    if (!cJSON_IsNumber(version) || version->valuedouble != 1.0) {
        char got[80];
        tc_json_describe(version, got, sizeof got);
        return tc_error_set(err, TC_ERR_RANGE, "version",
                            "expected 1 (this tinycnn reads format version 1), got %s", got);
    }
    if ((st = tc_json_string(root, "name", "", TC_OPTIONAL, model->name, sizeof model->name, err)))
        return st;
    const cJSON *input = tc_json_get(root, "input");
    if (input == NULL)
        return tc_error_set(err, TC_ERR_SCHEMA, "input", "required field is missing");
    if (!cJSON_IsObject(input))
        return tc_error_set(err, TC_ERR_SCHEMA, "input", "expected an object {\"shape\": [...]}");
    static const char *const input_keys[] = {"shape", NULL};
    int n = 0;
    if ((st = tc_json_check_keys(input, "input", input_keys, err)) ||
        (st = tc_json_int_list(input, "shape", "input", 1, TC_MAX_DIMS, 1, INT32_MAX, TC_REQUIRED,
                               model->input_shape.dim, &n, err)))
        return st;
    model->input_shape.ndim = n;
    if (!tc_shape_numel(&model->input_shape, model->limits.max_tensor_elements,
                        &model->input_numel)) {
        char s[64];
        return tc_error_set(err, TC_ERR_LIMIT, "input.shape",
                            "the input %s has more elements than the limit "
                            "max_tensor_elements = %zu",
                            tc_shape_str(&model->input_shape, s, sizeof s),
                            model->limits.max_tensor_elements);
    }
    return tc_preprocess_parse(tc_json_get(root, "preprocess"), &model->input_shape,
                               &model->preprocess, err);
}

/* First pass over the layers: names (given or "<type>_<i>"), unique. */
static tc_status collect_names(tc_model *model, const cJSON *layers, tc_name_table *names,
                               tc_error *err)
{
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, layers) {
        tc_layer *l = &model->layers[i];
        char path[32];
        tc_path_index(path, sizeof path, "layers", i);
        l->index = i;
        if (!cJSON_IsObject(item))
            return tc_error_set(err, TC_ERR_SCHEMA, path, "expected a layer object");
        tc_status st = tc_json_string(item, "name", path, TC_OPTIONAL, l->name, sizeof l->name, err);
        if (st != TC_OK)
            return st;
        if (!tc_json_has(item, "name")) {
            const cJSON *type = tc_json_get(item, "type");
            snprintf(l->name, sizeof l->name, "%.40s_%d",
                     cJSON_IsString(type) ? type->valuestring : "layer", i);
        } else if (l->name[0] == '\0' || strcmp(l->name, "input") == 0) {
            char name_path[48];
            tc_path_join(name_path, sizeof name_path, path, "name");
            return tc_error_set(err, TC_ERR_GRAPH, name_path,
                                "name must be non-empty and not \"input\" (that names the model input)");
        }
        snprintf(l->where, sizeof l->where, "layers[%d] \"%s\"", i, l->name);
        int other = tc_name_table_find(names, l->name);
        if (other >= 0)
            return tc_error_set(err, TC_ERR_GRAPH, path,
                                "duplicate layer name \"%s\" (also layers[%d])", l->name, other);
        if (tc_name_table_add(names, l->name, i) != TC_OK)
            return tc_error_set(err, TC_ERR_NOMEM, path, "out of memory");
        i++;
    }
    return TC_OK;
}

/* Resolves a layer's "inputs" (default: the previous layer, or the model input for the first). */
static tc_status parse_inputs(tc_layer *l, const cJSON *obj, const char *path,
                              const tc_name_table *names, tc_error *err)
{
    const cJSON *inputs = tc_json_get(obj, "inputs");
    char p[64];
    tc_path_join(p, sizeof p, path, "inputs");
    if (inputs == NULL) {
        l->n_inputs = 1;
        l->inputs[0] = l->index == 0 ? TC_INPUT_MODEL : l->index - 1;
    } else {
        int n = cJSON_IsArray(inputs) ? cJSON_GetArraySize(inputs) : -1;
        if (n < 1 || n > TC_MAX_INPUTS)
            return tc_error_set(err, TC_ERR_SCHEMA, p,
                                "expected an array of 1 to %d layer names", TC_MAX_INPUTS);
        int k = 0;
        const cJSON *name;
        cJSON_ArrayForEach(name, inputs) {
            char np[80];
            tc_path_index(np, sizeof np, p, k);
            if (!cJSON_IsString(name))
                return tc_error_set(err, TC_ERR_SCHEMA, np, "expected a layer name (a string)");
            int producer = strcmp(name->valuestring, "input") == 0
                               ? TC_INPUT_MODEL
                               : tc_name_table_find(names, name->valuestring);
            if (producer == l->index)
                return tc_error_set(err, TC_ERR_GRAPH, np,
                                    "layer \"%s\" names itself as input (a cycle)", l->name);
            if (producer > l->index)
                return tc_error_set(err, TC_ERR_GRAPH, np,
                                    "\"%.60s\" is layers[%d], which comes later: inputs must name "
                                    "earlier layers, so the graph cannot have a cycle",
                                    name->valuestring, producer);
            if (producer == -2)
                return tc_error_set(err, TC_ERR_GRAPH, np, "no layer is named \"%.60s\"",
                                    name->valuestring);
            l->inputs[k++] = producer;
        }
        l->n_inputs = n;
    }
    if (l->n_inputs < l->ops->min_inputs || l->n_inputs > l->ops->max_inputs)
        return tc_error_set(err, TC_ERR_GRAPH, p, "%s takes %d to %d inputs, got %d",
                            l->ops->type, l->ops->min_inputs, l->ops->max_inputs, l->n_inputs);
    return TC_OK;
}

static tc_status unknown_type(const char *path, const char *type, tc_error *err)
{
    char list[512] = "";
    size_t used = 0;
    int n = 0;
    const tc_layer_ops *const *all = tc_layer_ops_all(&n);
    for (int i = 0; i < n; i++) {
        int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", all[i]->type);
        if (w > 0 && (size_t)w < sizeof list - used)
            used += (size_t)w;
    }
    return tc_error_set(err, TC_ERR_UNKNOWN_LAYER, path, "unknown layer type \"%.60s\" (known: %s)",
                        type, list);
}

static tc_status parse_layer(tc_layer *l, const cJSON *obj, const tc_name_table *names,
                             tc_error *err)
{
    char path[32];
    tc_path_index(path, sizeof path, "layers", l->index);
    char type[64];
    tc_status st = tc_json_string(obj, "type", path, TC_REQUIRED, type, sizeof type, err);
    if (st != TC_OK)
        return st;
    l->ops = tc_layer_ops_find(type);
    if (l->ops == NULL)
        return unknown_type(path, type, err);
    const char *allowed[MAX_ALLOWED_KEYS];
    int n_allowed = 0;
    for (int i = 0; common_layer_keys[i]; i++)
        allowed[n_allowed++] = common_layer_keys[i];
    for (int i = 0; l->ops->keys && l->ops->keys[i] && n_allowed < MAX_ALLOWED_KEYS - 1; i++)
        allowed[n_allowed++] = l->ops->keys[i];
    allowed[n_allowed] = NULL;
    if ((st = tc_json_check_keys(obj, path, allowed, err)) ||
        (st = parse_inputs(l, obj, path, names, err)))
        return st;
    if (l->ops->params_size > 0) {
        l->params = TC_CALLOC(1, l->ops->params_size);
        if (l->params == NULL)
            return tc_error_set(err, TC_ERR_NOMEM, path, "out of memory");
    }
    return l->ops->parse(l, obj, path, err);
}

static tc_status infer_shapes(tc_model *model, tc_error *err)
{
    tc_shape in[TC_MAX_INPUTS];
    for (int i = 0; i < model->n_layers; i++) {
        tc_layer *l = &model->layers[i];
        for (int k = 0; k < l->n_inputs; k++)
            in[k] = l->inputs[k] == TC_INPUT_MODEL ? model->input_shape
                                                   : model->layers[l->inputs[k]].out_shape;
        tc_shape out = {0, {0}};
        tc_status st = l->ops->infer_shape(l, in, l->n_inputs, &out, err);
        if (st != TC_OK)
            return st;
        size_t numel;
        char s[64];
        if (out.ndim < 1 || out.ndim > TC_MAX_DIMS)
            return tc_error_set(err, TC_ERR_INTERNAL, l->where, "layer produced rank %d", out.ndim);
        for (int d = 0; d < out.ndim; d++) {
            if (out.dim[d] < 1)
                return tc_error_set(err, TC_ERR_SHAPE, l->where,
                                    "output shape %s has a dimension below 1",
                                    tc_shape_str(&out, s, sizeof s));
        }
        if (!tc_shape_numel(&out, model->limits.max_tensor_elements, &numel))
            return tc_error_set(err, TC_ERR_LIMIT, l->where,
                                "output shape %s has more elements than the limit "
                                "max_tensor_elements = %zu",
                                tc_shape_str(&out, s, sizeof s), model->limits.max_tensor_elements);
        l->out_shape = out;
    }
    return TC_OK;
}

static tc_status parse_outputs(tc_model *model, const cJSON *root, const tc_name_table *names,
                               tc_error *err)
{
    const cJSON *outputs = tc_json_get(root, "outputs");
    if (outputs == NULL) {
        model->n_outputs = 1;
        model->outputs[0] = model->n_layers - 1;
        return TC_OK;
    }
    int n = cJSON_IsArray(outputs) ? cJSON_GetArraySize(outputs) : -1;
    if (n < 1 || n > TC_MAX_OUTPUTS)
        return tc_error_set(err, TC_ERR_SCHEMA, "outputs",
                            "expected an array of 1 to %d layer names", TC_MAX_OUTPUTS);
    int k = 0;
    const cJSON *name;
    cJSON_ArrayForEach(name, outputs) {
        char p[32];
        tc_path_index(p, sizeof p, "outputs", k);
        if (!cJSON_IsString(name))
            return tc_error_set(err, TC_ERR_SCHEMA, p, "expected a layer name (a string)");
        int idx = tc_name_table_find(names, name->valuestring);
        if (idx < 0)
            return tc_error_set(err, TC_ERR_GRAPH, p, "no layer is named \"%.60s\"",
                                name->valuestring);
        for (int j = 0; j < k; j++) {
            if (model->outputs[j] == idx)
                return tc_error_set(err, TC_ERR_GRAPH, p, "\"%.60s\" is listed twice",
                                    name->valuestring);
        }
        model->outputs[k++] = idx;
    }
    model->n_outputs = n;
    return TC_OK;
}

static tc_status parse_labels(tc_model *model, const cJSON *root, tc_error *err)
{
    const cJSON *labels = tc_json_get(root, "labels");
    if (labels == NULL)
        return TC_OK;
    int n = cJSON_IsArray(labels) ? cJSON_GetArraySize(labels) : -1;
    if (n < 1 || n > TC_MAX_LABELS)
        return tc_error_set(err, TC_ERR_SCHEMA, "labels", "expected an array of 1 to %d strings",
                            TC_MAX_LABELS);
    const tc_layer *out = &model->layers[model->outputs[0]];
    size_t classes = 0;
    tc_shape_numel(&out->out_shape, SIZE_MAX, &classes);
    if ((size_t)n != classes)
        return tc_error_set(err, TC_ERR_SHAPE, "labels",
                            "has %d names but the output (%s) has %zu values", n, out->where,
                            classes);
    model->labels = TC_CALLOC((size_t)n, sizeof *model->labels);
    if (model->labels == NULL)
        return tc_error_set(err, TC_ERR_NOMEM, "labels", "out of memory");
    model->n_labels = n;
    int i = 0;
    const cJSON *label;
    cJSON_ArrayForEach(label, labels) {
        char p[32];
        tc_path_index(p, sizeof p, "labels", i);
        if (!cJSON_IsString(label))
            return tc_error_set(err, TC_ERR_SCHEMA, p, "expected a string");
        size_t len = strlen(label->valuestring);
        if (len >= TC_MAX_LABEL_BYTES)
            return tc_error_set(err, TC_ERR_RANGE, p, "label is longer than %d bytes",
                                TC_MAX_LABEL_BYTES - 1);
        model->labels[i] = TC_MALLOC(len + 1);
        if (model->labels[i] == NULL)
            return tc_error_set(err, TC_ERR_NOMEM, p, "out of memory");
        memcpy(model->labels[i], label->valuestring, len + 1);
        i++;
    }
    return TC_OK;
}

static tc_status build_model(tc_model *model, const cJSON *root, const char *base_dir,
                             tc_error *err)
{
    tc_status st = parse_header(model, root, err);
    if (st != TC_OK)
        return st;
    char weights_file[512] = "";
    if ((st = tc_json_string(root, "weights_file", "", TC_OPTIONAL, weights_file,
                             sizeof weights_file, err)))
        return st;
    const cJSON *layers = tc_json_get(root, "layers");
    int n = cJSON_IsArray(layers) ? cJSON_GetArraySize(layers) : -1;
    if (layers == NULL)
        return tc_error_set(err, TC_ERR_SCHEMA, "layers", "required field is missing");
    if (n > model->limits.max_layers)
        return tc_error_set(err, TC_ERR_LIMIT, "layers",
                            "%d layers, above the limit max_layers = %d", n,
                            model->limits.max_layers);
    if (n < 1)
        return tc_error_set(err, n < 0 ? TC_ERR_SCHEMA : TC_ERR_RANGE, "layers",
                            "expected an array of 1 to %d layers", model->limits.max_layers);
    model->layers = TC_CALLOC((size_t)n, sizeof *model->layers);
    if (model->layers == NULL)
        return tc_error_set(err, TC_ERR_NOMEM, "layers", "out of memory");
    model->n_layers = n;
    tc_name_table names;
    if (tc_name_table_init(&names, n) != TC_OK)
        return tc_error_set(err, TC_ERR_NOMEM, "layers", "out of memory");
    st = collect_names(model, layers, &names, err);
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, layers) {
        if (st != TC_OK)
            break;
        st = parse_layer(&model->layers[i++], item, &names, err);
    }
    if (st == TC_OK)
        st = parse_outputs(model, root, &names, err);
    tc_name_table_free(&names);
    if (st == TC_OK)
        st = infer_shapes(model, err);
    if (st == TC_OK)
        st = parse_labels(model, root, err);
    if (st == TC_OK) {
        tc_fuse_plan(model);
        st = tc_plan_memory(model, err);
    }
    if (st == TC_OK)
        st = tc_weights_load(model, base_dir, weights_file, err);
    for (int k = 0; k < model->n_layers && st == TC_OK; k++) {
        const tc_layer *l = &model->layers[k];
        if (l->ops->check_weights != NULL)
            st = l->ops->check_weights(l, err);
    }
    if (st == TC_OK)
        st = tc_fuse_fold(model, err);
    for (int k = 0; k < model->n_layers && st == TC_OK; k++) {
        tc_layer *l = &model->layers[k];
        if (l->ops->prepare != NULL)
            st = l->ops->prepare(l, err);
    }
    return st;
}

tc_status tc_model_load_buffer(const char *json, size_t json_len, const char *base_dir,
                               const char *name, const tc_limits *limits, tc_model **out,
                               tc_error *err)
{
    tc_error_clear(err);
    if (out == NULL)
        return tc_error_set(err, TC_ERR_ARGUMENT, "", "out must not be NULL");
    *out = NULL;
    if (json == NULL)
        return tc_error_set(err, TC_ERR_ARGUMENT, "", "json must not be NULL");
    tc_limits lim;
    if (limits != NULL)
        lim = *limits;
    else
        tc_limits_default(&lim);
    tc_status st;
    if (json_len > lim.max_json_bytes) {
        st = tc_error_set(err, TC_ERR_LIMIT, "",
                          "the model JSON is %zu bytes, above the limit max_json_bytes = %zu",
                          json_len, lim.max_json_bytes);
        tc_error_set_file(err, name);
        return st;
    }
    cJSON *root = NULL;
    st = parse_json(json, json_len, &root, err);
    tc_model *model = NULL;
    if (st == TC_OK) {
        model = TC_CALLOC(1, sizeof *model);
        if (model == NULL)
            st = tc_error_set(err, TC_ERR_NOMEM, "", "out of memory");
    }
    if (st == TC_OK) {
        model->limits = lim;
        snprintf(model->file, sizeof model->file, "%s", name ? name : "");
        st = build_model(model, root, base_dir, err);
    }
    cJSON_Delete(root);
    if (st != TC_OK) {
        tc_model_free(model);
        tc_error_set_file(err, name);
        return st;
    }
    *out = model;
    return TC_OK;
}

/* Directory part of path ("." if none). */
static void dir_of(const char *path, char *out, size_t out_len)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(out, out_len, ".");
    else if (slash == path)
        snprintf(out, out_len, "/");
    else
        snprintf(out, out_len, "%.*s", (int)(slash - path), path);
}

tc_status tc_model_load(const char *json_path, const tc_limits *limits, tc_model **out,
                        tc_error *err)
{
    tc_error_clear(err);
    if (out == NULL || json_path == NULL)
        return tc_error_set(err, TC_ERR_ARGUMENT, "", "json_path and out must not be NULL");
    *out = NULL;
    tc_limits lim;
    if (limits != NULL)
        lim = *limits;
    else
        tc_limits_default(&lim);
    struct stat sb;
    FILE *f = fopen(json_path, "rb");
    tc_status st = TC_OK;
    if (f == NULL || fstat(fileno(f), &sb) != 0)
        st = tc_error_set(err, TC_ERR_IO, "", "cannot open the model file");
    else if (!S_ISREG(sb.st_mode))
        st = tc_error_set(err, TC_ERR_IO, "", "not a regular file");
    else if ((uint64_t)sb.st_size > lim.max_json_bytes)
        st = tc_error_set(err, TC_ERR_LIMIT, "",
                          "the model JSON is %lld bytes, above the limit max_json_bytes = %zu",
                          (long long)sb.st_size, lim.max_json_bytes);
    char *text = NULL;
    size_t len = st == TC_OK ? (size_t)sb.st_size : 0;
    if (st == TC_OK && (text = TC_MALLOC(len + 1)) == NULL)
        st = tc_error_set(err, TC_ERR_NOMEM, "", "cannot allocate %zu bytes", len + 1);
    if (st == TC_OK && fread(text, 1, len, f) != len)
        st = tc_error_set(err, TC_ERR_IO, "", "could not read the model file");
    if (f != NULL)
        fclose(f);
    if (st == TC_OK) {
        text[len] = '\0';
        char dir[1024];
        dir_of(json_path, dir, sizeof dir);
        st = tc_model_load_buffer(text, len, dir, json_path, &lim, out, err);
    }
    TC_FREE(text);
    tc_error_set_file(err, json_path);
    return st;
}

void tc_model_free(tc_model *model)
{
    if (model == NULL)
        return;
    for (int i = 0; i < model->n_layers; i++) {
        tc_layer *l = &model->layers[i];
        if (l->ops != NULL && l->ops->destroy != NULL)
            l->ops->destroy(l);
        TC_FREE(l->params);
        TC_FREE(l->fused_weights);
    }
    TC_FREE(model->layers);
    for (int i = 0; i < model->n_labels; i++)
        TC_FREE(model->labels[i]);
    TC_FREE(model->labels);
    TC_FREE(model->slots);
    TC_FREE(model->weights);
    TC_FREE(model);
}
