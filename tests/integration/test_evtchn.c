/* SPDX-License-Identifier: MIT */
/* Event channels between two domains through a real gntd. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include "../helpers.h"

struct ev {
	struct th_chan to_a, to_b, to_t;
	uint32_t a, b;
	int rounds;
};

/* gntd and domains A and B, a channel to each, fa in a process of A and fb
 * in one of B: both exit 0.  stats: gntd's counters end where they began. */
static void run_pair(struct ev *s, void (*fa)(void *), void (*fb)(void *), bool stats)
{
	struct gnt_hv_stats s0;
	pid_t pa, pb;

	th_gntd_start();
	if (stats)
		s0 = th_stats();
	s->a = th_domain("A");
	s->b = th_domain("B");
	th_chan_open(&s->to_a);
	th_chan_open(&s->to_b);
	pa = th_spawn(s->a, fa, s);
	pb = th_spawn(s->b, fb, s);
	CHECK_EQ(th_wait(pa), 0);
	CHECK_EQ(th_wait(pb), 0);
	if (stats)
		th_expect_stats(&s0, 5000);
	th_chan_close(&s->to_a);
	th_chan_close(&s->to_b);
	th_gntd_stop();
}

static void side_a(void *p)
{
	struct ev *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int port;
	uint64_t hc = 0;

	CHECK(h);
	port = gnt_evtchn_bind_unbound_port(h, (domid_t)s->b);
	CHECK(port >= 1);
	CHECK_EQ(gnt_evtchn_pending(h), -EAGAIN);
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port), 0); /* unbound: dropped */
	th_send_u32(&s->to_b, (uint32_t)port);
	for (int i = 0; i < s->rounds; i++) {
		CHECK_EQ(th_evtchn_wait(h), port);
		CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)port), 0);
		CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port), 0);
		if (i == 1)
			hc = gnt_hypercall_count();
	}
	/* after the first notify, every one went straight to the peer */
	CHECK_EQ(gnt_hypercall_count(), hc);
	th_send_u32(&s->to_b, 0);
	CHECK_EQ(th_recv_u32(&s->to_a), 1);
	/* the peer closed its end: one event says so; ours is unbound, and our
	 * notifies are dropped */
	CHECK_EQ(th_evtchn_wait(h), port);
	{
		struct evtchn_status st = {.dom = DOMID_SELF, .port = (evtchn_port_t)port};
		CHECK_EQ(gnt_evtchn_status(&st), 0);
		CHECK_EQ(st.status, EVTCHNSTAT_unbound);
		CHECK_EQ(st.u.unbound.dom, s->b);
	}
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port), 0);
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port + 1), -EINVAL); /* not ours */
	CHECK_EQ(gnt_evtchn_close(h), 0);
}

static void side_b(void *p)
{
	struct ev *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	uint32_t rport = th_recv_u32(&s->to_b);
	int port;
	uint64_t hc = 0;

	CHECK(h);
	CHECK_EQ(gnt_evtchn_bind_interdomain(h, (domid_t)s->a, rport + 1), -EINVAL);
	port = gnt_evtchn_bind_interdomain(h, (domid_t)s->a, rport);
	CHECK(port >= 1);
	CHECK_EQ(gnt_evtchn_bind_interdomain(h, (domid_t)s->a, rport), -EINVAL); /* bound */
	/* Xen sets a freshly bound port pending */
	CHECK_EQ(th_evtchn_wait(h), port);
	CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)port), 0);
	hc = gnt_hypercall_count();
	for (int i = 0; i < s->rounds; i++) {
		CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port), 0);
		CHECK_EQ(th_evtchn_wait(h), port);
		CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)port), 0);
	}
	CHECK_EQ(gnt_hypercall_count(), hc); /* the binder never asked gntd */
	CHECK_EQ(th_recv_u32(&s->to_b), 0);
	CHECK_EQ(gnt_evtchn_unbind(h, (evtchn_port_t)port), 0);
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port), -EINVAL);
	th_send_u32(&s->to_a, 1);
	CHECK_EQ(gnt_evtchn_close(h), 0);
}

TEST(evtchn_ping_pong_between_domains)
{
	struct ev s = {.rounds = 1000};

	run_pair(&s, side_a, side_b, true);
}

/* A binding within one domain (two handles of one process): when one end
 * closes, the other hears it (one event, unbound), and a new binding to it
 * works both ways. */
static void loop_rebind(void *p)
{
	struct ev *s = p;
	gnt_evtchn_handle *h1 = gnt_evtchn_open(), *h2 = gnt_evtchn_open();
	int p1 = h1 ? gnt_evtchn_bind_unbound_port(h1, (domid_t)s->a) : -1;

	CHECK(p1 >= 1 && h2);
	for (int round = 0; round < 2; round++) {
		int p2 = gnt_evtchn_bind_interdomain(h2, (domid_t)s->a, (evtchn_port_t)p1);
		struct evtchn_status st = {.dom = DOMID_SELF, .port = (evtchn_port_t)p1};

		CHECK(p2 >= 1);
		CHECK_EQ(th_evtchn_wait(h2), p2); /* a fresh binding is pending */
		CHECK_EQ(gnt_evtchn_unmask(h2, (evtchn_port_t)p2), 0);
		CHECK_EQ(gnt_evtchn_notify(h1, (evtchn_port_t)p1), 0);
		CHECK_EQ(th_evtchn_wait(h2), p2);
		CHECK_EQ(gnt_evtchn_unmask(h2, (evtchn_port_t)p2), 0);
		CHECK_EQ(gnt_evtchn_notify(h2, (evtchn_port_t)p2), 0);
		CHECK_EQ(th_evtchn_wait(h1), p1);
		CHECK_EQ(gnt_evtchn_unmask(h1, (evtchn_port_t)p1), 0);
		CHECK_EQ(gnt_evtchn_unbind(h2, (evtchn_port_t)p2), 0);
		/* the end of the binding is one event, and p1 is unbound */
		CHECK_EQ(th_evtchn_wait(h1), p1);
		CHECK_EQ(gnt_evtchn_unmask(h1, (evtchn_port_t)p1), 0);
		CHECK_EQ(gnt_evtchn_status(&st), 0);
		CHECK_EQ(st.status, EVTCHNSTAT_unbound);
		CHECK_EQ(gnt_evtchn_notify(h1, (evtchn_port_t)p1), 0); /* dropped */
		th_evtchn_quiet(h2, 20);
	}
	gnt_evtchn_close(h2);
	gnt_evtchn_close(h1);
}

TEST(evtchn_binding_within_a_domain_ends_and_rebinds)
{
	struct ev s = {0};
	struct gnt_hv_stats s0;

	th_gntd_start();
	s0 = th_stats();
	s.a = th_domain("A");
	CHECK_EQ(th_wait(th_spawn(s.a, loop_rebind, &s)), 0);
	th_expect_stats(&s0, 5000);
	th_gntd_stop();
}

/* Many peers bind to our unbound ports while we are busy elsewhere (gntd
 * tells us of each binding on our control socket, which we read only when
 * we next use the handle): every binding is known, and every event comes. */
#define MANY 100
static void many_a(void *p)
{
	struct ev *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	bool seen[MANY + 1024] = {false};
	int first = -1, n = 0, ports[MANY];

	CHECK(h);
	for (int i = 0; i < MANY; i++) {
		ports[i] = gnt_evtchn_bind_unbound_port(h, (domid_t)s->b);
		CHECK(ports[i] >= 1 && ports[i] < MANY + 1024);
		if (first < 0)
			first = ports[i];
	}
	for (int i = 0; i < MANY; i++) /* then b binds them all at once */
		th_send_u32(&s->to_b, (uint32_t)ports[i]);
	CHECK_EQ(th_recv_u32(&s->to_a), 1); /* all bound, and each notified */
	while (n < MANY) {
		int port = th_evtchn_wait(h);
		CHECK(port >= first && port < first + MANY);
		if (!seen[port]) {
			seen[port] = true;
			n++;
		}
		CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)port), 0);
	}
	/* and ours reach them directly */
	for (int port = first; port < first + MANY; port++)
		CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port), 0);
	CHECK_EQ(th_recv_u32(&s->to_a), 2);
	gnt_evtchn_close(h);
}

static void many_b(void *p)
{
	struct ev *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int ports[MANY], n = 0;

	CHECK(h);
	for (int i = 0; i < MANY; i++) {
		ports[i] = gnt_evtchn_bind_interdomain(h, (domid_t)s->a, th_recv_u32(&s->to_b));
		CHECK(ports[i] >= 1);
	}
	for (int i = 0; i < MANY; i++)
		CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)ports[i]), 0);
	th_send_u32(&s->to_a, 1);
	/* each of ours: pending since its bind, then a's notify */
	while (n < MANY) {
		int port = th_evtchn_wait(h);
		CHECK(port >= 1);
		CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)port), 0);
		n++;
	}
	th_send_u32(&s->to_a, 2);
	gnt_evtchn_close(h);
}

TEST(evtchn_many_bindings_while_the_owner_is_busy)
{
	struct ev s = {0};

	run_pair(&s, many_a, many_b, false);
}

/* Events while masked coalesce into one delivery at unmask. */
static void mask_a(void *p)
{
	struct ev *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int port = gnt_evtchn_bind_unbound_port(h, (domid_t)s->b);

	th_send_u32(&s->to_b, (uint32_t)port);
	CHECK_EQ(th_recv_u32(&s->to_a), 1); /* b notified three times */
	CHECK_EQ(th_evtchn_wait(h), port);        /* one delivery, now masked */
	CHECK_EQ(gnt_evtchn_pending(h), -EAGAIN);
	th_send_u32(&s->to_b, 2);
	CHECK_EQ(th_recv_u32(&s->to_a), 3); /* b notified again, while masked */
	usleep(20000);
	CHECK_EQ(gnt_evtchn_pending(h), -EAGAIN); /* masked: not delivered */
	CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)port), 0);
	CHECK_EQ(th_evtchn_wait(h), port); /* delivered at unmask */
	CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)port), 0);
	usleep(20000);
	CHECK_EQ(gnt_evtchn_pending(h), -EAGAIN);
	th_send_u32(&s->to_b, 4);
	gnt_evtchn_close(h);
}

static void mask_b(void *p)
{
	struct ev *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int port = gnt_evtchn_bind_interdomain(h, (domid_t)s->a, th_recv_u32(&s->to_b));

	CHECK(port > 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port), 0);
	th_send_u32(&s->to_a, 1);
	CHECK_EQ(th_recv_u32(&s->to_b), 2);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port), 0);
	th_send_u32(&s->to_a, 3);
	CHECK_EQ(th_recv_u32(&s->to_b), 4);
	gnt_evtchn_close(h);
}

TEST(evtchn_mask_coalesces_and_unmask_redelivers)
{
	struct ev s = {0};

	run_pair(&s, mask_a, mask_b, false);
}

/* A peer that dies: the survivor's port goes unbound and is notified. */
static void death_a(void *p)
{
	struct ev *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int port = gnt_evtchn_bind_unbound_port(h, (domid_t)s->b);
	struct evtchn_status st = {.dom = DOMID_SELF};

	th_send_u32(&s->to_b, (uint32_t)port);
	CHECK_EQ(th_recv_u32(&s->to_a), 1); /* bound, then killed */
	CHECK_EQ(th_evtchn_wait(h), port);        /* the final notification */
	st.port = (evtchn_port_t)port;
	CHECK_EQ(gnt_evtchn_status(&st), 0);
	CHECK_EQ(st.status, EVTCHNSTAT_unbound);
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port), 0); /* dropped */
	gnt_evtchn_close(h);
}

static void death_b(void *p)
{
	struct ev *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	CHECK(gnt_evtchn_bind_interdomain(h, (domid_t)s->a, th_recv_u32(&s->to_b)) > 0);
	th_send_u32(&s->to_t, 9);
	pause();
}

TEST(evtchn_peer_death_notifies_survivor)
{
	struct ev s = {0};
	struct gnt_hv_stats s0;
	pid_t pa, pb;

	th_gntd_start();
	s0 = th_stats();
	s.a = th_domain("A");
	s.b = th_domain("B");
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	th_chan_open(&s.to_t);
	pa = th_spawn(s.a, death_a, &s);
	pb = th_spawn(s.b, death_b, &s);
	CHECK_EQ(th_recv_u32(&s.to_t), 9); /* b is bound */
	kill(pb, SIGKILL);
	CHECK_EQ(th_wait(pb), 128 + SIGKILL);
	th_send_u32(&s.to_a, 1);
	CHECK_EQ(th_wait(pa), 0);
	th_expect_stats(&s0, 5000); /* the dead peer's bell and inboxes too */
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_chan_close(&s.to_t);
	th_gntd_stop();
}

static void status_other(void *p)
{
	struct ev *s = p;
	struct evtchn_status st = {.dom = (domid_t)s->a, .port = 1};
	CHECK_EQ(gnt_evtchn_status(&st), -EPERM);
	st.dom = DOMID_SELF;
	st.port = 5;
	CHECK_EQ(gnt_evtchn_status(&st), 0);
	CHECK_EQ(st.status, EVTCHNSTAT_closed);
	CHECK_EQ(gnt_evtchn_reset((domid_t)s->a), -EPERM);
}

TEST(evtchn_status_of_others_is_dom0s)
{
	struct ev s = {0};

	th_gntd_start();
	s.a = th_domain("A");
	s.b = th_domain("B");
	CHECK_EQ(th_wait(th_spawn(s.b, status_other, &s)), 0);
	th_gntd_stop();
}

/* gnt_evtchn_wait sleeps until an event, and with O_NONBLOCK on the
 * descriptor returns -EAGAIN; pending with several ports ready keeps the
 * descriptor readable until the last is taken. */
static void wait_a(void *p)
{
	struct ev *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int port[3];
	struct pollfd pfd = {.fd = gnt_evtchn_fd(h), .events = POLLIN};
	bool seen[3] = {false, false, false};

	for (int i = 0; i < 3; i++) {
		port[i] = gnt_evtchn_bind_unbound_port(h, (domid_t)s->b);
		CHECK(port[i] > 0);
		th_send_u32(&s->to_b, (uint32_t)port[i]);
	}
	/* b binds, waits for our go, then notifies port 0: we sleep in wait */
	th_send_u32(&s->to_b, 1);
	CHECK_EQ(gnt_evtchn_wait(h), port[0]);
	CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)port[0]), 0);
	fcntl(pfd.fd, F_SETFL, O_NONBLOCK);
	CHECK_EQ(gnt_evtchn_wait(h), -EAGAIN);
	fcntl(pfd.fd, F_SETFL, 0);
	th_send_u32(&s->to_b, 2); /* b notifies all three */
	CHECK_EQ(th_recv_u32(&s->to_a), 3);
	for (int n = 0; n < 3; n++) {
		int got;
		CHECK_EQ(poll(&pfd, 1, 5000), 1);
		got = gnt_evtchn_pending(h);
		for (int i = 0; i < 3; i++)
			if (got == port[i]) {
				CHECK(!seen[i]);
				seen[i] = true;
			}
	}
	CHECK(seen[0] && seen[1] && seen[2]);
	CHECK_EQ(gnt_evtchn_pending(h), -EAGAIN); /* all three masked now */
	CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)port[0]), 0);
	th_send_u32(&s->to_b, 4); /* b notifies port 0 */
	CHECK_EQ(th_recv_u32(&s->to_a), 5);
	/* taken without sleeping: the descriptor is not left readable with
	 * nothing to deliver (a caller that polls, then waits, would block) */
	CHECK_EQ(gnt_evtchn_wait(h), port[0]);
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	th_send_u32(&s->to_b, 6);
	gnt_evtchn_close(h);
}

static void wait_b(void *p)
{
	struct ev *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int port[3];

	for (int i = 0; i < 3; i++) {
		port[i] = gnt_evtchn_bind_interdomain(h, (domid_t)s->a, th_recv_u32(&s->to_b));
		CHECK(port[i] > 0);
	}
	CHECK_EQ(th_recv_u32(&s->to_b), 1);
	usleep(20000); /* a is most likely asleep in wait by now (either way is right) */
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port[0]), 0);
	CHECK_EQ(th_recv_u32(&s->to_b), 2);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port[i]), 0);
	th_send_u32(&s->to_a, 3);
	CHECK_EQ(th_recv_u32(&s->to_b), 4);
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port[0]), 0);
	th_send_u32(&s->to_a, 5);
	CHECK_EQ(th_recv_u32(&s->to_b), 6);
	gnt_evtchn_close(h);
}

TEST(evtchn_wait_blocks_and_pending_keeps_fd_readable)
{
	struct ev s = {0};

	run_pair(&s, wait_a, wait_b, true);
}

/* A forked child holds the parent's handle's memory and descriptors, but
 * the handle is not its own: every call says so, and the parent's keeps
 * working. */
static void fork_a(void *p)
{
	struct ev *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int port = gnt_evtchn_bind_unbound_port(h, (domid_t)s->b);
	pid_t child;

	th_send_u32(&s->to_b, (uint32_t)port);
	CHECK_EQ(th_recv_u32(&s->to_a), 1); /* bound */
	child = fork();
	if (child == 0) {
		bool ok = gnt_evtchn_notify(h, (evtchn_port_t)port) == -EBADF &&
			  gnt_evtchn_pending(h) == -EBADF && gnt_evtchn_wait(h) == -EBADF &&
			  gnt_evtchn_unmask(h, (evtchn_port_t)port) == -EBADF &&
			  gnt_evtchn_unbind(h, (evtchn_port_t)port) == -EBADF &&
			  gnt_evtchn_bind_unbound_port(h, (domid_t)s->b) == -EBADF;
		gnt_evtchn_close(h); /* frees the child's copy only */
		_exit(ok ? 0 : 1);
	}
	CHECK_EQ(th_wait(child), 0);
	CHECK_EQ(th_evtchn_wait(h), port); /* b's bind, then b's notify */
	CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)port), 0);
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port), 0);
	th_send_u32(&s->to_b, 2);
	gnt_evtchn_close(h);
}

static void fork_b(void *p)
{
	struct ev *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int port = gnt_evtchn_bind_interdomain(h, (domid_t)s->a, th_recv_u32(&s->to_b));

	CHECK(port > 0);
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port), 0);
	th_send_u32(&s->to_a, 1);
	CHECK_EQ(th_evtchn_wait(h), port); /* fresh binding */
	CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)port), 0);
	CHECK_EQ(th_evtchn_wait(h), port); /* a's notify */
	CHECK_EQ(th_recv_u32(&s->to_b), 2);
	gnt_evtchn_close(h);
}

TEST(evtchn_fork_child_cannot_use_parents_handle)
{
	struct ev s = {0};

	run_pair(&s, fork_a, fork_b, false);
}

/* A child closing its copy of the handle must leave the parent's pending
 * bits alone: they are in memory the two share. */
static void fork_close_a(void *p)
{
	struct ev *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int port = gnt_evtchn_bind_unbound_port(h, (domid_t)s->b);
	pid_t child;

	th_send_u32(&s->to_b, (uint32_t)port);
	CHECK_EQ(th_evtchn_wait(h), port); /* b's first notify: its inbox is known */
	CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)port), 0);
	th_send_u32(&s->to_b, 1);
	CHECK_EQ(th_recv_u32(&s->to_a), 2); /* b notified again: the bit waits */
	child = fork();
	if (child == 0) {
		gnt_evtchn_close(h);
		_exit(0);
	}
	CHECK_EQ(th_wait(child), 0);
	CHECK_EQ(th_evtchn_wait(h), port);
	th_send_u32(&s->to_b, 3);
	gnt_evtchn_close(h);
}

static void fork_close_b(void *p)
{
	struct ev *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int port = gnt_evtchn_bind_interdomain(h, (domid_t)s->a, th_recv_u32(&s->to_b));

	CHECK(port > 0);
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port), 0);
	CHECK_EQ(th_recv_u32(&s->to_b), 1);
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port), 0);
	th_send_u32(&s->to_a, 2);
	CHECK_EQ(th_recv_u32(&s->to_b), 3);
	gnt_evtchn_close(h);
}

TEST(evtchn_fork_child_closing_its_copy_keeps_parents_events)
{
	struct ev s = {0};

	run_pair(&s, fork_close_a, fork_close_b, false);
}
