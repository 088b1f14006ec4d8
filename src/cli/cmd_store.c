/* SPDX-License-Identifier: MIT */
/*
 * cli/cmd_store.c - gnt store: where xenstore clients connect, and a few
 * conveniences over libgnt's client (as dom0):
 *   gnt store path [NAME|ID]      dom0's socket, or a domain's
 *   gnt store read PATH | write PATH VALUE | rm PATH | ls PATH | watch PATH [N]
 * Xen's own tools work unchanged too: XENSTORED_PATH=$(gnt store path) xenstore-ls
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gnt/gnt.h"

static int ls(gnt_xs *xs, const char *path, int depth)
{
	unsigned int n;
	char **kids = gnt_xs_directory(xs, GNT_XBT_NULL, path, &n);
	char child[3100];

	if (!kids)
		return -errno;
	for (unsigned int i = 0; i < n; i++) {
		char *v;
		snprintf(child, sizeof(child), "%s/%s", strcmp(path, "/") ? path : "", kids[i]);
		v = gnt_xs_read(xs, GNT_XBT_NULL, child, NULL);
		printf("%*s%s = \"%s\"\n", depth, "", kids[i], v ? v : "");
		free(v);
		ls(xs, child, depth + 1);
	}
	free(kids);
	return 0;
}

int cli_store(int argc, char **argv)
{
	const char *cmd = argc >= 2 ? argv[1] : "";
	gnt_xs *xs;
	int rc = 0;

	if (!strcmp(cmd, "path") && argc <= 3) {
		int id = 0;
		if (argc == 3 && (id = cli_domid(argv[2])) < 0)
			return 1;
		if (id == 0)
			printf("%s/xenstored.sock\n", gnt_runtime_dir());
		else
			printf("%s/xs-d%d.sock\n", gnt_runtime_dir(), id);
		return 0;
	}
	if (!((!strcmp(cmd, "read") && argc == 3) || (!strcmp(cmd, "write") && argc == 4) ||
	      (!strcmp(cmd, "rm") && argc == 3) || (!strcmp(cmd, "ls") && argc <= 3) ||
	      (!strcmp(cmd, "watch") && (argc == 3 || argc == 4)))) {
		fprintf(stderr, "usage: gnt store path [NAME|ID] | read PATH | write PATH VALUE |"
				" rm PATH | ls [PATH] | watch PATH [N]\n");
		return 2;
	}
	xs = gnt_xs_open();
	if (!xs)
		return cli_fail("gntd's store", -errno);
	if (!strcmp(cmd, "read")) {
		char *v = gnt_xs_read(xs, GNT_XBT_NULL, argv[2], NULL);
		if (v)
			printf("%s\n", v);
		rc = v ? 0 : -errno;
		free(v);
	} else if (!strcmp(cmd, "write")) {
		rc = gnt_xs_write(xs, GNT_XBT_NULL, argv[2], argv[3], (unsigned)strlen(argv[3]));
	} else if (!strcmp(cmd, "rm")) {
		rc = gnt_xs_rm(xs, GNT_XBT_NULL, argv[2]);
	} else if (!strcmp(cmd, "ls")) {
		rc = ls(xs, argc == 3 ? argv[2] : "/", 0);
	} else { /* watch: the first event is the watch's own */
		long n = argc == 4 ? strtol(argv[3], NULL, 10) : -1;
		rc = gnt_xs_watch(xs, argv[2], argv[2]);
		for (long i = 0; !rc && (n < 0 || i < n); i++) {
			char *p, *t;
			void *b;
			rc = gnt_xs_read_watch(xs, &p, &t, &b, -1);
			if (!rc) {
				printf("%s\n", p);
				fflush(stdout);
				free(b);
			}
		}
	}
	gnt_xs_close(xs);
	if (rc < 0) {
		fprintf(stderr, "gnt: store %s: %s\n", cmd, strerror(-rc));
		return 1;
	}
	return 0;
}
