/* SPDX-License-Identifier: MIT */
/* cli/main.c - gnt, the command line: xl-like verbs over libgnt. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gnt/gnt.h"

static const struct cli_cmd cmds[] = {
	{"up", cli_up, "up [gntd options]          start gntd"},
	{"down", cli_down, "down                       stop gntd (domains die)"},
	{"domain", cli_domain,
	 "domain create NAME [--memory SIZE] [--max-grant-frames N] [--max-maptrack-frames N]\n"
	 "  domain list [--json]\n  domain destroy NAME|ID"},
	{"exec", cli_exec, "exec NAME|ID -- CMD...     run CMD as a process of the domain"},
	{"grants", cli_grants, "grants NAME|ID [--json]    dump a grant table (xl debug-keys g)"},
	{"stats", cli_stats, "stats [--json]             counts of frames, grants, mappings, fds"},
	{"store", cli_store, "store path [NAME|ID]        the xenstore socket (for XENSTORED_PATH)"},
	{"compare-sharing", cli_compare,
	 "compare-sharing [--json] [--pages N...]  map vs copy vs transfer between two domains"},
	{"demo", cli_run_tool, "demo                       run the demo (private gntd)"},
	{"bench", cli_run_tool, "bench [--json]             run the benchmarks"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: gnt COMMAND ...\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %s\n", cmds[i].usage);
	fprintf(f, "gntd's runtime directory: $GNT_RUNTIME_DIR (now %s)\n", gnt_runtime_dir());
}

/* libgnt's -ENOENT means "no gntd" as well as "no such name": ask which. */
static bool gntd_down(void)
{
	struct gnt_hv_stats s;
	return gnt_hv_stats(&s) == -ENOENT;
}

int cli_fail(const char *what, int err)
{
	fprintf(stderr, "gnt: %s: %s\n", what,
		err == -ENOENT && gntd_down() ? "gntd is not running" : strerror(-err));
	return 1;
}

int cli_domid(const char *s)
{
	int id = gnt_domain_lookup(s);
	if (id < 0) {
		if (id == -ENOENT && !gntd_down())
			fprintf(stderr, "gnt: no domain %s\n", s);
		else
			cli_fail("gntd", id);
		return -1;
	}
	return id;
}

bool cli_has_flag(int *argc, char **argv, const char *flag)
{
	for (int i = 1; i < *argc; i++)
		if (!strcmp(argv[i], flag)) {
			memmove(&argv[i], &argv[i + 1], (size_t)(*argc - i) * sizeof(*argv));
			(*argc)--;
			return true;
		}
	return false;
}

void cli_json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "gnt: unknown command %s\n", argv[1]);
	usage(stderr);
	return 2;
}
