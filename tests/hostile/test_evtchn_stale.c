/* SPDX-License-Identifier: MIT */
/*
 * A former peer keeps the write end of an event channel (here: it
 * duplicates every datagram socket it holds) and signals through it after
 * unbinding.  gntd replaced the survivor's socket when the binding ended, so
 * nothing arrives: a domain can only signal ports bound to it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
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
	int port = gnt_evtchn_bind_unbound_port(h, (domid_t)s->b);

	CHECK(port > 0);
	th_send_u32(&s->to_b, (uint32_t)port);
	CHECK_EQ(th_recv_u32(&s->to_a), 1); /* b bound, kept copies, unbound */
	/* the end of the binding is one event (gntd's) */
	CHECK_EQ(th_evtchn_wait(h), port);
	CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)port), 0);
	th_send_u32(&s->to_b, 5); /* now signal through the kept sockets */
	CHECK_EQ(th_recv_u32(&s->to_a), 6);
	th_evtchn_quiet(h, 100);
	/* a new, honest binding works as usual */
	th_send_u32(&s->to_b, 2);
	CHECK_EQ(th_recv_u32(&s->to_a), 3);
	CHECK_EQ(th_evtchn_wait(h), port);
	gnt_evtchn_close(h);
}

static bool is_eventfd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	return n > 0 && (link[n] = 0, !strcmp(link, "anon_inode:[eventfd]"));
}

static void keeper(void *p)
{
	struct st *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	uint32_t rport = th_recv_u32(&s->to_b);
	int port = gnt_evtchn_bind_interdomain(h, (domid_t)s->a, rport), kept[256], n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	CHECK(port > 0 && d);
	while ((e = readdir(d)) && n < 256) {
		int fd = atoi(e->d_name), type;
		socklen_t l = sizeof(type);
		if (e->d_name[0] == '.' || fd == dirfd(d))
			continue;
		if ((getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) == 0 && type == SOCK_DGRAM) ||
		    is_eventfd(fd))
			kept[n++] = dup(fd);
	}
	closedir(d);
	CHECK(n >= 2); /* at least our own port's and the peer's */
	CHECK_EQ(gnt_evtchn_unbind(h, (evtchn_port_t)port), 0);
	th_send_u32(&s->to_a, 1);
	CHECK_EQ(th_recv_u32(&s->to_b), 5);
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < n; i++)
			if (is_eventfd(kept[i]))
				(void)!write(kept[i], &(uint64_t){1}, 8);
			else
				(void)!send(kept[i], "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	th_send_u32(&s->to_a, 6);
	CHECK_EQ(th_recv_u32(&s->to_b), 2);
	port = gnt_evtchn_bind_interdomain(h, (domid_t)s->a, rport);
	CHECK(port > 0);
	CHECK_EQ(gnt_evtchn_notify(h, (evtchn_port_t)port), 0);
	th_send_u32(&s->to_a, 3);
	for (int i = 0; i < n; i++)
		close(kept[i]);
	gnt_evtchn_close(h);
}

TEST(former_peer_cannot_signal_through_kept_descriptors)
{
	struct st s;
	pid_t pa, pb;

	th_gntd_start();
	s.a = th_domain("A");
	s.b = th_domain("B");
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	pa = th_spawn(s.a, survivor, &s);
	pb = th_spawn(s.b, keeper, &s);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_gntd_stop();
}
