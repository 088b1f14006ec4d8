/* SPDX-License-Identifier: MIT */
/*
 * compat/xenctrl.c - a minimal libxenctrl.so.4.17: the three calls
 * Debian's vchan-socket-proxy (and C xenstored) import, with Xen 4.17's
 * prototypes and xc_dominfo_t (from libxen-dev's xenctrl.h).
 *
 * xc_domain_getinfo is XEN_DOMCTL_getdomaininfo: Xen allows it to the
 * control domain (and the xenstore domain) only, and so does gntd (its
 * domain list is a dom0 request): a process of another domain gets -1 with
 * EPERM, which vchan-socket-proxy takes as "keep waiting".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xenctrl.h>

#include "compat/compat.h"

struct xc_interface_core {
	unsigned int flags;
};

xc_interface *xc_interface_open(xentoollog_logger *logger, xentoollog_logger *dombuild_logger,
				unsigned int open_flags)
{
	xc_interface *xch;
	int err = gnt__compat_connect();

	if (err) { /* no gntd: as Xen without privcmd */
		errno = -err;
		return NULL;
	}
	xch = calloc(1, sizeof(*xch));
	if (!xch) {
		errno = ENOMEM;
		return NULL;
	}
	xch->flags = open_flags;
	return xch;
}

int xc_interface_close(xc_interface *xch)
{
	free(xch);
	return 0;
}

static void fill(xc_dominfo_t *info, const struct gnt__compat_dom *d)
{
	memset(info, 0, sizeof(*info));
	info->domid = d->domid;
	info->dying = d->dying ? 1 : 0;
	info->running = !d->dying;
	info->nr_pages = (unsigned long)d->tot_pages;
	info->max_memkb = (unsigned long)(d->max_pages * 4);
	info->nr_online_vcpus = 1;
}

int xc_domain_getinfo(xc_interface *xch, uint32_t first_domid, unsigned int max_doms,
		      xc_dominfo_t *info)
{
	struct gnt__compat_dom *v;
	int n;

	if (!max_doms)
		return 0;
	if (max_doms > DOMID_FIRST_RESERVED)
		max_doms = DOMID_FIRST_RESERVED;
	v = calloc(max_doms, sizeof(*v));
	if (!v) {
		errno = ENOMEM;
		return -1;
	}
	n = gnt__compat_domains(first_domid, v, max_doms);
	if (n == 0)
		n = -ESRCH; /* as the domctl: no domain at or after first_domid */
	for (int i = 0; i < n; i++)
		fill(&info[i], &v[i]);
	free(v);
	if (n < 0) {
		errno = -n;
		return -1;
	}
	return n;
}
