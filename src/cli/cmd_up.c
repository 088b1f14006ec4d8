/* SPDX-License-Identifier: MIT */
/* cli/cmd_up.c - gnt up / gnt down. */
#include <errno.h>
#include <stdio.h>

#include "cli.h"
#include "gnt/gnt.h"

int cli_up(int argc, char **argv)
{
	int rc = gnt_hv_start((const char *const *)argv + 1);
	(void)argc;
	if (rc == -EADDRINUSE) {
		fprintf(stderr, "gnt: gntd already runs on %s\n", gnt_runtime_dir());
		return 1;
	}
	if (rc == -ENOENT) { /* gntd could not be executed */
		fprintf(stderr, "gnt: cannot run gntd (next to gnt, in $PATH, or $GNT_GNTD)\n");
		return 1;
	}
	if (rc < 0)
		return cli_fail("starting gntd", rc);
	printf("gntd serving %s/gntd.sock\n", gnt_runtime_dir());
	return 0;
}

int cli_down(int argc, char **argv)
{
	int rc = gnt_hv_stop();
	(void)argc, (void)argv;
	if (rc < 0)
		return cli_fail("gntd", rc);
	return 0;
}
