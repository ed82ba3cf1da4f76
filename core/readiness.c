/*
 * Readiness (see readiness.h): one mutex guards the parts' states; the
 * listener runs under it, so that changes reach it in the order they
 * happened.
 */
#include "core/readiness.h"
#include "mcsqueal/error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct readiness_state {
    bool required;
    bool ready;
    char reason[READINESS_REASON_MAX];
} readiness_state;

struct readiness {
    pthread_mutex_t lock;
    readiness_state parts[READINESS_PARTS];
    bool ready; /* the whole, as the listener last heard it */
    readiness_listener listener;
    void *listener_ctx;
};

int readiness_new(readiness **out)
{
    readiness *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return MCSQ_ERR_NOMEM;
    pthread_mutex_init(&r->lock, NULL);
    *out = r;
    return MCSQ_OK;
}

void readiness_set_listener(readiness *r, readiness_listener fn, void *ctx)
{
    pthread_mutex_lock(&r->lock);
    r->listener = fn;
    r->listener_ctx = ctx;
    pthread_mutex_unlock(&r->lock);
}

/* The whole, and why not: the first required part that is not ready. */
static bool do_whole(const readiness *r, const char **why)
{
    bool any = false;
    *why = "starting";
    for (int i = 0; i < READINESS_PARTS; i++) {
        const readiness_state *s = &r->parts[i];
        if (!s->required)
            continue;
        any = true;
        if (!s->ready) {
            *why = s->reason;
            return false;
        }
    }
    if (any)
        *why = "ready";
    return any;
}

/* One line: the reason up to its first line break. */
static void reason_copy(char *dst, const char *src)
{
    size_t n = strcspn(src, "\r\n");
    if (n > READINESS_REASON_MAX - 1)
        n = READINESS_REASON_MAX - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void do_update(readiness *r, readiness_part part, bool ready, const char *reason)
{
    readiness_state *s = &r->parts[part];
    s->ready = ready;
    reason_copy(s->reason, ready || reason == NULL ? "" : reason);
    if (!ready && s->reason[0] == '\0')
        snprintf(s->reason, sizeof(s->reason), "not ready");
    const char *why;
    bool whole = do_whole(r, &why);
    if (whole == r->ready)
        return;
    r->ready = whole;
    if (r->listener != NULL)
        r->listener(r->listener_ctx, whole, why);
}

void readiness_require(readiness *r, readiness_part part, const char *reason)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    r->parts[part].required = true;
    do_update(r, part, false, reason);
    pthread_mutex_unlock(&r->lock);
}

void readiness_set(readiness *r, readiness_part part, bool ready, const char *reason)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    if (r->parts[part].required)
        do_update(r, part, ready, reason);
    pthread_mutex_unlock(&r->lock);
}

bool readiness_get(readiness *r, char *reason, size_t reason_size)
{
    const char *why;
    pthread_mutex_lock(&r->lock);
    bool whole = do_whole(r, &why);
    if (reason != NULL && reason_size > 0)
        snprintf(reason, reason_size, "%s", why);
    pthread_mutex_unlock(&r->lock);
    return whole;
}

void readiness_destroy(readiness *r)
{
    if (r == NULL)
        return;
    pthread_mutex_destroy(&r->lock);
    free(r);
}
