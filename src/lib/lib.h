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
	pid_t gntd_pid;         /* from SO_PEERCRED when connecting; 0 unknown */
	bool lost;              /* gntd is gone: fail-stop (lost.c); atomic */
	uint32_t epoch;         /* bumped when gnt_close forgets a lost gntd */
};

extern struct gnt__state gnt__g;

/* This process's pid without a system call (kept across fork). */
pid_t gnt__pid(void);

/* Ensure an open connection (lock held). */
int gnt__ensure(void);
/* One request/reply (lock held).  Reply payload goes to out (up to out_len,
 * the rest is an error), descriptors to fds (up to *nfds, in/out).
 * -EMFILE: gntd did what was asked and the reply is whole (out, got_len,
 * aux and rc are set), but the kernel dropped descriptors we had no room
 * for: none are returned, and what gntd made for them is the caller's to
 * undo. */
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
/* 0, or why calls on h fail: -EBADF (a forked child's copy), -ESHUTDOWN
 * (its gntd is gone).  No system call. */
typedef struct gnt_evtchn_handle gnt_evtchn_handle;
int gnt__evtchn_usable(gnt_evtchn_handle *h);
/* EVTCHNOP_send on a port of this domain, whichever handle holds it. */
int gnt__evtchn_send(evtchn_port_t port);
/* In a child of dom0 just forked: become a process of domid through its
 * descriptor fd ($GNT_FD, $XENSTORED_PATH, uid/gid when root).  0 or -errno. */
struct gnt_dir_grant;
/* Directories of refs granted otherwise (gnt/dir.h): init sizes g and its
 * refs array for npages refs; the caller fills g->refs[0..npages); publish
 * writes and grants the directory pages. */
int gnt__dir_init(struct gnt_dir_grant *g, domid_t peer, size_t npages);
/* Grant the n pages of our memory at va to domid under one lock (one
 * region lookup per run of our memory): refs[0 .. *granted) are granted.
 * 0, or -EINVAL (not our memory, or a v1 gfn over 32 bits) / -ENOSPC and
 * the pages before it granted. */
int gnt__grant_pages(domid_t domid, const void *va, size_t n, int readonly, grant_ref_t *refs,
		     size_t *granted);
/* gnt_virt_to_gfn with the lock held; *run: pages from p to the end of its
 * region of our memory. */
uint64_t gnt__virt_to_gfn_locked(const void *p, size_t *run);
int gnt__dir_publish(struct gnt_dir_grant *g);
int gnt__domain_enter(int fd, uint32_t domid, uid_t uid, gid_t gid);

/* ---- foreign pages (foreign.c): handle -> mapping, address -> handle ---- */

/* Record mapped ops (all okay, host_addr set).  0 or -ENOMEM (none added). */
int gnt__ftab_add(const struct gnttab_map_grant_ref *ops, uint32_t n);
/* Where this process maps handle (0: nowhere), and its dev_bus_addr. */
uint64_t gnt__ftab_addr(uint32_t handle, uint64_t *dev);
/* Forget the mappings of ops that were unmapped (status okay). */
void gnt__ftab_del(const struct gnttab_unmap_grant_ref *ops, uint32_t n);
/* -EBUSY if a page of ops has a count above 1; else 0, and their pages
 * refuse gnt_page_get until forgotten or gnt__ftab_unclaim. */
int gnt__ftab_claim_idle(const struct gnttab_unmap_grant_ref *ops, void *const *pages,
			 uint32_t n);
void gnt__ftab_unclaim(const struct gnttab_unmap_grant_ref *ops, uint32_t n);

/* ---- gntd's death (lost.c) ---------------------------------------------- */

/* This process knows its gntd is gone: every call needing gntd fails with
 * -ESHUTDOWN until gnt_close() (which bumps the epoch).  No system call. */
bool gnt__lost(void);
uint32_t gnt__epoch(void);
/* Mark gntd lost and ring every registered bell (once). */
void gnt__set_lost(void);
/* A connection error: -ECONNRESET/-EPIPE mean gntd is gone (marked lost,
 * -ESHUTDOWN returned); anything else is returned as it is. */
int gnt__conn_lost(int err);
/* A bell (a write end of an event channel handle's pipe) that
 * gnt__set_lost rings, so that a sleeper in gnt_evtchn_wait wakes up.  The
 * first one starts a thread watching gntd_pid (a pidfd); the last one's
 * removal stops it.  Not under gnt__g.lock. */
struct gnt__waker {
	struct gnt__waker *next;
	int bell;
};
void gnt__waker_add(struct gnt__waker *k, pid_t gntd_pid);
void gnt__waker_del(struct gnt__waker *k);

/* ---- safe unmap (map.c, unmap_async.c) ----------------------------------- */

/* Unmap ops if their pages are idle (else -EBUSY, nothing done).  retry:
 * a queued item's later check, which must not reconnect: -ESHUTDOWN when
 * this process has no live connection to gntd. */
int gnt__unmap_idle(struct gnttab_unmap_grant_ref *ops, void *const *pages, uint32_t n,
		    bool retry);
/* Teardown: every queued safe unmap gets done(-ESHUTDOWN). No lock held. */
void gnt__unmap_async_cancel(void);

/* ---- grant table v2 (transport.c, grant.c) ---------------------------- */

/* Map the v2 status frames from gntd's descriptor (taken: closed here). */
int gnt__status_map_and_close(int fd);
/* set_version through gntd; on success the version in effect is cached and,
 * for v2, the status frames mapped.  *now: the version in effect. */
int gnt__set_version(uint32_t want, uint32_t *now);
/* Unmap and forget this process's mappings of gfns [gfn, gfn + n), which
 * are no longer this domain's memory (lock held). */
void gnt__page_forget(uint64_t gfn, uint64_t n);

#endif
