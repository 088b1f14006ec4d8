/* SPDX-License-Identifier: MIT */
/*
 * core/evtchn.h - event channels: ports, their states and links, with the
 * semantics of Xen's xen/common/event_channel.c (4.17).  Pure, like the rest
 * of core/.  Delivery (pending and mask bits, waking a process) is not here:
 * a bound channel's notifications go from process to process without gntd;
 * the core only says who is bound to whom, and asks gntd (ops->evtchn_notify)
 * to notify on its own account when Xen would: a freshly bound port, and
 * (gnt) a port whose peer died.
 *
 * Returns 0 or -errno as Xen's hypercall does.
 */
#ifndef GNT_CORE_EVTCHN_H
#define GNT_CORE_EVTCHN_H

#include <stdint.h>

#include "core/core.h"

enum gnt_evtchn_state {
	GNT_ECS_FREE = 0,
	GNT_ECS_RESERVED,     /* port 0 */
	GNT_ECS_UNBOUND,
	GNT_ECS_INTERDOMAIN,
};

struct gnt_evtchn {
	uint8_t state;
	uint16_t remote_dom;   /* unbound: who may bind; interdomain: the peer */
	uint32_t remote_port;  /* interdomain */
	uint64_t owner;        /* who holds the port (gntd: a handle) */
};

/* Where a send goes. */
struct gnt_evtchn_peer {
	uint16_t dom;
	uint32_t port;
	uint64_t owner;
};

int gnt_evtchn_alloc_unbound(struct gnt_core *c, struct gnt_domain *self,
			     struct evtchn_alloc_unbound *op, uint64_t owner);
int gnt_evtchn_bind_interdomain(struct gnt_core *c, struct gnt_domain *self,
				struct evtchn_bind_interdomain *op, uint64_t owner);
int gnt_evtchn_close(struct gnt_core *c, struct gnt_domain *self, evtchn_port_t port);
/* 0: deliver to *to; 1: dropped (unbound, as Xen); -EINVAL: bad port. */
int gnt_evtchn_send(struct gnt_core *c, struct gnt_domain *self, evtchn_port_t port,
		    struct gnt_evtchn_peer *to);
int gnt_evtchn_status(struct gnt_core *c, struct gnt_domain *self, struct evtchn_status *op);
int gnt_evtchn_unmask(struct gnt_core *c, struct gnt_domain *self, evtchn_port_t port);
int gnt_evtchn_reset(struct gnt_core *c, struct gnt_domain *self, uint32_t dom);
/* Close every port of self held by owner (a handle that went away). */
void gnt_evtchn_close_owner(struct gnt_core *c, struct gnt_domain *self, uint64_t owner);
const struct gnt_evtchn *gnt_evtchn_port(const struct gnt_domain *d, evtchn_port_t port);
/* Ports in use (not free, not port 0). */
uint32_t gnt_evtchn_in_use(const struct gnt_domain *d);

#endif
