/*
 * Audit verdicts (see audit_verdict.h).
 */
#include "invalidator/audit_verdict.h"

static const char *const result_names[AUDIT_NRESULTS] = {"held", "survived", "ambiguous",
                                                         "unreachable", "dropped"};

const char *audit_result_name(audit_result r)
{
    return (unsigned)r < AUDIT_NRESULTS ? result_names[r] : "?";
}

audit_result audit_verdict(const audit_marks *m, bool present, uint64_t cas, uint32_t epoch)
{
    if (!present)
        return AUDIT_HELD;
    if (m->before_epoch == 0 || m->before_epoch != epoch || m->before == 0)
        return AUDIT_AMBIGUOUS;
    if (cas < m->before)
        return AUDIT_SURVIVED;
    if (m->after_epoch == epoch && cas > m->after)
        return AUDIT_HELD;
    return AUDIT_AMBIGUOUS;
}

audit_result audit_verdict_merge(audit_result acc, audit_result r)
{
    static const int rank[AUDIT_NRESULTS] = {0, 3, 1, 2,
                                             0}; /* held survived ambiguous unreachable */
    return rank[r] > rank[acc] ? r : acc;
}
