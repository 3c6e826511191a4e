/* name_table.h - layer name -> index lookup (open addressing), so that big graphs load in
 * linear time. Used only while loading. */
#ifndef TC_NAME_TABLE_H
#define TC_NAME_TABLE_H

#include "tc_internal.h"

typedef struct tc_name_table {
    size_t capacity;     /* power of two, at least twice the number of names */
    const char **keys;   /* borrowed: the names live in the layers */
    int *values;
} tc_name_table;

tc_status tc_name_table_init(tc_name_table *t, int max_names);
/* Adds name -> value (name must not be present yet). */
tc_status tc_name_table_add(tc_name_table *t, const char *name, int value);
/* The value for name, or -2 if absent (-1 is TC_INPUT_MODEL, so never used here). */
int tc_name_table_find(const tc_name_table *t, const char *name);
void tc_name_table_free(tc_name_table *t);

#endif
