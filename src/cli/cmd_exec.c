/* SPDX-License-Identifier: MIT */
/* cli/cmd_exec.c - gnt exec NAME|ID -- CMD...: CMD becomes a process of the
 * domain; gnt waits for it and exits with its status. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "cli.h"
#include "gnt/gnt.h"

int cli_exec(int argc, char **argv)
{
	int id, i = 2, st;
	pid_t pid;

	if (argc < 3) {
		fprintf(stderr, "usage: gnt exec NAME|ID -- CMD...\n");
		return 2;
	}
	if (!strcmp(argv[2], "--"))
		i = 3;
	if (i >= argc) {
		fprintf(stderr, "usage: gnt exec NAME|ID -- CMD...\n");
		return 2;
	}
	id = cli_domid(argv[1]);
	if (id < 0)
		return 1;
	if (id == 0) {
		fprintf(stderr, "gnt: dom0 processes are those that may open gntd's socket\n");
		return 1;
	}
	pid = gnt_domain_spawn((uint32_t)id, argv + i);
	if (pid == -ESRCH) { /* a numeric id is not looked up */
		fprintf(stderr, "gnt: no domain %s\n", argv[1]);
		return 1;
	}
	if (pid < 0)
		return cli_fail("exec", pid);
	gnt_close(); /* our dom0 connection is not needed while we wait */
	signal(SIGINT, SIG_IGN);
	while (waitpid(pid, &st, 0) < 0)
		;
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}
