/* SPDX-License-Identifier: MIT */
/*
 * Hostile transfers and exchanges: a receiver that rewrites its accept entry
 * while pages are transferred to it (every page is accounted exactly once,
 * gntd keeps serving), requests whose lengths lie (the connection is
 * dropped, nothing else), a page whose mapper unmapped a moment ago (gntd
 * settles it and the transfer goes through), and accounting back at its
 * start when the domains are gone.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "../helpers.h"

#define NPAGES 200

struct hargs {
	struct th_chan to_s, to_r, to_p;
	uint32_t s, r;
};

static void hopen(struct hargs *h)
{
	th_chan_open(&h->to_s);
	th_chan_open(&h->to_r);
	th_chan_open(&h->to_p);
}

static void hclose(struct hargs *h)
{
	th_chan_close(&h->to_s);
	th_chan_close(&h->to_r);
	th_chan_close(&h->to_p);
}

struct flip {
	grant_entry_v1_t *e;
	uint16_t sender, other;
	volatile int stop;
};

/* Rewrite the entry as fast as possible: right, wrong type, wrong domid,
 * extra bits, invalid. */
static void *flipper(void *p)
{
	struct flip *f = p;
	static const uint16_t flags[] = {GTF_accept_transfer, GTF_permit_access,
					 GTF_accept_transfer | GTF_readonly, GTF_invalid,
					 GTF_accept_transfer};
	uint32_t *combo = (uint32_t *)(void *)f->e;

	for (unsigned i = 0; !f->stop; i++) {
		uint16_t dom = i % 7 == 3 ? f->other : f->sender;
		__atomic_store_n(combo, (uint32_t)dom << 16 | flags[i % 5], __ATOMIC_RELEASE);
	}
	return NULL;
}

static void flipping_receiver(void *p)
{
	struct hargs *h = p;
	int ref = gnt_grant_foreign_transfer((domid_t)h->s);
	struct flip f = {.sender = (uint16_t)h->s, .other = 0x7777};
	uint32_t n;
	grant_entry_v1_t *t = th_raw_table(&n);
	pthread_t th;

	CHECK(ref >= 8);
	f.e = &t[ref];
	CHECK_EQ(pthread_create(&th, NULL, flipper, &f), 0);
	th_send_u32(&h->to_s, (uint32_t)ref);
	CHECK_EQ(th_recv_u32(&h->to_r), 1);
	f.stop = 1;
	pthread_join(th, NULL);
	th_send_u32(&h->to_p, 1);
	CHECK_EQ(th_recv_u32(&h->to_r), 2);
}

static void batch_sender(void *p)
{
	struct hargs *h = p;
	grant_ref_t ref = th_recv_u32(&h->to_s);
	struct gnttab_transfer ops[NPAGES];
	uint32_t ok = 0;

	for (int i = 0; i < NPAGES; i++) {
		void *pg = gnt_alloc_page();
		CHECK(pg);
		ops[i] = (struct gnttab_transfer){.mfn = gnt_virt_to_gfn(pg),
						  .domid = (domid_t)h->r, .ref = ref};
	}
	for (int i = 0; i < NPAGES; i += 10) {
		CHECK_EQ(gnt_grant_table_op(GNTTABOP_transfer, &ops[i], 10), 0);
		for (int k = i; k < i + 10; k++) {
			if (ops[k].status == GNTST_okay)
				ok++;
			else
				CHECK_EQ(ops[k].status, GNTST_general_error);
		}
	}
	th_send_u32(&h->to_r, 1);
	th_send_u32(&h->to_p, ok);
	CHECK_EQ(th_recv_u32(&h->to_s), 3); /* alive while the parent counts */
}

TEST(transfer_receiver_rewrites_entry)
{
	struct gnt_hv_stats start;
	struct hargs h;
	uint64_t r_tot, s_tot;
	uint32_t ok;
	pid_t ps, pr;

	th_gntd_start();
	start = th_stats();
	h.s = th_domain("S");
	h.r = th_domain("R");
	hopen(&h);
	s_tot = th_dominfo(h.s).tot_pages;
	r_tot = th_dominfo(h.r).tot_pages;
	pr = th_spawn(h.r, flipping_receiver, &h);
	ps = th_spawn(h.s, batch_sender, &h);
	ok = th_recv_u32_from(&h.to_p, ps);
	CHECK_EQ(th_recv_u32_from(&h.to_p, pr), 1);
	/* every page left the sender; exactly the okay ones reached R */
	CHECK_EQ(th_dominfo(h.s).tot_pages, s_tot);
	CHECK_EQ(th_dominfo(h.r).tot_pages, r_tot + ok);
	th_send_u32(&h.to_r, 2);
	th_send_u32(&h.to_s, 3);
	CHECK_EQ(th_wait(ps), 0);
	CHECK_EQ(th_wait(pr), 0);
	hclose(&h);
	th_share_fresh(); /* gntd still serves */
	th_expect_stats(&start, 5000);
	th_gntd_stop();
}

/* A request whose length lies drops the connection; a fresh one works. */
static void expect_dropped(uint32_t op, uint32_t cmd, uint32_t count, const void *pl,
			   size_t len)
{
	struct gnt_msg m = {.magic = GNT_PROTO_MAGIC, .op = op, .cmd = cmd, .count = count,
			    .len = (uint32_t)len};
	int c = th_raw_attach();

	CHECK_EQ(th_raw_send(c, &m, pl, len, NULL, 0), 0);
	CHECK_EQ(th_peer_closed(c, 5000), 1);
	close(c);
}

static void liar(void *p)
{
	struct gnttab_transfer t[2] = {{.mfn = 5}, {.mfn = 6}};
	struct xen_memory_exchange x = {.in = {.nr_extents = 4}, .out = {.nr_extents = 4}};
	uint8_t buf[sizeof(x) + 8];
	uint64_t gfn = 0x100;
	uint32_t xchg = GNT_HC(__HYPERVISOR_memory_op, XENMEM_exchange);
	uint32_t xfer = GNT_HC(__HYPERVISOR_grant_table_op, GNTTABOP_transfer);
	(void)p;

	expect_dropped(GNT_MSG_HYPERCALL, xfer, 2, t, sizeof(t[0]));   /* short */
	expect_dropped(GNT_MSG_HYPERCALL, xfer, 0, NULL, 0);           /* count 0 */
	memcpy(buf, &x, sizeof(x));
	expect_dropped(GNT_MSG_HYPERCALL, xchg, 1, buf, sizeof(buf)); /* 4 gfns promised, 1 sent */
	expect_dropped(GNT_MSG_HYPERCALL, xchg, 1, buf, sizeof(x) - 8);
	x.in.nr_extents = UINT64_MAX / 4;
	memcpy(buf, &x, sizeof(x));
	expect_dropped(GNT_MSG_HYPERCALL, xchg, 1, buf, sizeof(buf));
	expect_dropped(GNT_MSG_FRAME, 0, 0, &gfn, 4);
	/* and a well-formed transfer of bogus pages to a bogus domain */
	CHECK_EQ(gnt_grant_table_op(GNTTABOP_transfer, t, 2), 0);
	CHECK_EQ(t[0].status, GNTST_bad_page);
	CHECK_EQ(t[1].status, GNTST_bad_page);
}

TEST(transfer_exchange_lying_lengths)
{
	struct gnt_hv_stats start;
	uint32_t d;

	th_gntd_start();
	start = th_stats();
	d = th_domain("L");
	CHECK_EQ(th_wait(th_spawn(d, liar, NULL)), 0);
	th_share_fresh();
	th_expect_stats(&start, 5000);
	th_gntd_stop();
}

static void unmapping_mapper(void *p)
{
	struct hargs *h = p;
	struct gnttab_map_grant_ref op;
	struct gnttab_unmap_grant_ref un;
	char *va = gnt_alloc_ballooned_pages(1);
	int ref = gnt_grant_foreign_transfer((domid_t)h->s);

	CHECK(ref >= 8);
	gnt_set_map_op(&op, va, GNTMAP_host_map, th_recv_u32(&h->to_r), (domid_t)h->s);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	CHECK_EQ(op.status, GNTST_okay);
	gnt_set_unmap_op(&un, va, GNTMAP_host_map, op.handle);
	CHECK_EQ(gnt_unmap_refs(&un, 1), 0);
	CHECK_EQ(un.status, GNTST_okay);
	th_send_u32(&h->to_s, (uint32_t)ref);
	CHECK_EQ(th_recv_u32(&h->to_r), 1);
	CHECK(gnt_end_foreign_transfer((grant_ref_t)ref) != 0);
	gnt_free_ballooned_pages(va, 1);
}

static void granting_sender(void *p)
{
	struct hargs *h = p;
	char *page = gnt_alloc_page();
	struct gnttab_transfer op = {.mfn = gnt_virt_to_gfn(page), .domid = (domid_t)h->r};

	CHECK(page);
	th_send_u32(&h->to_r,
		    (uint32_t)gnt_grant_foreign_access((domid_t)h->r, op.mfn, 0));
	op.ref = th_recv_u32(&h->to_s);
	/* at once: the mapper's exposure may still be parked (revoke.c) */
	CHECK_EQ(gnt_grant_table_op(GNTTABOP_transfer, &op, 1), 0);
	CHECK_EQ(op.status, GNTST_okay);
	th_send_u32(&h->to_r, 1);
}

TEST(transfer_right_after_unmap)
{
	struct gnt_hv_stats start;
	struct hargs h;
	pid_t ps, pr;

	th_gntd_start();
	start = th_stats();
	h.s = th_domain("S");
	h.r = th_domain("R");
	hopen(&h);
	ps = th_spawn(h.s, granting_sender, &h);
	pr = th_spawn(h.r, unmapping_mapper, &h);
	CHECK_EQ(th_wait(ps), 0);
	CHECK_EQ(th_wait(pr), 0);
	hclose(&h);
	th_expect_stats(&start, 5000);
	th_gntd_stop();
}
