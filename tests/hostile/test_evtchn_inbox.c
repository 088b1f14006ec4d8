/* SPDX-License-Identifier: MIT */
/*
 * A hostile peer on the raw protocol binds to a port of ours and abuses
 * what the bind gave it: our inbox for its domain (every bit, port 0, ports
 * beyond the domain's limit, the summary), the memfd behind it (resize,
 * seal), our bell (set blocking, filled, rung with no bit set).  We only
 * ever see its own bound port (or a spurious event), our memory stays
 * mapped, and gntd keeps serving.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../helpers.h"

struct hs {
	struct th_chan to_a, to_b;
	uint32_t a, b;
};

/* The hostile end: its own connection and handle, the bind's descriptors. */
struct raw_peer {
	int conn, ctl;
	uint32_t hid;
	int fds[3];   /* inbox(us, a), inbox(a's handle, us), a's bell for us */
	struct gnt_evtchn_inbox *ob;
};

static int raw_hc(struct raw_peer *r, uint32_t op, void *arg, uint32_t len, int *fds,
		  unsigned int *nfds)
{
	struct gnt_msg m = {.magic = GNT_PROTO_MAGIC, .op = GNT_MSG_HYPERCALL,
			    .cmd = GNT_HC(__HYPERVISOR_event_channel_op, op), .count = 1,
			    .len = len, .aux = r->hid};
	CHECK_EQ(th_raw_send(r->conn, &m, arg, len, NULL, 0), 0);
	CHECK_EQ(th_raw_recv(r->conn, &m, arg, len, fds, nfds, 5000), 1);
	return m.rc;
}

static int raw_bind(struct raw_peer *r, uint32_t dom, uint32_t port)
{
	struct gnt_msg m = {.magic = GNT_PROTO_MAGIC, .op = GNT_MSG_EVTCHN_OPEN, .nfds = 1};
	struct evtchn_bind_interdomain op = {.remote_dom = (domid_t)dom, .remote_port = port};
	int sv[2], ofds[4];
	unsigned int n = 4;

	r->conn = th_raw_attach();
	CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK_EQ(th_raw_send(r->conn, &m, NULL, 0, &sv[1], 1), 0);
	close(sv[1]);
	r->ctl = sv[0];
	CHECK_EQ(th_raw_recv(r->conn, &m, NULL, 0, ofds, &n, 5000), 1);
	CHECK(m.rc > 0 && n == 4);
	for (unsigned int i = 0; i < n; i++)
		close(ofds[i]);
	r->hid = (uint32_t)m.rc;
	n = 3;
	CHECK_EQ(raw_hc(r, EVTCHNOP_bind_interdomain, &op, sizeof(op), r->fds, &n), 0);
	CHECK_EQ(n, 3);
	r->ob = mmap(NULL, GNT_EVTCHN_INBOX_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, r->fds[1],
		     0);
	CHECK(r->ob != MAP_FAILED);
	return (int)op.local_port;
}

static void raw_close(struct raw_peer *r)
{
	munmap(r->ob, GNT_EVTCHN_INBOX_BYTES);
	for (int i = 0; i < 3; i++)
		close(r->fds[i]);
	close(r->ctl);
	close(r->conn);
}

/* A ring with no bit behind it makes the fd readable; a blocking wait
 * after poll must not then sleep (the caller came because of the fd): it
 * returns a spurious event on one of our ports, and nothing stays
 * readable. */
static void bare_ring(gnt_evtchn_handle *h, int p1, int p2)
{
	struct pollfd pf = {.fd = gnt_evtchn_fd(h), .events = POLLIN};
	int q;

	CHECK_EQ(poll(&pf, 1, 5000), 1);
	alarm(10); /* a wait that sleeps fails the test instead of hanging it */
	q = gnt_evtchn_wait(h);
	alarm(0);
	CHECK(q == p1 || q == p2);
	CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)q), 0);
	CHECK_EQ(poll(&pf, 1, 0), 0);
}

/* a: two ports for b, only the first gets bound; see only that one */
static void victim(void *p)
{
	struct hs *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int p1 = gnt_evtchn_bind_unbound_port(h, (domid_t)s->b);
	int p2 = gnt_evtchn_bind_unbound_port(h, (domid_t)s->b);

	CHECK(p1 > 0 && p2 > 0);
	th_send_u32(&s->to_b, (uint32_t)p1);
	for (uint32_t step; (step = th_recv_u32(&s->to_a)) != 0;) {
		if (step == 4) {
			bare_ring(h, p1, p2);
			th_send_u32(&s->to_b, step);
			continue;
		}
		/* b did something nasty, then signalled p1: exactly p1 comes */
		CHECK_EQ(th_evtchn_wait(h), p1);
		CHECK_EQ(gnt_evtchn_pending(h), -EAGAIN);
		CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)p1), 0);
		while (gnt_evtchn_pending(h) == p1) /* b's bits for p1 may still be set */
			CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)p1), 0);
		th_evtchn_quiet(h, 20);
		th_send_u32(&s->to_b, step);
	}
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)p1), 0); /* our way out still works */
	gnt_evtchn_close(h);
}

static void wait_step(struct hs *s, uint32_t step)
{
	th_send_u32(&s->to_a, step);
	CHECK_EQ(th_recv_u32(&s->to_b), step);
}

static void hostile(void *p)
{
	struct hs *s = p;
	struct raw_peer r;
	int lp = raw_bind(&r, s->a, th_recv_u32(&s->to_b));
	struct evtchn_send snd = {.port = (uint32_t)lp};
	unsigned int n = 0;

	CHECK(lp > 0);
	/* 1: every bit and summary bit of our inbox at the victim */
	memset(r.ob, 0xff, GNT_EVTCHN_INBOX_BYTES);
	(void)!write(r.fds[2], "", 1);
	wait_step(s, 1);
	/* 2: the memfd cannot be resized or sealed: the victim keeps its
	 * mapping (a shrink would SIGBUS it) */
	CHECK_EQ(ftruncate(r.fds[1], 0), -1);
	CHECK_EQ(errno, EPERM);
	CHECK_EQ(ftruncate(r.fds[1], 1 << 20), -1);
	CHECK_EQ(fcntl(r.fds[1], F_ADD_SEALS, F_SEAL_WRITE), -1);
	CHECK_EQ(errno, EPERM);
	r.ob->word[0] = ~0ull;
	r.ob->summary = 1;
	(void)!write(r.fds[2], "", 1);
	wait_step(s, 2);
	/* 3: the victim's bell, made blocking and filled: gntd's own rings
	 * do not block (it relays our send), the victim still gets events */
	fcntl(r.fds[2], F_SETFL, O_NONBLOCK);
	while (write(r.fds[2], "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 32) > 0)
		;
	CHECK_EQ(errno, EAGAIN);
	fcntl(r.fds[2], F_SETFL, 0);
	CHECK_EQ(raw_hc(&r, EVTCHNOP_send, &snd, sizeof(snd), NULL, &n), 0);
	wait_step(s, 3);
	/* 4: a bare ring, no bit set */
	fcntl(r.fds[2], F_SETFL, O_NONBLOCK);
	CHECK_EQ(write(r.fds[2], "", 1), 1);
	wait_step(s, 4);
	th_send_u32(&s->to_a, 0);
	raw_close(&r);
}

TEST(evtchn_hostile_peer_reaches_only_its_own_port)
{
	struct hs s;
	struct gnt_hv_stats s0;
	pid_t pa, pb;

	th_gntd_start();
	s0 = th_stats();
	s.a = th_domain("A");
	s.b = th_domain("B");
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	pa = th_spawn(s.a, victim, &s);
	pb = th_spawn(s.b, hostile, &s);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_share_fresh(); /* gntd still serves */
	th_expect_stats(&s0, 5000);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_gntd_stop();
}
