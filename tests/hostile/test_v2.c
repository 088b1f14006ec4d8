/* SPDX-License-Identifier: MIT */
/*
 * tests/hostile/test_v2.c - grant table v2 against hostile granters: a
 * domain flipping its table version as fast as it can while another maps
 * and copies its grants, and a v2 entry rewritten (type, window, frame,
 * grantee) while another domain copies from and maps it.  Every op gets a
 * clean status, only the granted page is ever reached, gntd keeps serving
 * and its accounting returns to where it started.
 */
#define _GNU_SOURCE
#include "../helpers.h"

#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#define NREFS 16u
#define FIRST 8u

struct hv2 {
	uint32_t a, b;
	volatile int *done;     /* shared: [0] one side has finished, [1] the
				   storm's user has stopped using the granter */
};

static void fill(char *p)
{
	for (int i = 0; i < 4096; i++)
		p[i] = (char)(i * 13 + 5);
}

static bool is_fill(const char *p, uint32_t off, uint32_t len)
{
	for (uint32_t i = off; i < off + len; i++)
		if (p[i - off] != (char)(i * 13 + 5))
			return false;
	return true;
}

static int16_t copy_in(uint32_t dom, grant_ref_t ref, char *buf)
{
	struct gnttab_copy op = {.len = 4096, .flags = GNTCOPY_source_gref};
	op.source.u.ref = ref;
	op.source.domid = (domid_t)dom;
	op.dest.u.gmfn = gnt_virt_to_gfn(buf);
	op.dest.domid = DOMID_SELF;
	CHECK_EQ(gnt_grant_table_op(GNTTABOP_copy, &op, 1), 0);
	return op.status;
}

/* Map, check, unmap (ref, dom) once; the statuses a grant that may vanish
 * or change at any time can give. */
static int map_probe(uint32_t dom, grant_ref_t ref, char *va)
{
	struct gnttab_map_grant_ref op;
	struct gnttab_unmap_grant_ref un;

	gnt_set_map_op(&op, va, GNTMAP_host_map | GNTMAP_readonly, ref, (domid_t)dom);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	if (op.status != GNTST_okay) {
		if (op.status != GNTST_general_error && op.status != GNTST_bad_page)
			FAIL("map of ref %u: status %d", ref, op.status);
		return 0;
	}
	CHECK(is_fill(va, 0, 4096));
	gnt_set_unmap_op(&un, va, 0, op.handle);
	CHECK_EQ(gnt_unmap_refs(&un, 1), 0);
	CHECK_EQ(un.status, GNTST_okay);
	return 1;
}

static void copy_probe(uint32_t dom, grant_ref_t ref, char *buf, int *ok)
{
	int16_t st = copy_in(dom, ref, buf);

	if (st == GNTST_okay) {
		CHECK(is_fill(buf, 0, 4096)); /* never another frame */
		(*ok)++;
	} else if (st != GNTST_general_error && st != GNTST_bad_page &&
		   st != GNTST_bad_gntref) {
		/* bad_gntref: a torn read made a transitive entry whose hop's
		 * ref is past its table, as Xen answers that */
		FAIL("copy of ref %u: status %d", ref, st);
	}
}

/* ---- switch storm -------------------------------------------------------- */

static void storm_granter(void *arg)
{
	struct hv2 *h = arg;
	char *page = gnt_alloc_page();
	int switched = 0;

	CHECK(page);
	fill(page);
	for (int i = 0; i < 600; i++) {
		struct gnttab_set_version op = {.version = 1 + (uint32_t)(i % 2)};
		long rc = gnt_grant_table_op(GNTTABOP_set_version, &op, 1);

		if (rc == 0)
			switched++;
		else
			CHECK_EQ(rc, -EBUSY); /* a ref >= 8 mapped right now */
		CHECK(op.version == 1 || op.version == 2);
		for (uint32_t r = FIRST; r < FIRST + NREFS; r++)
			gnt_grant_foreign_access_ref(r, (domid_t)h->b, gnt_virt_to_gfn(page), 1);
		if (i % 8 == 7)
			for (uint32_t r = FIRST; r < FIRST + NREFS; r++)
				gnt_end_foreign_access_ref(r);
	}
	CHECK(switched > 0);
	*h->done = 1;
	/* our exit ends the domain: not while the user may still be mid-probe */
	while (!h->done[1])
		usleep(1000);
}

static void storm_user(void *arg)
{
	struct hv2 *h = arg;
	char *va = gnt_alloc_ballooned_pages(1), *buf = gnt_alloc_page();
	int maps = 0, copies = 0;

	for (uint32_t i = 0; !*h->done; i++) {
		grant_ref_t ref = FIRST + i % NREFS;
		maps += map_probe(h->a, ref, va);
		copy_probe(h->a, ref, buf, &copies);
	}
	h->done[1] = 1;
	CHECK(maps + copies > 0);
	gnt_free_ballooned_pages(va, 1);
	gnt_free_page(buf);
}

TEST_TIMEOUT(v2_switch_storm_racing_map_and_copy, 120)
{
	struct gnt_hv_stats s0 = (th_gntd_start(), th_stats());
	struct hv2 h;
	pid_t pa, pb;

	h.done = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(h.done != MAP_FAILED);
	h.a = th_domain("A");
	h.b = th_domain("B");
	pa = th_spawn(h.a, storm_granter, &h);
	pb = th_spawn(h.b, storm_user, &h);
	CHECK_EQ(th_wait(pa), 0);
	CHECK_EQ(th_wait(pb), 0);
	th_expect_stats(&s0, 5000);
	th_share_fresh(); /* gntd still serves */
	munmap((void *)h.done, 4096);
	th_gntd_stop();
}

/* ---- an entry rewritten while it is copied and mapped ------------------- */

struct rewriter {
	grant_entry_v2_t *e;
	uint16_t b, a;
	uint64_t gfn;
	volatile int stop;
};

static void put(grant_entry_v2_t *e, uint16_t to, uint32_t w1, uint64_t frame, uint16_t flags)
{
	/* a hostile granter: no order, no barrier, any value */
	__atomic_store_n(&e->hdr.flags, flags, __ATOMIC_RELAXED);
	__atomic_store_n(&e->hdr.domid, to, __ATOMIC_RELAXED);
	__atomic_store_n(&e->__spacer[1], w1, __ATOMIC_RELAXED);
	__atomic_store_n(&e->full_page.frame, frame, __ATOMIC_RELAXED);
}

static void *rewrite(void *arg)
{
	struct rewriter *w = arg;

	for (uint32_t i = 0; !w->stop; i++) {
		switch (i % 7) {
		case 0: put(w->e, w->b, 0, w->gfn, GTF_permit_access); break;
		case 1: put(w->e, w->b, 0 | 4096u << 16, w->gfn, GTF_permit_access | GTF_sub_page); break;
		case 2: put(w->e, w->b, w->a, 20, GTF_transitive); break;     /* self */
		case 3: put(w->e, w->b, 0, 1, GTF_permit_access); break;       /* no such frame */
		case 4: put(w->e, w->b, 4000 | 4000u << 16, w->gfn, GTF_permit_access | GTF_sub_page); break;
		case 5: put(w->e, w->a, 0, w->gfn, GTF_permit_access); break;  /* someone else */
		case 6: put(w->e, w->b, 0, w->gfn, 0); break;
		}
	}
	return NULL;
}

static void rw_granter(void *arg)
{
	struct hv2 *h = arg;
	char *page = gnt_alloc_page();
	struct gnttab_set_version op = {.version = 2};
	struct rewriter w = {.b = (uint16_t)h->b, .a = (uint16_t)h->a};
	uint32_t nf;
	pthread_t t;

	CHECK(page);
	fill(page);
	CHECK_EQ(gnt_grant_table_op(GNTTABOP_set_version, &op, 1), 0);
	w.e = (grant_entry_v2_t *)(void *)th_raw_table(&nf) + 20;
	w.gfn = gnt_virt_to_gfn(page);
	CHECK_EQ(pthread_create(&t, NULL, rewrite, &w), 0);
	while (!*h->done)
		usleep(1000); /* the rewriter works; we only wait for the user */
	w.stop = 1;
	pthread_join(t, NULL);
	__atomic_store_n(&w.e->hdr.flags, 0, __ATOMIC_SEQ_CST);
}

static void rw_user(void *arg)
{
	struct hv2 *h = arg;
	char *va = gnt_alloc_ballooned_pages(1), *buf = gnt_alloc_page();
	int copies = 0;

	for (int i = 0; i < 3000; i++) {
		copy_probe(h->a, 20, buf, &copies);
		if (i % 4 == 0)
			map_probe(h->a, 20, va);
	}
	*h->done = 1;
	CHECK(copies > 0); /* the valid moments were hit at least once */
	gnt_free_ballooned_pages(va, 1);
	gnt_free_page(buf);
}

TEST_TIMEOUT(v2_entry_rewritten_while_copied_and_mapped, 120)
{
	struct gnt_hv_stats s0 = (th_gntd_start(), th_stats());
	struct hv2 h;
	pid_t pa, pb;

	h.done = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(h.done != MAP_FAILED);
	h.a = th_domain("A");
	h.b = th_domain("B");
	pa = th_spawn(h.a, rw_granter, &h);
	pb = th_spawn(h.b, rw_user, &h);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_expect_stats(&s0, 5000);
	th_share_fresh();
	munmap((void *)h.done, 4096);
	th_gntd_stop();
}
