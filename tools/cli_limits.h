/* cli_limits.h - the resource-limit options every tinycnn command accepts (--max-layers N, ...),
 * mapped onto tc_limits and the image pixel limit. See docs/limits.md. */
#ifndef TC_CLI_LIMITS_H
#define TC_CLI_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "tinycnn.h"

typedef struct cli_limits {
    tc_limits model;   /* passed to tc_model_load */
    size_t max_pixels; /* passed to tc_image_load */
} cli_limits;

/* The library's defaults (tc_limits_default, TC_DEFAULT_MAX_PIXELS). */
void cli_limits_default(cli_limits *lim);

/* Matches a limit option at argv[*i], "--max-layers N" or "--max-layers=N", for command cmd (used
 * in messages). On a match stores the value, advances *i past it and returns true; a missing or
 * invalid value is reported on stderr and sets *bad. N is a positive integer, optionally ending
 * in K, M or G (times 1024, 1024^2, 1024^3). */
bool cli_take_limit(int argc, char **argv, int *i, const char *cmd, cli_limits *lim, bool *bad);

/* Prints the "limits:" part of a command's --help, with the defaults. */
void cli_limits_usage(FILE *f);

#endif
