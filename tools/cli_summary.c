/* cli_summary.c - `tinycnn summary`: layers, shapes, parameters, MACs and the memory plan. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_limits.h"

static const char summary_usage[] =
    "usage: tinycnn summary -m MODEL\n"
    "\n"
    "Loads and checks MODEL, then prints one line per layer (name, type, output shape per\n"
    "sample, parameters, multiply-accumulates per sample), the totals and the planned memory.\n"
    "\n"
    "options:\n"
    "  -m, --model MODEL   model JSON (format version 1)\n"
    "  -h, --help          this help\n";

static void print_summary(const tc_model *model, const char *path)
{
    char shape[64];
    tc_shape in = tc_model_input_shape(model);
    printf("model: %s (%s)\n", tc_model_name(model)[0] ? tc_model_name(model) : "unnamed", path);
    printf("input: %s\n\n", tc_shape_str(&in, shape, sizeof shape));
    printf("%-4s %-24s %-18s %-20s %12s %14s\n", "#", "name", "type", "output", "params", "MACs");
    size_t total_params = 0;
    uint64_t total_macs = 0;
    for (int i = 0; i < tc_model_num_layers(model); i++) {
        tc_layer_info info;
        tc_model_layer_info(model, i, &info);
        printf("%-4d %-24s %-18s %-20s %12zu %14" PRIu64 "%s%s\n", i, info.name, info.type,
               tc_shape_str(&info.out_shape, shape, sizeof shape), info.n_params, info.macs,
               info.fused_into ? "  fused into " : "", info.fused_into ? info.fused_into : "");
        total_params += info.n_params;
        total_macs += info.macs;
    }
    printf("\ntotal: %zu parameters (%zu bytes), %" PRIu64 " MACs per sample\n", total_params,
           tc_model_weight_bytes(model), total_macs);
    printf("memory: %zu bytes of activations per sample as planned (%zu without reuse)\n",
           tc_model_arena_bytes_per_sample(model), tc_model_unplanned_bytes_per_sample(model));
    for (int k = 0; k < tc_model_num_outputs(model); k++) {
        tc_shape s = tc_model_output_shape(model, k);
        printf("output %d: %s%s\n", k, tc_shape_str(&s, shape, sizeof shape),
               tc_model_output_is_probability(model, k) ? " (probabilities)" : "");
    }
}

int cli_summary(int argc, char **argv)
{
    const char *model_path = NULL;
    cli_limits limits;
    cli_limits_default(&limits);
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        bool missing = false;
        bool bad_limit = false;
        if (cli_is_help(argv[i])) {
            fputs(summary_usage, stdout);
            cli_limits_usage(stdout);
            return EXIT_OK;
        } else if (cli_take_value(argc, argv, &i, "-m", "--model", &value, &missing)) {
            model_path = value;
        } else if (cli_take_limit(argc, argv, &i, "summary", &limits, &bad_limit)) {
            if (bad_limit)
                return EXIT_USAGE;
        } else {
            cli_error("summary: unknown argument \"%s\" (try `tinycnn summary --help`)", argv[i]);
            return EXIT_USAGE;
        }
        if (missing) {
            cli_error("summary: %s needs a value", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (model_path == NULL) {
        cli_error("summary: -m MODEL is required (try `tinycnn summary --help`)");
        return EXIT_USAGE;
    }
    tc_error err;
    tc_model *model = NULL;
    if (tc_model_load(model_path, &limits.model, &model, &err) != TC_OK)
        return cli_report(&err);
    print_summary(model, model_path);
    tc_model_free(model);
    return EXIT_OK;
}
