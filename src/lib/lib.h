/* SPDX-License-Identifier: MIT */
/* lib/lib.h - libgnt internals. */
#ifndef GNT_LIB_H
#define GNT_LIB_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/proto.h"
#include "gnt/grant.h"

struct gnt__state {
	pthread_mutex_t lock;   /* the connection and everything below */
	int fd;                 /* our private connection, -1 if none */
	pid_t pid;              /* the process that opened fd */
	int domid;
	grant_entry_v1_t *table;
	uint64_t *bitmap;       /* ref allocation, shared by the domain */
	uint32_t max_frames, nr_frames;
	size_t table_bytes;
	uint32_t version;       /* the table's version as this process last saw it */
	const grant_status_t *status; /* v2 status frames, mapped read-only */
	size_t status_bytes;
	uint64_t hypercalls;
	/* handle -> address of this process's mapping, and its dev_bus_addr */
	uint64_t *haddr, *hdev;
	uint32_t haddr_len;
};

extern struct gnt__state gnt__g;

/* Ensure an open connection (lock held). */
int gnt__ensure(void);
/* One request/reply (lock held).  Reply payload goes to out (up to out_len,
 * the rest is an error), descriptors to fds (up to *nfds, in/out). */
int gnt__rpc(uint32_t op, uint32_t cmd, uint32_t count, const void *in, uint32_t in_len,
	     const int *send_fds, uint32_t send_nfds, void *out, uint32_t out_len,
	     uint32_t *got_len, int *fds, uint32_t *nfds, int32_t *rc);
/* Same, with a header of the caller's (aux goes out, and comes back). */
int gnt__rpc_msg(const struct gnt_msg *req, const void *in, const int *send_fds, void *out,
		 uint32_t out_len, uint32_t *got_len, int *fds, uint32_t *nfds, uint32_t *aux,
		 int32_t *rc);
int gnt__grow_table(uint32_t want_frames);
/* GNT_MSG_UNMAP_NOTIFY: kind GNT_UNMAP_NOTIFY_MAPPING / _GRANT. */
int gnt__unmap_notify(uint32_t kind, uint32_t id, uint32_t offset, uint32_t flags,
		      evtchn_port_t port);
void gnt__pages_forget_all(void);
/* Map the v2 status frames from gntd's descriptor (taken: closed here). */
int gnt__status_map_and_close(int fd);
/* set_version through gntd; on success the version in effect is cached and,
 * for v2, the status frames mapped.  *now: the version in effect. */
int gnt__set_version(uint32_t want, uint32_t *now);

#endif
