/*
 * The name rule: which bytes may make up a name that travels in topics,
 * consumer group ids, JSON and annotations (source name, region, cluster,
 * topic, the @marker region), and the character test the other word rules
 * of the configuration build on (pool names, host names, GTID tags, SQL
 * identifiers). ASCII only, whatever the locale.
 */
#ifndef MCSQ_CORE_NAME_RULE_H
#define MCSQ_CORE_NAME_RULE_H

#include <stdbool.h>
#include <stddef.h>

/* The longest region (mcsqueal.region, @marker=<region>). */
#define NAME_RULE_REGION_MAX 64

/* Whether c is an ASCII digit. */
static inline bool name_rule_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Whether every byte of s[0..len) is an ASCII letter or digit or one of the
 * bytes of punct (a NUL-terminated set). True for len 0. */
bool name_rule_chars(const char *s, size_t len, const char *punct);

/* Whether s[0..len) is made of name characters only: ASCII letters, digits,
 * '_', '.' and '-'. True for len 0: the length is the caller's rule. */
bool name_rule_word(const char *s, size_t len);

/* Whether s[0..len) is a region: 1 to NAME_RULE_REGION_MAX name characters. */
bool name_rule_region(const char *s, size_t len);

#endif
