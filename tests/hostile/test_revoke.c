/* SPDX-License-Identifier: MIT */
/*
 * A mapper that does not really let go.  gntd hands a mapper one kernel file
 * per exposure and believes an unmap only once the kernel reports that file
 * released (src/hv/revoke.c): a mapper that keeps a mapping (here: through a
 * forked child) or keeps the descriptor (here: a hand-made map request) keeps
 * the granter's entry pinned, so the granter cannot end the grant while the
 * page is still reachable.  When the mapper lets go, the grant ends.
 * Needs root (fanotify, and domains under their own uids).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../helpers.h"

enum { KEEP_MAPPING = 1, KEEP_FD = 2 };

struct rv {
	struct th_chan to_a, to_b;
	uint32_t a, b;
	int how;
};

static void granter(void *p)
{
	struct rv *s = p;
	char *page = gnt_alloc_page();
	int ref, ended = 0;

	CHECK(page);
	strcpy(page, "before");
	ref = gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(page), 0);
	CHECK(ref >= 8);
	th_send_u32(&s->to_b, (uint32_t)ref);
	/* the mapper says it unmapped, but something of it still holds the page */
	CHECK_EQ(th_recv_u32(&s->to_a), 1);
	for (int i = 0; i < 50; i++) { /* settling is asked for, and retried */
		CHECK_EQ(gnt_end_foreign_access_ref((grant_ref_t)ref), 0);
		usleep(2000);
	}
	CHECK(__atomic_load_n(&page[0], __ATOMIC_RELAXED) == 'b');
	th_send_u32(&s->to_b, 2); /* let go now */
	CHECK_EQ(th_recv_u32(&s->to_a), 3);
	for (int i = 0; i < 2500 && !ended; i++) {
		ended = gnt_end_foreign_access_ref((grant_ref_t)ref);
		if (!ended)
			usleep(2000);
	}
	CHECK_EQ(ended, 1);
	/* it saw what was written while it could reach the page, nothing after */
	CHECK(!strcmp(page, "written by the keeper"));
	strcpy(page, "after the end");
	gnt_free_grant_reference((grant_ref_t)ref);
	gnt_free_page(page);
}

/* Map with libgnt; a forked child keeps the mapping; unmap in the parent. */
static void keep_mapping(struct rv *s, uint32_t ref)
{
	struct gnttab_map_grant_ref op;
	struct gnttab_unmap_grant_ref un;
	char *va = gnt_alloc_ballooned_pages(1);
	int go[2], done[2];
	pid_t child;

	CHECK(va && pipe(go) == 0 && pipe(done) == 0);
	gnt_set_map_op(&op, va, GNTMAP_host_map, ref, (domid_t)s->a);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	CHECK_EQ(op.status, GNTST_okay);
	child = fork();
	if (child == 0) {
		char c;
		CHECK(read(go[0], &c, 1) == 1);
		strcpy(va, "written by the keeper"); /* still reachable: still granted */
		_exit(0);
	}
	gnt_set_unmap_op(&un, va, 0, op.handle);
	CHECK_EQ(gnt_unmap_refs(&un, 1), 0);
	CHECK_EQ(un.status, GNTST_okay);
	CHECK(!th_can_read(va)); /* gone here, not in the child */
	th_send_u32(&s->to_a, 1);
	CHECK_EQ(th_recv_u32(&s->to_b), 2);
	CHECK(write(go[1], "g", 1) == 1);
	CHECK_EQ(th_wait(child), 0); /* its exit drops the last reference */
	th_send_u32(&s->to_a, 3);
	close(go[0]), close(go[1]), close(done[0]), close(done[1]);
	gnt_free_ballooned_pages(va, 1);
}

/* Map by hand and keep the descriptor gntd sent; unmap by hand. */
static void keep_fd(struct rv *s, uint32_t ref)
{
	int conn = th_raw_attach(), fd, h;
	uint32_t page = 0;
	char *p;

	h = th_raw_map(conn, s->a, ref, GNTMAP_host_map, &fd, &page);
	CHECK(h >= 0);
	th_raw_unmap(conn, (uint32_t)h); /* gntd agrees it is unmapped... */
	th_send_u32(&s->to_a, 1);
	CHECK_EQ(th_recv_u32(&s->to_b), 2);
	/* ...but the descriptor still reaches the page, so it stayed granted */
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)page * 4096);
	CHECK(p != MAP_FAILED);
	strcpy(p, "written by the keeper");
	munmap(p, 4096);
	close(fd); /* the last reference: now the grant can end */
	th_send_u32(&s->to_a, 3);
	close(conn);
}

static void mapper(void *p)
{
	struct rv *s = p;
	uint32_t ref = th_recv_u32(&s->to_b);

	if (s->how == KEEP_MAPPING)
		keep_mapping(s, ref);
	else
		keep_fd(s, ref);
}

static void run(int how)
{
	struct gnt_hv_stats s0;
	struct rv s;
	pid_t pa, pb;

	if (geteuid() != 0)
		FAIL("needs root: kernel-checked revocation uses fanotify");
	th_gntd_start();
	s0 = th_stats();
	s.a = th_domain("A");
	s.b = th_domain("B");
	s.how = how;
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	pa = th_spawn(s.a, granter, &s);
	pb = th_spawn(s.b, mapper, &s);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_expect_stats(&s0, 5000);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_gntd_stop();
}

TEST(mapping_kept_by_a_child_keeps_the_grant_pinned)
{
	run(KEEP_MAPPING);
}

TEST(descriptor_kept_after_unmap_keeps_the_grant_pinned)
{
	run(KEEP_FD);
}
