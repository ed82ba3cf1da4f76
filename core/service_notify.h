/*
 * Telling the service manager about this process (systemd's sd_notify
 * protocol, for units with Type=notify): that it is ready, what it is doing,
 * that it stops. Every call is a no-op when the process was not started by
 * a service manager that listens (NOTIFY_SOCKET unset), and in builds
 * without libsystemd (service_notify_none.c). Thread-safe.
 */
#ifndef MCSQ_CORE_SERVICE_NOTIFY_H
#define MCSQ_CORE_SERVICE_NOTIFY_H

#include <stdbool.h>

/* Reports the process ready (READY=1) or, when ready is false, not ready;
 * status (may be NULL) is the one-line state `systemctl status` shows
 * (STATUS=). Returns 0, or MCSQ_ERR_IO when the service manager could not be
 * told (nothing else depends on it: callers may ignore it). */
int service_notify_state(bool ready, const char *status);

/* Reports that the process is stopping (STOPPING=1). Returns as above. */
int service_notify_stopping(void);

/* Whether this build can notify a service manager (built with libsystemd). */
bool service_notify_supported(void);

#endif
