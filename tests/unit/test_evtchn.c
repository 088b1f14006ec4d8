/* SPDX-License-Identifier: MIT */
/* Event channel ports (core/evtchn.c) against Xen's EVTCHNOP semantics. */
#include <errno.h>

#include "../runner.h"
#include "core/evtchn.h"
#include "fixture.h"

static struct {
	int n;
	uint16_t dom[16];
	uint32_t port[16];
	uint64_t owner[16];
} note;

static void h_notify(void *ctx, uint16_t domid, uint32_t port, uint64_t owner)
{
	(void)ctx;
	if (note.n < 16) {
		note.dom[note.n] = domid;
		note.port[note.n] = port;
		note.owner[note.n] = owner;
	}
	note.n++;
}

static struct gnt_core_ops ev_ops;

struct env {
	struct gnt_core *c;
	struct gnt_domain *a, *b, *x;
};

static struct env setup(void)
{
	struct gnt_limits lim = {.max_grant_frames = 2, .max_maptrack_frames = 1, .max_pages = 64};
	struct env e;

	ev_ops = fake_ops;
	ev_ops.evtchn_notify = h_notify;
	e.c = gnt_core_create(&ev_ops, &fk, &lim);
	CHECK(e.c);
	e.a = fx_dom(e.c, "a");
	e.b = fx_dom(e.c, "b");
	e.x = fx_dom(e.c, "x");
	note.n = 0;
	return e;
}

static evtchn_port_t unbound(struct env *e, struct gnt_domain *d, uint16_t remote, uint64_t owner)
{
	struct evtchn_alloc_unbound op = {.dom = DOMID_SELF, .remote_dom = remote};
	CHECK_EQ(gnt_evtchn_alloc_unbound(e->c, d, &op, owner), 0);
	CHECK(op.port >= 1);
	return op.port;
}

static int bind(struct env *e, struct gnt_domain *d, uint16_t rdom, evtchn_port_t rport,
		evtchn_port_t *out)
{
	struct evtchn_bind_interdomain op = {.remote_dom = rdom, .remote_port = rport};
	int rc = gnt_evtchn_bind_interdomain(e->c, d, &op, 77);
	if (out)
		*out = op.local_port;
	return rc;
}

static struct evtchn_status status(struct env *e, struct gnt_domain *d, evtchn_port_t p)
{
	struct evtchn_status st = {.dom = DOMID_SELF, .port = p};
	CHECK_EQ(gnt_evtchn_status(e->c, d, &st), 0);
	return st;
}

TEST(evtchn_alloc_unbound_never_port_0)
{
	struct env e = setup();
	evtchn_port_t p = unbound(&e, e.a, e.b->id, 1), q = unbound(&e, e.a, DOMID_SELF, 1);
	struct evtchn_status st;

	CHECK_EQ(p, 1);
	CHECK_EQ(q, 2);
	st = status(&e, e.a, p);
	CHECK_EQ(st.status, EVTCHNSTAT_unbound);
	CHECK_EQ(st.u.unbound.dom, e.b->id);
	CHECK_EQ(status(&e, e.a, q).u.unbound.dom, e.a->id); /* DOMID_SELF: the caller */
	CHECK_EQ(status(&e, e.a, 0).status, EVTCHNSTAT_closed);
	CHECK_EQ(note.n, 0);
	fx_destroy(e.c);
}

TEST(evtchn_alloc_unbound_errors)
{
	struct env e = setup();
	struct evtchn_alloc_unbound op = {.dom = 0, .remote_dom = 1};
	struct gnt_domain *d0 = gnt_core_domain(e.c, 0);

	op.dom = e.b->id; /* for another domain: only dom0 */
	CHECK_EQ(gnt_evtchn_alloc_unbound(e.c, e.a, &op, 1), -EPERM);
	CHECK_EQ(gnt_evtchn_alloc_unbound(e.c, d0, &op, 1), 0);
	CHECK_EQ(status(&e, e.b, op.port).status, EVTCHNSTAT_unbound);
	op.dom = 0x1234;
	CHECK_EQ(gnt_evtchn_alloc_unbound(e.c, d0, &op, 1), -ESRCH);
	fx_destroy(e.c);
}

TEST(evtchn_port_limit_is_enospc)
{
	struct env e = setup();
	struct gnt_limits lim = {.max_grant_frames = 1, .max_maptrack_frames = 1, .max_pages = 1,
				 .max_evtchn = 4};
	struct gnt_domain *small;
	struct evtchn_alloc_unbound op = {.dom = DOMID_SELF, .remote_dom = 1};

	CHECK_EQ(gnt_core_domain_create(e.c, 0, "small", &lim, &small), 0);
	for (int i = 1; i <= 3; i++) {
		CHECK_EQ(gnt_evtchn_alloc_unbound(e.c, small, &op, 1), 0);
		CHECK_EQ(op.port, (uint32_t)i);
	}
	CHECK_EQ(gnt_evtchn_alloc_unbound(e.c, small, &op, 1), -ENOSPC);
	CHECK_EQ(gnt_evtchn_close(e.c, small, 2), 0);
	CHECK_EQ(gnt_evtchn_alloc_unbound(e.c, small, &op, 1), 0);
	CHECK_EQ(op.port, 2); /* the lowest free port */
	fx_destroy(e.c);
}

TEST(evtchn_bind_links_both_ends_and_sets_pending)
{
	struct env e = setup();
	evtchn_port_t pa = unbound(&e, e.a, e.b->id, 5), pb;
	struct gnt_evtchn_peer to;

	CHECK_EQ(bind(&e, e.b, e.a->id, pa, &pb), 0);
	CHECK_EQ(status(&e, e.a, pa).status, EVTCHNSTAT_interdomain);
	CHECK_EQ(status(&e, e.a, pa).u.interdomain.dom, e.b->id);
	CHECK_EQ(status(&e, e.a, pa).u.interdomain.port, pb);
	CHECK_EQ(status(&e, e.b, pb).u.interdomain.port, pa);
	/* Xen sets the binder's new port pending */
	CHECK_EQ(note.n, 1);
	CHECK_EQ(note.dom[0], e.b->id);
	CHECK_EQ(note.port[0], pb);
	CHECK_EQ(note.owner[0], 77);
	/* sends go across, to the holder of the other end */
	CHECK_EQ(gnt_evtchn_send(e.c, e.b, pb, &to), 0);
	CHECK_EQ(to.dom, e.a->id);
	CHECK_EQ(to.port, pa);
	CHECK_EQ(to.owner, 5);
	CHECK_EQ(gnt_evtchn_send(e.c, e.a, pa, &to), 0);
	CHECK_EQ(to.dom, e.b->id);
	CHECK_EQ(to.port, pb);
	fx_destroy(e.c);
}

TEST(evtchn_bind_errors)
{
	struct env e = setup();
	evtchn_port_t pa = unbound(&e, e.a, e.b->id, 1), pb;

	CHECK_EQ(bind(&e, e.x, e.a->id, pa, NULL), -EINVAL); /* not for x */
	CHECK_EQ(bind(&e, e.b, 0x1234, pa, NULL), -ESRCH);
	CHECK_EQ(bind(&e, e.b, e.a->id, 0, NULL), -EINVAL);
	CHECK_EQ(bind(&e, e.b, e.a->id, 999, NULL), -EINVAL);
	CHECK_EQ(bind(&e, e.b, e.a->id, pa + 1, NULL), -EINVAL); /* free */
	CHECK_EQ(bind(&e, e.b, e.a->id, pa, &pb), 0);
	CHECK_EQ(bind(&e, e.b, e.a->id, pa, NULL), -EINVAL); /* bound already */
	CHECK_EQ(gnt_evtchn_in_use(e.b), 1); /* failures took no port */
	CHECK_EQ(note.n, 1);
	fx_destroy(e.c);
}

TEST(evtchn_loopback)
{
	struct env e = setup();
	evtchn_port_t p = unbound(&e, e.a, DOMID_SELF, 1), q;
	struct gnt_evtchn_peer to;

	CHECK_EQ(bind(&e, e.a, DOMID_SELF, p, &q), 0);
	CHECK(q != p);
	CHECK_EQ(gnt_evtchn_send(e.c, e.a, q, &to), 0);
	CHECK_EQ(to.dom, e.a->id);
	CHECK_EQ(to.port, p);
	fx_destroy(e.c);
}

TEST(evtchn_send_unbound_is_dropped_bad_port_einval)
{
	struct env e = setup();
	evtchn_port_t p = unbound(&e, e.a, e.b->id, 1);
	struct gnt_evtchn_peer to;

	CHECK_EQ(gnt_evtchn_send(e.c, e.a, p, &to), 1);
	CHECK_EQ(gnt_evtchn_send(e.c, e.a, 0, &to), -EINVAL);
	CHECK_EQ(gnt_evtchn_send(e.c, e.a, p + 1, &to), -EINVAL);
	CHECK_EQ(gnt_evtchn_send(e.c, e.a, 5000, &to), -EINVAL);
	CHECK_EQ(gnt_evtchn_unmask(e.c, e.a, p), 0);
	CHECK_EQ(gnt_evtchn_unmask(e.c, e.a, 0), -EINVAL);
	fx_destroy(e.c);
}

TEST(evtchn_close_reverts_peer_to_unbound)
{
	struct env e = setup();
	evtchn_port_t pa = unbound(&e, e.a, e.b->id, 1), pb, pb2;
	struct gnt_evtchn_peer to;

	CHECK_EQ(bind(&e, e.b, e.a->id, pa, &pb), 0);
	CHECK_EQ(gnt_evtchn_close(e.c, e.b, pb), 0);
	CHECK_EQ(status(&e, e.a, pa).status, EVTCHNSTAT_unbound);
	CHECK_EQ(status(&e, e.a, pa).u.unbound.dom, e.b->id); /* for the closer again */
	CHECK_EQ(status(&e, e.b, pb).status, EVTCHNSTAT_closed);
	CHECK_EQ(gnt_evtchn_send(e.c, e.a, pa, &to), 1);       /* dropped now */
	CHECK_EQ(gnt_evtchn_send(e.c, e.b, pb, &to), -EINVAL);
	CHECK_EQ(gnt_evtchn_close(e.c, e.b, pb), -EINVAL);     /* twice */
	CHECK_EQ(gnt_evtchn_close(e.c, e.a, 0), -EINVAL);
	CHECK_EQ(bind(&e, e.b, e.a->id, pa, &pb2), 0);           /* and again */
	fx_destroy(e.c);
}

TEST(evtchn_peer_death_unbinds_and_notifies)
{
	struct env e = setup();
	evtchn_port_t pa = unbound(&e, e.a, e.b->id, 9), pb;
	uint16_t bid = e.b->id;

	CHECK_EQ(bind(&e, e.b, e.a->id, pa, &pb), 0);
	note.n = 0;
	gnt__core_domain_release(e.c, e.b);
	CHECK_EQ(status(&e, e.a, pa).status, EVTCHNSTAT_unbound);
	CHECK_EQ(status(&e, e.a, pa).u.unbound.dom, bid);
	CHECK_EQ(note.n, 1); /* the survivor's final notification */
	CHECK_EQ(note.dom[0], e.a->id);
	CHECK_EQ(note.port[0], pa);
	CHECK_EQ(note.owner[0], 9);
	CHECK_EQ(bind(&e, e.x, bid, pb, NULL), -ESRCH); /* the dead take no binds */
	fx_destroy(e.c);
}

TEST(evtchn_reset_and_close_owner)
{
	struct env e = setup();
	struct gnt_domain *d0 = gnt_core_domain(e.c, 0);
	evtchn_port_t p1 = unbound(&e, e.a, e.b->id, 1), p2 = unbound(&e, e.a, e.b->id, 2);

	(void)p1;
	gnt_evtchn_close_owner(e.c, e.a, 1);
	CHECK_EQ(gnt_evtchn_in_use(e.a), 1);
	CHECK_EQ(status(&e, e.a, p2).status, EVTCHNSTAT_unbound);
	CHECK_EQ(gnt_evtchn_reset(e.c, e.b, e.a->id), -EPERM);
	CHECK_EQ(gnt_evtchn_reset(e.c, d0, e.a->id), 0);
	CHECK_EQ(gnt_evtchn_in_use(e.a), 0);
	CHECK_EQ(gnt_evtchn_reset(e.c, e.a, DOMID_SELF), 0);
	fx_destroy(e.c);
}
