/* SPDX-License-Identifier: MIT */
/*
 * gnt_end_foreign_access on a grant the peer still maps is deferred (Linux's
 * gnttab_end_foreign_access): the entry stays, the page is not freed, and
 * both go once the mapper has unmapped - by the library's timer
 * (GNT_DEFERRED_MS) or by gnt_deferred_poll().
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../helpers.h"

struct def {
	struct th_chan to_a, to_b, to_t, t_to_a;
	uint32_t a, b;
	int by_timer;
};

static void granter(void *p)
{
	struct def *s = p;
	char *page, *spare;
	int ref, ref2;

	/* before the library's thread starts; by poll, the timer must not fire */
	setenv("GNT_DEFERRED_MS", s->by_timer ? "20" : "60000", 1);
	page = gnt_alloc_page();
	spare = gnt_alloc_page();
	CHECK(page && spare);
	strcpy(page, "deferred");
	ref = gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(page), 0);
	CHECK(ref >= GNTTAB_NR_RESERVED_ENTRIES);
	/* a grant nobody maps ends at once, and its page goes with it */
	ref2 = gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(spare), 0);
	CHECK(ref2 >= GNTTAB_NR_RESERVED_ENTRIES);
	gnt_end_foreign_access((grant_ref_t)ref2, spare);
	CHECK_EQ(gnt_deferred_count(), 0);
	th_send_u32(&s->to_t, (uint32_t)ref);
	th_send_u32(&s->to_b, (uint32_t)ref);
	CHECK_EQ(th_recv_u32(&s->to_a), 1); /* mapped */

	gnt_end_foreign_access((grant_ref_t)ref, page); /* page is not ours now */
	CHECK_EQ(gnt_deferred_count(), 1);
	if (!s->by_timer) {
		pid_t k;
		int st = 0;
		gnt_deferred_poll();
		CHECK_EQ(gnt_deferred_count(), 1); /* still mapped */
		/* a child inherits none of it: ending and freeing are ours */
		k = fork();
		if (k == 0)
			_exit(gnt_deferred_count() == 0 ? 0 : 1);
		CHECK(k > 0);
		CHECK_EQ(waitpid(k, &st, 0), k);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	th_send_u32(&s->to_t, 2); /* the test looks at gntd */
	CHECK_EQ(th_recv_u32(&s->t_to_a), 3);
	th_send_u32(&s->to_b, 4);	    /* unmap now */
	CHECK_EQ(th_recv_u32(&s->to_a), 5); /* unmapped */
	if (s->by_timer) {
		for (int i = 0; i < 2000 && gnt_deferred_count(); i++)
			usleep(1000);
	} else {
		usleep(50 * 1000);
		CHECK_EQ(gnt_deferred_count(), 1); /* nothing retried on its own */
		gnt_deferred_poll();
	}
	CHECK_EQ(gnt_deferred_count(), 0);
	th_send_u32(&s->to_t, 6);
	CHECK_EQ(th_recv_u32(&s->t_to_a), 7);
}

static void mapper(void *p)
{
	struct def *s = p;
	struct gnttab_map_grant_ref op;
	struct gnttab_unmap_grant_ref un;
	uint32_t ref = th_recv_u32(&s->to_b);
	char *va = gnt_alloc_ballooned_pages(1);

	CHECK(va);
	gnt_set_map_op(&op, va, GNTMAP_host_map, ref, (domid_t)s->a);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	CHECK_EQ(op.status, GNTST_okay);
	th_send_u32(&s->to_a, 1);
	CHECK_EQ(th_recv_u32(&s->to_b), 4);
	/* the granter has ended it, but our mapping is intact */
	CHECK(!strcmp(va, "deferred"));
	strcpy(va, "still mine");
	gnt_set_unmap_op(&un, va, GNTMAP_host_map, op.handle);
	CHECK_EQ(gnt_unmap_refs(&un, 1), 0);
	CHECK_EQ(un.status, GNTST_okay);
	gnt_free_ballooned_pages(va, 1);
	th_send_u32(&s->to_a, 5);
}

static int find_ref(uint32_t dom, uint32_t ref, struct gnt_grant_dump *out)
{
	static struct gnt_grant_dump g[64];
	int n = gnt_domain_grants(dom, g, 64);
	for (int i = 0; i < n; i++)
		if (g[i].ref == ref) {
			*out = g[i];
			return 1;
		}
	return 0;
}

static void run(int by_timer)
{
	struct def s = {.by_timer = by_timer};
	struct gnt_hv_stats start;
	struct gnt_grant_dump e;
	struct gnt_domain_info ia;
	uint32_t ref;
	pid_t pa, pb;

	th_gntd_start();
	start = th_stats();
	s.a = th_domain("A");
	s.b = th_domain("B");
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	th_chan_open(&s.to_t);
	th_chan_open(&s.t_to_a);
	pa = th_spawn(s.a, granter, &s);
	pb = th_spawn(s.b, mapper, &s);
	ref = th_recv_u32_from(&s.to_t, pa);

	CHECK_EQ(th_recv_u32_from(&s.to_t, pa), 2);
	/* deferred: entry still granted and pinned, page still allocated */
	CHECK(find_ref(s.a, ref, &e));
	/* v2 ends as Linux's gnttab_end_foreign_access_ref_v2: the entry goes
	 * invalid at once, the pin (status) stays until the mapper unmaps */
	CHECK_EQ(e.flags & GTF_type_mask, th_grant_version() == 2 ? GTF_invalid : GTF_permit_access);
	CHECK(e.flags & GTF_writing);
	CHECK_EQ(e.pinned_by, s.b);
	ia = th_dominfo(s.a);
	CHECK_EQ(ia.units, 1); /* the mapped page (the spare is gone) */
	CHECK_EQ(ia.entries_in_use, th_grant_version() == 2 ? 0 : 1);
	th_send_u32(&s.t_to_a, 3);

	CHECK_EQ(th_recv_u32_from(&s.to_t, pa), 6);
	/* ended and freed */
	CHECK(!find_ref(s.a, ref, &e));
	ia = th_dominfo(s.a);
	CHECK_EQ(ia.entries_in_use, 0);
	CHECK_EQ(ia.units, 0);
	CHECK_EQ(ia.tot_pages, 0);
	CHECK_EQ(ia.pins, 0);
	th_send_u32(&s.t_to_a, 7);

	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_expect_stats(&start, 5000);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_chan_close(&s.to_t);
	th_chan_close(&s.t_to_a);
	th_gntd_stop();
}

TEST(deferred_end_completes_by_timer_after_unmap)
{
	run(1);
}

TEST(deferred_end_completes_by_poll_after_unmap)
{
	run(0);
}
