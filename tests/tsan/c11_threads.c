/*
 * ThreadSanitizer builds only (-DTSAN=ON): C11 <threads.h> on top of the
 * pthread functions that ThreadSanitizer intercepts.
 *
 * librdkafka (Debian's build) runs its threads, mutexes and condition
 * variables through C11 threads. glibc implements those by calling its
 * pthread code internally, which ThreadSanitizer (gcc 12, clang 14) does not
 * see: a thread started by thrd_create() has no sanitizer state and crashes
 * at its first malloc, and every lock hand-off inside librdkafka is
 * invisible. Linked into every target of a TSan build, these definitions take
 * the place of glibc's for librdkafka (an executable's symbols come first),
 * so thread starts, joins, locks and waits go through intercepted pthread
 * calls. glibc lays mtx_t, cnd_t and once_flag out as pthread_mutex_t,
 * pthread_cond_t and pthread_once_t, and thrd_t is a pthread_t; its own C11
 * functions cast them the same way.
 *
 * Creating and destroying a lock are not shown to ThreadSanitizer (plain
 * stores, and glibc's own functions looked up in libc): librdkafka frees its
 * objects when an atomic reference count drops to zero, which
 * ThreadSanitizer cannot see, so it would take the destruction of a lock for
 * a race with its last use. Taking, releasing and waiting are shown: they
 * order what our threads and librdkafka's hand each other (a payload
 * produced by one of ours and compressed on one of its). This file is not
 * instrumented itself, and keeps its calls out of tail position so that
 * ThreadSanitizer sees them as coming from here, not from librdkafka (whose
 * own calls the called_from_lib suppression ignores).
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

typedef struct thread_start {
    thrd_start_t fn;
    void *arg;
} thread_start;

/* glibc's own functions, not the intercepted ones */
static struct {
    int (*mutex_destroy)(pthread_mutex_t *);
    int (*cond_init)(pthread_cond_t *, const pthread_condattr_t *);
    int (*cond_destroy)(pthread_cond_t *);
} libc;

__attribute__((constructor)) static void find_libc(void)
{
    void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (h == NULL)
        abort();
    *(void **)&libc.mutex_destroy = dlsym(h, "pthread_mutex_destroy");
    *(void **)&libc.cond_init = dlsym(h, "pthread_cond_init");
    *(void **)&libc.cond_destroy = dlsym(h, "pthread_cond_destroy");
    if (libc.mutex_destroy == NULL || libc.cond_init == NULL || libc.cond_destroy == NULL)
        abort();
}

static int result(int rc)
{
    return rc == 0           ? thrd_success
           : rc == ETIMEDOUT ? thrd_timedout
           : rc == EBUSY     ? thrd_busy
                             : thrd_error;
}

static void *thread_main(void *p)
{
    thread_start s = *(thread_start *)p;
    free(p);
    return (void *)(intptr_t)s.fn(s.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg)
{
    thread_start *s = malloc(sizeof(*s));
    if (s == NULL)
        return thrd_nomem;
    s->fn = fn;
    s->arg = arg;
    int rc = pthread_create((pthread_t *)thr, NULL, thread_main, s);
    if (rc != 0)
        free(s);
    return rc == 0 ? thrd_success : rc == EAGAIN ? thrd_nomem : thrd_error;
}

int thrd_join(thrd_t thr, int *res)
{
    void *ret;
    if (pthread_join((pthread_t)thr, &ret) != 0)
        return thrd_error;
    if (res != NULL)
        *res = (int)(intptr_t)ret;
    return thrd_success;
}

int thrd_detach(thrd_t thr)
{
    return pthread_detach((pthread_t)thr) == 0 ? thrd_success : thrd_error;
}

int mtx_init(mtx_t *m, int type)
{
    static const pthread_mutex_t plain = PTHREAD_MUTEX_INITIALIZER;
    static const pthread_mutex_t recursive = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
    *(pthread_mutex_t *)m = (type & mtx_recursive) ? recursive : plain;
    return thrd_success;
}

int mtx_lock(mtx_t *m)
{
    return result(pthread_mutex_lock((pthread_mutex_t *)m));
}

int mtx_trylock(mtx_t *m)
{
    return result(pthread_mutex_trylock((pthread_mutex_t *)m));
}

int mtx_timedlock(mtx_t *restrict m, const struct timespec *restrict until)
{
    return result(pthread_mutex_timedlock((pthread_mutex_t *)m, until));
}

int mtx_unlock(mtx_t *m)
{
    return result(pthread_mutex_unlock((pthread_mutex_t *)m));
}

void mtx_destroy(mtx_t *m)
{
    libc.mutex_destroy((pthread_mutex_t *)m);
}

int cnd_init(cnd_t *c)
{
    return result(libc.cond_init((pthread_cond_t *)c, NULL));
}

int cnd_signal(cnd_t *c)
{
    return result(pthread_cond_signal((pthread_cond_t *)c));
}

int cnd_broadcast(cnd_t *c)
{
    return result(pthread_cond_broadcast((pthread_cond_t *)c));
}

int cnd_wait(cnd_t *c, mtx_t *m)
{
    return result(pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m));
}

int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict until)
{
    return result(pthread_cond_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, until));
}

void cnd_destroy(cnd_t *c)
{
    libc.cond_destroy((pthread_cond_t *)c);
}

void call_once(once_flag *flag, void (*fn)(void))
{
    pthread_once((pthread_once_t *)flag, fn);
}
