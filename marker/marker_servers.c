/*
 * Server list parsing for the marker library (see marker_servers.h).
 */
#include "marker/marker_servers.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define HOST_MAX 255

static bool is_sep(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',';
}

/* Splits one entry [s, s+len) into host and port. */
static int parse_entry(const char *s, size_t len, char *host, unsigned *port, char *why,
                       size_t why_size)
{
    const char *colon = NULL;
    const char *h = s, *hend;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL || close + 1 >= s + len || close[1] != ':') {
            snprintf(why, why_size, "\"%.*s\": expected [ipv6]:port", (int)len, s);
            return -1;
        }
        h = s + 1;
        hend = close;
        colon = close + 1;
    } else {
        for (const char *p = s; p < s + len; p++)
            colon = *p == ':' ? p : colon;
        hend = colon;
    }
    if (colon == NULL || hend == h || (size_t)(hend - h) > HOST_MAX) {
        snprintf(why, why_size, "\"%.*s\": expected host:port", (int)(len < 300 ? len : 300), s);
        return -1;
    }
    unsigned long v = 0;
    const char *p = colon + 1;
    if (p == s + len) {
        snprintf(why, why_size, "\"%.*s\": missing port", (int)len, s);
        return -1;
    }
    for (; p < s + len; p++) {
        if (*p < '0' || *p > '9' || (v = v * 10 + (unsigned long)(*p - '0')) > 65535) {
            snprintf(why, why_size, "\"%.*s\": port is not a number from 1 to 65535",
                     (int)(len < 300 ? len : 300), s);
            return -1;
        }
    }
    if (v == 0) {
        snprintf(why, why_size, "\"%.*s\": port is not a number from 1 to 65535", (int)len, s);
        return -1;
    }
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
    *port = (unsigned)v;
    return 0;
}

/* Takes a trailing ":weight" off the entry [s, s + *len) when it has one
 * ("host:port:weight", "[v6]:port:weight"). Returns 0, or -1 with why. */
static int split_weight(const char *s, size_t *len, unsigned *weight, char *why, size_t why_size)
{
    const char *from = s;
    if (*len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', *len);
        if (close == NULL)
            return 0; /* parse_entry says why */
        from = close + 1;
    }
    size_t colons = 0;
    const char *last = NULL;
    for (const char *p = from; p < s + *len; p++)
        if (*p == ':')
            colons++, last = p;
    if (colons < 2)
        return 0;
    unsigned long w = 0;
    const char *p = last + 1;
    for (; p < s + *len && *p >= '0' && *p <= '9' && w <= 1000; p++)
        w = w * 10 + (unsigned long)(*p - '0');
    if (colons > 2 || p != s + *len || p == last + 1 || w < 1 || w > 1000) {
        snprintf(why, why_size, "\"%.*s\": weight is not a number from 1 to 1000",
                 (int)(*len < 300 ? *len : 300), s);
        return -1;
    }
    *weight = (unsigned)w;
    *len = (size_t)(last - s);
    return 0;
}

int marker_servers_parse(const char *list, marker_server_fn fn, void *ctx, char *why,
                         size_t why_size)
{
    int n = 0;
    const char *p = list;
    while (p != NULL && *p != '\0') {
        while (is_sep(*p))
            p++;
        if (*p == '\0')
            break;
        const char *start = p;
        while (*p != '\0' && !is_sep(*p))
            p++;
        char host[HOST_MAX + 1];
        unsigned port, weight = 0;
        size_t len = (size_t)(p - start);
        if (split_weight(start, &len, &weight, why, why_size) != 0 ||
            parse_entry(start, len, host, &port, why, why_size) != 0)
            return -1;
        if (fn(ctx, host, port, weight) != 0) {
            snprintf(why, why_size, "cannot add server %s:%u", host, port);
            return -1;
        }
        n++;
    }
    return n;
}
