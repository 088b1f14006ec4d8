/* SPDX-License-Identifier: MIT */
/* cli/cmd_stats.c - gnt stats: gntd's totals and per-domain counts. */
#include <stdio.h>

#include "cli.h"
#include "gnt/gnt.h"

int cli_stats(int argc, char **argv)
{
	bool json = cli_has_flag(&argc, argv, "--json");
	static struct gnt_domain_info v[0x7FF0];
	struct gnt_hv_stats s;
	int rc = gnt_hv_stats(&s), n;

	if (rc < 0)
		return cli_fail("gntd", rc);
	n = gnt_domain_list(v, 0x7FF0);
	if (n < 0)
		return cli_fail("gntd", n);
	if (!json) {
		printf("domains %u (zombies %u), units %u, frames %llu, mappings %llu, pins %llu,"
		       " exposures %llu, connections %llu, fds %u, hypercalls %llu\n",
		       s.domains, s.zombies, s.units, (unsigned long long)s.frames,
		       (unsigned long long)s.mappings, (unsigned long long)s.pins,
		       (unsigned long long)s.exposures, (unsigned long long)s.connections, s.fds,
		       (unsigned long long)s.hypercalls);
		for (int i = 0; i < n; i++)
			printf("  d%-5u %-20s frames %llu, grant entries %u, mappings %u, pins %u,"
			       " processes %u%s\n",
			       v[i].domid, v[i].name, (unsigned long long)v[i].tot_pages,
			       v[i].entries_in_use, v[i].mappings, v[i].pins, v[i].procs,
			       v[i].state == 2 ? " (dying)" : "");
		return 0;
	}
	printf("{\"total\":{\"domains\":%u,\"zombies\":%u,\"units\":%u,\"frames\":%llu,"
	       "\"mappings\":%llu,\"pins\":%llu,\"exposures\":%llu,\"connections\":%llu,"
	       "\"fds\":%u,\"hypercalls\":%llu},\"domains\":[",
	       s.domains, s.zombies, s.units, (unsigned long long)s.frames,
	       (unsigned long long)s.mappings, (unsigned long long)s.pins,
	       (unsigned long long)s.exposures, (unsigned long long)s.connections, s.fds,
	       (unsigned long long)s.hypercalls);
	for (int i = 0; i < n; i++) {
		printf("%s{\"id\":%u,\"name\":", i ? "," : "", v[i].domid);
		cli_json_str(v[i].name);
		printf(",\"state\":\"%s\",\"frames\":%llu,\"grant_entries\":%u,\"mappings\":%u,"
		       "\"pins\":%u,\"processes\":%u}",
		       v[i].state == 1 ? "running" : "dying", (unsigned long long)v[i].tot_pages,
		       v[i].entries_in_use, v[i].mappings, v[i].pins, v[i].procs);
	}
	printf("]}\n");
	return 0;
}
