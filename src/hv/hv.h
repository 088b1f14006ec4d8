/* SPDX-License-Identifier: MIT */
/* hv/hv.h - gntd internals shared by its files. */
#ifndef GNT_HV_H
#define GNT_HV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/proto.h"
#include "core/core.h"

/* Processes (connections) per domain, and in all: each is a descriptor of
 * gntd's (two with its pidfd), charged to its domain's share (budget.c).
 * Domains' connections together leave HV_CONN_RESERVE to control ones. */
#define HV_MAX_CONNS_PER_DOMAIN 256
#define HV_MAX_CONNS 4096
#define HV_CONN_RESERVE 64

struct hv_out {
	struct hv_out *next;
	uint8_t *buf;
	size_t len, off;
	int *fds;          /* attached to the first byte still unsent */
	uint32_t nfds;
};

struct hv_conn {
	struct hv_conn *next, *prev;
	int fd;
	bool control;           /* the control socket: dom0, privileged */
	uint16_t domid;
	pid_t pid;              /* 0 for tokens */
	int pidfd;
	/* input */
	uint8_t *in;
	size_t in_len, in_cap;
	int infds[GNT_MSG_MAX_FDS * 2];
	uint32_t ninfds;
	/* output */
	struct hv_out *out_head, *out_tail;
	bool dead;
	/* unmap notifies this process set (evtchn.c), fired when it dies */
	struct hv_unotify *unotify;
	uint32_t nunotify, unotify_cap;
	/* gntdev mappings and gntalloc shares it owns (gntdev.c) */
	uint32_t owned_maps, owned_shares;
};

/* An unmap notify (GNT_MSG_UNMAP_NOTIFY): what gntd does for a process when
 * one of its mappings or grants goes away. */
struct hv_unotify {
	uint32_t kind;          /* GNT_UNMAP_NOTIFY_MAPPING / _GRANT */
	uint32_t id;            /* maptrack handle / grant ref */
	uint32_t offset, flags, port;
	uint32_t unit, page;    /* grant: the frame the entry named when set */
	uint64_t gfn;
};

struct hv_dom {
	uint32_t nconns;
	bool had_conns;
	uint32_t map_notifies;  /* mapping notifies set by its processes */
	/* gntdev/gntalloc (gntdev.c): per maptrack handle, the connection
	 * that owns the mapping (NULL: the domain's); its shares, owned or
	 * ending; Linux's module limits, held per domain */
	struct hv_conn **mt_owner;
	uint32_t mt_owner_len;
	struct hv_share *shares;
	uint32_t alloc_limit, alloc_used, dev_limit;
};

/* inbox(H, D) of an event channel handle H: where domain D's processes set
 * the pending bits of H's ports bound to D.  Kept while such a binding is. */
struct hv_inbox {
	uint16_t dom;
	uint16_t payer;         /* charged for its descriptors (budget.c) */
	int memfd;
	int bell_w;             /* H's bell: D's own write description */
};

/* An event channel handle (a process's xenevtchn handle). */
struct hv_ehandle {
	struct hv_ehandle *next;
	uint32_t id;
	uint16_t domid;
	struct hv_conn *conn;
	int ctl;                /* write end of the handle's control socket */
	int bell_r;             /* a reader, so no writer ever gets SIGPIPE */
	int bell_w;             /* gntd's own write description, O_NONBLOCK */
	struct gnt_evtchn_inbox *g; /* the ginbox: gntd's events, gen */
	struct hv_inbox *ib;
	uint32_t nib, ib_cap;
	uint64_t *late;         /* ports whose news did not fit the control
				 * socket: sent (as they are then) when it drains */
};

struct hv {
	int epfd, lfd;
	char rundir[256];
	char sock_path[300];
	struct gnt_core *core;
	struct hv_conn *conns;
	uint64_t nconns, hypercalls;
	uint64_t ndomconns;     /* of nconns, not control connections */
	uid_t uid_base;
	uint64_t spin_ns;       /* poll this long after a request before sleeping */
	bool privileged;        /* root: domains run under their own uids */
	bool revoke;            /* kernel-checked revocation (revoke.c) */
	bool quit;
	int verbose;
};

extern struct hv *hv;

void hv_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* NULL with errno EMFILE: no room (connection limits, or the domain's
 * descriptor share), ENOMEM.  fd stays the caller's on failure. */
struct hv_conn *hv_conn_add(int fd, bool control, uint16_t domid, pid_t pid);
void hv_conn_kill(struct hv_conn *c);
/* Queue a reply: header + payload, with descriptors (not taken: dup'ed). */
int hv_reply(struct hv_conn *c, const struct gnt_msg *req, int32_t rc,
	     const void *payload, uint32_t len, const int *fds, uint32_t nfds);
/* Handle one complete request.  Returns <0 to drop the connection. */
int hv_dispatch(struct hv_conn *c, const struct gnt_msg *m, const uint8_t *payload,
		int *fds, uint32_t nfds);
/* Release domain d (its processes' connections, then the core state). */
void hv_domain_kill(struct gnt_domain *d);
int hv_count_fds(void);
/* budget.c: descriptors gntd holds because of a domain's requests.  init:
 * raise RLIMIT_NOFILE as far as allowed (to at most max_fds if not 0) and
 * give each domU 1/share of it, less HV_FD_RESERVE.  charge: 0, or -EMFILE
 * past the domain's share (dom0 has none).  force: charge without a check
 * (descriptors already open).  used: what domid holds now. */
#define HV_FD_RESERVE 256u
#define HV_FD_SHARE_DEFAULT 4u
void hv_budget_init(uint32_t share, uint32_t max_fds);
int hv_budget_charge(uint16_t domid, uint32_t n);
void hv_budget_force(uint16_t domid, uint32_t n);
void hv_budget_uncharge(uint16_t domid, uint32_t n);
uint32_t hv_budget_used(uint16_t domid);
/* xs.c: xenstore */
int hv_xs_init(void);
int hv_xs_fd(void);
void hv_xs_poll(void);
void hv_xs_fini(void);
void hv_xs_domain_created(struct gnt_domain *d);
void hv_xs_domain_gone(uint16_t domid);
/* evtchn.c */
int hv_evtchn_open(struct hv_conn *c, const struct gnt_msg *m, int *fds, uint32_t nfds);
int hv_evtchn_close_handle(struct hv_conn *c, const struct gnt_msg *m);
int hv_evtchn_op(struct hv_conn *c, const struct gnt_msg *m, const uint8_t *pl);
void hv_evtchn_conn_gone(struct hv_conn *c);
/* The bells of closed handles stay readable until their last writer (a
 * former peer) closes: init at start, fd goes in the main loop, poll on it. */
int hv_evtchn_init(void);
int hv_evtchn_fd(void);
void hv_evtchn_poll(void);
void hv_evtchn_notify(void *ctx, uint16_t domid, uint32_t port, uint64_t owner);
void hv_evtchn_unbound(void *ctx, uint16_t domid, uint32_t port, uint64_t owner);
/* Unmap notifies (evtchn.c).  set: the GNT_MSG_UNMAP_NOTIFY request.
 * conn_gone: fire (and forget) every notify of c, a process that died or
 * whose domain dies; call while its mappings, memory and ports still stand.
 * handle_release: core hook, fires the notify of a mapping being released. */
int hv_unmap_notify_set(struct hv_conn *c, const struct gnt_msg *m, const uint8_t *pl);
void hv_unmap_notify_conn_gone(struct hv_conn *c);
void hv_unmap_notify_handle_release(void *ctx, struct gnt_domain *self, uint32_t handle);
/* xfer.c: frames that change hands, and a domain's own frames by gfn */
void hv_transfer(struct gnt_domain *self, struct gnttab_transfer *ops, uint32_t n);
int hv_exchange(struct hv_conn *c, const struct gnt_msg *m, const uint8_t *pl);
int hv_frame(struct hv_conn *c, const struct gnt_msg *m, const uint8_t *pl);

/* gntdev.c: process-owned gntdev mappings and gntalloc shares, released
 * when their connection closes; the domain's gntdev/gntalloc limits.
 * map_owned: after a map with GNT_HC_OWNED, record c as owner of each
 * mapping made.  conn_gone: unmap c's mappings and end its shares (call
 * after its notifies fired).  poll: retry shares still mapped by a peer
 * (after anything that may drop pins).  dom_gone: forget the domain's
 * records (its core state is released whole). */
void hv_gntdev_dom_init(struct hv_dom *hd);
int hv_gntdev_map_check(struct hv_conn *c, const struct gnt_msg *m);
void hv_gntdev_map_owned(struct hv_conn *c, const struct gnttab_map_grant_ref *ops,
			 uint32_t n);
void hv_gntdev_conn_gone(struct hv_conn *c);
int hv_gntdev_share(struct hv_conn *c, const struct gnt_msg *m, const uint8_t *pl);
int hv_gntdev_limits(struct hv_conn *c, const struct gnt_msg *m, const uint8_t *pl);
void hv_gntdev_poll(void);
void hv_gntdev_dom_gone(struct hv_dom *hd);
void hv_gntdev_handle_release(void *ctx, struct gnt_domain *self, uint32_t handle);

#endif
