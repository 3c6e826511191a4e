/* cli_eval.c - `tinycnn eval`: accuracy, per-class accuracy and confusion matrix on an idx set. */
#define _POSIX_C_SOURCE 200809L /* isatty, fileno */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_limits.h"

static const char eval_usage[] =
    "usage: tinycnn eval -m MODEL --images IDX --labels IDX [--json] [--batch N]\n"
    "\n"
    "Classifies every image of an idx data set (MNIST's format, gzipped or not) with MODEL,\n"
    "preprocessed as the model's \"preprocess\" says, and prints the accuracy, the accuracy per\n"
    "class and the confusion matrix (rows: true class, columns: predicted). A progress bar is\n"
    "shown on a terminal.\n"
    "\n"
    "options:\n"
    "  -m, --model MODEL   model JSON (format version 1)\n"
    "  --images IDX        images, [N, H, W] unsigned bytes; H x W must be the model's input size\n"
    "  --labels IDX        labels, [N] unsigned bytes\n"
    "  --json              print one JSON object: accuracy, correct, total, per_class, confusion\n"
    "  -b, --batch N       images per forward pass (default 64)\n"
    "  -h, --help          this help\n";

typedef struct eval_opts {
    const char *model_path;
    const char *images_path;
    const char *labels_path;
    int batch;
    bool json;
    cli_limits limits;
} eval_opts;

static int argmax(const float *v, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++) {
        if (v[i] > v[best])
            best = i;
    }
    return (int)best;
}

static void progress(size_t done, size_t total, double seconds)
{
    int width = 40;
    int filled = (int)((double)width * (double)done / (double)total);
    fprintf(stderr, "\r[%.*s%*s] %zu/%zu images, %.1f s", filled,
            "########################################", width - filled, "", done, total, seconds);
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}

static void print_text(const tc_model *model, const uint64_t *confusion, int classes,
                       size_t correct, size_t total)
{
    printf("accuracy: %.4f (%zu of %zu)\n\nper class:\n", (double)correct / (double)total,
           correct, total);
    for (int c = 0; c < classes; c++) {
        uint64_t n = 0;
        for (int p = 0; p < classes; p++)
            n += confusion[c * classes + p];
        const char *label = tc_model_label(model, c);
        printf("  %3d %-20s %8.4f (%llu of %llu)\n", c, label ? label : "",
               n ? (double)confusion[c * classes + c] / (double)n : 0.0,
               (unsigned long long)confusion[c * classes + c], (unsigned long long)n);
    }
    printf("\nconfusion matrix (rows: true class, columns: predicted):\n     ");
    for (int p = 0; p < classes; p++)
        printf("%6d", p);
    printf("\n");
    for (int c = 0; c < classes; c++) {
        printf("  %3d", c);
        for (int p = 0; p < classes; p++)
            printf("%6llu", (unsigned long long)confusion[c * classes + p]);
        printf("\n");
    }
}

static void print_json(const uint64_t *confusion, int classes, size_t correct, size_t total)
{
    printf("{\"accuracy\": %.6f, \"correct\": %zu, \"total\": %zu, \"per_class\": [",
           (double)correct / (double)total, correct, total);
    for (int c = 0; c < classes; c++) {
        uint64_t n = 0;
        for (int p = 0; p < classes; p++)
            n += confusion[c * classes + p];
        printf("%s%.6f", c ? ", " : "", n ? (double)confusion[c * classes + c] / (double)n : 0.0);
    }
    printf("], \"confusion\": [");
    for (int c = 0; c < classes; c++) {
        printf("%s[", c ? ", " : "");
        for (int p = 0; p < classes; p++)
            printf("%s%llu", p ? ", " : "", (unsigned long long)confusion[c * classes + p]);
        printf("]");
    }
    printf("]}\n");
}

/* Checks the data set against the model; prints the problem and returns EXIT_USAGE if it does
 * not fit. */
static int check_dataset(const tc_model *model, const eval_opts *o, const tc_idx *images,
                         const tc_idx *labels)
{
    tc_shape in = tc_model_input_shape(model);
    int h = in.ndim == 3 ? in.dim[1] : in.dim[0];
    int w = in.ndim == 3 ? in.dim[2] : (in.ndim == 2 ? in.dim[1] : 0);
    if (images->ndim != 3) {
        cli_error("%s: expected images of shape [N, H, W], got %d dimensions", o->images_path,
                  (int)images->ndim);
        return EXIT_USAGE;
    }
    if (labels->ndim != 1) {
        cli_error("%s: expected labels of shape [N], got %d dimensions", o->labels_path,
                  (int)labels->ndim);
        return EXIT_USAGE;
    }
    if (images->dim[0] != labels->dim[0]) {
        cli_error("%s: %lld labels for %lld images in %s", o->labels_path,
                  (long long)labels->dim[0], (long long)images->dim[0], o->images_path);
        return EXIT_USAGE;
    }
    if (images->dim[0] == 0) {
        cli_error("%s: the data set is empty", o->images_path);
        return EXIT_USAGE;
    }
    if (images->dim[1] != h || images->dim[2] != w) {
        char s[64];
        cli_error("%s: images are %lld x %lld but the model input is %s", o->images_path,
                  (long long)images->dim[1], (long long)images->dim[2],
                  tc_shape_str(&in, s, sizeof s));
        return EXIT_USAGE;
    }
    int classes = tc_model_num_classes(model);
    for (size_t i = 0; i < labels->numel; i++) {
        if (labels->data[i] >= classes) {
            cli_error("%s: label %zu is %d but the model has %d classes", o->labels_path, i,
                      labels->data[i], classes);
            return EXIT_USAGE;
        }
    }
    return EXIT_OK;
}

/* Runs every image; fills confusion (classes x classes). */
static int evaluate(const tc_model *model, const eval_opts *o, const tc_idx *images,
                    const tc_idx *labels, uint64_t *confusion, size_t *correct)
{
    size_t n = (size_t)images->dim[0];
    int h = (int)images->dim[1];
    int w = (int)images->dim[2];
    size_t in_numel = tc_model_input_numel(model);
    size_t classes = tc_model_output_numel(model, 0);
    bool show = isatty(fileno(stderr)) != 0;
    float *inputs = malloc((size_t)o->batch * in_numel * sizeof(float));
    tc_workspace *ws = NULL;
    tc_error err;
    if (inputs == NULL) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    if (tc_workspace_create(model, o->batch, &ws, &err) != TC_OK) {
        free(inputs);
        return cli_report(&err);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int status = EXIT_OK;
    *correct = 0;
    for (size_t start = 0; start < n && status == EXIT_OK; start += (size_t)o->batch) {
        int b = n - start < (size_t)o->batch ? (int)(n - start) : o->batch;
        for (int i = 0; i < b && status == EXIT_OK; i++) {
            tc_image img = {w, h, 1, images->data + (start + (size_t)i) * (size_t)(w * h)};
            if (tc_image_to_tensor(&img, tc_model_preprocess(model), tc_model_input_shape(model),
                                   inputs + (size_t)i * in_numel, &err) != TC_OK)
                status = cli_report(&err);
        }
        if (status == EXIT_OK && tc_model_run(model, ws, inputs, b, &err) != TC_OK)
            status = cli_report(&err);
        const float *out = tc_workspace_output(ws, 0);
        for (int i = 0; i < b && status == EXIT_OK; i++) {
            int truth = labels->data[start + (size_t)i];
            int pred = argmax(out + (size_t)i * classes, classes);
            confusion[(size_t)truth * classes + (size_t)pred]++;
            *correct += pred == truth;
        }
        if (show) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            progress(start + (size_t)b, n,
                     (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
        }
    }
    tc_workspace_free(ws);
    free(inputs);
    return status;
}

static int parse_args(int argc, char **argv, eval_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        bool missing = false;
        bool bad_limit = false;
        if (cli_is_help(argv[i])) {
            fputs(eval_usage, stdout);
            cli_limits_usage(stdout);
            return -1;
        } else if (strcmp(argv[i], "--json") == 0) {
            o->json = true;
        } else if (cli_take_value(argc, argv, &i, "-m", "--model", &value, &missing)) {
            o->model_path = value;
        } else if (cli_take_value(argc, argv, &i, NULL, "--images", &value, &missing)) {
            o->images_path = value;
        } else if (cli_take_value(argc, argv, &i, NULL, "--labels", &value, &missing)) {
            o->labels_path = value;
        } else if (cli_take_value(argc, argv, &i, "-b", "--batch", &value, &missing)) {
            char *end = NULL;
            long v = missing ? 0 : strtol(value, &end, 10);
            if (!missing && (end == value || *end != '\0' || v < 1 || v > 4096)) {
                cli_error("eval: --batch needs an integer in 1..4096, got \"%s\"", value);
                return EXIT_USAGE;
            }
            o->batch = (int)v;
        } else if (cli_take_limit(argc, argv, &i, "eval", &o->limits, &bad_limit)) {
            if (bad_limit)
                return EXIT_USAGE;
        } else {
            cli_error("eval: unknown argument \"%s\" (try `tinycnn eval --help`)", argv[i]);
            return EXIT_USAGE;
        }
        if (missing) {
            cli_error("eval: %s needs a value", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!o->model_path || !o->images_path || !o->labels_path) {
        cli_error("eval: %s is required (try `tinycnn eval --help`)",
                  !o->model_path ? "-m MODEL" : !o->images_path ? "--images IDX" : "--labels IDX");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

int cli_eval(int argc, char **argv)
{
    eval_opts o = {NULL, NULL, NULL, 64, false, {{0}, 0}};
    cli_limits_default(&o.limits);
    int status = parse_args(argc, argv, &o);
    if (status != EXIT_OK)
        return status < 0 ? EXIT_OK : status;
    tc_error err;
    tc_model *model = NULL;
    tc_idx images = {0};
    tc_idx labels = {0};
    if (o.batch > o.limits.model.max_batch)
        o.batch = o.limits.model.max_batch; /* --max-batch caps --batch */
    if (tc_model_load(o.model_path, &o.limits.model, &model, &err) != TC_OK)
        return cli_report(&err);
    tc_shape in = tc_model_input_shape(model);
    if (in.ndim < 2 || in.ndim > 3 || (in.ndim == 3 && in.dim[0] != 1 && in.dim[0] != 3)) {
        char s[64];
        cli_error("%s: input: the model input %s is not an image ([1 or 3, H, W] or [H, W])",
                  o.model_path, tc_shape_str(&in, s, sizeof s));
        status = EXIT_USAGE;
    } else if (tc_idx_read(o.images_path, &images, &err) != TC_OK ||
               tc_idx_read(o.labels_path, &labels, &err) != TC_OK) {
        status = cli_report(&err);
    } else {
        status = check_dataset(model, &o, &images, &labels);
    }
    int classes = tc_model_num_classes(model);
    uint64_t *confusion = calloc((size_t)classes * (size_t)classes, sizeof *confusion);
    size_t correct = 0;
    if (status == EXIT_OK && confusion == NULL) {
        cli_error("out of memory");
        status = EXIT_RUNTIME;
    }
    if (status == EXIT_OK)
        status = evaluate(model, &o, &images, &labels, confusion, &correct);
    if (status == EXIT_OK && o.json)
        print_json(confusion, classes, correct, (size_t)images.dim[0]);
    else if (status == EXIT_OK)
        print_text(model, confusion, classes, correct, (size_t)images.dim[0]);
    free(confusion);
    tc_idx_free(&images);
    tc_idx_free(&labels);
    tc_model_free(model);
    return status;
}
