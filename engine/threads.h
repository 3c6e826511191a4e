/*
 * threads.h - a persistent pool of worker threads (engine/ only). Workers are created once and
 * wait between jobs (spinning briefly, then sleeping), so a run never creates a thread.
 */
#ifndef TC_THREADS_H
#define TC_THREADS_H

#include "tc_internal.h"

typedef struct tc_pool tc_pool;

/* Runs on every thread of the pool; index is 0 (the caller) .. n_threads - 1. */
typedef void (*tc_pool_job)(void *arg, int index);

/* Creates a pool of n_threads (>= 2) including the caller: n_threads - 1 workers.
 * @return TC_OK, TC_ERR_NOMEM (or a thread could not be started) */
tc_status tc_pool_create(int n_threads, tc_pool **out, tc_error *err);
/* Stops and joins the workers, frees the pool. NULL is a no-op. */
void tc_pool_free(tc_pool *pool);
/* Runs job(arg, i) for i in 0..n_threads-1 at once (the caller takes 0) and returns when all
 * are done. Not reentrant: one job at a time per pool. */
void tc_pool_run(tc_pool *pool, tc_pool_job job, void *arg);

/* Threads of the pool (including the caller). */
int tc_pool_size(const tc_pool *pool);

/* The pool that layers may split a run's work over, for the calling thread only (NULL: none).
 * The runtime sets it around a batch-1 run; a layer's forward asks for it. */
void tc_pool_set_current(tc_pool *pool);
tc_pool *tc_pool_current(void);

#endif
