/* SPDX-License-Identifier: MIT */
/*
 * gnt/control.h - the control domain's (dom0's) interface to gntd: start
 * and stop it, create and destroy domains, start processes in them, and read
 * its tables.  Every function returns >= 0 or a negative errno; -EPERM when
 * the caller is not dom0.
 */
#ifndef GNT_CONTROL_H
#define GNT_CONTROL_H

#include <stdint.h>
#include <sys/types.h>

#include "gnt/xen.h"

#ifdef __cplusplus
extern "C" {
#endif

struct gnt_domain_info {
	uint32_t domid;
	uint32_t state;         /* 1 running, 2 dying (zombie: still mapped) */
	char name[64];
	uint64_t tot_pages, max_pages;
	uint32_t nr_frames, max_frames;
	uint32_t entries_in_use, mappings, pins, procs, units;
	uint32_t fds;           /* gntd's descriptors held for its requests */
};

struct gnt_grant_dump {
	uint32_t ref;
	uint16_t flags, domid;
	uint32_t frame;
	uint8_t rd_pins, wr_pins;
	uint16_t pinned_by;     /* DOMID_INVALID when not pinned */
};

struct gnt_hv_stats {
	uint32_t domains, zombies, units, fds;
	uint64_t frames, mappings, pins, exposures, connections, hypercalls;
};

struct gnt_domain_config {
	uint64_t max_pages;          /* 0: 1 GiB */
	uint32_t max_grant_frames;   /* 0: 64 */
	uint32_t max_maptrack_frames;/* 0: 1024 */
};

/* The runtime directory gntd uses ($GNT_RUNTIME_DIR or the default). */
const char *gnt_runtime_dir(void);
/* Start gntd (the binary next to the caller's, or $GNT_GNTD) on the runtime
 * directory and wait until it serves.  -EADDRINUSE if one already runs.
 * extra_args: NULL-terminated, may be NULL. */
int gnt_hv_start(const char *const *extra_args);
/* Ask gntd to exit; waits until its socket is gone. */
int gnt_hv_stop(void);

/* Returns the new domid. -EEXIST name in use; -ENOSPC no ids left. */
int gnt_domain_create(const char *name, const struct gnt_domain_config *cfg);
/* Kill the domain's processes and release it.  -ESRCH: no such domain. */
int gnt_domain_destroy(uint32_t domid);
/* "NAME" or "ID" to a domid; -ENOENT. */
int gnt_domain_lookup(const char *name_or_id);
/* Up to max entries; returns the count. */
int gnt_domain_list(struct gnt_domain_info *out, int max);
/* An fd that makes a process part of domid (inheritable, for $GNT_FD), and
 * the uid/gid its processes run as.  The caller owns the fd. */
int gnt_domain_token(uint32_t domid, uid_t *uid, gid_t *gid);
/* fork+exec argv as a process of domid (uid dropped when root).  Returns
 * the child's pid. */
pid_t gnt_domain_spawn(uint32_t domid, char *const argv[]);
/* Entries in use or pinned of domid's table; returns count (<= max). */
int gnt_domain_grants(uint32_t domid, struct gnt_grant_dump *out, int max);
int gnt_hv_stats(struct gnt_hv_stats *out);

#ifdef __cplusplus
}
#endif
#endif
