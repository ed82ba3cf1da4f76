/*
 * What every subcommand does the same way: report a usage error with the
 * command's help, and load the configuration with its errors printed.
 */
#ifndef MCSQ_CLI_COMMAND_SUPPORT_H
#define MCSQ_CLI_COMMAND_SUPPORT_H

#include "core/config.h"

/* Prints "mcsqueal COMMAND: WHAT[ ARG]", a blank line and usage to stderr.
 * Returns EXIT_USAGE. arg may be NULL. */
int command_usage_error(const char *command, const char *usage, const char *what, const char *arg);

/* Loads path into cfg (mcsq_config_load), printing every error found to
 * stderr. Returns EXIT_OK (free cfg with mcsq_config_deinit()) or EXIT_USAGE
 * (cfg left empty). */
int command_load_config(mcsq_config *cfg, const char *path);

#endif
