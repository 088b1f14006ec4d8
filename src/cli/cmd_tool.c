/* SPDX-License-Identifier: MIT */
/* cli/cmd_tool.c - gnt demo / gnt bench: run gnt-demo / gnt-bench from next
 * to this binary. */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_run_tool(int argc, char **argv)
{
	char self[PATH_MAX], path[PATH_MAX + 16];
	ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);

	(void)argc;
	if (l <= 0)
		return 1;
	self[l] = 0;
	snprintf(path, sizeof(path), "%s/gnt-%s", dirname(self), argv[0]);
	argv[0] = path;
	execv(path, argv);
	perror(path);
	return 127;
}
