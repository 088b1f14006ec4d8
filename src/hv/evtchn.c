/* SPDX-License-Identifier: MIT */
/*
 * hv/evtchn.c - event channel delivery (docs/design.md "Event channels").
 * The core (core/evtchn.c) says who is bound to whom; here every handle gets
 * a doorbell pipe, a ginbox for gntd's own events and one inbox per peer
 * domain, and the two ends of a binding learn each other's inbox and bell
 * (bind reply, PEER on the control socket).  From then on processes signal
 * each other without gntd: a bit in the receiver's inbox for the sender's
 * domain, a byte on its bell.  The receiver accepts a bit from inbox(H, D)
 * only for a port bound to D, so a former peer that kept its mapping and
 * bell reaches nothing but spurious wake-ups.
 */
#define _GNU_SOURCE
#include "hv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backing.h"
#include "common/evtchn_inbox.h"
#include "common/fdpass.h"
#include "core/evtchn.h"
#include "gnt/grant.h"

#define HV_MAX_HANDLES_PER_CONN 64
/* gntd's descriptors per handle (ctl, bell_r, bell_w) and per inbox
 * (memfd, bell_w), charged to a domain's share (budget.c) */
#define HANDLE_FDS 3u
#define INBOX_FDS 2u

static struct hv_ehandle *handles;
static uint32_t next_id = 1;
/* epoll set (hv_evtchn_poll): closed handles' bells (data.fd), and control
 * sockets with late news to send (LATE_KEY | handle id) */
static int retired = -1;
#define LATE_KEY (1ull << 63)

static void late_flush(struct hv_ehandle *h);

static struct hv_ehandle *handle_get(uint32_t id)
{
	for (struct hv_ehandle *h = handles; h; h = h->next)
		if (h->id == id)
			return h;
	return NULL;
}

int hv_evtchn_init(void)
{
	retired = epoll_create1(EPOLL_CLOEXEC);
	return retired < 0 ? -errno : 0;
}

int hv_evtchn_fd(void)
{
	return retired;
}

/* A descriptor charged to dom (budget.c) closes. */
static void close_charged(int fd, uint16_t dom)
{
	if (fd < 0)
		return;
	close(fd);
	hv_budget_uncharge(dom, 1);
}

/* A closed handle's bell stays readable while anyone may still write it: a
 * pipe without readers would kill a peer with SIGPIPE for notifying before
 * it heard that the binding ended.  Watched for EPOLLHUP only (events 0):
 * the last writer closed.  Writers are its former peers' processes, so what
 * stays is theirs and goes when they drop it (UNBOUND) or die.  It stays
 * charged to the handle's owner until then (the epoll data carries whom):
 * which writer keeps it open gntd cannot tell. */
static void bell_retire(int r, uint16_t owner)
{
	struct epoll_event ev = {.events = 0,
				 .data.u64 = (uint32_t)r | (uint64_t)owner << 32};

	if (epoll_ctl(retired, EPOLL_CTL_ADD, r, &ev) < 0) {
		hv_log("event channel bell kept by nobody: %s", strerror(errno));
		close_charged(r, owner);
	}
}

void hv_evtchn_poll(void)
{
	struct epoll_event ev[64];
	int n = epoll_wait(retired, ev, 64, 0);

	for (int i = 0; i < n; i++) {
		struct hv_ehandle *h;
		if (ev[i].data.u64 & LATE_KEY) {
			h = handle_get((uint32_t)ev[i].data.u64);
			if (h)
				late_flush(h);
			continue;
		}
		int fd = (int)(uint32_t)ev[i].data.u64;
		epoll_ctl(retired, EPOLL_CTL_DEL, fd, NULL);
		close_charged(fd, (uint16_t)(ev[i].data.u64 >> 32));
	}
}

/* A new open file description of fd's pipe end (not a dup): its flags are
 * its holder's alone, so a domain that clears O_NONBLOCK on its bell only
 * makes its own notifies block. */
static int reopen(int fd, int flags)
{
	char path[40];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, flags | O_CLOEXEC | O_NONBLOCK);
}

static struct gnt_evtchn_inbox *inbox_map(int fd)
{
	void *p = mmap(NULL, GNT_EVTCHN_INBOX_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void close_if(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* ---- inboxes ----------------------------------------------------------- */

static int64_t inbox_find(const struct hv_ehandle *h, uint16_t dom)
{
	for (uint32_t i = 0; i < h->nib; i++)
		if (h->ib[i].dom == dom)
			return i;
	return -1;
}

/* inbox(h, dom), made on first use and charged to payer (the binder:
 * its request made it); its index, -ENOSPC past payer's share, or -ENOMEM.
 * At most one per peer domain, and only while a port of h is bound to it. */
static int64_t inbox_get(struct hv_ehandle *h, uint16_t dom, uint16_t payer)
{
	int64_t i = inbox_find(h, dom);
	struct hv_inbox ib = {.dom = dom};

	if (i >= 0)
		return i;
	if (h->nib == h->ib_cap) {
		uint32_t cap = h->ib_cap ? h->ib_cap * 2 : 4;
		struct hv_inbox *p = realloc(h->ib, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		h->ib = p;
		h->ib_cap = cap;
	}
	/* Xen's answer for a domain without a free port */
	if (hv_budget_charge(payer, INBOX_FDS) < 0)
		return -ENOSPC;
	ib.payer = payer;
	ib.memfd = hv_memfd("gnt-evtchn-inbox", 1);
	ib.bell_w = reopen(h->bell_w, O_WRONLY);
	if (ib.memfd < 0 || ib.bell_w < 0) {
		close_if(ib.memfd);
		close_if(ib.bell_w);
		hv_budget_uncharge(payer, INBOX_FDS);
		return -ENOMEM;
	}
	h->ib[h->nib] = ib;
	return h->nib++;
}

static void inbox_close(const struct hv_inbox *ib)
{
	close(ib->memfd);
	close(ib->bell_w);
	hv_budget_uncharge(ib->payer, INBOX_FDS);
}

/* Drop the inboxes of domains that no port of h is bound to any more. */
static void inbox_gc(struct hv_ehandle *h)
{
	struct gnt_domain *d = gnt_core_domain(hv->core, h->domid);
	uint64_t bound[65536 / 64] = {0};

	for (uint32_t p = 1; d && p < d->ev_len; p++)
		if (d->ev[p].state == GNT_ECS_INTERDOMAIN && d->ev[p].owner == h->id)
			bound[d->ev[p].remote_dom / 64] |= 1ull << (d->ev[p].remote_dom % 64);
	for (uint32_t i = 0; i < h->nib;) {
		uint16_t dom = h->ib[i].dom;
		if (bound[dom / 64] & (1ull << (dom % 64))) {
			i++;
			continue;
		}
		inbox_close(&h->ib[i]);
		h->ib[i] = h->ib[--h->nib];
	}
}

/* ---- handles ----------------------------------------------------------- */

/* gntd's datagram to h's owner, then gen: the owner that sees the new gen
 * finds the message queued.  False: the socket is full (the owner has not
 * read it for a while). */
static bool ctl_try(struct hv_ehandle *h, const struct gnt_evtchn_ctl *m, const int *fds,
		    uint32_t nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * GNT_EVCTL_PEER_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = {(void *)m, sizeof(*m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (nfds)
		gnt__fds_attach(&mh, cbuf.b, fds, nfds);
	if (sendmsg(h->ctl, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return false;
	/* release: the message is queued before the new gen is seen */
	atomic_fetch_add_explicit(&h->g->gen, 1, memory_order_release);
	return true;
}

/* The news about port of h as it stands now: PEER with the three
 * descriptors when it is bound to a live handle (returns 3), else UNBOUND,
 * or CLOSED when the port is no longer h's (returns 0, or -ESRCH / -ENOSPC /
 * -ENOMEM when it is bound but the peer's handle is gone or an inbox cannot
 * be made).  Inboxes it makes are charged to the binder: h's domain if
 * binder_is_h, else the peer's.  The descriptors are h's and its peer's,
 * not to be closed. */
static int port_news(struct hv_ehandle *h, uint32_t port, struct gnt_evtchn_ctl *m, int fds[3],
		     bool binder_is_h)
{
	struct gnt_domain *d = gnt_core_domain(hv->core, h->domid);
	const struct gnt_evtchn *e = d ? gnt_evtchn_port(d, port) : NULL;
	struct gnt_domain *rd;
	struct hv_ehandle *ph;
	int64_t mine, theirs;
	uint16_t payer;

	*m = (struct gnt_evtchn_ctl){.kind = GNT_EVCTL_CLOSED, .port = port};
	if (!e || e->state == GNT_ECS_FREE || e->owner != h->id)
		return 0;
	m->kind = GNT_EVCTL_UNBOUND;
	if (e->state != GNT_ECS_INTERDOMAIN)
		return 0;
	if (!(rd = gnt_core_domain(hv->core, e->remote_dom)) ||
	    !(ph = handle_get((uint32_t)gnt_evtchn_port(rd, e->remote_port)->owner)))
		return -ESRCH;
	payer = binder_is_h ? h->domid : e->remote_dom;
	if ((mine = inbox_get(h, e->remote_dom, payer)) < 0)
		return (int)mine;
	if ((theirs = inbox_get(ph, h->domid, payer)) < 0)
		return (int)theirs;
	*m = (struct gnt_evtchn_ctl){.kind = GNT_EVCTL_PEER, .port = port,
				     .peer_port = e->remote_port, .peer_handle = ph->id,
				     .peer_dom = e->remote_dom};
	/* indexes, not pointers: the second inbox_get may have moved h->ib */
	fds[0] = h->ib[mine].memfd;
	fds[1] = ph->ib[theirs].memfd;
	fds[2] = ph->ib[theirs].bell_w;
	return 3;
}

static bool late_any(const struct hv_ehandle *h)
{
	for (uint32_t i = 0; h->late && i < GNT_EVTCHN_NR_PORTS / 64; i++)
		if (h->late[i])
			return true;
	return false;
}

/* Watch h's control socket for room (EPOLLOUT), or stop. */
static void late_watch(struct hv_ehandle *h, bool on)
{
	struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = LATE_KEY | h->id};

	if (epoll_ctl(retired, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, h->ctl, &ev) < 0 &&
	    errno != EEXIST && errno != ENOENT)
		hv_log("d%u: event channel control socket: %s", h->domid, strerror(errno));
}

/* Send what is late, oldest port first, as the ports are now (a port's
 * news coalesce: only its present state matters).  Stops when the socket
 * is full again. */
static void late_flush(struct hv_ehandle *h)
{
	for (uint32_t i = 0; h->late && i < GNT_EVTCHN_NR_PORTS / 64; i++)
		for (; h->late[i]; h->late[i] &= h->late[i] - 1) {
			uint32_t port = i * 64 + (uint32_t)__builtin_ctzll(h->late[i]);
			struct gnt_evtchn_ctl m;
			int fds[3];
			int n = port_news(h, port, &m, fds, false);

			if (!ctl_try(h, &m, fds, n > 0 ? (uint32_t)n : 0))
				return;
		}
	late_watch(h, false);
}

/* Tell h's owner what became of its port.  If the socket is full the news
 * wait in h->late (one bit per port, so a peer that binds and unbinds
 * thousands of times cannot push another domain's binding out of the
 * queue) and go out as the owner reads. */
static void ctl_port(struct hv_ehandle *h, uint32_t port)
{
	struct gnt_evtchn_ctl m;
	int fds[3], n;
	bool behind;

	if (port >= GNT_EVTCHN_NR_PORTS)
		return;
	behind = late_any(h);
	if (!behind) {
		n = port_news(h, port, &m, fds, false);
		if (ctl_try(h, &m, fds, n > 0 ? (uint32_t)n : 0))
			return;
	}
	if (!h->late && !(h->late = calloc(GNT_EVTCHN_NR_PORTS / 64, sizeof(uint64_t)))) {
		hv_log("d%u: event channel news lost: out of memory", h->domid);
		return;
	}
	if (!behind)
		late_watch(h, true);
	h->late[port / 64] |= 1ull << (port % 64);
}

/* gntd's own event on port of h: through the ginbox. */
static void signal_port(struct hv_ehandle *h, uint32_t port)
{
	if (port < GNT_EVTCHN_NR_PORTS && gnt__inbox_set(h->g, port))
		gnt__bell_ring(h->bell_w);
}

/* core hook: gntd's own notification of (domid, port) */
void hv_evtchn_notify(void *ctx, uint16_t domid, uint32_t port, uint64_t owner)
{
	struct hv_ehandle *h = handle_get((uint32_t)owner);
	(void)ctx;

	if (h && h->domid == domid)
		signal_port(h, port);
}

/* core hook: (domid, port)'s peer went away.  Xen does not notify on close,
 * but events may be spurious; this one stands for anything the peer sent
 * that the owner will now refuse (it no longer takes bits for this port
 * from the peer's inbox), and tells it the binding ended, as for a death. */
void hv_evtchn_unbound(void *ctx, uint16_t domid, uint32_t port, uint64_t owner)
{
	struct hv_ehandle *h = handle_get((uint32_t)owner);
	(void)ctx;

	if (!h || h->domid != domid)
		return;
	ctl_port(h, port);
	signal_port(h, port);
	inbox_gc(h);
}

static void handle_fini(struct hv_ehandle *h)
{
	for (uint32_t i = 0; i < h->nib; i++)
		inbox_close(&h->ib[i]);
	free(h->ib);
	if (late_any(h))
		late_watch(h, false);
	free(h->late);
	if (h->g)
		munmap(h->g, GNT_EVTCHN_INBOX_BYTES);
	close_charged(h->bell_w, h->domid);
	close_charged(h->ctl, h->domid);
	if (h->bell_r >= 0)
		bell_retire(h->bell_r, h->domid);
	free(h);
}

/* A new handle's bell and ginbox; give: what its owner gets (proto.h). */
static int handle_init(struct hv_ehandle *h, int give[4])
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	h->bell_r = give[0] = p[0];
	give[2] = p[1];
	/* a byte is a ring: the smallest pipe will do */
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	/* the owner rings itself (unmask, more pending): never blocking */
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	give[1] = reopen(p[0], O_RDONLY);
	h->bell_w = reopen(p[1], O_WRONLY);
	give[3] = hv_memfd("gnt-evtchn-ginbox", 1);
	if (give[1] < 0 || h->bell_w < 0 || give[3] < 0 || !(h->g = inbox_map(give[3])))
		return -ENOMEM;
	return 0;
}

int hv_evtchn_open(struct hv_conn *c, const struct gnt_msg *m, int *fds, uint32_t nfds)
{
	struct hv_ehandle *h;
	uint32_t n = 0;
	int type, rc, give[4] = {-1, -1, -1, -1};
	socklen_t tl = sizeof(type);

	if (nfds != 1 || getsockopt(fds[0], SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
	    type != SOCK_DGRAM) {
		for (uint32_t i = 0; i < nfds; i++)
			close(fds[i]);
		return -EPROTO;
	}
	for (h = handles; h; h = h->next)
		n += h->conn == c;
	/* the ctl socket we hold from now on, and the bell's two ends: the
	 * owner's (a handle's ginbox is only mapped) */
	if (n >= HV_MAX_HANDLES_PER_CONN || hv_budget_charge(c->domid, HANDLE_FDS) < 0) {
		close(fds[0]);
		return hv_reply(c, m, -EMFILE, NULL, 0, NULL, 0);
	}
	if (!(h = calloc(1, sizeof(*h)))) {
		close(fds[0]);
		hv_budget_uncharge(c->domid, HANDLE_FDS);
		return hv_reply(c, m, -ENOMEM, NULL, 0, NULL, 0);
	}
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	h->ctl = fds[0];
	h->bell_r = h->bell_w = -1;
	h->domid = c->domid;
	rc = handle_init(h, give);
	if (rc < 0) {
		for (int i = 1; i < 4; i++)
			close_if(give[i]);
		/* handle_fini gives back what it closes or retires */
		hv_budget_uncharge(h->domid, (h->bell_r < 0) + (h->bell_w < 0));
		handle_fini(h);
		return hv_reply(c, m, rc, NULL, 0, NULL, 0);
	}
	h->id = next_id++;
	if (next_id == 0)
		next_id = 1;
	h->conn = c;
	h->next = handles;
	handles = h;
	rc = hv_reply(c, m, (int32_t)h->id, NULL, 0, give, 4);
	for (int i = 1; i < 4; i++)
		close(give[i]);
	return rc;
}

/* The handle goes: its ports close (their peers are told by
 * hv_evtchn_unbound, whether the process unbound or died). */
static void handle_free(struct hv_ehandle *h)
{
	struct hv_ehandle **pp;
	struct gnt_domain *d = gnt_core_domain(hv->core, h->domid);

	for (pp = &handles; *pp != h; pp = &(*pp)->next)
		;
	*pp = h->next;
	if (d && d->state == GNT_DOM_ALIVE)
		gnt_evtchn_close_owner(hv->core, d, h->id);
	handle_fini(h);
}

int hv_evtchn_close_handle(struct hv_conn *c, const struct gnt_msg *m)
{
	struct hv_ehandle *h = handle_get(m->count);

	if (!h || h->conn != c)
		return hv_reply(c, m, -EBADF, NULL, 0, NULL, 0);
	handle_free(h);
	return hv_reply(c, m, 0, NULL, 0, NULL, 0);
}

void hv_evtchn_conn_gone(struct hv_conn *c)
{
	for (struct hv_ehandle *h = handles, *n; h; h = n) {
		n = h->next;
		if (h->conn == c)
			handle_free(h);
	}
}

/* ---- hypercalls -------------------------------------------------------- */

/* A binding was made: each end gets the inbox it scans, the inbox it
 * signals and the bell it rings (the binder in its reply, the other end
 * over its control socket first). */
static int bind_reply(struct hv_conn *c, const struct gnt_msg *m, struct hv_ehandle *h,
		      struct evtchn_bind_interdomain *op)
{
	struct gnt_domain *self = gnt_core_domain(hv->core, h->domid);
	struct gnt_evtchn_ctl pm;
	struct gnt_msg rm = *m;
	int rfds[3];
	/* the binder gets what PEER would tell it of its new port */
	int n = port_news(h, op->local_port, &pm, rfds, true);

	if (n != 3) {
		gnt_evtchn_close(hv->core, self, op->local_port);
		inbox_gc(h);
		return hv_reply(c, m, n < 0 ? n : -ESRCH, NULL, 0, NULL, 0);
	}
	ctl_port(handle_get(pm.peer_handle), op->remote_port);
	rm.aux = pm.peer_handle;
	return hv_reply(c, &rm, 0, op, sizeof(*op), rfds, 3);
}

/* EVTCHNOP_send through gntd: the peer's ginbox (gntd's own description of
 * its bell; the sender needs nothing back). */
static int send_as(struct gnt_domain *d, uint32_t port)
{
	struct gnt_evtchn_peer to;
	struct hv_ehandle *ph;
	int rc = gnt_evtchn_send(hv->core, d, port, &to);

	if (rc != 0)
		return rc < 0 ? rc : 0; /* unbound: dropped, as Xen */
	ph = handle_get((uint32_t)to.owner);
	if (ph && ph->domid == to.dom)
		signal_port(ph, to.port);
	return 0;
}

static int op_close(struct hv_conn *c, const struct gnt_msg *m, struct gnt_domain *self,
		    struct hv_ehandle *h, uint32_t port)
{
	const struct gnt_evtchn *e = gnt_evtchn_port(self, port);
	int rc;

	if (e && e->owner && (!h || e->owner != h->id))
		return hv_reply(c, m, -EINVAL, NULL, 0, NULL, 0); /* not this handle's */
	rc = gnt_evtchn_close(hv->core, self, port);
	if (rc == 0 && h)
		inbox_gc(h);
	return hv_reply(c, m, rc, NULL, 0, NULL, 0);
}

/* EVTCHNOP_reset: the core closes every port of dom; each handle that held
 * one is told (CLOSED), or its process would go on reporting the port and
 * taking its former peer's bits for it, and notifying through a binding
 * that no longer exists. */
static int op_reset(struct gnt_domain *self, uint32_t dom)
{
	struct gnt_domain *d = dom == DOMID_SELF ? self : gnt_core_domain(hv->core, dom);
	uint32_t n = d ? d->ev_len : 0;
	uint32_t *owner = n ? calloc(n, sizeof(*owner)) : NULL;
	int rc;

	if (n && !owner)
		return -ENOMEM; /* before anything changed */
	for (uint32_t p = 1; p < n; p++)
		owner[p] = d->ev[p].state == GNT_ECS_FREE ? 0 : (uint32_t)d->ev[p].owner;
	rc = gnt_evtchn_reset(hv->core, self, dom);
	for (uint32_t p = 1; rc == 0 && p < n; p++) {
		struct hv_ehandle *h = owner[p] ? handle_get(owner[p]) : NULL;
		if (h && h->domid == d->id)
			ctl_port(h, p);
	}
	for (struct hv_ehandle *x = handles; rc == 0 && x; x = x->next)
		if (x->domid == d->id)
			inbox_gc(x);
	free(owner);
	return rc;
}

int hv_evtchn_op(struct hv_conn *c, const struct gnt_msg *m, const uint8_t *pl)
{
	struct gnt_domain *self = gnt_core_domain(hv->core, c->domid);
	struct hv_ehandle *h = m->aux ? handle_get(m->aux) : NULL;
	uint8_t arg[24];
	size_t sz;
	int rc;

	if (h && h->conn != c)
		h = NULL; /* another process's handle: not ours to use */
	switch (m->cmd & 0xFFFF) {
	case EVTCHNOP_alloc_unbound: sz = sizeof(struct evtchn_alloc_unbound); break;
	case EVTCHNOP_bind_interdomain: sz = sizeof(struct evtchn_bind_interdomain); break;
	case EVTCHNOP_close: case EVTCHNOP_send: case EVTCHNOP_unmask:
		sz = 4; break;
	case EVTCHNOP_status: sz = sizeof(struct evtchn_status); break;
	case EVTCHNOP_reset: sz = sizeof(struct evtchn_reset); break;
	default:
		return hv_reply(c, m, -ENOSYS, NULL, 0, NULL, 0);
	}
	if (m->len != sz || m->count != 1)
		return -EPROTO;
	memcpy(arg, pl, sz);
	if (!self->user)
		return hv_reply(c, m, -ESRCH, NULL, 0, NULL, 0);
	switch (m->cmd & 0xFFFF) {
	case EVTCHNOP_alloc_unbound: {
		struct evtchn_alloc_unbound *op = (void *)arg;
		if (!h)
			return hv_reply(c, m, -EBADF, NULL, 0, NULL, 0);
		if (op->dom != DOMID_SELF && op->dom != self->id)
			return hv_reply(c, m, -EPERM, NULL, 0, NULL, 0); /* delivery is ours */
		rc = gnt_evtchn_alloc_unbound(hv->core, self, op, h->id);
		return hv_reply(c, m, rc, op, sizeof(*op), NULL, 0);
	}
	case EVTCHNOP_bind_interdomain: {
		struct evtchn_bind_interdomain *op = (void *)arg;
		if (!h)
			return hv_reply(c, m, -EBADF, NULL, 0, NULL, 0);
		rc = gnt_evtchn_bind_interdomain(hv->core, self, op, h->id);
		if (rc < 0)
			return hv_reply(c, m, rc, op, sizeof(*op), NULL, 0);
		return bind_reply(c, m, h, op);
	}
	case EVTCHNOP_send: {
		struct evtchn_send *op = (void *)arg;
		return hv_reply(c, m, send_as(self, op->port), NULL, 0, NULL, 0);
	}
	case EVTCHNOP_close: {
		uint32_t port;
		memcpy(&port, arg, 4);
		return op_close(c, m, self, h, port);
	}
	case EVTCHNOP_unmask: {
		uint32_t port;
		memcpy(&port, arg, 4);
		return hv_reply(c, m, gnt_evtchn_unmask(hv->core, self, port), NULL, 0, NULL, 0);
	}
	case EVTCHNOP_status: {
		struct evtchn_status *op = (void *)arg;
		rc = gnt_evtchn_status(hv->core, self, op);
		return hv_reply(c, m, rc, op, sizeof(*op), NULL, 0);
	}
	case EVTCHNOP_reset: {
		struct evtchn_reset *op = (void *)arg;
		return hv_reply(c, m, op_reset(self, op->dom), NULL, 0, NULL, 0);
	}
	}
	return hv_reply(c, m, -ENOSYS, NULL, 0, NULL, 0);
}

/* ---- unmap notify ------------------------------------------------------ */

/* Where the byte to clear lives now; NULL when the frame is gone. */
static struct gnt_unit *notify_frame(struct gnt_domain *d, const struct hv_unotify *n,
				     uint32_t *page)
{
	if (n->kind == GNT_UNMAP_NOTIFY_MAPPING) {
		const struct gnt_maptrack *m;
		const struct gnt_active *a;
		struct gnt_domain *g;

		if (n->id >= d->mt_len || !d->mt[n->id].flags)
			return NULL;
		m = &d->mt[n->id];
		g = gnt_core_domain(hv->core, m->dom);
		/* the mapping's pin keeps the entry's latched frame */
		a = g ? gnt_core_active(g, m->ref) : NULL;
		if (!a || a->unit == GNT_NO_UNIT)
			return NULL;
		*page = a->page;
		return gnt_core_unit(hv->core, a->unit);
	}
	/* a grant: the frame the entry named when the notify was set, if it is
	 * still that memory of the granter (unit ids are reused) */
	{
		struct gnt_unit *u = gnt_core_unit_of_gfn(d, n->gfn, page);
		if (!u || u->id != n->unit || *page != n->page)
			return NULL;
		return u;
	}
}

static void notify_fire(struct gnt_domain *d, const struct hv_unotify *n)
{
	if (n->flags & GNT_UNMAP_NOTIFY_CLEAR_BYTE) {
		uint32_t page = 0;
		struct gnt_unit *u = notify_frame(d, n, &page);
		if (u) {
			struct hv_backing *b = u->backing;
			/* through the memfd: every mapping of the frame sees it at
			 * once, before the caller lets go of any pin */
			if (pwrite(b->fd, "", 1, (off_t)page * GNT_PAGE_SIZE + n->offset) != 1)
				hv_log("d%u: unmap notify: clearing failed: %s", d->id,
				       strerror(errno));
		}
	}
	if (n->flags & GNT_UNMAP_NOTIFY_SEND_EVENT)
		(void)send_as(d, n->port);
}

static void notify_drop(struct hv_conn *c, uint32_t i)
{
	struct gnt_domain *d = gnt_core_domain(hv->core, c->domid);
	struct hv_dom *hd = d ? d->user : NULL;

	if (c->unotify[i].kind == GNT_UNMAP_NOTIFY_MAPPING && hd && hd->map_notifies)
		hd->map_notifies--;
	c->unotify[i] = c->unotify[--c->nunotify];
}

static int64_t notify_find(const struct hv_conn *c, uint32_t kind, uint32_t id)
{
	for (uint32_t i = 0; i < c->nunotify; i++)
		if (c->unotify[i].kind == kind && c->unotify[i].id == id)
			return i;
	return -1;
}

int hv_unmap_notify_set(struct hv_conn *c, const struct gnt_msg *m, const uint8_t *pl)
{
	struct gnt_domain *d = gnt_core_domain(hv->core, c->domid);
	struct hv_dom *hd = d->user;
	struct gnt_unmap_notify rq;
	struct hv_unotify n = {0};
	int64_t i;

	if (m->len != sizeof(rq))
		return -EPROTO;
	memcpy(&rq, pl, sizeof(rq));
	if ((rq.kind != GNT_UNMAP_NOTIFY_MAPPING && rq.kind != GNT_UNMAP_NOTIFY_GRANT) ||
	    rq.offset >= GNT_PAGE_SIZE ||
	    (rq.flags & ~(uint32_t)(GNT_UNMAP_NOTIFY_CLEAR_BYTE | GNT_UNMAP_NOTIFY_SEND_EVENT)))
		return hv_reply(c, m, -EINVAL, NULL, 0, NULL, 0);
	if (rq.flags & GNT_UNMAP_NOTIFY_SEND_EVENT) {
		const struct gnt_evtchn *e = gnt_evtchn_port(d, rq.port);
		if (!e || (e->state != GNT_ECS_UNBOUND && e->state != GNT_ECS_INTERDOMAIN))
			return hv_reply(c, m, -EINVAL, NULL, 0, NULL, 0);
	}
	n.kind = rq.kind;
	n.id = rq.id;
	n.offset = rq.offset;
	n.flags = rq.flags;
	n.port = rq.port;
	if (rq.kind == GNT_UNMAP_NOTIFY_MAPPING) {
		/* a live mapping of this domain (handles are domain-wide, as
		 * Xen's); clearing a byte through a read-only one: -EINVAL, as
		 * gntdev */
		if (rq.id >= d->mt_len || !d->mt[rq.id].flags)
			return hv_reply(c, m, -ENOENT, NULL, 0, NULL, 0);
		if ((rq.flags & GNT_UNMAP_NOTIFY_CLEAR_BYTE) &&
		    (d->mt[rq.id].flags & GNTMAP_readonly))
			return hv_reply(c, m, -EINVAL, NULL, 0, NULL, 0);
	} else {
		struct gnt_unit *u;
		struct gnt_entry e;
		/* the frame the entry names now (a peer writes the entry: the
		 * core reads it once) */
		if (gnt_core_entry(d, rq.id, &e) < 0)
			return hv_reply(c, m, -EINVAL, NULL, 0, NULL, 0);
		n.gfn = e.frame;
		u = gnt_core_unit_of_gfn(d, n.gfn, &n.page);
		if (rq.flags && !u)
			return hv_reply(c, m, -EINVAL, NULL, 0, NULL, 0);
		n.unit = u ? u->id : GNT_NO_UNIT;
	}
	i = notify_find(c, rq.kind, rq.id);
	if (!rq.flags) { /* cancel */
		if (i >= 0)
			notify_drop(c, (uint32_t)i);
		return hv_reply(c, m, 0, NULL, 0, NULL, 0);
	}
	if (i >= 0) {
		c->unotify[i] = n; /* replaces; same kind, same count */
		return hv_reply(c, m, 0, NULL, 0, NULL, 0);
	}
	if (c->nunotify >= GNT_UNMAP_NOTIFY_MAX)
		return hv_reply(c, m, -ENOSPC, NULL, 0, NULL, 0);
	if (c->nunotify == c->unotify_cap) {
		uint32_t cap = c->unotify_cap ? c->unotify_cap * 2 : 8;
		struct hv_unotify *p = realloc(c->unotify, cap * sizeof(*p));
		if (!p)
			return hv_reply(c, m, -ENOMEM, NULL, 0, NULL, 0);
		c->unotify = p;
		c->unotify_cap = cap;
	}
	c->unotify[c->nunotify++] = n;
	if (n.kind == GNT_UNMAP_NOTIFY_MAPPING && hd)
		hd->map_notifies++;
	return hv_reply(c, m, 0, NULL, 0, NULL, 0);
}

void hv_unmap_notify_conn_gone(struct hv_conn *c)
{
	struct gnt_domain *d = gnt_core_domain(hv->core, c->domid);

	/* a domain being released fired them all already */
	while (c->nunotify) {
		struct hv_unotify n = c->unotify[c->nunotify - 1];
		notify_drop(c, c->nunotify - 1);
		if (d && d->state == GNT_DOM_ALIVE)
			notify_fire(d, &n);
	}
}

void hv_unmap_notify_handle_release(void *ctx, struct gnt_domain *self, uint32_t handle)
{
	struct hv_dom *hd = self->user;
	(void)ctx;

	if (!hd || !hd->map_notifies)
		return;
	for (struct hv_conn *c = hv->conns; c; c = c->next) {
		int64_t i;
		if (c->domid != self->id || !c->nunotify)
			continue;
		i = notify_find(c, GNT_UNMAP_NOTIFY_MAPPING, handle);
		if (i >= 0) {
			struct hv_unotify n = c->unotify[i];
			notify_drop(c, (uint32_t)i);
			notify_fire(self, &n); /* and any other process's */
		}
	}
}
