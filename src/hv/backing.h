/* SPDX-License-Identifier: MIT */
/* hv/backing.h - memfd frame backing: the kernel objects behind units, and
 * the kernel's word on when a mapper has really let go of one (revoke.c). */
#ifndef GNT_HV_BACKING_H
#define GNT_HV_BACKING_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"

struct hv_efile;

struct hv_backing {
	int fd;     /* O_RDWR memfd, sealed against shrink/grow */
	int ro_fd;  /* O_RDONLY re-open (only without revocation checks) */
	uint32_t npages;
	bool charged;    /* a unit's: its descriptors count against owner's share */
	uint16_t owner;
	/* revocation checks (revoke.c): the unit's file handle and its
	 * exposures' files */
	struct hv_backing *hnext;
	uint64_t hkey;
	uint8_t handle[64];
	uint32_t handle_len;
	int handle_type;
	bool watched;
	struct hv_efile *efiles;
	uint32_t orphans[2]; /* releases seen but not attributed, per access */
};

extern const struct gnt_core_ops hv_backing_ops;        /* plain */
extern const struct gnt_core_ops hv_backing_revoke_ops; /* + revocation checks */
/* An fd for the unit with the given access (owned by the backing), or
 * -errno: -EMFILE when a read-only re-open would take the owner past its
 * share of gntd's descriptors. */
int hv_backing_fd(struct hv_backing *b, int writable);
/* Open a sealed memfd of npages pages, mode 0600.  Returns fd or -errno. */
int hv_memfd(const char *name, uint64_t npages);

/* ---- revoke.c ---------------------------------------------------------- */

/* Start kernel revocation checks (fanotify; needs CAP_SYS_ADMIN).  Returns 0,
 * or -errno when unavailable (then the plain ops must be used). */
int hv_revoke_init(void);
int hv_revoke_fd(void);            /* for epoll */
void hv_revoke_watch(struct hv_backing *b);
void hv_revoke_unwatch(struct hv_backing *b);
/* The descriptor a mapper gets for exposure x. */
int hv_revoke_expo_fd(struct gnt_expo *x);
/* Read and act on the kernel's release events. */
void hv_revoke_events(void);
/* Settle parked exposures: due ones (returns ms until the next is due, or
 * -1), those of a unit, those of a mapper domain, or all. */
int hv_revoke_settle_due(void);
void hv_revoke_settle_unit(struct gnt_unit *u);
void hv_revoke_settle_mapper(uint16_t domid);
void hv_revoke_settle_all(void);
int hv_revoke_expo_open(void *ctx, struct gnt_expo *x, struct gnt_unit *u);
void hv_revoke_expo_parked(void *ctx, struct gnt_expo *x);
void hv_revoke_expo_free(void *ctx, struct gnt_expo *x);

#endif
