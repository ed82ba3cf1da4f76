/*
 * Unquoted MySQL identifiers (see sql_ident.h).
 */
#include "core/sql_ident.h"
#include "core/name_rule.h"

bool sql_identifier_ok(const char *s, size_t n)
{
    bool digits_only = true;
    if (n == 0 || n > SQL_IDENT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        digits_only = digits_only && name_rule_digit(s[i]);
    return !digits_only && name_rule_chars(s, n, "_$");
}
