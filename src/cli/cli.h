/* SPDX-License-Identifier: MIT */
/* cli/cli.h - gnt's subcommands: each a thin wrapper over libgnt. */
#ifndef GNT_CLI_H
#define GNT_CLI_H

#include <stdbool.h>

struct cli_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
};

int cli_up(int argc, char **argv);
int cli_down(int argc, char **argv);
int cli_domain(int argc, char **argv);
int cli_exec(int argc, char **argv);
int cli_grants(int argc, char **argv);
int cli_stats(int argc, char **argv);
int cli_run_tool(int argc, char **argv);
int cli_store(int argc, char **argv);
int cli_compare(int argc, char **argv);

/* Print "gnt: what: strerror(-err)" and return 1. */
int cli_fail(const char *what, int err);
/* Resolve NAME|ID, printing an error; returns domid or -1. */
int cli_domid(const char *s);
bool cli_has_flag(int *argc, char **argv, const char *flag);
void cli_json_str(const char *s);

#endif
