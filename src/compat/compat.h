/* SPDX-License-Identifier: MIT */
/*
 * compat/compat.h - what libxenctrl's drop-in needs from libgnt, in types
 * of its own: xenctrl.c compiles against Xen's xenctrl.h, whose Xen headers
 * definitions collide with gnt/xen.h, so the libgnt side lives in
 * dominfo.c.
 */
#ifndef GNT_COMPAT_H
#define GNT_COMPAT_H

#include <stdint.h>

struct gnt__compat_dom {
	uint32_t domid;
	int dying;
	uint64_t tot_pages, max_pages;
};

/* Connect to gntd: 0 or a negative errno. */
int gnt__compat_connect(void);
/* Up to max domains with id >= first, ascending: the count (0 when there
 * are none), or a negative errno (-EPERM: the caller is not dom0). */
int gnt__compat_domains(uint32_t first, struct gnt__compat_dom *out, unsigned int max);

#endif
