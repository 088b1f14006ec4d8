/* SPDX-License-Identifier: MIT */
/* cli/cmd_store.c - gnt store path [NAME|ID]: where xenstore clients connect
 * (dom0's socket, or a domain's).  Xen's own tools then work unchanged:
 *   XENSTORED_PATH=$(gnt store path) xenstore-ls */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "gnt/gnt.h"

int cli_store(int argc, char **argv)
{
	int id = 0;

	if (argc < 2 || strcmp(argv[1], "path") || argc > 3) {
		fprintf(stderr, "usage: gnt store path [NAME|ID]\n");
		return 2;
	}
	if (argc == 3 && (id = cli_domid(argv[2])) < 0)
		return 1;
	if (id == 0)
		printf("%s/xenstored.sock\n", gnt_runtime_dir());
	else
		printf("%s/xs-d%d.sock\n", gnt_runtime_dir(), id);
	return 0;
}
