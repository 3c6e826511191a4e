/* registry.c - the table of layer types, built from layers/layer_list.h. */
#include <assert.h>
#include <string.h>

#include "tc_internal.h"

#define TC_LAYER(name) extern const tc_layer_ops tc_layer_##name;
#include "layer_list.h"
#undef TC_LAYER

static const tc_layer_ops *const all_ops[] = {
#define TC_LAYER(name) &tc_layer_##name,
#include "layer_list.h"
#undef TC_LAYER
};

enum {
#define TC_LAYER(name) TC_LAYER_ID_##name,
#include "layer_list.h"
#undef TC_LAYER
    TC_LAYER_COUNT
};

static_assert(sizeof all_ops / sizeof all_ops[0] == TC_LAYER_COUNT,
              "registry table and layer_list.h disagree");

const tc_layer_ops *tc_layer_ops_find(const char *type)
{
    for (int i = 0; i < TC_LAYER_COUNT; i++) {
        if (strcmp(all_ops[i]->type, type) == 0)
            return all_ops[i];
    }
    return NULL;
}

const tc_layer_ops *const *tc_layer_ops_all(int *n)
{
    *n = TC_LAYER_COUNT;
    return all_ops;
}
