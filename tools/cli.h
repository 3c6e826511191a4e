/* cli.h - shared pieces of the tinycnn command: option matching, error lines, model loading. */
#ifndef TC_CLI_H
#define TC_CLI_H

#include <stdbool.h>

#include "tinycnn.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* Prints "tinycnn: <message>" as one line on stderr. */
void cli_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Prints a library error as one line; returns the exit status it maps to (1 or 2). */
int cli_report(const tc_error *err);

/* Matches argv[*i] against a short (may be NULL) or long option taking a value: "-m X",
 * "--model X" or "--model=X". On a match sets *value and advances *i; a missing value is
 * reported and *value set to NULL. */
bool cli_take_value(int argc, char **argv, int *i, const char *short_opt, const char *long_opt,
                    const char **value, bool *missing);
bool cli_is_help(const char *arg);

int cli_run(int argc, char **argv);
int cli_summary(int argc, char **argv);
int cli_predict(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_bench(int argc, char **argv);

#endif
