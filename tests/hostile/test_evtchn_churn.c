/* SPDX-License-Identifier: MIT */
/*
 * A domain binds and unbinds our port for it thousands of times while we
 * are busy elsewhere: each time gntd has news for us (a binding, its end),
 * and we read it only when we next use the handle.  Meanwhile an honest
 * domain binds our port for it.  Its binding must still reach us: the churn
 * may not push it out of the queue.
 */
#include <errno.h>

#include "../helpers.h"

#define CHURN 3000

struct ch {
	struct th_chan to_a, to_b, to_c;
	uint32_t a, b, c;
};

static void owner(void *p)
{
	struct ch *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int pb = h ? gnt_evtchn_bind_unbound_port(h, (domid_t)s->b) : -1;
	int pc = h ? gnt_evtchn_bind_unbound_port(h, (domid_t)s->c) : -1;
	bool got = false;

	CHECK(pb > 0 && pc > 0);
	th_send_u32(&s->to_b, (uint32_t)pb);
	CHECK_EQ(th_recv_u32(&s->to_a), 1); /* b is done churning */
	th_send_u32(&s->to_c, (uint32_t)pc);
	CHECK_EQ(th_recv_u32(&s->to_a), 2); /* c bound and notified */
	while (!got) {
		int port = th_evtchn_wait(h);
		CHECK(port == pb || port == pc);
		got = port == pc;
		CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)port), 0);
	}
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)pc), 0);
	CHECK_EQ(th_recv_u32(&s->to_a), 3);
	gnt_evtchn_close(h);
}

static void churner(void *p)
{
	struct ch *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	uint32_t rport = th_recv_u32(&s->to_b);

	CHECK(h);
	for (int i = 0; i < CHURN; i++) {
		int port = gnt_evtchn_bind_interdomain(h, (domid_t)s->a, rport);
		CHECK(port > 0);
		CHECK_EQ(gnt_evtchn_unbind(h, (evtchn_port_t)port), 0);
	}
	th_send_u32(&s->to_a, 1);
	gnt_evtchn_close(h);
}

static void honest(void *p)
{
	struct ch *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	uint32_t rport = th_recv_u32(&s->to_c);
	int port = h ? gnt_evtchn_bind_interdomain(h, (domid_t)s->a, rport) : -1;

	CHECK(port > 0);
	CHECK_EQ(th_evtchn_wait(h), port); /* a fresh binding is pending */
	CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)port), 0);
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port), 0);
	th_send_u32(&s->to_a, 2);
	CHECK_EQ(th_evtchn_wait(h), port); /* the owner's answer */
	th_send_u32(&s->to_a, 3);
	gnt_evtchn_close(h);
}

TEST(evtchn_churning_peer_does_not_cost_others_their_bindings)
{
	struct ch s;
	pid_t pa, pb, pc;

	th_gntd_start();
	s.a = th_domain("A");
	s.b = th_domain("B");
	s.c = th_domain("C");
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	th_chan_open(&s.to_c);
	pa = th_spawn(s.a, owner, &s);
	pb = th_spawn(s.b, churner, &s);
	pc = th_spawn(s.c, honest, &s);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pc), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_share_fresh(); /* gntd still serves */
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_chan_close(&s.to_c);
	th_gntd_stop();
}
