/* tinycnn.c - the command-line tool: dispatches to the subcommands; owns exit codes and output. */
#include <stdarg.h>
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: tinycnn COMMAND [OPTIONS]\n"
    "\n"
    "A tiny CNN inference engine (version " TC_VERSION ").\n"
    "\n"
    "commands:\n"
    "  predict  -m MODEL IMAGE... [--top K] [--json]     class probabilities per image\n"
    "  run      -m MODEL --input X.npy [--output Y.npy]   run a model on a float32 tensor\n"
    "  eval     -m MODEL --images IDX --labels IDX        accuracy on an idx data set (.gz ok)\n"
    "  summary  -m MODEL                                    layers, shapes, params, MACs, memory\n"
    "  bench    -m MODEL [--batch N] [--threads T] [--json] latency, images/s, GFLOP/s\n"
    "\n"
    "`tinycnn COMMAND --help` describes each command. Exit status: 0 success, 1 runtime failure,\n"
    "2 bad usage or bad input. Errors go to stderr, one line each.\n";

void cli_error(const char *fmt, ...)
{
    char line[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    for (char *p = line; *p; p++) {
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    }
    fprintf(stderr, "tinycnn: %s\n", line);
}

int cli_report(const tc_error *err)
{
    char line[1024];
    cli_error("%s", tc_error_format(err, line, sizeof line));
    switch (err->code) {
    case TC_ERR_NOMEM:
    case TC_ERR_INTERNAL:
        return EXIT_RUNTIME;
    default:
        return EXIT_USAGE;
    }
}

bool cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

bool cli_take_value(int argc, char **argv, int *i, const char *short_opt, const char *long_opt,
                    const char **value, bool *missing)
{
    const char *arg = argv[*i];
    size_t long_len = strlen(long_opt);
    *missing = false;
    if (strncmp(arg, long_opt, long_len) == 0 && arg[long_len] == '=') {
        *value = arg + long_len + 1;
        return true;
    }
    if (strcmp(arg, long_opt) != 0 && (short_opt == NULL || strcmp(arg, short_opt) != 0))
        return false;
    if (*i + 1 >= argc) {
        *missing = true;
        *value = NULL;
        return true;
    }
    *i += 1;
    *value = argv[*i];
    return true;
}

int main(int argc, char **argv)
{
#if defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
    /* A command is one short process: keep freed memory for the next allocation instead of
     * returning it to the system (a model load allocates, fills and frees several buffers of a
     * few hundred KiB, and each fresh page costs a fault). */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
#endif
    if (argc < 2) {
        cli_error("missing command (try `tinycnn --help`)");
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (cli_is_help(cmd)) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("tinycnn %s\n", TC_VERSION);
        return EXIT_OK;
    }
    if (strcmp(cmd, "run") == 0)
        return cli_run(argc - 1, argv + 1);
    if (strcmp(cmd, "predict") == 0)
        return cli_predict(argc - 1, argv + 1);
    if (strcmp(cmd, "eval") == 0)
        return cli_eval(argc - 1, argv + 1);
    if (strcmp(cmd, "summary") == 0)
        return cli_summary(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0)
        return cli_bench(argc - 1, argv + 1);
    cli_error("unknown command \"%s\" (try `tinycnn --help`)", cmd);
    return EXIT_USAGE;
}
