/* SPDX-License-Identifier: MIT */
/*
 * Unmap notify (gntdev/gntalloc SET_UNMAP_NOTIFY): gntd clears a byte of the
 * shared frame and sends an event when a mapping is unmapped, its process or
 * domain dies, or a granting process dies.  Domain A grants, domain B maps.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "../helpers.h"

#define OFF 123u
#define BOTH (GNT_UNMAP_NOTIFY_CLEAR_BYTE | GNT_UNMAP_NOTIFY_SEND_EVENT)

enum mode { M_UNMAP, M_KILL, M_DESTROY, M_CANCEL, M_BADARGS };

struct un {
	struct th_chan to_a, to_b, to_t, to_h, h_to_b;
	uint32_t a, b;
	enum mode mode;
};


/* The byte at p becomes v within 5 s. */
static void byte_becomes(volatile unsigned char *p, unsigned char v)
{
	for (int i = 0; i < 500 && *p != v; i++)
		usleep(10000);
	CHECK_EQ(*p, v);
}

/* ---- mapper side ---------------------------------------------------------- */

static void granter(void *p)
{
	struct un *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	unsigned char *page = gnt_alloc_page();
	int ref, port;
	bool fires = s->mode != M_CANCEL && s->mode != M_BADARGS;

	CHECK(h);
	CHECK(page);
	memset(page, 0xff, GNT_PAGE_SIZE);
	ref = gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(page), 0);
	CHECK(ref >= 8);
	port = gnt_evtchn_bind_unbound_port(h, (domid_t)s->b);
	CHECK(port > 0);
	th_send_u32(&s->to_b, (uint32_t)ref);
	th_send_u32(&s->to_b, (uint32_t)port);
	CHECK_EQ(th_recv_u32(&s->to_a), 1); /* mapped, notify set */
	th_evtchn_quiet(h, 200);
	CHECK_EQ(page[OFF], 0xff);
	th_send_u32(&s->to_t, 10);	    /* checked: go on */
	CHECK_EQ(th_recv_u32(&s->to_a), 2); /* unmapped / killed / destroyed */
	if (fires) {
		CHECK_EQ(th_evtchn_wait(h), port);
		byte_becomes(&page[OFF], 0);
	} else {
		th_evtchn_quiet(h, 200);
		CHECK_EQ(page[OFF], 0xff);
	}
	CHECK_EQ(page[OFF - 1], 0xff);
	CHECK_EQ(page[OFF + 1], 0xff);
	if (s->mode != M_KILL) /* killed: the mapping is its domain's still */
		CHECK_EQ(gnt_try_end_foreign_access((grant_ref_t)ref), 1);
	th_send_u32(&s->to_t, 3);
	CHECK_EQ(th_recv_u32(&s->to_a), 4);
	gnt_evtchn_close(h);
}

/* A second process of B that holds the port, so B lives on when the mapper
 * is killed and the port stays bound: the event can only be the notify. */
static void holder(void *p)
{
	struct un *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int lport;

	CHECK(h);
	lport = gnt_evtchn_bind_interdomain(h, (domid_t)s->a, th_recv_u32(&s->to_h));
	CHECK(lport > 0);
	th_send_u32(&s->h_to_b, (uint32_t)lport);
	CHECK_EQ(th_recv_u32(&s->to_h), 9);
	gnt_evtchn_close(h);
}

static void mapper(void *p)
{
	struct un *s = p;
	uint32_t ref = th_recv_u32(&s->to_b), aport = th_recv_u32(&s->to_b);
	gnt_evtchn_handle *h = NULL;
	struct gnttab_map_grant_ref op;
	struct gnttab_unmap_grant_ref un;
	unsigned char *va = gnt_alloc_ballooned_pages(1);
	int lport;

	CHECK(va);
	if (s->mode == M_KILL) {
		th_send_u32(&s->to_h, aport);
		lport = (int)th_recv_u32(&s->h_to_b);
	} else {
		h = gnt_evtchn_open();
		CHECK(h);
		lport = gnt_evtchn_bind_interdomain(h, (domid_t)s->a, aport);
		CHECK(lport > 0);
	}
	gnt_set_map_op(&op, va, GNTMAP_host_map, ref, (domid_t)s->a);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	CHECK_EQ(op.status, GNTST_okay);
	CHECK_EQ(va[OFF], 0xff);
	if (s->mode == M_BADARGS) {
		CHECK_EQ(gnt_map_set_unmap_notify(op.handle, 4096, BOTH, (evtchn_port_t)lport),
			 -EINVAL);
		CHECK_EQ(gnt_map_set_unmap_notify(op.handle + 1, OFF, BOTH, (evtchn_port_t)lport),
			 -ENOENT); /* not a mapping of this domain */
		CHECK_EQ(
		    gnt_map_set_unmap_notify(INVALID_GRANT_HANDLE, OFF, BOTH, (evtchn_port_t)lport),
		    -ENOENT);
		CHECK_EQ(gnt_map_set_unmap_notify(op.handle, OFF, 4, (evtchn_port_t)lport),
			 -EINVAL);
		CHECK_EQ(gnt_map_set_unmap_notify(op.handle, OFF, BOTH, (evtchn_port_t)lport + 7),
			 -EINVAL); /* not an open port of ours */
		CHECK_EQ(gnt_map_set_unmap_notify(op.handle, OFF, GNT_UNMAP_NOTIFY_SEND_EVENT, 0),
			 -EINVAL);
	} else {
		CHECK_EQ(gnt_map_set_unmap_notify(op.handle, OFF, BOTH, (evtchn_port_t)lport), 0);
		/* setting again replaces */
		CHECK_EQ(gnt_map_set_unmap_notify(op.handle, OFF, BOTH, (evtchn_port_t)lport), 0);
	}
	if (s->mode == M_CANCEL)
		CHECK_EQ(gnt_map_set_unmap_notify(op.handle, OFF, 0, 0), 0);
	CHECK_EQ(va[OFF], 0xff); /* setting changes nothing yet */
	th_send_u32(&s->to_a, 1);
	if (s->mode == M_KILL || s->mode == M_DESTROY) {
		th_send_u32(&s->to_t, 1);
		for (;;)
			pause();
	}
	CHECK_EQ(th_recv_u32(&s->to_b), 11);
	gnt_set_unmap_op(&un, va, GNTMAP_host_map, op.handle);
	CHECK_EQ(gnt_unmap_refs(&un, 1), 0);
	CHECK_EQ(un.status, GNTST_okay);
	th_send_u32(&s->to_a, 2);
	CHECK_EQ(th_recv_u32(&s->to_b), 5);
	gnt_evtchn_close(h);
}

static void run_mapper_side(enum mode mode)
{
	struct un s = {.mode = mode};
	struct gnt_hv_stats s0;
	pid_t pa, pb, ph = 0;

	th_gntd_start();
	s0 = th_stats();
	s.a = th_domain("A");
	s.b = th_domain("B");
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	th_chan_open(&s.to_t);
	th_chan_open(&s.to_h);
	th_chan_open(&s.h_to_b);
	pa = th_spawn(s.a, granter, &s);
	if (mode == M_KILL)
		ph = th_spawn(s.b, holder, &s);
	pb = th_spawn(s.b, mapper, &s);
	if (mode == M_KILL || mode == M_DESTROY) {
		CHECK_EQ(th_recv_u32_from(&s.to_t, pb), 1);
		CHECK_EQ(th_recv_u32_from(&s.to_t, pa), 10);
		if (mode == M_KILL) {
			CHECK_EQ(kill(pb, SIGKILL), 0);
			CHECK_EQ(th_wait(pb), 128 + SIGKILL);
		} else {
			CHECK_EQ(gnt_domain_destroy(s.b), 0);
			CHECK_EQ(th_wait(pb), 128 + SIGKILL);
		}
		th_send_u32(&s.to_a, 2);
	} else {
		CHECK_EQ(th_recv_u32_from(&s.to_t, pa), 10);
		th_send_u32(&s.to_b, 11);
	}
	CHECK_EQ(th_recv_u32_from(&s.to_t, pa), 3);
	th_send_u32(&s.to_a, 4);
	CHECK_EQ(th_wait(pa), 0);
	if (mode == M_KILL) {
		th_send_u32(&s.to_h, 9);
		CHECK_EQ(th_wait(ph), 0);
	} else if (mode != M_DESTROY) {
		th_send_u32(&s.to_b, 5);
		CHECK_EQ(th_wait(pb), 0);
	}
	th_expect_stats(&s0, 5000);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_chan_close(&s.to_t);
	th_chan_close(&s.to_h);
	th_chan_close(&s.h_to_b);
	th_gntd_stop();
}

TEST(unmap_notify_fires_on_unmap)
{
	run_mapper_side(M_UNMAP);
}

TEST(unmap_notify_fires_when_mapper_is_killed)
{
	run_mapper_side(M_KILL);
}

TEST(unmap_notify_fires_when_mapper_domain_is_destroyed)
{
	run_mapper_side(M_DESTROY);
}

TEST(unmap_notify_cancelled_by_flags_0)
{
	run_mapper_side(M_CANCEL);
}

TEST(unmap_notify_bad_arguments_change_nothing)
{
	run_mapper_side(M_BADARGS);
}

/* ---- granter side ------------------------------------------------------- */

/* A1 holds A's port (so A lives on and the port stays bound when A2 dies);
 * A2 grants a page and sets the notify; B maps it; A2 is killed. */
static void g_holder(void *p)
{
	struct un *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int port;

	CHECK(h);
	port = gnt_evtchn_bind_unbound_port(h, (domid_t)s->b);
	CHECK(port > 0);
	th_send_u32(&s->to_a, (uint32_t)port); /* to A2 */
	th_send_u32(&s->to_b, (uint32_t)port); /* to B */
	CHECK_EQ(th_recv_u32(&s->to_h), 9);
	gnt_evtchn_close(h);
}

static void g_granter(void *p)
{
	struct un *s = p;
	uint32_t port = th_recv_u32(&s->to_a);
	unsigned char *page = gnt_alloc_page();
	int ref, bad;

	CHECK(page);
	memset(page, 0xff, GNT_PAGE_SIZE);
	ref = gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(page), 0);
	CHECK(ref >= 8);
	/* bad arguments */
	CHECK_EQ(gnt_grant_set_unmap_notify((grant_ref_t)ref, 4096, BOTH, port), -EINVAL);
	CHECK_EQ(gnt_grant_set_unmap_notify(1u << 24, OFF, BOTH, port), -EINVAL);
	CHECK_EQ(gnt_grant_set_unmap_notify((grant_ref_t)ref, OFF, 8, port), -EINVAL);
	CHECK_EQ(gnt_grant_set_unmap_notify((grant_ref_t)ref, OFF, BOTH, port + 5), -EINVAL);
	bad = gnt_grant_foreign_access((domid_t)s->b, 0xdead000, 0); /* not our memory */
	CHECK(bad >= 8);
	CHECK_EQ(gnt_grant_set_unmap_notify((grant_ref_t)bad, OFF, BOTH, port), -EINVAL);
	CHECK_EQ(gnt_try_end_foreign_access((grant_ref_t)bad), 1);
	/* a notify on another offset, cancelled: must not fire */
	CHECK_EQ(gnt_grant_set_unmap_notify((grant_ref_t)ref, OFF + 1, BOTH, port), 0);
	CHECK_EQ(gnt_grant_set_unmap_notify((grant_ref_t)ref, OFF + 1, 0, 0), 0);
	CHECK_EQ(gnt_grant_set_unmap_notify((grant_ref_t)ref, OFF, BOTH, port), 0);
	CHECK_EQ(page[OFF], 0xff);
	th_send_u32(&s->to_b, (uint32_t)ref);
	for (;;)
		pause(); /* until killed */
}

static void g_mapper(void *p)
{
	struct un *s = p;
	uint32_t aport = th_recv_u32(&s->to_b), ref = th_recv_u32(&s->to_b);
	gnt_evtchn_handle *h = gnt_evtchn_open();
	struct gnttab_map_grant_ref op;
	struct gnttab_unmap_grant_ref un;
	volatile unsigned char *va = gnt_alloc_ballooned_pages(1);
	int lport;

	CHECK(h);
	CHECK(va);
	lport = gnt_evtchn_bind_interdomain(h, (domid_t)s->a, aport);
	CHECK(lport > 0);
	CHECK_EQ(th_evtchn_wait(h), lport); /* a fresh binding is pending */
	CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)lport), 0);
	gnt_set_map_op(&op, (void *)va, GNTMAP_host_map, ref, (domid_t)s->a);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	CHECK_EQ(op.status, GNTST_okay);
	CHECK_EQ(va[OFF], 0xff);
	th_evtchn_quiet(h, 200);
	th_send_u32(&s->to_t, 1);
	CHECK_EQ(th_recv_u32(&s->to_b), 2); /* A2 killed */
	CHECK_EQ(th_evtchn_wait(h), lport);
	CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)lport), 0);
	byte_becomes(&va[OFF], 0);
	CHECK_EQ(va[OFF + 1], 0xff); /* the cancelled one did not fire */
	CHECK_EQ(va[OFF - 1], 0xff);
	th_send_u32(&s->to_t, 3);
	CHECK_EQ(th_recv_u32(&s->to_b), 4); /* A1 gone too: A is a zombie */
	CHECK_EQ(va[OFF], 0);
	CHECK_EQ(va[OFF + 1], 0xff); /* still mapped */
	gnt_set_unmap_op(&un, (void *)va, GNTMAP_host_map, op.handle);
	CHECK_EQ(gnt_unmap_refs(&un, 1), 0);
	CHECK_EQ(un.status, GNTST_okay);
	gnt_evtchn_close(h);
}

TEST(grant_unmap_notify_fires_when_granter_is_killed)
{
	struct un s = {0};
	struct gnt_hv_stats s0;
	pid_t pa1, pa2, pb;

	th_gntd_start();
	s0 = th_stats();
	s.a = th_domain("A");
	s.b = th_domain("B");
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	th_chan_open(&s.to_t);
	th_chan_open(&s.to_h);
	pa1 = th_spawn(s.a, g_holder, &s);
	pa2 = th_spawn(s.a, g_granter, &s);
	pb = th_spawn(s.b, g_mapper, &s);
	CHECK_EQ(th_recv_u32_from(&s.to_t, pb), 1);
	CHECK_EQ(kill(pa2, SIGKILL), 0);
	CHECK_EQ(th_wait(pa2), 128 + SIGKILL);
	th_send_u32(&s.to_b, 2);
	CHECK_EQ(th_recv_u32_from(&s.to_t, pb), 3);
	th_send_u32(&s.to_h, 9);
	CHECK_EQ(th_wait(pa1), 0);
	/* A's last process is gone: B's mapping keeps it as a zombie */
	{
		struct gnt_domain_info di;
		for (int i = 0; i < 500 && th_domain_exists(s.a, &di) && di.state == 1; i++)
			usleep(10000);
		CHECK(th_domain_exists(s.a, &di));
		CHECK_EQ(di.state, 2u);
	}
	th_send_u32(&s.to_b, 4);
	CHECK_EQ(th_wait(pb), 0);
	th_expect_stats(&s0, 5000);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_chan_close(&s.to_t);
	th_chan_close(&s.to_h);
	th_gntd_stop();
}
