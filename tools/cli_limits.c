/* cli_limits.c - parsing of the resource-limit options shared by all commands (cli_limits.h). */
#include <stdint.h>
#include <string.h>

#include "cli.h"
#include "cli_limits.h"

typedef enum limit_field {
    JSON_BYTES,
    LAYERS,
    TENSOR_ELEMENTS,
    ARENA_BYTES,
    WEIGHT_BYTES,
    BATCH,
    PIXELS
} limit_field;

typedef struct limit_option {
    const char *name;  /* long option */
    limit_field field;
    uint64_t max;      /* largest accepted value */
    const char *what;  /* for --help */
} limit_option;

static const limit_option options[] = {
    {"--max-json-bytes", JSON_BYTES, SIZE_MAX, "bytes of the model JSON"},
    {"--max-layers", LAYERS, INT32_MAX, "layers of a model"},
    {"--max-tensor-elements", TENSOR_ELEMENTS, SIZE_MAX,
     "elements of one tensor or weight (per sample)"},
    {"--max-arena-bytes", ARENA_BYTES, SIZE_MAX, "activation memory of one workspace"},
    {"--max-weight-bytes", WEIGHT_BYTES, SIZE_MAX, "bytes of all weights and of the weights file"},
    {"--max-batch", BATCH, INT32_MAX, "samples a workspace may hold"},
    {"--max-pixels", PIXELS, SIZE_MAX, "pixels of one image"},
};
#define N_OPTIONS (sizeof options / sizeof options[0])

void cli_limits_default(cli_limits *lim)
{
    tc_limits_default(&lim->model);
    lim->max_pixels = TC_DEFAULT_MAX_PIXELS;
}

static uint64_t get(const cli_limits *lim, limit_field f)
{
    switch (f) {
    case JSON_BYTES: return lim->model.max_json_bytes;
    case LAYERS: return (uint64_t)lim->model.max_layers;
    case TENSOR_ELEMENTS: return lim->model.max_tensor_elements;
    case ARENA_BYTES: return lim->model.max_arena_bytes;
    case WEIGHT_BYTES: return lim->model.max_weight_bytes;
    case BATCH: return (uint64_t)lim->model.max_batch;
    case PIXELS: return lim->max_pixels;
    }
    return 0;
}

static void set(cli_limits *lim, limit_field f, uint64_t v)
{
    switch (f) {
    case JSON_BYTES: lim->model.max_json_bytes = (size_t)v; break;
    case LAYERS: lim->model.max_layers = (int32_t)v; break;
    case TENSOR_ELEMENTS: lim->model.max_tensor_elements = (size_t)v; break;
    case ARENA_BYTES: lim->model.max_arena_bytes = (size_t)v; break;
    case WEIGHT_BYTES: lim->model.max_weight_bytes = (size_t)v; break;
    case BATCH: lim->model.max_batch = (int32_t)v; break;
    case PIXELS: lim->max_pixels = (size_t)v; break;
    }
}

/* Parses "123", "64K", "2G" into *out (1..max); false if it is not such a number. */
static bool parse_size(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return false;
        v = v * 10 + digit;
    }
    if (p == s)
        return false;
    int shift = 0;
    if (*p != '\0') {
        const char *units = "KMG";
        const char *u = strchr(units, *p);
        if (u == NULL || p[1] != '\0')
            return false;
        shift = 10 * (int)(u - units + 1);
    }
    if (v > (max >> shift) || v == 0)
        return false;
    *out = v << shift;
    return true;
}

bool cli_take_limit(int argc, char **argv, int *i, const char *cmd, cli_limits *lim, bool *bad)
{
    *bad = false;
    for (size_t k = 0; k < N_OPTIONS; k++) {
        const char *value = NULL;
        bool missing = false;
        if (!cli_take_value(argc, argv, i, NULL, options[k].name, &value, &missing))
            continue;
        uint64_t v = 0;
        if (missing) {
            cli_error("%s: %s needs a value", cmd, options[k].name);
            *bad = true;
        } else if (!parse_size(value, options[k].max, &v)) {
            cli_error("%s: %s needs a positive integer (optionally ending in K, M or G) of at "
                      "most %llu, got \"%s\"", cmd, options[k].name,
                      (unsigned long long)options[k].max, value);
            *bad = true;
        } else {
            set(lim, options[k].field, v);
        }
        return true;
    }
    return false;
}

/* Formats v as "64M" when it is a whole number of K, M or G, else as plain digits. */
static const char *size_str(uint64_t v, char *buf, size_t len)
{
    const char *units = "GMK";
    for (int u = 0; u < 3; u++) {
        int shift = 10 * (3 - u);
        if (v >= ((uint64_t)1 << shift) && v % ((uint64_t)1 << shift) == 0) {
            snprintf(buf, len, "%llu%c", (unsigned long long)(v >> shift), units[u]);
            return buf;
        }
    }
    snprintf(buf, len, "%llu", (unsigned long long)v);
    return buf;
}

void cli_limits_usage(FILE *f)
{
    cli_limits def;
    cli_limits_default(&def);
    fputs("\nlimits (see docs/limits.md; N may end in K, M or G: times 1024, 1024^2, 1024^3):\n",
          f);
    for (size_t k = 0; k < N_OPTIONS; k++) {
        char opt[40];
        char value[32];
        snprintf(opt, sizeof opt, "%s N", options[k].name);
        uint64_t v = get(&def, options[k].field);
        bool count = options[k].field == LAYERS || options[k].field == BATCH;
        if (count)
            snprintf(value, sizeof value, "%llu", (unsigned long long)v);
        fprintf(f, "  %-25s %s (default %s)\n", opt, options[k].what,
                count ? value : size_str(v, value, sizeof value));
    }
}
