/* SPDX-License-Identifier: MIT */
/* core/evtchn.c - event channel ports (see evtchn.h). */
#include "evtchn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct gnt_domain *by_id(struct gnt_core *c, struct gnt_domain *self, uint32_t id)
{
	if (id == DOMID_SELF)
		return self;
	return gnt_core_domain(c, id);
}

static bool live(const struct gnt_domain *d)
{
	return d && d->state == GNT_DOM_ALIVE;
}

static bool valid(const struct gnt_domain *d, evtchn_port_t port)
{
	return port < d->ev_len;
}

const struct gnt_evtchn *gnt_evtchn_port(const struct gnt_domain *d, evtchn_port_t port)
{
	return valid(d, port) ? &d->ev[port] : NULL;
}

uint32_t gnt_evtchn_in_use(const struct gnt_domain *d)
{
	uint32_t n = 0;
	for (uint32_t p = 1; p < d->ev_len; p++)
		n += d->ev[p].state != GNT_ECS_FREE;
	return n;
}

/* The lowest free port, growing the table up to ev_max (Xen's get_free_port). */
static int64_t get_free_port(struct gnt_domain *d)
{
	uint32_t p;

	for (p = 1; p < d->ev_len; p++)
		if (d->ev[p].state == GNT_ECS_FREE)
			return p;
	if (d->ev_len >= d->ev_max)
		return -ENOSPC;
	{
		uint32_t n = d->ev_len ? d->ev_len * 2 : 64;
		struct gnt_evtchn *e;
		if (n > d->ev_max)
			n = d->ev_max;
		e = realloc(d->ev, n * sizeof(*e));
		if (!e)
			return -ENOMEM;
		memset(e + d->ev_len, 0, (n - d->ev_len) * sizeof(*e));
		if (d->ev_len == 0)
			e[0].state = GNT_ECS_RESERVED; /* port 0 is never handed out */
		p = d->ev_len ? d->ev_len : 1;
		d->ev = e;
		d->ev_len = n;
	}
	return p;
}

static void notify(struct gnt_core *c, struct gnt_domain *d, evtchn_port_t port)
{
	void *ctx;
	const struct gnt_core_ops *ops = gnt__core_ops(c, &ctx);

	if (ops->evtchn_notify)
		ops->evtchn_notify(ctx, d->id, port, d->ev[port].owner);
}

int gnt_evtchn_alloc_unbound(struct gnt_core *c, struct gnt_domain *self,
			     struct evtchn_alloc_unbound *op, uint64_t owner)
{
	struct gnt_domain *d = by_id(c, self, op->dom);
	int64_t p;

	if (d != self && self->id != 0)
		return -EPERM; /* only the control domain allocates for others */
	if (!live(d))
		return -ESRCH;
	p = get_free_port(d);
	if (p < 0)
		return (int)p;
	d->ev[p].state = GNT_ECS_UNBOUND;
	/* DOMID_SELF as the remote: the caller (Xen: current->domain) */
	d->ev[p].remote_dom = op->remote_dom == DOMID_SELF ? self->id : op->remote_dom;
	d->ev[p].remote_port = 0;
	d->ev[p].owner = owner;
	op->port = (evtchn_port_t)p;
	return 0;
}

int gnt_evtchn_bind_interdomain(struct gnt_core *c, struct gnt_domain *self,
				struct evtchn_bind_interdomain *op, uint64_t owner)
{
	struct gnt_domain *rd = by_id(c, self, op->remote_dom);
	struct gnt_evtchn *r;
	int64_t lp;

	if (!live(rd))
		return -ESRCH;
	lp = get_free_port(self);
	if (lp < 0)
		return (int)lp;
	/* get_free_port may have moved rd's table if rd == self: index late */
	if (!valid(rd, op->remote_port))
		return -EINVAL;
	r = &rd->ev[op->remote_port];
	if (r->state != GNT_ECS_UNBOUND || r->remote_dom != self->id ||
	    (rd == self && op->remote_port == (evtchn_port_t)lp))
		return -EINVAL;
	self->ev[lp].state = GNT_ECS_INTERDOMAIN;
	self->ev[lp].remote_dom = rd->id;
	self->ev[lp].remote_port = op->remote_port;
	self->ev[lp].owner = owner;
	r->state = GNT_ECS_INTERDOMAIN;
	r->remote_dom = self->id;
	r->remote_port = (uint32_t)lp;
	op->local_port = (evtchn_port_t)lp;
	/* Xen sets the new port pending: events sent before the bind are
	 * not lost */
	notify(c, self, (evtchn_port_t)lp);
	return 0;
}

/* Close port p of d.  peer_notify: tell a peer that reverts (death only). */
static int close_port(struct gnt_core *c, struct gnt_domain *d, evtchn_port_t p,
		      bool peer_notify)
{
	struct gnt_evtchn *e;

	if (!valid(d, p))
		return -EINVAL;
	e = &d->ev[p];
	switch (e->state) {
	case GNT_ECS_UNBOUND:
		break;
	case GNT_ECS_INTERDOMAIN: {
		struct gnt_domain *rd = gnt_core_domain(c, e->remote_dom);
		if (rd && valid(rd, e->remote_port)) {
			struct gnt_evtchn *r = &rd->ev[e->remote_port];
			/* the peer's end goes back to unbound, for us again */
			void *ctx;
			const struct gnt_core_ops *ops = gnt__core_ops(c, &ctx);
			r->state = GNT_ECS_UNBOUND;
			r->remote_dom = d->id;
			r->remote_port = 0;
			/* a binding within one domain too; not when the whole
			 * domain dies (its other ends are closing as well) */
			if (ops->evtchn_unbound && (rd != d || !peer_notify))
				ops->evtchn_unbound(ctx, rd->id, e->remote_port, r->owner);
			if (peer_notify && live(rd))
				notify(c, rd, e->remote_port);
		}
		break;
	}
	default:
		return -EINVAL; /* free, or port 0 */
	}
	memset(e, 0, sizeof(*e));
	return 0;
}

int gnt_evtchn_close(struct gnt_core *c, struct gnt_domain *self, evtchn_port_t port)
{
	return close_port(c, self, port, false);
}

int gnt_evtchn_send(struct gnt_core *c, struct gnt_domain *self, evtchn_port_t port,
		    struct gnt_evtchn_peer *to)
{
	struct gnt_evtchn *e;
	(void)c;

	if (!valid(self, port))
		return -EINVAL;
	e = &self->ev[port];
	switch (e->state) {
	case GNT_ECS_INTERDOMAIN: {
		struct gnt_domain *rd = gnt_core_domain(c, e->remote_dom);
		if (!live(rd) || !valid(rd, e->remote_port))
			return 1;
		to->dom = rd->id;
		to->port = e->remote_port;
		to->owner = rd->ev[e->remote_port].owner;
		return 0;
	}
	case GNT_ECS_UNBOUND:
		return 1; /* silently dropped, as Xen */
	default:
		return -EINVAL;
	}
}

int gnt_evtchn_status(struct gnt_core *c, struct gnt_domain *self, struct evtchn_status *op)
{
	struct gnt_domain *d = by_id(c, self, op->dom);
	struct gnt_evtchn *e;

	if (d != self && self->id != 0)
		return -EPERM;
	if (!live(d))
		return -ESRCH;
	if (!valid(d, op->port) && op->port >= d->ev_max)
		return -EINVAL;
	memset(&op->u, 0, sizeof(op->u));
	op->vcpu = 0;
	op->status = EVTCHNSTAT_closed;
	if (!valid(d, op->port))
		return 0; /* a port never allocated is closed */
	e = &d->ev[op->port];
	if (e->state == GNT_ECS_UNBOUND) {
		op->status = EVTCHNSTAT_unbound;
		op->u.unbound.dom = e->remote_dom;
	} else if (e->state == GNT_ECS_INTERDOMAIN) {
		op->status = EVTCHNSTAT_interdomain;
		op->u.interdomain.dom = e->remote_dom;
		op->u.interdomain.port = e->remote_port;
	}
	return 0;
}

int gnt_evtchn_unmask(struct gnt_core *c, struct gnt_domain *self, evtchn_port_t port)
{
	(void)c;
	/* the mask bit lives with the receiving process; here only the check */
	return valid(self, port) && self->ev[port].state != GNT_ECS_FREE &&
			       self->ev[port].state != GNT_ECS_RESERVED
		       ? 0
		       : -EINVAL;
}

int gnt_evtchn_reset(struct gnt_core *c, struct gnt_domain *self, uint32_t dom)
{
	struct gnt_domain *d = by_id(c, self, dom);

	if (d != self && self->id != 0)
		return -EPERM;
	if (!live(d))
		return -ESRCH;
	for (uint32_t p = 1; p < d->ev_len; p++)
		if (d->ev[p].state != GNT_ECS_FREE)
			close_port(c, d, p, false);
	return 0;
}

void gnt_evtchn_close_owner(struct gnt_core *c, struct gnt_domain *self, uint64_t owner)
{
	for (uint32_t p = 1; p < self->ev_len; p++)
		if (self->ev[p].state != GNT_ECS_FREE && self->ev[p].owner == owner)
			close_port(c, self, p, false);
}

void gnt__evtchn_release(struct gnt_core *c, struct gnt_domain *d)
{
	/* peers learn of the death: their ports revert and are notified */
	for (uint32_t p = 1; p < d->ev_len; p++)
		if (d->ev[p].state != GNT_ECS_FREE)
			close_port(c, d, p, true);
}
