/* SPDX-License-Identifier: MIT */
/* cli/cmd_domain.c - gnt domain create|list|destroy. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gnt/gnt.h"

/* "64M", "1G", "4096K", bytes otherwise; returns pages or 0 */
static uint64_t parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	uint64_t mul = 1;

	switch (*end) {
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	case 0: mul = 1ull << 20; break; /* xl: memory in MiB */
	}
	if ((*end && strcmp(end, "iB") && strcmp(end, "B")) || v <= 0)
		return 0;
	return (uint64_t)(v * (double)mul) / 4096;
}

static int create(int argc, char **argv)
{
	struct gnt_domain_config cfg = {0};
	const char *name = NULL;
	int id;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--memory") && i + 1 < argc) {
			cfg.max_pages = parse_size(argv[++i]);
			if (!cfg.max_pages) {
				fprintf(stderr, "gnt: bad size %s\n", argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--max-grant-frames") && i + 1 < argc) {
			cfg.max_grant_frames = (uint32_t)strtoul(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--max-maptrack-frames") && i + 1 < argc) {
			cfg.max_maptrack_frames = (uint32_t)strtoul(argv[++i], NULL, 0);
		} else if (!name && argv[i][0] != '-') {
			name = argv[i];
		} else {
			fprintf(stderr, "gnt: domain create: unexpected %s\n", argv[i]);
			return 2;
		}
	}
	if (!name) {
		fprintf(stderr, "usage: gnt domain create NAME [--memory SIZE]\n");
		return 2;
	}
	id = gnt_domain_create(name, &cfg);
	if (id == -EEXIST) {
		fprintf(stderr, "gnt: a domain named %s exists\n", name);
		return 1;
	}
	if (id < 0)
		return cli_fail("domain create", id);
	printf("%d\n", id);
	return 0;
}

static int list(int argc, char **argv)
{
	bool json = cli_has_flag(&argc, argv, "--json");
	static struct gnt_domain_info v[0x7FF0];
	int n = gnt_domain_list(v, 0x7FF0);

	if (n < 0)
		return cli_fail("gntd", n);
	if (!json)
		printf("%-20s %5s %8s %10s %8s %6s %6s %5s %s\n", "Name", "ID", "Mem(KiB)",
		       "MaxMem", "Grants", "Maps", "Pins", "Procs", "State");
	if (json)
		printf("[");
	for (int i = 0; i < n; i++) {
		const char *st = v[i].state == 1 ? "running" : "dying";
		if (json) {
			printf("%s{\"id\":%u,\"name\":", i ? "," : "", v[i].domid);
			cli_json_str(v[i].name);
			printf(",\"state\":\"%s\",\"pages\":%llu,\"max_pages\":%llu,"
			       "\"grant_frames\":%u,\"max_grant_frames\":%u,"
			       "\"grant_entries_in_use\":%u,\"mappings\":%u,\"pins\":%u,"
			       "\"processes\":%u,\"units\":%u,\"fds\":%u}",
			       st, (unsigned long long)v[i].tot_pages,
			       (unsigned long long)v[i].max_pages, v[i].nr_frames, v[i].max_frames,
			       v[i].entries_in_use, v[i].mappings, v[i].pins, v[i].procs,
			       v[i].units, v[i].fds);
		} else {
			printf("%-20s %5u %8llu %10llu %8u %6u %6u %5u %s\n", v[i].name, v[i].domid,
			       (unsigned long long)v[i].tot_pages * 4,
			       (unsigned long long)v[i].max_pages * 4, v[i].entries_in_use,
			       v[i].mappings, v[i].pins, v[i].procs, st);
		}
	}
	if (json)
		printf("]\n");
	return 0;
}

static int destroy(int argc, char **argv)
{
	int id, rc;

	if (argc != 2) {
		fprintf(stderr, "usage: gnt domain destroy NAME|ID\n");
		return 2;
	}
	id = cli_domid(argv[1]);
	if (id < 0)
		return 1;
	if (id == 0) {
		fprintf(stderr, "gnt: domain 0 cannot be destroyed\n");
		return 1;
	}
	rc = gnt_domain_destroy((uint32_t)id);
	if (rc == -ESRCH) {
		fprintf(stderr, "gnt: no domain %s\n", argv[1]);
		return 1;
	}
	return rc < 0 ? cli_fail("domain destroy", rc) : 0;
}

int cli_domain(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "create"))
		return create(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "list"))
		return list(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "destroy"))
		return destroy(argc - 1, argv + 1);
	fprintf(stderr, "usage: gnt domain create|list|destroy ...\n");
	return 2;
}
