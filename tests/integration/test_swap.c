/* SPDX-License-Identifier: MIT */
/*
 * GNTTABOP_swap_grant_ref through gntd: the granter swaps two of its own
 * entries with gnt_grant_table_op; while the mapper maps one of them the
 * swap is refused (eagain), the moment it unmaps the swap goes through (an
 * unmapped grant is not in use, even before gntd's own settle delay), and
 * the mapper then finds the other page through the same ref.
 */
#include <string.h>

#include "../helpers.h"

struct sw {
	struct th_chan to_a, to_b;
	uint32_t a, b;
};

static int16_t swap(grant_ref_t x, grant_ref_t y)
{
	struct gnttab_swap_grant_ref op = {.ref_a = x, .ref_b = y, .status = 99};

	CHECK_EQ(gnt_grant_table_op(GNTTABOP_swap_grant_ref, &op, 1), 0);
	return op.status;
}

static void granter(void *p)
{
	struct sw *s = p;
	char *pa = gnt_alloc_page(), *pb = gnt_alloc_page();
	int ra, rb;

	CHECK(pa && pb);
	strcpy(pa, "page a");
	strcpy(pb, "page b");
	ra = gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(pa), 1);
	rb = gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(pb), 1);
	CHECK(ra > 0 && rb > 0);
	th_send_u32(&s->to_b, (uint32_t)ra);
	CHECK_EQ(th_recv_u32(&s->to_a), 1); /* ra is mapped */
	CHECK_EQ(swap((grant_ref_t)ra, (grant_ref_t)rb), GNTST_eagain);
	CHECK_EQ(swap((grant_ref_t)rb, (grant_ref_t)ra), GNTST_eagain);
	th_send_u32(&s->to_b, 2);
	CHECK_EQ(th_recv_u32(&s->to_a), 3); /* unmapped */
	CHECK_EQ(swap((grant_ref_t)ra, (grant_ref_t)rb), GNTST_okay);
	CHECK_EQ(swap((grant_ref_t)ra, 1u << 30), GNTST_bad_gntref);
	th_send_u32(&s->to_b, 4);
	CHECK_EQ(th_recv_u32(&s->to_a), 5); /* seen through ra, unmapped */
	CHECK_EQ(gnt_try_end_foreign_access((grant_ref_t)ra), 1);
	CHECK_EQ(gnt_try_end_foreign_access((grant_ref_t)rb), 1);
	gnt_free_pages(pa, 1);
	gnt_free_pages(pb, 1);
}

static void map_ro(uint32_t dom, grant_ref_t ref, char *va, grant_handle_t *h)
{
	struct gnttab_map_grant_ref op;

	gnt_set_map_op(&op, va, GNTMAP_host_map | GNTMAP_readonly, ref, (domid_t)dom);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	CHECK_EQ(op.status, GNTST_okay);
	*h = op.handle;
}

static void unmap_ro(char *va, grant_handle_t h)
{
	struct gnttab_unmap_grant_ref op;

	gnt_set_unmap_op(&op, va, GNTMAP_host_map | GNTMAP_readonly, h);
	CHECK_EQ(gnt_unmap_refs(&op, 1), 0);
	CHECK_EQ(op.status, GNTST_okay);
}

static void mapper(void *p)
{
	struct sw *s = p;
	grant_ref_t ra = th_recv_u32(&s->to_b);
	char *va = gnt_alloc_ballooned_pages(1);
	grant_handle_t h;

	CHECK(va);
	map_ro(s->a, ra, va, &h);
	CHECK(!strcmp(va, "page a"));
	th_send_u32(&s->to_a, 1);
	CHECK_EQ(th_recv_u32(&s->to_b), 2);
	unmap_ro(va, h);
	th_send_u32(&s->to_a, 3);
	CHECK_EQ(th_recv_u32(&s->to_b), 4);
	map_ro(s->a, ra, va, &h);
	CHECK(!strcmp(va, "page b")); /* the same ref, the other entry */
	unmap_ro(va, h);
	gnt_free_ballooned_pages(va, 1);
	th_send_u32(&s->to_a, 5);
}

TEST(swap_grant_ref_between_own_entries)
{
	struct sw s;
	struct gnt_hv_stats start;
	pid_t pa, pb;

	th_gntd_start();
	start = th_stats();
	s.a = th_domain("A");
	s.b = th_domain("B");
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	pa = th_spawn(s.a, granter, &s);
	pb = th_spawn(s.b, mapper, &s);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_expect_stats(&start, 5000);
	th_gntd_stop();
}
