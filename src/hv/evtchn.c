/* SPDX-License-Identifier: MIT */
/*
 * hv/evtchn.c - event channel delivery.  The core (core/evtchn.c) says who
 * is bound to whom; here every port gets an eventfd (a nonzero count is the
 * port's pending bit): its owner process waits on it, gntd keeps a copy and
 * hands another to the bound peer, which then notifies directly with one
 * write.  When a binding ends the surviving port's eventfd is replaced and
 * the new one goes to its owner over the handle's control socket, so a
 * former peer that kept the old one reaches nothing: a domain can only
 * signal ports bound to it.  (A peer holding the eventfd could also read it,
 * taking back what it sent: that only hides its own events.)
 */
#define _GNU_SOURCE
#include "hv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backing.h"
#include "common/fdpass.h"
#include "core/evtchn.h"
#include "gnt/grant.h"

#define HV_MAX_HANDLES_PER_CONN 64

static struct hv_ehandle *handles;
static uint32_t next_id = 1;

static struct hv_ehandle *handle_get(uint32_t id)
{
	for (struct hv_ehandle *h = handles; h; h = h->next)
		if (h->id == id)
			return h;
	return NULL;
}

static struct hv_dom *hdom(uint16_t domid)
{
	struct gnt_domain *d = gnt_core_domain(hv->core, domid);
	return d ? d->user : NULL;
}

static int *port_w(struct hv_dom *hd, uint32_t port)
{
	if (port >= hd->port_w_len) {
		uint32_t n = hd->port_w_len ? hd->port_w_len : 64;
		int *p;
		while (n <= port)
			n *= 2;
		p = realloc(hd->port_w, n * sizeof(int));
		if (!p)
			return NULL;
		for (uint32_t i = hd->port_w_len; i < n; i++)
			p[i] = -1;
		hd->port_w = p;
		hd->port_w_len = n;
	}
	return &hd->port_w[port];
}

/* A fresh eventfd for a port: gntd keeps one descriptor of it; returns
 * another for the owner. */
static int new_pair(struct hv_dom *hd, uint32_t port)
{
	int e, r, *w = port_w(hd, port);

	if (!w || (e = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return -ENOMEM;
	r = fcntl(e, F_DUPFD_CLOEXEC, 0);
	if (r < 0) {
		close(e);
		return -ENOMEM;
	}
	if (*w >= 0)
		close(*w);
	*w = e;
	return r;
}

/* Set a port pending (EAGAIN: a count at its maximum is pending already). */
static void set_pending(int w)
{
	uint64_t one = 1;
	(void)!write(w, &one, sizeof(one));
}

static void drop_port(struct hv_dom *hd, uint32_t port)
{
	if (hd && port < hd->port_w_len && hd->port_w[port] >= 0) {
		close(hd->port_w[port]);
		hd->port_w[port] = -1;
	}
}

static void ctl_send(uint32_t owner, const struct gnt_evtchn_ctl *m, int fd)
{
	struct hv_ehandle *h = handle_get(owner);
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = {(void *)m, sizeof(*m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (!h)
		return;
	if (fd >= 0)
		gnt__fds_attach(&mh, cbuf.b, &fd, 1);
	/* only gntd writes there: a full queue means the process does not
	 * read its own control socket; it only hurts itself */
	if (sendmsg(h->ctl, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		hv_log("d%u: event channel control message lost: %s", h->domid, strerror(errno));
}

/* core hook: gntd's own notification of (domid, port) */
void hv_evtchn_notify(void *ctx, uint16_t domid, uint32_t port, uint64_t owner)
{
	struct hv_dom *hd = hdom(domid);
	int *w;
	(void)ctx, (void)owner;

	/* no pair yet: a port being bound; the bind sets it pending itself */
	if (!hd || port >= hd->port_w_len || (w = &hd->port_w[port], *w < 0))
		return;
	set_pending(*w);
}

/* core hook: (domid, port)'s peer went away: a new eventfd (the old one
 * reaches nobody), and an event on it.  Xen does not notify on close, but
 * events may be spurious; this one stands for anything the peer sent before
 * closing that the owner had not read when it switched sockets, and tells
 * it the binding ended (as for a dead peer). */
void hv_evtchn_unbound(void *ctx, uint16_t domid, uint32_t port, uint64_t owner)
{
	struct hv_dom *hd = hdom(domid);
	struct gnt_evtchn_ctl m = {.kind = GNT_EVCTL_ROTATE, .port = port};
	int r;
	(void)ctx;

	if (!hd)
		return;
	r = new_pair(hd, port);
	if (r < 0)
		return;
	set_pending(hd->port_w[port]);
	ctl_send((uint32_t)owner, &m, r);
	close(r);
}

int hv_evtchn_open(struct hv_conn *c, const struct gnt_msg *m, int *fds, uint32_t nfds)
{
	struct hv_ehandle *h;
	uint32_t n = 0;
	int type;
	socklen_t tl = sizeof(type);

	if (nfds != 1 || getsockopt(fds[0], SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
	    type != SOCK_DGRAM) {
		for (uint32_t i = 0; i < nfds; i++)
			close(fds[i]);
		return -EPROTO;
	}
	for (h = handles; h; h = h->next)
		n += h->conn == c;
	if (n >= HV_MAX_HANDLES_PER_CONN || !(h = calloc(1, sizeof(*h)))) {
		close(fds[0]);
		return hv_reply(c, m, -EMFILE, NULL, 0, NULL, 0);
	}
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	h->ctl = fds[0];
	h->id = next_id++;
	if (next_id == 0)
		next_id = 1;
	h->domid = c->domid;
	h->conn = c;
	h->next = handles;
	handles = h;
	return hv_reply(c, m, (int32_t)h->id, NULL, 0, NULL, 0);
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
	if (d && d->state == GNT_DOM_ALIVE) {
		/* its ports close; gntd's write ends of them go too */
		for (uint32_t p = 1; p < d->ev_len; p++)
			if (d->ev[p].state != GNT_ECS_FREE && d->ev[p].owner == h->id) {
				gnt_evtchn_close(hv->core, d, p);
				drop_port(d->user, p);
			}
	}
	close(h->ctl);
	free(h);
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

void hv_evtchn_dom_gone(struct hv_dom *hd)
{
	for (uint32_t p = 0; p < hd->port_w_len; p++)
		if (hd->port_w[p] >= 0)
			close(hd->port_w[p]);
	free(hd->port_w);
	hd->port_w = NULL;
	hd->port_w_len = 0;
}

int hv_evtchn_op(struct hv_conn *c, const struct gnt_msg *m, const uint8_t *pl)
{
	struct gnt_domain *self = gnt_core_domain(hv->core, c->domid);
	struct hv_dom *hd = self->user;
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
	if (!hd)
		return hv_reply(c, m, -ESRCH, NULL, 0, NULL, 0);
	switch (m->cmd & 0xFFFF) {
	case EVTCHNOP_alloc_unbound: {
		struct evtchn_alloc_unbound *op = (void *)arg;
		struct gnt_domain *d;
		int r;
		if (!h)
			return hv_reply(c, m, -EBADF, NULL, 0, NULL, 0);
		if (op->dom != DOMID_SELF && op->dom != self->id)
			return hv_reply(c, m, -EPERM, NULL, 0, NULL, 0); /* delivery is ours */
		rc = gnt_evtchn_alloc_unbound(hv->core, self, op, h->id);
		if (rc < 0)
			return hv_reply(c, m, rc, op, sizeof(*op), NULL, 0);
		d = self;
		r = new_pair(d->user, op->port);
		if (r < 0) {
			gnt_evtchn_close(hv->core, self, op->port);
			return hv_reply(c, m, -ENOMEM, NULL, 0, NULL, 0);
		}
		rc = hv_reply(c, m, 0, op, sizeof(*op), &r, 1);
		close(r);
		return rc;
	}
	case EVTCHNOP_bind_interdomain: {
		struct evtchn_bind_interdomain *op = (void *)arg;
		const struct gnt_evtchn *lp, *rp;
		struct hv_dom *rhd;
		int fds[2], *rw;
		if (!h)
			return hv_reply(c, m, -EBADF, NULL, 0, NULL, 0);
		rc = gnt_evtchn_bind_interdomain(hv->core, self, op, h->id);
		if (rc < 0)
			return hv_reply(c, m, rc, op, sizeof(*op), NULL, 0);
		/* the core already asked to set our new port pending: the pair
		 * exists (made by hv_evtchn_notify); take its read end now */
		lp = gnt_evtchn_port(self, op->local_port);
		rhd = hdom(lp->remote_dom);
		rp = gnt_evtchn_port(gnt_core_domain(hv->core, lp->remote_dom), op->remote_port);
		fds[0] = new_pair(hd, op->local_port); /* first: it may move port_w */
		rw = rhd ? port_w(rhd, op->remote_port) : NULL;
		if (fds[0] < 0 || !rw || *rw < 0) {
			if (fds[0] >= 0)
				close(fds[0]);
			gnt_evtchn_close(hv->core, self, op->local_port);
			return hv_reply(c, m, -ENOMEM, NULL, 0, NULL, 0);
		}
		set_pending(port_w(hd, op->local_port)[0]); /* a new binding is pending */
		fds[1] = *rw;
		/* the other end learns who may now signal it */
		{
			struct gnt_evtchn_ctl pm = {.kind = GNT_EVCTL_PEER, .port = op->remote_port,
						    .peer_port = op->local_port};
			ctl_send((uint32_t)rp->owner, &pm, port_w(hd, op->local_port)[0]);
		}
		rc = hv_reply(c, m, 0, op, sizeof(*op), fds, 2);
		close(fds[0]);
		return rc;
	}
	case EVTCHNOP_send: {
		struct evtchn_send *op = (void *)arg;
		struct gnt_evtchn_peer to;
		struct hv_dom *rhd;
		int *w;
		rc = gnt_evtchn_send(hv->core, self, op->port, &to);
		if (rc != 0)
			return hv_reply(c, m, rc < 0 ? rc : 0, NULL, 0, NULL, 0);
		rhd = hdom(to.dom);
		w = rhd ? port_w(rhd, to.port) : NULL;
		if (!w || *w < 0)
			return hv_reply(c, m, 0, NULL, 0, NULL, 0);
		set_pending(*w);
		/* and from now on directly */
		{
			struct gnt_msg rm = *m;
			rm.aux = to.port;
			return hv_reply(c, &rm, 0, NULL, 0, w, 1);
		}
	}
	case EVTCHNOP_close: {
		uint32_t port;
		memcpy(&port, arg, 4);
		if (gnt_evtchn_port(self, port) && gnt_evtchn_port(self, port)->owner &&
		    (!h || gnt_evtchn_port(self, port)->owner != h->id))
			return hv_reply(c, m, -EINVAL, NULL, 0, NULL, 0); /* not this handle's */
		rc = gnt_evtchn_close(hv->core, self, port);
		if (rc == 0)
			drop_port(hd, port);
		return hv_reply(c, m, rc, NULL, 0, NULL, 0);
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
		struct gnt_domain *d = op->dom == DOMID_SELF ? self : gnt_core_domain(hv->core, op->dom);
		rc = gnt_evtchn_reset(hv->core, self, op->dom);
		if (rc == 0 && d && d->user)
			for (uint32_t p = 0; p < ((struct hv_dom *)d->user)->port_w_len; p++)
				drop_port(d->user, p);
		return hv_reply(c, m, rc, NULL, 0, NULL, 0);
	}
	}
	return hv_reply(c, m, -ENOSYS, NULL, 0, NULL, 0);
}

/* ---- unmap notify ------------------------------------------------------ */

/* An event on `port` of d on d's behalf, as if d had sent it: to the peer,
 * if the port is bound; nothing otherwise (closed since, or never bound). */
static void send_as(struct gnt_domain *d, uint32_t port)
{
	struct gnt_evtchn_peer to;
	struct hv_dom *rhd;

	if (gnt_evtchn_send(hv->core, d, port, &to) != 0)
		return;
	rhd = hdom(to.dom);
	if (!rhd || to.port >= rhd->port_w_len || rhd->port_w[to.port] < 0)
		return;
	set_pending(rhd->port_w[to.port]);
}

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
		send_as(d, n->port);
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
