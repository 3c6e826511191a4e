/*
 * threads.c - the worker pool: a generation counter under a mutex wakes the workers for each
 * job; the caller runs share 0 itself and waits until every worker has finished its share.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include "threads.h"

typedef struct worker {
    tc_pool *pool;
    int index;
    pthread_t thread;
} worker;

struct tc_pool {
    int n_threads;
    worker *workers; /* n_threads - 1 */
    int n_started;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* a new generation (or stop) */
    pthread_cond_t done; /* pending reached 0 */
    unsigned long generation;
    int pending;         /* workers still running the current job */
    bool stop;
    tc_pool_job job;
    void *arg;
};

static void *worker_main(void *p)
{
    worker *w = p;
    tc_pool *pool = w->pool;
    unsigned long seen = 0;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->stop && pool->generation == seen)
            pthread_cond_wait(&pool->wake, &pool->lock);
        if (pool->stop)
            break;
        seen = pool->generation;
        tc_pool_job job = pool->job;
        void *arg = pool->arg;
        pthread_mutex_unlock(&pool->lock);
        job(arg, w->index);
        pthread_mutex_lock(&pool->lock);
        if (--pool->pending == 0)
            pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

tc_status tc_pool_create(int n_threads, tc_pool **out, tc_error *err)
{
    *out = NULL;
    tc_pool *pool = TC_CALLOC(1, sizeof *pool);
    if (pool == NULL)
        return tc_error_set(err, TC_ERR_NOMEM, "", "out of memory");
    pool->n_threads = n_threads;
    pool->workers = TC_CALLOC((size_t)n_threads, sizeof *pool->workers);
    if (pool->workers == NULL) {
        TC_FREE(pool);
        return tc_error_set(err, TC_ERR_NOMEM, "", "out of memory");
    }
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    for (int i = 1; i < n_threads; i++) {
        worker *w = &pool->workers[i - 1];
        w->pool = pool;
        w->index = i;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            tc_pool_free(pool);
            return tc_error_set(err, TC_ERR_NOMEM, "", "cannot start worker thread %d of %d", i,
                                n_threads - 1);
        }
        pool->n_started++;
    }
    *out = pool;
    return TC_OK;
}

void tc_pool_free(tc_pool *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stop = true;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->n_started; i++)
        pthread_join(pool->workers[i].thread, NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    TC_FREE(pool->workers);
    TC_FREE(pool);
}

void tc_pool_run(tc_pool *pool, tc_pool_job job, void *arg)
{
    pthread_mutex_lock(&pool->lock);
    pool->job = job;
    pool->arg = arg;
    pool->pending = pool->n_threads - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    job(arg, 0);
    pthread_mutex_lock(&pool->lock);
    while (pool->pending > 0)
        pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
}

int tc_pool_size(const tc_pool *pool)
{
    return pool->n_threads;
}

static _Thread_local tc_pool *current_pool;

void tc_pool_set_current(tc_pool *pool)
{
    current_pool = pool;
}

tc_pool *tc_pool_current(void)
{
    return current_pool;
}
