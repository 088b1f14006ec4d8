/* SPDX-License-Identifier: MIT */
/*
 * Two domains share a multi-page buffer: the granter grants each page of one
 * gnt_alloc_pages() unit, the mapper maps them all with one hypercall, reads
 * (and, RW, writes) every page, unmaps with one hypercall; the granter checks
 * and ends every grant.  gntd's accounting is checked while mapped and after.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../helpers.h"

struct batch {
	struct th_chan to_a, to_b, to_t;
	uint32_t a, b, n;
	int ro;
};

static void fill(char *page, uint32_t dom, uint32_t i)
{
	snprintf(page, 64, "d%u page %u", dom, i);
	for (uint32_t k = 64; k < GNT_PAGE_SIZE; k++)
		page[k] = (char)(i * 31 + k);
}

static int page_ok(const char *page, uint32_t dom, uint32_t i)
{
	char want[64];
	snprintf(want, sizeof(want), "d%u page %u", dom, i);
	if (strcmp(page, want))
		return 0;
	for (uint32_t k = 64; k < GNT_PAGE_SIZE; k++)
		if (k < 1024 || k >= 1024 + 64) /* the mapper's reply lives there */
			if (page[k] != (char)(i * 31 + k))
				return 0;
	return 1;
}

static void granter(void *p)
{
	struct batch *s = p;
	char *buf = gnt_alloc_pages(s->n);
	grant_ref_t *refs = calloc(s->n, sizeof(*refs));

	CHECK(buf && refs);
	for (uint32_t i = 0; i < s->n; i++) {
		char *page = buf + (size_t)i * GNT_PAGE_SIZE;
		int r;
		fill(page, s->a, i);
		r = gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(page), s->ro);
		CHECK(r >= GNTTAB_NR_RESERVED_ENTRIES);
		refs[i] = (grant_ref_t)r;
	}
	/* the test first: the mapper reports on the same channel */
	th_send(&s->to_t, refs, s->n * sizeof(*refs));
	th_send(&s->to_b, refs, s->n * sizeof(*refs));
	CHECK_EQ(th_recv_u32(&s->to_a), 1); /* mapper has unmapped */
	for (uint32_t i = 0; i < s->n; i++) {
		char *page = buf + (size_t)i * GNT_PAGE_SIZE, want[64];
		CHECK(page_ok(page, s->a, i));
		snprintf(want, sizeof(want), "d%u wrote %u", s->b, i);
		if (s->ro)
			CHECK_EQ(page[1024], (char)(i * 31 + 1024));
		else
			CHECK(!strcmp(page + 1024, want));
		CHECK_EQ(gnt_try_end_foreign_access(refs[i]), 1);
	}
	gnt_free_pages(buf, s->n);
	free(refs);
}

static void mapper(void *p)
{
	struct batch *s = p;
	grant_ref_t *refs = calloc(s->n, sizeof(*refs));
	struct gnttab_map_grant_ref *ops = calloc(s->n, sizeof(*ops));
	struct gnttab_unmap_grant_ref *un = calloc(s->n, sizeof(*un));
	char *va = gnt_alloc_ballooned_pages(s->n);
	uint32_t flags = GNTMAP_host_map | (s->ro ? GNTMAP_readonly : 0);
	uint64_t hc;

	CHECK(refs && ops && un && va);
	th_recv(&s->to_b, refs, s->n * sizeof(*refs));
	for (uint32_t i = 0; i < s->n; i++)
		gnt_set_map_op(&ops[i], va + (size_t)i * GNT_PAGE_SIZE, flags, refs[i],
			       (domid_t)s->a);
	hc = gnt_hypercall_count();
	CHECK_EQ(gnt_map_refs(ops, s->n), 0);
	CHECK_EQ(gnt_hypercall_count() - hc, 1); /* one hypercall for the batch */
	for (uint32_t i = 0; i < s->n; i++) {
		char *page = va + (size_t)i * GNT_PAGE_SIZE;
		CHECK_EQ(ops[i].status, GNTST_okay);
		CHECK(ops[i].handle != INVALID_GRANT_HANDLE);
		for (uint32_t j = 0; j < i && j < 64; j++)
			CHECK(ops[j].handle != ops[i].handle);
		CHECK(page_ok(page, s->a, i));
		if (s->ro) {
			CHECK(!th_can_write(page + 1024));
		} else {
			snprintf(page + 1024, 64, "d%u wrote %u", s->b, i);
		}
	}
	th_send_u32(&s->to_t, 1); /* mapped: the test checks gntd */
	CHECK_EQ(th_recv_u32(&s->to_b), 2);
	for (uint32_t i = 0; i < s->n; i++)
		gnt_set_unmap_op(&un[i], va + (size_t)i * GNT_PAGE_SIZE, flags, ops[i].handle);
	hc = gnt_hypercall_count();
	CHECK_EQ(gnt_unmap_refs(un, s->n), 0);
	CHECK_EQ(gnt_hypercall_count() - hc, 1);
	for (uint32_t i = 0; i < s->n; i++) {
		CHECK_EQ(un[i].status, GNTST_okay);
		CHECK(!th_can_read(va + (size_t)i * GNT_PAGE_SIZE)); /* access is gone */
	}
	gnt_free_ballooned_pages(va, s->n);
	th_send_u32(&s->to_a, 1);
	free(refs);
	free(ops);
	free(un);
}

static void run_batch(uint32_t n, int ro)
{
	static struct gnt_grant_dump dump[4096];
	struct batch s = {.n = n, .ro = ro};
	struct gnt_hv_stats start, st;
	struct gnt_domain_info ia, ib;
	grant_ref_t *refs = calloc(n, sizeof(*refs));
	pid_t pa, pb;
	int nd;

	CHECK(refs);
	th_gntd_start();
	start = th_stats();
	s.a = th_domain("A");
	s.b = th_domain("B");
	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	th_chan_open(&s.to_t);
	pa = th_spawn(s.a, granter, &s);
	pb = th_spawn(s.b, mapper, &s);
	th_recv(&s.to_t, refs, n * sizeof(*refs));
	CHECK_EQ(th_recv_u32(&s.to_t), 1);

	/* while mapped: n mappings held by B, every entry pinned by B */
	st = th_stats();
	CHECK_EQ(st.mappings, start.mappings + n);
	CHECK_EQ(st.exposures, start.exposures + 1); /* one unit, one access */
	CHECK(st.pins >= start.pins + n);
	ib = th_dominfo(s.b);
	ia = th_dominfo(s.a);
	CHECK_EQ(ib.mappings, n);
	CHECK_EQ(ia.mappings, 0);
	CHECK(ia.pins >= n);
	CHECK_EQ(ia.units, 1);
	CHECK_EQ(ia.tot_pages, n);
	nd = gnt_domain_grants(s.a, dump, 4096);
	CHECK_EQ(nd, n);
	for (int i = 0; i < nd; i++) {
		CHECK_EQ(dump[i].domid, s.b);
		CHECK_EQ(dump[i].pinned_by, s.b);
		CHECK_EQ(dump[i].flags & GTF_type_mask, GTF_permit_access);
		CHECK(dump[i].flags & GTF_reading);
		if (ro) {
			CHECK(dump[i].flags & GTF_readonly);
			CHECK(dump[i].rd_pins >= 1);
			CHECK_EQ(dump[i].wr_pins, 0);
			CHECK(!(dump[i].flags & GTF_writing));
		} else {
			CHECK(dump[i].wr_pins >= 1);
			CHECK(dump[i].flags & GTF_writing);
		}
	}
	th_send_u32(&s.to_b, 2);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_expect_stats(&start, 5000);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
	th_chan_close(&s.to_t);
	free(refs);
	th_gntd_stop();
}

TEST(batch_16_pages_rw_one_hypercall)
{
	run_batch(16, 0);
}

TEST(batch_16_pages_ro_one_hypercall)
{
	run_batch(16, 1);
}

TEST(batch_1024_pages_rw_one_hypercall)
{
	run_batch(1024, 0);
}

TEST(batch_1024_pages_ro_one_hypercall)
{
	run_batch(1024, 1);
}
