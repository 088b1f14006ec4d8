/* SPDX-License-Identifier: MIT */
/* hv/backing.h - memfd frame backing: the kernel objects behind units. */
#ifndef GNT_HV_BACKING_H
#define GNT_HV_BACKING_H

#include <stdint.h>

#include "core/core.h"

struct hv_backing {
	int fd;     /* O_RDWR memfd, sealed against shrink/grow */
	int ro_fd;  /* O_RDONLY re-open, made on first read-only exposure */
	uint32_t npages;
};

extern const struct gnt_core_ops hv_backing_ops;
/* An fd for the unit with the given access (owned by the backing). */
int hv_backing_fd(struct hv_backing *b, int writable);
/* Open a sealed memfd of npages pages, mode 0600.  Returns fd or -errno. */
int hv_memfd(const char *name, uint64_t npages);

#endif
