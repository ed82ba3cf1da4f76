/*
 * Parses a server list as written in a [pool] section's `servers =`:
 * "host:port" or "host:port:weight" entries separated by spaces, tabs,
 * newlines or commas; IPv6 hosts in brackets ("[::1]:11211"). Internal to the marker library.
 */
#ifndef MCSQ_MARKER_SERVERS_H
#define MCSQ_MARKER_SERVERS_H

#include <stddef.h>

/* Called once per server, in order, with host NUL-terminated (borrowed for
 * the call, brackets removed) and its weight (0 when not written; 1..1000).
 * Returns 0, or non-zero to stop with an error. */
typedef int (*marker_server_fn)(void *ctx, const char *host, unsigned port, unsigned weight);

/* Calls fn for each server of list. Returns how many servers, or -1 with the
 * reason in why (a bad entry, or fn failed). */
int marker_servers_parse(const char *list, marker_server_fn fn, void *ctx, char *why,
                         size_t why_size);

#endif
