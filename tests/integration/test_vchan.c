/* SPDX-License-Identifier: MIT */
/*
 * vchan (gnt/vchan.h): a server in domain A, a client in domain B.  Streams
 * of 1 GiB each way (stream mode, 1 MiB rings: the figure) and of
 * 64 MiB for every other shape, verified byte for byte against a pattern, in stream (read/write) and packet (send/recv)
 * mode, for in-page rings and 1 MiB rings; a peer SIGKILLed mid-stream;
 * close by either side.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../helpers.h"

#define TOTAL (64u << 20)
#define PERIOD 65521u /* prime: chunks never line up with the ring */

enum closer { C_SERVER, C_CLIENT };

struct vt {
	struct th_chan to_a, to_b, to_t;
	uint32_t a, b;
	size_t rmin, wmin; /* server's read_min / write_min */
	uint32_t total;
	bool packet;
	enum closer closer;
	int kill_who; /* 0 none, 'a' or 'b': that side is killed mid-stream */
	char path[96];
};

static uint8_t *pattern(void)
{
	uint8_t *p = malloc(2 * PERIOD);
	uint32_t x = 12345;

	CHECK(p);
	for (uint32_t i = 0; i < PERIOD; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = p[i + PERIOD] = (uint8_t)(x >> 16);
	}
	return p;
}

static uint32_t next_len(uint32_t *seed, uint32_t max)
{
	*seed = *seed * 1664525u + 1013904223u;
	return 1 + (*seed >> 8) % max;
}

static void stream_out(struct gnt_vchan *v, const uint8_t *pat, uint32_t total, bool packet,
		       uint32_t maxlen, uint32_t seed)
{
	uint32_t pos = 0;

	while (pos < total) {
		uint32_t n = next_len(&seed, maxlen);
		int r;

		if (n > total - pos)
			n = total - pos;
		if (packet)
			r = gnt_vchan_send(v, pat + pos % PERIOD, n);
		else
			r = gnt_vchan_write(v, pat + pos % PERIOD, n);
		if (r != (int)n)
			FAIL("write at %u: %d (%s)", pos, r, strerror(errno));
		pos += n;
	}
}

static void stream_in(struct gnt_vchan *v, const uint8_t *pat, uint32_t total, bool packet,
		      uint32_t maxlen, uint32_t seed)
{
	uint8_t *buf = malloc(maxlen);
	uint32_t pos = 0;

	CHECK(buf);
	while (pos < total) {
		uint32_t n = next_len(&seed, maxlen);
		int r;

		if (n > total - pos)
			n = total - pos;
		if (packet)
			r = gnt_vchan_recv(v, buf, n);
		else
			r = gnt_vchan_read(v, buf, n);
		if (r <= 0 || (packet && r != (int)n))
			FAIL("read at %u: %d (%s)", pos, r, strerror(errno));
		if (memcmp(buf, pat + pos % PERIOD, (size_t)r))
			FAIL("data differs in [%u, %u)", pos, pos + (uint32_t)r);
		pos += (uint32_t)r;
	}
	free(buf);
}

static uint32_t maxlen(const struct vt *s, size_t ring)
{
	if (!s->packet)
		return PERIOD; /* larger than any ring but 1 MiB: partial writes */
	return ring < PERIOD ? (uint32_t)ring : PERIOD;
}

/* The peer is gone: no data, -1/EPIPE on both read and write, is_open 0. */
static void expect_closed(struct gnt_vchan *v)
{
	char c;

	CHECK_EQ(gnt_vchan_read(v, &c, 1), -1);
	CHECK_EQ(errno, EPIPE);
	CHECK_EQ(gnt_vchan_is_open(v), 0);
	CHECK_EQ(gnt_vchan_write(v, "x", 1), -1);
	CHECK_EQ(errno, EPIPE);
	CHECK_EQ(gnt_vchan_send(v, "x", 1), -1);
	CHECK_EQ(errno, EPIPE);
}

static void server(void *p)
{
	struct vt *s = p;
	uint8_t *pat = pattern();
	struct gnt_vchan *v = gnt_vchan_server_init((domid_t)s->b, s->path, s->rmin, s->wmin);

	if (!v)
		FAIL("server_init: %s", strerror(errno));
	CHECK_EQ(gnt_vchan_is_open(v), 2);
	CHECK_EQ(gnt_vchan_get_blocking(v), 0);
	CHECK_EQ(gnt_vchan_data_ready(v), 0);
	gnt_vchan_set_blocking(v, 1);
	th_send_u32(&s->to_b, 1); /* published */
	if (s->kill_who) {
		/* a: stream until killed; b: stream until the client dies */
		uint32_t pos = 0;
		int r;

		th_send_u32(&s->to_t, 1);
		do {
			r = gnt_vchan_write(v, pat + pos % PERIOD, 4096);
			pos += 4096;
		} while (r == 4096);
		CHECK_EQ(r, -1);
		CHECK_EQ(errno, EPIPE);
		CHECK_EQ(gnt_vchan_is_open(v), 0);
		th_send_u32(&s->to_t, 2);
		gnt_vchan_close(v);
		free(pat);
		return;
	}
	stream_out(v, pat, s->total, s->packet, maxlen(s, s->wmin), 1);
	stream_in(v, pat, s->total, s->packet, maxlen(s, s->rmin), 2);
	if (s->closer == C_SERVER) {
		CHECK_EQ(gnt_vchan_is_open(v), 1); /* the client waits for our close */
		gnt_vchan_close(v);
	} else {
		expect_closed(v); /* the client closed after writing */
		gnt_vchan_close(v);
	}
	free(pat);
}

static void client(void *p)
{
	struct vt *s = p;
	uint8_t *pat = pattern();
	struct gnt_vchan *v;
	char key[128];
	gnt_xs *xs;

	CHECK_EQ(th_recv_u32(&s->to_b), 1);
	/* the keys: readable by us, not writable */
	xs = gnt_xs_open();
	CHECK(xs);
	snprintf(key, sizeof(key), "%s/ring-ref", s->path);
	{
		char *val = gnt_xs_read(xs, 0, key, NULL);
		if (!val)
			FAIL("read %s: %s", key, strerror(errno));
		free(val);
	}
	CHECK_EQ(gnt_xs_write(xs, 0, key, "7", 1), -EACCES);
	gnt_xs_close(xs);
	v = gnt_vchan_client_init((domid_t)s->a, s->path);
	if (!v)
		FAIL("client_init: %s", strerror(errno));
	CHECK_EQ(gnt_vchan_is_open(v), 1);
	gnt_vchan_set_blocking(v, 1);
	if (s->kill_who) {
		uint8_t buf[4096];
		uint32_t got = 0;
		int r;

		th_send_u32(&s->to_t, 1);
		do {
			r = gnt_vchan_read(v, buf, sizeof(buf));
			if (r > 0)
				got += (uint32_t)r;
			if (got >= (4u << 20) && got - (uint32_t)r < (4u << 20))
				th_send_u32(&s->to_t, 3); /* well under way */
		} while (r > 0);
		CHECK_EQ(r, -1);
		CHECK_EQ(errno, EPIPE);
		CHECK_EQ(gnt_vchan_is_open(v), 0);
		th_send_u32(&s->to_t, 2);
		gnt_vchan_close(v);
		free(pat);
		return;
	}
	stream_in(v, pat, s->total, s->packet, maxlen(s, s->wmin), 1);
	stream_out(v, pat, s->total, s->packet, maxlen(s, s->rmin), 2);
	if (s->closer == C_SERVER) {
		expect_closed(v);
		gnt_vchan_close(v);
	} else {
		gnt_vchan_close(v); /* the server may still be reading */
	}
	free(pat);
}

static void teardown(struct vt *s, const struct gnt_hv_stats *s0)
{
	th_expect_stats(s0, 5000);
	th_chan_close(&s->to_a);
	th_chan_close(&s->to_b);
	th_chan_close(&s->to_t);
	th_gntd_stop();
}

static void run(size_t rmin, size_t wmin, uint32_t total, bool packet, enum closer closer)
{
	struct vt s = {.rmin = rmin, .wmin = wmin, .total = total, .packet = packet,
		       .closer = closer};
	struct gnt_hv_stats s0;
	pid_t pa, pb;

	th_gntd_start();
	s0 = th_stats();
	s.a = th_domain("A");
	s.b = th_domain("B");
	snprintf(s.path, sizeof(s.path), "/local/domain/%u/data/vchan/test", s.a);
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	th_chan_open(&s.to_t);
	pa = th_spawn(s.a, server, &s);
	pb = th_spawn(s.b, client, &s);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	teardown(&s, &s0);
}

TEST_TIMEOUT(vchan_stream_inpage_1k_2k, 180)
{
	run(1024, 2048, TOTAL, false, C_SERVER);
}

TEST_TIMEOUT(vchan_packet_inpage_2k_1k, 180)
{
	run(2048, 1024, TOTAL, true, C_CLIENT);
}

TEST_TIMEOUT(vchan_stream_1GiB_1m, 300)
{
	/* the figure: 1 GiB each way, checked, in stream mode */
	run(1u << 20, 1u << 20, 1u << 30, false, C_CLIENT);
}

TEST_TIMEOUT(vchan_stream_1m, 180)
{
	run(1u << 20, 1u << 20, TOTAL, false, C_CLIENT);
}

TEST_TIMEOUT(vchan_packet_1m, 180)
{
	run(1u << 20, 1u << 20, TOTAL, true, C_SERVER);
}

TEST_TIMEOUT(vchan_mixed_inpage_and_pages, 120)
{
	run(2048, 64u << 10, 8u << 20, false, C_SERVER); /* orders 11 and 16 */
}

static void run_kill(int who)
{
	struct vt s = {.rmin = 1u << 20, .wmin = 1u << 20, .kill_who = who};
	struct gnt_hv_stats s0;
	struct timespec t0, t1;
	pid_t pa, pb, victim, survivor;
	long ms;

	th_gntd_start();
	s0 = th_stats();
	s.a = th_domain("A");
	s.b = th_domain("B");
	snprintf(s.path, sizeof(s.path), "/local/domain/%u/data/vchan/test", s.a);
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	th_chan_open(&s.to_t);
	pa = th_spawn(s.a, server, &s);
	pb = th_spawn(s.b, client, &s);
	CHECK_EQ(th_recv_u32(&s.to_t), 1);
	CHECK_EQ(th_recv_u32(&s.to_t), 1);
	CHECK_EQ(th_recv_u32_from(&s.to_t, pb), 3); /* 4 MiB through */
	victim = who == 'a' ? pa : pb;
	survivor = who == 'a' ? pb : pa;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(kill(victim, SIGKILL), 0);
	CHECK_EQ(th_recv_u32_from(&s.to_t, survivor), 2);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	if (ms > 1000)
		FAIL("the survivor took %ld ms to see the peer gone", ms);
	CHECK_EQ(th_wait(victim), 128 + SIGKILL);
	CHECK_EQ(th_wait(survivor), 0);
	teardown(&s, &s0);
}

TEST(vchan_server_killed_mid_stream)
{
	run_kill('a');
}

TEST(vchan_client_killed_mid_stream)
{
	run_kill('b');
}
