/* SPDX-License-Identifier: MIT */
/*
 * A former peer keeps what it was given to signal with (its mapping of the
 * survivor's inbox for its domain, and its description of the survivor's
 * bell) and signals through them after unbinding: every bit of the inbox,
 * and the bell.  The survivor takes a bit from that inbox only for a port
 * bound to that domain, so the unbound port is never delivered (a port
 * still bound to the same domain may be: the domain may signal it), and a
 * new honest binding works.  Spurious wake-ups of the descriptor are allowed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../helpers.h"

struct st {
	struct th_chan to_a, to_b;
	uint32_t a, b;
};

static void survivor(void *p)
{
	struct st *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	int p1 = gnt_evtchn_bind_unbound_port(h, (domid_t)s->b);
	int p2 = gnt_evtchn_bind_unbound_port(h, (domid_t)s->b);

	CHECK(p1 > 0 && p2 > 0);
	th_send_u32(&s->to_b, (uint32_t)p1);
	th_send_u32(&s->to_b, (uint32_t)p2);
	CHECK_EQ(th_recv_u32(&s->to_a), 1); /* b bound both, kept copies, unbound p1 */
	/* the end of p1's binding is one event (gntd's) */
	CHECK_EQ(th_evtchn_wait(h), p1);
	CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)p1), 0);
	th_send_u32(&s->to_b, 5); /* now signal through what was kept */
	CHECK_EQ(th_recv_u32(&s->to_a), 6);
	for (int i = 0; i < 10; i++) {
		struct pollfd pfd = {.fd = gnt_evtchn_fd(h), .events = POLLIN};
		int got;
		poll(&pfd, 1, 10);
		while ((got = gnt_evtchn_pending(h)) >= 0) {
			CHECK_EQ(got, p2); /* still bound to b: b may signal it */
			CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)p2), 0);
		}
		CHECK_EQ(got, -EAGAIN);
	}
	/* a new, honest binding works as usual */
	th_send_u32(&s->to_b, 2);
	CHECK_EQ(th_recv_u32(&s->to_a), 3);
	CHECK_EQ(th_evtchn_wait(h), p1);
	gnt_evtchn_close(h);
}

struct kept {
	void *inbox[8];
	int bell[16];
	int ninbox, nbell;
};

/* Our own copies of every event channel inbox mapped here (a second
 * mapping of the same pages survives libgnt's munmap) and of every bell. */
static void keep_all(struct kept *k, const struct st *s)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];

	CHECK(f);
	while (fgets(line, sizeof(line), f) && k->ninbox < 8) {
		unsigned long lo;
		void *c;
		if (!strstr(line, "gnt-evtchn-inbox") || sscanf(line, "%lx-", &lo) != 1)
			continue;
		c = mremap((void *)lo, 0, GNT_EVTCHN_INBOX_BYTES, MREMAP_MAYMOVE);
		CHECK(c != MAP_FAILED);
		k->inbox[k->ninbox++] = c;
	}
	fclose(f);
	for (int fd = 3; fd < 256 && k->nbell < 16; fd++) {
		struct stat st;
		int fl = fcntl(fd, F_GETFL);
		if (fd == s->to_a.wr || fd == s->to_b.wr)
			continue; /* the test's own pipes */
		if (fl >= 0 && (fl & O_ACCMODE) == O_WRONLY && fstat(fd, &st) == 0 &&
		    S_ISFIFO(st.st_mode))
			k->bell[k->nbell++] = dup(fd);
	}
}

static void hammer(struct kept *k)
{
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < k->ninbox; i++)
			memset(k->inbox[i], 0xff, GNT_EVTCHN_INBOX_BYTES);
		for (int i = 0; i < k->nbell; i++)
			(void)!write(k->bell[i], "x", 1);
	}
}

static void keeper(void *p)
{
	struct st *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	uint32_t r1 = th_recv_u32(&s->to_b), r2 = th_recv_u32(&s->to_b);
	int k1 = gnt_evtchn_bind_interdomain(h, (domid_t)s->a, r1);
	struct kept k = {0};

	CHECK(k1 > 0 && gnt_evtchn_bind_interdomain(h, (domid_t)s->a, r2) > 0);
	keep_all(&k, s);
	CHECK(k.ninbox >= 1 && k.nbell >= 1); /* at least the survivor's inbox and bell */
	CHECK_EQ(gnt_evtchn_unbind(h, (evtchn_port_t)k1), 0);
	th_send_u32(&s->to_a, 1);
	CHECK_EQ(th_recv_u32(&s->to_b), 5);
	hammer(&k);
	th_send_u32(&s->to_a, 6);
	CHECK_EQ(th_recv_u32(&s->to_b), 2);
	k1 = gnt_evtchn_bind_interdomain(h, (domid_t)s->a, r1);
	CHECK(k1 > 0);
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)k1), 0);
	th_send_u32(&s->to_a, 3);
	for (int i = 0; i < k.nbell; i++)
		close(k.bell[i]);
	gnt_evtchn_close(h);
}

TEST(former_peer_cannot_signal_through_kept_inbox_and_bell)
{
	struct st s;
	struct gnt_hv_stats s0;
	pid_t pa, pb;

	th_gntd_start();
	s0 = th_stats();
	s.a = th_domain("A");
	s.b = th_domain("B");
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	pa = th_spawn(s.a, survivor, &s);
	pb = th_spawn(s.b, keeper, &s);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_expect_stats(&s0, 5000);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_gntd_stop();
}
