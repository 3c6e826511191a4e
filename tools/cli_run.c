/* cli_run.c - `tinycnn run`: a float32 .npy tensor through a model, into .npy files or stdout. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_limits.h"

#define MAX_OUTPUT_FILES 64
#define CHUNK 256 /* samples per forward pass: bounds the arena for big inputs */

static const char run_usage[] =
    "usage: tinycnn run -m MODEL --input X.npy [--output Y.npy]...\n"
    "\n"
    "Runs MODEL on the float32 tensor in X.npy (C order). X has shape [N, *input_shape] or\n"
    "input_shape alone (N = 1). Each --output names the .npy file for the next model output\n"
    "(shape [N, *output_shape]); with no --output the first output is printed as text.\n"
    "\n"
    "options:\n"
    "  -m, --model MODEL   model JSON (format version 1)\n"
    "  -i, --input X.npy   input tensor\n"
    "  -o, --output Y.npy  output file (repeat for models with several outputs)\n"
    "  --check-finite      stop at the first layer whose output is NaN or infinite, and name it\n"
    "  -h, --help          this help\n";

/* Number of samples in x if it fits the model input, else 0. */
static int64_t batch_of(const tc_array *x, tc_shape in)
{
    int off = x->ndim == in.ndim ? 0 : (x->ndim == in.ndim + 1 ? 1 : -1);
    if (off < 0)
        return 0;
    for (int d = 0; d < in.ndim; d++) {
        if (x->dim[d + off] != in.dim[d])
            return 0;
    }
    return off ? x->dim[0] : 1;
}

static char *array_shape_str(const tc_array *x, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < x->ndim && used < len; d++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", d ? ", " : "",
                                 (long long)x->dim[d]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
    return buf;
}

static void print_output(const float *y, int64_t n, tc_shape s)
{
    size_t per = 1;
    for (int d = 0; d < s.ndim; d++)
        per *= (size_t)s.dim[d];
    size_t row = (size_t)s.dim[s.ndim - 1];
    for (int64_t i = 0; i < n; i++) {
        for (size_t j = 0; j < per; j++)
            printf("%.8g%s", (double)y[(size_t)i * per + j], (j + 1) % row == 0 ? "\n" : " ");
        if (i + 1 < n)
            printf("\n");
    }
}

/* Runs all n samples of x in chunks; outputs[k] receives n * numel(k) floats. */
static int run_all(const tc_model *model, const float *x, int64_t n, bool check_finite,
                   int max_batch, float **outputs)
{
    tc_error err;
    tc_workspace *ws = NULL;
    /* One sample at a time when checking, so that a report names the sample exactly. */
    int chunk = check_finite ? 1 : (n < CHUNK ? (int)n : CHUNK);
    if (chunk > max_batch)
        chunk = max_batch;
    if (tc_workspace_create(model, chunk, &ws, &err) != TC_OK)
        return cli_report(&err);
    size_t in_numel = tc_model_input_numel(model);
    for (int64_t start = 0; start < n; start += chunk) {
        int b = n - start < chunk ? (int)(n - start) : chunk;
        if (tc_model_run_checked(model, ws, x + (size_t)start * in_numel, b, check_finite,
                                 &err) != TC_OK) {
            if (check_finite && err.code == TC_ERR_RANGE) {
                char line[1024];
                cli_error("input sample %lld: %s", (long long)start,
                          tc_error_format(&err, line, sizeof line));
                tc_workspace_free(ws);
                return EXIT_RUNTIME;
            }
            tc_workspace_free(ws);
            return cli_report(&err);
        }
        for (int k = 0; k < tc_model_num_outputs(model); k++) {
            size_t numel = tc_model_output_numel(model, k);
            memcpy(outputs[k] + (size_t)start * numel, tc_workspace_output(ws, k),
                   (size_t)b * numel * sizeof(float));
        }
    }
    tc_workspace_free(ws);
    return EXIT_OK;
}

static int write_outputs(const tc_model *model, float **outputs, int64_t n,
                         const char *const *files, int n_files)
{
    for (int k = 0; k < n_files; k++) {
        tc_shape s = tc_model_output_shape(model, k);
        int64_t dim[TC_MAX_DIMS + 1] = {n};
        for (int d = 0; d < s.ndim; d++)
            dim[d + 1] = s.dim[d];
        tc_error err;
        if (tc_npy_write(files[k], outputs[k], dim, s.ndim + 1, &err) != TC_OK) {
            char line[1024];
            cli_error("%s", tc_error_format(&err, line, sizeof line));
            return EXIT_RUNTIME;
        }
    }
    return EXIT_OK;
}

int cli_run(int argc, char **argv)
{
    const char *model_path = NULL;
    const char *input_path = NULL;
    const char *files[MAX_OUTPUT_FILES];
    int n_files = 0;
    bool check_finite = false;
    cli_limits limits;
    cli_limits_default(&limits);
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        bool missing = false;
        bool bad_limit = false;
        if (cli_is_help(argv[i])) {
            fputs(run_usage, stdout);
            cli_limits_usage(stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--check-finite") == 0) {
            check_finite = true;
        } else if (cli_take_value(argc, argv, &i, "-m", "--model", &value, &missing)) {
            model_path = value;
        } else if (cli_take_value(argc, argv, &i, "-i", "--input", &value, &missing)) {
            input_path = value;
        } else if (cli_take_value(argc, argv, &i, "-o", "--output", &value, &missing)) {
            if (n_files == MAX_OUTPUT_FILES) {
                cli_error("run: at most %d --output files", MAX_OUTPUT_FILES);
                return EXIT_USAGE;
            }
            files[n_files++] = value;
        } else if (cli_take_limit(argc, argv, &i, "run", &limits, &bad_limit)) {
            if (bad_limit)
                return EXIT_USAGE;
        } else {
            cli_error("run: unknown argument \"%s\" (try `tinycnn run --help`)", argv[i]);
            return EXIT_USAGE;
        }
        if (missing) {
            cli_error("run: %s needs a value", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (model_path == NULL || input_path == NULL) {
        cli_error("run: %s is required (try `tinycnn run --help`)",
                  model_path == NULL ? "-m MODEL" : "--input X.npy");
        return EXIT_USAGE;
    }
    tc_error err;
    tc_model *model = NULL;
    if (tc_model_load(model_path, &limits.model, &model, &err) != TC_OK)
        return cli_report(&err);
    int status = EXIT_OK;
    tc_array x = {0};
    float *outputs[MAX_OUTPUT_FILES] = {0};
    int n_outputs = tc_model_num_outputs(model);
    if (n_files > n_outputs) {
        cli_error("run: %d --output files given but the model has %d output(s)", n_files,
                  n_outputs);
        status = EXIT_USAGE;
    } else if (tc_npy_read(input_path, &x, &err) != TC_OK) {
        status = cli_report(&err);
    }
    int64_t n = status == EXIT_OK ? batch_of(&x, tc_model_input_shape(model)) : 0;
    if (status == EXIT_OK && n < 1) {
        char want[64];
        char got[128];
        tc_shape in = tc_model_input_shape(model);
        cli_error("%s: input has shape %s; the model needs [N, %s or %s", input_path,
                  array_shape_str(&x, got, sizeof got), tc_shape_str(&in, want, sizeof want) + 1,
                  want);
        status = EXIT_USAGE;
    }
    for (int k = 0; k < n_outputs && status == EXIT_OK; k++) {
        size_t numel = tc_model_output_numel(model, k);
        bool fits = (uint64_t)n <= SIZE_MAX / sizeof(float) / numel;
        outputs[k] = fits ? malloc((size_t)n * numel * sizeof(float)) : NULL;
        if (outputs[k] == NULL) {
            cli_error("out of memory for the outputs of %lld samples", (long long)n);
            status = EXIT_RUNTIME;
        }
    }
    if (status == EXIT_OK)
        status = run_all(model, x.data, n, check_finite, limits.model.max_batch, outputs);
    if (status == EXIT_OK && n_files > 0)
        status = write_outputs(model, outputs, n, files, n_files);
    else if (status == EXIT_OK)
        print_output(outputs[0], n, tc_model_output_shape(model, 0));
    for (int k = 0; k < n_outputs; k++)
        free(outputs[k]);
    tc_array_free(&x);
    tc_model_free(model);
    return status;
}
