/* SPDX-License-Identifier: MIT */
/*
 * A domain speaking garbage to gntd.  Each test opens a connection of domain
 * H (a domain descriptor from gnt_domain_token: gntd treats it like any
 * process of H), breaks the protocol one way, and checks that gntd dropped
 * exactly that connection: H's other connection still works, two fresh
 * domains still share a page, and gntd's descriptors and connections are
 * back where they were (every descriptor it received was closed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../helpers.h"

struct hx {
	uint32_t h;
	int keep; /* H's other connection */
	struct gnt_hv_stats base;
};

#define HC(op) GNT_HC(__HYPERVISOR_grant_table_op, op)

static struct gnt_msg msg(uint32_t op, uint32_t cmd, uint32_t count, uint32_t len)
{
	struct gnt_msg m = {
	    .magic = GNT_PROTO_MAGIC, .op = op, .cmd = cmd, .count = count, .len = len};
	return m;
}

/* A well-formed INFO on fd is answered for domain dom. */
static void info_ok(int fd, uint32_t dom)
{
	struct gnt_msg m = msg(GNT_MSG_INFO, 0, 0, 0);
	struct gnt_info info;
	int tfd = -1;
	unsigned int nfds = 1;

	CHECK_EQ(th_raw_send(fd, &m, NULL, 0, NULL, 0), 0);
	CHECK_EQ(th_raw_recv(fd, &m, &info, sizeof(info), &tfd, &nfds, 5000), 1);
	CHECK_EQ(m.rc, 0);
	CHECK_EQ(m.op, GNT_MSG_INFO);
	CHECK_EQ(nfds, 1);
	CHECK_EQ(info.domid, dom);
	close(tfd);
}

static void hx_setup(struct hx *x)
{
	th_gntd_start();
	x->h = th_domain("H");
	x->keep = gnt_domain_token(x->h, NULL, NULL);
	CHECK(x->keep >= 0);
	info_ok(x->keep, x->h);
	x->base = th_stats();
}

static void hx_finish(struct hx *x)
{
	close(x->keep);
	th_gntd_stop();
}

/* A new connection of H, to abuse. */
static int hx_conn(struct hx *x)
{
	int fd = gnt_domain_token(x->h, NULL, NULL);
	CHECK(fd >= 0);
	return fd;
}

/* Sending may fail once gntd has hung up on us: that is the point. */
static void send_garbage(int fd, const struct gnt_msg *m, const void *pl, size_t len,
			 const int *fds, unsigned int nfds)
{
	int rc = th_raw_send(fd, m, pl, len, fds, nfds);
	if (rc < 0 && rc != -EPIPE && rc != -ECONNRESET)
		FAIL("send: %s", strerror(-rc));
}

/* gntd dropped fd, and nothing else. */
static void hx_dropped(struct hx *x, int fd, const char *what)
{
	if (!th_peer_closed(fd, 5000))
		FAIL("%s: gntd kept the connection", what);
	close(fd);
	info_ok(x->keep, x->h);
	CHECK_EQ(th_dominfo(x->h).state, 1);
	th_share_fresh();
	th_expect_stats(&x->base, 5000);
}

/* One whole abuse: a new connection, one message, expect the drop. */
static void abuse(struct hx *x, const char *what, struct gnt_msg m, const void *pl, size_t len,
		  const int *fds, unsigned int nfds)
{
	int fd = hx_conn(x);
	send_garbage(fd, &m, pl, len, fds, nfds);
	hx_dropped(x, fd, what);
}

TEST(bad_magic_drops_connection)
{
	struct hx x;
	struct gnt_msg m = msg(GNT_MSG_INFO, 0, 0, 0);

	hx_setup(&x);
	m.magic = 0xdeadbeef;
	abuse(&x, "bad magic", m, NULL, 0, NULL, 0);
	m.magic = GNT_PROTO_MAGIC + 1; /* another protocol version */
	abuse(&x, "version 2", m, NULL, 0, NULL, 0);
	{
		char junk[4096];
		int fd = hx_conn(&x);
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (char)(i * 7 + 3);
		send_garbage(fd, NULL, junk, sizeof(junk), NULL, 0);
		hx_dropped(&x, fd, "random bytes");
	}
	hx_finish(&x);
}

TEST(payload_over_16mib_drops_connection)
{
	struct hx x;

	hx_setup(&x);
	abuse(&x, "len 16 MiB + 1", msg(GNT_MSG_INFO, 0, 0, GNT_MSG_MAX_PAYLOAD + 1), NULL, 0, NULL,
	      0);
	abuse(&x, "len 4 GiB - 1",
	      msg(GNT_MSG_HYPERCALL, HC(GNTTABOP_map_grant_ref), 1, 0xFFFFFFFFu), NULL, 0, NULL, 0);
	hx_finish(&x);
}

TEST(truncated_message_blocks_nobody_then_hangup_drops)
{
	struct hx x;
	struct gnt_msg m = msg(GNT_MSG_HYPERCALL, HC(GNTTABOP_map_grant_ref), 1,
			       sizeof(struct gnttab_map_grant_ref));
	char op[sizeof(struct gnttab_map_grant_ref)] = {0};
	int fd;

	hx_setup(&x);
	/* half a header: gntd waits for the rest without blocking anyone */
	fd = hx_conn(&x);
	send_garbage(fd, NULL, &m, 10, NULL, 0);
	th_share_fresh();
	info_ok(x.keep, x.h);
	CHECK(!th_peer_closed(fd, 50));
	shutdown(fd, SHUT_WR);
	hx_dropped(&x, fd, "half a header, then EOF");

	/* a whole header, half the payload */
	fd = hx_conn(&x);
	send_garbage(fd, &m, op, sizeof(op) / 2, NULL, 0);
	th_share_fresh();
	CHECK(!th_peer_closed(fd, 50));
	shutdown(fd, SHUT_WR);
	hx_dropped(&x, fd, "half a payload, then EOF");
	hx_finish(&x);
}

TEST(descriptors_on_requests_other_than_attach_drop_connection)
{
	struct hx x;
	struct gnttab_query_size q = {.dom = DOMID_SELF};
	int fds[GNT_MSG_MAX_FDS];
	struct gnt_msg m;

	hx_setup(&x);
	for (int i = 0; i < GNT_MSG_MAX_FDS; i++)
		CHECK((fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
	/* announced descriptors on a hypercall, on INFO */
	m = msg(GNT_MSG_HYPERCALL, HC(GNTTABOP_query_size), 1, sizeof(q));
	m.nfds = 1;
	abuse(&x, "fd on query_size", m, &q, sizeof(q), fds, 1);
	m = msg(GNT_MSG_INFO, 0, 0, 0);
	m.nfds = 3;
	abuse(&x, "3 fds on INFO", m, NULL, 0, fds, 3);
	m.nfds = GNT_MSG_MAX_FDS;
	abuse(&x, "253 fds on INFO", m, NULL, 0, fds, GNT_MSG_MAX_FDS);
	/* more announced than sent, more than the limit */
	m = msg(GNT_MSG_ATTACH, 0, 0, 0);
	m.nfds = 2;
	abuse(&x, "ATTACH announcing 2 fds, sending none", m, NULL, 0, NULL, 0);
	m.nfds = GNT_MSG_MAX_FDS + 1;
	abuse(&x, "nfds 254", m, NULL, 0, fds, 1);
	m.nfds = 0xFFFFFFFFu;
	abuse(&x, "nfds 2^32-1", m, NULL, 0, NULL, 0);
	for (int i = 0; i < GNT_MSG_MAX_FDS; i++)
		close(fds[i]);
	hx_finish(&x);
}

TEST(unannounced_descriptors_drop_connection)
{
	struct hx x;
	int fds[4];

	hx_setup(&x);
	for (int i = 0; i < 4; i++)
		CHECK((fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
	/* descriptors riding on a request that says it carries none */
	abuse(&x, "fd on INFO with nfds 0", msg(GNT_MSG_INFO, 0, 0, 0), NULL, 0, fds, 1);
	abuse(&x, "4 fds on INFO with nfds 0", msg(GNT_MSG_INFO, 0, 0, 0), NULL, 0, fds, 4);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	hx_finish(&x);
}

TEST(attach_with_anything_but_a_stream_socket_drops_connection)
{
	struct hx x;
	struct gnt_msg m = msg(GNT_MSG_ATTACH, 0, 0, 0);
	int p[2], dg[2], sp[2], mfd, udp, nul;

	hx_setup(&x);
	CHECK(pipe2(p, O_CLOEXEC) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dg) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
	CHECK((mfd = memfd_create("not-a-socket", MFD_CLOEXEC)) >= 0);
	CHECK((nul = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0);
	udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	m.nfds = 1;
	abuse(&x, "ATTACH a pipe", m, NULL, 0, &p[1], 1);
	abuse(&x, "ATTACH a memfd", m, NULL, 0, &mfd, 1);
	abuse(&x, "ATTACH /dev/null", m, NULL, 0, &nul, 1);
	abuse(&x, "ATTACH a datagram socket", m, NULL, 0, &dg[1], 1);
	if (udp >= 0)
		abuse(&x, "ATTACH a UDP socket", m, NULL, 0, &udp, 1);
	m.nfds = 0;
	abuse(&x, "ATTACH without a descriptor", m, NULL, 0, NULL, 0);
	m.nfds = 2;
	abuse(&x, "ATTACH with two sockets", m, NULL, 0, sp, 2);
	/* the control: a stream socket joins H as a new connection */
	{
		int c = hx_conn(&x), v[2];
		CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, v) == 0);
		m.nfds = 1;
		CHECK_EQ(th_raw_send(c, &m, NULL, 0, &v[1], 1), 0);
		close(v[1]);
		info_ok(v[0], x.h);
		close(v[0]);
		close(c);
		th_expect_stats(&x.base, 5000);
	}
	close(p[0]);
	close(p[1]);
	close(dg[0]);
	close(dg[1]);
	close(sp[0]);
	close(sp[1]);
	close(mfd);
	close(nul);
	if (udp >= 0)
		close(udp);
	hx_finish(&x);
}

TEST(map_request_whose_length_does_not_match_count_drops)
{
	struct hx x;
	static struct gnttab_map_grant_ref ops[4];
	struct gnttab_copy cp[2];

	hx_setup(&x);
	memset(cp, 0, sizeof(cp));
	abuse(&x, "map count 2, one op",
	      msg(GNT_MSG_HYPERCALL, HC(GNTTABOP_map_grant_ref), 2, sizeof(ops[0])), ops,
	      sizeof(ops[0]), NULL, 0);
	abuse(&x, "map count 1, 33 bytes",
	      msg(GNT_MSG_HYPERCALL, HC(GNTTABOP_map_grant_ref), 1, sizeof(ops[0]) + 1), ops,
	      sizeof(ops[0]) + 1, NULL, 0);
	abuse(&x, "map count 4, 31 bytes",
	      msg(GNT_MSG_HYPERCALL, HC(GNTTABOP_map_grant_ref), 4, sizeof(ops[0]) - 1), ops,
	      sizeof(ops[0]) - 1, NULL, 0);
	abuse(&x, "unmap count 1, map-sized op",
	      msg(GNT_MSG_HYPERCALL, HC(GNTTABOP_unmap_grant_ref), 1, sizeof(ops[0])), ops,
	      sizeof(ops[0]), NULL, 0);
	abuse(&x, "copy count 2, one op",
	      msg(GNT_MSG_HYPERCALL, HC(GNTTABOP_copy), 2, sizeof(cp[0])), cp, sizeof(cp[0]), NULL,
	      0);
	abuse(&x, "setup_table, no payload", msg(GNT_MSG_HYPERCALL, HC(GNTTABOP_setup_table), 1, 0),
	      NULL, 0, NULL, 0);
	abuse(&x, "query_size, short", msg(GNT_MSG_HYPERCALL, HC(GNTTABOP_query_size), 1, 4), ops,
	      4, NULL, 0);
	{
		struct xen_memory_reservation r = {.nr_extents = 1u << 21, .domid = DOMID_SELF};
		abuse(&x, "decrease 2^21 extents, none sent",
		      msg(GNT_MSG_HYPERCALL,
			  GNT_HC(__HYPERVISOR_memory_op, XENMEM_decrease_reservation), 1,
			  sizeof(r)),
		      &r, sizeof(r), NULL, 0);
		r.nr_extents = 2;
		abuse(&x, "decrease 2 extents, 1 sent",
		      msg(GNT_MSG_HYPERCALL,
			  GNT_HC(__HYPERVISOR_memory_op, XENMEM_decrease_reservation), 1,
			  sizeof(r) + 8),
		      ops, sizeof(r) + 8, NULL, 0);
		abuse(&x, "populate, short",
		      msg(GNT_MSG_HYPERCALL,
			  GNT_HC(__HYPERVISOR_memory_op, XENMEM_populate_physmap), 1, 8),
		      &r, 8, NULL, 0);
	}
	hx_finish(&x);
}

TEST(map_request_with_count_zero_drops)
{
	struct hx x;

	hx_setup(&x);
	abuse(&x, "map count 0", msg(GNT_MSG_HYPERCALL, HC(GNTTABOP_map_grant_ref), 0, 0), NULL, 0,
	      NULL, 0);
	abuse(&x, "unmap count 0", msg(GNT_MSG_HYPERCALL, HC(GNTTABOP_unmap_grant_ref), 0, 0), NULL,
	      0, NULL, 0);
	abuse(&x, "copy count 0", msg(GNT_MSG_HYPERCALL, HC(GNTTABOP_copy), 0, 0), NULL, 0, NULL,
	      0);
	hx_finish(&x);
}

TEST(map_request_with_huge_count_drops)
{
	struct hx x;
	size_t n = GNT_MAP_BATCH_MAX + 1;
	struct gnttab_map_grant_ref *ops = calloc(n, sizeof(*ops));

	CHECK(ops);
	hx_setup(&x);
	/* consistent length, one op over the batch limit */
	abuse(&x, "map count 65537",
	      msg(GNT_MSG_HYPERCALL, HC(GNTTABOP_map_grant_ref), (uint32_t)n,
		  (uint32_t)(n * sizeof(*ops))),
	      ops, n * sizeof(*ops), NULL, 0);
	abuse(&x, "unmap count 65537+",
	      msg(GNT_MSG_HYPERCALL, HC(GNTTABOP_unmap_grant_ref), (uint32_t)n,
		  (uint32_t)(n * sizeof(struct gnttab_unmap_grant_ref))),
	      ops, n * sizeof(struct gnttab_unmap_grant_ref), NULL, 0);
	/* counts whose byte size wraps 32 bits */
	abuse(&x, "map count 2^27", msg(GNT_MSG_HYPERCALL, HC(GNTTABOP_map_grant_ref), 1u << 27, 0),
	      NULL, 0, NULL, 0);
	abuse(&x, "map count 2^32-1",
	      msg(GNT_MSG_HYPERCALL, HC(GNTTABOP_map_grant_ref), 0xFFFFFFFFu, sizeof(*ops)), ops,
	      sizeof(*ops), NULL, 0);
	free(ops);
	hx_finish(&x);
}

TEST(unknown_op_drops_connection)
{
	struct hx x;
	static const uint32_t ops[] = {0, GNT_MSG_SETTLE + 1, 31, GNT_MSG_DOM_LOOKUP + 1, 0xFFFFFFFFu};

	hx_setup(&x);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		abuse(&x, "unknown op", msg(ops[i], 0, 0, 0), NULL, 0, NULL, 0);
	hx_finish(&x);
}

/* Requests that fit the protocol but ask for the wrong thing get an error
 * reply; the connection stays. */
TEST(well_framed_bad_requests_get_errors_not_drops)
{
	struct hx x;
	struct gnt_msg m, r;
	struct gnt_dom_create dc = {.name = "evil"};
	char buf[64];
	int fd;

	hx_setup(&x);
	fd = hx_conn(&x);
	m = msg(GNT_MSG_HYPERCALL, GNT_HC(99, 0), 0, 0);
	CHECK_EQ(th_raw_send(fd, &m, NULL, 0, NULL, 0), 0);
	CHECK_EQ(th_raw_recv(fd, &r, buf, sizeof(buf), NULL, NULL, 5000), 1);
	CHECK_EQ(r.rc, -ENOSYS);
	m = msg(GNT_MSG_HYPERCALL, HC(77), 1, 8);
	CHECK_EQ(th_raw_send(fd, &m, buf, 8, NULL, 0), 0);
	CHECK_EQ(th_raw_recv(fd, &r, buf, sizeof(buf), NULL, NULL, 5000), 1);
	CHECK_EQ(r.rc, -ENOSYS);
	for (uint32_t op = GNT_MSG_DOM_CREATE; op <= GNT_MSG_DOM_LOOKUP; op++) {
		m = msg(op, 0, op == GNT_MSG_DOM_TOKEN ? x.h : 0,
			op == GNT_MSG_DOM_CREATE ? sizeof(dc) : 0);
		CHECK_EQ(th_raw_send(fd, &m, &dc, m.len, NULL, 0), 0);
		CHECK_EQ(th_raw_recv(fd, &r, buf, sizeof(buf), NULL, NULL, 5000), 1);
		CHECK_EQ(r.op, op);
		CHECK_EQ(r.rc, -EPERM);
		CHECK_EQ(r.nfds, 0);
	}
	info_ok(fd, x.h);
	CHECK_EQ(th_stats().domains, x.base.domains);
	close(fd);
	th_expect_stats(&x.base, 5000);
	hx_finish(&x);
}

/* A client that sends and never reads: gntd stops working for it (never for
 * others) and drops it once its backlog passes the message limit. */
TEST(client_that_never_reads_is_bounded)
{
	struct hx x;
	size_t n = (GNT_MSG_MAX_PAYLOAD + (1u << 20)) / sizeof(struct gnt_msg);
	struct gnt_msg *flood = malloc(n * sizeof(*flood));
	int fd;

	CHECK(flood);
	for (size_t i = 0; i < n; i++)
		flood[i] = msg(GNT_MSG_INFO, 0, 0, 0); /* each reply carries a descriptor */
	hx_setup(&x);
	/* a backlog under the limit: gntd holds it and serves others */
	fd = hx_conn(&x);
	CHECK_EQ(th_raw_send(fd, NULL, flood, 20000 * sizeof(*flood), NULL, 0), 0);
	th_share_fresh();
	info_ok(x.keep, x.h);
	close(fd);
	th_expect_stats(&x.base, 5000);
	/* over the limit: dropped */
	fd = hx_conn(&x);
	send_garbage(fd, NULL, flood, n * sizeof(*flood), NULL, 0);
	hx_dropped(&x, fd, "17 MiB of unread requests");
	free(flood);
	hx_finish(&x);
}
