/* SPDX-License-Identifier: MIT */
/*
 * Page transfer (GNTTABOP_transfer) and XENMEM_exchange with a real gntd and
 * real processes: the page and its accounting move, a sender that kept a
 * mapping and a descriptor of its page reaches nothing of the receiver's, the
 * failures keep or lose the page as Xen does, the receiver's memory limit
 * holds, exchanges map the new frames and unmap the old ones (also across
 * several replies), and gntd's accounting returns to where it started.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../helpers.h"

struct xargs {
	struct th_chan to_s, to_r, to_p; /* to the sender, receiver, parent */
	uint32_t s, r;
};

static void xopen(struct xargs *x)
{
	th_chan_open(&x->to_s);
	th_chan_open(&x->to_r);
	th_chan_open(&x->to_p);
}

static void xclose(struct xargs *x)
{
	th_chan_close(&x->to_s);
	th_chan_close(&x->to_r);
	th_chan_close(&x->to_p);
}

static int16_t transfer(void *page, uint32_t to, grant_ref_t ref)
{
	struct gnttab_transfer op = {.mfn = gnt_virt_to_gfn(page), .domid = (domid_t)to,
				     .ref = ref, .status = 0x7777};
	CHECK_EQ(gnt_grant_table_op(GNTTABOP_transfer, &op, 1), 0);
	return op.status;
}

/* A descriptor of the unit behind our gfn, straight from gntd (GNT_MSG_FRAME
 * on a private connection): what a hostile sender could keep. */
static int frame_fd(uint64_t gfn, int32_t *rc)
{
	struct gnt_msg m = {.magic = GNT_PROTO_MAGIC, .op = GNT_MSG_FRAME, .len = sizeof(gfn)};
	struct gnt_frame f;
	unsigned int nfds = 1;
	int c = th_raw_attach(), fd = -1;

	CHECK_EQ(th_raw_send(c, &m, &gfn, sizeof(gfn), NULL, 0), 0);
	CHECK_EQ(th_raw_recv(c, &m, &f, sizeof(f), &fd, &nfds, 5000), 1);
	close(c);
	*rc = m.rc;
	return nfds == 1 ? fd : -1;
}

static void sender(void *p)
{
	struct xargs *x = p;
	char *page = gnt_alloc_page(), *kept, buf[32];
	uint64_t gfn = gnt_virt_to_gfn(page);
	grant_ref_t ref = th_recv_u32(&x->to_s);
	int32_t rc;
	int fd;

	CHECK(page);
	strcpy(page, "moving page");
	/* keep a descriptor and a mapping of our own, as a hostile sender would */
	fd = frame_fd(gfn, &rc);
	CHECK_EQ(rc, 0);
	CHECK(fd >= 0);
	kept = mmap(NULL, GNT_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(kept != MAP_FAILED);
	CHECK(!strcmp(kept, "moving page"));
	CHECK_EQ(transfer(page, x->r, ref), GNTST_okay);
	/* libgnt's own mapping is gone, and the gfn is no longer ours */
	CHECK(!th_can_read(page));
	CHECK(gnt_virt_to_gfn(page) == GNT_INVALID_GFN);
	CHECK(gnt_gfn_to_virt(gfn) == NULL);
	CHECK_EQ(frame_fd(gfn, &rc), -1);
	CHECK_EQ(rc, -ENOENT);
	th_send_u32(&x->to_r, 1);
	/* the receiver has written its secret: what we kept does not see it,
	 * and what we write there does not reach the receiver */
	CHECK_EQ(th_recv_u32(&x->to_s), 2);
	CHECK(!strcmp(kept, "moving page"));
	CHECK_EQ(pread(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	CHECK(!strncmp(buf, "moving page", sizeof(buf)));
	strcpy(kept, "sender scribble");
	th_send_u32(&x->to_r, 3);
	CHECK_EQ(th_recv_u32(&x->to_s), 4);
	munmap(kept, GNT_PAGE_SIZE);
	close(fd);
}

static void receiver(void *p)
{
	struct xargs *x = p;
	int ref = gnt_grant_foreign_transfer((domid_t)x->s);
	uint64_t gfn;
	char *va;

	CHECK(ref >= 8);
	th_send_u32(&x->to_s, (uint32_t)ref);
	CHECK_EQ(th_recv_u32(&x->to_r), 1);
	gfn = gnt_end_foreign_transfer((grant_ref_t)ref);
	CHECK(gfn != 0);
	va = gnt_gfn_to_virt(gfn);
	CHECK(va);
	CHECK(!strcmp(va, "moving page"));
	strcpy(va, "receiver secret");
	th_send_u32(&x->to_p, 1); /* the parent checks accounting */
	CHECK_EQ(th_recv_u32(&x->to_r), 0);
	th_send_u32(&x->to_s, 2);
	CHECK_EQ(th_recv_u32(&x->to_r), 3);
	CHECK(!strcmp(va, "receiver secret"));
	th_send_u32(&x->to_s, 4);
	gnt_free_page(va);
}

TEST(transfer_moves_page_sender_keeps_no_access)
{
	struct gnt_hv_stats start;
	struct xargs x;
	uint64_t s_tot, r_tot;
	pid_t ps, pr;

	th_gntd_start();
	start = th_stats();
	x.s = th_domain("S");
	x.r = th_domain("R");
	xopen(&x);
	s_tot = th_dominfo(x.s).tot_pages;
	r_tot = th_dominfo(x.r).tot_pages;
	ps = th_spawn(x.s, sender, &x);
	pr = th_spawn(x.r, receiver, &x);
	CHECK_EQ(th_recv_u32_from(&x.to_p, pr), 1);
	/* the sender's page was allocated and went: one page moved over */
	CHECK_EQ(th_dominfo(x.s).tot_pages, s_tot);
	CHECK_EQ(th_dominfo(x.r).tot_pages, r_tot + 1);
	th_send_u32(&x.to_r, 0);
	CHECK_EQ(th_wait(ps), 0);
	CHECK_EQ(th_wait(pr), 0);
	xclose(&x);
	th_expect_stats(&start, 5000);
	th_gntd_stop();
}

static void failing_sender(void *p)
{
	struct xargs *x = p;
	grant_ref_t ref = th_recv_u32(&x->to_s);
	char *page = gnt_alloc_page();
	struct gnttab_transfer op = {.mfn = 5, .domid = (domid_t)x->r, .ref = ref};

	CHECK(page);
	strcpy(page, "still mine");
	/* bad_page: bogus gfn; the page we have stays */
	CHECK_EQ(gnt_grant_table_op(GNTTABOP_transfer, &op, 1), 0);
	CHECK_EQ(op.status, GNTST_bad_page);
	/* mapped by the receiver: refused, kept */
	th_send_u32(&x->to_r, (uint32_t)gnt_grant_foreign_access((domid_t)x->r,
								gnt_virt_to_gfn(page), 1));
	CHECK_EQ(th_recv_u32(&x->to_s), 1);
	CHECK_EQ(transfer(page, x->r, ref), GNTST_bad_page);
	CHECK(!strcmp(page, "still mine"));
	th_send_u32(&x->to_r, 2);
	CHECK_EQ(th_recv_u32(&x->to_s), 3); /* unmapped now; the receiver is full */
	/* the receiver at its limit: general_error, and the page is lost */
	CHECK_EQ(transfer(page, x->r, ref), GNTST_general_error);
	CHECK(!th_can_read(page));
	/* no such domain: lost too */
	page = gnt_alloc_page();
	CHECK_EQ(transfer(page, 0x7777, ref), GNTST_bad_domain);
	CHECK(!th_can_read(page));
	th_send_u32(&x->to_r, 4);
}

static void full_receiver(void *p)
{
	struct xargs *x = p;
	int ref = gnt_grant_foreign_transfer((domid_t)x->s);
	struct gnttab_map_grant_ref op;
	struct gnttab_unmap_grant_ref un;
	char *va = gnt_alloc_ballooned_pages(1);

	CHECK(ref >= 8);
	th_send_u32(&x->to_s, (uint32_t)ref);
	gnt_set_map_op(&op, va, GNTMAP_host_map | GNTMAP_readonly, th_recv_u32(&x->to_r),
		       (domid_t)x->s);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	CHECK_EQ(op.status, GNTST_okay);
	th_send_u32(&x->to_s, 1);
	CHECK_EQ(th_recv_u32(&x->to_r), 2);
	gnt_set_unmap_op(&un, va, GNTMAP_host_map, op.handle);
	CHECK_EQ(gnt_unmap_refs(&un, 1), 0);
	/* fill our memory (max_pages 2) */
	CHECK(gnt_alloc_pages(2) != NULL);
	th_send_u32(&x->to_s, 3);
	CHECK_EQ(th_recv_u32(&x->to_r), 4);
	/* nothing came; the offer is still there, untouched */
	CHECK_EQ(gnt_end_foreign_transfer((grant_ref_t)ref), 0);
	gnt_free_ballooned_pages(va, 1);
}

TEST(transfer_failures_keep_or_lose_page)
{
	struct gnt_domain_config small = {.max_pages = 2};
	struct gnt_hv_stats start;
	struct xargs x;
	pid_t ps, pr;

	th_gntd_start();
	start = th_stats();
	x.s = th_domain("S");
	x.r = th_domain_cfg("R", &small);
	xopen(&x);
	ps = th_spawn(x.s, failing_sender, &x);
	pr = th_spawn(x.r, full_receiver, &x);
	CHECK_EQ(th_wait(ps), 0);
	CHECK_EQ(th_wait(pr), 0);
	xclose(&x);
	th_expect_stats(&start, 5000);
	th_gntd_stop();
}

static void exchanger(void *p)
{
	struct xargs *x = p;
	uint64_t in[4], out[1024], big[2];
	char *old[4];
	struct xen_memory_exchange xc = {
		.in = {.extent_start = in, .nr_extents = 4, .domid = DOMID_SELF},
		.out = {.extent_start = out, .nr_extents = 1, .extent_order = 2,
			.domid = DOMID_SELF},
	};
	char *va;

	for (int i = 0; i < 4; i++) {
		old[i] = gnt_alloc_page();
		CHECK(old[i]);
		old[i][0] = 'o';
		in[i] = gnt_virt_to_gfn(old[i]);
	}
	CHECK_EQ(gnt_memory_op(XENMEM_exchange, &xc), 0);
	CHECK_EQ(xc.nr_exchanged, 4);
	/* the old pages are unmapped (their addresses may be reused since) */
	for (int i = 0; i < 4; i++)
		CHECK(gnt_virt_to_gfn(old[i]) != in[i] && (!th_can_read(old[i]) || !old[i][0]));
	va = gnt_gfn_to_virt(out[0]);
	CHECK(va);
	CHECK(gnt_gfn_to_virt(out[0] + 3) == va + 3 * GNT_PAGE_SIZE); /* one run */
	CHECK(th_can_write(va + 3 * GNT_PAGE_SIZE));
	/* a bogus input: -EINVAL, nothing done */
	in[0] = 5;
	xc.nr_exchanged = 0;
	CHECK_EQ(gnt_memory_op(XENMEM_exchange, &xc), -EINVAL);
	CHECK_EQ(xc.nr_exchanged, 0);
	/* two 512-page units for 1024 single pages: more units than one reply
	 * carries, so libgnt asks again */
	for (int i = 0; i < 2; i++) {
		char *b = gnt_alloc_pages(512);
		CHECK(b);
		big[i] = gnt_virt_to_gfn(b);
	}
	xc = (struct xen_memory_exchange){
		.in = {.extent_start = big, .nr_extents = 2, .extent_order = 9,
		       .domid = DOMID_SELF},
		.out = {.extent_start = out, .nr_extents = 1024, .domid = DOMID_SELF},
	};
	CHECK_EQ(gnt_memory_op(XENMEM_exchange, &xc), 0);
	CHECK_EQ(xc.nr_exchanged, 2);
	for (int i = 0; i < 1024; i++)
		CHECK(th_can_write(gnt_gfn_to_virt(out[i])));
	th_send_u32(&x->to_p, 1);
	CHECK_EQ(th_recv_u32(&x->to_s), 0);
}

TEST(exchange_end_to_end)
{
	struct gnt_hv_stats start;
	struct xargs x;
	pid_t pe;

	th_gntd_start();
	start = th_stats();
	x.s = th_domain("E");
	xopen(&x);
	pe = th_spawn(x.s, exchanger, &x);
	CHECK_EQ(th_recv_u32_from(&x.to_p, pe), 1);
	/* 4 + 1024 pages allocated, all exchanged: accounting unchanged by it */
	CHECK_EQ(th_dominfo(x.s).tot_pages, 4 + 1024);
	CHECK_EQ(th_dominfo(x.s).units, 1 + 1024);
	th_send_u32(&x.to_s, 0);
	CHECK_EQ(th_wait(pe), 0);
	xclose(&x);
	th_expect_stats(&start, 5000);
	th_gntd_stop();
}
