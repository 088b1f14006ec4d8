/* SPDX-License-Identifier: MIT */
/*
 * fork() in a domain process: the child belongs to the same domain through
 * a connection of its own (made on its first call), maps and unmaps on its
 * own, and still reads the mappings its parent made before the fork.  The
 * parent's connection is never shared: both hammer gntd at once.
 */
#include <string.h>
#include <unistd.h>

#include "../helpers.h"

struct fk {
	struct th_chan to_a, to_b, to_t, t_to_b;
	uint32_t a, b;
};

static void granter(void *p)
{
	struct fk *s = p;
	char *page = gnt_alloc_page();
	int ref;

	CHECK(page);
	ref = gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(page), 0);
	CHECK(ref >= GNTTAB_NR_RESERVED_ENTRIES);
	th_send_u32(&s->to_b, (uint32_t)ref);
	CHECK_EQ(th_recv_u32(&s->to_a), 1);
	CHECK(!strcmp(page, "from the child"));
	CHECK_EQ(gnt_try_end_foreign_access((grant_ref_t)ref), 1);
	gnt_free_page(page);
}

static void hammer(int n)
{
	for (int i = 0; i < n; i++) {
		struct gnttab_query_size q = {.dom = DOMID_SELF};
		CHECK_EQ(gnt_grant_table_op(GNTTABOP_query_size, &q, 1), 0);
		CHECK_EQ(q.status, GNTST_okay);
		CHECK_EQ(q.nr_frames, 1);
	}
}

static void child(struct fk *s, uint32_t ref, char *va)
{
	struct gnttab_map_grant_ref op;
	struct gnttab_unmap_grant_ref un;
	char *va2 = gnt_alloc_ballooned_pages(1);

	/* the parent's mapping came along, before any call of ours */
	CHECK(!strcmp(va, "before fork"));
	CHECK(va2);
	CHECK_EQ(gnt_domid(), (int)s->b);
	th_send_u32(&s->to_t, 2); /* connected: the test counts connections */
	CHECK_EQ(th_recv_u32(&s->t_to_b), 3);
	gnt_set_map_op(&op, va2, GNTMAP_host_map, ref, (domid_t)s->a);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	CHECK_EQ(op.status, GNTST_okay);
	strcpy(va2, "from the child");
	CHECK(!strcmp(va, "from the child")); /* the same frame */
	hammer(300);
	gnt_set_unmap_op(&un, va2, 0, op.handle);
	CHECK_EQ(gnt_unmap_refs(&un, 1), 0);
	CHECK_EQ(un.status, GNTST_okay);
	CHECK(!th_can_read(va2));
	CHECK(!strcmp(va, "from the child")); /* the parent's is untouched */
	th_send_u32(&s->to_t, 4);
}

static void mapper(void *p)
{
	struct fk *s = p;
	struct gnttab_map_grant_ref op;
	struct gnttab_unmap_grant_ref un;
	uint32_t ref = th_recv_u32(&s->to_b);
	char *va = gnt_alloc_ballooned_pages(1);
	pid_t c;

	CHECK(va);
	gnt_set_map_op(&op, va, GNTMAP_host_map, ref, (domid_t)s->a);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	CHECK_EQ(op.status, GNTST_okay);
	strcpy(va, "before fork");
	th_send_u32(&s->to_t, 1);
	CHECK_EQ(th_recv_u32(&s->t_to_b), 1);

	/* a child that never calls libgnt leaves our connection alone */
	fflush(NULL);
	c = fork();
	CHECK(c >= 0);
	if (c == 0) {
		CHECK(!strcmp(va, "before fork"));
		_exit(0);
	}
	CHECK_EQ(th_wait(c), 0);
	CHECK_EQ(gnt_domid(), (int)s->b);

	fflush(NULL);
	c = fork();
	CHECK(c >= 0);
	if (c == 0) {
		child(s, ref, va);
		fflush(NULL);
		_exit(0);
	}
	hammer(300); /* at the same time as the child */
	CHECK_EQ(th_wait(c), 0);
	th_send_u32(&s->to_t, 5);
	CHECK_EQ(th_recv_u32(&s->t_to_b), 6);
	CHECK(!strcmp(va, "from the child"));
	gnt_set_unmap_op(&un, va, 0, op.handle);
	CHECK_EQ(gnt_unmap_refs(&un, 1), 0);
	CHECK_EQ(un.status, GNTST_okay);
	th_send_u32(&s->to_a, 1);
}

struct procs_arg {
	uint32_t dom, want;
};

static int procs_are(void *p)
{
	struct procs_arg *a = p;
	return th_dominfo(a->dom).procs == a->want;
}

TEST(fork_child_has_own_connection_and_keeps_mappings)
{
	struct fk s;
	struct gnt_hv_stats start;
	struct procs_arg pa_;
	uint32_t procs0;
	pid_t pa, pb;

	th_gntd_start();
	start = th_stats();
	s.a = th_domain("A");
	s.b = th_domain("B");
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	th_chan_open(&s.to_t);
	th_chan_open(&s.t_to_b);
	pa = th_spawn(s.a, granter, &s);
	pb = th_spawn(s.b, mapper, &s);
	CHECK_EQ(th_recv_u32_from(&s.to_t, pb), 1);
	procs0 = th_dominfo(s.b).procs;
	CHECK_EQ(th_dominfo(s.b).mappings, 1);
	th_send_u32(&s.t_to_b, 1);

	CHECK_EQ(th_recv_u32_from(&s.to_t, pb), 2);
	CHECK_EQ(th_dominfo(s.b).procs, procs0 + 1); /* the child's own connection */
	th_send_u32(&s.t_to_b, 3);
	CHECK_EQ(th_recv_u32_from(&s.to_t, pb), 4);
	CHECK_EQ(th_recv_u32_from(&s.to_t, pb), 5);
	/* the child is gone: its connection too, B lives on with its mapping */
	pa_.dom = s.b;
	pa_.want = procs0;
	CHECK(th_until(procs_are, &pa_, 5000));
	CHECK_EQ(th_dominfo(s.b).state, 1);
	CHECK_EQ(th_dominfo(s.b).mappings, 1);
	th_send_u32(&s.t_to_b, 6);

	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_expect_stats(&start, 5000);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_chan_close(&s.to_t);
	th_chan_close(&s.t_to_b);
	th_gntd_stop();
}
