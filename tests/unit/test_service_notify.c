/*
 * Unit tests of the readiness notification to systemd
 * (core/service_notify_systemd.c): the datagrams a Type=notify unit's
 * manager receives on NOTIFY_SOCKET, read here from a socket of our own;
 * without NOTIFY_SOCKET nothing is sent and nothing fails.
 */
#include "core/service_notify.h"
#include "mcsqueal/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct fixture {
    char dir[64];
    char path[96]; /* fits sockaddr_un's sun_path */
    int fd;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/mcsq-notify-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/notify", f->dir);
    f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    assert_true(f->fd >= 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", f->path);
    assert_int_equal(bind(f->fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    setenv("NOTIFY_SOCKET", f->path, 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    unsetenv("NOTIFY_SOCKET");
    close(f->fd);
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* The next datagram, NUL-terminated; "" when none is waiting. */
static void receive(fixture *f, char *buf, size_t size)
{
    ssize_t n = recv(f->fd, buf, size - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
}

static void test_ready_and_status(void **state)
{
    fixture *f = *state;
    char buf[1024];
    assert_true(service_notify_supported());
    assert_int_equal(service_notify_state(true, "ready"), MCSQ_OK);
    receive(f, buf, sizeof(buf));
    assert_string_equal(buf, "READY=1\nSTATUS=ready");

    assert_int_equal(service_notify_state(false, "router: joining group\nsecond line"), MCSQ_OK);
    receive(f, buf, sizeof(buf));
    assert_string_equal(buf, "STATUS=router: joining group"); /* no READY, one line */

    assert_int_equal(service_notify_state(true, NULL), MCSQ_OK);
    receive(f, buf, sizeof(buf));
    assert_string_equal(buf, "READY=1");

    assert_int_equal(service_notify_stopping(), MCSQ_OK);
    receive(f, buf, sizeof(buf));
    assert_string_equal(buf, "STOPPING=1\nSTATUS=stopping");
}

static void test_long_status_is_cut(void **state)
{
    fixture *f = *state;
    char status[2000], buf[4096];
    memset(status, 'x', sizeof(status) - 1);
    status[sizeof(status) - 1] = '\0';
    assert_int_equal(service_notify_state(false, status), MCSQ_OK);
    receive(f, buf, sizeof(buf));
    assert_memory_equal(buf, "STATUS=xxx", 10);
    assert_int_equal(strlen(buf), strlen("STATUS=") + 512);
}

static void test_without_service_manager_nothing_is_sent(void **state)
{
    fixture *f = *state;
    char buf[1024];
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(service_notify_state(true, "ready"), MCSQ_OK);
    assert_int_equal(service_notify_stopping(), MCSQ_OK);
    receive(f, buf, sizeof(buf));
    assert_string_equal(buf, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ready_and_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_status_is_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_without_service_manager_nothing_is_sent, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
