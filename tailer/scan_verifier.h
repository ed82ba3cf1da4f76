/*
 * Checksum verifier of an offline scan: a thread that reads the same binlog
 * files ahead of the scan and checks every event's CRC32, so that the scan
 * itself can skip the checksums of the events already found intact. On two
 * cores the checksums (about a sixth of a scan) then cost no time.
 *
 * The verifier publishes how far it got: every event ending at or before
 * that position is intact. The scan verifies any other event itself, as it
 * would without a verifier: before the verifier has reached it, and from
 * wherever the verifier stopped (a mismatch, anything it could not read, the
 * end of what it saw of a growing file). Errors are always found and
 * reported by the scan, with the same messages as without a verifier.
 */
#ifndef MCSQ_TAILER_SCAN_VERIFIER_H
#define MCSQ_TAILER_SCAN_VERIFIER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct scan_verifier scan_verifier;

/* A position in the stream of files: file index and byte offset. */
#define SCAN_VERIFIER_POS(file, offset) (((uint64_t)(file) << 40) | (uint64_t)(offset))

/* Starts verifying paths[0..nfiles) (borrowed until destroy). Only for
 * regular files: the verifier opens them a second time. Returns 0 or
 * MCSQ_ERR_NOMEM. */
int scan_verifier_start(scan_verifier **out, const char *const *paths, size_t nfiles);

/* Whether every event ending at or before pos (SCAN_VERIFIER_POS) has been
 * found intact. When not, the scan must check that event itself, and the
 * verifier skips ahead to it. Called by one thread (the scan's), with pos
 * growing. */
bool scan_verifier_covers(scan_verifier *v, uint64_t pos);

/* How far the verifier got (a SCAN_VERIFIER_POS): for tests and
 * diagnostics; unlike scan_verifier_covers(), it changes nothing. */
uint64_t scan_verifier_progress(const scan_verifier *v);

/* Stops the thread and frees v. NULL is a no-op. */
void scan_verifier_destroy(scan_verifier *v);

#endif
