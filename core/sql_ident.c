/*
 * Unquoted MySQL identifiers (see sql_ident.h).
 */
#include "core/sql_ident.h"

#include <ctype.h>

bool sql_identifier_ok(const char *s, size_t n)
{
    bool digits_only = true;
    if (n == 0 || n > SQL_IDENT_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '_' && c != '$')
            return false;
        digits_only = digits_only && isdigit(c);
    }
    return !digits_only;
}
