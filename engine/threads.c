/*
 * threads.c - the worker pool: a generation counter wakes the workers for each job; the caller
 * runs share 0 itself and waits until every worker has finished its share. Both sides first
 * spin for a while (SPIN_NS) and only then sleep on a condition variable: a batch-1 run
 * hands out several short jobs per layer, and waking a sleeping thread costs more than one.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "threads.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define CPU_RELAX() __builtin_ia32_pause()
#else
#define CPU_RELAX() ((void)0)
#endif
#define SPIN_NS 50000 /* spin this long (50 us) before sleeping: longer than a wake-up, short
                       * enough not to steal much from other processes */

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
    atomic_ulong generation; /* changed under lock (sleepers check it there), read by spinners */
    atomic_int pending;      /* workers still running the current job */
    bool stop;               /* under lock */
    tc_pool_job job;
    void *arg;
};

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static bool job_ready(tc_pool *pool, unsigned long seen)
{
    return atomic_load_explicit(&pool->generation, memory_order_acquire) != seen;
}

static bool workers_done(tc_pool *pool, unsigned long unused)
{
    (void)unused;
    return atomic_load_explicit(&pool->pending, memory_order_acquire) == 0;
}

/* Spins until ready(pool, arg) (true) or SPIN_NS have passed (false). */
static bool spin_until(bool (*ready)(tc_pool *, unsigned long), tc_pool *pool, unsigned long arg)
{
    const long long end = now_ns() + SPIN_NS;
    for (unsigned i = 1;; i++) {
        if (ready(pool, arg))
            return true;
        if (i % 64 == 0 && now_ns() > end) /* the clock every 64 pauses (about 1 us) */
            return false;
        CPU_RELAX();
    }
}

static void *worker_main(void *p)
{
    worker *w = p;
    tc_pool *pool = w->pool;
    unsigned long seen = 0;
    for (;;) {
        if (!spin_until(job_ready, pool, seen)) {
            pthread_mutex_lock(&pool->lock);
            while (!pool->stop && atomic_load(&pool->generation) == seen)
                pthread_cond_wait(&pool->wake, &pool->lock);
            const bool stop = pool->stop;
            pthread_mutex_unlock(&pool->lock);
            if (stop)
                break;
        }
        /* job and arg were written before the generation changed (release / lock) */
        seen = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (pool->job == NULL) /* tc_pool_free's generation: stop */
            break;
        pool->job(pool->arg, w->index);
        if (atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool->lock); /* the caller may be about to sleep */
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->lock);
        }
    }
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
    pool->job = NULL; /* a spinning worker sees the new generation and this */
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
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
    atomic_store_explicit(&pool->pending, pool->n_threads - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    job(arg, 0);
    if (spin_until(workers_done, pool, 0))
        return;
    pthread_mutex_lock(&pool->lock);
    while (atomic_load_explicit(&pool->pending, memory_order_acquire) > 0)
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
