/* SPDX-License-Identifier: MIT */
/* Two domains share a page: grant, map, read, write, unmap, end. */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../helpers.h"

struct share_args {
	struct th_chan to_b, to_a;
	uint32_t a, b;
};

static void mapper(void *p)
{
	struct share_args *s = p;
	struct gnttab_map_grant_ref op;
	struct gnttab_unmap_grant_ref un;
	uint32_t ref = th_recv_u32(&s->to_b);
	char *va = gnt_alloc_ballooned_pages(1);

	CHECK(va);
	CHECK_EQ(gnt_domid(), (int)s->b);
	gnt_set_map_op(&op, va, GNTMAP_host_map, ref, (domid_t)s->a);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	CHECK_EQ(op.status, GNTST_okay);
	CHECK(!strcmp(va, "hello from A"));
	strcpy(va + 100, "hello from B");
	gnt_set_unmap_op(&un, va, GNTMAP_host_map, op.handle);
	CHECK_EQ(gnt_unmap_refs(&un, 1), 0);
	CHECK_EQ(un.status, GNTST_okay);
	th_send_u32(&s->to_a, 1);
	gnt_free_ballooned_pages(va, 1);
}

static void granter(void *p)
{
	struct share_args *s = p;
	char *page = gnt_alloc_page();
	int ref;

	CHECK(page);
	CHECK_EQ(gnt_domid(), (int)s->a);
	strcpy(page, "hello from A");
	ref = gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(page), 0);
	CHECK(ref >= 8);
	th_send_u32(&s->to_b, (uint32_t)ref);
	CHECK_EQ(th_recv_u32(&s->to_a), 1);
	CHECK(!strcmp(page + 100, "hello from B"));
	CHECK_EQ(gnt_try_end_foreign_access((grant_ref_t)ref), 1);
	gnt_free_page(page);
}

TEST(share_one_page_between_two_domains)
{
	struct share_args s;
	pid_t pa, pb;

	th_gntd_start();
	s.a = th_domain("A");
	s.b = th_domain("B");
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	pa = th_spawn(s.a, granter, &s);
	pb = th_spawn(s.b, mapper, &s);
	CHECK_EQ(th_wait(pa), 0);
	CHECK_EQ(th_wait(pb), 0);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_gntd_stop();
}
