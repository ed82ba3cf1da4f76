/*
 * service_notify.h in builds without libsystemd: nothing to notify; units
 * for such a build use Type=exec instead of Type=notify.
 */
#include "core/service_notify.h"
#include "mcsqueal/error.h"

int service_notify_state(bool ready, const char *status)
{
    (void)ready;
    (void)status;
    return MCSQ_OK;
}

int service_notify_stopping(void)
{
    return MCSQ_OK;
}

bool service_notify_supported(void)
{
    return false;
}
