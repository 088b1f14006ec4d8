/* SPDX-License-Identifier: MIT */
/*
 * A hostile vchan peer (security-anchors 1g): it writes absurd indexes,
 * orders and live/notify bytes into the shared page.  The honest side must
 * give a clean error (-1, is_open() == 0) or carry on with its private
 * geometry, and never touch memory outside its rings (the ASan build runs
 * this too).  Server in domain A, client in domain B; the hostile side is
 * hand-made from grants, event channels and the store.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"

struct hv_iface { /* libxenvchan's shared page header */
	uint32_t lcons, lprod, rcons, rprod;
	uint16_t left_order, right_order;
	uint8_t cli_live, srv_live, cli_notify, srv_notify;
	uint32_t grants[];
};

enum hmode { H_PROD_AHEAD, H_PROD_BACK, H_PROD_HUGE, H_OWN_CONS, H_ORDERS_LATER };

struct hs {
	struct th_chan to_a, to_b, to_t;
	uint32_t a, b;
	enum hmode mode;
	char path[96];
};

static uint32_t read_u32_key(gnt_xs *xs, const char *dir, const char *key)
{
	char p[160], *v;
	uint32_t n;

	snprintf(p, sizeof(p), "%s/%s", dir, key);
	v = gnt_xs_read(xs, 0, p, NULL);
	if (!v)
		FAIL("read %s: %s", p, strerror(errno));
	n = (uint32_t)strtoul(v, NULL, 10);
	free(v);
	return n;
}

/* ---- a hostile client against a real server ---------------------------- */

static void real_server(void *p)
{
	struct hs *s = p;
	struct gnt_vchan *v = gnt_vchan_server_init((domid_t)s->b, s->path, 1024, 2048);
	char buf[4096];

	CHECK(v);
	gnt_vchan_set_blocking(v, 1);
	th_send_u32(&s->to_b, 1);
	CHECK_EQ(th_recv_u32(&s->to_a), 2); /* the client did its worst */
	switch (s->mode) {
	case H_PROD_AHEAD:
	case H_PROD_BACK:
	case H_PROD_HUGE:
		CHECK_EQ(gnt_vchan_data_ready(v), 0);
		CHECK_EQ(gnt_vchan_read(v, buf, sizeof(buf)), -1);
		CHECK_EQ(errno, EPROTO);
		CHECK_EQ(gnt_vchan_recv(v, buf, 10), -1);
		CHECK_EQ(gnt_vchan_is_open(v), 0);
		CHECK_EQ(gnt_vchan_write(v, "x", 1), -1); /* broken for good */
		break;
	case H_OWN_CONS:
		/* it overwrote the cons of the ring we read: we never reload ours */
		CHECK_EQ(gnt_vchan_data_ready(v), 5);
		CHECK_EQ(gnt_vchan_read(v, buf, sizeof(buf)), 5);
		CHECK(!memcmp(buf, "hello", 5));
		/* and the cons of the ring we write: out of range is an error
		 * as soon as we load it (a writer loads it only when the space
		 * it saw last runs short; buffer_space always does) */
		CHECK_EQ(gnt_vchan_buffer_space(v), 0);
		CHECK_EQ(gnt_vchan_is_open(v), 0);
		CHECK_EQ(gnt_vchan_write(v, buf, 100), -1);
		CHECK_EQ(errno, EPROTO);
		break;
	case H_ORDERS_LATER:
		/* orders 20 and 65535 now: we still use 1024 / 2048 */
		CHECK_EQ(gnt_vchan_buffer_space(v), 2048);
		CHECK_EQ(gnt_vchan_data_ready(v), 1000);
		CHECK_EQ(gnt_vchan_read(v, buf, sizeof(buf)), 1000);
		for (int i = 0; i < 1000; i++)
			CHECK_EQ((uint8_t)buf[i], (uint8_t)i);
		gnt_vchan_set_blocking(v, 0);
		memset(buf, 0x5a, sizeof(buf));
		CHECK_EQ(gnt_vchan_write(v, buf, sizeof(buf)), 2048);
		CHECK_EQ(gnt_vchan_write(v, buf, sizeof(buf)), 0);
		CHECK_EQ(gnt_vchan_send(v, buf, 2049), -1);
		CHECK_EQ(errno, EINVAL);
		CHECK_EQ(gnt_vchan_is_open(v), 1);
		break;
	}
	th_send_u32(&s->to_b, 3);
	CHECK_EQ(th_recv_u32(&s->to_a), 4);
	gnt_vchan_close(v);
}

static void hostile_client(void *p)
{
	struct hs *s = p;
	gnt_xs *xs;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	struct gnttab_map_grant_ref op;
	struct gnttab_unmap_grant_ref un;
	volatile struct hv_iface *r;
	uint32_t ref, port;
	int lport;

	CHECK(h);
	CHECK_EQ(th_recv_u32(&s->to_b), 1);
	xs = gnt_xs_open();
	CHECK(xs);
	ref = read_u32_key(xs, s->path, "ring-ref");
	port = read_u32_key(xs, s->path, "event-channel");
	gnt_xs_close(xs);
	lport = gnt_evtchn_bind_interdomain(h, (domid_t)s->a, port);
	CHECK(lport > 0);
	r = gnt_alloc_ballooned_pages(1);
	CHECK(r);
	gnt_set_map_op(&op, (void *)r, GNTMAP_host_map, ref, (domid_t)s->a);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	CHECK_EQ(op.status, GNTST_okay);
	CHECK_EQ(r->left_order, 10);
	CHECK_EQ(r->right_order, 11);
	r->cli_live = 1;
	r->srv_notify = 0xff;
	switch (s->mode) {
	case H_PROD_AHEAD:
		r->lprod = r->lcons + 1024 + 1;
		break;
	case H_PROD_BACK:
		r->lprod = r->lcons - 1;
		break;
	case H_PROD_HUGE:
		r->lprod = 0x80000000u;
		break;
	case H_OWN_CONS:
		memcpy((char *)r + 1024, "hello", 5);
		r->lprod = 5;
		r->lcons = 0x7fffffffu; /* the server's own index of the left ring */
		r->rcons = 0x80001234u;
		break;
	case H_ORDERS_LATER:
		for (int i = 0; i < 1000; i++)
			((volatile uint8_t *)r)[1024 + i] = (uint8_t)i;
		r->lprod = 1000;
		r->left_order = 20;
		r->right_order = 65535;
		break;
	}
	gnt_evtchn_notify(h, (evtchn_port_t)lport);
	th_send_u32(&s->to_a, 2);
	CHECK_EQ(th_recv_u32(&s->to_b), 3);
	gnt_set_unmap_op(&un, (void *)r, GNTMAP_host_map, op.handle);
	CHECK_EQ(gnt_unmap_refs(&un, 1), 0);
	gnt_free_ballooned_pages((void *)r, 1);
	gnt_evtchn_close(h);
	th_send_u32(&s->to_a, 4);
}

static void run_hostile_client(enum hmode mode)
{
	struct hs s = {.mode = mode};
	struct gnt_hv_stats s0;
	pid_t pa, pb;

	th_gntd_start();
	s0 = th_stats();
	s.a = th_domain("A");
	s.b = th_domain("B");
	snprintf(s.path, sizeof(s.path), "/local/domain/%u/data/vchan/h", s.a);
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	th_chan_open(&s.to_t);
	pa = th_spawn(s.a, real_server, &s);
	pb = th_spawn(s.b, hostile_client, &s);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_expect_stats(&s0, 5000);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_chan_close(&s.to_t);
	th_gntd_stop();
}

TEST(vchan_hostile_client_prod_ahead_by_size_plus_1)
{
	run_hostile_client(H_PROD_AHEAD);
}

TEST(vchan_hostile_client_prod_behind_cons)
{
	run_hostile_client(H_PROD_BACK);
}

TEST(vchan_hostile_client_prod_2_31)
{
	run_hostile_client(H_PROD_HUGE);
}

TEST(vchan_hostile_client_overwrites_servers_indexes)
{
	run_hostile_client(H_OWN_CONS);
}

TEST(vchan_hostile_client_changes_orders_after_connect)
{
	run_hostile_client(H_ORDERS_LATER);
}

/* ---- a hostile server against a real client ------------------------------ */

static const uint16_t bad_orders[][2] = {
	{9, 11}, {10, 21}, {65535, 12}, {10, 10}, {11, 11}, {10, 20}, {0, 0},
};
#define NBAD (sizeof(bad_orders) / sizeof(bad_orders[0]))

static void hostile_server(void *p)
{
	struct hs *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	struct hv_iface *r = gnt_alloc_page();
	char key[160], val[16], self[16], peer[16];
	const char *perms[2] = {self, peer};
	gnt_xs *xs = gnt_xs_open();
	int ref, port;

	CHECK(h && r && xs);
	port = gnt_evtchn_bind_unbound_port(h, (domid_t)s->b);
	CHECK(port > 0);
	ref = gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(r), 0);
	CHECK(ref > 0);
	snprintf(self, sizeof(self), "n%u", s->a);
	snprintf(peer, sizeof(peer), "r%u", s->b);
	snprintf(key, sizeof(key), "%s/ring-ref", s->path);
	snprintf(val, sizeof(val), "%d", ref);
	CHECK_EQ(gnt_xs_write(xs, 0, key, val, (unsigned int)strlen(val)), 0);
	CHECK_EQ(gnt_xs_set_perms(xs, 0, key, perms, 2), 0);
	snprintf(key, sizeof(key), "%s/event-channel", s->path);
	snprintf(val, sizeof(val), "%d", port);
	CHECK_EQ(gnt_xs_write(xs, 0, key, val, (unsigned int)strlen(val)), 0);
	CHECK_EQ(gnt_xs_set_perms(xs, 0, key, perms, 2), 0);
	r->srv_live = 1;
	r->cli_live = 2;
	for (unsigned int i = 0; i < NBAD; i++) {
		r->left_order = bad_orders[i][0];
		r->right_order = bad_orders[i][1];
		memset(r->grants, 0xee, 2048); /* refs of nothing */
		th_send_u32(&s->to_b, i);
		CHECK_EQ(th_recv_u32(&s->to_a), i);
	}
	/* good orders, then the producer index jumps */
	r->left_order = 10;
	r->right_order = 11;
	th_send_u32(&s->to_b, 100);
	CHECK_EQ(th_recv_u32(&s->to_a), 100); /* connected */
	r->rprod = r->rcons + 2049;
	th_send_u32(&s->to_b, 101);
	CHECK_EQ(th_recv_u32(&s->to_a), 101);
	gnt_xs_close(xs);
	CHECK_EQ(gnt_try_end_foreign_access((grant_ref_t)ref), 1); /* it unmapped */
	gnt_free_page(r);
	gnt_evtchn_close(h);
}

static void real_client(void *p)
{
	struct hs *s = p;
	struct gnt_vchan *v;
	char buf[64];

	for (unsigned int i = 0; i < NBAD; i++) {
		CHECK_EQ(th_recv_u32(&s->to_b), i);
		v = gnt_vchan_client_init((domid_t)s->a, s->path);
		if (v)
			FAIL("orders %u/%u accepted", bad_orders[i][0], bad_orders[i][1]);
		CHECK_EQ(errno, EPROTO);
		th_send_u32(&s->to_a, i);
	}
	CHECK_EQ(th_recv_u32(&s->to_b), 100);
	v = gnt_vchan_client_init((domid_t)s->a, s->path);
	CHECK(v);
	CHECK_EQ(gnt_vchan_is_open(v), 1);
	th_send_u32(&s->to_a, 100);
	CHECK_EQ(th_recv_u32(&s->to_b), 101);
	gnt_vchan_set_blocking(v, 1);
	CHECK_EQ(gnt_vchan_read(v, buf, sizeof(buf)), -1);
	CHECK_EQ(errno, EPROTO);
	CHECK_EQ(gnt_vchan_is_open(v), 0);
	CHECK_EQ(gnt_vchan_data_ready(v), 0);
	gnt_vchan_close(v);
	th_send_u32(&s->to_a, 101);
}

TEST(vchan_hostile_server_bad_orders_and_indexes)
{
	struct hs s = {0};
	struct gnt_hv_stats s0;
	pid_t pa, pb;

	th_gntd_start();
	s0 = th_stats();
	s.a = th_domain("A");
	s.b = th_domain("B");
	snprintf(s.path, sizeof(s.path), "/local/domain/%u/data/vchan/h", s.a);
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	th_chan_open(&s.to_t);
	pa = th_spawn(s.a, hostile_server, &s);
	pb = th_spawn(s.b, real_client, &s);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_expect_stats(&s0, 5000);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_chan_close(&s.to_t);
	th_gntd_stop();
}
