/*
 * The subcommands of the `mcsqueal` program. Each takes the arguments after
 * its name (argv[0] is the command name) and returns the process exit code:
 * 0 ok, 1 runtime failure, 2 usage or configuration error.
 */
#ifndef MCSQ_CLI_COMMANDS_H
#define MCSQ_CLI_COMMANDS_H

#define EXIT_OK 0
#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} cli_command;

int cmd_scan(int argc, char **argv);
int cmd_check_config(int argc, char **argv);
int cmd_bus(int argc, char **argv);
int cmd_tail(int argc, char **argv);
int cmd_route(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_heartbeat(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_marker(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_placement(int argc, char **argv);

/* Returns the table of commands, terminated by an entry with name NULL. */
const cli_command *cli_commands(void);

#endif
