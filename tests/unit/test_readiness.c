/*
 * Readiness (core/readiness.c): the whole is ready only when every part the
 * process runs is; the listener hears each change once, in order; reasons
 * are one line; GET /ready of the metrics endpoint answers from it.
 */
#include "core/metrics_http.h"
#include "core/readiness.h"
#include "mcsqueal/error.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct heard {
    int changes;
    bool ready;
    char reason[READINESS_REASON_MAX];
} heard;

static void listen_fn(void *ctx, bool ready, const char *reason)
{
    heard *h = ctx;
    h->changes++;
    h->ready = ready;
    snprintf(h->reason, sizeof(h->reason), "%s", reason);
}

static void test_every_required_part(void **state)
{
    (void)state;
    readiness *r;
    heard h = {0};
    char why[READINESS_REASON_MAX];
    assert_int_equal(readiness_new(&r), MCSQ_OK);
    readiness_set_listener(r, listen_fn, &h);
    assert_false(readiness_get(r, why, sizeof(why)));
    assert_string_equal(why, "starting");           /* nothing runs yet */
    readiness_set(r, READINESS_ROUTER, true, NULL); /* not required: ignored */
    assert_false(readiness_get(r, NULL, 0));
    readiness_require(r, READINESS_TAILER, "tailer: connecting to MySQL");
    readiness_require(r, READINESS_ROUTER, "router: joining consumer group g");
    assert_false(readiness_get(r, why, sizeof(why)));
    assert_string_equal(why, "tailer: connecting to MySQL");
    readiness_set(r, READINESS_TAILER, true, NULL);
    assert_false(readiness_get(r, why, sizeof(why)));
    assert_string_equal(why, "router: joining consumer group g");
    assert_int_equal(h.changes, 0);
    readiness_set(r, READINESS_ROUTER, true, NULL);
    assert_true(readiness_get(r, why, sizeof(why)));
    assert_string_equal(why, "ready");
    assert_int_equal(h.changes, 1);
    assert_true(h.ready);
    readiness_set(r, READINESS_ROUTER, true, NULL); /* no change: not heard again */
    assert_int_equal(h.changes, 1);
    readiness_set(r, READINESS_TAILER, false, "tailer: MySQL unreachable: refused\nsecond line");
    assert_int_equal(h.changes, 2);
    assert_false(h.ready);
    assert_string_equal(h.reason, "tailer: MySQL unreachable: refused");
    readiness_set(r, READINESS_ROUTER, false, NULL); /* still not ready: not heard */
    assert_int_equal(h.changes, 2);
    readiness_set(r, READINESS_TAILER, true, NULL);
    assert_false(readiness_get(r, why, sizeof(why)));
    assert_string_equal(why, "not ready");
    readiness_set(r, READINESS_ROUTER, true, NULL);
    assert_int_equal(h.changes, 3);
    assert_true(h.ready);
    readiness_destroy(r);
    readiness_set(NULL, READINESS_TAILER, true, NULL); /* no-ops */
    readiness_destroy(NULL);
}

static void test_long_reason_is_cut(void **state)
{
    (void)state;
    readiness *r;
    char longer[READINESS_REASON_MAX * 2], why[READINESS_REASON_MAX * 2];
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    assert_int_equal(readiness_new(&r), MCSQ_OK);
    readiness_require(r, READINESS_TAILER, longer);
    assert_false(readiness_get(r, why, sizeof(why)));
    assert_int_equal(strlen(why), READINESS_REASON_MAX - 1);
    readiness_destroy(r);
}

/* One HTTP/1.0 exchange with the server on port; returns the answer. */
static const char *http_exchange(int port, const char *request)
{
    static char resp[4096];
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
    size_t len = 0;
    ssize_t n;
    while ((n = read(fd, resp + len, sizeof(resp) - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    resp[len] = '\0';
    return resp;
}

static void assert_answer(int port, const char *status, const char *body)
{
    const char *r = http_exchange(port, "GET /ready HTTP/1.0\r\n\r\n");
    assert_true(strncmp(r + 9, status, strlen(status)) == 0);
    const char *b = strstr(r, "\r\n\r\n");
    assert_non_null(b);
    assert_string_equal(b + 4, body);
}

static void test_http_ready(void **state)
{
    (void)state;
    metrics_registry *reg = metrics_registry_new();
    metrics_http *h = NULL;
    readiness *r;
    char err[200];
    assert_int_equal(readiness_new(&r), MCSQ_OK);
    assert_int_equal(metrics_http_start(&h, reg, "127.0.0.1:0", err, sizeof(err)), MCSQ_OK);
    int port = metrics_http_port(h);
    assert_answer(port, "503 ", "starting\n"); /* no readiness yet */
    metrics_http_set_readiness(h, r);
    assert_answer(port, "503 ", "starting\n");
    readiness_require(r, READINESS_ROUTER, "router: joining consumer group mcsqueal.e.a");
    assert_answer(port, "503 ", "router: joining consumer group mcsqueal.e.a\n");
    readiness_set(r, READINESS_ROUTER, true, NULL);
    assert_answer(port, "200 ", "ready\n");
    const char *head = http_exchange(port, "HEAD /ready HTTP/1.0\r\n\r\n");
    assert_true(strncmp(head + 9, "200 ", 4) == 0);
    assert_non_null(strstr(head, "Cache-Control: no-store\r\n"));
    readiness_set(r, READINESS_ROUTER, false, "router: partitions revoked");
    assert_answer(port, "503 ", "router: partitions revoked\n");
    /* /metrics answers whatever the readiness: it is the liveness check */
    assert_true(strncmp(http_exchange(port, "GET /metrics HTTP/1.0\r\n\r\n") + 9, "200 ", 4) == 0);
    metrics_http_stop(h);
    readiness_destroy(r);
    metrics_registry_destroy(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_required_part),
        cmocka_unit_test(test_long_reason_is_cut),
        cmocka_unit_test(test_http_ready),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
