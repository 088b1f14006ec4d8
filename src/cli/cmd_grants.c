/* SPDX-License-Identifier: MIT */
/* cli/cmd_grants.c - gnt grants NAME|ID: the grant table as gntd sees it,
 * like `xl debug-keys g`: ref, flags, grantee, frame, pins. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "gnt/gnt.h"

static void flags_str(uint16_t f, char *b)
{
	static const char *types[] = {"invalid", "permit", "transfer", "transitive"};
	sprintf(b, "%s%s%s%s", types[f & GTF_type_mask], f & GTF_readonly ? ",ro" : "",
		f & GTF_reading ? ",reading" : "", f & GTF_writing ? ",writing" : "");
}

int cli_grants(int argc, char **argv)
{
	bool json = cli_has_flag(&argc, argv, "--json");
	struct gnt_grant_dump *v;
	int id, n;
	char fb[64];

	if (argc != 2) {
		fprintf(stderr, "usage: gnt grants NAME|ID [--json]\n");
		return 2;
	}
	id = cli_domid(argv[1]);
	if (id < 0)
		return 1;
	v = calloc(4096u * 512, sizeof(*v));
	if (!v)
		return 1;
	n = gnt_domain_grants((uint32_t)id, v, 4096 * 512);
	if (n < 0) {
		free(v);
		if (n == -ESRCH) { /* a numeric id is not looked up */
			fprintf(stderr, "gnt: no domain %s\n", argv[1]);
			return 1;
		}
		return cli_fail("grants", n);
	}
	if (json)
		printf("[");
	else
		printf("d%d grant table: %d entries in use\n%8s %-24s %7s %10s %4s %4s %s\n", id,
		       n, "ref", "flags", "grantee", "frame", "rd", "wr", "pinned-by");
	for (int i = 0; i < n; i++) {
		flags_str(v[i].flags, fb);
		if (json)
			printf("%s{\"ref\":%u,\"flags\":%u,\"type\":\"%s\",\"grantee\":%u,"
			       "\"frame\":%u,\"read_pins\":%u,\"write_pins\":%u,\"pinned_by\":%d}",
			       i ? "," : "", v[i].ref, v[i].flags, fb, v[i].domid, v[i].frame,
			       v[i].rd_pins, v[i].wr_pins,
			       v[i].pinned_by == DOMID_INVALID ? -1 : v[i].pinned_by);
		else if (v[i].pinned_by == DOMID_INVALID)
			printf("%8u %-24s %7u %#10x %4u %4u -\n", v[i].ref, fb, v[i].domid,
			       v[i].frame, v[i].rd_pins, v[i].wr_pins);
		else
			printf("%8u %-24s %7u %#10x %4u %4u d%u\n", v[i].ref, fb, v[i].domid,
			       v[i].frame, v[i].rd_pins, v[i].wr_pins, v[i].pinned_by);
	}
	if (json)
		printf("]\n");
	free(v);
	return 0;
}
