/* preprocess.c - the model's "preprocess" object: how a decoded image becomes the input tensor. */
#include <math.h>
#include <string.h>

#include "model.h"

tc_status tc_preprocess_parse(const cJSON *obj, const tc_shape *input, tc_preprocess *out,
                              tc_error *err)
{
    static const char *const keys[] = {"scale", "mean", "std", "invert", "background", "resize",
                                       NULL};
    static const char *const resize_modes[] = {"stretch", "letterbox", "center_crop"};
    const char *path = "preprocess";
    memset(out, 0, sizeof *out);
    out->scale = 1.0f;
    for (int c = 0; c < TC_MAX_CHANNELS; c++)
        out->std[c] = 1.0f;
    if (obj == NULL)
        return TC_OK;
    if (!cJSON_IsObject(obj))
        return tc_error_set(err, TC_ERR_SCHEMA, path, "expected an object");
    tc_status st = tc_json_check_keys(obj, path, keys, err);
    if (st != TC_OK)
        return st;
    bool invert = false;
    int resize = 0;
    int n_mean = 0;
    int n_std = 0;
    if ((st = tc_json_float(obj, "scale", path, -1e6, 1e6, TC_OPTIONAL, &out->scale, err)) ||
        (st = tc_json_float_list(obj, "mean", path, 1, TC_MAX_CHANNELS, -1e6, 1e6, TC_OPTIONAL,
                                 out->mean, &n_mean, err)) ||
        (st = tc_json_float_list(obj, "std", path, 1, TC_MAX_CHANNELS, 1e-12, 1e6, TC_OPTIONAL,
                                 out->std, &n_std, err)) ||
        (st = tc_json_bool(obj, "invert", path, TC_OPTIONAL, &invert, err)) ||
        (st = tc_json_float(obj, "background", path, 0, 255, TC_OPTIONAL, &out->background,
                            err)) ||
        (st = tc_json_enum(obj, "resize", path, resize_modes, 3, TC_OPTIONAL, &resize, err)))
        return st;
    out->invert = invert;
    out->resize = (tc_resize_mode)resize;
    int channels = input->ndim == 3 ? input->dim[0] : 1;
    if (n_mean && n_std && n_mean != n_std)
        return tc_error_set(err, TC_ERR_RANGE, path, "mean has %d values but std has %d",
                            n_mean, n_std);
    int n = n_mean > n_std ? n_mean : n_std;
    if (n > 1 && n != channels)
        return tc_error_set(err, TC_ERR_RANGE, path,
                            "mean/std have %d values; expected 1 or one per input channel (%d)",
                            n, channels);
    /* One value means all channels: spread it so users index mean[c] directly. */
    if (n_mean <= 1)
        for (int c = 1; c < TC_MAX_CHANNELS; c++)
            out->mean[c] = out->mean[0];
    if (n_std <= 1)
        for (int c = 1; c < TC_MAX_CHANNELS; c++)
            out->std[c] = out->std[0];
    out->n_mean = n;
    return TC_OK;
}
