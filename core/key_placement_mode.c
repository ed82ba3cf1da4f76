/*
 * Names of the placement modes (see key_placement_mode.h).
 */
#include "core/key_placement_mode.h"
#include "mcsqueal/error.h"

#include <string.h>

const char *const key_placement_mode_words[] = {"libmemcached", "libmemcached-modula",
                                                "pymemcache",   "python-memcached",
                                                "dalli",        "cache-memcached-fast",
                                                "spymemcached", "all",
                                                "proxy",        NULL};

_Static_assert(sizeof(key_placement_mode_words) / sizeof(key_placement_mode_words[0]) ==
                   KEY_PLACEMENT_MODE_COUNT + 1,
               "one word per placement mode");

const char *key_placement_mode_name(key_placement_mode mode)
{
    return (unsigned)mode < KEY_PLACEMENT_MODE_COUNT ? key_placement_mode_words[mode] : "?";
}

bool key_placement_mode_has_weights(key_placement_mode mode)
{
    return mode == KEY_PLACEMENT_LIBMEMCACHED || mode == KEY_PLACEMENT_LIBMEMCACHED_MODULA ||
           mode == KEY_PLACEMENT_PYTHON_MEMCACHED || mode == KEY_PLACEMENT_DALLI ||
           mode == KEY_PLACEMENT_CACHE_MEMCACHED_FAST || mode == KEY_PLACEMENT_SPYMEMCACHED;
}

int key_placement_mode_parse(const char *name, key_placement_mode *out)
{
    for (int i = 0; i < KEY_PLACEMENT_MODE_COUNT; i++) {
        if (strcmp(name, key_placement_mode_words[i]) == 0) {
            *out = (key_placement_mode)i;
            return MCSQ_OK;
        }
    }
    return MCSQ_ERR_CONFIG;
}
