/*
 * Entry point of the `mcsqueal` program: global options (--help, --version)
 * and dispatch to one subcommand per file (cli/cmd_*.c).
 */
#include "cli/commands.h"
#include "core/log.h"

#include <stdio.h>
#include <string.h>

#ifndef MCSQ_VERSION
#define MCSQ_VERSION "unknown"
#endif

static const cli_command commands[] = {
    {"scan", "decode binlog files offline; one JSON line per committed transaction", cmd_scan},
    {"check-config", "validate a configuration file and print every error", cmd_check_config},
    {"run", "tailer and router in one process (the one-machine default)", cmd_run},
    {"tail", "tailer only: binlog -> bus, checkpointed", cmd_tail},
    {"route", "router only: bus -> memcached pools of one cluster", cmd_route},
    {"bus", "run the embedded bus standalone; prints and writes its bootstrap address", cmd_bus},
    {"heartbeat", "write @probe heartbeats to the primary for exact lag measurement",
     cmd_heartbeat},
    {"status", "summary of a running daemon, read from its metrics endpoint", cmd_status},
    {"marker", "set, check or clear a remote marker in the regional pool", cmd_marker},
    {"audit", "look keys up now on every server of every pool (survivors of deletes)", cmd_audit},
    {"placement", "print the server of each pool that holds each key (no I/O)", cmd_placement},
    {NULL, NULL, NULL},
};

const cli_command *cli_commands(void)
{
    return commands;
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: mcsqueal <command> [--config FILE] [options]\n\n"
                 "Keeps memcached consistent with MySQL/MariaDB by tailing the binlog and\n"
                 "deleting the cache keys that committed writes name in their SQL comments.\n\n"
                 "Commands:\n");
    for (const cli_command *c = commands; c->name != NULL; c++)
        fprintf(out, "  %-14s %s\n", c->name, c->summary);
    fprintf(out, "\nRun 'mcsqueal <command> --help' for a command's options.\n"
                 "Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    log_detect_journal(); /* under systemd: the journal stamps the lines */
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(name, "--version") == 0) {
        printf("mcsqueal %s\n", MCSQ_VERSION);
        return EXIT_OK;
    }
    for (const cli_command *c = commands; c->name != NULL; c++) {
        if (strcmp(name, c->name) == 0)
            return c->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "mcsqueal: unknown command '%s'\n\n", name);
    usage(stderr);
    return EXIT_USAGE;
}
