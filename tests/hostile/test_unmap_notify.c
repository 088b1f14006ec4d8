/* SPDX-License-Identifier: MIT */
/* Unmap notifies used against the rules: a port closed before the notify
 * fires, a malformed request, more notifies than a process may set. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "../helpers.h"

#define OFF 77u
#define BOTH (GNT_UNMAP_NOTIFY_CLEAR_BYTE | GNT_UNMAP_NOTIFY_SEND_EVENT)

struct hn {
	struct th_chan to_a, to_b;
	uint32_t a, b;
};


static void cp_granter(void *p)
{
	struct hn *s = p;
	gnt_evtchn_handle *h = gnt_evtchn_open();
	volatile unsigned char *page = gnt_alloc_page();
	int ref, port;

	CHECK(h);
	CHECK(page);
	memset((void *)page, 0xff, GNT_PAGE_SIZE);
	ref = gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn((void *)page), 0);
	port = gnt_evtchn_bind_unbound_port(h, (domid_t)s->b);
	CHECK(ref >= 8 && port > 0);
	th_send_u32(&s->to_b, (uint32_t)ref);
	th_send_u32(&s->to_b, (uint32_t)port);
	CHECK_EQ(th_recv_u32(&s->to_a), 1); /* B closed its port */
	CHECK_EQ(th_evtchn_wait(h), port);	    /* the binding ended */
	CHECK_EQ(gnt_evtchn_unmask(h, (evtchn_port_t)port), 0);
	th_evtchn_quiet(h, 200);
	th_send_u32(&s->to_b, 2);
	CHECK_EQ(th_recv_u32(&s->to_a), 3); /* B unmapped */
	for (int i = 0; i < 500 && page[OFF]; i++)
		usleep(10000);
	CHECK_EQ(page[OFF], 0); /* the byte is still cleared ... */
	th_evtchn_quiet(h, 200);		/* ... but the closed port sends nothing */
	CHECK_EQ(gnt_try_end_foreign_access((grant_ref_t)ref), 1);
	th_send_u32(&s->to_b, 4);
	gnt_evtchn_close(h);
}

static void cp_mapper(void *p)
{
	struct hn *s = p;
	uint32_t ref = th_recv_u32(&s->to_b), aport = th_recv_u32(&s->to_b);
	gnt_evtchn_handle *h = gnt_evtchn_open();
	struct gnttab_map_grant_ref op;
	struct gnttab_unmap_grant_ref un;
	void *va = gnt_alloc_ballooned_pages(1);
	int lport;

	CHECK(h);
	CHECK(va);
	lport = gnt_evtchn_bind_interdomain(h, (domid_t)s->a, aport);
	CHECK(lport > 0);
	gnt_set_map_op(&op, va, GNTMAP_host_map, ref, (domid_t)s->a);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	CHECK_EQ(op.status, GNTST_okay);
	CHECK_EQ(gnt_map_set_unmap_notify(op.handle, OFF, BOTH, (evtchn_port_t)lport), 0);
	CHECK_EQ(gnt_evtchn_unbind(h, (evtchn_port_t)lport), 0);
	th_send_u32(&s->to_a, 1);
	CHECK_EQ(th_recv_u32(&s->to_b), 2);
	gnt_set_unmap_op(&un, va, GNTMAP_host_map, op.handle);
	CHECK_EQ(gnt_unmap_refs(&un, 1), 0);
	CHECK_EQ(un.status, GNTST_okay);
	th_send_u32(&s->to_a, 3);
	CHECK_EQ(th_recv_u32(&s->to_b), 4);
	gnt_evtchn_close(h);
}

TEST(unmap_notify_on_a_closed_port_sends_nothing)
{
	struct hn s;
	struct gnt_hv_stats s0;
	pid_t pa, pb;

	th_gntd_start();
	s0 = th_stats();
	s.a = th_domain("A");
	s.b = th_domain("B");
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	pa = th_spawn(s.a, cp_granter, &s);
	pb = th_spawn(s.b, cp_mapper, &s);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_expect_stats(&s0, 5000);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_gntd_stop();
}

/* A request of the wrong size is a protocol error: the connection goes. */
static void malformed(void *p)
{
	int fd = th_raw_attach();
	struct gnt_msg m = {.magic = GNT_PROTO_MAGIC, .op = GNT_MSG_UNMAP_NOTIFY, .len = 3};
	(void)p;

	CHECK_EQ(th_raw_send(fd, &m, "abc", 3, NULL, 0), 0);
	CHECK_EQ(th_peer_closed(fd, 5000), 1);
	close(fd);
}

/* At most GNT_UNMAP_NOTIFY_MAX per process; then -ENOSPC.  Replacing one
 * still works; the process's death fires them all without harm. */
static void flood(void *p)
{
	unsigned char *page = gnt_alloc_page();
	uint32_t b = *(uint32_t *)p;
	int ref = -1;

	CHECK(page);
	for (uint32_t i = 0; i <= GNT_UNMAP_NOTIFY_MAX; i++) {
		ref = gnt_grant_foreign_access((domid_t)b, gnt_virt_to_gfn(page), 0);
		CHECK(ref >= 8);
		CHECK_EQ(gnt_grant_set_unmap_notify((grant_ref_t)ref, i % GNT_PAGE_SIZE,
						    GNT_UNMAP_NOTIFY_CLEAR_BYTE, 0),
			 i < GNT_UNMAP_NOTIFY_MAX ? 0 : -ENOSPC);
	}
	CHECK_EQ(gnt_grant_set_unmap_notify(8, 1, GNT_UNMAP_NOTIFY_CLEAR_BYTE, 0), 0);
	/* the cancel of one frees a slot */
	CHECK_EQ(gnt_grant_set_unmap_notify(8, 1, 0, 0), 0);
	CHECK_EQ(gnt_grant_set_unmap_notify((grant_ref_t)ref, 1, GNT_UNMAP_NOTIFY_CLEAR_BYTE, 0),
		 0);
}

TEST(unmap_notify_malformed_and_flood)
{
	uint32_t a, b;
	struct gnt_hv_stats s0;

	th_gntd_start();
	s0 = th_stats();
	a = th_domain("A");
	b = th_domain("B");
	CHECK_EQ(th_wait(th_spawn(a, malformed, NULL)), 0);
	CHECK_EQ(th_wait(th_spawn(b, flood, &a)), 0);
	th_share_fresh(); /* gntd still serves */
	th_expect_stats(&s0, 5000);
	th_gntd_stop();
}
