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
/* gnt_unmap_refs for mappings this process no longer has (munmap'ed behind
 * our back): the address range may be someone else's now, leave it be. */
int gnt__unmap_refs_gone(struct gnttab_unmap_grant_ref *ops, unsigned int count);
/* gnt_map_refs for gntdev: the mappings are this process's connection's,
 * gntd unmaps them when it closes (GNT_HC_OWNED). */
int gnt__map_refs_owned(struct gnttab_map_grant_ref *ops, unsigned int count);
/* Forget the unit at p without freeing it (gntd frees a gntalloc share's
 * unit itself); munmap it too if `unmap`.  Returns its first gfn or
 * GNT_INVALID_GFN. */
uint64_t gnt__pages_forget(void *p, bool unmap);
/* GNT_MSG_GNTDEV_LIMITS for domid (DOMID_SELF: ours). */
struct gnt_gntdev_limits;
int gnt__gntdev_limits(struct gnt_gntdev_limits *l);
/* EVTCHNOP_send on a port of this domain, whichever handle holds it. */
int gnt__evtchn_send(evtchn_port_t port);
/* In a child of dom0 just forked: become a process of domid through its
 * descriptor fd ($GNT_FD, $XENSTORED_PATH, uid/gid when root).  0 or -errno. */
struct gnt_dir_grant;
/* Directories of refs granted otherwise (gnt/dir.h): init sizes g and its
 * refs array for npages refs; the caller fills g->refs[0..npages); publish
 * writes and grants the directory pages. */
int gnt__dir_init(struct gnt_dir_grant *g, domid_t peer, size_t npages);
int gnt__dir_publish(struct gnt_dir_grant *g);
int gnt__domain_enter(int fd, uint32_t domid, uid_t uid, gid_t gid);

#endif
