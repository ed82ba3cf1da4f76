/*
 * service_notify.h through libsystemd's sd_notify(): one datagram to the
 * socket named by NOTIFY_SOCKET per call, nothing when it is unset. The
 * status line is cut at the first line break, since sd_notify's fields are
 * newline-separated.
 */
#include "core/service_notify.h"
#include "mcsqueal/error.h"

#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#define STATUS_MAX 512

static int notify(const char *state)
{
    return sd_notify(0, state) < 0 ? MCSQ_ERR_IO : MCSQ_OK;
}

int service_notify_state(bool ready, const char *status)
{
    char msg[STATUS_MAX + 32];
    int len = (int)(status ? strcspn(status, "\n") : 0);
    if (len > STATUS_MAX)
        len = STATUS_MAX;
    if (status == NULL)
        snprintf(msg, sizeof(msg), "%s", ready ? "READY=1" : "");
    else
        snprintf(msg, sizeof(msg), "%sSTATUS=%.*s", ready ? "READY=1\n" : "", len, status);
    return msg[0] ? notify(msg) : MCSQ_OK;
}

int service_notify_stopping(void)
{
    return notify("STOPPING=1\nSTATUS=stopping");
}

bool service_notify_supported(void)
{
    return true;
}
