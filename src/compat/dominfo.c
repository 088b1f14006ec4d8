/* SPDX-License-Identifier: MIT */
/* compat/dominfo.c - gntd's domain table for libxenctrl's drop-in. */
#include <errno.h>
#include <stdlib.h>

#include "compat/compat.h"
#include "gnt/control.h"
#include "gnt/grant.h"

int gnt__compat_connect(void)
{
	int id = gnt_domid();
	return id < 0 ? id : 0;
}

int gnt__compat_domains(uint32_t first, struct gnt__compat_dom *out, unsigned int max)
{
	enum { ALL = DOMID_FIRST_RESERVED };
	struct gnt_domain_info *v = calloc(ALL, sizeof(*v));
	unsigned int k = 0;
	int n;

	if (!v)
		return -ENOMEM;
	n = gnt_domain_list(v, ALL);
	/* gntd lists in ascending domid order */
	for (int i = 0; i < n && k < max; i++) {
		if (v[i].domid < first)
			continue;
		out[k].domid = v[i].domid;
		out[k].dying = v[i].state != 1;
		out[k].tot_pages = v[i].tot_pages;
		out[k].max_pages = v[i].max_pages;
		k++;
	}
	free(v);
	return n < 0 ? n : (int)k;
}
