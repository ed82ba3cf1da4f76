/*
 * Audit verdicts: what one server's answer says about one sampled
 * invalidation, from the item's CAS and the server's CAS watermarks taken
 * before the delete was sent and after it was confirmed (docs/audit.md),
 * and how the answers of a pool's servers add up to the check's result.
 */
#ifndef MCSQ_INVALIDATOR_AUDIT_VERDICT_H
#define MCSQ_INVALIDATOR_AUDIT_VERDICT_H

#include <stdbool.h>
#include <stdint.h>

/* Check results, the `result` label of mcsqueal_audit_checks_total. */
typedef enum audit_result {
    AUDIT_HELD = 0,
    AUDIT_SURVIVED,
    AUDIT_AMBIGUOUS,
    AUDIT_UNREACHABLE,
    AUDIT_DROPPED,
    AUDIT_NRESULTS
} audit_result;

/* A sample's watermarks on one server; an epoch of 0 means none was taken. */
typedef struct audit_marks {
    uint64_t before, after;
    uint32_t before_epoch, after_epoch;
} audit_marks;

/* The label value of a result ("held", ...; "?" outside the enum). */
const char *audit_result_name(audit_result r);

/* The verdict of one server that answered: absent is held; present with a
 * CAS below the before watermark survived, above the after watermark held
 * (stored after the delete); anything else ambiguous, and so is a present
 * item when the server's epoch (audit_conn_epoch()) is not the before
 * watermark's (a restart), when there was no before watermark, or when it
 * is 0 (CAS disabled with -C). */
audit_result audit_verdict(const audit_marks *m, bool present, uint64_t cas, uint32_t epoch);

/* Adds one server's verdict r to a check's result so far: survived wins,
 * then unreachable, then ambiguous, then held. */
audit_result audit_verdict_merge(audit_result acc, audit_result r);

#endif
