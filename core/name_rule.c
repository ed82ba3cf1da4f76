/*
 * The name rule (see name_rule.h). Compiled into the marker library too.
 */
#include "core/name_rule.h"

#include <string.h>

static bool ascii_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || name_rule_digit(c);
}

bool name_rule_chars(const char *s, size_t len, const char *punct)
{
    for (size_t i = 0; i < len; i++) {
        if (!ascii_alnum(s[i]) && (s[i] == '\0' || strchr(punct, s[i]) == NULL))
            return false;
    }
    return true;
}

bool name_rule_word(const char *s, size_t len)
{
    return name_rule_chars(s, len, "_.-");
}

bool name_rule_region(const char *s, size_t len)
{
    return len > 0 && len <= NAME_RULE_REGION_MAX && name_rule_word(s, len);
}
