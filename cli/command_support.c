/*
 * Usage errors and configuration loading shared by the subcommands (see
 * command_support.h).
 */
#include "cli/command_support.h"

#include "cli/commands.h"
#include "mcsqueal/error.h"

#include <stdio.h>

int command_usage_error(const char *command, const char *usage, const char *what, const char *arg)
{
    fprintf(stderr, "mcsqueal %s: %s%s%s\n\n%s", command, what, arg ? " " : "", arg ? arg : "",
            usage);
    return EXIT_USAGE;
}

int command_load_config(mcsq_config *cfg, const char *path)
{
    mcsq_config_errors errs;
    mcsq_config_errors_init(&errs);
    int rc = mcsq_config_load(cfg, path, &errs);
    if (rc != MCSQ_OK)
        mcsq_config_errors_print(&errs, stderr);
    mcsq_config_errors_deinit(&errs);
    return rc == MCSQ_OK ? EXIT_OK : EXIT_USAGE;
}
