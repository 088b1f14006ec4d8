/* SPDX-License-Identifier: MIT */
/* cli/cmd_compare.c - gnt compare-sharing: map vs copy vs transfer, counted
 * and timed between two real domains (gnt_compare_run), and what a crash of
 * either side leaves (gnt_compare_crash). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gnt/compare.h"
#include "gnt/gnt.h"

static const uint64_t default_sizes[] = {1, 16, 256, 4096, 65536, 262144};

static void print_row(const struct gnt_compare_result *r, bool json)
{
	if (json) {
		printf("{\"approach\":");
		cli_json_str(gnt_compare_name(r->approach));
		printf(",\"pages\":%llu,\"supported\":%s,\"verified\":%s,\"refs\":%llu,"
		       "\"hypercalls_donor\":%llu,\"hypercalls_recipient\":%llu,\"messages\":%llu,"
		       "\"seconds\":%.6f}\n",
		       (unsigned long long)r->npages, r->supported ? "true" : "false",
		       r->verified ? "true" : "false", (unsigned long long)r->refs,
		       (unsigned long long)r->hc_donor, (unsigned long long)r->hc_recip,
		       (unsigned long long)r->messages, r->seconds);
	} else if (!r->supported) {
		printf("%-18s %8llu  unsupported by this gntd\n", gnt_compare_name(r->approach),
		       (unsigned long long)r->npages);
	} else {
		printf("%-18s %8llu %8llu %7llu %7llu %5llu %10.3f  %s\n",
		       gnt_compare_name(r->approach), (unsigned long long)r->npages,
		       (unsigned long long)r->refs, (unsigned long long)r->hc_donor,
		       (unsigned long long)r->hc_recip, (unsigned long long)r->messages,
		       r->seconds * 1e3, r->verified ? "verified" : "CONTENT WRONG");
	}
}

static int crashes(bool json)
{
	if (!json)
		printf("\n%-18s %-24s %-24s\n", "approach", "granter killed", "recipient killed");
	for (int a = 0; a < GNT_CMP_APPROACHES; a++) {
		enum gnt_compare_outcome g, m;
		int err = gnt_compare_crash(a, 1, &g);
		if (!err)
			err = gnt_compare_crash(a, 0, &m);
		if (err)
			return cli_fail("compare-sharing", err);
		if (json) {
			printf("{\"approach\":");
			cli_json_str(gnt_compare_name(a));
			printf(",\"granter_killed\":");
			cli_json_str(gnt_compare_outcome_str(g));
			printf(",\"recipient_killed\":");
			cli_json_str(gnt_compare_outcome_str(m));
			printf("}\n");
		} else {
			printf("%-18s %-24s %-24s\n", gnt_compare_name(a), gnt_compare_outcome_str(g),
			       gnt_compare_outcome_str(m));
		}
	}
	return 0;
}

int cli_compare(int argc, char **argv)
{
	bool json = cli_has_flag(&argc, argv, "--json");
	uint64_t sizes[64];
	size_t ns = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pages")) {
			continue;
		} else if (ns < 64 && strtoull(argv[i], NULL, 0) > 0) {
			sizes[ns++] = strtoull(argv[i], NULL, 0);
		} else {
			fprintf(stderr, "usage: gnt compare-sharing [--json] [--pages N...]\n");
			return 2;
		}
	}
	if (!ns) {
		memcpy(sizes, default_sizes, sizeof(default_sizes));
		ns = sizeof(default_sizes) / sizeof(default_sizes[0]);
	}
	if (!json)
		printf("%-18s %8s %8s %7s %7s %5s %10s\n", "approach", "pages", "refs", "hc-don",
		       "hc-rcp", "msgs", "ms");
	for (size_t k = 0; k < ns; k++)
		for (int a = 0; a < GNT_CMP_APPROACHES; a++) {
			struct gnt_compare_result r;
			int err = gnt_compare_run(a, sizes[k], &r);
			if (err)
				return cli_fail("compare-sharing", err);
			print_row(&r, json);
		}
	return crashes(json);
}
