/* name_table.c - see name_table.h. */
#include <string.h>

#include "name_table.h"

static size_t hash(const char *s)
{
    size_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

tc_status tc_name_table_init(tc_name_table *t, int max_names)
{
    t->capacity = 16;
    while (t->capacity < (size_t)max_names * 2)
        t->capacity *= 2;
    t->keys = TC_CALLOC(t->capacity, sizeof *t->keys);
    t->values = TC_CALLOC(t->capacity, sizeof *t->values);
    if (t->keys == NULL || t->values == NULL) {
        tc_name_table_free(t);
        return TC_ERR_NOMEM;
    }
    return TC_OK;
}

tc_status tc_name_table_add(tc_name_table *t, const char *name, int value)
{
    size_t mask = t->capacity - 1;
    for (size_t i = hash(name) & mask, probes = 0; probes < t->capacity; i = (i + 1) & mask, probes++) {
        if (t->keys[i] == NULL) {
            t->keys[i] = name;
            t->values[i] = value;
            return TC_OK;
        }
    }
    return TC_ERR_INTERNAL;
}

int tc_name_table_find(const tc_name_table *t, const char *name)
{
    size_t mask = t->capacity - 1;
    for (size_t i = hash(name) & mask, probes = 0; probes < t->capacity; i = (i + 1) & mask, probes++) {
        if (t->keys[i] == NULL)
            return -2;
        if (strcmp(t->keys[i], name) == 0)
            return t->values[i];
    }
    return -2;
}

void tc_name_table_free(tc_name_table *t)
{
    TC_FREE(t->keys);
    TC_FREE(t->values);
    t->keys = NULL;
    t->values = NULL;
}
