/* SPDX-License-Identifier: MIT */
/*
 * Debian's unmodified libxenvchan.so.4.17 on gnt's drop-ins: a server in
 * domain A, a client in domain B, data both ways through multi-page rings
 * (shared with xengntshr_share_pages, released by libxenvchan with plain
 * munmap), a peer SIGKILLed, and every symbol resolvable at load time.
 * Run with LD_LIBRARY_PATH=<build>/compat (tests/check.sh does).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../helpers.h"
#include "gnt/control.h"
#include "xv.h"

#define TOTAL (8u << 20)
#define CHUNK 5000u /* never lines up with the ring */

struct xt {
	struct th_chan to_a, to_b, to_t;
	uint32_t a, b;
	size_t ring;
	char path[96];
	struct gnt_hv_stats start; /* gntd before the domains */
};

/* A domain process talks to its domain's store socket (gnt exec does this). */
static void use_store(uint32_t dom)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/xs-d%u.sock", gnt_runtime_dir(), dom);
	setenv("XENSTORED_PATH", p, 1);
}

/* One side's life: connect, stream both ways, close when told, exit when told. */
static void side(struct xt *t, struct th_chan *mine, bool server)
{
	struct xv *v;

	use_store(server ? t->a : t->b);
	v = server ? xv_server((int)t->b, t->path, t->ring) : xv_client((int)t->a, t->path);
	CHECK(v);
	th_send_u32(&t->to_t, 1); /* connected (server: listening) */
	if (server) {
		CHECK_EQ(xv_recv(v, TOTAL, 1, CHUNK), 0);
		CHECK_EQ(xv_send(v, TOTAL, 2, CHUNK), 0);
	} else {
		CHECK_EQ(xv_send(v, TOTAL, 1, CHUNK), 0);
		CHECK_EQ(xv_recv(v, TOTAL, 2, CHUNK), 0);
	}
	th_send_u32(&t->to_t, 2);
	th_recv_u32(mine);
	xv_close(v);
	th_send_u32(&t->to_t, 3);
	th_recv_u32(mine);
}

static void server(void *arg)
{
	struct xt *t = arg;
	side(t, &t->to_a, true);
}

static void client(void *arg)
{
	struct xt *t = arg;
	side(t, &t->to_b, false);
}

static void setup(struct xt *t, size_t ring)
{
	memset(t, 0, sizeof(*t));
	th_chan_open(&t->to_a);
	th_chan_open(&t->to_b);
	th_chan_open(&t->to_t);
	th_gntd_start();
	t->start = th_stats();
	t->a = th_domain("a");
	t->b = th_domain("b");
	t->ring = ring;
	snprintf(t->path, sizeof(t->path), "/local/domain/%u/data/vchan", t->a);
}

static void teardown(struct xt *t)
{
	th_chan_close(&t->to_a);
	th_chan_close(&t->to_b);
	th_chan_close(&t->to_t);
}

static void finish(struct xt *t)
{
	th_expect_stats(&t->start, 5000);
	th_gntd_stop();
}

static int nothing_mapped(void *arg)
{
	struct gnt_hv_stats s = th_stats();
	(void)arg;
	return s.mappings == 0 && s.pins == 0 && s.exposures == 0;
}

static void stream(size_t ring)
{
	struct xt t;
	pid_t a, b;

	setup(&t, ring);
	a = th_spawn(t.a, server, &t);
	CHECK_EQ(th_recv_u32_from(&t.to_t, a), 1);
	b = th_spawn(t.b, client, &t);
	CHECK_EQ(th_recv_u32(&t.to_t), 1);
	CHECK_EQ(th_recv_u32(&t.to_t), 2);
	CHECK_EQ(th_recv_u32(&t.to_t), 2);
	/* client first, then server: both alive, nothing may stay mapped or
	 * pinned although libxenvchan munmap()s its data rings */
	th_send_u32(&t.to_b, 1);
	CHECK_EQ(th_recv_u32(&t.to_t), 3);
	th_send_u32(&t.to_a, 1);
	CHECK_EQ(th_recv_u32(&t.to_t), 3);
	if (!th_until(nothing_mapped, NULL, 5000)) {
		struct gnt_hv_stats s = th_stats();
		FAIL("left: %llu mappings, %llu pins, %llu exposures",
		     (unsigned long long)s.mappings, (unsigned long long)s.pins,
		     (unsigned long long)s.exposures);
	}
	th_send_u32(&t.to_a, 1);
	th_send_u32(&t.to_b, 1);
	CHECK_EQ(th_wait(a), 0);
	CHECK_EQ(th_wait(b), 0);
	teardown(&t);
	finish(&t);
}

TEST(xenvchan_stream_in_page_rings)
{
	stream(1024); /* orders 10 and 11: rings inside the shared page */
}

TEST(xenvchan_stream_multipage_rings)
{
	stream(256 * 1024); /* 64 data pages each way */
}

/* a survivor that waits until its peer is gone */
static void wait_gone(void *arg)
{
	struct xt *t = arg;
	bool srv = t->ring == 1;
	struct xv *v;

	use_store(srv ? t->a : t->b);
	v = srv ? xv_server((int)t->b, t->path, 4096) : xv_client((int)t->a, t->path);
	CHECK(v);
	th_send_u32(&t->to_t, 1);
	if (srv)
		xv_wait_state(v, 2); /* until the client came */
	th_send_u32(&t->to_t, 2);
	xv_wait_state(v, 1);
	CHECK_EQ(xv_is_open(v), 0);
	th_send_u32(&t->to_t, 4);
	xv_close(v);
}

static void victim(void *arg)
{
	struct xt *t = arg;
	bool srv = t->ring != 1;
	struct xv *v;

	use_store(srv ? t->a : t->b);
	v = srv ? xv_server((int)t->b, t->path, 4096) : xv_client((int)t->a, t->path);
	CHECK(v);
	th_send_u32(&t->to_t, 1);
	pause();
}

static void peer_killed(bool kill_server)
{
	struct xt t;
	pid_t s, c;

	setup(&t, kill_server ? 0 : 1); /* ring: 1 = the survivor is the server */
	s = th_spawn(t.a, kill_server ? victim : wait_gone, &t);
	CHECK_EQ(th_recv_u32_from(&t.to_t, s), 1);
	c = th_spawn(t.b, kill_server ? wait_gone : victim, &t);
	{
		/* the client's "connected" and the server's "sees its client"
		 * may come in either order */
		uint32_t x = th_recv_u32(&t.to_t), y = th_recv_u32(&t.to_t);
		CHECK((x == 1 && y == 2) || (x == 2 && y == 1)); /* the survivor sees its peer */
	}
	kill(kill_server ? s : c, SIGKILL);
	CHECK_EQ(th_wait(kill_server ? s : c), 128 + SIGKILL);
	CHECK_EQ(th_recv_u32(&t.to_t), 4); /* and sees it gone */
	CHECK_EQ(th_wait(kill_server ? c : s), 0);
	teardown(&t);
	finish(&t);
}

TEST(xenvchan_server_sees_client_killed)
{
	peer_killed(false);
}

TEST(xenvchan_client_sees_server_killed)
{
	peer_killed(true);
}

/* Every import of libxenvchan resolves now, and to our drop-ins. */
TEST(xenvchan_loads_bind_now_on_dropins)
{
	void *h = dlopen("libxenvchan.so.4.17", RTLD_NOW | RTLD_GLOBAL);
	const char *names[] = {"xengnttab_open", "xengntshr_share_pages", "xenevtchn_open"};
	Dl_info info;

	if (!h)
		FAIL("dlopen: %s", dlerror());
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		void *sym = dlsym(h, names[i]);
		CHECK(sym);
		CHECK(dladdr(sym, &info));
		if (!strstr(info.dli_fname, "/compat/"))
			FAIL("%s comes from %s, not gnt's drop-in", names[i], info.dli_fname);
	}
	dlclose(h);
}
