/*
 * tct_cli.h - helpers for tests that run the `tinycnn` command (TC_CLI_PATH): a scratch
 * directory, running the command without a shell (no quoting problems) with stdout and stderr
 * captured to files, and checks on what it printed.
 *
 * Header-only (static inline) because CMake builds each test from tests/<name>.c + tc_test.c.
 * Include it before tc_test.h and other headers (it includes tc_test.h last: with UNIT_TESTING,
 * cmocka.h redefines malloc, which breaks system headers included after it). The including file
 * must define _POSIX_C_SOURCE 200809L first (mkdtemp, posix_spawn, dirent).
 */
#ifndef TCT_CLI_H
#define TCT_CLI_H

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tc_test.h"

extern char **environ;

#define TCT_CLI_MAX_ARGS 16
#define TCT_PATH_MAX 1024

/* What one run of the command did. out and err are NUL-terminated, owned (tct_cli_free). */
typedef struct tct_cli_result {
    int status; /* exit status; 128 + signal if it was killed */
    char *out;  /* everything written to stdout */
    char *err;  /* everything written to stderr */
} tct_cli_result;

/* Creates a fresh scratch directory; dir gets its path. */
static inline void tct_tmpdir_make(char *dir, size_t dir_len)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, dir_len, "%s/tinycnn_test_XXXXXX", base && base[0] ? base : "/tmp");
    if (mkdtemp(dir) == NULL)
        fail_msg("mkdtemp(%s) failed", dir);
}

/* Writes "dir/name" into out and returns out; fails the test if it does not fit. */
static inline char *tct_join(char *out, size_t out_len, const char *dir, const char *name)
{
    int n = snprintf(out, out_len, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= out_len)
        fail_msg("path too long: %s/%s", dir, name);
    return out;
}

/* Removes the scratch directory and the files in it (it holds no subdirectories). */
static inline void tct_tmpdir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    char path[TCT_PATH_MAX];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        unlink(tct_join(path, sizeof path, dir, e->d_name));
    }
    closedir(d);
    rmdir(dir);
}

/* cmocka setup and teardown giving each test its own scratch directory in *state. */
static inline int tct_tmpdir_setup(void **state)
{
    char *dir = test_malloc(TCT_PATH_MAX);
    tct_tmpdir_make(dir, TCT_PATH_MAX);
    *state = dir;
    return 0;
}

static inline int tct_tmpdir_teardown(void **state)
{
    tct_tmpdir_remove(*state);
    test_free(*state);
    return 0;
}

/* Writes len bytes of data to path; fails the test if it cannot. */
static inline void tct_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        fail_msg("cannot create %s", path);
    if (len > 0 && fwrite(data, 1, len, f) != len)
        fail_msg("cannot write %s", path);
    if (fclose(f) != 0)
        fail_msg("cannot close %s", path);
}

static inline bool tct_file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Reads a whole file into a test_malloc'd, NUL-terminated buffer. */
static inline char *tct_read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    size_t cap = 4096;
    size_t len = 0;
    char *buf = test_malloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - 1 - len, f)) > 0) {
        len += got;
        if (len + 1 == cap) {
            char *bigger = test_malloc(cap * 2);
            memcpy(bigger, buf, len);
            test_free(buf);
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/*
 * Runs `TC_CLI_PATH args...` (args NULL-terminated) with stdin from /dev/null and stdout/stderr
 * captured through files in dir. Fails the test if the command cannot be started.
 */
static inline void tct_cli_run(const char *dir, const char *const *args, tct_cli_result *r)
{
    char *argv[TCT_CLI_MAX_ARGS + 2];
    int n = 0;
    argv[0] = (char *)TC_CLI_PATH;
    for (; args[n] != NULL; n++) {
        if (n == TCT_CLI_MAX_ARGS)
            fail_msg("more than %d arguments", TCT_CLI_MAX_ARGS);
        argv[n + 1] = (char *)args[n];
    }
    argv[n + 1] = NULL;
    char out_path[TCT_PATH_MAX];
    char err_path[TCT_PATH_MAX];
    tct_join(out_path, sizeof out_path, dir, "cli_stdout.txt");
    tct_join(err_path, sizeof err_path, dir, "cli_stderr.txt");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int rc = posix_spawn(&pid, TC_CLI_PATH, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        fail_msg("cannot start %s (error %d)", TC_CLI_PATH, rc);
    int wstatus = 0;
    if (waitpid(pid, &wstatus, 0) != pid)
        fail_msg("waitpid failed for %s", TC_CLI_PATH);
    r->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    r->out = tct_read_text(out_path);
    r->err = tct_read_text(err_path);
    unlink(out_path);
    unlink(err_path);
}

static inline void tct_cli_free(tct_cli_result *r)
{
    test_free(r->out);
    test_free(r->err);
    r->out = NULL;
    r->err = NULL;
}

/* True if s is exactly one non-empty line ending in '\n'. */
static inline bool tct_is_one_line(const char *s)
{
    const char *nl = strchr(s, '\n');
    return nl != NULL && nl != s && nl[1] == '\0' && strchr(s, '\r') == NULL;
}

/*
 * Checks the usual failure contract: exit status `status`, nothing on stdout, exactly one line
 * on stderr starting "tinycnn: " and containing `needle` (NULL: any). Fails the test otherwise,
 * showing what the command printed.
 */
static inline void tct_cli_expect_failure(const tct_cli_result *r, int status, const char *needle)
{
    if (r->status != status || r->out[0] != '\0' || !tct_is_one_line(r->err) ||
        strncmp(r->err, "tinycnn: ", 9) != 0 || (needle != NULL && !strstr(r->err, needle)))
        fail_msg("expected exit %d, empty stdout and one stderr line \"tinycnn: ...%s...\"; got "
                 "exit %d, stdout \"%.200s\", stderr \"%.400s\"",
                 status, needle ? needle : "", r->status, r->out, r->err);
}

#endif
