/* cli_predict.c - `tinycnn predict`: images in, top classes and probabilities out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_limits.h"

#define MAX_PATH_LEN 4096

static const char predict_usage[] =
    "usage: tinycnn predict -m MODEL IMAGE... [--top K] [--json] [--batch N]\n"
    "\n"
    "Classifies each IMAGE (PNG, JPEG, BMP, PGM/PPM) with MODEL, preprocessed as the model's\n"
    "\"preprocess\" says, and prints its top K classes. An IMAGE of `-` reads image paths from\n"
    "stdin, one per line. An image that cannot be read gets one line on stderr; the others\n"
    "still run, and the exit status is then 2.\n"
    "\n"
    "options:\n"
    "  -m, --model MODEL  model JSON (format version 1)\n"
    "  -k, --top K        classes to show per image (default 5)\n"
    "  --json             one JSON object per line and image:\n"
    "                     {\"file\": ..., \"top\": [{\"index\", \"label\", \"prob\"}...], \"probs\": [...]}\n"
    "  -b, --batch N      images per forward pass (default 16)\n"
    "  -h, --help         this help\n";

typedef struct predict_opts {
    const char *model_path;
    int top;
    int batch;
    bool json;
    cli_limits limits;
} predict_opts;

/* The batch being filled: paths and their preprocessed tensors. */
typedef struct batch_state {
    const tc_model *model;
    tc_workspace *ws;
    const predict_opts *opts;
    int n;                 /* images in the batch */
    char **paths;          /* opts->batch entries of MAX_PATH_LEN */
    float *inputs;         /* opts->batch * input_numel */
    int *order;            /* class indices, sorted per image */
    bool any_failed;
} batch_state;

static void print_json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

/* Sorts class indices by descending score (ties: lower index first); insertion sort on the
 * top k only, so a model with many classes stays cheap. */
static void top_k(const float *scores, int n, int k, int *order)
{
    for (int i = 0; i < k; i++)
        order[i] = -1;
    for (int c = 0; c < n; c++) {
        int pos = k;
        while (pos > 0 && (order[pos - 1] < 0 || scores[c] > scores[order[pos - 1]]))
            pos--;
        if (pos >= k)
            continue;
        memmove(order + pos + 1, order + pos, (size_t)(k - pos - 1) * sizeof *order);
        order[pos] = c;
    }
}

static void print_result(const batch_state *b, const char *path, const float *scores)
{
    int n = tc_model_num_classes(b->model);
    int k = b->opts->top < n ? b->opts->top : n;
    top_k(scores, n, k, b->order);
    if (b->opts->json) {
        printf("{\"file\": ");
        print_json_string(path);
        printf(", \"top\": [");
        for (int i = 0; i < k; i++) {
            int c = b->order[i];
            printf("%s{\"index\": %d, \"label\": ", i ? ", " : "", c);
            const char *label = tc_model_label(b->model, c);
            if (label)
                print_json_string(label);
            else
                printf("\"%d\"", c);
            printf(", \"prob\": %.9g}", (double)scores[c]);
        }
        printf("], \"probs\": [");
        for (int c = 0; c < n; c++)
            printf("%s%.9g", c ? ", " : "", (double)scores[c]);
        printf("]}\n");
        return;
    }
    printf("%s\n", path);
    for (int i = 0; i < k; i++) {
        int c = b->order[i];
        const char *label = tc_model_label(b->model, c);
        char index[16];
        snprintf(index, sizeof index, "%d", c);
        printf("  %2d. %-24s %10.6f\n", i + 1, label ? label : index, (double)scores[c]);
    }
}

static int flush_batch(batch_state *b)
{
    if (b->n == 0)
        return EXIT_OK;
    tc_error err;
    if (tc_model_run(b->model, b->ws, b->inputs, b->n, &err) != TC_OK)
        return cli_report(&err);
    const float *out = tc_workspace_output(b->ws, 0);
    size_t classes = tc_model_output_numel(b->model, 0);
    for (int i = 0; i < b->n; i++)
        print_result(b, b->paths[i], out + (size_t)i * classes);
    fflush(stdout);
    b->n = 0;
    return EXIT_OK;
}

/* Decodes and preprocesses one image into the batch; runs the batch when it is full. */
static int add_image(batch_state *b, const char *path)
{
    tc_image img;
    tc_error err;
    size_t numel = tc_model_input_numel(b->model);
    float *slot = b->inputs + (size_t)b->n * numel;
    if (tc_image_load(path, b->opts->limits.max_pixels, &img, &err) != TC_OK ||
        tc_image_to_tensor(&img, tc_model_preprocess(b->model), tc_model_input_shape(b->model),
                           slot, &err) != TC_OK) {
        tc_image_free(&img);
        if (err.file[0] == '\0')
            snprintf(err.file, sizeof err.file, "%s", path);
        int status = cli_report(&err);
        b->any_failed = true;
        return status == EXIT_RUNTIME ? EXIT_RUNTIME : EXIT_OK;
    }
    tc_image_free(&img);
    snprintf(b->paths[b->n++], MAX_PATH_LEN, "%s", path);
    return b->n == b->opts->batch ? flush_batch(b) : EXIT_OK;
}

static int add_stdin_paths(batch_state *b)
{
    char line[MAX_PATH_LEN];
    while (fgets(line, sizeof line, stdin) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0')
            continue;
        int status = add_image(b, line);
        if (status != EXIT_OK)
            return status;
    }
    return EXIT_OK;
}

/* Parses a positive integer option value; 0 on error. */
static int positive_int(const char *s, int max)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    return end != s && *end == '\0' && v >= 1 && v <= max ? (int)v : 0;
}

static int parse_args(int argc, char **argv, predict_opts *o, const char **images, int *n_images)
{
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        bool missing = false;
        bool bad_limit = false;
        if (cli_is_help(argv[i])) {
            fputs(predict_usage, stdout);
            cli_limits_usage(stdout);
            return -1;
        } else if (strcmp(argv[i], "--json") == 0) {
            o->json = true;
        } else if (cli_take_value(argc, argv, &i, "-m", "--model", &value, &missing)) {
            o->model_path = value;
        } else if (cli_take_value(argc, argv, &i, "-k", "--top", &value, &missing)) {
            if (!missing && (o->top = positive_int(value, 1 << 20)) == 0) {
                cli_error("predict: --top needs a positive integer, got \"%s\"", value);
                return EXIT_USAGE;
            }
        } else if (cli_take_value(argc, argv, &i, "-b", "--batch", &value, &missing)) {
            if (!missing && (o->batch = positive_int(value, 4096)) == 0) {
                cli_error("predict: --batch needs an integer in 1..4096, got \"%s\"", value);
                return EXIT_USAGE;
            }
        } else if (cli_take_limit(argc, argv, &i, "predict", &o->limits, &bad_limit)) {
            if (bad_limit)
                return EXIT_USAGE;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            cli_error("predict: unknown option \"%s\" (try `tinycnn predict --help`)", argv[i]);
            return EXIT_USAGE;
        } else {
            images[(*n_images)++] = argv[i];
        }
        if (missing) {
            cli_error("predict: %s needs a value", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (o->model_path == NULL || *n_images == 0) {
        cli_error("predict: %s (try `tinycnn predict --help`)",
                  o->model_path == NULL ? "-m MODEL is required" : "no images given");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

static void print_header(const tc_model *model, const char *path)
{
    const char *name = tc_model_name(model)[0] ? tc_model_name(model) : path;
    if (tc_model_output_is_probability(model, 0))
        printf("model: %s (%d classes, class probabilities)\n", name, tc_model_num_classes(model));
    else
        printf("model: %s (%d outputs; NOT probabilities: the model does not end in softmax, "
               "these are raw scores)\n", name, tc_model_num_classes(model));
}

int cli_predict(int argc, char **argv)
{
    predict_opts opts = {NULL, 5, 16, false, {{0}, 0}};
    cli_limits_default(&opts.limits);
    const char **images = malloc((size_t)argc * sizeof *images);
    if (images == NULL) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    int n_images = 0;
    int status = parse_args(argc, argv, &opts, images, &n_images);
    if (status != EXIT_OK) {
        free(images);
        return status < 0 ? EXIT_OK : status;
    }
    tc_error err;
    tc_model *model = NULL;
    batch_state b = {0};
    if (opts.batch > opts.limits.model.max_batch)
        opts.batch = opts.limits.model.max_batch; /* --max-batch caps --batch */
    if (tc_model_load(opts.model_path, &opts.limits.model, &model, &err) != TC_OK) {
        free(images);
        return cli_report(&err);
    }
    tc_shape in = tc_model_input_shape(model);
    b.model = model;
    b.opts = &opts;
    b.paths = calloc((size_t)opts.batch, sizeof *b.paths);
    b.inputs = malloc((size_t)opts.batch * tc_model_input_numel(model) * sizeof(float));
    b.order = malloc((size_t)tc_model_num_classes(model) * sizeof(int));
    for (int i = 0; b.paths && i < opts.batch; i++) {
        if ((b.paths[i] = malloc(MAX_PATH_LEN)) == NULL)
            status = EXIT_RUNTIME;
    }
    if (in.ndim < 2 || in.ndim > 3 || (in.ndim == 3 && in.dim[0] != 1 && in.dim[0] != 3)) {
        char s[64];
        cli_error("%s: input: the model input %s is not an image ([1 or 3, H, W] or [H, W])",
                  opts.model_path, tc_shape_str(&in, s, sizeof s));
        status = EXIT_USAGE;
    } else if (!b.paths || !b.inputs || !b.order || status != EXIT_OK) {
        cli_error("out of memory");
        status = EXIT_RUNTIME;
    } else if (tc_workspace_create(model, opts.batch, &b.ws, &err) != TC_OK) {
        status = cli_report(&err);
    }
    if (status == EXIT_OK && !opts.json)
        print_header(model, opts.model_path);
    for (int i = 0; i < n_images && status == EXIT_OK; i++)
        status = strcmp(images[i], "-") == 0 ? add_stdin_paths(&b) : add_image(&b, images[i]);
    if (status == EXIT_OK)
        status = flush_batch(&b);
    if (status == EXIT_OK && b.any_failed)
        status = EXIT_USAGE;
    for (int i = 0; b.paths && i < opts.batch; i++)
        free(b.paths[i]);
    free(b.paths);
    free(b.inputs);
    free(b.order);
    tc_workspace_free(b.ws);
    tc_model_free(model);
    free(images);
    return status;
}
