/*
 * fuzz_common.h - shared by the libFuzzer targets (tests/fuzz/fuzz_*.c) and by
 * tests/test_fuzz_regressions.c, which includes the targets to replay the corpora without
 * libFuzzer: a per-process scratch directory for the readers that take a path, and FUZZ_CHECK
 * for invariants a successful call must satisfy.
 *
 * Header-only (static functions). The including file defines _POSIX_C_SOURCE 200809L before any
 * system header (mkdtemp, unlink, rmdir).
 */
#ifndef TC_FUZZ_COMMON_H
#define TC_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tinycnn.h"

/* What a broken invariant does: abort under libFuzzer (a crash it reports and saves); the
 * regression test defines FUZZ_FAIL as a cmocka failure before including this file. */
#ifndef FUZZ_FAIL
#define FUZZ_FAIL(what)                                                                        \
    do {                                                                                       \
        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, what);           \
        abort();                                                                               \
    } while (0)
#endif
#define FUZZ_CHECK(cond)                                                                       \
    do {                                                                                       \
        if (!(cond))                                                                           \
            FUZZ_FAIL(#cond);                                                                  \
    } while (0)

#define FUZZ_PATH_MAX 512

/* Names of the files the targets write in the scratch directory (removed at exit). */
static const char *const fuzz_scratch_files[] = {"w.bin", "in.idx", "in.npy", "out.npy", NULL};

static char fuzz_dir[FUZZ_PATH_MAX];

static inline void fuzz_scratch_remove(void)
{
    char path[FUZZ_PATH_MAX + 16];
    for (int i = 0; fuzz_scratch_files[i] != NULL; i++) {
        snprintf(path, sizeof path, "%s/%s", fuzz_dir, fuzz_scratch_files[i]);
        unlink(path);
    }
    rmdir(fuzz_dir);
}

/* The scratch directory of this process, created on first use (in /dev/shm when there is one,
 * so that the many small writes stay in memory). NULL if it cannot be made. */
static inline const char *fuzz_scratch_dir(void)
{
    if (fuzz_dir[0] != '\0')
        return fuzz_dir;
    struct stat sb;
    const char *tmp = getenv("TMPDIR");
    const char *base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) &&
                               access("/dev/shm", W_OK) == 0
                           ? "/dev/shm"
                           : (tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/tinycnn_fuzz_XXXXXX", base);
    if (mkdtemp(fuzz_dir) == NULL) {
        fuzz_dir[0] = '\0';
        return NULL;
    }
    atexit(fuzz_scratch_remove);
    return fuzz_dir;
}

/* Writes "<scratch>/name" with len bytes of data; the path goes to path. False on failure. */
static inline bool fuzz_write_file(const char *name, const void *data, size_t len, char *path,
                            size_t path_len)
{
    const char *dir = fuzz_scratch_dir();
    if (dir == NULL)
        return false;
    snprintf(path, path_len, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return false;
    bool ok = len == 0 || fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

/* A failed call leaves a recorded error: its code, and a non-empty, terminated message. */
static inline void fuzz_check_error(tc_status st, const tc_error *err)
{
    FUZZ_CHECK(st != TC_OK);
    FUZZ_CHECK(err->code == st);
    FUZZ_CHECK(memchr(err->message, '\0', sizeof err->message) != NULL);
    FUZZ_CHECK(memchr(err->path, '\0', sizeof err->path) != NULL);
    FUZZ_CHECK(memchr(err->file, '\0', sizeof err->file) != NULL);
    FUZZ_CHECK(err->message[0] != '\0');
}

#endif
