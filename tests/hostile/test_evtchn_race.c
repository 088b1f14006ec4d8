/* SPDX-License-Identifier: MIT */
/*
 * Event channel lifecycle races and storms (security-anchors.md §5 items 11
 * and 12: XSA-331/338/343/344/505/496, XSA-332/391).  A receiver closes,
 * re-allocates and rebinds its ports, and dom0 resets either end, while
 * several processes of the peer notify as fast as they can (one of them
 * also sets every bit of every inbox it can reach); a domain runs out of
 * ports and binds; two domains cross-bind from many processes at once;
 * a peer sends a million events to a slow receiver and to one that never
 * reads.  The receiver is only ever told of ports it holds, and of a
 * port's peer bits only while it is bound to that peer; gntd keeps
 * serving, its memory and descriptors stay flat, and every count returns
 * to where it was.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../helpers.h"

#define NB 3        /* storming processes of the peer */
#define ROUNDS 200  /* close / re-allocate / rebind rounds */
#define RESETS 20   /* reset rounds (alternately the receiver, the peer) */

enum { MSG_PORT = 1, MSG_DONE = 2, MSG_RESET = 3 };
#define MSG(kind, i, v) ((uint32_t)(kind) << 24 | (uint32_t)(i) << 16 | (uint32_t)(v))

struct race {
	struct th_chan to_a, to_b[NB], to_d;
	uint32_t a, b, c;
	atomic_uint stop;        /* the storm ends */
	atomic_uint reset_round; /* rounds whose reset is done */

};

/* Whom dom0 resets in round r: the receiver in even rounds, the senders'
 * domain in odd ones. */
static uint32_t target(const struct race *s, int r)
{
	return r % 2 ? s->b : s->a;
}

static struct race *race_new(void)
{
	struct race *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	CHECK(s != MAP_FAILED);
	memset(s, 0, sizeof(*s));
	th_chan_open(&s->to_a);
	th_chan_open(&s->to_d);
	for (int i = 0; i < NB; i++)
		th_chan_open(&s->to_b[i]);
	return s;
}

static void race_free(struct race *s)
{
	th_chan_close(&s->to_a);
	th_chan_close(&s->to_d);
	for (int i = 0; i < NB; i++)
		th_chan_close(&s->to_b[i]);
	munmap(s, sizeof(*s));
}

/* The hostile part of a sender: every bit of every peer inbox mapped in
 * this process (the receiver's inbox for our domain among them).  Looked
 * up anew each time: libgnt maps and unmaps them as bindings come and go,
 * only inside our own calls. */
static void hammer_inboxes(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];

	CHECK(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo;
		struct gnt_evtchn_inbox *ib;
		if (!strstr(line, "gnt-evtchn-inbox") || sscanf(line, "%lx-", &lo) != 1)
			continue;
		ib = (void *)lo;
		memset(ib->word, 0xff, sizeof(ib->word));
		atomic_store_explicit(&ib->summary, ~0ull, memory_order_release);
	}
	fclose(f);
}

/* Which sender a storming process is: set in the parent before each fork. */
static int who;

/* One event from a storming sender: 0, or -EINVAL once its port is gone. */
static void storm_once(gnt_evtchn_handle *h, evtchn_port_t q, bool hostile)
{
	int rc = gnt_evtchn_notify(h, q);

	if (!(rc == 0 || rc == -EINVAL))
		FAIL("notify: %d", rc);
	if (hostile)
		hammer_inboxes();
}

/* Drain up to n deliveries from h: each must be one of the nok ports in
 * ok (and never `never`); each is unmasked again. */
static void expect_only(gnt_evtchn_handle *h, const int *ok, int nok, int never, int n)
{
	for (int k = 0; k < n; k++) {
		int port = gnt_evtchn_pending(h), found = 0;
		if (port == -EAGAIN)
			return;
		CHECK(port > 0);
		CHECK(port != never);
		for (int j = 0; j < nok; j++)
			found |= ok[j] == port;
		if (!found)
			FAIL("port %d reported, not bound to the peer", port);
		CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)port), 0);
	}
}

/* The peer's ports, one per storming process: ports[i] and rport[i]. */
static void recv_ports(struct race *s, uint32_t *rport)
{
	for (int k = 0; k < NB; k++) {
		uint32_t m = th_recv_u32(&s->to_a);
		CHECK_EQ(m >> 24, MSG_PORT);
		rport[(m >> 16) & 0xff] = m & 0xffff;
	}
}

static void bind_all(struct race *s, gnt_evtchn_handle *h, const uint32_t *rport, int *pa)
{
	for (int i = 0; i < NB; i++) {
		pa[i] = gnt_evtchn_bind_interdomain(h, (domid_t)s->b, rport[i]);
		CHECK(pa[i] > 0);
	}
}

/* ---- 1a: close, re-allocate for another domain, rebind ------------------ */

static void rebinder(void *p)
{
	struct race *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	uint32_t rport[NB];
	int pa[NB];

	CHECK(h);
	recv_ports(s, rport);
	bind_all(s, h, rport, pa);
	for (int r = 0; r < ROUNDS; r++) {
		int i = r % NB, decoy, gone = pa[i];
		CHECK_EQ(gnt_evtchn_unbind(h, (evtchn_port_t)gone), 0);
		/* the port number again, for a domain that never binds it:
		 * the peer's late and forged bits for it must not count */
		decoy = gnt_evtchn_bind_unbound_port(h, (domid_t)s->c);
		CHECK(decoy > 0);
		pa[i] = -1;
		expect_only(h, pa, NB, decoy, 64);
		CHECK_EQ(gnt_evtchn_unbind(h, (evtchn_port_t)decoy), 0);
		/* the peer's end reverted to unbound for us: bind it again */
		pa[i] = gnt_evtchn_bind_interdomain(h, (domid_t)s->b, rport[i]);
		CHECK(pa[i] > 0);
		expect_only(h, pa, NB, -1, 64);
	}
	atomic_store(&s->stop, 1);
	CHECK_EQ(gnt_evtchn_close(h), 0);
}


static void stormer(void *p)
{
	struct race *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int q = h ? gnt_evtchn_bind_unbound_port(h, (domid_t)s->a) : -1;

	CHECK(q > 0);
	th_send_u32(&s->to_a, MSG(MSG_PORT, who, q));
	while (!atomic_load(&s->stop))
		storm_once(h, (evtchn_port_t)q, who == 0);
	CHECK_EQ(gnt_evtchn_close(h), 0);
}

/* Domains a (the receiver), b (the senders), c (never binds); b's
 * processes run fn, a's runs receiver. */
static void race_run(struct race *s, void (*receiver)(void *), void (*fn)(void *),
		     void (*dom0)(struct race *))
{
	struct gnt_hv_stats s0 = th_stats();
	pid_t pa, pb[NB];

	s->a = th_domain("A");
	s->b = th_domain("B");
	s->c = th_domain("C");
	pa = th_spawn(s->a, receiver, s);
	for (who = 0; who < NB; who++)
		pb[who] = th_spawn(s->b, fn, s);
	if (dom0)
		dom0(s);
	CHECK_EQ(th_wait(pa), 0);
	for (int i = 0; i < NB; i++)
		CHECK_EQ(th_wait(pb[i]), 0);
	th_share_fresh(); /* gntd still serves */
	/* a and b went with their last process; c never had one */
	CHECK_EQ(gnt_domain_destroy(s->c), 0);
	th_expect_stats(&s0, 5000);
}

TEST(evtchn_close_and_rebind_during_send_storm)
{
	struct race *s;

	th_gntd_start();
	s = race_new();
	race_run(s, rebinder, stormer, NULL);
	race_free(s);
	th_gntd_stop();
}

/* ---- 1b: dom0 resets the receiver or the senders ----------------------- */

/* dom0's reset and the senders' ends of round r, in any order. */
static void await_round_end(struct race *s)
{
	for (int k = 0; k < NB + 1; k++) {
		uint32_t m = th_recv_u32(&s->to_a);
		CHECK(m >> 24 == MSG_DONE || m >> 24 == MSG_RESET);
	}
}

/* After the reset of round r: a reset receiver holds no port any more
 * (nothing of them is reported, not even the bits its former peer set in
 * them); a reset sender left it unbound ports, whose end of binding may
 * be reported once each. */
static void check_after_reset(struct race *s, gnt_evtchn_handle *h, int *pa, int r)
{
	if (target(s, r) == s->a) {
		expect_only(h, NULL, 0, -1, 8);
		for (int i = 0; i < NB; i++) {
			CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)pa[i]), -EINVAL);
			CHECK_EQ(gnt_evtchn_unbind(h, (evtchn_port_t)pa[i]), -EINVAL);
		}
		return;
	}
	expect_only(h, pa, NB, -1, 64);
	for (int i = 0; i < NB; i++)
		CHECK_EQ(gnt_evtchn_unbind(h, (evtchn_port_t)pa[i]), 0);
}

static void reset_receiver(void *p)
{
	struct race *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	uint32_t rport[NB];
	int pa[NB];

	CHECK(h);
	for (int r = 0; r < RESETS; r++) {
		recv_ports(s, rport);
		bind_all(s, h, rport, pa);
		expect_only(h, pa, NB, -1, 64);
		th_send_u32(&s->to_d, (uint32_t)r); /* dom0: reset now */
		await_round_end(s);
		check_after_reset(s, h, pa, r);
		for (int i = 0; i < NB; i++)
			th_send_u32(&s->to_b[i], (uint32_t)r);
	}
	CHECK_EQ(gnt_evtchn_close(h), 0);
}

/* A sender's round: a new port for a, notifies until dom0's reset, then
 * its port is gone (its domain was reset: the handle knows) or unbound
 * (a's was: sending on it is dropped, as Xen). */
static void reset_sender(void *p)
{
	struct race *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();

	CHECK(h);
	for (int r = 0; r < RESETS; r++) {
		int q = gnt_evtchn_bind_unbound_port(h, (domid_t)s->a);
		int gone = target(s, r) == s->b ? -EINVAL : 0;
		CHECK(q > 0);
		th_send_u32(&s->to_a, MSG(MSG_PORT, who, q));
		while (atomic_load(&s->reset_round) <= (unsigned)r)
			storm_once(h, (evtchn_port_t)q, who == 0);
		CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)q), gone);
		CHECK_EQ(gnt_evtchn_unbind(h, (evtchn_port_t)q), gone);
		th_send_u32(&s->to_a, MSG(MSG_DONE, who, 0));
		CHECK_EQ(th_recv_u32(&s->to_b[who]), (uint32_t)r);
	}
	CHECK_EQ(gnt_evtchn_close(h), 0);
}

static void reset_dom0(struct race *s)
{
	for (int r = 0; r < RESETS; r++) {
		CHECK_EQ(th_recv_u32(&s->to_d), (uint32_t)r);
		CHECK_EQ(gnt_evtchn_reset((domid_t)target(s, r)), 0);
		atomic_store(&s->reset_round, (unsigned)r + 1);
		th_send_u32(&s->to_a, MSG(MSG_RESET, 0, 0));
	}
}

TEST(evtchn_reset_during_send_storm)
{
	struct race *s;

	th_gntd_start();
	s = race_new();
	race_run(s, reset_receiver, reset_sender, reset_dom0);
	race_free(s);
	th_gntd_stop();
}

/* ---- 2: a domain out of ports ------------------------------------------ */

/* gntd's default limit: ports 1..1023, as xl's event_channels=1023 (core.h:
 * max_evtchn counts port 0) */
#define PORTS_USABLE 1023

static void exhauster(void *p)
{
	struct race *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int n = 0, port;
	uint32_t q;

	CHECK(h);
	while ((port = gnt_evtchn_bind_unbound_port(h, (domid_t)s->b)) > 0)
		n++;
	CHECK_EQ(port, -ENOSPC);
	CHECK_EQ(n, PORTS_USABLE);
	th_send_u32(&s->to_b[0], 1);
	q = th_recv_u32(&s->to_a);
	/* b's port is unbound for us: only our lack of ports refuses it */
	CHECK_EQ(gnt_evtchn_bind_interdomain(h, (domid_t)s->b, q), -ENOSPC);
	CHECK_EQ(gnt_evtchn_bind_unbound_port(h, (domid_t)s->b), -ENOSPC);
	th_send_u32(&s->to_b[0], 2);
	CHECK_EQ(th_recv_u32(&s->to_a), 3); /* b's port as it was; c unaffected */
	/* one port freed: the same bind now works, and carries events */
	CHECK_EQ(gnt_evtchn_unbind(h, 1), 0);
	CHECK_EQ(gnt_evtchn_bind_interdomain(h, (domid_t)s->b, q), 1);
	CHECK_EQ(gnt_evtchn_notify(h, 1), 0);
	CHECK_EQ(th_recv_u32(&s->to_a), 4);
	CHECK_EQ(gnt_evtchn_close(h), 0);
}

/* b's port for a still unbound, for a, after a's failed bind. */
static void expect_unbound_for(uint32_t port, uint32_t dom)
{
	struct evtchn_status st = {.dom = DOMID_SELF, .port = port};

	CHECK_EQ(gnt_evtchn_status(&st), 0);
	CHECK_EQ(st.status, EVTCHNSTAT_unbound);
	CHECK_EQ(st.u.unbound.dom, dom);
}

static void exhaust_peer(void *p)
{
	struct race *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int q, qc, port;

	CHECK(h);
	CHECK_EQ(th_recv_u32(&s->to_b[0]), 1); /* a is out of ports */
	q = gnt_evtchn_bind_unbound_port(h, (domid_t)s->a);
	qc = gnt_evtchn_bind_unbound_port(h, (domid_t)s->c);
	CHECK(q > 0 && qc > 0);
	th_send_u32(&s->to_a, (uint32_t)q);
	CHECK_EQ(th_recv_u32(&s->to_b[0]), 2);
	expect_unbound_for((uint32_t)q, s->a);
	/* a third domain binds and exchanges an event meanwhile */
	th_send_u32(&s->to_d, (uint32_t)qc);
	CHECK_EQ(th_evtchn_wait(h), qc);
	CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)qc), 0);
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)qc), 0);
	th_send_u32(&s->to_a, 3);
	/* a's event on q (c's end of binding on qc may come first) */
	while ((port = th_evtchn_wait(h)) != q) {
		CHECK_EQ(port, qc);
		CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)port), 0);
	}
	th_send_u32(&s->to_a, 4);
	CHECK_EQ(gnt_evtchn_close(h), 0);
}

static void third(void *p)
{
	struct race *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	uint32_t qc = th_recv_u32(&s->to_d);
	int pc = h ? gnt_evtchn_bind_interdomain(h, (domid_t)s->b, qc) : -1;

	CHECK(pc > 0);
	CHECK_EQ(th_evtchn_wait(h), pc); /* a fresh binding is pending */
	CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)pc), 0);
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)pc), 0);
	CHECK_EQ(th_evtchn_wait(h), pc); /* b's answer */
	CHECK_EQ(gnt_evtchn_close(h), 0);
}

TEST(evtchn_port_exhaustion_fails_bind_cleanly)
{
	struct race *s;
	struct gnt_hv_stats s0;
	pid_t pa, pb, pc;

	th_gntd_start();
	s0 = th_stats();
	s = race_new();
	s->a = th_domain("A");
	s->b = th_domain("B");
	s->c = th_domain("C");
	pa = th_spawn(s->a, exhauster, s);
	pb = th_spawn(s->b, exhaust_peer, s);
	pc = th_spawn(s->c, third, s);
	CHECK_EQ(th_wait(pa), 0);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pc), 0);
	th_share_fresh();
	th_expect_stats(&s0, 5000);
	race_free(s);
	th_gntd_stop();
}

/* ---- 3: self-bind, cross-bind ------------------------------------------- */

static void expect_event(gnt_evtchn_handle *h, int port)
{
	CHECK_EQ(th_evtchn_wait(h), port);
	CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)port), 0);
}

static void self_binder(void *p)
{
	gnt_evtchn_handle *h = gnt_evtchn_open();
	domid_t me = (domid_t)gnt_domid();
	int u = h ? gnt_evtchn_bind_unbound_port(h, me) : -1;
	int l = gnt_evtchn_bind_interdomain(h, me, (evtchn_port_t)u);
	struct evtchn_status st = {.dom = DOMID_SELF, .port = (uint32_t)u};

	(void)p;
	CHECK(u > 0 && l > 0 && l != u);
	expect_event(h, l); /* a fresh binding is pending */
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)l), 0);
	expect_event(h, u);
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)u), 0);
	expect_event(h, l);
	CHECK_EQ(gnt_evtchn_status(&st), 0);
	CHECK_EQ(st.status, EVTCHNSTAT_interdomain);
	CHECK_EQ(st.u.interdomain.dom, me);
	CHECK_EQ(st.u.interdomain.port, (uint32_t)l);
	/* a bound port cannot be bound again, not even from its own domain */
	CHECK_EQ(gnt_evtchn_bind_interdomain(h, me, (evtchn_port_t)u), -EINVAL);
	CHECK_EQ(gnt_evtchn_unbind(h, (evtchn_port_t)l), 0);
	expect_event(h, u); /* the end of the binding */
	expect_unbound_for((uint32_t)u, me);
	/* DOMID_SELF on both sides means the caller */
	u = gnt_evtchn_bind_unbound_port(h, DOMID_SELF);
	CHECK(u > 0);
	expect_unbound_for((uint32_t)u, me);
	l = gnt_evtchn_bind_interdomain(h, DOMID_SELF, (evtchn_port_t)u);
	CHECK(l > 0);
	expect_event(h, l);
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)l), 0);
	expect_event(h, u);
	CHECK_EQ(gnt_evtchn_close(h), 0);
}

TEST(evtchn_self_bind_loops_back)
{
	struct gnt_hv_stats s0;

	th_gntd_start();
	s0 = th_stats();
	CHECK_EQ(th_wait(th_spawn(th_domain("A"), self_binder, NULL)), 0);
	th_expect_stats(&s0, 5000);
	th_gntd_stop();
}

#define NX 4 /* cross-binding processes per domain */

struct cross {
	uint32_t dom[2];
	atomic_uint port[2][NX];  /* each process's unbound port for the other domain */
	atomic_uint won[2][NX];   /* successful binds to each of them */
	atomic_uint ready, bound; /* barriers */
};

static void barrier(atomic_uint *c)
{
	atomic_fetch_add(c, 1);
	while (atomic_load(c) < 2 * NX)
		sched_yield();
}

/* Process `who` of side `side`: binds, at once with everyone, to the
 * other side's ports who and who + 1, each wanted by two processes. */
static void cross_binder(void *p)
{
	struct cross *x = p;
	int side = who / NX, i = who % NX, other = !side;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int mine = h ? gnt_evtchn_bind_unbound_port(h, (domid_t)x->dom[other]) : -1;

	CHECK(mine > 0);
	atomic_store(&x->port[side][i], (unsigned)mine);
	barrier(&x->ready);
	for (int k = 0; k < 2; k++) {
		int j = (i + (side ? 1 - k : k)) % NX;
		int rc = gnt_evtchn_bind_interdomain(h, (domid_t)x->dom[other],
						     atomic_load(&x->port[other][j]));
		if (rc != -EINVAL && rc <= 0)
			FAIL("bind: %d", rc);
		if (rc > 0)
			atomic_fetch_add(&x->won[other][j], 1);
	}
	/* nobody closes (which would free a port for a second winner) before
	 * everyone has bound */
	barrier(&x->bound);
	CHECK_EQ(gnt_evtchn_close(h), 0);
}

TEST(evtchn_cross_bind_from_many_processes)
{
	struct cross *x = mmap(NULL, sizeof(*x), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct gnt_hv_stats s0;
	pid_t pid[2 * NX];

	CHECK(x != MAP_FAILED);
	th_gntd_start();
	s0 = th_stats();
	x->dom[0] = th_domain("A");
	x->dom[1] = th_domain("B");
	for (who = 0; who < 2 * NX; who++)
		pid[who] = th_spawn(x->dom[who / NX], cross_binder, x);
	for (int i = 0; i < 2 * NX; i++)
		CHECK_EQ(th_wait(pid[i]), 0);
	for (int side = 0; side < 2; side++)
		for (int i = 0; i < NX; i++)
			CHECK_EQ(atomic_load(&x->won[side][i]), 1u);
	th_share_fresh(); /* gntd did not deadlock */
	th_expect_stats(&s0, 5000);
	munmap(x, sizeof(*x));
	th_gntd_stop();
}

/* ---- 4: an event storm, memory flat -------------------------------------- */

#define STORM1 100000u  /* notifies before the first measurement */
#define STORM2 1000000u /* in all, before the second */
#define RELAY 20        /* one in RELAY goes through gntd (EVTCHNOP_send) */
#define PINGS 1000      /* c and d's round trips during the storm */
#define RSS_SLACK_KB 512

struct storm {
	struct th_chan to_a, to_b, to_c, to_d, to_t;
	uint32_t a, b, c, d;
	bool slow;             /* a reads now and then; else never */
	atomic_uint stop, cd_done;
};

static void storm_receiver(void *p)
{
	struct storm *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int port = h ? gnt_evtchn_bind_unbound_port(h, (domid_t)s->b) : -1, got;

	CHECK(port > 0);
	th_send_u32(&s->to_b, (uint32_t)port);
	if (!s->slow) {
		CHECK_EQ(th_recv_u32(&s->to_a), 4);
		CHECK_EQ(gnt_evtchn_close(h), 0);
		return;
	}
	while (!atomic_load(&s->stop)) {
		usleep(2000); /* a slow reader: the storm outruns it */
		while ((got = gnt_evtchn_pending(h)) >= 0) {
			CHECK_EQ(got, port);
			CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)port), 0);
		}
		CHECK_EQ(got, -EAGAIN);
	}
	CHECK_EQ(gnt_evtchn_close(h), 0);
}

/* EVTCHNOP_send on a raw connection: gntd relays it to the peer's ginbox. */
static void relay(int conn, uint32_t port)
{
	struct gnt_msg m = {.magic = GNT_PROTO_MAGIC, .op = GNT_MSG_HYPERCALL,
			    .cmd = GNT_HC(__HYPERVISOR_event_channel_op, EVTCHNOP_send),
			    .count = 1, .len = sizeof(port)};

	CHECK_EQ(th_raw_send(conn, &m, &port, sizeof(port), NULL, 0), 0);
	CHECK_EQ(th_raw_recv(conn, &m, NULL, 0, NULL, NULL, 5000), 1);
	CHECK_EQ(m.rc, 0);
}

/* Notifies until *sent reaches n (and, if cd, until c and d are done). */
static void storm_until(struct storm *s, gnt_evtchn_handle *h, int conn, int q, uint32_t *sent,
			uint32_t n, bool cd)
{
	while (*sent < n || (cd && !atomic_load(&s->cd_done))) {
		if (++*sent % RELAY == 0)
			relay(conn, (uint32_t)q);
		else
			CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)q), 0);
	}
}

static void storm_sender(void *p)
{
	struct storm *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	uint32_t rport = th_recv_u32(&s->to_b), sent = 0;
	int q = h ? gnt_evtchn_bind_interdomain(h, (domid_t)s->a, rport) : -1;
	int conn = th_raw_attach();

	CHECK(q > 0);
	storm_until(s, h, conn, q, &sent, STORM1, false);
	th_send_u32(&s->to_t, 1);
	CHECK_EQ(th_recv_u32(&s->to_b), 2);
	storm_until(s, h, conn, q, &sent, STORM2, true);
	th_send_u32(&s->to_t, 3);
	CHECK_EQ(th_recv_u32(&s->to_b), 4);
	close(conn);
	CHECK_EQ(gnt_evtchn_close(h), 0);
}

/* c: answers each of d's events, PINGS times. */
static void ponger(void *p)
{
	struct storm *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int port = h ? gnt_evtchn_bind_unbound_port(h, (domid_t)s->d) : -1;

	CHECK(port > 0);
	th_send_u32(&s->to_d, (uint32_t)port);
	for (int i = 0; i < PINGS; i++) {
		expect_event(h, port);
		CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port), 0);
	}
	CHECK_EQ(th_recv_u32(&s->to_c), 4);
	CHECK_EQ(gnt_evtchn_close(h), 0);
}

/* d: PINGS round trips with c once the storm's second part runs. */
static void pinger(void *p)
{
	struct storm *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	uint32_t rport = th_recv_u32(&s->to_d);
	int port = h ? gnt_evtchn_bind_interdomain(h, (domid_t)s->c, rport) : -1;

	CHECK(port > 0);
	expect_event(h, port); /* a fresh binding is pending */
	th_send_u32(&s->to_t, 10);
	CHECK_EQ(th_recv_u32(&s->to_d), 2);
	for (int i = 0; i < PINGS; i++) {
		CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port), 0);
		expect_event(h, port);
	}
	atomic_store(&s->cd_done, 1);
	CHECK_EQ(th_recv_u32(&s->to_d), 4);
	CHECK_EQ(gnt_evtchn_close(h), 0);
}

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	CHECK(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	CHECK(kb > 0);
	return kb;
}

struct footprint {
	long gntd_kb, a_kb;
	uint32_t fds;
};

static struct footprint footprint(pid_t a)
{
	return (struct footprint){rss_kb(th_gntd_pid()), rss_kb(a), th_stats().fds};
}

static void storm_run(bool slow)
{
	struct storm *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct th_chan *ch[] = {&s->to_a, &s->to_b, &s->to_c, &s->to_d, &s->to_t};
	struct gnt_hv_stats s0;
	struct footprint f1, f2;
	pid_t pa, pb, pc, pd;

	CHECK(s != MAP_FAILED);
	s->slow = slow;
	th_gntd_start();
	s0 = th_stats();
	for (size_t i = 0; i < sizeof(ch) / sizeof(ch[0]); i++)
		th_chan_open(ch[i]);
	s->a = th_domain("A");
	s->b = th_domain("B");
	s->c = th_domain("C");
	s->d = th_domain("D");
	pa = th_spawn(s->a, storm_receiver, s);
	pb = th_spawn(s->b, storm_sender, s);
	pc = th_spawn(s->c, ponger, s);
	pd = th_spawn(s->d, pinger, s);
	CHECK_EQ(th_recv_u32(&s->to_t) + th_recv_u32(&s->to_t), 11u); /* b: 1, d: 10 */
	f1 = footprint(pa);
	th_send_u32(&s->to_b, 2);
	th_send_u32(&s->to_d, 2);
	CHECK_EQ(th_recv_u32(&s->to_t), 3);
	f2 = footprint(pa);
	/* ten times the events, the same memory and descriptors */
	if (f2.gntd_kb > f1.gntd_kb + RSS_SLACK_KB || f2.a_kb > f1.a_kb + RSS_SLACK_KB)
		FAIL("RSS grew: gntd %ld -> %ld kB, receiver %ld -> %ld kB", f1.gntd_kb,
		     f2.gntd_kb, f1.a_kb, f2.a_kb);
	CHECK_EQ(f2.fds, f1.fds);
	atomic_store(&s->stop, 1);
	th_send_u32(&s->to_a, 4);
	th_send_u32(&s->to_b, 4);
	th_send_u32(&s->to_c, 4);
	th_send_u32(&s->to_d, 4);
	CHECK_EQ(th_wait(pc), 0);
	CHECK_EQ(th_wait(pd), 0);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_share_fresh();
	th_expect_stats(&s0, 5000);
	for (size_t i = 0; i < sizeof(ch) / sizeof(ch[0]); i++)
		th_chan_close(ch[i]);
	munmap(s, sizeof(*s));
	th_gntd_stop();
}

TEST(evtchn_storm_to_slow_receiver_keeps_memory_flat)
{
	storm_run(true);
}

TEST(evtchn_storm_to_receiver_that_never_reads_keeps_memory_flat)
{
	storm_run(false);
}
